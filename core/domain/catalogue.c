/*
 * catalogue.c - the channels, whitelist and routing rules as routing sees
 * them: parsing and checking their JSON (the admin API's shape,
 * doc/design.md §9, the same whether it comes from an operator or the
 * store), writing it back, and the immutable catalogue a generation
 * holds, with channels sorted by code and indexed by (business type,
 * method) so that a request looks only at the channels that can take it.
 * Also the pure per-channel questions the router asks: the fee for an
 * amount, the bank mapping for a bank, whether an instant falls in a
 * maintenance window.
 *
 * A channel's defaults, when a key is missing: institution "", every list
 * empty (for product_codes that means any, for the other lists none),
 * status "offline", timezone "Asia/Shanghai", limits and fee parts 0 (none),
 * weight 100, refund_window_days 365, refund_timeout "48h", refund_resend
 * true, whitelist_only false, driver_config {}. code and driver are
 * required. Every error names the field by its path ("banks[1].card_types[0]:
 * expected debit or credit"); the first error found is the one reported.
 * Amounts are JSON integers (a real is refused), never floats.
 *
 * pr_chan_to_json writes every key, in a canonical form that parses back to
 * the same channel: banks sorted by bank_code, business types, card types
 * and weekly days in their fixed order (days as "sun".."sat", whatever form
 * they came in), once windows as RFC 3339 in UTC ("...Z", milliseconds only
 * when not zero), refund_timeout in the largest unit that divides it (so
 * the default "48h" reads back as "2d").
 *
 * Whitelist entries: id optional (0), note "" when missing or null,
 * expires_at null or missing for never. Rules: id 0, name "", enabled true,
 * every condition empty (any), scoring weight 1, fee 1, success_rate 0.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/catalogue.h"

#define MAX_CODE 64
#define MAX_TEXT 256
#define MAX_DRIVER_TEXT 1024
#define MAX_REFUND_TIMEOUT_S (3650LL * 86400)

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Prepends prefix to err (in place). */
static void err_prefix(char *err, size_t errlen, const char *prefix)
{
	char tmp[512];

	if (!err || !errlen)
		return;
	snprintf(tmp, sizeof(tmp), "%s", err);
	snprintf(err, errlen, "%s%s", prefix, tmp);
}

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* ------------------------------------------------------------ validators */

/* Each returns NULL when s is acceptable, else what was expected. */
typedef const char *(*validator_fn)(const char *s);

static const char *v_code(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return "expected 1 to 64 characters of a-z, 0-9 and _";
	return n >= 1 && n <= MAX_CODE ?
		       NULL :
		       "expected 1 to 64 characters of a-z, 0-9 and _";
}

/* Bank codes: letters, digits, _ - . */
static const char *v_token(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_' ||
		      s[n] == '-' || s[n] == '.'))
			return "expected 1 to 64 characters of A-Z, a-z, 0-9, "
			       "_, - and .";
	return n >= 1 && n <= MAX_CODE ?
		       NULL :
		       "expected 1 to 64 characters of A-Z, a-z, 0-9, _, - "
		       "and .";
}

/* Product codes: the channel's own, so any printable text. */
static const char *v_product(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return "expected 1 to 64 characters, no control "
			       "characters";
	return n >= 1 && n <= MAX_CODE ?
		       NULL :
		       "expected 1 to 64 characters, no control characters";
}

static const char *v_text(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= MAX_TEXT ? NULL : "expected 1 to 256 characters";
}

static const char *v_currency(const char *s)
{
	if (strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' &&
	    s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z')
		return NULL;
	return "expected a currency code of 3 uppercase letters";
}

static const char *const environments[] = {
	"h5",	     "mini_program", "app",	"pc",
	"native_qr", "jsapi",	     "barcode", NULL,
};

static const char *v_environment(const char *s)
{
	for (size_t i = 0; environments[i]; i++)
		if (strcmp(s, environments[i]) == 0)
			return NULL;
	return "expected h5, mini_program, app, pc, native_qr, jsapi or barcode";
}

static const char *v_hmac(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') ||
		      (s[n] >= 'a' && s[n] <= 'f')))
			break;
	return n == 64 && s[n] == '\0' ?
		       NULL :
		       "expected the card's HMAC-SHA256 as 64 lowercase hex "
		       "characters";
}

/* --------------------------------------------------------- JSON helpers */

/* Every key of o must be in keys (NULL-terminated). */
static int check_keys(json_t *o, const char *pfx, const char *const *keys,
		      char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; keys[i]; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (!keys[i])
			return fail(err, errlen, "%s%s: unknown key", pfx, k);
	}
	return 0;
}

static int range_fail(char *err, size_t errlen, const char *pfx,
		      const char *key, int64_t min, int64_t max)
{
	if (max == INT64_MAX)
		return fail(err, errlen, "%s%s: must be at least %lld", pfx,
			    key, (long long)min);
	return fail(err, errlen, "%s%s: must be between %lld and %lld", pfx,
		    key, (long long)min, (long long)max);
}

static int get_int(json_t *o, const char *pfx, const char *key, int64_t min,
		   int64_t max, int64_t def, int64_t *out, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(o, key);
	int64_t x;

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return fail(err, errlen, "%s%s: expected an integer", pfx, key);
	x = json_integer_value(v);
	if (x < min || x > max)
		return range_fail(err, errlen, pfx, key, min, max);
	*out = x;
	return 0;
}

static int get_bool(json_t *o, const char *pfx, const char *key, int def,
		    int *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return fail(err, errlen, "%s%s: expected true or false", pfx,
			    key);
	*out = json_is_true(v);
	return 0;
}

/* A string; def NULL: required. valid may be NULL (any string up to
 * MAX_DRIVER_TEXT bytes). */
static int get_str(json_t *o, const char *pfx, const char *key, const char *def,
		   validator_fn valid, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s, *why;

	if (!v) {
		if (!def)
			return fail(err, errlen, "%s%s: missing", pfx, key);
		s = def;
	} else {
		if (!json_is_string(v))
			return fail(err, errlen, "%s%s: expected a string", pfx,
				    key);
		s = json_string_value(v);
		if (strlen(s) != json_string_length(v))
			return fail(err, errlen, "%s%s: contains a NUL byte",
				    pfx, key);
		why = valid ? valid(s) :
			      (strlen(s) > MAX_DRIVER_TEXT ?
				       "expected at most 1024 characters" :
				       NULL);
		if (why)
			return fail(err, errlen, "%s%s: %s", pfx, key, why);
	}
	*out = xstrdup(s);
	return *out ? 0 : -ENOMEM;
}

/* An optional array at key (missing: empty). Returns it or NULL. */
static int get_array(json_t *o, const char *pfx, const char *key, json_t **out,
		     char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return fail(err, errlen, "%s%s: expected an array", pfx, key);
	*out = v;
	return 0;
}

static void strlist_clear(struct pr_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->ids = NULL; /* the catalogue's */
}

static int get_strlist(json_t *o, const char *pfx, const char *key,
		       validator_fn valid, struct pr_strlist *out, char *err,
		       size_t errlen)
{
	json_t *a, *v;
	size_t i;
	int rc;

	if ((rc = get_array(o, pfx, key, &a, err, errlen)) < 0 || !a)
		return rc;
	if (json_array_size(a) == 0)
		return 0;
	out->v = calloc(json_array_size(a), sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	json_array_foreach(a, i, v) {
		const char *s, *why;

		if (!json_is_string(v))
			return fail(err, errlen, "%s%s[%zu]: expected a string",
				    pfx, key, i);
		s = json_string_value(v);
		if ((why = valid(s)) != NULL ||
		    strlen(s) != json_string_length(v))
			return fail(err, errlen, "%s%s[%zu]: %s", pfx, key, i,
				    why ? why : "contains a NUL byte");
		for (size_t j = 0; j < out->n; j++)
			if (strcmp(out->v[j], s) == 0)
				return fail(err, errlen,
					    "%s%s[%zu]: duplicate '%s'", pfx,
					    key, i, s);
		if (!(out->v[out->n] = strdup(s)))
			return -ENOMEM;
		out->n++;
	}
	return 0;
}

/* A list of names from a fixed set (at most 31), as a bit set. */
static int get_bits(json_t *o, const char *pfx, const char *key,
		    const char *const *names, const char *expected,
		    unsigned *out, char *err, size_t errlen)
{
	json_t *a, *v;
	size_t i;
	int rc;

	*out = 0;
	if ((rc = get_array(o, pfx, key, &a, err, errlen)) < 0 || !a)
		return rc;
	json_array_foreach(a, i, v) {
		unsigned b;

		for (b = 0; names[b]; b++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), names[b]) == 0)
				break;
		if (!names[b])
			return fail(err, errlen, "%s%s[%zu]: expected %s", pfx,
				    key, i, expected);
		if (*out & (1u << b))
			return fail(err, errlen, "%s%s[%zu]: duplicate '%s'",
				    pfx, key, i, names[b]);
		*out |= 1u << b;
	}
	return 0;
}

static json_t *strlist_json(const struct pr_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static json_t *bits_json(unsigned bits, const char *const *names)
{
	json_t *a = json_array();

	for (unsigned b = 0; a && names[b]; b++)
		if (bits & (1u << b))
			json_array_append_new(a, json_string(names[b]));
	return a;
}

/* ------------------------------------------------------ times and dates */

/* "HH:MM", 00:00..23:59, as minutes. */
static int parse_hhmm(const char *s, int *out)
{
	int h, m;

	if (strlen(s) != 5 || s[2] != ':')
		return -EINVAL;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -EINVAL;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -EINVAL;
	*out = h * 60 + m;
	return 0;
}

static json_t *rfc3339_json(int64_t ms)
{
	int64_t secs = floor_div(ms, 1000), days = floor_div(secs, 86400), y;
	int m, d, rem = (int)(secs - days * 86400),
		  frac = (int)(ms - secs * 1000);
	char buf[48];

	pr_civil_from_days(days, &y, &m, &d);
	if (frac)
		snprintf(buf, sizeof(buf),
			 "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y,
			 m, d, rem / 3600, rem / 60 % 60, rem % 60, frac);
	else
		snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02dZ",
			 (long long)y, m, d, rem / 3600, rem / 60 % 60,
			 rem % 60);
	return json_string(buf);
}

/* "90s", "30m", "48h", "7d": a positive count and one unit. */
static int parse_duration(const char *s, int64_t *out)
{
	int64_t v = 0, unit;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (v > MAX_REFUND_TIMEOUT_S)
			return -EINVAL;
		v = v * 10 + (s[n] - '0');
		n++;
	}
	if (n == 0 || s[n] == '\0' || s[n + 1] != '\0')
		return -EINVAL;
	switch (s[n]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return -EINVAL;
	}
	if (v <= 0 || v > MAX_REFUND_TIMEOUT_S / unit)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

static json_t *duration_json(int64_t s)
{
	char buf[32];

	if (s % 86400 == 0)
		snprintf(buf, sizeof(buf), "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(buf, sizeof(buf), "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(buf, sizeof(buf), "%lldm", (long long)(s / 60));
	else
		snprintf(buf, sizeof(buf), "%llds", (long long)s);
	return json_string(buf);
}

/* ------------------------------------------------------------- channels */

static const char *const biz_names[] = { "pay", "refund", "withdraw", NULL };
static const char *const card_names[] = { "debit", "credit", NULL };
static const char *const day_names[] = { "sun", "mon", "tue", "wed",
					 "thu", "fri", "sat", NULL };
static const char *const mw_kinds[] = { "daily", "weekly", "once", NULL };

static const char *const chan_keys[] = {
	"code",
	"driver",
	"institution",
	"business_types",
	"methods",
	"environments",
	"product_codes",
	"currencies",
	"banks",
	"status",
	"timezone",
	"maintenance_windows",
	"limits",
	"fee",
	"weight",
	"refund_window_days",
	"refund_timeout",
	"refund_resend",
	"whitelist_only",
	"driver_config",
	NULL,
};
static const char *const bank_keys[] = {
	"bank_code", "channel_bank_code", "card_types",
	"txn_max",   "daily_amount",	  NULL,
};
static const char *const mw_keys[] = { "kind", "start", "end", "days",
				       "from", "to",	NULL };
static const char *const limit_keys[] = { "txn_min", "txn_max", "daily_amount",
					  "daily_count", NULL };
static const char *const fee_keys[] = { "rate_bps", "fixed", "min", "max",
					NULL };

static int bank_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pr_bank_map *)a)->bank_code,
		      ((const struct pr_bank_map *)b)->bank_code);
}

static int parse_banks(json_t *j, struct pr_chan_spec *c, char *err,
		       size_t errlen)
{
	json_t *a, *b;
	size_t i;
	int rc;

	if ((rc = get_array(j, "", "banks", &a, err, errlen)) < 0 || !a ||
	    json_array_size(a) == 0)
		return rc;
	c->banks = calloc(json_array_size(a), sizeof(*c->banks));
	if (!c->banks)
		return -ENOMEM;
	json_array_foreach(a, i, b) {
		struct pr_bank_map *m = &c->banks[c->n_banks];
		char pfx[48];

		snprintf(pfx, sizeof(pfx), "banks[%zu]", i);
		if (!json_is_object(b))
			return fail(err, errlen, "%s: expected an object", pfx);
		snprintf(pfx, sizeof(pfx), "banks[%zu].", i);
		c->n_banks++;
		if ((rc = check_keys(b, pfx, bank_keys, err, errlen)) < 0 ||
		    (rc = get_str(b, pfx, "bank_code", NULL, v_token,
				  &m->bank_code, err, errlen)) < 0 ||
		    (rc = get_str(b, pfx, "channel_bank_code", NULL, v_text,
				  &m->channel_bank_code, err, errlen)) < 0 ||
		    (rc = get_bits(b, pfx, "card_types", card_names,
				   "debit or credit", &m->card_types, err,
				   errlen)) < 0 ||
		    (rc = get_int(b, pfx, "txn_max", 0, INT64_MAX, 0,
				  &m->txn_max, err, errlen)) < 0 ||
		    (rc = get_int(b, pfx, "daily_amount", 0, INT64_MAX, 0,
				  &m->daily_amount, err, errlen)) < 0)
			return rc;
		for (size_t k = 0; k + 1 < c->n_banks; k++)
			if (strcmp(c->banks[k].bank_code, m->bank_code) == 0)
				return fail(err, errlen,
					    "%sbank_code: duplicate '%s'", pfx,
					    m->bank_code);
	}
	qsort(c->banks, c->n_banks, sizeof(*c->banks), bank_cmp);
	return 0;
}

static int parse_days(json_t *w, const char *pfx, unsigned *out, char *err,
		      size_t errlen)
{
	json_t *a = json_object_get(w, "days"), *v;
	size_t i;

	*out = 0;
	if (!a)
		return fail(err, errlen, "%sdays: missing", pfx);
	if (!json_is_array(a))
		return fail(err, errlen, "%sdays: expected an array", pfx);
	if (json_array_size(a) == 0)
		return fail(err, errlen, "%sdays: must not be empty", pfx);
	json_array_foreach(a, i, v) {
		int d = -1;

		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= 6)
			d = (int)json_integer_value(v);
		for (int k = 0; json_is_string(v) && k < 7; k++)
			if (strcmp(json_string_value(v), day_names[k]) == 0)
				d = k;
		if (d < 0)
			return fail(err, errlen,
				    "%sdays[%zu]: expected sun, mon, tue, wed, "
				    "thu, fri, sat or 0 (Sunday) to 6",
				    pfx, i);
		if (*out & (1u << d))
			return fail(err, errlen, "%sdays[%zu]: duplicate '%s'",
				    pfx, i, day_names[d]);
		*out |= 1u << d;
	}
	return 0;
}

static int parse_hhmm_key(json_t *w, const char *pfx, const char *key, int *out,
			  char *err, size_t errlen)
{
	json_t *v = json_object_get(w, key);

	if (!v)
		return fail(err, errlen, "%s%s: missing", pfx, key);
	if (!json_is_string(v) || parse_hhmm(json_string_value(v), out) < 0)
		return fail(err, errlen,
			    "%s%s: expected HH:MM (00:00 to 23:59)", pfx, key);
	return 0;
}

static int parse_time_key(json_t *w, const char *pfx, const char *key,
			  int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(w, key);

	if (!v)
		return fail(err, errlen, "%s%s: missing", pfx, key);
	if (!json_is_string(v) ||
	    pr_parse_rfc3339(json_string_value(v), out) < 0)
		return fail(err, errlen,
			    "%s%s: expected an RFC 3339 date-time with an "
			    "offset, e.g. 2026-05-01T02:00:00+08:00",
			    pfx, key);
	return 0;
}

static int parse_window(json_t *w, const char *pfx, struct pr_mwindow *m,
			char *err, size_t errlen)
{
	json_t *kind;
	int rc, k;

	if ((rc = check_keys(w, pfx, mw_keys, err, errlen)) < 0)
		return rc;
	kind = json_object_get(w, "kind");
	if (!kind)
		return fail(err, errlen, "%skind: missing", pfx);
	for (k = 0; mw_kinds[k]; k++)
		if (json_is_string(kind) &&
		    strcmp(json_string_value(kind), mw_kinds[k]) == 0)
			break;
	if (!mw_kinds[k])
		return fail(err, errlen,
			    "%skind: expected daily, weekly or once", pfx);
	m->kind = (enum pr_mw_kind)k;
	if (m->kind == PR_MW_ONCE) {
		if (json_object_get(w, "start") || json_object_get(w, "end") ||
		    json_object_get(w, "days"))
			return fail(err, errlen,
				    "%s%s: not allowed in a once window (use "
				    "from and to)",
				    pfx,
				    json_object_get(w, "start") ? "start" :
				    json_object_get(w, "end")	? "end" :
								  "days");
		if ((rc = parse_time_key(w, pfx, "from", &m->from_ms, err,
					 errlen)) < 0 ||
		    (rc = parse_time_key(w, pfx, "to", &m->to_ms, err,
					 errlen)) < 0)
			return rc;
		if (m->to_ms <= m->from_ms)
			return fail(err, errlen, "%sto: must be after %sfrom",
				    pfx, pfx);
		return 0;
	}
	if (json_object_get(w, "from") || json_object_get(w, "to"))
		return fail(err, errlen, "%s%s: only allowed in a once window",
			    pfx, json_object_get(w, "from") ? "from" : "to");
	if ((rc = parse_hhmm_key(w, pfx, "start", &m->start_min, err, errlen)) <
		    0 ||
	    (rc = parse_hhmm_key(w, pfx, "end", &m->end_min, err, errlen)) < 0)
		return rc;
	if (m->start_min == m->end_min)
		return fail(err, errlen, "%send: must differ from %sstart", pfx,
			    pfx);
	if (m->kind == PR_MW_DAILY) {
		if (json_object_get(w, "days"))
			return fail(err, errlen,
				    "%sdays: only allowed in a weekly window",
				    pfx);
		return 0;
	}
	return parse_days(w, pfx, &m->days, err, errlen);
}

static int parse_windows(json_t *j, struct pr_chan_spec *c, char *err,
			 size_t errlen)
{
	json_t *a, *w;
	size_t i;
	int rc;

	if ((rc = get_array(j, "", "maintenance_windows", &a, err, errlen)) <
		    0 ||
	    !a || json_array_size(a) == 0)
		return rc;
	c->windows = calloc(json_array_size(a), sizeof(*c->windows));
	if (!c->windows)
		return -ENOMEM;
	json_array_foreach(a, i, w) {
		char pfx[48];

		snprintf(pfx, sizeof(pfx), "maintenance_windows[%zu]", i);
		if (!json_is_object(w))
			return fail(err, errlen, "%s: expected an object", pfx);
		snprintf(pfx, sizeof(pfx), "maintenance_windows[%zu].", i);
		if ((rc = parse_window(w, pfx, &c->windows[i], err, errlen)) <
		    0)
			return rc;
		c->n_windows++;
	}
	return 0;
}

/* An optional object at key; its keys checked. */
static int get_object(json_t *o, const char *key, const char *const *keys,
		      json_t **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	char pfx[32];

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return fail(err, errlen, "%s: expected an object", key);
	snprintf(pfx, sizeof(pfx), "%s.", key);
	*out = v;
	return keys ? check_keys(v, pfx, keys, err, errlen) : 0;
}

static int parse_limits_fee(json_t *j, struct pr_chan_spec *c, char *err,
			    size_t errlen)
{
	json_t *lim, *fee;
	int64_t v;
	int rc;

	if ((rc = get_object(j, "limits", limit_keys, &lim, err, errlen)) < 0)
		return rc;
	if (lim && ((rc = get_int(lim, "limits.", "txn_min", 0, INT64_MAX, 0,
				  &c->txn_min, err, errlen)) < 0 ||
		    (rc = get_int(lim, "limits.", "txn_max", 0, INT64_MAX, 0,
				  &c->txn_max, err, errlen)) < 0 ||
		    (rc = get_int(lim, "limits.", "daily_amount", 0, INT64_MAX,
				  0, &c->daily_amount, err, errlen)) < 0 ||
		    (rc = get_int(lim, "limits.", "daily_count", 0, INT64_MAX,
				  0, &c->daily_count, err, errlen)) < 0))
		return rc;
	if (c->txn_max && c->txn_min && c->txn_max < c->txn_min)
		return fail(err, errlen,
			    "limits.txn_max: must be at least limits.txn_min");

	if ((rc = get_object(j, "fee", fee_keys, &fee, err, errlen)) < 0)
		return rc;
	if (!fee)
		return 0;
	if ((rc = get_int(fee, "fee.", "rate_bps", 0, 10000, 0, &v, err,
			  errlen)) < 0)
		return rc;
	c->fee_rate_bps = (int32_t)v;
	if ((rc = get_int(fee, "fee.", "fixed", 0, INT64_MAX, 0, &c->fee_fixed,
			  err, errlen)) < 0 ||
	    (rc = get_int(fee, "fee.", "min", 0, INT64_MAX, 0, &c->fee_min, err,
			  errlen)) < 0 ||
	    (rc = get_int(fee, "fee.", "max", 0, INT64_MAX, 0, &c->fee_max, err,
			  errlen)) < 0)
		return rc;
	if (c->fee_max && c->fee_max < c->fee_min)
		return fail(err, errlen, "fee.max: must be at least fee.min");
	return 0;
}

/*
 * Numbers a driver config may hold. jansson reads "1e20" as a real; the
 * store (jsonb, a numeric) gives it back as 100000000000000000000, an
 * integer token that jansson refuses to read (beyond int64_t), so such a
 * channel could be written but never loaded again: every reload would
 * fail. Every real of magnitude 2^63 or more prints as such an integer
 * (doubles that large have no fraction), so those are refused here, with
 * the path of the value ("driver_config.timeout_ms",
 * "driver_config.hosts[2]"); a value that large is no count or duration
 * a driver needs, and one that must be kept exactly goes as a string.
 * Integers are int64_t already, smaller reals come back as reals.
 */
#define DC_REAL_MAX 9223372036854775808.0 /* 2^63 */
#define DC_MAX_DEPTH 32

static int check_dc_numbers(json_t *v, char *path, size_t len, size_t used,
			    int depth, char *err, size_t errlen)
{
	const char *k;
	json_t *x;
	size_t i;
	int n, rc;

	if (depth > DC_MAX_DEPTH)
		return fail(err, errlen, "%s: nested more than %d levels deep",
			    path, DC_MAX_DEPTH);
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d >= DC_REAL_MAX || d <= -DC_REAL_MAX)
			return fail(err, errlen,
				    "%s: %g is out of range: numbers must be "
				    "below 9.2e18 in magnitude (write a larger "
				    "value as a string)",
				    path, d);
		return 0;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			n = snprintf(path + used, len - used, ".%.64s", k);
			if (n < 0 || (size_t)n >= len - used)
				return fail(err, errlen,
					    "%.*s: nested too deep", (int)used,
					    path);
			rc = check_dc_numbers(x, path, len, used + (size_t)n,
					      depth + 1, err, errlen);
			path[used] = '\0';
			if (rc < 0)
				return rc;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			n = snprintf(path + used, len - used, "[%zu]", i);
			if (n < 0 || (size_t)n >= len - used)
				return fail(err, errlen,
					    "%.*s: nested too deep", (int)used,
					    path);
			rc = check_dc_numbers(x, path, len, used + (size_t)n,
					      depth + 1, err, errlen);
			path[used] = '\0';
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int chan_parse(json_t *j, struct pr_chan_spec *c, char *err,
		      size_t errlen)
{
	char path[512] = "driver_config";
	json_t *dc;
	char *status = NULL, *timeout = NULL;
	int64_t v;
	int rc;

	if (!json_is_object(j))
		return fail(err, errlen, "expected an object");
	if ((rc = check_keys(j, "", chan_keys, err, errlen)) < 0 ||
	    (rc = get_str(j, "", "code", NULL, v_code, &c->code, err, errlen)) <
		    0 ||
	    (rc = get_str(j, "", "driver", NULL, v_code, &c->driver, err,
			  errlen)) < 0 ||
	    (rc = get_str(j, "", "institution", "", NULL, &c->institution, err,
			  errlen)) < 0 ||
	    (rc = get_bits(j, "", "business_types", biz_names,
			   "pay, refund or withdraw", &c->business, err,
			   errlen)) < 0 ||
	    (rc = get_strlist(j, "", "methods", v_code, &c->methods, err,
			      errlen)) < 0 ||
	    (rc = get_strlist(j, "", "environments", v_environment,
			      &c->environments, err, errlen)) < 0 ||
	    (rc = get_strlist(j, "", "product_codes", v_product,
			      &c->product_codes, err, errlen)) < 0 ||
	    (rc = get_strlist(j, "", "currencies", v_currency, &c->currencies,
			      err, errlen)) < 0 ||
	    (rc = parse_banks(j, c, err, errlen)) < 0)
		return rc;

	if ((rc = get_str(j, "", "status", "offline", NULL, &status, err,
			  errlen)) < 0)
		goto out;
	if (strcmp(status, "online") == 0) {
		c->online = 1;
	} else if (strcmp(status, "offline") != 0) {
		rc = fail(err, errlen, "status: expected online or offline");
		goto out;
	}

	if ((rc = get_str(j, "", "timezone", "Asia/Shanghai", NULL,
			  &c->timezone, err, errlen)) < 0)
		goto out;
	{
		char tzerr[256];

		c->tz = pr_tz_load(c->timezone, tzerr, sizeof(tzerr));
		if (!c->tz) {
			rc = fail(err, errlen, "timezone: %s", tzerr);
			goto out;
		}
	}

	if ((rc = parse_windows(j, c, err, errlen)) < 0 ||
	    (rc = parse_limits_fee(j, c, err, errlen)) < 0)
		goto out;

	if ((rc = get_int(j, "", "weight", 0, 10000, 100, &v, err, errlen)) < 0)
		goto out;
	c->weight = (int32_t)v;
	if ((rc = get_int(j, "", "refund_window_days", 0, 3650, 365, &v, err,
			  errlen)) < 0)
		goto out;
	c->refund_window_days = (int32_t)v;
	if ((rc = get_str(j, "", "refund_timeout", "48h", NULL, &timeout, err,
			  errlen)) < 0)
		goto out;
	if (parse_duration(timeout, &c->refund_timeout_s) < 0) {
		rc = fail(err, errlen,
			  "refund_timeout: expected a duration with a unit, "
			  "e.g. 90s, 30m, 48h or 7d (at most 3650d)");
		goto out;
	}
	if ((rc = get_bool(j, "", "refund_resend", 1, &c->refund_resend, err,
			   errlen)) < 0 ||
	    (rc = get_bool(j, "", "whitelist_only", 0, &c->whitelist_only, err,
			   errlen)) < 0 ||
	    (rc = get_object(j, "driver_config", NULL, &dc, err, errlen)) < 0)
		goto out;
	if (dc && (rc = check_dc_numbers(dc, path, sizeof(path), strlen(path),
					 0, err, errlen)) < 0)
		goto out;
	c->driver_config = dc ? json_deep_copy(dc) : json_object();
	if (!c->driver_config)
		rc = -ENOMEM;
out:
	free(status);
	free(timeout);
	return rc;
}

int pr_chan_parse(json_t *j, struct pr_chan_spec *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = chan_parse(j, out, err, errlen);
	if (rc == -ENOMEM)
		fail(err, errlen, "out of memory");
	if (rc < 0)
		pr_chan_clear(out);
	return rc;
}

void pr_chan_clear(struct pr_chan_spec *c)
{
	if (!c)
		return;
	free(c->code);
	free(c->driver);
	free(c->institution);
	strlist_clear(&c->methods);
	strlist_clear(&c->environments);
	strlist_clear(&c->product_codes);
	strlist_clear(&c->currencies);
	for (size_t i = 0; i < c->n_banks; i++) {
		free(c->banks[i].bank_code);
		free(c->banks[i].channel_bank_code);
	}
	free(c->banks);
	free(c->timezone);
	pr_tz_free(c->tz);
	free(c->windows);
	json_decref(c->driver_config);
	memset(c, 0, sizeof(*c));
}

static json_t *hhmm_json(int min)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "%02d:%02d", min / 60 % 100, min % 60);
	return json_string(buf);
}

static json_t *window_json(const struct pr_mwindow *w)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "kind", json_string(mw_kinds[w->kind]));
	if (w->kind == PR_MW_ONCE) {
		json_object_set_new(o, "from", rfc3339_json(w->from_ms));
		json_object_set_new(o, "to", rfc3339_json(w->to_ms));
		return o;
	}
	json_object_set_new(o, "start", hhmm_json(w->start_min));
	json_object_set_new(o, "end", hhmm_json(w->end_min));
	if (w->kind == PR_MW_WEEKLY)
		json_object_set_new(o, "days", bits_json(w->days, day_names));
	return o;
}

json_t *pr_chan_to_json(const struct pr_chan_spec *c)
{
	json_t *o = json_object(), *a, *x;

	if (!o)
		return NULL;
	json_object_set_new(o, "code", json_string(c->code));
	json_object_set_new(o, "driver", json_string(c->driver));
	json_object_set_new(o, "institution",
			    json_string(c->institution ? c->institution : ""));
	json_object_set_new(o, "business_types",
			    bits_json(c->business, biz_names));
	json_object_set_new(o, "methods", strlist_json(&c->methods));
	json_object_set_new(o, "environments", strlist_json(&c->environments));
	json_object_set_new(o, "product_codes",
			    strlist_json(&c->product_codes));
	json_object_set_new(o, "currencies", strlist_json(&c->currencies));
	a = json_array();
	for (size_t i = 0; a && i < c->n_banks; i++) {
		const struct pr_bank_map *m = &c->banks[i];

		json_array_append_new(
			a,
			json_pack("{s:s, s:s, s:o, s:I, s:I}", "bank_code",
				  m->bank_code, "channel_bank_code",
				  m->channel_bank_code, "card_types",
				  bits_json(m->card_types, card_names),
				  "txn_max", (json_int_t)m->txn_max,
				  "daily_amount", (json_int_t)m->daily_amount));
	}
	json_object_set_new(o, "banks", a);
	json_object_set_new(o, "status",
			    json_string(c->online ? "online" : "offline"));
	json_object_set_new(o, "timezone",
			    json_string(c->timezone ? c->timezone :
						      "Asia/Shanghai"));
	a = json_array();
	for (size_t i = 0; a && i < c->n_windows; i++)
		json_array_append_new(a, window_json(&c->windows[i]));
	json_object_set_new(o, "maintenance_windows", a);
	json_object_set_new(o, "limits",
			    json_pack("{s:I, s:I, s:I, s:I}", "txn_min",
				      (json_int_t)c->txn_min, "txn_max",
				      (json_int_t)c->txn_max, "daily_amount",
				      (json_int_t)c->daily_amount,
				      "daily_count",
				      (json_int_t)c->daily_count));
	json_object_set_new(o, "fee",
			    json_pack("{s:I, s:I, s:I, s:I}", "rate_bps",
				      (json_int_t)c->fee_rate_bps, "fixed",
				      (json_int_t)c->fee_fixed, "min",
				      (json_int_t)c->fee_min, "max",
				      (json_int_t)c->fee_max));
	json_object_set_new(o, "weight", json_integer(c->weight));
	json_object_set_new(o, "refund_window_days",
			    json_integer(c->refund_window_days));
	json_object_set_new(o, "refund_timeout",
			    duration_json(c->refund_timeout_s));
	json_object_set_new(o, "refund_resend", json_boolean(c->refund_resend));
	json_object_set_new(o, "whitelist_only",
			    json_boolean(c->whitelist_only));
	x = c->driver_config ? json_deep_copy(c->driver_config) : json_object();
	json_object_set_new(o, "driver_config", x);
	/* Any allocation failure above left a key out. */
	if (json_object_size(o) !=
	    sizeof(chan_keys) / sizeof(chan_keys[0]) - 1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int64_t pr_chan_fee(const struct pr_chan_spec *c, int64_t amount)
{
	__int128 var = (__int128)amount * c->fee_rate_bps;
	__int128 q = var / 10000, fee;

	if (var % 10000 > 0)
		q++; /* round up; truncation already rounds negatives up */
	fee = (__int128)c->fee_fixed + q;
	if (fee < c->fee_min)
		fee = c->fee_min;
	if (c->fee_max > 0 && fee > c->fee_max)
		fee = c->fee_max;
	if (fee > INT64_MAX)
		return INT64_MAX;
	if (fee < INT64_MIN)
		return INT64_MIN;
	return (int64_t)fee;
}

const struct pr_bank_map *pr_chan_bank(const struct pr_chan_spec *c,
				       const char *bank_code)
{
	size_t lo = 0, hi = c->n_banks;

	if (!bank_code)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(bank_code, c->banks[mid].bank_code);

		if (r == 0)
			return &c->banks[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int pr_chan_in_maintenance(const struct pr_chan_spec *c, int64_t now_ms)
{
	struct pr_local_time lt = { 0, 0, 0 };
	int have_lt = 0;

	for (size_t i = 0; i < c->n_windows; i++) {
		const struct pr_mwindow *w = &c->windows[i];
		int m, today, yesterday;

		if (w->kind == PR_MW_ONCE) {
			if (now_ms >= w->from_ms && now_ms < w->to_ms)
				return 1;
			continue;
		}
		if (!have_lt) {
			int64_t t = floor_div(now_ms, 1000);

			if (c->tz) {
				pr_tz_local(c->tz, t, &lt);
			} else {
				/* Not loaded (a hand-made spec): UTC. */
				lt.day = floor_div(t, 86400);
				lt.minute = (int)((t - lt.day * 86400) / 60);
				lt.weekday = (int)(((lt.day + 4) % 7 + 7) % 7);
			}
			have_lt = 1;
		}
		m = lt.minute;
		today = w->kind == PR_MW_DAILY ||
			(w->days & (1u << lt.weekday));
		yesterday = w->kind == PR_MW_DAILY ||
			    (w->days & (1u << ((lt.weekday + 6) % 7)));
		if (w->start_min < w->end_min) {
			if (today && m >= w->start_min && m < w->end_min)
				return 1;
		} else {
			/* Crosses midnight: the part after midnight belongs
			 * to the window that started the day before. */
			if ((today && m >= w->start_min) ||
			    (yesterday && m < w->end_min))
				return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ whitelist */

static const char *const wl_keys[] = { "id",   "kind",	     "value", "channel",
				       "note", "expires_at", NULL };
static const char *const wl_kinds[] = { "card_no", "buyer_id", "seller_id",
					NULL };

static int wl_parse(json_t *j, struct pr_wl_entry *e, char *err, size_t errlen)
{
	json_t *kind, *exp, *note;
	int rc, k;

	if (!json_is_object(j))
		return fail(err, errlen, "expected an object");
	if ((rc = check_keys(j, "", wl_keys, err, errlen)) < 0 ||
	    (rc = get_int(j, "", "id", 0, INT64_MAX, 0, &e->id, err, errlen)) <
		    0)
		return rc;
	kind = json_object_get(j, "kind");
	if (!kind)
		return fail(err, errlen, "kind: missing");
	for (k = 0; wl_kinds[k]; k++)
		if (json_is_string(kind) &&
		    strcmp(json_string_value(kind), wl_kinds[k]) == 0)
			break;
	if (!wl_kinds[k])
		return fail(err, errlen,
			    "kind: expected card_no, buyer_id or seller_id");
	e->kind = (enum pr_wl_kind)k;
	if ((rc = get_str(j, "", "value", NULL,
			  e->kind == PR_WL_CARD ? v_hmac : v_text, &e->value,
			  err, errlen)) < 0 ||
	    (rc = get_str(j, "", "channel", NULL, v_code, &e->channel, err,
			  errlen)) < 0)
		return rc;
	note = json_object_get(j, "note");
	if (note && json_is_null(note))
		e->note = strdup("");
	else if ((rc = get_str(j, "", "note", "", NULL, &e->note, err,
			       errlen)) < 0)
		return rc;
	if (!e->note)
		return -ENOMEM;
	exp = json_object_get(j, "expires_at");
	if (exp && !json_is_null(exp) &&
	    (!json_is_string(exp) ||
	     pr_parse_rfc3339(json_string_value(exp), &e->expires_ms) < 0))
		return fail(err, errlen,
			    "expires_at: expected an RFC 3339 date-time with "
			    "an offset, or null");
	return 0;
}

int pr_wl_parse(json_t *j, struct pr_wl_entry *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = wl_parse(j, out, err, errlen);
	if (rc == -ENOMEM)
		fail(err, errlen, "out of memory");
	if (rc < 0)
		pr_wl_clear(out);
	return rc;
}

void pr_wl_clear(struct pr_wl_entry *e)
{
	if (!e)
		return;
	free(e->value);
	free(e->channel);
	free(e->note);
	memset(e, 0, sizeof(*e));
}

/* ---------------------------------------------------------------- rules */

static const char *const rule_keys[] = { "id",	       "name",	  "enabled",
					 "conditions", "scoring", "allow",
					 "deny",       NULL };
static const char *const cond_keys[] = {
	"product_codes", "methods",    "environments", "currencies", "banks",
	"merchants",	 "amount_min", "amount_max",   NULL,
};
static const char *const scoring_keys[] = {
	"weight",  "fee", "success_rate", "mode", "within_points",
	"explore", NULL
};

static const char *const score_modes[] = {
	[PR_SCORE_WEIGHTED] = "weighted",
	[PR_SCORE_FEE_FIRST] = "fee_first",
	[PR_SCORE_WEIGHT] = "weight",
	[PR_SCORE_SUCCESS_FIRST] = "success_first",
};

const char *pr_score_mode_name(enum pr_score_mode m)
{
	if ((unsigned)m >= sizeof(score_modes) / sizeof(score_modes[0]))
		return "unknown";
	return score_modes[m];
}

/* scoring.mode, scoring.within_points and scoring.explore. */
static int get_mode(json_t *sc, struct pr_rule *r, char *err, size_t errlen)
{
	json_t *v = json_object_get(sc, "mode");
	size_t i;

	if (v) {
		if (!json_is_string(v))
			return fail(err, errlen,
				    "scoring.mode: expected a string");
		for (i = 0; i < sizeof(score_modes) / sizeof(score_modes[0]);
		     i++)
			if (strcmp(json_string_value(v), score_modes[i]) == 0)
				break;
		if (i == sizeof(score_modes) / sizeof(score_modes[0]))
			return fail(err, errlen,
				    "scoring.mode: expected weighted, "
				    "fee_first, weight or success_first");
		r->mode = (enum pr_score_mode)i;
	}
	v = json_object_get(sc, "within_points");
	if (v) {
		if (!json_is_number(v) ||
		    !(json_number_value(v) >= 0 && json_number_value(v) <= 100))
			return fail(err, errlen,
				    "scoring.within_points: expected a number "
				    "from 0 to 100");
		r->within_points = json_number_value(v);
	}
	v = json_object_get(sc, "explore");
	if (v) {
		if (!json_is_number(v) ||
		    !(json_number_value(v) >= 0 && json_number_value(v) <= 0.5))
			return fail(err, errlen,
				    "scoring.explore: expected a number from "
				    "0 to 0.5");
		r->explore = json_number_value(v);
	}
	return 0;
}

static int get_weight(json_t *o, const char *key, double def, double *out,
		      char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_number(v))
		return fail(err, errlen, "scoring.%s: expected a number", key);
	*out = json_number_value(v);
	if (!(*out >= 0 && *out <= 1e6))
		return fail(err, errlen,
			    "scoring.%s: must be between 0 and 1000000", key);
	return 0;
}

static json_t *rule_json(const struct pr_rule *r);

static int rule_parse(json_t *j, struct pr_rule *r, char *err, size_t errlen)
{
	json_t *cond, *sc;
	int rc;

	if (!json_is_object(j))
		return fail(err, errlen, "expected an object");
	if ((rc = check_keys(j, "", rule_keys, err, errlen)) < 0 ||
	    (rc = get_int(j, "", "id", 0, INT64_MAX, 0, &r->id, err, errlen)) <
		    0 ||
	    (rc = get_str(j, "", "name", "", NULL, &r->name, err, errlen)) <
		    0 ||
	    (rc = get_bool(j, "", "enabled", 1, &r->enabled, err, errlen)) <
		    0 ||
	    (rc = get_object(j, "conditions", cond_keys, &cond, err, errlen)) <
		    0)
		return rc;
	if (cond &&
	    ((rc = get_strlist(cond, "conditions.", "product_codes", v_product,
			       &r->product_codes, err, errlen)) < 0 ||
	     (rc = get_strlist(cond, "conditions.", "methods", v_code,
			       &r->methods, err, errlen)) < 0 ||
	     (rc = get_strlist(cond, "conditions.", "environments",
			       v_environment, &r->environments, err, errlen)) <
		     0 ||
	     (rc = get_strlist(cond, "conditions.", "currencies", v_currency,
			       &r->currencies, err, errlen)) < 0 ||
	     (rc = get_strlist(cond, "conditions.", "banks", v_token, &r->banks,
			       err, errlen)) < 0 ||
	     (rc = get_strlist(cond, "conditions.", "merchants", v_text,
			       &r->merchants, err, errlen)) < 0 ||
	     (rc = get_int(cond, "conditions.", "amount_min", 0, INT64_MAX, 0,
			   &r->amount_min, err, errlen)) < 0 ||
	     (rc = get_int(cond, "conditions.", "amount_max", 0, INT64_MAX, 0,
			   &r->amount_max, err, errlen)) < 0))
		return rc;
	if (r->amount_max && r->amount_max < r->amount_min)
		return fail(err, errlen,
			    "conditions.amount_max: must be at least "
			    "conditions.amount_min");
	if ((rc = get_object(j, "scoring", scoring_keys, &sc, err, errlen)) < 0)
		return rc;
	r->w_weight = 1;
	r->w_fee = 1;
	r->w_success = 0;
	if (sc &&
	    ((rc = get_weight(sc, "weight", 1, &r->w_weight, err, errlen)) <
		     0 ||
	     (rc = get_weight(sc, "fee", 1, &r->w_fee, err, errlen)) < 0 ||
	     (rc = get_weight(sc, "success_rate", 0, &r->w_success, err,
			      errlen)) < 0 ||
	     (rc = get_mode(sc, r, err, errlen)) < 0))
		return rc;
	if ((rc = get_strlist(j, "", "allow", v_code, &r->allow, err, errlen)) <
		    0 ||
	    (rc = get_strlist(j, "", "deny", v_code, &r->deny, err, errlen)) <
		    0)
		return rc;
	return 0;
}

int pr_rule_parse(json_t *j, struct pr_rule *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = rule_parse(j, out, err, errlen);
	if (rc == -ENOMEM)
		fail(err, errlen, "out of memory");
	if (rc < 0)
		pr_rule_clear(out);
	return rc;
}

void pr_rule_clear(struct pr_rule *r)
{
	if (!r)
		return;
	free(r->name);
	strlist_clear(&r->product_codes);
	strlist_clear(&r->methods);
	strlist_clear(&r->environments);
	strlist_clear(&r->currencies);
	strlist_clear(&r->banks);
	strlist_clear(&r->merchants);
	strlist_clear(&r->allow);
	strlist_clear(&r->deny);
	memset(r, 0, sizeof(*r));
}

/* The scoring keys beyond the weights appear only when they differ from
 * their defaults, so that a policy exported before they existed reads the
 * same. */
json_t *pr_rule_to_json(const struct pr_rule *r)
{
	json_t *o = rule_json(r),
	       *sc = o ? json_object_get(o, "scoring") : NULL;

	if (!sc)
		return o;
	if ((r->mode != PR_SCORE_WEIGHTED &&
	     json_object_set_new(sc, "mode",
				 json_string(pr_score_mode_name(r->mode))) <
		     0) ||
	    (r->within_points > 0 &&
	     json_object_set_new(sc, "within_points",
				 json_real(r->within_points)) < 0) ||
	    (r->explore > 0 &&
	     json_object_set_new(sc, "explore", json_real(r->explore)) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *rule_json(const struct pr_rule *r)
{
	return json_pack(
		"{s:I, s:s, s:b, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I},"
		" s:{s:f, s:f, s:f}, s:o, s:o}",
		"id", (json_int_t)r->id, "name", r->name ? r->name : "",
		"enabled", r->enabled, "conditions", "product_codes",
		strlist_json(&r->product_codes), "methods",
		strlist_json(&r->methods), "environments",
		strlist_json(&r->environments), "currencies",
		strlist_json(&r->currencies), "banks", strlist_json(&r->banks),
		"merchants", strlist_json(&r->merchants), "amount_min",
		(json_int_t)r->amount_min, "amount_max",
		(json_int_t)r->amount_max, "scoring", "weight", r->w_weight,
		"fee", r->w_fee, "success_rate", r->w_success, "allow",
		strlist_json(&r->allow), "deny", strlist_json(&r->deny));
}

/* ------------------------------------------------------------ catalogue */

static int chan_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pr_chan_spec *)a)->code,
		      ((const struct pr_chan_spec *)b)->code);
}

static int wl_cmp(const void *a, const void *b)
{
	const struct pr_wl_entry *x = a, *y = b;
	int r;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if ((r = strcmp(x->value, y->value)) != 0)
		return r;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct bucket_item {
	unsigned business;
	const char *method;
	size_t chan;
};

static int item_cmp(const void *a, const void *b)
{
	const struct bucket_item *x = a, *y = b;
	int r;

	if (x->business != y->business)
		return x->business < y->business ? -1 : 1;
	if ((r = strcmp(x->method, y->method)) != 0)
		return r;
	return x->chan < y->chan ? -1 : x->chan > y->chan;
}

static int build_buckets(struct pr_catalogue *cat)
{
	struct bucket_item *items = NULL;
	size_t n = 0, cap = 0, i, j;
	int rc = 0;

	for (i = 0; i < cat->n_chans; i++)
		for (unsigned b = 0; b < 3; b++)
			if (cat->chans[i].business & (1u << b))
				cap += cat->chans[i].methods.n;
	if (cap == 0)
		return 0;
	items = calloc(cap, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (i = 0; i < cat->n_chans; i++)
		for (unsigned b = 0; b < 3; b++)
			if (cat->chans[i].business & (1u << b))
				for (j = 0; j < cat->chans[i].methods.n; j++)
					items[n++] = (struct bucket_item){
						1u << b,
						cat->chans[i].methods.v[j], i
					};
	qsort(items, n, sizeof(*items), item_cmp);
	cat->buckets = calloc(n, sizeof(*cat->buckets));
	if (!cat->buckets) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i = j) {
		struct pr_cat_bucket *bk = &cat->buckets[cat->n_buckets];

		for (j = i; j < n && items[j].business == items[i].business &&
			    strcmp(items[j].method, items[i].method) == 0;
		     j++)
			;
		bk->business = items[i].business;
		bk->method = strdup(items[i].method);
		bk->chans = calloc(j - i, sizeof(*bk->chans));
		cat->n_buckets++;
		if (!bk->method || !bk->chans) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t k = i; k < j; k++)
			bk->chans[bk->n++] = items[k].chan;
	}
out:
	free(items);
	return rc;
}

/* "channels[2] (ali_h5): " from the element's own code, if it has one. */
static void elem_prefix(char *buf, size_t len, const char *what, size_t i,
			json_t *elem, const char *namekey)
{
	json_t *name = json_is_object(elem) ? json_object_get(elem, namekey) :
					      NULL;

	if (json_is_string(name) && json_string_length(name) > 0 &&
	    json_string_length(name) <= MAX_CODE)
		snprintf(buf, len, "%s[%zu] (%s): ", what, i,
			 json_string_value(name));
	else
		snprintf(buf, len, "%s[%zu]: ", what, i);
}

static int check_array(json_t *a, const char *what, char *err, size_t errlen)
{
	if (a && !json_is_array(a))
		return fail(err, errlen, "%s: expected an array", what);
	return 0;
}

static int check_refs(const struct pr_catalogue *cat,
		      const struct pr_strlist *l, const char *pfx,
		      const char *key, char *err, size_t errlen)
{
	for (size_t i = 0; i < l->n; i++)
		if (pr_catalogue_find(cat, l->v[i]) < 0)
			return fail(err, errlen,
				    "%s%s[%zu]: channel '%s' does not exist",
				    pfx, key, i, l->v[i]);
	return 0;
}

static int catalogue_build(struct pr_catalogue *cat, json_t *channels,
			   json_t *whitelist, json_t *rules, char *err,
			   size_t errlen)
{
	char pfx[128];
	json_t *e;
	size_t i;
	int rc;

	if ((rc = check_array(channels, "channels", err, errlen)) < 0 ||
	    (rc = check_array(whitelist, "whitelist", err, errlen)) < 0 ||
	    (rc = check_array(rules, "rules", err, errlen)) < 0)
		return rc;

	if (channels && json_array_size(channels) > 0) {
		cat->chans =
			calloc(json_array_size(channels), sizeof(*cat->chans));
		if (!cat->chans)
			return -ENOMEM;
	}
	json_array_foreach(channels, i, e) {
		rc = pr_chan_parse(e, &cat->chans[i], err, errlen);
		if (rc < 0) {
			elem_prefix(pfx, sizeof(pfx), "channels", i, e, "code");
			err_prefix(err, errlen, pfx);
			return rc;
		}
		cat->n_chans++;
	}
	if (cat->n_chans > 1)
		qsort(cat->chans, cat->n_chans, sizeof(*cat->chans), chan_cmp);
	for (i = 1; i < cat->n_chans; i++)
		if (strcmp(cat->chans[i - 1].code, cat->chans[i].code) == 0)
			return fail(err, errlen,
				    "channels: duplicate code '%s'",
				    cat->chans[i].code);

	if (whitelist && json_array_size(whitelist) > 0) {
		cat->wl = calloc(json_array_size(whitelist), sizeof(*cat->wl));
		if (!cat->wl)
			return -ENOMEM;
	}
	json_array_foreach(whitelist, i, e) {
		struct pr_wl_entry *w = &cat->wl[i];

		snprintf(pfx, sizeof(pfx), "whitelist[%zu]: ", i);
		rc = pr_wl_parse(e, w, err, errlen);
		if (rc < 0) {
			err_prefix(err, errlen, pfx);
			return rc;
		}
		cat->n_wl++;
		if (pr_catalogue_find(cat, w->channel) < 0)
			return fail(err, errlen,
				    "%schannel: channel '%s' does not exist",
				    pfx, w->channel);
	}
	if (cat->n_wl > 1)
		qsort(cat->wl, cat->n_wl, sizeof(*cat->wl), wl_cmp);

	if (rules && json_array_size(rules) > 0) {
		cat->rules =
			calloc(json_array_size(rules), sizeof(*cat->rules));
		if (!cat->rules)
			return -ENOMEM;
	}
	json_array_foreach(rules, i, e) {
		struct pr_rule *r = &cat->rules[i];

		elem_prefix(pfx, sizeof(pfx), "rules", i, e, "name");
		rc = pr_rule_parse(e, r, err, errlen);
		if (rc < 0) {
			err_prefix(err, errlen, pfx);
			return rc;
		}
		cat->n_rules++;
		if ((rc = check_refs(cat, &r->allow, pfx, "allow", err,
				     errlen)) < 0 ||
		    (rc = check_refs(cat, &r->deny, pfx, "deny", err, errlen)) <
			    0)
			return rc;
	}
	return build_buckets(cat);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The lists of channel c whose strings are interned. */
static void chan_lists(struct pr_chan_spec *c, struct pr_strlist *l[4])
{
	l[0] = &c->methods;
	l[1] = &c->environments;
	l[2] = &c->product_codes;
	l[3] = &c->currencies;
}

/* cat's names and the ids of its channels' lists (struct pr_catalogue). */
static int intern_names(struct pr_catalogue *cat)
{
	struct pr_strlist *l[4];
	size_t total = 0, n = 0, at = 0;

	for (size_t i = 0; i < cat->n_chans; i++) {
		chan_lists(&cat->chans[i], l);
		for (int k = 0; k < 4; k++)
			total += l[k]->n;
	}
	if (!total)
		return 0;
	cat->names = malloc(total * sizeof(*cat->names));
	cat->names_ids = malloc(total * sizeof(*cat->names_ids));
	if (!cat->names || !cat->names_ids)
		return -ENOMEM;
	for (size_t i = 0; i < cat->n_chans; i++) {
		chan_lists(&cat->chans[i], l);
		for (int k = 0; k < 4; k++)
			for (size_t j = 0; j < l[k]->n; j++)
				cat->names[n++] = l[k]->v[j];
	}
	qsort(cat->names, n, sizeof(*cat->names), name_cmp);
	cat->n_names = 0;
	for (size_t i = 0; i < n; i++)
		if (!cat->n_names ||
		    strcmp(cat->names[cat->n_names - 1], cat->names[i]) != 0)
			cat->names[cat->n_names++] = cat->names[i];
	for (size_t i = 0; i < cat->n_chans; i++) {
		chan_lists(&cat->chans[i], l);
		for (int k = 0; k < 4; k++) {
			l[k]->ids = &cat->names_ids[at];
			for (size_t j = 0; j < l[k]->n; j++)
				cat->names_ids[at++] =
					pr_catalogue_name_id(cat, l[k]->v[j]);
		}
	}
	return 0;
}

uint32_t pr_catalogue_name_id(const struct pr_catalogue *cat, const char *s)
{
	size_t lo = 0, hi = cat->n_names;

	if (!s)
		return PR_NAME_NONE;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(s, cat->names[mid]);

		if (r == 0)
			return (uint32_t)mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return PR_NAME_NONE;
}

int pr_catalogue_build(struct pr_catalogue *cat, json_t *channels,
		       json_t *whitelist, json_t *rules, char *err,
		       size_t errlen)
{
	int rc;

	memset(cat, 0, sizeof(*cat));
	rc = catalogue_build(cat, channels, whitelist, rules, err, errlen);
	if (rc == 0)
		rc = intern_names(cat);
	if (rc == -ENOMEM)
		fail(err, errlen, "out of memory");
	if (rc < 0)
		pr_catalogue_clear(cat);
	return rc;
}

void pr_catalogue_clear(struct pr_catalogue *cat)
{
	size_t i;

	if (!cat)
		return;
	for (i = 0; i < cat->n_chans; i++)
		pr_chan_clear(&cat->chans[i]);
	free(cat->chans);
	for (i = 0; i < cat->n_wl; i++)
		pr_wl_clear(&cat->wl[i]);
	free(cat->wl);
	for (i = 0; i < cat->n_rules; i++)
		pr_rule_clear(&cat->rules[i]);
	free(cat->rules);
	for (i = 0; i < cat->n_buckets; i++) {
		free(cat->buckets[i].method);
		free(cat->buckets[i].chans);
	}
	free(cat->buckets);
	free(cat->names);
	free(cat->names_ids);
	memset(cat, 0, sizeof(*cat));
}

long pr_catalogue_find(const struct pr_catalogue *cat, const char *code)
{
	size_t lo = 0, hi = cat->n_chans;

	if (!code)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(code, cat->chans[mid].code);

		if (r == 0)
			return (long)mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

const struct pr_cat_bucket *pr_catalogue_bucket(const struct pr_catalogue *cat,
						unsigned business,
						const char *method)
{
	size_t lo = 0, hi = cat->n_buckets;

	if (!method)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pr_cat_bucket *b = &cat->buckets[mid];
		int r = business != b->business ?
				(business < b->business ? -1 : 1) :
				strcmp(method, b->method);

		if (r == 0)
			return b;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int pr_catalogue_can_serve(const struct pr_catalogue *cat, unsigned business,
			   const char *method, const char *currency)
{
	const struct pr_cat_bucket *b =
		pr_catalogue_bucket(cat, business, method);

	for (size_t i = 0; b && currency && i < b->n; i++) {
		const struct pr_strlist *cur =
			&cat->chans[b->chans[i]].currencies;

		for (size_t k = 0; k < cur->n; k++)
			if (strcmp(cur->v[k], currency) == 0)
				return 1;
	}
	return 0;
}
