#!/usr/bin/env bash
# bench_admin_auth.sh - what authenticating an operator costs an admin
# request (doc/design.md §11): the same payrouted, on its own PostgreSQL
# (started here through tests/integration/lib.sh, as a test does), answers
# GET /admin/v1/currencies (no store read of its own) under wrk, first
# with the shared admin.token under admin.legacy_token (compared in
# memory: what every request cost before operators), then with an
# operator's API token (one indexed read of operator_tokens joined to
# operators, and the hash compared in constant time; since the token
# cache, of doc/design.md §11, only the first request of the run). Prints
# both rates, their ratio, the mean latencies and payrouted's CPU per
# answer (microseconds: the figure that holds when other work shares the
# machine and the rates swing), and a summary line:
#   bench_admin_auth: legacy N/s token N/s ratio R cpu_us L T
#
#   contrib/bench/bench_admin_auth.sh [-b BUILDDIR] [-d SECS] [-c CONNS]
#       [-p ADMIN_PORT]  (the merchant listener takes ADMIN_PORT + 1)
#
# BUILDDIR holds payrouted (default: build/ of this tree). What bounds the
# figures: one loop's thread in payrouted, PostgreSQL and wrk sharing the
# machine's cores. Loopback only; each run bounded by -d (default 5 s).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
secs=5
conns=8
port=""
while getopts "b:d:c:p:" o; do
	case $o in
	b) build=$(cd "$OPTARG" && pwd) ;;
	d) secs=$OPTARG ;;
	c) conns=$OPTARG ;;
	p) port=$OPTARG ;;
	*) echo "usage: $0 [-b BUILDDIR] [-d SECS] [-c CONNS] [-p ADMIN_PORT]" >&2; exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "bench_admin_auth: needs wrk" >&2; exit 2; }
[ -x "$build/payrouted" ] || { echo "bench_admin_auth: no $build/payrouted (make)" >&2; exit 2; }
export top_srcdir=$top top_builddir=$build
. "$top/tests/integration/lib.sh"
require_pg
pg_start

new_instance bench
[ -n "$port" ] && ADMIN_PORT=$port MERCHANT_PORT=$((port + 1))
install_drivers "$DRIVER_DIR" good
ADMIN_EXTRA=$',\n\t\t"legacy_token": true, "lockout_address_failures": 0'
write_conf
daemon_start
wait_ready
send POST /admin/v1/operators '{"name":"bench","roles":["viewer"]}'
expect_code 201 "create the operator bench"
send POST /admin/v1/operators/bench/tokens '{"label":"bench"}'
expect_code 201 "a token for bench"
optoken=$(json .token)

hz=$(getconf CLK_TCK)
# ticks: payrouted's CPU so far (user + system clock ticks).
ticks() {
	awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"
}

# run TOKEN: wrk's requests per second, mean latency (ms) and payrouted's
# CPU per answer (us) as "R L C".
run() {
	local out c0 c1

	c0=$(ticks)
	out=$(wrk -t 1 -c "$conns" -d "${secs}s" -H "Authorization: Bearer $1" \
		"http://127.0.0.1:$ADMIN_PORT/admin/v1/currencies" 2>&1)
	c1=$(ticks)
	grep <<<"$out" -q 'Non-2xx' && fail "wrk: answers other than 2xx: $out"
	printf '%s %s %s\n' "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" \
		"$(awk '$1 == "Latency" {print $2}' <<<"$out")" \
		"$(awk -v t=$((c1 - c0)) -v hz="$hz" '/ requests in / { printf "%.1f", t / hz * 1e6 / $1 }' <<<"$out")"
}
# both once to warm the statement cache, then measured
run "$TOKEN" >/dev/null
run "$optoken" >/dev/null
read -r lr ll lc < <(run "$TOKEN")
read -r tr tl tc < <(run "$optoken")
ratio=$(awk -v a="$tr" -v b="$lr" 'BEGIN { printf "%.2f", a / b }')
say "legacy token (in memory): $lr requests/s, mean latency $ll, $lc us CPU per answer"
say "operator token:           $tr requests/s, mean latency $tl, $tc us CPU per answer"
echo "bench_admin_auth: legacy $lr/s token $tr/s ratio $ratio cpu_us $lc $tc (GET /admin/v1/currencies, -c $conns, ${secs}s)"
daemon_stop
exit 0
