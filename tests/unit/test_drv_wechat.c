/*
 * test_drv_wechat.c - unit tests of the WeChat Pay v3 driver
 * (drivers/wechat/wechat.c), driven through payroute_driver_entry() with
 * the core's services table (pr_services()) and the fixed keys of
 * tests/keys.
 *
 * The services table is copied with two seams replaced: the clock (so that
 * timestamps are fixed and staleness can be tested) and, when a test asks
 * for it, the random source (so that the request nonce is fixed and the
 * Authorization signature can be compared with a constant computed by
 * `openssl dgst -sha256 -sign`). Everything the platform would sign or
 * encrypt is signed here with the platform's private key and encrypted
 * with the APIv3 key; one platform answer is an openssl-computed constant.
 * Requests are checked by rebuilding the signature message from what was
 * sent and verifying it with the merchant's public key.
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
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include <payroute/driver.h>

#include "runtime/crypto.h"
#include "domain/drvobj.h"
#include "runtime/services.h"

const struct payroute_driver *payroute_driver_entry(void);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define KEY(f) "@" TEST_KEY_DIR "/" f
#define API_BASE "http://127.0.0.1:8000/wechat"
#define MCH_ID "1900000001"
#define APPID "wx0000000000000001"
#define MERCHANT_SERIAL "E9E7058518651236"
#define PLATFORM_SERIAL "3E3E060D32B1B3F3"
#define NOW_S 1700000000LL

/* ------------------------------------------------------------------------ */
/* Fixture                                                                  */
/* ------------------------------------------------------------------------ */

static int64_t g_now_ms = NOW_S * 1000;
static int g_fixed_random;
static unsigned g_random_counter;

static int64_t fake_now_ms(void)
{
	return g_now_ms;
}

/* With g_fixed_random the bytes are 0, 1, 2...: the first nonce is
 * "0123456789ABCDEFGHIJKLMNOPQRSTUV". */
static int fake_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t i;

	if (!g_fixed_random)
		return pr_random_bytes(buf, len);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(g_random_counter++ & 0xff);
	return 0;
}

struct fixture {
	struct payroute_services svc;
	const struct payroute_driver *drv;
	void *state;
	unsigned char apiv3[32];
	payroute_key *platform_priv; /* what WeChat Pay signs with */
	payroute_key *merchant_pub;  /* checks what the driver signed */
};

static void read_apiv3(unsigned char out[32])
{
	FILE *f = fopen(TEST_KEY_DIR "/wechat_apiv3.key", "r");
	char line[64];

	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	assert_int_equal(strlen(line), 32);
	memcpy(out, line, 32);
}

static json_t *make_conf(const unsigned char apiv3[32])
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s#}", "mch_id",
			 MCH_ID, "appid", APPID, "api_base", API_BASE "/",
			 "merchant_private_key",
			 KEY("wechat_merchant_private.pem"),
			 "merchant_serial_no", MERCHANT_SERIAL,
			 "platform_public_key", KEY("wechat_platform_cert.pem"),
			 "platform_serial_no", PLATFORM_SERIAL, "apiv3_key",
			 (const char *)apiv3, (size_t)32);
}

static int setup(void **ts)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct payroute_conf conf;
	char err[256] = "", kerr[256];
	json_t *root;
	int rc;

	assert_non_null(f);
	f->svc = *pr_services();
	f->svc.now_ms = fake_now_ms;
	f->svc.random_bytes = fake_random_bytes;
	g_now_ms = NOW_S * 1000;
	g_fixed_random = 0;
	f->drv = payroute_driver_entry();
	read_apiv3(f->apiv3);
	root = make_conf(f->apiv3);
	assert_non_null(root);
	conf.root = root;
	rc = f->drv->init(&f->svc, "wx_test", &conf, &f->state, err,
			  sizeof(err));
	json_decref(root);
	if (rc != 0)
		fail_msg("init: %s", err);
	assert_int_equal(pr_key_load(KEY("wechat_platform_private.pem"), 1,
				     &f->platform_priv, kerr, sizeof(kerr)),
			 0);
	assert_int_equal(pr_key_load(KEY("wechat_merchant_public.pem"), 0,
				     &f->merchant_pub, kerr, sizeof(kerr)),
			 0);
	*ts = f;
	return 0;
}

static int teardown(void **ts)
{
	struct fixture *f = *ts;

	f->drv->fini(f->state);
	pr_key_free(f->platform_priv);
	pr_key_free(f->merchant_pub);
	free(f);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static struct payroute_order base_order(void)
{
	struct payroute_order o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.order_id = "ORDER0001";
	o.amount = 12345;
	memcpy(o.currency, "CNY", 4);
	o.method = "wechat_pay";
	o.environment = "native_qr";
	o.subject = "测试商品";
	o.notify_url = "http://127.0.0.1:9000/notify/wx_test";
	o.created_at_ms = NOW_S * 1000;
	o.refund_id = "REFUND0001";
	o.refund_amount = 500;
	o.total_amount = 12345;
	o.reason = "不想要了";
	o.payout_id = "PAYOUT0001";
	o.payee_kind = "wechat_openid";
	o.payee_account = "oPAYEE000000000000000000001";
	o.payee_name = "张三";
	return o;
}

static payroute_build_fn build_fn(const struct payroute_driver *d,
				  const char *op)
{
	if (strcmp(op, "pay") == 0)
		return d->build_pay;
	if (strcmp(op, "query") == 0)
		return d->build_query;
	if (strcmp(op, "close") == 0)
		return d->build_close;
	if (strcmp(op, "refund") == 0)
		return d->build_refund;
	if (strcmp(op, "refund_query") == 0)
		return d->build_refund_query;
	if (strcmp(op, "payout") == 0)
		return d->build_payout;
	if (strcmp(op, "payout_query") == 0)
		return d->build_payout_query;
	fail_msg("no op %s", op);
	return NULL;
}

static payroute_parse_fn parse_fn(const struct payroute_driver *d,
				  const char *op)
{
	if (strcmp(op, "pay") == 0)
		return d->parse_pay;
	if (strcmp(op, "query") == 0)
		return d->parse_query;
	if (strcmp(op, "close") == 0)
		return d->parse_close;
	if (strcmp(op, "refund") == 0)
		return d->parse_refund;
	if (strcmp(op, "refund_query") == 0)
		return d->parse_refund_query;
	if (strcmp(op, "payout") == 0)
		return d->parse_payout;
	if (strcmp(op, "payout_query") == 0)
		return d->parse_payout_query;
	fail_msg("no op %s", op);
	return NULL;
}

static const char *req_header(const struct payroute_http_req *r,
			      const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Copies the value of name="..." out of an Authorization header. */
static void auth_param(const char *auth, const char *name, char *out,
		       size_t outsz)
{
	char key[64];
	const char *p, *end;

	snprintf(key, sizeof(key), "%s=\"", name);
	p = strstr(auth, key);
	if (!p)
		fail_msg("Authorization has no %s: %s", name, auth);
	p += strlen(key);
	end = strchr(p, '"');
	assert_non_null(end);
	assert_true((size_t)(end - p) < outsz);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
}

/* Signs "l0\nl1\n...\n" with key; returns a malloc'd base64 signature. */
static char *sign_msg(const payroute_key *key, const char *msg, size_t len)
{
	char *sig = NULL;

	assert_int_equal(pr_rsa_sha256_sign(key, msg, len, &sig), 0);
	return sig;
}

/* Checks the Authorization of a built request independently: its format,
 * mchid / serial, the timestamp, the nonce shape, and the signature over
 * the message rebuilt from the method, the URL's path and query, the
 * timestamp, the nonce and the body. Copies the signature out if asked. */
static void check_auth(struct fixture *f, const struct payroute_http_req *r,
		       char *sig_out, size_t sig_outsz)
{
	const char *auth = req_header(r, "Authorization");
	char mchid[64], nonce[64], sig[512], ts[32], serial[64];
	char msg[8192];
	const char *canon;
	int n;

	assert_non_null(auth);
	assert_int_equal(
		strncmp(auth, "WECHATPAY2-SHA256-RSA2048 mchid=\"", 33), 0);
	auth_param(auth, "mchid", mchid, sizeof(mchid));
	auth_param(auth, "nonce_str", nonce, sizeof(nonce));
	auth_param(auth, "signature", sig, sizeof(sig));
	auth_param(auth, "timestamp", ts, sizeof(ts));
	auth_param(auth, "serial_no", serial, sizeof(serial));
	assert_string_equal(mchid, MCH_ID);
	assert_string_equal(serial, MERCHANT_SERIAL);
	assert_int_equal(strtoll(ts, NULL, 10), g_now_ms / 1000);
	assert_int_equal(strlen(nonce), 32);
	for (size_t i = 0; i < 32; i++)
		assert_true((nonce[i] >= '0' && nonce[i] <= '9') ||
			    (nonce[i] >= 'A' && nonce[i] <= 'Z') ||
			    (nonce[i] >= 'a' && nonce[i] <= 'z'));
	/* The canonical URL: everything after scheme://host:port. */
	assert_int_equal(strncmp(r->url, "http://127.0.0.1:8000/", 22), 0);
	canon = r->url + strlen("http://127.0.0.1:8000");
	n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n%s\n", r->method, canon,
		     ts, nonce, r->body ? (const char *)r->body : "");
	assert_true(n > 0 && (size_t)n < sizeof(msg));
	assert_int_equal(
		pr_rsa_sha256_verify(f->merchant_pub, msg, (size_t)n, sig), 0);
	if (sig_out)
		snprintf(sig_out, sig_outsz, "%s", sig);
}

/* Looks up a dotted path ("amount.total", "transfer_detail_list.0.openid")
 * in a JSON value. */
static json_t *jpath(json_t *v, const char *path)
{
	char seg[64];
	const char *p = path, *dot;
	size_t len;

	while (v && *p) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		assert_true(len < sizeof(seg));
		memcpy(seg, p, len);
		seg[len] = '\0';
		if (json_is_array(v))
			v = json_array_get(v, strtoul(seg, NULL, 10));
		else
			v = json_object_get(v, seg);
		p = dot ? dot + 1 : p + len;
	}
	return v;
}

/* "path=value" (a string), "path=#123" (an integer) or "!path" (absent). */
static void check_field(json_t *body, const char *spec)
{
	char path[128];
	const char *eq = strchr(spec, '=');
	json_t *v;

	if (spec[0] == '!') {
		if (jpath(body, spec + 1))
			fail_msg("body has %s", spec + 1);
		return;
	}
	assert_non_null(eq);
	snprintf(path, sizeof(path), "%.*s", (int)(eq - spec), spec);
	v = jpath(body, path);
	if (!v)
		fail_msg("body has no %s", path);
	if (eq[1] == '#') {
		if (!json_is_integer(v) ||
		    json_integer_value(v) != strtoll(eq + 2, NULL, 10))
			fail_msg("%s: not the integer %s", path, eq + 2);
	} else {
		if (!json_is_string(v) ||
		    strcmp(json_string_value(v), eq + 1) != 0)
			fail_msg("%s: got %s, want %s", path,
				 json_is_string(v) ? json_string_value(v) :
						     "(not a string)",
				 eq + 1);
	}
}

/* ------------------------------------------------------------------------ */
/* Building requests                                                        */
/* ------------------------------------------------------------------------ */

struct build_case {
	const char *name;
	const char *op;
	const char *env;
	int64_t amount; /* 0: the base order's */
	int rc;
	const char *method;
	const char *path; /* after API_BASE */
	const char *fields[12];
};

static const struct build_case build_cases[] = {
	{ "native",
	  "pay",
	  "native_qr",
	  0,
	  0,
	  "POST",
	  "/v3/pay/transactions/native",
	  { "appid=" APPID, "mchid=" MCH_ID, "description=测试商品",
	    "out_trade_no=ORDER0001",
	    "notify_url=http://127.0.0.1:9000/notify/wx_test",
	    "amount.total=#12345", "amount.currency=CNY",
	    "time_expire=2023-11-15T06:43:20+08:00", "!payer" } },
	{ "pc is native",
	  "pay",
	  "pc",
	  0,
	  0,
	  "POST",
	  "/v3/pay/transactions/native",
	  { "amount.total=#12345" } },
	{ "jsapi",
	  "pay",
	  "jsapi",
	  0,
	  0,
	  "POST",
	  "/v3/pay/transactions/jsapi",
	  { "payer.openid=oBUYER0000000000000000000001", "amount.total=#12345",
	    "out_trade_no=ORDER0001" } },
	{ "mini program",
	  "pay",
	  "mini_program",
	  1,
	  0,
	  "POST",
	  "/v3/pay/transactions/jsapi",
	  { "payer.openid=oBUYER0000000000000000000001", "amount.total=#1" } },
	{ "h5",
	  "pay",
	  "h5",
	  0,
	  0,
	  "POST",
	  "/v3/pay/transactions/h5",
	  { "scene_info.payer_client_ip=203.0.113.7",
	    "scene_info.h5_info.type=Wap", "amount.total=#12345" } },
	{ "app",
	  "pay",
	  "app",
	  0,
	  0,
	  "POST",
	  "/v3/pay/transactions/app",
	  { "appid=" APPID, "amount.total=#12345", "!payer" } },
	{ "unknown environment", "pay", "fax", 0, -EINVAL, NULL, NULL, { 0 } },
	{ "zero amount", "pay", "native_qr", -1, -EINVAL, NULL, NULL, { 0 } },
	{ "query",
	  "query",
	  NULL,
	  0,
	  0,
	  "GET",
	  "/v3/pay/transactions/out-trade-no/ORDER0001?mchid=" MCH_ID,
	  { 0 } },
	{ "close",
	  "close",
	  NULL,
	  0,
	  0,
	  "POST",
	  "/v3/pay/transactions/out-trade-no/ORDER0001/close",
	  { "mchid=" MCH_ID } },
	{ "refund",
	  "refund",
	  NULL,
	  0,
	  0,
	  "POST",
	  "/v3/refund/domestic/refunds",
	  { "out_trade_no=ORDER0001", "out_refund_no=REFUND0001",
	    "reason=不想要了",
	    "notify_url=http://127.0.0.1:9000/notify/wx_test",
	    "amount.refund=#500", "amount.total=#12345",
	    "amount.currency=CNY" } },
	{ "refund query",
	  "refund_query",
	  NULL,
	  0,
	  0,
	  "GET",
	  "/v3/refund/domestic/refunds/REFUND0001",
	  { 0 } },
	{ "payout",
	  "payout",
	  NULL,
	  0,
	  0,
	  "POST",
	  "/v3/transfer/batches",
	  { "appid=" APPID, "out_batch_no=PAYOUT0001", "batch_name=测试商品",
	    "batch_remark=不想要了", "total_amount=#12345", "total_num=#1",
	    "transfer_detail_list.0.out_detail_no=PAYOUT0001",
	    "transfer_detail_list.0.transfer_amount=#12345",
	    "transfer_detail_list.0.openid=oPAYEE000000000000000000001" } },
	{ "payout of 2000 yuan, with the payee's name",
	  "payout",
	  NULL,
	  200000,
	  0,
	  "POST",
	  "/v3/transfer/batches",
	  { "total_amount=#200000",
	    "transfer_detail_list.0.transfer_amount=#200000" } },
	{ "payout just under 2000 yuan",
	  "payout",
	  NULL,
	  199999,
	  0,
	  "POST",
	  "/v3/transfer/batches",
	  { "total_amount=#199999" } },
	{ "payout query",
	  "payout_query",
	  NULL,
	  0,
	  0,
	  "GET",
	  "/v3/transfer/batches/out-batch-no/PAYOUT0001"
	  "?need_query_detail=true&detail_status=ALL",
	  { 0 } },
};

static void test_build_table(void **ts)
{
	struct fixture *f = *ts;

	for (size_t i = 0; i < N_ELEMS(build_cases); i++) {
		const struct build_case *c = &build_cases[i];
		struct payroute_order o = base_order();
		struct payroute_http_req req;
		char err[256] = "", url[512];
		json_t *body = NULL;
		int rc;

		print_message("build: %s\n", c->name);
		if (c->env)
			o.environment = c->env;
		if (c->amount > 0)
			o.amount = c->amount;
		else if (c->amount < 0)
			o.amount = 0;
		o.buyer_id = "oBUYER0000000000000000000001";
		o.client_ip = strcmp(o.environment, "h5") == 0 ? "203.0.113.7" :
								 NULL;
		o.expire_at_ms =
			strcmp(c->name, "native") == 0 ? 1700001800000LL : 0;
		pr_http_req_init(&req);
		rc = build_fn(f->drv, c->op)(f->state, &o, &req, err,
					     sizeof(err));
		if (rc != c->rc)
			fail_msg("%s: rc %d (%s), want %d", c->name, rc, err,
				 c->rc);
		if (rc < 0) {
			assert_true(err[0] != '\0');
			pr_http_req_clear(&req);
			continue;
		}
		assert_string_equal(req.method, c->method);
		snprintf(url, sizeof(url), "%s%s", API_BASE, c->path);
		assert_string_equal(req.url, url);
		assert_string_equal(req_header(&req, "Accept"),
				    "application/json");
		assert_non_null(req_header(&req, "User-Agent"));
		if (strcmp(c->method, "GET") == 0) {
			assert_null(req.body);
			assert_null(req_header(&req, "Content-Type"));
		} else {
			assert_string_equal(req_header(&req, "Content-Type"),
					    "application/json");
			body = json_loadb((const char *)req.body, req.body_len,
					  0, NULL);
			assert_non_null(body);
		}
		for (size_t k = 0; k < N_ELEMS(c->fields) && c->fields[k]; k++)
			check_field(body, c->fields[k]);
		check_auth(f, &req, NULL, 0);
		json_decref(body);
		pr_http_req_clear(&req);
	}
}

static void test_build_refusals(void **ts)
{
	struct fixture *f = *ts;
	struct payroute_order o;
	struct payroute_http_req req;
	char err[256];

	pr_http_req_init(&req);
	o = base_order();
	o.environment = "h5"; /* no client_ip */
	assert_int_equal(f->drv->build_pay(f->state, &o, &req, err,
					   sizeof(err)),
			 -EINVAL);
	o = base_order();
	o.environment = "jsapi"; /* no openid */
	assert_int_equal(f->drv->build_pay(f->state, &o, &req, err,
					   sizeof(err)),
			 -EINVAL);
	o = base_order();
	memcpy(o.currency, "USD", 4);
	assert_int_equal(f->drv->build_pay(f->state, &o, &req, err,
					   sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "USD"));
	o = base_order();
	o.order_id = "bad id"; /* a space */
	assert_int_equal(f->drv->build_query(f->state, &o, &req, err,
					     sizeof(err)),
			 -EINVAL);
	o = base_order();
	o.refund_amount = o.total_amount + 1;
	assert_int_equal(f->drv->build_refund(f->state, &o, &req, err,
					      sizeof(err)),
			 -EINVAL);
	o = base_order();
	o.payee_kind = "bank_card";
	assert_int_equal(f->drv->build_payout(f->state, &o, &req, err,
					      sizeof(err)),
			 -EINVAL);
	o = base_order();
	o.amount = 300000;
	o.payee_name = NULL; /* mandatory from 2000 yuan on */
	assert_int_equal(f->drv->build_payout(f->state, &o, &req, err,
					      sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "2000 yuan"));
	o.payee_name = "";
	assert_int_equal(f->drv->build_payout(f->state, &o, &req, err,
					      sizeof(err)),
			 -EINVAL);
	pr_http_req_clear(&req);
}

/* Decrypts a user_name as WeChat Pay would, with the platform's private
 * key (RSA-OAEP, SHA-1). */
static char *decrypt_name(struct fixture *f, const char *b64)
{
	unsigned char *plain = NULL;
	size_t len = 0;

	assert_int_equal(pr_rsa_decrypt(f->platform_priv,
					PAYROUTE_RSA_OAEP_SHA1, b64, &plain,
					&len),
			 0);
	assert_int_equal(strlen((char *)plain), len);
	return (char *)plain;
}

/* A payout with the payee's name: user_name is the name encrypted for the
 * platform key (decrypted here with its private key), never the name in
 * clear; Wechatpay-Serial names the platform key; the signature covers the
 * body with the encrypted name. Without a name there is neither. */
static void test_payout_encrypted_name(void **ts)
{
	static const int64_t amounts[] = { 1, 12345, 199999, 200000,
					   100000000 };
	struct fixture *f = *ts;
	struct payroute_order o;
	struct payroute_http_req req;
	char err[256], *name, *first = NULL;
	const char *enc;
	json_t *body;

	for (size_t i = 0; i < N_ELEMS(amounts); i++) {
		print_message("payout of %lld fen with a name\n",
			      (long long)amounts[i]);
		o = base_order();
		o.amount = amounts[i];
		pr_http_req_init(&req);
		if (f->drv->build_payout(f->state, &o, &req, err,
					 sizeof(err)) != 0)
			fail_msg("build_payout: %s", err);
		assert_string_equal(req_header(&req, "Wechatpay-Serial"),
				    PLATFORM_SERIAL);
		assert_null(strstr((const char *)req.body, "张三"));
		body = json_loadb((const char *)req.body, req.body_len, 0,
				  NULL);
		assert_non_null(body);
		enc = json_string_value(
			jpath(body, "transfer_detail_list.0.user_name"));
		assert_non_null(enc);
		assert_int_equal(strlen(enc), 344); /* RSA-2048, base64 */
		name = decrypt_name(f, enc);
		assert_string_equal(name, "张三");
		free(name);
		/* OAEP is randomised: never the same text twice. */
		if (first)
			assert_string_not_equal(first, enc);
		else
			first = strdup(enc);
		check_auth(f, &req, NULL, 0);
		json_decref(body);
		pr_http_req_clear(&req);
	}
	free(first);

	/* No name below 2000 yuan: no user_name, no Wechatpay-Serial. */
	o = base_order();
	o.payee_name = NULL;
	pr_http_req_init(&req);
	assert_int_equal(
		f->drv->build_payout(f->state, &o, &req, err, sizeof(err)), 0);
	assert_null(req_header(&req, "Wechatpay-Serial"));
	body = json_loadb((const char *)req.body, req.body_len, 0, NULL);
	assert_non_null(body);
	assert_null(jpath(body, "transfer_detail_list.0.user_name"));
	json_decref(body);
	pr_http_req_clear(&req);

	/* A name longer than OAEP takes (214 bytes with RSA-2048). */
	{
		char longname[3 * 72 + 1];

		for (size_t i = 0; i < 72; i++)
			memcpy(longname + 3 * i, "张", 3);
		longname[3 * 72] = '\0';
		o = base_order();
		o.payee_name = longname;
		pr_http_req_init(&req);
		assert_int_equal(f->drv->build_payout(f->state, &o, &req, err,
						      sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "too long"));
		pr_http_req_clear(&req);
	}
}

/* A core whose services table lacks rsa_encrypt (a 1.0 core: the slot was
 * a NULL spare): from 2000 yuan on the payout is refused with a clear
 * error; below, the optional name is left out. */
static void test_payout_without_rsa_encrypt(void **ts)
{
	struct fixture *f = *ts;
	struct payroute_order o;
	struct payroute_http_req req;
	char err[256] = "";
	json_t *body;

	for (int variant = 0; variant < 2; variant++) {
		if (variant == 0) {
			f->svc.rsa_encrypt = NULL;
		} else {
			f->svc = *pr_services();
			f->svc.now_ms = fake_now_ms;
			f->svc.abi_minor = 0;
		}
		o = base_order();
		o.amount = 200000;
		pr_http_req_init(&req);
		assert_int_equal(f->drv->build_payout(f->state, &o, &req, err,
						      sizeof(err)),
				 -ENOTSUP);
		print_message("  -> %s\n", err);
		assert_non_null(strstr(err, "rsa_encrypt"));
		assert_non_null(strstr(err, "2000 yuan"));
		pr_http_req_clear(&req);

		o.amount = 199999;
		pr_http_req_init(&req);
		assert_int_equal(f->drv->build_payout(f->state, &o, &req, err,
						      sizeof(err)),
				 0);
		assert_null(req_header(&req, "Wechatpay-Serial"));
		body = json_loadb((const char *)req.body, req.body_len, 0,
				  NULL);
		assert_non_null(body);
		assert_null(jpath(body, "transfer_detail_list.0.user_name"));
		json_decref(body);
		pr_http_req_clear(&req);
	}
}

/* Texts are cut to the API's limits on a character boundary: description
 * 127 characters, refund reason 80, batch name and remark 32. */
static void test_build_truncation(void **ts)
{
	struct fixture *f = *ts;
	struct payroute_order o = base_order();
	struct payroute_http_req req;
	char err[256], text[3 * 200 + 1];
	json_t *body;

	for (size_t i = 0; i < 200; i++)
		memcpy(text + 3 * i, "字", 3);
	text[3 * 200] = '\0';
	o.subject = text;
	o.reason = text;
	pr_http_req_init(&req);
	assert_int_equal(
		f->drv->build_pay(f->state, &o, &req, err, sizeof(err)), 0);
	body = json_loadb((const char *)req.body, req.body_len, 0, NULL);
	assert_non_null(body);
	assert_int_equal(
		strlen(json_string_value(json_object_get(body, "description"))),
		3 * 127);
	json_decref(body);
	assert_int_equal(
		f->drv->build_refund(f->state, &o, &req, err, sizeof(err)), 0);
	body = json_loadb((const char *)req.body, req.body_len, 0, NULL);
	assert_non_null(body);
	assert_int_equal(
		strlen(json_string_value(json_object_get(body, "reason"))),
		3 * 80);
	json_decref(body);
	assert_int_equal(
		f->drv->build_payout(f->state, &o, &req, err, sizeof(err)), 0);
	body = json_loadb((const char *)req.body, req.body_len, 0, NULL);
	assert_non_null(body);
	assert_int_equal(
		strlen(json_string_value(json_object_get(body, "batch_name"))),
		3 * 32);
	json_decref(body);
	pr_http_req_clear(&req);
}

/* With the nonce and the clock fixed, the Authorization signature is the
 * one openssl computes over the same message:
 *   printf 'GET\n/wechat/v3/pay/transactions/out-trade-no/ORDER0001'\
 *   '?mchid=1900000001\n1700000000\n0123456789ABCDEFGHIJKLMNOPQRSTUV\n\n' |
 *   openssl dgst -sha256 -sign tests/keys/wechat_merchant_private.pem |
 *   base64 -w0 */
static void test_build_fixed_vector(void **ts)
{
	static const char want[] =
		"DwzRZuMoB6S06l6ywEPmVegAUa7FdhsymlxCkxemDxu8MVrKBFAZtqg9Fl+"
		"YnaCsmse3QP22KnYSExFPLJGPC8dq+z1zBMfoSVgYJjr5ZSC8ZCcCljonIgIJ"
		"bcNDv+NkH66YXlcqKcZxlseOP5VD6iciEaBum7A7GBHcQsKWTB+Vdgzb994O"
		"r3/ZzWD4tX247fV/zGBVSAlQn/1P2cl1dtXDxy3RFXr48nthHNllO9S2Q7Zh"
		"4+mvMhzZQkJUQ4cgU1CCfyfNqJYbKSb4R17yibswsWIbO6ydQmi8J5/82VC3"
		"p/mlmyp7DvNzgpXEWdxzla5587ysVAFUOrsi3I4I8A==";
	struct fixture *f = *ts;
	struct payroute_order o = base_order();
	struct payroute_http_req req;
	char err[256], sig[512];
	const char *auth;

	g_fixed_random = 1;
	g_random_counter = 0;
	pr_http_req_init(&req);
	assert_int_equal(
		f->drv->build_query(f->state, &o, &req, err, sizeof(err)), 0);
	g_fixed_random = 0;
	auth = req_header(&req, "Authorization");
	assert_non_null(auth);
	assert_non_null(strstr(auth, "nonce_str=\"0123456789ABCDEFGHIJKLMN"
				     "OPQRSTUV\""));
	assert_non_null(strstr(auth, "timestamp=\"1700000000\""));
	check_auth(f, &req, sig, sizeof(sig));
	assert_string_equal(sig, want);
	pr_http_req_clear(&req);
}

/* ------------------------------------------------------------------------ */
/* Parsing answers                                                          */
/* ------------------------------------------------------------------------ */

enum sign_mode {
	SIGNED,
	UNSIGNED,
	TAMPERED,	/* signed, then one body byte changed */
	WRONG_SERIAL,	/* Wechatpay-Serial of another certificate */
	STALE,		/* signed 301 s ago */
	FUTURE,		/* signed 301 s ahead */
	WRONG_KEY,	/* signed with the merchant key, not the platform's */
	STALE_TAMPERED, /* signed 301 s ago, then one body byte changed */
};

struct resp_buf {
	struct payroute_header h[5];
	char ts[32], nonce[40], serial[40];
	char *sig;
	char *body;
	struct payroute_http_response resp;
};

/* Builds an answer as WeChat Pay would send it. */
static void make_resp(struct fixture *f, struct resp_buf *b, int status,
		      const char *body, enum sign_mode mode)
{
	char *msg;
	size_t n, len;
	payroute_key *key = f->platform_priv;
	payroute_key *mkey = NULL;
	char kerr[256];

	memset(b, 0, sizeof(*b));
	b->body = strdup(body);
	assert_non_null(b->body);
	len = strlen(body);
	snprintf(b->ts, sizeof(b->ts), "%lld",
		 (long long)(g_now_ms / 1000 +
			     (mode == STALE || mode == STALE_TAMPERED ? -301 :
			      mode == FUTURE			      ? 301 :
									0)));
	snprintf(b->nonce, sizeof(b->nonce), "nonce%lld", (long long)g_now_ms);
	snprintf(b->serial, sizeof(b->serial), "%s",
		 mode == WRONG_SERIAL ? "5157F09EFDC096DE15EBE81A47057A72" :
					PLATFORM_SERIAL);
	msg = malloc(len + 100);
	assert_non_null(msg);
	n = (size_t)snprintf(msg, len + 100, "%s\n%s\n%s\n", b->ts, b->nonce,
			     body);
	if (mode == WRONG_KEY) {
		assert_int_equal(pr_key_load(KEY("wechat_merchant_private.pem"),
					     1, &mkey, kerr, sizeof(kerr)),
				 0);
		key = mkey;
	}
	b->sig = sign_msg(key, msg, n);
	if (mkey)
		pr_key_free(mkey);
	free(msg);
	if ((mode == TAMPERED || mode == STALE_TAMPERED) && len > 2)
		b->body[len / 2] ^= 1;
	b->resp.size = sizeof(b->resp);
	b->resp.status = status;
	b->resp.body = b->body;
	b->resp.body_len = len;
	b->resp.headers = b->h;
	b->h[0] =
		(struct payroute_header){ "Content-Type", "application/json" };
	if (mode == UNSIGNED) {
		b->resp.n_headers = 1;
		return;
	}
	b->h[1] = (struct payroute_header){ "Wechatpay-Timestamp", b->ts };
	b->h[2] = (struct payroute_header){ "wechatpay-nonce", b->nonce };
	b->h[3] = (struct payroute_header){ "Wechatpay-Signature", b->sig };
	b->h[4] = (struct payroute_header){ "Wechatpay-Serial", b->serial };
	b->resp.n_headers = 5;
}

static void free_resp(struct resp_buf *b)
{
	free(b->sig);
	free(b->body);
}

#define Q_SUCCESS                                                              \
	"{\"appid\":\"" APPID "\",\"mchid\":\"" MCH_ID "\","                   \
	"\"out_trade_no\":\"ORDER0001\",\"transaction_id\":"                   \
	"\"4200000000000000000000000001\",\"trade_type\":\"NATIVE\","          \
	"\"trade_state\":\"SUCCESS\",\"trade_state_desc\":\"支付成功\","   \
	"\"payer\":{\"openid\":\"oBUYER1\"},\"amount\":{\"total\":12345,"      \
	"\"payer_total\":12000,\"currency\":\"CNY\"}}"

struct parse_case {
	const char *name;
	const char *op;
	const char *env;
	int status;
	const char *body;
	enum sign_mode mode;
	int rc;
	const char *code;
	const char *sub_code;
	const char *trade_no;
	int64_t amount;
	const char *payer_key; /* and its value */
	const char *payer_value;
	const char *err_has; /* a piece of err when rc < 0 */
};

static const struct parse_case parse_cases[] = {
	{ "native prepay", "pay", "native_qr", 200,
	  "{\"code_url\":\"weixin://wxpay/bizpayurl?pr=abc\"}", SIGNED, 0,
	  "200", "", "", -1, "qr_code", "weixin://wxpay/bizpayurl?pr=abc",
	  NULL },
	{ "h5 prepay", "pay", "h5", 200,
	  "{\"h5_url\":\"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/"
	  "checkmweb?prepay_id=wx1\"}",
	  SIGNED, 0, "200", "", "", -1, "pay_url",
	  "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1",
	  NULL },
	{ "native without code_url", "pay", "native_qr", 200,
	  "{\"prepay_id\":\"wx1\"}", SIGNED, -EPROTO, NULL, NULL, NULL, 0, NULL,
	  NULL, "code_url" },
	{ "pay refused: ORDERPAID, signed", "pay", "native_qr", 400,
	  "{\"code\":\"ORDERPAID\",\"message\":\"该订单已支付\"}", SIGNED, 0,
	  "ORDERPAID", "", "", -1, NULL, NULL, NULL },
	{ "pay refused: unsigned 500 accepted", "pay", "native_qr", 500,
	  "{\"code\":\"SYSTEM_ERROR\",\"message\":\"系统错误\"}", UNSIGNED, 0,
	  "SYSTEM_ERROR", "", "", -1, NULL, NULL, NULL },
	{ "error answer with a bad signature", "pay", "native_qr", 400,
	  "{\"code\":\"ORDERPAID\",\"message\":\"x\"}", TAMPERED, -EBADMSG,
	  NULL, NULL, NULL, 0, NULL, NULL, "does not verify" },
	{ "unsigned 200 refused", "pay", "native_qr", 200,
	  "{\"code_url\":\"weixin://x\"}", UNSIGNED, -EBADMSG, NULL, NULL, NULL,
	  0, NULL, NULL, "missing" },
	{ "query: success", "query", NULL, 200, Q_SUCCESS, SIGNED, 0, "200",
	  "SUCCESS", "4200000000000000000000000001", 12345, "openid", "oBUYER1",
	  NULL },
	{ "query: tampered body", "query", NULL, 200, Q_SUCCESS, TAMPERED,
	  -EBADMSG, NULL, NULL, NULL, 0, NULL, NULL, "does not verify" },
	{ "query: wrong serial", "query", NULL, 200, Q_SUCCESS, WRONG_SERIAL,
	  -EBADMSG, NULL, NULL, NULL, 0, NULL, NULL,
	  "unknown platform certificate serial" },
	{ "query: stale timestamp", "query", NULL, 200, Q_SUCCESS, STALE,
	  -ESTALE, NULL, NULL, NULL, 0, NULL, NULL,
	  "stale Wechatpay-Timestamp: 301 s behind now" },
	{ "query: timestamp from the future", "query", NULL, 200, Q_SUCCESS,
	  FUTURE, -ESTALE, NULL, NULL, NULL, 0, NULL, NULL,
	  "301 s ahead of now" },
	{ "query: stale and tampered: the signature first", "query", NULL, 200,
	  Q_SUCCESS, STALE_TAMPERED, -EBADMSG, NULL, NULL, NULL, 0, NULL, NULL,
	  "does not verify" },
	{ "query: signed with another key", "query", NULL, 200, Q_SUCCESS,
	  WRONG_KEY, -EBADMSG, NULL, NULL, NULL, 0, NULL, NULL,
	  "does not verify" },
	{ "query: notpay", "query", NULL, 200,
	  "{\"mchid\":\"" MCH_ID "\",\"out_trade_no\":\"ORDER0001\","
	  "\"trade_state\":\"NOTPAY\",\"amount\":{\"total\":12345}}",
	  SIGNED, 0, "200", "NOTPAY", "", 12345, NULL, NULL, NULL },
	{ "query: another order", "query", NULL, 200,
	  "{\"out_trade_no\":\"ORDER9999\",\"trade_state\":\"SUCCESS\"}",
	  SIGNED, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "another" },
	{ "query: not found", "query", NULL, 404,
	  "{\"code\":\"ORDER_NOT_EXIST\",\"message\":\"订单不存在\"}", SIGNED,
	  0, "ORDER_NOT_EXIST", "", "", -1, NULL, NULL, NULL },
	{ "query: garbage", "query", NULL, 200, "<html>oops</html>", SIGNED,
	  -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "JSON" },
	{ "query: amount is a string", "query", NULL, 200,
	  "{\"trade_state\":\"SUCCESS\",\"amount\":{\"total\":\"1\"}}", SIGNED,
	  -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "total" },
	{ "query: duplicate keys", "query", NULL, 200,
	  "{\"trade_state\":\"NOTPAY\",\"trade_state\":\"SUCCESS\"}", SIGNED,
	  -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "JSON" },
	{ "query: unsigned html 502", "query", NULL, 502, "<html>bad gateway",
	  UNSIGNED, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "JSON" },
	{ "query: error without code", "query", NULL, 500, "{\"message\":1}",
	  UNSIGNED, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "code" },
	{ "query: redirect", "query", NULL, 302, "", UNSIGNED, -EPROTO, NULL,
	  NULL, NULL, 0, NULL, NULL, "302" },
	{ "close: 204", "close", NULL, 204, "", SIGNED, 0, "204", "", "", -1,
	  NULL, NULL, NULL },
	{ "close: unsigned 204", "close", NULL, 204, "", UNSIGNED, -EBADMSG,
	  NULL, NULL, NULL, 0, NULL, NULL, NULL },
	{ "close: already paid", "close", NULL, 400,
	  "{\"code\":\"ORDERPAID\",\"message\":\"paid\"}", SIGNED, 0,
	  "ORDERPAID", "", "", -1, NULL, NULL, NULL },
	{ "refund: processing", "refund", NULL, 200,
	  "{\"refund_id\":\"50000000382019052709732678859\","
	  "\"out_refund_no\":\"REFUND0001\",\"transaction_id\":\"42000001\","
	  "\"out_trade_no\":\"ORDER0001\",\"channel\":\"ORIGINAL\","
	  "\"status\":\"PROCESSING\",\"amount\":{\"total\":12345,"
	  "\"refund\":500,\"currency\":\"CNY\"}}",
	  SIGNED, 0, "200", "PROCESSING", "50000000382019052709732678859", 500,
	  NULL, NULL, NULL },
	{ "refund: not enough", "refund", NULL, 403,
	  "{\"code\":\"NOT_ENOUGH\",\"message\":\"基本账户余额不足\"}", SIGNED,
	  0, "NOT_ENOUGH", "", "", -1, NULL, NULL, NULL },
	{ "refund query: abnormal", "refund_query", NULL, 200,
	  "{\"refund_id\":\"5000\",\"out_refund_no\":\"REFUND0001\","
	  "\"status\":\"ABNORMAL\",\"amount\":{\"refund\":500}}",
	  SIGNED, 0, "200", "ABNORMAL", "5000", 500, NULL, NULL, NULL },
	{ "refund query: another refund", "refund_query", NULL, 200,
	  "{\"out_refund_no\":\"REFUND0002\",\"status\":\"SUCCESS\"}", SIGNED,
	  -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "another" },
	{ "payout: accepted", "payout", NULL, 200,
	  "{\"out_batch_no\":\"PAYOUT0001\",\"batch_id\":\"1030000071100999991\","
	  "\"create_time\":\"2023-11-15T06:13:20+08:00\","
	  "\"batch_status\":\"ACCEPTED\"}",
	  SIGNED, 0, "200", "ACCEPTED", "1030000071100999991", -1, NULL, NULL,
	  NULL },
	{ "payout: old answer without status", "payout", NULL, 200,
	  "{\"out_batch_no\":\"PAYOUT0001\",\"batch_id\":\"10300\"}", SIGNED, 0,
	  "200", "ACCEPTED", "10300", -1, NULL, NULL, NULL },
	{ "payout: not enough", "payout", NULL, 403,
	  "{\"code\":\"NOT_ENOUGH\",\"message\":\"资金不足\"}", SIGNED, 0,
	  "NOT_ENOUGH", "", "", -1, NULL, NULL, NULL },
	{ "payout query: detail success", "payout_query", NULL, 200,
	  "{\"transfer_batch\":{\"mchid\":\"" MCH_ID "\","
	  "\"out_batch_no\":\"PAYOUT0001\",\"batch_id\":\"10300\","
	  "\"batch_status\":\"FINISHED\",\"total_amount\":12345,"
	  "\"total_num\":1},\"transfer_detail_list\":[{\"detail_id\":\"1040\","
	  "\"out_detail_no\":\"PAYOUT0001\",\"detail_status\":\"SUCCESS\"}]}",
	  SIGNED, 0, "200", "SUCCESS", "10300", 12345, NULL, NULL, NULL },
	{ "payout query: batch only", "payout_query", NULL, 200,
	  "{\"transfer_batch\":{\"out_batch_no\":\"PAYOUT0001\","
	  "\"batch_id\":\"10300\",\"batch_status\":\"PROCESSING\","
	  "\"total_amount\":12345}}",
	  SIGNED, 0, "200", "PROCESSING", "10300", 12345, NULL, NULL, NULL },
	{ "payout query: detail list not an array", "payout_query", NULL, 200,
	  "{\"transfer_batch\":{\"batch_status\":\"FINISHED\"},"
	  "\"transfer_detail_list\":{}}",
	  SIGNED, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL, "array" },
	{ "payout query: not found", "payout_query", NULL, 404,
	  "{\"code\":\"NOT_FOUND\",\"message\":\"记录不存在\"}", SIGNED, 0,
	  "NOT_FOUND", "", "", -1, NULL, NULL, NULL },
};

static void test_parse_table(void **ts)
{
	struct fixture *f = *ts;

	for (size_t i = 0; i < N_ELEMS(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct payroute_order o = base_order();
		struct payroute_result r;
		struct payroute_kv payer;
		struct resp_buf b;
		char err[256] = "";
		int rc;

		print_message("parse: %s\n", c->name);
		if (c->env)
			o.environment = c->env;
		make_resp(f, &b, c->status, c->body, c->mode);
		memset(&r, 0, sizeof(r));
		r.size = sizeof(r);
		pr_kv_init(&payer);
		r.payer = &payer;
		rc = parse_fn(f->drv, c->op)(f->state, &o, &b.resp, &r, err,
					     sizeof(err));
		if (rc != c->rc)
			fail_msg("%s: rc %d (%s), want %d", c->name, rc, err,
				 c->rc);
		if (rc < 0) {
			assert_true(err[0] != '\0');
			if (c->err_has && !strstr(err, c->err_has))
				fail_msg("%s: err \"%s\" lacks \"%s\"", c->name,
					 err, c->err_has);
		} else {
			assert_string_equal(r.code, c->code);
			assert_string_equal(r.sub_code, c->sub_code);
			assert_string_equal(r.channel_trade_no, c->trade_no);
			assert_int_equal(r.amount, c->amount);
			if (c->payer_key)
				assert_string_equal(pr_kv_get(&payer,
							      c->payer_key),
						    c->payer_value);
		}
		pr_kv_clear(&payer);
		free_resp(&b);
	}
}

/* A platform answer signed with the openssl command line:
 *   printf '1700000000\nfixednonce0123456789\n%s\n' "$BODY" |
 *   openssl dgst -sha256 -sign tests/keys/wechat_platform_private.pem |
 *   base64 -w0 */
static void test_parse_openssl_vector(void **ts)
{
	static const char body[] =
		"{\"appid\":\"wx0000000000000001\",\"mchid\":\"1900000001\","
		"\"out_trade_no\":\"ORDER0001\",\"transaction_id\":"
		"\"4200000000000000000000000001\",\"trade_state\":\"SUCCESS\","
		"\"trade_state_desc\":\"ok\",\"amount\":{\"total\":100,"
		"\"currency\":\"CNY\"}}";
	static const char sig[] =
		"HDFEbFFYAcItHJ4Gt4MBf0wsShi0c9+AXlxr+xzEX5UVUYN7m5wQ44JfVt0N"
		"vHRXEr/BqCXQR96CFVGfq3QLEmdrLToosMoFrLxHa9W6jUk7Gl7EsxkHOckZ"
		"n6ucTVSZ384tAzMTIGLOAaaUfYBOmY2N2omJRiaGOXye2eM1z2mZPTwhbKD+"
		"bBPFQGm+4yvluohTKTgZn0l8HInEYCaTcZmM7tc5gIlVTkjdgkDny3+9LUc8"
		"96LvZSBqe4lW9ulmK58SRFZoKUy0rUpc6vAfPuQKgKJ2jXHtUu3b/b0ols0u"
		"hxvYsGMXnH+sm49kLoVOgznXQMkMcljT8jp/psqn6w==";
	struct payroute_header h[] = {
		{ "Wechatpay-Timestamp", "1700000000" },
		{ "Wechatpay-Nonce", "fixednonce0123456789" },
		{ "Wechatpay-Signature", sig },
		{ "Wechatpay-Serial", PLATFORM_SERIAL },
	};
	struct payroute_http_response resp = {
		sizeof(resp), 200, h, N_ELEMS(h), body, sizeof(body) - 1
	};
	struct fixture *f = *ts;
	struct payroute_order o = base_order();
	struct payroute_result r;
	char err[256] = "";

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	g_now_ms = NOW_S * 1000 + 120000; /* two minutes later: still fresh */
	assert_int_equal(f->drv->parse_query(f->state, &o, &resp, &r, err,
					     sizeof(err)),
			 0);
	assert_string_equal(r.code, "200");
	assert_string_equal(r.sub_code, "SUCCESS");
	assert_string_equal(r.status, "SUCCESS");
	assert_string_equal(r.channel_trade_no, "4200000000000000000000000001");
	assert_int_equal(r.amount, 100);
	/* The same answer ten minutes later is stale. */
	g_now_ms = NOW_S * 1000 + 600000;
	assert_int_equal(f->drv->parse_query(f->state, &o, &resp, &r, err,
					     sizeof(err)),
			 -ESTALE);
	g_now_ms = NOW_S * 1000;
}

/* The jsapi and app payer parameters are signed with the merchant key
 * over the lines the WeChat front-end SDKs rebuild. */
static void test_pay_sign(void **ts)
{
	struct fixture *f = *ts;
	struct payroute_order o = base_order();
	struct payroute_result r;
	struct payroute_kv payer;
	struct resp_buf b;
	char err[256] = "", msg[512];
	int n;

	o.environment = "mini_program";
	o.buyer_id = "oBUYER1";
	make_resp(f, &b, 200,
		  "{\"prepay_id\":\"wx201410272009395522657a690389285100\"}",
		  SIGNED);
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	pr_kv_init(&payer);
	r.payer = &payer;
	assert_int_equal(f->drv->parse_pay(f->state, &o, &b.resp, &r, err,
					   sizeof(err)),
			 0);
	assert_string_equal(pr_kv_get(&payer, "prepay_id"),
			    "wx201410272009395522657a690389285100");
	assert_string_equal(pr_kv_get(&payer, "appId"), APPID);
	assert_string_equal(pr_kv_get(&payer, "timeStamp"), "1700000000");
	assert_string_equal(pr_kv_get(&payer, "package"),
			    "prepay_id=wx201410272009395522657a690389285100");
	assert_string_equal(pr_kv_get(&payer, "signType"), "RSA");
	assert_int_equal(strlen(pr_kv_get(&payer, "nonceStr")), 32);
	n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n",
		     pr_kv_get(&payer, "appId"), pr_kv_get(&payer, "timeStamp"),
		     pr_kv_get(&payer, "nonceStr"),
		     pr_kv_get(&payer, "package"));
	assert_int_equal(pr_rsa_sha256_verify(f->merchant_pub, msg, (size_t)n,
					      pr_kv_get(&payer, "paySign")),
			 0);
	/* Another package does not verify with that paySign. */
	msg[n - 2] ^= 1;
	assert_int_equal(pr_rsa_sha256_verify(f->merchant_pub, msg, (size_t)n,
					      pr_kv_get(&payer, "paySign")),
			 -EBADMSG);
	pr_kv_clear(&payer);

	/* app: appid\ntimestamp\nnoncestr\nprepayid\n */
	o.environment = "app";
	pr_kv_init(&payer);
	r.payer = &payer;
	assert_int_equal(f->drv->parse_pay(f->state, &o, &b.resp, &r, err,
					   sizeof(err)),
			 0);
	assert_string_equal(pr_kv_get(&payer, "partnerid"), MCH_ID);
	assert_string_equal(pr_kv_get(&payer, "package"), "Sign=WXPay");
	n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n",
		     pr_kv_get(&payer, "appid"), pr_kv_get(&payer, "timestamp"),
		     pr_kv_get(&payer, "noncestr"),
		     pr_kv_get(&payer, "prepayid"));
	assert_int_equal(pr_rsa_sha256_verify(f->merchant_pub, msg, (size_t)n,
					      pr_kv_get(&payer, "sign")),
			 0);
	pr_kv_clear(&payer);
	free_resp(&b);
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

enum notify_mode {
	N_GOOD,
	N_BAD_TAG,	 /* ciphertext altered after encryption, re-signed */
	N_BAD_SIG,	 /* body altered after signing */
	N_STALE,	 /* signed 10 minutes ago */
	N_STALE_BAD_SIG, /* both: a forged old message */
	N_WRONG_SERIAL,	 /* Wechatpay-Serial of another certificate */
	N_WRONG_APIKEY,	 /* encrypted with another APIv3 key */
	N_BAD_AAD,	 /* associated_data changed, re-signed */
};

struct notify_buf {
	struct resp_buf r; /* the signed body and headers */
	struct payroute_inbound in;
};

/* Encrypts resource_json as WeChat Pay does, wraps it in a callback body
 * and signs it. */
static void make_notify(struct fixture *f, struct notify_buf *nb,
			const char *event, const char *resource_json,
			enum notify_mode mode)
{
	static const char nonce[] = "fdasflkja484";
	const char *aad = strncmp(event, "REFUND", 6) == 0 ? "refund" :
							     "transaction";
	unsigned char key[32], *ct = NULL;
	size_t ct_len = 0;
	char *ct_b64, *body;
	json_t *root;

	memcpy(key, f->apiv3, 32);
	if (mode == N_WRONG_APIKEY)
		key[0] ^= 1;
	assert_int_equal(pr_aes256gcm_encrypt(
				 key, (const unsigned char *)nonce,
				 strlen(nonce), aad, strlen(aad), resource_json,
				 strlen(resource_json), &ct, &ct_len),
			 0);
	if (mode == N_BAD_TAG)
		ct[ct_len - 1] ^= 0x40;
	ct_b64 = pr_base64_encode(ct, ct_len);
	assert_non_null(ct_b64);
	root = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, "
		"s:s}}",
		"id", "EV-2018022511223320873", "create_time",
		"2023-11-15T06:13:20+08:00", "resource_type",
		"encrypt-resource", "event_type", event, "summary", "支付成功",
		"resource", "original_type",
		strncmp(event, "REFUND", 6) == 0 ? "refund" : "transaction",
		"algorithm", "AEAD_AES_256_GCM", "ciphertext", ct_b64,
		"associated_data", mode == N_BAD_AAD ? "transactionX" : aad,
		"nonce", nonce);
	assert_non_null(root);
	body = json_dumps(root, JSON_COMPACT);
	assert_non_null(body);
	make_resp(f, &nb->r, 0, body,
		  mode == N_BAD_SIG	  ? TAMPERED :
		  mode == N_STALE	  ? STALE :
		  mode == N_STALE_BAD_SIG ? STALE_TAMPERED :
		  mode == N_WRONG_SERIAL  ? WRONG_SERIAL :
					    SIGNED);
	free(body);
	free(ct_b64);
	free(ct);
	json_decref(root);
	memset(&nb->in, 0, sizeof(nb->in));
	nb->in.size = sizeof(nb->in);
	nb->in.method = "POST";
	nb->in.path = "/notify/wx_test";
	nb->in.headers = nb->r.h;
	nb->in.n_headers = nb->r.resp.n_headers;
	nb->in.body = nb->r.body;
	nb->in.body_len = nb->r.resp.body_len;
	nb->in.received_at_ms = g_now_ms;
}

#define PAY_RESOURCE                                                           \
	"{\"mchid\":\"" MCH_ID "\",\"appid\":\"" APPID "\","                   \
	"\"out_trade_no\":\"ORDER0001\",\"transaction_id\":"                   \
	"\"1217752501201407033233368018\",\"trade_type\":\"JSAPI\","           \
	"\"trade_state\":\"SUCCESS\",\"trade_state_desc\":\"支付成功\","   \
	"\"bank_type\":\"CMC\",\"success_time\":"                              \
	"\"2023-11-15T06:13:25+08:00\",\"payer\":{\"openid\":"                 \
	"\"oBUYER1\"},\"amount\":{\"total\":12345,\"payer_total\":12345,"      \
	"\"currency\":\"CNY\",\"payer_currency\":\"CNY\"}}"
#define REFUND_RESOURCE                                                        \
	"{\"mchid\":\"" MCH_ID "\",\"out_trade_no\":\"ORDER0001\","            \
	"\"transaction_id\":\"1217752501201407033233368018\","                 \
	"\"out_refund_no\":\"REFUND0001\",\"refund_id\":"                      \
	"\"50000000382019052709732678859\",\"refund_status\":\"SUCCESS\","     \
	"\"success_time\":\"2023-11-15T06:20:00+08:00\","                      \
	"\"user_received_account\":\"招商银行信用卡0403\",\"amount\":"  \
	"{\"total\":12345,\"refund\":500,\"payer_total\":12345,"               \
	"\"payer_refund\":500}}"

struct notify_case {
	const char *name;
	const char *event;
	const char *resource;
	enum notify_mode mode;
	int rc;
	enum payroute_order_kind kind;
	const char *order_id;
	const char *refund_id;
	const char *trade_no;
	const char *code;
	int64_t amount;
	const char *err_has;
};

static const struct notify_case notify_cases[] = {
	{ "payment", "TRANSACTION.SUCCESS", PAY_RESOURCE, N_GOOD, 0,
	  PAYROUTE_KIND_PAYMENT, "ORDER0001", "",
	  "1217752501201407033233368018", "SUCCESS", 12345, NULL },
	{ "refund", "REFUND.SUCCESS", REFUND_RESOURCE, N_GOOD, 0,
	  PAYROUTE_KIND_REFUND, "ORDER0001", "REFUND0001",
	  "50000000382019052709732678859", "SUCCESS", 500, NULL },
	{ "refund abnormal", "REFUND.ABNORMAL",
	  "{\"mchid\":\"" MCH_ID "\",\"out_trade_no\":\"ORDER0001\","
	  "\"out_refund_no\":\"REFUND0001\",\"refund_status\":\"ABNORMAL\"}",
	  N_GOOD, 0, PAYROUTE_KIND_REFUND, "ORDER0001", "REFUND0001", "",
	  "ABNORMAL", -1, NULL },
	{ "transfer batch closed", "MCHTRANSFER.BATCH.CLOSED",
	  "{\"mchid\":\"" MCH_ID "\",\"out_batch_no\":\"PAYOUT0001\","
	  "\"batch_id\":\"10300\",\"batch_status\":\"CLOSED\","
	  "\"total_amount\":12345,\"close_reason\":\"OVERDUE_CLOSE\"}",
	  N_GOOD, 0, PAYROUTE_KIND_PAYOUT, "PAYOUT0001", "", "10300", "CLOSED",
	  12345, NULL },
	{ "bad tag", "TRANSACTION.SUCCESS", PAY_RESOURCE, N_BAD_TAG, -EBADMSG,
	  0, NULL, NULL, NULL, NULL, 0, "tag" },
	{ "another APIv3 key", "TRANSACTION.SUCCESS", PAY_RESOURCE,
	  N_WRONG_APIKEY, -EBADMSG, 0, NULL, NULL, NULL, NULL, 0, "tag" },
	{ "associated data changed", "TRANSACTION.SUCCESS", PAY_RESOURCE,
	  N_BAD_AAD, -EBADMSG, 0, NULL, NULL, NULL, NULL, 0, "tag" },
	{ "bad signature", "TRANSACTION.SUCCESS", PAY_RESOURCE, N_BAD_SIG,
	  -EBADMSG, 0, NULL, NULL, NULL, NULL, 0, "does not verify" },
	{ "stale", "TRANSACTION.SUCCESS", PAY_RESOURCE, N_STALE, -ESTALE, 0,
	  NULL, NULL, NULL, NULL, 0, "stale Wechatpay-Timestamp" },
	{ "stale and forged", "TRANSACTION.SUCCESS", PAY_RESOURCE,
	  N_STALE_BAD_SIG, -EBADMSG, 0, NULL, NULL, NULL, NULL, 0,
	  "does not verify" },
	{ "wrong serial", "TRANSACTION.SUCCESS", PAY_RESOURCE, N_WRONG_SERIAL,
	  -EBADMSG, 0, NULL, NULL, NULL, NULL, 0, "serial" },
	{ "another merchant", "TRANSACTION.SUCCESS",
	  "{\"mchid\":\"1900000002\",\"out_trade_no\":\"ORDER0001\","
	  "\"trade_state\":\"SUCCESS\"}",
	  N_GOOD, -EPROTO, 0, NULL, NULL, NULL, NULL, 0, "mchid" },
	{ "resource is not JSON", "TRANSACTION.SUCCESS", "not json", N_GOOD,
	  -EPROTO, 0, NULL, NULL, NULL, NULL, 0, "JSON" },
	{ "unknown event", "PROFITSHARING.SUCCESS", PAY_RESOURCE, N_GOOD,
	  -EPROTO, 0, NULL, NULL, NULL, NULL, 0, "event_type" },
};

static void test_notify_table(void **ts)
{
	struct fixture *f = *ts;

	for (size_t i = 0; i < N_ELEMS(notify_cases); i++) {
		const struct notify_case *c = &notify_cases[i];
		struct payroute_notify n;
		struct notify_buf nb;
		char err[256] = "";
		int rc;

		print_message("notify: %s\n", c->name);
		make_notify(f, &nb, c->event, c->resource, c->mode);
		memset(&n, 0, sizeof(n));
		n.size = sizeof(n);
		rc = f->drv->parse_notify(f->state, &nb.in, &n, err,
					  sizeof(err));
		if (rc != c->rc)
			fail_msg("%s: rc %d (%s), want %d", c->name, rc, err,
				 c->rc);
		/* The replies are filled whatever the outcome. */
		assert_int_equal(n.reply_ok_status, 200);
		assert_string_equal(n.reply_ok_body, "");
		assert_int_equal(n.reply_fail_status, 500);
		assert_non_null(strstr(n.reply_fail_body, "\"code\":\"FAIL\""));
		/* The failure reply says what it is: a stale message is no
		 * bad signature. */
		if (rc == -ESTALE) {
			assert_non_null(strstr(n.reply_fail_body,
					       "stale Wechatpay-Timestamp"));
			/* and names the order, for the core's log line */
			assert_string_equal(n.order_id, "ORDER0001");
		} else
			assert_null(strstr(n.reply_fail_body, "stale"));
		if (rc == -EBADMSG && strstr(err, "does not verify"))
			assert_non_null(
				strstr(n.reply_fail_body,
				       "signature verification failed"));
		if (rc < 0) {
			if (c->err_has && !strstr(err, c->err_has))
				fail_msg("%s: err \"%s\" lacks \"%s\"", c->name,
					 err, c->err_has);
		} else {
			assert_int_equal(n.kind, c->kind);
			assert_string_equal(n.order_id, c->order_id);
			assert_string_equal(n.refund_id, c->refund_id);
			assert_string_equal(n.channel_trade_no, c->trade_no);
			assert_string_equal(n.code, c->code);
			assert_string_equal(n.sub_code, c->event);
			assert_int_equal(n.amount, c->amount);
		}
		free_resp(&nb.r);
	}
}

static void test_notify_garbage(void **ts)
{
	static const char *const bodies[] = {
		"",
		"{",
		"[]",
		"null",
		"{\"event_type\":1}",
		"{\"event_type\":\"TRANSACTION.SUCCESS\"}",
		"{\"event_type\":\"TRANSACTION.SUCCESS\",\"resource\":{}}",
		"{\"event_type\":\"TRANSACTION.SUCCESS\",\"resource\":{"
		"\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"!!\","
		"\"nonce\":\"n\"}}",
		"{\"event_type\":\"TRANSACTION.SUCCESS\",\"resource\":{"
		"\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"AAAA\","
		"\"nonce\":\"n\"}}",
		"{\"event_type\":\"TRANSACTION.SUCCESS\",\"resource\":{"
		"\"algorithm\":\"RSA\",\"ciphertext\":\"AAAA\",\"nonce\":\"n\"}}",
	};
	struct fixture *f = *ts;

	for (size_t i = 0; i < N_ELEMS(bodies); i++) {
		struct payroute_notify n;
		struct resp_buf b;
		struct payroute_inbound in;
		char err[256] = "";
		int rc;

		make_resp(f, &b, 0, bodies[i], SIGNED);
		memset(&in, 0, sizeof(in));
		in.size = sizeof(in);
		in.method = "POST";
		in.headers = b.h;
		in.n_headers = b.resp.n_headers;
		in.body = b.body;
		in.body_len = b.resp.body_len;
		memset(&n, 0, sizeof(n));
		n.size = sizeof(n);
		rc = f->drv->parse_notify(f->state, &in, &n, err, sizeof(err));
		if (rc >= 0)
			fail_msg("garbage #%zu accepted", i);
		assert_true(err[0] != '\0');
		free_resp(&b);
	}
}

/* Every row the parsers can produce for a success answer has a row in the
 * code table (op, "200"/"204", state), and the table holds no row whose
 * op is unknown. */
static void test_code_table(void **ts)
{
	static const char *const ops[] = {
		"pay",	  "query",	  "close",  "refund", "refund_query",
		"payout", "payout_query", "notify", "*"
	};
	static const struct {
		const char *op, *code, *sub;
	} produced[] = {
		{ "pay", "200", "" },
		{ "close", "204", "" },
		{ "query", "200", "SUCCESS" },
		{ "query", "200", "NOTPAY" },
		{ "query", "200", "CLOSED" },
		{ "query", "200", "PAYERROR" },
		{ "refund", "200", "PROCESSING" },
		{ "refund", "200", "SUCCESS" },
		{ "refund_query", "200", "ABNORMAL" },
		{ "payout", "200", "ACCEPTED" },
		{ "payout_query", "200", "SUCCESS" },
		{ "payout_query", "200", "FAIL" },
		{ "payout_query", "200", "PROCESSING" },
		{ "payout_query", "200", "WAIT_PAY" },
		{ "payout_query", "200", "CLOSED" },
		{ "notify", "SUCCESS", "TRANSACTION.SUCCESS" },
		{ "notify", "SUCCESS", "REFUND.SUCCESS" },
		{ "notify", "ABNORMAL", "REFUND.ABNORMAL" },
		{ "notify", "CLOSED", "REFUND.CLOSED" },
	};
	struct fixture *f = *ts;
	const struct payroute_code_entry *t;
	size_t n = 0, esz = 0;

	t = f->drv->default_codes(&n, &esz);
	assert_int_equal(esz, sizeof(struct payroute_code_entry));
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < N_ELEMS(ops); k++)
			if (strcmp(t[i].op, ops[k]) == 0)
				break;
		assert_true(k < N_ELEMS(ops));
		assert_non_null(t[i].unified);
		assert_non_null(t[i].message_en);
		assert_non_null(t[i].message_zh);
	}
	for (size_t p = 0; p < N_ELEMS(produced); p++) {
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(t[i].op, produced[p].op) == 0 &&
			    strcmp(t[i].code, produced[p].code) == 0 &&
			    (strcmp(t[i].sub_code, "*") == 0 ||
			     strcmp(t[i].sub_code, produced[p].sub) == 0))
				break;
		if (i == n)
			fail_msg("no code row for %s %s %s", produced[p].op,
				 produced[p].code, produced[p].sub);
		if (strcmp(produced[p].sub, "REFUND.SUCCESS") == 0)
			assert_string_equal(t[i].message_en,
					    "Refund succeeded.");
	}
}

static void test_init_refusals(void **ts)
{
	struct fixture *f = *ts;
	struct payroute_conf conf;
	char err[256];
	void *st = NULL;
	json_t *root = make_conf(f->apiv3);

	conf.root = root;
	json_object_set_new(root, "apiv3_key", json_string("short"));
	assert_int_equal(f->drv->init(&f->svc, "x", &conf, &st, err,
				      sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "apiv3_key"));
	json_decref(root);
	root = make_conf(f->apiv3);
	conf.root = root;
	json_object_set_new(root, "platform_public_key",
			    json_string("@/nonexistent.pem"));
	assert_true(f->drv->init(&f->svc, "x", &conf, &st, err, sizeof(err)) <
		    0);
	assert_non_null(strstr(err, "platform_public_key"));
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_build_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_payout_encrypted_name,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_payout_without_rsa_encrypt,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_truncation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_build_fixed_vector, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parse_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parse_openssl_vector,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pay_sign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_notify_garbage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_code_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_init_refusals, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
