/*
 * test_route_learn.c - what the router does with what routing learned
 * (doc/design.md §4): the rules' scoring modes over success-rate
 * estimates, circuit breakers (an open channel dropped, a probe first) and
 * exploration under a fixed seed.
 *
 * Three channels take the same payments: a (0.60 % fee, weight 100), b
 * (0.40 %, weight 50) and c (0.80 %, weight 200). Each row gives their
 * estimates and breakers as the caller would (pr_chan_usage), a rule's
 * scoring (or none) and the ranking that must come out.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/catalogue.h"
#include "domain/router.h"

#define CHAN(code, bps, weight)                                                \
	"{\"code\":\"" code "\",\"driver\":\"sim\",\"business_types\":"        \
	"[\"pay\"],\"methods\":[\"alipay\"],\"environments\":[\"h5\"],"        \
	"\"currencies\":[\"CNY\"],\"status\":\"online\",\"timezone\":"         \
	"\"Asia/Shanghai\",\"fee\":{\"rate_bps\":" #bps                        \
	"},\"weight\":" #weight "}"

static const char chans[] =
	"[" CHAN("a", 60, 100) "," CHAN("b", 40, 50) "," CHAN("c", 80, 200) "]";

struct lcase {
	const char *name;
	const char *scoring; /* the one rule's scoring; NULL: no rule */
	double rate[3];	     /* a, b, c; < 0: no estimate */
	const char *breaker; /* per channel: '.' any, 'x' none, 'p' probe */
	const char *order;   /* the eligible ones, ranked */
	const char *dropped; /* "b=circuit_open", or "" */
	int probe;
};

static const struct lcase cases[] = {
	{ "no rule: the lower fee, the higher weight, the code",
	  NULL,
	  { 0.9, 0.5, 0.99 },
	  "...",
	  "b a c",
	  "",
	  0 },
	{ "a rule without mode weighs its parts, as before",
	  "{\"weight\":0,\"fee\":0,\"success_rate\":1}",
	  { 0.9, 0.5, 0.99 },
	  "...",
	  "c a b",
	  "",
	  0 },
	{ "fee_first ignores the rates",
	  "{\"mode\":\"fee_first\"}",
	  { 0.9, 0.5, 0.99 },
	  "...",
	  "b a c",
	  "",
	  0 },
	{ "weight: the higher weight first",
	  "{\"mode\":\"weight\"}",
	  { 0.9, 0.5, 0.99 },
	  "...",
	  "c a b",
	  "",
	  0 },
	{ "success_first: the cheapest within 2 points of the best",
	  "{\"mode\":\"success_first\",\"within_points\":2}",
	  { 0.95, 0.90, 0.96 },
	  "...",
	  "a c b",
	  "",
	  0 },
	{ "success_first with a wide budget is fee first",
	  "{\"mode\":\"success_first\",\"within_points\":10}",
	  { 0.95, 0.90, 0.96 },
	  "...",
	  "b a c",
	  "",
	  0 },
	{ "success_first without budget: the best rate alone, then by rate",
	  "{\"mode\":\"success_first\"}",
	  { 0.95, 0.90, 0.96 },
	  "...",
	  "c a b",
	  "",
	  0 },
	{ "success_first: no estimate counts 0.5",
	  "{\"mode\":\"success_first\",\"within_points\":2}",
	  { -1, 0.6, 0.4 },
	  "...",
	  "b a c",
	  "",
	  0 },
	{ "an open breaker drops the channel",
	  NULL,
	  { -1, -1, -1 },
	  ".x.",
	  "a c",
	  "b=circuit_open",
	  0 },
	{ "every breaker open: nothing eligible",
	  NULL,
	  { -1, -1, -1 },
	  "xxx",
	  "",
	  "a=circuit_open b=circuit_open c=circuit_open",
	  0 },
	{ "a probe goes first", NULL, { -1, -1, -1 }, "..p", "c b a", "", 1 },
	{ "of two probes the better ranked",
	  "{\"mode\":\"weight\"}",
	  { -1, -1, -1 },
	  "pp.",
	  "a c b",
	  "",
	  1 },
};

static void build(struct pr_catalogue *cat, const char *scoring)
{
	char rule[512], err[256];
	json_t *cj = json_loads(chans, 0, NULL), *rj = NULL;

	assert_non_null(cj);
	if (scoring) {
		snprintf(rule, sizeof(rule),
			 "[{\"id\":1,\"name\":\"r\",\"scoring\":%s}]", scoring);
		rj = json_loads(rule, 0, NULL);
		assert_non_null(rj);
	}
	if (pr_catalogue_build(cat, cj, NULL, rj, err, sizeof(err)) < 0)
		fail_msg("catalogue: %s", err);
	json_decref(cj);
	json_decref(rj);
}

static void request(struct pr_route_req *q)
{
	memset(q, 0, sizeof(*q));
	q->business = PR_BIZ_PAY;
	q->method = "alipay";
	q->environment = "h5";
	q->currency = "CNY";
	q->amount = 10000;
	q->now_ms = 1709697600000LL;
}

static void run(const struct lcase *c)
{
	struct pr_catalogue cat;
	struct pr_chan_usage u[3];
	struct pr_route_cand cands[3];
	struct pr_route_result res = { .cands = cands, .cap = 3 };
	struct pr_route_req q;
	char got[64] = "", drops[128] = "", one[48];

	build(&cat, c->scoring);
	memset(u, 0, sizeof(u));
	for (int i = 0; i < 3; i++) {
		u[i].success_rate = c->rate[i];
		u[i].est.rate = c->rate[i];
		u[i].est.level = c->rate[i] < 0 ? PR_SR_NONE : PR_SR_SEGMENT;
		u[i].breaker = c->breaker[i] == 'x' ? PR_BRK_ROUTE_NONE :
			       c->breaker[i] == 'p' ? PR_BRK_ROUTE_PROBE :
						      PR_BRK_ROUTE_ANY;
	}
	request(&q);
	assert_int_equal(pr_route(&cat, &q, u, 1, &res), 0);
	for (size_t i = 0; i < res.n; i++) {
		const char *code = cat.chans[cands[i].chan].code;

		if (cands[i].dropped_by == PR_DROP_NONE) {
			snprintf(one, sizeof(one), "%s%s", got[0] ? " " : "",
				 code);
			strncat(got, one, sizeof(got) - strlen(got) - 1);
		} else {
			snprintf(one, sizeof(one), "%s%s=%s",
				 drops[0] ? " " : "", code,
				 pr_drop_name(cands[i].dropped_by));
			strncat(drops, one, sizeof(drops) - strlen(drops) - 1);
		}
	}
	if (strcmp(got, c->order) != 0 || strcmp(drops, c->dropped) != 0 ||
	    res.probe != c->probe)
		fail_msg("%s: ranked \"%s\" dropped \"%s\" probe %d", c->name,
			 got, drops, res.probe);
	assert_int_equal(res.explored, 0);
	pr_catalogue_clear(&cat);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
}

/*
 * Exploration: over N decisions with seeds 1..N, the rule's share goes to
 * the channels the scores did not prefer, evenly; the same seed always
 * gives the same decision; a caller that does not ask for exploration
 * (explain) never gets one, nor does a probe.
 */
static void test_explore(void **state)
{
	const int n = 20000;
	struct pr_catalogue cat;
	struct pr_route_cand cands[3];
	struct pr_route_result res = { .cands = cands, .cap = 3 };
	struct pr_chan_usage u[3];
	struct pr_route_req q;
	int chosen[3] = { 0 }, explored = 0;
	long first;
	json_t *j, *x;

	(void)state;
	build(&cat, "{\"mode\":\"fee_first\",\"explore\":0.2}");
	request(&q);
	q.explore = 1;
	for (int s = 1; s <= n; s++) {
		q.seed = (uint64_t)s;
		assert_int_equal(pr_route(&cat, &q, NULL, 0, &res), 0);
		chosen[res.chosen]++;
		explored += res.explored;
		if (res.explored)
			assert_int_equal(res.exploit,
					 pr_catalogue_find(&cat, "b"));
	}
	/* b wins on fee; a and c share the explored 20 % */
	assert_true(fabs((double)explored / n - 0.2) < 0.015);
	assert_true(fabs((double)chosen[1] / n - 0.8) < 0.015);
	assert_true(fabs((double)chosen[0] / n - 0.1) < 0.01);
	assert_true(fabs((double)chosen[2] / n - 0.1) < 0.01);

	q.seed = 12345;
	assert_int_equal(pr_route(&cat, &q, NULL, 0, &res), 0);
	first = res.chosen;
	for (int k = 0; k < 10; k++) {
		assert_int_equal(pr_route(&cat, &q, NULL, 0, &res), 0);
		assert_int_equal(res.chosen, first);
	}
	/* an explored decision says so in the trace */
	for (q.seed = 1;; q.seed++) {
		assert_int_equal(pr_route(&cat, &q, NULL, 0, &res), 0);
		if (res.explored)
			break;
	}
	j = pr_route_to_json(&cat, &res);
	x = json_object_get(j, "exploration");
	assert_true(json_is_true(json_object_get(x, "explored")));
	assert_string_equal(json_string_value(json_object_get(x, "instead_of")),
			    "b");
	assert_true(json_real_value(json_object_get(x, "draw")) < 0.2);
	json_decref(j);

	q.explore = 0;
	for (int s = 1; s <= 1000; s++) {
		q.seed = (uint64_t)s;
		assert_int_equal(pr_route(&cat, &q, NULL, 0, &res), 0);
		assert_int_equal(res.explored, 0);
		assert_int_equal(res.chosen, pr_catalogue_find(&cat, "b"));
	}
	q.explore = 1;
	memset(u, 0, sizeof(u));
	u[2].breaker = PR_BRK_ROUTE_PROBE;
	for (int s = 1; s <= 1000; s++) {
		q.seed = (uint64_t)s;
		assert_int_equal(pr_route(&cat, &q, u, 0, &res), 0);
		assert_int_equal(res.explored, 0);
		assert_int_equal(res.chosen, pr_catalogue_find(&cat, "c"));
	}
	pr_catalogue_clear(&cat);
}

/* The scoring keys survive the export format; a rule written before them
 * reads and writes as it did. */
static void test_rule_json(void **state)
{
	struct pr_rule r;
	char err[256];
	json_t *in, *out, *sc;

	(void)state;
	in = json_loads("{\"id\":1,\"scoring\":{\"mode\":\"success_first\","
			"\"within_points\":2,\"explore\":0.05}}",
			0, NULL);
	assert_int_equal(pr_rule_parse(in, &r, err, sizeof(err)), 0);
	assert_int_equal(r.mode, PR_SCORE_SUCCESS_FIRST);
	out = pr_rule_to_json(&r);
	sc = json_object_get(out, "scoring");
	assert_string_equal(json_string_value(json_object_get(sc, "mode")),
			    "success_first");
	assert_true(json_number_value(json_object_get(sc, "within_points")) ==
		    2);
	assert_true(json_number_value(json_object_get(sc, "explore")) == 0.05);
	json_decref(out);
	json_decref(in);
	pr_rule_clear(&r);

	in = json_loads("{\"id\":2,\"scoring\":{\"fee\":1}}", 0, NULL);
	assert_int_equal(pr_rule_parse(in, &r, err, sizeof(err)), 0);
	assert_int_equal(r.mode, PR_SCORE_WEIGHTED);
	out = pr_rule_to_json(&r);
	sc = json_object_get(out, "scoring");
	assert_null(json_object_get(sc, "mode"));
	assert_null(json_object_get(sc, "explore"));
	assert_int_equal(json_object_size(sc), 3);
	json_decref(out);
	json_decref(in);
	pr_rule_clear(&r);

	in = json_loads("{\"id\":3,\"scoring\":{\"mode\":\"cheapest\"}}", 0,
			NULL);
	assert_int_equal(pr_rule_parse(in, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "scoring.mode"));
	json_decref(in);
	in = json_loads("{\"id\":3,\"scoring\":{\"explore\":0.9}}", 0, NULL);
	assert_int_equal(pr_rule_parse(in, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "scoring.explore"));
	json_decref(in);
}

/*
 * The estimates from a table (req.srate): by the handles the caller keeps
 * (pr_chan_usage.sr, what the daemon passes) the router ranks and traces
 * exactly as by the channels' codes, for requests that reach every level.
 */
static void test_srate_handles(void **state)
{
	static const char *const ms[] = { "alipay", "wechat_pay" };
	static const char *const bs[] = { "ICBC", "CMB", NULL };
	struct pr_srate_cfg cfg = { 600000, 4 };
	struct pr_srate *s = pr_srate_new();
	struct pr_catalogue cat;
	struct pr_route_cand cands[3];
	struct pr_route_result res = { .cands = cands, .cap = 3 };
	struct pr_chan_usage u[3];
	struct pr_route_req q;
	char *by_code, *by_handle;
	json_t *j;

	(void)state;
	build(&cat, "{\"mode\":\"success_first\",\"within_points\":1}");
	request(&q);
	for (int i = 0; i < 600; i++)
		pr_srate_record(s, &cfg, cat.chans[i % 3].code, ms[i % 2], "h5",
				bs[i % 3], i % (4 + i % 3) != 0,
				q.now_ms - 600000 + i * 1000);
	q.srate = s;
	q.srate_cfg = cfg;
	memset(u, 0, sizeof(u));
	for (int i = 0; i < 3; i++) {
		u[i].sr = pr_srate_chan(s, cat.chans[i].code);
		u[i].sr_known = 1;
	}
	for (int k = 0; k < 12; k++) {
		q.bank_code = bs[k % 3];
		q.now_ms += 120000 * k;
		for (int full = 0; full < 2; full++) {
			assert_int_equal(pr_route(&cat, &q, NULL, full, &res),
					 0);
			j = pr_route_to_json(&cat, &res);
			by_code = json_dumps(j, JSON_COMPACT);
			json_decref(j);
			assert_int_equal(pr_route(&cat, &q, u, full, &res), 0);
			j = pr_route_to_json(&cat, &res);
			by_handle = json_dumps(j, JSON_COMPACT);
			json_decref(j);
			assert_non_null(strstr(by_code, "\"level\":\""));
			assert_string_equal(by_handle, by_code);
			free(by_code);
			free(by_handle);
		}
	}
	pr_catalogue_clear(&cat);
	pr_srate_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_explore),
		cmocka_unit_test(test_rule_json),
		cmocka_unit_test(test_srate_handles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
