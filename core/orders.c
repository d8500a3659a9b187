/*
 * orders.c - the pieces every order path shares: one channel call through
 * a driver, classified and mapped to a unified code; payments as the store
 * has them; and pr_pay_update, the only way a payment changes state.
 *
 * A channel call is build -> send -> parse -> code map. What can go wrong
 * is sorted by what it means for the money: a request that certainly never
 * left (DNS, connect, TLS refused) is CHANNEL_UNREACHABLE and may go to
 * another channel; one that may have reached the channel and got no
 * complete answer is CHANNEL_TIMEOUT, and an answer that does not verify or
 * parse is BAD_RESPONSE: both leave the outcome unknown, to be chased by
 * query, never guessed. An answer nobody mapped is UNMAPPED_CODE (unknown
 * too), counted in unmapped_codes and logged the first time the store sees
 * it.
 *
 * pr_pay_update runs pr_payment_transition (migration 004): one statement
 * that moves the payment from an expected state and, in the same
 * transaction, records the event and queues the completion check or the
 * merchant notification. Only the call that moved the payment to failed or
 * closed gives its daily-limit reservation back, so a reservation is
 * released once however many callbacks, checks and answers race.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "crypto.h"
#include "log.h"
#include "orders.h"
#include "outbox.h"

int64_t pr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

static void call_finish(struct call *k)
{
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
		sub[PAYROUTE_CODE_LEN];
};

static void on_unmapped_recorded(PGresult *res, const char *err, void *arg)
{
	struct unmapped_rec *u = arg;

	if (!res)
		pr_warn("unmapped code %s/%s/%s/%s not recorded: %s",
			u->channel, u->op, u->code, u->sub, err);
	else if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't')
		pr_warn("channel %s: %s answered code \"%s\" sub code \"%s\", "
			"which no code table maps: the order stays unknown "
			"(GET /admin/v1/codes/unmapped; map it with PUT "
			"/admin/v1/codes/overrides)",
			u->channel, u->op, u->code, u->sub);
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

static void record_unmapped(struct call *k)
{
	pr_unmapped_note(k->d, k->ch, pr_op_name(k->op), k->c.res.code,
			 k->c.res.sub_code,
			 k->op == PR_OP_REFUND || k->op == PR_OP_REFUND_QUERY ?
				 k->o->refund_id :
			 k->op == PR_OP_PAYOUT || k->op == PR_OP_PAYOUT_QUERY ?
				 k->o->payout_id :
				 k->o->order_id,
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
		pr_warn("channel %s: %s", k->ch->code, k->c.detail);
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
		pr_warn("channel %s: %s", k->ch->code, k->c.detail);
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
		pr_warn("channel %s: %s", ch->code, k->c.detail);
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

/* --------------------------------------------------------- payment rows */

/* The columns of a payment row, over alias p joined with merchants m; the
 * merchant JSON comes last (its expression differs per query). */
#define PAY_COLS                                                               \
	"p.id, p.merchant_id, p.merchant_order_no, p.status, "                 \
	"coalesce(p.channel, ''), p.amount, p.currency, p.method, "            \
	"coalesce(p.environment, ''), coalesce(p.product_code, ''), "          \
	"coalesce(p.subject, ''), coalesce(p.buyer_id, ''), "                  \
	"coalesce(p.bank_code, ''), coalesce(p.client_ip, ''), "               \
	"coalesce(p.channel_trade_no, ''), coalesce(p.code, ''), "             \
	"(extract(epoch FROM p.expire_at) * 1000)::bigint, "                   \
	"(extract(epoch FROM p.created_at) * 1000)::bigint, p.attempts, "      \
	"coalesce(p.usage_day - DATE '1970-01-01', 0), "                       \
	"coalesce(p.usage_bank, ''), coalesce(p.usage_amount, 0), "            \
	"p.usage_released, m.locale, "
#define PAY_NCOLS 25

void pr_pay_row_clear(struct pr_pay_row *p)
{
	json_decref(p->json);
	p->json = NULL;
}

static void copy_col(char *dst, size_t len, PGresult *res, int row, int col)
{
	snprintf(dst, len, "%s", PQgetvalue(res, row, col));
}

/* Fills p from the PAY_COLS columns starting at col. */
static int pay_row_read(PGresult *res, int row, int col, struct pr_pay_row *p)
{
	json_error_t jerr;

	memset(p, 0, sizeof(*p));
	if (PQnfields(res) < col + PAY_NCOLS)
		return -EPROTO;
	copy_col(p->id, sizeof(p->id), res, row, col + 0);
	copy_col(p->merchant_id, sizeof(p->merchant_id), res, row, col + 1);
	copy_col(p->merchant_order_no, sizeof(p->merchant_order_no), res, row,
		 col + 2);
	if (pr_pay_status_parse(PQgetvalue(res, row, col + 3), &p->status) < 0)
		return -EPROTO;
	copy_col(p->channel, sizeof(p->channel), res, row, col + 4);
	p->amount = strtoll(PQgetvalue(res, row, col + 5), NULL, 10);
	copy_col(p->currency, sizeof(p->currency), res, row, col + 6);
	copy_col(p->method, sizeof(p->method), res, row, col + 7);
	copy_col(p->environment, sizeof(p->environment), res, row, col + 8);
	copy_col(p->product_code, sizeof(p->product_code), res, row, col + 9);
	copy_col(p->subject, sizeof(p->subject), res, row, col + 10);
	copy_col(p->buyer_id, sizeof(p->buyer_id), res, row, col + 11);
	copy_col(p->bank_code, sizeof(p->bank_code), res, row, col + 12);
	copy_col(p->client_ip, sizeof(p->client_ip), res, row, col + 13);
	copy_col(p->channel_trade_no, sizeof(p->channel_trade_no), res, row,
		 col + 14);
	copy_col(p->code, sizeof(p->code), res, row, col + 15);
	p->expire_at_ms = strtoll(PQgetvalue(res, row, col + 16), NULL, 10);
	p->created_at_ms = strtoll(PQgetvalue(res, row, col + 17), NULL, 10);
	p->attempts = atoi(PQgetvalue(res, row, col + 18));
	p->usage_day = strtoll(PQgetvalue(res, row, col + 19), NULL, 10);
	copy_col(p->usage_bank, sizeof(p->usage_bank), res, row, col + 20);
	p->usage_amount = strtoll(PQgetvalue(res, row, col + 21), NULL, 10);
	p->usage_released = PQgetvalue(res, row, col + 22)[0] == 't';
	copy_col(p->locale, sizeof(p->locale), res, row, col + 23);
	p->json = json_loads(PQgetvalue(res, row, col + 24), 0, &jerr);
	return p->json ? 0 : -EPROTO;
}

struct load {
	pr_pay_load_cb cb;
	void *arg;
};

static void on_load(PGresult *res, const char *err, void *arg)
{
	struct load *l = arg;
	struct pr_pay_row p;

	if (!res) {
		l->cb(NULL, err ? err : "store error", l->arg);
	} else if (PQntuples(res) == 0) {
		l->cb(NULL, NULL, l->arg);
	} else if (pay_row_read(res, 0, 0, &p) < 0) {
		pr_pay_row_clear(&p);
		l->cb(NULL, "the store gave a malformed payment row", l->arg);
	} else {
		l->cb(&p, NULL, l->arg);
		pr_pay_row_clear(&p);
	}
	free(l);
}

static int load_query(struct pr_daemon *d, const char *sql, int n,
		      const char *const *params, pr_pay_load_cb cb, void *arg)
{
	struct load *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	if (pr_db_query(d->db, sql, n, params, on_load, l) < 0) {
		free(l);
		return -EAGAIN;
	}
	return 0;
}

int pr_pay_load(struct pr_daemon *d, const char *id, const char *merchant_id,
		pr_pay_load_cb cb, void *arg)
{
	static const char sql[] =
		"SELECT " PAY_COLS "pr_payment_json(p, m.locale)::text "
		"FROM payments p JOIN merchants m ON m.id = p.merchant_id "
		"WHERE p.id = $1 AND ($2::text IS NULL OR p.merchant_id = $2)";
	const char *p[2] = { id, merchant_id };

	return load_query(d, sql, 2, p, cb, arg);
}

int pr_pay_load_by_order_no(struct pr_daemon *d, const char *merchant_id,
			    const char *merchant_order_no, pr_pay_load_cb cb,
			    void *arg)
{
	static const char sql[] =
		"SELECT " PAY_COLS "pr_payment_json(p, m.locale)::text "
		"FROM payments p JOIN merchants m ON m.id = p.merchant_id "
		"WHERE p.merchant_id = $1 AND p.merchant_order_no = $2";
	const char *p[2] = { merchant_id, merchant_order_no };

	return load_query(d, sql, 2, p, cb, arg);
}

/* ---------------------------------------------------------- transitions */

struct upd {
	struct pr_daemon *d;
	enum pr_pay_status to;
	pr_pay_update_cb cb;
	void *arg;
};

static const char transition_sql[] =
	"SELECT t.r_changed, t.r_from, t.r_released_before, " PAY_COLS
	"pr_payment_json(t.r_payment, m.locale)::text "
	"FROM pr_payment_transition($1, $2::text[], $3, $4, $5, $6::jsonb, "
	"$7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16::bigint, "
	"$17::boolean, DATE '1970-01-01' + $18::int, $19, $20::bigint, "
	"$21::boolean, $22::jsonb, $23::int, $24::boolean) t "
	"CROSS JOIN LATERAL (SELECT (t.r_payment).*) p "
	"JOIN merchants m ON m.id = p.merchant_id";

static void release_reservation(struct pr_daemon *d, const struct pr_pay_row *p)
{
	pr_usage_release_stored(d, "payment", p->id, p->channel, p->usage_bank,
				p->usage_day, p->usage_amount);
}

static void on_transition(PGresult *res, const char *err, void *arg)
{
	struct upd *u = arg;
	struct pr_pay_row p;
	enum pr_pay_status from = PR_PAY_CREATED;
	int changed, released_before;

	memset(&p, 0, sizeof(p));
	if (!res || PQntuples(res) != 1) {
		if (u->cb)
			u->cb(-EIO, 0, from, NULL,
			      res ? "no such payment" :
			      err ? err :
				    "store error",
			      u->arg);
		free(u);
		return;
	}
	changed = PQgetvalue(res, 0, 0)[0] == 't';
	released_before = PQgetvalue(res, 0, 2)[0] == 't';
	if (pr_pay_status_parse(PQgetvalue(res, 0, 1), &from) < 0 ||
	    pay_row_read(res, 0, 3, &p) < 0) {
		pr_pay_row_clear(&p);
		if (u->cb)
			u->cb(-EPROTO, 0, from, NULL,
			      "the store gave a malformed payment row", u->arg);
		free(u);
		return;
	}
	/* The call that marked the reservation given back gives it back. */
	if (changed && !released_before && p.usage_released)
		release_reservation(u->d, &p);
	if (changed && pr_pay_status_final(p.status)) {
		if (p.channel[0] && p.status != PR_PAY_CLOSED && u->d->usage)
			pr_usage_outcome(u->d->usage, p.channel,
					 p.status == PR_PAY_SUCCEEDED,
					 pr_now_ms());
		if (u->d->outbox)
			pr_outbox_kick(u->d->outbox);
	}
	if (u->cb)
		u->cb(0, changed, from, &p, NULL, u->arg);
	pr_pay_row_clear(&p);
	free(u);
}

static const char *from_literal(unsigned from, char *buf, size_t len)
{
	size_t o = 0;

	buf[o++] = '{';
	for (int s = 0; s < PR_PAY_N_STATUS; s++) {
		if (!(from & PR_FROM(s)))
			continue;
		o += (size_t)snprintf(
			buf + o, len - o, "%s%s", o > 1 ? "," : "",
			pr_pay_status_name((enum pr_pay_status)s));
		if (o >= len - 2)
			return NULL;
	}
	buf[o++] = '}';
	buf[o] = '\0';
	return buf;
}

int pr_pay_update(struct pr_daemon *d, const struct pr_pay_update *u,
		  pr_pay_update_cb cb, void *arg)
{
	char from[128], paid[24], day[24], amount[24], check[16];
	char *detail = NULL, *payer = NULL, *trace = NULL;
	const struct payroute_result *r = u->res;
	const struct pr_code *c = u->code;
	const char *p[24];
	int final = pr_pay_status_final(u->to);
	struct upd *x;
	int rc = 0;

	if (!from_literal(u->from, from, sizeof(from)))
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->d = d;
	x->to = u->to;
	x->cb = cb;
	x->arg = arg;
	if (u->detail)
		detail = json_dumps(u->detail, JSON_COMPACT);
	if (u->payer)
		payer = json_dumps(u->payer, JSON_COMPACT);
	if (u->trace)
		trace = json_dumps(u->trace, JSON_COMPACT);
	snprintf(paid, sizeof(paid), "%lld", (long long)u->paid_amount);
	snprintf(day, sizeof(day), "%lld", (long long)u->usage_day);
	snprintf(amount, sizeof(amount), "%lld", (long long)u->usage_amount);
	snprintf(check, sizeof(check), "%d", u->check_s > 0 ? u->check_s : 10);
	p[0] = u->id;
	p[1] = from;
	p[2] = pr_pay_status_name(u->to);
	p[3] = d->gen->config->instance;
	p[4] = u->event;
	p[5] = detail;
	p[6] = u->channel;
	p[7] = c ? c->unified : NULL;
	p[8] = c ? c->message_en : NULL;
	p[9] = c ? c->message_zh : NULL;
	p[10] = c && r ? r->code : NULL;
	p[11] = c && r ? r->sub_code : NULL;
	p[12] = c && r ? r->message : NULL;
	p[13] = r ? r->channel_trade_no : NULL;
	p[14] = payer;
	p[15] = u->to == PR_PAY_SUCCEEDED ? paid : NULL;
	p[16] = u->attempt ? "true" : "false";
	p[17] = u->attempt && u->usage_amount > 0 ? day : NULL;
	p[18] = u->attempt && u->usage_bank && u->usage_bank[0] ?
			u->usage_bank :
			NULL;
	p[19] = u->attempt && u->usage_amount > 0 ? amount : NULL;
	p[20] = (final && u->to != PR_PAY_SUCCEEDED) || u->release ? "true" :
								     "false";
	p[21] = trace;
	p[22] = check;
	p[23] = u->check_reset ? "true" : "false";
	if (pr_db_query(d->db, transition_sql, 24, p, on_transition, x) < 0) {
		free(x);
		rc = -EAGAIN;
	}
	free(detail);
	free(payer);
	free(trace);
	return rc;
}

/* ---------------------------------------------------------------- orders */

void pr_pay_order(const struct pr_pay_row *p, const struct pr_config *cfg,
		  const struct pr_chan_spec *c, struct payroute_order *o,
		  char *notify_buf, size_t notify_len)
{
	const struct pr_bank_map *bm = NULL;

	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->order_id = p->id;
	o->channel_trade_no = p->channel_trade_no[0] ? p->channel_trade_no :
						       NULL;
	o->amount = p->amount;
	memcpy(o->currency, p->currency, sizeof(o->currency));
	o->method = p->method;
	o->environment = p->environment[0] ? p->environment : NULL;
	o->product_code = p->product_code[0] ? p->product_code : NULL;
	o->subject = p->subject[0] ? p->subject : NULL;
	o->buyer_id = p->buyer_id[0] ? p->buyer_id : NULL;
	if (p->bank_code[0] && c)
		bm = pr_chan_bank(c, p->bank_code);
	o->bank_code = bm	       ? bm->channel_bank_code :
		       p->bank_code[0] ? p->bank_code :
					 NULL;
	o->notify_url = pr_notify_url(cfg, c ? c->code : p->channel, notify_buf,
				      notify_len);
	o->client_ip = p->client_ip[0] ? p->client_ip : NULL;
	o->created_at_ms = p->created_at_ms;
	o->expire_at_ms = p->expire_at_ms;
}

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

int pr_order_route(struct pr_daemon *d, const struct pr_generation *gen,
		   const struct pr_route_req *rq, struct pr_order_route *out)
{
	const struct pr_catalogue *cat = &gen->cat;
	size_t n = cat->n_chans ? cat->n_chans : 1;
	struct pr_route_result res = { 0 };
	struct pr_chan_usage *usage;
	struct pr_bank_usage *banks;
	const struct pr_cat_bucket *b;
	json_t *rj;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	usage = calloc(n, sizeof(*usage));
	banks = calloc(n, sizeof(*banks));
	res.cands = calloc(n, sizeof(*res.cands));
	if (!usage || !banks || !res.cands)
		goto out;
	res.cap = cat->n_chans;
	for (size_t i = 0; i < cat->n_chans; i++)
		usage[i].success_rate = -1;
	/* Only the request's bucket can pass the first two filters. */
	b = pr_catalogue_bucket(cat, rq->business, rq->method);
	for (size_t k = 0; b && d->usage && k < b->n; k++) {
		size_t i = b->chans[k];
		const struct pr_chan_spec *c = &cat->chans[i];

		pr_usage_today(d->usage, c->code, c->tz, rq->now_ms,
			       &usage[i].amount, &usage[i].count);
		usage[i].success_rate =
			pr_usage_success_rate(d->usage, c->code, rq->now_ms);
		if (rq->bank_code && rq->bank_code[0]) {
			banks[i].bank_code = rq->bank_code;
			pr_usage_today_scope(d->usage, c->code, rq->bank_code,
					     c->tz, rq->now_ms,
					     &banks[i].amount, NULL);
			usage[i].banks = &banks[i];
			usage[i].n_banks = 1;
		}
	}
	rc = pr_route(cat, rq, usage, 0, &res);
	if (rc < 0)
		goto out;
	rj = pr_route_to_json(cat, &res);
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
	free(usage);
	free(banks);
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
