/*
 * ctlutil.h - the pure parts of payroutectl(1): a request body from
 * key=value arguments, the admin API's JSON errors as one line, text
 * tables, and the human forms of the answers of explain and import.
 *
 * No I/O but the FILE * a printer is given, no globals: the unit tests
 * call them directly (tests/unit/test_ctlutil.c). The HTTP client and the
 * commands are in payroutectl.c.
 */
#ifndef PR_CTLUTIL_H
#define PR_CTLUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Adds key=value arguments to the JSON object body (replacing a key it
 * has). KEY=TEXT sets a string, except for the integer fields of a
 * payment ("amount", "expire_seconds"), which must be integers there;
 * KEY:=JSON sets any JSON value (amount:=100, payee:='{"kind": ...}').
 * A key is 1 to 64 of [a-z0-9_]. Returns 0, or -EINVAL with err naming
 * the argument. */
int pr_ctl_kv_add(json_t *body, int argc, char *const *argv, char *err,
		  size_t errlen);

/* Adds path=value arguments to the JSON Merge Patch patch (an object):
 * a dotted path names a member of a member ("limits.daily_amount=500000"
 * becomes {"limits": {"daily_amount": 500000}}); each part is 1 to 64 of
 * [a-z0-9_]. VALUE is a number, true, false or null when it reads as one
 * (null removes the member), else a string; PATH:=JSON sets any JSON
 * value (methods:='["alipay"]'). A path given twice, or inside a value
 * another argument set, is refused. Returns 0, or -EINVAL with err naming
 * the argument (-ENOMEM). */
int pr_ctl_patch_add(json_t *patch, int argc, char *const *argv, char *err,
		     size_t errlen);

/* The one-line form of an answer that is not a success:
 * "404 not_found: no channel named foo" from {"error": {"code",
 * "message"}} (with " (field F)" when the message does not name the
 * field), else "502 (not a JSON error) FIRST LINE OF THE BODY..." (cut at
 * 200 bytes; "empty body" for none). body need not be NUL-terminated. */
void pr_ctl_error_text(long status, const char *body, size_t len, char *out,
		       size_t outlen);

/* A cell's text for a JSON value: a string as is, null or a missing
 * value "-", true "yes", false "no", an integer in decimal, a real with 3
 * decimals, an array of scalars joined by "," ("-" when empty), anything
 * else compact JSON. Returns malloc'd text (the caller frees it), or NULL
 * when out of memory. */
char *pr_ctl_cell(const json_t *v);

/* A duration in seconds for people: "45s", "12m", "3h05m", "2d04h". */
void pr_ctl_duration(long long s, char *out, size_t outlen);

/* A table of text cells printed with aligned columns: two spaces between
 * columns, the last one not padded; widths count UTF-8 characters. */
struct pr_ctl_table {
	size_t ncols;
	size_t nrows; /* the header is row 0 */
	size_t cap;
	char **cells;	/* nrows * ncols, owned */
	uint64_t right; /* bit c: column c is aligned right (c < 64) */
};

/* Starts a table with its header row. Returns 0 or -ENOMEM. */
int pr_ctl_table_init(struct pr_ctl_table *t, size_t ncols,
		      const char *const *header);
/* Appends a row of ncols cells (copied; NULL prints as "-"). Returns 0
 * or -ENOMEM. */
int pr_ctl_table_add(struct pr_ctl_table *t, const char *const *cells);
/* Appends a row of JSON values, each through pr_ctl_cell. Returns 0 or
 * -ENOMEM. */
int pr_ctl_table_add_json(struct pr_ctl_table *t, json_t *const *values);
void pr_ctl_table_print(const struct pr_ctl_table *t, FILE *f);
void pr_ctl_table_clear(struct pr_ctl_table *t);

/* The minor units of code in GET /admin/v1/currencies' answer
 * ({"currencies": [{"code", "minor"}]}, the daemon's ISO 4217 table), or
 * -1 when currencies is NULL or does not list code. */
int pr_ctl_minor_units(const json_t *currencies, const char *code);

/* An amount of minor units as text in major units: (1234, 2) "12.34",
 * (-5, 2) "-0.05", (1500, 0) "1500". With digits < 0 (a currency whose
 * minor units are not known) the minor units as they are and "minor":
 * (1234, -1) "1234 minor". */
void pr_ctl_major(long long amount, int digits, char *out, size_t outlen);

/* How a column of pr_ctl_print_rows makes a row's cell from the value at
 * its path. */
enum pr_ctl_col_kind {
	PR_CTL_COL_VALUE,    /* pr_ctl_cell; missing or null: .missing */
	PR_CTL_COL_AMOUNT,   /* minor units in the currency at the row's
				.arg, shown as "12.34 CNY" (pr_ctl_major);
				aligned right; not an integer: "-" */
	PR_CTL_COL_DURATION, /* seconds, through pr_ctl_duration */
	PR_CTL_COL_REAL,     /* a number with 2 decimals ("0.50"; with
				.arg "+", signed: "+0.50"); not a number:
				.missing */
	PR_CTL_COL_IF_TRUE,  /* .arg when the value is true, else "" */
	PR_CTL_COL_FN,	     /* .fn(row, out, outlen), path unused */
};

/* One column of a table of JSON objects. */
struct pr_ctl_col {
	const char *head; /* the header's text */
	const char *path; /* the value's member; dotted for a member
				      of a member ("fee.rate_bps") */
	enum pr_ctl_col_kind kind;
	const char *arg;     /* AMOUNT: the currency's path; REAL:
				      "+" or NULL; IF_TRUE: the text */
	const char *missing; /* the text for no value (NULL: "-") */
	void (*fn)(json_t *row, char *out, size_t outlen); /* FN */
};

/* Prints rows (a JSON array of objects) as a table with the ncols
 * columns cols (at most 64), one line a row; when there are no rows,
 * the line empty in place of the table (NULL: the header alone).
 * currencies is GET /admin/v1/currencies' answer for AMOUNT columns
 * (NULL: amounts in minor units). Returns 0, or -ENOMEM (-EINVAL for no
 * or too many columns) with nothing printed. */
int pr_ctl_print_rows(FILE *f, const struct pr_ctl_col *cols, size_t ncols,
		      json_t *rows, const json_t *currencies,
		      const char *empty);

/* Prints POST /admin/v1/route/explain's answer: the chosen channel (or
 * that none is usable), the whitelist entry or rule that applied, then a
 * table of the candidates (channel, eligible, dropped_by, fee, score and
 * its parts weight, fee and success_rate). */
void pr_ctl_print_explain(FILE *f, json_t *answer);

/* Prints PUT /admin/v1/policy's answer: one line per entity added,
 * changed or removed ("channel added: c2", "channel changed: c1 (weight,
 * fee)", "whitelist entry removed: #3 seller_id s1 -> c2", "rules
 * replaced: 2 -> 3", "code override added: c1/pay/CODE/SUB_CODE"), a summary line
 * per kind, and the outcome ("dry run: nothing was written" or "dry run:
 * nothing would change", "imported: generation N active", "nothing to
 * change: generation N active"). */
void pr_ctl_print_import(FILE *f, json_t *answer);

/* Prints a policy replay (GET /admin/v1/policy/replay/{id}): its status
 * and range; when done, the payments replayed and how fast, per currency
 * what moves and the fees and expected success of each side, a table of
 * the channels (payments under each side, moved in and out, fees, the
 * period's success rate), the flows, the days a daily limit is reached,
 * and how many stored payments went elsewhere than the active side's
 * choice; when failed, the error. */
void pr_ctl_print_replay(FILE *f, json_t *job);

#endif
