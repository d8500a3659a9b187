// FUZZ_DRIVER: drivers/wechat/wechat.c
/*
 * fuzz_wechat_response.c - libFuzzer target for the WeChat Pay v3 driver's answer parsers (parse_pay ... parse_payout_query).
 *
 * Built by tests/fuzz/build.sh with clang -fsanitize=fuzzer,address,undefined
 * against drivers/wechat/wechat.c and the core objects the services table
 * needs (services.c, crypto.c, drvobj.c, log.c), with core/ and include/ on
 * the include path. The driver runs through its descriptor
 * (payroute_driver_entry) and the core's services table, the clock fixed.
 *
 * Random bytes never carry a valid RSA signature, so the harness plays
 * WeChat Pay: it signs what the input says with the test platform key
 * (tests/keys/wechat_platform_private.pem) whose certificate the driver is
 * configured with. The other input modes
 * hand the driver unsigned data or headers taken from the input, so that
 * the checks in front of the parsers are fuzzed too.
 *
 * Input: byte 0 = op (bits 0-2: pay, query, close, refund, refund_query,
 * payout, payout_query, pay), signing mode (bits 3-4: 0 and 1 signed, 2
 * unsigned, 3 headers from the input) and environment (bits 5-7); byte 1
 * = HTTP status (index, low 4 bits); the rest is the body (after the
 * headers in mode 3).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <payroute/driver.h>

#include "crypto.h"
#include "drvobj.h"
#include "services.h"

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

static const int fz_status[16] = { 200, 200, 204, 400, 401, 403, 404, 429,
				   500, 502, 302, 0,   100, 201, 599, 600 };
static const char *const fz_env[8] = { "native_qr", "jsapi", "mini_program",
				       "h5",	    "app",   "pc",
				       NULL,	    "bogus" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payroute_http_response resp;
	struct payroute_order o;
	struct payroute_result r;
	struct payroute_kv payer;
	struct fz_headers hd;
	payroute_parse_fn fn;
	const uint8_t *b;
	char err[256], *body;
	size_t len;
	int mode;

	fz_init();
	if (size < 2)
		return 0;
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.order_id = "ORDER0001";
	o.amount = 12345;
	memcpy(o.currency, "CNY", 4);
	o.environment = fz_env[data[0] >> 5];
	o.buyer_id = "oBUYER1";
	o.client_ip = "203.0.113.7";
	o.notify_url = "http://127.0.0.1:9000/notify/fuzz";
	o.refund_id = "REFUND0001";
	o.refund_amount = 500;
	o.total_amount = 12345;
	o.payout_id = "PAYOUT0001";
	o.payee_kind = "wechat_openid";
	o.payee_account = "oPAYEE1";
	switch (data[0] & 7) {
	case 1:
		fn = fz_drv->parse_query;
		break;
	case 2:
		fn = fz_drv->parse_close;
		break;
	case 3:
		fn = fz_drv->parse_refund;
		break;
	case 4:
		fn = fz_drv->parse_refund_query;
		break;
	case 5:
		fn = fz_drv->parse_payout;
		break;
	case 6:
		fn = fz_drv->parse_payout_query;
		break;
	default:
		fn = fz_drv->parse_pay;
		break;
	}
	mode = (data[0] >> 3) & 3;
	memset(&hd, 0, sizeof(hd));
	b = data + 2;
	len = size - 2;
	if (mode == 3)
		fz_raw_headers(&hd, data + 2, size - 2, &b, &len);
	/* The core hands bodies over NUL-terminated: len + 1 bytes. */
	body = malloc(len + 1);
	if (!body)
		abort();
	if (len)
		memcpy(body, b, len);
	body[len] = '\0';
	if (mode < 2)
		fz_sign(&hd, body, len, 0);

	memset(&resp, 0, sizeof(resp));
	resp.size = sizeof(resp);
	resp.status = fz_status[data[1] & 15];
	resp.headers = hd.n ? hd.h : NULL;
	resp.n_headers = hd.n;
	resp.body = body;
	resp.body_len = len;
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	pr_kv_init(&payer);
	r.payer = &payer;
	err[0] = '\0';
	/* Every failure says why; the result's strings stay terminated. */
	if (fn(fz_state, &o, &resp, &r, err, sizeof(err)) < 0 && !err[0])
		abort();
	if (!memchr(r.code, 0, sizeof(r.code)) ||
	    !memchr(r.sub_code, 0, sizeof(r.sub_code)) ||
	    !memchr(r.channel_trade_no, 0, sizeof(r.channel_trade_no)) ||
	    !memchr(err, 0, sizeof(err)))
		abort();
	pr_kv_clear(&payer);
	fz_headers_free(&hd);
	free(body);
	return 0;
}
