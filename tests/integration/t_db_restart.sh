#!/usr/bin/env bash
# t_db_restart.sh - losing PostgreSQL and getting it back: the daemon stays
# up, reports not ready (/readyz 503) and answers store-bound requests with
# a JSON 503 store_unavailable; once the server is back it reconnects by
# itself (back-off capped by database.reconnect_max_ms) and is ready again.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance dbr
install_drivers "$DRIVER_DIR" good
DB_EXTRA=$',\n\t\t"reconnect_min_ms": 100,\n\t\t"reconnect_max_ms": 1000'
write_conf
daemon_start
wait_ready
admin_get /admin/v1/status
expect_code 200 "GET /admin/v1/status with the store up"
[ "$(json .store.ready)" = true ] || fail "status: store.ready is not true: $RESP_BODY"
pass "/readyz 200, /admin/v1/status 200 with store.ready true"

# ---- PostgreSQL goes away
pg_stop fast
say "PostgreSQL stopped (-m fast)"
for i in $(seq 100); do
	http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
	[ "$RESP_CODE" = 503 ] && break
	sleep 0.1
done
expect_code 503 "GET /readyz within 10s of stopping PostgreSQL"
[ "$(json .ready)" = false ] || fail "/readyz 503 body is not {\"ready\":false,...}: $RESP_BODY"
pass "/readyz 503: $RESP_BODY"
http_get "http://127.0.0.1:$MERCHANT_PORT/readyz"
expect_code 503 "GET /readyz on the merchant listener with PostgreSQL down"

for i in $(seq 50); do
	admin_get /admin/v1/status
	[ "$RESP_CODE" = 503 ] && break
	sleep 0.1
done
expect_code 503 "GET /admin/v1/status with PostgreSQL down"
[ "$(json .error.code)" = store_unavailable ] ||
	fail "status with PostgreSQL down: expected error code store_unavailable: $RESP_BODY"
[ -n "$(json .error.message)" ] || fail "store_unavailable without a message: $RESP_BODY"
pass "/admin/v1/status 503 store_unavailable: $(json .error.message)"

admin_get /admin/v1/channels
expect_code 503 "GET /admin/v1/channels with PostgreSQL down"
http_get "http://127.0.0.1:$ADMIN_PORT/healthz"
expect_code 200 "GET /healthz with PostgreSQL down (the process is alive)"
daemon_alive || fail "payrouted died when PostgreSQL went away"
wait_log "store: connection lost" 5 || fail "no 'store: connection lost' line in the log"
pass "daemon alive, /healthz 200, the log says the connection was lost"

# ---- a while without the server: still alive, still not ready
sleep 2
daemon_alive || fail "payrouted died while PostgreSQL was down"
http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
expect_code 503 "GET /readyz 2s later, PostgreSQL still down"

# ---- PostgreSQL comes back
ready0=$(log_count 'store: ready')
pg_start_again
say "PostgreSQL started again"
t0=$SECONDS
wait_ready 15
pass "/readyz 200 again $((SECONDS - t0))s after PostgreSQL came back"
[ "$(log_count 'store: ready')" -gt "$ready0" ] ||
	fail "no new 'store: ready' line after reconnecting"
admin_get /admin/v1/status
expect_code 200 "GET /admin/v1/status after reconnecting"
[ "$(json .store.ready)" = true ] || fail "status: store.ready is not true: $RESP_BODY"
admin_get /admin/v1/channels
expect_code 200 "GET /admin/v1/channels after reconnecting"
pass "/admin/v1/status and /admin/v1/channels 200 after reconnecting"

daemon_stop
wait_log "shutting down" 1 || fail "no 'shutting down' line in the log"
pass "payrouted exits 0 on SIGTERM"
exit 0
