/*
 * refunds.h - refunds by the original route and the refund overdue queue
 * (doc/design.md §6; migration 006):
 *
 *   POST /v1/payments/{id}/refunds     create and send (idempotent by
 *                                      merchant_refund_no)
 *   GET  /v1/payments/{id}/refunds     a payment's refunds
 *   GET  /v1/refunds/{id}, GET /v1/refunds?merchant_refund_no=NO
 *
 *   GET  /admin/v1/refunds/overdue     the overdue queue
 *   GET  /admin/v1/refunds/{id}        a refund with its history
 *   POST /admin/v1/refunds/{id}/resend re-send (where the channel allows)
 *   POST /admin/v1/refunds/{id}/resolve {outcome, note, withdrawal_id}
 *
 * plus the completion job's refund checks and the channels' refund
 * callbacks.
 */
#ifndef PR_REFUNDS_H
#define PR_REFUNDS_H

#include <payroute/driver.h>

#include "orders/approvals.h"
#include "orders/completion.h"
#include "runtime/daemon.h"
#include "orders/ordstore.h"
#include "base/route.h"

struct pr_refunds;

/* The handlers of the merchant listener's route table (admin.c); each
 * answers r, after authenticating the merchant's API key.
 *   POST /v1/payments/{id}/refunds   create (Idempotency-Key)
 *   GET  /v1/payments/{id}/refunds   a payment's refunds
 *   GET  /v1/refunds/{id}
 *   GET  /v1/refunds?merchant_refund_no=... */
void pr_refunds_create(struct pr_request *r, const struct pr_route_match *m);
void pr_refunds_list(struct pr_request *r, const struct pr_route_match *m);
void pr_refunds_get(struct pr_request *r, const struct pr_route_match *m);
void pr_refunds_find(struct pr_request *r, const struct pr_route_match *m);

/* The admin listener's (the caller has checked the token):
 *   GET  /admin/v1/refunds/overdue        the overdue queue
 *   GET  /admin/v1/refunds/{id}           one, with its events
 *   POST /admin/v1/refunds/{id}/resend    send an overdue one again
 *   POST /admin/v1/refunds/{id}/resolve   settle it by hand (audited) */
void pr_refunds_overdue(struct pr_request *r, const struct pr_route_match *m);
void pr_refunds_admin_get(struct pr_request *r, const struct pr_route_match *m);
void pr_refunds_resend(struct pr_request *r, const struct pr_route_match *m);
void pr_refunds_resolve(struct pr_request *r, const struct pr_route_match *m);

/* Applies an approved resolve (four eyes, orders/approvals.h) of refund
 * id with payload, the stored body {"outcome", "note", "withdrawal_id"}:
 * the same check (still overdue) and transition as a direct one, by
 * ap->approved_by, the event's detail naming the approval and its
 * requester; ap->cb is told how it ended (r is not answered). Returns 0,
 * or -EINVAL, -ENOMEM, -EAGAIN (cb not called). */
int pr_refund_resolve_approved(struct pr_request *r, const char *id,
			       const json_t *payload,
			       const struct pr_approved *ap);

/* Applies an approved settlement of refund id as succeeded (four eyes)
 * with payload {"outcome", "note", "evidence"}: the same check (still
 * processing or overdue) and transition as POST /refunds/{id}/settle, by
 * ap->approved_by; ap->cb is told how it ended. Returns as
 * pr_refund_resolve_approved. */
int pr_refund_settle_approved(struct pr_request *r, const char *id,
			      const json_t *payload,
			      const struct pr_approved *ap);
/* POST /admin/v1/refunds/{id}/settle: {"outcome": "succeeded|failed",
 * "note", "evidence"} (orderadmin.h) for a processing refund, or an
 * overdue one to succeeded. */
void pr_refunds_settle(struct pr_request *r, const struct pr_route_match *m);

/* A verified refund notification from channel ch: applied to the refund
 * whose refund number is nt->refund_id; done(ok) is called once (ok: the
 * notification is recorded or was a duplicate; 0: have the channel send it
 * again). Returns 0, or a negative errno (done not called). */
int pr_refund_callback(struct pr_daemon *d, struct pr_generation *gen,
		       const struct pr_channel *ch,
		       const struct payroute_notify *nt,
		       void (*done)(int ok, void *arg), void *arg);

/* The completion job's checker for kind "refund". */
extern const struct pr_check_kind pr_refund_check;

/* Loads refund id and renders its merchant JSON (the contract of
 * pr_order_json_load in ordstore.h). */
int pr_refund_json_load(struct pr_daemon *d, const char *id,
			pr_order_json_cb cb, void *arg);

/* The overdue gauge for /metrics (refreshed from the store every few
 * seconds): writes "payroute_refunds_overdue{reason=..,channel=..} N"
 * lines into buf; returns the length. */
struct pr_refunds *pr_refunds_new(struct pr_daemon *d);
void pr_refunds_free(struct pr_refunds *rf);
size_t pr_refunds_metrics(const struct pr_refunds *rf, char *buf, size_t len);

#endif
