-- 021_answer_event.sql - a processing order's first answer is its row
-- too (doc/design.md §5, §7; issue 11). Applied by payrouted inside a
-- transaction it opens.
--
-- The second commit of a payment or withdrawal whose first attempt the
-- channel answered without ending it (processing, or unknown: a timeout,
-- an unmapped code) wrote the order's new version and an 'answer' event
-- (processing -> processing or unknown, by the instance, its detail the
-- attempt as the route trace keeps it). Like the 'attempt' event before
-- it (migration 019), that row said little the order does not: its
-- detail is the trace's first attempt, its from status processing. What
-- the row had and the order did not: when, who, to what state, and its
-- place among the order's other events (its id). These columns keep
-- them, set by the same UPDATE as the transition (PR_APPLY_LEAN_SQL,
-- core/orders/ordstore.h): answer_id is drawn from order_events' own
-- sequence, so the history read by the admin API (PR_ORDER_HISTORY,
-- core/orders/flow.h) shows the event where and as the row was, id
-- included, among the rows of checks or callbacks applied before it.
--
-- Only the first answer of an order whose first attempt is its row
-- (created_by, migration 019), when the answer changes it; an answer that
-- finds the order moved ('answer.ignored'), a final answer, a cascade's
-- answers, and every order stored before this migration keep their rows.
--
-- Nullable, no default: adding the columns rewrites nothing.

ALTER TABLE payments ADD COLUMN answer_id bigint,
	ADD COLUMN answer_at timestamptz, ADD COLUMN answer_by text,
	ADD COLUMN answer_to text;
ALTER TABLE withdrawals ADD COLUMN answer_id bigint,
	ADD COLUMN answer_at timestamptz, ADD COLUMN answer_by text,
	ADD COLUMN answer_to text;
