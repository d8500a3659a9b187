/*
 * httpc.c - the HTTP client the core uses to call payment channels.
 *
 * libcurl's multi interface driven by the daemon's libevent loop (the
 * "multi-event" pattern): curl tells us which sockets to watch through
 * CURLMOPT_SOCKETFUNCTION (one persistent event per socket) and when to
 * wake it through CURLMOPT_TIMERFUNCTION (one timer); every event calls
 * curl_multi_socket_action() and then reaps finished transfers with
 * curl_multi_info_read(). Nothing here blocks. Connections are kept in the
 * multi handle's pool and reused; easy handles are recycled through a small
 * free list.
 *
 * Every accepted request gets its callback exactly once, always from the
 * loop: a transfer that cannot even be started is failed through its own
 * zero-delay timer (cancellable, unlike event_base_once, so that
 * pr_httpc_free can still account for it). A callback may call
 * pr_httpc_send or pr_httpc_free; the latter is then deferred until the
 * dispatch in progress has returned.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "runtime/httpc.h"
#include "runtime/log.h"

#define HTTPC_DEF_TIMEOUT_MS 15000
#define HTTPC_DEF_CONNECT_TIMEOUT_MS 3000
#define HTTPC_DEF_MAX_CONNECTIONS 64
#define HTTPC_MAX_BODY (8u * 1024 * 1024)
#define HTTPC_MAX_HEADERS 128
#define HTTPC_FREE_EASY 16

/* curl_global_init() is not thread-safe and must happen once; the daemon is
 * single-threaded, so a plain counter is enough. */
static unsigned httpc_global_refs;

/* One watched socket (curl's socketp). */
struct httpc_sock {
	struct pr_httpc *c;
	curl_socket_t fd;
	struct event *ev;
	struct httpc_sock *prev, *next;
};

/* One request in flight. */
struct httpc_xfer {
	struct pr_httpc *c;
	CURL *easy;
	struct curl_slist *req_headers;
	char *req_body; /* our copy, alive until the transfer ends */
	pr_httpc_cb cb;
	void *arg;

	/* The last response's headers and the body received so far. */
	struct pr_hdr *headers;
	size_t n_headers;
	char *body;
	size_t body_len, body_cap;
	const char *fail; /* our own reason to abort, overrides curl's */

	/* Set when the transfer could not be started; fired by `defer`. */
	struct event *defer;
	const char *defer_error;

	char errbuf[CURL_ERROR_SIZE];
	struct httpc_xfer *prev, *next;

	/* pr_httpc_send_guarded: the guard (NULL: none), whether it refused
	 * an address and why, and whether it let one through */
	struct pr_netguard *guard;
	int refused, admitted;
	char refusal[256];

	/* pr_httpc_send_to_fd: the body goes to sink_fd (when sink), at most
	 * sink_max bytes; sink_len written so far */
	int sink, sink_fd;
	uint64_t sink_max, sink_len;
};

struct pr_httpc {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	int timeout_ms;
	int connect_timeout_ms;
	int verify_tls;
	char *ca_file;
	int max_connections;

	struct httpc_xfer *xfers; /* pending, newest first */
	size_t n_pending;
	struct httpc_sock *socks;
	CURL *free_easy[HTTPC_FREE_EASY];
	size_t n_free_easy;

	int dispatching;    /* > 0 while callbacks may be running */
	int free_requested; /* pr_httpc_free called from a callback */
	int closing;	    /* pr_httpc_free in progress: no new requests */
};

static void httpc_destroy(struct pr_httpc *c);

/* ------------------------------------------------------------ helpers */

static void xfer_link(struct pr_httpc *c, struct httpc_xfer *x)
{
	x->prev = NULL;
	x->next = c->xfers;
	if (c->xfers)
		c->xfers->prev = x;
	c->xfers = x;
	c->n_pending++;
}

static void xfer_unlink(struct pr_httpc *c, struct httpc_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		c->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	c->n_pending--;
}

static void headers_clear(struct httpc_xfer *x)
{
	for (size_t i = 0; i < x->n_headers; i++) {
		free(x->headers[i].name);
		free(x->headers[i].value);
	}
	free(x->headers);
	x->headers = NULL;
	x->n_headers = 0;
}

/* Gives the easy handle back (recycled when there is room) and frees the
 * transfer. The handle must already be out of the multi handle. */
static void xfer_free(struct httpc_xfer *x)
{
	struct pr_httpc *c = x->c;

	if (x->easy) {
		if (c->n_free_easy < HTTPC_FREE_EASY && !c->closing) {
			curl_easy_reset(x->easy);
			c->free_easy[c->n_free_easy++] = x->easy;
		} else {
			curl_easy_cleanup(x->easy);
		}
	}
	if (x->defer)
		event_free(x->defer);
	curl_slist_free_all(x->req_headers);
	free(x->req_body);
	free(x->guard);
	headers_clear(x);
	free(x->body);
	free(x);
}

/* Calls the request's callback. res points into x, so x is freed after. */
static void xfer_deliver(struct httpc_xfer *x, struct pr_httpc_result *res)
{
	struct payroute_header *view = NULL;

	if (x->n_headers) {
		view = calloc(x->n_headers, sizeof(*view));
		if (view) {
			for (size_t i = 0; i < x->n_headers; i++) {
				view[i].name = x->headers[i].name;
				view[i].value = x->headers[i].value;
			}
			res->headers = view;
			res->n_headers = x->n_headers;
		}
	}
	if (!res->body) {
		res->body = x->body ? x->body : "";
		res->body_len = x->body ? x->body_len : 0;
		if (x->sink)
			res->body_len = (size_t)x->sink_len;
	}
	x->cb(res, x->arg);
	free(view);
}

/* ------------------------------------------------------ curl callbacks */

/* The body of a pr_httpc_send_to_fd transfer: to its file. */
static size_t on_body_fd(struct httpc_xfer *x, const char *ptr, size_t n)
{
	size_t off = 0;

	if (x->sink_max && n > x->sink_max - x->sink_len) {
		x->fail = "response body exceeds the file limit";
		return 0;
	}
	while (off < n) {
		ssize_t w = write(x->sink_fd, ptr + off, n - off);

		if (w < 0) {
			x->fail = "cannot write the response body to its file";
			return 0;
		}
		off += (size_t)w;
	}
	x->sink_len += n;
	return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct httpc_xfer *x = userdata;
	size_t n = size * nmemb;

	if (x->sink)
		return on_body_fd(x, ptr, n);

	if (n > HTTPC_MAX_BODY - x->body_len) {
		x->fail = "response body exceeds 8 MiB";
		return 0;
	}
	if (x->body_len + n + 1 > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;
		char *p;

		while (cap < x->body_len + n + 1)
			cap *= 2;
		p = realloc(x->body, cap);
		if (!p) {
			x->fail = "out of memory";
			return 0;
		}
		x->body = p;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, ptr, n);
	x->body_len += n;
	x->body[x->body_len] = '\0';
	return n;
}

static char *dup_trimmed(const char *s, size_t len)
{
	char *p;

	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
		       s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	p = malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* Called once per header line, status line and final blank line included.
 * A status line starts a new response (after a redirect, a 100 Continue or
 * proxy CONNECT): only the last response's headers are kept. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct httpc_xfer *x = userdata;
	size_t n = size * nitems;
	const char *colon;
	struct pr_hdr *h;

	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		headers_clear(x);
		return n;
	}
	if (n == 0 || buf[0] == '\r' || buf[0] == '\n')
		return n;
	if ((buf[0] == ' ' || buf[0] == '\t') && x->n_headers) {
		/* obsolete line folding: append to the previous value */
		struct pr_hdr *last = &x->headers[x->n_headers - 1];
		char *more = dup_trimmed(buf, n);
		size_t a, b;
		char *v;

		if (!more)
			goto nomem;
		a = strlen(last->value);
		b = strlen(more);
		v = realloc(last->value, a + b + 2);
		if (!v) {
			free(more);
			goto nomem;
		}
		v[a] = ' ';
		memcpy(v + a + 1, more, b + 1);
		last->value = v;
		free(more);
		return n;
	}
	colon = memchr(buf, ':', n);
	if (!colon)
		return n; /* not a header: ignore it */
	if (x->n_headers >= HTTPC_MAX_HEADERS) {
		x->fail = "too many response headers";
		return 0;
	}
	h = realloc(x->headers, (x->n_headers + 1) * sizeof(*h));
	if (!h)
		goto nomem;
	x->headers = h;
	h = &x->headers[x->n_headers];
	h->name = dup_trimmed(buf, (size_t)(colon - buf));
	h->value = dup_trimmed(colon + 1, n - (size_t)(colon - buf) - 1);
	if (!h->name || !h->value) {
		free(h->name);
		free(h->value);
		goto nomem;
	}
	x->n_headers++;
	return n;
nomem:
	x->fail = "out of memory";
	return 0;
}

/* --------------------------------------------------- the multi driver */

/* Whether a failed transfer certainly never reached the server. */
static int failed_before_sending(CURL *easy, CURLcode rc)
{
	curl_off_t pre = 0;

	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
		return 1;
	case CURLE_OPERATION_TIMEDOUT:
		/* timed out before the request went out: still connecting */
#if LIBCURL_VERSION_NUM >= 0x073d00 /* 7.61.0 */
		if (curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T,
				      &pre) != CURLE_OK)
			return 0;
#else
	{
		double d = 0;

		if (curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME, &d) !=
		    CURLE_OK)
			return 0;
		pre = (curl_off_t)(d * 1e6);
	}
#endif
		return pre == 0;
	default:
		return 0;
	}
}

/* Reaps finished transfers and calls their callbacks. */
static void check_done(struct pr_httpc *c)
{
	CURLMsg *msg;
	int left;

	while (!c->free_requested &&
	       (msg = curl_multi_info_read(c->multi, &left))) {
		struct pr_httpc_result res;
		struct httpc_xfer *x = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		curl_off_t total = 0;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		memset(&res, 0, sizeof(res));
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
#if LIBCURL_VERSION_NUM >= 0x073d00 /* 7.61.0 */
		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
#else
		{
			double d = 0;

			curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &d);
			total = (curl_off_t)(d * 1e6);
		}
#endif
		res.status = (int)status;
		res.total_ms = (double)total / 1000.0;
		if (rc == CURLE_OK && !x->fail) {
			res.ok = 1;
			res.sent = 1;
		} else if (x->refused && !x->admitted) {
			/* the guard refused every address: never connected,
			 * or (a reused connection) nothing sent */
			res.ok = 0;
			res.sent = 0;
			res.refused = 1;
			res.error = x->refusal;
		} else {
			res.ok = 0;
			res.sent = x->fail ? 1 :
					     !failed_before_sending(easy, rc);
			if (x->fail)
				res.error = x->fail;
			else if (rc == CURLE_FILESIZE_EXCEEDED)
				res.error = "response body exceeds 8 MiB";
			else if (x->errbuf[0])
				res.error = x->errbuf;
			else
				res.error = curl_easy_strerror(rc);
		}
		curl_multi_remove_handle(c->multi, easy);
		xfer_unlink(c, x);
		xfer_deliver(x, &res);
		xfer_free(x);
	}
}

/* Every event handler ends here: a pr_httpc_free called from a callback
 * during the dispatch runs now that nothing below us uses c. */
static void dispatch_end(struct pr_httpc *c)
{
	if (--c->dispatching == 0 && c->free_requested)
		httpc_destroy(c);
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct pr_httpc *c = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	c->dispatching++;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
	dispatch_end(c);
}

static void on_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct pr_httpc *c = arg;
	int running;

	(void)fd;
	(void)what;
	c->dispatching++;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
	dispatch_end(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct pr_httpc *c = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

static void sock_free(struct pr_httpc *c, struct httpc_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
			  void *socketp)
{
	struct pr_httpc *c = userp;
	struct httpc_sock *s = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(c->multi, fd, NULL);
			sock_free(c, s);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->c = c;
		s->fd = fd;
		s->ev = event_new(c->base, fd, kind, on_sock_event, c);
		if (!s->ev) {
			free(s);
			return -1;
		}
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	} else {
		event_del(s->ev);
		if (event_assign(s->ev, c->base, fd, kind, on_sock_event, c))
			return -1;
	}
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- public */

struct pr_httpc *pr_httpc_new(struct event_base *base,
			      const struct pr_httpc_opts *opts)
{
	struct pr_httpc *c;

	if (!base)
		return NULL;
	if (httpc_global_refs == 0 && curl_global_init(CURL_GLOBAL_DEFAULT)) {
		pr_err("httpc: curl_global_init failed");
		return NULL;
	}
	httpc_global_refs++;

	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->base = base;
	c->timeout_ms = HTTPC_DEF_TIMEOUT_MS;
	c->connect_timeout_ms = HTTPC_DEF_CONNECT_TIMEOUT_MS;
	c->verify_tls = 1;
	c->max_connections = HTTPC_DEF_MAX_CONNECTIONS;
	if (opts) {
		if (opts->timeout_ms > 0)
			c->timeout_ms = opts->timeout_ms;
		if (opts->connect_timeout_ms > 0)
			c->connect_timeout_ms = opts->connect_timeout_ms;
		c->verify_tls = opts->verify_tls != 0;
		if (opts->max_connections > 0)
			c->max_connections = opts->max_connections;
		if (opts->ca_file && opts->ca_file[0]) {
			c->ca_file = strdup(opts->ca_file);
			if (!c->ca_file)
				goto fail;
		}
	}
	c->timer = evtimer_new(base, on_timer_event, c);
	c->multi = curl_multi_init();
	if (!c->timer || !c->multi)
		goto fail;
	if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION,
			      on_curl_socket) ||
	    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION,
			      on_curl_timer) ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			      (long)c->max_connections) ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS,
			      (long)c->max_connections))
		goto fail;
	return c;
fail:
	pr_err("httpc: cannot create the HTTP client");
	if (c) {
		if (c->multi)
			curl_multi_cleanup(c->multi);
		if (c->timer)
			event_free(c->timer);
		free(c->ca_file);
		free(c);
	}
	if (--httpc_global_refs == 0)
		curl_global_cleanup();
	return NULL;
}

static void httpc_destroy(struct pr_httpc *c)
{
	struct httpc_xfer *x;

	c->closing = 1;
	c->free_requested = 0;
	c->dispatching++; /* callbacks calling pr_httpc_free are ignored */
	while ((x = c->xfers)) {
		struct pr_httpc_result res;

		memset(&res, 0, sizeof(res));
		if (x->defer) {
			/* never started: report why */
			res.sent = 0;
			res.error = x->defer_error;
		} else {
			curl_multi_remove_handle(c->multi, x->easy);
			res.sent = 1;
			res.error = "client shutting down";
		}
		xfer_unlink(c, x);
		xfer_deliver(x, &res);
		xfer_free(x);
	}
	curl_multi_cleanup(c->multi);
	/* sockets curl did not tell us about before going away */
	while (c->socks)
		sock_free(c, c->socks);
	for (size_t i = 0; i < c->n_free_easy; i++)
		curl_easy_cleanup(c->free_easy[i]);
	event_free(c->timer);
	free(c->ca_file);
	free(c);
	if (--httpc_global_refs == 0)
		curl_global_cleanup();
}

void pr_httpc_free(struct pr_httpc *c)
{
	if (!c || c->closing)
		return;
	if (c->dispatching) {
		c->free_requested = 1;
		return;
	}
	httpc_destroy(c);
}

size_t pr_httpc_pending(const struct pr_httpc *c)
{
	return c ? c->n_pending : 0;
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_xfer *x = arg;
	struct pr_httpc *c = x->c;
	struct pr_httpc_result res;

	(void)fd;
	(void)what;
	memset(&res, 0, sizeof(res));
	res.sent = 0;
	res.error = x->defer_error;
	c->dispatching++;
	xfer_unlink(c, x);
	xfer_deliver(x, &res);
	xfer_free(x);
	dispatch_end(c);
}

static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

static int method_ok(const char *m)
{
	if (!m || !*m)
		return 0;
	for (; *m; m++)
		if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z') ||
		      *m == '-' || *m == '_'))
			return 0;
	return 1;
}

/* Builds the curl header list: "Name: value" ("Name;" sends an empty
 * value), plus an empty "Expect:" to turn off 100-continue. */
static int build_headers(struct httpc_xfer *x,
			 const struct payroute_http_req *req)
{
	struct curl_slist *l;

	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->headers[i].name;
		const char *value = req->headers[i].value;
		size_t len;
		char *line;

		if (!name || !*name || strchr(name, ':') || has_crlf(name) ||
		    has_crlf(value))
			return -EINVAL;
		if (!value)
			value = "";
		len = strlen(name) + strlen(value) + 3;
		line = malloc(len);
		if (!line)
			return -ENOMEM;
		if (*value)
			snprintf(line, len, "%s: %s", name, value);
		else
			snprintf(line, len, "%s;", name);
		l = curl_slist_append(x->req_headers, line);
		free(line);
		if (!l)
			return -ENOMEM;
		x->req_headers = l;
	}
	l = curl_slist_append(x->req_headers, "Expect:");
	if (!l)
		return -ENOMEM;
	x->req_headers = l;
	return 0;
}

/* ------------------------------------------------------------- guard */

/* The address and port of sa into a; 0, or -EAFNOSUPPORT. */
static int sockaddr_addr(const struct sockaddr *sa, struct pr_addr *a,
			 int *port)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		a->family = 4;
		memcpy(a->b, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		a->family = 6;
		memcpy(a->b, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Before each socket of a guarded transfer is opened: the address about
 * to be connected to, judged; a refused one is never connected (curl then
 * tries the next address of the name, if any). */
static curl_socket_t on_opensocket(void *clientp, curlsocktype purpose,
				   struct curl_sockaddr *address)
{
	struct httpc_xfer *x = clientp;
	struct pr_addr a;
	int port;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    sockaddr_addr(&address->addr, &a, &port) < 0) {
		x->refused = 1;
		snprintf(x->refusal, sizeof(x->refusal),
			 "refused: not an IP connection");
		return CURL_SOCKET_BAD;
	}
	if (pr_netguard_check(x->guard, &a, port, x->refusal,
			      sizeof(x->refusal))) {
		x->refused = 1;
		return CURL_SOCKET_BAD;
	}
	x->admitted = 1;
	return socket(address->family, address->socktype | SOCK_CLOEXEC,
		      address->protocol);
}

#if LIBCURL_VERSION_NUM >= 0x075000 /* 7.80.0: CURLOPT_PREREQFUNCTION */
/* Before the request goes out on a connection, new or reused (a reused
 * one may have been opened by an unguarded request): its peer, judged. */
static int on_prereq(void *clientp, char *primary_ip, char *local_ip,
		     int primary_port, int local_port)
{
	struct httpc_xfer *x = clientp;
	struct pr_addr a;

	(void)local_ip;
	(void)local_port;
	if (pr_addr_parse(primary_ip, &a) < 0) {
		snprintf(x->refusal, sizeof(x->refusal),
			 "refused: the peer's address %.64s is unreadable",
			 primary_ip ? primary_ip : "?");
	} else if (!pr_netguard_check(x->guard, &a, primary_port, x->refusal,
				      sizeof(x->refusal))) {
		return CURL_PREREQFUNC_OK;
	}
	x->refused = 1;
	x->admitted = 0;
	return CURL_PREREQFUNC_ABORT;
}
#endif

/* Configures the easy handle. Returns a curl error (the transfer is then
 * failed from the loop). */
static CURLcode setup_easy(struct pr_httpc *c, struct httpc_xfer *x,
			   const struct payroute_http_req *req)
{
	CURL *e = x->easy;
	CURLcode rc;
	int timeout = req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms;
	int connect_timeout = c->connect_timeout_ms;
	const char *m = req->method;

	if (connect_timeout > timeout)
		connect_timeout = timeout;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if ((rc = curl_easy_setopt(e, opt, val)) != CURLE_OK)          \
			return rc;                                             \
	} while (0)

	SET(CURLOPT_PRIVATE, x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_VERBOSE, 0L);
	SET(CURLOPT_NOPROGRESS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout);
	SET(CURLOPT_SSL_VERIFYPEER, c->verify_tls ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, c->verify_tls ? 2L : 0L);
	if (c->ca_file)
		SET(CURLOPT_CAINFO, c->ca_file);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTPC_MAX_BODY);
	SET(CURLOPT_HTTPHEADER, x->req_headers);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	if (x->guard) {
		SET(CURLOPT_PROXY, "");
		SET(CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
		SET(CURLOPT_OPENSOCKETDATA, x);
#if LIBCURL_VERSION_NUM >= 0x075000
		SET(CURLOPT_PREREQFUNCTION, on_prereq);
		SET(CURLOPT_PREREQDATA, x);
#else
		SET(CURLOPT_FRESH_CONNECT, 1L);
#endif
	}

	if (strcmp(m, "GET") == 0 && !req->body_len) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(m, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(m, "POST") == 0 || req->body_len) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)req->body_len);
			SET(CURLOPT_POSTFIELDS, x->req_body);
		}
		if (strcmp(m, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, m);
	}
#undef SET
	return CURLE_OK;
}

/* Where pr_httpc_send_to_fd writes a body. */
struct httpc_sink {
	int fd;
	uint64_t max;
};

static int send_one(struct pr_httpc *c, const struct payroute_http_req *req,
		    const struct pr_netguard *guard,
		    const struct httpc_sink *sink, pr_httpc_cb cb, void *arg);

int pr_httpc_send(struct pr_httpc *c, const struct payroute_http_req *req,
		  pr_httpc_cb cb, void *arg)
{
	return send_one(c, req, NULL, NULL, cb, arg);
}

int pr_httpc_send_to_fd(struct pr_httpc *c, const struct payroute_http_req *req,
			int fd, uint64_t max_bytes, pr_httpc_cb cb, void *arg)
{
	struct httpc_sink sink = { fd, max_bytes };

	return fd >= 0 ? send_one(c, req, NULL, &sink, cb, arg) : -EINVAL;
}

int pr_httpc_send_guarded(struct pr_httpc *c,
			  const struct payroute_http_req *req,
			  const struct pr_netguard *guard, pr_httpc_cb cb,
			  void *arg)
{
	return guard ? send_one(c, req, guard, NULL, cb, arg) : -EINVAL;
}

static int send_one(struct pr_httpc *c, const struct payroute_http_req *req,
		    const struct pr_netguard *guard,
		    const struct httpc_sink *sink, pr_httpc_cb cb, void *arg)
{
	struct httpc_xfer *x;
	CURLcode rc;
	CURLMcode mrc;
	struct timeval zero = { 0, 0 };
	int ret;

	if (!c || !req || !req->url || !*req->url || !cb ||
	    !method_ok(req->method) || has_crlf(req->url) ||
	    (req->body_len && !req->body))
		return -EINVAL;
	if (c->closing || c->free_requested)
		return -ESHUTDOWN;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->c = c;
	x->cb = cb;
	x->arg = arg;
	if (guard) {
		x->guard = malloc(sizeof(*x->guard));
		if (!x->guard) {
			free(x);
			return -ENOMEM;
		}
		*x->guard = *guard;
	}
	ret = build_headers(x, req);
	if (ret)
		goto fail;
	ret = -ENOMEM;
	x->req_body = malloc(req->body_len + 1);
	if (!x->req_body)
		goto fail;
	if (req->body_len)
		memcpy(x->req_body, req->body, req->body_len);
	x->req_body[req->body_len] = '\0';
	if (c->n_free_easy)
		x->easy = c->free_easy[--c->n_free_easy];
	else
		x->easy = curl_easy_init();
	if (!x->easy)
		goto fail;

	if (sink) {
		x->sink = 1;
		x->sink_fd = sink->fd;
		x->sink_max = sink->max;
	}
	rc = setup_easy(c, x, req);
	if (rc == CURLE_OK && sink)
		rc = curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE_LARGE,
				      (curl_off_t)sink->max);
	if (rc != CURLE_OK) {
		x->defer_error = curl_easy_strerror(rc);
		goto defer;
	}
	mrc = curl_multi_add_handle(c->multi, x->easy);
	if (mrc != CURLM_OK) {
		x->defer_error = curl_multi_strerror(mrc);
		goto defer;
	}
	xfer_link(c, x);
	return 0;

defer:
	/* accepted but cannot start: fail it from the loop */
	x->defer = evtimer_new(c->base, on_defer, x);
	if (!x->defer || evtimer_add(x->defer, &zero))
		goto fail;
	xfer_link(c, x);
	return 0;
fail:
	xfer_free(x);
	return ret;
}
