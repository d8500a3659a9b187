#!/usr/bin/env python3
"""frontdoor.py - the raw-socket clients of t_frontdoor.sh (the HTTP front
door of payrouted: core/runtime/server.c and core/base/framing.c).

Every connection goes to 127.0.0.1 only (flood clients may bind another
loopback source address, 127.0.0.N, to stand for other clients); every loop
is bounded in count and in time.

    frontdoor.py smuggle PORT
        Framing and smuggling cases, one row each: the request is sent with
        a second request behind it in the same write; the answer must be
        one JSON 400 (or the row's status), the connection must then be
        closed, and the second request must never be answered. Control rows
        show that a valid request followed by a second one gets two answers.

    frontdoor.py shapes MERCHANT_PORT ADMIN_PORT MERCHANT_KEY ADMIN_TOKEN
        The error-shape rule: one row per listener and path family; each
        answer must have the row's status, parse as JSON with error.code and
        error.message (strings), and carry the security headers.

    frontdoor.py flood PORT SECONDS ADDRS SLOW IDLE LINE_MS [RATE]
        Keeps SLOW slow-header connections (one header line every LINE_MS)
        and IDLE idle connections (nothing sent) open from each source
        address in ADDRS (comma-separated, 127.0.0.N) for SECONDS, opening
        a new one whenever one is closed, at most RATE (default 100) new
        connections a second. Prints a JSON summary: how many
        were opened, answered 503, answered 408, closed without an answer,
        how many slow-header connections got their 408 and the longest
        time one lived (slow_max_age: closed or still open at the end).

Exit status: 0 when every row passed (smuggle, shapes), 1 otherwise.
"""
import json
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"


def connect(port, src=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect((HOST, port))
    return s


def read_until_eof(s, timeout):
    """Everything the server sends until it closes (eof True) or timeout."""
    data = b""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def parse_responses(data):
    """The HTTP responses in data: a list of (status, headers, body)."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            out.append((-1, {}, data))
            break
        head = data[:end].decode("latin-1").split("\r\n")
        try:
            status = int(head[0].split(" ")[1])
        except (IndexError, ValueError):
            out.append((-1, {}, data))
            break
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        body = data[end + 4:end + 4 + n]
        data = data[end + 4 + n:]
        if status != 100:
            out.append((status, headers, body))
    return out


def check_error(status, headers, body, want_status, want_code=None):
    """'' when the answer is a JSON error of the expected shape, else why."""
    if status != want_status:
        return "status %d, want %d (%r)" % (status, want_status, body[:200])
    if not headers.get("content-type", "").startswith("application/json"):
        return "Content-Type %r" % headers.get("content-type")
    try:
        j = json.loads(body)
    except ValueError:
        return "not JSON: %r" % body[:200]
    e = j.get("error") if isinstance(j, dict) else None
    if not isinstance(e, dict) or not isinstance(e.get("code"), str) or \
            not isinstance(e.get("message"), str) or not e["message"]:
        return "no error.code and error.message: %r" % body[:200]
    if "field" in e and not isinstance(e["field"], str):
        return "error.field is not a string"
    if want_code and e["code"] != want_code:
        return "code %r, want %r (%s)" % (e["code"], want_code, e["message"])
    for h, v in (("cache-control", "no-store"),
                 ("x-content-type-options", "nosniff"),
                 ("x-frame-options", "DENY"),
                 ("referrer-policy", "no-referrer")):
        if headers.get(h) != v:
            return "header %s is %r, want %r" % (h, headers.get(h), v)
    if "frame-ancestors 'none'" not in headers.get(
            "content-security-policy", ""):
        return "no Content-Security-Policy with frame-ancestors 'none'"
    return ""


# ------------------------------------------------------------------ smuggle

H = b"Host: payroute\r\n"
NEXT = b"GET /healthz HTTP/1.1\r\nHost: payroute\r\n\r\n"
SMUGGLED = b"POST /v1/payments HTTP/1.1\r\nHost: payroute\r\n" \
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def post(headers, body=b""):
    return b"POST /v1/payments HTTP/1.1\r\n" + H + \
        b"Content-Type: application/json\r\n" + headers + b"\r\n" + body


# (name, request, status of its answer, answers expected in all)
SMUGGLE_ROWS = [
    ("Content-Length 2 and 60, a request inside",
     post(b"Content-Length: 2\r\nContent-Length: 60\r\n", b"{}" + SMUGGLED),
     400, 1),
    ("two equal Content-Length",
     post(b"Content-Length: 2\r\nContent-Length: 2\r\n", b"{}"), 400, 1),
    ("Content-Length +2", post(b"Content-Length: +2\r\n", b"{}"), 400, 1),
    ("Content-Length folded (\" 2\")",
     post(b"Content-Length:\r\n 2\r\n", b"{}"), 400, 1),
    ("Content-Length with a vertical tab",
     post(b"Content-Length: \x0b2\r\n", b"{}"), 400, 1),
    ("Content-Length 2,2", post(b"Content-Length: 2,2\r\n", b"{}"), 400, 1),
    ("Content-Length 0x2", post(b"Content-Length: 0x2\r\n", b"{}"), 400, 1),
    ("Content-Length -1", post(b"Content-Length: -1\r\n"), 400, 1),
    ("Content-Length before a space and colon",
     post(b"Content-Length : 2\r\n", b"{}"), 400, 1),
    ("Transfer-Encoding and Content-Length",
     post(b"Transfer-Encoding: chunked\r\nContent-Length: 7\r\n",
          b"2\r\n{}\r\n0\r\n\r\n"), 400, 1),
    ("two Transfer-Encoding",
     post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
          b"2\r\n{}\r\n0\r\n\r\n"), 400, 1),
    ("Transfer-Encoding gzip, chunked",
     post(b"Transfer-Encoding: gzip, chunked\r\n",
          b"2\r\n{}\r\n0\r\n\r\n"), 400, 1),
    ("Transfer-Encoding chunked, identity",
     post(b"Transfer-Encoding: chunked, identity\r\n",
          b"2\r\n{}\r\n0\r\n\r\n"), 400, 1),
    ("Transfer-Encoding after a tab",
     post(b"Transfer-Encoding:\tchunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
     400, 1),
    ("Transfer-Encoding on HTTP/1.0",
     b"POST /v1/payments HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\n{}\r\n0\r\n\r\n", 400, 1),
    ("chunk size 0x2",
     post(b"Transfer-Encoding: chunked\r\n", b"0x2\r\n{}\r\n0\r\n\r\n"),
     400, 1),
    ("chunk extension",
     post(b"Transfer-Encoding: chunked\r\n", b"2;x=y\r\n{}\r\n0\r\n\r\n"),
     400, 1),
    ("chunk data without its CRLF",
     post(b"Transfer-Encoding: chunked\r\n", b"2\r\n{}XX0\r\n\r\n"), 400, 1),
    ("a trailer field",
     post(b"Transfer-Encoding: chunked\r\n",
          b"2\r\n{}\r\n0\r\nContent-Length: 5\r\n\r\n"), 400, 1),
    ("a body on HEAD",
     b"HEAD /healthz HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nGET /",
     400, 1),
    ("obsolete line folding",
     b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n", 400, 1),
    ("a bare CR", b"GET /healthz HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n",
     400, 1),
    ("no Host on HTTP/1.1", b"GET /healthz HTTP/1.1\r\n\r\n", 400, 1),
    ("garbage request line", b"GET\x00/ HTTP/1.1\r\n" + H + b"\r\n", 400, 1),
    # pipelined: the request before the bad one is still answered
    ("pipelined: a GET, then two Content-Length",
     NEXT + post(b"Content-Length: 2\r\nContent-Length: 60\r\n", b"{}"),
     400, [200, 400]),
    # control rows: well-framed requests are answered and the next one too
    ("control: chunked POST, then a GET",
     b"POST /healthz HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"\r\n2\r\n{}\r\n0\r\n\r\n", 405, 2),
    ("control: Content-Length POST, then a GET",
     b"POST /healthz HTTP/1.1\r\n" + H + b"Content-Length: 2\r\n\r\n{}",
     405, 2),
]


def cmd_smuggle(port):
    bad = 0
    for name, req, want, answers in SMUGGLE_ROWS:
        try:
            s = connect(port)
            s.sendall(req + NEXT)
            data, eof = read_until_eof(s, 1.0 if answers == 2 else 5.0)
            s.close()
        except OSError as e:
            print("FAIL %s: %s" % (name, e))
            bad += 1
            continue
        rs = parse_responses(data)
        why = ""
        if isinstance(answers, list):
            got = [r[0] for r in rs]
            if got != answers:
                why = "answers %r, want %r" % (got, answers)
            else:
                why = check_error(*rs[-1], want)
                if not why and not eof:
                    why = "the connection stayed open after the 400"
        elif len(rs) != answers:
            why = "%d answers, want %d: %r" % (len(rs), answers, data[:300])
        else:
            why = check_error(rs[0][0], rs[0][1], rs[0][2], want)
            if not why and answers == 1:
                if not eof:
                    why = "the connection stayed open after the 400"
                elif rs[0][1].get("connection", "").lower() != "close":
                    why = "no Connection: close"
            if not why and answers == 2 and rs[1][0] != 200:
                why = "the second request got %d" % rs[1][0]
        if why:
            print("FAIL %s: %s" % (name, why))
            bad += 1
        elif isinstance(answers, list):
            print("ok   %s: %s, closed, the next one unread" %
                  (name, ", then ".join(str(a) for a in answers)))
        else:
            print("ok   %s: %d%s" % (name, want, ", then 200" if answers == 2
                                     else ", closed, the next one unread"))
    return 1 if bad else 0


# ------------------------------------------------------------------- shapes

def cmd_shapes(mport, aport, mkey, token):
    mauth = b"Authorization: Bearer " + mkey.encode() + b"\r\n"
    aauth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    json_ct = b"Content-Type: application/json\r\n"

    def req(method, path, headers=b"", body=b"", version=b"HTTP/1.1"):
        if body:
            headers += b"Content-Length: %d\r\n" % len(body)
        return method + b" " + path + b" " + version + b"\r\n" + H + \
            headers + b"Connection: close\r\n\r\n" + body

    big_int = b'{"merchant_order_no":"x","amount":99999999999999999999,' \
        b'"currency":"CNY","method":"alipay"}'
    rows = []
    for lst, port, auth in (("merchant", mport, mauth),
                            ("admin", aport, aauth)):
        api = b"/v1/payments" if lst == "merchant" else b"/admin/v1/status"
        one = b"/v1/payments/PNOSUCHPAYMENT1" if lst == "merchant" else api
        rows += [
            (lst, port, "404 unknown path", req(b"GET", b"/no/such/thing"),
             404, "not_found"),
            (lst, port, "405 on /healthz", req(b"DELETE", b"/healthz"), 405,
             "method_not_allowed"),
            (lst, port, "405 OPTIONS on /readyz", req(b"OPTIONS", b"/readyz"),
             405, "method_not_allowed"),
            (lst, port, "413 body over max_body_bytes",
             req(b"POST", api, auth + json_ct +
                 b"Content-Length: 900000000\r\n"), 413,
             "payload_too_large"),
            (lst, port, "413 chunked body over max_body_bytes",
             req(b"POST", api, auth + json_ct +
                 b"Transfer-Encoding: chunked\r\n") + b"fffffff\r\n", 413,
             "payload_too_large"),
            (lst, port, "400 bad request line", b"HELLO\r\n\r\n", 400,
             "bad_request"),
            (lst, port, "400 path /%ff", req(b"GET", b"/%ff"), 400,
             "bad_request"),
            (lst, port, "400 path %c0%ae", req(b"GET", api +
                                               b"/%c0%ae%c0%ae"), 400,
             "bad_request"),
            (lst, port, "400 path with %00", req(b"GET", b"/healthz%00x"),
             400, "bad_request"),
            (lst, port, "400 path with %0a", req(b"GET", b"/a%0ab"), 400,
             "bad_request"),
            (lst, port, "401 without credentials", req(b"GET", one), 401,
             "unauthorized"),
            (lst, port, "431 head too large",
             req(b"GET", b"/healthz", b"X-Big: " + b"a" * 70000 + b"\r\n"),
             431, "header_too_large"),
            (lst, port, "414 target too long", req(b"GET", b"/" + b"a" * 9000),
             414, "uri_too_long"),
            (lst, port, "501 TRACE", req(b"TRACE", b"/healthz"), 501,
             "not_implemented"),
            (lst, port, "505 HTTP/2.0",
             req(b"GET", b"/healthz", version=b"HTTP/2.0"), 505,
             "http_version_not_supported"),
            (lst, port, "417 Expect", req(b"POST", b"/healthz",
                                          b"Expect: nothing\r\n", b"{}"),
             417, "expectation_failed"),
        ]
    rows += [
        ("merchant", mport, "415 wrong Content-Type",
         req(b"POST", b"/v1/payments", mauth + b"Content-Type: text/plain\r\n",
             b"{}"), 415, "unsupported_media_type"),
        ("merchant", mport, "400 malformed JSON",
         req(b"POST", b"/v1/payments", mauth + json_ct, b"{\"a\":"), 400,
         "bad_request"),
        ("merchant", mport, "400 an integer beyond int64 names its field",
         req(b"POST", b"/v1/payments", mauth + json_ct, big_int), 400,
         "invalid_field"),
        ("merchant", mport, "400 an integer beyond int64 names its field "
         "(withdrawal)",
         req(b"POST", b"/v1/withdrawals", mauth + json_ct, big_int), 400,
         "invalid_field"),
        ("merchant", mport, "400 an integer beyond int64 names its field "
         "(refund)",
         req(b"POST", b"/v1/payments/PNOSUCHPAYMENT1/refunds",
             mauth + json_ct, big_int), 400, "invalid_field"),
        ("merchant", mport, "401 with a wrong key",
         req(b"GET", b"/v1/payments/PNOSUCHPAYMENT1",
             b"Authorization: Bearer prk_x\r\n"),
         401, None),
        ("merchant", mport, "404 unknown payment",
         req(b"GET", b"/v1/payments/PNOSUCH", mauth), 404, "not_found"),
        ("merchant", mport, "404 callback for an unknown channel",
         req(b"POST", b"/notify/nochannel", json_ct, b"{}"), 404, None),
        ("admin", aport, "400 an integer beyond int64 names its field",
         req(b"POST", b"/admin/v1/route/explain", aauth + json_ct,
             big_int), 400, "invalid_field"),
        ("admin", aport, "404 unknown admin endpoint",
         req(b"GET", b"/admin/v1/no-such", aauth), 404, "not_found"),
        ("admin", aport, "405 on an admin endpoint",
         req(b"DELETE", b"/admin/v1/status", aauth), 405,
         "method_not_allowed"),
        ("admin", aport, "404 console file", req(b"GET", b"/no-such.html"),
         404, "not_found"),
        ("admin", aport, "400 console path with ..",
         req(b"GET", b"/a/../../etc/passwd"), 400, None),
        ("admin", aport, "401 with a wrong token",
         req(b"GET", b"/admin/v1/status", b"Authorization: Bearer x\r\n"),
         401, "unauthorized"),
    ]
    bad = 0
    for lst, port, name, raw, want, code in rows:
        try:
            s = connect(port)
            s.sendall(raw)
            data, _ = read_until_eof(s, 5.0)
            s.close()
        except OSError as e:
            print("FAIL %s %s: %s" % (lst, name, e))
            bad += 1
            continue
        rs = parse_responses(data)
        why = "no answer" if not rs else check_error(*rs[0], want, code)
        if not why and name.startswith("400 an integer"):
            e = json.loads(rs[0][2])["error"]
            if "amount" not in e["message"] or \
                    (code == "invalid_field" and e.get("field") != "amount"):
                why = "the field is not named: %r" % e
        if why:
            print("FAIL %s %s: %s" % (lst, name, why))
            bad += 1
        else:
            print("ok   %s %s: %d %s" % (lst, name, want,
                                         json.loads(rs[0][2])["error"]["code"]))
    return 1 if bad else 0


# -------------------------------------------------------------------- flood

def cmd_flood(port, seconds, addrs, n_slow, n_idle, line_ms, rate=100):
    start = time.monotonic()
    stop = start + seconds
    sel = selectors.DefaultSelector()
    conns = {}   # socket -> dict(kind, addr, opened, next, lines, got)
    stats = {"opened": 0, "connect_failed": 0, "answered_503": 0,
             "answered_408": 0, "answered_other": 0, "closed_silently": 0,
             "slow_408": 0, "slow_408_max_lifetime": 0.0,
             "slow_max_age": 0.0, "still_open": 0}
    want = {}
    for a in addrs:
        want[(a, "slow")] = n_slow
        want[(a, "idle")] = n_idle
    have = {k: 0 for k in want}

    def open_one(addr, kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((addr, 0))
            s.connect_ex((HOST, port))
        except OSError:
            s.close()
            stats["connect_failed"] += 1
            return
        now = time.monotonic()
        conns[s] = {"kind": kind, "addr": addr, "opened": now,
                    "next": now, "lines": 0, "got": b""}
        sel.register(s, selectors.EVENT_READ)
        have[(addr, kind)] += 1
        stats["opened"] += 1

    def age(info):
        return round(time.monotonic() - info["opened"], 2)

    def closed(s, info):
        del conns[s]
        sel.unregister(s)
        have[(info["addr"], info["kind"])] -= 1
        rs = parse_responses(info["got"]) if info["got"] else []
        st = rs[0][0] if rs else 0
        if st == 503:
            stats["answered_503"] += 1
        elif st == 408:
            stats["answered_408"] += 1
        elif st:
            stats["answered_other"] += 1
        else:
            stats["closed_silently"] += 1
        if info["kind"] == "slow" and st != 503:
            stats["slow_max_age"] = max(stats["slow_max_age"], age(info))
            if st == 408:
                stats["slow_408"] += 1
                stats["slow_408_max_lifetime"] = max(
                    stats["slow_408_max_lifetime"], age(info))
        s.close()

    while time.monotonic() < stop:
        # top up: at most rate/20 new connections per round of 50 ms
        budget = max(1, rate // 20)
        for (a, kind), n in want.items():
            while have[(a, kind)] < n and budget > 0:
                open_one(a, kind)
                budget -= 1
        now = time.monotonic()
        for s, info in list(conns.items()):
            if info["kind"] == "slow" and now >= info["next"]:
                line = b"POST /v1/payments HTTP/1.1\r\n" \
                    if info["lines"] == 0 else b"X-Slow-%d: x\r\n" % \
                    info["lines"]
                try:
                    s.send(line)
                    info["lines"] += 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    pass  # reset: the read below sees it
                info["next"] = now + line_ms / 1000.0
        round_end = now + 0.05
        r = [k.fileobj for k, _ in sel.select(0.05)] if conns else []
        left = round_end - time.monotonic()
        if left > 0:
            time.sleep(left)
        for s in r:
            info = conns.get(s)
            if info is None:
                continue
            try:
                chunk = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if chunk:
                info["got"] += chunk
            else:
                closed(s, info)
    stats["still_open"] = len(conns)
    for s, info in list(conns.items()):
        if info["kind"] == "slow" and not info["got"]:
            stats["slow_max_age"] = max(stats["slow_max_age"], age(info))
        s.close()
    print(json.dumps(stats))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "smuggle":
        return cmd_smuggle(int(argv[2]))
    if len(argv) >= 6 and argv[1] == "shapes":
        return cmd_shapes(int(argv[2]), int(argv[3]), argv[4], argv[5])
    if len(argv) >= 8 and argv[1] == "flood":
        return cmd_flood(int(argv[2]), float(argv[3]), argv[4].split(","),
                         int(argv[5]), int(argv[6]), int(argv[7]),
                         int(argv[8]) if len(argv) > 8 else 100)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
