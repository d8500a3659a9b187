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
# The peak run's payments are paid (b_settle_run) before the paced run, so
# that their completion checks do not come due during it; with -k (and no
# with -r too: the peak run is made for them) they are left processing,
# and their checks run during the paced run, at the completion job's pace. Then, unless -F:
# the disk's own fdatasync distribution (python3), and the floor: the
# minimal durable pattern (pattern_pay.sql, two durable commits) with
# pgbench at the same rate on the same cluster, its pairs' p50 and p99,
# and the same with the second commit relaxed (pattern_pay_relaxed.sql),
# each with its WAL flushes. During the paced run it samples every 5 ms
# what payroute's store sessions wait on (pg_stat_activity: a WAL flush in
# progress, their own flush, CPU, locks), and prints the WAL flushes
# (pg_stat_wal: their count, commits a flush, mean time with
# track_wal_io_timing), checkpoints, autovacuum, the completion job's
# channel queries and vmstat's run queue in the window: what the store's
# part of the overhead was made of (doc/design.md §10).
#
#   contrib/bench/bench_latency.sh [-e ENVFILE] [-r RATE] [-d SECS]
#       [-p PEAK_SECS] [-t THREADS] [-c CONNECTIONS] [-m alipay|wechat_pay]
#       [-F] [-k]
#   contrib/bench/bench_latency.sh -T   (self-check of the quantiles on a
#                                        canned histogram; no instance)
#
# Exits 1 when the daemon does not export payroute_overhead_seconds. What
# bounds the figure: the daemon's bucket bounds (the interpolation is
# exact only at them) and the number of requests in the run (p99 of 1,500
# requests rests on 15); the end-to-end figures include paysim and the
# signatures. ENVFILE: the instance (default .dev/env of this tree). Needs
# wrk, curl, psql, jq, python3, vmstat, pgbench (the floor). Loopback
# only; bounded by -d and -p (the floor: two pgbench runs of -d seconds,
# 2,000 fdatasyncs).
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
RATE= SECS=10 PSECS=5 THREADS=2 CONNS=16 METHOD=wechat_pay SELFCHECK=0 FLOOR=1 KEEP=0
METRIC=payroute_overhead_seconds OP=payment
usage() {
	echo "usage: $0 [-e ENVFILE] [-r RATE] [-d SECS] [-p PEAK_SECS] [-t THREADS] [-c CONNECTIONS] [-m METHOD] [-F] [-k] | -T" >&2
	exit 2
}
while getopts e:r:d:p:t:c:m:FkT o; do
	case $o in
	e) ENVFILE=$OPTARG ;;
	r) RATE=$OPTARG ;;
	d) SECS=$OPTARG ;;
	p) PSECS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	m) METHOD=$OPTARG ;;
	T) SELFCHECK=1 ;;
	F) FLOOR=0 ;;
	k) KEEP=1 ;;
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

b_need wrk python3 vmstat
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
	[ "$1" = peak ] && PEAK_PREFIX=$prefix
	b_at_exit "b_settle_run $prefix"
	b_payments_lua "$B_TMP/$1.lua" "$prefix" "$METHOD" "$2" "$THREADS"
	wrk -t "$THREADS" -c "$CONNS" -d "${3}s" --latency -s "$B_TMP/$1.lua" \
		"$PAYROUTE_MERCHANT_URL" >"$B_TMP/$1.out"
	read -r _ WRK_US _ < <(grep '^wrk_run ' "$B_TMP/$1.out") || b_die "no summary from wrk"
	WRK_LINE=$(grep '^payments/s ' "$B_TMP/$1.out")
	CREATED=$(b_count_payments "$prefix")
	DONE_RATE=$(b_rate "$CREATED" "$WRK_US")
}

# fsync_tail: the disk's own flush, outside PostgreSQL: 2,000 appends of
# 8 KiB, each followed by fdatasync, in a 16 MiB file (a WAL segment's
# size) next to the instance (B_DEV, the cluster's file system); prints
# their distribution. A commit waits for one such flush, or for the one
# in progress and then its own.
fsync_tail() {
	python3 - "$B_DEV/bench_latency.fsync" 2000 <<'EOF'
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
try:
    os.write(fd, b"\0" * (16 << 20))
    os.fsync(fd)
    block, t = b"x" * 8192, []
    for i in range(n):
        os.lseek(fd, (i * 8192) % (16 << 20), 0)
        a = time.perf_counter()
        os.write(fd, block)
        os.fdatasync(fd)
        t.append((time.perf_counter() - a) * 1000)
finally:
    os.close(fd)
    os.unlink(path)
t.sort()
q = lambda p: t[min(n - 1, int(p * n))]
print("the disk: %d fdatasyncs of an 8 KiB append: mean %.2f ms, p50 %.2f, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f ms; %.1f%% over 2.5 ms"
      % (n, sum(t) / n, q(.5), q(.9), q(.99), q(.999), t[-1], 100.0 * sum(1 for x in t if x > 2.5) / n))
EOF
}

# floor_run RATE SECS CLIENTS: the minimal durable pattern of a payment
# (pattern_pay.sql: two durable commits, no payroute) with pgbench at the
# same rate on the same cluster, CLIENTS sessions (the pool's size): prints
# the p50 and p99 of a pair's time from its start (pgbench's schedule lag
# taken out: payroute's overhead starts when a request arrives). Then the
# same with the second commit not waiting for its flush
# (pattern_pay_relaxed.sql): what relaxing the answer's commit could give
# at most. pgbench -R draws Poisson arrivals, burstier than wrk's fixed
# schedule: the floor is, if anything, high.
floor_run() {
	b_pattern_db
	mkdir -p "$B_TMP/floor"
	floor_one "$@" pattern_pay.sql "two durable commits"
	floor_one "$@" pattern_pay_relaxed.sql "the second commit relaxed"
	b_sql postgres "DROP DATABASE IF EXISTS $B_PATTERN_DB" >/dev/null
}

# floor_one RATE SECS CLIENTS SCRIPT WHAT: one pgbench run of floor_run
floor_one() {
	local out s1 s2

	rm -f "$B_TMP"/floor/pb.*
	s1=$(store_sample)
	out=$(cd "$B_TMP/floor" && PGOPTIONS='-c synchronous_commit=on' pgbench -n \
		-M prepared -c "$3" -j 2 -R "$1" -T "$2" --log --log-prefix=pb \
		-f "$B_HERE/$4" "$B_CONNINFO dbname=$B_PATTERN_DB" 2>&1) ||
		{ printf '%s\n' "$out" | tail -n 20 >&2; b_die "pgbench failed"; }
	s2=$(store_sample)
	# log lines: client xact time_us script epoch epoch_us lag_us
	cat "$B_TMP"/floor/pb.* | awk '{ print ($3 - $7) / 1000 }' | sort -n |
		awk -v r="$1" -v c="$3" -v what="$5" '{ v[NR] = $1; s += $1 } END {
			if (NR == 0) { print "floor: no pgbench transaction logged"; exit }
			k = int(NR * 0.99) + 1
			if (k > NR) k = NR
			printf "floor: the minimal pattern (%s; pgbench -R %s, %s clients), %d pairs: p50 %.3f ms, p99 %.3f ms, mean %.3f ms\n",
				what, r, c, NR, v[int(NR * 0.5) + 1], v[k], s / NR }'
	wal_line "  its WAL" "$s1" "$s2" "$2"
}

# store_sample: "commits wal_syncs wal_sync_ms checkpoints fpi" of the
# cluster now (wal_sync_ms is 0 without track_wal_io_timing)
store_sample() {
	b_sql postgres "SELECT (SELECT sum(xact_commit) FROM pg_stat_database), w.wal_sync, round(w.wal_sync_time::numeric, 3), b.checkpoints_timed + b.checkpoints_req, w.wal_fpi FROM pg_stat_wal w, pg_stat_bgwriter b" | tr '|' ' '
}

# wal_line LABEL BEFORE AFTER SECS: the WAL flushes between two
# store_samples, the commits each carried (all of the cluster's commits,
# read-only ones included), their mean time when track_wal_io_timing is
# on, checkpoints and full-page images
wal_line() {
	awk -v l="$1" -v b="$2" -v a="$3" -v s="$4" 'BEGIN {
		split(b, x, " "); split(a, y, " ")
		f = y[2] - x[2]; c = y[1] - x[1]
		printf "%s %d flushes (%.0f/s), %.2f commits a flush (%d commits in the cluster)", l, f, f / s, f ? c / f : 0, c
		if (y[3] - x[3] > 0) printf ", %.3f ms a flush on average", f ? (y[3] - x[3]) / f : 0
		else printf ", flush time not measured (track_wal_io_timing off)"
		printf "; checkpoints %d, full-page images %d\n", y[4] - x[4], y[5] - x[5] }'
}

# waits_start SECS: samples, every 5 ms for SECS, what payroute's store
# sessions (client backends of its database) and the cluster's own
# processes are doing (pg_stat_activity's state and wait event), in one
# session of its own (a DO loop, a COMMIT between samples so that each
# reads the activity afresh); the counts go to $B_TMP/waits at the end
waits_start() {
	PGOPTIONS='-c client_min_messages=notice' psql -X -q -d "$B_CONNINFO dbname=$B_DB" >"$B_TMP/waits" 2>&1 <<EOF &
DO \$\$
DECLARE
	r record;
	counts jsonb := '{}';
	k text;
	n int := 0;
	stop timestamptz := clock_timestamp() + interval '$1 s';
BEGIN
	WHILE clock_timestamp() < stop LOOP
		n := n + 1;
		FOR r IN SELECT CASE
			WHEN backend_type <> 'client backend' THEN backend_type || ' ' || coalesce(wait_event_type || ':' || wait_event, 'cpu')
			WHEN state = 'active' THEN 'active ' || coalesce(wait_event_type || ':' || wait_event, 'cpu')
			ELSE 'idle' END AS s
			FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND (datname = current_database() OR backend_type IN ('walwriter', 'checkpointer', 'autovacuum worker', 'background writer'))
		LOOP
			counts := jsonb_set(counts, ARRAY[r.s], to_jsonb(coalesce((counts ->> r.s)::int, 0) + 1));
		END LOOP;
		COMMIT;
		PERFORM pg_sleep(0.005);
	END LOOP;
	RAISE NOTICE 'samples %', n;
	FOR k IN SELECT key FROM jsonb_each(counts) ORDER BY value::int DESC LOOP
		RAISE NOTICE 'wait % %', replace(k, ' ', '_'), counts ->> k;
	END LOOP;
END \$\$;
EOF
	WAITS_PID=$!
}

# waits_report: the samples as "on average, so many sessions ..."
waits_report() {
	wait "$WAITS_PID" 2>/dev/null || true
	awk '/NOTICE:  samples / { n = $NF }
	/NOTICE:  wait / { c[$3] = $4 }
	END {
		if (n == 0) { print "store sessions: not sampled"; exit }
		for (k in c) {
			v = c[k] / n
			if (k ~ /^active_/) { act += v; if (k == "active_LWLock:WALWrite") ww = v
				else if (k == "active_IO:WALSync" || k == "active_IO:WALWrite") ws += v
				else if (k == "active_cpu") cpu = v
				else { other += v; ol = ol sprintf(" %s %.3f", substr(k, 8), v) } }
			if (k ~ /^autovacuum/) av += v
			if (k ~ /^checkpointer_/ && k != "checkpointer_Activity:CheckpointerMain") ck += v
		}
		printf "store sessions of payroute over the paced run (%d samples, 5 ms apart): %.2f running a statement on average: %.2f waiting for a WAL flush in progress (LWLock:WALWrite), %.2f in their own flush (IO:WALSync/WALWrite), %.2f on CPU or waiting for one, %.2f other; autovacuum busy in %.0f%% of samples, the checkpointer writing in %.0f%%\n",
			n, act, ww, ws, cpu, other, av * 100, ck * 100
		if (ol != "") printf "  other waits of running statements, sessions on average:%s\n", ol
	}' "$B_TMP/waits"
}

# runq_start SECS / runq_report: vmstat's run queue over the run (the
# processes ready to run, on CORES cores)
runq_start() {
	vmstat 1 "$(($1 + 1))" >"$B_TMP/vmstat" 2>/dev/null &
	VMSTAT_PID=$!
}
runq_report() {
	wait "$VMSTAT_PID" 2>/dev/null || true
	awk -v cores="$(nproc)" 'NR > 3 && $1 ~ /^[0-9]+$/ { n++; r += $1; if ($1 > m) m = $1; id += $15 }
		END { if (n) printf "run queue (vmstat, %d s): %.1f ready on average, %d at most, on %d cores, %.0f%% idle\n", n, r / n, m, cores, id / n }' "$B_TMP/vmstat"
}

# queries COUNT_FILE: the channel queries of completion checks in a scrape
queries() {
	awk '/^payroute_channel_calls_total\{/ && /op="query"/ { n += $NF } END { print n + 0 }' "$1"
}

PEAK=
if [ -z "$RATE" ] || [ "$KEEP" = 1 ]; then
	run peak 0 "$PSECS"
	PEAK=$DONE_RATE
	[ -n "$RATE" ] || RATE=$((PEAK / 2))
	echo "peak (unpaced, ${PSECS}s): $PEAK payments/s ($WRK_LINE); the paced run: $RATE/s"
	[ "$RATE" -gt 0 ] || b_die "no payment was created in the peak run"
	# The peak run's payments are paid now: their completion checks
	# (completion.schedule, 10 s after creation first) would otherwise
	# come due during the paced run, at the peak's rate, and be measured
	# with it.
	# With -k they stay processing instead: the completion job checks
	# them during the paced run (with -F: from about its third second),
	# at its own pace (completion.interval_ms, .batch), as it would
	# unpaid payments in steady work.
	[ "$KEEP" = 1 ] || b_settle_run "$PEAK_PREFIX"
	sleep 2 # the peak run's tail: callbacks, merchant notifications
fi
POOL=$(jq -r '.database.pool_size // empty' "$PAYROUTE_CONF" 2>/dev/null) || POOL=
[ -n "$POOL" ] || POOL=$(($(nproc) * 4 < 8 ? 8 : $(nproc) * 4 > 32 ? 32 : $(nproc) * 4))
if [ "$FLOOR" = 1 ]; then
	fsync_tail
	floor_run "$RATE" "$SECS" "$POOL"
	sleep 1
fi
b_metrics >"$B_TMP/m1" || b_die "no answer from /metrics"
S1=$(store_sample)
waits_start "$SECS"
runq_start "$SECS"
run paced "$RATE" "$SECS"
S2=$(store_sample)
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
# What the store's part was made of: the sessions' wait events, the WAL
# flushes (their count, the commits each carried, their mean time when
# track_wal_io_timing is on), checkpoints and autovacuum in the window,
# the completion job's channel queries, and the cores' run queue.
waits_report
wal_line "WAL over the paced run:" "$S1" "$S2" "$SECS"
b_autovacuum_note "$B_DB" "0 0 0 0 0 0 $(( $(date +%s) - SECS - 2 ))000000000"
echo "completion job: $(($(queries "$B_TMP/m2") - $(queries "$B_TMP/m1"))) channel queries during the paced run"
runq_report
E2E=$(awk '{ printf "p50 %s ms p99 %s ms", $4, $7 }' <<<"$WRK_LINE")
printf 'bench_latency: rate %s/s (asked %s/s%s) overhead p50 %s ms p99 %s ms (target p99 < 5 ms) end-to-end %s\n' \
	"$DONE_RATE" "$RATE" "${PEAK:+, peak $PEAK/s}" "$P50" "$P99" "$E2E"
