#!/usr/bin/env bash
# t_notify.sh - policy changes reach every instance on the database through
# LISTEN/NOTIFY.
#
# Two payrouted instances (a and b, own ports) share one database. A channel
# inserted, then updated, with psql and announced with
# `SELECT pg_notify('payroute_policy', '{}')` shows up in both instances'
# active generation (GET /admin/v1/status "channels", GET /admin/v1/channels)
# within a bounded time. A burst of 100 notifications (one transaction with
# 100 distinct payloads, then 100 transactions of one) costs each instance
# far fewer reloads than notifications: a reload requested while one runs
# is queued once. The LISTEN connection comes back by itself when its
# session is killed and when PostgreSQL restarts, and each time the
# instance reloads (notifications may have been missed meanwhile) and
# hears the next one. When the admin API's channel endpoints exist, a
# channel created on a appears on b.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

RE_LISTENING='store: listening for notifications on payroute_policy'
RE_BUILDING='reload: .*; building generation [0-9]+'
RE_NOTIFY_RELOAD='reload: policy changed \(NOTIFY from pid [0-9]+\)'
# either form: at once, or folded into the end of the interval
RE_POLICY_RELOAD='reload: policy changed \((NOTIFY from pid|[0-9]+ more NOTIFYs)'
# at once, or queued behind a reload that was running ("reload: queued:
# ...; listening for ...")
RE_RELISTEN_RELOAD='reload: (queued: )?([^;]*; )*listening for policy changes'

# ---- instances: save_instance and use (lib.sh) switch between them

for n in a b; do
	new_instance "$n"
	install_drivers "$DRIVER_DIR" good
	DB_EXTRA=$',\n\t\t"reconnect_min_ms": 100,\n\t\t"reconnect_max_ms": 1000'
	write_conf
	daemon_start
	save_instance
done
for n in a b; do
	use "$n"
	wait_ready
	wait_log "$RE_LISTENING" 10 ||
		fail "$n: no '$RE_LISTENING' line within 10s of being ready"
done
pass "two instances on one database, both listening on payroute_policy"

# status_channels: sets NCH to the current instance's "channels" count.
status_channels() {
	admin_get /admin/v1/status
	NCH=""
	[ "$RESP_CODE" = 200 ] && NCH=$(json .channels)
	return 0
}

# channels_are N: the current instance (alive) reports N channels.
channels_are() {
	daemon_alive || fail "payrouted ($I_NAME) died"
	status_channels
	[ "$NCH" = "$1" ]
}

# wait_channels N WHAT: bounded wait (10 s) until both instances report N
# channels in their active generation.
wait_channels() {
	local want=$1 what=$2 n

	for n in a b; do
		use "$n"
		wait_until 10 channels_are "$want" ||
			fail "$what: instance $n reports '$NCH' channels after 10s, expected $want ($RESP_CODE $RESP_BODY)"
	done
}

# generation_gt N: the current instance's active generation is newer than N.
generation_gt() {
	current_generation
	[ "$GEN" -gt "$1" ]
}

# store_down_seen: the current instance has no store connection left and
# says the store is not ready (/metrics).
store_down_seen() {
	[ "$(metric payroute_store_ready)" = 0 ] &&
		[ "$(metric payroute_store_connections)" = 0 ]
}

# relistened LINES RELOADS: the current instance listens again (more than
# LINES 'listening' lines) and reloaded for it (more than RELOADS).
relistened() {
	log_grew "$RE_LISTENING" "$1" && log_grew "$RE_RELISTEN_RELOAD" "$2"
}

# channel_field CODE FIELD: sets FIELD_VAL to the field of a channel as
# GET /admin/v1/channels on the current instance lists it; returns 1 when
# that endpoint does not answer 200 (the admin API's channel endpoints are
# another part's work).
channel_field() {
	FIELD_VAL=""
	admin_get /admin/v1/channels
	[ "$RESP_CODE" = 200 ] || return 1
	FIELD_VAL=$(json "[.channels[]? | select(.code == \"$1\")][0].$2 // empty")
	return 0
}

# generation_of NAME: sets GEN to instance NAME's active generation.
generation_of() {
	use "$1"
	current_generation
}

for n in a b; do
	use "$n"
	status_channels
	[ "$NCH" = 0 ] || fail "$n: $NCH channels before the test, expected 0"
done

# ---- an INSERT + NOTIFY reaches both
pq -c "INSERT INTO channels (code, driver, institution, status, driver_config)
       VALUES ('n_one', 'testgood', 'Notify Bank', 'online',
               '{\"endpoint\": \"http://127.0.0.1:9\"}')" ||
	fail "cannot insert channel n_one"
pq -c "SELECT pg_notify('payroute_policy', '{}')" >/dev/null ||
	fail "pg_notify failed"
t0=$(date +%s%N)
wait_channels 1 "channel n_one inserted + NOTIFY"
ms=$((($(date +%s%N) - t0) / 1000000))
for n in a b; do
	use "$n"
	wait_log "$RE_NOTIFY_RELOAD" 5 ||
		fail "$n: no '$RE_NOTIFY_RELOAD' line after the NOTIFY"
	if channel_field n_one status; then
		[ "$FIELD_VAL" = online ] ||
			fail "$n: GET /admin/v1/channels does not list n_one online: $RESP_BODY"
	fi
done
pass "INSERT + pg_notify: both instances list n_one (1 channel) within ${ms} ms"

# ---- an UPDATE that breaks the channel: both refuse it, nothing applied
declare -A g_before
for n in a b; do
	generation_of "$n"
	g_before[$n]=$GEN
done
pq -c "BEGIN;
       UPDATE channels SET driver_config = '{}' WHERE code = 'n_one';
       SELECT pg_notify('payroute_policy', '{\"channel\":\"n_one\"}');
       COMMIT;" >/dev/null || fail "cannot update channel n_one"
for n in a b; do
	use "$n"
	wait_log "reload failed: .*n_one.*no changes were applied \(generation ${g_before[$n]} stays active\)" 10 ||
		fail "$n: no 'reload failed: ... n_one ... no changes were applied' line after a breaking UPDATE + NOTIFY"
	current_generation
	[ "$GEN" = "${g_before[$n]}" ] ||
		fail "$n: generation $GEN after a refused reload, expected ${g_before[$n]}"
done
pass "UPDATE breaking n_one + pg_notify: both instances refuse it and keep their generation"

# ---- an UPDATE that fixes it and takes it offline: both apply it
pq -c "BEGIN;
       UPDATE channels SET status = 'offline', institution = 'Renamed Bank',
              driver_config = '{\"endpoint\": \"http://127.0.0.1:9\"}'
        WHERE code = 'n_one';
       SELECT pg_notify('payroute_policy', '{\"channel\":\"n_one\"}');
       COMMIT;" >/dev/null || fail "cannot update channel n_one"
for n in a b; do
	use "$n"
	wait_until 10 generation_gt "${g_before[$n]}" ||
		fail "$n: no new generation 10s after the fixing UPDATE + NOTIFY"
	if channel_field n_one status; then
		[ "$FIELD_VAL" = offline ] ||
			fail "$n: n_one not offline after UPDATE + NOTIFY: $RESP_BODY"
	fi
done
wait_channels 1 "n_one fixed and offline"
pass "UPDATE fixing n_one (offline) + pg_notify: both instances publish a new generation"

# ---- a burst of notifications: far fewer reloads
# reload_count: reloads started so far by the current instance.
reload_count() { log_count "$RE_BUILDING"; }

# burst WHAT MAX SQL: runs SQL (which sends 100 notifications), waits for
# both instances to settle, and checks each started at least 1 and at
# most MAX reloads.
burst() {
	local what=$1 max=$2 sql=$3 n got
	declare -A before failed

	for n in a b; do
		use "$n"
		before[$n]=$(reload_count)
		failed[$n]=$(log_count 'reload failed')
	done
	printf '%s\n' "$sql" | pq >/dev/null || fail "$what: psql failed"
	for n in a b; do
		use "$n"
		wait_until 10 log_grew "$RE_BUILDING" "${before[$n]}" ||
			fail "$what: instance $n did not reload within 10s"
		settle_generation 10 15
		got=$(($(reload_count) - before[$n]))
		[ "$got" -ge 1 ] || fail "$what: instance $n did not reload"
		[ "$got" -le "$max" ] ||
			fail "$what: instance $n reloaded $got times for 100 notifications (at most $max expected)"
		[ "$(log_count 'reload failed')" = "${failed[$n]}" ] ||
			fail "$what: instance $n: a reload failed: $(grep -E 'reload failed' "$LOG_FILE" | tail -n 1)"
		say "$what: instance $n: $got reloads for 100 notifications"
	done
}

sql="BEGIN;"
for i in $(seq 100); do
	sql="$sql SELECT pg_notify('payroute_policy', 'burst-$i');"
done
sql="$sql COMMIT;"
burst "100 notifications in one transaction" 3 "$sql"
pass "100 notifications in one transaction: at most 3 reloads per instance"

sql=""
for i in $(seq 100); do
	sql="$sql SELECT pg_notify('payroute_policy', 'single-$i');"
done
burst "100 notifications in 100 transactions" 10 "$sql"
pass "100 notifications in 100 transactions: at most 10 reloads per instance"
wait_channels 1 "after the bursts"

# ---- the LISTEN session killed: back by itself, reloads, hears again
use a
lines=$(log_count "$RE_LISTENING")
relisten=$(log_count "$RE_RELISTEN_RELOAD")
lpid=$(grep -E "$RE_LISTENING" "$LOG_FILE" | tail -n 1 |
	sed -E 's/.*backend pid ([0-9]+).*/\1/')
case $lpid in
'' | *[!0-9]*) fail "no backend pid in the 'listening' line of a" ;;
esac
[ "$(pq -c "SELECT pg_terminate_backend($lpid)")" = t ] ||
	fail "cannot terminate a's LISTEN session (backend $lpid)"
wait_log "store: notification connection lost" 10 ||
	fail "a: no 'store: notification connection lost' line after its session was terminated"
wait_until 10 log_grew "$RE_LISTENING" "$lines" ||
	fail "a: not listening again 10s after its LISTEN session was terminated"
wait_until 10 log_grew "$RE_RELISTEN_RELOAD" "$relisten" ||
	fail "a: no reload after its LISTEN connection came back"
admin_get /admin/v1/status
expect_code 200 "a: GET /admin/v1/status after the LISTEN session was killed"
[ "$(json .store.ready)" = true ] ||
	fail "a: the pool suffered from the LISTEN session's loss: $RESP_BODY"
pass "LISTEN session terminated: a listens again and reloads; its pool stays ready"

# ---- PostgreSQL restarts: both listen again, reload, and hear the next
declare -A lines0 relisten0
for n in a b; do
	use "$n"
	lines0[$n]=$(log_count "$RE_LISTENING")
	relisten0[$n]=$(log_count "$RE_RELISTEN_RELOAD")
done
pg_stop fast
say "PostgreSQL stopped (-m fast)"
for n in a b; do
	use "$n"
	wait_log "store: notification connection lost" 10 ||
		fail "$n: no 'store: notification connection lost' line"
done
use a
wait_log "store: connection lost" 10 || fail "a: no 'store: connection lost' line"
reload_hup
[ "$RELOAD_RESULT" = ok ] ||
	fail "a: SIGHUP with PostgreSQL down: $RELOAD_LINE"
printf '%s\n' "$RELOAD_LINE" |
	grep -Eq '\(1 drivers?, 1 channels?, carried over: store unavailable\)' ||
	fail "a: SIGHUP with PostgreSQL down did not carry the policy over: $RELOAD_LINE"
pass "SIGHUP with PostgreSQL down: the policy (1 channel) is carried over"
# both have lost every store connection before PostgreSQL comes back
for n in a b; do
	use "$n"
	wait_until 10 store_down_seen ||
		fail "$n: /metrics still shows a store connection 10s after PostgreSQL stopped"
done
pg_start_again
say "PostgreSQL started again"
for n in a b; do
	use "$n"
	if ! wait_until 15 relistened "${lines0[$n]}" "${relisten0[$n]}"; then
		log_grew "$RE_LISTENING" "${lines0[$n]}" ||
			fail "$n: not listening again 15s after PostgreSQL came back"
		fail "$n: no reload after the LISTEN connection came back"
	fi
	wait_ready 15
done
pass "PostgreSQL restarted: both instances listen again and reload"

pq -c "BEGIN;
       INSERT INTO channels (code, driver, institution, status, driver_config)
       VALUES ('n_two', 'testgood', 'Second Bank', 'online',
               '{\"endpoint\": \"http://127.0.0.1:9\"}');
       SELECT pg_notify('payroute_policy', '{}');
       COMMIT;" >/dev/null || fail "cannot insert channel n_two"
wait_channels 2 "channel n_two inserted + NOTIFY after the restart"
pass "after the restart an INSERT + NOTIFY reaches both instances (2 channels)"

# ---- the admin API on a, seen by b (when the endpoints exist)
declare -A nrel0
for n in a b; do
	use "$n"
	nrel0[$n]=$(log_count "$RE_POLICY_RELOAD")
done
use a
admin_post /admin/v1/channels -H 'Content-Type: application/json' \
	--data '{"code": "n_api", "driver": "testgood", "institution": "API Bank",
	         "status": "online",
	         "driver_config": {"endpoint": "http://127.0.0.1:9"}}'
post_answer="$RESP_CODE $RESP_BODY"
case $RESP_CODE in
200 | 201)
	wait_channels 3 "POST /admin/v1/channels on a (answered $post_answer)"
	use b
	channel_field n_api code
	[ "$FIELD_VAL" = n_api ] ||
		fail "b: n_api created on a is not listed: $RESP_CODE $RESP_BODY"
	[ "$(log_count "$RE_POLICY_RELOAD")" -gt "${nrel0[b]}" ] ||
		fail "b: no reload on a's NOTIFY"
	use a
	settle_generation 5 10
	[ "$(log_count "$RE_POLICY_RELOAD")" = "${nrel0[a]}" ] ||
		fail "a reloaded on its own NOTIFY (it reloads locally already): $(grep -E "$RE_POLICY_RELOAD" "$LOG_FILE" | tail -n 1)"
	pass "POST /admin/v1/channels on a: n_api listed by b (reloaded on the NOTIFY); a skipped its own NOTIFY"
	;;
404 | 405 | 501)
	say "POST /admin/v1/channels answers $RESP_CODE: the admin API's channel endpoints are not there; check skipped"
	;;
*)
	fail "POST /admin/v1/channels on a: HTTP $RESP_CODE: $RESP_BODY"
	;;
esac

for n in a b; do
	use "$n"
	daemon_stop
done
pass "both instances exit 0 on SIGTERM"
exit 0
