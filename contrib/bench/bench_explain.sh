#!/usr/bin/env bash
# bench_explain.sh - POST /admin/v1/route/explain of a running payroute
# (contrib/dev.sh up) against a bare libevent evhttp server
# (bench_evhttp.c) answering the same request on the same machine: how
# close routing from the admin API comes to the HTTP ceiling of one
# libevent loop.
#
# wrk (-t threads, -c connections, -d seconds; 1, 50, 10 by default) posts
# the same payment body (one that routes: -m alipay|wechat_pay) to the
# explain endpoint with the admin token, then to bench_evhttp, started
# here on a free loopback port with explain's own answer as its fixed body
# (so that both send the same bytes and the difference is payroute's
# work). Prints both rates, their ratio (issue 11's target: >= 0.6), the
# CPU each server used during its run (cores, and microseconds of CPU per
# answer: the figure that holds when other work shares the machine and
# the rates swing), the ratio of those (evhttp's CPU per answer over
# explain's: the rate ratio two servers would have with a core each), the
# store cost per explain (lib_bench.sh; 0: explain routes from memory),
# and a summary line:
#   bench_explain: explain N/s evhttp N/s ratio R ... cpu_us U
#       evhttp_cpu_us V cpu_ratio C
#
#   contrib/bench/bench_explain.sh [-e ENVFILE] [-b BUILDDIR] [-t THREADS]
#       [-c CONNECTIONS] [-d SECS] [-m alipay|wechat_pay] [-l]
#
# -l runs bench_evhttp --changelist: libevent's epoll changelist, as
# payrouted's loop has it (runtime/daemon.c), so that the ceiling differs
# from payrouted in nothing but payroute's work; without it bench_evhttp
# keeps libevent's defaults (the "bare evhttp server" of issue 11).
#
# BUILDDIR holds contrib/bench/bench_evhttp (`make bench`; default
# .dev/build of this tree, where it is built when missing). ENVFILE: the
# instance (default .dev/env of this tree). What bounds the figures: one
# loop's thread in each server, and wrk on the same 2 cores (a
# single-threaded server at about one core leaves wrk the other). Read-only
# for the instance. Needs wrk, curl, jq, psql. Loopback only; bounded by
# -d.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
BUILD=$B_ROOT/.dev/build
THREADS=1 CONNS=50 SECS=10 METHOD=wechat_pay EVOPT=
b_opts "e:ENVFILE b:BUILD:BUILDDIR t:THREADS c:CONNS:CONNECTIONS d:SECS m:METHOD l=EVOPT=--changelist" "$@"
b_need wrk
b_init "$ENVFILE"
b_method "$METHOD"
b_tmp
EVHTTP=$BUILD/contrib/bench/bench_evhttp
if [ ! -x "$EVHTTP" ]; then
	[ -f "$BUILD/Makefile" ] || b_die "no $EVHTTP and no build tree in $BUILD (-b BUILDDIR; make bench)"
	make -C "$BUILD" -s contrib/bench/bench_evhttp >"$B_TMP/make.out" 2>&1 ||
		{ tail -n 20 "$B_TMP/make.out" >&2; b_die "cannot build $EVHTTP"; }
fi

BODY=$(printf '{"amount":10000,"currency":"CNY","method":"%s","environment":"%s","product_code":"%s"}' \
	"$METHOD" "$B_ENV" "$B_PRODUCT")
ANSWER=$(b_admin_ok POST /admin/v1/route/explain "$BODY")
CHOSEN=$(printf '%s' "$ANSWER" | jq -r '.chosen // empty')
[ -n "$CHOSEN" ] || b_die "explain routes nothing for $BODY: $(printf '%s' "$ANSWER" | head -c 300)"
cat >"$B_TMP/explain.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $PAYROUTE_ADMIN_TOKEN"
EOF

# run TITLE URL: wrk; prints the figures, sets REQS (answers) and RPS
run() {
	local out

	out=$(wrk -t "$THREADS" -c "$CONNS" -d "${SECS}s" --latency -s "$B_TMP/explain.lua" "$2")
	RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	REQS=$(awk '/ requests in / { print $1 }' <<<"$out")
	printf '%s\n' "$1"
	awk '/Requests\/sec/ { printf "  %s req/s\n", $2 }
	     /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
	     /Non-2xx/ { printf "  non-2xx answers: %s\n", $NF }
	     / errors: / { print "  " $0 }
	     END { printf "  latency p50 %s, p99 %s\n", p50, p99 }' <<<"$out"
}

echo "bench_explain: wrk -t$THREADS -c$CONNS -d${SECS}s, POST $BODY (routes to $CHOSEN; answer ${#ANSWER} bytes)"
b_checkpoint
b_background "$B_DB"
before=$(b_sample "$B_DB")
t0=$(date +%s%N)
c_pr=$(b_ticks "$B_PR_PID")
run "payroute: POST $PAYROUTE_ADMIN_URL/admin/v1/route/explain" \
	"$PAYROUTE_ADMIN_URL/admin/v1/route/explain"
t_pr=$(($(b_ticks "$B_PR_PID") - c_pr))
awk -v hz="$B_HZ" -v ns=$(($(date +%s%N) - t0)) -v pr=$t_pr -v n="$REQS" \
	'BEGIN { printf "  payrouted CPU %.2f cores, %.1f us per answer\n", pr / hz / (ns / 1e9), pr / hz * 1e6 / n }'
EX_US=$(awk -v hz="$B_HZ" -v t=$t_pr -v n="$REQS" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
c_pg=$(b_pg_ticks)
b_settle
after=$(b_sample "$B_DB" "$c_pg")
EXPLAIN=$RPS
b_cost explain "$REQS" explain "$before" "$after"

"$EVHTTP" --body "$ANSWER" $EVOPT >"$B_TMP/evhttp.out" 2>&1 &
EVPID=$!
b_at_exit "kill $EVPID 2>/dev/null; wait $EVPID 2>/dev/null"
PORT=
for _ in $(seq 50); do
	PORT=$(sed -n 's/^bench_evhttp listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$B_TMP/evhttp.out")
	[ -n "$PORT" ] && break
	kill -0 "$EVPID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$PORT" ] || { cat "$B_TMP/evhttp.out" >&2; b_die "bench_evhttp did not start"; }
t0=$(date +%s%N)
c_ev=$(b_ticks "$EVPID")
run "bench_evhttp${EVOPT:+ $EVOPT}: the same request to a bare evhttp server (127.0.0.1:$PORT)" \
	"http://127.0.0.1:$PORT/admin/v1/route/explain"
t_ev=$(($(b_ticks "$EVPID") - c_ev))
awk -v hz="$B_HZ" -v ns=$(($(date +%s%N) - t0)) -v ev=$t_ev -v n="$REQS" \
	'BEGIN { printf "  bench_evhttp CPU %.2f cores, %.1f us per answer\n", ev / hz / (ns / 1e9), ev / hz * 1e6 / n }'
EV_US=$(awk -v hz="$B_HZ" -v t=$t_ev -v n="$REQS" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
EVRPS=$RPS
printf 'bench_explain: explain %s/s evhttp%s %s/s ratio %s (target >= 0.6) pg_cpu_ms %s commits %s per explain cpu_us %s evhttp_cpu_us %s cpu_ratio %s\n' \
	"$EXPLAIN" "${EVOPT:+ $EVOPT}" "$EVRPS" "$(b_ratio "$EXPLAIN" "$EVRPS")" "$C_CPU_MS" "$C_COMMITS" "$EX_US" "$EV_US" \
	"$(awk -v a="$EV_US" -v b="$EX_US" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
