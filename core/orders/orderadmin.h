/*
 * orderadmin.h - the operators' side of orders in the admin API
 * (doc/design.md §9): the lists of payments, refunds and withdrawals with
 * their filters and keyset paging (the statements are ordquery.c's), and
 * manual settlement of an order whose outcome the channel will not tell
 * (unknown, on the attention list, still processing, or a withdrawal
 * waiting for a channel).
 *
 * A settlement is an operator's transition: the same statement as every
 * other change of a payment or withdrawal (pr_order_apply: the state
 * machine's trigger, the daily-usage reservation given back by a failed or
 * closed order, the merchant notification queued with a final state),
 * pr_refund_apply for a refund (refunds.c); the event carries the actor,
 * the note and the evidence, and an audit_log row records them.
 */
#ifndef PR_ORDERADMIN_H
#define PR_ORDERADMIN_H

#include <jansson.h>

#include "runtime/daemon.h"
#include "base/route.h"
#include "orders/approvals.h"

/* What GET /admin/v1/{payments,refunds,withdrawals}/{id} shows beside an
 * order of KIND (its row is alias A) and its history: its row of
 * order_checks ('check': the supplementary query, null when it has none)
 * and its merchant notifications ('notifications', oldest first); SQL
 * text of two members of a jsonb_build_object. */
#define PR_ORDER_FOLLOW_UPS(KIND, A)                                           \
	"'check', (SELECT to_jsonb(c) - 'kind' - 'order_id' "                  \
	"FROM order_checks c WHERE c.kind = '" KIND "' "                       \
	"AND c.order_id = " A ".id), "                                         \
	"'notifications', (SELECT coalesce(jsonb_agg(jsonb_build_object("      \
	"'id', n.id, 'event', n.event, 'state', n.state, 'attempts', "         \
	"n.attempts, 'last_status', n.last_status, 'last_error', "             \
	"n.last_error) ORDER BY n.id), '[]') "                                 \
	"FROM merchant_notifications n WHERE n.kind = '" KIND "' "             \
	"AND n.order_id = " A ".id)"

/* GET /admin/v1/payments, /admin/v1/refunds, /admin/v1/withdrawals:
 * {"items": [...], "next_cursor": text or null}. */
void pr_orders_list_payments(struct pr_request *r,
			     const struct pr_route_match *m);
void pr_orders_list_refunds(struct pr_request *r,
			    const struct pr_route_match *m);
void pr_orders_list_withdrawals(struct pr_request *r,
				const struct pr_route_match *m);

/* POST /admin/v1/payments/{id}/settle, /admin/v1/withdrawals/{id}/settle
 * (refunds: pr_refunds_settle, refunds.c). */
void pr_orders_settle_payment(struct pr_request *r,
			      const struct pr_route_match *m);
void pr_orders_settle_withdrawal(struct pr_request *r,
				 const struct pr_route_match *m);

/* Applies an approved settlement (four eyes, approvals.h) of order id
 * of kind ("payment", "withdrawal") with payload, the stored body
 * {"outcome", "note", "evidence"}: the same check and transition as a
 * direct one, by ap->approved_by, the event's detail naming the approval
 * and its requester; ap->cb is told how it ended (r, the approving
 * request, is not answered). Returns 0, or -EINVAL (a payload no request
 * could have stored), -ENOMEM, -EAGAIN (cb not called). */
int pr_orders_settle_approved(struct pr_request *r, const char *kind,
			      const char *id, const json_t *payload,
			      const struct pr_approved *ap);

/* A settlement's request: {"outcome", "note", "evidence"} and the actor
 * of the audit headers. */
struct pr_settle {
	char outcome[16]; /* "succeeded", "failed", "closed" */
	char note[513];
	char evidence[257];
	char actor[65];
};

/* Reads and checks a settlement's body and audit headers into s; outcomes
 * is the NULL-terminated list of the outcomes the kind has. Returns 0, or
 * -EINVAL after answering (400 naming the field, 415). */
int pr_settle_read(struct pr_request *r, const char *const *outcomes,
		   struct pr_settle *s);

/* The event detail of a settlement (a new reference). */
json_t *pr_settle_detail(const struct pr_settle *s);

/* The unified code a settlement writes for outcome ("succeeded":
 * SETTLED_SUCCEEDED...); never NULL for an outcome pr_settle_read took. */
const struct pr_code *pr_settle_code(const char *outcome);

/* Ends a settlement that moved order id of kind: records it in audit_log
 * (action "settle", the actor, after: the order's JSON with the evidence,
 * note: the note), then answers r 200 with order (stolen). A failed audit
 * insert is logged as an error (the order is settled all the same). */
void pr_settle_finish(struct pr_request *r, const struct pr_settle *s,
		      const char *kind, const char *id, json_t *order);

#endif
