/*
 * approvals.h - four eyes on money, the orders' side (doc/design.md §11):
 * whether an action needs a second operator, the pending approval it
 * becomes instead of being applied, and the gauge of pending approvals.
 * The approvals API (list, read, approve, reject) is admin/approvals_api.c;
 * each action's apply is its own file's (orderadmin.c, refunds.c,
 * admin/policy_transfer.c).
 */
#ifndef PR_APPROVALS_H
#define PR_APPROVALS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "runtime/daemon.h"

struct pr_config;

/* 1 when an action moving or writing off amount (minor units of its
 * order's currency) needs a second operator under cfg
 * (approvals.threshold: -1 never, else from that amount on). */
int pr_approval_needed(const struct pr_config *cfg, int64_t amount);

/* Records the authenticated operator's request to do kind
 * ("payment.settle", "withdrawal.settle", "refund.settle",
 * "refund.resolve", "policy.import") on target with payload (the request body to apply;
 * borrowed), for amount of currency (amount < 0: none), audited
 * ("approval_requested") in the same statement, and answers r 202
 * {"approval": {...}}; 409 "approval_pending" when target already has a
 * pending one, 503 when the store cannot be reached. */
void pr_approval_request(struct pr_request *r, const char *kind,
			 const char *target, const json_t *payload,
			 int64_t amount, const char *currency);

/* How an approved action ended, told to its approver (approvals_api.c):
 * status 200 and result (the order or policy after, stolen) when applied;
 * 409 and code/msg when the target is no longer in a state the action
 * applies to (the approval fails); 404 when the target is gone; 503 when
 * the store failed (the approval stays approved). */
typedef void (*pr_approval_applied_cb)(int status, const char *code,
				       const char *msg, json_t *result,
				       void *arg);

/* An approved action as its apply sees it: who approved (the actor of the
 * change), who asked, and the approval's id, for the event's detail. */
struct pr_approved {
	int64_t id;
	char requested_by[65];
	char approved_by[65];
	pr_approval_applied_cb cb;
	void *arg;
};

/* The pending approvals' gauge: a timer that expires the pending
 * approvals past approvals.expire_s (pr_approvals_expire, audited) and
 * counts those still pending by kind, every 5 seconds. */
struct pr_approvals;
struct pr_approvals *pr_approvals_new(struct pr_daemon *d);
void pr_approvals_free(struct pr_approvals *a);

/* Writes the gauge payroute_approvals_pending{kind} (Prometheus text)
 * into buf; returns its length (0 before the first count). */
size_t pr_approvals_metrics(const struct pr_approvals *a, char *buf,
			    size_t len);

#endif
