#!/usr/bin/env bash
# t_patroni.sh - a real Patroni failover under load loses no acknowledged
# payment (doc/operations.md, "PostgreSQL with a synchronous standby").
#
# One etcd and two Patroni-managed PostgreSQL nodes (Debian's etcd-server
# and patroni), everything on 127.0.0.1 with ports and directories of its
# own, in Patroni's synchronous_mode as contrib/patroni/patroni.yml runs
# it (not strict). One payrouted with a multi-host conninfo
# (target_session_attrs=read-write). Clients create payments through it;
# in the middle the leader's Patroni and its postgres are killed with
# SIGKILL. Then:
#   - Patroni promotes the other node (it becomes the leader in etcd and
#     answers GET /primary 200), nobody promotes anything by hand;
#   - payrouted carries on without a restart (it says it reached another
#     server, and payments are acknowledged again);
#   - every answer was 201 or the documented retryable 503;
#   - every acknowledged payment is on the new leader exactly once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl python3 patroni etcd
PATRONI_PIDS=()
ETCD_PID=

# ------------------------------------------------ etcd
E=$TEST_DIR/etcd
mkdir -p "$E"
free_port
EC=$PORT
free_port
EPP=$PORT
etcd --name e1 --data-dir "$E/data" \
	--listen-client-urls "http://127.0.0.1:$EC" \
	--advertise-client-urls "http://127.0.0.1:$EC" \
	--listen-peer-urls "http://127.0.0.1:$EPP" \
	--initial-advertise-peer-urls "http://127.0.0.1:$EPP" \
	--initial-cluster "e1=http://127.0.0.1:$EPP" \
	--initial-cluster-state new >"$E/etcd.log" 2>&1 &
ETCD_PID=$!
BG_PIDS+=("$ETCD_PID")
etcd_up() { curl -sf -m 2 "http://127.0.0.1:$EC/health" | grep -q '"health":"true"'; }
wait_until 20 etcd_up || { tail -n 20 "$E/etcd.log" >&2; fail "etcd did not start"; }
pass "etcd up on 127.0.0.1:$EC"

# ------------------------------------------------ two Patroni nodes
declare -A PGP API
# node_conf NAME: writes $TEST_DIR/NAME/patroni.yml
node_conf() {
	local n=$1 d=$TEST_DIR/$1

	mkdir -p "$d/sock"
	free_port
	PGP[$n]=$PORT
	free_port
	API[$n]=$PORT
	cat >"$d/patroni.yml" <<EOF
scope: payroute-test
namespace: /t_patroni/
name: $n
restapi:
  listen: 127.0.0.1:${API[$n]}
  connect_address: 127.0.0.1:${API[$n]}
etcd3:
  hosts: 127.0.0.1:$EC
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: false
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: false
      parameters:
        synchronous_commit: "on"
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
        shared_buffers: 32MB
  pg_hba:
    - local all all trust
    - host replication all 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
  initdb:
    - encoding: UTF8
    - locale: C
postgresql:
  listen: 127.0.0.1:${PGP[$n]}
  connect_address: 127.0.0.1:${PGP[$n]}
  data_dir: $d/data
  bin_dir: $PG_BIN
  pgpass: $d/pgpass
  parameters:
    unix_socket_directories: '$d/sock'
  authentication:
    superuser:
      username: payroute
      password: unused-trust
    replication:
      username: replicator
      password: unused-trust
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
	[ "$(id -u)" = 0 ] && chown -R "$PR_TEST_USER" "$d"
	chmod 700 "$d"
}
node_start() {
	local d=$TEST_DIR/$1

	if [ "$(id -u)" = 0 ]; then
		setsid runuser -u "$PR_TEST_USER" -- env HOME="$d" patroni "$d/patroni.yml" \
			>"$d/patroni.log" 2>&1 &
	else
		setsid env HOME="$d" patroni "$d/patroni.yml" >"$d/patroni.log" 2>&1 &
	fi
	PATRONI_PIDS+=($!)
}
# patroni_pid NAME: the patroni process of the node (not runuser)
patroni_pid() {
	pgrep -f "patroni $TEST_DIR/$1/patroni.yml" | while read -r p; do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = runuser ] || echo "$p"
	done | head -n 1
}
# role NAME ROLE: GET /ROLE on the node's REST API answers 200
role() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${API[$1]}/$2")" = 200 ]; }
stop_nodes() {
	local n p

	for n in n1 n2; do
		p=$(patroni_pid "$n")
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
		[ -f "$TEST_DIR/$n/data/postmaster.pid" ] &&
			_as_pg "$PG_BIN/pg_ctl" -D "$TEST_DIR/$n/data" -m immediate \
				-w -t 20 stop >/dev/null 2>&1
	done
	for p in "${PATRONI_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
}
trap 'rc=$?; stop_nodes; (exit $rc); _cleanup' EXIT

node_conf n1
node_conf n2
node_start n1
wait_until 60 role n1 primary ||
	{ tail -n 30 "$TEST_DIR/n1/patroni.log" >&2; fail "n1 did not become the leader"; }
pass "n1 bootstrapped and leads (postgres 127.0.0.1:${PGP[n1]})"
node_start n2
wait_until 90 role n2 sync ||
	{ tail -n 30 "$TEST_DIR/n2/patroni.log" >&2; fail "n2 did not become the synchronous standby"; }
pass "n2 is the synchronous standby (postgres 127.0.0.1:${PGP[n2]})"

# pq speaks to the leader through its socket; lib.sh's cleanup does not
# stop it (PG_UP stays 0): stop_nodes does.
PG_ROOT=$TEST_DIR/n1
PQPORT=${PGP[n1]}
pq() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_ROOT/sock" -p "$PQPORT" \
		-U payroute -d payroute "$@"
}
pq -d postgres -c 'CREATE DATABASE payroute' >/dev/null || fail "createdb failed"
wait_until 20 sql_is "SELECT 1" 1 || fail "the payroute database is not there"

# ------------------------------------------------ payrouted
CONNINFO="host=127.0.0.1,127.0.0.1 port=${PGP[n1]},${PGP[n2]} dbname=payroute user=payroute target_session_attrs=read-write connect_timeout=2"
sim_start
new_instance a
install_drivers "$DRIVER_DIR" wechat
DB_EXTRA=', "reconnect_min_ms": 100, "reconnect_max_ms": 500'
TOP_EXTRA=', "completion": { "interval_ms": 200, "schedule": "1s,1s,1s,2s,2s,5s,10s" }'
write_conf
jq --arg c "$CONNINFO" '.database.conninfo = $c' "$CONF" >"$CONF.tmp" &&
	mv "$CONF.tmp" "$CONF"
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100)"
merchant_create shop1
settle_generation
paid 500 pre-1
pass "payrouted through the conninfo of both nodes: a payment paid"


# ------------------------------------------------ the failover
# Four clients, each at most 400 payments, 0.1 s apart: they run through
# the failover (Patroni's ttl is 20 s) and stop by themselves.
LOAD=()
for c in 1 2 3 4; do
	"$LOAD_CLIENT" "$MERCHANT_PORT" "$MKEY" pt $c -n 400 -m 30 -p 0.1 >"$TEST_DIR/c$c.txt" &
	BG_PIDS+=($!)
	LOAD+=($!)
done
for i in $(seq 100); do
	[ "$(cat "$TEST_DIR"/c*.txt 2>/dev/null | wc -l)" -ge 60 ] && break
	sleep 0.1
done
leader_pg=$(head -n 1 "$TEST_DIR/n1/data/postmaster.pid")
kill -KILL "$(patroni_pid n1)" "$leader_pg" ||
	fail "cannot kill n1's patroni and postgres"
t_kill=$(date +%s)
say "n1's patroni and postgres killed with SIGKILL after $(cat "$TEST_DIR"/c*.txt | wc -l) answers"
wait_until 60 role n2 primary ||
	{ tail -n 30 "$TEST_DIR/n2/patroni.log" >&2; fail "Patroni did not promote n2"; }
pass "Patroni promoted n2 $(($(date +%s) - t_kill)) s after the kill"
PG_ROOT=$TEST_DIR/n2
PQPORT=${PGP[n2]}
# payments acknowledged after the promotion: payrouted carries on
n0=$(cat "$TEST_DIR"/c*.txt | wc -l)
acked_after() {
	[ "$(cat "$TEST_DIR"/c*.txt | tail -n +$((n0 + 1)) | awk '$2 == 201' | wc -l)" -ge 8 ]
}
wait_until 30 acked_after ||
	fail "no payments acknowledged after the promotion"
for p in "${LOAD[@]}"; do
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
done
wait_log 'store: now connected to 127.0.0.1 port '"${PGP[n2]}" 10 ||
	fail "payrouted does not say it reached n2"
daemon_alive || fail "payrouted died"
pass "payrouted carried on: '$(grep -m1 'store: now connected to' "$LOG_FILE" | sed 's/.*store: //')'"

# ------------------------------------------------ nothing lost, nothing twice
cat "$TEST_DIR"/c*.txt >"$TEST_DIR/all.txt"
bad=$(awk '$2 != 201 && $2 != 503' "$TEST_DIR/all.txt")
[ -z "$bad" ] || fail "answers other than 201 and 503: $(head -n 5 <<<"$bad")"
n_503=$(awk '$2 == 503' "$TEST_DIR/all.txt" | wc -l)
acked_once "$TEST_DIR/all.txt" pt "on the new leader"
n_ack=$ACKED
pass "$(wc -l <"$TEST_DIR/all.txt") answers: $n_ack payments acknowledged, all on n2 exactly once; $n_503 answered 503 during the gap"

daemon_stop
pass "stopped cleanly"
