#!/usr/bin/env bash
# t_drivers.sh - the driver loader in the running daemon: good drivers are
# loaded, each broken one is refused with a log line naming what was
# expected and what was found; the config keys drivers declare (ABI 1.2)
# and whether they read bills (ABI 1.3: the in-tree drivers do) are
# served by GET /admin/v1/drivers and /admin/v1/drivers/NAME and
# printed by payroutectl (a driver built for ABI 1.1 loads and declares
# none; a broken key table is refused); a driver dropped into the
# directory is picked up by SIGHUP in a new generation, and a removed one
# disappears, its generation being released.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance drv
real=$(real_drivers)
install_drivers "$DRIVER_DIR" good $real badmagic badmajor small newminor \
	keys old badkeys
write_conf
daemon_start
wait_ready

# ---- exactly the good ones are listed
want=$(printf '%s\n' good.so keys.so old.so $(for n in $real; do echo "$n.so"; done) | sort | tr '\n' ' ')
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
wait_log "driver .*badkeys\.so refused: config key #5: endpoint is declared twice" 5 ||
	fail "no 'driver .../badkeys.so refused: config key #5: endpoint is declared twice' line"
wait_log "driver testold .* \(ABI 1\.1\) loaded from .*/old\.so \(it declares no config keys" 1 ||
	fail "testold (ABI 1.1) is not logged as loaded without config keys"
pass "badkeys (a key declared twice) is refused; testold, built for ABI 1.1, loads without keys"

# ---- the config keys, as the admin API serves them
admin_get /admin/v1/drivers
[ "$(json '.drivers[] | select(.name == "testkeys") | .config_keys | map(.name) | join(",")')" = \
	endpoint,fail_init,sign_type,passphrase,verbose ] ||
	fail "testkeys' config_keys: $RESP_BODY"
[ "$(json '.drivers[] | select(.name == "testkeys") | .config_keys[] | select(.name == "passphrase") |
	"\(.type) \(.required) \(.secret) \(.default)"')" = "string false true null" ] ||
	fail "testkeys' passphrase key: $RESP_BODY"
[ "$(json '.drivers[] | select(.name == "testkeys") | .config_keys[] | select(.name == "fail_init") |
	"\(.type) \(.required) \(.secret) \(.default) \(.description)"')" = \
	"integer false false 0 1 makes init fail (for tests)" ] || fail "testkeys' fail_init key: $RESP_BODY"
for n in testgood testold; do
	[ "$(json ".drivers[] | select(.name == \"$n\") | .config_keys")" = null ] ||
		fail "$n declares no keys, yet config_keys is not null: $RESP_BODY"
done
for n in $real; do
	[ "$(json ".drivers[] | select(.name == \"$n\") | .config_keys |
		map(select((.name | test(\"^[a-z0-9_]+\$\")) and (.description | length > 0))) | length > 2")" = true ] ||
		fail "driver $n does not declare its config keys: $RESP_BODY"
	[ "$(json ".drivers[] | select(.name == \"$n\") | .abi")" = 1.3 ] ||
		fail "driver $n is not built for ABI 1.3: $RESP_BODY"
	[ "$(json ".drivers[] | select(.name == \"$n\") | .bills")" = true ] ||
		fail "driver $n does not read bills (ABI 1.3): $RESP_BODY"
done
for n in testgood testold; do
	[ "$(json ".drivers[] | select(.name == \"$n\") | .bills")" = false ] ||
		fail "$n reads no bills, yet bills is not false: $RESP_BODY"
done
if printf '%s\n' $real | grep -qx alipay; then
	[ "$(json '.drivers[] | select(.name == "alipay") | .config_keys[] | select(.name == "app_private_key") |
		"\(.type) \(.required) \(.secret)"')" = "pem true true" ] ||
		fail "alipay's app_private_key: $RESP_BODY"
fi
admin_get /admin/v1/drivers/testkeys
expect_code 200 "GET /admin/v1/drivers/testkeys"
[ "$(json '.name + " " + (.config_keys | length | tostring)')" = "testkeys 5" ] ||
	fail "GET /admin/v1/drivers/testkeys: $RESP_BODY"
admin_get /admin/v1/drivers/nosuch
expect_code 404 "GET /admin/v1/drivers/nosuch"
pass "GET /admin/v1/drivers[/NAME]: each driver's keys (null for testgood and testold)"

# ---- payroutectl prints them
CTL=$top_builddir/payroutectl
ctl() { PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 60 "$CTL" "$@" 2>&1 </dev/null; }
out=$(ctl driver testkeys) || fail "payroutectl driver testkeys: $out"
grep <<<"$out" -Eq '^driver +testkeys 1\.0\.0 \(ABI 1\.3\)$' ||
	fail "payroutectl driver testkeys: no driver line: $out"
grep <<<"$out" -Eq '^bills +no: ' ||
	fail "payroutectl driver testkeys: no bills line: $out"
grep <<<"$out" -Eq '^KEY +TYPE +REQUIRED +SECRET +DEFAULT +DESCRIPTION$' ||
	fail "payroutectl driver testkeys: no table head: $out"
grep <<<"$out" -Eq '^endpoint +string +yes +no +- +base URL of the test channel$' ||
	fail "payroutectl driver testkeys: no endpoint row: $out"
grep <<<"$out" -Eq '^passphrase +string +no +yes +- +a secret, masked when read back$' ||
	fail "payroutectl driver testkeys: no passphrase row: $out"
grep <<<"$out" -Eq '^sign_type +string +no +no +HMAC-SHA256 +signature algorithm' ||
	fail "payroutectl driver testkeys: no sign_type row: $out"
out=$(ctl driver testold) || fail "payroutectl driver testold: $out"
grep <<<"$out" -Eq '^config +declares no keys' ||
	fail "payroutectl driver testold does not say it declares no keys: $out"
out=$(ctl driver nosuch) && fail "payroutectl driver nosuch succeeded: $out"
grep <<<"$out" -q 'no driver named nosuch' || fail "payroutectl driver nosuch: $out"
out=$(ctl drivers) || fail "payroutectl drivers: $out"
grep <<<"$out" -Eq '^NAME +VERSION +ABI +GENERATION +KEYS +FILE$' &&
	grep <<<"$out" -Eq '^testkeys +1\.0\.0 +1\.3 +[0-9]+ +5 +/' &&
	grep <<<"$out" -Eq '^testold +1\.0\.0 +1\.1 +[0-9]+ +- +/' ||
	fail "payroutectl drivers: no KEYS column with 5 for testkeys and - for testold: $out"
pass "payroutectl driver NAME prints the keys; drivers counts them"

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
