#!/usr/bin/env bash
# bench_recon.sh - reconciliation of a million-row bill: bill rows matched
# per second and payrouted's memory meanwhile.
#
#   contrib/bench/bench_recon.sh [-b BUILDDIR] [-n ROWS]
#
# Self-contained like an integration test (it uses tests/integration/
# lib.sh: a private PostgreSQL cluster, the channel simulator and a
# payrouted of BUILDDIR, default the top of the tree, all on loopback):
# one WeChat Pay channel (fee 60 bps), ROWS (default 1,000,000) succeeded
# payments of 1.00 CNY inserted straight into the store, and the
# simulator's bill of the day scripted to list the same ROWS payments
# (/_sim/bill_script "bulk": a gzip of ROWS backtick-CSV rows, with its
# SHA1). Then one run of the day (POST /admin/v1/reconciliation/runs) with
# the defaults (chunk_rows 5000): the bill request, the download streamed
# to a temporary file, every row read by the driver and stored, the match
# in the store. payrouted's VmRSS is sampled every 50 ms from
# /proc/PID/status during the run. Prints:
#   bench_recon: ROWS rows, MATCHED matched, differences {...}
#   bench_recon: run S s (claim to done): R rows matched/s
#   bench_recon: payrouted VmRSS before B MiB, peak P MiB, after A MiB
# The run's time includes the simulator writing the bill (its log says how
# long) and the store's match; the log line "reconciliation: ... (N ms)"
# is the daemon's view. Needs PostgreSQL's server binaries, curl, jq.
set -u

B=$(cd "$(dirname "$0")/../.." && pwd)
ROWS=1000000
while getopts b:n: o; do
	case $o in
	b) B=$(cd "$OPTARG" && pwd) ;;
	n) ROWS=$OPTARG ;;
	*)
		echo "usage: $0 [-b BUILDDIR] [-n ROWS]" >&2
		exit 2
		;;
	esac
done
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
top_builddir=$B
export top_srcdir top_builddir
PR_REQUIRE_INTEGRATION=1
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start
case $(TZ=Asia/Shanghai date +%H) in
23) say "Beijing's day ends within the hour; the bill day may change: run later" ;;
esac
DAY=$(TZ=Asia/Shanghai date +%F)

new_instance a
install_drivers "$DRIVER_DIR" wechat
SERVER_EXTRA=', "instance": "bench"'
TOP_EXTRA=',
	"http_client": { "timeout_ms": 300000 },
	"reconciliation": { "interval_ms": 200, "bill_time": "23:59" }'
write_conf
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1

say "inserting $ROWS succeeded payments"
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no,
	request_hash, amount, currency, method, environment, expire_at,
	status, channel, channel_trade_no, attempts, paid_amount, finished_at)
	SELECT 'B' || lpad(i::text, 8, '0'), 'shop1', 'b-' || i, 'bench', 100,
	       'CNY', 'wechat_pay', 'native_qr', now() + interval '1 hour',
	       'succeeded', 'wx_native', 'TB' || lpad(i::text, 8, '0'), 1, 100,
	       now()
	FROM generate_series(1, $ROWS) i" >/dev/null || fail "insert failed"
pq -c "ANALYZE payments" >/dev/null
_sim_post /_sim/bill_script "{\"channel\":\"wechat\",\"bulk\":{\"count\":$ROWS,\"prefix\":\"B\",\"amount\":100}}" \
	"the bulk bill"

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status"; }
RSS0=$(rss)
(
	peak=0
	while kill -0 "$DAEMON_PID" 2>/dev/null && [ ! -e "$TEST_DIR/stop" ]; do
		r=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status")
		[ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" >"$TEST_DIR/peak"
		sleep 0.05
	done
) &
BG_PIDS+=($!)

admin_post /admin/v1/reconciliation/runs -H 'Content-Type: application/json' \
	--data-binary "{\"channel\":\"wx_native\",\"day\":\"$DAY\"}"
expect_code 202 "run"
wait_sql "SELECT status FROM recon_runs WHERE channel = 'wx_native' AND day = '$DAY'" done 900
touch "$TEST_DIR/stop"
sleep 0.2
RSS1=$(rss)
PEAK=$(cat "$TEST_DIR/peak" 2>/dev/null || echo "$RSS0")
read -r N M D S < <(pq -F ' ' -c "SELECT bill_rows, matched, replace(differences::text, ' ', ''),
	extract(epoch FROM finished_at - started_at) FROM recon_runs
	WHERE channel = 'wx_native' AND day = '$DAY'")
grep "reconciliation: wx_native\|bill $DAY part" "$I_DIR/payrouted.log" | tail -n 3
grep "bill of 1900000001" "$TEST_DIR/sim.log" 2>/dev/null | tail -n 1
printf 'bench_recon: %s rows, %s matched, differences %s\n' "$N" "$M" "$D"
awk -v n="$N" -v s="$S" 'BEGIN { printf "bench_recon: run %.1f s (claim to done): %.0f rows matched/s\n", s, n / s }'
awk -v a="$RSS0" -v p="$PEAK" -v b="$RSS1" 'BEGIN { printf "bench_recon: payrouted VmRSS before %.1f MiB, peak %.1f MiB, after %.1f MiB\n", a / 1024, p / 1024, b / 1024 }'
exit 0
