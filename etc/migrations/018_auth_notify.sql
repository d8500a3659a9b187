-- 018_auth_notify.sql - every instance forgets a cached admin credential
-- when the store changes what it was verified against (doc/design.md §11,
-- "The authentication cache"). payrouted keeps the tokens it verified in
-- memory (core/base/authcache.c) and LISTENs on payroute_operators; these
-- triggers NOTIFY there, with the operator's name as the payload, when an
-- operator's state, roles, lock, password or name changes, when it starts
-- counting failed authentications (its first failure, so that the next
-- success goes to the store and resets the count), and when one of its
-- tokens is revoked, re-dated, re-hashed or moved; an empty payload (a
-- TRUNCATE) means everyone. The notification goes out when the change
-- commits, to every instance at once; an instance whose LISTEN connection
-- was down meanwhile empties its cache when it is back.
--
-- A token's last_used_at and an operator's updated_at, failed_auth going
-- on counting or being reset NOTIFY nothing: the cache does not depend on
-- them, and a token's use would otherwise empty the cache it comes from.

CREATE FUNCTION pr_auth_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_LEVEL = 'STATEMENT' THEN
		PERFORM pg_notify('payroute_operators', '');
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM pg_notify('payroute_operators',
			to_jsonb(OLD) ->> TG_ARGV[0]);
	END IF;
	IF TG_OP = 'UPDATE' THEN
		PERFORM pg_notify('payroute_operators',
			to_jsonb(NEW) ->> TG_ARGV[0]);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER operators_auth_notify AFTER UPDATE ON operators
	FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name
		OR OLD.state IS DISTINCT FROM NEW.state
		OR OLD.roles IS DISTINCT FROM NEW.roles
		OR OLD.locked_until IS DISTINCT FROM NEW.locked_until
		OR OLD.password_hash IS DISTINCT FROM NEW.password_hash
		OR (OLD.failed_auth = 0 AND NEW.failed_auth > 0))
	EXECUTE FUNCTION pr_auth_notify('name');
CREATE TRIGGER operators_auth_notify_delete AFTER DELETE ON operators
	FOR EACH ROW EXECUTE FUNCTION pr_auth_notify('name');
CREATE TRIGGER operators_auth_notify_truncate AFTER TRUNCATE ON operators
	FOR EACH STATEMENT EXECUTE FUNCTION pr_auth_notify();

CREATE TRIGGER operator_tokens_auth_notify AFTER UPDATE ON operator_tokens
	FOR EACH ROW WHEN (OLD.operator IS DISTINCT FROM NEW.operator
		OR OLD.hash IS DISTINCT FROM NEW.hash
		OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
		OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
	EXECUTE FUNCTION pr_auth_notify('operator');
CREATE TRIGGER operator_tokens_auth_notify_delete AFTER DELETE
	ON operator_tokens
	FOR EACH ROW EXECUTE FUNCTION pr_auth_notify('operator');
CREATE TRIGGER operator_tokens_auth_notify_truncate AFTER TRUNCATE
	ON operator_tokens
	FOR EACH STATEMENT EXECUTE FUNCTION pr_auth_notify();
