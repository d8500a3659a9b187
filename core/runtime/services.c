/*
 * services.c - the table of core services every driver receives at init
 * (struct payroute_services, payroute/driver.h): logging tagged with the
 * channel code, the clock, memory, reading the channel's driver config,
 * writing the outbound request and the payer map, and the crypto helpers
 * of crypto.c (ABI 1.1 adds rsa_encrypt, in the first spare slot) and
 * x509.c (ABI 1.2 adds md5, x509_info and x509_verify, in the next three;
 * ABI 1.3 the incremental digests hash_begin, hash_update and hash_end).
 *
 * The functions that write core objects are the drivers' only way in, so
 * they validate what they are given (an HTTP method from a fixed list, an
 * http(s) URL, header names and values that cannot split a request) and
 * copy every argument. The table is static and lives as long as the
 * process.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "runtime/crypto.h"
#include "runtime/x509.h"
#include "domain/drvobj.h"
#include "runtime/log.h"
#include "runtime/services.h"

/* Longest segment of a dotted config key ("a.b"). */
#define CONF_KEY_SEG_MAX 128

static void svc_log(enum payroute_log_level level, const char *channel,
		    const char *fmt, ...) PAYROUTE_PRINTF(3, 4);

static void svc_log(enum payroute_log_level level, const char *channel,
		    const char *fmt, ...)
{
	char msg[3072];
	va_list ap;

	if (level > pr_log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_log(level, "[channel %s] %s", channel ? channel : "-", msg);
}

static void *svc_alloc(size_t size)
{
	/* Never NULL for a zero size: NULL means out of memory. */
	return malloc(size ? size : 1);
}

static void svc_free(void *ptr)
{
	free(ptr);
}

/* ------------------------------------------------------------------------ */
/* Channel config                                                           */
/* ------------------------------------------------------------------------ */

/* Walks a dotted path through nested objects; NULL when any step is
 * missing, is not an object, or the path is malformed ("", "a..b"). */
static json_t *conf_lookup(const payroute_conf *conf, const char *key)
{
	char seg[CONF_KEY_SEG_MAX];
	const char *p, *dot;
	json_t *node;
	size_t len;

	if (!conf || !conf->root || !key)
		return NULL;
	node = conf->root;
	p = key;
	for (;;) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || len >= sizeof(seg) || !json_is_object(node))
			return NULL;
		memcpy(seg, p, len);
		seg[len] = '\0';
		node = json_object_get(node, seg);
		if (!node)
			return NULL;
		if (!dot)
			return node;
		p = dot + 1;
	}
}

static const char *svc_conf_str(const payroute_conf *conf, const char *key)
{
	json_t *v = conf_lookup(conf, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int svc_conf_int(const payroute_conf *conf, const char *key,
			int64_t *out)
{
	json_t *v = conf_lookup(conf, key);

	if (!v)
		return -ENOENT;
	if (!json_is_integer(v) || !out)
		return -EINVAL;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int svc_conf_bool(const payroute_conf *conf, const char *key, int *out)
{
	json_t *v = conf_lookup(conf, key);

	if (!v)
		return -ENOENT;
	if (!json_is_boolean(v) || !out)
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The outbound request                                                     */
/* ------------------------------------------------------------------------ */

/* True when s holds a control character (CR, LF, TAB, DEL...) or a space:
 * nothing a URL or a header name may contain. */
static int has_ctl_or_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

static int svc_http_set(payroute_http_req *req, const char *method,
			const char *url)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };
	char *m, *u;
	size_t i;

	if (!req || !method || !url)
		return -EINVAL;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(method, methods[i]) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return -EINVAL;
	if ((strncasecmp(url, "http://", 7) != 0 || !url[7]) &&
	    (strncasecmp(url, "https://", 8) != 0 || !url[8]))
		return -EINVAL;
	if (has_ctl_or_space(url))
		return -EINVAL;
	m = strdup(method);
	u = strdup(url);
	if (!m || !u) {
		free(m);
		free(u);
		return -ENOMEM;
	}
	free(req->method);
	free(req->url);
	req->method = m;
	req->url = u;
	return 0;
}

static int svc_http_header(payroute_http_req *req, const char *name,
			   const char *value)
{
	struct pr_hdr *h;
	char *n, *v;

	if (!req || !name || !value || !*name)
		return -EINVAL;
	/* A name is a token: no separators that could end or split it. */
	if (has_ctl_or_space(name) || strchr(name, ':'))
		return -EINVAL;
	/* CR or LF in a value would smuggle a header or a request. */
	if (strpbrk(value, "\r\n"))
		return -EINVAL;
	n = strdup(name);
	v = strdup(value);
	h = (n && v) ? realloc(req->headers,
			       (req->n_headers + 1) * sizeof(*req->headers)) :
		       NULL;
	if (!h) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	req->headers = h;
	h[req->n_headers].name = n;
	h[req->n_headers].value = v;
	req->n_headers++;
	return 0;
}

static int svc_http_body(payroute_http_req *req, const void *data, size_t len)
{
	unsigned char *b;

	if (!req || (!data && len) || len == SIZE_MAX)
		return -EINVAL;
	b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	if (len)
		memcpy(b, data, len);
	b[len] = '\0';
	free(req->body);
	req->body = b;
	req->body_len = len;
	return 0;
}

static int svc_http_timeout(payroute_http_req *req, int timeout_ms)
{
	if (!req || timeout_ms < 0)
		return -EINVAL;
	req->timeout_ms = timeout_ms;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The payer map                                                            */
/* ------------------------------------------------------------------------ */

/* Copies key and value; replaces the value of an existing key in place.
 * Key and value must be valid UTF-8 (the map ends up in JSON). */
static int svc_kv_set(payroute_kv *kv, const char *key, const char *value)
{
	struct pr_hdr *items;
	json_t *probe;
	char *k = NULL, *v;

	if (!kv || !key || !*key || !value)
		return -EINVAL;
	probe = json_string(key);
	if (!probe)
		return -EINVAL;
	json_decref(probe);
	probe = json_string(value);
	if (!probe)
		return -EINVAL;
	json_decref(probe);

	v = strdup(value);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < kv->n; i++) {
		if (strcmp(kv->items[i].name, key) == 0) {
			free(kv->items[i].value);
			kv->items[i].value = v;
			return 0;
		}
	}
	k = strdup(key);
	items = k ? realloc(kv->items, (kv->n + 1) * sizeof(*kv->items)) : NULL;
	if (!items) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	kv->items = items;
	items[kv->n].name = k;
	items[kv->n].value = v;
	kv->n++;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */
/* ------------------------------------------------------------------------ */

static const struct payroute_services services = {
	.size = (uint32_t)sizeof(struct payroute_services),
	.abi_major = PAYROUTE_ABI_MAJOR,
	.abi_minor = PAYROUTE_ABI_MINOR,
	.log = svc_log,
	.now_ms = pr_now_ms,
	.alloc = svc_alloc,
	.free = svc_free,
	.conf_str = svc_conf_str,
	.conf_int = svc_conf_int,
	.conf_bool = svc_conf_bool,
	.http_set = svc_http_set,
	.http_header = svc_http_header,
	.http_body = svc_http_body,
	.http_timeout = svc_http_timeout,
	.kv_set = svc_kv_set,
	.key_load = pr_key_load,
	.key_free = pr_key_free,
	.rsa_sha256_sign = pr_rsa_sha256_sign,
	.rsa_sha256_verify = pr_rsa_sha256_verify,
	.aes256gcm_encrypt = pr_aes256gcm_encrypt,
	.aes256gcm_decrypt = pr_aes256gcm_decrypt,
	.hmac_sha256 = pr_hmac_sha256,
	.sha256 = pr_sha256,
	.base64_encode = pr_base64_encode,
	.base64_decode = pr_base64_decode,
	.hex_encode = pr_hex_encode,
	.url_encode = pr_url_encode,
	.url_decode = pr_url_decode,
	.random_bytes = pr_random_bytes,
	.rsa_encrypt = pr_rsa_encrypt,
	.md5 = pr_md5,
	.x509_info = pr_x509_info,
	.x509_verify = pr_x509_verify,
	.hash_begin = pr_hash_begin,
	.hash_update = pr_hash_update,
	.hash_end = pr_hash_end,
};

const struct payroute_services *pr_services(void)
{
	return &services;
}
