#!/usr/bin/env bash
# bench_lists.sh - the admin API's order lists over a million payments
# (issue 13): loads ORDERS payments (default 1,000,000; 50 merchants, 8
# channels, 20,000 buyers, 2% failed, 0.5% unknown, two months of
# created_at), 100,000 refunds and 100,000 withdrawals into a private
# PostgreSQL with the schema of etc/migrations, ANALYZEs, then prints for
# each list the plan and the time of the statement the daemon runs (built
# by core/domain/ordquery.c through bench_listsql): first page and a page deep
# into the list by its cursor. Every plan should be an index scan (no Seq
# Scan, no Sort of the table).
#
# Usage: contrib/bench/bench_lists.sh [BUILDDIR]   (make bench first)
#   ORDERS=N  payments to load.
# Needs PostgreSQL's server binaries; run as root it runs the server as
# the user payroute (PR_TEST_USER).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
LISTSQL=$build/contrib/bench/bench_listsql
ORDERS=${ORDERS:-1000000}
PR_TEST_USER=${PR_TEST_USER:-payroute}
[ -x "$LISTSQL" ] || { echo "bench_lists: build $LISTSQL first (make bench)" >&2; exit 2; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || { echo "bench_lists: no PostgreSQL server binaries" >&2; exit 2; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$PR_TEST_USER" -- "$@"; else "$@"; fi; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench_lists.XXXXXX")
chmod 755 "$DIR"
mkdir "$DIR/sock"
[ "$(id -u)" = 0 ] && chown "$PR_TEST_USER" "$DIR" "$DIR/sock"
cleanup() {
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT
as_pg "$PG_BIN/initdb" -D "$DIR/data" -U payroute -A trust >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w \
	-o "-k $DIR/sock -c listen_addresses= -c shared_buffers=256MB -c max_wal_size=4GB -c fsync=off" start >/dev/null
q() { psql -X -q -v ON_ERROR_STOP=1 -h "$DIR/sock" -U payroute -d postgres "$@"; }
for f in "$top"/etc/migrations/*.sql; do
	q -1 -f "$f" >/dev/null
done
echo "bench_lists: schema of $(ls "$top"/etc/migrations/*.sql | wc -l) migrations; loading $ORDERS payments"
t0=$(date +%s)
q -v orders="$ORDERS" -f "$here/orders_load.sql" >/dev/null
q -c "VACUUM ANALYZE" >/dev/null
echo "bench_lists: loaded in $(($(date +%s) - t0)) s: $(q -At -c "SELECT (SELECT count(*) FROM payments) || ' payments, ' || (SELECT count(*) FROM refunds) || ' refunds, ' || (SELECT count(*) FROM withdrawals) || ' withdrawals'")"

# plan KIND [NAME=VALUE...]: the plan of the first page, then of the page
# after the first 200 rows (its cursor made from the 200th row of the
# same list, as the daemon makes next_cursor).
plan() {
	local kind=$1 sql cursor row
	shift
	echo
	echo "=== GET /admin/v1/${kind}s?$(IFS='&'; echo "$*")"
	sql=$("$LISTSQL" "$kind" "$@") || exit 1
	q <<<"$sql" | grep -v '^ *Buffers\|^ *Planning:\|^ *Heap Fetches\|^ *$\|rows)$' | sed 's/^/  /'
	sql=$("$LISTSQL" "$kind" "$@" limit=200) || exit 1
	row=$(sed 's/^EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE/EXECUTE/' <<<"$sql" |
		q -At -F ' ' | sed -n 200p | cut -d' ' -f1,2)
	[ -n "$row" ] || return 0
	# shellcheck disable=SC2086 # two words: microseconds and id
	cursor=$(printf '1.%s.%s' $row | od -An -tx1 | tr -d ' \n')
	echo "--- the page after the first 200 rows (cursor=...)"
	sql=$("$LISTSQL" "$kind" "$@" "cursor=$cursor") || exit 1
	q <<<"$sql" | grep -v '^ *Buffers\|^ *Planning:\|^ *Heap Fetches\|^ *$\|rows)$\|QUERY PLAN\|^ *---' | sed 's/^/  /'
}
plan payment
plan payment merchant=m7
plan payment channel=ch3
plan payment buyer_id=buyer42
plan payment merchant_order_no=o123457
plan payment merchant=m7 created_from=2026-11-01T00:00:00Z created_to=2026-11-02T00:00:00Z
plan payment status=failed amount_min=1000 amount_max=50000
# status is in no index (HOT updates, doc/design.md §7): a rare status
# walks the time index until it has a page; bounded by a day it is cheap.
plan payment status=unknown
# the worst case: a combination that matches nothing walks the whole
# index (here unknown payments are all on ch8)
plan payment channel=ch3 status=unknown
plan payment status=unknown created_from=2026-11-01T00:00:00Z created_to=2026-11-02T00:00:00Z
plan refund merchant=m2
plan refund payment_id=P000000000011
plan withdrawal status=pending_channel
plan withdrawal channel=wd2
