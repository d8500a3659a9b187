-- 003_usage.sql - daily usage of each channel, for the daily limits
-- (doc/design.md §4, step 4). Applied by payrouted inside a transaction
-- it opens.
--
-- One row per channel, channel-local day and scope: scope '' is the
-- channel itself, any other scope is one of its bank codes (per-bank daily
-- limits). amount/count are what is reserved that day: payments in flight
-- or done, plus the slices ("leases") that daemons took to spend locally
-- and have not returned yet (core/orders/usage.h). The CHECKs make the database
-- itself refuse to go over a limit, whatever a client does.
--
-- No foreign key to channels: a channel may be deleted, its usage history
-- stays.
CREATE TABLE channel_daily_usage (
	channel text NOT NULL,
	day date NOT NULL,
	scope text NOT NULL DEFAULT '',
	amount bigint NOT NULL DEFAULT 0,
	count bigint NOT NULL DEFAULT 0,
	amount_limit bigint,	-- NULL: none; the config of the last grant
	count_limit bigint,	-- NULL: none
	-- What the last reservation granted (so that one INSERT .. ON
	-- CONFLICT DO UPDATE .. RETURNING can report it: RETURNING sees only
	-- the new row).
	grant_amount bigint NOT NULL DEFAULT 0,
	grant_count bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (channel, day, scope),
	CONSTRAINT channel_daily_usage_nonneg
		CHECK (amount >= 0 AND count >= 0),
	CONSTRAINT channel_daily_usage_amount_limit
		CHECK (amount_limit IS NULL OR amount <= amount_limit),
	CONSTRAINT channel_daily_usage_count_limit
		CHECK (count_limit IS NULL OR count <= count_limit)
);

CREATE INDEX channel_daily_usage_day_idx ON channel_daily_usage (day);

-- pr_usage_reserve: reserves at least (p_amount, p_count) and up to
-- (p_want_amount, p_want_count) on one row, in one statement. Returns one
-- row (granted amount and count, the row's new totals), or no row when even
-- the minimum does not fit under the limits. The limits given (NULL: none)
-- are the current config and are written into the row, so that an operator
-- lowering a limit takes effect at once (a row already above a lowered limit
-- keeps its old limit until its amount falls below the new one: nothing
-- more is granted meanwhile).
CREATE FUNCTION pr_usage_reserve(p_channel text, p_day date, p_scope text,
		p_amount bigint, p_count bigint,
		p_amount_limit bigint, p_count_limit bigint,
		p_want_amount bigint, p_want_count bigint)
	RETURNS TABLE (r_granted_amount bigint, r_granted_count bigint,
		r_amount bigint, r_count bigint)
	LANGUAGE plpgsql AS $$
DECLARE
	wa bigint := greatest(p_want_amount, p_amount);
	wc bigint := greatest(p_want_count, p_count);
BEGIN
	IF p_amount < 0 OR p_count < 0 THEN
		RAISE EXCEPTION 'pr_usage_reserve: negative amount or count';
	END IF;
	RETURN QUERY
	INSERT INTO channel_daily_usage AS u
		(channel, day, scope, amount, count, amount_limit,
		 count_limit, grant_amount, grant_count)
	SELECT p_channel, p_day, p_scope,
		least(wa, coalesce(p_amount_limit, wa)),
		least(wc, coalesce(p_count_limit, wc)),
		p_amount_limit, p_count_limit,
		least(wa, coalesce(p_amount_limit, wa)),
		least(wc, coalesce(p_count_limit, wc))
	WHERE (p_amount_limit IS NULL OR p_amount <= p_amount_limit)
	  AND (p_count_limit IS NULL OR p_count <= p_count_limit)
	ON CONFLICT (channel, day, scope) DO UPDATE SET
		grant_amount = least(wa,
			coalesce(p_amount_limit - u.amount, wa)),
		grant_count = least(wc,
			coalesce(p_count_limit - u.count, wc)),
		amount = u.amount + least(wa,
			coalesce(p_amount_limit - u.amount, wa)),
		count = u.count + least(wc,
			coalesce(p_count_limit - u.count, wc)),
		amount_limit = p_amount_limit,
		count_limit = p_count_limit,
		updated_at = now()
	WHERE (p_amount_limit IS NULL OR p_amount <= p_amount_limit - u.amount)
	  AND (p_count_limit IS NULL OR p_count <= p_count_limit - u.count)
	RETURNING u.grant_amount, u.grant_count, u.amount, u.count;
END
$$;

-- pr_usage_reserve_multi: the same for several scopes of one channel and
-- day (the channel and a bank), all or nothing: each scope gets at least
-- (p_amount, p_count) and up to its want, or no scope gets anything and no
-- row is returned. Rows are locked in scope order (no deadlock between two
-- callers). Returns one row per scope granted.
CREATE FUNCTION pr_usage_reserve_multi(p_channel text, p_day date,
		p_scopes text[], p_amount bigint, p_count bigint,
		p_amount_limits bigint[], p_count_limits bigint[],
		p_want_amounts bigint[], p_want_counts bigint[])
	RETURNS TABLE (r_scope text, r_granted_amount bigint,
		r_granted_count bigint, r_amount bigint, r_count bigint)
	LANGUAGE plpgsql AS $$
DECLARE
	i int;
	g record;
	sc text[] := '{}';
	ga bigint[] := '{}';
	gc bigint[] := '{}';
	ta bigint[] := '{}';
	tc bigint[] := '{}';
BEGIN
	BEGIN
		FOR i IN SELECT s.ord FROM unnest(p_scopes)
				WITH ORDINALITY AS s(scope, ord)
				ORDER BY s.scope LOOP
			SELECT * INTO g FROM pr_usage_reserve(p_channel, p_day,
				p_scopes[i], p_amount, p_count,
				p_amount_limits[i], p_count_limits[i],
				p_want_amounts[i], p_want_counts[i]);
			IF NOT FOUND THEN
				-- Undoes the scopes already reserved.
				RAISE EXCEPTION USING ERRCODE = 'PRU01',
					MESSAGE = 'over the limit';
			END IF;
			sc := sc || p_scopes[i];
			ga := ga || g.r_granted_amount;
			gc := gc || g.r_granted_count;
			ta := ta || g.r_amount;
			tc := tc || g.r_count;
		END LOOP;
	EXCEPTION WHEN SQLSTATE 'PRU01' THEN
		RETURN;
	END;
	FOR i IN 1 .. coalesce(array_length(sc, 1), 0) LOOP
		r_scope := sc[i];
		r_granted_amount := ga[i];
		r_granted_count := gc[i];
		r_amount := ta[i];
		r_count := tc[i];
		RETURN NEXT;
	END LOOP;
END
$$;

-- pr_usage_release: gives (p_amount, p_count) back to one row, never below
-- 0. Returns the row's new totals, or no row when there is no such row.
CREATE FUNCTION pr_usage_release(p_channel text, p_day date, p_scope text,
		p_amount bigint, p_count bigint)
	RETURNS TABLE (r_amount bigint, r_count bigint)
	LANGUAGE plpgsql AS $$
BEGIN
	IF p_amount < 0 OR p_count < 0 THEN
		RAISE EXCEPTION 'pr_usage_release: negative amount or count';
	END IF;
	RETURN QUERY
	UPDATE channel_daily_usage AS u SET
		amount = greatest(u.amount - p_amount, 0),
		count = greatest(u.count - p_count, 0),
		updated_at = now()
	WHERE u.channel = p_channel AND u.day = p_day AND u.scope = p_scope
	RETURNING u.amount, u.count;
END
$$;
