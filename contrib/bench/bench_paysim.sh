#!/usr/bin/env bash
# bench_paysim.sh - how many requests per second the channel simulator
# (contrib/paysim) answers, so that a benchmark of payroute knows it is not
# measuring the simulator. Starts its own paysim on loopback with the test
# keys and measures with wrk:
#
#   1. unsigned: GET /_sim/stats (the HTTP front alone);
#   2. signed: order queries of all three protocols, built and signed by
#      the real drivers (tests/interop/drvtool) for orders that exist in
#      the simulator's ledger (Alipay precreate, WeChat native; bank
#      queries of unknown orders, answered respCode 34), replayed in turn.
#      Each answer costs paysim a signature check of the request and a
#      fresh RSA-2048 signature of its own; measured with the signatures on
#      the loop (--sign-threads 0) and on the signing pool (one thread per
#      CPU, or -s N);
#   3. the machine's ceiling for RSA-2048 signatures on all its CPUs
#      (openssl speed -multi), which bounds any signed answer rate.
#
#   contrib/bench/bench_paysim.sh [-b BUILDDIR] [-t WRK_THREADS]
#       [-c CONNECTIONS] [-d SECS] [-s SIGN_THREADS] [-n ORDERS]
#
# BUILDDIR is a configured and built tree (default .dev/build, what
# contrib/dev.sh up makes; `make check` builds drvtool there, or
# `make tests/interop/drvtool`). Needs wrk, jq, openssl, curl. Loopback
# only; every run is bounded by -d.
# Not `set -e`: the integration tests' cleanup trap (lib.sh, sourced below)
# runs under the script's options and must get past a helper that already
# exited; failures are checked where they happen.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/.dev/build
WRK_THREADS=1 CONNS=32 SECS=5 ORDERS=50
SIGN_THREADS=$(getconf _NPROCESSORS_ONLN)
usage() {
	echo "usage: $0 [-b BUILDDIR] [-t WRK_THREADS] [-c CONNECTIONS] [-d SECS] [-s SIGN_THREADS] [-n ORDERS]" >&2
	exit 2
}
while getopts b:t:c:d:s:n: o; do
	case $o in
	b) BUILD=$OPTARG ;;
	t) WRK_THREADS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	d) SECS=$OPTARG ;;
	s) SIGN_THREADS=$OPTARG ;;
	n) ORDERS=$OPTARG ;;
	*) usage ;;
	esac
done
[ $# -ge "$OPTIND" ] && usage
for t in wrk jq openssl curl; do
	command -v $t >/dev/null || { echo "$0: $t is not installed (apt-get install $t)" >&2; exit 1; }
done
BUILD=$(cd "$BUILD" && pwd) || { echo "$0: no build tree $BUILD" >&2; exit 1; }
DRVTOOL=$BUILD/tests/interop/drvtool
[ -x "$DRVTOOL" ] || { echo "$0: $DRVTOOL is not built (make tests/interop/drvtool in $BUILD)" >&2; exit 1; }
# The integration tests' helpers start paysim with the test keys
# (sim_start) and write driver configs for it (driver_conf); their trap
# stops what was started and removes the temporary directory.
top_srcdir=$ROOT top_builddir=$BUILD
# shellcheck source=../../tests/integration/lib.sh
. "$ROOT/tests/integration/lib.sh"
# shellcheck source=../../tests/integration/lib_pay.sh
. "$ROOT/tests/integration/lib_pay.sh"
DIR=$TEST_DIR
SIM_EXTRA='{"notify_attempts":1}'
SIM_PID=
driver() { built_driver "$1" || fail "driver $1 is not built in $BUILD"; }

# sim_up SIGN_THREADS: a fresh paysim (empty ledger); SIM = its URL
sim_up() {
	if [ -n "$SIM_PID" ]; then
		kill "$SIM_PID" 2>/dev/null
		wait "$SIM_PID" 2>/dev/null || true
	fi
	SIM_ARGS="--sign-threads $1" sim_start
	SIM_PID=${BG_PIDS[${#BG_PIDS[@]} - 1]}
}

# requests: makes ORDERS orders per protocol in the running paysim and
# writes the query of each, as the drivers sign it, to $DIR/requests.lua.
requests() {
	local now i d env req

	for d in alipay wechat bank; do
		driver_conf $d >"$DIR/$d.json"
	done
	now=$(($(date +%s) * 1000))
	echo "requests = {" >"$DIR/requests.lua"
	for i in $(seq "$ORDERS"); do
		for d in alipay wechat bank; do
			case $d in bank) env=pc ;; *) env=native_qr ;; esac
			jq -n --arg id "BP$d$i" --argjson now "$now" --arg env "$env" \
				--argjson amt $((1000 + i)) \
				'{order_id:$id, amount:$amt, currency:"CNY",
				  environment:$env, subject:"bench", created_at_ms:$now,
				  notify_url:"http://127.0.0.1:9/notify", client_ip:"127.0.0.1"}' \
				>"$DIR/o.json"
			if [ $d != bank ]; then
				"$DRVTOOL" --driver "$(driver $d)" --config "$DIR/$d.json" \
					pay --order "$DIR/o.json" --send >"$DIR/pay.out" 2>>"$DIR/drvtool.err" ||
					{ echo "$0: cannot create $d order $i: $(head -c 300 "$DIR/pay.out")" >&2; exit 1; }
			fi
			req=$("$DRVTOOL" --driver "$(driver $d)" --config "$DIR/$d.json" \
				query --order "$DIR/o.json" 2>>"$DIR/drvtool.err")
			jq -r '.request | "  {" + (.method | @json) + ", " +
				(.url | sub("^https?://[^/]+"; "") | @json) + ", {" +
				([.headers[] | "[" + (.[0] | @json) + "] = " + (.[1] | @json)] | join(", ")) +
				"}, " + ((.body // "") | @json) + "},"' <<<"$req" >>"$DIR/requests.lua"
		done
	done
	echo "}" >>"$DIR/requests.lua"
}

cat >"$DIR/replay.lua" <<'EOF'
-- Replays the drivers' signed queries in turn; counts answers by status.
local i = 0
local codes = {}
init = function(args)
	dofile(args[1])
end
request = function()
	i = i % #requests + 1
	local r = requests[i]
	return wrk.format(r[1], r[2], r[3], r[4] ~= "" and r[4] or nil)
end
response = function(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
end
done = function(summary, latency, requests)
	io.write(string.format("  answers: %d, errors: %d (connect %d, read %d, write %d, timeout %d)\n",
		summary.requests, summary.errors.status + summary.errors.connect +
		summary.errors.read + summary.errors.write + summary.errors.timeout,
		summary.errors.connect, summary.errors.read, summary.errors.write,
		summary.errors.timeout))
end
EOF

# run TITLE URL [REQUESTS.lua]: prints TITLE, req/s and latency; with a
# request file, wrk replays it (replay.lua)
run() {
	local title=$1 url=$2 out

	if [ $# -gt 2 ]; then
		out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECS}s" --latency \
			-s "$DIR/replay.lua" "$url" -- "$3")
	else
		out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECS}s" --latency "$url")
	fi
	printf '%s\n' "$title"
	awk '/Requests\/sec/ {printf "  %s req/s\n", $2}
	     /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
	     /Non-2xx/ {printf "  non-2xx answers: %s\n", $NF}
	     END {printf "  latency p50 %s, p99 %s\n", p50, p99}' <<<"$out"
	grep '^  answers:' <<<"$out" || true
}

CPUS=$(getconf _NPROCESSORS_ONLN)
echo "bench_paysim: $CPUS CPUs, wrk -t$WRK_THREADS -c$CONNS -d${SECS}s, $ORDERS orders per protocol"

sim_up 0
run "unsigned: GET /_sim/stats" "$SIM/_sim/stats"
requests
run "signed queries (alipay, wechat, bank in turn), signing on the loop (--sign-threads 0)" \
	"$SIM" "$DIR/requests.lua"
curl -s "$SIM/_sim/stats" | jq -c '{requests, signer}' | sed 's/^/  paysim: /'

sim_up "$SIGN_THREADS"
requests
run "signed queries, signing pool (--sign-threads $SIGN_THREADS)" \
	"$SIM" "$DIR/requests.lua"
curl -s "$SIM/_sim/stats" | jq -c '{requests, signer}' | sed 's/^/  paysim: /'

echo "ceiling: RSA-2048 signatures per second on $CPUS CPUs (openssl speed -multi $CPUS)"
openssl speed -seconds 3 -multi "$CPUS" rsa2048 2>/dev/null |
	awk '/^rsa 2048/ {printf "  %s sign/s, %s verify/s\n", $6, $7}'
