-- 001_init.sql - the backbone schema: the channel catalogue and the audit
-- log. Applied once by payrouted at start-up, inside a transaction it opens
-- (so no BEGIN/COMMIT here); later migrations extend these tables.

-- One configured connection to an institution through a driver.
CREATE TABLE channels (
	code text PRIMARY KEY
		CHECK (code ~ '^[a-z0-9_]{1,64}$'),
	driver text NOT NULL
		CHECK (driver ~ '^[a-z0-9_]{1,64}$'),
	institution text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'offline'
		CHECK (status IN ('online', 'offline')),
	driver_config jsonb NOT NULL DEFAULT '{}'
		CHECK (jsonb_typeof(driver_config) = 'object'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- Who changed what, with the object before and after (admin API edits,
-- reloads, operator actions). Append-only.
CREATE TABLE audit_log (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,
	action text NOT NULL,
	object_kind text,
	object_id text,
	before jsonb,
	after jsonb,
	note text
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_object_idx ON audit_log (object_kind, object_id, at);
