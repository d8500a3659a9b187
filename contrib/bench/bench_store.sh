#!/usr/bin/env bash
# bench_store.sh - what one payment costs PostgreSQL, statement by
# statement, against the minimal durable pattern, without the daemon: the
# daemon's own two statements (printed by bench_storesql: the first
# commit, PR_BEGIN_SQL, and the answer's commit, PR_APPLY_SQL) replayed by
# pgbench with a payment's values, on the schema of etc/migrations, in a
# scratch database (payroute_store, created and dropped here) of a running
# instance's cluster (contrib/dev.sh up; -e ENVFILE as the other scripts).
#
# Each round runs, for -d seconds each, with -c clients, one after the
# other (so that the machine's other load falls on all of them alike):
#   pattern    pattern_pay.sql: reserve a usage row + insert a narrow order
#              (commit), mark it answered (commit);
#   payroute   the first commit of a payment (its row with the route trace
#              and its check row; its first event is the row, migration
#              019) and the answer's commit (the transition as one UPDATE;
#              its answer's event is the order's columns, migration 021),
#              as the daemon
#              sends them for a payment on a channel that answers
#              "processing": two commits, two statements (the first
#              commit's lean variant: no Idempotency-Key);
#   answer     payroute with the answer's commit as the statement the
#              fast one (one UPDATE, apply_fast_sql) falls back to, and
#              the daemon sent before it: the same change with every clause
#              of the apply (PR_APPLY_ANSWER_SQL);
#   begin      payroute's first commit alone (one commit a payment);
#   life       payroute, then a callback's final change (succeeded,
#              guarded by the channel and the amount) as the daemon sends
#              it first (apply_final_sql: one UPDATE, the event row, the
#              check row dropped): a payment's whole life, three commits;
#   lifefull   the same with the callback as the full change the final one
#              falls back to (apply_sql: what the daemon sent before);
#   rowevent   payroute with the answer's commit as it was before
#              migration 021, its event a row of order_events (the lean
#              change that checks and callbacks still send), where
#              payroute's order keeps it in its own columns;
#   full       the same with the first commit's full variant (every
#              clause and the 'attempt' event row: what every first
#              commit ran before the lean one and migration 019);
#   plain      the same payment row inserted and updated by a bare INSERT
#              and a bare UPDATE: no events, no check row, no WITH clauses;
#              with the table's rules (its guard trigger since migration 017);
#   unchecked  plain on a copy of payments without its rules
#              and triggers (what the database's guarantees cost a row);
#   json       unchecked on a copy whose trace and payer are json instead
#              of jsonb, sent as json (what parsing them as jsonb costs);
#   before     with -B NNN: payroute's statements on a second scratch
#              database (payroute_store_before) built from the migrations
#              numbered below NNN, so that a migration's change is measured
#              against the schema without it in the same run (the
#              statements must run on both: a migration that changes the
#              daemon's statements is measured by building each tree).
# Only pattern and payroute are what happens; plain and unchecked say where
# payroute's cost goes. The tables are emptied and a CHECKPOINT taken before
# each run. Prints, per payment (one pgbench transaction): PostgreSQL CPU
# (every process of the cluster, reaped backends included), commits, rows
# written, WAL bytes, full-page images, buffer hits (lib_bench.sh b_cost),
# and each round's ratio payroute / pattern (and before / pattern).
#
#   contrib/bench/bench_store.sh [-e ENVFILE] [-b BUILDDIR] [-d SECS]
#       [-c CLIENTS] [-r ROUNDS] [-B NNN] [-s "RUN ..."] [-S off] [-P]
#
# -s: the runs of a round, in order (default "pattern payroute answer
# rowevent full plain unchecked", and before after payroute with -B);
# e.g. -s 'payroute answer' to alternate two of them.
# -S off: the runs' commits with synchronous_commit off, so that the
# clients do not wait for WAL flushes: more payments a second on the same
# CPU, a steadier figure when two runs commit alike and differ only in
# what they execute (never the figure to quote against the pattern's
# durable commits).
# -P: the closer view (perf, run as root or with perf_event_paranoid low
# enough): perf record --call-graph dwarf on one backend of each run for
# its middle (use -c 1, and -d 10 or more), and print the share of that
# backend's samples spent under each of PERF_FUNCS (default: the guard
# triggers, PL/pgSQL making expressions ready, its queries through SPI,
# jsonb's and json's parsers).
#
# BUILDDIR: where `make bench` built bench_storesql (default build/ of this
# tree). Needs pgbench, psql, python3 (it writes the pgbench scripts).
# Loopback only (the instance's socket); bounded by -d and -r.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
BUILD=$B_ROOT/build SECS=6 CLIENTS=16 ROUNDS=2 BEFORE='' RUNS='' PERF='' SYNC=on
PERF_FUNCS=${PERF_FUNCS:-plpgsql_exec_trigger ExecInitExprWithParams SPI_execute_plan_with_paramlist jsonb_in json_in}
usage() {
	echo "usage: $0 [-e ENVFILE] [-b BUILDDIR] [-d SECS] [-c CLIENTS] [-r ROUNDS] [-B NNN] [-s RUNS] [-S off] [-P]" >&2
	exit 2
}
while getopts e:b:d:c:r:B:s:S:P o; do
	case $o in
	e) ENVFILE=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	d) SECS=$OPTARG ;;
	c) CLIENTS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	B) BEFORE=$OPTARG ;;
	s) RUNS=$OPTARG ;;
	S) SYNC=$OPTARG ;;
	P) PERF=1 ;;
	*) usage ;;
	esac
done
[ $# -ge "$OPTIND" ] && usage
case $BEFORE in '' | [0-9][0-9][0-9]) ;; *) usage ;; esac
case $SYNC in on | off) ;; *) usage ;; esac
if [ -z "$RUNS" ]; then
	RUNS="pattern payroute${BEFORE:+ before} answer rowevent full plain unchecked"
fi
STORESQL=$BUILD/contrib/bench/bench_storesql
[ -x "$STORESQL" ] || b_die "build $STORESQL first (make bench in $BUILD, or -b BUILDDIR)"
b_need pgbench python3
[ -z "$PERF" ] || b_need perf
b_init "$ENVFILE"
b_tmp
DB=payroute_store DBB=payroute_store_before

# bq: psql on the scratch database $DB (or $BQ_DB when set)
bq() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$B_CONNINFO dbname=${BQ_DB:-$DB}" "$@" >/dev/null; }
# mkdb NAME [UPTO]: creates the scratch database NAME with the migrations
# numbered below UPTO (all without), the pattern's tables, the merchant
# and the copies of payments
mkdb() {
	local f n
	BQ_DB=$1
	shift

	b_sql postgres "DROP DATABASE IF EXISTS $BQ_DB" >/dev/null ||
		b_die "cannot drop the database $BQ_DB"
	b_sql postgres "CREATE DATABASE $BQ_DB" >/dev/null ||
		b_die "cannot create the database $BQ_DB"
	b_at_exit "b_sql postgres 'DROP DATABASE IF EXISTS $BQ_DB' >/dev/null 2>&1"
	for f in "$B_ROOT"/etc/migrations/[0-9]*.sql; do
		n=$(basename "$f")
		[ -n "${1:-}" ] && [ "${n%%_*}" -ge "$1" ] && continue
		bq -1 -f "$f" || b_die "migration $n failed"
	done
	bq -f "$B_HERE/pattern.sql" || b_die "pattern.sql failed"
	bq -c "INSERT INTO merchants (id, api_key_prefix, api_key_hash, notify_secret)
		VALUES ('demo', 'prk_bench', repeat('0', 64), repeat('s', 32))" ||
		b_die "cannot insert the merchant"
	# unchecked: payments' copy without CHECK constraints and triggers
	bq -c "CREATE TABLE payments_unchecked (LIKE payments INCLUDING DEFAULTS INCLUDING INDEXES) WITH (fillfactor = 70)" ||
		b_die "cannot create payments_unchecked"
	bq -c "CREATE TABLE payments_json (LIKE payments_unchecked INCLUDING DEFAULTS INCLUDING INDEXES) WITH (fillfactor = 70);
		ALTER TABLE payments_json ALTER trace DROP DEFAULT,
			ALTER trace TYPE json, ALTER trace SET DEFAULT '{}',
			ALTER payer TYPE json" ||
		b_die "cannot create payments_json"
	BQ_DB=''
}
if [ -n "$BEFORE" ]; then
	[ -n "$(ls "$B_ROOT"/etc/migrations/"$BEFORE"_*.sql 2>/dev/null)" ] ||
		b_die "no migration $BEFORE in etc/migrations"
	mkdb "$DBB" "$BEFORE"
fi
mkdb "$DB"

"$STORESQL" >"$B_TMP/stmts.sql" || b_die "$STORESQL failed"
python3 - "$B_TMP" "$B_HERE" <<'EOF' || b_die "cannot write the pgbench scripts"
import re, sys
tmp = sys.argv[1]
sys.dont_write_bytecode = True  # nothing written next to the script
sys.path.insert(0, sys.argv[2])
from storepay import statements, one, q, ROUTE as route, ATTEMPT as attempt, \
    TRACE as trace, PAYER as payer, NOW
st = statements(tmp + '/stmts.sql')
begin, apply_, full, lean, answer, final, finalfast = (
    st['begin'], st['fast'], st['full'], st['lean'], st['answer'], st['final'],
    st['finalfast'])
# ids as the daemon's: time-ordered (here per client), unique
ID = "('P' || lpad(:client_id::text, 3, '0') || lpad(:n::text, 12, '0'))"
NO = "('b' || :client_id::text || '-' || :n::text)"
MSG_EN, MSG_ZH = 'The payment is being processed.', '支付处理中。'
# The texts the daemon sends as parameters are pgbench variables (-D):
# with -M prepared pgbench sends them as parameters too, so that the
# server parses the trace, details and payer at every execution as it
# does for the daemon.
V = {'route': route, 'trace': trace, 'attempt': attempt, 'payer': payer,
     'detail': '{"attempt": 1, "channel": "wx_native"}', 'msg_en': MSG_EN,
     'msg_zh': MSG_ZH}
open(tmp + '/vars', 'w').write(''.join(k + '=' + v + '\n'
                                       for k, v in V.items()))
bp = {1: ID, 2: "'demo'", 3: NO, 4: q('e3' * 32), 5: "'bench'", 6: NOW,
      7: "'processing'", 8: "'wx_native'",
      9: "(current_date - DATE '1970-01-01')", 10: 'NULL', 11: ':amt',
      12: ':detail', 13: '10',
      14: 'NULL', 15: 'NULL', 16: 'NULL', 17: ':route', 18: 'NULL',
      19: 'NULL', 20: 'NULL', 21: ':amt', 22: "'CNY'", 23: "'wechat_pay'",
      24: "'native_qr'", 25: "'NATIVE'", 26: 'NULL', 27: 'NULL',
      28: 'NULL', 29: 'NULL', 30: 'NULL', 31: "'bench'", 32: 'NULL',
      33: "'127.0.0.1'", 34: NOW + ' + 1800000'}
ap = {1: ID, 2: "'{processing}'", 3: "'processing'", 4: "'bench'",
      5: "'answer'", 6: ':attempt', 7: NOW, 8: 'NULL', 9: 'NULL',
      10: 'NULL', 11: 'NULL', 12: 'NULL', 13: 'false', 14: "'PROCESSING'",
      15: ':msg_en', 16: ':msg_zh', 17: "'200'", 18: "''", 19: "''",
      20: 'NULL', 21: ':payer', 22: ':trace', 23: '10', 24: 'false',
      25: 'NULL', 26: 'NULL', 27: 'NULL', 28: 'NULL'}
def sub(s, m):
    return re.sub(r'\$(\d+)', lambda x: m[int(x.group(1))], one(s))
head = '\\set n :n + 1\n\\set amt random(100, 5099)\n'
open(tmp + '/payroute.sql', 'w').write(
    head + sub(begin, bp) + ';\n' + sub(apply_, ap) + ';\n')
open(tmp + '/before.sql', 'w').write(
    head + sub(begin, bp) + ';\n' + sub(apply_, ap) + ';\n')
open(tmp + '/rowevent.sql', 'w').write(
    head + sub(begin, bp) + ';\n' + sub(lean, ap) + ';\n')
open(tmp + '/answer.sql', 'w').write(
    head + sub(begin, bp) + ';\n' + sub(answer, ap) + ';\n')
# begin: the first commit alone
open(tmp + '/begin.sql', 'w').write(head + sub(begin, bp) + ';\n')
# life, lifefull: payroute, then a callback's final change (succeeded,
# guarded by the channel and the amount, which ends the order's check) as
# one UPDATE (apply_final_sql), or the kind's full apply
fp = dict(ap)
fp.update({2: "'{processing,unknown}'", 3: "'succeeded'", 5: "'callback'",
           14: "'SUCCESS'", 15: "'Paid.'", 16: "'已支付。'",
           17: "'SUCCESS'", 20: "'T' || :n::text", 21: 'NULL', 22: 'NULL',
           25: "'wx_native'", 26: ':amt'})
for name, cb in (('life', finalfast), ('lifefull', final)):
    open(tmp + '/' + name + '.sql', 'w').write(
        head + sub(begin, bp) + ';\n' + sub(apply_, ap) + ';\n' +
        sub(cb, fp) + ';\n')
open(tmp + '/full.sql', 'w').write(
    head + sub(full, bp) + ';\n' + sub(apply_, ap) + ';\n')
def plain(table, j='jsonb'):
    ins = ('INSERT INTO ' + table + ' (id, merchant_id, merchant_order_no, '
           'request_hash, status, channel, attempts, usage_day, usage_amount, '
           'trace, created_at, amount, currency, method, environment, '
           'product_code, subject, client_ip, expire_at) VALUES (' +
           ', '.join([ID, "'demo'", NO, q('e3' * 32), "'processing'",
                      "'wx_native'", '1', 'current_date', ':amt',
                      ':route::' + j, 'pr_ms_time(' + NOW + ')', ':amt',
                      "'CNY'", "'wechat_pay'", "'native_qr'", "'NATIVE'",
                      "'bench'", "'127.0.0.1'",
                      'pr_ms_time(' + NOW + ' + 1800000)']) + ');')
    upd = ('UPDATE ' + table + " SET status = 'processing', code = "
           "'PROCESSING', message_en = :msg_en, message_zh = :msg_zh, "
           "channel_code = '200', channel_sub_code = '', "
           "channel_message = '', payer = :payer::" + j + ", trace = "
           ':trace::' + j + ', updated_at = now() WHERE id = ' + ID + ';')
    return head + ins + '\n' + upd + '\n'
open(tmp + '/plain.sql', 'w').write(plain('payments'))
open(tmp + '/unchecked.sql', 'w').write(plain('payments_unchecked'))
open(tmp + '/json.sql', 'w').write(plain('payments_json', 'json'))
EOF
cp "$B_HERE/pattern_pay.sql" "$B_TMP/pattern.sql"
VARS=()
while IFS= read -r v; do VARS+=(-D "$v"); done <"$B_TMP/vars"

echo "bench_store: ${SECS}s per run, $CLIENTS clients, $ROUNDS rounds, database $DB${BEFORE:+ (before: $DBB, migrations below $BEFORE)} on $B_PGDATA (fsync $(b_sql postgres 'SHOW fsync'), synchronous_commit $SYNC)"
# perf_one NAME DB: perf record on a backend of pgbench's run NAME on DB,
# from a quarter of the run to three quarters (in the background)
perf_one() {
	local pid

	sleep "$(awk -v s="$SECS" 'BEGIN { print s / 4 }')"
	pid=$(b_sql postgres "SELECT pid FROM pg_stat_activity WHERE datname = '$2' AND application_name = 'pgbench' LIMIT 1")
	[ -n "$pid" ] || { echo "bench_store: no backend of $1 to perf" >&2; return 0; }
	perf record -q --call-graph dwarf -F 999 -p "$pid" -o "$B_TMP/perf.$1" \
		-- sleep "$(awk -v s="$SECS" 'BEGIN { print s / 2 }')" >/dev/null 2>&1 ||
		echo "bench_store: perf record failed on $1" >&2
}
# perf_shares NAME: the share of run NAME's backend samples under each
# function of PERF_FUNCS
perf_shares() {
	[ -s "$B_TMP/perf.$1" ] || return 0
	perf script -i "$B_TMP/perf.$1" --no-demangle 2>/dev/null |
		python3 -c '
import sys
funcs = sys.argv[1].split()
n, hit, stack = 0, dict.fromkeys(funcs, 0), set()
def flush():
    global n
    if stack:
        n += 1
        for f in funcs:
            hit[f] += f in stack
for line in sys.stdin:
    if line[:1] in "\t ":
        p = line.split()
        if len(p) > 1:
            stack.add(p[1].split("+")[0])
    else:
        flush()
        stack = set()
flush()
print("perf %s: %d samples of one backend; under %s" % (sys.argv[2], n,
      ", ".join("%s %.1f%%" % (f, 100.0 * hit[f] / max(n, 1)) for f in funcs)))
' "$PERF_FUNCS" "$1"
	rm -f "$B_TMP/perf.$1"
}
# tables DB: the tables the runs on DB write
tables() {
	b_sql "$1" "SELECT string_agg(tablename, ', ') FROM pg_tables
		WHERE schemaname = 'public' AND tablename IN ('payments',
		'payments_unchecked', 'payments_json', 'order_events',
		'order_checks', 'bench_orders', 'merchant_notifications')"
}
# run NAME: one pgbench run of $B_TMP/NAME.sql; sets CPU_<NAME>
run() {
	local out before after n db=$DB

	[ "$1" = before ] && db=$DBB
	BQ_DB=$db bq -c "TRUNCATE $(tables "$db") CASCADE"
	b_checkpoint
	before=$(b_sample "$db")
	[ -z "$PERF" ] || perf_one "$1" "$db" &
	out=$(PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -n -M prepared -D n=0 "${VARS[@]}" \
		-c "$CLIENTS" -j 2 -T "$SECS" -f "$B_TMP/$1.sql" \
		"$B_CONNINFO dbname=$db" 2>&1) ||
		{ printf '%s\n' "$out" | tail -n 20 >&2; b_die "pgbench $1 failed"; }
	wait
	[ -z "$PERF" ] || perf_shares "$1"
	sleep 2 # its backends exit, and flush their stats as they do
	after=$(b_sample "$db")
	n=$(printf '%s\n' "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	[ -n "$n" ] || { printf '%s\n' "$out" >&2; b_die "cannot read pgbench's output"; }
	b_cost "$1 ($(b_rate "$n" "${SECS}000000")/s)" "$n" payment "$before" "$after"
	eval "CPU_$1=\$C_CPU_MS"
}
for r in $(seq 1 "$ROUNDS"); do
	line=
	for v in $RUNS; do
		case $v in
		pattern | payroute | before | answer | rowevent | begin | life | lifefull | full | plain | unchecked | json) ;;
		*) b_die "no run $v (-s)" ;;
		esac
		run "$v"
		[ "$v" = pattern ] && continue
		eval "line=\"\$line, $v \$CPU_$v\""
		if [ -n "${CPU_pattern:-}" ]; then
			eval "line=\"\$line (\$(b_ratio \"\$CPU_$v\" \"\$CPU_pattern\")x)\""
		fi
	done
	echo "bench_store: round $r: pg_cpu_ms a payment: pattern ${CPU_pattern:-not run}$line"
done
