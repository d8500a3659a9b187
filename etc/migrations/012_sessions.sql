-- 012_sessions.sql - operators' passwords and console sessions
-- (doc/design.md §11, "Passwords and sessions"). Applied by payrouted
-- inside a transaction it opens.
--
-- A password is stored as its scrypt hash, the text naming the algorithm,
-- its parameters and the salt ("scrypt$ln=15,r=8,p=3$<salt>$<key>",
-- runtime/passwd.c): parameters may change, each hash keeps its own. The
-- clear text never reaches the store.
--
-- A console session is a random 256-bit secret in an HttpOnly cookie; the
-- store keeps only its SHA-256 (hex; looked up by it, as the bootstrap
-- token is: a lookup by a hash says nothing through timing about the
-- secret). A session ends by sign-out, by its idle or absolute time-out
-- (admin.session_idle_s, admin.session_max_s, checked by payrouted at
-- each request so that a changed setting applies to open sessions), when
-- its operator is disabled, when the operator's password is set anew
-- (the other sessions end), or when the token a session was signed in with
-- is revoked or expires; the row stays, for the audit.

ALTER TABLE operators
	ADD COLUMN password_hash text CHECK (password_hash IS NULL
		OR (password_hash ~ '^[a-z0-9]+\$' AND length(password_hash)
			<= 128)),
	ADD COLUMN password_set_at timestamptz,
	ADD CONSTRAINT operators_password_set_at CHECK
		((password_hash IS NULL) = (password_set_at IS NULL));

CREATE TABLE operator_sessions (
	id bigserial PRIMARY KEY,
	operator text NOT NULL REFERENCES operators (name),
	hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
	via text NOT NULL CHECK (via IN ('password', 'token')),
	token_id bigint REFERENCES operator_tokens (id),
	address text NOT NULL CHECK (length(address) BETWEEN 1 AND 64),
	created_at timestamptz NOT NULL DEFAULT now(),
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	ended_at timestamptz,
	ended_why text CHECK (ended_why IN ('sign_out', 'idle', 'absolute',
		'disabled', 'password', 'token')),
	CHECK ((ended_at IS NULL) = (ended_why IS NULL)),
	CHECK ((via = 'token') = (token_id IS NOT NULL)),
	CHECK (last_seen_at >= created_at)
);
CREATE INDEX operator_sessions_open_idx ON operator_sessions (operator)
	WHERE ended_at IS NULL;

-- The public JSON of an operator now says whether it has a password.
CREATE OR REPLACE FUNCTION pr_operator_json(o operators) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', o.name, 'roles', to_jsonb(o.roles),
		'state', o.state, 'created_by', o.created_by,
		'created_at', pr_rfc3339(o.created_at),
		'updated_at', pr_rfc3339(o.updated_at),
		'locked_until', CASE WHEN o.locked_until > now()
			THEN pr_rfc3339(o.locked_until) END,
		'password_set_at', pr_rfc3339(o.password_set_at))
$$;

-- A session's check at a request: p_hash the SHA-256 of the cookie's
-- secret, p_idle_s and p_max_s the time-outs. Answers one row when the
-- session is known: its verdict ('ok', 'ended', 'idle', 'absolute',
-- 'disabled', 'token', 'locked') with the operator and its roles. An open
-- session found past a time-out, of a disabled operator or of a revoked or
-- expired token is ended here, and
-- audited (session_end); an 'ok' one has its last_seen_at moved on.
CREATE FUNCTION pr_session_check(p_hash text, p_idle_s int, p_max_s int)
RETURNS TABLE (verdict text, operator text, roles text, session_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
	s operator_sessions;
	o operators;
	v text;
BEGIN
	SELECT * INTO s FROM operator_sessions WHERE hash = p_hash
		FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT * INTO o FROM operators WHERE name = s.operator;
	v := CASE
		WHEN s.ended_at IS NOT NULL THEN 'ended'
		WHEN s.created_at <= now() - make_interval(secs => p_max_s)
			THEN 'absolute'
		WHEN s.last_seen_at <= now() - make_interval(secs => p_idle_s)
			THEN 'idle'
		WHEN o.state <> 'active' THEN 'disabled'
		WHEN EXISTS (SELECT 1 FROM operator_tokens t
			WHERE t.id = s.token_id AND (t.revoked_at IS NOT NULL
				OR t.expires_at <= now())) THEN 'token'
		WHEN o.locked_until > now() THEN 'locked'
		ELSE 'ok' END;
	IF v IN ('absolute', 'idle', 'disabled', 'token') THEN
		UPDATE operator_sessions SET ended_at = now(), ended_why = v
			WHERE id = s.id;
		INSERT INTO audit_log (actor, action, object_kind, object_id,
				after, note)
			VALUES (s.operator, 'session_end', 'operator',
				s.operator, jsonb_build_object('session',
					s.id, 'why', v, 'address',
					s.address), 'session ended: ' || v);
	ELSIF v = 'ok' THEN
		UPDATE operator_sessions SET last_seen_at = now()
			WHERE id = s.id;
	END IF;
	RETURN QUERY SELECT v, o.name, array_to_string(o.roles, ','), s.id;
END
$$;
