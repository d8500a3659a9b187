#!/usr/bin/env bash
# t_console_vendor.sh - the console's vendored library is what
# contrib/vendor-console.sh brought in (core/admin/console/vendor/SHA256SUMS,
# written from the npm package whose sha512 integrity the script pins),
# every vendored file is installed (Makefile.am's dist_consolevendor_DATA),
# and the console's page loads its scripts and styles from its own files
# only: no inline <script> or <style>, no style="" attribute, nothing
# from another origin (the Content-Security-Policy of core/admin/admin.c would
# refuse them). Environment: top_srcdir (set by make check).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
C=$top_srcdir/core/admin/console
fails=0
bad() {
	echo "not ok - $*"
	fails=$((fails + 1))
}

"$top_srcdir/contrib/vendor-console.sh" --check || bad "vendor/ differs from SHA256SUMS"
for f in $(awk '{ print $2 }' "$C/vendor/SHA256SUMS") SHA256SUMS; do
	grep -q "core/admin/console/vendor/$f" "$top_srcdir/Makefile.am" ||
		bad "core/admin/console/vendor/$f is not installed (Makefile.am)"
done
for ref in /vendor/uPlot.iife.min.js /vendor/uPlot.min.css; do
	grep -q "\"$ref\"" "$C/index.html" || bad "index.html does not load $ref"
done
grep -Eq '<script>|<script [^>]*>[^<]' "$C/index.html" && bad "index.html has an inline script"
grep -Eqi '<style|style=' "$C/index.html" && bad "index.html has inline style"
grep -Eq '(src|href)="(https?:)?//' "$C/index.html" && bad "index.html loads from another origin"
[ "$fails" = 0 ] || exit 1
echo "ok - console/vendor matches SHA256SUMS, is installed, and the page loads only its own files"
