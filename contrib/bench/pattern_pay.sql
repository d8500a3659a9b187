-- pattern_pay.sql - pgbench script: the minimal durable pattern of one
-- payment (tables: pattern.sql). Transaction 1, before the channel is
-- called: reserve the channel's daily usage and insert the order.
-- Transaction 2, after its answer: mark it answered. Two durable commits;
-- one pgbench transaction is one payment.
\set ch random(1, 10)
\set amt random(100, 5099)
BEGIN;
UPDATE bench_usage SET amount = amount + :amt, count = count + 1 WHERE channel = :ch;
INSERT INTO bench_orders (id, merchant_id, merchant_order_no, amount, method, channel) SELECT n, 'demo', 'pb' || n, :amt, 'wechat_pay', :ch FROM nextval('bench_orders_id_seq') n RETURNING id \gset
COMMIT;
UPDATE bench_orders SET status = 'processing', channel_trade_no = 'T' || id, updated_at = now() WHERE id = :id;
