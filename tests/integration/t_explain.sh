#!/usr/bin/env bash
# t_explain.sh - POST /admin/v1/route/explain against a real PostgreSQL and
# catalogue built through the admin API: the cheapest channel wins, a
# maintenance window crossing midnight drops a channel at 23:00 Shanghai
# time, today's usage in the store drops a channel at its daily limit,
# whitelist_only channels are reachable only through a whitelist entry
# (buyer id, and card number matched by HMAC without the card or its HMAC
# ever appearing in the answer), a request nobody can take says why for
# every channel, bad input gets 400/415 naming the field, nothing is
# reserved, and a store outage answers 503.
. "$(dirname "$0")/lib.sh"
require_pg
pg_start

new_instance explain
install_drivers "$DRIVER_DIR" good
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$I_DIR/secret.key"
TOP_EXTRA=$',\n\t"secrets": { "key_file": "'"$I_DIR/secret.key"$'" }'
write_conf
daemon_start
wait_ready

# channel CODE RATE_BPS WEIGHT EXTRA_JSON: an online alipay/h5 CNY channel.
channel() {
	send POST /admin/v1/channels "$(jq -cn --arg c "$1" --argjson r "$2" \
		--argjson w "$3" --argjson x "$4" '{
		code: $c, driver: "testgood", status: "online",
		business_types: ["pay"], methods: ["alipay"],
		environments: ["h5"], currencies: ["CNY"],
		timezone: "Asia/Shanghai", fee: {rate_bps: $r}, weight: $w,
		driver_config: {endpoint: "http://127.0.0.1:9"}} + $x')"
	expect_code 201 "create channel $1"
}
channel cheap 30 100 '{"limits": {"daily_amount": 10000}}'
channel dear 60 500 '{}'
channel night 10 100 '{"maintenance_windows": [{"kind": "daily", "start": "22:00", "end": "02:00"}]}'
channel vip 100 100 '{"whitelist_only": true}'
channel sleepy 1 100 '{"status": "offline"}'
pass "5 channels created through the admin API"

explain() { send POST /admin/v1/route/explain "$1"; }
# dropped CODE: the dropped_by of channel CODE in the last answer.
dropped() { json ".candidates[] | select(.channel == \"$1\") | .dropped_by"; }

REST='"currency": "CNY", "method": "alipay", "environment": "h5"'
BASE="\"amount\": 5000, $REST"

explain "{$BASE, \"at\": \"2026-11-25T12:00:00+08:00\"}"
expect_code 200 "explain at noon"
[ "$(json .chosen)" = night ] || fail "noon: expected night (lowest fee), got $RESP_BODY"
[ "$(json '.candidates | length')" = 5 ] || fail "noon: every channel should be in the trace: $RESP_BODY"
[ "$(json '.candidates[0].channel')" = night ] || fail "noon: the winner comes first"
[ "$(dropped vip)" = whitelist_only ] || fail "noon: vip should be dropped by whitelist_only: $RESP_BODY"
[ "$(dropped sleepy)" = status ] || fail "noon: sleepy should be dropped by status"
[ "$(json '.candidates[] | select(.channel == "night") | .fee')" = 5 ] ||
	fail "noon: night's fee for 5000 at 10 bps is 5: $RESP_BODY"
pass "noon: the cheapest channel wins; the trace names each dropped channel's reason"

explain "{$BASE, \"at\": \"2026-11-25T23:00:00+08:00\"}"
[ "$(dropped night)" = maintenance_window ] || fail "23:00: night should be in maintenance: $RESP_BODY"
[ "$(json .chosen)" = cheap ] || fail "23:00: expected cheap, got $(json .chosen)"
explain "{$BASE, \"at\": \"2026-11-25T17:30:00-00:00\"}" # 01:30 in Shanghai
[ "$(dropped night)" = maintenance_window ] || fail "01:30 Shanghai: night's window crosses midnight"
explain "{$BASE, \"at\": \"2026-11-25T18:30:00Z\"}" # 02:30 in Shanghai
[ "$(dropped night)" = null ] || fail "02:30 Shanghai: night's window is over: $RESP_BODY"
pass "maintenance window 22:00-02:00 Asia/Shanghai, evaluated in the channel's zone"

# Today's usage (the channel's local day) comes from the store, as the
# daemon's view of it refreshed about every second: explain says how
# fresh its figures are (usage.as_of), and a figure from before the insert
# would not count. t_ins is read once the insert has committed: a refresh
# started (as_of) after it sees the row; one started while psql ran may not.
pq -c "INSERT INTO channel_daily_usage (channel, day, scope, amount, count)
       VALUES ('cheap', (now() AT TIME ZONE 'Asia/Shanghai')::date, '', 9950, 3)" >/dev/null ||
	fail "cannot insert usage"
t_ins=$(($(date +%s%N) / 1000000))
rows0=$(pq -Atc "SELECT count(*), coalesce(sum(amount),0) FROM channel_daily_usage")
for i in $(seq 50); do
	explain "{\"amount\": 60, $REST}"
	[ "$(json .usage.source)" = memory ] || fail "explain of now: usage should come from memory: $RESP_BODY"
	[ "$(date -d "$(json .usage.as_of)" +%s%3N)" -gt "$t_ins" ] && break
	sleep 0.1
done
[ "$(date -d "$(json .usage.as_of)" +%s%3N)" -gt "$t_ins" ] ||
	fail "the usage figures were not refreshed within 5 s: $RESP_BODY"
[ "$(dropped cheap)" = daily_amount_limit ] || fail "9950 used + 60 > 10000: cheap should be dropped: $RESP_BODY"
explain "{\"amount\": 50, $REST}"
[ "$(dropped cheap)" = null ] || fail "9950 used + 50 fits: cheap should be eligible: $RESP_BODY"
[ "$(pq -Atc "SELECT count(*), coalesce(sum(amount),0) FROM channel_daily_usage")" = "$rows0" ] ||
	fail "explain must not reserve anything"
pass "daily amount limit against today's usage in the store (as of $(json .usage.as_of)); nothing reserved"

send POST /admin/v1/whitelist '{"kind": "buyer_id", "value": "b-vip", "channel": "vip", "note": "gray release"}'
expect_code 201 "whitelist buyer"
explain "{$BASE, \"buyer_id\": \"b-vip\", \"at\": \"2026-11-25T12:00:00+08:00\"}"
[ "$(json .chosen)" = vip ] || fail "whitelisted buyer: expected vip despite its fee: $RESP_BODY"
[ "$(json .whitelist.channel)" = vip ] || fail "the whitelist entry should be named: $RESP_BODY"
pass "a whitelisted buyer reaches the whitelist_only channel and beats a better score"

# a card number that passes the Luhn check
CARD=$(python3 -c "
s='622202020011223344'
t=sum((int(d)*2-9 if int(d)*2>9 else int(d)*2) if i%2==0 else int(d) for i,d in enumerate(reversed(s)))
print(s+str((10-t%10)%10))")
send POST /admin/v1/whitelist "{\"kind\": \"card_no\", \"value\": \"$CARD\", \"channel\": \"dear\"}"
expect_code 201 "whitelist card"
explain "{$BASE, \"card_no\": \"$CARD\", \"at\": \"2026-11-25T12:00:00+08:00\"}"
[ "$(json .chosen)" = dear ] || fail "whitelisted card: expected dear: $RESP_BODY"
case $RESP_BODY in *"$CARD"* | *"${CARD:0:12}"*) fail "the card number appears in the answer" ;; esac
hmac=$(pq -Atc "SELECT value FROM whitelist WHERE kind = 'card_no'")
case $RESP_BODY in *"$hmac"*) fail "the card's HMAC appears in the answer" ;; esac
grep -q "${CARD:0:12}" "$LOG_FILE" && fail "the card number appears in the log"
pass "a whitelisted card (matched by HMAC) wins; neither the card nor its HMAC is shown or logged"

# The entry matches, but its channel is dropped: explain names the entry
# and why (it said "no entry matched").
send POST /admin/v1/channels/dear/status '{"status": "offline"}'
expect_code 200 "dear offline"
explain "{$BASE, \"card_no\": \"$CARD\", \"at\": \"2026-11-25T12:00:00+08:00\"}"
[ "$(json .whitelist)" = null ] && [ "$(json .chosen)" != dear ] &&
	[ "$(json '.whitelist_unused | length')" = 1 ] &&
	[ "$(json '.whitelist_unused[0] | [.kind, .channel, .dropped_by] | join(",")')" = card_no,dear,status ] ||
	fail "a matching entry whose channel is offline: $RESP_BODY"
case $RESP_BODY in *"$hmac"*) fail "the card's HMAC appears in whitelist_unused" ;; esac
unused=$(json '.whitelist_unused[0] | tojson')
send POST /admin/v1/channels/dear/status '{"status": "online"}'
expect_code 200 "dear online"
pass "an entry that matched but whose channel was dropped is named, with the filter: $unused"

explain '{"amount": 100, "currency": "CNY", "method": "wechat_pay", "environment": "h5"}'
expect_code 200 "nobody takes wechat_pay"
[ "$(json .chosen)" = null ] || fail "wechat_pay: nothing should be chosen"
[ "$(json '[.candidates[].dropped_by] | unique | join(",")')" = method ] ||
	fail "wechat_pay: every channel dropped by method: $RESP_BODY"
pass "an empty result lists every channel with its reason"

explain '{"amount": "100", "currency": "CNY", "method": "alipay"}'
expect_code 400 "amount as a string"
[ "$(json .error.field)" = amount ] || fail "400 should name amount: $RESP_BODY"
explain '{"amount": 100, "currency": "CNY", "method": "alipay", "at": "soon"}'
[ "$(json .error.field)" = at ] || fail "400 should name at: $RESP_BODY"
http POST "http://127.0.0.1:$ADMIN_PORT/admin/v1/route/explain" \
	-H "Authorization: Bearer $TOKEN" --data-binary '{}'
expect_code 415 "no Content-Type"
http POST "http://127.0.0.1:$ADMIN_PORT/admin/v1/route/explain" --data-binary '{}' \
	-H 'Content-Type: application/json'
expect_code 401 "no token"
http GET "http://127.0.0.1:$ADMIN_PORT/admin/v1/route/explain" -H "Authorization: Bearer $TOKEN"
expect_code 405 "GET explain"
pass "bad input: 400 naming the field, 415, 401, 405"

pg_stop
explain "{$BASE}"
expect_code 503 "explain while the store is down"
[ "$(json .error.code)" = store_unavailable ] || fail "503 should say store_unavailable: $RESP_BODY"
pass "store down: 503 store_unavailable"
daemon_stop
