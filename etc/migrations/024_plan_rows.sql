-- 024_plan_rows.sql - the functions that return at most one row say so to
-- the planner (doc/design.md §7; issue 11). Applied by payrouted inside a
-- transaction it opens.
--
-- A set-returning function is planned as 1,000 rows unless it declares
-- ROWS. The statements of a refund join what pr_refund_begin and
-- pr_refund_apply (migration 008) return, one row, to payments and
-- merchants by primary key (core/orders/refunds.c, RF_JOINS); planned as
-- 1,000 rows, the join to merchants was a Hash Join over a Seq Scan of
-- merchants, in every refund's first commit and every change of a refund
-- (its answer, checks, callbacks): with 100,000 merchants, 100,000 rows
-- hashed for one (EXPLAIN of the daemon's statements, generic plans, on
-- a store of a million payments; contrib/bench/plan_audit.sh). Declared
-- as one row, each is a Nested Loop over Index Scans of payments_pkey
-- and merchants_pkey, whatever the tables' sizes.
--
-- Every function of the schema that returns at most one row now declares
-- it, whether or not a statement joins it today, so that the next one
-- that does is planned for what it gets. The claims (pr_checks_claim,
-- pr_withdrawals_claim) return up to their limit and the fee summary
-- (pr_recon_fees) a row a channel: they keep the default, and their
-- callers read them without a join (or behind OFFSET 0, ordstore.c's
-- pr_order_claim_sql).

ALTER FUNCTION pr_refund_begin ROWS 1;
ALTER FUNCTION pr_refund_apply ROWS 1;
ALTER FUNCTION pr_refund_create ROWS 1;
ALTER FUNCTION pr_refund_transition ROWS 1;
ALTER FUNCTION pr_payment_transition ROWS 1;
ALTER FUNCTION pr_withdrawal_transition ROWS 1;
ALTER FUNCTION pr_usage_reserve ROWS 1;
ALTER FUNCTION pr_usage_release ROWS 1;
ALTER FUNCTION pr_recon_claim ROWS 1;
ALTER FUNCTION pr_recon_match ROWS 1;
ALTER FUNCTION pr_session_check ROWS 1;
