#!/usr/bin/env bash
# tests/integration/load_client.sh - one client of the payment load the
# failure tests put on payrouted (t_crash, t_failover, t_patroni,
# t_rolling): payments PREFIX-C-1, PREFIX-C-2, ... through the merchant API
# on 127.0.0.1:PORT, one after the other, each with its own
# Idempotency-Key (k-NO) and amount (100 + its number), and one line for
# each answer:
#   NO HTTPCODE ID STATUS ERROR     ("-" where the body has none)
#
#   load_client.sh PORT KEY PREFIX C [-n MAX] [-s STOPFILE] [-p PAUSE]
#       [-m TIMEOUT] [-g]
#   load_client.sh PORT KEY -r NO [-m TIMEOUT]
#
# It stops after MAX payments (400), when STOPFILE exists, or with -g at
# the first request that got no answer at all (HTTP code 000: the daemon
# is gone). PAUSE: seconds between requests (0); TIMEOUT: curl's -m (10).
# -r NO sends payment NO's request once more, with the same key and body:
# a retry.

port=$1 key=$2
shift 2
max=400 stop='' pause=0 timeout=10 gone_stops=0 retry=''

# one NO: a request and its line
one() {
	local no=$1 i=${1##*-} out code body fields
	out=$(curl -s -m "$timeout" -w '\n%{http_code}' -H "Authorization: Bearer $key" \
		-H 'Content-Type: application/json' -H "Idempotency-Key: k-$no" \
		--data-binary "{\"merchant_order_no\":\"$no\",\"amount\":$((100 + i)),\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"subject\":\"load\"}" \
		"http://127.0.0.1:$port/v1/payments")
	code=${out##*$'\n'}
	body=${out%$'\n'*}
	fields=$(printf '%s' "$body" | jq -r '[.id // "-", .status // "-", .error.code // "-"] | join(" ")' 2>/dev/null)
	printf '%s %s %s\n' "$no" "$code" "${fields:-- - -}"
	[ "$code" != 000 ]
}

if [ "${1-}" = -r ]; then
	retry=$2
	shift 2
else
	prefix=$1 c=$2
	shift 2
fi
while getopts n:s:p:m:g o; do
	case $o in
	n) max=$OPTARG ;;
	s) stop=$OPTARG ;;
	p) pause=$OPTARG ;;
	m) timeout=$OPTARG ;;
	g) gone_stops=1 ;;
	*) echo "usage: see the header of $0" >&2; exit 2 ;;
	esac
done

if [ -n "$retry" ]; then
	one "$retry"
	exit 0
fi
for i in $(seq "$max"); do
	[ -n "$stop" ] && [ -e "$stop" ] && break
	one "$prefix-$c-$i" || [ "$gone_stops" = 0 ] || break
	[ "$pause" = 0 ] || sleep "$pause"
done
exit 0
