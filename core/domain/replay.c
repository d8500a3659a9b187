/*
 * replay.c - policy replay, the pure part (replay.h; doc/design.md §4,
 * "Replay").
 *
 * Two sides, 0 the active policy and 1 the draft, each with its
 * catalogue, the router's result room and its own simulated usage. An
 * order is routed by pr_route over the request's business/method bucket
 * (the hot path's view, not explain's full trace), exactly as a payment
 * is, with that side's usage of the order's moment. Then:
 *
 *  - the chosen channel of each side reserves the amount and one count
 *    for its local day (a per-bank amount too where the bank mapping has
 *    a daily limit), as the first attempt's reservation does; a failed
 *    order gives its reservation back in the daemon, here it does not,
 *    so the figures are an upper bound of the usage and limit days are
 *    never missed;
 *  - a candidate dropped by daily_amount_limit or daily_count_limit marks
 *    that (side, channel, day, limit) as hit, with the orders it turned
 *    away;
 *  - the sums of each side per (channel, currency) and per currency;
 *    when the two chosen channels differ, the order moved: out of the
 *    first, into the second, counted as a flow (from, to, currency).
 *
 * Channels are matched across the sides by code, through one sorted
 * union of both catalogues' codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/replay.h"
#include "domain/tz.h"

#define SIDES 2
static const char *const side_names[SIDES] = { "active", "draft" };

struct side_stats {
	int64_t orders, amount, fees;
	double exp_sum; /* sum of the rates of the orders' channels */
	int64_t with_rate;
};

/* One channel's figures in one currency. */
struct cur_row {
	char cur[4];
	struct side_stats s[SIDES];
	int64_t in_orders, in_amount, out_orders, out_amount;
};

/* A channel of either catalogue. */
struct uchan {
	const char *code;
	int64_t succeeded, failed;
	double rate; /* < 0: no final order in the period */
	struct cur_row *rows;
	size_t n_rows, cap_rows;
};

struct total {
	char cur[4];
	int64_t routed[SIDES], unroutable[SIDES], amount[SIDES], fees[SIDES];
	double exp_sum[SIDES];
	int64_t with_rate[SIDES], without_rate[SIDES];
	int64_t ch_orders, ch_amount;
};

struct flow {
	long from, to; /* uchan indexes, -1: unroutable */
	char cur[4];
	int64_t orders, amount;
};

struct limit_day {
	int side;
	long uchan;
	int64_t day;
	enum pr_drop limit;
	int64_t first_ms;
	int64_t n;
};

/* A channel's simulated day on one side. */
struct chan_day {
	int64_t day;	/* channel-local day number; INT64_MIN: none yet */
	int64_t end_ms; /* look at the day again from this moment on */
	struct pr_bank_usage *banks; /* room for the channel's mappings */
	long hit[2];		     /* limit_days index of today's amount and
				      * count hits, -1: none today */
	int64_t hit_day[2];
};

struct side {
	const struct pr_catalogue *cat;
	long *to_u; /* catalogue index -> uchan index */
	struct pr_chan_usage *usage;
	struct chan_day *cd;
	struct pr_route_result res;
};

struct pr_replay {
	struct pr_replay_opts opts;
	struct side s[SIDES];
	struct uchan *u;
	size_t n_u;
	struct total *tot;
	size_t n_tot, cap_tot;
	struct flow *flows;
	size_t n_flows;
	int64_t flows_other;
	struct limit_day *days;
	size_t n_days;
	int64_t days_other;
	json_t *samples;
	size_t orders, skipped, changed, recorded_differs;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static json_t *utc_json(int64_t ms);

static long u_find(const struct pr_replay *rp, const char *code)
{
	size_t lo = 0, hi = rp->n_u, mid;
	int c;

	if (!code)
		return -1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(rp->u[mid].code, code);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The sorted union of both catalogues' codes (each sorted by code). */
static int u_build(struct pr_replay *rp)
{
	const struct pr_catalogue *a = rp->s[0].cat, *b = rp->s[1].cat;
	size_t i = 0, j = 0, n = 0;
	int c;

	rp->u = calloc(a->n_chans + b->n_chans + 1, sizeof(*rp->u));
	if (!rp->u)
		return -ENOMEM;
	while (i < a->n_chans || j < b->n_chans) {
		if (i == a->n_chans)
			c = 1;
		else if (j == b->n_chans)
			c = -1;
		else
			c = strcmp(a->chans[i].code, b->chans[j].code);
		if (c <= 0) {
			rp->u[n].code = a->chans[i++].code;
			if (c == 0)
				j++;
		} else {
			rp->u[n].code = b->chans[j++].code;
		}
		rp->u[n++].rate = -1;
	}
	rp->n_u = n;
	return 0;
}

static int side_init(struct pr_replay *rp, int k)
{
	struct side *s = &rp->s[k];
	size_t n = s->cat->n_chans, i;

	s->to_u = calloc(n + 1, sizeof(*s->to_u));
	s->usage = calloc(n + 1, sizeof(*s->usage));
	s->cd = calloc(n + 1, sizeof(*s->cd));
	s->res.cands = calloc(n + 1, sizeof(*s->res.cands));
	if (!s->to_u || !s->usage || !s->cd || !s->res.cands)
		return -ENOMEM;
	s->res.cap = n;
	for (i = 0; i < n; i++) {
		const struct pr_chan_spec *c = &s->cat->chans[i];
		long ui = u_find(rp, c->code);

		s->to_u[i] = ui;
		s->usage[i].success_rate = ui >= 0 ? rp->u[ui].rate : -1;
		s->cd[i].day = INT64_MIN;
		s->cd[i].end_ms = INT64_MIN;
		s->cd[i].hit[0] = s->cd[i].hit[1] = -1;
		s->cd[i].hit_day[0] = s->cd[i].hit_day[1] = INT64_MIN;
		if (c->n_banks) {
			s->cd[i].banks =
				calloc(c->n_banks, sizeof(*s->cd[i].banks));
			if (!s->cd[i].banks)
				return -ENOMEM;
			s->usage[i].banks = s->cd[i].banks;
		}
	}
	return 0;
}

int pr_replay_new(const struct pr_catalogue *active,
		  const struct pr_catalogue *draft,
		  const struct pr_replay_rate *rates, size_t n_rates,
		  const struct pr_replay_opts *opts, struct pr_replay **out)
{
	static const struct pr_replay_opts defaults = { 20, 5, 256, 1000 };
	struct pr_replay *rp;
	size_t i;
	long ui;
	int rc;

	if (!active || !draft || !out || (n_rates && !rates))
		return -EINVAL;
	*out = NULL;
	rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->opts = opts ? *opts : defaults;
	rp->s[0].cat = active;
	rp->s[1].cat = draft;
	rc = u_build(rp);
	for (i = 0; rc == 0 && i < n_rates; i++) {
		ui = u_find(rp, rates[i].channel);
		if (ui < 0 || rates[i].succeeded < 0 || rates[i].failed < 0)
			continue;
		rp->u[ui].succeeded += rates[i].succeeded;
		rp->u[ui].failed += rates[i].failed;
	}
	for (i = 0; rc == 0 && i < rp->n_u; i++)
		if (rp->u[i].succeeded + rp->u[i].failed > 0)
			rp->u[i].rate =
				(double)rp->u[i].succeeded /
				(double)(rp->u[i].succeeded + rp->u[i].failed);
	if (rc == 0)
		rc = side_init(rp, 0);
	if (rc == 0)
		rc = side_init(rp, 1);
	if (rc == 0) {
		rp->flows = calloc(rp->opts.flows_max + 1, sizeof(*rp->flows));
		rp->days =
			calloc(rp->opts.limit_days_max + 1, sizeof(*rp->days));
		rp->samples = json_array();
		if (!rp->flows || !rp->days || !rp->samples)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		pr_replay_free(rp);
		return rc;
	}
	*out = rp;
	return 0;
}

void pr_replay_free(struct pr_replay *rp)
{
	size_t i;
	int k;

	if (!rp)
		return;
	for (k = 0; k < SIDES; k++) {
		struct side *s = &rp->s[k];

		for (i = 0; s->cd && i < s->cat->n_chans; i++)
			free(s->cd[i].banks);
		free(s->to_u);
		free(s->usage);
		free(s->cd);
		free(s->res.cands);
	}
	for (i = 0; rp->u && i < rp->n_u; i++)
		free(rp->u[i].rows);
	free(rp->u);
	free(rp->tot);
	free(rp->flows);
	free(rp->days);
	json_decref(rp->samples);
	free(rp);
}

size_t pr_replay_count(const struct pr_replay *rp)
{
	return rp ? rp->orders + rp->skipped : 0;
}

/* ------------------------------------------------------------ the day */

/* Starts channel ci's new local day on side s when now_ms is in one. The
 * day is looked at again once local midnight may be near: an hour early
 * (a day of a daylight-saving change), then every minute up to it. */
static void roll(struct side *s, size_t ci, int64_t now_ms)
{
	const struct pr_chan_spec *c = &s->cat->chans[ci];
	struct chan_day *cd = &s->cd[ci];
	struct pr_local_time lt;
	int64_t wait;

	if (now_ms < cd->end_ms)
		return;
	if (c->tz) {
		pr_tz_local(c->tz, floor_div(now_ms, 1000), &lt);
	} else {
		lt.day = floor_div(now_ms, 86400000);
		lt.minute = (int)(floor_div(now_ms, 60000) - lt.day * 1440);
	}
	if (lt.day != cd->day) {
		cd->day = lt.day;
		s->usage[ci].amount = 0;
		s->usage[ci].count = 0;
		s->usage[ci].n_banks = 0;
	}
	wait = (int64_t)(1439 - lt.minute) * 60000 - 3600000;
	cd->end_ms = now_ms + (wait > 60000 ? wait : 60000);
}

/* Reserves o's amount on side s's channel ci, as a first attempt does. */
static void reserve(struct side *s, size_t ci, const struct pr_route_req *q)
{
	struct pr_chan_usage *u = &s->usage[ci];
	const struct pr_bank_map *b;
	size_t i;

	u->amount += q->amount;
	u->count++;
	if (!q->bank_code || !q->bank_code[0])
		return;
	b = pr_chan_bank(&s->cat->chans[ci], q->bank_code);
	if (!b || b->daily_amount <= 0)
		return;
	for (i = 0; i < u->n_banks; i++) {
		if (s->cd[ci].banks[i].bank_code == b->bank_code) {
			s->cd[ci].banks[i].amount += q->amount;
			return;
		}
	}
	if (u->n_banks < s->cat->chans[ci].n_banks) {
		s->cd[ci].banks[u->n_banks].bank_code = b->bank_code;
		s->cd[ci].banks[u->n_banks].amount = q->amount;
		u->n_banks++;
	}
}

/* A candidate of side k dropped by a daily limit: that day is a limit
 * day, and one more order it turned away. */
static void limit_hit(struct pr_replay *rp, int k, size_t ci, enum pr_drop d,
		      int64_t now_ms)
{
	struct chan_day *cd = &rp->s[k].cd[ci];
	int w = d == PR_DROP_DAILY_COUNT_LIMIT;
	struct limit_day *ld;

	if (cd->hit_day[w] == cd->day) {
		if (cd->hit[w] >= 0)
			rp->days[cd->hit[w]].n++;
		return;
	}
	cd->hit_day[w] = cd->day;
	cd->hit[w] = -1;
	if (rp->n_days >= rp->opts.limit_days_max) {
		rp->days_other++;
		return;
	}
	ld = &rp->days[rp->n_days];
	ld->side = k;
	ld->uchan = rp->s[k].to_u[ci];
	ld->day = cd->day;
	ld->limit = d;
	ld->first_ms = now_ms;
	ld->n = 1;
	cd->hit[w] = (long)rp->n_days++;
}

/* ------------------------------------------------------------- the sums */

static struct cur_row *cur_row(struct uchan *u, const char *cur)
{
	struct cur_row *n;
	size_t i;

	for (i = 0; i < u->n_rows; i++)
		if (strcmp(u->rows[i].cur, cur) == 0)
			return &u->rows[i];
	if (u->n_rows == u->cap_rows) {
		size_t cap = u->cap_rows ? u->cap_rows * 2 : 2;

		n = realloc(u->rows, cap * sizeof(*n));
		if (!n)
			return NULL;
		u->rows = n;
		u->cap_rows = cap;
	}
	n = &u->rows[u->n_rows++];
	memset(n, 0, sizeof(*n));
	snprintf(n->cur, sizeof(n->cur), "%s", cur);
	return n;
}

static struct total *total(struct pr_replay *rp, const char *cur)
{
	struct total *n;
	size_t i;

	for (i = 0; i < rp->n_tot; i++)
		if (strcmp(rp->tot[i].cur, cur) == 0)
			return &rp->tot[i];
	if (rp->n_tot == rp->cap_tot) {
		size_t cap = rp->cap_tot ? rp->cap_tot * 2 : 2;

		n = realloc(rp->tot, cap * sizeof(*n));
		if (!n)
			return NULL;
		rp->tot = n;
		rp->cap_tot = cap;
	}
	n = &rp->tot[rp->n_tot++];
	memset(n, 0, sizeof(*n));
	snprintf(n->cur, sizeof(n->cur), "%s", cur);
	return n;
}

static void flow_add(struct pr_replay *rp, long from, long to, const char *cur,
		     int64_t amount)
{
	struct flow *f;
	size_t i;

	for (i = 0; i < rp->n_flows; i++) {
		f = &rp->flows[i];
		if (f->from == from && f->to == to &&
		    strcmp(f->cur, cur) == 0) {
			f->orders++;
			f->amount += amount;
			return;
		}
	}
	if (rp->n_flows >= rp->opts.flows_max) {
		rp->flows_other++;
		return;
	}
	f = &rp->flows[rp->n_flows++];
	f->from = from;
	f->to = to;
	snprintf(f->cur, sizeof(f->cur), "%s", cur);
	f->orders = 1;
	f->amount = amount;
}

static json_t *sample_json(const struct pr_replay *rp,
			   const struct pr_replay_order *o)
{
	json_t *j, *t;
	int k;

	j = json_pack("{s:s,s:o,s:I,s:s,s:s?}", "id", o->id ? o->id : "", "at",
		      utc_json(o->req.now_ms), "amount",
		      (json_int_t)o->req.amount, "currency", o->req.currency,
		      "recorded_channel", o->recorded);
	for (k = 0; j && k < SIDES; k++) {
		t = pr_route_trace_json(
			rp->s[k].cat, &rp->s[k].res,
			rp->opts.trace_listed ? rp->opts.trace_listed : 1);
		if (!t || json_object_set_new(j, side_names[k], t) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

int pr_replay_add(struct pr_replay *rp, const struct pr_replay_order *o)
{
	const struct pr_route_req *q;
	const struct pr_cat_bucket *bk;
	struct cur_row *row[SIDES] = { NULL, NULL };
	struct total *t;
	long chosen[SIDES], ui[SIDES];
	int64_t fee[SIDES];
	size_t i;
	int k, rc;

	if (!rp || !o)
		return -EINVAL;
	q = &o->req;
	rp->orders++;
	for (k = 0; k < SIDES; k++) {
		struct side *s = &rp->s[k];

		bk = q->method ? pr_catalogue_bucket(s->cat, q->business,
						     q->method) :
				 NULL;
		for (i = 0; bk && i < bk->n; i++)
			if (bk->chans[i] < s->cat->n_chans)
				roll(s, bk->chans[i], q->now_ms);
		rc = pr_route(s->cat, q, s->usage, 0, &s->res);
		if (rc < 0) {
			rp->orders--;
			if (rc == -EINVAL)
				rp->skipped++;
			return rc;
		}
	}
	if (!(t = total(rp, q->currency)))
		return -ENOMEM;
	for (k = 0; k < SIDES; k++) {
		struct side *s = &rp->s[k];

		chosen[k] = s->res.chosen;
		ui[k] = chosen[k] >= 0 ? s->to_u[chosen[k]] : -1;
		fee[k] = chosen[k] >= 0 ? s->res.cands[0].fee : 0;
		for (i = s->res.n_eligible; i < s->res.n; i++)
			if (s->res.cands[i].dropped_by ==
				    PR_DROP_DAILY_AMOUNT_LIMIT ||
			    s->res.cands[i].dropped_by ==
				    PR_DROP_DAILY_COUNT_LIMIT)
				limit_hit(rp, k, s->res.cands[i].chan,
					  s->res.cands[i].dropped_by,
					  q->now_ms);
		if (chosen[k] < 0) {
			t->unroutable[k]++;
			continue;
		}
		reserve(s, (size_t)chosen[k], q);
		row[k] = ui[k] >= 0 ? cur_row(&rp->u[ui[k]], q->currency) :
				      NULL;
		if (ui[k] >= 0 && !row[k])
			return -ENOMEM;
		t->routed[k]++;
		t->amount[k] += q->amount;
		t->fees[k] += fee[k];
		if (row[k]) {
			struct side_stats *st = &row[k]->s[k];
			double rate = rp->u[ui[k]].rate;

			st->orders++;
			st->amount += q->amount;
			st->fees += fee[k];
			if (rate >= 0) {
				st->exp_sum += rate;
				st->with_rate++;
				t->exp_sum[k] += rate;
				t->with_rate[k]++;
			} else {
				t->without_rate[k]++;
			}
		}
	}
	if (o->recorded &&
	    (ui[0] < 0 || strcmp(rp->u[ui[0]].code, o->recorded) != 0))
		rp->recorded_differs++;
	if (ui[0] == ui[1])
		return 0;
	rp->changed++;
	t->ch_orders++;
	t->ch_amount += q->amount;
	if (row[0]) {
		row[0]->out_orders++;
		row[0]->out_amount += q->amount;
	}
	if (row[1]) {
		row[1]->in_orders++;
		row[1]->in_amount += q->amount;
	}
	flow_add(rp, ui[0], ui[1], q->currency, q->amount);
	if (json_array_size(rp->samples) < rp->opts.sample_max) {
		json_t *sj = sample_json(rp, o);

		if (!sj || json_array_append_new(rp->samples, sj) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* --------------------------------------------------------------- JSON */

/* json_object_set_new that remembers a failure. */
static void put(json_t *o, const char *k, json_t *v, int *bad)
{
	if (!v || !o || json_object_set_new(o, k, v) < 0)
		*bad = 1;
}

static void append(json_t *a, json_t *v, int *bad)
{
	if (!v || !a || json_array_append_new(a, v) < 0)
		*bad = 1;
}

static json_t *rate_or_null(double sum, int64_t n)
{
	return n > 0 ? json_real(sum / (double)n) : json_null();
}

static int total_cmp(const void *a, const void *b)
{
	return strcmp(((const struct total *)a)->cur,
		      ((const struct total *)b)->cur);
}

static json_t *totals_json(const struct pr_replay *rp, int *bad)
{
	json_t *a = json_array(), *o, *side;
	struct total *v;
	size_t i;
	int k;

	v = malloc((rp->n_tot + 1) * sizeof(*v));
	if (!v) {
		*bad = 1;
		return a;
	}
	if (rp->n_tot) {
		memcpy(v, rp->tot, rp->n_tot * sizeof(*v));
		qsort(v, rp->n_tot, sizeof(*v), total_cmp);
	}
	for (i = 0; i < rp->n_tot; i++) {
		const struct total *t = &v[i];

		o = json_object();
		put(o, "currency", json_string(t->cur), bad);
		for (k = 0; k < SIDES; k++) {
			side = json_object();
			put(side, "routed", json_integer(t->routed[k]), bad);
			put(side, "unroutable", json_integer(t->unroutable[k]),
			    bad);
			put(side, "amount", json_integer(t->amount[k]), bad);
			put(side, "fees", json_integer(t->fees[k]), bad);
			put(side, "expected_success",
			    rate_or_null(t->exp_sum[k], t->with_rate[k]), bad);
			put(side, "orders_without_rate",
			    json_integer(t->without_rate[k]), bad);
			put(o, side_names[k], side, bad);
		}
		put(o, "changed",
		    json_pack("{s:I,s:I}", "orders", (json_int_t)t->ch_orders,
			      "amount", (json_int_t)t->ch_amount),
		    bad);
		append(a, o, bad);
	}
	free(v);
	return a;
}

static json_t *chan_side_json(const struct side_stats *st, double rate)
{
	return json_pack("{s:I,s:I,s:I,s:o}", "orders", (json_int_t)st->orders,
			 "amount", (json_int_t)st->amount, "fees",
			 (json_int_t)st->fees, "expected_succeeded",
			 rate >= 0 ? json_real(rate * (double)st->orders) :
				     json_null());
}

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cur_row *)a)->cur,
		      ((const struct cur_row *)b)->cur);
}

static json_t *channels_json(const struct pr_replay *rp, int *bad)
{
	json_t *a = json_array(), *o;
	size_t i, r;
	int k;

	for (i = 0; i < rp->n_u; i++) {
		struct uchan *u = &rp->u[i];

		if (u->n_rows > 1) /* rows is NULL for a channel without */
			qsort(u->rows, u->n_rows, sizeof(*u->rows), row_cmp);
		for (r = 0; r < u->n_rows; r++) {
			const struct cur_row *row = &u->rows[r];

			o = json_object();
			put(o, "channel", json_string(u->code), bad);
			put(o, "currency", json_string(row->cur), bad);
			put(o, "success_rate",
			    u->rate >= 0 ? json_real(u->rate) : json_null(),
			    bad);
			put(o, "succeeded", json_integer(u->succeeded), bad);
			put(o, "failed", json_integer(u->failed), bad);
			for (k = 0; k < SIDES; k++)
				put(o, side_names[k],
				    chan_side_json(&row->s[k], u->rate), bad);
			put(o, "moved_in",
			    json_pack("{s:I,s:I}", "orders",
				      (json_int_t)row->in_orders, "amount",
				      (json_int_t)row->in_amount),
			    bad);
			put(o, "moved_out",
			    json_pack("{s:I,s:I}", "orders",
				      (json_int_t)row->out_orders, "amount",
				      (json_int_t)row->out_amount),
			    bad);
			append(a, o, bad);
		}
	}
	return a;
}

static int flow_cmp(const void *a, const void *b)
{
	const struct flow *x = a, *y = b;

	if (x->orders != y->orders)
		return x->orders > y->orders ? -1 : 1;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return strcmp(x->cur, y->cur);
}

static json_t *code_or_null(const struct pr_replay *rp, long ui)
{
	return ui >= 0 ? json_string(rp->u[ui].code) : json_null();
}

static json_t *flows_json(const struct pr_replay *rp, int *bad)
{
	json_t *a = json_array(), *o;
	struct flow *v;
	size_t i;

	v = malloc((rp->n_flows + 1) * sizeof(*v));
	if (!v) {
		*bad = 1;
		return a;
	}
	if (rp->n_flows) {
		memcpy(v, rp->flows, rp->n_flows * sizeof(*v));
		qsort(v, rp->n_flows, sizeof(*v), flow_cmp);
	}
	for (i = 0; i < rp->n_flows; i++) {
		o = json_object();
		put(o, "from", code_or_null(rp, v[i].from), bad);
		put(o, "to", code_or_null(rp, v[i].to), bad);
		put(o, "currency", json_string(v[i].cur), bad);
		put(o, "orders", json_integer(v[i].orders), bad);
		put(o, "amount", json_integer(v[i].amount), bad);
		append(a, o, bad);
	}
	free(v);
	return a;
}

/* UTC milliseconds as RFC 3339 ("2026-11-25T04:00:00.250Z"). */
static json_t *utc_json(int64_t ms)
{
	int64_t day = floor_div(ms, 86400000), y;
	int64_t in = ms - day * 86400000;
	char s[40];
	int m, d;

	pr_civil_from_days(day, &y, &m, &d);
	snprintf(s, sizeof(s), "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (long long)y, m, d, (int)(in / 3600000),
		 (int)(in / 60000 % 60), (int)(in / 1000 % 60),
		 (int)(in % 1000));
	return json_string(s);
}

static json_t *day_json(int64_t day)
{
	char s[16];
	int64_t y;
	int m, d;

	pr_civil_from_days(day, &y, &m, &d);
	snprintf(s, sizeof(s), "%04lld-%02d-%02d", (long long)y, m, d);
	return json_string(s);
}

static json_t *days_json(const struct pr_replay *rp, int *bad)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < rp->n_days; i++) {
		const struct limit_day *ld = &rp->days[i];

		o = json_object();
		put(o, "policy", json_string(side_names[ld->side]), bad);
		put(o, "channel", code_or_null(rp, ld->uchan), bad);
		put(o, "day", day_json(ld->day), bad);
		put(o, "limit", json_string(pr_drop_name(ld->limit)), bad);
		put(o, "first_at", utc_json(ld->first_ms), bad);
		put(o, "orders_turned_away", json_integer(ld->n), bad);
		append(a, o, bad);
	}
	return a;
}

json_t *pr_replay_json(const struct pr_replay *rp)
{
	json_t *o;
	int bad = 0;

	if (!rp)
		return NULL;
	o = json_object();
	put(o, "orders", json_integer((json_int_t)rp->orders), &bad);
	put(o, "skipped", json_integer((json_int_t)rp->skipped), &bad);
	put(o, "changed", json_integer((json_int_t)rp->changed), &bad);
	put(o, "recorded_differs",
	    json_integer((json_int_t)rp->recorded_differs), &bad);
	put(o, "totals", totals_json(rp, &bad), &bad);
	put(o, "channels", channels_json(rp, &bad), &bad);
	put(o, "flows", flows_json(rp, &bad), &bad);
	put(o, "flows_other", json_integer(rp->flows_other), &bad);
	put(o, "limit_days", days_json(rp, &bad), &bad);
	put(o, "limit_days_other", json_integer(rp->days_other), &bad);
	put(o, "samples", json_copy(rp->samples), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
