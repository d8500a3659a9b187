/*
 * test_drvobj.c - unit tests of the objects behind the driver ABI's
 * handles (core/domain/drvobj.c) and of the services table drivers receive
 * (core/runtime/services.c): the table's size and ABI fields, config getters over
 * dotted paths, the validation of the outbound request (method, URL, header
 * injection), the payer map and the channel-tagged log line.
 */
#include "runtime/config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "domain/drvobj.h"
#include "runtime/log.h"
#include "runtime/services.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void test_table_header(void **state)
{
	const struct payroute_services *svc = pr_services();

	(void)state;
	assert_non_null(svc);
	assert_ptr_equal(svc, pr_services());
	assert_int_equal(svc->size, sizeof(struct payroute_services));
	assert_int_equal(svc->abi_major, PAYROUTE_ABI_MAJOR);
	assert_int_equal(svc->abi_minor, PAYROUTE_ABI_MINOR);
	assert_true(PAYROUTE_HAS_FIELD(svc, struct payroute_services,
				       random_bytes));
}

/* Every service of ABI 1.0 is there; the spare slots are empty. */
static void test_table_complete(void **state)
{
	const struct payroute_services *svc = pr_services();
	const void *fns[] = {
		(const void *)svc->log,
		(const void *)svc->now_ms,
		(const void *)svc->alloc,
		(const void *)svc->free,
		(const void *)svc->conf_str,
		(const void *)svc->conf_int,
		(const void *)svc->conf_bool,
		(const void *)svc->http_set,
		(const void *)svc->http_header,
		(const void *)svc->http_body,
		(const void *)svc->http_timeout,
		(const void *)svc->kv_set,
		(const void *)svc->key_load,
		(const void *)svc->key_free,
		(const void *)svc->rsa_sha256_sign,
		(const void *)svc->rsa_sha256_verify,
		(const void *)svc->aes256gcm_encrypt,
		(const void *)svc->aes256gcm_decrypt,
		(const void *)svc->hmac_sha256,
		(const void *)svc->sha256,
		(const void *)svc->base64_encode,
		(const void *)svc->base64_decode,
		(const void *)svc->hex_encode,
		(const void *)svc->url_encode,
		(const void *)svc->url_decode,
		(const void *)svc->random_bytes,
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMS(fns); i++)
		assert_non_null(fns[i]);
	for (size_t i = 0; i < N_ELEMS(svc->spare); i++)
		assert_null(svc->spare[i]);
}

static void test_clock_and_memory(void **state)
{
	const struct payroute_services *svc = pr_services();
	struct timespec a, b;
	int64_t now;
	void *p;

	(void)state;
	/* Bounds from the same clock: time(2) reads a coarse clock that may
	 * lag CLOCK_REALTIME across a second boundary. */
	clock_gettime(CLOCK_REALTIME, &a);
	now = svc->now_ms();
	clock_gettime(CLOCK_REALTIME, &b);
	assert_true(now >= (int64_t)a.tv_sec * 1000 + a.tv_nsec / 1000000);
	assert_true(now <= (int64_t)b.tv_sec * 1000 + b.tv_nsec / 1000000);
	p = svc->alloc(0);
	assert_non_null(p);
	svc->free(p);
	p = svc->alloc(64);
	assert_non_null(p);
	memset(p, 0xa5, 64);
	svc->free(p);
	svc->free(NULL);
}

/* The driver's line reaches the core's log with the channel as prefix. */
static void test_log_prefix(void **state)
{
	const struct payroute_services *svc = pr_services();
	char path[] = "/tmp/test_drvobj_log.XXXXXX", err[256], buf[1024];
	enum payroute_log_level saved = pr_log_get_level();
	FILE *f;
	size_t n;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pr_log_open(path, err, sizeof(err)), 0);
	pr_log_set_level(PAYROUTE_LOG_INFO);
	svc->log(PAYROUTE_LOG_WARN, "alipay_main", "gateway said %s (%d)",
		 "busy", 42);
	svc->log(PAYROUTE_LOG_DEBUG, "alipay_main", "dropped %d", 1);
	svc->log(PAYROUTE_LOG_ERROR, NULL, "no channel");
	pr_log_close();
	pr_log_set_level(saved);

	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	unlink(path);
	buf[n] = '\0';
	assert_non_null(
		strstr(buf, "[channel alipay_main] gateway said busy (42)\n"));
	assert_null(strstr(buf, "dropped"));
	assert_non_null(strstr(buf, "[channel -] no channel\n"));
}

/* ------------------------------------------------------------------------ */
/* Config getters                                                           */
/* ------------------------------------------------------------------------ */

static const char conf_json[] =
	"{\"app_id\": \"2021000000000000\","
	" \"gateway\": {\"url\": \"https://openapi.example.com/gateway.do\","
	"               \"timeout_ms\": 3000, \"sandbox\": true,"
	"               \"tls\": {\"verify\": false, \"ca\": \"/etc/ca.pem\"}},"
	" \"retries\": -2, \"big\": 9007199254740993,"
	" \"ratio\": 1.5, \"flag\": false, \"nothing\": null,"
	" \"list\": [1, 2], \"a.b\": \"literal dotted key\"}";

enum getter { G_STR, G_INT, G_BOOL };

static const struct {
	const char *name;
	enum getter getter;
	const char *key;
	int rc;		 /* conf_int / conf_bool */
	const char *str; /* conf_str: expected value, NULL for none */
	int64_t num;	 /* conf_int / conf_bool: expected value */
} conf_rows[] = {
	{ "top-level string", G_STR, "app_id", 0, "2021000000000000", 0 },
	{ "nested string", G_STR, "gateway.url", 0,
	  "https://openapi.example.com/gateway.do", 0 },
	{ "two levels deep", G_STR, "gateway.tls.ca", 0, "/etc/ca.pem", 0 },
	{ "missing string", G_STR, "private_key", 0, NULL, 0 },
	{ "missing nested string", G_STR, "gateway.nope", 0, NULL, 0 },
	{ "string through a non-object", G_STR, "app_id.x", 0, NULL, 0 },
	{ "integer is not a string", G_STR, "retries", 0, NULL, 0 },
	{ "object is not a string", G_STR, "gateway", 0, NULL, 0 },
	{ "null is not a string", G_STR, "nothing", 0, NULL, 0 },
	{ "empty key", G_STR, "", 0, NULL, 0 },
	{ "empty segment", G_STR, "gateway..url", 0, NULL, 0 },
	{ "trailing dot", G_STR, "gateway.", 0, NULL, 0 },
	{ "leading dot", G_STR, ".app_id", 0, NULL, 0 },
	{ "a dot always walks", G_STR, "a.b", 0, NULL, 0 },
	{ "nested integer", G_INT, "gateway.timeout_ms", 0, NULL, 3000 },
	{ "negative integer", G_INT, "retries", 0, NULL, -2 },
	{ "integer beyond 2^53", G_INT, "big", 0, NULL, 9007199254740993LL },
	{ "missing integer", G_INT, "gateway.connect_ms", -ENOENT, NULL, 0 },
	{ "real is not an integer", G_INT, "ratio", -EINVAL, NULL, 0 },
	{ "string is not an integer", G_INT, "app_id", -EINVAL, NULL, 0 },
	{ "bool is not an integer", G_INT, "flag", -EINVAL, NULL, 0 },
	{ "null is not an integer", G_INT, "nothing", -EINVAL, NULL, 0 },
	{ "array is not an integer", G_INT, "list", -EINVAL, NULL, 0 },
	{ "nested true", G_BOOL, "gateway.sandbox", 0, NULL, 1 },
	{ "deep false", G_BOOL, "gateway.tls.verify", 0, NULL, 0 },
	{ "top-level false", G_BOOL, "flag", 0, NULL, 0 },
	{ "missing bool", G_BOOL, "gateway.tls.pin", -ENOENT, NULL, 0 },
	{ "integer is not a bool", G_BOOL, "gateway.timeout_ms", -EINVAL, NULL,
	  0 },
	{ "string is not a bool", G_BOOL, "app_id", -EINVAL, NULL, 0 },
};

static void test_conf_getters(void **state)
{
	const struct payroute_services *svc = pr_services();
	struct payroute_conf conf;
	json_error_t jerr;
	const char *s;
	int64_t num;
	int b;

	(void)state;
	conf.root = json_loads(conf_json, 0, &jerr);
	if (!conf.root)
		fail_msg("bad test JSON: %s", jerr.text);
	for (size_t i = 0; i < N_ELEMS(conf_rows); i++) {
		print_message("conf: %s\n", conf_rows[i].name);
		switch (conf_rows[i].getter) {
		case G_STR:
			s = svc->conf_str(&conf, conf_rows[i].key);
			if (conf_rows[i].str)
				assert_string_equal(s, conf_rows[i].str);
			else
				assert_null(s);
			break;
		case G_INT:
			num = 12345;
			assert_int_equal(svc->conf_int(&conf, conf_rows[i].key,
						       &num),
					 conf_rows[i].rc);
			assert_true(num == (conf_rows[i].rc == 0 ?
						    conf_rows[i].num :
						    12345));
			break;
		case G_BOOL:
			b = 7;
			assert_int_equal(svc->conf_bool(&conf, conf_rows[i].key,
							&b),
					 conf_rows[i].rc);
			assert_int_equal(
				b, conf_rows[i].rc == 0 ? conf_rows[i].num : 7);
			break;
		}
	}
	json_decref(conf.root);

	/* No config at all. */
	conf.root = NULL;
	assert_null(svc->conf_str(&conf, "app_id"));
	assert_int_equal(svc->conf_int(&conf, "x", &num), -ENOENT);
	assert_null(svc->conf_str(NULL, "app_id"));
}

/* ------------------------------------------------------------------------ */
/* The outbound request                                                     */
/* ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	const char *method;
	const char *url;
	int rc;
} http_set_rows[] = {
	{ "GET https", "GET", "https://api.example.com/v3/pay", 0 },
	{ "POST http", "POST", "http://127.0.0.1:8080/gateway.do?a=1", 0 },
	{ "PUT", "PUT", "https://api.example.com/x", 0 },
	{ "DELETE", "DELETE", "https://api.example.com/x", 0 },
	{ "upper-case scheme", "GET", "HTTPS://api.example.com/", 0 },
	{ "lower-case method", "get", "https://api.example.com/", -EINVAL },
	{ "PATCH is not offered", "PATCH", "https://api.example.com/",
	  -EINVAL },
	{ "method with CRLF", "GET\r\n", "https://api.example.com/", -EINVAL },
	{ "empty method", "", "https://api.example.com/", -EINVAL },
	{ "NULL method", NULL, "https://api.example.com/", -EINVAL },
	{ "ftp scheme", "GET", "ftp://example.com/file", -EINVAL },
	{ "file scheme", "GET", "file:///etc/passwd", -EINVAL },
	{ "no scheme", "GET", "api.example.com/pay", -EINVAL },
	{ "scheme only", "GET", "https://", -EINVAL },
	{ "CRLF in the URL", "GET", "https://api.example.com/\r\nX-Injected: 1",
	  -EINVAL },
	{ "space in the URL", "GET", "https://api.example.com/a b", -EINVAL },
	{ "NULL URL", "GET", NULL, -EINVAL },
};

static void test_http_set(void **state)
{
	const struct payroute_services *svc = pr_services();
	struct payroute_http_req req;

	(void)state;
	pr_http_req_init(&req);
	for (size_t i = 0; i < N_ELEMS(http_set_rows); i++) {
		print_message("http_set: %s\n", http_set_rows[i].name);
		assert_int_equal(svc->http_set(&req, http_set_rows[i].method,
					       http_set_rows[i].url),
				 http_set_rows[i].rc);
		if (http_set_rows[i].rc == 0) {
			assert_string_equal(req.method,
					    http_set_rows[i].method);
			assert_string_equal(req.url, http_set_rows[i].url);
			/* A copy, not the caller's pointer. */
			assert_ptr_not_equal(req.url, http_set_rows[i].url);
		}
	}
	/* A refused call leaves the last good values in place. */
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "HTTPS://api.example.com/");
	pr_http_req_clear(&req);
	assert_null(req.method);
	assert_null(req.url);
}

static const struct {
	const char *name;
	const char *hname;
	const char *value;
	int rc;
} http_header_rows[] = {
	{ "plain header", "Content-Type", "application/json", 0 },
	{ "empty value", "X-Empty", "", 0 },
	{ "value with spaces and colons", "Authorization",
	  "WECHATPAY2-SHA256-RSA2048 mchid=\"1900\",nonce_str=\"a:b\"", 0 },
	{ "duplicate name appends", "Content-Type", "text/plain", 0 },
	{ "CR in value", "X-A", "a\rb", -EINVAL },
	{ "LF in value", "X-A", "a\nb", -EINVAL },
	{ "CRLF injection in value", "X-A", "ok\r\nX-Injected: 1", -EINVAL },
	{ "CRLF in name", "X-A\r\nX-Injected", "1", -EINVAL },
	{ "LF in name", "X-A\n", "1", -EINVAL },
	{ "colon in name", "X-A: b", "1", -EINVAL },
	{ "space in name", "X A", "1", -EINVAL },
	{ "empty name", "", "1", -EINVAL },
	{ "NULL name", NULL, "1", -EINVAL },
	{ "NULL value", "X-A", NULL, -EINVAL },
};

static void test_http_header(void **state)
{
	const struct payroute_services *svc = pr_services();
	struct payroute_http_req req;
	size_t want = 0;

	(void)state;
	pr_http_req_init(&req);
	for (size_t i = 0; i < N_ELEMS(http_header_rows); i++) {
		print_message("http_header: %s\n", http_header_rows[i].name);
		assert_int_equal(svc->http_header(&req,
						  http_header_rows[i].hname,
						  http_header_rows[i].value),
				 http_header_rows[i].rc);
		if (http_header_rows[i].rc == 0) {
			want++;
			assert_string_equal(req.headers[want - 1].name,
					    http_header_rows[i].hname);
			assert_string_equal(req.headers[want - 1].value,
					    http_header_rows[i].value);
		}
		assert_int_equal(req.n_headers, want);
	}
	assert_string_equal(req.headers[0].value, "application/json");
	assert_string_equal(req.headers[3].value, "text/plain");
	pr_http_req_clear(&req);
	assert_null(req.headers);
	assert_int_equal(req.n_headers, 0);
}

static void test_http_body_and_timeout(void **state)
{
	const struct payroute_services *svc = pr_services();
	static const char bin[] = { 'a', '\0', 'b' };
	struct payroute_http_req req;

	(void)state;
	pr_http_req_init(&req);
	assert_int_equal(svc->http_body(&req, "{\"a\":1}", 7), 0);
	assert_int_equal(req.body_len, 7);
	assert_string_equal((char *)req.body, "{\"a\":1}");
	/* Binary bodies keep their NULs; a second body replaces the first. */
	assert_int_equal(svc->http_body(&req, bin, sizeof(bin)), 0);
	assert_int_equal(req.body_len, 3);
	assert_memory_equal(req.body, bin, 3);
	assert_int_equal(req.body[3], '\0');
	assert_int_equal(svc->http_body(&req, NULL, 0), 0);
	assert_int_equal(req.body_len, 0);
	assert_string_equal((char *)req.body, "");
	assert_int_equal(svc->http_body(&req, NULL, 5), -EINVAL);

	assert_int_equal(svc->http_timeout(&req, 2500), 0);
	assert_int_equal(req.timeout_ms, 2500);
	assert_int_equal(svc->http_timeout(&req, -1), -EINVAL);
	assert_int_equal(req.timeout_ms, 2500);
	assert_int_equal(svc->http_timeout(&req, 0), 0);
	assert_int_equal(req.timeout_ms, 0);

	assert_int_equal(svc->http_set(&req, "POST", "https://x.example/"), 0);
	assert_int_equal(svc->http_header(&req, "A", "1"), 0);
	pr_http_req_clear(&req);
	assert_null(req.body);
	assert_int_equal(req.body_len, 0);
	/* Clearing twice, or an empty request, is harmless. */
	pr_http_req_clear(&req);
	pr_http_req_clear(NULL);
}

/* ------------------------------------------------------------------------ */
/* The payer map                                                            */
/* ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	const char *key;
	const char *value;
	int rc;
	size_t n_after;
} kv_rows[] = {
	{ "first key", "qr_code", "https://qr.example/abc", 0, 1 },
	{ "second key", "prepay_id", "wx201410272009395522657a690389285100", 0,
	  2 },
	{ "replace keeps the position", "qr_code", "https://qr.example/def", 0,
	  2 },
	{ "empty value", "form", "", 0, 3 },
	{ "UTF-8 value", "subject", "\xe8\xae\xa2\xe5\x8d\x95", 0, 4 },
	{ "invalid UTF-8 value", "bad", "\xff\xfe", -EINVAL, 4 },
	{ "invalid UTF-8 key", "\xc3", "x", -EINVAL, 4 },
	{ "empty key", "", "x", -EINVAL, 4 },
	{ "NULL key", NULL, "x", -EINVAL, 4 },
	{ "NULL value", "pay_url", NULL, -EINVAL, 4 },
};

static void test_kv(void **state)
{
	const struct payroute_services *svc = pr_services();
	struct payroute_kv kv;
	json_t *obj;
	char *dump;

	(void)state;
	pr_kv_init(&kv);
	assert_null(pr_kv_get(&kv, "qr_code"));
	for (size_t i = 0; i < N_ELEMS(kv_rows); i++) {
		print_message("kv_set: %s\n", kv_rows[i].name);
		assert_int_equal(svc->kv_set(&kv, kv_rows[i].key,
					     kv_rows[i].value),
				 kv_rows[i].rc);
		assert_int_equal(kv.n, kv_rows[i].n_after);
		if (kv_rows[i].rc == 0)
			assert_string_equal(pr_kv_get(&kv, kv_rows[i].key),
					    kv_rows[i].value);
	}
	assert_string_equal(kv.items[0].name, "qr_code");
	assert_string_equal(kv.items[0].value, "https://qr.example/def");
	assert_string_equal(kv.items[1].name, "prepay_id");
	assert_null(pr_kv_get(&kv, "bad"));
	assert_null(pr_kv_get(&kv, NULL));

	obj = pr_kv_to_json(&kv);
	assert_non_null(obj);
	dump = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(
		dump, "{\"qr_code\":\"https://qr.example/def\","
		      "\"prepay_id\":\"wx201410272009395522657a690389285100\","
		      "\"form\":\"\","
		      "\"subject\":\"\xe8\xae\xa2\xe5\x8d\x95\"}");
	free(dump);
	json_decref(obj);

	pr_kv_clear(&kv);
	assert_int_equal(kv.n, 0);
	assert_null(kv.items);
	obj = pr_kv_to_json(&kv);
	assert_non_null(obj);
	assert_int_equal(json_object_size(obj), 0);
	json_decref(obj);
}

/* The crypto entries are crypto.c's functions, reachable by a driver. */
static void test_crypto_through_table(void **state)
{
	const struct payroute_services *svc = pr_services();
	unsigned char md[32], *dec;
	size_t dec_len;
	char *s;

	(void)state;
	assert_int_equal(svc->sha256("abc", 3, md), 0);
	s = svc->hex_encode(md, 4);
	assert_string_equal(s, "ba7816bf");
	svc->free(s);
	s = svc->base64_encode("foobar", 6);
	assert_string_equal(s, "Zm9vYmFy");
	assert_int_equal(svc->base64_decode(s, &dec, &dec_len), 0);
	assert_int_equal(dec_len, 6);
	svc->free(dec);
	svc->free(s);
	s = svc->url_encode("a b&c");
	assert_string_equal(s, "a%20b%26c");
	svc->free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_header),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_clock_and_memory),
		cmocka_unit_test(test_log_prefix),
		cmocka_unit_test(test_conf_getters),
		cmocka_unit_test(test_http_set),
		cmocka_unit_test(test_http_header),
		cmocka_unit_test(test_http_body_and_timeout),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_crypto_through_table),
	};

	return cmocka_run_group_tests_name("drvobj", tests, NULL, NULL);
}
