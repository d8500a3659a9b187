#!/usr/bin/env bash
# t_withdrawals.sh - withdrawals end to end (issue 6, spec 2.3): the
# merchant API against the channel simulator and a real PostgreSQL;
# success by callback, in the answer and by query; failure; cascade on a
# retryable refusal; a timeout left unknown and settled by query, never
# sent to a second channel; all channels offline -> pending_channel -> a
# channel back online -> routed and paid; the deadline -> failed; the
# payee's account never in clear in the store or the logs; idempotency;
# 503 without a secrets key.
#
# Sensitive fields go encrypted, as the channels want them: the WeChat
# driver sends the payee's name RSA-OAEP-encrypted with the platform key
# (mandatory from 2000 yuan on, so a 2000+ yuan WeChat withdrawal is here)
# and the bank driver accNo RSA-encrypted with driver_config encrypt_cert
# (lib_pay.sh's driver_conf sets it); paysim decrypts both.
#
# Alipay takes transfers in public-key certificate mode only: the alipay
# withdrawal channels are in that mode (certificates made by
# tests/keys/make_alipay_certs.sh; paysim checks app_cert_sn and
# alipay_root_cert_sn and answers with alipay_cert_sn), and a channel left
# in public-key mode refuses the transfer itself, naming the withdrawal and
# the channel in the log, so that the withdrawal goes on to the next one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
# paysim signs on its loop here (no signing threads), the path the other
# tests do not take.
SIM_ARGS="--sign-threads 0"
sim_start
pass "paysim on $SIM"

KEYFILE=$TEST_DIR/secrets.key
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$KEYFILE"
chmod 600 "$KEYFILE"

new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
SERVER_EXTRA=', "instance": "inst-a"'
TOP_EXTRA=',
	"secrets": { "key_file": "'"$KEYFILE"'" },
	"http_client": { "timeout_ms": 1500, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1s,1s,1s,2s,2s", "interval_ms": 200, "batch": 8 },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
write_conf
daemon_start
wait_ready

# wchan CODE DRIVER METHOD WEIGHT [driver_config additions [MODE]]
# (alipay: certificate mode unless MODE is "key")
wchan() {
	local mode=

	[ "$2" = alipay ] && [ "${6:-}" != key ] && mode=cert
	jq -n --arg code "$1" --arg drv "$2" --arg m "$3" --argjson w "$4" \
		--argjson dc "$(driver_conf "$2" $mode)" --argjson extra "${5:-{\}}" \
		'{code:$code, driver:$drv, institution:"test", business_types:["withdraw"],
		  methods:[$m], environments:[], product_codes:[], currencies:["CNY"],
		  status:"online", timezone:"Asia/Shanghai",
		  limits:{txn_min:1, txn_max:100000000, daily_amount:0, daily_count:0},
		  fee:{rate_bps:10, fixed:0, min:0, max:0}, weight:$w,
		  driver_config:($dc + $extra)}'
}
add_channel "$(wchan bank_wd bank bank_transfer 100)"
add_channel "$(wchan ali_wd alipay alipay 100)"
add_channel "$(wchan ali_wd2 alipay alipay 10)"
add_channel "$(wchan wx_wd wechat wechat_pay 100)"
merchant_create shop1
pass "withdrawal channels (bank, alipay x2, wechat) and merchant shop1 created"

CARD=6222021234567890123
ALIPAY=alice.withdraw@example.com
OPENID=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o
SINK=$SIM/_sim/sink/shop1
wbody() { # NO KIND ACCOUNT [AMOUNT]
	jq -cn --arg no "$1" --arg k "$2" --arg acc "$3" --argjson amt "${4:-10000}" \
		--arg url "$SINK" \
		'{merchant_withdrawal_no:$no, amount:$amt, currency:"CNY",
		  payee:{kind:$k, account:$acc, name:"Zhang San"}, notify_url:$url}'
}
withdraw() {
	if [ $# -ge 2 ]; then
		_mcall POST /v1/withdrawals "$1" -H "Idempotency-Key: $2"
	else
		_mcall POST /v1/withdrawals "$1"
	fi
}
set_status() { # CHANNEL online|offline
	admin_post "/admin/v1/channels/$1/status" -H 'Content-Type: application/json' \
		--data-binary "{\"status\":\"$2\"}"
	expect_code 200 "channel $1 $2"
}

# ------------------------------------------------------------ bad input
withdraw '{"merchant_withdrawal_no":"w-bad","amount":100,"currency":"CNY"}'
expect_code 400 "no payee"
[ "$(json .error.field)" = payee ] || fail "no payee: $RESP_BODY"
withdraw '{"merchant_withdrawal_no":"w-bad","amount":100,"currency":"CNY","payee":{"kind":"cash","account":"x"}}'
expect_code 400 "bad kind"
[ "$(json .error.field)" = payee.kind ] || fail "bad kind: $RESP_BODY"
withdraw '{"merchant_withdrawal_no":"w-bad","amount":100,"currency":"CNY","payee":{"kind":"bank_card","account":"12ab"}}'
expect_code 400 "bad card"
[ "$(json .error.field)" = payee.account ] || fail "bad card: $RESP_BODY"
mget /v1/withdrawals/WNOSUCHWITHDRAWAL1
expect_code 404 "unknown withdrawal"
# refused up front, each naming its field, nothing stored: the names the
# bank driver refuses ({ } & =, once DRIVER_ERROR after a 201), currencies
# outside ISO 4217, amounts beyond the bound
n_before=$(pq -c "SELECT count(*) FROM withdrawals")
for nm in 'Zhang{San' 'Zhang}San' 'Zhang & Li' 'a=b' 'Zhang San '; do
	withdraw "$(wbody w-name bank_card $CARD | jq -c --arg n "$nm" '.payee.name = $n')"
	expect_code 400 "payee name '$nm'"
	[ "$(json .error.field)" = payee.name ] && [ "$(json .error.code)" = invalid_field ] ||
		fail "payee name '$nm': $RESP_BODY"
done
withdraw "$(wbody w-cur bank_card $CARD | jq -c '.currency = "XYZ"')"
expect_code 400 "currency XYZ"
[ "$(json .error.field)" = currency ] && json .error.message | grep -q "ISO 4217" ||
	fail "currency XYZ: $RESP_BODY"
# (sed, not jq: jq would round it to a double)
withdraw "$(wbody w-amt bank_card $CARD | sed 's/"amount":10000,/"amount":9223372036854775807,/')"
expect_code 400 "amount 2^63-1"
[ "$(json .error.field)" = amount ] || fail "amount 2^63-1: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM withdrawals")" = "$n_before" ] ||
	fail "a refused withdrawal was stored"
pass "bad input: 400 naming the field (payee.name with { } & = or padding, currency XYZ, amount 2^63-1), nothing stored; 404"

# A withdrawal no channel could ever serve (no withdraw channel takes USD)
# fails at once with PAYEE_NOT_SUPPORTED, instead of waiting 24 h.
withdraw "$(wbody w-usd bank_card $CARD | jq -c '.currency = "USD"')"
expect_code 201 "create w-usd"
[ "$(json .status)" = failed ] && [ "$(json .code)" = PAYEE_NOT_SUPPORTED ] &&
	[ "$(json .channel)" = null ] || fail "w-usd: $RESP_BODY"
json .message | grep -q "No channel pays out" || fail "w-usd message: $RESP_BODY"
[ "$(pq -c "SELECT status || ':' || code || ':' || attempts || ':' || (deadline_at IS NOT NULL) FROM withdrawals WHERE merchant_withdrawal_no = 'w-usd'")" = failed:PAYEE_NOT_SUPPORTED:0:true ] ||
	fail "w-usd stored: $(pq -c "SELECT status, code, attempts FROM withdrawals WHERE merchant_withdrawal_no = 'w-usd'")"
pass "no channel could ever serve it (USD): 201 failed PAYEE_NOT_SUPPORTED at once, nothing sent"

# ------------------------------------------- success by callback (bank)
withdraw "$(wbody w-bank bank_card $CARD)"
expect_code 201 "create w-bank"
ID_BANK=$(json .id)
[ "$(json .status)" = processing ] && [ "$(json .channel)" = bank_wd ] ||
	fail "w-bank: $RESP_BODY"
[ "$(json .payee.account)" = "6222 **** **** 0123" ] || fail "w-bank mask: $RESP_BODY"
wait_wd "$ID_BANK" succeeded
[ "$(pq -c "SELECT count(*) FROM order_events WHERE kind = 'withdrawal' AND order_id = '$ID_BANK' AND event = 'callback'")" = 1 ] ||
	fail "w-bank was not settled by the callback"
mget "/v1/withdrawals/$ID_BANK"
[ "$(json .status)" = succeeded ] && [ "$(json .code)" = SUCCESS ] || fail "GET w-bank: $RESP_BODY"
mget "/v1/withdrawals?merchant_withdrawal_no=w-bank"
[ "$(json .id)" = "$ID_BANK" ] || fail "by merchant_withdrawal_no: $RESP_BODY"
wait_sql "SELECT state || ':' || event FROM merchant_notifications WHERE order_id = '$ID_BANK'" delivered:withdrawal.succeeded
curl -sf "$SINK" | jq -e --arg id "$ID_BANK" \
	'[.received[].body | fromjson | select(.withdrawal.id == $id)] | .[0].withdrawal.payee.account == "6222 **** **** 0123"' >/dev/null ||
	fail "the merchant notification of w-bank is missing or shows the account"
# its withdrawal is the order as GET shows it, read with the claim
mget "/v1/withdrawals/$ID_BANK"
[ "$(curl -sf "$SINK" | jq -S --arg id "$ID_BANK" '[.received[].body | fromjson | select(.withdrawal.id == $id)] | .[0].withdrawal')" = \
	"$(printf '%s' "$RESP_BODY" | jq -S .)" ] ||
	fail "the notification's withdrawal differs from GET $RESP_BODY"
[ "$(metric 'payroute_notification_orders_read_total{read="with_claim"}')" -ge 1 ] ||
	fail "no withdrawal read with its notification's claim"
pass "bank card: processing, then succeeded by the channel's callback; merchant notified (masked)"

# ---------------------------------------- success in the answer (alipay)
withdraw "$(wbody w-ali alipay_account $ALIPAY)"
expect_code 201 "create w-ali"
[ "$(json .status)" = succeeded ] && [ "$(json .channel)" = ali_wd ] ||
	fail "w-ali: $RESP_BODY"
[ "$(json .payee.account)" = "a***@example.com" ] || fail "w-ali mask: $RESP_BODY"
pass "alipay account: succeeded in the synchronous answer"

# ---------------------------------------------- success by query (wechat)
withdraw "$(wbody w-wx wechat_openid $OPENID 5000)"
expect_code 201 "create w-wx"
ID_WX=$(json .id)
[ "$(json .channel)" = wx_wd ] || fail "w-wx: $RESP_BODY"
wait_wd "$ID_WX" succeeded
pass "wechat openid (below 2000 yuan): accepted, then succeeded"

# ------------- wechat from 2000 yuan on: the payee's name, encrypted
withdraw "$(wbody w-wx-big wechat_openid $OPENID 250000)"
expect_code 201 "create w-wx-big"
ID_WXB=$(json .id)
[ "$(json .channel)" = wx_wd ] && [ "$(json .status)" = processing ] ||
	fail "w-wx-big: $RESP_BODY"
wait_wd "$ID_WXB" succeeded
curl -sf "$SIM/_sim/ledger" | jq -e --arg id "$ID_WXB" \
	'[.payouts[] | select(.channel == "wechat" and .amount == 250000)] | length == 1' >/dev/null ||
	fail "w-wx-big is not in paysim's ledger"
pass "wechat openid of 2500 yuan: the name RSA-OAEP-encrypted (paysim decrypts it), succeeded"

# ------------------------------------------------------------- failure
sim_script '{"order":"*","rate":1,"faults":{"code":"40004","sub_code":"PAYEE_NOT_EXIST"}}'
withdraw "$(wbody w-fail alipay_account $ALIPAY)"
clear_script
expect_code 201 "create w-fail"
[ "$(json .status)" = failed ] && [ "$(json .code)" = PAYEE_INVALID ] || fail "w-fail: $RESP_BODY"
ID_FAIL=$(json .id)
[ "$(pq -c "SELECT attempts || ':' || usage_released FROM withdrawals WHERE id = '$ID_FAIL'")" = 1:true ] ||
	fail "w-fail: one attempt, reservation given back"
pass "failure: failed with PAYEE_INVALID, not sent elsewhere"

# --------------------------------- retryable refusal: cascade, then fail
sim_script '{"order":"*","rate":1,"faults":{"code":"40004","sub_code":"PAYER_BALANCE_NOT_ENOUGH"}}'
withdraw "$(wbody w-casc alipay_account $ALIPAY)"
clear_script
expect_code 201 "create w-casc"
ID_CASC=$(json .id)
tr=$(pq -c "SELECT trace->'attempts' FROM withdrawals WHERE id = '$ID_CASC'")
[ "$(printf '%s' "$tr" | jq -r '.[0].channel + ":" + .[0].outcome + "," + .[1].channel + ":" + .[1].outcome')" = ali_wd:retryable_failure,ali_wd2:retryable_failure ] ||
	fail "w-casc attempts: $tr"
[ "$(json .status)" = failed ] && [ "$(json .code)" = MERCHANT_BALANCE_INSUFFICIENT ] ||
	fail "w-casc: $RESP_BODY"
pass "retryable refusal: sent on to ali_wd2, then failed with the last code"

# ------------------------------- timeout -> unknown -> settled by query
sim_script '{"order":"*","rate":1,"faults":{"timeout":true}}'
withdraw "$(wbody w-to alipay_account $ALIPAY)"
clear_script
expect_code 201 "create w-to"
[ "$(json .status)" = unknown ] && [ "$(json .code)" = CHANNEL_TIMEOUT ] || fail "w-to: $RESP_BODY"
ID_TO=$(json .id)
wait_wd "$ID_TO" succeeded 15
[ "$(pq -c "SELECT attempts || ':' || channel FROM withdrawals WHERE id = '$ID_TO'")" = 1:ali_wd ] ||
	fail "w-to was sent to a second channel"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE kind = 'withdrawal' AND order_id = '$ID_TO' AND event = 'check' AND to_status = 'succeeded'")" = 1 ] ||
	fail "w-to: not settled by a check"
pass "timeout: unknown (never sent to ali_wd2), then succeeded by payout_query"

# ------------------------------------------------------ idempotency
B=$(wbody w-idem alipay_account $ALIPAY 777)
withdraw "$B" wkey-1
expect_code 201 "first w-idem"
first=$RESP_BODY
withdraw "$B" wkey-1
expect_code 201 "replayed w-idem"
[ "$RESP_BODY" = "$first" ] || fail "the replay differs: $RESP_BODY vs $first"
grep -qi '^Idempotent-Replayed: true' "$RESP_HEADERS" || fail "no Idempotent-Replayed header"
withdraw "$(wbody w-idem alipay_account $ALIPAY 778)" wkey-1
expect_code 409 "same key, another body"
[ "$(json .error.code)" = idempotency_key_reused ] || fail "reused key: $RESP_BODY"
withdraw "$B"
expect_code 409 "same merchant_withdrawal_no without a key"
[ "$(json .error.code)" = duplicate_order ] || fail "duplicate: $RESP_BODY"
[ "$(json .error.withdrawal_id)" = "$(pq -c "SELECT id FROM withdrawals WHERE merchant_withdrawal_no = 'w-idem'")" ] ||
	fail "the duplicate's 409 does not name w-idem's withdrawal: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM withdrawals WHERE merchant_withdrawal_no = 'w-idem'")" = 1 ] ||
	fail "two w-idem withdrawals"
pass "idempotency: replay, 409 for another body, 409 duplicate, one withdrawal"

# -------------------- no channel: pending_channel, deadline, back online
set_status ali_wd offline
set_status ali_wd2 offline
settle_generation
withdraw "$(wbody w-pend alipay_account $ALIPAY 4321)"
expect_code 201 "create w-pend"
[ "$(json .status)" = pending_channel ] || fail "w-pend: $RESP_BODY"
[ "$(json .deadline_at)" != null ] || fail "w-pend: no deadline_at: $RESP_BODY"
ID_PEND=$(json .id)
withdraw "$(wbody w-late alipay_account $ALIPAY 4322)"
expect_code 201 "create w-late"
[ "$(json .status)" = pending_channel ] || fail "w-late: $RESP_BODY"
ID_LATE=$(json .id)
pq -c "UPDATE withdrawals SET deadline_at = now() - interval '1 second' WHERE id = '$ID_LATE'" >/dev/null
wait_wd "$ID_LATE" failed 15
[ "$(pq -c "SELECT code FROM withdrawals WHERE id = '$ID_LATE'")" = NO_CHANNEL_BEFORE_DEADLINE ] ||
	fail "w-late: $(pq -c "SELECT code FROM withdrawals WHERE id = '$ID_LATE'")"
[ "$(pq -c "SELECT status FROM withdrawals WHERE id = '$ID_PEND'")" = pending_channel ] ||
	fail "w-pend moved while no channel was online"
pass "no usable channel: 201 pending_channel; past its deadline: failed NO_CHANNEL_BEFORE_DEADLINE"
set_status ali_wd2 online
wait_wd "$ID_PEND" succeeded 20
[ "$(pq -c "SELECT channel || ':' || attempts FROM withdrawals WHERE id = '$ID_PEND'")" = ali_wd2:1 ] ||
	fail "w-pend: $(pq -c "SELECT channel, attempts FROM withdrawals WHERE id = '$ID_PEND'")"
[ "$(pq -c "SELECT string_agg(coalesce(from_status, '') || '>' || to_status, ' ' ORDER BY id) FROM order_events WHERE kind = 'withdrawal' AND order_id = '$ID_PEND'")" = "created>pending_channel pending_channel>processing processing>succeeded" ] ||
	fail "w-pend history: $(pq -c "SELECT string_agg(from_status || '>' || to_status, ' ' ORDER BY id) FROM order_events WHERE order_id = '$ID_PEND'")"
set_status ali_wd online
pass "a channel back online: the pending withdrawal was routed there and paid"

# ------------------- a transfer on an alipay channel in public-key mode
add_channel "$(wchan ali_wd_key alipay alipay 1000 '{}' key)"
withdraw "$(wbody w-keymode alipay_account $ALIPAY 888)"
expect_code 201 "create w-keymode"
ID_KEY=$(json .id)
[ "$(json .status)" = succeeded ] && [ "$(json .channel)" = ali_wd ] ||
	fail "w-keymode: $RESP_BODY"
tr=$(pq -c "SELECT trace->'attempts' FROM withdrawals WHERE id = '$ID_KEY'")
[ "$(printf '%s' "$tr" | jq -r '.[0].channel + ":" + .[0].outcome + "," + .[1].channel + ":" + .[1].outcome')" = ali_wd_key:retryable_failure,ali_wd:succeeded ] ||
	fail "w-keymode attempts: $tr"
wait_log "channel ali_wd_key: withdrawal $ID_KEY: payout: the driver could not build the request: alipay.fund.trans.uni.transfer: Alipay serves transfers in certificate mode only" 5 ||
	fail "no log line naming w-keymode, ali_wd_key and the certificate mode"
curl -sf "$SIM/_sim/ledger" | jq -e '[.payouts[] | select(.channel == "alipay" and .amount == 888)] | length == 1' >/dev/null ||
	fail "w-keymode: not one transfer of 888 in paysim's ledger"
http DELETE "http://127.0.0.1:$ADMIN_PORT/admin/v1/channels/ali_wd_key" -H "Authorization: Bearer $TOKEN"
expect_code 204 "delete ali_wd_key"
pass "a public-key-mode alipay channel refuses the transfer (driver error, logged with the withdrawal and the channel); paid by the certificate-mode one"

# ------------------------------- the answer is the withdrawal as stored
# The 201 is rendered from the flow's own row as its answer's UPDATE
# leaves it (PR_APPLY_FAST_SQL sends no row back): the stored withdrawal
# must read the same (held processing by the channel meanwhile).
sim_script '{"order":"*","rate":1,"faults":{"pay":"never"}}'
withdraw "$(wbody w-pred bank_card $CARD)"
expect_code 201 "create w-pred"
ID_PRED=$(json .id)
[ "$(json .status)" = processing ] || fail "w-pred: $RESP_BODY"
ANSWERED=$(printf '%s' "$RESP_BODY" | jq -S .)
mget "/v1/withdrawals/$ID_PRED"
[ "$(printf '%s' "$RESP_BODY" | jq -S .)" = "$ANSWERED" ] ||
	fail "w-pred: the answer differs from the stored withdrawal: $ANSWERED against $RESP_BODY"
clear_script
pass "a processing withdrawal's answer reads as the stored withdrawal"

# ------------------------------------------------------------ admin view
admin_get "/admin/v1/withdrawals/$ID_BANK"
expect_code 200 "admin withdrawal"
[ "$(json .withdrawal.payee_account_mask)" = "6222 **** **** 0123" ] || fail "admin: $RESP_BODY"
[ "$(json '.withdrawal | has("payee_account_enc")')" = false ] || fail "admin shows the ciphertext"
[ "$(json '.events | length')" -ge 3 ] || fail "admin events: $RESP_BODY"
# its first attempt and answer kept by the row (migrations 019, 021),
# shown as the rows were, before the callback's row
[ "$(json '[.events[:2][] | .event + ":" + .from_status + ">" + .to_status] | join(" ")')" = \
	"attempt:created>processing answer:processing>processing" ] &&
	[ "$(json '.events[0].id == 0 and .events[1].detail == .withdrawal.trace.attempts[0] and (.events[1].id as $a | [.events[2:][] | .id > $a] | all) and (.withdrawal | has("answer_id") | not)')" = true ] ||
	fail "w-bank's history: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE kind = 'withdrawal' AND order_id = '$ID_BANK' AND event LIKE 'answer%'")" = 0 ] ||
	fail "w-bank's answer was written as a row too"
[ "$(json '.withdrawal.trace.route.chosen')" = bank_wd ] || fail "admin trace: $RESP_BODY"
pass "admin: GET /admin/v1/withdrawals/{id} with the masked account, trace and events"

# --------------------------------------- the account never in clear
"$PG_BIN/pg_dump" -h "$PG_ROOT/sock" -U payroute payroute >"$TEST_DIR/dump.sql" ||
	fail "pg_dump failed"
grep -q "6222 \*\*\*\* \*\*\*\* 0123" "$TEST_DIR/dump.sql" || fail "the dump has no masked card (wrong dump?)"
for acc in "$CARD" "$ALIPAY" "$OPENID"; do
	if grep -qF -- "$acc" "$TEST_DIR/dump.sql"; then
		fail "an account is in clear in the store: $(grep -F -- "$acc" "$TEST_DIR/dump.sql" | head -n 3)"
	fi
	if grep -qF -- "$acc" "$LOG_FILE" "$I_DIR/stderr"; then
		fail "an account is in clear in the log: $(grep -hF -- "$acc" "$LOG_FILE" | head -n 3)"
	fi
done
enc=$(pq -c "SELECT payee_account_enc FROM withdrawals WHERE id = '$ID_BANK'")
python3 - "$KEYFILE" "$ID_BANK" "$enc" "$CARD" <<'EOF' || fail "the stored account does not decrypt to the card with the key"
import base64, sys
try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:
    sys.exit(0)  # nothing to check it with
key = bytes.fromhex(open(sys.argv[1]).read().strip())
raw = base64.b64decode(sys.argv[3])
pt = AESGCM(key).decrypt(raw[:12], raw[12:], sys.argv[2].encode())
sys.exit(0 if pt.decode() == sys.argv[4] else 1)
EOF
pass "payee accounts: only masked in the store (pg_dump) and the logs; AES-256-GCM at rest"

# --------------------------------------------- the state machine in SQL
# the store's table is core/domain/orderstate.c's (which test_orderstate checks
# against the specification, pair by pair)
check_machine withdrawal withdrawals
if pq -c "UPDATE withdrawals SET status = 'failed' WHERE id = '$ID_BANK'" 2>/dev/null; then
	fail "the store let a succeeded withdrawal become failed"
fi
pass "the store refuses every transition outside the machine"

# every rule of a withdrawal's row, whoever writes it (migration 017: the
# guard trigger's, named as the CHECK constraints they were)
M=$(pq -c "SELECT merchant_id FROM withdrawals WHERE id = '$ID_BANK'")
check_rules withdrawals '{"id": "Wrules0001", "merchant_id": "'"$M"'",
	"merchant_withdrawal_no": "rules-1", "request_hash": "h",
	"amount": 100, "currency": "CNY", "payee_kind": "bank_card",
	"payee_account_enc": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB",
	"payee_account_mask": "6222****1234", "method": "bank_transfer",
	"status": "created", "attempts": 0, "trace": {},
	"usage_released": false, "deadline_at": "2030-01-01T00:00:00Z",
	"created_at": "2030-01-01T00:00:00Z",
	"updated_at": "2030-01-01T00:00:00Z"}' <<'RULES'
withdrawals_id_check|{"id": "P1234567"}
withdrawals_id_check|{"id": "W123456"}
withdrawals_id_check|{"id": "Wa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1bc"}
ok|{"id": "W1234567"}
ok|{"id": "Wa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1b"}
withdrawals_merchant_withdrawal_no_check|{"merchant_withdrawal_no": "oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooox"}
ok|{"merchant_withdrawal_no": "oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo"}
withdrawals_payee_account_enc_check|{"payee_account_enc": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUF="}
withdrawals_payee_account_enc_check|{"payee_account_enc": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB==="}
withdrawals_payee_account_enc_check|{"payee_account_enc": "QUFBQUFBQUFBQUFBQUFB=QUFBQUFBQUFBQUFBQUFB"}
ok|{"payee_account_enc": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB=="}
ok|{"payee_account_enc": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}
withdrawals_merchant_withdrawal_no_check|{"merchant_withdrawal_no": ""}
withdrawals_amount_check|{"amount": -5}
withdrawals_currency_check|{"currency": "CN"}
withdrawals_payee_kind_check|{"payee_kind": "cash"}
withdrawals_payee_account_enc_check|{"payee_account_enc": "6222020200112233446"}
withdrawals_payee_account_mask_check|{"payee_account_mask": ""}
withdrawals_status_check|{"status": "closed", "channel": "x"}
withdrawals_attempts_check|{"attempts": -1}
withdrawals_trace_check|{"trace": "x"}
withdrawals_usage_amount_check|{"usage_amount": -1}
withdrawals_channel|{"status": "unknown"}
withdrawals_pending|{"status": "pending_channel"}
withdrawals_finished|{"status": "failed"}
withdrawals_paid_exactly|{"status": "succeeded", "channel": "x", "finished_at": "2030-01-01T00:00:00Z", "paid_amount": 1}
withdrawals_answer_whole|{"answer_by": "inst-a"}
withdrawals_answer_whole|{"answer_id": 1, "answer_at": "2030-01-01T00:00:00Z", "answer_to": "processing"}
withdrawals_answer_to_check|{"answer_id": 1, "answer_at": "2030-01-01T00:00:00Z", "answer_by": "inst-a", "answer_to": "closed"}
does not exist|{"merchant_id": "nobody"}
RULES
pass "the store refuses a withdrawal row that breaks any rule, naming it"

# its provenance (migration 022), as a payment's: w-bank keeps who stored
# it and its first answer in its row (above); w-pend waited in its first
# commit, stored by nobody, and stays so; w-fail has no answer kept.
[ "$(pq -c "SELECT string_agg(id || ':' || (created_by IS NOT NULL) || (answer_id IS NOT NULL), ' ' ORDER BY id = '$ID_PEND', id = '$ID_FAIL') FROM withdrawals WHERE id IN ('$ID_BANK', '$ID_PEND', '$ID_FAIL')")" = "$ID_BANK:truetrue $ID_FAIL:truefalse $ID_PEND:falsefalse" ] ||
	fail "w-bank should keep who stored it and its answer in its row, w-fail only who stored it, w-pend neither"
check_update_rules withdrawals <<RULES
withdrawals_created_by_kept|$ID_BANK|created_by = 'inst-x'
withdrawals_created_by_kept|$ID_PEND|created_by = 'inst-a'
withdrawals_answer_kept|$ID_BANK|answer_by = 'inst-x'
withdrawals_answer_kept|$ID_BANK|answer_to = 'unknown'
withdrawals_answer_kept|$ID_BANK|answer_id = NULL, answer_at = NULL, answer_by = NULL, answer_to = NULL
withdrawals_answer_whole|$ID_FAIL|answer_at = now()
withdrawals_answer_to_check|$ID_FAIL|answer_id = 1, answer_at = now(), answer_by = 'inst-a', answer_to = 'closed'
ok|$ID_FAIL|answer_id = 1, answer_at = now(), answer_by = 'inst-a', answer_to = 'unknown'
RULES
pass "the store refuses a change of who stored a withdrawal or of its answer once set, and an answer in part, naming the rule"

# ------------------------------------------------- no secrets key: 503
new_instance b
install_drivers "$DRIVER_DIR" alipay wechat bank
SERVER_EXTRA=', "instance": "inst-b"'
write_conf
daemon_start
wait_ready
withdraw "$(wbody w-nokey alipay_account $ALIPAY)"
expect_code 503 "no secrets key"
[ "$(json .error.code)" = withdrawals_unavailable ] || fail "no key: $RESP_BODY"
grep <<<"$RESP_BODY" -q 'secrets.key_file' || fail "the 503 does not say what to set: $RESP_BODY"
mget "/v1/withdrawals/$ID_BANK"
expect_code 200 "GET without a key"
pass "without secrets.key_file: 503 naming the option; reads still work"
