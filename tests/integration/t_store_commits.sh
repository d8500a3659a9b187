#!/usr/bin/env bash
# t_store_commits.sh - what an order costs the store, counted by
# PostgreSQL itself on a private cluster (pg_stat_database.xact_commit, and
# the transaction ids handed out: pg_snapshot_xmax): a payment created
# through the merchant API, with and without an Idempotency-Key, is at most
# two commits, both writes (the order with its attempt before the channel
# is called, the outcome after); a channel callback that settles it is one.
#
# The statistics of a backend reach pg_stat_database when it goes idle at
# least a second after its last report, so before each reading payrouted is
# made to run one statement on each of its connections a second after the
# load (settle: GETs of an unknown payment, whose commits are subtracted).
# What the daemon's timers commit meanwhile (usage refresh, gauges) is
# measured on an idle stretch first and subtracted by the time elapsed;
# autovacuum, whose transactions would count too, is off.
# The write transactions (transaction ids) are exact and held to +-0.05 per
# order. The commits also hold the read-only ones of those timers, which
# tick once a second per connection: over a phase of a second or two their
# count is off the measured rate by a tick or so, hence 0.10 per order
# (0.15 per callback: the callback phase waits for the simulated payer,
# and on a busy machine it lasts long enough for the timers' estimate to
# drift by more; seen at 1.104 under a parallel suite).
# The channel has no daily limit, so no reservation statement is made; its
# usage is recorded once a second for all the payments of that second, and
# those statements (payroute_usage_statements_total in /metrics) are
# subtracted too: they are per second, not per order.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3 xargs awk
pg_start
# Autovacuum's transactions count in pg_stat_database too: not ours.
pq -c "ALTER SYSTEM SET autovacuum = off" >/dev/null &&
	pq -c "SELECT pg_reload_conf()" >/dev/null || fail "cannot turn autovacuum off"
sim_start
new_instance a
install_drivers "$DRIVER_DIR" wechat
POOL_SIZE=2
TOP_EXTRA=', "completion": { "interval_ms": 60000, "schedule": "1h" }, "reconciliation": { "interval_ms": 3600000 }, "notify": { "interval_ms": 60000 }, "withdrawals": { "retry_interval_ms": 60000 }, "merchants": { "auth_cache_ms": 600000 }'
write_conf
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1
settle_generation

N=300
SETTLE_GETS=6

# stat: "commits xids callbacks" of database payroute, read from database
# postgres (so that reading adds nothing to what is counted), less the
# usage tracker's write statements so far; callbacks: the callback
# requests payrouted has answered (payroute_overhead_seconds_count), since
# a channel may send one again when the answer is slow to come.
stat() {
	local w cb

	http_get "http://127.0.0.1:$ADMIN_PORT/metrics"
	w=$(printf '%s\n' "$RESP_BODY" | awk '/^payroute_usage_statements_total\{kind="(reserve|release|record)"\}/ { n += $2 } END { print n + 0 }')
	cb=$(printf '%s\n' "$RESP_BODY" | awk '/^payroute_overhead_seconds_count\{op="callback"\}/ { print $2 }')
	[ -n "$cb" ] || fail "no payroute_overhead_seconds_count{op=\"callback\"} in /metrics"
	psql -X -q -A -t -F' ' -h "$PG_ROOT/sock" -U payroute -d postgres -c \
		"SELECT xact_commit - $w, pg_snapshot_xmax(pg_current_snapshot())::text::bigint - $w, $cb FROM pg_stat_database WHERE datname = 'payroute'" |
		grep -E '^[0-9]+ [0-9]+ [0-9]+$' || fail "cannot read pg_stat_database"
}

# settle: each of payrouted's connections runs a statement a second after
# the load, which publishes its statistics; SETTLE_GETS commits.
settle() {
	sleep 1.2
	seq $SETTLE_GETS | xargs -P $SETTLE_GETS -I{} curl -s -m 10 -o /dev/null \
		-H "Authorization: Bearer $MKEY" \
		"http://127.0.0.1:$MERCHANT_PORT/v1/payments/P000000000000000{}"
	sleep 0.3
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

cat >"$TEST_DIR/one.sh" <<'EOF'
#!/usr/bin/env bash
# one.sh PORT KEY NO [IDEM]: one payment; prints "HTTPCODE ID STATUS"
port=$1 key=$2 no=$3 idem=${4:-}
args=(-s -m 30 -w '\n%{http_code}' -H "Authorization: Bearer $key"
	-H 'Content-Type: application/json')
[ -n "$idem" ] && args+=(-H "Idempotency-Key: $idem")
out=$(curl "${args[@]}" --data-binary \
	"{\"merchant_order_no\":\"$no\",\"amount\":100,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"commits\"}" \
	"http://127.0.0.1:$port/v1/payments")
printf '%s %s %s\n' "${out##*$'\n'}" "$(printf '%s' "${out%$'\n'*}" | jq -r '.id // "-"')" \
	"$(printf '%s' "${out%$'\n'*}" | jq -r '.status // "-"')"
EOF
chmod +x "$TEST_DIR/one.sh"

# burst PREFIX [idem]: N payments, 4 at a time; every one 201 processing.
burst() {
	local prefix=$1 idem=${2:-}

	if [ -n "$idem" ]; then
		seq $N | xargs -P 4 -I{} "$TEST_DIR/one.sh" "$MERCHANT_PORT" \
			"$MKEY" "$prefix-{}" "$prefix-key-{}" >"$TEST_DIR/$prefix.txt"
	else
		seq $N | xargs -P 4 -I{} "$TEST_DIR/one.sh" "$MERCHANT_PORT" \
			"$MKEY" "$prefix-{}" >"$TEST_DIR/$prefix.txt"
	fi
	[ "$(grep -c '^201 P[0-9A-F]* processing$' "$TEST_DIR/$prefix.txt")" = $N ] ||
		fail "$prefix: not every payment was created: $(grep -v '^201 ' "$TEST_DIR/$prefix.txt" | head -n 3)"
}

# per WHAT S0 S1 MS EXTRA_COMMITS: prints "commits xids" per unit (N
# payments, or the callbacks payrouted answered in between), net of the
# background rate and of EXTRA_COMMITS known commits.
per() {
	awk -v what="$1" -v a="$2" -v b="$3" -v ms="$4" -v extra="$5" \
		-v bg="$BG_PER_MS" -v bgx="$BGX_PER_MS" -v n=$N 'BEGIN {
		split(a, x, " "); split(b, y, " ");
		if (what == "callback") n = y[3] - x[3];
		printf "%.3f %.3f %d\n", (y[1] - x[1] - extra - bg * ms) / n,
			(y[2] - x[2] - bgx * ms) / n, n }'
}

# Warm up: every statement of the path prepared on both connections.
for i in 1 2 3 4; do
	pay "{\"merchant_order_no\":\"warm-$i\",\"amount\":100,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"warm\"}"
	expect_code 201 "warm-up payment"
	sim_pay wechat "$(json .id)"
done
wait_sql "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'warm-%' AND status = 'succeeded'" 4 15

# The background: an idle stretch.
settle
s0=$(stat) t0=$(now_ms)
sleep 5
settle
s1=$(stat) t1=$(now_ms)
read -r BG_PER_MS BGX_PER_MS < <(awk -v a="$s0" -v b="$s1" -v ms=$((t1 - t0)) -v g=$SETTLE_GETS 'BEGIN {
	split(a, x, " "); split(b, y, " ");
	printf "%.6f %.6f\n", (y[1] - x[1] - g) / ms, (y[2] - x[2]) / ms }')
say "background: $BG_PER_MS commits/ms, $BGX_PER_MS write transactions/ms"

# Payments without a key.
burst nokey
settle
s2=$(stat) t2=$(now_ms)
read -r c x n < <(per pay "$s1" "$s2" $((t2 - t1)) $SETTLE_GETS)
say "a payment without a key: $c commits, $x write transactions"
awk -v c="$c" -v x="$x" 'BEGIN { exit !(c <= 2.10 && x <= 2.05 && x >= 1.95) }' ||
	fail "a payment costs $c commits ($x write transactions); at most 2"
pass "a payment is two commits ($c per payment, $x write transactions)"

# Payments with an Idempotency-Key: the key goes with the order's commits.
burst idem 1
settle
s3=$(stat) t3=$(now_ms)
read -r c x n < <(per pay "$s2" "$s3" $((t3 - t2)) $SETTLE_GETS)
say "a payment with an Idempotency-Key: $c commits, $x write transactions"
awk -v c="$c" -v x="$x" 'BEGIN { exit !(c <= 2.10 && x <= 2.05 && x >= 1.95) }' ||
	fail "a payment with a key costs $c commits ($x write transactions); at most 2"
[ "$(pq -c "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'idem-key-%' AND state = 'done' AND status = 201")" = $N ] ||
	fail "not every key kept its answer"
pass "a payment with an Idempotency-Key is two commits too ($c), its answer kept"

# Callbacks: the simulated payer pays every payment of the first burst;
# the channel's callback settles each in one statement. Waiting reads the
# store: those reads are counted and subtracted.
polls=0
while read -r code id st; do
	sim_pay wechat "$id"
done <"$TEST_DIR/nokey.txt"
for i in $(seq 100); do
	polls=$((polls + 1))
	[ "$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'nokey-%' AND status = 'succeeded'")" = $N ] && break
	sleep 0.2
done
[ "$(pq -c "SELECT count(*) FROM payments WHERE merchant_order_no LIKE 'nokey-%' AND status = 'succeeded'")" = $N ] ||
	fail "the callbacks did not settle every payment"
polls=$((polls + 1))
settle
s4=$(stat) t4=$(now_ms)
read -r c x n < <(per callback "$s3" "$s4" $((t4 - t3)) $((SETTLE_GETS + polls)))
say "a callback: $c commits, $x write transactions ($n callbacks for $N payments)"
awk -v c="$c" -v x="$x" 'BEGIN { exit !(c <= 1.15 && x <= 1.05 && x >= 0.95) }' ||
	fail "a callback costs $c commits ($x write transactions); at most 1"
pass "a callback is one commit ($c per callback, $x write transactions)"
