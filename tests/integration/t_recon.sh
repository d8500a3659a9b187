#!/usr/bin/env bash
# t_recon.sh - reconciliation against the channels' bills (issue 16), end
# to end: a real payrouted, PostgreSQL and the channel simulator. A day of
# traffic on a WeChat Pay channel, and the simulator's bill scripted with
# one of each fault: a charge payroute never heard of, a charge of an order
# payroute has not seen succeed (its callback dropped), a refund missing
# from the bill, a fee above the contract, a wrong amount. The daily job
# (run now through POST /admin/v1/reconciliation/runs) must find each
# fault exactly once with the right kind and both sides, check the
# unsettled order at once (it succeeds), and a re-run must be idempotent
# (same differences, the settled one cleared, no row twice). Then the
# operator's side: resolve with a note (audited), the metrics by kind and
# channel, the fee learnt next to the fee model with its drift flag. A
# clean day (the faults gone; another channel with clean traffic) has no
# difference, and the job schedules yesterday's runs by itself after the
# bill time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start

# The simulator's bill day is Beijing's: do not straddle its midnight.
case $(TZ=Asia/Shanghai date +%H%M) in
2357 | 2358 | 2359) sleep 200 ;;
esac
DAY=$(TZ=Asia/Shanghai date +%F)
YESTERDAY=$(TZ=Asia/Shanghai date -d yesterday +%F)

new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
SERVER_EXTRA=', "instance": "inst-a"'
TOP_EXTRA=',
	"http_client": { "timeout_ms": 2000, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1h", "interval_ms": 200 },
	"reconciliation": { "interval_ms": 200, "bill_time": "00:00",
		"retry_seconds": 1, "chunk_rows": 3 }'
write_conf
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
	jq -c '.refund_window_days = 365')"
add_channel "$(chan ali_qr alipay alipay native_qr 100)"
merchant_create shop1
pass "channels wx_native (wechat) and ali_qr (alipay), fee 60 bps; merchant shop1"

# metric_has LINE: the instance's /metrics has that line
metric_has() {
	local out

	out=$(curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics") &&
		grep -Fqx -- "$1" <<<"$out"
}

# run_day CHANNEL DAY: asks for a run and waits until it is done (RUNS:
# the run's count of matches before)
run_day() {
	local before

	before=$(pq -c "SELECT coalesce((SELECT runs FROM recon_runs WHERE channel = '$1' AND day = '$2'), 0)")
	admin_post /admin/v1/reconciliation/runs -H 'Content-Type: application/json' \
		--data-binary "{\"channel\":\"$1\",\"day\":\"$2\"}"
	expect_code 202 "run $1 $2"
	wait_sql "SELECT status || ' ' || runs FROM recon_runs WHERE channel = '$1' AND day = '$2'" \
		"done $((before + 1))" 30
}
# diffs CHANNEL: the open differences, "kind order_kind ref" sorted
diffs() {
	pq -c "SELECT coalesce(string_agg(kind || ' ' || order_kind || ' ' || ref, ';' ORDER BY kind, ref), '') FROM recon_differences WHERE channel = '$1' AND day = '$DAY' AND status = 'open'"
}

# ------------------------------------------------------------ traffic
paid 1234 o-1
P1=$PID
paid 500 o-2
P2=$PID
paid 777 o-3
P3=$PID
paid 2000 o-4
P4=$PID
refund "$P1" r-1 300
expect_code 201 "refund of o-1"
R1=$(json .id)
wait_refund "$R1" succeeded
RNO=$(pq -c "SELECT request_no FROM refunds WHERE id = '$R1'")
# o-5: the payer pays, the callback is lost; payroute's first check is an
# hour away, so the order is still processing here when the bill says paid
pay '{"merchant_order_no":"o-5","amount":880,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"lost callback"}'
expect_code 201 "payment o-5"
P5=$(json .id)
sim_script "{\"order\":\"$P5\",\"faults\":{\"callback\":\"drop\"}}"
sim_pay wechat "$P5"
sleep 1
[ "$(pq -c "SELECT status FROM payments WHERE id = '$P5'")" = processing ] ||
	fail "o-5 is not processing here"
pass "traffic: 5 payments (one whose callback was lost), a refund"

# ------------------------------------------------------------ faults
_sim_post /_sim/bill_script "{\"channel\":\"wechat\",
	\"extra\":[{\"order\":\"GHOST0000001\",\"amount\":900}],
	\"omit\":[\"$RNO\"], \"fee\":{\"$P2\":50}, \"amount\":{\"$P3\":778}}" \
	"bill faults"
run_day wx_native "$DAY"
want="amount_mismatch payment $P3;fee_mismatch payment $P2;missing_at_channel refund $RNO;missing_at_payroute payment GHOST0000001;missing_at_payroute payment $P5"
[ "$(diffs wx_native)" = "$want" ] ||
	fail "differences: '$(diffs wx_native)', want '$want'"
[ "$(pq -c "SELECT count(*) FROM recon_differences")" = 5 ] ||
	fail "more differences than faults: $(pq -c "SELECT string_agg(kind || ' ' || ref, ';') FROM recon_differences")"
# 5 payments and the ghost on the bill; the refund left out
[ "$(pq -c "SELECT bill_rows || ' ' || matched FROM recon_runs WHERE channel = 'wx_native' AND day = '$DAY'")" = "6 2" ] ||
	fail "run figures: $(pq -c "SELECT bill_rows, matched FROM recon_runs WHERE channel = 'wx_native'")"
pass "each scripted fault found exactly once, with its kind"

admin_get "/admin/v1/reconciliation?channel=wx_native&day=$DAY"
expect_code 200 "GET the day"
[ "$(json '.differences[] | select(.kind == "amount_mismatch") | "\(.ours.amount) \(.theirs.amount)"')" = "777 778" ] ||
	fail "amount mismatch sides: $RESP_BODY"
[ "$(json '.differences[] | select(.kind == "fee_mismatch") | "\(.ours.fee) \(.theirs.fee)"')" = "3 50" ] ||
	fail "fee mismatch sides: $RESP_BODY"
[ "$(json '.differences[] | select(.ref == "GHOST0000001") | "\(.ours) \(.theirs.amount) \(.check_scheduled)"')" = "null 900 false" ] ||
	fail "unknown charge: $RESP_BODY"
[ "$(json '.differences[] | select(.kind == "missing_at_channel") | "\(.ours.id) \(.theirs)"')" = "$R1 null" ] ||
	fail "missing refund: $RESP_BODY"
[ "$(json '.bill.rows'):$(json '.matched.count'):$(json '.totals.open'):$(json '.open_differences.missing_at_payroute')" = "6:2:5:2" ] ||
	fail "the day's counts: $RESP_BODY"
pass "GET /admin/v1/reconciliation?channel&day: counts, totals, both sides of each difference"

# the order charged there and not succeeded here was checked at once
wait_pay "$P5" succeeded 15
[ "$(json '.differences[] | select(.ref == "'"$P5"'") | .check_scheduled')" = true ] ||
	fail "no check scheduled for o-5: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM order_events WHERE order_id = '$P5' AND event = 'reconciliation'")" = 1 ] ||
	fail "o-5 has no reconciliation event"
pass "missing at payroute: the order is checked at once and succeeds"

# ------------------------------------------------------------ re-run
rows_before=$(pq -c "SELECT count(*) FROM recon_bill_rows")
# a bill row older than reconciliation.keep_days (62) goes with the next run
pq -c "INSERT INTO recon_bill_rows (channel, day, part, line, kind, order_id, amount, fee, currency, effect, at)
	VALUES ('wx_native', DATE '$DAY' - 63, 0, 1, 'payment', 'OLD00001', 1, 0, 'CNY', 'success', now()),
	       ('wx_native', DATE '$DAY' - 62, 0, 1, 'payment', 'OLD00002', 1, 0, 'CNY', 'success', now())" >/dev/null
run_day wx_native "$DAY"
[ "$(pq -c "SELECT string_agg(order_id, ',') FROM recon_bill_rows WHERE order_id LIKE 'OLD%'")" = OLD00002 ] ||
	fail "rows older than keep_days are not pruned: $(pq -c "SELECT order_id, day FROM recon_bill_rows WHERE order_id LIKE 'OLD%'")"
pq -c "DELETE FROM recon_bill_rows WHERE order_id LIKE 'OLD%'" >/dev/null
want="amount_mismatch payment $P3;fee_mismatch payment $P2;missing_at_channel refund $RNO;missing_at_payroute payment GHOST0000001"
[ "$(diffs wx_native)" = "$want" ] ||
	fail "after a re-run: '$(diffs wx_native)', want '$want'"
[ "$(pq -c "SELECT count(*) FROM recon_differences")" = 5 ] ||
	fail "a re-run added differences"
[ "$(pq -c "SELECT status FROM recon_differences WHERE ref = '$P5'")" = cleared ] ||
	fail "o-5's difference is not cleared"
[ "$(pq -c "SELECT count(*) FROM recon_bill_rows")" = "$rows_before" ] ||
	fail "a re-run stored the bill twice"
pass "re-run: idempotent (same differences, o-5's cleared, the rows once; rows past keep_days pruned)"

# ------------------------------------------------------------ operators
FEE_ID=$(pq -c "SELECT id FROM recon_differences WHERE kind = 'fee_mismatch'")
admin_post "/admin/v1/reconciliation/differences/$FEE_ID/resolve" \
	-H 'Content-Type: application/json' \
	--data-binary '{}'
expect_code 400 "resolve without a note"
[ "$(json .error.field)" = note ] || fail "no note: $RESP_BODY"
admin_post "/admin/v1/reconciliation/differences/$FEE_ID/resolve" \
	-H 'Content-Type: application/json' \
	--data-binary '{"note":"the channel refunds the fee next month"}'
expect_code 200 "resolve"
[ "$(json .status):$(json .resolved_by)" = resolved:admin ] || fail "resolved: $RESP_BODY"
admin_post "/admin/v1/reconciliation/differences/$FEE_ID/resolve" \
	-H 'Content-Type: application/json' --data-binary '{"note":"again"}'
expect_code 409 "resolve twice"
admin_post "/admin/v1/reconciliation/differences/99999999/resolve" \
	-H 'Content-Type: application/json' --data-binary '{"note":"none"}'
expect_code 404 "resolve an unknown difference"
[ "$(pq -c "SELECT actor || ' ' || action || ' ' || note FROM audit_log WHERE object_kind = 'recon_difference'")" = "admin resolve the channel refunds the fee next month" ] ||
	fail "audit: $(pq -c "SELECT * FROM audit_log WHERE object_kind = 'recon_difference'")"
run_day wx_native "$DAY"
[ "$(pq -c "SELECT status FROM recon_differences WHERE id = $FEE_ID")" = resolved ] ||
	fail "a re-run reopened a resolved difference"
pass "resolve with a note (audited; 400 without, 409 twice, 404 unknown); it stays resolved"

wait_until 10 metric_has 'payroute_recon_differences{kind="missing_at_payroute",channel="wx_native"} 1' ||
	fail "metrics: $(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep recon_)"
metric_has 'payroute_recon_differences{kind="amount_mismatch",channel="wx_native"} 1' ||
	fail "metrics by kind: $(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep recon_)"
wait_until 10 metric_has 'payroute_recon_fee_drift{channel="wx_native"} 1' ||
	fail "fee drift metric: $(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep recon_fee)"
pass "metrics: open differences by kind and channel, the fee drift"

admin_get "/admin/v1/reconciliation?channel=wx_native"
expect_code 200 "list"
[ "$(json '.fees[0].channel'):$(json '.fees[0].configured.rate_bps'):$(json '.fees[0].drift')" = "wx_native:60:true" ] ||
	fail "fees: $RESP_BODY"
[ "$(json '.runs | map(select(.day == "'"$DAY"'")) | length')" = 1 ] || fail "runs: $RESP_BODY"
pass "the fee learnt from the bills ($(json '.fees[0].learnt_bps') bps) next to the fee model (60), drift flagged"

PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 60 "$top_builddir/payroutectl" recon wx_native "$DAY" \
	>"$TEST_DIR/ctl.out" 2>&1 </dev/null ||
	fail "payroutectl recon: $(cat "$TEST_DIR/ctl.out")"
grep -q "amount_mismatch" "$TEST_DIR/ctl.out" && grep -q GHOST0000001 "$TEST_DIR/ctl.out" ||
	fail "payroutectl recon: $(cat "$TEST_DIR/ctl.out")"
# Each side's amount in its own currency's major units (777 and 778 fen).
grep -Eq "amount_mismatch .*succeeded +7\.77 CNY +success +7\.78 CNY " "$TEST_DIR/ctl.out" ||
	fail "payroutectl recon: the amounts are not in major units: $(grep amount_mismatch "$TEST_DIR/ctl.out")"
pass "payroutectl recon CHANNEL DAY, amounts in major units"

# ------------------------------------------------------------ clean days
_sim_post /_sim/bill_script '{"channel":"wechat"}' "no more faults"
run_day wx_native "$DAY"
[ "$(diffs wx_native)" = "" ] || fail "the faults are gone, differences stay: $(diffs wx_native)"
[ "$(pq -c "SELECT bill_rows || ' ' || matched FROM recon_runs WHERE channel = 'wx_native' AND day = '$DAY'")" = "6 6" ] ||
	fail "clean figures: $(pq -c "SELECT bill_rows, matched FROM recon_runs WHERE channel = 'wx_native'")"
pass "without the faults the day reconciles: no open difference, every row matched"

for n in 1 2 3; do
	pay "{\"merchant_order_no\":\"a-$n\",\"amount\":$((n * 1111)),\"currency\":\"CNY\",\"method\":\"alipay\",\"environment\":\"native_qr\",\"subject\":\"clean\"}"
	expect_code 201 "alipay payment a-$n"
	sim_pay alipay "$(json .id)"
	wait_pay "$(json .id)" succeeded
done
run_day ali_qr "$DAY"
[ "$(pq -c "SELECT bill_rows || ' ' || matched || ' ' || differences::text FROM recon_runs WHERE channel = 'ali_qr' AND day = '$DAY'")" = "3 3 {}" ] ||
	fail "clean alipay day: $(pq -c "SELECT * FROM recon_runs WHERE channel = 'ali_qr'")"
[ "$(pq -c "SELECT count(*) FROM recon_differences WHERE channel = 'ali_qr'")" = 0 ] ||
	fail "differences on a clean day"
pass "a clean day of another channel (Alipay's GBK zip) reconciles with zero differences"

# yesterday's runs were scheduled by the job itself (bill time 00:00):
# nothing traded, no bill, nothing differs
wait_sql "SELECT string_agg(channel || ' ' || status || ' ' || no_bill, ';' ORDER BY channel) FROM recon_runs WHERE day = '$YESTERDAY'" \
	"ali_qr done true;wx_native done true" 20
pass "yesterday's runs scheduled by the job after the bill time (no bill: no trade)"

exit 0
