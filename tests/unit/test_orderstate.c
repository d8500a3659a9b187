/*
 * test_orderstate.c - the payment state machine (core/orderstate.c)
 * against its specification, written out here as all 36 (from, to) pairs
 * of the six states, one named row each, as DESIGN section 8 and
 * orderstate.h state it (migration 004's pr_payment_transition_ok is the
 * same table; t_payments checks the database's side). Then: state names
 * round trip, which states are final, the status an effect leads to, and
 * the PostgreSQL array literal of the states each target is reached from.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "orderstate.h"

struct pair {
	const char *from, *to;
	int ok;
	const char *why;
};

static const struct pair spec[] = {
	/* created: the order exists, nothing was sent */
	{ "created", "created", 0, "no self-loop before the first attempt" },
	{ "created", "processing", 1, "the first attempt is sent" },
	{ "created", "succeeded", 0, "success needs an attempt" },
	{ "created", "failed", 1, "no channel, or refused before sending" },
	{ "created", "closed", 0, "nothing to close yet" },
	{ "created", "unknown", 0, "unknown needs an attempt" },
	/* processing: an attempt is with a channel */
	{ "processing", "created", 0, "never back" },
	{ "processing", "processing", 1, "cascade to another channel" },
	{ "processing", "succeeded", 1, "the channel says paid" },
	{ "processing", "failed", 1, "the channel says failed" },
	{ "processing", "closed", 1, "expired or closed by the merchant" },
	{ "processing", "unknown", 1, "a timeout or an unmapped code" },
	/* unknown: chased by query */
	{ "unknown", "created", 0, "never back" },
	{ "unknown", "processing", 1, "the query says still in progress" },
	{ "unknown", "succeeded", 1, "the query says paid" },
	{ "unknown", "failed", 1, "the query says failed" },
	{ "unknown", "closed", 1, "the query says closed" },
	{ "unknown", "unknown", 1, "still unknown: checked again later" },
	/* final states never move */
	{ "succeeded", "created", 0, "final" },
	{ "succeeded", "processing", 0, "final: a late callback" },
	{ "succeeded", "succeeded", 0, "final: a duplicate callback" },
	{ "succeeded", "failed", 0, "final" },
	{ "succeeded", "closed", 0, "final" },
	{ "succeeded", "unknown", 0, "final" },
	{ "failed", "created", 0, "final" },
	{ "failed", "processing", 0, "final" },
	{ "failed", "succeeded", 0,
	  "final: a late success is for an "
	  "operator" },
	{ "failed", "failed", 0, "final" },
	{ "failed", "closed", 0, "final" },
	{ "failed", "unknown", 0, "final" },
	{ "closed", "created", 0, "final" },
	{ "closed", "processing", 0, "final" },
	{ "closed", "succeeded", 0, "final" },
	{ "closed", "failed", 0, "final" },
	{ "closed", "closed", 0, "final" },
	{ "closed", "unknown", 0, "final" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_every_pair(void **state)
{
	int seen[PR_PAY_N_STATUS][PR_PAY_N_STATUS];
	int bad = 0;

	assert_int_equal(N(spec), PR_PAY_N_STATUS * PR_PAY_N_STATUS);
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < N(spec); i++) {
		enum pr_pay_status f, t;
		int got;

		assert_int_equal(pr_pay_status_parse(spec[i].from, &f), 0);
		assert_int_equal(pr_pay_status_parse(spec[i].to, &t), 0);
		seen[f][t]++;
		got = pr_pay_transition_ok(f, t);
		if (got != spec[i].ok) {
			print_error("%s -> %s: got %d, the spec says %d (%s)\n",
				    spec[i].from, spec[i].to, got, spec[i].ok,
				    spec[i].why);
			bad++;
		}
	}
	/* the spec names every pair exactly once */
	for (int f = 0; f < PR_PAY_N_STATUS; f++) {
		for (int t = 0; t < PR_PAY_N_STATUS; t++)
			assert_int_equal(seen[f][t], 1);
	}
	assert_int_equal(bad, 0);
	/* out of range never passes */
	assert_false(pr_pay_transition_ok(PR_PAY_N_STATUS, PR_PAY_FAILED));
	assert_false(pr_pay_transition_ok(PR_PAY_PROCESSING, PR_PAY_N_STATUS));
	assert_false(
		pr_pay_transition_ok((enum pr_pay_status) - 1, PR_PAY_FAILED));
}

static void test_names(void **state)
{
	static const char *const names[] = { "created",	  "processing",
					     "succeeded", "failed",
					     "closed",	  "unknown" };
	enum pr_pay_status s;

	assert_int_equal(N(names), PR_PAY_N_STATUS);
	for (int i = 0; i < PR_PAY_N_STATUS; i++) {
		assert_string_equal(pr_pay_status_name((enum pr_pay_status)i),
				    names[i]);
		assert_int_equal(pr_pay_status_parse(names[i], &s), 0);
		assert_int_equal(s, i);
	}
	assert_null(pr_pay_status_name(PR_PAY_N_STATUS));
	assert_int_equal(pr_pay_status_parse("Created", &s), -EINVAL);
	assert_int_equal(pr_pay_status_parse("success", &s), -EINVAL);
	assert_int_equal(pr_pay_status_parse("", &s), -EINVAL);
	assert_int_equal(pr_pay_status_parse(NULL, &s), -EINVAL);
}

static void test_final(void **state)
{
	static const struct {
		enum pr_pay_status s;
		int final;
	} rows[] = {
		{ PR_PAY_CREATED, 0 },	 { PR_PAY_PROCESSING, 0 },
		{ PR_PAY_SUCCEEDED, 1 }, { PR_PAY_FAILED, 1 },
		{ PR_PAY_CLOSED, 1 },	 { PR_PAY_UNKNOWN, 0 },
	};

	for (size_t i = 0; i < N(rows); i++) {
		assert_int_equal(pr_pay_status_final(rows[i].s), rows[i].final);
		/* a final state has no way out; the others have one */
		for (int t = 0; t < PR_PAY_N_STATUS && rows[i].final; t++)
			assert_false(pr_pay_transition_ok(
				rows[i].s, (enum pr_pay_status)t));
	}
}

static void test_effects(void **state)
{
	static const struct {
		enum payroute_effect e;
		enum pr_pay_status s;
	} rows[] = {
		{ PAYROUTE_EFFECT_SUCCESS, PR_PAY_SUCCEEDED },
		{ PAYROUTE_EFFECT_FAILED, PR_PAY_FAILED },
		{ PAYROUTE_EFFECT_CLOSED, PR_PAY_CLOSED },
		{ PAYROUTE_EFFECT_PROCESSING, PR_PAY_PROCESSING },
		{ PAYROUTE_EFFECT_UNKNOWN, PR_PAY_UNKNOWN },
		{ (enum payroute_effect)42, PR_PAY_UNKNOWN },
	};

	for (size_t i = 0; i < N(rows); i++)
		assert_int_equal(pr_pay_status_for_effect(rows[i].e),
				 rows[i].s);
}

static void test_from_literal(void **state)
{
	static const struct {
		enum pr_pay_status to;
		const char *literal; /* NULL: no predecessor */
	} rows[] = {
		{ PR_PAY_CREATED, NULL },
		{ PR_PAY_PROCESSING, "{created,processing,unknown}" },
		{ PR_PAY_SUCCEEDED, "{processing,unknown}" },
		{ PR_PAY_FAILED, "{created,processing,unknown}" },
		{ PR_PAY_CLOSED, "{processing,unknown}" },
		{ PR_PAY_UNKNOWN, "{processing,unknown}" },
	};
	char buf[64], small[64];

	for (size_t i = 0; i < N(rows); i++) {
		const char *got =
			pr_pay_from_literal(rows[i].to, buf, sizeof(buf));

		if (!rows[i].literal) {
			assert_null(got);
			continue;
		}
		assert_ptr_equal(got, buf);
		assert_string_equal(got, rows[i].literal);
		/* exactly large enough, and one byte short */
		assert_non_null(pr_pay_from_literal(
			rows[i].to, small, strlen(rows[i].literal) + 1));
		assert_string_equal(small, rows[i].literal);
		assert_null(pr_pay_from_literal(rows[i].to, small,
						strlen(rows[i].literal)));
		/* every state listed may move to the target */
		for (int f = 0; f < PR_PAY_N_STATUS; f++) {
			const char *name =
				pr_pay_status_name((enum pr_pay_status)f);
			int listed = strstr(rows[i].literal, name) != NULL;

			assert_int_equal(listed, pr_pay_transition_ok(
							 (enum pr_pay_status)f,
							 rows[i].to));
		}
	}
	assert_null(pr_pay_from_literal(PR_PAY_N_STATUS, buf, sizeof(buf)));
	assert_null(pr_pay_from_literal(PR_PAY_FAILED, NULL, 10));
	assert_null(pr_pay_from_literal(PR_PAY_FAILED, buf, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_final),
		cmocka_unit_test(test_effects),
		cmocka_unit_test(test_from_literal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
