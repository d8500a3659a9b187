"""storepay.py - one payment as bench_store.sh and bench_store_ir.sh replay
it: bench_storesql's statements (the daemon's texts) and the texts the
daemon sends with them (the route trace before and after the answer, the
attempt, the payer), so that both replay the same payment."""

# The statements bench_storesql prints, in its order, separated by "--".
NAMES = ('begin', 'fast', 'full', 'lean', 'answer', 'final', 'finalfast',
         'beginlean')


def statements(path):
    """The statements of bench_storesql's output at path, by NAMES."""
    parts = open(path).read().split('\n--\n')
    if len(parts) != len(NAMES):
        raise SystemExit('%s: %d statements, want %d (%s): rebuild '
                         'bench_storesql' % (path, len(parts), len(NAMES),
                                             ' '.join(NAMES)))
    return dict(zip(NAMES, parts))


def one(s):
    """s on one line."""
    return ' '.join(s.split())


def q(s):
    """s as an SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


ROUTE = ('{"route": {"rule": {"id": 2, "name": "default: weight, fee and '
         'success rate"}, "chosen": "wx_native", "dropped": {"environment": '
         '2}, "whitelist": null, "candidates": [{"fee": 9, "score": 3.0, '
         '"channel": "wx_native", "eligible": true, "dropped_by": null, '
         '"score_parts": {"fee": 1.0, "weight": 1.0, "success_rate": 1.0}}], '
         '"eligible_not_listed": 0}, "attempts": [], "generation": 17}')
ATTEMPT = ('{"ms": 16.649, "code": "PROCESSING", "channel": "wx_native", '
           '"outcome": "processing", "http_status": 200, "channel_code": '
           '"200", "channel_sub_code": ""}')
TRACE = ROUTE.replace('"attempts": []', '"attempts": [' + ATTEMPT + ']')
PAYER = '{"qr_code": "weixin://wxpay/bizpayurl?pr=OVMz1sJJ5zFajwfK"}'
NOW = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
