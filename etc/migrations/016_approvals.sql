-- 016_approvals.sql - four eyes on money: an action that moves or writes
-- off money from approvals.threshold on (a payment, refund or withdrawal
-- settled as succeeded, an overdue refund resolved as paid outside the
-- channel), and a policy import when approvals.policy_import says so,
-- waits here for a second operator (doc/design.md §11, "Four eyes"). Applied by payrouted
-- inside a transaction it opens.
--
-- A row keeps the whole request to apply (payload), who asked and when,
-- and what became of it:
--
--   pending -> approved -> applied     the second operator said yes and
--                       -> failed      the action ran (or could not: the
--                                      target moved meanwhile; error says)
--   pending -> rejected                the second operator said no (reason)
--   pending -> expired                 nobody decided before expires_at
--
-- The store keeps the rules: the decider is never the requester; a state
-- only moves forward along the arrows above and the request itself never
-- changes (pr_approvals_forward); one pending approval per target.

CREATE TABLE approvals (
	id bigserial PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('payment.settle',
		'withdrawal.settle', 'refund.settle', 'refund.resolve',
		'policy.import')),
	-- an order's id, or the SHA-256 of a policy document
	target text NOT NULL CHECK (target ~ '^[A-Za-z0-9]{8,64}$'),
	payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
	-- the money at stake, in minor units (none for a policy import)
	amount bigint CHECK (amount >= 0),
	currency text CHECK (currency ~ '^[A-Z]{3}$'),
	CHECK ((amount IS NULL) = (currency IS NULL)),
	requested_by text NOT NULL
		CHECK (length(requested_by) BETWEEN 1 AND 64),
	requested_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL CHECK (expires_at > requested_at),
	state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending',
		'approved', 'rejected', 'expired', 'applied', 'failed')),
	decided_by text CHECK (length(decided_by) BETWEEN 1 AND 64),
	decided_at timestamptz,
	reason text CHECK (length(reason) BETWEEN 1 AND 512
		AND reason !~ '[[:cntrl:]]'),
	error text,
	applied_at timestamptz,
	CONSTRAINT approvals_four_eyes CHECK (decided_by <> requested_by),
	-- decided exactly when a second operator said yes or no
	CHECK ((state IN ('pending', 'expired')) = (decided_by IS NULL)),
	CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
	CHECK ((state = 'rejected') = (reason IS NOT NULL)),
	CHECK ((state = 'failed') = (error IS NOT NULL)),
	CHECK ((state IN ('applied', 'failed')) = (applied_at IS NOT NULL))
);
CREATE UNIQUE INDEX approvals_one_pending ON approvals (target)
	WHERE state = 'pending';
CREATE INDEX approvals_state_idx ON approvals (state, id);

CREATE FUNCTION pr_approvals_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.kind, NEW.target, NEW.payload, NEW.amount, NEW.currency,
			NEW.requested_by, NEW.requested_at, NEW.expires_at)
		IS DISTINCT FROM (OLD.kind, OLD.target, OLD.payload,
			OLD.amount, OLD.currency, OLD.requested_by,
			OLD.requested_at, OLD.expires_at) THEN
		RAISE EXCEPTION 'approval %: the request never changes', OLD.id
			USING ERRCODE = 'check_violation';
	END IF;
	IF NOT ((OLD.state = 'pending' AND NEW.state IN ('approved',
			'rejected', 'expired'))
		OR (OLD.state = 'approved' AND NEW.state IN ('applied',
			'failed'))) THEN
		RAISE EXCEPTION 'approval %: % -> % is not a forward move',
			OLD.id, OLD.state, NEW.state
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER approvals_forward BEFORE UPDATE ON approvals
	FOR EACH ROW EXECUTE FUNCTION pr_approvals_forward();

CREATE FUNCTION pr_approvals_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'approvals are kept (audit)'
		USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER approvals_keep BEFORE DELETE ON approvals
	FOR EACH ROW EXECUTE FUNCTION pr_approvals_keep();

-- The public JSON of an approval. A policy document is not shown (its
-- channels' driver configs hold secrets, and viewers read approvals): its
-- request is a summary, each top-level key with its number of entries.
CREATE FUNCTION pr_approval_json(a approvals) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', a.id, 'kind', a.kind,
		'target', a.target,
		'request', CASE WHEN a.kind = 'policy.import' THEN
			(SELECT coalesce(jsonb_object_agg(e.k,
				CASE jsonb_typeof(e.v) WHEN 'array'
				THEN to_jsonb(jsonb_array_length(e.v))
				WHEN 'object' THEN to_jsonb((SELECT count(*)
					FROM jsonb_object_keys(e.v)))
				ELSE to_jsonb(jsonb_typeof(e.v)) END), '{}')
			FROM jsonb_each(a.payload) e(k, v))
			ELSE a.payload END,
		'amount', a.amount,
		'currency', a.currency, 'requested_by', a.requested_by,
		'requested_at', pr_rfc3339(a.requested_at),
		'expires_at', pr_rfc3339(a.expires_at), 'state', a.state,
		'decided_by', a.decided_by,
		'decided_at', pr_rfc3339(a.decided_at), 'reason', a.reason,
		'error', a.error, 'applied_at', pr_rfc3339(a.applied_at))
$$;

-- Pending approvals past their time become expired (audited, actor
-- payrouted). Answers how many did.
CREATE FUNCTION pr_approvals_expire() RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	n int;
BEGIN
	WITH e AS (
		UPDATE approvals SET state = 'expired'
		WHERE state = 'pending' AND expires_at <= now()
		RETURNING approvals.*
	), l AS (
		INSERT INTO audit_log (actor, action, object_kind, object_id,
				after)
			SELECT 'payrouted', 'approval_expired', 'approval',
				e.id::text, pr_approval_json(e::approvals)
			FROM e
		RETURNING 1
	)
	SELECT count(*) INTO n FROM l;
	RETURN n;
END
$$;
