/*
 * server.c - the daemon's HTTP listeners (libevent evhttp) and the JSON
 * answer helpers shared by the merchant and admin APIs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "server.h"

int pr_listener_open(struct pr_listener *l, struct event_base *base,
		     const char *name, const struct pr_listen *addr,
		     size_t max_body,
		     void (*cb)(struct evhttp_request *, void *), void *arg,
		     char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->name = name;
	l->addr = *addr;
	l->http = evhttp_new(base);
	if (!l->http) {
		snprintf(err, errlen, "%s listener: out of memory", name);
		return -ENOMEM;
	}
	evhttp_set_allowed_methods(l->http,
				   EVHTTP_REQ_GET | EVHTTP_REQ_POST |
					   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					   EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
	evhttp_set_max_body_size(l->http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(l->http, 65536);
	evhttp_set_timeout(l->http, 60);
	evhttp_set_gencb(l->http, cb, arg);
	l->sock = evhttp_bind_socket_with_handle(l->http, addr->host,
						 (ev_uint16_t)addr->port);
	if (!l->sock) {
		int e = errno ? errno : EADDRINUSE;

		snprintf(err, errlen, "%s listener: cannot listen on %s:%d: %s",
			 name, addr->host, addr->port, strerror(e));
		evhttp_free(l->http);
		l->http = NULL;
		return -e;
	}
	pr_info("%s API listening on %s:%d", name, addr->host, addr->port);
	return 0;
}

void pr_listener_set_max_body(struct pr_listener *l, size_t max_body)
{
	if (l->http)
		evhttp_set_max_body_size(l->http, (ev_ssize_t)max_body);
}

void pr_listener_stop_accepting(struct pr_listener *l)
{
	if (l->http && l->sock) {
		evhttp_del_accept_socket(l->http, l->sock);
		l->sock = NULL;
	}
}

void pr_listener_close(struct pr_listener *l)
{
	if (l->http)
		evhttp_free(l->http);
	l->http = NULL;
	l->sock = NULL;
}

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
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

void pr_http_reply_raw(struct evhttp_request *req, int status,
		       const char *content_type, const void *body, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	if (buf && len)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(req, status, pr_http_reason(status), buf);
	if (buf)
		evbuffer_free(buf);
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
	pr_http_reply_json(req, status,
			   json_pack("{s:{s:s,s:s}}", "error", "code", code,
				     "message", msg));
}

const char *pr_http_path(struct evhttp_request *req, char *buf, size_t len)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	char *dec;

	if (!path || !*path)
		path = "/";
	dec = evhttp_uridecode(path, 0, NULL);
	if (!dec)
		return NULL;
	snprintf(buf, len, "%s", dec);
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
	default:
		return "OTHER";
	}
}

json_t *pr_http_read_json(struct evhttp_request *req, int *status, char *err,
			  size_t errlen)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	size_t len = in ? evbuffer_get_length(in) : 0;
	json_error_t jerr;
	const char *text;
	json_t *j;

	if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		*status = 415;
		snprintf(err, errlen,
			 "the body must be JSON (Content-Type: "
			 "application/json), got %s",
			 ct ? ct : "no Content-Type");
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
