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
 * Each kind checks its orders itself (struct pr_check_kind: payments in
 * payorder.c, refunds in refunds.c, withdrawals in withdrawals.c): take
 * the order (pr_check_load: the row the claim read, which reads a batch's
 * payments and withdrawals in the same statement; a refund reads its
 * own), ask its channel, apply the answer, and end with pr_check_done,
 * which schedules the next check or, when the schedule is used up, flags
 * the order for attention (it stays in order_checks and GET
 * /admin/v1/orders/attention lists it).
 *
 * A claimed batch is not started at once: its checks start one by one,
 * spread over three quarters of the interval (at most half the lease:
 * each starts well within its claim) (pace_next), so that a batch
 * of 32 does not put 32 channel calls (a signature each), 32 loads and
 * 32 commits in front of the requests arriving in the same few
 * milliseconds (doc/design.md §10: the overhead's tail). The rate is the
 * same: a batch is done within the interval, and the next claim waits
 * for it as before.
 *
 * The same tick forgets Idempotency-Keys older than a day. (No order is
 * left in `created` any more: its first commit stores it in the state its
 * attempt puts it in; migration 008 says how rows of the previous version
 * are swept.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "orders/completion.h"
#include "runtime/log.h"
#include "orders/orders.h"
#include "orders/payorder.h"
#include "orders/refunds.h"
#include "orders/withdrawals.h"

#define HOUSEKEEPING_EVERY_MS 60000

struct pr_completion {
	struct pr_daemon *d;
	struct event *timer;
	int claiming;
	int dead;	  /* freed by the daemon; the last check frees it */
	size_t in_flight; /* claimed and not ended, pending ones included */
	/* The claimed batch's checks not started yet (pace_next). */
	struct pr_check **pending;
	size_t n_pending, next_pending;
	struct event *pace;
	struct timeval pace_tv; /* between two starts */
	int64_t last_housekeeping;
	struct pr_completion_stats st;
	char *claim_sql; /* claim_sql_build */
};

static void completion_release(struct pr_completion *c)
{
	free(c->claim_sql);
	free(c);
}

/* Frees what check k holds besides itself. */
static void check_clear(struct pr_check *k)
{
	if (k->row) {
		k->kind->order->row_clear(k->row);
		free(k->row);
		k->row = NULL;
	}
	pr_gen_unref(k->gen);
}

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
	check_clear(k);
	free(k);
	if (c->dead && c->in_flight == 0 && !c->claiming)
		completion_release(c);
}

static void on_settled(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("completion: dropping a settled check failed: %s", err);
}

void pr_check_settled(struct pr_check *k)
{
	static const char sql[] =
		"DELETE FROM order_checks WHERE kind = $1 AND order_id = $2";
	const char *p[2] = { k->kind->kind, k->order_id };

	pr_db_query_bg(k->d->db, sql, 2, p, 0, on_settled, NULL);
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
	if (!id ||
	    pr_db_query_bg(k->d->db, sql, 8, p, 0, on_rescheduled, id) < 0) {
		pr_warn("completion: %s %s not rescheduled: store unavailable",
			k->kind->kind, k->order_id);
		free(id);
	}
	free(detail);
	check_free(k);
}

/* The kinds of orders, each with its own check (payorder.c, refunds.c,
 * withdrawals.c). */
static const struct pr_check_kind *const kinds[] = {
	&pr_payment_check,
	&pr_refund_check,
	&pr_withdrawal_check,
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

int pr_check_load(struct pr_check *k, pr_order_load_cb cb, void *arg)
{
	const struct pr_order_kind *ok = k->kind->order;
	void *row = k->row;

	if (!row) {
		k->c->st.read_alone++;
		return pr_order_load(k->d, ok, k->order_id, NULL, cb, arg);
	}
	/* k's no more: cb may end it */
	k->row = NULL;
	k->c->st.read_with_claim++;
	cb(row, NULL, arg);
	ok->row_clear(row);
	free(row);
	return 0;
}

/* The claim: $1 instance, $2 how many, $3 lease seconds.
 *
 *   SELECT c.r_kind, c.r_order_id, c.r_checks, k0.*, k1.*
 *   FROM pr_checks_claim($1, $2::int, $3::int) c
 *   <pr_order_claim_sql's lookups of the kinds with an order kind, by
 *     c.r_kind and c.r_order_id>
 *
 * Returns a new string or NULL. */
static char *claim_sql_build(void)
{
	const struct pr_order_kind *ok[N_KINDS];
	size_t n = 0;

	for (size_t i = 0; i < N_KINDS; i++)
		if (kinds[i]->order)
			ok[n++] = kinds[i]->order;
	return pr_order_claim_sql(
		"SELECT c.r_kind, c.r_order_id, c.r_checks",
		" FROM pr_checks_claim($1, $2::int, $3::int) c", ok, n, NULL,
		"c.r_kind", "c.r_order_id");
}

/* ---------------------------------------------------------------- tick */

/* Forgets the checks of the batch not started yet (the daemon stops):
 * their rows come due again when the lease ends. */
static void drop_pending(struct pr_completion *c)
{
	for (size_t i = c->next_pending; i < c->n_pending; i++) {
		c->in_flight--;
		check_clear(c->pending[i]);
		free(c->pending[i]);
	}
	free(c->pending);
	c->pending = NULL;
	c->n_pending = c->next_pending = 0;
}

/* Starts the batch's next check, and arms the timer for the one after. */
static void pace_next(evutil_socket_t fd, short what, void *arg)
{
	struct pr_completion *c = arg;
	struct pr_check *k;

	(void)fd;
	(void)what;
	if (c->d->stopping) {
		drop_pending(c);
		return;
	}
	k = c->pending[c->next_pending++];
	if (c->next_pending < c->n_pending) {
		evtimer_add(c->pace, &c->pace_tv);
	} else {
		free(c->pending);
		c->pending = NULL;
		c->n_pending = c->next_pending = 0;
	}
	k->kind->check(k);
}

static void on_claimed(PGresult *res, const char *err, void *arg)
{
	struct pr_completion *c = arg;
	const struct pr_config *cfg;
	int64_t spread_us;
	int mark[N_KINDS];
	int n;

	c->claiming = 0;
	if (c->dead) {
		if (c->in_flight == 0)
			completion_release(c);
		return;
	}
	if (!res) {
		c->st.errors++;
		pr_warn("completion: claiming due orders failed: %s", err);
		return;
	}
	n = PQntuples(res);
	if (n == 0)
		return;
	c->pending = calloc((size_t)n, sizeof(*c->pending));
	if (!c->pending)
		return; /* the rows come due again when the lease ends */
	for (size_t j = 0; j < N_KINDS; j++)
		mark[j] = kinds[j]->order ?
				  pr_order_claim_mark(res, kinds[j]->order) :
				  -1;
	for (int i = 0; i < n; i++) {
		const char *kind = PQgetvalue(res, i, 0);
		const struct pr_check_kind *kk = NULL;
		const char *rerr = NULL;
		struct pr_check *k;
		int kmark = -1;

		for (size_t j = 0; j < N_KINDS; j++)
			if (strcmp(kinds[j]->kind, kind) == 0) {
				kk = kinds[j];
				kmark = mark[j];
			}
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
		/* its order, when the claim read it (else read alone) */
		if (kk->order)
			k->row = pr_order_claim_read(res, i, kk->order, kmark,
						     &rerr);
		if (rerr)
			pr_warn("completion: %s %s as the claim read it: %s "
				"(read again)",
				kind, k->order_id, rerr);
		c->in_flight++;
		c->st.claimed++;
		c->pending[c->n_pending++] = k;
	}
	if (c->n_pending == 0) {
		free(c->pending);
		c->pending = NULL;
		return;
	}
	cfg = c->d->gen->config;
	/* Three quarters of the interval, and at most half the lease: a
	 * check must start well before its claim runs out and another
	 * instance may take the row. */
	spread_us = (int64_t)cfg->completion_interval_ms * 750;
	if (spread_us > (int64_t)cfg->completion_lease_s * 500000)
		spread_us = (int64_t)cfg->completion_lease_s * 500000;
	spread_us /= (int64_t)c->n_pending;
	c->pace_tv.tv_sec = spread_us / 1000000;
	c->pace_tv.tv_usec = spread_us % 1000000;
	pace_next(-1, 0, c);
}

static void on_housekeeping(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("completion: housekeeping failed: %s", err);
}

/* Forgets Idempotency-Keys older than a day. */
static void housekeeping(struct pr_completion *c)
{
	static const char sql[] = "DELETE FROM idempotency_keys "
				  "WHERE created_at < now() - interval '1 day'";

	pr_db_query_bg(c->d->db, sql, 0, NULL, 0, on_housekeeping, NULL);
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
	if (pr_db_query_bg(c->d->db, c->claim_sql, 3, p, 0, on_claimed, c) == 0)
		c->claiming = 1;
}

struct pr_completion *pr_completion_new(struct pr_daemon *d)
{
	struct pr_completion *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->d = d;
	c->claim_sql = claim_sql_build();
	c->timer = evtimer_new(d->base, on_tick, c);
	c->pace = evtimer_new(d->base, pace_next, c);
	if (!c->claim_sql || !c->timer || !c->pace) {
		if (c->timer)
			event_free(c->timer);
		if (c->pace)
			event_free(c->pace);
		completion_release(c);
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
	event_free(c->pace);
	c->pace = NULL;
	drop_pending(c);
	if (c->in_flight > 0 || c->claiming) {
		/* Checks still running end with errors as the store and the
		 * HTTP client go; the last one frees c. Their rows come due
		 * again when the lease ends. */
		c->dead = 1;
		return;
	}
	completion_release(c);
}

void pr_completion_get_stats(const struct pr_completion *c,
			     struct pr_completion_stats *st)
{
	*st = c->st;
	st->in_flight = c->in_flight;
}
