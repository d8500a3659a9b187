#!/usr/bin/env bash
# bench_callbacks.sh - channel callbacks settled per second by a running
# payroute (contrib/dev.sh up), and what each costs the store.
#
# With the simulated payer's auto-pay off (a paysim "*" script {"pay":
# "never"}, reset at exit), creates N payments through the merchant API
# (curl --parallel, -c at a time; not measured), then has the simulated
# payer pay all of them, oldest first, as fast as paysim takes them (POST
# /_sim/pay {"channel", "out_trade_no"}, curl --parallel, -c at a time):
# each makes paysim send the channel's signed notification to payrouted's
# /notify/CHANNEL, which verifies it, applies it (the payment succeeds)
# and acknowledges it. Measured from the first /_sim/pay until every
# payment of the run has succeeded (the payments table is polled every
# 0.5 s; the end is the last one's finished_at) or -w seconds pass:
# callbacks settled per second, the CPU payrouted, paysim and PostgreSQL
# used meanwhile, and the store cost per callback settled (lib_bench.sh:
# PostgreSQL CPU of the whole cluster, commits, write transactions, rows
# written, WAL bytes, buffer hits).
# Ends with a summary line:
#   bench_callbacks: N callbacks in S s: R/s pg_cpu_ms A commits B ...
#
#   contrib/bench/bench_callbacks.sh [-e ENVFILE] [-n PAYMENTS]
#       [-c CONNECTIONS] [-m alipay|wechat_pay] [-w MAX_WAIT_SECS] [-u]
#
# -u: each payment has a notify_url, paysim's sink (POST
# /_sim/sink/NAME answers 200; the instance must allow loopback
# notification URLs, as contrib/dev.sh's does), so that each callback
# queues a merchant notification. After the callbacks the script waits
# (up to -w seconds) until the outbox delivered every one of the run's,
# and prints the store cost per callback from the first payment to the
# last delivery recorded: the callback with its notification's claim,
# the order read to build the body and the outcome recorded.
#
# What bounds the figure: not paysim's notify_delay_ms (.dev/paysim.json,
# 2000 in a dev instance): that only delays the payer's own auto-pay,
# which is off here; /_sim/pay settles the order and queues its
# notification at once. The notification is signed (RSA-2048) on paysim's
# signing threads and sent through its libcurl multi (up to 64 connections
# to payrouted; an unacknowledged one is retried after 250 ms, 500 ms...).
# payrouted verifies the signature (RSA-2048), applies the callback in the
# store and answers. All of it, PostgreSQL and curl share the machine's
# cores: the CPU line says who was busy. The completion job queries orders
# still processing 10 s after their creation (completion.schedule): the
# payments are paid oldest first, and the script says when the run went
# past that (its queries then count in the cost, and may settle some
# payments before their callback does): hence -n 1000 by default, which
# the baseline creates in about 3 s; a faster build can take -n 2000.
# ENVFILE: the instance (default .dev/env of this tree). Needs curl (7.66
# or later), psql, jq. Loopback only; bounded by -n and -w.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
N=1000 CONNS=16 METHOD=wechat_pay MAXWAIT=120 NOTIFY=0
usage() {
	echo "usage: $0 [-e ENVFILE] [-n PAYMENTS] [-c CONNECTIONS] [-m METHOD] [-w MAX_WAIT_SECS] [-u]" >&2
	exit 2
}
while getopts e:n:c:m:w:u o; do
	case $o in
	e) ENVFILE=$OPTARG ;;
	n) N=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	m) METHOD=$OPTARG ;;
	w) MAXWAIT=$OPTARG ;;
	u) NOTIFY=1 ;;
	*) usage ;;
	esac
done
[ $# -ge "$OPTIND" ] && usage
case $N in '' | *[!0-9]* | 0) b_die "-n: a positive number" ;; esac
b_init "$ENVFILE"
b_method "$METHOD"
b_tmp

echo "bench_callbacks: $N payments, $CONNS connections, method $METHOD, against $PAYROUTE_MERCHANT_URL (simulator $B_SIM_URL, database $B_DB)"
RUN=$(b_run_prefix c)
b_autopay_off

# 1. the payments (not measured)
NOTIFY_URL=
[ "$NOTIFY" = 0 ] || NOTIFY_URL=$B_SIM_URL/_sim/sink/bench-$RUN
b_create_cfg "$B_TMP/create.cfg" "$RUN" "$METHOD" "$N" "$NOTIFY_URL"
c0=$(date +%s%N)
b_curl_parallel "$B_TMP/create.cfg" "$CONNS" "$B_TMP/create.out"
c1=$(date +%s%N)
echo "created: answers $(b_codes "$B_TMP/create.out") in $(awk -v d=$((c1 - c0)) 'BEGIN { printf "%.1f", d / 1e9 }') s"
TOPAY=$(b_pay_cfg "$RUN" "$B_TMP/pay.cfg")
[ "$TOPAY" -gt 0 ] || { b_statuses "$RUN"; b_die "no payment of the run is processing: nothing to pay"; }

# 2. the callbacks (measured)
b_checkpoint
b_background "$B_DB"
SETTLED0=$(b_count_payments "$RUN" succeeded)
sim0=$(b_sim_requests)
before=$(b_sample "$B_DB")
t0=$(date +%s%N)
c_pr=$(b_ticks "$B_PR_PID") c_sim=$(b_ticks "$B_SIM_PID") c_pg=$(b_pg_ticks)
b_curl_parallel "$B_TMP/pay.cfg" "$CONNS" "$B_TMP/pay.out" &
PAYER=$!
b_at_exit "kill $PAYER 2>/dev/null"
deadline=$((t0 + MAXWAIT * 1000000000))
settled=$SETTLED0
while :; do
	settled=$(b_count_payments "$RUN" succeeded)
	t1=$(date +%s%N)
	[ $((settled - SETTLED0)) -ge "$TOPAY" ] && break
	[ "$t1" -ge "$deadline" ] && { echo "not all settled after ${MAXWAIT}s (-w)"; break; }
	sleep 0.5
done
cpu=$(awk -v hz="$B_HZ" -v ns=$((t1 - t0)) \
	-v pr=$(($(b_ticks "$B_PR_PID") - c_pr)) -v sim=$(($(b_ticks "$B_SIM_PID") - c_sim)) \
	-v pg=$(($(b_pg_ticks) - c_pg)) \
	'BEGIN { s = ns / 1e9; printf "CPU used during the run (cores): payrouted %.2f, paysim %.2f, postgres %.2f\n", pr / hz / s, sim / hz / s, pg / hz / s }')
c_pg=$(b_pg_ticks)
wait "$PAYER" 2>/dev/null || true
b_settle
after=$(b_sample "$B_DB" "$c_pg")
sim1=$(b_sim_requests)
SETTLED=$((settled - SETTLED0))
# the end is the last settlement's own time (finished_at), not the poll's
t_last=$(b_sql "$B_DB" "SELECT (extract(epoch FROM max(finished_at)) * 1000000)::bigint FROM payments WHERE merchant_order_no LIKE '$RUN-%' AND status = 'succeeded'")
[ -n "$t_last" ] && [ $((t_last * 1000)) -gt "$t0" ] && t1=$((t_last * 1000))
SECS=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 1e9 }')
RATE=$(b_rate "$SETTLED" $(((t1 - t0) / 1000)))
echo "paid (/_sim/pay answers): $(b_codes "$B_TMP/pay.out")"
echo "callbacks settled: $SETTLED of $TOPAY in $SECS s: $RATE/s"
echo "$cpu"
b_statuses "$RUN"
b_sim_note "$sim0" "$sim1" "$TOPAY" "/_sim/pay"
# the completion job's first query of an order comes 10 s after its
# creation (completion.schedule's first step, 10s by default)
first=$(jq -r '.completion.schedule // "10s" | split(",")[0]' "$PAYROUTE_CONF")
case $first in
*ms) first_ms=${first%ms} ;;
*s) first_ms=$((${first%s} * 1000)) ;;
*m) first_ms=$((${first%m} * 60000)) ;;
*h) first_ms=$((${first%h} * 3600000)) ;;
*) first_ms=10000 ;;
esac
# payments are paid in creation order: the longest wait from creation to
# payment is the first one's or the last one's
lag=$(((t0 - c0) / 1000000))
[ $(((t1 - c1) / 1000000)) -gt "$lag" ] && lag=$(((t1 - c1) / 1000000))
if [ "$lag" -gt "$first_ms" ]; then
	echo "note: some payments waited about $lag ms from their creation to their payment, past the completion job's first query ($first): its queries count in the cost below, and some payments may have been settled by a query rather than their callback (lower -n)"
fi
b_autovacuum_note "$B_DB" "$before"
b_cost callbacks "$SETTLED" callback "$before" "$after"
printf 'bench_callbacks: %s callbacks in %s s: %s/s pg_cpu_ms %s commits %s write_xacts %s rows %s wal_bytes %s\n' \
	"$SETTLED" "$SECS" "$RATE" "$C_CPU_MS" "$C_COMMITS" "$C_XACTS" "$C_ROWS" "$C_WAL"
[ "$NOTIFY" = 1 ] || exit 0

# 3. -u: the run's notifications, until every one is delivered
deadline=$(($(date +%s%N) + MAXWAIT * 1000000000))
while :; do
	left=$(b_sql "$B_DB" "SELECT count(*) FROM merchant_notifications n JOIN payments p ON p.id = n.order_id AND n.kind = 'payment' WHERE p.merchant_order_no LIKE '$RUN-%' AND n.state <> 'delivered'")
	[ "$left" = 0 ] && break
	[ "$(date +%s%N)" -ge "$deadline" ] && { echo "notifications: $left not delivered after ${MAXWAIT}s (-w)"; break; }
	sleep 0.5
done
b_settle
after=$(b_sample "$B_DB")
DELIVERED=$(b_sql "$B_DB" "SELECT count(*) FROM merchant_notifications n JOIN payments p ON p.id = n.order_id AND n.kind = 'payment' WHERE p.merchant_order_no LIKE '$RUN-%' AND n.state = 'delivered'")
echo "notifications: $DELIVERED of the run's delivered (paysim's sink bench-$RUN)"
b_cost "callbacks with their notifications" "$SETTLED" callback "$before" "$after"
printf 'bench_callbacks: %s callbacks with %s notifications delivered: pg_cpu_ms %s commits %s write_xacts %s rows %s wal_bytes %s a callback\n' \
	"$SETTLED" "$DELIVERED" "$C_CPU_MS" "$C_COMMITS" "$C_XACTS" "$C_ROWS" "$C_WAL"
