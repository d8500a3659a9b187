/*
 * currency.c - ISO 4217 currency codes and their minor units
 * (currency.h).
 *
 * The table is ISO 4217's List One ("current currency & funds code
 * list", kept by the ISO 4217 Maintenance Agency, SIX Financial
 * Information, and published as list_one.xml), as amended up to 2025:
 * the alphabetic code and the "minor unit" column, "N.A." written -1.
 * Codes withdrawn from the list are not accepted: HRK (replaced by EUR on
 * 2023-01-01), CUC (withdrawn after Cuba's 2021 monetary unification),
 * SLL (replaced by the redenominated SLE) and ZWL (replaced by ZWG in
 * 2024); XCG (the Caribbean guilder, replacing ANG, which stays until its
 * own withdrawal) and ZWG are in. The codes were cross-checked against
 * Debian's iso-codes data (/usr/share/iso-codes/json/iso_4217.json),
 * which follows the same list.
 *
 * When the Maintenance Agency amends the list, add or remove the row (in
 * order: the table is searched by bisection) and the matching row of
 * tests/unit/test_currency.c.
 *
 * Why the minor units need no check of amounts in the core: an amount is
 * an integer count of minor units whatever the currency (100 JPY is
 * "amount": 100, 1.000 KWD is "amount": 1000), and PR_AMOUNT_MAX (10^15
 * minor units) fits int64_t and the store's bigint for every exponent, so
 * there is no amount a currency's exponent makes impossible. Only a
 * conversion to a decimal amount depends on it, and that happens in the
 * drivers: every in-tree driver takes CNY only and refuses any other
 * currency itself (alipay need_cny, wechat check_currency, bank
 * currencyCode 156).
 */
#include <stdlib.h>
#include <string.h>

#include "domain/currency.h"

static const struct pr_currency table[] = {
	{ "AED", 2 },  { "AFN", 2 },  { "ALL", 2 },  { "AMD", 2 },
	{ "ANG", 2 },  { "AOA", 2 },  { "ARS", 2 },  { "AUD", 2 },
	{ "AWG", 2 },  { "AZN", 2 },  { "BAM", 2 },  { "BBD", 2 },
	{ "BDT", 2 },  { "BGN", 2 },  { "BHD", 3 },  { "BIF", 0 },
	{ "BMD", 2 },  { "BND", 2 },  { "BOB", 2 },  { "BOV", 2 },
	{ "BRL", 2 },  { "BSD", 2 },  { "BTN", 2 },  { "BWP", 2 },
	{ "BYN", 2 },  { "BZD", 2 },  { "CAD", 2 },  { "CDF", 2 },
	{ "CHE", 2 },  { "CHF", 2 },  { "CHW", 2 },  { "CLF", 4 },
	{ "CLP", 0 },  { "CNY", 2 },  { "COP", 2 },  { "COU", 2 },
	{ "CRC", 2 },  { "CUP", 2 },  { "CVE", 2 },  { "CZK", 2 },
	{ "DJF", 0 },  { "DKK", 2 },  { "DOP", 2 },  { "DZD", 2 },
	{ "EGP", 2 },  { "ERN", 2 },  { "ETB", 2 },  { "EUR", 2 },
	{ "FJD", 2 },  { "FKP", 2 },  { "GBP", 2 },  { "GEL", 2 },
	{ "GHS", 2 },  { "GIP", 2 },  { "GMD", 2 },  { "GNF", 0 },
	{ "GTQ", 2 },  { "GYD", 2 },  { "HKD", 2 },  { "HNL", 2 },
	{ "HTG", 2 },  { "HUF", 2 },  { "IDR", 2 },  { "ILS", 2 },
	{ "INR", 2 },  { "IQD", 3 },  { "IRR", 2 },  { "ISK", 0 },
	{ "JMD", 2 },  { "JOD", 3 },  { "JPY", 0 },  { "KES", 2 },
	{ "KGS", 2 },  { "KHR", 2 },  { "KMF", 0 },  { "KPW", 2 },
	{ "KRW", 0 },  { "KWD", 3 },  { "KYD", 2 },  { "KZT", 2 },
	{ "LAK", 2 },  { "LBP", 2 },  { "LKR", 2 },  { "LRD", 2 },
	{ "LSL", 2 },  { "LYD", 3 },  { "MAD", 2 },  { "MDL", 2 },
	{ "MGA", 2 },  { "MKD", 2 },  { "MMK", 2 },  { "MNT", 2 },
	{ "MOP", 2 },  { "MRU", 2 },  { "MUR", 2 },  { "MVR", 2 },
	{ "MWK", 2 },  { "MXN", 2 },  { "MXV", 2 },  { "MYR", 2 },
	{ "MZN", 2 },  { "NAD", 2 },  { "NGN", 2 },  { "NIO", 2 },
	{ "NOK", 2 },  { "NPR", 2 },  { "NZD", 2 },  { "OMR", 3 },
	{ "PAB", 2 },  { "PEN", 2 },  { "PGK", 2 },  { "PHP", 2 },
	{ "PKR", 2 },  { "PLN", 2 },  { "PYG", 0 },  { "QAR", 2 },
	{ "RON", 2 },  { "RSD", 2 },  { "RUB", 2 },  { "RWF", 0 },
	{ "SAR", 2 },  { "SBD", 2 },  { "SCR", 2 },  { "SDG", 2 },
	{ "SEK", 2 },  { "SGD", 2 },  { "SHP", 2 },  { "SLE", 2 },
	{ "SOS", 2 },  { "SRD", 2 },  { "SSP", 2 },  { "STN", 2 },
	{ "SVC", 2 },  { "SYP", 2 },  { "SZL", 2 },  { "THB", 2 },
	{ "TJS", 2 },  { "TMT", 2 },  { "TND", 3 },  { "TOP", 2 },
	{ "TRY", 2 },  { "TTD", 2 },  { "TWD", 2 },  { "TZS", 2 },
	{ "UAH", 2 },  { "UGX", 0 },  { "USD", 2 },  { "USN", 2 },
	{ "UYI", 0 },  { "UYU", 2 },  { "UYW", 4 },  { "UZS", 2 },
	{ "VED", 2 },  { "VES", 2 },  { "VND", 0 },  { "VUV", 0 },
	{ "WST", 2 },  { "XAF", 0 },  { "XAG", -1 }, { "XAU", -1 },
	{ "XBA", -1 }, { "XBB", -1 }, { "XBC", -1 }, { "XBD", -1 },
	{ "XCD", 2 },  { "XCG", 2 },  { "XDR", -1 }, { "XOF", 0 },
	{ "XPD", -1 }, { "XPF", 0 },  { "XPT", -1 }, { "XSU", -1 },
	{ "XTS", -1 }, { "XUA", -1 }, { "XXX", -1 }, { "YER", 2 },
	{ "ZAR", 2 },  { "ZMW", 2 },  { "ZWG", 2 },
};

static int cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pr_currency *)elem)->code);
}

const struct pr_currency *pr_currency_find(const char *code)
{
	if (!code || strlen(code) != 3)
		return NULL;
	for (int i = 0; i < 3; i++)
		if (code[i] < 'A' || code[i] > 'Z')
			return NULL;
	return bsearch(code, table, sizeof(table) / sizeof(table[0]),
		       sizeof(table[0]), cmp);
}

const struct pr_currency *pr_currency_all(size_t *n)
{
	*n = sizeof(table) / sizeof(table[0]);
	return table;
}

const char *pr_currency_check(const char *code)
{
	const struct pr_currency *c = pr_currency_find(code);

	if (!c)
		return "not a current ISO 4217 currency code (such as CNY)";
	if (c->minor < 0)
		return "an ISO 4217 code without minor units (a precious "
		       "metal, SDR, fund or test code): nothing can be paid "
		       "in it";
	return NULL;
}
