#!/usr/bin/env bash
# t_channels.sh - the policy admin API (channels, whitelist, routing rules,
# audit) against a real PostgreSQL: a CRUD round trip of a full channel,
# 400s naming the bad field, 409 and 415, secrets masked when read and kept
# when written back masked, every change audited (actor, before, after) and
# in effect in a new generation when the answer comes, whitelisted cards
# stored only as an HMAC (never in the table, the audit or the log), the
# database's own CHECKs refusing a bad row, and the rules replaced as a
# whole. Uses the test driver testgood (its init wants driver_config
# {"endpoint": "..."}, and it declares no config keys). Then the keys a
# driver declares (ABI 1.2) with testkeys: a misspelt key refused with the
# closest one suggested (also in an import, and on an offline channel), a
# wrong type, a missing required key, a secret masked because it is
# declared secret; testold, built for ABI 1.1, keeps taking any key; and a
# stored config with an unknown key (written before the driver declared
# its keys): `payrouted -t` fails naming it, a reload only warns, the
# channel's next write refuses it.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance chan
install_drivers "$DRIVER_DIR" good keys old
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$I_DIR/secret.key"
TOP_EXTRA=$',\n\t"secrets": { "key_file": "'"$I_DIR/secret.key"$'" }'
write_conf
daemon_start
wait_ready
current_generation
g=$GEN
say "generation $g active"

# canonical: what GET answers for FULL (keys sorted, secrets masked)
FULL='{
  "code": "t_full", "driver": "testgood", "institution": "Test Bank",
  "business_types": ["pay", "refund"], "methods": ["alipay", "wechat_pay"],
  "environments": ["h5", "app"], "product_codes": ["QUICK"],
  "currencies": ["CNY"],
  "banks": [{"bank_code": "CCB", "channel_bank_code": "105", "card_types": ["debit"], "txn_max": 500000, "daily_amount": 0},
            {"bank_code": "ICBC", "channel_bank_code": "102", "card_types": ["debit", "credit"], "txn_max": 0, "daily_amount": 10000000}],
  "status": "online", "timezone": "Asia/Shanghai",
  "maintenance_windows": [{"kind": "daily", "start": "23:30", "end": "00:30"},
                          {"kind": "weekly", "start": "02:00", "end": "04:00", "days": ["sun"]},
                          {"kind": "once", "from": "2030-01-01T00:00:00Z", "to": "2030-01-01T06:00:00Z"}],
  "limits": {"txn_min": 100, "txn_max": 5000000, "daily_amount": 100000000, "daily_count": 10000},
  "fee": {"rate_bps": 60, "fixed": 0, "min": 1, "max": 2000},
  "weight": 70, "refund_window_days": 180, "refund_timeout": "36h",
  "refund_resend": false, "whitelist_only": false,
  "driver_config": {"endpoint": "http://127.0.0.1:9/gw", "api_key": "s3cr3t-api-key", "nested": {"private_key_pem": "PEMDATA", "mode": "test"}}
}'
MASKED=$(printf '%s' "$FULL" | jq -S '.driver_config.api_key = "********" | .driver_config.nested.private_key_pem = "********"')

# ---- create, read back
send POST /admin/v1/channels "$FULL" -H 'X-Payroute-Note: onboarding t_full'
expect_code 201 "POST a full channel"
generation_after "POST a full channel"
[ "$(json '.channel | tojson' | jq -S .)" = "$MASKED" ] ||
	fail "POST answer differs from the channel sent (masked): $RESP_BODY"
send GET /admin/v1/channels/t_full
expect_code 200 "GET /admin/v1/channels/t_full"
[ "$(printf '%s' "$RESP_BODY" | jq -S .)" = "$MASKED" ] ||
	fail "GET differs from what was sent (driver_config masked):
got:  $(printf '%s' "$RESP_BODY" | jq -S -c .)
want: $(printf '%s' "$MASKED" | jq -c .)"
grep <<<"$RESP_BODY" -q 's3cr3t-api-key\|PEMDATA' && fail "GET shows a secret: $RESP_BODY"
pass "POST then GET: the channel as sent, secrets masked"
send GET /admin/v1/channels
expect_code 200 "GET /admin/v1/channels"
[ "$(json '[.channels[] | select(.code == "t_full")] | length')" = 1 ] ||
	fail "the list does not hold t_full: $RESP_BODY"
[ "$(json '.channels[] | select(.code == "t_full") | .driver_config.api_key')" = '********' ] ||
	fail "the list does not mask api_key: $RESP_BODY"
wait_log "reload: generation $g active \([0-9]+ drivers?, 1 channel" 5 ||
	fail "no 'reload: generation $g active (..., 1 channel)' in the log"
pass "the list holds t_full; generation $g has 1 channel"

send POST /admin/v1/channels "$(printf '%s' "$MASKED" | jq -c '.code = "t_copy"')"
expect_field "POST a copy with masked secrets" driver_config.api_key "stored secret"
send POST /admin/v1/channels "$FULL"
expect_code 409 "POST the same code again"
pass "duplicate code: 409 $(json .error.code)"

# ---- PUT with the masked secrets written back: they are kept
body=$(printf '%s' "$MASKED" | jq -c '.weight = 90 | .fee.rate_bps = 55')
send PUT /admin/v1/channels/t_full "$body"
expect_code 200 "PUT the masked channel back with changes"
generation_after "PUT"
[ "$(json .channel.weight)" = 90 ] && [ "$(json .channel.fee.rate_bps)" = 55 ] ||
	fail "PUT answer does not carry the change: $RESP_BODY"
[ "$(pq -c "SELECT driver_config->>'api_key' || '|' || (driver_config->'nested'->>'private_key_pem') || '|' || weight FROM channels WHERE code = 't_full'")" = 's3cr3t-api-key|PEMDATA|90' ] ||
	fail "the stored secrets were not kept by a PUT of '********': $(pq -c "SELECT driver_config FROM channels WHERE code = 't_full'")"
pass "PUT with '********': the stored secrets are kept, the change applied"

send PUT /admin/v1/channels/t_full "$(printf '%s' "$body" | jq -c '.code = "other"')"
expect_field "PUT with another code in the body" code "code"
send PUT /admin/v1/channels/t_none "$(printf '%s' "$body" | jq -c 'del(.code)')"
expect_code 404 "PUT a channel that does not exist"
pass "PUT of a missing channel: 404"

# ---- PATCH: a JSON Merge Patch (RFC 7396) of the stored channel, checked
# and written as a PUT of the result
send PATCH /admin/v1/channels/t_full '{"weight": 60, "limits": {"daily_amount": 200000000}, "fee": {"max": null}}' \
	-H 'Content-Type: application/merge-patch+json'
expect_code 200 "PATCH weight and one limit"
generation_after "PATCH"
[ "$(json '[.channel.weight, .channel.limits.daily_amount, .channel.limits.txn_min, .channel.limits.daily_count, .channel.fee.rate_bps, .channel.fee.max] | map(tostring) | join(",")')" = "60,200000000,100,10000,55,0" ] ||
	fail "PATCH: the merged channel: $RESP_BODY"
[ "$(pq -c "SELECT driver_config->>'api_key' || '|' || weight || '|' || daily_amount FROM channels WHERE code = 't_full'")" = 's3cr3t-api-key|60|200000000' ] ||
	fail "PATCH: the stored channel: $(pq -c "SELECT weight, daily_amount, driver_config FROM channels WHERE code = 't_full'")"
[ "$(pq -c "SELECT actor || ':' || action || ':' || (before->>'weight') || '>' || (after->>'weight') FROM audit_log WHERE object_kind = 'channel' AND object_id = 't_full' ORDER BY id DESC LIMIT 1")" = "admin:update:90>60" ] ||
	fail "PATCH: the audit row: $(pq -c "SELECT actor, action, before->'weight', after->'weight' FROM audit_log WHERE object_id = 't_full' ORDER BY id DESC LIMIT 1")"
send PATCH /admin/v1/channels/t_full '{"weight": -1}'
expect_field "PATCH a negative weight" weight "weight"
send PATCH /admin/v1/channels/t_full '{"driver": null}'
expect_field "PATCH removing the driver" driver "driver"
send PATCH /admin/v1/channels/t_full '{"limits": {"txn_min": 900, "txn_max": 800}}'
expect_code 400 "PATCH txn_min above txn_max"
send PATCH /admin/v1/channels/t_full '{"driver_config": {"api_key": "********", "endpoint": "http://127.0.0.1:9/gw2"}}'
expect_code 200 "PATCH the driver config with a masked secret"
[ "$(pq -c "SELECT (driver_config->>'api_key') || '|' || (driver_config->>'endpoint') || '|' || (driver_config->'nested'->>'private_key_pem') FROM channels WHERE code = 't_full'")" = 's3cr3t-api-key|http://127.0.0.1:9/gw2|PEMDATA' ] ||
	fail "PATCH driver_config: $(pq -c "SELECT driver_config FROM channels WHERE code = 't_full'")"
[ "$(pq -c "SELECT weight FROM channels WHERE code = 't_full'")" = 60 ] || fail "a refused PATCH changed the channel"
send PATCH /admin/v1/channels/t_nosuch '{"weight": 1}'
expect_code 404 "PATCH a missing channel"
http PATCH "http://127.0.0.1:$ADMIN_PORT/admin/v1/channels/t_full" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/plain' --data-binary '{"weight": 1}'
expect_code 415 "PATCH as text/plain"
CTL=$top_builddir/payroutectl
out=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 30 "$CTL" channel set t_full weight=61 limits.daily_count=5 2>&1) ||
	fail "payroutectl channel set: $out"
[ "$(pq -c "SELECT weight || '|' || daily_count || '|' || daily_amount FROM channels WHERE code = 't_full'")" = '61|5|200000000' ] ||
	fail "channel set: $(pq -c "SELECT weight, daily_count, daily_amount FROM channels WHERE code = 't_full'") ($out)"
[ "$(pq -c "SELECT actor FROM audit_log WHERE object_id = 't_full' ORDER BY id DESC LIMIT 1")" = admin ] || fail "channel set's actor (the token's operator)"
out=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT PAYROUTE_ADMIN_TOKEN=$TOKEN \
	timeout 30 "$CTL" channel set t_full weight=-5 2>&1) && fail "channel set weight=-5 passed: $out"
grep -q "400 invalid_field" <<<"$out" || fail "channel set weight=-5: $out"
current_generation
g=$GEN
pass "PATCH (merge patch): merged, checked like a PUT, secrets kept, audited; payroutectl channel set"

# ---- validation: each row a bad variant of the channel, and the field
bad() { # NAME JQ FIELD NEEDLE
	send POST /admin/v1/channels "$(printf '%s' "$FULL" | jq -c ".code = \"t_bad\" | $2")"
	expect_field "$1" "$3" "$4"
}
bad "fee.rate_bps above 10000" '.fee.rate_bps = 10001' fee.rate_bps fee.rate_bps
bad "an unknown key" '.colour = "red"' colour colour
bad "limits.txn_max below txn_min" '.limits.txn_max = 50' limits.txn_max limits.txn_max
bad "an unknown time zone" '.timezone = "Mars/Olympus"' timezone timezone
bad "an unknown driver, online" '.driver = "nosuch"' driver "no driver named nosuch is loaded"
bad "testgood without an endpoint" '.driver_config = {"api_key": "x"}' driver_config.endpoint "endpoint: required"
bad "a currency in lower case" '.currencies = ["cny"]' 'currencies[0]' currencies
bad "a currency not in ISO 4217" '.currencies = ["CNY", "XYZ"]' 'currencies[1]' "ISO 4217"
bad "a currency without minor units (gold)" '.currencies = ["XAU"]' 'currencies[0]' "without minor units"
# driver_config numbers the store would give back as integers beyond
# int64 (jsonb prints 1e20 as 100000000000000000000): refused with their path
bad "driver_config number 1e20" '.driver_config.timeout_ms = 1e20' driver_config.timeout_ms "out of range"
bad "driver_config number -1e19, nested" '.driver_config.nested.limits = [1, -1e19]' 'driver_config.nested.limits[1]' "out of range"
bad "driver_config number 9.3e18" '.driver_config.retry = {"max_ms": 9.3e18}' driver_config.retry.max_ms "out of range"
send POST /admin/v1/channels '{"code": "t_bad", "driver": "testgood", "status": "online",'
expect_code 400 "malformed JSON"
json .error.message | grep -q 'line 1' || fail "malformed JSON: no line number: $RESP_BODY"
pass "malformed JSON: 400 $(json .error.message)"
http POST "http://127.0.0.1:$ADMIN_PORT/admin/v1/channels" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/plain' --data-binary "$FULL"
expect_code 415 "POST as text/plain"
pass "text/plain body: 415"
send POST /admin/v1/channels '{"code": "t_bad", "driver": "testgood"}' -H $'X-Payroute-Note: \x01bad'
expect_code 400 "a bad X-Payroute-Note"
[ "$(pq -c "SELECT count(*) FROM channels WHERE code = 't_bad'")" = 0 ] ||
	fail "a refused channel was stored"
current_generation
[ "$GEN" = "$g" ] || fail "a refused change made generation $GEN (was $g)"
pass "nothing refused was stored; generation $g unchanged"

# an offline channel may name a driver that is not loaded; bringing it
# online then is refused
send POST /admin/v1/channels '{"code": "t_off", "driver": "nosuch", "currencies": ["CNY"]}'
expect_code 201 "an offline channel with an unknown driver"
generation_after "POST t_off"
[ "$(json .channel.status)" = offline ] || fail "t_off is not offline by default: $RESP_BODY"
send POST /admin/v1/channels/t_off/status '{"status": "online"}'
expect_field "t_off online with driver nosuch" driver "no driver named nosuch"

# ---- status switch
send POST /admin/v1/channels/t_full/status '{"status": "offline"}'
expect_code 200 "status offline"
generation_after "status offline"
[ "$(json .channel.status)" = offline ] || fail "status switch: $RESP_BODY"
[ "$(pq -c "SELECT status FROM channels WHERE code = 't_full'")" = offline ] || fail "status not stored"
send POST /admin/v1/channels/t_full/status '{"status": "paused"}'
expect_field "status paused" status status
send POST /admin/v1/channels/t_full/status '{"status": "online"}'
expect_code 200 "status online"
generation_after "status online"
pass "status switch offline/online: generation $g"

# ---- the database enforces the invariants itself
for row in \
	"fee_rate_bps = 10001|channels_fee_rate_check" \
	"txn_min = 10, txn_max = 5|channels_txn_range_check" \
	"fee_min = 10, fee_max = 5|channels_fee_range_check" \
	"currencies = '{cny}'|channels_currencies_check" \
	"business_types = '{pay,lend}'|channels_business_types_check" \
	"daily_amount = -1|channels_limits_check" \
	"weight = 10001|channels_weight_check"; do
	set_sql=${row%%|*}
	cons=${row#*|}
	out=$(pq -c "UPDATE channels SET $set_sql WHERE code = 't_full'" 2>&1) &&
		fail "the database accepted $set_sql"
	grep <<<"$out" -q "$cons" || fail "$set_sql: not refused by $cons: $out"
done
out=$(pq -c "INSERT INTO whitelist (kind, value, channel) VALUES ('card_no', '4111111111111111', 't_full')" 2>&1) &&
	fail "the database accepted a card number in clear"
grep <<<"$out" -q whitelist_card_hmac_check || fail "clear card not refused by whitelist_card_hmac_check: $out"
pass "the database refuses bad rows itself (7 channel CHECKs, clear card numbers)"

# ---- whitelist
CARD=6222020200112243445
send POST /admin/v1/whitelist "{\"kind\": \"card_no\", \"value\": \"$CARD\", \"channel\": \"t_full\", \"note\": \"vip\", \"expires_at\": \"2031-01-01T00:00:00+08:00\"}"
expect_code 201 "whitelist a card"
generation_after "whitelist a card"
wl_card=$(json .entry.id)
[ "$(json .entry.value_hint)" = 3445 ] || fail "no value_hint 3445: $RESP_BODY"
[ "$(json .entry.expires_at)" = 2030-12-31T16:00:00Z ] || fail "expires_at not normalised to UTC: $RESP_BODY"
grep <<<"$RESP_BODY" -q "$CARD" && fail "the answer shows the card number"
want=$(printf '%s' "$CARD" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(cat "$I_DIR/secret.key")" | awk '{print $NF}')
[ "$(pq -c "SELECT value FROM whitelist WHERE id = $wl_card")" = "$want" ] ||
	fail "the stored value is not HMAC-SHA256(key, card)"
pq -c "SELECT * FROM whitelist" | grep -q "$CARD" && fail "the whitelist table holds the card number"
pq -c "SELECT * FROM audit_log" | grep -q "$CARD" && fail "the audit log holds the card number"
grep -q "$CARD" "$LOG_FILE" "$I_DIR/stderr" && fail "the daemon log holds the card number"
send POST /admin/v1/whitelist "{\"kind\": \"card_no\", \"value\": \"$CARD\", \"channel\": \"t_full\"}"
expect_code 409 "whitelist the same card again"
send POST /admin/v1/whitelist '{"kind": "card_no", "value": "4111-1111", "channel": "t_full"}'
expect_field "a card with dashes" value "12 to 19 digits"
n_wl=$(pq -c "SELECT count(*) FROM whitelist")
for bad_card in 6222020200112233445 4111111111111112 622202020011224344; do
	send POST /admin/v1/whitelist "{\"kind\": \"card_no\", \"value\": \"$bad_card\", \"channel\": \"t_full\"}"
	expect_field "card $bad_card (fails the Luhn check)" value "Luhn"
	grep <<<"$RESP_BODY" -q "$bad_card" && fail "the refusal shows the card number"
done
[ "$(pq -c "SELECT count(*) FROM whitelist")" = "$n_wl" ] || fail "a card failing the Luhn check was stored"
sample_card=$(jq -r '.whitelist[] | select(.kind == "card_no") | .value' "$top_srcdir/etc/catalogue.sample.json")
# (the number is checked before the channel's existence: a refusal naming
# the channel says the number passed)
send POST /admin/v1/whitelist "{\"kind\": \"card_no\", \"value\": \"$sample_card\", \"channel\": \"t_nosuch\"}"
expect_field "the sample catalogue's card $sample_card" channel "no channel named t_nosuch"
pass "cards failing the Luhn check refused (400 value, nothing stored); the sample catalogue's card passes"
send POST /admin/v1/whitelist '{"kind": "buyer_id", "value": "buyer-42", "channel": "t_nosuch"}'
expect_field "a whitelist entry for no channel" channel "no channel named t_nosuch"
send POST /admin/v1/whitelist '{"kind": "buyer_id", "value": "buyer-42", "channel": "t_full"}'
expect_code 201 "whitelist a buyer"
generation_after "whitelist a buyer"
wl_buyer=$(json .entry.id)
send GET /admin/v1/whitelist
expect_code 200 "GET /admin/v1/whitelist"
[ "$(json '.whitelist | length')" = 2 ] || fail "whitelist: expected 2 entries: $RESP_BODY"
[ "$(json ".whitelist[] | select(.id == $wl_card) | has(\"value\")")" = false ] ||
	fail "the card entry shows a value: $RESP_BODY"
[ "$(json ".whitelist[] | select(.id == $wl_buyer) | .value")" = buyer-42 ] ||
	fail "the buyer entry does not show its value: $RESP_BODY"
grep <<<"$RESP_BODY" -q "$want" && fail "GET /admin/v1/whitelist shows the card's HMAC"
pass "whitelist: card stored only as HMAC-SHA256 (hint 3445), never in the table, audit or log; buyer entry"

send DELETE /admin/v1/channels/t_full
expect_code 409 "DELETE a channel named by the whitelist"
json .error.message | grep -q "whitelist entries #$wl_card card_no, #$wl_buyer buyer_id" ||
	fail "DELETE t_full: the message does not list the entries: $RESP_BODY"
pass "DELETE t_full while whitelisted: 409 $(json .error.message)"
send DELETE "/admin/v1/whitelist/$wl_buyer"
expect_code 204 "DELETE a whitelist entry"
send DELETE "/admin/v1/whitelist/$wl_buyer"
expect_code 404 "DELETE it again"

# ---- routing rules
RULES='{"rules": [
  {"name": "big to t_full", "conditions": {"amount_min": 100000, "currencies": ["CNY"]}, "scoring": {"weight": 1, "fee": 2, "success_rate": 0}, "allow": ["t_full"]},
  {"name": "no t_off", "enabled": false, "deny": ["t_off"]}]}'
send PUT /admin/v1/routing/rules "$RULES"
expect_code 200 "PUT rules"
generation_after "PUT rules"
[ "$(json '.rules | length')" = 2 ] && [ "$(json '.rules[0].name')" = "big to t_full" ] &&
	[ "$(json '.rules[1].enabled')" = false ] || fail "PUT rules answer: $RESP_BODY"
send GET /admin/v1/routing/rules
[ "$(json '[.rules[].name] | join(",")')" = "big to t_full,no t_off" ] || fail "GET rules: $RESP_BODY"
[ "$(pq -c "SELECT string_agg(name || '@' || position, ',' ORDER BY position) FROM routing_rules")" = "big to t_full@0,no t_off@1" ] ||
	fail "rules not stored in order"
send DELETE /admin/v1/channels/t_off
expect_code 409 "DELETE a channel a rule names"
json .error.message | grep -q 'routing rules\[1\] "no t_off"' || fail "DELETE t_off: the message does not name the rule: $RESP_BODY"
pass "DELETE t_off while a rule denies it: 409 $(json .error.message)"
send PUT /admin/v1/routing/rules '{"rules": [{"name": "x", "allow": ["t_nosuch"]}]}'
expect_field "a rule naming no channel" 'rules[0].allow[0]' t_nosuch
send PUT /admin/v1/routing/rules '{"rules": [{"name": "ok"}, {"name": "bad", "conditions": {"amount_min": 10, "amount_max": 5}}]}'
expect_field "a rule with amount_max < amount_min" 'rules[1].conditions.amount_max' amount_max
send PUT /admin/v1/routing/rules '{"rules": [{"name": "only"}]}'
expect_code 200 "PUT one rule"
generation_after "PUT one rule"
[ "$(pq -c "SELECT count(*) FROM routing_rules")" = 1 ] || fail "the rules were not replaced as a whole"
pass "routing rules replaced as a whole, in order; bad rules refused naming the field"

# ---- delete
send DELETE "/admin/v1/whitelist/$wl_card"
expect_code 204 "DELETE the card entry"
send DELETE /admin/v1/channels/t_full ''
expect_code 204 "DELETE t_full"
hdr=$(curl -s -m 20 -D - -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" \
	"http://127.0.0.1:$ADMIN_PORT/admin/v1/channels/t_off" | tr -d '\r' |
	sed -n 's/^X-Payroute-Generation: //Ip')
[ -n "$hdr" ] && [ "$hdr" -gt "$g" ] || fail "DELETE t_off: no newer X-Payroute-Generation header ($hdr)"
current_generation
g=$GEN
send GET /admin/v1/channels/t_full
expect_code 404 "GET a deleted channel"
[ "$(json .error.code)" = not_found ] || fail "404 without error.code not_found: $RESP_BODY"
send GET /admin/v1/channels
[ "$(json '.channels | length')" = 0 ] || fail "channels left after DELETE: $RESP_BODY"
pass "DELETE: 204, gone, generation $g"

# ---- audit
send GET '/admin/v1/audit?object_kind=channel&object_id=t_full&limit=50'
expect_code 200 "GET /admin/v1/audit"
[ "$(json '[.audit[].action] | join(",")')" = "delete,status,status,update,update,update,update,create" ] ||
	fail "audit of t_full, newest first: $(json '[.audit[].action] | join(",")')"
[ "$(json '.audit[-1].actor')" = admin ] && [ "$(json '.audit[-1].note')" = "onboarding t_full" ] &&
	[ "$(json '.audit[-1].before')" = null ] &&
	[ "$(json '.audit[-1].after.driver_config.api_key')" = '********' ] ||
	fail "the create row: $(json '.audit[-1]')"
[ "$(json '.audit[-2].actor')" = admin ] && [ "$(json '.audit[-2].before.weight')" = 70 ] &&
	[ "$(json '.audit[-2].after.weight')" = 90 ] ||
	fail "the update row: $(json '.audit[-2]')"
[ "$(json '.audit[0].actor')" = admin ] && [ "$(json '.audit[0].after')" = null ] &&
	[ "$(json '.audit[0].before.code')" = t_full ] || fail "the delete row: $(json '.audit[0]')"
pq -c "SELECT before::text || after::text FROM audit_log WHERE object_kind = 'channel'" |
	grep -q 's3cr3t-api-key\|PEMDATA' && fail "the audit log holds a secret"
send GET '/admin/v1/audit?object_kind=whitelist&limit=10'
[ "$(json '.audit | length')" = 4 ] || fail "whitelist audit rows: $RESP_BODY"
[ "$(json '[.audit[] | select(.action == "create") | .actor] | sort | join(",")')" = admin,admin ] ||
	fail "whitelist audit actors: $RESP_BODY"
send GET '/admin/v1/audit?object_kind=routing_rules'
[ "$(json '.audit | length')" = 2 ] && [ "$(json '.audit[1].actor')" = admin ] ||
	fail "rules audit rows: $RESP_BODY"
send GET '/admin/v1/audit?limit=0'
expect_field "audit limit 0" limit limit
# In pages: the cursor is the page's oldest id; the next page is older.
send GET '/admin/v1/audit?object_kind=whitelist&limit=3'
C=$(json .next_cursor)
[ "$(json '.audit | length')" = 3 ] && [ "$C" = "$(json '.audit[2].id | tostring')" ] ||
	fail "audit, a page of 3 of 4: $RESP_BODY"
send GET "/admin/v1/audit?object_kind=whitelist&limit=3&cursor=$C"
[ "$(json '.audit | length')" = 1 ] && [ "$(json .next_cursor)" = null ] &&
	[ "$(json '.audit[0].id')" -lt "$C" ] || fail "audit, the page after $C: $RESP_BODY"
send GET '/admin/v1/audit?cursor=abc'
expect_field "audit cursor abc" cursor "next_cursor"
send GET '/admin/v1/audit?cursor=0'
expect_field "audit cursor 0" cursor "next_cursor"
grep -q 'audit: a list refused: cursor abc' "$LOG_FILE" || fail "the refused cursor is not in the log"
pass "audit: who, before and after of every change, newest first in pages, secrets masked"

# ---- the keys a driver declares (ABI 1.2)
KEYCH=$(printf '%s' "$FULL" | jq -c '.code = "t_keys" | .driver = "testkeys" |
	.driver_config = {"endpoint": "http://127.0.0.1:9/gw", "passphrase": "open-sesame", "verbose": true}')
keybad() { # NAME JQ FIELD NEEDLE
	send POST /admin/v1/channels "$(printf '%s' "$KEYCH" | jq -c "$2")"
	expect_field "$1" "$3" "$4"
}
keybad "a misspelt key" '.driver_config.signtype = "HMAC-SHA256"' driver_config.signtype \
	"driver_config.signtype: unknown key; did you mean sign_type?"
keybad "a key like no other" '.driver_config.colour = "red"' driver_config.colour \
	"unknown key (the testkeys driver takes: endpoint, fail_init, sign_type, passphrase, verbose)"
keybad "an integer given as text" '.driver_config.fail_init = "1"' driver_config.fail_init \
	"driver_config.fail_init: must be an integer (found a string)"
keybad "a boolean given as text" '.driver_config.verbose = "yes"' driver_config.verbose \
	"must be true or false (found a string)"
keybad "the required key missing" 'del(.driver_config.endpoint)' driver_config.endpoint \
	"driver_config.endpoint: required by the testkeys driver (base URL of the test channel)"
keybad "offline, a misspelt key is still refused" '.status = "offline" | .driver_config.verbos = true' \
	driver_config.verbos "did you mean verbose?"
send PUT '/admin/v1/policy?dry_run=1' "$(printf '%s' "$KEYCH" |
	jq -c '{channels: [.driver_config.sign_typ = "x"], whitelist: [], rules: [], code_overrides: []}')"
expect_field "an import with a misspelt key" 'channels[0].driver_config.sign_typ' \
	"channels[0].driver_config.sign_typ: unknown key; did you mean sign_type?"
send POST /admin/v1/channels "$(printf '%s' "$KEYCH" | jq -c '.code = "t_keys_off" | .status = "offline" |
	del(.driver_config.endpoint)')"
expect_code 201 "an offline channel staged without its required key"
send POST /admin/v1/channels "$KEYCH"
expect_code 201 "a testkeys channel"
[ "$(json .channel.driver_config.passphrase)" = '********' ] ||
	fail "passphrase is declared secret, yet shown: $RESP_BODY"
[ "$(json .channel.driver_config.endpoint)" = http://127.0.0.1:9/gw ] &&
	[ "$(json .channel.driver_config.verbose)" = true ] || fail "t_keys read back: $RESP_BODY"
send GET /admin/v1/channels/t_keys
[ "$(json .driver_config.passphrase)" = '********' ] || fail "GET shows the passphrase: $RESP_BODY"
[ "$(pq -c "SELECT driver_config->>'passphrase' FROM channels WHERE code = 't_keys'")" = open-sesame ] ||
	fail "the passphrase was not stored as given"
send PUT /admin/v1/channels/t_keys "$(printf '%s' "$RESP_BODY" | jq -c '.weight = 33')"
expect_code 200 "PUT t_keys with the masked passphrase"
[ "$(pq -c "SELECT driver_config->>'passphrase' || '|' || weight FROM channels WHERE code = 't_keys'")" = 'open-sesame|33' ] ||
	fail "the masked passphrase written back did not keep the stored one"
send GET '/admin/v1/audit?object_kind=channel&object_id=t_keys'
grep <<<"$RESP_BODY" -q open-sesame && fail "the audit shows the passphrase: $RESP_BODY"
send POST /admin/v1/channels "$(printf '%s' "$KEYCH" | jq -c '.code = "t_old" | .driver = "testold" |
	.driver_config.signtype = "anything"')"
expect_code 201 "testold (ABI 1.1, no declared keys) takes any key"
pass "declared keys: misspelt and far-off keys, types and a missing required key refused naming the field; a declared secret masked and kept; testold takes anything"

# A key the driver does not declare, stored before it declared its keys:
# -t fails naming it, a reload only warns (the channel keeps working), the
# channel's next write refuses it.
pq -c "UPDATE channels SET driver_config = driver_config || '{\"signtype\": \"x\"}' WHERE code = 't_keys'" >/dev/null
out=$("$PAYROUTED" -t -c "$CONF" 2>&1 </dev/null) && fail "-t passed with an unknown key stored: $out"
grep <<<"$out" -Fqx "payrouted: channel t_keys: driver_config.signtype: unknown key; did you mean sign_type?" ||
	fail "-t does not name the stored unknown key: $out"
grep <<<"$out" -Fq "stored channel(s) checked against the drivers: 1 problem(s)" ||
	fail "-t: no summary of 1 problem: $out"
grep <<<"$out" -Fq "test failed" || fail "-t: no 'test failed': $out"
pass "-t on a stored unknown key: exit 1, $(grep <<<"$out" -F 'channel t_keys')"
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "a reload with an unknown key stored failed: $RELOAD_LINE"
wait_log "channel t_keys: driver_config.signtype: unknown key; did you mean sign_type\? \(ignored by the testkeys driver" 5 ||
	fail "the reload did not warn about the unknown key"
send POST /admin/v1/channels/t_keys/status '{"status": "offline"}'
expect_field "the next write of t_keys" driver_config.signtype "did you mean sign_type?"
pq -c "UPDATE channels SET driver_config = driver_config - 'signtype' WHERE code = 't_keys'" >/dev/null
out=$("$PAYROUTED" -t -c "$CONF" 2>&1 </dev/null) || fail "-t failed on good stored channels: $out"
grep <<<"$out" -Fq "3 stored channel(s) checked against the drivers: 0 problem(s)" ||
	fail "-t: not 3 channels and 0 problems: $out"
pass "a reload only warns about it; the channel's next write refuses it; without it -t passes"

# -t against a database without the schema yet (a first start): says so,
# no PostgreSQL error, and the test passes (the daemon migrates it).
pq -c "CREATE DATABASE t_channels_empty" >/dev/null || fail "cannot create t_channels_empty"
sed 's/dbname=payroute /dbname=t_channels_empty /' "$CONF" >"$TEST_DIR/empty.conf"
grep -q 'dbname=t_channels_empty' "$TEST_DIR/empty.conf" || fail "no conninfo to point at t_channels_empty in $CONF"
out=$("$PAYROUTED" -t -c "$TEST_DIR/empty.conf" 2>&1 </dev/null) || fail "-t failed on a new database: $out"
grep <<<"$out" -Fqx "payrouted: channels not checked: the store has no schema yet (payrouted applies its migrations when it starts)" &&
	! grep <<<"$out" -q 'ERROR' || fail "-t on a new database: $out"
pass "-t on a database without the schema: says so, without PostgreSQL's error"

current_generation
[ "$(json '[.drivers[] | select(.name == "testgood")] | length')" = 1 ] ||
	fail "GET /admin/v1/drivers no longer lists testgood: $RESP_BODY"
daemon_stop
pass "all done; generation $g"
