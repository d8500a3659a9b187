/*
 * completion.c - the order completion job (completion.h).
 *
 * Every completion.interval_ms each instance claims up to
 * completion.batch due rows of order_checks with pr_checks_claim (UPDATE
 * ... FROM (SELECT ... FOR UPDATE SKIP LOCKED), pushing next_at past a
 * lease of completion.lease_seconds): two instances never take the same
 * row, and the rows of an instance that died come due again when its lease
 * ends. A claim is not taken while the previous batch is still running.
 *
 * A payment check: load the payment; a final one only loses its check row.
 * Ask the channel (query). success / failed / closed settle it (the
 * transition drops the check row and queues the merchant notification);
 * processing stays processing until its expiry, and is then closed at the
 * channel (closed, reservation given back); an unknown answer (not
 * answered, not mapped, the channel does not know the order yet) is asked
 * again on the schedule. An order the channel does not know after its
 * expiry (plus a minute's grace for clocks) cannot be paid any more and is
 * closed too. When the schedule is used up an unknown order is flagged for
 * attention: it stays in order_checks and GET /admin/v1/orders/attention
 * lists it.
 *
 * The same tick also fails payments left in `created` for five minutes (an
 * instance died between inserting and sending them: nothing reached a
 * channel, since the check row is written before anything is sent), and
 * forgets Idempotency-Keys older than a day.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "completion.h"
#include "log.h"
#include "orders.h"
#include "refunds.h"
#include "withdrawals.h"

#define EXPIRY_GRACE_MS 60000
#define HOUSEKEEPING_EVERY_MS 60000

struct pr_completion {
	struct pr_daemon *d;
	struct event *timer;
	int claiming;
	int dead; /* freed by the daemon; the last check frees it */
	size_t in_flight;
	int64_t last_housekeeping;
	struct pr_completion_stats st;
};

static void on_tick(evutil_socket_t fd, short what, void *arg);

static void arm(struct pr_completion *c)
{
	int ms = c->d->gen->config->completion_interval_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

/* ------------------------------------------------------------ endings */

static void on_rescheduled(PGresult *res, const char *err, void *arg)
{
	char *id = arg;

	if (!res)
		pr_warn("completion: rescheduling %s failed: %s (it comes "
			"due again when the lease ends)",
			id, err);
	free(id);
}

static void check_free(struct pr_check *k)
{
	struct pr_completion *c = k->c;

	c->in_flight--;
	pr_gen_unref(k->gen);
	free(k);
	if (c->dead && c->in_flight == 0 && !c->claiming)
		free(c);
}

void pr_check_done(struct pr_check *k, const struct pr_check_end *e)
{
	static const char sql[] =
		"WITH ev AS (INSERT INTO order_events (kind, order_id, actor, "
		"event, detail) VALUES ($1, $2, $3, 'check', "
		"jsonb_build_object('result', $4::text, 'checks', $5::int) || "
		"coalesce($8::jsonb, '{}'))) "
		"UPDATE order_checks SET checks = $5::int, "
		"next_at = now() + make_interval(secs => $6::int), "
		"claimed_by = NULL, last_result = $4, attention = $7::boolean, "
		"attention_reason = CASE WHEN $7::boolean THEN "
		"'no final answer after ' || $5 || ' checks: ' || $4 END, "
		"updated_at = now() "
		"WHERE kind = $1 AND order_id = $2";
	const struct pr_config *cfg = k->gen->config;
	struct pr_completion *c = k->c;
	size_t n = cfg->n_completion_s;
	int done = k->checks + 1, attention = 0, delay;
	char s_done[16], s_delay[16], *detail = NULL, *id;
	const char *p[8];

	if (e->final || c->dead) {
		if (e->final)
			c->st.settled++;
		check_free(k);
		return;
	}
	if ((size_t)done < n) {
		delay = cfg->completion_s[done];
	} else {
		delay = cfg->completion_s[n - 1];
		attention = !e->keep_going;
	}
	if (e->delay_s > 0 && e->delay_s < delay)
		delay = e->delay_s;
	if (delay < 1)
		delay = 1;
	if (attention) {
		c->st.attention++;
		pr_warn("completion: %s %s: no final answer after %d checks "
			"(%s): flagged for attention",
			k->kind->kind, k->order_id, done,
			e->result ? e->result : "?");
	} else {
		c->st.rescheduled++;
	}
	snprintf(s_done, sizeof(s_done), "%d", done);
	snprintf(s_delay, sizeof(s_delay), "%d", delay);
	if (e->detail)
		detail = json_dumps(e->detail, JSON_COMPACT);
	id = strdup(k->order_id);
	p[0] = k->kind->kind;
	p[1] = k->order_id;
	p[2] = cfg->instance;
	p[3] = e->result ? e->result : "";
	p[4] = s_done;
	p[5] = s_delay;
	p[6] = attention ? "true" : "false";
	p[7] = detail;
	if (!id || pr_db_query(k->d->db, sql, 8, p, on_rescheduled, id) < 0) {
		pr_warn("completion: %s %s not rescheduled: store unavailable",
			k->kind->kind, k->order_id);
		free(id);
	}
	free(detail);
	check_free(k);
}

/* ------------------------------------------------------------ payments */

struct pay_check {
	struct pr_check *k;
	struct pr_pay_row row;
	const struct pr_channel *ch;
	const struct pr_chan_spec *spec;
	struct payroute_order order;
	char notify_buf[512];
	int closing;
};

static void pay_check_end(struct pay_check *pc, const struct pr_check_end *e)
{
	struct pr_check *k = pc->k;

	pr_pay_row_clear(&pc->row);
	free(pc);
	pr_check_done(k, e);
}

static void pay_end_result(struct pay_check *pc, int final, int keep_going,
			   int delay_s, const char *result)
{
	struct pr_check_end e = { 0 };

	e.final = final;
	e.keep_going = keep_going;
	e.delay_s = delay_s;
	e.result = result;
	pay_check_end(pc, &e);
}

static int64_t expiry_left_s(const struct pay_check *pc)
{
	int64_t left = pc->row.expire_at_ms + EXPIRY_GRACE_MS - pr_now_ms();

	return left <= 0 ? 0 : left / 1000 + 1;
}

static void on_applied(int rc, int changed, enum pr_pay_status from,
		       struct pr_pay_row *row, const char *err, void *arg)
{
	struct pay_check *pc = arg;
	char result[128];

	if (rc < 0 || !row) {
		pc->k->c->st.errors++;
		snprintf(result, sizeof(result), "store error: %s",
			 err ? err : "?");
		pay_end_result(pc, 0, 1, 0, result);
		return;
	}
	if (changed)
		pr_info("completion: payment %s: %s -> %s (%s)", row->id,
			pr_pay_status_name(from),
			pr_pay_status_name(row->status), row->code);
	if (pr_pay_status_final(row->status)) {
		pay_end_result(pc, 1, 0, 0, row->code);
		return;
	}
	snprintf(result, sizeof(result), "%s", row->code);
	pay_end_result(
		pc, 0, row->status == PR_PAY_PROCESSING,
		row->status == PR_PAY_PROCESSING ? (int)expiry_left_s(pc) : 0,
		result);
}

/* Applies a channel answer to the payment. */
static void pay_apply(struct pay_check *pc, struct pr_call *cl,
		      enum pr_pay_status to, const struct pr_code *code,
		      const char *event)
{
	struct pr_pay_update u = { 0 };
	json_t *detail = json_pack("{s:s,s:s}", "channel", pc->row.channel,
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
	u.id = pc->row.id;
	u.from = PR_FROM(PR_PAY_PROCESSING) | PR_FROM(PR_PAY_UNKNOWN);
	u.to = to;
	u.event = event;
	u.detail = detail;
	u.code = code;
	u.res = cl && cl->end == PR_CALL_ANSWER ? &cl->res : NULL;
	u.payer = payer;
	u.paid_amount = pc->row.amount;
	u.check_s = 1;
	rc = pr_pay_update(pc->k->d, &u, on_applied, pc);
	json_decref(detail);
	json_decref(payer);
	if (rc < 0) {
		pc->k->c->st.errors++;
		pay_end_result(pc, 0, 1, 0, "store unavailable");
	}
}

static void pay_close(struct pay_check *pc);

static void on_query(struct pr_call *cl, void *arg)
{
	struct pay_check *pc = arg;
	const struct pr_code *code = cl->code;
	int expired = pr_now_ms() > pc->row.expire_at_ms + EXPIRY_GRACE_MS;
	char result[300];

	if (cl->end != PR_CALL_ANSWER) {
		snprintf(result, sizeof(result), "%s: %s", code->unified,
			 cl->detail);
		pay_end_result(pc, 0, pc->row.status == PR_PAY_PROCESSING, 0,
			       result);
		return;
	}
	switch (code->effect) {
	case PAYROUTE_EFFECT_SUCCESS:
		if (cl->res.amount >= 0 && cl->res.amount != pc->row.amount) {
			pr_err("completion: payment %s: channel %s reports "
			       "amount %lld, the order is %lld: left unknown "
			       "for an operator",
			       pc->row.id, pc->row.channel,
			       (long long)cl->res.amount,
			       (long long)pc->row.amount);
			pay_apply(pc, cl, PR_PAY_UNKNOWN,
				  pr_code_core("AMOUNT_MISMATCH"), "check");
			return;
		}
		pay_apply(pc, cl, PR_PAY_SUCCEEDED, code, "check");
		return;
	case PAYROUTE_EFFECT_FAILED:
		pay_apply(pc, cl, PR_PAY_FAILED, code, "check");
		return;
	case PAYROUTE_EFFECT_CLOSED:
		pay_apply(pc, cl, PR_PAY_CLOSED, code, "check");
		return;
	case PAYROUTE_EFFECT_PROCESSING:
		if (expired) {
			pay_close(pc);
			return;
		}
		if (pc->row.status == PR_PAY_UNKNOWN) {
			/* Known to the channel, waiting for the payer. */
			pay_apply(pc, cl, PR_PAY_PROCESSING, code, "check");
			return;
		}
		snprintf(result, sizeof(result), "%s", code->unified);
		pay_end_result(pc, 0, 1, (int)expiry_left_s(pc), result);
		return;
	case PAYROUTE_EFFECT_UNKNOWN:
	default:
		if (expired && strcmp(code->unified, "ORDER_NOT_EXIST") == 0) {
			pay_close(pc);
			return;
		}
		snprintf(result, sizeof(result), "%s%s%s", code->unified,
			 cl->unmapped ? ": " : "",
			 cl->unmapped ? cl->detail : "");
		pay_end_result(pc, 0,
			       pc->row.status == PR_PAY_PROCESSING && !expired,
			       pc->row.status == PR_PAY_PROCESSING ?
				       (int)expiry_left_s(pc) :
				       0,
			       result);
		return;
	}
}

static void on_close(struct pr_call *cl, void *arg)
{
	struct pay_check *pc = arg;
	const struct pr_code *code = cl->code;
	char result[300];

	if (cl->end == PR_CALL_ANSWER &&
	    (code->effect == PAYROUTE_EFFECT_CLOSED ||
	     strcmp(code->unified, "ORDER_NOT_EXIST") == 0)) {
		pr_info("completion: payment %s expired: closed at channel %s",
			pc->row.id, pc->row.channel);
		pay_apply(pc, cl, PR_PAY_CLOSED, pr_code_core("ORDER_EXPIRED"),
			  "expire");
		return;
	}
	/* Paid meanwhile, or no answer: ask again soon. */
	snprintf(result, sizeof(result), "close after expiry: %s%s%s",
		 code->unified, cl->detail[0] ? ": " : "", cl->detail);
	pay_end_result(pc, 0, 1, pc->k->gen->config->completion_s[0], result);
}

static void pay_close(struct pay_check *pc)
{
	pc->closing = 1;
	if (pr_chan_call(pc->k->d, pc->k->gen, pc->ch, PR_OP_CLOSE, &pc->order,
			 on_close, pc) < 0)
		pay_end_result(pc, 0, 1, 0, "out of memory");
}

static void on_check_deleted(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("completion: dropping a settled check failed: %s", err);
}

static void on_pay_loaded(struct pr_pay_row *row, const char *err, void *arg)
{
	struct pay_check *pc = arg;
	struct pr_check *k = pc->k;
	static const char del_sql[] =
		"DELETE FROM order_checks "
		"WHERE kind = 'payment' AND order_id = $1";
	const char *params[1] = { k->order_id };
	char result[200];
	long ci;

	if (err) {
		k->c->st.errors++;
		pay_end_result(pc, 0, 1, 0, "store error");
		return;
	}
	if (!row || pr_pay_status_final(row->status) ||
	    row->status == PR_PAY_CREATED) {
		/* Nothing to chase (settled meanwhile, or never sent). */
		pr_db_query(k->d->db, del_sql, 1, params, on_check_deleted,
			    NULL);
		pay_end_result(pc, 1, 0, 0, "settled");
		return;
	}
	pc->row = *row;
	pc->row.json = json_incref(row->json);
	pc->ch = pr_gen_channel(k->gen, row->channel);
	ci = pr_catalogue_find(&k->gen->cat, row->channel);
	pc->spec = ci >= 0 ? &k->gen->cat.chans[ci] : NULL;
	if (!pc->ch) {
		snprintf(result, sizeof(result), "channel %s is not configured",
			 row->channel);
		pay_end_result(pc, 0, 0, 0, result);
		return;
	}
	pr_pay_order(&pc->row, k->gen->config, pc->spec, &pc->order,
		     pc->notify_buf, sizeof(pc->notify_buf));
	if (pr_chan_call(k->d, k->gen, pc->ch, PR_OP_QUERY, &pc->order,
			 on_query, pc) < 0)
		pay_end_result(pc, 0, 1, 0, "out of memory");
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
	if (pr_pay_load(k->d, k->order_id, NULL, on_pay_loaded, pc) < 0) {
		free(pc);
		e.result = "store unavailable";
		e.keep_going = 1;
		pr_check_done(k, &e);
	}
}

static const struct pr_check_kind payment_kind = { "payment", check_payment };

static const struct pr_check_kind *const kinds[] = {
	&payment_kind,
	&pr_refund_check,
	&pr_withdrawal_check,
};

/* ---------------------------------------------------------------- tick */

static void on_claimed(PGresult *res, const char *err, void *arg)
{
	struct pr_completion *c = arg;
	int n;

	c->claiming = 0;
	if (c->dead) {
		if (c->in_flight == 0)
			free(c);
		return;
	}
	if (!res) {
		c->st.errors++;
		pr_warn("completion: claiming due orders failed: %s", err);
		return;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		const char *kind = PQgetvalue(res, i, 0);
		const struct pr_check_kind *kk = NULL;
		struct pr_check *k;

		for (size_t j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++)
			if (strcmp(kinds[j]->kind, kind) == 0)
				kk = kinds[j];
		if (!kk) {
			pr_warn("completion: no checker for %s %s", kind,
				PQgetvalue(res, i, 1));
			continue;
		}
		k = calloc(1, sizeof(*k));
		if (!k)
			break;
		k->c = c;
		k->d = c->d;
		k->gen = pr_gen_ref(c->d->gen);
		k->kind = kk;
		snprintf(k->order_id, sizeof(k->order_id), "%s",
			 PQgetvalue(res, i, 1));
		k->checks = atoi(PQgetvalue(res, i, 2));
		c->in_flight++;
		c->st.claimed++;
		kk->check(k);
	}
}

static void on_housekeeping(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("completion: housekeeping failed: %s", err);
	else if (PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) > 0)
		pr_warn("completion: %s payment(s) left in 'created' by an "
			"interrupted instance were failed (never sent)",
			PQgetvalue(res, 0, 0));
}

static void housekeeping(struct pr_completion *c)
{
	static const char sql[] =
		"WITH k AS (DELETE FROM idempotency_keys "
		"WHERE created_at < now() - interval '1 day'), "
		"s AS (SELECT t.r_changed FROM (SELECT id FROM payments "
		"WHERE status = 'created' AND created_at < now() - "
		"interval '5 minutes' LIMIT 100) p, "
		"LATERAL pr_payment_transition(p.id, '{created}', 'failed', "
		"$1, 'sweep', '{\"reason\": \"interrupted before it was "
		"sent\"}', NULL, 'NO_CHANNEL', 'The payment could not be "
		"sent; please try again.', '支付未能发出，请重试。', NULL, NULL, "
		"NULL, NULL, NULL, NULL, false, NULL, NULL, NULL, true, NULL, "
		"0, false) t) "
		"SELECT count(*) FROM s WHERE r_changed";
	const char *p[1] = { c->d->gen->config->instance };

	pr_db_query(c->d->db, sql, 1, p, on_housekeeping, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pr_completion *c = arg;
	const struct pr_config *cfg = c->d->gen->config;
	char batch[16], lease[16];
	const char *p[3];
	int64_t now = pr_now_ms();

	(void)fd;
	(void)what;
	arm(c);
	if (!pr_db_ready(c->d->db) || c->d->stopping || c->claiming ||
	    c->in_flight > 0 || !c->d->gen->channels_from_store)
		return;
	if (now - c->last_housekeeping >= HOUSEKEEPING_EVERY_MS) {
		c->last_housekeeping = now;
		housekeeping(c);
	}
	snprintf(batch, sizeof(batch), "%d", cfg->completion_batch);
	snprintf(lease, sizeof(lease), "%d", cfg->completion_lease_s);
	p[0] = cfg->instance;
	p[1] = batch;
	p[2] = lease;
	if (pr_db_query(c->d->db,
			"SELECT r_kind, r_order_id, r_checks "
			"FROM pr_checks_claim($1, $2::int, $3::int)",
			3, p, on_claimed, c) == 0)
		c->claiming = 1;
}

struct pr_completion *pr_completion_new(struct pr_daemon *d)
{
	struct pr_completion *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->d = d;
	c->timer = evtimer_new(d->base, on_tick, c);
	if (!c->timer) {
		free(c);
		return NULL;
	}
	arm(c);
	return c;
}

void pr_completion_free(struct pr_completion *c)
{
	if (!c)
		return;
	event_free(c->timer);
	c->timer = NULL;
	if (c->in_flight > 0 || c->claiming) {
		/* Checks still running end with errors as the store and the
		 * HTTP client go; the last one frees c. Their rows come due
		 * again when the lease ends. */
		c->dead = 1;
		return;
	}
	free(c);
}

void pr_completion_get_stats(const struct pr_completion *c,
			     struct pr_completion_stats *st)
{
	*st = c->st;
	st->in_flight = c->in_flight;
}
