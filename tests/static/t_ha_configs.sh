#!/usr/bin/env bash
# t_ha_configs.sh - the high-availability examples under contrib/ are
# configurations their engines accept, and say what payroute relies on
# (doc/operations.md):
#   - contrib/haproxy/haproxy.cfg passes `haproxy -c`, and every backend
#     checks GET /readyz;
#   - contrib/patroni/patroni.yml passes `patroni --validate-config`, and
#     keeps synchronous_mode on, synchronous_mode_strict off,
#     synchronous_commit on and maximum_lag_on_failover 0.
# Patroni's validator connects to the etcd hosts and to the listen
# addresses (to see they are free): the check runs it on a copy whose etcd
# host is a listener of this script on 127.0.0.1 and whose listen
# addresses are loopback ports nothing uses; the connect_address values
# (10.0.0.x) are only read as text. Nothing leaves the machine.
# Broken copies of both must be refused, so the check can fail.
#
# Needs haproxy, patroni and python3-yaml (contrib/dev.sh test installs
# them). Exit status: 0 pass, 1 fail, 77 skipped (tools missing and
# PR_REQUIRE_INTEGRATION unset).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
HAPROXY_CFG=$top_srcdir/contrib/haproxy/haproxy.cfg
PATRONI_YML=$top_srcdir/contrib/patroni/patroni.yml

for t in haproxy patroni python3; do
	command -v "$t" >/dev/null && continue
	if [ "${PR_REQUIRE_INTEGRATION:-0}" = 1 ]; then
		echo "FAIL: $t is not installed (apt-get install haproxy patroni)"
		exit 1
	fi
	echo "SKIP: $t is not installed"
	exit 77
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ha-configs.XXXXXX") || exit 99
lpid=""
trap '[ -n "$lpid" ] && kill "$lpid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0

# ------------------------------------------------------------- HAProxy
# haproxy_ok FILE: haproxy accepts it and every backend checks /readyz.
haproxy_ok() {
	haproxy -c -q -f "$1" >"$tmp/haproxy.out" 2>&1 || return 1
	awk '/^backend / { if (b && !c) bad = 1; b = 1; c = 0 }
	     /option httpchk GET \/readyz/ { c = 1 }
	     END { if (b && !c) bad = 1; exit bad || !b }' "$1"
}
sed 's/default_backend payrouted_merchant/default_backend nowhere/' \
	"$HAPROXY_CFG" >"$tmp/broken.cfg"
if haproxy_ok "$tmp/broken.cfg"; then
	echo "FAIL: a haproxy.cfg naming a backend that does not exist passed"
	fail=1
fi
sed 's/option httpchk GET \/readyz/option httpchk GET \/healthz/' \
	"$HAPROXY_CFG" >"$tmp/healthz.cfg"
if haproxy_ok "$tmp/healthz.cfg"; then
	echo "FAIL: a haproxy.cfg checking /healthz instead of /readyz passed"
	fail=1
fi
if haproxy_ok "$HAPROXY_CFG"; then
	echo "ok - contrib/haproxy/haproxy.cfg: haproxy -c accepts it, every backend checks /readyz"
else
	echo "FAIL: contrib/haproxy/haproxy.cfg:"
	sed 's/^/    /' "$tmp/haproxy.out"
	fail=1
fi

# ------------------------------------------------------------- Patroni
port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -c "import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(16)
time.sleep(60)" &
lpid=$!
for i in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" \
		2>/dev/null && break
	sleep 0.1
done

# loopback FILE OUT: the copy Patroni's validator may connect to.
loopback() {
	sed -e "s/^\( *- \)10\.0\.0\.2[0-9]:2379$/\1127.0.0.1:$port/" \
		-e 's/listen: 0\.0\.0\.0:8008/listen: 127.0.0.1:1/' \
		-e 's/listen: 0\.0\.0\.0:5432/listen: 127.0.0.1:2/' "$1" >"$2"
	if grep -qE '^ *- 10\.|listen: 0\.0\.0\.0' "$2"; then
		echo "FAIL: $1: an etcd host or listen address the check cannot make loopback"
		return 1
	fi
}

# relies FILE: the settings payroute relies on.
relies() {
	python3 - "$1" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
d = c["bootstrap"]["dcs"]
bad = []
if d.get("synchronous_mode") is not True: bad.append("synchronous_mode is not true")
if d.get("synchronous_mode_strict") is not False: bad.append("synchronous_mode_strict is not false")
if d.get("maximum_lag_on_failover") != 0: bad.append("maximum_lag_on_failover is not 0")
if str(d["postgresql"]["parameters"].get("synchronous_commit")) not in ("on", "remote_apply", "True"):
    bad.append("synchronous_commit is not on or remote_apply")
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
}

patroni_ok() {
	loopback "$1" "$tmp/check.yml" || return 1
	patroni --validate-config "$tmp/check.yml" >"$tmp/patroni.out" 2>&1 ||
		return 1
	relies "$1" >"$tmp/relies.out"
}
sed 's/^    synchronous_mode: true/    synchronous_mode: false/' "$PATRONI_YML" >"$tmp/async.yml"
if patroni_ok "$tmp/async.yml"; then
	echo "FAIL: a patroni.yml without synchronous_mode passed"
	fail=1
fi
sed 's/^    ttl: 30/    ttl: thirty/' "$PATRONI_YML" >"$tmp/ttl.yml"
if patroni_ok "$tmp/ttl.yml"; then
	echo "FAIL: a patroni.yml with ttl: thirty passed Patroni's validator"
	fail=1
fi
if patroni_ok "$PATRONI_YML"; then
	echo "ok - contrib/patroni/patroni.yml: patroni --validate-config accepts it; synchronous mode, not strict, synchronous_commit on"
else
	echo "FAIL: contrib/patroni/patroni.yml:"
	cat "$tmp/patroni.out" "$tmp/relies.out" 2>/dev/null | sed 's/^/    /'
	fail=1
fi
exit "$fail"
