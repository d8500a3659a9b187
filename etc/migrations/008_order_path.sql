-- 008_order_path.sql - every order written in two commits (doc/design.md,
-- "The order path"). Applied by payrouted inside a transaction it opens.
--
-- Orders are inserted in the state their first commit leaves them in; the
-- first event still says it left 'created', as every order's history has.
--
-- A payment or withdrawal is stored once before its channel is called and
-- once after the answer; a refund likewise; a callback or a completion
-- check is one statement. Each of these is one call of a function below:
--
--   pr_payment_begin / pr_withdrawal_begin / pr_refund_begin: the first
--     commit: the Idempotency-Key (when one was given), the order row with
--     its route trace and the first attempt (channel, daily-usage
--     reservation), its first event and its completion check row; or,
--     when no channel could take it, the order in its end state with the
--     merchant notification;
--   pr_payment_apply / pr_withdrawal_apply / pr_refund_apply: every later
--     change: a conditional transition (from an expected state) with its
--     event, the check row, the notification of a final state, a next
--     attempt of a cascade, and the answer stored under the
--     Idempotency-Key.
--
-- What the daemon shows merchants (the JSON of an order, the answer kept
-- under an Idempotency-Key, the body of a notification) is built by the
-- daemon, in C, from the row's columns: no JSON is built per order in
-- SQL any more. created_at and finished_at are therefore the daemon's
-- clock (p_now_ms), so that the answer it builds before the commit is the
-- row it commits; updated_at stays the server's.
--
-- The functions of 004-006 they replace (pr_payment_transition,
-- pr_withdrawal_transition, pr_refund_create, pr_refund_transition and
-- the *_json functions) stay for daemons of the previous version during a
-- rolling upgrade.

-- ------------------------------------------------------------- tables

-- A notification's body is built by the daemon that delivers it, from the
-- order (a final order no longer changes), and kept once sent.
ALTER TABLE merchant_notifications ALTER COLUMN body DROP NOT NULL;

-- The order an Idempotency-Key created: a key left in progress by a
-- daemon that died is answered with that order.
ALTER TABLE idempotency_keys ADD COLUMN order_id text;

-- ----------------------------------------------------------- helpers

-- A daemon's clock reading (ms since the epoch) as a timestamp.
CREATE FUNCTION pr_ms_time(p_ms bigint) RETURNS timestamptz
	LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_ms IS NULL THEN NULL
		ELSE timestamptz 'epoch' + p_ms * interval '1 millisecond' END
$$;

-- The Idempotency-Key part of a begin: claims (p_merchant, p_key) for
-- order p_order; when the key exists already, returns it (and claims
-- nothing). A key left in progress for five minutes by an order that
-- never got stored (a daemon died between claiming it and... nothing:
-- both are one commit now; this covers keys of the previous version) is
-- deleted and claimed anew.
CREATE FUNCTION pr_idem_claim(p_merchant text, p_key text,
		p_endpoint text, p_hash text, p_order text, p_final boolean,
		p_body text)
	RETURNS idempotency_keys
	LANGUAGE plpgsql AS $$
DECLARE
	k idempotency_keys;
BEGIN
	FOR i IN 1 .. 2 LOOP
		INSERT INTO idempotency_keys (merchant_id, key, endpoint,
			request_hash, order_id, state, status, body)
		VALUES (p_merchant, p_key, p_endpoint, p_hash, p_order,
			CASE WHEN p_final THEN 'done' ELSE 'in_progress' END,
			CASE WHEN p_final THEN 201 END,
			CASE WHEN p_final THEN p_body END)
		ON CONFLICT (merchant_id, key) DO NOTHING;
		IF FOUND THEN
			RETURN NULL;
		END IF;
		SELECT * INTO k FROM idempotency_keys
		WHERE merchant_id = p_merchant AND key = p_key;
		IF NOT FOUND THEN
			CONTINUE; -- expired meanwhile: claim it
		END IF;
		IF k.state = 'in_progress' AND k.order_id IS NULL AND
		   k.created_at < now() - interval '5 minutes' THEN
			DELETE FROM idempotency_keys
			WHERE merchant_id = p_merchant AND key = p_key
			  AND state = 'in_progress';
			CONTINUE;
		END IF;
		RETURN k;
	END LOOP;
	RETURN k;
END
$$;

-- ---------------------------------------------------------- payments

-- The first commit of a payment (see the top). p_status is 'processing'
-- (the first attempt, on p_channel with its reservation) or 'failed' (no
-- channel could take it: p_code says why). p_idem_body is the answer kept
-- under the key when the payment ends here.
-- r_result: 'created'; 'duplicate' (the merchant_order_no is taken:
-- r_other_id, r_other_hash; the key, if any, is claimed and left for the
-- caller to finish); 'key' (the Idempotency-Key exists: its row, nothing
-- else written).
CREATE FUNCTION pr_payment_begin(p_id text, p_merchant text,
		p_order_no text, p_hash text, p_amount bigint,
		p_currency text, p_method text, p_environment text,
		p_product_code text, p_buyer_id text, p_seller_id text,
		p_card_hmac text, p_card_last4 text, p_bank_code text,
		p_subject text, p_notify_url text, p_client_ip text,
		p_expire_ms bigint, p_trace jsonb,
		p_actor text, p_now_ms bigint, p_status text,
		p_channel text, p_usage_day int, p_usage_bank text,
		p_usage_amount bigint, p_detail jsonb, p_check_s int,
		p_code text, p_message_en text, p_message_zh text,
		p_idem_key text, p_idem_endpoint text, p_idem_body text)
	RETURNS TABLE (r_result text, r_other_id text, r_other_hash text,
		r_key idempotency_keys)
	LANGUAGE plpgsql AS $$
DECLARE
	fin boolean := p_status <> 'processing';
	k idempotency_keys;
BEGIN
	IF p_idem_key IS NOT NULL THEN
		k := pr_idem_claim(p_merchant, p_idem_key, p_idem_endpoint,
			p_hash, p_id, fin, p_idem_body);
		IF k.key IS NOT NULL THEN
			RETURN QUERY SELECT 'key'::text, NULL::text, NULL::text,
				k;
			RETURN;
		END IF;
	END IF;
	INSERT INTO payments (id, merchant_id, merchant_order_no,
		request_hash, amount, currency, method, environment,
		product_code, buyer_id, seller_id, card_hmac, card_last4,
		bank_code, subject, notify_url, client_ip, expire_at, trace,
		status, channel, attempts, usage_day, usage_bank, usage_amount,
		code, message_en, message_zh, created_at, finished_at)
	VALUES (p_id, p_merchant, p_order_no, p_hash, p_amount, p_currency,
		p_method, p_environment, p_product_code, p_buyer_id,
		p_seller_id, p_card_hmac, p_card_last4, p_bank_code, p_subject,
		p_notify_url, p_client_ip, pr_ms_time(p_expire_ms), p_trace,
		p_status, p_channel, CASE WHEN p_channel IS NULL THEN 0 ELSE 1 END,
		DATE '1970-01-01' + p_usage_day, p_usage_bank, p_usage_amount,
		p_code, p_message_en, p_message_zh, pr_ms_time(p_now_ms),
		CASE WHEN fin THEN pr_ms_time(p_now_ms) END)
	ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'duplicate'::text, p.id, p.request_hash,
			NULL::idempotency_keys
		FROM payments p
		WHERE p.merchant_id = p_merchant
		  AND p.merchant_order_no = p_order_no;
		RETURN;
	END IF;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('payment', p_id, p_actor,
		CASE WHEN fin THEN 'answer' ELSE 'attempt' END, 'created',
		p_status, p_detail);
	IF fin THEN
		IF coalesce(p_notify_url, '') <> '' THEN
			INSERT INTO merchant_notifications (merchant_id, kind,
				order_id, event, url)
			VALUES (p_merchant, 'payment', p_id,
				'payment.' || p_status, p_notify_url);
		END IF;
	ELSE
		INSERT INTO order_checks (kind, order_id, next_at)
		VALUES ('payment', p_id,
			now() + make_interval(secs => p_check_s));
	END IF;
	RETURN QUERY SELECT 'created'::text, NULL::text, NULL::text,
		NULL::idempotency_keys;
END
$$;

-- Every later change of a payment: moves it to p_to when its status is
-- one of p_from, with the outcome fields given (NULL: unchanged), and in
-- the same transaction: the event; a next attempt when p_channel is given
-- (its reservation replaces the current one; in a cascade, where the event
-- is the answer of the attempt before, an 'attempt' event with
-- p_attempt_detail follows); for processing/unknown
-- the check row (due in p_check_s when there is none, or when
-- p_check_reset); for a final state the check row dropped and the
-- merchant notification queued; the answer p_idem_body stored under the
-- Idempotency-Key p_idem_key. A failed or closed payment, or p_release,
-- gives the current reservation back (usage_released).
-- Guards, checked first: the payment's channel must be p_guard_channel
-- and its amount p_guard_amount (when given); otherwise nothing is written
-- and r_result is 'guard'.
-- Returns r_result 'changed', 'ignored' (it was in another state: only
-- the event '<event>.ignored' is written) or 'guard'; the status and the
-- reservation before the call (the caller that flipped usage_released, or
-- replaced an unreleased reservation, gives that one back); and the row
-- after the call. No row: no such payment.
CREATE FUNCTION pr_payment_apply(p_id text, p_from text[], p_to text,
		p_actor text, p_event text, p_detail jsonb, p_now_ms bigint,
		p_channel text, p_usage_day int, p_usage_bank text,
		p_usage_amount bigint, p_attempt_detail jsonb,
		p_release boolean, p_code text, p_message_en text,
		p_message_zh text, p_channel_code text,
		p_channel_sub_code text, p_channel_message text,
		p_channel_trade_no text, p_payer jsonb, p_paid_amount bigint,
		p_trace jsonb, p_check_s int, p_check_reset boolean,
		p_retry_s int, p_guard_channel text, p_guard_amount bigint,
		p_idem_key text, p_idem_body text)
	RETURNS TABLE (r_result text, r_from text, r_released_before boolean,
		r_old_channel text, r_old_day int, r_old_bank text,
		r_old_amount bigint, r_row payments)
	LANGUAGE plpgsql AS $$
DECLARE
	o payments;
	p payments;
	fin boolean := p_to IN ('succeeded', 'failed', 'closed');
BEGIN
	SELECT * INTO o FROM payments WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF (p_guard_channel IS NOT NULL AND
	    o.channel IS DISTINCT FROM p_guard_channel) OR
	   (p_guard_amount IS NOT NULL AND o.amount <> p_guard_amount) THEN
		RETURN QUERY SELECT 'guard'::text, o.status, o.usage_released,
			o.channel, o.usage_day - DATE '1970-01-01', o.usage_bank,
			o.usage_amount, o;
		RETURN;
	END IF;
	IF NOT (o.status = ANY (p_from)) THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('payment', p_id, p_actor, p_event || '.ignored',
			o.status, p_to, p_detail);
		RETURN QUERY SELECT 'ignored'::text, o.status, o.usage_released,
			o.channel, o.usage_day - DATE '1970-01-01', o.usage_bank,
			o.usage_amount, o;
		RETURN;
	END IF;
	UPDATE payments SET
		status = p_to,
		channel = coalesce(p_channel, channel),
		attempts = attempts + CASE WHEN p_channel IS NULL THEN 0
			ELSE 1 END,
		usage_day = CASE WHEN p_channel IS NULL THEN usage_day
			ELSE DATE '1970-01-01' + p_usage_day END,
		usage_bank = CASE WHEN p_channel IS NULL THEN usage_bank
			ELSE p_usage_bank END,
		usage_amount = CASE WHEN p_channel IS NULL THEN usage_amount
			ELSE p_usage_amount END,
		usage_released = CASE WHEN p_channel IS NOT NULL THEN false
			ELSE usage_released OR p_release OR
				p_to IN ('failed', 'closed') END,
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
		paid_amount = CASE WHEN p_to = 'succeeded'
			THEN coalesce(p_paid_amount, amount) ELSE paid_amount END,
		trace = coalesce(p_trace, trace),
		finished_at = CASE WHEN fin THEN pr_ms_time(p_now_ms) END
	WHERE id = p_id
	RETURNING * INTO p;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('payment', p_id, p_actor, p_event, o.status, p_to, p_detail);
	IF p_attempt_detail IS NOT NULL THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('payment', p_id, p_actor, 'attempt', p_to, p_to,
			p_attempt_detail);
	END IF;
	IF fin THEN
		DELETE FROM order_checks
		WHERE kind = 'payment' AND order_id = p_id;
		IF coalesce(p.notify_url, '') <> '' THEN
			INSERT INTO merchant_notifications (merchant_id, kind,
				order_id, event, url)
			VALUES (p.merchant_id, 'payment', p_id,
				'payment.' || p_to, p.notify_url)
			ON CONFLICT (kind, order_id, event) DO NOTHING;
		END IF;
	ELSIF p_to IN ('processing', 'unknown') THEN
		INSERT INTO order_checks AS c (kind, order_id, next_at)
		VALUES ('payment', p_id,
			now() + make_interval(secs => p_check_s))
		ON CONFLICT (kind, order_id) DO UPDATE
		SET next_at = EXCLUDED.next_at, checks = 0, attention = false,
		    updated_at = now()
		WHERE p_check_reset;
	END IF;
	IF p_idem_key IS NOT NULL THEN
		UPDATE idempotency_keys SET state = 'done', status = 201,
			body = p_idem_body, updated_at = now()
		WHERE merchant_id = p.merchant_id AND key = p_idem_key
		  AND state = 'in_progress';
	END IF;
	RETURN QUERY SELECT 'changed'::text, o.status, o.usage_released,
		o.channel, o.usage_day - DATE '1970-01-01', o.usage_bank,
		o.usage_amount,
		p;
END
$$;

-- ------------------------------------------------------- withdrawals

-- The first commit of a withdrawal: as pr_payment_begin, with
-- p_status 'processing' (the first attempt), 'pending_channel' (no usable
-- channel now: routed again in p_retry_s) or 'failed'.
CREATE FUNCTION pr_withdrawal_begin(p_id text, p_merchant text,
		p_no text, p_hash text, p_amount bigint, p_currency text,
		p_payee_kind text, p_account_enc text, p_account_mask text,
		p_payee_name text, p_payee_bank_code text, p_method text,
		p_notify_url text, p_client_ip text, p_deadline_s int,
		p_trace jsonb,
		p_actor text, p_now_ms bigint, p_status text,
		p_channel text, p_usage_day int, p_usage_bank text,
		p_usage_amount bigint, p_detail jsonb, p_check_s int,
		p_retry_s int, p_code text, p_message_en text,
		p_message_zh text, p_idem_key text, p_idem_endpoint text,
		p_idem_body text)
	RETURNS TABLE (r_result text, r_other_id text, r_other_hash text,
		r_key idempotency_keys)
	LANGUAGE plpgsql AS $$
DECLARE
	fin boolean := p_status NOT IN ('processing', 'pending_channel');
	k idempotency_keys;
BEGIN
	IF p_idem_key IS NOT NULL THEN
		-- A pending withdrawal's answer is final for its key too: the
		-- merchant follows it by id or notification.
		k := pr_idem_claim(p_merchant, p_idem_key, p_idem_endpoint,
			p_hash, p_id, p_status <> 'processing', p_idem_body);
		IF k.key IS NOT NULL THEN
			RETURN QUERY SELECT 'key'::text, NULL::text, NULL::text,
				k;
			RETURN;
		END IF;
	END IF;
	INSERT INTO withdrawals (id, merchant_id, merchant_withdrawal_no,
		request_hash, amount, currency, payee_kind, payee_account_enc,
		payee_account_mask, payee_name, payee_bank_code, method,
		notify_url, client_ip, trace, deadline_at, status, channel,
		attempts, usage_day, usage_bank, usage_amount, code,
		message_en, message_zh, next_route_at, created_at,
		finished_at)
	VALUES (p_id, p_merchant, p_no, p_hash, p_amount, p_currency,
		p_payee_kind, p_account_enc, p_account_mask, p_payee_name,
		p_payee_bank_code, p_method, p_notify_url, p_client_ip, p_trace,
		pr_ms_time(p_now_ms) + make_interval(secs => p_deadline_s),
		p_status, p_channel,
		CASE WHEN p_channel IS NULL THEN 0 ELSE 1 END,
		DATE '1970-01-01' + p_usage_day, p_usage_bank, p_usage_amount,
		p_code, p_message_en, p_message_zh,
		CASE WHEN p_status = 'pending_channel' THEN
			now() + make_interval(secs => p_retry_s) END,
		pr_ms_time(p_now_ms),
		CASE WHEN fin THEN pr_ms_time(p_now_ms) END)
	ON CONFLICT (merchant_id, merchant_withdrawal_no) DO NOTHING;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'duplicate'::text, w.id, w.request_hash,
			NULL::idempotency_keys
		FROM withdrawals w
		WHERE w.merchant_id = p_merchant
		  AND w.merchant_withdrawal_no = p_no;
		RETURN;
	END IF;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('withdrawal', p_id, p_actor,
		CASE p_status WHEN 'processing' THEN 'attempt'
			WHEN 'pending_channel' THEN 'pending' ELSE 'answer' END,
		'created', p_status, p_detail);
	IF fin THEN
		IF coalesce(p_notify_url, '') <> '' THEN
			INSERT INTO merchant_notifications (merchant_id, kind,
				order_id, event, url)
			VALUES (p_merchant, 'withdrawal', p_id,
				'withdrawal.' || p_status, p_notify_url);
		END IF;
	ELSIF p_status = 'processing' THEN
		INSERT INTO order_checks (kind, order_id, next_at)
		VALUES ('withdrawal', p_id,
			now() + make_interval(secs => p_check_s));
	END IF;
	RETURN QUERY SELECT 'created'::text, NULL::text, NULL::text,
		NULL::idempotency_keys;
END
$$;

-- Every later change of a withdrawal: pr_payment_apply's contract (the
-- same parameters; p_payer is unused), and pending_channel schedules the
-- next routing in p_retry_s seconds.
CREATE FUNCTION pr_withdrawal_apply(p_id text, p_from text[], p_to text,
		p_actor text, p_event text, p_detail jsonb, p_now_ms bigint,
		p_channel text, p_usage_day int, p_usage_bank text,
		p_usage_amount bigint, p_attempt_detail jsonb,
		p_release boolean, p_code text, p_message_en text,
		p_message_zh text, p_channel_code text,
		p_channel_sub_code text, p_channel_message text,
		p_channel_trade_no text, p_payer jsonb, p_paid_amount bigint,
		p_trace jsonb, p_check_s int, p_check_reset boolean,
		p_retry_s int, p_guard_channel text, p_guard_amount bigint,
		p_idem_key text, p_idem_body text)
	RETURNS TABLE (r_result text, r_from text, r_released_before boolean,
		r_old_channel text, r_old_day int, r_old_bank text,
		r_old_amount bigint, r_row withdrawals)
	LANGUAGE plpgsql AS $$
DECLARE
	o withdrawals;
	w withdrawals;
	fin boolean := p_to IN ('succeeded', 'failed');
BEGIN
	SELECT * INTO o FROM withdrawals WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF (p_guard_channel IS NOT NULL AND
	    o.channel IS DISTINCT FROM p_guard_channel) OR
	   (p_guard_amount IS NOT NULL AND o.amount <> p_guard_amount) THEN
		RETURN QUERY SELECT 'guard'::text, o.status, o.usage_released,
			o.channel, o.usage_day - DATE '1970-01-01', o.usage_bank,
			o.usage_amount, o;
		RETURN;
	END IF;
	IF NOT (o.status = ANY (p_from)) THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('withdrawal', p_id, p_actor, p_event || '.ignored',
			o.status, p_to, p_detail);
		RETURN QUERY SELECT 'ignored'::text, o.status, o.usage_released,
			o.channel, o.usage_day - DATE '1970-01-01', o.usage_bank,
			o.usage_amount, o;
		RETURN;
	END IF;
	UPDATE withdrawals SET
		status = p_to,
		channel = coalesce(p_channel, channel),
		attempts = attempts + CASE WHEN p_channel IS NULL THEN 0
			ELSE 1 END,
		usage_day = CASE WHEN p_channel IS NULL THEN usage_day
			ELSE DATE '1970-01-01' + p_usage_day END,
		usage_bank = CASE WHEN p_channel IS NULL THEN usage_bank
			ELSE p_usage_bank END,
		usage_amount = CASE WHEN p_channel IS NULL THEN usage_amount
			ELSE p_usage_amount END,
		usage_released = CASE WHEN p_channel IS NOT NULL THEN false
			ELSE usage_released OR p_release OR p_to = 'failed' END,
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
		paid_amount = CASE WHEN p_to = 'succeeded'
			THEN coalesce(p_paid_amount, amount) ELSE paid_amount END,
		trace = coalesce(p_trace, trace),
		next_route_at = CASE WHEN p_to = 'pending_channel' THEN
			now() + make_interval(secs => coalesce(p_retry_s, 5))
			END,
		route_claimed_by = NULL,
		finished_at = CASE WHEN fin THEN pr_ms_time(p_now_ms) END
	WHERE id = p_id
	RETURNING * INTO w;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('withdrawal', p_id, p_actor, p_event, o.status, p_to,
		p_detail);
	IF p_attempt_detail IS NOT NULL THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('withdrawal', p_id, p_actor, 'attempt', p_to, p_to,
			p_attempt_detail);
	END IF;
	IF fin THEN
		DELETE FROM order_checks
		WHERE kind = 'withdrawal' AND order_id = p_id;
		IF coalesce(w.notify_url, '') <> '' THEN
			INSERT INTO merchant_notifications (merchant_id, kind,
				order_id, event, url)
			VALUES (w.merchant_id, 'withdrawal', p_id,
				'withdrawal.' || p_to, w.notify_url)
			ON CONFLICT (kind, order_id, event) DO NOTHING;
		END IF;
	ELSIF p_to IN ('processing', 'unknown') THEN
		INSERT INTO order_checks AS c (kind, order_id, next_at)
		VALUES ('withdrawal', p_id,
			now() + make_interval(secs => p_check_s))
		ON CONFLICT (kind, order_id) DO UPDATE
		SET next_at = EXCLUDED.next_at, checks = 0, attention = false,
		    updated_at = now()
		WHERE p_check_reset;
	END IF;
	IF p_idem_key IS NOT NULL THEN
		UPDATE idempotency_keys SET state = 'done', status = 201,
			body = p_idem_body, updated_at = now()
		WHERE merchant_id = w.merchant_id AND key = p_idem_key
		  AND state = 'in_progress';
	END IF;
	RETURN QUERY SELECT 'changed'::text, o.status, o.usage_released,
		o.channel, o.usage_day - DATE '1970-01-01', o.usage_bank,
		o.usage_amount,
		w;
END
$$;

-- ----------------------------------------------------------- refunds

-- The first commit of a refund of payment p_payment: locks the payment,
-- checks that it is the merchant's, succeeded, in p_currency (NULL: the
-- payment's) and that this refund fits (refund_reserved + amount <=
-- amount), raises refund_reserved, and inserts the refund in p_status:
-- 'processing' (sent now: its attempt event and check row) or 'overdue'
-- (past its channel's refund window, p_overdue_reason: not sent).
-- r_result: 'created', 'duplicate' (the merchant_refund_no exists:
-- r_refund and r_hash are that one's), 'key' (r_key), 'no_payment',
-- 'not_refundable', 'currency', 'exceeds' (r_refundable says what is
-- left).
CREATE FUNCTION pr_refund_begin(p_id text, p_payment text,
		p_merchant text, p_refund_no text, p_hash text,
		p_amount bigint, p_currency text, p_reason text, p_stage text,
		p_notify_url text, p_actor text, p_now_ms bigint,
		p_status text, p_overdue_reason text, p_code text,
		p_message_en text, p_message_zh text, p_detail jsonb,
		p_check_s int, p_idem_key text, p_idem_endpoint text)
	RETURNS TABLE (r_result text, r_refund text, r_hash text,
		r_refundable bigint, r_key idempotency_keys, r_row refunds)
	LANGUAGE plpgsql AS $$
DECLARE
	p payments;
	m merchants;
	k idempotency_keys;
	dup refunds;
	rr refunds;
BEGIN
	IF p_idem_key IS NOT NULL THEN
		k := pr_idem_claim(p_merchant, p_idem_key, p_idem_endpoint,
			p_hash, p_id, false, NULL);
		IF k.key IS NOT NULL THEN
			RETURN QUERY SELECT 'key'::text, NULL::text, NULL::text,
				0::bigint, k, NULL::refunds;
			RETURN;
		END IF;
	END IF;
	SELECT * INTO p FROM payments
	WHERE id = p_payment AND merchant_id = p_merchant FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'no_payment'::text, NULL::text, NULL::text,
			0::bigint, NULL::idempotency_keys, NULL::refunds;
		RETURN;
	END IF;
	SELECT * INTO dup FROM refunds
	WHERE merchant_id = p_merchant AND merchant_refund_no = p_refund_no;
	IF FOUND THEN
		RETURN QUERY SELECT 'duplicate'::text, dup.id, dup.request_hash,
			p.amount - p.refund_reserved, NULL::idempotency_keys,
			NULL::refunds;
		RETURN;
	END IF;
	IF p.status <> 'succeeded' THEN
		RETURN QUERY SELECT 'not_refundable'::text, NULL::text,
			NULL::text, 0::bigint, NULL::idempotency_keys, NULL::refunds;
		RETURN;
	END IF;
	IF p.currency <> coalesce(p_currency, p.currency) THEN
		RETURN QUERY SELECT 'currency'::text, NULL::text, NULL::text,
			p.amount - p.refund_reserved, NULL::idempotency_keys,
			NULL::refunds;
		RETURN;
	END IF;
	IF p.refund_reserved + p_amount > p.amount THEN
		RETURN QUERY SELECT 'exceeds'::text, NULL::text, NULL::text,
			p.amount - p.refund_reserved, NULL::idempotency_keys,
			NULL::refunds;
		RETURN;
	END IF;
	SELECT * INTO m FROM merchants WHERE id = p_merchant;
	UPDATE payments SET refund_reserved = refund_reserved + p_amount
	WHERE id = p_payment;
	INSERT INTO refunds (id, payment_id, merchant_id, merchant_refund_no,
		request_hash, amount, currency, reason, stage, borne_by,
		accounting, channel, request_no, notify_url, status, attempts,
		overdue_reason, overdue_at, code, message_en, message_zh,
		created_at)
	VALUES (p_id, p_payment, p_merchant, p_refund_no, p_hash, p_amount,
		p.currency, p_reason, p_stage,
		CASE WHEN p_stage = 'pre_delivery' THEN 'merchant'
			ELSE m.post_delivery_bearer END,
		CASE WHEN p_stage = 'pre_delivery' THEN 'settlement_reversal'
			ELSE 'after_sale' END,
		p.channel, p_id, p_notify_url, p_status,
		CASE WHEN p_status = 'processing' THEN 1 ELSE 0 END,
		p_overdue_reason,
		CASE WHEN p_status = 'overdue' THEN now() END,
		p_code, p_message_en, p_message_zh, pr_ms_time(p_now_ms))
	RETURNING * INTO rr;
	INSERT INTO order_events (kind, order_id, actor, event, to_status,
		detail)
	VALUES ('refund', p_id, p_actor, 'create', 'created',
		jsonb_build_object('payment', p_payment, 'amount', p_amount,
			'stage', p_stage));
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('refund', p_id, p_actor,
		CASE WHEN p_status = 'processing' THEN 'attempt'
			ELSE 'window' END,
		'created', p_status, p_detail);
	IF p_status = 'processing' THEN
		INSERT INTO order_checks (kind, order_id, next_at)
		VALUES ('refund', p_id,
			now() + make_interval(secs => p_check_s));
	END IF;
	RETURN QUERY SELECT 'created'::text, p_id, NULL::text,
		p.amount - p.refund_reserved - p_amount, NULL::idempotency_keys,
		rr;
END
$$;

-- Every later change of a refund: pr_refund_transition's contract
-- (006), without the JSON, with the daemon's clock for finished_at, the
-- notification's body left to the daemon that delivers it, and the
-- answer p_idem_body stored under the Idempotency-Key p_idem_key.
CREATE FUNCTION pr_refund_apply(p_id text, p_from text[], p_to text,
		p_actor text, p_event text, p_detail jsonb, p_now_ms bigint,
		p_code text, p_message_en text, p_message_zh text,
		p_channel_code text, p_channel_sub_code text,
		p_channel_message text, p_channel_refund_no text,
		p_overdue_reason text, p_request_no text, p_check_s int,
		p_resolution text, p_resolution_note text, p_withdrawal text,
		p_idem_key text, p_idem_body text)
	RETURNS TABLE (r_result text, r_from text, r_row refunds)
	LANGUAGE plpgsql AS $$
DECLARE
	o refunds;
	r refunds;
	fin boolean := p_to IN ('succeeded', 'failed', 'resolved');
BEGIN
	SELECT * INTO o FROM refunds WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF NOT (o.status = ANY (p_from)) THEN
		INSERT INTO order_events (kind, order_id, actor, event,
			from_status, to_status, detail)
		VALUES ('refund', p_id, p_actor, p_event || '.ignored',
			o.status, p_to, p_detail);
		RETURN QUERY SELECT 'ignored'::text, o.status, o;
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
			o.status <> 'overdue' THEN now() ELSE overdue_at END,
		request_no = coalesce(p_request_no, request_no),
		attempts = attempts + CASE WHEN p_to = 'processing' AND
			o.status <> 'processing' THEN 1 ELSE 0 END,
		resolution = CASE WHEN p_to = 'resolved' THEN p_resolution
			ELSE resolution END,
		resolution_note = CASE WHEN p_to = 'resolved'
			THEN p_resolution_note ELSE resolution_note END,
		resolved_by = CASE WHEN p_to = 'resolved' THEN p_actor
			ELSE resolved_by END,
		resolution_withdrawal_id = CASE WHEN p_to = 'resolved'
			THEN p_withdrawal ELSE resolution_withdrawal_id END,
		finished_at = CASE WHEN fin THEN pr_ms_time(p_now_ms) END
	WHERE id = p_id
	RETURNING * INTO r;
	INSERT INTO order_events (kind, order_id, actor, event, from_status,
		to_status, detail)
	VALUES ('refund', p_id, p_actor, p_event, o.status, p_to, p_detail);
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
		SET next_at = EXCLUDED.next_at, attention = false,
		    updated_at = now()
		WHERE o.status <> p_to;
	ELSE
		DELETE FROM order_checks
		WHERE kind = 'refund' AND order_id = p_id;
	END IF;
	IF fin AND coalesce(r.notify_url, '') <> '' THEN
		INSERT INTO merchant_notifications (merchant_id, kind, order_id,
			event, url)
		VALUES (r.merchant_id, 'refund', r.id, 'refund.' || p_to,
			r.notify_url)
		ON CONFLICT (kind, order_id, event) DO NOTHING;
	END IF;
	IF p_idem_key IS NOT NULL THEN
		UPDATE idempotency_keys SET state = 'done', status = 201,
			body = p_idem_body, updated_at = now()
		WHERE merchant_id = r.merchant_id AND key = p_idem_key
		  AND state = 'in_progress';
	END IF;
	RETURN QUERY SELECT 'changed'::text, o.status, r;
END
$$;
