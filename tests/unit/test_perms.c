/*
 * test_perms.c - the permission table (core/base/perms.c) and the column of
 * the admin listener's route table (core/admin/admin.c) that names what
 * each endpoint needs, read as one spec: one line a row of the table, with
 * the roles that may call it. Every operator row of the table must have
 * its line here (so a new endpoint cannot go unreviewed), and each line is
 * checked with every role: allowed exactly for the roles it names.
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
#include "base/perms.h"
#include "base/route.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define V PR_ROLE_VIEWER
#define O PR_ROLE_OPERATOR
#define A PR_ROLE_ADMIN
#define ALL (V | O | A)

/* One row of the admin table: its methods and pattern, and the roles that
 * may call it. */
struct grant {
	unsigned methods;
	const char *pattern;
	unsigned roles;
};

static const struct grant grants[] = {
	{ PR_READ, "/admin/v1/status", ALL },
	{ PR_POST, "/admin/v1/reload", A },
	{ PR_READ, "/admin/v1/overview", ALL },
	{ PR_READ, "/admin/v1/currencies", ALL },
	{ PR_READ, "/admin/v1/drivers", ALL },
	{ PR_READ, "/admin/v1/drivers/{name}", ALL },
	{ PR_POST, "/admin/v1/route/explain", ALL },
	{ PR_READ, "/admin/v1/openapi.json", ALL },
	{ PR_READ, "/admin/v1/channels", ALL },
	{ PR_POST, "/admin/v1/channels", A },
	{ PR_READ, "/admin/v1/channels/{code}", ALL },
	{ PR_PUT, "/admin/v1/channels/{code}", A },
	{ PR_PATCH, "/admin/v1/channels/{code}", A },
	{ PR_DELETE, "/admin/v1/channels/{code}", A },
	{ PR_POST, "/admin/v1/channels/{code}/status", O | A },
	{ PR_PUT, "/admin/v1/channels/{code}/weight", O | A },
	{ PR_READ, "/admin/v1/channels/{code}/breaker", ALL },
	{ PR_POST, "/admin/v1/channels/{code}/breaker", O | A },
	{ PR_READ, "/admin/v1/breakers", ALL },
	{ PR_READ, "/admin/v1/whitelist", ALL },
	{ PR_POST, "/admin/v1/whitelist", A },
	{ PR_DELETE, "/admin/v1/whitelist/{id}", A },
	{ PR_READ, "/admin/v1/routing/rules", ALL },
	{ PR_PUT, "/admin/v1/routing/rules", A },
	{ PR_READ, "/admin/v1/codes", ALL },
	{ PR_READ, "/admin/v1/codes/overrides", ALL },
	{ PR_PUT, "/admin/v1/codes/overrides", A },
	{ PR_DELETE, "/admin/v1/codes/overrides", A },
	{ PR_READ, "/admin/v1/codes/unmapped", ALL },
	{ PR_READ, "/admin/v1/audit", ALL },
	{ PR_READ, "/admin/v1/policy", ALL },
	{ PR_PUT, "/admin/v1/policy", A },
	{ PR_POST, "/admin/v1/policy/replay", A },
	{ PR_READ, "/admin/v1/policy/replay/{id}", ALL },
	{ PR_READ, "/admin/v1/merchants", ALL },
	{ PR_POST, "/admin/v1/merchants", A },
	{ PR_READ, "/admin/v1/merchants/{id}", ALL },
	{ PR_PATCH, "/admin/v1/merchants/{id}", A },
	{ PR_POST, "/admin/v1/merchants/{id}/keys", A },
	{ PR_POST, "/admin/v1/merchants/{id}/notify-secret", A },
	{ PR_READ, "/admin/v1/notifications", ALL },
	{ PR_READ, "/admin/v1/notifications/{id}", ALL },
	{ PR_POST, "/admin/v1/notifications/{id}/retry", O | A },
	{ PR_GET, "/admin/v1/orders/attention", ALL },
	{ PR_GET, "/admin/v1/payments", ALL },
	{ PR_GET, "/admin/v1/payments/{id}", ALL },
	{ PR_POST, "/admin/v1/payments/{id}/settle", O | A },
	{ PR_GET, "/admin/v1/refunds", ALL },
	{ PR_GET, "/admin/v1/refunds/overdue", ALL },
	{ PR_GET, "/admin/v1/refunds/{id}", ALL },
	{ PR_POST, "/admin/v1/refunds/{id}/resend", O | A },
	{ PR_POST, "/admin/v1/refunds/{id}/resolve", O | A },
	{ PR_POST, "/admin/v1/refunds/{id}/settle", O | A },
	{ PR_GET, "/admin/v1/withdrawals", ALL },
	{ PR_GET, "/admin/v1/withdrawals/{id}", ALL },
	{ PR_POST, "/admin/v1/withdrawals/{id}/settle", O | A },
	{ PR_GET, "/admin/v1/approvals", ALL },
	{ PR_GET, "/admin/v1/approvals/{id}", ALL },
	{ PR_POST, "/admin/v1/approvals/{id}/approve", O | A },
	{ PR_POST, "/admin/v1/approvals/{id}/reject", O | A },
	{ PR_GET, "/admin/v1/reconciliation", ALL },
	{ PR_POST, "/admin/v1/reconciliation/runs", O | A },
	{ PR_POST, "/admin/v1/reconciliation/differences/{id}/resolve", O | A },
	{ PR_DELETE, "/admin/v1/session", ALL },
	{ PR_READ, "/admin/v1/whoami", ALL },
	{ PR_POST, "/admin/v1/whoami/password", ALL },
	{ PR_READ, "/admin/v1/operators", ALL },
	{ PR_POST, "/admin/v1/operators", A },
	{ PR_READ, "/admin/v1/operators/{name}", ALL },
	{ PR_PATCH, "/admin/v1/operators/{name}", A },
	{ PR_POST, "/admin/v1/operators/{name}/password", A },
	{ PR_READ, "/admin/v1/operators/{name}/tokens", A },
	{ PR_POST, "/admin/v1/operators/{name}/tokens", A },
	{ PR_DELETE, "/admin/v1/operators/{name}/tokens/{id}", A },
	{ PR_ANY, "/admin/{rest*}", ALL },
};

static struct pr_principal as(unsigned roles)
{
	struct pr_principal p;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "t");
	p.roles = roles;
	p.perms = pr_perms_of(roles);
	p.via = PR_VIA_TOKEN;
	return p;
}

/* Every operator row has a line, and each line's roles are the ones the
 * permission table lets in. */
static void test_every_row_every_role(void **state)
{
	const unsigned roles[] = { V, O, A, V | O, O | A };

	for (size_t i = 0; i < pr_admin_n_routes; i++) {
		const struct pr_route *rt = &pr_admin_routes[i];
		const struct grant *g = NULL;

		if (rt->auth != PR_AUTH_ADMIN) {
			assert_int_equal(rt->perm, PR_PERM_NONE);
			continue;
		}
		for (size_t k = 0; k < N(grants); k++)
			if (grants[k].methods == rt->methods &&
			    strcmp(grants[k].pattern, rt->pattern) == 0)
				g = &grants[k];
		if (!g)
			fail_msg("admin row %s (methods %#x) has no line in "
				 "test_perms.c: say which roles may call it",
				 rt->pattern, rt->methods);
		for (size_t k = 0; k < N(roles); k++) {
			struct pr_principal p = as(roles[k]);
			int want = (g->roles & roles[k]) != 0;

			if (pr_perm_allowed(&p, rt->perm) != want)
				fail_msg("%s %#x: roles %#x: %s, the spec "
					 "says %s",
					 rt->pattern, rt->methods, roles[k],
					 want ? "refused" : "allowed",
					 want ? "allowed" : "refused");
		}
	}
	/* and no line of the spec is a row that is gone */
	for (size_t k = 0; k < N(grants); k++) {
		int found = 0;

		for (size_t i = 0; i < pr_admin_n_routes; i++)
			found |= pr_admin_routes[i].methods ==
					 grants[k].methods &&
				 strcmp(pr_admin_routes[i].pattern,
					grants[k].pattern) == 0;
		if (!found)
			fail_msg("spec line %s matches no admin row",
				 grants[k].pattern);
	}
}

/* Roles include each other's permissions upwards; nothing is held
 * unauthenticated or outside the table. */
static void test_roles(void **state)
{
	struct pr_principal none;

	assert_true((pr_perms_of(V) & ~pr_perms_of(O)) == 0);
	assert_true((pr_perms_of(O) & ~pr_perms_of(A)) == 0);
	assert_true(pr_perms_of(V) != pr_perms_of(O));
	assert_true(pr_perms_of(O) != pr_perms_of(A));
	assert_int_equal(pr_perms_of(0), 0);
	memset(&none, 0, sizeof(none));
	none.perms = pr_perms_of(A); /* not authenticated: via NONE */
	assert_false(pr_perm_allowed(&none, PR_PERM_VIEW));
	assert_true(pr_perm_allowed(&none, PR_PERM_NONE));
	none = as(A);
	assert_false(pr_perm_allowed(&none, PR_PERM_N));
	for (int p = PR_PERM_SELF; p < PR_PERM_N; p++)
		assert_true(pr_perm_allowed(&none, (enum pr_perm)p));
}

static void test_names(void **state)
{
	static const struct {
		const char *name;
		unsigned role;
	} rows[] = {
		{ "viewer", V }, { "operator", O }, { "admin", A },
		{ "Admin", 0 },	 { "root", 0 },	    { "", 0 },
	};

	for (size_t i = 0; i < N(rows); i++) {
		assert_int_equal(pr_role_parse(rows[i].name), rows[i].role);
		if (rows[i].role)
			assert_string_equal(
				pr_role_name((enum pr_role)rows[i].role),
				rows[i].name);
	}
	assert_int_equal(pr_role_parse(NULL), 0);
	for (int p = 0; p < PR_PERM_N; p++)
		assert_non_null(pr_perm_name((enum pr_perm)p));
	assert_null(pr_perm_name(PR_PERM_N));
	assert_true(pr_operator_name_ok("alice"));
	assert_true(pr_operator_name_ok("ops.jane@example-1"));
	assert_true(pr_operator_name_ok("0day"));
	assert_false(pr_operator_name_ok(""));
	assert_false(pr_operator_name_ok(NULL));
	assert_false(pr_operator_name_ok("Alice"));
	assert_false(pr_operator_name_ok(".alice"));
	assert_false(pr_operator_name_ok("(admin.token)"));
	assert_false(pr_operator_name_ok("a b"));
	assert_true(pr_operator_name_ok(
		"a123456789012345678901234567890123456789012345678901234567890123"));
	assert_false(pr_operator_name_ok(
		"a1234567890123456789012345678901234567890123456789012345678901234"));
}

/* Tokens: what pr_token_split takes apart, one case a row. */
static void test_token_split(void **state)
{
	static const char hex[] =
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const struct {
		const char *name;
		const char *head; /* before the 64 hex */
		const char *tail; /* after them */
		const char *id;	  /* NULL: not a token */
	} rows[] = {
		{ "a token", "pro_7_", "", "7" },
		{ "the longest id", "pro_123456789012345678_", "",
		  "123456789012345678" },
		{ "an id too long", "pro_1234567890123456789_", "", NULL },
		{ "no id", "pro__", "", NULL },
		{ "an id not digits", "pro_7a_", "", NULL },
		{ "another prefix", "prk_7_", "", NULL },
		{ "upper case prefix", "PRO_7_", "", NULL },
		{ "a secret too long", "pro_7_", "0", NULL },
		{ "a secret with upper case", "pro_7_", "", NULL },
		{ "no separator", "pro_7", "", NULL },
	};
	char tok[160], id[20];

	for (size_t i = 0; i < N(rows); i++) {
		const char *secret;

		snprintf(tok, sizeof(tok), "%s%s%s", rows[i].head, hex,
			 rows[i].tail);
		if (strcmp(rows[i].name, "a secret with upper case") == 0)
			tok[strlen(tok) - 1] = 'F';
		snprintf(id, sizeof(id), "untouched");
		secret = pr_token_split(tok, id, sizeof(id));
		if (!rows[i].id) {
			if (secret)
				fail_msg("%s: %s taken", rows[i].name, tok);
			assert_string_equal(id, "untouched");
			continue;
		}
		if (!secret)
			fail_msg("%s: %s refused", rows[i].name, tok);
		assert_string_equal(id, rows[i].id);
		assert_string_equal(secret, hex);
	}
	assert_null(pr_token_split("pro", id, sizeof(id)));
	assert_null(pr_token_split("", id, sizeof(id)));
	assert_null(pr_token_split(NULL, id, sizeof(id)));
	/* an id longer than the caller's buffer is no token */
	snprintf(tok, sizeof(tok), "pro_12345_%s", hex);
	assert_null(pr_token_split(tok, id, 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_row_every_role),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_token_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
