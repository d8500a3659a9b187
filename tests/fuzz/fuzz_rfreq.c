/*
 * fuzz_rfreq.c - libFuzzer target for the merchant API's refund request
 * parser (core/domain/rfreq.c, pr_rfreq_parse): the input is a POST
 * /v1/payments/{id}/refunds body. Never a crash; a refusal names its
 * field; an accepted refund has an amount within PR_AMOUNT_MAX (the store
 * once answered 2^63-1 with "bigint out of range"), a known stage and, if
 * given, an ISO 4217 currency.
 *
 * Seeds: tests/fuzz/corpus/fuzz_rfreq/.
 */
// FUZZ_CORE: core/domain/rfreq.c core/domain/currency.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "domain/currency.h"
#include "domain/payreq.h"
#include "domain/rfreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct pr_rfreq q;
	char field[96] = "", err[512] = "";
	int rc;

	if (!j)
		return 0;
	rc = pr_rfreq_parse(j, &q, field, sizeof(field), err, sizeof(err));
	json_decref(j);
	if (rc < 0) {
		/* field is "" only for an unknown key "" */
		if (rc != -EINVAL || !err[0])
			abort();
		return 0;
	}
	if (q.amount <= 0 || q.amount > PR_AMOUNT_MAX || !q.no[0] ||
	    (strcmp(q.stage, "pre_delivery") != 0 &&
	     strcmp(q.stage, "post_delivery") != 0) ||
	    (q.currency[0] && pr_currency_check(q.currency)))
		abort();
	return 0;
}
