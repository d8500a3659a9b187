-- 002_catalogue.sql - the routing catalogue: every routing attribute of a
-- channel (doc/design.md §4) as a column with the money invariants as
-- CHECK constraints, the whitelist (card numbers only as HMAC-SHA256), the
-- ordered routing rules, and the views that render them in the JSON shapes
-- the core parses (pr_chan_parse, pr_wl_parse, pr_rule_parse):
--
--   channels_api (code, channel)        one channel as the admin API shows it
--   whitelist_api (id, channel, entry)  an entry for the admin API (no card
--                                       HMAC: a hint of the last 4 digits)
--   whitelist_store (id, entry)         an entry as the router needs it
--   routing_rules_api (position, rule)  a rule
--   policy_snapshot                     ONE row: channels, whitelist, rules
--                                       (json arrays) for a generation
--
-- Writes go through channel_save() and routing_rules_replace() so that the
-- JSON -> columns mapping lives next to the columns -> JSON views.
-- Applied by payrouted inside a transaction it opens (no BEGIN/COMMIT).

-- ------------------------------------------------------------- helpers

-- The elements of a JSON array of strings as text[], in order ('{}' for
-- NULL or an empty array).
CREATE FUNCTION pr_json_text_array(j jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(array_agg(x ORDER BY n), '{}')
	FROM jsonb_array_elements_text(coalesce(j, '[]'::jsonb))
		WITH ORDINALITY AS t(x, n)
$$;

-- A duration in seconds as pr_chan_to_json writes it: the largest unit
-- that divides it ("2d", "36h", "90m", "45s").
CREATE FUNCTION pr_duration_text(s bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
		WHEN s % 86400 = 0 THEN (s / 86400)::text || 'd'
		WHEN s % 3600 = 0 THEN (s / 3600)::text || 'h'
		WHEN s % 60 = 0 THEN (s / 60)::text || 'm'
		ELSE s::text || 's'
	END
$$;

-- An instant as RFC 3339 in UTC, whole seconds ("2025-01-31T16:00:00Z").
CREATE FUNCTION pr_rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- True when every element of a is non-NULL and matches the regex re.
CREATE FUNCTION pr_all_match(a text[], re text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT array_position(a, NULL) IS NULL
		AND coalesce((SELECT bool_and(x ~ re) FROM unnest(a) AS x), true)
$$;

-- -------------------------------------------------------------- channels

-- The defaults are pr_chan_parse's for a missing key (catalogue.c), so a
-- row inserted with only code and driver reads back as the API would have
-- stored it.
ALTER TABLE channels
	ADD COLUMN business_types text[] NOT NULL DEFAULT '{}',
	ADD COLUMN methods text[] NOT NULL DEFAULT '{}',
	ADD COLUMN environments text[] NOT NULL DEFAULT '{}',
	ADD COLUMN product_codes text[] NOT NULL DEFAULT '{}',
	ADD COLUMN currencies text[] NOT NULL DEFAULT '{}',
	ADD COLUMN banks jsonb NOT NULL DEFAULT '[]',
	ADD COLUMN timezone text NOT NULL DEFAULT 'Asia/Shanghai',
	ADD COLUMN maintenance_windows jsonb NOT NULL DEFAULT '[]',
	ADD COLUMN txn_min bigint NOT NULL DEFAULT 0,
	ADD COLUMN txn_max bigint NOT NULL DEFAULT 0,
	ADD COLUMN daily_amount bigint NOT NULL DEFAULT 0,
	ADD COLUMN daily_count bigint NOT NULL DEFAULT 0,
	ADD COLUMN fee_rate_bps integer NOT NULL DEFAULT 0,
	ADD COLUMN fee_fixed bigint NOT NULL DEFAULT 0,
	ADD COLUMN fee_min bigint NOT NULL DEFAULT 0,
	ADD COLUMN fee_max bigint NOT NULL DEFAULT 0,
	ADD COLUMN weight integer NOT NULL DEFAULT 100,
	ADD COLUMN refund_window_days integer NOT NULL DEFAULT 365,
	ADD COLUMN refund_timeout_s bigint NOT NULL DEFAULT 172800,
	ADD COLUMN refund_resend boolean NOT NULL DEFAULT true,
	ADD COLUMN whitelist_only boolean NOT NULL DEFAULT false,
	ADD CONSTRAINT channels_business_types_check
		CHECK (business_types <@ ARRAY['pay', 'refund', 'withdraw']
		       AND array_position(business_types, NULL) IS NULL),
	ADD CONSTRAINT channels_methods_check
		CHECK (pr_all_match(methods, '^[a-z0-9_]{1,64}$')),
	ADD CONSTRAINT channels_environments_check
		CHECK (pr_all_match(environments, '^[a-z0-9_]{1,64}$')),
	ADD CONSTRAINT channels_product_codes_check
		CHECK (pr_all_match(product_codes, '^.{1,64}$')),
	ADD CONSTRAINT channels_currencies_check
		CHECK (pr_all_match(currencies, '^[A-Z]{3}$')),
	ADD CONSTRAINT channels_banks_check
		CHECK (jsonb_typeof(banks) = 'array'),
	ADD CONSTRAINT channels_timezone_check
		CHECK (timezone ~ '^[A-Za-z0-9_+./-]{1,64}$'),
	ADD CONSTRAINT channels_maintenance_windows_check
		CHECK (jsonb_typeof(maintenance_windows) = 'array'),
	ADD CONSTRAINT channels_limits_check
		CHECK (txn_min >= 0 AND txn_max >= 0 AND daily_amount >= 0
		       AND daily_count >= 0),
	ADD CONSTRAINT channels_txn_range_check
		CHECK (txn_max = 0 OR txn_max >= txn_min),
	ADD CONSTRAINT channels_fee_check
		CHECK (fee_fixed >= 0 AND fee_min >= 0 AND fee_max >= 0),
	ADD CONSTRAINT channels_fee_range_check
		CHECK (fee_max = 0 OR fee_max >= fee_min),
	ADD CONSTRAINT channels_fee_rate_check
		CHECK (fee_rate_bps BETWEEN 0 AND 10000),
	ADD CONSTRAINT channels_weight_check
		CHECK (weight BETWEEN 0 AND 10000),
	ADD CONSTRAINT channels_refund_check
		CHECK (refund_window_days >= 0 AND refund_timeout_s > 0);

-- One channel in the admin API's shape (doc/design.md §9, "A channel"),
-- which is also what pr_chan_parse reads. driver_config is NOT masked
-- here: the API masks it before answering.
CREATE VIEW channels_api AS
SELECT c.code,
	json_build_object(
		'code', c.code,
		'driver', c.driver,
		'institution', c.institution,
		'business_types', to_json(c.business_types),
		'methods', to_json(c.methods),
		'environments', to_json(c.environments),
		'product_codes', to_json(c.product_codes),
		'currencies', to_json(c.currencies),
		'banks', c.banks,
		'status', c.status,
		'timezone', c.timezone,
		'maintenance_windows', c.maintenance_windows,
		'limits', json_build_object(
			'txn_min', c.txn_min,
			'txn_max', c.txn_max,
			'daily_amount', c.daily_amount,
			'daily_count', c.daily_count),
		'fee', json_build_object(
			'rate_bps', c.fee_rate_bps,
			'fixed', c.fee_fixed,
			'min', c.fee_min,
			'max', c.fee_max),
		'weight', c.weight,
		'refund_window_days', c.refund_window_days,
		'refund_timeout', pr_duration_text(c.refund_timeout_s),
		'refund_resend', c.refund_resend,
		'whitelist_only', c.whitelist_only,
		'driver_config', c.driver_config) AS channel
FROM channels c;

-- Writes a channel from its API JSON (as pr_chan_to_json renders it, plus
-- "refund_timeout_s": the parsed refund timeout in seconds). is_new: INSERT
-- (unique_violation when the code exists), else UPDATE (no_data_found when
-- it does not).
CREATE FUNCTION channel_save(j jsonb, is_new boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF is_new THEN
		INSERT INTO channels (code, driver) VALUES (j->>'code', j->>'driver');
	END IF;
	UPDATE channels SET
		driver = j->>'driver',
		institution = coalesce(j->>'institution', ''),
		business_types = pr_json_text_array(j->'business_types'),
		methods = pr_json_text_array(j->'methods'),
		environments = pr_json_text_array(j->'environments'),
		product_codes = pr_json_text_array(j->'product_codes'),
		currencies = pr_json_text_array(j->'currencies'),
		banks = coalesce(j->'banks', '[]'),
		status = j->>'status',
		timezone = j->>'timezone',
		maintenance_windows = coalesce(j->'maintenance_windows', '[]'),
		txn_min = coalesce((j->'limits'->>'txn_min')::bigint, 0),
		txn_max = coalesce((j->'limits'->>'txn_max')::bigint, 0),
		daily_amount = coalesce((j->'limits'->>'daily_amount')::bigint, 0),
		daily_count = coalesce((j->'limits'->>'daily_count')::bigint, 0),
		fee_rate_bps = coalesce((j->'fee'->>'rate_bps')::integer, 0),
		fee_fixed = coalesce((j->'fee'->>'fixed')::bigint, 0),
		fee_min = coalesce((j->'fee'->>'min')::bigint, 0),
		fee_max = coalesce((j->'fee'->>'max')::bigint, 0),
		weight = (j->>'weight')::integer,
		refund_window_days = (j->>'refund_window_days')::integer,
		refund_timeout_s = (j->>'refund_timeout_s')::bigint,
		refund_resend = (j->>'refund_resend')::boolean,
		whitelist_only = (j->>'whitelist_only')::boolean,
		driver_config = coalesce(j->'driver_config', '{}'),
		updated_at = now()
	WHERE code = j->>'code';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no channel named %', j->>'code'
			USING ERRCODE = 'no_data_found';
	END IF;
END
$$;

-- ------------------------------------------------------------- whitelist

-- A whitelist entry names the channel a matching card, buyer or seller
-- goes to. Card numbers are never stored: value is the lowercase hex
-- HMAC-SHA256 (key: secrets.key_file) of the card's digits, hint its last
-- four digits (for people; never used to match).
CREATE TABLE whitelist (
	id bigserial PRIMARY KEY,
	kind text NOT NULL
		CHECK (kind IN ('card_no', 'buyer_id', 'seller_id')),
	value text NOT NULL
		CHECK (length(value) BETWEEN 1 AND 256),
	hint text
		CHECK (hint IS NULL OR hint ~ '^[0-9]{4}$'),
	channel text NOT NULL
		REFERENCES channels (code) ON UPDATE CASCADE ON DELETE RESTRICT,
	note text NOT NULL DEFAULT '',
	expires_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	created_by text NOT NULL DEFAULT 'admin',
	CONSTRAINT whitelist_card_hmac_check
		CHECK (kind <> 'card_no' OR value ~ '^[0-9a-f]{64}$'),
	UNIQUE (kind, value, channel)
);

CREATE INDEX whitelist_channel_idx ON whitelist (channel);

-- An entry as the router reads it (pr_wl_parse).
CREATE VIEW whitelist_store AS
SELECT w.id,
	json_build_object(
		'id', w.id,
		'kind', w.kind,
		'value', w.value,
		'channel', w.channel,
		'note', w.note,
		'expires_at', pr_rfc3339(w.expires_at)) AS entry
FROM whitelist w;

-- An entry as the admin API shows it: a card entry shows value_hint (the
-- last four digits), never its HMAC.
CREATE VIEW whitelist_api AS
SELECT w.id, w.kind, w.channel,
	(jsonb_build_object(
		'id', w.id,
		'kind', w.kind,
		'channel', w.channel,
		'note', w.note,
		'expires_at', pr_rfc3339(w.expires_at),
		'created_at', pr_rfc3339(w.created_at),
		'created_by', w.created_by) ||
	 CASE WHEN w.kind = 'card_no'
		THEN jsonb_build_object('value_hint', w.hint)
		ELSE jsonb_build_object('value', w.value) END)::json AS entry
FROM whitelist w;

-- --------------------------------------------------------- routing rules

-- The routing policy: rules in order (position 0 first). conditions and
-- scoring are stored as pr_rule_to_json renders them.
CREATE TABLE routing_rules (
	id bigserial PRIMARY KEY,
	position integer NOT NULL UNIQUE CHECK (position >= 0),
	name text NOT NULL DEFAULT '' CHECK (length(name) <= 128),
	enabled boolean NOT NULL DEFAULT true,
	conditions jsonb NOT NULL DEFAULT '{}'
		CHECK (jsonb_typeof(conditions) = 'object'),
	scoring jsonb NOT NULL DEFAULT '{}'
		CHECK (jsonb_typeof(scoring) = 'object'),
	allow text[] NOT NULL DEFAULT '{}',
	deny text[] NOT NULL DEFAULT '{}',
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- A rule as pr_rule_parse reads it.
CREATE VIEW routing_rules_api AS
SELECT r.id, r.position,
	json_build_object(
		'id', r.id,
		'name', r.name,
		'enabled', r.enabled,
		'conditions', r.conditions,
		'scoring', r.scoring,
		'allow', to_json(r.allow),
		'deny', to_json(r.deny)) AS rule
FROM routing_rules r;

-- Replaces every rule by the JSON array j (order = position).
CREATE FUNCTION routing_rules_replace(j jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer;
BEGIN
	DELETE FROM routing_rules;
	INSERT INTO routing_rules (position, name, enabled, conditions,
				   scoring, allow, deny)
	SELECT (t.n - 1)::integer, t.r->>'name',
		coalesce((t.r->>'enabled')::boolean, true),
		coalesce(t.r->'conditions', '{}'),
		coalesce(t.r->'scoring', '{}'),
		pr_json_text_array(t.r->'allow'),
		pr_json_text_array(t.r->'deny')
	FROM jsonb_array_elements(coalesce(j, '[]')) WITH ORDINALITY AS t(r, n);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- ------------------------------------------------------------- snapshot

-- Everything a generation routes with, in one row and one snapshot:
--   SELECT channels::text, whitelist::text, rules::text FROM policy_snapshot
CREATE VIEW policy_snapshot AS
SELECT
	(SELECT coalesce(json_agg(c.channel ORDER BY c.code), '[]'::json)
	 FROM channels_api c) AS channels,
	(SELECT coalesce(json_agg(w.entry ORDER BY w.id), '[]'::json)
	 FROM whitelist_store w) AS whitelist,
	(SELECT coalesce(json_agg(r.rule ORDER BY r.position), '[]'::json)
	 FROM routing_rules_api r) AS rules;
