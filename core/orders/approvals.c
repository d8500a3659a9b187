/*
 * approvals.c - four eyes on money, the orders' side (see approvals.h).
 *
 * A request above approvals.threshold is not applied: its whole body is
 * kept in the approvals table (etc/migrations/016_approvals.sql) with the
 * operator who made it, and the answer is 202 with the pending approval.
 * The row and its audit line are one statement, so there is never one
 * without the other. The store allows one pending approval per target: a
 * second request for the same order is 409, naming the first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "orders/approvals.h"
#include "runtime/apiutil.h"
#include "runtime/config.h"
#include "runtime/db.h"
#include "runtime/generation.h"
#include "runtime/log.h"

int pr_approval_needed(const struct pr_config *cfg, int64_t amount)
{
	return cfg && cfg->approvals_threshold >= 0 &&
	       amount >= cfg->approvals_threshold;
}

/* ------------------------------------------------------------ request */

struct req {
	struct pr_request *r;
	char kind[24];
	char target[72];
};

static void on_requested(PGresult *res, const char *err, void *arg)
{
	struct req *q = arg;
	struct pr_request *r = q->r;
	char state[6];
	json_error_t jerr;
	json_t *a;

	if (!res) {
		pr_api_err_sqlstate(err, state);
		if (strcmp(state, "23505") == 0) {
			pr_info("approvals: %s of %s refused: one is pending "
				"already",
				q->kind, q->target);
			pr_api_reply_err(r, 409, "approval_pending", NULL,
					 "%s already has a pending approval: "
					 "approve or reject it first (GET "
					 "/admin/v1/approvals?state=pending)",
					 q->target);
		} else {
			pr_api_reply_db_error(r, "approvals", "request", err);
		}
		free(q);
		return;
	}
	a = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, &jerr) :
				  NULL;
	if (!a) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "bad approval row from the store");
	} else {
		pr_info("approvals: %s of %s by %s waits for a second "
			"operator (approval %s)",
			q->kind, q->target, pr_api_actor(r),
			PQgetvalue(res, 0, 1));
		pr_request_reply(r, 202, json_pack("{s:o}", "approval", a));
	}
	free(q);
}

void pr_approval_request(struct pr_request *r, const char *kind,
			 const char *target, const json_t *payload,
			 int64_t amount, const char *currency)
{
	static const char sql[] =
		"WITH a AS (INSERT INTO approvals (kind, target, payload, "
		"amount, currency, requested_by, expires_at) VALUES ($1, $2, "
		"$3::jsonb, $4::bigint, $5::text, $6::text, now() + "
		"make_interval(secs => "
		"$7::int)) RETURNING *), l AS (INSERT INTO audit_log (actor, "
		"action, object_kind, object_id, after) SELECT $6::text, "
		"'approval_requested', 'approval', a.id::text, "
		"pr_approval_json(a::approvals) FROM a) "
		"SELECT pr_approval_json(a::approvals)::text, a.id FROM a";
	char amt[24], exp[16], *text = json_dumps(payload, JSON_COMPACT);
	const char *p[7];
	struct req *q = calloc(1, sizeof(*q));

	if (!q || !text) {
		free(q);
		free(text);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	q->r = r;
	snprintf(q->kind, sizeof(q->kind), "%s", kind);
	snprintf(q->target, sizeof(q->target), "%s", target);
	snprintf(amt, sizeof(amt), "%lld", (long long)amount);
	snprintf(exp, sizeof(exp), "%d", r->gen->config->approvals_expire_s);
	p[0] = kind;
	p[1] = target;
	p[2] = text;
	p[3] = amount >= 0 ? amt : NULL;
	p[4] = amount >= 0 ? currency : NULL;
	p[5] = pr_api_actor(r);
	p[6] = exp;
	if (pr_db_query(r->d->db, sql, 7, p, on_requested, q) < 0) {
		free(q);
		pr_api_store_unavailable(r);
	}
	free(text);
}

/* -------------------------------------------------------------- gauge */

#define KINDS 5
static const char *const kinds[KINDS] = { "payment.settle", "withdrawal.settle",
					  "refund.settle", "refund.resolve",
					  "policy.import" };

struct pr_approvals {
	struct pr_daemon *d;
	struct event *timer;
	int querying;
	int dead;
	int counted;
	long pending[KINDS];
};

static int gone(struct pr_approvals *a)
{
	a->querying = 0;
	if (a->dead) {
		free(a);
		return 1;
	}
	return 0;
}

static void on_expired(PGresult *res, const char *err, void *arg)
{
	struct pr_approvals *a = arg;

	if (gone(a))
		return;
	if (!res)
		pr_warn("approvals: expiring pending approvals failed: %s",
			err);
	else if (PQntuples(res) == 1)
		pr_info("approvals: %s pending approval(s) expired",
			PQgetvalue(res, 0, 0));
}

/* The count: pending ones by kind, and those past their time, which are
 * then expired (a write only when there is one). */
static void on_counted(PGresult *res, const char *err, void *arg)
{
	struct pr_approvals *a = arg;
	long late = 0;

	if (gone(a))
		return;
	if (!res) {
		pr_warn("approvals: counting pending approvals failed: %s",
			err);
		return;
	}
	memset(a->pending, 0, sizeof(a->pending));
	for (int i = 0; i < PQntuples(res); i++) {
		for (size_t k = 0; k < KINDS; k++)
			if (strcmp(PQgetvalue(res, i, 0), kinds[k]) == 0)
				a->pending[k] =
					strtol(PQgetvalue(res, i, 1), NULL, 10);
		late += strtol(PQgetvalue(res, i, 2), NULL, 10);
	}
	a->counted = 1;
	if (late > 0 && pr_db_query(a->d->db, "SELECT pr_approvals_expire()", 0,
				    NULL, on_expired, a) == 0)
		a->querying = 1;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pr_approvals *a = arg;
	struct timeval tv = { 5, 0 };

	(void)fd;
	(void)what;
	evtimer_add(a->timer, &tv);
	if (a->querying || !pr_db_ready(a->d->db) || a->d->stopping)
		return;
	if (pr_db_query(a->d->db,
			"SELECT kind, count(*) FILTER (WHERE expires_at > "
			"now()), count(*) FILTER (WHERE expires_at <= now()) "
			"FROM approvals WHERE state = 'pending' GROUP BY 1",
			0, NULL, on_counted, a) == 0)
		a->querying = 1;
}

struct pr_approvals *pr_approvals_new(struct pr_daemon *d)
{
	struct pr_approvals *a = calloc(1, sizeof(*a));
	struct timeval tv = { 1, 0 };

	if (!a)
		return NULL;
	a->d = d;
	a->timer = evtimer_new(d->base, on_timer, a);
	if (!a->timer) {
		free(a);
		return NULL;
	}
	evtimer_add(a->timer, &tv);
	return a;
}

void pr_approvals_free(struct pr_approvals *a)
{
	if (!a)
		return;
	event_free(a->timer);
	a->timer = NULL;
	if (a->querying) {
		/* The store calls back (with an error as it closes): the
		 * callback frees it. */
		a->dead = 1;
		return;
	}
	free(a);
}

size_t pr_approvals_metrics(const struct pr_approvals *a, char *buf, size_t len)
{
	size_t o = 0;

	if (!a || !a->counted || !len)
		return 0;
	o += (size_t)snprintf(buf + o, len - o,
			      "# HELP payroute_approvals_pending Actions "
			      "waiting for a second operator, by kind.\n"
			      "# TYPE payroute_approvals_pending gauge\n");
	for (size_t k = 0; k < KINDS && o < len; k++)
		o += (size_t)snprintf(buf + o, len - o,
				      "payroute_approvals_pending{kind=\"%s\"} "
				      "%ld\n",
				      kinds[k], a->pending[k]);
	return o < len ? o : len - 1;
}
