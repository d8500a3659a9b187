-- plan_audit.sql - the rest of the store contrib/bench/plan_audit.sh plans
-- payrouted's statements against, after orders_load.sql's orders
-- (:orders payments of 50 merchants, their refunds, :orders / 10
-- withdrawals): :merchants more merchants without orders, an event of
-- each payment and refund, a delivered notification of each final
-- payment, the check rows of the unknown ones, Idempotency-Keys of one in
-- four (all within the day), two months of reconciliation runs of 8
-- channels with the bill rows of the paid payments and a difference of
-- one payment in five (one in a hundred open), and 300,000 audit rows;
-- then ANALYZE. Sizes a busy year's store reaches, where the planner
-- chooses an index for a statement that reads a few rows.
INSERT INTO merchants (id, api_key_prefix, api_key_hash, notify_secret)
SELECT 'mx' || i, 'prkx_' || i, encode(sha256(('kx' || i)::bytea), 'hex'), repeat('s', 40)
FROM generate_series(1, :merchants) i;
INSERT INTO order_events (kind, order_id, actor, event, from_status, to_status, detail, at)
SELECT 'payment', id, 'inst-a', 'callback', 'processing', status, '{}', created_at FROM payments;
INSERT INTO order_events (kind, order_id, actor, event, from_status, to_status, detail, at)
SELECT 'refund', id, 'inst-a', 'answer', 'processing', status, '{}', created_at FROM refunds;
INSERT INTO merchant_notifications (merchant_id, kind, order_id, event, url, body, state, attempts, created_at, delivered_at, next_at)
SELECT merchant_id, 'payment', id, 'payment.' || status, 'http://127.0.0.1/n', '{}', 'delivered', 1, created_at, created_at, created_at
FROM payments WHERE status IN ('succeeded', 'failed');
INSERT INTO order_checks (kind, order_id, next_at)
SELECT 'payment', id, now() + interval '1 hour' FROM payments WHERE status = 'unknown';
INSERT INTO idempotency_keys (merchant_id, key, endpoint, request_hash, order_id, state, status, body, created_at)
SELECT merchant_id, 'k' || id, 'POST /v1/payments', 'h', id, 'done', 201, '{}', now() - interval '1 hour' * (random() * 20)
FROM payments WHERE substr(id, 2)::bigint % 4 = 0;

INSERT INTO recon_runs (channel, day, status, runs)
SELECT 'ch' || c, d::date, 'done', 1 FROM generate_series(1, 8) c,
	generate_series(date '2026-10-01', date '2026-12-06', interval '1 day') d;
INSERT INTO recon_bill_rows (channel, day, part, line, kind, order_id, amount, fee, currency, effect, at)
SELECT p.channel, p.created_at::date, 0, row_number() OVER (PARTITION BY p.channel, p.created_at::date ORDER BY p.id),
	'payment', p.id, p.amount, 1, 'CNY', 'success', p.created_at
FROM payments p WHERE p.status = 'succeeded';
INSERT INTO recon_differences (channel, day, kind, order_kind, ref, order_id, ours, amount, status, seen_run, resolution_note, resolved_by, resolved_at)
SELECT p.channel, p.created_at::date, 'missing_at_channel', 'payment', p.id, p.id, '{}', p.amount,
	CASE WHEN substr(p.id, 2)::bigint % 100 = 0 THEN 'open' ELSE 'resolved' END, 1,
	CASE WHEN substr(p.id, 2)::bigint % 100 = 0 THEN NULL ELSE 'n' END,
	CASE WHEN substr(p.id, 2)::bigint % 100 = 0 THEN NULL ELSE 'op' END,
	CASE WHEN substr(p.id, 2)::bigint % 100 = 0 THEN NULL ELSE now() END
FROM payments p WHERE substr(p.id, 2)::bigint % 5 = 0 AND p.created_at::date <= date '2026-12-06';
INSERT INTO audit_log (actor, action, object_kind, object_id, after, at)
SELECT 'op' || (i % 20), 'channel.update', 'channel', 'ch' || (i % 8 + 1), '{}', now() - i * interval '10 seconds'
FROM generate_series(1, 300000) i;
VACUUM ANALYZE;
