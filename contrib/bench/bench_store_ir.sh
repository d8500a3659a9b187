#!/usr/bin/env bash
# bench_store_ir.sh - what a payment's two statements cost a PostgreSQL
# backend in instructions, counted by valgrind (cachegrind), not timed: the
# figure that does not swing with the machine's other load, for telling
# apart two variants of a statement whose CPU time differs by less than
# bench_store.sh's runs swing (doc/design.md §10).
#
# The daemon's texts (bench_storesql, as bench_store.sh replays them) run
# as prepared statements in a single-user backend (postgres --single) on a
# scratch cluster made here (initdb into a temporary directory, the
# migrations of etc/migrations and bench_store's merchant applied through
# a server on a socket in that directory, stopped before the runs), with
# a payment's values as EXECUTE's parameters (each parsed once, as the
# daemon's are), synchronous_commit off (no flush to wait for; the
# instructions are the same). Each variant runs twice, with -n SMALL and -n LARGE payments; the
# difference over LARGE - SMALL is the cost of a payment, start-up and the
# first executions' plans cancelled out. Variants:
#   payroute   the first commit's fast variant (PR_BEGIN_FAST_SQL: the
#              order inserted, answered from its INSERT) and the answer's
#              statement (apply_fast_sql: one UPDATE, its event the
#              order's columns, migration 021);
#   beginlean  the same with the first commit's lean variant (what the
#              fast one falls back to for a duplicate; what the daemon
#              sent first before);
#   answer     the same first commit and the statement the fast one falls
#              back to (apply_answer_sql: the same change with every
#              clause of the apply);
#   rowevent   the same first commit and the lean change checks send
#              (apply_lean_sql: the answer's statement before migration
#              021, its event a row of order_events);
#   life       payroute, then the payment's callback (succeeded, guarded
#              by its channel and amount) as the daemon sends it first
#              (apply_final_sql: one UPDATE, the event row, the check row
#              dropped; no notify_url, as bench_callbacks.sh's payments):
#              a payment's whole life;
#   lifefull   the same with the callback as the full change the final
#              one falls back to (apply_sql: what the daemon sent before);
#   pattern    the minimal durable pattern of a payment (pattern_pay.sql's
#              statements as prepared statements: the usage row raised
#              and the order inserted in one transaction, then marked
#              answered; tables of pattern.sql), what bench_payments.sh
#              compares payroute's store cost with.
# Prints instructions per payment for each, and their difference (life
# - payroute: a callback's; payroute / pattern).
#
#   contrib/bench/bench_store_ir.sh [-b BUILDDIR] [-n SMALL,LARGE]
#       [-v 'VARIANT...']
#
# Needs valgrind, python3 and PostgreSQL's server binaries
# (/usr/lib/postgresql/*/bin); as root, runs PostgreSQL as $PG_USER
# (default payroute; initdb refuses root). No TCP: nothing listens but
# that socket while the schema is made. Takes about 10 s of CPU a variant at the default counts.
set -eu

. "$(dirname "$0")/lib_bench.sh"
BUILD=$B_ROOT/build COUNTS=50,350 VARIANTS="payroute beginlean answer rowevent life lifefull pattern"
PG_USER=${PG_USER:-payroute}
b_opts "b:BUILD:BUILDDIR n:COUNTS:SMALL,LARGE v:VARIANTS:'VARIANT...'" "$@"
SMALL=${COUNTS%,*} LARGE=${COUNTS#*,}
case $SMALL$LARGE in *[!0-9]* | '') b_die "-n: SMALL,LARGE, two counts" ;; esac
[ "$LARGE" -gt "$SMALL" ] || b_die "-n: LARGE must be more than SMALL"
for v in $VARIANTS; do
	case $v in payroute | beginlean | answer | rowevent | life | lifefull | pattern) ;; *) b_die "no variant $v (payroute beginlean answer rowevent life lifefull pattern)" ;; esac
done
STORESQL=$BUILD/contrib/bench/bench_storesql
[ -x "$STORESQL" ] || b_die "build $STORESQL first (make bench in $BUILD, or -b BUILDDIR)"
b_need valgrind python3
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/postgres" ] || b_die "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)"
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}
b_tmp
[ "$(id -u)" = 0 ] && chown "$PG_USER" "$B_TMP"
as_pg "$PG_BIN/initdb" -D "$B_TMP/data" -U payroute -A trust -E UTF8 \
	--locale=C --no-sync >"$B_TMP/initdb.log" 2>&1 ||
	{ cat "$B_TMP/initdb.log" >&2; b_die "initdb failed"; }
"$STORESQL" >"$B_TMP/stmts.sql" || b_die "$STORESQL failed"
# The schema through a server on a socket in $B_TMP only (no TCP), stopped
# before the counted runs.
as_pg "$PG_BIN/pg_ctl" -D "$B_TMP/data" -l "$B_TMP/pg.log" -w -t 60 \
	-o "-c listen_addresses= -k $B_TMP -p 5432" start >/dev/null ||
	{ tail "$B_TMP/pg.log" >&2; b_die "cannot start the scratch server"; }
b_at_exit "as_pg '$PG_BIN/pg_ctl' -D '$B_TMP/data' -m immediate -w stop >/dev/null 2>&1"
sq() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h "$B_TMP" -p 5432 -U payroute "$@" >/dev/null; }
sq -d postgres -c 'CREATE DATABASE bench' || b_die "CREATE DATABASE failed"
for f in "$B_ROOT"/etc/migrations/[0-9]*.sql; do
	sq -d bench -1 -f "$f" || b_die "migration $(basename "$f") failed"
done
sq -d bench -c "INSERT INTO merchants (id, api_key_prefix, api_key_hash, notify_secret)
	VALUES ('demo', 'prk_bench', repeat('0', 64), repeat('s', 32))" ||
	b_die "cannot insert the merchant"
sq -d bench -f "$B_HERE/pattern.sql" || b_die "pattern.sql failed"
as_pg "$PG_BIN/pg_ctl" -D "$B_TMP/data" -w -t 60 stop >/dev/null ||
	b_die "cannot stop the scratch server"

# script VARIANT N: the single-user SQL of N payments
script() {
	python3 - "$B_TMP/stmts.sql" "$1" "$2" "$B_HERE" <<'EOF'
import sys
stmts, v, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.dont_write_bytecode = True  # nothing written next to the script
sys.path.insert(0, sys.argv[4])
from storepay import statements, one, q, ROUTE as route, ATTEMPT as attempt, \
    TRACE as trace, PAYER as payer, NOW as now
st = statements(stmts)
if v == 'pattern':
    # pattern_pay.sql's statements, its random channel and amount drawn
    # from the payment's number
    out = ['TRUNCATE bench_orders RESTART IDENTITY;\n\n',
           'SET synchronous_commit = off;\n\n',
           'PREPARE u AS UPDATE bench_usage SET amount = amount + $1, '
           'count = count + 1 WHERE channel = $2;\n\n',
           "PREPARE i AS INSERT INTO bench_orders (id, merchant_id, "
           "merchant_order_no, amount, method, channel) SELECT n, 'demo', "
           "'pb' || n, $1, 'wechat_pay', $2 FROM "
           "nextval('bench_orders_id_seq') n RETURNING id;\n\n",
           "PREPARE m AS UPDATE bench_orders SET status = 'processing', "
           "channel_trade_no = 'T' || id, updated_at = now() "
           "WHERE id = $1;\n\n"]
    for i in range(1, n + 1):
        ch, amt = 1 + i % 10, 100 + i % 5000
        out.append('BEGIN;\n\nEXECUTE u(%d, %d);\n\nEXECUTE i(%d, %d);'
                   '\n\nCOMMIT;\n\nEXECUTE m(%d);\n\n' % (amt, ch, amt, ch, i))
    out.append("SELECT 0 AS events, 0 AS kept, count(*) AS processing "
               "FROM bench_orders WHERE status = 'processing';\n\n")
    sys.stdout.write(''.join(out))
    sys.exit(0)
begin, fast, lean, answer = st['begin'], st['fast'], st['lean'], st['answer']
# the callback's statement, for the life variants
cb = {'life': st['finalfast'], 'lifefull': st['final']}.get(v)
out = ['TRUNCATE payments, order_events, order_checks, '
       'merchant_notifications CASCADE;\n\n',
       'SET synchronous_commit = off;\n\n',
       'PREPARE b AS ' + one(st['beginlean'] if v == 'beginlean'
                             else begin) + ';\n\n',
       'PREPARE a AS ' + one({'payroute': fast, 'answer': answer,
                              'rowevent': lean}.get(v, fast)) + ';\n\n']
if cb:
    out.append('PREPARE c AS ' + one(cb) + ';\n\n')
for i in range(1, n + 1):
    ID, amt = q('P001%012d' % i), str(100 + i % 5000)
    bp = [ID, "'demo'", q('b-%d' % i), q('e3' * 32), "'bench'", now,
          "'processing'", "'wx_native'", "(current_date - DATE '1970-01-01')",
          'NULL', amt, q('{"attempt": 1, "channel": "wx_native"}'), '10',
          'NULL', 'NULL', 'NULL', q(route), 'NULL', 'NULL', 'NULL', amt,
          "'CNY'", "'wechat_pay'", "'native_qr'", "'NATIVE'", 'NULL', 'NULL',
          'NULL', 'NULL', 'NULL', "'bench'", 'NULL', "'127.0.0.1'",
          now + ' + 1800000']
    ap = [ID, "'{processing}'", "'processing'", "'bench'", "'answer'",
          q(attempt), now, 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'false',
          "'PROCESSING'", q('The payment is being processed.'),
          q('支付处理中。'), "'200'", "''", "''", 'NULL', q(payer), q(trace),
          '10', 'false', 'NULL', 'NULL', 'NULL', 'NULL']
    out.append('EXECUTE b(' + ', '.join(bp) + ');\n\n')
    out.append('EXECUTE a(' + ', '.join(ap) + ');\n\n')
    if cb:
        # the channel's callback: succeeded, guarded by the channel and
        # the amount
        cp = list(ap)
        cp[1:6] = ["'{processing,unknown}'", "'succeeded'", "'bench'",
                   "'callback'", q('{"channel": "wx_native", "code": '
                                   '"SUCCESS"}')]
        cp[13:22] = ["'SUCCESS'", q('Paid.'), q('已支付。'), "'SUCCESS'",
                     "''", "''", q('T%d' % i), 'NULL', 'NULL']
        cp[24:26] = ["'wx_native'", amt]
        out.append('EXECUTE c(' + ', '.join(cp) + ');\n\n')
# what every variant leaves: each payment processing, or succeeded by its
# callback with its check row dropped (life, lifefull: a check row left
# counts against)
out.append('SELECT count(*) AS events, (SELECT count(answer_id) FROM '
           'payments) AS kept, (SELECT count(*) FROM payments WHERE '
           "status = %s) + (SELECT count(*) FROM order_checks) * %d AS "
           "processing FROM order_events;\n\n"
           % (("'succeeded'", -1) if cb else ("'processing'", 0)))
sys.stdout.write(''.join(out))
EOF
}
# irefs VARIANT N: instructions of a backend running N payments
irefs() {
	local f=$B_TMP/$1.$2.sql out

	script "$1" "$2" >"$f" || b_die "cannot write $f"
	out=$(as_pg valgrind --tool=cachegrind --cache-sim=no \
		--cachegrind-out-file=/dev/null "$PG_BIN/postgres" --single \
		-D "$B_TMP/data" -j bench <"$f" 2>&1) ||
		{ printf '%s\n' "$out" | tail -n 20 >&2; b_die "$1: the backend failed"; }
	printf '%s\n' "$out" | grep -q 'ERROR' &&
		{ printf '%s\n' "$out" | grep -m 5 'ERROR' >&2; b_die "$1: a statement failed"; }
	# every payment processing (or succeeded, its check row dropped), its
	# answer's event a row or the order's
	printf '%s\n' "$out" | tr -d '\n' | grep -q "processing = \"$2\"" ||
		b_die "$1: not $2 payments processing (or succeeded, their check rows dropped)"
	IR=$(printf '%s\n' "$out" | sed -n 's/.*I *refs: *//p' | tr -d ', ')
	EVENTS=$(printf '%s\n' "$out" | sed -n 's/.*events = "\([0-9]*\)".*/\1/p')
	KEPT=$(printf '%s\n' "$out" | sed -n 's/.*kept = "\([0-9]*\)".*/\1/p')
	[ -n "$IR" ] || b_die "$1: no instruction count from valgrind"
}
echo "bench_store_ir: $SMALL and $LARGE payments a variant, single-user backend ($PG_BIN), synchronous_commit off"
for v in $VARIANTS; do
	irefs "$v" "$SMALL"
	small=$IR
	irefs "$v" "$LARGE"
	per=$(((IR - small) / (LARGE - SMALL)))
	eval "IR_$v=$per"
	echo "bench_store_ir: $v: $per instructions a payment (event rows: $EVENTS, answers kept by the order: $KEPT, of $LARGE)"
done
# diff A B: A's instructions against B's, when both ran
diff() {
	local a b
	eval "a=\${IR_$1:-} b=\${IR_$2:-}"
	[ -n "$a" ] && [ -n "$b" ] || return 0
	echo "bench_store_ir: $1 - $2: $((a - b)) instructions a payment ($(awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.1f", (a - b) * 100 / b }')%)"
}
diff payroute beginlean
diff payroute answer
diff answer rowevent
diff payroute rowevent
diff life lifefull
diff life payroute
diff lifefull payroute
[ -n "${IR_payroute:-}" ] && [ -n "${IR_pattern:-}" ] &&
	echo "bench_store_ir: payroute / pattern: $(awk -v a="$IR_payroute" -v b="$IR_pattern" 'BEGIN { printf "%.2f", a / b }') (the harness reads each statement's text: a share of both that the wire protocol does not have)"
