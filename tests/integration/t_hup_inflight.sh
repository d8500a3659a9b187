#!/usr/bin/env bash
# t_hup_inflight.sh - generations and in-flight requests, deterministically.
#
# A psql session takes an ACCESS EXCLUSIVE lock on schema_migrations, so
# that N concurrent GET /admin/v1/status requests (each a round trip to
# `SELECT max(version) FROM schema_migrations`) stay in flight, holding the
# generation they started with. While they wait, 50 SIGHUPs publish new
# generations (a reload reads `channels`, which is not locked) and a loop
# of GET /admin/v1/drivers must see no error. Then the lock goes, and:
# every status request answers 200 with the old generation, and that
# generation is released only now (its "generation N released" line comes
# after the lock was released), while the generations nobody held were
# released during the reloads already.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

N=20
HUPS=50

new_instance inflight
POOL_SIZE=32 # every held request has its connection; reloads get theirs
install_drivers "$DRIVER_DIR" good
write_conf
daemon_start
wait_ready
admin_get /admin/v1/status
expect_code 200 "GET /admin/v1/status before the test"
sv=$(json .schema_version)
current_generation
g0=$GEN
say "generation $g0 active; schema_version $sv"

# ---- the lock, in a psql session fed through a FIFO
mkfifo "$TEST_DIR/lock.in"
psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_ROOT/sock" -U payroute \
	-d payroute <"$TEST_DIR/lock.in" >"$TEST_DIR/lock.out" 2>&1 &
lock_pid=$!
BG_PIDS+=("$lock_pid")
exec 9>"$TEST_DIR/lock.in"
# The backstop: should this script die, the server ends the transaction.
echo "SET idle_in_transaction_session_timeout = '60s';" >&9
echo "BEGIN; LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE; SELECT 'locked', pg_backend_pid();" >&9
for i in $(seq 100); do
	grep -q '^locked|' "$TEST_DIR/lock.out" && break
	kill -0 "$lock_pid" 2>/dev/null || break
	sleep 0.1
done
grep -q '^locked|' "$TEST_DIR/lock.out" ||
	fail "the psql session did not take the lock: $(cat "$TEST_DIR/lock.out")"
lock_backend=$(sed -n 's/^locked|//p' "$TEST_DIR/lock.out")
pass "schema_migrations locked by backend $lock_backend"

# ---- N status requests, held in flight by the lock
status_pids=()
for i in $(seq "$N"); do
	curl -s -m 60 -o "$TEST_DIR/status.$i.body" -w '%{http_code}' \
		-H "Authorization: Bearer $TOKEN" \
		"http://127.0.0.1:$ADMIN_PORT/admin/v1/status" \
		>"$TEST_DIR/status.$i.code" 2>/dev/null &
	status_pids+=("$!")
	BG_PIDS+=("$!")
done
waiting=0
for i in $(seq 100); do
	waiting=$(pq -c "SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND pid <> $lock_backend
		AND query ILIKE '%schema_migrations%'")
	[ "$waiting" -ge "$N" ] && break
	sleep 0.1
done
[ "$waiting" -ge "$N" ] ||
	fail "only $waiting of $N status queries are waiting on the lock after 10s"
for pid in "${status_pids[@]}"; do
	kill -0 "$pid" 2>/dev/null ||
		fail "a status request finished while the lock was held"
done
pass "$N GET /admin/v1/status requests in flight, their queries waiting on the lock"

# ---- a loop of /admin/v1/drivers during the reloads
: >"$TEST_DIR/drivers.codes"
(
	for i in $(seq 3000); do
		[ -f "$TEST_DIR/stop_loop" ] && break
		curl -s -m 10 -o /dev/null -w '%{http_code}\n' \
			-H "Authorization: Bearer $TOKEN" \
			"http://127.0.0.1:$ADMIN_PORT/admin/v1/drivers" \
			>>"$TEST_DIR/drivers.codes" 2>/dev/null
	done
) &
loop_pid=$!
BG_PIDS+=("$loop_pid")

# ---- 50 SIGHUPs, ~30 ms apart
for i in $(seq "$HUPS"); do
	kill -HUP "$DAEMON_PID" || fail "cannot send SIGHUP #$i"
	sleep 0.03
done
# Let the last reload finish: the generation stays the same for 1 s.
settle_generation 10 15
g_final=$GEN
touch "$TEST_DIR/stop_loop"
wait "$loop_pid"
[ "$g_final" -gt "$g0" ] ||
	fail "no new generation was published during the SIGHUPs ($g0 -> $g_final)"
nfailed=$(log_count "$RE_RELOAD_FAILED")
[ "$nfailed" = 0 ] ||
	fail "$nfailed reloads failed: $(grep -E "$RE_RELOAD_FAILED" "$LOG_FILE" | head -n 3)"
pass "$HUPS SIGHUPs: generations $g0 -> $g_final published while the lock was held"

total=$(wc -l <"$TEST_DIR/drivers.codes")
bad=$(grep -vc '^200$' "$TEST_DIR/drivers.codes")
[ "$total" -gt 0 ] || fail "the /admin/v1/drivers loop made no request"
[ "$bad" = 0 ] ||
	fail "$bad of $total GET /admin/v1/drivers during the reloads were not 200: $(grep -v '^200$' "$TEST_DIR/drivers.codes" | sort | uniq -c | tr '\n' ' ')"
pass "$total GET /admin/v1/drivers during the reloads: all 200"

# ---- still held: generation g0 not released, unheld ones released
for pid in "${status_pids[@]}"; do
	kill -0 "$pid" 2>/dev/null ||
		fail "a status request finished while the lock was still held"
done
if grep -Eq "generation $g0 released" "$LOG_FILE"; then
	fail "generation $g0 was released while $N requests still held it"
fi
released=$(grep -Eo 'generation [0-9]+ released' "$LOG_FILE" |
	awk -v lo="$g0" -v hi="$g_final" '$2 > lo && $2 < hi' | wc -l)
[ "$released" -gt 0 ] ||
	fail "no generation between $g0 and $g_final was released during the reloads, though no request held them"
pass "generation $g0 still alive (held); $released unheld generations already released"

# ---- release the lock
t_unlock=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
echo "COMMIT;" >&9
exec 9>&-
for pid in "${status_pids[@]}"; do
	wait "$pid"
done
wait "$lock_pid"

ok=0
for i in $(seq "$N"); do
	code=$(cat "$TEST_DIR/status.$i.code")
	[ "$code" = 200 ] ||
		fail "status request $i answered HTTP $code: $(cat "$TEST_DIR/status.$i.body")"
	g=$(jq -r .generation "$TEST_DIR/status.$i.body" 2>/dev/null)
	case $g in
	'' | *[!0-9]*) fail "status request $i: no generation in $(cat "$TEST_DIR/status.$i.body")" ;;
	esac
	[ "$g" -lt "$g_final" ] ||
		fail "status request $i reports generation $g, not older than the final $g_final"
	[ "$g" = "$g0" ] ||
		fail "status request $i reports generation $g, but it started under generation $g0"
	ok=$((ok + 1))
done
pass "all $ok status requests answered 200 with generation $g0 (< $g_final)"

wait_log "generation $g0 released" 10 ||
	fail "generation $g0 was not released within 10s after its requests ended"
line=$(grep -E "generation $g0 released" "$LOG_FILE" | head -n 1)
t_rel=${line%% *}
[[ "$t_rel" > "$t_unlock" || "$t_rel" == "$t_unlock" ]] ||
	fail "generation $g0 released at $t_rel, before the lock was released at $t_unlock"
pass "generation $g0 released at $t_rel, after the lock was released at $t_unlock"

current_generation
[ "$GEN" = "$g_final" ] || fail "the active generation moved to $GEN"
http_get "http://127.0.0.1:$ADMIN_PORT/metrics"
expect_code 200 "GET /metrics"
say "$(grep <<<"$RESP_BODY" -E '^payroute_(generation|generations_alive|reloads_total)' | tr '\n' ' ')"

daemon_stop
pass "payrouted exits 0 on SIGTERM"
exit 0
