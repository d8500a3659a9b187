#!/usr/bin/env bash
# bench_payments.sh - end-to-end payment throughput through the merchant
# API of a running payroute (contrib/dev.sh up): each request creates a
# payment (unique merchant_order_no), which is routed, reserved, stored,
# signed and sent to the channel simulator, whose signed answer is
# verified, mapped and recorded before the 201. Prints wrk's figures, the
# CPU payrouted, paysim and PostgreSQL used meanwhile (in cores), and the
# payments the store holds afterwards.
#
#   contrib/dev.sh up
#   contrib/bench/bench_payments.sh [-t THREADS] [-c CONNECTIONS] [-d SECS]
#       [-m alipay|wechat_pay]
#
# Needs wrk (apt-get install wrk). Loopback only; bounded by -d.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
THREADS=2 CONNS=16 SECS=10 METHOD=wechat_pay
while getopts t:c:d:m: o; do
	case $o in
	t) THREADS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	d) SECS=$OPTARG ;;
	m) METHOD=$OPTARG ;;
	*) echo "usage: $0 [-t THREADS] [-c CONNECTIONS] [-d SECS] [-m METHOD]" >&2; exit 2 ;;
	esac
done
[ -f "$ROOT/.dev/env" ] || { echo "$0: no .dev/env: run contrib/dev.sh up first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$ROOT/.dev/env"
command -v wrk >/dev/null || { echo "$0: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -n "$PAYROUTE_MERCHANT_KEY" ] || { echo "$0: no merchant key in .dev/env" >&2; exit 1; }

case $METHOD in
alipay) ENV=native_qr PRODUCT=FACE_TO_FACE_PAYMENT ;;
*) ENV=native_qr PRODUCT=NATIVE ;;
esac
RUN=$(date +%s%N)
LUA=$(mktemp /tmp/bench_payments.XXXXXX.lua)
trap 'rm -f "$LUA"' EXIT
cat >"$LUA" <<EOF
local threads = 0
setup = function(thread)
	threads = threads + 1
	thread:set("tid", threads)
end
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $PAYROUTE_MERCHANT_KEY"
request = function()
	n = n + 1
	local body = string.format('{"merchant_order_no":"b$RUN-%d-%d","amount":%d,"currency":"CNY","method":"$METHOD","environment":"$ENV","product_code":"$PRODUCT","subject":"bench"}',
		tid, n, 100 + n % 5000)
	return wrk.format(nil, "/v1/payments", nil, body)
end
local codes = {}
response = function(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
end
done = function(summary, latency, requests)
	io.write(string.format("payments/s %.0f  p50 %.2f ms  p99 %.2f ms  errors %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		summary.errors.status + summary.errors.connect + summary.errors.read +
		summary.errors.write + summary.errors.timeout))
end
EOF
# cpu_ticks PID...: user + system clock ticks the processes have used
cpu_ticks() {
	local p sum=0

	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		# fields 14 and 15, counted after the ")" that ends the name
		sum=$((sum + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo $sum
}
PR_PID=$(cat "$PAYROUTE_PID" 2>/dev/null || true)
SIM_PID=$(cat "$ROOT/.dev/paysim.pid" 2>/dev/null || true)
PG_PIDS=$(pgrep -u payroute -x postgres 2>/dev/null | tr '\n' ' ' || true)
echo "bench_payments: $THREADS threads, $CONNS connections, ${SECS}s, method $METHOD, against $PAYROUTE_MERCHANT_URL"
t0=$(date +%s%N)
c_pr=$(cpu_ticks $PR_PID) c_sim=$(cpu_ticks $SIM_PID)
# shellcheck disable=SC2086 # a list of pids
c_pg=$(cpu_ticks $PG_PIDS)
wrk -t "$THREADS" -c "$CONNS" -d "${SECS}s" --latency -s "$LUA" "$PAYROUTE_MERCHANT_URL"
# Who used the CPU: a process near one core (payrouted's loop is one
# thread) is the bottleneck; paysim's share says it is not the simulator.
# shellcheck disable=SC2086
awk -v hz="$(getconf CLK_TCK)" -v ns=$(($(date +%s%N) - t0)) \
	-v pr=$(($(cpu_ticks $PR_PID) - c_pr)) -v sim=$(($(cpu_ticks $SIM_PID) - c_sim)) \
	-v pg=$(($(cpu_ticks $PG_PIDS) - c_pg)) \
	'BEGIN { s = ns / 1e9; printf "CPU used during the run (cores): payrouted %.2f, paysim %.2f, postgres %.2f\n", pr / hz / s, sim / hz / s, pg / hz / s }'
psql -X -q -A -t -h "$ROOT/.dev/pg/sock" -U payroute payroute -c \
	"SELECT 'stored, by status: ' || string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) AS n FROM payments WHERE merchant_order_no LIKE 'b$RUN-%' GROUP BY status) x" 2>/dev/null || true
