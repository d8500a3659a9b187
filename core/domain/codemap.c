/*
 * codemap.c - the unified result codes (doc/design.md §8): what a channel's
 * answer means, in payroute's own words.
 *
 * A map holds one table per driver (its default_codes, copied) and one per
 * channel (the operators' overrides), each an array of rows in the order
 * they were given, and the two sets of tables sorted by name. A lookup
 * finds the channel's table and the driver's table by binary search and
 * scans each linearly for the most specific matching row (see codemap.h);
 * whether a row's op, code and sub_code are wildcards is decided once when
 * the row is added, so the scan compares only what must be compared, and
 * it stops at a row that matches exactly. Nothing else in the map is
 * looked at: a few hundred rows of other drivers cost nothing.
 *
 * Rows are checked when they are added, with the rules of the CHECKs of
 * table code_overrides (migration 004), so that a driver's defaults and an
 * operator's override mean the same thing and an override the map accepts
 * is one the store accepts. The core's own outcomes (timeouts, no channel,
 * an unmapped code...) are a constant table here, pr_code_core.
 *
 * Pure: no I/O, no mutable globals.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/codemap.h"

#define MAX_CODE_CHARS 63
#define MAX_UNIFIED_CHARS 63
#define MAX_MSG_CHARS 255
#define MAX_CHANNEL_BYTES 64

/* Which fields of a row are "*". */
#define ANY_OP 1u
#define ANY_CODE 2u
#define ANY_SUB 4u

struct cm_row {
	struct pr_code c;
	unsigned any; /* ANY_* */
	/* the map's copies of op, code, sub_code, unified, message_en and
	 * message_zh (c points at them) */
	char *own[6];
};

struct cm_table {
	char *name; /* driver name or channel code */
	struct cm_row *rows;
	size_t n, cap;
};

struct cm_set {
	struct cm_table *t; /* sorted by name */
	size_t n;
};

struct pr_codemap {
	struct cm_set drivers;
	struct cm_set channels;
};

/* ------------------------------------------------------------- names */

static const char *const effect_names[] = {
	[PAYROUTE_EFFECT_UNKNOWN] = "unknown",
	[PAYROUTE_EFFECT_SUCCESS] = "success",
	[PAYROUTE_EFFECT_FAILED] = "failed",
	[PAYROUTE_EFFECT_PROCESSING] = "processing",
	[PAYROUTE_EFFECT_CLOSED] = "closed",
};

static const char *const category_names[] = {
	[PAYROUTE_CAT_NONE] = "none",	    [PAYROUTE_CAT_USER] = "user",
	[PAYROUTE_CAT_RISK] = "risk",	    [PAYROUTE_CAT_LIMIT] = "limit",
	[PAYROUTE_CAT_CHANNEL] = "channel", [PAYROUTE_CAT_SYSTEM] = "system",
};

#define N_EFFECTS (sizeof(effect_names) / sizeof(effect_names[0]))
#define N_CATEGORIES (sizeof(category_names) / sizeof(category_names[0]))

static const char *const op_names[] = {
	"pay",		"query",  "close",	  "refund",
	"refund_query", "payout", "payout_query", "notify",
};

const char *pr_effect_name(enum payroute_effect e)
{
	if ((unsigned)e >= N_EFFECTS)
		return NULL;
	return effect_names[e];
}

int pr_effect_parse(const char *s, enum payroute_effect *out)
{
	for (size_t i = 0; s && i < N_EFFECTS; i++) {
		if (strcmp(s, effect_names[i]) == 0) {
			*out = (enum payroute_effect)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *pr_category_name(enum payroute_category c)
{
	if ((unsigned)c >= N_CATEGORIES)
		return NULL;
	return category_names[c];
}

int pr_category_parse(const char *s, enum payroute_category *out)
{
	for (size_t i = 0; s && i < N_CATEGORIES; i++) {
		if (strcmp(s, category_names[i]) == 0) {
			*out = (enum payroute_category)i;
			return 0;
		}
	}
	return -EINVAL;
}

int pr_code_op_valid(const char *s, int allow_any)
{
	if (!s)
		return 0;
	if (allow_any && strcmp(s, "*") == 0)
		return 1;
	for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (strcmp(s, op_names[i]) == 0)
			return 1;
	}
	return 0;
}

static const char *source_name(enum pr_code_source s)
{
	switch (s) {
	case PR_CODE_CORE:
		return "core";
	case PR_CODE_DRIVER:
		return "driver";
	case PR_CODE_OVERRIDE:
		return "override";
	}
	return "?";
}

/* ---------------------------------------------------------- core rows */

/* (a message macro expands to both texts: CORE goes through CORE_) */
#define CORE(...) CORE_(__VA_ARGS__)
#define CORE_(uni, eff, retry, cat, en, zh)                                    \
	{                                                                      \
		.op = "*", .code = uni, .sub_code = "*", .unified = uni,       \
		.effect = PAYROUTE_EFFECT_##eff, .retryable = retry,           \
		.category = PAYROUTE_CAT_##cat, .message_en = en,              \
		.message_zh = zh, .source = PR_CODE_CORE, .owner = NULL        \
	}

#define MSG_CONFIRMING                                                         \
	"The payment result is being confirmed; please check again later.",    \
		"支付结果确认中，请稍后查询。"

/* payroute's own outcomes, sorted by name (bsearch). */
static const struct pr_code core_codes[] = {
	CORE("AMOUNT_MISMATCH", UNKNOWN, 0, CHANNEL,
	     "The payment is being verified; please check again later.",
	     "支付结果核实中，请稍后查询。"),
	CORE("BAD_RESPONSE", UNKNOWN, 0, CHANNEL, MSG_CONFIRMING),
	CORE("CHANNEL_TIMEOUT", UNKNOWN, 0, SYSTEM, MSG_CONFIRMING),
	CORE("CHANNEL_UNREACHABLE", FAILED, 1, SYSTEM,
	     "The payment channel is temporarily unavailable; please try "
	     "again later.",
	     "支付通道暂时不可用，请稍后再试。"),
	CORE("DRIVER_ERROR", FAILED, 1, CHANNEL,
	     "The payment channel cannot accept this payment; please try "
	     "another payment method.",
	     "支付通道无法受理该笔支付，请更换支付方式。"),
	CORE("NO_CHANNEL", FAILED, 0, CHANNEL,
	     "No payment channel is available for this payment; please try "
	     "another payment method or try again later.",
	     "暂无可用的支付通道，请更换支付方式或稍后再试。"),
	CORE("NO_CHANNEL_BEFORE_DEADLINE", FAILED, 0, CHANNEL,
	     "No channel could take the withdrawal before its deadline; it "
	     "was not paid out.",
	     "提现在截止时间前没有可用的通道，未能出款。"),
	CORE("ORDER_CLOSED", CLOSED, 0, NONE, "The payment has been closed.",
	     "订单已关闭。"),
	CORE("ORDER_EXPIRED", CLOSED, 0, NONE,
	     "The payment was not completed in time and has been closed.",
	     "订单超时未支付，已关闭。"),
	CORE("PAYEE_NOT_SUPPORTED", FAILED, 0, CHANNEL,
	     "No channel pays out to this kind of payee in this currency; the "
	     "withdrawal was not paid out.",
	     "没有通道支持向该类收款方以该币种出款，提现未出款。"),
	CORE("PAYMENT_PROCESSING", PROCESSING, 0, NONE,
	     "The payment is being processed.", "支付处理中。"),
	CORE("REFUND_WINDOW_EXPIRED", FAILED, 0, CHANNEL,
	     "The original payment can no longer be refunded by the channel; "
	     "the merchant will handle it.",
	     "原交易已超过可退款期限，商户将另行处理。"),
	/* an operator's settlement (core/orders/orderadmin.c) */
	CORE("SETTLED_CLOSED", CLOSED, 0, NONE,
	     "The order was closed by the operator after checking with the "
	     "channel.",
	     "经与通道核实，订单已由运营人员关闭。"),
	CORE("SETTLED_FAILED", FAILED, 0, NONE,
	     "The order failed: the operator confirmed it with the channel.",
	     "经与通道核实，运营人员确认订单失败。"),
	CORE("SETTLED_SUCCEEDED", SUCCESS, 0, NONE,
	     "The order succeeded: the operator confirmed it with the "
	     "channel.",
	     "经与通道核实，运营人员确认订单成功。"),
	CORE("SUCCESS", SUCCESS, 0, NONE, "Payment succeeded.", "支付成功。"),
	CORE("UNMAPPED_CODE", UNKNOWN, 0, CHANNEL, MSG_CONFIRMING),
};

static int cmp_core(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pr_code *)elem)->unified);
}

const struct pr_code *pr_code_core(const char *unified)
{
	if (!unified)
		return NULL;
	return bsearch(unified, core_codes,
		       sizeof(core_codes) / sizeof(core_codes[0]),
		       sizeof(core_codes[0]), cmp_core);
}

/* ------------------------------------------------------------- checks */

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

/* Characters (UTF-8 code points) in s, as PostgreSQL's length() counts. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

static int text_ok(const char *s, size_t max)
{
	size_t n;

	if (!s || !*s)
		return 0;
	n = utf8_chars(s);
	return n >= 1 && n <= max;
}

static int unified_ok(const char *s)
{
	size_t n;

	if (!s || !(*s >= 'A' && *s <= 'Z'))
		return 0;
	for (n = 1; s[n]; n++) {
		if (!((s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	}
	return n <= MAX_UNIFIED_CHARS;
}

static int channel_code_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_CHANNEL_BYTES)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* Checks a row whose fields are all set; err is "FIELD: reason". */
static int row_check(const struct pr_code *c, char *err, size_t errlen)
{
	if (!pr_code_op_valid(c->op, 1))
		return fail(err, errlen,
			    "op: one of pay, query, close, refund, "
			    "refund_query, payout, payout_query, notify or *");
	if (!text_ok(c->code, MAX_CODE_CHARS))
		return fail(err, errlen,
			    "code: 1 to %d characters (* matches any code)",
			    MAX_CODE_CHARS);
	if (!text_ok(c->sub_code, MAX_CODE_CHARS))
		return fail(err, errlen,
			    "sub_code: 1 to %d characters (* matches any sub "
			    "code, and none)",
			    MAX_CODE_CHARS);
	if (!unified_ok(c->unified))
		return fail(err, errlen,
			    "unified: [A-Z][A-Z0-9_]*, at most %d characters",
			    MAX_UNIFIED_CHARS);
	if (!pr_effect_name(c->effect))
		return fail(err, errlen,
			    "effect: one of success, failed, processing, "
			    "unknown, closed");
	if (!pr_category_name(c->category))
		return fail(err, errlen,
			    "category: one of none, user, risk, limit, "
			    "channel, system");
	if (c->retryable && c->effect != PAYROUTE_EFFECT_FAILED)
		return fail(err, errlen,
			    "retryable: only an answer with effect failed "
			    "can be retried on another channel (this one is "
			    "%s)",
			    pr_effect_name(c->effect));
	if (!text_ok(c->message_en, MAX_MSG_CHARS))
		return fail(err, errlen, "message_en: 1 to %d characters",
			    MAX_MSG_CHARS);
	if (!text_ok(c->message_zh, MAX_MSG_CHARS))
		return fail(err, errlen, "message_zh: 1 to %d characters",
			    MAX_MSG_CHARS);
	return 0;
}

/* A required string member; err names it. */
static int get_str(json_t *row, const char *key, const char *dflt,
		   const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(row, key);

	if (!v) {
		if (dflt) {
			*out = dflt;
			return 0;
		}
		return fail(err, errlen, "%s: required", key);
	}
	if (!json_is_string(v))
		return fail(err, errlen, "%s: expected a string", key);
	*out = json_string_value(v);
	return 0;
}

int pr_code_override_check(json_t *row, struct pr_code *out, char *err,
			   size_t errlen)
{
	static const char *const known[] = {
		"channel",    "op",	    "code",	 "sub_code",
		"unified",    "effect",	    "retryable", "category",
		"message_en", "message_zh", "source",	 "driver",
		"updated_at",
	};
	struct pr_code c;
	const char *k, *channel = NULL, *effect = NULL, *category = NULL;
	json_t *v;
	int rc;

	if (!json_is_object(row))
		return fail(err, errlen, "override: expected an object");
	json_object_foreach(row, k, v) {
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (strcmp(k, known[i]) == 0)
				break;
		}
		if (i == sizeof(known) / sizeof(known[0]))
			return fail(err, errlen,
				    "%s: unknown key (known: channel, op, "
				    "code, sub_code, unified, effect, "
				    "retryable, category, message_en, "
				    "message_zh)",
				    k);
	}
	memset(&c, 0, sizeof(c));
	if ((rc = get_str(row, "channel", NULL, &channel, err, errlen)) < 0)
		return rc;
	if (!channel_code_ok(channel))
		return fail(err, errlen,
			    "channel: a channel code, 1 to 64 of a-z, 0-9 "
			    "and _");
	if ((rc = get_str(row, "op", NULL, &c.op, err, errlen)) < 0 ||
	    (rc = get_str(row, "code", NULL, &c.code, err, errlen)) < 0 ||
	    (rc = get_str(row, "sub_code", "*", &c.sub_code, err, errlen)) <
		    0 ||
	    (rc = get_str(row, "unified", NULL, &c.unified, err, errlen)) < 0 ||
	    (rc = get_str(row, "effect", NULL, &effect, err, errlen)) < 0 ||
	    (rc = get_str(row, "category", "none", &category, err, errlen)) <
		    0 ||
	    (rc = get_str(row, "message_en", NULL, &c.message_en, err,
			  errlen)) < 0 ||
	    (rc = get_str(row, "message_zh", NULL, &c.message_zh, err,
			  errlen)) < 0)
		return rc;
	if (pr_effect_parse(effect, &c.effect) < 0)
		return fail(err, errlen,
			    "effect: one of success, failed, processing, "
			    "unknown, closed (not \"%.40s\")",
			    effect);
	if (pr_category_parse(category, &c.category) < 0)
		return fail(err, errlen,
			    "category: one of none, user, risk, limit, "
			    "channel, system (not \"%.40s\")",
			    category);
	v = json_object_get(row, "retryable");
	if (v && !json_is_boolean(v))
		return fail(err, errlen, "retryable: expected true or false");
	c.retryable = json_is_true(v);
	if ((rc = row_check(&c, err, errlen)) < 0)
		return rc;
	c.source = PR_CODE_OVERRIDE;
	c.owner = channel;
	if (out)
		*out = c;
	return 0;
}

/* -------------------------------------------------------------- tables */

struct pr_codemap *pr_codemap_new(void)
{
	return calloc(1, sizeof(struct pr_codemap));
}

static void table_clear(struct cm_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		for (size_t j = 0; j < 6; j++)
			free(t->rows[i].own[j]);
	}
	free(t->rows);
	free(t->name);
}

static void set_clear(struct cm_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		table_clear(&s->t[i]);
	free(s->t);
}

void pr_codemap_free(struct pr_codemap *m)
{
	if (!m)
		return;
	set_clear(&m->drivers);
	set_clear(&m->channels);
	free(m);
}

/* The index of name in s, or where it would go (*found 0). */
static size_t set_index(const struct cm_set *s, const char *name, int *found)
{
	size_t lo = 0, hi = s->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, s->t[mid].name);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static const struct cm_table *set_find(const struct cm_set *s, const char *name)
{
	int found;
	size_t i;

	if (!name)
		return NULL;
	i = set_index(s, name, &found);
	return found ? &s->t[i] : NULL;
}

/* The table named name, created (empty) when missing; NULL when out of
 * memory. */
static struct cm_table *set_get(struct cm_set *s, const char *name)
{
	int found;
	size_t i = set_index(s, name, &found);
	struct cm_table *t;
	char *copy;

	if (found)
		return &s->t[i];
	copy = strdup(name);
	t = realloc(s->t, (s->n + 1) * sizeof(*t));
	if (!copy || !t) {
		free(copy);
		if (t)
			s->t = t;
		return NULL;
	}
	s->t = t;
	memmove(&t[i + 1], &t[i], (s->n - i) * sizeof(*t));
	memset(&t[i], 0, sizeof(*t));
	t[i].name = copy;
	s->n++;
	return &t[i];
}

/* Appends a copy of c (strings duplicated, owner = the table's name). */
static int table_add(struct cm_table *t, const struct pr_code *c)
{
	struct cm_row *r;
	const char *src[6] = { c->op,	   c->code,	  c->sub_code,
			       c->unified, c->message_en, c->message_zh };

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct cm_row *rows = realloc(t->rows, cap * sizeof(*rows));

		if (!rows)
			return -ENOMEM;
		t->rows = rows;
		t->cap = cap;
	}
	r = &t->rows[t->n];
	memset(r, 0, sizeof(*r));
	for (size_t j = 0; j < 6; j++) {
		r->own[j] = strdup(src[j]);
		if (!r->own[j]) {
			for (size_t k = 0; k < j; k++)
				free(r->own[k]);
			return -ENOMEM;
		}
	}
	r->c = *c;
	r->c.op = r->own[0];
	r->c.code = r->own[1];
	r->c.sub_code = r->own[2];
	r->c.unified = r->own[3];
	r->c.message_en = r->own[4];
	r->c.message_zh = r->own[5];
	r->c.retryable = c->retryable ? 1 : 0;
	r->c.owner = t->name;
	r->any = (strcmp(c->op, "*") == 0 ? ANY_OP : 0) |
		 (strcmp(c->code, "*") == 0 ? ANY_CODE : 0) |
		 (strcmp(c->sub_code, "*") == 0 ? ANY_SUB : 0);
	t->n++;
	return 0;
}

/* Removes the table at index i. */
static void set_remove(struct cm_set *s, size_t i)
{
	table_clear(&s->t[i]);
	memmove(&s->t[i], &s->t[i + 1], (s->n - i - 1) * sizeof(s->t[0]));
	s->n--;
}

/* The driver row at index i of a table of stride entry_size, as a code. */
static struct pr_code driver_row(const struct payroute_code_entry *rows,
				 size_t entry_size, size_t i)
{
	const struct payroute_code_entry *e =
		(const void *)((const char *)rows + i * entry_size);
	struct pr_code c = {
		.op = e->op,
		.code = e->code,
		.sub_code = e->sub_code,
		.unified = e->unified,
		.effect = e->effect,
		.retryable = e->retryable,
		.category = e->category,
		.message_en = e->message_en,
		.message_zh = e->message_zh,
		.source = PR_CODE_DRIVER,
	};

	return c;
}

int pr_codemap_add_driver(struct pr_codemap *m, const char *driver,
			  const struct payroute_code_entry *rows, size_t n,
			  size_t entry_size, char *err, size_t errlen)
{
	struct cm_table *t;
	struct pr_code c;
	char why[256];
	size_t i;
	int found;

	if (!driver || !*driver)
		return fail(err, errlen, "a driver's code table needs a name");
	i = set_index(&m->drivers, driver, &found);
	if (found) {
		fail(err, errlen, "driver %s: its code table was added already",
		     driver);
		return -EEXIST;
	}
	if (n && !rows)
		return fail(err, errlen, "driver %s: no code table (%zu rows)",
			    driver, n);
	if (n && entry_size < sizeof(struct payroute_code_entry))
		return fail(err, errlen,
			    "driver %s: code table rows of %zu bytes, smaller "
			    "than the %zu of ABI 1.0",
			    driver, entry_size,
			    sizeof(struct payroute_code_entry));
	/* Every row is checked first: a bad table adds nothing. */
	for (i = 0; i < n; i++) {
		c = driver_row(rows, entry_size, i);
		if (!c.op || !c.code || !c.sub_code || !c.unified ||
		    !c.message_en || !c.message_zh)
			return fail(err, errlen,
				    "driver %s: code table row %zu: a string "
				    "is NULL",
				    driver, i);
		if (row_check(&c, why, sizeof(why)) < 0)
			return fail(err, errlen,
				    "driver %s: code table row %zu (op %.20s, "
				    "code %.63s, sub_code %.63s): %s",
				    driver, i, c.op, c.code, c.sub_code, why);
	}
	t = set_get(&m->drivers, driver);
	if (!t)
		goto oom;
	for (i = 0; i < n; i++) {
		c = driver_row(rows, entry_size, i);
		if (table_add(t, &c) < 0) {
			set_remove(&m->drivers, (size_t)(t - m->drivers.t));
			goto oom;
		}
	}
	return 0;
oom:
	fail(err, errlen, "out of memory");
	return -ENOMEM;
}

/* "CH/OP/CODE/SUB" of an override, for messages. */
static void override_id(json_t *row, char *buf, size_t len)
{
	const char *k[4] = { "channel", "op", "code", "sub_code" };
	const char *v[4];

	for (int i = 0; i < 4; i++) {
		v[i] = json_string_value(json_object_get(row, k[i]));
		if (!v[i])
			v[i] = i == 3 ? "*" : "?";
	}
	snprintf(buf, len, "%.64s/%.20s/%.63s/%.63s", v[0], v[1], v[2], v[3]);
}

static int same_key(const struct pr_code *a, const struct pr_code *b)
{
	return strcmp(a->owner, b->owner) == 0 && strcmp(a->op, b->op) == 0 &&
	       strcmp(a->code, b->code) == 0 &&
	       strcmp(a->sub_code, b->sub_code) == 0;
}

int pr_codemap_add_overrides(struct pr_codemap *m, json_t *rows, char *err,
			     size_t errlen)
{
	struct pr_code *cs = NULL;
	char why[256], id[256];
	size_t n, i, j;
	int rc = 0;

	if (!rows || json_is_null(rows))
		return 0;
	if (!json_is_array(rows))
		return fail(err, errlen, "codes: expected an array");
	n = json_array_size(rows);
	if (n == 0)
		return 0;
	cs = calloc(n, sizeof(*cs));
	if (!cs) {
		fail(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Every entry is checked first: bad overrides add nothing. */
	for (i = 0; i < n; i++) {
		json_t *row = json_array_get(rows, i);

		if (!json_is_object(row)) {
			rc = fail(err, errlen, "codes[%zu]: expected an object",
				  i);
			goto out;
		}
		if (pr_code_override_check(row, &cs[i], why, sizeof(why)) < 0) {
			override_id(row, id, sizeof(id));
			rc = fail(err, errlen, "codes[%zu].%s (override %s)", i,
				  why, id);
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (same_key(&cs[j], &cs[i])) {
				override_id(row, id, sizeof(id));
				rc = fail(err, errlen,
					  "codes[%zu]: the same channel, op, "
					  "code and sub_code as codes[%zu] "
					  "(override %s)",
					  i, j, id);
				goto out;
			}
		}
	}
	for (i = 0; i < n; i++) {
		struct cm_table *t = set_get(&m->channels, cs[i].owner);

		if (!t || table_add(t, &cs[i]) < 0) {
			fail(err, errlen, "out of memory");
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	free(cs);
	return rc;
}

/* -------------------------------------------------------------- lookup */

/* The most specific row of t matching (op, code, sub), or NULL. */
static const struct pr_code *table_match(const struct cm_table *t,
					 const char *op, const char *code,
					 const char *sub)
{
	const struct pr_code *best = NULL;
	int best_score = -1;

	for (size_t i = 0; i < t->n; i++) {
		const struct cm_row *r = &t->rows[i];
		int score = 0;

		if (!(r->any & ANY_OP)) {
			if (strcmp(r->c.op, op) != 0)
				continue;
			score |= 1;
		}
		if (!(r->any & ANY_CODE)) {
			if (strcmp(r->c.code, code) != 0)
				continue;
			score |= 2;
		}
		if (!(r->any & ANY_SUB)) {
			if (strcmp(r->c.sub_code, sub) != 0)
				continue;
			score |= 4;
		}
		if (score > best_score) {
			best = &r->c;
			best_score = score;
			if (score == 7)
				break;
		}
	}
	return best;
}

const struct pr_code *pr_codemap_lookup(const struct pr_codemap *m,
					const char *driver, const char *channel,
					const char *op, const char *code,
					const char *sub_code)
{
	const struct cm_table *t;
	const struct pr_code *c;

	if (!m)
		return NULL;
	op = op ? op : "";
	code = code ? code : "";
	sub_code = sub_code ? sub_code : "";
	if ((t = set_find(&m->channels, channel)) &&
	    (c = table_match(t, op, code, sub_code)))
		return c;
	if ((t = set_find(&m->drivers, driver)) &&
	    (c = table_match(t, op, code, sub_code)))
		return c;
	return NULL;
}

/* ---------------------------------------------------------------- JSON */

json_t *pr_code_to_json(const struct pr_code *c)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "op", json_string(c->op)) < 0 ||
	    json_object_set_new(o, "code", json_string(c->code)) < 0 ||
	    json_object_set_new(o, "sub_code", json_string(c->sub_code)) < 0 ||
	    json_object_set_new(o, "unified", json_string(c->unified)) < 0 ||
	    json_object_set_new(o, "effect",
				json_string(pr_effect_name(c->effect))) < 0 ||
	    json_object_set_new(o, "retryable", json_boolean(c->retryable)) <
		    0 ||
	    json_object_set_new(o, "category",
				json_string(pr_category_name(c->category))) <
		    0 ||
	    json_object_set_new(o, "message_en", json_string(c->message_en)) <
		    0 ||
	    json_object_set_new(o, "message_zh", json_string(c->message_zh)) <
		    0 ||
	    json_object_set_new(o, "source",
				json_string(source_name(c->source))) < 0)
		goto fail;
	if (c->owner && c->source == PR_CODE_OVERRIDE &&
	    json_object_set_new(o, "channel", json_string(c->owner)) < 0)
		goto fail;
	if (c->owner && c->source == PR_CODE_DRIVER &&
	    json_object_set_new(o, "driver", json_string(c->owner)) < 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static int append_table(json_t *arr, const struct cm_table *t,
			const char *channel)
{
	for (size_t i = 0; t && i < t->n; i++) {
		json_t *o = pr_code_to_json(&t->rows[i].c);

		if (!o ||
		    json_object_set_new(o, "channel",
					channel ? json_string(channel) :
						  json_null()) < 0 ||
		    json_array_append_new(arr, o) < 0) {
			json_decref(o);
			return -ENOMEM;
		}
	}
	return 0;
}

json_t *pr_codemap_to_json(const struct pr_codemap *m, const char *driver,
			   const char *channel)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	if (append_table(arr, set_find(&m->channels, channel), channel) < 0 ||
	    append_table(arr, set_find(&m->drivers, driver), channel) < 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}
