#!/usr/bin/env bash
# t_db_burst.sh - the store pool's order under a burst (doc/design.md §5,
# "The pool"): background statements (pr_db_query_bg) never hold the
# connection requests need, and requests never starve them. The checks are
# in dbburst.c, which runs the real pool (core/runtime/db.c) against this
# test's PostgreSQL: a burst of 500 ms background statements with a
# request every 20 ms (no request may wait 250 ms; no more background
# statements at once than the pool's share), then a queue kept full of
# requests for 3 s with one background statement sent into it (it goes
# after them, at least 0.5 s, and within its 1 s bound plus 1 s).
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

BURST=$top_builddir/tests/integration/dbburst
[ -x "$BURST" ] || fail "$BURST is not built (make check builds it)"
for pool in 4 8; do
	out=$(timeout 60 "$BURST" "host=$PG_ROOT/sock port=5432 dbname=payroute user=payroute" \
		"$pool" 2>&1) || fail "dbburst, pool of $pool:
$out"
	printf '%s\n' "$out" | sed "s/^/$T_NAME: pool $pool: /"
	grep -q '^FAIL' <<<"$out" && fail "dbburst, pool of $pool: $out"
	pass "pool of $pool: requests are served through a background burst, and background work waits at most its bound"
done
