#!/usr/bin/env bash
# t_sessions.sh - the console's sign-in (doc/design.md §11, "Passwords and
# sessions") against a real PostgreSQL and payrouted:
#   - passwords: set by an admin (policy refusals name the field), stored
#     as scrypt with its parameters and salt, never in clear; changed by
#     the operator with the old one (the other sessions end);
#   - sign-in with a password or a token: the cookie's attributes (HttpOnly,
#     SameSite=Strict, Path=/, Secure once admin.cookie_secure is on);
#     whoami with the cookie; sign-out; all audited;
#   - time-outs: idle and absolute, with short configured values;
#   - CSRF: a cookie's state change without X-CSRF-Token, with a wrong one,
#     from another Origin or Sec-Fetch-Site is refused 403 and audited; a
#     bearer token needs none; a sign-in from another origin is refused;
#   - lockout: wrong passwords lock the account (429 with the right one,
#     audited), failures lock the address.
. "$(dirname "$0")/lib.sh"
require_pg
require_tools jq curl
pg_start

new_instance sess
install_drivers "$DRIVER_DIR" good
ADMIN_EXTRA=$',\n\t\t"lockout_failures": 3, "lockout_address_failures": 14,\n\t\t"lockout_window_s": 600, "lockout_duration_s": 3,\n\t\t"session_idle_s": 6, "session_max_s": 15'
write_conf
daemon_start
wait_ready
BASE=http://127.0.0.1:$ADMIN_PORT
JAR=$TEST_DIR/jar
PW='correct horse battery'

# cs METHOD PATH [BODY] [CURL ARGS...]: a request with the cookie jar $JAR
# (and, with CSRF set, its X-CSRF-Token), headers kept in $TEST_DIR/hdr.
CSRF=""
cs() {
	local m=$1 p=$2 body=${3-} args=()

	shift 3 2>/dev/null || shift $#
	[ -n "$CSRF" ] && args+=(-H "X-CSRF-Token: $CSRF")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	http "$m" "$BASE$p" -b "$JAR" -c "$JAR" -D "$TEST_DIR/hdr" "${args[@]}" "$@"
}
# sign_in NAME PASSWORD: a new jar, signed in; CSRF set.
sign_in() {
	rm -f "$JAR"
	CSRF=""
	cs POST /admin/v1/session "{\"name\":\"$1\",\"password\":\"$2\"}"
	expect_code 200 "sign in as $1"
	CSRF=$(json .csrf_token)
	[[ $CSRF =~ ^[0-9a-f]{64}$ ]] || fail "no csrf_token in $RESP_BODY"
}
audits() { pq -c "SELECT count(*) FROM audit_log WHERE $1"; }

# ------------------------------------------------------------ passwords
send POST /admin/v1/operators '{"name":"alice","roles":["operator"]}'
expect_code 201 "create alice"
[ "$(json .password_set_at)" = null ] || fail "a new operator has a password: $RESP_BODY"
send POST /admin/v1/operators/alice/password '{"password":"short"}'
expect_field "a short password" password "12 to 256"
send POST /admin/v1/operators/alice/password '{"password":"my name is Alice!"}'
expect_field "a password with the name" password "name"
send POST /admin/v1/operators/alice/password '{}'
expect_field "no password" password "12 to 256"
send POST /admin/v1/operators/nobody/password "{\"password\":\"$PW\"}"
expect_code 404 "the password of no operator"
send POST /admin/v1/operators/alice/password "{\"password\":\"$PW\"}"
expect_code 200 "alice's password"
[ "$(json .password_set_at)" != null ] || fail "password_set_at: $RESP_BODY"
h=$(pq -c "SELECT password_hash FROM operators WHERE name = 'alice'")
[[ $h =~ ^scrypt\$ln=15,r=8,p=3\$[0-9a-f]{32}\$[0-9a-f]{64}$ ]] || fail "stored hash: $h"
pq -c "SELECT count(*) FROM audit_log WHERE after::text LIKE '%horse%' OR before::text LIKE '%horse%'" | grep -qx 0 ||
	fail "the password is in the audit log"
grep -q horse "$LOG_FILE" && fail "the password is in the log"
[ "$(audits "action = 'password_set' AND actor = 'admin' AND object_id = 'alice'")" = 1 ] || fail "password_set not audited"
pass "passwords: the policy's refusals name the field; scrypt with parameters and salt; audited, never in clear"
send POST /admin/v1/operators '{"name":"bob","roles":["viewer"],"password":"short"}'
expect_field "an operator made with a short password" password "12 to 256"
[ "$(pq -c "SELECT count(*) FROM operators WHERE name = 'bob'")" = 0 ] || fail "bob made with a refused password"
send POST /admin/v1/operators '{"name":"bob","roles":["viewer"],"password":"a viewer passphrase"}'
expect_code 201 "bob made with a password"
[ "$(json '.name + ":" + (.password_set_at != null | tostring)')" = bob:true ] || fail "bob: $RESP_BODY"
send POST /admin/v1/operators '{"name":"bob","roles":["viewer"],"password":"a viewer passphrase"}'
expect_code 409 "bob made twice"
sign_in bob "a viewer passphrase"
# a hash of other parameters (RFC 7914's vector: ln=14, p=1) still signs
# in, and is stored anew with the current ones
RFC='scrypt$ln=14,r=8,p=1$536f6469756d43686c6f72696465$7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2'
pq -c "UPDATE operators SET password_hash = '$RFC' WHERE name = 'bob'" >/dev/null
sign_in bob pleaseletmein
rehashed() { [ "$(pq -c "SELECT password_hash LIKE 'scrypt\$ln=15,r=8,p=3\$%' FROM operators WHERE name = 'bob'")" = t ]; }
wait_until 5 rehashed || fail "bob's hash is not stored anew: $(pq -c "SELECT password_hash FROM operators WHERE name = 'bob'")"
sign_in bob pleaseletmein
pass "an operator made with a password; a hash of older parameters signs in and is stored anew"
# payroutectl operator password: from standard input, never an argument
OUT=$(printf '%s\n' 'a passphrase from ctl' | PAYROUTE_ADMIN_URL=$BASE PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 60 "$top_builddir/payroutectl" operator password bob 2>"$TEST_DIR/ctl.err") ||
	fail "payroutectl operator password: $(cat "$TEST_DIR/ctl.err")"
[ "$OUT" = "operator bob has a new password: roles viewer, active" ] || fail "payroutectl said: $OUT"
PAYROUTE_ADMIN_URL=$BASE PAYROUTE_ADMIN_TOKEN=$TOKEN timeout 60 "$top_builddir/payroutectl" \
	operator password bob </dev/null >/dev/null 2>"$TEST_DIR/ctl.err" && fail "a password from an empty stdin"
grep -q 'no password on standard input' "$TEST_DIR/ctl.err" || fail "empty stdin: $(cat "$TEST_DIR/ctl.err")"
sign_in bob 'a passphrase from ctl'
pass "payroutectl operator password sets it from standard input"

# ------------------------------------------------------------ sign-in
rm -f "$JAR"
cs POST /admin/v1/session '{"name":"alice","password":"wrong password!!"}'
expect_code 401 "a wrong password"
[ "$(json .error.message)" = "wrong name or password" ] || fail "wrong password: $RESP_BODY"
cs POST /admin/v1/session "{\"name\":\"nobody\",\"password\":\"$PW\"}"
expect_code 401 "no such operator"
[ "$(json .error.message)" = "wrong name or password" ] || fail "no such operator: $RESP_BODY"
cs POST /admin/v1/session '{"name":"alice"}'
expect_field "no password given" password "characters"
[ "$(audits "action = 'auth_failed' AND after->>'reason' = 'wrong password' AND actor = 'alice'")" = 1 ] ||
	fail "a wrong password is not audited"
[ "$(audits "action = 'auth_failed' AND after->>'reason' = 'unknown operator' AND actor = '-'")" = 1 ] ||
	fail "an unknown operator is not audited"
sign_in alice "$PW"
[ "$(json '.name + ":" + (.roles | join(",")) + ":" + .via')" = alice:operator:session ] || fail "sign-in: $RESP_BODY"
[ "$(json .idle_timeout_s)" = 6 ] || fail "idle_timeout_s: $RESP_BODY"
cookie=$(grep -i '^set-cookie:' "$TEST_DIR/hdr" | tr -d '\r')
[[ $cookie =~ ^[Ss]et-[Cc]ookie:\ payroute_session=[0-9a-f]{64}\;\ Path=/\;\ HttpOnly\;\ SameSite=Strict$ ]] ||
	fail "the cookie: $cookie"
secret=$(sed -E 's/.*payroute_session=([0-9a-f]{64}).*/\1/' <<<"$cookie")
[ "$(pq -c "SELECT count(*) FROM operator_sessions WHERE hash = encode(sha256(convert_to('$secret', 'UTF8')), 'hex') AND operator = 'alice' AND via = 'password' AND ended_at IS NULL")" = 1 ] ||
	fail "the session is not stored by its SHA-256"
pq -c "SELECT hash FROM operator_sessions" | grep -q "$secret" && fail "a session secret is stored as it is"
[ "$(audits "action = 'sign_in' AND actor = 'alice' AND after->>'via' = 'password'")" = 1 ] || fail "sign-in not audited"
cs GET /admin/v1/whoami
expect_code 200 "whoami with the cookie"
[ "$(json '.name + ":" + .via + ":" + .csrf_token')" = "alice:session:$CSRF" ] || fail "whoami: $RESP_BODY"
cs GET /admin/v1/refunds/overdue
expect_code 200 "a read with the cookie"
pass "sign-in with a password: HttpOnly, SameSite=Strict cookie of a stored hash; whoami and reads with it; audited"

# ------------------------------------------------------------ CSRF
n0=$(audits "action = 'csrf_refused'")
keep=$CSRF
CSRF=""
cs POST /admin/v1/channels/nosuch/status '{"status":"offline"}'
expect_code 403 "a change without X-CSRF-Token"
[ "$(json .error.code)" = csrf_failed ] || fail "no token: $RESP_BODY"
CSRF=$(printf '%064d' 0)
cs POST /admin/v1/channels/nosuch/status '{"status":"offline"}'
[ "$RESP_CODE:$(json .error.code)" = 403:csrf_failed ] || fail "a wrong X-CSRF-Token: $RESP_CODE $RESP_BODY"
CSRF=$keep
cs POST /admin/v1/channels/nosuch/status '{"status":"offline"}' -H 'Origin: http://evil.example'
[ "$RESP_CODE:$(json .error.code)" = 403:csrf_failed ] || fail "another Origin: $RESP_CODE $RESP_BODY"
cs POST /admin/v1/channels/nosuch/status '{"status":"offline"}' -H 'Sec-Fetch-Site: cross-site'
[ "$RESP_CODE:$(json .error.code)" = 403:csrf_failed ] || fail "Sec-Fetch-Site cross-site: $RESP_CODE $RESP_BODY"
cs GET /admin/v1/whoami
expect_code 200 "the session after refused changes"
[ "$(audits "action = 'csrf_refused'")" = $((n0 + 4)) ] || fail "CSRF refusals audited: $(audits "action = 'csrf_refused'") (was $n0)"
[ "$(audits "action = 'csrf_refused' AND actor = 'alice' AND object_id = 'POST /admin/v1/channels/nosuch/status'")" = 4 ] ||
	fail "a CSRF refusal's audit row"
wait_log 'refused POST /admin/v1/channels/nosuch/status from 127.0.0.1 \(operator alice\): no X-CSRF-Token header' 5 ||
	fail "a CSRF refusal is not logged"
# with the token and this origin it goes on to the handler
cs POST /admin/v1/channels/nosuch/status '{"status":"offline"}' -H "Origin: $BASE" -H 'Sec-Fetch-Site: same-origin'
expect_code 404 "a change with the CSRF token (no such channel)"
# and to the permission check: an operator may not reload
cs POST /admin/v1/reload ""
[ "$RESP_CODE:$(json .error.code)" = 403:forbidden ] || fail "reload as operator: $RESP_CODE $RESP_BODY"
# a bearer token needs no CSRF token
send POST /admin/v1/channels/nosuch/status '{"status":"offline"}' -H 'Origin: http://evil.example'
expect_code 404 "a bearer token's change"
# a sign-in from another origin (login CSRF)
http POST "$BASE/admin/v1/session" -H 'Content-Type: application/json' -H 'Origin: http://evil.example' \
	--data-binary "{\"name\":\"alice\",\"password\":\"$PW\"}"
[ "$RESP_CODE:$(json .error.code)" = 403:csrf_failed ] || fail "a sign-in from another origin: $RESP_CODE $RESP_BODY"
pass "CSRF: no token, a wrong one, another Origin or Sec-Fetch-Site: 403 csrf_failed, logged and audited; bearer tokens need none"

# ------------------------------------------------------------ sign-out
cs DELETE /admin/v1/session
expect_code 200 "sign out"
grep -qi '^set-cookie: payroute_session=;.*Max-Age=0' "$TEST_DIR/hdr" || fail "sign-out does not clear the cookie"
[ "$(audits "action = 'sign_out' AND actor = 'alice'")" = 1 ] || fail "sign-out not audited"
http GET "$BASE/admin/v1/whoami" -H "Cookie: payroute_session=$secret"
[ "$RESP_CODE:$(json .error.code)" = 401:session_expired ] || fail "whoami after sign-out: $RESP_CODE $RESP_BODY"
send DELETE /admin/v1/session
expect_code 400 "signing out a bearer token"
pass "sign-out ends the session (audited); its cookie is refused after"

# ------------------------------------------------------------ time-outs
sign_in alice "$PW"
sleep 7
cs GET /admin/v1/whoami
[ "$RESP_CODE:$(json .error.code)" = 401:session_expired ] || fail "after 7 s idle: $RESP_CODE $RESP_BODY"
json .error.message | grep -q 'idle' || fail "idle: $RESP_BODY"
[ "$(audits "action = 'session_end' AND actor = 'alice' AND after->>'why' = 'idle'")" = 1 ] || fail "idle end not audited"
t0=$(date +%s)
sign_in alice "$PW"
for i in $(seq 14); do
	sleep 1.5
	cs GET /admin/v1/whoami
	[ "$RESP_CODE" = 200 ] || break
done
[ "$RESP_CODE:$(json .error.code)" = 401:session_expired ] || fail "a session kept busy for 21 s: $RESP_CODE $RESP_BODY"
json .error.message | grep -q 'longest' || fail "absolute: $RESP_BODY"
[ $(($(date +%s) - t0)) -ge 15 ] || fail "the session ended after $(($(date +%s) - t0)) s, before its 15 s"
[ "$(audits "action = 'session_end' AND after->>'why' = 'absolute'")" = 1 ] || fail "absolute end not audited"
pass "time-outs: idle (6 s) and absolute (15 s, though kept busy) end the session, audited"

# ------------------------------------------------------------ tokens, own password
send POST /admin/v1/operators/alice/tokens '{"label":"t_sessions"}'
expect_code 201 "a token for alice"
ALICE_TOKEN=$(json .token)
rm -f "$JAR"
CSRF=""
cs POST /admin/v1/session "{\"token\":\"$ALICE_TOKEN\"}"
expect_code 200 "sign-in with a token"
CSRF=$(json .csrf_token)
[ "$(pq -c "SELECT count(*) FROM operator_sessions WHERE operator = 'alice' AND via = 'token' AND ended_at IS NULL")" = 1 ] ||
	fail "no token session"
[ "$(json .via)" = session ] || fail "a token's sign-in: $RESP_BODY"
cp "$JAR" "$TEST_DIR/jar-token"
# a session of a token ends when the token is revoked
send POST /admin/v1/operators/alice/tokens '{"label":"t_sessions, revoked"}'
expect_code 201 "a second token for alice"
tok2=$(json .token)
tid2=$(json .id)
rm -f "$JAR"
cs POST /admin/v1/session "{\"token\":\"$tok2\"}"
expect_code 200 "sign-in with the second token"
send DELETE "/admin/v1/operators/alice/tokens/$tid2"
expect_code 200 "revoke the second token"
cs GET /admin/v1/whoami
[ "$RESP_CODE:$(json .error.code)" = 401:session_expired ] || fail "the session of a revoked token: $RESP_CODE $RESP_BODY"
json .error.message | grep -q 'revoked or expired' || fail "revoked token's session: $RESP_BODY"
[ "$(audits "action = 'session_end' AND actor = 'alice' AND after->>'why' = 'token'")" = 1 ] || fail "its end is not audited"
sign_in alice "$PW"
cs POST /admin/v1/whoami/password "{\"old_password\":\"not it at all\",\"password\":\"a brand new passphrase\"}"
expect_field "a wrong old password" old_password "current"
cs POST /admin/v1/whoami/password "{\"old_password\":\"$PW\",\"password\":\"alice again and again\"}"
expect_field "a new password with the name" password "name"
cs POST /admin/v1/whoami/password "{\"old_password\":\"$PW\",\"password\":\"a brand new passphrase\"}"
expect_code 200 "alice changes her password"
cs GET /admin/v1/whoami
expect_code 200 "the session that changed the password stays"
JAR=$TEST_DIR/jar-token cs GET /admin/v1/whoami
[ "$RESP_CODE" = 401 ] || fail "the token session after the change: $RESP_CODE $RESP_BODY"
[ "$(audits "action = 'password_set' AND actor = 'alice' AND (after->>'sessions_ended')::int = 1")" = 1 ] ||
	fail "the change is not audited"
pass "sign-in with a token (its session ends with the token); an operator changes its password with the old one, the other sessions end"

# ------------------------------------------------------------ lockout
rm -f "$JAR"
CSRF=""
for i in 1 2 3; do
	cs POST /admin/v1/session '{"name":"alice","password":"guess guess guess"}'
	expect_code 401 "wrong password $i"
done
cs POST /admin/v1/session '{"name":"alice","password":"a brand new passphrase"}'
[ "$RESP_CODE:$(json .error.code)" = 429:locked_out ] || fail "the right password once locked: $RESP_CODE $RESP_BODY"
grep -qi '^retry-after:' "$TEST_DIR/hdr" || fail "no Retry-After"
[ "$(pq -c "SELECT locked_until > now() FROM operators WHERE name = 'alice'")" = t ] || fail "alice is not locked"
[ "$(audits "action = 'auth_failed' AND actor = 'alice' AND after->>'locked_until' IS NOT NULL")" = 1 ] ||
	fail "the lock is not audited"
wait_log 'operator alice locked until' 5 || fail "the lock is not logged"
sleep 3.5
sign_in alice 'a brand new passphrase'
pass "lockout: 3 wrong passwords lock alice (429 with the right one, audited); it ends"
# the address: every failure above counted; a few more lock it
for i in $(seq 20); do
	cs POST /admin/v1/session '{"name":"nobody","password":"guess guess guess"}'
	[ "$RESP_CODE" = 429 ] && break
done
[ "$RESP_CODE:$(json .error.code)" = 429:locked_out ] || fail "the address is never locked: $RESP_CODE $RESP_BODY"
json .error.message | grep -q address || fail "address lock: $RESP_BODY"
wait_log 'address 127.0.0.1 locked' 5 || fail "the address lock is not logged"
sleep 3.5
pass "lockout: failed sign-ins lock the address"

# ------------------------------------------------------------ Secure
ADMIN_EXTRA="$ADMIN_EXTRA"$',\n\t\t"cookie_secure": true'
write_conf
send POST /admin/v1/reload
expect_code 200 "reload with admin.cookie_secure"
sign_in alice 'a brand new passphrase'
grep -i '^set-cookie:' "$TEST_DIR/hdr" | grep -q '; Secure' || fail "no Secure: $(grep -i set-cookie "$TEST_DIR/hdr")"
pass "admin.cookie_secure: the cookie is Secure"

# ------------------------------------------------------------ the shared token
# admin.token is the bootstrap admin's token: it signs in as "admin"; with
# admin.legacy_token on it is the shared token, no operator: refused
rm -f "$JAR"
CSRF=""
cs POST /admin/v1/session "{\"token\":\"$TOKEN\"}"
expect_code 200 "sign-in with the bootstrap token"
[ "$(json .name)" = admin ] || fail "bootstrap token sign-in: $RESP_BODY"
ADMIN_EXTRA="$ADMIN_EXTRA"$',\n\t\t"legacy_token": true'
write_conf
send POST /admin/v1/reload
expect_code 200 "reload with admin.legacy_token"
rm -f "$JAR"
cs POST /admin/v1/session "{\"token\":\"$TOKEN\"}"
expect_field "sign-in with the shared token" token "cannot sign in"
pass "the shared admin.token (legacy_token) cannot make a session; the bootstrap admin's token can"
exit 0
