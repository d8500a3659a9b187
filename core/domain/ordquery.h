/*
 * ordquery.h - the admin API's order lists (GET /admin/v1/payments,
 * /admin/v1/refunds, /admin/v1/withdrawals, doc/design.md §9): their query
 * parameters checked and turned into one SQL statement with its
 * parameters, and the opaque cursor of keyset pagination. Pure: the
 * handler (core/orders/orderadmin.c) runs what this builds.
 *
 * A list is newest first, ordered by (created_at, id) descending; a page
 * is at most `limit` rows (1 to PR_OQ_MAX_LIMIT, default
 * PR_OQ_DEFAULT_LIMIT) and the statement asks for one more, which tells
 * whether there is a next page. The cursor names the last row of a page
 * (its created_at in microseconds and its id); the next page is the rows
 * strictly after it in that order, so rows inserted meanwhile never shift
 * a page (keyset pagination, not OFFSET).
 *
 * The parameters, each at most once (any other name, a repeated one or a
 * bad value: -EINVAL with the parameter's name):
 *   merchant, status (a state of the kind's machine), channel, code,
 *   the merchant's number (merchant_order_no, merchant_refund_no or
 *   merchant_withdrawal_no: the kind's own field), buyer_id (payments),
 *   payment_id (refunds), amount_min and amount_max (minor units,
 *   inclusive), created_from (inclusive) and created_to (exclusive), RFC
 *   3339, limit, cursor.
 */
#ifndef PR_ORDQUERY_H
#define PR_ORDQUERY_H

#include <stddef.h>
#include <stdint.h>

enum pr_oq_kind { PR_OQ_PAYMENT = 0, PR_OQ_REFUND, PR_OQ_WITHDRAWAL };

#define PR_OQ_DEFAULT_LIMIT 50
#define PR_OQ_MAX_LIMIT 200
#define PR_OQ_MAX_PARAMS 16
/* A cursor's text, NUL included. */
#define PR_OQ_CURSOR_LEN 96

/* A list's statement: sql with n parameters (param[i], pointing into
 * val[i]). Each row it answers is (created_at in microseconds since the
 * epoch, id, the item's JSON text); at most limit + 1 rows. */
struct pr_oq {
	enum pr_oq_kind kind;
	int limit;
	char sql[4096];
	int n;
	char val[PR_OQ_MAX_PARAMS][136];
	const char *param[PR_OQ_MAX_PARAMS];
};

/* Checks the n query parameters names[i]=values[i] of a list of kind and
 * builds its statement into q. Returns 0, or -EINVAL with *bad set to the
 * name of the parameter at fault (a pointer into names, or to a static
 * name) and err saying what it should be. */
int pr_oq_build(enum pr_oq_kind kind, const char *const *names,
		const char *const *values, size_t n, struct pr_oq *q,
		const char **bad, char *err, size_t errlen);

/* The cursor naming a row (its created_at in microseconds, its id) into
 * out (PR_OQ_CURSOR_LEN bytes). Returns 0, or -EINVAL for an id that a
 * cursor cannot carry (empty, longer than 32, not [A-Za-z0-9]). */
int pr_oq_cursor_encode(int64_t created_us, const char *id, char *out,
			size_t len);

/* Reads a cursor of pr_oq_cursor_encode. Returns 0, or -EINVAL for any
 * text it did not make. id gets at least 33 bytes. */
int pr_oq_cursor_decode(const char *s, int64_t *created_us, char *id,
			size_t idlen);

#endif
