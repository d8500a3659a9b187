/*
 * rfreq.h - a refund request of the merchant API (POST
 * /v1/payments/{id}/refunds, doc/design.md §9): parsed and checked once,
 * so that every field is refused with its name. Pure: no I/O, no globals
 * (the unit tests and the fuzz target call it directly).
 */
#ifndef PR_RFREQ_H
#define PR_RFREQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct pr_rfreq {
	char no[65];	  /* merchant_refund_no */
	int64_t amount;	  /* minor units, 1 to PR_AMOUNT_MAX */
	char currency[4]; /* "" when not given (the payment's) */
	char reason[257];
	char stage[16]; /* pre_delivery or post_delivery */
	char notify_url[1025];
};

/* Parses and checks a refund body into q: merchant_refund_no (1 to 64
 * letters, digits and _ . : -) and stage required, amount a positive
 * integer of at most PR_AMOUNT_MAX, currency an ISO 4217 code
 * (pr_currency_check), reason at most 256 characters, notify_url an
 * http(s) URL. Unknown fields are errors. Returns 0, or -EINVAL with
 * field set to the offending field's name and err to the whole message
 * ("amount: ..."). */
int pr_rfreq_parse(json_t *j, struct pr_rfreq *q, char *field, size_t fl,
		   char *err, size_t el);

#endif
