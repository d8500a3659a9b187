-- 011_operators.sql - operators: named accounts with roles, their API
-- tokens, and the failed authentications that lock an account (doc/design.md
-- §11, "Operators, roles and permissions"). Applied by payrouted inside a
-- transaction it opens.
--
-- An operator has one or more roles (viewer, operator, admin: what each may
-- do is core/base/perms.c) and is active or disabled. A token belongs to one
-- operator; only its SHA-256 is stored (hex): a token is 256 random bits, so
-- a fast hash is right (no dictionary to slow down), and the secret itself
-- is shown once, when it is made. A token is "pro_<id>_<64 hex>": the id
-- finds the row by its key, the hash is then compared in constant time
-- (admin/operators.c). The bootstrap token (admin.token, as configured) is
-- looked up by its hash (unique) instead.
--
-- Failed authentications of an operator's token count on the operator:
-- failed_auth failures within the window since first_failed_at; reaching
-- the limit sets locked_until (pr_operator_auth_failed). Refused attempts
-- and permission refusals are audited in audit_log (actor: the operator, or
-- "-" when none is known).

CREATE FUNCTION pr_roles_ok(r text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT cardinality(r) BETWEEN 1 AND 3
		AND r <@ ARRAY['viewer', 'operator', 'admin']::text[]
		AND cardinality(r) = (SELECT count(DISTINCT x) FROM unnest(r) x)
$$;

CREATE TABLE operators (
	name text PRIMARY KEY
		CHECK (name ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'),
	roles text[] NOT NULL CHECK (pr_roles_ok(roles)),
	state text NOT NULL DEFAULT 'active'
		CHECK (state IN ('active', 'disabled')),
	created_by text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	failed_auth int NOT NULL DEFAULT 0 CHECK (failed_auth >= 0),
	first_failed_at timestamptz,
	locked_until timestamptz
);

CREATE TABLE operator_tokens (
	id bigserial PRIMARY KEY,
	operator text NOT NULL REFERENCES operators (name),
	label text NOT NULL CHECK (length(label) BETWEEN 1 AND 64
		AND label !~ '[[:cntrl:]]'),
	hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
	created_by text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz CHECK (expires_at IS NULL
		OR expires_at > created_at),
	revoked_at timestamptz,
	revoked_by text,
	last_used_at timestamptz,
	CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX operator_tokens_operator_idx ON operator_tokens (operator, id);

-- The public JSON of an operator and of a token (never the hash).
CREATE FUNCTION pr_operator_json(o operators) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', o.name, 'roles', to_jsonb(o.roles),
		'state', o.state, 'created_by', o.created_by,
		'created_at', pr_rfc3339(o.created_at),
		'updated_at', pr_rfc3339(o.updated_at),
		'locked_until', CASE WHEN o.locked_until > now()
			THEN pr_rfc3339(o.locked_until) END)
$$;

CREATE FUNCTION pr_operator_token_json(t operator_tokens) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', t.id, 'operator', t.operator,
		'label', t.label, 'created_by', t.created_by,
		'created_at', pr_rfc3339(t.created_at),
		'expires_at', pr_rfc3339(t.expires_at),
		'revoked_at', pr_rfc3339(t.revoked_at),
		'revoked_by', t.revoked_by,
		'last_used_at', pr_rfc3339(t.last_used_at),
		'state', CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
			WHEN t.expires_at <= now() THEN 'expired'
			ELSE 'active' END)
$$;

-- The first admin: when there is no operator yet, p_name becomes one with
-- the role admin and the token whose SHA-256 is p_hash (label
-- "bootstrap"). Answers 'created', or 'exists' (nothing done) when an
-- operator exists. The table lock makes two instances starting together
-- create one.
CREATE FUNCTION pr_operator_bootstrap(p_name text, p_hash text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE;
	IF EXISTS (SELECT 1 FROM operators) THEN
		RETURN 'exists';
	END IF;
	INSERT INTO operators (name, roles, created_by)
		VALUES (p_name, ARRAY['admin'], 'payrouted');
	INSERT INTO operator_tokens (operator, label, hash, created_by)
		VALUES (p_name, 'bootstrap', p_hash, 'payrouted');
	INSERT INTO audit_log (actor, action, object_kind, object_id, after,
			note)
		SELECT 'payrouted', 'bootstrap', 'operator', p_name,
			pr_operator_json(o), 'the first admin, from admin.token'
		FROM operators o WHERE o.name = p_name;
	RETURN 'created';
END
$$;

-- A failed authentication of operator p_name (NULL: no operator is known,
-- only audited): counts it in the window of p_window_s seconds, and locks
-- the account for p_lock_s seconds when the count reaches p_max (0: never).
-- Audited with the client's address and the reason. Answers the time the
-- account is locked until, or NULL.
CREATE FUNCTION pr_operator_auth_failed(p_name text, p_addr text,
	p_reason text, p_max int, p_window_s int, p_lock_s int)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
	v_until timestamptz;
BEGIN
	IF p_name IS NOT NULL THEN
		UPDATE operators SET
			failed_auth = CASE WHEN first_failed_at IS NULL
				OR first_failed_at <= now()
					- make_interval(secs => p_window_s)
				THEN 1 ELSE failed_auth + 1 END,
			first_failed_at = CASE WHEN first_failed_at IS NULL
				OR first_failed_at <= now()
					- make_interval(secs => p_window_s)
				THEN now() ELSE first_failed_at END
		WHERE name = p_name;
		UPDATE operators SET
			locked_until = now() + make_interval(secs => p_lock_s),
			failed_auth = 0, first_failed_at = NULL
		WHERE name = p_name AND p_max > 0 AND failed_auth >= p_max
		RETURNING locked_until INTO v_until;
	END IF;
	INSERT INTO audit_log (actor, action, object_kind, object_id, after,
			note)
		VALUES (coalesce(p_name, '-'), 'auth_failed', 'operator',
			p_name, jsonb_build_object('address', p_addr,
				'reason', p_reason, 'locked_until',
				pr_rfc3339(v_until)), p_reason);
	RETURN v_until;
END
$$;

-- One active admin at least, whatever an update does: else nobody could
-- manage operators any more (checked at the end of each statement).
CREATE FUNCTION pr_operators_keep_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM operators WHERE state = 'active'
			AND roles @> ARRAY['admin']) THEN
		RAISE EXCEPTION 'operators_keep_admin: the last active admin '
			'cannot be disabled nor lose the role admin'
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER operators_keep_admin AFTER UPDATE ON operators
	FOR EACH STATEMENT EXECUTE FUNCTION pr_operators_keep_admin();
