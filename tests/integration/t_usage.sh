#!/usr/bin/env bash
# t_usage.sh - daily limits across instances: usage_stress runs several
# processes (each its own store pool and usage tracker, like separate
# payrouted daemons) reserving concurrently against one channel's daily
# limit on a private PostgreSQL. The row never goes over the limit, the
# final total equals what the processes kept, and the successes are exactly
# what fits: in exact mode and in lease mode, with a small limit, a large
# one, a count limit and a per-bank limit. Then the database's own guard:
# a direct UPDATE or INSERT over a limit fails on the CHECK, and the SQL
# functions refuse what does not fit, all or nothing.
. "$(dirname "$0")/lib.sh"
require_pg

STRESS=$top_builddir/tests/integration/usage_stress
[ -x "$STRESS" ] || fail "$STRESS is not built (make check builds it)"

pg_start
# The migrations, in order, each in one transaction like payrouted does
# (t_migrate.sh covers the daemon's own runner).
for f in "$top_srcdir"/etc/migrations/[0-9]*.sql; do
	pq -1 -f "$f" >/dev/null || fail "migration $(basename "$f") failed"
done
pass "migrations applied"

CI="host=$PG_ROOT/sock port=5432 dbname=payroute user=payroute"

# stress NAME ARGS...: runs usage_stress (bounded by its own time-out),
# shows its figures, fails the test when it fails.
stress() {
	local name=$1 out

	shift
	out=$(timeout 240 "$STRESS" --conninfo "$CI" "$@" 2>&1)
	local rc=$?
	printf '%s\n' "$out" | sed "s/^/$T_NAME: [$name] /"
	[ "$rc" = 0 ] || fail "$name: usage_stress exited with $rc"
	pass "$name"
}

stress "exact, small limit: exactly 1500 of 4000 fit" \
	--procs 2 --per-proc 2000 --amount 100 --limit 150000 --mode exact
stress "lease, small limit: exactly 1500 of 4000 fit" \
	--procs 2 --per-proc 2000 --amount 100 --limit 150000 --mode lease
stress "lease, large limit: all 4000 fit" \
	--procs 2 --per-proc 2000 --amount 100 --limit 1000000000 --mode lease
stress "lease, limit binding late: 9000 of 10000" \
	--procs 2 --per-proc 5000 --amount 100 --limit 900000 --mode lease \
	--release-pct 30
stress "lease, count limit 777" \
	--procs 3 --per-proc 1000 --amount 100 --limit 1000000000 \
	--count-limit 777 --mode lease
stress "lease, per-bank limit (channel and bank, all or nothing)" \
	--procs 2 --per-proc 1000 --amount 100 --limit 1000000 \
	--bank ICBC --bank-limit 120000 --mode lease
stress "exact, channel limit below the bank limit" \
	--procs 2 --per-proc 1000 --amount 100 --limit 100000 \
	--bank ICBC --bank-limit 120000 --mode exact

# ---- the database's own guard
day=$(pq -c "SELECT day FROM channel_daily_usage WHERE channel = 'stress'
	AND scope = '' ORDER BY day DESC LIMIT 1")
[ -n "$day" ] || fail "no usage row for channel stress"
if pq -c "UPDATE channel_daily_usage SET amount = amount_limit + 1
	WHERE channel = 'stress' AND day = '$day' AND scope = ''" \
	>"$TEST_DIR/upd.out" 2>&1; then
	fail "a direct UPDATE over the limit succeeded"
fi
grep -q 'channel_daily_usage_amount_limit' "$TEST_DIR/upd.out" ||
	fail "the UPDATE over the limit failed for another reason: $(cat "$TEST_DIR/upd.out")"
pass "a direct UPDATE over the limit fails on the CHECK"

if pq -c "INSERT INTO channel_daily_usage (channel, day, amount,
	amount_limit) VALUES ('guard', '2001-01-01', 101, 100)" \
	>"$TEST_DIR/ins.out" 2>&1; then
	fail "an INSERT over the limit succeeded"
fi
grep -q 'channel_daily_usage_amount_limit' "$TEST_DIR/ins.out" ||
	fail "the INSERT over the limit failed for another reason: $(cat "$TEST_DIR/ins.out")"
if pq -c "INSERT INTO channel_daily_usage (channel, day, count, count_limit)
	VALUES ('guard', '2001-01-01', 3, 2)" >/dev/null 2>&1; then
	fail "an INSERT over the count limit succeeded"
fi
if pq -c "INSERT INTO channel_daily_usage (channel, day, amount)
	VALUES ('guard', '2001-01-01', -1)" >/dev/null 2>&1; then
	fail "a negative amount was accepted"
fi
pass "INSERTs over a limit or below 0 fail on the CHECKs"

# The functions: a grant up to want, at least the payment; nothing when
# the payment does not fit; a lowered limit applies at once; a release
# never goes below 0; multi is all or nothing.
r() { pq -c "$1" | tr '\n' ' ' | sed 's/ $//'; }
D="DATE '2001-01-02'"
got=$(r "SELECT * FROM pr_usage_reserve('g', $D, '', 100, 1, 250, NULL, 1000, 20)")
[ "$got" = "250|20|250|20" ] || fail "lease capped by the limit: got '$got'"
got=$(r "SELECT * FROM pr_usage_release('g', $D, '', 200, 19)")
[ "$got" = "50|1" ] || fail "release: got '$got'"
got=$(r "SELECT * FROM pr_usage_reserve('g', $D, '', 100, 1, 120, NULL, 100, 1)")
[ -z "$got" ] || fail "a payment over a lowered limit was granted: '$got'"
got=$(r "SELECT * FROM pr_usage_reserve('g', $D, '', 70, 1, 120, NULL, 100, 1)")
[ "$got" = "70|1|120|2" ] || fail "the lowered limit: got '$got'"
got=$(r "SELECT amount_limit FROM channel_daily_usage WHERE channel = 'g'")
[ "$got" = 120 ] || fail "the lowered limit is not written into the row: '$got'"
got=$(r "SELECT * FROM pr_usage_release('g', $D, '', 1000, 1000)")
[ "$got" = "0|0" ] || fail "a release went below 0: '$got'"
got=$(r "SELECT * FROM pr_usage_reserve_multi('g', $D, ARRAY['', 'ICBC'],
	100, 1, ARRAY[1000, 50]::bigint[], ARRAY[NULL, NULL]::bigint[],
	ARRAY[100, 100]::bigint[], ARRAY[1, 1]::bigint[])")
[ -z "$got" ] || fail "multi granted although the bank limit is too small: '$got'"
got=$(r "SELECT amount FROM channel_daily_usage WHERE channel = 'g'
	AND scope = ''")
[ "$got" = 0 ] || fail "multi refused but left the channel row at '$got'"
got=$(r "SELECT * FROM pr_usage_reserve_multi('g', $D, ARRAY['', 'ICBC'],
	100, 1, ARRAY[1000, 500]::bigint[], ARRAY[NULL, NULL]::bigint[],
	ARRAY[300, 100]::bigint[], ARRAY[1, 1]::bigint[])")
[ "$got" = "|300|1|300|1 ICBC|100|1|100|1" ] || fail "multi: got '$got'"
pass "pr_usage_reserve, pr_usage_reserve_multi and pr_usage_release"
