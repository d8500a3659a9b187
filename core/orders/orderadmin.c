/*
 * orderadmin.c - the operators' side of orders (see orderadmin.h): the
 * lists of the three kinds, each one statement of ordquery.c run on the
 * pool and paged by its cursor, and the manual settlement of a payment or
 * a withdrawal (a refund's is refunds.c's, with the body, code and audit
 * of this file).
 *
 * Settling: the order is loaded, its state checked against the states a
 * settlement may leave (a payment processing or unknown; a withdrawal
 * processing, unknown or, to failed only, pending_channel), then moved by
 * pr_order_apply from exactly that state: if a callback or a check moved
 * it meanwhile, nothing is written but the ".ignored" event and the
 * answer is 409 naming the state it is in now.
 *
 * Four eyes (doc/design.md §11): settling as succeeded from
 * approvals.threshold on is not applied but kept as a pending approval
 * (approvals.c, answered 202); once a second operator approves it,
 * pr_orders_settle_approved runs the same load, check and transition with
 * the stored body, and tells the approvals API how it ended instead of
 * answering.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "runtime/config.h"
#include "runtime/generation.h"
#include "domain/codemap.h"
#include "runtime/log.h"
#include "orders/approvals.h"
#include "orders/orderadmin.h"
#include "domain/orderstate.h"
#include "domain/ordquery.h"
#include "orders/ordstore.h"
#include "orders/payorder.h"
#include "orders/withdrawals.h"

/* ---------------------------------------------------------------- lists */

/* A list's request and its page size. */
struct list {
	struct pr_request *r;
	int limit;
};

static void on_list(PGresult *res, const char *err, void *arg)
{
	struct list *ls = arg;
	struct pr_request *r = ls->r;
	int n, limit = ls->limit;
	json_t *items, *next = json_null();
	json_error_t jerr;
	char cursor[PR_OQ_CURSOR_LEN];

	free(ls);
	if (!res) {
		pr_warn("orders: a list failed: %s", err);
		pr_api_store_unavailable(r);
		return;
	}
	items = json_array();
	n = PQntuples(res);
	for (int i = 0; i < n && i < limit && items; i++) {
		json_t *it = json_loads(PQgetvalue(res, i, 2), 0, &jerr);

		if (!it || json_array_append_new(items, it) < 0) {
			json_decref(items);
			items = NULL;
		}
	}
	if (items && n > limit &&
	    pr_oq_cursor_encode(
		    strtoll(PQgetvalue(res, limit - 1, 0), NULL, 10),
		    PQgetvalue(res, limit - 1, 1), cursor, sizeof(cursor)) == 0)
		next = json_string(cursor);
	if (!items) {
		json_decref(next);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "bad JSON from the store");
		return;
	}
	pr_request_reply(r, 200,
			 json_pack("{s:o,s:o}", "items", items, "next_cursor",
				   next));
}

static void list(struct pr_request *r, enum pr_oq_kind kind)
{
	const char *names[PR_OQ_MAX_PARAMS + 1], *values[PR_OQ_MAX_PARAMS + 1];
	struct evkeyvalq args;
	struct evkeyval *kv;
	struct pr_oq *q;
	struct list *ls;
	const char *bad = NULL;
	char err[256], field[72];
	size_t n = 0;

	if (pr_api_query_args(r, &args) < 0)
		return;
	TAILQ_FOREACH(kv, &args, next) {
		if (n == PR_OQ_MAX_PARAMS) {
			evhttp_clear_headers(&args);
			pr_api_reply_err(r, 400, "bad_request", NULL,
					 "more than %d query parameters",
					 PR_OQ_MAX_PARAMS);
			return;
		}
		names[n] = kv->key;
		values[n++] = kv->value;
	}
	q = malloc(sizeof(*q));
	if (!q) {
		evhttp_clear_headers(&args);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (pr_oq_build(kind, names, values, n, q, &bad, err, sizeof(err)) <
	    0) {
		/* bad points into args: copy it before they go. */
		snprintf(field, sizeof(field), "%.64s", bad);
		evhttp_clear_headers(&args);
		free(q);
		pr_info("orders: a list refused: %s", err);
		pr_api_reply_field(r, field, "%s", err);
		return;
	}
	evhttp_clear_headers(&args);
	ls = calloc(1, sizeof(*ls));
	if (!ls) {
		free(q);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	ls->r = r;
	ls->limit = q->limit;
	if (pr_api_read(r, q->sql, q->n, q->param, on_list, ls) < 0) {
		free(ls);
		pr_api_store_unavailable(r);
	}
	free(q);
}

void pr_orders_list_payments(struct pr_request *r,
			     const struct pr_route_match *m)
{
	list(r, PR_OQ_PAYMENT);
}

void pr_orders_list_refunds(struct pr_request *r,
			    const struct pr_route_match *m)
{
	list(r, PR_OQ_REFUND);
}

void pr_orders_list_withdrawals(struct pr_request *r,
				const struct pr_route_match *m)
{
	list(r, PR_OQ_WITHDRAWAL);
}

/* ----------------------------------------------------------- settling */

int pr_settle_read(struct pr_request *r, const char *const *outcomes,
		   struct pr_settle *s)
{
	const char *actor = NULL, *note_h = NULL, *o, *note, *ev;
	char list[64] = "";
	size_t l = 0;
	json_t *body;
	int ok = 0;

	memset(s, 0, sizeof(*s));
	if (pr_api_audit_headers(r, &actor, &note_h) < 0)
		return -EINVAL;
	snprintf(s->actor, sizeof(s->actor), "%s",
		 actor && *actor ? actor : "admin");
	body = pr_api_read_body(r);
	if (!body)
		return -EINVAL;
	o = json_string_value(json_object_get(body, "outcome"));
	note = json_string_value(json_object_get(body, "note"));
	ev = json_string_value(json_object_get(body, "evidence"));
	for (size_t i = 0; outcomes[i]; i++) {
		l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%s",
				      i ? (outcomes[i + 1] ? ", " : " or ") :
					  "",
				      outcomes[i]);
		if (o && strcmp(o, outcomes[i]) == 0)
			ok = 1;
	}
	if (!ok)
		pr_api_reply_field(r, "outcome", "outcome: %s", list);
	else if (!note || !*note || !pr_api_text_ok(note, 512))
		pr_api_reply_field(r, "note",
				   "note: required, 1 to 512 characters "
				   "without control characters (why, for the "
				   "audit)");
	else if (!ev || !*ev || !pr_api_text_ok(ev, 256))
		pr_api_reply_field(r, "evidence",
				   "evidence: required, 1 to 256 characters "
				   "(the channel's trade number, or a "
				   "statement reference)");
	else {
		snprintf(s->outcome, sizeof(s->outcome), "%s", o);
		snprintf(s->note, sizeof(s->note), "%s", note);
		snprintf(s->evidence, sizeof(s->evidence), "%s", ev);
		json_decref(body);
		return 0;
	}
	json_decref(body);
	return -EINVAL;
}

json_t *pr_settle_detail(const struct pr_settle *s)
{
	return json_pack("{s:s,s:s,s:s}", "outcome", s->outcome, "note",
			 s->note, "evidence", s->evidence);
}

const struct pr_code *pr_settle_code(const char *outcome)
{
	if (strcmp(outcome, "succeeded") == 0)
		return pr_code_core("SETTLED_SUCCEEDED");
	if (strcmp(outcome, "closed") == 0)
		return pr_code_core("SETTLED_CLOSED");
	return pr_code_core("SETTLED_FAILED");
}

struct audit {
	struct pr_request *r;
	json_t *order;
	char kind[16];
	char id[40];
};

static void on_audited(PGresult *res, const char *err, void *arg)
{
	struct audit *a = arg;

	if (!res)
		pr_err("orders: the audit row of settling %s %s failed: %s",
		       a->kind, a->id, err);
	pr_request_reply(a->r, 200, a->order);
	free(a);
}

void pr_settle_finish(struct pr_request *r, const struct pr_settle *s,
		      const char *kind, const char *id, json_t *order)
{
	static const char sql[] =
		"INSERT INTO audit_log (actor, action, object_kind, object_id, "
		"after, note) VALUES ($1, 'settle', $2, $3, $4::jsonb, $5)";
	struct audit *a = calloc(1, sizeof(*a));
	json_t *after = json_pack("{s:O,s:s,s:s}", "order", order, "outcome",
				  s->outcome, "evidence", s->evidence);
	char *text = after ? json_dumps(after, JSON_COMPACT) : NULL;
	const char *p[5] = { s->actor, kind, id, text, s->note };

	pr_info("%s %s settled %s by %s (evidence %s)", kind, id, s->outcome,
		s->actor, s->evidence);
	json_decref(after);
	if (!a || !text) {
		pr_err("orders: the audit row of settling %s %s: out of "
		       "memory",
		       kind, id);
		free(a);
		free(text);
		pr_request_reply(r, 200, order);
		return;
	}
	a->r = r;
	a->order = order;
	snprintf(a->kind, sizeof(a->kind), "%s", kind);
	snprintf(a->id, sizeof(a->id), "%s", id);
	if (pr_db_query(r->d->db, sql, 5, p, on_audited, a) < 0)
		on_audited(NULL, "the store is unavailable", a);
	free(text);
}

struct settle {
	struct pr_request *r;
	const struct pr_order_kind *k;
	struct pr_settle s;
	char id[40];
	int to;
	int approved; /* ap holds the approval being applied */
	struct pr_approved ap;
};

/* Ends a settlement that did not happen: answers r, or tells the
 * approval's apply (the approval fails). Frees st. */
static void settle_refuse(struct settle *st, int status, const char *code,
			  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void settle_refuse(struct settle *st, int status, const char *code,
			  const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->approved)
		st->ap.cb(status, code, msg, NULL, st->ap.arg);
	else if (status == 503)
		pr_api_store_unavailable(st->r);
	else
		pr_api_reply_err(st->r, status, code,
				 status == 409 ? "status" : NULL, "%s", msg);
	free(st);
}

static const char *const pay_outcomes[] = { "succeeded", "failed", "closed",
					    NULL };
static const char *const wd_outcomes[] = { "succeeded", "failed", NULL };

static void on_settled(int rc, enum pr_apply_result result, int from, void *row,
		       const char *err, void *arg)
{
	struct settle *st = arg;
	const struct pr_order_kind *k = st->k;
	struct pr_order_common *c = row;

	if (st->approved) {
		if (rc < 0) {
			pr_warn("orders: settling %s %s (approval %lld) "
				"failed: %s",
				k->name, st->id, (long long)st->ap.id,
				err ? err : "?");
			settle_refuse(st, rc == -ENOENT ? 404 : 503,
				      rc == -ENOENT ? "not_found" :
						      "store_unavailable",
				      "%s", err ? err : "store error");
		} else if (result != PR_APPLY_CHANGED) {
			settle_refuse(st, 409, "not_settleable",
				      "%s %s moved meanwhile: it is %s now",
				      k->name, st->id,
				      pr_state_name(k->machine, c->status));
		} else {
			pr_info("%s %s settled %s by %s, approving what %s "
				"asked (approval %lld, evidence %s)",
				k->name, st->id, st->s.outcome,
				st->ap.approved_by, st->ap.requested_by,
				(long long)st->ap.id, st->s.evidence);
			st->ap.cb(200, NULL, NULL, k->render(row, "en"),
				  st->ap.arg);
			free(st);
		}
		return;
	}
	if (rc < 0) {
		pr_warn("orders: settling %s %s failed: %s", k->name, st->id,
			err ? err : "?");
		if (rc == -ENOENT)
			pr_api_reply_err(st->r, 404, "not_found", NULL,
					 "no such %s", k->name);
		else
			pr_api_reply_db_error(st->r, "orders", "settle", err);
	} else if (result != PR_APPLY_CHANGED) {
		pr_api_reply_err(st->r, 409, "not_settleable", "status",
				 "%s %s moved meanwhile: it is %s now", k->name,
				 st->id, pr_state_name(k->machine, c->status));
	} else {
		json_t *j = k->render(row, "en");

		if (!j)
			pr_api_reply_err(st->r, 500, "internal", NULL,
					 "out of memory");
		else
			pr_settle_finish(st->r, &st->s, k->name, st->id, j);
	}
	free(st);
}

/* May an order of kind k in state `from` be settled to `to`? 0, or the
 * answer's message in why. */
static int settle_ok(const struct pr_order_kind *k, int from, int to, char *why,
		     size_t len)
{
	const struct pr_machine *m = k->machine;
	const char *fname = pr_state_name(m, from);

	if (from == k->st_processing || from == k->st_unknown ||
	    (k == &pr_withdrawal_kind && from == PR_WD_PENDING_CHANNEL &&
	     to == PR_WD_FAILED))
		return 0;
	if (k == &pr_withdrawal_kind && from == PR_WD_PENDING_CHANNEL)
		snprintf(why, len,
			 "withdrawal is pending_channel: nothing was sent, so "
			 "it can only be settled failed");
	else if (pr_state_final(m, from))
		snprintf(why, len, "%s is %s, a final state: nothing to settle",
			 k->name, fname);
	else
		snprintf(why, len,
			 "%s is %s: only a processing or unknown %s is "
			 "settled",
			 k->name, fname, k->name);
	return -EBUSY;
}

static void on_settle_loaded(void *row, const char *err, void *arg)
{
	struct settle *st = arg;
	const struct pr_order_kind *k = st->k;
	struct pr_order_common *c = row;
	struct pr_order_update u = { 0 };
	char why[200];
	json_t *detail;
	int rc;

	if (!row) {
		if (err)
			pr_warn("orders: reading %s %s failed: %s", k->name,
				st->id, err);
		if (err)
			settle_refuse(st, 503, "store_unavailable",
				      "the store is unavailable; retry later");
		else
			settle_refuse(st, 404, "not_found", "no such %s",
				      k->name);
		return;
	}
	if (settle_ok(k, c->status, st->to, why, sizeof(why)) < 0) {
		settle_refuse(st, 409, "not_settleable", "%s", why);
		return;
	}
	if (!st->approved && st->to == k->st_succeeded &&
	    pr_approval_needed(st->r->gen->config, c->amount)) {
		detail = pr_settle_detail(&st->s);
		pr_approval_request(st->r,
				    k == &pr_payment_kind ? "payment.settle" :
							    "withdrawal.settle",
				    c->id, detail, c->amount, c->currency);
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
	u.id = c->id;
	u.from = PR_FROM(c->status);
	u.to = st->to;
	u.event = "settle";
	u.detail = detail;
	u.actor = st->s.actor;
	u.code = pr_settle_code(st->s.outcome);
	rc = pr_order_apply(st->r->d, k, &u, on_settled, st);
	json_decref(detail);
	if (rc < 0)
		settle_refuse(st, 503, "store_unavailable",
			      "the store is unavailable; retry later");
}

static void settle(struct pr_request *r, const struct pr_route_match *m,
		   const struct pr_order_kind *k, const char *const *outcomes)
{
	const char *id = pr_route_param(m, "id");
	struct settle *st;
	size_t n = strlen(id);

	if (n < 8 || n > 32 ||
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		       "0123456789") != n) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such %s",
				 k->name);
		return;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	st->r = r;
	st->k = k;
	snprintf(st->id, sizeof(st->id), "%s", id);
	if (pr_settle_read(r, outcomes, &st->s) < 0) {
		free(st);
		return;
	}
	st->to = pr_state_parse(k->machine, st->s.outcome);
	if (pr_order_load(r->d, k, st->id, NULL, on_settle_loaded, st) < 0) {
		pr_api_store_unavailable(r);
		free(st);
	}
}

void pr_orders_settle_payment(struct pr_request *r,
			      const struct pr_route_match *m)
{
	settle(r, m, &pr_payment_kind, pay_outcomes);
}

void pr_orders_settle_withdrawal(struct pr_request *r,
				 const struct pr_route_match *m)
{
	settle(r, m, &pr_withdrawal_kind, wd_outcomes);
}

int pr_orders_settle_approved(struct pr_request *r, const char *kind,
			      const char *id, const json_t *payload,
			      const struct pr_approved *ap)
{
	const char *o = json_string_value(json_object_get(payload, "outcome"));
	const char *n = json_string_value(json_object_get(payload, "note"));
	const char *e = json_string_value(json_object_get(payload, "evidence"));
	const struct pr_order_kind *k = strcmp(kind, "payment") == 0 ?
						&pr_payment_kind :
						&pr_withdrawal_kind;
	struct settle *st;

	if (!o || !n || !e || strlen(id) >= sizeof(st->id))
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->r = r;
	st->k = k;
	st->approved = 1;
	st->ap = *ap;
	snprintf(st->id, sizeof(st->id), "%s", id);
	snprintf(st->s.outcome, sizeof(st->s.outcome), "%s", o);
	snprintf(st->s.note, sizeof(st->s.note), "%s", n);
	snprintf(st->s.evidence, sizeof(st->s.evidence), "%s", e);
	snprintf(st->s.actor, sizeof(st->s.actor), "%s", ap->approved_by);
	st->to = pr_state_parse(k->machine, o);
	if (st->to < 0) {
		free(st);
		return -EINVAL;
	}
	if (pr_order_load(r->d, k, st->id, NULL, on_settle_loaded, st) < 0) {
		free(st);
		return -EAGAIN;
	}
	return 0;
}
