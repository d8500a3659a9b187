/*
 * policy_io.h - the whole routing policy as one JSON document (GET and
 * PUT /admin/v1/policy): the document's shape, and the plan of an import,
 * that is what replacing the stored policy by a document changes.
 *
 * The document (format "payroute-policy/1"):
 *
 *   { "format": "payroute-policy/1", "exported_at": RFC 3339,
 *     "channels": [ channel as GET /admin/v1/channels shows it ],
 *     "whitelist": [ entry as GET /admin/v1/whitelist shows it ],
 *     "rules": [ rule as GET /admin/v1/routing/rules shows it ],
 *     "code_overrides": [ override as GET /admin/v1/codes/overrides ] }
 *
 * Pure functions over jansson values: no I/O, no globals. The checks of
 * each entity (pr_chan_parse, the drivers, pr_rule_parse,
 * pr_code_override_check, the whitelist's) are the admin API's
 * (policy_channels.c, policy_whitelist.c, policy_rules.c,
 * policy_codes.c); this file compares what they normalised.
 */
#ifndef PR_POLICY_IO_H
#define PR_POLICY_IO_H

#include <stddef.h>

#include <jansson.h>

#define PR_POLICY_FORMAT "payroute-policy/1"

/* Bounds of one document (the body is bounded by server.max_body_bytes
 * too). */
#define PR_POLICY_MAX_CHANNELS 10000
#define PR_POLICY_MAX_WHITELIST 100000
#define PR_POLICY_MAX_OVERRIDES 100000

/* Masks secret-looking values (keys containing key, secret, password,
 * token, cert, pem; not serial or _id) of a driver config, in nested
 * objects too; returns a new reference. */
json_t *pr_mask_secrets(json_t *config);

/* Checks a document's top level: an object whose only keys are "format"
 * (PR_POLICY_FORMAT when present), "exported_at" (a string, ignored) and
 * the four arrays "channels", "whitelist", "rules" and "code_overrides",
 * all required (an import replaces the whole policy: [] removes every
 * entity of that kind), each element an object, within the bounds above.
 * Returns 0, or -EINVAL with field (e.g. "whitelist", "channels[2]") and
 * err ("FIELD: reason") filled. */
int pr_policy_doc_check(json_t *doc, char *field, size_t fieldlen, char *err,
			size_t errlen);

/* One side of a comparison: the policy's four parts as JSON arrays,
 * normalised by the admin API's parsers (borrowed references).
 *
 *   channels   pr_chan_to_json of each channel plus "refund_timeout_s",
 *              driver_config in clear
 *   whitelist  {"id" (stored entries; ignored on the document's side),
 *              "kind", "value" (a card's HMAC), "hint" (a card's last four
 *              digits, else null), "channel", "note", "expires_at" (UTC,
 *              whole seconds, "...Z", or null)}
 *   rules      pr_rule_to_json of each rule without "id", in order
 *   overrides  {channel, op, code, sub_code, unified, effect, retryable,
 *              category, message_en, message_zh}
 *
 * On the document's side the arrays are in the document's order, so that
 * an index names the document's element. */
struct pr_policy_parts {
	json_t *channels;
	json_t *whitelist;
	json_t *rules;
	json_t *overrides;
};

/* What an import changes. All three are new references, owned by the
 * plan (pr_policy_plan_clear).
 *
 * changes: the change set the store function policy_apply() takes:
 *   {"channels_delete": [code], "channels_save": [{"channel": C,
 *    "is_new": bool}], "whitelist_delete": [id], "whitelist_update":
 *    [{"id", "note", "expires_at"}], "whitelist_insert": [{"kind", "value",
 *    "hint", "channel", "note", "expires_at"}], "rules": [...] (only when
 *    they change), "overrides_delete": [{channel, op, code, sub_code}],
 *    "overrides_upsert": [override]}
 * summary: for people, nothing secret (cards by their hint):
 *   {"channels": {"added": [code], "changed": [{"code", "fields"}],
 *    "removed": [code], "unchanged": N}, "whitelist": {"added": [E],
 *    "changed": [E + "fields"], "removed": [E], "unchanged": N}, "rules":
 *    {"changed": bool, "before": N, "after": N}, "code_overrides":
 *    {"added": [KEY], "changed": [KEY], "removed": [KEY], "unchanged": N}}
 *   where E is {"id" (stored entries), "kind", "channel", "value" or
 *   "value_hint"} and KEY "channel/op/code/sub_code".
 * audit: one row per entity changed, {"action" (create, update, delete,
 *   replace), "kind" (channel, whitelist, routing_rules, code_override),
 *   "id", "before", "after"}, images masked as the single writes audit
 *   them (driver_config by pr_mask_secrets, cards by their hint). A
 *   whitelist entry created has "id" null until it is written (see
 *   pr_policy_audit_set_ids).
 * n_changes: the number of audit rows; 0 when the document is what is
 *   stored. */
struct pr_policy_plan {
	json_t *changes;
	json_t *summary;
	json_t *audit;
	size_t n_changes;
	/* private: the keys of the entries created, [{"row": audit index,
	 * "kind", "value", "channel"}] (values are HMACs: never shown) */
	json_t *wl_created;
};

/* Compares the stored policy with a document's (both normalised as
 * above) and fills *out. Channels match by code, whitelist entries by
 * (kind, value, channel), overrides by (channel, op, code, sub_code); the
 * rules are one ordered list. Refuses a document naming one of these keys
 * twice. Returns 0; -EINVAL with field ("channels[3].code", "whitelist[4]",
 * "code_overrides[1]") and err filled; -ENOMEM. *out is cleared on error. */
int pr_policy_plan(const struct pr_policy_parts *stored,
		   const struct pr_policy_parts *doc,
		   struct pr_policy_plan *out, char *field, size_t fieldlen,
		   char *err, size_t errlen);

/* Gives the audit rows of the whitelist entries created their ids, from
 * policy_apply()'s answer: an array of {"id", "kind", "value", "channel"}.
 * Returns 0, or -ENOENT when a created entry is not in ids. */
int pr_policy_audit_set_ids(struct pr_policy_plan *p, json_t *ids);

void pr_policy_plan_clear(struct pr_policy_plan *p);

/* Applies the JSON Merge Patch patch (RFC 7396) to target: an object in
 * patch merges member by member (a null removes the member), anything
 * else replaces the target. Takes target's reference and returns the
 * result (a new reference: target itself when patch is an object and
 * target was one), or NULL when out of memory. patch is borrowed. */
json_t *pr_json_merge_patch(json_t *target, json_t *patch);

#endif
