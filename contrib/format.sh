#!/usr/bin/env bash
# contrib/format.sh - applies clang-format (.clang-format at the top) to the
# C sources and headers under core/ drivers/ tests/ include/ contrib/.
#
#   contrib/format.sh            reformat the files in place
#   contrib/format.sh --check    change nothing; list the files that are not
#                                formatted, exit 1 if there is any
#   contrib/format.sh [--check] FILE...   only those files
#
# CLANG_FORMAT names the binary (default: clang-format).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CF=${CLANG_FORMAT:-clang-format}
check=0

if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
command -v "$CF" >/dev/null 2>&1 ||
	{ echo "format.sh: $CF not found (apt-get install clang-format)" >&2; exit 2; }

if [ "$#" -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(find core drivers tests include contrib \
		-type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
fi

bad=0
for f in "${files[@]}"; do
	if [ "$check" = 1 ]; then
		if ! "$CF" --style=file "$f" | cmp -s - "$f"; then
			echo "not formatted: $f"
			bad=$((bad + 1))
		fi
	else
		"$CF" --style=file -i "$f"
	fi
done
if [ "$check" = 1 ]; then
	echo "format.sh: ${#files[@]} files checked, $bad not formatted"
	[ "$bad" = 0 ]
fi
