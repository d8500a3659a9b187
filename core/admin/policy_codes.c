/*
 * policy_codes.c - the result codes through the admin API: the operators'
 * overrides of the drivers' code tables (list, put one, delete one), the
 * table a channel's answers are mapped with in the current generation
 * (GET /admin/v1/codes?channel=), and the report of the codes channels
 * answered that no table maps (GET /admin/v1/codes/unmapped).
 *
 * An override is checked as a reload will load it (pr_code_override_check)
 * and written normalised, defaults filled in, by a policy write
 * (policy_write.h); a put over an existing override is audited as an
 * update. The import (policy_transfer.c) normalises a document's
 * overrides with pr_policy_code_norm.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "domain/codemap.h"
#include "admin/policy_api.h"

#define OVERRIDE_KEY_WHERE                                                     \
	"o.channel = $1 AND o.op = $2 AND o.code = $3 AND o.sub_code = $4"

static const char overrides_list_sql[] =
	"SELECT coalesce(json_agg(" PR_POLICY_OVERRIDE_JSON
	" ORDER BY o.channel, o.op, "
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
static int code_key(struct pr_pw *w, const char *channel, const char *op,
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

static int code_put_prepare(struct pr_pw *w, PGresult *res);
static int code_put_written(struct pr_pw *w, PGresult *res);

static const char code_put_before_sql[] =
	"SELECT c.code, (SELECT " PR_POLICY_OVERRIDE_JSON "::text "
	"FROM code_overrides o WHERE " OVERRIDE_KEY_WHERE ") "
	"FROM (SELECT $1::text AS code) q "
	"LEFT JOIN channels c ON c.code = q.code";

static const struct pr_pw_ops code_create_ops = {
	.action = "create",
	.kind = "code_override",
	.before_sql = code_put_before_sql,
	.prepare = code_put_prepare,
	.written = code_put_written,
	.verify_status = 400,
};

/* The same write when the override existed: audited as an update. */
static const struct pr_pw_ops code_update_ops = {
	.action = "update",
	.kind = "code_override",
	.before_sql = code_put_before_sql,
	.prepare = code_put_prepare,
	.written = code_put_written,
	.verify_status = 400,
};

static int code_put_prepare(struct pr_pw *w, PGresult *res)
{
	if (PQntuples(res) != 1)
		return pr_pw_fail(w, 500, "internal", NULL, "no row read");
	if (PQgetisnull(res, 0, 0))
		return pr_pw_fail(w, 400, "invalid_field", "channel",
				  "channel: no channel named %s", w->bp[0]);
	if (!PQgetisnull(res, 0, 1)) {
		w->audit_before = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		if (!w->audit_before)
			return pr_pw_fail(w, 500, "internal", NULL,
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
		"RETURNING " PR_POLICY_OVERRIDE_JSON "::text";
	if (pr_pw_param_json(w, w->body) < 0)
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
	w->status = 200;
	return 0;
}

static int code_put_written(struct pr_pw *w, PGresult *res)
{
	json_t *row;

	if (PQntuples(res) != 1 ||
	    !(row = json_loads(PQgetvalue(res, 0, 0), 0, NULL)))
		return pr_pw_fail(w, 500, "internal", NULL, "no row written");
	w->audit_after = json_incref(row);
	w->reply = json_pack("{s:o}", "override", row);
	return w->reply ? 0 :
			  pr_pw_fail(w, 500, "internal", NULL, "out of memory");
}

/* An override as the store writes it (defaults filled in by
 * pr_code_override_check); a new reference or NULL. */
json_t *pr_policy_code_norm(const struct pr_code *c)
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
void pr_policy_overrides_put(struct pr_request *r,
			     const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r), *norm = NULL;
	struct pr_code c;
	char err[512], field[64];
	struct pr_pw *w;

	if (!body)
		return;
	if (pr_code_override_check(body, &c, err, sizeof(err)) < 0) {
		pr_policy_err_field(err, field, sizeof(field));
		pr_api_reply_err(r, 400, "invalid_field",
				 field[0] ? field : NULL, "%s", err);
		goto out;
	}
	norm = pr_policy_code_norm(&c);
	if (!norm) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	w = pr_pw_new(r, &code_create_ops, c.owner, norm);
	norm = NULL; /* taken by pr_pw_new */
	if (!w)
		goto out;
	if (code_key(w, c.owner, c.op, c.code, c.sub_code) < 0) {
		pr_pw_free(w);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	pr_pw_go(w);
out:
	json_decref(norm);
	json_decref(body);
}

static int code_delete_prepare(struct pr_pw *w, PGresult *res)
{
	if (PQntuples(res) < 1)
		return pr_pw_fail(w, 404, "not_found", NULL,
				  "no code override %s", w->object_id);
	w->audit_before = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	w->write_sql = "DELETE FROM code_overrides o WHERE " OVERRIDE_KEY_WHERE;
	for (int i = 0; i < 4; i++) {
		if (pr_pw_param(w, w->bp[i]) < 0)
			return pr_pw_fail(w, 500, "internal", NULL,
					  "out of memory");
	}
	w->status = 204;
	return 0;
}

static const struct pr_pw_ops code_delete_ops = {
	.action = "delete",
	.kind = "code_override",
	.before_sql = "SELECT " PR_POLICY_OVERRIDE_JSON
		      "::text FROM code_overrides o "
		      "WHERE " OVERRIDE_KEY_WHERE " FOR UPDATE",
	.prepare = code_delete_prepare,
	.verify_status = 409,
};

/* DELETE /admin/v1/codes/overrides?channel=&op=&code=&sub_code= */
void pr_policy_overrides_delete(struct pr_request *r,
				const struct pr_route_match *m)
{
	static const char *const names[4] = { "channel", "op", "code",
					      "sub_code" };
	static const size_t max[4] = { 64, 16, 255, 255 };
	struct evkeyvalq args;
	const char *v[4];
	struct pr_pw *w;

	if (pr_api_query_args(r, &args) < 0)
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
	w = pr_pw_new(r, &code_delete_ops, v[0], NULL);
	if (!w)
		goto out;
	if (code_key(w, v[0], v[1], v[2], v[3]) < 0) {
		pr_pw_free(w);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	pr_pw_go(w);
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

	pr_api_query(r, overrides_list_sql, 1, p, on_overrides);
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

	pr_api_query(r, unmapped_list_sql, 2, p, on_unmapped);
}

/* The channel= and limit= of a read, from r's query string. Returns 0,
 * or -EINVAL after answering 400 (404 for a channel= that cannot name a
 * channel). */
static int code_read_args(struct pr_request *r, char *channel, size_t clen,
			  char *limit, size_t llen)
{
	struct evkeyvalq args;
	const char *v;
	char *end;
	long n;
	int rc = -EINVAL;

	if (pr_api_query_args(r, &args) < 0)
		return -EINVAL;
	channel[0] = '\0';
	if ((v = evhttp_find_header(&args, "channel")) && *v) {
		if (!pr_policy_code_ok(v)) {
			pr_api_reply_err(r, 404, "not_found", "channel",
					 "no channel named %s", v);
			goto out;
		}
		snprintf(channel, clen, "%s", v);
	}
	if ((v = evhttp_find_header(&args, "limit"))) {
		n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > 10000) {
			pr_api_reply_err(r, 400, "invalid_field", "limit",
					 "limit: an integer from 1 to 10000");
			goto out;
		}
		snprintf(limit, llen, "%ld", n);
	}
	rc = 0;
out:
	evhttp_clear_headers(&args);
	return rc;
}

/* GET /admin/v1/codes[?channel=]: a channel's effective table, or (no
 * channel) the overrides. */
void pr_policy_codes_get(struct pr_request *r, const struct pr_route_match *m)
{
	char channel[128], limit[16] = "1000";

	if (code_read_args(r, channel, sizeof(channel), limit, sizeof(limit)) <
	    0)
		return;
	if (channel[0])
		code_effective(r, channel);
	else
		code_list_overrides(r, NULL);
}

/* GET /admin/v1/codes/overrides[?channel=] */
void pr_policy_overrides_get(struct pr_request *r,
			     const struct pr_route_match *m)
{
	char channel[128], limit[16] = "1000";

	if (code_read_args(r, channel, sizeof(channel), limit, sizeof(limit)) ==
	    0)
		code_list_overrides(r, channel[0] ? channel : NULL);
}

/* GET /admin/v1/codes/unmapped[?channel=&limit=] */
void pr_policy_unmapped_get(struct pr_request *r,
			    const struct pr_route_match *m)
{
	char channel[128], limit[16] = "1000";

	if (code_read_args(r, channel, sizeof(channel), limit, sizeof(limit)) ==
	    0)
		code_unmapped(r, channel[0] ? channel : NULL, limit);
}
