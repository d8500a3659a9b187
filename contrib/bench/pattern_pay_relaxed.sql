-- pattern_pay_relaxed.sql - pgbench script: pattern_pay.sql with its
-- second transaction (the answer) committed without waiting for its WAL
-- flush (SET LOCAL synchronous_commit = off); the first (the order,
-- before the channel is called) stays durable. bench_latency.sh runs it
-- beside pattern_pay.sql to say what a relaxed answer commit could give
-- at most (doc/design.md §10); payroute does not do this.
\set ch random(1, 10)
\set amt random(100, 5099)
BEGIN;
UPDATE bench_usage SET amount = amount + :amt, count = count + 1 WHERE channel = :ch;
INSERT INTO bench_orders (id, merchant_id, merchant_order_no, amount, method, channel) SELECT n, 'demo', 'pb' || n, :amt, 'wechat_pay', :ch FROM nextval('bench_orders_id_seq') n RETURNING id \gset
COMMIT;
BEGIN;
SET LOCAL synchronous_commit = off;
UPDATE bench_orders SET status = 'processing', channel_trade_no = 'T' || id, updated_at = now() WHERE id = :id;
COMMIT;
