-- 008_order_path.sql - every order written in two commits (doc/design.md
-- §5). Applied by payrouted inside a transaction it opens.
--
-- A payment or withdrawal is stored once before its channel is called and
-- once after the answer; a refund likewise; a callback or a completion
-- check is one statement:
--
--   the first commit: the Idempotency-Key (when one was given), the order
--     row with its route trace and the first attempt (channel, daily-usage
--     reservation), its first event and its completion check row; or, when
--     no channel could take it, the order in its end state with the
--     merchant notification;
--   every later change: a conditional transition (from an expected state)
--     with its event, the check row, the notification of a final state, a
--     next attempt of a cascade, and the answer kept under the
--     Idempotency-Key.
--
-- For payments and withdrawals these are single statements the daemon
-- prepares (data-modifying WITH clauses: PR_BEGIN_SQL in core/orders/flow.h and
-- PR_APPLY_SQL in core/orders/ordstore.h): measured, a PL/pgSQL function around
-- the same writes cost a third more of the server's CPU. Refunds, rarer
-- and with more checks, keep functions: pr_refund_begin, pr_refund_apply.
-- The state machines stay the triggers' of 004-006, whoever writes.
--
-- Orders are inserted in the state their first commit leaves them in; the
-- first event still says it left 'created', as every order's history has.
--
-- What the daemon shows merchants (the JSON of an order, the answer kept
-- under an Idempotency-Key, the body of a notification) is built by the
-- daemon, in C, from the row's columns: no JSON is built per order in
-- SQL any more. created_at and finished_at are therefore the daemon's
-- clock (its "now" parameter), so that the answer it builds before the
-- commit is the row it commits; updated_at stays the server's.
--
-- The functions of 004-006 these replace (pr_payment_transition,
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

-- An index that names status makes every transition a non-HOT update (a
-- new entry in every index of the table, and the WAL for it): about a
-- third of the store's CPU per payment. payments_status_idx and
-- withdrawals_status_idx only served the sweep of payments an interrupted
-- daemon left in 'created'. This version never leaves an order there (the
-- first commit stores it in the state its first attempt puts it in), so
-- the sweep runs once, here, for the rows of the previous version older
-- than five minutes; a daemon of the previous version still running
-- during the upgrade may leave more, which this statement fails again:
--   SELECT count(*) FROM (SELECT id FROM payments WHERE status = 'created'
--     AND created_at < now() - interval '5 minutes') p,
--     LATERAL pr_payment_transition(p.id, '{created}', 'failed', 'upgrade',
--     'sweep', NULL, NULL, 'NO_CHANNEL', 'The payment could not be sent;
--     please try again.', '支付未能发出，请重试。', NULL, NULL, NULL, NULL,
--     NULL, NULL, false, NULL, NULL, NULL, true, NULL, 0, false) t;
SELECT count(*) FROM (SELECT id FROM payments WHERE status = 'created'
	AND created_at < now() - interval '5 minutes') p,
	LATERAL pr_payment_transition(p.id, '{created}', 'failed', 'migration 008',
	'sweep', '{"reason": "interrupted before it was sent"}', NULL,
	'NO_CHANNEL', 'The payment could not be sent; please try again.',
	'支付未能发出，请重试。', NULL, NULL, NULL, NULL, NULL, NULL, false, NULL,
	NULL, NULL, true, NULL, 0, false) t;
DROP INDEX payments_status_idx;
DROP INDEX withdrawals_status_idx;

-- ----------------------------------------------------------- helpers

-- A daemon's clock reading (ms since the epoch) as a timestamp.
CREATE FUNCTION pr_ms_time(p_ms bigint) RETURNS timestamptz
	LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_ms IS NULL THEN NULL
		ELSE timestamptz 'epoch' + p_ms * interval '1 millisecond' END
$$;

-- The Idempotency-Key part of a refund's begin: claims (p_merchant,
-- p_key) for order p_order; when the key exists already, returns it (and
-- claims nothing). A key of the previous version left in progress for
-- five minutes without an order is deleted and claimed anew.
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
