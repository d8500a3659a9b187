#!/usr/bin/env bash
# t_notify_guard.sh - notify_url is not a way into the operator's network
# (issue 12, item 10): with notify.allow_private empty (the default),
#   - a payment, refund or withdrawal whose notify_url is a loopback,
#     private, CGNAT, link-local, unique local, multicast or unspecified
#     address (in any spelling: 127.1, 2130706433, [::ffff:127.0.0.1]) or
#     a name under localhost is a 400 naming notify_url, nothing stored;
#   - a queued notification to such an address, or to a name that
#     resolves to one, is abandoned with last_error "refused: ... (never
#     connected)", and nothing connects: a TCP listener on 127.0.0.1
#     standing in for an internal service records every connection;
#   - the issue's attack, a notification POSTed to the admin listener's
#     /admin/v1/reload, is refused at both points, even with loopback
#     allowed (the daemon's own listeners never are);
# and with loopback allowed (the other tests' configs), the paysim sink on
# 127.0.0.1 gets its notification.
#
# Only 127.0.0.1 is ever connected to; the private addresses below are
# refused before any connection (a failure of the guard shows as a
# connection to the 127.0.0.1 listener, or a delivery to the sink).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
command -v python3 >/dev/null || skip "python3 not found"
pg_start
sim_start

# ------------------------------------------------ the internal service
# A TCP listener that records each connection (one line per accept).
free_port
LPORT=$PORT
CONNS=$TEST_DIR/connections
: >"$CONNS"
python3 - "$LPORT" "$CONNS" <<'PY' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    c, a = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("%s:%d\n" % a)
    c.close()
PY
BG_PIDS+=($!)
for i in $(seq 50); do
	_port_listening "$LPORT" && break
	sleep 0.1
done
_port_listening "$LPORT" || fail "the recording listener did not start"
no_connection() { # WHAT
	[ ! -s "$CONNS" ] || fail "$1: something connected to the internal service: $(cat "$CONNS")"
}

KEYFILE=$TEST_DIR/secrets.key
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$KEYFILE"

# ------------------------------------------------ strict: the default
new_instance strict
install_drivers "$DRIVER_DIR" alipay
NOTIFY_ALLOW=""
TOP_EXTRA=',
	"secrets": { "key_file": "'"$KEYFILE"'" },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
write_conf
jq -e '.notify | has("allow_private") | not' "$CONF" >/dev/null ||
	fail "the strict config has notify.allow_private"
daemon_start
wait_ready
add_channel "$(chan ali alipay alipay native_qr 50)"
merchant_create m1
current_generation
GEN0=$GEN

body() { # NO URL
	jq -cn --arg no "$1" --arg url "$2" '{merchant_order_no:$no, amount:100,
		currency:"CNY", method:"alipay", environment:"native_qr",
		subject:"guard", notify_url:$url}'
}
n_pay=$(pq -c "SELECT count(*) FROM payments")
for url in "http://127.0.0.1:$LPORT/n" "http://127.1:$LPORT/n" \
	"http://2130706433:$LPORT/n" "http://0x7f.0.0.1:$LPORT/" \
	"http://[::1]:$LPORT/n" "http://[::ffff:127.0.0.1]:$LPORT/n" \
	"http://localhost:$LPORT/n" "http://app.localhost/n" \
	"http://10.0.0.1/n" "http://172.16.5.4/n" "http://192.168.1.1/n" \
	"http://100.64.0.1/n" "http://169.254.169.254/latest/meta-data/" \
	"http://[fc00::1]/n" "http://[fe80::1]/n" "http://224.0.0.1/n" \
	"http://0.0.0.0:$LPORT/n" "http://[::]/n" \
	"http://127.0.0.1:$ADMIN_PORT/admin/v1/reload" \
	"http://user@127.0.0.1:$MERCHANT_PORT/v1/payments"; do
	pay "$(body g-1 "$url")"
	expect_code 400 "notify_url $url"
	[ "$(json .error.field)" = notify_url ] && [ "$(json .error.code)" = invalid_field ] ||
		fail "notify_url $url: $RESP_BODY"
done
[ "$(pq -c "SELECT count(*) FROM payments")" = "$n_pay" ] || fail "a refused payment was stored"
pay "$(body g-admin "http://127.0.0.1:$ADMIN_PORT/admin/v1/reload")"
json .error.message | grep -q "own listen.admin" || fail "the admin listener is not named: $RESP_BODY"
pass "payments: 20 notify_urls to internal addresses (every spelling) and the daemon's own listeners: 400 notify_url, nothing stored"

# a public name is kept (judged at delivery: nothing is resolved now)
pay "$(body g-ok "https://merchant.example/notify")"
expect_code 201 "a public name"
PID=$(json .id)
sim_pay alipay "$PID"
wait_pay "$PID" succeeded

# refunds and withdrawals refuse the same
_mcall POST "/v1/payments/$PID/refunds" '{"merchant_refund_no":"gr-1","amount":10,"stage":"pre_delivery","notify_url":"http://10.0.0.1/n"}'
expect_code 400 "refund notify_url 10.0.0.1"
[ "$(json .error.field)" = notify_url ] || fail "refund: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM refunds")" = 0 ] || fail "a refused refund was stored"
_mcall POST /v1/withdrawals "{\"merchant_withdrawal_no\":\"gw-1\",\"amount\":100,\"currency\":\"CNY\",\"notify_url\":\"http://[::1]:$LPORT/n\",\"payee\":{\"kind\":\"alipay_account\",\"account\":\"a@example.com\",\"name\":\"A\"}}"
expect_code 400 "withdrawal notify_url [::1]"
[ "$(json .error.field)" = notify_url ] || fail "withdrawal: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM withdrawals")" = 0 ] || fail "a refused withdrawal was stored"
pass "refunds and withdrawals: the same refusals (400 notify_url, nothing stored)"

# ------------------------------------------------ at delivery
# queue URL: a notification as the order path queues it (with its body,
# so that no order is read); sets NID.
NQ=0
queue() {
	NQ=$((NQ + 1))
	NID=$(pq -v url="$1" -v ord="Pguard$NQ" <<'SQL'
INSERT INTO merchant_notifications (merchant_id, kind, order_id, event, url, body)
VALUES ('m1', 'payment', :'ord', 'payment.succeeded', :'url',
	'{"event":"payment.succeeded","payment":{"id":"Pguard"}}')
RETURNING id;
SQL
)
	case $NID in '' | *[!0-9]*) fail "cannot queue a notification: $NID" ;; esac
}
refused_at_delivery() { # URL NEEDLE
	local st

	queue "$1"
	wait_sql "SELECT state FROM merchant_notifications WHERE id = $NID" abandoned 10
	st=$(pq -c "SELECT attempts || '|' || coalesce(last_status::text, '-') || '|' || last_error FROM merchant_notifications WHERE id = $NID")
	case $st in
	"1|-|refused: "*"$2"*"(never connected)") ;;
	*) fail "$1: $st" ;;
	esac
	pass "delivery to $1: abandoned at once, ${st#1|-|}"
}
# A name that is not under localhost but resolves to 127.0.0.1 (from
# /etc/hosts): judged by the guard inside libcurl, on the address it
# resolved, before connecting.
LNAME=$(awk '$1 ~ /^127\./ { for (i = 2; i <= NF; i++) if ($i !~ /localhost/) { print $i; exit } }' /etc/hosts)
if [ -n "$LNAME" ] && [ "$(getent ahostsv4 "$LNAME" | awk 'NR == 1 { print $1 }')" = 127.0.0.1 ]; then
	refused_at_delivery "http://$LNAME:$LPORT/n" "127.0.0.1 is a loopback address"
else
	say "note: no name other than localhost resolves to 127.0.0.1 here; the name case runs with localhost"
fi
refused_at_delivery "http://localhost:$LPORT/n" "loopback"
refused_at_delivery "http://127.0.0.1:$LPORT/n" "loopback"
refused_at_delivery "http://10.0.0.1:9/n" "private address (RFC 1918)"
refused_at_delivery "http://169.254.169.254/latest/meta-data/" "link-local"
refused_at_delivery "http://[::ffff:127.0.0.1]:$LPORT/n" "loopback"
refused_at_delivery "http://127.0.0.1:$ADMIN_PORT/admin/v1/reload" "own listen.admin"
no_connection "deliveries refused"
current_generation
[ "$GEN" = "$GEN0" ] || fail "something reloaded the daemon (generation $GEN0 -> $GEN)"
grep -q 'POST /admin/v1/reload\|reload requested' "$LOG_FILE" && fail "the admin listener got a reload"
pass "nothing connected to the internal service or the admin listener; the generation is unchanged"
daemon_stop

# ------------------------------------------------ loopback allowed
new_instance open
install_drivers "$DRIVER_DIR" alipay
TOP_EXTRA=',
	"secrets": { "key_file": "'"$KEYFILE"'" },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
write_conf
jq -e '.notify.allow_private == ["127.0.0.0/8", "::1/128"] and .notify.schedule == "1s"' "$CONF" >/dev/null ||
	fail "write_conf did not merge notify.allow_private: $(cat "$CONF")"
daemon_start
wait_ready
pay "$(body g-sink "$SIM/_sim/sink/guard")"
expect_code 201 "a notify_url to the paysim sink, loopback allowed"
PID2=$(json .id)
pay "$(body g-own "http://127.0.0.1:$ADMIN_PORT/admin/v1/reload")"
expect_code 400 "the admin listener, loopback allowed"
json .error.message | grep -q "own listen.admin" || fail "own listener: $RESP_BODY"
sim_pay alipay "$PID2"
wait_pay "$PID2" succeeded
wait_sql "SELECT state FROM merchant_notifications WHERE order_id = '$PID2'" delivered 15
http GET "$SIM/_sim/sink/guard"
[ "$(json .count)" = 1 ] || fail "the sink got $(json .count) notifications"
no_connection "loopback allowed"
pass "notify.allow_private 127.0.0.0/8: the sink on 127.0.0.1 gets its notification; the daemon's own listeners are still refused"
daemon_stop
pass "done"
