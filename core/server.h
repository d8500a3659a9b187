/*
 * server.h - HTTP listeners on libevent's evhttp and JSON replies. Every
 * error answer has the body {"error":{"code":"...","message":"..."}}.
 */
#ifndef PR_SERVER_H
#define PR_SERVER_H

#include <stddef.h>

#include <event2/http.h>
#include <jansson.h>

#include "config.h"

struct pr_listener {
	const char *name; /* "merchant" or "admin", for log lines */
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct pr_listen addr;
};

/* Binds addr and routes every request to cb. Returns 0 or a negative errno
 * with err saying which address could not be bound and why. */
int pr_listener_open(struct pr_listener *l, struct event_base *base,
		     const char *name, const struct pr_listen *addr,
		     size_t max_body,
		     void (*cb)(struct evhttp_request *, void *), void *arg,
		     char *err, size_t errlen);
void pr_listener_set_max_body(struct pr_listener *l, size_t max_body);
/* Closes the listening socket; open connections carry on. */
void pr_listener_stop_accepting(struct pr_listener *l);
void pr_listener_close(struct pr_listener *l);

/* Sends body (the reference is stolen) with the given status. */
void pr_http_reply_json(struct evhttp_request *req, int status, json_t *body);
void pr_http_reply_error(struct evhttp_request *req, int status,
			 const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void pr_http_reply_raw(struct evhttp_request *req, int status,
		       const char *content_type, const void *body, size_t len);
const char *pr_http_reason(int status);

/* The request's path (decoded, without query) copied into buf; returns
 * buf, or NULL when the URI cannot be parsed. */
const char *pr_http_path(struct evhttp_request *req, char *buf, size_t len);
const char *pr_http_method(struct evhttp_request *req);

/* Reads the request body as a JSON object. Returns the object (a new
 * reference) or NULL with *status set (415 wrong Content-Type, 400 empty or
 * malformed body, naming line and column) and err filled. */
json_t *pr_http_read_json(struct evhttp_request *req, int *status, char *err,
			  size_t errlen);

#endif
