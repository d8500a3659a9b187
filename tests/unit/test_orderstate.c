/*
 * test_orderstate.c - the state machines of core/domain/orderstate.c against
 * their specification, written out here as every (from, to) pair of each
 * machine, one named row each: the 36 pairs of the payment's six states,
 * the 36 of the withdrawal's and the 36 of the refund's, as
 * doc/design.md §6 and orderstate.h state them (migrations 004, 005 and
 * 006 hold the same tables; t_payments, t_withdrawals and t_refunds check
 * the database's functions against these). Then, for each machine: state
 * names round trip, the final states are exactly those with no way out,
 * and the PostgreSQL array literals of a set of states; and the payment's
 * shorthands: the status an effect leads to and the states each target is
 * reached from.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/orderstate.h"

struct pair {
	const char *from, *to;
	int ok;
	const char *why;
};

static const struct pair pay_spec[] = {
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

static const struct pair wd_spec[] = {
	/* created: the withdrawal exists, nothing was sent */
	{ "created", "created", 0, "no self-loop before the first attempt" },
	{ "created", "pending_channel", 1, "no usable channel: it waits" },
	{ "created", "processing", 1, "the first attempt is sent" },
	{ "created", "succeeded", 0, "success needs an attempt" },
	{ "created", "failed", 1, "refused before sending" },
	{ "created", "unknown", 0, "unknown needs an attempt" },
	/* pending_channel: waiting for a channel to come back */
	{ "pending_channel", "created", 0, "never back" },
	{ "pending_channel", "pending_channel", 0,
	  "routed again without a channel: the row stays, no transition" },
	{ "pending_channel", "processing", 1, "routed again, sent" },
	{ "pending_channel", "succeeded", 0, "success needs an attempt" },
	{ "pending_channel", "failed", 1, "its deadline passed" },
	{ "pending_channel", "unknown", 0, "unknown needs an attempt" },
	/* processing: an attempt is with a channel */
	{ "processing", "created", 0, "never back" },
	{ "processing", "pending_channel", 0,
	  "once sent, never parked: the money may move" },
	{ "processing", "processing", 1, "cascade to another channel" },
	{ "processing", "succeeded", 1, "the channel paid out" },
	{ "processing", "failed", 1, "the channel says failed" },
	{ "processing", "unknown", 1, "a timeout or an unmapped code" },
	/* unknown: chased by payout_query */
	{ "unknown", "created", 0, "never back" },
	{ "unknown", "pending_channel", 0, "once sent, never parked" },
	{ "unknown", "processing", 1, "the query says still in progress" },
	{ "unknown", "succeeded", 1, "the query says paid out" },
	{ "unknown", "failed", 1, "the query says failed" },
	{ "unknown", "unknown", 1, "still unknown: checked again later" },
	/* final states never move */
	{ "succeeded", "created", 0, "final" },
	{ "succeeded", "pending_channel", 0, "final" },
	{ "succeeded", "processing", 0, "final: a late answer" },
	{ "succeeded", "succeeded", 0, "final: a duplicate callback" },
	{ "succeeded", "failed", 0, "final" },
	{ "succeeded", "unknown", 0, "final" },
	{ "failed", "created", 0, "final" },
	{ "failed", "pending_channel", 0, "final" },
	{ "failed", "processing", 0, "final" },
	{ "failed", "succeeded", 0,
	  "final: a late success is for an operator" },
	{ "failed", "failed", 0, "final" },
	{ "failed", "unknown", 0, "final" },
};

static const struct pair rf_spec[] = {
	/* created: the refund exists, its attempt not yet answered */
	{ "created", "created", 0, "no self-loop before the first attempt" },
	{ "created", "processing", 1, "the channel took it" },
	{ "created", "succeeded", 1, "the channel refunded at once" },
	{ "created", "failed", 1, "the channel refused it" },
	{ "created", "overdue", 1,
	  "the original route is unavailable (window, closed account)" },
	{ "created", "resolved", 0, "only an overdue refund is resolved" },
	/* processing: with the channel */
	{ "processing", "created", 0, "never back" },
	{ "processing", "processing", 1, "still processing: checked again" },
	{ "processing", "succeeded", 1, "the channel refunded" },
	{ "processing", "failed", 1, "the channel says failed" },
	{ "processing", "overdue", 1, "past the channel's refund timeout" },
	{ "processing", "resolved", 0, "only an overdue refund is resolved" },
	/* overdue: in the operators' queue */
	{ "overdue", "created", 0, "never back" },
	{ "overdue", "processing", 1, "re-sent by an operator" },
	{ "overdue", "succeeded", 1, "settled late by the channel" },
	{ "overdue", "failed", 0,
	  "an overdue refund is never silently failed: an operator resolves "
	  "it" },
	{ "overdue", "overdue", 1, "still overdue: checked again" },
	{ "overdue", "resolved", 1, "resolved by an operator, with a note" },
	/* final states never move */
	{ "succeeded", "created", 0, "final" },
	{ "succeeded", "processing", 0, "final" },
	{ "succeeded", "succeeded", 0, "final: a duplicate callback" },
	{ "succeeded", "failed", 0, "final" },
	{ "succeeded", "overdue", 0, "final" },
	{ "succeeded", "resolved", 0, "final" },
	{ "failed", "created", 0, "final" },
	{ "failed", "processing", 0, "final" },
	{ "failed", "succeeded", 0,
	  "final: a late success is for an operator" },
	{ "failed", "failed", 0, "final" },
	{ "failed", "overdue", 0, "final" },
	{ "failed", "resolved", 0, "final" },
	{ "resolved", "created", 0, "final" },
	{ "resolved", "processing", 0, "final: an operator closed it" },
	{ "resolved", "succeeded", 0, "final" },
	{ "resolved", "failed", 0, "final" },
	{ "resolved", "overdue", 0, "final" },
	{ "resolved", "resolved", 0, "final" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The machines and their specifications, each with its states in enum
 * order and its final states. */
static const struct {
	const struct pr_machine *m;
	const struct pair *spec;
	size_t n_spec;
	const char *names[8];
	const char *final[4];
} machines[] = {
	{ &pr_pay_machine,
	  pay_spec,
	  N(pay_spec),
	  { "created", "processing", "succeeded", "failed", "closed",
	    "unknown" },
	  { "succeeded", "failed", "closed" } },
	{ &pr_wd_machine,
	  wd_spec,
	  N(wd_spec),
	  { "created", "pending_channel", "processing", "succeeded", "failed",
	    "unknown" },
	  { "succeeded", "failed" } },
	{ &pr_rf_machine,
	  rf_spec,
	  N(rf_spec),
	  { "created", "processing", "succeeded", "failed", "overdue",
	    "resolved" },
	  { "succeeded", "failed", "resolved" } },
};

/* Every pair of every machine, exactly once, as its specification says. */
static void test_every_pair(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t k = 0; k < N(machines); k++) {
		const struct pr_machine *m = machines[k].m;
		int seen[8][8];

		assert_true(m->n <= 8);
		assert_int_equal(machines[k].n_spec, (size_t)(m->n * m->n));
		memset(seen, 0, sizeof(seen));
		for (size_t i = 0; i < machines[k].n_spec; i++) {
			const struct pair *p = &machines[k].spec[i];
			int f = pr_state_parse(m, p->from);
			int t = pr_state_parse(m, p->to);
			int got;

			assert_true(f >= 0 && t >= 0);
			seen[f][t]++;
			got = pr_state_next_ok(m, f, t);
			if (got != p->ok) {
				print_error(
					"%s %s -> %s: got %d, the spec says "
					"%d (%s)\n",
					m->kind, p->from, p->to, got, p->ok,
					p->why);
				bad++;
			}
		}
		for (int f = 0; f < m->n; f++)
			for (int t = 0; t < m->n; t++)
				assert_int_equal(seen[f][t], 1);
		/* out of range never passes */
		assert_false(pr_state_next_ok(m, m->n, 0));
		assert_false(pr_state_next_ok(m, 0, m->n));
		assert_false(pr_state_next_ok(m, -1, 0));
	}
	assert_int_equal(bad, 0);
	/* the payment shorthand is the payment machine */
	for (int f = 0; f < PR_PAY_N_STATUS; f++)
		for (int t = 0; t < PR_PAY_N_STATUS; t++)
			assert_int_equal(
				pr_pay_transition_ok((enum pr_pay_status)f,
						     (enum pr_pay_status)t),
				pr_state_next_ok(&pr_pay_machine, f, t));
}

/* Names round trip, in enum order; a kind's machine is found by name. */
static void test_machine_names(void **state)
{
	(void)state;
	for (size_t k = 0; k < N(machines); k++) {
		const struct pr_machine *m = machines[k].m;

		assert_ptr_equal(pr_machine_of(m->kind), m);
		for (int i = 0; i < m->n; i++) {
			assert_string_equal(pr_state_name(m, i),
					    machines[k].names[i]);
			assert_int_equal(
				pr_state_parse(m, machines[k].names[i]), i);
		}
		assert_null(machines[k].names[m->n]);
		assert_null(pr_state_name(m, m->n));
		assert_null(pr_state_name(m, -1));
		assert_int_equal(pr_state_parse(m, "Created"), -EINVAL);
		assert_int_equal(pr_state_parse(m, ""), -EINVAL);
		assert_int_equal(pr_state_parse(m, NULL), -EINVAL);
	}
	assert_null(pr_machine_of("order"));
	assert_null(pr_machine_of(NULL));
	assert_int_equal(pr_state_parse(&pr_pay_machine, "overdue"), -EINVAL);
	assert_int_equal(pr_state_parse(&pr_rf_machine, "closed"), -EINVAL);
	assert_int_equal(pr_state_parse(&pr_wd_machine, "resolved"), -EINVAL);
}

/* The final states are the listed ones, and exactly those with no way
 * out. */
static void test_machine_final(void **state)
{
	(void)state;
	for (size_t k = 0; k < N(machines); k++) {
		const struct pr_machine *m = machines[k].m;

		for (int s = 0; s < m->n; s++) {
			int listed = 0, out = 0;

			for (size_t i = 0; i < 4 && machines[k].final[i]; i++)
				listed |= strcmp(machines[k].final[i],
						 m->names[s]) == 0;
			for (int t = 0; t < m->n; t++)
				out |= pr_state_next_ok(m, s, t);
			assert_int_equal(pr_state_final(m, s), listed);
			assert_int_equal(listed, !out);
		}
		assert_false(pr_state_final(m, m->n));
		assert_false(pr_state_final(m, -1));
	}
}

/* A set of states as a PostgreSQL array literal. */
static void test_set_literal(void **state)
{
	static const struct {
		const struct pr_machine *m;
		unsigned set;
		const char *literal;
	} rows[] = {
		{ &pr_pay_machine, 0, "{}" },
		{ &pr_pay_machine, PR_FROM(PR_PAY_PROCESSING), "{processing}" },
		{ &pr_pay_machine,
		  PR_FROM(PR_PAY_UNKNOWN) | PR_FROM(PR_PAY_PROCESSING),
		  "{processing,unknown}" },
		{ &pr_wd_machine,
		  PR_FROM(PR_WD_CREATED) | PR_FROM(PR_WD_PENDING_CHANNEL),
		  "{created,pending_channel}" },
		{ &pr_rf_machine,
		  PR_FROM(PR_RF_PROCESSING) | PR_FROM(PR_RF_OVERDUE),
		  "{processing,overdue}" },
		{ &pr_rf_machine, PR_FROM(PR_RF_N_STATUS), "{}" },
	};
	char buf[128], small[128];

	(void)state;
	for (size_t i = 0; i < N(rows); i++) {
		size_t n = strlen(rows[i].literal);

		assert_ptr_equal(pr_state_set_literal(rows[i].m, rows[i].set,
						      buf, sizeof(buf)),
				 buf);
		assert_string_equal(buf, rows[i].literal);
		/* exactly large enough, and one byte short */
		assert_non_null(pr_state_set_literal(rows[i].m, rows[i].set,
						     small, n + 1));
		assert_string_equal(small, rows[i].literal);
		assert_null(
			pr_state_set_literal(rows[i].m, rows[i].set, small, n));
	}
	assert_null(pr_state_set_literal(&pr_pay_machine, 0, NULL, 10));
	/* every machine's every state fits the callers' buffers */
	for (size_t k = 0; k < N(machines); k++)
		assert_non_null(pr_state_set_literal(
			machines[k].m, (1u << machines[k].m->n) - 1, buf, 128));
}

/* The payment shorthands. */
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
		cmocka_unit_test(test_machine_names),
		cmocka_unit_test(test_machine_final),
		cmocka_unit_test(test_set_literal),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_final),
		cmocka_unit_test(test_effects),
		cmocka_unit_test(test_from_literal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
