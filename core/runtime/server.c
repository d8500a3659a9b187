/*
 * server.c - the daemon's HTTP listeners and the JSON answer helpers shared
 * by the merchant and admin APIs.
 *
 * Each listener is libevent's evhttp (2.1, what Debian 12 ships) behind a
 * front door of our own. evhttp 2.1 has no cap on connections
 * (evhttp_set_max_connections arrived in 2.2), resets its one timeout at
 * every byte (so a client sending a header line every few seconds stays
 * forever), is lenient about framing (framing.c says how) and answers its
 * own errors with HTML pages, with no hook to change them
 * (evhttp_set_errorcb does not exist in 2.1). What 2.1 does offer, and what
 * the door is built from:
 *
 *  - our own evconnlistener, handed to evhttp with evhttp_bind_listener, so
 *    that we choose the backlog and get accept() errors
 *    (evconnlistener_set_error_cb): on EMFILE/ENFILE the listener is
 *    disabled for a short, doubling time (50 ms up to 1 s) with one
 *    rate-limited log line, instead of libevent's warning in a busy loop;
 *    and a listener whose connections reach their cap (plus some slack for
 *    the 503 answers) stops accepting until one closes;
 *  - evhttp_set_bevcb, called for every connection evhttp accepts: we make
 *    its bufferevent, so we know each connection from its first moment,
 *    and we put a callback on the bufferevent's input buffer. That
 *    callback runs inside the socket read, before evhttp's read callback:
 *    it takes the new bytes out of evhttp's view, and gives them back only
 *    once framing.c passed them (a whole head, then the body by its
 *    Content-Length or chunk by chunk). So evhttp never parses a byte we
 *    did not check, a bad request is answered by us in JSON and the
 *    connection closed before anything after it is parsed, and we always
 *    know whether a head or a body is in progress: the deadlines for a
 *    whole head (from accept, or from a keep-alive request's first byte)
 *    and a whole body (from the head's end) are ours, one timer per
 *    connection, not reset by each byte; idle keep-alive connections have
 *    their own;
 *  - evhttp_connection_set_closecb, to learn when evhttp frees a
 *    connection; evhttp_request_set_on_complete_cb, to know while a
 *    request is with a handler or its answer still being written (never
 *    closed under it: a refusal waits for the answer's end).
 *
 * The door's own answers (400, 408, 413, 414, 417, 431, 501, 503, 505) are
 * written straight to the socket, with Connection: close, and the
 * connection is then freed through evhttp_connection_free. An output
 * buffer callback counts and logs any answer evhttp still writes on its
 * own (payroute_http_library_answers_total), which should stay at 0.
 *
 * Caps: a connection over its address's cap gets a JSON 503; one over the
 * listener's cap first makes room by closing the oldest connection that
 * is idle or has not finished its head (an attacker's slow connections go
 * first; a real client sends its head at once), and gets the 503 only when
 * there is none. The caps leave a reserve of descriptors (server.fd_reserve)
 * for the store, the channels, merchant notifications and the other
 * listener, so a flood on the merchant listener leaves the admin listener,
 * /healthz and the daemon's own connections working.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "base/clock.h"
#include "base/framing.h"
#include "runtime/log.h"
#include "runtime/server.h"

#define LISTEN_BACKLOG 511
#define RATELOG_MS 10000    /* one line per kind and listener per 10 s */
#define BACKOFF_FIRST_MS 50 /* accept() out of descriptors: first pause */
#define BACKOFF_MAX_MS 1000 /* ... doubling up to this */
#define MAX_BLANK_LINES 8   /* empty lines accepted before a request */
#define DRAIN_MAX 65536	    /* bytes read and dropped before a close */
/* A connection over the listener's cap makes room by closing one idle or
 * unfinished for at least this long: a real client sends its request
 * within milliseconds of connecting, and is never the one closed; an
 * attacker has to open four times the cap per second to keep every
 * connection younger than this (and then newcomers get 503). */
#define EVICT_MIN_AGE_MS 250

#define SECURITY_HEADERS                                                       \
	"Cache-Control: no-store\r\n"                                          \
	"X-Content-Type-Options: nosniff\r\n"                                  \
	"Referrer-Policy: no-referrer\r\n"                                     \
	"X-Frame-Options: DENY\r\n"                                            \
	"Content-Security-Policy: default-src 'none'; frame-ancestors "        \
	"'none'\r\n"
#define API_CSP "default-src 'none'; frame-ancestors 'none'"

int pr_server_target_ok(const char *target)
{
	struct evhttp_uri *uri;

	uri = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
	if (!uri)
		return 0;
	evhttp_uri_free(uri);
	return 1;
}

/* ------------------------------------------------------ rate-limited log */

struct ratelog {
	int64_t next_ms;
	unsigned long held; /* lines held back since the last one written */
};

/* 1 when a line may be written now (*held: how many were held back since
 * the last one), 0 when it is held back. */
static int ratelog_take(struct ratelog *rl, unsigned long *held)
{
	int64_t now = pr_mono_ms();

	if (now < rl->next_ms) {
		rl->held++;
		return 0;
	}
	*held = rl->held;
	rl->held = 0;
	rl->next_ms = now + RATELOG_MS;
	return 1;
}

/* " (N more like it since the last line)" when lines were held back. */
static void held_note(unsigned long held, char *buf, size_t len)
{
	if (held)
		snprintf(buf, len,
			 " (and %lu more like it since the last such "
			 "line)",
			 held);
	else
		buf[0] = '\0';
}

/* ------------------------------------------------------------- limits */

long pr_fd_limit_raise(void)
{
	struct rlimit rl;
	rlim_t before;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	before = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			pr_warn("cannot raise the open file limit from %llu to "
				"%llu: %s",
				(unsigned long long)before,
				(unsigned long long)rl.rlim_max,
				strerror(errno));
			rl.rlim_cur = before;
		} else {
			pr_info("open file limit raised from %llu to %llu",
				(unsigned long long)before,
				(unsigned long long)rl.rlim_cur);
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)(1 << 24))
		return 1 << 24;
	return (long)rl.rlim_cur;
}

/* A listener's connections can reach its cap plus this before it stops
 * accepting: room for the 503 answers over the cap. */
static long cap_slack(long max)
{
	return max / 16 + 8;
}

static long clampl(long v, long lo, long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void pr_listen_limits_derive(const struct pr_config *cfg, long nofile,
			     struct pr_listen_limits *m,
			     struct pr_listen_limits *a, long *reserve,
			     char *note, size_t notelen)
{
	long r, budget, am, mm;
	size_t used = 0;

	if (note && notelen)
		note[0] = '\0';
	if (nofile < 64)
		nofile = 64;
	r = cfg->fd_reserve;
	if (r <= 0) {
		r = 64 + pr_config_pool_size(cfg) + cfg->http_max_connections;
		if (r < nofile / 10)
			r = nofile / 10;
	}
	if (r > nofile / 2) {
		if (cfg->fd_reserve > 0 && note)
			used += (size_t)snprintf(
				note + used, notelen - used,
				"server.fd_reserve %ld is more than half of "
				"the %ld descriptors; using %ld; ",
				r, nofile, nofile / 2);
		r = nofile / 2;
	}
	budget = nofile - r;

	am = cfg->admin_max_connections > 0 ? cfg->admin_max_connections :
					      clampl(budget / 16, 8, 256);
	if (am + cap_slack(am) > budget / 2) {
		long fit = clampl((budget / 2 - 8) * 16 / 17, 1, am);

		if (cfg->admin_max_connections > 0 && note && used < notelen)
			used += (size_t)snprintf(
				note + used, notelen - used,
				"listen.admin_max_connections %ld does not "
				"fit in %ld descriptors less the reserve of "
				"%ld; using %ld; ",
				am, nofile, r, fit);
		am = fit;
	}
	mm = cfg->merchant_max_connections > 0 ?
		     cfg->merchant_max_connections :
		     clampl((budget - am - cap_slack(am) - 8) * 16 / 17, 1,
			    16384);
	if (mm + cap_slack(mm) + am + cap_slack(am) > budget) {
		long fit = clampl((budget - am - cap_slack(am) - 8) * 16 / 17,
				  1, mm);

		if (cfg->merchant_max_connections > 0 && note && used < notelen)
			used += (size_t)snprintf(
				note + used, notelen - used,
				"listen.merchant_max_connections %ld does not "
				"fit in %ld descriptors less the reserve of "
				"%ld and the admin listener's %ld; using %ld; ",
				mm, nofile, r, am, fit);
		mm = fit;
	}
	if (note && used >= 2 && used < notelen)
		note[used - 2] = '\0'; /* the last "; " */

	memset(m, 0, sizeof(*m));
	memset(a, 0, sizeof(*a));
	m->max_connections = (int)mm;
	a->max_connections = (int)am;
	m->max_per_address = cfg->merchant_max_per_address > 0 ?
				     cfg->merchant_max_per_address :
				     (int)(mm / 8 > 8 ? mm / 8 : 8);
	a->max_per_address = cfg->admin_max_per_address > 0 ?
				     cfg->admin_max_per_address :
				     (int)am;
	if (m->max_per_address > m->max_connections)
		m->max_per_address = m->max_connections;
	if (a->max_per_address > a->max_connections)
		a->max_per_address = a->max_connections;
	m->header_timeout_ms = a->header_timeout_ms = cfg->header_timeout_ms;
	m->body_timeout_ms = a->body_timeout_ms = cfg->body_timeout_ms;
	m->idle_timeout_ms = a->idle_timeout_ms = cfg->idle_timeout_ms;
	m->max_header_bytes = a->max_header_bytes = cfg->max_header_bytes;
	m->max_body_bytes = a->max_body_bytes = cfg->max_body_bytes;
	*reserve = r;
}

/* ---------------------------------------------------------- the door */

/* The open connections from one client address. */
struct addr_slot {
	unsigned char key[17]; /* family byte + address */
	unsigned count;
	struct addr_slot *next;
};

enum phase {
	PH_HEAD,       /* waiting for (the rest of) a request head */
	PH_BODY,       /* Content-Length bytes still to pass (left) */
	PH_CHUNK_SIZE, /* a chunk-size line */
	PH_CHUNK_DATA, /* chunk bytes still to pass (left) */
	PH_CHUNK_END,  /* the CRLF after a chunk's data */
	PH_TRAILER,    /* the empty line after the last chunk */
};

enum deadline {
	DL_NONE,
	DL_HEAD,  /* the whole head, from accept or its first byte */
	DL_BODY,  /* the whole body, from the head's end */
	DL_IDLE,  /* keep-alive: between two requests */
	DL_CLOSE, /* a refusal to carry out */
};

/* Why the door closes a connection (counters and log lines). */
enum why {
	W_LISTENER_FULL,
	W_ADDRESS_FULL,
	W_EVICTED,
	W_HEADER_TIMEOUT,
	W_BODY_TIMEOUT,
	W_IDLE,
	W_REJECTED, /* a request refused by framing.c */
};

struct pr_conn {
	struct pr_door *door;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* set at admission */
	evutil_socket_t fd;
	struct addr_slot *slot;
	char peer[INET6_ADDRSTRLEN];
	struct evbuffer_cb_entry *in_cb, *out_cb;
	struct event *timer;
	enum deadline dl;
	enum phase phase;
	/* Bytes read from the socket that evhttp has not been given. */
	char *buf;
	size_t len, cap;
	size_t scan;	  /* pr_framing_head_end's resume point */
	uint64_t left;	  /* PH_BODY, PH_CHUNK_DATA: bytes to pass */
	uint64_t chunked; /* body bytes of a chunked request so far */
	int blank_lines;
	int close_waits;  /* DL_CLOSE put off for pipelined requests */
	int64_t since_ms; /* admission or last answer (mono_ms) */
	unsigned admitted : 1;
	unsigned busy : 1;	/* a request with a handler, or its answer */
	unsigned moving : 1;	/* we are changing evhttp's input buffer */
	unsigned got_bytes : 1; /* a byte of the current head arrived */
	unsigned refused : 1;	/* closing: refusal below */
	/* The refusal: an answer (status 0: none) and why. */
	int r_status;
	const char *r_code;
	char r_msg[192];
	/* In door->conns (oldest activity first), or door->pending. */
	TAILQ_ENTRY(pr_conn) link;
};

TAILQ_HEAD(conn_list, pr_conn);

struct pr_door {
	struct pr_listener *l;
	struct event_base *base;
	struct evconnlistener *lev; /* owned by l->sock */
	struct pr_listen_limits lim;
	void (*cb)(struct evhttp_request *, void *);
	void *cb_arg;
	struct conn_list conns;	  /* admitted */
	struct conn_list pending; /* accepted, not yet admitted */
	size_t open;		  /* both lists */
	size_t admitted;
	struct pr_conn **by_fd; /* admitted connections by descriptor */
	size_t n_by_fd;
	struct addr_slot **slots;
	size_t n_slots; /* a power of two */
	struct event *ev_admit, *ev_retry;
	int backoff_ms;
	unsigned full : 1;    /* stopped accepting: at the cap */
	unsigned pausing : 1; /* stopped accepting: accept() failed */
	struct pr_listener_stats st;
	struct ratelog rl_refused, rl_timeout, rl_rejected, rl_accept,
		rl_library, rl_evicted;
};

/* evconnlistener's error callback only gets the listener's user data,
 * which evhttp_bind_listener set to the evhttp: the doors are found here.
 * A daemon has two. */
static struct pr_door *doors[8];

static struct pr_door *door_of_http(void *http)
{
	for (size_t i = 0; i < sizeof(doors) / sizeof(doors[0]); i++)
		if (doors[i] && doors[i]->l->http == http)
			return doors[i];
	return NULL;
}

/* The codes of pr_framing_error, indexing st.rejected[] (the last: any
 * other). */
static const char *const reject_codes[8] = {
	"bad_request",
	"header_too_large",
	"payload_too_large",
	"uri_too_long",
	"expectation_failed",
	"not_implemented",
	"http_version_not_supported",
	"other",
};

static size_t reject_index(const char *code)
{
	for (size_t i = 0; i + 1 < 8; i++)
		if (strcmp(reject_codes[i], code) == 0)
			return i;
	return 7;
}

static long door_ceiling(const struct pr_door *door)
{
	return door->lim.max_connections + cap_slack(door->lim.max_connections);
}

static void door_accept_update(struct pr_door *door)
{
	if (!door->lev)
		return;
	if (door->full || door->pausing)
		evconnlistener_disable(door->lev);
	else
		evconnlistener_enable(door->lev);
}

/* ------------------------------------------------------ address slots */

static size_t slot_hash(const unsigned char *key, size_t nslots)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h & (nslots - 1);
}

/* The address key and text of the peer of fd (IPv4-mapped IPv6 counts as
 * IPv4). Returns 0 or -1. */
static int peer_key(evutil_socket_t fd, unsigned char key[17], char *text,
		    size_t textlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(key, 0, 17);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&ss;

		key[0] = 4;
		memcpy(key + 1, &s4->sin_addr, 4);
		inet_ntop(AF_INET, &s4->sin_addr, text, (socklen_t)textlen);
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, s6->sin6_addr.s6_addr + 12, 4);
			inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, text,
				  (socklen_t)textlen);
			return 0;
		}
		key[0] = 6;
		memcpy(key + 1, &s6->sin6_addr, 16);
		inet_ntop(AF_INET6, &s6->sin6_addr, text, (socklen_t)textlen);
		return 0;
	}
	return -1;
}

static struct addr_slot *slot_get(struct pr_door *door,
				  const unsigned char key[17])
{
	size_t h = slot_hash(key, door->n_slots);
	struct addr_slot *s;

	for (s = door->slots[h]; s; s = s->next)
		if (memcmp(s->key, key, 17) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s->key, key, 17);
	s->next = door->slots[h];
	door->slots[h] = s;
	return s;
}

static void slot_put(struct pr_door *door, struct addr_slot *slot)
{
	struct addr_slot **pp;

	if (!slot || --slot->count > 0)
		return;
	for (pp = &door->slots[slot_hash(slot->key, door->n_slots)]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == slot) {
			*pp = slot->next;
			free(slot);
			return;
		}
	}
}

/* ------------------------------------------------------- door answers */

/* Writes a complete JSON error answer with Connection: close to fd
 * (best effort: a socket that cannot take it at once does not get it). */
static void door_answer(evutil_socket_t fd, int status, const char *code,
			const char *msg)
{
	json_t *body = pr_http_error_body(code, NULL, msg);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char head[1024];
	int n;

	json_decref(body);
	if (!text)
		return;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n" SECURITY_HEADERS "%s"
		     "\r\n",
		     status, pr_http_reason(status), strlen(text),
		     status == 503 || status == 408 ? "Retry-After: 1\r\n" :
						      "");
	if (n > 0 && (size_t)n < sizeof(head)) {
		struct iovec iov[2] = { { head, (size_t)n },
					{ text, strlen(text) } };
		struct msghdr mh = { 0 };

		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			pr_debug("front door: cannot write a %d answer: %s",
				 status, strerror(errno));
	}
	free(text);
}

/* Reads and drops what the client already sent, so that closing does not
 * reset the connection under the answer just written. */
static void drain_socket(evutil_socket_t fd)
{
	char buf[4096];
	size_t total = 0;

	while (total < DRAIN_MAX) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

/* ------------------------------------------------------- connections */

static void conn_arm(struct pr_conn *c, enum deadline dl, int ms)
{
	struct timeval tv;

	c->dl = dl;
	if (dl == DL_NONE) {
		evtimer_del(c->timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Counts and logs one closing, rate-limited per kind. */
static void door_note(struct pr_conn *c, enum why why, int status,
		      const char *code, const char *msg)
{
	struct pr_door *door = c->door;
	struct ratelog *rl = NULL;
	const char *what = NULL;
	unsigned long held = 0;
	char more[96];

	switch (why) {
	case W_LISTENER_FULL:
		door->st.refused_listener_full++;
		rl = &door->rl_refused;
		what = "refused a connection";
		break;
	case W_ADDRESS_FULL:
		door->st.refused_address_full++;
		rl = &door->rl_refused;
		what = "refused a connection";
		break;
	case W_EVICTED:
		door->st.evicted++;
		rl = &door->rl_evicted;
		what = "closed an idle or unfinished connection";
		break;
	case W_HEADER_TIMEOUT:
		door->st.header_timeouts++;
		rl = &door->rl_timeout;
		what = "closed a connection";
		break;
	case W_BODY_TIMEOUT:
		door->st.body_timeouts++;
		rl = &door->rl_timeout;
		what = "closed a connection";
		break;
	case W_IDLE:
		door->st.idle_closed++;
		return;
	case W_REJECTED:
		door->st.rejected[reject_index(code)]++;
		rl = &door->rl_rejected;
		what = "refused a request";
		break;
	}
	if (!ratelog_take(rl, &held))
		return;
	held_note(held, more, sizeof(more));
	if (status)
		pr_warn("%s listener: %s from %s: %d %s: %s%s", door->l->name,
			what, c->peer[0] ? c->peer : "?", status, code, msg,
			more);
	else
		pr_warn("%s listener: %s from %s: %s%s", door->l->name, what,
			c->peer[0] ? c->peer : "?", msg, more);
}

/* Decides to close c: answer status (0: none) with code and msg, then
 * close, once no request of c is with a handler. Stops reading: nothing
 * more of c reaches evhttp. */
static void conn_refuse(struct pr_conn *c, enum why why, int status,
			const char *code, const char *msg)
{
	if (c->refused)
		return;
	c->refused = 1;
	c->r_status = status;
	c->r_code = code;
	snprintf(c->r_msg, sizeof(c->r_msg), "%s", msg);
	c->len = 0;
	door_note(c, why, status, code, msg);
	if (!c->busy)
		conn_arm(c, DL_CLOSE, 0);
}

/* Carries out a refusal (DL_CLOSE): the answer, then evhttp frees the
 * connection, and its close callback frees c. */
static void conn_close_now(struct pr_conn *c)
{
	if (c->busy)
		return; /* on_complete comes back here */
	/* Whole requests given to evhttp before the refused one (pipelined)
	 * are answered first: evhttp reads them at its next turn. */
	if (c->phase == PH_HEAD && c->close_waits < 100 &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		c->close_waits++;
		conn_arm(c, DL_CLOSE, 10);
		return;
	}
	if (c->r_status)
		door_answer(c->fd, c->r_status, c->r_code, c->r_msg);
	drain_socket(c->fd);
	evhttp_connection_free(c->evcon);
}

static void conn_free(struct pr_conn *c)
{
	struct pr_door *door = c->door;

	if (c->bev) {
		if (c->in_cb)
			evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
						 c->in_cb);
		if (c->out_cb)
			evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
						 c->out_cb);
	}
	if (c->timer)
		event_free(c->timer);
	if (c->admitted) {
		TAILQ_REMOVE(&door->conns, c, link);
		door->admitted--;
		if (c->fd >= 0 && (size_t)c->fd < door->n_by_fd &&
		    door->by_fd[c->fd] == c)
			door->by_fd[c->fd] = NULL;
		slot_put(door, c->slot);
	} else {
		TAILQ_REMOVE(&door->pending, c, link);
	}
	door->open--;
	if (door->full && (long)door->open < door_ceiling(door)) {
		door->full = 0;
		door_accept_update(door);
	}
	free(c->buf);
	free(c);
}

/* evhttp frees the connection (closecb): forget it. */
static void on_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_free(arg);
}

/* The oldest connection that has been idle, or receiving its head, for
 * EVICT_MIN_AGE_MS at least; or NULL. door->conns is in the order of
 * admission and last answer, so the walk stops at the first younger. */
static struct pr_conn *door_victim(struct pr_door *door,
				   const struct pr_conn * not )
{
	int64_t young = pr_mono_ms() - EVICT_MIN_AGE_MS;
	struct pr_conn *c;

	TAILQ_FOREACH(c, &door->conns, link) {
		if (c->since_ms > young)
			return NULL;
		if (c != not &&!c->busy && !c->refused && c->phase == PH_HEAD)
			return c;
	}
	return NULL;
}

static int by_fd_set(struct pr_door *door, evutil_socket_t fd,
		     struct pr_conn *c)
{
	if (fd < 0)
		return -1;
	if ((size_t)fd >= door->n_by_fd) {
		size_t n = door->n_by_fd ? door->n_by_fd : 256;
		struct pr_conn **p;

		while (n <= (size_t)fd)
			n *= 2;
		p = realloc(door->by_fd, n * sizeof(*p));
		if (!p)
			return -1;
		memset(p + door->n_by_fd, 0, (n - door->n_by_fd) * sizeof(*p));
		door->by_fd = p;
		door->n_by_fd = n;
	}
	door->by_fd[fd] = c;
	return 0;
}

/* Admission: the connection's address, its caps, its first deadline.
 * Returns 0, or -ECONNABORTED when evhttp had already dropped the
 * connection (then c is freed). */
static int conn_admit(struct pr_conn *c)
{
	struct pr_door *door = c->door;
	unsigned char key[17];
	void *evcon = NULL;
	char msg[160];

	TAILQ_REMOVE(&door->pending, c, link);
	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	if (!evcon) {
		/* evhttp gave up on it (out of memory) and freed it: our
		 * reference is the last. */
		struct bufferevent *bev = c->bev;

		c->bev = NULL;
		evbuffer_remove_cb_entry(bufferevent_get_input(bev), c->in_cb);
		evbuffer_remove_cb_entry(bufferevent_get_output(bev),
					 c->out_cb);
		c->in_cb = c->out_cb = NULL;
		TAILQ_INSERT_TAIL(&door->pending, c, link);
		conn_free(c);
		bufferevent_decref(bev);
		return -ECONNABORTED;
	}
	bufferevent_decref(c->bev);
	c->evcon = evcon;
	c->fd = bufferevent_getfd(c->bev);
	evhttp_connection_set_closecb(c->evcon, on_closed, c);
	c->admitted = 1;
	c->since_ms = pr_mono_ms();
	door->admitted++;
	door->st.accepted++;
	TAILQ_INSERT_TAIL(&door->conns, c, link);
	by_fd_set(door, c->fd, c);
	conn_arm(c, DL_HEAD, door->lim.header_timeout_ms);

	if (peer_key(c->fd, key, c->peer, sizeof(c->peer)) == 0)
		c->slot = slot_get(door, key);
	if (c->slot && ++c->slot->count > (unsigned)door->lim.max_per_address) {
		snprintf(msg, sizeof(msg),
			 "%u connections from this address (listen.%s_max_per_"
			 "address %d)",
			 c->slot->count, door->l->name,
			 door->lim.max_per_address);
		conn_refuse(c, W_ADDRESS_FULL, 503, "too_many_connections",
			    msg);
		return 0;
	}
	if (door->admitted > (size_t)door->lim.max_connections) {
		struct pr_conn *v = door_victim(door, c);

		if (v) {
			conn_refuse(v, W_EVICTED, 0, "evicted",
				    "to make room for a new one (listener "
				    "full)");
			return 0;
		}
		snprintf(msg, sizeof(msg),
			 "%zu connections open on the listener (listen.%s_max_"
			 "connections %d)",
			 door->admitted, door->l->name,
			 door->lim.max_connections);
		conn_refuse(c, W_LISTENER_FULL, 503, "too_many_connections",
			    msg);
	}
	return 0;
}

static void on_admit(evutil_socket_t fd, short what, void *arg)
{
	struct pr_door *door = arg;
	struct pr_conn *c;

	(void)fd;
	(void)what;
	while ((c = TAILQ_FIRST(&door->pending)) != NULL)
		conn_admit(c);
}

/* ------------------------------------------------------- the input gate */

/* Gives evhttp n bytes of c->buf. */
static void conn_release(struct pr_conn *c, size_t n)
{
	c->moving = 1;
	evbuffer_add(bufferevent_get_input(c->bev), c->buf, n);
	c->moving = 0;
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static void conn_drop(struct pr_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static void conn_reject(struct pr_conn *c, const struct pr_framing_error *e)
{
	conn_refuse(c, W_REJECTED, e->status, e->code, e->message);
}

/* A head's first byte arrived (or the connection is new). */
static void head_started(struct pr_conn *c)
{
	if (c->got_bytes)
		return;
	c->got_bytes = 1;
	if (c->dl != DL_HEAD)
		conn_arm(c, DL_HEAD, c->door->lim.header_timeout_ms);
}

/* One step over the head phase. Returns 1 to go on, 0 to wait for more. */
static int pump_head(struct pr_conn *c)
{
	const struct pr_listen_limits *lim = &c->door->lim;
	struct pr_framing_error e;
	struct pr_head_info info;
	size_t end;

	/* Empty lines before a request line are skipped (RFC 9112 2.2). */
	if (!c->got_bytes && c->scan == 0 &&
	    (c->buf[0] == '\n' || c->buf[0] == '\r')) {
		if (c->buf[0] == '\r' && c->len < 2)
			return 0;
		if (c->buf[0] == '\r' && c->buf[1] != '\n') {
			e.status = 400;
			e.code = "bad_request";
			snprintf(e.message, sizeof(e.message),
				 "a bare CR before the request line");
			conn_reject(c, &e);
			return 0;
		}
		if (++c->blank_lines > MAX_BLANK_LINES) {
			e.status = 400;
			e.code = "bad_request";
			snprintf(e.message, sizeof(e.message),
				 "empty lines instead of a request line");
			conn_reject(c, &e);
			return 0;
		}
		conn_drop(c, c->buf[0] == '\r' ? 2 : 1);
		return 1;
	}
	head_started(c);
	end = pr_framing_head_end(c->buf, c->len, &c->scan);
	if (!end || end > lim->max_header_bytes) {
		if (c->len > lim->max_header_bytes) {
			e.status = 431;
			e.code = "header_too_large";
			snprintf(e.message, sizeof(e.message),
				 "the request head is larger than %zu bytes "
				 "(server.max_header_bytes)",
				 lim->max_header_bytes);
			conn_reject(c, &e);
		}
		return 0;
	}
	if (pr_framing_head(c->buf, end, lim->max_body_bytes,
			    pr_server_target_ok, &info, &e) < 0) {
		conn_reject(c, &e);
		return 0;
	}
	conn_release(c, end);
	c->scan = 0;
	c->got_bytes = 0;
	c->blank_lines = 0;
	switch (info.body) {
	case PR_BODY_NONE:
		conn_arm(c, DL_NONE, 0);
		break;
	case PR_BODY_LENGTH:
		c->phase = PH_BODY;
		c->left = info.length;
		conn_arm(c, DL_BODY, lim->body_timeout_ms);
		break;
	case PR_BODY_CHUNKED:
		c->phase = PH_CHUNK_SIZE;
		c->chunked = 0;
		conn_arm(c, DL_BODY, lim->body_timeout_ms);
		break;
	}
	return 1;
}

/* The CRLF (or LF) ending a chunk's data or the trailer section. */
static int pump_crlf(struct pr_conn *c, const char *what)
{
	struct pr_framing_error e;
	size_t n = 0;

	if (c->buf[0] == '\n')
		n = 1;
	else if (c->buf[0] == '\r' && c->len < 2)
		return 0;
	else if (c->buf[0] == '\r' && c->buf[1] == '\n')
		n = 2;
	if (!n) {
		e.status = 400;
		e.code = "bad_request";
		snprintf(e.message, sizeof(e.message), "%s", what);
		conn_reject(c, &e);
		return 0;
	}
	conn_release(c, n);
	return 1;
}

/* Passes what c->buf holds to evhttp as far as it checks out. */
static void conn_pump(struct pr_conn *c)
{
	const struct pr_listen_limits *lim = &c->door->lim;
	struct pr_framing_error e;

	while (!c->refused && c->len > 0) {
		switch (c->phase) {
		case PH_HEAD:
			if (!pump_head(c))
				return;
			break;
		case PH_BODY:
		case PH_CHUNK_DATA: {
			size_t k = c->len < c->left ? c->len : (size_t)c->left;

			conn_release(c, k);
			c->left -= k;
			if (c->left == 0) {
				if (c->phase == PH_BODY) {
					c->phase = PH_HEAD;
					conn_arm(c, DL_NONE, 0);
				} else {
					c->phase = PH_CHUNK_END;
				}
			}
			break;
		}
		case PH_CHUNK_SIZE: {
			size_t look = c->len < PR_FRAMING_MAX_CHUNK_LINE ?
					      c->len :
					      PR_FRAMING_MAX_CHUNK_LINE;
			const char *nl = memchr(c->buf, '\n', look);
			uint64_t size;

			if (!nl) {
				if (c->len >= PR_FRAMING_MAX_CHUNK_LINE) {
					e.status = 400;
					e.code = "bad_request";
					snprintf(
						e.message, sizeof(e.message),
						"a chunk-size line longer than "
						"%d bytes",
						PR_FRAMING_MAX_CHUNK_LINE);
					conn_reject(c, &e);
				}
				return;
			}
			if (pr_framing_chunk_size(c->buf,
						  (size_t)(nl - c->buf) + 1,
						  &size, &e) < 0) {
				conn_reject(c, &e);
				return;
			}
			if (size > lim->max_body_bytes - c->chunked) {
				e.status = 413;
				e.code = "payload_too_large";
				snprintf(e.message, sizeof(e.message),
					 "the body is larger than %zu bytes "
					 "(server.max_body_bytes)",
					 lim->max_body_bytes);
				conn_reject(c, &e);
				return;
			}
			c->chunked += size;
			conn_release(c, (size_t)(nl - c->buf) + 1);
			c->left = size;
			c->phase = size ? PH_CHUNK_DATA : PH_TRAILER;
			break;
		}
		case PH_CHUNK_END:
			if (!pump_crlf(c, "a chunk's data must be followed by "
					  "CRLF"))
				return;
			c->phase = PH_CHUNK_SIZE;
			break;
		case PH_TRAILER:
			if (!pump_crlf(c, "trailer fields are not accepted"))
				return;
			c->phase = PH_HEAD;
			conn_arm(c, DL_NONE, 0);
			break;
		}
	}
}

static int buf_reserve(struct pr_conn *c, size_t more)
{
	size_t n = c->cap ? c->cap : 4096;
	char *p;

	if (c->len + more <= c->cap)
		return 0;
	while (n < c->len + more)
		n *= 2;
	p = realloc(c->buf, n);
	if (!p)
		return -1;
	c->buf = p;
	c->cap = n;
	return 0;
}

/* The bufferevent's input buffer changed: bytes just read from the socket
 * (at its end) are taken out of evhttp's view, checked, and given back as
 * far as they pass. Runs before evhttp's read callback. */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info,
		     void *arg)
{
	struct pr_conn *c = arg;
	size_t add = info->n_added, total, keep;
	struct evbuffer *prefix = NULL;

	if (c->moving || add == 0)
		return;
	if (!c->admitted && conn_admit(c) < 0)
		return; /* freed */
	/* Body bytes arriving with nothing held back: they pass as they
	 * are (the common case of a large body). */
	if (!c->refused && c->len == 0 &&
	    (c->phase == PH_BODY || c->phase == PH_CHUNK_DATA) &&
	    add < c->left) {
		c->left -= add;
		return;
	}
	total = evbuffer_get_length(in);
	keep = total - add; /* given earlier, not yet read by evhttp */
	c->moving = 1;
	if (keep) {
		prefix = evbuffer_new();
		if (!prefix) {
			/* Cannot separate them: close rather than pass
			 * unchecked bytes. */
			evbuffer_drain(in, total);
			c->moving = 0;
			conn_refuse(c, W_REJECTED, 0, "other", "out of memory");
			return;
		}
		evbuffer_remove_buffer(in, prefix, keep);
	}
	if (c->refused || buf_reserve(c, add) < 0) {
		evbuffer_drain(in, add);
		if (!c->refused)
			conn_refuse(c, W_REJECTED, 0, "other", "out of memory");
	} else {
		evbuffer_remove(in, c->buf + c->len, add);
		c->len += add;
	}
	if (prefix) {
		evbuffer_add_buffer(in, prefix);
		evbuffer_free(prefix);
	}
	c->moving = 0;
	conn_pump(c);
}

/* The output buffer grew: an answer that evhttp writes while no request
 * of ours is out is one of its own (HTML): count and log it. */
static void on_output(struct evbuffer *out, const struct evbuffer_cb_info *info,
		      void *arg)
{
	struct pr_conn *c = arg;
	struct evbuffer_ptr pos;
	unsigned long held;
	char line[13];

	if (c->busy || info->n_added < 12 || c->refused)
		return;
	if (evbuffer_ptr_set(out, &pos,
			     evbuffer_get_length(out) - info->n_added,
			     EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(out, &pos, line, 12) != 12)
		return;
	line[12] = '\0';
	if (strncmp(line, "HTTP/1.", 7) != 0 ||
	    strncmp(line + 9, "100", 3) == 0)
		return;
	c->door->st.library_answers++;
	if (ratelog_take(&c->door->rl_library, &held))
		pr_warn("%s listener: libevent answered %s to %s itself "
			"(not JSON: please report)",
			c->door->l->name, line + 9, c->peer);
}

/* ------------------------------------------------------------ deadlines */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pr_conn *c = arg;
	const struct pr_listen_limits *lim = &c->door->lim;
	char msg[160];

	(void)fd;
	(void)what;
	switch (c->dl) {
	case DL_NONE:
		return;
	case DL_CLOSE:
		conn_close_now(c);
		return;
	case DL_IDLE:
		conn_refuse(c, W_IDLE, 0, "idle", "idle");
		return;
	case DL_HEAD:
		snprintf(msg, sizeof(msg),
			 "no complete request head within %d ms "
			 "(server.header_timeout_ms)",
			 lim->header_timeout_ms);
		conn_refuse(c, W_HEADER_TIMEOUT, c->got_bytes ? 408 : 0,
			    "request_timeout", msg);
		return;
	case DL_BODY:
		snprintf(msg, sizeof(msg),
			 "no complete request body within %d ms "
			 "(server.body_timeout_ms)",
			 lim->body_timeout_ms);
		conn_refuse(c, W_BODY_TIMEOUT, 408, "request_timeout", msg);
		return;
	}
}

/* ----------------------------------------------------------- requests */

/* A request of c has been answered (its answer written). */
static void on_complete(struct evhttp_request *req, void *arg)
{
	struct pr_conn *c = arg;
	struct pr_door *door = c->door;

	(void)req;
	c->busy = 0;
	c->since_ms = pr_mono_ms();
	TAILQ_REMOVE(&door->conns, c, link);
	TAILQ_INSERT_TAIL(&door->conns, c, link);
	if (c->refused)
		conn_arm(c, DL_CLOSE, 0);
	else if (c->phase == PH_HEAD && !c->got_bytes && c->len == 0)
		conn_arm(c, DL_IDLE, door->lim.idle_timeout_ms);
}

static struct pr_conn *conn_of(struct pr_door *door, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct pr_conn *c;

	if (!evcon)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd < 0 || (size_t)fd >= door->n_by_fd)
		return NULL;
	c = door->by_fd[fd];
	return c && c->evcon == evcon ? c : NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct pr_door *door = arg;
	struct pr_conn *c = conn_of(door, req);

	if (c) {
		c->busy = 1;
		evhttp_request_set_on_complete_cb(req, on_complete, c);
	}
	door->cb(req, door->cb_arg);
}

/* evhttp accepted a connection: its bufferevent is ours. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct pr_door *door = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
	struct pr_conn *c;

	if (!bev)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return bev; /* out of memory: evhttp's, unguarded */
	c->door = door;
	c->bev = bev;
	c->fd = -1;
	c->timer = evtimer_new(base, on_deadline, c);
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), on_output, c);
	if (!c->timer || !c->in_cb || !c->out_cb) {
		if (c->in_cb)
			evbuffer_remove_cb_entry(bufferevent_get_input(bev),
						 c->in_cb);
		if (c->out_cb)
			evbuffer_remove_cb_entry(bufferevent_get_output(bev),
						 c->out_cb);
		if (c->timer)
			event_free(c->timer);
		free(c);
		return bev;
	}
	/* Held until admission: tells us there whether evhttp kept it. */
	bufferevent_incref(bev);
	TAILQ_INSERT_TAIL(&door->pending, c, link);
	door->open++;
	door->backoff_ms = 0;
	if ((long)door->open >= door_ceiling(door) && !door->full) {
		door->full = 1;
		door_accept_update(door);
	}
	event_active(door->ev_admit, EV_TIMEOUT, 1);
	return bev;
}

/* ---------------------------------------------------- accept() errors */

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct pr_door *door = arg;

	(void)fd;
	(void)what;
	door->pausing = 0;
	door_accept_update(door);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct pr_door *door = door_of_http(arg);
	int e = EVUTIL_SOCKET_ERROR();
	unsigned long held = 0;
	struct timeval tv;

	(void)lev;
	if (!door)
		return;
	door->st.accept_errors++;
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		if (ratelog_take(&door->rl_accept, &held))
			pr_warn("%s listener: accept() failed: %s",
				door->l->name, strerror(e));
		return;
	}
	door->backoff_ms = door->backoff_ms ? door->backoff_ms * 2 :
					      BACKOFF_FIRST_MS;
	if (door->backoff_ms > BACKOFF_MAX_MS)
		door->backoff_ms = BACKOFF_MAX_MS;
	door->pausing = 1;
	door_accept_update(door);
	tv.tv_sec = door->backoff_ms / 1000;
	tv.tv_usec = (door->backoff_ms % 1000) * 1000;
	evtimer_add(door->ev_retry, &tv);
	if (ratelog_take(&door->rl_accept, &held)) {
		char more[96];

		held_note(held, more, sizeof(more));
		pr_warn("%s listener: accept() failed: %s (%zu connections "
			"open on this listener); not accepting for %d ms%s",
			door->l->name, strerror(e), door->open,
			door->backoff_ms, more);
	}
}

/* ----------------------------------------------------------- listeners */

static void door_free(struct pr_door *door)
{
	struct pr_conn *c;

	if (!door)
		return;
	for (size_t i = 0; i < sizeof(doors) / sizeof(doors[0]); i++)
		if (doors[i] == door)
			doors[i] = NULL;
	/* What evhttp still has was freed with it (closecb): the pending
	 * ones are ours to forget. */
	while ((c = TAILQ_FIRST(&door->pending)) != NULL)
		conn_admit(c);
	while ((c = TAILQ_FIRST(&door->conns)) != NULL)
		conn_free(c); /* not reached: evhttp_free closed them */
	if (door->ev_admit)
		event_free(door->ev_admit);
	if (door->ev_retry)
		event_free(door->ev_retry);
	for (size_t i = 0; door->slots && i < door->n_slots; i++) {
		while (door->slots[i]) {
			struct addr_slot *s = door->slots[i];

			door->slots[i] = s->next;
			free(s);
		}
	}
	free(door->slots);
	free(door->by_fd);
	free(door);
}

static void apply_limits(struct pr_listener *l)
{
	const struct pr_listen_limits *lim = &l->door->lim;
	int secs = lim->header_timeout_ms;

	if (lim->body_timeout_ms > secs)
		secs = lim->body_timeout_ms;
	if (lim->idle_timeout_ms > secs)
		secs = lim->idle_timeout_ms;
	/* evhttp's own timeout (reset at every byte) is left for the
	 * writing of answers and as a backstop: ours fire first. */
	secs = secs / 1000 + 5;
	evhttp_set_timeout(l->http, secs);
	evhttp_set_max_body_size(l->http, (ev_ssize_t)lim->max_body_bytes);
	evhttp_set_max_headers_size(l->http,
				    (ev_ssize_t)lim->max_header_bytes + 1024);
}

int pr_listener_open(struct pr_listener *l, struct event_base *base,
		     const char *name, const struct pr_listen *addr,
		     const struct pr_listen_limits *lim,
		     void (*cb)(struct evhttp_request *, void *), void *arg,
		     char *err, size_t errlen)
{
	struct evutil_addrinfo hints, *ai = NULL;
	struct pr_door *door;
	char port[16];
	size_t slots = 64, i;
	int rc;

	memset(l, 0, sizeof(*l));
	l->name = name;
	l->addr = *addr;
	door = calloc(1, sizeof(*door));
	l->http = evhttp_new(base);
	if (!door || !l->http) {
		free(door);
		snprintf(err, errlen, "%s listener: out of memory", name);
		goto fail;
	}
	l->door = door;
	door->l = l;
	door->base = base;
	door->lim = *lim;
	door->cb = cb;
	door->cb_arg = arg;
	TAILQ_INIT(&door->conns);
	TAILQ_INIT(&door->pending);
	while (slots < (size_t)lim->max_connections / 4 && slots < 65536)
		slots *= 2;
	door->n_slots = slots;
	door->slots = calloc(slots, sizeof(*door->slots));
	door->ev_admit = event_new(base, -1, 0, on_admit, door);
	door->ev_retry = evtimer_new(base, on_retry, door);
	if (!door->slots || !door->ev_admit || !door->ev_retry) {
		snprintf(err, errlen, "%s listener: out of memory", name);
		goto fail;
	}
	for (i = 0; i < sizeof(doors) / sizeof(doors[0]) && doors[i]; i++)
		;
	if (i == sizeof(doors) / sizeof(doors[0])) {
		snprintf(err, errlen, "%s listener: too many listeners", name);
		goto fail;
	}
	doors[i] = door;

	evhttp_set_allowed_methods(
		l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				 EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
				 EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_default_content_type(l->http, "application/json");
	apply_limits(l);
	evhttp_set_gencb(l->http, on_request, door);
	evhttp_set_bevcb(l->http, make_bev, door);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", addr->port);
	rc = evutil_getaddrinfo(addr->host, port, &hints, &ai);
	if (rc != 0 || !ai) {
		snprintf(err, errlen, "%s listener: cannot resolve %s: %s",
			 name, addr->host, evutil_gai_strerror(rc));
		goto fail;
	}
	door->lev = evconnlistener_new_bind(
		base, NULL, NULL,
		LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
			LEV_OPT_CLOSE_ON_FREE,
		LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!door->lev) {
		int e = errno ? errno : EADDRINUSE;

		snprintf(err, errlen, "%s listener: cannot listen on %s:%d: %s",
			 name, addr->host, addr->port, strerror(e));
		door_free(door);
		l->door = NULL;
		evhttp_free(l->http);
		l->http = NULL;
		return -e;
	}
	l->sock = evhttp_bind_listener(l->http, door->lev);
	if (!l->sock) {
		evconnlistener_free(door->lev);
		door->lev = NULL;
		snprintf(err, errlen, "%s listener: out of memory", name);
		goto fail;
	}
	evconnlistener_set_error_cb(door->lev, on_accept_error);
	pr_info("%s API listening on %s:%d (at most %d connections, %d per "
		"address)",
		name, addr->host, addr->port, lim->max_connections,
		lim->max_per_address);
	return 0;
fail:
	if (door && l->door) {
		door_free(door);
		l->door = NULL;
	}
	if (l->http)
		evhttp_free(l->http);
	l->http = NULL;
	return -ENOMEM;
}

void pr_listener_set_limits(struct pr_listener *l,
			    const struct pr_listen_limits *lim)
{
	struct pr_door *door = l->door;

	if (!door || !l->http)
		return;
	if (lim->max_connections != door->lim.max_connections ||
	    lim->max_per_address != door->lim.max_per_address)
		pr_info("%s listener: at most %d connections, %d per address",
			l->name, lim->max_connections, lim->max_per_address);
	door->lim = *lim;
	apply_limits(l);
	door->full = (long)door->open >= door_ceiling(door);
	door_accept_update(door);
}

void pr_listener_stop_accepting(struct pr_listener *l)
{
	if (l->http && l->sock) {
		evhttp_del_accept_socket(l->http, l->sock);
		l->sock = NULL;
		if (l->door) {
			l->door->lev = NULL;
			evtimer_del(l->door->ev_retry);
		}
	}
}

void pr_listener_close(struct pr_listener *l)
{
	if (l->http)
		evhttp_free(l->http);
	door_free(l->door);
	l->door = NULL;
	l->http = NULL;
	l->sock = NULL;
}

void pr_listener_get_stats(const struct pr_listener *l,
			   struct pr_listener_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!l->door)
		return;
	*st = l->door->st;
	st->open = l->door->open;
	st->max_connections = l->door->lim.max_connections;
	st->max_per_address = l->door->lim.max_per_address;
}

void pr_listeners_metrics(struct evbuffer *b, struct pr_listener *const *ls,
			  size_t n, long nofile, long reserve)
{
	struct pr_listener_stats st[4];

	if (n > 4)
		n = 4;
	for (size_t i = 0; i < n; i++)
		pr_listener_get_stats(ls[i], &st[i]);
	evbuffer_add_printf(
		b,
		"# HELP payroute_fd_limit Open file limit (RLIMIT_NOFILE).\n"
		"# TYPE payroute_fd_limit gauge\n"
		"payroute_fd_limit %ld\n"
		"# HELP payroute_fd_reserve Descriptors kept out of the "
		"listeners' connection caps.\n"
		"# TYPE payroute_fd_reserve gauge\n"
		"payroute_fd_reserve %ld\n",
		nofile, reserve);
#define PER_LISTENER(NAME, TYPE, HELP, FMT, EXPR)                              \
	do {                                                                   \
		evbuffer_add_printf(b, "# HELP " NAME " " HELP "\n"            \
				       "# TYPE " NAME " " TYPE "\n");          \
		for (size_t i = 0; i < n; i++)                                 \
			evbuffer_add_printf(b,                                 \
					    NAME "{listener=\"%s\"} " FMT      \
						 "\n",                         \
					    ls[i]->name, EXPR);                \
	} while (0)
	PER_LISTENER("payroute_http_connections_open", "gauge",
		     "Client connections open.", "%zu", st[i].open);
	PER_LISTENER("payroute_http_connections_max", "gauge",
		     "Cap on open client connections.", "%d",
		     st[i].max_connections);
	PER_LISTENER("payroute_http_connections_max_per_address", "gauge",
		     "Cap on open connections from one client address.", "%d",
		     st[i].max_per_address);
	PER_LISTENER("payroute_http_connections_accepted_total", "counter",
		     "Client connections accepted.", "%lu", st[i].accepted);
	PER_LISTENER("payroute_http_connections_evicted_total", "counter",
		     "Idle or unfinished connections closed to make room at "
		     "the cap.",
		     "%lu", st[i].evicted);
	PER_LISTENER("payroute_http_accept_errors_total", "counter",
		     "accept() failures (out of descriptors...).", "%lu",
		     st[i].accept_errors);
	PER_LISTENER("payroute_http_library_answers_total", "counter",
		     "Answers libevent wrote on its own (not JSON); should "
		     "stay 0.",
		     "%lu", st[i].library_answers);
#undef PER_LISTENER
	evbuffer_add_printf(
		b, "# HELP payroute_http_connections_refused_total Connections "
		   "answered 503 and closed, by reason.\n"
		   "# TYPE payroute_http_connections_refused_total counter\n");
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(
			b,
			"payroute_http_connections_refused_total{listener=\"%s"
			"\",reason=\"listener_full\"} %lu\n"
			"payroute_http_connections_refused_total{listener=\"%s"
			"\",reason=\"address_full\"} %lu\n",
			ls[i]->name, st[i].refused_listener_full, ls[i]->name,
			st[i].refused_address_full);
	evbuffer_add_printf(
		b, "# HELP payroute_http_connections_closed_total Connections "
		   "closed by a deadline.\n"
		   "# TYPE payroute_http_connections_closed_total counter\n");
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(
			b,
			"payroute_http_connections_closed_total{listener=\"%s"
			"\",reason=\"header_timeout\"} %lu\n"
			"payroute_http_connections_closed_total{listener=\"%s"
			"\",reason=\"body_timeout\"} %lu\n"
			"payroute_http_connections_closed_total{listener=\"%s"
			"\",reason=\"idle\"} %lu\n",
			ls[i]->name, st[i].header_timeouts, ls[i]->name,
			st[i].body_timeouts, ls[i]->name, st[i].idle_closed);
	evbuffer_add_printf(
		b, "# HELP payroute_http_requests_rejected_total Requests the "
		   "front door refused (bad framing, too large...), by error "
		   "code.\n"
		   "# TYPE payroute_http_requests_rejected_total counter\n");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < 8; k++)
			evbuffer_add_printf(
				b,
				"payroute_http_requests_rejected_total{"
				"listener=\"%s\",code=\"%s\"} %lu\n",
				ls[i]->name, reject_codes[k],
				st[i].rejected[k]);
}

/* ------------------------------------------------------------- answers */

const char *pr_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
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
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Entity";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

void pr_http_reply_raw(struct evhttp_request *req, int status,
		       const char *content_type, const void *body, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);
	/* looked for before ours are added: a list of what the handler set,
	 * usually none, not of six */
	int has_csp = evhttp_find_header(out, "Content-Security-Policy") !=
		      NULL;

	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "X-Frame-Options", "DENY");
	if (!has_csp)
		evhttp_add_header(out, "Content-Security-Policy", API_CSP);
	/* Written where evhttp sends it from: no buffer of our own to
	 * allocate, fill and move. */
	if (len)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(req, status, pr_http_reason(status), NULL);
}

json_t *pr_http_error_body(const char *code, const char *field, const char *msg)
{
	char clean[1024];
	json_t *e;

	pr_utf8_sanitize(msg, strlen(msg), clean, sizeof(clean));
	e = json_pack("{s:s,s:s}", "code", code, "message", clean);
	if (e && field) {
		char f[256];

		pr_utf8_sanitize(field, strlen(field), f, sizeof(f));
		json_object_set_new(e, "field", json_string(f));
	}
	return e ? json_pack("{s:o}", "error", e) : NULL;
}

void pr_http_reply_json(struct evhttp_request *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (!text) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\","
					  "\"message\":\"out of memory\"}}";

		pr_http_reply_raw(req, 500, "application/json", oom,
				  sizeof(oom) - 1);
	} else {
		pr_http_reply_raw(req, status, "application/json", text,
				  strlen(text));
	}
	free(text);
	json_decref(body);
}

void pr_http_reply_error(struct evhttp_request *req, int status,
			 const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_http_reply_json(req, status, pr_http_error_body(code, NULL, msg));
}

const char *pr_http_path(struct evhttp_request *req, char *buf, size_t len)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	size_t n = 0;
	char *dec;

	if (!path || !*path)
		path = "/";
	dec = evhttp_uridecode(path, 0, &n);
	if (!dec)
		return NULL;
	/* %00 would cut the path short; control characters and bytes that
	 * are not UTF-8 cannot be answered in JSON, nor mean anything. */
	if (strlen(dec) != n || !pr_utf8_valid(dec, n) || n >= len) {
		free(dec);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)dec[i] < 0x20 || dec[i] == 0x7f) {
			free(dec);
			return NULL;
		}
	}
	memcpy(buf, dec, n + 1);
	free(dec);
	return buf;
}

const char *pr_http_method(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	default:
		return "OTHER";
	}
}

/* The path of the first integer beyond int64 in j (parsed with
 * JSON_DECODE_INT_AS_REAL), appended to path; 1 when found. */
static int find_big_int(json_t *j, char *path, size_t len)
{
	size_t used = strlen(path);

	if (json_is_real(j)) {
		double v = json_real_value(j);

		return v >= 9223372036854775807.0 || v < -9223372036854775808.0;
	}
	if (json_is_object(j)) {
		const char *k;
		json_t *v;

		json_object_foreach(j, k, v) {
			snprintf(path + used, len - used, "%s%s",
				 used ? "." : "", k);
			if (find_big_int(v, path, len))
				return 1;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;

		json_array_foreach(j, i, v) {
			snprintf(path + used, len - used, "[%zu]", i);
			if (find_big_int(v, path, len))
				return 1;
		}
	}
	path[used] = '\0';
	return 0;
}

/* 1 when the Content-Type ct is type (any parameters after ';'). The
 * JSON bodies take application/json, and application/merge-patch+json
 * (RFC 7396) for the PATCH that is one. */
static int media_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	return strncasecmp(ct, type, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

json_t *pr_http_read_json_field(struct evhttp_request *req, int *status,
				char *err, size_t errlen, char *field,
				size_t fieldlen)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	size_t len = in ? evbuffer_get_length(in) : 0;
	json_error_t jerr;
	const char *text;
	json_t *j;

	if (field && fieldlen)
		field[0] = '\0';
	if (!ct || (!media_type_is(ct, "application/json") &&
		    !media_type_is(ct, "application/merge-patch+json"))) {
		char clean[64];

		*status = 415;
		if (ct)
			pr_utf8_sanitize(ct, strlen(ct), clean, sizeof(clean));
		snprintf(err, errlen,
			 "the body must be JSON (Content-Type: "
			 "application/json), got %s",
			 ct ? clean : "no Content-Type");
		return NULL;
	}
	if (len == 0) {
		*status = 400;
		snprintf(err, errlen,
			 "the body is empty; a JSON object is "
			 "expected");
		return NULL;
	}
	text = (const char *)evbuffer_pullup(in, -1);
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j && strstr(jerr.text, "too big")) {
		char path[256] = "";
		json_t *r = json_loadb(
			text, len,
			JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);

		if (r && find_big_int(r, path, sizeof(path)) && path[0]) {
			json_decref(r);
			*status = 400;
			snprintf(err, errlen,
				 "%s: an integer beyond 64 bits (at most "
				 "9223372036854775807)",
				 path);
			if (field && fieldlen)
				snprintf(field, fieldlen, "%s", path);
			return NULL;
		}
		json_decref(r);
	}
	if (!j) {
		*status = 400;
		snprintf(err, errlen,
			 "malformed JSON at line %d, column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*status = 400;
		snprintf(err, errlen, "the body must be a JSON object");
		return NULL;
	}
	return j;
}
