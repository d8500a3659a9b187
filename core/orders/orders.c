/*
 * orders.c - the pieces every order path shares: one channel call through
 * a driver, classified and mapped to a unified code; the routing of an
 * order over this instance's view of today's usage; order ids.
 *
 * A channel call is build -> send -> parse -> code map. What can go wrong
 * is sorted by what it means for the money: a request that certainly never
 * left (DNS, connect, TLS refused) is CHANNEL_UNREACHABLE and may go to
 * another channel; one that may have reached the channel and got no
 * complete answer is CHANNEL_TIMEOUT, and an answer that does not verify or
 * parse is BAD_RESPONSE: both leave the outcome unknown, to be chased by
 * query, never guessed. An answer nobody mapped is UNMAPPED_CODE (unknown
 * too), counted in unmapped_codes and logged the first time the store sees
 * it. Every log line about a call that went wrong names the channel and
 * the order ("channel C: withdrawal W...: payout: ..."), so that an
 * operator can follow one order through the log.
 *
 * How an order changes state is ordstore.c; its cascade is flow.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "runtime/crypto.h"
#include "runtime/log.h"
#include "orders/chanhealth.h"
#include "orders/orders.h"

static const char *const op_names[] = {
	"pay",		"query",  "close",	  "refund",
	"refund_query", "payout", "payout_query",
};

const char *pr_op_name(enum pr_op op)
{
	if ((size_t)op >= sizeof(op_names) / sizeof(op_names[0]))
		return "?";
	return op_names[op];
}

const char *pr_notify_url(const struct pr_config *cfg, const char *code,
			  char *buf, size_t len)
{
	snprintf(buf, len, "%s/notify/%s",
		 cfg->public_url ? cfg->public_url : "", code);
	return buf;
}

/* ------------------------------------------------------- channel calls */

struct call {
	struct pr_daemon *d;
	struct pr_generation *gen; /* referenced */
	const struct pr_channel *ch;
	enum pr_op op;
	const struct payroute_order *o;
	payroute_parse_fn parse;
	pr_call_cb cb;
	void *arg;
	struct pr_call c;
	int done_early; /* finished without a request: deliver from the loop */
};

static void call_free(struct call *k)
{
	pr_kv_clear(&k->c.payer);
	pr_gen_unref(k->gen);
	free(k);
}

_Static_assert(PR_CALL_UNSUPPORTED == (int)PR_CS_CALL_UNSUPPORTED &&
		       PR_CALL_TIMEOUT == (int)PR_CS_CALL_TIMEOUT,
	       "enum pr_call_end and enum pr_cs_call_end agree");

static void call_finish(struct call *k)
{
	pr_chanstats_call(k->d->chanstats, k->ch->code, (int)k->op,
			  (enum pr_cs_call_end)k->c.end, k->c.ms, pr_now_ms());
	pr_health_call(k->d->health, k->gen->config, k->ch->code, &k->c);
	k->cb(&k->c, k->arg);
	call_free(k);
}

static void set_core(struct call *k, enum pr_call_end end, const char *code,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_core(struct call *k, enum pr_call_end end, const char *code,
		     const char *fmt, ...)
{
	va_list ap;

	k->c.end = end;
	k->c.code = pr_code_core(code);
	va_start(ap, fmt);
	vsnprintf(k->c.detail, sizeof(k->c.detail), fmt, ap);
	va_end(ap);
}

struct unmapped_rec {
	char channel[65], op[16], code[PAYROUTE_CODE_LEN],
		sub[PAYROUTE_CODE_LEN], order[PAYROUTE_ID_LEN];
};

static void on_unmapped_recorded(PGresult *res, const char *err, void *arg)
{
	struct unmapped_rec *u = arg;

	if (!res)
		pr_warn("unmapped code %s/%s/%s/%s not recorded: %s",
			u->channel, u->op, u->code, u->sub, err);
	else if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't')
		pr_warn("channel %s: %s answered code \"%s\" sub code \"%s\" "
			"(first for order %s), which no code table maps: the "
			"order stays unknown (GET /admin/v1/codes/unmapped; "
			"map it with PUT /admin/v1/codes/overrides)",
			u->channel, u->op, u->code, u->sub, u->order);
	free(u);
}

void pr_unmapped_note(struct pr_daemon *d, const struct pr_channel *ch,
		      const char *op, const char *code, const char *sub_code,
		      const char *order_id, const char *message)
{
	static const char sql[] =
		"SELECT pr_unmapped_record($1, $2, $3, $4, $5, $6, $7)";
	const char *p[7];
	struct unmapped_rec *u = calloc(1, sizeof(*u));

	if (!u)
		return;
	snprintf(u->channel, sizeof(u->channel), "%s", ch->code);
	snprintf(u->op, sizeof(u->op), "%s", op);
	snprintf(u->code, sizeof(u->code), "%s", code);
	snprintf(u->sub, sizeof(u->sub), "%s", sub_code ? sub_code : "");
	snprintf(u->order, sizeof(u->order), "%s", order_id ? order_id : "?");
	p[0] = ch->code;
	p[1] = ch->driver;
	p[2] = op;
	p[3] = code;
	p[4] = sub_code ? sub_code : "";
	p[5] = order_id;
	p[6] = message;
	if (pr_db_query(d->db, sql, 7, p, on_unmapped_recorded, u) < 0) {
		pr_warn("channel %s: unmapped code %s/%s not recorded: store "
			"unavailable",
			u->channel, u->code, u->sub);
		free(u);
	}
}

/* The order a call is about, as its kind and id: the refund for refund
 * calls, the withdrawal for payouts, else the payment. */
static const char *call_kind(enum pr_op op)
{
	return op == PR_OP_REFUND || op == PR_OP_REFUND_QUERY ? "refund" :
	       op == PR_OP_PAYOUT || op == PR_OP_PAYOUT_QUERY ? "withdrawal" :
								"payment";
}

static const char *call_order_id(enum pr_op op, const struct payroute_order *o)
{
	const char *id =
		op == PR_OP_REFUND || op == PR_OP_REFUND_QUERY ? o->refund_id :
		op == PR_OP_PAYOUT || op == PR_OP_PAYOUT_QUERY ? o->payout_id :
								 o->order_id;

	return id ? id : "?";
}

/* Logs what went wrong with a call (its detail), naming channel and
 * order. */
static void warn_call(const struct pr_channel *ch, enum pr_op op,
		      const struct payroute_order *o, const char *detail)
{
	pr_warn("channel %s: %s %s: %s", ch->code, call_kind(op),
		call_order_id(op, o), detail);
}

static void record_unmapped(struct call *k)
{
	pr_unmapped_note(k->d, k->ch, pr_op_name(k->op), k->c.res.code,
			 k->c.res.sub_code, call_order_id(k->op, k->o),
			 k->c.res.message);
}

/* Runs the parser over resp and maps the answer. */
static void call_parse(struct call *k, const struct payroute_http_response *r)
{
	char err[256] = "";
	int rc;

	k->c.res.size = sizeof(k->c.res);
	k->c.res.amount = -1;
	k->c.res.payer = &k->c.payer;
	rc = k->parse(k->ch->state, k->o, r, &k->c.res, err, sizeof(err));
	if (rc < 0) {
		set_core(k, PR_CALL_BAD_ANSWER, "BAD_RESPONSE",
			 "%s answer (HTTP %d) not accepted: %s",
			 pr_op_name(k->op), r->status,
			 err[0] ? err : strerror(-rc));
		warn_call(k->ch, k->op, k->o, k->c.detail);
		return;
	}
	k->c.end = PR_CALL_ANSWER;
	k->c.code = k->gen->codes ?
			    pr_codemap_lookup(k->gen->codes, k->ch->driver,
					      k->ch->code, pr_op_name(k->op),
					      k->c.res.code,
					      k->c.res.sub_code) :
			    NULL;
	if (!k->c.code) {
		k->c.unmapped = 1;
		k->c.code = pr_code_core("UNMAPPED_CODE");
		snprintf(k->c.detail, sizeof(k->c.detail),
			 "unmapped answer: code \"%s\" sub code \"%s\"",
			 k->c.res.code, k->c.res.sub_code);
		record_unmapped(k);
	}
}

static void on_http(const struct pr_httpc_result *hr, void *arg)
{
	struct call *k = arg;
	struct payroute_http_response resp = { 0 };

	k->c.ms = hr->total_ms;
	if (!hr->ok) {
		k->c.http_status = 0;
		if (hr->sent)
			set_core(k, PR_CALL_TIMEOUT, "CHANNEL_TIMEOUT",
				 "%s: no answer: %s", pr_op_name(k->op),
				 hr->error ? hr->error : "unknown error");
		else
			set_core(k, PR_CALL_NOT_SENT, "CHANNEL_UNREACHABLE",
				 "%s: not sent: %s", pr_op_name(k->op),
				 hr->error ? hr->error : "unknown error");
		warn_call(k->ch, k->op, k->o, k->c.detail);
		call_finish(k);
		return;
	}
	k->c.http_status = hr->status;
	resp.size = sizeof(resp);
	resp.status = hr->status;
	resp.headers = hr->headers;
	resp.n_headers = hr->n_headers;
	resp.body = hr->body ? hr->body : "";
	resp.body_len = hr->body_len;
	call_parse(k, &resp);
	call_finish(k);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	call_finish(arg);
}

static int defer(struct call *k)
{
	struct timeval zero = { 0, 0 };

	return event_base_once(k->d->base, -1, EV_TIMEOUT, on_deferred, k,
			       &zero) < 0 ?
		       -ENOMEM :
		       0;
}

int64_t pr_call_wait_us(const struct pr_call *c)
{
	return c->sent && c->ms > 0 ? (int64_t)(c->ms * 1000.0) : 0;
}

int pr_chan_call(struct pr_daemon *d, struct pr_generation *gen,
		 const struct pr_channel *ch, enum pr_op op,
		 const struct payroute_order *o, pr_call_cb cb, void *arg)
{
	const struct payroute_driver *drv = ch->mod ? ch->mod->desc : NULL;
	struct payroute_http_req req;
	payroute_build_fn build = NULL;
	char err[256] = "";
	struct call *k;
	int rc;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->d = d;
	k->gen = pr_gen_ref(gen);
	k->ch = ch;
	k->op = op;
	k->o = o;
	k->cb = cb;
	k->arg = arg;
	pr_kv_init(&k->c.payer);
	if (drv) {
		switch (op) {
		case PR_OP_PAY:
			build = drv->build_pay;
			k->parse = drv->parse_pay;
			break;
		case PR_OP_QUERY:
			build = drv->build_query;
			k->parse = drv->parse_query;
			break;
		case PR_OP_CLOSE:
			build = drv->build_close;
			k->parse = drv->parse_close;
			break;
		case PR_OP_REFUND:
			build = drv->build_refund;
			k->parse = drv->parse_refund;
			break;
		case PR_OP_REFUND_QUERY:
			build = drv->build_refund_query;
			k->parse = drv->parse_refund_query;
			break;
		case PR_OP_PAYOUT:
			build = drv->build_payout;
			k->parse = drv->parse_payout;
			break;
		case PR_OP_PAYOUT_QUERY:
			build = drv->build_payout_query;
			k->parse = drv->parse_payout_query;
			break;
		}
	}
	if (!build || !k->parse || !ch->state) {
		set_core(k, PR_CALL_UNSUPPORTED, "DRIVER_ERROR", "%s: %s",
			 pr_op_name(op),
			 !drv	    ? "the channel's driver is not loaded" :
			 !ch->state ? "the channel's driver is not started "
				      "(its config did not initialise)" :
				      "the driver does not support it");
		goto deferred;
	}
	pr_http_req_init(&req);
	rc = build(ch->state, o, &req, err, sizeof(err));
	if (rc < 0) {
		pr_http_req_clear(&req);
		set_core(k, PR_CALL_BUILD_ERROR, "DRIVER_ERROR",
			 "%s: the driver could not build the request: %s",
			 pr_op_name(op), err[0] ? err : strerror(-rc));
		warn_call(ch, op, o, k->c.detail);
		goto deferred;
	}
	if (!req.url) {
		/* Nothing to send (the payer carries the request). */
		struct payroute_http_response none = { 0 };

		pr_http_req_clear(&req);
		none.size = sizeof(none);
		none.body = "";
		call_parse(k, &none);
		goto deferred;
	}
	k->c.sent = 1;
	rc = pr_httpc_send(d->httpc, &req, on_http, k);
	pr_http_req_clear(&req);
	if (rc < 0) {
		k->c.sent = 0;
		set_core(k, PR_CALL_NOT_SENT, "CHANNEL_UNREACHABLE",
			 "%s: the request could not be sent: %s",
			 pr_op_name(op), strerror(-rc));
		warn_call(ch, op, o, k->c.detail);
		goto deferred;
	}
	return 0;
deferred:
	if (defer(k) < 0) {
		call_free(k);
		return -ENOMEM;
	}
	return 0;
}

/* ---------------------------------------------------------------- ids */

void pr_order_new_id(char prefix, int64_t now_ms, char out[33])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char rnd[8];
	size_t o = 0;

	out[o++] = prefix;
	for (int shift = 44; shift >= 0; shift -= 4)
		out[o++] = hex[(now_ms >> shift) & 0xf];
	if (pr_random_bytes(rnd, sizeof(rnd)) < 0)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[o++] = hex[rnd[i] >> 4];
		out[o++] = hex[rnd[i] & 0xf];
	}
	out[o] = '\0';
}

/* ------------------------------------------------------------ routing */

/* The arrays pr_order_usage fills: one pair per thread, grown to the
 * largest catalogue routed on it and kept (a decision used to calloc two
 * catalogue-sized arrays and free them; contrib/bench/bench_router's
 * "daemon path" figures measure it). */
static __thread struct pr_chan_usage *usage_scratch;
static __thread struct pr_bank_usage *banks_scratch;
static __thread size_t scratch_cap;

int pr_order_usage(struct pr_daemon *d, const struct pr_generation *gen,
		   const struct pr_route_req *rq, struct pr_chan_usage **usage,
		   struct pr_bank_usage **banks)
{
	const struct pr_catalogue *cat = &gen->cat;
	size_t n = cat->n_chans ? cat->n_chans : 1;
	const struct pr_cat_bucket *b;
	int64_t now_ms = pr_now_ms(); /* the breakers' clock, read once */

	*usage = NULL;
	*banks = NULL;
	if (n > scratch_cap) {
		struct pr_chan_usage *u = calloc(n, sizeof(*u));
		struct pr_bank_usage *bk = calloc(n, sizeof(*bk));

		if (!u || !bk) {
			free(u);
			free(bk);
			return -ENOMEM;
		}
		free(usage_scratch);
		free(banks_scratch);
		usage_scratch = u;
		banks_scratch = bk;
		scratch_cap = n;
	}
	*usage = usage_scratch;
	*banks = banks_scratch;
	memset(*usage, 0, n * sizeof(**usage));
	memset(*banks, 0, n * sizeof(**banks));
	for (size_t i = 0; i < cat->n_chans; i++) {
		(*usage)[i].success_rate = -1;
		(*usage)[i].est.rate = -1;
	}
	/* Only the request's bucket can pass the first two filters. */
	b = pr_catalogue_bucket(cat, rq->business, rq->method);
	for (size_t k = 0; b && d->usage && k < b->n; k++) {
		size_t i = b->chans[k];
		const struct pr_chan_spec *c = &cat->chans[i];
		struct pr_chan_usage *u = &(*usage)[i];

		pr_usage_today(d->usage, c->code, c->tz, rq->now_ms, &u->amount,
			       &u->count);
		if (d->gen)
			pr_health_fill(d->health, d->gen->config, gen, i,
				       now_ms, u);
		if (rq->bank_code && rq->bank_code[0]) {
			(*banks)[i].bank_code = rq->bank_code;
			pr_usage_today_scope(d->usage, c->code, rq->bank_code,
					     c->tz, rq->now_ms,
					     &(*banks)[i].amount, NULL);
			u->banks = &(*banks)[i];
			u->n_banks = 1;
		}
	}
	return 0;
}

int pr_order_route(struct pr_daemon *d, const struct pr_generation *gen,
		   const struct pr_route_req *rq, struct pr_order_route *out)
{
	const struct pr_catalogue *cat = &gen->cat;
	struct pr_route_result res = { 0 };
	struct pr_route_req ex;
	struct pr_chan_usage *usage = NULL;
	struct pr_bank_usage *banks = NULL;
	json_t *rj;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	res.cands = calloc(cat->n_chans ? cat->n_chans : 1, sizeof(*res.cands));
	if (!res.cands || pr_order_usage(d, gen, rq, &usage, &banks) < 0)
		goto out;
	res.cap = cat->n_chans;
	/* a fresh seed per decision: the rule's exploration share */
	ex = *rq;
	ex.explore = 1;
	pr_health_req(d->health, gen->config, &ex);
	if (pr_random_bytes((unsigned char *)&ex.seed, sizeof(ex.seed)) < 0)
		ex.seed = (uint64_t)rq->now_ms;
	rc = pr_route(cat, &ex, usage, 0, &res);
	if (rc < 0)
		goto out;
	pr_health_routed(d->health, cat, &res);
	rj = pr_route_trace_json(cat, &res, PR_TRACE_LISTED);
	out->attempts = json_array();
	out->trace = json_pack("{s:o,s:I,s:o}", "route", rj ? rj : json_null(),
			       "generation", (json_int_t)gen->id, "attempts",
			       out->attempts);
	if (!out->trace) {
		out->attempts = NULL;
		rc = -ENOMEM;
		goto out;
	}
	out->cands = res.cands;
	res.cands = NULL;
	out->n_cands = res.n_eligible;
	rc = 0;
out:
	free(res.cands);
	return rc;
}

void pr_chan_limits(const struct pr_chan_spec *c, const char *bank_code,
		    struct pr_usage_limits *lim)
{
	const struct pr_bank_map *bm =
		bank_code && bank_code[0] ? pr_chan_bank(c, bank_code) : NULL;

	memset(lim, 0, sizeof(*lim));
	lim->daily_amount = c->daily_amount;
	lim->daily_count = c->daily_count;
	if (bm && bm->daily_amount > 0) {
		lim->bank = bank_code;
		lim->bank_daily_amount = bm->daily_amount;
	}
}

void pr_usage_release_stored(struct pr_daemon *d, const char *what,
			     const char *id, const char *channel,
			     const char *bank, int64_t day, int64_t amount)
{
	struct pr_usage_token tok;

	if (amount <= 0 || !channel || !channel[0])
		return;
	if (!d->usage) {
		pr_err("%s %s: daily-limit reservation (%s, %lld) not given "
		       "back: shutting down",
		       what, id, channel, (long long)amount);
		return;
	}
	memset(&tok, 0, sizeof(tok));
	snprintf(tok.channel, sizeof(tok.channel), "%s", channel);
	snprintf(tok.bank, sizeof(tok.bank), "%s", bank ? bank : "");
	tok.day = day;
	tok.amount = amount;
	tok.count = 1;
	pr_usage_release(d->usage, &tok);
}
