#!/usr/bin/env bash
# t_failover.sh - the primary dies under load and nothing acknowledged is
# lost (doc/operations.md, "High availability").
#
# Two PostgreSQL clusters on private sockets: a primary and a standby
# streaming from it, the standby synchronous (synchronous_commit = on,
# synchronous_standby_names), so a commit payroute acknowledged is on both.
# Two payrouted instances take a multi-host conninfo with
# target_session_attrs=read-write. Clients create payments through both,
# and refunds of payments paid before; a channel's daily limit is set so
# that the load reaches it. The primary's postmaster is killed with
# SIGKILL in the middle of the load and the standby promoted. Then:
#   - every answer was 201 or a 503 (the documented retryable answer of
#     the gap); nothing else;
#   - both daemons came back to the promoted standby without a restart
#     (ready again, new payments acknowledged through each);
#   - every payment and refund acknowledged before, during or after the
#     failover exists exactly once on the new primary, with its id;
#   - the daily limit was never exceeded;
#   - nothing reached the channel without its order stored, and after the
#     completion job ran the simulator's ledger and payroute agree;
#   - on SIGTERM an instance (server.drain_ms) first fails /readyz while
#     still serving, then stops, while the other goes on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"
LOAD_PIDS=()

require_pg
require_tools jq curl python3
[ -x "$PG_BIN/pg_basebackup" ] || skip "pg_basebackup not found in $PG_BIN"

# ------------------------------------------------ primary and standby
pg_start
PRIMARY=$PG_ROOT
cat >>"$PRIMARY/data/postgresql.conf" <<EOF
wal_level = replica
max_wal_senders = 4
fsync = on
synchronous_commit = on
synchronous_standby_names = 'standby1'
EOF
pg_stop fast
pg_start_again
STANDBY=$TEST_DIR/pg2
mkdir -p "$STANDBY/sock"
[ "$(id -u)" = 0 ] && chown -R "$PR_TEST_USER" "$STANDBY"
chmod 755 "$STANDBY" "$STANDBY/sock"
# --checkpoint=fast: the default spread checkpoint paces the fresh
# cluster's dirty buffers over most of checkpoint_timeout (minutes).
_as_pg "$PG_BIN/pg_basebackup" -D "$STANDBY/data" -R -X stream --no-sync \
	--checkpoint=fast -d "host=$PRIMARY/sock user=payroute application_name=standby1" \
	>"$STANDBY/basebackup.log" 2>&1 ||
	{ cat "$STANDBY/basebackup.log" >&2; fail "pg_basebackup failed"; }
cat >>"$STANDBY/data/postgresql.conf" <<EOF
unix_socket_directories = '$STANDBY/sock'
hot_standby = on
EOF
_as_pg "$PG_BIN/pg_ctl" -D "$STANDBY/data" -l "$STANDBY/pg.log" -w -t 30 \
	start >/dev/null ||
	{ tail -n 20 "$STANDBY/pg.log" >&2; fail "the standby did not start"; }
STANDBY_UP=1
stop_standby() {
	[ "${STANDBY_UP:-0}" = 1 ] &&
		_as_pg "$PG_BIN/pg_ctl" -D "$STANDBY/data" -m immediate -w -t 30 \
			stop >/dev/null 2>&1
	STANDBY_UP=0
}
# lib.sh's cleanup stops the cluster at PG_ROOT; the standby too.
trap 'rc=$?; stop_standby; (exit $rc); _cleanup' EXIT
sync_state() {
	pq -c "SELECT sync_state FROM pg_stat_replication
		WHERE application_name = 'standby1'"
}
wait_until 30 sql_is "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" sync ||
	fail "the standby is not synchronous: '$(sync_state)'"
pass "a primary and a synchronous standby (sync_state $(sync_state))"

CONNINFO="host=$PRIMARY/sock,$STANDBY/sock port=5432,5432 dbname=payroute user=payroute target_session_attrs=read-write connect_timeout=2"

# ------------------------------------------------ two daemons, one channel
sim_start
LIMIT=40000
for n in a b; do
	new_instance $n
	install_drivers "$DRIVER_DIR" wechat
	TOP_EXTRA=', "completion": { "interval_ms": 200, "schedule": "1s,1s,1s,2s,2s,5s,10s" }'
	DB_EXTRA=', "reconnect_min_ms": 100, "reconnect_max_ms": 500'
	SERVER_EXTRA=', "drain_ms": 1500'
	write_conf
	jq --arg c "$CONNINFO" '.database.conninfo = $c' "$CONF" >"$CONF.tmp" &&
		mv "$CONF.tmp" "$CONF"
	daemon_start
	wait_ready
	save_instance
	if [ $n = a ]; then
		add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
			jq --argjson l $LIMIT '.limits.daily_amount = $l')"
		merchant_create shop1
	fi
done
use a
settle_generation
use b
settle_generation

# Payments paid before the failover, refunded during it.
use a
for i in $(seq 24); do
	paid 500 "pre-$i"
	echo "$PID" >>"$TEST_DIR/paid.txt"
done
pass "24 payments paid before the failover"

cat >"$TEST_DIR/refunder.sh" <<'EOF'
#!/usr/bin/env bash
# refunder.sh PORT KEY FILE: one refund of 100 for each payment id of
# FILE, each retried (same key) while answered 503, at most 50 times;
# "PAYMENT HTTPCODE REFUND_ID ERROR" per attempt.
port=$1 key=$2
while read -r pid; do
	for try in $(seq 50); do
		out=$(curl -s -m 30 -w '\n%{http_code}' -H "Authorization: Bearer $key" \
			-H 'Content-Type: application/json' -H "Idempotency-Key: rk-$pid" \
			--data-binary "{\"merchant_refund_no\":\"rf-$pid\",\"amount\":100,\"stage\":\"pre_delivery\",\"reason\":\"failover\"}" \
			"http://127.0.0.1:$port/v1/payments/$pid/refunds")
		code=${out##*$'\n'}
		body=${out%$'\n'*}
		printf '%s %s %s %s\n' "$pid" "$code" \
			"$(printf '%s' "$body" | jq -r '.id // "-"' 2>/dev/null || echo -)" \
			"$(printf '%s' "$body" | jq -r '.error.code // "-"' 2>/dev/null || echo -)"
		# 503: retried with the same key. A 409 request_in_progress
		# is the key of a request whose commit died with the primary:
		# held until it is stale, as t_crash shows; not retried.
		[ "$code" = 503 ] || break
		sleep 0.2
	done
	sleep 0.1
done <"$3"
exit 0
EOF
chmod +x "$TEST_DIR/refunder.sh"

# ------------------------------------------------ the failover
# The channel answers after 100 ms: the kill finds orders sent and not
# yet answered.
sim_script '{"order":"*","rate":1,"faults":{"delay_ms":100}}'
for c in 1 2 3 4 5 6 7 8; do
	inst=a
	[ $((c % 2)) = 0 ] && inst=b
	"$LOAD_CLIENT" "${I_MPORT[$inst]}" "$MKEY" fo $c -n 70 -m 30 -p 0.02 >"$TEST_DIR/c$c.txt" &
	BG_PIDS+=($!)
	LOAD_PIDS+=($!)
done
"$TEST_DIR/refunder.sh" "${I_MPORT[b]}" "$MKEY" "$TEST_DIR/paid.txt" >"$TEST_DIR/refunds.txt" &
BG_PIDS+=($!)
LOAD_PIDS+=($!)
for i in $(seq 150); do
	[ "$(cat "$TEST_DIR"/c*.txt 2>/dev/null | wc -l)" -ge 120 ] && break
	sleep 0.1
done
kill -KILL "$(head -n 1 "$PRIMARY/data/postmaster.pid")" ||
	fail "cannot kill the primary's postmaster"
PG_UP=0
say "the primary killed with SIGKILL after $(cat "$TEST_DIR"/c*.txt | wc -l) payment answers"
sleep 0.5
_as_pg "$PG_BIN/pg_ctl" -D "$STANDBY/data" -w -t 30 promote >/dev/null ||
	fail "the standby was not promoted"
# From here pq speaks to the new primary, and the cleanup stops it.
PG_ROOT=$STANDBY
PG_UP=1
STANDBY_UP=0
# The promoted standby inherited synchronous_standby_names = 'standby1'
# and has no standby of its own: every commit would wait for one forever.
# What an HA manager does when no synchronous standby is left (Patroni's
# synchronous_mode without synchronous_mode_strict), the test does here:
# it goes on alone until a new standby joins.
pq -c "ALTER SYSTEM SET synchronous_standby_names = ''" >/dev/null &&
	pq -c "SELECT pg_reload_conf()" >/dev/null ||
	fail "cannot clear synchronous_standby_names on the new primary"
say "the standby promoted; it takes the writes alone"
for pid in "${LOAD_PIDS[@]}"; do
	wait "$pid" 2>/dev/null
done
sim_script '{"order":"*","faults":null}'

cat "$TEST_DIR"/c*.txt >"$TEST_DIR/all.txt"
ok=$(awk '$2 == 201' "$TEST_DIR/all.txt" | wc -l)
gap=$(awk '$2 == 503' "$TEST_DIR/all.txt" | wc -l)
other=$(awk '$2 != 201 && $2 != 503' "$TEST_DIR/all.txt" | head -n 3)
[ -z "$other" ] || fail "answers other than 201 and 503 across the failover: $other"
codes=$(awk '$2 == 503 { print $5 }' "$TEST_DIR/all.txt" | sort | uniq -c | tr -s ' \n' ' ')
other=$(awk '$2 != 201 && $2 != 503 && !($2 == 409 && $4 == "request_in_progress")' \
	"$TEST_DIR/refunds.txt" | head -n 3)
[ -z "$other" ] || fail "refund answers other than 201, 503 and 409 request_in_progress across the failover: $other"
[ "$gap" -gt 0 ] || fail "no request fell in the gap: the failover was not under load"
say "payments: $ok acknowledged, $gap answered 503 ($codes)"
pass "across the failover every answer was 201 or the retryable 503"

# Both daemons are back on the promoted standby, without a restart.
for n in a b; do
	use $n
	daemon_alive || fail "payrouted $n died in the failover"
	wait_ready 30
	_mcall POST /v1/payments "{\"merchant_order_no\":\"after-$n\",\"amount\":100,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"after\"}"
	[ "$RESP_CODE" = 201 ] || fail "payrouted $n after the failover: HTTP $RESP_CODE $RESP_BODY"
	grep -q 'store: connection lost' "$LOG_FILE" ||
		fail "payrouted $n's log does not say the store connection was lost"
	grep -q "store: now connected to $STANDBY/sock port 5432 (was $PRIMARY/sock port 5432)" "$LOG_FILE" ||
		fail "payrouted $n's log does not say it moved to the standby"
done
[ "$(pq -c "SELECT pg_is_in_recovery()")" = f ] || fail "the new primary is still in recovery"
pass "both daemons answer from the promoted standby without a restart"

# Every acknowledged payment and refund exactly once, with its id.
acked_once "$TEST_DIR/all.txt" fo "on the new primary"
awk '$2 == 201 { print $1, $3 }' "$TEST_DIR/refunds.txt" | sort >"$TEST_DIR/racked.txt"
pq -c "SELECT payment_id || ' ' || id FROM refunds WHERE merchant_refund_no LIKE 'rf-%'" |
	sort >"$TEST_DIR/rstored.txt"
missing=$(comm -23 "$TEST_DIR/racked.txt" "$TEST_DIR/rstored.txt" | head -n 3)
[ -z "$missing" ] || fail "refund acknowledged but not on the new primary: $missing"
[ "$(pq -c "SELECT count(*) FROM (SELECT payment_id FROM refunds GROUP BY 1 HAVING count(*) > 1) d")" = 0 ] ||
	fail "a payment refunded twice (one refund of 100 each was asked)"
racked=$(wc -l <"$TEST_DIR/racked.txt")
[ "$racked" -ge 1 ] || fail "no refund was acknowledged"
# A refund whose key stayed in progress exists at most once (checked
# above); whether its commit made it is the store's to say.
pass "every one of the $ok payments and $racked refunds acknowledged is on the new primary once, with its id"

# The daily limit held: what the channel's day holds never went over.
held=$(pq -c "SELECT coalesce(sum(amount), 0) FROM payments
	WHERE channel = 'wx_native' AND status IN ('processing', 'succeeded')")
[ "$held" -le "$LIMIT" ] || fail "the channel holds $held, over its daily limit of $LIMIT"
refused=$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'fo-%' AND status = 'failed'")
say "the channel holds $held of its $LIMIT daily limit; $refused payments failed"
pass "the daily limit was never exceeded across the failover"

# Nothing sent unstored; the ledger and payroute agree after the job.
curl -sf -m 5 "$SIM/_sim/ledger" | jq -r '.orders[].out_trade_no' | sort >"$TEST_DIR/ledger.txt"
pq -c "SELECT id FROM payments" | sort >"$TEST_DIR/ids.txt"
orphans=$(comm -23 "$TEST_DIR/ledger.txt" "$TEST_DIR/ids.txt" | head -n 3)
[ -z "$orphans" ] || fail "the channel holds orders payroute never stored: $orphans"
n=0
curl -sf -m 5 "$SIM/_sim/ledger" | jq -r '.orders[] | .out_trade_no + " " + .state' |
	grep ' pending$' | while read -r id state; do
	n=$((n + 1))
	[ $((n % 2)) = 0 ] && sim_pay wechat "$id"
done
agree() {
	curl -sf -m 5 "$SIM/_sim/ledger" | jq -r '.orders[] | .out_trade_no + " " + .state' |
		sort >"$TEST_DIR/ledger2.txt"
	pq -c "SELECT id || ' ' || status FROM payments WHERE merchant_order_no LIKE 'fo-%'" |
		sort >"$TEST_DIR/ours.txt"
	join -a 1 -e none -o 0,1.2,2.2 "$TEST_DIR/ours.txt" "$TEST_DIR/ledger2.txt" |
		awk '($3 == "success" && $2 != "succeeded") ||
		     ($3 == "pending" && $2 != "processing") ||
		     ($3 == "none" && ($2 == "succeeded" || $2 == "closed")) ||
		     ($2 == "succeeded" && $3 != "success") { print; bad++ }
		     END { exit bad > 0 }' >"$TEST_DIR/disagree.txt"
}
wait_until 30 agree ||
	fail "payroute and the channel disagree after 30 s: $(head -n 5 "$TEST_DIR/disagree.txt")"
pass "nothing reached the channel unstored; after the callbacks and the completion job payroute agrees with the ledger"

# A stop behind a load balancer: not ready first, still serving, then gone.
use a
kill -TERM "$DAEMON_PID"
t0=$(date +%s%N)
# the signal is handled on the loop's next turn: ask once it says so
wait_log 'shutting down \(SIGTERM\): not ready for 1500 ms' 5 ||
	fail "payrouted a's log does not say it drains"
http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
[ "$RESP_CODE" = 503 ] && [ "$(json .reason)" = "shutting down (draining)" ] ||
	fail "/readyz while draining: $RESP_CODE $RESP_BODY"
_mcall POST /v1/payments '{"merchant_order_no":"drain-a","amount":100,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"drain"}'
[ "$RESP_CODE" = 201 ] || fail "a payment while draining: HTTP $RESP_CODE $RESP_BODY"
wait_until 10 eval '! kill -0 "$DAEMON_PID" 2>/dev/null' || fail "payrouted a did not stop after draining"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 1400 ] || fail "payrouted a stopped after $ms ms, before its 1500 ms drain"
use b
_mcall POST /v1/payments '{"merchant_order_no":"drain-b","amount":100,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"drain"}'
[ "$RESP_CODE" = 201 ] || fail "payrouted b after a stopped: HTTP $RESP_CODE $RESP_BODY"
pass "SIGTERM: /readyz 503 and requests still served for server.drain_ms, then stopped ($ms ms); the other instance goes on"
