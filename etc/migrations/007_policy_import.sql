-- 007_policy_import.sql - the write of a whole-policy import (PUT
-- /admin/v1/policy): policy_apply() applies a change set that the core
-- computed and checked (core/domain/policy_io.c, pr_policy_plan), in the
-- caller's transaction, after the caller took the policy lock. The JSON ->
-- columns mapping stays with channel_save() and routing_rules_replace()
-- (migration 002); this only puts the pieces in an order the foreign keys
-- accept: whitelist entries and overrides go before the channels they
-- name, channels come before the entries and overrides that name them.
-- Applied by payrouted inside a transaction it opens (no BEGIN/COMMIT).

-- Applies the change set j:
--   channels_delete   [code]
--   channels_save     [{"channel": channel_save's JSON, "is_new": bool}]
--   whitelist_delete  [id]
--   whitelist_update  [{"id", "note", "expires_at"}]
--   whitelist_insert  [{"kind", "value", "hint", "channel", "note",
--                       "expires_at"}]   (created_by: p_actor)
--   rules             [rule] (absent: the rules stay as they are)
--   overrides_delete  [{"channel", "op", "code", "sub_code"}]
--   overrides_upsert  [override]
-- Every key is optional. Returns the whitelist entries it created:
-- [{"id", "kind", "value", "channel"}] (the caller audits them by id).
CREATE FUNCTION policy_apply(j jsonb, p_actor text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	e jsonb;
	created jsonb;
BEGIN
	DELETE FROM whitelist
	WHERE id IN (SELECT x::bigint FROM jsonb_array_elements_text(
		coalesce(j->'whitelist_delete', '[]')) AS x);
	DELETE FROM code_overrides o
	USING jsonb_array_elements(coalesce(j->'overrides_delete', '[]')) AS d
	WHERE o.channel = d->>'channel' AND o.op = d->>'op'
		AND o.code = d->>'code' AND o.sub_code = d->>'sub_code';
	DELETE FROM channels
	WHERE code IN (SELECT jsonb_array_elements_text(
		coalesce(j->'channels_delete', '[]')));
	FOR e IN SELECT x FROM jsonb_array_elements(
		coalesce(j->'channels_save', '[]')) AS x
	LOOP
		PERFORM channel_save(e->'channel', (e->>'is_new')::boolean);
	END LOOP;
	UPDATE whitelist w SET
		note = coalesce(u->>'note', ''),
		expires_at = (u->>'expires_at')::timestamptz
	FROM jsonb_array_elements(coalesce(j->'whitelist_update', '[]')) AS u
	WHERE w.id = (u->>'id')::bigint;
	WITH ins AS (
		INSERT INTO whitelist (kind, value, hint, channel, note,
				       expires_at, created_by)
		SELECT t.e->>'kind', t.e->>'value', t.e->>'hint',
			t.e->>'channel', coalesce(t.e->>'note', ''),
			date_trunc('second', (t.e->>'expires_at')::timestamptz),
			p_actor
		FROM jsonb_array_elements(coalesce(j->'whitelist_insert', '[]'))
			WITH ORDINALITY AS t(e, n)
		ORDER BY t.n
		RETURNING id, kind, value, channel)
	SELECT coalesce(jsonb_agg(jsonb_build_object('id', ins.id, 'kind',
		ins.kind, 'value', ins.value, 'channel', ins.channel)), '[]')
	INTO created FROM ins;
	IF jsonb_typeof(j->'rules') = 'array' THEN
		PERFORM routing_rules_replace(j->'rules');
	END IF;
	INSERT INTO code_overrides AS o (channel, op, code, sub_code, unified,
		effect, retryable, category, message_en, message_zh)
	SELECT r.channel, r.op, r.code, r.sub_code, r.unified, r.effect,
		r.retryable, r.category, r.message_en, r.message_zh
	FROM jsonb_array_elements(coalesce(j->'overrides_upsert', '[]')) AS x,
		jsonb_populate_record(NULL::code_overrides, x) AS r
	ON CONFLICT (channel, op, code, sub_code) DO UPDATE SET
		unified = EXCLUDED.unified, effect = EXCLUDED.effect,
		retryable = EXCLUDED.retryable, category = EXCLUDED.category,
		message_en = EXCLUDED.message_en,
		message_zh = EXCLUDED.message_zh, updated_at = now();
	RETURN created;
END
$$;
