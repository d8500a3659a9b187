-- 010_reconciliation.sql - reconciliation against the channels' bills
-- (doc/design.md §6, "Reconciliation"). Applied by payrouted inside a
-- transaction it opens.
--
-- Once a day per channel, after its bill time in its time zone, a run of
-- (channel, day) is due (pr_recon_schedule); one instance claims it
-- (pr_recon_claim, FOR UPDATE SKIP LOCKED, a lease like the completion
-- job's), fetches the bill through the driver, stores its rows in
-- recon_bill_rows and calls pr_recon_match, which compares them with the
-- payments, refunds and withdrawals of that channel and stores what differs
-- in recon_differences:
--
--   missing_at_payroute  the channel moved money we have not (an order we
--                        never heard of, or one not succeeded here: then a
--                        check of it is due at once)
--   missing_at_channel   succeeded here that day, absent from the bill
--   amount_mismatch      both sides, other amounts (or currencies)
--   status_mismatch      final here and not what the channel says (failed
--                        here, paid there; or the other way)
--   fee_mismatch         a payment's fee is not the channel's fee model's
--
-- Re-running a day is idempotent: the rows of a run replace the day's
-- (their key is the bill's own line), a difference is one row per (channel,
-- day, kind, order kind, the id the channel knows) whatever the number of
-- runs, and one a new run no longer finds is cleared, not deleted. An
-- operator resolves a difference with a note (audited); a resolved one
-- stays resolved.

CREATE TABLE recon_runs (
	-- no foreign key to channels: a channel deleted from the policy keeps
	-- its reconciliation history (and its operators' resolutions)
	channel text NOT NULL,
	day date NOT NULL,
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'running', 'done', 'failed')),
	next_at timestamptz NOT NULL DEFAULT now(),
	claimed_by text,
	attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	runs int NOT NULL DEFAULT 0 CHECK (runs >= 0), -- matches completed
	error text,
	no_bill boolean NOT NULL DEFAULT false, -- the channel had none
	-- the last match's figures (minor units)
	bill_rows bigint NOT NULL DEFAULT 0,
	bill_amount bigint NOT NULL DEFAULT 0,
	bill_fee bigint NOT NULL DEFAULT 0,
	matched bigint NOT NULL DEFAULT 0,
	matched_amount bigint NOT NULL DEFAULT 0,
	differences jsonb NOT NULL DEFAULT '{}'
		CHECK (jsonb_typeof(differences) = 'object'),
	-- payments found on both sides: what the bill charged, what the fee
	-- model says, on what amount (the fee learnt from the bill)
	fee_amount bigint NOT NULL DEFAULT 0,
	fee_billed bigint NOT NULL DEFAULT 0,
	fee_expected bigint NOT NULL DEFAULT 0,
	started_at timestamptz,
	finished_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (channel, day),
	CONSTRAINT recon_runs_claimed CHECK (status <> 'running' OR
		claimed_by IS NOT NULL),
	CONSTRAINT recon_runs_failed CHECK (status <> 'failed' OR
		error IS NOT NULL)
);

CREATE INDEX recon_runs_due_idx ON recon_runs (next_at)
	WHERE status IN ('pending', 'running', 'failed');

-- The rows of the day's bill as the driver read them.
CREATE TABLE recon_bill_rows (
	channel text NOT NULL,
	day date NOT NULL,
	part int NOT NULL CHECK (part >= 0),
	line bigint NOT NULL CHECK (line > 0),
	kind text NOT NULL CHECK (kind IN ('payment', 'refund', 'payout')),
	order_id text NOT NULL,
	refund_id text NOT NULL DEFAULT '',
	channel_trade_no text NOT NULL DEFAULT '',
	amount bigint NOT NULL CHECK (amount > 0),
	fee bigint NOT NULL,
	currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	status text NOT NULL DEFAULT '',
	effect text NOT NULL CHECK (effect IN ('success', 'failed', 'closed',
		'processing', 'unknown')),
	at timestamptz NOT NULL,
	-- no foreign key to recon_runs: it would be looked up for each of a
	-- million rows; a run deletes its day's rows itself
	PRIMARY KEY (channel, day, part, line)
);

CREATE INDEX recon_bill_rows_order_idx ON recon_bill_rows (channel, order_id)
	WHERE kind <> 'refund';
CREATE INDEX recon_bill_rows_refund_idx ON recon_bill_rows
	(channel, refund_id) WHERE kind = 'refund';

-- A refund's day is found by when it was created, as a payment's is:
-- refunds_created_idx (created_at, id) of migration 009 serves it.

CREATE TABLE recon_differences (
	id bigserial PRIMARY KEY,
	channel text NOT NULL,
	day date NOT NULL,
	kind text NOT NULL CHECK (kind IN ('missing_at_payroute',
		'missing_at_channel', 'amount_mismatch', 'status_mismatch',
		'fee_mismatch')),
	order_kind text NOT NULL CHECK (order_kind IN ('payment', 'refund',
		'withdrawal')),
	-- the id the channel knows: the payment's or withdrawal's id, the
	-- refund's request_no
	ref text NOT NULL,
	order_id text, -- payroute's id of the order, when there is one
	ours jsonb CHECK (ours IS NULL OR jsonb_typeof(ours) = 'object'),
	theirs jsonb CHECK (theirs IS NULL OR jsonb_typeof(theirs) = 'object'),
	amount bigint NOT NULL DEFAULT 0, -- the larger side's, for totals
	status text NOT NULL DEFAULT 'open'
		CHECK (status IN ('open', 'resolved', 'cleared')),
	check_scheduled boolean NOT NULL DEFAULT false,
	seen_run int NOT NULL,
	resolution_note text,
	resolved_by text,
	resolved_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (channel, day, kind, order_kind, ref),
	FOREIGN KEY (channel, day) REFERENCES recon_runs (channel, day)
		ON DELETE CASCADE,
	CONSTRAINT recon_differences_resolved CHECK ((status = 'resolved') =
		(resolved_at IS NOT NULL AND resolution_note IS NOT NULL AND
		 resolved_by IS NOT NULL)),
	CONSTRAINT recon_differences_sides CHECK (ours IS NOT NULL OR
		theirs IS NOT NULL)
);

CREATE INDEX recon_differences_open_idx ON recon_differences (channel, day)
	WHERE status = 'open';

-- The fee of amount under a channel's fee model: fixed + ceil(amount x
-- rate / 10000), at least min, at most max when set (core/domain/catalogue.c,
-- pr_chan_fee).
CREATE FUNCTION pr_fee(p_amount bigint, p_rate int, p_fixed bigint,
		p_min bigint, p_max bigint)
	RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_max > 0 THEN least(v, p_max) ELSE v END
	FROM (SELECT greatest(p_fixed + ceil(p_amount::numeric * p_rate
		/ 10000)::bigint, p_min) AS v) f
$$;

-- The runs due now: yesterday's, in each channel's time zone, for the
-- channels named (those whose driver reads bills) whose local time is past
-- p_bill_time. Returns how many were added.
CREATE FUNCTION pr_recon_schedule(p_channels text[], p_bill_time time)
	RETURNS int LANGUAGE sql AS $$
	WITH ins AS (
		INSERT INTO recon_runs (channel, day)
		SELECT c.code, (now() AT TIME ZONE c.timezone)::date - 1
		FROM channels c
		WHERE c.code = ANY (p_channels)
		  AND (now() AT TIME ZONE c.timezone)::time >= p_bill_time
		ON CONFLICT (channel, day) DO NOTHING
		RETURNING 1)
	SELECT count(*)::int FROM ins
$$;

-- Asks for a run of (channel, day) now, whatever the day's state (an
-- operator's re-run). Its open differences stay until the run clears them.
CREATE FUNCTION pr_recon_request(p_channel text, p_day date)
	RETURNS void LANGUAGE sql AS $$
	INSERT INTO recon_runs (channel, day) VALUES (p_channel, p_day)
	ON CONFLICT (channel, day) DO UPDATE
	SET status = 'pending', next_at = now(), claimed_by = NULL,
	    attempts = 0, error = NULL, updated_at = now()
$$;

-- Claims one due run for p_instance for p_lease_s seconds: pending, failed
-- and due again, or running with its lease over (its instance died).
CREATE FUNCTION pr_recon_claim(p_instance text, p_lease_s int)
	RETURNS TABLE (r_channel text, r_day date, r_attempts int)
	LANGUAGE sql AS $$
	UPDATE recon_runs r
	SET status = 'running', claimed_by = p_instance,
	    next_at = now() + make_interval(secs => p_lease_s),
	    attempts = r.attempts + 1, started_at = now(), updated_at = now()
	FROM (SELECT channel, day FROM recon_runs
	      WHERE status IN ('pending', 'running', 'failed')
		AND next_at <= now()
	      ORDER BY next_at LIMIT 1
	      FOR UPDATE SKIP LOCKED) d
	WHERE r.channel = d.channel AND r.day = d.day
	RETURNING r.channel, r.day, r.attempts
$$;

-- Keeps p_instance's claim on a run for p_lease_s more seconds; false when
-- the run is no longer its own.
CREATE FUNCTION pr_recon_renew(p_channel text, p_day date, p_instance text,
		p_lease_s int)
	RETURNS boolean LANGUAGE sql AS $$
	WITH u AS (
		UPDATE recon_runs
		SET next_at = now() + make_interval(secs => p_lease_s),
		    updated_at = now()
		WHERE channel = p_channel AND day = p_day
		  AND status = 'running' AND claimed_by = p_instance
		RETURNING 1)
	SELECT count(*) = 1 FROM u
$$;

-- A run that could not finish: due again after p_retry_s (NULL: never,
-- until an operator asks).
CREATE FUNCTION pr_recon_fail(p_channel text, p_day date, p_instance text,
		p_error text, p_retry_s int)
	RETURNS void LANGUAGE sql AS $$
	UPDATE recon_runs
	SET status = 'failed', error = p_error, claimed_by = NULL,
	    next_at = CASE WHEN p_retry_s IS NULL THEN 'infinity'
		      ELSE now() + make_interval(secs => p_retry_s) END,
	    updated_at = now()
	WHERE channel = p_channel AND day = p_day AND claimed_by = p_instance
$$;

-- Matches the stored bill of (p_channel, p_day) against the store (see the
-- top of this file) for the instance holding the run, and finishes it.
-- Returns the run's figures.
CREATE FUNCTION pr_recon_match(p_channel text, p_day date, p_instance text,
		p_no_bill boolean)
	RETURNS TABLE (r_rows bigint, r_matched bigint, r_differences jsonb,
		r_checks bigint, r_cleared bigint)
	LANGUAGE plpgsql AS $$
DECLARE
	v_tz text;
	v_rate int;
	v_fixed bigint;
	v_min bigint;
	v_max bigint;
	v_from timestamptz;
	v_to timestamptz;
	v_run int;
	v_rows bigint;
	v_amount bigint;
	v_fee bigint;
	v_matched bigint;
	v_matched_amount bigint;
	v_fee_amount bigint;
	v_fee_billed bigint;
	v_fee_expected bigint;
	v_checks bigint;
	v_cleared bigint;
	v_diffs jsonb;
BEGIN
	SELECT runs + 1 INTO v_run FROM recon_runs
	WHERE channel = p_channel AND day = p_day AND status = 'running'
	  AND claimed_by = p_instance
	FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'reconciliation of % on % is not claimed by %',
			p_channel, p_day, p_instance
			USING ERRCODE = 'lock_not_available';
	END IF;
	SELECT timezone, fee_rate_bps, fee_fixed, fee_min, fee_max
	INTO v_tz, v_rate, v_fixed, v_min, v_max
	FROM channels WHERE code = p_channel;
	v_from := p_day::timestamp AT TIME ZONE v_tz;
	v_to := (p_day + 1)::timestamp AT TIME ZONE v_tz;

	-- Every bill row with what it is here (NULL diff: matched).
	CREATE TEMP TABLE recon_cmp ON COMMIT DROP AS
	SELECT b.*,
	       CASE
		WHEN o_id IS NULL OR o_channel IS DISTINCT FROM p_channel THEN
			CASE WHEN b.effect = 'success'
			     THEN 'missing_at_payroute' END
		WHEN b.effect = 'success' AND o_final IS NULL THEN
			'missing_at_payroute'
		WHEN b.effect = 'success' AND o_final <> 'success' THEN
			'status_mismatch'
		WHEN b.effect <> 'success' AND o_final = 'success' THEN
			'status_mismatch'
		WHEN b.effect <> 'success' THEN NULL
		WHEN b.amount <> o_amount OR b.currency <> o_currency THEN
			'amount_mismatch'
		WHEN b.kind = 'payment' AND b.fee <> o_fee THEN 'fee_mismatch'
	       END AS diff
	FROM (
		SELECT r.*,
		       coalesce(p.id, f.id, w.id) AS o_id,
		       coalesce(p.channel, f.channel, w.channel) AS o_channel,
		       coalesce(p.status, f.status, w.status) AS o_status,
		       coalesce(p.amount, f.amount, w.amount) AS o_amount,
		       coalesce(p.currency, f.currency, w.currency)
			       AS o_currency,
		       CASE coalesce(p.status, f.status, w.status)
			WHEN 'succeeded' THEN 'success'
			WHEN 'failed' THEN 'failed'
			WHEN 'closed' THEN 'failed'
			WHEN 'resolved' THEN 'failed'
		       END AS o_final,
		       CASE WHEN p.id IS NOT NULL THEN
			pr_fee(p.amount, v_rate, v_fixed, v_min, v_max)
		       END AS o_fee
		FROM recon_bill_rows r
		LEFT JOIN payments p ON r.kind = 'payment' AND p.id = r.order_id
		LEFT JOIN refunds f ON r.kind = 'refund'
			AND f.request_no = r.refund_id
			AND f.payment_id = r.order_id
		LEFT JOIN withdrawals w ON r.kind = 'payout'
			AND w.id = r.order_id
		WHERE r.channel = p_channel AND r.day = p_day
	) b;

	SELECT count(*), coalesce(sum(amount), 0), coalesce(sum(fee), 0),
	       count(*) FILTER (WHERE diff IS NULL),
	       coalesce(sum(amount) FILTER (WHERE diff IS NULL), 0),
	       coalesce(sum(amount) FILTER (WHERE kind = 'payment'
			AND o_fee IS NOT NULL AND diff IS DISTINCT FROM
			'missing_at_payroute'), 0),
	       coalesce(sum(fee) FILTER (WHERE kind = 'payment'
			AND o_fee IS NOT NULL AND diff IS DISTINCT FROM
			'missing_at_payroute'), 0),
	       coalesce(sum(o_fee) FILTER (WHERE kind = 'payment'
			AND o_fee IS NOT NULL AND diff IS DISTINCT FROM
			'missing_at_payroute'), 0)
	INTO v_rows, v_amount, v_fee, v_matched, v_matched_amount,
	     v_fee_amount, v_fee_billed, v_fee_expected
	FROM recon_cmp;

	-- The bill's side of the differences (one per order: a bill listing
	-- an order twice gives one difference, on its first line).
	INSERT INTO recon_differences AS d (channel, day, kind, order_kind,
		ref, order_id, ours, theirs, amount, seen_run)
	SELECT DISTINCT ON (c.diff, c.kind, c.ref)
	       p_channel, p_day, c.diff,
	       CASE c.kind WHEN 'payout' THEN 'withdrawal' ELSE c.kind END,
	       c.ref, c.o_id,
	       CASE WHEN c.o_id IS NOT NULL THEN jsonb_build_object(
			'id', c.o_id, 'channel', c.o_channel,
			'status', c.o_status, 'amount', c.o_amount,
			'currency', c.o_currency, 'fee', c.o_fee) END,
	       jsonb_build_object('part', c.part, 'line', c.line,
			'kind', c.kind, 'order_id', c.order_id,
			'refund_id', c.refund_id,
			'channel_trade_no', c.channel_trade_no,
			'amount', c.amount, 'fee', c.fee,
			'currency', c.currency, 'status', c.status,
			'effect', c.effect, 'at', c.at),
	       greatest(c.amount, coalesce(c.o_amount, 0)), v_run
	FROM (SELECT *, CASE kind WHEN 'refund' THEN refund_id
			ELSE order_id END AS ref
	      FROM recon_cmp WHERE diff IS NOT NULL) c
	ORDER BY c.diff, c.kind, c.ref, c.part, c.line
	ON CONFLICT (channel, day, kind, order_kind, ref) DO UPDATE
	SET order_id = excluded.order_id, ours = excluded.ours,
	    theirs = excluded.theirs, amount = excluded.amount,
	    seen_run = excluded.seen_run,
	    status = CASE d.status WHEN 'cleared' THEN 'open'
		     ELSE d.status END,
	    updated_at = now();

	-- Ours that the bill does not have: succeeded here that day. A bill
	-- row of the day before or after counts (a midnight on either
	-- side's clock).
	INSERT INTO recon_differences AS d (channel, day, kind, order_kind,
		ref, order_id, ours, amount, seen_run)
	SELECT p_channel, p_day, 'missing_at_channel', o.order_kind, o.ref,
	       o.id, jsonb_build_object('id', o.id, 'channel', p_channel,
			'status', 'succeeded', 'amount', o.amount,
			'currency', o.currency, 'finished_at', o.finished_at),
	       o.amount, v_run
	FROM (
		SELECT 'payment' AS order_kind, p.id AS ref, p.id, p.amount,
		       p.currency, p.finished_at
		FROM payments p
		WHERE p.channel = p_channel AND p.status = 'succeeded'
		  AND p.created_at >= v_from - interval '3 days'
		  AND p.created_at < v_to
		  AND p.finished_at >= v_from AND p.finished_at < v_to
		  AND NOT EXISTS (SELECT 1 FROM recon_bill_rows r
			WHERE r.channel = p_channel AND r.kind = 'payment'
			  AND r.order_id = p.id
			  AND r.day BETWEEN p_day - 1 AND p_day + 1)
		UNION ALL
		SELECT 'refund', f.request_no, f.id, f.amount, f.currency,
		       f.finished_at
		FROM refunds f
		WHERE f.channel = p_channel AND f.status = 'succeeded'
		  AND f.created_at >= v_from - interval '3 days'
		  AND f.created_at < v_to
		  AND f.finished_at >= v_from AND f.finished_at < v_to
		  AND NOT EXISTS (SELECT 1 FROM recon_bill_rows r
			WHERE r.channel = p_channel AND r.kind = 'refund'
			  AND r.refund_id = f.request_no
			  AND r.day BETWEEN p_day - 1 AND p_day + 1)
		UNION ALL
		SELECT 'withdrawal', w.id, w.id, w.amount, w.currency,
		       w.finished_at
		FROM withdrawals w
		WHERE w.channel = p_channel AND w.status = 'succeeded'
		  AND w.created_at >= v_from - interval '3 days'
		  AND w.created_at < v_to
		  AND w.finished_at >= v_from AND w.finished_at < v_to
		  AND NOT EXISTS (SELECT 1 FROM recon_bill_rows r
			WHERE r.channel = p_channel AND r.kind = 'payout'
			  AND r.order_id = w.id
			  AND r.day BETWEEN p_day - 1 AND p_day + 1)
	) o
	ON CONFLICT (channel, day, kind, order_kind, ref) DO UPDATE
	SET ours = excluded.ours, amount = excluded.amount,
	    seen_run = excluded.seen_run,
	    status = CASE d.status WHEN 'cleared' THEN 'open'
		     ELSE d.status END,
	    updated_at = now();

	-- Charged there, not succeeded here: the order is checked now.
	WITH due AS (
		SELECT DISTINCT
		       CASE kind WHEN 'payout' THEN 'withdrawal'
			    ELSE kind END AS k, o_id
		FROM recon_cmp
		WHERE diff = 'missing_at_payroute' AND o_id IS NOT NULL
		  AND o_channel = p_channel),
	up AS (
		INSERT INTO order_checks (kind, order_id, next_at)
		SELECT k, o_id, now() FROM due
		ON CONFLICT (kind, order_id) DO UPDATE
		SET next_at = now(), attention = false, claimed_by = NULL,
		    updated_at = now()
		RETURNING kind, order_id),
	ev AS (
		INSERT INTO order_events (kind, order_id, actor, event, detail)
		SELECT kind, order_id, p_instance, 'reconciliation',
		       jsonb_build_object('channel', p_channel, 'day', p_day,
			'result', 'missing_at_payroute: checked now')
		FROM up)
	UPDATE recon_differences d SET check_scheduled = true
	FROM up
	WHERE d.channel = p_channel AND d.day = p_day
	  AND d.kind = 'missing_at_payroute' AND d.order_id = up.order_id
	  AND d.order_kind = up.kind;
	GET DIAGNOSTICS v_checks = ROW_COUNT;

	-- What the previous runs found and this one does not: cleared.
	UPDATE recon_differences
	SET status = 'cleared', updated_at = now()
	WHERE channel = p_channel AND day = p_day AND status = 'open'
	  AND seen_run < v_run;
	GET DIAGNOSTICS v_cleared = ROW_COUNT;

	SELECT coalesce(jsonb_object_agg(kind, n), '{}') INTO v_diffs
	FROM (SELECT kind, count(*) AS n FROM recon_differences
	      WHERE channel = p_channel AND day = p_day AND status = 'open'
	      GROUP BY kind) k;

	UPDATE recon_runs
	SET status = 'done', runs = v_run, claimed_by = NULL, error = NULL,
	    next_at = 'infinity', no_bill = p_no_bill, bill_rows = v_rows,
	    bill_amount = v_amount, bill_fee = v_fee, matched = v_matched,
	    matched_amount = v_matched_amount, differences = v_diffs,
	    fee_amount = v_fee_amount, fee_billed = v_fee_billed,
	    fee_expected = v_fee_expected, finished_at = clock_timestamp(),
	    updated_at = now()
	WHERE channel = p_channel AND day = p_day;

	RETURN QUERY SELECT v_rows, v_matched, v_diffs, v_checks, v_cleared;
END
$$;

-- The fee learnt from the bills of the last p_days days next to each
-- channel's fee model: over the payments found on both sides, what the
-- bills charged (billed), what the model says (expected), the rate the
-- bills imply (learnt_bps) and how far billed is from expected
-- (drift_pct); drift when that is more than p_drift_pct percent (or the
-- model expects nothing and the bills charge).
CREATE FUNCTION pr_recon_fees(p_days int, p_drift_pct int)
	RETURNS TABLE (channel text, amount bigint, billed bigint,
		expected bigint, learnt_bps numeric, configured jsonb,
		drift_pct numeric, drift boolean)
	LANGUAGE sql STABLE AS $$
	SELECT s.channel, s.amount, s.billed, s.expected,
	       CASE WHEN s.amount > 0 THEN
		round(s.billed * 10000.0 / s.amount, 2) END,
	       jsonb_build_object('rate_bps', c.fee_rate_bps,
		'fixed', c.fee_fixed, 'min', c.fee_min, 'max', c.fee_max),
	       CASE WHEN s.expected > 0 THEN
		round((s.billed - s.expected) * 100.0 / s.expected, 2) END,
	       CASE WHEN s.expected > 0 THEN
		abs(s.billed - s.expected) * 100 > p_drift_pct * s.expected
	       ELSE s.billed <> 0 END
	FROM (SELECT r.channel, sum(r.fee_amount)::bigint AS amount,
		     sum(r.fee_billed)::bigint AS billed,
		     sum(r.fee_expected)::bigint AS expected
	      FROM recon_runs r
	      WHERE r.runs > 0 -- the last match's figures, even while
				-- the day runs again
		AND r.day >= current_date - p_days
	      GROUP BY r.channel) s
	JOIN channels c ON c.code = s.channel
	WHERE s.amount > 0
$$;
