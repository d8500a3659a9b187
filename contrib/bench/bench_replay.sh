#!/usr/bin/env bash
# bench_replay.sh - policy replay over a million stored payments: payments
# replayed per second (issue 15: "a million orders in seconds").
#
#   contrib/bench/bench_replay.sh [-b BUILDDIR] [-n PAYMENTS] [-c CHANNELS]
#
# Self-contained like an integration test (tests/integration/lib.sh: a
# private PostgreSQL cluster and a payrouted of BUILDDIR, default the top
# of the tree, on loopback): CHANNELS (default 10) alipay/h5 CNY channels
# with fees from 20 to 65 bps, weights, and a daily amount limit on the
# cheapest two; a rule for large amounts; PAYMENTS (default 1,000,000)
# payments inserted straight into the store with generate_series over 30
# days (amounts 1.00 to 5,000.00, 2% failed, each recorded on one of the
# channels). Then one replay of the whole range (POST
# /admin/v1/policy/replay, polled until done) of a draft that makes the
# cheapest channel dearer and drops the rule. Prints:
#   bench_replay: N payments over 30 days, C channels
#   bench_replay: the store alone: reading the same rows (COPY) S s
#   bench_replay: replay S s (the daemon's elapsed_ms): R payments/s; B batches
#   bench_replay: payrouted's CPU meanwhile: C ms, U us a payment
#   bench_replay: M would move; VmRSS before X MiB, peak P MiB
# The daemon's figure includes the rates statement, every batch read
# (keyset, 5000 a statement) and the routing of each payment under both
# policies. Needs PostgreSQL's server binaries, curl, jq.
set -u

B=$(cd "$(dirname "$0")/../.." && pwd)
N=1000000
NCH=10
while getopts b:n:c: o; do
	case $o in
	b) B=$(cd "$OPTARG" && pwd) ;;
	n) N=$OPTARG ;;
	c) NCH=$OPTARG ;;
	*)
		echo "usage: $0 [-b BUILDDIR] [-n PAYMENTS] [-c CHANNELS]" >&2
		exit 2
		;;
	esac
done
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
top_builddir=$B
export top_srcdir top_builddir
PR_REQUIRE_INTEGRATION=1
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/lib_pay.sh"

require_pg
require_tools jq curl
pg_start

new_instance bench
install_drivers "$DRIVER_DIR" good
SERVER_EXTRA=', "instance": "bench"'
write_conf
daemon_start
wait_ready

for i in $(seq 1 "$NCH"); do
	limits='{}'
	[ "$i" -le 2 ] && limits='{"daily_amount": 500000000}'
	send POST /admin/v1/channels "$(jq -cn --arg c "ch$i" \
		--argjson r $((15 + 5 * i)) --argjson w $((100 * (i % 4 + 1))) \
		--argjson l "$limits" '{
		code: $c, driver: "testgood", status: "online",
		business_types: ["pay"], methods: ["alipay"],
		environments: ["h5"], currencies: ["CNY"],
		timezone: "Asia/Shanghai", fee: {rate_bps: $r}, weight: $w,
		limits: $l, driver_config: {endpoint: "http://127.0.0.1:9"}}')"
	expect_code 201 "create channel ch$i"
done
send PUT /admin/v1/routing/rules '{"rules": [{"name": "large by weight",
	"enabled": true, "conditions": {"amount_min": 300000},
	"scoring": {"weight": 1, "fee": 0.5, "success_rate": 1}}]}'
expect_code 200 "rules"
merchant_create shop1

say "inserting $N payments over 30 days"
t0=$(date +%s%N)
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, environment, expire_at, status, channel,
	code, paid_amount, created_at, finished_at)
	SELECT 'PB' || lpad(i::text, 12, '0'), 'shop1', 'b' || i, 'h',
	  100 + (i * 7919) % 500000, 'CNY', 'alipay', 'h5', t,
	  CASE WHEN i % 50 = 7 THEN 'failed' ELSE 'succeeded' END,
	  'ch' || (1 + (i * 31) % $NCH),
	  CASE WHEN i % 50 = 7 THEN 'NOTENOUGH' ELSE 'SUCCESS' END,
	  CASE WHEN i % 50 = 7 THEN NULL ELSE 100 + (i * 7919) % 500000 END,
	  t, t
	FROM (SELECT i, timestamptz '2026-10-01 00:00:00+08'
	        + i * (interval '30 days' / $N) AS t
	      FROM generate_series(1::bigint, $N) i) g" >/dev/null ||
	fail "cannot insert payments"
pq -c "VACUUM ANALYZE payments" >/dev/null
say "inserted in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
FROM=2026-10-01T00:00:00+08:00
TO=2026-10-31T00:00:01+08:00

t0=$(date +%s%N)
pq -c "COPY (SELECT id, created_at::text, merchant_id, amount, currency,
	method, environment, product_code, buyer_id, seller_id, card_hmac,
	bank_code, channel FROM payments WHERE created_at >= '$FROM'
	AND created_at < '$TO' ORDER BY created_at, id) TO STDOUT" >/dev/null ||
	fail "COPY"
store_ms=$(( ($(date +%s%N) - t0) / 1000000 ))

admin_get /admin/v1/policy
expect_code 200 export
body=$(jq -c --arg f "$FROM" --arg t "$TO" '{policy: (.channels |= map(
	if .code == "ch1" then .fee.rate_bps = 200 else . end) | .rules = []),
	from: $f, to: $t}' <<<"$RESP_BODY")
PID=$(cat "$PID_FILE")
rss() { awk '$1 == "VmRSS:" { print int($2 / 1024) }' "/proc/$PID/status"; }
# utime + stime of payrouted, in clock ticks (fields 14 and 15)
ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
rss0=$(rss)
peak=$rss0
cpu0=$(ticks)
send POST /admin/v1/policy/replay "$body"
expect_code 202 "replay"
id=$(json .id)
for _ in $(seq 12000); do # at most 10 minutes
	r=$(rss)
	[ "$r" -gt "$peak" ] && peak=$r
	send GET "/admin/v1/policy/replay/$id"
	[ "$(json .status)" = running ] || break
	sleep 0.05
done
[ "$(json .status)" = done ] || fail "the replay did not finish: $(json '{status, error, progress}')"
cpu_ms=$(( ($(ticks) - cpu0) * 1000 / $(getconf CLK_TCK) ))

say "$N payments over 30 days, $NCH channels"
say "the store alone: reading the same rows (COPY) $(awk -v m="$store_ms" 'BEGIN { printf "%.2f", m / 1000 }') s"
say "replay $(json '.elapsed_ms / 1000') s (the daemon's elapsed_ms): $(json .orders_per_second) payments/s; $(json .progress.batches) batches"
say "payrouted's CPU meanwhile: $cpu_ms ms, $(awk -v c="$cpu_ms" -v n="$N" 'BEGIN { printf "%.2f", c * 1000 / n }') us a payment (both policies routed, the rows parsed)"
say "$(json .result.changed) would move ($(json '.result.limit_days | length') limit days); VmRSS before $rss0 MiB, peak $peak MiB"
