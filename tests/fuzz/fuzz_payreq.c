/*
 * fuzz_payreq.c - libFuzzer target for the merchant API's payment request
 * parser (core/domain/payreq.c, pr_payreq_parse), as POST /v1/payments and the
 * explain endpoint call it: the input is the request body. The parser must
 * never crash, must name a field and a message whenever it refuses, and
 * whatever it accepts must hold what the contract promises (a positive
 * amount within PR_AMOUNT_MAX, an ISO 4217 currency, a Luhn-valid card).
 *
 * Seeds: tests/fuzz/corpus/fuzz_payreq/.
 */
// FUZZ_CORE: core/domain/payreq.c core/domain/currency.c core/domain/tz.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "domain/catalogue.h"
#include "domain/currency.h"
#include "domain/payreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct pr_payreq q;
	struct pr_payreq_extra x;
	char field[64], err[512];

	if (!j)
		return 0;
	for (int explain = 0; explain < 2; explain++) {
		int rc;

		field[0] = err[0] = '\0';
		rc = pr_payreq_parse(j, &q, explain ? &x : NULL, field,
				     sizeof(field), err, sizeof(err));
		if (rc < 0) {
			/* field is "" only for an unknown key "" */
			if (rc != -EINVAL || !err[0])
				abort();
			continue;
		}
		if (rc != 0 || q.amount <= 0 || q.amount > PR_AMOUNT_MAX ||
		    pr_currency_check(q.currency) ||
		    (q.card_no[0] && !pr_luhn_ok(q.card_no)))
			abort();
	}
	json_decref(j);
	return 0;
}
