#!/usr/bin/env bash
# t_payments.sh - the payment lifecycle end to end (issue 4): merchant API,
# idempotency, the asynchronous flow against the channel simulator and a
# real PostgreSQL, callbacks, the completion job, expiry, close, merchant
# notifications, the state machine in the store, and two daemons sharing
# the completion job. One path per section; each says what it proves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start
pass "paysim on $SIM"

new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
SERVER_EXTRA=', "instance": "inst-a"'
TOP_EXTRA=',
	"http_client": { "timeout_ms": 1500, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1s,1s,1s,1s,2s", "interval_ms": 200, "batch": 1 },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
write_conf
daemon_start
wait_ready

# The catalogue: deterministic per environment.
#   native_qr (wechat_pay): wx_native
#   jsapi     (wechat_pay): wx_bad (weight 100, a key paysim refuses), wx_jsapi
#   native_qr (alipay):     ali_qr
#   barcode   (alipay):     ali_bar
#   pc        (debit_card, bank ICBC): bank_pc
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
add_channel "$(chan wx_bad wechat wechat_pay jsapi 100 bad)"
add_channel "$(chan wx_jsapi wechat wechat_pay jsapi 10)"
add_channel "$(chan ali_qr alipay alipay native_qr 100)"
add_channel "$(chan ali_bar alipay alipay barcode 100)"
add_channel "$(chan bank_pc bank debit_card pc 100 |
	jq -c '.banks = [{bank_code: "ICBC", channel_bank_code: "01020000",
		card_types: ["debit"], txn_max: 5000000, daily_amount: 50000000}]')"
merchant_create shop1
pass "channels and merchant shop1 created"

SINK=$SIM/_sim/sink/shop1
body() { # ORDER_NO METHOD ENV [AMOUNT] [extra jq]
	jq -cn --arg no "$1" --arg m "$2" --arg env "$3" --argjson amt "${4:-1234}" \
		--arg url "$SINK" \
		"{merchant_order_no:\$no, amount:\$amt, currency:\"CNY\", method:\$m,
		  environment:\$env, subject:\"test order\", buyer_id:\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\",
		  notify_url:\$url} ${5:-}"
}

# ------------------------------------------------------------ bad input
GOOD_KEY=$MKEY
MKEY=prk_0000000000000000000000000000000000000000000000000000000000000000
pay "$(body x1 wechat_pay native_qr)"
MKEY=$GOOD_KEY
[ "$RESP_CODE" = 401 ] || fail "a bad key: want 401, got $RESP_CODE"
pay '{"merchant_order_no":"x1","amount":-5,"currency":"CNY","method":"wechat_pay"}'
expect_code 400 "negative amount"
[ "$(json .error.field)" = amount ] || fail "the error must name amount: $RESP_BODY"
n_before=$(pq -c "SELECT count(*) FROM payments")
pay '{"merchant_order_no":"x1","amount":100,"currency":"XYZ","method":"wechat_pay","environment":"native_qr"}'
expect_code 400 "currency XYZ"
[ "$(json .error.field)" = currency ] && json .error.message | grep -q "ISO 4217" ||
	fail "currency XYZ (was 201 NO_CHANNEL): $RESP_BODY"
pay '{"merchant_order_no":"x1","amount":9223372036854775807,"currency":"CNY","method":"wechat_pay","environment":"native_qr"}'
expect_code 400 "amount 2^63-1"
[ "$(json .error.field)" = amount ] || fail "amount 2^63-1: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM payments")" = "$n_before" ] || fail "a refused payment was stored"
# A value the store itself refuses (a CHECK the parser does not know,
# added for the test) is the request's fault: 400 naming the column's
# field, no SQLSTATE or PostgreSQL words, nothing stored, the
# Idempotency-Key free for a corrected retry. It was a 503.
pq -c "ALTER TABLE payments ADD CONSTRAINT payments_subject_check CHECK (subject <> 'store-refuses-this')" >/dev/null
pay '{"merchant_order_no":"x-store","amount":100,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"store-refuses-this"}' key-store
expect_code 400 "a value the store refuses"
[ "$(json .error.field)" = subject ] && [ "$(json .error.code)" = invalid_value ] ||
	fail "a value the store refuses: $RESP_BODY"
grep <<<"$RESP_BODY" -qi 'sqlstate\|violates\|payments_subject_check\|relation' &&
	fail "store text in the answer: $RESP_BODY"
grep -q 'payments_subject_check' "$LOG_FILE" || fail "the store's refusal is not in the log"
[ "$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no = 'x-store'")" = 0 ] ||
	fail "a refused payment was stored"
pq -c "ALTER TABLE payments DROP CONSTRAINT payments_subject_check" >/dev/null
pay '{"merchant_order_no":"x-store","amount":100,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"store-accepts-this"}' key-store
expect_code 201 "the corrected retry under the same key"
pay '{"merchant_order_no":"x1",'
expect_code 400 "malformed JSON"
[ "$(json .error.code)" = bad_request ] || fail "malformed: $RESP_BODY"
head -c 1100000 /dev/zero | tr '\0' a >"$TEST_DIR/big.json"
_mcall POST /v1/payments "@$TEST_DIR/big.json"
[ "$RESP_CODE" = 413 ] || fail "an oversized body: want 413, got $RESP_CODE"
mget /v1/payments/PNOSUCHPAYMENT1
expect_code 404 "unknown payment"
mget /v1/payments
expect_code 400 "list without merchant_order_no"
pass "bad input: 401, 400 naming the field (amount, currency XYZ, amount 2^63-1; nothing stored), 413, 404"

# ------------------------------------------------- success by callback
pay "$(body o-cb wechat_pay native_qr)"
expect_code 201 "create o-cb"
ID_CB=$(json .id)
[ "$(json .status)" = processing ] || fail "o-cb: $RESP_BODY"
[ "$(json .channel)" = wx_native ] || fail "o-cb channel: $RESP_BODY"
[ -n "$(json .payer.code_url)" ] || fail "o-cb: no QR code for the payer: $RESP_BODY"
# The 201 is rendered from the flow's own row as its answer's UPDATE
# leaves it (PR_APPLY_FAST_SQL sends no row back): the stored order must
# read the same.
ANSWERED=$(printf '%s' "$RESP_BODY" | jq -S .)
mget "/v1/payments/$ID_CB"
[ "$(printf '%s' "$RESP_BODY" | jq -S .)" = "$ANSWERED" ] ||
	fail "o-cb: the answer differs from the stored order: $ANSWERED against $RESP_BODY"
sim_pay wechat "$ID_CB"
wait_pay "$ID_CB" succeeded
n=$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_CB' AND event = 'callback'")
[ "$n" = 1 ] || fail "o-cb: $n callback transitions"
mget "/v1/payments/$ID_CB"
[ "$(json .status)" = succeeded ] && [ "$(json .code)" = SUCCESS ] || fail "GET o-cb: $RESP_BODY"
mget "/v1/payments?merchant_order_no=o-cb"
[ "$(json .id)" = "$ID_CB" ] || fail "by merchant_order_no: $RESP_BODY"
pass "success by callback: processing with a QR code (the answer as stored), then succeeded"

# ------------------------------------- the history: events the row keeps
# o-cb's first attempt and its answer are its row's (migrations 019 and
# 021), not rows of order_events; the admin API's history shows them as
# the rows were: the attempt with id 0, the answer with the id the row
# would have had (order_events' sequence), before the callback's row.
admin_get "/admin/v1/payments/$ID_CB"
expect_code 200 "admin o-cb"
[ "$(json '[.events[] | .event + ":" + (.from_status // "") + ">" + .to_status + ":" + .actor] | join(" ")')" = \
	"attempt:created>processing:inst-a answer:processing>processing:inst-a callback:processing>succeeded:inst-a" ] ||
	fail "o-cb's history: $RESP_BODY"
[ "$(json '.events[1].detail == .payment.trace.attempts[0] and .events[1].detail.outcome == "processing"')" = true ] ||
	fail "o-cb's answer detail is not its trace's first attempt: $RESP_BODY"
[ "$(json '.events[1].id > 0 and .events[1].id < .events[2].id and (.events[1].at | type) == "string" and .events[1].at <= .events[2].at')" = true ] ||
	fail "o-cb's answer: id or time out of order: $RESP_BODY"
[ "$(json '[.events[1] | keys[]] == [.events[2] | keys[]]')" = true ] ||
	fail "o-cb's answer has other fields than a row's: $RESP_BODY"
[ "$(json '.payment | has("answer_id") or has("answer_at") or has("answer_by") or has("answer_to") or has("created_by")')" = false ] ||
	fail "the admin payment shows the history's columns: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_CB' AND event LIKE 'answer%'")" = 0 ] ||
	fail "o-cb's answer was written as a row too"
# An answer applied after a check the channel answered meanwhile (here
# the check's row written while the channel holds the answer back) comes
# after it, as it happened.
sim_script '{"order":"*","rate":1,"faults":{"delay_ms":1000}}'
pay "$(body o-late-answer wechat_pay native_qr)" &
PAY_BG=$!
wait_sql "SELECT count(*) FROM payments WHERE merchant_order_no = 'o-late-answer'" 1 5
ID_LA=$(pq -c "SELECT id FROM payments WHERE merchant_order_no = 'o-late-answer'")
# (the completion job's own first check put off meanwhile)
pq -c "UPDATE order_checks SET next_at = now() + interval '1 hour' WHERE order_id = '$ID_LA';
	INSERT INTO order_events (kind, order_id, actor, event, from_status, to_status, detail)
	VALUES ('payment', '$ID_LA', 'test', 'check', 'processing', 'processing', '{}')" >/dev/null
wait "$PAY_BG" || fail "POST o-late-answer failed"
clear_script
[ "$(pq -c "SELECT status FROM payments WHERE id = '$ID_LA'")" = processing ] ||
	fail "o-late-answer: not processing"
admin_get "/admin/v1/payments/$ID_LA"
expect_code 200 "admin o-late-answer"
[ "$(json '[.events[] | .event + ":" + .actor] | join(" ")')" = "attempt:inst-a check:test answer:inst-a" ] &&
	[ "$(json '.events[2].id > .events[1].id')" = true ] ||
	fail "o-late-answer's history: $RESP_BODY"
pq -c "UPDATE order_checks SET next_at = now() WHERE order_id = '$ID_LA'" >/dev/null
pass "history: the first attempt and answer kept by the row, shown as rows were, in the order they happened"
# The channel's answer comes after its callback settled the order (the
# payer paid while the answer was on its way): the answer's one-UPDATE
# statement finds the order moved and the full one records it as
# ignored; the merchant gets the order as the store has it.
sim_script '{"order":"*","rate":1,"faults":{"delay_ms":1000}}'
(
	pay "$(body o-cb-first wechat_pay native_qr)"
	printf '%s\n%s\n' "$RESP_CODE" "$RESP_BODY" >"$TEST_DIR/cb-first"
) &
PAY_BG=$!
wait_sql "SELECT count(*) FROM payments WHERE merchant_order_no = 'o-cb-first'" 1 5
ID_CF=$(pq -c "SELECT id FROM payments WHERE merchant_order_no = 'o-cb-first'")
sim_pay wechat "$ID_CF"
wait_pay "$ID_CF" succeeded 5
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_CF' AND event LIKE 'answer%'")" = 0 ] ||
	fail "o-cb-first: the answer came before the callback; the test proves nothing"
wait "$PAY_BG" || fail "POST o-cb-first failed"
clear_script
[ "$(sed -n 1p "$TEST_DIR/cb-first")" = 201 ] &&
	[ "$(sed -n 2p "$TEST_DIR/cb-first" | jq -r .status)" = succeeded ] ||
	fail "o-cb-first's answer: $(cat "$TEST_DIR/cb-first")"
admin_get "/admin/v1/payments/$ID_CF"
[ "$(json '[.events[] | .event + ":" + (.from_status // "") + ">" + .to_status] | join(" ")')" = \
	"attempt:created>processing callback:processing>succeeded answer.ignored:succeeded>processing" ] ||
	fail "o-cb-first's history: $RESP_BODY"
pass "an answer after its callback: recorded as ignored, the merchant answered with the settled order"

# ------------------------------------------- merchant notification, signed
# (o-cb's notification; the sink answered 200 at once)
wait_sql "SELECT state FROM merchant_notifications WHERE order_id = '$ID_CB'" delivered
curl -sf "$SINK" >"$TEST_DIR/sink.json" || fail "the sink has nothing"
rec=$(jq -c --arg id "$ID_CB" '[.received[] | select((.body | fromjson? | .payment.id) == $id)] | .[0]' "$TEST_DIR/sink.json")
[ "$rec" != null ] || fail "the sink has no notification of o-cb"
nbody=$(printf '%s' "$rec" | jq -r .body)
sig=$(printf '%s' "$rec" | jq -r '.headers | to_entries[] | select(.key | ascii_downcase == "payroute-signature") | .value')
ts=${sig#t=}; ts=${ts%%,*}
want=$(printf '%s.%s' "$ts" "$nbody" | openssl dgst -sha256 -hmac "$MSECRET" -r | cut -d' ' -f1)
[ "$sig" = "t=$ts,v1=$want" ] || fail "notification signature $sig, want t=$ts,v1=$want"
[ "$(printf '%s' "$nbody" | jq -r .payment.status)" = succeeded ] || fail "notification body: $nbody"
# the body built at delivery is kept with the outcome, byte for byte
[ "$(pq -c "SELECT body FROM merchant_notifications WHERE order_id = '$ID_CB'")" = "$nbody" ] ||
	fail "the stored body differs from the one sent: $(pq -c "SELECT body FROM merchant_notifications WHERE order_id = '$ID_CB'")"
# the body's payment is the order as GET shows it, its row read with the
# notification's claim (outbox.c: claim_sql_build), not by a statement of
# its own
mget "/v1/payments/$ID_CB"
[ "$(printf '%s' "$nbody" | jq -S .payment)" = "$(printf '%s' "$RESP_BODY" | jq -S .)" ] ||
	fail "the notification's payment differs from GET: $nbody against $RESP_BODY"
[ "$(metric 'payroute_notification_orders_read_total{read="with_claim"}')" -ge 1 ] &&
	[ "$(metric 'payroute_notification_orders_read_total{read="alone"}')" = 0 ] ||
	fail "payment orders read for their notifications: $(metric 'payroute_notification_orders_read_total{read="with_claim"}') with the claim, $(metric 'payroute_notification_orders_read_total{read="alone"}') alone"
pass "merchant notification delivered, HMAC-SHA256 signature verifies, its body kept, its payment as GET shows it (read with the claim)"

# --------------------------------------- retryable failure, then success
pay "$(body o-cascade wechat_pay jsapi)"
expect_code 201 "create o-cascade"
[ "$(json .channel)" = wx_jsapi ] || fail "o-cascade went to $(json .channel): $RESP_BODY"
ID_CASC=$(json .id)
tr=$(pq -c "SELECT trace->'attempts' FROM payments WHERE id = '$ID_CASC'")
[ "$(printf '%s' "$tr" | jq -r '.[0].channel + ":" + .[0].outcome')" = wx_bad:retryable_failure ] ||
	fail "o-cascade attempts: $tr"
[ "$(printf '%s' "$tr" | jq -r '.[1].channel')" = wx_jsapi ] || fail "o-cascade attempts: $tr"
[ "$(pq -c "SELECT attempts FROM payments WHERE id = '$ID_CASC'")" = 2 ] || fail "o-cascade: attempts"
pass "retryable failure on wx_bad (SIGN_ERROR), sent on to wx_jsapi, both in the trace"

# --------------------------------------------- non-retryable failure
sim_script '{"order":"*","rate":1,"faults":{"http_status":403,"code":"NOTENOUGH"}}'
pay "$(body o-fail wechat_pay native_qr)"
clear_script
expect_code 201 "create o-fail"
[ "$(json .status)" = failed ] && [ "$(json .code)" = INSUFFICIENT_BALANCE ] ||
	fail "o-fail: $RESP_BODY"
[ -n "$(json .message)" ] || fail "o-fail: no end-user message"
ID_FAIL=$(json .id)
[ "$(pq -c "SELECT attempts || usage_released::text FROM payments WHERE id = '$ID_FAIL'")" = 1true ] ||
	fail "o-fail: one attempt and its reservation given back"
pass "non-retryable failure: failed, INSUFFICIENT_BALANCE, not sent elsewhere"

# ------------------------------------- callback lost: completion job
sim_script '{"order":"*","rate":1,"faults":{"callback":"drop"}}'
pay "$(body o-lost wechat_pay native_qr)"
ID_LOST=$(json .id)
sim_pay wechat "$ID_LOST"
clear_script
wait_pay "$ID_LOST" succeeded 15
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_LOST' AND event = 'check' AND to_status = 'succeeded'")" = 1 ] ||
	fail "o-lost: not settled by a check"
# its order read with the check's claim (completion.c: claim_sql_build),
# not by a statement of its own
[ "$(metric 'payroute_completion_orders_read_total{read="with_claim"}')" -ge 1 ] &&
	[ "$(metric 'payroute_completion_orders_read_total{read="alone"}')" = 0 ] ||
	fail "checked payments' orders: $(metric 'payroute_completion_orders_read_total{read="with_claim"}') read with the claim, $(metric 'payroute_completion_orders_read_total{read="alone"}') alone"
pass "callback lost: the completion job's query settled it (its order read with the claim)"

# The claims (the completion job's and the outbox's, every 200 ms here)
# look their orders up by primary key, never by a scan of the table: a
# plan that hashed payments (LATERAL pulled up into a join) scanned it at
# every claim (ordstore.c: pr_order_claim_sql). Nothing else of this test
# runs meanwhile; a backend publishes its counts about once a second.
sleep 1.5
scans0=$(pq -c "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'payments'")
sleep 5
scans1=$(pq -c "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'payments'")
[ $((scans1 - scans0)) -le 1 ] ||
	fail "payments was scanned $((scans1 - scans0)) times in 5 s of claims"
pass "the claims read their orders by primary key: $((scans1 - scans0)) scans of payments in 5 s of claims"
[ "$(pq -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'payrouted'")" -ge 2 ] ||
	fail "payrouted's store sessions do not name themselves: $(pq -c "SELECT string_agg(DISTINCT application_name, ',') FROM pg_stat_activity")"
pass "payrouted's store sessions name themselves in pg_stat_activity"

# ------------------------------- timeout -> unknown -> resolved by query
sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
pay "$(body o-timeout wechat_pay native_qr)"
clear_script
expect_code 201 "create o-timeout"
[ "$(json .status)" = unknown ] && [ "$(json .code)" = CHANNEL_TIMEOUT ] ||
	fail "o-timeout: $RESP_BODY"
ID_TO=$(json .id)
[ "$(pq -c "SELECT attempts FROM payments WHERE id = '$ID_TO'")" = 1 ] ||
	fail "o-timeout was sent elsewhere"
sim_pay wechat "$ID_TO"
wait_pay "$ID_TO" succeeded 15
# its answer (processing -> unknown) kept by the row, before the checks
admin_get "/admin/v1/payments/$ID_TO"
[ "$(json '[.events[:2][] | .event + ":" + .from_status + ">" + .to_status] | join(" ")')" = \
	"attempt:created>processing answer:processing>unknown" ] &&
	[ "$(json '.events[1].detail == .payment.trace.attempts[0] and .events[1].detail.outcome == "unknown" and (.events[1].id as $a | [.events[2:][] | .id > $a] | all)')" = true ] ||
	fail "o-timeout's history: $RESP_BODY"
pass "timeout: unknown (never failed, never re-sent), then succeeded by query"

# --------------------------------- duplicate, late and forged callbacks
sim_script '{"order":"*","rate":1,"faults":{"callback":"duplicate"}}'
pay "$(body o-dup wechat_pay native_qr)"
ID_DUP=$(json .id)
sim_pay wechat "$ID_DUP"
clear_script
wait_pay "$ID_DUP" succeeded
wait_sql "SELECT count(*) > 0 FROM order_events WHERE order_id = '$ID_DUP' AND event = 'callback.ignored'" t
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_DUP' AND event = 'callback'")" = 1 ] ||
	fail "o-dup moved twice"

sim_script '{"order":"*","rate":1,"faults":{"callback":"bad_signature"}}'
pay "$(body o-forged wechat_pay native_qr)"
ID_FORGED=$(json .id)
sim_pay wechat "$ID_FORGED"
wait_log "callback for channel wx_native from .* refused: signature does not verify" 10 ||
	fail "no log line for the forged callback"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_FORGED' AND event LIKE 'callback%'")" = 0 ] ||
	fail "a forged callback changed something"
clear_script
wait_pay "$ID_FORGED" succeeded 15 # the completion job asks the channel
http POST "http://127.0.0.1:$MERCHANT_PORT/notify/wx_native" \
	-H 'Content-Type: application/json' --data-binary '{"id":"forged","resource":{}}'
# WeChat Pay expects a 4xx or 5xx with {"code":"FAIL"} for a refusal.
case $RESP_CODE in [45]??) ;; *) fail "a forged POST to /notify: HTTP $RESP_CODE" ;; esac
wait_log "callback for channel wx_native from 127.0.0.1 refused: .*missing Wechatpay" 5 ||
	fail "no log line for the garbage callback"

sim_script '{"order":"*","rate":1,"faults":{"callback":"delay:2500"}}'
pay "$(body o-late wechat_pay native_qr)"
ID_LATE=$(json .id)
sim_pay wechat "$ID_LATE"
clear_script
wait_pay "$ID_LATE" succeeded 10 # by query, before the callback
wait_sql "SELECT count(*) FROM order_events WHERE order_id = '$ID_LATE' AND event = 'callback.ignored'" 1 10
pass "duplicate, forged (logged, refused, nothing changed) and late callbacks are harmless"

# ------- refused callbacks say what they are, naming channel and order
# A WeChat Pay callback signed 10 minutes ago: a replay (or a clock off),
# not a bad signature.
sim_script '{"order":"*","rate":1,"faults":{"callback":"stale"}}'
pay "$(body o-stale wechat_pay native_qr)"
ID_STALE=$(json .id)
sim_pay wechat "$ID_STALE"
wait_log "callback for channel wx_native for payment $ID_STALE from .* refused: stale: its timestamp is out of the accepted window .*: stale Wechatpay-Timestamp: 6[0-9][0-9] s behind now" 10 ||
	fail "no log line naming the stale callback, its channel and its payment"
grep -E "callback for channel wx_native .*$ID_STALE.*signature does not verify" "$LOG_FILE" &&
	fail "the stale callback was logged as a bad signature"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_STALE' AND event LIKE 'callback%'")" = 0 ] ||
	fail "a stale callback changed something"
clear_script
wait_pay "$ID_STALE" succeeded 15 # the completion job asks the channel
# An Alipay TRADE_SUCCESS without total_amount (signed so): refused, never
# taken without the amount check.
sim_script '{"order":"*","rate":1,"faults":{"callback":"no_amount"}}'
pay "$(body o-noamt alipay native_qr)"
ID_NOAMT=$(json .id)
[ "$(json .channel)" = ali_qr ] || fail "o-noamt: $RESP_BODY"
sim_pay alipay "$ID_NOAMT"
wait_log "callback for channel ali_qr for payment $ID_NOAMT from .* refused: not understood: notification: TRADE_SUCCESS without total_amount" 10 ||
	fail "no log line naming the amount-less TRADE_SUCCESS, its channel and its payment"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$ID_NOAMT' AND event LIKE 'callback%'")" = 0 ] ||
	fail "a TRADE_SUCCESS without total_amount changed something"
clear_script
wait_pay "$ID_NOAMT" succeeded 15 # by query, with the amount checked
pass "a stale WeChat Pay callback and an Alipay TRADE_SUCCESS without total_amount: refused as what they are, logged with channel and payment"

# ------------------ a callback reporting another amount than the order's
# A signed TRADE_SUCCESS for 0.01 more than the order's amount: the amount
# guard refuses the success (the callback's one-UPDATE change finds no
# row, the full change it falls back to answers 'guard', neither writes),
# and the order is left unknown with AMOUNT_MISMATCH for an operator.
sim_script '{"order":"*","rate":1,"faults":{"callback":"wrong_amount"}}'
pay "$(body o-wramt alipay native_qr)"
ID_WRAMT=$(json .id)
[ "$(json .channel)" = ali_qr ] || fail "o-wramt: $RESP_BODY"
AMT_WRAMT=$(json .amount)
sim_pay alipay "$ID_WRAMT"
wait_log "callback from ali_qr: payment $ID_WRAMT moved $((AMT_WRAMT + 1)) but the order is $AMT_WRAMT: left unknown for an operator" 10 ||
	fail "no log line for the callback's other amount"
[ "$(pq -c "SELECT string_agg(event || ':' || from_status || '>' || to_status || ':' || (detail->>'code'), ' ' ORDER BY id) FROM order_events WHERE order_id = '$ID_WRAMT' AND event LIKE 'callback%'")" = \
	"callback:processing>unknown:AMOUNT_MISMATCH" ] ||
	fail "o-wramt's callback events: $(pq -c "SELECT string_agg(event || ':' || to_status, ' ') FROM order_events WHERE order_id = '$ID_WRAMT'")"
clear_script
pass "a callback reporting another amount: its success refused, the order left unknown with AMOUNT_MISMATCH"

# ------------------------------------------------------ idempotency
B=$(body o-idem wechat_pay native_qr)
pay "$B" key-1
expect_code 201 "first o-idem"
first=$RESP_BODY
pay "$B" key-1
expect_code 201 "replayed o-idem"
[ "$RESP_BODY" = "$first" ] || fail "the replay differs: $RESP_BODY vs $first"
grep -qi '^Idempotent-Replayed: true' "$RESP_HEADERS" || fail "no Idempotent-Replayed header"
pay "$(body o-idem wechat_pay native_qr 999)" key-1
expect_code 409 "same key, another body"
[ "$(json .error.code)" = idempotency_key_reused ] || fail "reused key: $RESP_BODY"
pay "$B"
expect_code 409 "same merchant_order_no without a key"
[ "$(json .error.code)" = duplicate_order ] || fail "duplicate: $RESP_BODY"
# it names the order that has the number (the first commit inserted
# nothing, answered no row, and its lean variant read the duplicate:
# pr_flow_begin_send)
[ "$(json .error.payment_id)" = "$(pq -c "SELECT id FROM payments WHERE merchant_order_no = 'o-idem'")" ] ||
	fail "the duplicate's 409 does not name o-idem's payment: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no = 'o-idem'")" = 1 ] ||
	fail "two o-idem orders"
# A retry while the first is still running.
sim_script '{"order":"*","rate":1,"faults":{"delay_ms":1000}}'
B2=$(body o-inprog wechat_pay native_qr)
( pay "$B2" key-2; echo "$RESP_CODE" >"$TEST_DIR/first.code" ) &
BG_PIDS+=($!)
sleep 0.5
pay "$B2" key-2
expect_code 409 "retry in progress"
[ "$(json .error.code)" = request_in_progress ] || fail "in progress: $RESP_BODY"
wait_sql "SELECT state FROM idempotency_keys WHERE key = 'key-2'" done 10
clear_script
[ "$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no = 'o-inprog'")" = 1 ] ||
	fail "two o-inprog orders"
pass "idempotency: replay, 409 for another body, 409 while in progress, one order"

# ------------------------------------------------------------- close
pay "$(body o-close wechat_pay native_qr)"
ID_CLOSE=$(json .id)
mpost "/v1/payments/$ID_CLOSE/close"
expect_code 200 "close"
[ "$(json .status)" = closed ] || fail "close: $RESP_BODY"
mpost "/v1/payments/$ID_CLOSE/close"
expect_code 200 "close again"
mpost "/v1/payments/$ID_CB/close"
expect_code 409 "close a succeeded payment"
curl -sf "$SIM/_sim/ledger" | jq -e --arg id "$ID_CLOSE" \
	'[.. | objects | select(.out_trade_no? == $id)] | .[0].state | test("(?i)closed")' >/dev/null ||
	fail "the simulator does not have $ID_CLOSE closed"
pass "close: closed here and at the channel; a succeeded payment cannot be closed"

# ------------------------------------------------------------ expiry
pay "$(body o-expire wechat_pay native_qr)"
ID_EXP=$(json .id)
# Move its expiry into the past rather than wait for it.
pq -c "UPDATE payments SET expire_at = now() - interval '2 minutes' WHERE id = '$ID_EXP'"
wait_pay "$ID_EXP" closed 15
[ "$(pq -c "SELECT code || ':' || usage_released FROM payments WHERE id = '$ID_EXP'")" = ORDER_EXPIRED:true ] ||
	fail "expired: $(pq -c "SELECT code, usage_released FROM payments WHERE id = '$ID_EXP'")"
pass "expiry: an unpaid payment past its expiry is closed at the channel and released"

# ------------------------------- notification retried after two failures
curl -sf -H 'Content-Type: application/json' \
	--data-binary '{"name":"shop1","fail":2,"status":500}' "$SIM/_sim/sink_script" >/dev/null ||
	fail "sink script refused"
pay "$(body o-notify wechat_pay native_qr)"
ID_N=$(json .id)
sim_pay wechat "$ID_N"
wait_pay "$ID_N" succeeded
wait_sql "SELECT state || ':' || attempts FROM merchant_notifications WHERE order_id = '$ID_N'" delivered:3 20
pass "merchant notification: failed twice (500), delivered at the third attempt"

# ------------------------------------------ success, synchronous answer
# A barcode payment (Alipay alipay.trade.pay): paid in the answer itself.
# The channel's notification follows its answer, but over another
# connection: it is held back here so that what settles the payment is
# certainly the answer (a callback first is just as good in production:
# the same transition, and the answer then finds it done).
sim_script '{"order":"*","rate":1,"faults":{"callback":"delay:1500"}}'
pay "$(body o-sync alipay barcode 1234 '+ {auth_code: "280000000000000001"}')"
sim_script '{"order":"*","faults":null}'
expect_code 201 "create o-sync"
[ "$(json .status)" = succeeded ] && [ "$(json .code)" = SUCCESS ] ||
	fail "o-sync: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$(json .id)' AND event = 'answer' AND to_status = 'succeeded'")" = 1 ] ||
	fail "o-sync was not settled by the answer"
pass "success in the channel's synchronous answer (barcode)"

# ------------------------------------ a bank card payment (ICBC, form)
# The payer's browser posts the signed form to the bank: here, curl.
pay "$(body o-bank debit_card pc 2500 '+ {bank_code: "ICBC", card_no: "6222020200112233446"}')"
expect_code 201 "create o-bank"
[ "$(json .status):$(json .channel):$(json .card_last4)" = processing:bank_pc:3446 ] ||
	fail "o-bank: $RESP_BODY"
ID_BANK=$(json .id)
url=$(json .payer.pay_url)
fields=$(json .payer.form_fields)
[ -n "$url" ] && [ -n "$fields" ] && [ "$url" != null ] || fail "o-bank: no form for the payer: $RESP_BODY"
args=()
while IFS= read -r kv; do args+=(--data-urlencode "$kv"); done < <(printf '%s' "$fields" | jq -r 'to_entries[] | "\(.key)=\(.value)"')
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "${args[@]}" "$url")
[ "$code" = 200 ] || fail "the simulated bank refused the payer's form: HTTP $code"
sim_pay bank "$ID_BANK"
wait_pay "$ID_BANK" succeeded 15
[ "$(pq -c "SELECT count(*) FROM payments WHERE card_hmac IS NOT NULL OR card_last4 = '3446'")" -ge 1 ] &&
	! pq -c "SELECT row_to_json(p)::text FROM payments p WHERE id = '$ID_BANK'" | grep -q 6222020200112233446 ||
	fail "the card number is stored in clear"
! grep -q 6222020200112233446 "$LOG_FILE" || fail "the card number is in the log"
pass "bank card payment: a signed form for the payer, posted to the bank, settled by its callback; the card number never stored or logged"

# ------------------------------------ the state machine in the store
# the store's table is core/domain/orderstate.c's (which test_orderstate checks
# against the specification, pair by pair)
check_machine payment payments
if pq -c "UPDATE payments SET status = 'failed' WHERE id = '$ID_CB'" 2>/dev/null; then
	fail "the store let a succeeded payment become failed"
fi
if pq -c "UPDATE payments SET amount = amount + 1 WHERE id = '$ID_CLOSE'" 2>/dev/null; then
	fail "the store let an amount change"
fi
pass "the store refuses every transition outside the machine and any change of amount"

# every rule of a payment's row, whoever writes it (migration 017: the
# guard trigger's, named as the CHECK constraints they were)
M=$(pq -c "SELECT merchant_id FROM payments WHERE id = '$ID_CB'")
check_rules payments '{"id": "Prules0001", "merchant_id": "'"$M"'",
	"merchant_order_no": "rules-1", "request_hash": "h", "amount": 100,
	"currency": "CNY", "method": "wechat_pay",
	"expire_at": "2030-01-01T00:00:00Z", "status": "created",
	"attempts": 0, "trace": {}, "usage_released": false,
	"refund_reserved": 0, "created_at": "2030-01-01T00:00:00Z",
	"updated_at": "2030-01-01T00:00:00Z"}' <<'RULES'
payments_id_check|{"id": "P-1"}
payments_id_check|{"id": "Prules7"}
payments_id_check|{"id": "Pa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1bc"}
payments_id_check|{"id": "Prules\u00e901"}
ok|{"id": "Prules08"}
ok|{"id": "Pa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1b"}
payments_merchant_order_no_check|{"merchant_order_no": "oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooox"}
ok|{"merchant_order_no": "oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo"}
payments_merchant_order_no_check|{"merchant_order_no": "rules 1"}
payments_amount_check|{"amount": 0}
payments_currency_check|{"currency": "cny"}
payments_card_last4_check|{"card_last4": "12a4"}
payments_status_check|{"status": "paid", "channel": "x"}
payments_attempts_check|{"attempts": -1}
payments_payer_check|{"payer": [1]}
payments_trace_check|{"trace": []}
payments_usage_amount_check|{"usage_amount": 0}
payments_channel|{"status": "processing"}
payments_finished|{"status": "failed"}
payments_finished|{"finished_at": "2030-01-01T00:00:00Z"}
payments_paid_exactly|{"status": "succeeded", "channel": "x", "finished_at": "2030-01-01T00:00:00Z", "paid_amount": 99}
payments_refund_only_paid|{"refund_reserved": 1}
payments_refund_within|{"status": "succeeded", "channel": "x", "finished_at": "2030-01-01T00:00:00Z", "paid_amount": 100, "refund_reserved": 101}
payments_answer_whole|{"answer_id": 1}
payments_answer_whole|{"answer_to": "processing"}
payments_answer_whole|{"answer_id": 1, "answer_at": "2030-01-01T00:00:00Z", "answer_by": "inst-a"}
payments_answer_to_check|{"answer_id": 1, "answer_at": "2030-01-01T00:00:00Z", "answer_by": "inst-a", "answer_to": "paid"}
does not exist|{"merchant_id": "nobody"}
RULES
if pq -c "UPDATE payments SET card_last4 = '0000' WHERE id = '$ID_CB'" 2>/dev/null; then
	fail "the store let a payment's card change"
fi
pass "the store refuses a payment row that breaks any rule, naming it"

# the rules of one column of the order path's own rows are the columns'
# domains (migration 023): refused as a CHECK would, naming the rule
while IFS='|' read -r rule sql; do
	[ -n "$rule" ] || continue
	out=$(pq -v VERBOSITY=verbose -c "BEGIN" -c "$sql" -c "ROLLBACK" 2>&1) &&
		fail "the store accepted what $rule refuses: $sql"
	grep -Fq "ERROR:  23514: value for domain" <<<"$out" &&
		grep -Fq "violates check constraint \"$rule\"" <<<"$out" ||
		fail "$sql was refused, but not by $rule: $out"
done <<RULES
pr_order_kind_check|INSERT INTO order_checks (kind, order_id, next_at) VALUES ('payout', 'x', now())
pr_count_check|INSERT INTO order_checks (kind, order_id, next_at, checks) VALUES ('payment', 'x', now(), -1)
pr_order_kind_check|INSERT INTO order_events (kind, order_id, actor, event) VALUES ('Payment', 'x', 't', 'e')
pr_notification_state_check|INSERT INTO merchant_notifications (merchant_id, kind, order_id, event, url, body, state) VALUES ('$M', 'payment', 'x', 'e', 'http://127.0.0.1/', '{}', 'sent')
pr_count_check|INSERT INTO merchant_notifications (merchant_id, kind, order_id, event, url, body, attempts) VALUES ('$M', 'payment', 'x', 'e', 'http://127.0.0.1/', '{}', -1)
RULES
pass "the store refuses an order check, event or notification outside its columns' rules, naming the rule"

# its provenance (migration 022): who stored it and its first answer,
# which the history shows as events, never change once set; the answer's
# columns are all set or none. o-cb keeps both in its row (above), o-fail
# no answer (a final one is a row of order_events).
[ "$(pq -c "SELECT string_agg(id || ':' || (created_by IS NOT NULL) || (answer_id IS NOT NULL), ' ' ORDER BY id = '$ID_FAIL') FROM payments WHERE id IN ('$ID_CB', '$ID_FAIL')")" = "$ID_CB:truetrue $ID_FAIL:truefalse" ] ||
	fail "o-cb should keep who stored it and its answer in its row, o-fail only who stored it"
check_update_rules payments <<RULES
payments_created_by_kept|$ID_CB|created_by = 'inst-x'
payments_created_by_kept|$ID_CB|created_by = NULL
payments_answer_kept|$ID_CB|answer_by = 'inst-x'
payments_answer_kept|$ID_CB|answer_id = answer_id + 1
payments_answer_kept|$ID_CB|answer_at = answer_at - interval '1 second'
payments_answer_kept|$ID_CB|answer_to = 'unknown'
payments_answer_kept|$ID_CB|answer_id = NULL, answer_at = NULL, answer_by = NULL, answer_to = NULL
payments_answer_whole|$ID_FAIL|answer_id = 1
payments_answer_whole|$ID_FAIL|answer_id = 1, answer_at = now(), answer_by = 'inst-a'
payments_answer_to_check|$ID_FAIL|answer_id = 1, answer_at = now(), answer_by = 'inst-a', answer_to = 'paid'
ok|$ID_FAIL|answer_id = 1, answer_at = now(), answer_by = 'inst-a', answer_to = 'processing'
ok|$ID_CB|created_by = created_by, answer_by = answer_by, code = code
RULES
pass "the store refuses a change of who stored a payment or of its answer once set, and an answer in part, naming the rule"

# --------------------------- two daemons share the completion job
A_EXTRA=$TOP_EXTRA
new_instance b
install_drivers "$DRIVER_DIR" alipay wechat bank
SERVER_EXTRA=', "instance": "inst-b"'
TOP_EXTRA=$A_EXTRA # the same completion settings as a
write_conf
daemon_start
wait_ready
N=16
sim_script '{"order":"*","rate":1,"faults":{"callback":"drop"}}'
ids=()
for i in $(seq $N); do
	pay "$(body "o-two-$i" wechat_pay native_qr 100)"
	expect_code 201 "o-two-$i"
	ids+=("$(json .id)")
done
for id in "${ids[@]}"; do sim_pay wechat "$id"; done
clear_script
for id in "${ids[@]}"; do wait_pay "$id" succeeded 30; done
dup=$(pq -c "SELECT count(*) FROM (SELECT order_id FROM order_events WHERE order_id LIKE 'P%' AND event = 'check' AND to_status = 'succeeded' GROUP BY order_id HAVING count(*) > 1) x")
[ "$dup" = 0 ] || fail "$dup orders settled twice"
actors=$(pq -c "SELECT string_agg(DISTINCT actor, ',' ORDER BY actor) FROM order_events WHERE order_id IN (SELECT id FROM payments WHERE merchant_order_no LIKE 'o-two-%') AND event = 'check'")
say "checks done by: $actors"
[ "$actors" = "inst-a,inst-b" ] || fail "both instances should have checked orders: $actors"
pass "two daemons: $N orders settled by the completion job, each once, by both instances"
