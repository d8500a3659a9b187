/*
 * explain.c - POST /admin/v1/route/explain: the routing decision for a
 * payment request, with the whole trace, and nothing created or reserved.
 *
 * The request is the merchant contract's payment body (payreq.c) plus three
 * explain-only fields: "business_type" (pay or withdraw), "merchant" (for
 * rule conditions) and "at" (evaluate maintenance windows and the daily
 * limits of another moment). The daily limit filters use what payments
 * themselves are routed with: this instance's view of today's usage
 * (usage.c), which includes every instance's, refreshed from the store
 * about every second; the answer's "usage" says so and how old the
 * figures are ("source": "memory", "as_of", "age_ms"). Only a moment
 * more than twelve hours away from now, whose channel-local days the
 * view may not hold, reads channel_daily_usage ("source": "store").
 * Success rates are this instance's recent window (usage.c).
 * A card number is turned into its HMAC for whitelist matching and never
 * leaves this function otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/apiutil.h"
#include "base/clock.h"
#include "base/jsonw.h"
#include "runtime/crypto.h"
#include "admin/explain.h"
#include "runtime/log.h"
#include "orders/chanhealth.h"
#include "orders/orders.h"
#include "orders/ordstore.h"
#include "domain/payreq.h"
#include "domain/router.h"

/* How far from now a moment may be for this instance's view of usage,
 * which holds the UTC days around now, to cover its channel-local days. */
#define MEMORY_SPAN_MS (12 * 3600 * 1000LL)

/* Catalogues up to this many channels route into a stack array, and an
 * answer up to this many bytes is written on the stack (the sample
 * catalogue's, 8 channels, is about 1.1 KiB). */
#define CANDS_ON_STACK 32
#define ANSWER_ON_STACK 8192

struct explain {
	struct pr_request *r;
	struct pr_payreq req;
	struct pr_payreq_extra extra;
	char card_hmac[65];
	const char *warnings[1]; /* static strings */
	size_t n_warnings;
};

static const char usage_sql[] =
	"SELECT channel, (day - DATE '1970-01-01')::int, scope, amount, count "
	"FROM channel_daily_usage "
	"WHERE day BETWEEN DATE '1970-01-01' + ($1::int - 1) "
	"AND DATE '1970-01-01' + ($1::int + 1)";

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static void explain_wipe(struct explain *e)
{
	/* the card number; explicit_bzero, which the compiler keeps for a
	 * struct about to go out of scope */
	explicit_bzero(&e->req, sizeof(e->req));
}

/* The copy made for a read of the store (pr_explain_handle). */
static void explain_free(struct explain *e)
{
	explain_wipe(e);
	free(e);
}

/* Fills usage[] (one per channel) from the rows of usage_sql. The bank
 * entries point into banks[] and into res, both alive until routing ends. */
static int fill_usage(const struct pr_catalogue *cat,
		      const struct pr_usage *usage_rt, PGresult *res,
		      int64_t at_s, struct pr_chan_usage *usage,
		      struct pr_bank_usage *banks, size_t n_banks_max)
{
	size_t nb = 0;

	for (size_t i = 0; i < cat->n_chans; i++) {
		const struct pr_chan_spec *c = &cat->chans[i];
		struct pr_local_time lt;

		usage[i].success_rate =
			usage_rt ? pr_usage_success_rate(usage_rt, c->code,
							 at_s * 1000) :
				   -1;
		pr_tz_local(c->tz, at_s, &lt);
		for (int row = 0; row < PQntuples(res); row++) {
			const char *scope = PQgetvalue(res, row, 2);

			if (strcmp(PQgetvalue(res, row, 0), c->code) != 0 ||
			    strtoll(PQgetvalue(res, row, 1), NULL, 10) !=
				    lt.day)
				continue;
			if (scope[0] == '\0') {
				usage[i].amount = strtoll(
					PQgetvalue(res, row, 3), NULL, 10);
				usage[i].count = strtoll(
					PQgetvalue(res, row, 4), NULL, 10);
				continue;
			}
			if (nb == n_banks_max)
				return -ENOSPC;
			if (!usage[i].banks)
				usage[i].banks = &banks[nb];
			banks[nb].bank_code = scope;
			banks[nb].amount =
				strtoll(PQgetvalue(res, row, 3), NULL, 10);
			nb++;
			usage[i].n_banks++;
		}
	}
	return 0;
}

/* The route request of e (strings point into e). */
static void route_req(const struct explain *e, struct pr_route_req *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->business = e->extra.business;
	rq->method = e->req.method;
	rq->environment = e->req.environment[0] ? e->req.environment : NULL;
	rq->product_code = e->req.product_code[0] ? e->req.product_code : NULL;
	rq->currency = e->req.currency;
	rq->bank_code = e->req.bank_code[0] ? e->req.bank_code : NULL;
	rq->merchant = e->extra.merchant[0] ? e->extra.merchant : NULL;
	rq->buyer_id = e->req.buyer_id[0] ? e->req.buyer_id : NULL;
	rq->seller_id = e->req.seller_id[0] ? e->req.seller_id : NULL;
	rq->card_hmac = e->card_hmac[0] ? e->card_hmac : NULL;
	rq->amount = e->req.amount;
	rq->now_ms = e->extra.at_ms;
}

/* Where the usage figures came from, for the answer's "usage": the
 * store, or this instance's view as of as_of (ms) at now. */
struct usage_info {
	const char *source; /* "store" or "memory" */
	int64_t as_of, now;
};

/* The members explain adds after the trace's: "generation", "at",
 * "usage" and "warnings". */
static void write_extra(struct pr_jw *w, const struct explain *e,
			const struct usage_info *ui)
{
	size_t i;

	pr_jw_key(w, "generation");
	pr_jw_int(w, (int64_t)e->r->gen->id);
	pr_jw_key(w, "at");
	pr_jw_int(w, e->extra.at_ms);
	pr_jw_key(w, "usage");
	pr_jw_obj_open(w);
	pr_jw_key(w, "source");
	pr_jw_str(w, ui->source);
	if (ui->as_of) {
		char t[32];

		pr_jw_key(w, "as_of");
		pr_jw_str(w,
			  pr_time_text(ui->as_of, t, sizeof(t)) < 0 ? NULL : t);
		pr_jw_key(w, "age_ms");
		pr_jw_int(w, ui->now - ui->as_of);
	}
	pr_jw_obj_close(w);
	pr_jw_key(w, "warnings");
	pr_jw_arr_open(w);
	for (i = 0; i < e->n_warnings; i++)
		pr_jw_str(w, e->warnings[i]);
	pr_jw_arr_close(w);
}

/* Routes e over usage and answers. The answer is written as the route
 * result is walked (base/jsonw.c): the same text as json_dumps of the
 * tree pr_route_to_json builds plus these members, without the tree
 * (doc/design.md §10 has the figures). */
static void answer(struct explain *e, const struct pr_chan_usage *usage,
		   const struct usage_info *ui)
{
	struct pr_request *r = e->r;
	const struct pr_catalogue *cat = &r->gen->cat;
	struct pr_route_result out = { 0 };
	struct pr_route_cand cands_stack[CANDS_ON_STACK];
	char room[ANSWER_ON_STACK];
	struct pr_route_req rq;
	struct pr_jw w;
	int rc;

	pr_jw_init(&w, room, sizeof(room));
	route_req(e, &rq);
	out.cands = cat->n_chans <= CANDS_ON_STACK ?
			    cands_stack :
			    calloc(cat->n_chans, sizeof(*out.cands));
	if (!out.cands) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	out.cap = cat->n_chans;
	pr_health_req(r->d->health, r->gen->config, &rq);
	rc = pr_route(cat, &rq, usage, 1, &out);
	if (rc < 0) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "cannot route: %s", strerror(-rc));
		goto out;
	}
	pr_jw_obj_open(&w);
	pr_route_trace_write(&w, cat, &out, 0);
	write_extra(&w, e, ui);
	pr_jw_obj_close(&w);
	if (w.failed) {
		pr_warn("explain: the answer cannot be written (out of "
			"memory, or a catalogue string that is not UTF-8)");
		pr_api_reply_err(r, 500, "internal", NULL,
				 "the answer cannot be written");
		goto out;
	}
	pr_request_raw(r, 200, "application/json", w.p, w.len);
out:
	pr_jw_free(&w);
	if (out.cands != cands_stack)
		free(out.cands);
}

static void on_usage(PGresult *res, const char *dberr, void *arg)
{
	struct explain *e = arg;
	struct pr_request *r = e->r;
	const struct pr_catalogue *cat = &r->gen->cat;
	struct pr_chan_usage *usage = NULL;
	struct pr_bank_usage *banks = NULL;
	size_t n_rows = res ? (size_t)PQntuples(res) : 0;

	if (!res) {
		pr_warn("explain: reading today's usage failed: %s", dberr);
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "today's usage cannot be read: %s", dberr);
		goto out;
	}
	usage = calloc(cat->n_chans ? cat->n_chans : 1, sizeof(*usage));
	banks = calloc(n_rows ? n_rows : 1, sizeof(*banks));
	if (!usage || !banks) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if (fill_usage(cat, r->d->usage, res, floor_div(e->extra.at_ms, 1000),
		       usage, banks, n_rows) < 0) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "usage rows overflow");
		goto out;
	}
	answer(e, usage, &(struct usage_info){ "store", 0, 0 });
out:
	free(usage);
	free(banks);
	explain_free(e);
}

/* Routes with this instance's view of today's usage (orders.c, the same
 * figures payments are routed with). */
static void explain_memory(struct explain *e, int64_t now, int64_t as_of)
{
	struct pr_chan_usage *usage = NULL;
	struct pr_bank_usage *banks = NULL;
	struct pr_route_req rq;

	route_req(e, &rq);
	if (pr_order_usage(e->r->d, e->r->gen, &rq, &usage, &banks) < 0) {
		pr_api_reply_err(e->r, 500, "internal", NULL, "out of memory");
	} else {
		answer(e, usage, &(struct usage_info){ "memory", as_of, now });
	}
}

void pr_explain_handle(struct pr_request *r, const struct pr_route_match *m)
{
	const struct pr_config *cfg = r->gen->config;
	/* On the stack (it holds a whole payment request, 2.5 KiB: one
	 * allocation that size per request made malloc consolidate); copied
	 * to the heap only to wait for the store. */
	struct explain ex, *e = &ex, *copy;
	char field[64], err[512], day[32];
	const char *params[1];
	unsigned char mac[32];
	int64_t now, as_of;
	json_t *body;
	char *hex;

	body = pr_api_read_body(r);
	if (!body)
		return;
	memset(e, 0, sizeof(*e));
	e->r = r;
	if (pr_payreq_parse(body, &e->req, &e->extra, field, sizeof(field), err,
			    sizeof(err)) < 0) {
		json_decref(body);
		pr_request_reply(r, 400,
				 json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
					   "invalid_field", "message", err,
					   "field", field));
		explain_wipe(e);
		return;
	}
	json_decref(body);
	if (!e->extra.at_ms)
		e->extra.at_ms = pr_now_ms();
	if (e->req.card_no[0]) {
		if (cfg->has_secret_key &&
		    pr_hmac_sha256(cfg->secret_key, sizeof(cfg->secret_key),
				   e->req.card_no, strlen(e->req.card_no),
				   mac) == 0 &&
		    (hex = pr_hex_encode(mac, sizeof(mac)))) {
			snprintf(e->card_hmac, sizeof(e->card_hmac), "%s", hex);
			free(hex);
		} else {
			e->warnings[e->n_warnings++] =
				"card_no ignored for the whitelist: "
				"secrets.key_file is not configured";
		}
		memset(e->req.card_no, 0, sizeof(e->req.card_no));
	}
	if (!pr_db_ready(r->d->db)) {
		/* No payment can be routed now, and the figures stopped
		 * being refreshed. */
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store (PostgreSQL) is unavailable; "
				 "today's usage cannot be read");
		explain_wipe(e);
		return;
	}
	now = pr_now_ms();
	as_of = pr_usage_as_of(r->d->usage);
	if (as_of > 0 && llabs(e->extra.at_ms - now) <= MEMORY_SPAN_MS) {
		explain_memory(e, now, as_of);
		explain_wipe(e);
		return;
	}
	snprintf(day, sizeof(day), "%lld",
		 (long long)floor_div(e->extra.at_ms, 86400000));
	params[0] = day;
	copy = malloc(sizeof(*copy));
	if (!copy) {
		explain_wipe(e);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	memcpy(copy, e, sizeof(*copy));
	explain_wipe(e);
	if (pr_db_query(r->d->db, usage_sql, 1, params, on_usage, copy) < 0) {
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store (PostgreSQL) is unavailable; "
				 "today's usage cannot be read");
		explain_free(copy);
	}
}
