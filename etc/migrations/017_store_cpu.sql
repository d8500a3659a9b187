-- 017_store_cpu.sql - what a payment costs the store's CPU, statement by
-- statement (doc/design.md §7; issue 11). Applied by payrouted inside a
-- transaction it opens.
--
-- Measured with perf on the backends replaying a payment's two statements
-- (contrib/bench/bench_store.sh; the figures are in the commit), these
-- changes keep every rule and take work off every statement:
--
-- 1. pr_ms_time is inlined again. Its body added an interval to a
--    timestamptz, which is only STABLE (a day's length depends on the
--    time zone), so the planner could not inline a function declared
--    IMMUTABLE around it: every statement that named it parsed, analysed
--    and planned its SQL body again at its first call (7% of a backend's
--    CPU in the order path). The same instant computed from a timestamp
--    (immutable arithmetic) at UTC is inlined, and reads its argument
--    once.
--

-- ---------------------------------------------------------------- 1.

CREATE OR REPLACE FUNCTION pr_ms_time(p_ms bigint) RETURNS timestamptz
	LANGUAGE sql IMMUTABLE AS $$
	SELECT (timestamp '1970-01-01' + p_ms * interval '1 millisecond')
		AT TIME ZONE 'UTC'
$$;
