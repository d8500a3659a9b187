/*
 * testdrv.c - the test drivers that exercise the loader (tests/unit/test_abi,
 * the integration tests). One source compiled nine ways by Makefile.am:
 * TESTDRV_NAME names the driver, and exactly one of
 *
 *   TESTDRV_GOOD       a correct v1 descriptor that declares no config
 *                      keys (testgood, testgood2): its config is checked
 *                      by init alone, so any other key passes;
 *   TESTDRV_KEYS       a correct descriptor declaring its config keys
 *                      (ABI 1.2; testkeys): endpoint (required), fail_init
 *                      (integer, default 0), sign_type (string, default
 *                      HMAC-SHA256), passphrase (string, secret),
 *                      verbose (boolean, default false);
 *   TESTDRV_OLDMINOR   abi_minor = 1, as a driver built for ABI 1.1
 *                      (testold): its config_keys slot is set all the
 *                      same, and the core must not read it;
 *   TESTDRV_BADKEYS    a correct header but a config-key table that
 *                      declares "endpoint" twice (badkeys): refused;
 *   TESTDRV_BADMAGIC   magic 0xDEADBEEF;
 *   TESTDRV_BADMAJOR   abi_major = PAYROUTE_ABI_MAJOR + 1;
 *   TESTDRV_SMALL      size = offsetof(struct payroute_driver, init), too
 *                      small for the v1 layout;
 *   TESTDRV_NEWMINOR   abi_minor = PAYROUTE_ABI_MINOR + 1;
 *
 * picks the descriptor header. Behind it is the same tiny but real driver
 * (the broken variants carry it too, so that a loader that wrongly accepts
 * one would visibly run it):
 *
 *   init          requires the string "endpoint"; an integer "fail_init"
 *                 of 1 makes it fail with "fail_init set";
 *   build_query   GET <endpoint>/query?id=<url-encoded order_id>;
 *   parse_query   the whole body, trimmed, is the code (and the status);
 *   parse_notify  body "order_id=X&code=Y", verified by the header
 *                 X-Test-Sign = hex(HMAC-SHA256("testkey", body));
 *   default_codes three rows: OK, PENDING, NOMONEY.
 *
 * Like every driver it exports exactly one symbol, payroute_driver_entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <payroute/driver.h>

#if (defined(TESTDRV_GOOD) + defined(TESTDRV_KEYS) +                           \
     defined(TESTDRV_OLDMINOR) + defined(TESTDRV_BADKEYS) +                    \
     defined(TESTDRV_BADMAGIC) + defined(TESTDRV_BADMAJOR) +                   \
     defined(TESTDRV_SMALL) + defined(TESTDRV_NEWMINOR)) != 1
#error "define exactly one TESTDRV_ variant (GOOD, BADMAGIC, ...)"
#endif

#ifndef TESTDRV_NAME
#error "define TESTDRV_NAME"
#endif

#define TESTDRV_SIGN_HEADER "X-Test-Sign"
#define TESTDRV_SIGN_KEY "testkey"

struct testdrv_state {
	const struct payroute_services *svc;
	char *channel;
	char *endpoint; /* without a trailing '/' */
};

static void copy_str(char *dst, size_t dstlen, const char *src, size_t len)
{
	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int testdrv_init(const struct payroute_services *svc,
			const char *channel, const payroute_conf *conf,
			void **state, char *err, size_t errlen)
{
	struct testdrv_state *st = NULL;
	const char *endpoint;
	int64_t fail_init = 0;
	size_t len;
	int rc;

	if (!svc || !conf || !state) {
		snprintf(err, errlen, "init: missing argument");
		return -EINVAL;
	}
	endpoint = svc->conf_str(conf, "endpoint");
	if (!endpoint || !*endpoint) {
		snprintf(err, errlen, "endpoint: required");
		return -EINVAL;
	}
	rc = svc->conf_int(conf, "fail_init", &fail_init);
	if (rc == -EINVAL) {
		snprintf(err, errlen, "fail_init: must be an integer");
		return -EINVAL;
	}
	if (rc == 0 && fail_init == 1) {
		snprintf(err, errlen, "fail_init set");
		return -EINVAL;
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		goto nomem;
	st->svc = svc;
	st->channel = strdup(channel ? channel : "");
	st->endpoint = strdup(endpoint);
	if (!st->channel || !st->endpoint)
		goto nomem;
	len = strlen(st->endpoint);
	while (len > 0 && st->endpoint[len - 1] == '/')
		st->endpoint[--len] = '\0';
	*state = st;
	return 0;

nomem:
	if (st) {
		free(st->channel);
		free(st->endpoint);
		free(st);
	}
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static void testdrv_fini(void *state)
{
	struct testdrv_state *st = state;

	if (!st)
		return;
	free(st->channel);
	free(st->endpoint);
	free(st);
}

static int testdrv_build_query(void *state, const struct payroute_order *order,
			       payroute_http_req *req, char *err, size_t errlen)
{
	struct testdrv_state *st = state;
	const struct payroute_services *svc = st->svc;
	char *id = NULL;
	char *url = NULL;
	size_t len;
	int rc;

	if (!order || !order->order_id || !*order->order_id) {
		snprintf(err, errlen, "order_id: missing");
		return -EINVAL;
	}
	id = svc->url_encode(order->order_id);
	if (!id) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	len = strlen(st->endpoint) + strlen("/query?id=") + strlen(id) + 1;
	url = malloc(len);
	if (!url) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(url, len, "%s/query?id=%s", st->endpoint, id);
	rc = svc->http_set(req, "GET", url);
	if (rc < 0)
		snprintf(err, errlen, "http_set failed (%d)", rc);
out:
	free(url);
	if (id)
		svc->free(id);
	return rc;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

static int testdrv_parse_query(void *state, const struct payroute_order *order,
			       const struct payroute_http_response *resp,
			       struct payroute_result *out, char *err,
			       size_t errlen)
{
	const char *b;
	size_t len;

	(void)state;
	(void)order;
	if (!resp || !out || (!resp->body && resp->body_len)) {
		snprintf(err, errlen, "parse_query: missing argument");
		return -EINVAL;
	}
	b = resp->body ? resp->body : "";
	len = resp->body_len;
	while (len > 0 && is_space(*b)) {
		b++;
		len--;
	}
	while (len > 0 && is_space(b[len - 1]))
		len--;
	if (len == 0) {
		snprintf(err, errlen, "empty answer (HTTP %d)", resp->status);
		return -EPROTO;
	}
	if (memchr(b, '\0', len)) {
		snprintf(err, errlen, "answer contains a NUL byte");
		return -EPROTO;
	}
	copy_str(out->code, sizeof(out->code), b, len);
	copy_str(out->status, sizeof(out->status), b, len);
	out->amount = -1;
	return 0;
}

static const char *find_header(const struct payroute_header *h, size_t n,
			       const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (h[i].name && strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

/* Case-insensitive comparison of two hex strings that does not stop at the
 * first difference. Returns 1 when equal. */
static int hex_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned diff = 0;

	if (la != lb)
		return 0;
	for (i = 0; i < la; i++)
		diff |= (unsigned)((a[i] | 0x20) ^ (b[i] | 0x20));
	return diff == 0;
}

/* Finds key's value in a form body (k=v&k=v) and url-decodes it into dst.
 * Returns 0, -ENOENT or -ENOMEM. */
static int form_get(const struct payroute_services *svc, const char *body,
		    size_t body_len, const char *key, char *dst, size_t dstlen)
{
	size_t klen = strlen(key);
	const char *p = body, *end = body + body_len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *seg_end = amp ? amp : end;

		if ((size_t)(seg_end - p) > klen && memcmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t vlen = (size_t)(seg_end - v);
			char raw[PAYROUTE_MSG_LEN];
			char *dec;

			copy_str(raw, sizeof(raw), v, vlen);
			dec = svc->url_decode(raw);
			if (!dec)
				return -ENOMEM;
			copy_str(dst, dstlen, dec, strlen(dec));
			svc->free(dec);
			return 0;
		}
		p = seg_end + 1;
	}
	return -ENOENT;
}

static int testdrv_parse_notify(void *state, const struct payroute_inbound *in,
				struct payroute_notify *out, char *err,
				size_t errlen)
{
	struct testdrv_state *st = state;
	const struct payroute_services *svc = st->svc;
	unsigned char mac[32];
	const char *sign;
	char *hex = NULL;
	int rc;

	out->reply_ok_status = 200;
	out->reply_fail_status = 400;
	copy_str(out->reply_content_type, sizeof(out->reply_content_type),
		 "text/plain", strlen("text/plain"));
	copy_str(out->reply_ok_body, sizeof(out->reply_ok_body), "ok", 2);
	copy_str(out->reply_fail_body, sizeof(out->reply_fail_body), "fail", 4);
	out->amount = -1;

	if (!in || (!in->body && in->body_len)) {
		snprintf(err, errlen, "parse_notify: missing argument");
		return -EINVAL;
	}
	sign = find_header(in->headers, in->n_headers, TESTDRV_SIGN_HEADER);
	if (!sign) {
		snprintf(err, errlen, "%s: missing", TESTDRV_SIGN_HEADER);
		return -EBADMSG;
	}
	rc = svc->hmac_sha256(TESTDRV_SIGN_KEY, strlen(TESTDRV_SIGN_KEY),
			      in->body ? in->body : "", in->body_len, mac);
	if (rc < 0) {
		snprintf(err, errlen, "hmac_sha256 failed (%d)", rc);
		return rc;
	}
	hex = svc->hex_encode(mac, sizeof(mac));
	if (!hex) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!hex_equal(hex, sign)) {
		snprintf(err, errlen, "%s: signature does not verify",
			 TESTDRV_SIGN_HEADER);
		rc = -EBADMSG;
		goto out;
	}

	out->kind = PAYROUTE_KIND_PAYMENT;
	rc = form_get(svc, in->body, in->body_len, "order_id", out->order_id,
		      sizeof(out->order_id));
	if (rc == 0)
		rc = form_get(svc, in->body, in->body_len, "code", out->code,
			      sizeof(out->code));
	if (rc == -ENOENT ||
	    (rc == 0 && (!out->order_id[0] || !out->code[0]))) {
		snprintf(err, errlen, "body: expected order_id=X&code=Y");
		rc = -EPROTO;
		goto out;
	}
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	copy_str(out->status, sizeof(out->status), out->code,
		 strlen(out->code));
out:
	svc->free(hex);
	return rc;
}

static const struct payroute_code_entry testdrv_codes[] = {
	{ "*", "OK", "*", "SUCCESS", PAYROUTE_EFFECT_SUCCESS, 0,
	  PAYROUTE_CAT_NONE, "Payment succeeded.", "支付成功。" },
	{ "*", "PENDING", "*", "PROCESSING", PAYROUTE_EFFECT_PROCESSING, 0,
	  PAYROUTE_CAT_NONE, "Payment is being processed.", "支付处理中。" },
	{ "*", "NOMONEY", "*", "INSUFFICIENT_BALANCE", PAYROUTE_EFFECT_FAILED,
	  0, PAYROUTE_CAT_USER, "Insufficient balance.", "余额不足。" },
};

static const struct payroute_code_entry *
testdrv_default_codes(size_t *n, size_t *entry_size)
{
	*n = sizeof(testdrv_codes) / sizeof(testdrv_codes[0]);
	*entry_size = sizeof(struct payroute_code_entry);
	return testdrv_codes;
}

#if !defined(TESTDRV_GOOD)
/* The config keys of testkeys (and of testold and badkeys, which the core
 * must respectively not read and refuse). */
static const struct payroute_config_key testdrv_keys[] = {
	{ "endpoint", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "base URL of the test channel" },
	{ "fail_init", PAYROUTE_CONFIG_INTEGER, 0, "0",
	  "1 makes init fail (for tests)" },
	{ "sign_type", PAYROUTE_CONFIG_STRING, 0, "HMAC-SHA256",
	  "signature algorithm (only HMAC-SHA256)" },
	/* masked because it is declared secret: its name has none of the
	 * words the core's name-based masking looks for */
	{ "passphrase", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_SECRET, NULL,
	  "a secret, masked when read back" },
	{ "verbose", PAYROUTE_CONFIG_BOOLEAN, 0, "false",
	  "log more (ignored)" },
#if defined(TESTDRV_BADKEYS)
	{ "endpoint", PAYROUTE_CONFIG_STRING, 0, NULL, "declared twice" },
#endif
};

static const struct payroute_config_key *testdrv_config_keys(size_t *n,
							     size_t *entry_size)
{
	*n = sizeof(testdrv_keys) / sizeof(testdrv_keys[0]);
	*entry_size = sizeof(struct payroute_config_key);
	return testdrv_keys;
}
#endif

#if defined(TESTDRV_GOOD) || defined(TESTDRV_KEYS) || defined(TESTDRV_BADKEYS)
#define TESTDRV_HEADER PAYROUTE_DRIVER_HEADER_V1
#else
#if defined(TESTDRV_BADMAGIC)
#define TESTDRV_MAGIC 0xDEADBEEFu
#else
#define TESTDRV_MAGIC PAYROUTE_DRIVER_MAGIC
#endif
#if defined(TESTDRV_BADMAJOR)
#define TESTDRV_MAJOR (PAYROUTE_ABI_MAJOR + 1)
#else
#define TESTDRV_MAJOR PAYROUTE_ABI_MAJOR
#endif
#if defined(TESTDRV_NEWMINOR)
#define TESTDRV_MINOR (PAYROUTE_ABI_MINOR + 1)
#elif defined(TESTDRV_OLDMINOR)
#define TESTDRV_MINOR 1 /* built for ABI 1.1: no config_keys */
#else
#define TESTDRV_MINOR PAYROUTE_ABI_MINOR
#endif
#if defined(TESTDRV_SMALL)
#define TESTDRV_SIZE ((uint32_t)offsetof(struct payroute_driver, init))
#else
#define TESTDRV_SIZE ((uint32_t)sizeof(struct payroute_driver))
#endif
#define TESTDRV_HEADER                                                         \
	.magic = TESTDRV_MAGIC, .abi_major = TESTDRV_MAJOR,                    \
	.abi_minor = TESTDRV_MINOR, .size = TESTDRV_SIZE, .reserved = 0
#endif

static const struct payroute_driver testdrv_driver = {
	TESTDRV_HEADER,
	.name = TESTDRV_NAME,
	.version = "1.0.0",
	.description = "payroute test driver (loader tests)",
	.init = testdrv_init,
	.fini = testdrv_fini,
	.build_query = testdrv_build_query,
	.parse_query = testdrv_parse_query,
	.parse_notify = testdrv_parse_notify,
	.default_codes = testdrv_default_codes,
#if !defined(TESTDRV_GOOD)
	.config_keys = testdrv_config_keys,
#endif
};

PAYROUTE_DRIVER_EXPORT(testdrv_driver)
