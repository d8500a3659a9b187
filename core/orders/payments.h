/*
 * payments.h - the merchant API for payments (doc/design.md §6 and §9):
 *
 *   POST /v1/payments                  create and send (idempotent)
 *   GET  /v1/payments/{id}
 *   GET  /v1/payments?merchant_order_no=NO
 *   POST /v1/payments/{id}/close
 *
 * and, for operators, GET /admin/v1/payments/{id} (the whole row with its
 * route trace, history and completion check) and GET
 * /admin/v1/orders/attention (orders the completion job gave up on).
 */
#ifndef PR_PAYMENTS_H
#define PR_PAYMENTS_H

#include "runtime/daemon.h"
#include "base/route.h"

/* The handlers of the merchant listener's route table (admin.c): create,
 * find by merchant_order_no, get, close. Each answers r, after
 * authenticating the merchant's API key. */
void pr_payments_create(struct pr_request *r, const struct pr_route_match *m);
void pr_payments_find(struct pr_request *r, const struct pr_route_match *m);
void pr_payments_get(struct pr_request *r, const struct pr_route_match *m);
void pr_payments_close(struct pr_request *r, const struct pr_route_match *m);

/* The first commit of a payment: PR_BEGIN_SQLS (flow.h) with the payment's
 * columns, $21 amount .. $34 expire_at (ms). Exported for
 * contrib/bench/bench_storesql, which prints them for bench_store.sh. */
struct pr_flow_begin_sqls;
extern const struct pr_flow_begin_sqls pr_pay_begin_sqls;

/* The admin listener's (the caller has checked the token): one payment
 * with its history, and the orders that need attention. */
void pr_payments_admin_get(struct pr_request *r,
			   const struct pr_route_match *m);
void pr_payments_attention(struct pr_request *r,
			   const struct pr_route_match *m);

#endif
