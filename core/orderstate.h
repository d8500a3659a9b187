/*
 * orderstate.h - the state machine of payment orders (DESIGN section 8).
 * Pure. The same table is the database's (migration 004,
 * pr_payment_transition_ok, enforced by a trigger); test_orderstate checks
 * every pair of states against the specification and t_payments checks
 * the trigger against this table.
 *
 *   created    -> processing | failed
 *   processing -> processing (cascade to another channel) | succeeded |
 *                 failed | closed | unknown
 *   unknown    -> unknown | processing | succeeded | failed | closed
 *   succeeded, failed, closed: final, never move again.
 */
#ifndef PR_ORDERSTATE_H
#define PR_ORDERSTATE_H

#include <stddef.h>

#include <payroute/driver.h>

enum pr_pay_status {
	PR_PAY_CREATED = 0,
	PR_PAY_PROCESSING,
	PR_PAY_SUCCEEDED,
	PR_PAY_FAILED,
	PR_PAY_CLOSED,
	PR_PAY_UNKNOWN,
	PR_PAY_N_STATUS
};

/* "created", "processing", ... */
const char *pr_pay_status_name(enum pr_pay_status s);
/* Returns 0 and sets *out, or -EINVAL for an unknown name. */
int pr_pay_status_parse(const char *s, enum pr_pay_status *out);

/* 1 for succeeded, failed and closed. */
int pr_pay_status_final(enum pr_pay_status s);

/* 1 when from -> to is a transition of the machine above. */
int pr_pay_transition_ok(enum pr_pay_status from, enum pr_pay_status to);

/* The status an effect leads to: SUCCESS -> succeeded, FAILED -> failed,
 * CLOSED -> closed, PROCESSING -> processing, UNKNOWN (and any value
 * out of range) -> unknown. */
enum pr_pay_status pr_pay_status_for_effect(enum payroute_effect e);

/* The states from which `to` can be reached, as a PostgreSQL text array
 * literal ("{processing,unknown}", in enum order) written into buf
 * (NUL-terminated). Returns buf, or NULL when buf is too small, `to` is out
 * of range or has no predecessor (created). 64 bytes always suffice. */
const char *pr_pay_from_literal(enum pr_pay_status to, char *buf, size_t len);

#endif
