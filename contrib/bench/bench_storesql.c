/*
 * bench_storesql - prints the two statements of a payment's two commits as
 * the daemon prepares them: the first commit of a processing payment
 * without an Idempotency-Key (the fast variant of pr_pay_begin_sqls,
 * core/orders/payments.c, flow.h) and the answer's change as bench_store.sh
 * replays it, not final, without a next attempt or an Idempotency-Key
 * (the payment kind's apply_fast_sql, core/orders/payorder.c: one UPDATE),
 * then the first commit's full variant (what every first commit was
 * before the lean one), then the lean change of checks and callbacks
 * (apply_lean_sql: the answer's statement before migration 021, writing
 * its event row), then the answer's statement the fast one falls back to
 * (apply_answer_sql: what the daemon sent for it before), then the
 * kind's full change (apply_sql: a callback's final state, which drops
 * the order's check row, and what the daemon sent for it before), then
 * the final change of a processing order as one UPDATE (apply_final_sql:
 * what the daemon sends a callback first), then the first commit's lean
 * variant (what the fast one falls back to for a duplicate, and what the
 * daemon sent first before), separated by lines "--".
 * contrib/bench/bench_store.sh replays them with pgbench, so that what the
 * store does per payment is measured from the daemon's own text.
 *
 *   bench_storesql
 */
#include <stdio.h>

#include "orders/flow.h"
#include "orders/payments.h"
#include "orders/payorder.h"

int main(void)
{
	if (printf("%s\n--\n%s\n--\n%s\n--\n%s\n--\n%s\n--\n%s\n--\n%s\n--\n%s\n",
		   pr_pay_begin_sqls.fast, pr_payment_kind.apply_fast_sql,
		   pr_pay_begin_sqls.full, pr_payment_kind.apply_lean_sql,
		   pr_payment_kind.apply_answer_sql, pr_payment_kind.apply_sql,
		   pr_payment_kind.apply_final_sql, pr_pay_begin_sqls.lean) < 0)
		return 1;
	return 0;
}
