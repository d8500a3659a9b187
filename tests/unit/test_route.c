/*
 * test_route.c - the route matcher (core/route.c) against a small table
 * of its own, one named row per case: literal paths, a named segment, a
 * rest segment, a segment check, the first pattern deciding, 405 with the
 * methods of its rows. Then the Allow header text and the pattern checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

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
	{ PR_READ, "/things", h_a, PR_AUTH_NONE, NULL },
	{ PR_POST, "/things", h_b, PR_AUTH_NONE, NULL },
	{ PR_GET, "/things/{id}", h_a, PR_AUTH_ADMIN, digits },
	{ PR_DELETE | PR_PUT, "/things/{id}", h_b, PR_AUTH_ADMIN, digits },
	{ PR_POST, "/things/{id}/parts/{part}", h_a, PR_AUTH_NONE, NULL },
	{ PR_GET, "/things/{name}", h_b, PR_AUTH_NONE, NULL },
	{ PR_POST, "/hooks/{code*}", h_a, PR_AUTH_CHANNEL, NULL },
	{ PR_ANY, "/admin/{rest*}", h_b, PR_AUTH_ADMIN, NULL },
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
	struct pr_route one = { PR_GET, NULL, h_a, PR_AUTH_NONE, NULL };
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),  cmocka_unit_test(test_param),
		cmocka_unit_test(test_allow), cmocka_unit_test(test_check),
		cmocka_unit_test(test_id_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
