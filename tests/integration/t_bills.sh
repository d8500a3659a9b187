#!/usr/bin/env bash
# t_bills.sh - the channels' daily bills (driver ABI 1.3) end to end without
# a daemon: orders are made on the simulator through the real drivers
# (drvtool, as t_paysim.sh does), then drvtool's "bill" op fetches the day's
# bill as payrouted does (core/runtime/billfetch.c: the driver's bill request, its
# signed answer, the download into a temporary file) and reads it with the
# driver's reader: Alipay's zip of GBK CSVs, WeChat Pay's gzip with its
# SHA1, the bank's zipped settlement file with its SHA-256. Each row must
# be the ledger's (ids, amounts, fees at paysim's 60 bps), the scripted
# bill faults (a row left out, a wrong amount, a fee above contract, a
# charge nobody sent us) must show, and a day without trade has no bill.
# No PostgreSQL needed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

DRVTOOL=$top_builddir/tests/interop/drvtool
[ -x "$DRVTOOL" ] || fail "drvtool is not built ($DRVTOOL; make check builds it)"
require_tools jq curl openssl python3

SIM_EXTRA='{"notify_attempts":1}'
SIM_ARGS="--sign-threads 0"
sim_start
pass "paysim listens on 127.0.0.1:$SPORT"

NOW_MS=$(($(date +%s) * 1000))
DAY=$(TZ=Asia/Shanghai date +%F)
NURL=$SIM/_sim/sink/notify

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

# order FILE ID AMOUNT ENV REFUND_AMOUNT [jq edit]
order() {
	local f=$TEST_DIR/$1.json
	jq -n --arg id "$2" --argjson amt "$3" --arg env "$4" \
		--argjson ramt "$5" --arg nurl "$NURL" --argjson now "$NOW_MS" \
		'{order_id:$id, amount:$amt, currency:"CNY", environment:$env,
		  subject:"bill test", notify_url:$nurl, created_at_ms:$now,
		  client_ip:"127.0.0.1", refund_id:("R" + $id),
		  refund_amount:$ramt, total_amount:$amt,
		  payout_id:("P" + $id), payee_name:"Zhang San",
		  payee_kind:"bank_card", payee_account:"6216261000000000018"}' \
		>"$f" || fail "cannot write $f"
	if [ $# -gt 5 ]; then
		jq "$6" "$f" >"$f.tmp" && mv "$f.tmp" "$f"
	fi
}
# drv DRIVER OP [ORDERFILE] [drvtool args]: OUT = drvtool's JSON
drv() {
	local d=$1 op=$2 so args=()

	shift 2
	if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
		args=(--order "$TEST_DIR/$1.json")
		shift
	fi
	so=$(built_driver "$d") || skip "driver $d is not built"
	OUT=$("$DRVTOOL" --driver "$so" --config "$TEST_DIR/$d.json" "$op" \
		"${args[@]}" "$@" 2>>"$TEST_DIR/drvtool.err")
	[ -n "$OUT" ] || fail "drvtool $d $op printed nothing ($(tail -3 "$TEST_DIR/drvtool.err"))"
}
field() { jq -r "$1" <<<"$OUT"; }
expect() { # expect JQ WANT WHAT
	local got

	got=$(field "$1")
	[ "$got" = "$2" ] || fail "$3: $1 is '$got', expected '$2' (drvtool: $(head -c 2000 <<<"$OUT"))"
}
ledger_is() {
	LEDGER_GOT=$(curl -s -m 5 "$SIM/_sim/ledger" | jq -r "$1")
	[ "$LEDGER_GOT" = "$2" ]
}
wait_ledger() {
	wait_until 5 ledger_is "$1" "$2" ||
		fail "$3: the ledger says '$LEDGER_GOT' for $1, want '$2'"
}
bill_script() { _sim_post /_sim/bill_script "$1" "bill script $1"; }
# rows: the bill's rows, one compact line each, sorted
rows() {
	field '[.parts[].rows[] | "\(.kind) \(.order_id) \(.refund_id) \(.amount) \(.fee)"] | sort | join(";")'
}

# ------------------------------------------------------------ alipay
order a1 BA1001 1000 native_qr 250
order a2 BA1002 2000 native_qr 0
for o in a1 a2; do
	drv alipay pay $o --send
	expect .parse.code 10000 "alipay precreate $o"
done
sim_pay alipay BA1001
sim_pay alipay BA1002
drv alipay refund a1 --send
expect .parse.code 10000 "alipay refund"
drv alipay bill --day "$DAY"
expect .rc 0 "alipay bill"
expect '.parts | length' 1 "alipay bill parts"
expect '.parts[0].url | test("/alipay/billfile\\?token=")' true "alipay bill url"
# 60 bps, rounded up: 1000 -> 6, 2000 -> 12, the refund of 250 gives
# 1.5 -> 2 back
[ "$(rows)" = "payment BA1001  1000 6;payment BA1002  2000 12;refund BA1001 RBA1001 250 -2" ] ||
	fail "alipay bill rows: $(rows)"
expect '.parts[0].rows[0].channel_trade_no | length > 10' true "alipay trade_no"
pass "alipay: the day's trade bill (zip of GBK CSV) read row by row, summary checked"

bill_script '{"channel":"alipay","omit":["BA1002"],"amount":{"BA1001":999},
	"fee":{"BA1001":50},"extra":[{"order":"GHOST01","amount":500}]}'
drv alipay bill --day "$DAY"
expect .rc 0 "alipay bill with faults"
[ "$(rows)" = "payment BA1001  999 50;payment GHOST01  500 3;refund BA1001 RBA1001 250 -2" ] ||
	fail "alipay bill with faults: $(rows)"
pass "alipay: scripted faults (left out, wrong amount, fee, a charge nobody sent)"

bill_script '{"channel":"alipay"}'
drv alipay bill --day 2001-01-01
expect .rc -2 "alipay bill of a day without trade"
expect '.parts[0].error | test("isp.bill_not_exist")' true "alipay no bill"
pass "alipay: no bill for a day without trade (isp.bill_not_exist)"

# ------------------------------------------------------------ wechat
order w1 BW1001 100 native_qr 25
drv wechat pay w1 --send
expect .parse.code 200 "wechat native"
sim_pay wechat BW1001
drv wechat refund w1 --send
wait_ledger '.refunds[]|select(.out_refund_no=="RBW1001").state' success "wechat refund"
drv wechat bill --day "$DAY"
expect .rc 0 "wechat bill"
expect .parts[0].hash_alg SHA1 "wechat bill digest"
expect '.parts[0].hash_hex | length' 40 "wechat bill digest"
# 0.6 fen rounds up to 1, and so does the refund's 0.15 fen
[ "$(rows)" = "payment BW1001  100 1;refund BW1001 RBW1001 25 -1" ] ||
	fail "wechat bill rows: $(rows)"
pass "wechat: tradebill, signed download of the gzip, SHA1 checked, rows read"

drv wechat bill --day 2001-01-01
expect .rc -2 "wechat bill of a day without trade"
pass "wechat: NO_STATEMENT_EXIST is no bill"

# ------------------------------------------------------------ bank
# The payer posts the driver's signed form (as in t_paysim.sh); the
# scripted payment pays by itself.
order b1 BB100001 2500 pc 500
sim_script '{"order":"BB100001","faults":{"pay":"success"}}'
drv bank pay b1
expect .parse.code FORM "bank front consume"
args=()
while IFS= read -r kv; do
	args+=(--data-urlencode "$kv")
done < <(field '.parse.payer.form_fields | fromjson | to_entries[] | "\(.key)=\(.value)"')
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "${args[@]}" "$(field .parse.payer.pay_url)")
[ "$code" = 200 ] || fail "bank form: HTTP $code"
wait_ledger '.orders[]|select(.out_trade_no=="BB100001").state' success "bank payment"
drv bank query b1 --send
QID=$(field .parse.channel_trade_no)
order b1 BB100001 2500 pc 500 ".channel_trade_no=\"$QID\""
drv bank refund b1 --send
expect .parse.code 00 "bank refund"
drv bank payout b1 --send
expect .parse.code 00 "bank payout"
wait_ledger '.payouts[]|select(.out_no=="PBB100001").state' success "bank payout"
wait_ledger '.refunds[]|select(.out_refund_no=="RBB100001").state' success "bank refund"
drv bank bill --day "$DAY"
expect .rc 0 "bank bill"
expect .parts[0].hash_alg SHA256 "bank file digest"
# 2500 -> 15, the refund of 500 -> 3 back, the payout 2500 -> 15
[ "$(rows)" = "payment BB100001  2500 15;payout PBB100001  2500 15;refund BB100001 RBB100001 500 -3" ] ||
	fail "bank bill rows: $(rows)"
pass "bank: the settlement file (zip, GBK fixed width, SHA-256) read row by row"

bill_script '{"channel":"bank","omit":["RBB100001"]}'
drv bank bill --day "$DAY"
[ "$(rows)" = "payment BB100001  2500 15;payout PBB100001  2500 15" ] ||
	fail "bank bill without the refund: $(rows)"
pass "bank: a refund left out of the file"

_sim_post /_sim/reset '{}' "reset"
drv bank bill --day "$DAY"
expect .rc -2 "bank bill after reset"
pass "bank: no file (respCode 98) once the ledger is empty"

exit 0
