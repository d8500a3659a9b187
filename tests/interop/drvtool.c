/*
 * drvtool.c - runs one operation of a channel driver from the command line,
 * for the interop tests (tests/interop/{alipay,wechat,bank}.test.mjs, where
 * the official SDKs check what our drivers build) and the simulator tests:
 *
 *   drvtool --driver PATH.so --config CONFIG.json OP [--order ORDER.json]
 *           [--send | --response RESP.json] [--inbound INBOUND.json]
 *           [--channel CODE] [--timeout MS] [--verbose]
 *
 * OP is pay, query, close, refund, refund_query, payout, payout_query or
 * notify. The driver file is loaded with libltdl and its descriptor checked
 * with the loader's pr_abi_check() before any other code of it runs; init
 * gets the core's services table (pr_services()) and the CONFIG.json object
 * as its driver config, exactly as payrouted would hand them over.
 *
 * A build operation prints {"rc":0,"request":{"method","url","headers":
 * [[name,value],...],"body"}}. With --send the request goes out through the
 * core's HTTP client (core/runtime/httpc.h) on a private event loop, bounded by
 * --timeout (10 s by default); with --response RESP.json ({"status",
 * "headers":[[k,v]],"body"}) that answer is used instead. Either way the
 * op's parse function turns it into "parse":{"rc","error","code",
 * "sub_code","message","channel_trade_no","status","amount","payer":{...}}.
 * notify reads --inbound INBOUND.json ({"method","path","query","headers",
 * "body"[,"received_at_ms"]}) and prints {"rc","error","notify":{...}}.
 *
 * A build that writes no request (method unset: a payment the payer's
 * browser or app opens, nothing to send) is parsed at once with an empty
 * status-0 response, as the core does, whatever --send / --response say.
 *
 * bill (ABI 1.3) fetches the bill of --day through the driver as payrouted
 * does (core/runtime/billfetch.c: the bill request, its answer, the download into
 * a temporary file) for part 0, 1, ... until the driver has no more, and
 * reads every row with bill_open / bill_next / bill_close: {"rc", "parts":
 * [{"part", "url", "hash_alg", "hash_hex", "rows": [{"kind", "order_id",
 * "refund_id", "channel_trade_no", "amount", "fee", "currency", "status",
 * "effect", "at_ms", "line"}], "count", "error"}]}; rc -ENOENT (-2) when
 * the channel has no bill that day.
 *
 * Exactly one JSON object goes to stdout; logs go to stderr. The top-level
 * "rc" is the result of the last step run (build, send, parse or notify);
 * the exit status is 0 when it is 0, 1 otherwise, 2 on usage errors.
 *
 * The order's card number and payee account are never printed: every
 * occurrence of them (and of their URL-encoded form) in what drvtool prints
 * is replaced by '*' characters.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <ltdl.h>
#include <payroute/driver.h>

#include "domain/drvobj.h"
#include "runtime/httpc.h"
#include "runtime/loader.h"
#include "runtime/log.h"
#include "runtime/services.h"
#include "runtime/billfetch.h"

#define DRVTOOL_MAX_SECRETS 4

enum op_kind { OP_BUILD, OP_NOTIFY, OP_BILL };

struct op_def {
	const char *name;
	enum op_kind kind;
	size_t build_off; /* offsetof the build function in the descriptor */
	size_t parse_off;
};

#define OPDEF(n, b, p)                                                         \
	{                                                                      \
		n, OP_BUILD, offsetof(struct payroute_driver, b),              \
			offsetof(struct payroute_driver, p)                    \
	}

static const struct op_def op_defs[] = {
	OPDEF("pay", build_pay, parse_pay),
	OPDEF("query", build_query, parse_query),
	OPDEF("close", build_close, parse_close),
	OPDEF("refund", build_refund, parse_refund),
	OPDEF("refund_query", build_refund_query, parse_refund_query),
	OPDEF("payout", build_payout, parse_payout),
	OPDEF("payout_query", build_payout_query, parse_payout_query),
	{ "notify", OP_NOTIFY, 0, 0 },
	{ "bill", OP_BILL, 0, 0 },
};

struct opts {
	const char *driver;
	const char *config;
	const char *op;
	const char *order;
	const char *response;
	const char *inbound;
	const char *channel;
	const char *day;
	int send;
	int timeout_ms;
	int verbose;
};

/* Secrets to mask in everything printed (borrowed from the order JSON, or
 * allocated by url_encode). */
static char *secrets[DRVTOOL_MAX_SECRETS];
static size_t n_secrets;

/* A response held by drvtool: from the network or from RESP.json. */
struct held_response {
	int have;
	int ok;
	int sent;
	int status;
	char *error;
	struct payroute_header *headers; /* name/value owned (strdup) */
	size_t n_headers;
	char *body;
	size_t body_len;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: drvtool --driver PATH.so --config CONFIG.json OP\n"
		"               [--order ORDER.json] [--send | --response "
		"RESP.json]\n"
		"               [--inbound INBOUND.json] [--channel CODE] "
		"[--timeout MS] [--verbose]\n"
		"               [--day YYYY-MM-DD]\n"
		"OP: pay query close refund refund_query payout payout_query "
		"notify bill\n");
}

static void add_secret(const char *s)
{
	char *enc;

	if (!s || strlen(s) < 4 || n_secrets + 2 > DRVTOOL_MAX_SECRETS)
		return;
	secrets[n_secrets] = strdup(s);
	if (secrets[n_secrets])
		n_secrets++;
	enc = pr_services()->url_encode(s);
	if (enc && strcmp(enc, s) != 0) {
		secrets[n_secrets] = strdup(enc);
		if (secrets[n_secrets])
			n_secrets++;
	}
	if (enc)
		pr_services()->free(enc);
}

static void free_secrets(void)
{
	for (size_t i = 0; i < n_secrets; i++)
		free(secrets[i]);
	n_secrets = 0;
}

/* Overwrites every occurrence of a secret in buf[0..len) with '*'. */
static void mask(char *buf, size_t len)
{
	for (size_t i = 0; i < n_secrets; i++) {
		size_t sl = strlen(secrets[i]);

		if (sl == 0 || sl > len)
			continue;
		for (size_t p = 0; p + sl <= len; p++)
			if (memcmp(buf + p, secrets[i], sl) == 0) {
				memset(buf + p, '*', sl);
				p += sl - 1;
			}
	}
}

/* A JSON string of s[0..len) with the secrets masked; a string that is not
 * valid UTF-8 (or holds a NUL) comes back as {"base64": "..."}. */
static json_t *jstrn(const char *s, size_t len)
{
	json_t *j;
	char *copy, *b64;

	if (!s)
		return json_null();
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	mask(copy, len);
	j = json_stringn(copy, len);
	if (!j) {
		b64 = pr_services()->base64_encode(copy, len);
		j = json_pack("{s:s}", "base64", b64 ? b64 : "");
		if (b64)
			pr_services()->free(b64);
	}
	free(copy);
	return j;
}

static json_t *jstr(const char *s)
{
	return s ? jstrn(s, strlen(s)) : json_null();
}

static json_t *headers_json(const struct payroute_header *h, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("[o,o]", jstr(h[i].name),
						     jstr(h[i].value)));
	return arr;
}

static json_t *load_json_file(const char *path, const char *what)
{
	json_error_t jerr;
	json_t *j;

	j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		fprintf(stderr, "drvtool: %s %s: %s (line %d)\n", what, path,
			jerr.text, jerr.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		fprintf(stderr, "drvtool: %s %s: expected a JSON object\n",
			what, path);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Borrows a string member (NULL when missing or null); -EINVAL when it is
 * there with another type. */
static int get_str(json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		fprintf(stderr, "drvtool: \"%s\": expected a string\n", key);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

static int get_int(json_t *obj, const char *key, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		fprintf(stderr, "drvtool: \"%s\": expected an integer\n", key);
		return -EINVAL;
	}
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* Fills the order from ORDER.json; the strings stay borrowed from j. */
static int order_from_json(json_t *j, struct payroute_order *o)
{
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
#define S(f) { #f, offsetof(struct payroute_order, f) }
		S(order_id),	    S(channel_trade_no), S(method),
		S(environment),	    S(product_code),	 S(subject),
		S(buyer_id),	    S(card_no),		 S(auth_code),
		S(bank_code),	    S(notify_url),	 S(client_ip),
		S(refund_id),	    S(reason),		 S(payout_id),
		S(payee_kind),	    S(payee_account),	 S(payee_name),
		S(payee_bank_code),
#undef S
	};
	static const struct {
		const char *key;
		size_t off;
	} ints[] = {
#define I(f) { #f, offsetof(struct payroute_order, f) }
		I(amount),	  I(created_at_ms), I(expire_at_ms),
		I(refund_amount), I(total_amount),
#undef I
	};
	const char *cur = NULL;
	int rc;

	memset(o, 0, sizeof(*o));
	o->size = (uint32_t)sizeof(*o);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		rc = get_str(j, strs[i].key,
			     (const char **)(void *)((char *)o + strs[i].off));
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		rc = get_int(j, ints[i].key,
			     (int64_t *)(void *)((char *)o + ints[i].off));
		if (rc < 0)
			return rc;
	}
	rc = get_str(j, "currency", &cur);
	if (rc < 0)
		return rc;
	if (cur && strlen(cur) != 3) {
		fprintf(stderr, "drvtool: \"currency\": expected 3 letters\n");
		return -EINVAL;
	}
	snprintf(o->currency, sizeof(o->currency), "%s", cur ? cur : "CNY");
	add_secret(o->card_no);
	add_secret(o->auth_code);
	add_secret(o->payee_account);
	return 0;
}

static void held_response_clear(struct held_response *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		free((char *)r->headers[i].name);
		free((char *)r->headers[i].value);
	}
	free(r->headers);
	free(r->body);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

static int held_set_headers(struct held_response *r,
			    const struct payroute_header *h, size_t n)
{
	r->headers = calloc(n ? n : 1, sizeof(*r->headers));
	if (!r->headers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r->headers[i].name = strdup(h[i].name ? h[i].name : "");
		r->headers[i].value = strdup(h[i].value ? h[i].value : "");
		r->n_headers = i + 1;
		if (!r->headers[i].name || !r->headers[i].value)
			return -ENOMEM;
	}
	return 0;
}

static int held_set_body(struct held_response *r, const char *b, size_t len)
{
	r->body = malloc(len + 1);
	if (!r->body)
		return -ENOMEM;
	if (len)
		memcpy(r->body, b, len);
	r->body[len] = '\0';
	r->body_len = len;
	return 0;
}

/* Reads [[name,value],...] into a header array (strings borrowed from j). */
static int headers_from_json(json_t *j, const char *what,
			     struct payroute_header **out, size_t *n)
{
	size_t i, cnt;

	*out = NULL;
	*n = 0;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_array(j))
		goto bad;
	cnt = json_array_size(j);
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		json_t *pair = json_array_get(j, i);

		if (!json_is_array(pair) || json_array_size(pair) != 2 ||
		    !json_is_string(json_array_get(pair, 0)) ||
		    !json_is_string(json_array_get(pair, 1)))
			goto bad;
		(*out)[i].name = json_string_value(json_array_get(pair, 0));
		(*out)[i].value = json_string_value(json_array_get(pair, 1));
	}
	*n = cnt;
	return 0;
bad:
	free(*out);
	*out = NULL;
	fprintf(stderr,
		"drvtool: %s: \"headers\": expected [[name, value], ...]\n",
		what);
	return -EINVAL;
}

static int response_from_file(const char *path, struct held_response *r)
{
	struct payroute_header *h = NULL;
	const char *body = NULL;
	json_t *j, *st;
	size_t n = 0;
	int rc;

	j = load_json_file(path, "response");
	if (!j)
		return -EINVAL;
	st = json_object_get(j, "status");
	if (!json_is_integer(st)) {
		fprintf(stderr, "drvtool: response: \"status\": expected an "
				"integer\n");
		rc = -EINVAL;
		goto out;
	}
	rc = get_str(j, "body", &body);
	if (rc < 0)
		goto out;
	rc = headers_from_json(json_object_get(j, "headers"), "response", &h,
			       &n);
	if (rc < 0)
		goto out;
	r->have = 1;
	r->ok = 1;
	r->sent = 1;
	r->status = (int)json_integer_value(st);
	rc = held_set_headers(r, h, n);
	if (rc == 0)
		rc = held_set_body(
			r, body ? body : "",
			body ? json_string_length(json_object_get(j, "body")) :
			       0);
out:
	free(h);
	json_decref(j);
	return rc;
}

/* --send: one request on a private loop. */
struct send_ctx {
	struct event_base *base;
	struct held_response *r;
	int done;
	int rc;
};

static void send_cb(const struct pr_httpc_result *res, void *arg)
{
	struct send_ctx *c = arg;
	struct held_response *r = c->r;

	c->done = 1;
	r->have = 1;
	r->ok = res->ok;
	r->sent = res->sent;
	r->status = res->status;
	if (res->error)
		r->error = strdup(res->error);
	if (held_set_headers(r, res->headers, res->n_headers) < 0 ||
	    held_set_body(r, res->body ? res->body : "",
			  res->body ? res->body_len : 0) < 0)
		c->rc = -ENOMEM;
	event_base_loopbreak(c->base);
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct send_ctx *c = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(c->base);
}

static int send_request(const struct payroute_http_req *req, int timeout_ms,
			struct held_response *r)
{
	struct pr_httpc_opts ho = { 0 };
	struct send_ctx c = { 0 };
	struct pr_httpc *hc = NULL;
	struct event *guard = NULL;
	struct timeval tv;
	int rc;

	c.r = r;
	c.base = event_base_new();
	if (!c.base)
		return -ENOMEM;
	ho.timeout_ms = timeout_ms;
	ho.connect_timeout_ms = timeout_ms;
	ho.verify_tls = 1;
	ho.max_connections = 4;
	hc = pr_httpc_new(c.base, &ho);
	if (!hc) {
		rc = -ENOMEM;
		goto out;
	}
	rc = pr_httpc_send(hc, req, send_cb, &c);
	if (rc < 0)
		goto out;
	/* The client enforces the timeout; this guard only bounds the loop
	 * should the client misbehave. */
	guard = evtimer_new(c.base, guard_cb, &c);
	if (!guard) {
		rc = -ENOMEM;
		goto out;
	}
	tv.tv_sec = timeout_ms / 1000 + 2;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(guard, &tv);
	event_base_dispatch(c.base);
	if (!c.done) {
		rc = -ETIMEDOUT;
		goto out;
	}
	rc = c.rc;
	if (rc == 0 && !r->ok)
		rc = -EIO;
out:
	if (guard)
		event_free(guard);
	if (hc)
		pr_httpc_free(hc); /* calls send_cb for a pending request */
	event_base_free(c.base);
	return rc;
}

static const struct payroute_driver *load_driver(const char *path,
						 lt_dlhandle *hout)
{
	const struct payroute_driver *desc;
	payroute_driver_entry_fn entry;
	lt_dladvise advise = NULL;
	lt_dlhandle h = NULL;
	char err[256];

	*hout = NULL;
	if (lt_dladvise_init(&advise) == 0 && lt_dladvise_local(&advise) == 0)
		h = lt_dlopenadvise(path, advise);
	lt_dladvise_destroy(&advise);
	if (!h) {
		fprintf(stderr, "drvtool: cannot load %s: %s\n", path,
			lt_dlerror());
		return NULL;
	}
	entry = (payroute_driver_entry_fn)(uintptr_t)lt_dlsym(
		h, PAYROUTE_DRIVER_SYMBOL);
	if (!entry) {
		fprintf(stderr, "drvtool: %s: no %s symbol\n", path,
			PAYROUTE_DRIVER_SYMBOL);
		lt_dlclose(h);
		return NULL;
	}
	desc = entry();
	if (pr_abi_check(desc, err, sizeof(err)) < 0) {
		fprintf(stderr, "drvtool: %s refused: %s\n", path, err);
		lt_dlclose(h);
		return NULL;
	}
	*hout = h;
	return desc;
}

static const char *kind_name(enum payroute_order_kind k)
{
	switch (k) {
	case PAYROUTE_KIND_PAYMENT:
		return "payment";
	case PAYROUTE_KIND_REFUND:
		return "refund";
	case PAYROUTE_KIND_PAYOUT:
		return "payout";
	}
	return NULL;
}

static json_t *notify_json(const struct payroute_notify *n)
{
	const char *k = kind_name(n->kind);

	return json_pack(
		"{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:i,s:o,s:i,s:o,s:o}",
		"kind", k ? json_string(k) : json_integer((json_int_t)n->kind),
		"order_id", jstr(n->order_id), "refund_id", jstr(n->refund_id),
		"channel_trade_no", jstr(n->channel_trade_no), "code",
		jstr(n->code), "sub_code", jstr(n->sub_code), "status",
		jstr(n->status), "message", jstr(n->message), "amount",
		(json_int_t)n->amount, "reply_ok_status", n->reply_ok_status,
		"reply_ok_body", jstr(n->reply_ok_body), "reply_fail_status",
		n->reply_fail_status, "reply_fail_body",
		jstr(n->reply_fail_body), "reply_content_type",
		jstr(n->reply_content_type));
}

static int run_notify(const struct payroute_driver *d, void *state,
		      const struct opts *o, json_t *out)
{
	struct payroute_notify n;
	struct payroute_inbound in;
	struct payroute_header *h = NULL;
	json_t *j = NULL;
	char err[512] = "";
	const char *s;
	size_t nh = 0;
	int64_t recv_ms;
	int rc;

	if (!o->inbound) {
		fprintf(stderr, "drvtool: notify needs --inbound\n");
		return -EINVAL;
	}
	j = load_json_file(o->inbound, "inbound");
	if (!j)
		return -EINVAL;
	memset(&in, 0, sizeof(in));
	in.size = (uint32_t)sizeof(in);
	if ((rc = get_str(j, "method", &in.method)) < 0 ||
	    (rc = get_str(j, "path", &in.path)) < 0 ||
	    (rc = get_str(j, "query", &in.query)) < 0 ||
	    (rc = get_str(j, "body", &s)) < 0)
		goto out;
	in.body = s ? s : "";
	in.body_len = s ? json_string_length(json_object_get(j, "body")) : 0;
	if (!in.method)
		in.method = "POST";
	if (!in.path)
		in.path = "/notify/drvtool";
	rc = headers_from_json(json_object_get(j, "headers"), "inbound", &h,
			       &nh);
	if (rc < 0)
		goto out;
	in.headers = h;
	in.n_headers = nh;
	recv_ms = pr_services()->now_ms();
	if ((rc = get_int(j, "received_at_ms", &recv_ms)) < 0)
		goto out;
	in.received_at_ms = recv_ms;

	if (!d->parse_notify) {
		rc = -ENOTSUP;
		snprintf(err, sizeof(err), "driver %s has no parse_notify",
			 d->name);
		goto done;
	}
	memset(&n, 0, sizeof(n));
	n.size = (uint32_t)sizeof(n);
	n.amount = -1;
	rc = d->parse_notify(state, &in, &n, err, sizeof(err));
	json_object_set_new(out, "notify", notify_json(&n));
done:
	json_object_set_new(out, "rc", json_integer(rc));
	if (rc != 0)
		json_object_set_new(out, "error",
				    jstr(*err ? err : strerror(-rc)));
out:
	free(h);
	json_decref(j);
	return rc;
}

static json_t *request_json(const struct payroute_http_req *req)
{
	json_t *hdrs = json_array();

	for (size_t i = 0; hdrs && i < req->n_headers; i++)
		json_array_append_new(
			hdrs, json_pack("[o,o]", jstr(req->headers[i].name),
					jstr(req->headers[i].value)));
	return json_pack("{s:o,s:o,s:o,s:o}", "method", jstr(req->method),
			 "url", jstr(req->url), "headers", hdrs, "body",
			 req->body ?
				 jstrn((const char *)req->body, req->body_len) :
				 json_string(""));
}

static json_t *result_json(int rc, const char *err,
			   const struct payroute_result *res,
			   const struct payroute_kv *payer)
{
	json_t *p = json_object();
	json_t *j;

	for (size_t i = 0; p && i < payer->n; i++)
		json_object_set_new(p, payer->items[i].name,
				    jstr(payer->items[i].value));
	j = json_pack("{s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o}", "rc", rc,
		      "error",
		      rc != 0 ? jstr(*err ? err : strerror(-rc)) : json_null(),
		      "code", jstr(res->code), "sub_code", jstr(res->sub_code),
		      "message", jstr(res->message), "channel_trade_no",
		      jstr(res->channel_trade_no), "status", jstr(res->status),
		      "amount", (json_int_t)res->amount, "payer", p);
	return j;
}

static int run_build(const struct payroute_driver *d, void *state,
		     const struct op_def *op, const struct opts *o,
		     const struct payroute_order *order, json_t *out)
{
	payroute_build_fn build;
	payroute_parse_fn parse;
	struct payroute_http_req req;
	struct held_response r = { 0 };
	struct payroute_http_response resp;
	struct payroute_result res;
	struct payroute_kv payer;
	char err[512] = "";
	int rc;

	pr_http_req_init(&req);
	pr_kv_init(&payer);
	memcpy(&build, (const char *)d + op->build_off, sizeof(build));
	memcpy(&parse, (const char *)d + op->parse_off, sizeof(parse));

	if (!build) {
		rc = -ENOTSUP;
		snprintf(err, sizeof(err), "driver %s does not support %s",
			 d->name, op->name);
		goto done;
	}
	rc = build(state, order, &req, err, sizeof(err));
	if (rc != 0)
		goto done;
	json_object_set_new(out, "request", request_json(&req));
	if (!req.method) {
		/* No request: nothing to send (a payment the payer's browser or
		 * app opens). Like the core, parse at once with an empty
		 * status-0 response; it returns the payer payload. */
		r.have = 1;
		rc = held_set_body(&r, "", 0);
		if (rc < 0)
			goto done;
	} else if (!o->send && !o->response) {
		goto done;
	} else if (o->response) {
		rc = response_from_file(o->response, &r);
		if (rc < 0) {
			snprintf(err, sizeof(err), "cannot read --response %s",
				 o->response);
			goto done;
		}
	} else {
		rc = send_request(&req, o->timeout_ms, &r);
		if (r.have)
			json_object_set_new(
				out, "response",
				json_pack("{s:i,s:b,s:b,s:o,s:o,s:o}", "status",
					  r.status, "ok", r.ok, "sent", r.sent,
					  "error", jstr(r.error), "headers",
					  headers_json(r.headers, r.n_headers),
					  "body", jstrn(r.body, r.body_len)));
		if (rc < 0) {
			snprintf(err, sizeof(err), "send failed: %s",
				 r.error ? r.error : strerror(-rc));
			goto done;
		}
	}
	if (!parse) {
		rc = -ENOTSUP;
		snprintf(err, sizeof(err), "driver %s cannot parse %s", d->name,
			 op->name);
		goto done;
	}
	memset(&resp, 0, sizeof(resp));
	resp.size = (uint32_t)sizeof(resp);
	resp.status = r.status;
	resp.headers = r.headers;
	resp.n_headers = r.n_headers;
	resp.body = r.body;
	resp.body_len = r.body_len;
	memset(&res, 0, sizeof(res));
	res.size = (uint32_t)sizeof(res);
	res.amount = -1;
	res.payer = &payer;
	rc = parse(state, order, &resp, &res, err, sizeof(err));
	json_object_set_new(out, "parse", result_json(rc, err, &res, &payer));
done:
	json_object_set_new(out, "rc", json_integer(rc));
	if (rc != 0)
		json_object_set_new(out, "error",
				    jstr(*err ? err : strerror(-rc)));
	held_response_clear(&r);
	pr_kv_clear(&payer);
	pr_http_req_clear(&req);
	return rc;
}

/* ---------------------------------------------------------- bills */

struct bill_ctx {
	struct event_base *base;
	int done, rc, fd;
	struct payroute_bill_file file;
	char err[512];
};

static void bill_cb(int rc, int fd, const struct payroute_bill_file *file,
		    const char *err, void *arg)
{
	struct bill_ctx *c = arg;

	c->done = 1;
	c->rc = rc;
	c->fd = fd;
	if (file)
		c->file = *file;
	snprintf(c->err, sizeof(c->err), "%s", err ? err : "");
	event_base_loopbreak(c->base);
}

static json_t *row_json(const struct payroute_bill_row *r)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:i,s:I,s:I}",
			 "kind", kind_name(r->kind), "order_id", r->order_id,
			 "refund_id", r->refund_id, "channel_trade_no",
			 r->channel_trade_no, "amount", (json_int_t)r->amount,
			 "fee", (json_int_t)r->fee, "currency", r->currency,
			 "status", r->status, "effect", (int)r->effect, "at_ms",
			 (json_int_t)r->at_ms, "line", (json_int_t)r->line);
}

/* Reads the rows of a downloaded part into part. */
static int read_rows(const struct payroute_driver *d, void *state,
		     const struct payroute_bill_req *breq,
		     const struct payroute_bill_file *file, int fd,
		     json_t *part)
{
	json_t *rows = json_array();
	struct payroute_bill_row row;
	char err[512] = "";
	void *cur = NULL;
	json_int_t n = 0;
	int rc;

	rc = d->bill_open(state, breq, file, fd, &cur, err, sizeof(err));
	while (rc == 0) {
		memset(&row, 0, sizeof(row));
		row.size = sizeof(row);
		rc = d->bill_next(cur, &row, err, sizeof(err));
		if (rc == 1) {
			json_array_append_new(rows, row_json(&row));
			n++;
			rc = 0;
		} else {
			break;
		}
	}
	if (cur)
		d->bill_close(cur);
	json_object_set_new(part, "rows", rows);
	json_object_set_new(part, "count", json_integer(n));
	if (rc < 0)
		json_object_set_new(part, "error", jstr(err));
	return rc;
}

static int run_bill(const struct payroute_driver *d, void *state,
		    const struct opts *o, json_t *out)
{
	struct pr_httpc_opts ho = { 0 };
	struct pr_billfetch_req r = { 0 };
	struct payroute_bill_req breq = { sizeof(breq), 0, o->day };
	json_t *parts = json_array();
	struct pr_httpc *hc;
	struct bill_ctx c;
	int rc = 0;

	if (!o->day || !PAYROUTE_HAS_BILLS(d)) {
		json_object_set_new(out, "error",
				    jstr(o->day ? "the driver has no bills" :
						  "bill needs --day"));
		json_decref(parts);
		return -EINVAL;
	}
	memset(&c, 0, sizeof(c));
	c.base = event_base_new();
	ho.timeout_ms = o->timeout_ms;
	ho.connect_timeout_ms = o->timeout_ms;
	ho.verify_tls = 1;
	ho.max_connections = 4;
	hc = c.base ? pr_httpc_new(c.base, &ho) : NULL;
	if (!hc) {
		rc = -ENOMEM;
		goto out;
	}
	r.base = c.base;
	r.httpc = hc;
	r.drv = d;
	r.state = state;
	r.channel = o->channel;
	r.day = o->day;
	for (unsigned part = 0; part < 16; part++) {
		json_t *pj;

		r.part = part;
		c.done = 0;
		c.fd = -1;
		rc = pr_billfetch_start(&r, bill_cb, &c);
		if (rc < 0)
			break;
		event_base_dispatch(c.base);
		rc = c.done ? c.rc : -ETIMEDOUT;
		if (rc == -ENODATA) {
			rc = 0;
			break;
		}
		pj = json_pack("{s:i}", "part", (int)part);
		json_array_append_new(parts, pj);
		if (rc < 0) {
			json_object_set_new(pj, "error", jstr(c.err));
			break;
		}
		json_object_set_new(pj, "url", jstr(c.file.url));
		json_object_set_new(pj, "hash_alg", jstr(c.file.hash_alg));
		json_object_set_new(pj, "hash_hex", jstr(c.file.hash_hex));
		breq.part = part;
		rc = read_rows(d, state, &breq, &c.file, c.fd, pj);
		close(c.fd);
		if (rc < 0)
			break;
	}
out:
	json_object_set_new(out, "parts", parts);
	if (hc)
		pr_httpc_free(hc);
	if (c.base)
		event_base_free(c.base);
	return rc;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 10000;
	o->channel = "drvtool";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (strcmp(a, "--send") == 0) {
			o->send = 1;
			continue;
		}
		if (strcmp(a, "--verbose") == 0) {
			o->verbose = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--driver") == 0)
			slot = &o->driver;
		else if (strcmp(a, "--config") == 0)
			slot = &o->config;
		else if (strcmp(a, "--order") == 0)
			slot = &o->order;
		else if (strcmp(a, "--response") == 0)
			slot = &o->response;
		else if (strcmp(a, "--inbound") == 0)
			slot = &o->inbound;
		else if (strcmp(a, "--channel") == 0)
			slot = &o->channel;
		else if (strcmp(a, "--day") == 0)
			slot = &o->day;
		if (slot) {
			if (i + 1 >= argc) {
				fprintf(stderr, "drvtool: %s needs a value\n",
					a);
				return -EINVAL;
			}
			*slot = argv[++i];
			continue;
		}
		if (strcmp(a, "--timeout") == 0) {
			char *end;
			long v;

			if (i + 1 >= argc)
				return -EINVAL;
			v = strtol(argv[++i], &end, 10);
			if (*end || v <= 0 || v > 600000) {
				fprintf(stderr, "drvtool: bad --timeout\n");
				return -EINVAL;
			}
			o->timeout_ms = (int)v;
			continue;
		}
		if (a[0] == '-' || o->op) {
			fprintf(stderr, "drvtool: unexpected argument %s\n", a);
			return -EINVAL;
		}
		o->op = a;
	}
	if (!o->driver || !o->config || !o->op) {
		fprintf(stderr, "drvtool: --driver, --config and OP are "
				"required\n");
		return -EINVAL;
	}
	if (o->send && o->response) {
		fprintf(stderr, "drvtool: --send and --response exclude each "
				"other\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct payroute_driver *d = NULL;
	const struct op_def *op = NULL;
	struct payroute_order order;
	struct payroute_conf conf;
	struct opts o;
	json_t *cfg = NULL, *ord = NULL, *out = NULL;
	lt_dlhandle h = NULL;
	void *state = NULL;
	char err[512] = "";
	int rc, status = 2;

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(op_defs) / sizeof(op_defs[0]); i++)
		if (strcmp(op_defs[i].name, o.op) == 0)
			op = &op_defs[i];
	if (!op) {
		fprintf(stderr, "drvtool: unknown operation %s\n", o.op);
		usage(stderr);
		return 2;
	}
	pr_log_set_level(o.verbose ? PAYROUTE_LOG_DEBUG : PAYROUTE_LOG_WARN);

	cfg = load_json_file(o.config, "config");
	if (!cfg)
		goto out;
	memset(&order, 0, sizeof(order));
	order.size = (uint32_t)sizeof(order);
	snprintf(order.currency, sizeof(order.currency), "CNY");
	if (o.order) {
		ord = load_json_file(o.order, "order");
		if (!ord || order_from_json(ord, &order) < 0)
			goto out;
	}
	if (pr_loader_init() < 0)
		goto out;
	d = load_driver(o.driver, &h);
	if (!d)
		goto out_ltdl;

	out = json_object();
	if (!out)
		goto out_close;
	conf.root = cfg;
	rc = d->init(pr_services(), o.channel, &conf, &state, err, sizeof(err));
	if (rc != 0) {
		json_object_set_new(out, "rc", json_integer(rc));
		json_object_set_new(out, "error",
				    jstr(*err ? err : strerror(-rc)));
		json_object_set_new(out, "stage", json_string("init"));
		state = NULL;
	} else if (op->kind == OP_BILL) {
		rc = run_bill(d, state, &o, out);
		json_object_set_new(out, "rc", json_integer(rc));
	} else if (op->kind == OP_NOTIFY) {
		rc = run_notify(d, state, &o, out);
		if (rc == -EINVAL && !json_object_get(out, "rc"))
			goto out_fini; /* usage: no --inbound / bad file */
	} else {
		rc = run_build(d, state, op, &o, &order, out);
	}
	json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	fflush(stdout);
	status = rc == 0 ? 0 : 1;
out_fini:
	if (state && d->fini)
		d->fini(state);
out_close:
	json_decref(out);
	lt_dlclose(h);
out_ltdl:
	pr_loader_exit();
out:
	json_decref(ord);
	json_decref(cfg);
	free_secrets();
	return status;
}
