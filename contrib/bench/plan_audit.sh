#!/usr/bin/env bash
# plan_audit.sh - the plans PostgreSQL makes for every statement payrouted
# sends, on a store of a busy year's size: which of them read a large
# table whole (a Seq Scan) where the statement wants a few rows.
#
# A plan chosen on the test suite's few rows says nothing of the store in
# production, and a generic plan (what a prepared statement runs after its
# fifth execution) is made without the parameters' values: stop 26 found
# the completion job's claim hashing all of payments at every claim, and
# migration 024 the refunds' statements hashing all of merchants, each
# invisible on small tables.
#
#   1. payrouted's statements: the integration tests' PostgreSQL logs,
#      made with PR_TEST_SQL_LOG (tests/integration/lib.sh), every
#      statement of a session named payrouted (db.c) that reads or writes
#      (SELECT, INSERT, UPDATE, DELETE, WITH), each text once. Without -l
#      the tests are run here first (make check in BUILDDIR, about 15
#      minutes on 2 cores).
#   2. A private PostgreSQL on a socket in a temporary directory (no TCP),
#      the schema of etc/migrations, orders_load.sql's -n ORDERS payments
#      (default 1,000,000), refunds and withdrawals, and plan_audit.sql's
#      rows that go with them, -m MERCHANTS more merchants (default
#      100,000); ANALYZE.
#   3. Each statement prepared there (plan_cache_mode force_generic_plan)
#      and EXPLAINed with NULL parameters: its generic plan.
#
# Prints each statement whose plan has a Seq Scan of one of the loaded
# tables, the tests that sent it and the plan, then
#   plan_audit: N statements planned (M not plannable here), K with a Seq
#   Scan of a large table
# (a statement that needs the daemon's session, a temporary table or
# names a function's variables is not plannable here; the count says how
# many). A Seq Scan is not always wrong (a metric that counts every
# in-flight check reads them all): read each. doc/design.md §7 lists the
# ones found and why they stay.
#
#   contrib/bench/plan_audit.sh [-b BUILDDIR] [-l LOGDIR] [-n ORDERS]
#       [-m MERCHANTS]
#
# Needs PostgreSQL's server binaries, psql and python3; as root, runs the
# server as $PR_TEST_USER (default payroute; initdb refuses root). Loading
# a million payments takes about two minutes.
set -eu

. "$(dirname "$0")/lib_bench.sh"
BUILD=$B_ROOT/build LOGDIR= ORDERS=1000000 MERCHANTS=100000
PR_TEST_USER=${PR_TEST_USER:-payroute}
b_opts "b:BUILD:BUILDDIR l:LOGDIR n:ORDERS m:MERCHANTS" "$@"
case $ORDERS$MERCHANTS in *[!0-9]* | '') b_die "-n and -m take counts" ;; esac
[ "$ORDERS" -ge 100 ] || b_die "-n: at least 100 orders"
b_need psql python3
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] ||
	b_die "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)"
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$PR_TEST_USER" -- "$@"; else "$@"; fi
}
b_tmp
[ "$(id -u)" = 0 ] && chown "$PR_TEST_USER" "$B_TMP"

# 1. the statements
if [ -z "$LOGDIR" ]; then
	[ -f "$BUILD/Makefile" ] || b_die "no build in $BUILD (-b BUILDDIR, or -l LOGDIR)"
	LOGDIR=$B_TMP/sql
	mkdir "$LOGDIR"
	chmod 755 "$LOGDIR"
	b_say "running the integration tests in $BUILD with PR_TEST_SQL_LOG=$LOGDIR"
	tests=$(cd "$B_ROOT/tests/integration" && ls t_*.sh | sed 's#^#tests/integration/#' | tr '\n' ' ')
	PR_TEST_SQL_LOG=$LOGDIR make -C "$BUILD" -j2 check TESTS="$tests" \
		PR_REQUIRE_INTEGRATION=1 >"$B_TMP/check.log" 2>&1 ||
		{ grep -E '^(FAIL|ERROR)' "$B_TMP/check.log" >&2; b_die "the integration tests failed"; }
fi
ls "$LOGDIR"/*.log >/dev/null 2>&1 || b_die "no logs in $LOGDIR (made with PR_TEST_SQL_LOG?)"

# 2. the store
as_pg "$PG_BIN/initdb" -D "$B_TMP/data" -U payroute -A trust -E UTF8 \
	--locale=C --no-sync >"$B_TMP/initdb.log" 2>&1 ||
	{ cat "$B_TMP/initdb.log" >&2; b_die "initdb failed"; }
as_pg "$PG_BIN/pg_ctl" -D "$B_TMP/data" -l "$B_TMP/pg.log" -w -t 60 \
	-o "-c listen_addresses= -k $B_TMP -p 5432 -c fsync=off -c shared_buffers=256MB -c max_wal_size=4GB" \
	start >/dev/null || { tail "$B_TMP/pg.log" >&2; b_die "cannot start the scratch server"; }
b_at_exit "as_pg '$PG_BIN/pg_ctl' -D '$B_TMP/data' -m immediate -w stop >/dev/null 2>&1"
sq() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h "$B_TMP" -p 5432 -U payroute "$@"; }
sq -d postgres -c 'CREATE DATABASE payroute' >/dev/null || b_die "CREATE DATABASE failed"
for f in "$B_ROOT"/etc/migrations/[0-9]*.sql; do
	sq -d payroute -1 -f "$f" >/dev/null || b_die "migration $(basename "$f") failed"
done
t0=$(date +%s)
sq -d payroute -v orders="$ORDERS" -f "$B_HERE/orders_load.sql" >/dev/null ||
	b_die "orders_load.sql failed"
sq -d payroute -v orders="$ORDERS" -v merchants="$MERCHANTS" \
	-f "$B_HERE/plan_audit.sql" >/dev/null || b_die "plan_audit.sql failed"
b_say "store: $(sq -d payroute -At -c "SELECT (SELECT count(*) FROM payments) || ' payments, ' || (SELECT count(*) FROM merchants) || ' merchants, ' || (SELECT count(*) FROM order_events) || ' events', pg_size_pretty(pg_database_size('payroute'))" | tr '|' ' '), loaded in $(($(date +%s) - t0)) s"

# 3. the plans
python3 - "$B_TMP" "$LOGDIR" <<'EOF'
import glob, os, re, subprocess, sys

sock, logdir = sys.argv[1], sys.argv[2]
LARGE = ('payments', 'refunds', 'withdrawals', 'order_events',
         'merchant_notifications', 'order_checks', 'idempotency_keys',
         'recon_bill_rows', 'recon_differences', 'audit_log',
         'merchants')
# a log line: "APPLICATION|LEVEL:  ..."; a statement's text runs on
# until the next such line
head = re.compile(r'^([^|\s]*)\|(LOG|ERROR|DETAIL|STATEMENT|HINT|WARNING|'
                  r'CONTEXT|FATAL|NOTICE|PANIC):  ')
stmt = re.compile(r'^payrouted\|LOG:  (?:execute [^:]*|statement): ')
found = {}
for f in sorted(glob.glob(os.path.join(logdir, '*.log'))):
    test = os.path.basename(f).split('.')[0]
    cur = None
    for line in open(f, errors='replace'):
        line = line.rstrip('\n')
        if head.match(line):
            if cur is not None:
                found.setdefault(cur, set()).add(test)
            m = stmt.match(line)
            cur = line[m.end():] if m else None
        elif cur is not None:
            cur += '\n' + line
    if cur is not None:
        found.setdefault(cur, set()).add(test)

def plan(q):
    n = max([int(x) for x in re.findall(r'\$(\d+)', q)] or [0])
    args = '(' + ', '.join(['NULL'] * n) + ')' if n else ''
    sql = ('BEGIN;\nSET LOCAL plan_cache_mode = force_generic_plan;\n'
           'PREPARE s AS ' + q + ';\nEXPLAIN (COSTS OFF) EXECUTE s' + args +
           ';\nROLLBACK;\n')
    p = subprocess.run(['psql', '-X', '-q', '-A', '-t', '-h', sock, '-p',
                        '5432', '-U', 'payroute', '-d', 'payroute'],
                       input=sql, capture_output=True, text=True)
    err = [l for l in p.stderr.splitlines() if 'ERROR' in l]
    return (None, err[0]) if err else (p.stdout, None)

scan = re.compile(r'Seq Scan on (%s)\b' % '|'.join(LARGE))
planned = unplanned = 0
flagged = []
for q in sorted(found):
    words = q.split(None, 1)
    if not words or words[0].upper() not in ('SELECT', 'INSERT', 'UPDATE',
                                             'DELETE', 'WITH'):
        continue
    out, err = plan(q)
    if out is None:
        unplanned += 1
        print('not plannable here (%s): %s' % (err, q[:120].replace('\n', ' ')))
        continue
    planned += 1
    if scan.search(out):
        flagged.append((q, sorted(found[q]), out))
for q, tests, out in flagged:
    print('\n=== sent in %s\n%s\n--- its generic plan\n%s' %
          (', '.join(tests[:6]) + (', ...' if len(tests) > 6 else ''), q,
           out.rstrip()))
print('\nplan_audit: %d statements planned (%d not plannable here), %d with '
      'a Seq Scan of a large table' % (planned, unplanned, len(flagged)))
EOF
