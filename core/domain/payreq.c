/*
 * payreq.c - parsing and checking the merchant contract's payment request.
 *
 * Field names are fixed by the contract (doc/design.md §9). Each string has
 * a maximum length and, where it is an identifier, a character set; the
 * card number must be 12 to 19 digits and pass the Luhn check; the
 * currency must be a current ISO 4217 code (currency.c). Errors name
 * the field so that the merchant API and the explain endpoint can answer
 * 400 with {"error": {"code": "invalid_field", "field": ...}}.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domain/catalogue.h"
#include "domain/currency.h"
#include "domain/payreq.h"
#include "domain/tz.h"

static int fail(char *field, size_t fieldlen, char *err, size_t errlen,
		const char *name, const char *msg)
{
	snprintf(field, fieldlen, "%s", name);
	snprintf(err, errlen, "%s: %s", name, msg);
	return -EINVAL;
}

static int charset_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return 0;
	return 1;
}

int pr_luhn_ok(const char *d)
{
	size_t n = d ? strlen(d) : 0;
	int sum = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int v = d[n - 1 - i] - '0';

		if (v < 0 || v > 9)
			return 0;
		if (i % 2 == 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

/* A string field: returns 1 when present and copied, 0 when absent, or
 * -EINVAL (err filled). */
static int get_str(json_t *j, const char *name, char *buf, size_t len,
		   int required, char *field, size_t fieldlen, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(j, name);
	const char *s;
	char msg[96];

	if (!v || json_is_null(v)) {
		if (required)
			return fail(field, fieldlen, err, errlen, name,
				    "required");
		buf[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return fail(field, fieldlen, err, errlen, name,
			    "expected a string");
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s))
		return fail(field, fieldlen, err, errlen, name,
			    "must not contain NUL characters");
	if (s[0] == '\0')
		return fail(field, fieldlen, err, errlen, name,
			    "must not be empty");
	if (strlen(s) >= len) {
		snprintf(msg, sizeof(msg), "at most %zu characters", len - 1);
		return fail(field, fieldlen, err, errlen, name, msg);
	}
	snprintf(buf, len, "%s", s);
	return 1;
}

int pr_payreq_parse(json_t *j, struct pr_payreq *out,
		    struct pr_payreq_extra *extra, char *field, size_t fieldlen,
		    char *err, size_t errlen)
{
	static const char *const contract[] = {
		"merchant_order_no", "amount",	     "currency", "method",
		"environment",	     "product_code", "buyer_id", "seller_id",
		"card_no",	     "bank_code",    "subject",	 "notify_url",
		"expire_seconds",    "auth_code",    NULL
	};
	static const char *const explain_only[] = { "business_type", "merchant",
						    "at", NULL };
	static const char *const envs[] = { "h5",	 "mini_program",
					    "app",	 "pc",
					    "native_qr", "jsapi",
					    "barcode",	 NULL };
	const char *key, *why;
	json_t *v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return fail(field, fieldlen, err, errlen, "body",
			    "expected a JSON object");
	json_object_foreach(j, key, v) {
		int known = 0;

		for (size_t i = 0; contract[i] && !known; i++)
			known = strcmp(key, contract[i]) == 0;
		for (size_t i = 0; extra && explain_only[i] && !known; i++)
			known = strcmp(key, explain_only[i]) == 0;
		if (!known)
			return fail(field, fieldlen, err, errlen, key,
				    "unknown field");
	}

	rc = get_str(j, "merchant_order_no", out->merchant_order_no,
		     sizeof(out->merchant_order_no), !extra, field, fieldlen,
		     err, errlen);
	if (rc < 0)
		return rc;
	if (rc && !charset_ok(out->merchant_order_no, "_-."))
		return fail(field, fieldlen, err, errlen, "merchant_order_no",
			    "only letters, digits, '_', '-' and '.'");

	v = json_object_get(j, "amount");
	if (!v)
		return fail(field, fieldlen, err, errlen, "amount", "required");
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return fail(field, fieldlen, err, errlen, "amount",
			    "must be a positive integer (minor units)");
	if (json_integer_value(v) > PR_AMOUNT_MAX)
		return fail(field, fieldlen, err, errlen, "amount",
			    "too large");
	out->amount = json_integer_value(v);

	rc = get_str(j, "currency", out->currency, sizeof(out->currency), 1,
		     field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	if ((why = pr_currency_check(out->currency)) != NULL)
		return fail(field, fieldlen, err, errlen, "currency", why);

	rc = get_str(j, "method", out->method, sizeof(out->method), 1, field,
		     fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	for (const char *p = out->method; *p; p++)
		if (!(islower((unsigned char)*p) || *p == '_'))
			return fail(field, fieldlen, err, errlen, "method",
				    "expected a method such as alipay, "
				    "wechat_pay, debit_card, credit_card");

	rc = get_str(j, "environment", out->environment,
		     sizeof(out->environment), 0, field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	if (rc) {
		int ok = 0;

		for (size_t i = 0; envs[i] && !ok; i++)
			ok = strcmp(out->environment, envs[i]) == 0;
		if (!ok)
			return fail(field, fieldlen, err, errlen, "environment",
				    "expected h5, mini_program, app, pc, "
				    "native_qr, jsapi or barcode");
	}

	rc = get_str(j, "product_code", out->product_code,
		     sizeof(out->product_code), 0, field, fieldlen, err,
		     errlen);
	if (rc < 0)
		return rc;
	if (rc && !charset_ok(out->product_code, "_-."))
		return fail(field, fieldlen, err, errlen, "product_code",
			    "only letters, digits, '_', '-' and '.'");
	rc = get_str(j, "buyer_id", out->buyer_id, sizeof(out->buyer_id), 0,
		     field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	rc = get_str(j, "seller_id", out->seller_id, sizeof(out->seller_id), 0,
		     field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	rc = get_str(j, "auth_code", out->auth_code, sizeof(out->auth_code), 0,
		     field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	if (rc &&
	    (strlen(out->auth_code) < 10 || !charset_ok(out->auth_code, ""))) {
		memset(out->auth_code, 0, sizeof(out->auth_code));
		return fail(field, fieldlen, err, errlen, "auth_code",
			    "10 to 32 letters or digits (the payer's payment "
			    "code)");
	}
	if (!rc && strcmp(out->environment, "barcode") == 0 && !extra)
		return fail(field, fieldlen, err, errlen, "auth_code",
			    "required with environment barcode");
	rc = get_str(j, "card_no", out->card_no, sizeof(out->card_no), 0, field,
		     fieldlen, err, errlen);
	if (rc < 0) /* never echo a card number: the message is generic */
		return fail(field, fieldlen, err, errlen, "card_no",
			    "expected 12 to 19 digits");
	if (rc) {
		size_t n = strlen(out->card_no);
		int digits = n >= 12 && n <= 19;

		for (size_t i = 0; digits && i < n; i++)
			digits = isdigit((unsigned char)out->card_no[i]);
		if (!digits || !pr_luhn_ok(out->card_no)) {
			memset(out->card_no, 0, sizeof(out->card_no));
			return fail(field, fieldlen, err, errlen, "card_no",
				    digits ? "fails the Luhn check" :
					     "expected 12 to 19 digits");
		}
	}
	rc = get_str(j, "bank_code", out->bank_code, sizeof(out->bank_code), 0,
		     field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	if (rc && !charset_ok(out->bank_code, "_"))
		return fail(field, fieldlen, err, errlen, "bank_code",
			    "only letters, digits and '_'");
	rc = get_str(j, "subject", out->subject, sizeof(out->subject), 0, field,
		     fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	rc = get_str(j, "notify_url", out->notify_url, sizeof(out->notify_url),
		     0, field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	if (rc && strncmp(out->notify_url, "http://", 7) != 0 &&
	    strncmp(out->notify_url, "https://", 8) != 0)
		return fail(field, fieldlen, err, errlen, "notify_url",
			    "expected an http:// or https:// URL");
	v = json_object_get(j, "expire_seconds");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 60 ||
		    json_integer_value(v) > 7 * 86400)
			return fail(field, fieldlen, err, errlen,
				    "expire_seconds",
				    "must be an integer between 60 and 604800");
		out->expire_seconds = json_integer_value(v);
	}
	if (!extra)
		return 0;

	extra->business = PR_BIZ_PAY;
	extra->merchant[0] = '\0';
	extra->at_ms = 0;
	v = json_object_get(j, "business_type");
	if (v) {
		const char *b = json_string_value(v);

		if (b && strcmp(b, "pay") == 0)
			extra->business = PR_BIZ_PAY;
		else if (b && strcmp(b, "withdraw") == 0)
			extra->business = PR_BIZ_WITHDRAW;
		else
			return fail(field, fieldlen, err, errlen,
				    "business_type",
				    "expected pay or withdraw");
	}
	rc = get_str(j, "merchant", extra->merchant, sizeof(extra->merchant), 0,
		     field, fieldlen, err, errlen);
	if (rc < 0)
		return rc;
	v = json_object_get(j, "at");
	if (v && (!json_is_string(v) ||
		  pr_parse_rfc3339(json_string_value(v), &extra->at_ms) < 0))
		return fail(field, fieldlen, err, errlen, "at",
			    "expected an RFC 3339 time such as "
			    "2026-11-25T22:30:00+08:00");
	return 0;
}
