# tests/integration/lib.sh - shared helpers for the integration tests.
#
# Sourced (never run) by tests/integration/t_*.sh. `make check` runs each
# test with top_srcdir and top_builddir exported; the test exits 0 (pass),
# 1 (fail) or 77 (skip).
#
# What it gives a test:
#   say/fail/skip/pass         report (fail and skip exit; the trap cleans up)
#   require_pg                 skip (77) when the PostgreSQL parts cannot run:
#                              PR_INTEGRATION=0, no server binaries, or (as
#                              root) no unprivileged user ${PR_TEST_USER};
#                              with PR_REQUIRE_INTEGRATION=1 these fail.
#   require_tools CMD...       skip (77) when a command is not installed
#   wait_until SECS CMD...     bounded wait (tries and seconds) for CMD to
#                              succeed; log_grew ERE N: a condition for it
#   pg_start, pg_stop, pg_start_again, pq
#                              a private PostgreSQL in the test dir, on a
#                              unix socket only; pq runs psql against it
#   check_machine KIND TABLE   the store's state machine of an order kind
#                              is core/domain/orderstate.c's
#   check_rules TABLE BASE, check_update_rules TABLE
#                              the store refuses rows that break its rules
#                              (cases on stdin), naming the rule
#   free_port                  PORT=a port nobody listens on (asks the kernel)
#   new_instance NAME          sets the variables of one daemon: I_DIR, CONF,
#                              LOG_FILE, PID_FILE, DRIVER_DIR, MERCHANT_PORT,
#                              ADMIN_PORT, TOKEN (see write_conf)
#   write_conf [FILE]          writes the config of the current instance
#   save_instance, use NAME    remember an instance, make it current again
#   install_drivers DIR NAME.. copies built drivers (real or test) into DIR
#   daemon_spawn, wait_healthy, daemon_start, daemon_stop, daemon_alive
#   wait_log PATTERN [SECS]    bounded wait for an ERE in LOG_FILE
#   http_get URL, admin_get PATH, admin_post PATH, merchant_get PATH,
#   send METHOD PATH [BODY]    set RESP_CODE and RESP_BODY (no subshell)
#   json EXPR                  jq EXPR over RESP_BODY
#   metric NAME{LABELS}        its value on the admin listener's /metrics
#   expect_code, expect_field  the answer's status, the 400 naming a field
#   current_generation, generation_after
#                              the active generation; a newer one answered
#
# Every wait here is bounded in both iterations and seconds. The cleanup
# trap stops every daemon and PostgreSQL it started and removes the test
# directory (kept when PR_KEEP_TEST_DIR=1), and shows the daemon log tail
# when a test fails. With PR_TEST_SQL_LOG=DIR the test's PostgreSQL logs
# every statement with its client's name (log_statement, %a) and the
# cleanup copies that log to DIR/T_NAME.PID.log (contrib/bench/
# plan_audit.sh reads payrouted's statements from them).

set -u
set -o pipefail

T_NAME=$(basename "$0" .sh)
_lib_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$_lib_here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
PR_TEST_USER=${PR_TEST_USER:-payroute}
PAYROUTED=$top_builddir/payrouted

TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/payroute-$T_NAME.XXXXXX") || {
	echo "$T_NAME: cannot create a temporary directory" >&2
	exit 99
}
# PostgreSQL runs as $PR_TEST_USER and must reach its directory below.
chmod 755 "$TEST_DIR"

DAEMON_PIDS=()  # every payrouted spawned
BG_PIDS=()      # other background helpers (curl loops, psql sessions)
PG_ROOT=""      # set by pg_start
PG_UP=0
RESP_CODE=""
RESP_BODY=""
_used_ports=" "

say() { printf '%s: %s\n' "$T_NAME" "$*"; }
pass() { printf '%s: ok - %s\n' "$T_NAME" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "$T_NAME" "$*" >&2
	exit 1
}
skip() {
	if [ "${PR_REQUIRE_INTEGRATION:-0}" = 1 ]; then
		fail "cannot run (PR_REQUIRE_INTEGRATION=1): $*"
	fi
	printf '%s: SKIP: %s\n' "$T_NAME" "$*"
	exit 77
}

# require_tools CMD...: skips the test unless every CMD is installed.
require_tools() {
	local t

	for t in "$@"; do
		command -v "$t" >/dev/null || skip "$t is not installed"
	done
}

# ---------------------------------------------------------------- waiting
# wait_until SECS CMD [ARGS...]: runs CMD every 0.1 s until it succeeds,
# at most SECS x 10 times and for at most SECS seconds of wall clock
# (however long CMD takes). Returns 0 as soon as CMD succeeds, 1 when it
# never did; the caller says what failed. SECS is a whole number.
wait_until() {
	local secs=$1 i end

	shift
	end=$(($(date +%s%N) / 1000000 + secs * 1000))
	for i in $(seq $((secs * 10))); do
		"$@" && return 0
		[ $(($(date +%s%N) / 1000000)) -lt "$end" ] || return 1
		sleep 0.1
	done
	return 1
}

# log_grew ERE N [FILE]: more than N lines of the log (LOG_FILE) match.
log_grew() {
	[ "$(log_count "$1" "${3:-$LOG_FILE}")" -gt "$2" ]
}

# ---------------------------------------------------------------- cleanup
_cleanup() {
	local rc=$? pid i

	trap - EXIT INT TERM
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for f in "$TEST_DIR"/*/payrouted.log; do
			[ -f "$f" ] || continue
			echo "---- last lines of $f" >&2
			tail -n 60 "$f" >&2
		done
		if [ -n "$PG_ROOT" ] && [ -f "$PG_ROOT/pg.log" ]; then
			echo "---- last lines of the PostgreSQL log" >&2
			tail -n 20 "$PG_ROOT/pg.log" >&2
		fi
	fi
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${DAEMON_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${DAEMON_PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "${PR_TEST_SQL_LOG:-}" ] && [ -n "$PG_ROOT" ] &&
		[ -f "$PG_ROOT/pg.log" ]; then
		cp "$PG_ROOT/pg.log" "$PR_TEST_SQL_LOG/$T_NAME.$$.log"
	fi
	if [ "$PG_UP" = 1 ]; then
		_as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m immediate -w \
			-t 20 stop >/dev/null 2>&1
	fi
	if [ "${PR_KEEP_TEST_DIR:-0}" = 1 ]; then
		echo "$T_NAME: test directory kept: $TEST_DIR" >&2
	else
		rm -rf "$TEST_DIR"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM

# ---------------------------------------------------------------- PostgreSQL
PG_BIN=""

# Finds the highest installed PostgreSQL server, or returns 1.
_find_pg_bin() {
	local d

	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
		PG_BIN=$d
		return 0
	fi
	return 1
}

# Runs a command as the PostgreSQL owner (initdb refuses root).
_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$PR_TEST_USER" -- "$@"
	else
		"$@"
	fi
}

require_pg() {
	if [ "${PR_INTEGRATION:-1}" = 0 ]; then
		# Asked explicitly (e.g. by distcheck): not a failure.
		printf '%s: SKIP: PR_INTEGRATION=0\n' "$T_NAME"
		exit 77
	fi
	_find_pg_bin || skip "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install postgresql"
	command -v psql >/dev/null || skip "psql not found: install postgresql-client"
	if [ "$(id -u)" = 0 ] && ! id -u "$PR_TEST_USER" >/dev/null 2>&1; then
		skip "running as root and the unprivileged user '$PR_TEST_USER' does not exist (contrib/dev.sh test creates it; or set PR_TEST_USER)"
	fi
	command -v curl >/dev/null || skip "curl not found"
	command -v jq >/dev/null || skip "jq not found"
	[ -x "$PAYROUTED" ] || fail "$PAYROUTED is not built"
}

# pq ARGS...: psql against the test database, unaligned, tuples only,
# stopping at the first error.
pq() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_ROOT/sock" -U payroute \
		-d payroute "$@"
}

# _check_same KIND TABLE CONSTRAINT WHAT DUMP [FUNC]: the states named in
# CONSTRAINT of TABLE (or, when the table has no such constraint, listed
# by the function FUNC its guard trigger checks them with) are the states
# statedump's DUMP lists as WHAT ("state" or "final").
_check_same() {
	local want have

	want=$(awk -v w="$4" '$1 == w { print $2 }' <<<"$5" | sort | tr '\n' ' ')
	have=$(pq -c "SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = '$2'::regclass AND conname = '$3'" |
		grep -o "'[a-z_]*'" | tr -d "'" | sort | tr '\n' ' ')
	if [ -z "$have" ] && [ -n "${6:-}" ]; then
		# a rule of the table's guard trigger (migration 017)
		have=$(pq -c "SELECT unnest($6())" | sort | tr '\n' ' ')
	fi
	[ "$want" = "$have" ] ||
		fail "$1: $3 names '$have', core/domain/orderstate.c's $4 states are '$want'"
}

# check_machine KIND TABLE: the store's state machine of KIND (payment,
# withdrawal, refund) is core/domain/orderstate.c's, as tests/integration/statedump
# prints it: pr_KIND_transition_ok answers as the C table for every pair
# of states, TABLE's status rule names exactly its states and the rule
# TABLE_finished (finished_at set exactly in a final state) exactly its
# final states (CHECKs of refunds; pr_KIND_states and pr_KIND_finals,
# which the guard triggers of payments and withdrawals check, migration
# 017). Fails naming what differs.
check_machine() {
	local kind=$1 table=$2 dump values got bad

	dump=$("$top_builddir/tests/integration/statedump" "$kind") ||
		fail "statedump $kind failed"
	values=$(awk '$1 == "next" {
		printf "%s(%d, '\''%s'\'', '\''%s'\'')", n++ ? ", " : "", n, $2, $3 }' <<<"$dump")
	got=$(pq -c "SELECT 'next ' || f || ' ' || t || ' ' ||
		pr_${kind}_transition_ok(f, t) FROM (VALUES $values) v(i, f, t)
		ORDER BY i") || fail "$kind: cannot ask pr_${kind}_transition_ok"
	bad=$(paste -d ' ' <(grep '^next ' <<<"$dump") <(printf '%s\n' "$got") |
		awk '$2 != $6 || $3 != $7 || $4 != $8 {
			printf " %s>%s (C %s, store %s)", $2, $3, $4, $8 }')
	[ -z "$bad" ] && [ "$(wc -l <<<"$got")" = "$(grep -c '^next ' <<<"$dump")" ] ||
		fail "$kind: pr_${kind}_transition_ok differs from core/domain/orderstate.c:$bad"
	_check_same "$kind" "$table" "${table}_status_check" state "$dump" \
		"pr_${kind}_states"
	_check_same "$kind" "$table" "${table}_finished" final "$dump" \
		"pr_${kind}_finals"
}

# check_rules TABLE BASE: the store's row rules of TABLE (its CHECKs,
# or the guard trigger's since migration 017) refuse each case read from
# stdin, one a line "NAME|OVERRIDE": the row BASE (a JSON object of every
# NOT NULL column) merged with OVERRIDE (JSON) is inserted and refused
# with an error naming NAME (a rule of TABLE, TABLE_...: as its CHECK
# would, SQLSTATE 23514), or, NAME "ok", accepted (rolled back, as BASE
# alone is: the edges of a rule).
check_rules() {
	local table=$1 base=$2 name over out ins

	ins="INSERT INTO $table SELECT * FROM jsonb_populate_record(NULL::$table"
	pq -c "BEGIN" -c "$ins, '$base')" -c "ROLLBACK" >/dev/null ||
		fail "$table: the store refused the valid row $base"
	while IFS='|' read -r name over; do
		[ -n "$name" ] || continue
		if [ "$name" = ok ]; then
			out=$(pq -c "BEGIN" -c "$ins, '$base'::jsonb || '$over')" \
				-c "ROLLBACK" 2>&1) ||
				fail "$table: the store refused a valid row ($over): $out"
			continue
		fi
		if out=$(pq -v VERBOSITY=verbose -c "$ins, '$base'::jsonb || '$over')" 2>&1); then
			pq -c "DELETE FROM $table WHERE id = '$base'::jsonb || '$over' ->> 'id'" >/dev/null 2>&1
			fail "$table: the store accepted a row $name refuses ($over)"
		fi
		_refused_by "$table" "$name" "$out" ||
			fail "$table: $over was refused, but not by $name: $out"
	done
}

# check_update_rules TABLE: the store's rules of TABLE on UPDATE, each
# case read from stdin, one a line "NAME|ID|SET": `UPDATE TABLE SET SET
# WHERE id = 'ID'` is refused with an error naming NAME (a rule of TABLE:
# SQLSTATE 23514 and the constraint, as check_rules), or, NAME "ok",
# updates that one row (rolled back).
check_update_rules() {
	local table=$1 name id set out

	while IFS='|' read -r name id set; do
		[ -n "$name" ] || continue
		if [ "$name" = ok ]; then
			out=$(pq -c "BEGIN" -c "UPDATE $table SET $set WHERE id = '$id' RETURNING id" \
				-c "ROLLBACK" 2>&1) && [ "$out" = "$id" ] ||
				fail "$table: SET $set on $id was not one row updated: $out"
			continue
		fi
		if out=$(pq -v VERBOSITY=verbose -c "BEGIN" \
			-c "UPDATE $table SET $set WHERE id = '$id' RETURNING id" \
			-c "ROLLBACK" 2>&1); then
			fail "$table: the store let SET $set change $id, which $name refuses ($out)"
		fi
		_refused_by "$table" "$name" "$out" ||
			fail "$table: SET $set on $id was refused, but not by $name: $out"
	done
}

# _refused_by TABLE NAME OUT: psql's verbose error OUT names NAME; a rule
# of TABLE (TABLE_...) with SQLSTATE 23514, as a CHECK constraint.
_refused_by() {
	case $2 in
	"$1"_*)
		grep -Fq "ERROR:  23514: new row for relation \"$1\" violates check constraint \"$2\"" <<<"$3" ;;
	*) grep -q "$2" <<<"$3" ;;
	esac
}

# pg_start: a fresh cluster in $TEST_DIR/pg, reachable only through the
# socket directory $PG_ROOT/sock (listen_addresses=''), trust auth,
# superuser and database named payroute.
pg_start() {
	PG_ROOT=$TEST_DIR/pg
	mkdir -p "$PG_ROOT/sock"
	if [ "$(id -u)" = 0 ]; then
		chown -R "$PR_TEST_USER" "$PG_ROOT"
	fi
	chmod 755 "$PG_ROOT" "$PG_ROOT/sock"
	_as_pg "$PG_BIN/initdb" -D "$PG_ROOT/data" -U payroute -A trust \
		-E UTF8 --locale=C --no-sync >"$PG_ROOT/initdb.log" 2>&1 ||
		{ cat "$PG_ROOT/initdb.log" >&2; fail "initdb failed"; }
	cat >>"$PG_ROOT/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$PG_ROOT/sock'
unix_socket_permissions = 0777
max_connections = 120
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	if [ -n "${PR_TEST_SQL_LOG:-}" ]; then
		printf "log_statement = 'all'\nlog_line_prefix = '%%a|'\n" \
			>>"$PG_ROOT/data/postgresql.conf"
	fi
	pg_start_again
	pq -d postgres -c 'CREATE DATABASE payroute' >/dev/null ||
		fail "createdb payroute failed"
	say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') up on $PG_ROOT/sock"
}

# pg_start_again: starts the existing cluster (after pg_stop).
pg_start_again() {
	_as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/pg.log" -w \
		-t 30 start >/dev/null ||
		{ tail -n 20 "$PG_ROOT/pg.log" >&2; fail "pg_ctl start failed"; }
	PG_UP=1
}

# pg_stop [MODE]: stops the cluster (default -m fast).
pg_stop() {
	_as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m "${1:-fast}" -w -t 30 \
		stop >/dev/null || fail "pg_ctl stop failed"
	PG_UP=0
}

# ---------------------------------------------------------------- ports
# _port_listening PORT: a socket listens on PORT (state 0A in /proc/net/tcp;
# the many TIME_WAIT entries of a busy machine do not count).
_port_listening() {
	awk -v p="$(printf ':%04X' "$1")" \
		'substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port: sets PORT to a TCP port on 127.0.0.1 that nothing listens on
# and that this test has not handed out yet (call it without $(...)).
free_port() {
	local p i

	for i in $(seq 50); do
		if command -v python3 >/dev/null 2>&1; then
			p=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
		else
			p=$((20000 + RANDOM % 40000))
		fi
		case $_used_ports in *" $p "*) continue ;; esac
		_port_listening "$p" && continue
		_used_ports="$_used_ports$p "
		PORT=$p
		return 0
	done
	fail "no free TCP port found"
}

# ---------------------------------------------------------------- daemon
# new_instance NAME: a directory $TEST_DIR/NAME and the settings of one
# daemon. write_conf reads these variables; change them in between to vary
# the config (DB_EXTRA is raw JSON appended inside "database", SERVER_EXTRA
# inside "server", TOP_EXTRA raw JSON appended at the top level,
# NOTIFY_ALLOW the JSON list of notify.allow_private: loopback by default).
new_instance() {
	I_NAME=$1
	I_DIR=$TEST_DIR/$1
	mkdir -p "$I_DIR/drivers"
	CONF=$I_DIR/payrouted.conf
	LOG_FILE=$I_DIR/payrouted.log
	PID_FILE=$I_DIR/payrouted.pid
	DRIVER_DIR=$I_DIR/drivers
	MIGRATIONS_DIR=$top_srcdir/etc/migrations
	free_port
	MERCHANT_PORT=$PORT
	free_port
	ADMIN_PORT=$PORT
	# one admin.token a test (its store's): the first instance to start
	# makes it the first admin's token (the "admin" operator), and the
	# other instances of the test use it too
	: "${TEST_TOKEN:=test-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}"
	TOKEN=$TEST_TOKEN
	POOL_SIZE=4
	DB_EXTRA=""
	TOP_EXTRA=""
	ADMIN_EXTRA="" # more keys of "admin" (',\n\t\t"lockout_failures": 3')
	SERVER_EXTRA=""
	# notify.allow_private: the sinks standing in for merchants'
	# notify_url (paysim, python) listen on 127.0.0.1, which payrouted
	# refuses by default; "" leaves the option out (the default, none)
	NOTIFY_ALLOW='["127.0.0.0/8", "::1/128"]'
	DAEMON_PID=""
}

# save_instance: remembers the current instance's settings under its
# name; use NAME makes a remembered instance the current one again (for
# tests that run several daemons); I_LOG[NAME] and the like read one
# without switching.
declare -A I_ADMIN I_MPORT I_TOKEN I_LOG I_PID I_DIRS
save_instance() {
	I_ADMIN[$I_NAME]=$ADMIN_PORT
	I_MPORT[$I_NAME]=$MERCHANT_PORT
	I_TOKEN[$I_NAME]=$TOKEN
	I_LOG[$I_NAME]=$LOG_FILE
	I_PID[$I_NAME]=$DAEMON_PID
	I_DIRS[$I_NAME]=$I_DIR
}
use() {
	[ -n "${I_ADMIN[$1]:-}" ] || fail "use $1: no such instance saved"
	I_NAME=$1
	ADMIN_PORT=${I_ADMIN[$1]}
	MERCHANT_PORT=${I_MPORT[$1]}
	TOKEN=${I_TOKEN[$1]}
	LOG_FILE=${I_LOG[$1]}
	DAEMON_PID=${I_PID[$1]}
	I_DIR=${I_DIRS[$1]}
}

# start_instance NAME DRIVER...: a new instance NAME with the named
# drivers installed, started, ready and saved (use NAME comes back to
# it). A test that varies the config defines instance_setup, called after
# new_instance and before write_conf (ADMIN_EXTRA=..., TOP_EXTRA=...).
start_instance() {
	new_instance "$1"
	shift
	install_drivers "$DRIVER_DIR" "$@"
	if declare -F instance_setup >/dev/null; then
		instance_setup
	fi
	write_conf
	daemon_start
	wait_ready
	save_instance
}

# write_conf [FILE]: writes the current instance's config (to $CONF).
write_conf() {
	local out=${1:-$CONF}

	cat >"$out" <<EOF
{
	"listen": {
		"merchant": "127.0.0.1:$MERCHANT_PORT",
		"admin": "127.0.0.1:$ADMIN_PORT"
	},
	"admin": { "token": "$TOKEN"$ADMIN_EXTRA },
	"database": {
		"conninfo": "host=$PG_ROOT/sock port=5432 dbname=payroute user=payroute",
		"pool_size": $POOL_SIZE,
		"migrations_dir": "$MIGRATIONS_DIR"$DB_EXTRA
	},
	"drivers": { "dir": "$DRIVER_DIR" },
	"log": { "level": "info", "target": "$LOG_FILE" },
	"server": { "pid_file": "$PID_FILE"$SERVER_EXTRA }$TOP_EXTRA
}
EOF
	# merged into a "notify" that TOP_EXTRA may hold already (the
	# config refuses duplicate keys); a config that is not JSON on
	# purpose is left as it is
	if [ -n "${NOTIFY_ALLOW:-}" ] && jq -e . "$out" >/dev/null 2>&1; then
		jq --argjson a "$NOTIFY_ALLOW" \
			'.notify.allow_private = (.notify.allow_private // $a)' \
			"$out" >"$out.tmp" && mv "$out.tmp" "$out" ||
			fail "write_conf: cannot add notify.allow_private to $out"
	fi
}

# built_driver NAME: prints the path of a built driver: a real one
# (alipay, wechat, bank) or a test one (good, good2, badmagic, ...).
built_driver() {
	local f

	for f in "$top_builddir/drivers/$1/.libs/$1.so" \
		"$top_builddir/tests/drivers/.libs/$1.so"; do
		if [ -f "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

# install_drivers DIR NAME...: copies the named built drivers into DIR;
# fails when one is not built (test drivers are built by `make check`).
install_drivers() {
	local dir=$1 n f

	shift
	for n in "$@"; do
		f=$(built_driver "$n") || fail "driver $n.so is not built (make check builds the test drivers)"
		cp "$f" "$dir/$n.so" || fail "cannot copy $f"
	done
}

# real_drivers: the names of the in-tree drivers that were built.
real_drivers() {
	local n

	for n in alipay wechat bank; do
		[ -f "$top_builddir/drivers/$n/.libs/$n.so" ] && echo "$n"
	done
	return 0
}

# daemon_spawn: starts payrouted -f on $CONF in the background, its stdout
# and stderr appended to $I_DIR/stderr; sets DAEMON_PID.
daemon_spawn() {
	"$PAYROUTED" -f -c "$CONF" >>"$I_DIR/stderr" 2>&1 &
	DAEMON_PID=$!
	DAEMON_PIDS+=("$DAEMON_PID")
}

daemon_alive() {
	kill -0 "${1:-$DAEMON_PID}" 2>/dev/null
}

# wait_healthy [SECS]: bounded wait (default 10 s) for GET /healthz = 200
# on the current instance's admin port; fails if the daemon dies.
wait_healthy() {
	local secs=${1:-10} i

	for i in $(seq $((secs * 10))); do
		if ! daemon_alive; then
			cat "$I_DIR/stderr" >&2 2>/dev/null
			fail "payrouted ($I_NAME) exited during start-up"
		fi
		http_get "http://127.0.0.1:$ADMIN_PORT/healthz"
		[ "$RESP_CODE" = 200 ] && return 0
		sleep 0.1
	done
	fail "payrouted ($I_NAME) did not answer /healthz within ${secs}s"
}

# wait_ready [SECS]: bounded wait (default 15 s) for GET /readyz = 200.
wait_ready() {
	local secs=${1:-15} i

	for i in $(seq $((secs * 10))); do
		daemon_alive || fail "payrouted ($I_NAME) exited"
		http_get "http://127.0.0.1:$ADMIN_PORT/readyz"
		if [ "$RESP_CODE" = 200 ]; then
			# The store being ready starts a reload (channels);
			# let it land before the test reads the generation.
			settle_generation
			return 0
		fi
		sleep 0.1
	done
	fail "payrouted ($I_NAME) not ready within ${secs}s (last /readyz: $RESP_CODE $RESP_BODY)"
}

# settle_generation [POLLS] [SECS]: bounded wait (default 15 s) until the
# active generation stays the same for POLLS polls 0.1 s apart (default
# 5); sets GEN.
settle_generation() {
	local polls=${1:-5} secs=${2:-15} last=-1 stable=0 i

	for i in $(seq $((secs * 10))); do
		current_generation
		if [ "$GEN" = "$last" ]; then
			stable=$((stable + 1))
			[ "$stable" -ge "$polls" ] && return 0
		else
			stable=0
			last=$GEN
		fi
		sleep 0.1
	done
	fail "the generation did not settle within ${secs}s (now $GEN)"
}

daemon_start() {
	daemon_spawn
	wait_healthy "${1:-10}"
	say "payrouted ($I_NAME) pid $DAEMON_PID up: merchant :$MERCHANT_PORT admin :$ADMIN_PORT"
}

# daemon_stop [PID]: SIGTERM, bounded wait (15 s), the exit status must be 0.
daemon_stop() {
	local pid=${1:-$DAEMON_PID} i rc

	kill -TERM "$pid" 2>/dev/null || fail "payrouted pid $pid is not running"
	for i in $(seq 150); do
		daemon_alive "$pid" || break
		sleep 0.1
	done
	daemon_alive "$pid" && fail "payrouted pid $pid still running 15s after SIGTERM"
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || fail "payrouted pid $pid exited with status $rc after SIGTERM (expected 0)"
	return 0
}

# wait_log ERE [SECS] [FILE]: bounded wait (default 10 s) until a line of
# the log matches; prints nothing, returns 1 on time-out.
wait_log() {
	wait_until "${2:-10}" log_grew "$1" 0 "${3:-$LOG_FILE}"
}

# log_count ERE [FILE]: how many log lines match.
log_count() {
	grep -Ec -- "$1" "${2:-$LOG_FILE}" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------- HTTP
# http METHOD URL [CURL ARGS...]: sets RESP_CODE (000 when the connection
# failed) and RESP_BODY. Each request is bounded to 20 s.
http() {
	local method=$1 url=$2 out

	shift 2
	out=$(curl -s -m 20 -X "$method" -w '\n%{http_code}' "$@" "$url" \
		2>/dev/null)
	RESP_CODE=${out##*$'\n'}
	RESP_BODY=${out%$'\n'*}
	[ -n "$RESP_CODE" ] || RESP_CODE=000
	return 0
}

http_get() { http GET "$@"; }
admin_get() {
	http GET "http://127.0.0.1:$ADMIN_PORT$1" \
		-H "Authorization: Bearer $TOKEN" "${@:2}"
}
admin_post() {
	http POST "http://127.0.0.1:$ADMIN_PORT$1" \
		-H "Authorization: Bearer $TOKEN" "${@:2}"
}
merchant_get() { http GET "http://127.0.0.1:$MERCHANT_PORT$1" "${@:2}"; }

# send METHOD PATH [BODY] [CURL ARGS...]: an admin request (the current
# instance, its token) with a JSON body when BODY is not empty.
send() {
	local m=$1 p=$2 body=${3-}

	shift 3 2>/dev/null || shift $#
	if [ -n "$body" ]; then
		http "$m" "http://127.0.0.1:$ADMIN_PORT$p" \
			-H "Authorization: Bearer $TOKEN" \
			-H 'Content-Type: application/json' --data-binary "$body" "$@"
	else
		http "$m" "http://127.0.0.1:$ADMIN_PORT$p" \
			-H "Authorization: Bearer $TOKEN" "$@"
	fi
}

# json EXPR: jq -r EXPR over RESP_BODY ("" when the body is not JSON).
json() {
	printf '%s' "$RESP_BODY" | jq -r "$1" 2>/dev/null
	return 0
}

# expect_code CODE WHAT: fails unless the last response had status CODE.
expect_code() {
	[ "$RESP_CODE" = "$1" ] ||
		fail "$2: expected HTTP $1, got $RESP_CODE: $RESP_BODY"
}

# metric NAME{LABELS}: prints its value on the current instance's /metrics
# (nothing when it is not there).
metric() {
	# awk reads to the end: leaving early would break curl's pipe, and
	# pipefail would turn that into a failure
	curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" |
		awk -v k="$1" '$1 == k && !f { print $2; f = 1 }'
}

# expect_field WHAT FIELD NEEDLE: a 400 naming FIELD, its message saying
# NEEDLE; says so (pass).
expect_field() {
	expect_code 400 "$1"
	[ "$(json .error.field)" = "$2" ] ||
		fail "$1: expected error.field $2: $RESP_BODY"
	json .error.message | grep -Fq -- "$3" ||
		fail "$1: the message does not say '$3': $RESP_BODY"
	pass "$1: 400 $2: $(json .error.message)"
}

# current_generation: sets GEN to the active generation (from
# /admin/v1/drivers); fails unless it is a number.
current_generation() {
	admin_get /admin/v1/drivers
	expect_code 200 "GET /admin/v1/drivers"
	GEN=$(json .generation)
	case $GEN in
	'' | *[!0-9]*) fail "/admin/v1/drivers: no numeric generation in $RESP_BODY" ;;
	esac
}

# generation_after WHAT: the answer's generation is newer than $g (the
# test's last known one) and is the active one; sets g to it. RESP_CODE
# and RESP_BODY are the answer's again afterwards.
generation_after() {
	local n body=$RESP_BODY code=$RESP_CODE

	n=$(json .generation)
	case $n in '' | *[!0-9]*) fail "$1: no generation in the answer: $RESP_BODY" ;; esac
	[ "$n" -gt "$g" ] || fail "$1: generation $n is not newer than $g"
	current_generation
	[ "$GEN" = "$n" ] || fail "$1: the answer says generation $n, /admin/v1/drivers says $GEN"
	g=$n
	RESP_BODY=$body
	RESP_CODE=$code
}

# reload_hup: sends SIGHUP to the current daemon and waits (10 s) for the
# outcome in the log; sets RELOAD_RESULT (ok or failed) and RELOAD_LINE.
RE_RELOAD_OK='reload: generation [0-9]+ active'
RE_RELOAD_FAILED='reload failed: '
reload_hup() {
	local ok0 bad0 i

	ok0=$(log_count "$RE_RELOAD_OK")
	bad0=$(log_count "$RE_RELOAD_FAILED")
	kill -HUP "$DAEMON_PID" || fail "cannot signal payrouted pid $DAEMON_PID"
	for i in $(seq 100); do
		if [ "$(log_count "$RE_RELOAD_OK")" -gt "$ok0" ]; then
			RELOAD_RESULT=ok
			RELOAD_LINE=$(grep -E "$RE_RELOAD_OK" "$LOG_FILE" | tail -n 1)
			return 0
		fi
		if [ "$(log_count "$RE_RELOAD_FAILED")" -gt "$bad0" ]; then
			RELOAD_RESULT=failed
			RELOAD_LINE=$(grep -E "$RE_RELOAD_FAILED" "$LOG_FILE" | tail -n 1)
			return 0
		fi
		sleep 0.1
	done
	fail "no reload outcome ('reload: generation N active' or 'reload failed') in the log within 10s of SIGHUP"
}
