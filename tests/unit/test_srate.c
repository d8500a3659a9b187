/*
 * test_srate.c - the success-rate estimator (domain/srate.h) as a table:
 * each row records batches of outcomes and asks for one estimate, with the
 * level it must come from, its rate and its decayed count.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/srate.h"

#define H 600000 /* the half-life of most rows: 10 minutes */

/* count outcomes of channel/method/env/bank at t_ms, ok of them
 * successes. */
struct batch {
	const char *ch, *method, *env, *bank;
	int count, ok;
	int64_t t_ms;
};

struct srcase {
	const char *name;
	int64_t half_life_ms;
	double min_n;
	struct batch b[4];
	/* the query */
	const char *ch, *method, *env, *bank;
	int64_t at_ms;
	enum pr_sr_level level;
	double rate, n; /* rate ignored for PR_SR_NONE */
};

static const struct srcase cases[] = {
	{ "no outcome: no estimate (the router scores 0.5)",
	  H,
	  20,
	  { { 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  0,
	  PR_SR_NONE,
	  -1,
	  0 },
	{ "another channel's outcomes say nothing of this one",
	  H,
	  20,
	  { { "b", "alipay", "h5", "ICBC", 30, 30, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  0,
	  PR_SR_NONE,
	  -1,
	  0 },
	{ "few outcomes: the channel's own rate",
	  H,
	  20,
	  { { "a", "alipay", "h5", "ICBC", 3, 2, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  0,
	  PR_SR_CHANNEL,
	  2.0 / 3,
	  3 },
	{ "a segment with enough outcomes is used alone",
	  H,
	  20,
	  { { "a", "alipay", "h5", "ICBC", 20, 20, 0 },
	    { "a", "alipay", "h5", "CMB", 20, 0, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  0,
	  PR_SR_SEGMENT,
	  1,
	  20 },
	{ "a thin segment falls back to channel x method x environment",
	  H,
	  20,
	  { { "a", "alipay", "h5", "ICBC", 5, 5, 0 },
	    { "a", "alipay", "h5", "CMB", 20, 0, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  0,
	  PR_SR_ENVIRONMENT,
	  0.2,
	  25 },
	{ "a thin environment falls back to channel x method",
	  H,
	  20,
	  { { "a", "alipay", "h5", "", 4, 4, 0 },
	    { "a", "alipay", "app", "", 20, 10, 0 },
	    { "a", "wechat_pay", "h5", "", 40, 0, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  NULL,
	  0,
	  PR_SR_METHOD,
	  14.0 / 24,
	  24 },
	{ "a request without bank reads the bank \"\" segment",
	  H,
	  20,
	  { { "a", "alipay", "h5", NULL, 20, 15, 0 },
	    { "a", "alipay", "h5", "ICBC", 20, 0, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "",
	  0,
	  PR_SR_SEGMENT,
	  0.75,
	  20 },
	{ "an outcome one half-life old weighs half",
	  H,
	  0,
	  { { "a", "alipay", "h5", "ICBC", 10, 0, 0 },
	    { "a", "alipay", "h5", "ICBC", 10, 10, H } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  H,
	  PR_SR_SEGMENT,
	  10.0 / 15,
	  15 },
	{ "estimates decay when read later too",
	  H,
	  0,
	  { { "a", "alipay", "h5", "ICBC", 40, 30, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  2 * H,
	  PR_SR_SEGMENT,
	  0.75,
	  10 },
	{ "a segment decayed below min_n falls back to the channel",
	  H,
	  20,
	  { { "a", "alipay", "h5", "ICBC", 30, 30, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  H,
	  PR_SR_CHANNEL,
	  1,
	  15 },
	{ "a recovering channel: new successes outweigh old failures",
	  60000,
	  20,
	  { { "a", "alipay", "h5", "ICBC", 30, 0, 0 },
	    { "a", "alipay", "h5", "ICBC", 30, 30, 300000 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  300000,
	  PR_SR_SEGMENT,
	  30 / (30 + 30 / 32.0),
	  30 + 30 / 32.0 },
	{ "an outcome older than the last counts as of the last",
	  H,
	  0,
	  { { "a", "alipay", "h5", "ICBC", 10, 10, H },
	    { "a", "alipay", "h5", "ICBC", 10, 0, 0 } },
	  "a",
	  "alipay",
	  "h5",
	  "ICBC",
	  H,
	  PR_SR_SEGMENT,
	  0.5,
	  20 },
};

static void run(const struct srcase *c)
{
	struct pr_srate_cfg cfg = { c->half_life_ms, c->min_n };
	struct pr_srate *s = pr_srate_new();
	struct pr_sr_est e;

	assert_non_null(s);
	for (size_t i = 0; i < 4 && c->b[i].ch; i++)
		for (int k = 0; k < c->b[i].count; k++)
			assert_int_equal(
				pr_srate_record(s, &cfg, c->b[i].ch,
						c->b[i].method, c->b[i].env,
						c->b[i].bank, k < c->b[i].ok,
						c->b[i].t_ms),
				0);
	pr_srate_estimate(s, &cfg, c->ch, c->method, c->env, c->bank, c->at_ms,
			  &e);
	if (e.level != c->level || fabs(e.n - c->n) > 1e-6 ||
	    (c->level != PR_SR_NONE && fabs(e.rate - c->rate) > 1e-6) ||
	    (c->level == PR_SR_NONE && e.rate >= 0))
		fail_msg("%s: got level %s rate %f n %f, want %s %f %f",
			 c->name, pr_sr_level_name(e.level), e.rate, e.n,
			 pr_sr_level_name(c->level), c->rate, c->n);
	pr_srate_free(s);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
}

static void collect(void *arg, const char *s, size_t n)
{
	strncat(arg, s, 4095 - strlen(arg) < n ? 4095 - strlen(arg) : n);
}

/* /metrics: each level's decayed counts and estimate, by its labels. */
static void test_write(void **state)
{
	struct pr_srate_cfg cfg = { H, 20 };
	struct pr_srate *s = pr_srate_new();
	static char text[4096];

	(void)state;
	for (int i = 0; i < 4; i++)
		pr_srate_record(s, &cfg, "a", "alipay", "h5", "ICBC", i < 3, 0);
	text[0] = '\0';
	assert_int_equal(pr_srate_write(s, &cfg, 0, collect, text), 0);
	assert_non_null(strstr(text, "payroute_route_success_outcomes{channel="
				     "\"a\",method=\"alipay\",environment="
				     "\"h5\",bank=\"ICBC\",level=\"segment\","
				     "result=\"all\"} "
				     "4.000\n"));
	assert_non_null(strstr(text, "payroute_route_success_estimate{channel="
				     "\"a\",method=\"\",environment=\"\","
				     "bank=\"\",level=\"channel\"} 0.7500\n"));
	pr_srate_free(s);
}

/* Many channels and segments: the table grows and finds them all. */
static void test_many(void **state)
{
	struct pr_srate_cfg cfg = { H, 1 };
	struct pr_srate *s = pr_srate_new();
	struct pr_sr_est e;
	char ch[16], bank[16];

	(void)state;
	for (int i = 0; i < 300; i++) {
		snprintf(ch, sizeof(ch), "c%d", i);
		snprintf(bank, sizeof(bank), "B%d", i % 7);
		assert_int_equal(pr_srate_record(s, &cfg, ch, "alipay", "h5",
						 bank, i % 2, 0),
				 0);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(ch, sizeof(ch), "c%d", i);
		snprintf(bank, sizeof(bank), "B%d", i % 7);
		pr_srate_estimate(s, &cfg, ch, "alipay", "h5", bank, 0, &e);
		assert_int_equal(e.level, PR_SR_SEGMENT);
		assert_true(e.rate == (double)(i % 2));
	}
	pr_srate_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
