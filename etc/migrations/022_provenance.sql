-- 022_provenance.sql - an order's provenance cannot change once set
-- (doc/design.md §5, §7). Applied by payrouted inside a transaction it
-- opens.
--
-- A payment's or withdrawal's row says who stored it (created_by,
-- migration 019) and how its first answer went (answer_id, answer_at,
-- answer_by, answer_to, migration 021), where order_events rows said it
-- before; the admin API's history (PR_ORDER_HISTORY, core/orders/flow.h)
-- shows them as its first events. order_events rows are only ever
-- inserted, but these are columns of a row that every later change
-- updates, and nothing stopped an UPDATE from rewriting them: an audit
-- trail that any writer of the row could edit. The guard triggers of
-- migration 017 already refuse what must never change (the id, amount,
-- currency, merchant and card or payee); they now refuse, on UPDATE, a
-- change of created_by (a row stored before 019, or one whose first
-- commit did not take a channel, keeps NULL: no writer may claim it
-- later) and, once answer_id is set, any change of the four answer
-- columns (the flow sets them from NULL, once, in the UPDATE of the
-- answer: PR_APPLY_FAST_SQL, PR_APPLY_ASET in core/orders/ordstore.h);
-- and, on INSERT and UPDATE, a row whose answer columns are neither all
-- NULL nor all set, or whose answer_to is not one of its kind's states.
--
-- Each is named as a CHECK constraint would be, with SQLSTATE 23514, like
-- the rules of 017: payments_created_by_kept (column created_by),
-- payments_answer_kept, payments_answer_whole, payments_answer_to_check
-- (column answer_to), and the same of withdrawals. A CHECK cannot see the
-- row before, and the guard is where a row's rules cost least (017): the
-- tests join the expressions the guard evaluates on every write, one IF
-- for what an UPDATE never changes and one for the rules of every row,
-- and the branch that tells which rule failed runs on a failure only.
-- PL/pgSQL makes each expression it evaluates ready again, node by node,
-- in every transaction, so the rules are written with few nodes: "all
-- NULL or all set" is num_nulls(...) NOT IN (0, 4), which cost a payment
-- 8,900 instructions less than the same test as ROW(...) IS NULL OR
-- ROW(...) IS NOT NULL (20 nodes once expanded;
-- contrib/bench/bench_store_ir.sh). What the rules cost a payment is in
-- doc/design.md §10.
--
-- Rows already stored are not read: payrouted writes the four columns in
-- one UPDATE, so its rows are whole; a row made otherwise is refused
-- at its next write, as a CHECK added NOT VALID would be.

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
	END IF;
	RETURN NEW;
END
$$;

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
	END IF;
	RETURN NEW;
END
$$;
