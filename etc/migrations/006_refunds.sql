-- 006_refunds.sql - refunds by the original route and the refund overdue
-- queue (doc/design.md §6). Applied by
-- payrouted inside a transaction it opens.
--
-- Money invariant: the refunds of a payment that are not failed (created,
-- processing, succeeded, overdue, resolved other than cancelled) never add
-- up to more than the payment. payments.refund_reserved holds that sum; it
-- is only raised by pr_refund_create(), one statement that locks the
-- payment row, so a burst of concurrent refunds can never over-refund, and
-- a CHECK makes the store refuse it whatever a client does.

ALTER TABLE payments
	ADD COLUMN refund_reserved bigint NOT NULL DEFAULT 0,
	ADD CONSTRAINT payments_refund_within
		CHECK (refund_reserved >= 0 AND refund_reserved <= amount),
	ADD CONSTRAINT payments_refund_only_paid
		CHECK (refund_reserved = 0 OR status = 'succeeded');

-- Who bears an after-sale (post-delivery) refund: the merchant (its
-- settlement is debited) or the platform. Pre-delivery refunds always
-- reverse the merchant's settlement.
ALTER TABLE merchants
	ADD COLUMN post_delivery_bearer text NOT NULL DEFAULT 'merchant'
		CHECK (post_delivery_bearer IN ('merchant', 'platform'));

CREATE TABLE refunds (
	id text PRIMARY KEY CHECK (id ~ '^R[A-Za-z0-9]{7,31}$'),
	payment_id text NOT NULL REFERENCES payments (id),
	merchant_id text NOT NULL REFERENCES merchants (id),
	merchant_refund_no text NOT NULL
		CHECK (merchant_refund_no ~ '^[A-Za-z0-9_.:-]{1,64}$'),
	request_hash text NOT NULL,
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	reason text,
	stage text NOT NULL CHECK (stage IN ('pre_delivery', 'post_delivery')),
	-- pre_delivery: the order is cancelled before the goods leave and
	-- the merchant's settlement is reversed; post_delivery: an after-sale
	-- refund borne by merchants.post_delivery_bearer.
	borne_by text NOT NULL CHECK (borne_by IN ('merchant', 'platform')),
	accounting text NOT NULL
		CHECK (accounting IN ('settlement_reversal', 'after_sale')),
	status text NOT NULL DEFAULT 'created'
		CHECK (status IN ('created', 'processing', 'succeeded', 'failed',
				  'overdue', 'resolved')),
	channel text NOT NULL,	 -- the payment's: the original route
	request_no text NOT NULL, -- the refund number sent to the channel
	channel_refund_no text,
	attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	code text,
	message_en text,
	message_zh text,
	channel_code text,
	channel_sub_code text,
	channel_message text,
	overdue_reason text CHECK (overdue_reason IN ('refund_timeout',
		'original_route_unavailable', 'refund_window_expired')),
	overdue_at timestamptz,
	resolution text CHECK (resolution IN ('buyer_contacted',
		'refunded_offline', 'refunded_by_transfer', 'cancelled')),
	resolution_note text,
	resolved_by text,
	resolution_withdrawal_id text,
	notify_url text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	UNIQUE (merchant_id, merchant_refund_no),
	UNIQUE (request_no),
	CONSTRAINT refunds_finished
		CHECK ((status IN ('succeeded', 'failed', 'resolved')) =
		       (finished_at IS NOT NULL)),
	CONSTRAINT refunds_overdue
		CHECK (status <> 'overdue' OR overdue_reason IS NOT NULL),
	CONSTRAINT refunds_resolved
		CHECK ((status = 'resolved') = (resolution IS NOT NULL))
);

CREATE INDEX refunds_payment_idx ON refunds (payment_id, created_at);
CREATE INDEX refunds_overdue_idx ON refunds (overdue_at)
	WHERE status = 'overdue';

-- The refund state machine (core/orders/refunds.c has the same table):
--   created    -> processing | succeeded | failed | overdue
--   processing -> processing | succeeded | failed | overdue
--   overdue    -> overdue | processing (resent) | succeeded (settled late)
--                 | resolved (by an operator)
--   succeeded, failed, resolved: final.
CREATE FUNCTION pr_refund_transition_ok(p_from text, p_to text)
	RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_from
		WHEN 'created' THEN p_to IN ('processing', 'succeeded',
			'failed', 'overdue')
		WHEN 'processing' THEN p_to IN ('processing', 'succeeded',
			'failed', 'overdue')
		WHEN 'overdue' THEN p_to IN ('overdue', 'processing',
			'succeeded', 'resolved')
		ELSE false
	END
$$;

CREATE FUNCTION pr_refunds_guard() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status IS DISTINCT FROM OLD.status AND
	   NOT pr_refund_transition_ok(OLD.status, NEW.status) THEN
		RAISE EXCEPTION 'refund %: % -> % is not a transition',
			OLD.id, OLD.status, NEW.status
			USING ERRCODE = 'check_violation';
	END IF;
	IF NEW.amount <> OLD.amount OR NEW.payment_id <> OLD.payment_id OR
	   NEW.channel <> OLD.channel THEN
		RAISE EXCEPTION 'refund %: amount, payment and channel never '
			'change', OLD.id USING ERRCODE = 'check_violation';
	END IF;
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

CREATE TRIGGER refunds_guard BEFORE UPDATE ON refunds
	FOR EACH ROW EXECUTE FUNCTION pr_refunds_guard();

CREATE FUNCTION pr_refund_json(r refunds, p_locale text)
	RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'id', r.id,
		'payment_id', r.payment_id,
		'merchant_refund_no', r.merchant_refund_no,
		'status', CASE r.status WHEN 'created' THEN 'processing'
			ELSE r.status END,
		'amount', r.amount,
		'currency', r.currency,
		'reason', r.reason,
		'stage', r.stage,
		'borne_by', r.borne_by,
		'accounting', r.accounting,
		'channel', r.channel,
		'code', r.code,
		'message', CASE WHEN p_locale = 'en' THEN r.message_en
			ELSE r.message_zh END,
		'messages', CASE WHEN r.code IS NULL THEN NULL ELSE
			jsonb_build_object('en', r.message_en,
					   'zh-CN', r.message_zh) END,
		'channel_refund_no', r.channel_refund_no,
		'overdue_reason', r.overdue_reason,
		'resolution', r.resolution,
		'created_at', to_char(r.created_at AT TIME ZONE 'UTC',
			'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'finished_at', to_char(r.finished_at AT TIME ZONE 'UTC',
			'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
$$;

-- Creates a refund of payment p_payment for merchant p_merchant, in one
-- statement: locks the payment, checks it is succeeded and that this
-- refund fits (refund_reserved + amount <= amount), raises
-- refund_reserved and inserts the refund. r_result: 'created', 'duplicate'
-- (the merchant_refund_no exists: r_refund is that one), 'no_payment',
-- 'not_refundable' (the payment is not succeeded), 'currency' (another
-- currency than the payment's), 'exceeds' (r_refundable says how much is
-- left).
CREATE FUNCTION pr_refund_create(p_id text, p_payment text, p_merchant text,
		p_refund_no text, p_hash text, p_amount bigint,
		p_currency text, p_reason text, p_stage text, p_request_no text,
		p_notify_url text, p_actor text)
	RETURNS TABLE (r_result text, r_refund text, r_refundable bigint)
	LANGUAGE plpgsql AS $$
DECLARE
	p payments;
	m merchants;
	dup text;
BEGIN
	SELECT * INTO p FROM payments
	WHERE id = p_payment AND merchant_id = p_merchant FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'no_payment'::text, NULL::text, 0::bigint;
		RETURN;
	END IF;
	SELECT id INTO dup FROM refunds
	WHERE merchant_id = p_merchant AND merchant_refund_no = p_refund_no;
	IF FOUND THEN
		RETURN QUERY SELECT 'duplicate'::text, dup,
			p.amount - p.refund_reserved;
		RETURN;
	END IF;
	IF p.status <> 'succeeded' THEN
		RETURN QUERY SELECT 'not_refundable'::text, NULL::text, 0::bigint;
		RETURN;
	END IF;
	IF p.currency <> p_currency THEN
		RETURN QUERY SELECT 'currency'::text, NULL::text,
			p.amount - p.refund_reserved;
		RETURN;
	END IF;
	IF p.refund_reserved + p_amount > p.amount THEN
		RETURN QUERY SELECT 'exceeds'::text, NULL::text,
			p.amount - p.refund_reserved;
		RETURN;
	END IF;
	SELECT * INTO m FROM merchants WHERE id = p_merchant;
	UPDATE payments SET refund_reserved = refund_reserved + p_amount
	WHERE id = p_payment;
	INSERT INTO refunds (id, payment_id, merchant_id, merchant_refund_no,
		request_hash, amount, currency, reason, stage, borne_by,
		accounting, channel, request_no, notify_url)
	VALUES (p_id, p_payment, p_merchant, p_refund_no, p_hash, p_amount,
		p_currency, p_reason, p_stage,
		CASE WHEN p_stage = 'pre_delivery' THEN 'merchant'
			ELSE m.post_delivery_bearer END,
		CASE WHEN p_stage = 'pre_delivery' THEN 'settlement_reversal'
			ELSE 'after_sale' END,
		p.channel, p_request_no, p_notify_url);
	INSERT INTO order_events (kind, order_id, actor, event, to_status,
		detail)
	VALUES ('refund', p_id, p_actor, 'create', 'created',
		jsonb_build_object('payment', p_payment, 'amount', p_amount,
			'stage', p_stage));
	RETURN QUERY SELECT 'created'::text, p_id,
		p.amount - p.refund_reserved - p_amount;
END
$$;

-- Moves refund p_id to p_to from one of p_from, in one transaction with:
-- the event; the completion check (processing, and overdue for a refund
-- timeout: still chased) or its removal; giving the reservation back when
-- it fails (or is resolved as cancelled); the merchant notification for a
-- final state. p_request_no starts a new attempt with that refund number.
CREATE FUNCTION pr_refund_transition(p_id text, p_from text[], p_to text,
		p_actor text, p_event text, p_detail jsonb, p_code text,
		p_message_en text, p_message_zh text, p_channel_code text,
		p_channel_sub_code text, p_channel_message text,
		p_channel_refund_no text, p_overdue_reason text,
		p_request_no text, p_check_s int, p_resolution text,
		p_resolution_note text, p_withdrawal text)
	RETURNS TABLE (r_changed boolean, r_from text, r_refund refunds)
	LANGUAGE plpgsql AS $$
DECLARE
	old_status text;
	r refunds;
	m merchants;
BEGIN
	SELECT status INTO old_status FROM refunds WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF NOT (old_status = ANY (p_from)) THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('refund', p_id, p_actor, p_event || '.ignored',
			old_status, p_to, p_detail);
		SELECT * INTO r FROM refunds WHERE id = p_id;
		RETURN QUERY SELECT false, old_status, r;
		RETURN;
	END IF;
	UPDATE refunds SET
		status = p_to,
		code = coalesce(p_code, code),
		message_en = coalesce(p_message_en, message_en),
		message_zh = coalesce(p_message_zh, message_zh),
		channel_code = CASE WHEN p_code IS NULL THEN channel_code
			ELSE p_channel_code END,
		channel_sub_code = CASE WHEN p_code IS NULL
			THEN channel_sub_code ELSE p_channel_sub_code END,
		channel_message = CASE WHEN p_code IS NULL
			THEN channel_message ELSE p_channel_message END,
		channel_refund_no = coalesce(nullif(p_channel_refund_no, ''),
			channel_refund_no),
		overdue_reason = CASE WHEN p_to = 'overdue'
			THEN coalesce(p_overdue_reason, overdue_reason)
			ELSE overdue_reason END,
		overdue_at = CASE WHEN p_to = 'overdue' AND
			old_status <> 'overdue' THEN now()
			WHEN p_to = 'overdue' THEN overdue_at ELSE overdue_at END,
		request_no = coalesce(p_request_no, request_no),
		attempts = attempts + CASE WHEN p_to = 'processing' AND
			old_status <> 'processing' THEN 1 ELSE 0 END,
		resolution = CASE WHEN p_to = 'resolved' THEN p_resolution
			ELSE resolution END,
		resolution_note = CASE WHEN p_to = 'resolved'
			THEN p_resolution_note ELSE resolution_note END,
		resolved_by = CASE WHEN p_to = 'resolved' THEN p_actor
			ELSE resolved_by END,
		resolution_withdrawal_id = CASE WHEN p_to = 'resolved'
			THEN p_withdrawal ELSE resolution_withdrawal_id END,
		finished_at = CASE WHEN p_to IN ('succeeded', 'failed',
			'resolved') THEN now() ELSE NULL END
	WHERE id = p_id
	RETURNING * INTO r;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('refund', p_id, p_actor, p_event, old_status, p_to, p_detail);
	IF p_to = 'failed' OR (p_to = 'resolved' AND
			       p_resolution = 'cancelled') THEN
		UPDATE payments SET refund_reserved = refund_reserved - r.amount
		WHERE id = r.payment_id;
	END IF;
	IF p_to = 'processing' OR
	   (p_to = 'overdue' AND r.overdue_reason = 'refund_timeout') THEN
		INSERT INTO order_checks (kind, order_id, next_at)
		VALUES ('refund', p_id,
			now() + make_interval(secs => p_check_s))
		ON CONFLICT (kind, order_id) DO UPDATE
		SET next_at = CASE WHEN old_status <> p_to
			THEN EXCLUDED.next_at ELSE order_checks.next_at END,
		    attention = false, updated_at = now();
	ELSE
		DELETE FROM order_checks
		WHERE kind = 'refund' AND order_id = p_id;
	END IF;
	IF p_to IN ('succeeded', 'failed', 'resolved') AND
	   r.notify_url IS NOT NULL AND r.notify_url <> '' THEN
		SELECT * INTO m FROM merchants WHERE id = r.merchant_id;
		INSERT INTO merchant_notifications (merchant_id, kind, order_id,
			event, url, body)
		VALUES (r.merchant_id, 'refund', r.id, 'refund.' || p_to,
			r.notify_url,
			(jsonb_build_object('event', 'refund.' || p_to, 'refund',
				pr_refund_json(r, m.locale)))::text)
		ON CONFLICT (kind, order_id, event) DO NOTHING;
	END IF;
	RETURN QUERY SELECT true, old_status, r;
END
$$;
