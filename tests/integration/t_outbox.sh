#!/usr/bin/env bash
# t_outbox.sh - merchants and merchant notifications against a real
# PostgreSQL, with the simulator's merchant sink (contrib/paysim:
# POST /_sim/sink/NAME records, /_sim/sink_script makes the next N fail)
# standing in for the merchants' notify_url:
#   - the merchants admin API: create (key and secret shown once), read
#     (never shown), bad input (400 naming the field), duplicate (409),
#     PATCH, key and secret rotation, audit records without secrets;
#   - merchant API authentication (GET /v1/payments/ID: 401 without or with
#     a bad key, 403 for a disabled merchant, past authentication with a
#     good one; the old key stops working at rotation);
#   - delivery of a queued notification, its headers and its signature
#     (recomputed here with openssl), retries after 500s and a time-out,
#     abandonment after notify.give_up_seconds, a refused URL scheme;
#   - the notifications admin API: list with filters, one with its body,
#     retry (audited; a re-queued notification gets a new give-up window);
#   - two daemons on one database deliver each notification once; a
#     daemon stopped during a delivery leaves the row claimed, and it is
#     delivered by the other once the lease ends.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools openssl python3

pg_start

# ------------------------------------------------------------ the sink
sim_start
http GET "$SIM/_sim/sink/probe"
[ "$RESP_CODE" = 200 ] && [ "$(json .count)" = 0 ] ||
	fail "paysim has no merchant sink (GET /_sim/sink/probe: $RESP_CODE $RESP_BODY)"
pass "paysim (merchant sink) on 127.0.0.1:$SPORT"

# sink NAME: RESP_BODY = what the sink NAME received.
sink() {
	http GET "$SIM/_sim/sink/$1"
	expect_code 200 "GET /_sim/sink/$1"
}
# sink_script NAME FAIL STATUS [DELAY_MS]
sink_script() {
	http POST "$SIM/_sim/sink_script" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\",\"fail\":$2,\"status\":$3,\"delay_ms\":${4:-0}}"
	expect_code 200 "POST /_sim/sink_script $1"
}

# ------------------------------------------------------------ daemon
new_instance a
SERVER_EXTRA=', "instance": "obx-a"'
TOP_EXTRA=',
	"notify": { "schedule": "1s,2s", "interval_ms": 200, "batch": 8,
		"timeout_ms": 1000, "give_up_seconds": 60 }'
write_conf
daemon_start
wait_ready
A_LOG=$LOG_FILE A_PID=$DAEMON_PID

# expect_invalid CODE FIELD WHAT: status CODE, error invalid_field on FIELD.
expect_invalid() {
	expect_code "$1" "$3"
	[ "$(json .error.code)" = invalid_field ] && [ "$(json .error.field)" = "$2" ] ||
		fail "$3: expected invalid_field on $2, got $RESP_BODY"
}
sha256_hex() { printf '%s' "$1" | openssl dgst -sha256 | sed 's/^.*= //'; }

# ------------------------------------------------------------ merchants
send POST /admin/v1/merchants '{"id":"shop-1","name":"Shop One"}' \
	-H 'X-Payroute-Note: onboarding'
expect_code 201 "create merchant"
KEY1=$(json .api_key)
SECRET1=$(json .notify_secret)
[[ $KEY1 =~ ^prk_[0-9a-f]{64}$ ]] || fail "api_key shape: $KEY1"
[[ $SECRET1 =~ ^prn_[0-9a-f]{64}$ ]] || fail "notify_secret shape"
[ "$(json .api_key_prefix)" = "${KEY1:0:12}" ] || fail "api_key_prefix is not the key's first 12 characters: $RESP_BODY"
[ "$(json '.locale + " " + .status + " " + .name + " " + .id')" = "zh-CN active Shop One shop-1" ] ||
	fail "create answer: $RESP_BODY"
[ -n "$(json .created_at)" ] || fail "no created_at: $RESP_BODY"
[ "$(pq -c "SELECT api_key_hash FROM merchants WHERE id = 'shop-1'")" = "$(sha256_hex "$KEY1")" ] ||
	fail "api_key_hash is not the key's SHA-256"
pass "POST /admin/v1/merchants: 201 with a prk_ key (stored as SHA-256) and a prn_ secret"

admin_get /admin/v1/merchants/shop-1
expect_code 200 "GET merchant"
[ "$(json 'has("api_key") or has("notify_secret") or has("api_key_hash")')" = false ] ||
	fail "GET shows a secret: $RESP_BODY"
[ "$(json .api_key_prefix)" = "${KEY1:0:12}" ] || fail "GET: prefix: $RESP_BODY"
admin_get /admin/v1/merchants
expect_code 200 "list merchants"
[ "$(json '(.merchants | map(.id) | join(",")) + " " + (.next_cursor | tostring)')" = "shop-1 null" ] ||
	fail "list: $RESP_BODY"
case $RESP_BODY in *"${KEY1:4}"* | *"${SECRET1:4}"* | *api_key_hash*) fail "the list shows a secret" ;; esac
admin_get /admin/v1/merchants/nobody
expect_code 404 "GET unknown merchant"
pass "GET never shows the key or the secret"

send POST /admin/v1/merchants '{"id":"Bad!","name":"x"}'
expect_invalid 400 id "bad id"
send POST /admin/v1/merchants '{"id":"-x","name":"x"}'
expect_invalid 400 id "id starting with -"
send POST /admin/v1/merchants '{"name":"x"}'
expect_invalid 400 id "missing id"
send POST /admin/v1/merchants '{"id":"shop-2","locale":"fr"}'
expect_invalid 400 locale "bad locale"
send POST /admin/v1/merchants '{"id":"shop-2","name":5}'
expect_invalid 400 name "name not a string"
send POST /admin/v1/merchants '{"id":"shop-2","status":"active"}'
expect_invalid 400 status "status at creation"
send POST /admin/v1/merchants '{"id":"shop-1","name":"again"}'
expect_code 409 "duplicate merchant"
[ "$(json .error.code)" = conflict ] || fail "duplicate: $RESP_BODY"
admin_post /admin/v1/merchants -H 'Content-Type: text/plain' -d 'x'
expect_code 415 "not JSON"
[ "$(pq -c "SELECT count(*) FROM merchants")" = 1 ] || fail "a refused create wrote something"
pass "bad input: 400 invalid_field naming the field; duplicate: 409"

send PATCH /admin/v1/merchants/shop-1 '{"name":"Shop 1","locale":"en"}'
expect_code 200 "PATCH merchant"
[ "$(json '.name + " " + .locale + " " + .status')" = "Shop 1 en active" ] || fail "PATCH: $RESP_BODY"
[ "$(json 'has("api_key")')" = false ] || fail "PATCH shows the key"
send PATCH /admin/v1/merchants/shop-1 '{"status":"paused"}'
expect_invalid 400 status "bad status"
send PATCH /admin/v1/merchants/shop-1 '{"api_key_prefix":"x"}'
expect_invalid 400 api_key_prefix "PATCH of a read-only field"
send PATCH /admin/v1/merchants/nobody '{"name":"x"}'
expect_code 404 "PATCH unknown merchant"
pass "PATCH /admin/v1/merchants/ID: name, locale; bad status 400; unknown 404"

# The list in pages (keyset on the id): 105 merchants made in the store
# (not through the API: the audit checks below count the API's creates;
# they stay, as merchants are never deleted).
# A page is 100 by default; each cursor is the page's last id; a merchant
# made before a cursor does not shift the pages after it.
pq -c "INSERT INTO merchants (id, name, api_key_prefix, api_key_hash, notify_secret)
	SELECT 'pg-' || lpad(i::text, 3, '0'), 'Paging Shop ' || i, 'prk_pg' || i,
	encode(sha256(('pg' || i)::bytea), 'hex'), repeat('s', 32)
	FROM generate_series(1, 105) i" >/dev/null
admin_get /admin/v1/merchants
expect_code 200 "list merchants, first page"
[ "$(json '[(.merchants | length), .next_cursor, .merchants[0].id] | join(",")')" = 100,pg-100,pg-001 ] ||
	fail "first page: 100 from pg-001, cursor pg-100: $(json '[(.merchants | length), .next_cursor] | tostring')"
admin_get '/admin/v1/merchants?cursor=pg-100'
[ "$(json '(.merchants | map(.id) | join(",")) + " " + (.next_cursor | tostring)')" = "pg-101,pg-102,pg-103,pg-104,pg-105,shop-1 null" ] ||
	fail "last page: $RESP_BODY"
admin_get '/admin/v1/merchants?q=pg-&limit=2'
[ "$(json '(.merchants | map(.id) | join(",")) + " " + .next_cursor')" = "pg-001,pg-002 pg-002" ] ||
	fail "q and limit: $RESP_BODY"
pq -c "INSERT INTO merchants (id, api_key_prefix, api_key_hash, notify_secret)
	VALUES ('pg-0015', 'prk_pgx', repeat('1', 64), repeat('s', 32))" >/dev/null
admin_get '/admin/v1/merchants?q=pg-&limit=2&cursor=pg-002'
[ "$(json '.merchants | map(.id) | join(",")')" = pg-003,pg-004 ] ||
	fail "a merchant made before the cursor shifted the next page: $RESP_BODY"
pq -c "UPDATE merchants SET status = 'disabled' WHERE id IN ('pg-007', 'pg-050')" >/dev/null
admin_get '/admin/v1/merchants?status=disabled&q=PAGING%20shop'
[ "$(json '(.merchants | map(.id) | join(",")) + " " + (.next_cursor | tostring)')" = "pg-007,pg-050 null" ] ||
	fail "status, and q on the name ignoring case: $RESP_BODY"
admin_get '/admin/v1/merchants?q=%E5%95%86%E6%88%B7'
[ "$(json '.merchants | length')" = 0 ] || fail "q matched nothing yet answered: $RESP_BODY"
for bad in 'limit=0 limit' 'limit=1001 limit' 'limit=x limit' 'limit=99999999999999999999 limit' \
	'cursor=Bad! cursor' 'cursor= cursor' 'status=paused status' 'q= q' 'q=%01 q' \
	"q=$(printf 'a%.0s' $(seq 65)) q" 'limit=1&limit=2 limit' 'offset=5 offset'; do
	admin_get "/admin/v1/merchants?${bad% *}"
	expect_invalid 400 "${bad#* }" "list merchants ?${bad% *}"
done
grep -q 'merchants: a list refused: offset: unknown parameter' "$A_LOG" ||
	fail "the refused list parameter is not in the log"
pass "GET /admin/v1/merchants: pages of 100 by default (limit 1 to 1000), keyset cursors that nothing created meanwhile shifts, q on id and name, status; a bad parameter is a 400 naming it"

# ------------------------------------------------------------ authentication
mget() { # PATH [KEY]
	if [ -n "${2:-}" ]; then
		http GET "http://127.0.0.1:$MERCHANT_PORT$1" -H "Authorization: Bearer $2"
	else
		http GET "http://127.0.0.1:$MERCHANT_PORT$1"
	fi
}
authed() { # WHAT: past authentication (the payment does not exist)
	[ "$RESP_CODE" != 401 ] && [ "$RESP_CODE" != 403 ] &&
		[ "$RESP_CODE" != 503 ] && [ "$RESP_CODE" != 000 ] ||
		fail "$1: expected to pass authentication, got $RESP_CODE $RESP_BODY"
}
mget /v1/payments/nosuchpayment01
expect_code 401 "no API key"
[ "$(json .error.code)" = unauthorized ] || fail "no key: $RESP_BODY"
mget /v1/payments/nosuchpayment01 "prk_123"
expect_code 401 "malformed API key"
mget /v1/payments/nosuchpayment01 "prk_$(printf '%064d' 0)"
expect_code 401 "unknown API key"
mget /v1/payments/nosuchpayment01 "$KEY1"
authed "a good API key"
grep -q -- "${KEY1:4}" "$LOG_FILE" && fail "the API key is in the log"

admin_post /admin/v1/merchants/shop-1/keys
expect_code 200 "rotate the API key"
KEY2=$(json .api_key)
[[ $KEY2 =~ ^prk_[0-9a-f]{64}$ ]] && [ "$KEY2" != "$KEY1" ] || fail "rotation: $RESP_BODY"
[ "$(json .api_key_prefix)" = "${KEY2:0:12}" ] || fail "rotation: prefix: $RESP_BODY"
[ "$(json 'has("notify_secret")')" = false ] || fail "key rotation shows the notify secret"
mget /v1/payments/nosuchpayment01 "$KEY1"
expect_code 401 "the old key after rotation"
mget /v1/payments/nosuchpayment01 "$KEY2"
authed "the new key"
admin_get /admin/v1/merchants/shop-1/keys
expect_code 405 "GET .../keys"

send PATCH /admin/v1/merchants/shop-1 '{"status":"disabled"}'
expect_code 200 "disable merchant"
mget /v1/payments/nosuchpayment01 "$KEY2"
expect_code 403 "disabled merchant"
[ "$(json .error.code)" = merchant_disabled ] || fail "disabled: $RESP_BODY"
send PATCH /admin/v1/merchants/shop-1 '{"status":"active"}'
expect_code 200 "enable merchant"
mget /v1/payments/nosuchpayment01 "$KEY2"
authed "re-enabled merchant"
pass "merchant API: 401 without/with a bad or rotated key, 403 disabled, past auth with the key"

admin_post /admin/v1/merchants/shop-1/notify-secret
expect_code 200 "rotate the notify secret"
SECRET=$(json .notify_secret)
[[ $SECRET =~ ^prn_[0-9a-f]{64}$ ]] && [ "$SECRET" != "$SECRET1" ] || fail "secret rotation: $RESP_BODY"
[ "$(json 'has("api_key")')" = false ] || fail "secret rotation shows an API key"
admin_post /admin/v1/merchants/nobody/notify-secret
expect_code 404 "rotate unknown merchant"

# Every write audited, actor and note kept, no secret in any image.
AUD=$(pq -c "SELECT string_agg(action || ':' || actor, ',' ORDER BY id) FROM audit_log WHERE object_kind = 'merchant' AND object_id = 'shop-1'")
[ "$AUD" = "create:admin,update:admin,rotate_key:admin,update:admin,update:admin,rotate_notify_secret:admin" ] ||
	fail "merchant audit records: $AUD"
[ "$(pq -c "SELECT note FROM audit_log WHERE object_kind = 'merchant' AND action = 'create'")" = onboarding ] ||
	fail "audit note"
[ "$(pq -c "SELECT after->>'api_key_prefix' FROM audit_log WHERE action = 'rotate_key'")" = "${KEY2:0:12}" ] ||
	fail "rotate_key audit: the new prefix"
for s in "${KEY1:4}" "${KEY2:4}" "${SECRET1:4}" "${SECRET:4}" "$(sha256_hex "$KEY2")"; do
	n=$(pq -c "SELECT count(*) FROM audit_log WHERE coalesce(before::text, '') || coalesce(after::text, '') LIKE '%$s%'")
	[ "$n" = 0 ] || fail "a key, hash or secret is in audit_log"
done
pass "every merchant write audited (actor, note), never a key or secret"

send POST /admin/v1/merchants '{"id":"shop-2","name":"Two","locale":"en"}'
expect_code 201 "second merchant"
[ "$(json .locale)" = en ] || fail "locale en: $RESP_BODY"

# ------------------------------------------------------------ delivery
# queue NAME ORDER URL [CREATED_AGO_S]: inserts a notification as the
# payment flow would; sets NID.
queue() {
	local body="{\"event\":\"payment.succeeded\",\"payment\":{\"id\":\"$2\",\"amount\":100,\"currency\":\"CNY\",\"subject\":\"caf\u00e9 \\\"x\\\"\"}}"
	NID=$(pq -v body="$body" -v url="$3" -v ord="$2" -v ago="${4:-0}" <<'EOF'
INSERT INTO merchant_notifications (merchant_id, kind, order_id, event, url,
	body, created_at)
VALUES ('shop-1', 'payment', :'ord', 'payment.succeeded', :'url', :'body',
	now() - make_interval(secs => :'ago'))
RETURNING id;
EOF
)
	case $NID in '' | *[!0-9]*) fail "cannot queue a notification: $NID" ;; esac
}
# wait_state ID STATE [SECS]
wait_state() {
	local i st

	for i in $(seq $((${3:-10} * 5))); do
		st=$(pq -c "SELECT state FROM merchant_notifications WHERE id = $1")
		[ "$st" = "$2" ] && return 0
		sleep 0.2
	done
	fail "notification $1: state $st, expected $2 within ${3:-10}s ($(pq -c "SELECT attempts, last_status, last_error FROM merchant_notifications WHERE id = $1"))"
}
# check_signature JSON_RECORD: the record's Payroute-Signature verifies.
check_signature() {
	local rec=$1 sig t v1 body mac

	sig=$(printf '%s' "$rec" | jq -r '.headers["Payroute-Signature"]')
	t=$(printf '%s' "$rec" | jq -r '.headers["Payroute-Timestamp"]')
	[[ $sig =~ ^t=([0-9]+),v1=([0-9a-f]{64})$ ]] || fail "Payroute-Signature: $sig"
	[ "${BASH_REMATCH[1]}" = "$t" ] || fail "t= ($sig) is not Payroute-Timestamp ($t)"
	v1=${BASH_REMATCH[2]}
	body=$(printf '%s' "$rec" | jq -j .body; printf x)
	body=${body%x}
	mac=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.*= //')
	[ "$mac" = "$v1" ] || fail "signature does not verify: v1=$v1, HMAC over \"$t.<body>\" = $mac"
	now=$(date +%s)
	[ $((now - t)) -le 300 ] && [ $((t - now)) -le 300 ] || fail "timestamp $t is not now ($now)"
}

queue s1 pay00000001 "$SIM/_sim/sink/s1"
N1=$NID
wait_state "$N1" delivered
sink s1
[ "$(json .count)" = 1 ] || fail "sink s1: $RESP_BODY"
REC=$(json '.received[0]')
H() { printf '%s' "$REC" | jq -r ".headers[\"$1\"]"; }
[ "$(H Payroute-Event)" = payment.succeeded ] || fail "Payroute-Event: $REC"
[ "$(H Payroute-Notification-Id)" = "$N1" ] || fail "Payroute-Notification-Id: $REC"
case $(H Content-Type) in application/json*) ;; *) fail "Content-Type: $REC" ;; esac
[ "$(printf '%s' "$REC" | jq -j .body)" = "$(pq -c "SELECT body FROM merchant_notifications WHERE id = $N1")" ] ||
	fail "the body sent is not the stored body"
check_signature "$REC"
[ "$(pq -c "SELECT attempts || ' ' || last_status || ' ' || (delivered_at IS NOT NULL) || ' ' || coalesce(claimed_by, '-') FROM merchant_notifications WHERE id = $N1")" = "1 200 true -" ] ||
	fail "delivered row: $(pq -c "SELECT * FROM merchant_notifications WHERE id = $N1")"
pass "a queued notification is POSTed once, signed (HMAC-SHA256 over t.body verifies), marked delivered"

# Two 500s, then 200: three attempts, at least the schedule apart.
sink_script s2 2 500
queue s2 pay00000002 "$SIM/_sim/sink/s2"
N2=$NID
wait_state "$N2" delivered 15
sink s2
[ "$(json '[.received[].status_answered] | join(",")')" = "500,500,200" ] || fail "sink s2: $RESP_BODY"
GAP1=$(json '.received[1].at_ms - .received[0].at_ms')
GAP2=$(json '.received[2].at_ms - .received[1].at_ms')
[ "$GAP1" -ge 900 ] && [ "$GAP2" -ge 1900 ] || fail "attempts not spaced by the schedule 1s,2s: ${GAP1}ms, ${GAP2}ms"
for i in 0 1 2; do
	REC=$(json ".received[$i]")
	check_signature "$REC"
done
[ "$(pq -c "SELECT attempts || ' ' || last_status FROM merchant_notifications WHERE id = $N2")" = "3 200" ] ||
	fail "retried row: $(pq -c "SELECT * FROM merchant_notifications WHERE id = $N2")"
wait_log "notification $N2 .*attempt 1 failed \(HTTP 500" 1 || fail "no log line for the failed attempt"
pass "failures are retried on the schedule (1s, then 2s), each attempt signed anew"

# No answer within notify.timeout_ms: a failed attempt, then delivered.
sink_script s3 1 0 3000
queue s3 pay00000003 "$SIM/_sim/sink/s3"
N3=$NID
wait_state "$N3" delivered 15
[ "$(pq -c "SELECT attempts FROM merchant_notifications WHERE id = $N3")" = 2 ] || fail "time-out row"
wait_log "notification $N3 .*attempt 1 failed \(.*(imed out|imeout)" 1 || fail "no time-out in the log: $(grep "notification $N3 " "$LOG_FILE")"
pass "a time-out (notify.timeout_ms) is a failed attempt"

# Older than notify.give_up_seconds and failing: abandoned at once.
sink_script s4 100 503
queue s4 pay00000004 "$SIM/_sim/sink/s4" 120
N4=$NID
wait_state "$N4" abandoned
[ "$(pq -c "SELECT attempts || ' ' || last_status || ' ' || (last_error LIKE 'HTTP 503: %scripted failure%') FROM merchant_notifications WHERE id = $N4")" = "1 503 true" ] ||
	fail "abandoned row: $(pq -c "SELECT attempts, last_status, last_error FROM merchant_notifications WHERE id = $N4")"
wait_log "outbox: notification $N4 \(payment pay00000004, payment.succeeded\) to $SIM/_sim/sink/s4 abandoned" 2 ||
	fail "no warning naming id, order and url"

queue s5 pay00000005 "ftp://127.0.0.1/x"
N5=$NID
wait_state "$N5" abandoned
[ "$(pq -c "SELECT attempts || ' ' || coalesce(last_status::text, 'null') || ' ' || last_error FROM merchant_notifications WHERE id = $N5")" = "1 null refused URL: only http:// and https:// are sent to" ] ||
	fail "refused URL row: $(pq -c "SELECT attempts, last_status, last_error FROM merchant_notifications WHERE id = $N5")"
pass "abandoned after notify.give_up_seconds (warning with id, order, url); a non-http(s) URL is abandoned unsent"

# ------------------------------------------------------------ admin API
admin_get "/admin/v1/notifications?state=abandoned"
expect_code 200 "list abandoned"
[ "$(json '[.notifications[].id] | join(",")')" = "$N5,$N4" ] || fail "abandoned list: $RESP_BODY"
[ "$(json '.notifications[0] | has("body")')" = false ] || fail "the list carries bodies"
admin_get "/admin/v1/notifications?order_id=pay00000002"
[ "$(json '.notifications | length')" = 1 ] && [ "$(json '.notifications[0].attempts')" = 3 ] ||
	fail "order_id filter: $RESP_BODY"
admin_get "/admin/v1/notifications?merchant_id=shop-2"
[ "$(json '.notifications | length')" = 0 ] || fail "merchant_id filter: $RESP_BODY"
admin_get "/admin/v1/notifications?limit=2"
[ "$(json '.notifications | length')" = 2 ] || fail "limit: $RESP_BODY"
admin_get "/admin/v1/notifications?state=lost"
expect_invalid 400 state "bad state"
admin_get "/admin/v1/notifications?limit=0"
expect_invalid 400 limit "bad limit"
admin_get "/admin/v1/notifications/$N1"
expect_code 200 "GET one notification"
[ "$(json '.state + " " + .event + " " + (.body | fromjson | .payment.id)')" = "delivered payment.succeeded pay00000001" ] ||
	fail "GET one: $RESP_BODY"
admin_get /admin/v1/notifications/99999999
expect_code 404 "GET unknown notification"
pass "GET /admin/v1/notifications: state, order_id, merchant_id, limit; one with its body"

# Retry an abandoned one whose URL works again: delivered.
sink_script s4 0 500
admin_post "/admin/v1/notifications/$N4/retry" \
	-H 'X-Payroute-Note: merchant fixed their endpoint'
expect_code 200 "retry"
[ "$(json '.state + " " + (.attempts | tostring)')" = "pending 0" ] || fail "retry answer: $RESP_BODY"
wait_state "$N4" delivered
[ "$(pq -c "SELECT actor || ' ' || (before->>'state') || ' ' || (after->>'state') || ' ' || note FROM audit_log WHERE object_kind = 'notification' AND object_id = '$N4' AND action = 'retry'")" = "admin abandoned pending merchant fixed their endpoint" ] ||
	fail "retry audit record"
admin_post "/admin/v1/notifications/$N4/retry"
expect_code 409 "retry a delivered notification"
admin_post /admin/v1/notifications/99999999/retry
expect_code 404 "retry unknown"
admin_get "/admin/v1/notifications/$N4/retry"
expect_code 405 "GET .../retry"

# A re-queued notification gets a new give-up window: its next failure
# is retried, not abandoned at once.
sink_script s6 100 500
queue s6 pay00000006 "$SIM/_sim/sink/s6" 120
N6=$NID
wait_state "$N6" abandoned
admin_post "/admin/v1/notifications/$N6/retry"
expect_code 200 "retry a failing one"
for i in $(seq 50); do
	[ "$(pq -c "SELECT attempts FROM merchant_notifications WHERE id = $N6")" -ge 1 ] && break
	sleep 0.2
done
[ "$(pq -c "SELECT state || ' ' || attempts FROM merchant_notifications WHERE id = $N6")" = "pending 1" ] ||
	fail "after a retry the give-up window restarts: $(pq -c "SELECT state, attempts FROM merchant_notifications WHERE id = $N6")"
pq -c "UPDATE merchant_notifications SET state = 'abandoned' WHERE id = $N6" >/dev/null
pass "POST /admin/v1/notifications/ID/retry: re-queued, delivered, audited; 409 delivered, 404 unknown"

http GET "http://127.0.0.1:$ADMIN_PORT/metrics"
if grep <<<"$RESP_BODY" -q '^payroute_notifications_total'; then
	D=$(printf '%s\n' "$RESP_BODY" | sed -n 's/^payroute_notifications_total{result="delivered"} //p')
	F=$(printf '%s\n' "$RESP_BODY" | sed -n 's/^payroute_notifications_total{result="failed"} //p')
	AB=$(printf '%s\n' "$RESP_BODY" | sed -n 's/^payroute_notifications_abandoned_total //p')
	[ "$D" = 4 ] && [ "$F" -ge 7 ] && [ "$AB" = 3 ] || fail "metrics: delivered $D failed $F abandoned $AB"
	pass "/metrics counts delivered ($D), failed attempts ($F), abandoned ($AB)"
else
	say "note: /metrics has no payroute_notifications_* lines (not wired)"
fi

# ------------------------------------------------------------ two daemons
new_instance b
SERVER_EXTRA=', "instance": "obx-b"'
TOP_EXTRA=',
	"notify": { "schedule": "1s", "interval_ms": 100, "batch": 4,
		"timeout_ms": 1000, "give_up_seconds": 60 }'
write_conf
daemon_start
wait_ready
B_PID=$DAEMON_PID
for i in $(seq 30); do
	queue s7 "multi$i" "$SIM/_sim/sink/s7"
done
for i in $(seq 100); do
	[ "$(pq -c "SELECT count(*) FROM merchant_notifications WHERE order_id LIKE 'multi%' AND state = 'delivered'")" = 30 ] && break
	sleep 0.2
done
sink s7
[ "$(json .count)" = 30 ] || fail "30 notifications, two daemons: the sink got $(json .count)"
[ "$(json '[.received[].headers["Payroute-Notification-Id"]] | unique | length')" = 30 ] ||
	fail "a notification was sent twice"
# recorded whole, several to a statement when they come together
[ "$(pq -c "SELECT count(*) FROM merchant_notifications WHERE order_id LIKE 'multi%' AND state = 'delivered' AND attempts = 1 AND last_status = 200 AND delivered_at IS NOT NULL AND claimed_by IS NULL AND body IS NOT NULL")" = 30 ] ||
	fail "the 30 delivered rows: $(pq -c "SELECT id, state, attempts, last_status, claimed_by FROM merchant_notifications WHERE order_id LIKE 'multi%'")"
pass "two daemons on one database: 30 notifications, each delivered exactly once"

# Stop daemon a while it waits for an answer: the row stays claimed by
# obx-a; when its lease ends (forced here) daemon b delivers it.
kill -STOP "$B_PID"
sink_script s8 1 200 4000
queue s8 pay00000008 "$SIM/_sim/sink/s8"
N8=$NID
for i in $(seq 50); do
	sink s8
	[ "$(json .count)" = 1 ] && break
	sleep 0.1
done
[ "$(json .count)" = 1 ] || fail "the slow delivery did not start"
kill -CONT "$B_PID"
[ "$(pq -c "SELECT claimed_by FROM merchant_notifications WHERE id = $N8")" = obx-a ] ||
	fail "claimed_by: $(pq -c "SELECT claimed_by FROM merchant_notifications WHERE id = $N8")"
daemon_stop "$A_PID"
[ "$(pq -c "SELECT state || ' ' || claimed_by || ' ' || (next_at > now() + interval '20 seconds') FROM merchant_notifications WHERE id = $N8")" = "pending obx-a true" ] ||
	fail "after stopping a: $(pq -c "SELECT state, claimed_by, next_at - now() FROM merchant_notifications WHERE id = $N8")"
grep -q "deliveries in flight dropped" "$A_LOG" || fail "no log line for the dropped delivery"
pq -c "UPDATE merchant_notifications SET next_at = now() WHERE id = $N8" >/dev/null
wait_state "$N8" delivered
sink s8
[ "$(json .count)" = 2 ] || fail "s8: $RESP_BODY"
pass "stopped during a delivery: the row stays claimed for the lease, then another daemon delivers it"

daemon_stop "$B_PID"
pass "done"
exit 0
