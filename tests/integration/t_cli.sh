#!/usr/bin/env bash
# t_cli.sh - the command line: -V, and -t (test the configuration and the
# driver directory) on a good config and on broken ones, each of which must
# fail naming what is wrong. Needs no PostgreSQL, so it runs everywhere
# (also under PR_INTEGRATION=0).
. "$(dirname "$0")/lib.sh"

[ -x "$PAYROUTED" ] || fail "$PAYROUTED is not built"

# ---- -V
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
	"$top_builddir/autoconfig.h")
[ -n "$version" ] || fail "no PACKAGE_VERSION in $top_builddir/autoconfig.h"
out=$("$PAYROUTED" -V 2>&1)
rc=$?
[ "$rc" = 0 ] || fail "payrouted -V exited $rc: $out"
grep <<<"$out" -Eq "^payrouted $version \(driver ABI 1\.[0-9]+\)$" ||
	fail "payrouted -V printed '$out', expected 'payrouted $version (driver ABI 1.N)'"
pass "-V prints '$out'"

# ---- -t on a good config (no database is contacted)
new_instance cli
PG_ROOT=$TEST_DIR/nopg
LOG_FILE=stderr
install_drivers "$DRIVER_DIR" good $(real_drivers)
write_conf

# run_t FILE: runs payrouted -t -c FILE; sets T_RC and T_OUT.
run_t() {
	T_OUT=$("$PAYROUTED" -t -c "$1" 2>&1 </dev/null)
	T_RC=$?
}

run_t "$CONF"
[ "$T_RC" = 0 ] || fail "-t on a good config exited $T_RC: $T_OUT"
printf '%s\n' "$T_OUT" |
	grep -Fqx "payrouted: the configuration file $CONF syntax is ok" ||
	fail "-t on a good config: no 'syntax is ok' line in: $T_OUT"
printf '%s\n' "$T_OUT" |
	grep -Fqx "payrouted: configuration file $CONF test is successful" ||
	fail "-t on a good config: no 'test is successful' line in: $T_OUT"
pass "-t on a good config with drivers $(ls "$DRIVER_DIR" | tr '\n' ' ')exits 0"

# expect_t_fail WHAT FILE NEEDLE...: -t on FILE must exit 1, say
# "test failed" and mention every NEEDLE (fixed strings).
expect_t_fail() {
	local what=$1 file=$2 n

	shift 2
	run_t "$file"
	[ "$T_RC" = 1 ] || fail "$what: -t exited $T_RC (expected 1): $T_OUT"
	printf '%s\n' "$T_OUT" |
		grep -Fqx "payrouted: configuration file $file test failed" ||
		fail "$what: no 'payrouted: configuration file $file test failed' line in: $T_OUT"
	for n in "$@"; do
		grep <<<"$T_OUT" -Fq -- "$n" ||
			fail "$what: the error does not mention '$n': $T_OUT"
	done
	# Show the line that says what is wrong.
	pass "-t fails on $what: $(printf '%s\n' "$T_OUT" |
		grep -v -e 'test failed$' -e 'syntax is ok$' |
		grep -F -- "${1:-payrouted}" | head -n 1)"
}

# ---- -t on broken configs
bad=$I_DIR/unknown.conf
TOP_EXTRA=$',\n\t"bogus_option": 1'
write_conf "$bad"
TOP_EXTRA=""
expect_t_fail "an unknown key" "$bad" bogus_option

bad=$I_DIR/pool_type.conf
write_conf "$bad"
sed -i 's/"pool_size": [0-9]*/"pool_size": "4"/' "$bad"
grep -q '"pool_size": "4"' "$bad" || fail "could not write $bad"
expect_t_fail "database.pool_size as a string" "$bad" database.pool_size

bad=$I_DIR/listen.conf
write_conf "$bad"
sed -i 's/"merchant": "127.0.0.1:[0-9]*"/"merchant": "127.0.0.1:notaport"/' "$bad"
grep -q notaport "$bad" || fail "could not write $bad"
expect_t_fail "a bad listen address" "$bad" listen.merchant

bad=$I_DIR/listen_range.conf
write_conf "$bad"
sed -i 's/"admin": "127.0.0.1:[0-9]*"/"admin": "127.0.0.1:70000"/' "$bad"
expect_t_fail "a listen port out of range" "$bad" listen.admin

bad=$I_DIR/does-not-exist.conf
expect_t_fail "a missing file" "$bad" does-not-exist.conf

bad=$I_DIR/broken.conf
write_conf "$bad"
head -n 5 "$CONF" >"$bad" # cut in the middle of an object
expect_t_fail "broken JSON" "$bad"

bad=$I_DIR/notobject.conf
echo '[1, 2]' >"$bad"
expect_t_fail "JSON that is not an object" "$bad"

# ---- -t with a refused driver in the driver directory
install_drivers "$DRIVER_DIR" badmagic
expect_t_fail "a driver directory holding badmagic.so" "$CONF" badmagic.so expected found

exit 0
