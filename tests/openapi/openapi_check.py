#!/usr/bin/env python3
"""openapi_check.py - keeps doc/openapi/*.json and the daemon the same.

  openapi_check.py routes ADMIN_C MERCHANT_JSON ADMIN_JSON
      The route tables of core/admin/admin.c (pr_merchant_routes,
      pr_admin_routes) against the documents' paths, both ways: every row
      (method and pattern) is an operation of its listener's document, and
      every operation of a document is a row. A row's "{name*}" segment is
      the document's "{name}"; PR_READ (GET and HEAD) is the document's
      "get". The one row left out is the admin table's "/admin/{rest*}"
      catch-all, which is no endpoint: it answers 404 for the paths no row
      takes (after the token), as the documents' 404 answers say.

  openapi_check.py walk MERCHANT_JSON ADMIN_JSON
      Walks every operation of both documents against a live daemon
      (tests/integration/t_openapi.sh starts it and sets the environment:
      MERCHANT_URL, ADMIN_URL, TOKEN, MKEY, PAID, CHANNEL), and validates
      each answer's body against the schema the document gives for its
      status (JSON Schema 2020-12, the dialect of OpenAPI 3.1, with
      python3-jsonschema). An answer with a status its operation does not
      document fails, and so does an operation that no request walked.
      Prints the figures: paths, operations, answers validated.

Standard library and Debian's python3-jsonschema only.
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

METHODS = {"PR_GET": ["get"], "PR_READ": ["get"], "PR_POST": ["post"],
           "PR_PUT": ["put"], "PR_PATCH": ["patch"], "PR_DELETE": ["delete"]}
OPS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def fail(msg):
    print("openapi_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


# ----------------------------------------------------------------- routes
def table_rows(src, name):
    """The rows of the route table `name` in admin.c: [(methods, pattern)]."""
    m = re.search(r"const struct pr_route " + name + r"\[\] = \{(.*?)\n\};",
                  src, re.S)
    if not m:
        fail("no table %s in admin.c" % name)
    rows = re.findall(r"\{\s*(PR_[A-Z_]+)\s*,\s*\"([^\"]+)\"", m.group(1))
    if not rows:
        fail("table %s has no rows" % name)
    return rows


def table_perms(src, name):
    """The operator rows of table `name`: [(methods, pattern, permission
    as perms.c names it: PR_PERM_ORDER_SETTLE -> "order.settle")]."""
    m = re.search(r"const struct pr_route " + name + r"\[\] = \{(.*?)\n\};",
                  src, re.S)
    out = []
    for methods, pattern, perm in re.findall(
            r"\{\s*(PR_[A-Z_]+)\s*,\s*\"([^\"]+)\"[^{}]*?PR_PERM_([A-Z_]+)\s*\}",
            m.group(1) if m else ""):
        if perm == "NONE" or pattern == "/admin/{rest*}":
            continue
        name = perm.lower().replace("_", ".", 1) if perm.startswith(
            ("CHANNEL_", "ORDER_", "POLICY_", "MERCHANT_")) else perm.lower()
        out.append((methods, pattern, name))
    return out


def doc_ops(doc):
    return {(p, op) for p, item in doc.get("paths", {}).items()
            for op in item if op in OPS}


def check_routes(admin_c, merchant_json, admin_json):
    src = open(admin_c, encoding="utf-8").read()
    problems = []
    total = 0
    for table, path in (("pr_merchant_routes", merchant_json),
                        ("pr_admin_routes", admin_json)):
        doc = json.load(open(path, encoding="utf-8"))
        have = doc_ops(doc)
        rows = set()
        for methods, pattern in table_rows(src, table):
            if methods == "PR_ANY" and pattern == "/admin/{rest*}":
                continue
            if methods not in METHODS:
                problems.append("%s: row %s %s: methods the check does not "
                                "know" % (table, methods, pattern))
                continue
            p = re.sub(r"\{(\w+)\*\}", r"{\1}", pattern)
            for op in METHODS[methods]:
                rows.add((p, op))
        for p, op in sorted(rows - have):
            problems.append("%s: row %s %s is not in %s" %
                            (table, op.upper(), p, path))
        for p, op in sorted(have - rows):
            problems.append("%s: %s %s is no row of %s" %
                            (path, op.upper(), p, table))
        # an operator's row names its permission (the last column,
        # base/perms.h): the document says the same in x-permission
        for methods, pattern, perm in table_perms(src, table):
            p = re.sub(r"\{(\w+)\*\}", r"{\1}", pattern)
            for op in METHODS.get(methods, ()):
                item = doc.get("paths", {}).get(p, {}).get(op)
                if item is not None and item.get("x-permission") != perm:
                    problems.append("%s: %s %s: x-permission %r, the row "
                                    "says %r" % (path, op.upper(), p,
                                                 item.get("x-permission"),
                                                 perm))
        total += len(rows)
        print("openapi_check: %s: %d operations; %s: %d rows" %
              (os.path.basename(path), len(have), table, len(rows)))
    if problems:
        fail("the documents and the route tables differ:\n  " +
             "\n  ".join(problems))
    print("openapi_check: ok - %d rows of both tables, each an operation "
          "of its document and back" % total)


# ------------------------------------------------------------------- walk
class Walker:
    def __init__(self, merchant_json, admin_json):
        from jsonschema import Draft202012Validator, RefResolver
        self.V = Draft202012Validator
        self.RR = RefResolver
        self.docs = {"m": json.load(open(merchant_json, encoding="utf-8")),
                     "a": json.load(open(admin_json, encoding="utf-8"))}
        self.base = {"m": os.environ["MERCHANT_URL"],
                     "a": os.environ["ADMIN_URL"]}
        self.cred = {"m": os.environ.get("MKEY", ""),
                     "a": os.environ["TOKEN"]}
        self.walked = set()
        self.validated = 0
        self.statuses = set()
        self.ctx = {k: os.environ.get(k, "") for k in
                    ("PAID", "CHANNEL", "MERCHANT")}
        cap = os.environ.get("OPENAPI_CAPTURE")
        self.capture = open(cap, "a", encoding="utf-8") if cap else None

    def schema_for(self, who, tmpl, method, status, ctype):
        doc = self.docs[who]
        item = doc["paths"].get(tmpl)
        if item is None or method not in item:
            fail("%s %s is not in the document" % (method.upper(), tmpl))
        responses = item[method]["responses"]
        resp = responses.get(str(status))
        if resp is None:
            fail("%s %s answered %d, a status its document does not give "
                 "(it gives %s)" % (method.upper(), tmpl, status,
                                    ", ".join(sorted(responses))))
        while "$ref" in resp:
            resp = self.resolve(doc, resp["$ref"])
        content = resp.get("content", {})
        if status == 204:
            if content:
                fail("%s %s: 204 with a body in the document" %
                     (method.upper(), tmpl))
            return None
        mt = ctype.split(";")[0].strip()
        if mt not in content and "*/*" in content:
            mt = "*/*"
        if mt not in content:
            fail("%s %s %d: Content-Type %s, the document gives %s" %
                 (method.upper(), tmpl, status, ctype,
                  ", ".join(content) or "no body"))
        return content[mt].get("schema")

    @staticmethod
    def resolve(doc, ref):
        node = doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def call(self, who, method, tmpl, want, vals=None, query="", body=None,
             auth=True, headers=None, save=None):
        """One request: the path is tmpl with each {name} replaced by
        ctx[vals[name]]; want: the status expected (the test fails on
        another). The answer is validated against the document's schema
        for its status; save: {ctx key: answer's top-level key}."""
        path = tmpl
        for name, key in (vals or {}).items():
            path = path.replace("{%s}" % name, self.ctx[key])
        url = self.base[who] + path + (("?" + query) if query else "")
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else \
                json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method.upper())
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", "Bearer " + self.cred[who])
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                status, raw, ctype = r.status, r.read(), \
                    r.headers.get("Content-Type", "")
                self.last_headers = r.headers
        except urllib.error.HTTPError as e:
            status, raw, ctype = e.code, e.read(), \
                e.headers.get("Content-Type", "")
            self.last_headers = e.headers
        text = raw.decode("utf-8", "replace")
        if self.capture:
            self.capture.write(json.dumps(
                {"who": who, "path": tmpl, "method": method, "status": status,
                 "ctype": ctype, "body": text}) + "\n")
        if status != want:
            fail("%s %s: HTTP %d, want %d: %s" %
                 (method.upper(), path, status, want, text[:400]))
        schema = self.schema_for(who, tmpl, method, status, ctype)
        value = None
        if status == 204:
            if text:
                fail("%s %s: 204 with a body: %s" %
                     (method.upper(), path, text[:200]))
        elif ctype.startswith("application/json"):
            try:
                value = json.loads(text)
            except ValueError as e:
                fail("%s %s: not JSON (%s)" % (method.upper(), path, e))
            if schema is None:
                fail("%s %s %d: the document gives no schema" %
                     (method.upper(), tmpl, status))
            resolver = self.RR.from_schema(self.docs[who])
            errors = sorted(self.V(schema, resolver=resolver)
                            .iter_errors(value), key=lambda e: list(e.path))
            if errors:
                fail("%s %s %d: the answer does not match the document's "
                     "schema:\n  %s\n  answer: %s" %
                     (method.upper(), path, status,
                      "\n  ".join("%s: %s" % ("/".join(map(str, e.path)),
                                              e.message)
                                  for e in errors[:5]), text[:600]))
        elif not text:
            fail("%s %s: an empty body" % (method.upper(), path))
        self.validated += 1
        self.walked.add((who, tmpl, method))
        self.statuses.add((who, tmpl, method, status))
        for k, key in (save or {}).items():
            self.ctx[k] = str(value[key])
        return value

    def coverage(self):
        missing = []
        n_paths = n_ops = 0
        for who, doc in self.docs.items():
            for p, item in doc["paths"].items():
                n_paths += 1
                for op in item:
                    if op not in OPS:
                        continue
                    n_ops += 1
                    if (who, p, op) not in self.walked:
                        missing.append("%s %s" % (op.upper(), p))
        if missing:
            fail("operations no request walked:\n  " + "\n  ".join(missing))
        print("openapi_check: ok - %d paths, %d operations walked, %d "
              "answers validated against their schemas (%d distinct "
              "operation and status pairs)" %
              (n_paths, n_ops, self.validated, len(self.statuses)))


def sim_faults(faults):
    """Scripts the channel simulator (SIM): faults for every order, or
    none."""
    req = urllib.request.Request(
        os.environ["SIM"] + "/_sim/script",
        data=json.dumps({"order": "*", "rate": 1, "faults": faults}).encode(),
        method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        if r.status != 200:
            fail("paysim /_sim/script answered %d" % r.status)


def walk(merchant_json, admin_json):
    w = Walker(merchant_json, admin_json)
    c = w.call
    ch = w.ctx["CHANNEL"]
    mch = w.ctx["MERCHANT"]
    pay_body = {"merchant_order_no": "oa-open-1", "amount": 1200,
                "currency": "CNY", "method": "wechat_pay",
                "environment": "native_qr", "subject": "openapi walk",
                "notify_url": os.environ["NOTIFY_URL"]}

    # ------------------------------------------------- merchant listener
    c("m", "get", "/healthz", 200, auth=False)
    c("m", "get", "/readyz", 200, auth=False)
    c("m", "get", "/v1/openapi.json", 200, auth=False)
    c("m", "post", "/v1/payments", 401, body=pay_body, auth=False)
    c("m", "post", "/v1/payments", 400, body=dict(pay_body, amount=-1))
    c("m", "post", "/v1/payments", 201, body=pay_body, save={"OPEN": "id"})
    c("m", "get", "/v1/payments", 200, query="merchant_order_no=oa-open-1")
    c("m", "get", "/v1/payments", 400)
    c("m", "get", "/v1/payments/{id}", 200, vals={"id": "PAID"})
    w.ctx["NOSUCH"] = "PNOSUCHPAYMENT1"
    c("m", "get", "/v1/payments/{id}", 404, vals={"id": "NOSUCH"})
    c("m", "post", "/v1/payments/{id}/close", 200, vals={"id": "OPEN"},
      body={})
    # a refund and a payment the channel leaves without an answer: the
    # operator settles them below
    sim_faults({"timeout": True, "callback": "drop"})
    c("m", "post", "/v1/payments/{id}/refunds", 201, vals={"id": "PAID"},
      body={"merchant_refund_no": "oa-rf-1", "amount": 100,
            "stage": "post_delivery", "reason": "openapi walk"},
      save={"REFUND": "id"})
    c("m", "post", "/v1/payments", 201,
      body=dict(pay_body, merchant_order_no="oa-unknown-1",
                notify_url=os.environ["SIM"] + "/_sim/no-such-sink"),
      save={"UNKNOWN": "id"})
    sim_faults(None)
    c("m", "post", "/v1/payments/{id}/refunds", 400, vals={"id": "PAID"},
      body={"merchant_refund_no": "oa-rf-2", "amount": 0})
    c("m", "get", "/v1/payments/{id}/refunds", 200, vals={"id": "PAID"})
    c("m", "get", "/v1/refunds", 200, query="merchant_refund_no=oa-rf-1")
    c("m", "get", "/v1/refunds/{id}", 200, vals={"id": "REFUND"})
    c("m", "post", "/v1/withdrawals", 201,
      body={"merchant_withdrawal_no": "oa-wd-1", "amount": 2000,
            "currency": "CNY",
            "payee": {"kind": "wechat_openid",
                      "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                      "name": "Zhang San"}},
      save={"WD": "id"})
    c("m", "get", "/v1/withdrawals", 200,
      query="merchant_withdrawal_no=oa-wd-1")
    c("m", "get", "/v1/withdrawals/{id}", 200, vals={"id": "WD"})
    w.ctx["NOSUCHCHAN"] = "no_such_channel"
    c("m", "post", "/notify/{code}", 404, vals={"code": "NOSUCHCHAN"},
      body={"x": 1}, auth=False)

    # ---------------------------------------------------- admin listener
    c("a", "get", "/healthz", 200, auth=False)
    c("a", "get", "/readyz", 200, auth=False)
    c("a", "get", "/metrics", 200, auth=False)
    c("a", "get", "/admin/v1/openapi.json", 401, auth=False)
    c("a", "get", "/admin/v1/openapi.json", 200)
    c("a", "get", "/admin/v1/status", 200)
    c("a", "get", "/admin/v1/overview", 200)
    c("a", "get", "/admin/v1/currencies", 200)
    c("a", "get", "/admin/v1/drivers", 200)
    w.ctx["DRIVER"] = "wechat"
    c("a", "get", "/admin/v1/drivers/{name}", 200, vals={"name": "DRIVER"})
    c("a", "get", "/admin/v1/drivers/{name}", 404, vals={"name": "NOSUCHCHAN"})
    c("a", "post", "/admin/v1/route/explain", 200,
      body={"amount": 1000, "currency": "CNY", "method": "wechat_pay",
            "environment": "native_qr"})
    c("a", "post", "/admin/v1/route/explain", 400, body={"amount": "x"})
    c("a", "get", "/admin/v1/channels", 200)
    chan = c("a", "get", "/admin/v1/channels/{code}", 200,
             vals={"code": "CHANNEL"})
    c("a", "get", "/admin/v1/channels/{code}", 404,
      vals={"code": "NOSUCHCHAN"})
    copy = json.loads(os.environ["CHAN_JSON"])
    copy["code"] = "oa_copy"
    copy["status"] = "offline"
    w.ctx["COPY"] = "oa_copy"
    c("a", "post", "/admin/v1/channels", 201, body=copy)
    c("a", "post", "/admin/v1/channels", 409, body=copy)
    c("a", "put", "/admin/v1/channels/{code}", 200, vals={"code": "COPY"},
      body=dict(copy, weight=5))
    c("a", "patch", "/admin/v1/channels/{code}", 200, vals={"code": "COPY"},
      body={"weight": 7})
    c("a", "patch", "/admin/v1/channels/{code}", 400, vals={"code": "COPY"},
      body={"weight": -1})
    c("a", "post", "/admin/v1/channels/{code}/status", 200,
      vals={"code": "COPY"}, body={"status": "online"})
    c("a", "put", "/admin/v1/channels/{code}/weight", 200,
      vals={"code": "COPY"}, body={"weight": 9})
    c("a", "put", "/admin/v1/channels/{code}/weight", 400,
      vals={"code": "COPY"}, body={"weight": "heavy"})
    c("a", "get", "/admin/v1/whitelist", 200)
    wl = c("a", "post", "/admin/v1/whitelist", 201,
      body={"kind": "buyer_id", "value": "oa-buyer", "channel": "oa_copy",
            "note": "openapi walk"})
    w.ctx["WL"] = str((wl.get("entry") or {}).get("id"))
    c("a", "delete", "/admin/v1/whitelist/{id}", 204, vals={"id": "WL"})
    c("a", "get", "/admin/v1/routing/rules", 200)
    c("a", "put", "/admin/v1/routing/rules", 200,
      body={"rules": [{"name": "all"}]})
    c("a", "put", "/admin/v1/routing/rules", 400,
      body={"rules": [{"name": "x", "allow": ["no_such_channel"]}]})
    c("a", "delete", "/admin/v1/channels/{code}", 204, vals={"code": "COPY"})
    c("a", "get", "/admin/v1/codes", 200)
    c("a", "get", "/admin/v1/codes/overrides", 200)
    c("a", "put", "/admin/v1/codes/overrides", 200,
      body={"channel": ch, "op": "pay", "code": "NOMONEY",
            "unified": "BALANCE_LOW", "effect": "failed", "retryable": True,
            "category": "limit", "message_en": "Balance too low.",
            "message_zh": "余额不足。"})
    c("a", "put", "/admin/v1/codes/overrides", 400,
      body={"channel": ch, "op": "pay", "code": "NOMONEY", "effect": "win"})
    c("a", "delete", "/admin/v1/codes/overrides", 204,
      query="channel=%s&op=pay&code=NOMONEY" % ch)
    c("a", "delete", "/admin/v1/codes/overrides", 400, query="op=pay")
    c("a", "get", "/admin/v1/codes/unmapped", 200)
    c("a", "get", "/admin/v1/audit", 200)
    policy = c("a", "get", "/admin/v1/policy", 200)
    c("a", "put", "/admin/v1/policy", 200, body=policy)
    # a replay of the policy as it is, over the walk's hour (the figures
    # themselves: t_replay.sh)
    now = time.time()
    span = {"from": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                  time.gmtime(now - 3600)),
            "to": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                time.gmtime(now + 60))}
    c("a", "post", "/admin/v1/policy/replay", 202,
      body=dict(span, policy=policy), save={"REPLAY": "id"})
    w.ctx["REPLAY"] = str(w.ctx["REPLAY"])
    c("a", "post", "/admin/v1/policy/replay", 400,
      body={"policy": policy, "from": span["to"], "to": span["from"]})
    for _ in range(100):
        rep = c("a", "get", "/admin/v1/policy/replay/{id}", 200,
                vals={"id": "REPLAY"})
        if rep.get("status") != "running":
            break
        time.sleep(0.1)
    if rep.get("status") != "done":
        fail("the replay did not finish: %s" % json.dumps(rep)[:300])
    w.ctx["NOREPLAY"] = "1"
    c("a", "get", "/admin/v1/policy/replay/{id}", 404,
      vals={"id": "NOREPLAY"})
    c("a", "get", "/admin/v1/merchants", 200)
    c("a", "get", "/admin/v1/merchants", 200, query="q=shop&status=active&limit=1")
    c("a", "get", "/admin/v1/merchants", 400, query="limit=0")
    c("a", "post", "/admin/v1/merchants", 201,
      body={"id": "oa_shop", "name": "OpenAPI shop", "locale": "en"})
    c("a", "post", "/admin/v1/merchants", 409,
      body={"id": "oa_shop", "name": "OpenAPI shop", "locale": "en"})
    w.ctx["OASHOP"] = "oa_shop"
    c("a", "get", "/admin/v1/merchants/{id}", 200, vals={"id": "OASHOP"})
    c("a", "patch", "/admin/v1/merchants/{id}", 200, vals={"id": "OASHOP"},
      body={"name": "OpenAPI shop 2"})
    c("a", "post", "/admin/v1/merchants/{id}/keys", 200,
      vals={"id": "OASHOP"}, body={})
    c("a", "post", "/admin/v1/merchants/{id}/notify-secret", 200,
      vals={"id": "OASHOP"}, body={})
    notes = c("a", "get", "/admin/v1/notifications", 200)
    c("a", "get", "/admin/v1/orders/attention", 200)
    # reconciliation: the runs and fees, a day asked for, a difference
    # that does not exist (the differences themselves: t_recon.sh)
    c("a", "get", "/admin/v1/reconciliation", 200)
    c("a", "get", "/admin/v1/reconciliation", 400, query="day=yesterday")
    c("a", "post", "/admin/v1/reconciliation/runs", 202,
      body={"channel": ch, "day": "2026-01-01"})
    c("a", "post", "/admin/v1/reconciliation/runs", 404,
      body={"channel": "no_such_channel", "day": "2026-01-01"})
    c("a", "post", "/admin/v1/reconciliation/runs", 400,
      body={"channel": ch, "day": "January"})
    # circuit breakers: every channel's, one forced open and back
    c("a", "get", "/admin/v1/breakers", 200)
    c("a", "get", "/admin/v1/channels/{code}/breaker", 200,
      vals={"code": "CHANNEL"})
    c("a", "get", "/admin/v1/channels/{code}/breaker", 404,
      vals={"code": "NOSUCHCHAN"})
    c("a", "post", "/admin/v1/channels/{code}/breaker", 200,
      vals={"code": "CHANNEL"}, body={"state": "open"})
    c("a", "post", "/admin/v1/channels/{code}/breaker", 200,
      vals={"code": "CHANNEL"}, body={"state": "closed"})
    c("a", "post", "/admin/v1/channels/{code}/breaker", 400,
      vals={"code": "CHANNEL"}, body={"state": "half_open"})
    w.ctx["NODIFF"] = "999999999"
    c("a", "post", "/admin/v1/reconciliation/differences/{id}/resolve", 404,
      vals={"id": "NODIFF"}, body={"note": "openapi walk"})
    c("a", "post", "/admin/v1/reconciliation/differences/{id}/resolve", 400,
      vals={"id": "NODIFF"}, body={})
    # operators (doc/design.md section 11): one made, a token for it used,
    # refused where its role does not reach, revoked
    c("a", "get", "/admin/v1/whoami", 200)
    c("a", "get", "/admin/v1/operators", 200)
    c("a", "post", "/admin/v1/operators", 201,
      body={"name": "oa-viewer", "roles": ["viewer"]}, save={"OPNAME": "name"})
    c("a", "post", "/admin/v1/operators", 409,
      body={"name": "oa-viewer", "roles": ["viewer"]})
    c("a", "post", "/admin/v1/operators", 400,
      body={"name": "oa-bad", "roles": ["root"]})
    c("a", "post", "/admin/v1/operators", 201,
      body={"name": "oa-pw", "roles": ["viewer"],
            "password": "an operator's passphrase"})
    c("a", "post", "/admin/v1/operators", 400,
      body={"name": "oa-pw2", "roles": ["viewer"], "password": "short"})
    c("a", "get", "/admin/v1/operators/{name}", 200, vals={"name": "OPNAME"})
    w.ctx["NOOP"] = "no-such-operator"
    c("a", "get", "/admin/v1/operators/{name}", 404, vals={"name": "NOOP"})
    c("a", "patch", "/admin/v1/operators/{name}", 200, vals={"name": "OPNAME"},
      body={"roles": ["viewer", "operator"]})
    c("a", "patch", "/admin/v1/operators/{name}", 400, vals={"name": "OPNAME"},
      body={"state": "gone"})
    tok = c("a", "post", "/admin/v1/operators/{name}/tokens", 201,
            vals={"name": "OPNAME"}, body={"label": "openapi walk"},
            save={"OPTOKEN": "id"})
    c("a", "post", "/admin/v1/operators/{name}/tokens", 404,
      vals={"name": "NOOP"}, body={"label": "x"})
    c("a", "get", "/admin/v1/operators/{name}/tokens", 200,
      vals={"name": "OPNAME"})
    c("a", "get", "/admin/v1/operators/{name}/tokens", 404,
      vals={"name": "NOOP"})
    # its password, a console session signed in and out with it
    pw = "openapi walk passphrase"
    c("a", "post", "/admin/v1/operators/{name}/password", 400,
      vals={"name": "OPNAME"}, body={"password": "short"})
    c("a", "post", "/admin/v1/operators/{name}/password", 404,
      vals={"name": "NOOP"}, body={"password": pw})
    c("a", "post", "/admin/v1/operators/{name}/password", 200,
      vals={"name": "OPNAME"}, body={"password": pw})
    c("a", "post", "/admin/v1/session", 400, auth=False,
      body={"name": w.ctx["OPNAME"]})
    c("a", "post", "/admin/v1/session", 401, auth=False,
      body={"name": w.ctx["OPNAME"], "password": "not the password"})
    c("a", "post", "/admin/v1/session", 403, auth=False,
      body={"name": w.ctx["OPNAME"], "password": pw},
      headers={"Origin": "http://elsewhere.example"})
    sess = c("a", "post", "/admin/v1/session", 200, auth=False,
             body={"name": w.ctx["OPNAME"], "password": pw})
    cookie = w.last_headers.get("Set-Cookie", "").split(";")[0]
    c("a", "get", "/admin/v1/whoami", 200, auth=False,
      headers={"Cookie": cookie})
    c("a", "delete", "/admin/v1/session", 403, auth=False,
      headers={"Cookie": cookie})
    c("a", "delete", "/admin/v1/session", 200, auth=False,
      headers={"Cookie": cookie, "X-CSRF-Token": sess["csrf_token"]})
    c("a", "delete", "/admin/v1/session", 401, auth=False,
      headers={"Cookie": cookie, "X-CSRF-Token": sess["csrf_token"]})
    c("a", "delete", "/admin/v1/session", 400)
    admin_cred = w.cred["a"]
    w.cred["a"] = tok["token"]
    c("a", "get", "/admin/v1/whoami", 200)
    c("a", "post", "/admin/v1/whoami/password", 400,
      body={"old_password": "not it", "password": "a new walk passphrase"})
    c("a", "post", "/admin/v1/whoami/password", 200,
      body={"old_password": pw, "password": "a new walk passphrase"})
    c("a", "post", "/admin/v1/operators", 403,
      body={"name": "oa-other", "roles": ["admin"]})
    w.cred["a"] = admin_cred
    c("a", "delete", "/admin/v1/operators/{name}/tokens/{id}", 200,
      vals={"name": "OPNAME", "id": "OPTOKEN"})
    c("a", "delete", "/admin/v1/operators/{name}/tokens/{id}", 404,
      vals={"name": "OPNAME", "id": "OPTOKEN"})
    # approvals (four eyes, doc/design.md section 11; approvals.threshold
    # is off here: t_approvals.sh walks the flow, these the answers' shapes)
    c("a", "get", "/admin/v1/approvals", 200, query="state=pending")
    c("a", "get", "/admin/v1/approvals", 400, query="state=maybe")
    w.ctx["NOAPPROVAL"] = "999999999"
    c("a", "get", "/admin/v1/approvals/{id}", 404, vals={"id": "NOAPPROVAL"})
    c("a", "post", "/admin/v1/approvals/{id}/approve", 404,
      vals={"id": "NOAPPROVAL"}, body={})
    c("a", "post", "/admin/v1/approvals/{id}/reject", 400,
      vals={"id": "NOAPPROVAL"}, body={})
    c("a", "post", "/admin/v1/approvals/{id}/reject", 404,
      vals={"id": "NOAPPROVAL"}, body={"reason": "openapi walk"})
    c("a", "get", "/admin/v1/payments", 200, query="merchant=" + mch)
    c("a", "get", "/admin/v1/payments", 400, query="status=paid")
    c("a", "get", "/admin/v1/payments/{id}", 200, vals={"id": "PAID"})
    c("a", "get", "/admin/v1/payments/{id}", 404, vals={"id": "NOSUCH"})
    c("a", "post", "/admin/v1/payments/{id}/settle", 409, vals={"id": "PAID"},
      body={"outcome": "failed", "note": "n", "evidence": "e"})
    c("a", "post", "/admin/v1/payments/{id}/settle", 200,
      vals={"id": "UNKNOWN"},
      body={"outcome": "failed", "note": "openapi walk", "evidence": "s-1"})
    c("a", "get", "/admin/v1/refunds", 200)
    c("a", "get", "/admin/v1/refunds/overdue", 200)
    c("a", "get", "/admin/v1/refunds/{id}", 200, vals={"id": "REFUND"})
    c("a", "post", "/admin/v1/refunds/{id}/resend", 409,
      vals={"id": "REFUND"}, body={})
    c("a", "post", "/admin/v1/refunds/{id}/resolve", 409,
      vals={"id": "REFUND"}, body={"outcome": "buyer_contacted", "note": "n"})
    c("a", "post", "/admin/v1/refunds/{id}/settle", 200,
      vals={"id": "REFUND"},
      body={"outcome": "succeeded", "note": "openapi walk",
            "evidence": "RFD-1"})
    c("a", "get", "/admin/v1/withdrawals", 200)
    c("a", "get", "/admin/v1/withdrawals/{id}", 200, vals={"id": "WD"})
    c("a", "post", "/admin/v1/withdrawals/{id}/settle", 200,
      vals={"id": "WD"},
      body={"outcome": "failed", "note": "openapi walk", "evidence": "t-1"})
    # the closed payment's notification (bounded wait: 10 s)
    for _ in range(100):
        notes = c("a", "get", "/admin/v1/notifications", 200)
        items = [n for n in notes.get("notifications") or []
                 if n.get("state") == "delivered"]
        if items:
            break
        time.sleep(0.1)
    if not items:
        fail("no notification to walk /admin/v1/notifications/{id}: %s" %
             json.dumps(notes)[:300])
    w.ctx["NOTE"] = str(items[0]["id"])
    c("a", "get", "/admin/v1/notifications/{id}", 200, vals={"id": "NOTE"})
    c("a", "post", "/admin/v1/notifications/{id}/retry", 409,
      vals={"id": "NOTE"}, body={})
    # the settled payment's notification, which its URL refuses (404)
    for _ in range(100):
        notes = c("a", "get", "/admin/v1/notifications", 200,
                  query="order_id=" + w.ctx["UNKNOWN"])
        items = [n for n in notes.get("notifications") or []
                 if n.get("attempts", 0) >= 1]
        if items:
            break
        time.sleep(0.1)
    if not items:
        fail("the settled payment's notification was never tried: %s" %
             json.dumps(notes)[:300])
    w.ctx["NOTE"] = str(items[0]["id"])
    c("a", "post", "/admin/v1/notifications/{id}/retry", 200,
      vals={"id": "NOTE"}, body={})
    c("a", "post", "/admin/v1/reload", 200, body={})
    w.ctx["FILE"] = "index.html"
    c("a", "get", "/{file}", 200, vals={"file": "FILE"}, auth=False)
    w.coverage()


def main(argv):
    if len(argv) == 5 and argv[1] == "routes":
        check_routes(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "walk":
        walk(argv[2], argv[3])
    else:
        fail("usage: openapi_check.py routes ADMIN_C MERCHANT_JSON "
             "ADMIN_JSON | walk MERCHANT_JSON ADMIN_JSON")


if __name__ == "__main__":
    main(sys.argv)
