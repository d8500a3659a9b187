#!/usr/bin/env bash
# t_pay_limits.sh - daily limits hold through the merchant API with two
# daemons on one database: 160 concurrent payments (80 to each daemon, 8 at
# a time each) against a channel whose daily count limit is 40 and daily
# amount limit 45 x the amount. No more than 40 payments may reach the
# channel, the store's usage row never exceeds either limit, every payment
# refused by the limit ends failed with NO_CHANNEL (and never reached the
# simulator), and every payment is accounted for.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3 xargs
pg_start
sim_start

LIMIT=40
N=160
AMOUNT=500

start_instance() {
	new_instance "$1"
	install_drivers "$DRIVER_DIR" wechat
	SERVER_EXTRA=", \"instance\": \"$1\""
	write_conf
	daemon_start
	wait_ready
}
start_instance a
A_MPORT=$MERCHANT_PORT
A_CONF=$CONF
add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
	jq -c --argjson l $LIMIT --argjson a $((AMOUNT * 45)) \
		'.limits.daily_count = $l | .limits.daily_amount = $a')"
merchant_create shop1
start_instance b
B_MPORT=$MERCHANT_PORT
# b learns of the channel by NOTIFY (or its start-up load).
for i in $(seq 50); do
	admin_get /admin/v1/channels
	[ "$(json '.channels | length')" = 1 ] && break
	sleep 0.2
done
[ "$(json '.channels | length')" = 1 ] || fail "instance b does not see the channel"
pass "two daemons, channel wx_native limited to $LIMIT payments a day"

# One request: PORT NO -> prints "NO HTTPCODE STATUS CODE".
cat >"$TEST_DIR/one.sh" <<'EOF'
#!/usr/bin/env bash
port=$1 no=$2 key=$3 amount=$4
out=$(curl -s -m 30 -w '\n%{http_code}' -H "Authorization: Bearer $key" \
	-H 'Content-Type: application/json' --data-binary \
	"{\"merchant_order_no\":\"lim-$no\",\"amount\":$amount,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"limit\"}" \
	"http://127.0.0.1:$port/v1/payments")
code=${out##*$'\n'}
body=${out%$'\n'*}
printf '%s %s %s %s\n' "$no" "$code" "$(printf '%s' "$body" | jq -r '.status // "-"')" \
	"$(printf '%s' "$body" | jq -r '.code // .error.code // "-"')"
EOF
chmod +x "$TEST_DIR/one.sh"
start=$(date +%s%N)
(
	seq 1 2 $N | xargs -P 8 -I{} "$TEST_DIR/one.sh" "$A_MPORT" {} "$MKEY" $AMOUNT &
	seq 2 2 $N | xargs -P 8 -I{} "$TEST_DIR/one.sh" "$B_MPORT" {} "$MKEY" $AMOUNT &
	wait
) >"$TEST_DIR/results.txt"
ms=$((($(date +%s%N) - start) / 1000000))
total=$(wc -l <"$TEST_DIR/results.txt")
[ "$total" = $N ] || fail "$total answers for $N requests"
bad=$(awk '$2 != 201' "$TEST_DIR/results.txt" | head -n 3)
[ -z "$bad" ] || fail "answers other than 201: $bad"
sent=$(awk '$3 == "processing"' "$TEST_DIR/results.txt" | wc -l)
refused=$(awk '$3 == "failed" && $4 == "NO_CHANNEL"' "$TEST_DIR/results.txt" | wc -l)
say "$N payments in ${ms} ms: $sent sent to the channel, $refused refused by the limit"
[ $((sent + refused)) = $N ] || fail "unexpected outcomes: $(awk '$3 != "processing" && $4 != "NO_CHANNEL"' "$TEST_DIR/results.txt" | head -n 3)"
[ "$sent" -le $LIMIT ] || fail "$sent payments went through a limit of $LIMIT"
[ "$sent" -ge $((LIMIT * 3 / 4)) ] || fail "only $sent of $LIMIT allowed payments went through"
db=$(pq -c "SELECT count(*) FROM payments WHERE channel = 'wx_native' AND attempts > 0")
[ "$db" = "$sent" ] || fail "the store has $db attempted payments, the answers say $sent"
sim=$(curl -sf "$SIM/_sim/ledger" | jq '[.orders[] | select(.out_trade_no | startswith("P"))] | length')
[ "$sim" = "$sent" ] || fail "the simulator got $sim orders, $sent were sent"
usage=$(pq -c "SELECT max(count) || ' ' || max(amount) FROM channel_daily_usage WHERE channel = 'wx_native' AND scope = ''")
set -- $usage
[ "$1" -le $LIMIT ] && [ "$2" -le $((AMOUNT * 45)) ] ||
	fail "usage row over its limits: count $1, amount $2"
pass "limits held across two daemons: $sent <= $LIMIT sent, usage row count $1 amount $2, $refused refused with NO_CHANNEL"

# The limit is spent: a payment with an Idempotency-Key ends failed at its
# first commit (no channel can take it), its answer kept under the key. It
# once freed that answer twice and took the daemon down.
for port in $A_MPORT $B_MPORT; do
	MERCHANT_PORT=$port
	body="{\"merchant_order_no\":\"lim-key-$port\",\"amount\":$AMOUNT,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"limit\"}"
	pay "$body" "k-lim-$port"
	expect_code 201 "a keyed payment over the spent limit"
	[ "$(json .status) $(json .code)" = "failed NO_CHANNEL" ] ||
		fail "a keyed payment over the spent limit: $RESP_BODY"
	first=$(json .id)
	pay "$body" "k-lim-$port"
	expect_code 201 "its retry with the key"
	[ "$(json .id)" = "$first" ] || fail "the retry answered $(json .id), first $first"
done
kill -0 "${DAEMON_PIDS[@]}" 2>/dev/null ||
	fail "a daemon died answering a keyed payment that failed at once"
pass "a keyed payment that fails at its first commit is answered, and its retry replays it"
