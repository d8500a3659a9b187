#!/usr/bin/env bash
# t_replica.sh - heavy reads from a streaming read replica, within the
# staleness bound, and back to the primary when it is stale, down or not a
# standby (doc/design.md §7, "Read replicas"; doc/operations.md).
#
# A primary and a standby streaming from it (asynchronous), each on its own
# private socket. One payrouted with database.read_conninfo naming the
# standby and database.read_max_lag_ms 1000. Then:
#   - the replica is taken into use (log, /metrics, /admin/v1/status);
#   - the order lists, the dashboard and the reconciliation report answer
#     from it (X-Payroute-Read-Source: replica, a lag within the bound);
#   - with replay paused on the standby, a list served from it does not
#     have a payment made after the pause (it really is the replica), and
#     once the bound has passed the lists come from the primary and have it;
#     replay resumed, the replica is used again;
#   - with the standby stopped, payments are still acknowledged, the lists
#     answer 200 from the primary, the log and /metrics say so; started
#     again, the replica is used again;
#   - the standby promoted (no longer a replica): reads go to the primary.
# The payment path never touches the replica: its pool's statement count
# does not move while payments are made and no list is asked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl python3
[ -x "$PG_BIN/pg_basebackup" ] || skip "pg_basebackup not found in $PG_BIN"

# ------------------------------------------------ primary and standby
pg_start
PRIMARY=$PG_ROOT
STANDBY=$TEST_DIR/pg2
mkdir -p "$STANDBY/sock"
[ "$(id -u)" = 0 ] && chown -R "$PR_TEST_USER" "$STANDBY"
chmod 755 "$STANDBY" "$STANDBY/sock"
# --checkpoint=fast: the default spread checkpoint paces the fresh
# cluster's dirty buffers over most of checkpoint_timeout (minutes).
_as_pg "$PG_BIN/pg_basebackup" -D "$STANDBY/data" -R -X stream --no-sync \
	--checkpoint=fast -d "host=$PRIMARY/sock user=payroute application_name=replica1" \
	>"$STANDBY/basebackup.log" 2>&1 ||
	{ cat "$STANDBY/basebackup.log" >&2; fail "pg_basebackup failed"; }
cat >>"$STANDBY/data/postgresql.conf" <<EOF
unix_socket_directories = '$STANDBY/sock'
hot_standby = on
EOF
standby_start() {
	_as_pg "$PG_BIN/pg_ctl" -D "$STANDBY/data" -l "$STANDBY/pg.log" -w \
		-t 30 start >/dev/null ||
		{ tail -n 20 "$STANDBY/pg.log" >&2; fail "the standby did not start"; }
	STANDBY_UP=1
}
standby_stop() {
	[ "${STANDBY_UP:-0}" = 1 ] &&
		_as_pg "$PG_BIN/pg_ctl" -D "$STANDBY/data" -m "${1:-immediate}" \
			-w -t 30 stop >/dev/null 2>&1
	STANDBY_UP=0
}
standby_start
# lib.sh's cleanup stops the cluster at PG_ROOT; the standby too.
trap 'rc=$?; standby_stop; (exit $rc); _cleanup' EXIT
# psql on the standby
sq() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$STANDBY/sock" -U payroute \
		-d payroute "$@"
}
wait_until 30 sql_is "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'replica1' AND state = 'streaming'" 1 ||
	fail "the standby does not stream: '$SQL_GOT'"
pass "a primary and a streaming standby ($(sq -c 'SELECT pg_is_in_recovery()'))"

# ------------------------------------------------ the daemon
sim_start
new_instance a
install_drivers "$DRIVER_DIR" wechat
READ_CONNINFO="host=$STANDBY/sock port=5432 dbname=payroute user=payroute connect_timeout=2"
DB_EXTRA=", \"read_max_lag_ms\": 1000, \"read_pool_size\": 2, \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 300, \"read_conninfo\": \"$READ_CONNINFO\""
write_conf
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1
settle_generation

wait_log 'read replica: in use for reads' 15 ||
	fail "the replica was not taken into use"
[ "$(metric payroute_read_replica_in_use)" = 1 ] ||
	fail "payroute_read_replica_in_use is not 1"
[ "$(metric payroute_read_replica_connected)" = 1 ] ||
	fail "payroute_read_replica_connected is not 1"
admin_get /admin/v1/status
[ "$(json .store.read_replica.in_use)" = true ] ||
	fail "status does not say the replica is in use: $RESP_BODY"
pass "the replica is in use: $(grep -m1 'read replica: in use' "$LOG_FILE" | sed 's/.*read replica/read replica/')"

# hget PATH: an admin GET keeping the headers (SOURCE, LAG).
hget() {
	local out

	out=$(curl -s -m 20 -D "$TEST_DIR/h.txt" -o "$TEST_DIR/b.txt" \
		-w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		"http://127.0.0.1:$ADMIN_PORT$1") || out=000
	RESP_CODE=$out
	RESP_BODY=$(cat "$TEST_DIR/b.txt" 2>/dev/null)
	SOURCE=$(awk -F': ' 'tolower($1) == "x-payroute-read-source" { sub(/\r$/, "", $2); print $2 }' "$TEST_DIR/h.txt")
	LAG=$(awk -F': ' 'tolower($1) == "x-payroute-read-lag-ms" { sub(/\r$/, "", $2); print $2 }' "$TEST_DIR/h.txt")
}
# listed ID: the payment list (all of shop1's) answers 200 and has ID.
has_pay() {
	hget "/admin/v1/payments?merchant=shop1&limit=200"
	[ "$RESP_CODE" = 200 ] || fail "the payment list answered $RESP_CODE: $RESP_BODY"
	jq -e --arg id "$1" 'any(.items[]; .id == $id)' <<<"$RESP_BODY" >/dev/null
}
# from_replica_with ID: a list from the replica that has ID.
from_replica_with() { has_pay "$1" && [ "$SOURCE" = replica ]; }
from_primary_with() { has_pay "$1" && [ "$SOURCE" = primary ]; }

# ------------------------------------------------ reads from the replica
paid 500 r-1
P1=$PID
wait_until 10 from_replica_with "$P1" ||
	fail "payment $P1 not listed from the replica (source '$SOURCE')"
[ -n "$LAG" ] && [ "$LAG" -ge 0 ] && [ "$LAG" -le 1000 ] ||
	fail "a replica answer's lag '$LAG' is not within 0..1000"
pass "the payment list comes from the replica (lag bound $LAG ms) and has $P1"

hget /admin/v1/refunds
[ "$RESP_CODE" = 200 ] && [ "$SOURCE" = replica ] ||
	fail "refund list: $RESP_CODE from '$SOURCE'"
hget /admin/v1/withdrawals
[ "$RESP_CODE" = 200 ] && [ "$SOURCE" = replica ] ||
	fail "withdrawal list: $RESP_CODE from '$SOURCE'"
hget /admin/v1/overview
[ "$RESP_CODE" = 200 ] && [ "$SOURCE" = replica ] ||
	fail "the dashboard: $RESP_CODE from '$SOURCE': $RESP_BODY"
hget /admin/v1/reconciliation
[ "$RESP_CODE" = 200 ] && [ "$SOURCE" = replica ] ||
	fail "the reconciliation report: $RESP_CODE from '$SOURCE': $RESP_BODY"
hget "/admin/v1/payments/$P1"
[ -z "$SOURCE" ] || fail "an order read by id says it came from '$SOURCE'"
pass "refunds, withdrawals, the dashboard and the reconciliation report come from the replica; an order by id from the primary"

# The payment path does not use the replica: no replica read while
# payments are made and nothing is listed.
before=$(metric 'payroute_reads_total{source="replica"}')
for i in 1 2 3 4 5; do
	pay "{\"merchant_order_no\":\"r-path-$i\",\"amount\":$((200 + i)),\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"path\"}"
	expect_code 201 "payment r-path-$i"
	mget "/v1/payments/$(json .id)"
	expect_code 200 "payment r-path-$i by id"
done
after=$(metric 'payroute_reads_total{source="replica"}')
[ "$before" = "$after" ] ||
	fail "payments read from the replica ($before -> $after)"
pass "5 payments created and read by id: no read went to the replica ($after)"

# ------------------------------------------------ stale: replay paused
sq -c 'SELECT pg_wal_replay_pause()' >/dev/null || fail "cannot pause replay"
pay '{"merchant_order_no":"r-2","amount":700,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"paused"}'
expect_code 201 "payment r-2"
P2=$(json .id)
has_pay "$P2" && [ "$SOURCE" = replica ] &&
	fail "a list from the paused replica has $P2 (it is not the replica's)"
say "just after the pause: the list from '$SOURCE' (lag bound ${LAG:--})"
wait_log 'read replica: may be [0-9]+ ms behind the primary' 10 ||
	fail "the stale replica was not noticed"
wait_until 5 from_primary_with "$P2" ||
	fail "with the replica stale, $P2 not listed from the primary (source '$SOURCE')"
[ "$(metric payroute_read_replica_in_use)" = 0 ] ||
	fail "payroute_read_replica_in_use is not 0 while it is stale"
lag=$(metric payroute_read_replica_lag_seconds)
awk -v l="${lag:-0}" 'BEGIN { exit !(l > 1.0) }' ||
	fail "payroute_read_replica_lag_seconds is '$lag'"
pass "replay paused: '$(grep -Eo 'read replica: may be [0-9]+ ms behind[^;]*' "$LOG_FILE" | head -n 1)'; lists from the primary with $P2; lag metric $lag s"
sq -c 'SELECT pg_wal_replay_resume()' >/dev/null || fail "cannot resume replay"
wait_until 10 from_replica_with "$P2" ||
	fail "replay resumed: $P2 not listed from the replica (source '$SOURCE')"
pass "replay resumed: the lists come from the replica again, with $P2"

# ------------------------------------------------ down: the standby stopped
uses=$(log_count 'read replica: in use for reads')
standby_stop immediate
# A list at once: the pool may not know yet; a read that fails on the
# replica runs again on the primary.
has_pay "$P2" || fail "a list just after the standby stopped lacks $P2"
say "a list just after the standby stopped: 200 from $SOURCE"
wait_log 'read replica: unavailable; reads go to the primary' 10 ||
	fail "the log does not say the replica is gone"
n=0
for i in $(seq 6); do
	pay "{\"merchant_order_no\":\"r-down-$i\",\"amount\":$((300 + i)),\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"down\"}"
	expect_code 201 "payment r-down-$i with the replica down"
	last=$(json .id)
	n=$((n + 1))
done
from_primary_with "$last" ||
	fail "with the replica down, $last not listed from the primary (source '$SOURCE')"
hget /admin/v1/overview
[ "$RESP_CODE" = 200 ] && [ "$SOURCE" = primary ] ||
	fail "the dashboard with the replica down: $RESP_CODE from '$SOURCE'"
[ "$(metric payroute_read_replica_connected)" = 0 ] ||
	fail "payroute_read_replica_connected is not 0"
fb=$(metric payroute_read_replica_fallbacks_total)
[ "${fb:-0}" -ge 2 ] || fail "payroute_read_replica_fallbacks_total is '$fb'"
curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/readyz" -o /dev/null -w '%{http_code}' | grep -qx 200 ||
	fail "/readyz fails while only the replica is down"
pass "standby down: $n payments acknowledged, lists and dashboard 200 from the primary, /readyz 200, fallbacks $fb"

standby_start
wait_until 20 log_grew 'read replica: in use for reads' "$uses" ||
	fail "the replica was not used again after it came back"
wait_until 10 from_replica_with "$last" ||
	fail "standby back: $last not listed from the replica (source '$SOURCE')"
pass "standby back: the lists come from the replica again"

# ------------------------------------------------ not a standby any more
_as_pg "$PG_BIN/pg_ctl" -D "$STANDBY/data" -w -t 30 promote >/dev/null ||
	fail "cannot promote the standby"
wait_log 'read replica: the server is not a standby' 10 ||
	fail "a promoted replica was not noticed"
hget "/admin/v1/payments?merchant=shop1"
[ "$RESP_CODE" = 200 ] && [ "$SOURCE" = primary ] ||
	fail "with the replica promoted: $RESP_CODE from '$SOURCE'"
admin_get /admin/v1/status
[ "$(json .store.read_replica.in_use)" = false ] ||
	fail "status says the promoted replica is in use: $RESP_BODY"
pass "the replica promoted (not a standby): reads from the primary; status says '$(json .store.read_replica.reason)'"

daemon_stop
pass "stopped cleanly"
