/*
 * test_wdreq.c - the withdrawal request of the merchant API (wdreq.c):
 * one named row per case, the JSON in and either the field and message
 * expected or success; and the payee name rules (pr_wd_name_check) row by
 * row, with the characters the bank driver reserves.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/wdreq.h"

#define HEAD "{\"merchant_withdrawal_no\":\"W-1\",\"amount\":100,"
#define CNY "\"currency\":\"CNY\","
#define CARD                                                                   \
	"\"payee\":{\"kind\":\"bank_card\",\"account\":\"6222021234567890123\""
#define NAMED(n) HEAD CNY CARD ",\"name\":\"" n "\"}}"

struct row {
	const char *name;
	const char *json;
	const char *field;   /* NULL: success */
	const char *message; /* substring of the error */
};

static const struct row rows[] = {
	{ "a bank card payee", HEAD CNY CARD "}}", NULL, NULL },
	{ "with a Chinese name", NAMED("张三"), NULL, NULL },
	{ "with a transliterated name and middle dot", NAMED("艾力·买买提"),
	  NULL, NULL },
	{ "a company name with parentheses",
	  NAMED("Example Trading (Shanghai) Co., Ltd."), NULL, NULL },
	{ "an apostrophe and a hyphen", NAMED("Anne-Marie O'Neil"), NULL,
	  NULL },
	{ "name with '{'", NAMED("Zhang{San"), "payee.name", "'{'" },
	{ "name with '}'", NAMED("Zhang}San"), "payee.name", "'{'" },
	{ "name with '&'", NAMED("Zhang & Li"), "payee.name", "'&'" },
	{ "name with '='", NAMED("a=b"), "payee.name", "'='" },
	{ "name ending in a space", NAMED("Zhang San "), "payee.name",
	  "space" },
	{ "name starting with a space", NAMED(" Zhang"), "payee.name",
	  "space" },
	{ "name with a tab", NAMED("Zhang\\tSan"), "payee.name", "control" },
	{ "name with a C1 control (U+0085)", NAMED("Zhang\\u0085San"),
	  "payee.name", "control" },
	{ "name empty", NAMED(""), "payee.name", "1 to 128" },
	{ "currency XYZ", HEAD "\"currency\":\"XYZ\"," CARD "}}", "currency",
	  "ISO 4217" },
	{ "currency XAU", HEAD "\"currency\":\"XAU\"," CARD "}}", "currency",
	  "minor units" },
	{ "currency lower case", HEAD "\"currency\":\"cny\"," CARD "}}",
	  "currency", "ISO 4217" },
	{ "amount int64 max",
	  "{\"merchant_withdrawal_no\":\"W-1\",\"amount\":9223372036854775807," CNY
		  CARD "}}",
	  "amount", "positive integer" },
	{ "payee kind unknown",
	  HEAD CNY "\"payee\":{\"kind\":\"paypal\",\"account\":\"x@y.z\"}}",
	  "payee.kind", "bank_card" },
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct pr_wdreq q;
		char field[96] = "", err[512] = "";
		json_error_t jerr;
		json_t *j = json_loads(w->json, 0, &jerr);
		int rc;

		print_message("  %s\n", w->name);
		if (!j)
			fail_msg("%s: bad JSON: %s", w->name, jerr.text);
		rc = pr_wdreq_parse(j, &q, field, sizeof(field), err,
				    sizeof(err));
		json_decref(j);
		if (!w->field) {
			if (rc != 0)
				fail_msg("%s: refused: %s", w->name, err);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		assert_string_equal(field, w->field);
		if (!strstr(err, w->message))
			fail_msg("%s: '%s' does not say '%s'", w->name, err,
				 w->message);
	}
}

/* pr_wd_name_check on bytes jansson would never hand over (it checks
 * UTF-8 itself): the core does not rely on that. */
static void test_name_bytes(void **state)
{
	static const struct {
		const char *name, *text;
		int ok;
	} names[] = {
		{ "ASCII", "Zhang San", 1 },
		{ "two-byte", "J\xc3\xb6rg", 1 },
		{ "four-byte", "\xf0\x9f\x98\x80 Li", 1 },
		{ "overlong '/'", "a\xc0\xaf", 0 },
		{ "overlong three-byte", "a\xe0\x80\xaf", 0 },
		{ "surrogate", "a\xed\xa0\x80", 0 },
		{ "beyond U+10FFFF", "a\xf4\x90\x80\x80", 0 },
		{ "truncated", "a\xe5\xbc", 0 },
		{ "stray continuation", "a\x80", 0 },
		{ "DEL", "a\x7f", 0 },
		{ "empty", "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		print_message("  %s\n", names[i].name);
		if (names[i].ok)
			assert_null(pr_wd_name_check(names[i].text));
		else
			assert_non_null(pr_wd_name_check(names[i].text));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_name_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
