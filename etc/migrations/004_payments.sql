-- 004_payments.sql - merchants, payment orders and their lifecycle
-- (doc/design.md §6), idempotency keys, unified result-code overrides and
-- the unmapped-code report (§8), the order-completion queue shared by
-- payments, refunds and withdrawals, the merchant-notification outbox, and
-- the history of every order. Applied by payrouted inside a transaction it
-- opens.
--
-- Money and state invariants are the database's, not only C's:
--   - amounts are positive bigint minor units with an ISO 4217 currency;
--   - a payment only moves along its state machine (a trigger refuses any
--     other change of status), so a final payment never moves again;
--   - a succeeded payment was paid exactly its amount;
--   - finished_at is set exactly when the status is final.
-- Every transition goes through pr_payment_transition(), one statement
-- that moves the order from an expected state, records the event, and in
-- the same transaction queues the completion check or the merchant
-- notification.

-- ------------------------------------------------------------- merchants

-- A merchant calling the merchant API. The API key is a random 256-bit
-- token, stored as its SHA-256 (a slow hash adds nothing for a random
-- key of that size); api_key_prefix (its first 12 characters) is what
-- operators see. notify_secret is the HMAC key of the notifications sent
-- to the merchant; it must be used, so it is kept (like a webhook signing
-- secret), and never returned after creation or rotation.
CREATE TABLE merchants (
	id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
	name text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'active'
		CHECK (status IN ('active', 'disabled')),
	locale text NOT NULL DEFAULT 'zh-CN'
		CHECK (locale IN ('zh-CN', 'en')),
	api_key_prefix text NOT NULL,
	api_key_hash text NOT NULL UNIQUE
		CHECK (api_key_hash ~ '^[0-9a-f]{64}$'),
	notify_secret text NOT NULL CHECK (length(notify_secret) >= 32),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- -------------------------------------------------------------- payments

CREATE TABLE payments (
	id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9]{8,32}$'),
	merchant_id text NOT NULL REFERENCES merchants (id),
	merchant_order_no text NOT NULL
		CHECK (merchant_order_no ~ '^[A-Za-z0-9_.:-]{1,64}$'),
	request_hash text NOT NULL, -- SHA-256 of the request body
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	method text NOT NULL,
	environment text,
	product_code text,
	buyer_id text,
	seller_id text,
	card_hmac text,	 -- HMAC-SHA256 of the card number; never the number
	card_last4 text CHECK (card_last4 ~ '^[0-9]{4}$'),
	bank_code text,
	subject text,
	notify_url text,
	client_ip text,
	expire_at timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'created'
		CHECK (status IN ('created', 'processing', 'succeeded',
				  'failed', 'closed', 'unknown')),
	channel text,	    -- the channel of the current (last) attempt
	channel_trade_no text,
	attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	-- the unified outcome and the channel's own words for it
	code text,
	message_en text,
	message_zh text,
	channel_code text,
	channel_sub_code text,
	channel_message text,
	payer jsonb CHECK (payer IS NULL OR jsonb_typeof(payer) = 'object'),
	trace jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(trace) = 'object'),
	-- the daily-limit reservation held by the current attempt
	usage_day date,
	usage_bank text,
	usage_amount bigint CHECK (usage_amount IS NULL OR usage_amount > 0),
	usage_released boolean NOT NULL DEFAULT false,
	paid_amount bigint,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	UNIQUE (merchant_id, merchant_order_no),
	CONSTRAINT payments_paid_exactly
		CHECK (status <> 'succeeded' OR paid_amount = amount),
	CONSTRAINT payments_finished
		CHECK ((status IN ('succeeded', 'failed', 'closed')) =
		       (finished_at IS NOT NULL)),
	CONSTRAINT payments_channel
		CHECK (status IN ('created', 'failed') OR channel IS NOT NULL)
);

CREATE INDEX payments_status_idx ON payments (status, updated_at)
	WHERE status IN ('created', 'processing', 'unknown');
CREATE INDEX payments_created_idx ON payments (created_at);

-- The payment state machine (core/domain/orderstate.c has the same table; the
-- unit test and t_payments check both).
CREATE FUNCTION pr_payment_transition_ok(p_from text, p_to text)
	RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_from
		WHEN 'created' THEN p_to IN ('processing', 'failed')
		WHEN 'processing' THEN p_to IN ('processing', 'succeeded',
			'failed', 'closed', 'unknown')
		WHEN 'unknown' THEN p_to IN ('unknown', 'processing',
			'succeeded', 'failed', 'closed')
		ELSE false
	END
$$;

CREATE FUNCTION pr_payments_guard() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status IS DISTINCT FROM OLD.status AND
	   NOT pr_payment_transition_ok(OLD.status, NEW.status) THEN
		RAISE EXCEPTION 'payment %: % -> % is not a transition',
			OLD.id, OLD.status, NEW.status
			USING ERRCODE = 'check_violation';
	END IF;
	IF OLD.status IN ('succeeded', 'failed', 'closed') AND
	   (NEW.amount, NEW.currency, NEW.channel, NEW.code, NEW.paid_amount)
	   IS DISTINCT FROM
	   (OLD.amount, OLD.currency, OLD.channel, OLD.code, OLD.paid_amount)
	THEN
		RAISE EXCEPTION 'payment % is final (%)', OLD.id, OLD.status
			USING ERRCODE = 'check_violation';
	END IF;
	IF NEW.amount <> OLD.amount OR NEW.currency <> OLD.currency OR
	   NEW.merchant_id <> OLD.merchant_id OR
	   NEW.merchant_order_no <> OLD.merchant_order_no THEN
		RAISE EXCEPTION 'payment %: amount, currency and merchant '
			'never change', OLD.id USING ERRCODE = 'check_violation';
	END IF;
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

CREATE TRIGGER payments_guard BEFORE UPDATE ON payments
	FOR EACH ROW EXECUTE FUNCTION pr_payments_guard();

-- The merchant-facing JSON of a payment (doc/design.md §9): the answer of
-- the merchant API and the body of the merchant notification, defined once.
CREATE FUNCTION pr_payment_json(p payments, p_locale text)
	RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'id', p.id,
		'merchant_order_no', p.merchant_order_no,
		'status', CASE p.status WHEN 'created' THEN 'processing'
			ELSE p.status END,
		'channel', p.channel,
		'amount', p.amount,
		'currency', p.currency,
		'method', p.method,
		'environment', p.environment,
		'code', p.code,
		'message', CASE WHEN p_locale = 'en' THEN p.message_en
			ELSE p.message_zh END,
		'messages', CASE WHEN p.code IS NULL THEN NULL ELSE
			jsonb_build_object('en', p.message_en,
					   'zh-CN', p.message_zh) END,
		'channel_trade_no', p.channel_trade_no,
		'payer', p.payer,
		'card_last4', p.card_last4,
		'expire_at', to_char(p.expire_at AT TIME ZONE 'UTC',
			'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'created_at', to_char(p.created_at AT TIME ZONE 'UTC',
			'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'finished_at', to_char(p.finished_at AT TIME ZONE 'UTC',
			'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
$$;

-- ------------------------------------------------------ idempotency keys

-- Idempotency-Key of a merchant request: the first answer is kept and
-- replayed for the same body; another body is a 409; while the first is
-- in progress a retry gets a 409 that says so. Kept for a day.
CREATE TABLE idempotency_keys (
	merchant_id text NOT NULL REFERENCES merchants (id),
	key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
	endpoint text NOT NULL,
	request_hash text NOT NULL,
	state text NOT NULL DEFAULT 'in_progress'
		CHECK (state IN ('in_progress', 'done')),
	status int,
	body text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (merchant_id, key),
	CHECK ((state = 'done') = (status IS NOT NULL AND body IS NOT NULL))
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- ---------------------------------------------------------- order events

-- The history of every order (payments, refunds, withdrawals): each
-- attempt, answer, callback, check and operator action, with the instance
-- that did it. Append-only.
CREATE TABLE order_events (
	id bigserial PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('payment', 'refund', 'withdrawal')),
	order_id text NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,	  -- instance name, or the operator
	event text NOT NULL,	  -- attempt, answer, callback, check, close...
	from_status text,
	to_status text,
	detail jsonb
);

CREATE INDEX order_events_order_idx ON order_events (kind, order_id, id);

-- ---------------------------------------------------- order completion

-- Orders whose outcome must be chased by querying the channel
-- ("supplementary orders"): one row per processing or unknown order, of
-- any kind. The completion job of every daemon claims due rows with
-- FOR UPDATE SKIP LOCKED, pushing next_at past the claim's lease so that
-- no other instance takes them meanwhile; a crashed instance's claims come
-- due again when the lease ends. After the last scheduled check a row is
-- flagged for manual attention (it stays, listed by the admin API).
CREATE TABLE order_checks (
	kind text NOT NULL CHECK (kind IN ('payment', 'refund', 'withdrawal')),
	order_id text NOT NULL,
	next_at timestamptz NOT NULL,
	checks int NOT NULL DEFAULT 0 CHECK (checks >= 0),
	claimed_by text,
	attention boolean NOT NULL DEFAULT false,
	attention_reason text,
	last_result text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (kind, order_id)
);

CREATE INDEX order_checks_due_idx ON order_checks (next_at)
	WHERE NOT attention;

-- Claims up to p_limit due checks for p_instance for p_lease_s seconds.
CREATE FUNCTION pr_checks_claim(p_instance text, p_limit int,
		p_lease_s int)
	RETURNS TABLE (r_kind text, r_order_id text, r_checks int)
	LANGUAGE sql AS $$
	UPDATE order_checks c
	SET next_at = now() + make_interval(secs => p_lease_s),
	    claimed_by = p_instance, updated_at = now()
	FROM (SELECT kind, order_id FROM order_checks
	      WHERE NOT attention AND next_at <= now()
	      ORDER BY next_at LIMIT p_limit
	      FOR UPDATE SKIP LOCKED) d
	WHERE c.kind = d.kind AND c.order_id = d.order_id
	RETURNING c.kind, c.order_id, c.checks
$$;

-- --------------------------------------------- merchant notifications

-- The outbox of notifications to merchants: written in the transaction
-- that makes an order final, delivered (signed) by whichever instance
-- claims it, retried with back-off until the merchant answers 2xx, or
-- until notify.give_up_seconds have passed (then abandoned, listed, and
-- re-queued by an operator).
CREATE TABLE merchant_notifications (
	id bigserial PRIMARY KEY,
	merchant_id text NOT NULL REFERENCES merchants (id),
	kind text NOT NULL CHECK (kind IN ('payment', 'refund', 'withdrawal')),
	order_id text NOT NULL,
	event text NOT NULL,
	url text NOT NULL,
	body text NOT NULL,
	state text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'delivered', 'abandoned')),
	attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_at timestamptz NOT NULL DEFAULT now(),
	claimed_by text,
	last_status int,
	last_error text,
	created_at timestamptz NOT NULL DEFAULT now(),
	delivered_at timestamptz,
	UNIQUE (kind, order_id, event),
	CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);

CREATE INDEX merchant_notifications_due_idx
	ON merchant_notifications (next_at) WHERE state = 'pending';

-- ----------------------------------------------------- result codes

-- Operators' overrides of the drivers' default result-code tables, per
-- channel (doc/design.md §8). Matched before the driver's table.
CREATE TABLE code_overrides (
	channel text NOT NULL REFERENCES channels (code) ON DELETE CASCADE,
	op text NOT NULL CHECK (op IN ('pay', 'query', 'close', 'refund',
		'refund_query', 'payout', 'payout_query', 'notify', '*')),
	code text NOT NULL CHECK (length(code) BETWEEN 1 AND 63),
	sub_code text NOT NULL DEFAULT '*'
		CHECK (length(sub_code) BETWEEN 1 AND 63),
	unified text NOT NULL CHECK (unified ~ '^[A-Z][A-Z0-9_]{0,62}$'),
	effect text NOT NULL CHECK (effect IN ('success', 'failed',
		'processing', 'unknown', 'closed')),
	retryable boolean NOT NULL DEFAULT false,
	category text NOT NULL DEFAULT 'none' CHECK (category IN ('none',
		'user', 'risk', 'limit', 'channel', 'system')),
	message_en text NOT NULL CHECK (length(message_en) BETWEEN 1 AND 255),
	message_zh text NOT NULL CHECK (length(message_zh) BETWEEN 1 AND 255),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (channel, op, code, sub_code),
	CHECK (NOT retryable OR effect = 'failed')
);

-- Channel answers that no table maps: the order stays unknown (chased,
-- never guessed failed); each is counted here with a sample.
CREATE TABLE unmapped_codes (
	channel text NOT NULL,
	driver text NOT NULL,
	op text NOT NULL,
	code text NOT NULL,
	sub_code text NOT NULL DEFAULT '',
	count bigint NOT NULL DEFAULT 1,
	first_seen timestamptz NOT NULL DEFAULT now(),
	last_seen timestamptz NOT NULL DEFAULT now(),
	sample_order text,
	sample_message text,
	PRIMARY KEY (channel, op, code, sub_code)
);

-- Counts one unmapped answer; returns true when it is the first time.
CREATE FUNCTION pr_unmapped_record(p_channel text, p_driver text,
		p_op text, p_code text, p_sub_code text, p_order text,
		p_message text)
	RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO unmapped_codes AS u (channel, driver, op, code, sub_code,
		sample_order, sample_message)
	VALUES (p_channel, p_driver, p_op, p_code, coalesce(p_sub_code, ''),
		p_order, left(p_message, 255))
	ON CONFLICT (channel, op, code, sub_code) DO UPDATE
	SET count = u.count + 1, last_seen = now(), driver = EXCLUDED.driver,
	    sample_order = EXCLUDED.sample_order,
	    sample_message = EXCLUDED.sample_message
	RETURNING xmax = 0
$$;

-- The policy snapshot a generation is built from gains the overrides.
CREATE OR REPLACE VIEW policy_snapshot AS
SELECT
	(SELECT coalesce(json_agg(c.channel ORDER BY c.code), '[]'::json)
	 FROM channels_api c) AS channels,
	(SELECT coalesce(json_agg(w.entry ORDER BY w.id), '[]'::json)
	 FROM whitelist_store w) AS whitelist,
	(SELECT coalesce(json_agg(r.rule ORDER BY r.position), '[]'::json)
	 FROM routing_rules_api r) AS rules,
	(SELECT coalesce(json_agg(json_build_object(
		'channel', o.channel, 'op', o.op, 'code', o.code,
		'sub_code', o.sub_code, 'unified', o.unified,
		'effect', o.effect, 'retryable', o.retryable,
		'category', o.category, 'message_en', o.message_en,
		'message_zh', o.message_zh)
		ORDER BY o.channel, o.op, o.code, o.sub_code), '[]'::json)
	 FROM code_overrides o) AS codes;

-- ------------------------------------------------------- transitions

-- Moves payment p_id to p_to if its status is one of p_from, with the
-- outcome fields given (NULL: unchanged), and in the same transaction:
-- records the event; for processing/unknown makes sure a completion check
-- is queued (due in p_check_s seconds; an existing one keeps its time
-- unless p_check_reset); for a final state drops the check and queues the
-- merchant notification (when the payment has a notify_url).
-- p_usage_released marks the current attempt's daily-limit reservation as
-- given back (the caller that flips it gives it back: r_released_before
-- says whether it was already).
-- Returns the payment's row after the call and whether this call moved it
-- (r_changed false: it was in another state, nothing was written but the
-- event 'ignored').
CREATE FUNCTION pr_payment_transition(p_id text, p_from text[], p_to text,
		p_actor text, p_event text, p_detail jsonb,
		p_channel text, p_code text, p_message_en text,
		p_message_zh text, p_channel_code text,
		p_channel_sub_code text, p_channel_message text,
		p_channel_trade_no text, p_payer jsonb, p_paid_amount bigint,
		p_attempt boolean, p_usage_day date, p_usage_bank text,
		p_usage_amount bigint, p_usage_released boolean,
		p_trace jsonb, p_check_s int, p_check_reset boolean)
	RETURNS TABLE (r_changed boolean, r_from text,
		r_released_before boolean, r_payment payments)
	LANGUAGE plpgsql AS $$
DECLARE
	old_status text;
	old_released boolean;
	p payments;
	m merchants;
BEGIN
	SELECT status, usage_released INTO old_status, old_released
	FROM payments WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF NOT (old_status = ANY (p_from)) THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('payment', p_id, p_actor, p_event || '.ignored',
			old_status, p_to, p_detail);
		SELECT * INTO p FROM payments WHERE id = p_id;
		RETURN QUERY SELECT false, old_status, old_released, p;
		RETURN;
	END IF;
	UPDATE payments SET
		status = p_to,
		channel = coalesce(p_channel, channel),
		code = coalesce(p_code, code),
		message_en = coalesce(p_message_en, message_en),
		message_zh = coalesce(p_message_zh, message_zh),
		channel_code = CASE WHEN p_code IS NULL THEN channel_code
			ELSE p_channel_code END,
		channel_sub_code = CASE WHEN p_code IS NULL
			THEN channel_sub_code ELSE p_channel_sub_code END,
		channel_message = CASE WHEN p_code IS NULL
			THEN channel_message ELSE p_channel_message END,
		channel_trade_no = coalesce(nullif(p_channel_trade_no, ''),
			channel_trade_no),
		payer = coalesce(p_payer, payer),
		paid_amount = coalesce(p_paid_amount, paid_amount),
		attempts = attempts + CASE WHEN p_attempt THEN 1 ELSE 0 END,
		usage_day = CASE WHEN p_attempt THEN p_usage_day
			ELSE usage_day END,
		usage_bank = CASE WHEN p_attempt THEN p_usage_bank
			ELSE usage_bank END,
		usage_amount = CASE WHEN p_attempt THEN p_usage_amount
			ELSE usage_amount END,
		usage_released = CASE WHEN p_attempt THEN false
			ELSE usage_released OR coalesce(p_usage_released,
				false) END,
		trace = coalesce(p_trace, trace),
		finished_at = CASE WHEN p_to IN ('succeeded', 'failed',
			'closed') THEN now() ELSE NULL END
	WHERE id = p_id
	RETURNING * INTO p;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('payment', p_id, p_actor, p_event, old_status, p_to,
		p_detail);
	IF p_to IN ('processing', 'unknown') THEN
		INSERT INTO order_checks (kind, order_id, next_at)
		VALUES ('payment', p_id,
			now() + make_interval(secs => p_check_s))
		ON CONFLICT (kind, order_id) DO UPDATE
		SET next_at = CASE WHEN p_check_reset THEN EXCLUDED.next_at
			ELSE order_checks.next_at END,
		    checks = CASE WHEN p_check_reset THEN 0
			ELSE order_checks.checks END,
		    attention = CASE WHEN p_check_reset THEN false
			ELSE order_checks.attention END,
		    updated_at = now();
	ELSIF p_to IN ('succeeded', 'failed', 'closed') THEN
		DELETE FROM order_checks
		WHERE kind = 'payment' AND order_id = p_id;
		IF p.notify_url IS NOT NULL AND p.notify_url <> '' THEN
			SELECT * INTO m FROM merchants
			WHERE id = p.merchant_id;
			INSERT INTO merchant_notifications (merchant_id, kind,
				order_id, event, url, body)
			VALUES (p.merchant_id, 'payment', p.id,
				'payment.' || p_to, p.notify_url,
				(jsonb_build_object('event', 'payment.' || p_to,
					'payment',
					pr_payment_json(p, m.locale)))::text)
			ON CONFLICT (kind, order_id, event) DO NOTHING;
		END IF;
	END IF;
	RETURN QUERY SELECT true, old_status, old_released, p;
END
$$;
