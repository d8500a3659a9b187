#!/usr/bin/env bash
# t_paysim.sh - the channel simulator (contrib/paysim) against the real
# drivers: drvtool (tests/interop/drvtool) builds each request with a
# driver, sends it to paysim and parses paysim's signed answer with the
# same driver; paysim's notifications land in a small receiver and are fed
# back to the driver's parse_notify. The bank's front consume goes as in
# production: build_pay sends nothing, and the payer (curl) posts the
# driver's signed form to paysim's front endpoint. Also: bad signatures are
# refused, scripted faults (503, a result code, delay, timeout, callback
# drop / duplicate / bad signature / out of order, refund stuck
# processing) happen as scripted, the ledger reconciles, and the
# merchant-notification sinks (/_sim/sink/NAME) record and answer as
# scripted. No PostgreSQL needed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

DRVTOOL=$top_builddir/tests/interop/drvtool

[ -x "$PAYSIM" ] || fail "paysim is not built ($PAYSIM)"
[ -x "$DRVTOOL" ] || fail "drvtool is not built ($DRVTOOL; make check builds it)"
require_tools jq curl openssl python3

# ------------------------------------------------------------ notifications
RECV_LOG=$TEST_DIR/notify.jsonl
cat >"$TEST_DIR/recv.py" <<'EOF'
# Appends every request as one JSON line (drvtool's --inbound shape);
# answers "success" on /notify/alipay, 200 otherwise. Loopback only,
# exits after its lifetime.
import json, sys, time, http.server
port_file, out, life = sys.argv[1], sys.argv[2], float(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n).decode('utf-8', 'replace')
        path, _, query = self.path.partition('?')
        rec = {"method": "POST", "path": path, "query": query or None,
               "headers": [[k, v] for k, v in self.headers.items()],
               "body": body}
        with open(out, 'a') as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        reply = b"success" if path.endswith("/alipay") else b'{"code":"SUCCESS"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
s.timeout = 0.2
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
end = time.time() + life
while time.time() < end:
    s.handle_request()
EOF
touch "$RECV_LOG"
python3 "$TEST_DIR/recv.py" "$TEST_DIR/recv.port" "$RECV_LOG" 120 &
BG_PIDS+=($!)
wait_until 5 test -s "$TEST_DIR/recv.port" || fail "the receiver did not start"
RPORT=$(cat "$TEST_DIR/recv.port")

# ------------------------------------------------------------ paysim
# lib_pay.sh's simulator (it sets BANK_CID, WX_SERIAL, WX_PSERIAL, APIV3),
# with two notification attempts.
# Two signing threads whatever the machine has, so that the pool is what
# signs here (t_withdrawals signs on the loop: --sign-threads 0).
SIM_EXTRA='{"notify_attempts":2}'
SIM_ARGS="--sign-threads 2"
sim_start
pass "paysim listens on 127.0.0.1:$SPORT"

# ------------------------------------------------------------ helpers
NOW_MS=$(($(date +%s) * 1000))
NURL=http://127.0.0.1:$RPORT/notify

cat >"$TEST_DIR/alipay.json" <<EOF
{"app_id":"2021000000000001","gateway":"$SIM/alipay/gateway.do",
 "app_private_key":"@$KEYS/alipay_app_private.pem",
 "alipay_public_key":"@$KEYS/alipay_platform_public.pem"}
EOF
cat >"$TEST_DIR/wechat.json" <<EOF
{"mch_id":"1900000001","appid":"wx0000000000000001","api_base":"$SIM/wechat",
 "merchant_private_key":"@$KEYS/wechat_merchant_private.pem",
 "merchant_serial_no":"$WX_SERIAL",
 "platform_public_key":"@$KEYS/wechat_platform_public.pem",
 "platform_serial_no":"$WX_PSERIAL","apiv3_key":"$APIV3"}
EOF
cat >"$TEST_DIR/bank.json" <<EOF
{"mer_id":"777290058110048","gateway":"$SIM/bank",
 "sign_key":"@$KEYS/bank_merchant_private.pem",
 "verify_key":"@$KEYS/bank_platform_cert.pem","cert_id":"$BANK_CID",
 "allow_clear_accno":true}
EOF

# order FILE ID AMOUNT CHANNEL ENV [extra jq assignments]
order() {
	local f=$TEST_DIR/$1.json
	jq -n --arg id "$2" --argjson amt "$3" --arg ch "$4" --arg env "$5" \
		--arg nurl "$NURL/$4" --argjson now "$NOW_MS" \
		'{order_id:$id, amount:$amt, currency:"CNY", environment:$env,
		  subject:"paysim test", notify_url:$nurl, created_at_ms:$now,
		  client_ip:"127.0.0.1", refund_id:("R" + $id),
		  refund_amount:($amt / 4 | floor), total_amount:$amt,
		  payout_id:("P" + $id), payee_name:"Zhang San"}' >"$f" ||
		fail "cannot write $f"
	if [ $# -gt 5 ]; then
		jq "$6" "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	fi
}

# drv DRIVER OP ORDERFILE [drvtool args]: OUT = drvtool's JSON
drv() {
	local d=$1 op=$2 o=$3 so

	shift 3
	so=$(built_driver "$d") || skip "driver $d is not built"
	OUT=$("$DRVTOOL" --driver "$so" --config "$TEST_DIR/$d.json" "$op" \
		--order "$TEST_DIR/$o.json" "$@" 2>>"$TEST_DIR/drvtool.err")
	[ -n "$OUT" ] || fail "drvtool $d $op printed nothing"
}
field() { jq -r "$1" <<<"$OUT"; }
expect() { # expect JQ WANT WHAT
	local got

	got=$(field "$1")
	[ "$got" = "$2" ] || fail "$3: $1 is '$got', expected '$2' (drvtool: $(head -c 1500 <<<"$OUT"))"
}

ledger() { curl -s -m 5 "$SIM/_sim/ledger" | jq -r "$1"; }
# ledger_is JQ WANT: the ledger says WANT (LEDGER_GOT: what it says); a
# condition for wait_until.
ledger_is() {
	LEDGER_GOT=$(ledger "$1")
	[ "$LEDGER_GOT" = "$2" ]
}
# notices_ge GREP N: at least N lines of the receiver's log contain GREP
# (NOTICES: how many).
notices_ge() {
	NOTICES=$(grep -c -- "$1" "$RECV_LOG")
	[ "$NOTICES" -ge "$2" ]
}

# wait_notice GREP COUNT: waits (bounded) until COUNT lines of the receiver's
# log contain GREP; inbound.json = the first one.
wait_notice() {
	wait_until 6 notices_ge "$1" "$2" ||
		fail "expected $2 notification(s) matching $1, got $NOTICES"
	grep -- "$1" "$RECV_LOG" | head -n 1 >"$TEST_DIR/inbound.json"
}
# wait_ledger JQ WANT WHAT: bounded wait (5 s) until the ledger says WANT.
wait_ledger() {
	wait_until 5 ledger_is "$1" "$2" ||
		fail "$3: the simulator's ledger says '$LEDGER_GOT' for $1, want '$2'"
}
# notify DRIVER: OUT = drvtool notify over the last wait_notice
notify() {
	local so

	so=$(built_driver "$1") || skip "driver $1 is not built"
	OUT=$("$DRVTOOL" --driver "$so" --config "$TEST_DIR/$1.json" notify \
		--inbound "$TEST_DIR/inbound.json" 2>>"$TEST_DIR/drvtool.err")
	[ -n "$OUT" ] || fail "drvtool $1 notify printed nothing"
}

# ------------------------------------------------------------ alipay
order a1 PSA1001 8888 alipay native_qr
drv alipay pay a1 --send
expect .parse.code 10000 "alipay precreate"
case $(field .parse.payer.qr_code) in
https://qr.alipay.com/*) ;;
*) fail "alipay precreate: no qr_code: $OUT" ;;
esac
drv alipay query a1 --send
expect .parse.sub_code WAIT_BUYER_PAY "alipay query before paying"
sim_pay alipay PSA1001
drv alipay query a1 --send
expect .parse.sub_code TRADE_SUCCESS "alipay query after paying"
expect .parse.amount 8888 "alipay query after paying"
drv alipay refund a1 --send
expect .parse.code 10000 "alipay refund"
drv alipay refund_query a1 --send
expect .parse.sub_code REFUND_SUCCESS "alipay refund query"
wait_notice '"/notify/alipay".*out_trade_no=PSA1001.*trade_status=TRADE_SUCCESS' 1
notify alipay
expect .rc 0 "alipay notification verifies"
expect .notify.order_id PSA1001 "alipay notification"
expect .notify.code TRADE_SUCCESS "alipay notification"
pass "alipay: precreate, query, pay, query, refund, refund query, notification"

# a page payment: the payer's browser GETs the signed URL
order a2 PSA1002 1200 alipay pc
drv alipay pay a2
url=$(field '.parse.payer.pay_url // .parse.payer.url // empty')
if [ -n "$url" ]; then
	case $url in
	"$SIM"/*) ;;
	*) fail "alipay page pay URL does not point at paysim: $url" ;;
	esac
	code=$(curl -s -o "$TEST_DIR/page.html" -w '%{http_code}' "$url")
	[ "$code" = 200 ] && grep -q PSA1002 "$TEST_DIR/page.html" ||
		fail "alipay page pay: HTTP $code $(head -c 300 "$TEST_DIR/page.html")"
	[ "$(ledger '.orders[]|select(.out_trade_no=="PSA1002").state')" = pending ] ||
		fail "alipay page pay: no pending order in the ledger"
	pass "alipay: page pay URL opened by the payer creates the order"
else
	say "alipay page pay: the driver gave no pay_url payload ($(field .parse.payer)); not checked"
fi

# a bad signature is refused like Alipay does (40002, signed)
resp=$(curl -s "$SIM/alipay/gateway.do" --data-urlencode app_id=2021000000000001 \
	--data-urlencode method=alipay.trade.query --data-urlencode sign_type=RSA2 \
	--data-urlencode charset=utf-8 --data-urlencode version=1.0 \
	--data-urlencode 'timestamp=2024-01-01 00:00:00' \
	--data-urlencode 'biz_content={"out_trade_no":"PSA1001"}' \
	--data-urlencode sign=AAAA)
[ "$(jq -r .alipay_trade_query_response.sub_code <<<"$resp")" = isv.invalid-signature ] &&
	[ "$(jq -r .alipay_trade_query_response.code <<<"$resp")" = 40002 ] &&
	[ -n "$(jq -r '.sign // empty' <<<"$resp")" ] ||
	fail "alipay bad signature: $resp"
pass "alipay: a bad request signature gets 40002 isv.invalid-signature"

# ------------------------------------------------------------ wechat
order w1 PSW1001 100 wechat native_qr '.payee_kind="wechat_openid" | .payee_account="oOPENID0001"'
drv wechat pay w1 --send
expect .parse.code 200 "wechat native"
case $(field '.parse.payer | to_entries | map(.value) | join(" ")') in
*weixin://wxpay/bizpayurl?pr=*) ;;
*) fail "wechat native: no code_url: $OUT" ;;
esac
drv wechat query w1 --send
expect .parse.sub_code NOTPAY "wechat query before paying"
sim_pay wechat PSW1001
drv wechat query w1 --send
expect .parse.sub_code SUCCESS "wechat query after paying"
expect .parse.amount 100 "wechat query after paying"
drv wechat refund w1 --send
expect .parse.sub_code PROCESSING "wechat refund"
wait_notice '"/notify/wechat".*REFUND.SUCCESS' 1
drv wechat refund_query w1 --send
expect .parse.sub_code SUCCESS "wechat refund query"
wait_notice '"/notify/wechat".*TRANSACTION.SUCCESS' 1
notify wechat
expect .rc 0 "wechat payment notification verifies and decrypts"
expect .notify.order_id PSW1001 "wechat notification"
expect .notify.code SUCCESS "wechat notification"
drv wechat payout w1 --send
expect .parse.code 200 "wechat transfer"
wait_ledger '.payouts[]|select(.out_no=="PPSW1001").state' success "wechat transfer"
drv wechat payout_query w1 --send
expect .parse.sub_code SUCCESS "wechat transfer query"
pass "wechat: native, query, pay, query, refund, refund query, notification, transfer"

code=$(curl -s -o "$TEST_DIR/wx.out" -w '%{http_code}' \
	"$SIM/wechat/v3/pay/transactions/out-trade-no/PSW1001?mchid=1900000001")
[ "$code" = 401 ] && [ "$(jq -r .code "$TEST_DIR/wx.out")" = SIGN_ERROR ] ||
	fail "wechat without Authorization: HTTP $code $(cat "$TEST_DIR/wx.out")"
pass "wechat: an unsigned request gets 401 SIGN_ERROR"

# ------------------------------------------------------------ bank
# The front consume is the payer's: build_pay writes no request, parse_pay
# hands out the signed form (form, pay_url, form_fields), and the payer's
# browser (curl here) posts it to paysim's front endpoint.

# pay_form FILE [JQ]: PAY_OUT (saved drvtool output of a bank pay) posts
# its form_fields to its pay_url as the payer's browser would, after the
# jq edit JQ (to tamper with them); FILE.html = the page, FILE.hdr = its
# headers; CODE = the HTTP status, RESP = the Paysim-Resp-Code header.
pay_form() {
	local f=$TEST_DIR/$1 url args=() kv

	url=$(jq -r .parse.payer.pay_url <<<"$PAY_OUT")
	jq -r .parse.payer.form_fields <<<"$PAY_OUT" | jq -c "${2:-.}" >"$f.fields" ||
		fail "pay_form: no form_fields: $PAY_OUT"
	while IFS= read -r kv; do
		args+=(--data-urlencode "$kv")
	done < <(jq -r 'to_entries[] | "\(.key)=\(.value)"' "$f.fields")
	CODE=$(curl -s -m 10 -o "$f.html" -D "$f.hdr" -w '%{http_code}' "${args[@]}" "$url")
	RESP=$(tr -d '\r' <"$f.hdr" | sed -n 's/^[Pp]aysim-[Rr]esp-[Cc]ode: //p')
}

order b1 PSB10001 2500 bank pc
drv bank pay b1
expect .rc 0 "bank front consume"
expect .request.method null "bank build_pay writes no request"
expect .parse.code FORM "bank front consume"
expect .parse.payer.pay_url "$SIM/bank/gateway/api/frontTransReq.do" "bank front consume"
case $(field .parse.payer.form) in
*"<form id=\"pay_form\" method=\"post\""*"action=\"$SIM/bank/gateway/api/frontTransReq.do\""*"submit()"* | \
	*"submit()"*"<form id=\"pay_form\" method=\"post\""*"action=\"$SIM/bank/gateway/api/frontTransReq.do\""*) ;;
*) fail "bank pay: no auto-submitting form: $OUT" ;;
esac
PAY_OUT=$OUT
BID=$(field '.parse.payer.form_fields | fromjson | .orderId')
[ "$BID" = PSB10001 ] || fail "bank pay: orderId '$BID' in form_fields"
drv bank query b1 --send
expect .parse.code 34 "bank query before the payer posts the form (no such transaction)"
[ "$(ledger '[.orders[]|select(.out_trade_no=="PSB10001")]|length')" = 0 ] ||
	fail "bank: the order exists before the payer posted the form"

# a tampered form (the amount) is refused: no order
pay_form b1t '.txnAmt = "1"'
[ "$CODE" = 400 ] && [ "$RESP" = 11 ] ||
	fail "bank tampered form: HTTP $CODE respCode '$RESP' $(head -c 300 "$TEST_DIR/b1t.html")"
[ "$(ledger '[.orders[]|select(.out_trade_no=="PSB10001")]|length')" = 0 ] ||
	fail "bank: a tampered form created the order"

pay_form b1
[ "$CODE" = 200 ] && [ "$RESP" = 00 ] && grep -q 'id="orderId">PSB10001<' "$TEST_DIR/b1.html" ||
	fail "bank front consume: HTTP $CODE respCode '$RESP' $(head -c 300 "$TEST_DIR/b1.html")"
[ "$(ledger '.orders[]|select(.out_trade_no=="PSB10001")|"\(.state) \(.trade_type) \(.amount)"')" = "pending front 2500" ] ||
	fail "bank front consume: ledger $(ledger '.orders[]|select(.out_trade_no=="PSB10001")')"
# the payer reloads the page: the same order, no duplicate
pay_form b1
[ "$CODE" = 200 ] && [ "$RESP" = 00 ] ||
	fail "bank form posted twice: HTTP $CODE respCode '$RESP'"
[ "$(ledger '[.orders[]|select(.out_trade_no=="PSB10001")]|length')" = 1 ] ||
	fail "bank form posted twice: two orders"
drv bank query b1 --send
expect .parse.code 00 "bank query before paying"
expect .parse.sub_code 05 "bank query before paying"
sim_pay bank "$BID"
drv bank query b1 --send
expect .parse.sub_code 00 "bank query after paying"
expect .parse.amount 2500 "bank query after paying"
QID=$(field .parse.channel_trade_no)
order b1 PSB10001 2500 bank pc ".channel_trade_no=\"$QID\" | .payee_kind=\"bank_card\" | .payee_account=\"6216261000000000018\""
drv bank refund b1 --send
expect .parse.code 00 "bank refund"
wait_notice '"/notify/bank".*txnType=04' 1
drv bank refund_query b1 --send
expect .parse.sub_code 00 "bank refund query"
wait_notice "\"/notify/bank\".*orderId=$BID&.*txnType=01" 1
notify bank
expect .rc 0 "bank notification verifies"
expect .notify.order_id PSB10001 "bank payment notification"
expect .notify.code 00 "bank payment notification"
expect .notify.amount 2500 "bank payment notification"
drv bank payout b1 --send
expect .parse.code 00 "bank payout"
wait_ledger '.payouts[]|select(.out_no=="PPSB10001").state' success "bank payout"
drv bank payout_query b1 --send
expect .parse.sub_code 00 "bank payout query"
pass "bank: payer's form (tampered refused, reposted), query, pay, query, refund, refund query, notification, payout"

# scripted payment: the payer pays by itself, the backUrl notification
# follows and the query (orderId + txnTime) finds it paid
order b2 PSB10002 990 bank h5
sim_script '{"order":"PSB10002","faults":{"pay":"success"}}'
drv bank pay b2
expect .parse.code FORM "bank h5 front consume"
[ "$(field '.parse.payer.form_fields | fromjson | .channelType')" = 08 ] ||
	fail "bank h5: channelType $(field '.parse.payer.form_fields')"
PAY_OUT=$OUT
pay_form b2
[ "$CODE" = 200 ] || fail "bank h5 form: HTTP $CODE"
wait_notice '"/notify/bank".*orderId=PSB10002&.*txnType=01' 1
notify bank
expect .rc 0 "bank scripted payment: notification verifies"
expect .notify.order_id PSB10002 "bank scripted payment notification"
expect .notify.code 00 "bank scripted payment notification"
drv bank query b2 --send
expect .parse.sub_code 00 "bank query of the scripted payment"
pass "bank: scripted pay of a posted form, notification, query by orderId + txnTime"

# ------------------------------------------------------------ faults
order f1 PSF1001 500 alipay native_qr
sim_script '{"order":"PSF1001","faults":{"http_status":503}}'
drv alipay pay f1 --send
expect .response.status 503 "scripted 503"
sim_script '{"order":"PSF1001","faults":{"code":"40004","sub_code":"ACQ.SYSTEM_ERROR"}}'
drv alipay pay f1 --send
expect .parse.code 40004 "scripted result code"
expect .parse.sub_code ACQ.SYSTEM_ERROR "scripted result code"
[ "$(ledger '[.orders[]|select(.out_trade_no=="PSF1001")]|length')" = 0 ] ||
	fail "a scripted error still created the order"
pass "faults: http_status 503 and code 40004/ACQ.SYSTEM_ERROR answered as scripted"

sim_script '{"order":"PSF1001","faults":{"delay_ms":400}}'
t0=$(date +%s%N)
drv alipay pay f1 --send
t1=$(date +%s%N)
expect .parse.code 10000 "delayed answer"
[ $(((t1 - t0) / 1000000)) -ge 400 ] || fail "delay_ms 400 answered in $(((t1 - t0) / 1000000)) ms"
order f2 PSF1002 500 alipay native_qr
sim_script '{"order":"PSF1002","faults":{"timeout":true}}'
t0=$(date +%s%N)
drv alipay query f2 --send --timeout 600
t1=$(date +%s%N)
[ "$(field '.response.status // 0')" = 0 ] || fail "timeout fault answered: $OUT"
[ "$(field .rc)" != 0 ] || fail "timeout fault: drvtool rc 0"
[ $(((t1 - t0) / 1000000)) -ge 500 ] || fail "timeout fault: gave up after $(((t1 - t0) / 1000000)) ms"
pass "faults: delay_ms and timeout (no answer)"

# callbacks: drop, duplicate, bad signature; scripted payment. The
# receiver gets 3 more TRANSACTION.SUCCESS deliveries: 2 for the
# duplicate, 1 badly signed, none for the dropped one.
n0=$(grep -c '"/notify/wechat".*TRANSACTION.SUCCESS' "$RECV_LOG")
for c in drop duplicate bad_signature; do
	order "c_$c" "PSC_$c" 300 wechat native_qr
	sim_script "{\"order\":\"PSC_$c\",\"faults\":{\"callback\":\"$c\",\"pay\":\"success\"}}"
	drv wechat pay "c_$c" --send
	expect .parse.code 200 "callback $c order"
done
wait_until 6 notices_ge '"/notify/wechat".*TRANSACTION.SUCCESS' $((n0 + 3)) ||
	fail "callbacks: $((NOTICES - n0)) TRANSACTION.SUCCESS deliveries, want 3 (2 duplicate, 1 badly signed)"
wait_ledger '.orders[]|select(.out_trade_no=="PSC_duplicate").notify_acked' 2 \
	"callback duplicate"
state=$(ledger '.orders[]|select(.out_trade_no=="PSC_drop")|"\(.state) \(.notify_sent)"')
[ "$state" = "success 0" ] || fail "callback drop: ledger says '$state'"
dup=$(ledger '.orders[]|select(.out_trade_no=="PSC_duplicate").notify_acked')
[ "$dup" = 2 ] || fail "callback duplicate: $dup acknowledged deliveries"
# the wechat resource is encrypted: find the bad-signature delivery by
# elimination (the newest TRANSACTION.SUCCESS not verifying)
bad=0
while IFS= read -r line; do
	printf '%s\n' "$line" >"$TEST_DIR/inbound.json"
	notify wechat
	if [ "$(field .rc)" != 0 ]; then
		bad=$((bad + 1))
	fi
done < <(grep '"/notify/wechat".*TRANSACTION.SUCCESS' "$RECV_LOG")
[ "$bad" -ge 1 ] || fail "callback bad_signature: every notification verified"
pass "faults: callbacks dropped, duplicated, badly signed; scripted pay success"

order r1 PSR1001 1000 wechat native_qr
sim_script '{"order":"PSR1001","faults":{"pay":"success","refund":"processing"}}'
drv wechat pay r1 --send
wait_ledger '.orders[]|select(.out_trade_no=="PSR1001").state' success \
	"refund processing: the payer pays"
drv wechat refund r1 --send
expect .parse.sub_code PROCESSING "refund processing"
# a refund without the fault settles after notify_delay_ms (50 ms): give
# this one 20 times that to settle wrongly
if wait_until 1 ledger_is '.refunds[]|select(.out_trade_no=="PSR1001").state' success; then
	fail "refund processing: the simulator settled the refund"
fi
drv wechat refund_query r1 --send
expect .parse.sub_code PROCESSING "refund stays processing"
pass "faults: refund stays processing"

# callback out_of_order: the notification is held back and a later one
# overtakes it. 1) the plain fault (held max(10 x notify_delay_ms, 500
# ms)): of two orders paid one after the other, the first one's
# notification arrives second. 2) "out_of_order:MS": a bank payment's
# notification is held 1.5 s, so the refund's notification (made after
# the payment) reaches the merchant before the payment's, as it can with
# a real gateway; both still verify and are acknowledged.
order oo1 PSO1001 300 alipay native_qr
order oo2 PSO1002 300 alipay native_qr
sim_script '{"order":"PSO1001","faults":{"callback":"out_of_order"}}'
drv alipay pay oo1 --send
expect .parse.code 10000 "out_of_order order 1"
drv alipay pay oo2 --send
expect .parse.code 10000 "out_of_order order 2"
sim_pay alipay PSO1001
sim_pay alipay PSO1002
wait_notice '"/notify/alipay".*out_trade_no=PSO1002' 1
[ "$(grep -c '"/notify/alipay".*out_trade_no=PSO1001' "$RECV_LOG")" = 0 ] ||
	fail "out_of_order: PSO1001's notification was not held back"
wait_notice '"/notify/alipay".*out_trade_no=PSO1001' 1
l1=$(grep -n '"/notify/alipay".*out_trade_no=PSO1001' "$RECV_LOG" | head -n 1 | cut -d: -f1)
l2=$(grep -n '"/notify/alipay".*out_trade_no=PSO1002' "$RECV_LOG" | head -n 1 | cut -d: -f1)
[ "$l2" -lt "$l1" ] || fail "out_of_order: PSO1002 (line $l2) did not overtake PSO1001 (line $l1)"
notify alipay
expect .rc 0 "out_of_order: the held notification verifies"
expect .notify.order_id PSO1001 "out_of_order: the held notification"

order oo3 PSO10003 700 bank pc
sim_script '{"order":"PSO10003","faults":{"callback":"out_of_order:1500","pay":"success"}}'
sim_script '{"order":"RPSO10003","faults":{}}' # the refund's notification: normal
drv bank pay oo3
PAY_OUT=$OUT
pay_form oo3
[ "$CODE" = 200 ] || fail "out_of_order bank form: HTTP $CODE"
wait_ledger '.orders[]|select(.out_trade_no=="PSO10003").state' success \
	"out_of_order: the payer's form"
QID=$(ledger '.orders[]|select(.out_trade_no=="PSO10003" and .state=="success").trade_no')
[ -n "$QID" ] || fail "out_of_order: PSO10003 was not paid"
order oo3 PSO10003 700 bank pc ".channel_trade_no=\"$QID\""
drv bank refund oo3 --send
expect .parse.code 00 "out_of_order: refund of the paid order"
wait_notice '"/notify/bank".*orderId=RPSO10003&.*txnType=04' 1
[ "$(grep -c '"/notify/bank".*orderId=PSO10003&.*txnType=01' "$RECV_LOG")" = 0 ] ||
	fail "out_of_order: the payment's notification came before the refund's"
[ "$(ledger '.orders[]|select(.out_trade_no=="PSO10003").notify_sent')" = 0 ] ||
	fail "out_of_order: the payment's notification was already sent"
wait_notice '"/notify/bank".*orderId=PSO10003&.*txnType=01' 1
l1=$(grep -n '"/notify/bank".*orderId=RPSO10003&.*txnType=04' "$RECV_LOG" | head -n 1 | cut -d: -f1)
l2=$(grep -n '"/notify/bank".*orderId=PSO10003&.*txnType=01' "$RECV_LOG" | head -n 1 | cut -d: -f1)
[ "$l1" -lt "$l2" ] || fail "out_of_order: refund notification line $l1, payment $l2"
notify bank
expect .rc 0 "out_of_order: the late payment notification verifies"
expect .notify.order_id PSO10003 "out_of_order: the late payment notification"
expect .notify.code 00 "out_of_order: the late payment notification"
wait_ledger '.orders[]|select(.out_trade_no=="PSO10003")|"\(.notify_sent) \(.notify_acked)"' \
	"1 1" "out_of_order: the late payment notification, sent once and acknowledged"
pass "faults: callback out_of_order (a later notification overtakes; a refund's before its payment's)"

# wildcard with a rate of 1
sim_script '{"order":"*","rate":1,"faults":{"code":"SYSTEM_ERROR"}}'
order x1 PSX1001 100 wechat native_qr
drv wechat pay x1 --send
expect .response.status 500 "wildcard fault"
expect .parse.code SYSTEM_ERROR "wildcard fault"
sim_script '{"order":"*","faults":null}'
drv wechat pay x1 --send
expect .parse.code 200 "wildcard fault removed"
pass "faults: a wildcard script with a rate, then removed"

# ------------------------------------------------------------ ledger
n=$(ledger '.orders|length')
[ "$n" -ge 8 ] || fail "ledger lists $n orders"
[ "$(ledger '.orders[]|select(.out_trade_no=="PSA1001")|"\(.state) \(.amount) \(.refunded)"')" = "success 8888 2222" ] ||
	fail "ledger PSA1001: $(ledger '.orders[]|select(.out_trade_no=="PSA1001")')"
[ "$(ledger '.refunds[]|select(.out_trade_no=="PSW1001").state')" = success ] ||
	fail "ledger: wechat refund not success"
[ "$(ledger '[.payouts[]|select(.state=="success")]|length')" -ge 2 ] ||
	fail "ledger: payouts $(ledger .payouts)"
curl -s -X POST "$SIM/_sim/reset" >/dev/null
[ "$(ledger '.orders|length')" = 0 ] || fail "reset left orders"
pass "ledger lists orders, refunds, payouts; reset empties it"

# ------------------------------------------------------------ sinks
# The merchant-notification sink: records deliveries, answers as scripted.
sink_post() { # sink_post NAME [curl args]: CODE
	local n=$1

	shift
	CODE=$(curl -s -m 5 -o "$TEST_DIR/sink.out" -w '%{http_code}' -X POST "$@" "$SIM/_sim/sink/$n")
}
sink_post m1 -H 'Content-Type: application/json' -H 'payroute-signature: t=1,v1=abc' \
	-H 'Payroute-Event: payment.succeeded' -H 'X-Other: 1' -d '{"id":"pay_1","status":"succeeded"}'
[ "$CODE" = 200 ] && [ "$(jq -c . "$TEST_DIR/sink.out")" = '{"ok":true}' ] ||
	fail "sink: HTTP $CODE $(cat "$TEST_DIR/sink.out")"
script_sink() {
	CODE=$(curl -s -o "$TEST_DIR/sink.out" -w '%{http_code}' -X POST "$SIM/_sim/sink_script" -d "$1")
}
script_sink '{"name":"m1","fail":2,"status":500}'
[ "$CODE" = 200 ] || fail "sink_script: HTTP $CODE $(cat "$TEST_DIR/sink.out")"
for want in 500 500 200; do
	sink_post m1 -H 'Content-Type: application/json' -d "{\"want\":$want}"
	[ "$CODE" = "$want" ] || fail "sink scripted fail: HTTP $CODE, expected $want"
done
script_sink '{"name":"m1","fail":1,"status":0}'
t0=$(date +%s%N)
sink_post m1 -m 1 -d '{"held":true}'
t1=$(date +%s%N)
[ "$CODE" = 000 ] && [ $(((t1 - t0) / 1000000)) -ge 900 ] ||
	fail "sink status 0: HTTP $CODE after $(((t1 - t0) / 1000000)) ms (expected no answer)"
script_sink '{"name":"m1","fail":1,"status":200,"delay_ms":300}'
t0=$(date +%s%N)
sink_post m1 -d slow
t1=$(date +%s%N)
[ "$CODE" = 200 ] && [ $(((t1 - t0) / 1000000)) -ge 300 ] ||
	fail "sink delay_ms 300: HTTP $CODE after $(((t1 - t0) / 1000000)) ms"
for bad in '{"name":"m1"}' '{"name":"m 1","fail":1}' '{"name":"m1","fail":1,"status":99}' \
	'{"name":"m1","fail":1,"delay_ms":-1}' '{"name":"m1","fail":1,"colour":"red"}'; do
	script_sink "$bad"
	[ "$CODE" = 400 ] || fail "sink_script $bad: HTTP $CODE"
done
curl -s "$SIM/_sim/sink/m1" >"$TEST_DIR/sink.json"
jq -e '.name == "m1" and .count == 6 and .total == 6 and .dropped == 0 and
	([.received[].status_answered] == [200, 500, 500, 200, 0, 200]) and
	(.received[0].headers["Content-Type"] == "application/json") and
	(.received[0].headers["Payroute-Signature"] == "t=1,v1=abc") and
	(.received[0].headers["Payroute-Event"] == "payment.succeeded") and
	(.received[0].body == "{\"id\":\"pay_1\",\"status\":\"succeeded\"}") and
	(.received[4].body == "{\"held\":true}") and
	([.received[].at_ms] | (. == sort) and all(. > 1600000000000))' \
	"$TEST_DIR/sink.json" >/dev/null || fail "sink m1: $(head -c 2000 "$TEST_DIR/sink.json")"
[ "$(curl -s "$SIM/_sim/sink/nobody" | jq -c '[.name,.count,.received]')" = '["nobody",0,[]]' ] ||
	fail "sink: an unknown sink is not empty"
# bounded: 1000 records per sink, the oldest dropped and counted
curl -s -o /dev/null -X POST -d x "$SIM/_sim/sink/many?[1-1005]"
[ "$(curl -s "$SIM/_sim/sink/many" | jq -c '[.count,.total,.dropped]')" = '[1000,1005,5]' ] ||
	fail "sink cap: $(curl -s "$SIM/_sim/sink/many" | jq -c '[.count,.total,.dropped]')"
[ "$(curl -s "$SIM/_sim/sink" | jq -c '[.sinks[].name]|sort')" = '["m1","many"]' ] ||
	fail "sink list: $(curl -s "$SIM/_sim/sink")"
curl -s -X POST "$SIM/_sim/reset" >/dev/null
[ "$(curl -s "$SIM/_sim/sink" | jq -c '.sinks')" = '[]' ] &&
	[ "$(curl -s "$SIM/_sim/sink/m1" | jq '.count')" = 0 ] || fail "reset left sinks"
pass "sinks: record headers and bodies, scripted 500 / no answer / delay, bounded, reset"

# ------------------------------------------------------------ alipay barcode
# alipay.trade.pay (contrib/paysim/sim_alipay.c): signed here with openssl,
# since drvtool's orders carry no auth_code. Paid in the answer and
# notified; an auth_code starting with 99 waits for the payer (10003) until
# /_sim/pay; a bad payment code is refused; scripts apply as elsewhere.
# Notifications go to a sink (answered 200 without "success": retried, so
# at least one record).
bar_pay() { # bar_pay OUT_TRADE_NO AUTH_CODE [curl args]: BAR = the answer
	local no=$1 ac=$2 ts='2024-01-01 00:00:00' biz sig nurl="$SIM/_sim/sink/bar"

	shift 2
	biz="{\"out_trade_no\":\"$no\",\"total_amount\":\"0.99\",\"subject\":\"barcode\",\"scene\":\"bar_code\",\"auth_code\":\"$ac\",\"product_code\":\"FACE_TO_FACE_PAYMENT\"}"
	sig=$(printf '%s' "app_id=2021000000000001&biz_content=$biz&charset=utf-8&format=JSON&method=alipay.trade.pay&notify_url=$nurl&sign_type=RSA2&timestamp=$ts&version=1.0" |
		openssl dgst -sha256 -sign "$KEYS/alipay_app_private.pem" | base64 -w0)
	BAR=$(curl -s -m 10 "$@" "$SIM/alipay/gateway.do" --data-urlencode app_id=2021000000000001 \
		--data-urlencode method=alipay.trade.pay --data-urlencode format=JSON \
		--data-urlencode charset=utf-8 --data-urlencode sign_type=RSA2 \
		--data-urlencode "timestamp=$ts" --data-urlencode version=1.0 \
		--data-urlencode "notify_url=$nurl" --data-urlencode "biz_content=$biz" \
		--data-urlencode "sign=$sig")
}
bar() { jq -r ".alipay_trade_pay_response$1" <<<"$BAR"; }
bar_state() { ledger ".orders[]|select(.out_trade_no==\"$1\").state"; }
# bar_notice NO: waits (bounded) for NO's TRADE_SUCCESS at the sink and
# lets the driver verify it
bar_sunk() {
	curl -s -m 5 "$SIM/_sim/sink/bar" | jq -e --arg no "out_trade_no=$1&" \
		'[.received[] | select((.body | contains($no)) and (.body | contains("trade_status=TRADE_SUCCESS")))] | length > 0' \
		>/dev/null
}
bar_notice() {
	wait_until 5 bar_sunk "$1" ||
		fail "alipay barcode: no TRADE_SUCCESS of $1 at the sink within 5s"
	curl -s "$SIM/_sim/sink/bar" | jq -c --arg no "out_trade_no=$1&" \
		'[.received[] | select(.body | contains($no))][0] |
		 {method: "POST", path: "/notify/alipay", query: null,
		  headers: (.headers | to_entries | map([.key, .value])), body}' \
		>"$TEST_DIR/inbound.json"
	notify alipay
	expect .rc 0 "alipay barcode notification of $1 verifies"
	expect .notify.order_id "$1" "alipay barcode notification"
	expect .notify.code TRADE_SUCCESS "alipay barcode notification"
}

bar_pay PSAB001 286912345678901234
[ "$(bar .code)" = 10000 ] && [ -n "$(bar '.trade_no // empty')" ] &&
	[ "$(bar .out_trade_no)" = PSAB001 ] && [ "$(bar .total_amount)" = 0.99 ] &&
	[ -n "$(bar '.gmt_payment // empty')" ] && [ -n "$(bar '.buyer_logon_id // empty')" ] &&
	[ -n "$(jq -r '.sign // empty' <<<"$BAR")" ] || fail "alipay barcode: $BAR"
[ "$(bar_state PSAB001)" = success ] || fail "alipay barcode: ledger $(bar_state PSAB001)"
bar_notice PSAB001
bar_pay PSAB001 286912345678901234
[ "$(bar .sub_code)" = ACQ.TRADE_HAS_SUCCESS ] || fail "alipay barcode paid twice: $BAR"
pass "alipay barcode: paid in the signed answer, notified, not twice"

bar_pay PSAB002 990000000000000002
[ "$(bar .code)" = 10003 ] && [ -n "$(bar '.trade_no // empty')" ] ||
	fail "alipay barcode 99: $BAR"
[ "$(bar_state PSAB002)" = pending ] || fail "alipay barcode 99: ledger $(bar_state PSAB002)"
sim_pay alipay PSAB002
[ "$(bar_state PSAB002)" = success ] || fail "alipay barcode 99 after /_sim/pay: $(bar_state PSAB002)"
bar_notice PSAB002
pass "alipay barcode: a 99 code waits for the payer (10003) until /_sim/pay"

bar_pay PSAB003 28abc
[ "$(bar .code)/$(bar .sub_code)" = 40004/ACQ.PAYMENT_AUTH_CODE_INVALID ] &&
	[ -z "$(bar_state PSAB003)" ] || fail "alipay barcode bad code: $BAR"
sim_script '{"order":"PSAB004","faults":{"code":"40004","sub_code":"ACQ.BUYER_BALANCE_NOT_ENOUGH"}}'
bar_pay PSAB004 286912345678901234
[ "$(bar .code)/$(bar .sub_code)" = 40004/ACQ.BUYER_BALANCE_NOT_ENOUGH ] &&
	[ -z "$(bar_state PSAB004)" ] || fail "alipay barcode scripted code: $BAR"
sim_script '{"order":"PSAB005","faults":{"timeout":true}}'
bar_pay PSAB005 286912345678901234 -m 2
[ -z "$BAR" ] && [ "$(bar_state PSAB005)" = success ] ||
	fail "alipay barcode scripted timeout: '$BAR', ledger $(bar_state PSAB005)"
sim_script '{"order":"PSAB006","faults":{"pay":"fail"}}'
bar_pay PSAB006 286912345678901234
[ "$(bar .sub_code)" = ACQ.PAYMENT_FAIL ] && [ "$(bar_state PSAB006)" = closed ] ||
	fail "alipay barcode scripted pay fail: $BAR, ledger $(bar_state PSAB006)"
pass "alipay barcode: bad code refused; scripted code, timeout and failure"

# ------------------------------------------------------------ signing pool
# Answers signed on the pool's threads come back to the loop out of the
# order they were asked for at the workers, yet each must carry its own
# signature: 36 queries at once (12 per protocol, every answer different:
# its own order, its own amount), each verified and checked by its driver.
for i in $(seq 12); do
	order pa$i PSP$((1000 + i)) $((3000 + i)) alipay native_qr
	drv alipay pay pa$i --send
	expect .parse.code 10000 "signing pool: alipay precreate $i"
	order pw$i PSP$((2000 + i)) $((4000 + i)) wechat native_qr
	drv wechat pay pw$i --send
	expect .rc 0 "signing pool: wechat native $i"
	order pb$i PSP$((3000 + i)) $((5000 + i)) bank pc
done
sig0=$(curl -s "$SIM/_sim/stats" | jq .signer.signatures)
qpids=()
for i in $(seq 12); do
	for p in pa:alipay pw:wechat pb:bank; do
		"$DRVTOOL" --driver "$(built_driver "${p#*:}")" \
			--config "$TEST_DIR/${p#*:}.json" query \
			--order "$TEST_DIR/${p%%:*}$i.json" --send \
			>"$TEST_DIR/q_${p%%:*}$i.out" 2>>"$TEST_DIR/drvtool.err" &
		qpids+=($!)
	done
done
for p in "${qpids[@]}"; do
	wait "$p" || true
done
for i in $(seq 12); do
	OUT=$(cat "$TEST_DIR/q_pa$i.out")
	expect .parse.rc 0 "signing pool: alipay query $i verifies"
	expect .parse.sub_code WAIT_BUYER_PAY "signing pool: alipay query $i"
	expect .parse.amount $((3000 + i)) "signing pool: alipay query $i"
	OUT=$(cat "$TEST_DIR/q_pw$i.out")
	expect .parse.rc 0 "signing pool: wechat query $i verifies"
	expect .parse.amount $((4000 + i)) "signing pool: wechat query $i"
	OUT=$(cat "$TEST_DIR/q_pb$i.out")
	expect .parse.code 34 "signing pool: bank query $i (verified, no such order)"
done
st=$(curl -s "$SIM/_sim/stats")
[ "$(jq .signer.threads <<<"$st")" = 2 ] &&
	[ "$(jq .signer.failures <<<"$st")" = 0 ] &&
	[ "$(jq .signer.pending <<<"$st")" = 0 ] &&
	[ "$(jq .signer.signatures <<<"$st")" -ge $((sig0 + 36)) ] ||
	fail "signing pool: stats $st (signatures before: $sig0)"
pass "signing pool: 36 concurrent answers, each verified with its own signature"

exit 0
