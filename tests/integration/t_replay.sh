#!/usr/bin/env bash
# t_replay.sh - policy replay (issue 15, part 2) against a real PostgreSQL:
# 24 payments of one morning seeded into the store (20 on cheap, a quarter
# of them failed; 4 recorded on dear), then three drafts replayed through
# POST /admin/v1/policy/replay and checked figure by figure: a dearer fee
# moves everything, a rule with an amount condition moves only the large
# payments, a lower daily limit turns payments away from the moment it is
# reached (the day named). The period's success rates give each side's
# expected success; the stored channels that differ from the active
# replay are counted. Bad drafts and ranges are 400 naming the field, an
# unknown job is 404, payroutectl prints the summary, and the replay
# writes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"
require_pg
require_tools jq curl
pg_start

new_instance replay
install_drivers "$DRIVER_DIR" good
write_conf
daemon_start
wait_ready

# channel CODE RATE_BPS WEIGHT: an online alipay/h5 CNY channel.
channel() {
	send POST /admin/v1/channels "$(jq -cn --arg c "$1" --argjson r "$2" \
		--argjson w "$3" '{
		code: $c, driver: "testgood", status: "online",
		business_types: ["pay"], methods: ["alipay"],
		environments: ["h5"], currencies: ["CNY"],
		timezone: "Asia/Shanghai", fee: {rate_bps: $r}, weight: $w,
		driver_config: {endpoint: "http://127.0.0.1:9"}}')"
	expect_code 201 "create channel $1"
}
channel cheap 30 100
channel dear 60 100
merchant_create shop1

# 20 payments on cheap, i = 1..20, amount i * 10.00 at 10:00 + i minutes
# Shanghai time, every 4th failed; then 4 of 50.00 on dear at 11:01..11:04.
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, environment, expire_at, status, channel,
	code, paid_amount, created_at, finished_at)
	SELECT 'PRPL' || lpad(i::text, 6, '0'), 'shop1', 'rpl-' || i, 'h',
	  CASE WHEN i <= 20 THEN i * 1000 ELSE 5000 END, 'CNY', 'alipay', 'h5',
	  now() + interval '1 hour',
	  CASE WHEN i <= 20 AND i % 4 = 0 THEN 'failed' ELSE 'succeeded' END,
	  CASE WHEN i <= 20 THEN 'cheap' ELSE 'dear' END,
	  CASE WHEN i <= 20 AND i % 4 = 0 THEN 'NOTENOUGH' ELSE 'SUCCESS' END,
	  CASE WHEN i <= 20 AND i % 4 = 0 THEN NULL
	       WHEN i <= 20 THEN i * 1000 ELSE 5000 END,
	  timestamptz '2026-11-01 10:00:00+08' + CASE WHEN i <= 20
	    THEN i * interval '1 minute'
	    ELSE interval '1 hour' + (i - 20) * interval '1 minute' END,
	  now()
	FROM generate_series(1, 24) i" >/dev/null || fail "cannot seed payments"
# one outside the range: never replayed
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, environment, expire_at, status, channel,
	code, paid_amount, created_at, finished_at)
	VALUES ('PRPLOUT001', 'shop1', 'rpl-out', 'h', 777, 'CNY', 'alipay',
	  'h5', now(), 'succeeded', 'cheap', 'SUCCESS', 777,
	  timestamptz '2026-11-02 10:00:00+08', now())" >/dev/null || fail "cannot seed"
pass "24 payments seeded on 2026-11-01 (Shanghai), one on the next day"

admin_get /admin/v1/policy
expect_code 200 "export"
POLICY=$RESP_BODY
FROM=2026-11-01T00:00:00+08:00
TO=2026-11-02T00:00:00+08:00
audit0=$(pq -Atc "SELECT count(*) FROM audit_log")
stored0=$(pq -Atc "SELECT count(*), sum(amount) FROM payments")

# replay DRAFT_JQ: replays the export changed by the jq filter over the
# day, waits for the job (bounded: 10 s) and leaves it in RESP_BODY.
replay() {
	local body id i

	body=$(jq -c --arg f "$FROM" --arg t "$TO" \
		"{policy: (. | $1), from: \$f, to: \$t}" <<<"$POLICY")
	send POST /admin/v1/policy/replay "$body"
	expect_code 202 "replay ($1)"
	[ "$(json .status)" = running ] || fail "202 should say running: $RESP_BODY"
	id=$(json .id)
	for i in $(seq 100); do
		send GET "/admin/v1/policy/replay/$id"
		expect_code 200 "GET replay $id"
		[ "$(json .status)" = running ] || break
		sleep 0.1
	done
	[ "$(json .status)" = done ] || fail "replay ($1) did not finish: $RESP_BODY"
}
# is PATH VALUE: the last answer's value at the jq PATH.
is() {
	local got

	got=$(json "$1")
	[ "$got" = "$2" ] || fail "$WHAT: $1 is $got, expected $2: $(json .result | head -c 3000)"
}
ch() { printf '.result.channels[] | select(.channel == "%s" and .currency == "CNY") | %s' "$1" "$2"; }
T='.result.totals[] | select(.currency == "CNY")'

# ------------------------------------------- a dearer fee moves all 24
WHAT="cheap at 100 bps"
replay '.channels |= map(if .code == "cheap" then .fee.rate_bps = 100 else . end)'
is .progress.total 24
is .progress.orders 24
is .result.orders 24
is .result.changed 24
is .result.recorded_differs 4
# amounts: 10.00 .. 200.00 (2100.00) and 4 x 50.00
is "$T | .changed.amount" 230000
is "$T | .active.fees" 690    # 30 bps: 3 * (1 + .. + 20) + 4 * 15
is "$T | .draft.fees" 1380    # 60 bps on dear
is "$T | .active.expected_success" 0.75 # all on cheap: 15 of 20
is "$T | .draft.expected_success" 1     # all on dear: 4 of 4
is "$(ch cheap .moved_out.orders)" 24
is "$(ch cheap .moved_out.amount)" 230000
is "$(ch cheap .success_rate)" 0.75
is "$(ch cheap .failed)" 5
is "$(ch dear .moved_in.orders)" 24
is "$(ch dear .draft.fees)" 1380
is '.result.flows | length' 1
is '.result.flows[0].from + ">" + .result.flows[0].to' "cheap>dear"
is '.result.samples | length' 20
is '.result.samples[0].active.chosen' cheap
is '.result.samples[0].draft.chosen' dear
is '.result.samples[0].id' PRPL000001
[ "$(json .orders_per_second)" -gt 0 ] || fail "no rate: $RESP_BODY"
pass "a dearer fee: 24 payments (2300.00) move from cheap to dear, fees 6.90 -> 13.80, expected success 0.75 -> 1"

# --------------------------- a rule moving only the payments of 100.00 up
WHAT="rule amount_min 10000 -> dear"
replay '.rules = [{name: "big to dear", enabled: true,
	conditions: {amount_min: 10000}, scoring: {weight: 0, fee: 1, success_rate: 0},
	allow: ["dear"]}]'
is .result.changed 11
is "$T | .changed.amount" 165000 # 100.00 .. 200.00
is "$T | .active.fees" 690
is "$T | .draft.fees" 1185 # cheap 3 * 45 + 4 * 15, dear 6 * 165
is "$(ch cheap .draft.orders)" 13
is "$(ch dear .draft.orders)" 11
is "$(ch dear .moved_in.amount)" 165000
is '.result.samples[0].id' PRPL000010
is '.result.samples[0].draft.rule.name' "big to dear"
is '.result.samples[0].active.rule' null
pass "a rule's amount condition: the 11 payments of 100.00 and more move to dear"

# ------------------------------------------------- a lower daily limit
WHAT="cheap daily_amount 1000.00"
replay '.channels |= map(if .code == "cheap" then .limits.daily_amount = 100000 else . end)'
# 10.00 + .. + 130.00 = 910.00 fits; 140.00 .. 200.00 and then the second
# and later 50.00 do not
is .result.changed 10
is "$T | .changed.amount" 134000
is '.result.limit_days | length' 1
is '.result.limit_days[0].policy' draft
is '.result.limit_days[0].channel' cheap
is '.result.limit_days[0].day' 2026-11-01
is '.result.limit_days[0].limit' daily_amount_limit
is '.result.limit_days[0].orders_turned_away' 10
is '.result.limit_days[0].first_at' 2026-11-01T02:14:00.000Z
is "$(ch cheap .draft.amount)" 96000
pass "a daily limit of 1000.00 on cheap: reached at 10:14 on 2026-11-01, 10 payments turned away"

# -------------------------------------------------------- withdrawals
# 3 withdrawals of 30.00 by bank transfer to ICBC; the draft takes the
# one withdrawal channel offline: none would have a channel.
send POST /admin/v1/channels "$(jq -cn '{
	code: "payout", driver: "testgood", status: "online",
	business_types: ["withdraw"], methods: ["bank_transfer"],
	environments: [], currencies: ["CNY"], timezone: "Asia/Shanghai",
	banks: [{bank_code: "ICBC", channel_bank_code: "1002"}],
	fee: {rate_bps: 0, fixed: 200}, weight: 100,
	driver_config: {endpoint: "http://127.0.0.1:9"}}')"
expect_code 201 "create channel payout"
audit0=$(pq -Atc "SELECT count(*) FROM audit_log")
admin_get /admin/v1/policy
POLICY=$RESP_BODY
pq -c "INSERT INTO withdrawals (id, merchant_id, merchant_withdrawal_no,
	request_hash, amount, currency, payee_kind, payee_account_enc,
	payee_account_mask, payee_bank_code, method, status, channel, code,
	paid_amount, deadline_at, next_route_at, created_at, finished_at)
	SELECT 'WRPL' || lpad(i::text, 6, '0'), 'shop1', 'wrpl-' || i, 'h', 3000,
	  'CNY', 'bank_card', repeat('A', 44), '6222****0123', 'ICBC',
	  'bank_transfer', 'succeeded', 'payout', 'SUCCESS', 3000, now(), NULL,
	  timestamptz '2026-11-01 12:00:00+08' + i * interval '1 minute', now()
	FROM generate_series(1, 3) i" >/dev/null || fail "cannot seed withdrawals"
WHAT="withdrawals, payout offline"
body=$(jq -c --arg f "$FROM" --arg t "$TO" '{policy: (.channels |= map(
	if .code == "payout" then .status = "offline" else . end)),
	from: $f, to: $t, kind: "withdrawals", sample: 1}' <<<"$POLICY")
send POST /admin/v1/policy/replay "$body"
expect_code 202 "replay of withdrawals"
id=$(json .id)
for i in $(seq 100); do
	send GET "/admin/v1/policy/replay/$id"
	[ "$(json .status)" = running ] || break
	sleep 0.1
done
is .status done
is .kind withdrawals
is .result.orders 3
is .result.changed 3
is "$T | .active.fees" 600
is "$T | .draft.unroutable" 3
is .result.recorded_differs 0
is "$(ch payout .moved_out.amount)" 9000
is '.result.samples | length' 1
is '.result.samples[0].id' WRPL000001
is '.result.samples[0].draft.dropped.status' 1
pass "withdrawals replayed apart: the 3 of 2026-11-01 would have no channel with payout offline"

# ---------------------------------------------------------- refusals
bad() { # BODY_JQ FIELD NEEDLE
	send POST /admin/v1/policy/replay "$(jq -c --arg f "$FROM" --arg t "$TO" "$1" <<<"$POLICY")"
	expect_field "replay: $3" "$2" "$3"
}
bad '{policy: (.channels[0].fee.rate_bps = -1), from: $f, to: $t}' \
	'policy.channels[0].fee.rate_bps' 'rate_bps'
bad '{policy: (.rules = [{name: "x", allow: ["nosuch"]}]), from: $f, to: $t}' \
	'policy.rules[0].allow' 'no channel named nosuch'
bad '{policy: (del(.rules)), from: $f, to: $t}' 'policy.rules' 'rules'
bad '{policy: ., from: $t, to: $f}' to 'after from'
bad '{policy: ., from: "2026-10-01T00:00:00Z", to: "2026-11-02T00:00:01Z"}' to 'at most 31 days'
bad '{policy: ., to: $t}' from 'RFC 3339'
bad '{policy: ., from: "yesterday", to: $t}' from 'RFC 3339'
bad '{policy: ., from: $f, to: $t, speed: 1}' speed 'unknown field'
bad '{policy: ., from: $f, to: $t, kind: "refunds"}' kind 'payments or withdrawals'
bad '{policy: ., from: $f, to: $t, sample: 101}' sample '0 to 100'
bad '{from: $f, to: $t}' policy 'policy document'
send GET /admin/v1/policy/replay/12345
expect_code 404 "an unknown replay"
[ "$(json .error.code)" = not_found ] || fail "404 should be not_found: $RESP_BODY"

# nothing written by any of it
[ "$(pq -Atc "SELECT count(*) FROM audit_log")" = "$audit0" ] || fail "a replay wrote to the audit log"
[ "$(pq -Atc "SELECT count(*), sum(amount) FROM payments")" = "$stored0" ] || fail "a replay changed payments"
pass "a replay writes nothing"

# --------------------------------------------------------- payroutectl
CTL=$top_builddir/payroutectl
jq '.channels |= map(if .code == "cheap" then .fee.rate_bps = 100 else . end)' \
	<<<"$POLICY" >"$TEST_DIR/draft.json"
OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 60 "$CTL" policy replay "$TEST_DIR/draft.json" --from "$FROM" --to "$TO" 2>&1) ||
	fail "payroutectl policy replay: $OUT"
for want in "24 payments replayed" "24 would move" \
	"CNY: moved 24 payments, amount 230000; fees 690 -> 1380 (+690); expected success 0.750 -> 1.000" \
	"flow: cheap -> dear: 24 payments, 230000 CNY" "note: 4 payments"; do
	grep -Fq -- "$want" <<<"$OUT" || fail "payroutectl policy replay does not say '$want': $OUT"
done
grep -Eq '^cheap +CNY +24 +0 +0 +24 +690 +0 +0\.750$' <<<"$OUT" ||
	fail "payroutectl: the channel table: $OUT"
OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 60 "$CTL" policy replay "$TEST_DIR/draft.json" --from "$FROM" 2>&1) &&
	fail "payroutectl policy replay without --to should fail"
grep -Fq -- "--from and --to" <<<"$OUT" || fail "payroutectl: $OUT"
pass "payroutectl policy replay prints the summary"

# the withdrawals of the range: payout offline leaves the 3 without a
# channel
jq '.channels |= map(if .code == "payout" then .status = "offline" else . end)' \
	<<<"$POLICY" >"$TEST_DIR/draft_wd.json"
OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 60 "$CTL" policy replay "$TEST_DIR/draft_wd.json" --from "$FROM" --to "$TO" \
	--kind withdrawals 2>&1) || fail "payroutectl policy replay --kind withdrawals: $OUT"
for want in "3 withdrawals replayed" "3 would move" \
	"CNY: moved 3 withdrawals, amount 9000; fees 600 -> 0 (-600)" "unroutable 0 -> 3" \
	"flow: payout -> (none): 3 withdrawals, 9000 CNY"; do
	grep -Fq -- "$want" <<<"$OUT" ||
		fail "payroutectl policy replay --kind withdrawals does not say '$want': $OUT"
done
OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 60 "$CTL" policy replay "$TEST_DIR/draft_wd.json" --from "$FROM" --to "$TO" \
	--kind refunds 2>&1)
rc=$?
[ "$rc" = 2 ] && grep -Fq -- "--kind: payments or withdrawals" <<<"$OUT" ||
	fail "payroutectl policy replay --kind refunds: exit $rc: $OUT"
pass "payroutectl policy replay --kind withdrawals replays the withdrawals; --kind refunds is a usage error"
