#!/usr/bin/env bash
# t_roles.sh - operators, roles and permissions on the admin API
# (doc/design.md §11) against a real PostgreSQL and payrouted:
#   - bootstrap: the store's first operator is "admin", whose token is
#     admin.token, made once (audited, logged);
#   - every operation of doc/openapi/admin.json, with every role: refused
#     with 403 (and audited as "denied") exactly when the role lacks the
#     operation's permission (x-permission, kept equal to the route table by
#     tests/static/t_openapi_routes.sh); anything but 401/403 otherwise;
#   - a token that expires, a revoked token, a disabled operator: 401
#     saying which; the last active admin cannot be disabled;
#   - lockout: wrong secrets lock the operator (429 even with the right
#     token, audited), enabling it lifts it; failures from one address lock
#     the address; both end after admin.lockout_duration_s;
#   - admin.legacy_token: the old shared token works as "(admin.token)",
#     with a warning; without it a token not in the store is refused.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance roles
install_drivers "$DRIVER_DIR" good
ADMIN_EXTRA=$',\n\t\t"lockout_failures": 3, "lockout_address_failures": 12,\n\t\t"lockout_window_s": 600, "lockout_duration_s": 4'
write_conf
daemon_start
wait_ready
ADMIN_TOKEN=$TOKEN

# as NAME METHOD PATH [BODY]: send with operator NAME's token.
declare -A TOK
as() {
	local keep=$TOKEN

	TOKEN=${TOK[$1]}
	send "$2" "$3" "${4-}"
	TOKEN=$keep
}
TOK[admin]=$ADMIN_TOKEN

# ------------------------------------------------------------ bootstrap
[ "$(pq -c "SELECT name || ':' || array_to_string(roles, ',') || ':' || state || ':' || created_by FROM operators")" = admin:admin:active:payrouted ] ||
	fail "bootstrap: operators are $(pq -c "SELECT * FROM operators")"
[ "$(pq -c "SELECT count(*) FROM operator_tokens WHERE operator = 'admin' AND label = 'bootstrap' AND hash = encode(sha256(convert_to('$ADMIN_TOKEN', 'UTF8')), 'hex')")" = 1 ] ||
	fail "bootstrap: admin.token is not the admin's token (by its SHA-256)"
pq -c "SELECT hash FROM operator_tokens" | grep -q "$ADMIN_TOKEN" && fail "a token is stored as it is"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'bootstrap' AND object_id = 'admin'")" = 1 ] ||
	fail "bootstrap not audited"
wait_log 'made the first, "admin"' 5 || fail "bootstrap not logged"
send GET /admin/v1/whoami
expect_code 200 "whoami as the bootstrap admin"
[ "$(json '.name + ":" + (.roles | join(",")) + ":" + .via')" = admin:admin:token ] || fail "whoami: $RESP_BODY"
# a restart makes nothing more
daemon_stop
daemon_start
wait_ready
[ "$(pq -c "SELECT count(*) FROM operators"):$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'bootstrap'")" = 1:1 ] ||
	fail "a restart made another first admin"
pass "bootstrap: 'admin' with admin.token (stored as its SHA-256), once, audited"

# ------------------------------------------------------------ operators
for spec in viewer:viewer op:operator boss:admin; do
	name=${spec%%:*}
	send POST /admin/v1/operators "{\"name\":\"$name\",\"roles\":[\"${spec#*:}\"]}"
	expect_code 201 "create $name"
	send POST "/admin/v1/operators/$name/tokens" '{"label":"t_roles"}'
	expect_code 201 "a token for $name"
	TOK[$name]=$(json .token)
	[[ ${TOK[$name]} =~ ^pro_[0-9]+_[0-9a-f]{64}$ ]] || fail "token of $name: ${TOK[$name]}"
done
send GET /admin/v1/operators/viewer/tokens
[ "$(json '.tokens[0].label + ":" + .tokens[0].state')" = t_roles:active ] || fail "tokens: $RESP_BODY"
grep <<<"$RESP_BODY" -q "${TOK[viewer]#pro_*_}" && fail "the token list shows the secret"
send POST /admin/v1/operators '{"name":"viewer","roles":["viewer"]}'
expect_code 409 "an operator made twice"
send POST /admin/v1/operators '{"name":"Bad Name","roles":["viewer"]}'
expect_code 400 "a bad name"
[ "$(json .error.field)" = name ] || fail "bad name: $RESP_BODY"
send POST /admin/v1/operators '{"name":"x","roles":["viewer","viewer"]}'
expect_code 400 "a role twice"
send POST /admin/v1/operators '{"name":"x","roles":[]}'
expect_code 400 "no role"
pass "operators made with tokens (shown once, never listed); 409 twice, 400 bad name or roles"

# ---------------------------------------- every operation, every role
# The operations of the admin document with their permission; path
# parameters get values no object has, writes an empty object: the
# answer is then 403 when the role may not, else whatever the handler
# says of such a request (400, 404, 409...), never 401 or 403.
ops=$(jq -r '.paths | to_entries[] | select(.key | startswith("/admin/v1/")) |
	.key as $p | .value | to_entries[] | select(.value | type == "object" and has("x-permission")) |
	"\(.key) \($p) \(.value["x-permission"])"' "$top_srcdir/doc/openapi/admin.json")
nops=$(wc -l <<<"$ops")
[ "$nops" -ge 60 ] || fail "only $nops operations with a permission in admin.json"
denied0=$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'denied'")
declare -A refused allowed
for who in viewer op boss; do
	TOKEN=${TOK[$who]}
	send GET /admin/v1/whoami
	TOKEN=$ADMIN_TOKEN
	perms=" $(json '.permissions | join(" ")') "
	refused[$who]=0
	allowed[$who]=0
	while read -r method path perm; do
		p=$(sed -E 's/\{code\}/no_such_chan/g; s/\{name\}/no-such-op/g; s/\{id\}/999999999/g; s/\{[a-z_]+\}/nosuch/g' <<<"$path")
		M=${method^^}
		case $M in GET | DELETE) body="" ;; *) body='{}' ;; esac
		as "$who" "$M" "$p" "$body"
		if [[ $perms == *" $perm "* ]]; then
			case $RESP_CODE in
			401 | 403 | 000) fail "$who ($perms) $M $path ($perm): $RESP_CODE: $RESP_BODY" ;;
			esac
			allowed[$who]=$((allowed[$who] + 1))
		else
			[ "$RESP_CODE" = 403 ] && [ "$(json .error.code)" = forbidden ] ||
				fail "$who ($perms) $M $path needs $perm: want 403, got $RESP_CODE: $RESP_BODY"
			[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'denied' AND actor = '$who' AND object_id = '$M $p' AND after->>'permission' = '$perm'")" -ge 1 ] ||
				fail "$who: the refusal of $M $p is not audited"
			refused[$who]=$((refused[$who] + 1))
		fi
	done <<<"$ops"
	say "$who: $((allowed[$who])) allowed, $((refused[$who])) refused of $nops"
done
[ "${refused[boss]}" = 0 ] || fail "an admin was refused something"
[ "${refused[viewer]}" -gt "${refused[op]}" ] && [ "${refused[op]}" -gt 0 ] ||
	fail "viewer refused ${refused[viewer]}, operator ${refused[op]}: the roles are not ordered"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'denied'")" = $((denied0 + refused[viewer] + refused[op])) ] ||
	fail "denied rows: not one per refusal"
wait_log "refused POST /admin/v1/operators to operator viewer from 127.0.0.1: needs the permission operators" 5 ||
	fail "a refusal is not logged"
pass "$nops operations x 3 roles: viewer refused ${refused[viewer]}, operator ${refused[op]}, admin 0; each refusal 403, logged and audited"

# a refusal changes nothing: an operator cannot give itself a role
as op PATCH /admin/v1/operators/op '{"roles":["admin"]}'
expect_code 403 "an operator making itself admin"
[ "$(pq -c "SELECT array_to_string(roles, ',') FROM operators WHERE name = 'op'")" = operator ] || fail "op's roles changed"
# what an operator may do, it does, under its own name
as op POST /admin/v1/reconciliation/runs '{"channel":"nosuch","day":"2026-01-01"}'
expect_code 404 "an operator's reconciliation run of no channel"
pass "refused changes write nothing"

# ------------------------------------------- expiry, revocation, state
exp=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
send POST /admin/v1/operators/viewer/tokens "{\"label\":\"short\",\"expires_at\":\"$exp\"}"
expect_code 201 "a token that expires in 3 s"
[ "$(json .state)" = active ] || fail "short token: $RESP_BODY"
TOK[short]=$(json .token)
as short GET /admin/v1/whoami
expect_code 200 "the short token before it expires"
send POST /admin/v1/operators/viewer/tokens '{"label":"past","expires_at":"2001-01-01T00:00:00Z"}'
expect_code 400 "a token that expired before it was made"
send POST /admin/v1/operators/viewer/tokens '{"label":"bad","expires_at":"tomorrow"}'
expect_code 400 "expires_at not a time"
sleep 4
as short GET /admin/v1/whoami
expect_code 401 "an expired token"
[ "$(json .error.message)" = "token expired" ] || fail "expired: $RESP_BODY"
send GET /admin/v1/operators/viewer/tokens
[ "$(json '[.tokens[] | select(.label == "short") | .state] | join(",")')" = expired ] || fail "tokens: $RESP_BODY"

send POST /admin/v1/operators/viewer/tokens '{"label":"to revoke"}'
TOK[rev]=$(json .token)
rid=$(json .id)
as rev GET /admin/v1/whoami
expect_code 200 "a token before it is revoked"
as viewer DELETE "/admin/v1/operators/viewer/tokens/$rid"
expect_code 403 "a viewer revoking a token"
send DELETE "/admin/v1/operators/viewer/tokens/$rid"
expect_code 200 "revoke"
[ "$(json .state):$(json .revoked_by)" = revoked:admin ] || fail "revoke: $RESP_BODY"
send DELETE "/admin/v1/operators/viewer/tokens/$rid"
expect_code 404 "revoke twice"
send DELETE "/admin/v1/operators/op/tokens/$rid"
expect_code 404 "revoke another operator's token"
as rev GET /admin/v1/whoami
expect_code 401 "a revoked token"
[ "$(json .error.message)" = "token revoked" ] || fail "revoked: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'token_revoke' AND actor = 'admin' AND object_id = 'viewer'")" = 1 ] ||
	fail "revocation not audited"

send PATCH /admin/v1/operators/op '{"state":"disabled"}'
expect_code 200 "disable op"
as op GET /admin/v1/whoami
expect_code 401 "a disabled operator"
[ "$(json .error.message)" = "operator disabled" ] || fail "disabled: $RESP_BODY"
send PATCH /admin/v1/operators/op '{"state":"active"}'
expect_code 200 "enable op"
as op GET /admin/v1/whoami
expect_code 200 "op enabled again"
send PATCH /admin/v1/operators/boss '{"state":"disabled"}'
expect_code 200 "disable boss (admin stays)"
send PATCH /admin/v1/operators/admin '{"roles":["viewer"]}'
expect_code 400 "the last active admin losing the role"
send PATCH /admin/v1/operators/admin '{"state":"disabled"}'
expect_code 400 "the last active admin disabled"
[ "$(pq -c "SELECT state || ':' || array_to_string(roles, ',') FROM operators WHERE name = 'admin'")" = active:admin ] ||
	fail "the last admin was changed"
send PATCH /admin/v1/operators/boss '{"state":"active"}'
expect_code 200 "enable boss"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'update' AND object_kind = 'operator' AND actor = 'admin'")" = 4 ] ||
	fail "operator updates not audited: $(pq -c "SELECT count(*) FROM audit_log WHERE action = 'update' AND object_kind = 'operator'")"
pass "expiry (401 'token expired'), revocation (401 'token revoked', audited), disabled operator (401), the last admin kept"

# -------------------------------------------------------------- lockout
# three wrong secrets of viewer's token lock viewer (admin.lockout_failures 3)
vid=${TOK[viewer]#pro_}
vid=${vid%%_*}
wrong=pro_${vid}_$(printf '%064d' 0)
fails0=$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'auth_failed' AND actor = 'viewer'")
for i in 1 2 3; do
	http GET "http://127.0.0.1:$ADMIN_PORT/admin/v1/whoami" -H "Authorization: Bearer $wrong"
	expect_code 401 "wrong secret $i"
done
[ "$(pq -c "SELECT locked_until > now() FROM operators WHERE name = 'viewer'")" = t ] || fail "viewer not locked after 3 failures"
as viewer GET /admin/v1/whoami
expect_code 429 "the right token of a locked operator"
[ "$(json .error.code)" = locked_out ] || fail "locked: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'auth_failed' AND actor = 'viewer'")" = $((fails0 + 4)) ] ||
	fail "the failures are not audited one by one"
[ "$(pq -c "SELECT after->>'address' FROM audit_log WHERE action = 'auth_failed' AND actor = 'viewer' ORDER BY id DESC LIMIT 1")" = 127.0.0.1 ] ||
	fail "a failure's audit row lacks the address"
wait_log "operator viewer locked until" 5 || fail "the lockout is not logged"
send GET /admin/v1/operators/viewer
[ -n "$(json .locked_until)" ] && [ "$(json .locked_until)" != null ] || fail "the operator does not show its lockout: $RESP_BODY"
send PATCH /admin/v1/operators/viewer '{"state":"active"}'
expect_code 200 "enable viewer: lifts the lockout"
as viewer GET /admin/v1/whoami
expect_code 200 "viewer after the lockout was lifted"
pass "3 wrong secrets lock the operator (429 even with its token; audited with the address, logged); enabling lifts it"

# failures from one address (12 in the window, the ones above included)
# lock the address: even the admin's token is refused until it ends
n=0
while [ $n -lt 20 ]; do
	http GET "http://127.0.0.1:$ADMIN_PORT/admin/v1/whoami" -H "Authorization: Bearer nosuch-token-$n"
	n=$((n + 1))
	[ "$RESP_CODE" = 401 ] || break
done
[ "$n" -lt 12 ] || fail "no address lockout after $n more failures"
send GET /admin/v1/whoami
expect_code 429 "the admin from a locked address"
wait_log "address 127.0.0.1 locked for 4 s" 5 || fail "the address lockout is not logged"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'auth_failed' AND actor = '-' AND after->>'reason' = 'unknown token'")" -ge 1 ] ||
	fail "unknown tokens are not audited"
sleep 5
send GET /admin/v1/whoami
expect_code 200 "the admin once the address lockout ended"
http GET "http://127.0.0.1:$ADMIN_PORT/admin/v1/whoami"
expect_code 401 "no credential at all"
http_get "http://127.0.0.1:$ADMIN_PORT/metrics"
for m in 'payroute_admin_auth_total{result="failed"}' 'payroute_admin_auth_total{result="locked"}' payroute_admin_auth_total'{result="ok"}'; do
	v=$(awk -v k="$m" '$1 == k {print $2}' <<<"$RESP_BODY")
	[ "${v:-0}" -ge 1 ] || fail "metric $m: '${v:-}'"
done
# the refusals since the last restart: the walk's and the ones after it
v=$(awk '$1 == "payroute_admin_denied_total" {print $2}' <<<"$RESP_BODY")
[ "${v:-0}" -ge $((refused[viewer] + refused[op])) ] || fail "payroute_admin_denied_total: '${v:-}'"
pass "the address locked after $n more failures (429 for every token), logged, audited; lifted after admin.lockout_duration_s"

# ---------------------------------------------------------- legacy token
# A second instance on the same store with another admin.token: not in the
# store (the first admin exists), refused; with admin.legacy_token it is
# the old shared token, warned about.
save_instance
new_instance legacy
install_drivers "$DRIVER_DIR" good
LEGACY=legacy-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
TOK[legacy]=$LEGACY
TOKEN=$LEGACY
write_conf
TOKEN=$ADMIN_TOKEN # wait_ready reads the generation with it
daemon_start
wait_ready
as legacy GET /admin/v1/whoami
expect_code 401 "another admin.token once operators exist"
daemon_stop
ADMIN_EXTRA=$',\n\t\t"legacy_token": true'
TOKEN=$LEGACY
write_conf
TOKEN=$ADMIN_TOKEN
daemon_start
wait_ready
wait_log "admin.legacy_token is on" 5 || fail "no warning about admin.legacy_token"
TOKEN=$LEGACY
send GET /admin/v1/whoami
expect_code 200 "the legacy token"
[ "$(json '.name + ":" + (.roles | join(",")) + ":" + .via')" = "(admin.token):admin:legacy_token" ] || fail "legacy whoami: $RESP_BODY"
send POST /admin/v1/channels/nosuch/status '{"status":"offline"}' -H 'X-Payroute-Actor: mallory'
expect_code 404 "a change with the legacy token"
TOKEN=${TOK[viewer]}
send GET /admin/v1/whoami
expect_code 200 "an operator's token on the legacy instance"
[ "$(json .name)" = viewer ] || fail "whoami: $RESP_BODY"
daemon_stop
use roles
daemon_stop
pass "admin.legacy_token: the shared token as (admin.token), warned; off: refused"
exit 0
