/*
 * orderstate.h - the state machines of the three kinds of order
 * (doc/design.md §6): payments, withdrawals and refunds. Pure. Each is one
 * table of allowed transitions and the set of final states; the database
 * holds the same tables (pr_payment_transition_ok, migration 004;
 * pr_withdrawal_transition_ok, 005; pr_refund_transition_ok, 006; each
 * enforced by a trigger, the states and the final ones by the tables'
 * CHECKs). test_orderstate checks every pair of states of each machine
 * against the specification; t_payments, t_withdrawals and t_refunds check
 * the database's functions and CHECKs against these tables.
 *
 *   payment:
 *     created    -> processing | failed
 *     processing -> processing (cascade to another channel) | succeeded |
 *                   failed | closed | unknown
 *     unknown    -> unknown | processing | succeeded | failed | closed
 *     succeeded, failed, closed: final.
 *   withdrawal:
 *     created         -> pending_channel (no usable channel) |
 *                        processing | failed
 *     pending_channel -> processing (routed again) | failed (deadline)
 *     processing      -> processing (cascade) | succeeded | failed |
 *                        unknown
 *     unknown         -> unknown | processing | succeeded | failed
 *     succeeded, failed: final.
 *   refund:
 *     created    -> processing | succeeded | failed | overdue
 *     processing -> processing | succeeded | failed | overdue
 *     overdue    -> overdue | processing (re-sent) | succeeded (settled
 *                   late) | resolved (by an operator)
 *     succeeded, failed, resolved: final.
 */
#ifndef PR_ORDERSTATE_H
#define PR_ORDERSTATE_H

#include <stddef.h>

#include <payroute/driver.h>

/* The bit of state s in a set of states (a `from` set, a final set). */
#define PR_FROM(s) (1u << (s))

enum pr_pay_status {
	PR_PAY_CREATED = 0,
	PR_PAY_PROCESSING,
	PR_PAY_SUCCEEDED,
	PR_PAY_FAILED,
	PR_PAY_CLOSED,
	PR_PAY_UNKNOWN,
	PR_PAY_N_STATUS
};

enum pr_wd_status {
	PR_WD_CREATED = 0,
	PR_WD_PENDING_CHANNEL,
	PR_WD_PROCESSING,
	PR_WD_SUCCEEDED,
	PR_WD_FAILED,
	PR_WD_UNKNOWN,
	PR_WD_N_STATUS
};

enum pr_rf_status {
	PR_RF_CREATED = 0,
	PR_RF_PROCESSING,
	PR_RF_SUCCEEDED,
	PR_RF_FAILED,
	PR_RF_OVERDUE,
	PR_RF_RESOLVED,
	PR_RF_N_STATUS
};

/* One machine: states 0 .. n-1 (the kind's enum), their names as the
 * store writes them, next[from] the PR_FROM() set of the states `from`
 * may move to, final the PR_FROM() set of the states that never move. */
struct pr_machine {
	const char *kind; /* "payment", "withdrawal", "refund" */
	int n;
	const char *const *names;
	const unsigned *next;
	unsigned final;
};

extern const struct pr_machine pr_pay_machine; /* enum pr_pay_status */
extern const struct pr_machine pr_wd_machine;  /* enum pr_wd_status */
extern const struct pr_machine pr_rf_machine;  /* enum pr_rf_status */

/* The machine of a kind ("payment", "withdrawal", "refund"), or NULL. */
const struct pr_machine *pr_machine_of(const char *kind);

/* "created", "processing", ...; NULL for a state out of range. */
const char *pr_state_name(const struct pr_machine *m, int s);
/* The state named s (>= 0), or -EINVAL for a name m does not have. */
int pr_state_parse(const struct pr_machine *m, const char *s);
/* 1 when s is a final state of m. */
int pr_state_final(const struct pr_machine *m, int s);
/* 1 when from -> to is a transition of m (0 out of range). */
int pr_state_next_ok(const struct pr_machine *m, int from, int to);
/* The PR_FROM() set of the states from which `to` can be reached. */
unsigned pr_state_preds(const struct pr_machine *m, int to);

/* The states of set (PR_FROM() bits, in state order) as a PostgreSQL text
 * array literal ("{processing,unknown}"; "{}" for none) written into buf
 * (NUL-terminated). Returns buf, or NULL when buf is too small. */
const char *pr_state_set_literal(const struct pr_machine *m, unsigned set,
				 char *buf, size_t len);

/* The payment machine's shorthands. */
const char *pr_pay_status_name(enum pr_pay_status s);
/* Returns 0 and sets *out, or -EINVAL for an unknown name. */
int pr_pay_status_parse(const char *s, enum pr_pay_status *out);
/* 1 for succeeded, failed and closed. */
int pr_pay_status_final(enum pr_pay_status s);
/* 1 when from -> to is a transition of the payment machine. */
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
