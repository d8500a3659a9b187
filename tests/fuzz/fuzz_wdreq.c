/*
 * fuzz_wdreq.c - libFuzzer target for the merchant API's withdrawal
 * request parser (core/domain/wdreq.c, pr_wdreq_parse) and the masked account it
 * shows: the input is a POST /v1/withdrawals body. Never a crash; a
 * refusal names its field; an accepted request has a known payee kind, an
 * ISO 4217 currency, an amount within PR_AMOUNT_MAX and a payee name the
 * drivers take (pr_wd_name_check).
 *
 * Seeds: tests/fuzz/corpus/fuzz_wdreq/.
 */
// FUZZ_CORE: core/domain/wdreq.c core/domain/currency.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "domain/currency.h"
#include "domain/payreq.h"
#include "domain/wdreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct pr_wdreq q;
	char field[96] = "", err[512] = "", mask[80];
	int rc;

	if (!j)
		return 0;
	rc = pr_wdreq_parse(j, &q, field, sizeof(field), err, sizeof(err));
	json_decref(j);
	if (rc < 0) {
		/* field is "" only for an unknown key "" */
		if (rc != -EINVAL || !err[0])
			abort();
		return 0;
	}
	if (!pr_wd_method(q.kind) || pr_currency_check(q.currency) ||
	    q.amount <= 0 || q.amount > PR_AMOUNT_MAX ||
	    (q.name[0] && pr_wd_name_check(q.name)))
		abort();
	pr_wd_mask_account(q.kind, q.account, mask, sizeof(mask));
	if (strlen(mask) >= sizeof(mask) || strstr(mask, q.account))
		if (strlen(q.account) > 8)
			abort(); /* the mask must not show a long account */
	return 0;
}
