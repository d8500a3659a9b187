/*
 * flow.c - the cascade of one payment or withdrawal (flow.h).
 *
 * The flow keeps the order as the store has it (f->row, the kind's row)
 * and, before each commit, writes into it what the commit will store: the
 * merchant JSON built from it is then the answer, and the same text is
 * kept under the Idempotency-Key in that commit. When the store answers
 * that the order had moved meanwhile (a callback was faster), the answer
 * is the row the store returned instead.
 *
 * Reservations: the flow holds the current attempt's (f->tok) until the
 * order's row records it; from then on the store's row is what says who
 * gives it back (ordstore.c). A reservation whose first commit surely
 * failed is given back here; one whose commit may have happened (the
 * connection died with it in flight) is not: the order, if it exists,
 * holds it, and the completion job ends it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/apiutil.h"
#include "base/clock.h"
#include "orders/flow.h"
#include "runtime/log.h"

static void try_reserve(struct pr_flow *f);
static void send_attempt(struct pr_flow *f);

/* Adds the statement whose result is being handled to the request's time
 * in the store (payroute_store_wait_seconds, _run_seconds). */
static void count_store(struct pr_flow *f)
{
	int64_t wait_us, run_us;

	if (!f->r)
		return;
	pr_db_last_times(f->d->db, &wait_us, &run_us);
	f->r->store_wait_us += wait_us;
	f->r->store_run_us += run_us;
}

void pr_flow_clear(struct pr_flow *f)
{
	json_decref(f->trace);
	f->trace = NULL;
	f->attempts = NULL;
	json_decref(f->answer.detail);
	f->answer.detail = NULL;
	free(f->begin_text);
	f->begin_text = NULL;
	free(f->cands);
	f->cands = NULL;
	explicit_bzero(&f->order, sizeof(f->order));
}

static const char *kind_name(const struct pr_flow *f)
{
	return f->ops->kind->name;
}

static int is_final(const struct pr_flow *f, int status)
{
	return pr_state_final(f->ops->kind->machine, status);
}

/* Ends with an error answer. Nothing is kept under the key: before the
 * first commit there is no key in the store; after it, the key stays in
 * progress with its order, which answers a retry once it is stale. */
static void flow_error(struct pr_flow *f, int status, const char *code,
		       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void flow_error(struct pr_flow *f, int status, const char *code,
		       const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!f->r)
		pr_warn("%s %s: %s", kind_name(f), f->row->id, msg);
	f->idem.active = 0;
	f->ops->end(f, status,
		    json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			      msg));
}

/* The columns of payments and withdrawals a merchant's field goes into:
 * a store refusal naming one (pr_api_store_refusal) names the field. */
static const char *const store_fields[] = {
	"merchant_order_no",
	"merchant_order_no",
	"merchant_withdrawal_no",
	"merchant_withdrawal_no",
	"amount",
	"amount",
	"currency",
	"currency",
	"notify_url",
	"notify_url",
	"subject",
	"subject",
	"buyer_id",
	"buyer_id",
	"seller_id",
	"seller_id",
	"product_code",
	"product_code",
	"environment",
	"environment",
	"method",
	"method",
	"bank_code",
	"bank_code",
	"payee_kind",
	"payee.kind",
	"payee_name",
	"payee.name",
	"payee_bank_code",
	"payee.bank_code",
	NULL,
};

/* flow_error with "field" (NULL: none). */
static void flow_error_field(struct pr_flow *f, int status, const char *code,
			     const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void flow_error_field(struct pr_flow *f, int status, const char *code,
			     const char *field, const char *fmt, ...)
{
	char msg[512];
	json_t *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->idem.active = 0;
	e = json_pack("{s:s,s:s}", "code", code, "message", msg);
	if (e && field)
		json_object_set_new(e, "field", json_string(field));
	f->ops->end(f, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

/* Answers with the JSON of the order as f->row has it. */
void pr_flow_answer_row(struct pr_flow *f, int status)
{
	json_t *body = f->ops->kind->render(f->row, f->locale);

	if (!body) {
		flow_error(f, 500, "internal", "out of memory");
		return;
	}
	pr_idem_finish(f->d, &f->idem, status, json_incref(body));
	f->ops->end(f, status, body);
}

/* Replaces f->row with the store's row (the kind's struct). */
static void take_row(struct pr_flow *f, void *row)
{
	const struct pr_order_kind *k = f->ops->kind;
	char locale[8];

	if (row == f->row)
		return; /* the prediction, as the store now has it */
	memcpy(locale, f->row->locale, sizeof(locale));
	k->row_clear(f->row);
	memcpy(f->row, row, k->row_size);
	memset(row, 0, k->row_size); /* its references are f->row's now */
	if (!f->row->locale[0])
		memcpy(f->row->locale, locale, sizeof(locale));
}

json_t *pr_flow_attempt_json(const struct pr_flow *f, const struct pr_call *c,
			     const char *outcome)
{
	json_t *a = json_pack("{s:s,s:s,s:s}", "channel", f->spec->code,
			      "outcome", outcome, "code",
			      c && c->code ? c->code->unified : "");

	if (!a || !c)
		return a;
	if (c->end == PR_CALL_ANSWER) {
		json_object_set_new(a, "channel_code",
				    json_string(c->res.code));
		json_object_set_new(a, "channel_sub_code",
				    json_string(c->res.sub_code));
	}
	if (c->detail[0])
		json_object_set_new(a, "detail", json_string(c->detail));
	json_object_set_new(a, "http_status", json_integer(c->http_status));
	json_object_set_new(a, "ms", json_real(c->ms));
	return a;
}

static void trace_note(struct pr_flow *f, const struct pr_chan_spec *c,
		       const char *outcome)
{
	json_array_append_new(f->attempts,
			      json_pack("{s:s,s:s}", "channel", c->code,
					"outcome", outcome));
}

/* What the next commit writes, into f->row: status, outcome, end time. */
static void predict(struct pr_flow *f, int to, const struct pr_code *code,
		    const struct pr_call *c)
{
	struct pr_order_common *o = f->row;

	o->status = to;
	if (code) {
		snprintf(o->code, sizeof(o->code), "%s", code->unified);
		snprintf(o->message_en, sizeof(o->message_en), "%s",
			 code->message_en);
		snprintf(o->message_zh, sizeof(o->message_zh), "%s",
			 code->message_zh);
	}
	if (c && c->end == PR_CALL_ANSWER && c->res.channel_trade_no[0])
		snprintf(o->channel_trade_no, sizeof(o->channel_trade_no), "%s",
			 c->res.channel_trade_no);
	if (is_final(f, to))
		o->finished_ms = pr_now_ms();
	if (f->ops->predict)
		f->ops->predict(f, c);
}

/* The answer kept under the key with the next commit, or NULL. */
static char *idem_body(struct pr_flow *f)
{
	json_t *j;
	char *text;

	if (!f->idem.active)
		return NULL;
	j = f->ops->kind->render(f->row, f->locale);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return text;
}

/* Ends with the order as predicted and committed; text is the answer kept
 * under the key (or NULL: none was). */
static void answer_committed(struct pr_flow *f, char *text)
{
	json_t *body;

	f->idem.active = 0; /* kept with the commit */
	if (text && f->r) {
		/* The text kept under the key is the answer, as it is. */
		pr_request_raw(f->r, 201, "application/json", text,
			       strlen(text));
		free(text);
		f->ops->end(f, 0, NULL);
		return;
	}
	if (text) {
		body = json_loads(text, 0, NULL);
		free(text);
	} else {
		body = f->ops->kind->render(f->row, f->locale);
	}
	if (!body) {
		f->ops->end(f, 500,
			    json_pack("{s:{s:s,s:s}}", "error", "code",
				      "internal", "message", "out of memory"));
		return;
	}
	f->ops->end(f, 201, body);
}

/* ------------------------------------------------------ second commit */

struct step {
	struct pr_flow *f;
	char *idem_text;
	int cascade; /* a retryable failure and the next attempt */
};

static void on_second(int rc, enum pr_apply_result result, int from, void *row,
		      const char *err, void *arg)
{
	struct step *s = arg;
	struct pr_flow *f = s->f;
	char *text = s->idem_text;
	int cascade = s->cascade;

	free(s);
	(void)from;
	count_store(f);
	if (rc < 0) {
		free(text);
		if (cascade) {
			/* The next attempt's reservation: ours unless the
			 * statement may have committed. */
			if (pr_db_err_definite(err))
				pr_usage_release(f->d->usage, &f->next_tok);
			else
				pr_err("%s %s: the next attempt may or may not "
				       "be recorded (%s): its reservation on "
				       "%s is left to the order",
				       kind_name(f), f->row->id, err,
				       f->next_spec->code);
		}
		pr_err("%s %s: recording the answer failed: %s (the "
		       "completion job will settle it)",
		       kind_name(f), f->row->id, err ? err : "?");
		f->idem.active = 0; /* left in progress: its order exists */
		flow_error(f, 503, "store_unavailable",
			   "%s %s was sent but its outcome could not be "
			   "recorded; query it by id",
			   kind_name(f), f->row->id);
		return;
	}
	if (result != PR_APPLY_CHANGED) {
		/* Moved meanwhile (a callback, a check): the store's row is
		 * the answer. */
		free(text);
		if (cascade)
			pr_usage_release(f->d->usage, &f->next_tok);
		take_row(f, row);
		pr_info("%s %s: %s already: the answer of %s is history",
			kind_name(f), f->row->id,
			pr_state_name(f->ops->kind->machine, f->row->status),
			f->spec->code);
		pr_flow_answer_row(f, 201);
		return;
	}
	take_row(f, row);
	if (cascade) {
		free(text);
		pr_chanstats_cascade(
			f->d->chanstats, f->spec->code, f->next_spec->code,
			f->answer.code ? f->answer.code->unified : "");
		f->tok = f->next_tok;
		f->spec = f->next_spec;
		f->ch = f->next_ch;
		send_attempt(f);
		return;
	}
	answer_committed(f, text);
}

/* Records the outcome of the current attempt (to, code) and ends. */
static void second_commit(struct pr_flow *f, int to, const struct pr_code *code,
			  const struct pr_call *c, json_t *detail)
{
	struct pr_order_update u = { 0 };
	json_t *payer = NULL;
	struct step *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s) {
		flow_error(f, 500, "internal", "out of memory");
		return;
	}
	s->f = f;
	predict(f, to, code, c);
	s->idem_text = idem_body(f);
	if (c && c->end == PR_CALL_ANSWER && c->payer.n > 0)
		payer = pr_kv_to_json(&c->payer);
	u.id = f->row->id;
	u.from = PR_FROM(f->ops->kind->st_processing);
	u.to = to;
	u.event = "answer";
	u.detail = detail;
	u.now_ms = is_final(f, to) ? f->row->finished_ms : 0;
	u.code = code;
	u.res = c && c->end == PR_CALL_ANSWER ? &c->res : NULL;
	u.payer = payer;
	u.trace = f->trace;
	u.check_s = (int)f->gen->config->completion_s[0];
	u.idem_key = f->idem.active ? f->idem.key : NULL;
	u.idem_body = s->idem_text;
	u.row_after = f->row; /* predicted above */
	rc = pr_order_apply(f->d, f->ops->kind, &u, on_second, s);
	json_decref(payer);
	if (rc < 0) {
		free(s->idem_text);
		free(s);
		f->idem.active = 0;
		flow_error(f, 503, "store_unavailable",
			   "%s %s was sent but its outcome could not be "
			   "recorded; query it by id",
			   kind_name(f), f->row->id);
	}
}

/* The cascade: the retryable failure in f->answer and the next attempt on
 * f->next_spec with f->next_tok, in one commit. */
static void cascade_commit(struct pr_flow *f)
{
	struct pr_order_update u = { 0 };
	struct payroute_result *res =
		f->answer.end == PR_CALL_ANSWER ? &f->answer.res : NULL;
	json_t *adetail;
	struct step *s;
	int rc;

	s = calloc(1, sizeof(*s));
	adetail = json_pack("{s:s,s:i}", "channel", f->next_spec->code,
			    "attempt", f->row->attempts + 1);
	if (!s || !adetail) {
		free(s);
		json_decref(adetail);
		pr_usage_release(f->d->usage, &f->next_tok);
		flow_error(f, 500, "internal", "out of memory");
		return;
	}
	s->f = f;
	s->cascade = 1;
	u.id = f->row->id;
	u.from = PR_FROM(f->ops->kind->st_processing);
	u.to = f->ops->kind->st_processing;
	u.event = "answer";
	u.detail = f->answer.detail;
	u.code = f->answer.code;
	u.res = res;
	u.channel = f->next_spec->code;
	u.tok = &f->next_tok;
	u.attempt_detail = adetail;
	u.trace = f->trace;
	u.check_s = (int)f->gen->config->completion_s[0];
	u.check_reset = 1;
	rc = pr_order_apply(f->d, f->ops->kind, &u, on_second, s);
	json_decref(adetail);
	if (rc < 0) {
		free(s);
		pr_usage_release(f->d->usage, &f->next_tok);
		f->idem.active = 0;
		flow_error(f, 503, "store_unavailable",
			   "%s %s: the store became unavailable; query it by "
			   "id",
			   kind_name(f), f->row->id);
	}
}

int pr_flow_begin_send(struct pr_db *db, const struct pr_flow_begin_sqls *s,
		       const struct pr_flow_begin *b, int n,
		       const char *const *p, pr_db_cb cb, void *arg)
{
	int rc;

	if (strcmp(b->status, "processing") != 0)
		rc = pr_db_query(db, s->full, n, p, cb, arg);
	else if (b->idem_key)
		rc = pr_db_query(db, s->key, n, p, cb, arg);
	else
		rc = pr_db_query_else(db, s->fast, s->lean, n, p, cb, arg);
	return rc < 0 ? -EAGAIN : 0;
}

void pr_flow_begin_params(const struct pr_flow *f,
			  const struct pr_flow_begin *b, const char *hash,
			  const char **p)
{
	p[0] = f->row->id;
	p[1] = f->row->merchant_id;
	p[2] = f->row->merchant_no;
	p[3] = hash;
	p[4] = b->actor;
	p[5] = b->now_ms;
	p[6] = b->status;
	p[7] = b->channel;
	p[8] = b->usage_day;
	p[9] = b->usage_bank;
	p[10] = b->usage_amount;
	p[11] = b->detail;
	p[12] = b->check_s;
	p[13] = b->code;
	p[14] = b->message_en;
	p[15] = b->message_zh;
	p[16] = b->trace;
	p[17] = b->idem_key;
	p[18] = b->idem_endpoint;
	p[19] = b->idem_body;
}

/* ------------------------------------------------------------- the call */

static void on_call(struct pr_call *c, void *arg)
{
	struct pr_flow *f = arg;
	const struct pr_code *code = c->code;
	const char *outcome;
	json_t *a;
	int to;

	if (f->r)
		f->r->wait_us += pr_call_wait_us(c);
	f->last_code = code;
	if (code->effect == PAYROUTE_EFFECT_FAILED && code->retryable) {
		a = pr_flow_attempt_json(f, c, "retryable_failure");
		json_array_append(f->attempts, a);
		pr_info("%s %s: channel %s: %s (retryable): trying the next "
			"channel",
			kind_name(f), f->row->id, f->spec->code, code->unified);
		json_decref(f->answer.detail);
		f->answer.detail = a;
		f->answer.code = code;
		f->answer.end = c->end;
		f->answer.res = c->res;
		f->answer.res.payer = NULL;
		f->cascading = 1;
		try_reserve(f);
		return;
	}
	to = f->ops->to_status[code->effect <= PAYROUTE_EFFECT_CLOSED ?
				       code->effect :
				       PAYROUTE_EFFECT_UNKNOWN];
	outcome = pr_state_name(f->ops->kind->machine, to);
	if (code->effect == PAYROUTE_EFFECT_SUCCESS && c->res.amount >= 0 &&
	    c->res.amount != f->row->amount) {
		pr_err("%s %s: channel %s reports amount %lld, the order is "
		       "%lld: left unknown for an operator",
		       kind_name(f), f->row->id, f->spec->code,
		       (long long)c->res.amount, (long long)f->row->amount);
		to = f->ops->kind->st_unknown;
		code = pr_code_core("AMOUNT_MISMATCH");
		outcome = "amount_mismatch";
	}
	a = pr_flow_attempt_json(f, c, outcome);
	json_array_append_new(f->attempts, a);
	/* The answer's detail is the attempt as the stored trace has it: the
	 * history shows a first answer kept by the order (PR_APPLY_IMPLIED,
	 * ordstore.h) with the trace's first attempt as its detail. */
	second_commit(f, to, code, c, a);
}

static void send_attempt(struct pr_flow *f)
{
	f->have_tok = 0; /* the order's row holds it now */
	f->ops->order(f, f->spec);
	if (pr_chan_call(f->d, f->gen, f->ch, f->ops->op, &f->order, on_call,
			 f) < 0)
		flow_error(f, 500, "internal", "out of memory");
}

/* --------------------------------------------------------- first commit */

static void begun_key(struct pr_flow *f, PGresult *res);

static void on_begun_existing(void *row, const char *err, void *arg)
{
	struct pr_flow *f = arg;

	if (!row) {
		flow_error(f, 503, "store_unavailable",
			   "the order of this Idempotency-Key cannot be read%s",
			   err ? "; retry later" : "");
		return;
	}
	take_row(f, row);
	pr_flow_answer_row(f, 201);
}

static void begun_key(struct pr_flow *f, PGresult *res)
{
	char order_id[64];

	if (!pr_idem_found(f->r, &f->idem, res, PR_BEGIN_NCOLS, order_id,
			   sizeof(order_id))) {
		/* Answered: the key is another request's. */
		f->idem.active = 0;
		f->ops->end(f, 0, NULL);
		return;
	}
	if (pr_order_load(f->d, f->ops->kind, order_id, f->row->merchant_id,
			  on_begun_existing, f) < 0) {
		f->idem.active = 0;
		flow_error(f, 503, "store_unavailable",
			   "the store is unavailable; retry later");
	}
}

static void on_begun(PGresult *res, const char *err, void *arg)
{
	struct pr_flow *f = arg;
	const struct pr_order_kind *k = f->ops->kind;
	const char *result;

	count_store(f);
	if (!res || PQntuples(res) != 1) {
		char field[64];
		int status;

		if (f->have_tok) {
			/* Ours again only when the statement surely did
			 * not commit: a connection lost with the commit in
			 * flight may have stored the order, which then holds
			 * the reservation (given back when it ends). */
			if (!res && pr_db_err_definite(err))
				pr_usage_release(f->d->usage, &f->tok);
			else
				pr_err("%s %s: the first commit may or may not "
				       "have happened (%s): its reservation is "
				       "left to the order",
				       k->name, f->row->id,
				       err ? err :
					     "an answer of another shape");
			f->have_tok = 0;
		}
		f->idem.active = 0; /* nothing was kept */
		status = !res ? pr_api_store_refusal(err, store_fields, field,
						     sizeof(field)) :
				0;
		if (status) {
			/* The request's fault, which the parser let through:
			 * a 4xx naming the field when the store names its
			 * column; the store's words stay in the log. */
			pr_info("%s %s: the store refused it: %s", k->name,
				f->row->id, err);
			flow_error_field(f, status,
					 status == 409 ? "conflict" :
							 "invalid_value",
					 field[0] ? field : NULL,
					 "%s%sthe %s was refused as stored "
					 "(a value out of range or "
					 "malformed); nothing was sent",
					 field, field[0] ? ": " : "", k->name);
			return;
		}
		pr_warn("%s %s: storing it failed: %s", k->name, f->row->id,
			err ? err : "no answer");
		flow_error(f, 503, "store_unavailable",
			   "the %s could not be stored; nothing was sent; "
			   "retry later",
			   k->name);
		return;
	}
	result = PQgetvalue(res, 0, 0);
	if (strcmp(result, "created") != 0 && f->have_tok) {
		pr_usage_release(f->d->usage, &f->tok);
		f->have_tok = 0;
	}
	if (strcmp(result, "key") == 0) {
		begun_key(f, res);
		return;
	}
	if (strcmp(result, "duplicate") == 0) {
		json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
					 "duplicate_order", "message",
					 f->ops->dup_message, f->ops->dup_field,
					 PQgetvalue(res, 0, 1));

		pr_idem_finish(f->d, &f->idem, 409, json_incref(body));
		f->ops->end(f, 409, body);
		return;
	}
	pr_info("%s %s created for merchant %s (%s, %lld %s, %zu candidate "
		"channel%s)%s%s",
		k->name, f->row->id, f->row->merchant_id, f->row->merchant_no,
		(long long)f->row->amount, f->row->currency, f->n_cands,
		f->n_cands == 1 ? "" : "s",
		f->row->status == k->st_processing ? "" : ": ",
		f->row->status == k->st_processing ?
			"" :
			pr_state_name(k->machine, f->row->status));
	if (is_final(f, f->row->status))
		pr_chanstats_order(f->d->chanstats, k->name, f->row->channel,
				   pr_state_name(k->machine, f->row->status),
				   f->row->code, pr_now_ms());
	if (f->row->status != k->st_processing) {
		/* answer_committed frees the text and ends the flow, which
		 * frees f: take the text out of f first. */
		char *text = f->begin_text;

		f->begin_text = NULL;
		answer_committed(f, text);
		return;
	}
	send_attempt(f);
}

/* The first commit of a new order: with the reservation in f->tok (have
 * it) or, when no candidate could be reserved, the order's end state. */
static void first_commit(struct pr_flow *f)
{
	const struct pr_order_kind *k = f->ops->kind;
	const struct pr_code *code = NULL;
	char now[24], day[24], amount[24], check[16], retry[16];
	char *trace = NULL, *detail = NULL;
	struct pr_flow_begin b = { 0 };
	json_t *dj;
	int to, rc;

	if (f->have_tok) {
		to = k->st_processing;
		dj = json_pack("{s:s,s:i}", "channel", f->spec->code, "attempt",
			       1);
		snprintf(f->row->channel, sizeof(f->row->channel), "%s",
			 f->spec->code);
		f->row->attempts = 1;
		f->row->usage_day = f->tok.day;
		snprintf(f->row->usage_bank, sizeof(f->row->usage_bank), "%s",
			 f->tok.bank);
		f->row->usage_amount = f->tok.amount;
	} else {
		to = f->ops->no_channel_status;
		if (to == k->st_failed)
			code = f->last_code ? f->last_code :
					      pr_code_core("NO_CHANNEL");
		if (!f->last_code && f->ops->unservable &&
		    (code = f->ops->unservable(f)) != NULL) {
			to = k->st_failed;
			dj = json_pack("{s:s}", "reason",
				       "no channel could ever serve it");
		} else {
			dj = json_pack("{s:s}", "reason", "no usable channel");
		}
	}
	predict(f, to, code, NULL);
	snprintf(now, sizeof(now), "%lld", (long long)f->row->created_ms);
	snprintf(day, sizeof(day), "%lld", (long long)f->tok.day);
	snprintf(amount, sizeof(amount), "%lld", (long long)f->tok.amount);
	snprintf(check, sizeof(check), "%d",
		 (int)f->gen->config->completion_s[0]);
	snprintf(retry, sizeof(retry), "%d",
		 (f->gen->config->wd_retry_interval_ms + 999) / 1000);
	trace = json_dumps(f->trace, JSON_COMPACT);
	detail = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
	json_decref(dj);
	if (to != k->st_processing)
		f->begin_text = idem_body(f);
	if (!trace || !detail ||
	    (f->idem.active && to != k->st_processing && !f->begin_text)) {
		free(trace);
		free(detail);
		if (f->have_tok)
			pr_usage_release(f->d->usage, &f->tok);
		f->have_tok = 0;
		f->idem.active = 0;
		flow_error(f, 500, "internal", "out of memory");
		return;
	}
	b.actor = f->gen->config->instance;
	b.now_ms = now;
	b.status = pr_state_name(k->machine, to);
	b.channel = f->have_tok ? f->spec->code : NULL;
	b.usage_day = f->have_tok && f->tok.amount > 0 ? day : NULL;
	b.usage_bank = f->have_tok && f->tok.bank[0] ? f->tok.bank : NULL;
	b.usage_amount = f->have_tok && f->tok.amount > 0 ? amount : NULL;
	b.detail = detail;
	b.check_s = check;
	b.retry_s = retry;
	b.code = code ? code->unified : NULL;
	b.message_en = code ? code->message_en : NULL;
	b.message_zh = code ? code->message_zh : NULL;
	b.trace = trace;
	b.idem_key = f->idem.active ? f->idem.key : NULL;
	b.idem_endpoint = f->idem.active ? f->idem.endpoint : NULL;
	b.idem_body = f->begin_text;
	rc = f->ops->begin(f, &b, on_begun, f);
	free(trace);
	free(detail);
	if (rc < 0) {
		if (f->have_tok)
			pr_usage_release(f->d->usage, &f->tok);
		f->have_tok = 0;
		f->idem.active = 0;
		flow_error(f, 503, "store_unavailable",
			   "the store is unavailable; retry later");
	}
}

/* A stored order (a pending withdrawal routed again): the first attempt
 * is an apply from the states it may be in. */
static void on_stored_attempt(int rc, enum pr_apply_result result, int from,
			      void *row, const char *err, void *arg)
{
	struct pr_flow *f = arg;

	(void)from;
	if (rc < 0 || result != PR_APPLY_CHANGED) {
		if (rc >= 0 || pr_db_err_definite(err))
			pr_usage_release(f->d->usage, &f->tok);
		f->have_tok = 0;
		pr_warn("%s %s: recording the attempt on %s failed: %s",
			kind_name(f), f->row->id, f->spec->code,
			rc < 0 ? err : "the order moved meanwhile");
		f->ops->end(f, 0, NULL);
		return;
	}
	take_row(f, row);
	send_attempt(f);
}

static void stored_attempt(struct pr_flow *f)
{
	struct pr_order_update u = { 0 };
	json_t *detail = json_pack("{s:s,s:i}", "channel", f->spec->code,
				   "attempt", f->row->attempts + 1);
	int rc;

	u.id = f->row->id;
	u.from = f->stored_from;
	u.to = f->ops->kind->st_processing;
	u.event = "attempt";
	u.detail = detail;
	u.channel = f->spec->code;
	u.tok = &f->tok;
	u.trace = f->trace;
	u.check_s = (int)f->gen->config->completion_s[0];
	u.check_reset = 1;
	rc = pr_order_apply(f->d, f->ops->kind, &u, on_stored_attempt, f);
	json_decref(detail);
	if (rc < 0) {
		pr_usage_release(f->d->usage, &f->tok);
		f->have_tok = 0;
		f->ops->end(f, 0, NULL);
	}
}

/* --------------------------------------------------------- reservations */

static void reserved_none(struct pr_flow *f)
{
	if (f->cascading) {
		/* Every next candidate refused: the retryable failure is the
		 * end. */
		second_commit(f, f->ops->kind->st_failed, f->answer.code, NULL,
			      f->answer.detail);
		return;
	}
	if (f->stored) {
		f->ops->requeue(f);
		return;
	}
	first_commit(f);
}

static void on_reserved(int rc, const struct pr_usage_token *tok, void *arg)
{
	struct pr_flow *f = arg;

	if (rc <= 0) {
		if (rc < 0)
			pr_warn("%s %s: reserving the daily limit of %s "
				"failed: %s",
				kind_name(f), f->row->id, f->cand_spec->code,
				strerror(-rc));
		trace_note(f, f->cand_spec,
			   rc == 0 ? "daily_limit" : "reservation_error");
		try_reserve(f);
		return;
	}
	if (f->cascading) {
		f->next_tok = *tok;
		f->next_spec = f->cand_spec;
		f->next_ch = f->cand_ch;
		cascade_commit(f);
		return;
	}
	f->tok = *tok;
	f->have_tok = 1;
	f->spec = f->cand_spec;
	f->ch = f->cand_ch;
	if (f->stored)
		stored_attempt(f);
	else
		first_commit(f);
}

/* Reserves the next ranked candidate (on_reserved), or ends the search
 * (reserved_none). */
static void try_reserve(struct pr_flow *f)
{
	const struct pr_catalogue *cat = &f->gen->cat;
	struct pr_usage_limits lim;
	int rc;

	while (f->next < f->n_cands) {
		f->cand_spec = &cat->chans[f->cands[f->next++].chan];
		f->cand_ch = pr_gen_channel(f->gen, f->cand_spec->code);
		if (!f->cand_ch || !f->cand_ch->state) {
			trace_note(f, f->cand_spec, "driver_not_started");
			continue;
		}
		pr_chan_limits(f->cand_spec, f->bank_code, &lim);
		rc = !f->d->usage ?
			     -ESHUTDOWN :
			     pr_usage_reserve(f->d->usage, f->cand_spec->code,
					      f->cand_spec->tz, &lim,
					      f->row->amount, pr_now_ms(),
					      on_reserved, f);
		if (rc == 0)
			return;
		trace_note(f, f->cand_spec, "reservation_error");
	}
	reserved_none(f);
}

/* -------------------------------------------------------------- start */

void pr_flow_start(struct pr_flow *f)
{
	struct pr_route_req rq = { 0 };
	struct pr_order_route r;
	int rc;

	f->ops->route_req(f, &rq);
	rq.business = f->ops->business;
	rq.amount = f->row->amount;
	rq.currency = f->row->currency;
	rq.merchant = f->row->merchant_id;
	rq.now_ms = f->now_ms;
	rc = pr_order_route(f->d, f->gen, &rq, &r);
	if (rc < 0) {
		f->idem.active = 0;
		flow_error(f, rc == -EINVAL ? 400 : 500,
			   rc == -EINVAL ? "bad_request" : "internal",
			   "the %s cannot be routed: %s", kind_name(f),
			   strerror(-rc));
		return;
	}
	json_decref(f->trace);
	free(f->cands);
	f->cands = r.cands;
	f->n_cands = r.n_cands;
	f->trace = r.trace;
	f->attempts = r.attempts;
	f->next = 0;
	try_reserve(f);
}
