/*
 * test_replay.c - policy replay's aggregation (core/domain/replay.c), as a
 * table: each row is an active catalogue and a draft (channels written as
 * overrides on a base channel, as test_router does), the period's
 * success figures, a list of stored orders, and what the result must say,
 * as "path=value" checks on its JSON:
 *
 *   changed=3                       a top-level member
 *   totals.CNY.draft.fees=210       an element of an array by its key
 *                                   (totals by currency, channels by
 *                                   channel, flows by "from>to")
 *   limit_days.0.limit=daily_amount_limit   an element by index
 *   limit_days.#=1                  the length of an array
 *
 * Values compare as their JSON text ("null", 0.9, "a" without quotes).
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
#include "domain/policy_io.h"
#include "domain/replay.h"
#include "domain/router.h"
#include "domain/tz.h"

/* Pays by alipay in h5, CNY, online, no limits, 0.1 % fee, weight 100,
 * Shanghai time. */
static const char base_chan[] =
	"{'code':'x','driver':'sim','institution':'Test Bank',"
	"'business_types':['pay'],'methods':['alipay'],"
	"'environments':['h5'],'product_codes':[],"
	"'currencies':['CNY'],'banks':[],'status':'online',"
	"'timezone':'Asia/Shanghai','maintenance_windows':[],"
	"'limits':{'txn_min':0,'txn_max':0,'daily_amount':0,'daily_count':0},"
	"'fee':{'rate_bps':10,'fixed':0,'min':0,'max':0},'weight':100,"
	"'refund_window_days':180,'refund_timeout':'48h',"
	"'refund_resend':false,'whitelist_only':false,'driver_config':{}}";

struct ord {
	const char *at; /* RFC 3339 */
	int64_t amount;
	const char *recorded; /* NULL: none */
	const char *currency; /* NULL: CNY */
	const char *buyer;
};

#define MAX_ORDERS 8

struct rcase {
	const char *name;
	const char *active;	 /* channels: overrides on base_chan */
	const char *draft;	 /* channels of the draft */
	const char *draft_rules; /* rules of the draft, or NULL */
	const char *draft_wl;	 /* whitelist of the draft, or NULL */
	const char *rates;	 /* "a=9/1 b=1/1": succeeded/failed */
	struct ord orders[MAX_ORDERS];
	size_t sample_max;  /* 0: 20 */
	const char *checks; /* "path=value" separated by spaces */
};

#define AT(t) "2024-03-06T" t "+08:00"

static const struct rcase cases[] = {
	{ .name = "a dearer fee moves every order to the other channel",
	  .active = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a','fee':{'rate_bps':100}},"
		   "{'code':'b','fee':{'rate_bps':60}}]",
	  .orders = { { AT("10:00:00"), 10000, "a" },
		      { AT("11:00:00"), 20000, "a" },
		      { AT("12:00:00"), 5000, "a" } },
	  .checks = "orders=3 changed=3 recorded_differs=0 "
		    "totals.CNY.active.routed=3 totals.CNY.active.fees=35 "
		    "totals.CNY.draft.fees=210 totals.CNY.changed.orders=3 "
		    "totals.CNY.changed.amount=35000 "
		    "channels.a.moved_out.orders=3 "
		    "channels.a.moved_out.amount=35000 "
		    "channels.a.moved_in.orders=0 channels.a.draft.orders=0 "
		    "channels.b.moved_in.orders=3 "
		    "channels.b.moved_in.amount=35000 "
		    "channels.b.draft.fees=210 channels.b.active.orders=0 "
		    "flows.#=1 flows.a>b.orders=3 flows.a>b.amount=35000 "
		    "samples.#=3 samples.0.active.chosen=a "
		    "samples.0.draft.chosen=b samples.0.id=o0 "
		    "samples.0.at=2024-03-06T02:00:00.000Z" },
	{ .name = "a rule of the draft moves only the orders it matches",
	  .active = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft_rules = "[{'id':1,'name':'big to b','enabled':true,"
			 "'conditions':{'amount_min':15000},"
			 "'scoring':{'weight':0,'fee':1,'success_rate':0},"
			 "'allow':['b']}]",
	  .orders = { { AT("10:00:00"), 10000 },
		      { AT("11:00:00"), 20000 },
		      { AT("12:00:00"), 5000 } },
	  .checks = "changed=1 totals.CNY.changed.amount=20000 "
		    "totals.CNY.active.fees=35 totals.CNY.draft.fees=135 "
		    "channels.a.active.orders=3 channels.a.draft.orders=2 "
		    "channels.b.draft.amount=20000 flows.a>b.orders=1 "
		    "samples.0.draft.rule.name=big\\ to\\ b "
		    "samples.0.active.rule=null" },
	{ .name = "a daily limit the draft lowers turns the third order away",
	  .active = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a','limits':{'daily_amount':25000}},"
		   "{'code':'b','fee':{'rate_bps':60}}]",
	  .orders = { { AT("10:00:00"), 10000 },
		      { AT("11:00:00"), 10000 },
		      { AT("12:00:00"), 10000 },
		      { AT("13:00:00"), 10000 },
		      /* the next local day starts from zero */
		      { "2024-03-07T00:10:00+08:00", 10000 } },
	  .checks = "changed=2 channels.a.draft.orders=3 "
		    "channels.b.draft.orders=2 limit_days.#=1 "
		    "limit_days.0.policy=draft limit_days.0.channel=a "
		    "limit_days.0.day=2024-03-06 "
		    "limit_days.0.limit=daily_amount_limit "
		    "limit_days.0.orders_turned_away=2 "
		    "limit_days.0.first_at=2024-03-06T04:00:00.000Z" },
	{ .name = "a daily count counts the channel's local day, not UTC's",
	  .active = "[{'code':'a','limits':{'daily_count':1}},"
		    "{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a','limits':{'daily_count':1}},"
		   "{'code':'b','fee':{'rate_bps':60}}]",
	  /* 15:30Z and 16:30Z: one UTC day, two Shanghai days */
	  .orders = { { AT("23:30:00"), 100 },
		      { "2024-03-07T00:30:00+08:00", 100 },
		      { "2024-03-07T00:40:00+08:00", 100 } },
	  .checks = "changed=0 channels.a.active.orders=2 "
		    "channels.b.active.orders=1 limit_days.#=2 "
		    "limit_days.0.policy=active limit_days.0.day=2024-03-07 "
		    "limit_days.0.limit=daily_count_limit "
		    "limit_days.1.policy=draft flows.#=0 samples.#=0" },
	{ .name = "expected success from the period's rates of each channel",
	  .active = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a','status':'offline'},"
		   "{'code':'b','fee':{'rate_bps':60}}]",
	  .rates = "a=9/1 b=1/1",
	  .orders = { { AT("10:00:00"), 10000 }, { AT("11:00:00"), 10000 } },
	  .checks =
		  "totals.CNY.active.expected_success=0.9 "
		  "totals.CNY.draft.expected_success=0.5 "
		  "channels.a.success_rate=0.9 channels.a.succeeded=9 "
		  "channels.a.failed=1 channels.a.active.expected_succeeded=1.8 "
		  "channels.b.draft.expected_succeeded=1.0 "
		  "samples.0.draft.dropped.status=1" },
	{ .name = "a channel without final orders has no rate",
	  .active = "[{'code':'a'}]",
	  .draft = "[{'code':'a'}]",
	  .orders = { { AT("10:00:00"), 10000 } },
	  .checks = "totals.CNY.active.expected_success=null "
		    "totals.CNY.active.orders_without_rate=1 "
		    "channels.a.success_rate=null "
		    "channels.a.active.expected_succeeded=null" },
	{ .name = "a draft without the channel: unroutable, a flow to null",
	  .active = "[{'code':'a'}]",
	  .draft = "[{'code':'z','methods':['wechat_pay']}]",
	  .orders = { { AT("10:00:00"), 700, "a" } },
	  .checks = "changed=1 totals.CNY.draft.unroutable=1 "
		    "totals.CNY.draft.routed=0 totals.CNY.draft.fees=0 "
		    "flows.a>null.orders=1 channels.a.moved_out.amount=700 "
		    "samples.0.draft.chosen=null "
		    "samples.0.recorded_channel=a" },
	{ .name = "the recorded channel differs from the active replay",
	  .active = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .orders = { { AT("10:00:00"), 100, "b" },
		      { AT("10:00:01"), 100, "a" } },
	  .checks = "recorded_differs=1 changed=0" },
	{ .name = "a bad stored request is skipped, not an error",
	  .active = "[{'code':'a'}]",
	  .draft = "[{'code':'a'}]",
	  .orders = { { AT("10:00:00"), 0 }, { AT("10:00:01"), 100 } },
	  .checks = "orders=1 skipped=1 totals.CNY.active.routed=1" },
	{ .name = "currencies are summed apart, sorted",
	  .active = "[{'code':'a','currencies':['USD','CNY']},"
		    "{'code':'b','fee':{'rate_bps':60},"
		    "'currencies':['USD','CNY']}]",
	  .draft = "[{'code':'a','fee':{'rate_bps':90},"
		   "'currencies':['USD','CNY']},{'code':'b','fee':{'rate_bps':"
		   "60},'currencies':['USD','CNY']}]",
	  .orders = { { AT("10:00:00"), 100000, NULL, "USD" },
		      { AT("10:00:01"), 200000, NULL, "CNY" } },
	  .checks = "totals.#=2 totals.0.currency=CNY totals.1.currency=USD "
		    "totals.USD.draft.fees=600 totals.CNY.draft.fees=1200 "
		    "channels.#=4 flows.#=2" },
	{ .name = "samples are bounded, the counts are not",
	  .active = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a','fee':{'rate_bps':100}},"
		   "{'code':'b','fee':{'rate_bps':60}}]",
	  .orders = { { AT("10:00:00"), 10000 },
		      { AT("10:00:01"), 10000 },
		      { AT("10:00:02"), 10000 } },
	  .sample_max = 2,
	  .checks = "changed=3 samples.#=2 samples.1.id=o1" },
	{ .name = "a whitelist entry of the draft moves its buyer",
	  .active = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft = "[{'code':'a'},{'code':'b','fee':{'rate_bps':60}}]",
	  .draft_wl = "[{'id':4,'kind':'buyer_id','value':'u1',"
		      "'channel':'b'}]",
	  .orders = { { AT("10:00:00"), 100, NULL, NULL, "u1" },
		      { AT("10:00:01"), 100, NULL, NULL, "u2" } },
	  .checks = "changed=1 flows.a>b.orders=1 "
		    "samples.0.draft.whitelist.id=4" },
};

/* ------------------------------------------------------------ helpers */

static json_t *jq(const char *text)
{
	char *s = strdup(text);
	json_error_t e;
	json_t *j;

	assert_non_null(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(s, 0, &e);
	if (!j)
		fail_msg("bad test JSON (%s) in: %s", e.text, s);
	free(s);
	return j;
}

static void build(const char *name, const char *chans, const char *rules,
		  const char *wl, struct pr_catalogue *cat)
{
	json_t *base = jq(base_chan), *ov = jq(chans), *all = json_array();
	json_t *r = rules ? jq(rules) : NULL, *w = wl ? jq(wl) : NULL, *o;
	char err[256] = "";
	size_t i;

	json_array_foreach(ov, i, o) {
		json_t *ch = pr_json_merge_patch(json_deep_copy(base), o);

		json_array_append_new(all, ch);
	}
	memset(cat, 0, sizeof(*cat));
	if (pr_catalogue_build(cat, all, w, r, err, sizeof(err)) != 0)
		fail_msg("case \"%s\": pr_catalogue_build: %s", name, err);
	json_decref(base);
	json_decref(ov);
	json_decref(all);
	json_decref(r);
	json_decref(w);
}

/* "a=9/1 b=1/1" into rates (names point into buf). */
static size_t parse_rates(const char *spec, char *buf, size_t len,
			  struct pr_replay_rate *rates, size_t max)
{
	size_t n = 0;
	char *save = NULL, *tok;

	if (!spec)
		return 0;
	snprintf(buf, len, "%s", spec);
	for (tok = strtok_r(buf, " ", &save); tok && n < max;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *sl = eq ? strchr(eq, '/') : NULL;

		assert_non_null(sl);
		*eq = '\0';
		rates[n].channel = tok;
		rates[n].succeeded = strtoll(eq + 1, NULL, 10);
		rates[n].failed = strtoll(sl + 1, NULL, 10);
		n++;
	}
	return n;
}

/* The element of array a whose key field (channels: channel, totals:
 * currency, flows: "from>to") is k. */
static json_t *by_key(json_t *a, const char *k)
{
	json_t *e;
	size_t i;
	char fk[160];

	json_array_foreach(a, i, e) {
		const char *c =
			json_string_value(json_object_get(e, "channel"));
		const char *cur =
			json_string_value(json_object_get(e, "currency"));
		const char *from =
			json_string_value(json_object_get(e, "from"));
		const char *to = json_string_value(json_object_get(e, "to"));

		if (json_object_get(e, "from")) {
			snprintf(fk, sizeof(fk), "%s>%s", from ? from : "null",
				 to ? to : "null");
			if (strcmp(fk, k) == 0)
				return e;
		} else if (c && strcmp(c, k) == 0) {
			return e;
		} else if (!c && cur && strcmp(cur, k) == 0) {
			return e;
		}
	}
	return NULL;
}

/* The text of the value at path in j ("#" of an array: its length). */
static void at_path(json_t *j, const char *path, char *out, size_t len)
{
	char buf[2048], *save = NULL, *tok, *end;
	json_t *v = j;
	char *txt;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v;
	     tok = strtok_r(NULL, ".", &save)) {
		if (json_is_array(v) && strcmp(tok, "#") == 0) {
			snprintf(out, len, "%zu", json_array_size(v));
			return;
		}
		if (json_is_array(v)) {
			long idx = strtol(tok, &end, 10);

			v = *end == '\0' ? json_array_get(v, (size_t)idx) :
					   by_key(v, tok);
		} else {
			v = json_object_get(v, tok);
		}
	}
	if (!v) {
		snprintf(out, len, "<missing>");
		return;
	}
	if (json_is_string(v)) {
		snprintf(out, len, "%s", json_string_value(v));
		return;
	}
	if (json_is_real(v)) {
		snprintf(out, len, "%.6g", json_real_value(v));
		return;
	}
	txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	snprintf(out, len, "%s", txt ? txt : "?");
	free(txt);
}

/* "a\ b" in a check is "a b". */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		*w++ = *s;
	}
	*w = '\0';
}

static void check_all(const struct rcase *c, json_t *res)
{
	char buf[2048], got[256], *p = buf, *tok, *eq;
	double want;

	snprintf(buf, sizeof(buf), "%s", c->checks);
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		tok = p;
		while (*p && !(*p == ' ' && p[-1] != '\\'))
			p++;
		if (*p)
			*p++ = '\0';
		eq = strchr(tok, '=');
		assert_non_null(eq);
		*eq = '\0';
		unescape(eq + 1);
		at_path(res, tok, got, sizeof(got));
		if (strcmp(got, eq + 1) == 0)
			continue;
		/* numbers compare as numbers (1.8 may print 1.8000000001) */
		want = strtod(eq + 1, NULL);
		if (got[0] != '<' && strcmp(got, "null") &&
		    strcmp(eq + 1, "null") &&
		    fabs(strtod(got, NULL) - want) < 1e-9 &&
		    (want != 0 || strcmp(got, "0") == 0))
			continue;
		{
			char *all = json_dumps(res, JSON_INDENT(1));

			print_error("%s\n", all ? all : "");
			free(all);
		}
		fail_msg("case \"%s\": %s is %s, expected %s", c->name, tok,
			 got, eq + 1);
	}
}

static void run_case(const struct rcase *c)
{
	struct pr_catalogue active, draft;
	struct pr_replay_rate rates[8];
	struct pr_replay_opts opts = { 20, 3, 256, 1000 };
	struct pr_replay *rp = NULL;
	char rbuf[256], id[16];
	json_t *res;
	size_t n_rates, i;

	build(c->name, c->active, NULL, NULL, &active);
	build(c->name, c->draft, c->draft_rules, c->draft_wl, &draft);
	n_rates = parse_rates(c->rates, rbuf, sizeof(rbuf), rates, 8);
	if (c->sample_max)
		opts.sample_max = c->sample_max;
	assert_int_equal(
		pr_replay_new(&active, &draft, rates, n_rates, &opts, &rp), 0);
	for (i = 0; i < MAX_ORDERS && c->orders[i].at; i++) {
		const struct ord *o = &c->orders[i];
		struct pr_replay_order ro;
		int rc;

		memset(&ro, 0, sizeof(ro));
		snprintf(id, sizeof(id), "o%zu", i);
		ro.id = id;
		ro.recorded = o->recorded;
		ro.req.business = PR_BIZ_PAY;
		ro.req.method = "alipay";
		ro.req.environment = "h5";
		ro.req.currency = o->currency ? o->currency : "CNY";
		ro.req.merchant = "m1";
		ro.req.buyer_id = o->buyer;
		ro.req.amount = o->amount;
		assert_int_equal(pr_parse_rfc3339(o->at, &ro.req.now_ms), 0);
		rc = pr_replay_add(rp, &ro);
		assert_true(rc == 0 || (rc == -EINVAL && o->amount <= 0));
	}
	/* every order given is counted, a skipped one too */
	assert_int_equal(pr_replay_count(rp), i);
	res = pr_replay_json(rp);
	assert_non_null(res);
	check_all(c, res);
	json_decref(res);
	pr_replay_free(rp);
	pr_catalogue_clear(&active);
	pr_catalogue_clear(&draft);
}

static void test_replay_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* The same draft as the active policy moves nothing, whatever the
 * orders; and the counts add up to the orders. */
static void test_same_policy_moves_nothing(void **state)
{
	struct pr_catalogue cat;
	struct pr_replay *rp = NULL;
	struct pr_replay_order ro;
	json_t *res;
	int64_t t0;
	size_t i;

	(void)state;
	build("same",
	      "[{'code':'a','limits':{'daily_count':50}},"
	      "{'code':'b','fee':{'rate_bps':60}},"
	      "{'code':'c','weight':300,'fee':{'rate_bps':60}}]",
	      NULL, NULL, &cat);
	assert_int_equal(pr_replay_new(&cat, &cat, NULL, 0, NULL, &rp), 0);
	assert_int_equal(pr_parse_rfc3339(AT("00:00:00"), &t0), 0);
	for (i = 0; i < 1000; i++) {
		memset(&ro, 0, sizeof(ro));
		ro.id = "o";
		ro.req.business = PR_BIZ_PAY;
		ro.req.method = "alipay";
		ro.req.environment = "h5";
		ro.req.currency = "CNY";
		ro.req.amount = 1 + (int64_t)(i * 7919 % 100000);
		ro.req.now_ms = t0 + (int64_t)i * 600000; /* 10 minutes */
		assert_int_equal(pr_replay_add(rp, &ro), 0);
	}
	assert_int_equal(pr_replay_count(rp), 1000);
	res = pr_replay_json(rp);
	assert_non_null(res);
	assert_int_equal(json_integer_value(json_object_get(res, "changed")),
			 0);
	/* a's 50 a day: 144 orders a day over 7 days */
	assert_int_equal(json_array_size(json_object_get(res, "limit_days")),
			 14);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(
				json_array_get(json_object_get(res, "totals"),
					       0),
				"active"),
			"routed")),
		1000);
	json_decref(res);
	pr_replay_free(rp);
	pr_catalogue_clear(&cat);
}

static void test_bad_arguments(void **state)
{
	struct pr_catalogue cat;
	struct pr_replay *rp = (struct pr_replay *)&cat;

	(void)state;
	memset(&cat, 0, sizeof(cat));
	assert_int_equal(pr_replay_new(NULL, &cat, NULL, 0, NULL, &rp),
			 -EINVAL);
	assert_int_equal(pr_replay_new(&cat, &cat, NULL, 1, NULL, &rp),
			 -EINVAL);
	assert_int_equal(pr_replay_new(&cat, &cat, NULL, 0, NULL, &rp), 0);
	assert_int_equal(pr_replay_add(rp, NULL), -EINVAL);
	assert_int_equal(pr_replay_count(NULL), 0);
	assert_null(pr_replay_json(NULL));
	pr_replay_free(rp);
	pr_replay_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_table),
		cmocka_unit_test(test_same_policy_moves_nothing),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
