#!/usr/bin/env bash
# bench_checks.sh - what a completion check costs the store, on a running
# payroute (contrib/dev.sh up): the job that asks the channel about an
# order whose callback never came (doc/design.md §6).
#
# With the channel's callbacks dropped (a paysim "*" script {"callback":
# "drop"}, reset at exit), creates N payments through the merchant API
# (curl --parallel, -c at a time; not measured). The simulated payer pays
# each (auto-pay), its callback never comes, and the completion job's
# first check (completion.schedule's first step, 10 s by default) asks
# the channel and settles it. Measured from before the first of them is
# due until the job has ended as many checks as payments were created
# (payroute_completion_checks_total, polled every 0.5 s) or -w seconds
# pass: the checks ended (payroute_completion_checks_total),
# the store cost per check (lib_bench.sh: PostgreSQL CPU of the whole
# cluster, commits, write transactions, rows written, WAL bytes, buffer
# hits), and how the checked
# orders were read (payroute_completion_orders_read_total: with the
# claim, or by a statement each).
# The background (what the instance's timers commit while nothing is
# due, measured idle between the creations and the first check) is
# subtracted from the CPU and the commits, by the window's length.
# Ends with a summary line:
#   bench_checks: N checks in S s: pg_cpu_ms A commits B less the
#   background (...with it) write_xacts C rows D wal_bytes E
#
#   contrib/bench/bench_checks.sh [-e ENVFILE] [-n PAYMENTS]
#       [-c CONNECTIONS] [-w MAX_WAIT_SECS]
#
# The checks run at the job's own pace (completion.batch a claim, spread
# over completion.interval_ms): N / batch intervals, about 10 s for the
# default 320 at 32 a second. ENVFILE: the instance (default .dev/env of
# this tree). Needs curl (7.66 or later), psql, jq. Loopback only;
# bounded by -n and -w.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
N=320 CONNS=8 MAXWAIT=120 METHOD=alipay
b_opts "e:ENVFILE:ENVFILE n:N:PAYMENTS c:CONNS:CONNECTIONS w:MAXWAIT:MAX_WAIT_SECS" "$@"
case $N in '' | *[!0-9]* | 0) b_die "-n: a positive number" ;; esac
case $MAXWAIT in '' | *[!0-9]* | 0) b_die "-w: a positive number of seconds" ;; esac
b_init "$ENVFILE"
b_method "$METHOD"
b_tmp
[ -n "$(b_checks_done)" ] || b_die "$PAYROUTE_ADMIN_URL/metrics has no payroute_completion_checks_total"
FIRST=$(b_first_check)

echo "bench_checks: $N payments, callbacks dropped, each settled by its first check ${FIRST}s after its creation, against $PAYROUTE_MERCHANT_URL (simulator $B_SIM_URL, database $B_DB)"
RUN=$(b_run_prefix k)
b_sim /_sim/script '{"order":"*","rate":1,"faults":{"callback":"drop"}}'
b_at_exit "curl -sf -m 10 -o /dev/null -H 'Content-Type: application/json' --data-binary '{\"order\":\"*\",\"faults\":null}' '$B_SIM_URL/_sim/script' || echo '$B_NAME: could not reset the paysim \"*\" script' >&2"

# 1. the payments (not measured)
b_create_cfg "$B_TMP/create.cfg" "$RUN" "$METHOD" "$N"
c0=$(date +%s%N)
b_curl_parallel "$B_TMP/create.cfg" "$CONNS" "$B_TMP/create.out"
c1=$(date +%s%N)
echo "created: answers $(b_codes "$B_TMP/create.out") in $(awk -v d=$((c1 - c0)) 'BEGIN { printf "%.1f", d / 1e9 }') s"
CREATED=$(grep -c '^201$' "$B_TMP/create.out" || true)
[ "$CREATED" -gt 0 ] || b_die "no payment was created"

# 2. the background: what the instance does while no check is due yet
# (its timers), from the creations' settle to a second before the first
# check is due; subtracted from the window's below
b_settle
due=$((c0 + ${FIRST%.*} * 1000000000 - 1000000000))
[ $(($(date +%s%N) + 2000000000)) -lt "$due" ] ||
	b_die "the first checks come due too soon after the creations (${FIRST}s): fewer payments (-n)"
idle0=$(b_sample "$B_DB")
sleep "$(awk -v d=$((due - $(date +%s%N))) 'BEGIN { printf "%.3f", d / 1e9 }')"
before=$(b_sample "$B_DB")

# 3. the checks (measured), until the run's payments have all succeeded
chk0=$(b_checks_done)
read0=$(b_metrics | grep '^payroute_completion_orders_read_total' || true)
t0=$(date +%s%N)
deadline=$((t0 + MAXWAIT * 1000000000))
# polled through /metrics: a psql session a poll would start a backend
# each time, whose CPU the window would count
while :; do
	done_now=$(b_checks_done)
	t1=$(date +%s%N)
	[ $((done_now - chk0)) -ge "$CREATED" ] && break
	[ "$t1" -ge "$deadline" ] && { echo "not all checked after ${MAXWAIT}s (-w)"; break; }
	sleep 0.5
done
c_pg=$(b_pg_ticks)
b_settle
after=$(b_sample "$B_DB" "$c_pg")
CHECKS=$(($(b_checks_done) - chk0))
read1=$(b_metrics | grep '^payroute_completion_orders_read_total' || true)
SECS=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e9 }')
b_statuses "$RUN"
echo "checks ended in the window: $CHECKS"
for how in with_claim alone; do
	a=$(printf '%s\n' "$read0" | awk -v k="{read=\"$how\"}" 'index($1, k) { print $2 }')
	b=$(printf '%s\n' "$read1" | awk -v k="{read=\"$how\"}" 'index($1, k) { print $2 }')
	[ -n "$b" ] && echo "checked orders read $how: $((b - ${a:-0}))"
done
b_cost checks "$CHECKS" check "$before" "$after"
b_autovacuum_note "$B_DB" "$before"
# less the background: its rates over the window's length (to the after
# sample, the settle included)
read -r NET_CPU NET_COMMITS BG_C BG_CPU < <(awk -v hz="$B_HZ" -v i0="$idle0" -v i1="$before" \
	-v b="$before" -v a="$after" -v n="$CHECKS" -v cpu="$C_CPU_MS" -v c="$C_COMMITS" 'BEGIN {
	split(i0, p, " "); split(i1, q, " "); split(b, x, " "); split(a, y, " ")
	si = (q[7] - p[7]) / 1e9; sw = (y[7] - x[7]) / 1e9
	rc = (q[2] - p[2]) / si; rt = (q[1] - p[1]) * 1000 / hz / si
	if (n > 0) printf "%.2f %.2f %.1f %.2f\n", cpu - rt * sw / n, c - rc * sw / n, rc, rt
	else print "- - 0 0" }')
echo "the background (${BG_C} commits/s, PostgreSQL ${BG_CPU} ms of CPU a second, measured idle just before): a check less it: pg_cpu_ms $NET_CPU commits $NET_COMMITS"
echo "bench_checks: $CHECKS checks in $SECS s: pg_cpu_ms $NET_CPU commits $NET_COMMITS less the background (pg_cpu_ms $C_CPU_MS commits $C_COMMITS with it) write_xacts $C_XACTS rows $C_ROWS wal_bytes $C_WAL"
