-- 005_withdrawals.sql - withdrawal orders (doc/design.md §6): a merchant
-- pays money out to a payee (a bank card, an Alipay account, a WeChat
-- openid) over a channel that supports withdrawals. Applied by payrouted
-- inside a transaction it opens.
--
-- Invariants kept by the database:
--   - amounts are positive bigint minor units with an ISO 4217 currency;
--   - a withdrawal only moves along its state machine (a trigger refuses
--     any other change of status), so a final withdrawal never moves again;
--   - a succeeded withdrawal paid out exactly its amount;
--   - finished_at is set exactly when the status is final;
--   - the payee's account is never stored in clear: payee_account_enc is
--     base64(iv || ciphertext || tag) of AES-256-GCM with the key of
--     secrets.key_file (the withdrawal's id as additional data), and
--     payee_account_mask is what is shown.
-- Every transition goes through pr_withdrawal_transition(), one statement
-- that moves the order from an expected state, records the event, and in
-- the same transaction queues the completion check or the merchant
-- notification.

CREATE TABLE withdrawals (
	id text PRIMARY KEY CHECK (id ~ '^W[A-Za-z0-9]{7,31}$'),
	merchant_id text NOT NULL REFERENCES merchants (id),
	merchant_withdrawal_no text NOT NULL
		CHECK (merchant_withdrawal_no ~ '^[A-Za-z0-9_.:-]{1,64}$'),
	request_hash text NOT NULL, -- HMAC-SHA256 of the request body
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	payee_kind text NOT NULL CHECK (payee_kind IN ('bank_card',
		'alipay_account', 'wechat_openid')),
	payee_account_enc text NOT NULL
		CHECK (payee_account_enc ~ '^[A-Za-z0-9+/]{40,}={0,2}$'),
	payee_account_mask text NOT NULL
		CHECK (length(payee_account_mask) BETWEEN 1 AND 80),
	payee_name text,
	payee_bank_code text,
	method text NOT NULL, -- the routing method of the payee kind
	notify_url text,
	client_ip text,
	status text NOT NULL DEFAULT 'created'
		CHECK (status IN ('created', 'pending_channel', 'processing',
				  'succeeded', 'failed', 'unknown')),
	channel text,	    -- the channel of the current (last) attempt
	channel_trade_no text,
	attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	code text,
	message_en text,
	message_zh text,
	channel_code text,
	channel_sub_code text,
	channel_message text,
	trace jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(trace) = 'object'),
	-- the daily-limit reservation held by the current attempt
	usage_day date,
	usage_bank text,
	usage_amount bigint CHECK (usage_amount IS NULL OR usage_amount > 0),
	usage_released boolean NOT NULL DEFAULT false,
	paid_amount bigint,
	-- pending_channel: when it is routed again, by whom it is claimed
	next_route_at timestamptz,
	route_claimed_by text,
	deadline_at timestamptz NOT NULL, -- pending_channel fails after it
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	UNIQUE (merchant_id, merchant_withdrawal_no),
	CONSTRAINT withdrawals_paid_exactly
		CHECK (status <> 'succeeded' OR paid_amount = amount),
	CONSTRAINT withdrawals_finished
		CHECK ((status IN ('succeeded', 'failed')) =
		       (finished_at IS NOT NULL)),
	CONSTRAINT withdrawals_channel
		CHECK (status IN ('created', 'pending_channel', 'failed') OR
		       channel IS NOT NULL),
	CONSTRAINT withdrawals_pending
		CHECK (status <> 'pending_channel' OR next_route_at IS NOT NULL)
);

CREATE INDEX withdrawals_pending_idx ON withdrawals (next_route_at)
	WHERE status = 'pending_channel';
CREATE INDEX withdrawals_status_idx ON withdrawals (status, updated_at)
	WHERE status IN ('created', 'processing', 'unknown');
CREATE INDEX withdrawals_created_idx ON withdrawals (created_at);

-- The withdrawal state machine (core/orders/withdrawals.c has the same table;
-- t_withdrawals checks both).
--   created         -> pending_channel (no usable channel) | processing |
--                      failed
--   pending_channel -> processing (routed again) | failed (deadline)
--   processing      -> processing (cascade) | succeeded | failed | unknown
--   unknown         -> unknown | processing | succeeded | failed
CREATE FUNCTION pr_withdrawal_transition_ok(p_from text, p_to text)
	RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_from
		WHEN 'created' THEN p_to IN ('pending_channel', 'processing',
			'failed')
		WHEN 'pending_channel' THEN p_to IN ('processing', 'failed')
		WHEN 'processing' THEN p_to IN ('processing', 'succeeded',
			'failed', 'unknown')
		WHEN 'unknown' THEN p_to IN ('unknown', 'processing',
			'succeeded', 'failed')
		ELSE false
	END
$$;

CREATE FUNCTION pr_withdrawals_guard() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status IS DISTINCT FROM OLD.status AND
	   NOT pr_withdrawal_transition_ok(OLD.status, NEW.status) THEN
		RAISE EXCEPTION 'withdrawal %: % -> % is not a transition',
			OLD.id, OLD.status, NEW.status
			USING ERRCODE = 'check_violation';
	END IF;
	IF OLD.status IN ('succeeded', 'failed') AND
	   (NEW.amount, NEW.currency, NEW.channel, NEW.code, NEW.paid_amount)
	   IS DISTINCT FROM
	   (OLD.amount, OLD.currency, OLD.channel, OLD.code, OLD.paid_amount)
	THEN
		RAISE EXCEPTION 'withdrawal % is final (%)', OLD.id, OLD.status
			USING ERRCODE = 'check_violation';
	END IF;
	IF NEW.amount <> OLD.amount OR NEW.currency <> OLD.currency OR
	   NEW.merchant_id <> OLD.merchant_id OR
	   NEW.merchant_withdrawal_no <> OLD.merchant_withdrawal_no OR
	   NEW.payee_kind <> OLD.payee_kind OR
	   NEW.payee_account_enc <> OLD.payee_account_enc THEN
		RAISE EXCEPTION 'withdrawal %: amount, currency, merchant and '
			'payee never change', OLD.id
			USING ERRCODE = 'check_violation';
	END IF;
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

CREATE TRIGGER withdrawals_guard BEFORE UPDATE ON withdrawals
	FOR EACH ROW EXECUTE FUNCTION pr_withdrawals_guard();

-- The merchant-facing JSON of a withdrawal (doc/design.md §9): the answer
-- of the merchant API and the body of the merchant notification, defined
-- once. The payee's account appears masked only.
CREATE FUNCTION pr_withdrawal_json(w withdrawals, p_locale text)
	RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'id', w.id,
		'merchant_withdrawal_no', w.merchant_withdrawal_no,
		'status', CASE w.status WHEN 'created' THEN 'processing'
			ELSE w.status END,
		'channel', w.channel,
		'amount', w.amount,
		'currency', w.currency,
		'payee', jsonb_build_object('kind', w.payee_kind,
			'account', w.payee_account_mask,
			'name', w.payee_name,
			'bank_code', w.payee_bank_code),
		'code', w.code,
		'message', CASE WHEN p_locale = 'en' THEN w.message_en
			ELSE w.message_zh END,
		'messages', CASE WHEN w.code IS NULL THEN NULL ELSE
			jsonb_build_object('en', w.message_en,
					   'zh-CN', w.message_zh) END,
		'channel_trade_no', w.channel_trade_no,
		'deadline_at', CASE WHEN w.status = 'pending_channel' THEN
			to_char(w.deadline_at AT TIME ZONE 'UTC',
				'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END,
		'created_at', to_char(w.created_at AT TIME ZONE 'UTC',
			'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'finished_at', to_char(w.finished_at AT TIME ZONE 'UTC',
			'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
$$;

-- Claims up to p_limit pending_channel withdrawals due to be routed again
-- for p_instance, pushing next_route_at p_lease_s seconds ahead so that
-- no other instance takes them meanwhile (a crashed instance's claims come
-- due again when the lease ends). r_expired: past the deadline.
CREATE FUNCTION pr_withdrawals_claim(p_instance text, p_limit int,
		p_lease_s int)
	RETURNS TABLE (r_id text, r_expired boolean)
	LANGUAGE sql AS $$
	UPDATE withdrawals w
	SET next_route_at = now() + make_interval(secs => p_lease_s),
	    route_claimed_by = p_instance
	FROM (SELECT id FROM withdrawals
	      WHERE status = 'pending_channel' AND next_route_at <= now()
	      ORDER BY next_route_at LIMIT p_limit
	      FOR UPDATE SKIP LOCKED) d
	WHERE w.id = d.id
	RETURNING w.id, w.deadline_at <= now()
$$;

-- Moves withdrawal p_id to p_to if its status is one of p_from, with the
-- outcome fields given (NULL: unchanged), and in the same transaction:
-- records the event; for processing/unknown makes sure a completion check
-- is queued (due in p_check_s seconds; an existing one keeps its time
-- unless p_check_reset); for pending_channel schedules the next routing in
-- p_retry_s seconds; for a final state drops the check and queues the
-- merchant notification (when the withdrawal has a notify_url).
-- p_usage_released marks the current attempt's daily-limit reservation as
-- given back (the caller that flips it gives it back: r_released_before
-- says whether it was already).
-- Returns the row after the call and whether this call moved it
-- (r_changed false: it was in another state, nothing was written but the
-- event 'ignored').
CREATE FUNCTION pr_withdrawal_transition(p_id text, p_from text[],
		p_to text, p_actor text, p_event text, p_detail jsonb,
		p_channel text, p_code text, p_message_en text,
		p_message_zh text, p_channel_code text,
		p_channel_sub_code text, p_channel_message text,
		p_channel_trade_no text, p_paid_amount bigint,
		p_attempt boolean, p_usage_day date, p_usage_bank text,
		p_usage_amount bigint, p_usage_released boolean,
		p_trace jsonb, p_check_s int, p_check_reset boolean,
		p_retry_s int)
	RETURNS TABLE (r_changed boolean, r_from text,
		r_released_before boolean, r_withdrawal withdrawals)
	LANGUAGE plpgsql AS $$
DECLARE
	old_status text;
	old_released boolean;
	w withdrawals;
	m merchants;
BEGIN
	SELECT status, usage_released INTO old_status, old_released
	FROM withdrawals WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF NOT (old_status = ANY (p_from)) THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('withdrawal', p_id, p_actor, p_event || '.ignored',
			old_status, p_to, p_detail);
		SELECT * INTO w FROM withdrawals WHERE id = p_id;
		RETURN QUERY SELECT false, old_status, old_released, w;
		RETURN;
	END IF;
	UPDATE withdrawals SET
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
		next_route_at = CASE WHEN p_to = 'pending_channel' THEN
			now() + make_interval(secs => coalesce(p_retry_s, 5))
			ELSE NULL END,
		route_claimed_by = NULL,
		finished_at = CASE WHEN p_to IN ('succeeded', 'failed')
			THEN now() ELSE NULL END
	WHERE id = p_id
	RETURNING * INTO w;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('withdrawal', p_id, p_actor, p_event, old_status, p_to,
		p_detail);
	IF p_to IN ('processing', 'unknown') THEN
		INSERT INTO order_checks (kind, order_id, next_at)
		VALUES ('withdrawal', p_id,
			now() + make_interval(secs => p_check_s))
		ON CONFLICT (kind, order_id) DO UPDATE
		SET next_at = CASE WHEN p_check_reset THEN EXCLUDED.next_at
			ELSE order_checks.next_at END,
		    checks = CASE WHEN p_check_reset THEN 0
			ELSE order_checks.checks END,
		    attention = CASE WHEN p_check_reset THEN false
			ELSE order_checks.attention END,
		    updated_at = now();
	ELSIF p_to IN ('succeeded', 'failed') THEN
		DELETE FROM order_checks
		WHERE kind = 'withdrawal' AND order_id = p_id;
		IF w.notify_url IS NOT NULL AND w.notify_url <> '' THEN
			SELECT * INTO m FROM merchants
			WHERE id = w.merchant_id;
			INSERT INTO merchant_notifications (merchant_id, kind,
				order_id, event, url, body)
			VALUES (w.merchant_id, 'withdrawal', w.id,
				'withdrawal.' || p_to, w.notify_url,
				(jsonb_build_object('event',
					'withdrawal.' || p_to, 'withdrawal',
					pr_withdrawal_json(w, m.locale)))::text)
			ON CONFLICT (kind, order_id, event) DO NOTHING;
		END IF;
	END IF;
	RETURN QUERY SELECT true, old_status, old_released, w;
END
$$;
