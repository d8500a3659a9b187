/*
 * payreq.h - the merchant contract's payment request (doc/design.md §9),
 * parsed and checked once: the merchant API and the explain endpoint use
 * the same function, so a field is refused with the same words everywhere.
 * Pure: no I/O.
 */
#ifndef PR_PAYREQ_H
#define PR_PAYREQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The largest amount the merchant API accepts, in minor units (10^15: far
 * beyond any payment, far below what int64_t and the store hold). */
#define PR_AMOUNT_MAX 1000000000000000LL

struct pr_payreq {
	char merchant_order_no[65];
	int64_t amount;	  /* minor units, > 0 */
	char currency[4]; /* ISO 4217 */
	char method[33];
	char environment[17];
	char product_code[65];
	char buyer_id[129];
	char seller_id[129];
	char card_no[20]; /* digits only; never log it */
	char bank_code[17];
	char subject[257];
	char notify_url[1025];
	int64_t expire_seconds; /* 0: the default */
	char auth_code[33];	/* barcode payments: the payer's payment code;
				   never log or store it */
};

/* Options for the explain endpoint's extra fields. */
struct pr_payreq_extra {
	unsigned business; /* PR_BIZ_PAY (default) or PR_BIZ_WITHDRAW */
	char merchant[65]; /* merchant id for rule conditions */
	int64_t at_ms;	   /* 0: now */
};

/* 1 when d is a non-empty string of digits whose last digit is the Luhn
 * (mod 10) check digit of the others (ISO/IEC 7812-1 card numbers), 0
 * otherwise (NULL too). */
int pr_luhn_ok(const char *d);

/* Parses j into out. When extra is NULL only the merchant contract's fields
 * are allowed (and merchant_order_no is required); with extra, the explain
 * endpoint's "business_type", "merchant" and "at" are accepted too and
 * merchant_order_no is optional. Unknown fields are errors. Returns 0, or
 * -EINVAL with field set to the offending field's name and err to the full
 * message ("amount: must be a positive integer"). */
int pr_payreq_parse(json_t *j, struct pr_payreq *out,
		    struct pr_payreq_extra *extra, char *field, size_t fieldlen,
		    char *err, size_t errlen);

#endif
