/*
 * policy_whitelist.c - the whitelist of the routing policy through the
 * admin API: list, add an entry, delete one. An entry names a card
 * number, a buyer or a seller and the channel that wins for it outright
 * (doc/design.md §4).
 *
 * Card numbers given to the whitelist are turned into HMAC-SHA256 (the
 * config's secret key) at once; only the HMAC and the last four digits (the
 * hint) are stored, audited or returned, and nothing here logs a body.
 * The import (policy_transfer.c) checks a document's entries with
 * pr_policy_wl_check.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/apiutil.h"
#include "runtime/crypto.h"
#include "domain/payreq.h"
#include "admin/policy_api.h"

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

static int wl_create_prepare(struct pr_pw *w, PGresult *res)
{
	if (PQntuples(res) < 1)
		return pr_pw_fail(w, 400, "invalid_field", "channel",
				  "channel: no channel named %s", w->key);
	w->write_sql =
		"INSERT INTO whitelist (kind, value, hint, channel, note, "
		"expires_at, created_by) VALUES ($1, $2, $3, $4, $5, "
		"date_trunc('second', $6::timestamptz), $7) "
		"RETURNING id, pr_rfc3339(expires_at)";
	w->status = 201;
	return 0;
}

static int wl_created(struct pr_pw *w, PGresult *res)
{
	const char *kind = w->wp[0];
	json_t *e;

	if (PQntuples(res) != 1)
		return pr_pw_fail(w, 500, "internal", NULL, "no row inserted");
	snprintf(w->object_id, sizeof(w->object_id), "%s",
		 PQgetvalue(res, 0, 0));
	e = json_pack("{s:I,s:s,s:s,s:s}", "id",
		      (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
		      "kind", kind, "channel", w->wp[3], "note",
		      w->wp[4] ? w->wp[4] : "");
	if (!e)
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
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

static int wl_delete_prepare(struct pr_pw *w, PGresult *res)
{
	if (PQntuples(res) < 1)
		return pr_pw_fail(w, 404, "not_found", NULL,
				  "no whitelist entry %s", w->key);
	w->audit_before = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	w->write_sql = "DELETE FROM whitelist WHERE id = $1::bigint";
	if (pr_pw_param(w, w->key) < 0)
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
	w->status = 204;
	return 0;
}

static const struct pr_pw_ops wl_create_ops = {
	.action = "create",
	.kind = "whitelist",
	.before_sql = "SELECT code FROM channels WHERE code = $1 "
		      "FOR KEY SHARE",
	.prepare = wl_create_prepare,
	.written = wl_created,
	.verify_status = 400,
};

static const struct pr_pw_ops wl_delete_ops = {
	.action = "delete",
	.kind = "whitelist",
	.before_sql = "SELECT a.entry::text FROM whitelist_api a "
		      "JOIN whitelist w ON w.id = a.id "
		      "WHERE a.id = $1::bigint FOR UPDATE OF w",
	.prepare = wl_delete_prepare,
	.verify_status = 409,
};

static int refuse(struct pr_policy_refusal *f, int status, const char *code,
		  const char *prefix, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Fills f: field is prefix + field (field NULL: none), the message is
 * "PREFIXFIELD: " + the formatted text. Returns -1. */
static int refuse(struct pr_policy_refusal *f, int status, const char *code,
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

void pr_policy_wl_in_clear(struct pr_policy_wl_in *in)
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
int pr_policy_wl_check(const struct pr_config *cfg, json_t *body,
		       const char *prefix, int import,
		       struct pr_policy_wl_in *in, struct pr_policy_refusal *f)
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
	if (!in->channel || !pr_policy_code_ok(in->channel))
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
void pr_policy_whitelist_add(struct pr_request *r,
			     const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);
	struct pr_policy_refusal f;
	struct pr_policy_wl_in in;
	char chan[128];
	struct pr_pw *w;

	if (!body)
		return;
	if (pr_policy_wl_check(r->gen->config, body, "", 0, &in, &f) < 0) {
		pr_api_reply_err(r, f.status, f.code,
				 f.field[0] ? f.field : NULL, "%s", f.msg);
		goto out;
	}
	snprintf(chan, sizeof(chan), "%s", in.channel);
	w = pr_pw_new(r, &wl_create_ops, chan, NULL);
	if (!w)
		goto out;
	/* the parameters of the INSERT (see wl_create_prepare) */
	if (pr_pw_param(w, in.kind) < 0 || pr_pw_param(w, in.value) < 0 ||
	    pr_pw_param(w, in.hint[0] ? in.hint : NULL) < 0 ||
	    pr_pw_param(w, chan) < 0 || pr_pw_param(w, in.note) < 0 ||
	    pr_pw_param(w, in.expires) < 0 || pr_pw_param(w, w->actor) < 0) {
		pr_pw_free(w);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	pr_pw_go(w);
out:
	pr_policy_wl_in_clear(&in);
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

/* GET /admin/v1/whitelist */
void pr_policy_whitelist_list(struct pr_request *r,
			      const struct pr_route_match *m)
{
	pr_api_query(r,
		     "SELECT coalesce(json_agg(entry ORDER BY id), "
		     "'[]')::text FROM whitelist_api",
		     0, NULL, on_whitelist);
}

/* DELETE /admin/v1/whitelist/{id} */
void pr_policy_whitelist_delete(struct pr_request *r,
				const struct pr_route_match *m)
{
	pr_pw_start(r, &wl_delete_ops, pr_route_param(m, "id"), NULL);
}
