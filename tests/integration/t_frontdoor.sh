#!/usr/bin/env bash
# t_frontdoor.sh - the HTTP front door (issue 12, items 1 to 4): hostile
# clients against a real payrouted, a real PostgreSQL and the channel
# simulator. The raw-socket clients are tests/integration/frontdoor.py.
#
#  1. framing and smuggling, one row per case, on both listeners: each bad
#     request is answered with one JSON 400 and the connection closed, so
#     the request sent behind it is never answered (control rows: a
#     well-framed request and the one behind it both are);
#  2. the error-shape rule on both listeners and every path family (404,
#     405, 413, 414, 417, 431, 501, 505, bad request line, undecodable
#     path, missing credentials, bad JSON, an integer beyond int64...):
#     JSON {"error":{code,message}} with the security headers; libevent
#     never answers on its own (payroute_http_library_answers_total 0);
#     the console has its Content-Security-Policy;
#  3. slow headers: connections sending a header line every 500 ms are
#     closed at the head deadline (server.header_timeout_ms) with a 408,
#     which a timeout reset by each byte would never do;
#  4. a flood of slow-header and idle connections from eight addresses,
#     over both the per-address and the listener caps, while a normal
#     client keeps creating payments, paying some (the channel's callbacks
#     come in on /notify/), and the admin listener's /healthz is timed:
#     every answer the normal client gets is right, the callbacks settle
#     the payments, /healthz stays fast, the flood gets 503s, the log says
#     so in few lines, and afterwards everything serves as before; a
#     reload then applies new caps;
#  5. accept() out of descriptors (a daemon under `ulimit -n 100` with
#     almost no reserve, flooded): one rate-limited log line, a pause
#     instead of a busy loop (CPU time stays low), and service afterwards.
#
# The caps in the test config are small so that a modest flood is enough
# on a busy machine: 40 connections on the merchant listener, 8 per
# address, a 1.5 s head deadline.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
FD=$top_srcdir/tests/integration/frontdoor.py
pg_start
sim_start

# a secrets key, so that withdrawals read their body (the error-shape
# rows post one)
KEYFILE=$TEST_DIR/secrets.key
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$KEYFILE"
chmod 600 "$KEYFILE"

new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
SERVER_EXTRA=', "header_timeout_ms": 1500, "body_timeout_ms": 1500,
		"idle_timeout_ms": 3000, "max_header_bytes": 16384,
		"max_body_bytes": 65536'
TOP_EXTRA=',
	"secrets": { "key_file": "'"$KEYFILE"'" },
	"http_client": { "timeout_ms": 3000, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1s", "interval_ms": 200 },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
write_conf
jq '.listen += {merchant_max_connections: 40, merchant_max_per_address: 8,
	admin_max_connections: 16}' "$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF"
export PAYROUTE_CONSOLE_DIR=$top_srcdir/core/admin/console
daemon_start
wait_ready
grep -q 'merchant API listening on .* (at most 40 connections, 8 per address)' "$LOG_FILE" ||
	fail "the merchant listener's caps are not logged as configured"
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1
SINK=$SIM/_sim/sink/shop1

# ------------------------------------------------------ 1. framing rows
for lst in merchant admin; do
	port=$MERCHANT_PORT
	[ $lst = admin ] && port=$ADMIN_PORT
	if ! python3 "$FD" smuggle "$port" >"$TEST_DIR/smuggle.$lst" 2>&1; then
		sed 's/^/    /' "$TEST_DIR/smuggle.$lst" >&2
		fail "framing rows on the $lst listener"
	fi
done
sed 's/^/    /' "$TEST_DIR/smuggle.merchant"
n=$(grep -c '^ok' "$TEST_DIR/smuggle.merchant")
pass "$n framing rows on each listener: 400 JSON, connection closed, the request behind never answered"
[ "$(pq -c "SELECT count(*) FROM payments")" = 0 ] ||
	fail "a smuggled request created a payment"

# --------------------------------------------------- 2. the error shape
if ! python3 "$FD" shapes "$MERCHANT_PORT" "$ADMIN_PORT" "$MKEY" "$TOKEN" \
	>"$TEST_DIR/shapes" 2>&1; then
	sed 's/^/    /' "$TEST_DIR/shapes" >&2
	fail "the error-shape rule"
fi
sed 's/^/    /' "$TEST_DIR/shapes"
for lst in merchant admin; do
	v=$(metric "payroute_http_library_answers_total{listener=\"$lst\"}")
	[ "$v" = 0 ] || fail "libevent answered $v times on its own on the $lst listener"
done
hdrs=$(curl -s -m 5 -D - -o /dev/null "http://127.0.0.1:$ADMIN_PORT/")
for h in "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'" \
	"frame-ancestors 'none'" "X-Frame-Options: DENY" \
	"X-Content-Type-Options: nosniff" "Referrer-Policy: no-referrer" \
	"Cache-Control: no-store"; do
	grep -qF "$h" <<<"$hdrs" || fail "the console's page lacks '$h': $hdrs"
done
hdrs=$(curl -s -m 5 -D - -o /dev/null -H "Authorization: Bearer $TOKEN" \
	"http://127.0.0.1:$ADMIN_PORT/admin/v1/status")
grep -qF "Cache-Control: no-store" <<<"$hdrs" &&
	grep -qF "frame-ancestors 'none'" <<<"$hdrs" ||
	fail "an admin API answer lacks no-store or the CSP: $hdrs"
pass "$(grep -c '^ok' "$TEST_DIR/shapes") error rows on both listeners: JSON with code and message, security headers; none from libevent"

# ------------------------------------------------------ 3. slow headers
# 3 addresses x (4 slow-header + 2 idle connections), under every cap:
# only the deadline closes them, while each slow one sends a header line
# every 500 ms.
python3 "$FD" flood "$MERCHANT_PORT" 5 127.0.0.11,127.0.0.12,127.0.0.13 4 2 500 \
	>"$TEST_DIR/slow.json" || fail "the slow-header client failed"
say "slow headers: $(cat "$TEST_DIR/slow.json")"
slow=$(jq .slow_408 "$TEST_DIR/slow.json")
age=$(jq .slow_max_age "$TEST_DIR/slow.json")
[ "$slow" -ge 12 ] ||
	fail "slow-header connections were not closed at the head deadline (408s: $slow)"
awk -v a="$age" 'BEGIN { exit !(a <= 3.0) }' ||
	fail "a slow-header connection lived ${age}s (head deadline 1.5s)"
[ "$(jq .answered_503 "$TEST_DIR/slow.json")" = 0 ] ||
	fail "connections under the caps were refused"
idle=$(jq .closed_silently "$TEST_DIR/slow.json")
[ "$idle" -ge 6 ] || fail "idle connections were not closed at the head deadline ($idle)"
pass "$slow slow-header connections closed with 408 at the head deadline (longest ${age}s of 1.5s), $idle idle ones closed"

# -------------------------------------------------------------- 4. flood
h408=$(metric 'payroute_http_connections_closed_total{listener="merchant",reason="header_timeout"}')
ADDRS=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9
python3 "$FD" flood "$MERCHANT_PORT" 9 "$ADDRS" 4 6 500 >"$TEST_DIR/flood.json" &
FLOOD=$!
BG_PIDS+=("$FLOOD")
sleep 1.5
open_now=$(metric 'payroute_http_connections_open{listener="merchant"}')
say "merchant listener under the flood: $open_now connections open"
end=$((SECONDS + 6))
i=0 paid=0 hz_max=0
PAID=()
while [ $SECONDS -lt $end ] && [ $i -lt 60 ]; do
	i=$((i + 1))
	pay "$(jq -cn --arg no "flood-$i" --arg url "$SINK" \
		'{merchant_order_no:$no, amount:100, currency:"CNY",
		  method:"wechat_pay", environment:"native_qr", subject:"flood",
		  notify_url:$url}')" "idem-flood-$i"
	[ "$RESP_CODE" = 201 ] || fail "payment $i during the flood: $RESP_CODE $RESP_BODY"
	[ "$(json .status)" = processing ] && [ "$(json .channel)" = wx_native ] &&
		[ -n "$(json .payer.code_url)" ] ||
		fail "payment $i during the flood: wrong answer $RESP_BODY"
	id=$(json .id)
	if [ $((i % 4)) = 1 ]; then
		# the payer pays: the channel's callback comes to /notify/
		sim_pay wechat "$id"
		paid=$((paid + 1))
		PAID+=("$id")
	fi
	t=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$ADMIN_PORT/healthz")
	[ "${t% *}" = 200 ] || fail "admin /healthz during the flood: $t"
	hz_max=$(awk -v a="$hz_max" -v b="${t#* }" 'BEGIN { print (b > a ? b : a) }')
done
wait "$FLOOD" || fail "the flood client failed"
say "flood: $(cat "$TEST_DIR/flood.json")"
[ "$i" -ge 5 ] || fail "only $i payments during the flood"
awk -v a="$hz_max" 'BEGIN { exit !(a < 1.0) }' ||
	fail "admin /healthz took ${hz_max}s during the flood"
for id in "${PAID[@]}"; do
	wait_pay "$id" succeeded 20
done
pass "$i payments during the flood, each 201 processing on wx_native; $paid paid and settled by callbacks on /notify/; admin /healthz at most ${hz_max}s"

refused=$(jq .answered_503 "$TEST_DIR/flood.json")
[ "$refused" -gt 0 ] || fail "the flood over the caps got no 503"
ra=$(metric 'payroute_http_connections_refused_total{listener="merchant",reason="address_full"}')
rl=$(metric 'payroute_http_connections_refused_total{listener="merchant",reason="listener_full"}')
ev=$(metric 'payroute_http_connections_evicted_total{listener="merchant"}')
h408b=$(metric 'payroute_http_connections_closed_total{listener="merchant",reason="header_timeout"}')
[ "$ra" -gt 0 ] || fail "no connection refused over the per-address cap"
[ $((rl + ev)) -gt 0 ] || fail "the listener cap never acted (refused $rl, evicted $ev)"
# The log: each kind at most one line per 10 s (the flood lasted 9 s).
for pat in 'refused a connection' 'closed an idle or unfinished connection' \
	'closed a connection from .*: (408 request_timeout: )?no complete request head'; do
	n=$(grep -Ec "merchant listener: $pat" "$LOG_FILE")
	[ "$n" -le 3 ] || fail "$n log lines for '$pat' (rate limit: one per 10 s)"
done
grep -Eq 'merchant listener: refused a connection from 127\.0\.0\.[2-9]: 503 too_many_connections' "$LOG_FILE" ||
	fail "no log line names the listener and address of a refused connection"
pass "the flood: $refused answers 503 (address cap $ra, listener cap $rl), $ev evicted, head deadlines $((h408b - h408)); a few rate-limited log lines"

# After the flood: everything as before.
for t in $(seq 50); do
	o=$(metric 'payroute_http_connections_open{listener="merchant"}')
	[ "$o" -le 2 ] && break
	sleep 0.1
done
[ "$o" -le 2 ] || fail "$o merchant connections still open after the flood"
pay "$(jq -cn --arg url "$SINK" '{merchant_order_no:"after-flood", amount:100,
	currency:"CNY", method:"wechat_pay", environment:"native_qr", notify_url:$url}')"
expect_code 201 "a payment after the flood"
merchant_get /healthz
expect_code 200 "merchant /healthz after the flood"
pass "after the flood: connections closed ($o open), payments and health as before"

# A reload applies new caps (to new connections).
jq '.listen.merchant_max_connections = 30 | .listen.merchant_max_per_address = 6' \
	"$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF"
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "reload with new caps: $RELOAD_LINE"
[ "$(metric 'payroute_http_connections_max{listener="merchant"}')" = 30 ] &&
	[ "$(metric 'payroute_http_connections_max_per_address{listener="merchant"}')" = 6 ] ||
	fail "the reload did not apply the new caps"
grep -q 'merchant listener: at most 30 connections, 6 per address' "$LOG_FILE" ||
	fail "no log line for the new caps"
pass "a reload applies new caps: 30 connections, 6 per address"

# --------------------------------------- 5. accept() out of descriptors
# A daemon whose caps cannot keep it from EMFILE (100 descriptors, a
# reserve of 1 and 32 store connections): it pauses accepting with one log
# line instead of looping.
save_instance
new_instance b
install_drivers "$DRIVER_DIR" wechat
SERVER_EXTRA=', "fd_reserve": 1, "header_timeout_ms": 3000'
POOL_SIZE=32
write_conf
jq '.listen += {merchant_max_per_address: 200}' "$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF"
(ulimit -n 100 && exec "$PAYROUTED" -f -c "$CONF" >>"$I_DIR/stderr" 2>&1) &
DAEMON_PID=$!
DAEMON_PIDS+=("$DAEMON_PID")
wait_healthy
wait_ready
cpu0=$(awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat")
python3 "$FD" flood "$MERCHANT_PORT" 4 127.0.0.21,127.0.0.22 0 80 500 \
	>"$TEST_DIR/emfile.json" || fail "the descriptor flood client failed"
cpu1=$(awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat")
tck=$(getconf CLK_TCK)
say "descriptor flood: $(cat "$TEST_DIR/emfile.json"); CPU $(((cpu1 - cpu0) * 1000 / tck)) ms in 4 s"
wait_log 'merchant listener: accept\(\) failed: Too many open files .*; not accepting for [0-9]+ ms' 5 ||
	fail "no log line for accept() failing with EMFILE"
say "$(grep -m 1 'accept() failed' "$LOG_FILE")"
n=$(grep -c 'accept() failed' "$LOG_FILE")
[ "$n" -le 2 ] || fail "$n log lines for accept() failures in 4 s (rate limit: one per 10 s)"
[ $(((cpu1 - cpu0) * 1000 / tck)) -lt 1000 ] ||
	fail "payrouted used $(((cpu1 - cpu0) * 1000 / tck)) ms of CPU in 4 s of EMFILE (a busy loop?)"
for t in $(seq 50); do
	merchant_get /healthz
	[ "$RESP_CODE" = 200 ] && break
	sleep 0.1
done
expect_code 200 "merchant /healthz after the descriptor flood"
pass "accept() out of descriptors: paused with one log line, $(((cpu1 - cpu0) * 1000 / tck)) ms CPU in 4 s, serving again afterwards"
daemon_stop
use a
daemon_stop
