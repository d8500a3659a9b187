/*
 * apiutil.h - the small pieces every JSON API handler uses: error answers
 * ({"error": {"code", "message", "field"}}: every handler of both
 * listeners answers its errors through these), a failed statement's
 * SQLSTATE turned into the right status, 405 with Allow (sent by the route
 * tables, admin.c), request headers and query parameters, checks of header
 * and field text, the JSON body, and the audit's actor (the authenticated
 * operator) and note (X-Payroute-Note) of an admin write.
 *
 * Every function that answers sends the answer through pr_request_reply, so
 * the request is released: the caller must not touch r afterwards.
 */
#ifndef PR_APIUTIL_H
#define PR_APIUTIL_H

#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>

#include "runtime/daemon.h"

struct evkeyvalq;

/* The longest X-Payroute-Note (bytes, no control characters); also the
 * longest note a body may carry where an API takes one. */
#define PR_API_MAX_NOTE 512

/* Answers {"error": {"code": code, "message": the formatted text,
 * "field": field}} with the given status. field (the offending field or
 * header) may be NULL: then there is no "field". The message is cut at 767
 * bytes. Answers r. */
void pr_api_reply_err(struct pr_request *r, int status, const char *code,
		      const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* pr_api_reply_err with a va_list. */
void pr_api_vreply_err(struct pr_request *r, int status, const char *code,
		       const char *field, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/* 400 "invalid_field" naming field (not NULL), with the formatted message.
 * Answers r. */
void pr_api_reply_field(struct pr_request *r, const char *field,
			const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* 503 "store_unavailable": PostgreSQL cannot be reached. Answers r. */
void pr_api_store_unavailable(struct pr_request *r);

/* Copies into state the SQLSTATE of a db.c error text
 * "message (SQLSTATE xxxxx)"; state is "" when err is NULL or has none. */
void pr_api_err_sqlstate(const char *err, char state[6]);

/* Answers a failed statement by its SQLSTATE (pr_api_err_sqlstate):
 *   none, 08xxx, 53xxx, 57xxx, 40001, 40P01  503 store_unavailable (warned)
 *   23514, 23502                             400 constraint_violation
 *   23505                                    409 conflict
 *   23503                                    409 in_use
 *   P0002                                    404 not_found
 *   22xxx                                    400 invalid_value
 *   anything else                            500 internal (logged as error)
 * The messages name the statement (what) and the kind of failure, never
 * the store's own text, which goes to the log (info for 4xx). prefix
 * names the part for the log line ("policy", "merchants"...), what names
 * the statement ("create channel"). Answers r. */
void pr_api_reply_db_error(struct pr_request *r, const char *prefix,
			   const char *what, const char *err);

/* A failed statement that is the request's fault rather than the
 * store's: SQLSTATE class 22 (data exception: a value out of range or
 * malformed) or 23 (integrity constraint violation). Returns the status
 * to answer (409 for 23505, a unique violation; 400 otherwise), or 0 for
 * any other error (the store's trouble: 503). field is set to the API
 * field the error's column, or its constraint's column by PostgreSQL's
 * naming (<table>_<column>_check), maps to through map: pairs of
 * {column, field} ending with NULL ("payee_name", "payee.name", ...,
 * NULL); "" when the column is not in map or not known. */
int pr_api_store_refusal(const char *err, const char *const *map, char *field,
			 size_t len);

/* 405 "method_not_allowed" with an Allow header (allowed: "GET, POST").
 * Answers r. */
void pr_api_method_not_allowed(struct pr_request *r, const char *allowed);

/* Runs the read sql with its n parameters p on the daemon's pool; cb gets
 * r as its argument and answers it. When the query cannot be started,
 * answers 503 "store_unavailable" at once (cb is then never called). */
void pr_api_query(struct pr_request *r, const char *sql, int n,
		  const char *const *p, pr_db_cb cb);

/* Runs a heavy read that may be served a little stale (lists, reports, the
 * dashboard) through the read router (runtime/reads.h): on the read replica
 * while it is within database.read_max_lag_ms, else on the primary; the
 * answer's X-Payroute-Read-Source header says which. cb gets arg. Returns
 * 0, or a negative errno when it could not be started (cb is then never
 * called and r is not answered). Never for a read that decides a write. */
int pr_api_read(struct pr_request *r, const char *sql, int n,
		const char *const *p, pr_db_cb cb, void *arg);

/* Parses the query string of r into args (TAILQ_INIT'ed here; the caller
 * evhttp_clear_headers them after a 0). Returns 0, or -EINVAL after
 * answering 400 "bad_request" (args is then empty). */
int pr_api_query_args(struct pr_request *r, struct evkeyvalq *args);

/* Copies into out the value of query parameter name of r's URI: 0, or
 * -EINVAL when the query string does not parse, or the parameter is
 * missing, empty, or len bytes or longer (out is then ""). Answers
 * nothing: the caller says what the parameter should be. */
int pr_api_query_param(struct pr_request *r, const char *name, char *out,
		       size_t len);

/* The value of the request header name, or NULL. Points into the request:
 * valid as long as r. */
const char *pr_api_req_header(struct pr_request *r, const char *name);

/* 1 when s is 1 to max bytes of printable ASCII (0x20..0x7e); max 0: any
 * length. 0 otherwise. */
int pr_api_printable(const char *s, size_t max);

/* 1 when s is at most max bytes without control characters (below 0x20
 * and 0x7f; UTF-8 passes); 0 otherwise. "" is fine. */
int pr_api_text_ok(const char *s, size_t max);

/* Reads the request body as a JSON object. Returns a new reference (the
 * caller json_decref's it), or NULL after answering 415
 * "unsupported_media_type", 400 "bad_request", or 400 "invalid_field"
 * naming an integer beyond int64. */
json_t *pr_api_read_body(struct pr_request *r);

/* The actor of an audit row written for r: the authenticated operator's
 * name (r->who, filled by the admin router), or "payrouted" for a request
 * no operator made. Every audit writer takes its actor from here; the
 * X-Payroute-Actor header of earlier versions is not read. Points into r. */
const char *pr_api_actor(const struct pr_request *r);

/* The audit fields of an admin write: actor, pr_api_actor(r) (never
 * NULL); note, X-Payroute-Note (at most PR_API_MAX_NOTE bytes without
 * control characters) or NULL when absent. Both are valid as long as r.
 * Returns 0, or -EINVAL after answering 400 "bad_request" that names the
 * header. */
int pr_api_audit_headers(struct pr_request *r, const char **actor,
			 const char **note);

/* The client's address of r ("?" when unknown) into buf; returns buf. */
const char *pr_api_client_addr(struct pr_request *r, char *buf, size_t len);

#endif
