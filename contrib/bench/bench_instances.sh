#!/usr/bin/env bash
# bench_instances.sh - payment creation throughput against the number of
# payrouted instances sharing one PostgreSQL primary (doc/operations.md,
# "Capacity").
#
# The instance of an env file (contrib/dev.sh up) is instance 1. For each
# count N of -n (default "1 2 3"), N-1 more payrouted are started from the
# same binary and configuration (same database, drivers, simulator; their
# own ports on 127.0.0.1, log and pid file in a temporary directory), then
# one wrk per instance creates payments through it for -d seconds: the
# clients are spread round-robin, -c connections in all (default 16), so
# the offered concurrency is the same for every N. The extra instances are
# stopped after the run, so that "1 instance" is one. Each configuration
# prints:
#   - the payments created (counted in the payments table by the run's
#     merchant_order_no prefix) and per second, the answers that were not
#     2xx;
#   - the CPU used during the run, in cores: all payrouted together (and
#     the busiest one), paysim, PostgreSQL (every process of the cluster,
#     reaped backends included: lib_bench.sh b_pg_ticks), and the machine
#     (from /proc/stat), so that what bounds the figure is visible;
#   - the store's CPU per payment (b_cost, after the settle), and
#     payrouted's (pr_cpu_ms in the summary): per payment, they do not
#     depend on how much of a shared machine the run got;
# and a closing table "instances payments/s pg_cores pg_cpu_ms ...". Each
# configuration's payments are paid by the simulated payer right after it
# (lib_bench.sh b_settle_run), so that the completion job does not query
# them during the next one; "store background before the run" says what
# the cluster still did.
#
#   contrib/bench/bench_instances.sh [-e ENVFILE] [-n "1 2 3"] [-c CONNS]
#       [-d SECS] [-m alipay|wechat_pay] [-P BASE_PORT]
#
# BASE_PORT: the extra instances listen on BASE_PORT+2k and BASE_PORT+2k+1
# (default: free ports picked by the kernel). What the figures can show
# depends on the machine: with payrouted, paysim (an RSA-2048 signature
# per answer), PostgreSQL and wrk on the same 2 cores, the machine is
# saturated by one instance already, and more instances only share the
# same cores; the figures then show what an instance costs, not how
# throughput grows on machines of their own. Loopback only; bounded by -d.
# Needs wrk, psql, jq, curl.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
COUNTS="1 2 3" CONNS=16 SECS=10 METHOD=wechat_pay BASE=
b_opts "e:ENVFILE n:COUNTS c:CONNS:CONNECTIONS d:SECS m:METHOD P:BASE:BASE_PORT" "$@"
b_need wrk
b_init "$ENVFILE"
b_method "$METHOD"
b_tmp

PAYROUTED=$(readlink "/proc/$B_PR_PID/exe") ||
	b_die "cannot find payrouted's binary (/proc/$B_PR_PID/exe)"
MERCHANT_URLS=("$PAYROUTE_MERCHANT_URL")
ADMIN_URLS=("$PAYROUTE_ADMIN_URL")
PIDS=("$B_PR_PID")

# port K: a port for the K-th listener of the extra instances
port() {
	if [ -n "$BASE" ]; then
		echo $((BASE + $1))
	else
		python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
	fi
}

# start_extra K: starts the K-th extra instance (K >= 1) and waits (15 s at
# most) until its /readyz answers 200
start_extra() {
	local k=$1 dir=$B_TMP/i$1 mp ap i

	mkdir -p "$dir"
	mp=$(port $((2 * k - 2)))
	ap=$(port $((2 * k - 1)))
	jq --arg m "127.0.0.1:$mp" --arg a "127.0.0.1:$ap" \
		--arg log "$dir/payrouted.log" --arg pid "$dir/payrouted.pid" \
		'.listen.merchant = $m | .listen.admin = $a | .log.target = $log |
		 .server.pid_file = $pid' "$PAYROUTE_CONF" >"$dir/payrouted.conf" ||
		b_die "cannot write $dir/payrouted.conf"
	# relative paths of the original configuration stay as they were
	(cd "$(dirname "$PAYROUTE_CONF")" && exec "$PAYROUTED" -f -c "$dir/payrouted.conf") \
		>"$dir/stderr" 2>&1 &
	PIDS+=($!)
	MERCHANT_URLS+=("http://127.0.0.1:$mp")
	ADMIN_URLS+=("http://127.0.0.1:$ap")
	b_at_exit "kill -TERM ${PIDS[-1]} 2>/dev/null; wait ${PIDS[-1]} 2>/dev/null"
	for i in $(seq 150); do
		[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ap/readyz")" = 200 ] &&
			return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null ||
			{ cat "$dir/stderr" >&2; b_die "extra instance $k exited"; }
		sleep 0.1
	done
	b_die "extra instance $k not ready after 15 s ($dir/payrouted.log)"
}

# stop_extras: stops every extra instance (SIGTERM: drain, leases back)
stop_extras() {
	local i

	for ((i = ${#PIDS[@]} - 1; i >= 1; i--)); do
		kill -TERM "${PIDS[$i]}" 2>/dev/null
		wait "${PIDS[$i]}" 2>/dev/null || true
	done
	PIDS=("$B_PR_PID")
	MERCHANT_URLS=("$PAYROUTE_MERCHANT_URL")
	ADMIN_URLS=("$PAYROUTE_ADMIN_URL")
}

# machine_ticks: busy and total clock ticks of the whole machine
machine_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat
}

echo "bench_instances: instances ${COUNTS}, $CONNS connections in all, ${SECS}s each, method $METHOD, database $B_DB (cluster $B_PGDATA), $(nproc) CPUs"
b_autopay_off
SUMMARY=()
for n in $COUNTS; do
	[ "$n" -ge 1 ] || b_die "-n: counts from 1"
	for ((k = 1; k < n; k++)); do
		start_extra "$k"
	done
	RUN=$(b_run_prefix "i$n")
	b_at_exit "b_settle_run $RUN"
	b_checkpoint
	b_background "$B_DB"
	before=$(b_sample "$B_DB")
	declare -a t_pr=()
	for ((k = 0; k < n; k++)); do
		t_pr[$k]=$(b_ticks "${PIDS[$k]}")
	done
	t_sim=$(b_ticks "$B_SIM_PID") t_pg=$(b_pg_ticks)
	read -r m_busy0 m_all0 < <(machine_ticks)
	t0=$(date +%s%N)
	wpids=()
	for ((k = 0; k < n; k++)); do
		c=$((CONNS / n + (k < CONNS % n ? 1 : 0)))
		[ "$c" -ge 1 ] || c=1
		# one run prefix, one merchant_order_no space per instance
		b_payments_lua "$B_TMP/pay$k.lua" "$RUN-$k" "$METHOD"
		wrk -t 1 -c "$c" -d "${SECS}s" -s "$B_TMP/pay$k.lua" \
			"${MERCHANT_URLS[$k]}" >"$B_TMP/wrk$k.out" 2>&1 &
		wpids+=($!)
	done
	wait "${wpids[@]}"
	ns=$(($(date +%s%N) - t0))
	read -r m_busy1 m_all1 < <(machine_ticks)
	pr_all=0 pr_max=0
	for ((k = 0; k < n; k++)); do
		d=$(($(b_ticks "${PIDS[$k]}") - t_pr[k]))
		pr_all=$((pr_all + d))
		[ "$d" -gt "$pr_max" ] && pr_max=$d
	done
	d_sim=$(($(b_ticks "$B_SIM_PID") - t_sim))
	d_pg=$(($(b_pg_ticks) - t_pg))
	non2xx=$(cat "$B_TMP"/wrk*.out | awk '$1 == "wrk_run" { s += $4 + $5 } END { print s + 0 }')
	sleep 1 # the requests wrk left in flight
	stop_extras
	c_pg=$(b_pg_ticks)
	b_settle
	after=$(b_sample "$B_DB" "$c_pg")
	created=$(b_count_payments "$RUN")
	read -r rate cpr cmax csim cpg cmach prms < <(awk -v hz="$B_HZ" -v ns="$ns" \
		-v n="$created" -v pr="$pr_all" -v mx="$pr_max" -v sim="$d_sim" \
		-v pg="$d_pg" -v mb=$((m_busy1 - m_busy0)) -v ma=$((m_all1 - m_all0)) \
		-v cpus="$(nproc)" 'BEGIN { s = ns / 1e9
		printf "%.0f %.2f %.2f %.2f %.2f %.2f %.2f\n", n / s, pr / hz / s,
			mx / hz / s, sim / hz / s, pg / hz / s,
			(ma > 0) ? mb / ma * cpus : 0,
			(n > 0) ? pr * 1000 / hz / n : 0 }')
	echo "--- $n instance(s): $created payments in $(awk -v ns="$ns" 'BEGIN { printf "%.1f", ns / 1e9 }') s = $rate/s ($non2xx answers not 2xx or failed)"
	echo "CPU used during the run (cores): payrouted $cpr in all (busiest instance $cmax), paysim $csim, postgres $cpg; the machine $cmach of $(nproc)"
	b_statuses "$RUN"
	b_cost "$n instance(s)" "$created" payment "$before" "$after"
	# paid now, not at exit: the completion job would query them
	# during the next configuration's run
	b_settle_run "$RUN"
	SUMMARY+=("$(printf '%9s %10s %8s %9s %15s %13s %13s %8s' "$n" "$rate" "$cpg" "$C_CPU_MS" "$cpr" "$prms" "$cmax" "$cmach")")
done
echo "bench_instances: summary"
printf '%9s %10s %8s %9s %15s %13s %13s %8s\n' instances payments/s pg_cores pg_cpu_ms payrouted_cores pr_cpu_ms busiest_cores machine
for l in "${SUMMARY[@]}"; do
	echo "$l"
done
