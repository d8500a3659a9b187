#!/usr/bin/env bash
# bench_rss.sh - payrouted's memory with 1,000 channels in the catalogue,
# idle and under the payments load.
#
# Saves the routing policy (GET /admin/v1/policy) and puts it back at exit
# (PUT, also on ^C or an error). Meanwhile the catalogue holds -n channels
# in all (1,000): the existing ones plus copies of them named rss_0000,
# rss_0001... with their drivers (alipay, wechat, bank) pointing at the
# simulator, online, with varied weights, fees and limits (transaction
# maximum, daily amount and count); the copies' secrets are the dev
# instance's keys, named as etc/catalogue.sample.json names them (the keys
# directory next to the env file, .dev/keys), since the admin API only
# shows them masked. One PUT /admin/v1/policy loads them; it answers once
# the new generation is active, and /metrics must then count -n channels.
# Then the payments load (wrk, auto-pay off: a paysim "*" script, reset at
# exit; -m alipay|wechat_pay picks which copies take it), as
# bench_payments.sh runs it. Prints payrouted's VmRSS and VmHWM (peak, since
# the process started) from /proc/PID/status with the original catalogue,
# with -n channels idle, and after the load, and a summary line (a daemon
# that already held a large catalogue keeps that memory: the first figure
# is only the small catalogue's on a freshly started payrouted):
#   bench_rss: N channels: VmRSS A MiB after the load ... (target < 64 MiB)
#
#   contrib/bench/bench_rss.sh [-e ENVFILE] [-n CHANNELS] [-t THREADS]
#       [-c CONNECTIONS] [-d SECS] [-m alipay|wechat_pay]
#
# What bounds the figure: what the daemon keeps per channel (its driver
# instance, parsed keys, usage and success-rate entries for the channels
# the load touched) and what the load's requests hold at once (-c); the
# policy document must fit server.max_body_bytes (1 MiB by default: about
# 1,000 channels). It changes the instance's policy for the run (an audit
# row per channel added and removed). ENVFILE: the instance (default
# .dev/env of this tree). Needs wrk, curl, jq, psql. Loopback only;
# bounded by -d.
set -eu

. "$(dirname "$0")/lib_bench.sh"
ENVFILE=$B_ROOT/.dev/env
N=1000 THREADS=2 CONNS=16 SECS=10 METHOD=wechat_pay
usage() {
	echo "usage: $0 [-e ENVFILE] [-n CHANNELS] [-t THREADS] [-c CONNECTIONS] [-d SECS] [-m METHOD]" >&2
	exit 2
}
while getopts e:n:t:c:d:m: o; do
	case $o in
	e) ENVFILE=$OPTARG ;;
	n) N=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	d) SECS=$OPTARG ;;
	m) METHOD=$OPTARG ;;
	*) usage ;;
	esac
done
[ $# -ge "$OPTIND" ] && usage
case $N in '' | *[!0-9]*) b_die "-n: a number of channels" ;; esac
b_need wrk
b_init "$ENVFILE"
b_method "$METHOD"
b_tmp
KEYDIR=$B_DEV/keys
SAMPLE=$B_ROOT/etc/catalogue.sample.json
[ -d "$KEYDIR" ] || b_die "no $KEYDIR: the copies' secrets are the dev instance's keys (contrib/dev.sh up)"
[ -f "$SAMPLE" ] || b_die "no $SAMPLE"

# mem LABEL: payrouted's VmRSS and VmHWM
mem() {
	local rss hwm

	rss=$(b_status_kib "$B_PR_PID" VmRSS) hwm=$(b_status_kib "$B_PR_PID" VmHWM)
	printf 'payrouted memory, %s: VmRSS %.1f MiB, VmHWM %.1f MiB\n' "$1" \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')"
	RSS_KIB=$rss HWM_KIB=$hwm
}
# channels: the active generation's channel count (/metrics)
channels() { b_metrics | awk '$1 == "payroute_channels" { print $2 }'; }

echo "bench_rss: $N channels, $THREADS threads, $CONNS connections, ${SECS}s, method $METHOD, against $PAYROUTE_MERCHANT_URL"
mem "with the original catalogue ($(channels) channels)"
RSS0=$RSS_KIB
b_policy_save "$B_TMP/policy.json"
HAVE=$(jq '.channels | length' "$B_TMP/policy.json")
[ "$N" -ge "$HAVE" ] || b_die "-n $N: the catalogue already has $HAVE channels"

# The templates: the stored channels, their masked secrets filled in with
# the sample catalogue's values for the same code (key files in KEYDIR,
# the WeChat API v3 key read from its file); a channel with a secret the
# sample does not give is not copied.
APIV3=$(tr -d '\n' <"$KEYDIR/wechat_apiv3.key" 2>/dev/null) || APIV3=
sed -e "s|@KEYDIR/|@$KEYDIR/|g" -e "s|APIV3KEY|$APIV3|g" "$SAMPLE" >"$B_TMP/sample.json"
jq --slurpfile sample "$B_TMP/sample.json" --argjson n "$N" '
	($sample[0].channels | map({key: .code, value: .driver_config}) | from_entries) as $sec
	| .channels as $orig
	| [$orig[] | . as $c
	   | .driver_config |= with_entries(
		if .value == "********" then .value = ($sec[$c.code][.key] // "********") else . end)
	   | select([.driver_config[] | select(. == "********")] | length == 0)] as $tpl
	| if ($tpl | length) == 0 then error("no channel to copy (secrets unknown)") else . end
	| .channels = $orig + [range(0; $n - ($orig | length)) as $i
		| $tpl[$i % ($tpl | length)]
		| .code = ("rss_" + (("000" + ($i | tostring)) | .[-4:]))
		| .institution = ("bench_rss copy of " + .code)
		| .status = "online"
		| .maintenance_windows = []
		| .weight = (1 + ($i * 37) % 100)
		| .fee.rate_bps = (20 + ($i * 7) % 60)
		| .limits.txn_max = ((.limits.txn_max // 5000000) - ($i % 10) * 10000)
		| .limits.daily_amount = (100000000 * (1 + $i % 50))
		| .limits.daily_count = (10000 * (1 + $i % 20))]
	' "$B_TMP/policy.json" >"$B_TMP/rss.json" || b_die "cannot build the catalogue of $N channels"
jq -c . "$B_TMP/rss.json" >"$B_TMP/rss.min.json"
SIZE=$(wc -c <"$B_TMP/rss.min.json")
MAXB=$(jq -r '.server.max_body_bytes // 1048576' "$PAYROUTE_CONF")
[ "$SIZE" -le "$MAXB" ] ||
	b_die "the policy document of $N channels is $SIZE bytes, over server.max_body_bytes ($MAXB): lower -n"
t0=$(date +%s%N)
out=$(b_admin_ok PUT /admin/v1/policy "@$B_TMP/rss.min.json")
echo "policy: $N channels loaded ($SIZE bytes; $(printf '%s' "$out" | jq -c '{changed, generation}'), $((($(date +%s%N) - t0) / 1000000)) ms until the new generation was active)"
GOT=$(channels)
[ "$GOT" = "$N" ] || b_die "/metrics counts $GOT channels, not $N"
sleep 1
mem "$N channels, idle"
RSS1=$RSS_KIB

b_autopay_off
b_payments_run "$SECS" "$THREADS" "$CONNS" "$METHOD"
b_sql "$B_DB" "SELECT 'channels that took the run''s payments: ' || count(DISTINCT channel) FROM payments WHERE merchant_order_no LIKE '$RUN-%'"
mem "$N channels, after the load"
printf 'bench_rss: %s channels: VmRSS %.1f MiB after the load (%.1f MiB idle, %.1f MiB with the original %s), VmHWM %.1f MiB, %s payments/s (target RSS < 64 MiB)\n' \
	"$N" "$(awk -v k="$RSS_KIB" 'BEGIN { print k / 1024 }')" \
	"$(awk -v k="$RSS1" 'BEGIN { print k / 1024 }')" "$(awk -v k="$RSS0" 'BEGIN { print k / 1024 }')" \
	"$HAVE" "$(awk -v k="$HWM_KIB" 'BEGIN { print k / 1024 }')" "$RATE"
