#!/usr/bin/env bash
# t_drivers.sh - the driver loader in the running daemon: good drivers are
# loaded, each broken one is refused with a log line naming what was
# expected and what was found; a driver dropped into the directory is
# picked up by SIGHUP in a new generation, and a removed one disappears,
# its generation being released.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance drv
real=$(real_drivers)
install_drivers "$DRIVER_DIR" good $real badmagic badmajor small newminor
write_conf
daemon_start
wait_ready

# ---- exactly the good ones are listed
want=$(printf '%s\n' good.so $(for n in $real; do echo "$n.so"; done) | sort | tr '\n' ' ')
admin_get /admin/v1/drivers
expect_code 200 "GET /admin/v1/drivers"
got=$(json '.drivers[].file' | xargs -n1 basename 2>/dev/null | sort | tr '\n' ' ')
[ "$got" = "$want" ] ||
	fail "/admin/v1/drivers lists files '$got', expected exactly '$want': $RESP_BODY"
[ "$(json '[.drivers[] | select(.name == "testgood")] | length')" = 1 ] ||
	fail "/admin/v1/drivers has no driver named testgood: $RESP_BODY"
[ "$(json '[.drivers[] | select(.abi | test("^1\\.[0-9]+$") | not)] | length')" = 0 ] ||
	fail "/admin/v1/drivers: a driver without an ABI 1.x: $RESP_BODY"
pass "/admin/v1/drivers lists exactly: $got"

for n in $real; do
	wait_log "driver .* \(ABI 1\.[0-9]+\) loaded from .*/$n\.so" 1 ||
		fail "no 'driver ... loaded from .../$n.so' line in the log"
done
wait_log "driver testgood .* \(ABI 1\.[0-9]+\) loaded from .*/good\.so" 1 ||
	fail "no 'driver testgood ... loaded from .../good.so' line in the log"
pass "the log has a 'loaded' line for each good driver"

# ---- each broken one is refused with expected/found
for n in badmagic badmajor small newminor; do
	wait_log "driver .*$n\.so refused: .*expected.*found" 5 ||
		fail "no 'driver .../$n.so refused: ... expected ... found ...' line in the log"
	say "  $(grep -E "driver .*$n\.so refused" "$LOG_FILE" | head -n 1 | cut -d' ' -f2-)"
done
pass "badmagic, badmajor, small and newminor are refused naming expected/found"

# ---- drop good2.so in + SIGHUP: listed, in a newer generation
current_generation
g1=$GEN
good_gen=$(json '.drivers[] | select(.name == "testgood") | .generation')
install_drivers "$DRIVER_DIR" good2
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "SIGHUP with good2.so added: $RELOAD_LINE"
current_generation
g2=$GEN
[ "$g2" -gt "$g1" ] || fail "generation did not advance after SIGHUP ($g1 -> $g2)"
good2_gen=$(json '.drivers[] | select(.name == "testgood2") | .generation')
[ -n "$good2_gen" ] || fail "testgood2 not listed after SIGHUP: $RESP_BODY"
[ "$good2_gen" -gt "$good_gen" ] ||
	fail "testgood2 has generation $good2_gen, not newer than testgood's $good_gen"
[ "$(json '[.drivers[] | select(.name == "testgood")] | length')" = 1 ] ||
	fail "testgood is gone after SIGHUP: $RESP_BODY"
pass "good2.so + SIGHUP: testgood2 listed, loaded in generation $good2_gen (testgood: $good_gen); generation $g1 -> $g2"

# ---- remove it + SIGHUP: gone, and its generation released
rm -f "$DRIVER_DIR/good2.so"
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "SIGHUP with good2.so removed: $RELOAD_LINE"
current_generation
g3=$GEN
[ "$(json '[.drivers[] | select(.name == "testgood2")] | length')" = 0 ] ||
	fail "testgood2 still listed after its removal + SIGHUP: $RESP_BODY"
wait_log "generation $g2 released" 10 ||
	fail "no 'generation $g2 released' line after generation $g3 replaced it"
pass "good2.so removed + SIGHUP: testgood2 gone (generation $g3), generation $g2 released"

daemon_stop
pass "payrouted exits 0 on SIGTERM"
exit 0
