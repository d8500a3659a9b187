-- 009_order_lists.sql - the admin API's order lists (GET
-- /admin/v1/payments, /admin/v1/refunds, /admin/v1/withdrawals;
-- core/domain/ordquery.c builds their statements): the indexes they walk, and
-- what their items show. Applied by payrouted inside a transaction it
-- opens.
--
-- Every list is newest first, ordered by (created_at, id) and paged by
-- keyset ((created_at, id) < the cursor's), so each walks an index in that
-- order, led by the column of the filter given: the merchant, the channel,
-- the buyer, or the merchant's number. The filters no index names (status,
-- code, amounts) are checked on the rows the walk meets:
-- doc/design.md §7, no index of payments or withdrawals names status (nor
-- code, set by nearly every transition), so that a transition stays a HOT
-- update. channel is indexed: it changes only when an order cascades to
-- another channel (or a pending withdrawal is sent), which then writes
-- index entries, a cost paid by the rare cascade only.
-- contrib/bench/bench_lists.sh loads a million payments and prints each
-- list's plan.
--
-- The (created_at, id) indexes replace the (created_at) ones of 004 and
-- 005, which they serve as well.

CREATE FUNCTION pr_rfc3339_ms(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

DROP INDEX payments_created_idx;
CREATE INDEX payments_created_idx ON payments (created_at, id);
CREATE INDEX payments_merchant_list_idx
	ON payments (merchant_id, created_at, id);
CREATE INDEX payments_channel_list_idx
	ON payments (channel, created_at, id);
CREATE INDEX payments_buyer_list_idx ON payments (buyer_id, created_at, id)
	WHERE buyer_id IS NOT NULL;
CREATE INDEX payments_order_no_idx ON payments (merchant_order_no);

DROP INDEX withdrawals_created_idx;
CREATE INDEX withdrawals_created_idx ON withdrawals (created_at, id);
CREATE INDEX withdrawals_merchant_list_idx
	ON withdrawals (merchant_id, created_at, id);
CREATE INDEX withdrawals_channel_list_idx
	ON withdrawals (channel, created_at, id);
CREATE INDEX withdrawals_no_idx ON withdrawals (merchant_withdrawal_no);

CREATE INDEX refunds_created_idx ON refunds (created_at, id);
CREATE INDEX refunds_merchant_list_idx
	ON refunds (merchant_id, created_at, id);
CREATE INDEX refunds_channel_list_idx ON refunds (channel, created_at, id);
CREATE INDEX refunds_no_idx ON refunds (merchant_refund_no);

-- Why a withdrawal waits in pending_channel, from the route trace its last
-- routing left on it (core/orders/withdrawals.c refreshes it at every try): the
-- channels dropped, counted by the filter that dropped each
-- (doc/design.md §4), and, when some channel was eligible but none took
-- it, its last answer (p_code). With its deadline (it fails then) and the
-- time of its next try.
CREATE FUNCTION pr_withdrawal_waiting(p_trace jsonb, p_code text,
		p_deadline timestamptz, p_next timestamptz)
	RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object(
		'deadline_at', pr_rfc3339_ms(p_deadline),
		'next_route_at', pr_rfc3339_ms(p_next),
		'dropped', coalesce(p_trace -> 'route' -> 'dropped', '{}'),
		'eligible', coalesce(jsonb_array_length(
			p_trace -> 'route' -> 'candidates'), 0),
		'reason', CASE
		WHEN coalesce(jsonb_array_length(
			p_trace -> 'route' -> 'candidates'), 0) > 0 THEN
			'no eligible channel took it; the last answer was ' ||
			coalesce(p_code, 'none')
		ELSE 'no channel takes it: ' || coalesce((
			SELECT string_agg(d.value || ' dropped by ' || d.key,
				', ' ORDER BY d.value::bigint DESC, d.key)
			FROM jsonb_each_text(p_trace -> 'route' -> 'dropped') d),
			'no channel takes withdrawals')
		END)
$$;
