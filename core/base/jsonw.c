/*
 * jsonw.c - a JSON text writer: the explain answer written as the route
 * result is walked (admin/explain.c, domain/router.c), where building a
 * jansson tree, dumping and freeing it was a third of payrouted's CPU per
 * answer and yajl's generator, called a piece at a time through its print
 * callback, still a sixth (doc/design.md §10 has the figures;
 * contrib/bench/bench_jsonw prints them). The text is what jansson's
 * json_dumps(JSON_COMPACT) writes for the same values, byte for byte
 * (tests/unit/test_jsonw.c and test_router.c compare them).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/framing.h"
#include "base/jsonw.h"

void pr_jw_init(struct pr_jw *w, char *buf, size_t cap)
{
	w->p = buf;
	w->len = 0;
	w->cap = buf ? cap : 0;
	w->own = NULL;
	w->comma = 0;
	w->failed = 0;
}

void pr_jw_free(struct pr_jw *w)
{
	free(w->own);
	w->own = NULL;
	w->p = NULL;
	w->len = w->cap = 0;
}

/* The text moves to (or grows on) the heap to take n more bytes; 0, or
 * -1 (w failed). */
static int grow(struct pr_jw *w, size_t n)
{
	size_t cap = w->cap ? w->cap * 2 : 1024;
	char *p;

	while (cap < w->len + n)
		cap *= 2;
	p = w->own ? realloc(w->own, cap) : malloc(cap);
	if (!p) {
		w->failed = 1;
		return -1;
	}
	if (!w->own && w->len)
		memcpy(p, w->p, w->len);
	w->p = w->own = p;
	w->cap = cap;
	return 0;
}

/* Room for n more bytes; 0, or -1 (w failed). */
static inline int room(struct pr_jw *w, size_t n)
{
	if (w->failed)
		return -1;
	return w->len + n <= w->cap ? 0 : grow(w, n);
}

static void put(struct pr_jw *w, const char *s, size_t n)
{
	if (room(w, n) == 0) {
		memcpy(w->p + w->len, s, n);
		w->len += n;
	}
}

static void put_c(struct pr_jw *w, char c)
{
	if (room(w, 1) == 0)
		w->p[w->len++] = c;
}

static void sep(struct pr_jw *w)
{
	if (w->comma)
		put_c(w, ',');
}

void pr_jw_obj_open(struct pr_jw *w)
{
	sep(w);
	put_c(w, '{');
	w->comma = 0;
}

void pr_jw_obj_close(struct pr_jw *w)
{
	put_c(w, '}');
	w->comma = 1;
}

void pr_jw_arr_open(struct pr_jw *w)
{
	sep(w);
	put_c(w, '[');
	w->comma = 0;
}

void pr_jw_arr_close(struct pr_jw *w)
{
	put_c(w, ']');
	w->comma = 1;
}

/* 1 for the bytes a string holds as they are: ASCII from 0x20 to 0x7f
 * other than '"' and '\\' (what the fast path of put_string copies). */
#define PLAIN16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char plain[256] = {
	[0x20] = 1, 1, 0 /* '"' */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x30] = PLAIN16,
	[0x40] = PLAIN16,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* '\\' */, 1, 1, 1,
	[0x60] = PLAIN16,
	[0x70] = PLAIN16,
};

/* s quoted and escaped as jansson's dump_string escapes it (without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH): '"', '\\' and the control
 * characters; \b \f \n \r \t by name, the others as \u00XX. */
static void put_string(struct pr_jw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n, from = 0, i;

	/* Printable ASCII without '"' or '\\' (codes, keys, names): as
	 * it is, in one copy. plain[] answers for a byte with one load (the
	 * four comparisons per byte it replaced were a third of the trace's
	 * writing); the NUL is not plain and ends the scan. */
	for (n = 0; plain[(unsigned char)s[n]]; n++)
		;
	if (!s[n]) {
		if (room(w, n + 2) == 0) {
			w->p[w->len] = '"';
			memcpy(w->p + w->len + 1, s, n);
			w->p[w->len + n + 1] = '"';
			w->len += n + 2;
		}
		return;
	}
	n += strlen(s + n);
	if (!pr_utf8_valid(s, n)) {
		w->failed = 1;
		return;
	}
	put_c(w, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 0, '0', '0', 0, 0 };
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(w, s + from, i - from);
		from = i + 1;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		put(w, esc, elen);
	}
	put(w, s + from, n - from);
	put_c(w, '"');
}

/* s all plain (put_string's fast path), written quoted after the
 * separator and followed by tail (0: nothing), with one check for room.
 * Returns 0, or -1 when s is not all plain or w cannot grow: then nothing
 * was written (the keys and most values of a trace are plain, and this is
 * how they are written). */
static int put_plain(struct pr_jw *w, const char *s, char tail)
{
	size_t n;
	char *p;

	for (n = 0; plain[(unsigned char)s[n]]; n++)
		;
	if (s[n] || room(w, n + 4) < 0)
		return -1;
	p = w->p + w->len;
	if (w->comma)
		*p++ = ',';
	*p++ = '"';
	memcpy(p, s, n);
	p += n;
	*p++ = '"';
	if (tail)
		*p++ = tail;
	w->len = (size_t)(p - w->p);
	return 0;
}

void pr_jw_key(struct pr_jw *w, const char *k)
{
	if (put_plain(w, k, ':') < 0) {
		sep(w);
		put_string(w, k);
		put_c(w, ':');
	}
	w->comma = 0;
}

void pr_jw_str(struct pr_jw *w, const char *s)
{
	if (!s) {
		pr_jw_null(w);
		return;
	}
	if (put_plain(w, s, 0) < 0) {
		sep(w);
		put_string(w, s);
	}
	w->comma = 1;
}

void pr_jw_int(struct pr_jw *w, int64_t v)
{
	char buf[24], *e = buf + sizeof(buf), *p = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	sep(w);
	put(w, p, (size_t)(e - p));
	w->comma = 1;
}

/* A v that is a multiple of 1/1024 in [0, 1e7) has an exact decimal
 * expansion of at most 7 + 10 significant digits, all of which "%.17g"
 * prints (and no exponent: v is 0 or at least 1/1024), trailing zeros
 * dropped: so it is written here, digit by digit, at a fraction of
 * glibc's exact conversion (the scores of a trace are mostly such
 * values: 1, 0.5, 2.5). Returns the length, or 0 for any other v. */
static int dyadic_text(double v, char *buf)
{
	double s = v * 1024.0; /* exact: a power of two */
	uint64_t m, ip, frac;
	char digits[8];
	int n = 0, k = 0;

	if (!(v >= 0 && v < 1e7) || signbit(v) || s != (double)(uint64_t)s)
		return 0;
	m = (uint64_t)s;
	ip = m >> 10;
	frac = m & 1023;
	do {
		digits[k++] = (char)('0' + ip % 10);
		ip /= 10;
	} while (ip);
	while (k)
		buf[n++] = digits[--k];
	buf[n++] = '.';
	if (!frac)
		buf[n++] = '0';
	while (frac) {
		frac *= 10;
		buf[n++] = (char)('0' + (frac >> 10));
		frac &= 1023;
	}
	return n;
}

void pr_jw_real(struct pr_jw *w, double v)
{
	char buf[40], *e, *from;
	int n;

	if (v != v || v - v != 0) { /* NaN, infinities */
		w->failed = 1;
		return;
	}
	n = dyadic_text(v, buf);
	if (n) {
		sep(w);
		put(w, buf, (size_t)n);
		w->comma = 1;
		return;
	}
	/* jansson's jsonp_dtostr with precision 0 */
	n = snprintf(buf, sizeof(buf), "%.17g", v);
	if (n < 0 || (size_t)n + 3 > sizeof(buf)) {
		w->failed = 1;
		return;
	}
	if (!strchr(buf, '.') && !strchr(buf, 'e')) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	e = strchr(buf, 'e');
	if (e) {
		e++;
		from = e + 1;
		if (*e == '-')
			e++;
		while (*from == '0')
			from++;
		if (from != e) {
			memmove(e, from, (size_t)(buf + n + 1 - from));
			n -= (int)(from - e);
		}
	}
	sep(w);
	put(w, buf, (size_t)n);
	w->comma = 1;
}

void pr_jw_bool(struct pr_jw *w, int v)
{
	sep(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
	w->comma = 1;
}

void pr_jw_null(struct pr_jw *w)
{
	sep(w);
	put(w, "null", 4);
	w->comma = 1;
}
