#!/usr/bin/env bash
# t_fuzz.sh - a short, bounded libFuzzer run of every parser target
# (tests/fuzz/fuzz_*.c: each driver's answer and notification parsers, and
# the core's request parsers: payment, refund and withdrawal requests, the
# policy document, the config file).
#
# Builds the targets with tests/fuzz/build.sh (clang, -fsanitize=fuzzer,
# address,undefined) into the test directory, then runs each one for
# FUZZ_SECONDS (default 10) over a copy of its seed corpus
# tests/fuzz/corpus/<target>/ (the seeds stay untouched). Any crash, sanitizer
# report, leak, timeout or assertion of a target fails the test; the
# crashing input is printed (base64) and kept under the test directory
# with PR_KEEP_TEST_DIR=1.
#
# Skips (77) when clang or its fuzzer runtime is missing, unless
# PR_REQUIRE_INTEGRATION=1. On Debian 12 the packages are clang (or
# clang-14) and libclang-rt-14-dev (libclang_rt.fuzzer*.a).
#
# The longer run, before a release or after touching a parser: ten minutes
# per target,
#     FUZZ_SECONDS=600 top_srcdir=$PWD bash tests/integration/t_fuzz.sh
# and to keep what it found as new seeds, run a target by hand on the
# corpus directory itself:
#     sh tests/fuzz/build.sh /tmp/fuzz &&
#     /tmp/fuzz/fuzz_bank_notify -max_total_time=600 \
#         tests/fuzz/corpus/fuzz_bank_notify
# (then minimise with -merge=1 into a fresh directory before committing).
# FUZZ_TARGETS="fuzz_bank_response fuzz_bank_notify" limits the run.
. "$(dirname "$0")/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
case $FUZZ_SECONDS in
'' | *[!0-9]*) fail "FUZZ_SECONDS must be a number of seconds" ;;
esac
CC=${CC_FUZZ:-clang}
export CC

command -v "$CC" >/dev/null 2>&1 ||
	skip "$CC not found (install clang and libclang-rt-14-dev)"

# Is the fuzzer runtime there? Build a one-line target.
probe=$TEST_DIR/probe
cat >"$probe.c" <<'PROBE'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	(void)d;
	(void)n;
	return 0;
}
PROBE
"$CC" -fsanitize=fuzzer,address,undefined -o "$probe" "$probe.c" \
	>"$probe.log" 2>&1 ||
	skip "$CC cannot build a libFuzzer target (libclang-rt-14-dev?):" \
		"$(head -n 3 "$probe.log")"

out=$TEST_DIR/fuzz
say "building the targets"
sh "$top_srcdir/tests/fuzz/build.sh" "$out" >"$TEST_DIR/build.log" 2>&1 || {
	cat "$TEST_DIR/build.log" >&2
	fail "tests/fuzz/build.sh failed"
}

n=0
failed=()
for src in "$top_srcdir"/tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	if [ -n "${FUZZ_TARGETS:-}" ]; then
		case " $FUZZ_TARGETS " in
		*" $name "*) ;;
		*) continue ;;
		esac
	fi
	[ -x "$out/$name" ] || fail "$name was not built"
	corpus=$TEST_DIR/corpus/$name
	mkdir -p "$corpus" "$TEST_DIR/artifacts/$name"
	if [ -d "$top_srcdir/tests/fuzz/corpus/$name" ]; then
		cp -R "$top_srcdir/tests/fuzz/corpus/$name/." "$corpus/"
	else
		say "$name: no seed corpus"
	fi
	say "$name: fuzzing for ${FUZZ_SECONDS}s"
	# timeout: a hard bound above libFuzzer's own (-max_total_time).
	rc=0
	timeout -k 10 $((FUZZ_SECONDS + 120)) "$out/$name" \
		-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-max_len=16384 -print_final_stats=1 \
		-artifact_prefix="$TEST_DIR/artifacts/$name/" \
		"$corpus" >"$TEST_DIR/$name.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$TEST_DIR/$name.log" >&2
		for a in "$TEST_DIR/artifacts/$name"/*; do
			[ -f "$a" ] || continue
			echo "$name: input $(basename "$a") (base64):" >&2
			head -c 4096 "$a" | base64 -w 76 >&2
		done
		failed+=("$name (exit $rc)")
		continue
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		"$TEST_DIR/$name.log")
	pass "$name: ${runs:-?} runs, no crash"
	n=$((n + 1))
done

[ "${#failed[@]}" -eq 0 ] || fail "crashed: ${failed[*]}"
[ "$n" -gt 0 ] || fail "no fuzz target found under tests/fuzz"
pass "$n target(s) fuzzed for ${FUZZ_SECONDS}s each"
