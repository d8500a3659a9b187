#!/usr/bin/env bash
# t_include_wall.sh - the walls of doc/design.md §1, checked over the
# #include lines (no compiler, no build needed):
#
#   1. core/ is its layers, one folder each, lowest first: base, domain,
#      runtime, orders, admin (LAYERS below; each folder has a README, and
#      the layer table of doc/design.md §1 lists each folder's files as
#      they are). A file includes core headers of its own layer and the
#      layers below it only; the one exception is the daemon's assembly,
#      core/runtime/daemon.c (WIRING), which creates the services of every
#      layer. No source sits in core/ outside a layer folder;
#   2. the pure layers (base and domain) and payroutectl's ctl/ctlutil
#      reach nothing of the store (libpq, db.h), HTTP (evhttp, server.h,
#      apiutil.h, httpc.h, curl) or the event loop (event2, daemon.h),
#      directly or through any header they include, however deep; and
#      they include no core header that is not itself pure, so the pure
#      layers are closed;
#   3. the drivers (drivers/*, drivers/common, the test drivers and the
#      example driver) reach no core header at all: only
#      include/payroute/driver.h, drivers/common/ and system headers (the
#      build gives them no -I for core/ either, see Makefile.am);
#   4. payroutectl (ctl/) includes no core header: it does not link the
#      core.
#
# A quoted include is looked for in the including file's folder, then in
# core/, include/ and drivers/common/ (the -I of Makefile.am); an angle
# include under include/ is followed too; any other angle include is a
# system header, checked by name only. Includes under #if are counted
# (the wall holds whatever the configuration).
#
# On failure it names the file and the chain, e.g.
#   core/domain/router.c reaches <libpq-fe.h>: core/domain/router.c
#   -> core/domain/router.h -> core/admin/admin.h -> core/runtime/daemon.h
#   -> core/runtime/db.h -> <libpq-fe.h>
#
# Before the real tree it checks a small made-up one that breaks each rule
# and must be refused, so the check is known to be able to fail.
#
# Environment: top_srcdir (set by make check). Exit status: 0 pass, 1 fail.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}

# core/'s layers, lowest first, and the pure ones among them.
LAYERS="base domain runtime orders admin"
PURE_LAYERS="base domain"
# Pure files outside core/ (payroutectl's pure part).
PURE_EXTRA="ctl/ctlutil.c ctl/ctlutil.h"
# The one file that may include every layer: it assembles the daemon.
WIRING="core/runtime/daemon.c"

# Folders searched for a quoted include after the includer's own.
INCLUDE_DIRS="core include drivers/common"

# What a pure file may not reach: system headers (ERE over the name as
# written between < >) and the runtime's own headers.
FORBIDDEN_SYS='^(libpq-fe\.h|libpq/.*|postgres.*|event\.h|evhttp\.h|event2/.*|curl/.*)$'
FORBIDDEN_CORE='^core/runtime/(db|daemon|server|apiutil|httpc)\.h$'

# core_files: every C source and header under core/.
core_files() {
	find core -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort
}

# layer_of PATH: the layer's index in LAYERS (0 = lowest) of a file under
# core/LAYER/; nothing when PATH is in no layer.
layer_of() {
	local i=0 l

	for l in $LAYERS; do
		case $1 in core/$l/*) echo $i; return ;; esac
		i=$((i + 1))
	done
}

# pure_files: the files rule 2 starts from.
pure_files() {
	local l

	for l in $PURE_LAYERS; do
		find "core/$l" -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null
	done | sort
	for l in $PURE_EXTRA; do
		echo "$l"
	done
}

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
	local l

	for l in $PURE_LAYERS; do
		case $1 in core/$l/*) return 0 ;; esac
	done
	case " $PURE_EXTRA " in *" $1 "*) return 0 ;; esac
	return 1
}

# check_pure: rule 2 over the tree in the current folder.
check_pure() {
	local f

	for f in $PURE_EXTRA; do
		[ -f "$f" ] || bad "$f" "$f is listed as pure but does not exist"
	done
	while read -r f; do
		[ -f "$f" ] || continue
		start "$f"
		walk "$f" "$f"
	done < <(pure_files)
}

# check_layers: rule 1 (and 4) over the tree in the current folder; only
# a file's own includes are read (each file is checked, so a chain is
# checked link by link).
check_layers() {
	local f l kind name path mine theirs

	start layers
	for l in $LAYERS; do
		[ -d "core/$l" ] || bad "core/$l" "core/$l/ (a layer) does not exist"
		[ -f "core/$l/README" ] || bad "core/$l/README" "core/$l/ has no README"
	done
	while read -r f; do
		mine=$(layer_of "$f")
		if [ -z "$mine" ]; then
			bad "$f" "$f is in no layer folder of core/ ($LAYERS)"
			continue
		fi
		[ "$f" = "$WIRING" ] && continue
		while read -r kind name; do
			path=$(resolve "$kind" "$name" "$f")
			[[ $path == core/* ]] || continue
			theirs=$(layer_of "$path")
			[ -n "$theirs" ] || continue
			if [ "$theirs" -gt "$mine" ]; then
				bad "$f $path" "$f includes $path, a layer above its own: $(layer_name "$mine") includes only $(layers_upto "$mine")"
			fi
		done < <(includes "$f")
	done < <(core_files)
	while read -r f; do
		while read -r kind name; do
			path=$(resolve "$kind" "$name" "$f")
			[[ $path == core/* ]] &&
				bad "$f $path" "$f (payroutectl) includes the core header $path"
		done < <(includes "$f")
	done < <(find ctl -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
	return 0
}

# layer_name I, layers_upto I: the layer of index I; it and those below.
layer_name() {
	set -- "$1" $LAYERS
	shift $(($1 + 1))
	echo "$1"
}
layers_upto() {
	local i=0 l out=""

	for l in $LAYERS; do
		[ "$i" -gt "$1" ] && break
		out="$out${out:+, }$l"
		i=$((i + 1))
	done
	echo "$out"
}

# check_drivers: rule 3 over the tree in the current folder.
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

# run_checks DIR: the rules over the tree at DIR; prints the failures,
# exits non-zero when there are any.
run_checks() {
	BAD=0
	(
		cd "$1" || exit 99
		check_layers
		on_header() { pure_on_header "$@"; }
		on_system() { pure_on_system "$@"; }
		check_pure
		on_header() { driver_on_header "$@"; }
		on_system() { driver_on_system "$@"; }
		check_drivers
		exit $((BAD > 0))
	)
}

# design_rows: "LAYER FILE..." for each row of the layer table of
# doc/design.md §1 whose first cell is a core folder (`core/LAYER/`), the
# files as its second cell names them (`name`, without .c/.h).
design_rows() {
	awk -F'|' '$2 ~ /`core\/[a-z]+\/`/ {
		l = $2; sub(/^[^`]*`core\//, "", l); sub(/\/`.*$/, "", l)
		n = split($3, w, "`"); out = l
		for (i = 2; i <= n; i += 2) if (w[i] !~ /\//) out = out " " w[i]
		print out
	}' "$1"
}

# folder_names LAYER: the names (without .c/.h) of core/LAYER's sources.
folder_names() {
	find "core/$1" -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) \
		-printf '%f\n' | sed 's/\.[ch]$//' | sort -u | tr '\n' ' '
}

# ------------------------------------------------ the check can fail
# A made-up tree: router.c (pure) -> "domain/router.h" -> "admin/admin.h"
# -> "runtime/daemon.h" -> <event2/event.h>; tz.c includes
# "runtime/log.h" (not pure, a layer above); orders.c includes
# "admin/admin.h" (a layer above); a file sits at core/'s root; the
# admin folder has no README; payroutectl and a driver include core
# headers.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/include-wall.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
for l in $LAYERS; do
	mkdir -p "$tmp/core/$l"
	[ "$l" = admin ] || : >"$tmp/core/$l/README"
done
mkdir -p "$tmp/include/payroute" "$tmp/drivers/x" "$tmp/drivers/common" \
	"$tmp/ctl"
printf '#include <stdint.h>\n' >"$tmp/include/payroute/driver.h"
printf '#include "domain/router.h"\n' >"$tmp/core/domain/router.c"
printf '#include "admin/admin.h"\n' >"$tmp/core/domain/router.h"
printf '#include "runtime/daemon.h"\n' >"$tmp/core/admin/admin.h"
printf '#include <event2/event.h>\n#include "runtime/db.h"\n' \
	>"$tmp/core/runtime/daemon.h"
printf '#include <libpq-fe.h>\n' >"$tmp/core/runtime/db.h"
printf '#include "runtime/log.h"\n' >"$tmp/core/domain/tz.c"
printf '#include <stdio.h>\n' >"$tmp/core/runtime/log.h"
printf '#include "admin/admin.h"\n' >"$tmp/core/orders/orders.c"
printf '#include "orders/orders.h"\n#include "admin/admin.h"\n' \
	>"$tmp/core/runtime/daemon.c"
printf '#include <stddef.h>\n' >"$tmp/core/orders/orders.h"
printf '#include <stddef.h>\n' >"$tmp/core/stray.c"
printf '#include "ctlutil.h"\n#include "../core/runtime/log.h"\n' \
	>"$tmp/ctl/payroutectl.c"
printf '#include <stddef.h>\n' >"$tmp/ctl/ctlutil.h"
printf '#include "ctlutil.h"\n' >"$tmp/ctl/ctlutil.c"
printf '#include <payroute/driver.h>\n#include "../../core/orders/orders.h"\n' \
	>"$tmp/drivers/x/x.c"

run_checks "$tmp" 2>"$tmp/out" && {
	echo "FAIL: the made-up tree that breaks the walls passed the check"
	exit 1
}
for want in \
	'core/domain/router.c reaches <event2/event.h>: core/domain/router.c -> core/domain/router.h -> core/admin/admin.h -> core/runtime/daemon.h -> <event2/event.h>' \
	'core/domain/router.c reaches core/runtime/daemon.h: ' \
	'core/domain/router.c reaches <libpq-fe.h>: core/domain/router.c -> core/domain/router.h -> core/admin/admin.h -> core/runtime/daemon.h -> core/runtime/db.h -> <libpq-fe.h>' \
	'core/domain/router.h includes core/admin/admin.h, which is not a pure file' \
	'core/domain/tz.c includes core/runtime/log.h, which is not a pure file: core/domain/tz.c -> core/runtime/log.h' \
	'core/domain/tz.c includes core/runtime/log.h, a layer above its own: domain includes only base, domain' \
	'core/orders/orders.c includes core/admin/admin.h, a layer above its own: orders includes only base, domain, runtime, orders' \
	'core/stray.c is in no layer folder of core/' \
	'core/admin/ has no README' \
	'ctl/payroutectl.c (payroutectl) includes the core header core/runtime/log.h' \
	'drivers/x/x.c (a driver) reaches the core header core/orders/orders.h'; do
	grep -Fq -- "$want" "$tmp/out" || {
		echo "FAIL: the made-up tree's failures do not say: $want"
		sed 's/^/    /' "$tmp/out"
		exit 1
	}
done
if grep -Fq 'core/runtime/daemon.c includes' "$tmp/out"; then
	echo "FAIL: the daemon's assembly ($WIRING) was refused for including every layer"
	exit 1
fi
echo "ok - the check refuses a made-up tree that breaks the walls ($(wc -l <"$tmp/out") failures named)"

# ------------------------------------------------ the tree
cd "$top_srcdir" || exit 99
fail=0
run_checks . || fail=1

# The design's table is the folders as they are.
rows=$(design_rows doc/design.md)
for l in $LAYERS; do
	doc=$(printf '%s\n' "$rows" | awk -v l="$l" '$1 == l { $1 = ""; print }' |
		tr ' ' '\n' | grep . | sort -u | tr '\n' ' ')
	want=$(folder_names "$l")
	if [ "$doc" != "$want" ]; then
		echo "FAIL: doc/design.md §1 lists core/$l/ as: $doc" >&2
		echo "      the folder holds:                  $want" >&2
		fail=1
	fi
done

if [ "$fail" = 0 ]; then
	echo "ok - $(core_files | wc -l) core files each in a layer ($LAYERS), including only their own layer and those below (but $WIRING)"
	echo "ok - $(pure_files | wc -l) pure files reach no store, HTTP or event loop header and include only pure headers"
	echo "ok - $(driver_files | wc -l) driver files and payroutectl reach no core header"
	echo "ok - doc/design.md §1 lists each layer's files as they are"
fi
exit "$fail"
