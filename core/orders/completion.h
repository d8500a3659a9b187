/*
 * completion.h - order completion ("supplementary orders", doc/design.md
 * §6): a job in every daemon that claims processing and unknown orders
 * whose next check is due (table order_checks, FOR UPDATE SKIP LOCKED, so
 * instances share the work and never check one order at the same time),
 * asks the channel with the driver's query operation, applies the mapped
 * result, and schedules the next check with back-off
 * (completion.schedule); after the last check an unknown order is flagged
 * for manual attention. Expired unpaid payments are closed at the channel
 * and their reservation released.
 *
 * Written once for every kind of order: a kind registers how to check one
 * order (payments here; refunds and withdrawals plug in the same way).
 */
#ifndef PR_COMPLETION_H
#define PR_COMPLETION_H

#include "runtime/daemon.h"
#include "orders/ordstore.h"

struct pr_completion;
struct pr_check;

/* How one kind of order is checked. check() must end, exactly once and
 * possibly later from the loop, with pr_check_done(). */
struct pr_check_kind {
	const char *kind; /* "payment", "refund", "withdrawal" */
	void (*check)(struct pr_check *k);
	/* The kind's orders as the claim reads them (pr_check_load), or
	 * NULL: each check reads its order itself (refunds: a refund's row
	 * is read with its payment's). */
	const struct pr_order_kind *order;
};

/* One claimed check. */
struct pr_check {
	struct pr_completion *c;
	struct pr_daemon *d;
	struct pr_generation *gen; /* referenced while the check runs */
	const struct pr_check_kind *kind;
	char order_id[64];
	int checks; /* checks done before this one */
	void *data; /* the kind's */
	void *row;  /* its order as the claim read it (kind->order's row) */
};

/* Gives check k's order (of k->kind->order) to cb: the row the claim
 * read, at once, or, when the claim read none, the row a statement of its
 * own reads. The claim reads the batch's orders in one statement, instead
 * of one statement a check; a check starts up to three quarters of
 * completion.interval_ms after its claim (the batch's pacing), a window
 * of the same kind as the one between any read and the channel's answer:
 * an order settled meanwhile makes its check's change "ignored" (the
 * transition's from-states), as it always could. cb may end k. Returns 0
 * or -EAGAIN / -ENOMEM (cb not called). */
int pr_check_load(struct pr_check *k, pr_order_load_cb cb, void *arg);

/* Ends a check. final: the order reached a final state (its check row is
 * gone with the transition). Otherwise the next check is scheduled:
 * `not_before_s` > 0 asks for at least/at most that delay instead of the
 * schedule's (a payment expiring sooner, a check brought forward), and
 * `keep_going` keeps checking at the last interval instead of flagging the
 * order for attention once the schedule is exhausted. result is recorded
 * (last_result, and the order's history). */
struct pr_check_end {
	int final;
	int delay_s;	/* 0: the schedule's next delay */
	int keep_going; /* a processing order before its expiry */
	const char *result;
	json_t *detail; /* borrowed, may be NULL */
};
void pr_check_done(struct pr_check *k, const struct pr_check_end *e);

/* The order of a check turned out final already (or is gone): drops its
 * check row (fire and forget). Call it before ending the check. */
void pr_check_settled(struct pr_check *k);

/* Starts the job on d (a timer on d->base). Returns NULL on allocation
 * failure. */
struct pr_completion *pr_completion_new(struct pr_daemon *d);
void pr_completion_free(struct pr_completion *c);

/* Figures for /metrics. */
struct pr_completion_stats {
	unsigned long claimed;
	unsigned long settled; /* reached a final state */
	unsigned long rescheduled;
	unsigned long attention; /* flagged for manual attention */
	unsigned long errors;
	unsigned long in_flight;
	/* checks' orders, by how they were read: with the claim, alone */
	unsigned long read_with_claim, read_alone;
};
void pr_completion_get_stats(const struct pr_completion *c,
			     struct pr_completion_stats *st);

#endif
