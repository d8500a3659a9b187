/*
 * ordquery.c - the order lists' query parameters and statements (see
 * ordquery.h). One table of filters says which parameter each kind takes,
 * which column it filters and how its value is checked; the statement is
 * the kind's SELECT with one condition a filter given, each value a
 * parameter ($n), never text in the SQL.
 *
 * The indexes of migration 009 are chosen for these statements: every
 * list walks an index in (created_at, id) order, led by merchant_id,
 * channel, buyer_id or the merchant's number when that filter is given;
 * the filters no index names (status, code, amounts) are checked on the
 * rows the walk meets (doc/design.md §7: no index of payments or
 * withdrawals names status or code, so that a transition stays a HOT
 * update).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/names.h"
#include "domain/orderstate.h"
#include "domain/ordquery.h"
#include "domain/tz.h"

#define K_PAY (1u << PR_OQ_PAYMENT)
#define K_RF (1u << PR_OQ_REFUND)
#define K_WD (1u << PR_OQ_WITHDRAWAL)
#define K_ALL (K_PAY | K_RF | K_WD)

enum f_type {
	F_TEXT,	  /* printable ASCII, 1 to 64 bytes: column = $n */
	F_STATUS, /* a state of the kind's machine */
	F_AMOUNT_MIN,
	F_AMOUNT_MAX,
	F_FROM, /* RFC 3339: created_at >= */
	F_TO,	/* RFC 3339: created_at < */
	F_LIMIT,
	F_CURSOR,
};

struct filter {
	const char *name;
	unsigned kinds;
	enum f_type type;
	const char *column; /* of alias x */
};

static const struct filter filters[] = {
	{ "merchant", K_ALL, F_TEXT, "merchant_id" },
	{ "status", K_ALL, F_STATUS, "status" },
	{ "channel", K_ALL, F_TEXT, "channel" },
	{ "code", K_ALL, F_TEXT, "code" },
	{ "merchant_order_no", K_PAY, F_TEXT, "merchant_order_no" },
	{ "merchant_refund_no", K_RF, F_TEXT, "merchant_refund_no" },
	{ "merchant_withdrawal_no", K_WD, F_TEXT, "merchant_withdrawal_no" },
	{ "buyer_id", K_PAY, F_TEXT, "buyer_id" },
	{ "payment_id", K_RF, F_TEXT, "payment_id" },
	{ "amount_min", K_ALL, F_AMOUNT_MIN, "amount" },
	{ "amount_max", K_ALL, F_AMOUNT_MAX, "amount" },
	{ "created_from", K_ALL, F_FROM, "created_at" },
	{ "created_to", K_ALL, F_TO, "created_at" },
	{ "limit", K_ALL, F_LIMIT, NULL },
	{ "cursor", K_ALL, F_CURSOR, NULL },
};
#define N_FILTERS (sizeof(filters) / sizeof(filters[0]))

/* Each kind's table, machine and item. Times are the daemon's
 * milliseconds (pr_rfc3339_ms, migration 009). */
static const struct {
	const char *table;
	const struct pr_machine *machine;
	const char *item;
} kinds[] = {
	[PR_OQ_PAYMENT] = {
		"payments", &pr_pay_machine,
		"jsonb_build_object('id', x.id, 'merchant_id', x.merchant_id, "
		"'merchant_order_no', x.merchant_order_no, 'status', x.status, "
		"'channel', x.channel, 'amount', x.amount, 'currency', "
		"x.currency, 'method', x.method, 'environment', x.environment, "
		"'buyer_id', x.buyer_id, 'code', x.code, 'message', "
		"x.message_en, 'attempts', x.attempts, 'created_at', "
		"pr_rfc3339_ms(x.created_at), 'updated_at', "
		"pr_rfc3339_ms(x.updated_at), 'finished_at', "
		"pr_rfc3339_ms(x.finished_at))",
	},
	[PR_OQ_REFUND] = {
		"refunds", &pr_rf_machine,
		"jsonb_build_object('id', x.id, 'payment_id', x.payment_id, "
		"'merchant_id', x.merchant_id, 'merchant_refund_no', "
		"x.merchant_refund_no, 'status', x.status, 'channel', "
		"x.channel, 'amount', x.amount, 'currency', x.currency, "
		"'stage', x.stage, 'code', x.code, 'message', x.message_en, "
		"'overdue_reason', x.overdue_reason, 'attempts', x.attempts, "
		"'created_at', pr_rfc3339_ms(x.created_at), 'updated_at', "
		"pr_rfc3339_ms(x.updated_at), 'finished_at', "
		"pr_rfc3339_ms(x.finished_at))",
	},
	[PR_OQ_WITHDRAWAL] = {
		"withdrawals", &pr_wd_machine,
		"jsonb_build_object('id', x.id, 'merchant_id', x.merchant_id, "
		"'merchant_withdrawal_no', x.merchant_withdrawal_no, 'status', "
		"x.status, 'channel', x.channel, 'amount', x.amount, "
		"'currency', x.currency, 'payee_kind', x.payee_kind, "
		"'payee_account', x.payee_account_mask, 'code', x.code, "
		"'message', x.message_en, 'attempts', x.attempts, "
		"'deadline_at', pr_rfc3339_ms(x.deadline_at), 'created_at', "
		"pr_rfc3339_ms(x.created_at), 'updated_at', "
		"pr_rfc3339_ms(x.updated_at), 'finished_at', "
		"pr_rfc3339_ms(x.finished_at), 'waiting', "
		"CASE WHEN x.status = 'pending_channel' THEN "
		"pr_withdrawal_waiting(x.trace, x.code, x.deadline_at, "
		"x.next_route_at) END)",
	},
};

static int fail(const char **bad, const char *name, char *err, size_t len,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(const char **bad, const char *name, char *err, size_t len,
		const char *fmt, ...)
{
	va_list ap;

	*bad = name;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* A decimal integer of 1 to 18 digits. */
static int amount_parse(const char *s, int64_t *out)
{
	size_t n = strlen(s);

	if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
		return -EINVAL;
	*out = strtoll(s, NULL, 10);
	return 0;
}

static int id_ok(const char *id)
{
	size_t n = strlen(id);

	return n >= 1 && n <= 32 &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789") == n;
}

int pr_oq_cursor_encode(int64_t created_us, const char *id, char *out,
			size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char text[64];
	int n;
	size_t o = 0;

	if (!id_ok(id))
		return -EINVAL;
	n = snprintf(text, sizeof(text), "1.%" PRId64 ".%s", created_us, id);
	if (n < 0 || (size_t)n >= sizeof(text) || len < 2 * (size_t)n + 1)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		out[o++] = hex[(unsigned char)text[i] >> 4];
		out[o++] = hex[(unsigned char)text[i] & 15];
	}
	out[o] = '\0';
	return 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int pr_oq_cursor_decode(const char *s, int64_t *created_us, char *id,
			size_t idlen)
{
	char text[64], *dot, *end;
	size_t n = strlen(s);
	long long us;

	if (n == 0 || n % 2 || n / 2 >= sizeof(text))
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		text[i] = (char)(hi << 4 | lo);
	}
	text[n / 2] = '\0';
	if (strncmp(text, "1.", 2) != 0)
		return -EINVAL;
	dot = strchr(text + 2, '.');
	if (!dot || dot == text + 2 || dot - (text + 2) > 19 ||
	    strspn(text + 2, "-0123456789") != (size_t)(dot - (text + 2)))
		return -EINVAL;
	*dot = '\0';
	us = strtoll(text + 2, &end, 10);
	if (*end || !id_ok(dot + 1) || strlen(dot + 1) >= idlen)
		return -EINVAL;
	*created_us = us;
	snprintf(id, idlen, "%s", dot + 1);
	return 0;
}

/* Appends to q's sql; -ENOSPC when it is full. */
static int add(struct pr_oq *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add(struct pr_oq *q, const char *fmt, ...)
{
	size_t o = strlen(q->sql);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(q->sql + o, sizeof(q->sql) - o, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sizeof(q->sql) - o ? -ENOSPC : 0;
}

/* A new parameter with value v: its number. */
static int param(struct pr_oq *q, const char *v)
{
	snprintf(q->val[q->n], sizeof(q->val[q->n]), "%s", v);
	q->param[q->n] = q->val[q->n];
	return ++q->n;
}

static void suggest(enum pr_oq_kind kind, const char *name, char *out,
		    size_t len)
{
	struct pr_suggest s;

	pr_suggest_init(&s, name, 2);
	for (size_t i = 0; i < N_FILTERS; i++)
		if (filters[i].kinds & (1u << kind))
			pr_suggest_offer(&s, filters[i].name);
	if (s.best)
		snprintf(out, len, "; did you mean %s?", s.best);
	else
		out[0] = '\0';
}

int pr_oq_build(enum pr_oq_kind kind, const char *const *names,
		const char *const *values, size_t n, struct pr_oq *q,
		const char **bad, char *err, size_t errlen)
{
	const struct pr_machine *m = kinds[kind].machine;
	const char *seen[N_FILTERS] = { 0 };
	int64_t amin = -1, amax = -1, ms, us;
	char idbuf[40], num[32], hint[64];
	int rc = 0;

	memset(q, 0, sizeof(*q));
	q->kind = kind;
	q->limit = PR_OQ_DEFAULT_LIMIT;
	for (size_t i = 0; i < n; i++) {
		const struct filter *f = NULL;
		size_t fi;

		for (fi = 0; fi < N_FILTERS; fi++)
			if (strcmp(filters[fi].name, names[i]) == 0 &&
			    (filters[fi].kinds & (1u << kind))) {
				f = &filters[fi];
				break;
			}
		if (!f) {
			suggest(kind, names[i], hint, sizeof(hint));
			return fail(bad, names[i], err, errlen,
				    "%.64s: not a filter of the %s list%s",
				    names[i], m->kind, hint);
		}
		if (seen[fi])
			return fail(bad, f->name, err, errlen,
				    "%s: given more than once", f->name);
		seen[fi] = values[i];
	}
	rc = add(q,
		 "SELECT (extract(epoch FROM x.created_at) * 1000000)"
		 "::bigint, x.id, %s::text FROM %s x WHERE true",
		 kinds[kind].item, kinds[kind].table);
	for (size_t fi = 0; fi < N_FILTERS && rc == 0; fi++) {
		const struct filter *f = &filters[fi];
		const char *v = seen[fi];
		int p;

		if (!v)
			continue;
		switch (f->type) {
		case F_TEXT:
			if (!printable(v, 64))
				return fail(bad, f->name, err, errlen,
					    "%s: 1 to 64 printable ASCII "
					    "characters",
					    f->name);
			p = param(q, v);
			rc = add(q, " AND x.%s = $%d::text", f->column, p);
			break;
		case F_STATUS:
			if (pr_state_parse(m, v) < 0) {
				char list[160] = "";
				size_t o = 0;

				for (int s = 0; s < m->n && o < sizeof(list);
				     s++)
					o += (size_t)snprintf(list + o,
							      sizeof(list) - o,
							      "%s%s",
							      s ? ", " : "",
							      m->names[s]);
				return fail(bad, f->name, err, errlen,
					    "status: one of %s", list);
			}
			p = param(q, v);
			rc = add(q, " AND x.status = $%d::text", p);
			break;
		case F_AMOUNT_MIN:
		case F_AMOUNT_MAX:
			if (amount_parse(v, f->type == F_AMOUNT_MIN ?
						    &amin :
						    &amax) < 0)
				return fail(bad, f->name, err, errlen,
					    "%s: an amount in minor units (a "
					    "whole number, 0 or more)",
					    f->name);
			if (amin >= 0 && amax >= 0 && amin > amax)
				return fail(bad, "amount_max", err, errlen,
					    "amount_max: below amount_min");
			p = param(q, v);
			rc = add(q, " AND x.amount %s $%d::bigint",
				 f->type == F_AMOUNT_MIN ? ">=" : "<=", p);
			break;
		case F_FROM:
		case F_TO:
			if (pr_parse_rfc3339(v, &ms) < 0)
				return fail(bad, f->name, err, errlen,
					    "%s: an RFC 3339 date-time "
					    "(2026-12-01T08:00:00Z, or with an "
					    "offset: +08:00)",
					    f->name);
			snprintf(num, sizeof(num), "%" PRId64, ms);
			p = param(q, num);
			rc = add(q,
				 " AND x.created_at %s pr_ms_time($%d::bigint)",
				 f->type == F_FROM ? ">=" : "<", p);
			break;
		case F_LIMIT: {
			int64_t l;

			if (amount_parse(v, &l) < 0 || l < 1 ||
			    l > PR_OQ_MAX_LIMIT)
				return fail(bad, f->name, err, errlen,
					    "limit: 1 to %d", PR_OQ_MAX_LIMIT);
			q->limit = (int)l;
			break;
		}
		case F_CURSOR: {
			int p2;

			if (pr_oq_cursor_decode(v, &us, idbuf, sizeof(idbuf)) <
			    0)
				return fail(bad, f->name, err, errlen,
					    "cursor: not a cursor this list "
					    "gave (next_cursor)");
			snprintf(num, sizeof(num), "%" PRId64, us);
			p = param(q, num);
			p2 = param(q, idbuf);
			rc = add(q,
				 " AND (x.created_at, x.id) < (timestamptz "
				 "'epoch' + $%d::bigint * interval '1 "
				 "microsecond', $%d::text)",
				 p, p2);
			break;
		}
		}
	}
	if (rc == 0)
		rc = add(q, " ORDER BY x.created_at DESC, x.id DESC LIMIT %d",
			 q->limit + 1);
	if (rc < 0)
		return fail(bad, "limit", err, errlen, "the query is too long");
	return 0;
}
