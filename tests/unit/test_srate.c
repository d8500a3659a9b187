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

/* xorshift64: a fixed stream of test data. */
static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* An outcome, kept by test_reference to sum from scratch. */
struct outcome {
	const char *f[4];
	int ok;
	int64_t t;
};

static const char *nz(const char *s)
{
	return s ? s : "";
}

/*
 * The reference: level l's decayed counts at `at`, summed over every
 * outcome from scratch (2^(-age / half-life) each), where the table keeps
 * them decayed lazily in its tree. Returns the number of outcomes that
 * matched (0: the table has no such level).
 */
static int ref_level(const struct outcome *o, int n, const char *const q[4],
		     int l, int64_t at, double *ok, double *all)
{
	int hits = 0;

	*ok = *all = 0;
	for (int i = 0; i < n; i++) {
		int match = 1;
		double w;

		for (int j = 0; j < l && match; j++)
			match = strcmp(o[i].f[j], q[j]) == 0;
		if (!match)
			continue;
		w = exp2(-(double)(at - o[i].t) / H);
		*all += w;
		*ok += o[i].ok ? w : 0;
		hits++;
	}
	return hits;
}

/*
 * Random outcomes at random (increasing) times; queries at random later
 * times that reach every level and miss some (a bank or method never
 * seen, a channel never seen). The tree's estimate, by code and by handle
 * and ids (the hot path's way, which must give the same bits), against
 * the reference: the finest level whose count reaches min_n, else the
 * channel's own, with its rate and count. A query within a hair of the
 * threshold is skipped (the table compares a time rounded to the ms).
 * A handle stays valid while outcomes are recorded, and the epoch moves
 * only when a channel gains its first estimate.
 */
static void test_reference(void **state)
{
	static const char *const chs[] = { "a", "b", "c", "d" };
	static const char *const ms[] = { "alipay", "wechat_pay", NULL, "x" };
	static const char *const es[] = { "h5", "app", NULL };
	static const char *const bs[] = { "ICBC", "CMB", NULL, "BOC" };
	enum { N = 3000 };
	static struct outcome o[N];
	struct pr_srate_cfg cfg = { H, 3 };
	struct pr_srate *s = pr_srate_new();
	const struct pr_sr_chan *a;
	struct pr_sr_est e1, e2;
	struct pr_sr_key key;
	uint64_t x = 0x2545f4914f6cdd1dull, ep;
	int64_t t = 1000;
	int checked = 0, by_level[5] = { 0 }, l;

	(void)state;
	assert_null(pr_srate_chan(s, "a"));
	ep = pr_srate_epoch(s);
	for (int i = 0; i < N; i++) {
		/* d stays unseen, and so do method x and bank BOC */
		o[i].f[0] = chs[i == 0 ? 0 : next(&x) % 3];
		o[i].f[1] = nz(ms[next(&x) % 3]);
		o[i].f[2] = nz(es[next(&x) % 2]);
		o[i].f[3] = nz(bs[next(&x) % 3]);
		o[i].ok = next(&x) % 10 < 8;
		o[i].t = t;
		assert_int_equal(pr_srate_record(s, &cfg, o[i].f[0], o[i].f[1],
						 o[i].f[2], o[i].f[3], o[i].ok,
						 t),
				 0);
		if (i == 0) {
			assert_true(pr_srate_epoch(s) != ep);
			a = pr_srate_chan(s, "a");
			assert_non_null(a);
			ep = pr_srate_epoch(s);
		}
		t += (int64_t)(next(&x) % 4000);
	}
	assert_ptr_equal(pr_srate_chan(s, "a"), a);
	assert_true(pr_srate_epoch(s) != ep); /* b and c came */
	for (int i = 0; i < 3000; i++) {
		const char *q[4] = { chs[next(&x) % 4], nz(ms[next(&x) % 4]),
				     nz(es[next(&x) % 3]),
				     nz(bs[next(&x) % 4]) };
		int64_t at = t + (int64_t)(next(&x) % (4 * H));
		double ok, all, rok = 0, rall = 0;
		int want = PR_SR_NONE, near = 0;

		/* the finest level that reaches min_n, else the channel's */
		for (l = PR_SR_SEGMENT; l >= PR_SR_CHANNEL; l--) {
			if (!ref_level(o, N, q, l, at, &ok, &all))
				continue;
			near |= fabs(all / cfg.min_n - 1) < 1e-5;
			if (all >= cfg.min_n || l == PR_SR_CHANNEL) {
				want = l;
				rok = ok;
				rall = all;
				break;
			}
		}
		pr_srate_estimate(s, &cfg, q[0], q[1], q[2], q[3], at, &e1);
		pr_srate_key(s, q[1], q[2], q[3], &key);
		pr_srate_estimate_key(s, &cfg, pr_srate_chan(s, q[0]), &key, at,
				      &e2);
		/* the same bits (memcmp would read the padding) */
		assert_true(e1.level == e2.level &&
			    memcmp(&e1.rate, &e2.rate, sizeof(double)) == 0 &&
			    memcmp(&e1.ok, &e2.ok, sizeof(double)) == 0 &&
			    memcmp(&e1.n, &e2.n, sizeof(double)) == 0);
		if (near)
			continue;
		if ((int)e1.level != want ||
		    (want != PR_SR_NONE && (fabs(e1.n - rall) > 1e-9 * rall ||
					    fabs(e1.rate - rok / rall) > 1e-9)))
			fail_msg("%s/%s/%s/%s at %lld: got %s %.12f n %.9f, "
				 "want %s %.12f n %.9f",
				 q[0], q[1], q[2], q[3], (long long)at,
				 pr_sr_level_name(e1.level), e1.rate, e1.n,
				 pr_sr_level_name((enum pr_sr_level)want),
				 rall > 0 ? rok / rall : -1, rall);
		by_level[want]++;
		checked++;
	}
	/* many at once (interleaved, in batches): the same bits as one at a
	 * time, for 40 channels' handles (d's NULL) over a few keys */
	for (int r = 0; r < 12; r++) {
		const struct pr_sr_chan *hs[40];
		struct {
			int pad;
			struct pr_sr_est e;
		} many[40];
		int64_t at = t + (int64_t)(next(&x) % (2 * H));

		pr_srate_key(s, ms[r % 4], es[r % 3], bs[(r / 3) % 4], &key);
		for (int i = 0; i < 40; i++)
			hs[i] = pr_srate_chan(s, chs[(i + r) % 4]);
		pr_srate_estimate_many(s, &cfg, hs, 40, &key, at, &many[0].e,
				       sizeof(many[0]));
		for (int i = 0; i < 40; i++) {
			pr_srate_estimate_key(s, &cfg, hs[i], &key, at, &e1);
			e2 = many[i].e;
			assert_true(
				e1.level == e2.level &&
				memcmp(&e1.rate, &e2.rate, sizeof(double)) ==
					0 &&
				memcmp(&e1.ok, &e2.ok, sizeof(double)) == 0 &&
				memcmp(&e1.n, &e2.n, sizeof(double)) == 0);
		}
	}
	/* the queries reached every level, and missed */
	assert_true(checked > 2500);
	for (l = 0; l < 5; l++)
		if (by_level[l] < 50)
			fail_msg("level %s: %d of %d queries",
				 pr_sr_level_name((enum pr_sr_level)l),
				 by_level[l], checked);
	pr_srate_free(s);
}

static int keep_a(const char *channel, void *arg)
{
	(void)arg;
	return strcmp(channel, "a") == 0;
}

/* A channel that leaves the catalogue leaves the table: no estimate, no
 * metrics line, a new epoch; one that comes back starts afresh. */
static void test_drop(void **state)
{
	struct pr_srate_cfg cfg = { H, 1 };
	struct pr_srate *s = pr_srate_new();
	static char text[4096];
	struct pr_sr_est e;
	uint64_t ep;

	(void)state;
	for (int i = 0; i < 4; i++) {
		pr_srate_record(s, &cfg, "a", "alipay", "h5", "ICBC", 1, 0);
		pr_srate_record(s, &cfg, "b", "alipay", "h5", "ICBC", 0, 0);
		pr_srate_record(s, &cfg, "c", "alipay", "h5", "ICBC", 1, 0);
	}
	ep = pr_srate_epoch(s);
	assert_int_equal(pr_srate_drop(s, "c"), 1);
	assert_int_equal(pr_srate_drop(s, "c"), 0);
	assert_int_equal(pr_srate_drop(s, "nope"), 0);
	assert_true(pr_srate_epoch(s) != ep);
	assert_null(pr_srate_chan(s, "c"));
	pr_srate_estimate(s, &cfg, "c", "alipay", "h5", "ICBC", 0, &e);
	assert_int_equal(e.level, PR_SR_NONE);

	ep = pr_srate_epoch(s);
	assert_int_equal(pr_srate_retain(s, keep_a, NULL), 1);
	assert_true(pr_srate_epoch(s) != ep);
	assert_null(pr_srate_chan(s, "b"));
	assert_non_null(pr_srate_chan(s, "a"));
	ep = pr_srate_epoch(s);
	assert_int_equal(pr_srate_retain(s, keep_a, NULL), 0);
	assert_true(pr_srate_epoch(s) == ep);

	text[0] = '\0';
	assert_int_equal(pr_srate_write(s, &cfg, 0, collect, text), 0);
	assert_non_null(strstr(text, "{channel=\"a\""));
	assert_null(strstr(text, "{channel=\"b\""));
	assert_null(strstr(text, "{channel=\"c\""));

	pr_srate_record(s, &cfg, "b", "alipay", "h5", "ICBC", 1, 0);
	pr_srate_estimate(s, &cfg, "b", "alipay", "h5", "ICBC", 0, &e);
	assert_int_equal(e.level, PR_SR_SEGMENT);
	assert_true(e.n == 1 && e.rate == 1);
	pr_srate_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table), cmocka_unit_test(test_write),
		cmocka_unit_test(test_many),  cmocka_unit_test(test_reference),
		cmocka_unit_test(test_drop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
