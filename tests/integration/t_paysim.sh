#!/usr/bin/env bash
# t_paysim.sh - the channel simulator (contrib/paysim) against the real
# drivers: drvtool (tests/interop/drvtool) builds each request with a
# driver, sends it to paysim and parses paysim's signed answer with the
# same driver; paysim's notifications land in a small receiver and are fed
# back to the driver's parse_notify. Also: bad signatures are refused,
# scripted faults (503, a result code, delay, timeout, callback drop /
# duplicate / bad signature, refund stuck processing) happen as scripted,
# and the ledger reconciles. No PostgreSQL needed.
. "$(dirname "$0")/lib.sh"

PAYSIM=$top_builddir/contrib/paysim/paysim
DRVTOOL=$top_builddir/tests/interop/drvtool
KEYS=$top_srcdir/tests/keys

[ -x "$PAYSIM" ] || fail "paysim is not built ($PAYSIM)"
[ -x "$DRVTOOL" ] || fail "drvtool is not built ($DRVTOOL; make check builds it)"
for t in jq curl openssl python3; do
	command -v $t >/dev/null || skip "$t is not installed"
done

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
for i in $(seq 50); do
	[ -s "$TEST_DIR/recv.port" ] && break
	sleep 0.1
done
RPORT=$(cat "$TEST_DIR/recv.port" 2>/dev/null) || fail "the receiver did not start"

# ------------------------------------------------------------ paysim
serial_dec() {
	python3 -c "print(int('$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)', 16))"
}
BANK_CID=$(serial_dec "$KEYS/bank_merchant_cert.pem")
BANK_PCID=$(serial_dec "$KEYS/bank_platform_cert.pem")
WX_SERIAL=$(openssl x509 -in "$KEYS/wechat_merchant_cert.pem" -noout -serial | cut -d= -f2)
WX_PSERIAL=$(openssl x509 -in "$KEYS/wechat_platform_cert.pem" -noout -serial | cut -d= -f2)
APIV3=$(tr -d '\n' <"$KEYS/wechat_apiv3.key")

cat >"$TEST_DIR/sim.json" <<EOF
{"alipay":{"platform_private_key":"@$KEYS/alipay_platform_private.pem",
  "apps":[{"app_id":"2021000000000001","app_public_key":"@$KEYS/alipay_app_public.pem"}]},
 "wechat":{"platform_private_key":"@$KEYS/wechat_platform_private.pem",
  "platform_serial":"$WX_PSERIAL",
  "merchants":[{"mchid":"1900000001","serial_no":"$WX_SERIAL",
   "public_key":"@$KEYS/wechat_merchant_public.pem","apiv3_key":"$APIV3"}]},
 "bank":{"platform_private_key":"@$KEYS/bank_platform_private.pem",
  "platform_cert_id":"$BANK_PCID",
  "merchants":[{"mer_id":"777290058110048","cert_id":"$BANK_CID",
   "public_key":"@$KEYS/bank_merchant_cert.pem"}]},
 "notify_delay_ms":50, "auto_pay":false, "notify_attempts":2}
EOF
"$PAYSIM" --config "$TEST_DIR/sim.json" --port 0 >"$TEST_DIR/paysim.out" \
	2>"$TEST_DIR/paysim.err" &
BG_PIDS+=($!)
for i in $(seq 50); do
	grep -q "listening" "$TEST_DIR/paysim.out" 2>/dev/null && break
	sleep 0.1
done
SPORT=$(sed -n 's/^paysim listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$TEST_DIR/paysim.out")
[ -n "$SPORT" ] || { cat "$TEST_DIR/paysim.err" >&2; fail "paysim did not start"; }
SIM=http://127.0.0.1:$SPORT
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

sim_pay() {
	local code

	code=$(curl -s -o "$TEST_DIR/pay.out" -w '%{http_code}' -X POST \
		"$SIM/_sim/pay" -d "{\"channel\":\"$1\",\"out_trade_no\":\"$2\"}")
	[ "$code" = 200 ] || fail "/_sim/pay $1 $2: HTTP $code $(cat "$TEST_DIR/pay.out")"
}
script() {
	local code

	code=$(curl -s -o "$TEST_DIR/script.out" -w '%{http_code}' -X POST \
		"$SIM/_sim/script" -d "$1")
	[ "$code" = 200 ] || fail "/_sim/script $1: HTTP $code $(cat "$TEST_DIR/script.out")"
}
ledger() { curl -s "$SIM/_sim/ledger" | jq -r "$1"; }

# wait_notice GREP COUNT: waits (bounded) until COUNT lines of the receiver's
# log contain GREP; inbound.json = the first one.
wait_notice() {
	local n=0

	for i in $(seq 60); do
		n=$(grep -c -- "$1" "$RECV_LOG")
		[ "$n" -ge "$2" ] && break
		sleep 0.1
	done
	[ "$n" -ge "$2" ] || fail "expected $2 notification(s) matching $1, got $n"
	grep -- "$1" "$RECV_LOG" | head -n 1 >"$TEST_DIR/inbound.json"
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
sleep 0.2
drv wechat payout_query w1 --send
expect .parse.sub_code SUCCESS "wechat transfer query"
pass "wechat: native, query, pay, query, refund, refund query, notification, transfer"

code=$(curl -s -o "$TEST_DIR/wx.out" -w '%{http_code}' \
	"$SIM/wechat/v3/pay/transactions/out-trade-no/PSW1001?mchid=1900000001")
[ "$code" = 401 ] && [ "$(jq -r .code "$TEST_DIR/wx.out")" = SIGN_ERROR ] ||
	fail "wechat without Authorization: HTTP $code $(cat "$TEST_DIR/wx.out")"
pass "wechat: an unsigned request gets 401 SIGN_ERROR"

# ------------------------------------------------------------ bank
order b1 PSB10001 2500 bank pc
drv bank pay b1 --send
expect .parse.code 00 "bank front consume"
[ -n "$(field '.parse.payer.form // empty')" ] || fail "bank pay: no form payload: $OUT"
BID=$(field '.request.body' | tr '&' '\n' | sed -n 's/^orderId=//p')
[ -n "$BID" ] || fail "bank pay: no orderId in the request"
drv bank query b1 --send
expect .parse.code 00 "bank query before paying"
expect .parse.sub_code 05 "bank query before paying"
sim_pay bank "$BID"
drv bank query b1 --send
expect .parse.sub_code 00 "bank query after paying"
QID=$(field .parse.channel_trade_no)
order b1 PSB10001 2500 bank pc ".channel_trade_no=\"$QID\" | .payee_kind=\"bank_card\" | .payee_account=\"6216261000000000018\""
drv bank refund b1 --send
expect .parse.code 00 "bank refund"
wait_notice '"/notify/bank".*txnType=04' 1
drv bank refund_query b1 --send
expect .parse.sub_code 00 "bank refund query"
wait_notice "\"/notify/bank\".*orderId=$BID" 1
notify bank
expect .rc 0 "bank notification verifies"
drv bank payout b1 --send
expect .parse.code 00 "bank payout"
sleep 0.2
drv bank payout_query b1 --send
expect .parse.sub_code 00 "bank payout query"
pass "bank: front consume, query, pay, query, refund, refund query, notification, payout"

# ------------------------------------------------------------ faults
order f1 PSF1001 500 alipay native_qr
script '{"order":"PSF1001","faults":{"http_status":503}}'
drv alipay pay f1 --send
expect .response.status 503 "scripted 503"
script '{"order":"PSF1001","faults":{"code":"40004","sub_code":"ACQ.SYSTEM_ERROR"}}'
drv alipay pay f1 --send
expect .parse.code 40004 "scripted result code"
expect .parse.sub_code ACQ.SYSTEM_ERROR "scripted result code"
[ "$(ledger '[.orders[]|select(.out_trade_no=="PSF1001")]|length')" = 0 ] ||
	fail "a scripted error still created the order"
pass "faults: http_status 503 and code 40004/ACQ.SYSTEM_ERROR answered as scripted"

script '{"order":"PSF1001","faults":{"delay_ms":400}}'
t0=$(date +%s%N)
drv alipay pay f1 --send
t1=$(date +%s%N)
expect .parse.code 10000 "delayed answer"
[ $(((t1 - t0) / 1000000)) -ge 400 ] || fail "delay_ms 400 answered in $(((t1 - t0) / 1000000)) ms"
order f2 PSF1002 500 alipay native_qr
script '{"order":"PSF1002","faults":{"timeout":true}}'
t0=$(date +%s%N)
drv alipay query f2 --send --timeout 600
t1=$(date +%s%N)
[ "$(field '.response.status // 0')" = 0 ] || fail "timeout fault answered: $OUT"
[ "$(field .rc)" != 0 ] || fail "timeout fault: drvtool rc 0"
[ $(((t1 - t0) / 1000000)) -ge 500 ] || fail "timeout fault: gave up after $(((t1 - t0) / 1000000)) ms"
pass "faults: delay_ms and timeout (no answer)"

# callbacks: drop, duplicate, bad signature; scripted payment
for c in drop duplicate bad_signature; do
	order "c_$c" "PSC_$c" 300 wechat native_qr
	script "{\"order\":\"PSC_$c\",\"faults\":{\"callback\":\"$c\",\"pay\":\"success\"}}"
	drv wechat pay "c_$c" --send
	expect .parse.code 200 "callback $c order"
done
sleep 0.6
[ "$(grep -c 'PSC_drop\|"/notify/wechat"' "$RECV_LOG")" -ge 1 ] || true
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
script '{"order":"PSR1001","faults":{"pay":"success","refund":"processing"}}'
drv wechat pay r1 --send
sleep 0.3
drv wechat refund r1 --send
expect .parse.sub_code PROCESSING "refund processing"
sleep 0.3
drv wechat refund_query r1 --send
expect .parse.sub_code PROCESSING "refund stays processing"
pass "faults: refund stays processing"

# wildcard with a rate of 1
script '{"order":"*","rate":1,"faults":{"code":"SYSTEM_ERROR"}}'
order x1 PSX1001 100 wechat native_qr
drv wechat pay x1 --send
expect .response.status 500 "wildcard fault"
expect .parse.code SYSTEM_ERROR "wildcard fault"
script '{"order":"*","faults":null}'
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

exit 0
