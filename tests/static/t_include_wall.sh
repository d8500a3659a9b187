#!/usr/bin/env bash
# t_include_wall.sh - the walls of doc/design.md §1, checked over the
# #include lines (no compiler, no build needed):
#
#   1. the pure files (PURE below: the one list; the "pure domain" row of
#      doc/design.md §1 must name the same files) reach nothing of the
#      store (libpq, db.h), HTTP (evhttp, server.h, apiutil.h, httpc.h,
#      curl) or the event loop (event2, daemon.h), directly or through any
#      header they include, however deep; and they include no core header
#      that is not itself pure, so the pure layer is closed;
#   2. the drivers (drivers/*, drivers/common, the test drivers and the
#      example driver) reach no core header at all: only
#      include/payroute/driver.h, drivers/common/ and system headers (the
#      build gives them no -I for core/ either, see Makefile.am).
#
# A quoted include is looked for in the including file's folder, then in
# core/, include/ and drivers/common/ (the -I of Makefile.am); an angle
# include under include/ is followed too; any other angle include is a
# system header, checked by name only. Includes under #if are counted
# (the wall holds whatever the configuration).
#
# On failure it names the file and the chain, e.g.
#   core/policy_io.c reaches <libpq-fe.h>: core/policy_io.c -> core/admin.h
#   -> core/daemon.h -> core/db.h -> <libpq-fe.h>
#
# Before the real tree it checks a small made-up one that breaks each rule
# and must be refused, so the check is known to be able to fail.
#
# Environment: top_srcdir (set by make check). Exit status: 0 pass, 1 fail.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}

# The pure files: core/NAME.c and core/NAME.h for each NAME (both must
# exist unless the name is in PURE_HEADER_ONLY).
PURE="catalogue chanstats clock codemap ctlutil currency drvobj drvschema framing hist
names netguard orderstate payreq policy_io rfreq route router tz wdreq"
PURE_HEADER_ONLY=""

# Folders searched for a quoted include after the includer's own.
INCLUDE_DIRS="core include drivers/common"

# What a pure file may not reach: system headers (ERE over the name as
# written between < >) and the runtime's own headers.
FORBIDDEN_SYS='^(libpq-fe\.h|libpq/.*|postgres.*|event\.h|evhttp\.h|event2/.*|curl/.*)$'
FORBIDDEN_CORE='^core/(db|daemon|server|apiutil|httpc)\.h$'

# The driver files.
driver_files() {
	find drivers tests/drivers contrib/example-driver -type f \
		\( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort
}

# includes FILE: one line per #include: "q NAME" or "a NAME".
includes() {
	awk '
	/^[ \t]*#[ \t]*include[ \t]*"/ {
		s = $0; sub(/^[^"]*"/, "", s); sub(/".*$/, "", s)
		print "q " s; next
	}
	/^[ \t]*#[ \t]*include[ \t]*</ {
		s = $0; sub(/^[^<]*</, "", s); sub(/>.*$/, "", s)
		print "a " s
	}' "$1"
}

# resolve KIND NAME FROM: prints the path (relative to the tree) of the
# header an include names, or nothing for a system header.
resolve() {
	local kind=$1 name=$2 from=$3 d

	if [ "$kind" = q ]; then
		d=$(dirname "$from")
		if [ -f "$d/$name" ]; then
			norm "$d/$name"
			return
		fi
	fi
	for d in $INCLUDE_DIRS; do
		[ "$kind" = a ] && [ "$d" != include ] && continue
		if [ -f "$d/$name" ]; then
			norm "$d/$name"
			return
		fi
	done
}

# norm PATH: a/b/../c -> a/c, ./a -> a.
norm() {
	local IFS=/ part out=()

	for part in $1; do
		case $part in
		'' | .) ;;
		..) [ ${#out[@]} -gt 0 ] && unset 'out[${#out[@]}-1]' ;;
		*) out+=("$part") ;;
		esac
	done
	printf '%s\n' "${out[*]}"
}

# walk FILE CHAIN: depth first over FILE's includes, calling
# on_header PATH CHAIN FROM for each header file and on_system NAME CHAIN
# for each system header reached (FROM: the file that includes it); SEEN
# (an associative array) stops a header from being walked twice for one
# root, REPORTED a failure from being named twice.
walk() {
	local file=$1 chain=$2 kind name path

	while read -r kind name; do
		path=$(resolve "$kind" "$name" "$file")
		if [ -z "$path" ]; then
			on_system "$name" "$chain -> <$name>"
			continue
		fi
		on_header "$path" "$chain -> $path" "$file"
		[ -n "${SEEN[$path]:-}" ] && continue
		SEEN[$path]=1
		walk "$path" "$chain -> $path"
	done < <(includes "$file")
}

BAD=0
# bad KEY MESSAGE: one failure, named once per root and KEY.
bad() {
	[ -n "${REPORTED[$1]:-}" ] && return 0
	REPORTED[$1]=1
	printf 'FAIL: %s\n' "$2" >&2
	BAD=$((BAD + 1))
}

# start ROOT: a new root for walk.
start() {
	ROOT=$1
	unset SEEN REPORTED
	declare -gA SEEN=() REPORTED=()
}

is_pure() {
	local n

	case $1 in core/*.c | core/*.h) ;; *) return 1 ;; esac
	n=${1#core/}
	n=${n%.?}
	case " $(echo $PURE) " in *" $n "*) return 0 ;; esac
	return 1
}

# check_pure: rule 1 over the tree in the current folder.
check_pure() {
	local n f files

	for n in $PURE; do
		files=""
		for f in "core/$n.c" "core/$n.h"; do
			if [ -f "$f" ]; then
				files="$files $f"
			elif [ "$f" = "core/$n.c" ] &&
				case " $PURE_HEADER_ONLY " in *" $n "*) true ;; *) false ;; esac; then
				:
			else
				bad "$f is listed as pure but does not exist"
			fi
		done
		for f in $files; do
			start "$f"
			walk "$f" "$f"
		done
	done
}

# check_drivers: rule 2 over the tree in the current folder.
check_drivers() {
	local f

	while read -r f; do
		start "$f"
		walk "$f" "$f"
	done < <(driver_files)
}

# The hooks of walk, per rule. A pure file's way out of the pure layer is
# named where it leaves it (a pure file including a core header that is
# not pure); the forbidden headers are named wherever they are reached.
pure_on_header() {
	if [[ $1 =~ $FORBIDDEN_CORE ]]; then
		bad "$1" "$ROOT reaches $1: $2"
	fi
	if [[ $1 == core/* ]] && ! is_pure "$1" && is_pure "$3"; then
		bad "leave $1" "$ROOT includes $1, which is not a pure file: $2"
	fi
	return 0
}
pure_on_system() {
	[[ $1 =~ $FORBIDDEN_SYS ]] && bad "<$1>" "$ROOT reaches <$1>: $2"
	return 0
}
driver_on_header() {
	[[ $1 == core/* ]] &&
		bad "$1" "$ROOT (a driver) reaches the core header $1: $2"
	return 0
}
driver_on_system() {
	[[ $1 =~ $FORBIDDEN_SYS ]] &&
		bad "<$1>" "$ROOT (a driver) reaches <$1>: $2"
	return 0
}

# run_checks DIR: both rules over the tree at DIR; prints the failures,
# sets BAD to their count.
run_checks() {
	BAD=0
	(
		cd "$1" || exit 99
		on_header() { pure_on_header "$@"; }
		on_system() { pure_on_system "$@"; }
		check_pure
		on_header() { driver_on_header "$@"; }
		on_system() { driver_on_system "$@"; }
		check_drivers
		exit $((BAD > 0))
	)
}

# ------------------------------------------------ the check can fail
# A made-up tree: router.c (pure) -> "router.h" -> "admin.h" -> "daemon.h"
# -> <event2/event.h>; tz.c includes "log.h" (not pure); a driver includes
# "../../core/orders.h"; every other pure file exists and is clean.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/include-wall.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/core" "$tmp/include/payroute" "$tmp/drivers/x" \
	"$tmp/drivers/common"
for n in $PURE; do
	printf '#include <stddef.h>\n' >"$tmp/core/$n.c"
	printf '#include <payroute/driver.h>\n' >"$tmp/core/$n.h"
done
printf '#include <stdint.h>\n' >"$tmp/include/payroute/driver.h"
printf '#include "router.h"\n' >"$tmp/core/router.c"
printf '#include "admin.h"\n' >"$tmp/core/router.h"
printf '#include "daemon.h"\n' >"$tmp/core/admin.h"
printf '#include <event2/event.h>\n#include "db.h"\n' >"$tmp/core/daemon.h"
printf '#include <libpq-fe.h>\n' >"$tmp/core/db.h"
printf '#include "log.h"\n' >"$tmp/core/tz.c"
printf '#include <stdio.h>\n' >"$tmp/core/log.h"
printf '#include <payroute/driver.h>\n#include "../../core/orders.h"\n' \
	>"$tmp/drivers/x/x.c"
printf '#include <stddef.h>\n' >"$tmp/core/orders.h"

run_checks "$tmp" 2>"$tmp/out" && {
	echo "FAIL: the made-up tree that breaks the walls passed the check"
	exit 1
}
for want in \
	'core/router.c reaches <event2/event.h>: core/router.c -> core/router.h -> core/admin.h -> core/daemon.h -> <event2/event.h>' \
	'core/router.c reaches core/daemon.h: ' \
	'core/router.c reaches <libpq-fe.h>: core/router.c -> core/router.h -> core/admin.h -> core/daemon.h -> core/db.h -> <libpq-fe.h>' \
	'core/router.h includes core/admin.h, which is not a pure file' \
	'core/tz.c includes core/log.h, which is not a pure file: core/tz.c -> core/log.h' \
	'drivers/x/x.c (a driver) reaches the core header core/orders.h'; do
	grep -Fq -- "$want" "$tmp/out" || {
		echo "FAIL: the made-up tree's failures do not say: $want"
		sed 's/^/    /' "$tmp/out"
		exit 1
	}
done
echo "ok - the check refuses a made-up tree that breaks the walls ($(wc -l <"$tmp/out") failures named)"

# ------------------------------------------------ the tree
cd "$top_srcdir" || exit 99
fail=0
run_checks . || fail=1

# The design's list is this one.
doc=$(awk -F'|' '$2 ~ /^ *pure domain *$/ { print $3 }' doc/design.md |
	grep -o '`[a-z_]*`' | tr -d '`' | sort | tr '\n' ' ')
want=$(printf '%s\n' $PURE | sort | tr '\n' ' ')
if [ "$doc" != "$want" ]; then
	echo "FAIL: doc/design.md §1 lists the pure files as: $doc" >&2
	echo "      this check lists them as:             $want" >&2
	fail=1
fi

if [ "$fail" = 0 ]; then
	echo "ok - $(echo $PURE | wc -w) pure files reach no store, HTTP or event loop header and include only pure core headers"
	echo "ok - $(driver_files | wc -l) driver files reach no core header"
fi
exit "$fail"
