/*
 * merchants.c - merchants: the admin API that manages them and their
 * credentials, and the authentication of merchant API requests.
 *
 * Admin API (bearer token checked by admin.c):
 *
 *   POST  /admin/v1/merchants                    create; 201 with the API
 *                                                key and notify secret,
 *                                                the only time they show
 *   GET   /admin/v1/merchants                    a page of them (q, status,
 *                                                limit, cursor)
 *   GET   /admin/v1/merchants/{id}               one
 *   PATCH /admin/v1/merchants/{id}               name, status, locale,
 *                                                post_delivery_bearer
 *   POST  /admin/v1/merchants/{id}/keys          new API key (the old one
 *                                                stops working at once)
 *   POST  /admin/v1/merchants/{id}/notify-secret new notification secret
 *
 * Each write is one SQL statement whose data-modifying WITH clauses change
 * the merchant and append to audit_log (object_kind "merchant", actor the
 * operator (pr_api_actor), note from X-Payroute-Note, like policy_write.c), so the
 * change and its audit record commit together. The before image comes from
 * a sub-select FOR UPDATE of the same row, so it is the row the update
 * replaced even under concurrent writes. Audit images and every read carry
 * only the public fields (api_key_prefix, never the key, its hash or the
 * notify secret).
 *
 * A credential is 32 bytes from the OpenSSL CSPRNG in lowercase hex behind
 * a prefix that says what it is ("prk_" API key, "prn_" notify secret). The
 * API key is stored as its SHA-256: a random 256-bit key needs no slow
 * hash, and looking the hash up by index leaks nothing useful about the
 * key through timing. Nothing here logs a key or a secret.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "runtime/apiutil.h"
#include "base/clock.h"
#include "runtime/crypto.h"
#include "runtime/log.h"
#include "orders/merchants.h"

#define KEY_HEX_LEN 64 /* 32 random bytes */
#define SECRET_LEN (4 + KEY_HEX_LEN)
#define MAX_NAME 200
/* GET /admin/v1/merchants: a page's rows, by default and at most. */
#define MERCHANTS_DEFAULT_LIMIT 100
#define MERCHANTS_MAX_LIMIT 1000

/* The public JSON of merchant row alias A (text, ready for ::jsonb). */
#define MERCHANT_JSON(A)                                                       \
	"json_build_object('id', " A ".id, 'name', " A ".name, 'status', " A   \
	".status, 'locale', " A ".locale, 'post_delivery_bearer', " A          \
	".post_delivery_bearer, 'api_key_prefix', " A                          \
	".api_key_prefix, 'created_at', pr_rfc3339(" A ".created_at), "        \
	"'updated_at', pr_rfc3339(" A ".updated_at))"

/* ------------------------------------------------------------ secrets */

int pr_merchant_new_secret(const char *prefix, char *out, size_t outlen,
			   char *hash_hex, size_t hashlen)
{
	unsigned char raw[KEY_HEX_LEN / 2], digest[32];
	char *hex = NULL, *dhex = NULL;
	int rc;

	if (!prefix || strlen(prefix) != 4 || !out || outlen < SECRET_LEN + 1 ||
	    (hash_hex && hashlen < 65))
		return -EINVAL;
	rc = pr_random_bytes(raw, sizeof(raw));
	if (rc < 0)
		goto out;
	hex = pr_hex_encode(raw, sizeof(raw));
	if (!hex) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(out, outlen, "%s%s", prefix, hex);
	if (hash_hex) {
		rc = pr_sha256(out, strlen(out), digest);
		if (rc < 0)
			goto out;
		dhex = pr_hex_encode(digest, sizeof(digest));
		if (!dhex) {
			rc = -ENOMEM;
			goto out;
		}
		snprintf(hash_hex, hashlen, "%s", dhex);
	}
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (hex) {
		OPENSSL_cleanse(hex, strlen(hex));
		free(hex);
	}
	free(dhex);
	if (rc < 0)
		OPENSSL_cleanse(out, outlen);
	return rc;
}

/* ---------------------------------------------------------- validation */

/* 1 when s matches [a-z0-9][a-z0-9_-]{0,63} (the table's CHECK). */
int pr_merchant_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '_' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(islower(c) || isdigit(c) || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int locale_ok(const char *s)
{
	return strcmp(s, "zh-CN") == 0 || strcmp(s, "en") == 0;
}

/* Who bears a post-delivery refund (migration 006; pr_refund_begin copies
 * it onto the refund as borne_by). */
static int bearer_ok(const char *s)
{
	return strcmp(s, "merchant") == 0 || strcmp(s, "platform") == 0;
}

static int status_ok(const char *s)
{
	return strcmp(s, "active") == 0 || strcmp(s, "disabled") == 0;
}

/* Checks the fields of a create (create = 1) or PATCH body and points
 * *name, *locale, *status, *bearer at them (NULL when absent). Answers 400
 * and returns -1 on the first bad field. */
static int check_fields(struct pr_request *r, json_t *body, int create,
			const char **name, const char **locale,
			const char **status, const char **bearer)
{
	const char *k;
	json_t *v;

	*name = *locale = *status = *bearer = NULL;
	json_object_foreach(body, k, v) {
		if (strcmp(k, "id") == 0 && create) {
			if (!json_is_string(v) ||
			    !pr_merchant_id_ok(json_string_value(v))) {
				pr_api_reply_err(
					r, 400, "invalid_field", "id",
					"id: 1 to 64 of a-z, 0-9, _ and -, "
					"starting with a letter or digit");
				return -1;
			}
		} else if (strcmp(k, "name") == 0) {
			if (!json_is_string(v) ||
			    !pr_api_text_ok(json_string_value(v), MAX_NAME)) {
				pr_api_reply_err(
					r, 400, "invalid_field", "name",
					"name: a string of at most %d bytes "
					"without control characters",
					MAX_NAME);
				return -1;
			}
			*name = json_string_value(v);
		} else if (strcmp(k, "locale") == 0) {
			if (!json_is_string(v) ||
			    !locale_ok(json_string_value(v))) {
				pr_api_reply_err(r, 400, "invalid_field",
						 "locale",
						 "locale: \"zh-CN\" or \"en\"");
				return -1;
			}
			*locale = json_string_value(v);
		} else if (strcmp(k, "post_delivery_bearer") == 0) {
			if (!json_is_string(v) ||
			    !bearer_ok(json_string_value(v))) {
				pr_api_reply_err(r, 400, "invalid_field",
						 "post_delivery_bearer",
						 "post_delivery_bearer: "
						 "\"merchant\" or \"platform\" "
						 "(who bears a refund after "
						 "delivery)");
				return -1;
			}
			*bearer = json_string_value(v);
		} else if (strcmp(k, "status") == 0 && !create) {
			if (!json_is_string(v) ||
			    !status_ok(json_string_value(v))) {
				pr_api_reply_err(
					r, 400, "invalid_field", "status",
					"status: \"active\" or \"disabled\"");
				return -1;
			}
			*status = json_string_value(v);
		} else {
			pr_api_reply_err(
				r, 400, "invalid_field", k,
				"%s: unknown field (%s)", k,
				create ? "id, name, locale and "
					 "post_delivery_bearer are known" :
					 "name, status, locale and "
					 "post_delivery_bearer may change");
			return -1;
		}
	}
	if (create && !json_object_get(body, "id")) {
		pr_api_reply_err(r, 400, "invalid_field", "id", "id: required");
		return -1;
	}
	if (!create && !*name && !*locale && !*status && !*bearer) {
		pr_api_reply_err(r, 400, "invalid_field", NULL,
				 "nothing to change: give name, status, "
				 "locale or post_delivery_bearer");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- writes */

enum mw_kind {
	MW_CREATE,
	MW_UPDATE,
	MW_ROTATE_KEY,
	MW_ROTATE_SECRET,
};

#define MW_MAX_PARAMS 9

/* One write in flight. */
struct mw {
	struct pr_request *r;
	enum mw_kind kind;
	char id[65];
	char actor[65];
	char *note;
	char api_key[SECRET_LEN + 1]; /* MW_CREATE, MW_ROTATE_KEY */
	char prefix[PR_API_KEY_PREFIX_LEN + 1];
	char hash[65];
	char secret[SECRET_LEN + 1]; /* MW_CREATE, MW_ROTATE_SECRET */
	json_t *body;		     /* keeps the strings of p[] alive */
	const char *p[MW_MAX_PARAMS];
};

static void mw_free(struct mw *w)
{
	OPENSSL_cleanse(w->api_key, sizeof(w->api_key));
	OPENSSL_cleanse(w->secret, sizeof(w->secret));
	json_decref(w->body);
	free(w->note);
	free(w);
}

/* Every write statement answers one row: the merchant's public JSON
 * (text), or no row when the merchant does not exist (or, for a create,
 * exists already). $1 id, $2 actor, $3 note; the rest per statement. */
#define AUDIT(ACTION, BEFORE, AFTER, FROM)                                     \
	"a AS (INSERT INTO audit_log (actor, action, object_kind, object_id, " \
	"before, after, note) SELECT $2, '" ACTION                             \
	"', 'merchant', $1, " BEFORE ", " AFTER ", $3 FROM " FROM ") "

static const char create_sql[] =
	"WITH m AS (INSERT INTO merchants (id, name, locale, api_key_prefix, "
	"api_key_hash, notify_secret, post_delivery_bearer) VALUES ($1, "
	"coalesce($4, ''), coalesce($5, 'zh-CN'), $6, $7, $8, "
	"coalesce($9, 'merchant')) ON CONFLICT (id) DO NOTHING "
	"RETURNING *), "
	"j AS (SELECT " MERCHANT_JSON("m") "::jsonb AS after FROM m), " AUDIT(
		"create", "NULL::jsonb", "j.after",
		"j") "SELECT after::text FROM j";

/* The UPDATE of a write: $1 id; the before image from the locked row. */
#define UPDATE_SQL(ACTION, SET)                                                                 \
	"WITH u AS (UPDATE merchants m SET " SET ", updated_at = now() "                        \
	"FROM (SELECT * FROM merchants WHERE id = $1 FOR UPDATE) o "                            \
	"WHERE m.id = o.id RETURNING " MERCHANT_JSON(                                           \
		"o") "::jsonb AS "                                                              \
		     "before, " MERCHANT_JSON("m") "::jsonb AS after), " AUDIT(                 \
			     ACTION, "u.before", "u.after",                                     \
			     "u") "SELECT after::text, pg_notify('" PR_MERCHANTS_NOTIFY_CHANNEL \
				  "', $1) FROM u"

static const char update_sql[] = UPDATE_SQL(
	"update",
	"name = coalesce($4, o.name), status = coalesce($5, "
	"o.status), locale = coalesce($6, o.locale), "
	"post_delivery_bearer = coalesce($7, o.post_delivery_bearer)");

static const char rotate_key_sql[] =
	UPDATE_SQL("rotate_key", "api_key_prefix = $4, api_key_hash = $5");

static const char rotate_secret_sql[] =
	UPDATE_SQL("rotate_notify_secret", "notify_secret = $4");

static void on_written(PGresult *res, const char *err, void *arg)
{
	struct mw *w = arg;
	struct pr_request *r = w->r;
	static const char *const what[] = { "create", "update",
					    "rotate the API key",
					    "rotate the notify secret" };
	json_t *m;

	if (!res) {
		pr_api_reply_db_error(r, "merchants", what[w->kind], err);
		goto out;
	}
	if (PQntuples(res) < 1) {
		if (w->kind == MW_CREATE)
			pr_api_reply_err(r, 409, "conflict", "id",
					 "merchant %s exists already", w->id);
		else
			pr_api_reply_err(r, 404, "not_found", NULL,
					 "no such merchant: %s", w->id);
		goto out;
	}
	m = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!m) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the merchant back");
		goto out;
	}
	if (w->kind == MW_CREATE || w->kind == MW_ROTATE_KEY)
		json_object_set_new(m, "api_key", json_string(w->api_key));
	if (w->kind == MW_CREATE || w->kind == MW_ROTATE_SECRET)
		json_object_set_new(m, "notify_secret", json_string(w->secret));
	pr_auth_cache_flush(r->d->auth_cache);
	pr_info("merchants: %s: %s by %s", w->id, what[w->kind], w->actor);
	pr_request_reply(r, w->kind == MW_CREATE ? 201 : 200, m);
out:
	mw_free(w);
}

/* A write's state with the audit actor and note from the headers; takes
 * the body reference. Returns NULL after answering. */
static struct mw *mw_new(struct pr_request *r, enum mw_kind kind,
			 const char *id, json_t *body)
{
	const char *actor, *note;
	struct mw *w;

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
	w->kind = kind;
	w->body = body;
	snprintf(w->id, sizeof(w->id), "%s", id);
	snprintf(w->actor, sizeof(w->actor), "%s", actor ? actor : "admin");
	w->p[0] = w->id;
	w->p[1] = w->actor;
	w->p[2] = w->note;
	return w;
}

/* Makes the credentials the write needs. */
static int mw_secrets(struct mw *w)
{
	int rc = 0;

	if (w->kind == MW_CREATE || w->kind == MW_ROTATE_KEY) {
		rc = pr_merchant_new_secret("prk_", w->api_key,
					    sizeof(w->api_key), w->hash,
					    sizeof(w->hash));
		if (rc < 0)
			return rc;
		snprintf(w->prefix, sizeof(w->prefix), "%.*s",
			 PR_API_KEY_PREFIX_LEN, w->api_key);
	}
	if (w->kind == MW_CREATE || w->kind == MW_ROTATE_SECRET)
		rc = pr_merchant_new_secret("prn_", w->secret,
					    sizeof(w->secret), NULL, 0);
	return rc;
}

static void mw_run(struct mw *w, const char *sql, int nparams)
{
	struct pr_request *r = w->r;

	if (mw_secrets(w) < 0) {
		mw_free(w);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot make a random credential");
		return;
	}
	if (pr_db_query(r->d->db, sql, nparams, w->p, on_written, w) < 0) {
		mw_free(w);
		pr_api_store_unavailable(r);
	}
}

/* POST /admin/v1/merchants */
void pr_merchants_create(struct pr_request *r, const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);
	const char *name, *locale, *status, *bearer;
	struct mw *w;

	if (!body)
		return;
	if (check_fields(r, body, 1, &name, &locale, &status, &bearer) < 0) {
		json_decref(body);
		return;
	}
	w = mw_new(r, MW_CREATE, json_string_value(json_object_get(body, "id")),
		   body);
	if (!w)
		return;
	w->p[3] = name;
	w->p[4] = locale;
	w->p[5] = w->prefix;
	w->p[6] = w->hash;
	w->p[7] = w->secret;
	w->p[8] = bearer;
	mw_run(w, create_sql, 9);
}

/* PATCH /admin/v1/merchants/{id} */
void pr_merchants_update(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");
	json_t *body = pr_api_read_body(r);
	const char *name, *locale, *status, *bearer;
	struct mw *w;

	if (!body)
		return;
	if (check_fields(r, body, 0, &name, &locale, &status, &bearer) < 0) {
		json_decref(body);
		return;
	}
	w = mw_new(r, MW_UPDATE, id, body);
	if (!w)
		return;
	w->p[3] = name;
	w->p[4] = status;
	w->p[5] = locale;
	w->p[6] = bearer;
	mw_run(w, update_sql, 7);
}

/* POST /admin/v1/merchants/{id}/keys */
void pr_merchants_new_key(struct pr_request *r, const struct pr_route_match *m)
{
	struct mw *w = mw_new(r, MW_ROTATE_KEY, pr_route_param(m, "id"), NULL);

	if (!w)
		return;
	w->p[3] = w->prefix;
	w->p[4] = w->hash;
	mw_run(w, rotate_key_sql, 5);
}

/* POST /admin/v1/merchants/{id}/notify-secret */
void pr_merchants_new_secret(struct pr_request *r,
			     const struct pr_route_match *m)
{
	struct mw *w =
		mw_new(r, MW_ROTATE_SECRET, pr_route_param(m, "id"), NULL);

	if (!w)
		return;
	w->p[3] = w->secret;
	mw_run(w, rotate_secret_sql, 4);
}

/* -------------------------------------------------------------- reads */

static void on_list(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *page;

	if (!res) {
		pr_api_reply_db_error(r, "merchants", "list merchants", err);
		return;
	}
	page = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!page) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the merchants");
		return;
	}
	pr_request_reply(r, 200, page);
}

static void on_one(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *m;

	if (!res) {
		pr_api_reply_db_error(r, "merchants", "read merchant", err);
		return;
	}
	if (PQntuples(res) < 1) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such merchant");
		return;
	}
	m = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!m) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the merchant");
		return;
	}
	pr_request_reply(r, 200, m);
}

/* GET /admin/v1/merchants[?q=&status=&limit=&cursor=]: a page of the
 * merchants in the order of their ids (keyset paging, as the order lists,
 * doc/design.md §9: the cursor is the last id of the page before, so a
 * merchant created meanwhile never shifts a page). q matches a part of
 * the id or, ignoring case, of the name. The statement asks for one row
 * more than the page, which tells whether there is a next page, and
 * answers the page as the API's JSON (as the audit log's list); each
 * page is an Index Scan of merchants_pkey from the cursor, however many
 * merchants there are (plan_audit.sh). */
#define LIST_ITEM MERCHANT_JSON("m")
static const char list_sql[] =
	"SELECT json_build_object('merchants', coalesce(json_agg(x.j ORDER BY "
	"x.n) FILTER (WHERE x.n <= $4::int), '[]'), 'next_cursor', "
	"max(x.id) FILTER (WHERE x.n = $4::int AND x.more))::text FROM ("
	"SELECT l.*, row_number() OVER (ORDER BY l.id) AS n, "
	"count(*) OVER () > $4::int AS more FROM (SELECT m.id, " LIST_ITEM
	" AS j FROM merchants m WHERE m.id > coalesce($1::text, '') "
	"AND ($2::text IS NULL OR m.status = $2) "
	"AND ($3::text IS NULL OR strpos(m.id, lower($3)) > 0 "
	"OR strpos(lower(m.name), lower($3)) > 0) "
	"ORDER BY m.id LIMIT $4::int + 1) l) x";

void pr_merchants_list(struct pr_request *r, const struct pr_route_match *m)
{
	static const char *const names[] = { "cursor", "status", "q", "limit" };
	struct evkeyvalq args;
	struct evkeyval *kv;
	char vals[4][MAX_NAME + 1], err[160] = "";
	const char *p[4] = { NULL, NULL, NULL, NULL }, *bad = NULL;
	size_t i;
	long n = MERCHANTS_DEFAULT_LIMIT;
	char *end;

	if (pr_api_query_args(r, &args) < 0)
		return;
	TAILQ_FOREACH(kv, &args, next) {
		for (i = 0; i < 4 && strcmp(kv->key, names[i]) != 0; i++)
			;
		bad = i < 4 ? names[i] : kv->key;
		errno = 0;
		if (i == 3)
			n = strtol(kv->value, &end, 10);
		if (i == 4)
			snprintf(err, sizeof(err),
				 "%.64s: unknown parameter (q, status, limit "
				 "and cursor are known)",
				 kv->key);
		else if (p[i])
			snprintf(err, sizeof(err), "%s: given more than once",
				 names[i]);
		else if (i == 0 && !pr_merchant_id_ok(kv->value))
			snprintf(err, sizeof(err),
				 "cursor: not one a page of this list gave "
				 "(next_cursor)");
		else if (i == 1 && strcmp(kv->value, "active") != 0 &&
			 strcmp(kv->value, "disabled") != 0)
			snprintf(err, sizeof(err),
				 "status: active or disabled");
		else if (i == 2 &&
			 (!*kv->value || !pr_api_text_ok(kv->value, 64)))
			snprintf(err, sizeof(err),
				 "q: 1 to 64 bytes of text, without control "
				 "characters");
		else if (i == 3 && (!*kv->value || *end || errno || n < 1 ||
				    n > MERCHANTS_MAX_LIMIT))
			snprintf(err, sizeof(err),
				 "limit: an integer from 1 to %d",
				 MERCHANTS_MAX_LIMIT);
		if (*err)
			break;
		snprintf(vals[i], sizeof(vals[i]), "%s", kv->value);
		p[i] = vals[i];
	}
	if (*err) {
		pr_info("merchants: a list refused: %s", err);
		pr_api_reply_err(r, 400, "invalid_field", bad, "%s", err);
	} else {
		snprintf(vals[3], sizeof(vals[3]), "%ld", n);
		p[3] = vals[3];
		pr_api_query(r, list_sql, 4, p, on_list);
	}
	evhttp_clear_headers(&args);
}

/* GET /admin/v1/merchants/{id} */
void pr_merchants_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *p[1] = { pr_route_param(m, "id") };

	pr_api_query(r,
		     "SELECT " MERCHANT_JSON("m") "::text FROM merchants m "
						  "WHERE m.id = $1",
		     1, p, on_one);
}

/* ----------------------------------------------------- authentication */

/* The authentication cache: the merchant of an API key hash, as the store
 * answered it less than merchants.auth_cache_ms ago. Direct-mapped on the
 * hash (a collision replaces the older entry); unknown keys are not kept.
 * Any write of a merchant through the admin API (here or on another
 * instance: NOTIFY PR_MERCHANTS_NOTIFY_CHANNEL), and the LISTEN
 * connection coming back (notifications may have been missed), empty it:
 * a disabled merchant or a rotated key stops working at once, or within
 * the time-to-live for a change made in the store by hand. A lookup that
 * started before an emptying is not kept (the epoch). */
#define AUTH_SLOTS 1024

struct auth_ent {
	char hash[65]; /* "" when empty */
	uint64_t epoch;
	int64_t at_ms; /* monotonic */
	char id[65];
	char name[MAX_NAME + 1];
	char locale[8];
	int active;
	char secret[SECRET_LEN + 1];
};

struct pr_auth_cache {
	uint64_t epoch;
	unsigned long hits, misses, flushes;
	struct auth_ent slots[AUTH_SLOTS];
};

struct pr_auth_cache *pr_auth_cache_new(void)
{
	return calloc(1, sizeof(struct pr_auth_cache));
}

void pr_auth_cache_flush(struct pr_auth_cache *c)
{
	if (!c)
		return;
	OPENSSL_cleanse(c->slots, sizeof(c->slots));
	c->epoch++;
	c->flushes++;
}

void pr_auth_cache_free(struct pr_auth_cache *c)
{
	if (!c)
		return;
	OPENSSL_cleanse(c->slots, sizeof(c->slots));
	free(c);
}

void pr_auth_cache_stats(const struct pr_auth_cache *c, unsigned long *hits,
			 unsigned long *misses, unsigned long *flushes)
{
	*hits = c ? c->hits : 0;
	*misses = c ? c->misses : 0;
	*flushes = c ? c->flushes : 0;
}

static struct auth_ent *auth_slot(struct pr_auth_cache *c, const char *hash)
{
	/* The hash is a SHA-256: its first hex digits are uniform. */
	return &c->slots[strtoul((char[9]){ hash[0], hash[1], hash[2], hash[3],
					    hash[4], hash[5], hash[6], hash[7],
					    0 },
				 NULL, 16) %
			 AUTH_SLOTS];
}

struct auth {
	struct pr_daemon *d;
	pr_merchant_cb cb;
	void *arg;
	char hash[65];
	uint64_t epoch;
	/* a refusal decided before any query, or a cache hit, delivered from
	 * the loop */
	int status;
	const char *code;
	const char *message;
	struct auth_ent hit;
	int have_hit;
};

static void auth_free(struct auth *a)
{
	OPENSSL_cleanse(&a->hit, sizeof(a->hit));
	free(a);
}

/* Calls a's callback with its hit (have_hit), or its refusal. */
static void auth_deliver(struct auth *a)
{
	struct pr_merchant m;

	if (a->have_hit && a->hit.active) {
		m.id = a->hit.id;
		m.name = a->hit.name;
		m.locale = a->hit.locale;
		m.notify_secret = a->hit.secret;
		a->cb(&m, 0, NULL, NULL, a->arg);
	} else if (a->have_hit) {
		a->cb(NULL, 403, "merchant_disabled",
		      "this merchant is disabled", a->arg);
	} else {
		a->cb(NULL, a->status, a->code, a->message, a->arg);
	}
	auth_free(a);
}

static void auth_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	auth_deliver(arg);
}

static int auth_later(struct auth *a)
{
	static const struct timeval now = { 0, 0 };

	if (event_base_once(a->d->base, -1, EV_TIMEOUT, auth_deferred, a,
			    &now) < 0) {
		auth_free(a);
		return -ENOMEM;
	}
	return 0;
}

/* Calls a's callback with the refusal from the loop. Returns 0 or
 * -ENOMEM (a is then freed and nothing will be called). */
static int auth_refuse_later(struct auth *a, int status, const char *code,
			     const char *message)
{
	a->status = status;
	a->code = code;
	a->message = message;
	return auth_later(a);
}

static void on_auth(PGresult *res, const char *err, void *arg)
{
	struct auth *a = arg;
	struct pr_auth_cache *c = a->d->auth_cache;
	struct auth_ent *e;

	if (!res) {
		pr_warn("merchants: authentication query failed: %s",
			err ? err : "?");
		a->cb(NULL, 503, "store_unavailable",
		      "the store is unavailable; retry later", a->arg);
		auth_free(a);
		return;
	}
	if (PQntuples(res) < 1) {
		a->cb(NULL, 401, "unauthorized", "unknown API key", a->arg);
		auth_free(a);
		return;
	}
	e = &a->hit;
	snprintf(e->hash, sizeof(e->hash), "%s", a->hash);
	snprintf(e->id, sizeof(e->id), "%s", PQgetvalue(res, 0, 0));
	snprintf(e->name, sizeof(e->name), "%s", PQgetvalue(res, 0, 1));
	snprintf(e->locale, sizeof(e->locale), "%s", PQgetvalue(res, 0, 2));
	e->active = strcmp(PQgetvalue(res, 0, 3), "active") == 0;
	snprintf(e->secret, sizeof(e->secret), "%s", PQgetvalue(res, 0, 4));
	e->at_ms = pr_mono_ms();
	e->epoch = a->epoch;
	a->have_hit = 1;
	if (c && c->epoch == a->epoch &&
	    a->d->gen->config->merchant_auth_cache_ms > 0)
		*auth_slot(c, a->hash) = *e;
	auth_deliver(a);
}

/* 1 when key is "prk_" and 64 lowercase hex digits. */
static int api_key_shape_ok(const char *key)
{
	if (strncmp(key, "prk_", 4) != 0 || strlen(key) != SECRET_LEN)
		return 0;
	for (size_t i = 4; i < SECRET_LEN; i++) {
		if (!isdigit((unsigned char)key[i]) &&
		    !(key[i] >= 'a' && key[i] <= 'f'))
			return 0;
	}
	return 1;
}

int pr_merchant_auth(struct pr_daemon *d, struct evhttp_request *req,
		     pr_merchant_cb cb, void *arg)
{
	static const char sql[] =
		"SELECT id, name, locale, status, notify_secret "
		"FROM merchants WHERE api_key_hash = $1";
	const char *h, *key;
	unsigned char digest[32];
	char *hex = NULL;
	const char *p[1];
	struct auth *a;
	int rc;

	if (!d || !req || !cb)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	a->cb = cb;
	a->arg = arg;
	h = evhttp_find_header(evhttp_request_get_input_headers(req),
			       "Authorization");
	if (!h)
		return auth_refuse_later(a, 401, "unauthorized",
					 "an API key is required "
					 "(Authorization: Bearer prk_...)");
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return auth_refuse_later(a, 401, "unauthorized",
					 "the Authorization header must be "
					 "\"Bearer\" and an API key");
	key = h + 7;
	while (*key == ' ')
		key++;
	if (!api_key_shape_ok(key))
		return auth_refuse_later(a, 401, "unauthorized",
					 "malformed API key");
	rc = pr_sha256(key, SECRET_LEN, digest);
	hex = rc == 0 ? pr_hex_encode(digest, sizeof(digest)) : NULL;
	if (!hex) {
		free(a);
		return rc < 0 ? rc : -ENOMEM;
	}
	snprintf(a->hash, sizeof(a->hash), "%s", hex);
	free(hex);
	if (d->auth_cache) {
		struct auth_ent *e = auth_slot(d->auth_cache, a->hash);
		int ttl = d->gen->config->merchant_auth_cache_ms;

		if (ttl > 0 && e->epoch == d->auth_cache->epoch &&
		    strcmp(e->hash, a->hash) == 0 &&
		    pr_mono_ms() - e->at_ms < ttl) {
			d->auth_cache->hits++;
			a->hit = *e;
			a->have_hit = 1;
			return auth_later(a);
		}
		d->auth_cache->misses++;
		a->epoch = d->auth_cache->epoch;
	}
	p[0] = a->hash;
	rc = pr_db_query(d->db, sql, 1, p, on_auth, a);
	if (rc < 0)
		return auth_refuse_later(a, 503, "store_unavailable",
					 "the store is unavailable; retry "
					 "later");
	return 0;
}

/* ------------------------------------------- the merchant API's entrance */

struct mreq {
	struct pr_request *r;
	pr_merchant_ok ok;
	void (*drop)(void *arg);
	void *arg;
};

static void on_mreq(const struct pr_merchant *m, int status, const char *code,
		    const char *message, void *arg)
{
	struct mreq q = *(struct mreq *)arg;

	free(arg);
	if (m) {
		q.ok(m, q.arg);
		return;
	}
	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(q.r->req),
				  "WWW-Authenticate", "Bearer");
	pr_api_reply_err(q.r, status, code, NULL, "%s", message);
	if (q.drop)
		q.drop(q.arg);
}

void pr_merchant_request(struct pr_request *r, pr_merchant_ok ok,
			 void (*drop)(void *arg), void *arg)
{
	struct mreq *q = calloc(1, sizeof(*q));
	int rc = -ENOMEM;

	if (q) {
		*q = (struct mreq){ r, ok, drop, arg };
		rc = pr_merchant_auth(r->d, r->req, on_mreq, q);
	}
	if (rc == 0)
		return;
	free(q);
	pr_warn("merchant API: %s: cannot authenticate: %s",
		evhttp_request_get_uri(r->req), strerror(-rc));
	pr_api_reply_err(r, 503, "store_unavailable", NULL,
			 "the store is unavailable (authenticating); retry "
			 "later");
	if (drop)
		drop(arg);
}
