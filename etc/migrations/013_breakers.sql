-- 013_breakers.sql - each channel's circuit breaker as every instance
-- agrees on it (doc/design.md §4, "Circuit breaking"). An instance that
-- moves a breaker (its calls failed, a probe answered, a cool-down ended,
-- an operator forced it) upserts the row with the move's start time and
-- appends to audit_log; every instance reads the table each second and
-- takes the rows later than what it knows. A row only moves forward in
-- time: of two instances racing, the later decision stays.
CREATE TABLE channel_breakers (
	channel text PRIMARY KEY
		REFERENCES channels (code) ON DELETE CASCADE,
	state text NOT NULL
		CHECK (state IN ('closed', 'open', 'half_open')),
	since_ms bigint NOT NULL CHECK (since_ms > 0),
	reason text NOT NULL DEFAULT '',
	actor text NOT NULL DEFAULT 'system',
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION pr_breakers_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.since_ms < OLD.since_ms THEN
		RAISE EXCEPTION 'channel_breakers: % moves back in time', NEW.channel
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER channel_breakers_forward BEFORE UPDATE ON channel_breakers
	FOR EACH ROW EXECUTE FUNCTION pr_breakers_forward();
