/*
 * payments.c - the merchant API for payments and the flow of one payment,
 * asynchronous on the event loop (DESIGN section 8):
 *
 *   authenticate (merchants.c) -> parse (payreq.c) -> Idempotency-Key ->
 *   route (router.c, over this instance's view of today's usage) ->
 *   insert the order, status created, with the route trace ->
 *   for each ranked candidate: reserve the daily limits (usage.c; refused:
 *   next candidate) -> created/processing -> processing with the attempt
 *   (the completion check is queued in the same statement, before
 *   anything is sent) -> the driver's pay call (orders.c) -> apply:
 *
 *     success            succeeded (the channel's amount must match)
 *     failed, retryable  give the reservation back, next candidate (the
 *                        trace records each attempt)
 *     failed             failed (reservation given back)
 *     processing         processing (the payer payload: QR, form...)
 *     closed             closed
 *     unknown, timeout,  unknown: never failed, never sent elsewhere (the
 *     bad or unmapped    payer may have been charged); the completion job
 *     answer             finds out
 *
 * -> answer 201 with the payment (its status says how it went), stored
 * under the Idempotency-Key when one was given.
 *
 * Idempotency. Merchant order numbers are unique per merchant (a UNIQUE
 * constraint: a second order can never be created). With an
 * Idempotency-Key the first answer is kept for a day and replayed for the
 * same body (canonical JSON, so key order and spacing do not matter);
 * another body under the same key is a 409, and a retry while the first is
 * still running is a 409 that says so. A key left "in progress" by a
 * crashed instance is taken over after five minutes: the order number's
 * uniqueness then answers with the payment the first attempt created.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "apiutil.h"
#include "crypto.h"
#include "idem.h"
#include "log.h"
#include "merchants.h"
#include "orders.h"
#include "payments.h"
#include "payreq.h"
#include "router.h"

#define LIST_MAX 100

/* ------------------------------------------------------------- replies */

static void reply_store_down(struct pr_request *r, const char *what)
{
	pr_request_error(r, 503, "store_unavailable",
			 "the store is unavailable (%s); retry later", what);
}

/* ----------------------------------------------------- one payment flow */

struct pay {
	struct pr_request *r;
	struct pr_daemon *d;
	struct pr_generation *gen; /* r->gen: alive until the answer */
	char merchant[65];
	char locale[8];
	struct pr_payreq req;
	char card_hmac[65];
	char card_last4[5];
	char req_hash[65];
	struct pr_idem idem;

	char id[33];
	int64_t now_ms;
	int64_t expire_ms;
	int64_t created_ms;

	/* the route */
	struct pr_route_cand *cands;
	size_t n_cands; /* eligible, ranked */
	size_t next;	/* next candidate to try */
	json_t *trace;	/* {"route": ..., "attempts": [...]} */
	json_t *attempts;

	/* the current attempt */
	const struct pr_chan_spec *spec;
	const struct pr_channel *ch;
	struct pr_usage_token tok;
	int have_tok;
	int n_sent;
	struct pr_pay_row row; /* for the driver's order */
	struct payroute_order order;
	char notify_buf[512];
	const struct pr_code *last_code;
	char last_detail[256];
};

static void pay_free(struct pay *p)
{
	explicit_bzero(p->req.card_no, sizeof(p->req.card_no));
	explicit_bzero(p->req.auth_code, sizeof(p->req.auth_code));
	json_decref(p->trace);
	free(p->cands);
	pr_pay_row_clear(&p->row);
	free(p);
}

/* Answers and ends the flow; stores the answer under the key when one was
 * given (the merchant's retry then gets the same answer). */
static void pay_reply(struct pay *p, int status, json_t *body)
{
	pr_idem_finish(p->d, &p->idem, status, body);
	pr_request_reply(p->r, status, body);
	pay_free(p);
}

static void pay_error(struct pay *p, int status, const char *code,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void pay_error(struct pay *p, int status, const char *code,
		      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pay_reply(p, status,
		  json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			    msg));
}

static void try_next(struct pay *p);

/* The payment's final answer of this request: the row as the store has
 * it after the last transition. */
static void on_final(int rc, int changed, enum pr_pay_status from,
		     struct pr_pay_row *row, const char *err, void *arg)
{
	struct pay *p = arg;

	(void)changed;
	(void)from;
	if (rc < 0 || !row) {
		pr_err("payment %s: recording the outcome failed: %s (the "
		       "completion job will settle it)",
		       p->id, err ? err : "?");
		pay_error(p, 503, "store_unavailable",
			  "payment %s was sent but its outcome could not be "
			  "recorded; query it by id",
			  p->id);
		return;
	}
	pay_reply(p, 201, json_incref(row->json));
}

static json_t *attempt_json(const struct pay *p, const struct pr_call *c,
			    const char *outcome)
{
	json_t *a = json_pack("{s:s,s:s,s:s}", "channel", p->spec->code,
			      "outcome", outcome, "code",
			      c && c->code ? c->code->unified : "");

	if (!a)
		return NULL;
	if (c) {
		if (c->end == PR_CALL_ANSWER) {
			json_object_set_new(a, "channel_code",
					    json_string(c->res.code));
			json_object_set_new(a, "channel_sub_code",
					    json_string(c->res.sub_code));
		}
		if (c->detail[0])
			json_object_set_new(a, "detail",
					    json_string(c->detail));
		json_object_set_new(a, "http_status",
				    json_integer(c->http_status));
		json_object_set_new(a, "ms", json_real(c->ms));
	}
	return a;
}

/* Ends the flow with the payment failed (from created or processing). */
static void fail_payment(struct pay *p, const struct pr_code *code,
			 const struct payroute_result *res)
{
	struct pr_pay_update u = { 0 };

	u.id = p->id;
	u.from = PR_FROM(PR_PAY_CREATED) | PR_FROM(PR_PAY_PROCESSING);
	u.to = PR_PAY_FAILED;
	u.event = "answer";
	u.code = code;
	u.res = res;
	u.trace = p->trace;
	if (pr_pay_update(p->d, &u, on_final, p) < 0)
		pay_error(p, 503, "store_unavailable",
			  "payment %s failed (%s) but the store is "
			  "unavailable to record it",
			  p->id, code->unified);
}

static void on_released_recorded(int rc, int changed, enum pr_pay_status from,
				 struct pr_pay_row *row, const char *err,
				 void *arg)
{
	struct pay *p = arg;

	(void)changed;
	(void)from;
	(void)row;
	if (rc < 0) {
		/* The attempt's failure is not recorded: stop here; the
		 * order stays processing and the completion job asks the
		 * channel, which refused it. */
		pr_err("payment %s: recording a retryable failure failed: %s",
		       p->id, err ? err : "?");
		pay_error(p, 503, "store_unavailable",
			  "payment %s: the store became unavailable; query it "
			  "by id",
			  p->id);
		return;
	}
	try_next(p);
}

static void on_pay_call(struct pr_call *c, void *arg)
{
	struct pay *p = arg;
	const struct pr_code *code = c->code;
	struct pr_pay_update u = { 0 };
	json_t *payer = NULL;
	int rc;

	p->n_sent += c->sent;
	p->last_code = code;
	snprintf(p->last_detail, sizeof(p->last_detail), "%s", c->detail);
	if (code->effect == PAYROUTE_EFFECT_FAILED && code->retryable) {
		json_array_append_new(p->attempts,
				      attempt_json(p, c, "retryable_failure"));
		pr_info("payment %s: channel %s: %s (retryable): trying the "
			"next channel",
			p->id, p->spec->code, code->unified);
		/* Record it and give the reservation back; then the next. */
		u.id = p->id;
		u.from = PR_FROM(PR_PAY_PROCESSING);
		u.to = PR_PAY_PROCESSING;
		u.event = "answer";
		u.detail = json_array_get(p->attempts,
					  json_array_size(p->attempts) - 1);
		u.code = code;
		u.res = c->end == PR_CALL_ANSWER ? &c->res : NULL;
		u.release = 1;
		u.trace = p->trace;
		p->have_tok = 0;
		if (pr_pay_update(p->d, &u, on_released_recorded, p) < 0) {
			pr_err("payment %s: store unavailable after a "
			       "retryable failure",
			       p->id);
			pay_error(p, 503, "store_unavailable",
				  "payment %s: the store became unavailable; "
				  "query it by id",
				  p->id);
		}
		return;
	}

	u.id = p->id;
	u.from = PR_FROM(PR_PAY_PROCESSING);
	u.event = "answer";
	u.code = code;
	u.res = c->end == PR_CALL_ANSWER ? &c->res : NULL;
	u.trace = p->trace;
	u.check_s = (int)p->gen->config->completion_s[0];
	if (c->end == PR_CALL_ANSWER && c->payer.n > 0)
		payer = pr_kv_to_json(&c->payer);
	u.payer = payer;
	switch (code->effect) {
	case PAYROUTE_EFFECT_SUCCESS:
		if (c->res.amount >= 0 && c->res.amount != p->req.amount) {
			pr_err("payment %s: channel %s reports amount %lld, "
			       "the order is %lld: left unknown for an "
			       "operator",
			       p->id, p->spec->code, (long long)c->res.amount,
			       (long long)p->req.amount);
			u.to = PR_PAY_UNKNOWN;
			u.code = pr_code_core("AMOUNT_MISMATCH");
			json_array_append_new(p->attempts,
					      attempt_json(p, c,
							   "amount_mismatch"));
		} else {
			u.to = PR_PAY_SUCCEEDED;
			u.paid_amount = p->req.amount;
			json_array_append_new(p->attempts,
					      attempt_json(p, c, "succeeded"));
		}
		break;
	case PAYROUTE_EFFECT_FAILED:
		u.to = PR_PAY_FAILED;
		json_array_append_new(p->attempts,
				      attempt_json(p, c, "failed"));
		break;
	case PAYROUTE_EFFECT_PROCESSING:
		u.to = PR_PAY_PROCESSING;
		json_array_append_new(p->attempts,
				      attempt_json(p, c, "processing"));
		break;
	case PAYROUTE_EFFECT_CLOSED:
		u.to = PR_PAY_CLOSED;
		json_array_append_new(p->attempts,
				      attempt_json(p, c, "closed"));
		break;
	case PAYROUTE_EFFECT_UNKNOWN:
	default:
		u.to = PR_PAY_UNKNOWN;
		json_array_append_new(p->attempts,
				      attempt_json(p, c, "unknown"));
		break;
	}
	u.detail =
		json_array_get(p->attempts, json_array_size(p->attempts) - 1);
	rc = pr_pay_update(p->d, &u, on_final, p);
	json_decref(payer);
	if (rc < 0)
		pay_error(p, 503, "store_unavailable",
			  "payment %s was sent but its outcome could not be "
			  "recorded; query it by id",
			  p->id);
}

/* The attempt is recorded (processing, on this channel, check queued):
 * send it. */
static void on_attempt_recorded(int rc, int changed, enum pr_pay_status from,
				struct pr_pay_row *row, const char *err,
				void *arg)
{
	struct pay *p = arg;

	(void)from;
	if (rc < 0 || !changed || !row) {
		/* Nothing was sent on this attempt: give it back. */
		if (p->have_tok && p->d->usage)
			pr_usage_release(p->d->usage, &p->tok);
		p->have_tok = 0;
		pr_err("payment %s: recording the attempt on %s failed: %s",
		       p->id, p->spec->code,
		       err ? err : "the payment moved meanwhile");
		pay_error(p, 503, "store_unavailable",
			  "payment %s could not be sent: the store is "
			  "unavailable",
			  p->id);
		return;
	}
	pr_pay_row_clear(&p->row);
	p->row = *row;
	p->row.json = json_incref(row->json);
	pr_pay_order(&p->row, p->gen->config, p->spec, &p->order, p->notify_buf,
		     sizeof(p->notify_buf));
	p->order.card_no = p->req.card_no[0] ? p->req.card_no : NULL;
	p->order.auth_code = p->req.auth_code[0] ? p->req.auth_code : NULL;
	if (pr_chan_call(p->d, p->gen, p->ch, PR_OP_PAY, &p->order, on_pay_call,
			 p) < 0)
		pay_error(p, 500, "internal", "out of memory");
}

static void on_reserved(int rc, const struct pr_usage_token *tok, void *arg)
{
	struct pay *p = arg;
	struct pr_pay_update u = { 0 };
	json_t *detail;

	if (rc == 0) {
		json_array_append_new(p->attempts,
				      json_pack("{s:s,s:s}", "channel",
						p->spec->code, "outcome",
						"daily_limit"));
		try_next(p);
		return;
	}
	if (rc < 0) {
		pr_warn("payment %s: reserving the daily limit of %s failed: "
			"%s",
			p->id, p->spec->code, strerror(-rc));
		json_array_append_new(p->attempts,
				      json_pack("{s:s,s:s}", "channel",
						p->spec->code, "outcome",
						"reservation_error"));
		try_next(p);
		return;
	}
	p->tok = *tok;
	p->have_tok = 1;
	detail = json_pack("{s:s,s:i}", "channel", p->spec->code, "attempt",
			   (int)json_array_size(p->attempts) + 1);
	u.id = p->id;
	u.from = PR_FROM(PR_PAY_CREATED) | PR_FROM(PR_PAY_PROCESSING);
	u.to = PR_PAY_PROCESSING;
	u.event = "attempt";
	u.detail = detail;
	u.channel = p->spec->code;
	u.attempt = 1;
	u.usage_day = tok->day;
	u.usage_bank = tok->bank;
	u.usage_amount = tok->amount;
	u.trace = p->trace;
	u.check_s = (int)p->gen->config->completion_s[0];
	u.check_reset = 1;
	rc = pr_pay_update(p->d, &u, on_attempt_recorded, p);
	json_decref(detail);
	if (rc < 0) {
		if (p->d->usage)
			pr_usage_release(p->d->usage, &p->tok);
		p->have_tok = 0;
		pay_error(p, 503, "store_unavailable",
			  "payment %s could not be sent: the store is "
			  "unavailable",
			  p->id);
	}
}

/* The next ranked candidate, or the end: failed with the last retryable
 * code, or NO_CHANNEL when none could even be reserved. */
static void try_next(struct pay *p)
{
	const struct pr_catalogue *cat = &p->gen->cat;
	struct pr_usage_limits lim;
	int rc;

	while (p->next < p->n_cands) {
		p->spec = &cat->chans[p->cands[p->next++].chan];
		p->ch = pr_gen_channel(p->gen, p->spec->code);
		if (!p->ch || !p->ch->state) {
			json_array_append_new(
				p->attempts,
				json_pack("{s:s,s:s}", "channel", p->spec->code,
					  "outcome", "driver_not_started"));
			continue;
		}
		pr_chan_limits(p->spec, p->req.bank_code, &lim);
		rc = !p->d->usage ?
			     -ESHUTDOWN :
			     pr_usage_reserve(p->d->usage, p->spec->code,
					      p->spec->tz, &lim, p->req.amount,
					      pr_now_ms(), on_reserved, p);
		if (rc == 0)
			return;
		json_array_append_new(p->attempts,
				      json_pack("{s:s,s:s}", "channel",
						p->spec->code, "outcome",
						"reservation_error"));
	}
	fail_payment(p,
		     p->last_code ? p->last_code : pr_code_core("NO_CHANNEL"),
		     NULL);
}

/* Routes the payment (pr_order_route). */
static int route(struct pay *p)
{
	struct pr_route_req rq = { 0 };
	struct pr_order_route r;
	int rc;

	rq.business = PR_BIZ_PAY;
	rq.method = p->req.method;
	rq.environment = p->req.environment[0] ? p->req.environment : NULL;
	rq.product_code = p->req.product_code[0] ? p->req.product_code : NULL;
	rq.currency = p->req.currency;
	rq.bank_code = p->req.bank_code[0] ? p->req.bank_code : NULL;
	rq.merchant = p->merchant;
	rq.buyer_id = p->req.buyer_id[0] ? p->req.buyer_id : NULL;
	rq.seller_id = p->req.seller_id[0] ? p->req.seller_id : NULL;
	rq.card_hmac = p->card_hmac[0] ? p->card_hmac : NULL;
	rq.amount = p->req.amount;
	rq.now_ms = p->now_ms;
	rc = pr_order_route(p->d, p->gen, &rq, &r);
	if (rc < 0)
		return rc;
	p->cands = r.cands;
	p->n_cands = r.n_cands;
	p->trace = r.trace;
	p->attempts = r.attempts;
	return 0;
}

static void on_existing(struct pr_pay_row *row, const char *err, void *arg)
{
	struct pay *p = arg;

	if (!row) {
		pay_error(p, err ? 503 : 409,
			  err ? "store_unavailable" : "duplicate_order",
			  "merchant_order_no %s is already used",
			  p->req.merchant_order_no);
		return;
	}
	pay_reply(p, 409,
		  json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
			    "duplicate_order", "message",
			    "merchant_order_no is already used by another "
			    "payment",
			    "payment_id", row->id));
}

static void on_existing_same(struct pr_pay_row *row, const char *err, void *arg)
{
	struct pay *p = arg;

	if (!row) {
		on_existing(row, err, arg);
		return;
	}
	/* A taken-over Idempotency-Key, same body: the first attempt's
	 * payment is the answer. */
	pay_reply(p, 201, json_incref(row->json));
}

static void on_dup_check(PGresult *res, const char *err, void *arg)
{
	struct pay *p = arg;
	int same;

	if (!res || PQntuples(res) != 1) {
		pay_error(p, res ? 409 : 503,
			  res ? "duplicate_order" : "store_unavailable",
			  "merchant_order_no %s is already used%s%s",
			  p->req.merchant_order_no, res ? "" : ": ",
			  res ? "" : err);
		return;
	}
	same = p->idem.taken_over &&
	       strcmp(PQgetvalue(res, 0, 1), p->req_hash) == 0;
	if (pr_pay_load(p->d, PQgetvalue(res, 0, 0), p->merchant,
			same ? on_existing_same : on_existing, p) < 0)
		pay_error(p, 503, "store_unavailable",
			  "the store is unavailable; retry later");
}

static void on_inserted(PGresult *res, const char *err, void *arg)
{
	struct pay *p = arg;
	static const char dup_sql[] =
		"SELECT id, request_hash FROM payments "
		"WHERE merchant_id = $1 AND merchant_order_no = $2";
	const char *params[2] = { p->merchant, p->req.merchant_order_no };

	if (!res) {
		pr_warn("payments: inserting %s failed: %s", p->id, err);
		pay_error(p, 503, "store_unavailable",
			  "the payment could not be stored; retry later");
		return;
	}
	if (PQntuples(res) == 0) {
		if (pr_db_query(p->d->db, dup_sql, 2, params, on_dup_check, p) <
		    0)
			pay_error(p, 503, "store_unavailable",
				  "the store is unavailable; retry later");
		return;
	}
	p->created_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	pr_info("payment %s created for merchant %s (order %s, %lld %s, %zu "
		"candidate channel%s)",
		p->id, p->merchant, p->req.merchant_order_no,
		(long long)p->req.amount, p->req.currency, p->n_cands,
		p->n_cands == 1 ? "" : "s");
	try_next(p);
}

/* Routes, then inserts the order. */
static void pay_start(struct pay *p)
{
	static const char sql[] =
		"INSERT INTO payments (id, merchant_id, merchant_order_no, "
		"request_hash, amount, currency, method, environment, "
		"product_code, buyer_id, seller_id, card_hmac, card_last4, "
		"bank_code, subject, notify_url, client_ip, expire_at, trace) "
		"VALUES ($1, $2, $3, $4, $5::bigint, $6, $7, $8, $9, $10, $11, "
		"$12, $13, $14, $15, $16, $17, "
		"to_timestamp($18::bigint / 1000.0), $19::jsonb) "
		"ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING "
		"RETURNING (extract(epoch FROM created_at) * 1000)::bigint";
	const struct pr_payreq *q = &p->req;
	char amount[24], expire[24], *trace;
	const char *params[19];
	char *ip = NULL;
	int rc;

	rc = route(p);
	if (rc < 0) {
		pay_error(p, rc == -EINVAL ? 400 : 500,
			  rc == -EINVAL ? "bad_request" : "internal",
			  "the payment cannot be routed: %s", strerror(-rc));
		return;
	}
	pr_order_new_id('P', p->now_ms, p->id);
	evhttp_connection_get_peer(evhttp_request_get_connection(p->r->req),
				   &ip, &(ev_uint16_t){ 0 });
	trace = json_dumps(p->trace, JSON_COMPACT);
	snprintf(amount, sizeof(amount), "%lld", (long long)q->amount);
	snprintf(expire, sizeof(expire), "%lld", (long long)p->expire_ms);
#define OPT(s) ((s)[0] ? (s) : NULL)
	params[0] = p->id;
	params[1] = p->merchant;
	params[2] = q->merchant_order_no;
	params[3] = p->req_hash;
	params[4] = amount;
	params[5] = q->currency;
	params[6] = q->method;
	params[7] = OPT(q->environment);
	params[8] = OPT(q->product_code);
	params[9] = OPT(q->buyer_id);
	params[10] = OPT(q->seller_id);
	params[11] = OPT(p->card_hmac);
	params[12] = OPT(p->card_last4);
	params[13] = OPT(q->bank_code);
	params[14] = OPT(q->subject);
	params[15] = OPT(q->notify_url);
	params[16] = ip;
	params[17] = expire;
	params[18] = trace;
#undef OPT
	rc = pr_db_query(p->d->db, sql, 19, params, on_inserted, p);
	free(trace);
	if (rc < 0)
		pay_error(p, 503, "store_unavailable",
			  "the store is unavailable; retry later");
}

static void on_idem(int proceed, void *arg)
{
	struct pay *p = arg;

	if (proceed)
		pay_start(p);
	else
		pay_free(p);
}

static void card_protect(struct pay *p)
{
	const struct pr_config *cfg = p->gen->config;
	size_t n = strlen(p->req.card_no);
	unsigned char mac[32];
	char *hex;

	if (!n)
		return;
	snprintf(p->card_last4, sizeof(p->card_last4), "%s",
		 p->req.card_no + n - 4);
	if (cfg->has_secret_key &&
	    pr_hmac_sha256(cfg->secret_key, sizeof(cfg->secret_key),
			   p->req.card_no, n, mac) == 0 &&
	    (hex = pr_hex_encode(mac, sizeof(mac)))) {
		snprintf(p->card_hmac, sizeof(p->card_hmac), "%s", hex);
		free(hex);
	}
}

static void create_payment(struct pay *p)
{
	const struct pr_config *cfg = p->gen->config;
	char field[64], err[512];
	unsigned char hash[32];
	char *canon, *hex;
	int status = 400;
	json_t *body;

	body = pr_http_read_json(p->r->req, &status, err, sizeof(err));
	if (!body) {
		pr_request_error(p->r, status,
				 status == 415 ? "unsupported_media_type" :
						 "bad_request",
				 "%s", err);
		pay_free(p);
		return;
	}
	if (pr_payreq_parse(body, &p->req, NULL, field, sizeof(field), err,
			    sizeof(err)) < 0) {
		json_decref(body);
		pr_api_reply_field(p->r, field, "%s", err);
		pay_free(p);
		return;
	}
	if (p->req.expire_seconds > cfg->pay_max_expire_s) {
		json_decref(body);
		snprintf(err, sizeof(err),
			 "expire_seconds: at most %d (payments.max_expire_"
			 "seconds)",
			 cfg->pay_max_expire_s);
		pr_api_reply_field(p->r, "expire_seconds", "%s", err);
		pay_free(p);
		return;
	}
	canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	if (!canon || pr_sha256(canon, strlen(canon), hash) < 0 ||
	    !(hex = pr_hex_encode(hash, sizeof(hash)))) {
		if (canon)
			explicit_bzero(canon, strlen(canon));
		free(canon);
		pr_request_error(p->r, 500, "internal", "out of memory");
		pay_free(p);
		return;
	}
	explicit_bzero(canon, strlen(canon)); /* it may hold a card number */
	free(canon);
	snprintf(p->req_hash, sizeof(p->req_hash), "%s", hex);
	free(hex);
	card_protect(p);
	p->now_ms = pr_now_ms();
	p->expire_ms = p->now_ms + 1000 * (p->req.expire_seconds > 0 ?
						   p->req.expire_seconds :
						   cfg->pay_default_expire_s);
	if (pr_idem_read(p->r, p->merchant, "/v1/payments", p->req_hash,
			 &p->idem) < 0) {
		pay_free(p);
		return;
	}
	if (!p->idem.active) {
		pay_start(p);
		return;
	}
	if (pr_idem_begin(p->d, p->r, &p->idem, on_idem, p) < 0) {
		p->idem.active = 0;
		pay_error(p, 503, "store_unavailable",
			  "the store is unavailable; retry later");
	}
}

/* ------------------------------------------------------- reads, close */

static void on_got(struct pr_pay_row *row, const char *err, void *arg)
{
	struct pay *p = arg;

	if (err)
		reply_store_down(p->r, err);
	else if (!row)
		pr_request_error(p->r, 404, "not_found", "no such payment");
	else
		pr_request_reply(p->r, 200, json_incref(row->json));
	pay_free(p);
}

static void on_close_recorded(int rc, int changed, enum pr_pay_status from,
			      struct pr_pay_row *row, const char *err,
			      void *arg)
{
	struct pay *p = arg;

	(void)from;
	if (rc < 0 || !row) {
		reply_store_down(p->r, err ? err : "recording the close");
	} else if (!changed && row->status != PR_PAY_CLOSED) {
		pr_request_reply(
			p->r, 409,
			json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				  "payment_final", "message",
				  "the payment reached a final state before "
				  "the close",
				  "status", pr_pay_status_name(row->status)));
	} else {
		pr_request_reply(p->r, 200, json_incref(row->json));
	}
	pay_free(p);
}

static void on_check_now(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("payments: could not bring a check forward: %s", err);
}

static void on_close_call(struct pr_call *c, void *arg)
{
	struct pay *p = arg;
	struct pr_pay_update u = { 0 };
	static const char now_sql[] =
		"UPDATE order_checks SET next_at = now() "
		"WHERE kind = 'payment' AND order_id = $1 AND NOT attention";
	const char *params[1] = { p->row.id };

	if (c->code->effect == PAYROUTE_EFFECT_CLOSED) {
		u.id = p->row.id;
		u.from = PR_FROM(PR_PAY_PROCESSING) | PR_FROM(PR_PAY_UNKNOWN);
		u.to = PR_PAY_CLOSED;
		u.event = "close";
		u.code = pr_code_core("ORDER_CLOSED");
		u.res = &c->res;
		if (pr_pay_update(p->d, &u, on_close_recorded, p) < 0) {
			reply_store_down(p->r, "recording the close");
			pay_free(p);
		}
		return;
	}
	/* Not confirmed: the payer may have paid, or the channel does not
	 * know the order yet. Ask the channel now rather than later. */
	pr_db_query(p->d->db, now_sql, 1, params, on_check_now, NULL);
	pr_request_reply(
		p->r, 409,
		json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code",
			  "close_not_confirmed", "message",
			  "the channel did not confirm the close; the "
			  "payment's outcome is being checked, query it again",
			  "channel_code", c->code->unified, "detail",
			  c->code->message_en));
	pay_free(p);
}

static void on_close_loaded(struct pr_pay_row *row, const char *err, void *arg)
{
	struct pay *p = arg;

	if (err || !row) {
		on_got(row, err, arg);
		return;
	}
	switch (row->status) {
	case PR_PAY_CLOSED:
		pr_request_reply(p->r, 200, json_incref(row->json));
		pay_free(p);
		return;
	case PR_PAY_SUCCEEDED:
	case PR_PAY_FAILED:
		pr_request_reply(
			p->r, 409,
			json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				  "payment_final", "message",
				  "the payment is final and cannot be closed",
				  "status", pr_pay_status_name(row->status)));
		pay_free(p);
		return;
	case PR_PAY_CREATED:
		pr_request_error(p->r, 409, "payment_in_progress",
				 "the payment is still being sent; retry the "
				 "close in a moment");
		pay_free(p);
		return;
	default:
		break;
	}
	p->row = *row;
	p->row.json = json_incref(row->json);
	p->ch = pr_gen_channel(p->gen, row->channel);
	{
		long ci = pr_catalogue_find(&p->gen->cat, row->channel);

		p->spec = ci >= 0 ? &p->gen->cat.chans[ci] : NULL;
	}
	if (!p->ch) {
		pr_request_error(p->r, 409, "channel_unavailable",
				 "channel %s is not configured any more; the "
				 "payment cannot be closed at the channel",
				 row->channel);
		pay_free(p);
		return;
	}
	pr_pay_order(&p->row, p->gen->config, p->spec, &p->order, p->notify_buf,
		     sizeof(p->notify_buf));
	if (pr_chan_call(p->d, p->gen, p->ch, PR_OP_CLOSE, &p->order,
			 on_close_call, p) < 0) {
		pr_request_error(p->r, 500, "internal", "out of memory");
		pay_free(p);
	}
}

/* ------------------------------------------------------------ dispatch */

enum action { A_CREATE, A_GET, A_LIST, A_CLOSE };

struct authed {
	struct pay *p;
	enum action action;
	char id[64];
	char order_no[128];
};

static void on_auth(const struct pr_merchant *m, int status, const char *code,
		    const char *message, void *arg)
{
	struct authed *a = arg;
	struct pay *p = a->p;
	int rc = 0;

	if (!m) {
		if (status == 401)
			evhttp_add_header(
				evhttp_request_get_output_headers(p->r->req),
				"WWW-Authenticate", "Bearer");
		pr_request_error(p->r, status, code, "%s", message);
		pay_free(p);
		free(a);
		return;
	}
	snprintf(p->merchant, sizeof(p->merchant), "%s", m->id);
	snprintf(p->locale, sizeof(p->locale), "%s", m->locale);
	switch (a->action) {
	case A_CREATE:
		create_payment(p);
		break;
	case A_GET:
		rc = pr_pay_load(p->d, a->id, p->merchant, on_got, p);
		break;
	case A_LIST:
		rc = pr_pay_load_by_order_no(p->d, p->merchant, a->order_no,
					     on_got, p);
		break;
	case A_CLOSE:
		rc = pr_pay_load(p->d, a->id, p->merchant, on_close_loaded, p);
		break;
	}
	if (rc < 0) {
		reply_store_down(p->r, "reading the payment");
		pay_free(p);
	}
	free(a);
}

static int id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 32)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s))
			return 0;
	return 1;
}

static void method_not_allowed(struct pr_request *r, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow",
			  allow);
	pr_request_error(r, 405, "method_not_allowed",
			 "%s is not allowed here; use %s",
			 pr_http_method(r->req), allow);
}

int pr_payments_handle(struct pr_request *r)
{
	const char *m = pr_http_method(r->req);
	const char *rest;
	struct authed *a;
	struct pay *p;

	if (strcmp(r->path, "/v1/payments") != 0 &&
	    strncmp(r->path, "/v1/payments/", 13) != 0)
		return 0;
	a = calloc(1, sizeof(*a));
	p = calloc(1, sizeof(*p));
	if (!a || !p) {
		free(a);
		free(p);
		pr_request_error(r, 500, "internal", "out of memory");
		return 1;
	}
	p->r = r;
	p->d = r->d;
	p->gen = r->gen;
	a->p = p;
	if (strcmp(r->path, "/v1/payments") == 0) {
		if (strcmp(m, "POST") == 0) {
			a->action = A_CREATE;
		} else if (strcmp(m, "GET") == 0) {
			struct evkeyvalq q;
			const char *uri = evhttp_request_get_uri(r->req);
			const char *qs = strchr(uri, '?');
			const char *no;

			TAILQ_INIT(&q);
			if (!qs || evhttp_parse_query_str(qs + 1, &q) < 0 ||
			    !(no = evhttp_find_header(&q,
						      "merchant_order_no")) ||
			    !*no || strlen(no) >= sizeof(a->order_no)) {
				evhttp_clear_headers(&q);
				pr_api_reply_field(
					r, "merchant_order_no",
					"merchant_order_no: required query "
					"parameter (GET "
					"/v1/payments?merchant_order_no=...)");
				goto done;
			}
			snprintf(a->order_no, sizeof(a->order_no), "%s", no);
			evhttp_clear_headers(&q);
			a->action = A_LIST;
		} else {
			method_not_allowed(r, "GET, POST");
			goto done;
		}
	} else {
		rest = r->path + 13;
		const char *slash = strchr(rest, '/');
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

		if (n >= sizeof(a->id)) {
			pr_request_error(r, 404, "not_found",
					 "no such payment");
			goto done;
		}
		memcpy(a->id, rest, n);
		a->id[n] = '\0';
		if (!slash) {
			if (strcmp(m, "GET") != 0) {
				method_not_allowed(r, "GET");
				goto done;
			}
			a->action = A_GET;
		} else if (strcmp(slash, "/close") == 0) {
			if (strcmp(m, "POST") != 0) {
				method_not_allowed(r, "POST");
				goto done;
			}
			a->action = A_CLOSE;
		} else {
			pr_request_error(r, 404, "not_found",
					 "no such endpoint: %s", r->path);
			goto done;
		}
		if (!id_ok(a->id)) {
			pr_request_error(r, 404, "not_found",
					 "no such payment: %s", a->id);
			goto done;
		}
	}
	if (pr_merchant_auth(r->d, r->req, on_auth, a) < 0) {
		reply_store_down(r, "authenticating");
		goto done;
	}
	return 1;
done:
	pay_free(p);
	free(a);
	return 1;
}

/* ----------------------------------------------------------- admin side */

static void on_admin_payment(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_error_t jerr;
	json_t *j;

	if (!res) {
		reply_store_down(r, err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_request_error(r, 404, "not_found", "no such payment");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	if (!j) {
		pr_request_error(r, 500, "internal", "bad JSON from the store");
		return;
	}
	pr_request_reply(r, 200, j);
}

static void on_attention(PGresult *res, const char *err, void *arg)
{
	on_admin_payment(res, err, arg);
}

int pr_payments_admin_handle(struct pr_request *r)
{
	static const char pay_sql[] =
		"SELECT jsonb_build_object("
		"'payment', to_jsonb(p) - 'card_hmac' - 'request_hash', "
		"'events', (SELECT coalesce(jsonb_agg(to_jsonb(e) - 'kind' - "
		"'order_id' ORDER BY e.id), '[]') FROM order_events e "
		"WHERE e.kind = 'payment' AND e.order_id = p.id), "
		"'check', (SELECT to_jsonb(c) - 'kind' - 'order_id' "
		"FROM order_checks c WHERE c.kind = 'payment' "
		"AND c.order_id = p.id), "
		"'notifications', (SELECT coalesce(jsonb_agg(jsonb_build_object("
		"'id', n.id, 'event', n.event, 'state', n.state, 'attempts', "
		"n.attempts, 'last_status', n.last_status, 'last_error', "
		"n.last_error) ORDER BY n.id), '[]') "
		"FROM merchant_notifications n WHERE n.kind = 'payment' "
		"AND n.order_id = p.id))::text "
		"FROM payments p WHERE p.id = $1";
	static const char attention_sql[] =
		"SELECT jsonb_build_object('orders', coalesce(jsonb_agg("
		"jsonb_build_object('kind', c.kind, 'id', c.order_id, "
		"'checks', c.checks, 'reason', c.attention_reason, "
		"'last_result', c.last_result, 'since', c.updated_at, "
		"'status', coalesce(p.status, r.status, w.status), "
		"'channel', coalesce(p.channel, r.channel, w.channel), "
		"'amount', coalesce(p.amount, r.amount, w.amount), "
		"'currency', coalesce(p.currency, r.currency, w.currency), "
		"'merchant_id', coalesce(p.merchant_id, r.merchant_id, "
		"w.merchant_id), 'merchant_no', coalesce(p.merchant_order_no, "
		"r.merchant_refund_no, w.merchant_withdrawal_no)) ORDER BY "
		"c.updated_at), '[]'))::text "
		"FROM order_checks c "
		"LEFT JOIN payments p ON c.kind = 'payment' AND p.id = c.order_id "
		"LEFT JOIN refunds r ON c.kind = 'refund' AND r.id = c.order_id "
		"LEFT JOIN withdrawals w ON c.kind = 'withdrawal' "
		"AND w.id = c.order_id "
		"WHERE c.attention";
	const char *m = pr_http_method(r->req);
	const char *params[1];

	if (strcmp(r->path, "/admin/v1/orders/attention") == 0) {
		if (strcmp(m, "GET") != 0) {
			method_not_allowed(r, "GET");
			return 1;
		}
		if (pr_db_query(r->d->db, attention_sql, 0, NULL, on_attention,
				r) < 0)
			reply_store_down(r, "listing orders");
		return 1;
	}
	if (strncmp(r->path, "/admin/v1/payments/", 19) != 0)
		return 0;
	if (strcmp(m, "GET") != 0) {
		method_not_allowed(r, "GET");
		return 1;
	}
	if (!id_ok(r->path + 19)) {
		pr_request_error(r, 404, "not_found", "no such payment");
		return 1;
	}
	params[0] = r->path + 19;
	if (pr_db_query(r->d->db, pay_sql, 1, params, on_admin_payment, r) < 0)
		reply_store_down(r, "reading the payment");
	return 1;
}
