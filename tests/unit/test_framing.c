/*
 * test_framing.c - the front door's request checks (core/base/framing.c), one
 * named row per case: a request head and the status it must get (0: it
 * passes, with the body framing expected; the target is checked with the
 * server's own evhttp parser, pr_server_target_ok), then chunk-size lines,
 * the end of a head arriving a byte at a time, and UTF-8.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/framing.h"
#include "runtime/server.h"

#define H11 "Host: x\r\n"
#define MAX_BODY 1000

struct head_row {
	const char *name;
	const char *head;
	int status;	  /* 0: passes */
	const char *code; /* the error code, or the method when it passes */
	enum pr_body_kind body; /* when it passes */
	uint64_t length;
};

static const struct head_row heads[] = {
	/* what passes */
	{ "plain GET", "GET / HTTP/1.1\r\n" H11 "\r\n", 0, "GET", PR_BODY_NONE,
	  0 },
	{ "HTTP/1.0 without Host", "GET /healthz HTTP/1.0\r\n\r\n", 0, "GET",
	  PR_BODY_NONE, 0 },
	{ "LF line ends", "GET / HTTP/1.1\n" H11 "\n", 0, "GET", PR_BODY_NONE,
	  0 },
	{ "POST with a length",
	  "POST /v1/payments HTTP/1.1\r\n" H11 "Content-Length: 12\r\n\r\n", 0,
	  "POST", PR_BODY_LENGTH, 12 },
	{ "length with spaces around it",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length:   7  \r\n\r\n", 0, "POST",
	  PR_BODY_LENGTH, 7 },
	{ "length 0 is no body",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 0\r\n\r\n", 0, "POST",
	  PR_BODY_NONE, 0 },
	{ "chunked",
	  "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n", 0,
	  "POST", PR_BODY_CHUNKED, 0 },
	{ "chunked in capitals",
	  "PUT / HTTP/1.1\r\n" H11 "transfer-encoding: CHUNKED\r\n\r\n", 0,
	  "PUT", PR_BODY_CHUNKED, 0 },
	{ "a body on GET is read",
	  "GET / HTTP/1.1\r\n" H11 "Content-Length: 3\r\n\r\n", 0, "GET",
	  PR_BODY_LENGTH, 3 },
	{ "Expect: 100-continue",
	  "POST / HTTP/1.1\r\n" H11 "Expect: 100-Continue\r\n"
	  "Content-Length: 5\r\n\r\n",
	  0, "POST", PR_BODY_LENGTH, 5 },
	{ "absolute-form target",
	  "GET http://x/healthz HTTP/1.1\r\n" H11 "\r\n", 0, "GET",
	  PR_BODY_NONE, 0 },
	{ "OPTIONS *", "OPTIONS * HTTP/1.1\r\n" H11 "\r\n", 0, "OPTIONS",
	  PR_BODY_NONE, 0 },
	{ "tab inside a value", "GET / HTTP/1.1\r\n" H11 "X-A: a\tb\r\n\r\n", 0,
	  "GET", PR_BODY_NONE, 0 },
	{ "percent-encoded target",
	  "GET /v1/payments/%ff%00 HTTP/1.1\r\n" H11 "\r\n", 0, "GET",
	  PR_BODY_NONE, 0 },

	/* smuggling: the body's framing must be unambiguous */
	{ "two Content-Length",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 2\r\n"
	  "Content-Length: 60\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "two equal Content-Length",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 2\r\n"
	  "Content-Length: 2\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length +2",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: +2\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length -1",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: -1\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length 2,2",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 2,2\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length 0x2",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 0x2\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length 2 2",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 2 2\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length with a vertical tab",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: \v2\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length empty",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length:\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length of 16 digits",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 1000000000000000\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "Content-Length folded onto the next line (\" 2\")",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length:\r\n 2\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Transfer-Encoding with Content-Length",
	  "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n"
	  "Content-Length: 4\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "two Transfer-Encoding",
	  "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "Transfer-Encoding gzip, chunked",
	  "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "Transfer-Encoding chunked, identity",
	  "POST / HTTP/1.1\r\n" H11
	  "Transfer-Encoding: chunked, identity\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "Transfer-Encoding xchunked",
	  "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: xchunked\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Transfer-Encoding after a tab (evhttp keeps the tab)",
	  "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding:\tchunked\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "Transfer-Encoding on HTTP/1.0",
	  "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "space before the colon",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length : 5\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "obsolete line folding",
	  "GET / HTTP/1.1\r\n" H11 "X-A: a\r\n\tb\r\n\r\n", 400, "bad_request",
	  PR_BODY_NONE, 0 },
	{ "a body on HEAD",
	  "HEAD / HTTP/1.1\r\n" H11 "Content-Length: 5\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "chunked HEAD",
	  "HEAD / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "bare CR in a header", "GET / HTTP/1.1\r\n" H11 "X-A: a\rb\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "NUL in a header", "GET / HTTP/1.1\r\n" H11 "X-A: a\0b\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },

	/* the request line */
	{ "HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400, "bad_request",
	  PR_BODY_NONE, 0 },
	{ "two Host", "GET / HTTP/1.1\r\n" H11 H11 "\r\n", 400, "bad_request",
	  PR_BODY_NONE, 0 },
	{ "garbage", "hello\r\n\r\n", 400, "bad_request", PR_BODY_NONE, 0 },
	{ "two spaces", "GET  / HTTP/1.1\r\n" H11 "\r\n", 400, "bad_request",
	  PR_BODY_NONE, 0 },
	{ "no version", "GET /\r\n" H11 "\r\n", 400, "bad_request",
	  PR_BODY_NONE, 0 },
	{ "lower-case version", "GET / http/1.1\r\n" H11 "\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "HTTP/2.0", "GET / HTTP/2.0\r\n" H11 "\r\n", 505,
	  "http_version_not_supported", PR_BODY_NONE, 0 },
	{ "HTTP/1.2", "GET / HTTP/1.2\r\n" H11 "\r\n", 505,
	  "http_version_not_supported", PR_BODY_NONE, 0 },
	{ "TRACE", "TRACE / HTTP/1.1\r\n" H11 "\r\n", 501, "not_implemented",
	  PR_BODY_NONE, 0 },
	{ "CONNECT", "CONNECT x:443 HTTP/1.1\r\n" H11 "\r\n", 501,
	  "not_implemented", PR_BODY_NONE, 0 },
	{ "lower-case method", "get / HTTP/1.1\r\n" H11 "\r\n", 501,
	  "not_implemented", PR_BODY_NONE, 0 },
	{ "a relative target", "GET healthz HTTP/1.1\r\n" H11 "\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "a raw byte above ASCII", "GET /\xff HTTP/1.1\r\n" H11 "\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
	{ "a target evhttp cannot parse",
	  "GET http://x:99999/ HTTP/1.1\r\n" H11 "\r\n", 400, "bad_request",
	  PR_BODY_NONE, 0 },
	{ "Expect: something else",
	  "POST / HTTP/1.1\r\n" H11 "Expect: 200-ok\r\n"
	  "Content-Length: 5\r\n\r\n",
	  417, "expectation_failed", PR_BODY_NONE, 0 },
	{ "a body over max_body_bytes",
	  "POST / HTTP/1.1\r\n" H11 "Content-Length: 1001\r\n\r\n", 413,
	  "payload_too_large", PR_BODY_NONE, 0 },
	{ "a malformed header line", "GET / HTTP/1.1\r\n" H11 "nocolon\r\n\r\n",
	  400, "bad_request", PR_BODY_NONE, 0 },
	{ "an empty header name", "GET / HTTP/1.1\r\n" H11 ": x\r\n\r\n", 400,
	  "bad_request", PR_BODY_NONE, 0 },
};

static void test_heads(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		const struct head_row *t = &heads[i];
		/* sizeof, not strlen: the NUL row has a NUL inside */
		size_t len = strlen(t->head), scan = 0, end;
		struct pr_framing_error e;
		struct pr_head_info info;
		int rc;

		if (strcmp(t->name, "NUL in a header") == 0)
			len = sizeof("GET / HTTP/1.1\r\n" H11
				     "X-A: a\0b\r\n\r\n") -
			      1;
		end = pr_framing_head_end(t->head, len, &scan);
		if (end != len) {
			print_error("%s: head end %zu, want %zu\n", t->name,
				    end, len);
			fail();
		}
		rc = pr_framing_head(t->head, len, MAX_BODY,
				     pr_server_target_ok, &info, &e);
		if (t->status == 0) {
			if (rc != 0) {
				print_error("%s: refused %d %s: %s\n", t->name,
					    e.status, e.code, e.message);
				fail();
			}
			assert_string_equal(info.method, t->code);
			if (info.body != t->body || info.length != t->length) {
				print_error("%s: body %d/%llu, want %d/%llu\n",
					    t->name, info.body,
					    (unsigned long long)info.length,
					    t->body,
					    (unsigned long long)t->length);
				fail();
			}
		} else {
			if (rc == 0 || e.status != t->status ||
			    strcmp(e.code, t->code) != 0) {
				print_error("%s: got %d %s (%s), want %d %s\n",
					    t->name, rc ? e.status : 0,
					    rc ? e.code : "-",
					    rc ? e.message : "", t->status,
					    t->code);
				fail();
			}
			assert_true(e.message[0] != '\0');
		}
	}
}

static void test_limits(void **state)
{
	char head[PR_FRAMING_MAX_TARGET + 200];
	char many[PR_FRAMING_MAX_HEADERS * 10 + 100];
	struct pr_framing_error e;
	struct pr_head_info info;
	size_t n;

	(void)state;
	n = (size_t)snprintf(head, sizeof(head), "GET /");
	memset(head + n, 'a', PR_FRAMING_MAX_TARGET);
	n += PR_FRAMING_MAX_TARGET;
	n += (size_t)snprintf(head + n, sizeof(head) - n,
			      " HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(pr_framing_head(head, n, MAX_BODY, pr_server_target_ok,
					 &info, &e),
			 -EINVAL);
	assert_int_equal(e.status, 414);

	n = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= PR_FRAMING_MAX_HEADERS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "H%d: x\r\n",
				      i);
	n += (size_t)snprintf(many + n, sizeof(many) - n, "\r\n");
	assert_int_equal(pr_framing_head(many, n, MAX_BODY, pr_server_target_ok,
					 &info, &e),
			 -EINVAL);
	assert_int_equal(e.status, 431);
}

static int refuse_all(const char *target)
{
	(void)target;
	return 0;
}

/* The URI parser is the caller's: without one the target evhttp cannot
 * parse passes this file's own checks; a parser that refuses everything
 * refuses even "/". */
static void test_target_ok(void **state)
{
	static const char bad[] =
		"GET http://x:99999/ HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char good[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct pr_framing_error e;
	struct pr_head_info info;

	(void)state;
	assert_int_equal(pr_framing_head(bad, strlen(bad), MAX_BODY, NULL,
					 &info, &e),
			 0);
	assert_int_equal(pr_framing_head(bad, strlen(bad), MAX_BODY,
					 pr_server_target_ok, &info, &e),
			 -EINVAL);
	assert_int_equal(pr_framing_head(good, strlen(good), MAX_BODY,
					 refuse_all, &info, &e),
			 -EINVAL);
	assert_int_equal(e.status, 400);
	assert_int_equal(pr_framing_head(good, strlen(good), MAX_BODY,
					 pr_server_target_ok, &info, &e),
			 0);
}

/* The head's end, found however the bytes arrive. */
static void test_head_end(void **state)
{
	static const char *const ok[] = {
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY",
		"GET / HTTP/1.1\nHost: x\n\nBODY",
		"GET / HTTP/1.1\r\nHost: x\n\r\nBODY",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t len = strlen(ok[i]), want = len - 4, scan = 0, end = 0;

		/* a byte at a time */
		for (size_t k = 1; k <= len && !end; k++)
			end = pr_framing_head_end(ok[i], k, &scan);
		assert_int_equal(end, want);
		/* all at once */
		scan = 0;
		assert_int_equal(pr_framing_head_end(ok[i], len, &scan), want);
	}
	{
		size_t scan = 0;

		assert_int_equal(pr_framing_head_end("GET / HTTP/1.1\r\nA: b\r",
						     21, &scan),
				 0);
	}
}

struct chunk_row {
	const char *line;
	int ok;
	uint64_t size;
};

static const struct chunk_row chunks[] = {
	{ "0\r\n", 1, 0 },   { "1a\r\n", 1, 26 },
	{ "FF\n", 1, 255 },  { "0000000000000010\r\n", 0, 0 }, /* 16 digits */
	{ "0x5\r\n", 0, 0 }, { "5;ext=1\r\n", 0, 0 },
	{ "5 \r\n", 0, 0 },  { " 5\r\n", 0, 0 },
	{ "-5\r\n", 0, 0 },  { "\r\n", 0, 0 },
	{ "g\r\n", 0, 0 },
};

static void test_chunks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct pr_framing_error e;
		uint64_t size = 99;
		int rc = pr_framing_chunk_size(
			chunks[i].line, strlen(chunks[i].line), &size, &e);

		if ((rc == 0) != chunks[i].ok ||
		    (rc == 0 && size != chunks[i].size)) {
			print_error("chunk line %zu: rc %d size %llu\n", i, rc,
				    (unsigned long long)size);
			fail();
		}
		if (rc < 0)
			assert_int_equal(e.status, 400);
	}
}

static void test_utf8(void **state)
{
	char out[16];

	(void)state;
	assert_true(pr_utf8_valid("", 0));
	assert_true(pr_utf8_valid("/v1/payments", 12));
	assert_true(pr_utf8_valid("\xe6\x94\xaf\xe4\xbb\x98", 6)); /* 支付 */
	assert_true(pr_utf8_valid("\xf0\x9f\x92\xb3", 4));	   /* U+1F4B3 */
	assert_false(pr_utf8_valid("\xff", 1));
	assert_false(pr_utf8_valid("\xc0\xae", 2));	    /* overlong '.' */
	assert_false(pr_utf8_valid("\xe0\x80\xaf", 3));	    /* overlong '/' */
	assert_false(pr_utf8_valid("\xed\xa0\x80", 3));	    /* surrogate */
	assert_false(pr_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(pr_utf8_valid("\xe6\x94", 2));	    /* cut short */
	assert_string_equal(pr_utf8_sanitize("a\xff"
					     "b\xc0\xae",
					     5, out, sizeof(out)),
			    "a?b??");
	assert_string_equal(pr_utf8_sanitize("\xe6\x94\xaf", 3, out, 3), "");
	assert_string_equal(pr_utf8_sanitize("abc", 3, out, 3), "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heads),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_target_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
