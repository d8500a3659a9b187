/*
 * fuzz_wechat_common.h - what the two WeChat Pay v3 fuzz targets share:
 * the driver and services set up once with the test keys, and the helpers
 * that sign (and break) inputs so that fuzzing reaches past the checks.
 * Static functions: included by one target at a time.
 */
#ifndef FUZZ_WECHAT_COMMON_H
#define FUZZ_WECHAT_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <payroute/driver.h>

#include "runtime/crypto.h"
#include "domain/drvobj.h"
#include "runtime/services.h"

const struct payroute_driver *payroute_driver_entry(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW_S 1700000000LL
#define FUZZ_SERIAL "3E3E060D32B1B3F3"

/* The test keys (tests/keys); build.sh defines FUZZ_KEY_DIR. */
#ifndef FUZZ_KEY_DIR
#error "FUZZ_KEY_DIR (the tests/keys directory) must be defined"
#endif
#define FUZZ_KEY(f) "@" FUZZ_KEY_DIR "/" f

static struct payroute_services fz_svc;
static const struct payroute_driver *fz_drv;
static void *fz_state;
static payroute_key *fz_platform_key;
static const unsigned char fz_apiv3[33] = "33cd7b94ef19075343a928f234f60388";

static int64_t fz_now_ms(void)
{
	return FUZZ_NOW_S * 1000;
}

static void fz_log(enum payroute_log_level level, const char *channel,
		   const char *fmt, ...)
{
	(void)level;
	(void)channel;
	(void)fmt;
}

/* Initialises the driver once; aborts when that fails (a harness bug). */
static void fz_init(void)
{
	struct payroute_conf conf;
	char err[256] = "";
	json_t *root;

	if (fz_drv)
		return;
	fz_svc = *pr_services();
	fz_svc.now_ms = fz_now_ms;
	fz_svc.log = fz_log;
	root = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s#}", "mch_id",
		"1900000001", "appid", "wx0000000000000001", "api_base",
		"http://127.0.0.1:1/wechat", "merchant_private_key",
		FUZZ_KEY("wechat_merchant_private.pem"), "merchant_serial_no",
		"E9E7058518651236", "platform_public_key",
		FUZZ_KEY("wechat_platform_cert.pem"), "platform_serial_no",
		FUZZ_SERIAL, "apiv3_key", (const char *)fz_apiv3, (size_t)32);
	conf.root = root;
	fz_drv = payroute_driver_entry();
	if (!root ||
	    fz_drv->init(&fz_svc, "fuzz", &conf, &fz_state, err, sizeof(err)) !=
		    0 ||
	    pr_key_load(FUZZ_KEY("wechat_platform_private.pem"), 1,
			&fz_platform_key, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz init: %s\n", err);
		abort();
	}
	json_decref(root);
}

/* Header storage for one input. */
struct fz_headers {
	struct payroute_header h[16];
	size_t n;
	char ts[32], nonce[48];
	char *sig;
	char *raw; /* header text taken from the input */
};

/* Signs body as WeChat Pay would, timestamp shifted by skew seconds. */
static void fz_sign(struct fz_headers *hd, const char *body, size_t len,
		    long skew)
{
	char *msg;
	size_t n;

	snprintf(hd->ts, sizeof(hd->ts), "%lld", FUZZ_NOW_S + skew);
	snprintf(hd->nonce, sizeof(hd->nonce), "fuzznonce%zu", len);
	msg = malloc(len + 96);
	if (!msg)
		abort();
	n = (size_t)snprintf(msg, 96, "%s\n%s\n", hd->ts, hd->nonce);
	if (len)
		memcpy(msg + n, body, len);
	msg[n + len] = '\n';
	if (pr_rsa_sha256_sign(fz_platform_key, msg, n + len + 1, &hd->sig) !=
	    0)
		abort();
	free(msg);
	hd->h[hd->n++] =
		(struct payroute_header){ "Wechatpay-Timestamp", hd->ts };
	hd->h[hd->n++] =
		(struct payroute_header){ "Wechatpay-Nonce", hd->nonce };
	hd->h[hd->n++] =
		(struct payroute_header){ "Wechatpay-Signature", hd->sig };
	hd->h[hd->n++] =
		(struct payroute_header){ "Wechatpay-Serial", FUZZ_SERIAL };
}

/* Mode "raw headers": the input is "Name: value\n"... "\n" body. Sets
 * *body / *len to what follows the blank line. */
static void fz_raw_headers(struct fz_headers *hd, const uint8_t *data,
			   size_t size, const uint8_t **body, size_t *len)
{
	char *p, *line, *colon, *end;
	size_t hlen = 0;

	while (hlen + 1 < size &&
	       !(data[hlen] == '\n' && data[hlen + 1] == '\n'))
		hlen++;
	if (hlen + 1 >= size) {
		*body = data;
		*len = size;
		return;
	}
	*body = data + hlen + 2;
	*len = size - hlen - 2;
	hd->raw = malloc(hlen + 1);
	if (!hd->raw)
		abort();
	memcpy(hd->raw, data, hlen);
	hd->raw[hlen] = '\0';
	p = hd->raw;
	while (p && *p && hd->n < sizeof(hd->h) / sizeof(hd->h[0])) {
		line = p;
		end = strchr(p, '\n');
		if (end)
			*end = '\0';
		p = end ? end + 1 : NULL;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		colon++;
		while (*colon == ' ')
			colon++;
		hd->h[hd->n++] = (struct payroute_header){ line, colon };
	}
}

static void fz_headers_free(struct fz_headers *hd)
{
	free(hd->sig);
	free(hd->raw);
}

#endif
