#!/usr/bin/env bash
# t_codes.sh - the result-code admin API (doc/design.md §8) against a real
# PostgreSQL: a channel's effective table (its overrides before its
# driver's defaults, in the generation the answer names), an override
# written (upsert), refused with a 400 naming the field (and then neither
# stored nor loaded), deleted (204, then 404), every change audited and in
# effect in a new generation when the answer comes, announced to a second
# instance by NOTIFY, and the unmapped-code report (empty on a fresh
# database, then the rows pr_unmapped_record counted, most frequent first,
# with what they map to now). Uses the test driver testgood (default codes
# OK, PENDING, NOMONEY; its init wants driver_config {"endpoint": ...}) and,
# when built, the alipay driver for an offline channel.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance codes
install_drivers "$DRIVER_DIR" good
have_alipay=0
if built_driver alipay >/dev/null; then
	install_drivers "$DRIVER_DIR" alipay
	have_alipay=1
fi
write_conf
daemon_start
wait_ready
current_generation
g=$GEN
A_PORT=$ADMIN_PORT
A_TOKEN=$TOKEN
A_PID=$DAEMON_PID
A_LOG=$LOG_FILE
A_DIR=$I_DIR

# ---- a fresh database: no overrides, nothing unmapped
send GET /admin/v1/codes/unmapped
expect_code 200 "GET /admin/v1/codes/unmapped (fresh)"
[ "$(json '.unmapped | tojson')" = '[]' ] || fail "unmapped on a fresh database: $RESP_BODY"
send GET /admin/v1/codes
expect_code 200 "GET /admin/v1/codes (fresh)"
[ "$(json '.overrides | tojson')" = '[]' ] || fail "overrides on a fresh database: $RESP_BODY"
pass "fresh database: {\"unmapped\": []} and {\"overrides\": []}"

# ---- channels: c1 (testgood, online); c2 (alipay, offline) when built
send POST /admin/v1/channels '{"code": "c1", "driver": "testgood", "status": "online",
  "business_types": ["pay"], "methods": ["alipay"], "environments": ["h5"],
  "currencies": ["CNY"], "driver_config": {"endpoint": "http://127.0.0.1:9/gw"}}'
expect_code 201 "POST channel c1"
generation_after "POST channel c1"
if [ "$have_alipay" = 1 ]; then
	send POST /admin/v1/channels '{"code": "c2", "driver": "alipay", "status": "offline"}'
	expect_code 201 "POST channel c2"
	generation_after "POST channel c2"
fi

# ---- the effective table: the driver's defaults
send GET '/admin/v1/codes?channel=c1'
expect_code 200 "GET /admin/v1/codes?channel=c1"
[ "$(json .channel)" = c1 ] && [ "$(json .driver)" = testgood ] &&
	[ "$(json .generation)" = "$g" ] || fail "effective table of c1: $RESP_BODY"
[ "$(json '[.codes[] | .source + ":" + .unified] | join(",")')" = \
	"driver:SUCCESS,driver:PROCESSING,driver:INSUFFICIENT_BALANCE" ] ||
	fail "c1's table is not testgood's three rows: $RESP_BODY"
[ "$(json '.codes[2] | [.op, .code, .sub_code, .effect, .retryable, .category, .message_en, .message_zh, .driver, .channel] | join("|")')" = \
	'*|NOMONEY|*|failed|false|user|Insufficient balance.|余额不足。|testgood|c1' ] ||
	fail "testgood's NOMONEY row: $(json '.codes[2]')"
pass "c1 (testgood): the driver's three rows, in order, source driver"
if [ "$have_alipay" = 1 ]; then
	send GET '/admin/v1/codes?channel=c2'
	expect_code 200 "GET /admin/v1/codes?channel=c2"
	n=$(json '.codes | length')
	[ "$n" -gt 50 ] && [ "$(json '[.codes[].source] | unique | join(",")')" = driver ] ||
		fail "c2 (alipay, offline): $n rows: $(printf '%s' "$RESP_BODY" | head -c 300)"
	pass "c2 (alipay, offline): $n driver rows"
fi
send GET '/admin/v1/codes?channel=nope'
expect_code 404 "GET the table of a channel that does not exist"
pass "unknown channel: 404 $(json .error.message)"

# ---- PUT an override
OVR='{"channel": "c1", "op": "pay", "code": "NOMONEY", "unified": "BALANCE_LOW",
  "effect": "failed", "retryable": true, "category": "limit",
  "message_en": "Balance too low; try another card.", "message_zh": "余额不足，请换卡。"}'
send PUT /admin/v1/codes/overrides "$OVR" -H 'X-Payroute-Note: map NOMONEY'
expect_code 200 "PUT an override"
generation_after "PUT an override"
[ "$(json '.override | [.channel, .op, .code, .sub_code, .unified, .effect, .retryable, .category] | join("|")')" = \
	'c1|pay|NOMONEY|*|BALANCE_LOW|failed|true|limit' ] ||
	fail "the PUT answer: $RESP_BODY"
[ "$(pq -c "SELECT unified || '|' || sub_code || '|' || retryable FROM code_overrides WHERE channel = 'c1'")" = 'BALANCE_LOW|*|true' ] ||
	fail "not stored: $(pq -c 'SELECT * FROM code_overrides')"
send GET '/admin/v1/codes?channel=c1'
expect_code 200 "GET c1's table after the PUT"
[ "$(json .generation)" = "$g" ] || fail "the table is not of generation $g: $RESP_BODY"
[ "$(json '[.codes[] | .source + ":" + .unified] | join(",")')" = \
	"override:BALANCE_LOW,driver:SUCCESS,driver:PROCESSING,driver:INSUFFICIENT_BALANCE" ] ||
	fail "the override is not first: $RESP_BODY"
[ "$(json '.codes[0].message_zh')" = '余额不足，请换卡。' ] || fail "message_zh: $RESP_BODY"
pass "PUT: 200, generation $g; GET lists the override (source override) before the driver's rows"

# the same key again: an update
send PUT /admin/v1/codes/overrides "$(printf '%s' "$OVR" | jq -c '.message_en = "Balance too low." | .sub_code = "*"')"
expect_code 200 "PUT the override again"
generation_after "PUT the override again"
[ "$(pq -c "SELECT count(*) || '|' || min(message_en) FROM code_overrides")" = '1|Balance too low.' ] ||
	fail "the second PUT did not replace the row: $(pq -c 'SELECT * FROM code_overrides')"
pass "PUT of the same (channel, op, code, sub_code): replaced, one row"

# ---- refused: each a bad variant, and the field named
bad() { # NAME JQ FIELD NEEDLE
	send PUT /admin/v1/codes/overrides "$(printf '%s' "$OVR" | jq -c ".code = \"BAD\" | $2")"
	expect_field "$1" "$3" "$4"
}
bad "an unknown effect" '.effect = "win"' effect "one of success, failed"
bad "retryable with effect success" '.effect = "success"' retryable "effect failed"
bad "retryable not a boolean" '.retryable = "yes"' retryable "true or false"
bad "an unknown category" '.category = "fraud"' category "none, user"
bad "unified missing" 'del(.unified)' unified required
bad "unified in lower case" '.unified = "low"' unified "[A-Z]"
bad "an unknown op" '.op = "charge"' op "one of pay"
bad "an empty code" '.code = ""' code "1 to 63"
bad "message_en missing" 'del(.message_en)' message_en required
bad "an unknown key" '.colour = "red"' colour "unknown key"
bad "a channel that does not exist" '.channel = "nope"' channel "no channel named nope"
send PUT /admin/v1/codes/overrides '[1, 2]'
expect_code 400 "an array body"
send PUT /admin/v1/codes/overrides '{"channel": '
expect_code 400 "malformed JSON"
[ "$(pq -c "SELECT count(*) FROM code_overrides WHERE code = 'BAD'")" = 0 ] ||
	fail "a refused override was stored"
current_generation
[ "$GEN" = "$g" ] || fail "a refused change made generation $GEN (was $g)"
pass "nothing refused was stored; generation $g unchanged"

# the database refuses what the API refuses
out=$(pq -c "INSERT INTO code_overrides (channel, op, code, unified, effect, retryable, message_en, message_zh)
	VALUES ('c1', 'pay', 'X', 'X', 'success', true, 'x', 'x')" 2>&1) &&
	fail "the database accepted retryable with effect success"
grep <<<"$out" -q code_overrides_check || fail "not refused by code_overrides_check: $out"
pass "the database refuses retryable with effect success too"

# ---- lists
send GET /admin/v1/codes
expect_code 200 "GET /admin/v1/codes"
[ "$(json '[.overrides[] | .channel + "/" + .op + "/" + .code + "/" + .sub_code] | join(",")')" = 'c1/pay/NOMONEY/*' ] ||
	fail "the overrides: $RESP_BODY"
[ -n "$(json '.overrides[0].updated_at')" ] || fail "no updated_at: $RESP_BODY"
send GET '/admin/v1/codes/overrides?channel=c2'
expect_code 200 "GET /admin/v1/codes/overrides?channel=c2"
[ "$(json '.overrides | length')" = 0 ] || fail "c2 has no overrides: $RESP_BODY"
send POST /admin/v1/codes/overrides "$OVR"
expect_code 405 "POST /admin/v1/codes/overrides"
send GET /admin/v1/codes/nothing
expect_code 404 "GET /admin/v1/codes/nothing"
pass "GET /admin/v1/codes lists the overrides; 405 and 404 where due"

# ---- another instance learns of the change by NOTIFY
new_instance second
install_drivers "$DRIVER_DIR" good
[ "$have_alipay" = 1 ] && install_drivers "$DRIVER_DIR" alipay
write_conf
daemon_start
wait_ready
B_PORT=$ADMIN_PORT
B_TOKEN=$TOKEN
# the lib's helpers talk to the first instance again
ADMIN_PORT=$A_PORT
TOKEN=$A_TOKEN
DAEMON_PID=$A_PID
LOG_FILE=$A_LOG
I_DIR=$A_DIR
I_NAME=codes
b_first() { # the first row of c1's table on the second instance
	http GET "http://127.0.0.1:$B_PORT/admin/v1/codes?channel=c1" -H "Authorization: Bearer $B_TOKEN"
	json '.codes[0].source + ":" + .codes[0].unified'
}
[ "$(b_first)" = "override:BALANCE_LOW" ] || fail "the second instance's table: $RESP_BODY"
send PUT /admin/v1/codes/overrides "$(printf '%s' "$OVR" | jq -c '.code = "OK" | .op = "*" | .unified = "PAID" | .effect = "success" | .retryable = false')"
expect_code 200 "PUT an override for OK"
generation_after "PUT an override for OK"
seen=0
for i in $(seq 100); do
	http GET "http://127.0.0.1:$B_PORT/admin/v1/codes?channel=c1" -H "Authorization: Bearer $B_TOKEN"
	if [ "$(json '[.codes[] | select(.source == "override") | .unified] | join(",")')" = "PAID,BALANCE_LOW" ]; then
		seen=1
		break
	fi
	sleep 0.1
done
[ "$seen" = 1 ] || fail "the second instance did not load the new override within 10s: $RESP_BODY"
pass "a second instance loads the new override (NOTIFY) within $((i / 10)).$((i % 10))s"

# ---- DELETE
send DELETE '/admin/v1/codes/overrides?channel=c1&op=pay&code=NOMONEY' ''
expect_code 204 "DELETE the override"
[ -z "$RESP_BODY" ] || fail "DELETE answered a body: $RESP_BODY"
current_generation
[ "$GEN" -gt "$g" ] || fail "DELETE: no new generation ($GEN)"
g=$GEN
send GET '/admin/v1/codes?channel=c1'
[ "$(json '[.codes[] | .source + ":" + .unified] | join(",")')" = \
	"override:PAID,driver:SUCCESS,driver:PROCESSING,driver:INSUFFICIENT_BALANCE" ] ||
	fail "after the DELETE: $RESP_BODY"
send DELETE '/admin/v1/codes/overrides?channel=c1&op=pay&code=NOMONEY&sub_code=*'
expect_code 404 "DELETE it again"
send DELETE '/admin/v1/codes/overrides?channel=c1&op=pay'
expect_field "DELETE without code" code required
pass "DELETE: 204, then 404; the driver's row is back in generation $g"

# ---- audit
send GET /admin/v1/audit '' -G --data-urlencode 'object_kind=code_override' \
	--data-urlencode 'object_id=c1/pay/NOMONEY/*'
expect_code 200 "GET /admin/v1/audit"
[ "$(json '[.audit[] | .action + ":" + .actor] | join(",")')" = "delete:admin,update:admin,create:admin" ] ||
	fail "the audit of c1/pay/NOMONEY/*: $(json '[.audit[] | .action + ":" + .actor]')"
[ "$(json '.audit[2].before')" = null ] && [ "$(json '.audit[2].after.unified')" = BALANCE_LOW ] &&
	[ "$(json '.audit[2].note')" = 'map NOMONEY' ] ||
	fail "the create row: $(json '.audit[2]')"
[ "$(json '.audit[1].before.message_en')" = 'Balance too low; try another card.' ] &&
	[ "$(json '.audit[1].after.message_en')" = 'Balance too low.' ] ||
	fail "the update row: $(json '.audit[1]')"
[ "$(json '.audit[0].before.unified')" = BALANCE_LOW ] && [ "$(json '.audit[0].after')" = null ] ||
	fail "the delete row: $(json '.audit[0]')"
pass "audit: create, update (before/after), delete, each by the token's operator"

# ---- the unmapped-code report
pq -c "SELECT pr_unmapped_record('c1', 'testgood', 'pay', 'E42', 'SUB1', 'P0000001', 'boom')" >/dev/null
pq -c "SELECT pr_unmapped_record('c1', 'testgood', 'pay', 'E42', 'SUB1', 'P0000002', 'boom again')" >/dev/null
pq -c "SELECT pr_unmapped_record('c1', 'testgood', 'query', 'E43', NULL, 'P0000003', 'odd')" >/dev/null
if [ "$have_alipay" = 1 ]; then
	pq -c "SELECT pr_unmapped_record('c2', 'alipay', 'pay', '99999', '', 'P0000004', 'new code')" >/dev/null
	n_all=3
else
	n_all=2
fi
send GET /admin/v1/codes/unmapped
expect_code 200 "GET /admin/v1/codes/unmapped"
[ "$(json '.unmapped | length')" = "$n_all" ] || fail "unmapped: $RESP_BODY"
[ "$(json '.unmapped[0] | [.channel, .driver, .op, .code, .sub_code, .count, .sample_order, .sample_message] | join("|")')" = \
	'c1|testgood|pay|E42|SUB1|2|P0000002|boom again' ] ||
	fail "the most frequent first: $(json '.unmapped[0]')"
[ -n "$(json '.unmapped[0].first_seen')" ] && [ -n "$(json '.unmapped[0].last_seen')" ] ||
	fail "first_seen/last_seen: $(json '.unmapped[0]')"
[ "$(json '.unmapped[0].mapped_as')" = null ] || fail "E42 is not mapped: $(json '.unmapped[0]')"
send GET '/admin/v1/codes/unmapped?channel=c1'
[ "$(json '[.unmapped[] | .code + "/" + .sub_code] | join(",")')" = 'E42/SUB1,E43/' ] ||
	fail "unmapped of c1: $RESP_BODY"
send GET '/admin/v1/codes/unmapped?limit=1'
[ "$(json '.unmapped | length')" = 1 ] || fail "limit=1: $RESP_BODY"
send GET '/admin/v1/codes/unmapped?limit=0'
expect_field "limit=0" limit "limit"
# mapped now: the report says so
send PUT /admin/v1/codes/overrides '{"channel": "c1", "op": "pay", "code": "E42", "unified": "CARD_DECLINED",
  "effect": "failed", "category": "user", "message_en": "Declined.", "message_zh": "交易被拒绝。"}'
expect_code 200 "PUT an override for E42"
send GET '/admin/v1/codes/unmapped?channel=c1'
[ "$(json '.unmapped[0].mapped_as')" = CARD_DECLINED ] || fail "mapped_as after the override: $RESP_BODY"
pass "unmapped: most frequent first, with samples, filtered by channel; mapped_as once an override maps it"

# ---- a channel's overrides go with it
send DELETE /admin/v1/channels/c1
expect_code 204 "DELETE channel c1"
[ "$(pq -c "SELECT count(*) FROM code_overrides WHERE channel = 'c1'")" = 0 ] ||
	fail "c1's overrides outlived it"
send GET '/admin/v1/codes?channel=c1'
expect_code 404 "GET the table of a deleted channel"
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "SIGHUP after the changes: $RELOAD_LINE"
pass "deleting a channel deletes its overrides; a reload still loads"

daemon_stop
say "all passed"
