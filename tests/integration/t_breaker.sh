#!/usr/bin/env bash
# t_breaker.sh - a channel fails for a while and routing learns it
# (doc/design.md §4, "Circuit breaking").
#
# Two channels take the same payments: wx_a (weight 100, the favourite)
# talks to a simulator of its own, wx_b (weight 10) to another. The test
# kills wx_a's simulator (its calls become CHANNEL_UNREACHABLE) and then
# starts it again on the same port. With breaker.failures 3:
#   - while it is down, at most 3 payments try wx_a (each cascades to
#     wx_b); after that wx_a is circuit_open and payments go straight to
#     wx_b: explain, /metrics, the breaker endpoint, audit_log (actor
#     system) and channel_breakers say so;
#   - a second instance that never called wx_a takes the open breaker from
#     the store and routes around it too;
#   - once wx_a is back and the cool-down (40 s: long enough for the
#     second instance to start on a loaded machine) is over, one probe goes to it,
#     succeeds and closes the breaker; payments go to wx_a again;
#   - an operator forces the breaker open and closed (audited with the
#     actor);
#   - no attempt reached two channels: every payment's attempts name one
#     channel each, every attempt but the last was not sent, and each
#     simulator's ledger holds exactly the payments stored on its channel.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start
SIM_B=$SIM

# wx_a's simulator: the same config, a port of its own, killed and
# started again on that port.
sim_more A
pass "two simulators: wx_a's on $SIM_A, wx_b's on $SIM_B"

BREAKER=', "breaker": { "failures": 3, "window_seconds": 60,
	"cooldown_seconds": 40, "probe_interval_ms": 500 },
	"http_client": { "timeout_ms": 1500, "connect_timeout_ms": 500 }'
instance_setup() { TOP_EXTRA=$BREAKER; }
start_instance a wechat
add_channel "$(chan wx_a wechat wechat_pay native_qr 100 |
	jq --arg u "$SIM_A/wechat" '.driver_config.api_base = $u')"
add_channel "$(chan wx_b wechat wechat_pay native_qr 10)"
merchant_create shop1
settle_generation

# p: one payment through the current instance (pay_traced)
p() { pay_traced b; }

for i in 1 2 3; do
	p
	[ "$CH" = wx_a ] && [ "$ATT" = wx_a ] || fail "healthy: $PID went to $CH ($ATT)"
done
breaker wx_a
[ "$STATE" = closed ] || fail "wx_a's breaker: $RESP_BODY"
pass "healthy: payments go to wx_a, its breaker closed"

# ------------------------------------------------------------ outage
kill "$SIM_A_PID"
wait "$SIM_A_PID" 2>/dev/null
tried=0
for i in $(seq 8); do
	p
	[ "$CH" = wx_b ] || fail "outage: $PID went to $CH ($ATT)"
	case $ATT in
	"wx_a wx_b") tried=$((tried + 1)) ;;
	wx_b) ;;
	*) fail "outage: $PID attempts '$ATT'" ;;
	esac
	[ "$i" -gt 3 ] && [ "$ATT" != wx_b ] &&
		fail "payment $i of the outage still tried wx_a ($ATT)"
done
[ "$tried" -le 3 ] || fail "$tried payments tried wx_a while it was down"
pass "outage: $tried payments tried wx_a (cascading to wx_b), the rest went straight to wx_b"

breaker wx_a
[ "$STATE" = open ] || fail "wx_a's breaker: $RESP_BODY"
json '.breaker.history[0].reason' | grep -q '^3 failures in 60 s: CHANNEL_UNREACHABLE' ||
	fail "the reason: $RESP_BODY"
[ "$(json '.breaker.history[0].actor')" = system ] || fail "the actor: $RESP_BODY"
send POST /admin/v1/route/explain '{"merchant_order_no":"e-1","amount":100,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"x"}'
expect_code 200 explain
[ "$(json '.candidates[] | select(.channel == "wx_a") | .dropped_by')" = circuit_open ] &&
	[ "$(json '.candidates[] | select(.channel == "wx_a") | .breaker')" = open ] &&
	[ "$(json .chosen)" = wx_b ] || fail "explain: $RESP_BODY"
[ "$(metric 'payroute_channel_breaker_state{channel="wx_a",state="open"}')" = 1 ] ||
	fail "/metrics: wx_a open is '$(metric 'payroute_channel_breaker_state{channel="wx_a",state="open"}')'"
[ "$(metric 'payroute_channel_breaker_opened_total{channel="wx_a"}')" = 1 ] ||
	fail "/metrics: opened_total"
wait_sql "SELECT count(*) FROM audit_log WHERE action = 'breaker_open' AND object_id = 'wx_a' AND actor = 'system'" 1
wait_sql "SELECT state FROM channel_breakers WHERE channel = 'wx_a'" open
grep -q 'channel wx_a: breaker closed -> open (3 failures in 60 s' "$LOG_FILE" ||
	fail "no log line for the opening"
pass "open: explain (circuit_open), /metrics, the breaker endpoint, audit_log (system), channel_breakers, the log"

# ------------------------------------------------ a second instance
start_instance b wechat
settle_generation
wait_until 5 sh -c "curl -s -H 'Authorization: Bearer $TOKEN' \
	http://127.0.0.1:$ADMIN_PORT/admin/v1/channels/wx_a/breaker |
	jq -e '.breaker.state == \"open\"' >/dev/null" ||
	fail "instance b does not see wx_a open"
p
[ "$CH" = wx_b ] && [ "$ATT" = wx_b ] || fail "instance b: $PID went to $CH ($ATT)"
grep -q 'channel wx_a: breaker -> open as another instance decided' "$LOG_FILE" ||
	fail "instance b did not log taking the decision"
pass "instance b, which never called wx_a, took the open breaker from the store"
daemon_stop
use a

# ------------------------------------------------------------ recovery
sim_more A "$SPORT_A"
breaker wx_a
[ "$STATE" = open ] || fail "before the cool-down ends: $RESP_BODY"
until_ms=$(json .breaker.half_open_at)
now_ms=$(date +%s%3N)
[ "$until_ms" -le $((now_ms + 40000)) ] || fail "half_open_at $until_ms, now $now_ms"
# the rest of the cool-down
[ "$until_ms" -lt "$now_ms" ] || sleep "$(((until_ms - now_ms) / 1000 + 1))"
p
[ "$CH" = wx_a ] && [ "$ATT" = wx_a ] || fail "probe: $PID went to $CH ($ATT)"
[ "$(pq -c "SELECT trace->'route'->>'probe' FROM payments WHERE id = '$PID'")" = true ] ||
	fail "the probe's trace does not say probe"
breaker wx_a
[ "$STATE" = closed ] || fail "after the probe: $RESP_BODY"
[ "$(json '.breaker.history[0].reason')" = "probe succeeded" ] &&
	[ "$(json '.breaker.history[1].to')" = half_open ] || fail "history: $RESP_BODY"
for i in 1 2; do
	p
	[ "$CH" = wx_a ] && [ "$ATT" = wx_a ] || fail "recovered: $PID went to $CH ($ATT)"
done
wait_sql "SELECT state FROM channel_breakers WHERE channel = 'wx_a'" closed
pass "recovery: after the cool-down one probe went to wx_a, closed the breaker; payments back on wx_a"

# ------------------------------------------------------------ operator
# alice and bob, operators (channel.operate): the audit log names whose
# token forced the breaker.
declare -A TOK
for name in alice bob; do
	send POST /admin/v1/operators "{\"name\":\"$name\",\"roles\":[\"operator\"]}"
	expect_code 201 "create $name"
	send POST "/admin/v1/operators/$name/tokens" '{"label":"t_breaker"}'
	expect_code 201 "a token for $name"
	TOK[$name]=$(json .token)
done
ADMIN_TOKEN=$TOKEN
TOKEN=${TOK[alice]}
send POST /admin/v1/channels/wx_a/breaker '{"state":"open"}' -H 'X-Payroute-Note: maintenance call'
expect_code 200 "force open"
[ "$(json .changed)" = true ] && [ "$(json .breaker.state)" = open ] || fail "force open: $RESP_BODY"
p
[ "$CH" = wx_b ] && [ "$ATT" = wx_b ] || fail "forced open: $PID went to $CH ($ATT)"
send POST /admin/v1/channels/wx_a/breaker '{"state":"closed"}'
expect_code 200 "force closed"
[ "$(json .breaker.state)" = closed ] || fail "force closed: $RESP_BODY"
p
[ "$CH" = wx_a ] || fail "forced closed: $PID went to $CH ($ATT)"
# the same through payroutectl
CTL=$top_builddir/payroutectl
ctl() {
	OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT \
		PAYROUTE_ADMIN_TOKEN=${TOK[bob]} timeout 30 "$CTL" "$@" 2>&1) ||
		fail "payroutectl $*: $OUT"
}
ctl channel breaker wx_a open
grep -q '^channel wx_a breaker open (0 failures in the window; last: forced by an operator by bob)$' <<<"$OUT" ||
	fail "payroutectl channel breaker wx_a open: $OUT"
p
[ "$CH" = wx_b ] || fail "forced open by payroutectl: $PID went to $CH ($ATT)"
ctl channel breaker wx_a closed
ctl channel breaker wx_a
grep -q '^channel wx_a breaker closed ' <<<"$OUT" || fail "payroutectl channel breaker wx_a: $OUT"
p
[ "$CH" = wx_a ] || fail "forced closed by payroutectl: $PID went to $CH ($ATT)"
send POST /admin/v1/channels/wx_a/breaker '{"state":"half_open"}'
expect_field "force half_open" state closed
send POST /admin/v1/channels/nope/breaker '{"state":"closed"}'
expect_code 404 "an unknown channel"
[ "$(json .error.code)" = not_found ] || fail "unknown channel: $RESP_BODY"
TOKEN=$ADMIN_TOKEN
wait_sql "SELECT count(*) FROM audit_log WHERE object_id = 'wx_a' AND actor = 'alice' AND action IN ('breaker_open', 'breaker_closed')" 2
wait_sql "SELECT count(*) FROM audit_log WHERE object_id = 'wx_a' AND actor = 'bob' AND action IN ('breaker_open', 'breaker_closed')" 2
pass "an operator forced it open and closed through the API (audited as alice) and payroutectl (bob); bad state 400, unknown channel 404"

# ------------------------------------------------ one channel per attempt
while read -r pid ch att; do
	last=${att##* }
	[ "$last" = "$ch" ] || fail "$pid: stored on $ch, last attempt $last"
	if [ "$att" != "$ch" ]; then
		o=$(pq -c "SELECT trace->'attempts'->0->>'outcome' FROM payments WHERE id = '$pid'")
		[ "$o" = retryable_failure ] || fail "$pid: first attempt $o ($att)"
		c=$(pq -c "SELECT trace->'attempts'->0->>'code' FROM payments WHERE id = '$pid'")
		[ "$c" = CHANNEL_UNREACHABLE ] || fail "$pid: first attempt's code $c"
	fi
done <"$TEST_DIR/payments.txt"
curl -s "$SIM_B/_sim/ledger" | jq -r '.orders[].out_trade_no' | sort >"$TEST_DIR/ledger_b"
pq -c "SELECT id FROM payments WHERE channel = 'wx_b' ORDER BY id" | sort >"$TEST_DIR/stored_b"
diff "$TEST_DIR/ledger_b" "$TEST_DIR/stored_b" >&2 ||
	fail "wx_b's simulator and the payments on wx_b differ"
curl -s "$SIM_A/_sim/ledger" | jq -r '.orders[].out_trade_no' | sort >"$TEST_DIR/ledger_a"
for pid in $(cat "$TEST_DIR/ledger_a"); do
	[ "$(pq -c "SELECT channel FROM payments WHERE id = '$pid'")" = wx_a ] ||
		fail "$pid reached wx_a's simulator but is stored on another channel"
done
pass "no attempt reached two channels: $(wc -l <"$TEST_DIR/payments.txt") payments, $(wc -l <"$TEST_DIR/ledger_b") on wx_b's simulator, each once"
