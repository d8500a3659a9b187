/*
 * rfreq.c - the merchant API's refund request (rfreq.h). Pure.
 *
 * The checks are those refunds.c made inline before, in the same order
 * and with the same messages, so that a client sees the same answers;
 * the currency is now checked against ISO 4217 (currency.c) and the
 * strings against control characters.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domain/currency.h"
#include "domain/payreq.h"
#include "domain/rfreq.h"

static int bad(char *field, size_t fl, char *err, size_t el, const char *name,
	       const char *msg)
{
	snprintf(field, fl, "%s", name);
	snprintf(err, el, "%s: %s", name, msg);
	return -EINVAL;
}

/* A string member: 1 copied, 0 absent (or null), -EINVAL (field and err
 * filled). charset: NULL for any text without control characters, else
 * the characters allowed besides letters and digits. */
static int str_field(json_t *j, const char *name, int required, size_t max,
		     const char *charset, char *out, size_t outlen, char *field,
		     size_t fl, char *err, size_t el)
{
	json_t *v = json_object_get(j, name);
	const char *s;
	size_t n;
	char msg[128];

	out[0] = '\0';
	if (!v || json_is_null(v))
		return required ? bad(field, fl, err, el, name, "required") : 0;
	s = json_string_value(v);
	n = s ? strlen(s) : 0;
	if (!s || n == 0 || n > max || n >= outlen ||
	    n != json_string_length(v)) {
		snprintf(msg, sizeof(msg), "a string of 1 to %zu characters",
			 max);
		return bad(field, fl, err, el, name, msg);
	}
	for (const char *q = s; *q; q++) {
		unsigned char c = (unsigned char)*q;

		if (charset && !isalnum(c) && !strchr(charset, *q)) {
			snprintf(msg, sizeof(msg),
				 "only letters, digits and '%s'", charset);
			return bad(field, fl, err, el, name, msg);
		}
		if (c < 0x20 || c == 0x7f)
			return bad(field, fl, err, el, name,
				   "control characters are not allowed");
	}
	memcpy(out, s, n + 1);
	return 1;
}

int pr_rfreq_parse(json_t *j, struct pr_rfreq *q, char *field, size_t fl,
		   char *err, size_t el)
{
	static const char *const known[] = {
		"merchant_refund_no", "amount", "currency", "reason", "stage",
		"notify_url",	      NULL
	};
	const char *key, *why;
	json_t *v;
	char msg[160];
	int rc;

	memset(q, 0, sizeof(*q));
	if (!json_is_object(j))
		return bad(field, fl, err, el, "body",
			   "expected a JSON object");
	json_object_foreach(j, key, v) {
		int ok = 0;

		for (size_t i = 0; known[i] && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		if (!ok) {
			snprintf(field, fl, "%.64s", key);
			snprintf(err, el, "%.64s: unknown field", key);
			return -EINVAL;
		}
	}
	if ((rc = str_field(j, "merchant_refund_no", 1, 64, "_.:-", q->no,
			    sizeof(q->no), field, fl, err, el)) < 0 ||
	    (rc = str_field(j, "currency", 0, 3, "", q->currency,
			    sizeof(q->currency), field, fl, err, el)) < 0 ||
	    (rc = str_field(j, "reason", 0, 256, NULL, q->reason,
			    sizeof(q->reason), field, fl, err, el)) < 0 ||
	    (rc = str_field(j, "stage", 1, 15, "_", q->stage, sizeof(q->stage),
			    field, fl, err, el)) < 0 ||
	    (rc = str_field(j, "notify_url", 0, 1024, NULL, q->notify_url,
			    sizeof(q->notify_url), field, fl, err, el)) < 0)
		return rc;
	v = json_object_get(j, "amount");
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) > PR_AMOUNT_MAX)
		return bad(field, fl, err, el, "amount",
			   "a positive integer (minor units), at most 10^15");
	q->amount = json_integer_value(v);
	if (strcmp(q->stage, "pre_delivery") != 0 &&
	    strcmp(q->stage, "post_delivery") != 0)
		return bad(field, fl, err, el, "stage",
			   "pre_delivery or post_delivery");
	if (q->notify_url[0] && strncmp(q->notify_url, "http://", 7) != 0 &&
	    strncmp(q->notify_url, "https://", 8) != 0)
		return bad(field, fl, err, el, "notify_url",
			   "an http:// or https:// URL");
	if (q->currency[0] && (why = pr_currency_check(q->currency))) {
		snprintf(msg, sizeof(msg), "%s", why);
		return bad(field, fl, err, el, "currency", msg);
	}
	return 0;
}
