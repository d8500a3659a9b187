/*
 * approvals_api.c - the second operator's side of four eyes on money (see
 * approvals_api.h; the first's is orders/approvals.c).
 *
 * Deciding is one conditional UPDATE from 'pending' (and not past its
 * time, and not by the operator who asked) with its audit line in the
 * same statement: of two operators approving at once, one wins, the other
 * is told the approval is no longer pending. A refused decision is
 * explained by reading the row: 404, 403 own_request (audited: the
 * requester tried to approve their own), 409 approval_expired, 409
 * not_pending.
 *
 * Approving then applies the stored request through its own file's apply
 * (orderadmin.c, refunds.c), which loads the target again and moves it by
 * the same conditional transition as a direct request: the action runs
 * once because only the winner of the claim runs it, and it cannot run
 * on a target that moved meanwhile (the approval is then marked failed,
 * with the reason). The outcome, 'applied' or 'failed', is written with
 * its audit lines (the approval's and the order's) in one statement. An
 * approved policy import is the exception that does better: the policy
 * write marks its approval applied inside the import's own transaction
 * (policy_transfer.c), so the statement here finds it applied already.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "admin/approvals_api.h"
#include "admin/operators.h"
#include "admin/policy_api.h"
#include "base/perms.h"
#include "orders/approvals.h"
#include "orders/orderadmin.h"
#include "orders/refunds.h"
#include "runtime/apiutil.h"
#include "runtime/db.h"
#include "runtime/log.h"

/* An id as the table makes them: 1 to 18 digits. */
static int id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= 18 && strspn(s, "0123456789") == n && s[0] != '0';
}

static json_t *parse(const char *text)
{
	json_error_t jerr;

	return json_loads(text, 0, &jerr);
}

/* ------------------------------------------------------------- reads */

static const char *const states[] = { "pending", "approved", "rejected",
				      "expired", "applied",  "failed",
				      NULL };

struct list {
	struct pr_request *r;
	char state[16];
	char id[24];
};

static void on_listed(PGresult *res, const char *err, void *arg)
{
	struct list *l = arg;
	json_t *j;

	if (!res) {
		pr_warn("approvals: reading approvals failed: %s", err);
		pr_api_store_unavailable(l->r);
	} else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(l->r, 404, "not_found", NULL,
				 "no such approval");
	} else if (!(j = parse(PQgetvalue(res, 0, 0)))) {
		pr_api_reply_err(l->r, 500, "internal", NULL,
				 "bad JSON from the store");
	} else {
		pr_request_reply(l->r, 200, j);
	}
	free(l);
}

/* Expires what is past its time first, so that a read never shows a
 * pending approval nobody can decide any more. */
static void on_swept(PGresult *res, const char *err, void *arg)
{
	static const char list_sql[] =
		"SELECT jsonb_build_object('items', coalesce(jsonb_agg("
		"pr_approval_json(a) ORDER BY a.id DESC), '[]'))::text FROM "
		"(SELECT * FROM approvals WHERE $1::text IS NULL OR state = $1 "
		"ORDER BY id DESC LIMIT 500) a";
	static const char one_sql[] =
		"SELECT jsonb_build_object('approval', pr_approval_json(a))::text "
		"FROM approvals a WHERE a.id = $1::bigint";
	struct list *l = arg;
	const char *p[1];

	if (!res) {
		pr_warn("approvals: expiring approvals failed: %s", err);
		pr_api_store_unavailable(l->r);
		free(l);
		return;
	}
	p[0] = l->id[0] ? l->id : l->state[0] ? l->state : NULL;
	if (pr_db_query(l->r->d->db, l->id[0] ? one_sql : list_sql, 1, p,
			on_listed, l) < 0) {
		pr_api_store_unavailable(l->r);
		free(l);
	}
}

static void sweep_then(struct list *l)
{
	if (pr_db_query(l->r->d->db, "SELECT pr_approvals_expire()", 0, NULL,
			on_swept, l) < 0) {
		pr_api_store_unavailable(l->r);
		free(l);
	}
}

void pr_approvals_list(struct pr_request *r, const struct pr_route_match *m)
{
	struct list *l;
	char state[16] = "";
	int ok = 0;

	(void)m;
	if (pr_api_query_param(r, "state", state, sizeof(state)) == 0)
		for (size_t i = 0; states[i]; i++)
			ok |= strcmp(state, states[i]) == 0;
	if (state[0] && !ok) {
		pr_api_reply_err(r, 400, "invalid_field", "state",
				 "state: pending, approved, rejected, expired, "
				 "applied or failed");
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	l->r = r;
	snprintf(l->state, sizeof(l->state), "%s", state);
	sweep_then(l);
}

void pr_approvals_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");
	struct list *l;

	if (!id_ok(id)) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such approval");
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	l->r = r;
	snprintf(l->id, sizeof(l->id), "%s", id);
	sweep_then(l);
}

/* ---------------------------------------------------------- decisions */

struct dec {
	struct pr_request *r;
	char id[24];
	int approve;
	char reason[PR_API_MAX_NOTE + 1];
	char kind[24];
	char target[72];
	char requested_by[65];
	json_t *payload;
	json_t *approval; /* as claimed */
};

static void dec_free(struct dec *x)
{
	json_decref(x->payload);
	json_decref(x->approval);
	free(x);
}

/* The audit line of a refused decision (own request): written before the
 * answer, like the router's refusals. */
struct refused {
	struct pr_request *r;
	char msg[200];
};

static void on_refusal_audited(PGresult *res, const char *err, void *arg)
{
	struct refused *f = arg;

	if (!res)
		pr_err("approvals: the audit row of a refusal failed: %s", err);
	pr_api_reply_err(f->r, 403, "own_request", NULL, "%s", f->msg);
	free(f);
}

static void refuse_own(struct dec *x)
{
	static const char sql[] =
		"INSERT INTO audit_log (actor, action, object_kind, object_id, "
		"after, note) SELECT $1, 'approval_refused', 'approval', "
		"a.id::text, pr_approval_json(a), $2 FROM approvals a WHERE "
		"a.id = $3::bigint";
	struct refused *f = calloc(1, sizeof(*f));
	const char *p[3];

	pr_warn("approvals: %s tried to %s approval %s, their own request: "
		"refused (four eyes)",
		pr_api_actor(x->r), x->approve ? "approve" : "reject", x->id);
	if (!f) {
		pr_api_reply_err(x->r, 403, "own_request", NULL,
				 "approval %s is your own request", x->id);
		return;
	}
	f->r = x->r;
	snprintf(f->msg, sizeof(f->msg),
		 "approval %s is your own request: another operator with the "
		 "approve permission must %s it",
		 x->id, x->approve ? "approve" : "reject");
	p[0] = pr_api_actor(x->r);
	p[1] = x->approve ? "tried to approve their own request" :
			    "tried to reject their own request";
	p[2] = x->id;
	if (pr_db_query(x->r->d->db, sql, 3, p, on_refusal_audited, f) < 0)
		on_refusal_audited(NULL, "the store is unavailable", f);
}

static void on_expired_now(PGresult *res, const char *err, void *arg)
{
	struct dec *x = arg;

	if (!res)
		pr_warn("approvals: expiring approvals failed: %s", err);
	pr_api_reply_err(x->r, 409, "approval_expired", NULL,
			 "approval %s expired before anyone decided it: ask "
			 "again",
			 x->id);
	dec_free(x);
}

/* Why the claim took nothing: reads the row and answers. */
static void on_explained(PGresult *res, const char *err, void *arg)
{
	struct dec *x = arg;
	const char *state;

	if (!res) {
		pr_warn("approvals: reading approval %s failed: %s", x->id,
			err);
		pr_api_store_unavailable(x->r);
		dec_free(x);
		return;
	}
	if (PQntuples(res) != 1) {
		pr_api_reply_err(x->r, 404, "not_found", NULL,
				 "no such approval");
		dec_free(x);
		return;
	}
	state = PQgetvalue(res, 0, 0);
	if (strcmp(state, "pending") == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), pr_api_actor(x->r)) == 0) {
		refuse_own(x);
		dec_free(x);
	} else if (strcmp(state, "pending") == 0 &&
		   strcmp(PQgetvalue(res, 0, 4), "policy.import") == 0 &&
		   !pr_perm_allowed(&x->r->who, PR_PERM_POLICY_WRITE)) {
		/* Deciding on a change of the routing policy takes one who
		 * could make it: least privilege holds for the second pair
		 * of eyes too. */
		pr_operators_refuse(x->r, PR_PERM_POLICY_WRITE);
		dec_free(x);
	} else if (strcmp(state, "pending") == 0 &&
		   PQgetvalue(res, 0, 2)[0] == 't') {
		if (pr_db_query(x->r->d->db, "SELECT pr_approvals_expire()", 0,
				NULL, on_expired_now, x) < 0)
			on_expired_now(NULL, "the store is unavailable", x);
	} else {
		pr_info("approvals: %s of approval %s by %s refused: it is %s",
			x->approve ? "approval" : "rejection", x->id,
			pr_api_actor(x->r), state);
		pr_api_reply_err(x->r, 409, "not_pending", NULL,
				 "approval %s is %s%s%s: only a pending "
				 "approval is decided",
				 x->id, state,
				 PQgetisnull(res, 0, 3) ? "" : " by ",
				 PQgetvalue(res, 0, 3));
		dec_free(x);
	}
}

static void explain(struct dec *x)
{
	static const char sql[] =
		"SELECT state, requested_by, expires_at <= now(), decided_by, "
		"kind FROM approvals WHERE id = $1::bigint";
	const char *p[1] = { x->id };

	if (pr_db_query(x->r->d->db, sql, 1, p, on_explained, x) < 0) {
		pr_api_store_unavailable(x->r);
		dec_free(x);
	}
}

/* The end of an approved action: 'applied' or 'failed' with its audit
 * lines, then the answer. */
struct fin {
	struct dec *x;
	int status;
	char code[40];
	char msg[256];
	json_t *result;
};

static void on_finished(PGresult *res, const char *err, void *arg)
{
	struct fin *f = arg;
	struct dec *x = f->x;
	json_t *a = res && PQntuples(res) == 1 ? parse(PQgetvalue(res, 0, 0)) :
						 NULL;

	if (!res)
		pr_err("approvals: recording the outcome of approval %s "
		       "failed (it stays approved): %s",
		       x->id, err);
	if (!a)
		a = json_incref(x->approval);
	if (f->status == 200) {
		pr_request_reply(x->r, 200,
				 json_pack("{s:o,s:o}", "approval", a, "result",
					   f->result ? f->result :
						       json_null()));
		f->result = NULL;
	} else {
		json_decref(a);
		pr_api_reply_err(x->r, 409, "approval_failed", NULL,
				 "approval %s was approved but could not be "
				 "applied, and is marked failed: %s (%s)",
				 x->id, f->msg, f->code);
	}
	json_decref(f->result);
	free(f);
	dec_free(x);
}

static void on_applied(int status, const char *code, const char *msg,
		       json_t *result, void *arg)
{
	static const char sql[] =
		"WITH f AS (UPDATE approvals SET state = $2::text, error = $3::text, "
		"applied_at = now() WHERE id = $1::bigint AND state = "
		"'approved' RETURNING *), "
		"l AS (INSERT INTO audit_log (actor, action, object_kind, "
		"object_id, after, note) SELECT $4::text, 'approval_' || "
		"$2::text, 'approval', f.id::text, "
		"pr_approval_json(f::approvals), $3::text "
		"FROM f), "
		"o AS (INSERT INTO audit_log (actor, action, object_kind, "
		"object_id, after, note) SELECT $4::text, $6::text, $7::text, "
		"f.target, "
		"jsonb_build_object('order', $5::jsonb, 'approval', f.id, "
		"'requested_by', f.requested_by, 'request', f.payload), "
		"f.payload->>'note' FROM f WHERE $2::text = 'applied') "
		"SELECT coalesce((SELECT pr_approval_json(f::approvals) FROM f), "
		"(SELECT pr_approval_json(a) FROM approvals a WHERE a.id = "
		"$1::bigint))::text";
	struct dec *x = arg;
	struct fin *f = calloc(1, sizeof(*f));
	char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
	char okind[16];
	const char *p[7], *dot;

	if (!f) {
		pr_err("approvals: approval %s: out of memory", x->id);
		json_decref(result);
		free(text);
		pr_api_reply_err(x->r, 500, "internal", NULL, "out of memory");
		dec_free(x);
		return;
	}
	f->x = x;
	f->status = status;
	f->result = result;
	snprintf(f->code, sizeof(f->code), "%s", code ? code : "");
	snprintf(f->msg, sizeof(f->msg), "%s", msg ? msg : "");
	if (status == 503) {
		/* Whether the action ran is not known: the approval stays
		 * approved, for an operator to look at the target. */
		pr_err("approvals: approval %s (%s of %s) is approved but its "
		       "outcome is not known: %s",
		       x->id, x->kind, x->target, msg ? msg : "?");
		pr_api_reply_err(x->r, 503, "store_unavailable", NULL,
				 "approval %s is approved, but the store "
				 "failed while applying it: look at %s before "
				 "anything else",
				 x->id, x->target);
		json_decref(result);
		free(f);
		free(text);
		dec_free(x);
		return;
	}
	if (status != 200)
		pr_warn("approvals: approval %s (%s of %s) failed: %s", x->id,
			x->kind, x->target, f->msg);
	dot = strchr(x->kind, '.');
	snprintf(okind, sizeof(okind), "%.*s",
		 (int)(dot ? (size_t)(dot - x->kind) : strlen(x->kind)),
		 x->kind);
	p[0] = x->id;
	p[1] = status == 200 ? "applied" : "failed";
	p[2] = status == 200 ? NULL : f->msg;
	p[3] = pr_api_actor(x->r);
	p[4] = text;
	p[5] = dot ? dot + 1 : x->kind;
	p[6] = okind;
	if (pr_db_query(x->r->d->db, sql, 7, p, on_finished, f) < 0)
		on_finished(NULL, "the store is unavailable", f);
	free(text);
}

/* Runs the claimed approval's action. */
static void apply(struct dec *x)
{
	struct pr_approved ap = { 0 };
	int rc = -EINVAL;

	ap.id = strtoll(x->id, NULL, 10);
	snprintf(ap.requested_by, sizeof(ap.requested_by), "%s",
		 x->requested_by);
	snprintf(ap.approved_by, sizeof(ap.approved_by), "%s",
		 pr_api_actor(x->r));
	ap.cb = on_applied;
	ap.arg = x;
	if (strcmp(x->kind, "payment.settle") == 0)
		rc = pr_orders_settle_approved(x->r, "payment", x->target,
					       x->payload, &ap);
	else if (strcmp(x->kind, "withdrawal.settle") == 0)
		rc = pr_orders_settle_approved(x->r, "withdrawal", x->target,
					       x->payload, &ap);
	else if (strcmp(x->kind, "refund.resolve") == 0)
		rc = pr_refund_resolve_approved(x->r, x->target, x->payload,
						&ap);
	else if (strcmp(x->kind, "refund.settle") == 0)
		rc = pr_refund_settle_approved(x->r, x->target, x->payload,
					       &ap);
	else if (strcmp(x->kind, "policy.import") == 0)
		rc = pr_policy_import_approved(x->r, x->payload, &ap);
	if (rc == -ECANCELED) {
		pr_err("approvals: approval %s is approved but was not applied "
		       "(out of memory)",
		       x->id);
		dec_free(x);
	} else if (rc == -EINVAL)
		on_applied(409, "invalid_request",
			   "the stored request cannot be applied", NULL, x);
	else if (rc < 0)
		on_applied(409, "store_unavailable",
			   "the store could not be asked; nothing was applied",
			   NULL, x);
}

static void on_claimed(PGresult *res, const char *err, void *arg)
{
	struct dec *x = arg;

	if (!res) {
		pr_api_reply_db_error(x->r, "approvals",
				      x->approve ? "approve" : "reject", err);
		dec_free(x);
		return;
	}
	if (PQntuples(res) != 1) {
		explain(x);
		return;
	}
	x->approval = parse(PQgetvalue(res, 0, 0));
	if (!x->approve) {
		pr_info("approvals: approval %s (%s of %s, asked by %s) "
			"rejected by %s: %s",
			x->id, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
			PQgetvalue(res, 0, 4), pr_api_actor(x->r), x->reason);
		pr_request_reply(x->r, 200,
				 json_pack("{s:O}", "approval", x->approval));
		dec_free(x);
		return;
	}
	snprintf(x->kind, sizeof(x->kind), "%s", PQgetvalue(res, 0, 1));
	snprintf(x->target, sizeof(x->target), "%s", PQgetvalue(res, 0, 2));
	snprintf(x->requested_by, sizeof(x->requested_by), "%s",
		 PQgetvalue(res, 0, 4));
	x->payload = parse(PQgetvalue(res, 0, 3));
	pr_info("approvals: approval %s (%s of %s, asked by %s) approved by "
		"%s: applying it",
		x->id, x->kind, x->target, x->requested_by, pr_api_actor(x->r));
	if (!x->payload || !x->approval)
		on_applied(409, "invalid_request",
			   "the stored request is not JSON", NULL, x);
	else
		apply(x);
}

static void decide(struct pr_request *r, const struct pr_route_match *m,
		   int approve)
{
	static const char sql[] =
		"WITH c AS (UPDATE approvals SET state = $3::text, decided_by = "
		"$2::text, decided_at = now(), reason = $4::text WHERE id = "
		"$1::bigint AND state = 'pending' AND requested_by <> $2::text "
		"AND (kind <> 'policy.import' OR $5::boolean) AND expires_at > "
		"now() RETURNING *), "
		"l AS (INSERT INTO audit_log (actor, action, object_kind, "
		"object_id, after, note) SELECT $2::text, 'approval_' || "
		"$3::text, 'approval', c.id::text, "
		"pr_approval_json(c::approvals), $4::text "
		"FROM c) "
		"SELECT pr_approval_json(c::approvals)::text, c.kind, c.target, "
		"c.payload::text, c.requested_by FROM c";
	const char *id = pr_route_param(m, "id");
	const char *p[5];
	struct dec *x;

	if (!id_ok(id)) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such approval");
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	x->r = r;
	x->approve = approve;
	snprintf(x->id, sizeof(x->id), "%s", id);
	/* the note header is checked before anything is decided (an
	 * approved import reads it again) */
	{
		const char *actor, *note;

		if (pr_api_audit_headers(r, &actor, &note) < 0) {
			free(x);
			return;
		}
	}
	if (!approve) {
		json_t *body = pr_api_read_body(r);
		const char *reason;

		if (!body) {
			free(x);
			return;
		}
		reason = json_string_value(json_object_get(body, "reason"));
		if (!reason || !*reason ||
		    !pr_api_text_ok(reason, PR_API_MAX_NOTE)) {
			json_decref(body);
			free(x);
			pr_api_reply_err(r, 400, "invalid_field", "reason",
					 "reason: required, 1 to 512 "
					 "characters without control "
					 "characters (why, for the requester "
					 "and the audit)");
			return;
		}
		snprintf(x->reason, sizeof(x->reason), "%s", reason);
		json_decref(body);
	}
	p[0] = x->id;
	p[1] = pr_api_actor(r);
	p[2] = approve ? "approved" : "rejected";
	p[3] = approve ? NULL : x->reason;
	p[4] = pr_perm_allowed(&r->who, PR_PERM_POLICY_WRITE) ? "true" :
								"false";
	if (pr_db_query(r->d->db, sql, 5, p, on_claimed, x) < 0) {
		pr_api_store_unavailable(r);
		dec_free(x);
	}
}

void pr_approvals_approve(struct pr_request *r, const struct pr_route_match *m)
{
	decide(r, m, 1);
}

void pr_approvals_reject(struct pr_request *r, const struct pr_route_match *m)
{
	decide(r, m, 0);
}
