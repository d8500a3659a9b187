/*
 * server.h - the HTTP listeners (libevent's evhttp behind a front door of
 * our own) and the JSON answers shared by the merchant and admin APIs.
 *
 * Every answer has the security headers (nosniff, no-referrer, framing
 * denied, a Content-Security-Policy, no-store); every error answer, ours
 * or the front door's, has the body
 * {"error":{"code":"...","message":"...","field":"..."}} ("field" only when
 * one field is at fault).
 *
 * The front door (server.c) stands between the listening socket and evhttp:
 * it counts the connections of each listener and of each client address
 * and refuses those over the caps, gives every request head and body a
 * deadline for the whole of it, backs off when accept() runs out of
 * descriptors, and checks every request's framing (framing.h) before
 * evhttp sees a byte of it.
 */
#ifndef PR_SERVER_H
#define PR_SERVER_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "runtime/config.h"

/* What one listener lets its clients do (struct pr_config holds what the
 * operator wrote; pr_listen_limits_derive turns it into these). */
struct pr_listen_limits {
	int max_connections;	 /* open at once; over it: evict or 503 */
	int max_per_address;	 /* open at once from one client address */
	int header_timeout_ms;	 /* whole request head */
	int body_timeout_ms;	 /* whole request body, from its head's end */
	int idle_timeout_ms;	 /* between two requests of a connection */
	size_t max_header_bytes; /* request line and headers: 431 beyond */
	size_t max_body_bytes;	 /* 413 beyond */
};

/* The counters of one listener (all since start). */
struct pr_listener_stats {
	size_t open; /* connections open now */
	int max_connections, max_per_address;
	unsigned long accepted;
	unsigned long refused_listener_full; /* answered 503 */
	unsigned long refused_address_full;  /* answered 503 */
	unsigned long evicted; /* idle or unfinished, closed to make room */
	unsigned long header_timeouts, body_timeouts, idle_closed;
	unsigned long rejected[8]; /* by pr_framing_error code: see server.c */
	unsigned long accept_errors;   /* accept() failures (EMFILE...) */
	unsigned long library_answers; /* answers evhttp wrote itself */
};

struct pr_door; /* the front door's state (server.c) */

struct pr_listener {
	const char *name; /* "merchant" or "admin", for log lines and metrics */
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct pr_listen addr;
	struct pr_door *door;
};

/* Raises RLIMIT_NOFILE's soft limit to its hard limit (logged). Returns
 * the soft limit in force afterwards. */
long pr_fd_limit_raise(void);

/* The limits of both listeners from cfg and the descriptor limit nofile:
 * the options that are 0 get their defaults, derived from nofile (see
 * doc/payrouted.conf.5), and caps that do not fit in nofile less the
 * reserve are lowered, with a line in note (empty when nothing was
 * lowered). *reserve gets the descriptors kept out of the caps. */
void pr_listen_limits_derive(const struct pr_config *cfg, long nofile,
			     struct pr_listen_limits *merchant,
			     struct pr_listen_limits *admin, long *reserve,
			     char *note, size_t notelen);

/* Binds addr and routes every request that passes the front door to cb.
 * Returns 0 or a negative errno with err saying which address could not
 * be bound and why. */
int pr_listener_open(struct pr_listener *l, struct event_base *base,
		     const char *name, const struct pr_listen *addr,
		     const struct pr_listen_limits *lim,
		     void (*cb)(struct evhttp_request *, void *), void *arg,
		     char *err, size_t errlen);
/* New limits (a reload): caps apply to the next connections, deadlines to
 * the next heads and bodies; open connections are not closed. */
void pr_listener_set_limits(struct pr_listener *l,
			    const struct pr_listen_limits *lim);
/* Closes the listening socket; open connections carry on. */
void pr_listener_stop_accepting(struct pr_listener *l);
void pr_listener_close(struct pr_listener *l);
void pr_listener_get_stats(const struct pr_listener *l,
			   struct pr_listener_stats *st);

/* The front door's pr_target_ok (framing.h): 1 when evhttp's URI parser
 * (evhttp_uri_parse_with_flags, EVHTTP_URI_NONCONFORMANT, as evhttp reads
 * a request line) accepts target, else 0. */
int pr_server_target_ok(const char *target);

/* Appends the listeners' metrics (Prometheus text) to b; nofile and
 * reserve are the descriptor limit and the reserve in force. */
void pr_listeners_metrics(struct evbuffer *b, struct pr_listener *const *ls,
			  size_t n, long nofile, long reserve);

/* {"error":{"code":code,"message":msg,"field":field}} (field may be
 * NULL), a new reference; msg is made valid UTF-8 first ('?' for what is
 * not), so the answer can always be built. */
json_t *pr_http_error_body(const char *code, const char *field,
			   const char *msg);

/* Sends body (the reference is stolen) with the given status. */
void pr_http_reply_json(struct evhttp_request *req, int status, json_t *body);
void pr_http_reply_error(struct evhttp_request *req, int status,
			 const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sends body with the given status and Content-Type, and the security
 * headers: Cache-Control: no-store, X-Content-Type-Options: nosniff,
 * Referrer-Policy: no-referrer, X-Frame-Options: DENY and, unless the
 * caller set one, Content-Security-Policy: default-src 'none';
 * frame-ancestors 'none'. */
void pr_http_reply_raw(struct evhttp_request *req, int status,
		       const char *content_type, const void *body, size_t len);
const char *pr_http_reason(int status);

/* The request's path (percent-decoded, without query) copied into buf;
 * returns buf, or NULL when the URI cannot be parsed, or its path decodes
 * to a NUL, a control character or bytes that are not UTF-8. */
const char *pr_http_path(struct evhttp_request *req, char *buf, size_t len);
const char *pr_http_method(struct evhttp_request *req);

/* Reads the request body as a JSON object. Returns the object (a new
 * reference) or NULL with *status set (415 wrong Content-Type, 400 empty or
 * malformed body, naming line and column) and err filled; when the body
 * holds an integer beyond int64, field (size fieldlen, may be NULL) gets
 * its path ("amount", "payee.account", "items[2]"), and is "" otherwise.
 * Handlers call it through pr_api_read_body (apiutil.h), which answers. */
json_t *pr_http_read_json_field(struct evhttp_request *req, int *status,
				char *err, size_t errlen, char *field,
				size_t fieldlen);

#endif
