#!/usr/bin/env bash
# t_interop.sh - the drivers against the channels' official SDKs (and the
# bank protocol against openssl vectors): runs the node tests of
# tests/interop with drvtool and the built drivers. Alipay's public-key
# certificate mode runs on certificates made here by
# tests/keys/make_alipay_certs.sh (ALIPAY_CERT_DIR).
#
# Needs node (>= 18) and npm: skipped (77) when they are missing, unless
# PR_REQUIRE_INTEGRATION=1. The SDKs come from npm at the versions pinned in
# tests/interop/package-lock.json (`npm ci`), installed into a copy of
# tests/interop in the test's temporary directory, never into the source
# tree (npm's own cache makes later runs fast and offline-capable); set
# PR_INTEROP_DIR to keep the installation in a directory of your own. When
# the channel simulator is built (contrib/paysim/paysim) it is started on a
# loopback port and the SDK-as-client cases run against it (PAYSIM_URL);
# otherwise node reports them as skipped. PR_PAYSIM names another simulator
# binary.
. "$(dirname "$0")/lib.sh"

SRC=$top_srcdir/tests/interop
KEYS=$top_srcdir/tests/keys
DRVTOOL=$top_builddir/tests/interop/drvtool
PAYSIM=${PR_PAYSIM:-$top_builddir/contrib/paysim/paysim}

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	skip "node and npm are needed (Debian: apt-get install nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) ||
	skip "node does not run"
[ "$node_major" -ge 18 ] 2>/dev/null ||
	skip "node >= 18 is needed (found $(node --version))"
command -v openssl >/dev/null 2>&1 || skip "the openssl command is needed"

[ -x "$DRVTOOL" ] || fail "$DRVTOOL is not built (make check builds it)"
for d in alipay wechat bank; do
	[ -f "$top_builddir/drivers/$d/.libs/$d.so" ] ||
		fail "driver $d is not built ($top_builddir/drivers/$d/.libs/$d.so)"
done

# ---------------------------------------------------------------- the SDKs
RUN=${PR_INTEROP_DIR:-$TEST_DIR/interop}
mkdir -p "$RUN" || fail "cannot create $RUN"
for f in package.json package-lock.json lib.mjs alipay.test.mjs \
	wechat.test.mjs bank.test.mjs; do
	cp "$SRC/$f" "$RUN/$f" || fail "cannot copy $f"
done
stamp=$(cat "$RUN/package-lock.json" "$RUN/package.json" | openssl dgst -sha256 -r |
	cut -d' ' -f1)
if [ ! -d "$RUN/node_modules" ] || [ "$(cat "$RUN/.lock-stamp" 2>/dev/null)" != "$stamp" ]; then
	say "npm ci (alipay-sdk, wechatpay-axios-plugin as pinned in package-lock.json)"
	if ! (cd "$RUN" && timeout 300 npm ci --no-audit --no-fund --prefer-offline \
		--loglevel=error) >"$TEST_DIR/npm.log" 2>&1; then
		cat "$TEST_DIR/npm.log" >&2
		skip "npm ci failed (no network and no npm cache?)"
	fi
	echo "$stamp" >"$RUN/.lock-stamp"
fi
for m in alipay-sdk wechatpay-axios-plugin; do
	v=$(node -p "require('$RUN/node_modules/$m/package.json').version") ||
		fail "$m is not installed"
	say "$m $v"
done

# ----------------------------------------- Alipay certificate mode's certs
ALIPAY_CERT_DIR=$TEST_DIR/alipay_certs
sh "$KEYS/make_alipay_certs.sh" "$ALIPAY_CERT_DIR" 2021000000000002 ||
	fail "cannot make the Alipay test certificates"
. "$ALIPAY_CERT_DIR/alipay_sn.env"
export ALIPAY_CERT_DIR

# ---------------------------------------------------------------- simulator
PAYSIM_URL=""
if [ -x "$PAYSIM" ]; then
	hexserial() {
		openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr a-f A-F
	}
	decserial() {
		node -p "BigInt('0x$(hexserial "$1")').toString(10)"
	}
	apiv3=$(tr -d '\r\n' <"$KEYS/wechat_apiv3.key")
	cat >"$TEST_DIR/paysim.json" <<EOF
{
  "auto_pay": false,
  "notify_delay_ms": 50,
  "notify_attempts": 1,
  "alipay": {
    "platform_private_key": "@$KEYS/alipay_platform_private.pem",
    "platform_cert_sn": "$ALIPAY_CERT_SN",
    "root_cert_sn": "$ALIPAY_ROOT_CERT_SN",
    "apps": [ { "app_id": "2021000000000001",
                "app_public_key": "@$KEYS/alipay_app_public.pem" },
              { "app_id": "2021000000000002",
                "app_public_key": "@$ALIPAY_CERT_DIR/alipay_app_cert.pem",
                "app_cert_sn": "$APP_CERT_SN" } ]
  },
  "wechat": {
    "platform_private_key": "@$KEYS/wechat_platform_private.pem",
    "platform_serial": "$(hexserial "$KEYS/wechat_platform_cert.pem")",
    "merchants": [ { "mchid": "1900000001",
                     "serial_no": "$(hexserial "$KEYS/wechat_merchant_cert.pem")",
                     "public_key": "@$KEYS/wechat_merchant_cert.pem",
                     "apiv3_key": "$apiv3" } ]
  },
  "bank": {
    "platform_private_key": "@$KEYS/bank_platform_private.pem",
    "platform_cert_id": "$(decserial "$KEYS/bank_platform_cert.pem")",
    "merchants": [ { "mer_id": "777290058110048",
                     "cert_id": "$(decserial "$KEYS/bank_merchant_cert.pem")",
                     "public_key": "@$KEYS/bank_merchant_cert.pem" } ]
  }
}
EOF
	"$PAYSIM" --config "$TEST_DIR/paysim.json" --port 0 \
		>"$TEST_DIR/paysim.out" 2>"$TEST_DIR/paysim.log" &
	BG_PIDS+=($!)
	sim_port=""
	for _ in $(seq 100); do
		sim_port=$(sed -n 's/^paysim listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
			"$TEST_DIR/paysim.out" 2>/dev/null | head -n 1)
		[ -n "$sim_port" ] && break
		kill -0 "${BG_PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	if [ -n "$sim_port" ] &&
		curl -fsS --max-time 5 "http://127.0.0.1:$sim_port/_sim/ledger" >/dev/null 2>&1; then
		PAYSIM_URL=http://127.0.0.1:$sim_port
		say "paysim on $PAYSIM_URL"
	else
		say "paysim did not come up; the simulator cases are skipped"
		tail -n 20 "$TEST_DIR/paysim.log" >&2
	fi
else
	say "no simulator built ($PAYSIM); the simulator cases are skipped"
fi

# ---------------------------------------------------------------- node --test
reporter=()
if node --test-reporter=tap -e 0 >/dev/null 2>&1; then
	reporter=(--test-reporter=tap)
fi
say "node $(node --version): node --test ${reporter[*]}"
rc=0
(cd "$RUN" && PR_BUILDDIR=$top_builddir PR_SRCDIR=$top_srcdir DRVTOOL=$DRVTOOL \
	PAYSIM_URL=$PAYSIM_URL timeout 600 node --test "${reporter[@]}" \
	alipay.test.mjs wechat.test.mjs bank.test.mjs) >"$TEST_DIR/tap.txt" 2>&1 || rc=$?
cat "$TEST_DIR/tap.txt"
echo "---- summary"
grep -E '^(not ok|ok) [0-9]+ ' "$TEST_DIR/tap.txt" | grep -E '^not ok' || true
grep -E '^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$TEST_DIR/tap.txt"
if [ -n "$PAYSIM_URL" ] && [ -s "$TEST_DIR/paysim.log" ] && [ "$rc" -ne 0 ]; then
	echo "---- last lines of the paysim log" >&2
	tail -n 30 "$TEST_DIR/paysim.log" >&2
fi
[ "$rc" -eq 0 ] || fail "node --test failed (exit $rc)"
pass "official SDKs and openssl vectors agree with our drivers"
