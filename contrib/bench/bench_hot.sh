#!/usr/bin/env bash
# bench_hot.sh - one hot channel: every payment of the run goes to the
# same channel, whose daily amount and count limits are set (so that each
# reservation goes through the usage leases of core/orders/usage.c, not the
# unlimited path) and far from reached; compared with the write limit of
# the store: the minimal durable pattern WITHOUT a usage row
# (pattern_pay_nousage.sql: insert the order, commit; mark it answered,
# commit) on the same cluster in the same run.
#
# Saves the routing policy (GET /admin/v1/policy) and puts it back at exit
# (PUT, also on ^C or an error); meanwhile the channel explain picks for the
# run's payment (-m; or -H CODE) stays online with limits.daily_amount
# 10^12 and limits.daily_count 10^9, and every other channel taking
# payments goes offline: explain must then show one eligible channel. Then:
# the pattern without the usage row (pgbench, -C clients, -p seconds), and
# the payments load (wrk, auto-pay off: a paysim "*" script, reset at
# exit) as bench_payments.sh runs it. Prints both rates, the store cost of
# both (lib_bench.sh), the channel's usage row for today (amount and count
# run ahead of the payments by the leases), and a summary line:
#   bench_hot: payroute N/s pattern N/s ratio R ... (channel CODE)
#   bench_hot: ceiling N/s ... (as bench_payments.sh: what the RSA
#     signatures and the pattern's store CPU leave of the cores)
# Issue 11's target: ratio >= 0.7.
#
#   contrib/bench/bench_hot.sh [-e ENVFILE] [-t THREADS] [-c CONNECTIONS]
#       [-d SECS] [-m alipay|wechat_pay] [-H CHANNEL] [-p PATTERN_SECS]
#       [-C PATTERN_CLIENTS]
#
# What bounds the figures: as bench_payments.sh (2 cores shared by
# payrouted, paysim's signatures, PostgreSQL and wrk). It changes the
# instance's policy for the run (an audit row per change, and two new
# generations). ENVFILE: the instance (default .dev/env of this tree).
# Needs wrk, pgbench, psql, jq, curl. Loopback only; bounded by -d and -p.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
THREADS=2 CONNS=16 SECS=10 METHOD=wechat_pay HOT= PSECS=8 PCLIENTS=16
usage() {
	echo "usage: $0 [-e ENVFILE] [-t THREADS] [-c CONNECTIONS] [-d SECS] [-m METHOD] [-H CHANNEL] [-p PATTERN_SECS] [-C PATTERN_CLIENTS]" >&2
	exit 2
}
while getopts e:t:c:d:m:H:p:C: o; do
	case $o in
	e) ENVFILE=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	d) SECS=$OPTARG ;;
	m) METHOD=$OPTARG ;;
	H) HOT=$OPTARG ;;
	p) PSECS=$OPTARG ;;
	C) PCLIENTS=$OPTARG ;;
	*) usage ;;
	esac
done
[ $# -ge "$OPTIND" ] && usage
[ "$PSECS" -gt 0 ] 2>/dev/null || b_die "-p: a positive number of seconds"
b_need wrk pgbench
b_init "$ENVFILE"
b_method "$METHOD"
b_tmp
BODY=$(printf '{"amount":1000,"currency":"CNY","method":"%s","environment":"%s","product_code":"%s"}' \
	"$METHOD" "$B_ENV" "$B_PRODUCT")
if [ -z "$HOT" ]; then
	HOT=$(b_admin_ok POST /admin/v1/route/explain "$BODY" | jq -r '.chosen // empty')
	[ -n "$HOT" ] || b_die "no channel takes $BODY (-H CHANNEL)"
fi

echo "bench_hot: $THREADS threads, $CONNS connections, ${SECS}s, method $METHOD, one channel: $HOT, against $PAYROUTE_MERCHANT_URL"
b_policy_save "$B_TMP/policy.json"
jq -e --arg hot "$HOT" '[.channels[] | select(.code == $hot)] | length == 1' \
	"$B_TMP/policy.json" >/dev/null || b_die "no channel $HOT in the policy"
jq --arg hot "$HOT" '.channels |= map(
	if .code == $hot then
		.status = "online" |
		.limits = ((.limits // {}) + {daily_amount: 1000000000000, daily_count: 1000000000})
	elif ((.business_types // []) | index("pay")) != null then .status = "offline"
	else . end)' "$B_TMP/policy.json" >"$B_TMP/hot.json"
out=$(b_admin_ok PUT /admin/v1/policy "@$B_TMP/hot.json")
echo "policy: $HOT alone takes payments ($(printf '%s' "$out" | jq -c '{changed, generation}'))"
ex=$(b_admin_ok POST /admin/v1/route/explain "$BODY")
[ "$(printf '%s' "$ex" | jq -r '.chosen')" = "$HOT" ] &&
	[ "$(printf '%s' "$ex" | jq '[.candidates[] | select(.eligible)] | length')" = 1 ] ||
	b_die "explain does not route to $HOT alone: $(printf '%s' "$ex" | head -c 300)"

b_pattern nousage "$PSECS" "$PCLIENTS"
b_autopay_off
b_payments_run "$SECS" "$THREADS" "$CONNS" "$METHOD"
b_sql "$B_DB" "SELECT 'usage row of $HOT today (' || day || '): amount ' || amount || ', count ' || count || ' (limits ' || coalesce(amount_limit::text, 'none') || ', ' || coalesce(count_limit::text, 'none') || '), last written ' || updated_at FROM channel_daily_usage WHERE channel = '$HOT' AND scope = '' ORDER BY day DESC LIMIT 1"
b_rsa_note
echo "bench_hot: $(b_vs_pattern | sed 's/ pattern / pattern_nousage /') (target ratio >= 0.7; channel $HOT)"
echo "bench_hot: $(b_ceiling 0.7)"
