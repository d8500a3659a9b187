#!/usr/bin/env bash
# t_openapi_routes.sh - the OpenAPI documents (doc/openapi/merchant.json,
# admin.json) and the listeners' route tables (core/admin/admin.c) name
# the same operations, both ways, so that neither can change without the
# other (tests/openapi/openapi_check.py routes says how a row maps to an
# operation). Both documents are installed (Makefile.am). That the
# answers match the documents' schemas is tests/integration/t_openapi.sh's.
# Environment: top_srcdir (set by make check).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v python3 >/dev/null || {
	echo "SKIP: python3 is not installed"
	exit 77
}
fails=0
for f in merchant admin; do
	grep -q "doc/openapi/$f.json" "$top_srcdir/Makefile.am" ||
		{ echo "not ok - doc/openapi/$f.json is not installed (Makefile.am)"; fails=$((fails + 1)); }
done
python3 "$top_srcdir/tests/openapi/openapi_check.py" routes \
	"$top_srcdir/core/admin/admin.c" "$top_srcdir/doc/openapi/merchant.json" \
	"$top_srcdir/doc/openapi/admin.json" || fails=$((fails + 1))
[ "$fails" = 0 ] || exit 1
echo "ok - the OpenAPI documents and the route tables agree"
