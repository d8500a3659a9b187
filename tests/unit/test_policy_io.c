/*
 * test_policy_io.c - the whole-policy document and the import plan
 * (core/domain/policy_io.c).
 *
 * The document's top level: one named row per shape, accepted or refused
 * with the field named. The plan: one named row per situation, the
 * stored policy and the document's (both already normalised, as
 * policy_transfer.c hands them over), and the exact change set (what
 * policy_apply() will write), the summary and the number of audit rows
 * expected; or the field a refused document names. Then the audit rows
 * themselves: masked images, no card HMAC anywhere people read, and the
 * ids of the whitelist entries created filled in after the write.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/policy_io.h"

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	if (!j)
		fail_msg("bad test JSON (%s): %s", je.text, text);
	return j;
}

/* ----------------------------------------------------------- document */

struct doc_row {
	const char *name;
	const char *doc;
	int ok;
	const char *field; /* when refused */
};

#define PARTS                                                                  \
	"\"channels\": [], \"whitelist\": [], \"rules\": [], "                 \
	"\"code_overrides\": []"

static const struct doc_row doc_rows[] = {
	{ "the four parts, empty", "{" PARTS "}", 1, NULL },
	{ "with format and exported_at",
	  "{\"format\": \"payroute-policy/1\", \"exported_at\": \"x\", " PARTS
	  "}",
	  1, NULL },
	{ "another format", "{\"format\": \"payroute-policy/2\", " PARTS "}", 0,
	  "format" },
	{ "format not a string", "{\"format\": 1, " PARTS "}", 0, "format" },
	{ "an unknown key", "{\"channel\": [], " PARTS "}", 0, "channel" },
	{ "no whitelist",
	  "{\"channels\": [], \"rules\": [], \"code_overrides\": []}", 0,
	  "whitelist" },
	{ "rules not an array",
	  "{\"channels\": [], \"whitelist\": [], \"rules\": {}, "
	  "\"code_overrides\": []}",
	  0, "rules" },
	{ "a channel that is not an object",
	  "{\"channels\": [{}, 7], \"whitelist\": [], \"rules\": [], "
	  "\"code_overrides\": []}",
	  0, "channels[1]" },
	{ "exported_at not a string", "{\"exported_at\": 5, " PARTS "}", 0,
	  "exported_at" },
};

static void test_doc_check(void **state)
{
	char field[64], err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(doc_rows) / sizeof(doc_rows[0]); i++) {
		const struct doc_row *r = &doc_rows[i];
		json_t *d = load(r->doc);
		int rc = pr_policy_doc_check(d, field, sizeof(field), err,
					     sizeof(err));

		if (r->ok && rc != 0)
			fail_msg("%s: refused: %s", r->name, err);
		if (!r->ok) {
			if (rc != -EINVAL)
				fail_msg("%s: accepted", r->name);
			if (strcmp(field, r->field) != 0)
				fail_msg("%s: field %s, expected %s (%s)",
					 r->name, field, r->field, err);
			if (strncmp(err, r->field, strlen(r->field)) != 0)
				fail_msg("%s: the message does not start "
					 "with the field: %s",
					 r->name, err);
		}
		json_decref(d);
	}
	/* not an object at all */
	{
		json_t *a = json_array();

		assert_int_equal(pr_policy_doc_check(a, field, sizeof(field),
						     err, sizeof(err)),
				 -EINVAL);
		json_decref(a);
	}
}

/* --------------------------------------------------------------- plan */

/* A channel as pr_chan_to_json renders it, cut down to what the plan
 * compares (every key counts the same). */
#define CH(code, weight, tmo, tmo_s)                                           \
	"{\"code\": \"" code "\", \"driver\": \"d\", \"weight\": " #weight     \
	", \"refund_timeout\": \"" tmo "\", \"refund_timeout_s\": " #tmo_s     \
	", \"driver_config\": {\"endpoint\": \"e\", \"api_key\": \"S3CRET\"}}"

#define HMAC_A                                                                 \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HMAC_B                                                                 \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

#define WL_CARD(id, hmac, hint, ch, note)                                      \
	"{\"id\": " #id ", \"kind\": \"card_no\", \"value\": \"" hmac          \
	"\", \"hint\": \"" hint "\", \"channel\": \"" ch                       \
	"\", \"note\": \"" note "\", \"expires_at\": null}"
#define WL_BUYER(id, v, ch)                                                    \
	"{\"id\": " #id ", \"kind\": \"buyer_id\", \"value\": \"" v            \
	"\", \"hint\": null, \"channel\": \"" ch "\", \"note\": \"\", "        \
	"\"expires_at\": null}"

#define OV(ch, code, unified)                                                  \
	"{\"channel\": \"" ch "\", \"op\": \"pay\", \"code\": \"" code         \
	"\", \"sub_code\": \"*\", \"unified\": \"" unified "\", "              \
	"\"effect\": \"failed\", \"retryable\": false, \"category\": "         \
	"\"none\", \"message_en\": \"m\", \"message_zh\": \"m\"}"

#define RULE(name) "{\"name\": \"" name "\", \"enabled\": true}"

/* The parts as one object: {"channels", "whitelist", "rules",
 * "overrides"}. */
struct plan_row {
	const char *name;
	const char *stored;
	const char *doc;
	/* expected: the refused field, or the change set, the summary (the
	 * parts named; the others must be empty) and the audit rows */
	const char *field;
	const char *changes;
	const char *summary;
	size_t n;
};

#define NOTHING_SUMMARY                                                        \
	"{\"channels\": {\"added\": [], \"changed\": [], \"removed\": [], "    \
	"\"unchanged\": 2}, \"whitelist\": {\"added\": [], \"changed\": [], "  \
	"\"removed\": [], \"unchanged\": 2}, \"rules\": {\"changed\": false, " \
	"\"before\": 1, \"after\": 1}, \"code_overrides\": {\"added\": [], "   \
	"\"changed\": [], \"removed\": [], \"unchanged\": 1}}"

#define BASE                                                                                                         \
	"{\"channels\": [" CH("c1", 10, "2d", 172800) ", " CH("c2", 20, "2d", 172800) "], \"whitelist\": [" WL_CARD( \
		1, HMAC_A, "1234", "c1",                                                                             \
		"vip") ", " WL_BUYER(2, "b2",                                                                        \
				     "c2") "], \"rules\": [" RULE("r1") "], "                                        \
									"\"overrides\": [" OV(                       \
										"c2",                                \
										"X",                                 \
										"FOO") "]}"

static const struct plan_row plan_rows[] = {
	{ "the same policy: nothing to do", BASE, BASE, NULL, "{}",
	  NOTHING_SUMMARY, 0 },
	{ "a channel's weight changed: saved, its field named", BASE,
	  "{\"channels\": [" CH("c1", 11, "2d", 172800) ", " CH("c2", 20, "2d", 172800) "], \"whitelist\": [" WL_CARD(
		  1, HMAC_A, "1234", "c1",
		  "vip") ", " WL_BUYER(2, "b2",
				       "c2") "], \"rules\": [" RULE("r1") "], \"overrides\": [" OV("c2",
												   "X",
												   "FOO") "]}",
	  NULL,
	  "{\"channels_save\": [{\"channel\": " CH(
		  "c1", 11, "2d", 172800) ", \"is_new\": false}]}",
	  "{\"channels\": {\"added\": [], \"changed\": [{\"code\": \"c1\", "
	  "\"fields\": [\"weight\"]}], \"removed\": [], \"unchanged\": 1}}",
	  1 },
	{ "the refund timeout changed: refund_timeout_s is not a field", BASE,
	  "{\"channels\": [" CH("c1", 10, "3d", 259200) ", " CH("c2", 20, "2d", 172800) "], \"whitelist\": [" WL_CARD(
		  1, HMAC_A, "1234", "c1",
		  "vip") ", " WL_BUYER(2, "b2",
				       "c2") "], \"rules\": [" RULE("r1") "], \"overrides\": [" OV("c2",
												   "X",
												   "FOO") "]}",
	  NULL,
	  "{\"channels_save\": [{\"channel\": " CH(
		  "c1", 10, "3d", 259200) ", \"is_new\": false}]}",
	  "{\"channels\": {\"added\": [], \"changed\": [{\"code\": \"c1\", "
	  "\"fields\": [\"refund_timeout\"]}], \"removed\": [], "
	  "\"unchanged\": 1}}",
	  1 },
	{ "a channel the document lacks is removed with what names it", BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) ", " CH(
		  "c3", 30, "2d",
		  172800) "], \"whitelist\": [" WL_CARD(1, HMAC_A, "1234", "c1",
							"vip") "], \"rules\": [" RULE("r1") "], \"overrides\": []}",
	  NULL,
	  "{\"channels_save\": [{\"channel\": " CH(
		  "c3", 30, "2d",
		  172800) ", \"is_new\": true}], \"channels_delete\": "
			  "[\"c2\"], \"whitelist_delete\": [2], "
			  "\"overrides_delete\": [{\"channel\": \"c2\", \"op\": "
			  "\"pay\", \"code\": \"X\", \"sub_code\": \"*\"}]}",
	  "{\"channels\": {\"added\": [\"c3\"], \"changed\": [], \"removed\": "
	  "[\"c2\"], \"unchanged\": 1}, \"whitelist\": {\"added\": [], "
	  "\"changed\": [], \"removed\": [{\"id\": 2, \"kind\": \"buyer_id\", "
	  "\"channel\": \"c2\", \"value\": \"b2\"}], \"unchanged\": 1}, "
	  "\"code_overrides\": {\"added\": [], \"changed\": [], \"removed\": "
	  "[\"c2/pay/X/*\"], \"unchanged\": 0}}",
	  4 },
	{ "the same code twice", BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) ", " CH(
		  "c1", 11, "2d",
		  172800) "], \"whitelist\": [], \"rules\": [], \"overrides\": []}",
	  "channels[1].code", NULL, NULL, 0 },
	{ "whitelist: a note changed, a card added (by its hint), one removed",
	  BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) ", " CH("c2", 20, "2d", 172800) "], \"whitelist\": [" WL_CARD(
		  1, HMAC_A, "1234", "c1",
		  "gold") ", " WL_CARD(0, HMAC_B, "9876", "c2",
				       "") "], \"rules\": [" RULE("r1") "], \"overrides\": [" OV("c2",
												 "X",
												 "FOO") "]}",
	  NULL,
	  "{\"whitelist_update\": [{\"id\": 1, \"note\": \"gold\", "
	  "\"expires_at\": null}], \"whitelist_insert\": [{\"kind\": "
	  "\"card_no\", \"value\": \"" HMAC_B "\", \"hint\": \"9876\", "
	  "\"channel\": \"c2\", \"note\": \"\", \"expires_at\": null}], "
	  "\"whitelist_delete\": [2]}",
	  "{\"whitelist\": {\"added\": [{\"kind\": \"card_no\", \"channel\": "
	  "\"c2\", \"value_hint\": \"9876\"}], \"changed\": [{\"id\": 1, "
	  "\"kind\": \"card_no\", \"channel\": \"c1\", \"value_hint\": "
	  "\"1234\", \"fields\": [\"note\"]}], \"removed\": [{\"id\": 2, "
	  "\"kind\": \"buyer_id\", \"channel\": \"c2\", \"value\": \"b2\"}], "
	  "\"unchanged\": 0}}",
	  3 },
	{ "a card moved to another channel: a new entry, the old removed", BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) ", " CH("c2", 20, "2d", 172800) "], \"whitelist\": [" WL_CARD(
		  1, HMAC_A, "1234", "c2",
		  "vip") ", " WL_BUYER(2, "b2",
				       "c2") "], \"rules\": [" RULE("r1") "], \"overrides\": [" OV("c2",
												   "X",
												   "FOO") "]}",
	  NULL,
	  "{\"whitelist_insert\": [{\"kind\": \"card_no\", \"value\": "
	  "\"" HMAC_A "\", \"hint\": \"1234\", \"channel\": \"c2\", \"note\": "
	  "\"vip\", \"expires_at\": null}], \"whitelist_delete\": [1]}",
	  "{\"whitelist\": {\"added\": [{\"kind\": \"card_no\", \"channel\": "
	  "\"c2\", \"value_hint\": \"1234\"}], \"changed\": [], \"removed\": "
	  "[{\"id\": 1, \"kind\": \"card_no\", \"channel\": \"c1\", "
	  "\"value_hint\": \"1234\"}], \"unchanged\": 1}}",
	  2 },
	{ "the same whitelist entry twice", BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) "], \"whitelist\": [" WL_BUYER(
		  0, "b",
		  "c1") ", " WL_BUYER(0, "b",
				      "c1") "], \"rules\": [], \"overrides\": []}",
	  "whitelist[1]", NULL, NULL, 0 },
	{ "the rules changed: replaced as a whole", BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) ", " CH("c2", 20, "2d", 172800) "], \"whitelist\": [" WL_CARD(
		  1, HMAC_A, "1234", "c1",
		  "vip") ", " WL_BUYER(2, "b2",
				       "c2") "], \"rules\": [" RULE("r0") ", " RULE("r1") "], \"overrides\": [" OV("c2",
														   "X",
														   "FOO") "]}",
	  NULL, "{\"rules\": [" RULE("r0") ", " RULE("r1") "]}",
	  "{\"rules\": {\"changed\": true, \"before\": 1, \"after\": 2}}", 1 },
	{ "an override changed and one added", BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) ", " CH("c2", 20, "2d", 172800) "], \"whitelist\": [" WL_CARD(
		  1, HMAC_A, "1234", "c1",
		  "vip") ", " WL_BUYER(2, "b2",
				       "c2") "], \"rules\": [" RULE("r1") "], \"overrides\": [" OV("c2",
												   "X",
												   "BAR") ", " OV("c1",
														  "Y",
														  "FOO") "]}",
	  NULL,
	  "{\"overrides_upsert\": [" OV("c2", "X", "BAR") ", " OV("c1", "Y",
								  "FOO") "]}",
	  "{\"code_overrides\": {\"added\": [\"c1/pay/Y/*\"], \"changed\": "
	  "[\"c2/pay/X/*\"], \"removed\": [], \"unchanged\": 0}}",
	  2 },
	{ "the same override twice", BASE,
	  "{\"channels\": [" CH("c1", 10, "2d", 172800) "], \"whitelist\": [], \"rules\": [], \"overrides\": [" OV(
		  "c1", "X", "A") ", " OV("c1", "X", "B") "]}",
	  "code_overrides[1]", NULL, NULL, 0 },
	{ "an empty document removes everything", BASE,
	  "{\"channels\": [], \"whitelist\": [], \"rules\": [], "
	  "\"overrides\": []}",
	  NULL,
	  "{\"channels_delete\": [\"c1\", \"c2\"], \"whitelist_delete\": [1, "
	  "2], \"rules\": [], \"overrides_delete\": [{\"channel\": \"c2\", "
	  "\"op\": \"pay\", \"code\": \"X\", \"sub_code\": \"*\"}]}",
	  "{\"channels\": {\"added\": [], \"changed\": [], \"removed\": "
	  "[\"c1\", \"c2\"], \"unchanged\": 0}, \"whitelist\": {\"added\": [], "
	  "\"changed\": [], \"removed\": [{\"id\": 1, \"kind\": \"card_no\", "
	  "\"channel\": \"c1\", \"value_hint\": \"1234\"}, {\"id\": 2, "
	  "\"kind\": \"buyer_id\", \"channel\": \"c2\", \"value\": \"b2\"}], "
	  "\"unchanged\": 0}, \"rules\": {\"changed\": true, \"before\": 1, "
	  "\"after\": 0}, \"code_overrides\": {\"added\": [], \"changed\": [], "
	  "\"removed\": [\"c2/pay/X/*\"], \"unchanged\": 0}}",
	  6 },
};

static void parts_of(json_t *o, struct pr_policy_parts *p)
{
	p->channels = json_object_get(o, "channels");
	p->whitelist = json_object_get(o, "whitelist");
	p->rules = json_object_get(o, "rules");
	p->overrides = json_object_get(o, "overrides");
}

/* The expected summary: the parts the row names, the others as the
 * document and the store have them unchanged (NOTHING_SUMMARY's, with
 * the unchanged counts of this document). */
static void check_summary(const struct plan_row *r, json_t *got)
{
	json_t *want = load(r->summary);
	const char *k;
	json_t *v;

	json_object_foreach(want, k, v) {
		if (!json_equal(v, json_object_get(got, k))) {
			char *a = json_dumps(json_object_get(got, k),
					     JSON_COMPACT | JSON_SORT_KEYS);
			char *b = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

			fail_msg("%s: summary.%s is\n%s\nexpected\n%s", r->name,
				 k, a, b);
		}
	}
	json_decref(want);
}

static void test_plan(void **state)
{
	char field[64], err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(plan_rows) / sizeof(plan_rows[0]); i++) {
		const struct plan_row *r = &plan_rows[i];
		json_t *so = load(r->stored), *dobj = load(r->doc), *want;
		struct pr_policy_parts s, d;
		struct pr_policy_plan p;
		int rc;

		parts_of(so, &s);
		parts_of(dobj, &d);
		rc = pr_policy_plan(&s, &d, &p, field, sizeof(field), err,
				    sizeof(err));
		if (r->field) {
			if (rc != -EINVAL)
				fail_msg("%s: accepted", r->name);
			if (strcmp(field, r->field) != 0)
				fail_msg("%s: field %s, expected %s (%s)",
					 r->name, field, r->field, err);
			assert_null(p.changes);
			json_decref(so);
			json_decref(dobj);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: refused: %s", r->name, err);
		want = load(r->changes);
		if (!json_equal(want, p.changes)) {
			char *a = json_dumps(p.changes, JSON_COMPACT);

			fail_msg("%s: changes\n%s\nexpected\n%s", r->name, a,
				 r->changes);
		}
		check_summary(r, p.summary);
		if (p.n_changes != r->n || json_array_size(p.audit) != r->n)
			fail_msg("%s: %zu changes, %zu audit rows, expected "
				 "%zu",
				 r->name, p.n_changes, json_array_size(p.audit),
				 r->n);
		json_decref(want);
		pr_policy_plan_clear(&p);
		json_decref(so);
		json_decref(dobj);
	}
}

/* What people read (summary and audit) never holds a secret or an HMAC;
 * the change set, which the store needs, does. */
static void test_audit_masked(void **state)
{
	const char *doc = "{\"channels\": [" CH("c1", 11, "2d", 172800) ", " CH(
		"c3", 1, "2d",
		172800) "], \"whitelist\": [" WL_CARD(0, HMAC_B, "9876", "c3",
						      "") "], \"rules\": [], \"overrides\": []}";
	json_t *so = load(BASE), *dobj = load(doc), *row, *after;
	struct pr_policy_parts s, d;
	struct pr_policy_plan p;
	char field[64], err[512], *text;
	size_t i;

	(void)state;
	parts_of(so, &s);
	parts_of(dobj, &d);
	assert_int_equal(pr_policy_plan(&s, &d, &p, field, sizeof(field), err,
					sizeof(err)),
			 0);
	text = json_dumps(p.changes, JSON_COMPACT);
	assert_non_null(strstr(text, "S3CRET"));
	assert_non_null(strstr(text, HMAC_B));
	free(text);
	text = json_dumps(p.summary, JSON_COMPACT);
	assert_null(strstr(text, "S3CRET"));
	assert_null(strstr(text, HMAC_A));
	assert_null(strstr(text, HMAC_B));
	free(text);
	text = json_dumps(p.audit, JSON_COMPACT);
	assert_null(strstr(text, "S3CRET"));
	assert_null(strstr(text, HMAC_A));
	assert_null(strstr(text, HMAC_B));
	assert_null(strstr(text, "refund_timeout_s"));
	assert_non_null(strstr(text, "\"api_key\":\"********\""));
	free(text);
	/* rows: update c1, create c3, delete c2, create card, delete 1 and
	 * 2, replace rules, delete override */
	assert_int_equal(json_array_size(p.audit), 8);
	row = json_array_get(p.audit, 0);
	assert_string_equal(json_string_value(json_object_get(row, "action")),
			    "update");
	assert_string_equal(json_string_value(json_object_get(row, "kind")),
			    "channel");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(row, "before"), "weight")),
			 10);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(row, "after"), "weight")),
			 11);
	/* the card created: no id until the store gives it */
	row = json_array_get(p.audit, 3);
	assert_string_equal(json_string_value(json_object_get(row, "kind")),
			    "whitelist");
	assert_true(json_is_null(json_object_get(row, "id")));
	{
		json_t *ids = load("[{\"id\": 41, \"kind\": \"card_no\", "
				   "\"value\": \"" HMAC_B "\", \"channel\": "
				   "\"c3\"}]");
		json_t *wrong = load("[{\"id\": 41, \"kind\": \"card_no\", "
				     "\"value\": \"" HMAC_A "\", \"channel\": "
				     "\"c3\"}]");

		assert_int_equal(pr_policy_audit_set_ids(&p, wrong), -ENOENT);
		assert_int_equal(pr_policy_audit_set_ids(&p, ids), 0);
		assert_string_equal(
			json_string_value(json_object_get(row, "id")), "41");
		after = json_object_get(row, "after");
		assert_int_equal(
			json_integer_value(json_object_get(after, "id")), 41);
		assert_string_equal(
			json_string_value(json_object_get(after, "value_hint")),
			"9876");
		json_decref(ids);
		json_decref(wrong);
	}
	/* every row names its object */
	json_array_foreach(p.audit, i, row) {
		assert_true(json_is_string(json_object_get(row, "id")));
		assert_true(json_is_string(json_object_get(row, "action")));
	}
	pr_policy_plan_clear(&p);
	json_decref(so);
	json_decref(dobj);
}

/* -------------------------------------------------------- merge patch */

/* RFC 7396, Appendix A: every example, then the channel edit the admin
 * API makes with it. */
static void test_merge_patch(void **state)
{
	static const struct {
		const char *target, *patch, *result;
	} rows[] = {
		{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"b\":\"c\"}",
		  "{\"a\":\"b\",\"b\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
		{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}",
		  "{\"b\":\"c\"}" },
		{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
		{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
		  "{\"a\":{\"b\":\"d\"}}" },
		{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
		{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
		{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
		{ "{\"a\":\"foo\"}", "null", "null" },
		{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
		{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
		{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
		{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}",
		  "{\"a\":{\"bb\":{}}}" },
		{ "{\"code\":\"c1\",\"weight\":10,\"limits\":{\"txn_min\":1,"
		  "\"daily_amount\":0}}",
		  "{\"weight\":60,\"limits\":{\"daily_amount\":500000}}",
		  "{\"code\":\"c1\",\"weight\":60,\"limits\":{\"txn_min\":1,"
		  "\"daily_amount\":500000}}" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *t = json_loads(rows[i].target, JSON_DECODE_ANY, NULL);
		json_t *p = json_loads(rows[i].patch, JSON_DECODE_ANY, NULL);
		json_t *want =
			json_loads(rows[i].result, JSON_DECODE_ANY, NULL);
		json_t *got;

		assert_non_null(t);
		assert_non_null(p);
		assert_non_null(want);
		got = pr_json_merge_patch(t, p);
		print_message("%s + %s\n", rows[i].target, rows[i].patch);
		assert_non_null(got);
		assert_true(json_equal(got, want));
		json_decref(got);
		json_decref(p);
		json_decref(want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_check),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_audit_masked),
		cmocka_unit_test(test_merge_patch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
