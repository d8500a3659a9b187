/*
 * httpc.h - the HTTP client the core uses to talk to channels: libcurl's
 * multi interface driven by the daemon's libevent loop (socket and timer
 * callbacks), with per-request timeouts, connection reuse and TLS
 * verification on by default. Drivers never see it: they describe a
 * request (struct payroute_http_req) and parse the response.
 */
#ifndef PR_HTTPC_H
#define PR_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "domain/drvobj.h"
#include "base/netguard.h"

struct pr_httpc;

struct pr_httpc_opts {
	int timeout_ms; /* whole request, unless the request says */
	int connect_timeout_ms;
	int verify_tls;	     /* 1 by default */
	const char *ca_file; /* NULL: the system's */
	int max_connections; /* total connections kept */
};

/* What came back. `sent` says whether the request may have reached the
 * server: 0 when it certainly did not (DNS, connect or TLS failure), 1
 * otherwise (a timeout after sending leaves the outcome unknown). */
struct pr_httpc_result {
	int ok; /* a complete HTTP response arrived */
	int status;
	int sent;
	int refused;	   /* pr_httpc_send_guarded: the guard refused every
			address (error says why); nothing connected */
	const char *error; /* curl's message when !ok */
	const struct payroute_header *headers;
	size_t n_headers;
	const char *body; /* NUL-terminated */
	size_t body_len;
	double total_ms;
};

/* res and everything it points to is valid during the callback only. */
typedef void (*pr_httpc_cb)(const struct pr_httpc_result *res, void *arg);

struct pr_httpc *pr_httpc_new(struct event_base *base,
			      const struct pr_httpc_opts *opts);
/* Aborts pending requests (their callbacks are called with !ok, sent=1). */
void pr_httpc_free(struct pr_httpc *c);

/* Sends req (copied: the caller may clear it on return). Returns 0, and
 * then cb is called exactly once, from the loop, never from inside
 * pr_httpc_send; or a negative errno (-EINVAL: no URL or callback, a bad
 * method, CR/LF in the URL or a header; -ENOMEM; -ESHUTDOWN while the client
 * is being freed), and then cb is never called. Callbacks may send again and
 * may free the client. */
int pr_httpc_send(struct pr_httpc *c, const struct payroute_http_req *req,
		  pr_httpc_cb cb, void *arg);

/* pr_httpc_send for a destination someone else chose (a merchant's
 * notify_url): every address libcurl is about to connect to is judged by
 * guard (pr_netguard_check; guard is copied) before the socket is opened
 * (CURLOPT_OPENSOCKETFUNCTION), and a reused connection's peer before the
 * request is sent (CURLOPT_PREREQFUNCTION; libcurl older than 7.80
 * takes a fresh connection instead). No proxy is used, so that the
 * address judged is the one connected to. When every address is refused
 * the result has !ok, sent 0, refused 1 and error saying why. */
int pr_httpc_send_guarded(struct pr_httpc *c,
			  const struct payroute_http_req *req,
			  const struct pr_netguard *guard, pr_httpc_cb cb,
			  void *arg);

/* pr_httpc_send, with the response body written to fd (from its current
 * offset; the caller owns fd and keeps it open until cb) instead of being
 * held in memory, at most max_bytes of it (0: no limit): for channel bills
 * of any size. In the result body is "" and body_len the bytes written;
 * a body over the limit or a failed write ends the transfer with !ok. */
int pr_httpc_send_to_fd(struct pr_httpc *c, const struct payroute_http_req *req,
			int fd, uint64_t max_bytes, pr_httpc_cb cb, void *arg);

/* Requests in flight. */
size_t pr_httpc_pending(const struct pr_httpc *c);

#endif
