# shellcheck shell=bash
# lib_bench.sh - what the benchmarks of contrib/bench share (sourced by
# bench_*.sh; bash): the instance an env file describes, the admin API and
# the simulator's control API, the payments load (wrk), the minimal
# durable pattern (pgbench), and the store cost of a run.
#
# Instance. b_init ENVFILE sources the env file `contrib/dev.sh up` writes
# (.dev/env; -e in every script, so that one session can measure a
# baseline instance and a new build in turn) and sets:
#   B_DEV       the env file's directory (the instance's .dev)
#   B_CONNINFO  database.conninfo of $PAYROUTE_CONF (keyword=value form)
#   B_DB        its dbname (default payroute)
#   B_PR_PID    payrouted ($PAYROUTE_PID)
#   B_SIM_PID   paysim (paysim.pid next to the env file; empty when absent)
#   B_SIM_URL   $PAYROUTE_SIM_URL
#   B_PGDATA    the cluster's data directory (SHOW data_directory)
#   B_PM_PID    its postmaster (first line of $B_PGDATA/postmaster.pid, or
#               the parent of the checkpointer when that file is not
#               readable)
#
# Store cost. b_sample DB prints one line of counters taken together:
#   PostgreSQL CPU (clock ticks): utime + stime of the postmaster and of
#     every process whose parent it is, plus the postmaster's cutime +
#     cstime (fields 14-17 of /proc/PID/stat): the CPU of backends already
#     reaped counts too (pgbench's backends, and any payrouted reconnects,
#     exit during or after a run);
#   from pg_stat_database of DB: xact_commit, rows written (tup_inserted +
#     tup_updated + tup_deleted), blks_hit (buffer hits);
#   pg_stat_wal.wal_bytes and wal_fpi (full-page images; the whole
#     cluster);
#   write transactions: pg_snapshot_xmax(pg_current_snapshot()), the next
#     xid, which moves once per transaction that wrote (the whole cluster);
#   the time (ns).
# It is read from the database "postgres", so that the sampling session
# adds nothing to DB's counters (and, read-only, assigns no xid).
# b_cost LABEL UNITS UNIT BEFORE AFTER prints the deltas per unit (per
# payment, per pattern pair, per callback...) and sets C_CPU_MS,
# C_COMMITS, C_XACTS, C_ROWS, C_WAL, C_FPI, C_HITS. Every measured run
# starts after a CHECKPOINT (the scripts issue it before the "before"
# sample), so that full-page images count alike in the runs compared: the
# first change of each page after a checkpoint logs the whole page, and a
# short run right after one shows more of them than a steady state would.
#
# Stats are published lazily: a backend adds its pg_stat_database and
# pg_stat_wal counts to the shared ones when it goes idle, at most once a
# second; one that goes idle less than a second after its last flush does
# it 10 s later (PostgreSQL 15: PGSTAT_MIN_INTERVAL 1 s, PGSTAT_IDLE_INTERVAL
# 10 s; pg_stat_force_next_flush() acts on its own session only), and an
# exiting backend flushes at exit. Observed on 15.18 with payrouted's pool:
# after a burst of callbacks the xids stopped moving at once, the commits
# arrived 9 to 10 s later. So every sample that may follow work through
# payrouted's (persistent) connections first makes sure that work is
# published (b_settle: it makes payrouted run a read on each connection 1 s
# later, which flushes, or waits for the 10 s; B_SETTLE seconds at most,
# default 11, env BENCH_SETTLE): the "after" sample, and the "before"
# sample of a run (b_background settles first, then measures 1 s of
# background). The pattern's pgbench backends exit (and flush as they do),
# so its "after" sample waits 2 s only. The CPU of an "after" sample is
# read when the load is over, before the settle (b_sample DB TICKS).
# Settling quickly matters: orders still processing 10 s after their
# creation get the completion job's first query (completion.schedule), and
# a callbacks run must pay its orders before that.
# The windows also count whatever the cluster does meanwhile (b_background
# prints that rate before a run; the scripts have the simulated payer pay
# their runs' orders at exit, b_settle_run, so that the completion job does
# not keep querying them during the next runs).
# CPU ticks are read from /proc at once and have the kernel's tick
# resolution (1/CLK_TCK s per process). The scripts' own short psql
# sessions (a sample, a poll) cost the cluster a few ms each, and those
# inside a window count in it (a handful per run).

B_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B_ROOT=$(cd "$B_HERE/../.." && pwd)
B_SETTLE=${BENCH_SETTLE:-11}
B_HZ=$(getconf CLK_TCK)
B_TMP=
B_CLEANUPS=()
B_NAME=$(basename "$0" .sh)

b_say() { printf '%s: %s\n' "$B_NAME" "$*"; }
b_die() {
	printf '%s: %s\n' "$B_NAME" "$*" >&2
	exit 1
}
b_need() {
	local t

	for t in "$@"; do
		command -v "$t" >/dev/null ||
			b_die "$t is not installed (apt-get install $t)"
	done
}

# b_at_exit CMD: run CMD (a string, eval'd) at exit, most recent first.
b_at_exit() { B_CLEANUPS+=("$1"); }
b_exit() {
	local rc=$? i

	set +e
	trap - EXIT INT TERM
	for ((i = ${#B_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${B_CLEANUPS[$i]}"
	done
	[ -n "$B_TMP" ] && rm -rf "$B_TMP"
	exit "$rc"
}
trap b_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# b_opts "L:VAR[:LABEL] ... L=VAR=VALUE ..." ARG...: a bench's options,
# each -L VALUE setting the variable VAR (the defaults are set before), or
# for a flag (L=VAR=VALUE) -L setting VAR to VALUE. An unknown option, one
# without its value or an argument left over prints the usage built from
# the list ("usage: bench_x.sh [-L LABEL] [-F] ...", LABEL defaulting to
# VAR) and exits 2.
b_opts() {
	local spec=$1 letters="" usage="usage: $0" o pair rest
	local OPTIND=1 OPTARG

	shift
	for pair in $spec; do
		case $pair in
		?=*) letters+="${pair%%=*}" usage+=" [-${pair%%=*}]" ;;
		*)
			rest=${pair#*:}
			letters+="${pair%%:*}:"
			usage+=" [-${pair%%:*} ${rest#*:}]"
			;;
		esac
	done
	while getopts "$letters" o; do
		for pair in $spec; do
			case $pair in
			"$o"=*)
				rest=${pair#*=}
				printf -v "${rest%%=*}" '%s' "${rest#*=}"
				continue 2
				;;
			"$o":*)
				rest=${pair#*:}
				printf -v "${rest%%:*}" '%s' "$OPTARG"
				continue 2
				;;
			esac
		done
		echo "$usage" >&2
		exit 2
	done
	if [ $# -ge "$OPTIND" ]; then
		echo "$usage" >&2
		exit 2
	fi
}

# b_tmp: a private temporary directory, B_TMP, removed at exit.
b_tmp() {
	[ -n "$B_TMP" ] || B_TMP=$(mktemp -d /tmp/payroute-bench.XXXXXX)
}

b_init() {
	local envfile=$1 f

	[ -f "$envfile" ] || b_die "no env file $envfile: run contrib/dev.sh up first (or -e ENVFILE)"
	b_need psql jq curl awk pgrep
	# shellcheck disable=SC1090
	. "$envfile"
	B_DEV=$(cd "$(dirname "$envfile")" && pwd)
	[ -n "${PAYROUTE_CONF:-}" ] && [ -f "$PAYROUTE_CONF" ] ||
		b_die "$envfile sets no readable PAYROUTE_CONF"
	B_CONNINFO=$(jq -r '.database.conninfo // empty' "$PAYROUTE_CONF")
	[ -n "$B_CONNINFO" ] || b_die "no database.conninfo in $PAYROUTE_CONF"
	case $B_CONNINFO in
	postgres://* | postgresql://*)
		b_die "database.conninfo of $PAYROUTE_CONF is a URI; these scripts need the keyword=value form" ;;
	esac
	B_DB=$(printf '%s\n' "$B_CONNINFO" | sed -n "s/.*dbname=\\([^ ']*\\).*/\\1/p")
	B_DB=${B_DB:-payroute}
	B_PR_PID=$(tr -dc '0-9' 2>/dev/null <"${PAYROUTE_PID:-/nonexistent}" || true)
	[ -n "$B_PR_PID" ] && [ -r "/proc/$B_PR_PID/stat" ] ||
		b_die "payrouted is not running (pid file ${PAYROUTE_PID:-?})"
	B_SIM_PID=$(tr -dc '0-9' 2>/dev/null <"$B_DEV/paysim.pid" || true)
	[ -n "$B_SIM_PID" ] && [ -r "/proc/$B_SIM_PID/stat" ] || B_SIM_PID=
	B_SIM_URL=${PAYROUTE_SIM_URL:-}
	B_PGDATA=$(b_sql postgres "SHOW data_directory") ||
		b_die "cannot reach PostgreSQL with \"$B_CONNINFO\""
	B_PM_PID=
	f=$B_PGDATA/postmaster.pid
	[ -r "$f" ] && B_PM_PID=$(head -n 1 "$f" | tr -dc '0-9')
	if [ -z "$B_PM_PID" ]; then
		B_PM_PID=$(b_sql postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
		B_PM_PID=$(awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$B_PM_PID/stat" 2>/dev/null)
	fi
	[ -n "$B_PM_PID" ] && [ -r "/proc/$B_PM_PID/stat" ] ||
		b_die "cannot find the postmaster of $B_PGDATA"
}

# b_sql DB SQL: one statement, unaligned, tuples only
b_sql() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$B_CONNINFO dbname=$1" -c "$2"
}

# b_ticks PID...: user + system clock ticks the processes have used
b_ticks() {
	local p files=()

	for p in "$@"; do
		[ -n "$p" ] && files+=("/proc/$p/stat")
	done
	[ ${#files[@]} -gt 0 ] || { echo 0; return; }
	cat "${files[@]}" 2>/dev/null | awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# b_pg_ticks: the cluster's CPU (see the header), in clock ticks
b_pg_ticks() {
	local kids

	# the postmaster first: a child reaped between the two reads is lost
	# (a tick or two), never counted twice
	kids=$(pgrep -P "$B_PM_PID" | sed 's|.*|/proc/&/stat|')
	# shellcheck disable=SC2086 # a list of files
	cat "/proc/$B_PM_PID/stat" $kids 2>/dev/null |
		awk 'NR == 1 { sub(/^.*\) /, ""); t = $12 + $13 + $14 + $15; next }
		     { sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# b_sample DB [TICKS]: "ticks commits rows hits wal_bytes next_xid ns
# wal_fpi"; TICKS: the cluster's CPU read earlier (b_pg_ticks) instead of
# now (CPU is not published late: an "after" sample takes it when the load
# is over, before the settle, so that the settle adds nothing to it)
b_sample() {
	local ticks=${2:-} row

	[ -n "$ticks" ] || ticks=$(b_pg_ticks)
	row=$(b_sql postgres "SELECT d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted, d.blks_hit, w.wal_bytes::bigint, pg_snapshot_xmax(pg_current_snapshot())::text, w.wal_fpi FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = '$1'") ||
		b_die "cannot sample pg_stat_database"
	[ -n "$row" ] || b_die "no database $1 in pg_stat_database"
	row=${row//|/ }
	echo "$ticks ${row% *} $(date +%s%N) ${row##* }"
}

# b_cost LABEL UNITS UNIT BEFORE AFTER: prints the store cost per UNIT
b_cost() {
	local out

	out=$(awk -v units="$2" -v hz="$B_HZ" -v b="$4" -v a="$5" 'BEGIN {
		split(b, x, " "); split(a, y, " ")
		if (units <= 0) { print "-"; exit }
		printf "%.2f %.2f %.2f %.2f %.0f %.2f %.0f\n",
			(y[1] - x[1]) * 1000 / hz / units, (y[2] - x[2]) / units,
			(y[6] - x[6]) / units, (y[3] - x[3]) / units,
			(y[5] - x[5]) / units, (y[8] - x[8]) / units,
			(y[4] - x[4]) / units }')
	if [ "$out" = - ]; then
		printf 'store cost per %s, %s: no %s, nothing to divide by\n' "$3" "$1" "$3"
		C_CPU_MS=0 C_COMMITS=0 C_XACTS=0 C_ROWS=0 C_WAL=0 C_FPI=0 C_HITS=0
		return
	fi
	read -r C_CPU_MS C_COMMITS C_XACTS C_ROWS C_WAL C_FPI C_HITS <<<"$out"
	printf 'store cost per %s, %s (%s %ss): pg_cpu_ms %s commits %s write_xacts %s rows_written %s wal_bytes %s (full-page images %s) buf_hits %s\n' \
		"$3" "$1" "$2" "$3" "$C_CPU_MS" "$C_COMMITS" "$C_XACTS" "$C_ROWS" "$C_WAL" "$C_FPI" "$C_HITS"
}

# b_autovacuum_note DB BEFORE: names the tables autovacuum vacuumed or
# analyzed since the sample BEFORE was taken (or is vacuuming now): their
# CPU and WAL (full-page images, mostly) count in the window
b_autovacuum_note() {
	local t0 out

	t0=$(awk -v s="$2" 'BEGIN { split(s, x, " "); printf "%.3f", x[7] / 1e9 }')
	out=$(b_sql "$1" "SELECT string_agg(x, ', ') FROM (SELECT relname || ' (' || concat_ws('+', CASE WHEN last_autovacuum >= to_timestamp($t0) THEN 'vacuum' END, CASE WHEN last_autoanalyze >= to_timestamp($t0) THEN 'analyze' END) || ')' AS x FROM pg_stat_all_tables WHERE last_autovacuum >= to_timestamp($t0) OR last_autoanalyze >= to_timestamp($t0) UNION ALL SELECT relid::regclass || ' (vacuum running)' FROM pg_stat_progress_vacuum WHERE datname = current_database()) y") || return 0
	[ -n "$out" ] && echo "autovacuum during the window: $out (its CPU and WAL count in the store cost)"
	return 0
}

# b_background DB [SECS]: what the cluster does while no load runs (before
# a run): commits/s in DB and PostgreSQL CPU over SECS (1) after a settle,
# so that the stats of what ran before are published before a run's
# "before" sample too
b_background() {
	local s0 s1

	b_settle
	s0=$(b_sample "$1")
	sleep "${2:-1}"
	s1=$(b_sample "$1")
	awk -v hz="$B_HZ" -v b="$s0" -v a="$s1" -v db="$1" 'BEGIN {
		split(b, x, " "); split(a, y, " "); s = (y[7] - x[7]) / 1e9
		printf "store background before the run: %.0f commits/s in %s, postgres %.2f cores\n",
			(y[2] - x[2]) / s, db, (y[1] - x[1]) / hz / s }'
}

# b_settle: returns once everything payrouted's connections did before
# the call is published in the stats (see the header), B_SETTLE seconds at
# most. A client backend has published it when it went idle at least
# 10.5 s ago (its deferred flush came) or when it ended a transaction at
# least 1 s after the call (a flush at most 1 s old then covers the call).
# So after 1 s, while some backend has neither, payrouted is made to run a
# read on its connections: 4 x its connections' count of GETs of an
# unknown payment through the merchant API, sent together by one curl
# (404; one or two reads each, counted in the window when this follows a
# run), so that the pool needs every connection for them: fewer, or sent
# one process each, a burst was answered by the same few connections
# while the others waited out their 10 s and the window grew past the
# run's first checks. Polls every 0.5 s, one short session each.
b_settle() {
	local end i n conns

	end=$(date +%s%N)
	sleep 1.05
	for ((i = 0; i < B_SETTLE * 2; i++)); do
		read -r n conns < <(b_sql postgres "SELECT count(*) FILTER (WHERE NOT (state = 'idle' AND (state_change >= to_timestamp($end / 1e9 + 1) OR state_change <= now() - interval '10.5 s'))), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname IS NOT NULL AND pid <> pg_backend_pid()" | tr '|' ' ') || n=1
		[ "${n:-1}" = 0 ] && return 0
		b_poke "$((4 * ${conns:-4}))"
		sleep 0.5
	done
	b_say "note: some store connection had not published its stats after ${B_SETTLE}s (BENCH_SETTLE)" >&2
}

# b_poke N: N concurrent reads through payrouted (GET of an unknown
# payment), sent at once by one curl
b_poke() {
	local i

	b_tmp
	for ((i = 0; i < $1; i++)); do
		printf 'url = "%s/v1/payments/Pbenchsettle000000"\nheader = "Authorization: Bearer %s"\noutput = "/dev/null"\n' \
			"$PAYROUTE_MERCHANT_URL" "${PAYROUTE_MERCHANT_KEY:-}"
	done >"$B_TMP/poke.cfg"
	curl -s --parallel --parallel-immediate --parallel-max "$1" -m 5 \
		-K "$B_TMP/poke.cfg" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- APIs
# b_admin METHOD PATH [BODY]: the admin API; prints the body, then the HTTP
# status on a line of its own (BODY "@FILE": the file's content)
b_admin() {
	local args=(-s -m 120 -X "$1" -w '\n%{http_code}'
		-H "Authorization: Bearer $PAYROUTE_ADMIN_TOKEN"
		-H "X-Payroute-Note: contrib/bench/$B_NAME.sh")

	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "$PAYROUTE_ADMIN_URL$2" || printf '\n000'
}

# b_admin_ok METHOD PATH [BODY]: b_admin, the body only; dies unless 2xx
b_admin_ok() {
	local out code

	out=$(b_admin "$@")
	code=${out##*$'\n'}
	case $code in
	2??) printf '%s\n' "${out%$'\n'*}" ;;
	*) b_die "$1 $2: HTTP $code: $(printf '%s' "${out%$'\n'*}" | head -c 500)" ;;
	esac
}

# b_sim PATH BODY: the simulator's control API (POST); quiet, dies on error
b_sim() {
	[ -n "$B_SIM_URL" ] || b_die "no PAYROUTE_SIM_URL: is the channel simulator part of this instance?"
	curl -sf -m 10 -o /dev/null -H 'Content-Type: application/json' \
		--data-binary "$2" "$B_SIM_URL$1" || b_die "paysim: POST $1 $2 failed"
}

# b_sim_requests: requests paysim has answered so far (GET /_sim/stats;
# empty when it does not answer)
b_sim_requests() {
	[ -n "$B_SIM_URL" ] || return 0
	curl -sf -m 5 "$B_SIM_URL/_sim/stats" 2>/dev/null | jq -r '.requests // empty' 2>/dev/null || true
}

# b_sim_note BEFORE AFTER N WHAT: says how many requests paysim answered
# in a window besides the N the run made (WHAT): the completion job's
# channel queries, mostly (each /_sim/stats read counts one)
b_sim_note() {
	[ -n "$1" ] && [ -n "$2" ] || return 0
	echo "paysim answered $(($2 - $1 - 1)) requests in the window, $3 of them $4: $(($2 - $1 - 1 - $3)) others (the completion job's queries, mostly)"
}

# b_checks_done: how many checks payrouted's completion job has ended
# (payroute_completion_checks_total, every result), or empty
b_checks_done() {
	curl -sf -m 10 "$PAYROUTE_ADMIN_URL/metrics" |
		awk '/^payroute_completion_checks_total[{ ]/ { n += $NF; seen = 1 } END { if (seen) print n }'
}

# b_first_check: the first step of completion.schedule in seconds (the
# instance's file; 10 when it does not say)
b_first_check() {
	jq -r '.completion.schedule // "10s"' "$PAYROUTE_CONF" 2>/dev/null |
		awk -F, '{ v = $1; m = 1; if (v ~ /ms$/) { m = 0.001; sub(/ms$/, "", v) }
			else if (v ~ /m$/) { m = 60; sub(/m$/, "", v) }
			else if (v ~ /h$/) { m = 3600; sub(/h$/, "", v) } else sub(/s$/, "", v)
			print v * m }'
}

# b_autopay_off: the simulated payer pays nothing by itself (a "*" script
# with "pay": "never"), so that a run creates payments only; reset at exit
# ({"order": "*", "faults": null}: auto_pay applies again to new orders).
b_autopay_off() {
	b_sim /_sim/script '{"order":"*","rate":1,"faults":{"pay":"never"}}'
	b_at_exit "curl -sf -m 10 -o /dev/null -H 'Content-Type: application/json' --data-binary '{\"order\":\"*\",\"faults\":null}' '$B_SIM_URL/_sim/script' || echo '$B_NAME: could not reset the paysim \"*\" script' >&2"
}

# b_method METHOD: sets B_ENV and B_PRODUCT for a payment of METHOD that
# the sample catalogue routes (alipay: ali_qr, wechat_pay: wx_native)
b_method() {
	case $1 in
	alipay) B_ENV=native_qr B_PRODUCT=FACE_TO_FACE_PAYMENT ;;
	wechat_pay) B_ENV=native_qr B_PRODUCT=NATIVE ;;
	*) b_die "method $1: alipay or wechat_pay" ;;
	esac
}

# b_payments_lua FILE PREFIX METHOD [RATE THREADS]: a wrk script creating
# one payment per request (merchant_order_no PREFIX-THREAD-N); prints
# "payments/s .. p50 .. p99 .. errors .." and "wrk_run DURATION_US
# REQUESTS NON2XX ERRORS" at the end. With RATE (requests per second in
# all), each thread paces its requests to RATE/THREADS per second with
# wrk's delay() hook: a request goes out at the thread's next slot, or at
# once when the slot is past (then the achieved rate is lower; the script
# prints it).
b_payments_lua() {
	local rate=${4:-0} threads=${5:-1}

	[ -n "${PAYROUTE_MERCHANT_KEY:-}" ] || b_die "no PAYROUTE_MERCHANT_KEY in the env file"
	b_method "$3"
	cat >"$1" <<EOF
local threads = 0
setup = function(thread)
	threads = threads + 1
	thread:set("tid", threads)
end
local n = 0
local non2xx = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $PAYROUTE_MERCHANT_KEY"
request = function()
	n = n + 1
	local body = string.format('{"merchant_order_no":"$2-%d-%d","amount":%d,"currency":"CNY","method":"$3","environment":"$B_ENV","product_code":"$B_PRODUCT","subject":"bench"}',
		tid, n, 100 + n % 5000)
	return wrk.format(nil, "/v1/payments", nil, body)
end
response = function(status, headers, body)
	if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
local period = $rate > 0 and 1000 * $threads / $rate or 0
if period > 0 then
	local ffi = require("ffi")
	ffi.cdef[[
		typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
		int clock_gettime(int clk, bench_timespec *ts);
	]]
	local ts = ffi.new("bench_timespec")
	local function now_ms()
		ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
		return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
	end
	local next_at = nil
	delay = function()
		local now = now_ms()
		if next_at == nil or next_at < now then next_at = now end
		local d = next_at - now
		next_at = next_at + period
		return math.floor(d + 0.5)
	end
end
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("payments/s %.0f  p50 %.2f ms  p99 %.2f ms  errors %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		e.status + e.connect + e.read + e.write + e.timeout))
	io.write(string.format("wrk_run %d %d %d %d\n", summary.duration,
		summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
}

# b_create_cfg FILE PREFIX METHOD N [NOTIFY_URL]: a curl config (-K)
# creating N payments (merchant_order_no PREFIX-0-1 .. PREFIX-0-N), one
# transfer each, writing each answer's HTTP status on a line
# (b_curl_parallel); with NOTIFY_URL (no quotes or backslashes in it),
# each payment's notify_url
b_create_cfg() {
	local i notify=

	[ -n "${PAYROUTE_MERCHANT_KEY:-}" ] || b_die "no PAYROUTE_MERCHANT_KEY in the env file"
	b_method "$3"
	[ -z "${5:-}" ] || notify=',\"notify_url\":\"'$5'\"'
	for ((i = 1; i <= $4; i++)); do
		[ "$i" = 1 ] || echo next
		printf 'url = "%s/v1/payments"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata-binary = "{\\"merchant_order_no\\":\\"%s-0-%d\\",\\"amount\\":%d,\\"currency\\":\\"CNY\\",\\"method\\":\\"%s\\",\\"environment\\":\\"%s\\",\\"product_code\\":\\"%s\\",\\"subject\\":\\"bench\\"%s}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
			"$PAYROUTE_MERCHANT_URL" "$PAYROUTE_MERCHANT_KEY" "$2" "$i" \
			$((100 + i % 5000)) "$3" "$B_ENV" "$B_PRODUCT" "$notify"
	done >"$1"
}

# b_curl_parallel CFG CONNS OUT: runs every transfer of the curl config CFG,
# CONNS at a time (curl --parallel: one process, a bounded list, exact
# count), each bounded to 30 s; the HTTP statuses go to OUT, one a line
b_curl_parallel() {
	curl -s --parallel --parallel-immediate --parallel-max "$2" -m 30 \
		-K "$1" >"$3" 2>/dev/null || true
}

# b_codes OUT: "200 x1998, 409 x2" from b_curl_parallel's output
b_codes() {
	sort "$1" | uniq -c | awk '{ printf "%s%s x%d", (NR > 1) ? ", " : "", $2, $1 } END { if (NR == 0) printf "none"; print "" }'
}

# b_payments_run SECS THREADS CONNS METHOD: one measured run of the payments
# load (b_payments_lua, unpaced; the caller turns auto-pay off first): a
# CHECKPOINT, the background rate, wrk (its figures printed), the CPU
# payrouted, paysim and PostgreSQL used during the run, then, after the
# settle, the payments created (counted in the table), their statuses and
# the store cost per payment (b_cost). Sets RUN (the merchant_order_no
# prefix), CREATED, RATE (payments created per second) and C_*. The run's
# payments are paid at exit (b_settle_run).
b_payments_run() {
	local before after t0 c_pr c_sim c_pg d_pr d_sim d_pg wrk_us wrk_req wrk_non2xx wrk_err sim0 sim1 chk0 chk1 win

	RUN=$(b_run_prefix b)
	b_at_exit "b_settle_run $RUN"
	b_payments_lua "$B_TMP/pay.lua" "$RUN" "$4"
	b_checkpoint
	b_background "$B_DB"
	sim0=$(b_sim_requests) chk0=$(b_checks_done)
	before=$(b_sample "$B_DB")
	t0=$(date +%s%N)
	c_pr=$(b_ticks "$B_PR_PID") c_sim=$(b_ticks "$B_SIM_PID") c_pg=$(b_pg_ticks)
	wrk -t "$2" -c "$3" -d "${1}s" --latency -s "$B_TMP/pay.lua" \
		"$PAYROUTE_MERCHANT_URL" | tee "$B_TMP/wrk.out" | grep -v '^wrk_run '
	# Who used the CPU: a process near one core (payrouted's loop is one
	# thread) is the bottleneck; paysim's share says it is not the
	# simulator.
	d_pr=$(($(b_ticks "$B_PR_PID") - c_pr)) d_sim=$(($(b_ticks "$B_SIM_PID") - c_sim))
	d_pg=$(($(b_pg_ticks) - c_pg))
	awk -v hz="$B_HZ" -v ns=$(($(date +%s%N) - t0)) \
		-v pr="$d_pr" -v sim="$d_sim" -v pg="$d_pg" \
		'BEGIN { s = ns / 1e9; printf "CPU used during the run (cores): payrouted %.2f, paysim %.2f, postgres %.2f\n", pr / hz / s, sim / hz / s, pg / hz / s }'
	sleep 1 # the requests wrk left in flight
	c_pg=$(b_pg_ticks)
	b_settle
	after=$(b_sample "$B_DB" "$c_pg")
	sim1=$(b_sim_requests) chk1=$(b_checks_done)
	win=$((($(date +%s%N) - t0) / 1000000))
	read -r _ wrk_us wrk_req wrk_non2xx wrk_err < <(grep '^wrk_run ' "$B_TMP/wrk.out") ||
		b_die "no summary from wrk"
	CREATED=$(b_count_payments "$RUN")
	RATE=$(b_rate "$CREATED" "$wrk_us")
	echo "payments created: $CREATED ($RATE/s, counted in the payments table; wrk: $wrk_req answers, $wrk_non2xx non-2xx, $wrk_err socket errors)"
	b_statuses "$RUN"
	# The figure that holds when other work shares the cores and the
	# rates swing: each process's CPU per payment created in the run.
	read -r PR_CPU_MS SIM_CPU_MS < <(awk -v hz="$B_HZ" -v n="$CREATED" \
		-v pr="$d_pr" -v sim="$d_sim" 'BEGIN { if (n <= 0) n = 1
		printf "%.3f %.3f\n", pr * 1000 / hz / n, sim * 1000 / hz / n }')
	echo "CPU per payment during the run: payrouted $PR_CPU_MS ms, paysim $SIM_CPU_MS ms (clock ticks of 1/$B_HZ s over $CREATED payments)"
	b_sim_note "$sim0" "$sim1" "$CREATED" "the payments' orders"
	[ -n "$chk0" ] && [ -n "$chk1" ] &&
		echo "the completion job's checks in the window: $((chk1 - chk0)) (payrouted's; the window lasted ${win} ms from the load's start, its settle included, and the run's first payments come due $(b_first_check) s after they were made: a longer window counts their checks' statements and CPU in the store cost below)"
	b_autovacuum_note "$B_DB" "$before"
	b_cost payroute "$CREATED" payment "$before" "$after"
}

# b_policy_save FILE: saves the whole routing policy (GET /admin/v1/policy)
# and puts it back at exit (PUT; secrets come back masked and a masked
# secret keeps the stored value, so the export imports back unchanged)
b_policy_save() {
	b_admin_ok GET /admin/v1/policy >"$1"
	jq -e '.format and .channels' "$1" >/dev/null || b_die "GET /admin/v1/policy: not a policy document"
	b_at_exit "b_policy_restore '$1'"
}
b_policy_restore() {
	local out code

	out=$(b_admin PUT /admin/v1/policy "@$1")
	code=${out##*$'\n'}
	if [ "$code" = 200 ]; then
		echo "policy restored ($(printf '%s' "${out%$'\n'*}" | jq -c '{changed, generation}' 2>/dev/null))"
	else
		echo "$B_NAME: could not restore the policy saved in $1: HTTP $code: $(printf '%s' "${out%$'\n'*}" | head -c 300)" >&2
		cp "$1" "/tmp/$B_NAME.policy.$$.json" &&
			echo "$B_NAME: a copy is in /tmp/$B_NAME.policy.$$.json (payroutectl or PUT /admin/v1/policy)" >&2
	fi
}

# b_pay_cfg PREFIX FILE: writes a curl config (-K) in which the simulated
# payer pays every payment of the run still processing, oldest first (POST
# /_sim/pay {"channel", "out_trade_no"}; paysim's channel names are
# payroute's driver names); prints how many
b_pay_cfg() {
	local first=1 id drv n=0

	[ -n "$B_SIM_URL" ] || b_die "no PAYROUTE_SIM_URL in the env file"
	while read -r id drv; do
		[ -n "$id" ] || continue
		[ "$first" = 1 ] || echo next
		first=0 n=$((n + 1))
		printf 'url = "%s/_sim/pay"\nheader = "Content-Type: application/json"\ndata-binary = "{\\"channel\\":\\"%s\\",\\"out_trade_no\\":\\"%s\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
			"$B_SIM_URL" "$drv" "$id"
	done < <(b_sql "$B_DB" "SELECT p.id || ' ' || c.driver FROM payments p JOIN channels c ON c.code = p.channel WHERE p.merchant_order_no LIKE '$1-%' AND p.status = 'processing' ORDER BY p.created_at, p.id") >"$2"
	echo "$n"
}

# b_settle_run PREFIX (at exit, after a run): the simulated payer pays the
# run's payments still processing and the script waits (30 s at most)
# for their callbacks, so that the completion job does not keep querying
# them for their 30 minutes and weigh on the next runs' figures.
# BENCH_KEEP=1 leaves them processing.
b_settle_run() {
	local n i left=0

	[ "${BENCH_KEEP:-0}" = 1 ] && return 0
	n=$(b_pay_cfg "$1" "$B_TMP/settle.cfg") || return 0
	[ "$n" -gt 0 ] || return 0
	b_curl_parallel "$B_TMP/settle.cfg" 16 "$B_TMP/settle.out"
	for i in $(seq 150); do
		left=$(b_count_payments "$1" processing) || break
		[ "$left" = 0 ] && break
		sleep 0.2
	done
	echo "cleanup: the simulated payer paid the run's $n payments still processing ($left left after the wait), so that the completion job does not keep querying them (BENCH_KEEP=1 keeps them)"
}

# b_count_payments PREFIX [STATUS]: payments of a run (merchant_order_no
# PREFIX-...), of one status or all
b_count_payments() {
	local w=""

	[ $# -gt 1 ] && w=" AND status = '$2'"
	b_sql "$B_DB" "SELECT count(*) FROM payments WHERE merchant_order_no LIKE '$1-%'$w"
}

# b_statuses PREFIX: "stored, by status: ..." for a run
b_statuses() {
	b_sql "$B_DB" "SELECT 'stored, by status: ' || coalesce(string_agg(status || ' ' || n, ', '), 'none') FROM (SELECT status, count(*) AS n FROM payments WHERE merchant_order_no LIKE '$1-%' GROUP BY status ORDER BY status) x"
}

# b_run_prefix: a merchant_order_no prefix unique to this run
b_run_prefix() { printf '%s%s' "$1" "$(date +%s%N)"; }

# ---------------------------------------------------------------- pattern
B_PATTERN_DB=payroute_bench

# b_pattern_db: the pattern's database B_PATTERN_DB made anew on the
# instance's cluster (pattern.sql: its tables), dropped at exit
b_pattern_db() {
	b_need pgbench
	b_sql postgres "DROP DATABASE IF EXISTS $B_PATTERN_DB" >/dev/null &&
		b_sql postgres "CREATE DATABASE $B_PATTERN_DB" >/dev/null ||
		b_die "cannot create the database $B_PATTERN_DB"
	b_at_exit "b_sql postgres 'DROP DATABASE IF EXISTS $B_PATTERN_DB' >/dev/null 2>&1"
	PGOPTIONS='-c client_min_messages=warning' \
		psql -X -q -v ON_ERROR_STOP=1 -d "$B_CONNINFO dbname=$B_PATTERN_DB" \
		-f "$B_HERE/pattern.sql" >/dev/null || b_die "pattern.sql failed"
}

# b_pattern VARIANT SECS CLIENTS: the minimal durable pattern of a payment
# (pattern.sql, pattern_pay.sql or pattern_pay_nousage.sql) with pgbench
# on the instance's cluster, in a scratch database payroute_bench created
# here and dropped afterwards (and at exit). VARIANT: usage (transaction 1
# raises one of 10 channels' usage rows and inserts the order; transaction
# 2 marks it answered) or nousage (insert; update). Durable commits
# (synchronous_commit=on for the sessions; the cluster's fsync setting is
# printed), prepared statements, 2 pgbench threads. A CHECKPOINT first, as
# before every measured run, so that full-page images count alike. Sets
# P_RATE (pairs/s), P_PAIRS, C_* (b_cost) and P_CPU, P_COMMITS, P_ROWS,
# P_WAL (copies of C_*).
b_pattern() {
	local script=$B_HERE/pattern_pay.sql out before after

	[ "$1" = nousage ] && script=$B_HERE/pattern_pay_nousage.sql
	b_pattern_db
	b_settle # what ran before publishes its WAL counts (the whole cluster's)
	b_checkpoint
	before=$(b_sample "$B_PATTERN_DB")
	out=$(PGOPTIONS='-c synchronous_commit=on' pgbench -n -M prepared \
		-c "$3" -j 2 -T "$2" -f "$script" \
		"$B_CONNINFO dbname=$B_PATTERN_DB" 2>&1) ||
		{ printf '%s\n' "$out" | tail -n 20 >&2; b_die "pgbench failed"; }
	sleep 2 # its backends exit, and flush their stats as they do
	after=$(b_sample "$B_PATTERN_DB")
	P_PAIRS=$(printf '%s\n' "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	P_RATE=$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1)
	[ -n "$P_PAIRS" ] && [ -n "$P_RATE" ] ||
		{ printf '%s\n' "$out" >&2; b_die "cannot read pgbench's output"; }
	printf 'pattern (%s): %.0f payments/s (%s pairs in %ss, %s clients, fsync %s, synchronous_commit on, latency avg %s ms)\n' \
		"$1" "$P_RATE" "$P_PAIRS" "$2" "$3" "$(b_sql postgres 'SHOW fsync')" \
		"$(printf '%s\n' "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')"
	b_autovacuum_note "$B_DB" "$before"
	b_cost "pattern ($1)" "$P_PAIRS" "pattern pair" "$before" "$after"
	P_CPU=$C_CPU_MS P_COMMITS=$C_COMMITS P_ROWS=$C_ROWS P_WAL=$C_WAL
	b_sql postgres "DROP DATABASE IF EXISTS $B_PATTERN_DB" >/dev/null
}

# b_vs_pattern: "payroute N/s pattern N/s ratio R pg_cpu_ms A vs B (Xx)
# commits ... rows ... wal_bytes ..." from RATE, C_* (the payments run)
# and P_* (the pattern run)
b_vs_pattern() {
	awk -v r="$RATE" -v p="$P_RATE" -v c="$C_CPU_MS" -v pc="$P_CPU" \
		-v k="$C_COMMITS" -v pk="$P_COMMITS" -v w="$C_ROWS" -v pw="$P_ROWS" \
		-v l="$C_WAL" -v pl="$P_WAL" 'BEGIN {
		printf "payroute %.0f/s pattern %.0f/s ratio %s pg_cpu_ms %.2f vs %.2f (%sx) commits %.1f vs %.1f rows %.1f vs %.1f wal_bytes %.0f vs %.0f\n",
			r, p, (p > 0) ? sprintf("%.2f", r / p) : "-", c, pc,
			(pc > 0) ? sprintf("%.1f", c / pc) : "-", k, pk, w, pw, l, pl }'
}

# b_rsa_cost BITS: the CPU one RSA signature and one verification of BITS
# bits cost on this machine, in ms ("SIGN VERIFY"), from `openssl speed`
# (process CPU time, not wall time: it holds when other work shares the
# cores; about 4 s). The daemon's drivers and paysim use the same
# libcrypto; empty when openssl is missing.
b_rsa_cost() {
	command -v openssl >/dev/null || return 0
	openssl speed -seconds 2 "rsa$1" 2>/dev/null |
		awk -v b="$1" '$1 == "rsa" && $2 == b && $3 == "bits" {
			s = $4; v = $5; sub(/s$/, "", s); sub(/s$/, "", v)
			printf "%.4f %.4f\n", s * 1000, v * 1000 }'
}

# b_rsa_note: measures the RSA costs (SIGN_MS, VERIFY_MS, KEYBITS: the dev
# keys' size; CORES) and prints them with payrouted's and paysim's CPU per
# payment outside them (PR_CPU_MS, SIM_CPU_MS of b_payments_run)
b_rsa_note() {
	KEYBITS=$(openssl pkey -in "$B_DEV/keys/wechat_merchant_private.pem" -noout -text 2>/dev/null |
		sed -n '1s/.*(\([0-9]*\) bit.*/\1/p')
	KEYBITS=${KEYBITS:-2048}
	SIGN_MS= VERIFY_MS=
	read -r SIGN_MS VERIFY_MS < <(b_rsa_cost "$KEYBITS") || true
	CORES=$(nproc)
	[ -n "$SIGN_MS" ] || { echo "RSA costs not measured (no openssl)"; return 0; }
	awk -v s="$SIGN_MS" -v v="$VERIFY_MS" -v pr="$PR_CPU_MS" -v sim="$SIM_CPU_MS" -v b="$KEYBITS" 'BEGIN {
		printf "RSA-%s on this machine (openssl speed, CPU time): sign %.3f ms, verify %.3f ms; outside them, per payment: payrouted %.3f ms, paysim %.3f ms\n",
			b, s, v, pr - s - v, sim - s - v }'
}

# b_ceiling TARGET: the ceiling the signatures leave (after b_rsa_note and
# b_pattern): per payment the driver signs the request and verifies the
# answer, paysim verifies it and signs its answer, and the store needs at
# least the pattern's CPU; nothing can go faster than
#   cores x 1000 / (2 x (sign + verify) + the pattern's pg_cpu_ms)
# payments/s, with payrouted's own work, paysim's, wrk's and the rest at
# zero. Prints it, RATE's share of it and TARGET x the pattern's rate's.
b_ceiling() {
	[ -n "${SIGN_MS:-}" ] || { echo "ceiling not computed (no openssl)"; return 0; }
	awk -v s="$SIGN_MS" -v v="$VERIFY_MS" -v pc="$P_CPU" -v c="$CORES" -v t="$1" \
		-v r="$RATE" -v p="$P_RATE" -v pr="$PR_CPU_MS" -v sim="$SIM_CPU_MS" 'BEGIN {
		floor = 2 * (s + v) + pc
		ceil = c * 1000 / floor
		printf "ceiling %.0f/s on %d cores (%.3f ms of CPU a payment nothing avoids: 2 x (sign %.3f + verify %.3f) + the pattern'"'"'s pg_cpu_ms %.2f); payroute %.0f/s is %.2f of it; %s x the pattern is %.0f/s, %.2f of it; CPU per payment payrouted %.3f ms paysim %.3f ms\n",
			ceil, c, floor, s, v, pc, r, r / ceil, t, p * t, p * t / ceil, pr, sim }'
}

# ---------------------------------------------------------------- misc
# b_checkpoint: before a measured run (see b_cost)
b_checkpoint() { b_sql postgres CHECKPOINT >/dev/null; }

# b_ratio A B: A / B with two decimals ("-" when B is 0)
b_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }

# b_rate COUNT DURATION_US: per second, no decimals
b_rate() { awk -v n="$1" -v d="$2" 'BEGIN { if (d + 0 == 0) print 0; else printf "%.0f\n", n / (d / 1e6) }'; }

# b_metrics: the daemon's /metrics (admin listener, no token)
b_metrics() { curl -sf -m 10 "$PAYROUTE_ADMIN_URL/metrics"; }

# b_status_kib PID FIELD: VmRSS, VmHWM... of /proc/PID/status, in KiB
b_status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# b_hist_quantiles METRIC OP BEFORE_FILE AFTER_FILE Q...: quantiles (in
# seconds) of a Prometheus histogram's increase between two scrapes, by
# linear interpolation inside the bucket the rank falls in (as
# PromQL's histogram_quantile: the first bucket starts at 0; a rank in the
# +Inf bucket gives the highest finite bound). Prints "count N sum S q1
# V1 q2 V2 ..." ("count 0" when nothing was observed).
b_hist_quantiles() {
	local metric=$1 op=$2 bf=$3 af=$4

	shift 4
	awk -v m="$metric" -v op="$op" -v bf="$bf" -v qs="$*" '
	function label(s, k) {
		if (match(s, "[{,]" k "=\"[^\"]*\""))
			return substr(s, RSTART + length(k) + 3, RLENGTH - length(k) - 4)
		return ""
	}
	function series(line) { return substr(line, 1, index(line, "}")) }
	function value(line,   r) {
		r = substr(line, index(line, "}") + 1)
		sub(/^[ \t]+/, "", r); sub(/[ \t].*$/, "", r)
		return r + 0
	}
	/^#/ { next }
	{
		s = series($0)
		if (s == "" || label(s, "op") != op) next
		if (index(s, m "_bucket{") == 1) {
			le = label(s, "le")
			if (FILENAME == bf) b[le] = value($0)
			else { a[le] = value($0); les[le] = 1 }
		} else if (index(s, m "_sum{") == 1) {
			if (FILENAME == bf) bsum = value($0); else asum = value($0)
		} else if (index(s, m "_count{") == 1) {
			if (FILENAME == bf) bcnt = value($0); else acnt = value($0)
		}
	}
	END {
		n = 0
		for (le in les) {
			n++; nm[n] = le; ub[n] = (le == "+Inf") ? "inf" : le + 0
		}
		# sort by bound, +Inf last
		for (i = 2; i <= n; i++) {
			for (j = i; j > 1; j--) {
				if (ub[j - 1] == "inf" || (ub[j] != "inf" && ub[j] < ub[j - 1])) {
					t = ub[j]; ub[j] = ub[j - 1]; ub[j - 1] = t
					t = nm[j]; nm[j] = nm[j - 1]; nm[j - 1] = t
				} else break
			}
		}
		total = (n > 0) ? a[nm[n]] - b[nm[n]] : 0
		if (n == 0 || nm[n] != "+Inf" || total <= 0) { print "count 0"; exit }
		out = sprintf("count %d sum %.6f", total, asum - bsum)
		k = split(qs, q, " ")
		for (i = 1; i <= k; i++) {
			rank = q[i] * total; lo = 0; plo = 0; r = "nan"
			for (j = 1; j <= n; j++) {
				c = a[nm[j]] - b[nm[j]]
				if (c >= rank) {
					if (ub[j] == "inf") r = (j > 1) ? ub[j - 1] : "nan"
					else if (c == plo) r = ub[j]
					else r = lo + (ub[j] - lo) * (rank - plo) / (c - plo)
					break
				}
				lo = ub[j]; plo = c
			}
			out = out sprintf(" %s %s", q[i], (r == "nan") ? r : sprintf("%.6f", r))
		}
		print out
	}' "$bf" "$af"
}
