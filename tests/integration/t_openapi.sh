#!/usr/bin/env bash
# t_openapi.sh - the OpenAPI documents (issue 13, item 10): both are valid
# OpenAPI 3.1 (@seriousme/openapi-schema-validator, pinned in
# tests/openapi/package-lock.json, checks them against the specification's
# own JSON schemas), each listener serves its own (the admin one behind the
# admin token, the merchant one to anyone), and every operation of both is
# walked against this daemon with the channel simulator behind it, each
# answer validated against the schema its document gives for its status
# (tests/openapi/openapi_check.py, Debian's python3-jsonschema, JSON
# Schema 2020-12).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3 node npm
/usr/bin/python3 -c 'from jsonschema import Draft202012Validator' 2>/dev/null ||
	skip "python3-jsonschema (4.0 or later: JSON Schema 2020-12) is needed"
DOCS=$top_srcdir/doc/openapi
CHECK=$top_srcdir/tests/openapi/openapi_check.py

# ------------------------------------------------ the documents, alone
RUN=$TEST_DIR/validator
mkdir -p "$RUN"
cp "$top_srcdir/tests/openapi/package.json" "$top_srcdir/tests/openapi/package-lock.json" \
	"$top_srcdir/tests/openapi/validate.mjs" "$RUN/"
if ! (cd "$RUN" && timeout 300 npm ci --no-audit --no-fund --prefer-offline \
	--loglevel=error) >"$TEST_DIR/npm.log" 2>&1; then
	cat "$TEST_DIR/npm.log" >&2
	skip "npm ci failed (no network and no npm cache?)"
fi
out=$(node "$RUN/validate.mjs" "$DOCS/merchant.json" "$DOCS/admin.json" 2>&1) ||
	fail "the documents are not valid OpenAPI 3.1: $out"
say "$out"
pass "doc/openapi/merchant.json and admin.json are valid OpenAPI 3.1"

# --------------------------------------------------------- the daemon
pg_start
sim_start
KEYFILE=$TEST_DIR/secrets.key
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$KEYFILE"
chmod 600 "$KEYFILE"

new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
TOP_EXTRA=',
	"secrets": { "key_file": "'"$KEYFILE"'" },
	"http_client": { "timeout_ms": 1000, "connect_timeout_ms": 500 },
	"completion": { "schedule": "1h" },
	"notify": { "schedule": "1s", "interval_ms": 200 }'
# (no completion check within the test: the orders the channel leaves
# unanswered stay so until the walk settles them by hand)
write_conf
# served from the source tree's documents, as from $(pkgdatadir)/openapi
export PAYROUTE_OPENAPI_DIR=$DOCS
export PAYROUTE_CONSOLE_DIR=$top_srcdir/core/admin/console
daemon_start
wait_ready

add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
add_channel "$(chan wx_wd wechat wechat_pay native_qr 100 |
	jq -c '.code = "wx_wd" | .business_types = ["withdraw"] | .environments = [] | .status = "offline"')"
merchant_create shop1
paid 5000 oa-paid-1

# What each listener serves is its document, byte for byte.
merchant_get /v1/openapi.json
expect_code 200 "GET /v1/openapi.json"
[ "${RESP_BODY%$'\n'}" = "$(cat "$DOCS/merchant.json")" ] || fail "/v1/openapi.json is not doc/openapi/merchant.json"
http GET "http://127.0.0.1:$ADMIN_PORT/admin/v1/openapi.json"
expect_code 401 "GET /admin/v1/openapi.json without the token"
admin_get /admin/v1/openapi.json
expect_code 200 "GET /admin/v1/openapi.json"
[ "${RESP_BODY%$'\n'}" = "$(cat "$DOCS/admin.json")" ] || fail "/admin/v1/openapi.json is not doc/openapi/admin.json"
pass "each listener serves its document; the admin one only with the admin token"

out=$(MERCHANT_URL=http://127.0.0.1:$MERCHANT_PORT ADMIN_URL=http://127.0.0.1:$ADMIN_PORT \
	TOKEN=$TOKEN MKEY=$MKEY PAID=$PID CHANNEL=wx_native MERCHANT=shop1 \
	CHAN_JSON=$(chan oa_copy wechat wechat_pay native_qr 10) NOTIFY_URL=$SIM/_sim/sink/shop1 SIM=$SIM \
	/usr/bin/python3 "$CHECK" walk "$DOCS/merchant.json" "$DOCS/admin.json" 2>&1) ||
	fail "walking the documents: $out"
say "$out"
pass "every operation of both documents walked, each answer valid against its schema"
