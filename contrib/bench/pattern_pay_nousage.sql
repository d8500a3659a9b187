-- pattern_pay_nousage.sql - pgbench script: pattern_pay.sql without the
-- daily usage row (the write limit of one hot channel whose reservations
-- cost no row lock): insert the order (commit), mark it answered (commit).
\set ch random(1, 10)
\set amt random(100, 5099)
INSERT INTO bench_orders (id, merchant_id, merchant_order_no, amount, method, channel) SELECT n, 'demo', 'pb' || n, :amt, 'wechat_pay', :ch FROM nextval('bench_orders_id_seq') n RETURNING id \gset
UPDATE bench_orders SET status = 'processing', channel_trade_no = 'T' || id, updated_at = now() WHERE id = :id;
