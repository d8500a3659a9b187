-- 014_store_rows.sql - what a payment costs the store, row by row
-- (doc/design.md §7). Applied by payrouted inside a transaction it opens.
--
-- Measured per payment created (contrib/bench/bench_payments.sh, and the
-- statements replayed by pgbench: the figures are in the commit), these
-- changes write fewer index entries and take no lock on the merchant's
-- row, with the same guarantees:
--
-- 1. An order names its merchant without locking the merchant's row. A
--    foreign key checks the referenced row with SELECT ... FOR KEY SHARE:
--    every order of a merchant locked the same merchants row, and
--    concurrent lockers made a new MultiXact each (its members, their WAL,
--    the row's page rewritten), all of them waiting on that one buffer.
--    Merchants are never deleted nor renamed (the admin API disables one;
--    now a trigger refuses it, TRUNCATE included), so checking that the
--    merchant exists when a row names it (pr_merchant_named) holds for the
--    row's whole life, as the foreign key did, without a lock. The error
--    is the foreign key's: SQLSTATE 23503.
--
-- 2. The merchant's number: one unique index (number, merchant) instead of
--    the UNIQUE (merchant, number) constraint plus the list index on the
--    number alone (migration 009): equality on both columns (ON CONFLICT,
--    the duplicate's lookup) is served in either column order, and the
--    list filtered by the number alone walks its leading column. One
--    index entry less per order.
--
-- 3. order_events: its primary key is (kind, order_id, id), the order the
--    history is read in, instead of (id) beside an index on (kind,
--    order_id, id). Two index entries less per payment (an attempt and an
--    answer event). id still comes from its sequence.
--
-- 4. fillfactor 70 for payments and withdrawals: a transition is a HOT
--    update (no index names what it changes, §7) only while the row's page
--    has room for the new version. Full pages made about one transition in
--    seven (measured: 1,142 of 8,490) a cold update, a new entry in each of
--    the table's six indexes. New pages keep 30% free; existing pages are
--    not rewritten.

-- ---------------------------------------------------------------- 1.

CREATE FUNCTION pr_merchants_keep() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		IF NEW.id IS DISTINCT FROM OLD.id THEN
			RAISE EXCEPTION 'merchant %: its id never changes', OLD.id
				USING ERRCODE = 'foreign_key_violation';
		END IF;
		RETURN NEW;
	END IF;
	RAISE EXCEPTION 'merchants are never deleted (disable one instead)'
		USING ERRCODE = 'foreign_key_violation';
END
$$;

CREATE TRIGGER merchants_keep BEFORE UPDATE OF id OR DELETE ON merchants
	FOR EACH ROW EXECUTE FUNCTION pr_merchants_keep();
CREATE TRIGGER merchants_keep_all BEFORE TRUNCATE ON merchants
	FOR EACH STATEMENT EXECUTE FUNCTION pr_merchants_keep();

CREATE FUNCTION pr_merchant_named() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM FROM merchants WHERE id = NEW.merchant_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'insert or update on table "%" names merchant "%", which does not exist',
			TG_TABLE_NAME, NEW.merchant_id
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	RETURN NEW;
END
$$;

ALTER TABLE payments DROP CONSTRAINT payments_merchant_id_fkey;
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_merchant_id_fkey;
ALTER TABLE refunds DROP CONSTRAINT refunds_merchant_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_merchant_id_fkey;
ALTER TABLE merchant_notifications
	DROP CONSTRAINT merchant_notifications_merchant_id_fkey;

CREATE TRIGGER payments_merchant BEFORE INSERT OR UPDATE OF merchant_id
	ON payments FOR EACH ROW EXECUTE FUNCTION pr_merchant_named();
CREATE TRIGGER withdrawals_merchant BEFORE INSERT OR UPDATE OF merchant_id
	ON withdrawals FOR EACH ROW EXECUTE FUNCTION pr_merchant_named();
CREATE TRIGGER refunds_merchant BEFORE INSERT OR UPDATE OF merchant_id
	ON refunds FOR EACH ROW EXECUTE FUNCTION pr_merchant_named();
CREATE TRIGGER idempotency_keys_merchant BEFORE INSERT OR UPDATE OF
	merchant_id ON idempotency_keys
	FOR EACH ROW EXECUTE FUNCTION pr_merchant_named();
CREATE TRIGGER merchant_notifications_merchant BEFORE INSERT OR UPDATE OF
	merchant_id ON merchant_notifications
	FOR EACH ROW EXECUTE FUNCTION pr_merchant_named();

-- ---------------------------------------------------------------- 2.

CREATE UNIQUE INDEX payments_order_no_key
	ON payments (merchant_order_no, merchant_id);
ALTER TABLE payments
	DROP CONSTRAINT payments_merchant_id_merchant_order_no_key,
	ADD CONSTRAINT payments_order_no_key
		UNIQUE USING INDEX payments_order_no_key;
DROP INDEX payments_order_no_idx;

CREATE UNIQUE INDEX withdrawals_no_key
	ON withdrawals (merchant_withdrawal_no, merchant_id);
ALTER TABLE withdrawals
	DROP CONSTRAINT withdrawals_merchant_id_merchant_withdrawal_no_key,
	ADD CONSTRAINT withdrawals_no_key UNIQUE USING INDEX withdrawals_no_key;
DROP INDEX withdrawals_no_idx;

CREATE UNIQUE INDEX refunds_no_key
	ON refunds (merchant_refund_no, merchant_id);
ALTER TABLE refunds
	DROP CONSTRAINT refunds_merchant_id_merchant_refund_no_key,
	ADD CONSTRAINT refunds_no_key UNIQUE USING INDEX refunds_no_key;
DROP INDEX refunds_no_idx;

-- ---------------------------------------------------------------- 3.

ALTER TABLE order_events DROP CONSTRAINT order_events_pkey;
CREATE UNIQUE INDEX order_events_pkey ON order_events (kind, order_id, id);
ALTER TABLE order_events
	ADD CONSTRAINT order_events_pkey PRIMARY KEY USING INDEX order_events_pkey;
DROP INDEX order_events_order_idx;

-- ---------------------------------------------------------------- 4.

ALTER TABLE payments SET (fillfactor = 70);
ALTER TABLE withdrawals SET (fillfactor = 70);
