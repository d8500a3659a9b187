#!/usr/bin/env bash
# t_ctl.sh - payroutectl(1) against two real payrouted instances on one
# PostgreSQL, and the whole-policy export/import behind it
# (GET/PUT /admin/v1/policy).
#
# Usage errors exit 2 without contacting anything; --help works for every
# command. Every command runs against instance a: status, drivers, reload,
# operators (add, list, token, tokens, revoke, disable, enable; whoami;
# 403 without the permission), channels, channel show/enable/disable
# (audited with the token's operator, seen by b through NOTIFY), explain (key=value, a file, standard
# input; the chosen channel and the candidates' table), export (-o FILE:
# mode 0600, secrets masked, cards by hint), import. Server errors exit 1
# as "payroutectl: WHAT: STATUS CODE: MESSAGE". An export imported back is
# a no-op (the dry run says nothing would change, nothing is written);
# masked secrets survive a round trip (in the store, and a WeChat payment
# and refund still work after it); an import with one bad channel writes
# nothing and names the field; an import removes what the document lacks
# (channel, its whitelist entry and override) and adds what it has; b
# picks every import up through NOTIFY. The overdue queue: overdue lists
# it, refund resend and refund resolve act on it (audited). Merchants:
# add (its credentials once, on standard output), the list in pages,
# show, set, disable and enable, key and secret rotation, audited. An
# order by its id (its state, history, check), the attention queue,
# notifications, the audit log, the breakers, the unmapped result codes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3 stat
CTL=$top_builddir/payroutectl
[ -x "$CTL" ] || fail "$CTL is not built"
pg_start
sim_start

# ---- instances: save_instance and use (lib.sh) switch between them

od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$TEST_DIR/secret.key"
for n in a b; do
	new_instance "$n"
	install_drivers "$DRIVER_DIR" good alipay wechat bank
	SERVER_EXTRA=", \"instance\": \"inst-$n\""
	TOP_EXTRA=',
	"secrets": { "key_file": "'"$TEST_DIR/secret.key"'" },
	"http_client": { "timeout_ms": 1000, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1s", "interval_ms": 200, "batch": 8 },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
	write_conf
	daemon_start
	save_instance
done
for n in a b; do
	use "$n"
	wait_ready
done
use a
pass "instances a and b on one database"

# ctl ARGS...: payroutectl against the current instance (URL and token
# from the environment, as .dev/env gives them); sets RC, OUT, ERR.
ctl() {
	OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT \
		PAYROUTE_ADMIN_TOKEN=$TOKEN timeout 120 "$CTL" "$@" \
		2>"$TEST_DIR/ctl.err" </dev/null)
	RC=$?
	ERR=$(cat "$TEST_DIR/ctl.err")
}
# ctl_in FILE ARGS...: the same with standard input from FILE.
ctl_in() {
	local in=$1

	shift
	OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT \
		PAYROUTE_ADMIN_TOKEN=$TOKEN timeout 120 "$CTL" "$@" \
		2>"$TEST_DIR/ctl.err" <"$in")
	RC=$?
	ERR=$(cat "$TEST_DIR/ctl.err")
}
ok() { # WHAT: exit status 0
	[ "$RC" = 0 ] || fail "$1: payroutectl exited $RC: $ERR"
}
rc_is() { # N WHAT
	[ "$RC" = "$1" ] ||
		fail "$2: payroutectl exited $RC, expected $1 (out: $OUT; err: $ERR)"
}
has() { # TEXT WHAT: stdout holds TEXT (fixed string)
	grep <<<"$OUT" -Fq -- "$1" ||
		fail "$2: the output lacks '$1':
$OUT"
}
err_has() { # TEXT WHAT
	grep <<<"$ERR" -Fq -- "$1" ||
		fail "$2: standard error lacks '$1': $ERR"
}
audit_rows() { pq -c "SELECT count(*) FROM audit_log"; }
# policy_now FILE: the stored policy as GET /admin/v1/policy gives it,
# without exported_at, keys sorted.
policy_now() {
	admin_get /admin/v1/policy
	expect_code 200 "GET /admin/v1/policy"
	printf '%s' "$RESP_BODY" | jq -S 'del(.exported_at)' >"$1"
}

# ---------------------------------------------------------------- usage
# Usage errors never reach a server: point it at a closed port.
usage_err() { # WHAT NEEDLE ARGS...
	local what=$1 needle=$2

	shift 2
	OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:1 PAYROUTE_ADMIN_TOKEN=x \
		timeout 20 "$CTL" "$@" 2>"$TEST_DIR/ctl.err" </dev/null)
	RC=$?
	ERR=$(cat "$TEST_DIR/ctl.err")
	rc_is 2 "usage: $what"
	err_has "$needle" "usage: $what"
}
usage_err "no command" "usage: payroutectl"
usage_err "an unknown command" "payroutectl: frobnicate: unknown command" frobnicate
usage_err "channel alone" "payroutectl: channel: which one?" channel
usage_err "an unknown subcommand" "payroutectl: channel: frob: unknown command" channel frob x
usage_err "channel show without CODE" "payroutectl: channel show: missing argument" channel show
usage_err "channel show with two codes" "too many arguments" channel show a b
usage_err "an option of another command" "--dry-run is not an option of status" status --dry-run
usage_err "import without FILE" "payroutectl: import: missing argument" import
usage_err "an unknown option" "payroutectl: unknown option --bogus" --bogus status
usage_err "an unknown option after the command" "payroutectl: status: unknown option --bogus" status --bogus
usage_err "an option without its value" "payroutectl: export: -o needs a value" export -o
usage_err "a bad --timeout" "--timeout: 1 to 3600 seconds" --timeout 0 status
usage_err "explain without a payment" "no payment" explain
usage_err "explain amount=abc" "amount is an integer" explain amount=abc currency=CNY
usage_err "explain with a bad argument" "expected KEY=VALUE" explain amount
usage_err "resolve without --outcome" "--outcome and --note are required" refund resolve R1 --note x
usage_err "merchant add without ID" "payroutectl: merchant add: missing argument" merchant add
usage_err "merchant set without a field" "payroutectl: merchant set m1: missing argument" merchant set m1
usage_err "merchant add with a bad field" "expected KEY=VALUE" merchant add m1 name
usage_err "merchants with a bad filter" "nofilter: a filter is NAME=VALUE" merchants nofilter
OUT=$(env -u PAYROUTE_ADMIN_TOKEN PAYROUTE_ADMIN_URL=http://127.0.0.1:1 \
	timeout 20 "$CTL" status 2>"$TEST_DIR/ctl.err")
RC=$?
ERR=$(cat "$TEST_DIR/ctl.err")
rc_is 2 "usage: no token"
err_has "payroutectl: status: no admin token" "usage: no token"
pass "usage errors exit 2 and say what is wrong, without contacting the server"

for cmd in status drivers reload channels "channel show" "channel enable" \
	"channel disable" explain export import overdue "refund resend" \
	"refund resolve" merchants "merchant show" "merchant add" \
	"merchant set" "merchant disable" "merchant enable" "merchant key" \
	"merchant secret" order attention notifications "notification show" \
	"notification retry" audit breakers "codes unmapped"; do
	# shellcheck disable=SC2086 # two-word commands
	OUT=$(timeout 20 "$CTL" $cmd --help 2>&1)
	RC=$?
	rc_is 0 "$cmd --help"
	has "usage: payroutectl [OPTIONS] $cmd" "$cmd --help"
done
OUT=$(timeout 20 "$CTL" channel --help 2>&1)
RC=$?
rc_is 0 "channel --help"
has "payroutectl channel disable CODE" "channel --help"
OUT=$(timeout 20 "$CTL" --help 2>&1)
has "refund resolve ID" "--help"
OUT=$(timeout 20 "$CTL" -V 2>&1)
grep <<<"$OUT" -Eq '^payroutectl [0-9]+\.[0-9]+' || fail "-V: $OUT"
pass "--help for every command (exit 0), -V: $OUT"

# ----------------------------------------------- connection and token
OUT=$(timeout 20 "$CTL" --url http://127.0.0.1:1 --token x status 2>"$TEST_DIR/ctl.err")
RC=$?
ERR=$(cat "$TEST_DIR/ctl.err")
rc_is 1 "status against a closed port"
err_has "payroutectl: status: GET http://127.0.0.1:1/admin/v1/status:" "closed port"
OUT=$(timeout 20 "$CTL" --url "http://127.0.0.1:$ADMIN_PORT" --token wrong status 2>"$TEST_DIR/ctl.err")
RC=$?
ERR=$(cat "$TEST_DIR/ctl.err")
rc_is 1 "a wrong token"
[ "$ERR" = "payroutectl: status: 401 unauthorized: a valid operator token is required (Authorization: Bearer)" ] ||
	fail "a wrong token: $ERR"
printf '%s\n' "$TOKEN" >"$TEST_DIR/token"
OUT=$(env -u PAYROUTE_ADMIN_TOKEN timeout 20 "$CTL" --url "http://127.0.0.1:$ADMIN_PORT/" \
	--token-file "$TEST_DIR/token" status 2>"$TEST_DIR/ctl.err")
RC=$?
ERR=$(cat "$TEST_DIR/ctl.err")
ok "--token-file"
has "store       ready" "status with --token-file"
pass "unreachable server: exit 1 naming the URL; a wrong token: 401 exit 1; --token-file and --url work"

# ---------------------------------------------------------- operators
# The audit log names the operator whose token is used: the changes below
# are made by operators of their own (ctl_as NAME), made here with
# operator add and operator token (the bootstrap admin's token, $TOKEN).
declare -A OPTOK
for spec in carol:operator frank:operator opsuser:operator dave:admin erin:admin; do
	name=${spec%%:*}
	ctl operator add "$name" --role "${spec#*:}"
	ok "operator add $name"
	has "operator $name created: roles ${spec#*:}, active" "operator add $name"
	ctl operator token "$name" --label t_ctl
	ok "operator token $name"
	err_has "of operator $name, expires never; it is shown this once:" "operator token $name"
	case $OUT in pro_*) OPTOK[$name]=$OUT ;; *) fail "operator token $name printed: $OUT" ;; esac
done
ctl_as() { # NAME ARGS...: ctl with NAME's token
	local name=$1 keep=$TOKEN

	shift
	TOKEN=${OPTOK[$name]}
	ctl "$@"
	TOKEN=$keep
}
ctl operator list
ok "operator list"
grep <<<"$OUT" -Eq '^carol +operator +active +admin ' || fail "operator list: $OUT"
grep <<<"$OUT" -Eq '^admin +admin +active +payrouted ' || fail "operator list: no bootstrap admin: $OUT"
ctl_as carol whoami
ok "whoami"
has "carol (operator)" "whoami"
has "permissions: self view channel.operate order.follow_up order.settle" "whoami"
ctl_as carol operator add mallory --role admin
rc_is 1 "an operator adding an operator"
err_has "403 forbidden: operator carol may not do this: it needs the permission operators" "operator add by carol"
ctl operator add bad --role root
rc_is 1 "a role that is none"
err_has "400 invalid_field: roles[0]: not a role" "operator add --role root"
ctl operator token frank --label short --expires 2000-01-01T00:00:00Z
rc_is 1 "a token that expired before it was made"
ctl operator token frank --label spare
ok "a second token for frank"
spare=$OUT
ctl operator tokens frank
ok "operator tokens"
grep <<<"$OUT" -Eq '^[0-9]+ +t_ctl +active ' && grep <<<"$OUT" -Eq '^[0-9]+ +spare +active ' ||
	fail "operator tokens frank: $OUT"
grep <<<"$OUT" -q "${spare#pro_*_}" && fail "operator tokens shows a secret"
sid=${spare#pro_}
sid=${sid%%_*}
ctl operator revoke frank "$sid"
ok "operator revoke"
has "token $sid of operator frank revoked" "operator revoke"
OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$spare timeout 20 "$CTL" whoami 2>"$TEST_DIR/ctl.err")
RC=$?
ERR=$(cat "$TEST_DIR/ctl.err")
rc_is 1 "a revoked token"
err_has "401 unauthorized: token revoked" "a revoked token"
ctl operator disable opsuser
ok "operator disable"
has "operator opsuser disabled: roles operator, disabled" "operator disable"
ctl_as opsuser whoami
rc_is 1 "a disabled operator"
err_has "401 unauthorized: operator disabled" "a disabled operator"
ctl operator enable opsuser
ok "operator enable"
ctl --actor someone whoami
ok "--actor is accepted"
err_has "--actor is ignored" "--actor"
has "admin (admin)" "whoami with --actor: still the token's operator"
pass "operator add/list/token/tokens/revoke/disable/enable and whoami; refused (403) without the permission"

# ---------------------------------------------------------- read commands
ctl status
ok status
has "generation  " status
has "store       ready" status
ctl --json status
ok "status --json"
[ "$(printf '%s' "$OUT" | jq -r .store.ready)" = true ] || fail "status --json: $OUT"
ctl drivers
ok drivers
for d in NAME testgood alipay wechat bank; do has "$d" drivers; done
pass "status and drivers"

# ---- a catalogue through the admin API (a's)
add_channel "$(jq -cn '{code: "t_one", driver: "testgood", institution: "One Bank",
	status: "online", business_types: ["pay"], methods: ["alipay"],
	environments: ["h5"], currencies: ["CNY"], fee: {rate_bps: 30}, weight: 100,
	driver_config: {endpoint: "http://127.0.0.1:9", api_key: "s3cr3t-one",
	                nested: {private_key_pem: "PEM-ONE", mode: "test"}}}')"
add_channel "$(jq -cn '{code: "t_two", driver: "testgood", institution: "Two Bank",
	status: "online", business_types: ["pay"], methods: ["alipay"],
	environments: ["h5"], currencies: ["CNY"], fee: {rate_bps: 60}, weight: 100,
	driver_config: {endpoint: "http://127.0.0.1:9", api_key: "s3cr3t-two"}}')"
add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
	jq -c '.refund_timeout = "3s" | .refund_resend = true | .refund_window_days = 365')"
admin_post /admin/v1/whitelist -H 'Content-Type: application/json' \
	--data-binary '{"kind": "card_no", "value": "6222020000031234", "channel": "t_one", "note": "vip card"}'
expect_code 201 "card whitelist entry"
admin_post /admin/v1/whitelist -H 'Content-Type: application/json' \
	--data-binary '{"kind": "buyer_id", "value": "buyer-two", "channel": "t_two",
	                "expires_at": "2030-06-30T23:59:59.5+08:00"}'
expect_code 201 "buyer whitelist entry"
http PUT "http://127.0.0.1:$ADMIN_PORT/admin/v1/routing/rules" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' \
	--data-binary '{"rules": [{"name": "cheap first", "scoring": {"fee": 1}}]}'
expect_code 200 "rules"
http PUT "http://127.0.0.1:$ADMIN_PORT/admin/v1/codes/overrides" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' \
	--data-binary '{"channel": "t_two", "op": "pay", "code": "TWO_LIMIT", "unified": "LIMIT_EXCEEDED",
	                "effect": "failed", "retryable": true, "category": "limit",
	                "message_en": "over the limit", "message_zh": "超限"}'
expect_code 200 "override"
pass "catalogue: t_one, t_two, wx_native; a card and a buyer entry; a rule; an override"

ctl channels
ok channels
has "CODE" channels
grep <<<"$OUT" -Eq '^t_one +testgood +online +pay +alipay +h5 +CNY +30 +100' ||
	fail "channels: no aligned row for t_one:
$OUT"
has "wx_native" channels
ctl channel show t_one
ok "channel show"
[ "$(printf '%s' "$OUT" | jq -r .driver_config.api_key)" = '********' ] ||
	fail "channel show does not mask api_key: $OUT"
grep <<<"$OUT" -q 's3cr3t\|PEM-ONE' && fail "channel show shows a secret: $OUT"
pass "channels (a table) and channel show (JSON, secrets masked)"

# ---- channel disable/enable, audited, seen by b
current_generation
g0=$GEN
ctl_as carol channel weight t_one 55
ok "channel weight by an operator"
has "channel t_one weight 55 (generation" "channel weight"
[ "$(pq -c "SELECT actor || ':' || (before->>'weight') || '>' || (after->>'weight') FROM audit_log WHERE object_kind = 'channel' AND object_id = 't_one' AND action = 'weight'")" = "carol:$(pq -c "SELECT before->>'weight' FROM audit_log WHERE action = 'weight'")>55" ] ||
	fail "channel weight is not audited under carol"
ctl_as carol channel set t_one weight=56
rc_is 1 "channel set (a whole PATCH) by an operator"
err_has "403 forbidden" "channel set by carol"
ctl_as carol --note "maintenance ticket 7" channel disable t_one
ok "channel disable"
has "channel t_one offline (generation" "channel disable"
[ "$(pq -c "SELECT status FROM channels WHERE code = 't_one'")" = offline ] ||
	fail "t_one not offline in the store"
[ "$(pq -c "SELECT actor || '|' || note FROM audit_log WHERE object_kind = 'channel' AND object_id = 't_one' AND action = 'status' ORDER BY id DESC LIMIT 1")" = "carol|maintenance ticket 7" ] ||
	fail "channel disable is not audited with the token's operator and --note"
use b
for i in $(seq 100); do
	admin_get /admin/v1/channels/t_one
	[ "$(json .status)" = offline ] && break
	sleep 0.1
done
[ "$(json .status)" = offline ] || fail "b does not see t_one offline 10s after a's disable: $RESP_BODY"
use a
OUT=$(LOGNAME=someone-else PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT \
	PAYROUTE_ADMIN_TOKEN=${OPTOK[opsuser]} timeout 60 "$CTL" channel enable t_one 2>"$TEST_DIR/ctl.err")
RC=$?
ERR=$(cat "$TEST_DIR/ctl.err")
ok "channel enable"
has "channel t_one online" "channel enable"
[ "$(pq -c "SELECT actor FROM audit_log WHERE object_kind = 'channel' AND object_id = 't_one' AND action = 'status' ORDER BY id DESC LIMIT 1")" = opsuser ] ||
	fail "channel enable: the actor is not the token's operator (not the login name)"
ctl channel disable nosuch
rc_is 1 "channel disable nosuch"
[ "$ERR" = "payroutectl: channel disable nosuch: 404 not_found: no channel named nosuch" ] ||
	fail "channel disable nosuch: $ERR"
pass "channel disable/enable: audited (the token's operator, --note), b follows; 404 exits 1: $ERR"

ctl reload
ok reload
has "reload: generation " reload
g1=$(printf '%s' "$OUT" | sed -n 's/^reload: generation \([0-9]*\) active$/\1/p')
[ -n "$g1" ] && [ "$g1" -gt "$g0" ] || fail "reload: '$OUT' (generation before: $g0)"
pass "reload: $OUT"

# ------------------------------------------------------------------ explain
ctl explain amount=10000 currency=CNY method=alipay environment=h5
ok "explain key=value"
has "chosen: t_one" "explain key=value"
grep <<<"$OUT" -Eq '^CHANNEL +ELIGIBLE +DROPPED_BY +FEE +SCORE +WEIGHT +FEE_SCORE +SUCCESS$' ||
	fail "explain: no candidates' header:
$OUT"
grep <<<"$OUT" -Eq '^t_one +yes +- +30 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.-]+' ||
	fail "explain: no row for t_one with its score parts:
$OUT"
grep <<<"$OUT" -Eq '^wx_native +no +method ' ||
	fail "explain: wx_native should be dropped by method:
$OUT"
has "rule: " "explain (the rule that applied)"
printf '{"amount": 10000, "currency": "USD", "method": "alipay", "environment": "h5"}' >"$TEST_DIR/pay.json"
ctl explain -f "$TEST_DIR/pay.json"
ok "explain -f"
has "chosen: none" "explain -f USD"
grep <<<"$OUT" -Eq '^t_one +no +currency ' || fail "explain -f: t_one not dropped by currency:
$OUT"
ctl explain -f "$TEST_DIR/pay.json" currency=CNY buyer_id=buyer-two
ok "explain -f with arguments"
has "chosen: t_two" "explain: the buyer's whitelist entry"
has "whitelist: entry" "explain: the whitelist entry"
ctl_in "$TEST_DIR/pay.json" explain --json -
ok "explain - --json"
[ "$(printf '%s' "$OUT" | jq -r '.candidates[] | select(.channel == "t_two") | .dropped_by')" = currency ] ||
	fail "explain --json from standard input: $OUT"
ctl explain amount=100 method=alipay
rc_is 1 "explain without a currency"
err_has "payroutectl: explain amount=100 method=alipay: 400 invalid_field: currency" "explain without a currency"
pass "explain: key=value, -f FILE (+ arguments), standard input, --json; a 400 exits 1"

# ------------------------------------------------------------------ export
ctl --note "baseline" export -o "$TEST_DIR/policy.json"
ok "export -o"
has "exported to $TEST_DIR/policy.json (channels 3, whitelist entries 2, rules 1, code overrides 1)" "export -o"
[ "$(stat -c %a "$TEST_DIR/policy.json")" = 600 ] ||
	fail "export -o: mode $(stat -c %a "$TEST_DIR/policy.json"), expected 600"
P=$TEST_DIR/policy.json
[ "$(jq -r .format "$P")" = payroute-policy/1 ] || fail "export: no format"
grep -q 's3cr3t\|PEM-ONE' "$P" && fail "export shows a secret"
[ "$(jq -r '.channels[] | select(.code == "t_one") | .driver_config.nested.private_key_pem' "$P")" = '********' ] ||
	fail "export: the nested secret is not masked"
[ "$(jq -r '.whitelist[] | select(.kind == "card_no") | .value_hint' "$P")" = 1234 ] ||
	fail "export: the card entry has no value_hint"
hmac=$(pq -c "SELECT value FROM whitelist WHERE kind = 'card_no'")
grep -q "$hmac" "$P" && fail "export shows a card's HMAC"
grep -q 6222020000031234 "$P" && fail "export shows a card number"
[ "$(jq -r '.whitelist[] | select(.kind == "buyer_id") | .expires_at' "$P")" = 2030-06-30T15:59:59Z ] ||
	fail "export: expires_at not in UTC seconds"
[ "$(jq -r '.rules | length' "$P"):$(jq -r '.code_overrides[0].unified' "$P")" = 1:LIMIT_EXCEEDED ] ||
	fail "export: rules or overrides missing"
admin_get /admin/v1/channels
[ "$(jq -cS .channels "$P")" = "$(printf '%s' "$RESP_BODY" | jq -cS .channels)" ] ||
	fail "export: the channels differ from GET /admin/v1/channels"
ctl export
ok "export to standard output"
[ "$(printf '%s' "$OUT" | jq -S 'del(.exported_at)')" = "$(jq -S 'del(.exported_at)' "$P")" ] ||
	fail "export to standard output differs from export -o"
pass "export: the whole policy, channels as GET /admin/v1/channels, secrets masked, cards by hint, mode 0600"

# ---------------------------------------------- round trip: a no-op
policy_now "$TEST_DIR/before.json"
audit0=$(audit_rows)
current_generation
gen0=$GEN
ctl import "$P" --dry-run
ok "import --dry-run of the export"
has "dry run: nothing would change" "round trip dry run"
has "channels: 0 added, 0 changed, 0 removed, 3 unchanged" "round trip dry run"
has "whitelist: 0 added, 0 changed, 0 removed, 2 unchanged" "round trip dry run"
has "rules: unchanged (1 rule)" "round trip dry run"
# the same instant written another way is the same entry
jq '(.whitelist[] | select(.kind == "buyer_id") | .expires_at) = "2030-06-30T23:59:59+08:00"' \
	"$P" >"$TEST_DIR/tz.json"
ctl import "$TEST_DIR/tz.json" --dry-run
ok "import --dry-run, expires_at in +08:00"
has "dry run: nothing would change" "expires_at in +08:00"
ctl import "$P"
ok "import of the export"
has "nothing to change: generation $gen0 active" "round trip import"
[ "$(audit_rows)" = "$audit0" ] || fail "a no-op import wrote audit rows"
current_generation
[ "$GEN" = "$gen0" ] || fail "a no-op import made generation $GEN (was $gen0)"
policy_now "$TEST_DIR/after.json"
cmp -s "$TEST_DIR/before.json" "$TEST_DIR/after.json" || fail "a no-op import changed the policy"
pass "export -> import is a no-op: the dry run says nothing would change, nothing written, generation $gen0 stays"

# ---------------------------------------------- masked secrets survive
jq '(.channels[] | select(.code == "t_one") | .weight) = 80' "$P" >"$TEST_DIR/w80.json"
ctl_as dave import "$TEST_DIR/w80.json"
ok "import with t_one's weight changed"
has "channel changed: t_one (weight)" "import weight"
has "imported: generation" "import weight"
[ "$(pq -c "SELECT weight || '|' || (driver_config->>'api_key') || '|' || (driver_config->'nested'->>'private_key_pem') FROM channels WHERE code = 't_one'")" = '80|s3cr3t-one|PEM-ONE' ] ||
	fail "the masked secrets did not survive the import: $(pq -c "SELECT driver_config FROM channels WHERE code = 't_one'")"
[ "$(pq -c "SELECT driver_config->>'apiv3_key' FROM channels WHERE code = 'wx_native'")" = "$APIV3" ] ||
	fail "wx_native's apiv3_key did not survive"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE actor = 'dave' AND object_kind = 'channel' AND object_id = 't_one' AND action = 'update' AND note = 'policy import'")" = 1 ] ||
	fail "the channel change of the import is not audited per channel"
[ "$(pq -c "SELECT after->'channels'->'changed'->0->>'code' FROM audit_log WHERE actor = 'dave' AND action = 'import' AND object_kind = 'policy'")" = t_one ] ||
	fail "no 'import' audit row with the summary"
pq -c "SELECT before::text || after::text FROM audit_log WHERE actor = 'dave'" | grep -q 's3cr3t\|PEM-ONE' &&
	fail "the import's audit rows show a secret"
pass "masked secrets survive an import (testgood and wechat configs); audited per entity and as one import row, masked"

# ---------------------------------------------- one bad channel: nothing
policy_now "$TEST_DIR/before.json"
audit0=$(audit_rows)
current_generation
gen0=$GEN
n_tone=$(jq '[.channels[].code] | index("t_one")' "$P")
jq --argjson i "$n_tone" '.channels[$i].limits.txn_max = -5
	| .channels |= map(select(.code != "t_two"))
	| .whitelist |= map(select(.channel != "t_two"))
	| .code_overrides = []
	| .channels += [{code: "t_new", driver: "testgood", status: "offline"}]' \
	"$P" >"$TEST_DIR/bad.json"
ctl import "$TEST_DIR/bad.json"
rc_is 1 "import with a bad channel"
err_has "payroutectl: import $TEST_DIR/bad.json: 400 invalid_field: channels[$n_tone].limits.txn_max" "bad channel"
ctl import "$TEST_DIR/bad.json" --dry-run
rc_is 1 "dry run with a bad channel"
err_has "channels[$n_tone].limits.txn_max" "bad channel, dry run"
jq '.channels += [.channels[0] | .code = "t_copy"]' "$P" >"$TEST_DIR/copy.json"
ctl import "$TEST_DIR/copy.json"
rc_is 1 "import of a new channel with masked secrets"
err_has "400 invalid_field: channels[3].driver_config." "masked secret in a new channel"
err_has "stands for a stored secret" "masked secret in a new channel"
jq '.whitelist += [{kind: "buyer_id", value: "x", channel: "nowhere"}]' "$P" >"$TEST_DIR/wl.json"
ctl import "$TEST_DIR/wl.json"
rc_is 1 "import of an entry naming no channel"
err_has "400 invalid_field: whitelist[2].channel: no channel named nowhere in the document" "whitelist channel"
jq 'del(.code_overrides)' "$P" >"$TEST_DIR/partial.json"
ctl import "$TEST_DIR/partial.json"
rc_is 1 "import without code_overrides"
err_has "code_overrides: required" "partial document"
# refused by the store inside policy_apply(), after it saved and deleted
# channels: the transaction takes all of it back
jq '.channels |= map(select(.code != "t_two"))
	| .whitelist |= map(select(.channel != "t_two")) | .code_overrides = []
	| .channels += [{code: "t_x", driver: "testgood", status: "offline"}]
	| .rules = [{name: ("r" * 200)}]' "$TEST_DIR/w80.json" >"$TEST_DIR/longname.json"
ctl import "$TEST_DIR/longname.json"
rc_is 1 "import refused by a CHECK of the store"
err_has "400 constraint_violation:" "a rule name over 128 characters"
printf '{"channels": [' >"$TEST_DIR/broken.json"
ctl import "$TEST_DIR/broken.json"
rc_is 1 "import of broken JSON"
err_has "line 1" "broken JSON"
[ "$(audit_rows)" = "$audit0" ] || fail "a refused import wrote audit rows"
current_generation
[ "$GEN" = "$gen0" ] || fail "a refused import made generation $GEN (was $gen0)"
policy_now "$TEST_DIR/after.json"
cmp -s "$TEST_DIR/before.json" "$TEST_DIR/after.json" ||
	fail "a refused import changed the policy: $(diff "$TEST_DIR/before.json" "$TEST_DIR/after.json" | head -20)"
pass "refused imports (a bad field, a masked secret in a new channel, a dangling entry, a partial or broken document) write nothing and name the field"

# ---------------------------------------------- import removes and adds
policy_now "$TEST_DIR/before.json"
jq '.channels |= map(select(.code != "t_two"))
	| .whitelist |= map(select(.channel != "t_two"))
	| .whitelist += [{kind: "card_no", value: "6222020000099876", channel: "t_three", note: "new card"},
	                 {kind: "seller_id", value: "seller-3", channel: "t_three"}]
	| .code_overrides = []
	| .rules = [{name: "weights", scoring: {weight: 1}}, {name: "deny three", conditions: {currencies: ["USD"]}, deny: ["t_three"]}]
	| .channels += [{code: "t_three", driver: "testgood", status: "online", business_types: ["pay"],
	                 methods: ["alipay"], environments: ["h5"], currencies: ["CNY"], fee: {rate_bps: 10},
	                 driver_config: {endpoint: "http://127.0.0.1:9", api_key: "k-three"}}]' \
	"$TEST_DIR/w80.json" >"$TEST_DIR/replace.json"
ctl import "$TEST_DIR/replace.json" --dry-run
ok "dry run of a replacing import"
for l in "channel added: t_three" "channel removed: t_two" \
	"whitelist entry added: card_no *9876 -> t_three" \
	"whitelist entry added: seller_id seller-3 -> t_three" \
	"whitelist entry removed: #" "rules replaced: 1 -> 2" \
	"code override removed: t_two/pay/TWO_LIMIT/*" \
	"dry run: nothing was written"; do
	has "$l" "dry run of a replacing import"
done
policy_now "$TEST_DIR/after.json"
cmp -s "$TEST_DIR/before.json" "$TEST_DIR/after.json" || fail "a dry run changed the policy"
RE_NOTIFIED='reload: policy changed \((NOTIFY from pid|[0-9]+ more NOTIFYs)'
declare -A gb
for n in a b; do
	use "$n"
	current_generation
	gb[$n]=$GEN
done
nrel_b=$(log_count "$RE_NOTIFIED")
use a
ctl_as erin --note "quarterly catalogue" import "$TEST_DIR/replace.json"
ok "a replacing import"
has "channel removed: t_two" "replacing import"
has "imported: generation" "replacing import"
[ "$(pq -c "SELECT string_agg(code, ',' ORDER BY code) FROM channels")" = t_one,t_three,wx_native ] ||
	fail "channels after the import: $(pq -c "SELECT string_agg(code, ',' ORDER BY code) FROM channels")"
[ "$(pq -c "SELECT count(*) FROM whitelist WHERE channel = 't_two'"):$(pq -c "SELECT count(*) FROM code_overrides")" = 0:0 ] ||
	fail "t_two's whitelist entry or override survived"
[ "$(pq -c "SELECT count(*) FROM whitelist WHERE kind = 'card_no' AND channel = 't_one' AND note = 'vip card'")" = 1 ] ||
	fail "t_one's card entry (kept by id) was lost"
[ "$(pq -c "SELECT hint || '|' || length(value) || '|' || created_by FROM whitelist WHERE channel = 't_three' AND kind = 'card_no'")" = "9876|64|erin" ] ||
	fail "the new card entry is not stored as an HMAC by erin"
pq -c "SELECT row_to_json(w)::text FROM whitelist w" | grep -q 6222020000099876 && fail "a card number is stored"
pq -c "SELECT before::text || ' ' || after::text FROM audit_log" | grep -q 6222020000099876 && fail "a card number is audited"
grep -q 6222020000099876 "${I_LOG[a]}" && fail "a card number is logged"
[ "$(pq -c "SELECT string_agg(action || ':' || object_kind || ':' || object_id, ' ' ORDER BY id) FROM audit_log WHERE actor = 'erin'")" = \
	"$(pq -c "SELECT 'import:policy:policy create:channel:t_three delete:channel:t_two create:whitelist:' || (SELECT id FROM whitelist WHERE kind = 'card_no' AND channel = 't_three') || ' create:whitelist:' || (SELECT id FROM whitelist WHERE kind = 'seller_id') || ' delete:whitelist:2 replace:routing_rules:rules delete:code_override:t_two/pay/TWO_LIMIT/*'")" ] ||
	fail "the audit of the import: $(pq -c "SELECT string_agg(action || ':' || object_kind || ':' || object_id, ' ' ORDER BY id) FROM audit_log WHERE actor = 'erin'")"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE actor = 'erin' AND note = 'policy import: quarterly catalogue'")" = 7 ] &&
	[ "$(pq -c "SELECT note FROM audit_log WHERE actor = 'erin' AND action = 'import'")" = 'quarterly catalogue' ] ||
	fail "the per-entity audit rows do not carry the note"
wait_log "policy: policy import by erin" 5 || fail "no 'policy: policy import by erin' in a's log"
pass "an import removes what the document lacks (t_two, its entry, its override), adds the rest, audited entity by entity"

# b follows through NOTIFY: its routing (its generation, not the store)
# knows t_three and no longer t_two
use b
for i in $(seq 100); do
	ctl explain amount=100 currency=CNY method=alipay environment=h5
	[ "$RC" = 0 ] && grep <<<"$OUT" -q '^chosen: t_three$' && break
	sleep 0.1
done
ok "explain on b"
has "chosen: t_three" "b's routing 10s after a's import"
grep <<<"$OUT" -q '^t_two ' && fail "b still routes over t_two: $OUT"
current_generation
[ "$GEN" -gt "${gb[b]}" ] || fail "b: no new generation after a's import"
[ "$(log_count "$RE_NOTIFIED")" -gt "$nrel_b" ] ||
	fail "b did not reload on a NOTIFY after a's import"
ctl export
ok "export on b"
printf '%s' "$OUT" | jq -S 'del(.exported_at)' >"$TEST_DIR/b.json"
use a
policy_now "$TEST_DIR/a.json"
cmp -s "$TEST_DIR/a.json" "$TEST_DIR/b.json" || fail "b exports another policy than a"
ctl import "$TEST_DIR/b.json" --dry-run
ok "b's export, dry run on a"
has "dry run: nothing would change" "b's export on a"
pass "b picks the import up through NOTIFY (channels, routing) and exports the same policy"

# ------------------------------------------------- overdue, resend, resolve
# After all the imports wx_native still signs with its (masked, kept)
# keys: a payment and refunds through the simulator.
merchant_create shop1
paid 400 p-window wx_native
pq -c "UPDATE payments SET finished_at = now() - interval '400 days' WHERE id = '$PID'" >/dev/null
refund "$PID" r-window 100
expect_code 201 "refund r-window"
RW=$(json .id)
paid 700 p-timeout wx_native
sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
refund "$PID" r-timeout 700
expect_code 201 "refund r-timeout"
RT=$(json .id)
wait_refund "$RT" overdue 25
clear_script
ctl overdue
ok overdue
grep <<<"$OUT" -Eq '^ID +PAYMENT +CHANNEL +AMOUNT +REASON +AGE +ATTEMPTS +BUYER$' ||
	fail "overdue: no header:
$OUT"
grep <<<"$OUT" -Eq "^$RW +P[A-Za-z0-9]+ +wx_native +1\.00 CNY +refund_window_expired " ||
	fail "overdue: no row for $RW:
$OUT"
grep <<<"$OUT" -Eq "^$RT +P[A-Za-z0-9]+ +wx_native +7\.00 CNY +refund_timeout " ||
	fail "overdue: no row for $RT:
$OUT"
# the table shows major units (CNY: 2 digits); --json keeps the API's
# minor units
ctl --json overdue
ok "overdue --json"
[ "$(jq -r --arg id "$RT" '.refunds[] | select(.id == $id) | "\(.amount) \(.currency)"' <<<"$OUT")" = "700 CNY" ] ||
	fail "overdue --json: not in minor units: $OUT"
ctl refund resend "$RW"
rc_is 1 "resend past the refund window"
err_has "payroutectl: refund resend $RW: 409 resend_not_allowed:" "resend past the window"
ctl_as frank refund resolve "$RW" --outcome refunded_by_transfer --note "paid by bank transfer, ticket 42"
ok "refund resolve"
has "refund $RW resolved (refunded_by_transfer)" "refund resolve"
[ "$(pq -c "SELECT actor || ':' || note FROM audit_log WHERE object_kind = 'refund' AND object_id = '$RW' AND action = 'resolve'")" = "frank:paid by bank transfer, ticket 42" ] ||
	fail "refund resolve is not audited"
ctl refund resolve "$RW" --outcome cancelled --note again
rc_is 1 "resolve twice"
err_has "409 not_overdue" "resolve twice"
ctl_as frank refund resend "$RT"
ok "refund resend"
has "refund $RT re-sent:" "refund resend"
wait_sql "SELECT status FROM refunds WHERE id = '$RT'" succeeded 15
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE object_id = '$RT' AND action = 'resend' AND actor = 'frank'")" = 1 ] ||
	fail "refund resend is not audited"
ctl overdue
ok "overdue, empty"
[ "$OUT" = "no overdue refunds" ] || fail "overdue after resolve and resend: $OUT"
pass "overdue lists the queue; refund resolve and resend act on it (audited); 409s exit 1"

# ------------------------------------- an order, the follow-up queues
# order ID shows the refund resent above and its payment: state, amount
# in major units, history; attention, notifications and audit are the
# queues and the log an operator reads.
ctl order "$PID"
ok "order (a payment)"
has "payment $PID: succeeded, 7.00 CNY on wx_native" "order $PID"
grep <<<"$OUT" -Eq '^AT +ACTOR +EVENT +FROM +TO +DETAIL$' || fail "order: no history table: $OUT"
grep <<<"$OUT" -Eq ' (answer|callback) +processing +succeeded ' || fail "order: the payment's success is not in its history: $OUT"
grep <<<"$OUT" -q '"ms":[0-9]*\.[0-9]\{0,9\}[,}]' || fail "order: a duration printed with spurious digits: $OUT"
ctl order "$RT"
ok "order (a refund)"
has "refund $RT: succeeded, 7.00 CNY on wx_native" "order $RT"
has "payment $PID" "order $RT names its payment"
grep <<<"$OUT" -Eq ' frank +attempt +overdue +processing ' || fail "order $RT: the resend by frank (an attempt from overdue) is not in its history: $OUT"
ctl order --json "$RW"
ok "order --json"
[ "$(jq -r '.refund | .id + " " + .status + " " + .resolution' <<<"$OUT")" = "$RW resolved refunded_by_transfer" ] ||
	fail "order --json $RW: $(jq -c '.refund | [.id, .status, .resolution]' <<<"$OUT")"
ctl order X123
rc_is 2 "order X123"
err_has "X123: a payment (P...), refund (R...) or withdrawal (W...) id" "order X123"
ctl order P0nosuchpayment0
rc_is 1 "order of no payment"
err_has "404 not_found" "order of no payment"
ctl attention
ok "attention, empty"
[ "$OUT" = "no orders need an operator" ] || fail "attention: $OUT"
pq -c "INSERT INTO order_checks (kind, order_id, next_at, checks, attention, attention_reason, last_result)
	VALUES ('payment', '$PID', now(), 6, true, 'no answer after 6 checks', 'timeout'),
	('refund', '$RT', now(), 4, true, 'no answer after 4 checks', 'timeout')" >/dev/null
ctl attention
ok "attention"
grep <<<"$OUT" -Eq "^payment +$PID +succeeded +wx_native +7\.00 CNY +6 +no answer after 6 checks +timeout " &&
	grep <<<"$OUT" -Eq "^refund +$RT +succeeded +wx_native +7\.00 CNY +4 +no answer after 4 checks +timeout " ||
	fail "attention: no row for $PID or $RT: $OUT"
ctl order "$PID"
has "supplementary query: 6 so far" "order with a check"
has "needs an operator: no answer after 6 checks" "order with a check"
ctl order "$RT"
has "supplementary query: 4 so far" "a refund with a check (GET /admin/v1/refunds/ID shows it)"
pq -c "DELETE FROM order_checks WHERE (kind, order_id) IN (('payment', '$PID'), ('refund', '$RT'))" >/dev/null
ctl notifications state=pending
ok "notifications"
ctl notifications state=lost
rc_is 1 "notifications state=lost"
err_has "400 invalid_field: state: pending, delivered or abandoned" "notifications state=lost"
ctl notification retry 987654321
rc_is 1 "notification retry of none"
err_has "404 not_found: no such notification" "notification retry of none"
ctl audit object_kind=refund limit=1
ok "audit, a page"
has "more: payroutectl audit object_kind=refund limit=1 cursor=" "audit limit=1"
ctl audit object_kind=refund object_id="$RW"
ok "audit"
grep <<<"$OUT" -Eq "^[0-9TZ:-]+ +frank +resolve +refund +$RW +paid by bank transfer, ticket 42$" ||
	fail "audit: the resolve of $RW: $OUT"
ctl breakers
ok "breakers"
grep <<<"$OUT" -Eq '^wx_native +closed +[0-9]+ +[0-9]+ ' || fail "breakers: no closed wx_native: $OUT"
ctl codes unmapped
ok "codes unmapped, none"
[ "$OUT" = "every code the channels answered is mapped" ] || fail "codes unmapped: $OUT"
pq -c "INSERT INTO unmapped_codes (channel, driver, op, code, sub_code, count, sample_order, sample_message)
	VALUES ('wx_native', 'wechat', 'pay', 'NEW_LIMIT', 'X1', 3, '$PID', 'a limit the bank added')" >/dev/null
ctl codes unmapped channel=wx_native
ok "codes unmapped"
grep <<<"$OUT" -Eq "^wx_native +pay +NEW_LIMIT +X1 +3 +[0-9TZ:-]+ +$PID +a limit the bank added$" ||
	fail "codes unmapped: $OUT"
pq -c "DELETE FROM unmapped_codes WHERE code = 'NEW_LIMIT'" >/dev/null
pass "order ID (a payment, a refund; --json), attention, notifications, audit, breakers, codes unmapped; a bad id exits 2, a 400 or 404 exits 1"

# ---------------------------------------------------------- merchants
# A merchant's life from the shell, by an admin (merchant.write): created
# with its credentials printed once on standard output, listed in pages,
# changed, disabled (its key refused at once) and enabled, its key and
# notification secret rotated; every write audited with the operator.
mauth() { # KEY: the merchant API's status for KEY (404: authenticated, 403: disabled)
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
		"http://127.0.0.1:$MERCHANT_PORT/v1/payments/nosuchpayment01"
}
ctl_as dave merchant add cli-a name="CLI Shop A" locale=en --note onboarding
ok "merchant add"
err_has "merchant cli-a created: active, locale en; shown this once below (the API never shows it again): give them to the merchant" "merchant add"
KEY=$(awk '$1 == "api_key" { print $2 }' <<<"$OUT")
[[ $KEY =~ ^prk_[0-9a-f]{64}$ ]] && [[ $(awk '$1 == "notify_secret" { print $2 }' <<<"$OUT") =~ ^prn_[0-9a-f]{64}$ ]] ||
	fail "merchant add printed: $OUT"
[ "$(mauth "$KEY")" = 404 ] || fail "the key merchant add printed does not authenticate"
for m in cli-b cli-c; do
	ctl_as dave merchant add "$m" name="CLI Shop ${m#cli-}"
	ok "merchant add $m"
done
ctl merchants q=cli- limit=2
ok "merchants, a page"
has "more: payroutectl merchants q=cli- limit=2 cursor=cli-b" "merchants q=cli- limit=2"
[ "$(awk 'NR > 1 && $1 ~ /^cli-/ { print $1 }' <<<"$OUT" | tr '\n' ' ')" = "cli-a cli-b " ] ||
	fail "merchants, the first page: $OUT"
ctl merchants q=cli- limit=2 cursor=cli-b
[ "$(awk 'NR > 1 { print $1 "/" $(NF - 3) }' <<<"$OUT")" = cli-c/active ] && ! grep -q '^more:' <<<"$OUT" ||
	fail "merchants, the last page: $OUT"
ctl merchants --json q="shop a"
ok "merchants --json"
[ "$(jq -r '([.merchants[].id] | join(",")) + " " + (.next_cursor | tostring)' <<<"$OUT")" = "cli-a null" ] ||
	fail "merchants --json q=\"shop a\": $OUT"
ctl merchants limit=0
rc_is 1 "merchants limit=0"
err_has "payroutectl: merchants limit=0: 400 invalid_field: limit: an integer from 1 to 1000" "merchants limit=0"
ctl merchant show cli-a
ok "merchant show"
[ "$(jq -r '.name + " " + .api_key_prefix' <<<"$OUT")" = "CLI Shop A ${KEY:0:12}" ] && ! grep -q "${KEY:12}" <<<"$OUT" ||
	fail "merchant show: $OUT"
ctl_as dave merchant set cli-a name="CLI Shop A2" post_delivery_bearer=platform
ok "merchant set"
err_has "merchant cli-a updated: active, locale en" "merchant set"
[ -z "$OUT" ] || fail "merchant set printed a credential: $OUT"
[ "$(pq -c "SELECT name || ' ' || post_delivery_bearer FROM merchants WHERE id = 'cli-a'")" = "CLI Shop A2 platform" ] ||
	fail "merchant set did not change the store"
ctl_as dave merchant set cli-a locale=fr
rc_is 1 "merchant set locale=fr"
err_has "400 invalid_field" "merchant set locale=fr"
ctl_as dave merchant disable cli-a
ok "merchant disable"
[ "$(mauth "$KEY")" = 403 ] || fail "a disabled merchant's key is not refused (403 merchant_disabled)"
ctl_as dave merchant enable cli-a
ok "merchant enable"
[ "$(mauth "$KEY")" = 404 ] || fail "an enabled merchant's key does not authenticate"
ctl_as dave merchant key cli-a
ok "merchant key"
KEY2=$(awk '$1 == "api_key" { print $2 }' <<<"$OUT")
[[ $KEY2 =~ ^prk_[0-9a-f]{64}$ ]] && [ "$KEY2" != "$KEY" ] && [ "$(wc -l <<<"$OUT")" = 1 ] ||
	fail "merchant key printed: $OUT"
[ "$(mauth "$KEY")" = 401 ] && [ "$(mauth "$KEY2")" = 404 ] ||
	fail "after merchant key: the old key must fail and the new one work"
ctl_as dave merchant secret cli-a
ok "merchant secret"
[[ $OUT =~ ^notify_secret\ prn_[0-9a-f]{64}$ ]] || fail "merchant secret printed: $OUT"
ctl_as carol merchant disable cli-b
rc_is 1 "merchant disable as an operator"
err_has "403" "merchant disable without merchant.write"
ctl merchant show nobody
rc_is 1 "merchant show nobody"
err_has "payroutectl: merchant show nobody: 404 not_found: no such merchant" "merchant show nobody"
[ "$(pq -c "SELECT string_agg(action || ':' || actor, ',' ORDER BY id) FROM audit_log WHERE object_kind = 'merchant' AND object_id = 'cli-a'")" = \
	"create:dave,update:dave,update:dave,update:dave,rotate_key:dave,rotate_notify_secret:dave" ] ||
	fail "merchant audit: $(pq -c "SELECT string_agg(action || ':' || actor, ',' ORDER BY id) FROM audit_log WHERE object_kind = 'merchant' AND object_id = 'cli-a'")"
[ "$(pq -c "SELECT note FROM audit_log WHERE object_kind = 'merchant' AND object_id = 'cli-a' AND action = 'create'")" = onboarding ] ||
	fail "merchant add --note is not in the audit log"
pass "merchants: add (credentials once, on stdout), pages, show, set, disable/enable (the key refused at once), key and secret rotated, audited; 400, 403 and 404 exit 1"

for n in a b; do
	use "$n"
	daemon_stop
done
pass "both instances exit 0 on SIGTERM"
exit 0
