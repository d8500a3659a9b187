# tests/integration/lib_pay.sh - helpers for the payment tests, sourced
# after lib.sh: the channel simulator, channels pointing at it, a
# merchant, and the merchant API.
#
#   sim_start                  starts contrib/paysim (SIM=its URL), with
#                              the test keys; auto_pay off: tests pay with
#                              sim_pay or script faults with sim_script.
#                              Alipay has two apps: 2021000000000001 in
#                              public-key mode, 2021000000000002 in
#                              public-key certificate mode, with the
#                              certificates make_alipay_certs.sh makes in
#                              ALIPAY_CERTS (their SNs: APP_CERT_SN,
#                              ALIPAY_CERT_SN, ALIPAY_ROOT_CERT_SN)
#                              SIM_EXTRA (a JSON object, optional) is
#                              merged over its config (jq '*'), e.g.
#                              SIM_EXTRA='{"notify_attempts":2}'
#                              SIM_ARGS: more paysim options, e.g.
#                              "--sign-threads 0" (sign on the loop)
#   sim_script JSON            POST /_sim/script
#   clear_script               no faults scripted for any order
#   sim_pay CHANNEL OUT_TRADE_NO   the payer pays (channel: alipay|wechat|bank)
#   driver_conf DRIVER [bad|cert]   prints a driver_config object for
#                              paysim ("bad": a key paysim does not know;
#                              "cert": alipay in certificate mode, which
#                              transfers need)
#   add_channel JSON           POST /admin/v1/channels, must answer 201
#   chan CODE DRIVER METHOD ENV WEIGHT [bad]   a channel's JSON
#   merchant_create ID         creates a merchant: MKEY, MSECRET
#   pay JSON [IDEM_KEY]        POST /v1/payments as the merchant
#   mget PATH                  GET PATH as the merchant
#   mpost PATH [JSON]          POST PATH as the merchant
#   paid AMOUNT NO [CHANNEL]   a succeeded wechat_pay native_qr payment
#                              (on CHANNEL when given); sets PID
#   refund PID NO AMOUNT [STAGE]   POST /v1/payments/PID/refunds
#   wait_pay, wait_wd, wait_refund ID STATUS [SECS]
#                              bounded wait for an order's status
#   wait_sql SQL VALUE [SECS]  bounded wait for a query's answer
#   sim_more NAME [PORT]       one more paysim with sim_start's config, on
#                              PORT (a free one by default): sets
#                              SIM_<NAME> (its URL), SPORT_<NAME> and
#                              SIM_<NAME>_PID; again with the same PORT
#                              after a kill starts it on that port again
#   pay_traced PREFIX          one wechat_pay native_qr payment PREFIX-N
#                              (N counts up from 1): sets PID, CH (its
#                              channel), ST (its status), MS (how long the
#                              merchant waited) and ATT (the channels of its
#                              attempts, from the stored trace); appends
#                              "PID CH ATT" to $TEST_DIR/payments.txt
#   breaker CHANNEL            GET its breaker (RESP_BODY); STATE its state
#   LOAD_CLIENT                tests/integration/load_client.sh: one client
#                              of a payment load (see its header)
#   acked_once ANSWERS PREFIX [WHERE]   every payment load_client.sh's
#                              lines in ANSWERS acknowledged (201) is
#                              stored once, with the id it was answered
#                              with; sets ACKED (their count), writes
#                              ANSWERS.acked and ANSWERS.stored ("NO ID")

PAYSIM=$top_builddir/contrib/paysim/paysim
KEYS=$top_srcdir/tests/keys
LOAD_CLIENT=$top_srcdir/tests/integration/load_client.sh

_serial_dec() {
	python3 -c "print(int('$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)', 16))"
}

sim_start() {
	local i

	[ -x "$PAYSIM" ] || fail "paysim is not built ($PAYSIM)"
	BANK_CID=$(_serial_dec "$KEYS/bank_merchant_cert.pem")
	BANK_PCID=$(_serial_dec "$KEYS/bank_platform_cert.pem")
	WX_SERIAL=$(openssl x509 -in "$KEYS/wechat_merchant_cert.pem" -noout -serial | cut -d= -f2)
	WX_PSERIAL=$(openssl x509 -in "$KEYS/wechat_platform_cert.pem" -noout -serial | cut -d= -f2)
	APIV3=$(tr -d '\n' <"$KEYS/wechat_apiv3.key")
	ALIPAY_CERTS=$TEST_DIR/alipay_certs
	sh "$KEYS/make_alipay_certs.sh" "$ALIPAY_CERTS" 2021000000000002 ||
		fail "cannot make the Alipay test certificates"
	. "$ALIPAY_CERTS/alipay_sn.env"
	cat >"$TEST_DIR/sim.json" <<EOF
{"alipay":{"platform_private_key":"@$KEYS/alipay_platform_private.pem",
  "platform_cert_sn":"$ALIPAY_CERT_SN", "root_cert_sn":"$ALIPAY_ROOT_CERT_SN",
  "apps":[{"app_id":"2021000000000001","app_public_key":"@$KEYS/alipay_app_public.pem"},
          {"app_id":"2021000000000002","app_public_key":"@$ALIPAY_CERTS/alipay_app_cert.pem",
           "app_cert_sn":"$APP_CERT_SN"}]},
 "wechat":{"platform_private_key":"@$KEYS/wechat_platform_private.pem",
  "platform_serial":"$WX_PSERIAL",
  "merchants":[{"mchid":"1900000001","serial_no":"$WX_SERIAL",
   "public_key":"@$KEYS/wechat_merchant_public.pem","apiv3_key":"$APIV3"}]},
 "bank":{"platform_private_key":"@$KEYS/bank_platform_private.pem",
  "platform_cert_id":"$BANK_PCID",
  "merchants":[{"mer_id":"777290058110048","cert_id":"$BANK_CID",
   "public_key":"@$KEYS/bank_merchant_cert.pem"}]},
 "notify_delay_ms":50, "auto_pay":false, "notify_attempts":3}
EOF
	if [ -n "${SIM_EXTRA:-}" ]; then
		jq -s '.[0] * .[1]' "$TEST_DIR/sim.json" - <<<"$SIM_EXTRA" \
			>"$TEST_DIR/sim.json.new" ||
			fail "SIM_EXTRA is not a JSON object: $SIM_EXTRA"
		mv "$TEST_DIR/sim.json.new" "$TEST_DIR/sim.json"
	fi
	# shellcheck disable=SC2086 # SIM_ARGS: words, e.g. "--sign-threads 0"
	"$PAYSIM" --config "$TEST_DIR/sim.json" --port 0 ${SIM_ARGS:-} \
		>"$TEST_DIR/paysim.out" 2>"$TEST_DIR/paysim.err" &
	BG_PIDS+=($!)
	for i in $(seq 100); do
		grep -q "listening" "$TEST_DIR/paysim.out" 2>/dev/null && break
		sleep 0.1
	done
	SPORT=$(sed -n 's/^paysim listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$TEST_DIR/paysim.out")
	[ -n "$SPORT" ] || { cat "$TEST_DIR/paysim.err" >&2; fail "paysim did not start"; }
	SIM=http://127.0.0.1:$SPORT
}

# _sim_post PATH JSON WHAT: POST to the simulator, which must answer 200.
_sim_post() {
	local code

	code=$(curl -s -m 5 -o "$TEST_DIR/sim.out" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "$2" \
		"$SIM$1") || code=000
	[ "$code" = 200 ] ||
		fail "$3: paysim answered HTTP $code $(cat "$TEST_DIR/sim.out" 2>/dev/null)"
}

sim_script() { _sim_post /_sim/script "$1" "script $1"; }

clear_script() { sim_script '{"order":"*","faults":null}'; }

sim_pay() {
	_sim_post /_sim/pay "{\"channel\":\"$1\",\"out_trade_no\":\"$2\"}" \
		"pay $2 on $1"
}

driver_conf() {
	local mode=${2:-}
	local wkey=$KEYS/wechat_merchant_private.pem akey=$KEYS/alipay_app_private.pem

	# A key paysim does not know: its signatures do not verify there.
	[ "$mode" = bad ] && wkey=$KEYS/alipay_app_private.pem &&
		akey=$KEYS/wechat_merchant_private.pem
	case $1:$mode in
	alipay:cert)
		printf '{"app_id":"2021000000000002","gateway":"%s/alipay/gateway.do","app_private_key":"@%s","app_cert":"@%s/alipay_app_cert.pem","alipay_cert":"@%s/alipay_cert.pem","alipay_root_cert":"@%s/alipay_root_cert.pem"}' \
			"$SIM" "$akey" "$ALIPAY_CERTS" "$ALIPAY_CERTS" "$ALIPAY_CERTS"
		;;
	alipay:*)
		printf '{"app_id":"2021000000000001","gateway":"%s/alipay/gateway.do","app_private_key":"@%s","alipay_public_key":"@%s/alipay_platform_public.pem"}' \
			"$SIM" "$akey" "$KEYS"
		;;
	wechat:*)
		printf '{"mch_id":"1900000001","appid":"wx0000000000000001","api_base":"%s/wechat","merchant_private_key":"@%s","merchant_serial_no":"%s","platform_public_key":"@%s/wechat_platform_public.pem","platform_serial_no":"%s","apiv3_key":"%s"}' \
			"$SIM" "$wkey" "$WX_SERIAL" "$KEYS" "$WX_PSERIAL" "$APIV3"
		;;
	bank:*)
		printf '{"mer_id":"777290058110048","gateway":"%s/bank","sign_key":"@%s/bank_merchant_private.pem","verify_key":"@%s/bank_platform_cert.pem","cert_id":"%s","encrypt_cert":"@%s/bank_platform_cert.pem","encrypt_cert_id":"%s"}' \
			"$SIM" "$KEYS" "$KEYS" "$BANK_CID" "$KEYS" "$BANK_PCID"
		;;
	esac
}

chan() {
	jq -n --arg code "$1" --arg drv "$2" --arg m "$3" --arg env "$4" \
		--argjson w "$5" --argjson dc "$(driver_conf "$2" "${6:-}")" \
		'{code:$code, driver:$drv, institution:"test", business_types:["pay","refund"],
		  methods:[$m], environments:[$env], product_codes:[], currencies:["CNY"],
		  status:"online", timezone:"Asia/Shanghai",
		  limits:{txn_min:1, txn_max:100000000, daily_amount:0, daily_count:0},
		  fee:{rate_bps:60, fixed:0, min:0, max:0}, weight:$w,
		  driver_config:$dc}'
}

add_channel() {
	admin_post /admin/v1/channels -H 'Content-Type: application/json' \
		--data-binary "$1"
	[ "$RESP_CODE" = 201 ] || fail "channel not created ($RESP_CODE): $RESP_BODY"
}

merchant_create() {
	admin_post /admin/v1/merchants -H 'Content-Type: application/json' \
		--data-binary "{\"id\":\"$1\",\"name\":\"Test $1\",\"locale\":\"en\"}"
	[ "$RESP_CODE" = 201 ] || fail "merchant not created ($RESP_CODE): $RESP_BODY"
	MKEY=$(json .api_key)
	MSECRET=$(json .notify_secret)
	[ -n "$MKEY" ] && [ "$MKEY" != null ] || fail "no api_key in $RESP_BODY"
}

# _mcall METHOD PATH [BODY [extra curl args]]: sets RESP_CODE/RESP_BODY and
# RESP_HEADERS (a file).
_mcall() {
	local out args=(-s -m 20 -o "$TEST_DIR/resp.body" -D "$TEST_DIR/resp.headers"
		-w '%{http_code}' -X "$1" -H "Authorization: Bearer $MKEY")

	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	[ $# -ge 4 ] && args+=("${@:4}")
	RESP_CODE=$(curl "${args[@]}" "http://127.0.0.1:$MERCHANT_PORT$2") || RESP_CODE=000
	RESP_BODY=$(cat "$TEST_DIR/resp.body" 2>/dev/null)
	RESP_HEADERS=$TEST_DIR/resp.headers
}

pay() {
	if [ $# -ge 2 ]; then
		_mcall POST /v1/payments "$1" -H "Idempotency-Key: $2"
	else
		_mcall POST /v1/payments "$1"
	fi
}
mget() { _mcall GET "$1"; }
mpost() { _mcall POST "$1" "${2:-{\}}"; }

# paid AMOUNT NO [CHANNEL]: a wechat_pay native_qr payment, paid by the
# payer in the simulator and settled; sets PID. With CHANNEL, fails unless
# the payment went to it.
paid() {
	pay "{\"merchant_order_no\":\"$2\",\"amount\":$1,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"test payment\"}"
	expect_code 201 "payment $2"
	PID=$(json .id)
	[ -z "${3:-}" ] || [ "$(json .channel)" = "$3" ] ||
		fail "payment $2 is not on $3: $RESP_BODY"
	sim_pay wechat "$PID"
	wait_pay "$PID" succeeded
}

# refund PID NO AMOUNT [STAGE]: asks for a refund of payment PID (the
# answer in RESP_CODE/RESP_BODY).
refund() {
	_mcall POST "/v1/payments/$1/refunds" \
		"{\"merchant_refund_no\":\"$2\",\"amount\":$3,\"stage\":\"${4:-post_delivery}\",\"reason\":\"test\"}"
}

# sql_is SQL VALUE: the query answers VALUE (SQL_GOT: what it answered).
sql_is() {
	SQL_GOT=$(pq -c "$1")
	[ "$SQL_GOT" = "$2" ]
}

wait_sql() {
	local sql=$1 want=$2 secs=${3:-20}

	wait_until "$secs" sql_is "$sql" "$want" ||
		fail "'$sql' gave '$SQL_GOT' after ${secs}s, want '$want'"
}

# wait_status TABLE WHAT ID STATUS [SECS]: bounded wait (default 20 s)
# for an order's status.
wait_status() {
	local secs=${5:-20}

	wait_until "$secs" sql_is "SELECT status FROM $1 WHERE id = '$3'" "$4" ||
		fail "$2 $3 is '$SQL_GOT' after ${secs}s, want '$4'"
}
wait_pay() { wait_status payments payment "$@"; }
wait_wd() { wait_status withdrawals withdrawal "$@"; }
wait_refund() { wait_status refunds refund "$@"; }

# acked_once ANSWERS PREFIX [WHERE]: see the header. WHERE names the store
# in the failure ("on the new primary"); pq is the store asked.
acked_once() {
	local answers=$1 prefix=$2 where=${3:-in the store} missing
	awk '$2 == 201 { print $1, $3 }' "$answers" | sort >"$answers.acked"
	pq -c "SELECT merchant_order_no || ' ' || id FROM payments WHERE merchant_order_no LIKE '$prefix-%'" |
		sort >"$answers.stored"
	missing=$(comm -23 "$answers.acked" "$answers.stored" | head -n 3)
	[ -z "$missing" ] || fail "acknowledged but not $where (or under another id): $missing"
	[ "$(pq -c "SELECT count(*) FROM (SELECT merchant_order_no FROM payments GROUP BY 1 HAVING count(*) > 1) d")" = 0 ] ||
		fail "a merchant_order_no stored twice $where"
	ACKED=$(wc -l <"$answers.acked")
}

# sim_more NAME [PORT]: see the header.
sim_more() {
	local name=$1 port=${2:-} out=$TEST_DIR/paysim_${1,,}

	if [ -z "$port" ]; then
		free_port
		port=$PORT
	fi
	: >"$out.out"
	"$PAYSIM" --config "$TEST_DIR/sim.json" --port "$port" \
		>"$out.out" 2>"$out.err" &
	BG_PIDS+=($!)
	printf -v "SIM_${name}_PID" '%s' "$!"
	printf -v "SPORT_$name" '%s' "$port"
	printf -v "SIM_$name" 'http://127.0.0.1:%s' "$port"
	wait_until 10 grep -q listening "$out.out" ||
		fail "simulator $name did not start: $(cat "$out.err")"
}

# pay_traced PREFIX: see the header.
PAY_N=0
pay_traced() {
	local t0

	PAY_N=$((PAY_N + 1))
	t0=$(date +%s%3N)
	pay "{\"merchant_order_no\":\"$1-$PAY_N\",\"amount\":$((100 + PAY_N)),\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"$1\"}"
	MS=$(($(date +%s%3N) - t0))
	expect_code 201 "payment $1-$PAY_N"
	PID=$(json .id)
	CH=$(json .channel)
	ST=$(json .status)
	ATT=$(pq -c "SELECT trace->'attempts' FROM payments WHERE id = '$PID'" |
		jq -r '[.[].channel] | join(" ")')
	echo "$PID $CH $ATT" >>"$TEST_DIR/payments.txt"
}

# breaker CHANNEL: see the header.
breaker() {
	send GET "/admin/v1/channels/$1/breaker"
	expect_code 200 "breaker of $1"
	STATE=$(json .breaker.state)
}
