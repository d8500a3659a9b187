-- 017_store_cpu.sql - what a payment costs the store's CPU, statement by
-- statement (doc/design.md §7; issue 11). Applied by payrouted inside a
-- transaction it opens.
--
-- Measured with perf on the backends replaying a payment's two statements
-- (contrib/bench/bench_store.sh; the figures are in the commit), these
-- changes keep every rule and take work off every statement:
--
-- 1. pr_ms_time is inlined again. Its body added an interval to a
--    timestamptz, which is only STABLE (a day's length depends on the
--    time zone), so the planner could not inline a function declared
--    IMMUTABLE around it: every statement that named it parsed, analysed
--    and planned its SQL body again at its first call (7% of a backend's
--    CPU in the order path). The same instant computed from a timestamp
--    (immutable arithmetic) at UTC is inlined, and reads its argument
--    once.
--
-- 2. The rules of a payment's and a withdrawal's row are checked by their
--    guard triggers instead of CHECK constraints. PostgreSQL prepares a
--    table's CHECK constraints again in every statement that writes it:
--    each expression read back from its stored text (stringToNode: every
--    byte of a text constant is a number to parse), constant-folded and
--    compiled, for the one row a statement writes. In payrouted's store
--    sessions that was 12% of their CPU (perf, bench_payments), far more
--    than evaluating the rules. A PL/pgSQL function's expressions are
--    prepared once per session and then only evaluated, and a trigger
--    already ran on every such write (the merchant's existence on INSERT,
--    the machine on UPDATE). So one trigger function per table,
--    payments_guard and withdrawals_guard (BEFORE INSERT OR UPDATE: the
--    table's only BEFORE row trigger, so it checks the row that is
--    written), checks the merchant on INSERT, the machine and what never
--    changes on UPDATE, and the rules of every CHECK constraint it
--    replaces, each as it was; a violation is the same error: SQLSTATE
--    23514 naming the constraint (and its column), so the API maps it to
--    the request's field as before. An UPDATE skips the rules of columns
--    that never change (the id and the card's last digits join that
--    list). The rules are enforced for every writer, as the machine always
--    was; like any trigger, only the table's owner can disable them.

-- ---------------------------------------------------------------- 1.

CREATE OR REPLACE FUNCTION pr_ms_time(p_ms bigint) RETURNS timestamptz
	LANGUAGE sql IMMUTABLE AS $$
	SELECT (timestamp '1970-01-01' + p_ms * interval '1 millisecond')
		AT TIME ZONE 'UTC'
$$;

-- ---------------------------------------------------------------- 2.

-- The states of each machine and its final states, as the rules below
-- and check_machine (tests/integration/lib.sh) read them: inlined and
-- folded into constants where a rule names them.
CREATE FUNCTION pr_payment_states() RETURNS text[]
	LANGUAGE sql IMMUTABLE AS $$
	SELECT '{created,processing,succeeded,failed,closed,unknown}'::text[]
$$;
CREATE FUNCTION pr_payment_finals() RETURNS text[]
	LANGUAGE sql IMMUTABLE AS $$
	SELECT '{succeeded,failed,closed}'::text[]
$$;
CREATE FUNCTION pr_withdrawal_states() RETURNS text[]
	LANGUAGE sql IMMUTABLE AS $$
	SELECT '{created,pending_channel,processing,succeeded,failed,unknown}'::text[]
$$;
CREATE FUNCTION pr_withdrawal_finals() RETURNS text[]
	LANGUAGE sql IMMUTABLE AS $$
	SELECT '{succeeded,failed}'::text[]
$$;

-- Raises the error a CHECK constraint of TABLE named CONS would (on COL,
-- or the row when NULL) for the row ID.
CREATE FUNCTION pr_row_refuse(p_table text, p_cons text, p_col text,
		p_id text) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF p_col IS NULL THEN
		RAISE EXCEPTION 'new row for relation "%" violates check constraint "%"',
			p_table, p_cons
			USING ERRCODE = 'check_violation', TABLE = p_table,
			CONSTRAINT = p_cons,
			DETAIL = format('Failing row has id %s.', p_id);
	END IF;
	RAISE EXCEPTION 'new row for relation "%" violates check constraint "%"',
		p_table, p_cons
		USING ERRCODE = 'check_violation', TABLE = p_table,
		CONSTRAINT = p_cons, COLUMN = p_col,
		DETAIL = format('Failing row has id %s.', p_id);
END
$$;

CREATE OR REPLACE FUNCTION pr_payments_guard() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		-- the columns an UPDATE never changes (below)
		IF (NEW.id !~ '^[A-Za-z0-9]{8,32}$') OR
		   (NEW.merchant_order_no !~ '^[A-Za-z0-9_.:-]{1,64}$') OR
		   (NEW.amount <= 0) OR
		   (NEW.currency !~ '^[A-Z]{3}$') OR
		   (NEW.card_last4 !~ '^[0-9]{4}$') THEN
			-- which one (a failure only)
			IF NEW.id !~ '^[A-Za-z0-9]{8,32}$' THEN
				PERFORM pr_row_refuse('payments', 'payments_id_check',
					'id', NEW.id);
			END IF;
			IF NEW.merchant_order_no !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
				PERFORM pr_row_refuse('payments',
					'payments_merchant_order_no_check',
					'merchant_order_no', NEW.id);
			END IF;
			IF NEW.amount <= 0 THEN
				PERFORM pr_row_refuse('payments',
					'payments_amount_check', 'amount', NEW.id);
			END IF;
			IF NEW.currency !~ '^[A-Z]{3}$' THEN
				PERFORM pr_row_refuse('payments',
					'payments_currency_check', 'currency', NEW.id);
			END IF;
			IF NEW.card_last4 !~ '^[0-9]{4}$' THEN
				PERFORM pr_row_refuse('payments',
					'payments_card_last4_check', 'card_last4',
					NEW.id);
			END IF;
		END IF;
		-- the merchant exists (migration 014's pr_merchant_named)
		PERFORM FROM merchants WHERE id = NEW.merchant_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'insert or update on table "%" names merchant "%", which does not exist',
				TG_TABLE_NAME, NEW.merchant_id
				USING ERRCODE = 'foreign_key_violation';
		END IF;
	ELSE
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
		NEW.updated_at := now();
	END IF;
	-- the rules of the columns that change (CHECKs of 004 and 006)
	IF (NEW.status = ANY (pr_payment_states()) IS NOT TRUE) OR
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
		-- which one (a failure only)
		IF NEW.status = ANY (pr_payment_states()) IS NOT TRUE THEN
			PERFORM pr_row_refuse('payments', 'payments_status_check',
				'status', NEW.id);
		END IF;
		IF NEW.attempts < 0 THEN
			PERFORM pr_row_refuse('payments', 'payments_attempts_check',
				'attempts', NEW.id);
		END IF;
		IF jsonb_typeof(NEW.payer) <> 'object' THEN
			PERFORM pr_row_refuse('payments', 'payments_payer_check',
				'payer', NEW.id);
		END IF;
		IF jsonb_typeof(NEW.trace) <> 'object' THEN
			PERFORM pr_row_refuse('payments', 'payments_trace_check',
				'trace', NEW.id);
		END IF;
		IF NEW.usage_amount <= 0 THEN
			PERFORM pr_row_refuse('payments',
				'payments_usage_amount_check', 'usage_amount', NEW.id);
		END IF;
		IF NEW.status = 'succeeded' AND NEW.paid_amount IS DISTINCT FROM
		   NEW.amount THEN
			PERFORM pr_row_refuse('payments', 'payments_paid_exactly', NULL,
				NEW.id);
		END IF;
		IF (NEW.status = ANY (pr_payment_finals())) <>
		   (NEW.finished_at IS NOT NULL) THEN
			PERFORM pr_row_refuse('payments', 'payments_finished', NULL,
				NEW.id);
		END IF;
		IF NEW.status NOT IN ('created', 'failed') AND NEW.channel IS NULL
		THEN
			PERFORM pr_row_refuse('payments', 'payments_channel', NULL,
				NEW.id);
		END IF;
		IF NEW.refund_reserved < 0 OR NEW.refund_reserved > NEW.amount THEN
			PERFORM pr_row_refuse('payments', 'payments_refund_within',
				NULL, NEW.id);
		END IF;
		IF NEW.refund_reserved <> 0 AND NEW.status <> 'succeeded' THEN
			PERFORM pr_row_refuse('payments', 'payments_refund_only_paid',
				NULL, NEW.id);
		END IF;
	END IF;
	RETURN NEW;
END
$$;

DROP TRIGGER payments_merchant ON payments;
DROP TRIGGER payments_guard ON payments;
CREATE TRIGGER payments_guard BEFORE INSERT OR UPDATE ON payments
	FOR EACH ROW EXECUTE FUNCTION pr_payments_guard();
ALTER TABLE payments
	DROP CONSTRAINT payments_id_check,
	DROP CONSTRAINT payments_merchant_order_no_check,
	DROP CONSTRAINT payments_amount_check,
	DROP CONSTRAINT payments_currency_check,
	DROP CONSTRAINT payments_card_last4_check,
	DROP CONSTRAINT payments_status_check,
	DROP CONSTRAINT payments_attempts_check,
	DROP CONSTRAINT payments_payer_check,
	DROP CONSTRAINT payments_trace_check,
	DROP CONSTRAINT payments_usage_amount_check,
	DROP CONSTRAINT payments_paid_exactly,
	DROP CONSTRAINT payments_finished,
	DROP CONSTRAINT payments_channel,
	DROP CONSTRAINT payments_refund_within,
	DROP CONSTRAINT payments_refund_only_paid;

CREATE OR REPLACE FUNCTION pr_withdrawals_guard() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		-- the columns an UPDATE never changes (below)
		IF (NEW.id !~ '^W[A-Za-z0-9]{7,31}$') OR
		   (NEW.merchant_withdrawal_no !~ '^[A-Za-z0-9_.:-]{1,64}$') OR
		   (NEW.amount <= 0) OR
		   (NEW.currency !~ '^[A-Z]{3}$') OR
		   (NEW.payee_kind IN ('bank_card', 'alipay_account', 'wechat_openid') IS NOT TRUE) OR
		   (NEW.payee_account_enc !~ '^[A-Za-z0-9+/]{40,}={0,2}$') THEN
			-- which one (a failure only)
			IF NEW.id !~ '^W[A-Za-z0-9]{7,31}$' THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_id_check', 'id', NEW.id);
			END IF;
			IF NEW.merchant_withdrawal_no !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_merchant_withdrawal_no_check',
					'merchant_withdrawal_no', NEW.id);
			END IF;
			IF NEW.amount <= 0 THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_amount_check', 'amount', NEW.id);
			END IF;
			IF NEW.currency !~ '^[A-Z]{3}$' THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_currency_check', 'currency',
					NEW.id);
			END IF;
			IF NEW.payee_kind IN ('bank_card', 'alipay_account',
					      'wechat_openid') IS NOT TRUE THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_payee_kind_check', 'payee_kind',
					NEW.id);
			END IF;
			IF NEW.payee_account_enc !~ '^[A-Za-z0-9+/]{40,}={0,2}$' THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_payee_account_enc_check',
					'payee_account_enc', NEW.id);
			END IF;
		END IF;
		-- the merchant exists (migration 014's pr_merchant_named)
		PERFORM FROM merchants WHERE id = NEW.merchant_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'insert or update on table "%" names merchant "%", which does not exist',
				TG_TABLE_NAME, NEW.merchant_id
				USING ERRCODE = 'foreign_key_violation';
		END IF;
	ELSE
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
		NEW.updated_at := now();
	END IF;
	-- the rules of the columns that change (CHECKs of 005)
	IF (length(NEW.payee_account_mask) NOT BETWEEN 1 AND 80) OR
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
		-- which one (a failure only)
		IF length(NEW.payee_account_mask) NOT BETWEEN 1 AND 80 THEN
			PERFORM pr_row_refuse('withdrawals',
				'withdrawals_payee_account_mask_check',
				'payee_account_mask', NEW.id);
		END IF;
		IF NEW.status = ANY (pr_withdrawal_states()) IS NOT TRUE THEN
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_status_check',
				'status', NEW.id);
		END IF;
		IF NEW.attempts < 0 THEN
			PERFORM pr_row_refuse('withdrawals',
				'withdrawals_attempts_check', 'attempts', NEW.id);
		END IF;
		IF jsonb_typeof(NEW.trace) <> 'object' THEN
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_trace_check',
				'trace', NEW.id);
		END IF;
		IF NEW.usage_amount <= 0 THEN
			PERFORM pr_row_refuse('withdrawals',
				'withdrawals_usage_amount_check', 'usage_amount',
				NEW.id);
		END IF;
		IF NEW.status = 'succeeded' AND NEW.paid_amount IS DISTINCT FROM
		   NEW.amount THEN
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_paid_exactly',
				NULL, NEW.id);
		END IF;
		IF (NEW.status = ANY (pr_withdrawal_finals())) <>
		   (NEW.finished_at IS NOT NULL) THEN
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_finished',
				NULL, NEW.id);
		END IF;
		IF NEW.status NOT IN ('created', 'pending_channel', 'failed') AND
		   NEW.channel IS NULL THEN
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_channel', NULL,
				NEW.id);
		END IF;
		IF NEW.status = 'pending_channel' AND NEW.next_route_at IS NULL THEN
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_pending', NULL,
				NEW.id);
		END IF;
	END IF;
	RETURN NEW;
END
$$;

DROP TRIGGER withdrawals_merchant ON withdrawals;
DROP TRIGGER withdrawals_guard ON withdrawals;
CREATE TRIGGER withdrawals_guard BEFORE INSERT OR UPDATE ON withdrawals
	FOR EACH ROW EXECUTE FUNCTION pr_withdrawals_guard();
ALTER TABLE withdrawals
	DROP CONSTRAINT withdrawals_id_check,
	DROP CONSTRAINT withdrawals_merchant_withdrawal_no_check,
	DROP CONSTRAINT withdrawals_amount_check,
	DROP CONSTRAINT withdrawals_currency_check,
	DROP CONSTRAINT withdrawals_payee_kind_check,
	DROP CONSTRAINT withdrawals_payee_account_enc_check,
	DROP CONSTRAINT withdrawals_payee_account_mask_check,
	DROP CONSTRAINT withdrawals_status_check,
	DROP CONSTRAINT withdrawals_attempts_check,
	DROP CONSTRAINT withdrawals_trace_check,
	DROP CONSTRAINT withdrawals_usage_amount_check,
	DROP CONSTRAINT withdrawals_paid_exactly,
	DROP CONSTRAINT withdrawals_finished,
	DROP CONSTRAINT withdrawals_channel,
	DROP CONSTRAINT withdrawals_pending;
