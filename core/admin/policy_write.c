/*
 * policy_write.c - the policy write engine (policy_write.h): one change of
 * the routing policy as one transaction on a held connection, serialised
 * with every other policy write by an advisory lock:
 *
 *   BEGIN; lock; read the "before" image; check the change (the
 *   resource's prepare: the same parser the generation uses, the driver's
 *   init for an online channel); write; re-read the whole policy
 *   (policy_snapshot) and build a catalogue and a code map (the loaded
 *   drivers' default tables and the overrides) from it exactly as a reload
 *   will, rolling back if that fails; append to audit_log and NOTIFY the
 *   other instances; COMMIT.
 *
 * A dry run (an import's ?dry_run=1) goes as far as the check and rolls
 * back; a write whose check finds nothing to change stops before writing.
 *
 * Only then is a reload requested, and the answer waits for it, so that a
 * client that got a 2xx sees its change in effect (the answer carries the
 * generation). Because the whole policy was validated inside the
 * transaction, a reload failing after a committed change means something
 * else went wrong (the driver directory changed...), and is answered 500.
 *
 * The resources that write through it are in policy_channels.c,
 * policy_whitelist.c, policy_rules.c, policy_codes.c and
 * policy_transfer.c (the import).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/http.h>

#include "runtime/apiutil.h"
#include "domain/catalogue.h"
#include "domain/codemap.h"
#include "runtime/log.h"
#include "admin/policy_write.h"

/* Every policy write takes this transaction-level advisory lock. */
#define POLICY_LOCK_KEY "7291046533"

void pr_policy_err_field(const char *err, char *field, size_t len)
{
	const char *colon = strstr(err, ": ");
	size_t n = colon ? (size_t)(colon - err) : 0;

	if (n >= len || strchr("[.", err[0]))
		n = 0;
	for (size_t i = 0; i < n; i++) {
		if (err[i] == ' ') {
			n = 0;
			break;
		}
	}
	memcpy(field, err, n);
	field[n] = '\0';
}

static const char *instance_id(void)
{
	static char id[128];

	if (!id[0]) {
		char host[64] = "";

		if (gethostname(host, sizeof(host) - 1) < 0)
			snprintf(host, sizeof(host), "unknown");
		snprintf(id, sizeof(id), "%s:%ld", host, (long)getpid());
	}
	return id;
}

char *pr_pw_notify(const char *kind, const char *id)
{
	json_t *n = json_pack("{s:s,s:s,s:s}", "kind", kind, "id", id,
			      "instance", instance_id());
	char *text = n ? json_dumps(n, JSON_COMPACT) : NULL;

	json_decref(n);
	return text;
}

/* ------------------------------------------------------------- writes */

void pr_pw_free(struct pr_pw *w)
{
	json_decref(w->body);
	json_decref(w->audit_before);
	json_decref(w->audit_after);
	json_decref(w->reply);
	json_decref(w->fail_body);
	for (int i = 0; i < w->nwp; i++)
		free(w->wp[i]);
	for (int i = 0; i < w->nbp; i++)
		free(w->bp[i]);
	free(w->note);
	pr_policy_plan_clear(&w->plan);
	free(w);
}

int pr_pw_fail(struct pr_pw *w, int status, const char *code, const char *field,
	       const char *fmt, ...)
{
	char msg[768];
	json_t *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_pack("{s:s,s:s}", "code", code, "message", msg);
	if (e && field)
		json_object_set_new(e, "field", json_string(field));
	json_decref(w->fail_body);
	w->fail_status = status;
	w->fail_body = json_pack("{s:o}", "error", e);
	return -1;
}

/* A parser error inside the transaction, with the field named. */
int pr_pw_invalid(struct pr_pw *w, const char *prefix, const char *err)
{
	char field[256], full[2 * 256 + 16];

	pr_policy_err_field(err, field, sizeof(field));
	if (!prefix)
		return pr_pw_fail(w, 400, "invalid_field",
				  field[0] ? field : NULL, "%s", err);
	snprintf(full, sizeof(full), "%s%s", prefix, field);
	if (!field[0]) {
		/* "rules[2]." names the element itself: "rules[2]" */
		size_t n = strlen(full);

		if (n && full[n - 1] == '.')
			full[n - 1] = '\0';
		return pr_pw_fail(w, 400, "invalid_field", full, "%s: %s", full,
				  err);
	}
	return pr_pw_fail(w, 400, "invalid_field", full, "%s%s", prefix, err);
}

int pr_pw_param(struct pr_pw *w, const char *v)
{
	char *c = NULL;

	if (w->nwp >= PR_PW_MAX_PARAMS)
		return -1;
	if (v && !(c = strdup(v)))
		return -1;
	w->wp[w->nwp++] = c;
	return 0;
}

int pr_pw_param_json(struct pr_pw *w, const json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (!text)
		return -1;
	rc = pr_pw_param(w, text);
	free(text);
	return rc;
}

/* Answers the write's request with status and body (stolen), or tells
 * w->answer when it is set. */
static void pw_reply(struct pr_pw *w, int status, json_t *body)
{
	if (w->answer)
		w->answer(w, status, body);
	else
		pr_request_reply(w->r, status, body);
}

/* Rolls back (by giving the connection back) and answers the refusal. */
static void pw_abort(struct pr_pw *w)
{
	struct pr_request *r = w->r;

	if (w->conn)
		pr_db_release(w->conn);
	w->conn = NULL;
	if (w->fail_body) {
		pw_reply(w, w->fail_status, w->fail_body);
		w->fail_body = NULL;
	} else if (w->answer) {
		w->answer(w, 500, NULL);
	} else {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
	}
	pr_pw_free(w);
}

static void pw_db_failed(struct pr_pw *w, const char *err)
{
	struct pr_request *r = w->r;
	static const char *const step_names[] = { "BEGIN", "lock",  "read",
						  "write", "check", "audit",
						  "COMMIT" };
	char what[96];

	if (w->conn)
		pr_db_release(w->conn);
	w->conn = NULL;
	snprintf(what, sizeof(what), "%s %s (%s)", w->ops->action, w->ops->kind,
		 step_names[w->step]);
	if (w->answer) {
		pr_warn("policy: %s failed: %s", what, err ? err : "?");
		w->answer(w, 503, NULL);
	} else {
		pr_api_reply_db_error(r, "policy", what, err);
	}
	pr_pw_free(w);
}

static void on_reloaded(int ok, uint64_t gen, const char *reason, void *arg)
{
	struct pr_pw *w = arg;
	struct pr_request *r = w->r;
	char g[32];

	if (!ok) {
		pw_reply(w, 500,
			 json_pack("{s:{s:s,s:s,s:I}}", "error", "code",
				   "reload_failed", "message",
				   reason ? reason : "reload failed",
				   "generation", (json_int_t)gen));
		pr_err("policy: %s %s %s was committed but the reload failed: "
		       "%s",
		       w->ops->kind, w->object_id, w->ops->action,
		       reason ? reason : "?");
		pr_pw_free(w);
		return;
	}
	if (!w->reply && w->answer) {
		w->answer(w, w->status, NULL);
	} else if (!w->reply) {
		snprintf(g, sizeof(g), "%llu", (unsigned long long)gen);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "X-Payroute-Generation", g);
		pr_request_raw(r, w->status, "application/json", "", 0);
	} else {
		json_object_set_new(w->reply, "generation",
				    json_integer((json_int_t)gen));
		pw_reply(w, w->status, w->reply);
		w->reply = NULL;
	}
	pr_pw_free(w);
}

static const char audit_sql[] =
	"WITH a AS (INSERT INTO audit_log (actor, action, object_kind, "
	"object_id, before, after, note) VALUES ($1, $2, $3, $4, $5::jsonb, "
	"$6::jsonb, $7) RETURNING id) "
	"SELECT pg_notify('" PR_POLICY_NOTIFY_CHANNEL "', $8) FROM a";

static const char snapshot_sql[] =
	"SELECT channels::text, whitelist::text, rules::text, codes::text "
	"FROM policy_snapshot";

static void pw_next(PGresult *res, const char *err, void *arg);

/* Ends a write that commits nothing (a dry run, or a change that changes
 * nothing): rolls back by giving the connection back and answers w->reply
 * with the active generation. */
static void pw_answer_unwritten(struct pr_pw *w)
{
	struct pr_request *r = w->r;

	pr_db_release(w->conn);
	w->conn = NULL;
	if (w->reply)
		json_object_set_new(w->reply, "generation",
				    json_integer((json_int_t)r->d->gen->id));
	pw_reply(w, w->status, w->reply ? w->reply : json_pack("{}"));
	w->reply = NULL;
	pr_pw_free(w);
}

int pr_pw_run(struct pr_pw *w, enum pr_pw_step step, const char *sql,
	      int nparams, const char *const *params)
{
	w->step = step;
	return pr_db_conn_query(w->conn, sql, nparams, params, pw_next, w);
}

/* Builds the catalogue and the code map the next reload will build, from
 * the transaction's view of the policy (the code map with the drivers of
 * the request's generation). */
static int pw_verify(struct pr_pw *w, PGresult *res)
{
	struct pr_catalogue cat;
	struct pr_codemap *codes = NULL;
	json_t *j[4] = { NULL, NULL, NULL, NULL };
	char err[512] = "";
	int rc = -1;

	if (PQntuples(res) != 1 || PQnfields(res) != 4)
		return pr_pw_fail(w, 500, "internal", NULL,
				  "policy_snapshot returned no row");
	for (int i = 0; i < 4; i++) {
		j[i] = json_loads(PQgetvalue(res, 0, i), 0, NULL);
		if (!j[i]) {
			pr_pw_fail(w, 500, "internal", NULL,
				   "policy_snapshot returned invalid JSON");
			goto out;
		}
	}
	memset(&cat, 0, sizeof(cat));
	if (pr_catalogue_build(&cat, j[0], j[1], j[2], err, sizeof(err)) < 0) {
		pr_pw_fail(
			w, w->ops->verify_status,
			w->ops->verify_status == 409 ? "in_use" :
						       "invalid_catalogue",
			NULL,
			"the routing policy would not load after this change "
			"(%s); nothing was changed",
			err);
		goto out;
	}
	pr_catalogue_clear(&cat);
	if (pr_codes_build(&w->r->gen->drivers, j[3], j[0], &codes, err,
			   sizeof(err)) < 0) {
		pr_pw_fail(w, w->ops->verify_status,
			   w->ops->verify_status == 409 ? "in_use" :
							  "invalid_codes",
			   NULL,
			   "the result codes would not load after this change "
			   "(%s); nothing was changed",
			   err);
		goto out;
	}
	pr_codemap_free(codes);
	if (w->ops->finish)
		w->ops->finish(w, j[0], j[2]);
	rc = 0;
out:
	for (int i = 0; i < 4; i++)
		json_decref(j[i]);
	return rc;
}

static int pw_audit(struct pr_pw *w)
{
	char *before = w->audit_before ?
			       json_dumps(w->audit_before,
					  JSON_COMPACT | JSON_ENCODE_ANY) :
			       NULL;
	char *after = w->audit_after ?
			      json_dumps(w->audit_after,
					 JSON_COMPACT | JSON_ENCODE_ANY) :
			      NULL;
	char *notify = pr_pw_notify(w->ops->kind, w->object_id);
	const char *p[8] = { w->actor,	   w->ops->action, w->ops->kind,
			     w->object_id, before,	   after,
			     w->note,	   notify };
	int rc = -ENOMEM;

	if (notify && (!w->audit_before || before) &&
	    (!w->audit_after || after))
		rc = pr_pw_run(w, PR_PW_AUDIT, audit_sql, 8, p);
	free(before);
	free(after);
	free(notify);
	return rc;
}

static void pw_next(PGresult *res, const char *err, void *arg)
{
	struct pr_pw *w = arg;
	static const char *const lock_p[1] = { POLICY_LOCK_KEY };
	const char *p1[1];
	int rc = 0;

	if (!res) {
		pw_db_failed(w, err);
		return;
	}
	switch (w->step) {
	case PR_PW_BEGIN:
		rc = pr_pw_run(w, PR_PW_LOCK,
			       "SELECT pg_advisory_xact_lock($1::bigint)", 1,
			       lock_p);
		break;
	case PR_PW_LOCK:
		p1[0] = w->key;
		if (w->nbp)
			rc = pr_pw_run(w, PR_PW_BEFORE, w->ops->before_sql,
				       w->nbp, (const char *const *)w->bp);
		else
			rc = pr_pw_run(w, PR_PW_BEFORE, w->ops->before_sql, 1,
				       p1);
		break;
	case PR_PW_BEFORE:
		if (w->ops->prepare(w, res) < 0) {
			pw_abort(w);
			return;
		}
		if (!w->write_sql) {
			/* nothing to change */
			pw_answer_unwritten(w);
			return;
		}
		rc = pr_pw_run(w, PR_PW_WRITE, w->write_sql, w->nwp,
			       (const char *const *)w->wp);
		break;
	case PR_PW_WRITE:
		if (w->ops->written && w->ops->written(w, res) < 0) {
			pw_abort(w);
			return;
		}
		rc = pr_pw_run(w, PR_PW_VERIFY, snapshot_sql, 0, NULL);
		break;
	case PR_PW_VERIFY:
		if (pw_verify(w, res) < 0) {
			pw_abort(w);
			return;
		}
		if (w->dry_run) {
			pw_answer_unwritten(w);
			return;
		}
		rc = w->ops->audit ? w->ops->audit(w) : pw_audit(w);
		break;
	case PR_PW_AUDIT:
		rc = pr_pw_run(w, PR_PW_COMMIT, "COMMIT", 0, NULL);
		break;
	case PR_PW_COMMIT:
		pr_db_release(w->conn);
		w->conn = NULL;
		if (strcmp(w->ops->kind, w->object_id) == 0)
			pr_info("policy: %s %s by %s", w->ops->kind,
				w->ops->action, w->actor);
		else
			pr_info("policy: %s %s %s by %s", w->ops->kind,
				w->object_id, w->ops->action, w->actor);
		pr_daemon_reload(w->r->d, w->reload_why, on_reloaded, w);
		return;
	}
	if (rc < 0)
		pw_db_failed(w, "the store connection was lost");
}

static void on_acquired(struct pr_db_conn *conn, const char *err, void *arg)
{
	struct pr_pw *w = arg;

	if (!conn) {
		pw_db_failed(w, err);
		return;
	}
	w->conn = conn;
	if (pr_pw_run(w, PR_PW_BEGIN, "BEGIN", 0, NULL) < 0)
		pw_db_failed(w, "the store connection was lost");
}

/* A write's state, the audit actor and note from the headers. Takes the
 * body reference. Returns NULL after answering when the headers are bad. */
struct pr_pw *pr_pw_new(struct pr_request *r, const struct pr_pw_ops *ops,
			const char *key, json_t *body)
{
	const char *actor, *note;
	struct pr_pw *w;

	if (pr_api_audit_headers(r, &actor, &note) < 0) {
		json_decref(body);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w || (note && !(w->note = strdup(note)))) {
		free(w);
		json_decref(body);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	w->r = r;
	w->ops = ops;
	w->body = body;
	snprintf(w->actor, sizeof(w->actor), "%s", actor ? actor : "admin");
	snprintf(w->key, sizeof(w->key), "%s", key);
	snprintf(w->object_id, sizeof(w->object_id), "%s", key);
	snprintf(w->reload_why, sizeof(w->reload_why), "policy change: %s %s",
		 ops->kind, key);
	return w;
}

/* Runs the write's transaction; the answer comes when it is over. */
void pr_pw_go(struct pr_pw *w)
{
	struct pr_request *r = w->r;

	if (pr_db_acquire(r->d->db, on_acquired, w) < 0) {
		pr_pw_free(w);
		pr_api_store_unavailable(r);
	}
}

void pr_pw_start(struct pr_request *r, const struct pr_pw_ops *ops,
		 const char *key, json_t *body)
{
	struct pr_pw *w = pr_pw_new(r, ops, key, body);

	if (w)
		pr_pw_go(w);
}
