/*
 * wdreq.c - a withdrawal request of the merchant API and its payee
 * (wdreq.h). Pure.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domain/currency.h"
#include "domain/payreq.h"
#include "domain/wdreq.h"

const char *pr_wd_method(const char *kind)
{
	if (!kind)
		return NULL;
	if (strcmp(kind, "bank_card") == 0)
		return "bank_transfer";
	if (strcmp(kind, "alipay_account") == 0)
		return "alipay";
	if (strcmp(kind, "wechat_openid") == 0)
		return "wechat_pay";
	return NULL;
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

const char *pr_wd_mask_account(const char *kind, const char *account, char *out,
			       size_t len)
{
	size_t n = account ? strlen(account) : 0;
	const char *at = account ? strchr(account, '@') : NULL;

	if (!len)
		return out;
	if (n == 0) {
		snprintf(out, len, "****");
	} else if (kind && strcmp(kind, "bank_card") == 0 && n >= 9) {
		snprintf(out, len, "%.4s **** **** %s", account,
			 account + n - 4);
	} else if (kind && strcmp(kind, "alipay_account") == 0 && at &&
		   at > account) {
		snprintf(out, len, "%c***%.48s", account[0], at);
	} else if (kind && strcmp(kind, "alipay_account") == 0 && n == 11 &&
		   all_digits(account)) {
		snprintf(out, len, "%.3s****%s", account, account + 7);
	} else if (n >= 9) {
		snprintf(out, len, "%.4s****%s", account, account + n - 4);
	} else {
		snprintf(out, len, "****");
	}
	return out;
}

/*
 * The payee's name, for every driver. What the in-tree drivers do with it:
 *
 *   bank    customerInfo = base64("{customerNm=NAME}"): the braces and
 *           '=' frame the field and '&' separates the gateway's key=value
 *           pairs, so the driver refuses a name with any of "{}&=" (a
 *           withdrawal that then fails with DRIVER_ERROR);
 *   alipay  payee_info.name, a JSON string: valid UTF-8 only;
 *   wechat  user_name encrypted with RSA-OAEP (2048-bit key): at most 214
 *           bytes, well above the 128 allowed here.
 *
 * So a name is refused up front when it is not valid UTF-8 (overlong
 * forms and surrogates included), holds a control character (C0, DEL or
 * C1), holds one of "{}&=", or starts or ends with a space (a channel
 * compares names as given; padding would never match the account
 * holder's). Everything else a person's or a company's name is written
 * with (any script, '.', '-', '\'', '(', ')', '·', spaces inside)
 * passes.
 */
const char *pr_wd_name_check(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t n = strlen(name);

	if (n == 0)
		return "must not be empty";
	if (name[0] == ' ' || name[n - 1] == ' ')
		return "must not start or end with a space";
	while (*p) {
		unsigned c = *p, cp;
		int len;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return "control characters are not allowed";
			if (strchr("{}&=", (int)c))
				return "'{', '}', '&' and '=' are not allowed "
				       "(the bank channels' message format "
				       "reserves them)";
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return "not valid UTF-8";
		}
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return "not valid UTF-8";
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return "not valid UTF-8";
		if (cp >= 0x80 && cp <= 0x9f)
			return "control characters are not allowed";
		p += len;
	}
	return NULL;
}

static int bad(char *field, size_t fl, char *err, size_t el, const char *name,
	       const char *msg)
{
	snprintf(field, fl, "%s", name);
	snprintf(err, el, "%s: %s", name, msg);
	return -EINVAL;
}

static int charset_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return 0;
	return 1;
}

/* A string member: 1 copied, 0 absent (or null), -EINVAL. */
static int get_str(json_t *o, const char *key, const char *name, char *buf,
		   size_t len, size_t min, char *field, size_t fl, char *err,
		   size_t el)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(field, fl, err, el, name, "expected a string");
	s = json_string_value(v);
	n = strlen(s);
	if (n < min || n >= len || n != json_string_length(v)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%zu to %zu characters", min,
			 len - 1);
		return bad(field, fl, err, el, name, msg);
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return bad(field, fl, err, el, name,
				   "control characters are not allowed");
	memcpy(buf, s, n + 1);
	return 1;
}

static int check_keys(json_t *o, const char *const *known, const char *prefix,
		      char *field, size_t fl, char *err, size_t el)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; known[i]; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (!known[i]) {
			char name[96];

			snprintf(name, sizeof(name), "%s%.64s", prefix, k);
			return bad(field, fl, err, el, name, "unknown field");
		}
	}
	return 0;
}

/* Parses and checks a POST /v1/withdrawals body. Errors name the field. */
int pr_wdreq_parse(json_t *j, struct pr_wdreq *q, char *field, size_t fl,
		   char *err, size_t el)
{
	static const char *const top[] = { "merchant_withdrawal_no",
					   "amount",
					   "currency",
					   "payee",
					   "notify_url",
					   NULL };
	static const char *const payee_keys[] = { "kind", "account", "name",
						  "bank_code", NULL };
	const char *why;
	json_t *amt, *payee;
	int rc;

	memset(q, 0, sizeof(*q));
	if (!json_is_object(j))
		return bad(field, fl, err, el, "body", "expected an object");
	if (check_keys(j, top, "", field, fl, err, el) < 0)
		return -EINVAL;
	rc = get_str(j, "merchant_withdrawal_no", "merchant_withdrawal_no",
		     q->no, sizeof(q->no), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return bad(field, fl, err, el, "merchant_withdrawal_no",
			   "required");
	if (!charset_ok(q->no, "_.:-"))
		return bad(field, fl, err, el, "merchant_withdrawal_no",
			   "letters, digits and _ . : - only");
	amt = json_object_get(j, "amount");
	if (!amt)
		return bad(field, fl, err, el, "amount", "required");
	if (!json_is_integer(amt) || json_integer_value(amt) <= 0 ||
	    json_integer_value(amt) > PR_AMOUNT_MAX)
		return bad(field, fl, err, el, "amount",
			   "a positive integer in minor units");
	q->amount = json_integer_value(amt);
	rc = get_str(j, "currency", "currency", q->currency,
		     sizeof(q->currency), 3, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return bad(field, fl, err, el, "currency",
			   "required, an ISO 4217 code such as CNY");
	if ((why = pr_currency_check(q->currency)) != NULL)
		return bad(field, fl, err, el, "currency", why);
	rc = get_str(j, "notify_url", "notify_url", q->notify_url,
		     sizeof(q->notify_url), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc && strncmp(q->notify_url, "http://", 7) != 0 &&
	    strncmp(q->notify_url, "https://", 8) != 0)
		return bad(field, fl, err, el, "notify_url",
			   "an http:// or https:// URL");
	payee = json_object_get(j, "payee");
	if (!payee)
		return bad(field, fl, err, el, "payee", "required");
	if (!json_is_object(payee))
		return bad(field, fl, err, el, "payee", "expected an object");
	if (check_keys(payee, payee_keys, "payee.", field, fl, err, el) < 0)
		return -EINVAL;
	rc = get_str(payee, "kind", "payee.kind", q->kind, sizeof(q->kind), 1,
		     field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0 || !pr_wd_method(q->kind))
		return bad(field, fl, err, el, "payee.kind",
			   "bank_card, alipay_account or wechat_openid");
	rc = get_str(payee, "account", "payee.account", q->account,
		     sizeof(q->account), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return bad(field, fl, err, el, "payee.account", "required");
	if (strcmp(q->kind, "bank_card") == 0) {
		size_t n = strlen(q->account);

		if (!all_digits(q->account) || n < 12 || n > 32)
			return bad(field, fl, err, el, "payee.account",
				   "a bank card or account number: 12 to 32 "
				   "digits");
	} else if (strcmp(q->kind, "alipay_account") == 0) {
		size_t n = strlen(q->account);

		if (n < 3 || n > 100 || !charset_ok(q->account, "@._+-"))
			return bad(field, fl, err, el, "payee.account",
				   "an Alipay logon id (e-mail or phone "
				   "number)");
	} else if (strlen(q->account) < 8 || strlen(q->account) > 64 ||
		   !charset_ok(q->account, "_-")) {
		return bad(field, fl, err, el, "payee.account",
			   "an openid: 8 to 64 letters, digits, _ and -");
	}
	rc = get_str(payee, "name", "payee.name", q->name, sizeof(q->name), 1,
		     field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc && (why = pr_wd_name_check(q->name)) != NULL)
		return bad(field, fl, err, el, "payee.name", why);
	rc = get_str(payee, "bank_code", "payee.bank_code", q->bank_code,
		     sizeof(q->bank_code), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc && !charset_ok(q->bank_code, "_"))
		return bad(field, fl, err, el, "payee.bank_code",
			   "letters, digits and _ only");
	return 0;
}
