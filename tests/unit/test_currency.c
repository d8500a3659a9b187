/*
 * test_currency.c - the ISO 4217 table (core/domain/currency.c): one named row
 * per case, the code in and the minor units expected (or that it is not a
 * code, or not one a payment can be made in). Every row of the table is
 * also checked to be in order, so that the bisection finds it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "domain/currency.h"

#define NOT_A_CODE -2 /* pr_currency_find answers NULL */

struct row {
	const char *name;
	const char *code;
	int minor; /* -1: N.A. (refused by pr_currency_check) */
};

static const struct row rows[] = {
	{ "yuan renminbi", "CNY", 2 },
	{ "US dollar", "USD", 2 },
	{ "euro", "EUR", 2 },
	{ "Hong Kong dollar", "HKD", 2 },
	{ "yen: no minor unit", "JPY", 0 },
	{ "won: no minor unit", "KRW", 0 },
	{ "dong: no minor unit", "VND", 0 },
	{ "CFA franc BCEAO", "XOF", 0 },
	{ "Kuwaiti dinar: three decimals", "KWD", 3 },
	{ "Bahraini dinar", "BHD", 3 },
	{ "Tunisian dinar", "TND", 3 },
	{ "Unidad de Fomento: four decimals", "CLF", 4 },
	{ "Unidad Previsional", "UYW", 4 },
	{ "first of the table", "AED", 2 },
	{ "last of the table", "ZWG", 2 },
	{ "Caribbean guilder (2025)", "XCG", 2 },
	{ "Sierra Leone leone (redenominated)", "SLE", 2 },
	{ "gold: N.A.", "XAU", -1 },
	{ "SDR: N.A.", "XDR", -1 },
	{ "testing code: N.A.", "XTS", -1 },
	{ "no currency: N.A.", "XXX", -1 },
	{ "made up", "XYZ", NOT_A_CODE },
	{ "kuna, withdrawn 2023", "HRK", NOT_A_CODE },
	{ "old leone, withdrawn", "SLL", NOT_A_CODE },
	{ "Zimbabwe dollar, withdrawn 2024", "ZWL", NOT_A_CODE },
	{ "convertible peso, withdrawn", "CUC", NOT_A_CODE },
	{ "lower case", "cny", NOT_A_CODE },
	{ "two letters", "CN", NOT_A_CODE },
	{ "four letters", "CNYY", NOT_A_CODE },
	{ "empty", "", NOT_A_CODE },
	{ "digits", "156", NOT_A_CODE },
	{ "before the first", "AAA", NOT_A_CODE },
	{ "after the last", "ZZZ", NOT_A_CODE },
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		const struct pr_currency *c = pr_currency_find(w->code);
		const char *why = pr_currency_check(w->code);

		print_message("  %s: %s\n", w->name, w->code);
		if (w->minor == NOT_A_CODE) {
			assert_null(c);
			assert_non_null(why);
			assert_non_null(strstr(why, "ISO 4217"));
			continue;
		}
		assert_non_null(c);
		assert_string_equal(c->code, w->code);
		assert_int_equal(c->minor, w->minor);
		if (w->minor < 0)
			assert_non_null(why);
		else
			assert_null(why);
	}
}

/* Sorted and well formed: the bisection finds every row. */
static void test_table(void **state)
{
	size_t n;
	const struct pr_currency *all = pr_currency_all(&n);

	(void)state;
	assert_true(n > 150);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(strlen(all[i].code), 3);
		assert_true(all[i].minor >= -1 && all[i].minor <= 4);
		if (i > 0)
			assert_true(strcmp(all[i - 1].code, all[i].code) < 0);
		assert_ptr_equal(pr_currency_find(all[i].code), &all[i]);
	}
}

static void test_null(void **state)
{
	(void)state;
	assert_null(pr_currency_find(NULL));
	assert_non_null(pr_currency_check(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
