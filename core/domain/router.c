/*
 * router.c - the routing decision (doc/design.md §4, steps 1 to 3).
 *
 * pr_route is a pure function over a catalogue snapshot, a request and the
 * caller's view of today's usage: it reads nothing else, writes only the
 * caller's result, and allocates nothing, so the hot path of every payment
 * costs a few comparisons per channel of the request's business/method
 * bucket. In order:
 *
 * 1. The rule: the first enabled rule whose conditions all match applies.
 * 2. The hard filters, per channel; the first failing condition (in the
 *    order of enum pr_drop) is the one recorded.
 * 3. The whitelist: matching, unexpired entries are tried card first, then
 *    buyer, then seller (by entry id within a kind: the whitelist's sort
 *    order), found by binary search; the first whose channel survived the
 *    filters wins outright and is ranked first. A named channel that failed
 *    a filter keeps its reason in the trace and the others are scored.
 * 4. The score of the survivors, then a deterministic sort.
 *
 * Scoring. Each survivor gets three parts, each in [0, 1]:
 *  - weight: the channel's weight divided by the highest weight among the
 *    survivors (0 for all when every weight is 0);
 *  - fee: cheapness, the lowest fee among the survivors divided by this
 *    channel's fee for the amount (1 when the fee is 0; so the cheapest is
 *    always 1, a channel twice as expensive 0.5, and a paying channel next
 *    to a free one 0);
 *  - success_rate: the recent success rate from the usage, clamped to
 *    [0, 1]; 0.5 when unknown (no usage, or a negative rate), neither
 *    favouring nor punishing a channel without history.
 * The success rate is the caller's estimate (srate.h: time-decayed, per
 * segment with fallback), given as data so that a replay can pass the
 * estimates of a past period.
 * A rule's scoring.mode says how the parts rank (catalogue.h):
 *  - weighted (the default): score = w_weight * weight + w_fee * fee +
 *    w_success * rate;
 *  - fee_first: the lower fee, then the higher weight, then the code
 *    (also the order without a rule, as doc/design.md §4 says);
 *  - weight: the higher weight, then the lower fee, then the code;
 *  - success_first: the channels whose rate is within within_points
 *    points of the best rate, cheapest first; then the others by rate.
 * The parts are always filled (for the trace). For every order but
 * weighted the score recorded is derived from the final rank (whitelist
 * precedence and a probe included), (n - rank) / n, so that it also
 * reads "highest first" (1 for the winner) and agrees with the order.
 *
 * Circuit breaking and exploration (doc/design.md §4): a channel whose
 * breaker is open is dropped (circuit_open, the last filter); a half-open
 * one due for a probe is ranked first unless the whitelist decided. When
 * neither did, a rule with scoring.explore > 0 sends that share of
 * decisions to another eligible channel (epsilon-greedy, the draws from
 * req->seed).
 * Ties always break on: score (desc), fee (asc), weight (desc), code (asc).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "domain/router.h"

static const char *const drop_names[] = {
	[PR_DROP_NONE] = "none",
	[PR_DROP_BUSINESS_TYPE] = "business_type",
	[PR_DROP_METHOD] = "method",
	[PR_DROP_ENVIRONMENT] = "environment",
	[PR_DROP_PRODUCT_CODE] = "product_code",
	[PR_DROP_CURRENCY] = "currency",
	[PR_DROP_BANK] = "bank",
	[PR_DROP_STATUS] = "status",
	[PR_DROP_MAINTENANCE_WINDOW] = "maintenance_window",
	[PR_DROP_TXN_LIMIT] = "txn_limit",
	[PR_DROP_DAILY_AMOUNT_LIMIT] = "daily_amount_limit",
	[PR_DROP_DAILY_COUNT_LIMIT] = "daily_count_limit",
	[PR_DROP_WHITELIST_ONLY] = "whitelist_only",
	[PR_DROP_RULE] = "rule",
	[PR_DROP_CIRCUIT_OPEN] = "circuit_open",
};

const char *pr_drop_name(enum pr_drop d)
{
	if ((unsigned)d >= sizeof(drop_names) / sizeof(drop_names[0]))
		return "unknown";
	return drop_names[d];
}

static int str_set(const char *s)
{
	return s && *s;
}

static int list_has(const struct pr_strlist *l, const char *s)
{
	size_t i;

	if (!s)
		return 0;
	/* The first byte settles most mismatches without a call. */
	for (i = 0; i < l->n; i++)
		if (l->v[i][0] == s[0] && strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

/* A request's values as the catalogue's name ids (pr_catalogue_name_id),
 * looked up once per decision so that the filters compare numbers where
 * they called strcmp for each channel, and the card type its method needs
 * at a bank. The four lookups cost more than they save for a handful of
 * channels: below INTERN_MIN_CANDS considered channels the ids are not
 * looked up (known 0) and the lists are compared as strings
 * (bench_router: 10 channels, 2.3 considered, 0.23 us a decision with
 * strings, 0.30 with ids; 100 channels, 37 considered, 2.06 with strings,
 * 1.98 with ids). */
#define INTERN_MIN_CANDS 16

struct req_ids {
	int known;
	uint32_t method, environment, product_code, currency;
	unsigned card_need; /* PR_CARD_*, 0: any */
};

static void req_ids_get(const struct pr_catalogue *cat,
			const struct pr_route_req *q, size_t n_cons,
			struct req_ids *qi)
{
	qi->known = n_cons >= INTERN_MIN_CANDS && cat->n_names;
	qi->method = qi->environment = PR_NAME_NONE;
	qi->product_code = qi->currency = PR_NAME_NONE;
	if (qi->known) {
		qi->method = pr_catalogue_name_id(cat, q->method);
		qi->environment = pr_catalogue_name_id(cat, q->environment);
		qi->product_code = pr_catalogue_name_id(cat, q->product_code);
		qi->currency = pr_catalogue_name_id(cat, q->currency);
	}
	qi->card_need = 0;
	if (!str_set(q->bank_code))
		return; /* only a bank's card types read it */
	if (strcmp(q->method, "debit_card") == 0)
		qi->card_need = PR_CARD_DEBIT;
	else if (strcmp(q->method, "credit_card") == 0)
		qi->card_need = PR_CARD_CREDIT;
}

/* list_has by the list's ids (id: s's, PR_NAME_NONE when the catalogue
 * has no such name), or by string for a list without ids or a request
 * whose ids were not looked up (known 0). */
static int list_has_id(const struct pr_strlist *l, const char *s, int known,
		       uint32_t id)
{
	size_t i;

	if (!known || !l->ids)
		return list_has(l, s);
	if (id == PR_NAME_NONE)
		return 0;
	for (i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return 1;
	return 0;
}

/* A rule condition: an empty list matches anything. */
static int cond_ok(const struct pr_strlist *l, const char *s)
{
	return l->n == 0 || list_has(l, s);
}

static int rule_matches(const struct pr_rule *r, const struct pr_route_req *q)
{
	if (!r->enabled)
		return 0;
	if (!cond_ok(&r->product_codes, q->product_code) ||
	    !cond_ok(&r->methods, q->method) ||
	    !cond_ok(&r->environments, q->environment) ||
	    !cond_ok(&r->currencies, q->currency) ||
	    !cond_ok(&r->banks, q->bank_code) ||
	    !cond_ok(&r->merchants, q->merchant))
		return 0;
	if (r->amount_min > 0 && q->amount < r->amount_min)
		return 0;
	if (r->amount_max > 0 && q->amount > r->amount_max)
		return 0;
	return 1;
}

/* ------------------------------------------------------------ whitelist */

/* The entries of one kind matching one value: cat->wl[lo, hi). */
struct wl_range {
	size_t lo, hi;
};

static int wl_cmp(const struct pr_wl_entry *e, enum pr_wl_kind kind,
		  const char *value)
{
	if (e->kind != kind)
		return e->kind < kind ? -1 : 1;
	return strcmp(e->value, value);
}

/* Binary search of the whitelist (sorted by kind, value). */
static struct wl_range wl_find(const struct pr_catalogue *cat,
			       enum pr_wl_kind kind, const char *value)
{
	struct wl_range r = { 0, 0 };
	size_t lo = 0, hi = cat->n_wl, mid;

	if (!str_set(value))
		return r;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (wl_cmp(&cat->wl[mid], kind, value) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	r.lo = r.hi = lo;
	while (r.hi < cat->n_wl && wl_cmp(&cat->wl[r.hi], kind, value) == 0)
		r.hi++;
	return r;
}

static int wl_live(const struct pr_wl_entry *e, int64_t now_ms)
{
	return e->expires_ms == 0 || e->expires_ms > now_ms;
}

/* 1 when a matching, unexpired entry names the channel code. */
static int wl_names(const struct pr_catalogue *cat, const struct wl_range *m,
		    const char *code, int64_t now_ms)
{
	size_t k, i;

	for (k = 0; k < 3; k++)
		for (i = m[k].lo; i < m[k].hi; i++)
			if (wl_live(&cat->wl[i], now_ms) &&
			    strcmp(cat->wl[i].channel, code) == 0)
				return 1;
	return 0;
}

/* -------------------------------------------------------------- filters */

static int64_t bank_used(const struct pr_chan_usage *u, const char *bank)
{
	size_t i;

	if (!u)
		return 0;
	for (i = 0; i < u->n_banks; i++)
		if (u->banks[i].bank_code &&
		    strcmp(u->banks[i].bank_code, bank) == 0)
			return u->banks[i].amount;
	return 0;
}

/* used + amount > limit, without overflow (limit > 0, amount > 0). */
static int over(int64_t used, int64_t amount, int64_t limit)
{
	return used > limit - amount;
}

static enum pr_drop check_bank(const struct pr_chan_spec *c,
			       const struct pr_route_req *q,
			       const struct req_ids *qi,
			       const struct pr_chan_usage *u)
{
	const struct pr_bank_map *b;
	unsigned need = qi->card_need;

	if (!str_set(q->bank_code))
		return PR_DROP_NONE;
	b = pr_chan_bank(c, q->bank_code);
	if (!b)
		return PR_DROP_BANK;
	if (need && b->card_types && !(b->card_types & need))
		return PR_DROP_BANK;
	if (b->txn_max > 0 && q->amount > b->txn_max)
		return PR_DROP_BANK;
	if (b->daily_amount > 0 &&
	    over(bank_used(u, q->bank_code), q->amount, b->daily_amount))
		return PR_DROP_BANK;
	return PR_DROP_NONE;
}

/* The first hard condition channel c fails, or PR_DROP_NONE. in_bucket:
 * c comes from the request's business/method bucket, which has only
 * channels with that method (the business bit is checked anyway: it is one
 * AND). */
static enum pr_drop
check(const struct pr_catalogue *cat, const struct pr_chan_spec *c,
      const struct pr_route_req *q, const struct req_ids *qi,
      const struct pr_chan_usage *u, const struct pr_rule *rule,
      const struct wl_range *m, int in_bucket)
{
	enum pr_drop d;

	if (!(c->business & q->business))
		return PR_DROP_BUSINESS_TYPE;
	if (!in_bucket &&
	    !list_has_id(&c->methods, q->method, qi->known, qi->method))
		return PR_DROP_METHOD;
	if (q->environment && !list_has_id(&c->environments, q->environment,
					   qi->known, qi->environment))
		return PR_DROP_ENVIRONMENT;
	if (c->product_codes.n &&
	    !list_has_id(&c->product_codes, q->product_code, qi->known,
			 qi->product_code))
		return PR_DROP_PRODUCT_CODE;
	if (!list_has_id(&c->currencies, q->currency, qi->known, qi->currency))
		return PR_DROP_CURRENCY;
	d = check_bank(c, q, qi, u);
	if (d != PR_DROP_NONE)
		return d;
	if (!c->online)
		return PR_DROP_STATUS;
	if (c->n_windows && pr_chan_in_maintenance(c, q->now_ms))
		return PR_DROP_MAINTENANCE_WINDOW;
	if ((c->txn_min > 0 && q->amount < c->txn_min) ||
	    (c->txn_max > 0 && q->amount > c->txn_max))
		return PR_DROP_TXN_LIMIT;
	if (c->daily_amount > 0 &&
	    over(u ? u->amount : 0, q->amount, c->daily_amount))
		return PR_DROP_DAILY_AMOUNT_LIMIT;
	if (c->daily_count > 0 && (u ? u->count : 0) >= c->daily_count)
		return PR_DROP_DAILY_COUNT_LIMIT;
	if (c->whitelist_only && !wl_names(cat, m, c->code, q->now_ms))
		return PR_DROP_WHITELIST_ONLY;
	if (rule && ((rule->allow.n && !list_has(&rule->allow, c->code)) ||
		     list_has(&rule->deny, c->code)))
		return PR_DROP_RULE;
	if (u && u->breaker == PR_BRK_ROUTE_NONE)
		return PR_DROP_CIRCUIT_OPEN;
	return PR_DROP_NONE;
}

/* -------------------------------------------------------------- ranking */

/* < 0 when a ranks before b: score desc, fee asc, weight desc, code asc. */
static int rank_cmp(const struct pr_catalogue *cat,
		    const struct pr_route_cand *a,
		    const struct pr_route_cand *b)
{
	const struct pr_chan_spec *ca = &cat->chans[a->chan];
	const struct pr_chan_spec *cb = &cat->chans[b->chan];

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->fee != b->fee)
		return a->fee < b->fee ? -1 : 1;
	if (ca->weight != cb->weight)
		return ca->weight > cb->weight ? -1 : 1;
	return strcmp(ca->code, cb->code);
}

/* Shell sort (Ciura's gaps): in place, no allocation, fine for the few
 * hundred survivors a large catalogue can have; insertion sort for the
 * usual handful (the last gap). The order is total (codes are unique), so
 * stability does not matter. */
static void rank_sort(const struct pr_catalogue *cat, struct pr_route_cand *v,
		      size_t n)
{
	static const size_t gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };
	size_t g, gap, i, j;
	struct pr_route_cand t;

	for (g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		gap = gaps[g];
		if (gap >= n)
			continue;
		for (i = gap; i < n; i++) {
			t = v[i];
			for (j = i;
			     j >= gap && rank_cmp(cat, &v[j - gap], &t) > 0;
			     j -= gap)
				v[j] = v[j - gap];
			v[j] = t;
		}
	}
}

/* Dropped candidates by channel index (= code order). */
static void index_sort(struct pr_route_cand *v, size_t n)
{
	static const size_t gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };
	size_t g, gap, i, j;
	struct pr_route_cand t;

	for (g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		gap = gaps[g];
		if (gap >= n)
			continue;
		for (i = gap; i < n; i++) {
			t = v[i];
			for (j = i; j >= gap && v[j - gap].chan > t.chan;
			     j -= gap)
				v[j] = v[j - gap];
			v[j] = t;
		}
	}
}

static double clamp01(double x)
{
	if (!(x >= 0)) /* also NaN */
		return 0;
	return x > 1 ? 1 : x;
}

/* Each survivor's estimate into v[i].est, from the request's srate: the
 * request's ids once, each channel by the handle the caller keeps
 * (usage[i].sr; else by its code), the survivors' walks interleaved
 * (srate.h: no string hashed per channel, the loads overlapping). */
static void estimate(const struct pr_catalogue *cat,
		     const struct pr_route_req *q,
		     const struct pr_chan_usage *usage, struct pr_route_cand *v,
		     size_t n)
{
	const struct pr_sr_chan *h[16];
	const struct pr_chan_usage *u;
	struct pr_sr_key key;
	size_t m;

	pr_srate_key(q->srate, q->method, q->environment, q->bank_code, &key);
	for (size_t at = 0; at < n; at += m) {
		m = n - at < 16 ? n - at : 16;
		for (size_t i = 0; i < m; i++) {
			u = usage ? &usage[v[at + i].chan] : NULL;
			h[i] = u && u->sr_known ?
				       u->sr :
				       pr_srate_chan(
					       q->srate,
					       cat->chans[v[at + i].chan].code);
		}
		pr_srate_estimate_many(q->srate, &q->srate_cfg, h, m, &key,
				       q->now_ms, &v[at].est, sizeof(*v));
	}
}

static void score(const struct pr_catalogue *cat, const struct pr_rule *rule,
		  const struct pr_route_req *q,
		  const struct pr_chan_usage *usage, int full_trace,
		  struct pr_route_cand *v, size_t n)
{
	int32_t max_w = 0;
	int64_t min_fee = INT64_MAX;
	const struct pr_chan_spec *c;
	double rate, best = 0, floor;
	size_t i;
	/* estimates cost a lookup per survivor: made when the ranking uses
	 * them, and for explain (an order's trace otherwise says "none") */
	int need_rates = full_trace ||
			 (rule && rule->mode == PR_SCORE_SUCCESS_FIRST) ||
			 (rule && rule->mode == PR_SCORE_WEIGHTED &&
			  rule->w_success > 0);

	for (i = 0; i < n; i++) {
		c = &cat->chans[v[i].chan];
		if (c->weight > max_w)
			max_w = c->weight;
		if (v[i].fee < min_fee)
			min_fee = v[i].fee;
	}
	if (q->srate && need_rates)
		estimate(cat, q, usage, v, n);
	for (i = 0; i < n; i++) {
		c = &cat->chans[v[i].chan];
		v[i].part_weight = max_w > 0 ? (double)c->weight / max_w : 0;
		if (v[i].fee <= 0)
			v[i].part_fee = 1;
		else
			v[i].part_fee = min_fee <= 0 ? 0 :
						       (double)min_fee /
							       (double)v[i].fee;
		if (q->srate && need_rates) {
			rate = v[i].est.rate;
		} else {
			rate = usage ? usage[v[i].chan].success_rate : -1;
		}
		v[i].part_success = rate < 0 ? 0.5 : clamp01(rate);
		if (v[i].part_success > best)
			best = v[i].part_success;
	}
	/* The sort key of the mode (rank_cmp then breaks ties on fee,
	 * weight, code); all but "weighted" record a rank-derived score
	 * afterwards. */
	floor = best - (rule ? rule->within_points : 0) / 100.0 - 1e-9;
	for (i = 0; i < n; i++) {
		switch (rule ? rule->mode : PR_SCORE_FEE_FIRST) {
		case PR_SCORE_WEIGHTED:
			v[i].score = rule->w_weight * v[i].part_weight +
				     rule->w_fee * v[i].part_fee +
				     rule->w_success * v[i].part_success;
			break;
		case PR_SCORE_FEE_FIRST:
			v[i].score = 0;
			break;
		case PR_SCORE_WEIGHT:
			v[i].score = v[i].part_weight;
			break;
		case PR_SCORE_SUCCESS_FIRST:
			/* within the budget: 1 + cheapness, above any
			 * channel outside it, which ranks by its rate */
			v[i].score = v[i].part_success >= floor ?
					     1 + v[i].part_fee :
					     v[i].part_success;
			break;
		}
	}
}

/* splitmix64 (Steele, Lea, Flood 2014): a well-mixed 64-bit stream from a
 * seed, so that one seed gives one decision. */
static uint64_t mix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Moves v[j] to the front, the others keeping their order. */
static void to_front(struct pr_route_cand *v, size_t j)
{
	struct pr_route_cand t;

	if (!j)
		return;
	t = v[j];
	memmove(&v[1], &v[0], j * sizeof(*v));
	v[0] = t;
}

/*
 * Epsilon-greedy exploration (doc/design.md §4): with probability share
 * the decision goes to one of the other eligible channels, uniformly;
 * the rest of the ranking stays, so a retryable failure cascades to the
 * channel the scores preferred. Two draws from the seed: whether, and
 * which.
 */
static void explore(const struct pr_route_req *req, double share,
		    struct pr_route_cand *v, size_t ne,
		    struct pr_route_result *out)
{
	uint64_t x = req->seed;
	double u;
	size_t j;

	out->explore_share = share;
	if (!req->explore || share <= 0 || ne < 2)
		return;
	u = (double)(mix64(&x) >> 11) * 0x1.0p-53;
	out->explore_draw = u;
	if (u >= share)
		return;
	j = 1 + (size_t)(mix64(&x) % (uint64_t)(ne - 1));
	out->exploit = (long)v[0].chan;
	out->explored = 1;
	to_front(v, j);
}

/* --------------------------------------------------------------- route */

static int req_ok(const struct pr_route_req *q)
{
	const unsigned known = PR_BIZ_PAY | PR_BIZ_REFUND | PR_BIZ_WITHDRAW;

	return q && str_set(q->method) && str_set(q->currency) &&
	       q->amount > 0 && q->business && !(q->business & ~known) &&
	       !(q->business & (q->business - 1));
}

/*
 * Returns 0; -EINVAL for a bad request (no method or currency, amount not
 * positive, business not exactly one known bit) or missing arguments;
 * -ENOSPC when out->cap is smaller than the channels to consider.
 */
int pr_route(const struct pr_catalogue *cat, const struct pr_route_req *req,
	     const struct pr_chan_usage *usage, int full_trace,
	     struct pr_route_result *out)
{
	const struct pr_cat_bucket *bk = NULL;
	const struct pr_rule *rule = NULL;
	const struct pr_chan_usage *u;
	struct pr_route_cand *v, t;
	struct wl_range m[3];
	struct req_ids qi;
	size_t n_cons, i, k, e, ne = 0, nd = 0, ci;
	int sorted = 1;
	long wl_cand = -1, wl_chan;
	enum pr_drop d;

	if (!cat || !out || !req_ok(req))
		return -EINVAL;
	out->n = out->n_eligible = 0;
	out->chosen = out->whitelist = out->rule = -1;
	out->n_wl_unused = 0;
	out->mode = PR_SCORE_FEE_FIRST;
	out->probe = out->explored = 0;
	out->explore_share = 0;
	out->explore_draw = -1;
	out->exploit = -1;

	if (full_trace) {
		n_cons = cat->n_chans;
	} else {
		bk = pr_catalogue_bucket(cat, req->business, req->method);
		n_cons = bk ? bk->n : 0;
	}
	if (n_cons > out->cap || (n_cons && !out->cands))
		return -ENOSPC;
	v = out->cands;

	for (i = 0; i < cat->n_rules; i++) {
		if (rule_matches(&cat->rules[i], req)) {
			rule = &cat->rules[i];
			out->rule = (long)i;
			out->mode = rule->mode;
			break;
		}
	}
	m[0] = wl_find(cat, PR_WL_CARD, req->card_hmac);
	m[1] = wl_find(cat, PR_WL_BUYER, req->buyer_id);
	m[2] = wl_find(cat, PR_WL_SELLER, req->seller_id);
	req_ids_get(cat, req, n_cons, &qi);

	/* Eligible ones fill v from the front; dropped ones from the back
	 * (out->cap - 1 downwards), to be moved behind them at the end. */
	for (i = 0; i < n_cons; i++) {
		ci = bk ? bk->chans[i] : i;
		if (ci >= cat->n_chans)
			continue; /* a broken bucket: never read past */
		u = usage ? &usage[ci] : NULL;
		d = check(cat, &cat->chans[ci], req, &qi, u, rule, m,
			  bk != NULL);
		t.chan = ci;
		t.dropped_by = d;
		t.fee = pr_chan_fee(&cat->chans[ci], req->amount);
		t.score = t.part_weight = t.part_fee = t.part_success = 0;
		if (u) {
			t.est = u->est;
			t.breaker = u->breaker;
		} else {
			memset(&t.est, 0, sizeof(t.est));
			t.est.rate = -1;
			t.breaker = PR_BRK_ROUTE_ANY;
		}
		if (d == PR_DROP_NONE) {
			v[ne++] = t;
		} else {
			v[out->cap - 1 - nd] = t;
			if (nd && v[out->cap - nd].chan > ci)
				sorted = 0;
			nd++;
		}
	}
	/* Move the dropped ones behind the eligible ones and put them back
	 * in catalogue order. */
	if (nd) {
		memmove(&v[ne], &v[out->cap - nd], nd * sizeof(*v));
		for (i = 0; i < nd / 2; i++) {
			t = v[ne + i];
			v[ne + i] = v[ne + nd - 1 - i];
			v[ne + nd - 1 - i] = t;
		}
		if (!sorted)
			index_sort(&v[ne], nd);
	}

	score(cat, rule, req, usage, full_trace, v, ne);
	rank_sort(cat, v, ne);

	/* The whitelist: the first matching entry whose channel survived;
	 * the ones tried before it are kept, to say why they did not. */
	for (k = 0; k < 3 && wl_cand < 0; k++) {
		for (e = m[k].lo; e < m[k].hi && wl_cand < 0; e++) {
			if (!wl_live(&cat->wl[e], req->now_ms))
				continue;
			wl_chan = pr_catalogue_find(cat, cat->wl[e].channel);
			for (i = 0; i < ne && wl_chan >= 0; i++) {
				if (v[i].chan == (size_t)wl_chan) {
					out->whitelist = (long)e;
					wl_cand = (long)i;
					break;
				}
			}
			if (wl_cand < 0 &&
			    out->n_wl_unused < PR_ROUTE_MAX_WL_UNUSED)
				out->wl_unused[out->n_wl_unused++] = (long)e;
		}
	}
	if (wl_cand > 0) /* rank it first, the others keep their order */
		to_front(v, (size_t)wl_cand);
	/* A half-open channel's probe goes first, unless the whitelist
	 * decided: the best-ranked one when several are due. */
	for (i = 0; i < ne && wl_cand < 0; i++) {
		if (v[i].breaker == PR_BRK_ROUTE_PROBE) {
			to_front(v, i);
			out->probe = 1;
			break;
		}
	}
	/* the rank-derived score (see the top of this file) */
	if (!rule || rule->mode != PR_SCORE_WEIGHTED)
		for (i = 0; i < ne; i++)
			v[i].score = (double)(ne - i) / (double)ne;
	if (rule && wl_cand < 0 && !out->probe)
		explore(req, rule->explore, v, ne, out);

	out->n = ne + nd;
	out->n_eligible = ne;
	out->chosen = ne ? (long)v[0].chan : -1;
	return 0;
}

/* ------------------------------------------------------------------ JSON */

static const char *wl_kind_name(enum pr_wl_kind k)
{
	switch (k) {
	case PR_WL_CARD:
		return "card_no";
	case PR_WL_BUYER:
		return "buyer_id";
	case PR_WL_SELLER:
		return "seller_id";
	}
	return "unknown";
}

/* What dropped the channel of a whitelist entry that matched but did not
 * decide: a filter's name, "not_in_catalogue" or "not_considered". */
static const char *wl_unused_why(const struct pr_catalogue *cat,
				 const struct pr_route_result *res,
				 const struct pr_wl_entry *w)
{
	const char *why = "not_in_catalogue";
	long ch = pr_catalogue_find(cat, w->channel);

	if (ch >= 0) {
		why = "not_considered";
		for (size_t c = 0; c < res->n; c++)
			if (res->cands[c].chan == (size_t)ch &&
			    res->cands[c].dropped_by != PR_DROP_NONE)
				why = pr_drop_name(res->cands[c].dropped_by);
	}
	return why;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* json_object_set_new that remembers a failure. */
static void put(json_t *o, const char *k, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, k, v) < 0)
		*bad = 1;
}

static json_t *cand_json(const struct pr_catalogue *cat,
			 const struct pr_route_cand *c, int *bad)
{
	json_t *o = json_object(), *parts;
	int ok = c->dropped_by == PR_DROP_NONE;

	if (!o) {
		*bad = 1;
		return NULL;
	}
	put(o, "channel", json_string(cat->chans[c->chan].code), bad);
	put(o, "eligible", json_boolean(ok), bad);
	put(o, "dropped_by",
	    ok ? json_null() : json_string(pr_drop_name(c->dropped_by)), bad);
	put(o, "fee", json_integer(c->fee), bad);
	if (ok) {
		put(o, "score", json_real(c->score), bad);
		parts = json_object();
		if (parts) {
			put(parts, "weight", json_real(c->part_weight), bad);
			put(parts, "fee", json_real(c->part_fee), bad);
			put(parts, "success_rate", json_real(c->part_success),
			    bad);
		}
		put(o, "score_parts", parts, bad);
		put(o, "breaker",
		    json_string(c->breaker == PR_BRK_ROUTE_PROBE ? "probe" :
								   "closed"),
		    bad);
	} else {
		put(o, "score", json_null(), bad);
		put(o, "score_parts", json_null(), bad);
		put(o, "breaker",
		    json_string(c->breaker == PR_BRK_ROUTE_NONE	 ? "open" :
				c->breaker == PR_BRK_ROUTE_PROBE ? "probe" :
								   "closed"),
		    bad);
	}
	put(o, "success", pr_sr_est_json(&c->est), bad);
	return o;
}

/*
 * Dropped candidates carry "score": null and "score_parts": null (they were
 * not scored). The whitelist entry is shown without its value: a card's
 * HMAC is never echoed.
 */
json_t *pr_route_to_json(const struct pr_catalogue *cat,
			 const struct pr_route_result *res)
{
	return pr_route_trace_json(cat, res, 0);
}

json_t *pr_route_trace_json(const struct pr_catalogue *cat,
			    const struct pr_route_result *res,
			    size_t max_listed)
{
	json_t *o = json_object(), *a = json_array(), *x;
	size_t dropped[PR_DROP_CIRCUIT_OPEN + 1] = { 0 }, listed = 0, more = 0;
	const struct pr_wl_entry *w;
	const struct pr_rule *r;
	int bad = 0;
	size_t i;

	if (!o || !a)
		goto fail;
	put(o, "chosen",
	    res->chosen >= 0 && (size_t)res->chosen < cat->n_chans ?
		    json_string(cat->chans[res->chosen].code) :
		    json_null(),
	    &bad);
	if (res->whitelist >= 0 && (size_t)res->whitelist < cat->n_wl) {
		w = &cat->wl[res->whitelist];
		x = json_object();
		if (x) {
			put(x, "id", json_integer(w->id), &bad);
			put(x, "kind", json_string(wl_kind_name(w->kind)),
			    &bad);
			put(x, "channel", str_or_null(w->channel), &bad);
			put(x, "note", str_or_null(w->note), &bad);
		}
		put(o, "whitelist", x, &bad);
	} else {
		put(o, "whitelist", json_null(), &bad);
	}
	x = json_array();
	for (i = 0; x && i < res->n_wl_unused; i++) {
		json_t *u;
		const char *why;

		if (res->wl_unused[i] < 0 ||
		    (size_t)res->wl_unused[i] >= cat->n_wl)
			continue;
		w = &cat->wl[res->wl_unused[i]];
		why = wl_unused_why(cat, res, w);
		u = json_object();
		if (u) {
			put(u, "id", json_integer(w->id), &bad);
			put(u, "kind", json_string(wl_kind_name(w->kind)),
			    &bad);
			put(u, "channel", str_or_null(w->channel), &bad);
			put(u, "note", str_or_null(w->note), &bad);
			put(u, "dropped_by", json_string(why), &bad);
		}
		if (!u || json_array_append_new(x, u) < 0)
			bad = 1;
	}
	/* on an order's trace only when there is something to say */
	if (!max_listed || json_array_size(x))
		put(o, "whitelist_unused", x, &bad);
	else
		json_decref(x);
	if (res->rule >= 0 && (size_t)res->rule < cat->n_rules) {
		r = &cat->rules[res->rule];
		x = json_object();
		if (x) {
			put(x, "id", json_integer(r->id), &bad);
			put(x, "name", str_or_null(r->name), &bad);
		}
		put(o, "rule", x, &bad);
	} else {
		put(o, "rule", json_null(), &bad);
	}
	put(o, "scoring", json_string(pr_score_mode_name(res->mode)), &bad);
	put(o, "probe", json_boolean(res->probe), &bad);
	if (res->explore_share > 0) {
		put(o, "exploration",
		    json_pack(
			    "{s:f,s:o,s:b,s:o}", "share", res->explore_share,
			    "draw",
			    res->explore_draw >= 0 ?
				    json_real(res->explore_draw) :
				    json_null(),
			    "explored", res->explored, "instead_of",
			    res->explored && res->exploit >= 0 &&
					    (size_t)res->exploit <
						    cat->n_chans ?
				    json_string(cat->chans[res->exploit].code) :
				    json_null()),
		    &bad);
	} else {
		put(o, "exploration", json_null(), &bad);
	}
	for (i = 0; i < res->n && !bad; i++) {
		const struct pr_route_cand *c = &res->cands[i];

		if (c->chan >= cat->n_chans)
			continue;
		if (max_listed && c->dropped_by != PR_DROP_NONE) {
			if ((size_t)c->dropped_by <
			    sizeof(dropped) / sizeof(dropped[0]))
				dropped[c->dropped_by]++;
			continue;
		}
		if (max_listed && listed == max_listed) {
			more++;
			continue;
		}
		listed++;
		x = cand_json(cat, c, &bad);
		if (!x || json_array_append_new(a, x) < 0)
			bad = 1;
	}
	if (json_object_set_new(o, "candidates", a) < 0) {
		a = NULL;
		goto fail;
	}
	a = NULL;
	if (max_listed) {
		x = json_object();
		for (i = 1; x && i < sizeof(dropped) / sizeof(dropped[0]); i++)
			if (dropped[i])
				put(x, pr_drop_name((enum pr_drop)i),
				    json_integer((json_int_t)dropped[i]), &bad);
		put(o, "dropped", x, &bad);
		put(o, "eligible_not_listed", json_integer((json_int_t)more),
		    &bad);
	}
	if (bad)
		goto fail;
	return o;
fail:
	json_decref(a);
	json_decref(o);
	return NULL;
}

/* ---------------------------------------------- JSON, written (jsonw) */

static void w_wl(struct pr_jw *w, const struct pr_wl_entry *e, const char *why)
{
	pr_jw_obj_open(w);
	pr_jw_key(w, "id");
	pr_jw_int(w, e->id);
	pr_jw_key(w, "kind");
	pr_jw_str(w, wl_kind_name(e->kind));
	pr_jw_key(w, "channel");
	pr_jw_str(w, e->channel);
	pr_jw_key(w, "note");
	pr_jw_str(w, e->note);
	if (why) {
		pr_jw_key(w, "dropped_by");
		pr_jw_str(w, why);
	}
	pr_jw_obj_close(w);
}

static void w_cand(struct pr_jw *w, const struct pr_catalogue *cat,
		   const struct pr_route_cand *c)
{
	int ok = c->dropped_by == PR_DROP_NONE;

	pr_jw_obj_open(w);
	pr_jw_key(w, "channel");
	pr_jw_str(w, cat->chans[c->chan].code);
	pr_jw_key(w, "eligible");
	pr_jw_bool(w, ok);
	pr_jw_key(w, "dropped_by");
	pr_jw_str(w, ok ? NULL : pr_drop_name(c->dropped_by));
	pr_jw_key(w, "fee");
	pr_jw_int(w, c->fee);
	pr_jw_key(w, "score");
	if (ok) {
		pr_jw_real(w, c->score);
		pr_jw_key(w, "score_parts");
		pr_jw_obj_open(w);
		pr_jw_key(w, "weight");
		pr_jw_real(w, c->part_weight);
		pr_jw_key(w, "fee");
		pr_jw_real(w, c->part_fee);
		pr_jw_key(w, "success_rate");
		pr_jw_real(w, c->part_success);
		pr_jw_obj_close(w);
	} else {
		pr_jw_null(w);
		pr_jw_key(w, "score_parts");
		pr_jw_null(w);
	}
	pr_jw_key(w, "breaker");
	pr_jw_str(w, ok ? (c->breaker == PR_BRK_ROUTE_PROBE ? "probe" :
							      "closed") :
			  c->breaker == PR_BRK_ROUTE_NONE  ? "open" :
			  c->breaker == PR_BRK_ROUTE_PROBE ? "probe" :
							     "closed");
	pr_jw_key(w, "success");
	pr_sr_est_write(w, &c->est);
	pr_jw_obj_close(w);
}

int pr_route_trace_write(struct pr_jw *w, const struct pr_catalogue *cat,
			 const struct pr_route_result *res, size_t max_listed)
{
	size_t dropped[PR_DROP_CIRCUIT_OPEN + 1] = { 0 }, listed = 0, more = 0, i;
	size_t unused = 0;

	pr_jw_key(w, "chosen");
	pr_jw_str(w, res->chosen >= 0 && (size_t)res->chosen < cat->n_chans ?
			     cat->chans[res->chosen].code :
			     NULL);
	pr_jw_key(w, "whitelist");
	if (res->whitelist >= 0 && (size_t)res->whitelist < cat->n_wl)
		w_wl(w, &cat->wl[res->whitelist], NULL);
	else
		pr_jw_null(w);
	for (i = 0; i < res->n_wl_unused; i++) {
		const struct pr_wl_entry *e;

		if (res->wl_unused[i] < 0 ||
		    (size_t)res->wl_unused[i] >= cat->n_wl)
			continue;
		if (!unused++) { /* on an order's trace only when not empty */
			pr_jw_key(w, "whitelist_unused");
			pr_jw_arr_open(w);
		}
		e = &cat->wl[res->wl_unused[i]];
		w_wl(w, e, wl_unused_why(cat, res, e));
	}
	if (unused) {
		pr_jw_arr_close(w);
	} else if (!max_listed) {
		pr_jw_key(w, "whitelist_unused");
		pr_jw_arr_open(w);
		pr_jw_arr_close(w);
	}
	pr_jw_key(w, "rule");
	if (res->rule >= 0 && (size_t)res->rule < cat->n_rules) {
		const struct pr_rule *r = &cat->rules[res->rule];

		pr_jw_obj_open(w);
		pr_jw_key(w, "id");
		pr_jw_int(w, r->id);
		pr_jw_key(w, "name");
		pr_jw_str(w, r->name);
		pr_jw_obj_close(w);
	} else {
		pr_jw_null(w);
	}
	pr_jw_key(w, "scoring");
	pr_jw_str(w, pr_score_mode_name(res->mode));
	pr_jw_key(w, "probe");
	pr_jw_bool(w, res->probe);
	pr_jw_key(w, "exploration");
	if (res->explore_share > 0) {
		pr_jw_obj_open(w);
		pr_jw_key(w, "share");
		pr_jw_real(w, res->explore_share);
		pr_jw_key(w, "draw");
		if (res->explore_draw >= 0)
			pr_jw_real(w, res->explore_draw);
		else
			pr_jw_null(w);
		pr_jw_key(w, "explored");
		pr_jw_bool(w, res->explored);
		pr_jw_key(w, "instead_of");
		pr_jw_str(w, res->explored && res->exploit >= 0 &&
					     (size_t)res->exploit < cat->n_chans ?
				     cat->chans[res->exploit].code :
				     NULL);
		pr_jw_obj_close(w);
	} else {
		pr_jw_null(w);
	}
	pr_jw_key(w, "candidates");
	pr_jw_arr_open(w);
	for (i = 0; i < res->n; i++) {
		const struct pr_route_cand *c = &res->cands[i];

		if (c->chan >= cat->n_chans)
			continue;
		if (max_listed && c->dropped_by != PR_DROP_NONE) {
			if ((size_t)c->dropped_by <
			    sizeof(dropped) / sizeof(dropped[0]))
				dropped[c->dropped_by]++;
			continue;
		}
		if (max_listed && listed == max_listed) {
			more++;
			continue;
		}
		listed++;
		w_cand(w, cat, c);
	}
	pr_jw_arr_close(w);
	if (max_listed) {
		pr_jw_key(w, "dropped");
		pr_jw_obj_open(w);
		for (i = 1; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
			if (!dropped[i])
				continue;
			pr_jw_key(w, pr_drop_name((enum pr_drop)i));
			pr_jw_int(w, (int64_t)dropped[i]);
		}
		pr_jw_obj_close(w);
		pr_jw_key(w, "eligible_not_listed");
		pr_jw_int(w, (int64_t)more);
	}
	return w->failed ? -EINVAL : 0;
}
