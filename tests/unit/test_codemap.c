/*
 * test_codemap.c - the unified result codes (core/domain/codemap.c), as tables
 * that read like the spec (doc/design.md §8, codemap.h).
 *
 *   lookup_cases    one fixed map (two drivers' defaults, two channels'
 *                   overrides) and one named row per question: which row
 *                   answers (specificity: exact sub_code 4, code 2, op 1;
 *                   the earlier row on a tie), a missing sub code, an
 *                   override beating any default, unmapped answers, and
 *                   that another driver's table is never consulted;
 *   row_cases       a driver row broken one field at a time: the error
 *                   names the driver, the row and the field;
 *   override_cases  operators' JSON overrides: errors name the entry and
 *                   the field ("codes[1].effect: ...");
 *   the core rows, names, JSON, pr_gen_set_codes / pr_codes_build, and the
 *   default tables of the real drivers (alipay, wechat, bank), loaded from
 *   the build tree with the core's loader: all must load without error.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "domain/codemap.h"
#include "runtime/generation.h"
#include "runtime/loader.h"
#include "runtime/log.h"

#ifndef TEST_TOP_BUILDDIR
#error "TEST_TOP_BUILDDIR (the build tree holding drivers/*/.libs) is needed"
#endif

#define E(x) PAYROUTE_EFFECT_##x
#define C(x) PAYROUTE_CAT_##x

/* JSON in the tables uses single quotes; they become double quotes. */
static json_t *js(const char *text)
{
	char *t = strdup(text);
	json_error_t e;
	json_t *j;

	assert_non_null(t);
	for (char *p = t; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	j = json_loads(t, JSON_DECODE_ANY, &e);
	if (!j)
		fail_msg("bad test JSON (%s): %s", e.text, t);
	free(t);
	return j;
}

/* ------------------------------------------------------- the fixed map */

static const struct payroute_code_entry spec_rows[] = {
	/* 0 */ { "*", "SYSTEM_ERROR", "*", "SYS", E(UNKNOWN), 0, C(SYSTEM),
		  "Confirming.", "确认中。" },
	/* 1 */
	{ "pay", "40004", "*", "PAY_REFUSED", E(FAILED), 0, C(CHANNEL),
	  "Refused.", "被拒绝。" },
	/* 2 */
	{ "pay", "40004", "NO_MONEY", "INSUFFICIENT_BALANCE", E(FAILED), 0,
	  C(USER), "Insufficient balance.", "余额不足。" },
	/* 3 */
	{ "*", "40004", "NO_MONEY", "NO_MONEY_ANY_OP", E(FAILED), 0, C(USER),
	  "Insufficient balance.", "余额不足。" },
	/* 4 */
	{ "query", "*", "*", "QUERY_ANY", E(UNKNOWN), 0, C(NONE), "Checking.",
	  "查询中。" },
	/* 5 */
	{ "query", "10000", "*", "QUERY_OK", E(SUCCESS), 0, C(NONE), "Paid.",
	  "已支付。" },
	/* 6 */
	{ "*", "*", "TRADE_CLOSED", "CLOSED_ANY", E(CLOSED), 0, C(NONE),
	  "Closed.", "已关闭。" },
	/* 7 */
	{ "*", "10000", "*", "OK", E(SUCCESS), 0, C(NONE), "OK.", "成功。" },
	/* 8 */
	{ "*", "10000", "*", "OK_LATER_ROW", E(SUCCESS), 0, C(NONE), "OK.",
	  "成功。" },
	/* 9 */
	{ "pay", "SYSTEM_BUSY", "*", "SYSTEM_BUSY", E(FAILED), 1, C(SYSTEM),
	  "Busy.", "繁忙。" },
};

static const struct payroute_code_entry other_rows[] = {
	{ "*", "40004", "*", "OTHER_DRIVER", E(FAILED), 0, C(NONE), "Other.",
	  "其他。" },
};

static const char fixed_overrides[] =
	"[{'channel':'ch1','op':'pay','code':'40004','unified':'CH1_REFUSED',"
	"'effect':'failed','retryable':true,'category':'limit',"
	"'message_en':'Limit.','message_zh':'限额。'},"
	"{'channel':'ch2','op':'*','code':'*','sub_code':'*',"
	"'unified':'CH2_ALL','effect':'unknown','message_en':'All.',"
	"'message_zh':'全部。'}]";

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))

static struct pr_codemap *fixed_map(void)
{
	struct pr_codemap *m = pr_codemap_new();
	json_t *o = js(fixed_overrides);
	char err[512] = "";

	assert_non_null(m);
	assert_int_equal(
		pr_codemap_add_driver(m, "spec", spec_rows, N_ROWS(spec_rows),
				      sizeof(spec_rows[0]), err, sizeof(err)),
		0);
	assert_int_equal(pr_codemap_add_driver(
				 m, "other", other_rows, N_ROWS(other_rows),
				 sizeof(other_rows[0]), err, sizeof(err)),
			 0);
	if (pr_codemap_add_overrides(m, o, err, sizeof(err)) != 0)
		fail_msg("overrides: %s", err);
	json_decref(o);
	return m;
}

struct lookup_case {
	const char *name;
	const char *driver, *channel, *op, *code, *sub;
	const char *unified; /* NULL: unmapped */
	enum pr_code_source source;
};

#define DRV PR_CODE_DRIVER
#define OVR PR_CODE_OVERRIDE

static const struct lookup_case lookup_cases[] = {
	/* ---------------------------------------------- specificity */
	{ "op+code+sub (7) beats op+code (3)", "spec", NULL, "pay", "40004",
	  "NO_MONEY", "INSUFFICIENT_BALANCE", DRV },
	{ "another sub code: op+code (3)", "spec", NULL, "pay", "40004",
	  "OTHER", "PAY_REFUSED", DRV },
	{ "missing sub code (NULL) matches only sub_code *", "spec", NULL,
	  "pay", "40004", NULL, "PAY_REFUSED", DRV },
	{ "missing sub code (\"\") is the same", "spec", NULL, "pay", "40004",
	  "", "PAY_REFUSED", DRV },
	{ "wildcard op: code+sub (6) on another op", "spec", NULL, "refund",
	  "40004", "NO_MONEY", "NO_MONEY_ANY_OP", DRV },
	{ "an exact sub code (4) beats op+code (3)", "spec", NULL, "query",
	  "10000", "TRADE_CLOSED", "CLOSED_ANY", DRV },
	{ "wildcard op and code: the sub code alone", "spec", NULL, "close",
	  "20000", "TRADE_CLOSED", "CLOSED_ANY", DRV },
	{ "op+code (3) beats code (2) and op (1)", "spec", NULL, "query",
	  "10000", "", "QUERY_OK", DRV },
	{ "op alone (1): wildcard code and sub", "spec", NULL, "query", "99999",
	  "X", "QUERY_ANY", DRV },
	{ "code (2) beats op (1)", "spec", NULL, "query", "SYSTEM_ERROR", "",
	  "SYS", DRV },
	{ "wildcard op and sub: the code on any op", "spec", NULL, "notify",
	  "SYSTEM_ERROR", "ANY.SUB", "SYS", DRV },
	{ "a tie goes to the earlier row", "spec", NULL, "pay", "10000", "",
	  "OK", DRV },
	/* ------------------------------------------------ unmapped */
	{ "nothing matches: unmapped", "spec", NULL, "refund", "55555", "",
	  NULL, DRV },
	{ "codes are case-sensitive", "spec", NULL, "close", "system_error", "",
	  NULL, DRV },
	{ "another driver's rows are not consulted", "spec", NULL, "refund",
	  "40004", "", NULL, DRV },
	{ "the other driver's own table", "other", NULL, "refund", "40004", "",
	  "OTHER_DRIVER", DRV },
	{ "an unknown driver maps nothing", "nope", NULL, "pay", "10000", "",
	  NULL, DRV },
	{ "NULL op and code match only wildcards", "spec", NULL, NULL, NULL,
	  NULL, NULL, DRV },
	/* ------------------------------------------------ overrides */
	{ "an override beats a more specific default", "spec", "ch1", "pay",
	  "40004", "NO_MONEY", "CH1_REFUSED", OVR },
	{ "no override matches: the driver's default", "spec", "ch1", "pay",
	  "10000", "", "OK", DRV },
	{ "a catch-all override beats every default", "spec", "ch2", "query",
	  "10000", "", "CH2_ALL", OVR },
	{ "a catch-all override maps what nobody else does", "spec", "ch2",
	  "refund", "55555", "", "CH2_ALL", OVR },
	{ "a channel without overrides: the driver's table", "spec", "ch3",
	  "pay", "40004", "NO_MONEY", "INSUFFICIENT_BALANCE", DRV },
	{ "no driver: overrides only", NULL, "ch1", "pay", "10000", "", NULL,
	  OVR },
	{ "no driver: an override", NULL, "ch1", "pay", "40004", "",
	  "CH1_REFUSED", OVR },
	{ "a channel's overrides do not apply to another", "spec", "ch3",
	  "refund", "55555", "", NULL, DRV },
};

static void test_lookup_table(void **state)
{
	struct pr_codemap *m = fixed_map();
	int bad = 0;

	for (size_t i = 0; i < N_ROWS(lookup_cases); i++) {
		const struct lookup_case *t = &lookup_cases[i];
		const struct pr_code *c = pr_codemap_lookup(
			m, t->driver, t->channel, t->op, t->code, t->sub);
		const char *got = c ? c->unified : NULL;

		if ((got == NULL) != (t->unified == NULL) ||
		    (got && strcmp(got, t->unified) != 0)) {
			print_error("case \"%s\": expected %s, got %s\n",
				    t->name, t->unified ? t->unified : "NULL",
				    got ? got : "NULL");
			bad++;
			continue;
		}
		if (c && c->source != t->source) {
			print_error("case \"%s\": source %d, expected %d\n",
				    t->name, c->source, t->source);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	pr_codemap_free(m);
}

/* The fields of a found row are those of the table, owned by the map. */
static void test_lookup_fields(void **state)
{
	struct pr_codemap *m = fixed_map();
	const struct pr_code *c;

	c = pr_codemap_lookup(m, "spec", NULL, "pay", "SYSTEM_BUSY", "");
	assert_non_null(c);
	assert_string_equal(c->op, "pay");
	assert_string_equal(c->code, "SYSTEM_BUSY");
	assert_string_equal(c->sub_code, "*");
	assert_int_equal(c->effect, PAYROUTE_EFFECT_FAILED);
	assert_int_equal(c->retryable, 1);
	assert_int_equal(c->category, PAYROUTE_CAT_SYSTEM);
	assert_string_equal(c->message_en, "Busy.");
	assert_string_equal(c->message_zh, "繁忙。");
	assert_int_equal(c->source, PR_CODE_DRIVER);
	assert_string_equal(c->owner, "spec");
	assert_ptr_not_equal(c->unified, spec_rows[9].unified);

	c = pr_codemap_lookup(m, "spec", "ch1", "pay", "40004", "");
	assert_non_null(c);
	assert_string_equal(c->sub_code, "*"); /* the default */
	assert_int_equal(c->retryable, 1);
	assert_int_equal(c->category, PAYROUTE_CAT_LIMIT);
	assert_int_equal(c->source, PR_CODE_OVERRIDE);
	assert_string_equal(c->owner, "ch1");

	c = pr_codemap_lookup(m, "spec", "ch2", "pay", "1", "");
	assert_non_null(c);
	assert_int_equal(c->category, PAYROUTE_CAT_NONE); /* the default */
	assert_int_equal(c->retryable, 0);
	pr_codemap_free(m);

	assert_null(pr_codemap_lookup(NULL, "spec", "ch1", "pay", "1", ""));
	m = pr_codemap_new();
	assert_null(pr_codemap_lookup(m, "spec", "ch1", "pay", "40004", ""));
	pr_codemap_free(m);
	pr_codemap_free(NULL);
}

/* ------------------------------------------------------ driver rows */

struct row_case {
	const char *name;
	void (*mutate)(struct payroute_code_entry *e);
	int expect;	    /* 0 or -EINVAL */
	const char *needle; /* in the error */
};

static char long64[65], zh255[255 * 3 + 1], zh256[256 * 3 + 1];

static void fill_long(void)
{
	memset(long64, 'A', 64);
	long64[64] = '\0';
	for (int i = 0; i < 256; i++) {
		memcpy(zh256 + 3 * i, "好", 3);
		if (i < 255)
			memcpy(zh255 + 3 * i, "好", 3);
	}
	zh255[255 * 3] = '\0';
	zh256[256 * 3] = '\0';
}

static void m_none(struct payroute_code_entry *e)
{
	(void)e;
}
static void m_op(struct payroute_code_entry *e)
{
	e->op = "payy";
}
static void m_op_null(struct payroute_code_entry *e)
{
	e->op = NULL;
}
static void m_op_any(struct payroute_code_entry *e)
{
	e->op = "*";
}
static void m_op_notify(struct payroute_code_entry *e)
{
	e->op = "notify";
}
static void m_code_empty(struct payroute_code_entry *e)
{
	e->code = "";
}
static void m_code_long(struct payroute_code_entry *e)
{
	e->code = long64;
}
static void m_code_63(struct payroute_code_entry *e)
{
	e->code = long64 + 1;
}
static void m_sub_empty(struct payroute_code_entry *e)
{
	e->sub_code = "";
}
static void m_sub_null(struct payroute_code_entry *e)
{
	e->sub_code = NULL;
}
static void m_uni_lower(struct payroute_code_entry *e)
{
	e->unified = "Insufficient_balance";
}
static void m_uni_digit(struct payroute_code_entry *e)
{
	e->unified = "1ABC";
}
static void m_uni_dash(struct payroute_code_entry *e)
{
	e->unified = "NOT-OK";
}
static void m_uni_long(struct payroute_code_entry *e)
{
	e->unified = long64;
}
static void m_uni_empty(struct payroute_code_entry *e)
{
	e->unified = "";
}
static void m_effect(struct payroute_code_entry *e)
{
	e->effect = (enum payroute_effect)9;
}
static void m_category(struct payroute_code_entry *e)
{
	e->category = (enum payroute_category)17;
}
static void m_retry_success(struct payroute_code_entry *e)
{
	e->effect = PAYROUTE_EFFECT_SUCCESS;
	e->retryable = 1;
}
static void m_retry_unknown(struct payroute_code_entry *e)
{
	e->effect = PAYROUTE_EFFECT_UNKNOWN;
	e->retryable = 1;
}
static void m_retry_failed(struct payroute_code_entry *e)
{
	e->effect = PAYROUTE_EFFECT_FAILED;
	e->retryable = 7; /* any non-zero: stored as 1 */
}
static void m_en_empty(struct payroute_code_entry *e)
{
	e->message_en = "";
}
static void m_zh_null(struct payroute_code_entry *e)
{
	e->message_zh = NULL;
}
static void m_zh_255(struct payroute_code_entry *e)
{
	e->message_zh = zh255;
}
static void m_zh_256(struct payroute_code_entry *e)
{
	e->message_zh = zh256;
}

static const struct row_case row_cases[] = {
	{ "a good row", m_none, 0, NULL },
	{ "op * is any operation", m_op_any, 0, NULL },
	{ "op notify", m_op_notify, 0, NULL },
	{ "an unknown op", m_op, -EINVAL, "row 1 (op payy, code X, " },
	{ "an unknown op: the field", m_op, -EINVAL, "): op: one of pay," },
	{ "a NULL op", m_op_null, -EINVAL, "row 1: a string is NULL" },
	{ "an empty code", m_code_empty, -EINVAL, "code: 1 to 63" },
	{ "a 64-character code", m_code_long, -EINVAL, "code: 1 to 63" },
	{ "a 63-character code", m_code_63, 0, NULL },
	{ "an empty sub_code", m_sub_empty, -EINVAL, "sub_code: 1 to 63" },
	{ "a NULL sub_code", m_sub_null, -EINVAL, "a string is NULL" },
	{ "unified in lower case", m_uni_lower, -EINVAL, "unified: [A-Z]" },
	{ "unified starting with a digit", m_uni_digit, -EINVAL, "unified:" },
	{ "unified with a dash", m_uni_dash, -EINVAL, "unified:" },
	{ "unified of 64 characters", m_uni_long, -EINVAL, "unified:" },
	{ "an empty unified", m_uni_empty, -EINVAL, "unified:" },
	{ "an effect out of range", m_effect, -EINVAL, "effect: one of" },
	{ "a category out of range", m_category, -EINVAL, "category: one of" },
	{ "retryable with effect success", m_retry_success, -EINVAL,
	  "retryable: only an answer with effect failed" },
	{ "retryable with effect unknown", m_retry_unknown, -EINVAL,
	  "(this one is unknown)" },
	{ "retryable with effect failed", m_retry_failed, 0, NULL },
	{ "an empty English message", m_en_empty, -EINVAL, "message_en: 1 to" },
	{ "a NULL Chinese message", m_zh_null, -EINVAL, "a string is NULL" },
	{ "255 Chinese characters (765 bytes)", m_zh_255, 0, NULL },
	{ "256 Chinese characters", m_zh_256, -EINVAL, "message_zh: 1 to 255" },
};

static void test_driver_rows(void **state)
{
	int bad = 0;

	fill_long();
	for (size_t i = 0; i < N_ROWS(row_cases); i++) {
		const struct row_case *t = &row_cases[i];
		struct payroute_code_entry rows[2] = {
			{ "pay", "OK", "*", "SUCCESS", E(SUCCESS), 0, C(NONE),
			  "Paid.", "成功。" },
			{ "pay", "X", "*", "PAYMENT_FAILED", E(FAILED), 0,
			  C(CHANNEL), "Failed.", "失败。" },
		};
		struct pr_codemap *m = pr_codemap_new();
		char err[512] = "";
		int rc;

		assert_non_null(m);
		t->mutate(&rows[1]);
		rc = pr_codemap_add_driver(m, "drv", rows, 2, sizeof(rows[0]),
					   err, sizeof(err));
		if (rc != t->expect) {
			print_error("case \"%s\": rc %d, expected %d (%s)\n",
				    t->name, rc, t->expect, err);
			bad++;
		} else if (rc < 0 &&
			   (!strstr(err, t->needle) ||
			    strncmp(err, "driver drv: code table row 1", 28))) {
			print_error("case \"%s\": \"%s\" does not name the "
				    "driver and row and say \"%s\"\n",
				    t->name, err, t->needle);
			bad++;
		} else if (rc < 0 &&
			   pr_codemap_lookup(m, "drv", NULL, "pay", "OK", "")) {
			print_error("case \"%s\": a refused table was added "
				    "in part\n",
				    t->name);
			bad++;
		} else if (rc == 0 && !pr_codemap_lookup(m, "drv", NULL, "pay",
							 "OK", "")) {
			print_error("case \"%s\": row 0 not found\n", t->name);
			bad++;
		}
		pr_codemap_free(m);
	}
	assert_int_equal(bad, 0);
}

/* A driver built against a later minor, whose rows have grown. */
struct entry_v2 {
	struct payroute_code_entry v1;
	const char *extra;
};

static void test_driver_table_shape(void **state)
{
	static const struct entry_v2 big[2] = {
		{ { "pay", "A", "*", "FIRST", E(SUCCESS), 0, C(NONE), "a",
		    "甲" },
		  "x" },
		{ { "pay", "B", "*", "SECOND", E(FAILED), 1, C(USER), "b",
		    "乙" },
		  "y" },
	};
	struct pr_codemap *m = pr_codemap_new();
	const struct pr_code *c;
	char err[256] = "";

	/* rows read with the driver's stride */
	assert_int_equal(pr_codemap_add_driver(m, "big", &big[0].v1, 2,
					       sizeof(big[0]), err,
					       sizeof(err)),
			 0);
	c = pr_codemap_lookup(m, "big", NULL, "pay", "B", NULL);
	assert_non_null(c);
	assert_string_equal(c->unified, "SECOND");
	assert_int_equal(c->category, PAYROUTE_CAT_USER);
	/* a second table for the same driver */
	assert_int_equal(pr_codemap_add_driver(m, "big", spec_rows, 1,
					       sizeof(spec_rows[0]), err,
					       sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "driver big: its code table was added"));
	/* rows smaller than the v1 entry */
	assert_int_equal(pr_codemap_add_driver(m, "small", spec_rows, 1,
					       sizeof(spec_rows[0]) - 8, err,
					       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "smaller than"));
	/* rows missing */
	assert_int_equal(pr_codemap_add_driver(m, "none", NULL, 3,
					       sizeof(spec_rows[0]), err,
					       sizeof(err)),
			 -EINVAL);
	/* no name */
	assert_int_equal(pr_codemap_add_driver(m, "", spec_rows, 1,
					       sizeof(spec_rows[0]), err,
					       sizeof(err)),
			 -EINVAL);
	/* an empty table is a table: added once */
	assert_int_equal(pr_codemap_add_driver(m, "empty", NULL, 0, 0, err,
					       sizeof(err)),
			 0);
	assert_int_equal(pr_codemap_add_driver(m, "empty", NULL, 0, 0, err,
					       sizeof(err)),
			 -EEXIST);
	assert_null(pr_codemap_lookup(m, "empty", NULL, "pay", "A", NULL));
	/* drivers added in any order are all found */
	assert_int_equal(
		pr_codemap_add_driver(m, "aaa", spec_rows, N_ROWS(spec_rows),
				      sizeof(spec_rows[0]), err, sizeof(err)),
		0);
	assert_non_null(pr_codemap_lookup(m, "aaa", NULL, "pay", "10000", ""));
	assert_non_null(pr_codemap_lookup(m, "big", NULL, "pay", "A", ""));
	pr_codemap_free(m);
}

/* -------------------------------------------------------- overrides */

#define GOOD_O                                                                 \
	"'channel':'ch1','op':'pay','code':'40004','unified':'X',"             \
	"'effect':'failed','message_en':'x','message_zh':'x'"

struct override_case {
	const char *name;
	const char *json; /* the array of overrides */
	int expect;
	const char *prefix; /* the error starts with it */
	const char *needle; /* and contains it */
};

static const struct override_case override_cases[] = {
	{ "NULL adds nothing", NULL, 0, NULL, NULL },
	{ "[] adds nothing", "[]", 0, NULL, NULL },
	{ "null adds nothing", "null", 0, NULL, NULL },
	{ "a good override", "[{" GOOD_O "}]", 0, NULL, NULL },
	{ "read-only keys of GET are ignored",
	  "[{" GOOD_O ",'source':'override','driver':'alipay',"
	  "'updated_at':'2025-01-01T00:00:00Z'}]",
	  0, NULL, NULL },
	{ "not an array", "{}", -EINVAL, "codes: expected an array", NULL },
	{ "an entry that is not an object", "[{" GOOD_O "},3]", -EINVAL,
	  "codes[1]: expected an object", NULL },
	{ "an unknown effect",
	  "[{'channel':'ch1','op':'pay','code':'1','unified':'X',"
	  "'effect':'win','message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].effect: one of success, failed",
	  "(override ch1/pay/1/*)" },
	{ "an effect that is not a string",
	  "[{'channel':'ch1','op':'pay','code':'1','unified':'X',"
	  "'effect':2,'message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].effect: expected a string", NULL },
	{ "the second entry is named",
	  "[{" GOOD_O "},{'channel':'ch1','op':'query','code':'1',"
	  "'sub_code':'S','unified':'X','effect':'success','category':'nope',"
	  "'message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[1].category: one of none, user",
	  "(override ch1/query/1/S)" },
	{ "unified missing",
	  "[{'channel':'ch1','op':'pay','code':'1','effect':'failed',"
	  "'message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].unified: required", NULL },
	{ "unified in lower case",
	  "[{'channel':'ch1','op':'pay','code':'1','unified':'lower',"
	  "'effect':'failed','message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].unified: [A-Z]", NULL },
	{ "channel missing",
	  "[{'op':'pay','code':'1','unified':'X','effect':'failed',"
	  "'message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].channel: required", "(override ?/pay/1/*)" },
	{ "a channel code with capitals",
	  "[{'channel':'Ch1','op':'pay','code':'1','unified':'X',"
	  "'effect':'failed','message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].channel: a channel code", NULL },
	{ "an unknown op",
	  "[{'channel':'ch1','op':'charge','code':'1','unified':'X',"
	  "'effect':'failed','message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].op: one of pay", NULL },
	{ "an empty code",
	  "[{'channel':'ch1','op':'pay','code':'','unified':'X',"
	  "'effect':'failed','message_en':'x','message_zh':'x'}]",
	  -EINVAL, "codes[0].code: 1 to 63", NULL },
	{ "an empty sub_code",
	  "[{'channel':'ch1','op':'pay','code':'1','sub_code':'',"
	  "'unified':'X','effect':'failed','message_en':'x',"
	  "'message_zh':'x'}]",
	  -EINVAL, "codes[0].sub_code: 1 to 63", NULL },
	{ "retryable that is not a boolean", "[{" GOOD_O ",'retryable':1}]",
	  -EINVAL, "codes[0].retryable: expected true or false", NULL },
	{ "retryable with effect success",
	  "[{'channel':'ch1','op':'pay','code':'1','unified':'X',"
	  "'effect':'success','retryable':true,'message_en':'x',"
	  "'message_zh':'x'}]",
	  -EINVAL, "codes[0].retryable: only an answer with effect failed",
	  NULL },
	{ "retryable false with effect success",
	  "[{'channel':'ch1','op':'pay','code':'1','unified':'X',"
	  "'effect':'success','retryable':false,'message_en':'x',"
	  "'message_zh':'x'}]",
	  0, NULL, NULL },
	{ "message_zh missing",
	  "[{'channel':'ch1','op':'pay','code':'1','unified':'X',"
	  "'effect':'failed','message_en':'x'}]",
	  -EINVAL, "codes[0].message_zh: required", NULL },
	{ "message_en empty",
	  "[{'channel':'ch1','op':'pay','code':'1','unified':'X',"
	  "'effect':'failed','message_en':'','message_zh':'x'}]",
	  -EINVAL, "codes[0].message_en: 1 to 255", NULL },
	{ "an unknown key", "[{" GOOD_O ",'colour':'red'}]", -EINVAL,
	  "codes[0].colour: unknown key", NULL },
	{ "the same key twice", "[{" GOOD_O "},{" GOOD_O ",'sub_code':'*'}]",
	  -EINVAL,
	  "codes[1]: the same channel, op, code and sub_code as codes[0]",
	  NULL },
	{ "the same code on two channels",
	  "[{" GOOD_O "},{'channel':'ch2','op':'pay','code':'40004',"
	  "'unified':'X','effect':'failed','message_en':'x',"
	  "'message_zh':'x'}]",
	  0, NULL, NULL },
};

static void test_overrides(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < N_ROWS(override_cases); i++) {
		const struct override_case *t = &override_cases[i];
		struct pr_codemap *m = pr_codemap_new();
		json_t *j = t->json ? js(t->json) : NULL;
		char err[512] = "";
		int rc = pr_codemap_add_overrides(m, j, err, sizeof(err));

		if (rc != t->expect) {
			print_error("case \"%s\": rc %d, expected %d (%s)\n",
				    t->name, rc, t->expect, err);
			bad++;
		} else if (rc < 0 &&
			   (strncmp(err, t->prefix, strlen(t->prefix)) ||
			    (t->needle && !strstr(err, t->needle)))) {
			print_error("case \"%s\": \"%s\" does not start with "
				    "\"%s\" or lacks \"%s\"\n",
				    t->name, err, t->prefix,
				    t->needle ? t->needle : "");
			bad++;
		} else if (rc < 0 && pr_codemap_lookup(m, NULL, "ch1", "pay",
						       "40004", NULL)) {
			print_error("case \"%s\": refused overrides were "
				    "added in part\n",
				    t->name);
			bad++;
		}
		json_decref(j);
		pr_codemap_free(m);
	}
	assert_int_equal(bad, 0);
}

/* pr_code_override_check alone: the admin API's 400 names the field. */
static void test_override_check(void **state)
{
	json_t *j = js("{" GOOD_O ",'retryable':true}");
	struct pr_code c;
	char err[256];

	assert_int_equal(pr_code_override_check(j, &c, err, sizeof(err)), 0);
	assert_string_equal(c.owner, "ch1");
	assert_string_equal(c.sub_code, "*");
	assert_int_equal(c.category, PAYROUTE_CAT_NONE);
	assert_int_equal(c.retryable, 1);
	assert_int_equal(c.source, PR_CODE_OVERRIDE);
	json_object_set_new(j, "effect", json_string("maybe"));
	assert_int_equal(pr_code_override_check(j, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_true(strncmp(err, "effect: ", 8) == 0);
	json_decref(j);
	j = js("[1]");
	assert_int_equal(pr_code_override_check(j, NULL, err, sizeof(err)),
			 -EINVAL);
	json_decref(j);
}

/* -------------------------------------------------------- core rows */

struct core_case {
	const char *name;
	enum payroute_effect effect;
	int retryable;
};

static const struct core_case core_cases[] = {
	{ "NO_CHANNEL", E(FAILED), 0 },
	{ "CHANNEL_TIMEOUT", E(UNKNOWN), 0 },
	{ "CHANNEL_UNREACHABLE", E(FAILED), 1 },
	{ "BAD_RESPONSE", E(UNKNOWN), 0 },
	{ "UNMAPPED_CODE", E(UNKNOWN), 0 },
	{ "ORDER_EXPIRED", E(CLOSED), 0 },
	{ "ORDER_CLOSED", E(CLOSED), 0 },
	{ "PAYMENT_PROCESSING", E(PROCESSING), 0 },
	{ "SUCCESS", E(SUCCESS), 0 },
	{ "AMOUNT_MISMATCH", E(UNKNOWN), 0 },
	{ "DRIVER_ERROR", E(FAILED), 1 },
	{ "NO_CHANNEL_BEFORE_DEADLINE", E(FAILED), 0 },
	{ "PAYEE_NOT_SUPPORTED", E(FAILED), 0 },
	{ "SETTLED_SUCCEEDED", E(SUCCESS), 0 },
	{ "SETTLED_FAILED", E(FAILED), 0 },
	{ "SETTLED_CLOSED", E(CLOSED), 0 },
};

static void test_core_rows(void **state)
{
	for (size_t i = 0; i < N_ROWS(core_cases); i++) {
		const struct core_case *t = &core_cases[i];
		const struct pr_code *c = pr_code_core(t->name);
		json_t *j;
		char err[256] = "";

		if (!c)
			fail_msg("core row %s missing", t->name);
		assert_string_equal(c->unified, t->name);
		assert_int_equal(c->effect, t->effect);
		assert_int_equal(c->retryable, t->retryable);
		assert_int_equal(c->source, PR_CODE_CORE);
		assert_null(c->owner);
		assert_true(c->message_en && c->message_en[0]);
		assert_true(c->message_zh && c->message_zh[0]);
		/* a core row passes the checks of an override */
		j = pr_code_to_json(c);
		assert_non_null(j);
		assert_string_equal(
			json_string_value(json_object_get(j, "source")),
			"core");
		json_object_set_new(j, "channel", json_string("x"));
		if (pr_code_override_check(j, NULL, err, sizeof(err)) < 0)
			fail_msg("core row %s: %s", t->name, err);
		json_decref(j);
	}
	assert_null(pr_code_core("NO_SUCH_OUTCOME"));
	assert_null(pr_code_core(""));
	assert_null(pr_code_core(NULL));
	assert_null(pr_code_core("success")); /* names are exact */
}

/* ------------------------------------------------------------ names */

static void test_names(void **state)
{
	enum payroute_effect e;
	enum payroute_category c;
	static const char *const effects[] = { "success", "failed",
					       "processing", "unknown",
					       "closed" };
	static const char *const cats[] = { "none",  "user",	"risk",
					    "limit", "channel", "system" };

	for (size_t i = 0; i < N_ROWS(effects); i++) {
		assert_int_equal(pr_effect_parse(effects[i], &e), 0);
		assert_string_equal(pr_effect_name(e), effects[i]);
	}
	for (size_t i = 0; i < N_ROWS(cats); i++) {
		assert_int_equal(pr_category_parse(cats[i], &c), 0);
		assert_string_equal(pr_category_name(c), cats[i]);
	}
	assert_int_equal(pr_effect_parse("SUCCESS", &e), -EINVAL);
	assert_int_equal(pr_effect_parse(NULL, &e), -EINVAL);
	assert_int_equal(pr_category_parse("users", &c), -EINVAL);
	assert_null(pr_effect_name((enum payroute_effect)5));
	assert_null(pr_category_name((enum payroute_category)6));
	assert_string_equal(pr_effect_name(PAYROUTE_EFFECT_UNKNOWN), "unknown");
	assert_string_equal(pr_category_name(PAYROUTE_CAT_NONE), "none");

	assert_true(pr_code_op_valid("refund_query", 0));
	assert_true(pr_code_op_valid("notify", 0));
	assert_false(pr_code_op_valid("*", 0));
	assert_true(pr_code_op_valid("*", 1));
	assert_false(pr_code_op_valid("Pay", 1));
	assert_false(pr_code_op_valid("", 1));
	assert_false(pr_code_op_valid(NULL, 1));
}

/* ------------------------------------------------------------- JSON */

static void test_to_json(void **state)
{
	struct pr_codemap *m = fixed_map(), *m2;
	json_t *arr, *o, *back;
	char err[256] = "";
	size_t i;

	/* ch1: its override first, then the driver's rows in order */
	arr = pr_codemap_to_json(m, "spec", "ch1");
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), 1 + N_ROWS(spec_rows));
	o = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(o, "source")),
			    "override");
	assert_string_equal(json_string_value(json_object_get(o, "channel")),
			    "ch1");
	assert_string_equal(json_string_value(json_object_get(o, "unified")),
			    "CH1_REFUSED");
	assert_true(json_is_true(json_object_get(o, "retryable")));
	assert_string_equal(json_string_value(json_object_get(o, "effect")),
			    "failed");
	assert_string_equal(json_string_value(json_object_get(o, "category")),
			    "limit");
	assert_null(json_object_get(o, "driver"));
	json_array_foreach(arr, i, o) {
		if (i == 0)
			continue;
		assert_string_equal(
			json_string_value(json_object_get(o, "source")),
			"driver");
		assert_string_equal(
			json_string_value(json_object_get(o, "driver")),
			"spec");
		assert_string_equal(
			json_string_value(json_object_get(o, "channel")),
			"ch1");
		assert_string_equal(
			json_string_value(json_object_get(o, "unified")),
			spec_rows[i - 1].unified);
	}
	/* what GET shows can be written back as overrides */
	back = json_array();
	json_array_append(back, json_array_get(arr, 0));
	json_array_append(back, json_array_get(arr, 1 + 3)); /* row 3 */
	m2 = pr_codemap_new();
	if (pr_codemap_add_overrides(m2, back, err, sizeof(err)) < 0)
		fail_msg("write back: %s", err);
	assert_string_equal(pr_codemap_lookup(m2, NULL, "ch1", "refund",
					      "40004", "NO_MONEY")
				    ->unified,
			    "NO_MONEY_ANY_OP");
	pr_codemap_free(m2);
	json_decref(back);
	json_decref(arr);

	/* no driver: the overrides only; no channel: the driver's rows */
	arr = pr_codemap_to_json(m, NULL, "ch2");
	assert_int_equal(json_array_size(arr), 1);
	json_decref(arr);
	arr = pr_codemap_to_json(m, "other", NULL);
	assert_int_equal(json_array_size(arr), 1);
	assert_true(json_is_null(
		json_object_get(json_array_get(arr, 0), "channel")));
	json_decref(arr);
	arr = pr_codemap_to_json(m, "nope", "nope");
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	pr_codemap_free(m);
}

/* ------------------------------------------------ generation: codes */

static int fake_init(const struct payroute_services *svc, const char *ch,
		     const payroute_conf *conf, void **st, char *err,
		     size_t errlen)
{
	*st = NULL;
	return 0;
}

static const struct payroute_code_entry *fake_codes(size_t *n,
						    size_t *entry_size)
{
	*n = N_ROWS(spec_rows);
	*entry_size = sizeof(spec_rows[0]);
	return spec_rows;
}

static const struct payroute_code_entry bad_rows[] = {
	{ "pay", "1", "*", "bad", E(FAILED), 0, C(NONE), "x", "x" },
};

static const struct payroute_code_entry *bad_codes(size_t *n,
						   size_t *entry_size)
{
	*n = 1;
	*entry_size = sizeof(bad_rows[0]);
	return bad_rows;
}

static const struct payroute_driver fake = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "fake",
	.version = "1",
	.init = fake_init,
	.default_codes = fake_codes,
};

static const struct payroute_driver nocodes = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "nocodes",
	.version = "1",
	.init = fake_init,
};

static const struct payroute_driver badtable = {
	PAYROUTE_DRIVER_HEADER_V1, .name = "badtable",	       .version = "1",
	.init = fake_init,	   .default_codes = bad_codes,
};

/* A generation with the given linked-in drivers and offline channels
 * a1 (fake) and a2 (nocodes). */
static struct pr_generation *gen_with(const struct payroute_driver **ds,
				      size_t n)
{
	struct pr_generation *g =
		pr_gen_new(1, calloc(1, sizeof(struct pr_config)));
	json_t *chs = js("[{'code':'a1','driver':'fake','status':'offline',"
			 "'driver_config':{}},{'code':'a2','driver':'nocodes',"
			 "'status':'offline','driver_config':{}}]");
	char err[256] = "";

	assert_non_null(g);
	g->drivers.mods = calloc(n, sizeof(*g->drivers.mods));
	for (size_t i = 0; i < n; i++) {
		g->drivers.mods[i] =
			pr_module_wrap(ds[i], ds[i]->name, err, sizeof(err));
		assert_non_null(g->drivers.mods[i]);
	}
	g->drivers.n = n;
	if (pr_gen_add_channels(g, chs, err, sizeof(err)) < 0)
		fail_msg("channels: %s", err);
	json_decref(chs);
	return g;
}

static void test_gen_set_codes(void **state)
{
	const struct payroute_driver *ds[] = { &fake, &nocodes };
	const struct payroute_driver *bad[] = { &fake, &badtable };
	struct pr_generation *g;
	struct pr_codemap *m;
	json_t *o;
	char err[512] = "";

	/* defaults and an override of one of the generation's channels */
	g = gen_with(ds, 2);
	o = js("[{'channel':'a1','op':'pay','code':'OVR','unified':'OVR',"
	       "'effect':'failed','message_en':'x','message_zh':'x'}]");
	if (pr_gen_set_codes(g, o, err, sizeof(err)) < 0)
		fail_msg("set codes: %s", err);
	assert_non_null(g->codes);
	assert_ptr_equal(g->src_codes, o);
	assert_string_equal(pr_codemap_lookup(g->codes, "fake", "a1", "pay",
					      "OVR", "")
				    ->unified,
			    "OVR");
	assert_string_equal(pr_codemap_lookup(g->codes, "fake", "a1", "pay",
					      "10000", "")
				    ->unified,
			    "OK");
	assert_null(pr_codemap_lookup(g->codes, "nocodes", "a2", "pay", "10000",
				      ""));
	/* once */
	assert_int_equal(pr_gen_set_codes(g, NULL, err, sizeof(err)), -EBUSY);
	json_decref(o);
	assert_int_equal(pr_gen_unref(g), 0);

	/* an override of a channel the generation does not have */
	g = gen_with(ds, 2);
	o = js("[{'channel':'a1','op':'pay','code':'1','unified':'X',"
	       "'effect':'failed','message_en':'x','message_zh':'x'},"
	       "{'channel':'zz','op':'*','code':'E1','unified':'X',"
	       "'effect':'failed','message_en':'x','message_zh':'x'}]");
	assert_int_equal(pr_gen_set_codes(g, o, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "codes[1]: no channel named zz"));
	assert_null(g->codes);
	assert_null(g->src_codes);
	/* without overrides: the drivers' defaults */
	assert_int_equal(pr_gen_set_codes(g, NULL, err, sizeof(err)), 0);
	assert_non_null(g->codes);
	json_decref(o);
	assert_int_equal(pr_gen_unref(g), 0);

	/* a bad override, a bad driver table */
	g = gen_with(ds, 2);
	o = js("[{'channel':'a1','op':'pay','code':'1','unified':'X',"
	       "'effect':'failed','retryable':'yes','message_en':'x',"
	       "'message_zh':'x'}]");
	assert_int_equal(pr_gen_set_codes(g, o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "codes[0].retryable:"));
	json_decref(o);
	assert_int_equal(pr_gen_unref(g), 0);
	g = gen_with(bad, 2);
	assert_int_equal(pr_gen_set_codes(g, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "driver badtable: code table row 0"));
	assert_int_equal(pr_gen_unref(g), 0);

	/* pr_codes_build: the channels of a policy not loaded yet */
	g = gen_with(ds, 2);
	o = js("[{'channel':'new1','op':'pay','code':'1','unified':'X',"
	       "'effect':'failed','message_en':'x','message_zh':'x'}]");
	{
		json_t *chs = js("[{'code':'new1'},{'code':'new2'}]");
		json_t *none = js("[{'code':'a1'}]");

		assert_int_equal(pr_codes_build(&g->drivers, o, chs, &m, err,
						sizeof(err)),
				 0);
		assert_non_null(
			pr_codemap_lookup(m, "fake", "new1", "pay", "1", NULL));
		pr_codemap_free(m);
		assert_int_equal(pr_codes_build(&g->drivers, o, none, &m, err,
						sizeof(err)),
				 -ENOENT);
		assert_null(m);
		/* channels NULL: not checked */
		assert_int_equal(pr_codes_build(&g->drivers, o, NULL, &m, err,
						sizeof(err)),
				 0);
		pr_codemap_free(m);
		json_decref(chs);
		json_decref(none);
	}
	json_decref(o);
	assert_int_equal(pr_gen_unref(g), 0);
}

/* ------------------------------------------------ the real drivers */

static void test_real_driver_tables(void **state)
{
	static const char *const names[] = { "alipay", "wechat", "bank" };
	struct pr_driver_set sets[3], all;
	struct pr_codemap *m;
	char dir[1024], err[512] = "";
	size_t loaded = 0;
	struct stat st;

	memset(sets, 0, sizeof(sets));
	memset(&all, 0, sizeof(all));
	all.mods = calloc(3, sizeof(*all.mods));
	assert_non_null(all.mods);
	assert_int_equal(pr_loader_init(), 0);
	m = pr_codemap_new();
	for (size_t i = 0; i < 3; i++) {
		const struct payroute_code_entry *rows;
		struct pr_module *mod;
		size_t n = 0, es = 0;
		json_t *arr;

		snprintf(dir, sizeof(dir), "%s/drivers/%s/.libs",
			 TEST_TOP_BUILDDIR, names[i]);
		if (stat(dir, &st) < 0) {
			print_message("driver %s not built (%s): skipped\n",
				      names[i], dir);
			continue;
		}
		if (pr_loader_scan(dir, NULL, 1, &sets[i], err, sizeof(err)) <
		    0)
			fail_msg("scan %s: %s", dir, err);
		mod = pr_driver_set_find(&sets[i], names[i]);
		if (!mod)
			fail_msg("%s: no driver %s loaded", dir, names[i]);
		assert_non_null(mod->desc->default_codes);
		rows = mod->desc->default_codes(&n, &es);
		assert_true(n > 0);
		if (pr_codemap_add_driver(m, names[i], rows, n, es, err,
					  sizeof(err)) < 0)
			fail_msg("%s", err);
		arr = pr_codemap_to_json(m, names[i], NULL);
		assert_int_equal(json_array_size(arr), n);
		json_decref(arr);
		print_message("driver %s: %zu code rows load\n", names[i], n);
		all.mods[all.n++] = mod;
		loaded++;
	}
	pr_codemap_free(m);
	/* and all together, as a generation builds them */
	if (loaded) {
		if (pr_codes_build(&all, NULL, NULL, &m, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		pr_codemap_free(m);
	}
	free(all.mods);
	for (size_t i = 0; i < 3; i++)
		pr_driver_set_release(&sets[i]);
	pr_loader_exit();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_table),
		cmocka_unit_test(test_lookup_fields),
		cmocka_unit_test(test_driver_rows),
		cmocka_unit_test(test_driver_table_shape),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_override_check),
		cmocka_unit_test(test_core_rows),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_gen_set_codes),
		cmocka_unit_test(test_real_driver_tables),
	};

	pr_log_set_level(PAYROUTE_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
