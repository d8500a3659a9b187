#!/usr/bin/env bash
# contrib/dev.sh - run payroute on this machine, and run every check CI runs.
#
#   contrib/dev.sh up       build, install into .dev/prefix, start a private
#                           PostgreSQL (.dev/pg, unix socket only) and
#                           payrouted; write .dev/env; generate dev RSA keys
#                           (.dev/keys) and load etc/catalogue.sample.json
#                           through the admin API when no channel exists.
#                           Idempotent.
#   contrib/dev.sh down     stop payrouted and that PostgreSQL
#   contrib/dev.sh status   what is running, and where
#   contrib/dev.sh logs [-f]  the daemon's log (tail; -f follows)
#   contrib/dev.sh test     install what is missing, then: make check with
#                           the integration tests required, the unit tests
#                           under ASan+UBSan and under valgrind (these two
#                           run beside the integration tests), make bench
#                           (built, not run), make distcheck, and the
#                           out-of-tree example driver against an install.
#                           Ends with "N passed, N failed". (.ci/run)
#
# Environment: PAYROUTE_MERCHANT_PORT (default 8080), PAYROUTE_ADMIN_PORT
# (8081), PAYROUTE_SIM_PORT (8082: the channel simulator the sample
# channels point at), PAYROUTE_PG_USER (payroute: the unprivileged user PostgreSQL runs
# as when this runs as root; initdb refuses root), JOBS (make -j, default 2).
# Everything `up` makes lives in .dev/ (git-ignored); `test` builds in
# build-test/ (git-ignored) and never inside the source tree.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DEV=$ROOT/.dev
BUILD=$DEV/build
PREFIX=$DEV/prefix
PG_DIR=$DEV/pg
PG_DATA=$PG_DIR/data
PG_SOCK=$PG_DIR/sock
PG_USER=${PAYROUTE_PG_USER:-payroute}
MERCHANT_PORT=${PAYROUTE_MERCHANT_PORT:-8080}
ADMIN_PORT=${PAYROUTE_ADMIN_PORT:-8081}
SIM_PORT=${PAYROUTE_SIM_PORT:-8082}
KEY_DIR=$DEV/keys
SAMPLE=$ROOT/etc/catalogue.sample.json
JOBS=${JOBS:-2}
CONF=$DEV/payrouted.conf
PID_FILE=$DEV/payrouted.pid
LOG_FILE=$DEV/payrouted.log
DRIVER_DIR=$PREFIX/lib/payroute/drivers

PACKAGES="build-essential autoconf automake libtool libltdl-dev pkg-config
libevent-dev libjansson-dev libpq-dev libcurl4-openssl-dev libssl-dev
libcmocka-dev libzip-dev zlib1g-dev postgresql postgresql-client curl valgrind \
procps python3 jq \
clang libclang-rt-14-dev openssl chromium fonts-noto-cjk"
# What only the test suite needs: the engines whose example configurations
# under contrib/ it checks (t_ha_configs.sh, promtool for the alert
# rules in contrib/prometheus), and Debian's JSON Schema validator, against
# which t_openapi.sh checks the daemon's answers (JSON Schema 2020-12);
# etcd-server, the DCS of t_patroni.sh's real Patroni failover.
TEST_PACKAGES="haproxy patroni etcd-server python3-yaml prometheus python3-jsonschema"

say() { printf 'dev.sh: %s\n' "$*"; }
die() {
	printf 'dev.sh: error: %s\n' "$*" >&2
	exit 1
}
is_root() { [ "$(id -u)" = 0 ]; }

# ---------------------------------------------------------------- setup
# ensure_deps [MORE]: installs the Debian packages of PACKAGES (and MORE)
# that are missing (apt-get update only when something is).
ensure_deps() {
	local missing="" p

	for p in $PACKAGES ${1:-}; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	# Node runs the SDK interop tests. A node from elsewhere (NodeSource's
	# nodejs bundles npm) is fine; Debian's packages only when it is absent.
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		missing="$missing nodejs npm"
	fi
	[ -z "$missing" ] && return 0
	is_root || die "missing packages:$missing (run as root, or: sudo apt-get install$missing)"
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# ensure_user: the unprivileged user PostgreSQL (initdb refuses root) and
# the integration tests run as, when we are root.
ensure_user() {
	is_root || return 0
	id -u "$PG_USER" >/dev/null 2>&1 && return 0
	say "creating the system user $PG_USER (PostgreSQL runs as it)"
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --user-group "$PG_USER"
}

ensure_configure() {
	if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ] ||
		[ "$ROOT/Makefile.am" -nt "$ROOT/Makefile.in" ]; then
		say "autoreconf -fi"
		autoreconf -fi >/dev/null
	fi
}

pg_bin() {
	local d

	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] ||
		die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)"
	echo "$d"
}

as_pg() {
	if is_root; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

# port_busy PORT: true when something listens on the TCP port.
port_busy() {
	local hex

	hex=$(printf '%04X' "$1")
	awk -v h="$hex" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == h) f = 1 }
		END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

daemon_pid() {
	local pid

	[ -f "$PID_FILE" ] || return 1
	pid=$(tr -dc '0-9' <"$PID_FILE")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	grep -q payrouted "/proc/$pid/comm" 2>/dev/null || return 1
	echo "$pid"
}

pg_running() {
	[ -d "$PG_DATA" ] && as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

print_where() {
	cat <<EOF

  merchant API   http://127.0.0.1:$MERCHANT_PORT/   (GET /healthz, /readyz)
  admin API      http://127.0.0.1:$ADMIN_PORT/admin/v1/   (bearer token)
  console        http://127.0.0.1:$ADMIN_PORT/
  metrics        http://127.0.0.1:$ADMIN_PORT/metrics
  admin token    $DEV/admin_token   (operator "admin"; payroutectl operator add)
  config         $CONF
  log            $LOG_FILE   (contrib/dev.sh logs -f)
  PostgreSQL     psql -h $PG_SOCK -U payroute payroute

  In your shell:  . .dev/env
  then e.g.:      curl -H "Authorization: Bearer \$PAYROUTE_ADMIN_TOKEN" \$PAYROUTE_ADMIN_URL/admin/v1/status
  or:             payroutectl status; payroutectl channels

  simulator      http://127.0.0.1:$SIM_PORT/_sim/ledger   (Alipay, WeChat Pay, bank)

  Route a payment without paying (the sample catalogue is loaded):
    curl -s -H "Authorization: Bearer \$PAYROUTE_ADMIN_TOKEN" -H 'Content-Type: application/json' \\
      -d '{"amount":10000,"currency":"CNY","method":"alipay","environment":"native_qr","product_code":"FACE_TO_FACE_PAYMENT"}' \\
      \$PAYROUTE_ADMIN_URL/admin/v1/route/explain

  Make a payment as the demo merchant, then pay it as the payer would:
    curl -s -H "Authorization: Bearer \$PAYROUTE_MERCHANT_KEY" -H 'Content-Type: application/json' \\
      -d '{"merchant_order_no":"my-1","amount":10000,"currency":"CNY","method":"alipay","environment":"native_qr","product_code":"FACE_TO_FACE_PAYMENT","subject":"test"}' \\
      \$PAYROUTE_MERCHANT_URL/v1/payments
    curl -s -d '{"channel":"alipay","out_trade_no":"<the payment id>"}' \$PAYROUTE_SIM_URL/_sim/pay
    curl -s -H "Authorization: Bearer \$PAYROUTE_MERCHANT_KEY" \$PAYROUTE_MERCHANT_URL/v1/payments/<the payment id>
EOF
}

# demo_merchant: the merchant "demo", its API key in .dev/merchant_key
# (created once; re-keyed when the key file was lost).
demo_merchant() {
	local out code

	# A key from an earlier store (.dev/pg removed) is unknown now.
	if [ -s "$DEV/merchant_key" ]; then
		code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' \
			-H "Authorization: Bearer $(cat "$DEV/merchant_key")" \
			"http://127.0.0.1:$MERCHANT_PORT/v1/payments/P0000000000000000")
		[ "$code" = 401 ] || return 0
		say "the demo merchant's key in $DEV/merchant_key is unknown to this store: making a new one"
	fi
	out=$(admin_call POST /admin/v1/merchants '{"id":"demo","name":"Demo shop","locale":"en"}')
	code=${out##*$'\n'}
	if [ "$code" = 409 ]; then
		out=$(admin_call POST /admin/v1/merchants/demo/keys '{}')
		code=${out##*$'\n'}
	fi
	case $code in
	200 | 201) ;;
	*) die "cannot create the demo merchant: HTTP $code: ${out%$'\n'*}" ;;
	esac
	(umask 077 && printf '%s' "${out%$'\n'*}" | jq -r .api_key >"$DEV/merchant_key")
	if printf '%s' "${out%$'\n'*}" | jq -e .notify_secret >/dev/null 2>&1; then
		(umask 077 && printf '%s' "${out%$'\n'*}" | jq -r .notify_secret >"$DEV/notify_secret")
	fi
	say "demo merchant \"demo\" ready (API key in $DEV/merchant_key)"
}

# sample_payment: one payment through the whole chain: the merchant API
# routes it to a channel of the sample catalogue, the driver sends it to
# the simulator, the payer pays (the simulator's /_sim/pay), the channel's
# signed callback settles it.
sample_payment() {
	local key body out code id st i why

	key=$(cat "$DEV/merchant_key")
	body=$(printf '{"merchant_order_no":"sample-%s","amount":880,"currency":"CNY","method":"alipay","environment":"native_qr","product_code":"FACE_TO_FACE_PAYMENT","subject":"dev.sh sample payment"}' "$(date +%s%N)")
	out=$(curl -s -m 20 -w '\n%{http_code}' -H "Authorization: Bearer $key" \
		-H 'Content-Type: application/json' --data-binary "$body" \
		"http://127.0.0.1:$MERCHANT_PORT/v1/payments") || out=$'\n000'
	code=${out##*$'\n'}
	[ "$code" = 201 ] || die "the sample payment was refused: HTTP $code: ${out%$'\n'*}"
	id=$(printf '%s' "${out%$'\n'*}" | jq -r .id)
	say "sample payment $id: $(printf '%s' "${out%$'\n'*}" | jq -r '.status + " on " + (.channel // "no channel") + (if (.payer | type) == "object" then ", payer gets " + (.payer | keys | join(",")) else ": " + (.code // "no code") + (if .message then " (" + .message + ")" else "" end) end)')"
	st=$(printf '%s' "${out%$'\n'*}" | jq -r .status)
	if [ "$st" != processing ]; then
		# why, as the route explain sees it now: each channel of the
		# method dropped, with the first filter it failed (a
		# maintenance window, a status, a limit)
		why=$(curl -s -m 5 -H "Authorization: Bearer $(cat "$DEV/admin_token")" \
			-H 'Content-Type: application/json' --data-binary "$body" \
			"http://127.0.0.1:$ADMIN_PORT/admin/v1/route/explain" |
			jq -r '[.candidates[]? | select(.dropped_by != null and .dropped_by != "method" and .dropped_by != "business_type") | .channel + ": " + .dropped_by] | join(", ")' 2>/dev/null) || why=
		die "the sample payment $id is '$st', not processing${why:+ (route explain now: $why)} (see $LOG_FILE)"
	fi
	curl -sf -m 5 -H 'Content-Type: application/json' \
		--data-binary "{\"channel\":\"alipay\",\"out_trade_no\":\"$id\"}" \
		"http://127.0.0.1:$SIM_PORT/_sim/pay" >/dev/null ||
		die "the simulator could not pay $id"
	for i in $(seq 50); do
		st=$(curl -s -m 5 -H "Authorization: Bearer $key" \
			"http://127.0.0.1:$MERCHANT_PORT/v1/payments/$id" | jq -r .status)
		[ "$st" = succeeded ] && break
		sleep 0.2
	done
	[ "$st" = succeeded ] || die "sample payment $id is '$st' after 10s (see $LOG_FILE)"
	say "sample payment $id: paid by the simulated payer, the channel's callback settled it: $st"
}

# Reads the ports back from an existing config, so that `up` on a running
# instance and `status` report what is really configured. The simulator's
# port is the one .dev/env names unless PAYROUTE_SIM_PORT says otherwise:
# the sample channels in the store point at it (it was rewritten to 8082).
read_sim_port() {
	local p

	if [ -z "${PAYROUTE_SIM_PORT:-}" ] && [ -f "$DEV/env" ]; then
		p=$(sed -n 's|^export PAYROUTE_SIM_URL=http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$DEV/env")
		[ -n "$p" ] && SIM_PORT=$p
	fi
	return 0
}
read_ports() {
	local m a

	read_sim_port
	[ -f "$CONF" ] || return 0
	m=$(sed -n 's/.*"merchant": *"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$CONF" | head -n 1)
	a=$(sed -n 's/.*"admin": *"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$CONF" | head -n 1)
	[ -n "$m" ] && MERCHANT_PORT=$m
	[ -n "$a" ] && ADMIN_PORT=$a
	return 0
}

# ports_free: dies naming the variable when a port that `up` is about to
# listen on (payrouted's, unless it runs; the simulator's, unless it runs)
# is taken, before anything is started.
ports_free() {
	if ! daemon_pid >/dev/null; then
		port_busy "$MERCHANT_PORT" &&
			die "port $MERCHANT_PORT (merchant API) is busy: set PAYROUTE_MERCHANT_PORT to another port"
		port_busy "$ADMIN_PORT" &&
			die "port $ADMIN_PORT (admin API) is busy: set PAYROUTE_ADMIN_PORT to another port"
	fi
	if ! sim_pid >/dev/null; then
		port_busy "$SIM_PORT" &&
			die "port $SIM_PORT (channel simulator) is busy: set PAYROUTE_SIM_PORT to another port"
	fi
	return 0
}

# pg_stop_started: the exit trap of `up` while it may fail: a PostgreSQL
# that this run started is stopped again when `up` fails before payrouted
# is running.
PG_STARTED=0
pg_stop_started() {
	local rc=$?

	if [ "$rc" != 0 ] && [ "$PG_STARTED" = 1 ] && ! daemon_pid >/dev/null && pg_running; then
		say "stopping the PostgreSQL this run started"
		as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null || true
	fi
	return "$rc"
}

# ---------------------------------------------------------------- up
build_install() {
	ensure_configure
	mkdir -p "$BUILD"
	if [ ! -f "$BUILD/Makefile" ]; then
		say "configure --prefix=$PREFIX (in $BUILD)"
		(cd "$BUILD" && "$ROOT/configure" -q --prefix="$PREFIX" --enable-werror)
	fi
	say "make -j$JOBS && make install"
	make -C "$BUILD" -s -j"$JOBS" >"$DEV/build.log" 2>&1 &&
		make -C "$BUILD" -s install >>"$DEV/build.log" 2>&1 ||
		{ tail -n 40 "$DEV/build.log" >&2; die "build failed (full log: $DEV/build.log)"; }
}

pg_up() {
	local bin

	bin=$(pg_bin)
	if [ "${#PG_SOCK}" -gt 90 ]; then
		die "the socket path $PG_SOCK is too long for a unix socket; move the checkout to a shorter path"
	fi
	if [ ! -f "$PG_DATA/PG_VERSION" ]; then
		say "initdb $PG_DATA (owner $(is_root && echo "$PG_USER" || id -un))"
		rm -rf "$PG_DIR"
		mkdir -p "$PG_SOCK"
		chmod 755 "$DEV" "$PG_DIR" "$PG_SOCK"
		if is_root; then
			chown -R "$PG_USER" "$PG_DIR"
			runuser -u "$PG_USER" -- test -x "$PG_DIR" ||
				die "user $PG_USER cannot reach $PG_DIR: make the directories above it traversable (chmod o+x)"
		fi
		as_pg "$bin/initdb" -D "$PG_DATA" -U payroute -A trust -E UTF8 \
			--locale=C >"$PG_DIR/initdb.log" 2>&1 ||
			{ cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
		cat >>"$PG_DATA/postgresql.conf" <<EOF
# contrib/dev.sh: a private server on a unix socket only
listen_addresses = ''
unix_socket_directories = '$PG_SOCK'
# What contrib/bench/bench_latency.sh reads (doc/design.md §10): the WAL
# flushes' time in pg_stat_wal, and autovacuum runs and checkpoints in
# the log (pg.log)
track_wal_io_timing = on
log_checkpoints = on
log_autovacuum_min_duration = 0
EOF
	fi
	if ! pg_running; then
		say "starting PostgreSQL on $PG_SOCK"
		PG_STARTED=1
		as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/pg.log" -w -t 60 start >/dev/null ||
			{ tail -n 20 "$PG_DIR/pg.log" >&2; die "PostgreSQL did not start"; }
	fi
	if [ -z "$(psql -X -At -h "$PG_SOCK" -U payroute -d postgres \
		-c "SELECT 1 FROM pg_database WHERE datname = 'payroute'")" ]; then
		psql -X -q -h "$PG_SOCK" -U payroute -d postgres \
			-c 'CREATE DATABASE payroute' || die "createdb payroute failed"
	fi
}

write_secrets() {
	umask 077
	if [ ! -s "$DEV/admin_token" ]; then
		od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$DEV/admin_token"
		say "generated $DEV/admin_token"
	fi
	if [ ! -s "$DEV/secret.key" ]; then
		od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$DEV/secret.key"
		say "generated $DEV/secret.key"
	fi
	umask 022
}

write_conf() {
	# notify.allow_private: the paysim sinks that stand in for merchants'
	# notify_url listen on 127.0.0.1, which a production config refuses.
	cat >"$CONF" <<EOF
{
	"listen": {
		"merchant": "127.0.0.1:$MERCHANT_PORT",
		"admin": "127.0.0.1:$ADMIN_PORT"
	},
	"admin": { "token_file": "$DEV/admin_token" },
	"database": {
		"conninfo": "host=$PG_SOCK dbname=payroute user=payroute",
		"migrations_dir": "$PREFIX/share/payroute/migrations"
	},
	"drivers": { "dir": "$DRIVER_DIR" },
	"secrets": { "key_file": "$DEV/secret.key" },
	"log": { "level": "info", "target": "$LOG_FILE" },
	"notify": { "allow_private": ["127.0.0.0/8", "::1/128"] },
	"server": { "pid_file": "$PID_FILE" }
}
EOF
}

write_env() {
	cat >"$DEV/env" <<EOF
# Written by contrib/dev.sh up; source it: . .dev/env
export PAYROUTE_MERCHANT_URL=http://127.0.0.1:$MERCHANT_PORT
export PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
export PAYROUTE_ADMIN_TOKEN=$(cat "$DEV/admin_token")
# The demo merchant's API key (merchant "demo"; its notification secret is
# in .dev/notify_secret).
export PAYROUTE_MERCHANT_KEY=$(cat "$DEV/merchant_key" 2>/dev/null)
# The channel simulator (contrib/paysim): GET /_sim/ledger, POST /_sim/pay,
# POST /_sim/script (faults), POST /_sim/reset.
export PAYROUTE_SIM_URL=http://127.0.0.1:$SIM_PORT
export PAYROUTE_CONF=$CONF
export PAYROUTE_PID=$PID_FILE
export PAYROUTE_DRIVER_DIR=$DRIVER_DIR
# payroutectl (it reads PAYROUTE_ADMIN_URL and PAYROUTE_ADMIN_TOKEN) and
# payrouted (payrouted -t -c \$PAYROUTE_CONF, payrouted --options)
export PATH=$PREFIX/bin:$PREFIX/sbin:\$PATH
EOF
}

# ---------------------------------------------------------------- sample
# gen_keys: the keys of the dev environment are the fixed test keys of
# tests/keys (copied to .dev/keys): the channel simulator holds the
# institutions' side (alipay_platform, wechat_platform, bank_platform) and
# payroute's sample channels the merchant side. Never use them for real
# money. Sets WX_SERIAL, WX_PSERIAL (WeChat certificate serials), BANK_CID,
# BANK_PCID (UnionPay certIds: the decimal serials) and APIV3.
gen_keys() {
	local f

	command -v openssl >/dev/null || die "openssl is needed to read the dev certificates"
	mkdir -p "$KEY_DIR"
	chmod 700 "$KEY_DIR"
	for f in "$ROOT"/tests/keys/*.pem "$ROOT"/tests/keys/wechat_apiv3.key; do
		[ -s "$KEY_DIR/$(basename "$f")" ] || install -m 600 "$f" "$KEY_DIR/"
	done
	WX_SERIAL=$(cert_serial_hex "$KEY_DIR/wechat_merchant_cert.pem")
	WX_PSERIAL=$(cert_serial_hex "$KEY_DIR/wechat_platform_cert.pem")
	BANK_CID=$(python3 -c "print(int('$(cert_serial_hex "$KEY_DIR/bank_merchant_cert.pem")', 16))")
	BANK_PCID=$(python3 -c "print(int('$(cert_serial_hex "$KEY_DIR/bank_platform_cert.pem")', 16))")
	APIV3=$(tr -d '\n' <"$KEY_DIR/wechat_apiv3.key")
}

cert_serial_hex() {
	openssl x509 -in "$1" -noout -serial | cut -d= -f2
}

# ---------------------------------------------------------------- simulator
SIM_PID_FILE=$DEV/paysim.pid
SIM_CONF=$DEV/paysim.json

sim_pid() {
	local pid

	[ -s "$SIM_PID_FILE" ] || return 1
	pid=$(cat "$SIM_PID_FILE")
	kill -0 "$pid" 2>/dev/null || return 1
	grep -q paysim "/proc/$pid/comm" 2>/dev/null || return 1
	echo "$pid"
}

# sim_up: the channel simulator (contrib/paysim) on 127.0.0.1:$SIM_PORT with
# the institutions' keys; it pays created orders by itself after two seconds
# (auto_pay) and sends the channels' callbacks to payrouted.
sim_up() {
	local pid i

	if pid=$(sim_pid); then
		say "channel simulator already running: pid $pid"
		return 0
	fi
	port_busy "$SIM_PORT" &&
		die "port $SIM_PORT (channel simulator) is busy: set PAYROUTE_SIM_PORT to another port"
	cat >"$SIM_CONF" <<EOF
{"alipay":{"platform_private_key":"@$KEY_DIR/alipay_platform_private.pem",
  "apps":[{"app_id":"2021000000000001","app_public_key":"@$KEY_DIR/alipay_app_public.pem"}]},
 "wechat":{"platform_private_key":"@$KEY_DIR/wechat_platform_private.pem",
  "platform_serial":"$WX_PSERIAL",
  "merchants":[{"mchid":"1900000001","serial_no":"$WX_SERIAL",
   "public_key":"@$KEY_DIR/wechat_merchant_public.pem","apiv3_key":"$APIV3"}]},
 "bank":{"platform_private_key":"@$KEY_DIR/bank_platform_private.pem",
  "platform_cert_id":"$BANK_PCID",
  "merchants":[{"mer_id":"777290058110048","cert_id":"$BANK_CID",
   "public_key":"@$KEY_DIR/bank_merchant_cert.pem"}]},
 "notify_delay_ms":2000, "auto_pay":true}
EOF
	say "starting the channel simulator on 127.0.0.1:$SIM_PORT (log: $DEV/paysim.log)"
	setsid nohup "$BUILD/contrib/paysim/paysim" --config "$SIM_CONF" \
		--port "$SIM_PORT" >>"$DEV/paysim.log" 2>&1 </dev/null &
	echo $! >"$SIM_PID_FILE"
	for i in $(seq 50); do
		curl -sf -m 2 -o /dev/null "http://127.0.0.1:$SIM_PORT/_sim/ledger" && return 0
		kill -0 "$(cat "$SIM_PID_FILE")" 2>/dev/null ||
			{ tail -n 20 "$DEV/paysim.log" >&2; die "the channel simulator exited during start-up"; }
		sleep 0.1
	done
	die "the channel simulator does not answer on 127.0.0.1:$SIM_PORT (see $DEV/paysim.log)"
}

sim_down() {
	local pid

	if pid=$(sim_pid); then
		say "stopping the channel simulator pid $pid"
		kill -TERM "$pid" 2>/dev/null || true
	fi
	rm -f "$SIM_PID_FILE"
}

# admin_call METHOD PATH [BODY]: the admin API; prints the body, then the
# HTTP status on a line of its own.
admin_call() {
	local args=(-s -m 60 -X "$1" -w '\n%{http_code}'
		-H "Authorization: Bearer $(cat "$DEV/admin_token")"
		-H 'X-Payroute-Note: contrib/dev.sh up: sample catalogue')

	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "http://127.0.0.1:$ADMIN_PORT$2" || printf '\n000'
}

# load_sample: when the store has no channel, loads etc/catalogue.sample.json
# (KEYDIR, SIMPORT, APIV3KEY, WXSERIAL, WXPSERIAL, BANKCERTID and
# BANKPCERTID filled in)
# through the admin API: each
# channel, each whitelist entry, then the rules. Prints how many channels
# are loaded. Failures are reported one by one and do not stop `up`.
load_sample() {
	local out code n cat item stale failed=0

	out=$(admin_call GET /admin/v1/channels)
	code=${out##*$'\n'}
	[ "$code" = 200 ] || die "GET /admin/v1/channels answered $code: ${out%$'\n'*}"
	n=$(printf '%s' "${out%$'\n'*}" | jq '.channels | length')
	if [ "$n" != 0 ]; then
		say "$n channels in the store: the sample catalogue is not loaded again"
		# The store's channels from an earlier `up` name that run's
		# simulator port: say so when this run's is another.
		stale=$(printf '%s' "${out%$'\n'*}" | jq -r --arg p "$SIM_PORT" \
			'[.channels[] | .. | strings |
			  capture("^https?://127\\.0\\.0\\.1:(?<p>[0-9]+)/") | .p |
			  select(. != $p)] | unique | join(", ")')
		[ -z "$stale" ] ||
			say "warning: the store's channels call the simulator on port $stale, this run's listens on $SIM_PORT: they will not reach it (the sample payment fails); 'contrib/dev.sh down && rm -rf $DEV' starts afresh on these ports"
		return 0
	fi
	[ -f "$SAMPLE" ] || die "no $SAMPLE"
	cat=$(sed -e "s|@KEYDIR/|@$KEY_DIR/|g" -e "s|SIMPORT|$SIM_PORT|g" \
		-e "s|APIV3KEY|$APIV3|g" -e "s|WXPSERIAL|$WX_PSERIAL|g" \
		-e "s|WXSERIAL|$WX_SERIAL|g" -e "s|BANKCERTID|$BANK_CID|g" \
		-e "s|BANKPCERTID|$BANK_PCID|g" "$SAMPLE")
	say "loading the sample catalogue ($SAMPLE)"
	while IFS= read -r item; do
		out=$(admin_call POST /admin/v1/channels "$item")
		code=${out##*$'\n'}
		if [ "$code" != 201 ]; then
			failed=$((failed + 1))
			say "  channel $(printf '%s' "$item" | jq -r .code): HTTP $code: $(printf '%s' "${out%$'\n'*}" | jq -r '.error.message // .' 2>/dev/null)"
		fi
	done < <(printf '%s' "$cat" | jq -c '.channels[]')
	while IFS= read -r item; do
		out=$(admin_call POST /admin/v1/whitelist "$item")
		code=${out##*$'\n'}
		if [ "$code" != 201 ]; then
			failed=$((failed + 1))
			say "  whitelist entry for $(printf '%s' "$item" | jq -r .channel): HTTP $code: $(printf '%s' "${out%$'\n'*}" | jq -r '.error.message // .' 2>/dev/null)"
		fi
	done < <(printf '%s' "$cat" | jq -c '.whitelist[]')
	out=$(admin_call PUT /admin/v1/routing/rules "$(printf '%s' "$cat" | jq -c '{rules: .rules}')")
	code=${out##*$'\n'}
	if [ "$code" != 200 ]; then
		failed=$((failed + 1))
		say "  routing rules: HTTP $code: $(printf '%s' "${out%$'\n'*}" | jq -r '.error.message // .' 2>/dev/null)"
	fi
	out=$(admin_call GET /admin/v1/channels)
	n=$(printf '%s' "${out%$'\n'*}" | jq '.channels | length' 2>/dev/null || echo '?')
	say "sample catalogue: $n channels loaded ($failed items refused)"
}

cmd_up() {
	local pid i

	mkdir -p "$DEV"
	if pid=$(daemon_pid) && pg_running; then
		read_ports
		say "already up: payrouted pid $pid, PostgreSQL on $PG_SOCK"
		gen_keys
		sim_up
		load_sample
		demo_merchant
		write_env
		print_where
		return 0
	fi
	read_sim_port
	ports_free
	ensure_deps
	ensure_user
	build_install
	trap pg_stop_started EXIT
	pg_up
	write_secrets
	if pid=$(daemon_pid); then
		# PostgreSQL was down but the daemon kept running: it reconnects.
		read_ports
		say "payrouted pid $pid was already running; it reconnects to PostgreSQL by itself"
	else
		write_conf
		"$PREFIX/sbin/payrouted" -t -c "$CONF" 2>&1 | sed 's/^/  /' ||
			die "the generated config does not pass payrouted -t"
		say "starting payrouted (log: $LOG_FILE)"
		rm -f "$PID_FILE"
		setsid nohup "$PREFIX/sbin/payrouted" -f -c "$CONF" \
			>>"$DEV/payrouted.out" 2>&1 </dev/null &
		pid=$!
	fi
	for i in $(seq 300); do
		kill -0 "$pid" 2>/dev/null ||
			{ tail -n 20 "$LOG_FILE" "$DEV/payrouted.out" >&2 2>/dev/null; die "payrouted exited during start-up"; }
		curl -sf -m 2 -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" && break
		sleep 0.1
	done
	curl -sf -m 2 -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" ||
		{ tail -n 20 "$LOG_FILE" >&2; die "payrouted (pid $pid) is not ready after 30s (see $LOG_FILE)"; }
	[ -s "$PID_FILE" ] || echo "$pid" >"$PID_FILE"
	trap - EXIT
	write_env
	say "up: payrouted pid $pid is ready"
	gen_keys
	sim_up
	load_sample
	demo_merchant
	write_env
	sample_payment
	print_where
}

# ---------------------------------------------------------------- down etc.
cmd_down() {
	local pid i

	if pid=$(daemon_pid); then
		say "stopping payrouted pid $pid"
		kill -TERM "$pid"
		for i in $(seq 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "payrouted pid $pid still running after 15s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	else
		say "payrouted is not running"
	fi
	sim_down
	if pg_running; then
		say "stopping PostgreSQL"
		as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
	else
		say "PostgreSQL is not running"
	fi
}

cmd_status() {
	local pid rc=0

	read_ports
	if pid=$(daemon_pid); then
		say "payrouted: running, pid $pid"
		printf '  /readyz: %s\n' "$(curl -s -m 3 "http://127.0.0.1:$ADMIN_PORT/readyz" || echo 'no answer')"
	else
		say "payrouted: not running"
		rc=1
	fi
	if pid=$(sim_pid); then
		say "channel simulator: running, pid $pid, http://127.0.0.1:$SIM_PORT/"
	else
		say "channel simulator: not running"
		rc=1
	fi
	if pg_running; then
		say "PostgreSQL: running on $PG_SOCK"
	else
		say "PostgreSQL: not running"
		rc=1
	fi
	[ "$rc" = 0 ] && print_where
	return "$rc"
}

cmd_logs() {
	[ -f "$LOG_FILE" ] || die "no log yet ($LOG_FILE): contrib/dev.sh up"
	if [ "${1:-}" = -f ]; then
		exec tail -n 50 -F "$LOG_FILE"
	fi
	tail -n 100 "$LOG_FILE"
}

# ---------------------------------------------------------------- test
BT=$ROOT/build-test
N_PASS=0
N_FAIL=0
FAILED_STEPS=""

step_fail() {
	N_FAIL=$((N_FAIL + 1))
	FAILED_STEPS="$FAILED_STEPS
  - $1"
	say "FAILED: $1"
}

# count_trs DIR LABEL: adds up automake's .trs results under DIR. A
# skipped test counts as failed here: `test` requires everything to run.
count_trs() {
	local f r

	while IFS= read -r f; do
		r=$(sed -n 's/^:test-result: //p' "$f" | head -n 1)
		case $r in
		PASS | XFAIL) N_PASS=$((N_PASS + 1)) ;;
		*) step_fail "$2: ${f#"$1"/} ($r)" ;;
		esac
	done < <(find "$1" -name '*.trs' | sort)
}

run_logged() {
	local logf=$1

	shift
	"$@" >>"$logf" 2>&1
}

# (a) the normal build: make check, integration tests required.
test_main() {
	local d=$BT/main

	say "(a) configure --enable-werror; make; make check (PR_REQUIRE_INTEGRATION=1)"
	# A failed distcheck leaves its read-only tree behind.
	[ -d "$d" ] && chmod -R u+w "$d" 2>/dev/null
	rm -rf "$d" "$BT/prefix"
	mkdir -p "$d"
	if ! (cd "$d" && run_logged "$d/build.out" "$ROOT/configure" \
		--enable-werror --prefix="$BT/prefix" &&
		run_logged "$d/build.out" make -j"$JOBS" &&
		run_logged "$d/build.out" make -j"$JOBS" check TESTS=); then
		tail -n 60 "$d/build.out"
		step_fail "(a) build"
		side_start
		return 1
	fi
	side_start
	if ! (cd "$d" && PR_REQUIRE_INTEGRATION=1 make check >"$d/check.out" 2>&1); then
		grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$d/check.out" || true
		echo "---- $d/test-suite.log"
		cat "$d/test-suite.log" 2>/dev/null || tail -n 60 "$d/check.out"
	else
		grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$d/check.out" || true
	fi
	count_trs "$d" "(a) make check"
}

# (b) and (e) run beside (a)'s make check, which spends most of its time
# in integration tests waiting on daemons, the store and time-outs: (b)
# builds and tests its own tree (build-test/asan), and (e) only runs the
# unit test programs (a) built (they make their files with mkstemp, so two
# runs of one test do not meet). This takes about a third off CI's time.
# Their output goes to build-test/side.out, shown when (a) is done, and
# their counts are added then (side_wait).
side_start() {
	(
		N_PASS=0 N_FAIL=0 FAILED_STEPS=
		test_sanitizers || true
		test_valgrind || true
		printf '%s %s\n' "$N_PASS" "$N_FAIL" >"$BT/side.counts"
		printf '%s' "$FAILED_STEPS" >"$BT/side.failed"
	) >"$BT/side.out" 2>&1 &
	SIDE_PID=$!
}

side_wait() {
	local p f

	[ -n "${SIDE_PID:-}" ] || { step_fail "(b)/(e) did not start: (a) did not build"; return 1; }
	wait "$SIDE_PID" || true
	cat "$BT/side.out"
	if ! read -r p f <"$BT/side.counts"; then
		step_fail "(b)/(e) ended without their counts (log: $BT/side.out)"
		return 1
	fi
	N_PASS=$((N_PASS + p))
	N_FAIL=$((N_FAIL + f))
	FAILED_STEPS="$FAILED_STEPS$(cat "$BT/side.failed")"
}

# (b) ASan + UBSan build, unit tests only.
test_sanitizers() {
	local d=$BT/asan units probe

	say "(b) configure --enable-sanitizers; unit tests under ASan+UBSan"
	rm -rf "$d"
	mkdir -p "$d"
	units=$(cd "$ROOT" && ls tests/unit/test_*.c 2>/dev/null | sed 's/\.c$//' | tr '\n' ' ')
	[ -n "$units" ] || { step_fail "(b) no unit tests found"; return 1; }
	# LeakSanitizer needs ptrace; some containers forbid it. Probe once:
	# with leak detection unusable, run with detect_leaks=0 and say so.
	probe=$d/lsan-probe
	printf 'int main(void) { return 0; }\n' >"$probe.c"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	if ! { cc -fsanitize=address "$probe.c" -o "$probe" 2>/dev/null &&
		"$probe" >/dev/null 2>&1; }; then
		say "LeakSanitizer cannot run here (no ptrace?): running with detect_leaks=0"
		export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
	fi
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	if ! (cd "$d" && run_logged "$d/build.out" "$ROOT/configure" \
		--enable-werror --enable-sanitizers &&
		run_logged "$d/build.out" make -j"$JOBS" &&
		run_logged "$d/build.out" make -j"$JOBS" check TESTS=); then
		tail -n 60 "$d/build.out"
		step_fail "(b) sanitizer build"
		return 1
	fi
	if ! (cd "$d" && make check TESTS="$units" >"$d/check.out" 2>&1); then
		grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$d/check.out" || true
		echo "---- $d/test-suite.log"
		cat "$d/test-suite.log" 2>/dev/null || tail -n 60 "$d/check.out"
	else
		grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$d/check.out" || true
	fi
	count_trs "$d" "(b) sanitizers"
	unset ASAN_OPTIONS UBSAN_OPTIONS
}

# (c) make distcheck (integration tests that need PostgreSQL skipped).
test_distcheck() {
	local d=$BT/main

	say "(c) make distcheck (PR_INTEGRATION=0)"
	[ -f "$d/Makefile" ] || { step_fail "(c) distcheck: no configured tree"; return 1; }
	if (cd "$d" && PR_INTEGRATION=0 make -j"$JOBS" distcheck \
		PR_INTEGRATION=0 >"$d/distcheck.out" 2>&1); then
		N_PASS=$((N_PASS + 1))
		grep -A3 'archives ready for distribution' "$d/distcheck.out" || true
	else
		tail -n 80 "$d/distcheck.out"
		find "$d" -path '*/_build/*' -name test-suite.log -exec cat {} + 2>/dev/null || true
		step_fail "(c) make distcheck (log: $d/distcheck.out)"
	fi
}

# (d) install, then build contrib/example-driver out of tree with nothing
# but the installed header and payroute-driver.pc.
test_example() {
	local d=$BT/main ex=$BT/example-driver pc

	say "(d) install; build contrib/example-driver out of tree"
	if ! (cd "$d" && make install >"$d/install.out" 2>&1); then
		tail -n 40 "$d/install.out"
		step_fail "(d) make install"
		return 1
	fi
	pc=$(dirname "$(find "$BT/prefix" -name payroute-driver.pc | head -n 1)")
	[ -f "$pc/payroute-driver.pc" ] ||
		{ step_fail "(d) payroute-driver.pc not installed"; return 1; }
	rm -rf "$ex"
	cp -r "$ROOT/contrib/example-driver" "$ex"
	# Then the installed payrouted must accept it: -t loads every driver
	# in drivers.dir and checks its descriptor (no database needed).
	mkdir -p "$ex/drivers"
	cat >"$ex/test.conf" <<EOF
{
	"listen": { "merchant": "127.0.0.1:1", "admin": "127.0.0.1:2" },
	"admin": { "token": "example-driver-check-token" },
	"database": { "conninfo": "dbname=unused" },
	"drivers": { "dir": "$ex/drivers" }
}
EOF
	if (cd "$ex" && export PKG_CONFIG_PATH="$pc" &&
		make >"$BT/example.out" 2>&1 &&
		make check >>"$BT/example.out" 2>&1 &&
		cp example.so drivers/ &&
		"$BT/prefix/sbin/payrouted" -t -c "$ex/test.conf" \
			>>"$BT/example.out" 2>&1); then
		N_PASS=$((N_PASS + 1))
		tail -n 4 "$BT/example.out"
	else
		cat "$BT/example.out"
		step_fail "(d) example driver out of tree (log: $BT/example.out)"
	fi
}

# (e) the unit tests again under valgrind (memcheck: errors and definite or
# indirect leaks fail), and the benchmarks built so that they cannot rot
# (`make bench`; run them by hand, they print figures).
test_valgrind() {
	local d=$BT/main t name ok=1

	say "(e) unit tests under valgrind; make bench"
	[ -x "$d/libtool" ] || { step_fail "(e) valgrind: no configured tree"; return 1; }
	for t in "$ROOT"/tests/unit/test_*.c; do
		name=$(basename "$t" .c)
		if (cd "$d" && ./libtool --mode=execute valgrind -q \
			--leak-check=full --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=9 "./tests/unit/$name" \
			>"$d/valgrind-$name.out" 2>&1); then
			N_PASS=$((N_PASS + 1))
			say "valgrind: $name ok"
		else
			tail -n 40 "$d/valgrind-$name.out"
			step_fail "(e) valgrind: $name (log: $d/valgrind-$name.out)"
			ok=0
		fi
	done
	[ "$ok" = 1 ]
}

# (e) make bench: the benchmarks build (after (a)'s make check, in its tree).
test_bench() {
	local d=$BT/main

	if (cd "$d" && run_logged "$d/bench.out" make -j"$JOBS" bench); then
		N_PASS=$((N_PASS + 1))
	else
		tail -n 40 "$d/bench.out"
		step_fail "(e) make bench (log: $d/bench.out)"
		return 1
	fi
}

cmd_test() {
	local t0=$SECONDS

	ensure_deps "$TEST_PACKAGES"
	ensure_user
	say "autoreconf -fi"
	autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; die "autoreconf failed"; }
	mkdir -p "$BT"
	SIDE_PID=
	rm -f "$BT/side.counts" "$BT/side.failed"
	test_main || true
	side_wait || true
	test_bench || true
	test_distcheck || true
	if [ -f "$BT/main/payrouted" ]; then
		test_example || true
	else
		step_fail "(d) example driver: (a) did not build"
	fi
	if [ -n "$FAILED_STEPS" ]; then
		printf 'dev.sh: failures:%s\n' "$FAILED_STEPS"
	fi
	say "done in $((SECONDS - t0))s"
	echo "$N_PASS passed, $N_FAIL failed"
	[ "$N_FAIL" = 0 ]
}

# ---------------------------------------------------------------- main
usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$ROOT/contrib/dev.sh"
	exit "${1:-0}"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
logs) shift; cmd_logs "$@" ;;
test) cmd_test ;;
-h | --help | help) usage 0 ;;
*) usage 2 >&2 ;;
esac
