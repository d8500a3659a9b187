/*
 * test_route.c - the route matcher (core/base/route.c) against a small table
 * of its own, one named row per case: literal paths, a named segment, a
 * rest segment, a segment check, the first pattern deciding, 405 with the
 * methods of its rows. Then the Allow header text and the pattern checks.
 * Last the faces of both listeners (core/admin/admin.c) as a spec: a method and
 * a path in, the row's pattern out (or 404, or 405 with its Allow), and
 * every row of both tables reached by one of its lines.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin/admin.h"
#include "base/route.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------ the matcher */

static void h_a(struct pr_request *r, const struct pr_route_match *m)
{
}

static void h_b(struct pr_request *r, const struct pr_route_match *m)
{
}

static int digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

static const struct pr_route table[] = {
	{ PR_READ, "/things", h_a, PR_AUTH_NONE, NULL, PR_PERM_NONE },
	{ PR_POST, "/things", h_b, PR_AUTH_NONE, NULL, PR_PERM_NONE },
	{ PR_GET, "/things/{id}", h_a, PR_AUTH_ADMIN, digits, PR_PERM_VIEW },
	{ PR_DELETE | PR_PUT, "/things/{id}", h_b, PR_AUTH_ADMIN, digits,
	  PR_PERM_POLICY_WRITE },
	{ PR_POST, "/things/{id}/parts/{part}", h_a, PR_AUTH_NONE, NULL,
	  PR_PERM_NONE },
	{ PR_GET, "/things/{name}", h_b, PR_AUTH_NONE, NULL, PR_PERM_NONE },
	{ PR_POST, "/hooks/{code*}", h_a, PR_AUTH_CHANNEL, NULL, PR_PERM_NONE },
	{ PR_ANY, "/admin/{rest*}", h_b, PR_AUTH_ADMIN, NULL, PR_PERM_SELF },
};

struct find_case {
	const char *name;
	unsigned method;
	const char *path;
	int rc;		   /* 0, -ENOTSUP or -ENOENT */
	int row;	   /* the row found (or the first of the pattern) */
	unsigned allowed;  /* for -ENOTSUP */
	const char *param; /* a named segment ... */
	const char *value; /* ... and its value */
};

static const struct find_case find_cases[] = {
	{ "a literal path", PR_GET, "/things", 0, 0, 0, NULL, NULL },
	{ "HEAD where the row takes it", PR_HEAD, "/things", 0, 0, 0, NULL,
	  NULL },
	{ "the second row of a pattern", PR_POST, "/things", 0, 1, 0, NULL,
	  NULL },
	{ "a method no row of the pattern takes", PR_PUT, "/things", -ENOTSUP,
	  0, PR_READ | PR_POST, NULL, NULL },
	{ "a method none names", PR_OTHER, "/things", -ENOTSUP, 0,
	  PR_READ | PR_POST, NULL, NULL },
	{ "a trailing slash is another path", PR_GET, "/things/", -ENOENT, 0, 0,
	  NULL, NULL },
	{ "a longer literal", PR_GET, "/thingsx", -ENOENT, 0, 0, NULL, NULL },
	{ "a shorter one", PR_GET, "/thing", -ENOENT, 0, 0, NULL, NULL },
	{ "a named segment", PR_GET, "/things/42", 0, 2, 0, "id", "42" },
	{ "HEAD where the row does not take it", PR_HEAD, "/things/42",
	  -ENOTSUP, 2, PR_GET | PR_PUT | PR_DELETE, "id", "42" },
	{ "the row of the pattern with the method", PR_DELETE, "/things/42", 0,
	  3, 0, "id", "42" },
	{ "a segment its check refuses goes on below", PR_GET, "/things/abc", 0,
	  5, 0, "name", "abc" },
	{ "...and 405 from the pattern that took it", PR_DELETE, "/things/abc",
	  -ENOTSUP, 5, PR_GET, "name", "abc" },
	{ "two named segments", PR_POST, "/things/7/parts/wheel", 0, 4, 0,
	  "part", "wheel" },
	{ "an empty segment is none", PR_POST, "/things/7/parts/", -ENOENT, 0,
	  0, NULL, NULL },
	{ "a segment stops at /", PR_POST, "/things/7/parts/a/b", -ENOENT, 0, 0,
	  NULL, NULL },
	{ "a rest segment takes slashes", PR_POST, "/hooks/bank/x/y", 0, 6, 0,
	  "code", "bank/x/y" },
	{ "a rest segment may be empty", PR_POST, "/hooks/", 0, 6, 0, "code",
	  "" },
	{ "a catch-all takes any method", PR_OTHER, "/admin/v9/x", 0, 7, 0,
	  "rest", "v9/x" },
	{ "no pattern takes it", PR_GET, "/elsewhere", -ENOENT, 0, 0, NULL,
	  NULL },
	{ "the root", PR_GET, "/", -ENOENT, 0, 0, NULL, NULL },
};

static void test_find(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < N(find_cases); i++) {
		const struct find_case *c = &find_cases[i];
		struct pr_route_match m;
		int rc = pr_route_find(table, N(table), c->method, c->path, &m);
		const char *v;

		if (rc != c->rc) {
			print_error("%s: %s: rc %d, want %d\n", c->name,
				    c->path, rc, c->rc);
			bad++;
			continue;
		}
		if (rc == -ENOENT) {
			assert_null(m.route);
			continue;
		}
		if (m.route != &table[c->row]) {
			print_error("%s: %s: row %d, want %d\n", c->name,
				    c->path, (int)(m.route - table), c->row);
			bad++;
		}
		if (rc == -ENOTSUP && m.allowed != c->allowed) {
			print_error("%s: allowed %#x, want %#x\n", c->name,
				    m.allowed, c->allowed);
			bad++;
		}
		v = c->param ? pr_route_param(&m, c->param) : NULL;
		if (c->param && (!v || strcmp(v, c->value) != 0)) {
			print_error("%s: {%s} is %s, want %s\n", c->name,
				    c->param, v ? v : "(none)", c->value);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_param(void **state)
{
	struct pr_route_match m;

	assert_int_equal(pr_route_find(table, N(table), PR_POST,
				       "/things/7/parts/wheel", &m),
			 0);
	assert_int_equal(m.n_params, 2);
	assert_string_equal(pr_route_param(&m, "id"), "7");
	assert_string_equal(pr_route_param(&m, "part"), "wheel");
	/* a prefix of a name is not the name */
	assert_null(pr_route_param(&m, "i"));
	assert_null(pr_route_param(&m, "par"));
	assert_null(pr_route_param(&m, "name"));
}

/* ---------------------------------------------------------- Allow */

static void test_allow(void **state)
{
	static const struct {
		unsigned methods;
		const char *allow;
	} rows[] = {
		{ PR_GET, "GET" },
		{ PR_READ, "GET" },
		{ PR_HEAD, "" },
		{ PR_READ | PR_POST, "GET, POST" },
		{ PR_READ | PR_PATCH, "GET, PATCH" },
		{ PR_DELETE | PR_READ | PR_PUT, "GET, PUT, DELETE" },
		{ PR_POST, "POST" },
		{ PR_GET | PR_POST | PR_PUT | PR_PATCH | PR_DELETE,
		  "GET, POST, PUT, PATCH, DELETE" },
		{ 0, "" },
	};
	char buf[64], small[8];

	for (size_t i = 0; i < N(rows); i++) {
		assert_ptr_equal(
			pr_route_allow(rows[i].methods, buf, sizeof(buf)), buf);
		assert_string_equal(buf, rows[i].allow);
	}
	/* cut, never overrun */
	pr_route_allow(PR_GET | PR_POST | PR_DELETE, small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_int_equal(strncmp(small, "GET, PO", 7), 0);
}

/* --------------------------------------------------------- patterns */

static void test_check(void **state)
{
	static const struct {
		const char *pattern;
		int ok;
	} rows[] = {
		{ "/", 1 },
		{ "/a/{b}/c", 1 },
		{ "/a/{b}/{c}", 1 },
		{ "/a/{rest*}", 1 },
		{ "/{a}/{b}/{c}/{d}", 1 },
		{ "a/b", 0 },
		{ "/a/{b", 0 },
		{ "/a/b}", 0 },
		{ "/a/{}", 0 },
		{ "/a/{*}", 0 },
		{ "/a/{b/c}", 0 },
		{ "/a/{rest*}/more", 0 },
		{ "/a/{b*c}", 0 },
		{ "/{a}/{b}/{c}/{d}/{e}", 0 },
	};
	struct pr_route one = { PR_GET,	      NULL, h_a,
				PR_AUTH_NONE, NULL, PR_PERM_NONE };
	char err[160];

	for (size_t i = 0; i < N(rows); i++) {
		one.pattern = rows[i].pattern;
		err[0] = '\0';
		if ((pr_route_check(&one, 1, err, sizeof(err)) == 0) !=
		    rows[i].ok)
			fail_msg("%s: %s", rows[i].pattern,
				 rows[i].ok ? err : "passed");
		if (!rows[i].ok)
			assert_non_null(strstr(err, rows[i].pattern));
	}
	one.pattern = "/a";
	one.handle = NULL;
	assert_int_equal(pr_route_check(&one, 1, err, sizeof(err)), -EINVAL);
	one.handle = h_a;
	one.methods = 0;
	assert_int_equal(pr_route_check(&one, 1, err, sizeof(err)), -EINVAL);
	/* an operator's row names a permission, and no other row does */
	one.methods = PR_GET;
	one.auth = PR_AUTH_ADMIN;
	assert_int_equal(pr_route_check(&one, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "names no permission"));
	one.perm = PR_PERM_VIEW;
	assert_int_equal(pr_route_check(&one, 1, err, sizeof(err)), 0);
	one.perm = PR_PERM_N;
	assert_int_equal(pr_route_check(&one, 1, err, sizeof(err)), -EINVAL);
	one.auth = PR_AUTH_MERCHANT;
	one.perm = PR_PERM_VIEW;
	assert_int_equal(pr_route_check(&one, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no operator's"));
	assert_int_equal(pr_route_check(table, N(table), err, sizeof(err)), 0);
}

static void test_id_ok(void **state)
{
	assert_true(pr_route_id_ok("1"));
	assert_true(pr_route_id_ok("123456789012345678"));
	assert_false(pr_route_id_ok("1234567890123456789"));
	assert_false(pr_route_id_ok(""));
	assert_false(pr_route_id_ok("12a"));
	assert_false(pr_route_id_ok("-1"));
}

/* ---------------------------------------------------- the listeners */

/* A method and a path, and what the listener's table makes of it: the
 * pattern of the row (auth: its auth), or 404 (pattern NULL), or 405
 * (pattern: the one that took the path, allow: the header). */
struct face {
	unsigned method;
	const char *path;
	const char *pattern;
	enum pr_route_auth auth;
	const char *allow; /* NULL: not a 405 */
};

#define ADMIN PR_AUTH_ADMIN
#define NONE PR_AUTH_NONE
#define MERCHANT PR_AUTH_MERCHANT

static const struct face admin_face[] = {
	{ PR_GET, "/healthz", "/healthz", NONE, NULL },
	{ PR_HEAD, "/readyz", "/readyz", NONE, NULL },
	{ PR_POST, "/healthz", "/healthz", NONE, "GET" },
	{ PR_GET, "/metrics", "/metrics", NONE, NULL },
	{ PR_PUT, "/metrics", "/metrics", NONE, "GET" },
	{ PR_GET, "/admin/v1/status", "/admin/v1/status", ADMIN, NULL },
	{ PR_POST, "/admin/v1/reload", "/admin/v1/reload", ADMIN, NULL },
	{ PR_GET, "/admin/v1/reload", "/admin/v1/reload", ADMIN, "POST" },
	{ PR_GET, "/admin/v1/overview", "/admin/v1/overview", ADMIN, NULL },
	{ PR_POST, "/admin/v1/overview", "/admin/v1/overview", ADMIN, "GET" },
	{ PR_GET, "/admin/v1/currencies", "/admin/v1/currencies", ADMIN, NULL },
	{ PR_GET, "/admin/v1/drivers", "/admin/v1/drivers", ADMIN, NULL },
	{ PR_GET, "/admin/v1/drivers/bank", "/admin/v1/drivers/{name}", ADMIN,
	  NULL },
	{ PR_GET, "/admin/v1/drivers/", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/drivers/a/b", "/admin/{rest*}", ADMIN, NULL },
	{ PR_POST, "/admin/v1/route/explain", "/admin/v1/route/explain", ADMIN,
	  NULL },
	{ PR_GET, "/admin/v1/route/explain", "/admin/v1/route/explain", ADMIN,
	  "POST" },
	{ PR_GET, "/admin/v1/openapi.json", "/admin/v1/openapi.json", ADMIN,
	  NULL },
	{ PR_HEAD, "/admin/v1/openapi.json", "/admin/v1/openapi.json", ADMIN,
	  NULL },
	{ PR_PUT, "/admin/v1/openapi.json", "/admin/v1/openapi.json", ADMIN,
	  "GET" },
	{ PR_GET, "/admin/v1/channels", "/admin/v1/channels", ADMIN, NULL },
	{ PR_POST, "/admin/v1/channels", "/admin/v1/channels", ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/channels", "/admin/v1/channels", ADMIN,
	  "GET, POST" },
	{ PR_GET, "/admin/v1/channels/ali_1", "/admin/v1/channels/{code}",
	  ADMIN, NULL },
	{ PR_PATCH, "/admin/v1/channels/ali_1", "/admin/v1/channels/{code}",
	  ADMIN, NULL },
	{ PR_PUT, "/admin/v1/channels/ali_1", "/admin/v1/channels/{code}",
	  ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/channels/ali_1", "/admin/v1/channels/{code}",
	  ADMIN, NULL },
	{ PR_POST, "/admin/v1/channels/ali_1", "/admin/v1/channels/{code}",
	  ADMIN, "GET, PUT, PATCH, DELETE" },
	{ PR_GET, "/admin/v1/channels/Ali", "/admin/{rest*}", ADMIN, NULL },
	{ PR_POST, "/admin/v1/channels/ali_1/status",
	  "/admin/v1/channels/{code}/status", ADMIN, NULL },
	{ PR_GET, "/admin/v1/channels/ali_1/status",
	  "/admin/v1/channels/{code}/status", ADMIN, "POST" },
	{ PR_GET, "/admin/v1/channels/ali_1/breaker",
	  "/admin/v1/channels/{code}/breaker", ADMIN, NULL },
	{ PR_POST, "/admin/v1/channels/ali_1/breaker",
	  "/admin/v1/channels/{code}/breaker", ADMIN, NULL },
	{ PR_PUT, "/admin/v1/channels/ali_1/breaker",
	  "/admin/v1/channels/{code}/breaker", ADMIN, "GET, POST" },
	{ PR_GET, "/admin/v1/breakers", "/admin/v1/breakers", ADMIN, NULL },
	{ PR_PUT, "/admin/v1/channels/ali_1/weight",
	  "/admin/v1/channels/{code}/weight", ADMIN, NULL },
	{ PR_GET, "/admin/v1/channels/ali_1/other", "/admin/{rest*}", ADMIN,
	  NULL },
	{ PR_GET, "/admin/v1/whitelist", "/admin/v1/whitelist", ADMIN, NULL },
	{ PR_POST, "/admin/v1/whitelist", "/admin/v1/whitelist", ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/whitelist/12", "/admin/v1/whitelist/{id}",
	  ADMIN, NULL },
	{ PR_GET, "/admin/v1/whitelist/12", "/admin/v1/whitelist/{id}", ADMIN,
	  "DELETE" },
	{ PR_DELETE, "/admin/v1/whitelist/x", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/routing/rules", "/admin/v1/routing/rules", ADMIN,
	  NULL },
	{ PR_PUT, "/admin/v1/routing/rules", "/admin/v1/routing/rules", ADMIN,
	  NULL },
	{ PR_POST, "/admin/v1/routing/rules", "/admin/v1/routing/rules", ADMIN,
	  "GET, PUT" },
	{ PR_GET, "/admin/v1/codes", "/admin/v1/codes", ADMIN, NULL },
	{ PR_PUT, "/admin/v1/codes", "/admin/v1/codes", ADMIN, "GET" },
	{ PR_GET, "/admin/v1/codes/overrides", "/admin/v1/codes/overrides",
	  ADMIN, NULL },
	{ PR_PUT, "/admin/v1/codes/overrides", "/admin/v1/codes/overrides",
	  ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/codes/overrides", "/admin/v1/codes/overrides",
	  ADMIN, NULL },
	{ PR_POST, "/admin/v1/codes/overrides", "/admin/v1/codes/overrides",
	  ADMIN, "GET, PUT, DELETE" },
	{ PR_GET, "/admin/v1/codes/unmapped", "/admin/v1/codes/unmapped", ADMIN,
	  NULL },
	{ PR_GET, "/admin/v1/codes/", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/audit", "/admin/v1/audit", ADMIN, NULL },
	{ PR_GET, "/admin/v1/policy", "/admin/v1/policy", ADMIN, NULL },
	{ PR_PUT, "/admin/v1/policy", "/admin/v1/policy", ADMIN, NULL },
	{ PR_POST, "/admin/v1/policy/replay", "/admin/v1/policy/replay", ADMIN,
	  NULL },
	{ PR_GET, "/admin/v1/policy/replay", "/admin/v1/policy/replay", ADMIN,
	  "POST" },
	{ PR_GET, "/admin/v1/policy/replay/1765090000000",
	  "/admin/v1/policy/replay/{id}", ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/policy/replay/12",
	  "/admin/v1/policy/replay/{id}", ADMIN, "GET" },
	{ PR_GET, "/admin/v1/policy/replay/x", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/merchants", "/admin/v1/merchants", ADMIN, NULL },
	{ PR_POST, "/admin/v1/merchants", "/admin/v1/merchants", ADMIN, NULL },
	{ PR_GET, "/admin/v1/merchants/m-1", "/admin/v1/merchants/{id}", ADMIN,
	  NULL },
	{ PR_PATCH, "/admin/v1/merchants/m-1", "/admin/v1/merchants/{id}",
	  ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/merchants/m-1", "/admin/v1/merchants/{id}",
	  ADMIN, "GET, PATCH" },
	{ PR_GET, "/admin/v1/merchants/_x", "/admin/{rest*}", ADMIN, NULL },
	{ PR_POST, "/admin/v1/merchants/m-1/keys",
	  "/admin/v1/merchants/{id}/keys", ADMIN, NULL },
	{ PR_GET, "/admin/v1/merchants/m-1/keys",
	  "/admin/v1/merchants/{id}/keys", ADMIN, "POST" },
	{ PR_POST, "/admin/v1/merchants/m-1/notify-secret",
	  "/admin/v1/merchants/{id}/notify-secret", ADMIN, NULL },
	{ PR_GET, "/admin/v1/merchantsx", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/notifications", "/admin/v1/notifications", ADMIN,
	  NULL },
	{ PR_GET, "/admin/v1/notifications/9", "/admin/v1/notifications/{id}",
	  ADMIN, NULL },
	{ PR_POST, "/admin/v1/notifications/9/retry",
	  "/admin/v1/notifications/{id}/retry", ADMIN, NULL },
	{ PR_GET, "/admin/v1/notifications/9/retry",
	  "/admin/v1/notifications/{id}/retry", ADMIN, "POST" },
	{ PR_GET, "/admin/v1/notifications/x", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/orders/attention", "/admin/v1/orders/attention",
	  ADMIN, NULL },
	{ PR_HEAD, "/admin/v1/orders/attention", "/admin/v1/orders/attention",
	  ADMIN, "GET" },
	{ PR_GET, "/admin/v1/payments", "/admin/v1/payments", ADMIN, NULL },
	{ PR_POST, "/admin/v1/payments", "/admin/v1/payments", ADMIN, "GET" },
	{ PR_GET, "/admin/v1/payments/P1234567", "/admin/v1/payments/{id}",
	  ADMIN, NULL },
	{ PR_POST, "/admin/v1/payments/P1234567/settle",
	  "/admin/v1/payments/{id}/settle", ADMIN, NULL },
	{ PR_GET, "/admin/v1/payments/P1234567/settle",
	  "/admin/v1/payments/{id}/settle", ADMIN, "POST" },
	{ PR_GET, "/admin/v1/refunds", "/admin/v1/refunds", ADMIN, NULL },
	{ PR_POST, "/admin/v1/refunds/R1234567/settle",
	  "/admin/v1/refunds/{id}/settle", ADMIN, NULL },
	{ PR_GET, "/admin/v1/withdrawals", "/admin/v1/withdrawals", ADMIN,
	  NULL },
	{ PR_POST, "/admin/v1/withdrawals/W1234567/settle",
	  "/admin/v1/withdrawals/{id}/settle", ADMIN, NULL },
	{ PR_GET, "/admin/v1/refunds/overdue", "/admin/v1/refunds/overdue",
	  ADMIN, NULL },
	{ PR_POST, "/admin/v1/refunds/overdue", "/admin/v1/refunds/overdue",
	  ADMIN, "GET" },
	{ PR_GET, "/admin/v1/refunds/R1234567", "/admin/v1/refunds/{id}", ADMIN,
	  NULL },
	{ PR_POST, "/admin/v1/refunds/R1234567/resend",
	  "/admin/v1/refunds/{id}/resend", ADMIN, NULL },
	{ PR_POST, "/admin/v1/refunds/R1234567/resolve",
	  "/admin/v1/refunds/{id}/resolve", ADMIN, NULL },
	{ PR_GET, "/admin/v1/refunds/R1234567/resolve",
	  "/admin/v1/refunds/{id}/resolve", ADMIN, "POST" },
	{ PR_GET, "/admin/v1/withdrawals/W1234567",
	  "/admin/v1/withdrawals/{id}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/reconciliation", "/admin/v1/reconciliation", ADMIN,
	  NULL },
	{ PR_POST, "/admin/v1/reconciliation", "/admin/v1/reconciliation",
	  ADMIN, "GET" },
	{ PR_POST, "/admin/v1/reconciliation/runs",
	  "/admin/v1/reconciliation/runs", ADMIN, NULL },
	{ PR_GET, "/admin/v1/reconciliation/runs",
	  "/admin/v1/reconciliation/runs", ADMIN, "POST" },
	{ PR_POST, "/admin/v1/reconciliation/differences/12/resolve",
	  "/admin/v1/reconciliation/differences/{id}/resolve", ADMIN, NULL },
	{ PR_POST, "/admin/v1/reconciliation/differences/x/resolve",
	  "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/approvals", "/admin/v1/approvals", ADMIN, NULL },
	{ PR_POST, "/admin/v1/approvals", "/admin/v1/approvals", ADMIN, "GET" },
	{ PR_GET, "/admin/v1/approvals/42", "/admin/v1/approvals/{id}", ADMIN,
	  NULL },
	{ PR_POST, "/admin/v1/approvals/42/approve",
	  "/admin/v1/approvals/{id}/approve", ADMIN, NULL },
	{ PR_GET, "/admin/v1/approvals/42/approve",
	  "/admin/v1/approvals/{id}/approve", ADMIN, "POST" },
	{ PR_POST, "/admin/v1/approvals/42/reject",
	  "/admin/v1/approvals/{id}/reject", ADMIN, NULL },
	{ PR_POST, "/admin/v1/approvals/x/approve", "/admin/{rest*}", ADMIN,
	  NULL },
	{ PR_POST, "/admin/v1/session", "/admin/v1/session", NONE, NULL },
	{ PR_DELETE, "/admin/v1/session", "/admin/v1/session", ADMIN, NULL },
	{ PR_GET, "/admin/v1/session", "/admin/v1/session", ADMIN,
	  "POST, DELETE" },
	{ PR_GET, "/admin/v1/whoami", "/admin/v1/whoami", ADMIN, NULL },
	{ PR_POST, "/admin/v1/whoami/password", "/admin/v1/whoami/password",
	  ADMIN, NULL },
	{ PR_POST, "/admin/v1/operators/alice/password",
	  "/admin/v1/operators/{name}/password", ADMIN, NULL },
	{ PR_GET, "/admin/v1/operators", "/admin/v1/operators", ADMIN, NULL },
	{ PR_POST, "/admin/v1/operators", "/admin/v1/operators", ADMIN, NULL },
	{ PR_GET, "/admin/v1/operators/alice", "/admin/v1/operators/{name}",
	  ADMIN, NULL },
	{ PR_PATCH, "/admin/v1/operators/ops.jane@x",
	  "/admin/v1/operators/{name}", ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/operators/alice", "/admin/v1/operators/{name}",
	  ADMIN, "GET, PATCH" },
	{ PR_GET, "/admin/v1/operators/Alice", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/v1/operators/alice/tokens",
	  "/admin/v1/operators/{name}/tokens", ADMIN, NULL },
	{ PR_POST, "/admin/v1/operators/alice/tokens",
	  "/admin/v1/operators/{name}/tokens", ADMIN, NULL },
	{ PR_DELETE, "/admin/v1/operators/alice/tokens/7",
	  "/admin/v1/operators/{name}/tokens/{id}", ADMIN, NULL },
	{ PR_OTHER, "/admin/v1/nothing", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/admin/", "/admin/{rest*}", ADMIN, NULL },
	{ PR_GET, "/", "/{file*}", NONE, NULL },
	{ PR_GET, "/console.js", "/{file*}", NONE, NULL },
	{ PR_GET, "/admin", "/{file*}", NONE, NULL },
	{ PR_POST, "/index.html", "/{file*}", NONE, "GET" },
};

static const struct face merchant_face[] = {
	{ PR_GET, "/healthz", "/healthz", NONE, NULL },
	{ PR_GET, "/readyz", "/readyz", NONE, NULL },
	{ PR_POST, "/readyz", "/readyz", NONE, "GET" },
	{ PR_GET, "/v1/openapi.json", "/v1/openapi.json", NONE, NULL },
	{ PR_POST, "/v1/openapi.json", "/v1/openapi.json", NONE, "GET" },
	{ PR_POST, "/v1/payments", "/v1/payments", MERCHANT, NULL },
	{ PR_GET, "/v1/payments", "/v1/payments", MERCHANT, NULL },
	{ PR_HEAD, "/v1/payments", "/v1/payments", MERCHANT, "GET, POST" },
	{ PR_GET, "/v1/payments/P1234567", "/v1/payments/{id}", MERCHANT,
	  NULL },
	{ PR_POST, "/v1/payments/P1234567", "/v1/payments/{id}", MERCHANT,
	  "GET" },
	{ PR_POST, "/v1/payments/P1234567/close", "/v1/payments/{id}/close",
	  MERCHANT, NULL },
	{ PR_GET, "/v1/payments/P1234567/close", "/v1/payments/{id}/close",
	  MERCHANT, "POST" },
	{ PR_POST, "/v1/payments/P1234567/refunds", "/v1/payments/{id}/refunds",
	  MERCHANT, NULL },
	{ PR_GET, "/v1/payments/P1234567/refunds", "/v1/payments/{id}/refunds",
	  MERCHANT, NULL },
	{ PR_DELETE, "/v1/payments/P1234567/refunds",
	  "/v1/payments/{id}/refunds", MERCHANT, "GET, POST" },
	{ PR_GET, "/v1/payments/P1234567/other", NULL, NONE, NULL },
	{ PR_GET, "/v1/refunds", "/v1/refunds", MERCHANT, NULL },
	{ PR_POST, "/v1/refunds", "/v1/refunds", MERCHANT, "GET" },
	{ PR_GET, "/v1/refunds/R1234567", "/v1/refunds/{id}", MERCHANT, NULL },
	{ PR_POST, "/v1/withdrawals", "/v1/withdrawals", MERCHANT, NULL },
	{ PR_GET, "/v1/withdrawals", "/v1/withdrawals", MERCHANT, NULL },
	{ PR_GET, "/v1/withdrawals/W1234567", "/v1/withdrawals/{id}", MERCHANT,
	  NULL },
	{ PR_PUT, "/v1/withdrawals/W1234567", "/v1/withdrawals/{id}", MERCHANT,
	  "GET" },
	{ PR_POST, "/notify/bank_1", "/notify/{code*}", PR_AUTH_CHANNEL, NULL },
	{ PR_GET, "/notify/bank_1", "/notify/{code*}", PR_AUTH_CHANNEL,
	  "POST" },
	{ PR_GET, "/v1/paymentsx", NULL, NONE, NULL },
	{ PR_GET, "/", NULL, NONE, NULL },
	{ PR_GET, "/metrics", NULL, NONE, NULL },
	{ PR_GET, "/admin/v1/status", NULL, NONE, NULL },
};

static int check_face(const char *listener, const struct pr_route *t, size_t n,
		      const struct face *f, size_t nf)
{
	int bad = 0;

	for (size_t i = 0; i < nf; i++) {
		struct pr_route_match m;
		int rc = pr_route_find(t, n, f[i].method, f[i].path, &m);
		int want = !f[i].pattern ? -ENOENT : f[i].allow ? -ENOTSUP : 0;
		char allow[64];

		if (rc != want ||
		    (rc != -ENOENT &&
		     (strcmp(m.route->pattern, f[i].pattern) != 0 ||
		      m.route->auth != f[i].auth)) ||
		    (rc == -ENOTSUP &&
		     strcmp(pr_route_allow(m.allowed, allow, sizeof(allow)),
			    f[i].allow) != 0)) {
			print_error("%s: %#x %s: rc %d, %s\n", listener,
				    f[i].method, f[i].path, rc,
				    rc == -ENOENT ? "no row" :
						    m.route->pattern);
			bad++;
		}
	}
	return bad;
}

static void test_admin_face(void **state)
{
	char err[160];

	assert_int_equal(pr_route_check(pr_admin_routes, pr_admin_n_routes, err,
					sizeof(err)),
			 0);
	assert_int_equal(check_face("admin", pr_admin_routes, pr_admin_n_routes,
				    admin_face, N(admin_face)),
			 0);
}

static void test_merchant_face(void **state)
{
	char err[160];

	assert_int_equal(pr_route_check(pr_merchant_routes,
					pr_merchant_n_routes, err, sizeof(err)),
			 0);
	assert_int_equal(check_face("merchant", pr_merchant_routes,
				    pr_merchant_n_routes, merchant_face,
				    N(merchant_face)),
			 0);
}

/* Every row of both tables is reached by some line of the faces above. */
static void test_faces_cover_the_tables(void **state)
{
	static const struct {
		const struct pr_route *t;
		const size_t *n;
		const struct face *f;
		size_t nf;
	} lists[] = {
		{ pr_admin_routes, &pr_admin_n_routes, admin_face,
		  N(admin_face) },
		{ pr_merchant_routes, &pr_merchant_n_routes, merchant_face,
		  N(merchant_face) },
	};
	int bad = 0;

	for (size_t l = 0; l < N(lists); l++) {
		for (size_t i = 0; i < *lists[l].n; i++) {
			int seen = 0;

			for (size_t j = 0; j < lists[l].nf && !seen; j++) {
				struct pr_route_match m;

				seen = pr_route_find(lists[l].t, *lists[l].n,
						     lists[l].f[j].method,
						     lists[l].f[j].path,
						     &m) == 0 &&
				       m.route == &lists[l].t[i];
			}
			if (!seen) {
				print_error("no line reaches %s\n",
					    lists[l].t[i].pattern);
				bad++;
			}
		}
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_allow),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_id_ok),
		cmocka_unit_test(test_admin_face),
		cmocka_unit_test(test_merchant_face),
		cmocka_unit_test(test_faces_cover_the_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
