/*
 * test_rfreq.c - the refund request of the merchant API (rfreq.c): one
 * named row per case, the JSON in and either the field and message
 * expected or success.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/rfreq.h"

#define NO "{\"merchant_refund_no\":\"R-1\","
#define STAGE "\"stage\":\"pre_delivery\""

struct row {
	const char *name;
	const char *json;
	const char *field;   /* NULL: success */
	const char *message; /* substring of the error */
};

static const struct row rows[] = {
	{ "minimal refund", NO "\"amount\":100," STAGE "}", NULL, NULL },
	{ "every field",
	  NO "\"amount\":100,\"currency\":\"CNY\",\"reason\":\"size\","
	     "\"notify_url\":\"https://m.example/n\"," STAGE "}",
	  NULL, NULL },
	{ "amount int64 max (store: bigint out of range before)",
	  NO "\"amount\":9223372036854775807," STAGE "}", "amount",
	  "at most 10^15" },
	{ "amount 10^15 + 1", NO "\"amount\":1000000000000001," STAGE "}",
	  "amount", "at most 10^15" },
	{ "amount 10^15", NO "\"amount\":1000000000000000," STAGE "}", NULL,
	  NULL },
	{ "amount zero", NO "\"amount\":0," STAGE "}", "amount", "positive" },
	{ "amount as a real", NO "\"amount\":1.5," STAGE "}", "amount",
	  "positive" },
	{ "amount missing", NO STAGE "}", "amount", "positive" },
	{ "currency XYZ", NO "\"amount\":1,\"currency\":\"XYZ\"," STAGE "}",
	  "currency", "ISO 4217" },
	{ "currency with a digit",
	  NO "\"amount\":1,\"currency\":\"CN1\"," STAGE "}", "currency",
	  "ISO 4217" },
	{ "currency too long",
	  NO "\"amount\":1,\"currency\":\"CNYY\"," STAGE "}", "currency",
	  "1 to 3" },
	{ "stage unknown", NO "\"amount\":1,\"stage\":\"later\"}", "stage",
	  "pre_delivery or post_delivery" },
	{ "stage missing", NO "\"amount\":1}", "stage", "required" },
	{ "number missing", "{\"amount\":1," STAGE "}", "merchant_refund_no",
	  "required" },
	{ "number with a space",
	  "{\"merchant_refund_no\":\"R 1\",\"amount\":1," STAGE "}",
	  "merchant_refund_no", "only letters" },
	{ "reason with a newline",
	  NO "\"amount\":1,\"reason\":\"a\\nb\"," STAGE "}", "reason",
	  "control" },
	{ "notify_url not http",
	  NO "\"amount\":1,\"notify_url\":\"ftp://x\"," STAGE "}", "notify_url",
	  "http" },
	{ "an unknown field", NO "\"amount\":1,\"colour\":1," STAGE "}",
	  "colour", "unknown field" },
	{ "not an object", "[1]", "body", "object" },
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct pr_rfreq q;
		char field[96] = "", err[512] = "";
		json_error_t jerr;
		json_t *j = json_loads(w->json, 0, &jerr);
		int rc;

		print_message("  %s\n", w->name);
		if (!j)
			fail_msg("%s: bad JSON: %s", w->name, jerr.text);
		rc = pr_rfreq_parse(j, &q, field, sizeof(field), err,
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
