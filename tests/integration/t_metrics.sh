#!/usr/bin/env bash
# t_metrics.sh - each channel's figures in /metrics (issue 13, item 5;
# doc/design.md §10) after a burst of real payments through the channel
# simulator: orders by kind, channel, status and unified code; channel
# calls and their latency histograms by operation; callbacks accepted and
# refused; cascades (from, to, reason); daily usage against the limits; the
# routing window's success rate. Every figure is compared with what the
# store says happened, not with a number written here. The text is checked
# by promtool (check metrics) and by a strict reading of its own
# (promcheck.py: families declared once, typed, histograms cumulative);
# no order id or merchant order number appears in it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3 promtool
pg_start
sim_start

instance_setup() {
	TOP_EXTRA=',
	"http_client": { "timeout_ms": 1500, "connect_timeout_ms": 500 },
	"completion": { "schedule": "30s", "interval_ms": 200, "batch": 4 }'
}
start_instance a wechat

N=24     # paid payments
NFAIL=4  # refused by the channel (not retryable)
AMOUNT=1250
add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
	jq -c '.limits.daily_amount = 100000000 | .limits.daily_count = 500')"
add_channel "$(chan wx_bad wechat wechat_pay jsapi 100 bad)"
add_channel "$(chan wx_jsapi wechat wechat_pay jsapi 10)"
merchant_create shop1
settle_generation

body() {
	printf '{"merchant_order_no":"%s","amount":%d,"currency":"CNY","method":"wechat_pay","environment":"%s","subject":"metrics","buyer_id":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}' \
		"$1" "$AMOUNT" "$2"
}

# ----------------------------------------------------------- the burst
for i in $(seq "$N"); do
	pay "$(body "m-ok-$i" native_qr)"
	expect_code 201 "payment m-ok-$i"
	sim_pay wechat "$(json .id)"
done
sim_script '{"order":"*","rate":1,"faults":{"http_status":403,"code":"NOTENOUGH"}}'
for i in $(seq "$NFAIL"); do
	pay "$(body "m-fail-$i" native_qr)"
	expect_code 201 "payment m-fail-$i"
	[ "$(json .status)" = failed ] || fail "m-fail-$i: $RESP_BODY"
done
clear_script
pay "$(body m-cascade jsapi)"
expect_code 201 "payment m-cascade"
CASC=$(json .id)
sim_pay wechat "$CASC"
wait_sql "SELECT count(*) FROM payments WHERE status = 'succeeded'" $((N + 1)) 30
pass "$N paid, $NFAIL refused, one sent on from wx_bad to wx_jsapi"

# A callback nobody can verify, and one for a channel that does not exist.
http POST "http://127.0.0.1:$MERCHANT_PORT/notify/wx_native" \
	-H 'Content-Type: application/json' --data-binary '{"id":"forged","resource":{}}'
http POST "http://127.0.0.1:$MERCHANT_PORT/notify/no_such_channel" \
	-H 'Content-Type: application/json' --data-binary '{}'
[ "$RESP_CODE" = 404 ] || fail "callback for an unknown channel: HTTP $RESP_CODE"

# ------------------------------------------------------- the exposition
scrape() {
	curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$TEST_DIR/metrics.txt" ||
		fail "GET /metrics failed"
}
scrape
promtool check metrics <"$TEST_DIR/metrics.txt" >"$TEST_DIR/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$TEST_DIR/promtool.out")"
python3 "$top_srcdir/tests/integration/promcheck.py" "$TEST_DIR/metrics.txt" ||
	fail "the exposition does not read strictly"
pass "/metrics passes promtool check metrics and the strict reading"

for id in $(pq -c "SELECT id FROM payments") $(pq -c "SELECT merchant_order_no FROM payments"); do
	! grep -Fq "$id" "$TEST_DIR/metrics.txt" || fail "/metrics names $id"
done
pass "no order id or merchant order number in /metrics"

# m NAME{LABELS}: the sample's value in the last scrape ("" when absent).
m() {
	awk -v k="$1" '$1 == k { print $2; exit }' "$TEST_DIR/metrics.txt"
}
expect_metric() {
	[ "$(m "$1")" = "$2" ] || fail "$1 = '$(m "$1")', the store says $2"
}

# Orders: every (channel, status, code) the store holds, counted alike.
pq -c "SELECT coalesce(channel, ''), status, coalesce(code, ''), count(*)
	FROM payments GROUP BY 1, 2, 3" >"$TEST_DIR/groups"
[ "$(wc -l <"$TEST_DIR/groups")" -ge 3 ] || fail "too few groups: $(cat "$TEST_DIR/groups")"
while IFS='|' read -r ch st code n; do
	expect_metric "payroute_orders_total{kind=\"payment\",channel=\"$ch\",status=\"$st\",code=\"$code\"}" "$n"
done <"$TEST_DIR/groups"
[ "$(grep -c '^payroute_orders_total{' "$TEST_DIR/metrics.txt")" = "$(wc -l <"$TEST_DIR/groups")" ] ||
	fail "payroute_orders_total has rows the store does not: $(grep '^payroute_orders_total{' "$TEST_DIR/metrics.txt")"
pass "payroute_orders_total matches the store, group by group"

# Calls: one pay call a payment on wx_native; the cascade's two.
expect_metric 'payroute_channel_calls_total{channel="wx_native",op="pay",result="answer"}' \
	"$(pq -c "SELECT count(*) FROM payments WHERE channel = 'wx_native'")"
expect_metric 'payroute_channel_calls_total{channel="wx_bad",op="pay",result="answer"}' 1
expect_metric 'payroute_channel_calls_total{channel="wx_jsapi",op="pay",result="answer"}' 1
expect_metric 'payroute_channel_call_duration_seconds_count{channel="wx_native",op="pay"}' $((N + NFAIL))
expect_metric 'payroute_channel_call_duration_seconds_bucket{channel="wx_native",op="pay",le="+Inf"}' $((N + NFAIL))
pass "channel calls and their latency histogram, by operation"

# Callbacks: one accepted a paid payment (paysim's first notification is
# acknowledged), the forged one refused, the unknown channel counted apart.
expect_metric 'payroute_channel_callbacks_total{channel="wx_native",result="accepted"}' \
	"$(pq -c "SELECT count(*) FROM order_events e JOIN payments p ON p.id = e.order_id
		WHERE p.channel = 'wx_native' AND e.event LIKE 'callback%'")"
expect_metric 'payroute_channel_callbacks_total{channel="wx_native",result="refused"}' 1
expect_metric 'payroute_callbacks_unknown_channel_total' 1
pass "callbacks accepted and refused"

reason=$(pq -c "SELECT trace->'attempts'->0->>'code' FROM payments WHERE id = '$CASC'")
[ -n "$reason" ] || fail "the cascade's first attempt has no code"
expect_metric "payroute_cascades_total{from=\"wx_bad\",to=\"wx_jsapi\",reason=\"$reason\"}" 1
pass "the cascade: from wx_bad to wx_jsapi, reason $reason"

# Daily usage: what the payments that hold a reservation add up to (the
# failed ones gave theirs back), against the limits.
want_amount=$(pq -c "SELECT coalesce(sum(usage_amount), 0) FROM payments
	WHERE channel = 'wx_native' AND NOT usage_released")
want_count=$(pq -c "SELECT count(*) FROM payments WHERE channel = 'wx_native'
	AND NOT usage_released AND usage_amount > 0")
usage_is() {
	scrape
	[ "$(m 'payroute_channel_daily_amount_minor_units{channel="wx_native"}')" = "$want_amount" ] &&
		[ "$(m 'payroute_channel_daily_orders{channel="wx_native"}')" = "$want_count" ]
}
wait_until 10 usage_is ||
	fail "daily usage: amount $(m 'payroute_channel_daily_amount_minor_units{channel="wx_native"}') count $(m 'payroute_channel_daily_orders{channel="wx_native"}'), the store's payments say $want_amount and $want_count"
expect_metric 'payroute_channel_daily_amount_limit_minor_units{channel="wx_native"}' 100000000
expect_metric 'payroute_channel_daily_orders_limit{channel="wx_native"}' 500
[ -z "$(m 'payroute_channel_daily_orders_limit{channel="wx_jsapi"}')" ] ||
	fail "a limit shown for wx_jsapi, which has none"
pass "daily usage $want_amount / 100000000, $want_count / 500 orders"

ok=$(pq -c "SELECT count(*) FROM payments WHERE channel = 'wx_native' AND status = 'succeeded'")
ko=$(pq -c "SELECT count(*) FROM payments WHERE channel = 'wx_native' AND status = 'failed'")
python3 - "$(m 'payroute_channel_success_ratio{channel="wx_native"}')" "$ok" "$ko" <<'EOF' ||
import sys
got, ok, ko = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sys.exit(0 if abs(got - ok / (ok + ko)) < 1e-9 else 1)
EOF
	fail "success ratio $(m 'payroute_channel_success_ratio{channel="wx_native"}'), the store says $ok of $((ok + ko))"
expect_metric 'payroute_channel_online{channel="wx_native"}' 1
pass "success ratio over the routing window: $ok of $((ok + ko))"

# A timeout: unknown is an outcome of its own.
sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
pay "$(body m-timeout native_qr)"
clear_script
[ "$(json .status)" = unknown ] || fail "m-timeout: $RESP_BODY"
scrape
expect_metric 'payroute_orders_total{kind="payment",channel="wx_native",status="unknown",code="CHANNEL_TIMEOUT"}' 1
expect_metric 'payroute_channel_calls_total{channel="wx_native",op="pay",result="timeout"}' 1
pass "a timeout: counted unknown with CHANNEL_TIMEOUT, its call as a timeout"

# --------------------------------------------- the console's overview
admin_get /admin/v1/overview
expect_code 200 "GET /admin/v1/overview"
ov() { json ".channels[] | select(.code == \"wx_native\") | $1"; }
[ "$(ov .series.totals.succeeded)" = "$ok" ] && [ "$(ov .series.totals.failed)" = "$ko" ] &&
	[ "$(ov .series.totals.unknown)" = 1 ] ||
	fail "overview totals: $(ov .series.totals), the store says $ok succeeded, $ko failed, 1 unknown"
[ "$(ov .open_unknown)" = "$(pq -c "SELECT count(*) FROM payments WHERE channel = 'wx_native' AND status = 'unknown'")" ] ||
	fail "overview open_unknown: $(ov .open_unknown)"
[ "$(ov .series.totals.calls)" = $((N + NFAIL + 1)) ] || fail "overview calls: $(ov .series.totals.calls)"
[ "$(ov '.series.succeeded | length')" = 60 ] || fail "overview series: $(ov .series)"
[ "$(ov .daily.count_limit)" = 500 ] && [ "$(ov .daily.amount_limit)" = 100000000 ] ||
	fail "overview limits: $(ov .daily)"
[ "$(ov .series.totals.p95_ms)" != null ] || fail "overview: no p95"
[ "$(json '.channels[] | select(.code == "wx_jsapi") | .daily.count_limit')" = null ] ||
	fail "overview: a limit for wx_jsapi"
pass "GET /admin/v1/overview: the hour's outcomes, calls and p95, open unknowns, limits"
admin_get "/admin/v1/overview?minutes=0"
expect_field "overview?minutes=0" minutes "1 to 60"
admin_get /admin/v1/currencies
[ "$(json '.currencies[] | select(.code == "JPY") | .minor')" = 0 ] &&
	[ "$(json '.currencies[] | select(.code == "KWD") | .minor')" = 3 ] ||
	fail "GET /admin/v1/currencies: $RESP_BODY"
pass "GET /admin/v1/currencies: JPY 0, KWD 3 minor digits"

# ------------------------- contrib/: the Grafana dashboard, the alerts
promtool check rules "$top_srcdir/contrib/prometheus/alerts.yml" >"$TEST_DIR/rules.out" 2>&1 ||
	fail "promtool check rules: $(cat "$TEST_DIR/rules.out")"
(cd "$top_srcdir/contrib/prometheus" && promtool test rules alerts_test.yml) >"$TEST_DIR/rules.out" 2>&1 ||
	fail "promtool test rules: $(cat "$TEST_DIR/rules.out")"
jq -e '.panels | length > 0' "$top_srcdir/contrib/grafana/payroute.json" >/dev/null ||
	fail "contrib/grafana/payroute.json is not a dashboard"
# Every metric they name is a family /metrics declares (the overdue
# refunds' gauge once its first count ran).
names=$(cat "$top_srcdir/contrib/prometheus/alerts.yml" "$top_srcdir/contrib/grafana/payroute.json" |
	grep -o 'payroute_[a-z0-9_]*' | sort -u | sed -E 's/_(bucket|sum|count)$//')
[ "$(echo "$names" | wc -l)" -ge 10 ] || fail "too few metric names found: $names"
declared() {
	scrape
	missing=""
	for n in $names; do
		grep -q "^# TYPE $n " "$TEST_DIR/metrics.txt" || missing="$missing $n"
	done
	[ -z "$missing" ]
}
wait_until 10 declared || fail "used by contrib/ but not in /metrics:$missing"
pass "alerts.yml passes promtool check rules and its tests; payroute.json is JSON; the $(echo "$names" | wc -l) metrics they use are in /metrics"
