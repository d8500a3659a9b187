/*
 * codemap.h - unified result codes (doc/design.md §8). Pure: no I/O, no
 * globals but the core's own constant table.
 *
 * A code map belongs to a generation. It is built from the default table of
 * every loaded driver (payroute_driver.default_codes) and from operators'
 * per-channel overrides (table code_overrides, in the policy snapshot), and
 * answers: for this (driver, channel, operation, channel code, sub code),
 * which unified code, end-user messages (en, zh-CN), effect on the order,
 * retryable on another channel or not, and category. NULL means nobody
 * mapped it: the caller leaves the order unknown and reports it.
 *
 * Matching. A row matches when its op equals the operation or is "*", its
 * code equals the channel code or is "*", and its sub_code equals the sub
 * code or is "*" (a missing sub code is ""). Among the matching rows of one
 * table the most specific wins: an exact sub_code counts 4, an exact code
 * 2, an exact op 1; on a tie the earlier row. The channel's overrides are
 * searched first, then the driver's defaults: an override, however
 * general, beats a default. A lookup scans only the table of that channel
 * and the table of that driver (tables are found by binary search on the
 * name), and stops at the first row that matches exactly.
 *
 * Row checks (driver rows and overrides alike, the same as the CHECKs of
 * table code_overrides in migration 004): op is one of the operations or
 * "*"; code and sub_code are 1 to 63 characters (codes are matched
 * byte for byte, "*" matches anything); unified is [A-Z][A-Z0-9_]*, at
 * most 63 characters; both messages are 1 to 255 characters; effect and
 * category are known values; retryable only with effect failed.
 */
#ifndef PR_CODEMAP_H
#define PR_CODEMAP_H

#include <stddef.h>

#include <jansson.h>
#include <payroute/driver.h>

enum pr_code_source {
	PR_CODE_CORE = 0,     /* payroute's own outcomes (timeouts, ...) */
	PR_CODE_DRIVER = 1,   /* a driver's default table */
	PR_CODE_OVERRIDE = 2, /* an operator's override for a channel */
};

/* One mapping. Strings are owned by the map (or static for core rows). */
struct pr_code {
	const char *op;
	const char *code;
	const char *sub_code;
	const char *unified;
	enum payroute_effect effect;
	int retryable;
	enum payroute_category category;
	const char *message_en;
	const char *message_zh;
	enum pr_code_source source;
	const char *owner; /* driver name or channel code; NULL for core */
};

struct pr_codemap;

/* An empty map, or NULL when out of memory. */
struct pr_codemap *pr_codemap_new(void);
void pr_codemap_free(struct pr_codemap *m);

/* Adds a driver's default table (rows are copied; entry_size is the
 * driver's sizeof(struct payroute_code_entry), rows are read with that
 * stride and must be at least as large as the v1 entry). Every row is
 * checked: op is one of the operations or "*", code/sub_code/unified and
 * both messages are non-empty, unified is [A-Z][A-Z0-9_]*, effect and
 * category are known values, retryable only with effect FAILED. Returns 0,
 * -EEXIST when the driver was added already, or -EINVAL with err naming the
 * driver and the row index. */
int pr_codemap_add_driver(struct pr_codemap *m, const char *driver,
			  const struct payroute_code_entry *rows, size_t n,
			  size_t entry_size, char *err, size_t errlen);

/* Adds operators' overrides: a JSON array of objects {channel, op, code,
 * sub_code, unified, effect ("success", "failed", "processing", "unknown",
 * "closed"), retryable, category ("none", "user", "risk", "limit",
 * "channel", "system"), message_en, message_zh}, each checked by
 * pr_code_override_check. Two entries with the same (channel, op, code,
 * sub_code) are refused. Whether the channels exist is the caller's
 * question (pr_gen_set_codes asks it). NULL or [] adds nothing. Returns 0;
 * -EINVAL with err "codes[I].FIELD: reason (override CH/OP/CODE/SUB)" and
 * the map unchanged; or -ENOMEM (the map may then hold part of the rows:
 * free it). */
int pr_codemap_add_overrides(struct pr_codemap *m, json_t *rows, char *err,
			     size_t errlen);

/* Checks one override object (the shape above): channel is a channel code
 * ([a-z0-9_], 1 to 64), op, code, unified, effect, message_en and
 * message_zh are required strings; sub_code defaults to "*", retryable (a
 * boolean) to false, category to "none". The read-only keys that GET shows
 * ("source", "driver", "updated_at") are ignored, so that a row read can be
 * written back; any other key is refused. Fills *out (when not NULL) with
 * pointers borrowed from row (valid while row is), source
 * PR_CODE_OVERRIDE and owner the channel. Returns 0, or -EINVAL with err
 * "FIELD: reason" (the field name first, for the admin API's 400). */
int pr_code_override_check(json_t *row, struct pr_code *out, char *err,
			   size_t errlen);

/* The mapping for one channel answer, or NULL (unmapped). sub_code may be
 * NULL or "" (no sub code). The result lives as long as the map. */
const struct pr_code *pr_codemap_lookup(const struct pr_codemap *m,
					const char *driver, const char *channel,
					const char *op, const char *code,
					const char *sub_code);

/* payroute's own outcomes, not a channel's: "NO_CHANNEL" (no usable
 * channel), "CHANNEL_TIMEOUT" (sent, no answer: unknown),
 * "CHANNEL_UNREACHABLE" (certainly not sent: retryable), "BAD_RESPONSE"
 * (an answer that did not verify or parse: unknown), "UNMAPPED_CODE"
 * (unknown), "ORDER_EXPIRED" (closed), "ORDER_CLOSED" (closed by the
 * merchant), "PAYMENT_PROCESSING" (processing), "SUCCESS" (success),
 * "AMOUNT_MISMATCH" (unknown: the channel reports another amount),
 * "DRIVER_ERROR" (the driver could not build the request: failed,
 * retryable), "SETTLED_SUCCEEDED", "SETTLED_FAILED", "SETTLED_CLOSED" (an
 * operator's settlement). Returns NULL for any other name. */
const struct pr_code *pr_code_core(const char *unified);

/* The rows that apply to one channel (its overrides, then its driver's
 * defaults, each in table order), as a JSON array of objects in the shape
 * of pr_codemap_add_overrides plus "source" ("override" or "driver") and,
 * for a driver's row, "driver"; a new reference, or NULL when out of
 * memory. driver may be NULL (overrides only); channel may be NULL (the
 * driver's rows only, with "channel": null). */
json_t *pr_codemap_to_json(const struct pr_codemap *m, const char *driver,
			   const char *channel);

/* One mapping as a JSON object: op, code, sub_code, unified, effect,
 * retryable, category, message_en, message_zh, source ("core", "driver",
 * "override") and the owner as "channel" (an override) or "driver" (a
 * driver's row); a new reference, or NULL when out of memory. */
json_t *pr_code_to_json(const struct pr_code *c);

/* Names of effects and categories ("success", ..., "system") and back.
 * The parse functions return 0 or -EINVAL. */
const char *pr_effect_name(enum payroute_effect e);
int pr_effect_parse(const char *s, enum payroute_effect *out);
const char *pr_category_name(enum payroute_category c);
int pr_category_parse(const char *s, enum payroute_category *out);

/* 1 when s is one of the operation names of payroute_code_entry.op
 * ("pay" ... "notify", and "*" when allow_any). */
int pr_code_op_valid(const char *s, int allow_any);

#endif
