-- 023_rule_costs.sql - the same rules, at less CPU on every write that
-- checks them (doc/design.md §7, §10; issue 11). Applied by payrouted
-- inside a transaction it opens.
--
-- Counted with contrib/bench/bench_store_ir.sh (instructions of a
-- payment's two statements in one backend; the figures are in the
-- commit), two kinds of rule cost far more than what they check:
--
-- 1. A bounded repetition in a regular expression. PostgreSQL's regex
--    engine expands '[A-Za-z0-9]{8,32}' into 32 states of its automaton
--    and builds the states a text visits at each match, anew for every
--    match: 2.3 us a payment's id more than '[A-Za-z0-9]+' (psql, 200,000
--    matches of each). The guard triggers of payments and
--    withdrawals (017, 022) matched two or three such expressions on
--    every INSERT. Each is now the unbounded class and a test of the
--    length, which accept exactly the same texts: the class alone
--    cannot match a character outside it, so the length in characters
--    is the length the bound counted (and a payee's text, base64 with
--    at most two '=' at its end, keeps the 40 characters before them).
--    The rules' names and errors are the same.
--
-- 2. A CHECK constraint of a table written on the order path.
--    PostgreSQL reads a table's CHECK expressions back from their stored
--    text, folds and compiles them again in every statement that writes
--    the table (017 measured it for payments): order_checks' two
--    (kind IN (...), checks >= 0) cost a payment 48,000 instructions, for
--    one row. A domain's constraint is read once a session into the type
--    cache, already planned; a statement only compiles it. The rules of
--    one column of order_checks, order_events and merchant_notifications
--    are now their columns' domains: pr_order_kind (the three kinds),
--    pr_count (not negative) and pr_notification_state. A violation is
--    SQLSTATE 23514 (check_violation) naming the domain's constraint
--    (pr_order_kind_check, ...), where the table's name was; payrouted
--    maps none of these to a request's field (the rows are its own).
--    The columns keep their base types for every comparison and
--    function (a domain is its base type there); the rules of two
--    columns (merchant_notifications' delivered state) stay CHECKs.
--
--    The columns change type before their domains have constraints (no
--    table is rewritten), and each constraint is then checked against
--    the rows already stored (as the CHECK it replaces had).
--
-- 3. The guards test a row's rules joined in one IF and, on a failure
--    only, each again to name the one that failed. Were the two ever to
--    differ (a rule edited in one place), the row would pass with no
--    rule named. After the named ones, a refusal of the row as a whole
--    (payments_rules, withdrawals_rules) closes each such branch; it
--    costs nothing when the row is good.

-- ---------------------------------------------------------------- 1.

CREATE OR REPLACE FUNCTION pr_payments_guard() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		-- the columns an UPDATE never changes (below)
		IF (length(NEW.id) NOT BETWEEN 8 AND 32 OR
		    NEW.id !~ '^[A-Za-z0-9]+$') OR
		   (length(NEW.merchant_order_no) > 64 OR
		    NEW.merchant_order_no !~ '^[A-Za-z0-9_.:-]+$') OR
		   (NEW.amount <= 0) OR
		   (NEW.currency !~ '^[A-Z]{3}$') OR
		   (NEW.card_last4 !~ '^[0-9]{4}$') THEN
			-- which one (a failure only)
			IF length(NEW.id) NOT BETWEEN 8 AND 32 OR
			   NEW.id !~ '^[A-Za-z0-9]+$' THEN
				PERFORM pr_row_refuse('payments', 'payments_id_check',
					'id', NEW.id);
			END IF;
			IF length(NEW.merchant_order_no) > 64 OR
			   NEW.merchant_order_no !~ '^[A-Za-z0-9_.:-]+$' THEN
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
			-- none of them: the tests above and the one they are joined
			-- in differ (023)
			PERFORM pr_row_refuse('payments', 'payments_rules', NULL, NEW.id);
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
		-- what never changes, and the provenance once set (022)
		IF (NEW.id, NEW.amount, NEW.currency, NEW.merchant_id,
		    NEW.merchant_order_no, NEW.card_last4, NEW.created_by)
		   IS DISTINCT FROM
		   (OLD.id, OLD.amount, OLD.currency, OLD.merchant_id,
		    OLD.merchant_order_no, OLD.card_last4, OLD.created_by) OR
		   (OLD.answer_id IS NOT NULL AND
		    (NEW.answer_id, NEW.answer_at, NEW.answer_by,
		     NEW.answer_to) IS DISTINCT FROM
		    (OLD.answer_id, OLD.answer_at, OLD.answer_by,
		     OLD.answer_to)) THEN
			-- which one (a failure only)
			IF (NEW.id, NEW.amount, NEW.currency, NEW.merchant_id,
			    NEW.merchant_order_no, NEW.card_last4) IS DISTINCT FROM
			   (OLD.id, OLD.amount, OLD.currency, OLD.merchant_id,
			    OLD.merchant_order_no, OLD.card_last4) THEN
				RAISE EXCEPTION 'payment %: id, amount, currency, '
					'merchant and card never change', OLD.id
					USING ERRCODE = 'check_violation';
			END IF;
			IF NEW.created_by IS DISTINCT FROM OLD.created_by THEN
				PERFORM pr_row_refuse('payments',
					'payments_created_by_kept', 'created_by',
					NEW.id);
			END IF;
			PERFORM pr_row_refuse('payments', 'payments_answer_kept',
				NULL, NEW.id);
		END IF;
		NEW.updated_at := now();
	END IF;
	-- the rules of the columns that change (CHECKs of 004 and 006; the
	-- answer's columns, 022)
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
	   (NEW.refund_reserved <> 0 AND NEW.status <> 'succeeded') OR
	   (num_nulls(NEW.answer_id, NEW.answer_at, NEW.answer_by,
		      NEW.answer_to) NOT IN (0, 4)) OR
	   ((NEW.answer_to = ANY (pr_payment_states())) IS FALSE) THEN
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
		IF num_nulls(NEW.answer_id, NEW.answer_at, NEW.answer_by,
			     NEW.answer_to) NOT IN (0, 4) THEN
			PERFORM pr_row_refuse('payments', 'payments_answer_whole',
				NULL, NEW.id);
		END IF;
		IF (NEW.answer_to = ANY (pr_payment_states())) IS FALSE THEN
			PERFORM pr_row_refuse('payments', 'payments_answer_to_check',
				'answer_to', NEW.id);
		END IF;
		-- none of them (as above)
		PERFORM pr_row_refuse('payments', 'payments_rules', NULL, NEW.id);
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION pr_withdrawals_guard() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		-- the columns an UPDATE never changes (below)
		IF (length(NEW.id) NOT BETWEEN 8 AND 32 OR
		    NEW.id !~ '^W[A-Za-z0-9]+$') OR
		   (length(NEW.merchant_withdrawal_no) > 64 OR
		    NEW.merchant_withdrawal_no !~ '^[A-Za-z0-9_.:-]+$') OR
		   (NEW.amount <= 0) OR
		   (NEW.currency !~ '^[A-Z]{3}$') OR
		   (NEW.payee_kind IN ('bank_card', 'alipay_account', 'wechat_openid') IS NOT TRUE) OR
		   (length(rtrim(NEW.payee_account_enc, '=')) < 40 OR
		    NEW.payee_account_enc !~ '^[A-Za-z0-9+/]+={0,2}$') THEN
			-- which one (a failure only)
			IF length(NEW.id) NOT BETWEEN 8 AND 32 OR
			   NEW.id !~ '^W[A-Za-z0-9]+$' THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_id_check', 'id', NEW.id);
			END IF;
			IF length(NEW.merchant_withdrawal_no) > 64 OR
			   NEW.merchant_withdrawal_no !~ '^[A-Za-z0-9_.:-]+$' THEN
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
			IF length(rtrim(NEW.payee_account_enc, '=')) < 40 OR
			   NEW.payee_account_enc !~ '^[A-Za-z0-9+/]+={0,2}$' THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_payee_account_enc_check',
					'payee_account_enc', NEW.id);
			END IF;
			-- none of them: the tests above and the one they are joined
			-- in differ (023)
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_rules', NULL, NEW.id);
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
		-- what never changes, and the provenance once set (022)
		IF (NEW.id, NEW.amount, NEW.currency, NEW.merchant_id,
		    NEW.merchant_withdrawal_no, NEW.payee_kind,
		    NEW.payee_account_enc, NEW.created_by) IS DISTINCT FROM
		   (OLD.id, OLD.amount, OLD.currency, OLD.merchant_id,
		    OLD.merchant_withdrawal_no, OLD.payee_kind,
		    OLD.payee_account_enc, OLD.created_by) OR
		   (OLD.answer_id IS NOT NULL AND
		    (NEW.answer_id, NEW.answer_at, NEW.answer_by,
		     NEW.answer_to) IS DISTINCT FROM
		    (OLD.answer_id, OLD.answer_at, OLD.answer_by,
		     OLD.answer_to)) THEN
			-- which one (a failure only)
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
			IF NEW.created_by IS DISTINCT FROM OLD.created_by THEN
				PERFORM pr_row_refuse('withdrawals',
					'withdrawals_created_by_kept', 'created_by',
					NEW.id);
			END IF;
			PERFORM pr_row_refuse('withdrawals',
				'withdrawals_answer_kept', NULL, NEW.id);
		END IF;
		NEW.updated_at := now();
	END IF;
	-- the rules of the columns that change (CHECKs of 005; the answer's
	-- columns, 022)
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
	   (NEW.status = 'pending_channel' AND NEW.next_route_at IS NULL) OR
	   (num_nulls(NEW.answer_id, NEW.answer_at, NEW.answer_by,
		      NEW.answer_to) NOT IN (0, 4)) OR
	   ((NEW.answer_to = ANY (pr_withdrawal_states())) IS FALSE) THEN
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
		IF num_nulls(NEW.answer_id, NEW.answer_at, NEW.answer_by,
			     NEW.answer_to) NOT IN (0, 4) THEN
			PERFORM pr_row_refuse('withdrawals', 'withdrawals_answer_whole',
				NULL, NEW.id);
		END IF;
		IF (NEW.answer_to = ANY (pr_withdrawal_states())) IS FALSE THEN
			PERFORM pr_row_refuse('withdrawals',
				'withdrawals_answer_to_check', 'answer_to', NEW.id);
		END IF;
		-- none of them (as above)
		PERFORM pr_row_refuse('withdrawals', 'withdrawals_rules', NULL, NEW.id);
	END IF;
	RETURN NEW;
END
$$;

-- ---------------------------------------------------------------- 2.

CREATE DOMAIN pr_order_kind AS text;
CREATE DOMAIN pr_count AS integer;
CREATE DOMAIN pr_notification_state AS text;

ALTER TABLE order_checks
	DROP CONSTRAINT order_checks_kind_check,
	DROP CONSTRAINT order_checks_checks_check,
	ALTER COLUMN kind TYPE pr_order_kind,
	ALTER COLUMN checks TYPE pr_count;
ALTER TABLE order_events
	DROP CONSTRAINT order_events_kind_check,
	ALTER COLUMN kind TYPE pr_order_kind;
ALTER TABLE merchant_notifications
	DROP CONSTRAINT merchant_notifications_kind_check,
	DROP CONSTRAINT merchant_notifications_state_check,
	DROP CONSTRAINT merchant_notifications_attempts_check,
	ALTER COLUMN kind TYPE pr_order_kind,
	ALTER COLUMN state TYPE pr_notification_state,
	ALTER COLUMN attempts TYPE pr_count;

ALTER DOMAIN pr_order_kind ADD CONSTRAINT pr_order_kind_check
	CHECK (VALUE IN ('payment', 'refund', 'withdrawal'));
ALTER DOMAIN pr_count ADD CONSTRAINT pr_count_check CHECK (VALUE >= 0);
ALTER DOMAIN pr_notification_state ADD CONSTRAINT pr_notification_state_check
	CHECK (VALUE IN ('pending', 'delivered', 'abandoned'));
