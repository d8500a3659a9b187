#!/usr/bin/env bash
# t_console.sh - the operator console in a real browser: headless Chromium
# (Debian's chromium package; never a downloaded browser) driven by
# playwright-core (pinned in tests/console/package-lock.json, installed with
# `npm ci` into the test's directory) runs tests/console/console.test.mjs
# against a payrouted on a real PostgreSQL and the channel simulator. The
# daemon serves the console from the source tree (PAYROUTE_CONSOLE_DIR).
# Before the browser starts, this script makes what the console must show:
# a channel, a merchant, a paid payment and two refunds in the overdue
# queue (the buyer's account closed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	skip "node and npm are needed (Debian: apt-get install nodejs npm)"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] 2>/dev/null ||
	skip "node >= 20 is needed for playwright-core (found $(node --version))"
CHROMIUM=${PR_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] ||
	skip "no chromium (Debian: apt-get install chromium; or set PR_CHROMIUM)"

# ------------------------------------------------------------ playwright-core
RUN=${PR_CONSOLE_TEST_DIR:-$TEST_DIR/console}
mkdir -p "$RUN" || fail "cannot create $RUN"
for f in package.json package-lock.json console.test.mjs; do
	cp "$top_srcdir/tests/console/$f" "$RUN/$f" || fail "cannot copy $f"
done
stamp=$(cat "$RUN/package-lock.json" "$RUN/package.json" | openssl dgst -sha256 -r | cut -d' ' -f1)
if [ ! -d "$RUN/node_modules" ] || [ "$(cat "$RUN/.lock-stamp" 2>/dev/null)" != "$stamp" ]; then
	say "npm ci (playwright-core as pinned in package-lock.json)"
	# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the browser is Debian's, never npm's
	if ! (cd "$RUN" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm ci --no-audit \
		--no-fund --prefer-offline --loglevel=error) >"$TEST_DIR/npm.log" 2>&1; then
		cat "$TEST_DIR/npm.log" >&2
		skip "npm ci failed (no network and no npm cache?)"
	fi
	echo "$stamp" >"$RUN/.lock-stamp"
fi
say "playwright-core $(node -p "require('$RUN/node_modules/playwright-core/package.json').version"), $("$CHROMIUM" --version 2>/dev/null | grep -o 'Chromium [0-9.]*')"

# ------------------------------------------------------------ the daemon
pg_start
sim_start
new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank good
TOP_EXTRA=',
	"http_client": { "timeout_ms": 2000, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1s", "interval_ms": 200, "batch": 8 },
	"notify": { "schedule": "1s", "interval_ms": 200 },
	"approvals": { "threshold": 1000000 }'
write_conf
export PAYROUTE_CONSOLE_DIR=$top_srcdir/core/admin/console
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
	jq -c '.refund_resend = true | .limits.daily_amount = 500000000 | .limits.daily_count = 1000')"
merchant_create shop1

# The console's first page, its script and stylesheet are served, with
# their types; a path out of the directory is refused.
for f in / /console.js /console.css; do
	http_get "http://127.0.0.1:$ADMIN_PORT$f"
	expect_code 200 "console $f"
done
curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$ADMIN_PORT/console.js" |
	grep -q '^text/javascript' || fail "console.js is not served as JavaScript"
http_get "http://127.0.0.1:$ADMIN_PORT/..%2f..%2fetc/passwd"
[ "$RESP_CODE" = 400 ] || [ "$RESP_CODE" = 404 ] || fail "a path out of the console directory: $RESP_CODE"
pass "the console's files are served by the admin listener"

# A paid payment and two refunds its channel refuses: the buyer's account
# is closed, so both wait in the overdue queue for an operator.
pay '{"merchant_order_no":"c-1","amount":10000,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"console","buyer_id":"buyer-c1"}'
expect_code 201 "payment"
PID=$(json .id)
sim_pay wechat "$PID"
wait_pay "$PID" succeeded
sim_script "{\"order\":\"$PID\",\"faults\":{\"refund\":\"account_closed\"}}"
refunds=()
for n in 1 2; do
	_mcall POST "/v1/payments/$PID/refunds" \
		"{\"merchant_refund_no\":\"c-r$n\",\"amount\":1000,\"stage\":\"post_delivery\",\"reason\":\"damaged\"}"
	expect_code 201 "refund $n"
	refunds+=("$(json .id)")
done
# the account is fine again (a refund takes its fault when it is created):
# a re-sent refund goes through
sim_script "{\"order\":\"$PID\",\"faults\":null}"
for r in "${refunds[@]}"; do
	wait_sql "SELECT status || ' ' || overdue_reason FROM refunds WHERE id = '$r'" \
		"overdue original_route_unavailable" 15
done
pass "a paid payment and two overdue refunds (account closed)"

# For the order list: 25 payments of shop1 on 2026-11-01, every fifth
# failed; and a payment the channel never settled (unknown, on the
# attention list) for the settle form.
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, environment, expire_at, status, channel, code,
	paid_amount, created_at, finished_at)
	SELECT 'PLIST' || lpad(i::text, 6, '0'), 'shop1', 'list-' || i, 'h',
	  i * 100, 'CNY', 'wechat_pay', 'native_qr', now() + interval '1 hour',
	  CASE WHEN i % 5 = 0 THEN 'failed' ELSE 'succeeded' END, 'wx_native',
	  CASE WHEN i % 5 = 0 THEN 'NOTENOUGH' ELSE 'SUCCESS' END,
	  CASE WHEN i % 5 = 0 THEN NULL ELSE i * 100 END,
	  timestamptz '2026-11-01 00:00:00+00' + i * interval '1 minute', now()
	FROM generate_series(1, 25) i" >/dev/null
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, environment, expire_at, status, channel, code,
	attempts) VALUES ('PUNKNOWN0001', 'shop1', 'stuck-1', 'h', 4200, 'CNY',
	'wechat_pay', 'native_qr', now() + interval '1 hour', 'processing',
	'wx_native', NULL, 1)" >/dev/null
pq -c "UPDATE payments SET status = 'unknown', code = 'UNMAPPED_CODE' WHERE id = 'PUNKNOWN0001'" >/dev/null
pq -c "INSERT INTO order_checks (kind, order_id, next_at, checks, attention, attention_reason)
	VALUES ('payment', 'PUNKNOWN0001', now(), 5, true, 'no final answer after 5 checks: UNMAPPED_CODE')" >/dev/null
pass "25 payments to list and one left unknown to settle"
# For the approvals view (approvals.threshold 1000000, above every other
# payment here): three unknown payments of 2000000 (on a channel that is
# none, out of the dashboard's figures); the bootstrap admin
# asks to settle two of them as succeeded (held for a second operator:
# the browser approves one and rejects the other), the browser's own
# operator asks for the third in the test (it may not approve its own).
pq -c "INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash,
	amount, currency, method, environment, expire_at, status, channel, code,
	attempts) SELECT 'PFOUREYES00' || i, 'shop1', 'four-eyes-' || i, 'h',
	2000000, 'CNY', 'wechat_pay', 'native_qr', now() + interval '1 hour',
	'processing', 'wx_other', NULL, 1 FROM generate_series(1, 3) i" >/dev/null
pq -c "UPDATE payments SET status = 'unknown' WHERE id LIKE 'PFOUREYES00%'" >/dev/null
for i in 1 2; do
	send POST "/admin/v1/payments/PFOUREYES00$i/settle" '{"outcome":"succeeded","note":"the statement shows it","evidence":"stmt-'$i'"}'
	expect_code 202 "a settlement of 2000000 held for approval"
done
pass "two settlements held for a second operator"
# A burst for the overview's dashboard: paid payments, payments the
# channel refuses, one left unknown (a timeout).
for i in $(seq 12); do
	pay "{\"merchant_order_no\":\"burst-$i\",\"amount\":$((1000 + i * 100)),\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"burst\"}"
	expect_code 201 "burst payment $i"
	sim_pay wechat "$(json .id)"
done
sim_script '{"order":"*","rate":1,"faults":{"http_status":403,"code":"NOTENOUGH"}}'
for i in 1 2 3; do
	pay "{\"merchant_order_no\":\"burst-f$i\",\"amount\":2000,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"burst\"}"
	expect_code 201 "refused burst payment $i"
done
sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
pay '{"merchant_order_no":"burst-t","amount":2000,"currency":"CNY","method":"wechat_pay","environment":"native_qr","subject":"burst"}'
[ "$(json .status)" = unknown ] || fail "burst-t: $RESP_BODY"
# its one check times out too: it stays unknown, flagged for attention
wait_sql "SELECT status || ' ' || attention FROM payments p JOIN order_checks c ON c.kind = 'payment' AND c.order_id = p.id
	WHERE p.id = '$(json .id)'" "unknown true" 20
sim_script '{"order":"*","faults":null}'
# The dashboard's outcomes are what this daemon saw: not the rows the
# order list's block above wrote with SQL (list-*, PUNKNOWN0001); its open
# unknowns are the store's, that one included.
SEEN="channel = 'wx_native' AND merchant_order_no NOT LIKE 'list-%' AND id <> 'PUNKNOWN0001'"
wait_sql "SELECT count(*) FROM payments WHERE $SEEN AND status = 'succeeded'" 13 20
DASH_OK=$(pq -c "SELECT count(*) FROM payments WHERE $SEEN AND status = 'succeeded'")
DASH_FAILED=$(pq -c "SELECT count(*) FROM payments WHERE $SEEN AND status = 'failed'")
DASH_UNKNOWN=$(pq -c "SELECT count(*) FROM payments WHERE $SEEN AND status = 'unknown'")
DASH_OPEN_UNKNOWN=$(pq -c "SELECT count(*) FROM payments WHERE channel = 'wx_native' AND status = 'unknown'")
DASH_OVERDUE=$(pq -c "SELECT count(*) FROM refunds WHERE channel = 'wx_native' AND status = 'overdue'")
export DASH_OK DASH_FAILED DASH_UNKNOWN DASH_OPEN_UNKNOWN DASH_OVERDUE
pass "a burst: $DASH_OK paid, $DASH_FAILED refused, $DASH_UNKNOWN unknown on wx_native"

# For the reconciliation view: a day of wx_native reconciled three days
# ago (written as the job writes it: its figures, the fees 20% above the
# model, beyond reconciliation.fee_drift_pct) with two open differences;
# one of the order list's payments billed 3.10 for 3.00, and a charge
# payroute never heard of. The view runs another day (five days ago) from
# its form.
RECON_DAY=$(pq -c "SELECT (current_date - 3)::text")
RECON_RUN_DAY=$(pq -c "SELECT (current_date - 5)::text")
pq -c "INSERT INTO recon_runs (channel, day, status, runs, attempts, bill_rows,
	bill_amount, bill_fee, matched, matched_amount, differences, fee_amount,
	fee_billed, fee_expected, started_at, finished_at)
	VALUES ('wx_native', '$RECON_DAY', 'done', 1, 1, 5, 151000, 906, 3, 100000,
	'{\"amount_mismatch\": 1, \"missing_at_payroute\": 1}', 100000, 720, 600,
	now() - interval '1 minute', now())" >/dev/null
pq -c "INSERT INTO recon_differences (channel, day, kind, order_kind, ref,
	order_id, ours, theirs, amount, seen_run) VALUES
	('wx_native', '$RECON_DAY', 'amount_mismatch', 'payment', 'PLIST000003',
	 'PLIST000003', '{\"id\": \"PLIST000003\", \"status\": \"succeeded\", \"amount\": 300, \"currency\": \"CNY\", \"fee\": 2}',
	 '{\"kind\": \"payment\", \"amount\": 310, \"fee\": 2, \"currency\": \"CNY\", \"status\": \"SUCCESS\", \"effect\": \"success\", \"channel_trade_no\": \"4200001234\"}',
	 310, 1),
	('wx_native', '$RECON_DAY', 'missing_at_payroute', 'payment', 'PRECON000002',
	 NULL, NULL,
	 '{\"kind\": \"payment\", \"amount\": 12345, \"fee\": 74, \"currency\": \"CNY\", \"status\": \"SUCCESS\", \"effect\": \"success\", \"channel_trade_no\": \"4200005678\"}',
	 12345, 1)" >/dev/null
pass "a reconciled day with two differences and a fee drift"

# ------------------------------------------------------------ the browser
# The browser signs in as an operator of its own, console-test (admin), with
# a token made for it (and later with its password): the audit log names
# it. Then as a viewer and as an operator, each seeing only what its role
# may do.
send POST /admin/v1/operators '{"name":"console-test","roles":["admin"]}'
expect_code 201 "create the operator console-test"
send POST /admin/v1/operators/console-test/tokens '{"label":"t_console"}'
expect_code 201 "a token for console-test"
TOKEN=$(json .token)
case $TOKEN in pro_*) ;; *) fail "no token in $RESP_BODY" ;; esac
# and an operator of each role that signs in with a name and password:
# console-test (admin), cv-viewer, cv-operator
CONSOLE_PASSWORD='console test passphrase'
send POST /admin/v1/operators/console-test/password "{\"password\":\"$CONSOLE_PASSWORD\"}"
expect_code 200 "a password for console-test"
for r in viewer operator; do
	send POST /admin/v1/operators "{\"name\":\"cv-$r\",\"roles\":[\"$r\"]}"
	expect_code 201 "create the operator cv-$r"
	send POST "/admin/v1/operators/cv-$r/password" "{\"password\":\"$CONSOLE_PASSWORD\"}"
	expect_code 200 "a password for cv-$r"
done
export CONSOLE_PASSWORD
SHOT_DIR=$TEST_DIR/shots
mkdir -p "$SHOT_DIR"
export ADMIN_URL=http://127.0.0.1:$ADMIN_PORT MERCHANT_URL=http://127.0.0.1:$MERCHANT_PORT
export TOKEN CHROMIUM SHOT_DIR REFUND_RESEND=${refunds[0]} REFUND_RESOLVE=${refunds[1]}
export MERCHANT_KEY=$MKEY UNKNOWN_PAYMENT=PUNKNOWN0001 RECON_DAY RECON_RUN_DAY
export APPROVE_PAYMENT=PFOUREYES001 REJECT_PAYMENT=PFOUREYES002 OWN_PAYMENT=PFOUREYES003
ALIPAY_CONF=$(driver_conf alipay)
export ALIPAY_CONF
# PR_CONSOLE_SHOTS=DIR keeps a screenshot of the page after each test.
rc=0
(cd "$RUN" && timeout 300 node --test --test-reporter=tap console.test.mjs) >"$TEST_DIR/node.out" 2>&1 || rc=$?
if [ -n "${PR_CONSOLE_SHOTS:-}" ]; then
	mkdir -p "$PR_CONSOLE_SHOTS" && cp "$SHOT_DIR"/*.png "$PR_CONSOLE_SHOTS"/ 2>/dev/null
	say "screenshots copied to $PR_CONSOLE_SHOTS"
fi
if [ "$rc" != 0 ]; then
	cat "$TEST_DIR/node.out"
	fail "console tests failed (exit $rc; PR_CONSOLE_SHOTS=DIR keeps the screenshots)"
fi
grep -E '^# (tests|pass|fail)' "$TEST_DIR/node.out" | sed "s/^/$T_NAME: /"
grep -q '^# fail 0' "$TEST_DIR/node.out" || fail "console tests: $(grep '^# fail' "$TEST_DIR/node.out")"
n=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$TEST_DIR/node.out")
[ "${n:-0}" -ge 20 ] || fail "only ${n:-0} console tests passed"
pass "the console in Chromium: $n tests"

# What the browser did is in the store, audited under its actor.
n=$(pq -c "SELECT count(*) FROM audit_log WHERE actor = 'console-test'")
[ "$n" -ge 10 ] || fail "only $n audited changes by console-test"
pass "$n changes audited as console-test"
for a in "sign_in:console-test" "sign_in:cv-viewer" "sign_in:cv-operator" "sign_out:console-test" \
	"denied:cv-viewer" "session_end:cv-viewer"; do
	[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = '${a%%:*}' AND actor = '${a#*:}'")" -ge 1 ] ||
		fail "no audit row $a"
done
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE actor = 'cv-operator' AND object_kind = 'channel'")" -ge 2 ] ||
	fail "cv-operator's channel changes are not audited"
pass "the browsers' sign-ins, sign-outs, refusals and changes are audited under each operator"
exit 0
