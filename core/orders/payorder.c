/*
 * payorder.c - the payment as an order kind (payorder.h).
 *
 * The check (a "supplementary order"): load the payment; a final one only
 * loses its check row. Ask the channel (query). success / failed / closed
 * settle it (the transition drops the check row and queues the merchant
 * notification); processing stays processing until its expiry, and is then
 * closed at the channel (closed, reservation given back); an unknown
 * answer (not answered, not mapped, the channel does not know the order
 * yet) is asked again on the schedule. An order the channel does not know
 * after its expiry (plus a minute's grace for clocks) cannot be paid any
 * more and is closed too.
 *
 * A callback moves the payment to the status its code's effect leads to,
 * in one statement (pr_order_callback).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "orders/orders.h"
#include "orders/payorder.h"

#define EXPIRY_GRACE_MS 60000

/* ------------------------------------------------------------- the row */

static int pay_row_read(PGresult *res, int r, int col, int with_locale,
			void *row)
{
	struct pr_pay_row *p = row;
	int k = col + PR_ORDER_NCOLS;

	if (pr_order_common_read(&pr_payment_kind, res, r, col, &p->c) < 0 ||
	    PQnfields(res) < k + 10 + with_locale)
		return -EPROTO;
	pr_col_copy(p->method, sizeof(p->method), res, r, k + 0);
	pr_col_copy(p->environment, sizeof(p->environment), res, r, k + 1);
	pr_col_copy(p->product_code, sizeof(p->product_code), res, r, k + 2);
	pr_col_copy(p->subject, sizeof(p->subject), res, r, k + 3);
	pr_col_copy(p->buyer_id, sizeof(p->buyer_id), res, r, k + 4);
	pr_col_copy(p->bank_code, sizeof(p->bank_code), res, r, k + 5);
	pr_col_copy(p->client_ip, sizeof(p->client_ip), res, r, k + 6);
	pr_col_copy(p->card_last4, sizeof(p->card_last4), res, r, k + 7);
	p->expire_ms = pr_col_i64(res, r, k + 8);
	if (!PQgetisnull(res, r, k + 9)) {
		p->payer = json_loads(PQgetvalue(res, r, k + 9), 0, NULL);
		if (!p->payer)
			return -EPROTO;
	}
	if (with_locale)
		pr_col_copy(p->c.locale, sizeof(p->c.locale), res, r, k + 10);
	return 0;
}

static void pay_row_clear(void *row)
{
	struct pr_pay_row *p = row;

	json_decref(p->payer);
	p->payer = NULL;
}

/* The merchant JSON of a payment (doc/design.md §9): the answer of the
 * merchant API and the body of its notifications. */
static json_t *pay_render(const void *row, const char *locale)
{
	const struct pr_pay_row *p = row;
	const struct pr_order_common *c = &p->c;
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "merchant_order_no",
			    json_string(c->merchant_no));
	json_object_set_new(o, "status",
			    json_string(c->status == PR_PAY_CREATED ?
						"processing" :
						pr_pay_status_name(c->status)));
	pr_json_put_str(o, "channel", c->channel);
	json_object_set_new(o, "amount", json_integer(c->amount));
	json_object_set_new(o, "currency", json_string(c->currency));
	json_object_set_new(o, "method", json_string(p->method));
	pr_json_put_str(o, "environment", p->environment);
	pr_json_put_code(o, c->code, c->message_en, c->message_zh,
			 locale && locale[0] ? locale : c->locale);
	pr_json_put_str(o, "channel_trade_no", c->channel_trade_no);
	if (p->payer)
		json_object_set(o, "payer", p->payer);
	pr_json_put_str(o, "card_last4", p->card_last4);
	json_object_set_new(o, "expire_at", pr_json_time(p->expire_ms));
	json_object_set_new(o, "created_at", pr_json_time(c->created_ms));
	if (c->finished_ms > 0)
		json_object_set_new(o, "finished_at",
				    pr_json_time(c->finished_ms));
	return o;
}

/* The kind's own SET items of a change (PR_APPLY_SQL's EXTRA, $21 the
 * payer data of an answer). */
#define PAY_APPLY_EXTRA "payer = coalesce($21::jsonb, t.payer), "

const struct pr_order_kind pr_payment_kind = {
	.name = "payment",
	.machine = &pr_pay_machine,
	.st_processing = PR_PAY_PROCESSING,
	.st_unknown = PR_PAY_UNKNOWN,
	.st_succeeded = PR_PAY_SUCCEEDED,
	.st_failed = PR_PAY_FAILED,
	.apply_sql = PR_APPLY_SQL(
		"payments", "payment", "'succeeded', 'failed', 'closed'",
		"'processing', 'unknown'", "'failed', 'closed'",
		PAY_APPLY_EXTRA, PR_PAY_COLS),
	.apply_lean_sql = PR_APPLY_LEAN_SQL(
		"payments", "payment", "'succeeded', 'failed', 'closed'",
		"'failed', 'closed'", PAY_APPLY_EXTRA, PR_PAY_COLS),
	.apply_answer_sql = PR_APPLY_ANSWER_SQL(
		"payments", "payment", "'succeeded', 'failed', 'closed'",
		"'failed', 'closed'", PAY_APPLY_EXTRA, PR_PAY_COLS),
	.apply_fast_sql = PR_APPLY_FAST_SQL("payments", PAY_APPLY_EXTRA),
	.apply_final_sql = PR_APPLY_FINAL_SQL(
		"payments", "payment", "'succeeded', 'failed', 'closed'",
		"'failed', 'closed'", PAY_APPLY_EXTRA, PR_PAY_COLS),
	.apply_extra = PR_EXTRA_PAYER,
	.table = "payments",
	.cols = PR_PAY_COLS,
	.load_sql = "SELECT " PR_PAY_COLS ", m.locale "
		    "FROM payments x JOIN merchants m ON m.id = x.merchant_id "
		    "WHERE x.id = $1 AND ($2::text IS NULL OR "
		    "x.merchant_id = $2)",
	.row_size = sizeof(struct pr_pay_row),
	.row_read = pay_row_read,
	.row_clear = pay_row_clear,
	.render = pay_render,
};

void pr_pay_order(const struct pr_pay_row *p, const struct pr_config *cfg,
		  const struct pr_chan_spec *c, struct payroute_order *o,
		  char *notify_buf, size_t notify_len)
{
	const struct pr_bank_map *bm = NULL;

	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->order_id = p->c.id;
	o->channel_trade_no = p->c.channel_trade_no[0] ? p->c.channel_trade_no :
							 NULL;
	o->amount = p->c.amount;
	memcpy(o->currency, p->c.currency, sizeof(o->currency));
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
	o->notify_url = pr_notify_url(cfg, c ? c->code : p->c.channel,
				      notify_buf, notify_len);
	o->client_ip = p->client_ip[0] ? p->client_ip : NULL;
	o->created_at_ms = p->c.created_ms;
	o->expire_at_ms = p->expire_ms;
}

/* ----------------------------------------------------------- the check */

struct pay_check {
	struct pr_check *k;
	struct pr_pay_row row;
	const struct pr_channel *ch;
	const struct pr_chan_spec *spec;
	struct payroute_order order;
	char notify_buf[512];
};

static void check_end(struct pay_check *pc, int final, int keep_going,
		      int delay_s, const char *result)
{
	struct pr_check *k = pc->k;
	struct pr_check_end e = { 0 };

	e.final = final;
	e.keep_going = keep_going;
	e.delay_s = delay_s;
	e.result = result;
	pay_row_clear(&pc->row);
	free(pc);
	pr_check_done(k, &e);
}

static int64_t expiry_left_s(const struct pay_check *pc)
{
	int64_t left = pc->row.expire_ms + EXPIRY_GRACE_MS - pr_now_ms();

	return left <= 0 ? 0 : left / 1000 + 1;
}

static void on_applied(int rc, enum pr_apply_result result, int from, void *row,
		       const char *err, void *arg)
{
	struct pay_check *pc = arg;
	struct pr_pay_row *p = row;
	char text[128];

	if (rc < 0) {
		snprintf(text, sizeof(text), "store error: %s",
			 err ? err : "?");
		check_end(pc, 0, 1, 0, text);
		return;
	}
	if (result == PR_APPLY_CHANGED)
		pr_info("completion: payment %s: %s -> %s (%s)", p->c.id,
			pr_pay_status_name((enum pr_pay_status)from),
			pr_pay_status_name((enum pr_pay_status)p->c.status),
			p->c.code);
	if (pr_pay_status_final((enum pr_pay_status)p->c.status)) {
		check_end(pc, 1, 0, 0, p->c.code);
		return;
	}
	snprintf(text, sizeof(text), "%s", p->c.code);
	check_end(pc, 0, p->c.status == PR_PAY_PROCESSING,
		  p->c.status == PR_PAY_PROCESSING ? (int)expiry_left_s(pc) : 0,
		  text);
}

/* Applies a channel answer to the payment. */
static void check_apply(struct pay_check *pc, struct pr_call *cl,
			enum pr_pay_status to, const struct pr_code *code,
			const char *event)
{
	struct pr_order_update u = { 0 };
	json_t *detail = json_pack("{s:s,s:s}", "channel", pc->row.c.channel,
				   "code", code->unified);
	json_t *payer = NULL;
	int rc;

	if (cl && cl->end == PR_CALL_ANSWER) {
		json_object_set_new(detail, "channel_code",
				    json_string(cl->res.code));
		json_object_set_new(detail, "channel_sub_code",
				    json_string(cl->res.sub_code));
		if (cl->payer.n > 0)
			payer = pr_kv_to_json(&cl->payer);
	}
	u.id = pc->row.c.id;
	u.from = PR_FROM(PR_PAY_PROCESSING) | PR_FROM(PR_PAY_UNKNOWN);
	u.to = to;
	u.event = event;
	u.detail = detail;
	u.code = code;
	u.res = cl && cl->end == PR_CALL_ANSWER ? &cl->res : NULL;
	u.payer = payer;
	u.check_s = 1;
	rc = pr_order_apply(pc->k->d, &pr_payment_kind, &u, on_applied, pc);
	json_decref(detail);
	json_decref(payer);
	if (rc < 0)
		check_end(pc, 0, 1, 0, "store unavailable");
}

static void on_close(struct pr_call *cl, void *arg)
{
	struct pay_check *pc = arg;
	const struct pr_code *code = cl->code;
	char text[300];

	if (cl->end == PR_CALL_ANSWER &&
	    (code->effect == PAYROUTE_EFFECT_CLOSED ||
	     strcmp(code->unified, "ORDER_NOT_EXIST") == 0)) {
		pr_info("completion: payment %s expired: closed at channel %s",
			pc->row.c.id, pc->row.c.channel);
		check_apply(pc, cl, PR_PAY_CLOSED,
			    pr_code_core("ORDER_EXPIRED"), "expire");
		return;
	}
	/* Paid meanwhile, or no answer: ask again soon. */
	snprintf(text, sizeof(text), "close after expiry: %s%s%s",
		 code->unified, cl->detail[0] ? ": " : "", cl->detail);
	check_end(pc, 0, 1, pc->k->gen->config->completion_s[0], text);
}

static void check_close(struct pay_check *pc)
{
	if (pr_chan_call(pc->k->d, pc->k->gen, pc->ch, PR_OP_CLOSE, &pc->order,
			 on_close, pc) < 0)
		check_end(pc, 0, 1, 0, "out of memory");
}

static void on_query(struct pr_call *cl, void *arg)
{
	struct pay_check *pc = arg;
	const struct pr_code *code = cl->code;
	int processing = pc->row.c.status == PR_PAY_PROCESSING;
	int expired = pr_now_ms() > pc->row.expire_ms + EXPIRY_GRACE_MS;
	char text[300];

	if (cl->end != PR_CALL_ANSWER) {
		snprintf(text, sizeof(text), "%s: %s", code->unified,
			 cl->detail);
		check_end(pc, 0, processing, 0, text);
		return;
	}
	switch (code->effect) {
	case PAYROUTE_EFFECT_SUCCESS:
		if (cl->res.amount >= 0 && cl->res.amount != pc->row.c.amount) {
			pr_err("completion: payment %s: channel %s reports "
			       "amount %lld, the order is %lld: left unknown "
			       "for an operator",
			       pc->row.c.id, pc->row.c.channel,
			       (long long)cl->res.amount,
			       (long long)pc->row.c.amount);
			check_apply(pc, cl, PR_PAY_UNKNOWN,
				    pr_code_core("AMOUNT_MISMATCH"), "check");
			return;
		}
		check_apply(pc, cl, PR_PAY_SUCCEEDED, code, "check");
		return;
	case PAYROUTE_EFFECT_FAILED:
		check_apply(pc, cl, PR_PAY_FAILED, code, "check");
		return;
	case PAYROUTE_EFFECT_CLOSED:
		check_apply(pc, cl, PR_PAY_CLOSED, code, "check");
		return;
	case PAYROUTE_EFFECT_PROCESSING:
		if (expired) {
			check_close(pc);
			return;
		}
		if (!processing) {
			/* Known to the channel, waiting for the payer. */
			check_apply(pc, cl, PR_PAY_PROCESSING, code, "check");
			return;
		}
		snprintf(text, sizeof(text), "%s", code->unified);
		check_end(pc, 0, 1, (int)expiry_left_s(pc), text);
		return;
	case PAYROUTE_EFFECT_UNKNOWN:
	default:
		if (expired && strcmp(code->unified, "ORDER_NOT_EXIST") == 0) {
			check_close(pc);
			return;
		}
		snprintf(text, sizeof(text), "%s%s%s", code->unified,
			 cl->unmapped ? ": " : "",
			 cl->unmapped ? cl->detail : "");
		check_end(pc, 0, processing && !expired,
			  processing ? (int)expiry_left_s(pc) : 0, text);
		return;
	}
}

static void on_check_loaded(void *row, const char *err, void *arg)
{
	struct pay_check *pc = arg;
	struct pr_check *k = pc->k;
	struct pr_pay_row *p = row;
	char text[200];
	long ci;

	if (err) {
		check_end(pc, 0, 1, 0, "store error");
		return;
	}
	if (!p || pr_pay_status_final((enum pr_pay_status)p->c.status) ||
	    p->c.status == PR_PAY_CREATED) {
		/* Nothing to chase (settled meanwhile, or never sent). */
		pr_check_settled(k);
		check_end(pc, 1, 0, 0, "settled");
		return;
	}
	pc->row = *p;
	p->payer = NULL; /* pc->row's now */
	pc->ch = pr_gen_channel(k->gen, pc->row.c.channel);
	ci = pr_catalogue_find(&k->gen->cat, pc->row.c.channel);
	pc->spec = ci >= 0 ? &k->gen->cat.chans[ci] : NULL;
	if (!pc->ch) {
		snprintf(text, sizeof(text), "channel %s is not configured",
			 pc->row.c.channel);
		check_end(pc, 0, 0, 0, text);
		return;
	}
	pr_pay_order(&pc->row, k->gen->config, pc->spec, &pc->order,
		     pc->notify_buf, sizeof(pc->notify_buf));
	if (pr_chan_call(k->d, k->gen, pc->ch, PR_OP_QUERY, &pc->order,
			 on_query, pc) < 0)
		check_end(pc, 0, 1, 0, "out of memory");
}

static void check_payment(struct pr_check *k)
{
	struct pay_check *pc = calloc(1, sizeof(*pc));
	struct pr_check_end e = { 0 };

	if (!pc) {
		e.result = "out of memory";
		pr_check_done(k, &e);
		return;
	}
	pc->k = k;
	if (pr_check_load(k, on_check_loaded, pc) < 0) {
		free(pc);
		e.result = "store unavailable";
		e.keep_going = 1;
		pr_check_done(k, &e);
	}
}

const struct pr_check_kind pr_payment_check = { "payment", check_payment,
						&pr_payment_kind };

/* ----------------------------------------------------------- callbacks */

int pr_payment_callback(struct pr_daemon *d, struct pr_generation *gen,
			const struct pr_channel *ch,
			const struct payroute_notify *nt,
			void (*done)(int ok, void *arg), void *arg)
{
	const struct pr_code *code = pr_order_notify_code(d, gen, ch, nt);

	return pr_order_callback(d, &pr_payment_kind, ch, nt, code,
				 pr_pay_status_for_effect(code->effect), done,
				 arg);
}
