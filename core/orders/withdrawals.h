/*
 * withdrawals.h - withdrawals (doc/design.md §6):
 * the merchant API, the flow of one withdrawal over the channels that
 * support withdrawals, the re-routing of withdrawals waiting for a channel
 * (pending_channel), their completion check, their channel callbacks and
 * the admin view.
 *
 * Payee accounts are encrypted at rest (AES-256-GCM, secrets.key_file) and
 * masked wherever they are shown or logged; without a secrets key the
 * daemon refuses new withdrawals (503).
 */
#ifndef PR_WITHDRAWALS_H
#define PR_WITHDRAWALS_H

#include <stddef.h>

#include <payroute/driver.h>

#include "orders/completion.h"
#include "runtime/daemon.h"
#include "orders/ordstore.h"
#include "base/route.h"

struct pr_withdrawals;

/* The handlers of the merchant listener's route table (admin.c); each
 * answers r, after authenticating the merchant's API key.
 *   POST /v1/withdrawals                       (Idempotency-Key)
 *   GET  /v1/withdrawals/{id}
 *   GET  /v1/withdrawals?merchant_withdrawal_no=... */
void pr_withdrawals_create(struct pr_request *r,
			   const struct pr_route_match *m);
void pr_withdrawals_get(struct pr_request *r, const struct pr_route_match *m);
void pr_withdrawals_find(struct pr_request *r, const struct pr_route_match *m);

/* GET /admin/v1/withdrawals/{id}: the row with the masked account, trace,
 * events, check and notifications (the admin listener's table; the caller
 * has checked the token). */
void pr_withdrawals_admin_get(struct pr_request *r,
			      const struct pr_route_match *m);

/* The completion job's check of a withdrawal (kind "withdrawal"): the
 * driver's payout_query, applied to the order. */
extern const struct pr_check_kind pr_withdrawal_check;

/* Applies a verified notification of kind PAYROUTE_KIND_PAYOUT from
 * channel ch (nt->order_id is the withdrawal's id for every in-tree driver:
 * the bank's decoded orderId, WeChat's out_batch_no) to the withdrawal.
 * done(ok, arg) is called once, later, from the loop: ok 1 when the
 * notification was taken (applied, or a duplicate; the channel must stop
 * sending it), 0 when it must be sent again (store unavailable, unknown
 * withdrawal, another channel); a notification that says nothing final
 * brings the withdrawal's check forward and is taken at once. nt is read
 * during the call only. Returns 0, or a negative errno (-ENOMEM, -EAGAIN,
 * -ENOENT not one of our ids: done not called). */
int pr_withdrawal_callback(struct pr_daemon *d, struct pr_generation *gen,
			   const struct pr_channel *ch,
			   const struct payroute_notify *nt,
			   void (*done)(int ok, void *arg), void *arg);

/* The withdrawal as an order kind (ordstore.h). */
extern const struct pr_order_kind pr_withdrawal_kind;

/* Starts the re-routing timer of withdrawals waiting in pending_channel on
 * d (every withdrawals.retry_interval_ms it claims due rows with FOR
 * UPDATE SKIP LOCKED, so that instances share them). Returns NULL when
 * out of memory. */
struct pr_withdrawals *pr_withdrawals_new(struct pr_daemon *d);

/* Stops the timer; flows still running finish on their own (the last
 * frees it). NULL is a no-op. Call it before pr_db_free. */
void pr_withdrawals_free(struct pr_withdrawals *w);

#endif
