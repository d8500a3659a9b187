#!/usr/bin/env bash
# t_readme.sh - every command of the README works as printed on the sample
# catalogue (issue 13). The test stands up what `contrib/dev.sh up` does
# (PostgreSQL, the channel simulator, payrouted, etc/catalogue.sample.json
# loaded through the admin API with dev.sh's substitutions, the demo
# merchant) and writes the .dev/env that `up` writes, with this build's
# payroutectl and payrouted on PATH. Then it runs each ```sh block of
# README.md as a script in a directory holding that .dev/env, in order,
# each command checked:
#   - every command must succeed (bash -e; curl fails on an HTTP error,
#     payroutectl exits non-zero on one);
#   - a payroutectl explain must choose a channel ("chosen: none" was
#     what the README's example printed);
#   - lines naming a placeholder id (R..., P...) are not run, and must be
#     the ones the README says are placeholders; `contrib/dev.sh` lines
#     are what this test stands in for (and CI runs `dev.sh test`).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
README=$top_srcdir/README.md
SAMPLE=$top_srcdir/etc/catalogue.sample.json
pg_start
sim_start

KEYFILE=$TEST_DIR/secret.key
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$KEYFILE"
chmod 600 "$KEYFILE"
new_instance a
install_drivers "$DRIVER_DIR" alipay wechat bank
TOP_EXTRA=',
	"secrets": { "key_file": "'"$KEYFILE"'" },
	"http_client": { "timeout_ms": 3000, "connect_timeout_ms": 500 },
	"notify": { "allow_private": ["127.0.0.0/8"] }'
write_conf
daemon_start
wait_ready

# The sample catalogue, as dev.sh's load_sample loads it.
cat=$(sed -e "s|@KEYDIR/|@$KEYS/|g" -e "s|SIMPORT|$SPORT|g" \
	-e "s|APIV3KEY|$APIV3|g" -e "s|WXPSERIAL|$WX_PSERIAL|g" \
	-e "s|WXSERIAL|$WX_SERIAL|g" -e "s|BANKCERTID|$BANK_CID|g" \
	-e "s|BANKPCERTID|$BANK_PCID|g" "$SAMPLE")
while IFS= read -r item; do
	add_channel "$item"
done < <(jq -c '.channels[]' <<<"$cat")
while IFS= read -r item; do
	send POST /admin/v1/whitelist "$item"
	expect_code 201 "sample whitelist entry"
done < <(jq -c '.whitelist[]' <<<"$cat")
send PUT /admin/v1/routing/rules "$(jq -c '{rules: .rules}' <<<"$cat")"
expect_code 200 "sample rules"
merchant_create demo
pass "the sample catalogue: $(jq '.channels | length' <<<"$cat") channels, its whitelist and rules; merchant demo"

# .dev/env as dev.sh's write_env writes it, this build on PATH.
WORK=$TEST_DIR/work
mkdir -p "$WORK/.dev" "$WORK/bin"
ln -s "$top_builddir/payroutectl" "$WORK/bin/payroutectl"
ln -s "$top_builddir/payrouted" "$WORK/bin/payrouted"
cat >"$WORK/.dev/env" <<EOF
export PAYROUTE_MERCHANT_URL=http://127.0.0.1:$MERCHANT_PORT
export PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
export PAYROUTE_ADMIN_TOKEN=$TOKEN
export PAYROUTE_MERCHANT_KEY=$MKEY
export PAYROUTE_SIM_URL=$SIM
export PAYROUTE_CONF=$CONF
export PAYROUTE_PID=$PID_FILE
export PAYROUTE_DRIVER_DIR=$DRIVER_DIR
export PATH=$WORK/bin:\$PATH
EOF

# The README's checks, as functions the blocks call in place of the
# commands: curl fails on an HTTP error; explain must choose a channel.
cat >"$WORK/checks.sh" <<'EOF'
set -e
curl() { command curl --fail-with-body "$@"; echo; }
payroutectl() {
	local out rc=0
	out=$(command payroutectl "$@") || rc=$?
	printf '%s\n' "$out"
	[ "$rc" = 0 ] || { echo "README: payroutectl $* exited $rc" >&2; return "$rc"; }
	if [ "${1:-}" = explain ] || [ "${3:-}" = explain ]; then
		! grep -q '^chosen: none' <<<"$out" || { echo "README: payroutectl $* chose nothing" >&2; return 1; }
	fi
}
EOF

# The ```sh blocks, one file each; placeholder and dev.sh lines left out
# (and listed).
python3 - "$README" "$WORK" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)
skipped = []
for i, b in enumerate(blocks):
    keep = []
    for line in b.splitlines():
        if line.startswith("contrib/dev.sh") or re.search(r"\b[RPW]\.\.\.", line):
            skipped.append(line)
            continue
        keep.append(line)
    open(f"{sys.argv[2]}/block{i}.sh", "w").write("\n".join(keep) + "\n")
open(f"{sys.argv[2]}/skipped", "w").write("\n".join(skipped) + "\n")
print(len(blocks))
EOF
nblocks=$(ls "$WORK"/block*.sh | wc -l)
[ "$nblocks" -ge 5 ] || fail "only $nblocks sh blocks in README.md"
skipped=$(grep -c . "$WORK/skipped")
grep -v '^contrib/dev.sh' "$WORK/skipped" | grep -vq '^payroutectl \(refund resolve R\|settle payments P\)\.\.\. ' &&
	fail "a README line names a placeholder the README does not explain: $(cat "$WORK/skipped")"
for i in $(seq 0 $((nblocks - 1))); do
	(cd "$WORK" && bash -c ". ./checks.sh; set -x; . ./block$i.sh" >"$WORK/block$i.out" 2>&1) ||
		fail "README block $i failed: $(tail -n 20 "$WORK/block$i.out")"
	pass "README block $i: $(grep -Ec '^\+\+ (payroutectl|curl) ' "$WORK/block$i.out") commands ran"
done
grep -q '^chosen: ali_qr' "$WORK"/block*.out || fail "the README's explain did not choose ali_qr"
[ -s "$WORK/policy.json" ] || fail "payroutectl export -o policy.json wrote nothing"
[ "$(pq -c "SELECT status FROM channels WHERE code = 'bank_card'")" = online ] ||
	fail "bank_card was left offline"
[ "$(pq -c "SELECT weight FROM channels WHERE code = 'wx_native'")" = 120 ] ||
	fail "channel set did not set wx_native's weight"
pass "every README command ran as printed ($skipped placeholder or dev.sh lines left out)"
