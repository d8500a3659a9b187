#!/usr/bin/env bash
# t_systemd.sh - contrib/systemd/payrouted.service as `make` writes it: this
# build's paths substituted, nothing left unsubstituted, the directives
# the daemon's behaviour relies on (foreground, SIGHUP reload, SIGTERM
# stop, config test before start), and, where systemd-analyze is
# installed, `systemd-analyze verify` on a copy whose paths point at this
# build tree (the installed paths need not exist here; nor need the man
# pages be installed: --man=no). No PostgreSQL.
. "$(dirname "$0")/lib.sh"

UNIT=$top_builddir/contrib/systemd/payrouted.service
[ -f "$UNIT" ] || fail "$UNIT is not built (make writes it)"
! grep -n '@[a-z_]*@' "$UNIT" || fail "unsubstituted names in $UNIT"
# absolute paths, make's variables expanded
grep -qx 'ExecStart=/[^ @$]*/payrouted -f -c /[^ @$]*/payrouted.conf' "$UNIT" ||
	fail "ExecStart does not run payrouted in the foreground by absolute paths: $(grep ExecStart= "$UNIT")"
for d in "Type=simple" 'ExecReload=/bin/kill -HUP $MAINPID' "KillSignal=SIGTERM" \
	"User=payroute" "ProtectSystem=strict" "RuntimeDirectory=payroute"; do
	grep -qxF "$d" "$UNIT" || fail "$UNIT lacks $d"
done
grep -q '^ExecStartPre=/[^ ]*/payrouted -t -c /' "$UNIT" || fail "no config test before start"
pass "the unit runs payrouted -f, tests the config first, reloads with SIGHUP"

if command -v systemd-analyze >/dev/null 2>&1; then
	cp "$UNIT" "$TEST_DIR/payrouted.service"
	sed -i -e "s|^ExecStartPre=[^ ]*|ExecStartPre=$top_builddir/payrouted|" \
		-e "s|^ExecStart=[^ ]*|ExecStart=$top_builddir/payrouted|" "$TEST_DIR/payrouted.service"
	if ! out=$(systemd-analyze verify --man=no "$TEST_DIR/payrouted.service" 2>&1); then
		printf '%s\n' "$out" >&2
		fail "systemd-analyze verify refuses the unit"
	fi
	# warnings about the machine (no running systemd, other units) are not
	# about ours; one that names our unit is
	if grep -i 'payrouted.service:' <<<"$out"; then
		fail "systemd-analyze verify warns about the unit"
	fi
	pass "systemd-analyze verify accepts the unit"
else
	say "systemd-analyze is not installed: the unit is not verified by systemd"
fi
exit 0
