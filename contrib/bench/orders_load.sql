-- orders_load.sql - a store's orders at size, for the benches that plan
-- statements against it (bench_lists.sh, plan_audit.sh): :orders payments
-- of 50 merchants (m1..m50), 8 channels (ch1..ch8), 20,000 buyers, 2%
-- failed and 0.5% unknown, two months of created_at from 2026-10-01; a
-- refund of one in ten paid payments; :orders / 10 withdrawals (one in a
-- thousand pending_channel). psql -v orders=N -f orders_load.sql on the
-- schema of etc/migrations; the caller ANALYZEs.
INSERT INTO merchants (id, api_key_prefix, api_key_hash, notify_secret)
SELECT 'm' || i, 'prk_' || i, encode(sha256(('k' || i)::bytea), 'hex'), repeat('s', 40)
FROM generate_series(1, 50) i;
INSERT INTO payments (id, merchant_id, merchant_order_no, request_hash, amount,
	currency, method, environment, buyer_id, expire_at, status, channel, code,
	paid_amount, created_at, finished_at)
SELECT 'P' || lpad(i::text, 12, '0'), 'm' || (i % 50 + 1), 'o' || i, 'h',
	100 + (i * 7919) % 1000000, 'CNY', 'wechat_pay', 'native_qr',
	'buyer' || (i * 31 % 20000),
	now(), s, 'ch' || (i % 8 + 1),
	CASE s WHEN 'succeeded' THEN 'SUCCESS' WHEN 'failed' THEN 'NOTENOUGH'
		ELSE 'CHANNEL_TIMEOUT' END,
	CASE WHEN s = 'succeeded' THEN 100 + (i * 7919) % 1000000 END,
	t, CASE WHEN s <> 'unknown' THEN t END
FROM (SELECT i, timestamptz '2026-10-01 00:00:00+00' + i * interval '5.184 seconds' AS t,
	CASE WHEN i % 200 = 7 THEN 'unknown' WHEN i % 50 = 3 THEN 'failed'
		ELSE 'succeeded' END AS s
	FROM generate_series(1::bigint, :orders) i) g;
INSERT INTO refunds (id, payment_id, merchant_id, merchant_refund_no,
	request_hash, amount, currency, stage, borne_by, accounting, status,
	channel, request_no, code, created_at, finished_at)
SELECT 'R' || substr(p.id, 2), p.id, p.merchant_id, 'r' || substr(p.id, 2), 'h', 1,
	'CNY', 'post_delivery', 'merchant', 'after_sale', 'succeeded', p.channel,
	'R' || substr(p.id, 2), 'SUCCESS', p.created_at + interval '1 hour',
	p.created_at + interval '1 hour'
FROM payments p WHERE p.status = 'succeeded' AND substr(p.id, 2)::bigint % 10 = 1;
INSERT INTO withdrawals (id, merchant_id, merchant_withdrawal_no, request_hash,
	amount, currency, payee_kind, payee_account_enc, payee_account_mask,
	method, status, channel, code, paid_amount, deadline_at, next_route_at,
	created_at, finished_at)
SELECT 'W' || lpad(i::text, 12, '0'), 'm' || (i % 50 + 1), 'w' || i, 'h', 1000 + i,
	'CNY', 'bank_card', repeat('A', 44), '6222****0123', 'bank_transfer',
	CASE WHEN i % 1000 = 5 THEN 'pending_channel' ELSE 'succeeded' END,
	CASE WHEN i % 1000 = 5 THEN NULL ELSE 'wd' || (i % 4 + 1) END,
	CASE WHEN i % 1000 = 5 THEN NULL ELSE 'SUCCESS' END,
	CASE WHEN i % 1000 = 5 THEN NULL ELSE 1000 + i END,
	timestamptz '2026-10-01 00:00:00+00' + i * interval '51.84 seconds' + interval '1 day',
	CASE WHEN i % 1000 = 5 THEN now() END,
	timestamptz '2026-10-01 00:00:00+00' + i * interval '51.84 seconds',
	CASE WHEN i % 1000 = 5 THEN NULL ELSE timestamptz '2026-10-01 00:00:00+00' + i * interval '51.84 seconds' END
FROM generate_series(1::bigint, :orders / 10) i;
