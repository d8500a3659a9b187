#!/usr/bin/env bash
# t_completion_pace.sh - the completion job starts a claimed batch's
# checks one by one, spread over three quarters of completion.interval_ms
# (doc/design.md §5 "Checks"), not all at once: with batch 4 and an
# interval of 2 s, checks of one claim start about 375 ms apart. Four
# payments whose callbacks are lost are paid at the simulator; the
# completion job settles each by a query; the check events, in the order
# they were written, must be at least 150 ms apart (all at once, they are
# a few ms apart), and each order is settled once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start

instance_setup() {
	TOP_EXTRA=',
	"http_client": { "timeout_ms": 1500, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1s,1s,1s,1s,2s", "interval_ms": 2000, "batch": 4 }'
}
start_instance a wechat
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1

N=4
sim_script '{"order":"*","rate":1,"faults":{"callback":"drop"}}'
ids=()
for i in $(seq $N); do
	pay "$(jq -cn --arg no "o-pace-$i" '{merchant_order_no: $no, amount: 100,
		currency: "CNY", method: "wechat_pay", environment: "native_qr",
		subject: "pace"}')"
	expect_code 201 "o-pace-$i"
	ids+=("$(json .id)")
done
for id in "${ids[@]}"; do sim_pay wechat "$id"; done
clear_script
for id in "${ids[@]}"; do wait_pay "$id" succeeded 30; done
pass "$N payments with lost callbacks settled by the completion job"

settled=$(pq -c "SELECT count(DISTINCT order_id) FROM order_events WHERE event = 'check' AND to_status = 'succeeded' AND order_id IN (SELECT id FROM payments WHERE merchant_order_no LIKE 'o-pace-%')")
[ "$settled" = "$N" ] || fail "$settled of $N payments settled by a check"
gaps=$(pq -c "SELECT string_agg(round(gap)::text, ',') FROM (SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at, id)) * 1000 AS gap FROM order_events WHERE event = 'check' AND order_id IN (SELECT id FROM payments WHERE merchant_order_no LIKE 'o-pace-%')) g WHERE gap IS NOT NULL")
say "ms between consecutive checks: $gaps"
min=$(pq -c "SELECT min(gap) FROM (SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at, id)) * 1000 AS gap FROM order_events WHERE event = 'check' AND order_id IN (SELECT id FROM payments WHERE merchant_order_no LIKE 'o-pace-%')) g WHERE gap IS NOT NULL")
awk -v m="$min" 'BEGIN { exit !(m >= 150) }' ||
	fail "checks of one claim should start about 375 ms apart; the closest two were $min ms apart"
pass "the checks of a claimed batch started spread over the interval (closest two $min ms apart)"
