#!/usr/bin/env bash
# t_breaker_timeout.sh - a channel stops answering and routing learns it
# (doc/design.md §4, "Circuit breaking": a timeout is a channel-side
# failure).
#
# Two channels take the same payments: wx_a (weight 100, the favourite)
# talks to a simulator of its own, wx_b (weight 10) to another. wx_a's
# simulator is scripted to take every order and never answer, so each
# call to wx_a ends at http_client.timeout_ms (800 ms) as CHANNEL_TIMEOUT.
# With breaker.failures 3:
#   - the first 3 payments go to wx_a and stay unknown (a lost answer may
#     have created the order: never failed, never sent elsewhere); from
#     the 4th on wx_a is circuit_open and payments go straight to wx_b;
#     the breaker says why (CHANNEL_TIMEOUT, actor system), and so do
#     explain, audit_log and channel_breakers;
#   - once wx_a answers again and the cool-down (12 s: long enough for the
#     checks of the open state on a loaded machine) is over, one probe
#     goes to it, succeeds and closes the breaker; payments go to wx_a;
#   - no attempt reached two channels: every payment has one attempt on
#     one channel, and each simulator's ledger holds exactly the payments
#     stored on its channel;
#   - wx_b deleted, its success-rate estimates go with it (/metrics).
# The channel queries of the unknown payments are pushed past the test
# (completion.schedule 10m): a query is a call too, and this test is
# about what the payments' calls do to the breaker.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start
SIM_B=$SIM

sim_more A
pass "two simulators: wx_a's on $SIM_A, wx_b's on $SIM_B"

instance_setup() {
	TOP_EXTRA=', "breaker": { "failures": 3, "window_seconds": 60,
	"cooldown_seconds": 12, "probe_interval_ms": 500 },
	"http_client": { "timeout_ms": 800, "connect_timeout_ms": 500 },
	"completion": { "schedule": "10m" }'
}
start_instance a wechat
add_channel "$(chan wx_a wechat wechat_pay native_qr 100 |
	jq --arg u "$SIM_A/wechat" '.driver_config.api_base = $u')"
add_channel "$(chan wx_b wechat wechat_pay native_qr 10)"
merchant_create shop1
settle_generation

# p: one payment (pay_traced)
p() { pay_traced t; }

p
[ "$CH" = wx_a ] && [ "$ATT" = wx_a ] && [ "$ST" = processing ] ||
	fail "healthy: $PID went to $CH ($ATT), $ST"
pass "healthy: a payment goes to wx_a"

# ------------------------------------------------------ wx_a goes silent
SIM=$SIM_A sim_script '{"order":"*","rate":1,"faults":{"timeout":true}}'
for i in $(seq 6); do
	p
	if [ "$i" -le 3 ]; then
		[ "$CH" = wx_a ] && [ "$ATT" = wx_a ] && [ "$ST" = unknown ] &&
			[ "$(json .code)" = CHANNEL_TIMEOUT ] ||
			fail "timeout $i: $PID on $CH ($ATT), $ST: $RESP_BODY"
		[ "$MS" -ge 700 ] || fail "timeout $i answered in $MS ms"
	else
		[ "$CH" = wx_b ] && [ "$ATT" = wx_b ] && [ "$ST" = processing ] ||
			fail "payment $i after 3 timeouts: $PID on $CH ($ATT), $ST"
		[ "$MS" -lt 700 ] || fail "payment $i waited $MS ms"
	fi
done
pass "3 payments timed out on wx_a (unknown, not sent elsewhere); the next 3 went straight to wx_b"

breaker wx_a
[ "$STATE" = open ] || fail "wx_a's breaker: $RESP_BODY"
json '.breaker.history[0].reason' | grep -q '^3 failures in 60 s: CHANNEL_TIMEOUT' ||
	fail "the reason: $RESP_BODY"
[ "$(json '.breaker.history[0].actor')" = system ] || fail "the actor: $RESP_BODY"
[ "$(json .breaker.last_failure)" = CHANNEL_TIMEOUT ] || fail "last_failure: $RESP_BODY"
send POST /admin/v1/route/explain '{"merchant_order_no":"e-1","amount":100,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"x"}'
expect_code 200 explain
[ "$(json '.candidates[] | select(.channel == "wx_a") | .dropped_by')" = circuit_open ] &&
	[ "$(json .chosen)" = wx_b ] || fail "explain: $RESP_BODY"
wait_sql "SELECT count(*) FROM audit_log WHERE action = 'breaker_open' AND object_id = 'wx_a' AND actor = 'system' AND note LIKE '%CHANNEL_TIMEOUT%'" 1
wait_sql "SELECT state FROM channel_breakers WHERE channel = 'wx_a'" open
grep -q 'channel wx_a: breaker closed -> open (3 failures in 60 s: CHANNEL_TIMEOUT' "$LOG_FILE" ||
	fail "no log line for the opening"
pass "open for CHANNEL_TIMEOUT: the breaker endpoint, explain (circuit_open), audit_log (system), channel_breakers, the log"

# ------------------------------------------------------------ recovery
SIM=$SIM_A clear_script
breaker wx_a
until_ms=$(json .breaker.half_open_at)
now_ms=$(date +%s%3N)
[ -n "$until_ms" ] && [ "$until_ms" != null ] && [ "$until_ms" -le $((now_ms + 12000)) ] ||
	fail "half_open_at '$until_ms', now $now_ms"
[ "$until_ms" -lt "$now_ms" ] || sleep "$(((until_ms - now_ms) / 1000 + 1))"
p
[ "$CH" = wx_a ] && [ "$ATT" = wx_a ] && [ "$ST" = processing ] ||
	fail "probe: $PID went to $CH ($ATT), $ST"
[ "$(pq -c "SELECT trace->'route'->>'probe' FROM payments WHERE id = '$PID'")" = true ] ||
	fail "the probe's trace does not say probe"
breaker wx_a
[ "$STATE" = closed ] && [ "$(json '.breaker.history[0].reason')" = "probe succeeded" ] &&
	[ "$(json '.breaker.history[1].to')" = half_open ] || fail "after the probe: $RESP_BODY"
for i in 1 2; do
	p
	[ "$CH" = wx_a ] && [ "$ATT" = wx_a ] || fail "recovered: $PID went to $CH ($ATT)"
done
wait_sql "SELECT state FROM channel_breakers WHERE channel = 'wx_a'" closed
pass "recovery: after the cool-down one probe went to wx_a and closed the breaker; payments back on wx_a"

# ------------------------------------------------ one channel per attempt
while read -r pid ch att; do
	[ "$att" = "$ch" ] || fail "$pid: stored on $ch, attempts $att"
done <"$TEST_DIR/payments.txt"
for side in a b; do
	url=SIM_${side^^}
	curl -s -m 5 "${!url}/_sim/ledger" | jq -r '.orders[].out_trade_no' | sort \
		>"$TEST_DIR/ledger_$side"
	pq -c "SELECT id FROM payments WHERE channel = 'wx_$side' ORDER BY id" | sort \
		>"$TEST_DIR/stored_$side"
	diff "$TEST_DIR/ledger_$side" "$TEST_DIR/stored_$side" >&2 ||
		fail "wx_$side's simulator and the payments on wx_$side differ"
done
[ "$(comm -12 "$TEST_DIR/ledger_a" "$TEST_DIR/ledger_b" | wc -l)" = 0 ] ||
	fail "a payment reached both simulators"
pass "no attempt reached two channels: $(wc -l <"$TEST_DIR/payments.txt") payments, $(wc -l <"$TEST_DIR/ledger_a") on wx_a's simulator (3 of them unanswered), $(wc -l <"$TEST_DIR/ledger_b") on wx_b's, each once"

# ------------------------------------------ a deleted channel's estimates
# One payment on each channel succeeds: both have success-rate estimates
# (/metrics). wx_b is deleted: the generation without it drops its
# estimates; wx_a's stay.
WXA_PID=$(awk '$2 == "wx_a" { p = $1 } END { print p }' "$TEST_DIR/payments.txt")
WXB_PID=$(awk '$2 == "wx_b" { p = $1 } END { print p }' "$TEST_DIR/payments.txt")
SIM=$SIM_A sim_pay wechat "$WXA_PID"
sim_pay wechat "$WXB_PID"
wait_pay "$WXA_PID" succeeded 15
wait_pay "$WXB_PID" succeeded 15
ok_a='payroute_route_success_outcomes{channel="wx_a",method="",environment="",bank="",level="channel",result="ok"}'
ok_b='payroute_route_success_outcomes{channel="wx_b",method="",environment="",bank="",level="channel",result="ok"}'
wait_until 10 sh -c "[ -n \"\$(curl -s -m 5 http://127.0.0.1:$ADMIN_PORT/metrics | grep -F '$ok_b')\" ]" ||
	fail "no estimate for wx_b: $(metric "$ok_b")"
[ -n "$(metric "$ok_a")" ] || fail "no estimate for wx_a"
send DELETE /admin/v1/channels/wx_b
expect_code 204 "delete wx_b"
settle_generation
wait_log 'success rates: the estimates of 1 channel no longer in the catalogue forgotten' 10 ||
	fail "no log line for the dropped estimates"
curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$TEST_DIR/metrics.txt"
grep -q 'payroute_route_success_[a-z]*{channel="wx_b"' "$TEST_DIR/metrics.txt" &&
	fail "wx_b's estimates are still in /metrics"
grep -qF "$ok_a" "$TEST_DIR/metrics.txt" || fail "wx_a's estimates went too"
pass "a deleted channel's success-rate estimates are dropped with it (wx_a's stay)"
