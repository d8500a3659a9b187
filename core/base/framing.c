/*
 * framing.c - the request checks of the HTTP front door, as pure functions.
 *
 * server.c holds back every byte a client sends until these functions have
 * passed it, and only then hands it to libevent's evhttp. The point is that
 * evhttp (2.1) is lenient where leniency splits one connection into
 * requests differently from a proxy in front of us (request smuggling): it
 * takes the first of several Content-Length headers, reads "+2" or " 2" as
 * 2 (strtoll), treats "Transfer-Encoding: chunked, gzip" or a second
 * Transfer-Encoding header as no body at all, reads a body on GET but not
 * on HEAD, and folds continuation lines into the previous header. It also
 * answers its own parse errors with HTML pages. So the rule here is: a
 * request passes only when its framing is unambiguous and evhttp will read
 * it exactly as we do; everything else is refused (with a JSON answer, by
 * server.c) before evhttp sees a byte of it. Whether evhttp's URI parser
 * takes a target is asked through the caller's pr_target_ok (server.c's
 * pr_server_target_ok), so this file itself needs nothing of libevent.
 *
 * What evhttp does with what passes, for the record (http.c of 2.1.12):
 * the request line is "METHOD SP target SP HTTP/d.d" (evhttp's method
 * table, evhttp_uri_parse_with_flags(EVHTTP_URI_NONCONFORMANT) on the
 * target, the version read with sscanf); header values lose leading spaces
 * (not tabs) and trailing whitespace; a body is read for every method but
 * HEAD and TRACE, chunked when the first Transfer-Encoding is "chunked"
 * (strcasecmp), else Content-Length bytes (strtoll), else none; chunk sizes
 * are read with strtoll(16) and a "0" chunk is followed by trailer lines up
 * to an empty one. Expect other than 100-continue on HTTP/1.1 is a 417.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/framing.h"

static void set_err(struct pr_framing_error *e, int status, const char *code,
		    const char *msg)
{
	e->status = status;
	e->code = code;
	snprintf(e->message, sizeof(e->message), "%s", msg);
}

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A header value's byte: VCHAR, obs-text, SP or HTAB. */
static int is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

size_t pr_framing_head_end(const char *p, size_t len, size_t *scan)
{
	size_t i = *scan;

	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);

		if (!nl)
			break;
		i = (size_t)(nl - p);
		if (i + 1 >= len) {
			*scan = i; /* look at this LF again with more bytes */
			return 0;
		}
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r') {
			if (i + 2 >= len) {
				*scan = i;
				return 0;
			}
			if (p[i + 2] == '\n')
				return i + 3;
		}
		i++;
	}
	*scan = len;
	return 0;
}

/* One line of the head: [*pos, end of line) without its CRLF or LF.
 * Returns 0, 1 at the end of the head (no more lines), -1 on a bare CR. */
static int next_line(const char *p, size_t len, size_t *pos, const char **line,
		     size_t *n)
{
	const char *nl;
	size_t start = *pos, end;

	if (start >= len)
		return 1;
	nl = memchr(p + start, '\n', len - start);
	if (!nl)
		return 1; /* pr_framing_head_end makes this impossible */
	end = (size_t)(nl - p);
	*pos = end + 1;
	if (end > start && p[end - 1] == '\r')
		end--;
	*line = p + start;
	*n = end - start;
	return memchr(*line, '\r', *n) ? -1 : 0;
}

static int name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* The known methods; the caller gets 501 for anything else. */
static int method_known(const char *m, size_t n)
{
	static const char *const known[] = { "GET",    "HEAD",	"POST",	  "PUT",
					     "DELETE", "PATCH", "OPTIONS" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i]) == n && memcmp(known[i], m, n) == 0)
			return 1;
	return 0;
}

static int request_line(const char *l, size_t n, pr_target_ok target_ok,
			struct pr_head_info *info, struct pr_framing_error *e)
{
	char target[PR_FRAMING_MAX_TARGET + 1];
	size_t m = 0, t0, t1;
	const char *v;
	size_t vn;

	while (m < n && is_tchar((unsigned char)l[m]))
		m++;
	if (m == 0 || m >= n || l[m] != ' ') {
		set_err(e, 400, "bad_request",
			"malformed request line: expected METHOD SP target SP "
			"HTTP/1.1");
		return -EINVAL;
	}
	t0 = m + 1;
	t1 = t0;
	while (t1 < n && l[t1] != ' ') {
		unsigned char c = (unsigned char)l[t1];

		if (c < 0x21 || c > 0x7e) {
			set_err(e, 400, "bad_request",
				"the request target must be printable ASCII "
				"(percent-encode anything else)");
			return -EINVAL;
		}
		t1++;
	}
	if (t1 == t0 || t1 >= n) {
		set_err(e, 400, "bad_request",
			"malformed request line: expected METHOD SP target SP "
			"HTTP/1.1");
		return -EINVAL;
	}
	v = l + t1 + 1;
	vn = n - t1 - 1;
	if (vn == 8 && memcmp(v, "HTTP/1.", 7) == 0 &&
	    (v[7] == '0' || v[7] == '1')) {
		info->minor = v[7] - '0';
	} else if (vn == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' &&
		   v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9') {
		set_err(e, 505, "http_version_not_supported",
			"only HTTP/1.0 and HTTP/1.1 are supported");
		return -EINVAL;
	} else {
		set_err(e, 400, "bad_request",
			"malformed request line: the version must be HTTP/1.1 "
			"or HTTP/1.0");
		return -EINVAL;
	}
	if (!method_known(l, m)) {
		e->status = 501;
		e->code = "not_implemented";
		snprintf(e->message, sizeof(e->message),
			 "method %.*s is not supported (GET, HEAD, POST, PUT, "
			 "DELETE, PATCH, OPTIONS)",
			 m > 16 ? 16 : (int)m, l);
		return -EINVAL;
	}
	memcpy(info->method, l, m);
	info->method[m] = '\0';
	if (t1 - t0 > PR_FRAMING_MAX_TARGET) {
		e->status = 414;
		e->code = "uri_too_long";
		snprintf(e->message, sizeof(e->message),
			 "the request target is longer than %d bytes",
			 PR_FRAMING_MAX_TARGET);
		return -EINVAL;
	}
	memcpy(target, l + t0, t1 - t0);
	target[t1 - t0] = '\0';
	if (!(target[0] == '/' || strncasecmp(target, "http://", 7) == 0 ||
	      strncasecmp(target, "https://", 8) == 0 ||
	      (strcmp(target, "*") == 0 &&
	       strcmp(info->method, "OPTIONS") == 0))) {
		set_err(e, 400, "bad_request",
			"the request target must be a path (/...) or an "
			"absolute http(s) URL");
		return -EINVAL;
	}
	/* What evhttp will parse it with: if it refuses, evhttp would answer
	 * an HTML 400 of its own. */
	if (target_ok && !target_ok(target)) {
		set_err(e, 400, "bad_request",
			"the request target is not a "
			"valid URI");
		return -EINVAL;
	}
	return 0;
}

/* Content-Length: 1 to 15 digits (whitespace around them is trimmed by the
 * caller, as evhttp trims it). */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 15)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

static int header_err(struct pr_framing_error *e, int status, const char *code,
		      const char *what, const char *name, size_t nn)
{
	e->status = status;
	e->code = code;
	snprintf(e->message, sizeof(e->message), "%s%.*s", what,
		 nn > 64 ? 64 : (int)nn, name);
	return -EINVAL;
}

int pr_framing_head(const char *p, size_t len, uint64_t max_body,
		    pr_target_ok target_ok, struct pr_head_info *info,
		    struct pr_framing_error *e)
{
	const char *line, *cl_val = NULL, *te_val = NULL, *ex_val = NULL;
	size_t pos = 0, n, cl_n = 0, te_n = 0, ex_n = 0;
	int cls = 0, tes = 0, hosts = 0, expects = 0, headers = 0, rc;
	uint64_t length = 0;

	memset(info, 0, sizeof(*info));
	memset(e, 0, sizeof(*e));
	rc = next_line(p, len, &pos, &line, &n);
	if (rc != 0) {
		set_err(e, 400, "bad_request",
			rc < 0 ? "a bare CR in the request line" :
				 "no request line");
		return -EINVAL;
	}
	if (request_line(line, n, target_ok, info, e) < 0)
		return -EINVAL;

	for (;;) {
		const char *v, *raw;
		size_t k = 0, vn, rawn;

		rc = next_line(p, len, &pos, &line, &n);
		if (rc < 0) {
			set_err(e, 400, "bad_request",
				"a bare CR in a header line");
			return -EINVAL;
		}
		if (rc > 0 || n == 0)
			break;
		if (++headers > PR_FRAMING_MAX_HEADERS) {
			e->status = 431;
			e->code = "header_too_large";
			snprintf(e->message, sizeof(e->message),
				 "more than %d header lines",
				 PR_FRAMING_MAX_HEADERS);
			return -EINVAL;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			set_err(e, 400, "bad_request",
				"obsolete line folding (a header line starting "
				"with whitespace) is not accepted");
			return -EINVAL;
		}
		while (k < n && is_tchar((unsigned char)line[k]))
			k++;
		if (k == 0 || k >= n || line[k] != ':') {
			if (k > 0 && k < n &&
			    (line[k] == ' ' || line[k] == '\t'))
				return header_err(e, 400, "bad_request",
						  "whitespace between a header "
						  "name and its colon: ",
						  line, k);
			set_err(e, 400, "bad_request",
				"malformed header line: expected name: value");
			return -EINVAL;
		}
		raw = line + k + 1;
		rawn = n - k - 1;
		v = raw;
		vn = rawn;
		while (vn && (*v == ' ' || *v == '\t')) {
			v++;
			vn--;
		}
		while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			vn--;
		for (size_t i = 0; i < vn; i++)
			if (!is_value_char((unsigned char)v[i]))
				return header_err(e, 400, "bad_request",
						  "a control character in "
						  "header ",
						  line, k);
		if (name_is(line, k, "Content-Length")) {
			cls++;
			cl_val = v;
			cl_n = vn;
		} else if (name_is(line, k, "Transfer-Encoding")) {
			tes++;
			/* evhttp keeps a leading tab in the value and would
			 * then not see "chunked": refuse tabs here. */
			te_val = memchr(raw, '\t', rawn) ? "" : v;
			te_n = memchr(raw, '\t', rawn) ? 0 : vn;
		} else if (name_is(line, k, "Host")) {
			hosts++;
		} else if (name_is(line, k, "Expect")) {
			expects++;
			ex_val = memchr(raw, '\t', rawn) ? "" : v;
			ex_n = memchr(raw, '\t', rawn) ? 0 : vn;
		}
	}

	if (cls > 1) {
		set_err(e, 400, "bad_request",
			"several Content-Length headers (RFC 9112 section "
			"6.3)");
		return -EINVAL;
	}
	if (tes > 1) {
		set_err(e, 400, "bad_request",
			"several Transfer-Encoding headers");
		return -EINVAL;
	}
	if (tes && cls) {
		set_err(e, 400, "bad_request",
			"Transfer-Encoding and Content-Length together (RFC "
			"9112 section 6.3)");
		return -EINVAL;
	}
	if (tes && !(te_n == 7 && strncasecmp(te_val, "chunked", 7) == 0)) {
		set_err(e, 400, "bad_request",
			"Transfer-Encoding must be exactly \"chunked\"");
		return -EINVAL;
	}
	if (tes && info->minor == 0) {
		set_err(e, 400, "bad_request",
			"Transfer-Encoding is not accepted on HTTP/1.0");
		return -EINVAL;
	}
	if (cls && parse_length(cl_val, cl_n, &length) < 0) {
		set_err(e, 400, "bad_request",
			"Content-Length must be 1 to 15 plain digits");
		return -EINVAL;
	}
	if (info->minor == 1 && hosts != 1) {
		set_err(e, 400, "bad_request",
			hosts ? "several Host headers" :
				"an HTTP/1.1 request needs a Host header");
		return -EINVAL;
	}
	if (hosts > 1) {
		set_err(e, 400, "bad_request", "several Host headers");
		return -EINVAL;
	}
	if (expects > 1) {
		set_err(e, 400, "bad_request", "several Expect headers");
		return -EINVAL;
	}
	if (expects && info->minor == 1) {
		if (!(ex_n == 12 &&
		      strncasecmp(ex_val, "100-continue", 12) == 0)) {
			set_err(e, 417, "expectation_failed",
				"the only expectation accepted is "
				"100-continue");
			return -EINVAL;
		}
		info->expect_continue = 1;
	}
	if (strcmp(info->method, "HEAD") == 0 && (tes || length > 0)) {
		set_err(e, 400, "bad_request",
			"a HEAD request cannot have a body");
		return -EINVAL;
	}
	if (tes) {
		info->body = PR_BODY_CHUNKED;
	} else if (length > 0) {
		if (length > max_body) {
			e->status = 413;
			e->code = "payload_too_large";
			snprintf(e->message, sizeof(e->message),
				 "the body is larger than %llu bytes "
				 "(server.max_body_bytes)",
				 (unsigned long long)max_body);
			return -EINVAL;
		}
		info->body = PR_BODY_LENGTH;
		info->length = length;
	}
	return 0;
}

int pr_framing_chunk_size(const char *p, size_t len, uint64_t *size,
			  struct pr_framing_error *e)
{
	uint64_t x = 0;
	size_t n = len;

	if (n && p[n - 1] == '\n')
		n--;
	if (n && p[n - 1] == '\r')
		n--;
	if (n == 0 || n > 15) {
		set_err(e, 400, "bad_request",
			"bad chunk size: 1 to 15 hexadecimal digits expected");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else {
			set_err(e, 400, "bad_request",
				c == ';' ? "chunk extensions are not accepted" :
					   "bad chunk size: 1 to 15 "
					   "hexadecimal digits expected");
			return -EINVAL;
		}
		x = x * 16 + (uint64_t)d;
	}
	*size = x;
	return 0;
}

/* The length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return need;
}

int pr_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq(u + i, n - i);

		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

char *pr_utf8_sanitize(const char *s, size_t n, char *out, size_t outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (!outlen)
		return out;
	while (i < n) {
		size_t k = utf8_seq(u + i, n - i);

		if (!k || u[i] == 0) {
			if (o + 1 >= outlen)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + k >= outlen)
			break;
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return out;
}
