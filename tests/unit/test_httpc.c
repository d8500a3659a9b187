/*
 * test_httpc.c - the HTTP client against a real evhttp server running on
 * 127.0.0.1 (port 0) in the same event_base: GET/POST/PUT echo, response
 * headers, bodies up to and past the 8 MiB cap, timeouts, refused
 * connections, 200 concurrent requests, connection reuse, and
 * pr_httpc_free with requests still in flight (also from a callback).
 *
 * Every loop run is bounded by a deadline timer so a bug fails the test
 * instead of hanging it.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "domain/drvobj.h"
#include "runtime/httpc.h"

#define BIG_LEN (1024 * 1024)
#define HUGE_LEN (9 * 1024 * 1024)
#define MAX_PEERS 512
#define N_CONCURRENT 200
#define N_SEQUENTIAL 20

struct slow_reply {
	struct evhttp_request *req;
	struct event *ev;
	struct fx *f;
	struct slow_reply *prev, *next;
};

struct fx {
	struct event_base *base;
	struct evhttp *http;
	int port;
	struct pr_httpc *c;
	struct slow_reply *slow;
	/* client ports seen by /echo: one per TCP connection */
	uint16_t peers[MAX_PEERS];
	size_t n_peers;
	size_t n_echo;
};

/* What one callback saw (copied: the result dies with the callback). */
struct seen {
	int calls;
	int ok, status, sent;
	char error[256];
	char *body;
	size_t body_len;
	char reply_hdr[64];
	double total_ms;
};

/* Set around pr_httpc_send: a callback must never run inside it. */
static int in_send;

/* ------------------------------------------------------------ server */

static void note_peer(struct fx *f, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (!evcon)
		return;
	evhttp_connection_get_peer(evcon, &addr, &port);
	for (size_t i = 0; i < f->n_peers; i++)
		if (f->peers[i] == port)
			return;
	if (f->n_peers < MAX_PEERS)
		f->peers[f->n_peers++] = port;
}

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	default:
		return "OTHER";
	}
}

/* Replies "method=M\nx-test=V\nexpect=E\nbody=B" and sets X-Reply. */
static void on_echo(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	const char *xt = evhttp_find_header(in, "X-Test");
	const char *expect = evhttp_find_header(in, "Expect");

	f->n_echo++;
	note_peer(f, req);
	evbuffer_add_printf(out, "method=%s\nx-test=%s\nexpect=%s\nbody=",
			    method_name(evhttp_request_get_command(req)),
			    xt ? xt : "(none)", expect ? expect : "(none)");
	evbuffer_add_buffer(out, body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Reply",
			  xt ? xt : "none");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void slow_unlink(struct fx *f, struct slow_reply *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		f->slow = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

static void slow_fire(evutil_socket_t fd, short what, void *arg)
{
	struct slow_reply *s = arg;

	(void)fd;
	(void)what;
	slow_unlink(s->f, s);
	evhttp_send_reply(s->req, 200, "OK", NULL);
	event_free(s->ev);
	free(s);
}

/* Replies after 2 s. */
static void on_slow(struct evhttp_request *req, void *arg)
{
	struct fx *f = arg;
	struct slow_reply *s = calloc(1, sizeof(*s));
	struct timeval tv = { 2, 0 };

	assert_non_null(s);
	s->req = req;
	s->f = f;
	s->ev = evtimer_new(f->base, slow_fire, s);
	assert_non_null(s->ev);
	s->next = f->slow;
	if (f->slow)
		f->slow->prev = s;
	f->slow = s;
	evtimer_add(s->ev, &tv);
}

static void send_filled(struct evhttp_request *req, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	char chunk[4096];

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	for (size_t done = 0; done < len; done += sizeof(chunk))
		evbuffer_add(out, chunk,
			     len - done < sizeof(chunk) ? len - done :
							  sizeof(chunk));
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* The same without Content-Length, so only the body callback can tell. */
static void on_huge_chunked(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();
	char chunk[4096];

	(void)arg;
	memset(chunk, 'z', sizeof(chunk));
	for (size_t done = 0; done < HUGE_LEN; done += sizeof(chunk))
		evbuffer_add(out, chunk, sizeof(chunk));
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_send_reply_chunk(req, out);
	evhttp_send_reply_end(req);
	evbuffer_free(out);
}

static void on_big(struct evhttp_request *req, void *arg)
{
	(void)arg;
	send_filled(req, BIG_LEN);
}

static void on_huge(struct evhttp_request *req, void *arg)
{
	(void)arg;
	send_filled(req, HUGE_LEN);
}

/* A port nothing listens on: bound, then closed. */
static int dead_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* A listener that never accepts, its accept queue already full: a connect
 * to it hangs in SYN_SENT. fds[0] is the listener, the rest fill it. */
#define N_BLACKHOLE 4
static int blackhole_port(int fds[N_BLACKHOLE])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fds[0] >= 0);
	assert_int_equal(bind(fds[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fds[0], 0), 0);
	assert_int_equal(getsockname(fds[0], (struct sockaddr *)&sin, &len), 0);
	for (int i = 1; i < N_BLACKHOLE; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fds[i] >= 0);
		connect(fds[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	return ntohs(sin.sin_port);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct pr_httpc_opts opts = {
		.timeout_ms = 5000,
		.connect_timeout_ms = 2000,
		.verify_tls = 1,
		.ca_file = NULL,
		.max_connections = 32,
	};

	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->http = evhttp_new(f->base);
	assert_non_null(f->http);
	evhttp_set_cb(f->http, "/echo", on_echo, f);
	evhttp_set_cb(f->http, "/slow", on_slow, f);
	evhttp_set_cb(f->http, "/big", on_big, f);
	evhttp_set_cb(f->http, "/huge", on_huge, f);
	evhttp_set_cb(f->http, "/hugechunked", on_huge_chunked, f);
	evhttp_set_max_body_size(f->http, 1024 * 1024);
	bound = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bound);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound),
				     (struct sockaddr *)&sin, &len),
			 0);
	f->port = ntohs(sin.sin_port);
	f->c = pr_httpc_new(f->base, &opts);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->c)
		pr_httpc_free(f->c);
	while (f->slow) {
		struct slow_reply *s = f->slow;

		slow_unlink(f, s);
		event_free(s->ev);
		evhttp_send_reply(s->req, 503, "Going away", NULL);
		free(s);
	}
	evhttp_free(f->http);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Runs the loop until *count reaches target or ms pass. Returns 1 when
 * the target was reached. */
static int run_until(struct fx *f, const int *count, int target, int ms)
{
	int expired = 0;
	struct event *deadline = evtimer_new(f->base, on_deadline, &expired);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	assert_non_null(deadline);
	evtimer_add(deadline, &tv);
	while ((!count || *count < target) && !expired)
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(deadline);
	return !count || *count >= target;
}

static void record(const struct pr_httpc_result *res, struct seen *s)
{
	assert_false(in_send);
	s->calls++;
	s->ok = res->ok;
	s->status = res->status;
	s->sent = res->sent;
	s->total_ms = res->total_ms;
	snprintf(s->error, sizeof(s->error), "%s",
		 res->error ? res->error : "");
	assert_non_null(res->body);
	assert_int_equal(res->body[res->body_len], '\0');
	free(s->body);
	s->body = malloc(res->body_len + 1);
	assert_non_null(s->body);
	memcpy(s->body, res->body, res->body_len + 1);
	s->body_len = res->body_len;
	s->reply_hdr[0] = '\0';
	for (size_t i = 0; i < res->n_headers; i++)
		if (strcasecmp(res->headers[i].name, "X-Reply") == 0)
			snprintf(s->reply_hdr, sizeof(s->reply_hdr), "%s",
				 res->headers[i].value);
}

static void on_result(const struct pr_httpc_result *res, void *arg)
{
	record(res, arg);
}

/* A request on the stack; strings point at the caller's buffers. */
struct req_buf {
	struct payroute_http_req req;
	struct pr_hdr hdr[2];
	char method[16];
	char url[256];
	char hname[32], hvalue[64];
	char body[256];
};

static void make_req(struct req_buf *b, const char *method, const char *url,
		     const char *xtest, const char *body, int timeout_ms)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->method, sizeof(b->method), "%s", method);
	snprintf(b->url, sizeof(b->url), "%s", url);
	b->req.method = b->method;
	b->req.url = b->url;
	if (xtest) {
		snprintf(b->hname, sizeof(b->hname), "X-Test");
		snprintf(b->hvalue, sizeof(b->hvalue), "%s", xtest);
		b->hdr[0].name = b->hname;
		b->hdr[0].value = b->hvalue;
		b->req.headers = b->hdr;
		b->req.n_headers = 1;
	}
	if (body) {
		snprintf(b->body, sizeof(b->body), "%s", body);
		b->req.body = (unsigned char *)b->body;
		b->req.body_len = strlen(b->body);
	}
	b->req.timeout_ms = timeout_ms;
}

static int send_req(struct fx *f, struct req_buf *b, pr_httpc_cb cb, void *arg)
{
	int rc;

	in_send = 1;
	rc = pr_httpc_send(f->c, &b->req, cb, arg);
	in_send = 0;
	/* the request is copied: scribbling over it must not matter */
	memset(b, 0x5a, sizeof(*b));
	return rc;
}

/* --------------------------------------------------------- the table */

enum target { T_SERVER, T_DEAD, T_BADSCHEME, T_BLACKHOLE };

struct httpc_case {
	const char *name;
	const char *method;
	enum target target;
	const char *path;
	const char *xtest; /* X-Test request header, NULL: none */
	const char *body;
	int timeout_ms;
	/* expected */
	int ok, sent, status;
	const char *body_has;  /* substring, NULL: not checked */
	size_t body_len;       /* 0: not checked */
	const char *reply_hdr; /* X-Reply value, NULL: not checked */
	const char *error_has;
};

static const struct httpc_case cases[] = {
	{ .name = "GET echo",
	  .method = "GET",
	  .path = "/echo?a=1",
	  .xtest = "hello",
	  .ok = 1,
	  .sent = 1,
	  .status = 200,
	  .body_has = "method=GET\nx-test=hello\nexpect=(none)\nbody=",
	  .reply_hdr = "hello" },
	{ .name = "POST echo",
	  .method = "POST",
	  .path = "/echo",
	  .xtest = "p1",
	  .body = "{\"amount\":100}",
	  .ok = 1,
	  .sent = 1,
	  .status = 200,
	  .body_has = "method=POST\nx-test=p1\nexpect=(none)\n"
		      "body={\"amount\":100}",
	  .reply_hdr = "p1" },
	{ .name = "PUT echo",
	  .method = "PUT",
	  .path = "/echo",
	  .body = "k=v",
	  .ok = 1,
	  .sent = 1,
	  .status = 200,
	  .body_has = "method=PUT\nx-test=(none)\nexpect=(none)\nbody=k=v",
	  .reply_hdr = "none" },
	{ .name = "DELETE echo",
	  .method = "DELETE",
	  .path = "/echo",
	  .ok = 1,
	  .sent = 1,
	  .status = 200,
	  .body_has = "method=DELETE\n" },
	{ .name = "404 is a response",
	  .method = "GET",
	  .path = "/nope",
	  .ok = 1,
	  .sent = 1,
	  .status = 404 },
	{ .name = "1 MiB body",
	  .method = "GET",
	  .path = "/big",
	  .ok = 1,
	  .sent = 1,
	  .status = 200,
	  .body_len = BIG_LEN,
	  .body_has = "abcdefghijklmnopqrstuvwxyzabc" },
	{ .name = "body over 8 MiB",
	  .method = "GET",
	  .path = "/huge",
	  .ok = 0,
	  .sent = 1,
	  .error_has = "8 MiB" },
	{ .name = "chunked body over 8 MiB",
	  .method = "GET",
	  .path = "/hugechunked",
	  .ok = 0,
	  .sent = 1,
	  .error_has = "8 MiB" },
	{ .name = "timeout after sending",
	  .method = "GET",
	  .path = "/slow",
	  .timeout_ms = 200,
	  .ok = 0,
	  .sent = 1 },
	{ .name = "connection refused",
	  .method = "GET",
	  .target = T_DEAD,
	  .path = "/echo",
	  .ok = 0,
	  .sent = 0 },
	{ .name = "timeout while connecting",
	  .method = "POST",
	  .target = T_BLACKHOLE,
	  .path = "/echo",
	  .body = "x",
	  .timeout_ms = 300,
	  .ok = 0,
	  .sent = 0 },
	{ .name = "unsupported scheme",
	  .method = "GET",
	  .target = T_BADSCHEME,
	  .path = "/x",
	  .ok = 0,
	  .sent = 0 },
};

static void run_case(struct fx *f, const struct httpc_case *tc)
{
	struct req_buf b;
	struct seen s = { 0 };
	char url[256];
	int hole[N_BLACKHOLE];

	switch (tc->target) {
	case T_BLACKHOLE:
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s",
			 blackhole_port(hole), tc->path);
		break;
	case T_SERVER:
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port,
			 tc->path);
		break;
	case T_DEAD:
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", dead_port(),
			 tc->path);
		break;
	case T_BADSCHEME:
		snprintf(url, sizeof(url), "ftp://127.0.0.1:%d%s", f->port,
			 tc->path);
		break;
	}
	make_req(&b, tc->method, url, tc->xtest, tc->body, tc->timeout_ms);
	assert_int_equal(send_req(f, &b, on_result, &s), 0);
	assert_int_equal(s.calls, 0);
	assert_int_equal(pr_httpc_pending(f->c), 1);
	print_message("  case: %s\n", tc->name);
	if (!run_until(f, &s.calls, 1, 8000))
		fail_msg("%s: no callback", tc->name);
	/* and never a second time */
	run_until(f, NULL, 0, 50);
	if (tc->target == T_BLACKHOLE)
		for (int i = 0; i < N_BLACKHOLE; i++)
			close(hole[i]);
	if (s.calls != 1 || s.ok != tc->ok || s.sent != tc->sent)
		fail_msg("%s: calls %d ok %d sent %d status %d error '%s'",
			 tc->name, s.calls, s.ok, s.sent, s.status, s.error);
	assert_int_equal(pr_httpc_pending(f->c), 0);
	if (tc->status && s.status != tc->status)
		fail_msg("%s: status %d, want %d", tc->name, s.status,
			 tc->status);
	if (tc->ok)
		assert_string_equal(s.error, "");
	else
		assert_true(s.error[0] != '\0');
	if (tc->body_has && !strstr(s.body, tc->body_has))
		fail_msg("%s: body '%.200s' lacks '%s'", tc->name, s.body,
			 tc->body_has);
	if (tc->body_len && s.body_len != tc->body_len)
		fail_msg("%s: body_len %zu, want %zu", tc->name, s.body_len,
			 tc->body_len);
	if (tc->reply_hdr && strcmp(s.reply_hdr, tc->reply_hdr) != 0)
		fail_msg("%s: X-Reply '%s', want '%s'", tc->name, s.reply_hdr,
			 tc->reply_hdr);
	if (tc->error_has && !strstr(s.error, tc->error_has))
		fail_msg("%s: error '%s' lacks '%s'", tc->name, s.error,
			 tc->error_has);
	if (tc->timeout_ms && !tc->ok &&
	    (s.total_ms < tc->timeout_ms * 0.8 || s.total_ms > 1500))
		fail_msg("%s: took %.1f ms for a %d ms timeout", tc->name,
			 s.total_ms, tc->timeout_ms);
	print_message("  %-26s ok=%d sent=%d status=%d %.1f ms %s\n", tc->name,
		      s.ok, s.sent, s.status, s.total_ms, s.error);
	free(s.body);
}

static void test_table(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(f, &cases[i]);
	}
}

static void test_invalid_args(void **state)
{
	struct fx *f = *state;
	struct req_buf b;
	struct seen s = { 0 };
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", f->port);
	make_req(&b, "GET", url, NULL, NULL, 0);
	assert_int_equal(pr_httpc_send(f->c, &b.req, NULL, NULL), -EINVAL);
	make_req(&b, "GET", url, "bad\r\nInjected: 1", NULL, 0);
	assert_int_equal(pr_httpc_send(f->c, &b.req, on_result, &s), -EINVAL);
	make_req(&b, "G T", url, NULL, NULL, 0);
	assert_int_equal(pr_httpc_send(f->c, &b.req, on_result, &s), -EINVAL);
	assert_int_equal(pr_httpc_pending(f->c), 0);
	run_until(f, NULL, 0, 50);
	assert_int_equal(s.calls, 0);
}

/* ------------------------------------------------ concurrency, reuse */

struct counter {
	int calls[N_CONCURRENT];
	int done;
	int ok;
};

struct tagged {
	struct counter *cnt;
	int idx;
};

static void on_tagged(const struct pr_httpc_result *res, void *arg)
{
	struct tagged *t = arg;
	char want[64];

	assert_false(in_send);
	t->cnt->calls[t->idx]++;
	t->cnt->done++;
	snprintf(want, sizeof(want), "x-test=%d\n", t->idx);
	if (res->ok && res->status == 200 && strstr(res->body, want))
		t->cnt->ok++;
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	static struct counter cnt;
	static struct tagged tags[N_CONCURRENT];
	char url[128], val[16];

	memset(&cnt, 0, sizeof(cnt));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", f->port);
	for (int i = 0; i < N_CONCURRENT; i++) {
		struct req_buf b;

		snprintf(val, sizeof(val), "%d", i);
		make_req(&b, i % 2 ? "POST" : "GET", url, val,
			 i % 2 ? "payload" : NULL, 0);
		tags[i].cnt = &cnt;
		tags[i].idx = i;
		assert_int_equal(send_req(f, &b, on_tagged, &tags[i]), 0);
	}
	assert_int_equal(pr_httpc_pending(f->c), N_CONCURRENT);
	assert_true(run_until(f, &cnt.done, N_CONCURRENT, 15000));
	run_until(f, NULL, 0, 50);
	assert_int_equal(cnt.done, N_CONCURRENT);
	assert_int_equal(cnt.ok, N_CONCURRENT);
	for (int i = 0; i < N_CONCURRENT; i++)
		assert_int_equal(cnt.calls[i], 1);
	assert_int_equal(pr_httpc_pending(f->c), 0);
	/* max_connections is 32 */
	assert_true(f->n_peers <= 32);
}

struct chain {
	struct fx *f;
	int done;
	int ok;
	char url[128];
};

static void on_chain(const struct pr_httpc_result *res, void *arg)
{
	struct chain *ch = arg;

	assert_false(in_send);
	ch->done++;
	if (res->ok && res->status == 200)
		ch->ok++;
	if (ch->done < N_SEQUENTIAL) {
		struct req_buf b;

		/* sending from a callback is allowed */
		make_req(&b, "GET", ch->url, "seq", NULL, 0);
		assert_int_equal(send_req(ch->f, &b, on_chain, ch), 0);
	}
}

static void test_reuse(void **state)
{
	struct fx *f = *state;
	struct chain ch = { .f = f };
	struct req_buf b;

	snprintf(ch.url, sizeof(ch.url), "http://127.0.0.1:%d/echo", f->port);
	make_req(&b, "GET", ch.url, "seq", NULL, 0);
	assert_int_equal(send_req(f, &b, on_chain, &ch), 0);
	assert_true(run_until(f, &ch.done, N_SEQUENTIAL, 10000));
	assert_int_equal(ch.ok, N_SEQUENTIAL);
	assert_int_equal(f->n_echo, N_SEQUENTIAL);
	print_message("  %d sequential requests used %zu connection(s)\n",
		      N_SEQUENTIAL, f->n_peers);
	assert_true(f->n_peers >= 1 && f->n_peers <= 2);
}

/* ------------------------------------------------------------ guarded */

/* A listening socket nobody accepts on: a completed connection would
 * wait in its backlog, so an accept() that finds none proves no
 * connection was made. */
static int raw_listener(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int send_guarded(struct fx *f, const char *url,
			const struct pr_netguard *g, struct seen *s)
{
	struct req_buf b;
	int rc;

	make_req(&b, "GET", url, "guard", NULL, 0);
	in_send = 1;
	rc = pr_httpc_send_guarded(f->c, &b.req, g, on_result, s);
	in_send = 0;
	return rc;
}

/* One row per case: the guard's allow list and own listener, the URL,
 * and whether the request goes through. Then a connection opened by an
 * unguarded request and reused by a guarded one: refused before anything
 * is sent on it (CURLOPT_PREREQFUNCTION). */
static void test_guarded(void **state)
{
	struct fx *f = *state;
	int raw_port, raw = raw_listener(&raw_port);
	char url[128];
	struct {
		const char *name, *allow, *host;
		int to_raw, own, through;
		const char *why;
	} rows[] = {
		{ "loopback, nothing allowed", NULL, "127.0.0.1", 1, 0, 0,
		  "loopback" },
		{ "the name localhost, nothing allowed", NULL, "localhost", 1,
		  0, 0, "loopback" },
		{ "loopback allowed", "127.0.0.0/8", "127.0.0.1", 0, 0, 1,
		  NULL },
		{ "allowed but the daemon's own listener", "127.0.0.0/8",
		  "127.0.0.1", 0, 1, 0, "own listen.admin" },
		{ "another range allowed only", "10.0.0.0/8", "127.0.0.1", 1, 0,
		  0, "loopback" },
	};
	struct pr_netguard g;
	struct seen s;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t echo = f->n_echo;

		print_message("  %s\n", rows[i].name);
		memset(&g, 0, sizeof(g));
		memset(&s, 0, sizeof(s));
		if (rows[i].allow) {
			assert_int_equal(
				pr_cidr_parse(rows[i].allow, &g.allow[0]), 0);
			g.n_allow = 1;
		}
		if (rows[i].own) {
			g.own[0].name = "listen.admin";
			assert_int_equal(
				pr_addr_parse("127.0.0.1", &g.own[0].addr), 0);
			g.own[0].port = f->port;
			g.n_own = 1;
		}
		snprintf(url, sizeof(url), "http://%s:%d/echo", rows[i].host,
			 rows[i].to_raw ? raw_port : f->port);
		assert_int_equal(send_guarded(f, url, &g, &s), 0);
		assert_true(run_until(f, &s.calls, 1, 5000));
		if (rows[i].through) {
			assert_true(s.ok);
			assert_int_equal(s.status, 200);
			assert_int_equal(f->n_echo, echo + 1);
		} else {
			assert_false(s.ok);
			assert_int_equal(s.sent, 0);
			if (!strstr(s.error, rows[i].why))
				fail_msg("%s: '%s' does not say '%s'",
					 rows[i].name, s.error, rows[i].why);
			assert_int_equal(f->n_echo, echo);
			assert_int_equal(accept(raw, NULL, NULL), -1);
		}
		free(s.body);
	}

	/* reuse: the unguarded request leaves its connection in the pool */
	{
		struct req_buf b;
		size_t echo;

		memset(&s, 0, sizeof(s));
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", f->port);
		make_req(&b, "GET", url, "plain", NULL, 0);
		assert_int_equal(send_req(f, &b, on_result, &s), 0);
		assert_true(run_until(f, &s.calls, 1, 5000));
		assert_true(s.ok);
		free(s.body);
		echo = f->n_echo;
		memset(&g, 0, sizeof(g));
		memset(&s, 0, sizeof(s));
		print_message("  a reused connection to a refused address\n");
		assert_int_equal(send_guarded(f, url, &g, &s), 0);
		assert_true(run_until(f, &s.calls, 1, 5000));
		assert_false(s.ok);
		assert_int_equal(s.sent, 0);
		assert_non_null(strstr(s.error, "loopback"));
		assert_int_equal(f->n_echo, echo);
		free(s.body);
	}
	assert_int_equal(pr_httpc_send_guarded(f->c, NULL, &g, on_result, &s),
			 -EINVAL);
	close(raw);
}

/* --------------------------------------------------- free with pending */

static void test_free_pending(void **state)
{
	struct fx *f = *state;
	struct seen s[6];
	char url[128];

	memset(s, 0, sizeof(s));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", f->port);
	for (int i = 0; i < 5; i++) {
		struct req_buf b;

		make_req(&b, "GET", url, NULL, NULL, 0);
		assert_int_equal(send_req(f, &b, on_result, &s[i]), 0);
	}
	/* let them reach the server */
	run_until(f, NULL, 0, 200);
	assert_non_null(f->slow);
	/* and one that has not even started */
	{
		struct req_buf b;

		make_req(&b, "GET", url, NULL, NULL, 0);
		assert_int_equal(send_req(f, &b, on_result, &s[5]), 0);
	}
	assert_int_equal(pr_httpc_pending(f->c), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(s[i].calls, 0);
	pr_httpc_free(f->c);
	f->c = NULL;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(s[i].calls, 1);
		assert_int_equal(s[i].ok, 0);
		assert_int_equal(s[i].sent, 1);
		assert_string_equal(s[i].error, "client shutting down");
		free(s[i].body);
		s[i].body = NULL;
	}
	run_until(f, NULL, 0, 100);
	for (int i = 0; i < 6; i++)
		assert_int_equal(s[i].calls, 1);
}

struct freer {
	struct fx *f;
	struct seen s[3];
	int total;
};

static struct freer *the_freer;

static void on_first_frees(const struct pr_httpc_result *res, void *arg)
{
	struct seen *s = arg;
	struct freer *fr = the_freer;

	record(res, s);
	fr->total++;
	if (fr->f->c) {
		struct req_buf b;
		char url[64];

		pr_httpc_free(fr->f->c);
		/* closing: no new requests */
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo",
			 fr->f->port);
		make_req(&b, "GET", url, NULL, NULL, 0);
		assert_int_equal(pr_httpc_send(fr->f->c, &b.req, on_result, s),
				 -ESHUTDOWN);
		fr->f->c = NULL;
	}
}

/* pr_httpc_free from inside a callback: the others are aborted once. */
static void test_free_from_callback(void **state)
{
	struct fx *f = *state;
	struct freer fr = { .f = f };
	struct req_buf b;
	char url[128];

	the_freer = &fr;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", f->port);
	make_req(&b, "GET", url, NULL, NULL, 0);
	assert_int_equal(send_req(f, &b, on_first_frees, &fr.s[0]), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", f->port);
	for (int i = 1; i < 3; i++) {
		make_req(&b, "GET", url, NULL, NULL, 0);
		assert_int_equal(send_req(f, &b, on_result, &fr.s[i]), 0);
	}
	assert_true(run_until(f, &fr.total, 1, 5000));
	assert_null(f->c);
	assert_int_equal(fr.s[0].calls, 1);
	assert_int_equal(fr.s[0].ok, 1);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(fr.s[i].calls, 1);
		assert_int_equal(fr.s[i].ok, 0);
		assert_int_equal(fr.s[i].sent, 1);
		assert_string_equal(fr.s[i].error, "client shutting down");
	}
	run_until(f, NULL, 0, 100);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fr.s[i].calls, 1);
		free(fr.s[i].body);
	}
}

/* pr_httpc_send_to_fd: a body past the in-memory cap goes whole to the
 * file, the result says how much and holds none of it; a limit below the
 * body's size ends the transfer. */
struct fd_seen {
	int done, ok, status;
	size_t body_len, mem_len;
	char error[128];
};

static void on_fd(const struct pr_httpc_result *res, void *arg)
{
	struct fd_seen *s = arg;

	s->done++;
	s->ok = res->ok;
	s->status = res->status;
	s->body_len = res->body_len;
	s->mem_len = res->body ? strlen(res->body) : 0;
	snprintf(s->error, sizeof(s->error), "%s",
		 res->error ? res->error : "");
}

static void test_to_fd(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *path;
		uint64_t max;
		int ok;
		size_t len;
	} rows[] = {
		{ "/huge", 0, 1, HUGE_LEN },
		{ "/hugechunked", HUGE_LEN, 1, HUGE_LEN },
		{ "/huge", HUGE_LEN - 1, 0, 0 },
		{ "/hugechunked", BIG_LEN, 0, 0 },
	};

	/* the server here writes on after the client gave up (the daemon
	 * ignores SIGPIPE too) */
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char path[] = "/tmp/pr_httpc_fd_XXXXXX", buf[4096];
		struct fd_seen seen = { 0 };
		struct req_buf b;
		size_t total = 0, z = 0;
		ssize_t n;
		int fd = mkstemp(path);
		char url[128];

		assert_true(fd >= 0);
		unlink(path);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port,
			 rows[i].path);
		make_req(&b, "GET", url, NULL, NULL, 0);
		assert_int_equal(pr_httpc_send_to_fd(f->c, &b.req, fd,
						     rows[i].max, on_fd, &seen),
				 0);
		assert_true(run_until(f, &seen.done, 1, 10000));
		if (seen.ok != rows[i].ok)
			fail_msg("row %zu: ok %d (%s)", i, seen.ok, seen.error);
		if (rows[i].ok) {
			assert_int_equal(seen.status, 200);
			assert_int_equal(seen.body_len, rows[i].len);
			assert_int_equal(seen.mem_len, 0);
			assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
			while ((n = read(fd, buf, sizeof(buf))) > 0) {
				/* /huge is send_filled's a-z pattern, each
				 * 4096-byte chunk anew; /hugechunked all z */
				for (ssize_t k = 0; k < n; k++)
					z += buf[k] ==
					     (rows[i].path[5] == 'c' ?
						      'z' :
						      (char)('a' +
							     ((total +
							       (size_t)k) %
							      4096) % 26));
				total += (size_t)n;
			}
			assert_int_equal(total, rows[i].len);
			assert_int_equal(z, rows[i].len);
		}
		close(fd);
	}
	assert_int_equal(pr_httpc_send_to_fd(f->c, NULL, 0, 0, on_fd, NULL),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_args, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_to_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
