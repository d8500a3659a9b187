/*
 * ordstore.c - orders in the store for every kind (ordstore.h): the one
 * call behind every later change of a payment or a withdrawal, the row
 * loaders, and the pieces of the merchant JSON the kinds share.
 *
 * Reservations. A change that marks the current attempt's reservation
 * given back (a failed or closed order, or a retryable failure before the
 * next attempt), or that replaces it with a next attempt's, gives the old
 * one back to the usage tracker, and only the call whose statement did it
 * (the store returns the flag as it was before): however many answers,
 * callbacks and checks race, a reservation goes back once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/log.h"
#include "orders/chanhealth.h"
#include "orders/orders.h"
#include "orders/ordstore.h"
#include "orders/payorder.h"
#include "orders/outbox.h"

/* ------------------------------------------------------------- columns */

void pr_col_copy(char *dst, size_t len, const PGresult *res, int r, int col)
{
	snprintf(dst, len, "%s", PQgetvalue(res, r, col));
}

int64_t pr_col_i64(const PGresult *res, int r, int col)
{
	if (PQgetisnull(res, r, col))
		return 0;
	return strtoll(PQgetvalue(res, r, col), NULL, 10);
}

int pr_order_common_read(const struct pr_order_kind *k, const PGresult *res,
			 int r, int col, struct pr_order_common *c)
{
	if (PQnfields(res) < col + PR_ORDER_NCOLS)
		return -EPROTO;
	pr_col_copy(c->id, sizeof(c->id), res, r, col + 0);
	pr_col_copy(c->merchant_id, sizeof(c->merchant_id), res, r, col + 1);
	pr_col_copy(c->merchant_no, sizeof(c->merchant_no), res, r, col + 2);
	c->status = pr_state_parse(k->machine, PQgetvalue(res, r, col + 3));
	if (c->status < 0)
		return -EPROTO;
	pr_col_copy(c->channel, sizeof(c->channel), res, r, col + 4);
	c->amount = pr_col_i64(res, r, col + 5);
	pr_col_copy(c->currency, sizeof(c->currency), res, r, col + 6);
	pr_col_copy(c->code, sizeof(c->code), res, r, col + 7);
	pr_col_copy(c->message_en, sizeof(c->message_en), res, r, col + 8);
	pr_col_copy(c->message_zh, sizeof(c->message_zh), res, r, col + 9);
	pr_col_copy(c->channel_trade_no, sizeof(c->channel_trade_no), res, r,
		    col + 10);
	c->attempts = (int)pr_col_i64(res, r, col + 11);
	c->created_ms = pr_col_i64(res, r, col + 12);
	c->finished_ms = pr_col_i64(res, r, col + 13);
	c->usage_day = pr_col_i64(res, r, col + 14);
	pr_col_copy(c->usage_bank, sizeof(c->usage_bank), res, r, col + 15);
	c->usage_amount = pr_col_i64(res, r, col + 16);
	c->usage_released = PQgetvalue(res, r, col + 17)[0] == 't';
	pr_col_copy(c->notify_url, sizeof(c->notify_url), res, r, col + 18);
	return 0;
}

int pr_db_err_definite(const char *err)
{
	if (!err)
		return 0;
	if (strstr(err, "(SQLSTATE "))
		return 1;
	return strncmp(err, "store unavailable", 17) == 0;
}

/* ----------------------------------------------------------- the JSON */

int pr_time_text(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		t--;
	}
	if (!gmtime_r(&t, &tm)) {
		if (len)
			buf[0] = '\0';
		return -EOVERFLOW;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, frac);
	return 0;
}

json_t *pr_json_time(int64_t ms)
{
	char buf[64];

	return pr_time_text(ms, buf, sizeof(buf)) < 0 ? json_null() :
							json_string(buf);
}

void pr_json_put_str(json_t *o, const char *key, const char *s)
{
	if (s && s[0])
		json_object_set_new(o, key, json_string(s));
}

void pr_json_put_code(json_t *o, const char *code, const char *message_en,
		      const char *message_zh, const char *locale)
{
	if (!code || !code[0])
		return;
	json_object_set_new(o, "code", json_string(code));
	pr_json_put_str(o, "message",
			locale && strcmp(locale, "en") == 0 ? message_en :
							      message_zh);
	json_object_set_new(o, "messages",
			    json_pack("{s:s,s:s}", "en", message_en, "zh-CN",
				      message_zh));
}

/* ------------------------------------------------------------- apply */

struct apply {
	struct pr_daemon *d;
	const struct pr_order_kind *k;
	int new_attempt;
	const void *row_after; /* the caller's, for PR_APPLY_FAST_SQL */
	pr_order_apply_cb cb;
	void *arg;
};

static const char *const apply_results[] = { "changed", "ignored", "guard" };

/* A final outcome on row's channel, for the recent success rate (usage.c,
 * the overview's) and the routing's estimates per segment (chanhealth.c;
 * a payment's segment is its method, environment and bank). */
static void note_outcome(struct pr_daemon *d, const struct pr_order_kind *k,
			 const struct pr_order_common *row)
{
	const struct pr_pay_row *p =
		k == &pr_payment_kind ? (const struct pr_pay_row *)row : NULL;
	int ok = row->status == k->st_succeeded;

	if (d->usage)
		pr_usage_outcome(d->usage, row->channel, ok, pr_now_ms());
	if (d->gen)
		pr_health_outcome(d->health, d->gen->config, row->channel,
				  p ? p->method : NULL,
				  p ? p->environment : NULL,
				  p ? p->bank_code : NULL, ok);
}

static void apply_done(struct apply *a, PGresult *res, const char *err)
{
	const struct pr_order_kind *k = a->k;
	enum pr_apply_result result = PR_APPLY_CHANGED;
	struct pr_order_common *row = NULL;
	int from = -1, released_before, rc = 0, copied = 0;
	int64_t old_amount;

	if (!res) {
		rc = -EIO;
		goto out;
	}
	if (PQntuples(res) != 1) {
		rc = -ENOENT;
		err = "no such order";
		goto out;
	}
	for (size_t i = 0; i < 3; i++)
		if (strcmp(PQgetvalue(res, 0, 0), apply_results[i]) == 0)
			result = (enum pr_apply_result)i;
	from = pr_state_parse(k->machine, PQgetvalue(res, 0, 1));
	row = calloc(1, k->row_size);
	if (!row) {
		rc = -ENOMEM;
		err = "out of memory";
		goto out;
	}
	if (from >= 0 && PQnfields(res) == PR_APPLY_NCOLS && a->row_after) {
		/* PR_APPLY_FAST_SQL changed it: the row after is the caller's
		 * (a copy, so that what follows reads one kind of row) */
		memcpy(row, a->row_after, k->row_size);
		copied = 1;
	} else if (from < 0 ||
		   k->row_read(res, 0, PR_APPLY_NCOLS, 0, row) < 0) {
		rc = -EPROTO;
		err = "the store gave a malformed row";
		goto out;
	}
	released_before = PQgetvalue(res, 0, 2)[0] == 't';
	old_amount = pr_col_i64(res, 0, 6);
	/* The reservation this call gave back, or replaced. */
	if (result == PR_APPLY_CHANGED && !released_before && old_amount > 0 &&
	    (row->usage_released || a->new_attempt))
		pr_usage_release_stored(a->d, k->name, row->id,
					PQgetvalue(res, 0, 3),
					PQgetvalue(res, 0, 5),
					pr_col_i64(res, 0, 4), old_amount);
	/* An outcome: a final state, or unknown entered. */
	if (result == PR_APPLY_CHANGED &&
	    (pr_state_final(k->machine, row->status) ||
	     (row->status == k->st_unknown && from != k->st_unknown)))
		pr_chanstats_order(a->d->chanstats, k->name, row->channel,
				   pr_state_name(k->machine, row->status),
				   row->code, pr_now_ms());
	if (result == PR_APPLY_CHANGED &&
	    pr_state_final(k->machine, row->status)) {
		if (row->channel[0] && (row->status == k->st_succeeded ||
					row->status == k->st_failed))
			note_outcome(a->d, k, row);
		/* A notification was queued with the change. */
		if (a->d->outbox && row->notify_url[0])
			pr_outbox_kick(a->d->outbox);
	}
out:
	if (a->cb)
		a->cb(rc, result, from,
		      rc == 0 ? (copied ? (void *)a->row_after : row) : NULL,
		      err, a->arg);
	if (row && !copied)
		k->row_clear(row);
	free(row);
	free(a);
}

static void on_applied(PGresult *res, const char *err, void *arg)
{
	apply_done(arg, res, err ? err : "store error");
}

int pr_order_apply(struct pr_daemon *d, const struct pr_order_kind *k,
		   const struct pr_order_update *u, pr_order_apply_cb cb,
		   void *arg)
{
	char from[160], now[24], day[24], amount[24], check[16];
	char retry[16], guard[24];
	char *detail = NULL, *adetail = NULL, *payer = NULL, *trace = NULL;
	const struct payroute_result *r = u->res;
	const struct pr_code *c = u->code;
	const char *p[28], *sql, *sql_else = NULL;
	struct apply *a;
	int rc = 0, lean;

	if (u->to < 0 || u->to >= k->machine->n ||
	    !pr_state_set_literal(k->machine, u->from, from, sizeof(from)))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	a->k = k;
	a->new_attempt = u->channel != NULL;
	a->row_after = u->row_after;
	a->cb = cb;
	a->arg = arg;
	if (u->detail)
		detail = json_dumps(u->detail, JSON_COMPACT);
	if (u->attempt_detail)
		adetail = json_dumps(u->attempt_detail, JSON_COMPACT);
	if (u->payer)
		payer = json_dumps(u->payer, JSON_COMPACT);
	if (u->trace)
		trace = json_dumps(u->trace, JSON_COMPACT);
	snprintf(now, sizeof(now), "%lld",
		 (long long)(u->now_ms > 0 ? u->now_ms : pr_now_ms()));
	snprintf(day, sizeof(day), "%lld",
		 (long long)(u->tok ? u->tok->day : 0));
	snprintf(amount, sizeof(amount), "%lld",
		 (long long)(u->tok ? u->tok->amount : 0));
	snprintf(guard, sizeof(guard), "%lld", (long long)u->guard_amount);
	snprintf(check, sizeof(check), "%d", u->check_s > 0 ? u->check_s : 10);
	snprintf(retry, sizeof(retry), "%d", u->retry_s > 0 ? u->retry_s : 5);
	p[0] = u->id;
	p[1] = from;
	p[2] = pr_state_name(k->machine, u->to);
	p[3] = u->actor ? u->actor : d->gen->config->instance;
	p[4] = u->event;
	p[5] = detail;
	p[6] = now;
	p[7] = u->channel;
	p[8] = u->channel && u->tok && u->tok->amount > 0 ? day : NULL;
	p[9] = u->channel && u->tok && u->tok->bank[0] ? u->tok->bank : NULL;
	p[10] = u->channel && u->tok && u->tok->amount > 0 ? amount : NULL;
	p[11] = adetail;
	p[12] = u->release ? "true" : "false";
	p[13] = c ? c->unified : NULL;
	p[14] = c ? c->message_en : NULL;
	p[15] = c ? c->message_zh : NULL;
	p[16] = c && r ? r->code : NULL;
	p[17] = c && r ? r->sub_code : NULL;
	p[18] = c && r ? r->message : NULL;
	p[19] = r ? r->channel_trade_no : NULL;
	p[20] = k->apply_extra == PR_EXTRA_PAYER ? payer : retry;
	p[21] = trace;
	p[22] = check;
	p[23] = u->check_reset ? "true" : "false";
	p[24] = u->guard_channel;
	p[25] = u->guard_amount_set ? guard : NULL;
	p[26] = u->idem_key;
	p[27] = u->idem_key ? u->idem_body : NULL;
	/* The lean statement when none of the rare clauses would write. */
	lean = !adetail && !u->check_reset && !u->idem_key &&
	       !pr_state_final(k->machine, u->to);
	sql = lean && k->apply_lean_sql ? k->apply_lean_sql : k->apply_sql;
	if (lean && k->apply_answer_sql && strcmp(u->event, "answer") == 0) {
		sql = k->apply_answer_sql;
		/* The flow's answer to its own processing order: one UPDATE,
		 * or this statement when it finds the order otherwise. */
		if (k->apply_fast_sql && u->row_after && !u->release &&
		    (u->from & PR_FROM(k->st_processing))) {
			sql_else = sql;
			sql = k->apply_fast_sql;
		}
	}
	/* A processing order's final change without a next attempt, a check
	 * reset or a key (a callback, a check): one UPDATE, or the full
	 * statement when it finds the order otherwise. */
	if (!lean && k->apply_final_sql && !u->channel && !adetail &&
	    !u->check_reset && !u->idem_key &&
	    pr_state_final(k->machine, u->to) &&
	    (u->from & PR_FROM(k->st_processing))) {
		sql_else = sql;
		sql = k->apply_final_sql;
	}
	if ((sql_else ? pr_db_query_else(d->db, sql, sql_else, 28, p,
					 on_applied, a) :
			pr_db_query(d->db, sql, 28, p, on_applied, a)) < 0) {
		free(a);
		rc = -EAGAIN;
	}
	free(detail);
	free(adetail);
	free(payer);
	free(trace);
	return rc;
}

/* ----------------------------------------------------------- callbacks */

const struct pr_code *pr_order_notify_code(struct pr_daemon *d,
					   const struct pr_generation *gen,
					   const struct pr_channel *ch,
					   const struct payroute_notify *nt)
{
	const struct pr_code *code =
		gen->codes ?
			pr_codemap_lookup(gen->codes, ch->driver, ch->code,
					  "notify", nt->code, nt->sub_code) :
			NULL;

	if (code)
		return code;
	pr_unmapped_note(d, ch, "notify", nt->code, nt->sub_code, nt->order_id,
			 nt->message);
	return pr_code_core("UNMAPPED_CODE");
}

struct notify_cb {
	struct pr_daemon *d;
	const struct pr_order_kind *k;
	char channel[65];
	struct payroute_notify nt;
	const struct pr_code *code;
	struct payroute_result res;
	void (*done)(int ok, void *arg);
	void *arg;
};

static void notify_end(struct notify_cb *c, int ok)
{
	c->done(ok, c->arg);
	free(c);
}

static int notify_apply(struct notify_cb *c, int to, const struct pr_code *code,
			int guard_amount);

static void on_notify_applied(int rc, enum pr_apply_result result, int from,
			      void *row, const char *err, void *arg)
{
	struct notify_cb *c = arg;
	const struct pr_order_kind *k = c->k;
	struct pr_order_common *o = row;

	if (rc == -ENOENT) {
		pr_warn("callback from %s: no %s %s here", c->channel, k->name,
			c->nt.order_id);
		notify_end(c, 0);
		return;
	}
	if (rc < 0) {
		pr_warn("callback from %s: %s %s not updated: %s (the channel "
			"will send it again)",
			c->channel, k->name, c->nt.order_id, err ? err : "?");
		notify_end(c, 0);
		return;
	}
	if (result == PR_APPLY_GUARD) {
		if (strcmp(o->channel, c->channel) != 0) {
			pr_err("callback from %s for %s %s, which was sent to "
			       "channel %s: refused",
			       c->channel, k->name, o->id,
			       o->channel[0] ? o->channel : "(none)");
			notify_end(c, 0);
			return;
		}
		pr_err("callback from %s: %s %s moved %lld but the order is "
		       "%lld: left unknown for an operator",
		       c->channel, k->name, o->id, (long long)c->nt.amount,
		       (long long)o->amount);
		if (notify_apply(c, k->st_unknown,
				 pr_code_core("AMOUNT_MISMATCH"), 0) < 0)
			notify_end(c, 0);
		return;
	}
	if (c->code->effect == PAYROUTE_EFFECT_SUCCESS && from >= 0 &&
	    from != k->st_succeeded && pr_state_final(k->machine, from))
		pr_err("callback from %s: %s %s is %s but the channel reports "
		       "the money moved (%s): an operator must reconcile it",
		       c->channel, k->name, o->id,
		       pr_state_name(k->machine, from), c->nt.channel_trade_no);
	if (result == PR_APPLY_CHANGED)
		pr_info("callback from %s: %s %s: %s -> %s (%s)", c->channel,
			k->name, o->id, pr_state_name(k->machine, from),
			pr_state_name(k->machine, o->status), o->code);
	else
		pr_info("callback from %s: %s %s is %s already: duplicate or "
			"late callback ignored",
			c->channel, k->name, o->id,
			pr_state_name(k->machine, o->status));
	notify_end(c, 1);
}

static int notify_apply(struct notify_cb *c, int to, const struct pr_code *code,
			int guard_amount)
{
	struct pr_order_update u = { 0 };
	json_t *detail;
	int rc;

	detail = json_pack("{s:s,s:s,s:s,s:s}", "channel", c->channel, "code",
			   code->unified, "channel_code", c->nt.code,
			   "channel_sub_code", c->nt.sub_code);
	u.id = c->nt.order_id;
	u.from = PR_FROM(c->k->st_processing) | PR_FROM(c->k->st_unknown);
	u.to = to;
	u.event = "callback";
	u.detail = detail;
	u.code = code;
	u.res = &c->res;
	u.check_s = 1;
	u.guard_channel = c->channel;
	if (guard_amount) {
		u.guard_amount_set = 1;
		u.guard_amount = c->nt.amount;
	}
	rc = pr_order_apply(c->d, c->k, &u, on_notify_applied, c);
	json_decref(detail);
	return rc;
}

int pr_order_callback(struct pr_daemon *d, const struct pr_order_kind *k,
		      const struct pr_channel *ch,
		      const struct payroute_notify *nt,
		      const struct pr_code *code, int to,
		      void (*done)(int ok, void *arg), void *arg)
{
	struct notify_cb *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = d;
	c->k = k;
	snprintf(c->channel, sizeof(c->channel), "%s", ch->code);
	c->nt = *nt;
	c->code = code;
	c->done = done;
	c->arg = arg;
	c->res.size = sizeof(c->res);
	snprintf(c->res.code, sizeof(c->res.code), "%s", nt->code);
	snprintf(c->res.sub_code, sizeof(c->res.sub_code), "%s", nt->sub_code);
	snprintf(c->res.message, sizeof(c->res.message), "%s", nt->message);
	snprintf(c->res.channel_trade_no, sizeof(c->res.channel_trade_no), "%s",
		 nt->channel_trade_no);
	snprintf(c->res.status, sizeof(c->res.status), "%s", nt->status);
	c->res.amount = nt->amount;
	rc = notify_apply(c, to, code,
			  code->effect == PAYROUTE_EFFECT_SUCCESS &&
				  nt->amount >= 0);
	if (rc < 0)
		free(c);
	return rc;
}

/* -------------------------------------------------------------- loads */

struct load {
	const struct pr_order_kind *k;
	pr_order_load_cb cb;
	void *arg;
};

static void on_loaded(PGresult *res, const char *err, void *arg)
{
	struct load *l = arg;
	const struct pr_order_kind *k = l->k;
	void *row = NULL;

	if (!res) {
		l->cb(NULL, err ? err : "store error", l->arg);
	} else if (PQntuples(res) == 0) {
		l->cb(NULL, NULL, l->arg);
	} else if (!(row = calloc(1, k->row_size))) {
		l->cb(NULL, "out of memory", l->arg);
	} else if (k->row_read(res, 0, 0, 1, row) < 0) {
		l->cb(NULL, "the store gave a malformed row", l->arg);
	} else {
		l->cb(row, NULL, l->arg);
	}
	if (row) {
		k->row_clear(row);
		free(row);
	}
	free(l);
}

int pr_order_load_sql(struct pr_daemon *d, const struct pr_order_kind *k,
		      const char *sql, int n, const char *const *params,
		      pr_order_load_cb cb, void *arg)
{
	struct load *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->k = k;
	l->cb = cb;
	l->arg = arg;
	if (pr_db_query(d->db, sql, n, params, on_loaded, l) < 0) {
		free(l);
		return -EAGAIN;
	}
	return 0;
}

int pr_order_load(struct pr_daemon *d, const struct pr_order_kind *k,
		  const char *id, const char *merchant_id, pr_order_load_cb cb,
		  void *arg)
{
	const char *p[2] = { id, merchant_id };

	return pr_order_load_sql(d, k, k->load_sql, 2, p, cb, arg);
}

struct json_load {
	const struct pr_order_kind *k;
	pr_order_json_cb cb;
	void *arg;
};

static void on_json_loaded(void *row, const char *err, void *arg)
{
	struct json_load *l = arg;
	json_t *j = NULL;

	if (row) {
		j = l->k->render(row, NULL);
		if (!j)
			err = "out of memory";
	}
	l->cb(j, err, l->arg);
	free(l);
}

#define CLAIM_MARK "pr_kind_" /* + the kind's name */

/* OFFSET 0 keeps each lookup a subquery: the planner would otherwise
 * pull it up into a join, and with a claim it estimates at 1,000 rows (a
 * function's default) or a small table it hashed the whole kind's table,
 * read by a sequential scan at every claim (6.7 ms a claim with 3,200
 * payments, growing with the table). Kept, it is looked up by the
 * claimed row's id (the table's primary key), once per row, and not at
 * all for a row of another kind (a one-time filter). */
char *pr_order_claim_sql(const char *head, const char *from,
			 const struct pr_order_kind *const *kinds, size_t n,
			 const char *cond, const char *kind_col, const char *id)
{
	struct evbuffer *b = evbuffer_new();
	char *sql = NULL;
	size_t len;
	int rc;

	if (!b)
		return NULL;
	rc = evbuffer_add_printf(b, "%s", head);
	for (size_t i = 0; rc >= 0 && i < n; i++)
		rc = evbuffer_add_printf(b, ", k%zu.*", i);
	if (rc >= 0)
		rc = evbuffer_add_printf(b, "%s", from);
	for (size_t i = 0; rc >= 0 && i < n; i++)
		rc = evbuffer_add_printf(
			b,
			" LEFT JOIN LATERAL (SELECT true AS " CLAIM_MARK
			"%s, %s, m.locale FROM %s x JOIN merchants m ON "
			"m.id = x.merchant_id WHERE %s%s%s = '%s' AND "
			"x.id = %s OFFSET 0) k%zu ON true",
			kinds[i]->name, kinds[i]->cols, kinds[i]->table,
			cond ? cond : "", cond ? " AND " : "", kind_col,
			kinds[i]->name, id, i);
	len = evbuffer_get_length(b);
	if (rc >= 0 && (sql = malloc(len + 1))) {
		evbuffer_copyout(b, sql, len);
		sql[len] = '\0';
	}
	evbuffer_free(b);
	return sql;
}

int pr_order_claim_mark(PGresult *res, const struct pr_order_kind *k)
{
	char name[64];

	snprintf(name, sizeof(name), CLAIM_MARK "%s", k->name);
	return PQfnumber(res, name);
}

void *pr_order_claim_read(PGresult *res, int r, const struct pr_order_kind *k,
			  int mark, const char **err)
{
	void *row;

	*err = NULL;
	if (mark < 0 || PQgetisnull(res, r, mark))
		return NULL;
	row = calloc(1, k->row_size);
	if (!row) {
		*err = "out of memory";
		return NULL;
	}
	if (k->row_read(res, r, mark + 1, 1, row) < 0) {
		k->row_clear(row);
		free(row);
		*err = "the store gave a malformed row";
		return NULL;
	}
	return row;
}

int pr_order_json_load(struct pr_daemon *d, const struct pr_order_kind *k,
		       const char *id, pr_order_json_cb cb, void *arg)
{
	struct json_load *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	l->k = k;
	l->cb = cb;
	l->arg = arg;
	rc = pr_order_load(d, k, id, NULL, on_json_loaded, l);
	if (rc < 0)
		free(l);
	return rc;
}
