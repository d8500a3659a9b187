#!/usr/bin/env bash
# contrib/vendor-console.sh - brings the console's one third-party library,
# uPlot (the overview's time-series charts), into core/admin/console/vendor/ from
# the npm registry, pinned by version and by the registry's sha512
# integrity of the package, and writes SHA256SUMS of what it copied.
#
#   contrib/vendor-console.sh           fetch the pinned package, check its
#                                       integrity, copy its files, write
#                                       SHA256SUMS
#   contrib/vendor-console.sh --check   fetch nothing: the vendored files
#                                       are the ones SHA256SUMS names
#                                       (tests/static/t_console_vendor.sh)
#
# Why uPlot: a maintained chart library of about 50 kB with no
# dependencies, drawing on a canvas (no inline style or script, so the
# console's Content-Security-Policy holds), shipped as one IIFE file the
# console loads as it is, with no build step; MIT licensed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/core/admin/console/vendor
UPLOT_VERSION=1.6.32
UPLOT_INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==
# package path -> vendored name
FILES="dist/uPlot.iife.min.js:uPlot.iife.min.js dist/uPlot.min.css:uPlot.min.css LICENSE:uPlot.LICENSE"

die() {
	printf 'vendor-console.sh: %s\n' "$*" >&2
	exit 1
}

if [ "${1:-}" = --check ]; then
	[ -f "$DEST/SHA256SUMS" ] || die "no $DEST/SHA256SUMS"
	(cd "$DEST" && sha256sum --quiet -c SHA256SUMS) ||
		die "core/admin/console/vendor/ is not what SHA256SUMS names: run contrib/vendor-console.sh"
	exit 0
fi

command -v npm >/dev/null || die "npm is needed (Debian: apt-get install npm)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null) ||
	die "npm pack uplot@$UPLOT_VERSION failed"
tgz=$tmp/uplot-$UPLOT_VERSION.tgz
[ -f "$tgz" ] || die "npm pack wrote no $tgz"
got=sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
[ "$got" = "$UPLOT_INTEGRITY" ] ||
	die "uplot-$UPLOT_VERSION.tgz has integrity $got, pinned $UPLOT_INTEGRITY"
tar -xzf "$tgz" -C "$tmp"
mkdir -p "$DEST"
for f in $FILES; do
	cp "$tmp/package/${f%%:*}" "$DEST/${f#*:}" || die "the package has no ${f%%:*}"
done
(cd "$DEST" && sha256sum $(for f in $FILES; do echo "${f#*:}"; done) >SHA256SUMS)
printf 'vendor-console.sh: uPlot %s (integrity checked) in %s\n' "$UPLOT_VERSION" "$DEST"
