#!/usr/bin/env bash
# t_startup.sh - ready only when it can route (issue 12, item 14): a
# payrouted that is starting answers /readyz 503 and every request that
# would create an order 503 not_ready (retryable, with Retry-After), never
# a final failure, and nothing is stored under the request's
# Idempotency-Key meanwhile.
#
# A client is already sending payments (each with its own Idempotency-Key,
# retried with the same key on a refused connection or a 503) when the
# daemon starts:
#   A. with PostgreSQL up, but a session holding a lock on a table the
#      routing policy is read from for 2 s: the store is ready (merchants
#      authenticate, orders could be stored) while the channels are not
#      loaded, the window in which payments used to fail NO_CHANNEL;
#   B. with PostgreSQL down: the daemon listens (health 200, ready 503,
#      payments 503 not_ready) until PostgreSQL starts, then routes.
# Every payment must end 201 processing on its channel; every other
# answer must be a 503 not_ready or store_unavailable.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
pg_start
sim_start
new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
write_conf
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1
daemon_stop
pass "a daemon with one channel and a merchant, stopped"

# client.py PREFIX N SECONDS: N payments, one after the other, each
# retried (same Idempotency-Key) until an answer other than 503, for at
# most SECONDS in all; one JSON line per answer.
cat >"$TEST_DIR/client.py" <<'EOF'
import http.client, json, sys, time
port, key, prefix, n, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], \
    int(sys.argv[4]), float(sys.argv[5])
end = time.monotonic() + secs
for i in range(n):
    body = json.dumps({"merchant_order_no": "%s-%d" % (prefix, i),
                       "amount": 100, "currency": "CNY",
                       "method": "wechat_pay", "environment": "native_qr",
                       "subject": "start"})
    for attempt in range(2000):
        if time.monotonic() > end:
            print(json.dumps({"i": i, "status": "gave up"}))
            sys.exit(0)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/v1/payments", body, {
                "Authorization": "Bearer " + key,
                "Content-Type": "application/json",
                "Idempotency-Key": "%s-%d" % (prefix, i)})
            r = c.getresponse()
            text = r.read()
            c.close()
        except OSError:
            time.sleep(0.02)     # not listening yet
            continue
        try:
            j = json.loads(text)
        except ValueError:
            j = {"unparsed": text.decode("latin-1")[:200]}
        print(json.dumps({"i": i, "http": r.status, "body": j,
                          "retry_after": r.getheader("Retry-After")}),
              flush=True)
        if r.status != 503:
            break
        time.sleep(0.02)
EOF

# check FILE WHAT: every payment ended 201 processing on wx_native, every
# other answer was a 503 not_ready or store_unavailable; sets NOT_READY.
check() {
	local f=$1 what=$2 bad

	[ -s "$f" ] || fail "$what: the client answered nothing"
	bad=$(jq -c 'select(.status == "gave up")' "$f" | head -n 3)
	[ -z "$bad" ] || fail "$what: the client gave up: $bad"
	bad=$(jq -c 'select(.http != 201 and .http != 503)' "$f" | head -n 3)
	[ -z "$bad" ] || fail "$what: answers other than 201 and 503: $bad"
	bad=$(jq -c 'select(.http == 503 and .body.error.code != "not_ready" and
		.body.error.code != "store_unavailable")' "$f" | head -n 3)
	[ -z "$bad" ] || fail "$what: 503 answers other than not_ready or store_unavailable: $bad"
	bad=$(jq -c 'select(.http == 503 and .retry_after == null)' "$f" | head -n 3)
	[ -z "$bad" ] || fail "$what: a 503 without Retry-After: $bad"
	bad=$(jq -c 'select(.http == 201 and (.body.status != "processing" or
		.body.channel != "wx_native" or .body.code == "NO_CHANNEL"))' "$f" | head -n 3)
	[ -z "$bad" ] || fail "$what: a final failure caused by the start: $bad"
	[ "$(jq -c 'select(.http == 201)' "$f" | wc -l)" = "$3" ] ||
		fail "$what: $(jq -c 'select(.http == 201)' "$f" | wc -l) payments created, want $3"
	NOT_READY=$(jq -c 'select(.body.error.code == "not_ready")' "$f" | wc -l)
}

# ---------------------------------------- A. start under load, store up
pq -c "BEGIN; LOCK TABLE whitelist_store IN ACCESS EXCLUSIVE MODE;
	SELECT pg_sleep(2); COMMIT" >/dev/null 2>&1 &
BG_PIDS+=($!)
python3 "$TEST_DIR/client.py" "$MERCHANT_PORT" "$MKEY" A 30 40 \
	>"$TEST_DIR/a.jsonl" 2>"$TEST_DIR/a.err" &
CLIENT=$!
BG_PIDS+=("$CLIENT")
sleep 0.3
daemon_spawn
wait_healthy
# The store pool may still be connecting when /healthz first answers: wait
# (at most 1.5 s, well inside the 2 s the lock holds the policy back) until
# /readyz stops naming the store, then it must name the policy.
for _ in $(seq 30); do
	http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
	[ "$RESP_CODE" = 503 ] && [ "$(json .reason)" = "store unavailable" ] ||
		break
	sleep 0.05
done
[ "$RESP_CODE" = 503 ] &&
	[ "$(json .reason)" = "the routing policy is not loaded yet" ] ||
	fail "/readyz while the policy loads: $RESP_CODE $RESP_BODY"
wait "$CLIENT" || fail "the client failed: $(cat "$TEST_DIR/a.err")"
check "$TEST_DIR/a.jsonl" "start with the store up" 30
[ "$NOT_READY" -gt 0 ] ||
	fail "no 503 not_ready while the policy was being loaded: $(head -n 3 "$TEST_DIR/a.jsonl")"
pass "started under load with the store up and the policy slow to load: $NOT_READY answers 503 not_ready, then 30 payments 201 processing, no failure"
# Nothing the start refused was stored under its key: each key replays
# its 201.
pay "$(jq -cn '{merchant_order_no:"A-0", amount:100, currency:"CNY",
	method:"wechat_pay", environment:"native_qr", subject:"start"}')" A-0
expect_code 201 "replay of A-0"
grep -qi '^Idempotent-Replayed: true' "$RESP_HEADERS" ||
	fail "A-0 was not replayed from its key: $(cat "$RESP_HEADERS")"
[ "$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'A-%' AND status = 'failed'")" = 0 ] ||
	fail "failed payments were stored during the start"

# ------------------------------- B. start under load, store down at first
daemon_stop
pg_stop
python3 "$TEST_DIR/client.py" "$MERCHANT_PORT" "$MKEY" B 10 60 \
	>"$TEST_DIR/b.jsonl" 2>"$TEST_DIR/b.err" &
CLIENT=$!
BG_PIDS+=("$CLIENT")
daemon_spawn
wait_healthy
http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
[ "$RESP_CODE" = 503 ] && [ "$(json .reason)" = "store unavailable" ] ||
	fail "/readyz with the store down: $RESP_CODE $RESP_BODY"
merchant_get /readyz
expect_code 503 "merchant /readyz with the store down"
sleep 1
n=$(jq -c 'select(.body.error.code == "not_ready")' "$TEST_DIR/b.jsonl" | wc -l)
[ "$n" -gt 0 ] || fail "no 503 not_ready while the store was down: $(head -n 3 "$TEST_DIR/b.jsonl")"
[ "$(jq -c 'select(.http == 201)' "$TEST_DIR/b.jsonl" | wc -l)" = 0 ] ||
	fail "a payment was created with the store down"
pg_start_again
wait "$CLIENT" || fail "the client failed: $(cat "$TEST_DIR/b.err")"
check "$TEST_DIR/b.jsonl" "start with the store down" 10
http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
expect_code 200 "/readyz once the store is up and the channels loaded"
grep -q 'ready: generation [0-9]* routes with the store.s policy (1 channels)' "$LOG_FILE" ||
	fail "no 'ready' line in the log"
pass "started under load with the store down: /readyz 503, $NOT_READY answers 503 not_ready, then 10 payments 201 processing"
daemon_stop
