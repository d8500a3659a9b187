/*
 * policy_api.c - the admin API for the routing policy: channels (CRUD and a
 * quick status switch), the whitelist, the routing rules, the operators'
 * result-code overrides (with the effective code table of a channel and
 * the unmapped-code report), the whole policy as one document (export,
 * and an import that replaces it in one write, see "whole policy" below),
 * and the audit log that records every change.
 *
 * Reads are one query each on the views of migration 002 (channels_api,
 * whitelist_api, routing_rules_api), with secrets masked before they leave.
 * A write is one transaction on a held connection, serialised with every
 * other policy write by an advisory lock:
 *
 *   BEGIN; lock; read the "before" image; check the change here (the same
 *   parser the generation uses, the driver's init for an online channel);
 *   write; re-read the whole policy (policy_snapshot) and build a catalogue
 *   and a code map (the loaded drivers' default tables and the overrides)
 *   from it exactly as a reload will, rolling back if that fails; append
 *   to audit_log and NOTIFY the other instances; COMMIT.
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
 * Card numbers given to the whitelist are turned into HMAC-SHA256 (the
 * config's secret key) at once; only the HMAC and the last four digits (the
 * hint) are stored, audited or returned, and nothing here logs a body.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin.h"
#include "apiutil.h"
#include "catalogue.h"
#include "codemap.h"
#include "crypto.h"
#include "currency.h"
#include "drvobj.h"
#include "log.h"
#include "payreq.h"
#include "policy_api.h"
#include "policy_io.h"
#include "services.h"

#define MASKED "********"
#define MAX_RULES 1000
/* Every policy write takes this transaction-level advisory lock. */
#define POLICY_LOCK_KEY "7291046533"

/* ------------------------------------------------------------- replies */

/* The field path of a parser message "limits.txn_max: must be ..." (the
 * part before the first ": "), or "" when there is none. */
static void err_field(const char *err, char *field, size_t len)
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

/* ------------------------------------------------------------ requests */

static enum evhttp_cmd_type cmd_of(struct pr_request *r)
{
	return evhttp_request_get_command(r->req);
}

static int code_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!(islower((unsigned char)s[i]) ||
		      isdigit((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	}
	return 1;
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

/* ------------------------------------------------------------- writes */

struct pw;

struct pw_ops {
	const char *action; /* audit action */
	const char *kind;   /* audit object_kind, NOTIFY kind */
	/* Reads the before image; $1 is w->key. */
	const char *before_sql;
	/* Checks the change against the before image; fills the write
	 * (write_sql, wp[]), the audit images and the answer. Returns 0, or
	 * -1 after filling w->fail_* (the transaction is rolled back). */
	int (*prepare)(struct pw *w, PGresult *before);
	/* Optional: looks at the write's result. Same return convention. */
	int (*written)(struct pw *w, PGresult *res);
	/* Optional: completes the answer from the validated catalogue. */
	void (*finish)(struct pw *w, json_t *snapshot_channels,
		       json_t *snapshot_rules);
	/* Optional: writes the audit rows and the NOTIFY in one statement
	 * (pw_run with PW_AUDIT) instead of the one row of pw_audit. */
	int (*audit)(struct pw *w);
	int verify_status; /* a catalogue that does not build: 400 or 409 */
};

enum pw_step {
	PW_BEGIN,
	PW_LOCK,
	PW_BEFORE,
	PW_WRITE,
	PW_VERIFY,
	PW_AUDIT,
	PW_COMMIT,
};

#define PW_MAX_PARAMS 8
#define PW_MAX_BEFORE_PARAMS 4
/* channel/op/code/sub_code of a code override, with room to spare */
#define PW_KEY_MAX 640

struct pw {
	struct pr_request *r;
	struct pr_db_conn *conn;
	const struct pw_ops *ops;
	enum pw_step step;
	char actor[65];
	char *note;
	/* channel code, whitelist id, "rules", channel/op/code/sub_code */
	char key[PW_KEY_MAX];
	json_t *body; /* the request body */
	/* the before query's parameters when it has several (else key) */
	char *bp[PW_MAX_BEFORE_PARAMS];
	int nbp;

	const char *write_sql;
	char *wp[PW_MAX_PARAMS];
	int nwp;

	json_t *audit_before; /* masked; NULL: none */
	json_t *audit_after;
	char object_id[PW_KEY_MAX];

	int status;    /* of the answer */
	json_t *reply; /* the answer's body; NULL: no body (204) */

	/* a refusal found while the transaction is open */
	int fail_status;
	json_t *fail_body;
	char reload_why[PW_KEY_MAX + 64];

	/* Set by prepare: check everything, write it, verify it, then roll
	 * back and answer w->reply (a dry run). */
	int dry_run;
	/* an import's plan (policy_io.h) */
	struct pr_policy_plan plan;
};

static void pw_free(struct pw *w)
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

static int pw_fail(struct pw *w, int status, const char *code,
		   const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int pw_fail(struct pw *w, int status, const char *code,
		   const char *field, const char *fmt, ...)
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
static int pw_invalid(struct pw *w, const char *prefix, const char *err)
{
	char field[256], full[2 * 256 + 16];

	err_field(err, field, sizeof(field));
	if (!prefix)
		return pw_fail(w, 400, "invalid_field", field[0] ? field : NULL,
			       "%s", err);
	snprintf(full, sizeof(full), "%s%s", prefix, field);
	if (!field[0]) {
		/* "rules[2]." names the element itself: "rules[2]" */
		size_t n = strlen(full);

		if (n && full[n - 1] == '.')
			full[n - 1] = '\0';
		return pw_fail(w, 400, "invalid_field", full, "%s: %s", full,
			       err);
	}
	return pw_fail(w, 400, "invalid_field", full, "%s%s", prefix, err);
}

static int pw_param(struct pw *w, const char *v)
{
	char *c = NULL;

	if (w->nwp >= PW_MAX_PARAMS)
		return -1;
	if (v && !(c = strdup(v)))
		return -1;
	w->wp[w->nwp++] = c;
	return 0;
}

static int pw_param_json(struct pw *w, const json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (!text)
		return -1;
	rc = pw_param(w, text);
	free(text);
	return rc;
}

/* Rolls back (by giving the connection back) and answers the refusal. */
static void pw_abort(struct pw *w)
{
	struct pr_request *r = w->r;

	if (w->conn)
		pr_db_release(w->conn);
	w->conn = NULL;
	if (w->fail_body) {
		pr_request_reply(r, w->fail_status, w->fail_body);
		w->fail_body = NULL;
	} else {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
	}
	pw_free(w);
}

static void pw_db_failed(struct pw *w, const char *err)
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
	pr_api_reply_db_error(r, "policy", what, err);
	pw_free(w);
}

static void on_reloaded(int ok, uint64_t gen, const char *reason, void *arg)
{
	struct pw *w = arg;
	struct pr_request *r = w->r;
	char g[32];

	if (!ok) {
		pr_request_reply(r, 500,
				 json_pack("{s:{s:s,s:s,s:I}}", "error", "code",
					   "reload_failed", "message",
					   reason ? reason : "reload failed",
					   "generation", (json_int_t)gen));
		pr_err("policy: %s %s %s was committed but the reload failed: "
		       "%s",
		       w->ops->kind, w->object_id, w->ops->action,
		       reason ? reason : "?");
		pw_free(w);
		return;
	}
	if (!w->reply) {
		snprintf(g, sizeof(g), "%llu", (unsigned long long)gen);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "X-Payroute-Generation", g);
		pr_request_raw(r, w->status, "application/json", "", 0);
	} else {
		json_object_set_new(w->reply, "generation",
				    json_integer((json_int_t)gen));
		pr_request_reply(r, w->status, w->reply);
		w->reply = NULL;
	}
	pw_free(w);
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
static void pw_answer_unwritten(struct pw *w)
{
	struct pr_request *r = w->r;

	pr_db_release(w->conn);
	w->conn = NULL;
	if (w->reply)
		json_object_set_new(w->reply, "generation",
				    json_integer((json_int_t)r->d->gen->id));
	pr_request_reply(r, w->status, w->reply ? w->reply : json_pack("{}"));
	w->reply = NULL;
	pw_free(w);
}

static int pw_run(struct pw *w, enum pw_step step, const char *sql, int nparams,
		  const char *const *params)
{
	w->step = step;
	return pr_db_conn_query(w->conn, sql, nparams, params, pw_next, w);
}

/* Builds the catalogue and the code map the next reload will build, from
 * the transaction's view of the policy (the code map with the drivers of
 * the request's generation). */
static int pw_verify(struct pw *w, PGresult *res)
{
	struct pr_catalogue cat;
	struct pr_codemap *codes = NULL;
	json_t *j[4] = { NULL, NULL, NULL, NULL };
	char err[512] = "";
	int rc = -1;

	if (PQntuples(res) != 1 || PQnfields(res) != 4)
		return pw_fail(w, 500, "internal", NULL,
			       "policy_snapshot returned no row");
	for (int i = 0; i < 4; i++) {
		j[i] = json_loads(PQgetvalue(res, 0, i), 0, NULL);
		if (!j[i]) {
			pw_fail(w, 500, "internal", NULL,
				"policy_snapshot returned invalid JSON");
			goto out;
		}
	}
	memset(&cat, 0, sizeof(cat));
	if (pr_catalogue_build(&cat, j[0], j[1], j[2], err, sizeof(err)) < 0) {
		pw_fail(w, w->ops->verify_status,
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
		pw_fail(w, w->ops->verify_status,
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

static int pw_audit(struct pw *w)
{
	char *before = w->audit_before ?
			       json_dumps(w->audit_before,
					  JSON_COMPACT | JSON_ENCODE_ANY) :
			       NULL;
	char *after = w->audit_after ?
			      json_dumps(w->audit_after,
					 JSON_COMPACT | JSON_ENCODE_ANY) :
			      NULL;
	json_t *n = json_pack("{s:s,s:s,s:s}", "kind", w->ops->kind, "id",
			      w->object_id, "instance", instance_id());
	char *notify = n ? json_dumps(n, JSON_COMPACT) : NULL;
	const char *p[8] = { w->actor,	   w->ops->action, w->ops->kind,
			     w->object_id, before,	   after,
			     w->note,	   notify };
	int rc = -ENOMEM;

	if (notify && (!w->audit_before || before) &&
	    (!w->audit_after || after))
		rc = pw_run(w, PW_AUDIT, audit_sql, 8, p);
	free(before);
	free(after);
	free(notify);
	json_decref(n);
	return rc;
}

static void pw_next(PGresult *res, const char *err, void *arg)
{
	struct pw *w = arg;
	static const char *const lock_p[1] = { POLICY_LOCK_KEY };
	const char *p1[1];
	int rc = 0;

	if (!res) {
		pw_db_failed(w, err);
		return;
	}
	switch (w->step) {
	case PW_BEGIN:
		rc = pw_run(w, PW_LOCK,
			    "SELECT pg_advisory_xact_lock($1::bigint)", 1,
			    lock_p);
		break;
	case PW_LOCK:
		p1[0] = w->key;
		if (w->nbp)
			rc = pw_run(w, PW_BEFORE, w->ops->before_sql, w->nbp,
				    (const char *const *)w->bp);
		else
			rc = pw_run(w, PW_BEFORE, w->ops->before_sql, 1, p1);
		break;
	case PW_BEFORE:
		if (w->ops->prepare(w, res) < 0) {
			pw_abort(w);
			return;
		}
		if (!w->write_sql) {
			/* nothing to change */
			pw_answer_unwritten(w);
			return;
		}
		rc = pw_run(w, PW_WRITE, w->write_sql, w->nwp,
			    (const char *const *)w->wp);
		break;
	case PW_WRITE:
		if (w->ops->written && w->ops->written(w, res) < 0) {
			pw_abort(w);
			return;
		}
		rc = pw_run(w, PW_VERIFY, snapshot_sql, 0, NULL);
		break;
	case PW_VERIFY:
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
	case PW_AUDIT:
		rc = pw_run(w, PW_COMMIT, "COMMIT", 0, NULL);
		break;
	case PW_COMMIT:
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
	struct pw *w = arg;

	if (!conn) {
		pw_db_failed(w, err);
		return;
	}
	w->conn = conn;
	if (pw_run(w, PW_BEGIN, "BEGIN", 0, NULL) < 0)
		pw_db_failed(w, "the store connection was lost");
}

/* A write's state, the audit actor and note from the headers. Takes the
 * body reference. Returns NULL after answering when the headers are bad. */
static struct pw *pw_new(struct pr_request *r, const struct pw_ops *ops,
			 const char *key, json_t *body)
{
	const char *actor, *note;
	struct pw *w;

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
static void pw_go(struct pw *w)
{
	struct pr_request *r = w->r;

	if (pr_db_acquire(r->d->db, on_acquired, w) < 0) {
		pw_free(w);
		pr_api_store_unavailable(r);
	}
}

static void pw_start(struct pr_request *r, const struct pw_ops *ops,
		     const char *key, json_t *body)
{
	struct pw *w = pw_new(r, ops, key, body);

	if (w)
		pw_go(w);
}

/* ----------------------------------------------------------- channels */

/* Masks, in place, the keys of channel ch's driver_config that its driver
 * declares secret (ABI 1.2), when gen has that driver loaded. */
static void chan_mask_declared(const struct pr_generation *gen, json_t *ch)
{
	const char *drv = json_string_value(json_object_get(ch, "driver"));
	const struct pr_module *m =
		drv ? pr_driver_set_find(&gen->drivers, drv) : NULL;

	if (m)
		pr_schema_mask(&m->schema,
			       json_object_get(ch, "driver_config"));
}

/* The channel with driver_config masked (a new reference): the
 * secret-looking keys (pr_mask_secrets) and the keys its driver declares
 * secret. */
static json_t *chan_masked(const struct pr_generation *gen, json_t *ch)
{
	json_t *c = json_deep_copy(ch);
	json_t *dc = c ? json_object_get(c, "driver_config") : NULL;

	if (!dc)
		return c;
	json_object_set_new(c, "driver_config", pr_mask_secrets(dc));
	chan_mask_declared(gen, c);
	return c;
}

/* Puts stored secrets back where the body holds the mask: a client that
 * read a masked channel can write it back unchanged. */
static int unmask(struct pw *w, json_t *given, json_t *stored, const char *path)
{
	const char *k;
	json_t *v;
	char sub[256];

	json_object_foreach(given, k, v) {
		json_t *s = json_is_object(stored) ?
				    json_object_get(stored, k) :
				    NULL;

		snprintf(sub, sizeof(sub), "%s.%s", path, k);
		if (json_is_object(v)) {
			if (unmask(w, v, s, sub) < 0)
				return -1;
		} else if (json_is_string(v) &&
			   strcmp(json_string_value(v), MASKED) == 0) {
			if (!s)
				return pw_fail(w, 400, "invalid_field", sub,
					       "%s: \"" MASKED "\" stands for "
					       "a stored secret, and none is "
					       "stored here",
					       sub);
			json_object_set(given, k, s);
		}
	}
	return 0;
}

/* The config key a driver's init error starts with ("app_id: must be a
 * string" -> "app_id"): 1 to 64 characters of a-z, 0-9 and _, then ": ",
 * and not the driver's own name (its log-style "bank: ..." messages).
 * Returns 0 with key filled, or -ENOENT. */
static int derr_key(const char *derr, const char *driver, char *key, size_t len)
{
	size_t n = strspn(derr, "abcdefghijklmnopqrstuvwxyz0123456789_");

	if (n == 0 || n >= len || n > 64 || strncmp(derr + n, ": ", 2) != 0 ||
	    (strlen(driver) == n && strncmp(derr, driver, n) == 0) ||
	    strncmp(derr, "init:", 5) == 0)
		return -ENOENT;
	memcpy(key, derr, n);
	key[n] = '\0';
	return 0;
}

/* Checks a channel's driver: loaded in this generation (unless the
 * channel is offline), the driver config against the keys the driver
 * declares (ABI 1.2: an unknown key, with the closest declared one
 * suggested, or a wrong type is refused; a missing required key only for
 * an online channel, since an offline one may be staged before its keys
 * are known), and for an online channel the driver's init accepts it.
 * prefix ("" or "channels[2].") goes before the field named. */
static int check_driver(struct pw *w, const struct pr_chan_spec *spec,
			const char *prefix)
{
	struct pr_module *mod;
	struct payroute_conf conf;
	void *state = NULL;
	char derr[256] = "", field[160], path[96], msg[512];
	int rc;

	mod = pr_driver_set_find(&w->r->gen->drivers, spec->driver);
	if (!mod) {
		if (!spec->online)
			return 0;
		snprintf(field, sizeof(field), "%sdriver", prefix);
		return pw_fail(w, 400, "invalid_field", field,
			       "%s: no driver named %s is loaded "
			       "(GET /admin/v1/drivers lists them); an "
			       "offline channel may name it",
			       field, spec->driver);
	}
	snprintf(path, sizeof(path), "%sdriver_config", prefix);
	if (pr_schema_check(&mod->schema, spec->driver, spec->driver_config,
			    path, spec->online ? 0 : PR_SCHEMA_ALLOW_MISSING,
			    field, sizeof(field), msg,
			    sizeof(msg)) != PR_SCHEMA_OK)
		return pw_fail(w, 400, "invalid_field", field, "%s", msg);
	if (!spec->online)
		return 0;
	conf.root = spec->driver_config;
	rc = mod->desc->init(pr_services(), spec->code, &conf, &state, derr,
			     sizeof(derr));
	if (rc < 0) {
		char key[65];

		snprintf(field, sizeof(field), "%sdriver_config", prefix);
		/* The in-tree drivers name the key first ("app_id: must be
		 * a string", drvconf.h): name it in the field too. */
		if (derr_key(derr, spec->driver, key, sizeof(key)) == 0)
			snprintf(field, sizeof(field), "%sdriver_config.%s",
				 prefix, key);
		return pw_fail(w, 400, "invalid_field", field,
			       "%s: the %s driver refused it: %s", field,
			       spec->driver, derr[0] ? derr : strerror(-rc));
	}
	if (mod->desc->fini && state)
		mod->desc->fini(state);
	return 0;
}

/* Parses and checks channel ch as every channel write does: pr_chan_parse,
 * then the driver for an online channel. prefix ("" or "channels[2].")
 * goes before every field named; code, when not NULL, is the code the
 * channel must have (the path's); same_as, when not NULL, is the stored
 * channel (normalised): when ch is the same, nothing will be written for
 * it and its driver is not asked again. On success *norm is the channel
 * normalised (pr_chan_to_json) with "refund_timeout_s", as channel_save
 * takes it (a new reference). Returns 0, or -1 after pw_fail. */
static int chan_check(struct pw *w, json_t *ch, const char *prefix,
		      const char *code, json_t *same_as, json_t **norm)
{
	struct pr_chan_spec spec;
	char err[512] = "", field[96];
	int rc = -1;

	*norm = NULL;
	memset(&spec, 0, sizeof(spec));
	if (pr_chan_parse(ch, &spec, err, sizeof(err)) < 0) {
		pr_chan_clear(&spec);
		return pw_invalid(w, prefix[0] ? prefix : NULL, err);
	}
	/* Written channels name current ISO 4217 codes only; the parser
	 * itself (pr_chan_parse, also what loads the store) keeps the old
	 * shape check, so that a stored channel with a withdrawn code still
	 * loads. */
	for (size_t i = 0; i < spec.currencies.n; i++) {
		const char *why = pr_currency_check(spec.currencies.v[i]);

		if (why) {
			snprintf(field, sizeof(field), "%scurrencies[%zu]",
				 prefix, i);
			pw_fail(w, 400, "invalid_field", field, "%s: %s", field,
				why);
			goto out;
		}
	}
	if (code && strcmp(spec.code, code) != 0) {
		snprintf(field, sizeof(field), "%scode", prefix);
		pw_fail(w, 400, "invalid_field", field,
			"%s: the body names channel %s, the path %s", field,
			spec.code, code);
		goto out;
	}
	*norm = pr_chan_to_json(&spec);
	if (!*norm ||
	    json_object_set_new(*norm, "refund_timeout_s",
				json_integer(spec.refund_timeout_s)) < 0) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		goto fail;
	}
	if ((!same_as || !json_equal(*norm, same_as)) &&
	    check_driver(w, &spec, prefix) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	json_decref(*norm);
	*norm = NULL;
out:
	pr_chan_clear(&spec);
	return rc;
}

/* Parses and checks ch; on success writes it with channel_save. */
static int chan_write(struct pw *w, json_t *ch, int is_new)
{
	json_t *norm = NULL;
	int rc = -1;

	if (chan_check(w, ch, "", w->key, NULL, &norm) < 0)
		return -1;
	w->write_sql = "SELECT channel_save($1::jsonb, $2::boolean)";
	if (pw_param_json(w, norm) < 0 ||
	    pw_param(w, is_new ? "true" : "false") < 0) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	json_object_del(norm, "refund_timeout_s");
	w->audit_after = chan_masked(w->r->gen, norm);
	rc = 0;
out:
	json_decref(norm);
	return rc;
}

/* The stored channel of a before image (column 0), or NULL. */
static json_t *before_channel(PGresult *res)
{
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
		return NULL;
	return json_loads(PQgetvalue(res, 0, 0), 0, NULL);
}

static const char chan_before_sql[] =
	"SELECT a.channel::text FROM channels_api a "
	"JOIN channels c ON c.code = a.code WHERE a.code = $1 "
	"FOR UPDATE OF c";

static int chan_create_prepare(struct pw *w, PGresult *res)
{
	json_t *dc;

	if (PQntuples(res) > 0)
		return pw_fail(w, 409, "conflict", "code",
			       "channel %s exists already (PUT "
			       "/admin/v1/channels/%s replaces it)",
			       w->key, w->key);
	dc = json_object_get(w->body, "driver_config");
	if (json_is_object(dc) && unmask(w, dc, NULL, "driver_config") < 0)
		return -1;
	w->status = 201;
	return chan_write(w, w->body, 1);
}

static int chan_update_prepare(struct pw *w, PGresult *res)
{
	json_t *before = before_channel(res), *dc, *sdc;
	int rc;

	if (!before)
		return pw_fail(w, 404, "not_found", NULL, "no channel named %s",
			       w->key);
	w->audit_before = chan_masked(w->r->gen, before);
	if (!json_object_get(w->body, "code"))
		json_object_set_new(w->body, "code", json_string(w->key));
	dc = json_object_get(w->body, "driver_config");
	sdc = json_object_get(before, "driver_config");
	rc = 0;
	if (json_is_object(dc))
		rc = unmask(w, dc, sdc, "driver_config");
	json_decref(before);
	if (rc < 0)
		return -1;
	w->status = 200;
	return chan_write(w, w->body, 0);
}

static int chan_status_prepare(struct pw *w, PGresult *res)
{
	json_t *before = before_channel(res), *after;
	int rc;

	if (!before)
		return pw_fail(w, 404, "not_found", NULL, "no channel named %s",
			       w->key);
	w->audit_before = chan_masked(w->r->gen, before);
	after = json_deep_copy(before);
	json_decref(before);
	if (!after)
		return pw_fail(w, 500, "internal", NULL, "out of memory");
	json_object_set(after, "status", json_object_get(w->body, "status"));
	w->status = 200;
	rc = chan_write(w, after, 0);
	json_decref(after);
	return rc;
}

static const char chan_delete_before_sql[] =
	"SELECT a.channel::text, "
	"(SELECT count(*) FROM whitelist w WHERE w.channel = $1) "
	"FROM channels_api a JOIN channels c ON c.code = a.code "
	"WHERE a.code = $1 FOR UPDATE OF c";

static int chan_delete_prepare(struct pw *w, PGresult *res)
{
	json_t *before = before_channel(res);
	long refs;

	if (!before)
		return pw_fail(w, 404, "not_found", NULL, "no channel named %s",
			       w->key);
	w->audit_before = chan_masked(w->r->gen, before);
	json_decref(before);
	refs = atol(PQgetvalue(res, 0, 1));
	if (refs > 0)
		return pw_fail(w, 409, "in_use", NULL,
			       "channel %s is named by %ld whitelist "
			       "entr%s; delete %s first",
			       w->key, refs, refs == 1 ? "y" : "ies",
			       refs == 1 ? "it" : "them");
	w->write_sql = "DELETE FROM channels WHERE code = $1";
	if (pw_param(w, w->key) < 0)
		return pw_fail(w, 500, "internal", NULL, "out of memory");
	w->status = 204;
	return 0;
}

/* The answer: the channel as GET shows it, from the validated snapshot. */
static void chan_finish(struct pw *w, json_t *channels, json_t *rules)
{
	size_t i;
	json_t *ch;

	(void)rules;
	if (w->status == 204)
		return;
	json_array_foreach(channels, i, ch) {
		const char *code =
			json_string_value(json_object_get(ch, "code"));

		if (code && strcmp(code, w->key) == 0) {
			w->reply = json_pack("{s:o}", "channel",
					     chan_masked(w->r->gen, ch));
			return;
		}
	}
}

static const struct pw_ops chan_create_ops = {
	.action = "create",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_create_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pw_ops chan_update_ops = {
	.action = "update",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_update_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pw_ops chan_status_ops = {
	.action = "status",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_status_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pw_ops chan_delete_ops = {
	.action = "delete",
	.kind = "channel",
	.before_sql = chan_delete_before_sql,
	.prepare = chan_delete_prepare,
	.finish = chan_finish,
	.verify_status = 409,
};

/* -------------------------------------------------------- channel reads */

static void on_channels(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr, *out, *ch;
	size_t i;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "list channels", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	out = json_array();
	if (!arr || !out) {
		json_decref(arr);
		json_decref(out);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the channels");
		return;
	}
	json_array_foreach(arr, i, ch)
		json_array_append_new(out, chan_masked(r->gen, ch));
	json_decref(arr);
	pr_request_reply(r, 200, json_pack("{s:o}", "channels", out));
}

static void on_channel(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *ch;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "read channel", err);
		return;
	}
	if (PQntuples(res) < 1) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such channel");
		return;
	}
	ch = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!ch) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the channel");
		return;
	}
	pr_request_reply(r, 200, chan_masked(r->gen, ch));
	json_decref(ch);
}

static void query_or_503(struct pr_request *r, const char *sql, int n,
			 const char *const *p, pr_db_cb cb)
{
	if (pr_db_query(r->d->db, sql, n, p, cb, r) < 0)
		pr_api_store_unavailable(r);
}

static void handle_channels(struct pr_request *r, const char *rest)
{
	enum evhttp_cmd_type c = cmd_of(r);
	char code[128];
	const char *p[1];
	const char *slash;
	json_t *body;

	if (!*rest) {
		if (c == EVHTTP_REQ_GET || c == EVHTTP_REQ_HEAD) {
			query_or_503(
				r,
				"SELECT coalesce(json_agg(channel ORDER BY "
				"code), '[]')::text FROM channels_api",
				0, NULL, on_channels);
		} else if (c == EVHTTP_REQ_POST) {
			const char *cd;

			if (!(body = pr_api_read_body(r)))
				return;
			cd = json_string_value(json_object_get(body, "code"));
			if (!cd || !code_ok(cd)) {
				json_decref(body);
				pr_api_reply_err(
					r, 400, "invalid_field", "code",
					"code: required, 1 to 64 of a-z, "
					"0-9 and _");
				return;
			}
			snprintf(code, sizeof(code), "%s", cd);
			pw_start(r, &chan_create_ops, code, body);
		} else {
			pr_api_method_not_allowed(r, "GET, POST");
		}
		return;
	}
	if (*rest != '/')
		goto not_found;
	rest++;
	slash = strchr(rest, '/');
	if ((size_t)(slash ? slash - rest : (long)strlen(rest)) >= sizeof(code))
		goto not_found;
	snprintf(code, sizeof(code), "%.*s",
		 (int)(slash ? slash - rest : (long)strlen(rest)), rest);
	if (!code_ok(code))
		goto not_found;
	if (slash) {
		json_t *st;

		if (strcmp(slash, "/status") != 0)
			goto not_found;
		if (c != EVHTTP_REQ_POST) {
			pr_api_method_not_allowed(r, "POST");
			return;
		}
		if (!(body = pr_api_read_body(r)))
			return;
		st = json_object_get(body, "status");
		if (json_object_size(body) != 1 || !json_is_string(st) ||
		    (strcmp(json_string_value(st), "online") != 0 &&
		     strcmp(json_string_value(st), "offline") != 0)) {
			json_decref(body);
			pr_api_reply_err(
				r, 400, "invalid_field", "status",
				"status: the body is {\"status\": "
				"\"online\"} or {\"status\": \"offline\"}");
			return;
		}
		pw_start(r, &chan_status_ops, code, body);
		return;
	}
	switch (c) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		p[0] = code;
		query_or_503(r,
			     "SELECT channel::text FROM channels_api "
			     "WHERE code = $1",
			     1, p, on_channel);
		return;
	case EVHTTP_REQ_PUT:
		if (!(body = pr_api_read_body(r)))
			return;
		pw_start(r, &chan_update_ops, code, body);
		return;
	case EVHTTP_REQ_DELETE:
		pw_start(r, &chan_delete_ops, code, NULL);
		return;
	default:
		pr_api_method_not_allowed(r, "GET, PUT, DELETE");
		return;
	}
not_found:
	pr_api_reply_err(r, 404, "not_found", NULL, "no such endpoint: %s",
			 r->path);
}

/* ---------------------------------------------------------- whitelist */

/* 1 when s looks like RFC 3339: 2025-01-31T16:00:00(.fff)(Z|+08:00). */
static int rfc3339_ok(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;

	for (i = 0; pat[i]; i++) {
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) :
				    s[i] != pat[i])
			return 0;
	}
	s += i;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return 0;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (strcmp(s, "Z") == 0)
		return 1;
	return (s[0] == '+' || s[0] == '-') && isdigit((unsigned char)s[1]) &&
	       isdigit((unsigned char)s[2]) && s[3] == ':' &&
	       isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) &&
	       s[6] == '\0';
}

static int wl_create_prepare(struct pw *w, PGresult *res)
{
	if (PQntuples(res) < 1)
		return pw_fail(w, 400, "invalid_field", "channel",
			       "channel: no channel named %s", w->key);
	w->write_sql =
		"INSERT INTO whitelist (kind, value, hint, channel, note, "
		"expires_at, created_by) VALUES ($1, $2, $3, $4, $5, "
		"date_trunc('second', $6::timestamptz), $7) "
		"RETURNING id, pr_rfc3339(expires_at)";
	w->status = 201;
	return 0;
}

static int wl_created(struct pw *w, PGresult *res)
{
	const char *kind = w->wp[0];
	json_t *e;

	if (PQntuples(res) != 1)
		return pw_fail(w, 500, "internal", NULL, "no row inserted");
	snprintf(w->object_id, sizeof(w->object_id), "%s",
		 PQgetvalue(res, 0, 0));
	e = json_pack("{s:I,s:s,s:s,s:s}", "id",
		      (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
		      "kind", kind, "channel", w->wp[3], "note",
		      w->wp[4] ? w->wp[4] : "");
	if (!e)
		return pw_fail(w, 500, "internal", NULL, "out of memory");
	json_object_set_new(e, "expires_at",
			    PQgetisnull(res, 0, 1) ?
				    json_null() :
				    json_string(PQgetvalue(res, 0, 1)));
	if (strcmp(kind, "card_no") == 0)
		json_object_set_new(e, "value_hint", json_string(w->wp[2]));
	else
		json_object_set_new(e, "value", json_string(w->wp[1]));
	w->audit_after = json_incref(e);
	w->reply = json_pack("{s:o}", "entry", e);
	snprintf(w->reload_why, sizeof(w->reload_why),
		 "policy change: whitelist entry %s", w->object_id);
	return 0;
}

static int wl_delete_prepare(struct pw *w, PGresult *res)
{
	if (PQntuples(res) < 1)
		return pw_fail(w, 404, "not_found", NULL,
			       "no whitelist entry %s", w->key);
	w->audit_before = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	w->write_sql = "DELETE FROM whitelist WHERE id = $1::bigint";
	if (pw_param(w, w->key) < 0)
		return pw_fail(w, 500, "internal", NULL, "out of memory");
	w->status = 204;
	return 0;
}

static const struct pw_ops wl_create_ops = {
	.action = "create",
	.kind = "whitelist",
	.before_sql = "SELECT code FROM channels WHERE code = $1 "
		      "FOR KEY SHARE",
	.prepare = wl_create_prepare,
	.written = wl_created,
	.verify_status = 400,
};

static const struct pw_ops wl_delete_ops = {
	.action = "delete",
	.kind = "whitelist",
	.before_sql = "SELECT a.entry::text FROM whitelist_api a "
		      "JOIN whitelist w ON w.id = a.id "
		      "WHERE a.id = $1::bigint FOR UPDATE OF w",
	.prepare = wl_delete_prepare,
	.verify_status = 409,
};

/* A refusal found before a write starts (or, for an import, inside it). */
struct refusal {
	int status;
	const char *code;
	char field[96];
	char msg[640];
};

static int refuse(struct refusal *f, int status, const char *code,
		  const char *prefix, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Fills f: field is prefix + field (field NULL: none), the message is
 * "PREFIXFIELD: " + the formatted text. Returns -1. */
static int refuse(struct refusal *f, int status, const char *code,
		  const char *prefix, const char *field, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	f->status = status;
	f->code = code;
	if (field)
		snprintf(f->field, sizeof(f->field), "%s%s", prefix, field);
	else
		f->field[0] = '\0';
	if (field)
		snprintf(f->msg, sizeof(f->msg), "%s: %s", f->field, text);
	else
		snprintf(f->msg, sizeof(f->msg), "%s", text);
	return -1;
}

/* A whitelist entry as wl_check found it. The strings are borrowed from
 * the body (value: from hmac for a card), hmac is owned (wl_in_clear). */
struct wl_in {
	const char *kind, *value, *channel, *note, *expires;
	char hint[5];
	char *hmac;
	json_int_t id; /* an import's "id" (0: none) */
};

static void wl_in_clear(struct wl_in *in)
{
	if (in->hmac) {
		explicit_bzero(in->hmac, strlen(in->hmac));
		free(in->hmac);
	}
	memset(in, 0, sizeof(*in));
}

/* Checks a whitelist entry as POST /admin/v1/whitelist takes it; a card
 * number is replaced by its HMAC (and wiped from the body) before anything
 * else sees it. import: the entry comes from a policy document, which may
 * also carry what GET shows (id, value_hint, created_at, created_by: read
 * only), and a card entry without its number when it names the stored
 * entry by id (in->value NULL: the caller finds it). prefix ("" or
 * "whitelist[3].") goes before every field named. Returns 0, or -1 with f
 * filled. */
static int wl_check(const struct pr_config *cfg, json_t *body,
		    const char *prefix, int import, struct wl_in *in,
		    struct refusal *f)
{
	const char *k;
	unsigned char mac[32];
	json_t *v;

	memset(in, 0, sizeof(*in));
	in->note = "";
	json_object_foreach(body, k, v) {
		int ro = strcmp(k, "id") == 0 || strcmp(k, "value_hint") == 0 ||
			 strcmp(k, "created_at") == 0 ||
			 strcmp(k, "created_by") == 0;

		if (strcmp(k, "kind") && strcmp(k, "value") &&
		    strcmp(k, "channel") && strcmp(k, "note") &&
		    strcmp(k, "expires_at") && !(import && ro))
			return refuse(f, 400, "invalid_field", prefix, k,
				      "unknown key (known: kind, value, "
				      "channel, note, expires_at%s)",
				      import ? "; and as read: id, "
					       "value_hint, created_at, "
					       "created_by" :
					       "");
	}
	v = json_object_get(body, "id");
	if (import && v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return refuse(f, 400, "invalid_field", prefix, "id",
				      "a stored entry's id (a positive "
				      "integer) or null");
		in->id = json_integer_value(v);
	}
	in->kind = json_string_value(json_object_get(body, "kind"));
	if (!in->kind ||
	    (strcmp(in->kind, "card_no") && strcmp(in->kind, "buyer_id") &&
	     strcmp(in->kind, "seller_id")))
		return refuse(f, 400, "invalid_field", prefix, "kind",
			      "one of card_no, buyer_id, seller_id");
	in->value = json_string_value(json_object_get(body, "value"));
	if (!in->value && !(import && in->id && !strcmp(in->kind, "card_no")))
		return refuse(f, 400, "invalid_field", prefix, "value",
			      "required, a string%s",
			      import && !strcmp(in->kind, "card_no") ?
				      " (a new card entry's number; an "
				      "exported card entry keeps its id "
				      "instead)" :
				      "");
	in->channel = json_string_value(json_object_get(body, "channel"));
	if (!in->channel || !code_ok(in->channel))
		return refuse(f, 400, "invalid_field", prefix, "channel",
			      "required, a channel code");
	v = json_object_get(body, "note");
	if (v && !json_is_null(v)) {
		in->note = json_string_value(v);
		if (!in->note || !pr_api_text_ok(in->note, PR_API_MAX_NOTE))
			return refuse(f, 400, "invalid_field", prefix, "note",
				      "a string of at most %d characters",
				      PR_API_MAX_NOTE);
	}
	v = json_object_get(body, "expires_at");
	if (v && !json_is_null(v)) {
		in->expires = json_string_value(v);
		if (!in->expires || !rfc3339_ok(in->expires))
			return refuse(f, 400, "invalid_field", prefix,
				      "expires_at",
				      "an RFC 3339 time "
				      "(2025-12-31T16:00:00Z) or null");
	}
	if (!in->value)
		return 0;
	if (strcmp(in->kind, "card_no") == 0) {
		size_t n = strlen(in->value);
		int digits = n >= 12 && n <= 19;

		for (size_t i = 0; digits && i < n; i++)
			digits = isdigit((unsigned char)in->value[i]) != 0;
		if (!digits)
			return refuse(f, 400, "invalid_field", prefix, "value",
				      "a card number is 12 to 19 digits (no "
				      "spaces)");
		/* A number that fails the check digit is no card: no payment
		 * (payreq.c refuses them) could ever match the entry. */
		if (!pr_luhn_ok(in->value))
			return refuse(f, 400, "invalid_field", prefix, "value",
				      "not a card number: it fails the Luhn "
				      "check");
		if (!cfg->has_secret_key)
			return refuse(f, 409, "not_configured", prefix, NULL,
				      "secrets.key_file is not configured: "
				      "card numbers are stored only as an "
				      "HMAC with that key");
		if (pr_hmac_sha256(cfg->secret_key, sizeof(cfg->secret_key),
				   in->value, n, mac) < 0 ||
		    !(in->hmac = pr_hex_encode(mac, sizeof(mac))))
			return refuse(f, 500, "internal", prefix, NULL,
				      "cannot compute the card's HMAC");
		memcpy(in->hint, in->value + n - 4, 4);
		/* wipe the number from the parsed body */
		memset((char *)in->value, 'x', n);
		in->value = in->hmac;
	} else if (!pr_api_text_ok(in->value, 256) || !*in->value) {
		return refuse(f, 400, "invalid_field", prefix, "value",
			      "1 to 256 characters, no control characters");
	}
	return 0;
}

/* POST /admin/v1/whitelist: checks the entry and starts its write. */
static void wl_post(struct pr_request *r)
{
	json_t *body = pr_api_read_body(r);
	struct refusal f;
	struct wl_in in;
	char chan[128];
	struct pw *w;

	if (!body)
		return;
	if (wl_check(r->gen->config, body, "", 0, &in, &f) < 0) {
		pr_api_reply_err(r, f.status, f.code,
				 f.field[0] ? f.field : NULL, "%s", f.msg);
		goto out;
	}
	snprintf(chan, sizeof(chan), "%s", in.channel);
	w = pw_new(r, &wl_create_ops, chan, NULL);
	if (!w)
		goto out;
	/* the parameters of the INSERT (see wl_create_prepare) */
	if (pw_param(w, in.kind) < 0 || pw_param(w, in.value) < 0 ||
	    pw_param(w, in.hint[0] ? in.hint : NULL) < 0 ||
	    pw_param(w, chan) < 0 || pw_param(w, in.note) < 0 ||
	    pw_param(w, in.expires) < 0 || pw_param(w, w->actor) < 0) {
		pw_free(w);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	pw_go(w);
out:
	wl_in_clear(&in);
	json_decref(body);
}

static void on_whitelist(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "list whitelist", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the whitelist");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "whitelist", arr));
}

static void handle_whitelist(struct pr_request *r, const char *rest)
{
	enum evhttp_cmd_type c = cmd_of(r);
	char id[32];
	size_t n;

	if (!*rest) {
		if (c == EVHTTP_REQ_GET || c == EVHTTP_REQ_HEAD)
			query_or_503(r,
				     "SELECT coalesce(json_agg(entry ORDER BY "
				     "id), '[]')::text FROM whitelist_api",
				     0, NULL, on_whitelist);
		else if (c == EVHTTP_REQ_POST)
			wl_post(r);
		else
			pr_api_method_not_allowed(r, "GET, POST");
		return;
	}
	n = strlen(rest);
	if (rest[0] != '/' || n < 2 || n > 19 ||
	    strspn(rest + 1, "0123456789") != n - 1) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such endpoint: %s", r->path);
		return;
	}
	snprintf(id, sizeof(id), "%s", rest + 1);
	if (c == EVHTTP_REQ_DELETE)
		pw_start(r, &wl_delete_ops, id, NULL);
	else
		pr_api_method_not_allowed(r, "DELETE");
}

/* ------------------------------------------------------------- rules */

static const char rules_list_sql[] =
	"SELECT coalesce(json_agg(rule ORDER BY position), '[]')::text "
	"FROM routing_rules_api";

/* 1 when code is in the JSON array of strings codes. */
static int has_code(json_t *codes, const char *code)
{
	size_t i;
	json_t *v;

	json_array_foreach(codes, i, v) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), code) == 0)
			return 1;
	}
	return 0;
}

static int rule_channels_ok(struct pw *w, size_t idx, json_t *rule,
			    const char *list, json_t *codes)
{
	json_t *arr = json_object_get(rule, list), *v;
	char field[64];
	size_t i;

	json_array_foreach(arr, i, v) {
		const char *code = json_string_value(v);

		if (code && !has_code(codes, code)) {
			snprintf(field, sizeof(field), "rules[%zu].%s[%zu]",
				 idx, list, i);
			return pw_fail(w, 400, "invalid_field", field,
				       "%s: no channel named %s", field, code);
		}
	}
	return 0;
}

/* Checks the rules given (a JSON array, in order) as PUT
 * /admin/v1/routing/rules does: each parsed by pr_rule_parse (ids are the
 * store's and ignored; positions come from the order), its allow and deny
 * lists naming channels of codes (a JSON array of strings). Fields are
 * named "rules[I]...". On success *norm is the normalised list, without
 * ids (a new reference). Returns 0, or -1 after pw_fail. */
static int rules_check(struct pw *w, json_t *given, json_t *codes,
		       json_t **norm)
{
	char prefix[48], err[512];
	json_t *v;
	size_t i;

	*norm = NULL;
	if (!json_is_array(given))
		return pw_fail(w, 400, "invalid_field", "rules",
			       "rules: required, an array (in order: the "
			       "first rule that matches applies)");
	if (json_array_size(given) > MAX_RULES)
		return pw_fail(w, 400, "invalid_field", "rules",
			       "rules: at most %d rules", MAX_RULES);
	*norm = json_array();
	if (!*norm)
		return pw_fail(w, 500, "internal", NULL, "out of memory");
	json_array_foreach(given, i, v) {
		struct pr_rule rule;
		json_t *copy, *one;

		snprintf(prefix, sizeof(prefix), "rules[%zu].", i);
		if (!json_is_object(v)) {
			prefix[strlen(prefix) - 1] = '\0';
			pw_fail(w, 400, "invalid_field", prefix,
				"%s: a rule is an object", prefix);
			goto fail;
		}
		copy = json_deep_copy(v);
		if (!copy) {
			pw_fail(w, 500, "internal", NULL, "out of memory");
			goto fail;
		}
		json_object_del(copy, "id");
		memset(&rule, 0, sizeof(rule));
		err[0] = '\0';
		if (pr_rule_parse(copy, &rule, err, sizeof(err)) < 0) {
			json_decref(copy);
			pr_rule_clear(&rule);
			pw_invalid(w, prefix, err);
			goto fail;
		}
		json_decref(copy);
		one = pr_rule_to_json(&rule);
		pr_rule_clear(&rule);
		if (!one) {
			pw_fail(w, 500, "internal", NULL, "out of memory");
			goto fail;
		}
		json_object_del(one, "id");
		json_array_append_new(*norm, one);
		if (rule_channels_ok(w, i, one, "allow", codes) < 0 ||
		    rule_channels_ok(w, i, one, "deny", codes) < 0)
			goto fail;
	}
	return 0;
fail:
	json_decref(*norm);
	*norm = NULL;
	return -1;
}

static int rules_prepare(struct pw *w, PGresult *res)
{
	json_t *codes, *norm = NULL, *v;
	const char *k;
	int rc = -1;

	json_object_foreach(w->body, k, v) {
		if (strcmp(k, "rules") != 0)
			return pw_fail(w, 400, "invalid_field", k,
				       "%s: unknown key (the body is "
				       "{\"rules\": [...]})",
				       k);
	}
	w->audit_before = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	codes = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	if (!codes)
		return pw_fail(w, 500, "internal", NULL, "out of memory");
	if (rules_check(w, json_object_get(w->body, "rules"), codes, &norm) < 0)
		goto out;
	w->write_sql = "SELECT routing_rules_replace($1::jsonb)";
	if (pw_param_json(w, norm) < 0) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	w->status = 200;
	rc = 0;
out:
	json_decref(codes);
	json_decref(norm);
	return rc;
}

static void rules_finish(struct pw *w, json_t *channels, json_t *rules)
{
	(void)channels;
	json_decref(w->audit_after);
	w->audit_after = json_incref(rules);
	w->reply = json_pack("{s:O}", "rules", rules);
}

static const struct pw_ops rules_ops = {
	.action = "replace",
	.kind = "routing_rules",
	.before_sql =
		"SELECT (SELECT coalesce(json_agg(rule ORDER BY position), "
		"'[]')::text FROM routing_rules_api), "
		"(SELECT coalesce(json_agg(code), '[]')::text FROM channels) "
		"WHERE $1::text IS NOT NULL",
	.prepare = rules_prepare,
	.finish = rules_finish,
	.verify_status = 400,
};

static void on_rules(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "list rules", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the rules");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "rules", arr));
}

static void handle_rules(struct pr_request *r)
{
	enum evhttp_cmd_type c = cmd_of(r);
	json_t *body;

	if (c == EVHTTP_REQ_GET || c == EVHTTP_REQ_HEAD) {
		query_or_503(r, rules_list_sql, 0, NULL, on_rules);
	} else if (c == EVHTTP_REQ_PUT) {
		if ((body = pr_api_read_body(r)))
			pw_start(r, &rules_ops, "rules", body);
	} else {
		pr_api_method_not_allowed(r, "GET, PUT");
	}
}

/* ------------------------------------------------------- result codes */

/* One row of code_overrides as JSON (o is the table's alias). */
#define OVERRIDE_JSON                                                          \
	"json_build_object('channel', o.channel, 'op', o.op, 'code', o.code, " \
	"'sub_code', o.sub_code, 'unified', o.unified, 'effect', o.effect, "   \
	"'retryable', o.retryable, 'category', o.category, 'message_en', "     \
	"o.message_en, 'message_zh', o.message_zh, 'updated_at', "             \
	"pr_rfc3339(o.updated_at))"

#define OVERRIDE_KEY_WHERE                                                     \
	"o.channel = $1 AND o.op = $2 AND o.code = $3 AND o.sub_code = $4"

static const char overrides_list_sql[] =
	"SELECT coalesce(json_agg(" OVERRIDE_JSON " ORDER BY o.channel, o.op, "
	"o.code, o.sub_code), '[]')::text FROM code_overrides o "
	"WHERE $1::text IS NULL OR o.channel = $1";

static const char unmapped_list_sql[] =
	"SELECT coalesce(json_agg(json_build_object('channel', u.channel, "
	"'driver', u.driver, 'op', u.op, 'code', u.code, 'sub_code', "
	"u.sub_code, 'count', u.count, 'first_seen', pr_rfc3339(u.first_seen), "
	"'last_seen', pr_rfc3339(u.last_seen), 'sample_order', u.sample_order, "
	"'sample_message', u.sample_message) ORDER BY u.count DESC, "
	"u.last_seen DESC, u.channel, u.op, u.code, u.sub_code), '[]')::text "
	"FROM (SELECT * FROM unmapped_codes "
	"WHERE $1::text IS NULL OR channel = $1 "
	"ORDER BY count DESC, last_seen DESC LIMIT $2::int) u";

/* The four parts of an override's key, owned by w (its before query's
 * parameters), and its audit id "channel/op/code/sub_code". */
static int code_key(struct pw *w, const char *channel, const char *op,
		    const char *code, const char *sub)
{
	const char *v[4] = { channel, op, code, sub };

	for (int i = 0; i < 4; i++) {
		if (!(w->bp[i] = strdup(v[i])))
			return -1;
		w->nbp = i + 1;
	}
	snprintf(w->object_id, sizeof(w->object_id), "%s/%s/%s/%s", channel, op,
		 code, sub);
	snprintf(w->reload_why, sizeof(w->reload_why),
		 "policy change: code_override %s", w->object_id);
	return 0;
}

static int code_put_prepare(struct pw *w, PGresult *res);
static int code_put_written(struct pw *w, PGresult *res);

static const char code_put_before_sql[] =
	"SELECT c.code, (SELECT " OVERRIDE_JSON "::text "
	"FROM code_overrides o WHERE " OVERRIDE_KEY_WHERE ") "
	"FROM (SELECT $1::text AS code) q "
	"LEFT JOIN channels c ON c.code = q.code";

static const struct pw_ops code_create_ops = {
	.action = "create",
	.kind = "code_override",
	.before_sql = code_put_before_sql,
	.prepare = code_put_prepare,
	.written = code_put_written,
	.verify_status = 400,
};

/* The same write when the override existed: audited as an update. */
static const struct pw_ops code_update_ops = {
	.action = "update",
	.kind = "code_override",
	.before_sql = code_put_before_sql,
	.prepare = code_put_prepare,
	.written = code_put_written,
	.verify_status = 400,
};

static int code_put_prepare(struct pw *w, PGresult *res)
{
	if (PQntuples(res) != 1)
		return pw_fail(w, 500, "internal", NULL, "no row read");
	if (PQgetisnull(res, 0, 0))
		return pw_fail(w, 400, "invalid_field", "channel",
			       "channel: no channel named %s", w->bp[0]);
	if (!PQgetisnull(res, 0, 1)) {
		w->audit_before = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		if (!w->audit_before)
			return pw_fail(w, 500, "internal", NULL,
				       "cannot read the override");
		w->ops = &code_update_ops;
	}
	w->write_sql =
		"INSERT INTO code_overrides AS o (channel, op, code, sub_code, "
		"unified, effect, retryable, category, message_en, message_zh) "
		"SELECT r.channel, r.op, r.code, r.sub_code, r.unified, "
		"r.effect, r.retryable, r.category, r.message_en, r.message_zh "
		"FROM jsonb_populate_record(NULL::code_overrides, $1::jsonb) r "
		"ON CONFLICT (channel, op, code, sub_code) DO UPDATE SET "
		"unified = EXCLUDED.unified, effect = EXCLUDED.effect, "
		"retryable = EXCLUDED.retryable, category = EXCLUDED.category, "
		"message_en = EXCLUDED.message_en, "
		"message_zh = EXCLUDED.message_zh, updated_at = now() "
		"RETURNING " OVERRIDE_JSON "::text";
	if (pw_param_json(w, w->body) < 0)
		return pw_fail(w, 500, "internal", NULL, "out of memory");
	w->status = 200;
	return 0;
}

static int code_put_written(struct pw *w, PGresult *res)
{
	json_t *row;

	if (PQntuples(res) != 1 ||
	    !(row = json_loads(PQgetvalue(res, 0, 0), 0, NULL)))
		return pw_fail(w, 500, "internal", NULL, "no row written");
	w->audit_after = json_incref(row);
	w->reply = json_pack("{s:o}", "override", row);
	return w->reply ? 0 :
			  pw_fail(w, 500, "internal", NULL, "out of memory");
}

/* An override as the store writes it (defaults filled in by
 * pr_code_override_check); a new reference or NULL. */
static json_t *code_norm(const struct pr_code *c)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s}", "channel",
			 c->owner, "op", c->op, "code", c->code, "sub_code",
			 c->sub_code, "unified", c->unified, "effect",
			 pr_effect_name(c->effect), "retryable", c->retryable,
			 "category", pr_category_name(c->category),
			 "message_en", c->message_en, "message_zh",
			 c->message_zh);
}

/* PUT /admin/v1/codes/overrides: checks the body as a reload will, then
 * writes it normalised (defaults filled in). */
static void code_put(struct pr_request *r)
{
	json_t *body = pr_api_read_body(r), *norm = NULL;
	struct pr_code c;
	char err[512], field[64];
	struct pw *w;

	if (!body)
		return;
	if (pr_code_override_check(body, &c, err, sizeof(err)) < 0) {
		err_field(err, field, sizeof(field));
		pr_api_reply_err(r, 400, "invalid_field",
				 field[0] ? field : NULL, "%s", err);
		goto out;
	}
	norm = code_norm(&c);
	if (!norm) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	w = pw_new(r, &code_create_ops, c.owner, norm);
	norm = NULL; /* taken by pw_new */
	if (!w)
		goto out;
	if (code_key(w, c.owner, c.op, c.code, c.sub_code) < 0) {
		pw_free(w);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	pw_go(w);
out:
	json_decref(norm);
	json_decref(body);
}

static int code_delete_prepare(struct pw *w, PGresult *res)
{
	if (PQntuples(res) < 1)
		return pw_fail(w, 404, "not_found", NULL, "no code override %s",
			       w->object_id);
	w->audit_before = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	w->write_sql = "DELETE FROM code_overrides o WHERE " OVERRIDE_KEY_WHERE;
	for (int i = 0; i < 4; i++) {
		if (pw_param(w, w->bp[i]) < 0)
			return pw_fail(w, 500, "internal", NULL,
				       "out of memory");
	}
	w->status = 204;
	return 0;
}

static const struct pw_ops code_delete_ops = {
	.action = "delete",
	.kind = "code_override",
	.before_sql = "SELECT " OVERRIDE_JSON "::text FROM code_overrides o "
		      "WHERE " OVERRIDE_KEY_WHERE " FOR UPDATE",
	.prepare = code_delete_prepare,
	.verify_status = 409,
};

/* Parses the query string into args; answers 400 and returns -1 when it
 * cannot be parsed. */
static int query_args(struct pr_request *r, struct evkeyvalq *args)
{
	const char *q =
		evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));

	TAILQ_INIT(args);
	if (q && evhttp_parse_query_str(q, args) < 0) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "the query string cannot be parsed");
		return -1;
	}
	return 0;
}

/* DELETE /admin/v1/codes/overrides?channel=&op=&code=&sub_code= */
static void code_delete(struct pr_request *r)
{
	static const char *const names[4] = { "channel", "op", "code",
					      "sub_code" };
	static const size_t max[4] = { 64, 16, 255, 255 };
	struct evkeyvalq args;
	const char *v[4];
	struct pw *w;

	if (query_args(r, &args) < 0)
		return;
	for (int i = 0; i < 4; i++) {
		v[i] = evhttp_find_header(&args, names[i]);
		if (i == 3 && (!v[i] || !*v[i]))
			v[i] = "*";
		if (!v[i] || !*v[i] || strlen(v[i]) > max[i]) {
			pr_api_reply_err(
				r, 400, "invalid_field", names[i],
				"%s: required in the query string, at "
				"most %zu bytes (channel, op, code, and "
				"sub_code, which defaults to *)",
				names[i], max[i]);
			goto out;
		}
	}
	w = pw_new(r, &code_delete_ops, v[0], NULL);
	if (!w)
		goto out;
	if (code_key(w, v[0], v[1], v[2], v[3]) < 0) {
		pw_free(w);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	pw_go(w);
out:
	evhttp_clear_headers(&args);
}

static void on_overrides(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "list code overrides", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the code overrides");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "overrides", arr));
}

/* The overrides as stored (all, or one channel's). */
static void code_list_overrides(struct pr_request *r, const char *channel)
{
	const char *p[1] = { channel };

	query_or_503(r, overrides_list_sql, 1, p, on_overrides);
}

/* The table a channel's answers are mapped with in the request's
 * generation: its overrides, then its driver's defaults. */
static void code_effective(struct pr_request *r, const char *code)
{
	const struct pr_channel *ch = pr_gen_channel(r->gen, code);
	json_t *rows;

	if (!ch) {
		pr_api_reply_err(r, 404, "not_found", "channel",
				 "no channel named %s", code);
		return;
	}
	if (!r->gen->codes) {
		pr_api_reply_err(r, 503, "not_loaded", NULL,
				 "the result codes are not loaded yet");
		return;
	}
	rows = pr_codemap_to_json(r->gen->codes, ch->driver, ch->code);
	if (!rows) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	pr_request_reply(r, 200,
			 json_pack("{s:s,s:s,s:b,s:I,s:o}", "channel", ch->code,
				   "driver", ch->driver, "driver_loaded",
				   ch->mod != NULL, "generation",
				   (json_int_t)r->gen->id, "codes", rows));
}

static void on_unmapped(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	const struct pr_codemap *m = r->gen->codes;
	json_t *arr, *u;
	size_t i;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "list unmapped codes", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the unmapped codes");
		return;
	}
	/* What the current tables say now (an override may have been added
	 * since): the unified code, or null. */
	json_array_foreach(arr, i, u) {
		const char *f[5];
		const struct pr_code *c;

		f[0] = json_string_value(json_object_get(u, "driver"));
		f[1] = json_string_value(json_object_get(u, "channel"));
		f[2] = json_string_value(json_object_get(u, "op"));
		f[3] = json_string_value(json_object_get(u, "code"));
		f[4] = json_string_value(json_object_get(u, "sub_code"));
		c = pr_codemap_lookup(m, f[0], f[1], f[2], f[3], f[4]);
		json_object_set_new(u, "mapped_as",
				    c ? json_string(c->unified) : json_null());
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "unmapped", arr));
}

static void code_unmapped(struct pr_request *r, const char *channel,
			  const char *limit)
{
	const char *p[2] = { channel, limit };

	query_or_503(r, unmapped_list_sql, 2, p, on_unmapped);
}

/* The channel= and limit= of a read; answers 400 and returns -1 when one
 * is bad. */
static int code_read_args(struct pr_request *r, struct evkeyvalq *args,
			  char *channel, size_t clen, char *limit, size_t llen)
{
	const char *v;
	char *end;
	long n;

	channel[0] = '\0';
	if ((v = evhttp_find_header(args, "channel")) && *v) {
		if (!code_ok(v)) {
			pr_api_reply_err(r, 404, "not_found", "channel",
					 "no channel named %s", v);
			return -1;
		}
		snprintf(channel, clen, "%s", v);
	}
	if ((v = evhttp_find_header(args, "limit"))) {
		n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > 10000) {
			pr_api_reply_err(r, 400, "invalid_field", "limit",
					 "limit: an integer from 1 to 10000");
			return -1;
		}
		snprintf(limit, llen, "%ld", n);
	}
	return 0;
}

/* /admin/v1/codes, /admin/v1/codes/overrides, /admin/v1/codes/unmapped */
static void handle_codes(struct pr_request *r, const char *rest)
{
	enum evhttp_cmd_type c = cmd_of(r);
	int is_read = c == EVHTTP_REQ_GET || c == EVHTTP_REQ_HEAD;
	struct evkeyvalq args;
	char channel[128], limit[16] = "1000";

	if (strcmp(rest, "/overrides") == 0 && c == EVHTTP_REQ_PUT) {
		code_put(r);
		return;
	}
	if (strcmp(rest, "/overrides") == 0 && c == EVHTTP_REQ_DELETE) {
		code_delete(r);
		return;
	}
	if (strcmp(rest, "") != 0 && strcmp(rest, "/overrides") != 0 &&
	    strcmp(rest, "/unmapped") != 0) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such endpoint: %s", r->path);
		return;
	}
	if (!is_read) {
		pr_api_method_not_allowed(r, strcmp(rest, "/overrides") == 0 ?
						     "GET, PUT, DELETE" :
						     "GET");
		return;
	}
	if (query_args(r, &args) < 0)
		return;
	if (code_read_args(r, &args, channel, sizeof(channel), limit,
			   sizeof(limit)) < 0) {
		evhttp_clear_headers(&args);
		return;
	}
	evhttp_clear_headers(&args);
	if (strcmp(rest, "/unmapped") == 0)
		code_unmapped(r, channel[0] ? channel : NULL, limit);
	else if (!rest[0] && channel[0])
		code_effective(r, channel);
	else
		code_list_overrides(r, channel[0] ? channel : NULL);
}

/* ------------------------------------------------------------- audit */

static const char audit_list_sql[] =
	"SELECT coalesce(json_agg(json_build_object('id', a.id, 'at', "
	"pr_rfc3339(a.at), 'actor', a.actor, 'action', a.action, "
	"'object_kind', a.object_kind, 'object_id', a.object_id, 'before', "
	"a.before, 'after', a.after, 'note', a.note) ORDER BY a.id DESC), "
	"'[]')::text FROM (SELECT * FROM audit_log "
	"WHERE ($2::text IS NULL OR object_kind = $2) "
	"AND ($3::text IS NULL OR object_id = $3) "
	"ORDER BY id DESC LIMIT $1::int) a";

static void on_audit(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "read audit log", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the audit log");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "audit", arr));
}

static void handle_audit(struct pr_request *r)
{
	const char *q =
		evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
	struct evkeyvalq args;
	const char *v, *p[3];
	char limit[16] = "100", kind[64], id[128];
	long n;
	char *end;

	if (cmd_of(r) != EVHTTP_REQ_GET && cmd_of(r) != EVHTTP_REQ_HEAD) {
		pr_api_method_not_allowed(r, "GET");
		return;
	}
	TAILQ_INIT(&args);
	if (q && evhttp_parse_query_str(q, &args) < 0) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "the query string cannot be parsed");
		return;
	}
	p[1] = p[2] = NULL;
	if ((v = evhttp_find_header(&args, "limit"))) {
		n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > 1000) {
			evhttp_clear_headers(&args);
			pr_api_reply_err(r, 400, "invalid_field", "limit",
					 "limit: an integer from 1 to 1000");
			return;
		}
		snprintf(limit, sizeof(limit), "%ld", n);
	}
	if ((v = evhttp_find_header(&args, "object_kind")) && *v) {
		snprintf(kind, sizeof(kind), "%s", v);
		p[1] = kind;
	}
	if ((v = evhttp_find_header(&args, "object_id")) && *v) {
		snprintf(id, sizeof(id), "%s", v);
		p[2] = id;
	}
	evhttp_clear_headers(&args);
	p[0] = limit;
	query_or_503(r, audit_list_sql, 3, p, on_audit);
}

/* ------------------------------------------------------- whole policy */

/*
 * GET /admin/v1/policy exports the whole routing policy as one document
 * (policy_io.h), read in one statement, so one snapshot: the channels as
 * GET /admin/v1/channels shows them (secrets masked), the whitelist as GET
 * /admin/v1/whitelist (cards by their hint), the rules and the code
 * overrides.
 *
 * PUT /admin/v1/policy replaces it by a document, as one policy write
 * (pw): inside the transaction, under the policy lock, the stored policy
 * is read, every entity of the document is checked by the parser its own
 * endpoint uses (a 400 names the field, "channels[2].limits.txn_max"),
 * and pr_policy_plan compares the two. Only what differs is written (by
 * policy_apply(), migration 007): channels added or changed (their driver
 * checked as a channel PUT checks it; an unchanged channel is not
 * re-checked, nothing is written for it), whitelist entries, the rules,
 * the overrides; and what the store holds but the document lacks is
 * removed. Then the whole policy must build (pw_verify), one audit row per
 * entity changed plus one "import" row with the summary are written, the
 * other instances are told (NOTIFY), and the answer waits for the new
 * generation. ?dry_run=1 does all of it but the audit and rolls back. A
 * document equal to the store writes nothing and answers at once.
 *
 * A masked secret ("********") in a channel's driver_config stands for
 * the stored value (unmask), so an export imports back unchanged; in a
 * channel the store does not have it is an error. A card entry cannot be
 * exported in clear: an exported one keeps its id (and value_hint), which
 * names the stored entry whose HMAC it keeps; a new one gives the card
 * number in value.
 */

static const char policy_export_sql[] =
	"SELECT json_build_object('format', '" PR_POLICY_FORMAT "', "
	"'exported_at', pr_rfc3339(now()), "
	"'channels', (SELECT coalesce(json_agg(a.channel ORDER BY a.code), "
	"'[]') FROM channels_api a), "
	"'whitelist', (SELECT coalesce(json_agg(w.entry ORDER BY w.id), '[]') "
	"FROM whitelist_api w), "
	"'rules', (SELECT coalesce(json_agg(r.rule ORDER BY r.position), "
	"'[]') FROM routing_rules_api r), "
	"'code_overrides', (SELECT coalesce(json_agg(" OVERRIDE_JSON
	" ORDER BY o.channel, o.op, o.code, o.sub_code), '[]') "
	"FROM code_overrides o))::text";

static void on_policy_export(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *doc, *chans, *ch, *ov;
	size_t i;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "export policy", err);
		return;
	}
	doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	chans = doc ? json_object_get(doc, "channels") : NULL;
	if (!json_is_array(chans)) {
		json_decref(doc);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the policy");
		return;
	}
	json_array_foreach(chans, i, ch)
		json_array_set_new(chans, i, chan_masked(r->gen, ch));
	/* updated_at says when, not what: an export of an unchanged policy
	 * reads the same */
	json_array_foreach(json_object_get(doc, "code_overrides"), i, ov)
		json_object_del(ov, "updated_at");
	pr_request_reply(r, 200, doc);
}

/* Everything stored, in clear (the whitelist with the cards' HMACs), for
 * the comparison only. */
static const char policy_before_sql[] =
	"SELECT (SELECT coalesce(json_agg(a.channel ORDER BY a.code), '[]') "
	"FROM channels_api a)::text, "
	"(SELECT coalesce(json_agg(json_build_object('id', w.id, 'kind', "
	"w.kind, 'value', w.value, 'hint', w.hint, 'channel', w.channel, "
	"'note', w.note, 'expires_at', pr_rfc3339(w.expires_at)) ORDER BY "
	"w.id), '[]') FROM whitelist w)::text, "
	"(SELECT coalesce(json_agg(r.rule ORDER BY r.position), '[]') "
	"FROM routing_rules_api r)::text, "
	"(SELECT coalesce(json_agg(" OVERRIDE_JSON " ORDER BY o.channel, o.op, "
	"o.code, o.sub_code), '[]') FROM code_overrides o)::text "
	"WHERE $1::text IS NOT NULL";

/* The element of arr (objects) whose key k is the string v, or NULL. */
static json_t *find_by(json_t *arr, const char *k, const char *v)
{
	json_t *e;
	size_t i;

	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(json_object_get(e, k));

		if (s && strcmp(s, v) == 0)
			return e;
	}
	return NULL;
}

/* The stored channels normalised as chan_check normalises a document's
 * (one that does not parse any more is taken as stored: it differs). */
static json_t *stored_channels(json_t *raw)
{
	json_t *out = json_array(), *ch, *n;
	size_t i;

	json_array_foreach(raw, i, ch) {
		struct pr_chan_spec spec;
		char err[256];

		memset(&spec, 0, sizeof(spec));
		n = NULL;
		if (pr_chan_parse(ch, &spec, err, sizeof(err)) == 0 &&
		    (n = pr_chan_to_json(&spec)))
			json_object_set_new(
				n, "refund_timeout_s",
				json_integer(spec.refund_timeout_s));
		pr_chan_clear(&spec);
		if (!out || json_array_append_new(
				    out, n ? n : json_deep_copy(ch)) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The stored rules normalised as rules_check normalises a document's. */
static json_t *stored_rules(json_t *raw)
{
	json_t *out = json_array(), *v, *copy, *n;
	size_t i;

	json_array_foreach(raw, i, v) {
		struct pr_rule rule;
		char err[256];

		copy = json_deep_copy(v);
		if (!copy || !out) {
			json_decref(copy);
			json_decref(out);
			return NULL;
		}
		json_object_del(copy, "id");
		memset(&rule, 0, sizeof(rule));
		n = pr_rule_parse(copy, &rule, err, sizeof(err)) == 0 ?
			    pr_rule_to_json(&rule) :
			    NULL;
		pr_rule_clear(&rule);
		if (n) {
			json_object_del(n, "id");
			json_decref(copy);
			copy = n;
		}
		json_array_append_new(out, copy);
	}
	return out;
}

/* The stored overrides normalised as a document's (code_norm). */
static json_t *stored_overrides(json_t *raw)
{
	json_t *out = json_array(), *v, *n;
	size_t i;

	json_array_foreach(raw, i, v) {
		struct pr_code c;
		char err[256];

		n = pr_code_override_check(v, &c, err, sizeof(err)) == 0 ?
			    code_norm(&c) :
			    json_deep_copy(v);
		if (!out || json_array_append_new(out, n) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The document's channels checked and normalised, in its order; stored
 * (raw, in clear) gives the secrets behind "********". Returns a new
 * array, or NULL after pw_fail. */
static json_t *import_channels(struct pw *w, json_t *stored_raw,
			       json_t *stored_norm)
{
	json_t *given = json_object_get(w->body, "channels");
	json_t *out = json_array(), *ch, *old, *norm, *dc;
	char prefix[48], path[64];
	size_t i;

	if (!out) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	json_array_foreach(given, i, ch) {
		const char *code =
			json_string_value(json_object_get(ch, "code"));

		snprintf(prefix, sizeof(prefix), "channels[%zu].", i);
		if (!code || !code_ok(code)) {
			snprintf(path, sizeof(path), "%scode", prefix);
			pw_fail(w, 400, "invalid_field", path,
				"%s: required, 1 to 64 of a-z, 0-9 and _",
				path);
			goto fail;
		}
		old = find_by(stored_raw, "code", code);
		dc = json_object_get(ch, "driver_config");
		snprintf(path, sizeof(path), "%sdriver_config", prefix);
		if (json_is_object(dc) &&
		    unmask(w, dc,
			   old ? json_object_get(old, "driver_config") : NULL,
			   path) < 0)
			goto fail;
		if (chan_check(w, ch, prefix, NULL,
			       find_by(stored_norm, "code", code), &norm) < 0)
			goto fail;
		json_array_append_new(out, norm);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* t (RFC 3339, checked) as the store renders it: UTC, whole seconds. */
static int utc_seconds(const char *t, char *out, size_t len)
{
	int64_t ms;
	time_t s;
	struct tm tm;

	if (pr_parse_rfc3339(t, &ms) < 0)
		return -EINVAL;
	s = (time_t)(ms / 1000);
	if (!gmtime_r(&s, &tm) ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	return 0;
}

/* The stored card entry with that id, or NULL. */
static json_t *stored_card(json_t *stored_raw, json_int_t id)
{
	json_t *e;
	size_t i;

	json_array_foreach(stored_raw, i, e) {
		const char *kind =
			json_string_value(json_object_get(e, "kind"));

		if (json_integer_value(json_object_get(e, "id")) == id &&
		    kind && strcmp(kind, "card_no") == 0)
			return e;
	}
	return NULL;
}

/* Checks and resolves one entry of the document (see import_whitelist).
 * Returns a new object, or NULL after pw_fail. */
static json_t *import_wl_entry(struct pw *w, json_t *e, const char *prefix,
			       json_t *stored_raw, json_t *codes)
{
	const char *value, *hint, *given_hint;
	char field[96], when[32];
	struct refusal f;
	struct wl_in in;
	json_t *old, *one = NULL;

	if (wl_check(w->r->gen->config, e, prefix, 1, &in, &f) < 0) {
		pw_fail(w, f.status, f.code, f.field[0] ? f.field : NULL, "%s",
			f.msg);
		goto out;
	}
	if (!has_code(codes, in.channel)) {
		snprintf(field, sizeof(field), "%schannel", prefix);
		pw_fail(w, 400, "invalid_field", field,
			"%s: no channel named %s in the document", field,
			in.channel);
		goto out;
	}
	value = in.value;
	hint = in.hint[0] ? in.hint : NULL;
	if (!value) {
		/* an exported card entry: it keeps its stored HMAC */
		old = stored_card(stored_raw, in.id);
		if (!old) {
			snprintf(field, sizeof(field), "%sid", prefix);
			pw_fail(w, 400, "invalid_field", field,
				"%s: no stored card entry %" JSON_INTEGER_FORMAT
				" (give the card number in value to create "
				"one)",
				field, in.id);
			goto out;
		}
		value = json_string_value(json_object_get(old, "value"));
		hint = json_string_value(json_object_get(old, "hint"));
		given_hint =
			json_string_value(json_object_get(e, "value_hint"));
		if (given_hint && (!hint || strcmp(given_hint, hint) != 0)) {
			snprintf(field, sizeof(field), "%svalue_hint", prefix);
			pw_fail(w, 400, "invalid_field", field,
				"%s: stored card entry %" JSON_INTEGER_FORMAT
				" ends in %s, not %s",
				field, in.id, hint ? hint : "?", given_hint);
			goto out;
		}
	}
	if (in.expires && utc_seconds(in.expires, when, sizeof(when)) < 0) {
		snprintf(field, sizeof(field), "%sexpires_at", prefix);
		pw_fail(w, 400, "invalid_field", field,
			"%s: an RFC 3339 time from 1970 on", field);
		goto out;
	}
	one = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s?}", "kind", in.kind, "value",
			value ? value : "", "hint", hint, "channel", in.channel,
			"note", in.note, "expires_at",
			in.expires ? when : NULL);
	if (!one)
		pw_fail(w, 500, "internal", NULL, "out of memory");
out:
	wl_in_clear(&in);
	return one;
}

/* The document's whitelist checked as POST /admin/v1/whitelist checks an
 * entry (wl_check) and resolved: cards by their HMAC, a card named by id
 * with the stored entry's. Returns a new array in the document's order,
 * or NULL after pw_fail. */
static json_t *import_whitelist(struct pw *w, json_t *stored_raw, json_t *codes)
{
	json_t *given = json_object_get(w->body, "whitelist");
	json_t *out = json_array(), *e, *one;
	char prefix[48];
	size_t i;

	if (!out) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	json_array_foreach(given, i, e) {
		snprintf(prefix, sizeof(prefix), "whitelist[%zu].", i);
		one = import_wl_entry(w, e, prefix, stored_raw, codes);
		if (!one || json_array_append_new(out, one) < 0) {
			if (one)
				pw_fail(w, 500, "internal", NULL,
					"out of memory");
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The document's code overrides checked (pr_code_override_check, as PUT
 * /admin/v1/codes/overrides) and normalised. Returns a new array, or NULL
 * after pw_fail. */
static json_t *import_overrides(struct pw *w, json_t *codes)
{
	json_t *given = json_object_get(w->body, "code_overrides");
	json_t *out = json_array(), *o, *n;
	char prefix[48], err[512], field[64];
	struct pr_code c;
	size_t i;

	if (!out) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	json_array_foreach(given, i, o) {
		snprintf(prefix, sizeof(prefix), "code_overrides[%zu].", i);
		if (pr_code_override_check(o, &c, err, sizeof(err)) < 0) {
			pw_invalid(w, prefix, err);
			goto fail;
		}
		if (!has_code(codes, c.owner)) {
			snprintf(field, sizeof(field), "%schannel", prefix);
			pw_fail(w, 400, "invalid_field", field,
				"%s: no channel named %s in the document",
				field, c.owner);
			goto fail;
		}
		n = code_norm(&c);
		if (!n || json_array_append_new(out, n) < 0) {
			pw_fail(w, 500, "internal", NULL, "out of memory");
			goto fail;
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static int import_prepare(struct pw *w, PGresult *res)
{
	struct pr_policy_parts stored = { 0 }, doc = { 0 };
	json_t *raw[4] = { NULL, NULL, NULL, NULL };
	json_t *codes = NULL, *ch;
	char field[128], err[768];
	size_t i;
	int rc = -1;

	if (pr_policy_doc_check(w->body, field, sizeof(field), err,
				sizeof(err)) < 0)
		return pw_fail(w, 400, "invalid_field", field[0] ? field : NULL,
			       "%s", err);
	if (PQntuples(res) != 1 || PQnfields(res) != 4)
		return pw_fail(w, 500, "internal", NULL,
			       "the stored policy returned no row");
	for (i = 0; i < 4; i++) {
		raw[i] = json_loads(PQgetvalue(res, 0, i), 0, NULL);
		if (!raw[i]) {
			pw_fail(w, 500, "internal", NULL,
				"cannot read the stored policy");
			goto out;
		}
	}
	stored.channels = stored_channels(raw[0]);
	stored.whitelist = json_incref(raw[1]);
	stored.rules = stored_rules(raw[2]);
	stored.overrides = stored_overrides(raw[3]);
	codes = json_array();
	if (!stored.channels || !stored.rules || !stored.overrides || !codes) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	doc.channels = import_channels(w, raw[0], stored.channels);
	if (!doc.channels)
		goto out;
	json_array_foreach(doc.channels, i, ch)
		json_array_append(codes, json_object_get(ch, "code"));
	if (rules_check(w, json_object_get(w->body, "rules"), codes,
			&doc.rules) < 0)
		goto out;
	doc.whitelist = import_whitelist(w, raw[1], codes);
	if (!doc.whitelist)
		goto out;
	doc.overrides = import_overrides(w, codes);
	if (!doc.overrides)
		goto out;
	rc = pr_policy_plan(&stored, &doc, &w->plan, field, sizeof(field), err,
			    sizeof(err));
	if (rc < 0) {
		pw_fail(w, rc == -EINVAL ? 400 : 500,
			rc == -EINVAL ? "invalid_field" : "internal",
			field[0] ? field : NULL, "%s", err);
		rc = -1;
		goto out;
	}
	rc = -1;
	w->status = 200;
	w->reply = json_pack("{s:b,s:b,s:O}", "dry_run", w->dry_run, "changed",
			     w->plan.n_changes > 0, "changes", w->plan.summary);
	if (!w->reply) {
		pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if (w->plan.n_changes > 0) {
		w->write_sql = "SELECT policy_apply($1::jsonb, $2)::text";
		if (pw_param_json(w, w->plan.changes) < 0 ||
		    pw_param(w, w->actor) < 0) {
			pw_fail(w, 500, "internal", NULL, "out of memory");
			goto out;
		}
		snprintf(w->reload_why, sizeof(w->reload_why),
			 "policy change: import (%zu change%s)",
			 w->plan.n_changes, w->plan.n_changes == 1 ? "" : "s");
	}
	rc = 0;
out:
	for (i = 0; i < 4; i++)
		json_decref(raw[i]);
	json_decref(codes);
	json_decref(stored.channels);
	json_decref(stored.whitelist);
	json_decref(stored.rules);
	json_decref(stored.overrides);
	json_decref(doc.channels);
	json_decref(doc.whitelist);
	json_decref(doc.rules);
	json_decref(doc.overrides);
	return rc;
}

/* policy_apply() answers the whitelist entries it created, with their
 * ids: the audit rows get them. */
static int import_written(struct pw *w, PGresult *res)
{
	json_t *ids;
	int rc;

	if (PQntuples(res) != 1 ||
	    !(ids = json_loads(PQgetvalue(res, 0, 0), 0, NULL)))
		return pw_fail(w, 500, "internal", NULL,
			       "policy_apply returned nothing");
	rc = pr_policy_audit_set_ids(&w->plan, ids);
	json_decref(ids);
	if (rc < 0)
		return pw_fail(w, 500, "internal", NULL,
			       "policy_apply did not return the whitelist "
			       "entries created");
	return 0;
}

/* The audit of an import: one "import" row with the summary (and the
 * X-Payroute-Note), then one row per entity changed, as its single write
 * would have audited it, noted "policy import"; and the NOTIFY. */
static const char import_audit_sql[] =
	"WITH a AS (INSERT INTO audit_log (actor, action, object_kind, "
	"object_id, before, after, note) "
	"SELECT $1, t.e->>'action', t.e->>'kind', t.e->>'id', "
	"nullif(t.e->'before', 'null'::jsonb), "
	"nullif(t.e->'after', 'null'::jsonb), t.e->>'note' "
	"FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n) "
	"ORDER BY t.n RETURNING id) "
	"SELECT pg_notify('" PR_POLICY_NOTIFY_CHANNEL "', $3) "
	"FROM (SELECT count(*) FROM a) c";

static int import_audit(struct pw *w)
{
	json_t *rows = json_array(), *row, *n;
	char note[PR_API_MAX_NOTE + 32];
	char *text = NULL, *notify = NULL;
	const char *p[3], *kind;
	size_t i;
	int rc = -ENOMEM;

	snprintf(note, sizeof(note), "policy import%s%s", w->note ? ": " : "",
		 w->note ? w->note : "");
	row = json_pack("{s:s,s:s,s:s,s:n,s:O,s:s?}", "action", "import",
			"kind", "policy", "id", "policy", "before", "after",
			w->plan.summary, "note", w->note);
	if (!rows || !row || json_array_append_new(rows, row) < 0)
		goto out;
	json_array_foreach(w->plan.audit, i, row) {
		json_t *copy = json_copy(row);

		/* policy_io masked the images by key names; the keys drivers
		 * declare secret too (the images are the plan's own). */
		kind = json_string_value(json_object_get(row, "kind"));
		if (kind && strcmp(kind, "channel") == 0) {
			chan_mask_declared(w->r->gen,
					   json_object_get(row, "before"));
			chan_mask_declared(w->r->gen,
					   json_object_get(row, "after"));
		}
		if (!copy ||
		    json_object_set_new(copy, "note", json_string(note)) < 0 ||
		    json_array_append_new(rows, copy) < 0)
			goto out;
	}
	n = json_pack("{s:s,s:s,s:s}", "kind", "policy", "id", "policy",
		      "instance", instance_id());
	notify = n ? json_dumps(n, JSON_COMPACT) : NULL;
	json_decref(n);
	text = json_dumps(rows, JSON_COMPACT);
	if (!text || !notify)
		goto out;
	p[0] = w->actor;
	p[1] = text;
	p[2] = notify;
	rc = pw_run(w, PW_AUDIT, import_audit_sql, 3, p);
out:
	free(text);
	free(notify);
	json_decref(rows);
	return rc;
}

static const struct pw_ops import_ops = {
	.action = "import",
	.kind = "policy",
	.before_sql = policy_before_sql,
	.prepare = import_prepare,
	.written = import_written,
	.audit = import_audit,
	.verify_status = 400,
};

/* GET /admin/v1/policy; PUT /admin/v1/policy[?dry_run=1] */
static void handle_policy(struct pr_request *r)
{
	enum evhttp_cmd_type c = cmd_of(r);
	struct evkeyvalq args;
	const char *v;
	json_t *body;
	struct pw *w;
	int dry = 0;

	if (c == EVHTTP_REQ_GET || c == EVHTTP_REQ_HEAD) {
		query_or_503(r, policy_export_sql, 0, NULL, on_policy_export);
		return;
	}
	if (c != EVHTTP_REQ_PUT) {
		pr_api_method_not_allowed(r, "GET, PUT");
		return;
	}
	if (query_args(r, &args) < 0)
		return;
	v = evhttp_find_header(&args, "dry_run");
	if (v && strcmp(v, "1") && strcmp(v, "true") && strcmp(v, "0") &&
	    strcmp(v, "false")) {
		evhttp_clear_headers(&args);
		pr_api_reply_err(r, 400, "invalid_field", "dry_run",
				 "dry_run: 1 or true (check and answer what "
				 "would change), 0 or false");
		return;
	}
	dry = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
	evhttp_clear_headers(&args);
	if (!(body = pr_api_read_body(r)))
		return;
	w = pw_new(r, &import_ops, "policy", body);
	if (!w)
		return;
	w->dry_run = dry;
	snprintf(w->reload_why, sizeof(w->reload_why), "policy change: import");
	pw_go(w);
}

/* ------------------------------------------------------------ routing */

int pr_policy_api_handle(struct pr_request *r)
{
	static const char ch[] = "/admin/v1/channels";
	static const char wl[] = "/admin/v1/whitelist";
	static const char codes[] = "/admin/v1/codes";
	const char *path = r->path;

	if (strncmp(path, ch, sizeof(ch) - 1) == 0 &&
	    (path[sizeof(ch) - 1] == '\0' || path[sizeof(ch) - 1] == '/')) {
		handle_channels(r, path + sizeof(ch) - 1);
		return 1;
	}
	if (strncmp(path, wl, sizeof(wl) - 1) == 0 &&
	    (path[sizeof(wl) - 1] == '\0' || path[sizeof(wl) - 1] == '/')) {
		handle_whitelist(r, path + sizeof(wl) - 1);
		return 1;
	}
	if (strcmp(path, "/admin/v1/routing/rules") == 0) {
		handle_rules(r);
		return 1;
	}
	if (strcmp(path, "/admin/v1/audit") == 0) {
		handle_audit(r);
		return 1;
	}
	if (strcmp(path, "/admin/v1/policy") == 0) {
		handle_policy(r);
		return 1;
	}
	if (strncmp(path, codes, sizeof(codes) - 1) == 0 &&
	    (path[sizeof(codes) - 1] == '\0' ||
	     path[sizeof(codes) - 1] == '/')) {
		handle_codes(r, path + sizeof(codes) - 1);
		return 1;
	}
	return 0;
}
