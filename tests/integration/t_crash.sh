#!/usr/bin/env bash
# t_crash.sh - kill -9 while payments are being created loses nothing:
# 8 clients create payments (each with its Idempotency-Key) through the
# merchant API; payrouted is killed with SIGKILL in the middle and started
# again. Then:
#   - every payment that was acknowledged (201) exists exactly once, with
#     the id it was answered with;
#   - nothing reached the channel without its order in the store: every
#     order in the simulator's ledger is a payment here (its attempt was
#     committed before it was sent);
#   - a retry of every request, acknowledged or not, with its key and
#     body never creates a second order;
#   - after the simulated payer pays half of what the channel holds and
#     the callbacks and the completion job have run, the simulator's ledger
#     and payroute agree: paid there is succeeded here, unpaid is still
#     processing, and what the channel never got is not final here.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3 xargs
pg_start
sim_start
new_instance a
install_drivers "$DRIVER_DIR" wechat
TOP_EXTRA=', "completion": { "interval_ms": 200, "schedule": "1s,1s,1s,2s,2s,5s,10s" }'
write_conf
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1
settle_generation


# The channel answers after 200 ms: the kill finds orders sent and not yet
# answered (stored by their first commit, not by their second).
sim_script '{"order":"*","rate":1,"faults":{"delay_ms":200}}'
for c in 1 2 3 4 5 6 7 8; do
	"$LOAD_CLIENT" "$MERCHANT_PORT" "$MKEY" crash $c -g >"$TEST_DIR/c$c.txt" &
	BG_PIDS+=($!)
done
# Kill in the middle of the load.
for i in $(seq 100); do
	[ "$(cat "$TEST_DIR"/c*.txt 2>/dev/null | wc -l)" -ge 150 ] && break
	sleep 0.1
done
kill -KILL "$DAEMON_PID"
for pid in "${BG_PIDS[@]:1}"; do
	wait "$pid" 2>/dev/null
done
sim_script '{"order":"*","faults":null}'
cat "$TEST_DIR"/c*.txt >"$TEST_DIR/all.txt"
acked=$(awk '$2 == 201' "$TEST_DIR/all.txt" | wc -l)
cut=$(awk '$2 != 201' "$TEST_DIR/all.txt" | wc -l)
say "killed with SIGKILL after $acked acknowledged payments ($cut requests cut off)"
[ "$acked" -ge 100 ] || fail "too few payments before the kill: $acked"
inflight=$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'crash-%'")
inflight=$((inflight - acked))
say "$inflight payments were stored and sent but not answered when the daemon died"

daemon_start
wait_ready

# Every acknowledged payment exactly once, with its id.
acked_once "$TEST_DIR/all.txt" crash
pass "every one of the $acked acknowledged payments is stored once, with the id it was answered with"

# Nothing reached the channel without its order stored.
curl -sf -m 5 "$SIM/_sim/ledger" | jq -r '.orders[] | .out_trade_no + " " + .state' |
	sort >"$TEST_DIR/ledger.txt"
sent=$(wc -l <"$TEST_DIR/ledger.txt")
cut -d' ' -f2 "$TEST_DIR/all.txt.stored" | sort >"$TEST_DIR/stored.ids"
orphans=$(cut -d' ' -f1 "$TEST_DIR/ledger.txt" | sort | comm -23 - "$TEST_DIR/stored.ids" | head -n 3)
[ -z "$orphans" ] || fail "the channel holds orders payroute never stored: $orphans"
pass "the channel holds $sent orders, every one stored here first"

# A retry of every request with its key and body creates nothing new.
before=$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'crash-%'")
while read -r no code id st err; do
	# shellcheck disable=SC2046
	set -- $("$LOAD_CLIENT" "$MERCHANT_PORT" "$MKEY" -r "$no" </dev/null)
	rcode=$2 rid=$3
	[ "$rid" != - ] || rid=$5
	case $code:$rcode in
	201:201) [ "$rid" = "$id" ] || fail "retry of $no answered $rid, first $id" ;;
	201:*) fail "retry of the acknowledged $no: HTTP $rcode $rid" ;;
	*:201) ;;
	*:409) [ "$rid" = request_in_progress ] ||
		fail "retry of the cut-off $no: 409 $rid" ;;
	*) fail "retry of the cut-off $no: HTTP $rcode $rid" ;;
	esac
done <"$TEST_DIR/all.txt"
after=$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'crash-%'")
cut_stored=$((before - acked))
new=$((after - before))
[ "$((after - $(wc -l <"$TEST_DIR/all.txt")))" -le 0 ] ||
	fail "$after payments for $(wc -l <"$TEST_DIR/all.txt") merchant order numbers"
say "retries: $before stored before ($cut_stored of the cut-off requests had been stored), $new created by the retries of the rest"
pass "retrying every request with its key never makes a second order"

# The payer pays every other order the channel holds; callbacks and
# checks settle them. Then the ledger and payroute agree.
n=0
while read -r id state; do
	n=$((n + 1))
	[ "$state" = pending ] && [ $((n % 2)) = 0 ] && sim_pay wechat "$id"
done <"$TEST_DIR/ledger.txt"
agree() {
	curl -sf -m 5 "$SIM/_sim/ledger" | jq -r '.orders[] | .out_trade_no + " " + .state' |
		sort >"$TEST_DIR/ledger2.txt"
	pq -c "SELECT id || ' ' || status FROM payments WHERE merchant_order_no LIKE 'crash-%'" |
		sort >"$TEST_DIR/ours.txt"
	join -a 1 -e none -o 0,1.2,2.2 "$TEST_DIR/ours.txt" "$TEST_DIR/ledger2.txt" |
		awk '($3 == "success" && $2 != "succeeded") ||
		     ($3 == "pending" && $2 != "processing") ||
		     ($3 == "none" && ($2 == "succeeded" || $2 == "failed" || $2 == "closed")) ||
		     ($2 == "succeeded" && $3 != "success") { print; bad++ }
		     END { exit bad > 0 }' >"$TEST_DIR/disagree.txt"
}
for i in $(seq 100); do
	agree && break
	sleep 0.2
done
agree || fail "payroute and the channel disagree after 20 s: $(head -n 5 "$TEST_DIR/disagree.txt")"
paid=$(grep -c ' success$' "$TEST_DIR/ledger2.txt")
pass "after the callbacks and the completion job, payroute agrees with the channel's ledger ($paid paid, $sent held by the channel)"

# ------------------------------------- PostgreSQL restarts under load
BG_PIDS=("${BG_PIDS[0]}")
for c in 1 2 3 4 5 6 7 8; do
	"$LOAD_CLIENT" "$MERCHANT_PORT" "$MKEY" pgr $c -n 60 -g >"$TEST_DIR/p$c.txt" &
	BG_PIDS+=($!)
done
for i in $(seq 100); do
	[ "$(cat "$TEST_DIR"/p*.txt 2>/dev/null | wc -l)" -ge 100 ] && break
	sleep 0.1
done
pg_stop fast
say "PostgreSQL stopped under load"
sleep 1
pg_start_again
say "PostgreSQL started again"
for pid in "${BG_PIDS[@]:1}"; do
	wait "$pid" 2>/dev/null
done
cat "$TEST_DIR"/p*.txt >"$TEST_DIR/pall.txt"
ok=$(awk '$2 == 201' "$TEST_DIR/pall.txt" | wc -l)
refused=$(awk '$2 == 503' "$TEST_DIR/pall.txt" | wc -l)
other=$(awk '$2 != 201 && $2 != 503' "$TEST_DIR/pall.txt" | head -n 3)
[ -z "$other" ] || fail "under a PostgreSQL restart: answers other than 201 and 503: $other"
[ "$refused" -gt 0 ] || fail "the restart refused no request: it was not under load"
wait_ready 30
acked_once "$TEST_DIR/pall.txt" pgr "stored after the restart"
freed=0 held=0
while read -r no code id st err; do
	[ "$code" = 503 ] || continue
	# shellcheck disable=SC2046
	set -- $("$LOAD_CLIENT" "$MERCHANT_PORT" "$MKEY" -r "$no" </dev/null)
	rcode=$2 rerr=$5
	case $rcode:$rerr in
	201:-) freed=$((freed + 1)) ;;
	409:request_in_progress) held=$((held + 1)) ;;
	*) fail "retry of $no, refused with 503 during the restart: HTTP $rcode $rerr" ;;
	esac
done <"$TEST_DIR/pall.txt"
[ "$(pq -c "SELECT count(*) FROM (SELECT merchant_order_no FROM payments GROUP BY 1 HAVING count(*) > 1) d")" = 0 ] ||
	fail "a merchant_order_no stored twice"
curl -sf -m 5 "$SIM/_sim/ledger" | jq -r '.orders[].out_trade_no' | sort >"$TEST_DIR/ledger3.txt"
pq -c "SELECT id FROM payments" | sort >"$TEST_DIR/allids.txt"
orphans=$(comm -23 "$TEST_DIR/ledger3.txt" "$TEST_DIR/allids.txt" | head -n 3)
[ -z "$orphans" ] || fail "the channel holds orders payroute never stored: $orphans"
say "PostgreSQL restart: $ok acknowledged, $refused answered 503; their retries: $freed created at once (key free), $held still in progress (the connection died with the commit in flight)"
pass "a PostgreSQL restart under load: every acknowledged payment stored, a refused one's key free again, nothing sent unstored"
