/*
 * refunds.c - refunds by the original route, and the overdue queue.
 *
 * A refund goes to its payment's channel with the driver's refund
 * operation. pr_refund_create (migration 006) creates it in one statement
 * that locks the payment and raises payments.refund_reserved, so the
 * refunds of a payment that are not failed never add up to more than it
 * (a CHECK makes the store refuse it too). Refunds are idempotent by
 * merchant_refund_no: the same body again answers the refund as it is now;
 * another body under the same number is a 409.
 *
 * Before sending: a payment older than its channel's refund window
 * (refund_window_days after it was paid) is not sent; the refund goes to
 * the overdue queue (refund_window_expired). The channel's answer is
 * mapped like any other:
 *
 *   success                 succeeded
 *   processing, unknown     processing: the completion job asks the
 *                           channel (refund_query); past the channel's
 *                           refund_timeout it is overdue (refund_timeout)
 *                           and still asked
 *   failed, with a code that means the original route is gone
 *   (ACCOUNT_CLOSED, REFUND_WINDOW_EXPIRED, CARD_CANCELLED,
 *   CHANNEL_UNAVAILABLE)    overdue (original_route_unavailable): never a
 *                           silent failure
 *   failed                  failed; the reservation is given back
 *
 * Operators see the overdue queue (GET /admin/v1/refunds/overdue) and
 * either resend (where the channel's refund_resend allows; a refund that
 * timed out is resent with the same refund number, which the channel
 * de-duplicates, one the channel refused with a new number) or resolve it
 * with an outcome and a note; both are audited. A refund the channel will
 * not settle (processing, or overdue and refunded after all) is settled by
 * an operator with evidence (pr_refunds_settle, orderadmin.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "runtime/config.h"
#include "runtime/crypto.h"
#include "runtime/generation.h"
#include "orders/approvals.h"
#include "orders/idem.h"
#include "runtime/log.h"
#include "orders/merchants.h"
#include "orders/orderadmin.h"
#include "orders/orders.h"
#include "domain/orderstate.h"
#include "orders/ordstore.h"
#include "orders/outbox.h"
#include "domain/payreq.h"
#include "orders/refunds.h"
#include "domain/rfreq.h"

/* The refund state machine is pr_rf_machine (orderstate.c; migration 006
 * has the same table, t_refunds checks both). */
static const char *rf_name(enum pr_rf_status s)
{
	return pr_state_name(&pr_rf_machine, (int)s);
}

static int rf_parse(const char *s, enum pr_rf_status *out)
{
	int st = pr_state_parse(&pr_rf_machine, s);

	if (st < 0)
		return st;
	*out = (enum pr_rf_status)st;
	return 0;
}

static int rf_final(enum pr_rf_status s)
{
	return pr_state_final(&pr_rf_machine, (int)s);
}

/* Unified codes that mean the original route cannot take the refund. */
static int route_gone(const struct pr_code *c)
{
	static const char *const codes[] = { "ACCOUNT_CLOSED",
					     "REFUND_WINDOW_EXPIRED",
					     "CARD_CANCELLED",
					     "CHANNEL_UNAVAILABLE", NULL };

	for (size_t i = 0; codes[i]; i++)
		if (strcmp(c->unified, codes[i]) == 0)
			return 1;
	return 0;
}

struct pr_refunds {
	struct pr_daemon *d;
	struct event *timer;
	int querying;
	int dead; /* freed while a query was in flight */
	char metrics[4096];
	size_t metrics_len;
};

/* ------------------------------------------------------------ rows */

struct rf_row {
	char id[33];
	char payment_id[33];
	char merchant_id[65];
	char merchant_refund_no[65];
	enum pr_rf_status status;
	char channel[65];
	char request_no[65];
	int64_t amount;
	char currency[4];
	char reason[257];
	char stage[16];
	char borne_by[16];
	char accounting[32];
	char code[65];
	char message_en[256];
	char message_zh[256];
	char channel_refund_no[PAYROUTE_ID_LEN];
	char overdue_reason[40];
	char resolution[32];
	int64_t created_ms;
	int64_t finished_ms;
	int attempts;
	char locale[8];
	/* the payment's */
	char trade_no[PAYROUTE_ID_LEN];
	int64_t pay_amount;
	int64_t paid_ms;
	int64_t pay_created_ms;
	char buyer_id[129];
};

#define MS(x) "coalesce((extract(epoch FROM " x ") * 1000)::bigint, 0)"
#define RF_COLS                                                                                    \
	"r.id, r.payment_id, r.merchant_id, r.merchant_refund_no, r.status, "                      \
	"r.channel, r.request_no, r.amount, r.currency, "                                          \
	"coalesce(r.reason, ''), r.stage, r.borne_by, r.accounting, "                              \
	"coalesce(r.code, ''), coalesce(r.message_en, ''), "                                       \
	"coalesce(r.message_zh, ''), coalesce(r.channel_refund_no, ''), "                          \
	"coalesce(r.overdue_reason, ''), coalesce(r.resolution, ''), " MS("r.created_at") ", " MS( \
		"r.finished_at") ", r.attempts, "                                                  \
				 "m.locale, "                                                      \
				 "coalesce(p.channel_"                                             \
				 "trade_no, ''), "                                                 \
				 "p.amount, " MS(                                                  \
					 "p.finished_"                                             \
					 "at") ", " MS("p.created_"                                \
						       "at") ", "                                  \
							     "coalesce(p."                         \
							     "buyer_id, '')"
#define RF_NCOLS 28
/* The joins RF_COLS reads from, after a refunds row aliased r. */
#define RF_JOINS                                                               \
	" JOIN payments p ON p.id = r.payment_id "                             \
	"JOIN merchants m ON m.id = r.merchant_id"

static int rf_read(PGresult *res, int row, int c, struct rf_row *r)
{
	memset(r, 0, sizeof(*r));
	if (PQnfields(res) < c + RF_NCOLS)
		return -EPROTO;
	pr_col_copy(r->id, sizeof(r->id), res, row, c + 0);
	pr_col_copy(r->payment_id, sizeof(r->payment_id), res, row, c + 1);
	pr_col_copy(r->merchant_id, sizeof(r->merchant_id), res, row, c + 2);
	pr_col_copy(r->merchant_refund_no, sizeof(r->merchant_refund_no), res,
		    row, c + 3);
	if (rf_parse(PQgetvalue(res, row, c + 4), &r->status) < 0)
		return -EPROTO;
	pr_col_copy(r->channel, sizeof(r->channel), res, row, c + 5);
	pr_col_copy(r->request_no, sizeof(r->request_no), res, row, c + 6);
	r->amount = pr_col_i64(res, row, c + 7);
	pr_col_copy(r->currency, sizeof(r->currency), res, row, c + 8);
	pr_col_copy(r->reason, sizeof(r->reason), res, row, c + 9);
	pr_col_copy(r->stage, sizeof(r->stage), res, row, c + 10);
	pr_col_copy(r->borne_by, sizeof(r->borne_by), res, row, c + 11);
	pr_col_copy(r->accounting, sizeof(r->accounting), res, row, c + 12);
	pr_col_copy(r->code, sizeof(r->code), res, row, c + 13);
	pr_col_copy(r->message_en, sizeof(r->message_en), res, row, c + 14);
	pr_col_copy(r->message_zh, sizeof(r->message_zh), res, row, c + 15);
	pr_col_copy(r->channel_refund_no, sizeof(r->channel_refund_no), res,
		    row, c + 16);
	pr_col_copy(r->overdue_reason, sizeof(r->overdue_reason), res, row,
		    c + 17);
	pr_col_copy(r->resolution, sizeof(r->resolution), res, row, c + 18);
	r->created_ms = pr_col_i64(res, row, c + 19);
	r->finished_ms = pr_col_i64(res, row, c + 20);
	r->attempts = (int)pr_col_i64(res, row, c + 21);
	pr_col_copy(r->locale, sizeof(r->locale), res, row, c + 22);
	pr_col_copy(r->trade_no, sizeof(r->trade_no), res, row, c + 23);
	r->pay_amount = pr_col_i64(res, row, c + 24);
	r->paid_ms = pr_col_i64(res, row, c + 25);
	r->pay_created_ms = pr_col_i64(res, row, c + 26);
	pr_col_copy(r->buyer_id, sizeof(r->buyer_id), res, row, c + 27);
	return 0;
}

/* The merchant JSON of a refund (doc/design.md §9): the answer of the
 * merchant API and the body of its notifications. */
static json_t *rf_render(const struct rf_row *r)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "payment_id", json_string(r->payment_id));
	json_object_set_new(o, "merchant_refund_no",
			    json_string(r->merchant_refund_no));
	json_object_set_new(o, "status",
			    json_string(r->status == PR_RF_CREATED ?
						"processing" :
						rf_name(r->status)));
	json_object_set_new(o, "amount", json_integer(r->amount));
	json_object_set_new(o, "currency", json_string(r->currency));
	pr_json_put_str(o, "reason", r->reason);
	json_object_set_new(o, "stage", json_string(r->stage));
	json_object_set_new(o, "borne_by", json_string(r->borne_by));
	json_object_set_new(o, "accounting", json_string(r->accounting));
	json_object_set_new(o, "channel", json_string(r->channel));
	pr_json_put_code(o, r->code, r->message_en, r->message_zh, r->locale);
	pr_json_put_str(o, "channel_refund_no", r->channel_refund_no);
	pr_json_put_str(o, "overdue_reason", r->overdue_reason);
	pr_json_put_str(o, "resolution", r->resolution);
	json_object_set_new(o, "created_at", pr_json_time(r->created_ms));
	if (r->finished_ms > 0)
		json_object_set_new(o, "finished_at",
				    pr_json_time(r->finished_ms));
	return o;
}

/* Answers r with refund row (a status of 200 or 201). */
static void reply_refund(struct pr_request *r, int status,
			 const struct rf_row *row)
{
	json_t *j = rf_render(row);

	if (!j)
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
	else
		pr_request_reply(r, status, j);
}

typedef void (*rf_load_cb)(struct rf_row *r, const char *err, void *arg);

struct rf_load {
	rf_load_cb cb;
	void *arg;
};

static void on_rf_load(PGresult *res, const char *err, void *arg)
{
	struct rf_load *l = arg;
	struct rf_row r;

	if (!res) {
		l->cb(NULL, err ? err : "store error", l->arg);
	} else if (PQntuples(res) == 0) {
		l->cb(NULL, NULL, l->arg);
	} else if (rf_read(res, 0, 0, &r) < 0) {
		l->cb(NULL, "the store gave a malformed refund row", l->arg);
	} else {
		l->cb(&r, NULL, l->arg);
	}
	free(l);
}

/* Loads one refund: by "id", "request_no" or "merchant_refund_no" (with
 * merchant). merchant may be NULL (any). */
static int rf_load(struct pr_daemon *d, const char *by, const char *value,
		   const char *merchant, rf_load_cb cb, void *arg)
{
	char sql[2048];
	const char *p[2] = { value, merchant };
	struct rf_load *l;

	if (strcmp(by, "id") != 0 && strcmp(by, "request_no") != 0 &&
	    strcmp(by, "merchant_refund_no") != 0)
		return -EINVAL;
	snprintf(
		sql, sizeof(sql),
		"SELECT " RF_COLS " FROM refunds r" RF_JOINS
		" WHERE r.%s = $1 AND ($2::text IS NULL OR r.merchant_id = $2)",
		by);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	if (pr_db_query(d->db, sql, 2, p, on_rf_load, l) < 0) {
		free(l);
		return -EAGAIN;
	}
	return 0;
}

struct rf_json_load {
	pr_order_json_cb cb;
	void *arg;
};

static void on_rf_json_loaded(struct rf_row *row, const char *err, void *arg)
{
	struct rf_json_load *l = arg;
	json_t *j = NULL;

	if (row) {
		j = rf_render(row);
		if (!j)
			err = "out of memory";
	}
	l->cb(j, err, l->arg);
	free(l);
}

int pr_refund_json_load(struct pr_daemon *d, const char *id,
			pr_order_json_cb cb, void *arg)
{
	struct rf_json_load *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	rc = rf_load(d, "id", id, NULL, on_rf_json_loaded, l);
	if (rc < 0)
		free(l);
	return rc;
}

/* ------------------------------------------------------ transitions */

struct rf_update {
	const char *id;
	unsigned from; /* bits of enum pr_rf_status */
	enum pr_rf_status to;
	const char *event;
	json_t *detail;
	const struct pr_code *code;
	const struct payroute_result *res;
	const char *overdue_reason;
	const char *request_no; /* a new attempt's number */
	const char *actor;	/* NULL: this instance */
	const char *resolution;
	const char *resolution_note;
	const char *withdrawal;
	const char *idem_key; /* the answer kept under the key */
	const char *idem_body;
};

/* Called with the refund after the change (changed: this call moved it),
 * or rc < 0 and err. */
typedef void (*rf_update_cb)(int rc, int changed, enum pr_rf_status from,
			     struct rf_row *r, const char *err, void *arg);

struct rf_upd {
	struct pr_daemon *d;
	rf_update_cb cb;
	void *arg;
};

static void on_rf_transition(PGresult *res, const char *err, void *arg)
{
	struct rf_upd *u = arg;
	enum pr_rf_status from = PR_RF_CREATED;
	struct rf_row r;
	int changed;

	if (!res || PQntuples(res) != 1) {
		if (u->cb)
			u->cb(-EIO, 0, from, NULL,
			      res ? "no such refund" :
			      err ? err :
				    "store error",
			      u->arg);
		free(u);
		return;
	}
	changed = strcmp(PQgetvalue(res, 0, 0), "changed") == 0;
	if (rf_parse(PQgetvalue(res, 0, 1), &from) < 0 ||
	    rf_read(res, 0, 2, &r) < 0) {
		if (u->cb)
			u->cb(-EPROTO, 0, from, NULL, "malformed refund row",
			      u->arg);
		free(u);
		return;
	}
	if (changed && rf_final(r.status) && u->d->outbox)
		pr_outbox_kick(u->d->outbox);
	if (changed && (rf_final(r.status) ||
			(r.status == PR_RF_OVERDUE && from != PR_RF_OVERDUE)))
		pr_chanstats_order(u->d->chanstats, "refund", r.channel,
				   rf_name(r.status), r.code, pr_now_ms());
	if (changed && r.status == PR_RF_OVERDUE && from != PR_RF_OVERDUE)
		pr_warn("refund %s (payment %s, %lld %s on %s) is overdue: %s",
			r.id, r.payment_id, (long long)r.amount, r.currency,
			r.channel, r.overdue_reason);
	if (u->cb)
		u->cb(0, changed, from, &r, NULL, u->arg);
	free(u);
}

/* Applies u (pr_refund_apply, migration 008). Returns 0 or -EAGAIN /
 * -ENOMEM / -EINVAL (cb not called). */
static int rf_update(struct pr_daemon *d, const struct rf_update *u,
		     rf_update_cb cb, void *arg)
{
	static const char sql[] =
		"SELECT t.r_result, t.r_from, " RF_COLS
		" FROM pr_refund_apply($1, $2::text[], $3, $4, $5, $6::jsonb, "
		"$7::bigint, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
		"$17::int, $18, $19, $20, $21, $22) t "
		"CROSS JOIN LATERAL (SELECT (t.r_row).*) r" RF_JOINS;
	const struct payroute_result *res = u->res;
	const struct pr_code *c = u->code;
	char from[128], check[16], now[24], *detail = NULL;
	const char *p[22];
	struct rf_upd *x;
	int rc = 0;

	if (!pr_state_set_literal(&pr_rf_machine, u->from, from, sizeof(from)))
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->d = d;
	x->cb = cb;
	x->arg = arg;
	if (u->detail)
		detail = json_dumps(u->detail, JSON_COMPACT);
	snprintf(check, sizeof(check), "%d",
		 (int)d->gen->config->completion_s[0]);
	snprintf(now, sizeof(now), "%lld", (long long)pr_now_ms());
	p[0] = u->id;
	p[1] = from;
	p[2] = rf_name(u->to);
	p[3] = u->actor ? u->actor : d->gen->config->instance;
	p[4] = u->event;
	p[5] = detail;
	p[6] = now;
	p[7] = c ? c->unified : NULL;
	p[8] = c ? c->message_en : NULL;
	p[9] = c ? c->message_zh : NULL;
	p[10] = c && res ? res->code : NULL;
	p[11] = c && res ? res->sub_code : NULL;
	p[12] = c && res ? res->message : NULL;
	p[13] = res ? res->channel_trade_no : NULL;
	p[14] = u->overdue_reason;
	p[15] = u->request_no;
	p[16] = check;
	p[17] = u->resolution;
	p[18] = u->resolution_note;
	p[19] = u->withdrawal;
	p[20] = u->idem_key;
	p[21] = u->idem_key ? u->idem_body : NULL;
	if (pr_db_query(d->db, sql, 22, p, on_rf_transition, x) < 0) {
		free(x);
		rc = -EAGAIN;
	}
	free(detail);
	return rc;
}

/* How an answer (or a core outcome) moves a refund in `from`. */
static void rf_outcome(const struct pr_call *c, enum pr_rf_status cur,
		       enum pr_rf_status *to, const char **overdue)
{
	*overdue = NULL;
	switch (c->code->effect) {
	case PAYROUTE_EFFECT_SUCCESS:
		*to = PR_RF_SUCCEEDED;
		return;
	case PAYROUTE_EFFECT_FAILED:
		if (route_gone(c->code)) {
			*to = PR_RF_OVERDUE;
			*overdue = "original_route_unavailable";
		} else if (cur == PR_RF_OVERDUE) {
			*to = PR_RF_OVERDUE; /* an operator decides */
		} else {
			*to = PR_RF_FAILED;
		}
		return;
	default:
		*to = cur == PR_RF_OVERDUE ? PR_RF_OVERDUE : PR_RF_PROCESSING;
		return;
	}
}

static void rf_order(const struct rf_row *r, const struct pr_config *cfg,
		     struct payroute_order *o, char *notify, size_t nlen)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->order_id = r->payment_id;
	o->channel_trade_no = r->trade_no[0] ? r->trade_no : NULL;
	o->amount = r->pay_amount;
	memcpy(o->currency, r->currency, sizeof(o->currency));
	o->total_amount = r->pay_amount;
	o->refund_id = r->request_no;
	o->refund_amount = r->amount;
	o->reason = r->reason[0] ? r->reason : NULL;
	o->notify_url = pr_notify_url(cfg, r->channel, notify, nlen);
	o->created_at_ms = r->created_ms;
	o->buyer_id = r->buyer_id[0] ? r->buyer_id : NULL;
}

/* ------------------------------------------------------ sending one */

typedef void (*rf_sent_cb)(int rc, struct rf_row *r, const char *err,
			   void *arg);

struct rf_send {
	struct pr_daemon *d;
	struct pr_generation *gen;
	struct pr_request *r; /* answered by cb: the channel's time is its wait */
	struct rf_row row;
	const char *actor;
	char actor_buf[130];
	struct pr_idem *idem; /* the answer is kept under it, or NULL */
	char *idem_text;
	struct payroute_order order;
	char notify[512];
	rf_sent_cb cb;
	void *arg;
};

static void rf_send_free(struct rf_send *s)
{
	free(s->idem_text);
	pr_gen_unref(s->gen);
	free(s);
}

static void on_rf_applied(int rc, int changed, enum pr_rf_status from,
			  struct rf_row *r, const char *err, void *arg)
{
	struct rf_send *s = arg;

	(void)from;
	if (rc == 0 && changed && s->idem && s->idem->active)
		s->idem->active = 0; /* the answer went with the commit */
	s->cb(rc, r, err, s->arg);
	rf_send_free(s);
}

/* What the answer's commit writes, into s->row: the answer kept under the
 * key is the refund as it will be. */
static void rf_predict(struct rf_send *s, enum pr_rf_status to,
		       const char *overdue, const struct pr_call *c)
{
	struct rf_row *r = &s->row;
	json_t *j;

	r->status = to;
	snprintf(r->code, sizeof(r->code), "%s", c->code->unified);
	snprintf(r->message_en, sizeof(r->message_en), "%s",
		 c->code->message_en);
	snprintf(r->message_zh, sizeof(r->message_zh), "%s",
		 c->code->message_zh);
	if (c->end == PR_CALL_ANSWER && c->res.channel_trade_no[0])
		snprintf(r->channel_refund_no, sizeof(r->channel_refund_no),
			 "%s", c->res.channel_trade_no);
	if (to == PR_RF_OVERDUE && overdue)
		snprintf(r->overdue_reason, sizeof(r->overdue_reason), "%s",
			 overdue);
	r->finished_ms = rf_final(to) ? pr_now_ms() : 0;
	if (!s->idem || !s->idem->active)
		return;
	j = rf_render(r);
	s->idem_text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
}

static void on_refund_call(struct pr_call *c, void *arg)
{
	struct rf_send *s = arg;
	struct rf_update u = { 0 };
	const char *overdue;
	enum pr_rf_status to;
	json_t *detail;
	int rc;

	s->r->wait_us += pr_call_wait_us(c);
	rf_outcome(c, s->row.status, &to, &overdue);
	rf_predict(s, to, overdue, c);
	detail = json_pack("{s:s,s:s,s:s,s:i}", "channel", s->row.channel,
			   "code", c->code->unified, "refund_no",
			   s->row.request_no, "http_status", c->http_status);
	if (c->detail[0])
		json_object_set_new(detail, "detail", json_string(c->detail));
	u.id = s->row.id;
	u.from = PR_FROM(PR_RF_PROCESSING) | PR_FROM(PR_RF_OVERDUE);
	u.to = to;
	u.event = "answer";
	u.detail = detail;
	u.code = c->code;
	u.res = c->end == PR_CALL_ANSWER ? &c->res : NULL;
	u.overdue_reason = overdue;
	u.actor = s->actor;
	if (s->idem_text) {
		u.idem_key = s->idem->key;
		u.idem_body = s->idem_text;
	}
	rc = rf_update(s->d, &u, on_rf_applied, s);
	json_decref(detail);
	if (rc < 0) {
		s->cb(rc, NULL, "store unavailable", s->arg);
		rf_send_free(s);
	}
}

/* The refund is processing on its channel (its attempt recorded): send
 * it. */
static void rf_call(struct rf_send *s)
{
	const struct pr_channel *ch = pr_gen_channel(s->gen, s->row.channel);

	rf_order(&s->row, s->gen->config, &s->order, s->notify,
		 sizeof(s->notify));
	if (!ch || pr_chan_call(s->d, s->gen, ch, PR_OP_REFUND, &s->order,
				on_refund_call, s) < 0) {
		/* Recorded as processing: the completion job asks. */
		s->cb(0, &s->row, NULL, s->arg);
		rf_send_free(s);
	}
}

static void on_rf_processing(int rc, int changed, enum pr_rf_status from,
			     struct rf_row *r, const char *err, void *arg)
{
	struct rf_send *s = arg;

	(void)from;
	if (rc < 0 || !r || !changed) {
		s->cb(rc < 0 ? rc : -EBUSY, r,
		      err ? err : "the refund moved meanwhile", s->arg);
		rf_send_free(s);
		return;
	}
	s->row = *r;
	rf_call(s);
}

/* 1 when a refund of a payment paid at paid_ms is past channel spec's
 * refund window. */
static int past_window(const struct pr_chan_spec *spec, int64_t paid_ms)
{
	return spec && spec->refund_window_days > 0 && paid_ms > 0 &&
	       pr_now_ms() >
		       paid_ms + (int64_t)spec->refund_window_days * 86400000;
}

/* Sends refund r: one just created in processing (its attempt is
 * recorded), or an overdue one re-sent with request_no (NULL: keep its
 * number), first checking the refund window and recording the attempt.
 * With idem, the answer is kept under that key in the answer's commit. cb
 * gets the refund as it is afterwards, and answers req (of which the send
 * uses the daemon and generation). Returns 0 or a negative errno (cb not
 * called). */
static int rf_send(struct pr_request *req, const struct rf_row *r,
		   const char *request_no, const char *actor,
		   struct pr_idem *idem, rf_sent_cb cb, void *arg)
{
	struct pr_daemon *d = req->d;
	struct pr_generation *gen = req->gen;
	long ci = pr_catalogue_find(&gen->cat, r->channel);
	const struct pr_chan_spec *spec = ci >= 0 ? &gen->cat.chans[ci] : NULL;
	struct rf_update u = { 0 };
	struct rf_send *s;
	json_t *detail;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->d = d;
	s->gen = pr_gen_ref(gen);
	s->r = req;
	s->row = *r;
	s->idem = idem;
	s->cb = cb;
	s->arg = arg;
	if (actor) {
		snprintf(s->actor_buf, sizeof(s->actor_buf), "%s", actor);
		s->actor = s->actor_buf;
	}
	if (r->status == PR_RF_PROCESSING) {
		rf_call(s);
		return 0;
	}
	u.id = r->id;
	u.from = PR_FROM(PR_RF_CREATED) | PR_FROM(PR_RF_OVERDUE);
	u.actor = s->actor;
	if (past_window(spec, r->paid_ms)) {
		/* Past the channel's refund window: not sent. */
		u.to = PR_RF_OVERDUE;
		u.event = "window";
		u.overdue_reason = "refund_window_expired";
		u.code = pr_code_core("REFUND_WINDOW_EXPIRED");
		detail = json_pack("{s:s,s:i}", "channel", r->channel,
				   "refund_window_days",
				   spec->refund_window_days);
		u.detail = detail;
		rc = rf_update(d, &u, on_rf_applied, s);
		json_decref(detail);
	} else {
		u.to = PR_RF_PROCESSING;
		u.event = "attempt";
		u.request_no = request_no;
		detail = json_pack("{s:s,s:s}", "channel", r->channel,
				   "refund_no",
				   request_no ? request_no : r->request_no);
		u.detail = detail;
		rc = rf_update(d, &u, on_rf_processing, s);
		json_decref(detail);
	}
	if (rc < 0) {
		s->cb = NULL;
		rf_send_free(s);
	}
	return rc;
}

/* ------------------------------------------------------- merchant API */

struct rq {
	struct pr_request *r;
	char merchant[65];
	char payment_id[64];
	char refund_id[64];
	char refund_no[128];
	int action; /* 0 create, 1 list, 2 get, 3 by number */
};

/* One POST /v1/payments/ID/refunds: its parameters, kept until the
 * answer, and its Idempotency-Key. */
struct create {
	struct pr_request *r;
	struct pr_idem idem;
	char hash[65];
	char id[33], payment[64], merchant[65], no[65], cur[8], reason[257];
	char stage[16], url[1025], amount[24];
};

/* Answers, keeping the answer under the key when it is still in
 * progress, and frees c. */
static void cr_reply(struct create *c, int status, json_t *body)
{
	pr_idem_finish(c->r->d, &c->idem, status, json_incref(body));
	pr_request_reply(c->r, status, body);
	free(c);
}

static void cr_error(struct create *c, int status, const char *code,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void cr_error(struct create *c, int status, const char *code,
		     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cr_reply(c, status,
		 json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			   msg));
}

static void on_created_sent(int rc, struct rf_row *r, const char *err,
			    void *arg)
{
	struct create *c = arg;

	(void)rc;
	if (!r) {
		c->idem.active = 0; /* in progress with its refund */
		cr_error(c, 503, "store_unavailable",
			 "the refund was sent but its outcome could not be "
			 "recorded; query it");
		pr_warn("refunds: recording a refund's answer failed: %s",
			err ? err : "?");
	} else {
		cr_reply(c, 201, rf_render(r));
	}
}

static void on_existing_refund(struct rf_row *row, const char *err, void *arg)
{
	struct create *c = arg;

	if (!row) {
		c->idem.active = 0;
		cr_error(c, 503, "store_unavailable",
			 "the refund cannot be read now%s",
			 err ? "; retry later" : "");
		return;
	}
	cr_reply(c, 200, rf_render(row));
}

static void on_stale_refund(struct rf_row *row, const char *err, void *arg)
{
	struct create *c = arg;

	if (!row) {
		c->idem.active = 0;
		cr_error(c, 503, "store_unavailable",
			 "the refund of this Idempotency-Key cannot be read%s",
			 err ? "; retry later" : "");
		return;
	}
	cr_reply(c, 201, rf_render(row));
}

/* The PR_IDEM_COLS and RF_COLS of pr_refund_begin's answer start here. */
#define CR_KEY_COL 4
#define CR_ROW_COL (CR_KEY_COL + PR_IDEM_NCOLS)

static void on_begun(PGresult *res, const char *err, void *arg)
{
	struct create *c = arg;
	struct pr_request *r = c->r;
	const char *result;
	char order_id[64];
	struct rf_row row;

	if (!res || PQntuples(res) != 1) {
		static const char *const fields[] = { "merchant_refund_no",
						      "merchant_refund_no",
						      "amount",
						      "amount",
						      "currency",
						      "currency",
						      "reason",
						      "reason",
						      "stage",
						      "stage",
						      "notify_url",
						      "notify_url",
						      NULL };
		char field[64];
		int status = !res ? pr_api_store_refusal(err, fields, field,
							 sizeof(field)) :
				    0;

		c->idem.active = 0; /* nothing was kept */
		if (status) {
			/* The request's fault: a 4xx naming the field when
			 * the store names its column; its words go to the
			 * log only. */
			pr_info("refunds: the store refused a refund of "
				"payment %s: %s",
				c->payment, err);
			cr_reply(
				c, status,
				json_pack("{s:{s:s,s:s,s:s?}}", "error", "code",
					  status == 409 ? "conflict" :
							  "invalid_value",
					  "message",
					  "the refund was refused as stored (a "
					  "value out of range or malformed); "
					  "nothing was sent",
					  "field", field[0] ? field : NULL));
			return;
		}
		pr_warn("refunds: creating a refund failed: %s",
			err ? err : "no answer");
		cr_error(c, 503, "store_unavailable",
			 "the refund could not be recorded; nothing was sent; "
			 "retry later");
		return;
	}
	result = PQgetvalue(res, 0, 0);
	if (strcmp(result, "key") == 0) {
		if (!pr_idem_found(r, &c->idem, res, CR_KEY_COL, order_id,
				   sizeof(order_id))) {
			free(c);
			return;
		}
		if (rf_load(r->d, "id", order_id, c->merchant, on_stale_refund,
			    c) < 0) {
			c->idem.active = 0;
			cr_error(c, 503, "store_unavailable",
				 "the store is unavailable");
		}
		return;
	}
	if (strcmp(result, "created") == 0) {
		if (rf_read(res, 0, CR_ROW_COL, &row) < 0) {
			c->idem.active = 0;
			cr_error(c, 500, "internal",
				 "the store gave a malformed refund row");
			return;
		}
		if (row.status != PR_RF_PROCESSING) {
			/* Past the refund window: overdue, not sent. */
			cr_reply(c, 201, rf_render(&row));
			return;
		}
		if (rf_send(r, &row, NULL, NULL, &c->idem, on_created_sent, c) <
		    0) {
			c->idem.active = 0;
			cr_error(c, 503, "store_unavailable",
				 "refund %s is recorded but could not be sent "
				 "now; query it",
				 row.id);
		}
		return;
	}
	if (strcmp(result, "duplicate") == 0) {
		if (strcmp(PQgetvalue(res, 0, 2), c->hash) != 0) {
			cr_error(c, 409, "duplicate_refund",
				 "merchant_refund_no is already used by refund "
				 "%s with another request",
				 PQgetvalue(res, 0, 1));
			return;
		}
		if (rf_load(r->d, "id", PQgetvalue(res, 0, 1), NULL,
			    on_existing_refund, c) < 0) {
			c->idem.active = 0;
			cr_error(c, 503, "store_unavailable",
				 "the store is unavailable");
		}
		return;
	}
	if (strcmp(result, "no_payment") == 0)
		cr_error(c, 404, "not_found", "no such payment");
	else if (strcmp(result, "not_refundable") == 0)
		cr_error(c, 409, "payment_not_refundable",
			 "only a succeeded payment can be refunded");
	else if (strcmp(result, "currency") == 0)
		cr_reply(c, 400,
			 json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				   "invalid_field", "message",
				   "currency: must be the payment's currency",
				   "field", "currency"));
	else
		cr_reply(c, 422,
			 json_pack("{s:{s:s,s:s,s:s,s:I}}", "error", "code",
				   "refund_exceeds_payment", "message",
				   "the refunds of this payment would exceed "
				   "what was paid",
				   "field", "amount", "refundable",
				   (json_int_t)strtoll(PQgetvalue(res, 0, 3),
						       NULL, 10)));
}

/* The first commit (pr_refund_begin): the refund, processing with its
 * attempt and check row, or overdue when the payment is past its
 * channel's refund window (the payment's channel and paid time were just
 * read: neither changes once it is paid). */
static void on_payment(PGresult *res, const char *err, void *arg)
{
	static const char sql[] =
		"SELECT t.r_result, t.r_refund, t.r_hash, t.r_refundable, " PR_IDEM_COLS
		", " RF_COLS
		" FROM pr_refund_begin($1, $2, $3, $4, $5, $6::bigint, $7, $8, "
		"$9, $10, $11, $12::bigint, $13, $14, $15, $16, $17, $18::jsonb, "
		"$19::int, $20, $21) t LEFT JOIN LATERAL (SELECT (t.r_row).*) r "
		"ON true LEFT JOIN payments p ON p.id = r.payment_id "
		"LEFT JOIN merchants m ON m.id = r.merchant_id";
	struct create *c = arg;
	struct pr_request *r = c->r;
	const struct pr_chan_spec *spec = NULL;
	const struct pr_code *code = NULL;
	char now[24], check[16], *detail;
	const char *p[21];
	json_t *dj;
	long ci;
	int past;

	if (!res) {
		c->idem.active = 0;
		cr_error(c, 503, "store_unavailable",
			 "the store is unavailable; retry later");
		pr_warn("refunds: reading payment %s failed: %s", c->payment,
			err ? err : "?");
		return;
	}
	if (PQntuples(res) != 1) {
		c->idem.active = 0;
		cr_error(c, 404, "not_found", "no such payment");
		return;
	}
	ci = pr_catalogue_find(&r->gen->cat, PQgetvalue(res, 0, 0));
	if (ci >= 0)
		spec = &r->gen->cat.chans[ci];
	past = past_window(spec, pr_col_i64(res, 0, 1));
	if (past) {
		code = pr_code_core("REFUND_WINDOW_EXPIRED");
		dj = json_pack("{s:s,s:i}", "channel", PQgetvalue(res, 0, 0),
			       "refund_window_days", spec->refund_window_days);
	} else {
		dj = json_pack("{s:s,s:s}", "channel", PQgetvalue(res, 0, 0),
			       "refund_no", c->id);
	}
	detail = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
	json_decref(dj);
	snprintf(now, sizeof(now), "%lld", (long long)pr_now_ms());
	snprintf(check, sizeof(check), "%d",
		 (int)r->gen->config->completion_s[0]);
	p[0] = c->id;
	p[1] = c->payment;
	p[2] = c->merchant;
	p[3] = c->no;
	p[4] = c->hash;
	p[5] = c->amount;
	p[6] = c->cur[0] ? c->cur : NULL;
	p[7] = c->reason[0] ? c->reason : NULL;
	p[8] = c->stage;
	p[9] = c->url[0] ? c->url : NULL;
	p[10] = r->d->gen->config->instance;
	p[11] = now;
	p[12] = past ? "overdue" : "processing";
	p[13] = past ? "refund_window_expired" : NULL;
	p[14] = code ? code->unified : NULL;
	p[15] = code ? code->message_en : NULL;
	p[16] = code ? code->message_zh : NULL;
	p[17] = detail;
	p[18] = check;
	p[19] = c->idem.active ? c->idem.key : NULL;
	p[20] = c->idem.active ? c->idem.endpoint : NULL;
	if (!detail || pr_db_query(r->d->db, sql, 21, p, on_begun, c) < 0) {
		c->idem.active = 0;
		cr_error(c, 503, "store_unavailable",
			 "the store is unavailable");
	}
	free(detail);
}

static void cr_start(struct create *c)
{
	static const char sql[] =
		"SELECT channel, coalesce((extract(epoch FROM finished_at) * "
		"1000)::bigint, 0) FROM payments "
		"WHERE id = $1 AND merchant_id = $2";
	const char *p[2] = { c->payment, c->merchant };

	if (pr_db_query(c->r->d->db, sql, 2, p, on_payment, c) < 0) {
		c->idem.active = 0;
		cr_error(c, 503, "store_unavailable",
			 "the store is unavailable");
	}
}

static void create_refund(struct rq *q)
{
	struct pr_request *r = q->r;
	struct pr_rfreq rq;
	char err[300], field[80], *canon, *hex;
	unsigned char h[32];
	struct create *c;
	json_t *body;

	body = pr_api_read_body(r);
	if (!body)
		return;
	if (pr_rfreq_parse(body, &rq, field, sizeof(field), err, sizeof(err)) <
	    0) {
		pr_api_reply_field(r, field, "%s", err);
		goto out;
	}
	if (rq.notify_url[0] &&
	    pr_outbox_url_check(r->gen->config, rq.notify_url, err,
				sizeof(err))) {
		pr_api_reply_field(r, "notify_url", "notify_url: %s", err);
		goto out;
	}
	canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!canon || pr_sha256(canon, strlen(canon), h) < 0 ||
	    !(hex = pr_hex_encode(h, sizeof(h)))) {
		free(canon);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	free(canon);
	c = calloc(1, sizeof(*c));
	if (!c) {
		free(hex);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	c->r = r;
	snprintf(c->hash, sizeof(c->hash), "%s", hex);
	free(hex);
	pr_order_new_id('R', pr_now_ms(), c->id);
	snprintf(c->payment, sizeof(c->payment), "%s", q->payment_id);
	snprintf(c->merchant, sizeof(c->merchant), "%s", q->merchant);
	snprintf(c->no, sizeof(c->no), "%s", rq.no);
	snprintf(c->cur, sizeof(c->cur), "%s", rq.currency);
	snprintf(c->reason, sizeof(c->reason), "%s", rq.reason);
	snprintf(c->stage, sizeof(c->stage), "%s", rq.stage);
	snprintf(c->url, sizeof(c->url), "%s", rq.notify_url);
	snprintf(c->amount, sizeof(c->amount), "%lld", (long long)rq.amount);
	if (pr_idem_read(r, q->merchant, "/v1/refunds", c->hash, &c->idem) <
	    0) {
		free(c);
		goto out;
	}
	cr_start(c);
out:
	json_decref(body);
}

static void on_got_refund(struct rf_row *row, const char *err, void *arg)
{
	struct pr_request *r = arg;

	if (err) {
		pr_warn("refunds: reading a refund failed: %s", err);
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store is unavailable; retry later");
	} else if (!row)
		pr_api_reply_err(r, 404, "not_found", NULL, "no such refund");
	else
		reply_refund(r, 200, row);
}

/* The refunds of a payment: one row per refund (none: one row with
 * NULLs), the payment's id and what is left to refund first. */
static void on_list(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *list, *j;
	struct rf_row row;

	if (!res) {
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store is unavailable; retry later");
		pr_warn("refunds: listing failed: %s", err ? err : "?");
		return;
	}
	if (PQntuples(res) == 0) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such payment");
		return;
	}
	list = json_array();
	for (int i = 0; list && i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 2))
			continue;
		if (rf_read(res, i, 2, &row) < 0 ||
		    json_array_append_new(list, rf_render(&row)) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	j = list ? json_pack("{s:s,s:I,s:o}", "payment_id",
			     PQgetvalue(res, 0, 0), "refundable",
			     (json_int_t)pr_col_i64(res, 0, 1), "refunds",
			     list) :
		   NULL;
	if (!j)
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
	else
		pr_request_reply(r, 200, j);
}

static void on_auth(const struct pr_merchant *m, void *arg)
{
	static const char list_sql[] =
		"SELECT pay.id, pay.amount - pay.refund_reserved, " RF_COLS
		" FROM payments pay LEFT JOIN refunds r ON r.payment_id = pay.id "
		"LEFT JOIN payments p ON p.id = r.payment_id "
		"LEFT JOIN merchants m ON m.id = r.merchant_id "
		"WHERE pay.id = $1 AND pay.merchant_id = $2 "
		"ORDER BY r.created_at, r.id";
	struct rq *q = arg;
	struct pr_request *r = q->r;
	const char *p[2];
	int rc = 0;

	snprintf(q->merchant, sizeof(q->merchant), "%s", m->id);
	switch (q->action) {
	case 0:
		create_refund(q);
		break;
	case 1:
		p[0] = q->payment_id;
		p[1] = q->merchant;
		if (pr_db_query(r->d->db, list_sql, 2, p, on_list, r) < 0)
			rc = -EAGAIN;
		break;
	case 2:
		rc = rf_load(r->d, "id", q->refund_id, q->merchant,
			     on_got_refund, r);
		break;
	case 3:
		rc = rf_load(r->d, "merchant_refund_no", q->refund_no,
			     q->merchant, on_got_refund, r);
		break;
	}
	if (rc < 0)
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store is unavailable");
	free(q);
}

static int id_ok(const char *s, size_t n)
{
	if (n < 8 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Starts q->action for r (q's other fields set for it): the merchant's
 * authentication, on_auth goes on. Frees q when it cannot start. */
static void begin(struct pr_request *r, struct rq *q)
{
	q->r = r;
	pr_merchant_request(r, on_auth, free, q);
}

/* A request's state for action, or NULL after answering 500. */
static struct rq *rq_new(struct pr_request *r, int action)
{
	struct rq *q = calloc(1, sizeof(*q));

	if (!q)
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
	else
		q->action = action;
	return q;
}

/* POST (action 0) and GET (1) /v1/payments/{id}/refunds */
static void payment_refunds(struct pr_request *r,
			    const struct pr_route_match *m, int action)
{
	const char *id = pr_route_param(m, "id");
	struct rq *q;

	if (!id_ok(id, strlen(id))) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such payment");
		return;
	}
	if (!(q = rq_new(r, action)))
		return;
	snprintf(q->payment_id, sizeof(q->payment_id), "%s", id);
	begin(r, q);
}

/* POST /v1/payments/{id}/refunds */
void pr_refunds_create(struct pr_request *r, const struct pr_route_match *m)
{
	payment_refunds(r, m, 0);
}

/* GET /v1/payments/{id}/refunds */
void pr_refunds_list(struct pr_request *r, const struct pr_route_match *m)
{
	payment_refunds(r, m, 1);
}

/* GET /v1/refunds/{id} */
void pr_refunds_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");
	struct rq *q;

	if (!id_ok(id, strlen(id))) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such refund");
		return;
	}
	if (!(q = rq_new(r, 2)))
		return;
	snprintf(q->refund_id, sizeof(q->refund_id), "%s", id);
	begin(r, q);
}

/* GET /v1/refunds?merchant_refund_no=NO */
void pr_refunds_find(struct pr_request *r, const struct pr_route_match *m)
{
	char no[sizeof(((struct rq *)NULL)->refund_no)];
	struct rq *q;

	if (pr_api_query_param(r, "merchant_refund_no", no, sizeof(no)) < 0) {
		pr_api_reply_field(r, "merchant_refund_no",
				   "merchant_refund_no: required query "
				   "parameter");
		return;
	}
	if ((q = rq_new(r, 3))) {
		snprintf(q->refund_no, sizeof(q->refund_no), "%s", no);
		begin(r, q);
	}
}

/* ------------------------------------------------------ completion */

struct rf_check {
	struct pr_check *k;
	struct rf_row row;
	struct payroute_order order;
	char notify[512];
	int64_t timeout_s;
};

static void rfc_end(struct rf_check *x, int final, const char *result)
{
	struct pr_check_end e = { 0 };
	struct pr_check *k = x->k;

	e.final = final;
	e.keep_going = 1; /* overdue handles what takes too long */
	e.result = result;
	free(x);
	pr_check_done(k, &e);
}

static void on_rfc_applied(int rc, int changed, enum pr_rf_status from,
			   struct rf_row *r, const char *err, void *arg)
{
	struct rf_check *x = arg;
	char result[128];

	(void)changed;
	(void)from;
	if (rc < 0 || !r) {
		snprintf(result, sizeof(result), "store error: %s",
			 err ? err : "?");
		rfc_end(x, 0, result);
		return;
	}
	snprintf(result, sizeof(result), "%s %s", rf_name(r->status),
		 r->overdue_reason);
	rfc_end(x,
		rf_final(r->status) ||
			(r->status == PR_RF_OVERDUE &&
			 strcmp(r->overdue_reason, "refund_timeout") != 0),
		result);
}

static void rfc_apply(struct rf_check *x, const struct pr_call *c,
		      enum pr_rf_status to, const char *overdue,
		      const char *event)
{
	struct rf_update u = { 0 };
	json_t *detail = json_pack("{s:s,s:s}", "channel", x->row.channel,
				   "code", c ? c->code->unified : "");

	u.id = x->row.id;
	u.from = PR_FROM(PR_RF_PROCESSING) | PR_FROM(PR_RF_OVERDUE);
	u.to = to;
	u.event = event;
	u.detail = detail;
	u.code = c ? c->code : pr_code_core("CHANNEL_TIMEOUT");
	u.res = c && c->end == PR_CALL_ANSWER ? &c->res : NULL;
	u.overdue_reason = overdue;
	if (rf_update(x->k->d, &u, on_rfc_applied, x) < 0)
		rfc_end(x, 0, "store unavailable");
	json_decref(detail);
}

static void on_refund_query(struct pr_call *c, void *arg)
{
	struct rf_check *x = arg;
	const char *overdue;
	enum pr_rf_status to;
	char result[300];
	int late = x->timeout_s > 0 &&
		   pr_now_ms() > x->row.created_ms + x->timeout_s * 1000;

	if (c->end != PR_CALL_ANSWER) {
		if (x->row.status == PR_RF_PROCESSING && late) {
			rfc_apply(x, NULL, PR_RF_OVERDUE, "refund_timeout",
				  "timeout");
			return;
		}
		snprintf(result, sizeof(result), "%s: %s", c->code->unified,
			 c->detail);
		rfc_end(x, 0, result);
		return;
	}
	rf_outcome(c, x->row.status, &to, &overdue);
	if (to == PR_RF_PROCESSING || (to == PR_RF_OVERDUE && !overdue)) {
		if (x->row.status == PR_RF_PROCESSING && late) {
			rfc_apply(x, c, PR_RF_OVERDUE, "refund_timeout",
				  "timeout");
			return;
		}
		snprintf(result, sizeof(result), "%s", c->code->unified);
		rfc_end(x, 0, result);
		return;
	}
	rfc_apply(x, c, to, overdue, "check");
}

static void on_rfc_loaded(struct rf_row *row, const char *err, void *arg)
{
	struct rf_check *x = arg;
	struct pr_check *k = x->k;
	const struct pr_channel *ch;
	long ci;

	if (err || !row) {
		if (!err)
			pr_check_settled(k);
		rfc_end(x, !err, err ? "store error" : "no such refund");
		return;
	}
	if (rf_final(row->status) || row->status == PR_RF_CREATED ||
	    (row->status == PR_RF_OVERDUE &&
	     strcmp(row->overdue_reason, "refund_timeout") != 0)) {
		pr_check_settled(k);
		rfc_end(x, 1, "settled");
		return;
	}
	x->row = *row;
	ci = pr_catalogue_find(&k->gen->cat, row->channel);
	x->timeout_s = ci >= 0 ? k->gen->cat.chans[ci].refund_timeout_s : 0;
	ch = pr_gen_channel(k->gen, row->channel);
	if (!ch) {
		rfc_end(x, 0, "channel not configured");
		return;
	}
	rf_order(&x->row, k->gen->config, &x->order, x->notify,
		 sizeof(x->notify));
	if (pr_chan_call(k->d, k->gen, ch, PR_OP_REFUND_QUERY, &x->order,
			 on_refund_query, x) < 0)
		rfc_end(x, 0, "out of memory");
}

static void check_refund(struct pr_check *k)
{
	struct rf_check *x = calloc(1, sizeof(*x));
	struct pr_check_end e = { 0 };

	if (!x) {
		e.result = "out of memory";
		e.keep_going = 1;
		pr_check_done(k, &e);
		return;
	}
	x->k = k;
	if (rf_load(k->d, "id", k->order_id, NULL, on_rfc_loaded, x) < 0) {
		free(x);
		e.result = "store unavailable";
		e.keep_going = 1;
		pr_check_done(k, &e);
	}
}

/* A refund reads its row itself, with its payment's (rf_load). */
const struct pr_check_kind pr_refund_check = { "refund", check_refund, NULL };

/* -------------------------------------------------------- callbacks */

struct rcb {
	struct pr_daemon *d;
	struct pr_generation *gen;
	const struct pr_channel *ch;
	struct payroute_notify nt;
	void (*done)(int ok, void *arg);
	void *arg;
};

static void rcb_end(struct rcb *c, int ok)
{
	c->done(ok, c->arg);
	pr_gen_unref(c->gen);
	free(c);
}

static void on_rcb_applied(int rc, int changed, enum pr_rf_status from,
			   struct rf_row *r, const char *err, void *arg)
{
	struct rcb *c = arg;

	if (rc < 0 || !r) {
		pr_warn("refund callback from %s: refund %s: not recorded: %s",
			c->ch->code, c->nt.refund_id[0] ? c->nt.refund_id : "?",
			err ? err : "?");
		rcb_end(c, 0);
		return;
	}
	if (changed)
		pr_info("refund callback from %s: refund %s: %s -> %s",
			c->ch->code, r->id, rf_name(from), rf_name(r->status));
	rcb_end(c, 1);
}

static void on_rcb_loaded(struct rf_row *row, const char *err, void *arg)
{
	struct rcb *c = arg;
	const struct pr_code *code;
	struct payroute_result res;
	struct rf_update u = { 0 };
	struct pr_call call;
	const char *overdue;
	enum pr_rf_status to;
	json_t *detail;

	if (err || !row) {
		pr_warn("refund callback from %s: %s %s", c->ch->code,
			err ? "store error:" : "no refund numbered",
			err ? err : c->nt.refund_id);
		rcb_end(c, 0);
		return;
	}
	if (strcmp(row->channel, c->ch->code) != 0) {
		pr_err("refund callback from %s for refund %s of channel %s: "
		       "refused",
		       c->ch->code, row->id, row->channel);
		rcb_end(c, 0);
		return;
	}
	code = c->gen->codes ? pr_codemap_lookup(c->gen->codes, c->ch->driver,
						 c->ch->code, "notify",
						 c->nt.code, c->nt.sub_code) :
			       NULL;
	if (!code) {
		pr_unmapped_note(c->d, c->ch, "notify", c->nt.code,
				 c->nt.sub_code, row->id, c->nt.message);
		code = pr_code_core("UNMAPPED_CODE");
	}
	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);
	snprintf(res.code, sizeof(res.code), "%s", c->nt.code);
	snprintf(res.sub_code, sizeof(res.sub_code), "%s", c->nt.sub_code);
	snprintf(res.message, sizeof(res.message), "%s", c->nt.message);
	memset(&call, 0, sizeof(call));
	call.end = PR_CALL_ANSWER;
	call.code = code;
	/* Alipay's refund notifications carry the refund total so far, not
	 * this refund's amount: amounts are not compared here. */
	rf_outcome(&call, row->status, &to, &overdue);
	detail = json_pack("{s:s,s:s,s:s}", "channel", c->ch->code, "code",
			   code->unified, "channel_code", c->nt.code);
	u.id = row->id;
	u.from = PR_FROM(PR_RF_PROCESSING) | PR_FROM(PR_RF_OVERDUE);
	u.to = to;
	u.event = "callback";
	u.detail = detail;
	u.code = code;
	u.res = &res;
	u.overdue_reason = overdue;
	if (rf_update(c->d, &u, on_rcb_applied, c) < 0)
		rcb_end(c, 0);
	json_decref(detail);
}

int pr_refund_callback(struct pr_daemon *d, struct pr_generation *gen,
		       const struct pr_channel *ch,
		       const struct payroute_notify *nt,
		       void (*done)(int ok, void *arg), void *arg)
{
	struct rcb *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->d = d;
	c->gen = pr_gen_ref(gen);
	c->ch = ch;
	c->nt = *nt;
	c->done = done;
	c->arg = arg;
	if (rf_load(d, "request_no", nt->refund_id, NULL, on_rcb_loaded, c) <
	    0) {
		pr_gen_unref(c->gen);
		free(c);
		return -EAGAIN;
	}
	return 0;
}

/* --------------------------------------------------------- admin */

struct act {
	struct pr_request *r;
	char actor[65];
	char note[513];
	char outcome[32];
	char withdrawal[64];
	int resend;
	char new_no[65];
	int approved; /* ap holds the approval being applied */
	struct pr_approved ap;
};

/* A resolve that paid the buyer outside the channel: money written off
 * the books, four eyes from approvals.threshold on. */
static int writes_off(const char *outcome)
{
	return strcmp(outcome, "refunded_offline") == 0 ||
	       strcmp(outcome, "refunded_by_transfer") == 0;
}

/* Tells an approved resolve's apply that it did not happen (the approval
 * fails); frees a. */
static void act_refuse(struct act *a, int status, const char *code,
		       const char *msg)
{
	a->ap.cb(status, code, msg, NULL, a->ap.arg);
	free(a);
}

/* An audited action's answer, sent once its audit row is written (so that
 * whoever reads the audit log after the answer finds it). */
struct audit_reply {
	struct pr_request *r;
	json_t *body;
	char id[40];
};

static void on_audit(PGresult *res, const char *err, void *arg)
{
	struct audit_reply *a = arg;

	if (!res)
		pr_err("refunds: the audit row of refund %s failed: %s", a->id,
		       err);
	pr_request_reply(a->r, 200, a->body);
	free(a);
}

/* Records action on refund id in audit_log (after: the refund's JSON,
 * note), then answers r 200 with after (stolen). */
static void audit(struct pr_request *r, const char *actor, const char *action,
		  const char *id, json_t *after, const char *note)
{
	static const char sql[] =
		"INSERT INTO audit_log (actor, action, object_kind, object_id, "
		"after, note) VALUES ($1, $2, 'refund', $3, $4::jsonb, $5)";
	struct audit_reply *a = calloc(1, sizeof(*a));
	char *text = after ? json_dumps(after, JSON_COMPACT) : NULL;
	const char *p[5] = { actor, action, id, text,
			     note && *note ? note : NULL };

	if (!a) {
		pr_err("refunds: the audit row of refund %s: out of memory",
		       id);
		free(text);
		pr_request_reply(r, 200, after);
		return;
	}
	a->r = r;
	a->body = after;
	snprintf(a->id, sizeof(a->id), "%s", id);
	if (pr_db_query(r->d->db, sql, 5, p, on_audit, a) < 0)
		on_audit(NULL, "the store is unavailable", a);
	free(text);
}

static void on_resolved(int rc, int changed, enum pr_rf_status from,
			struct rf_row *r, const char *err, void *arg)
{
	struct act *a = arg;
	char msg[160];

	(void)from;
	if (a->approved) {
		if (rc < 0 || !r) {
			pr_warn("refunds: resolving a refund (approval %lld) "
				"failed: %s",
				(long long)a->ap.id, err ? err : "?");
			act_refuse(a, 503, "store_unavailable",
				   "the store is unavailable");
		} else if (!changed) {
			snprintf(msg, sizeof(msg),
				 "refund %s moved meanwhile: it is %s, not "
				 "overdue",
				 r->id, rf_name(r->status));
			act_refuse(a, 409, "not_overdue", msg);
		} else {
			pr_info("refund %s resolved (%s) by %s, approving what "
				"%s asked (approval %lld)",
				r->id, a->outcome, a->actor, a->ap.requested_by,
				(long long)a->ap.id);
			a->ap.cb(200, NULL, NULL, rf_render(r), a->ap.arg);
			free(a);
		}
		return;
	}
	if (rc < 0 || !r) {
		pr_warn("refunds: resolving a refund failed: %s",
			err ? err : "?");
		pr_api_reply_err(a->r, 503, "store_unavailable", NULL,
				 "the store is unavailable; retry later");
	} else if (!changed) {
		pr_api_reply_err(a->r, 409, "not_overdue", NULL,
				 "refund %s is %s, not overdue", r->id,
				 rf_name(r->status));
	} else {
		json_t *j = rf_render(r);

		pr_info("refund %s resolved (%s) by %s", r->id, a->outcome,
			a->actor);
		audit(a->r, a->actor, "resolve", r->id, j, a->note);
	}
	free(a);
}

static void on_resent(int rc, struct rf_row *r, const char *err, void *arg)
{
	struct act *a = arg;

	if (!r) {
		if (rc != -EBUSY)
			pr_warn("refunds: re-sending a refund failed: %s",
				err ? err : "?");
		pr_api_reply_err(
			a->r, rc == -EBUSY ? 409 : 503,
			rc == -EBUSY ? "not_overdue" : "store_unavailable",
			NULL, "%s",
			rc == -EBUSY ? "the refund moved meanwhile" :
				       "the store is unavailable; retry later");
	} else {
		json_t *j = rf_render(r);

		pr_info("refund %s re-sent by %s: now %s", r->id, a->actor,
			rf_name(r->status));
		audit(a->r, a->actor, "resend", r->id, j, a->note);
	}
	free(a);
}

static void on_act_loaded(struct rf_row *row, const char *err, void *arg)
{
	struct act *a = arg;
	struct pr_request *r = a->r;
	char msg[160];
	long ci;

	if (a->approved && (err || !row || row->status != PR_RF_OVERDUE)) {
		if (err)
			pr_warn("refunds: reading a refund failed: %s", err);
		if (row)
			snprintf(msg, sizeof(msg),
				 "refund %s moved meanwhile: it is %s, not "
				 "overdue",
				 row->id, rf_name(row->status));
		act_refuse(a,
			   err ? 503 :
			   row ? 409 :
				 404,
			   err ? "store_unavailable" :
			   row ? "not_overdue" :
				 "not_found",
			   err ? "the store is unavailable" :
			   row ? msg :
				 "no such refund");
		return;
	}
	if (err || !row) {
		if (err)
			pr_warn("refunds: reading a refund failed: %s", err);
		pr_api_reply_err(r, err ? 503 : 404,
				 err ? "store_unavailable" : "not_found", NULL,
				 "%s",
				 err ? "the store is unavailable; retry later" :
				       "no such refund");
		free(a);
		return;
	}
	if (row->status != PR_RF_OVERDUE) {
		pr_api_reply_err(r, 409, "not_overdue", NULL,
				 "refund %s is %s: only overdue refunds are "
				 "re-sent or resolved",
				 row->id, rf_name(row->status));
		free(a);
		return;
	}
	if (a->resend) {
		ci = pr_catalogue_find(&r->gen->cat, row->channel);
		if (ci < 0 || !r->gen->cat.chans[ci].refund_resend) {
			pr_api_reply_err(r, 409, "resend_not_allowed", NULL,
					 "channel %s does not allow re-sending "
					 "refunds (refund_resend); resolve it",
					 row->channel);
			free(a);
			return;
		}
		if (strcmp(row->overdue_reason, "refund_window_expired") == 0) {
			pr_api_reply_err(r, 409, "resend_not_allowed", NULL,
					 "the payment is past channel %s's "
					 "refund window; resolve it",
					 row->channel);
			free(a);
			return;
		}
		/* A refund the channel may still hold keeps its number (the
		 * channel de-duplicates); one it refused gets a new one. */
		if (strcmp(row->overdue_reason, "refund_timeout") == 0)
			a->new_no[0] = '\0';
		else
			snprintf(a->new_no, sizeof(a->new_no), "%.28sA%d",
				 row->id, row->attempts + 1);
		if (rf_send(r, row, a->new_no[0] ? a->new_no : NULL, a->actor,
			    NULL, on_resent, a) < 0) {
			pr_api_reply_err(r, 503, "store_unavailable", NULL,
					 "the store is unavailable");
			free(a);
		}
		return;
	}
	if (!a->approved && writes_off(a->outcome) &&
	    pr_approval_needed(r->gen->config, row->amount)) {
		json_t *body = json_pack("{s:s,s:s}", "outcome", a->outcome,
					 "note", a->note);

		if (body && a->withdrawal[0])
			json_object_set_new(body, "withdrawal_id",
					    json_string(a->withdrawal));
		if (body)
			pr_approval_request(r, "refund.resolve", row->id, body,
					    row->amount, row->currency);
		else
			pr_api_reply_err(r, 500, "internal", NULL,
					 "out of memory");
		json_decref(body);
		free(a);
		return;
	}
	{
		struct rf_update u = { 0 };
		json_t *detail = json_pack("{s:s,s:s}", "outcome", a->outcome,
					   "note", a->note);

		if (a->approved && detail) {
			json_object_set_new(detail, "approval",
					    json_integer(a->ap.id));
			json_object_set_new(detail, "requested_by",
					    json_string(a->ap.requested_by));
		}

		u.id = row->id;
		u.from = PR_FROM(PR_RF_OVERDUE);
		u.to = PR_RF_RESOLVED;
		u.event = "resolve";
		u.detail = detail;
		u.actor = a->actor;
		u.resolution = a->outcome;
		u.resolution_note = a->note;
		u.withdrawal = a->withdrawal[0] ? a->withdrawal : NULL;
		if (rf_update(r->d, &u, on_resolved, a) < 0) {
			if (a->approved)
				act_refuse(a, 503, "store_unavailable",
					   "the store is unavailable");
			else {
				pr_api_reply_err(r, 503, "store_unavailable",
						 NULL,
						 "the store is unavailable");
				free(a);
			}
		}
		json_decref(detail);
	}
}

static void on_admin_json(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_error_t jerr;
	json_t *j;

	if (!res) {
		pr_warn("refunds: reading a refund failed: %s", err);
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store is unavailable; retry later");
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such refund");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	if (!j)
		pr_api_reply_err(r, 500, "internal", NULL,
				 "bad JSON from the store");
	else
		pr_request_reply(r, 200, j);
}

static const char overdue_sql[] =
	"SELECT jsonb_build_object('refunds', coalesce(jsonb_agg("
	"jsonb_build_object('id', r.id, 'payment_id', r.payment_id, "
	"'merchant_id', r.merchant_id, 'merchant_refund_no', "
	"r.merchant_refund_no, 'channel', r.channel, 'amount', r.amount, "
	"'currency', r.currency, 'buyer_id', p.buyer_id, 'stage', "
	"r.stage, 'reason', r.overdue_reason, 'code', r.code, "
	"'overdue_since', r.overdue_at, 'age_seconds', "
	"extract(epoch FROM now() - r.created_at)::bigint, 'attempts', "
	"r.attempts, 'history', (SELECT coalesce(jsonb_agg("
	"jsonb_build_object('at', e.at, 'actor', e.actor, 'event', "
	"e.event, 'from', e.from_status, 'to', e.to_status, 'detail', "
	"e.detail) ORDER BY e.id), '[]') FROM order_events e WHERE "
	"e.kind = 'refund' AND e.order_id = r.id)) ORDER BY "
	"r.overdue_at), '[]'))::text FROM refunds r JOIN payments p ON "
	"p.id = r.payment_id WHERE r.status = 'overdue'";

/* A refund, its events, its check and notifications (orderadmin.h). */
#define RF_FOLLOW_UPS PR_ORDER_FOLLOW_UPS("refund", "r")
static const char one_sql[] =
	"SELECT jsonb_build_object('refund', to_jsonb(r) - "
	"'request_hash', 'events', (SELECT coalesce(jsonb_agg(to_jsonb(e) "
	"- 'kind' - 'order_id' ORDER BY e.id), '[]') FROM order_events e "
	"WHERE e.kind = 'refund' AND e.order_id = r.id), " RF_FOLLOW_UPS
	")::text FROM refunds r WHERE r.id = $1";

/* GET /admin/v1/refunds/overdue */
void pr_refunds_overdue(struct pr_request *r, const struct pr_route_match *m)
{
	if (pr_db_query(r->d->db, overdue_sql, 0, NULL, on_admin_json, r) < 0)
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store is unavailable");
}

/* GET /admin/v1/refunds/{id} */
void pr_refunds_admin_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *p[1] = { pr_route_param(m, "id") };

	if (!id_ok(p[0], strlen(p[0])))
		pr_api_reply_err(r, 404, "not_found", NULL, "no such refund");
	else if (pr_db_query(r->d->db, one_sql, 1, p, on_admin_json, r) < 0)
		pr_api_reply_err(r, 503, "store_unavailable", NULL,
				 "the store is unavailable");
}

/* An admin action on refund id: its state, with the actor and note of the
 * audit headers; or NULL after answering (404 for an id no refund can
 * have, 400 for a bad header, 500). */
static struct act *act_new(struct pr_request *r, const char *id)
{
	const char *actor = NULL, *note = NULL;
	struct act *a;

	if (!id_ok(id, strlen(id))) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such refund");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	a->r = r;
	if (pr_api_audit_headers(r, &actor, &note) < 0) {
		free(a);
		return NULL;
	}
	snprintf(a->actor, sizeof(a->actor), "%s",
		 actor && *actor ? actor : "admin");
	snprintf(a->note, sizeof(a->note), "%s", note ? note : "");
	return a;
}

/* Loads refund id, then acts on it (on_act_loaded); answers 503 and frees
 * a when the store cannot be asked. */
static void act_go(struct act *a, const char *id)
{
	if (rf_load(a->r->d, "id", id, NULL, on_act_loaded, a) < 0) {
		pr_api_reply_err(a->r, 503, "store_unavailable", NULL,
				 "the store is unavailable");
		free(a);
	}
}

/* Reads a resolve's body {"outcome", "note", "withdrawal_id"} into a.
 * Returns 0, or -EINVAL after answering 400 or 415. */
static int resolve_body(struct pr_request *r, struct act *a)
{
	static const char *const outcomes[] = { "buyer_contacted",
						"refunded_offline",
						"refunded_by_transfer",
						"cancelled", NULL };
	json_t *body = pr_api_read_body(r);
	const char *o, *n, *w;
	int ok = 0;

	if (!body)
		return -EINVAL;
	o = json_string_value(json_object_get(body, "outcome"));
	n = json_string_value(json_object_get(body, "note"));
	w = json_string_value(json_object_get(body, "withdrawal_id"));
	for (size_t i = 0; o && outcomes[i] && !ok; i++)
		ok = strcmp(o, outcomes[i]) == 0;
	if (!ok) {
		pr_api_reply_field(r, "outcome",
				   "outcome: buyer_contacted, "
				   "refunded_offline, refunded_by_transfer "
				   "or cancelled");
	} else if (!n || !*n || strlen(n) > 512) {
		pr_api_reply_field(r, "note",
				   "note: required, 1 to 512 characters (why, "
				   "for the audit)");
		ok = 0;
	} else if (w && (strlen(w) > 32 || !id_ok(w, strlen(w)))) {
		pr_api_reply_field(r, "withdrawal_id",
				   "withdrawal_id: a withdrawal id");
		ok = 0;
	}
	if (ok) {
		snprintf(a->outcome, sizeof(a->outcome), "%s", o);
		snprintf(a->note, sizeof(a->note), "%s", n);
		snprintf(a->withdrawal, sizeof(a->withdrawal), "%s",
			 w ? w : "");
	}
	json_decref(body);
	return ok ? 0 : -EINVAL;
}

/* POST /admin/v1/refunds/{id}/resend */
void pr_refunds_resend(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");
	struct act *a = act_new(r, id);

	if (!a)
		return;
	a->resend = 1;
	act_go(a, id);
}

/* POST /admin/v1/refunds/{id}/resolve */
void pr_refunds_resolve(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");
	struct act *a = act_new(r, id);

	if (!a)
		return;
	if (resolve_body(r, a) < 0) {
		free(a);
		return;
	}
	act_go(a, id);
}

int pr_refund_resolve_approved(struct pr_request *r, const char *id,
			       const json_t *payload,
			       const struct pr_approved *ap)
{
	const char *o = json_string_value(json_object_get(payload, "outcome"));
	const char *n = json_string_value(json_object_get(payload, "note"));
	const char *w =
		json_string_value(json_object_get(payload, "withdrawal_id"));
	struct act *a;

	if (!o || !n || !id_ok(id, strlen(id)))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->r = r;
	a->approved = 1;
	a->ap = *ap;
	snprintf(a->actor, sizeof(a->actor), "%s", ap->approved_by);
	snprintf(a->outcome, sizeof(a->outcome), "%s", o);
	snprintf(a->note, sizeof(a->note), "%s", n);
	snprintf(a->withdrawal, sizeof(a->withdrawal), "%s", w ? w : "");
	if (rf_load(r->d, "id", id, NULL, on_act_loaded, a) < 0) {
		free(a);
		return -EAGAIN;
	}
	return 0;
}

/* ---------------------------------------------------------- settle */

struct rf_settle {
	struct pr_request *r;
	struct pr_settle s;
	char id[40];
	int approved; /* ap holds the approval being applied */
	struct pr_approved ap;
};

/* Tells an approved settlement's apply that it did not happen (the
 * approval fails); frees st. */
static void rf_settle_refuse(struct rf_settle *st, int status, const char *code,
			     const char *msg)
{
	st->ap.cb(status, code, msg, NULL, st->ap.arg);
	free(st);
}

static void on_rf_settled(int rc, int changed, enum pr_rf_status from,
			  struct rf_row *row, const char *err, void *arg)
{
	struct rf_settle *st = arg;
	char msg[160];

	(void)from;
	if (st->approved) {
		if (rc < 0 || !row) {
			pr_warn("refunds: settling refund %s (approval %lld) "
				"failed: %s",
				st->id, (long long)st->ap.id, err ? err : "?");
			rf_settle_refuse(st, 503, "store_unavailable",
					 "the store is unavailable");
		} else if (!changed) {
			snprintf(msg, sizeof(msg),
				 "refund %s moved meanwhile: it is %s now",
				 row->id, rf_name(row->status));
			rf_settle_refuse(st, 409, "not_settleable", msg);
		} else {
			pr_info("refund %s settled %s by %s, approving what %s "
				"asked (approval %lld, evidence %s)",
				row->id, st->s.outcome, st->ap.approved_by,
				st->ap.requested_by, (long long)st->ap.id,
				st->s.evidence);
			st->ap.cb(200, NULL, NULL, rf_render(row), st->ap.arg);
			free(st);
		}
		return;
	}
	if (rc < 0 || !row) {
		pr_warn("refunds: settling refund %s failed: %s", st->id,
			err ? err : "?");
		pr_api_reply_db_error(st->r, "refunds", "settle", err);
	} else if (!changed) {
		pr_api_reply_err(st->r, 409, "not_settleable", "status",
				 "refund %s moved meanwhile: it is %s now",
				 row->id, rf_name(row->status));
	} else {
		json_t *j = rf_render(row);

		if (!j)
			pr_api_reply_err(st->r, 500, "internal", NULL,
					 "out of memory");
		else
			pr_settle_finish(st->r, &st->s, "refund", row->id, j);
	}
	free(st);
}

static void on_rf_settle_loaded(struct rf_row *row, const char *err, void *arg)
{
	struct rf_settle *st = arg;
	struct pr_request *r = st->r;
	struct rf_update u = { 0 };
	enum pr_rf_status to = strcmp(st->s.outcome, "succeeded") == 0 ?
				       PR_RF_SUCCEEDED :
				       PR_RF_FAILED;
	char msg[200];
	json_t *detail;

	if (st->approved && (err || !row ||
			     (row->status != PR_RF_PROCESSING &&
			      row->status != PR_RF_OVERDUE))) {
		if (err)
			pr_warn("refunds: reading a refund failed: %s", err);
		if (row)
			snprintf(msg, sizeof(msg),
				 "refund %s moved meanwhile: it is %s; only a "
				 "processing or overdue refund is settled",
				 row->id, rf_name(row->status));
		rf_settle_refuse(st,
				 err ? 503 :
				 row ? 409 :
				       404,
				 err ? "store_unavailable" :
				 row ? "not_settleable" :
				       "not_found",
				 err ? "the store is unavailable" :
				 row ? msg :
				       "no such refund");
		return;
	}
	if (err || !row) {
		if (err)
			pr_warn("refunds: reading a refund failed: %s", err);
		pr_api_reply_err(r, err ? 503 : 404,
				 err ? "store_unavailable" : "not_found", NULL,
				 "%s",
				 err ? "the store is unavailable; retry later" :
				       "no such refund");
		free(st);
		return;
	}
	/* The refund machine: processing -> succeeded | failed; overdue ->
	 * succeeded (settled late); an overdue refund that will never be
	 * paid is resolved (its reservation given back), not failed. */
	if (row->status == PR_RF_OVERDUE && to == PR_RF_FAILED) {
		pr_api_reply_err(r, 409, "not_settleable", "status",
				 "refund %s is overdue: settle it succeeded, "
				 "or resolve it (POST "
				 "/admin/v1/refunds/%s/resolve)",
				 row->id, row->id);
		free(st);
		return;
	}
	if (row->status != PR_RF_PROCESSING && row->status != PR_RF_OVERDUE) {
		pr_api_reply_err(r, 409, "not_settleable", "status",
				 "refund %s is %s: only a processing or "
				 "overdue refund is settled",
				 row->id, rf_name(row->status));
		free(st);
		return;
	}
	if (!st->approved && to == PR_RF_SUCCEEDED &&
	    pr_approval_needed(r->gen->config, row->amount)) {
		detail = pr_settle_detail(&st->s);
		pr_approval_request(r, "refund.settle", row->id, detail,
				    row->amount, row->currency);
		json_decref(detail);
		free(st);
		return;
	}
	detail = pr_settle_detail(&st->s);
	if (st->approved && detail) {
		json_object_set_new(detail, "approval",
				    json_integer(st->ap.id));
		json_object_set_new(detail, "requested_by",
				    json_string(st->ap.requested_by));
	}
	u.id = row->id;
	u.from = PR_FROM(row->status);
	u.to = to;
	u.event = "settle";
	u.detail = detail;
	u.actor = st->s.actor;
	u.code = pr_settle_code(st->s.outcome);
	if (rf_update(r->d, &u, on_rf_settled, st) < 0) {
		if (st->approved)
			rf_settle_refuse(st, 503, "store_unavailable",
					 "the store is unavailable");
		else {
			pr_api_store_unavailable(r);
			free(st);
		}
	}
	json_decref(detail);
}

int pr_refund_settle_approved(struct pr_request *r, const char *id,
			      const json_t *payload,
			      const struct pr_approved *ap)
{
	const char *o = json_string_value(json_object_get(payload, "outcome"));
	const char *n = json_string_value(json_object_get(payload, "note"));
	const char *e = json_string_value(json_object_get(payload, "evidence"));
	struct rf_settle *st;

	if (!o || !n || !e || !id_ok(id, strlen(id)) ||
	    strlen(id) >= sizeof(st->id))
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->r = r;
	st->approved = 1;
	st->ap = *ap;
	snprintf(st->id, sizeof(st->id), "%s", id);
	snprintf(st->s.outcome, sizeof(st->s.outcome), "%s", o);
	snprintf(st->s.note, sizeof(st->s.note), "%s", n);
	snprintf(st->s.evidence, sizeof(st->s.evidence), "%s", e);
	snprintf(st->s.actor, sizeof(st->s.actor), "%s", ap->approved_by);
	if (rf_load(r->d, "id", st->id, NULL, on_rf_settle_loaded, st) < 0) {
		free(st);
		return -EAGAIN;
	}
	return 0;
}

/* POST /admin/v1/refunds/{id}/settle */
void pr_refunds_settle(struct pr_request *r, const struct pr_route_match *m)
{
	static const char *const outcomes[] = { "succeeded", "failed", NULL };
	const char *id = pr_route_param(m, "id");
	struct rf_settle *st;

	if (!id_ok(id, strlen(id))) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such refund");
		return;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	st->r = r;
	snprintf(st->id, sizeof(st->id), "%s", id);
	if (pr_settle_read(r, outcomes, &st->s) < 0) {
		free(st);
		return;
	}
	if (rf_load(r->d, "id", st->id, NULL, on_rf_settle_loaded, st) < 0) {
		pr_api_store_unavailable(r);
		free(st);
	}
}

/* --------------------------------------------------------- metrics */

static void on_overdue_counts(PGresult *res, const char *err, void *arg)
{
	struct pr_refunds *rf = arg;
	size_t o = 0;

	rf->querying = 0;
	if (rf->dead) {
		free(rf);
		return;
	}
	if (!res) {
		pr_warn("refunds: counting overdue refunds failed: %s", err);
		return;
	}
	o += (size_t)snprintf(
		rf->metrics + o, sizeof(rf->metrics) - o,
		"# HELP payroute_refunds_overdue Refunds in the overdue "
		"queue, by reason and channel.\n"
		"# TYPE payroute_refunds_overdue gauge\n");
	for (int i = 0; i < PQntuples(res) && o < sizeof(rf->metrics); i++)
		o += (size_t)snprintf(
			rf->metrics + o, sizeof(rf->metrics) - o,
			"payroute_refunds_overdue{reason=\"%s\",channel=\"%s\"} "
			"%s\n",
			PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
			PQgetvalue(res, i, 2));
	rf->metrics_len = o < sizeof(rf->metrics) ? o : sizeof(rf->metrics) - 1;
}

static void on_metrics_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pr_refunds *rf = arg;
	struct timeval tv = { 5, 0 };

	(void)fd;
	(void)what;
	evtimer_add(rf->timer, &tv);
	if (rf->querying || !pr_db_ready(rf->d->db) || rf->d->stopping)
		return;
	if (pr_db_query(rf->d->db,
			"SELECT overdue_reason, channel, count(*) FROM refunds "
			"WHERE status = 'overdue' GROUP BY 1, 2 ORDER BY 1, 2",
			0, NULL, on_overdue_counts, rf) == 0)
		rf->querying = 1;
}

struct pr_refunds *pr_refunds_new(struct pr_daemon *d)
{
	struct pr_refunds *rf = calloc(1, sizeof(*rf));
	struct timeval tv = { 1, 0 };

	if (!rf)
		return NULL;
	rf->d = d;
	rf->timer = evtimer_new(d->base, on_metrics_timer, rf);
	if (!rf->timer) {
		free(rf);
		return NULL;
	}
	evtimer_add(rf->timer, &tv);
	return rf;
}

void pr_refunds_free(struct pr_refunds *rf)
{
	if (!rf)
		return;
	event_free(rf->timer);
	rf->timer = NULL;
	if (rf->querying) {
		/* The store calls back (with an error as it closes): the
		 * callback frees it. */
		rf->dead = 1;
		return;
	}
	free(rf);
}

size_t pr_refunds_metrics(const struct pr_refunds *rf, char *buf, size_t len)
{
	size_t n;

	if (!rf || !rf->metrics_len || !len)
		return 0;
	n = rf->metrics_len < len - 1 ? rf->metrics_len : len - 1;
	memcpy(buf, rf->metrics, n);
	buf[n] = '\0';
	return n;
}
