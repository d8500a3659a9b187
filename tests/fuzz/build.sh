#!/bin/sh
# build.sh - builds every libFuzzer target tests/fuzz/fuzz_*.c into the
# directory given as $1 (created if needed), one executable per target.
#
# A driver target names the driver it exercises on a line of its own:
#     // FUZZ_DRIVER: drivers/bank/bank.c
# (a path relative to the source tree). The target is linked with that
# driver's .c and the core files behind pr_services() (core/runtime/services.c,
# core/runtime/crypto.c, core/runtime/x509.c, core/domain/drvobj.c, core/runtime/log.c, core/base/clock.c),
# drivers/common/drv{conf,buf,field}.c and billtext.c, and the driver's bill
# reader (drivers/X/X_bill.c) when there is one.
# A target of the core's own parsers (pure files: no loop, no store) names
# the core files it links instead, on one line:
#     // FUZZ_CORE: core/domain/payreq.c core/domain/currency.c core/domain/tz.c
# Everything is compiled here with clang
# -fsanitize=fuzzer,address,undefined -g -O1; nothing comes from the
# automake build. FUZZ_KEY_DIR (the test keys) is defined for every target.
#
# Environment: CC (default clang), FUZZ_CFLAGS (added to the flags),
# FUZZ_TARGETS (space-separated target names, default all).
# Exits 0 when every target built, 1 when one failed, 2 on usage errors.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTPUT_DIR" >&2
	exit 2
fi
out=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
mkdir -p "$out"
out=$(cd "$out" && pwd)

deps=$(pkg-config --cflags --libs jansson libcrypto libzip zlib)
flags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-g -O1 -std=gnu11 -Wall -Wextra -Wno-unused-parameter
	-D_GNU_SOURCE -I$src/include -I$src/core -I$src/drivers/common
	-I$src/drivers/alipay -I$src/drivers/wechat -I$src/drivers/bank
	-DFUZZ_KEY_DIR=\"$src/tests/keys\"
	${FUZZ_CFLAGS:-}"
core="$src/core/runtime/services.c $src/core/runtime/crypto.c $src/core/runtime/x509.c
	$src/core/domain/drvobj.c $src/core/runtime/log.c $src/core/base/clock.c
	$src/drivers/common/drvconf.c
	$src/drivers/common/drvbuf.c
	$src/drivers/common/drvfield.c
	$src/drivers/common/billtext.c"

status=0
built=0
for target in "$src"/tests/fuzz/fuzz_*.c; do
	[ -e "$target" ] || continue
	name=$(basename "$target" .c)
	if [ -n "${FUZZ_TARGETS:-}" ]; then
		case " $FUZZ_TARGETS " in
		*" $name "*) ;;
		*) continue ;;
		esac
	fi
	driver=$(sed -n 's|^// FUZZ_DRIVER: *\([^ ]*\) *$|\1|p' "$target" |
		head -n 1)
	corefiles=$(sed -n 's|^// FUZZ_CORE: *\(.*[^ ]\) *$|\1|p' "$target" |
		head -n 1)
	if [ -n "$corefiles" ]; then
		objs=""
		for f in $corefiles; do
			if [ ! -f "$src/$f" ]; then
				echo "build.sh: $name: FUZZ_CORE names $f," \
					"which does not exist" >&2
				status=1
				continue 2
			fi
			objs="$objs $src/$f"
		done
		echo "build.sh: $name ($corefiles)"
	elif [ -n "$driver" ] && [ -f "$src/$driver" ]; then
		objs="$src/$driver $core"
		# the driver's bill reader (ABI 1.3), when it has one
		if [ -f "$src/${driver%.c}_bill.c" ]; then
			objs="$objs $src/${driver%.c}_bill.c"
		fi
		echo "build.sh: $name ($driver)"
	else
		echo "build.sh: $name: no '// FUZZ_DRIVER: path' line naming" \
			"an existing driver, nor a '// FUZZ_CORE: paths' line" >&2
		status=1
		continue
	fi
	# shellcheck disable=SC2086 # word splitting of the flag lists
	if ! $cc $flags -o "$out/$name" "$target" $objs $deps; then
		echo "build.sh: $name: build failed" >&2
		status=1
		continue
	fi
	built=$((built + 1))
done
echo "build.sh: $built target(s) built in $out"
exit $status
