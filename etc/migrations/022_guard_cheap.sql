-- 022_guard_cheap.sql - the guard triggers of payments and withdrawals
-- (migration 017) for less CPU, every rule kept (doc/design.md §7, §10;
-- issue 11). Applied by payrouted inside a transaction it opens.
--
-- PL/pgSQL keeps a function's plans for the session but makes each
-- expression ready again (ExecInitExpr) in every transaction that
-- evaluates it, and a payment's two statements are two transactions. The
-- guard of 017 evaluated four expressions on an INSERT (the operation,
-- the rules of the columns that never change, the merchant's lookup
-- result, the rules of the others) and six on an UPDATE (the operation,
-- the transition, the final state, the columns that never change, the
-- new updated_at, the rules). Here each table has one function per
-- operation (a BEFORE INSERT and a BEFORE UPDATE trigger: still the
-- only BEFORE row trigger of each operation, so it checks the row that
-- is written), and each function tests all its rules in one expression:
-- a row that keeps them (every row the daemon writes) evaluates one
-- expression (and on INSERT the merchant's lookup), an UPDATE one more
-- (updated_at). Only a row that breaks a rule runs the tests one by one,
-- in 017's order, to raise the same error (SQLSTATE, message, constraint
-- and column) as before.
--
-- Measured and left as they were (contrib/bench/bench_store.sh, the
-- figures in doc/design.md §10): the merchant's lookup (an index scan of
-- merchants_pkey through SPI on INSERT only: a foreign key would lock the
-- merchant's row, migration 014, and a per-session memo of the merchants
-- seen would be a setting any session can forge); the trace, details and
-- payer stay jsonb (§10 says what json would save).

-- ------------------------------------------------------------ payments

CREATE FUNCTION pr_payments_guard_insert() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.id !~ '^[A-Za-z0-9]{8,32}$') OR
	   (NEW.merchant_order_no !~ '^[A-Za-z0-9_.:-]{1,64}$') OR
	   (NEW.amount <= 0) OR
	   (NEW.currency !~ '^[A-Z]{3}$') OR
	   (NEW.card_last4 !~ '^[0-9]{4}$') OR
	   (NEW.status = ANY (pr_payment_states()) IS NOT TRUE) OR
	   (NEW.attempts < 0) OR
	   (jsonb_typeof(NEW.payer) <> 'object') OR
	   (jsonb_typeof(NEW.trace) <> 'object') OR
	   (NEW.usage_amount <= 0) OR
	   (NEW.status = 'succeeded' AND
	    NEW.paid_amount IS DISTINCT FROM NEW.amount) OR
	   ((NEW.status = ANY (pr_payment_finals())) <>
	    (NEW.finished_at IS NOT NULL)) OR
	   (NEW.status NOT IN ('created', 'failed') AND NEW.channel IS NULL) OR
	   (NEW.refund_reserved < 0 OR NEW.refund_reserved > NEW.amount) OR
	   (NEW.refund_reserved <> 0 AND NEW.status <> 'succeeded') THEN
		-- which one (a failure only): the columns that never change,
		-- the merchant, the others, as 017
		PERFORM pr_payments_refuse_fixed(NEW);
		PERFORM pr_merchant_exists(TG_TABLE_NAME, NEW.merchant_id);
		PERFORM pr_payments_refuse(NEW);
	END IF;
	-- the merchant exists (migration 014's pr_merchant_named)
	PERFORM FROM merchants WHERE id = NEW.merchant_id;
	IF NOT FOUND THEN
		PERFORM pr_merchant_exists(TG_TABLE_NAME, NEW.merchant_id);
	END IF;
	RETURN NEW;
END
$$;

CREATE FUNCTION pr_payments_guard_update() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.status IS DISTINCT FROM OLD.status AND
	    NOT pr_payment_transition_ok(OLD.status, NEW.status)) OR
	   (OLD.status IN ('succeeded', 'failed', 'closed') AND
	    (NEW.amount, NEW.currency, NEW.channel, NEW.code,
	     NEW.paid_amount) IS DISTINCT FROM
	    (OLD.amount, OLD.currency, OLD.channel, OLD.code,
	     OLD.paid_amount)) OR
	   ((NEW.id, NEW.amount, NEW.currency, NEW.merchant_id,
	     NEW.merchant_order_no, NEW.card_last4) IS DISTINCT FROM
	    (OLD.id, OLD.amount, OLD.currency, OLD.merchant_id,
	     OLD.merchant_order_no, OLD.card_last4)) OR
	   (NEW.status = ANY (pr_payment_states()) IS NOT TRUE) OR
	   (NEW.attempts < 0) OR
	   (jsonb_typeof(NEW.payer) <> 'object') OR
	   (jsonb_typeof(NEW.trace) <> 'object') OR
	   (NEW.usage_amount <= 0) OR
	   (NEW.status = 'succeeded' AND
	    NEW.paid_amount IS DISTINCT FROM NEW.amount) OR
	   ((NEW.status = ANY (pr_payment_finals())) <>
	    (NEW.finished_at IS NOT NULL)) OR
	   (NEW.status NOT IN ('created', 'failed') AND NEW.channel IS NULL) OR
	   (NEW.refund_reserved < 0 OR NEW.refund_reserved > NEW.amount) OR
	   (NEW.refund_reserved <> 0 AND NEW.status <> 'succeeded') THEN
		-- which one (a failure only), as 017
		IF NEW.status IS DISTINCT FROM OLD.status AND
		   NOT pr_payment_transition_ok(OLD.status, NEW.status) THEN
			RAISE EXCEPTION 'payment %: % -> % is not a transition',
				OLD.id, OLD.status, NEW.status
				USING ERRCODE = 'check_violation';
		END IF;
		IF OLD.status IN ('succeeded', 'failed', 'closed') AND
		   (NEW.amount, NEW.currency, NEW.channel, NEW.code,
		    NEW.paid_amount) IS DISTINCT FROM
		   (OLD.amount, OLD.currency, OLD.channel, OLD.code,
		    OLD.paid_amount) THEN
			RAISE EXCEPTION 'payment % is final (%)', OLD.id,
				OLD.status USING ERRCODE = 'check_violation';
		END IF;
		IF (NEW.id, NEW.amount, NEW.currency, NEW.merchant_id,
		    NEW.merchant_order_no, NEW.card_last4) IS DISTINCT FROM
		   (OLD.id, OLD.amount, OLD.currency, OLD.merchant_id,
		    OLD.merchant_order_no, OLD.card_last4) THEN
			RAISE EXCEPTION 'payment %: id, amount, currency, '
				'merchant and card never change', OLD.id
				USING ERRCODE = 'check_violation';
		END IF;
		PERFORM pr_payments_refuse(NEW);
	END IF;
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

-- Raises the error of the first rule of a payment's columns that never
-- change that ROW breaks (017's order); nothing when it keeps them.
CREATE FUNCTION pr_payments_refuse_fixed(p payments) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF p.id !~ '^[A-Za-z0-9]{8,32}$' THEN
		PERFORM pr_row_refuse('payments', 'payments_id_check', 'id', p.id);
	END IF;
	IF p.merchant_order_no !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
		PERFORM pr_row_refuse('payments',
			'payments_merchant_order_no_check', 'merchant_order_no',
			p.id);
	END IF;
	IF p.amount <= 0 THEN
		PERFORM pr_row_refuse('payments', 'payments_amount_check',
			'amount', p.id);
	END IF;
	IF p.currency !~ '^[A-Z]{3}$' THEN
		PERFORM pr_row_refuse('payments', 'payments_currency_check',
			'currency', p.id);
	END IF;
	IF p.card_last4 !~ '^[0-9]{4}$' THEN
		PERFORM pr_row_refuse('payments', 'payments_card_last4_check',
			'card_last4', p.id);
	END IF;
END
$$;

-- The same for the rules of the columns that change.
CREATE FUNCTION pr_payments_refuse(p payments) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF p.status = ANY (pr_payment_states()) IS NOT TRUE THEN
		PERFORM pr_row_refuse('payments', 'payments_status_check',
			'status', p.id);
	END IF;
	IF p.attempts < 0 THEN
		PERFORM pr_row_refuse('payments', 'payments_attempts_check',
			'attempts', p.id);
	END IF;
	IF jsonb_typeof(p.payer) <> 'object' THEN
		PERFORM pr_row_refuse('payments', 'payments_payer_check', 'payer',
			p.id);
	END IF;
	IF jsonb_typeof(p.trace) <> 'object' THEN
		PERFORM pr_row_refuse('payments', 'payments_trace_check', 'trace',
			p.id);
	END IF;
	IF p.usage_amount <= 0 THEN
		PERFORM pr_row_refuse('payments', 'payments_usage_amount_check',
			'usage_amount', p.id);
	END IF;
	IF p.status = 'succeeded' AND p.paid_amount IS DISTINCT FROM p.amount
	THEN
		PERFORM pr_row_refuse('payments', 'payments_paid_exactly', NULL,
			p.id);
	END IF;
	IF (p.status = ANY (pr_payment_finals())) <> (p.finished_at IS NOT NULL)
	THEN
		PERFORM pr_row_refuse('payments', 'payments_finished', NULL, p.id);
	END IF;
	IF p.status NOT IN ('created', 'failed') AND p.channel IS NULL THEN
		PERFORM pr_row_refuse('payments', 'payments_channel', NULL, p.id);
	END IF;
	IF p.refund_reserved < 0 OR p.refund_reserved > p.amount THEN
		PERFORM pr_row_refuse('payments', 'payments_refund_within', NULL,
			p.id);
	END IF;
	IF p.refund_reserved <> 0 AND p.status <> 'succeeded' THEN
		PERFORM pr_row_refuse('payments', 'payments_refund_only_paid', NULL,
			p.id);
	END IF;
END
$$;

-- Raises the foreign key's error when no merchant is named MERCHANT (a
-- row of TABLE names it); nothing when one is.
CREATE FUNCTION pr_merchant_exists(p_table text, p_merchant text)
	RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM FROM merchants WHERE id = p_merchant;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'insert or update on table "%" names merchant "%", which does not exist',
			p_table, p_merchant
			USING ERRCODE = 'foreign_key_violation';
	END IF;
END
$$;

DROP TRIGGER payments_guard ON payments;
DROP FUNCTION pr_payments_guard();
CREATE TRIGGER payments_guard_insert BEFORE INSERT ON payments
	FOR EACH ROW EXECUTE FUNCTION pr_payments_guard_insert();
CREATE TRIGGER payments_guard BEFORE UPDATE ON payments
	FOR EACH ROW EXECUTE FUNCTION pr_payments_guard_update();

-- --------------------------------------------------------- withdrawals

CREATE FUNCTION pr_withdrawals_guard_insert() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.id !~ '^W[A-Za-z0-9]{7,31}$') OR
	   (NEW.merchant_withdrawal_no !~ '^[A-Za-z0-9_.:-]{1,64}$') OR
	   (NEW.amount <= 0) OR
	   (NEW.currency !~ '^[A-Z]{3}$') OR
	   (NEW.payee_kind IN ('bank_card', 'alipay_account', 'wechat_openid') IS NOT TRUE) OR
	   (NEW.payee_account_enc !~ '^[A-Za-z0-9+/]{40,}={0,2}$') OR
	   (length(NEW.payee_account_mask) NOT BETWEEN 1 AND 80) OR
	   (NEW.status = ANY (pr_withdrawal_states()) IS NOT TRUE) OR
	   (NEW.attempts < 0) OR
	   (jsonb_typeof(NEW.trace) <> 'object') OR
	   (NEW.usage_amount <= 0) OR
	   (NEW.status = 'succeeded' AND
	    NEW.paid_amount IS DISTINCT FROM NEW.amount) OR
	   ((NEW.status = ANY (pr_withdrawal_finals())) <>
	    (NEW.finished_at IS NOT NULL)) OR
	   (NEW.status NOT IN ('created', 'pending_channel', 'failed') AND
	    NEW.channel IS NULL) OR
	   (NEW.status = 'pending_channel' AND NEW.next_route_at IS NULL) THEN
		-- which one (a failure only): the columns that never change,
		-- the merchant, the others, as 017
		PERFORM pr_withdrawals_refuse_fixed(NEW);
		PERFORM pr_merchant_exists(TG_TABLE_NAME, NEW.merchant_id);
		PERFORM pr_withdrawals_refuse(NEW);
	END IF;
	-- the merchant exists (migration 014's pr_merchant_named)
	PERFORM FROM merchants WHERE id = NEW.merchant_id;
	IF NOT FOUND THEN
		PERFORM pr_merchant_exists(TG_TABLE_NAME, NEW.merchant_id);
	END IF;
	RETURN NEW;
END
$$;

CREATE FUNCTION pr_withdrawals_guard_update() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.status IS DISTINCT FROM OLD.status AND
	    NOT pr_withdrawal_transition_ok(OLD.status, NEW.status)) OR
	   (OLD.status IN ('succeeded', 'failed') AND
	    (NEW.amount, NEW.currency, NEW.channel, NEW.code,
	     NEW.paid_amount) IS DISTINCT FROM
	    (OLD.amount, OLD.currency, OLD.channel, OLD.code,
	     OLD.paid_amount)) OR
	   ((NEW.id, NEW.amount, NEW.currency, NEW.merchant_id,
	     NEW.merchant_withdrawal_no, NEW.payee_kind,
	     NEW.payee_account_enc) IS DISTINCT FROM
	    (OLD.id, OLD.amount, OLD.currency, OLD.merchant_id,
	     OLD.merchant_withdrawal_no, OLD.payee_kind,
	     OLD.payee_account_enc)) OR
	   (length(NEW.payee_account_mask) NOT BETWEEN 1 AND 80) OR
	   (NEW.status = ANY (pr_withdrawal_states()) IS NOT TRUE) OR
	   (NEW.attempts < 0) OR
	   (jsonb_typeof(NEW.trace) <> 'object') OR
	   (NEW.usage_amount <= 0) OR
	   (NEW.status = 'succeeded' AND
	    NEW.paid_amount IS DISTINCT FROM NEW.amount) OR
	   ((NEW.status = ANY (pr_withdrawal_finals())) <>
	    (NEW.finished_at IS NOT NULL)) OR
	   (NEW.status NOT IN ('created', 'pending_channel', 'failed') AND
	    NEW.channel IS NULL) OR
	   (NEW.status = 'pending_channel' AND NEW.next_route_at IS NULL) THEN
		-- which one (a failure only), as 017
		IF NEW.status IS DISTINCT FROM OLD.status AND
		   NOT pr_withdrawal_transition_ok(OLD.status, NEW.status) THEN
			RAISE EXCEPTION 'withdrawal %: % -> % is not a transition',
				OLD.id, OLD.status, NEW.status
				USING ERRCODE = 'check_violation';
		END IF;
		IF OLD.status IN ('succeeded', 'failed') AND
		   (NEW.amount, NEW.currency, NEW.channel, NEW.code,
		    NEW.paid_amount) IS DISTINCT FROM
		   (OLD.amount, OLD.currency, OLD.channel, OLD.code,
		    OLD.paid_amount) THEN
			RAISE EXCEPTION 'withdrawal % is final (%)', OLD.id,
				OLD.status USING ERRCODE = 'check_violation';
		END IF;
		IF (NEW.id, NEW.amount, NEW.currency, NEW.merchant_id,
		    NEW.merchant_withdrawal_no, NEW.payee_kind,
		    NEW.payee_account_enc) IS DISTINCT FROM
		   (OLD.id, OLD.amount, OLD.currency, OLD.merchant_id,
		    OLD.merchant_withdrawal_no, OLD.payee_kind,
		    OLD.payee_account_enc) THEN
			RAISE EXCEPTION 'withdrawal %: id, amount, currency, '
				'merchant and payee never change', OLD.id
				USING ERRCODE = 'check_violation';
		END IF;
		PERFORM pr_withdrawals_refuse(NEW);
	END IF;
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

-- Raises the error of the first rule of a withdrawal's columns that
-- never change that ROW breaks (017's order); nothing when it keeps them.
CREATE FUNCTION pr_withdrawals_refuse_fixed(w withdrawals) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF w.id !~ '^W[A-Za-z0-9]{7,31}$' THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_id_check', 'id',
			w.id);
	END IF;
	IF w.merchant_withdrawal_no !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
		PERFORM pr_row_refuse('withdrawals',
			'withdrawals_merchant_withdrawal_no_check',
			'merchant_withdrawal_no', w.id);
	END IF;
	IF w.amount <= 0 THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_amount_check',
			'amount', w.id);
	END IF;
	IF w.currency !~ '^[A-Z]{3}$' THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_currency_check',
			'currency', w.id);
	END IF;
	IF w.payee_kind IN ('bank_card', 'alipay_account', 'wechat_openid')
	   IS NOT TRUE THEN
		PERFORM pr_row_refuse('withdrawals',
			'withdrawals_payee_kind_check', 'payee_kind', w.id);
	END IF;
	IF w.payee_account_enc !~ '^[A-Za-z0-9+/]{40,}={0,2}$' THEN
		PERFORM pr_row_refuse('withdrawals',
			'withdrawals_payee_account_enc_check', 'payee_account_enc',
			w.id);
	END IF;
END
$$;

-- The same for the rules of the columns that change.
CREATE FUNCTION pr_withdrawals_refuse(w withdrawals) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF length(w.payee_account_mask) NOT BETWEEN 1 AND 80 THEN
		PERFORM pr_row_refuse('withdrawals',
			'withdrawals_payee_account_mask_check', 'payee_account_mask',
			w.id);
	END IF;
	IF w.status = ANY (pr_withdrawal_states()) IS NOT TRUE THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_status_check',
			'status', w.id);
	END IF;
	IF w.attempts < 0 THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_attempts_check',
			'attempts', w.id);
	END IF;
	IF jsonb_typeof(w.trace) <> 'object' THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_trace_check',
			'trace', w.id);
	END IF;
	IF w.usage_amount <= 0 THEN
		PERFORM pr_row_refuse('withdrawals',
			'withdrawals_usage_amount_check', 'usage_amount', w.id);
	END IF;
	IF w.status = 'succeeded' AND w.paid_amount IS DISTINCT FROM w.amount
	THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_paid_exactly',
			NULL, w.id);
	END IF;
	IF (w.status = ANY (pr_withdrawal_finals())) <>
	   (w.finished_at IS NOT NULL) THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_finished', NULL,
			w.id);
	END IF;
	IF w.status NOT IN ('created', 'pending_channel', 'failed') AND
	   w.channel IS NULL THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_channel', NULL,
			w.id);
	END IF;
	IF w.status = 'pending_channel' AND w.next_route_at IS NULL THEN
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_pending', NULL,
			w.id);
	END IF;
END
$$;

DROP TRIGGER withdrawals_guard ON withdrawals;
DROP FUNCTION pr_withdrawals_guard();
CREATE TRIGGER withdrawals_guard_insert BEFORE INSERT ON withdrawals
	FOR EACH ROW EXECUTE FUNCTION pr_withdrawals_guard_insert();
CREATE TRIGGER withdrawals_guard BEFORE UPDATE ON withdrawals
	FOR EACH ROW EXECUTE FUNCTION pr_withdrawals_guard_update();
