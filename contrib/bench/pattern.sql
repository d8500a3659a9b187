-- pattern.sql - the tables of the minimal durable pattern of a payment,
-- the floor payroute's own store cost is compared with (bench_payments.sh,
-- bench_hot.sh run it with pgbench: pattern_pay.sql and
-- pattern_pay_nousage.sql). Loaded into the scratch database
-- payroute_bench, which the scripts create and drop on the instance's
-- cluster.
--
-- bench_usage: one channel's daily usage per row, 10 channels, limits far
-- away (what a reservation raises). bench_orders: an order shaped like a
-- small payment row: its id, the merchant and its order number (unique
-- together, as payments are), amount, currency, method, channel, status,
-- the channel's trade number, timestamps.
DROP TABLE IF EXISTS bench_orders;
DROP TABLE IF EXISTS bench_usage;

CREATE TABLE bench_usage (
	channel int PRIMARY KEY,
	day date NOT NULL DEFAULT current_date,
	amount bigint NOT NULL DEFAULT 0,
	count bigint NOT NULL DEFAULT 0,
	amount_limit bigint,
	count_limit bigint,
	CHECK (amount_limit IS NULL OR amount <= amount_limit),
	CHECK (count_limit IS NULL OR count <= count_limit)
);
INSERT INTO bench_usage (channel, amount_limit, count_limit)
	SELECT g, 9000000000000000, 1000000000 FROM generate_series(1, 10) g;

CREATE TABLE bench_orders (
	id bigserial PRIMARY KEY,
	merchant_id text NOT NULL,
	merchant_order_no text NOT NULL,
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL DEFAULT 'CNY',
	method text NOT NULL,
	channel int NOT NULL,
	status text NOT NULL DEFAULT 'created',
	channel_trade_no text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (merchant_id, merchant_order_no)
);
