/*
 * policy_io.c - the routing policy as one document, and the plan of an
 * import: what replacing the stored policy by a document adds, changes
 * and removes.
 *
 * policy_transfer.c reads the stored policy and checks every entity of a
 * document with the parsers the single-entity writes use, normalising
 * both sides the same way; this file only compares the two. The plan it
 * makes is three things at once: the change set the store function
 * policy_apply() (migration 007) writes in the import's transaction, the
 * summary the answer (and a dry run) shows, and the audit rows, one per
 * entity changed, shaped like those of the single-entity writes so that
 * an entity's history reads the same whichever way it was changed.
 *
 * Entities are matched by their natural keys: a channel by its code, a
 * whitelist entry by (kind, value, channel) (a card's value is its HMAC),
 * a code override by (channel, op, code, sub_code); the routing rules are
 * one ordered list, replaced when it differs. Nothing here is secret in
 * the summary or the audit rows: driver configs go through
 * pr_mask_secrets, and a card entry shows only its hint.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "domain/policy_io.h"

/* ------------------------------------------------------------ errors */

static int fail(char *field, size_t fieldlen, char *err, size_t errlen,
		const char *f, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int fail(char *field, size_t fieldlen, char *err, size_t errlen,
		const char *f, const char *fmt, ...)
{
	va_list ap;

	snprintf(field, fieldlen, "%s", f);
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---------------------------------------------------------- document */

struct part {
	const char *key;
	size_t max;
};

static const struct part parts[] = {
	{ "channels", PR_POLICY_MAX_CHANNELS },
	{ "whitelist", PR_POLICY_MAX_WHITELIST },
	{ "rules", 1000 },
	{ "code_overrides", PR_POLICY_MAX_OVERRIDES },
};

#define N_PARTS (sizeof(parts) / sizeof(parts[0]))

json_t *pr_mask_secrets(json_t *config)
{
	static const char *const secret_words[] = { "key",	"secret",
						    "password", "token",
						    "cert",	"pem" };
	json_t *out = json_deep_copy(config);
	const char *k;
	json_t *v;

	if (!json_is_object(out))
		return out;
	json_object_foreach(out, k, v) {
		if (json_is_object(v)) {
			json_object_set_new(out, k, pr_mask_secrets(v));
			continue;
		}
		for (size_t i = 0;
		     i < sizeof(secret_words) / sizeof(secret_words[0]); i++) {
			if (strcasestr(k, secret_words[i]) &&
			    !strcasestr(k, "serial") && !strcasestr(k, "_id")) {
				json_object_set_new(out, k,
						    json_string("********"));
				break;
			}
		}
	}
	return out;
}

int pr_policy_doc_check(json_t *doc, char *field, size_t fieldlen, char *err,
			size_t errlen)
{
	const char *k;
	json_t *v, *e;
	char f[64];
	size_t i, j;

	if (!json_is_object(doc))
		return fail(field, fieldlen, err, errlen, "",
			    "the body is a policy document: {\"format\": "
			    "\"" PR_POLICY_FORMAT "\", \"channels\": [...], "
			    "\"whitelist\": [...], \"rules\": [...], "
			    "\"code_overrides\": [...]}");
	json_object_foreach(doc, k, v) {
		int known = strcmp(k, "format") == 0 ||
			    strcmp(k, "exported_at") == 0;

		for (i = 0; i < N_PARTS && !known; i++)
			known = strcmp(k, parts[i].key) == 0;
		if (!known)
			return fail(field, fieldlen, err, errlen, k,
				    "%s: unknown key (known: format, "
				    "exported_at, channels, whitelist, rules, "
				    "code_overrides)",
				    k);
	}
	v = json_object_get(doc, "format");
	if (v && (!json_is_string(v) ||
		  strcmp(json_string_value(v), PR_POLICY_FORMAT) != 0))
		return fail(field, fieldlen, err, errlen, "format",
			    "format: this daemon reads \"" PR_POLICY_FORMAT
			    "\" documents");
	v = json_object_get(doc, "exported_at");
	if (v && !json_is_string(v))
		return fail(field, fieldlen, err, errlen, "exported_at",
			    "exported_at: a string (it is not read)");
	for (i = 0; i < N_PARTS; i++) {
		v = json_object_get(doc, parts[i].key);
		if (!json_is_array(v))
			return fail(field, fieldlen, err, errlen, parts[i].key,
				    "%s: required, an array (the import "
				    "replaces the whole policy: [] removes "
				    "every one)",
				    parts[i].key);
		if (json_array_size(v) > parts[i].max)
			return fail(field, fieldlen, err, errlen, parts[i].key,
				    "%s: at most %zu", parts[i].key,
				    parts[i].max);
		json_array_foreach(v, j, e) {
			if (json_is_object(e))
				continue;
			snprintf(f, sizeof(f), "%s[%zu]", parts[i].key, j);
			return fail(field, fieldlen, err, errlen, f,
				    "%s: an object", f);
		}
	}
	return 0;
}

/* ------------------------------------------------------------- helpers */

/* json_array_append_new / json_object_set_new remembering a failure. */
static void append(json_t *a, json_t *v, int *bad)
{
	if (!v || json_array_append_new(a, v) < 0)
		*bad = 1;
}

static void put(json_t *o, const char *k, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, k, v) < 0)
		*bad = 1;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* The value of k in o, or JSON null (a new reference). */
static json_t *get_or_null(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v ? json_incref(v) : json_null();
}

/* The value of k in o, or JSON null (borrowed; null is jansson's
 * static). */
static json_t *peek(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v ? v : json_null();
}

/* A stored whitelist id as the audit's object_id text. */
static json_t *id_text(json_t *id)
{
	return json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(id));
}

/* A map key made of strings: their JSON array, unambiguous whatever they
 * hold. Returns malloc'd text or NULL. */
static char *key_of(json_t *o, const char *const *names, size_t n)
{
	json_t *a = json_array();
	char *k = NULL;
	int bad = !a;

	for (size_t i = 0; i < n && !bad; i++)
		append(a, json_string(str(o, names[i])), &bad);
	if (!bad)
		k = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return k;
}

static const char *const wl_key_names[] = { "kind", "value", "channel" };
static const char *const ov_key_names[] = { "channel", "op", "code",
					    "sub_code" };

/* "channel/op/code/sub_code", as the single override writes audit it. */
static json_t *ov_label(json_t *o)
{
	return json_sprintf("%s/%s/%s/%s", str(o, "channel"), str(o, "op"),
			    str(o, "code"), str(o, "sub_code"));
}

/* A channel as the audit and the answers show it: driver_config masked,
 * without the store's "refund_timeout_s" (a new reference or NULL). */
static json_t *chan_image(json_t *ch)
{
	json_t *c = json_deep_copy(ch);
	json_t *dc = c ? json_object_get(c, "driver_config") : NULL;

	if (!c)
		return NULL;
	json_object_del(c, "refund_timeout_s");
	if (dc &&
	    json_object_set_new(c, "driver_config", pr_mask_secrets(dc)) < 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

/* The top-level keys in which two channels differ, in a's order then b's
 * ("refund_timeout_s" is refund_timeout's twin: not listed). */
static json_t *chan_fields(json_t *a, json_t *b, int *bad)
{
	json_t *out = json_array(), *v;
	const char *k;

	if (!out) {
		*bad = 1;
		return NULL;
	}
	json_object_foreach(a, k, v) {
		if (strcmp(k, "refund_timeout_s") != 0 &&
		    !json_equal(v, json_object_get(b, k)))
			append(out, json_string(k), bad);
	}
	json_object_foreach(b, k, v) {
		if (strcmp(k, "refund_timeout_s") != 0 &&
		    !json_object_get(a, k))
			append(out, json_string(k), bad);
	}
	return out;
}

/* A whitelist entry as the summary names it: id (when given), kind,
 * channel, and value or, for a card, value_hint. */
static json_t *wl_label(json_t *e, json_t *id, int *bad)
{
	json_t *o = json_object();
	int card = strcmp(str(e, "kind"), "card_no") == 0;

	if (!o) {
		*bad = 1;
		return NULL;
	}
	if (id)
		put(o, "id", json_incref(id), bad);
	put(o, "kind", json_string(str(e, "kind")), bad);
	put(o, "channel", json_string(str(e, "channel")), bad);
	if (card)
		put(o, "value_hint", get_or_null(e, "hint"), bad);
	else
		put(o, "value", json_string(str(e, "value")), bad);
	return o;
}

/* A whitelist entry as its single writes audit it: wl_label plus note and
 * expires_at; id is JSON null for an entry not written yet. */
static json_t *wl_image(json_t *e, json_t *id, int *bad)
{
	json_t *null = json_null();
	json_t *o = wl_label(e, id ? id : null, bad);

	json_decref(null);
	if (o) {
		put(o, "note", json_string(str(e, "note")), bad);
		put(o, "expires_at", get_or_null(e, "expires_at"), bad);
	}
	return o;
}

static json_t *audit_row(const char *action, const char *kind, json_t *id,
			 json_t *before, json_t *after)
{
	json_t *r = json_object();
	int bad = !r || !id;

	if (r) {
		put(r, "action", json_string(action), &bad);
		put(r, "kind", json_string(kind), &bad);
		put(r, "id", id ? id : json_null(), &bad);
		put(r, "before", before ? before : json_null(), &bad);
		put(r, "after", after ? after : json_null(), &bad);
		id = before = after = NULL;
	}
	json_decref(id);
	json_decref(before);
	json_decref(after);
	if (bad) {
		json_decref(r);
		return NULL;
	}
	return r;
}

/* A JSON object mapping each element's key to its index (a new
 * reference), or NULL. dup_at: set to the first index whose key repeats
 * an earlier one's (with *dup_of the earlier), else left alone. */
static json_t *index_by(json_t *arr, const char *const *names, size_t n,
			long *dup_at, long *dup_of)
{
	json_t *map = json_object(), *e, *seen;
	size_t i;

	if (!map)
		return NULL;
	json_array_foreach(arr, i, e) {
		char *k = key_of(e, names, n);

		if (!k) {
			json_decref(map);
			return NULL;
		}
		seen = json_object_get(map, k);
		if (seen && *dup_at < 0) {
			*dup_at = (long)i;
			*dup_of = (long)json_integer_value(seen);
		} else if (!seen &&
			   json_object_set_new(
				   map, k, json_integer((json_int_t)i)) < 0) {
			free(k);
			json_decref(map);
			return NULL;
		}
		free(k);
	}
	return map;
}

/* The element of arr whose key (names) equals e's, per map, or NULL; its
 * index in *at. */
static json_t *match(json_t *arr, json_t *map, json_t *e,
		     const char *const *names, size_t n, size_t *at, int *bad)
{
	char *k = key_of(e, names, n);
	json_t *i;

	if (!k) {
		*bad = 1;
		return NULL;
	}
	i = json_object_get(map, k);
	free(k);
	if (!i)
		return NULL;
	*at = (size_t)json_integer_value(i);
	return json_array_get(arr, *at);
}

/* --------------------------------------------------------------- plan */

struct plan_ctx {
	struct pr_policy_plan *p;
	json_t *changes;
	json_t *summary;
	int bad;
};

static json_t *ensure_array(json_t *o, const char *k, int *bad)
{
	json_t *a = json_object_get(o, k);

	if (a)
		return a;
	a = json_array();
	put(o, k, a, bad);
	return *bad ? NULL : a;
}

static void add_audit(struct plan_ctx *c, json_t *row)
{
	append(c->p->audit, row, &c->bad);
	c->p->n_changes++;
}

/* The frame every part's plan shares: both sides indexed by the part's
 * key, the part's summary with its added / changed / removed lists, and
 * the count of what stays as it is. part_open answers 0, -ENOMEM, or 1
 * when the document has one key twice (pp->dup and pp->dup_of say where;
 * the caller words the error). part_close puts "unchanged" and frees the
 * indexes; it answers 0 or -ENOMEM. */
struct part_plan {
	json_t *smap, *dmap, *sum, *added, *changed, *removed;
	long dup, dup_of;
	size_t unchanged;
};

static int part_open(struct plan_ctx *c, struct part_plan *pp, const char *name,
		     json_t *stored, json_t *doc, const char *const *keys,
		     size_t nkeys)
{
	long ignore = -1, ignore_of = -1;

	memset(pp, 0, sizeof(*pp));
	pp->dup = pp->dup_of = -1;
	pp->smap = index_by(stored, keys, nkeys, &ignore, &ignore_of);
	pp->dmap = index_by(doc, keys, nkeys, &pp->dup, &pp->dup_of);
	if (!pp->smap || !pp->dmap)
		return -ENOMEM;
	if (pp->dup >= 0)
		return 1;
	pp->sum = json_object();
	put(c->summary, name, pp->sum, &c->bad);
	pp->added = json_array();
	pp->changed = json_array();
	pp->removed = json_array();
	put(pp->sum, "added", pp->added, &c->bad);
	put(pp->sum, "changed", pp->changed, &c->bad);
	put(pp->sum, "removed", pp->removed, &c->bad);
	return c->bad ? -ENOMEM : 0;
}

static int part_close(struct plan_ctx *c, struct part_plan *pp, int rc)
{
	if (rc == 0 && pp->sum)
		put(pp->sum, "unchanged",
		    json_integer((json_int_t)pp->unchanged), &c->bad);
	json_decref(pp->smap);
	json_decref(pp->dmap);
	if (rc == 0 && c->bad)
		rc = -ENOMEM;
	return rc;
}

static int plan_channels(struct plan_ctx *c, json_t *stored, json_t *doc,
			 char *field, size_t fieldlen, char *err, size_t errlen)
{
	static const char *const code[] = { "code" };
	json_t *ch, *old, *save, *del;
	struct part_plan pp;
	size_t i, at;
	int rc;

	rc = part_open(c, &pp, "channels", stored, doc, code, 1);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		char f[48];

		snprintf(f, sizeof(f), "channels[%ld].code", pp.dup);
		rc = fail(field, fieldlen, err, errlen, f,
			  "%s: channel %s is in the document twice "
			  "(channels[%ld] too)",
			  f, str(json_array_get(doc, (size_t)pp.dup), "code"),
			  pp.dup_of);
		goto out;
	}
	json_array_foreach(doc, i, ch) {
		old = match(stored, pp.smap, ch, code, 1, &at, &c->bad);
		if (old && json_equal(old, ch)) {
			pp.unchanged++;
			continue;
		}
		save = json_pack("{s:O,s:b}", "channel", ch, "is_new", !old);
		append(ensure_array(c->changes, "channels_save", &c->bad), save,
		       &c->bad);
		if (old) {
			append(pp.changed,
			       json_pack("{s:s,s:o}", "code", str(ch, "code"),
					 "fields",
					 chan_fields(old, ch, &c->bad)),
			       &c->bad);
			add_audit(c,
				  audit_row("update", "channel",
					    json_string(str(ch, "code")),
					    chan_image(old), chan_image(ch)));
		} else {
			append(pp.added, json_string(str(ch, "code")), &c->bad);
			add_audit(c, audit_row("create", "channel",
					       json_string(str(ch, "code")),
					       NULL, chan_image(ch)));
		}
	}
	json_array_foreach(stored, i, old) {
		if (match(doc, pp.dmap, old, code, 1, &at, &c->bad) || c->bad)
			continue;
		append(pp.removed, json_string(str(old, "code")), &c->bad);
		del = ensure_array(c->changes, "channels_delete", &c->bad);
		append(del, json_string(str(old, "code")), &c->bad);
		add_audit(c, audit_row("delete", "channel",
				       json_string(str(old, "code")),
				       chan_image(old), NULL));
	}
out:
	return part_close(c, &pp, rc);
}

/* 1 when two entries with the same key differ in what an update writes. */
static int wl_differs(json_t *a, json_t *b)
{
	return strcmp(str(a, "note"), str(b, "note")) != 0 ||
	       !json_equal(peek(a, "expires_at"), peek(b, "expires_at"));
}

/* The fields (note, expires_at) in which two entries differ. */
static json_t *wl_fields(json_t *a, json_t *b, int *bad)
{
	json_t *f = json_array();

	if (!f) {
		*bad = 1;
		return NULL;
	}
	if (strcmp(str(a, "note"), str(b, "note")) != 0)
		append(f, json_string("note"), bad);
	if (!json_equal(peek(a, "expires_at"), peek(b, "expires_at")))
		append(f, json_string("expires_at"), bad);
	return f;
}

static int plan_whitelist(struct plan_ctx *c, json_t *stored, json_t *doc,
			  char *field, size_t fieldlen, char *err,
			  size_t errlen)
{
	json_t *e, *old, *id, *row, *after, *lab;
	struct part_plan pp;
	size_t i, at;
	int rc;

	rc = part_open(c, &pp, "whitelist", stored, doc, wl_key_names, 3);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		char f[48];

		snprintf(f, sizeof(f), "whitelist[%ld]", pp.dup);
		rc = fail(field, fieldlen, err, errlen, f,
			  "%s: the same entry (kind, value, channel) as "
			  "whitelist[%ld]",
			  f, pp.dup_of);
		goto out;
	}
	json_array_foreach(doc, i, e) {
		old = match(stored, pp.smap, e, wl_key_names, 3, &at, &c->bad);
		if (old && !wl_differs(old, e)) {
			pp.unchanged++;
			continue;
		}
		if (old) {
			id = json_object_get(old, "id");
			lab = wl_label(old, id, &c->bad);
			put(lab, "fields", wl_fields(old, e, &c->bad), &c->bad);
			append(pp.changed, lab, &c->bad);
			append(ensure_array(c->changes, "whitelist_update",
					    &c->bad),
			       json_pack("{s:O,s:s,s:O}", "id", id, "note",
					 str(e, "note"), "expires_at",
					 peek(e, "expires_at")),
			       &c->bad);
			after = wl_image(old, id, &c->bad);
			put(after, "note", json_string(str(e, "note")),
			    &c->bad);
			put(after, "expires_at", get_or_null(e, "expires_at"),
			    &c->bad);
			add_audit(c,
				  audit_row("update", "whitelist", id_text(id),
					    wl_image(old, id, &c->bad), after));
			continue;
		}
		append(pp.added, wl_label(e, NULL, &c->bad), &c->bad);
		append(ensure_array(c->changes, "whitelist_insert", &c->bad),
		       json_pack("{s:s,s:s,s:O,s:s,s:s,s:O}", "kind",
				 str(e, "kind"), "value", str(e, "value"),
				 "hint", peek(e, "hint"), "channel",
				 str(e, "channel"), "note", str(e, "note"),
				 "expires_at", peek(e, "expires_at")),
		       &c->bad);
		append(c->p->wl_created,
		       json_pack("{s:I,s:s,s:s,s:s}", "row",
				 (json_int_t)json_array_size(c->p->audit),
				 "kind", str(e, "kind"), "value",
				 str(e, "value"), "channel", str(e, "channel")),
		       &c->bad);
		row = audit_row("create", "whitelist", json_null(), NULL,
				wl_image(e, NULL, &c->bad));
		add_audit(c, row);
	}
	json_array_foreach(stored, i, old) {
		if (match(doc, pp.dmap, old, wl_key_names, 3, &at, &c->bad) ||
		    c->bad)
			continue;
		id = json_object_get(old, "id");
		append(pp.removed, wl_label(old, id, &c->bad), &c->bad);
		append(ensure_array(c->changes, "whitelist_delete", &c->bad),
		       json_incref(id), &c->bad);
		add_audit(c, audit_row("delete", "whitelist", id_text(id),
				       wl_image(old, id, &c->bad), NULL));
	}
out:
	return part_close(c, &pp, rc);
}

static void plan_rules(struct plan_ctx *c, json_t *stored, json_t *doc)
{
	int same = json_equal(stored, doc);

	put(c->summary, "rules",
	    json_pack("{s:b,s:I,s:I}", "changed", !same, "before",
		      (json_int_t)json_array_size(stored), "after",
		      (json_int_t)json_array_size(doc)),
	    &c->bad);
	if (same)
		return;
	put(c->changes, "rules", json_incref(doc), &c->bad);
	add_audit(c, audit_row("replace", "routing_rules", json_string("rules"),
			       json_incref(stored), json_incref(doc)));
}

static int plan_overrides(struct plan_ctx *c, json_t *stored, json_t *doc,
			  char *field, size_t fieldlen, char *err,
			  size_t errlen)
{
	json_t *o, *old;
	struct part_plan pp;
	size_t i, at;
	int rc;

	rc = part_open(c, &pp, "code_overrides", stored, doc, ov_key_names, 4);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		char f[48];

		snprintf(f, sizeof(f), "code_overrides[%ld]", pp.dup);
		rc = fail(field, fieldlen, err, errlen, f,
			  "%s: the same override (channel, op, code, "
			  "sub_code) as code_overrides[%ld]",
			  f, pp.dup_of);
		goto out;
	}
	json_array_foreach(doc, i, o) {
		old = match(stored, pp.smap, o, ov_key_names, 4, &at, &c->bad);
		if (old && json_equal(old, o)) {
			pp.unchanged++;
			continue;
		}
		append(old ? pp.changed : pp.added, ov_label(o), &c->bad);
		append(ensure_array(c->changes, "overrides_upsert", &c->bad),
		       json_incref(o), &c->bad);
		add_audit(c,
			  audit_row(old ? "update" : "create", "code_override",
				    ov_label(o), old ? json_incref(old) : NULL,
				    json_incref(o)));
	}
	json_array_foreach(stored, i, old) {
		if (match(doc, pp.dmap, old, ov_key_names, 4, &at, &c->bad) ||
		    c->bad)
			continue;
		append(pp.removed, ov_label(old), &c->bad);
		append(ensure_array(c->changes, "overrides_delete", &c->bad),
		       json_pack("{s:s,s:s,s:s,s:s}", "channel",
				 str(old, "channel"), "op", str(old, "op"),
				 "code", str(old, "code"), "sub_code",
				 str(old, "sub_code")),
		       &c->bad);
		add_audit(c, audit_row("delete", "code_override", ov_label(old),
				       json_incref(old), NULL));
	}
out:
	return part_close(c, &pp, rc);
}

int pr_policy_plan(const struct pr_policy_parts *stored,
		   const struct pr_policy_parts *doc,
		   struct pr_policy_plan *out, char *field, size_t fieldlen,
		   char *err, size_t errlen)
{
	struct plan_ctx c = { 0 };
	json_t *empty = json_array();
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	field[0] = err[0] = '\0';
	out->changes = json_object();
	out->summary = json_object();
	out->audit = json_array();
	out->wl_created = json_array();
	if (!empty || !out->changes || !out->summary || !out->audit ||
	    !out->wl_created)
		goto out;
	c.p = out;
	c.changes = out->changes;
	c.summary = out->summary;
#define OR_EMPTY(x) ((x) ? (x) : empty)
	rc = plan_channels(&c, OR_EMPTY(stored->channels),
			   OR_EMPTY(doc->channels), field, fieldlen, err,
			   errlen);
	if (rc == 0)
		rc = plan_whitelist(&c, OR_EMPTY(stored->whitelist),
				    OR_EMPTY(doc->whitelist), field, fieldlen,
				    err, errlen);
	if (rc == 0) {
		plan_rules(&c, OR_EMPTY(stored->rules), OR_EMPTY(doc->rules));
		rc = plan_overrides(&c, OR_EMPTY(stored->overrides),
				    OR_EMPTY(doc->overrides), field, fieldlen,
				    err, errlen);
	}
#undef OR_EMPTY
	if (rc == 0 && c.bad)
		rc = -ENOMEM;
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	json_decref(empty);
	if (rc < 0)
		pr_policy_plan_clear(out);
	return rc;
}

int pr_policy_audit_set_ids(struct pr_policy_plan *p, json_t *ids)
{
	json_t *cr, *e, *row, *after;
	size_t i, j;

	json_array_foreach(p->wl_created, i, cr) {
		json_t *found = NULL;

		json_array_foreach(ids, j, e) {
			if (strcmp(str(e, "kind"), str(cr, "kind")) == 0 &&
			    strcmp(str(e, "value"), str(cr, "value")) == 0 &&
			    strcmp(str(e, "channel"), str(cr, "channel")) ==
				    0) {
				found = json_object_get(e, "id");
				break;
			}
		}
		row = json_array_get(
			p->audit,
			(size_t)json_integer_value(json_object_get(cr, "row")));
		if (!found || !json_is_integer(found) || !row)
			return -ENOENT;
		after = json_object_get(row, "after");
		if (json_object_set_new(row, "id", id_text(found)) < 0 ||
		    (after && json_object_set(after, "id", found) < 0))
			return -ENOMEM;
	}
	return 0;
}

void pr_policy_plan_clear(struct pr_policy_plan *p)
{
	json_decref(p->changes);
	json_decref(p->summary);
	json_decref(p->audit);
	json_decref(p->wl_created);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------- merge patch */

json_t *pr_json_merge_patch(json_t *target, json_t *patch)
{
	const char *k;
	json_t *v;

	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
		if (!target)
			return NULL;
	}
	json_object_foreach(patch, k, v) {
		json_t *m;

		if (json_is_null(v)) {
			json_object_del(target, k);
			continue;
		}
		m = json_object_get(target, k);
		m = pr_json_merge_patch(m ? json_incref(m) : NULL, v);
		if (!m || json_object_set_new(target, k, m) < 0) {
			json_decref(target);
			return NULL;
		}
	}
	return target;
}
