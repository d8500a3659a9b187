/*
 * payments.h - the merchant API for payments (DESIGN sections 8 and 9):
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

#include "daemon.h"

/* Handles r when its path is under /v1/payments and returns 1; 0 for any
 * other path. */
int pr_payments_handle(struct pr_request *r);

/* The admin side: returns 1 when r's path is one of the two above. The
 * admin token is checked by the caller. */
int pr_payments_admin_handle(struct pr_request *r);

#endif
