/*
 * test_payreq.c - the payment request of the merchant contract: one named
 * row per case, the JSON in and either the field and message expected or
 * success.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/catalogue.h"
#include "domain/payreq.h"
#include "domain/tz.h"

#define BASE                                                                   \
	"\"merchant_order_no\":\"M-1\",\"amount\":100,\"currency\":\"CNY\","
#define OK_TAIL "\"method\":\"alipay\""

struct row {
	const char *name;
	const char *json;
	int explain;
	const char *field;   /* NULL: success */
	const char *message; /* substring of the error */
};

static const struct row rows[] = {
	{ "minimal payment", "{" BASE OK_TAIL "}", 0, NULL, NULL },
	{ "every field",
	  "{" BASE "\"method\":\"debit_card\",\"environment\":\"h5\","
	  "\"product_code\":\"QUICK_WAP\",\"buyer_id\":\"b1\",\"seller_id\":"
	  "\"s1\",\"card_no\":\"4111111111111111\",\"bank_code\":\"ICBC\","
	  "\"subject\":\"tea\",\"notify_url\":\"https://m.example/n\","
	  "\"expire_seconds\":900}",
	  0, NULL, NULL },
	{ "merchant_order_no required for payments",
	  "{\"amount\":1,"
	  "\"currency\":\"CNY\"," OK_TAIL "}",
	  0, "merchant_order_no", "required" },
	{ "merchant_order_no optional for explain",
	  "{\"amount\":1,"
	  "\"currency\":\"CNY\"," OK_TAIL "}",
	  1, NULL, NULL },
	{ "merchant_order_no charset",
	  "{\"merchant_order_no\":\"a b\","
	  "\"amount\":1,\"currency\":\"CNY\"," OK_TAIL "}",
	  0, "merchant_order_no", "only letters" },
	{ "amount missing",
	  "{\"merchant_order_no\":\"M\",\"currency\":\"CNY\"," OK_TAIL "}", 0,
	  "amount", "required" },
	{ "amount zero",
	  "{\"merchant_order_no\":\"M\",\"amount\":0,"
	  "\"currency\":\"CNY\"," OK_TAIL "}",
	  0, "amount", "positive integer" },
	{ "amount negative",
	  "{\"merchant_order_no\":\"M\",\"amount\":-5,"
	  "\"currency\":\"CNY\"," OK_TAIL "}",
	  0, "amount", "positive integer" },
	{ "amount as a float",
	  "{\"merchant_order_no\":\"M\",\"amount\":1.5,"
	  "\"currency\":\"CNY\"," OK_TAIL "}",
	  0, "amount", "positive integer" },
	{ "amount as a string",
	  "{\"merchant_order_no\":\"M\",\"amount\":\"1\","
	  "\"currency\":\"CNY\"," OK_TAIL "}",
	  0, "amount", "positive integer" },
	{ "amount too large",
	  "{\"merchant_order_no\":\"M\",\"amount\":"
	  "10000000000000000,\"currency\":\"CNY\"," OK_TAIL "}",
	  0, "amount", "too large" },
	{ "currency lowercase",
	  "{\"merchant_order_no\":\"M\",\"amount\":1,"
	  "\"currency\":\"cny\"," OK_TAIL "}",
	  0, "currency", "ISO 4217" },
	{ "currency not in ISO 4217",
	  "{\"merchant_order_no\":\"M\",\"amount\":1,"
	  "\"currency\":\"XYZ\"," OK_TAIL "}",
	  0, "currency", "ISO 4217" },
	{ "currency withdrawn (HRK)",
	  "{\"merchant_order_no\":\"M\",\"amount\":1,"
	  "\"currency\":\"HRK\"," OK_TAIL "}",
	  0, "currency", "ISO 4217" },
	{ "currency without minor units (XAU)",
	  "{\"merchant_order_no\":\"M\",\"amount\":1,"
	  "\"currency\":\"XAU\"," OK_TAIL "}",
	  0, "currency", "without minor units" },
	{ "currency JPY (no minor unit: amounts are yen)",
	  "{\"merchant_order_no\":\"M\",\"amount\":1000,"
	  "\"currency\":\"JPY\"," OK_TAIL "}",
	  0, NULL, NULL },
	{ "currency KWD (three decimals)",
	  "{\"merchant_order_no\":\"M\",\"amount\":1000,"
	  "\"currency\":\"KWD\"," OK_TAIL "}",
	  0, NULL, NULL },
	{ "currency missing",
	  "{\"merchant_order_no\":\"M\",\"amount\":1," OK_TAIL "}", 0,
	  "currency", "required" },
	{ "method missing", "{" BASE "\"subject\":\"x\"}", 0, "method",
	  "required" },
	{ "method with capitals", "{" BASE "\"method\":\"AliPay\"}", 0,
	  "method", "expected a method" },
	{ "unknown environment", "{" BASE OK_TAIL ",\"environment\":\"tv\"}", 0,
	  "environment", "expected h5" },
	{ "card too short", "{" BASE OK_TAIL ",\"card_no\":\"4111\"}", 0,
	  "card_no", "12 to 19 digits" },
	{ "card with letters",
	  "{" BASE OK_TAIL ",\"card_no\":\"41111111111111a1\"}", 0, "card_no",
	  "12 to 19 digits" },
	{ "card failing Luhn",
	  "{" BASE OK_TAIL ",\"card_no\":\"4111111111111112\"}", 0, "card_no",
	  "Luhn" },
	{ "card as a number", "{" BASE OK_TAIL ",\"card_no\":4111111111111111}",
	  0, "card_no", "12 to 19 digits" },
	{ "notify_url not http",
	  "{" BASE OK_TAIL ",\"notify_url\":\"ftp://x\"}", 0, "notify_url",
	  "http://" },
	{ "expire_seconds too small", "{" BASE OK_TAIL ",\"expire_seconds\":5}",
	  0, "expire_seconds", "between 60" },
	{ "barcode with its auth_code",
	  "{" BASE OK_TAIL ",\"environment\":\"barcode\","
	  "\"auth_code\":\"280000000000000001\"}",
	  0, NULL, NULL },
	{ "barcode without auth_code",
	  "{" BASE OK_TAIL ",\"environment\":\"barcode\"}", 0, "auth_code",
	  "required with environment barcode" },
	{ "explain: barcode without auth_code",
	  "{" BASE OK_TAIL ",\"environment\":\"barcode\"}", 1, NULL, NULL },
	{ "auth_code too short",
	  "{" BASE OK_TAIL ",\"environment\":\"barcode\","
	  "\"auth_code\":\"28000\"}",
	  0, "auth_code", "10 to 32" },
	{ "auth_code with a space",
	  "{" BASE OK_TAIL ",\"environment\":\"barcode\","
	  "\"auth_code\":\"2800 0000000000001\"}",
	  0, "auth_code", "10 to 32" },
	{ "subject too long",
	  "{" BASE OK_TAIL ",\"subject\":\""
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "\"}",
	  0, "subject", "at most 256" },
	{ "empty buyer_id", "{" BASE OK_TAIL ",\"buyer_id\":\"\"}", 0,
	  "buyer_id", "must not be empty" },
	{ "unknown field", "{" BASE OK_TAIL ",\"amout\":1}", 0, "amout",
	  "unknown field" },
	{ "explain field refused on payments",
	  "{" BASE OK_TAIL ",\"at\":"
	  "\"2026-11-25T10:00:00Z\"}",
	  0, "at", "unknown field" },
	{ "explain at",
	  "{" BASE OK_TAIL ",\"at\":\"2026-11-25T22:30:00+08:00\"}", 1, NULL,
	  NULL },
	{ "explain bad at", "{" BASE OK_TAIL ",\"at\":\"yesterday\"}", 1, "at",
	  "RFC 3339" },
	{ "explain business_type withdraw",
	  "{" BASE OK_TAIL ",\"business_type\":\"withdraw\"}", 1, NULL, NULL },
	{ "explain bad business_type",
	  "{" BASE OK_TAIL ",\"business_type\":\"refund\"}", 1, "business_type",
	  "pay or withdraw" },
	{ "not an object", "[]", 0, "body", "JSON object" },
};

static void test_rows(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct pr_payreq req;
		struct pr_payreq_extra extra;
		char field[64] = "", err[256] = "";
		json_error_t jerr;
		json_t *j = json_loads(r->json, 0, &jerr);
		int rc;

		if (!j)
			fail_msg("row \"%s\": bad JSON: %s", r->name,
				 jerr.text);
		rc = pr_payreq_parse(j, &req, r->explain ? &extra : NULL, field,
				     sizeof(field), err, sizeof(err));
		json_decref(j);
		if (!r->field && rc != 0)
			fail_msg("row \"%s\": unexpected error: %s", r->name,
				 err);
		if (r->field &&
		    (rc != -EINVAL || strcmp(field, r->field) != 0 ||
		     !strstr(err, r->message)))
			fail_msg("row \"%s\": rc %d field \"%s\" err \"%s\"",
				 r->name, rc, field, err);
		/* A card number never appears in an error message. */
		if (strstr(err, "4111"))
			fail_msg("row \"%s\": card digits in \"%s\"", r->name,
				 err);
	}
}

static void test_values(void **state)
{
	json_t *j = json_loads("{" BASE "\"method\":\"wechat_pay\","
			       "\"environment\":\"jsapi\",\"business_type\":"
			       "\"withdraw\",\"merchant\":\"m9\",\"at\":"
			       "\"2026-11-25T22:30:00.250+08:00\"}",
			       0, NULL);
	struct pr_payreq req;
	struct pr_payreq_extra extra;
	char field[64], err[256];

	assert_int_equal(pr_payreq_parse(j, &req, &extra, field, sizeof(field),
					 err, sizeof(err)),
			 0);
	assert_string_equal(req.merchant_order_no, "M-1");
	assert_int_equal(req.amount, 100);
	assert_string_equal(req.currency, "CNY");
	assert_string_equal(req.method, "wechat_pay");
	assert_string_equal(req.environment, "jsapi");
	assert_int_equal(extra.business, PR_BIZ_WITHDRAW);
	assert_string_equal(extra.merchant, "m9");
	/* 2026-11-25T14:30:00.250Z */
	assert_int_equal(extra.at_ms, 1795617000250LL);
	json_decref(j);
}

struct time_row {
	const char *text;
	int rc;
	int64_t ms;
};

static void test_rfc3339(void **state)
{
	static const struct time_row t[] = {
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2026-11-25T14:30:00Z", 0, 1795617000000LL },
		{ "2026-11-25T22:30:00+08:00", 0, 1795617000000LL },
		{ "2026-11-25T09:30:00-05:00", 0, 1795617000000LL },
		{ "2024-02-29T00:00:00Z", 0, 1709164800000LL },
		{ "2025-02-29T00:00:00Z", -EINVAL, 0 },
		{ "2026-13-01T00:00:00Z", -EINVAL, 0 },
		{ "2026-11-25T24:00:00Z", -EINVAL, 0 },
		{ "2026-11-25 14:30:00", -EINVAL, 0 },
		{ "2026-11-25T14:30:00.Z", -EINVAL, 0 },
		{ "2026-11-25", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t ms = -1;
		int rc = pr_parse_rfc3339(t[i].text, &ms);

		if (rc != t[i].rc || (rc == 0 && ms != t[i].ms))
			fail_msg("%s: rc %d ms %lld", t[i].text, rc,
				 (long long)ms);
	}
}

/* pr_luhn_ok: the check digit of ISO/IEC 7812 card numbers, one row per
 * case (the whitelist and card_no both use it). */
static void test_luhn(void **state)
{
	static const struct {
		const char *name, *digits;
		int ok;
	} cards[] = {
		{ "Visa test card", "4111111111111111", 1 },
		{ "its last digit changed", "4111111111111112", 0 },
		{ "UnionPay 19 digits", "6222020200112233446", 1 },
		{ "the old sample catalogue's card", "6222020200112233445", 0 },
		{ "t_channels' card", "6222020200112243445", 1 },
		{ "two digits swapped (caught)", "4111111111111121", 0 },
		{ "Amex test card", "378282246310005", 1 },
		{ "all zeros", "000000000000", 1 },
		{ "a single 0", "0", 1 },
		{ "a single 1", "1", 0 },
		{ "a letter", "41111111111111a1", 0 },
		{ "a space", "4111 1111 1111 1111", 0 },
		{ "empty", "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cards) / sizeof(cards[0]); i++) {
		print_message("  %s: %s\n", cards[i].name, cards[i].digits);
		assert_int_equal(pr_luhn_ok(cards[i].digits), cards[i].ok);
	}
	assert_int_equal(pr_luhn_ok(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_luhn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
