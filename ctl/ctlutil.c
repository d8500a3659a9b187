/*
 * ctlutil.c - payroutectl's pure parts: a body from key=value arguments,
 * an error answer as one line, aligned text tables, and the readable
 * forms of explain's and import's answers.
 *
 * Everything here works on jansson values and strings, and prints only to
 * the FILE * it is given, so that tests/unit/test_ctlutil.c checks the
 * exact text an operator reads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlutil.h"

/* ------------------------------------------------------------ key=value */

static int key_ok(const char *k, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

/* The payment fields that are integers (payreq.c). */
static int int_field(const char *k)
{
	return strcmp(k, "amount") == 0 || strcmp(k, "expire_seconds") == 0;
}

int pr_ctl_kv_add(json_t *body, int argc, char *const *argv, char *err,
		  size_t errlen)
{
	char key[65];

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		int raw = eq && eq > a && eq[-1] == ':';
		size_t n = eq ? (size_t)(eq - a) - (raw ? 1 : 0) : 0;
		json_t *v;

		if (!eq || !key_ok(a, n)) {
			snprintf(err, errlen,
				 "%s: expected KEY=VALUE or KEY:=JSON (a key "
				 "is 1 to 64 of a-z, 0-9 and _)",
				 a);
			return -EINVAL;
		}
		memcpy(key, a, n);
		key[n] = '\0';
		if (raw) {
			json_error_t je;

			v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
			if (!v) {
				snprintf(err, errlen, "%s: not JSON: %s", a,
					 je.text);
				return -EINVAL;
			}
		} else if (int_field(key)) {
			char *end;
			long long x;

			errno = 0;
			x = strtoll(eq + 1, &end, 10);
			if (!eq[1] || *end || errno) {
				snprintf(err, errlen,
					 "%s: %s is an integer (minor units "
					 "for an amount)",
					 a, key);
				return -EINVAL;
			}
			v = json_integer((json_int_t)x);
		} else {
			v = json_string(eq + 1);
			if (!v) {
				snprintf(err, errlen, "%s: not UTF-8", a);
				return -EINVAL;
			}
		}
		if (!v || json_object_set_new(body, key, v) < 0) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

/* A scalar VALUE of a patch argument: a JSON number, true, false or null
 * as such, anything else a string. */
static json_t *patch_value(const char *v)
{
	json_t *j;

	if (*v && (strchr("-0123456789", *v) || strcmp(v, "true") == 0 ||
		   strcmp(v, "false") == 0 || strcmp(v, "null") == 0)) {
		j = json_loads(v, JSON_DECODE_ANY, NULL);
		if (j && !json_is_array(j) && !json_is_object(j) &&
		    !json_is_string(j))
			return j;
		json_decref(j);
	}
	return json_string(v);
}

int pr_ctl_patch_add(json_t *patch, int argc, char *const *argv, char *err,
		     size_t errlen)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '='), *p = a;
		int raw = eq && eq > a && eq[-1] == ':';
		const char *end = eq ? eq - (raw ? 1 : 0) : NULL;
		json_t *obj = patch, *v;
		char key[65];

		if (!eq || end == a)
			goto bad;
		for (;;) {
			const char *dot = memchr(p, '.', (size_t)(end - p));
			size_t n = (size_t)((dot ? dot : end) - p);
			json_t *next;

			if (!key_ok(p, n))
				goto bad;
			memcpy(key, p, n);
			key[n] = '\0';
			if (!dot)
				break;
			next = json_object_get(obj, key);
			if (!next) {
				next = json_object();
				if (!next ||
				    json_object_set_new(obj, key, next) < 0)
					goto oom;
			} else if (!json_is_object(next)) {
				snprintf(err, errlen,
					 "%s: %.*s is set by another argument",
					 a, (int)(dot - a), a);
				return -EINVAL;
			}
			obj = next;
			p = dot + 1;
		}
		if (json_object_get(obj, key)) {
			snprintf(err, errlen, "%s: %.*s is given twice", a,
				 (int)(end - a), a);
			return -EINVAL;
		}
		if (raw) {
			json_error_t je;

			v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
			if (!v) {
				snprintf(err, errlen, "%s: not JSON: %s", a,
					 je.text);
				return -EINVAL;
			}
		} else {
			v = patch_value(eq + 1);
			if (!v) {
				snprintf(err, errlen, "%s: not UTF-8", a);
				return -EINVAL;
			}
		}
		if (json_object_set_new(obj, key, v) < 0)
			goto oom;
		continue;
bad:
		snprintf(err, errlen,
			 "%s: expected PATH=VALUE or PATH:=JSON (a path is "
			 "names of 1 to 64 of a-z, 0-9 and _ joined by dots)",
			 a);
		return -EINVAL;
oom:
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* --------------------------------------------------------------- errors */

void pr_ctl_error_text(long status, const char *body, size_t len, char *out,
		       size_t outlen)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *e = j ? json_object_get(j, "error") : NULL;
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *field = json_string_value(json_object_get(e, "field"));
	size_t n;

	if (code && msg) {
		if (field && *field && !strstr(msg, field))
			snprintf(out, outlen, "%ld %s: %s (field %s)", status,
				 code, msg, field);
		else
			snprintf(out, outlen, "%ld %s: %s", status, code, msg);
		json_decref(j);
		return;
	}
	json_decref(j);
	if (!body || !len) {
		snprintf(out, outlen, "%ld (empty body)", status);
		return;
	}
	for (n = 0; n < len && n < 200 && body[n] != '\n' && body[n] != '\r';
	     n++)
		;
	snprintf(out, outlen, "%ld (not a JSON error) %.*s%s", status, (int)n,
		 body, n < len ? "..." : "");
}

/* ---------------------------------------------------------------- cells */

char *pr_ctl_cell(const json_t *v)
{
	char buf[64];

	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_true(v))
		return strdup("yes");
	if (json_is_false(v))
		return strdup("no");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.3f", json_real_value(v));
		return strdup(buf);
	}
	if (json_is_array(v)) {
		size_t i, len = 0, cap = 64;
		char *out = malloc(cap), *part;
		json_t *x;

		if (!out)
			return NULL;
		out[0] = '\0';
		json_array_foreach(v, i, x) {
			size_t pl;

			if (json_is_array(x) || json_is_object(x)) {
				free(out);
				return json_dumps(v, JSON_COMPACT);
			}
			part = pr_ctl_cell(x);
			if (!part) {
				free(out);
				return NULL;
			}
			pl = strlen(part);
			if (len + pl + 2 > cap) {
				char *grown;

				cap = (len + pl + 2) * 2;
				grown = realloc(out, cap);
				if (!grown) {
					free(part);
					free(out);
					return NULL;
				}
				out = grown;
			}
			if (i)
				out[len++] = ',';
			memcpy(out + len, part, pl + 1);
			len += pl;
			free(part);
		}
		if (!len) {
			free(out);
			return strdup("-");
		}
		return out;
	}
	/* 3.042 as 3.042, not the double's 17 digits */
	return json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9));
}

void pr_ctl_duration(long long s, char *out, size_t outlen)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, outlen, "%llds", s);
	else if (s < 3600)
		snprintf(out, outlen, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(out, outlen, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, outlen, "%lldd%02lldh", s / 86400,
			 s % 86400 / 3600);
}

/* --------------------------------------------------------------- tables */

static int table_row(struct pr_ctl_table *t, char **row)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells;

		if (cap > SIZE_MAX / t->ncols / sizeof(*cells))
			return -ENOMEM;
		cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
		if (!cells)
			return -ENOMEM;
		t->cells = cells;
		t->cap = cap;
	}
	memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof(*row));
	t->nrows++;
	return 0;
}

int pr_ctl_table_init(struct pr_ctl_table *t, size_t ncols,
		      const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	return ncols ? pr_ctl_table_add(t, header) : -EINVAL;
}

int pr_ctl_table_add(struct pr_ctl_table *t, const char *const *cells)
{
	char **row = calloc(t->ncols, sizeof(*row));
	int rc = -ENOMEM;
	size_t i;

	if (!row)
		return -ENOMEM;
	for (i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "-");
		if (!row[i])
			goto out;
	}
	rc = table_row(t, row);
out:
	if (rc < 0) {
		for (i = 0; i < t->ncols; i++)
			free(row[i]);
	}
	free(row);
	return rc;
}

int pr_ctl_table_add_json(struct pr_ctl_table *t, json_t *const *values)
{
	char **row = calloc(t->ncols, sizeof(*row));
	int rc = -ENOMEM;
	size_t i;

	if (!row)
		return -ENOMEM;
	for (i = 0; i < t->ncols; i++) {
		row[i] = pr_ctl_cell(values[i]);
		if (!row[i])
			goto out;
	}
	rc = table_row(t, row);
out:
	if (rc < 0) {
		for (i = 0; i < t->ncols; i++)
			free(row[i]);
	}
	free(row);
	return rc;
}

/* Characters of UTF-8 text (bytes that do not continue a sequence). */
static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

void pr_ctl_table_print(const struct pr_ctl_table *t, FILE *f)
{
	size_t w[64] = { 0 };
	size_t nc = t->ncols < 64 ? t->ncols : 64;

	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < nc; c++) {
			size_t n = utf8_len(t->cells[r * t->ncols + c]);

			if (n > w[c])
				w[c] = n;
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < nc; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t n = utf8_len(s), p;

			if (c)
				fputs("  ", f);
			if (t->right >> c & 1)
				for (p = n; p < w[c]; p++)
					fputc(' ', f);
			fputs(s, f);
			if (c + 1 == nc)
				break;
			if (!(t->right >> c & 1))
				for (p = n; p < w[c]; p++)
					fputc(' ', f);
		}
		fputc('\n', f);
	}
}

void pr_ctl_table_clear(struct pr_ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* -------------------------------------------------------------- amounts */

int pr_ctl_minor_units(const json_t *currencies, const char *code)
{
	json_t *c;
	size_t i;

	if (!code)
		return -1;
	json_array_foreach(json_object_get(currencies, "currencies"), i, c) {
		json_t *m = json_object_get(c, "minor");
		const char *k = json_string_value(json_object_get(c, "code"));

		if (k && strcmp(k, code) == 0 && json_is_integer(m) &&
		    json_integer_value(m) >= 0 && json_integer_value(m) <= 18)
			return (int)json_integer_value(m);
	}
	return -1;
}

void pr_ctl_major(long long amount, int digits, char *out, size_t outlen)
{
	/* unsigned, so that the most negative amount has a magnitude */
	unsigned long long a = amount < 0 ? 0ULL - (unsigned long long)amount :
					    (unsigned long long)amount;
	char frac[20];

	if (digits < 0 || digits >= (int)sizeof(frac)) {
		snprintf(out, outlen, "%lld minor", amount);
		return;
	}
	frac[digits] = '\0';
	for (int i = digits; i-- > 0; a /= 10)
		frac[i] = (char)('0' + a % 10);
	snprintf(out, outlen, "%s%llu%s%s", amount < 0 ? "-" : "", a,
		 digits ? "." : "", frac);
}

/* The value at a dotted path of row ("limits.daily_amount"), or NULL. */
static json_t *at_path(json_t *row, const char *path)
{
	const char *dot;
	char part[65];

	while (row && (dot = strchr(path, '.'))) {
		size_t n = (size_t)(dot - path);

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		row = json_object_get(row, part);
		path = dot + 1;
	}
	return json_object_get(row, path);
}

/* A row's cell for the column col (malloc'd), or NULL: out of memory. */
static char *col_cell(const struct pr_ctl_col *col, json_t *row,
		      const json_t *currencies)
{
	const char *missing = col->missing ? col->missing : "-";
	json_t *v = col->kind == PR_CTL_COL_FN ? NULL : at_path(row, col->path);
	char buf[256];

	switch (col->kind) {
	case PR_CTL_COL_VALUE:
		return !v || json_is_null(v) ? strdup(missing) : pr_ctl_cell(v);
	case PR_CTL_COL_AMOUNT: {
		const char *cur = json_string_value(at_path(row, col->arg));
		size_t n;

		if (!json_is_integer(v))
			return strdup("-");
		pr_ctl_major((long long)json_integer_value(v),
			     pr_ctl_minor_units(currencies, cur), buf,
			     sizeof(buf));
		n = strlen(buf);
		if (cur)
			snprintf(buf + n, sizeof(buf) - n, " %s", cur);
		return strdup(buf);
	}
	case PR_CTL_COL_DURATION:
		pr_ctl_duration((long long)json_integer_value(v), buf,
				sizeof(buf));
		return strdup(buf);
	case PR_CTL_COL_REAL:
		if (!json_is_number(v))
			return strdup(missing);
		snprintf(buf, sizeof(buf), col->arg ? "%+.2f" : "%.2f",
			 json_number_value(v));
		return strdup(buf);
	case PR_CTL_COL_IF_TRUE:
		return strdup(json_is_true(v) ? col->arg : "");
	case PR_CTL_COL_FN:
		buf[0] = '\0';
		col->fn(row, buf, sizeof(buf));
		return strdup(buf);
	}
	return strdup(missing);
}

int pr_ctl_print_rows(FILE *f, const struct pr_ctl_col *cols, size_t ncols,
		      json_t *rows, const json_t *currencies, const char *empty)
{
	const char *head[64];
	struct pr_ctl_table t;
	char **row = NULL;
	json_t *r;
	size_t i, c;
	int rc;

	if (ncols == 0 || ncols > 64)
		return -EINVAL;
	for (c = 0; c < ncols; c++)
		head[c] = cols[c].head;
	if ((rc = pr_ctl_table_init(&t, ncols, head)) < 0)
		return rc;
	for (c = 0; c < ncols; c++)
		if (cols[c].kind == PR_CTL_COL_AMOUNT)
			t.right |= 1ULL << c;
	json_array_foreach(rows, i, r) {
		rc = -ENOMEM;
		if (!(row = calloc(ncols, sizeof(*row))))
			goto out;
		for (c = 0; c < ncols; c++)
			if (!(row[c] = col_cell(&cols[c], r, currencies)))
				goto out;
		if ((rc = table_row(&t, row)) < 0)
			goto out;
		free(row);
		row = NULL;
	}
	if (t.nrows == 1 && empty)
		fprintf(f, "%s\n", empty);
	else
		pr_ctl_table_print(&t, f);
	rc = 0;
out:
	if (row) {
		for (c = 0; c < ncols; c++)
			free(row[c]);
		free(row);
	}
	pr_ctl_table_clear(&t);
	return rc;
}

/* -------------------------------------------------------------- explain */

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

void pr_ctl_print_explain(FILE *f, json_t *a)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "CHANNEL", .path = "channel" },
		{ .head = "ELIGIBLE", .path = "eligible" },
		{ .head = "DROPPED_BY", .path = "dropped_by" },
		{ .head = "FEE", .path = "fee" },
		{ .head = "SCORE", .path = "score" },
		{ .head = "WEIGHT", .path = "score_parts.weight" },
		{ .head = "FEE_SCORE", .path = "score_parts.fee" },
		{ .head = "SUCCESS", .path = "score_parts.success_rate" },
	};
	json_t *chosen = json_object_get(a, "chosen");
	json_t *wl = json_object_get(a, "whitelist");
	json_t *rule = json_object_get(a, "rule");
	json_t *w;
	size_t i;

	if (json_is_string(chosen))
		fprintf(f, "chosen: %s\n", json_string_value(chosen));
	else
		fprintf(f, "chosen: none (no channel can take it)\n");
	if (json_is_object(wl))
		fprintf(f,
			"whitelist: entry %" JSON_INTEGER_FORMAT
			" (%s) -> %s\n",
			json_integer_value(json_object_get(wl, "id")),
			str(wl, "kind"), str(wl, "channel"));
	json_array_foreach(json_object_get(a, "whitelist_unused"), i, w)
		fprintf(f,
			"whitelist: entry %" JSON_INTEGER_FORMAT
			" (%s) matched, but channel %s was dropped by %s\n",
			json_integer_value(json_object_get(w, "id")),
			str(w, "kind"), str(w, "channel"),
			str(w, "dropped_by"));
	if (json_is_object(rule))
		fprintf(f, "rule: %" JSON_INTEGER_FORMAT " %s\n",
			json_integer_value(json_object_get(rule, "id")),
			str(rule, "name"));
	json_array_foreach(json_object_get(a, "warnings"), i, w)
		fprintf(f, "warning: %s\n", json_string_value(w));
	pr_ctl_print_rows(f, cols, sizeof(cols) / sizeof(cols[0]),
			  json_object_get(a, "candidates"), NULL,
			  "no channels");
}

/* --------------------------------------------------------------- import */

/* "seller_id s1 -> c2", "#3 card_no *1234 -> c1". */
static void wl_text(json_t *e, char *out, size_t len)
{
	json_t *id = json_object_get(e, "id");
	char num[32] = "";

	if (json_is_integer(id))
		snprintf(num, sizeof(num), "#%" JSON_INTEGER_FORMAT " ",
			 json_integer_value(id));
	if (json_object_get(e, "value_hint"))
		snprintf(out, len, "%s%s *%s -> %s", num, str(e, "kind"),
			 json_is_string(json_object_get(e, "value_hint")) ?
				 str(e, "value_hint") :
				 "?",
			 str(e, "channel"));
	else
		snprintf(out, len, "%s%s %s -> %s", num, str(e, "kind"),
			 str(e, "value"), str(e, "channel"));
}

/* " (a, b)" of an array of strings, or "". */
static void fields_text(json_t *fields, char *out, size_t len)
{
	size_t i, o = 0;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(fields, i, v) {
		int n = snprintf(out + o, len - o, "%s%s", i ? ", " : " (",
				 json_string_value(v) ? json_string_value(v) :
							"?");

		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
	if (o && o + 1 < len) {
		out[o] = ')';
		out[o + 1] = '\0';
	}
}

static void count_line(FILE *f, const char *what, json_t *part)
{
	fprintf(f,
		"%s: %zu added, %zu changed, %zu removed, %" JSON_INTEGER_FORMAT
		" unchanged\n",
		what, json_array_size(json_object_get(part, "added")),
		json_array_size(json_object_get(part, "changed")),
		json_array_size(json_object_get(part, "removed")),
		json_integer_value(json_object_get(part, "unchanged")));
}

void pr_ctl_print_import(FILE *f, json_t *a)
{
	json_t *ch = json_object_get(a, "changes");
	json_t *c = json_object_get(ch, "channels");
	json_t *w = json_object_get(ch, "whitelist");
	json_t *r = json_object_get(ch, "rules");
	json_t *o = json_object_get(ch, "code_overrides");
	json_t *x;
	char text[512], fl[256];
	size_t i;

	json_array_foreach(json_object_get(c, "added"), i, x)
		fprintf(f, "channel added: %s\n", json_string_value(x));
	json_array_foreach(json_object_get(c, "changed"), i, x) {
		fields_text(json_object_get(x, "fields"), fl, sizeof(fl));
		fprintf(f, "channel changed: %s%s\n", str(x, "code"), fl);
	}
	json_array_foreach(json_object_get(c, "removed"), i, x)
		fprintf(f, "channel removed: %s\n", json_string_value(x));
	json_array_foreach(json_object_get(w, "added"), i, x) {
		wl_text(x, text, sizeof(text));
		fprintf(f, "whitelist entry added: %s\n", text);
	}
	json_array_foreach(json_object_get(w, "changed"), i, x) {
		wl_text(x, text, sizeof(text));
		fields_text(json_object_get(x, "fields"), fl, sizeof(fl));
		fprintf(f, "whitelist entry changed: %s%s\n", text, fl);
	}
	json_array_foreach(json_object_get(w, "removed"), i, x) {
		wl_text(x, text, sizeof(text));
		fprintf(f, "whitelist entry removed: %s\n", text);
	}
	if (json_is_true(json_object_get(r, "changed")))
		fprintf(f,
			"rules replaced: %" JSON_INTEGER_FORMAT
			" -> %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(json_object_get(r, "before")),
			json_integer_value(json_object_get(r, "after")));
	json_array_foreach(json_object_get(o, "added"), i, x)
		fprintf(f, "code override added: %s\n", json_string_value(x));
	json_array_foreach(json_object_get(o, "changed"), i, x)
		fprintf(f, "code override changed: %s\n", json_string_value(x));
	json_array_foreach(json_object_get(o, "removed"), i, x)
		fprintf(f, "code override removed: %s\n", json_string_value(x));
	count_line(f, "channels", c);
	count_line(f, "whitelist", w);
	fprintf(f, "rules: %s (%" JSON_INTEGER_FORMAT " rule%s)\n",
		json_is_true(json_object_get(r, "changed")) ? "replaced" :
							      "unchanged",
		json_integer_value(json_object_get(r, "after")),
		json_integer_value(json_object_get(r, "after")) == 1 ? "" :
								       "s");
	count_line(f, "code overrides", o);
	if (json_is_true(json_object_get(a, "dry_run")) &&
	    !json_is_true(json_object_get(a, "changed")))
		fprintf(f,
			"dry run: nothing would change (generation %" JSON_INTEGER_FORMAT
			" active)\n",
			json_integer_value(json_object_get(a, "generation")));
	else if (json_is_true(json_object_get(a, "dry_run")))
		fprintf(f,
			"dry run: nothing was written (generation %" JSON_INTEGER_FORMAT
			" active)\n",
			json_integer_value(json_object_get(a, "generation")));
	else if (json_is_true(json_object_get(a, "changed")))
		fprintf(f,
			"imported: generation %" JSON_INTEGER_FORMAT
			" active\n",
			json_integer_value(json_object_get(a, "generation")));
	else
		fprintf(f,
			"nothing to change: generation %" JSON_INTEGER_FORMAT
			" active\n",
			json_integer_value(json_object_get(a, "generation")));
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* "0.750", or "-" for null. */
static void rate_text(json_t *v, char *out, size_t len)
{
	if (json_is_number(v))
		snprintf(out, len, "%.3f", json_number_value(v));
	else
		snprintf(out, len, "-");
}

/* A replayed channel's success rate over the period (rate_text). */
static void success_cell(json_t *x, char *out, size_t len)
{
	rate_text(json_object_get(x, "success_rate"), out, len);
}

void pr_ctl_print_replay(FILE *f, json_t *job)
{
	/* fees in minor units, next to their currency */
	static const struct pr_ctl_col cols[] = {
		{ .head = "CHANNEL", .path = "channel", .missing = "" },
		{ .head = "CUR", .path = "currency", .missing = "" },
		{ .head = "ACTIVE", .path = "active.orders", .missing = "0" },
		{ .head = "DRAFT", .path = "draft.orders", .missing = "0" },
		{ .head = "IN", .path = "moved_in.orders", .missing = "0" },
		{ .head = "OUT", .path = "moved_out.orders", .missing = "0" },
		{ .head = "FEES ACTIVE", .path = "active.fees", .missing = "0" },
		{ .head = "FEES DRAFT", .path = "draft.fees", .missing = "0" },
		{ .head = "SUCCESS", .kind = PR_CTL_COL_FN, .fn = success_cell },
	};
	json_t *res = json_object_get(job, "result"), *x, *a, *d;
	char ra[16], rd[16];
	/* what was replayed: "payments" (the default) or "withdrawals" */
	const char *what = json_is_string(json_object_get(job, "kind")) ?
				   str(job, "kind") :
				   "payments";
	size_t i;

	fprintf(f, "replay %lld: %s, %s to %s\n", num(job, "id"),
		str(job, "status"), str(job, "from"), str(job, "to"));
	if (!json_is_object(res)) {
		if (json_is_string(json_object_get(job, "error")))
			fprintf(f, "error: %s\n", str(job, "error"));
		return;
	}
	fprintf(f,
		"%lld %s replayed in %lld ms (%lld/s), %lld skipped; "
		"%lld would move\n",
		num(res, "orders"), what, num(job, "elapsed_ms"),
		num(job, "orders_per_second"), num(res, "skipped"),
		num(res, "changed"));
	json_array_foreach(json_object_get(res, "totals"), i, x) {
		a = json_object_get(x, "active");
		d = json_object_get(x, "draft");
		rate_text(json_object_get(a, "expected_success"), ra,
			  sizeof(ra));
		rate_text(json_object_get(d, "expected_success"), rd,
			  sizeof(rd));
		fprintf(f,
			"%s: moved %lld %s, amount %lld; fees %lld -> "
			"%lld (%+lld); expected success %s -> %s; "
			"unroutable %lld -> %lld\n",
			str(x, "currency"),
			num(json_object_get(x, "changed"), "orders"), what,
			num(json_object_get(x, "changed"), "amount"),
			num(a, "fees"), num(d, "fees"),
			num(d, "fees") - num(a, "fees"), ra, rd,
			num(a, "unroutable"), num(d, "unroutable"));
	}
	pr_ctl_print_rows(f, cols, sizeof(cols) / sizeof(cols[0]),
			  json_object_get(res, "channels"), NULL, NULL);
	json_array_foreach(json_object_get(res, "flows"), i, x) {
		const char *from =
			json_string_value(json_object_get(x, "from"));
		const char *to = json_string_value(json_object_get(x, "to"));

		fprintf(f, "flow: %s -> %s: %lld %s, %lld %s\n",
			from ? from : "(none)", to ? to : "(none)",
			num(x, "orders"), what, num(x, "amount"),
			str(x, "currency"));
	}
	json_array_foreach(json_object_get(res, "limit_days"), i, x)
		fprintf(f,
			"daily limit (%s): %s on %s, %s from %s, %lld %s "
			"turned away\n",
			str(x, "policy"), str(x, "channel"), str(x, "day"),
			str(x, "limit"), str(x, "first_at"),
			num(x, "orders_turned_away"), what);
	if (num(res, "recorded_differs"))
		fprintf(f,
			"note: %lld %s went to another channel than the "
			"active policy picks now (a cascade, other usage, or a "
			"policy change in the range)\n",
			num(res, "recorded_differs"), what);
}
