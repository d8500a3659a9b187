#!/usr/bin/env bash
# t_migrate.sh - schema migrations: two daemons started at the same moment
# on one database apply each migration exactly once (advisory lock) and both
# become ready; a broken migration is rolled back, named in the log, and
# keeps the daemon not ready.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

nmig=$(ls "$top_srcdir/etc/migrations"/[0-9]*.sql 2>/dev/null | wc -l)
[ "$nmig" -gt 0 ] || fail "no migrations in $top_srcdir/etc/migrations"

# ---- two daemons at once
new_instance a
install_drivers "$DRIVER_DIR" good
write_conf
a_dir=$I_DIR a_conf=$CONF a_log=$LOG_FILE a_admin=$ADMIN_PORT a_token=$TOKEN
new_instance b
install_drivers "$DRIVER_DIR" good
write_conf
b_dir=$I_DIR b_conf=$CONF b_log=$LOG_FILE b_admin=$ADMIN_PORT b_token=$TOKEN

"$PAYROUTED" -f -c "$a_conf" >>"$a_dir/stderr" 2>&1 &
a_pid=$!
"$PAYROUTED" -f -c "$b_conf" >>"$b_dir/stderr" 2>&1 &
b_pid=$!
DAEMON_PIDS+=("$a_pid" "$b_pid")
say "started two daemons at once: pids $a_pid and $b_pid"

# use_a / use_b: point the helpers at one of the two.
use_a() {
	I_NAME=a I_DIR=$a_dir CONF=$a_conf LOG_FILE=$a_log
	ADMIN_PORT=$a_admin TOKEN=$a_token DAEMON_PID=$a_pid
}
use_b() {
	I_NAME=b I_DIR=$b_dir CONF=$b_conf LOG_FILE=$b_log
	ADMIN_PORT=$b_admin TOKEN=$b_token DAEMON_PID=$b_pid
}
use_a
wait_ready 20
use_b
wait_ready 20
pass "both daemons ready"

for x in a b; do
	"use_$x"
	wait_log 'store: ready' 1 || fail "daemon $x: no 'store: ready' line in its log"
done
pass "both logs say 'store: ready'"

dups=$(pq -c "SELECT version || ' x' || count(*) FROM schema_migrations
	GROUP BY version HAVING count(*) <> 1")
[ -z "$dups" ] || fail "schema_migrations has versions recorded more than once: $dups"
nrec=$(pq -c "SELECT count(*) FROM schema_migrations")
[ "$nrec" = "$nmig" ] ||
	fail "schema_migrations has $nrec rows for $nmig migration files"
napplied=$(cat "$a_log" "$b_log" | grep -Ec 'store: applied migration 001_')
[ "$napplied" = 1 ] ||
	fail "'store: applied migration 001_...' logged $napplied times by the two daemons, expected once"
pass "schema_migrations: $nrec versions, each once; 001 applied by one daemon only"
# both started on an empty store: one made the first admin, once
[ "$(pq -c "SELECT string_agg(name, ',') FROM operators"):$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'bootstrap'")" = admin:1 ] ||
	fail "the first admin: operators $(pq -c "SELECT string_agg(name, ',') FROM operators"), bootstrap audited $(pq -c "SELECT count(*) FROM audit_log WHERE action = 'bootstrap'") times"
[ "$(cat "$a_log" "$b_log" | grep -c 'made the first, "admin"')" = 1 ] ||
	fail "the first admin made by both daemons"
pass "two daemons starting together on an empty store made one first admin"

use_a
admin_get /admin/v1/status
expect_code 200 "daemon a: GET /admin/v1/status"
sv=$(json .schema_version)
maxv=$(pq -c "SELECT max(version) FROM schema_migrations")
[ "$sv" = "$maxv" ] || fail "status schema_version $sv, the table says $maxv"
# the newest file's number (024_plan_rows.sql: 24)
newest=$(basename "$(ls "$top_srcdir/etc/migrations"/[0-9]*.sql | sort | tail -n 1)")
[ "$sv" = "$((10#${newest%%_*}))" ] ||
	fail "status schema_version $sv, the newest migration is $newest"
pass "status reports schema_version $sv, the newest migration's"

daemon_stop "$a_pid"
daemon_stop "$b_pid"
pass "both exit 0 on SIGTERM"

# ---- a broken migration
new_instance broken
mkdir -p "$I_DIR/migrations"
cp "$top_srcdir/etc/migrations"/*.sql "$I_DIR/migrations/"
cat >"$I_DIR/migrations/900_broken.sql" <<'EOF'
-- A deliberately broken migration (t_migrate.sh): the table must not
-- survive the syntax error below.
CREATE TABLE t_migrate_probe (id integer PRIMARY KEY);
INSERT INTO t_migrate_probe VALUES (1);
SELEC this is not sql;
EOF
MIGRATIONS_DIR=$I_DIR/migrations
install_drivers "$DRIVER_DIR" good
write_conf
daemon_start
wait_log '900_broken\.sql' 10 ||
	fail "the log does not name 900_broken.sql within 10s"
say "  $(grep -E '900_broken\.sql' "$LOG_FILE" | head -n 1 | cut -d' ' -f2-)"
sleep 1
for i in 1 2 3; do
	daemon_alive || fail "payrouted exited on a broken migration (expected it to stay up, not ready)"
	http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
	expect_code 503 "GET /readyz with a broken migration (check $i)"
	sleep 0.5
done
pass "with 900_broken.sql: /readyz stays 503, the log names the file"
[ -z "$(pq -c "SELECT to_regclass('t_migrate_probe')")" ] ||
	fail "table t_migrate_probe exists: the broken migration was not rolled back"
[ "$(pq -c "SELECT count(*) FROM schema_migrations WHERE version = 900")" = 0 ] ||
	fail "schema_migrations records the broken migration 900"
[ "$(pq -c "SELECT count(*) FROM schema_migrations")" = "$nmig" ] ||
	fail "schema_migrations changed after the broken migration"
pass "900_broken.sql rolled back: no t_migrate_probe table, not recorded"

daemon_stop
pass "payrouted exits 0 on SIGTERM"

# ---- an upgrade with data: the database at the previous migration, with
# orders of every kind, events, a key, a check row and a notification;
# then the daemon applies the newest migration over them.
last=$(ls "$top_srcdir/etc/migrations"/[0-9]*.sql | sort | tail -n 1)
psql -X -q -v ON_ERROR_STOP=1 -h "$PG_ROOT/sock" -U payroute -d postgres \
	-c "DROP DATABASE payroute" -c "CREATE DATABASE payroute" ||
	fail "cannot recreate the database for the upgrade"
new_instance upgrade
mkdir -p "$I_DIR/migrations"
cp "$top_srcdir/etc/migrations"/*.sql "$I_DIR/migrations/"
rm "$I_DIR/migrations/$(basename "$last")"
MIGRATIONS_DIR=$I_DIR/migrations
install_drivers "$DRIVER_DIR" good
write_conf
daemon_start
wait_ready 20
daemon_stop
pq -c "INSERT INTO merchants (id, api_key_prefix, api_key_hash, notify_secret)
	VALUES ('m-up', 'prk_up', repeat('a', 64), repeat('s', 32));
INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, expire_at, status, channel, attempts,
	paid_amount, finished_at)
	SELECT 'PUP' || lpad(g::text, 8, '0'), 'm-up', 'o-' || g, 'h', 100 + g,
	'CNY', 'wechat_pay', now(), 'succeeded', 'wx', 1, 100 + g, now()
	FROM generate_series(1, 50) g;
INSERT INTO withdrawals (id, merchant_id, merchant_withdrawal_no,
	request_hash, amount, currency, payee_kind, payee_account_enc,
	payee_account_mask, method, deadline_at, status, channel, attempts)
	VALUES ('WUP00000001', 'm-up', 'w-1', 'h', 500, 'CNY', 'bank_card',
	repeat('A', 44), '6222****0001', 'bank_transfer', now(), 'processing',
	'bank', 1);
INSERT INTO refunds (id, request_no, payment_id, merchant_id,
	merchant_refund_no, request_hash, amount, currency, stage, borne_by,
	accounting, channel)
	VALUES ('RUP00000001', 'RUP00000001', 'PUP00000001', 'm-up', 'r-1', 'h',
	50, 'CNY', 'pre_delivery', 'merchant', 'settlement_reversal', 'wx');
INSERT INTO order_events (kind, order_id, actor, event, to_status)
	SELECT 'payment', id, 't', 'answer', 'succeeded' FROM payments;
INSERT INTO order_checks (kind, order_id, next_at)
	VALUES ('withdrawal', 'WUP00000001', now() + interval '1 day');
INSERT INTO idempotency_keys (merchant_id, key, endpoint, request_hash,
	state, status, body) VALUES ('m-up', 'k-1', 'payments', 'h', 'done', 201, '{}');
INSERT INTO merchant_notifications (merchant_id, kind, order_id, event, url)
	VALUES ('m-up', 'payment', 'PUP00000001', 'payment.succeeded',
	'https://example.com/n');" >/dev/null || fail "cannot store the data to upgrade"
before=$(pq -c "SELECT (SELECT count(*) FROM payments) || ' ' ||
	(SELECT count(*) FROM order_events) || ' ' || (SELECT count(*) FROM refunds)")
MIGRATIONS_DIR=$top_srcdir/etc/migrations
write_conf
daemon_start
wait_ready 20
wait_log "applied migration $(basename "$last")" 1 ||
	fail "the upgrade did not apply $(basename "$last")"
after=$(pq -c "SELECT (SELECT count(*) FROM payments) || ' ' ||
	(SELECT count(*) FROM order_events) || ' ' || (SELECT count(*) FROM refunds)")
[ "$after" = "$before" ] || fail "rows before the upgrade: $before, after: $after"
[ "$(pq -c "SELECT count(*) FROM schema_migrations")" = "$nmig" ] ||
	fail "after the upgrade schema_migrations has not $nmig rows"
# What the database refused before, it still refuses.
err=$(pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no,
	request_hash, amount, currency, method, expire_at) VALUES ('PUP99999999',
	'm-up', 'o-1', 'h', 1, 'CNY', 'wechat_pay', now())" 2>&1) &&
	fail "a second payment o-1 of m-up was stored after the upgrade"
grep -q 'duplicate key' <<<"$err" || fail "o-1 again: $err"
err=$(pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no,
	request_hash, amount, currency, method, expire_at) VALUES ('PUP99999999',
	'nobody', 'o-1', 'h', 1, 'CNY', 'wechat_pay', now())" 2>&1) &&
	fail "a payment of merchant nobody was stored after the upgrade"
grep -q 'does not exist' <<<"$err" || fail "merchant nobody: $err"
err=$(pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no,
	request_hash, amount, currency, method, expire_at) VALUES ('PUP99999999',
	'm-up', 'o-new', 'h', 0, 'CNY', 'wechat_pay', now())" 2>&1) &&
	fail "a payment of amount 0 was stored after the upgrade"
grep -q 'payments_amount_check' <<<"$err" || fail "amount 0: $err"
err=$(pq -c "UPDATE payments SET status = 'failed' WHERE id = 'PUP00000002'" 2>&1) &&
	fail "a succeeded payment became failed after the upgrade"
grep -q 'not a transition' <<<"$err" || fail "succeeded -> failed: $err"
err=$(pq -c "UPDATE withdrawals SET status = 'succeeded', finished_at = now() WHERE id = 'WUP00000001'" 2>&1) &&
	fail "a withdrawal succeeded without its paid amount after the upgrade"
grep -q 'withdrawals_paid_exactly' <<<"$err" || fail "succeeded unpaid: $err"
err=$(pq -c "DELETE FROM merchants WHERE id = 'm-up'" 2>&1) &&
	fail "merchant m-up was deleted with its orders"
# A row stored without created_by (as before migration 019) keeps none:
# no writer claims it later (migration 022).
err=$(pq -c "UPDATE payments SET created_by = 'inst-x' WHERE id = 'PUP00000003'" 2>&1) &&
	fail "a payment stored without created_by was given one after the upgrade"
grep -q 'payments_created_by_kept' <<<"$err" || fail "created_by of an old row: $err"
pass "upgrade to $(basename "$last") over $before payments, events and refunds: rows kept; duplicates, unknown merchants, broken rules and transitions refused"
daemon_stop
exit 0
