-- 019_first_event.sql - a processing order's first event is its row
-- (doc/design.md §5, §7; issue 11). Applied by payrouted inside a
-- transaction it opens.
--
-- The first commit of a payment or withdrawal that a channel takes wrote
-- its order, its check row and an 'attempt' event (created -> processing,
-- {"channel", "attempt": 1}, by the instance); the event said nothing the
-- order's row does not: when (created_at), where (its first channel: the
-- first attempt of its trace once answered, its channel until then) and
-- to what state. Only who was missing: created_by, the instance that
-- stored it. With it, that first commit writes two rows instead of three
-- (a row of order_events, with its index entry and its CHECK, was about a
-- tenth of a payment's store CPU; contrib/bench/bench_store.sh) and the
-- history read by the admin API (PR_ORDER_HISTORY, core/orders/flow.h)
-- shows the event first, with id 0, as it showed the row.
--
-- Orders created before this migration, orders that end or wait in their
-- first commit (failed, pending_channel) and refunds keep their first
-- event as a row, and created_by NULL: the history shows the rows only.
-- Later attempts (a cascade) keep writing their 'attempt' rows.
--
-- Nullable, no default: adding the columns rewrites nothing.

ALTER TABLE payments ADD COLUMN created_by text;
ALTER TABLE withdrawals ADD COLUMN created_by text;
