#!/usr/bin/env bash
# t_reload.sh - SIGHUP and POST /admin/v1/reload: a broken config (invalid
# JSON, an unknown key) or a channel naming a missing driver is refused with
# "no changes were applied" and the old generation keeps serving; a fixed
# config makes a new generation; a changed listen address is warned about
# and not applied; a channel inserted into the database is in the next
# generation.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance reload
install_drivers "$DRIVER_DIR" good
write_conf
cp "$CONF" "$I_DIR/good.conf"
daemon_start
wait_ready
current_generation
g0=$GEN
say "generation $g0 active"

# still_serving GEN WHAT: the daemon answers /healthz on both listeners
# and /admin/v1/drivers still reports generation GEN.
still_serving() {
	daemon_alive || fail "$2: payrouted died"
	http_get "http://127.0.0.1:$ADMIN_PORT/healthz"
	expect_code 200 "$2: GET /healthz (admin listener)"
	http_get "http://127.0.0.1:$MERCHANT_PORT/healthz"
	expect_code 200 "$2: GET /healthz (merchant listener)"
	current_generation
	[ "$GEN" = "$1" ] || fail "$2: generation is $GEN, expected $1 to stay active"
	[ "$(json '[.drivers[] | select(.name == "testgood")] | length')" = 1 ] ||
		fail "$2: testgood no longer listed: $RESP_BODY"
}

# expect_refused WHAT NEEDLE: the last reload failed, saying NEEDLE and
# that nothing was applied, and generation $g stays active.
expect_refused() {
	[ "$RELOAD_RESULT" = failed ] ||
		fail "$1: the reload succeeded ($RELOAD_LINE), expected it to be refused"
	printf '%s\n' "$RELOAD_LINE" |
		grep -Eq "no changes were applied \(generation $g stays active\)" ||
		fail "$1: the log line does not say 'no changes were applied (generation $g stays active)': $RELOAD_LINE"
	grep <<<"$RELOAD_LINE" -Fq -- "$2" ||
		fail "$1: the log line does not mention '$2': $RELOAD_LINE"
	still_serving "$g" "$1"
	pass "$1: refused, generation $g still serving: ${RELOAD_LINE#* \[*\] }"
}

g=$g0

# ---- invalid JSON
printf '{ "listen": { "merchant": \n' >"$CONF"
reload_hup
expect_refused "SIGHUP with invalid JSON" "$CONF"

# ---- an unknown key
TOP_EXTRA=$',\n\t"no_such_option": true'
write_conf
TOP_EXTRA=""
reload_hup
expect_refused "SIGHUP with an unknown key" no_such_option

# ---- fixed: a new generation
cp "$I_DIR/good.conf" "$CONF"
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "SIGHUP with the config fixed: $RELOAD_LINE"
current_generation
[ "$GEN" -gt "$g" ] || fail "generation $GEN after the fix, expected > $g"
g=$GEN
pass "config fixed + SIGHUP: generation $g active"

# ---- a restart-only option: warned about, not applied
old_admin=$ADMIN_PORT
free_port
ADMIN_PORT=$PORT
write_conf
ADMIN_PORT=$old_admin
reload_hup
wait_log "reload: option listen\.admin changed but needs a restart; not applied" 5 ||
	fail "no 'reload: option listen.admin changed but needs a restart; not applied' line after changing listen.admin"
http_get "http://127.0.0.1:$old_admin/healthz"
expect_code 200 "GET /healthz on the old admin port after the change"
http_get "http://127.0.0.1:$PORT/healthz"
[ "$RESP_CODE" = 000 ] ||
	fail "the new admin port $PORT answers ($RESP_CODE) although listen.admin needs a restart"
current_generation
g=$GEN
pass "listen.admin changed + SIGHUP: warned, old port $old_admin still serving, new port $PORT not opened"
cp "$I_DIR/good.conf" "$CONF"

# ---- POST /admin/v1/reload
admin_post /admin/v1/reload
expect_code 200 "POST /admin/v1/reload"
n=$(json .generation)
[ -n "$n" ] && [ "$n" -gt "$g" ] ||
	fail "POST /admin/v1/reload answered generation '$n', expected > $g: $RESP_BODY"
current_generation
[ "$GEN" = "$n" ] || fail "after POST /admin/v1/reload the active generation is $GEN, not $n"
g=$GEN
pass "POST /admin/v1/reload -> 200, generation $g"

http POST "http://127.0.0.1:$ADMIN_PORT/admin/v1/reload" \
	-H 'Authorization: Bearer wrong-token-0123456789'
expect_code 401 "POST /admin/v1/reload with a wrong token"
[ -n "$(json .error.code)" ] || fail "401 without a JSON error body: $RESP_BODY"
http POST "http://127.0.0.1:$ADMIN_PORT/admin/v1/reload"
expect_code 401 "POST /admin/v1/reload without a token"
ecode=$(json .error.code)
current_generation
[ "$GEN" = "$g" ] || fail "an unauthorised reload changed the generation to $GEN"
pass "POST /admin/v1/reload with a wrong or no token -> 401 $ecode, nothing reloaded"

# ---- a channel in the database comes with the next generation
pq -c "INSERT INTO channels (code, driver, institution, status, driver_config)
       VALUES ('t_good', 'testgood', 'Test Bank', 'online',
               '{\"endpoint\": \"http://127.0.0.1:1\"}')" ||
	fail "cannot insert a channel row"
admin_post /admin/v1/reload
expect_code 200 "POST /admin/v1/reload after inserting channel t_good"
g=$(json .generation)
admin_get /admin/v1/channels
expect_code 200 "GET /admin/v1/channels"
[ "$(json '[.channels[] | select(.code == "t_good")] | length')" = 1 ] ||
	fail "/admin/v1/channels does not list t_good: $RESP_BODY"
wait_log "reload: generation $g active \([0-9]+ drivers?, [1-9][0-9]* channels?\)" 5 ||
	fail "no 'reload: generation $g active (D drivers, C channels)' line with a channel"
pass "channel t_good inserted + reload: listed, generation $g active"

# ---- a channel naming a missing driver: refused, nothing applied
pq -c "INSERT INTO channels (code, driver, institution, status, driver_config)
       VALUES ('t_orphan', 'no_such_driver', 'Nobody', 'online', '{}')" ||
	fail "cannot insert a channel row"
admin_post /admin/v1/reload
expect_code 500 "POST /admin/v1/reload with a channel naming a missing driver"
emsg=$(json .error.message)
[ -n "$emsg" ] || fail "reload error without a message: $RESP_BODY"
wait_log "reload failed: .*no changes were applied \(generation $g stays active\)" 5 ||
	fail "no 'reload failed: ...; no changes were applied (generation $g stays active)' line"
RELOAD_LINE=$(grep -E "$RE_RELOAD_FAILED" "$LOG_FILE" | tail -n 1)
grep <<<"$RELOAD_LINE" -Eq 't_orphan|no_such_driver' ||
	fail "the reload failure does not name the channel or the driver: $RELOAD_LINE"
still_serving "$g" "reload with a channel naming a missing driver"
pass "channel naming a missing driver: 500 '$emsg', generation $g still serving"

# ---- a channel whose driver rejects its config: refused too
pq -c "DELETE FROM channels WHERE code = 't_orphan'" || fail "cannot delete t_orphan"
pq -c "INSERT INTO channels (code, driver, institution, status, driver_config)
       VALUES ('t_noconf', 'testgood', 'Test Bank', 'online', '{}')" ||
	fail "cannot insert a channel row"
reload_hup
expect_refused "SIGHUP with a channel lacking its driver's endpoint" t_noconf

# ---- and once the database is fixed, reload works again
pq -c "DELETE FROM channels WHERE code = 't_noconf'" || fail "cannot delete t_noconf"
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "SIGHUP after removing the bad channels: $RELOAD_LINE"
current_generation
[ "$GEN" -gt "$g" ] || fail "generation $GEN after the fix, expected > $g"
pass "bad channels removed + SIGHUP: generation $GEN active"

daemon_stop
pass "payrouted exits 0 on SIGTERM"
exit 0
