/*
 * test_chanstats.c - each channel's figures (core/domain/chanstats.c): the
 * quantile of a bucket row, one named row per case; the counters as
 * Prometheus text (rows made once and counted, families in order,
 * histograms cumulative, labels escaped); the minute ring (an hour's
 * series, a minute older than the ring forgotten, a slot reused).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/chanstats.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T0 ((int64_t)1764999960000) /* a minute's start, ms */

/* ------------------------------------------------------------ quantile */

static const struct {
	const char *name;
	uint32_t counts[PR_CS_LAT_BUCKETS];
	double q, want_ms; /* -1: none */
} quantiles[] = {
	{ "no observation", { 0 }, 0.95, -1 },
	{ "all in the first bucket: linear from 0 to 5 ms", { 10 }, 0.5, 2.5 },
	{ "all in (50, 100] ms", { 0, 0, 0, 0, 20 }, 0.95, 97.5 },
	{ "19 fast, one in (1, 2.5] s: p95 is still fast",
	  { 0, 0, 0, 19, 0, 0, 0, 0, 1 },
	  0.95,
	  50 },
	{ "one in +Inf: the highest finite bound",
	  { [PR_CS_LAT_BUCKETS - 1] = 1 },
	  0.95,
	  30000 },
	{ "q out of range", { 10 }, 1.0, -1 },
};

static void test_quantile(void **state)
{
	for (size_t i = 0; i < N(quantiles); i++) {
		double got = pr_chanstats_quantile_ms(quantiles[i].counts,
						      quantiles[i].q);

		if (fabs(got - quantiles[i].want_ms) > 1e-9)
			fail_msg("%s: got %g, want %g", quantiles[i].name, got,
				 quantiles[i].want_ms);
	}
}

/* ---------------------------------------------------------- exposition */

struct text {
	char buf[16384];
	size_t n;
};

static void out(void *arg, const char *s, size_t n)
{
	struct text *t = arg;

	assert_true(t->n + n < sizeof(t->buf));
	memcpy(t->buf + t->n, s, n);
	t->n += n;
	t->buf[t->n] = '\0';
}

static void expect_line(const struct text *t, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(t->buf, want))
		fail_msg("no line \"%s\" in:\n%s", line, t->buf);
}

static void test_exposition(void **state)
{
	struct pr_chanstats *cs = pr_chanstats_new();
	struct text t = { .n = 0 };

	assert_non_null(cs);
	for (int i = 0; i < 3; i++)
		pr_chanstats_order(cs, "payment", "wx", "succeeded", "SUCCESS",
				   T0);
	pr_chanstats_order(cs, "payment", "wx", "failed",
			   "INSUFFICIENT_BALANCE", T0);
	pr_chanstats_order(cs, "refund", "wx", "succeeded", "SUCCESS", T0);
	pr_chanstats_order(cs, "payment", "", "failed", "NO_CHANNEL", T0);
	pr_chanstats_call(cs, "wx", 0, PR_CS_CALL_ANSWER, 40, T0);  /* 0.05 */
	pr_chanstats_call(cs, "wx", 0, PR_CS_CALL_ANSWER, 120, T0); /* 0.25 */
	pr_chanstats_call(cs, "wx", 0, PR_CS_CALL_TIMEOUT, 1500, T0);
	pr_chanstats_call(cs, "wx", 0, PR_CS_CALL_NOT_SENT, 0, T0);
	pr_chanstats_call(cs, "wx", 9, PR_CS_CALL_ANSWER, 1, T0); /* no op */
	pr_chanstats_callback(cs, "wx", PR_CS_CB_ACCEPTED);
	pr_chanstats_callback(cs, "wx", PR_CS_CB_REFUSED);
	pr_chanstats_callback_unknown(cs);
	pr_chanstats_cascade(cs, "a\"b", "wx", "SIGNATURE_ERROR");
	pr_chanstats_cascade(cs, "a\"b", "wx", "SIGNATURE_ERROR");
	assert_int_equal(pr_chanstats_write(cs, out, &t), 0);

	expect_line(&t, "payroute_orders_total{kind=\"payment\",channel=\"wx\","
			"status=\"succeeded\",code=\"SUCCESS\"} 3");
	expect_line(&t, "payroute_orders_total{kind=\"refund\",channel=\"wx\","
			"status=\"succeeded\",code=\"SUCCESS\"} 1");
	expect_line(&t, "payroute_orders_total{kind=\"payment\",channel=\"\","
			"status=\"failed\",code=\"NO_CHANNEL\"} 1");
	expect_line(&t, "payroute_channel_calls_total{channel=\"wx\",op="
			"\"pay\",result=\"answer\"} 2");
	expect_line(&t, "payroute_channel_calls_total{channel=\"wx\",op="
			"\"pay\",result=\"not_sent\"} 1");
	/* Timed: the three that were sent, cumulative. */
	expect_line(&t, "payroute_channel_call_duration_seconds_bucket{channel="
			"\"wx\",op=\"pay\",le=\"0.025\"} 0");
	expect_line(&t, "payroute_channel_call_duration_seconds_bucket{channel="
			"\"wx\",op=\"pay\",le=\"0.05\"} 1");
	expect_line(&t, "payroute_channel_call_duration_seconds_bucket{channel="
			"\"wx\",op=\"pay\",le=\"0.25\"} 2");
	expect_line(&t, "payroute_channel_call_duration_seconds_bucket{channel="
			"\"wx\",op=\"pay\",le=\"2.5\"} 3");
	expect_line(&t, "payroute_channel_call_duration_seconds_bucket{channel="
			"\"wx\",op=\"pay\",le=\"+Inf\"} 3");
	expect_line(&t, "payroute_channel_call_duration_seconds_sum{channel="
			"\"wx\",op=\"pay\"} 1.660000");
	expect_line(&t, "payroute_channel_call_duration_seconds_count{channel="
			"\"wx\",op=\"pay\"} 3");
	expect_line(&t, "payroute_channel_callbacks_total{channel=\"wx\","
			"result=\"refused\"} 1");
	expect_line(&t, "payroute_callbacks_unknown_channel_total 1");
	expect_line(&t, "payroute_cascades_total{from=\"a\\\"b\",to=\"wx\","
			"reason=\"SIGNATURE_ERROR\"} 2");
	/* Nothing of an operation out of range, and no query histogram. */
	assert_null(strstr(t.buf, "op=\"query\""));
	/* Families in order, each declared once. */
	assert_true(strstr(t.buf, "# TYPE payroute_orders_total counter") <
		    strstr(t.buf, "# TYPE payroute_cascades_total counter"));
	pr_chanstats_free(cs);
}

/* -------------------------------------------------------------- series */

static int64_t at(const json_t *o, const char *k, size_t i)
{
	return json_integer_value(json_array_get(json_object_get(o, k), i));
}

static void test_series(void **state)
{
	struct pr_chanstats *cs = pr_chanstats_new();
	json_t *s, *tot;

	/* 10 minutes ago: 2 succeeded, 1 failed; now: 1 unknown. */
	pr_chanstats_order(cs, "payment", "wx", "succeeded", "SUCCESS",
			   T0 - 600000);
	pr_chanstats_order(cs, "payment", "wx", "succeeded", "SUCCESS",
			   T0 - 600000 + 59999);
	pr_chanstats_order(cs, "payment", "wx", "failed", "X", T0 - 600000);
	pr_chanstats_order(cs, "payment", "wx", "unknown", "CHANNEL_TIMEOUT",
			   T0 + 1000);
	for (int i = 0; i < 20; i++)
		pr_chanstats_call(cs, "wx", 0, PR_CS_CALL_ANSWER, 80,
				  T0 - 600000);
	s = pr_chanstats_series(cs, "wx", 60, T0 + 30000);
	assert_non_null(s);
	assert_int_equal(json_integer_value(json_object_get(s, "from")),
			 T0 - 59 * 60000);
	assert_int_equal(json_array_size(json_object_get(s, "succeeded")), 60);
	assert_int_equal(at(s, "succeeded", 49), 2);
	assert_int_equal(at(s, "failed", 49), 1);
	assert_int_equal(at(s, "calls", 49), 20);
	assert_int_equal(at(s, "unknown", 59), 1);
	assert_true(
		json_is_null(json_array_get(json_object_get(s, "p95_ms"), 59)));
	tot = json_object_get(s, "totals");
	assert_int_equal(json_integer_value(json_object_get(tot, "volume")), 4);
	assert_true(fabs(json_real_value(json_object_get(tot, "success_rate")) -
			 2.0 / 3.0) < 1e-9);
	assert_true(fabs(json_real_value(json_object_get(tot, "p95_ms")) -
			 97.5) < 1e-9);
	json_decref(s);

	/* An hour and more later the ring has forgotten them; a new
	 * outcome in a reused slot counts alone. */
	pr_chanstats_order(cs, "payment", "wx", "succeeded", "SUCCESS",
			   T0 - 600000 + 3600000);
	s = pr_chanstats_series(cs, "wx", 60, T0 - 600000 + 3600000);
	tot = json_object_get(s, "totals");
	assert_int_equal(json_integer_value(json_object_get(tot, "succeeded")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(tot, "failed")), 0);
	assert_int_equal(json_integer_value(json_object_get(tot, "unknown")),
			 1);
	json_decref(s);

	/* A channel never seen: zeros, no rate. */
	s = pr_chanstats_series(cs, "nobody", 5, T0);
	assert_int_equal(json_array_size(json_object_get(s, "calls")), 5);
	assert_true(json_is_null(
		json_object_get(json_object_get(s, "totals"), "success_rate")));
	json_decref(s);
	pr_chanstats_free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_exposition),
		cmocka_unit_test(test_series),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
