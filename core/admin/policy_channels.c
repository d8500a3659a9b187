/*
 * policy_channels.c - the channels of the routing policy through the admin
 * API: list, read, create, replace, delete, and the quick status switch
 * (POST .../status). A channel is checked as the generation will load it
 * (pr_chan_parse), its currencies against ISO 4217, its driver config
 * against the keys its driver declares and, for an online channel, by the
 * driver's own init; then it is written by a policy write
 * (policy_write.h).
 *
 * Secrets never leave: a channel read back has the secret-looking keys of
 * its driver config (pr_mask_secrets) and the keys its driver declares
 * secret replaced by "********", and a write that gives "********" back
 * keeps the stored value, so that a client can write back what it read.
 * The import (policy_transfer.c) checks a document's channels with the
 * same functions.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/apiutil.h"
#include "domain/currency.h"
#include "admin/policy_api.h"
#include "domain/policy_io.h"
#include "runtime/services.h"

#define MASKED "********"

/* 1 when s is a channel code: 1 to 64 of a-z, 0-9 and _. */
int pr_policy_code_ok(const char *s)
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

/* Masks, in place, the keys of channel ch's driver_config that its driver
 * declares secret (ABI 1.2), when gen has that driver loaded. */
void pr_policy_chan_mask_declared(const struct pr_generation *gen, json_t *ch)
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
json_t *pr_policy_chan_masked(const struct pr_generation *gen, json_t *ch)
{
	json_t *c = json_deep_copy(ch);
	json_t *dc = c ? json_object_get(c, "driver_config") : NULL;

	if (!dc)
		return c;
	json_object_set_new(c, "driver_config", pr_mask_secrets(dc));
	pr_policy_chan_mask_declared(gen, c);
	return c;
}

/* Puts stored secrets back where the body holds the mask: a client that
 * read a masked channel can write it back unchanged. */
int pr_policy_unmask(struct pr_pw *w, json_t *given, json_t *stored,
		     const char *path)
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
			if (pr_policy_unmask(w, v, s, sub) < 0)
				return -1;
		} else if (json_is_string(v) &&
			   strcmp(json_string_value(v), MASKED) == 0) {
			if (!s)
				return pr_pw_fail(
					w, 400, "invalid_field", sub,
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
static int check_driver(struct pr_pw *w, const struct pr_chan_spec *spec,
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
		return pr_pw_fail(w, 400, "invalid_field", field,
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
		return pr_pw_fail(w, 400, "invalid_field", field, "%s", msg);
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
		return pr_pw_fail(w, 400, "invalid_field", field,
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
 * takes it (a new reference). Returns 0, or -1 after pr_pw_fail. */
int pr_policy_chan_check(struct pr_pw *w, json_t *ch, const char *prefix,
			 const char *code, json_t *same_as, json_t **norm)
{
	struct pr_chan_spec spec;
	char err[512] = "", field[96];
	int rc = -1;

	*norm = NULL;
	memset(&spec, 0, sizeof(spec));
	if (pr_chan_parse(ch, &spec, err, sizeof(err)) < 0) {
		pr_chan_clear(&spec);
		return pr_pw_invalid(w, prefix[0] ? prefix : NULL, err);
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
			pr_pw_fail(w, 400, "invalid_field", field, "%s: %s",
				   field, why);
			goto out;
		}
	}
	if (code && strcmp(spec.code, code) != 0) {
		snprintf(field, sizeof(field), "%scode", prefix);
		pr_pw_fail(w, 400, "invalid_field", field,
			   "%s: the body names channel %s, the path %s", field,
			   spec.code, code);
		goto out;
	}
	*norm = pr_chan_to_json(&spec);
	if (!*norm ||
	    json_object_set_new(*norm, "refund_timeout_s",
				json_integer(spec.refund_timeout_s)) < 0) {
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
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
static int chan_write(struct pr_pw *w, json_t *ch, int is_new)
{
	json_t *norm = NULL;
	int rc = -1;

	if (pr_policy_chan_check(w, ch, "", w->key, NULL, &norm) < 0)
		return -1;
	w->write_sql = "SELECT channel_save($1::jsonb, $2::boolean)";
	if (pr_pw_param_json(w, norm) < 0 ||
	    pr_pw_param(w, is_new ? "true" : "false") < 0) {
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	json_object_del(norm, "refund_timeout_s");
	w->audit_after = pr_policy_chan_masked(w->r->gen, norm);
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

static int chan_create_prepare(struct pr_pw *w, PGresult *res)
{
	json_t *dc;

	if (PQntuples(res) > 0)
		return pr_pw_fail(w, 409, "conflict", "code",
				  "channel %s exists already (PUT "
				  "/admin/v1/channels/%s replaces it)",
				  w->key, w->key);
	dc = json_object_get(w->body, "driver_config");
	if (json_is_object(dc) &&
	    pr_policy_unmask(w, dc, NULL, "driver_config") < 0)
		return -1;
	w->status = 201;
	return chan_write(w, w->body, 1);
}

static int chan_update_prepare(struct pr_pw *w, PGresult *res)
{
	json_t *before = before_channel(res), *dc, *sdc;
	int rc;

	if (!before)
		return pr_pw_fail(w, 404, "not_found", NULL,
				  "no channel named %s", w->key);
	w->audit_before = pr_policy_chan_masked(w->r->gen, before);
	if (!json_object_get(w->body, "code"))
		json_object_set_new(w->body, "code", json_string(w->key));
	dc = json_object_get(w->body, "driver_config");
	sdc = json_object_get(before, "driver_config");
	rc = 0;
	if (json_is_object(dc))
		rc = pr_policy_unmask(w, dc, sdc, "driver_config");
	json_decref(before);
	if (rc < 0)
		return -1;
	w->status = 200;
	return chan_write(w, w->body, 0);
}

/* The stored channel with the one field of the body (status, weight)
 * set: written as a PUT of it. */
static int chan_field_prepare(struct pr_pw *w, PGresult *res, const char *field)
{
	json_t *before = before_channel(res), *after;
	int rc;

	if (!before)
		return pr_pw_fail(w, 404, "not_found", NULL,
				  "no channel named %s", w->key);
	w->audit_before = pr_policy_chan_masked(w->r->gen, before);
	after = json_deep_copy(before);
	json_decref(before);
	if (!after)
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
	json_object_set(after, field, json_object_get(w->body, field));
	w->status = 200;
	rc = chan_write(w, after, 0);
	json_decref(after);
	return rc;
}

static int chan_status_prepare(struct pr_pw *w, PGresult *res)
{
	return chan_field_prepare(w, res, "status");
}

static int chan_weight_prepare(struct pr_pw *w, PGresult *res)
{
	return chan_field_prepare(w, res, "weight");
}

/* A PATCH: the body is a JSON Merge Patch (RFC 7396) of the stored
 * channel; the result is checked and written exactly as a PUT of it.
 * Masked secrets in the patch keep the stored values, as in a PUT. */
static int chan_patch_prepare(struct pr_pw *w, PGresult *res)
{
	json_t *before = before_channel(res), *after, *dc, *sdc;
	int rc = 0;

	if (!before)
		return pr_pw_fail(w, 404, "not_found", NULL,
				  "no channel named %s", w->key);
	w->audit_before = pr_policy_chan_masked(w->r->gen, before);
	dc = json_object_get(w->body, "driver_config");
	sdc = json_object_get(before, "driver_config");
	if (json_is_object(dc))
		rc = pr_policy_unmask(w, dc, sdc, "driver_config");
	if (rc < 0) {
		json_decref(before);
		return -1;
	}
	after = pr_json_merge_patch(before, w->body);
	if (!json_is_object(after)) {
		json_decref(after);
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
	}
	w->status = 200;
	rc = chan_write(w, after, 0);
	json_decref(after);
	return rc;
}

/* The channel and what names it: the whitelist entries ("#3 buyer_id,
 * #5 card_no") and the routing rules that allow or deny it ("rules[1]
 * \"vip only\"", indexed as GET /admin/v1/routing/rules lists them). */
static const char chan_delete_before_sql[] =
	"SELECT a.channel::text, "
	"(SELECT string_agg('#' || w.id || ' ' || w.kind, ', ' ORDER BY w.id) "
	"FROM whitelist w WHERE w.channel = $1), "
	"(SELECT string_agg('rules[' || r.i || ']' || CASE WHEN r.name <> '' "
	"THEN ' \"' || r.name || '\"' ELSE '' END, ', ' ORDER BY r.i) "
	"FROM (SELECT row_number() OVER (ORDER BY position) - 1 AS i, name, "
	"allow, deny FROM routing_rules) r "
	"WHERE $1 = ANY (r.allow) OR $1 = ANY (r.deny)) "
	"FROM channels_api a JOIN channels c ON c.code = a.code "
	"WHERE a.code = $1 FOR UPDATE OF c";

static int chan_delete_prepare(struct pr_pw *w, PGresult *res)
{
	json_t *before = before_channel(res);
	const char *wl, *rules;

	if (!before)
		return pr_pw_fail(w, 404, "not_found", NULL,
				  "no channel named %s", w->key);
	w->audit_before = pr_policy_chan_masked(w->r->gen, before);
	json_decref(before);
	wl = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	rules = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
	if (wl || rules)
		return pr_pw_fail(w, 409, "in_use", NULL,
				  "channel %s is named by %s%s%s%s%s; delete "
				  "or change them first",
				  w->key, wl ? "whitelist entries " : "",
				  wl ? wl : "", wl && rules ? " and " : "",
				  rules ? "routing " : "", rules ? rules : "");
	w->write_sql = "DELETE FROM channels WHERE code = $1";
	if (pr_pw_param(w, w->key) < 0)
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
	w->status = 204;
	return 0;
}

/* The answer: the channel as GET shows it, from the validated snapshot. */
static void chan_finish(struct pr_pw *w, json_t *channels, json_t *rules)
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
			w->reply =
				json_pack("{s:o}", "channel",
					  pr_policy_chan_masked(w->r->gen, ch));
			return;
		}
	}
}

static const struct pr_pw_ops chan_create_ops = {
	.action = "create",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_create_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pr_pw_ops chan_update_ops = {
	.action = "update",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_update_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pr_pw_ops chan_patch_ops = {
	.action = "update",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_patch_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pr_pw_ops chan_status_ops = {
	.action = "status",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_status_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pr_pw_ops chan_weight_ops = {
	.action = "weight",
	.kind = "channel",
	.before_sql = chan_before_sql,
	.prepare = chan_weight_prepare,
	.finish = chan_finish,
	.verify_status = 400,
};

static const struct pr_pw_ops chan_delete_ops = {
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
		json_array_append_new(out, pr_policy_chan_masked(r->gen, ch));
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
	pr_request_reply(r, 200, pr_policy_chan_masked(r->gen, ch));
	json_decref(ch);
}

/* GET /admin/v1/channels */
void pr_policy_channels_list(struct pr_request *r,
			     const struct pr_route_match *m)
{
	pr_api_query(r,
		     "SELECT coalesce(json_agg(channel ORDER BY code), "
		     "'[]')::text FROM channels_api",
		     0, NULL, on_channels);
}

/* POST /admin/v1/channels */
void pr_policy_channel_create(struct pr_request *r,
			      const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);
	const char *cd;
	char code[128];

	if (!body)
		return;
	cd = json_string_value(json_object_get(body, "code"));
	if (!cd || !pr_policy_code_ok(cd)) {
		json_decref(body);
		pr_api_reply_err(r, 400, "invalid_field", "code",
				 "code: required, 1 to 64 of a-z, 0-9 and _");
		return;
	}
	snprintf(code, sizeof(code), "%s", cd);
	pr_pw_start(r, &chan_create_ops, code, body);
}

/* GET /admin/v1/channels/{code} */
void pr_policy_channel_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *p[1] = { pr_route_param(m, "code") };

	pr_api_query(r,
		     "SELECT channel::text FROM channels_api WHERE code = $1",
		     1, p, on_channel);
}

/* PUT /admin/v1/channels/{code} */
void pr_policy_channel_put(struct pr_request *r, const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);

	if (body)
		pr_pw_start(r, &chan_update_ops, pr_route_param(m, "code"),
			    body);
}

/* PATCH /admin/v1/channels/{code}: a JSON Merge Patch (RFC 7396) of the
 * channel, e.g. {"weight": 60, "limits": {"daily_amount": 500000}}; a
 * null removes a member (its default applies). Content-Type
 * application/merge-patch+json or application/json. */
void pr_policy_channel_patch(struct pr_request *r,
			     const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);

	if (body)
		pr_pw_start(r, &chan_patch_ops, pr_route_param(m, "code"),
			    body);
}

/* DELETE /admin/v1/channels/{code} */
void pr_policy_channel_delete(struct pr_request *r,
			      const struct pr_route_match *m)
{
	pr_pw_start(r, &chan_delete_ops, pr_route_param(m, "code"), NULL);
}

/* POST /admin/v1/channels/{code}/status: {"status": "online"} or
 * {"status": "offline"}, the rest of the channel as it is. */
void pr_policy_channel_status(struct pr_request *r,
			      const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r), *st;

	if (!body)
		return;
	st = json_object_get(body, "status");
	if (json_object_size(body) != 1 || !json_is_string(st) ||
	    (strcmp(json_string_value(st), "online") != 0 &&
	     strcmp(json_string_value(st), "offline") != 0)) {
		json_decref(body);
		pr_api_reply_err(r, 400, "invalid_field", "status",
				 "status: the body is {\"status\": "
				 "\"online\"} or {\"status\": \"offline\"}");
		return;
	}
	pr_pw_start(r, &chan_status_ops, pr_route_param(m, "code"), body);
}

/* PUT /admin/v1/channels/{code}/weight: {"weight": N}, the rest of the
 * channel as it is (the operator role may do this, not a whole PATCH);
 * the weight is checked as in a PUT. */
void pr_policy_channel_weight(struct pr_request *r,
			      const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);

	if (!body)
		return;
	if (json_object_size(body) != 1 ||
	    !json_is_integer(json_object_get(body, "weight"))) {
		json_decref(body);
		pr_api_reply_err(r, 400, "invalid_field", "weight",
				 "weight: the body is {\"weight\": N}, an "
				 "integer");
		return;
	}
	pr_pw_start(r, &chan_weight_ops, pr_route_param(m, "code"), body);
}
