#!/usr/bin/env bash
# bench_latency.sh - the latency payroute itself adds to a payment at a
# fixed request rate, from the daemon's own histogram: payroute_overhead_
# seconds{op="payment"} in /metrics on the admin listener (a request's time
# in payrouted minus the time it waited for the channel; cumulative
# buckets, as Prometheus histograms are).
#
# Drives payment creation through the merchant API with wrk at -r
# requests/s in all (without -r: first a short unpaced run of -p seconds
# measures the peak, payments created per second, and the rate is half of
# it), paced with wrk's delay() hook: each thread sends its requests on a
# fixed schedule (rate / threads per second) over its connections; a slot
# missed because every connection was busy is skipped, so the achieved
# rate (printed) can be lower: raise -c then. Auto-pay is off during the
# runs (a paysim "*" script, reset at exit), so only payments are
# measured. The histogram is read before and after the paced run; prints
# the p50 and p99 of its increase, by linear interpolation inside the
# bucket the rank falls in (as PromQL's histogram_quantile), its mean, and
# wrk's own p50 and p99 end to end (channel included), then a summary:
#   bench_latency: rate R/s (...) overhead p50 A ms p99 B ms ...
# Issue 11's target: overhead p99 < 5 ms at half the peak rate.
#
#   contrib/bench/bench_latency.sh [-e ENVFILE] [-r RATE] [-d SECS]
#       [-p PEAK_SECS] [-t THREADS] [-c CONNECTIONS] [-m alipay|wechat_pay]
#   contrib/bench/bench_latency.sh -T   (self-check of the quantiles on a
#                                        canned histogram; no instance)
#
# Exits 1 when the daemon does not export payroute_overhead_seconds. What
# bounds the figure: the daemon's bucket bounds (the interpolation is
# exact only at them) and the number of requests in the run (p99 of 1,500
# requests rests on 15); the end-to-end figures include paysim and the
# signatures. ENVFILE: the instance (default .dev/env of this tree). Needs
# wrk, curl, psql, jq. Loopback only; bounded by -d and -p.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
RATE= SECS=10 PSECS=5 THREADS=2 CONNS=16 METHOD=wechat_pay SELFCHECK=0
METRIC=payroute_overhead_seconds OP=payment
usage() {
	echo "usage: $0 [-e ENVFILE] [-r RATE] [-d SECS] [-p PEAK_SECS] [-t THREADS] [-c CONNECTIONS] [-m METHOD] | -T" >&2
	exit 2
}
while getopts e:r:d:p:t:c:m:T o; do
	case $o in
	e) ENVFILE=$OPTARG ;;
	r) RATE=$OPTARG ;;
	d) SECS=$OPTARG ;;
	p) PSECS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	m) METHOD=$OPTARG ;;
	T) SELFCHECK=1 ;;
	*) usage ;;
	esac
done
[ $# -ge "$OPTIND" ] && usage

# self_check: b_hist_quantiles on a canned pair of scrapes whose answer is
# known: the increase of op="payment" is 20, 80, 98, 99, 100 at le 0.001,
# 0.002, 0.005, 0.01, +Inf (labels in either order, refund's series and a
# float written as 1e-02 in between), so p10 = 0.0005 (first bucket, from
# 0), p50 = 0.001 + 0.001 x 30/60 = 0.0015, p99 = 0.005 + 0.005 x 1/1 =
# 0.01, and p99.5 falls in +Inf: the highest finite bound, 0.01.
self_check() {
	local got want

	b_tmp
	cat >"$B_TMP/before" <<'EOF'
# HELP payroute_overhead_seconds Time in payrouted minus the time waiting for the channel.
# TYPE payroute_overhead_seconds histogram
payroute_overhead_seconds_bucket{op="payment",le="0.001"} 5
payroute_overhead_seconds_bucket{op="payment",le="0.002"} 7
payroute_overhead_seconds_bucket{op="refund",le="0.002"} 3
payroute_overhead_seconds_bucket{op="payment",le="0.005"} 9
payroute_overhead_seconds_bucket{op="payment",le="1e-02"} 11
payroute_overhead_seconds_bucket{op="payment",le="+Inf"} 12
payroute_overhead_seconds_sum{op="payment"} 0.5
payroute_overhead_seconds_count{op="payment"} 12
payroute_overhead_seconds_bucket{op="refund",le="+Inf"} 4
EOF
	cat >"$B_TMP/after" <<'EOF'
payroute_overhead_seconds_bucket{op="payment",le="+Inf"} 112
payroute_overhead_seconds_bucket{le="0.002",op="payment"} 87
payroute_overhead_seconds_bucket{op="payment",le="0.001"} 25
payroute_overhead_seconds_bucket{op="refund",le="0.002"} 1000
payroute_overhead_seconds_bucket{op="payment",le="0.005"} 107
payroute_overhead_seconds_bucket{op="payment",le="1e-02"} 110
payroute_overhead_seconds_sum{op="payment"} 0.7
payroute_overhead_seconds_count{op="payment"} 112
payroute_overhead_seconds_bucket{op="refund",le="+Inf"} 2000
EOF
	got=$(b_hist_quantiles "$METRIC" payment "$B_TMP/before" "$B_TMP/after" 0.1 0.5 0.99 0.995)
	want="count 100 sum 0.200000 0.1 0.000500 0.5 0.001500 0.99 0.010000 0.995 0.010000"
	echo "quantiles of the canned histogram: $got"
	if [ "$got" != "$want" ]; then
		echo "bench_latency: self-check FAILED: expected $want"
		return 1
	fi
	got=$(b_hist_quantiles "$METRIC" withdrawal "$B_TMP/before" "$B_TMP/after" 0.5)
	[ "$got" = "count 0" ] || { echo "bench_latency: self-check FAILED: an op without series gave $got"; return 1; }
	echo "bench_latency: self-check ok"
}
if [ "$SELFCHECK" = 1 ]; then
	self_check
	exit
fi

b_need wrk
b_init "$ENVFILE"
b_method "$METHOD"
b_tmp
b_metrics >"$B_TMP/m0" || b_die "no answer from $PAYROUTE_ADMIN_URL/metrics"
if ! grep -q "^${METRIC}_bucket{" "$B_TMP/m0"; then
	echo "bench_latency: the daemon at $PAYROUTE_ADMIN_URL does not export $METRIC (no such histogram in /metrics): nothing to measure" >&2
	exit 1
fi
echo "bench_latency: $THREADS threads, $CONNS connections, method $METHOD, against $PAYROUTE_MERCHANT_URL"
b_autopay_off

# run NAME RATE SECS: wrk (RATE 0: unpaced); sets DONE_RATE (payments
# created per second, counted in the table), WRK_LINE (wrk's figures)
run() {
	local prefix

	prefix=$(b_run_prefix "l$1")
	b_at_exit "b_settle_run $prefix"
	b_payments_lua "$B_TMP/$1.lua" "$prefix" "$METHOD" "$2" "$THREADS"
	wrk -t "$THREADS" -c "$CONNS" -d "${3}s" --latency -s "$B_TMP/$1.lua" \
		"$PAYROUTE_MERCHANT_URL" >"$B_TMP/$1.out"
	read -r _ WRK_US _ < <(grep '^wrk_run ' "$B_TMP/$1.out") || b_die "no summary from wrk"
	WRK_LINE=$(grep '^payments/s ' "$B_TMP/$1.out")
	CREATED=$(b_count_payments "$prefix")
	DONE_RATE=$(b_rate "$CREATED" "$WRK_US")
}

PEAK=
if [ -z "$RATE" ]; then
	run peak 0 "$PSECS"
	PEAK=$DONE_RATE
	RATE=$((PEAK / 2))
	echo "peak (unpaced, ${PSECS}s): $PEAK payments/s ($WRK_LINE); the paced run takes half: $RATE/s"
	[ "$RATE" -gt 0 ] || b_die "no payment was created in the peak run"
	sleep 2 # the peak run's tail
fi
b_metrics >"$B_TMP/m1" || b_die "no answer from /metrics"
run paced "$RATE" "$SECS"
b_metrics >"$B_TMP/m2" || b_die "no answer from /metrics"
echo "paced at $RATE/s for ${SECS}s: $CREATED payments created, $DONE_RATE/s achieved; wrk end to end: $WRK_LINE"
read -r _ n _ s _ p50 _ p99 < <(b_hist_quantiles "$METRIC" "$OP" "$B_TMP/m1" "$B_TMP/m2" 0.5 0.99)
if [ "${n:-0}" = 0 ]; then
	echo "$METRIC{op=\"$OP\"}: nothing observed during the run"
	exit 1
fi
read -r P50 P99 MEAN < <(awk -v a="$p50" -v b="$p99" -v s="$s" -v n="$n" \
	'BEGIN { printf "%.3f %.3f %.3f\n", a * 1000, b * 1000, s * 1000 / n }')
echo "$METRIC{op=\"$OP\"} over the paced run: $n requests, p50 $P50 ms, p99 $P99 ms, mean $MEAN ms"
# Its parts in the store, where the daemon exports them: the statements'
# wait for a pool connection and their time on it (commits included); the
# rest is the daemon's loop (parsing, signing, verifying, rendering) and
# the time a ready request waits for the loop or for a core.
for part in payroute_store_wait_seconds payroute_store_run_seconds payroute_own_seconds; do
	grep -q "^${part}_bucket{" "$B_TMP/m2" || continue
	read -r _ pn _ ps _ q50 _ q99 < <(b_hist_quantiles "$part" "$OP" "$B_TMP/m1" "$B_TMP/m2" 0.5 0.99)
	[ "${pn:-0}" = 0 ] && continue
	awk -v m="$part" -v op="$OP" -v a="$q50" -v b="$q99" -v s="$ps" -v n="$pn" \
		'BEGIN { printf "  of which %s{op=\"%s\"}: p50 %.3f ms, p99 %.3f ms, mean %.3f ms\n", m, op, a * 1000, b * 1000, s * 1000 / n }'
done
E2E=$(awk '{ printf "p50 %s ms p99 %s ms", $4, $7 }' <<<"$WRK_LINE")
printf 'bench_latency: rate %s/s (asked %s/s%s) overhead p50 %s ms p99 %s ms (target p99 < 5 ms) end-to-end %s\n' \
	"$DONE_RATE" "$RATE" "${PEAK:+, peak $PEAK/s}" "$P50" "$P99" "$E2E"
