/*
 * framing.h - the checks the HTTP front door (server.c) runs on a request's
 * bytes before libevent's evhttp parses them: where a request head ends,
 * whether it is one that evhttp will read exactly as we do (method, target,
 * version, header syntax, and above all the body's framing: one
 * Content-Length of plain digits, or Transfer-Encoding exactly "chunked",
 * never both, RFC 9112 sections 6 and 7), chunk-size lines, and UTF-8.
 *
 * Pure functions over byte ranges: no I/O, no state kept between calls
 * (a caller that scans a growing buffer keeps the scan offset itself),
 * and no libevent: the one question only evhttp can answer (does its URI
 * parser take this target?) is asked through the caller's pr_target_ok.
 */
#ifndef PR_FRAMING_H
#define PR_FRAMING_H

#include <stddef.h>
#include <stdint.h>

/* The longest request target accepted (414 beyond). */
#define PR_FRAMING_MAX_TARGET 8192
/* The most header lines in one head (431 beyond). */
#define PR_FRAMING_MAX_HEADERS 100
/* The longest chunk-size line, its line end included. */
#define PR_FRAMING_MAX_CHUNK_LINE 32

enum pr_body_kind {
	PR_BODY_NONE,	 /* no body: the request ends with its head */
	PR_BODY_LENGTH,	 /* Content-Length bytes follow */
	PR_BODY_CHUNKED, /* Transfer-Encoding: chunked */
};

/* What a valid head says. */
struct pr_head_info {
	char method[8]; /* "GET", "POST"... */
	int minor;	/* HTTP/1.minor: 0 or 1 */
	enum pr_body_kind body;
	uint64_t length;     /* PR_BODY_LENGTH: the body's size */
	int expect_continue; /* "Expect: 100-continue" on HTTP/1.1 */
};

/* Why a request is refused: the status, the API error code ("bad_request",
 * "header_too_large", "payload_too_large", "uri_too_long",
 * "expectation_failed", "not_implemented", "http_version_not_supported")
 * and a message for the client that quotes nothing it sent beyond a
 * header's name. */
struct pr_framing_error {
	int status;
	const char *code;
	char message[192];
};

/* 1 when the URI parser that will read the request accepts target (a
 * NUL-terminated request target), else 0. server.c passes
 * pr_server_target_ok (evhttp's parser). */
typedef int (*pr_target_ok)(const char *target);

/* Where the head at p (len bytes so far) ends: the offset just past the
 * empty line that closes it (lines end with LF or CRLF), or 0 when it is
 * not complete yet. *scan is where the previous call stopped (start at 0);
 * it is advanced so that a head arriving a byte at a time is scanned once. */
size_t pr_framing_head_end(const char *p, size_t len, size_t *scan);

/* Checks one complete head (len bytes, as found by pr_framing_head_end)
 * and fills info. max_body is the largest body accepted (a Content-Length
 * over it is a 413); target_ok, when not NULL, must accept the request
 * target. Returns 0, or -EINVAL with e filled. Refused, among the
 * rest: several Content-Length headers (even equal), a Content-Length that
 * is not 1 to 15 plain digits, Transfer-Encoding with Content-Length,
 * several Transfer-Encoding headers or one that is not exactly "chunked",
 * Transfer-Encoding on HTTP/1.0, a body on HEAD, obsolete line folding,
 * whitespace before a header's colon, control characters (bare CR
 * included), a missing or repeated Host on HTTP/1.1, an Expect other than
 * 100-continue (417), a method other than GET, HEAD, POST, PUT, DELETE,
 * PATCH and OPTIONS (501), a version other than HTTP/1.0 and HTTP/1.1
 * (505), a target that is not origin-form or absolute http(s) or that
 * target_ok refuses (400; over PR_FRAMING_MAX_TARGET: 414), more than
 * PR_FRAMING_MAX_HEADERS header lines (431). */
int pr_framing_head(const char *p, size_t len, uint64_t max_body,
		    pr_target_ok target_ok, struct pr_head_info *info,
		    struct pr_framing_error *e);

/* Checks a chunk-size line (its CRLF or LF included, len bytes): 1 to 15
 * hexadecimal digits and nothing else (no chunk extensions, no spaces).
 * Returns 0 with *size set, or -EINVAL with e filled (400). */
int pr_framing_chunk_size(const char *p, size_t len, uint64_t *size,
			  struct pr_framing_error *e);

/* 1 when the n bytes at s are well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 otherwise. */
int pr_utf8_valid(const char *s, size_t n);

/* Copies s (n bytes) into out (size outlen, always NUL-terminated) as valid
 * UTF-8: each byte that does not start a well-formed sequence, and each
 * NUL, becomes '?'. Cuts at a character boundary when out is too small.
 * Returns out. */
char *pr_utf8_sanitize(const char *s, size_t n, char *out, size_t outlen);

#endif
