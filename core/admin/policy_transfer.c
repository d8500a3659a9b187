/*
 * policy_transfer.c - the whole routing policy as one document
 * (policy_io.h), out and in.
 *
 * GET /admin/v1/policy exports it, read in one statement, so one
 * snapshot: the channels as GET /admin/v1/channels shows them (secrets
 * masked), the whitelist as GET /admin/v1/whitelist (cards by their
 * hint), the rules and the code overrides.
 *
 * PUT /admin/v1/policy replaces it by a document, as one policy write
 * (policy_write.h): inside the transaction, under the policy lock, the
 * stored policy is read, every entity of the document is checked by the
 * parser its own endpoint uses (a 400 names the field,
 * "channels[2].limits.txn_max"), and pr_policy_plan compares the two.
 * Only what differs is written (by policy_apply(), migration 007):
 * channels added or changed (their driver checked as a channel PUT checks
 * it; an unchanged channel is not re-checked, nothing is written for it),
 * whitelist entries, the rules, the overrides; and what the store holds
 * but the document lacks is removed. Then the whole policy must build (as
 * after every policy write), one audit row per entity changed plus one
 * "import" row with the summary are written, the other instances are
 * told (NOTIFY), and the answer waits for the new generation. ?dry_run=1
 * does all of it but the audit and rolls back. A document equal to the
 * store writes nothing and answers at once.
 *
 * A masked secret ("********") in a channel's driver_config stands for
 * the stored value (pr_policy_unmask), so an export imports back
 * unchanged; in a channel the store does not have it is an error. A card
 * entry cannot be exported in clear: an exported one keeps its id (and
 * value_hint), which names the stored entry whose HMAC it keeps; a new one
 * gives the card number in value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "runtime/config.h"
#include "runtime/crypto.h"
#include "runtime/generation.h"
#include "runtime/log.h"
#include "orders/approvals.h"
#include "domain/catalogue.h"
#include "domain/codemap.h"
#include "admin/policy_api.h"
#include "domain/policy_io.h"
#include "domain/tz.h"

static const char policy_export_sql[] =
	"SELECT json_build_object('format', '" PR_POLICY_FORMAT "', "
	"'exported_at', pr_rfc3339(now()), "
	"'channels', (SELECT coalesce(json_agg(a.channel ORDER BY a.code), "
	"'[]') FROM channels_api a), "
	"'whitelist', (SELECT coalesce(json_agg(w.entry ORDER BY w.id), '[]') "
	"FROM whitelist_api w), "
	"'rules', (SELECT coalesce(json_agg(r.rule ORDER BY r.position), "
	"'[]') FROM routing_rules_api r), "
	"'code_overrides', (SELECT coalesce(json_agg(" PR_POLICY_OVERRIDE_JSON
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
		json_array_set_new(chans, i, pr_policy_chan_masked(r->gen, ch));
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
	"(SELECT coalesce(json_agg(" PR_POLICY_OVERRIDE_JSON
	" ORDER BY o.channel, o.op, "
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

/* The stored channels normalised as pr_policy_chan_check normalises a document's
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

/* The stored rules normalised as pr_policy_rules_check normalises a document's. */
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

/* The stored overrides normalised as a document's (pr_policy_code_norm). */
static json_t *stored_overrides(json_t *raw)
{
	json_t *out = json_array(), *v, *n;
	size_t i;

	json_array_foreach(raw, i, v) {
		struct pr_code c;
		char err[256];

		n = pr_code_override_check(v, &c, err, sizeof(err)) == 0 ?
			    pr_policy_code_norm(&c) :
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
 * array, or NULL after pr_pw_fail. */
static json_t *import_channels(struct pr_pw *w, json_t *stored_raw,
			       json_t *stored_norm)
{
	json_t *given = json_object_get(w->body, "channels");
	json_t *out = json_array(), *ch, *old, *norm, *dc;
	char prefix[48], path[64];
	size_t i;

	if (!out) {
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	json_array_foreach(given, i, ch) {
		const char *code =
			json_string_value(json_object_get(ch, "code"));

		snprintf(prefix, sizeof(prefix), "channels[%zu].", i);
		if (!code || !pr_policy_code_ok(code)) {
			snprintf(path, sizeof(path), "%scode", prefix);
			pr_pw_fail(w, 400, "invalid_field", path,
				   "%s: required, 1 to 64 of a-z, 0-9 and _",
				   path);
			goto fail;
		}
		old = find_by(stored_raw, "code", code);
		dc = json_object_get(ch, "driver_config");
		snprintf(path, sizeof(path), "%sdriver_config", prefix);
		if (json_is_object(dc) &&
		    pr_policy_unmask(
			    w, dc,
			    old ? json_object_get(old, "driver_config") : NULL,
			    path) < 0)
			goto fail;
		if (pr_policy_chan_check(w, ch, prefix, NULL,
					 find_by(stored_norm, "code", code),
					 &norm) < 0)
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
 * Returns a new object, or NULL after pr_pw_fail. */
static json_t *import_wl_entry(struct pr_pw *w, json_t *e, const char *prefix,
			       json_t *stored_raw, json_t *codes)
{
	const char *value, *hint, *given_hint;
	char field[96], when[32];
	struct pr_policy_refusal f;
	struct pr_policy_wl_in in;
	json_t *old, *one = NULL;

	if (pr_policy_wl_check(w->r->gen->config, e, prefix, 1, &in, &f) < 0) {
		pr_pw_fail(w, f.status, f.code, f.field[0] ? f.field : NULL,
			   "%s", f.msg);
		goto out;
	}
	if (!pr_policy_has_code(codes, in.channel)) {
		snprintf(field, sizeof(field), "%schannel", prefix);
		pr_pw_fail(w, 400, "invalid_field", field,
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
			pr_pw_fail(
				w, 400, "invalid_field", field,
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
			pr_pw_fail(w, 400, "invalid_field", field,
				   "%s: stored card entry %" JSON_INTEGER_FORMAT
				   " ends in %s, not %s",
				   field, in.id, hint ? hint : "?", given_hint);
			goto out;
		}
	}
	if (in.expires && utc_seconds(in.expires, when, sizeof(when)) < 0) {
		snprintf(field, sizeof(field), "%sexpires_at", prefix);
		pr_pw_fail(w, 400, "invalid_field", field,
			   "%s: an RFC 3339 time from 1970 on", field);
		goto out;
	}
	one = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s?}", "kind", in.kind, "value",
			value ? value : "", "hint", hint, "channel", in.channel,
			"note", in.note, "expires_at",
			in.expires ? when : NULL);
	if (!one)
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
out:
	pr_policy_wl_in_clear(&in);
	return one;
}

/* The document's whitelist checked as POST /admin/v1/whitelist checks an
 * entry (pr_policy_wl_check) and resolved: cards by their HMAC, a card named by id
 * with the stored entry's. Returns a new array in the document's order,
 * or NULL after pr_pw_fail. */
static json_t *import_whitelist(struct pr_pw *w, json_t *stored_raw,
				json_t *codes)
{
	json_t *given = json_object_get(w->body, "whitelist");
	json_t *out = json_array(), *e, *one;
	char prefix[48];
	size_t i;

	if (!out) {
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	json_array_foreach(given, i, e) {
		snprintf(prefix, sizeof(prefix), "whitelist[%zu].", i);
		one = import_wl_entry(w, e, prefix, stored_raw, codes);
		if (!one || json_array_append_new(out, one) < 0) {
			if (one)
				pr_pw_fail(w, 500, "internal", NULL,
					   "out of memory");
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The document's code overrides checked (pr_code_override_check, as PUT
 * /admin/v1/codes/overrides) and normalised. Returns a new array, or NULL
 * after pr_pw_fail. */
static json_t *import_overrides(struct pr_pw *w, json_t *codes)
{
	json_t *given = json_object_get(w->body, "code_overrides");
	json_t *out = json_array(), *o, *n;
	char prefix[48], err[512], field[64];
	struct pr_code c;
	size_t i;

	if (!out) {
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	json_array_foreach(given, i, o) {
		snprintf(prefix, sizeof(prefix), "code_overrides[%zu].", i);
		if (pr_code_override_check(o, &c, err, sizeof(err)) < 0) {
			pr_pw_invalid(w, prefix, err);
			goto fail;
		}
		if (!pr_policy_has_code(codes, c.owner)) {
			snprintf(field, sizeof(field), "%schannel", prefix);
			pr_pw_fail(w, 400, "invalid_field", field,
				   "%s: no channel named %s in the document",
				   field, c.owner);
			goto fail;
		}
		n = pr_policy_code_norm(&c);
		if (!n || json_array_append_new(out, n) < 0) {
			pr_pw_fail(w, 500, "internal", NULL, "out of memory");
			goto fail;
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static int import_prepare(struct pr_pw *w, PGresult *res)
{
	struct pr_policy_parts stored = { 0 }, doc = { 0 };
	json_t *raw[4] = { NULL, NULL, NULL, NULL };
	json_t *codes = NULL, *ch;
	char field[128], err[768];
	size_t i;
	int rc = -1;

	if (pr_policy_doc_check(w->body, field, sizeof(field), err,
				sizeof(err)) < 0)
		return pr_pw_fail(w, 400, "invalid_field",
				  field[0] ? field : NULL, "%s", err);
	if (PQntuples(res) != 1 || PQnfields(res) != 4)
		return pr_pw_fail(w, 500, "internal", NULL,
				  "the stored policy returned no row");
	for (i = 0; i < 4; i++) {
		raw[i] = json_loads(PQgetvalue(res, 0, i), 0, NULL);
		if (!raw[i]) {
			pr_pw_fail(w, 500, "internal", NULL,
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
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	doc.channels = import_channels(w, raw[0], stored.channels);
	if (!doc.channels)
		goto out;
	json_array_foreach(doc.channels, i, ch)
		json_array_append(codes, json_object_get(ch, "code"));
	if (pr_policy_rules_check(w, json_object_get(w->body, "rules"), codes,
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
		pr_pw_fail(w, rc == -EINVAL ? 400 : 500,
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
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if (w->plan.n_changes > 0) {
		w->write_sql = "SELECT policy_apply($1::jsonb, $2)::text";
		if (pr_pw_param_json(w, w->plan.changes) < 0 ||
		    pr_pw_param(w, w->actor) < 0) {
			pr_pw_fail(w, 500, "internal", NULL, "out of memory");
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
static int import_written(struct pr_pw *w, PGresult *res)
{
	json_t *ids;
	int rc;

	if (PQntuples(res) != 1 ||
	    !(ids = json_loads(PQgetvalue(res, 0, 0), 0, NULL)))
		return pr_pw_fail(w, 500, "internal", NULL,
				  "policy_apply returned nothing");
	rc = pr_policy_audit_set_ids(&w->plan, ids);
	json_decref(ids);
	if (rc < 0)
		return pr_pw_fail(w, 500, "internal", NULL,
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

/* The same, for an approved import: the approval is marked applied (and
 * audited) in the import's transaction, so the import and the approval's
 * outcome commit together or not at all. */
static const char import_approved_audit_sql[] =
	"WITH a AS (INSERT INTO audit_log (actor, action, object_kind, "
	"object_id, before, after, note) "
	"SELECT $1, t.e->>'action', t.e->>'kind', t.e->>'id', "
	"nullif(t.e->'before', 'null'::jsonb), "
	"nullif(t.e->'after', 'null'::jsonb), t.e->>'note' "
	"FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n) "
	"ORDER BY t.n RETURNING id), "
	"ap AS (UPDATE approvals SET state = 'applied', applied_at = now() "
	"WHERE id = $4::bigint AND state = 'approved' RETURNING *), "
	"l AS (INSERT INTO audit_log (actor, action, object_kind, object_id, "
	"after) SELECT $1, 'approval_applied', 'approval', ap.id::text, "
	"pr_approval_json(ap::approvals) FROM ap) "
	"SELECT pg_notify('" PR_POLICY_NOTIFY_CHANNEL "', $3) "
	"FROM (SELECT count(*) FROM a) c";

static int import_audit(struct pr_pw *w)
{
	json_t *rows = json_array(), *row;
	char note[PR_API_MAX_NOTE + 32];
	char *text = NULL, *notify = NULL;
	const char *p[4], *kind;
	char approval[24];
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
			pr_policy_chan_mask_declared(
				w->r->gen, json_object_get(row, "before"));
			pr_policy_chan_mask_declared(
				w->r->gen, json_object_get(row, "after"));
		}
		if (!copy ||
		    json_object_set_new(copy, "note", json_string(note)) < 0 ||
		    json_array_append_new(rows, copy) < 0)
			goto out;
	}
	notify = pr_pw_notify("policy", "policy");
	text = json_dumps(rows, JSON_COMPACT);
	if (!text || !notify)
		goto out;
	p[0] = w->actor;
	p[1] = text;
	p[2] = notify;
	snprintf(approval, sizeof(approval), "%lld", (long long)w->approval_id);
	p[3] = approval;
	if (w->approval_id > 0)
		rc = pr_pw_run(w, PR_PW_AUDIT, import_approved_audit_sql, 4, p);
	else
		rc = pr_pw_run(w, PR_PW_AUDIT, import_audit_sql, 3, p);
out:
	free(text);
	free(notify);
	json_decref(rows);
	return rc;
}

static const struct pr_pw_ops import_ops = {
	.action = "import",
	.kind = "policy",
	.before_sql = policy_before_sql,
	.prepare = import_prepare,
	.written = import_written,
	.audit = import_audit,
	.verify_status = 400,
};

/* GET /admin/v1/policy */
void pr_policy_export(struct pr_request *r, const struct pr_route_match *m)
{
	pr_api_query(r, policy_export_sql, 0, NULL, on_policy_export);
}

/* Four eyes (approvals.policy_import): the document is kept as a pending
 * approval, its target the SHA-256 of its canonical text (keys sorted),
 * answered 202. */
static void request_approval(struct pr_request *r, const json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char md[32];
	char *hex = NULL;

	if (text && pr_sha256(text, strlen(text), md) == 0)
		hex = pr_hex_encode(md, sizeof(md));
	if (!hex)
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
	else
		pr_approval_request(r, "policy.import", hex, body, -1, NULL);
	free(text);
	free(hex);
}

/* PUT /admin/v1/policy[?dry_run=1] */
void pr_policy_import(struct pr_request *r, const struct pr_route_match *m)
{
	struct evkeyvalq args;
	const char *v;
	json_t *body;
	struct pr_pw *w;
	int dry = 0;

	if (pr_api_query_args(r, &args) < 0)
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
	if (!dry && r->gen->config->approvals_policy_import) {
		request_approval(r, body);
		json_decref(body);
		return;
	}
	w = pr_pw_new(r, &import_ops, "policy", body);
	if (!w)
		return;
	w->dry_run = dry;
	snprintf(w->reload_why, sizeof(w->reload_why), "policy change: import");
	pr_pw_go(w);
}

/* How an approved import ended, told to its approval. */
static void on_import_approved(struct pr_pw *w, int status, json_t *body)
{
	struct pr_approved *ap = w->answer_arg;
	const json_t *e = json_object_get(body, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (status < 300)
		ap->cb(200, NULL, NULL, body ? body : json_object(), ap->arg);
	else if (code && strcmp(code, "reload_failed") == 0)
		/* committed, the approval with it: applied, but not loaded */
		ap->cb(200, NULL, NULL, body, ap->arg);
	else {
		ap->cb(status == 503 ? 503 : 409, code ? code : "internal",
		       msg ? msg : "the import failed", NULL, ap->arg);
		json_decref(body);
	}
	free(ap);
	w->answer_arg = NULL;
}

int pr_policy_import_approved(struct pr_request *r, const json_t *doc,
			      const struct pr_approved *ap)
{
	struct pr_approved *copy = malloc(sizeof(*copy));
	struct pr_pw *w;

	if (!copy)
		return -ENOMEM;
	*copy = *ap;
	w = pr_pw_new(r, &import_ops, "policy", json_deep_copy(doc));
	if (!w) {
		/* pr_pw_new answered r (out of memory: the audit headers were
		 * checked before the approval was claimed) */
		free(copy);
		return -ECANCELED;
	}
	w->approval_id = ap->id;
	w->answer = on_import_approved;
	w->answer_arg = copy;
	snprintf(w->reload_why, sizeof(w->reload_why),
		 "policy change: import (approval %lld)", (long long)ap->id);
	pr_pw_go(w);
	return 0;
}
