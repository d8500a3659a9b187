/*
 * test_ordquery.c - the order lists' parameters (core/domain/ordquery.c) as a
 * spec: one named row per case, the kind and query in, either the
 * parameter at fault or the conditions and parameters of the statement
 * out. Then the cursor: a round trip, and every text it did not make
 * refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/ordquery.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct qcase {
	const char *name;
	enum pr_oq_kind kind;
	const char *query; /* "k=v&k=v" */
	const char *bad;   /* the parameter at fault, or NULL */
	const char *where; /* a text the statement must have */
	const char *p0;	   /* its first parameter */
	int limit;
};

static const struct qcase cases[] = {
	{ "no filter", PR_OQ_PAYMENT, "", NULL,
	  "FROM payments x WHERE true ORDER BY x.created_at DESC, x.id DESC "
	  "LIMIT 51",
	  NULL, 50 },
	{ "merchant", PR_OQ_PAYMENT, "merchant=shop1", NULL,
	  "x.merchant_id = $1::text", "shop1", 50 },
	{ "status of the kind", PR_OQ_WITHDRAWAL, "status=unknown", NULL,
	  "x.status = $1::text", "unknown", 50 },
	{ "status of another kind", PR_OQ_PAYMENT, "status=pending_channel",
	  "status", NULL, NULL, 0 },
	{ "amounts", PR_OQ_REFUND, "amount_min=10&amount_max=10", NULL,
	  "x.amount >= $1::bigint AND x.amount <= $2::bigint", "10", 50 },
	{ "amounts crossed", PR_OQ_REFUND, "amount_min=11&amount_max=10",
	  "amount_max", NULL, NULL, 0 },
	{ "negative amount", PR_OQ_PAYMENT, "amount_max=-1", "amount_max", NULL,
	  NULL, 0 },
	{ "created_from with offset", PR_OQ_PAYMENT,
	  "created_from=2026-11-01T08:00:00+08:00", NULL,
	  "x.created_at >= pr_ms_time($1::bigint)", "1793491200000", 50 },
	{ "created_to not RFC 3339", PR_OQ_PAYMENT, "created_to=2026-11-01",
	  "created_to", NULL, NULL, 0 },
	{ "limit", PR_OQ_PAYMENT, "limit=7", NULL, "LIMIT 8", NULL, 7 },
	{ "limit too big", PR_OQ_PAYMENT, "limit=201", "limit", NULL, NULL, 0 },
	{ "limit not a number", PR_OQ_PAYMENT, "limit=ten", "limit", NULL, NULL,
	  0 },
	{ "the kind's own number", PR_OQ_WITHDRAWAL,
	  "merchant_withdrawal_no=w-1", NULL,
	  "x.merchant_withdrawal_no = $1::text", "w-1", 50 },
	{ "another kind's number", PR_OQ_WITHDRAWAL, "merchant_order_no=o-1",
	  "merchant_order_no", NULL, NULL, 0 },
	{ "buyer_id on refunds", PR_OQ_REFUND, "buyer_id=b", "buyer_id", NULL,
	  NULL, 0 },
	{ "payment_id on refunds", PR_OQ_REFUND, "payment_id=P12345678", NULL,
	  "x.payment_id = $1::text", "P12345678", 50 },
	{ "a typo", PR_OQ_PAYMENT, "chanel=x", "chanel", NULL, NULL, 0 },
	{ "twice", PR_OQ_PAYMENT, "code=A&code=B", "code", NULL, NULL, 0 },
	{ "control character", PR_OQ_PAYMENT, "channel=a\tb", "channel", NULL,
	  NULL, 0 },
	{ "too long", PR_OQ_PAYMENT,
	  "channel=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaa",
	  "channel", NULL, NULL, 0 },
	{ "bad cursor", PR_OQ_PAYMENT, "cursor=abc", "cursor", NULL, NULL, 0 },
	{ "a cursor", PR_OQ_PAYMENT,
	  "cursor=312e313739333439313230303030303030302e50414243313233", NULL,
	  "(x.created_at, x.id) < (timestamptz 'epoch' + $1::bigint * "
	  "interval '1 microsecond', $2::text)",
	  "1793491200000000", 50 },
};

static void test_build(void **state)
{
	for (size_t i = 0; i < N(cases); i++) {
		const struct qcase *t = &cases[i];
		char buf[512], *names[8], *values[8], *kv;
		const char *bad = NULL;
		char err[256] = "";
		struct pr_oq q;
		size_t n = 0;
		int rc;

		snprintf(buf, sizeof(buf), "%s", t->query);
		for (kv = buf; *kv && n < 8;) {
			char *amp = strchr(kv, '&'), *eq = strchr(kv, '=');

			if (amp)
				*amp = '\0';
			*eq = '\0';
			names[n] = kv;
			values[n++] = eq + 1;
			kv = amp ? amp + 1 : kv + strlen(kv);
		}
		rc = pr_oq_build(t->kind, (const char *const *)names,
				 (const char *const *)values, n, &q, &bad, err,
				 sizeof(err));
		print_message("%s: rc %d, bad %s, %s\n", t->name, rc,
			      bad ? bad : "-", rc ? err : q.sql);
		if (t->bad) {
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(bad, t->bad);
			/* the message names the parameter */
			assert_non_null(strstr(err, t->bad));
			continue;
		}
		assert_int_equal(rc, 0);
		assert_non_null(strstr(q.sql, t->where));
		assert_int_equal(q.limit, t->limit);
		if (t->p0)
			assert_string_equal(q.param[0], t->p0);
		/* values are parameters, never literals in the SQL */
		for (size_t j = 0; j < n; j++) {
			char lit[160];

			snprintf(lit, sizeof(lit), "'%s'", values[j]);
			assert_null(strstr(q.sql, lit));
			snprintf(lit, sizeof(lit), "= %s", values[j]);
			if (strcmp(names[j], "limit") != 0)
				assert_null(strstr(q.sql, lit));
		}
	}
}

static void test_cursor(void **state)
{
	static const char *const refused[] = {
		"",
		"0",
		"zz",
		"312e",
		"322e312e50414243",   /* version 2 */
		"312e2e50414243",     /* no time */
		"312e31322e",	      /* no id */
		"312e31322e503b",     /* id "P;" */
		"312e31613a2e50",     /* time "1a:" */
		"312E31322E50414243", /* upper case */
	};
	char c[PR_OQ_CURSOR_LEN], id[40];
	int64_t us;

	assert_int_equal(pr_oq_cursor_encode(1761955200123456, "PABC123", c,
					     sizeof(c)),
			 0);
	assert_int_equal(pr_oq_cursor_decode(c, &us, id, sizeof(id)), 0);
	assert_true(us == 1761955200123456);
	assert_string_equal(id, "PABC123");
	assert_int_equal(pr_oq_cursor_encode(-5, "W1", c, sizeof(c)), 0);
	assert_int_equal(pr_oq_cursor_decode(c, &us, id, sizeof(id)), 0);
	assert_true(us == -5);
	assert_int_equal(pr_oq_cursor_encode(1, "P;1", c, sizeof(c)), -EINVAL);
	assert_int_equal(pr_oq_cursor_encode(1, "", c, sizeof(c)), -EINVAL);
	assert_int_equal(pr_oq_cursor_encode(1, "P123", c, 8), -EINVAL);
	for (size_t i = 0; i < N(refused); i++) {
		print_message("refused: \"%s\"\n", refused[i]);
		assert_int_equal(pr_oq_cursor_decode(refused[i], &us, id,
						     sizeof(id)),
				 -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_cursor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
