/*
 * bench_router.c - routing decisions per second and latency of pr_route,
 * on realistic catalogues of 10, 100 and 1,000 channels (built by `make
 * bench`; a program that prints figures, not a timed test).
 *
 * Each catalogue is generated from a fixed seed in the admin API's JSON
 * shape and built with pr_catalogue_build, like a generation's snapshot:
 * a mix of methods, environments, product codes, currencies, fees, limits,
 * bank mappings, maintenance windows in several time zones, a few
 * whitelist-only channels, whitelist entries and rules. The first hundred
 * channels take the usual methods (alipay, wechat_pay, debit_card,
 * credit_card, unionpay); in the 1,000-channel catalogue the other 900 take
 * other methods or only withdrawals, as a large multi-country deployment
 * would, so they are outside the requests' buckets.
 *
 * Requests vary (method, environment, amount, bank, buyer, time over a
 * week) and come with today's usage and success rates. Each decision is
 * timed with clock_gettime(CLOCK_MONOTONIC); the throughput comes from a
 * separate, untimed run, and so does "cpu us", the thread's CPU time per
 * decision over that run (on a shared machine the figure to compare: a
 * wait for the CPU is not in it). The process pins itself to one CPU when
 * it can.
 *
 * The second table is the success-rate path (doc/design.md §4), what
 * pr_order_usage and pr_order_route add on the hot path: for each channel
 * of the request's bucket an estimate from a table of decayed outcomes
 * (srate.c, 400 outcomes per channel over its segments) and its breaker's
 * answer (breaker.c: 5 % of the channels open, 1 % half open), then
 * pr_route under rules that score success_first within 2 points and
 * explore 5 % of the decisions (a seed per decision). It is timed whole,
 * estimates included, over the same catalogues and requests.
 *
 * Under the second table's rows, "daemon path": what payrouted does per
 * decision around pr_route with the arrays pr_order_usage hands it
 * (orders/orders.c): the catalogue-sized usage and bank arrays, zeroed,
 * the bucket's estimates and breakers, and pr_route. "calloc" is what the
 * daemon did before (two callocs and their frees a decision), "reused"
 * what it does now (one pair per thread, zeroed). Then "stored trace":
 * the order path's trace of the same decisions (16 listed candidates,
 * PR_TRACE_LISTED of orders/orders.h) as the order row gets it today, a
 * jansson tree dumped (pr_route_trace_json), against the same bytes
 * written by jsonw (pr_route_trace_write, what explain uses). Thread CPU
 * per decision, the same requests.
 *
 * Each table row ends with a digest (FNV-1a) of the warm-up decisions'
 * traces (pr_route_trace_json, every candidate), so two builds can show
 * that a change of the hot path changed no decision, score or estimate.
 *
 * Usage: bench_router [decisions per size, default 200000]
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/jsonw.h"
#include "domain/breaker.h"
#include "domain/catalogue.h"
#include "domain/router.h"
#include "domain/srate.h"

#define N_REQS 4096
#define TRACE_LISTED 16 /* PR_TRACE_LISTED (orders/orders.h) */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: deterministic, good enough for test data. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static int chance(unsigned percent)
{
	return rnd_below(100) < percent;
}

static const char *const main_methods[] = { "alipay", "wechat_pay",
					    "debit_card", "credit_card",
					    "unionpay" };
static const char *const tail_methods[] = {
	"paypal",   "apple_pay", "google_pay", "jd_pay",     "kakao_pay",
	"grab_pay", "promptpay", "boleto",     "pix",	     "ideal",
	"sofort",   "klarna",	 "bancontact", "blik",	     "paynow",
	"gcash",    "dana",	 "ovo",	       "touch_n_go", "upi",
	"paytm",    "mpesa",	 "konbini",    "linepay",    "naver_pay",
	"toss",	    "satispay",	 "twint",      "vipps",	     "swish",
};
static const char *const envs[] = { "h5", "mini_program", "app",
				    "pc", "native_qr",	  "jsapi" };
static const char *const banks[] = { "ICBC", "CCB", "ABC",  "BOC",  "BOCOM",
				     "CMB",  "CIB", "SPDB", "CMBC", "PSBC" };
static const char *const zones[] = { "Asia/Shanghai",	 "Asia/Shanghai",
				     "Asia/Shanghai",	 "Asia/Hong_Kong",
				     "America/New_York", "Europe/London" };
static const char *const products[] = { "QUICK", "FACE", "QR", "WAP",
					"APP_PAY" };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static json_t *str_subset(const char *const *v, size_t n, unsigned lo,
			  unsigned hi)
{
	json_t *a = json_array();
	unsigned k = lo + rnd_below(hi - lo + 1),
		 start = rnd_below((unsigned)n);

	for (unsigned i = 0; i < k && i < n; i++)
		json_array_append_new(a, json_string(v[(start + i) % n]));
	return a;
}

static json_t *gen_banks(void)
{
	static const char *const cards[][2] = { { "debit", NULL },
						{ "credit", NULL },
						{ "debit", "credit" } };
	json_t *a = json_array(), *b, *ct;
	unsigned k = 4 + rnd_below(6), start = rnd_below(N_OF(banks)), c;
	char cbc[16];

	for (unsigned i = 0; i < k; i++) {
		c = rnd_below(3);
		ct = json_array();
		for (int j = 0; j < 2 && cards[c][j]; j++)
			json_array_append_new(ct, json_string(cards[c][j]));
		snprintf(cbc, sizeof(cbc), "%u", 100 + (start + i) % 20);
		b = json_pack("{s:s,s:s,s:o,s:I,s:I}", "bank_code",
			      banks[(start + i) % N_OF(banks)],
			      "channel_bank_code", cbc, "card_types", ct,
			      "txn_max", (json_int_t)(chance(50) ? 5000000 : 0),
			      "daily_amount",
			      (json_int_t)(chance(50) ? 500000000 : 0));
		json_array_append_new(a, b);
	}
	return a;
}

static json_t *gen_windows(void)
{
	json_t *a = json_array();
	unsigned r = rnd_below(100);

	if (r < 25)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "kind",
						   "daily", "start", "23:50",
						   "end", "00:10"));
	else if (r < 40)
		json_array_append_new(
			a, json_pack("{s:s,s:[s],s:s,s:s}", "kind", "weekly",
				     "days", chance(50) ? "sun" : "tue",
				     "start", "02:00", "end", "04:00"));
	if (chance(5))
		json_array_append_new(a,
				      json_pack("{s:s,s:s,s:s}", "kind", "once",
						"from", "2024-03-07T01:00:00Z",
						"to", "2024-03-07T03:00:00Z"));
	return a;
}

static json_t *gen_channel(unsigned i, int related)
{
	json_t *biz = json_array(), *methods;
	char code[16];
	int card;

	snprintf(code, sizeof(code), "ch%04u", i);
	if (related) {
		methods = str_subset(main_methods, N_OF(main_methods), 1, 3);
		json_array_append_new(biz, json_string("pay"));
		if (chance(60))
			json_array_append_new(biz, json_string("refund"));
		if (chance(15))
			json_array_append_new(biz, json_string("withdraw"));
	} else if (chance(80)) {
		methods = str_subset(tail_methods, N_OF(tail_methods), 1, 2);
		json_array_append_new(biz, json_string("pay"));
		json_array_append_new(biz, json_string("refund"));
	} else {
		methods = json_pack("[s]", "bank_transfer");
		json_array_append_new(biz, json_string("withdraw"));
	}
	card = 0;
	for (size_t k = 0; k < json_array_size(methods); k++) {
		const char *m = json_string_value(json_array_get(methods, k));

		if (strcmp(m, "debit_card") == 0 ||
		    strcmp(m, "credit_card") == 0 || strcmp(m, "unionpay") == 0)
			card = 1;
	}
	return json_pack(
		"{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:o,"
		"s:{s:I,s:I,s:I,s:I},s:{s:i,s:I,s:I,s:I},s:i,s:i,s:s,s:b,"
		"s:b,s:{}}",
		"code", code, "driver", "sim", "institution", "Bench Bank",
		"business_types", biz, "methods", methods, "environments",
		str_subset(envs, N_OF(envs), 2, 5), "product_codes",
		chance(30) ? str_subset(products, N_OF(products), 1, 3) :
			     json_array(),
		"currencies",
		chance(85) ? json_pack("[s]", "CNY") :
			     json_pack("[s,s]", "CNY", "USD"),
		"banks", card ? gen_banks() : json_array(), "status",
		chance(95) ? "online" : "offline", "timezone",
		zones[rnd_below(N_OF(zones))], "maintenance_windows",
		gen_windows(), "limits", "txn_min",
		(json_int_t)(chance(50) ? 100 : 0), "txn_max",
		(json_int_t)(chance(70) ? 1000000 + rnd_below(9) * 1000000 : 0),
		"daily_amount",
		(json_int_t)(chance(60) ? 100000000 + rnd_below(10) * 50000000 :
					  0),
		"daily_count", (json_int_t)(chance(40) ? 50000 : 0), "fee",
		"rate_bps", (int)(20 + rnd_below(61)), "fixed",
		(json_int_t)(chance(20) ? 10 : 0), "min",
		(json_int_t)(chance(30) ? 1 : 0), "max",
		(json_int_t)(chance(20) ? 2000 : 0), "weight",
		(int)(1 + rnd_below(1000)), "refund_window_days", 180,
		"refund_timeout", "48h", "refund_resend", 1, "whitelist_only",
		chance(3), "driver_config");
}

/* A hex string of 64 characters derived from n (a stand-in HMAC). */
static void fake_hmac(unsigned n, char *out, size_t len)
{
	uint64_t x = 0x51ed270b27f1a4c3ull ^ n;
	size_t i;

	for (i = 0; i + 1 < len && i < 64; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		out[i] = "0123456789abcdef"[(x >> 60) & 15];
	}
	out[i] = '\0';
}

static json_t *gen_whitelist(unsigned n_chans)
{
	json_t *a = json_array();
	char v[80], ch[16];

	for (unsigned i = 0; i < 20; i++) {
		snprintf(ch, sizeof(ch), "ch%04u",
			 rnd_below(n_chans < 100 ? n_chans : 100));
		if (i % 3 == 0)
			fake_hmac(i, v, sizeof(v));
		else
			snprintf(v, sizeof(v), "%s%u",
				 i % 3 == 1 ? "buyer" : "seller", i);
		json_array_append_new(
			a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:n}", "id",
				     (json_int_t)(i + 1), "kind",
				     i % 3 == 0 ? "card_no" :
				     i % 3 == 1 ? "buyer_id" :
						  "seller_id",
				     "value", v, "channel", ch, "note", "bench",
				     "expires_at"));
	}
	return a;
}

static json_t *gen_rules(unsigned n_chans)
{
	char a[16], b[16];

	snprintf(a, sizeof(a), "ch%04u",
		 rnd_below(n_chans < 100 ? n_chans : 100));
	snprintf(b, sizeof(b), "ch%04u",
		 rnd_below(n_chans < 100 ? n_chans : 100));
	return json_pack("[{s:I,s:s,s:b,s:{},s:{s:f,s:f,s:f},s:[],s:[s]},"
			 "{s:I,s:s,s:b,s:{s:[s]},s:{s:f,s:f,s:f},s:[],s:[]},"
			 "{s:I,s:s,s:b,s:{s:I},s:{s:f,s:f,s:f},s:[],s:[s]}]",
			 "id", (json_int_t)1, "name", "disabled", "enabled", 0,
			 "conditions", "scoring", "weight", 1.0, "fee", 0.0,
			 "success_rate", 0.0, "allow", "deny", a, "id",
			 (json_int_t)2, "name", "merchant m7", "enabled", 1,
			 "conditions", "merchants", "m7", "scoring", "weight",
			 0.3, "fee", 0.3, "success_rate", 0.4, "allow", "deny",
			 "id", (json_int_t)3, "name", "large amounts",
			 "enabled", 1, "conditions", "amount_min",
			 (json_int_t)500000, "scoring", "weight", 0.1, "fee",
			 0.6, "success_rate", 0.3, "allow", "deny", b);
}

/* The success-rate path's rules: the same three, the last two
 * success_first, and a catch-all that explores. */
static json_t *gen_rules_learn(unsigned n_chans)
{
	json_t *r = gen_rules(n_chans), *sc;

	for (size_t i = 1; i < json_array_size(r); i++) {
		sc = json_object_get(json_array_get(r, i), "scoring");
		json_object_set_new(sc, "mode", json_string("success_first"));
		json_object_set_new(sc, "within_points", json_real(2));
	}
	json_array_append_new(
		r, json_pack("{s:I,s:s,s:b,s:{},s:{s:s,s:f,s:f},s:[],s:[]}",
			     "id", (json_int_t)4, "name", "learn", "enabled", 1,
			     "conditions", "scoring", "mode", "success_first",
			     "within_points", 2.0, "explore", 0.05, "allow",
			     "deny"));
	return r;
}

struct learn {
	struct pr_srate *sr;
	struct pr_srate_cfg cfg;
	struct pr_breakers *brk;
	struct pr_brk_cfg bcfg;
	int64_t now_ms; /* the breakers' clock: just after they moved */
	/* Each channel's breaker and estimates by catalogue index, as
	 * chanhealth.c keeps them per generation (looked up again only when
	 * a channel gains its first breaker or estimate). */
	struct pr_brk **brk_of;
	const struct pr_sr_chan **sr_of;
};

/* 400 outcomes per channel over its segments, spread over the requests'
 * week (one every 25 minutes). Breakers: about 5 % of the channels open
 * and 1 % half open with their probe just sent, as of bench_now. */
static int learn_init(struct learn *l, const struct pr_catalogue *cat,
		      int64_t t0)
{
	l->cfg.half_life_ms = PR_SR_HALF_LIFE_MS;
	l->cfg.min_n = PR_SR_MIN_N;
	l->bcfg = (struct pr_brk_cfg){ PR_BRK_FAILURES, PR_BRK_WINDOW_MS,
				       PR_BRK_COOLDOWN_MS,
				       PR_BRK_PROBE_INTERVAL_MS };
	l->now_ms = t0 + 40000;
	l->sr = pr_srate_new();
	l->brk = pr_breakers_new();
	l->brk_of = calloc(cat->n_chans, sizeof(*l->brk_of));
	l->sr_of = calloc(cat->n_chans, sizeof(*l->sr_of));
	if (!l->sr || !l->brk || !l->brk_of || !l->sr_of)
		return -ENOMEM;
	for (size_t i = 0; i < cat->n_chans; i++) {
		const struct pr_chan_spec *c = &cat->chans[i];
		unsigned p = 80 + rnd_below(20);
		struct pr_brk *b;

		for (unsigned k = 0; k < 400; k++) {
			const char *m =
				c->methods.n ?
					c->methods.v[rnd_below(
						(unsigned)c->methods.n)] :
					"";
			const char *e =
				c->environments.n ?
					c->environments.v[rnd_below(
						(unsigned)c->environments.n)] :
					"";
			const char *bk = chance(30) ?
						 banks[rnd_below(N_OF(banks))] :
						 NULL;

			if (pr_srate_record(l->sr, &l->cfg, c->code, m, e, bk,
					    chance(p),
					    t0 + (int64_t)k * 1512000) < 0)
				return -ENOMEM;
		}
		if (!chance(6))
			continue;
		b = pr_breakers_get(l->brk, c->code, 1);
		if (!b)
			return -ENOMEM;
		l->brk_of[i] = b;
		if (chance(17)) { /* about 1 % of all: half open */
			for (int f = 0; f < PR_BRK_FAILURES; f++)
				pr_brk_record(b, &l->bcfg, PR_BRK_EV_FAIL,
					      "CHANNEL_TIMEOUT", t0 + f);
			pr_brk_route(b, &l->bcfg, l->now_ms - 2000, NULL);
			pr_brk_probe_sent(b, l->now_ms - 2000);
		} else {
			for (int f = 0; f < PR_BRK_FAILURES; f++)
				pr_brk_record(b, &l->bcfg, PR_BRK_EV_FAIL,
					      "CHANNEL_TIMEOUT",
					      l->now_ms - 10000 + f);
		}
	}
	for (size_t i = 0; i < cat->n_chans; i++)
		l->sr_of[i] = pr_srate_chan(l->sr, cat->chans[i].code);
	return 0;
}

/* What pr_order_usage adds per decision: the bucket's breakers and the
 * handles of their estimates (the estimates are the router's, for the
 * survivors: req.srate). */
static void learn_fill(struct learn *l, const struct pr_catalogue *cat,
		       const struct pr_route_req *q,
		       struct pr_chan_usage *usage)
{
	const struct pr_cat_bucket *bk =
		pr_catalogue_bucket(cat, q->business, q->method);
	struct pr_brk *b;

	for (size_t k = 0; bk && k < bk->n; k++) {
		size_t i = bk->chans[k];
		struct pr_chan_usage *u = &usage[i];

		b = l->brk_of[i];
		u->breaker = b ? pr_brk_route(b, &l->bcfg, l->now_ms, NULL) :
				 PR_BRK_ROUTE_ANY;
		u->sr = l->sr_of[i];
		u->sr_known = 1;
	}
}

struct bench_req {
	struct pr_route_req r;
	char buyer[16];
	char card[80];
	char merchant[8];
};

static void gen_requests(struct bench_req *q, size_t n)
{
	/* Wednesday 2024-03-06 00:00 +08:00, spread over a week. */
	const int64_t t0 = 1709654400000LL;
	static const char *const req_methods[] = { "alipay",	 "alipay",
						   "wechat_pay", "wechat_pay",
						   "debit_card", "credit_card",
						   "unionpay" };
	unsigned m;

	for (size_t i = 0; i < n; i++) {
		memset(&q[i], 0, sizeof(q[i]));
		m = rnd_below(N_OF(req_methods));
		q[i].r.business = chance(95) ? PR_BIZ_PAY : PR_BIZ_WITHDRAW;
		q[i].r.method = req_methods[m];
		q[i].r.environment = envs[rnd_below(N_OF(envs))];
		q[i].r.product_code =
			chance(40) ? products[rnd_below(N_OF(products))] : NULL;
		q[i].r.currency = chance(90) ? "CNY" : "USD";
		q[i].r.bank_code = m >= 4 ? banks[rnd_below(N_OF(banks))] :
					    NULL;
		snprintf(q[i].merchant, sizeof(q[i].merchant), "m%u",
			 rnd_below(10));
		q[i].r.merchant = q[i].merchant;
		snprintf(q[i].buyer, sizeof(q[i].buyer), "buyer%u",
			 rnd_below(40));
		q[i].r.buyer_id = q[i].buyer;
		q[i].r.seller_id = "seller2";
		if (chance(20)) {
			fake_hmac(rnd_below(24), q[i].card, sizeof(q[i].card));
			q[i].r.card_hmac = q[i].card;
		}
		/* 1.00 to about 6,000.00, mostly small amounts */
		q[i].r.amount = (int64_t)(100 + rnd_below(900)) *
				(int64_t)(1 + rnd_below(4) * rnd_below(4) *
						      rnd_below(70));
		q[i].r.now_ms = t0 + (int64_t)(rnd() % (7 * 86400000ull));
	}
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* FNV-1a over the compact JSON of the trace, into *h. */
static void digest(uint64_t *h, const struct pr_catalogue *cat,
		   const struct pr_route_result *res)
{
	json_t *j = pr_route_trace_json(cat, res, 0);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;
	     p++)
		*h = (*h ^ *p) * 0x100000001b3ull;
	free(s);
	json_decref(j);
}

/* One decision the way the daemon makes it (see the file's comment):
 * the usage arrays from calloc (fresh) or the kept ones zeroed, the
 * bucket's figures from base, and pr_route. Returns 0 or -ENOMEM. */
static int daemon_decision(struct learn *l, const struct pr_catalogue *cat,
			   const struct pr_route_req *q,
			   const struct pr_chan_usage *base, int fresh,
			   struct pr_chan_usage *kept_u,
			   struct pr_bank_usage *kept_b,
			   struct pr_route_result *res)
{
	size_t n = cat->n_chans;
	struct pr_chan_usage *u = kept_u;
	struct pr_bank_usage *b = kept_b;
	const struct pr_cat_bucket *bk =
		pr_catalogue_bucket(cat, q->business, q->method);

	if (fresh) {
		u = calloc(n, sizeof(*u));
		b = calloc(n, sizeof(*b));
		if (!u || !b) {
			free(u);
			free(b);
			return -ENOMEM;
		}
	} else {
		memset(u, 0, n * sizeof(*u));
		memset(b, 0, n * sizeof(*b));
	}
	for (size_t i = 0; i < n; i++) {
		u[i].success_rate = -1;
		u[i].est.rate = -1;
	}
	for (size_t k = 0; bk && k < bk->n; k++) {
		size_t i = bk->chans[k];

		u[i].amount = base[i].amount;
		u[i].count = base[i].count;
		u[i].success_rate = base[i].success_rate;
	}
	learn_fill(l, cat, q, u);
	pr_route(cat, q, u, 0, res);
	if (fresh) {
		free(u);
		free(b);
	}
	return 0;
}

/* The order path's trace of res both ways, each timed (thread CPU, ns
 * added to ns[1] for the jansson tree dumped, ns[0] for jsonw). Returns 1
 * when the two texts are the same bytes, else 0. */
static int stored_trace(const struct pr_catalogue *cat,
			const struct pr_route_result *res, int64_t ns[2])
{
	int64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t1, t2;
	json_t *j = pr_route_trace_json(cat, res, TRACE_LISTED);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char room[8192];
	struct pr_jw w;
	int same;

	json_decref(j);
	t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	pr_jw_init(&w, room, sizeof(room));
	pr_jw_obj_open(&w);
	pr_route_trace_write(&w, cat, res, TRACE_LISTED);
	pr_jw_obj_close(&w);
	t2 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	same = s && !w.failed && w.len == strlen(s) &&
	       memcmp(w.p, s, w.len) == 0;
	pr_jw_free(&w);
	free(s);
	ns[1] += t1 - t0;
	ns[0] += t2 - t1;
	return same;
}

static int run(unsigned n_chans, size_t n_dec, int learning)
{
	uint64_t dig = 0xcbf29ce484222325ull;
	struct learn l = { 0 };
	double explored = 0, probes = 0, dropped_open = 0;
	json_t *chans = json_array(), *wl, *rules;
	struct pr_catalogue cat;
	struct pr_chan_usage *usage = NULL;
	struct bench_req *reqs = NULL;
	struct pr_route_result res = { 0 };
	int64_t *lat = NULL, t, t_all, t_cpu;
	char err[256];
	double sum_cons = 0, sum_elig = 0, chosen = 0;
	int rc = -ENOMEM;
	size_t i;

	memset(&cat, 0, sizeof(cat));
	rng_state = 0x9e3779b97f4a7c15ull; /* the same first 100 channels */
	for (i = 0; i < n_chans; i++)
		json_array_append_new(chans, gen_channel((unsigned)i, i < 100));
	wl = gen_whitelist(n_chans);
	rules = learning ? gen_rules_learn(n_chans) : gen_rules(n_chans);
	rc = pr_catalogue_build(&cat, chans, wl, rules, err, sizeof(err));
	json_decref(chans);
	json_decref(wl);
	json_decref(rules);
	if (rc < 0) {
		fprintf(stderr, "catalogue of %u: %s\n", n_chans, err);
		return rc;
	}
	rc = -ENOMEM;
	usage = calloc(cat.n_chans, sizeof(*usage));
	reqs = calloc(N_REQS, sizeof(*reqs));
	lat = calloc(n_dec, sizeof(*lat));
	res.cands = calloc(cat.n_chans, sizeof(*res.cands));
	res.cap = cat.n_chans;
	if (!usage || !reqs || !lat || !res.cands)
		goto out;
	for (i = 0; i < cat.n_chans; i++) {
		const struct pr_chan_spec *c = &cat.chans[i];

		usage[i].amount =
			c->daily_amount ?
				(int64_t)(rnd() % (uint64_t)c->daily_amount) :
				0;
		usage[i].count =
			c->daily_count ?
				(int64_t)(rnd() % (uint64_t)c->daily_count) :
				0;
		usage[i].success_rate =
			chance(80) ? 0.85 + rnd_below(150) / 1000.0 : -1;
	}
	gen_requests(reqs, N_REQS);
	if (learning) {
		if (learn_init(&l, &cat, 1709654400000LL) < 0)
			goto out;
		for (i = 0; i < N_REQS; i++) {
			reqs[i].r.explore = 1;
			reqs[i].r.seed = rnd();
			reqs[i].r.srate = l.sr;
			reqs[i].r.srate_cfg = l.cfg;
		}
	}

	/* Warm up, and count what the requests see. */
	for (i = 0; i < N_REQS; i++) {
		if (learning)
			learn_fill(&l, &cat, &reqs[i].r, usage);
		if (pr_route(&cat, &reqs[i].r, usage, 0, &res) < 0)
			goto out;
		sum_cons += (double)res.n;
		sum_elig += (double)res.n_eligible;
		chosen += res.chosen >= 0;
		digest(&dig, &cat, &res);
		explored += res.explored;
		probes += res.probe;
		for (size_t k = res.n_eligible; k < res.n; k++)
			dropped_open += res.cands[k].dropped_by ==
					PR_DROP_CIRCUIT_OPEN;
	}

	/* Throughput: untimed calls back to back. */
	t_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t_all = now_ns();
	for (i = 0; i < n_dec; i++) {
		if (learning)
			learn_fill(&l, &cat, &reqs[i % N_REQS].r, usage);
		pr_route(&cat, &reqs[i % N_REQS].r, usage, 0, &res);
	}
	t_all = now_ns() - t_all;
	t_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t_cpu;

	/* Latency: every call timed (with its estimates). */
	for (i = 0; i < n_dec; i++) {
		t = now_ns();
		if (learning)
			learn_fill(&l, &cat, &reqs[i % N_REQS].r, usage);
		pr_route(&cat, &reqs[i % N_REQS].r, usage, 0, &res);
		lat[i] = now_ns() - t;
	}
	qsort(lat, n_dec, sizeof(*lat), cmp_i64);

	printf("%8u %12.0f %9.3f %9.3f %9.3f %9.3f %10.1f %9.1f %8.0f%% "
	       "%016llx\n",
	       n_chans, (double)n_dec / ((double)t_all / 1e9),
	       (double)t_cpu / 1000.0 / (double)n_dec,
	       (double)lat[n_dec / 2] / 1000.0,
	       (double)lat[n_dec * 99 / 100] / 1000.0,
	       (double)lat[n_dec * 999 / 1000] / 1000.0, sum_cons / N_REQS,
	       sum_elig / N_REQS, 100.0 * chosen / N_REQS,
	       (unsigned long long)dig);

	if (learning) {
		struct pr_chan_usage *ku = calloc(cat.n_chans, sizeof(*ku));
		struct pr_bank_usage *kb = calloc(cat.n_chans, sizeof(*kb));
		double us[2];
		int64_t tns[2] = { 0, 0 };
		size_t n_same = 0;

		printf("%8s explored %.1f%%, probes %.1f%%, circuit_open drops "
		       "%.2f per decision\n",
		       "", 100.0 * explored / N_REQS, 100.0 * probes / N_REQS,
		       dropped_open / N_REQS);
		if (!ku || !kb) {
			free(ku);
			free(kb);
			goto out;
		}
		for (int fresh = 1; fresh >= 0; fresh--) {
			size_t n = n_dec / 10;

			t_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
			for (i = 0; i < n; i++)
				if (daemon_decision(&l, &cat,
						    &reqs[i % N_REQS].r, usage,
						    fresh, ku, kb, &res) < 0)
					break;
			t_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t_cpu;
			us[fresh] = (double)t_cpu / 1000.0 / (double)n;
		}
		/* the same decisions, their traces written both ways */
		for (i = 0; i < n_dec / 100; i++) {
			daemon_decision(&l, &cat, &reqs[i % N_REQS].r, usage,
					0, ku, kb, &res);
			n_same += (size_t)stored_trace(&cat, &res, tns);
		}
		free(ku);
		free(kb);
		printf("%8s daemon path (arrays, estimates, pr_route): calloc "
		       "%.3f us, reused %.3f us per decision\n",
		       "", us[1], us[0]);
		printf("%8s stored trace (16 listed): jansson tree + dump "
		       "%.3f us, jsonw %.3f us per decision (%s bytes)\n",
		       "", (double)tns[1] / 1000.0 / (double)(n_dec / 100),
		       (double)tns[0] / 1000.0 / (double)(n_dec / 100),
		       n_same == n_dec / 100 ? "the same" : "NOT the same");
	}
	/* The explain path (full trace) for reference. */
	t_all = now_ns();
	for (i = 0; i < n_dec / 10; i++)
		pr_route(&cat, &reqs[i % N_REQS].r, usage, 1, &res);
	t_all = now_ns() - t_all;
	printf("%8s full trace (explain): %.3f us per decision\n", "",
	       (double)t_all / 1000.0 / (double)(n_dec / 10));
	rc = 0;
out:
	pr_srate_free(l.sr);
	pr_breakers_free(l.brk);
	free(l.brk_of);
	free(l.sr_of);
	free(usage);
	free(reqs);
	free(lat);
	free(res.cands);
	pr_catalogue_clear(&cat);
	return rc;
}

int main(int argc, char **argv)
{
	static const unsigned sizes[] = { 10, 100, 1000 };
	size_t n_dec = 200000;
	cpu_set_t set;
	int pinned;

	if (argc > 1) {
		char *end;
		unsigned long v = strtoul(argv[1], &end, 10);

		if (*end || v < 1000 || v > 100000000) {
			fprintf(stderr,
				"usage: %s [decisions per size, "
				"1000..100000000]\n",
				argv[0]);
			return 2;
		}
		n_dec = v;
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	pinned = sched_setaffinity(0, sizeof(set), &set) == 0;
	printf("pr_route, bucket mode, %zu decisions per size, one thread%s\n",
	       n_dec, pinned ? " pinned to CPU 0" : "");
	printf("%8s %12s %9s %9s %9s %9s %10s %9s %9s %16s\n", "channels",
	       "decisions/s", "cpu us", "p50 us", "p99 us", "p99.9 us",
	       "considered", "eligible", "routed", "traces digest");
	for (size_t i = 0; i < N_OF(sizes); i++)
		if (run(sizes[i], n_dec, 0) < 0)
			return 1;
	printf("\nthe success-rate path: estimates and breakers of the "
	       "bucket, then pr_route (success_first, 5 %% explored)\n");
	printf("%8s %12s %9s %9s %9s %9s %10s %9s %9s %16s\n", "channels",
	       "decisions/s", "cpu us", "p50 us", "p99 us", "p99.9 us",
	       "considered", "eligible", "routed", "traces digest");
	for (size_t i = 0; i < N_OF(sizes); i++)
		if (run(sizes[i], n_dec, 1) < 0)
			return 1;
	return 0;
}
