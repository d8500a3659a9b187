/*
 * payments.c - the merchant API for payments: create (the cascade of
 * flow.c, with the payment's parts below), read by id or by the merchant's
 * number, close; and the admin view of one payment (doc/design.md §6).
 *
 *   authenticate (merchants.c) -> parse (payreq.c) -> the order's row in
 *   memory -> pr_flow_start: route, reserve, first commit (the payment,
 *   its attempt, its check row, the Idempotency-Key: pr_payment_begin),
 *   the driver's pay call, second commit (the outcome and the answer kept
 *   under the key: pr_payment_apply) -> 201 with the payment (its status
 *   says how it went).
 *
 * The channel's effect decides the payment's status: success (the
 * channel's amount must match) succeeded, failed failed (a retryable one
 * goes to the next channel), processing processing (the payer payload: QR,
 * form...), closed closed, and unknown (also a timeout, an answer that
 * does not verify, parse or map) unknown: never failed, never sent
 * elsewhere (the payer may have been charged); the completion job finds
 * out.
 *
 * Idempotency. Merchant order numbers are unique per merchant (a UNIQUE
 * constraint: a second order can never be created). With an
 * Idempotency-Key the first answer is kept and replayed for the same body
 * (canonical JSON, so key order and spacing do not matter); see idem.h.
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

#include "runtime/apiutil.h"
#include "runtime/crypto.h"
#include "orders/flow.h"
#include "orders/idem.h"
#include "runtime/log.h"
#include "orders/merchants.h"
#include "orders/orderadmin.h"
#include "orders/orders.h"
#include "orders/outbox.h"
#include "orders/payments.h"
#include "orders/payorder.h"
#include "domain/payreq.h"
#include "domain/router.h"

/* ------------------------------------------------------------- replies */

static void reply_store_down(struct pr_request *r, const char *what)
{
	pr_api_reply_err(r, 503, "store_unavailable", NULL,
			 "the store is unavailable (%s); retry later", what);
}

/* ----------------------------------------------------- one payment flow */

struct pay {
	struct pr_flow f; /* first: the cascade's state */
	struct pr_request *r;
	struct pr_daemon *d;
	struct pr_generation *gen; /* r->gen: alive until the answer */
	char merchant[65];
	char locale[8];
	struct pr_payreq req;
	char card_hmac[65];
	char req_hash[65];
	struct pr_pay_row row; /* the order (f.row) */
};

static void pay_free(struct pay *p)
{
	explicit_bzero(p->req.card_no, sizeof(p->req.card_no));
	explicit_bzero(p->req.auth_code, sizeof(p->req.auth_code));
	pr_flow_clear(&p->f);
	pr_payment_kind.row_clear(&p->row);
	free(p);
}

static void pay_route_req(struct pr_flow *f, struct pr_route_req *rq)
{
	struct pay *p = (struct pay *)f;

	rq->method = p->req.method;
	rq->environment = p->req.environment[0] ? p->req.environment : NULL;
	rq->product_code = p->req.product_code[0] ? p->req.product_code : NULL;
	rq->bank_code = p->req.bank_code[0] ? p->req.bank_code : NULL;
	rq->buyer_id = p->req.buyer_id[0] ? p->req.buyer_id : NULL;
	rq->seller_id = p->req.seller_id[0] ? p->req.seller_id : NULL;
	rq->card_hmac = p->card_hmac[0] ? p->card_hmac : NULL;
}

static void pay_order(struct pr_flow *f, const struct pr_chan_spec *c)
{
	struct pay *p = (struct pay *)f;

	pr_pay_order(&p->row, p->gen->config, c, &f->order, f->notify_buf,
		     sizeof(f->notify_buf));
	f->order.card_no = p->req.card_no[0] ? p->req.card_no : NULL;
	f->order.auth_code = p->req.auth_code[0] ? p->req.auth_code : NULL;
}

static void pay_predict(struct pr_flow *f, const struct pr_call *c)
{
	struct pay *p = (struct pay *)f;

	if (c && c->end == PR_CALL_ANSWER && c->payer.n > 0) {
		json_decref(p->row.payer);
		p->row.payer = pr_kv_to_json(&c->payer);
	}
}

const struct pr_flow_begin_sqls pr_pay_begin_sqls = PR_BEGIN_SQLS(
	"payments", "payment", "merchant_order_no",
	", amount, currency, method, environment, product_code, "
	"buyer_id, seller_id, card_hmac, card_last4, bank_code, "
	"subject, notify_url, client_ip, expire_at",
	", $21::bigint, $22::text, $23::text, $24::text, $25::text, "
	"$26::text, $27::text, $28::text, $29::text, $30::text, "
	"$31::text, $32::text, $33::text, pr_ms_time($34::bigint)");

static int pay_begin(struct pr_flow *f, const struct pr_flow_begin *b,
		     pr_db_cb cb, void *arg)
{
	struct pay *p = (struct pay *)f;
	const struct pr_payreq *q = &p->req;
	const struct pr_pay_row *w = &p->row;
	char amount[24], expire[24];
	const char *params[PR_BEGIN_NPARAMS + 14];

	snprintf(amount, sizeof(amount), "%lld", (long long)q->amount);
	snprintf(expire, sizeof(expire), "%lld", (long long)w->expire_ms);
	pr_flow_begin_params(f, b, p->req_hash, params);
#define OPT(s) ((s)[0] ? (s) : NULL)
	params[20] = amount;
	params[21] = q->currency;
	params[22] = q->method;
	params[23] = OPT(q->environment);
	params[24] = OPT(q->product_code);
	params[25] = OPT(q->buyer_id);
	params[26] = OPT(q->seller_id);
	params[27] = OPT(p->card_hmac);
	params[28] = OPT(w->card_last4);
	params[29] = OPT(q->bank_code);
	params[30] = OPT(q->subject);
	params[31] = OPT(q->notify_url);
	params[32] = OPT(w->client_ip);
	params[33] = expire;
#undef OPT
	return pr_flow_begin_send(p->d->db, &pr_pay_begin_sqls, b,
				  PR_BEGIN_NPARAMS + 14, params, cb, arg);
}

static void pay_end(struct pr_flow *f, int status, json_t *body)
{
	struct pay *p = (struct pay *)f;

	if (status)
		pr_request_reply(p->r, status, body);
	else
		json_decref(body);
	pay_free(p);
}

static const struct pr_flow_ops pay_ops = {
	.kind = &pr_payment_kind,
	.business = PR_BIZ_PAY,
	.op = PR_OP_PAY,
	.to_status = {
		[PAYROUTE_EFFECT_SUCCESS] = PR_PAY_SUCCEEDED,
		[PAYROUTE_EFFECT_FAILED] = PR_PAY_FAILED,
		[PAYROUTE_EFFECT_PROCESSING] = PR_PAY_PROCESSING,
		[PAYROUTE_EFFECT_UNKNOWN] = PR_PAY_UNKNOWN,
		[PAYROUTE_EFFECT_CLOSED] = PR_PAY_CLOSED,
	},
	.no_channel_status = PR_PAY_FAILED,
	.dup_message = "merchant_order_no is already used by another payment",
	.dup_field = "payment_id",
	.route_req = pay_route_req,
	.order = pay_order,
	.begin = pay_begin,
	.predict = pay_predict,
	.end = pay_end,
};

/* The payment's row before its first commit: what the request says. */
static void pay_row_init(struct pay *p)
{
	const struct pr_config *cfg = p->gen->config;
	const struct pr_payreq *q = &p->req;
	struct pr_pay_row *w = &p->row;
	size_t n = strlen(q->card_no);
	int64_t expire_s = q->expire_seconds > 0 ? q->expire_seconds :
						   cfg->pay_default_expire_s;

	pr_order_new_id('P', p->f.now_ms, w->c.id);
	snprintf(w->c.merchant_id, sizeof(w->c.merchant_id), "%s", p->merchant);
	snprintf(w->c.merchant_no, sizeof(w->c.merchant_no), "%s",
		 q->merchant_order_no);
	w->c.status = PR_PAY_PROCESSING;
	w->c.amount = q->amount;
	snprintf(w->c.currency, sizeof(w->c.currency), "%s", q->currency);
	w->c.created_ms = p->f.now_ms;
	snprintf(w->c.notify_url, sizeof(w->c.notify_url), "%s", q->notify_url);
	snprintf(w->c.locale, sizeof(w->c.locale), "%s", p->locale);
	snprintf(w->method, sizeof(w->method), "%s", q->method);
	snprintf(w->environment, sizeof(w->environment), "%s", q->environment);
	snprintf(w->product_code, sizeof(w->product_code), "%s",
		 q->product_code);
	snprintf(w->subject, sizeof(w->subject), "%s", q->subject);
	snprintf(w->buyer_id, sizeof(w->buyer_id), "%s", q->buyer_id);
	snprintf(w->bank_code, sizeof(w->bank_code), "%s", q->bank_code);
	if (n >= 4)
		snprintf(w->card_last4, sizeof(w->card_last4), "%s",
			 q->card_no + n - 4);
	w->expire_ms = p->f.now_ms + 1000 * expire_s;
	{
		char *ip = NULL;

		evhttp_connection_get_peer(
			evhttp_request_get_connection(p->r->req), &ip,
			&(ev_uint16_t){ 0 });
		snprintf(w->client_ip, sizeof(w->client_ip), "%s",
			 ip ? ip : "");
	}
}

static void card_protect(struct pay *p)
{
	const struct pr_config *cfg = p->gen->config;
	size_t n = strlen(p->req.card_no);
	unsigned char mac[32];
	char *hex;

	if (!n || !cfg->has_secret_key)
		return;
	if (pr_hmac_sha256(cfg->secret_key, sizeof(cfg->secret_key),
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
	json_t *body;

	body = pr_api_read_body(p->r);
	if (!body) {
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
	if (p->req.notify_url[0] &&
	    pr_outbox_url_check(cfg, p->req.notify_url, err, sizeof(err))) {
		json_decref(body);
		pr_api_reply_field(p->r, "notify_url", "notify_url: %s", err);
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
		pr_api_reply_err(p->r, 500, "internal", NULL, "out of memory");
		pay_free(p);
		return;
	}
	explicit_bzero(canon, strlen(canon)); /* it may hold a card number */
	free(canon);
	snprintf(p->req_hash, sizeof(p->req_hash), "%s", hex);
	free(hex);
	card_protect(p);
	p->f.ops = &pay_ops;
	p->f.r = p->r;
	p->f.d = p->d;
	p->f.gen = p->gen;
	p->f.row = &p->row.c;
	p->f.now_ms = pr_now_ms();
	p->f.bank_code = p->req.bank_code;
	snprintf(p->f.locale, sizeof(p->f.locale), "%s", p->locale);
	if (pr_idem_read(p->r, p->merchant, "/v1/payments", p->req_hash,
			 &p->f.idem) < 0) {
		pay_free(p);
		return;
	}
	pay_row_init(p);
	pr_flow_start(&p->f);
}

/* ------------------------------------------------------- reads, close */

static void reply_row(struct pay *p, int status, const struct pr_pay_row *row)
{
	json_t *j = pr_payment_kind.render(row, p->locale);

	if (!j)
		pr_api_reply_err(p->r, 500, "internal", NULL, "out of memory");
	else
		pr_request_reply(p->r, status, j);
}

static void on_got(void *row, const char *err, void *arg)
{
	struct pay *p = arg;

	if (err)
		reply_store_down(p->r, "reading the payment");
	else if (!row)
		pr_api_reply_err(p->r, 404, "not_found", NULL,
				 "no such payment");
	else
		reply_row(p, 200, row);
	pay_free(p);
}

static void on_close_recorded(int rc, enum pr_apply_result result, int from,
			      void *row, const char *err, void *arg)
{
	struct pay *p = arg;
	struct pr_pay_row *w = row;

	(void)from;
	(void)err;
	if (rc < 0) {
		reply_store_down(p->r, "recording the close");
	} else if (result != PR_APPLY_CHANGED && w->c.status != PR_PAY_CLOSED) {
		pr_request_reply(
			p->r, 409,
			json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				  "payment_final", "message",
				  "the payment reached a final state before "
				  "the close",
				  "status",
				  pr_pay_status_name(
					  (enum pr_pay_status)w->c.status)));
	} else {
		reply_row(p, 200, w);
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
	struct pr_order_update u = { 0 };
	static const char now_sql[] =
		"UPDATE order_checks SET next_at = now() "
		"WHERE kind = 'payment' AND order_id = $1 AND NOT attention";
	const char *params[1] = { p->row.c.id };

	if (c->code->effect == PAYROUTE_EFFECT_CLOSED) {
		u.id = p->row.c.id;
		u.from = PR_FROM(PR_PAY_PROCESSING) | PR_FROM(PR_PAY_UNKNOWN);
		u.to = PR_PAY_CLOSED;
		u.event = "close";
		u.code = pr_code_core("ORDER_CLOSED");
		u.res = &c->res;
		if (pr_order_apply(p->d, &pr_payment_kind, &u,
				   on_close_recorded, p) < 0) {
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

static void on_close_loaded(void *row, const char *err, void *arg)
{
	struct pay *p = arg;
	struct pr_pay_row *w = row;
	const struct pr_channel *ch;
	const struct pr_chan_spec *spec;
	long ci;

	if (err || !w) {
		on_got(row, err, arg);
		return;
	}
	switch (w->c.status) {
	case PR_PAY_CLOSED:
		reply_row(p, 200, w);
		pay_free(p);
		return;
	case PR_PAY_SUCCEEDED:
	case PR_PAY_FAILED:
		pr_request_reply(
			p->r, 409,
			json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				  "payment_final", "message",
				  "the payment is final and cannot be closed",
				  "status",
				  pr_pay_status_name(
					  (enum pr_pay_status)w->c.status)));
		pay_free(p);
		return;
	case PR_PAY_CREATED:
		pr_api_reply_err(p->r, 409, "payment_in_progress", NULL,
				 "the payment is still being sent; retry the "
				 "close in a moment");
		pay_free(p);
		return;
	default:
		break;
	}
	p->row = *w;
	w->payer = NULL; /* p->row's now */
	ch = pr_gen_channel(p->gen, p->row.c.channel);
	ci = pr_catalogue_find(&p->gen->cat, p->row.c.channel);
	spec = ci >= 0 ? &p->gen->cat.chans[ci] : NULL;
	if (!ch) {
		pr_api_reply_err(p->r, 409, "channel_unavailable", NULL,
				 "channel %s is not configured any more; the "
				 "payment cannot be closed at the channel",
				 p->row.c.channel);
		pay_free(p);
		return;
	}
	pr_pay_order(&p->row, p->gen->config, spec, &p->f.order,
		     p->f.notify_buf, sizeof(p->f.notify_buf));
	if (pr_chan_call(p->d, p->gen, ch, PR_OP_CLOSE, &p->f.order,
			 on_close_call, p) < 0) {
		pr_api_reply_err(p->r, 500, "internal", NULL, "out of memory");
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

static const char by_no_sql[] =
	"SELECT " PR_PAY_COLS ", m.locale "
	"FROM payments x JOIN merchants m ON m.id = x.merchant_id "
	"WHERE x.merchant_id = $1 AND x.merchant_order_no = $2";

/* Frees a request refused at authentication. */
static void authed_drop(void *arg)
{
	struct authed *a = arg;

	pay_free(a->p);
	free(a);
}

static void on_auth(const struct pr_merchant *m, void *arg)
{
	struct authed *a = arg;
	struct pay *p = a->p;
	int rc = 0;

	snprintf(p->merchant, sizeof(p->merchant), "%s", m->id);
	snprintf(p->locale, sizeof(p->locale), "%s", m->locale);
	switch (a->action) {
	case A_CREATE:
		create_payment(p);
		break;
	case A_GET:
		rc = pr_order_load(p->d, &pr_payment_kind, a->id, p->merchant,
				   on_got, p);
		break;
	case A_LIST:
		rc = pr_order_load_sql(p->d, &pr_payment_kind, by_no_sql, 2,
				       (const char *[]){ p->merchant,
							 a->order_no },
				       on_got, p);
		break;
	case A_CLOSE:
		rc = pr_order_load(p->d, &pr_payment_kind, a->id, p->merchant,
				   on_close_loaded, p);
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

/* Starts action for r: its state, then the merchant's authentication;
 * on_auth goes on. id and order_no as the action needs them, else NULL. */
static void begin(struct pr_request *r, enum action action, const char *id,
		  const char *order_no)
{
	struct authed *a = calloc(1, sizeof(*a));
	struct pay *p = calloc(1, sizeof(*p));

	if (!a || !p) {
		free(a);
		free(p);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	p->r = r;
	p->d = r->d;
	p->gen = r->gen;
	a->p = p;
	a->action = action;
	snprintf(a->id, sizeof(a->id), "%s", id ? id : "");
	snprintf(a->order_no, sizeof(a->order_no), "%s",
		 order_no ? order_no : "");
	pr_merchant_request(r, on_auth, authed_drop, a);
}

/* 1 when id can name a payment; 0 after answering 404. */
static int payment_id_or_404(struct pr_request *r, const char *id)
{
	if (strlen(id) >= sizeof(((struct authed *)NULL)->id)) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such payment");
		return 0;
	}
	if (!id_ok(id)) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such payment: %s", id);
		return 0;
	}
	return 1;
}

/* POST /v1/payments */
void pr_payments_create(struct pr_request *r, const struct pr_route_match *m)
{
	begin(r, A_CREATE, NULL, NULL);
}

/* GET /v1/payments?merchant_order_no=NO */
void pr_payments_find(struct pr_request *r, const struct pr_route_match *m)
{
	char no[sizeof(((struct authed *)NULL)->order_no)];

	if (pr_api_query_param(r, "merchant_order_no", no, sizeof(no)) < 0)
		pr_api_reply_field(r, "merchant_order_no",
				   "merchant_order_no: required query "
				   "parameter (GET "
				   "/v1/payments?merchant_order_no=...)");
	else
		begin(r, A_LIST, NULL, no);
}

/* GET /v1/payments/{id} */
void pr_payments_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");

	if (payment_id_or_404(r, id))
		begin(r, A_GET, id, NULL);
}

/* POST /v1/payments/{id}/close */
void pr_payments_close(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");

	if (payment_id_or_404(r, id))
		begin(r, A_CLOSE, id, NULL);
}

/* ----------------------------------------------------------- admin side */

static void on_admin_payment(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_error_t jerr;
	json_t *j;

	if (!res) {
		pr_warn("payments: reading a payment failed: %s", err);
		reply_store_down(r, "reading the payment");
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such payment");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "bad JSON from the store");
		return;
	}
	pr_request_reply(r, 200, j);
}

static void on_attention(PGresult *res, const char *err, void *arg)
{
	on_admin_payment(res, err, arg);
}

/* The order's history: its first event and first answer, when its row
 * says them, and its events (flow.h); its check and notifications
 * (orderadmin.h). */
#define PAY_HISTORY PR_ORDER_HISTORY("payment", "p")
#define PAY_FOLLOW_UPS PR_ORDER_FOLLOW_UPS("payment", "p")
static const char pay_sql[] =
	"SELECT jsonb_build_object("
	"'payment', to_jsonb(p) - 'card_hmac' - 'request_hash' - "
	"'created_by' - 'answer_id' - 'answer_at' - 'answer_by' - "
	"'answer_to', "
	"'events', " PAY_HISTORY ", " PAY_FOLLOW_UPS ")::text "
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

/* GET /admin/v1/orders/attention */
void pr_payments_attention(struct pr_request *r, const struct pr_route_match *m)
{
	if (pr_db_query(r->d->db, attention_sql, 0, NULL, on_attention, r) < 0)
		reply_store_down(r, "listing orders");
}

/* GET /admin/v1/payments/{id} */
void pr_payments_admin_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *params[1] = { pr_route_param(m, "id") };

	if (!id_ok(params[0])) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such payment");
		return;
	}
	if (pr_db_query(r->d->db, pay_sql, 1, params, on_admin_payment, r) < 0)
		reply_store_down(r, "reading the payment");
}
