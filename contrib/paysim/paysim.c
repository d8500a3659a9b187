/*
 * paysim.c - the channel simulator's front: options and config, the HTTP
 * server (libevent evhttp, loopback only), routing to the three protocol
 * modules, the control API (/_sim/...), the merchant-notification sinks
 * (a stand-in for merchants' notify_url), delayed and held answers, timers,
 * and the notification sender (core/runtime/httpc.h, libcurl multi on the same
 * loop, with retries).
 *
 *   paysim --config FILE [--port N] [--sign-threads N] [--verbose]
 *
 * With --port 0 (the default) the kernel picks a port; either way the
 * simulator prints "paysim listening on 127.0.0.1:PORT" on stdout once it
 * accepts connections. The RSA signatures of answers and notifications are
 * computed on --sign-threads threads (default: one per online CPU; 0: on
 * the loop), see sim_sign.c; GET /_sim/stats counts them.
 *
 * Config (JSON; keys are PEM text or "@/path"; a section may be left out):
 *   {"alipay": {"platform_private_key", "apps": [{"app_id",
 *               "app_public_key", "app_cert_sn"}],
 *               "platform_cert_sn", "root_cert_sn"},
 *               (an app with app_cert_sn is in public-key certificate
 *               mode: its app_public_key may be its certificate; the
 *               platform's and the root bundle's SNs are then required:
 *               see sim_alipay.c)
 *    "wechat": {"platform_private_key", "platform_serial",
 *               "merchants": [{"mchid", "serial_no", "public_key",
 *                              "apiv3_key"}]},
 *    "bank":   {"platform_private_key", "platform_cert_id",
 *               "merchants": [{"mer_id", "cert_id", "public_key"}]},
 *    "notify_delay_ms": 50,  the payer pays / refunds finish after this
 *    "auto_pay": true,       the payer pays every order by itself
 *    "notify_attempts": 4}   deliveries of a notification not acknowledged
 *
 * Control API (JSON answers):
 *   POST /_sim/script {"order": OUT_TRADE_NO | "*", "rate": 0..1 (for "*"),
 *        "faults": {...} | null}  - see sim.h struct sim_fault; "timeout"
 *        does the work and never answers (the outcome is unknown to the
 *        caller, as with a real lost answer); "http_status" and "code"
 *        answer at once and change nothing; "pay", "callback", "refund"
 *        shape what happens next. Scripts match the merchant's order
 *        number (out_trade_no, out_biz_no, out_batch_no, out_bill_no,
 *        orderId) or, for refunds, the refund number (then the order's).
 *        faults: {"delay_ms": N, "timeout": true, "http_status": N,
 *        "code": C, "sub_code": S, "pay": "success" | "fail" | "never",
 *        "callback": "drop" | "duplicate" | "delay:MS" | "bad_signature" |
 *        "out_of_order" | "out_of_order:MS" | "stale" | "no_amount" |
 *        "wrong_amount",
 *        "refund": "processing" | "account_closed"}. out_of_order holds
 *        the notification back (MS, default max(10 x notify_delay_ms,
 *        500 ms)) so that later ones overtake it; a refund scripted with
 *        {} (no faults) keeps its own notification on time while its
 *        payment's is held. stale (WeChat Pay) signs the notification
 *        with a timestamp 10 minutes old; no_amount (Alipay) leaves
 *        total_amount out of it; wrong_amount (Alipay) says 0.01 more
 *        was paid than the order's amount (each signed as sent).
 *   POST /_sim/pay {"channel", "out_trade_no", ["result": "fail"]}
 *   POST /_sim/bill_script {"channel", ...}  the faults of a channel's
 *        daily bills: see sim_bill.c. The bills themselves are asked for
 *        as each channel does (alipay.data.dataservice.bill.downloadurl.
 *        query, GET /wechat/v3/bill/tradebill, the bank's
 *        fileTransRequest.do) and downloaded from /alipay/billfile,
 *        /wechat/v3/billdownload/file (signed) and
 *        /bank/gateway/api/billfile with ?token=.
 *   GET /_sim/ledger, GET /_sim/stats (cheap)
 *   POST /_sim/reset  empties the ledger, the scripts and the sinks.
 *
 * Merchant-notification sinks (a stand-in for merchants' notify_url):
 *   POST /_sim/sink/NAME  (NAME: 1-64 of [A-Za-z0-9_.-]; any body)
 *        records the delivery and answers 200 {"ok":true}, or what the
 *        sink's script says.
 *   POST /_sim/sink_script {"name": NAME, "fail": N, "status": 500,
 *        "delay_ms": 0}  the next N deliveries to NAME answer `status`
 *        (0: never answer, to test timeouts; 200 with delay_ms: slow but
 *        fine) after delay_ms; "fail": 0 removes the script.
 *   GET /_sim/sink/NAME  {"name", "received": [{"at_ms",
 *        "status_answered" (0: none), "headers": {"Content-Type": ...,
 *        "Payroute-...": ...} (every request header, names in canonical
 *        case, repeats joined by ", "), "body" (or null and "body_base64"
 *        when not UTF-8; "body_truncated" and "body_len" past 64 KiB)}],
 *        "count", "total", "dropped", "script"}, oldest first; an unknown
 *        NAME reads as empty.
 *   GET /_sim/sink  {"sinks": [{"name", "count", "total", "dropped"}],
 *        "bytes", "refused"}
 *   Bounded: 256 sinks (a delivery to a new name past that gets 503),
 *   1000 records per sink and 64 MiB in all (the oldest records of the
 *   sink are dropped and counted in "dropped").
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "runtime/crypto.h"
#include "runtime/httpc.h"
#include "runtime/log.h"
#include "runtime/services.h"
#include "sim.h"

#define SIM_MAX_BODY (1024 * 1024)

/* ------------------------------------------------------------------------ */
/* Small helpers shared by the modules                                      */
/* ------------------------------------------------------------------------ */

void sim_out_set(struct sim_out *o, int status, const char *ctype,
		 char *body_owned)
{
	free(o->ctype);
	free(o->body);
	o->status = status;
	o->ctype = ctype ? strdup(ctype) : NULL;
	o->body = body_owned;
	o->body_len = body_owned ? strlen(body_owned) : 0;
}

void sim_out_header(struct sim_out *o, const char *name, const char *value)
{
	if (o->n_headers >= SIM_MAX_OUT_HEADERS)
		return;
	o->hname[o->n_headers] = strdup(name);
	o->hval[o->n_headers] = strdup(value);
	o->n_headers++;
}

void sim_out_clear(struct sim_out *o)
{
	free(o->ctype);
	free(o->body);
	for (int i = 0; i < o->n_headers; i++) {
		free(o->hname[i]);
		free(o->hval[i]);
	}
	sim_sig_clear(&o->sig);
	memset(o, 0, sizeof(*o));
}

/* Puts sig where the markers are in a string of ours: 0 or -ENOMEM. */
static int splice_str(char **text, size_t *len, const char *sig)
{
	size_t n = len ? *len : strlen(*text);
	char *v;

	if (!*text ||
	    (!memmem(*text, n, SIM_SIG_MARK, sizeof(SIM_SIG_MARK) - 1) &&
	     !memmem(*text, n, SIM_SIG_MARK_URL, sizeof(SIM_SIG_MARK_URL) - 1)))
		return 0;
	v = sim_sig_splice(*text, n, sig, &n);
	if (!v)
		return -ENOMEM;
	free(*text);
	*text = v;
	if (len)
		*len = n;
	return 0;
}

int64_t sim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void beijing_tm(int64_t ms, struct tm *tm)
{
	time_t t = (time_t)(ms / 1000) + 8 * 3600;

	gmtime_r(&t, tm);
}

void sim_time_alipay(int64_t ms, char *buf, size_t len)
{
	struct tm tm;

	beijing_tm(ms, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

void sim_time_rfc3339(int64_t ms, char *buf, size_t len)
{
	struct tm tm;

	beijing_tm(ms, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
}

void sim_time_compact(int64_t ms, char *buf, size_t len)
{
	struct tm tm;

	beijing_tm(ms, &tm);
	strftime(buf, len, "%Y%m%d%H%M%S", &tm);
}

void sim_new_id(struct sim *s, const char *prefix, char *buf, size_t len)
{
	char day[16];

	sim_time_compact(sim_now_ms(), day, sizeof(day));
	day[8] = '\0';
	s->seq++;
	snprintf(buf, len, "%s%s%010llu", prefix, day,
		 (unsigned long long)s->seq);
}

void sim_random_str(char *buf, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[64];

	if (n > sizeof(r))
		n = sizeof(r);
	if (pr_random_bytes(r, n) != 0)
		memset(r, 7, n);
	for (size_t i = 0; i < n; i++)
		buf[i] = al[r[i] % (sizeof(al) - 1)];
	buf[n] = '\0';
}

int64_t sim_parse_yuan(const char *s)
{
	int64_t v = 0;
	int frac = -1;

	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (frac >= 0 || p == s)
				return -1;
			frac = 0;
			continue;
		}
		if (*p < '0' || *p > '9' || v > INT64_MAX / 100)
			return -1;
		if (frac >= 0 && ++frac > 2)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (frac == 0)
		return -1;
	for (int i = frac < 0 ? 0 : frac; i < 2; i++)
		v *= 10;
	return v;
}

void sim_fmt_yuan(int64_t cents, char *buf, size_t len)
{
	snprintf(buf, len, "%lld.%02lld", (long long)(cents / 100),
		 (long long)(cents % 100));
}

/* ------------------------------------------------------------------------ */
/* Forms                                                                    */
/* ------------------------------------------------------------------------ */

int sim_form_add(struct sim_form *f, const char *k, const char *v)
{
	struct sim_kv *n = realloc(f->kv, (f->n + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	f->kv = n;
	n[f->n].k = strdup(k);
	n[f->n].v = strdup(v ? v : "");
	if (!n[f->n].k || !n[f->n].v) {
		free(n[f->n].k);
		free(n[f->n].v);
		return -ENOMEM;
	}
	f->n++;
	return 0;
}

int sim_form_parse(struct sim_form *f, const char *text, size_t len)
{
	char *copy, *p, *end;
	int rc = 0;

	if (!text || !len)
		return 0;
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	p = copy;
	end = copy + strlen(copy);
	while (p < end && rc == 0) {
		char *amp = strchr(p, '&'), *eq, *k, *v;

		if (amp)
			*amp = '\0';
		if (*p) {
			eq = strchr(p, '=');
			if (eq)
				*eq = '\0';
			k = pr_url_decode(p);
			v = pr_url_decode(eq ? eq + 1 : "");
			if (!k || !v || !*k)
				rc = -EINVAL;
			else
				rc = sim_form_add(f, k, v);
			free(k);
			free(v);
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	free(copy);
	return rc;
}

const char *sim_form_get(const struct sim_form *f, const char *k)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->kv[i].k, k) == 0)
			return f->kv[i].v;
	return NULL;
}

void sim_form_free(struct sim_form *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->kv[i].k);
		free(f->kv[i].v);
	}
	free(f->kv);
	f->kv = NULL;
	f->n = 0;
}

static int kv_cmp(const void *a, const void *b)
{
	const struct sim_kv *x = *(const struct sim_kv *const *)a;
	const struct sim_kv *y = *(const struct sim_kv *const *)b;

	return strcmp(x->k, y->k);
}

static int skipped(const char *k, const char *const *skip)
{
	for (; skip && *skip; skip++)
		if (strcmp(k, *skip) == 0)
			return 1;
	return 0;
}

char *sim_form_sign_string(const struct sim_form *f, const char *const *skip)
{
	const struct sim_kv **v = calloc(f->n + 1, sizeof(*v));
	struct evbuffer *b = evbuffer_new();
	size_t n = 0, len;
	char *out = NULL;

	if (!v || !b)
		goto out;
	for (size_t i = 0; i < f->n; i++)
		if (*f->kv[i].v && !skipped(f->kv[i].k, skip))
			v[n++] = &f->kv[i];
	qsort(v, n, sizeof(*v), kv_cmp);
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(b, "%s%s=%s", i ? "&" : "", v[i]->k,
				    v[i]->v);
	len = evbuffer_get_length(b);
	out = malloc(len + 1);
	if (out) {
		evbuffer_remove(b, out, len);
		out[len] = '\0';
	}
out:
	free(v);
	if (b)
		evbuffer_free(b);
	return out;
}

char *sim_form_serialize(const struct sim_form *f, int encode)
{
	struct evbuffer *b = evbuffer_new();
	char *out = NULL;
	size_t len;

	if (!b)
		return NULL;
	for (size_t i = 0; i < f->n; i++) {
		char *v = encode ? pr_url_encode(f->kv[i].v) : NULL;

		evbuffer_add_printf(b, "%s%s=%s", i ? "&" : "", f->kv[i].k,
				    encode ? (v ? v : "") : f->kv[i].v);
		free(v);
	}
	len = evbuffer_get_length(b);
	out = malloc(len + 1);
	if (out) {
		evbuffer_remove(b, out, len);
		out[len] = '\0';
	}
	evbuffer_free(b);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                   */
/* ------------------------------------------------------------------------ */

struct sim_timer {
	struct sim *s;
	struct event *ev;
	void (*fn)(struct sim *, void *);
	void *arg;
	void (*free_arg)(void *);
	struct sim_timer *prev, *next;
};

static void timer_unlink(struct sim_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		t->s->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct sim_timer *t = arg;

	(void)fd;
	(void)what;
	timer_unlink(t);
	t->fn(t->s, t->arg);
	if (t->free_arg)
		t->free_arg(t->arg);
	event_free(t->ev);
	free(t);
}

void sim_timer_add(struct sim *s, int ms, void (*fn)(struct sim *, void *),
		   void *arg, void (*free_arg)(void *))
{
	struct sim_timer *t = calloc(1, sizeof(*t));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (!t)
		goto fail;
	t->ev = evtimer_new(s->base, timer_fire, t);
	if (!t->ev) {
		free(t);
		goto fail;
	}
	t->s = s;
	t->fn = fn;
	t->arg = arg;
	t->free_arg = free_arg;
	t->next = s->timers;
	if (s->timers)
		s->timers->prev = t;
	s->timers = t;
	evtimer_add(t->ev, &tv);
	return;
fail:
	pr_err("paysim: out of memory for a timer");
	if (free_arg)
		free_arg(arg);
}

void sim_timers_cancel(struct sim *s)
{
	while (s->timers) {
		struct sim_timer *t = s->timers;

		timer_unlink(t);
		if (t->free_arg)
			t->free_arg(t->arg);
		event_free(t->ev);
		free(t);
	}
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

struct notice {
	struct sim *s;
	struct payroute_http_req req;
	char *ack_body;
	char kind;
	enum sim_chan chan;
	char key[96];
	int attempt;
	int delay_ms; /* before the first attempt */
	struct event *ev;
};

static void notice_free(struct notice *n)
{
	pr_http_req_clear(&n->req);
	free(n->ack_body);
	if (n->ev)
		event_free(n->ev);
	free(n);
}

static void notice_go(struct notice *n);

static void notice_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notice_go(arg);
}

static void notice_schedule(struct notice *n, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (!n->ev)
		n->ev = evtimer_new(n->s->base, notice_retry_cb, n);
	if (!n->ev) {
		notice_free(n);
		return;
	}
	evtimer_add(n->ev, &tv);
}

static int body_is(const char *body, size_t len, const char *want)
{
	size_t wl = strlen(want);

	while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' ||
		       body[len - 1] == ' '))
		len--;
	while (len && (*body == ' ' || *body == '\n' || *body == '\r')) {
		body++;
		len--;
	}
	return len == wl && memcmp(body, want, wl) == 0;
}

static void notice_done(const struct pr_httpc_result *res, void *arg)
{
	struct notice *n = arg;
	int ok = res->ok && res->status >= 200 && res->status < 300;

	if (ok && n->ack_body)
		ok = body_is(res->body ? res->body : "", res->body_len,
			     n->ack_body);
	sim_ledger_notified(n->s, n->kind, n->chan, n->key, ok);
	pr_debug("paysim: notify %s attempt %d: %s (%d)", n->req.url,
		 n->attempt, ok ? "acknowledged" : "not acknowledged",
		 res->status);
	if (ok || n->attempt >= n->s->max_notify_attempts) {
		notice_free(n);
		return;
	}
	/* 250 ms, 500 ms, 1 s, ... (real channels back off over hours). */
	notice_schedule(n, 250 << (n->attempt - 1 > 6 ? 6 : n->attempt - 1));
}

static void notice_go(struct notice *n)
{
	n->attempt++;
	if (pr_httpc_send(n->s->httpc, &n->req, notice_done, n) != 0) {
		pr_warn("paysim: cannot send a notification to %s", n->req.url);
		notice_free(n);
	}
}

static int req_copy(struct payroute_http_req *dst,
		    const struct payroute_http_req *src)
{
	const struct payroute_services *svc = pr_services();
	int rc;

	pr_http_req_init(dst);
	rc = svc->http_set(dst, src->method, src->url);
	for (size_t i = 0; rc == 0 && i < src->n_headers; i++)
		rc = svc->http_header(dst, src->headers[i].name,
				      src->headers[i].value);
	if (rc == 0 && src->body)
		rc = svc->http_body(dst, src->body, src->body_len);
	if (rc == 0)
		rc = svc->http_timeout(dst, 5000);
	return rc;
}

static void notice_start(struct notice *n)
{
	if (n->delay_ms > 0)
		notice_schedule(n, n->delay_ms);
	else
		notice_go(n);
}

static void notice_signed(struct sim *s, const char *sig, void *arg)
{
	struct notice *n = arg;
	struct payroute_http_req *r = &n->req;
	int rc = sig ? 0 : -EINVAL;

	(void)s;
	if (rc == 0)
		rc = splice_str((char **)&r->body, &r->body_len, sig);
	for (size_t i = 0; rc == 0 && i < r->n_headers; i++)
		rc = splice_str(&r->headers[i].value, NULL, sig);
	if (rc != 0) {
		pr_warn("paysim: cannot sign the notification for %s", n->key);
		notice_free(n);
		return;
	}
	notice_start(n);
}

void sim_notify_send(struct sim *s, const struct payroute_http_req *req,
		     const struct sim_sig *sig, const char *ack_body, char kind,
		     enum sim_chan chan, const char *key, int delay_ms)
{
	struct notice *n = calloc(1, sizeof(*n));

	if (!n)
		return;
	n->s = s;
	n->kind = kind;
	n->chan = chan;
	snprintf(n->key, sizeof(n->key), "%s", key);
	if (req_copy(&n->req, req) != 0 ||
	    (ack_body && !(n->ack_body = strdup(ack_body)))) {
		pr_warn("paysim: bad notification request for %s", key);
		notice_free(n);
		return;
	}
	n->delay_ms = delay_ms;
	if (!sig || !sig->msg) {
		notice_start(n);
	} else if (sim_signer_submit(s, sig, notice_signed, n) != 0) {
		pr_warn("paysim: cannot queue the signature of the "
			"notification for %s",
			key);
		notice_free(n);
	}
}

/* ------------------------------------------------------------------------ */
/* Sending answers (now, later or never)                                    */
/* ------------------------------------------------------------------------ */

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Status";
	}
}

static void send_now(struct evhttp_request *req, struct sim_out *o)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	if (o->ctype)
		evhttp_add_header(h, "Content-Type", o->ctype);
	evhttp_add_header(h, "Server", "paysim");
	for (int i = 0; i < o->n_headers; i++)
		evhttp_add_header(h, o->hname[i], o->hval[i]);
	if (b && o->body_len)
		evbuffer_add(b, o->body, o->body_len);
	evhttp_send_reply(req, o->status ? o->status : 500,
			  reason_of(o->status), b);
	if (b)
		evbuffer_free(b);
}

struct delayed {
	struct evhttp_request *req; /* NULL once the client went away */
	struct evhttp_connection *con;
	struct sim_out out;
};

static void delayed_closed(struct evhttp_connection *con, void *arg)
{
	struct delayed *d = arg;

	(void)con;
	d->req = NULL;
	d->con = NULL;
}

static void delayed_fire(struct sim *s, void *arg)
{
	struct delayed *d = arg;

	(void)s;
	if (d->req) {
		evhttp_connection_set_closecb(d->con, NULL, NULL);
		send_now(d->req, &d->out);
		d->req = NULL;
	}
}

static void delayed_free(void *arg)
{
	struct delayed *d = arg;

	if (d->req) /* cancelled by a reset: answer now */
		delayed_fire(NULL, d);
	sim_out_clear(&d->out);
	free(d);
}

/* Takes o (left empty) into a held answer for req that notices the
 * client going away; NULL (o untouched) when out of memory. */
static struct delayed *hold(struct evhttp_request *req, struct sim_out *o)
{
	struct delayed *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->req = req;
	d->con = evhttp_request_get_connection(req);
	d->out = *o;
	memset(o, 0, sizeof(*o));
	if (d->con)
		evhttp_connection_set_closecb(d->con, delayed_closed, d);
	return d;
}

/* Sends o now or after its scripted delay. */
static void send_or_delay(struct sim *s, struct evhttp_request *req,
			  struct sim_out *o)
{
	struct delayed *d = o->fault.delay_ms > 0 ? hold(req, o) : NULL;

	if (!d) {
		send_now(req, o);
		sim_out_clear(o);
		return;
	}
	sim_timer_add(s, d->out.fault.delay_ms, delayed_fire, d, delayed_free);
}

/* An answer waiting for its signature (struct delayed's shape: req is
 * NULL once the client went away). */
static void answer_signed(struct sim *s, const char *sig, void *arg)
{
	struct delayed *d = arg;
	struct sim_out *o = &d->out;
	int rc = sig ? 0 : -EINVAL;

	if (d->con)
		evhttp_connection_set_closecb(d->con, NULL, NULL);
	if (!d->req)
		goto out;
	if (rc == 0)
		rc = splice_str(&o->body, &o->body_len, sig);
	for (int i = 0; rc == 0 && i < o->n_headers; i++)
		rc = splice_str(&o->hval[i], NULL, sig);
	if (rc != 0) {
		pr_warn("paysim: cannot sign the answer to %s",
			evhttp_request_get_uri(d->req));
		sim_out_clear(o);
		sim_out_set(o, 500, "text/plain", strdup("sign failed\n"));
	}
	sim_sig_clear(&o->sig);
	send_or_delay(s, d->req, o);
out:
	sim_out_clear(o);
	free(d);
}

static void finish(struct sim *s, struct evhttp_request *req, struct sim_out *o)
{
	struct delayed *d;

	if (o->fault.timeout) {
		/* Hold the request: evhttp frees it when the client closes. */
		pr_debug("paysim: holding %s (scripted timeout)",
			 evhttp_request_get_uri(req));
		sim_out_clear(o);
		return;
	}
	if (!o->sig.msg) {
		send_or_delay(s, req, o);
		return;
	}
	d = hold(req, o);
	if (d && sim_signer_submit(s, &d->out.sig, answer_signed, d) == 0)
		return;
	if (d) {
		if (d->con)
			evhttp_connection_set_closecb(d->con, NULL, NULL);
		sim_out_clear(&d->out);
		free(d);
	}
	sim_out_clear(o);
	sim_out_set(o, 500, "text/plain", strdup("sign failed\n"));
	send_now(req, o);
	sim_out_clear(o);
}

/* ------------------------------------------------------------------------ */
/* JSON answers                                                             */
/* ------------------------------------------------------------------------ */

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void json_out(struct sim_out *o, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	sim_out_set(o, status, "application/json", text);
}

static void ctl_error(struct sim_out *o, int status, const char *msg)
{
	json_out(o, status, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

/* ------------------------------------------------------------------------ */
/* Merchant-notification sinks                                              */
/* ------------------------------------------------------------------------ */

/* A sink stands in for a merchant's notify_url: every POST to
 * /_sim/sink/NAME is recorded (time, the status answered, headers, body)
 * and answered 200 {"ok":true}, or as its script says. Memory is bounded:
 * at most SINK_MAX sinks, SINK_MAX_RECORDS records per sink (the oldest
 * is dropped and counted), SINK_BODY_MAX bytes of each body (the rest is
 * cut and flagged), SINK_HEADERS_MAX bytes of each record's headers, and
 * SINK_TOTAL_MAX bytes over all records (a delivery past it drops its own
 * sink's oldest records first). */
#define SINK_MAX 256
#define SINK_MAX_RECORDS 1000
#define SINK_BODY_MAX (64 * 1024)
#define SINK_HEADERS_MAX (16 * 1024)
#define SINK_TOTAL_MAX ((size_t)64 * 1024 * 1024)
#define SINK_NAME_MAX 64

struct sink_rec {
	int64_t at_ms;
	int status;	 /* answered, or to be answered; 0: none */
	json_t *headers; /* {"Canonical-Name": "value"} */
	char *body;	 /* malloc'd, up to SINK_BODY_MAX bytes */
	size_t body_len, orig_len;
	size_t bytes; /* what it counts against the limits */
};

struct sim_sink {
	char name[SINK_NAME_MAX + 1];
	struct sink_rec *recs; /* a ring of cap, oldest at head */
	size_t head, n, cap;
	uint64_t total, dropped;
	/* script: the next fail_left deliveries answer fail_status (0: no
	 * answer) after delay_ms */
	int fail_left, fail_status, delay_ms;
};

static void sink_rec_clear(struct sink_rec *r)
{
	json_decref(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void sink_drop_oldest(struct sim *s, struct sim_sink *k)
{
	struct sink_rec *r = &k->recs[k->head];

	s->sink_bytes -= r->bytes;
	sink_rec_clear(r);
	k->head = (k->head + 1) % k->cap;
	k->n--;
	k->dropped++;
}

static void sink_free(void *arg)
{
	struct sim_sink *k = arg;

	for (size_t i = 0; i < k->n; i++)
		sink_rec_clear(&k->recs[(k->head + i) % k->cap]);
	free(k->recs);
	free(k);
}

static void sinks_clear(struct sim *s)
{
	sim_map_clear(&s->sinks, sink_free);
	s->sink_bytes = 0;
	s->sink_refused = 0;
}

static int sink_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SINK_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return 0;
	}
	return 1;
}

/* The sink called name, created when `create`; NULL when missing (or
 * past SINK_MAX, or out of memory). */
static struct sim_sink *sink_get(struct sim *s, const char *name, int create)
{
	struct sim_sink *k = sim_map_get(&s->sinks, name);

	if (k || !create || s->sinks.n >= SINK_MAX)
		return k;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	snprintf(k->name, sizeof(k->name), "%s", name);
	if (sim_map_put(&s->sinks, name, k) != 0) {
		free(k);
		return NULL;
	}
	return k;
}

/* "content-TYPE" -> "Content-Type". */
static void canonical_header(const char *in, char *out, size_t len)
{
	size_t i;
	int up = 1;

	for (i = 0; in[i] && i + 1 < len; i++) {
		char c = in[i];

		if (up && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!up && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] = c;
		up = c == '-';
	}
	out[i] = '\0';
}

/* Every request header, canonically named; repeated ones joined by ", ".
 * Stops at SINK_HEADERS_MAX bytes; *bytes gets what was kept. */
static json_t *sink_headers(struct evhttp_request *req, size_t *bytes)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	json_t *j = json_object();
	char name[128];

	*bytes = 0;
	if (!j || !h)
		return j;
	for (kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
		const char *old;
		size_t add = strlen(kv->key) + strlen(kv->value);

		if (*bytes + add > SINK_HEADERS_MAX)
			break;
		canonical_header(kv->key, name, sizeof(name));
		old = json_string_value(json_object_get(j, name));
		if (old) {
			size_t l = strlen(old) + strlen(kv->value) + 3;
			char *v = malloc(l);

			if (!v)
				continue;
			snprintf(v, l, "%s, %s", old, kv->value);
			json_object_set_new(j, name, json_string(v));
			free(v);
		} else {
			json_object_set_new(j, name, json_string(kv->value));
		}
		*bytes += add;
	}
	return j;
}

/* POST /_sim/sink/NAME: record the delivery and answer it. */
static void sink_deliver(struct sim *s, const struct sim_req *rq,
			 const char *name, struct sim_out *o)
{
	struct sim_sink *k;
	struct sink_rec r = { 0 };
	size_t hbytes;
	int status = 200;

	if (!sink_name_ok(name)) {
		ctl_error(o, 400,
			  "a sink name is 1-64 letters, digits, '_', '-', "
			  "'.'");
		return;
	}
	k = sink_get(s, name, 1);
	if (!k) {
		s->sink_refused++;
		ctl_error(o, 503, "too many sinks (reset the simulator)");
		return;
	}
	if (!k->recs) {
		k->recs = calloc(SINK_MAX_RECORDS, sizeof(*k->recs));
		if (!k->recs) {
			ctl_error(o, 500, "out of memory");
			return;
		}
		k->cap = SINK_MAX_RECORDS;
	}
	if (k->fail_left > 0) {
		k->fail_left--;
		status = k->fail_status;
		o->fault.delay_ms = k->delay_ms;
		o->fault.timeout = status == 0;
	}
	r.at_ms = sim_now_ms();
	r.status = status;
	r.headers = sink_headers(rq->ev, &hbytes);
	r.orig_len = rq->body_len;
	r.body_len = rq->body_len > SINK_BODY_MAX ? SINK_BODY_MAX :
						    rq->body_len;
	r.body = malloc(r.body_len + 1);
	if (!r.headers || !r.body) {
		sink_rec_clear(&r);
		ctl_error(o, 500, "out of memory");
		return;
	}
	memcpy(r.body, rq->body, r.body_len);
	r.body[r.body_len] = '\0';
	r.bytes = sizeof(r) + hbytes + r.body_len;
	while (k->n > 0 &&
	       (k->n == k->cap || s->sink_bytes + r.bytes > SINK_TOTAL_MAX))
		sink_drop_oldest(s, k);
	k->recs[(k->head + k->n) % k->cap] = r;
	k->n++;
	k->total++;
	s->sink_bytes += r.bytes;
	if (status == 200)
		json_out(o, 200, json_pack("{s:b}", "ok", 1));
	else if (status)
		json_out(o, status,
			 json_pack("{s:b,s:s}", "ok", 0, "error",
				   "scripted failure (/_sim/sink_script)"));
	else
		sim_out_set(o, 500, NULL, NULL); /* held: never sent */
}

static json_t *sink_json(const struct sim_sink *k, const char *name)
{
	json_t *recs = json_array();

	for (size_t i = 0; k && i < k->n; i++) {
		const struct sink_rec *r = &k->recs[(k->head + i) % k->cap];
		json_t *j, *body = json_stringn(r->body, r->body_len);

		j = json_pack("{s:I,s:i,s:O}", "at_ms", (json_int_t)r->at_ms,
			      "status_answered", r->status, "headers",
			      r->headers);
		if (!j) {
			json_decref(body);
			continue;
		}
		if (body) {
			json_object_set_new(j, "body", body);
		} else {
			/* not UTF-8 */
			char *b64 = pr_base64_encode(r->body, r->body_len);

			json_object_set_new(j, "body", json_null());
			json_object_set_new(j, "body_base64",
					    b64 ? json_string(b64) :
						  json_null());
			free(b64);
		}
		if (r->orig_len > r->body_len) {
			json_object_set_new(j, "body_truncated", json_true());
			json_object_set_new(
				j, "body_len",
				json_integer((json_int_t)r->orig_len));
		}
		json_array_append_new(recs, j);
	}
	return json_pack("{s:s,s:o,s:I,s:I,s:I,s:{s:i,s:i,s:i}}", "name", name,
			 "received", recs, "count", (json_int_t)(k ? k->n : 0),
			 "total", (json_int_t)(k ? k->total : 0), "dropped",
			 (json_int_t)(k ? k->dropped : 0), "script", "fail",
			 k ? k->fail_left : 0, "status", k ? k->fail_status : 0,
			 "delay_ms", k ? k->delay_ms : 0);
}

static void sink_list_one(const char *key, void *val, void *arg)
{
	const struct sim_sink *k = val;

	(void)key;
	json_array_append_new(
		arg, json_pack("{s:s,s:I,s:I,s:I}", "name", k->name, "count",
			       (json_int_t)k->n, "total", (json_int_t)k->total,
			       "dropped", (json_int_t)k->dropped));
}

/* GET /_sim/sink: every sink, without its records (in no order). */
static json_t *sinks_json(struct sim *s)
{
	json_t *arr = json_array();

	sim_map_foreach(&s->sinks, sink_list_one, arr);
	return json_pack("{s:o,s:I,s:I}", "sinks", arr, "bytes",
			 (json_int_t)s->sink_bytes, "refused",
			 (json_int_t)s->sink_refused);
}

/* POST /_sim/sink_script {"name", "fail": N, "status": 500,
 * "delay_ms": 0}. */
static int sink_script(struct sim *s, json_t *j, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	json_t *fail = json_object_get(j, "fail");
	json_t *status = json_object_get(j, "status");
	json_t *delay = json_object_get(j, "delay_ms");
	struct sim_sink *k;
	const char *key;
	json_t *v;

	json_object_foreach(j, key, v) {
		if (strcmp(key, "name") != 0 && strcmp(key, "fail") != 0 &&
		    strcmp(key, "status") != 0 &&
		    strcmp(key, "delay_ms") != 0) {
			snprintf(err, errlen, "unknown key %s", key);
			return -EINVAL;
		}
	}
	if (!name || !sink_name_ok(name)) {
		snprintf(err, errlen,
			 "name: 1-64 letters, digits, '_', '-', '.'");
		return -EINVAL;
	}
	if (!json_is_integer(fail) || json_integer_value(fail) < 0 ||
	    json_integer_value(fail) > 1000000) {
		snprintf(err, errlen, "fail: an integer within 0..1000000");
		return -EINVAL;
	}
	if (status && (!json_is_integer(status) ||
		       (json_integer_value(status) != 0 &&
			(json_integer_value(status) < 100 ||
			 json_integer_value(status) > 599)))) {
		snprintf(err, errlen,
			 "status: 0 (no answer) or an HTTP status");
		return -EINVAL;
	}
	if (delay &&
	    (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
	     json_integer_value(delay) > 600000)) {
		snprintf(err, errlen, "delay_ms: an integer within 0..600000");
		return -EINVAL;
	}
	k = sink_get(s, name, 1);
	if (!k) {
		snprintf(err, errlen, "too many sinks (reset the simulator)");
		return -ENOSPC;
	}
	k->fail_left = (int)json_integer_value(fail);
	k->fail_status = status ? (int)json_integer_value(status) : 500;
	k->delay_ms = delay ? (int)json_integer_value(delay) : 0;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Control API                                                              */
/* ------------------------------------------------------------------------ */

static void control(struct sim *s, const struct sim_req *rq, struct sim_out *o)
{
	int post = strcmp(rq->method, "POST") == 0;
	json_t *j = NULL;
	json_error_t je;
	char err[256];

	if (has_prefix(rq->path, "/_sim/sink/")) {
		/* any body: a merchant notification */
		if (post)
			sink_deliver(s, rq, rq->path + strlen("/_sim/sink/"),
				     o);
		else if (strcmp(rq->method, "GET") == 0)
			json_out(o, 200,
				 sink_json(sim_map_get(&s->sinks,
						       rq->path +
							       strlen("/_sim/"
								      "sink/")),
					   rq->path + strlen("/_sim/sink/")));
		return;
	}
	if (!post && strcmp(rq->path, "/_sim/sink") == 0) {
		json_out(o, 200, sinks_json(s));
		return;
	}
	if (post && strcmp(rq->path, "/_sim/reset") != 0) {
		j = json_loadb(rq->body, rq->body_len, 0, &je);
		if (!json_is_object(j)) {
			json_decref(j);
			ctl_error(o, 400, "the body must be a JSON object");
			return;
		}
	}
	if (!post && strcmp(rq->path, "/_sim/ledger") == 0) {
		json_out(o, 200, sim_ledger_json(s));
	} else if (!post && (strcmp(rq->path, "/_sim/stats") == 0 ||
			     strcmp(rq->path, "/_sim/health") == 0)) {
		json_out(o, 200, sim_stats_json(s));
	} else if (post && strcmp(rq->path, "/_sim/reset") == 0) {
		sim_ledger_reset(s);
		sim_bill_reset(s);
		sinks_clear(s);
		json_out(o, 200, json_pack("{s:b}", "ok", 1));
	} else if (post && strcmp(rq->path, "/_sim/sink_script") == 0) {
		if (sink_script(s, j, err, sizeof(err)) != 0)
			ctl_error(o, 400, err);
		else
			json_out(o, 200, json_pack("{s:b}", "ok", 1));
	} else if (post && strcmp(rq->path, "/_sim/bill_script") == 0) {
		if (sim_bill_script_set(s, j, err, sizeof(err)) != 0)
			ctl_error(o, 400, err);
		else
			json_out(o, 200, json_pack("{s:b}", "ok", 1));
	} else if (post && strcmp(rq->path, "/_sim/script") == 0) {
		if (sim_script_set(s, j, err, sizeof(err)) != 0)
			ctl_error(o, 400, err);
		else
			json_out(o, 200, json_pack("{s:b}", "ok", 1));
	} else if (post && strcmp(rq->path, "/_sim/pay") == 0) {
		const char *ch =
			json_string_value(json_object_get(j, "channel"));
		const char *no =
			json_string_value(json_object_get(j, "out_trade_no"));
		const char *res =
			json_string_value(json_object_get(j, "result"));
		int c = ch ? sim_chan_parse(ch) : -1;
		struct sim_order *ord;

		if (c < 0 || !no) {
			ctl_error(o, 400,
				  "channel (alipay, wechat, bank) and "
				  "out_trade_no are required");
		} else if (!(ord = sim_order_find(s, (enum sim_chan)c, no))) {
			ctl_error(o, 404, "no such order");
		} else if (sim_order_settle(s, ord,
					    !res || strcmp(res, "fail")) != 0) {
			json_out(o, 409,
				 json_pack("{s:b,s:s,s:s}", "ok", 0, "error",
					   "the order is not pending", "state",
					   sim_state_name(ord->state)));
		} else {
			json_out(o, 200,
				 json_pack("{s:b,s:s,s:s}", "ok", 1, "state",
					   sim_state_name(ord->state),
					   "trade_no", ord->trade_no));
		}
	} else {
		ctl_error(o, 404, "unknown control path");
	}
	json_decref(j);
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                  */
/* ------------------------------------------------------------------------ */

static void on_request(struct evhttp_request *req, void *arg)
{
	struct sim *s = arg;
	struct sim_req rq = { .ev = req };
	struct sim_out out = { 0 };
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *q;
	char *path = NULL, *body = NULL;
	size_t blen = evbuffer_get_length(in);

	s->requests++;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		rq.method = "GET";
		break;
	case EVHTTP_REQ_POST:
		rq.method = "POST";
		break;
	default:
		rq.method = "OTHER";
		break;
	}
	rq.uri = evhttp_request_get_uri(req);
	q = strchr(rq.uri, '?');
	path = q ? strndup(rq.uri, (size_t)(q - rq.uri)) : strdup(rq.uri);
	body = malloc(blen + 1);
	if (!path || !body) {
		sim_out_set(&out, 500, "text/plain", strdup("out of memory"));
		goto send;
	}
	if (blen)
		evbuffer_copyout(in, body, blen);
	body[blen] = '\0';
	rq.path = path;
	rq.query = q ? q + 1 : NULL;
	rq.body = body;
	rq.body_len = blen;
	rq.host = evhttp_find_header(evhttp_request_get_input_headers(req),
				     "Host");
	if (!rq.host || !*rq.host || strpbrk(rq.host, "/\\\"'<> "))
		rq.host = "127.0.0.1";

	if (strcmp(rq.method, "OTHER") == 0)
		sim_out_set(&out, 405, "text/plain",
			    strdup("method not allowed\n"));
	else if (has_prefix(path, "/_sim/"))
		control(s, &rq, &out);
	else if (strcmp(path, "/alipay/gateway.do") == 0)
		sim_alipay_handle(s, &rq, &out);
	else if (strcmp(rq.method, "GET") == 0 &&
		 (strcmp(path, "/alipay/billfile") == 0 ||
		  strcmp(path, "/bank/gateway/api/billfile") == 0))
		sim_bill_serve(s, &rq, &out);
	else if (has_prefix(path, "/wechat/v3/"))
		sim_wechat_handle(s, &rq, &out);
	else if (has_prefix(path, "/bank/gateway/api/"))
		sim_bank_handle(s, &rq, &out);
	else
		sim_out_set(&out, 404, "text/plain", strdup("not found\n"));
send:
	free(path);
	free(body);
	finish(s, req, &out);
}

/* ------------------------------------------------------------------------ */
/* Config                                                                   */
/* ------------------------------------------------------------------------ */

static int load_key(json_t *obj, const char *name, int priv, payroute_key **out,
		    const char *where)
{
	const char *v = json_string_value(json_object_get(obj, name));
	char err[256];

	if (!v) {
		fprintf(stderr, "paysim: %s.%s is required\n", where, name);
		return -EINVAL;
	}
	if (pr_key_load(v, priv, out, err, sizeof(err)) != 0) {
		fprintf(stderr, "paysim: %s.%s: %s\n", where, name, err);
		return -EINVAL;
	}
	return 0;
}

static int copy_str(json_t *obj, const char *name, char *buf, size_t len,
		    const char *where)
{
	const char *v = json_string_value(json_object_get(obj, name));

	if (!v || !*v || strlen(v) >= len) {
		fprintf(stderr, "paysim: %s.%s: a string is required\n", where,
			name);
		return -EINVAL;
	}
	snprintf(buf, len, "%s", v);
	return 0;
}

static int load_config(struct sim *s, const char *file)
{
	json_error_t je;
	json_t *root = json_load_file(file, 0, &je), *sec, *arr, *it;
	size_t i;
	int rc = -EINVAL;

	if (!json_is_object(root)) {
		fprintf(stderr, "paysim: %s:%d: %s\n", file, je.line,
			root ? "not a JSON object" : je.text);
		goto out;
	}
	s->notify_delay_ms = 50;
	s->auto_pay = 1;
	s->max_notify_attempts = 4;
	if ((it = json_object_get(root, "notify_delay_ms")))
		s->notify_delay_ms = (int)json_integer_value(it);
	if ((it = json_object_get(root, "auto_pay")))
		s->auto_pay = json_is_true(it);
	if ((it = json_object_get(root, "notify_attempts")))
		s->max_notify_attempts = (int)json_integer_value(it);
	if (s->notify_delay_ms < 0 || s->max_notify_attempts < 1) {
		fprintf(stderr, "paysim: bad notify_delay_ms/attempts\n");
		goto out;
	}

	if ((sec = json_object_get(root, "alipay"))) {
		if (load_key(sec, "platform_private_key", 1, &s->alipay_key,
			     "alipay"))
			goto out;
		arr = json_object_get(sec, "apps");
		s->apps = calloc(json_array_size(arr) + 1, sizeof(*s->apps));
		if (!s->apps)
			goto out;
		json_array_foreach(arr, i, it) {
			struct sim_alipay_app *a = &s->apps[s->n_apps++];

			if (copy_str(it, "app_id", a->app_id, sizeof(a->app_id),
				     "alipay.apps[]") ||
			    load_key(it, "app_public_key", 0, &a->pub,
				     "alipay.apps[]"))
				goto out;
			if (json_object_get(it, "app_cert_sn") &&
			    copy_str(it, "app_cert_sn", a->app_cert_sn,
				     sizeof(a->app_cert_sn), "alipay.apps[]"))
				goto out;
			if (a->app_cert_sn[0] &&
			    (copy_str(sec, "platform_cert_sn",
				      s->alipay_cert_sn,
				      sizeof(s->alipay_cert_sn), "alipay") ||
			     copy_str(sec, "root_cert_sn",
				      s->alipay_root_cert_sn,
				      sizeof(s->alipay_root_cert_sn),
				      "alipay")))
				goto out;
		}
	}
	if ((sec = json_object_get(root, "wechat"))) {
		if (load_key(sec, "platform_private_key", 1, &s->wechat_key,
			     "wechat") ||
		    copy_str(sec, "platform_serial", s->wechat_serial,
			     sizeof(s->wechat_serial), "wechat"))
			goto out;
		arr = json_object_get(sec, "merchants");
		s->mchs = calloc(json_array_size(arr) + 1, sizeof(*s->mchs));
		if (!s->mchs)
			goto out;
		json_array_foreach(arr, i, it) {
			struct sim_wechat_mch *m = &s->mchs[s->n_mchs++];
			char k[64];

			if (copy_str(it, "mchid", m->mchid, sizeof(m->mchid),
				     "wechat.merchants[]") ||
			    copy_str(it, "serial_no", m->serial_no,
				     sizeof(m->serial_no),
				     "wechat.merchants[]") ||
			    load_key(it, "public_key", 0, &m->pub,
				     "wechat.merchants[]") ||
			    copy_str(it, "apiv3_key", k, sizeof(k),
				     "wechat.merchants[]"))
				goto out;
			if (strlen(k) != 32) {
				fprintf(stderr, "paysim: apiv3_key must have "
						"32 characters\n");
				goto out;
			}
			memcpy(m->apiv3_key, k, 32);
		}
	}
	if ((sec = json_object_get(root, "bank"))) {
		if (load_key(sec, "platform_private_key", 1, &s->bank_key,
			     "bank"))
			goto out;
		snprintf(s->bank_cert_id, sizeof(s->bank_cert_id), "%s",
			 json_string_value(
				 json_object_get(sec, "platform_cert_id")) ?
				 json_string_value(json_object_get(
					 sec, "platform_cert_id")) :
				 "0");
		arr = json_object_get(sec, "merchants");
		s->mers = calloc(json_array_size(arr) + 1, sizeof(*s->mers));
		if (!s->mers)
			goto out;
		json_array_foreach(arr, i, it) {
			struct sim_bank_mer *m = &s->mers[s->n_mers++];

			if (copy_str(it, "mer_id", m->mer_id, sizeof(m->mer_id),
				     "bank.merchants[]") ||
			    copy_str(it, "cert_id", m->cert_id,
				     sizeof(m->cert_id), "bank.merchants[]") ||
			    load_key(it, "public_key", 0, &m->pub,
				     "bank.merchants[]"))
				goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static void free_config(struct sim *s)
{
	pr_key_free(s->alipay_key);
	pr_key_free(s->wechat_key);
	pr_key_free(s->bank_key);
	for (size_t i = 0; i < s->n_apps; i++)
		pr_key_free(s->apps[i].pub);
	for (size_t i = 0; i < s->n_mchs; i++)
		pr_key_free(s->mchs[i].pub);
	for (size_t i = 0; i < s->n_mers; i++)
		pr_key_free(s->mers[i].pub);
	free(s->apps);
	free(s->mchs);
	free(s->mers);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                     */
/* ------------------------------------------------------------------------ */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: paysim --config FILE [--port N] [--sign-threads N] "
		"[--verbose]\n"
		"  Simulates Alipay (/alipay/gateway.do), WeChat Pay v3\n"
		"  (/wechat/v3/...) and a UnionPay gateway (/bank/gateway/api/"
		"...)\n"
		"  on 127.0.0.1. Control API: POST /_sim/script, POST "
		"/_sim/pay,\n"
		"  GET /_sim/ledger, GET /_sim/stats, POST /_sim/reset;\n"
		"  merchant-notification sinks: POST|GET /_sim/sink/NAME,\n"
		"  POST /_sim/sink_script, GET /_sim/sink.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "sign-threads", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim s = { 0 };
	const char *config = NULL;
	long port = 0, threads = sysconf(_SC_NPROCESSORS_ONLN);
	int c, rc = 1;
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct event *sigint = NULL, *sigterm = NULL;
	struct pr_httpc_opts hopts = { .timeout_ms = 5000,
				       .connect_timeout_ms = 2000,
				       .verify_tls = 1,
				       .max_connections = 64 };
	char err[128], *end;

	while ((c = getopt_long(argc, argv, "c:p:s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*end || port < 0 || port > 65535) {
				fprintf(stderr, "paysim: bad port %s\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			threads = strtol(optarg, &end, 10);
			if (*end || !*optarg || threads < 0 || threads > 64) {
				fprintf(stderr,
					"paysim: --sign-threads: expected 0 to "
					"64, got %s\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			pr_log_set_level(PAYROUTE_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (pr_log_open("stderr", err, sizeof(err)) != 0)
		fprintf(stderr, "paysim: %s\n", err);
	signal(SIGPIPE, SIG_IGN);
	sim_map_init(&s.orders);
	sim_map_init(&s.orders_by_trade_no);
	sim_map_init(&s.refunds);
	sim_map_init(&s.payouts);
	sim_map_init(&s.scripts);
	sim_map_init(&s.sinks);
	if (load_config(&s, config) != 0)
		goto out;
	s.base = event_base_new();
	s.http = s.base ? evhttp_new(s.base) : NULL;
	s.httpc = s.base ? pr_httpc_new(s.base, &hopts) : NULL;
	if (!s.http || !s.httpc) {
		fprintf(stderr, "paysim: cannot set up the loop\n");
		goto out;
	}
	if (sim_signer_start(&s, (int)threads) != 0) {
		fprintf(stderr, "paysim: cannot start %ld signing threads\n",
			threads);
		goto out;
	}
	evhttp_set_max_body_size(s.http, SIM_MAX_BODY);
	evhttp_set_timeout(s.http, 120);
	evhttp_set_gencb(s.http, on_request, &s);
	bs = evhttp_bind_socket_with_handle(s.http, "127.0.0.1",
					    (ev_uint16_t)port);
	if (!bs) {
		fprintf(stderr, "paysim: cannot listen on 127.0.0.1:%ld\n",
			port);
		goto out;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
			&slen) != 0) {
		perror("paysim: getsockname");
		goto out;
	}
	sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
	sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
	if (sigint)
		evsignal_add(sigint, NULL);
	if (sigterm)
		evsignal_add(sigterm, NULL);
	printf("paysim listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
	fflush(stdout);
	event_base_dispatch(s.base);
	rc = 0;
out:
	/* First: what is still being signed is answered or sent. */
	sim_signer_stop(&s);
	if (s.base)
		sim_timers_cancel(&s);
	sim_ledger_reset(&s);
	sim_map_clear(&s.orders, NULL);
	sim_map_clear(&s.orders_by_trade_no, NULL);
	sim_map_clear(&s.refunds, NULL);
	sim_map_clear(&s.payouts, NULL);
	sim_map_clear(&s.scripts, NULL);
	sinks_clear(&s);
	sim_bill_cleanup(&s);
	if (s.httpc)
		pr_httpc_free(s.httpc);
	if (s.http)
		evhttp_free(s.http);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (s.base)
		event_base_free(s.base);
	free_config(&s);
	return rc;
}
