/*
 * policy_api.h - the admin API for the routing policy: channels (CRUD and a
 * quick status switch), the whitelist, the routing rules and the result-code
 * overrides, each change validated, audited and announced to every instance
 * (NOTIFY) by a policy write (policy_write.h); the whole policy exported and
 * replaced as one document; and the reads that go with them (a channel's
 * effective code table, the unmapped-code report, the audit log).
 *
 * Reads are one query each on the views of migration 002 (channels_api,
 * whitelist_api, routing_rules_api), with secrets masked before they
 * leave.
 *
 * One file a resource: policy_channels.c, policy_whitelist.c,
 * policy_rules.c, policy_codes.c, policy_audit.c and policy_transfer.c
 * (export and import). The import checks a document with the checks of
 * each resource's own endpoint: those are declared here too, with the file
 * they live in.
 */
#ifndef PR_POLICY_API_H
#define PR_POLICY_API_H

#include <stddef.h>

#include <jansson.h>

#include "domain/codemap.h"
#include "runtime/config.h"
#include "runtime/daemon.h"
#include "admin/policy_write.h"
#include "base/route.h"

/* The handlers of the admin listener's route table (admin.c), one a path
 * and method; the caller has checked the admin token, the method and the
 * named segments ({code}: pr_policy_code_ok; {id}: pr_route_id_ok). Each
 * answers r. */
void pr_policy_channels_list(struct pr_request *r,
			     const struct pr_route_match *m);
void pr_policy_channel_create(struct pr_request *r,
			      const struct pr_route_match *m);
void pr_policy_channel_get(struct pr_request *r,
			   const struct pr_route_match *m);
void pr_policy_channel_put(struct pr_request *r,
			   const struct pr_route_match *m);
void pr_policy_channel_patch(struct pr_request *r,
			     const struct pr_route_match *m);
void pr_policy_channel_delete(struct pr_request *r,
			      const struct pr_route_match *m);
void pr_policy_channel_weight(struct pr_request *r,
			      const struct pr_route_match *m);
void pr_policy_channel_status(struct pr_request *r,
			      const struct pr_route_match *m);
void pr_policy_whitelist_list(struct pr_request *r,
			      const struct pr_route_match *m);
void pr_policy_whitelist_add(struct pr_request *r,
			     const struct pr_route_match *m);
void pr_policy_whitelist_delete(struct pr_request *r,
				const struct pr_route_match *m);
void pr_policy_rules_get(struct pr_request *r, const struct pr_route_match *m);
void pr_policy_rules_put(struct pr_request *r, const struct pr_route_match *m);
void pr_policy_codes_get(struct pr_request *r, const struct pr_route_match *m);
void pr_policy_overrides_get(struct pr_request *r,
			     const struct pr_route_match *m);
void pr_policy_overrides_put(struct pr_request *r,
			     const struct pr_route_match *m);
void pr_policy_overrides_delete(struct pr_request *r,
				const struct pr_route_match *m);
void pr_policy_unmapped_get(struct pr_request *r,
			    const struct pr_route_match *m);
void pr_policy_audit_get(struct pr_request *r, const struct pr_route_match *m);
void pr_policy_export(struct pr_request *r, const struct pr_route_match *m);
void pr_policy_import(struct pr_request *r, const struct pr_route_match *m);

/* ------------------------------------------------ policy_channels.c */

/* 1 when s is a channel code: 1 to 64 of a-z, 0-9 and _. */
int pr_policy_code_ok(const char *s);

/* The channel ch with driver_config masked (a new reference): the
 * secret-looking keys (pr_mask_secrets) and the keys its driver declares
 * secret when gen has that driver loaded. */
json_t *pr_policy_chan_masked(const struct pr_generation *gen, json_t *ch);

/* Masks, in place, the keys of channel ch's driver_config that its driver
 * declares secret (ABI 1.2), when gen has that driver loaded. */
void pr_policy_chan_mask_declared(const struct pr_generation *gen, json_t *ch);

/* Puts the stored secrets (stored, an object or NULL) back where given
 * holds the mask "********", recursively; path names given in the field
 * of a refusal ("driver_config"). Returns 0, or -1 after pr_pw_fail (a
 * mask where nothing is stored). */
int pr_policy_unmask(struct pr_pw *w, json_t *given, json_t *stored,
		     const char *path);

/* Parses and checks channel ch as every channel write does (see
 * policy_channels.c). prefix ("" or "channels[2].") goes before every
 * field named; code, when not NULL, is the code the channel must have;
 * same_as, when not NULL, is the stored channel normalised: when ch is the
 * same, its driver is not asked again. On success *norm is the channel
 * normalised with "refund_timeout_s" (a new reference). Returns 0, or -1
 * after pr_pw_fail. */
int pr_policy_chan_check(struct pr_pw *w, json_t *ch, const char *prefix,
			 const char *code, json_t *same_as, json_t **norm);

/* ----------------------------------------------- policy_whitelist.c */

/* A refusal found before a write starts (or, for an import, inside it). */
struct pr_policy_refusal {
	int status;
	const char *code;
	char field[96];
	char msg[640];
};

/* A whitelist entry as pr_policy_wl_check found it. The strings are
 * borrowed from the body (value: from hmac for a card), hmac is owned
 * (pr_policy_wl_in_clear). */
struct pr_policy_wl_in {
	const char *kind, *value, *channel, *note, *expires;
	char hint[5];
	char *hmac;
	json_int_t id; /* an import's "id" (0: none) */
};

/* Wipes and frees the HMAC of in, and zeroes it. */
void pr_policy_wl_in_clear(struct pr_policy_wl_in *in);

/* Checks a whitelist entry as POST /admin/v1/whitelist takes it; a card
 * number is replaced by its HMAC (with cfg's secret key; the number is
 * wiped from the body) before anything else sees it. import: the entry
 * comes from a policy document, which may also carry what GET shows (id,
 * value_hint, created_at, created_by: read only), and a card entry
 * without its number when it names the stored entry by id (in->value
 * NULL: the caller finds it). prefix ("" or "whitelist[3].") goes before
 * every field named. Returns 0, or -1 with f filled; in is to be cleared
 * either way. */
int pr_policy_wl_check(const struct pr_config *cfg, json_t *body,
		       const char *prefix, int import,
		       struct pr_policy_wl_in *in, struct pr_policy_refusal *f);

/* -------------------------------------------------- policy_rules.c */

/* 1 when code is in the JSON array of strings codes. */
int pr_policy_has_code(json_t *codes, const char *code);

/* Checks the rules given (a JSON array, in order) as PUT
 * /admin/v1/routing/rules does, their allow and deny lists naming
 * channels of codes (a JSON array of strings). Fields are named
 * "rules[I]...". On success *norm is the normalised list, without ids (a
 * new reference). Returns 0, or -1 after pr_pw_fail. */
int pr_policy_rules_check(struct pr_pw *w, json_t *given, json_t *codes,
			  json_t **norm);

/* -------------------------------------------------- policy_codes.c */

/* One row of code_overrides as JSON, in SQL (o is the table's alias). */
#define PR_POLICY_OVERRIDE_JSON                                                \
	"json_build_object('channel', o.channel, 'op', o.op, 'code', o.code, " \
	"'sub_code', o.sub_code, 'unified', o.unified, 'effect', o.effect, "   \
	"'retryable', o.retryable, 'category', o.category, 'message_en', "     \
	"o.message_en, 'message_zh', o.message_zh, 'updated_at', "             \
	"pr_rfc3339(o.updated_at))"

/* An override as the store writes it (defaults filled in by
 * pr_code_override_check); a new reference or NULL. */
json_t *pr_policy_code_norm(const struct pr_code *c);

#endif
