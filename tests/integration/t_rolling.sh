#!/usr/bin/env bash
# t_rolling.sh - a rolling restart behind HAProxy loses nothing
# (doc/operations.md, "Several daemons behind a load balancer").
#
# Two payrouted (server.drain_ms) behind HAProxy, configured as
# contrib/haproxy/haproxy.cfg with this test's ports and a faster check
# interval; six clients create payments through HAProxy while each
# payrouted in turn gets SIGTERM, drains, stops and starts again. Then:
#   - every answer was 201, or a 503 (the documented retryable answer);
#     in practice none, since HAProxy takes a draining instance out before
#     its listeners close;
#   - both instances took payments before and after their restart;
#   - every acknowledged payment exists exactly once, with its id.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl python3
command -v haproxy >/dev/null ||
	{ [ "${PR_REQUIRE_INTEGRATION:-0}" = 1 ] && fail "haproxy is not installed (apt-get install haproxy)"; skip "haproxy is not installed"; }
pg_start
sim_start

for n in a b; do
	new_instance $n
	install_drivers "$DRIVER_DIR" wechat
	SERVER_EXTRA=", \"instance\": \"$n\", \"drain_ms\": 2000"
	write_conf
	daemon_start
	wait_ready
	save_instance
	if [ $n = a ]; then
		add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
		merchant_create shop1
	fi
done
use b
settle_generation

# HAProxy: the example's shape, checks every 300 ms, down after 2 (so a
# 2000 ms drain is ample), up after 2.
free_port
LB_PORT=$PORT
sed -e "s/bind 127\.0\.0\.1:9080/bind 127.0.0.1:$LB_PORT/" \
	-e "s/server a 127\.0\.0\.1:8080 check/server a 127.0.0.1:${I_MPORT[a]} check/" \
	-e "s/server b 127\.0\.0\.1:8090 check/server b 127.0.0.1:${I_MPORT[b]} check/" \
	-e 's/default-server inter 1s fall 2 rise 2/default-server inter 300ms fall 2 rise 2/' \
	-e 's/maxconn 20000/maxconn 2000/' \
	-e '/^frontend admin/,$d' \
	-e 's/^\tlog stdout format raw local0/\tlog stderr format raw local0 notice/' \
	"$top_srcdir/contrib/haproxy/haproxy.cfg" >"$TEST_DIR/haproxy.cfg"
grep -q "127.0.0.1:${I_MPORT[b]} check" "$TEST_DIR/haproxy.cfg" ||
	fail "the example's servers could not be pointed at this test's daemons"
haproxy -c -q -f "$TEST_DIR/haproxy.cfg" || fail "haproxy refuses the test's configuration"
haproxy -db -f "$TEST_DIR/haproxy.cfg" >"$TEST_DIR/haproxy.log" 2>&1 &
BG_PIDS+=($!)
HAPROXY_PID=$!
lb_up() {
	curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LB_PORT/readyz" | grep -q 200
}
wait_until 10 lb_up || fail "HAProxy does not pass /readyz through"
pass "two payrouted behind HAProxy on :$LB_PORT"

STOP=$TEST_DIR/stop
LOAD_PIDS=()
for c in 1 2 3 4 5 6; do
	"$LOAD_CLIENT" "$LB_PORT" "$MKEY" roll $c -n 2000 -s "$STOP" -m 20 -p 0.02 >"$TEST_DIR/c$c.txt" &
	BG_PIDS+=($!)
	LOAD_PIDS+=($!)
done
answers() { cat "$TEST_DIR"/c*.txt 2>/dev/null | wc -l; }
wait_more() {
	local want=$(($(answers) + $1))
	wait_until 30 eval '[ "$(answers)" -ge '"$want"' ]' ||
		fail "the load stalled at $(answers) answers"
}
wait_more 60

# Each instance in turn: TERM, drain, exit, start again, back in HAProxy.
for n in a b; do
	use $n
	before=$(log_count 'payment P[0-9A-F]* created')
	[ "$before" -gt 0 ] || fail "payrouted $n took no payment before its restart"
	lines=$(wc -l <"$LOG_FILE")
	kill -TERM "$DAEMON_PID"
	wait_until 15 eval '! kill -0 "$DAEMON_PID" 2>/dev/null' ||
		fail "payrouted $n did not stop"
	wait "$DAEMON_PID"
	rc=$?
	[ "$rc" = 0 ] || fail "payrouted $n exited with status $rc"
	say "payrouted $n stopped after its drain ($before payments created by it so far)"
	wait_more 30
	CONF=$I_DIR/payrouted.conf # use does not switch the config file
	daemon_start
	wait_ready
	save_instance
	sleep 1 # HAProxy's rise: 2 checks of 300 ms
	wait_more 60
	after=$(tail -n +$((lines + 1)) "$LOG_FILE" | grep -c 'payment P[0-9A-F]* created')
	[ "$after" -gt 0 ] || fail "payrouted $n took no payment after its restart"
	pass "payrouted $n restarted under load and takes payments again ($before before, $after since)"
done
touch "$STOP"
for pid in "${LOAD_PIDS[@]}"; do
	wait "$pid" 2>/dev/null
done

cat "$TEST_DIR"/c*.txt >"$TEST_DIR/all.txt"
total=$(wc -l <"$TEST_DIR/all.txt")
ok=$(awk '$2 == 201' "$TEST_DIR/all.txt" | wc -l)
r503=$(awk '$2 == 503' "$TEST_DIR/all.txt" | wc -l)
other=$(awk '$2 != 201 && $2 != 503' "$TEST_DIR/all.txt" | head -n 3)
[ -z "$other" ] || fail "answers other than 201 and 503 during the rolling restart: $other"
say "$total payments through HAProxy: $ok acknowledged, $r503 answered 503"
pass "a rolling restart under load: no answer but 201 and the retryable 503"

acked_once "$TEST_DIR/all.txt" roll
pass "every one of the $ok acknowledged payments is stored once, with its id"
