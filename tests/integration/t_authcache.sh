#!/usr/bin/env bash
# t_authcache.sh - the admin token cache (doc/design.md §11, "The
# authentication cache") with two payrouted instances, A and B, on one
# PostgreSQL. admin.auth_cache_ms is 60 s, so that the time-to-live cannot
# be what makes B see a change: a change made through A (or by hand in
# the store) must be refused by B within BOUND seconds, polled, through
# the store's NOTIFY alone:
#   - B answers a token it verified from its cache (the hit counter of
#     /metrics moves);
#   - revocation, disable, role change, a lockout made on A; an operator
#     disabled by an UPDATE in psql; a token's expiry (no notification:
#     the entry's own expiry);
#   - a wrong secret for a token B holds is refused (401) and counted on
#     the operator in the store, audited;
#   - the LISTEN connection of B killed: B empties its cache when it is
#     back (logged, flush counter);
#   - a cached token's last_used_at is still written.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

BOUND=5 # seconds B may take to see a change made elsewhere
CACHE=$',\n\t\t"auth_cache_ms": 60000, "lockout_failures": 3, "lockout_address_failures": 100'

instance_setup() { ADMIN_EXTRA=$CACHE; }
start_instance a good
start_instance b good
use a

# on INSTANCE NAME METHOD PATH [BODY]: a request to INSTANCE with operator
# NAME's token.
declare -A TOK TID
on() {
	local keep=$TOKEN keep_i=$I_NAME

	use "$1"
	TOKEN=${TOK[$2]}
	send "$3" "$4" "${5-}"
	use "$keep_i"
	TOKEN=$keep
}
TOK[admin]=$TOKEN

# hits INSTANCE: the token cache's hits on INSTANCE.
hits() {
	local keep_i=$I_NAME v

	use "$1"
	v=$(metric 'payroute_admin_auth_cache_total{result="hit"}')
	use "$keep_i"
	echo "${v:-0}"
}

# failed_auth_is NAME N: the store counts N failures on operator NAME.
failed_auth_is() {
	[ "$(pq -c "SELECT failed_auth FROM operators WHERE name = '$1'")" = "$2" ]
}

# refused_on INSTANCE NAME CODE MESSAGE: INSTANCE answers NAME's whoami
# with CODE and MESSAGE (the poll of wait_until).
refused_on() {
	on "$1" "$2" GET /admin/v1/whoami
	[ "$RESP_CODE" = "$3" ] && [ "$(json .error.message)" = "$4" ]
}

# locked_on INSTANCE NAME: INSTANCE answers NAME's whoami 429.
locked_on() {
	on "$1" "$2" GET /admin/v1/whoami
	[ "$RESP_CODE" = 429 ]
}

# roles_on INSTANCE NAME ROLES: whoami's roles on INSTANCE are ROLES.
roles_on() {
	on "$1" "$2" GET /admin/v1/whoami
	[ "$RESP_CODE" = 200 ] && [ "$(json '.roles | join(",")')" = "$3" ]
}

for spec in alice:operator carol:operator dave:operator erin:viewer; do
	name=${spec%%:*}
	send POST /admin/v1/operators "{\"name\":\"$name\",\"roles\":[\"${spec#*:}\"]}"
	expect_code 201 "create $name"
	send POST "/admin/v1/operators/$name/tokens" '{"label":"t_authcache"}'
	expect_code 201 "a token for $name"
	TOK[$name]=$(json .token)
	TID[$name]=$(json .id)
done

# ------------------------------------------------------------ a hit
on b alice GET /admin/v1/whoami
expect_code 200 "alice on B (the store verifies, B keeps it)"
h0=$(hits b)
for i in 1 2 3 4 5; do
	on b alice GET /admin/v1/whoami
	expect_code 200 "alice on B, from the cache"
done
[ "$(json .name)" = alice ] || fail "whoami from the cache: $RESP_BODY"
h1=$(hits b)
[ "$h1" -ge $((h0 + 5)) ] || fail "B's cache hits went from $h0 to $h1 over 5 requests"
pass "B answers a token it verified from memory ($((h1 - h0)) hits)"

# ------------------------------------------------ a change made on A
on b alice GET /admin/v1/operators
expect_code 200 "alice (operator) reads operators on B"
send PATCH /admin/v1/operators/alice '{"roles":["viewer"]}'
expect_code 200 "alice becomes a viewer (on A)"
wait_until $BOUND roles_on b alice viewer || fail "B still sees alice's old roles after ${BOUND}s: $RESP_BODY"
on b alice POST /admin/v1/channels/nosuch/status '{"status":"offline"}'
expect_code 403 "alice, now a viewer, operating a channel on B"
pass "a role change on A holds on B within ${BOUND}s"

on b carol GET /admin/v1/whoami
on b carol GET /admin/v1/whoami
expect_code 200 "carol on B"
send DELETE "/admin/v1/operators/carol/tokens/${TID[carol]}"
expect_code 200 "carol's token revoked (on A)"
wait_until $BOUND refused_on b carol 401 "token revoked" ||
	fail "B still takes carol's revoked token after ${BOUND}s: $RESP_CODE $RESP_BODY"
on a carol GET /admin/v1/whoami
expect_code 401 "carol's revoked token on A at once"
pass "a revocation on A holds on B within ${BOUND}s, on A at once"

on b dave GET /admin/v1/whoami
on b dave GET /admin/v1/whoami
expect_code 200 "dave on B"
send PATCH /admin/v1/operators/dave '{"state":"disabled"}'
expect_code 200 "dave disabled (on A)"
wait_until $BOUND refused_on b dave 401 "operator disabled" ||
	fail "B still takes disabled dave after ${BOUND}s: $RESP_CODE $RESP_BODY"
send PATCH /admin/v1/operators/dave '{"state":"active"}'
expect_code 200 "dave enabled again"
wait_until $BOUND roles_on b dave operator || fail "B refuses dave enabled again: $RESP_BODY"
pass "disabling on A holds on B within ${BOUND}s; enabling too"

# ------------------------------------------------ a change by hand
on b erin GET /admin/v1/whoami
on b erin GET /admin/v1/whoami
expect_code 200 "erin on B"
pq -c "UPDATE operators SET state = 'disabled' WHERE name = 'erin'" >/dev/null
wait_until $BOUND refused_on b erin 401 "operator disabled" ||
	fail "B still takes erin, disabled in psql, after ${BOUND}s"
pq -c "UPDATE operators SET state = 'active' WHERE name = 'erin'" >/dev/null
wait_until $BOUND roles_on b erin viewer || fail "B refuses erin enabled again in psql"
pass "an operator disabled by hand in the store is refused on B within ${BOUND}s (the trigger's NOTIFY)"

# ------------------------------------------------ wrong secret, lockout
on b dave GET /admin/v1/whoami
on b dave GET /admin/v1/whoami
expect_code 200 "dave on B, cached"
TOK[dave_bad]=pro_${TID[dave]}_$(printf '%064d' 0)
on b dave_bad GET /admin/v1/whoami
expect_code 401 "a wrong secret for dave's cached token on B"
[ "$(pq -c "SELECT failed_auth FROM operators WHERE name = 'dave'")" = 1 ] ||
	fail "the wrong secret was not counted on dave: $(pq -c "SELECT failed_auth FROM operators WHERE name = 'dave'")"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'auth_failed' AND object_id = 'dave' AND note = 'wrong token secret'")" = 1 ] ||
	fail "the wrong secret was not audited"
on b dave GET /admin/v1/whoami
expect_code 200 "dave's right token on B after a wrong one"
wait_until $BOUND failed_auth_is dave 0 ||
	fail "dave's right token did not reset the count"
# lock dave on A: B must answer 429 for the right, cached token
on b dave GET /admin/v1/whoami
expect_code 200 "dave cached on B again"
for i in 1 2 3; do
	on a dave_bad GET /admin/v1/whoami
done
[ -n "$(pq -c "SELECT locked_until FROM operators WHERE name = 'dave' AND locked_until > now()")" ] ||
	fail "dave not locked after 3 wrong secrets: $RESP_CODE $RESP_BODY"
on a dave GET /admin/v1/whoami
expect_code 429 "dave's right token on A once locked (the instance that locked it, at once)"
wait_until $BOUND locked_on b dave ||
	fail "B takes locked dave's cached token after ${BOUND}s"
pass "a wrong secret for a cached token is refused and counted; a lockout on A holds on B within ${BOUND}s"

# ------------------------------------------------ expiry
exp=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
send POST /admin/v1/operators/erin/tokens "{\"label\":\"short\",\"expires_at\":\"$exp\"}"
expect_code 201 "erin's short token"
TOK[short]=$(json .token)
on b short GET /admin/v1/whoami
on b short GET /admin/v1/whoami
expect_code 200 "the short token on B, cached"
wait_until 10 refused_on b short 401 "token expired" ||
	fail "B takes the expired token: $RESP_CODE $RESP_BODY"
pass "a cached token expires on B at its own time"

# ------------------------------------------------ last_used_at
[ "$(pq -c "SELECT last_used_at IS NOT NULL FROM operator_tokens WHERE id = ${TID[alice]}")" = t ] ||
	fail "alice's token has no last_used_at"
pass "a token's use is written (last_used_at)"

# ------------------------------------------------ LISTEN connection
use b
f0=$(metric payroute_admin_auth_cache_flushes_total)
n0=$(log_count 'token cache emptied: listening for operator changes')
# the LISTEN connections (A's and B's: a LISTEN is all they ever ran)
[ "$(pq -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()")" -ge 1 ] ||
	fail "no LISTEN connection to end"
wait_until 20 log_grew 'token cache emptied: listening for operator changes' "$n0" ||
	fail "B did not empty its token cache when its LISTEN connection came back"
f1=$(metric payroute_admin_auth_cache_flushes_total)
[ "${f1:-0}" -gt "${f0:-0}" ] || fail "flushes: $f0 -> $f1"
on b alice GET /admin/v1/whoami
expect_code 200 "alice on B after the flush (from the store)"
pass "B empties its token cache when its LISTEN connection is back"

use b
daemon_stop
use a
daemon_stop
exit 0
