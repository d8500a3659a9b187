/*
 * apiutil.c - the small pieces the JSON API handlers share (the policy_*.c
 * files, merchants.c, outbox.c, payments.c, refunds.c...): one shape of
 * error answer, one reading of a failed statement's SQLSTATE, one check of
 * the audit headers, a read that answers 503 when it cannot start.
 * Nothing here keeps state; every answer goes out through
 * pr_request_reply.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "runtime/log.h"
#include "runtime/server.h"

void pr_api_vreply_err(struct pr_request *r, int status, const char *code,
		       const char *field, const char *fmt, va_list ap)
{
	char msg[768];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pr_request_reply(r, status, pr_http_error_body(code, field, msg));
}

void pr_api_reply_err(struct pr_request *r, int status, const char *code,
		      const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pr_api_vreply_err(r, status, code, field, fmt, ap);
	va_end(ap);
}

void pr_api_reply_field(struct pr_request *r, const char *field,
			const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pr_api_vreply_err(r, 400, "invalid_field", field, fmt, ap);
	va_end(ap);
}

void pr_api_store_unavailable(struct pr_request *r)
{
	pr_api_reply_err(r, 503, "store_unavailable", NULL,
			 "the store (PostgreSQL) is unavailable; retry later");
}

void pr_api_err_sqlstate(const char *err, char state[6])
{
	const char *p = err ? strstr(err, "(SQLSTATE ") : NULL;

	state[0] = '\0';
	if (p && strlen(p) >= 16) {
		memcpy(state, p + 10, 5);
		state[5] = '\0';
	}
}

void pr_api_reply_db_error(struct pr_request *r, const char *prefix,
			   const char *what, const char *err)
{
	char st[6];

	pr_api_err_sqlstate(err, st);
	if (!st[0] || strncmp(st, "08", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strcmp(st, "40001") == 0 ||
	    strcmp(st, "40P01") == 0) {
		pr_warn("%s: %s: %s", prefix, what,
			err ? err : "store unavailable");
		pr_api_store_unavailable(r);
		return;
	}
	/* The store's own words (table, constraint and column names,
	 * values) stay in the log. */
	if (strcmp(st, "23514") == 0 || strcmp(st, "23502") == 0) {
		pr_info("%s: %s refused by the store: %s", prefix, what, err);
		pr_api_reply_err(r, 400, "constraint_violation", NULL,
				 "%s: a value is missing or out of range",
				 what);
	} else if (strcmp(st, "23505") == 0) {
		pr_info("%s: %s refused by the store: %s", prefix, what, err);
		pr_api_reply_err(r, 409, "conflict", NULL,
				 "%s: it already exists", what);
	} else if (strcmp(st, "23503") == 0) {
		pr_info("%s: %s refused by the store: %s", prefix, what, err);
		pr_api_reply_err(r, 409, "in_use", NULL,
				 "%s: something else refers to it, or it "
				 "refers to something that does not exist",
				 what);
	} else if (strcmp(st, "P0002") == 0) {
		pr_info("%s: %s: %s", prefix, what, err);
		pr_api_reply_err(r, 404, "not_found", NULL, "%s: not found",
				 what);
	} else if (strncmp(st, "22", 2) == 0) {
		pr_info("%s: %s refused by the store: %s", prefix, what, err);
		pr_api_reply_err(r, 400, "invalid_value", NULL,
				 "%s: a value is out of range or malformed",
				 what);
	} else {
		pr_err("%s: %s: %s", prefix, what, err);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "%s failed (SQLSTATE %s); see the log", what,
				 st);
	}
}

/* Copies into out the value of ", KEY NAME" inside err's "(SQLSTATE
 * ...)" part; "" when absent. */
static void sqlstate_part(const char *err, const char *key, char *out,
			  size_t len)
{
	const char *p = err ? strstr(err, "(SQLSTATE ") : NULL;
	size_t n = 0;

	out[0] = '\0';
	if (!p || !(p = strstr(p, key)))
		return;
	p += strlen(key);
	while (p[n] && p[n] != ',' && p[n] != ')' && n + 1 < len)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

int pr_api_store_refusal(const char *err, const char *const *map, char *field,
			 size_t len)
{
	char st[6], col[64], cons[64];

	field[0] = '\0';
	pr_api_err_sqlstate(err, st);
	if (strncmp(st, "22", 2) != 0 && strncmp(st, "23", 2) != 0)
		return 0;
	sqlstate_part(err, ", column ", col, sizeof(col));
	sqlstate_part(err, ", constraint ", cons, sizeof(cons));
	for (size_t i = 0; map && map[i] && map[i + 1]; i += 2) {
		size_t n = strlen(map[i]), c = strlen(cons);

		/* the column itself, or <table>_<column>_check */
		if (strcmp(col, map[i]) == 0 ||
		    (c > n + 7 && strcmp(cons + c - 6, "_check") == 0 &&
		     strncmp(cons + c - 6 - n, map[i], n) == 0 &&
		     cons[c - 7 - n] == '_')) {
			snprintf(field, len, "%s", map[i + 1]);
			break;
		}
	}
	return strcmp(st, "23505") == 0 ? 409 : 400;
}

void pr_api_method_not_allowed(struct pr_request *r, const char *allowed)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow",
			  allowed);
	pr_api_reply_err(r, 405, "method_not_allowed", NULL,
			 "%s is not allowed on %s (allowed: %s)",
			 pr_http_method(r->req), r->path, allowed);
}

void pr_api_query(struct pr_request *r, const char *sql, int n,
		  const char *const *p, pr_db_cb cb)
{
	if (pr_db_query(r->d->db, sql, n, p, cb, r) < 0)
		pr_api_store_unavailable(r);
}

int pr_api_read(struct pr_request *r, const char *sql, int n,
		const char *const *p, pr_db_cb cb, void *arg)
{
	return pr_reads_query(r->d->reads, sql, n, p, 0, &r->read_src, cb, arg);
}

int pr_api_query_args(struct pr_request *r, struct evkeyvalq *args)
{
	const char *q =
		evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));

	TAILQ_INIT(args);
	if (q && evhttp_parse_query_str(q, args) < 0) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "the query string cannot be parsed");
		return -EINVAL;
	}
	return 0;
}

int pr_api_query_param(struct pr_request *r, const char *name, char *out,
		       size_t len)
{
	const char *qs = strchr(evhttp_request_get_uri(r->req), '?');
	struct evkeyvalq q;
	const char *v;
	int rc = -EINVAL;

	TAILQ_INIT(&q);
	if (len)
		out[0] = '\0';
	if (qs && evhttp_parse_query_str(qs + 1, &q) == 0 &&
	    (v = evhttp_find_header(&q, name)) && *v && strlen(v) < len) {
		snprintf(out, len, "%s", v);
		rc = 0;
	}
	evhttp_clear_headers(&q);
	return rc;
}

const char *pr_api_req_header(struct pr_request *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req),
				  name);
}

int pr_api_printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || (max && n > max))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	}
	return 1;
}

int pr_api_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	}
	return 1;
}

json_t *pr_api_read_body(struct pr_request *r)
{
	char err[384], field[256];
	int status = 400;
	json_t *j = pr_http_read_json_field(r->req, &status, err, sizeof(err),
					    field, sizeof(field));

	if (!j && field[0])
		pr_api_reply_err(r, 400, "invalid_field", field, "%s", err);
	else if (!j)
		pr_api_reply_err(r, status,
				 status == 415 ? "unsupported_media_type" :
						 "bad_request",
				 NULL, "%s", err);
	return j;
}

const char *pr_api_actor(const struct pr_request *r)
{
	return r->who.via != PR_VIA_NONE && r->who.name[0] ? r->who.name :
							     "payrouted";
}

int pr_api_audit_headers(struct pr_request *r, const char **actor,
			 const char **note)
{
	*actor = pr_api_actor(r);
	*note = pr_api_req_header(r, "X-Payroute-Note");
	if (*note && !pr_api_text_ok(*note, PR_API_MAX_NOTE)) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "X-Payroute-Note: at most %d characters, no "
				 "control characters",
				 PR_API_MAX_NOTE);
		return -EINVAL;
	}
	return 0;
}

const char *pr_api_client_addr(struct pr_request *r, char *buf, size_t len)
{
	struct evhttp_connection *c = evhttp_request_get_connection(r->req);
	char *host = NULL;
	ev_uint16_t port = 0;

	if (c)
		evhttp_connection_get_peer(c, &host, &port);
	snprintf(buf, len, "%s", host && *host ? host : "?");
	return buf;
}
