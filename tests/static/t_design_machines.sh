#!/usr/bin/env bash
# t_design_machines.sh - the state machine diagrams of doc/design.md §6 are
# core/domain/orderstate.c's machines: every arrow of a diagram is a transition of
# the C table and every transition of the table is an arrow; the final
# states listed under a diagram are the table's.
#
# A diagram is the first ``` block after the line that names its machine
# ("Payment (`pr_pay_machine`", "Withdrawal (`pr_wd_machine`", "Refund
# (`pr_rf_machine`"), written as
#
#      created ─────────┬─► processing        a comment
#                       └─► failed
#      succeeded, failed, closed: final
#
# The C side is what tests/integration/statedump prints (built by make
# check). Environment: top_srcdir, top_builddir (set by make check).
# Exit status: 0 pass, 1 fail, 99 statedump missing.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
doc=$top_srcdir/doc/design.md
dump=$top_builddir/tests/integration/statedump

[ -x "$dump" ] || { echo "ERROR: $dump is not built"; exit 99; }

# diagram MACHINE: "edge FROM TO" and "final STATE" lines of the diagram
# of MACHINE (pr_pay_machine, ...) in doc/design.md, sorted.
diagram() {
	awk -v m="\`$1\`" '
	index($0, "(" m) { armed = 1; next }
	armed && /^```/ { if (inblk) exit; inblk = 1; next }
	!inblk { next }
	$1 ~ /^[a-z_]+$/ && $2 ~ /►$/ { cur = $1; print "edge", cur, $3; next }
	$1 ~ /►$/ { print "edge", cur, $2; next }
	/: final$/ {
		line = $0; sub(/: final$/, "", line); gsub(/,/, " ", line)
		n = split(line, a, " ")
		for (i = 1; i <= n; i++) print "final", a[i]
		next
	}
	{ print "unread", $0 }' "$doc" | sort
}

# table KIND: the same lines for the C table of KIND.
table() {
	"$dump" "$1" | awk '
	$1 == "next" && $4 == "true" { print "edge", $2, $3 }
	$1 == "final" { print "final", $2 }' | sort
}

fail=0
for pair in pr_pay_machine:payment pr_wd_machine:withdrawal \
	pr_rf_machine:refund; do
	m=${pair%%:*} kind=${pair#*:}
	d=$(diagram "$m")
	t=$(table "$kind")
	if [ -z "$d" ]; then
		echo "FAIL: doc/design.md has no diagram of $m"
		fail=1
		continue
	fi
	if [ "$d" != "$t" ]; then
		echo "FAIL: doc/design.md's diagram of $m is not core/domain/orderstate.c's $kind machine (< doc, > C):"
		diff <(printf '%s\n' "$d") <(printf '%s\n' "$t") | grep '^[<>]' |
			sed 's/^/    /'
		fail=1
		continue
	fi
	echo "ok - the diagram of $m is the $kind machine ($(grep -c '^edge' <<<"$d") transitions, $(grep -c '^final' <<<"$d") final states)"
done
exit "$fail"
