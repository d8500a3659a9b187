#!/usr/bin/env bash
# t_orders.sh - the operators' side of orders (issue 13, items 1 to 3):
# the lists of payments, refunds and withdrawals (every filter, a bad one
# answered 400 naming its parameter, keyset paging across pages with ties
# on created_at), a withdrawal waiting for a channel listed with its
# deadline and why no channel takes it, and manual settlement of each kind
# (the state machine's transition with the operator as actor, the usage
# reservation given back, the merchant notified, an audit row; refused
# from a final state with 409 naming it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start

KEYFILE=$TEST_DIR/secrets.key
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$KEYFILE"
chmod 600 "$KEYFILE"

new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
SERVER_EXTRA=', "instance": "inst-a"'
TOP_EXTRA=',
	"secrets": { "key_file": "'"$KEYFILE"'" },
	"http_client": { "timeout_ms": 1000, "connect_timeout_ms": 500 },
	"completion": { "schedule": "30s", "interval_ms": 200, "batch": 8 },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
write_conf
daemon_start
wait_ready

add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
	jq -c '.limits.daily_amount = 100000000')"
add_channel "$(chan wx_wd wechat wechat_pay native_qr 100 |
	jq -c '.code = "wx_wd" | .business_types = ["withdraw"] | .environments = [] | .status = "offline"')"
merchant_create shop1
SINK=$SIM/_sim/sink/shop1

# ------------------------------------------------------------- seeding
# 25 payments of shop2 straight into the store (the lists read rows, not
# how they came): created one second apart, except five sharing one
# created_at (the cursor must break the tie by id), amounts 100..2500,
# every fifth on another channel and failed.
merchant_create shop2
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, environment, buyer_id, expire_at, status,
	channel, code, paid_amount, created_at, finished_at)
	SELECT 'PSEED' || lpad(i::text, 6, '0'), 'shop2', 'seed-' || i, 'h',
	  i * 100, 'CNY', 'wechat_pay', 'native_qr',
	  CASE WHEN i % 2 = 0 THEN 'buyer-even' ELSE 'buyer-odd' END,
	  now() + interval '1 hour',
	  CASE WHEN i % 5 = 0 THEN 'failed' ELSE 'succeeded' END,
	  CASE WHEN i % 5 = 0 THEN 'wx_other' ELSE 'wx_native' END,
	  CASE WHEN i % 5 = 0 THEN 'NOTENOUGH' ELSE 'SUCCESS' END,
	  CASE WHEN i % 5 = 0 THEN NULL ELSE i * 100 END,
	  timestamptz '2026-11-01 00:00:00+00' + CASE WHEN i BETWEEN 10 AND 14
	    THEN interval '10 seconds' ELSE i * interval '1 second' END,
	  now()
	FROM generate_series(1, 25) i" >/dev/null
pass "25 payments of shop2 seeded (five share one created_at)"

list() { admin_get "$1"; expect_code 200 "GET $1"; }

# ---------------------------------------------------------- bad filters
bad_filter() { # QUERY FIELD NEEDLE
	admin_get "/admin/v1/payments?$1"
	expect_field "GET /admin/v1/payments?$1" "$2" "$3"
}
bad_filter "status=paid" status "one of created, processing"
bad_filter "amount_min=1.5" amount_min "minor units"
bad_filter "amount_min=500&amount_max=100" amount_max "below amount_min"
bad_filter "created_from=yesterday" created_from "RFC 3339"
bad_filter "created_to=2026-13-01T00:00:00Z" created_to "RFC 3339"
bad_filter "limit=0" limit "1 to 200"
bad_filter "limit=201" limit "1 to 200"
bad_filter "cursor=zz" cursor "next_cursor"
bad_filter "cursor=$(printf '1.5.x;drop' | od -An -tx1 | tr -d ' \n')" cursor "next_cursor"
bad_filter "merchnt=shop2" merchnt "did you mean merchant"
bad_filter "status=failed&status=succeeded" status "more than once"
bad_filter "merchant_refund_no=r1" merchant_refund_no "not a filter of the payment list"
admin_get "/admin/v1/refunds?buyer_id=x"
expect_field "refunds by buyer_id" buyer_id "not a filter of the refund list"
admin_get "/admin/v1/withdrawals?status=closed"
expect_field "withdrawals closed" status "pending_channel"

# --------------------------------------------------------------- paging
CURSOR=""
SEEN=""
PAGES=0
for i in $(seq 10); do
	q="merchant=shop2&limit=7"
	[ -n "$CURSOR" ] && q="$q&cursor=$CURSOR"
	list "/admin/v1/payments?$q"
	PAGES=$((PAGES + 1))
	SEEN="$SEEN $(json '[.items[].id] | join(" ")')"
	n=$(json '.items | length')
	CURSOR=$(json '.next_cursor // empty')
	if [ -z "$CURSOR" ]; then
		[ "$n" = 4 ] || fail "the last page has $n items, want 4"
		break
	fi
	[ "$n" = 7 ] || fail "page $PAGES has $n items, want 7"
done
[ "$PAGES" = 4 ] || fail "25 payments in pages of 7: $PAGES pages"
want=$(pq -c "SELECT string_agg(id, ' ' ORDER BY created_at DESC, id DESC) FROM payments WHERE merchant_id = 'shop2'")
[ "$(echo $SEEN)" = "$want" ] || fail "paging order: got $SEEN, want $want"
pass "paging: 4 pages of 7, 7, 7, 4, newest first, ties broken by id, each row once"

# A row inserted between two pages shifts nothing.
list "/admin/v1/payments?merchant=shop2&limit=10"
C1=$(json .next_cursor)
p2_before=$(admin_get "/admin/v1/payments?merchant=shop2&limit=10&cursor=$C1" && json '[.items[].id] | join(" ")')
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash, amount, currency, method, expire_at, status, created_at, finished_at) VALUES ('PSEEDNEW01', 'shop2', 'seed-new', 'h', 1, 'CNY', 'wechat_pay', now(), 'failed', now(), now())" >/dev/null
admin_get "/admin/v1/payments?merchant=shop2&limit=10&cursor=$C1"
[ "$(json '[.items[].id] | join(" ")')" = "$p2_before" ] ||
	fail "a new row shifted page 2: $RESP_BODY"
pass "keyset paging: a row inserted meanwhile does not shift the next page"

# -------------------------------------------------------------- filters
# filter QUERY SQL-WHERE: the list (one page of 200) is the rows the
# condition selects, in order.
filter() {
	list "/admin/v1/payments?limit=200&$1"
	local got want
	got=$(json '[.items[].id] | join(" ")')
	want=$(pq -c "SELECT coalesce(string_agg(id, ' ' ORDER BY created_at DESC, id DESC), '') FROM payments WHERE $2")
	[ "$got" = "$want" ] || fail "?$1: got '$got', want '$want'"
	[ -n "$want" ] || fail "?$1: the case selects nothing (a test that cannot fail)"
	pass "?$1: $(json '.items | length') rows"
}
filter "merchant=shop2&status=failed" "merchant_id = 'shop2' AND status = 'failed'"
filter "channel=wx_other" "channel = 'wx_other'"
filter "code=NOTENOUGH&merchant=shop2" "code = 'NOTENOUGH' AND merchant_id = 'shop2'"
filter "amount_min=500&amount_max=1200" "amount BETWEEN 500 AND 1200"
filter "buyer_id=buyer-even&status=succeeded" "buyer_id = 'buyer-even' AND status = 'succeeded'"
filter "merchant_order_no=seed-12" "merchant_order_no = 'seed-12'"
filter "created_from=2026-11-01T08:00:05%2B08:00&created_to=2026-11-01T00:00:12Z" \
	"created_at >= '2026-11-01T00:00:05Z' AND created_at < '2026-11-01T00:00:12Z'"
list "/admin/v1/payments?merchant=nobody"
[ "$(json '.items | length'):$(json .next_cursor)" = "0:null" ] || fail "an empty list: $RESP_BODY"
list "/admin/v1/payments?merchant_order_no=seed-3"
[ "$(json '.items[0] | [.merchant_order_no, .status, .channel, .amount, .currency, .buyer_id] | join(",")')" = "seed-3,succeeded,wx_native,300,CNY,buyer-odd" ] ||
	fail "an item: $RESP_BODY"
[ "$(json '.items[0].created_at')" = "2026-11-01T00:00:03.000Z" ] || fail "created_at: $RESP_BODY"

# --------------------------------------------------------- settlement
settle() { # KIND ID BODY
	send POST "/admin/v1/$1/$2/settle" "$3"
}
SB='{"outcome":"succeeded","note":"channel statement shows it paid","evidence":"4200001234202611010000001"}'

# a payment left unknown: the channel times out, its checks too
sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
pay "{\"merchant_order_no\":\"u-1\",\"amount\":5000,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"notify_url\":\"$SINK\"}"
expect_code 201 "payment u-1"
P1=$(json .id)
[ "$(json .status)" = unknown ] || fail "u-1 is not unknown: $RESP_BODY"
pay "{\"merchant_order_no\":\"u-2\",\"amount\":7000,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"notify_url\":\"$SINK\"}"
P2=$(json .id)
[ "$(json .status)" = unknown ] || fail "u-2 is not unknown: $RESP_BODY"
[ "$(pq -c "SELECT usage_amount || ':' || usage_released FROM payments WHERE id = '$P2'")" = "7000:false" ] ||
	fail "u-2 holds no reservation: $(pq -c "SELECT usage_amount, usage_released FROM payments WHERE id = '$P2'")"

settle payments "$P1" '{"outcome":"succeeded","evidence":"x"}'
expect_field "settle without a note" note "required"
settle payments "$P1" '{"outcome":"succeeded","note":"n"}'
expect_field "settle without evidence" evidence "required"
settle payments "$P1" '{"outcome":"paid","note":"n","evidence":"x"}'
expect_field "settle paid" outcome "succeeded, failed or closed"
settle payments PNOSUCHPAYMENT1 "$SB"
expect_code 404 "settle an unknown id"

settle payments "$P1" "$SB"
expect_code 200 "settle u-1 succeeded"
[ "$(json .status):$(json .code)" = succeeded:SETTLED_SUCCEEDED ] || fail "settled u-1: $RESP_BODY"
[ "$(pq -c "SELECT status || ':' || paid_amount || ':' || usage_released FROM payments WHERE id = '$P1'")" = "succeeded:5000:false" ] ||
	fail "u-1 in the store: $(pq -c "SELECT status, paid_amount, usage_released FROM payments WHERE id = '$P1'")"
[ "$(pq -c "SELECT actor || ':' || from_status || '>' || to_status || ':' || (detail->>'evidence') FROM order_events WHERE kind = 'payment' AND order_id = '$P1' AND event = 'settle'")" = "admin:unknown>succeeded:4200001234202611010000001" ] ||
	fail "u-1's settle event: $(pq -c "SELECT * FROM order_events WHERE order_id = '$P1'")"
[ "$(pq -c "SELECT actor || ':' || note || ':' || (after->>'evidence') FROM audit_log WHERE action = 'settle' AND object_kind = 'payment' AND object_id = '$P1'")" = "admin:channel statement shows it paid:4200001234202611010000001" ] ||
	fail "u-1's audit row: $(pq -c "SELECT * FROM audit_log WHERE object_id = '$P1'")"
[ "$(pq -c "SELECT count(*) FROM order_checks WHERE kind = 'payment' AND order_id = '$P1'")" = 0 ] ||
	fail "u-1 is still checked"
wait_sql "SELECT state FROM merchant_notifications WHERE kind = 'payment' AND order_id = '$P1' AND event = 'payment.succeeded'" delivered 15
pass "payment unknown -> succeeded by the operator: event, audit row, check dropped, merchant notified"

settle payments "$P2" '{"outcome":"failed","note":"not in the statement","evidence":"stmt-2026-11-01"}'
expect_code 200 "settle u-2 failed"
[ "$(pq -c "SELECT status || ':' || code || ':' || usage_released FROM payments WHERE id = '$P2'")" = "failed:SETTLED_FAILED:true" ] ||
	fail "u-2 in the store: $(pq -c "SELECT status, code, usage_released FROM payments WHERE id = '$P2'")"
wait_sql "SELECT state FROM merchant_notifications WHERE kind = 'payment' AND order_id = '$P2'" delivered 15
pass "payment unknown -> failed: its daily-usage reservation given back (usage_released), merchant notified"

settle payments "$P1" "$SB"
expect_code 409 "settle a succeeded payment"
[ "$(json .error.code):$(json .error.field)" = not_settleable:status ] &&
	json .error.message | grep -q "succeeded, a final state" || fail "settle again: $RESP_BODY"
pass "settling a final payment: 409 naming its state"

# a refund left processing (the channel times out on it)
clear_script
paid 3000 r-base
sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
refund "$PID" rf-1 1000
expect_code 201 "refund rf-1"
RF1=$(json .id)
[ "$(json .status)" = processing ] || fail "rf-1 is not processing: $RESP_BODY"
refund "$PID" rf-2 1000
RF2=$(json .id)
settle refunds "$RF1" '{"outcome":"closed","note":"n","evidence":"x"}'
expect_field "a refund closed" outcome "succeeded or failed"
settle refunds "$RF1" '{"outcome":"failed","note":"the channel refused it","evidence":"ticket-77"}'
expect_code 200 "settle rf-1 failed"
[ "$(pq -c "SELECT status || ':' || code FROM refunds WHERE id = '$RF1'")" = failed:SETTLED_FAILED ] ||
	fail "rf-1: $(pq -c "SELECT status, code FROM refunds WHERE id = '$RF1'")"
[ "$(pq -c "SELECT refund_reserved FROM payments WHERE id = '$PID'")" = 1000 ] ||
	fail "rf-1's failure did not give its 1000 back: $(pq -c "SELECT refund_reserved FROM payments WHERE id = '$PID'")"
settle refunds "$RF2" '{"outcome":"succeeded","note":"refunded per statement","evidence":"RFD-88"}'
expect_code 200 "settle rf-2 succeeded"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'settle' AND object_kind = 'refund' AND actor = 'admin'")" = 2 ] ||
	fail "the refunds' audit rows"
settle refunds "$RF2" '{"outcome":"failed","note":"n","evidence":"x"}'
expect_code 409 "settle a succeeded refund"
json .error.message | grep -q "succeeded" || fail "409 does not name the state: $RESP_BODY"
pass "refunds: processing -> failed (reservation given back) and -> succeeded, audited; a final one 409"

# refunds list
list "/admin/v1/refunds?payment_id=$PID"
[ "$(json '[.items[].id] | sort | join(" ")')" = "$(printf '%s\n' "$RF1" "$RF2" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
	fail "refunds of $PID: $RESP_BODY"
list "/admin/v1/refunds?status=failed&merchant=shop2"
[ "$(json '[.items[].id] | join(" ")')" = "$RF1" ] || fail "failed refunds: $RESP_BODY"
pass "the refund list by payment_id and by status"

# a withdrawal waiting for a channel: wx_wd is offline
clear_script
_mcall POST /v1/withdrawals "{\"merchant_withdrawal_no\":\"w-1\",\"amount\":2000,\"currency\":\"CNY\",\"payee\":{\"kind\":\"wechat_openid\",\"account\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\",\"name\":\"Zhang San\"},\"notify_url\":\"$SINK\"}"
expect_code 201 "withdrawal w-1"
W1=$(json .id)
[ "$(json .status)" = pending_channel ] || fail "w-1 is not pending: $RESP_BODY"
list "/admin/v1/withdrawals?status=pending_channel"
[ "$(json '.items | length')" = 1 ] && [ "$(json '.items[0].id')" = "$W1" ] || fail "pending list: $RESP_BODY"
[ "$(json '.items[0].waiting.dropped.status')" = 1 ] &&
	json '.items[0].waiting.reason' | grep -q "1 dropped by status" &&
	[ "$(json '.items[0].waiting.deadline_at')" = "$(json '.items[0].deadline_at')" ] &&
	[ "$(json '.items[0].waiting.next_route_at')" != null ] ||
	fail "w-1's waiting: $RESP_BODY"
pass "pending_channel withdrawals listed with deadline and why: $(json '.items[0].waiting.reason')"
settle withdrawals "$W1" "$SB"
expect_code 409 "settle a pending withdrawal succeeded"
json .error.message | grep -q "pending_channel" || fail "409 does not name pending_channel: $RESP_BODY"
settle withdrawals "$W1" '{"outcome":"closed","note":"n","evidence":"x"}'
expect_field "a withdrawal closed" outcome "succeeded or failed"
settle withdrawals "$W1" '{"outcome":"failed","note":"payee asked to cancel","evidence":"ticket-9"}'
expect_code 200 "settle w-1 failed"
[ "$(pq -c "SELECT status || ':' || code FROM withdrawals WHERE id = '$W1'")" = failed:SETTLED_FAILED ] ||
	fail "w-1: $(pq -c "SELECT status, code FROM withdrawals WHERE id = '$W1'")"
wait_sql "SELECT state FROM merchant_notifications WHERE kind = 'withdrawal' AND order_id = '$W1'" delivered 15
list "/admin/v1/withdrawals?status=pending_channel"
[ "$(json '.items | length')" = 0 ] || fail "w-1 still listed pending: $RESP_BODY"
list "/admin/v1/withdrawals?merchant_withdrawal_no=w-1"
[ "$(json '.items[0].status'):$(json '.items[0].waiting')" = failed:null ] || fail "w-1 listed: $RESP_BODY"
pass "withdrawal pending_channel -> failed by an operator (succeeded refused: nothing was sent), merchant notified"

# ------------------------------------- who bears a post-delivery refund
admin_get /admin/v1/merchants/shop1
expect_code 200 "GET shop1"
[ "$(json .post_delivery_bearer)" = merchant ] || fail "shop1's bearer: $RESP_BODY"
send PATCH /admin/v1/merchants/shop1 '{"post_delivery_bearer":"nobody"}'
expect_field "bearer nobody" post_delivery_bearer '"merchant" or "platform"'
send PATCH /admin/v1/merchants/shop1 '{"post_delivery_bearer":"platform"}'
expect_code 200 "PATCH shop1 bearer"
[ "$(json .post_delivery_bearer)" = platform ] || fail "PATCH bearer: $RESP_BODY"
[ "$(pq -c "SELECT post_delivery_bearer FROM merchants WHERE id = 'shop1'")" = platform ] || fail "bearer not stored"
[ "$(pq -c "SELECT actor || ':' || (before->>'post_delivery_bearer') || '>' || (after->>'post_delivery_bearer') FROM audit_log WHERE object_kind = 'merchant' AND object_id = 'shop1' AND action = 'update'")" = "admin:merchant>platform" ] ||
	fail "the bearer's audit row: $(pq -c "SELECT * FROM audit_log WHERE object_id = 'shop1'")"
pass "post_delivery_bearer read and set through the merchant API, checked, audited"

# ------------------------------------------------------------ payroutectl
CTL=$top_builddir/payroutectl
ctl() { # EXPECTED-RC ARGS...: OUT and ERR
	local want=$1 rc=0
	shift
	OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
		timeout 30 "$CTL" "$@" 2>"$TEST_DIR/ctl.err") || rc=$?
	ERR=$(cat "$TEST_DIR/ctl.err")
	[ "$rc" = "$want" ] || fail "payroutectl $*: exit $rc, want $want (out: $OUT; err: $ERR)"
}
ctl 0 orders payments merchant=shop2 created_to=2026-11-02T00:00:00Z limit=7
[ "$(grep -c '^PSEED' <<<"$OUT")" = 7 ] || fail "orders page 1: $OUT"
page1=$(grep -o '^PSEED[0-9]*' <<<"$OUT")
next=$(sed -n 's/^more: payroutectl //p' <<<"$OUT")
[ -n "$next" ] || fail "orders: no next-page command: $OUT"
# shellcheck disable=SC2086 # the printed command's words
ctl 0 $next
[ "$(grep -c '^PSEED' <<<"$OUT")" = 7 ] || fail "orders page 2: $OUT"
[ -z "$(comm -12 <(sort <<<"$page1") <(grep -o '^PSEED[0-9]*' <<<"$OUT" | sort))" ] ||
	fail "pages 1 and 2 share rows: $page1 / $OUT"
ctl 0 orders payments merchant_order_no=seed-3
grep -Eq '^PSEED000003 +shop2 +seed-3 +succeeded +wx_native +3\.00 CNY +SUCCESS' <<<"$OUT" ||
	fail "orders by number: $OUT"
ctl 1 orders payments status=paid
grep -q "400 invalid_field: status: one of" <<<"$ERR" || fail "a bad filter: $ERR"
ctl 2 orders parcels
ctl 2 settle payments PX1234567 --outcome failed --note x
grep -q "evidence" <<<"$ERR" || fail "settle without --evidence: $ERR"
sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
pay "{\"merchant_order_no\":\"u-3\",\"amount\":900,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\"}"
P3=$(json .id)
[ "$(json .status)" = unknown ] || fail "u-3 is not unknown: $RESP_BODY"
clear_script
ctl 0 settle payments "$P3" --outcome closed --note "buyer never paid" --evidence "stmt-3"
grep -q "settled: closed (SETTLED_CLOSED)" <<<"$OUT" || fail "ctl settle: $OUT"
[ "$(pq -c "SELECT actor FROM audit_log WHERE action = 'settle' AND object_id = '$P3'")" = admin ] ||
	fail "ctl settle's audit actor"
ctl 1 settle payments "$P3" --outcome closed --note again --evidence again
grep -q "409 not_settleable" <<<"$ERR" || fail "ctl settle again: $ERR"
pass "payroutectl orders (pages, filters, a bad one) and settle (audited as its actor; 409 again)"
