#!/bin/sh
# t_optscan.sh - every configuration option is documented, and everything
# documented is an option (pgbouncer's optscan.sh, both ways).
#
# The option table comes from the daemon itself:
#
#     $top_builddir/payrouted --options
#
# one line per option, four tab-separated fields:
#
#     path <TAB> type <TAB> reload|restart <TAB> help
#
# The documented options are the entries of the OPTIONS section of
# $top_srcdir/doc/payrouted.conf.5 (from ".SH OPTIONS" to the next ".SH"),
# each written as a ".TP" line immediately followed by ".B section.name":
#
#     .TP
#     .B database.pool_size
#     .IR integer ,
#     1 to 64; default
#     .BR 4 .
#     Reload applies it.
#
# An entry's text must say "Needs a restart" exactly when the table marks
# the option restart, and "Reload applies it" otherwise.
#
# Environment: top_srcdir, top_builddir (set by make check); PAYROUTED
# overrides the daemon binary (e.g. a fake, to test this script).
# Exit status: 0 pass, 1 fail, 77 skip (payrouted not built).

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
daemon=${PAYROUTED:-$top_builddir/payrouted}
manpage=$top_srcdir/doc/payrouted.conf.5

if [ ! -x "$daemon" ]; then
	echo "SKIP: $daemon is not built"
	exit 77
fi
if [ ! -r "$manpage" ]; then
	echo "FAIL: $manpage is missing"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/optscan.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! "$daemon" --options >"$tmp/table" 2>"$tmp/stderr"; then
	echo "FAIL: $daemon --options failed:"
	sed 's/^/    /' "$tmp/stderr"
	exit 1
fi

fail=0

# The table: check its format, keep "path mode" pairs.
if ! awk -F '\t' -v out="$tmp/code" '
	NF == 0 { next }
	NF != 4 || $1 !~ /^[a-z_]+\.[a-z_0-9]+$/ ||
	    ($3 != "reload" && $3 != "restart") || $4 == "" {
		printf "FAIL: --options line %d is not path<TAB>type<TAB>reload|restart<TAB>help: %s\n", NR, $0
		bad = 1
		next
	}
	{ print $1, $3 > out; n++ }
	END {
		if (n == 0) { print "FAIL: --options printed no option"; bad = 1 }
		exit bad
	}' "$tmp/table"; then
	fail=1
fi
[ -f "$tmp/code" ] || : >"$tmp/code"

# The man page: "path mode" for each entry of the OPTIONS section.
awk '
	function flush() {
		if (name == "")
			return
		mode = "?"
		if (text ~ /Needs a restart/ && text !~ /Reload applies it/)
			mode = "restart"
		else if (text ~ /Reload applies it/ && text !~ /Needs a restart/)
			mode = "reload"
		print name, mode
		name = ""
	}
	/^\.SH/ { flush(); in_opts = ($0 ~ /^\.SH +"?OPTIONS"?[ \t]*$/); next }
	!in_opts { next }
	/^\.(TP|SS|PP|P|LP)([ \t]|$)/ { flush(); after_tp = ($0 ~ /^\.TP/); next }
	after_tp && /^\.B[ \t]+[a-z_]+\.[a-z_0-9]+[ \t]*$/ {
		name = $2; text = ""; after_tp = 0; next
	}
	{ after_tp = 0; if (name != "") text = text " " $0 }
	END { flush() }' "$manpage" >"$tmp/doc"

if [ ! -s "$tmp/doc" ]; then
	echo "FAIL: no option entries found in the OPTIONS section of $manpage"
	exit 1
fi

# Documented twice?
dups=$(cut -d ' ' -f 1 "$tmp/doc" | sort | uniq -d)
for o in $dups; do
	echo "FAIL: $o is documented more than once in doc/payrouted.conf.5"
	fail=1
done

cut -d ' ' -f 1 "$tmp/code" | sort -u >"$tmp/code.names"
cut -d ' ' -f 1 "$tmp/doc" | sort -u >"$tmp/doc.names"

for o in $(comm -23 "$tmp/code.names" "$tmp/doc.names"); do
	echo "FAIL: option $o is not documented in doc/payrouted.conf.5"
	fail=1
done
for o in $(comm -13 "$tmp/code.names" "$tmp/doc.names"); do
	echo "FAIL: doc/payrouted.conf.5 documents $o, which is not an option"
	fail=1
done

# Reload or restart: the page must agree with the table.
while read -r o mode; do
	doc_mode=$(awk -v o="$o" '$1 == o { print $2; exit }' "$tmp/doc")
	[ -n "$doc_mode" ] || continue
	if [ "$doc_mode" = "?" ]; then
		echo "FAIL: doc/payrouted.conf.5: $o must say either \"Reload applies it\" or \"Needs a restart\""
		fail=1
	elif [ "$doc_mode" != "$mode" ]; then
		echo "FAIL: $o is $mode in the option table but $doc_mode in doc/payrouted.conf.5"
		fail=1
	fi
done <"$tmp/code"

n=$(wc -l <"$tmp/code.names")
if [ "$fail" -ne 0 ]; then
	exit 1
fi
echo "PASS: all $n options documented, and only those"
exit 0
