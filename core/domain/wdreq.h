/*
 * wdreq.h - a withdrawal request of the merchant API (POST
 * /v1/withdrawals, doc/design.md §9) and its payee: parsing, the routing
 * method of a payee kind, the masked account shown and logged. Pure: no
 * I/O, no globals (test_wdreq calls it directly).
 */
#ifndef PR_WDREQ_H
#define PR_WDREQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct pr_wdreq {
	char no[65];
	int64_t amount;
	char currency[4];
	char kind[16];	   /* bank_card, alipay_account, wechat_openid */
	char account[129]; /* in clear: wipe it (explicit_bzero) after use */
	char name[129];
	char bank_code[17];
	char notify_url[513];
};

/* Parses and checks a POST /v1/withdrawals body into q. Unknown fields are
 * errors. Returns 0, or -EINVAL with field set to the offending field's
 * name ("payee.account") and err to the whole message. */
int pr_wdreq_parse(json_t *j, struct pr_wdreq *q, char *field, size_t fl,
		   char *err, size_t el);

/* Checks a payee's name (not empty) for every driver: valid UTF-8, no
 * control characters, none of "{}&=", no leading or trailing space (the
 * reasons are in wdreq.c). Returns NULL when it is acceptable, else what
 * is wrong (a constant string). */
const char *pr_wd_name_check(const char *name);

/* The displayed form of a payee account (pure): bank_card "6222 **** ****
 * 1234" (first and last four digits), alipay_account "a***@x.com" for an
 * e-mail, "138****5678" for a phone number, wechat_openid and anything
 * else the first and last four characters around "****" (all stars when
 * shorter than 9). Writes into out (at least 32 bytes suffice for any
 * account of up to 128 bytes: the domain of an e-mail is cut at 48);
 * returns out. */
const char *pr_wd_mask_account(const char *kind, const char *account, char *out,
			       size_t len);

/* The routing method of a payee kind: bank_card -> "bank_transfer",
 * alipay_account -> "alipay", wechat_openid -> "wechat_pay"; NULL for
 * another kind. */
const char *pr_wd_method(const char *kind);

#endif
