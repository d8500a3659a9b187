/*
 * test_ctlutil.c - payroutectl's pure parts (ctl/ctlutil.c), one named
 * row per case: request bodies from key=value arguments, the one-line
 * form of an error answer, table cells and durations, and the exact text
 * an operator reads for a table, an explain answer and an import answer.
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

#include "ctlutil.h"

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);

	if (!j)
		fail_msg("bad test JSON (%s): %s", je.text, text);
	return j;
}

/* ---------------------------------------------------------- key=value */

struct kv_row {
	const char *name;
	const char *args[4];
	const char *body; /* the expected object, or NULL: refused */
	const char *err;  /* a part of the refusal */
};

static const struct kv_row kv_rows[] = {
	{ "strings",
	  { "currency=CNY", "method=alipay" },
	  "{\"currency\": \"CNY\", \"method\": \"alipay\"}",
	  NULL },
	{ "amount is an integer",
	  { "amount=10000" },
	  "{\"amount\": 10000}",
	  NULL },
	{ "expire_seconds is an integer",
	  { "expire_seconds=60" },
	  "{\"expire_seconds\": 60}",
	  NULL },
	{ "a buyer id of digits stays a string",
	  { "buyer_id=12345" },
	  "{\"buyer_id\": \"12345\"}",
	  NULL },
	{ "an empty value",
	  { "product_code=" },
	  "{\"product_code\": \"\"}",
	  NULL },
	{ "a value with =", { "subject=a=b" }, "{\"subject\": \"a=b\"}", NULL },
	{ "KEY:=JSON",
	  { "payee:={\"kind\": \"bank_card\"}", "amount:=5" },
	  "{\"payee\": {\"kind\": \"bank_card\"}, \"amount\": 5}",
	  NULL },
	{ "a later argument replaces",
	  { "method=a", "method=b" },
	  "{\"method\": \"b\"}",
	  NULL },
	{ "amount not an integer",
	  { "amount=12.5" },
	  NULL,
	  "amount is an integer" },
	{ "amount empty", { "amount=" }, NULL, "amount is an integer" },
	{ "no =", { "amount" }, NULL, "expected KEY=VALUE" },
	{ "an empty key", { "=x" }, NULL, "expected KEY=VALUE" },
	{ "a key with capitals", { "Amount=1" }, NULL, "expected KEY=VALUE" },
	{ "bad JSON after :=", { "payee:={" }, NULL, "not JSON" },
};

/* payroutectl channel set: path=value arguments into a merge patch. */
static const struct kv_row patch_rows[] = {
	{ "a number", { "weight=60" }, "{\"weight\": 60}", NULL },
	{ "a dotted path",
	  { "weight=60", "limits.daily_amount=500000", "limits.txn_max=9" },
	  "{\"weight\": 60, \"limits\": {\"daily_amount\": 500000, "
	  "\"txn_max\": 9}}",
	  NULL },
	{ "a string, true, null",
	  { "status=offline", "whitelist_only=true", "fee.max=null" },
	  "{\"status\": \"offline\", \"whitelist_only\": true, "
	  "\"fee\": {\"max\": null}}",
	  NULL },
	{ "a word starting with a digit stays a string",
	  { "institution=95588bank" },
	  "{\"institution\": \"95588bank\"}",
	  NULL },
	{ "PATH:=JSON",
	  { "methods:=[\"alipay\"]" },
	  "{\"methods\": [\"alipay\"]}",
	  NULL },
	{ "given twice", { "weight=1", "weight=2" }, NULL, "given twice" },
	{ "inside a value set",
	  { "limits:={}", "limits.txn_max=1" },
	  NULL,
	  NULL },
	{ "inside a scalar",
	  { "weight=1", "weight.x=2" },
	  NULL,
	  "set by another argument" },
	{ "an empty part", { "limits..x=1" }, NULL, "expected PATH=VALUE" },
	{ "a trailing dot", { "limits.=1" }, NULL, "expected PATH=VALUE" },
	{ "no =", { "weight" }, NULL, "expected PATH=VALUE" },
	{ "bad JSON", { "banks:=[" }, NULL, "not JSON" },
};

static void test_patch(void **state)
{
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(patch_rows) / sizeof(patch_rows[0]);
	     i++) {
		const struct kv_row *r = &patch_rows[i];
		json_t *body = json_object();
		int n = 0, rc;

		while (n < 4 && r->args[n])
			n++;
		err[0] = '\0';
		rc = pr_ctl_patch_add(body, n, (char *const *)r->args, err,
				      sizeof(err));
		if (r->body) {
			json_t *want = load(r->body);

			if (rc != 0)
				fail_msg("%s: refused: %s", r->name, err);
			if (!json_equal(want, body)) {
				char *got = json_dumps(body, JSON_COMPACT);

				fail_msg("%s: %s, expected %s", r->name, got,
					 r->body);
			}
			json_decref(want);
		} else if (r->err) {
			if (rc != -EINVAL)
				fail_msg("%s: accepted", r->name);
			if (!strstr(err, r->err))
				fail_msg("%s: error \"%s\" lacks \"%s\"",
					 r->name, err, r->err);
		} else {
			/* {} then a member of it: the object is extended */
			if (rc != 0 || json_integer_value(json_object_get(
					       json_object_get(body, "limits"),
					       "txn_max")) != 1)
				fail_msg("%s: %s", r->name, err);
		}
		json_decref(body);
	}
}

static void test_kv(void **state)
{
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(kv_rows) / sizeof(kv_rows[0]); i++) {
		const struct kv_row *r = &kv_rows[i];
		json_t *body = json_object();
		int n = 0, rc;

		while (n < 4 && r->args[n])
			n++;
		err[0] = '\0';
		rc = pr_ctl_kv_add(body, n, (char *const *)r->args, err,
				   sizeof(err));
		if (r->body) {
			json_t *want = load(r->body);

			if (rc != 0)
				fail_msg("%s: refused: %s", r->name, err);
			if (!json_equal(want, body)) {
				char *got = json_dumps(body, JSON_COMPACT);

				fail_msg("%s: %s, expected %s", r->name, got,
					 r->body);
			}
			json_decref(want);
		} else {
			if (rc != -EINVAL)
				fail_msg("%s: accepted", r->name);
			if (!strstr(err, r->err))
				fail_msg("%s: '%s' lacks '%s'", r->name, err,
					 r->err);
		}
		json_decref(body);
	}
}

/* ------------------------------------------------------------- errors */

struct err_row {
	const char *name;
	long status;
	const char *body; /* NULL: none */
	const char *text;
};

static const struct err_row err_rows[] = {
	{ "a JSON error", 404,
	  "{\"error\": {\"code\": \"not_found\", \"message\": \"no channel "
	  "named foo\"}}",
	  "404 not_found: no channel named foo" },
	{ "the message names the field", 400,
	  "{\"error\": {\"code\": \"invalid_field\", \"message\": "
	  "\"channels[2].limits.txn_max: must be at least 0\", \"field\": "
	  "\"channels[2].limits.txn_max\"}}",
	  "400 invalid_field: channels[2].limits.txn_max: must be at least 0" },
	{ "the field when the message does not name it", 400,
	  "{\"error\": {\"code\": \"invalid_field\", \"message\": \"bad\", "
	  "\"field\": \"x.y\"}}",
	  "400 invalid_field: bad (field x.y)" },
	{ "not JSON", 502, "<html>Bad Gateway</html>\nmore",
	  "502 (not a JSON error) <html>Bad Gateway</html>..." },
	{ "JSON but not an error", 500, "{\"ok\": false}",
	  "500 (not a JSON error) {\"ok\": false}" },
	{ "no body", 503, NULL, "503 (empty body)" },
};

static void test_error_text(void **state)
{
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++) {
		const struct err_row *r = &err_rows[i];

		pr_ctl_error_text(r->status, r->body,
				  r->body ? strlen(r->body) : 0, out,
				  sizeof(out));
		if (strcmp(out, r->text) != 0)
			fail_msg("%s: '%s', expected '%s'", r->name, out,
				 r->text);
	}
}

/* -------------------------------------------------------------- cells */

struct cell_row {
	const char *json; /* NULL: a missing value */
	const char *text;
};

static const struct cell_row cell_rows[] = {
	{ NULL, "-" },
	{ "null", "-" },
	{ "true", "yes" },
	{ "false", "no" },
	{ "\"online\"", "online" },
	{ "42", "42" },
	{ "0.5", "0.500" },
	{ "[\"pay\", \"refund\"]", "pay,refund" },
	{ "[]", "-" },
	{ "[1, true, null]", "1,yes,-" },
	{ "[[1]]", "[[1]]" },
	{ "{\"a\": 1}", "{\"a\":1}" },
};

static void test_cells(void **state)
{
	static const struct {
		long long s;
		const char *text;
	} dur[] = { { 0, "0s" },	{ 45, "45s" },	     { 60, "1m" },
		    { 754, "12m" },	{ 3600, "1h00m" },   { 11100, "3h05m" },
		    { 86400, "1d00h" }, { 187200, "2d04h" }, { -5, "0s" } };
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cell_rows) / sizeof(cell_rows[0]); i++) {
		json_t *v = cell_rows[i].json ? load(cell_rows[i].json) : NULL;
		char *t = pr_ctl_cell(v);

		assert_non_null(t);
		if (strcmp(t, cell_rows[i].text) != 0)
			fail_msg("cell of %s: '%s', expected '%s'",
				 cell_rows[i].json ? cell_rows[i].json :
						     "(missing)",
				 t, cell_rows[i].text);
		free(t);
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
		pr_ctl_duration(dur[i].s, buf, sizeof(buf));
		assert_string_equal(buf, dur[i].text);
	}
}

/* ------------------------------------------------------------ printers */

/* What f printed (the caller frees it). */
static char *captured(FILE *f, char **buf)
{
	fclose(f);
	return *buf;
}

static void test_table(void **state)
{
	static const char *const head[] = { "CODE", "INSTITUTION", "WEIGHT" };
	static const char *const r1[] = { "ali_qr", "支付宝", "100" };
	static const char *const r2[] = { "b", NULL, "7" };
	struct pr_ctl_table t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_int_equal(pr_ctl_table_init(&t, 3, head), 0);
	assert_int_equal(pr_ctl_table_add(&t, r1), 0);
	assert_int_equal(pr_ctl_table_add(&t, r2), 0);
	for (int i = 0; i < 40; i++) /* grows */
		assert_int_equal(pr_ctl_table_add(&t, r2), 0);
	assert_int_equal(t.nrows, 43);
	pr_ctl_table_print(&t, f);
	pr_ctl_table_clear(&t);
	captured(f, &buf);
	/* widths in characters: 支付宝 is 3, not 9 bytes */
	assert_memory_equal(buf,
			    "CODE    INSTITUTION  WEIGHT\n"
			    "ali_qr  支付宝          100\n"
			    "b       -            7\n",
			    strlen("CODE    INSTITUTION  WEIGHT\n"
				   "ali_qr  支付宝          100\n"
				   "b       -            7\n"));
	free(buf);
}

/* ------------------------------------------------------------ amounts */

struct major_row {
	const char *name;
	long long amount;
	int digits;
	const char *text;
};

static const struct major_row major_rows[] = {
	{ "CNY, two digits", 1234, 2, "12.34" },
	{ "under one unit", 5, 2, "0.05" },
	{ "negative", -5, 2, "-0.05" },
	{ "zero", 0, 2, "0.00" },
	{ "JPY, no digits", 1500, 0, "1500" },
	{ "KWD, three digits", 1234567, 3, "1234.567" },
	{ "CLF, four digits", 10000, 4, "1.0000" },
	{ "the most negative", INT64_MIN, 2, "-92233720368547758.08" },
	{ "unknown currency", 1234, -1, "1234 minor" },
	{ "digits beyond any currency", 1234, 40, "1234 minor" },
};

static void test_major(void **state)
{
	json_t *cur = load("{\"currencies\": [{\"code\": \"CNY\", \"minor\": 2},"
			   " {\"code\": \"JPY\", \"minor\": 0},"
			   " {\"code\": \"BAD\", \"minor\": \"2\"}]}");
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(major_rows) / sizeof(major_rows[0]);
	     i++) {
		const struct major_row *r = &major_rows[i];

		pr_ctl_major(r->amount, r->digits, out, sizeof(out));
		if (strcmp(out, r->text) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", r->name, out,
				 r->text);
	}
	assert_int_equal(pr_ctl_minor_units(cur, "CNY"), 2);
	assert_int_equal(pr_ctl_minor_units(cur, "JPY"), 0);
	assert_int_equal(pr_ctl_minor_units(cur, "USD"), -1);
	assert_int_equal(pr_ctl_minor_units(cur, "BAD"), -1);
	assert_int_equal(pr_ctl_minor_units(cur, NULL), -1);
	assert_int_equal(pr_ctl_minor_units(NULL, "CNY"), -1);
	json_decref(cur);
}

/* A table's text from pr_ctl_print_rows (the caller frees it). */
static char *rows_text(const struct pr_ctl_col *cols, size_t n,
		       const char *rows, const char *currencies,
		       const char *empty)
{
	json_t *r = load(rows), *cur = currencies ? load(currencies) : NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(pr_ctl_print_rows(f, cols, n, r, cur, empty), 0);
	fclose(f);
	json_decref(r);
	json_decref(cur);
	return buf;
}

static void fn_cell(json_t *row, char *out, size_t len)
{
	snprintf(out, len, "<%s>",
		 json_string_value(json_object_get(row, "id")));
}

static void test_rows(void **state)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "ID", .path = "id" },
		{ .head = "AMOUNT",
		  .path = "amount",
		  .kind = PR_CTL_COL_AMOUNT,
		  .arg = "currency" },
		{ .head = "FEE", .path = "fee.rate_bps" },
		{ .head = "AGE", .path = "age", .kind = PR_CTL_COL_DURATION },
		{ .head = "BPS", .path = "bps", .kind = PR_CTL_COL_REAL },
		{ .head = "DRIFT",
		  .path = "bps",
		  .kind = PR_CTL_COL_REAL,
		  .arg = "+" },
		{ .head = "FN", .kind = PR_CTL_COL_FN, .fn = fn_cell },
		{ .head = "FLAG",
		  .path = "on",
		  .kind = PR_CTL_COL_IF_TRUE,
		  .arg = "ON" },
		{ .head = "WHY", .path = "w.reason", .missing = "" },
	};
	static const char rows[] =
		"[{\"id\": \"a\", \"amount\": 1234, \"currency\": \"CNY\","
		"  \"fee\": {\"rate_bps\": 30}, \"age\": 3700, \"bps\": 0.5,"
		"  \"on\": true, \"w\": {\"reason\": \"approval\"}},"
		" {\"id\": \"bb\", \"amount\": 1500, \"currency\": \"JPY\","
		"  \"age\": 5, \"bps\": -1.25, \"w\": null},"
		" {\"id\": \"c\", \"amount\": 7, \"currency\": \"XTS\"},"
		" {\"id\": \"d\", \"amount\": null}]";
	static const char cur[] =
		"{\"currencies\": [{\"code\": \"CNY\", \"minor\": 2},"
		" {\"code\": \"JPY\", \"minor\": 0}]}";
	char *t;

	(void)state;
	t = rows_text(cols, sizeof(cols) / sizeof(cols[0]), rows, cur, "none");
	/* amounts in major units, aligned right; the last column unpadded */
	assert_string_equal(t,
			    "ID       AMOUNT  FEE  AGE    BPS    DRIFT  FN    "
			    "FLAG  WHY\n"
			    "a     12.34 CNY  30   1h01m  0.50   +0.50  <a>   "
			    "ON    approval\n"
			    "bb     1500 JPY  -    5s     -1.25  -1.25  <bb>  "
			    "      \n"
			    "c   7 minor XTS  -    0s     -      -      <c>   "
			    "      \n"
			    "d             -  -    0s     -      -      <d>   "
			    "      \n");
	free(t);
	/* no rows: the line given, or the header alone */
	t = rows_text(cols, 2, "[]", NULL, "no things");
	assert_string_equal(t, "no things\n");
	free(t);
	t = rows_text(cols, 2, "[]", NULL, NULL);
	assert_string_equal(t, "ID  AMOUNT\n");
	free(t);
	/* without the currencies: minor units */
	t = rows_text(cols, 2, "[{\"id\": \"x\", \"amount\": 100, "
			       "\"currency\": \"CNY\"}]",
		      NULL, NULL);
	assert_string_equal(t, "ID         AMOUNT\n"
			       "x   100 minor CNY\n");
	free(t);
	assert_int_equal(pr_ctl_print_rows(stdout, cols, 0, NULL, NULL, NULL),
			 -EINVAL);
}

static void test_explain(void **state)
{
	json_t *a = load(
		"{\"chosen\": \"cheap\", \"whitelist\": null, "
		"\"whitelist_unused\": [{\"id\": 4, \"kind\": \"buyer_id\", "
		"\"channel\": \"sleepy\", \"dropped_by\": \"status\"}], \"rule\": "
		"{\"id\": 3, \"name\": \"cheap first\"}, \"warnings\": [], "
		"\"candidates\": [{\"channel\": \"cheap\", \"eligible\": true, "
		"\"dropped_by\": null, \"fee\": 30, \"score\": 0.9, "
		"\"score_parts\": {\"weight\": 0.25, \"fee\": 0.5, "
		"\"success_rate\": 0.15}}, {\"channel\": \"sleepy\", "
		"\"eligible\": false, \"dropped_by\": \"status\", \"fee\": 1, "
		"\"score\": null, \"score_parts\": null}]}");
	json_t *none = load("{\"chosen\": null, \"whitelist\": {\"id\": 9, "
			    "\"kind\": \"buyer_id\", \"channel\": \"vip\"}, "
			    "\"rule\": null, \"warnings\": [\"card_no "
			    "ignored\"], \"candidates\": []}");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	pr_ctl_print_explain(f, a);
	captured(f, &buf);
	assert_string_equal(
		buf,
		"chosen: cheap\n"
		"whitelist: entry 4 (buyer_id) matched, but channel sleepy "
		"was dropped by status\n"
		"rule: 3 cheap first\n"
		"CHANNEL  ELIGIBLE  DROPPED_BY  FEE  SCORE  WEIGHT  "
		"FEE_SCORE  SUCCESS\n"
		"cheap    yes       -           30   0.900  0.250   "
		"0.500      0.150\n"
		"sleepy   no        status      1    -      -       -     "
		"     -\n");
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	pr_ctl_print_explain(f, none);
	captured(f, &buf);
	assert_string_equal(buf, "chosen: none (no channel can take it)\n"
				 "whitelist: entry 9 (buyer_id) -> vip\n"
				 "warning: card_no ignored\n"
				 "no channels\n");
	free(buf);
	json_decref(a);
	json_decref(none);
}

struct import_row {
	const char *name;
	const char *answer;
	const char *text;
};

#define EMPTY_PART                                                             \
	"{\"added\": [], \"changed\": [], \"removed\": [], \"unchanged\": 2}"

static const struct import_row import_rows[] = {
	{ "a dry run with every kind of change",
	  "{\"dry_run\": true, \"changed\": true, \"generation\": 7, "
	  "\"changes\": {\"channels\": {\"added\": [\"c3\"], \"changed\": "
	  "[{\"code\": \"c1\", \"fields\": [\"weight\", \"fee\"]}], "
	  "\"removed\": [\"c2\"], \"unchanged\": 4}, \"whitelist\": "
	  "{\"added\": [{\"kind\": \"seller_id\", \"channel\": \"c3\", "
	  "\"value\": \"s1\"}], \"changed\": [{\"id\": 4, \"kind\": "
	  "\"card_no\", \"channel\": \"c1\", \"value_hint\": \"1234\", "
	  "\"fields\": [\"note\"]}], \"removed\": [{\"id\": 3, \"kind\": "
	  "\"buyer_id\", \"channel\": \"c2\", \"value\": \"b\"}], "
	  "\"unchanged\": 0}, \"rules\": {\"changed\": true, \"before\": 2, "
	  "\"after\": 1}, \"code_overrides\": {\"added\": [\"c3/pay/X/*\"], "
	  "\"changed\": [], \"removed\": [\"c2/pay/Y/*\"], \"unchanged\": "
	  "1}}}",
	  "channel added: c3\n"
	  "channel changed: c1 (weight, fee)\n"
	  "channel removed: c2\n"
	  "whitelist entry added: seller_id s1 -> c3\n"
	  "whitelist entry changed: #4 card_no *1234 -> c1 (note)\n"
	  "whitelist entry removed: #3 buyer_id b -> c2\n"
	  "rules replaced: 2 -> 1\n"
	  "code override added: c3/pay/X/*\n"
	  "code override removed: c2/pay/Y/*\n"
	  "channels: 1 added, 1 changed, 1 removed, 4 unchanged\n"
	  "whitelist: 1 added, 1 changed, 1 removed, 0 unchanged\n"
	  "rules: replaced (1 rule)\n"
	  "code overrides: 1 added, 0 changed, 1 removed, 1 unchanged\n"
	  "dry run: nothing was written (generation 7 active)\n" },
	{ "a dry run of the stored policy",
	  "{\"dry_run\": true, \"changed\": false, \"generation\": 7, "
	  "\"changes\": {\"channels\": " EMPTY_PART
	  ", \"whitelist\": " EMPTY_PART
	  ", \"rules\": {\"changed\": false, \"before\": 3, \"after\": 3}, "
	  "\"code_overrides\": " EMPTY_PART "}}",
	  "channels: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "whitelist: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "rules: unchanged (3 rules)\n"
	  "code overrides: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "dry run: nothing would change (generation 7 active)\n" },
	{ "an import that changed something",
	  "{\"dry_run\": false, \"changed\": true, \"generation\": 8, "
	  "\"changes\": {\"channels\": {\"added\": [], \"changed\": "
	  "[{\"code\": \"c1\", \"fields\": [\"weight\"]}], \"removed\": [], "
	  "\"unchanged\": 1}, \"whitelist\": " EMPTY_PART ", \"rules\": "
	  "{\"changed\": false, \"before\": 0, \"after\": 0}, "
	  "\"code_overrides\": " EMPTY_PART "}}",
	  "channel changed: c1 (weight)\n"
	  "channels: 0 added, 1 changed, 0 removed, 1 unchanged\n"
	  "whitelist: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "rules: unchanged (0 rules)\n"
	  "code overrides: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "imported: generation 8 active\n" },
	{ "an import of the stored policy",
	  "{\"dry_run\": false, \"changed\": false, \"generation\": 8, "
	  "\"changes\": {\"channels\": " EMPTY_PART
	  ", \"whitelist\": " EMPTY_PART
	  ", \"rules\": {\"changed\": false, \"before\": 1, \"after\": 1}, "
	  "\"code_overrides\": " EMPTY_PART "}}",
	  "channels: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "whitelist: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "rules: unchanged (1 rule)\n"
	  "code overrides: 0 added, 0 changed, 0 removed, 2 unchanged\n"
	  "nothing to change: generation 8 active\n" },
};

static void test_import(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(import_rows) / sizeof(import_rows[0]);
	     i++) {
		const struct import_row *r = &import_rows[i];
		json_t *a = load(r->answer);
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		pr_ctl_print_import(f, a);
		captured(f, &buf);
		if (strcmp(buf, r->text) != 0)
			fail_msg("%s:\n%s\nexpected\n%s", r->name, buf,
				 r->text);
		free(buf);
		json_decref(a);
	}
}

/* A replay's answers, as GET /admin/v1/policy/replay/{id} gives them,
 * and what payroutectl policy replay prints. */
static const struct import_row replay_rows[] = {
	{ "done: moves, a flow to no channel, a limit day, a baseline note",
	  "{\"id\": 17, \"status\": \"done\", \"from\": \"2026-11-01T00:00:00.000Z\","
	  "\"to\": \"2026-11-02T00:00:00.000Z\", \"elapsed_ms\": 120,"
	  "\"orders_per_second\": 200, \"error\": null, \"result\": {"
	  "\"orders\": 24, \"skipped\": 1, \"changed\": 3, \"recorded_differs\": 2,"
	  "\"totals\": [{\"currency\": \"CNY\", \"active\": {\"fees\": 690,"
	  "\"expected_success\": 0.75, \"unroutable\": 0}, \"draft\": {\"fees\":"
	  " 600, \"expected_success\": null, \"unroutable\": 1}, \"changed\":"
	  " {\"orders\": 3, \"amount\": 12000}}],"
	  "\"channels\": [{\"channel\": \"a\", \"currency\": \"CNY\","
	  "\"success_rate\": 0.75, \"active\": {\"orders\": 24, \"fees\": 690},"
	  "\"draft\": {\"orders\": 21, \"fees\": 600}, \"moved_in\": {\"orders\":"
	  " 0}, \"moved_out\": {\"orders\": 3}}],"
	  "\"flows\": [{\"from\": \"a\", \"to\": null, \"currency\": \"CNY\","
	  "\"orders\": 3, \"amount\": 12000}],"
	  "\"limit_days\": [{\"policy\": \"draft\", \"channel\": \"a\", \"day\":"
	  " \"2026-11-01\", \"limit\": \"daily_count_limit\", \"first_at\":"
	  " \"2026-11-01T02:14:00.000Z\", \"orders_turned_away\": 3}]}}",
	  "replay 17: done, 2026-11-01T00:00:00.000Z to 2026-11-02T00:00:00.000Z\n"
	  "24 payments replayed in 120 ms (200/s), 1 skipped; 3 would move\n"
	  "CNY: moved 3 payments, amount 12000; fees 690 -> 600 (-90); "
	  "expected success 0.750 -> -; unroutable 0 -> 1\n"
	  "CHANNEL  CUR  ACTIVE  DRAFT  IN  OUT  FEES ACTIVE  FEES DRAFT  SUCCESS\n"
	  "a        CNY  24      21     0   3    690          600         0.750\n"
	  "flow: a -> (none): 3 payments, 12000 CNY\n"
	  "daily limit (draft): a on 2026-11-01, daily_count_limit from "
	  "2026-11-01T02:14:00.000Z, 3 payments turned away\n"
	  "note: 2 payments went to another channel than the active policy "
	  "picks now (a cascade, other usage, or a policy change in the "
	  "range)\n" },
	{ "withdrawals: they are named so",
	  "{\"id\": 19, \"status\": \"done\", \"kind\": \"withdrawals\","
	  "\"from\": \"F\", \"to\": \"T\", \"elapsed_ms\": 3,"
	  "\"orders_per_second\": 1000, \"result\": {\"orders\": 3, \"skipped\": 0,"
	  "\"changed\": 3, \"recorded_differs\": 1,"
	  "\"totals\": [{\"currency\": \"CNY\", \"active\": {\"fees\": 600,"
	  "\"expected_success\": 1, \"unroutable\": 0}, \"draft\": {\"fees\": 0,"
	  "\"expected_success\": null, \"unroutable\": 3}, \"changed\":"
	  " {\"orders\": 3, \"amount\": 9000}}],"
	  "\"channels\": [], \"flows\": [{\"from\": \"payout\", \"to\": null,"
	  "\"currency\": \"CNY\", \"orders\": 3, \"amount\": 9000}],"
	  "\"limit_days\": [{\"policy\": \"active\", \"channel\": \"payout\","
	  "\"day\": \"D\", \"limit\": \"daily_count_limit\", \"first_at\": \"A\","
	  "\"orders_turned_away\": 2}]}}",
	  "replay 19: done, F to T\n"
	  "3 withdrawals replayed in 3 ms (1000/s), 0 skipped; 3 would move\n"
	  "CNY: moved 3 withdrawals, amount 9000; fees 600 -> 0 (-600); "
	  "expected success 1.000 -> -; unroutable 0 -> 3\n"
	  "CHANNEL  CUR  ACTIVE  DRAFT  IN  OUT  FEES ACTIVE  FEES DRAFT  SUCCESS\n"
	  "flow: payout -> (none): 3 withdrawals, 9000 CNY\n"
	  "daily limit (active): payout on D, daily_count_limit from A, 2 "
	  "withdrawals turned away\n"
	  "note: 1 withdrawals went to another channel than the active policy "
	  "picks now (a cascade, other usage, or a policy change in the "
	  "range)\n" },
	{ "failed: the error",
	  "{\"id\": 18, \"status\": \"failed\", \"from\": \"F\", \"to\": \"T\","
	  "\"result\": null, \"error\": \"reading payments failed\"}",
	  "replay 18: failed, F to T\nerror: reading payments failed\n" },
};

static void test_replay(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(replay_rows) / sizeof(replay_rows[0]);
	     i++) {
		const struct import_row *r = &replay_rows[i];
		json_t *a = load(r->answer);
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		pr_ctl_print_replay(f, a);
		captured(f, &buf);
		if (strcmp(buf, r->text) != 0)
			fail_msg("%s:\n%s\nexpected\n%s", r->name, buf,
				 r->text);
		free(buf);
		json_decref(a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_major),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
