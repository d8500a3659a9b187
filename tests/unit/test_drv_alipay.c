/*
 * test_drv_alipay.c - unit tests of the Alipay driver (drivers/alipay),
 * linked directly with the driver's source and the core's services table.
 *
 * The driver runs with the fixed test keys (tests/keys) and a clock fixed
 * at 1700000000000 ms (2023-11-15 06:13:20 in Beijing). Requests are
 * checked from the outside: the form body is decoded here, the sign string
 * rebuilt here and verified with the app PUBLIC key; one request is
 * compared with a signature computed once with the openssl command line.
 * Answers and notifications are signed here with the platform PRIVATE key
 * (answers over exactly the node's text), then fed to the parsers.
 * Barcode payments (alipay.trade.pay, ABI 1.1's auth_code) have their own
 * tables: the request, and the answers carried through the driver's code
 * table (core/domain/codemap.c) to the effect on the order.
 *
 * Public-key certificate mode runs with certificates that
 * tests/keys/make_alipay_certs.sh makes for the test keys (a root bundle,
 * the app's certificate, Alipay's with its intermediate) in a temporary
 * directory; the serial numbers it computes with openssl and md5sum alone
 * (alipay_sn.env) are what the driver must send and expect. Transfers need
 * that mode: their rows run on the certificate-mode channel, and the
 * public-key-mode channel must refuse them. Init is checked by a table of
 * configs (half a certificate set, both modes, another root, a missing
 * intermediate, the dates, a certificate of another key).
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

#include <cmocka.h>
#include <jansson.h>

#include "domain/codemap.h"
#include "runtime/crypto.h"
#include "domain/drvobj.h"
#include "runtime/services.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define APP_ID "2021000000000001"
#define GATEWAY "http://127.0.0.1:18080/alipay/gateway.do"
#define NOTIFY_URL "http://127.0.0.1:8080/notify/alipay_test"
#define FIXED_NOW_MS 1700000000000LL
#define FIXED_TIMESTAMP "2023-11-15 06:13:20"

const struct payroute_driver *payroute_driver_entry(void);

static struct payroute_services svc;
static const struct payroute_driver *drv;
static void *state;		       /* public-key mode */
static void *cstate;		       /* public-key certificate mode */
static payroute_key *app_public;       /* verifies what the driver signs */
static payroute_key *app_private;      /* signs like another merchant would */
static payroute_key *platform_private; /* signs like Alipay */

/* The certificates of make_alipay_certs.sh and its serial numbers. */
static char cert_dir[256];
static char app_cert_sn[64], alipay_cert_sn[64], root_cert_sn[160];
static int64_t certs_not_after_ms;

/* The driver's clock: FIXED_NOW_MS but where a test moves it. */
static int64_t now_ms = FIXED_NOW_MS;
static int64_t fixed_now(void)
{
	return now_ms;
}

/* What the driver logged, line after line. */
static char logged[2048];
static void capture_log(enum payroute_log_level level, const char *channel,
			const char *fmt, ...) PAYROUTE_PRINTF(3, 4);
static void capture_log(enum payroute_log_level level, const char *channel,
			const char *fmt, ...)
{
	size_t used = strlen(logged);
	va_list ap;

	(void)level;
	(void)channel;
	va_start(ap, fmt);
	vsnprintf(logged + used, sizeof(logged) - used, fmt, ap);
	va_end(ap);
	used = strlen(logged);
	snprintf(logged + used, sizeof(logged) - used, "\n");
}

/* "@CERT_DIR/name", in a rotating set of buffers. */
static const char *cert_file(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "@%s/%s", cert_dir, name);
	return b;
}

/* Makes the certificates and reads alipay_sn.env. */
static int make_certs(void)
{
	char cmd[1024], path[512], line[256];
	FILE *f;

	snprintf(cert_dir, sizeof(cert_dir), "/tmp/pr-test-alipay-XXXXXX");
	if (!mkdtemp(cert_dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s/make_alipay_certs.sh' '%s' '%s'",
		 TEST_KEY_DIR, cert_dir, APP_ID);
	if (system(cmd) != 0) {
		fprintf(stderr, "make_alipay_certs.sh failed\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/alipay_sn.env", cert_dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "APP_CERT_SN=", 12) == 0)
			snprintf(app_cert_sn, sizeof(app_cert_sn), "%.63s",
				 line + 12);
		else if (strncmp(line, "ALIPAY_CERT_SN=", 15) == 0)
			snprintf(alipay_cert_sn, sizeof(alipay_cert_sn),
				 "%.63s", line + 15);
		else if (strncmp(line, "ALIPAY_ROOT_CERT_SN=", 20) == 0)
			snprintf(root_cert_sn, sizeof(root_cert_sn), "%.159s",
				 line + 20);
		else if (strncmp(line, "NOT_AFTER=", 10) == 0)
			certs_not_after_ms =
				strtoll(line + 10, NULL, 10) * 1000;
	}
	fclose(f);
	return app_cert_sn[0] && alipay_cert_sn[0] && root_cert_sn[0] &&
			       certs_not_after_ms > 0 ?
		       0 :
		       -1;
}

/* A time inside the certificates' validity (they start when made). */
#define CERTS_VALID_MS (certs_not_after_ms - 3000LL * 86400 * 1000)

/* Inits a certificate-mode channel with the given files (NULL: left
 * out) at the time `at`; returns init's rc, err filled. */
static int cert_init(const char *app_cert, const char *alipay_cert,
		     const char *root, const char *public_key, int64_t at,
		     void **st, char *err, size_t errlen)
{
	char priv[512];
	struct payroute_conf conf;
	json_t *c;
	int rc;

	snprintf(priv, sizeof(priv), "@%s/alipay_app_private.pem",
		 TEST_KEY_DIR);
	c = json_pack("{s:s, s:s, s:s}", "app_id", APP_ID, "gateway", GATEWAY,
		      "app_private_key", priv);
	if (app_cert)
		json_object_set_new(c, "app_cert", json_string(app_cert));
	if (alipay_cert)
		json_object_set_new(c, "alipay_cert", json_string(alipay_cert));
	if (root)
		json_object_set_new(c, "alipay_root_cert", json_string(root));
	if (public_key)
		json_object_set_new(c, "alipay_public_key",
				    json_string(public_key));
	conf.root = c;
	now_ms = at;
	*st = NULL;
	rc = drv->init(&svc, "alipay_cert_test", &conf, st, err, errlen);
	now_ms = FIXED_NOW_MS;
	json_decref(c);
	return rc;
}

static payroute_key *load(const char *file, int is_private)
{
	char path[512], err[256];
	payroute_key *k = NULL;

	snprintf(path, sizeof(path), "@%s/%s", TEST_KEY_DIR, file);
	if (pr_key_load(path, is_private, &k, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		return NULL;
	}
	return k;
}

static int group_setup(void **unused)
{
	char err[256] = "", priv[512], pub[512];
	struct payroute_conf conf;
	json_t *root;
	int rc;

	(void)unused;
	svc = *pr_services();
	svc.now_ms = fixed_now;
	drv = payroute_driver_entry();
	snprintf(priv, sizeof(priv), "@%s/alipay_app_private.pem",
		 TEST_KEY_DIR);
	snprintf(pub, sizeof(pub), "@%s/alipay_platform_public.pem",
		 TEST_KEY_DIR);
	root = json_pack("{s:s, s:s, s:s, s:s, s:s}", "app_id", APP_ID,
			 "gateway", GATEWAY, "app_private_key", priv,
			 "alipay_public_key", pub, "sign_type", "RSA2");
	if (!root)
		return -1;
	conf.root = root;
	rc = drv->init(&svc, "alipay_test", &conf, &state, err, sizeof(err));
	json_decref(root);
	if (rc < 0) {
		fprintf(stderr, "init: %s\n", err);
		return -1;
	}
	app_public = load("alipay_app_public.pem", 0);
	app_private = load("alipay_app_private.pem", 1);
	platform_private = load("alipay_platform_private.pem", 1);
	if (make_certs() < 0)
		return -1;
	if (cert_init(cert_file("alipay_app_cert.pem"),
		      cert_file("alipay_cert.pem"),
		      cert_file("alipay_root_cert.pem"), NULL, CERTS_VALID_MS,
		      &cstate, err, sizeof(err)) < 0) {
		fprintf(stderr, "init (certificate mode): %s\n", err);
		return -1;
	}
	return app_public && app_private && platform_private ? 0 : -1;
}

static int group_teardown(void **unused)
{
	char cmd[300];

	(void)unused;
	drv->fini(state);
	drv->fini(cstate);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cert_dir);
	if (cert_dir[0] && system(cmd) != 0)
		return -1;
	pr_key_free(app_public);
	pr_key_free(app_private);
	pr_key_free(platform_private);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

enum op { PAY, QUERY, CLOSE, REFUND, REFUND_QUERY, PAYOUT, PAYOUT_QUERY };

static payroute_build_fn build_of(enum op op)
{
	switch (op) {
	case PAY:
		return drv->build_pay;
	case QUERY:
		return drv->build_query;
	case CLOSE:
		return drv->build_close;
	case REFUND:
		return drv->build_refund;
	case REFUND_QUERY:
		return drv->build_refund_query;
	case PAYOUT:
		return drv->build_payout;
	case PAYOUT_QUERY:
		return drv->build_payout_query;
	}
	return NULL;
}

static payroute_parse_fn parse_of(enum op op)
{
	switch (op) {
	case PAY:
		return drv->parse_pay;
	case QUERY:
		return drv->parse_query;
	case CLOSE:
		return drv->parse_close;
	case REFUND:
		return drv->parse_refund;
	case REFUND_QUERY:
		return drv->parse_refund_query;
	case PAYOUT:
		return drv->parse_payout;
	case PAYOUT_QUERY:
		return drv->parse_payout_query;
	}
	return NULL;
}

/* The channel a row runs on: transfers need certificate mode. */
static void *state_for(enum op op)
{
	return op == PAYOUT || op == PAYOUT_QUERY ? cstate : state;
}

/* The order every row starts from. */
static struct payroute_order base_order(const char *env, int64_t amount,
					const char *currency)
{
	struct payroute_order o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.order_id = "PR0001";
	o.amount = amount;
	snprintf(o.currency, sizeof(o.currency), "%s", currency);
	o.method = "alipay";
	o.environment = env;
	o.subject = "Test";
	o.buyer_id = "2088000000000001";
	o.notify_url = NOTIFY_URL;
	o.created_at_ms = FIXED_NOW_MS;
	o.refund_id = "RF0001";
	o.refund_amount = amount;
	o.total_amount = amount;
	o.reason = "customer asked";
	o.payout_id = "PO0001";
	o.payee_kind = "alipay_account";
	o.payee_account = "payee@example.com";
	o.payee_name = "张三";
	return o;
}

/* Decodes "k=v&k=v" into a JSON object of strings. */
static json_t *form_to_json(const char *form)
{
	json_t *obj = json_object();
	char *copy = strdup(form), *p = copy, *amp, *eq, *k, *v;

	assert_non_null(obj);
	assert_non_null(copy);
	while (*p) {
		amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		eq = strchr(p, '=');
		assert_non_null(eq);
		*eq = '\0';
		k = pr_url_decode(p);
		v = pr_url_decode(eq + 1);
		assert_non_null(k);
		assert_non_null(v);
		assert_null(json_object_get(obj, k));
		json_object_set_new(obj, k, json_string(v));
		free(k);
		free(v);
		if (!amp)
			break;
		p = amp + 1;
	}
	free(copy);
	return obj;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sign string of a request, rebuilt independently: every non-empty
 * parameter but sign, sorted, "k=v" joined with '&'. Caller frees. */
static char *sign_string(json_t *params, const char *skip2)
{
	const char *keys[64], *k;
	size_t n = 0, len = 1;
	json_t *v;
	char *s;

	json_object_foreach(params, k, v) {
		if (strcmp(k, "sign") == 0 || (skip2 && strcmp(k, skip2) == 0))
			continue;
		assert_true(n < N_ELEMS(keys));
		keys[n++] = k;
		len += strlen(k) + strlen(json_string_value(v)) + 2;
	}
	qsort(keys, n, sizeof(keys[0]), key_cmp);
	s = calloc(1, len);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strncat(s, "&", len - strlen(s) - 1);
		strncat(s, keys[i], len - strlen(s) - 1);
		strncat(s, "=", len - strlen(s) - 1);
		strncat(s, json_string_value(json_object_get(params, keys[i])),
			len - strlen(s) - 1);
	}
	return s;
}

/* Checks the common parameters and the signature of a request's params;
 * cert: sent by the certificate-mode channel (app_cert_sn and
 * alipay_root_cert_sn, signed, as make_alipay_certs.sh computed them). */
static void check_signed_params_mode(json_t *params, const char *method,
				     int cert)
{
	const char *sign;
	char *content;

	if (cert) {
		assert_string_equal(json_string_value(json_object_get(
					    params, "app_cert_sn")),
				    app_cert_sn);
		assert_string_equal(json_string_value(json_object_get(
					    params, "alipay_root_cert_sn")),
				    root_cert_sn);
	} else {
		assert_null(json_object_get(params, "app_cert_sn"));
		assert_null(json_object_get(params, "alipay_root_cert_sn"));
	}

	assert_string_equal(
		json_string_value(json_object_get(params, "app_id")), APP_ID);
	assert_string_equal(
		json_string_value(json_object_get(params, "method")), method);
	assert_string_equal(
		json_string_value(json_object_get(params, "format")), "JSON");
	assert_string_equal(
		json_string_value(json_object_get(params, "charset")), "utf-8");
	assert_string_equal(
		json_string_value(json_object_get(params, "sign_type")),
		"RSA2");
	assert_string_equal(
		json_string_value(json_object_get(params, "version")), "1.0");
	assert_string_equal(
		json_string_value(json_object_get(params, "timestamp")),
		FIXED_TIMESTAMP);
	sign = json_string_value(json_object_get(params, "sign"));
	assert_non_null(sign);
	content = sign_string(params, NULL);
	assert_int_equal(pr_rsa_sha256_verify(app_public, content,
					      strlen(content), sign),
			 0);
	/* And it really covers the content. */
	content[0] = 'A';
	assert_int_equal(pr_rsa_sha256_verify(app_public, content,
					      strlen(content), sign),
			 -EBADMSG);
	free(content);
}

/* biz_content member by dotted path ("payee_info.identity"). */
static const char *biz_get(json_t *biz, const char *path)
{
	char key[64];
	const char *dot = strchr(path, '.');

	if (!dot)
		return json_string_value(json_object_get(biz, path));
	snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
	return biz_get(json_object_get(biz, key), dot + 1);
}

/* ------------------------------------------------------------------------ */
/* Building                                                                 */
/* ------------------------------------------------------------------------ */

struct biz_want {
	const char *key;
	const char *value; /* NULL: must be absent */
};

static const struct build_row {
	const char *name;
	enum op op;
	const char *env;
	int64_t amount;
	const char *currency;
	int rc;
	const char *method;    /* the method parameter; NULL: no HTTP call */
	int notify;	       /* notify_url expected */
	const char *payer_key; /* no-call pay: the payer payload key */
	struct biz_want biz[10];
} build_rows[] = {
	{ "precreate 0.01",
	  PAY,
	  "native_qr",
	  1,
	  "CNY",
	  0,
	  "alipay.trade.precreate",
	  1,
	  NULL,
	  { { "out_trade_no", "PR0001" },
	    { "total_amount", "0.01" },
	    { "subject", "Test" },
	    { "product_code", "FACE_TO_FACE_PAYMENT" },
	    { "buyer_id", NULL } } },
	{ "precreate 1234.56",
	  PAY,
	  "native_qr",
	  123456,
	  "CNY",
	  0,
	  "alipay.trade.precreate",
	  1,
	  NULL,
	  { { "total_amount", "1234.56" } } },
	{ "precreate 1.00",
	  PAY,
	  "native_qr",
	  100,
	  "CNY",
	  0,
	  "alipay.trade.precreate",
	  1,
	  NULL,
	  { { "total_amount", "1.00" } } },
	{ "create (mini program)",
	  PAY,
	  "mini_program",
	  1050,
	  "CNY",
	  0,
	  "alipay.trade.create",
	  1,
	  NULL,
	  { { "total_amount", "10.50" },
	    { "buyer_id", "2088000000000001" },
	    { "product_code", "JSAPI_PAY" } } },
	{ "wap (h5): no call",
	  PAY,
	  "h5",
	  1,
	  "CNY",
	  0,
	  NULL,
	  1,
	  "pay_url",
	  { { "product_code", "QUICK_WAP_WAY" }, { "total_amount", "0.01" } } },
	{ "page (pc): no call",
	  PAY,
	  "pc",
	  99,
	  "CNY",
	  0,
	  NULL,
	  1,
	  "pay_url",
	  { { "product_code", "FAST_INSTANT_TRADE_PAY" },
	    { "total_amount", "0.99" } } },
	{ "app: no call",
	  PAY,
	  "app",
	  100000,
	  "CNY",
	  0,
	  NULL,
	  1,
	  "order_string",
	  { { "product_code", "QUICK_MSECURITY_PAY" },
	    { "total_amount", "1000.00" } } },
	{ "pay in USD refused",
	  PAY,
	  "native_qr",
	  100,
	  "USD",
	  -EINVAL,
	  NULL,
	  0,
	  NULL,
	  { { NULL, NULL } } },
	{ "zero amount refused",
	  PAY,
	  "native_qr",
	  0,
	  "CNY",
	  -EINVAL,
	  NULL,
	  0,
	  NULL,
	  { { NULL, NULL } } },
	{ "unknown environment",
	  PAY,
	  "barcode_gun",
	  1,
	  "CNY",
	  -ENOTSUP,
	  NULL,
	  0,
	  NULL,
	  { { NULL, NULL } } },
	{ "query",
	  QUERY,
	  NULL,
	  1,
	  "CNY",
	  0,
	  "alipay.trade.query",
	  0,
	  NULL,
	  { { "out_trade_no", "PR0001" } } },
	{ "close",
	  CLOSE,
	  NULL,
	  1,
	  "CNY",
	  0,
	  "alipay.trade.close",
	  0,
	  NULL,
	  { { "out_trade_no", "PR0001" } } },
	{ "refund",
	  REFUND,
	  NULL,
	  123456,
	  "CNY",
	  0,
	  "alipay.trade.refund",
	  1,
	  NULL,
	  { { "out_trade_no", "PR0001" },
	    { "refund_amount", "1234.56" },
	    { "out_request_no", "RF0001" },
	    { "refund_reason", "customer asked" } } },
	{ "refund in EUR refused",
	  REFUND,
	  NULL,
	  100,
	  "EUR",
	  -EINVAL,
	  NULL,
	  0,
	  NULL,
	  { { NULL, NULL } } },
	{ "refund query",
	  REFUND_QUERY,
	  NULL,
	  1,
	  "CNY",
	  0,
	  "alipay.trade.fastpay.refund.query",
	  0,
	  NULL,
	  { { "out_trade_no", "PR0001" }, { "out_request_no", "RF0001" } } },
	{ "payout",
	  PAYOUT,
	  NULL,
	  5,
	  "CNY",
	  0,
	  "alipay.fund.trans.uni.transfer",
	  0,
	  NULL,
	  { { "out_biz_no", "PO0001" },
	    { "trans_amount", "0.05" },
	    { "product_code", "TRANS_ACCOUNT_NO_PWD" },
	    { "biz_scene", "DIRECT_TRANSFER" },
	    { "payee_info.identity", "payee@example.com" },
	    { "payee_info.identity_type", "ALIPAY_LOGON_ID" },
	    { "payee_info.name", "张三" } } },
	{ "payout query",
	  PAYOUT_QUERY,
	  NULL,
	  5,
	  "CNY",
	  0,
	  "alipay.fund.trans.common.query",
	  0,
	  NULL,
	  { { "out_biz_no", "PO0001" },
	    { "product_code", "TRANS_ACCOUNT_NO_PWD" },
	    { "biz_scene", "DIRECT_TRANSFER" } } },
};

/* Checks a set of decoded request parameters against a row. */
static void check_params(const struct build_row *r, json_t *params,
			 const char *method)
{
	json_t *biz;
	const char *bc, *got;

	check_signed_params_mode(params, method, state_for(r->op) == cstate);
	if (r->notify)
		assert_string_equal(json_string_value(json_object_get(
					    params, "notify_url")),
				    NOTIFY_URL);
	else
		assert_null(json_object_get(params, "notify_url"));
	bc = json_string_value(json_object_get(params, "biz_content"));
	assert_non_null(bc);
	biz = json_loads(bc, 0, NULL);
	assert_non_null(biz);
	for (size_t i = 0; i < N_ELEMS(r->biz) && r->biz[i].key; i++) {
		got = biz_get(biz, r->biz[i].key);
		if (r->biz[i].value) {
			assert_non_null(got);
			assert_string_equal(got, r->biz[i].value);
		} else {
			assert_null(got);
		}
	}
	json_decref(biz);
}

static void test_build(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N_ELEMS(build_rows); i++) {
		const struct build_row *r = &build_rows[i];
		struct payroute_order o =
			base_order(r->env, r->amount, r->currency);
		struct payroute_http_req req;
		char err[256] = "";
		json_t *params;
		const char *ct = NULL;
		int rc;

		print_message("build: %s\n", r->name);
		pr_http_req_init(&req);
		rc = build_of(r->op)(state_for(r->op), &o, &req, err,
				     sizeof(err));
		assert_int_equal(rc, r->rc);
		if (rc < 0) {
			assert_true(err[0] != '\0');
			if (strcmp(r->currency, "CNY") != 0)
				assert_string_equal(
					err,
					"currency: alipay supports CNY only");
			pr_http_req_clear(&req);
			continue;
		}
		if (!r->method) {
			/* wap / page / app: nothing to send... */
			assert_null(req.method);
			assert_null(req.body);
			pr_http_req_clear(&req);
			continue;
		}
		assert_string_equal(req.method, "POST");
		assert_string_equal(req.url, GATEWAY);
		for (size_t h = 0; h < req.n_headers; h++)
			if (strcmp(req.headers[h].name, "Content-Type") == 0)
				ct = req.headers[h].value;
		assert_non_null(ct);
		assert_true(strncmp(ct, "application/x-www-form-urlencoded",
				    33) == 0);
		params = form_to_json((const char *)req.body);
		check_params(r, params, r->method);
		json_decref(params);
		pr_http_req_clear(&req);
	}
}

/* wap / page / app: parse_pay with no response signs the payer payload. */
static void test_pay_without_call(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N_ELEMS(build_rows); i++) {
		const struct build_row *r = &build_rows[i];
		struct payroute_order o =
			base_order(r->env, r->amount, r->currency);
		struct payroute_http_response resp = { sizeof(resp), 0, NULL, 0,
						       NULL,	     0 };
		struct payroute_result res;
		struct payroute_kv payer;
		char err[256] = "";
		const char *v, *q, *method;
		json_t *params;

		if (r->op != PAY || r->rc != 0 || r->method)
			continue;
		print_message("pay without call: %s\n", r->name);
		memset(&res, 0, sizeof(res));
		res.size = sizeof(res);
		pr_kv_init(&payer);
		res.payer = &payer;
		assert_int_equal(drv->parse_pay(state, &o, &resp, &res, err,
						sizeof(err)),
				 0);
		assert_string_equal(res.code, "10000");
		assert_string_equal(res.status, "WAIT_BUYER_PAY");
		assert_int_equal(res.amount, -1);
		v = pr_kv_get(&payer, r->payer_key);
		assert_non_null(v);
		if (strcmp(r->payer_key, "pay_url") == 0) {
			assert_true(strncmp(v, GATEWAY "?",
					    strlen(GATEWAY) + 1) == 0);
			q = v + strlen(GATEWAY) + 1;
		} else {
			q = v;
		}
		method = strcmp(r->env, "h5") == 0 ? "alipay.trade.wap.pay" :
			 strcmp(r->env, "pc") == 0 ? "alipay.trade.page.pay" :
						     "alipay.trade.app.pay";
		params = form_to_json(q);
		check_params(r, params, method);
		json_decref(params);
		pr_kv_clear(&payer);
	}
}

/* An independent vector: the signature below was computed once with
 *   printf '%s' "$SIGN_STRING" |
 *     openssl dgst -sha256 -sign tests/keys/alipay_app_private.pem | base64
 * RSA PKCS#1 v1.5 is deterministic, so the driver must produce it
 * byte for byte. */
#define VECTOR_SIGN_STRING                                                     \
	"app_id=2021000000000001&biz_content={\"out_trade_no\":"               \
	"\"PR20240101000001\",\"total_amount\":\"0.01\",\"subject\":\"Test\"," \
	"\"product_code\":\"FACE_TO_FACE_PAYMENT\"}&charset=utf-8&format=JSON" \
	"&method=alipay.trade.precreate&notify_url=http://127.0.0.1:8080/"     \
	"notify/alipay_test&sign_type=RSA2&timestamp=2023-11-15 06:13:20"      \
	"&version=1.0"
#define VECTOR_SIGN                                                            \
	"HhK9Xtc8wY+HnfI4bZKU67CgluhTPu2WSGz/6Wemo3Q//PYvg9WrcLKhsFQIL7XS0Ah2" \
	"Dm1a/wKls6OBvFl8cqmdOs7I4Nl1KIX6i130pMXAWOWXwl74jay17oDeLEdidXsZfZY4" \
	"8rcnjQoz9j0g/KM7PQslpavt/+IC87VJO34321ElJfcTtYpabQ2+o8Mzlw3twbhBZp8I" \
	"I3vxDcNGscdwHUYP5G+UWghCmCUabWAyoVdlFVGlNm63L+BjlcbXZHL9yWb9C6B3/sWu" \
	"n/e0+waCBNzu0AQjm6lpBt0k4wKD7nm85gxsVlmBUkC+S4yFhRfWa9xedlnNOT0ou8Hr" \
	"7g=="

static void test_fixed_vector(void **unused)
{
	struct payroute_order o = base_order("native_qr", 1, "CNY");
	struct payroute_http_req req;
	char err[256] = "", *content;
	json_t *params;

	(void)unused;
	o.order_id = "PR20240101000001";
	pr_http_req_init(&req);
	assert_int_equal(drv->build_pay(state, &o, &req, err, sizeof(err)), 0);
	params = form_to_json((const char *)req.body);
	content = sign_string(params, NULL);
	assert_string_equal(content, VECTOR_SIGN_STRING);
	assert_string_equal(json_string_value(json_object_get(params, "sign")),
			    VECTOR_SIGN);
	free(content);
	json_decref(params);
	pr_http_req_clear(&req);
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */
/* ------------------------------------------------------------------------ */

enum sign_mode {
	SIGNED,	    /* node signed with the platform key */
	UNSIGNED,   /* no sign field */
	WRONG_KEY,  /* signed with another key */
	SIGN_FIRST, /* signed, sign before the node, pretty spacing */
	RAW,	    /* body given whole in `node` */
};

static const struct answer_row {
	const char *name;
	enum op op;
	const char *env; /* for pay */
	const char *node_name;
	const char *node;      /* the signed text */
	const char *body_node; /* what the body carries instead (tamper) */
	enum sign_mode mode;
	int status;
	int rc;
	const char *code;
	const char *sub_code;
	const char *trade_no;
	int64_t amount;
	const char *payer_key, *payer_value;
} answer_rows[] = {
	{ "query success", QUERY, NULL, "alipay_trade_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"buyer_logon_id\":"
	  "\"159****5620\",\"out_trade_no\":\"PR0001\",\"total_amount\":"
	  "\"1234.56\",\"trade_no\":\"2023111522001400001\","
	  "\"trade_status\":\"TRADE_SUCCESS\"}",
	  NULL, SIGNED, 200, 0, "10000", "TRADE_SUCCESS", "2023111522001400001",
	  123456, NULL, NULL },
	{ "query waiting, escapes in strings, sign first", QUERY, NULL,
	  "alipay_trade_query_response",
	  "{ \"code\" : \"10000\", \"msg\": \"Su\\\"cc}{ess\\\\\", "
	  "\"out_trade_no\": \"PR0001\", \"total_amount\": \"0.1\", "
	  "\"nested\": {\"a\": [1, {\"b\": \"}\"}]}, "
	  "\"trade_status\": \"WAIT_BUYER_PAY\" }",
	  NULL, SIGN_FIRST, 200, 0, "10000", "WAIT_BUYER_PAY", "", 10, NULL,
	  NULL },
	{ "query tampered amount", QUERY, NULL, "alipay_trade_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"total_amount\":\"0.01\",\"trade_status\":\"TRADE_SUCCESS\"}",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"total_amount\":\"9.99\",\"trade_status\":\"TRADE_SUCCESS\"}",
	  SIGNED, 200, -EBADMSG, NULL, NULL, NULL, 0, NULL, NULL },
	{ "query signed by another key", QUERY, NULL,
	  "alipay_trade_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"trade_status\":\"TRADE_SUCCESS\"}",
	  NULL, WRONG_KEY, 200, -EBADMSG, NULL, NULL, NULL, 0, NULL, NULL },
	{ "query 10000 unsigned", QUERY, NULL, "alipay_trade_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"trade_status\":\"TRADE_SUCCESS\"}",
	  NULL, UNSIGNED, 200, -EBADMSG, NULL, NULL, NULL, 0, NULL, NULL },
	{ "query not exist (signed)", QUERY, NULL,
	  "alipay_trade_query_response",
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.TRADE_NOT_EXIST\",\"sub_msg\":\"交易不存在\"}",
	  NULL, SIGNED, 200, 0, "40004", "ACQ.TRADE_NOT_EXIST", "", -1, NULL,
	  NULL },
	{ "query not exist (unsigned)", QUERY, NULL,
	  "alipay_trade_query_response",
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.TRADE_NOT_EXIST\"}",
	  NULL, UNSIGNED, 200, 0, "40004", "ACQ.TRADE_NOT_EXIST", "", -1, NULL,
	  NULL },
	{ "error_response unsigned", QUERY, NULL, "error_response",
	  "{\"code\":\"40002\",\"msg\":\"Invalid Arguments\",\"sub_code\":"
	  "\"isv.invalid-app-id\",\"sub_msg\":\"无效的AppID参数\"}",
	  NULL, UNSIGNED, 200, 0, "40002", "isv.invalid-app-id", "", -1, NULL,
	  NULL },
	{ "error_response 20001", CLOSE, NULL, "error_response",
	  "{\"code\":\"20001\",\"msg\":\"Insufficient Token Permissions\"}",
	  NULL, UNSIGNED, 200, 0, "20001", "", "", -1, NULL, NULL },
	{ "answer for another order", QUERY, NULL,
	  "alipay_trade_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR9999\","
	  "\"trade_status\":\"TRADE_SUCCESS\"}",
	  NULL, SIGNED, 200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "bad amount", QUERY, NULL, "alipay_trade_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"total_amount\":\"1.234\",\"trade_status\":\"TRADE_SUCCESS\"}",
	  NULL, SIGNED, 200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "wrong node name", QUERY, NULL, "alipay_trade_close_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\"}", NULL, SIGNED, 200,
	  -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "truncated JSON", QUERY, NULL, NULL,
	  "{\"alipay_trade_query_response\":{\"code\":\"10000\",\"msg\":\"Su",
	  NULL, RAW, 200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "garbage", QUERY, NULL, NULL, "\x01\xff<html>oops</html>", NULL, RAW,
	  200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "duplicate node", QUERY, NULL, NULL,
	  "{\"alipay_trade_query_response\":{\"code\":\"40004\"},"
	  "\"alipay_trade_query_response\":{\"code\":\"10000\"}}",
	  NULL, RAW, 200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "HTTP 502", QUERY, NULL, NULL, "Bad Gateway", NULL, RAW, 502, -EPROTO,
	  NULL, NULL, NULL, 0, NULL, NULL },
	{ "no answer", QUERY, NULL, NULL, "", NULL, RAW, 0, -EPROTO, NULL, NULL,
	  NULL, 0, NULL, NULL },
	{ "precreate", PAY, "native_qr", "alipay_trade_precreate_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"qr_code\":\"https://qr.alipay.com/bax08431\"}",
	  NULL, SIGNED, 200, 0, "10000", "", "", -1, "qr_code",
	  "https://qr.alipay.com/bax08431" },
	{ "precreate without qr_code", PAY, "native_qr",
	  "alipay_trade_precreate_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\"}",
	  NULL, SIGNED, 200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "precreate over limit", PAY, "native_qr",
	  "alipay_trade_precreate_response",
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.TOTAL_FEE_EXCEED\",\"sub_msg\":\"订单金额超过限额\"}",
	  NULL, SIGNED, 200, 0, "40004", "ACQ.TOTAL_FEE_EXCEED", "", -1, NULL,
	  NULL },
	{ "create", PAY, "mini_program", "alipay_trade_create_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"trade_no\":\"2023111522001400002\"}",
	  NULL, SIGNED, 200, 0, "10000", "", "2023111522001400002", -1,
	  "trade_no", "2023111522001400002" },
	{ "close", CLOSE, NULL, "alipay_trade_close_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"trade_no\":\"2023111522001400001\"}",
	  NULL, SIGNED, 200, 0, "10000", "", "2023111522001400001", -1, NULL,
	  NULL },
	{ "refund", REFUND, NULL, "alipay_trade_refund_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"trade_no\":\"2023111522001400001\",\"fund_change\":\"Y\","
	  "\"refund_fee\":\"88.88\"}",
	  NULL, SIGNED, 200, 0, "10000", "", "2023111522001400001", 8888, NULL,
	  NULL },
	{ "refund seller balance", REFUND, NULL, "alipay_trade_refund_response",
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.SELLER_BALANCE_NOT_ENOUGH\",\"sub_msg\":\"卖家余额不足\"}",
	  NULL, SIGNED, 200, 0, "40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH", "",
	  -1, NULL, NULL },
	{ "refund query success", REFUND_QUERY, NULL,
	  "alipay_trade_fastpay_refund_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"out_request_no\":\"RF0001\",\"refund_amount\":\"12.00\","
	  "\"refund_status\":\"REFUND_SUCCESS\",\"trade_no\":\"2023111522\"}",
	  NULL, SIGNED, 200, 0, "10000", "REFUND_SUCCESS", "2023111522", 1200,
	  NULL, NULL },
	{ "refund query, no refund yet", REFUND_QUERY, NULL,
	  "alipay_trade_fastpay_refund_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"out_request_no\":\"RF0001\"}",
	  NULL, SIGNED, 200, 0, "10000", "", "", -1, NULL, NULL },
	{ "refund query, another refund", REFUND_QUERY, NULL,
	  "alipay_trade_fastpay_refund_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"out_request_no\":\"RF0002\",\"refund_status\":"
	  "\"REFUND_SUCCESS\"}",
	  NULL, SIGNED, 200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "payout success", PAYOUT, NULL,
	  "alipay_fund_trans_uni_transfer_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_biz_no\":\"PO0001\","
	  "\"order_id\":\"20231115110070000006\",\"pay_fund_order_id\":"
	  "\"20231115110070001506\",\"status\":\"SUCCESS\","
	  "\"trans_date\":\"2023-11-15 06:13:21\"}",
	  NULL, SIGNED, 200, 0, "10000", "SUCCESS", "20231115110070000006", -1,
	  NULL, NULL },
	{ "payout payer balance", PAYOUT, NULL,
	  "alipay_fund_trans_uni_transfer_response",
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"PAYER_BALANCE_NOT_ENOUGH\",\"sub_msg\":\"余额不足\"}",
	  NULL, SIGNED, 200, 0, "40004", "PAYER_BALANCE_NOT_ENOUGH", "", -1,
	  NULL, NULL },
	{ "payout without status", PAYOUT, NULL,
	  "alipay_fund_trans_uni_transfer_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_biz_no\":\"PO0001\"}",
	  NULL, SIGNED, 200, -EPROTO, NULL, NULL, NULL, 0, NULL, NULL },
	{ "payout query fail", PAYOUT_QUERY, NULL,
	  "alipay_fund_trans_common_query_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_biz_no\":\"PO0001\","
	  "\"order_id\":\"20231115110070000006\",\"status\":\"FAIL\","
	  "\"trans_amount\":\"0.05\",\"fail_reason\":\"收款账户不存在\"}",
	  NULL, SIGNED, 200, 0, "10000", "FAIL", "20231115110070000006", 5,
	  NULL, NULL },
};

/* Builds the body of an answer row. Caller frees. */
static char *answer_body(const struct answer_row *r)
{
	const char *shown = r->body_node ? r->body_node : r->node;
	char *sig = NULL, *body;
	size_t len;

	if (r->mode == RAW)
		return strdup(r->node);
	if (r->mode != UNSIGNED)
		assert_int_equal(pr_rsa_sha256_sign(r->mode == WRONG_KEY ?
							    app_private :
							    platform_private,
						    r->node, strlen(r->node),
						    &sig),
				 0);
	len = strlen(shown) + strlen(r->node_name) + (sig ? strlen(sig) : 0) +
	      64;
	body = malloc(len);
	assert_non_null(body);
	if (r->mode == UNSIGNED)
		snprintf(body, len, "{\"%s\":%s}", r->node_name, shown);
	else if (r->mode == SIGN_FIRST)
		snprintf(body, len,
			 "{\n  \"sign\" : \"%s\",\n  \"%s\" :  %s\n}", sig,
			 r->node_name, shown);
	else
		snprintf(body, len, "{\"%s\":%s,\"sign\":\"%s\"}", r->node_name,
			 shown, sig);
	free(sig);
	return body;
}

static void test_answers(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N_ELEMS(answer_rows); i++) {
		const struct answer_row *r = &answer_rows[i];
		struct payroute_order o = base_order(r->env, 1, "CNY");
		struct payroute_http_response resp;
		struct payroute_result res;
		struct payroute_kv payer;
		char err[256] = "", *body;
		int rc;

		print_message("answer: %s\n", r->name);
		body = answer_body(r);
		memset(&resp, 0, sizeof(resp));
		resp.size = sizeof(resp);
		resp.status = r->status;
		resp.body = body;
		resp.body_len = strlen(body);
		memset(&res, 0, sizeof(res));
		res.size = sizeof(res);
		pr_kv_init(&payer);
		res.payer = &payer;
		rc = parse_of(r->op)(state_for(r->op), &o, &resp, &res, err,
				     sizeof(err));
		if (rc != r->rc)
			print_error("rc %d, err \"%s\"\n", rc, err);
		assert_int_equal(rc, r->rc);
		if (rc < 0) {
			assert_true(err[0] != '\0');
		} else {
			assert_string_equal(res.code, r->code);
			assert_string_equal(res.sub_code, r->sub_code);
			assert_string_equal(res.channel_trade_no, r->trade_no);
			assert_int_equal(res.amount, r->amount);
			if (r->payer_key)
				assert_string_equal(pr_kv_get(&payer,
							      r->payer_key),
						    r->payer_value);
			else
				assert_int_equal(payer.n, 0);
		}
		pr_kv_clear(&payer);
		free(body);
	}
}

/* Messages keep the gateway's msg and sub_msg. */
static void test_answer_message(void **unused)
{
	const struct answer_row *r = &answer_rows[5]; /* not exist, signed */
	struct payroute_order o = base_order(NULL, 1, "CNY");
	struct payroute_http_response resp;
	struct payroute_result res;
	char err[256] = "", *body = answer_body(r);

	(void)unused;
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.body = body;
	resp.body_len = strlen(body);
	memset(&res, 0, sizeof(res));
	assert_int_equal(
		drv->parse_query(state, &o, &resp, &res, err, sizeof(err)), 0);
	assert_string_equal(res.message, "Business Failed: 交易不存在");
	free(body);
}

/* ------------------------------------------------------------------------ */
/* Barcode payments (alipay.trade.pay)                                      */
/* ------------------------------------------------------------------------ */

#define AUTH_CODE "286912345678901234"

static const struct barcode_build_row {
	const char *name;
	const char *auth_code;
	uint32_t size;	      /* 0: sizeof(struct payroute_order) */
	int64_t expire_in_ms; /* 0: no expiry */
	int rc;
	const char *err;
	const char *biz_text; /* the exact biz_content, when checked */
	struct biz_want biz[10];
} barcode_build_rows[] = {
	{ "barcode",
	  AUTH_CODE,
	  0,
	  0,
	  0,
	  NULL,
	  "{\"out_trade_no\":\"PR0001\",\"total_amount\":\"12.34\","
	  "\"subject\":\"Test\",\"scene\":\"bar_code\",\"auth_code\":\"" AUTH_CODE
	  "\",\"product_code\":\"FACE_TO_FACE_PAYMENT\"}",
	  { { "buyer_id", NULL }, { "timeout_express", NULL } } },
	{ "barcode with an expiry: timeout_express in whole minutes",
	  AUTH_CODE,
	  0,
	  4 * 60000 + 1,
	  0,
	  NULL,
	  NULL,
	  { { "scene", "bar_code" },
	    { "auth_code", AUTH_CODE },
	    { "timeout_express", "5m" },
	    { "time_expire", NULL } } },
	{ "barcode without auth_code",
	  NULL,
	  0,
	  0,
	  -EINVAL,
	  "auth_code: required for barcode payments",
	  NULL,
	  { { NULL, NULL } } },
	{ "barcode with an empty auth_code",
	  "",
	  0,
	  0,
	  -EINVAL,
	  "auth_code: required for barcode payments",
	  NULL,
	  { { NULL, NULL } } },
	/* A core of ABI 1.0 has no auth_code: the driver must not read past
	 * the order's size, whatever lies there. */
	{ "barcode from a 1.0 core (order without auth_code)",
	  AUTH_CODE,
	  (uint32_t)offsetof(struct payroute_order, auth_code),
	  0,
	  -EINVAL,
	  "auth_code: required for barcode payments",
	  NULL,
	  { { NULL, NULL } } },
	{ "auth_code with a space",
	  "2869 12345678901234",
	  0,
	  0,
	  -EINVAL,
	  NULL,
	  NULL,
	  { { NULL, NULL } } },
	{ "auth_code too long",
	  "28691234567890123428691234567890123428691234567890123428691234567",
	  0,
	  0,
	  -EINVAL,
	  NULL,
	  NULL,
	  { { NULL, NULL } } },
};

static void test_barcode_build(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N_ELEMS(barcode_build_rows); i++) {
		const struct barcode_build_row *br = &barcode_build_rows[i];
		struct payroute_order o = base_order("barcode", 1234, "CNY");
		struct build_row r;
		struct payroute_http_req req;
		char err[256] = "";
		json_t *params;
		int rc;

		print_message("barcode build: %s\n", br->name);
		o.auth_code = br->auth_code;
		if (br->size)
			o.size = br->size;
		if (br->expire_in_ms)
			o.expire_at_ms = FIXED_NOW_MS + br->expire_in_ms;
		pr_http_req_init(&req);
		rc = drv->build_pay(state, &o, &req, err, sizeof(err));
		if (rc != br->rc)
			print_error("rc %d, err \"%s\"\n", rc, err);
		assert_int_equal(rc, br->rc);
		if (rc < 0) {
			assert_true(err[0] != '\0');
			if (br->err)
				assert_string_equal(err, br->err);
			/* The payer's code is never repeated in an error. */
			if (br->auth_code && strlen(br->auth_code) > 4)
				assert_null(strstr(err, br->auth_code + 4));
			assert_null(req.method);
			pr_http_req_clear(&req);
			continue;
		}
		assert_string_equal(req.method, "POST");
		assert_string_equal(req.url, GATEWAY);
		params = form_to_json((const char *)req.body);
		memset(&r, 0, sizeof(r));
		r.name = br->name;
		r.op = PAY;
		r.notify = 1;
		memcpy(r.biz, br->biz, sizeof(r.biz));
		check_params(&r, params, "alipay.trade.pay");
		if (br->biz_text)
			assert_string_equal(json_string_value(json_object_get(
						    params, "biz_content")),
					    br->biz_text);
		json_decref(params);
		pr_http_req_clear(&req);
	}
}

static const struct barcode_answer_row {
	const char *name;
	const char *node_name; /* NULL: alipay_trade_pay_response */
	const char *node;
	enum sign_mode mode;
	int rc;
	const char *code, *sub_code, *status, *trade_no;
	int64_t amount;
	/* through the driver's default table */
	const char *unified;
	enum payroute_effect effect;
	int retryable;
} barcode_answer_rows[] = {
	{ "paid at once", NULL,
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"buyer_logon_id\":"
	  "\"159****5620\",\"buyer_pay_amount\":\"12.34\",\"fund_bill_list\":"
	  "[{\"amount\":\"12.34\",\"fund_channel\":\"ALIPAYACCOUNT\"}],"
	  "\"gmt_payment\":\"2023-11-15 06:13:21\",\"invoice_amount\":"
	  "\"12.34\",\"out_trade_no\":\"PR0001\",\"point_amount\":\"0.00\","
	  "\"receipt_amount\":\"12.34\",\"total_amount\":\"12.34\","
	  "\"trade_no\":\"2023111522001400003\",\"buyer_user_id\":"
	  "\"2088102177846875\"}",
	  SIGNED, 0, "10000", "TRADE_SUCCESS", "TRADE_SUCCESS",
	  "2023111522001400003", 1234, "SUCCESS", PAYROUTE_EFFECT_SUCCESS, 0 },
	{ "waiting for the payer's password (10003)", NULL,
	  "{\"code\":\"10003\",\"msg\":\"order success pay inprocess\","
	  "\"buyer_logon_id\":\"159****5620\",\"out_trade_no\":\"PR0001\","
	  "\"total_amount\":\"12.34\",\"trade_no\":\"2023111522001400004\"}",
	  SIGNED, 0, "10003", "", "WAIT_BUYER_PAY", "2023111522001400004", 1234,
	  "USER_PAYING", PAYROUTE_EFFECT_PROCESSING, 0 },
	{ "invalid payment code", NULL,
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.PAYMENT_AUTH_CODE_INVALID\",\"sub_msg\":\"支付失败，获取顾客账户"
	  "信息失败，请顾客刷新付款码后重新收款\",\"out_trade_no\":\"PR0001\"}",
	  SIGNED, 0, "40004", "ACQ.PAYMENT_AUTH_CODE_INVALID", "", "", -1,
	  "AUTH_CODE_INVALID", PAYROUTE_EFFECT_FAILED, 0 },
	{ "insufficient balance", NULL,
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.BUYER_BALANCE_NOT_ENOUGH\",\"sub_msg\":\"买家余额不足\"}",
	  SIGNED, 0, "40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH", "", "", -1,
	  "INSUFFICIENT_BALANCE", PAYROUTE_EFFECT_FAILED, 0 },
	{ "system error: unknown, chased by query", NULL,
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.SYSTEM_ERROR\",\"sub_msg\":\"系统错误\"}",
	  UNSIGNED, 0, "40004", "ACQ.SYSTEM_ERROR", "", "", -1, "UNKNOWN",
	  PAYROUTE_EFFECT_UNKNOWN, 0 },
	{ "service unavailable (20000): unknown", NULL,
	  "{\"code\":\"20000\",\"msg\":\"Service Currently Unavailable\","
	  "\"sub_code\":\"isp.unknow-error\",\"sub_msg\":\"系统繁忙\"}",
	  UNSIGNED, 0, "20000", "isp.unknow-error", "", "", -1, "UNKNOWN",
	  PAYROUTE_EFFECT_UNKNOWN, 0 },
	{ "already paid (a retried request)", NULL,
	  "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":"
	  "\"ACQ.TRADE_HAS_SUCCESS\",\"sub_msg\":\"交易已被支付\"}",
	  SIGNED, 0, "40004", "ACQ.TRADE_HAS_SUCCESS", "", "", -1,
	  "ALREADY_PAID", PAYROUTE_EFFECT_UNKNOWN, 0 },
	{ "paid, unsigned", NULL,
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"total_amount\":\"12.34\",\"trade_no\":\"2023111522001400003\"}",
	  UNSIGNED, -EBADMSG, NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
	{ "paid, signed by another key", NULL,
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"total_amount\":\"12.34\",\"trade_no\":\"2023111522001400003\"}",
	  WRONG_KEY, -EBADMSG, NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
	{ "paid without trade_no", NULL,
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"total_amount\":\"12.34\"}",
	  SIGNED, -EPROTO, NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
	{ "paid without total_amount", NULL,
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"trade_no\":\"2023111522001400003\"}",
	  SIGNED, -EPROTO, NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
	{ "paid, another order", NULL,
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0002\","
	  "\"total_amount\":\"12.34\",\"trade_no\":\"2023111522001400003\"}",
	  SIGNED, -EPROTO, NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
	{ "the answer of another method", "alipay_trade_precreate_response",
	  "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"PR0001\","
	  "\"qr_code\":\"https://qr.alipay.com/bax08431\"}",
	  SIGNED, -EPROTO, NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
};

static void test_barcode_answers(void **unused)
{
	struct pr_codemap *map;
	const struct payroute_code_entry *t;
	size_t n, es;
	char err[256] = "";

	(void)unused;
	map = pr_codemap_new();
	assert_non_null(map);
	t = drv->default_codes(&n, &es);
	if (pr_codemap_add_driver(map, "alipay", t, n, es, err, sizeof(err)))
		fail_msg("code table: %s", err);
	for (size_t i = 0; i < N_ELEMS(barcode_answer_rows); i++) {
		const struct barcode_answer_row *br = &barcode_answer_rows[i];
		struct answer_row r;
		struct payroute_order o = base_order("barcode", 1234, "CNY");
		struct payroute_http_response resp;
		struct payroute_result res;
		struct payroute_kv payer;
		const struct pr_code *c;
		char *body;
		int rc;

		print_message("barcode answer: %s\n", br->name);
		o.auth_code = AUTH_CODE;
		memset(&r, 0, sizeof(r));
		r.node_name = br->node_name ? br->node_name :
					      "alipay_trade_pay_response";
		r.node = br->node;
		r.mode = br->mode;
		body = answer_body(&r);
		memset(&resp, 0, sizeof(resp));
		resp.size = sizeof(resp);
		resp.status = 200;
		resp.body = body;
		resp.body_len = strlen(body);
		memset(&res, 0, sizeof(res));
		res.size = sizeof(res);
		pr_kv_init(&payer);
		res.payer = &payer;
		err[0] = '\0';
		rc = drv->parse_pay(state, &o, &resp, &res, err, sizeof(err));
		if (rc != br->rc)
			print_error("rc %d, err \"%s\"\n", rc, err);
		assert_int_equal(rc, br->rc);
		if (rc < 0) {
			assert_true(err[0] != '\0');
		} else {
			assert_string_equal(res.code, br->code);
			assert_string_equal(res.sub_code, br->sub_code);
			assert_string_equal(res.status, br->status);
			assert_string_equal(res.channel_trade_no, br->trade_no);
			assert_int_equal(res.amount, br->amount);
			/* The payer already acted: nothing to hand over. */
			assert_int_equal(payer.n, 0);
			c = pr_codemap_lookup(map, "alipay", "alipay_test",
					      "pay", res.code, res.sub_code);
			assert_non_null(c);
			assert_string_equal(c->unified, br->unified);
			assert_int_equal(c->effect, br->effect);
			assert_int_equal(c->retryable, br->retryable);
		}
		pr_kv_clear(&payer);
		free(body);
	}
	pr_codemap_free(map);
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

struct pair {
	const char *k, *v;
};

static const struct pair pay_notify[] = {
	{ "notify_time", "2023-11-15 06:14:00" },
	{ "notify_type", "trade_status_sync" },
	{ "notify_id", "ac05099524730693a8b330c5ecf72da9786" },
	{ "app_id", APP_ID },
	{ "charset", "utf-8" },
	{ "version", "1.0" },
	{ "trade_no", "2023111522001400001" },
	{ "out_trade_no", "PR0001" },
	{ "buyer_id", "2088102122524333" },
	{ "trade_status", "TRADE_SUCCESS" },
	{ "total_amount", "1234.56" },
	{ "receipt_amount", "1234.56" },
	{ "subject", "Test & co = 测试" },
	{ "gmt_payment", "2023-11-15 06:13:59" },
	{ NULL, NULL },
};

/* Paid, and past the refund period. */
static const struct pair finished_notify[] = {
	{ "notify_type", "trade_status_sync" },
	{ "notify_id", "ac05099524730693a8b330c5ecf72da9789" },
	{ "app_id", APP_ID },
	{ "trade_no", "2023111522001400001" },
	{ "out_trade_no", "PR0001" },
	{ "trade_status", "TRADE_FINISHED" },
	{ "total_amount", "1.00" },
	{ NULL, NULL },
};

/* Not paid yet: a status that carries no amount to check. */
static const struct pair waiting_notify[] = {
	{ "notify_time", "2023-11-15 06:14:00" },
	{ "notify_type", "trade_status_sync" },
	{ "notify_id", "ac05099524730693a8b330c5ecf72da9788" },
	{ "app_id", APP_ID },
	{ "charset", "utf-8" },
	{ "version", "1.0" },
	{ "trade_no", "2023111522001400001" },
	{ "out_trade_no", "PR0001" },
	{ "trade_status", "WAIT_BUYER_PAY" },
	{ NULL, NULL },
};

static const struct pair refund_notify[] = {
	{ "notify_time", "2023-11-16 10:00:00" },
	{ "notify_type", "trade_status_sync" },
	{ "notify_id", "ac05099524730693a8b330c5ecf72da9787" },
	{ "app_id", APP_ID },
	{ "charset", "utf-8" },
	{ "version", "1.0" },
	{ "trade_no", "2023111522001400001" },
	{ "out_trade_no", "PR0001" },
	{ "out_biz_no", "RF0001" },
	{ "trade_status", "TRADE_CLOSED" },
	{ "total_amount", "1234.56" },
	{ "refund_fee", "1234.56" },
	{ "gmt_refund", "2023-11-16 09:59:59.123" },
	{ "memo", "" },
	{ NULL, NULL },
};

enum notify_mode {
	N_GOOD,
	N_TAMPER,  /* sign, then change `tk` to `tv` */
	N_REPLACE, /* change `tk` to `tv`, then sign */
	N_DROP,	   /* leave `tk` out, then sign */
	N_UNSIGNED,
	N_WRONG_KEY,
};

/* A form body for the pairs, signed (or not) per mode. Caller frees. */
static char *notify_body(const struct pair *pairs, enum notify_mode mode,
			 const char *tk, const char *tv)
{
	json_t *params = json_object();
	const char *k;
	char *content, *sig = NULL, *ek, *ev, *body;
	size_t len = 1;
	json_t *v;

	for (const struct pair *p = pairs; p->k; p++)
		json_object_set_new(params, p->k, json_string(p->v));
	if (mode == N_REPLACE)
		json_object_set_new(params, tk, json_string(tv));
	if (mode == N_DROP)
		json_object_del(params, tk);
	if (mode != N_UNSIGNED) {
		content = sign_string(params, "sign_type");
		assert_int_equal(pr_rsa_sha256_sign(
					 mode == N_WRONG_KEY ? app_private :
							       platform_private,
					 content, strlen(content), &sig),
				 0);
		free(content);
		json_object_set_new(params, "sign", json_string(sig));
		json_object_set_new(params, "sign_type", json_string("RSA2"));
		free(sig);
	}
	if (mode == N_TAMPER)
		json_object_set_new(params, tk, json_string(tv));
	json_object_foreach(params, k, v)
		len += 3 * (strlen(k) + strlen(json_string_value(v))) + 2;
	body = calloc(1, len);
	assert_non_null(body);
	json_object_foreach(params, k, v) {
		ek = pr_url_encode(k);
		ev = pr_url_encode(json_string_value(v));
		if (body[0])
			strncat(body, "&", len - strlen(body) - 1);
		strncat(body, ek, len - strlen(body) - 1);
		strncat(body, "=", len - strlen(body) - 1);
		strncat(body, ev, len - strlen(body) - 1);
		free(ek);
		free(ev);
	}
	json_decref(params);
	return body;
}

static const struct notify_row {
	const char *name;
	const struct pair *pairs;
	enum notify_mode mode;
	const char *tk, *tv;
	const char *raw; /* a body given whole */
	int rc;
	enum payroute_order_kind kind;
	const char *order_id, *refund_id, *code, *status;
	int64_t amount;
} notify_rows[] = {
	{ "payment", pay_notify, N_GOOD, NULL, NULL, NULL, 0,
	  PAYROUTE_KIND_PAYMENT, "PR0001", "", "TRADE_SUCCESS", "TRADE_SUCCESS",
	  123456 },
	{ "refund", refund_notify, N_GOOD, NULL, NULL, NULL, 0,
	  PAYROUTE_KIND_REFUND, "PR0001", "RF0001", "REFUND_SUCCESS",
	  "TRADE_CLOSED", 123456 },
	{ "tampered amount", pay_notify, N_TAMPER, "total_amount", "0.01", NULL,
	  -EBADMSG, 0, NULL, NULL, NULL, NULL, 0 },
	{ "signed by another key", pay_notify, N_WRONG_KEY, NULL, NULL, NULL,
	  -EBADMSG, 0, NULL, NULL, NULL, NULL, 0 },
	{ "unsigned", pay_notify, N_UNSIGNED, NULL, NULL, NULL, -EBADMSG, 0,
	  NULL, NULL, NULL, NULL, 0 },
	{ "another app_id", pay_notify, N_REPLACE, "app_id", "2021000000000002",
	  NULL, -EPROTO, 0, NULL, NULL, NULL, NULL, 0 },
	{ "bad amount", pay_notify, N_REPLACE, "total_amount", "-1.00", NULL,
	  -EPROTO, 0, NULL, NULL, NULL, NULL, 0 },
	{ "paid without total_amount", pay_notify, N_DROP, "total_amount", NULL,
	  NULL, -EPROTO, 0, NULL, NULL, NULL, NULL, 0 },
	{ "paid with an empty total_amount", pay_notify, N_REPLACE,
	  "total_amount", "", NULL, -EPROTO, 0, NULL, NULL, NULL, NULL, 0 },
	{ "finished without total_amount", finished_notify, N_DROP,
	  "total_amount", NULL, NULL, -EPROTO, 0, NULL, NULL, NULL, NULL, 0 },
	{ "finished with total_amount", finished_notify, N_GOOD, NULL, NULL,
	  NULL, 0, PAYROUTE_KIND_PAYMENT, "PR0001", "", "TRADE_FINISHED",
	  "TRADE_FINISHED", 100 },
	{ "waiting, no amount: fine", waiting_notify, N_GOOD, NULL, NULL, NULL,
	  0, PAYROUTE_KIND_PAYMENT, "PR0001", "", "WAIT_BUYER_PAY",
	  "WAIT_BUYER_PAY", -1 },
	{ "no out_trade_no", pay_notify, N_REPLACE, "out_trade_no", "", NULL,
	  -EPROTO, 0, NULL, NULL, NULL, NULL, 0 },
	{ "garbage", NULL, N_GOOD, NULL, NULL, "\x01\x02%zz==&&=", -EPROTO, 0,
	  NULL, NULL, NULL, NULL, 0 },
	{ "not a form", NULL, N_GOOD, NULL, NULL, "{\"a\":1}", -EPROTO, 0, NULL,
	  NULL, NULL, NULL, 0 },
	{ "duplicate parameter", NULL, N_GOOD, NULL, NULL, "a=1&a=2&sign=x",
	  -EPROTO, 0, NULL, NULL, NULL, NULL, 0 },
};

static void test_notify(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < N_ELEMS(notify_rows); i++) {
		const struct notify_row *r = &notify_rows[i];
		struct payroute_inbound in;
		struct payroute_notify out;
		char err[256] = "", *body;
		int rc;

		print_message("notify: %s\n", r->name);
		body = r->raw ? strdup(r->raw) :
				notify_body(r->pairs, r->mode, r->tk, r->tv);
		memset(&in, 0, sizeof(in));
		in.size = sizeof(in);
		in.method = "POST";
		in.path = "/notify/alipay_test";
		in.body = body;
		in.body_len = strlen(body);
		memset(&out, 0, sizeof(out));
		out.size = sizeof(out);
		rc = drv->parse_notify(state, &in, &out, err, sizeof(err));
		if (rc != r->rc)
			print_error("rc %d, err \"%s\"\n", rc, err);
		assert_int_equal(rc, r->rc);
		/* The replies are there whatever happened. */
		assert_int_equal(out.reply_ok_status, 200);
		assert_string_equal(out.reply_ok_body, "success");
		assert_string_equal(out.reply_fail_body, "fail");
		assert_string_equal(out.reply_content_type, "text/plain");
		if (rc < 0) {
			assert_true(err[0] != '\0');
		} else {
			assert_int_equal(out.kind, r->kind);
			assert_string_equal(out.order_id, r->order_id);
			assert_string_equal(out.refund_id, r->refund_id);
			assert_string_equal(out.channel_trade_no,
					    "2023111522001400001");
			assert_string_equal(out.code, r->code);
			assert_string_equal(out.status, r->status);
			assert_int_equal(out.amount, r->amount);
		}
		free(body);
	}
}

/* ------------------------------------------------------------------------ */
/* Public-key certificate mode                                              */
/* ------------------------------------------------------------------------ */

enum when { AT_VALID, AT_2023, AT_EXPIRED, AT_NEAR_END };

static const struct cert_init_row {
	const char *name;
	const char *app_cert, *alipay_cert, *root; /* files; NULL: left out */
	int public_key; /* alipay_public_key set too */
	enum when at;
	int rc;
	const char *err;  /* a substring of init's error */
	const char *err2; /* another */
	const char *log;  /* a substring of what init logged */
} cert_init_rows[] = {
	{ "the three certificates", "alipay_app_cert.pem", "alipay_cert.pem",
	  "alipay_root_cert.pem", 0, AT_VALID, 0, NULL, NULL,
	  "certificate mode, chains checked" },
	/* app_cert's: its end is the NOT_AFTER the moment is taken from;
	 * alipay_cert was made by another openssl run, maybe a second
	 * later (then it says 10 days) */
	{ "10 days before the end: a warning", "alipay_app_cert.pem",
	  "alipay_cert.pem", "alipay_root_cert.pem", 0, AT_NEAR_END, 0, NULL,
	  NULL, "app_cert expires in 9 day(s)" },
	{ "the app certificate alone", "alipay_app_cert.pem", NULL, NULL, 0,
	  AT_VALID, -EINVAL,
	  "alipay_cert: required in certificate mode: app_cert, alipay_cert "
	  "and alipay_root_cert go together",
	  NULL, NULL },
	{ "no root bundle", "alipay_app_cert.pem", "alipay_cert.pem", NULL, 0,
	  AT_VALID, -EINVAL, "alipay_root_cert: required in certificate mode",
	  NULL, NULL },
	{ "both modes", "alipay_app_cert.pem", "alipay_cert.pem",
	  "alipay_root_cert.pem", 1, AT_VALID, -EINVAL,
	  "alipay_public_key: not used in certificate mode", NULL, NULL },
	{ "neither mode", NULL, NULL, NULL, 0, AT_VALID, -EINVAL,
	  "alipay_public_key: required (or app_cert, alipay_cert and "
	  "alipay_root_cert for certificate mode)",
	  NULL, NULL },
	{ "another root", "alipay_app_cert.pem", "alipay_cert.pem",
	  "other_root_cert.pem", 0, AT_VALID, -EBADMSG,
	  "app_cert: not a valid certificate issued under alipay_root_cert",
	  "unable to get local issuer certificate", NULL },
	{ "Alipay's certificate without its intermediate",
	  "alipay_app_cert.pem", "alipay.pem", "alipay_root_cert.pem", 0,
	  AT_VALID, -EBADMSG,
	  "alipay_cert: not a valid certificate issued under alipay_root_cert",
	  "unable to get local issuer certificate", NULL },
	{ "expired", "alipay_app_cert.pem", "alipay_cert.pem",
	  "alipay_root_cert.pem", 0, AT_EXPIRED, -EBADMSG,
	  "app_cert:", "certificate has expired", NULL },
	{ "not yet valid", "alipay_app_cert.pem", "alipay_cert.pem",
	  "alipay_root_cert.pem", 0, AT_2023, -EBADMSG,
	  "app_cert:", "certificate is not yet valid", NULL },
	{ "an app certificate of another key", "alipay_cert.pem",
	  "alipay_cert.pem", "alipay_root_cert.pem", 0, AT_VALID, -EINVAL,
	  "app_cert: its public key is not app_private_key's", NULL, NULL },
	{ "a root bundle that is no certificate", "alipay_app_cert.pem",
	  "alipay_cert.pem", "alipay_sn.env", 0, AT_VALID, -EINVAL,
	  "app_cert: not a valid certificate issued under alipay_root_cert",
	  "root certificates: no PEM certificate", NULL },
};

static void test_cert_init(void **unused)
{
	(void)unused;
	svc.log = capture_log;
	for (size_t i = 0; i < N_ELEMS(cert_init_rows); i++) {
		const struct cert_init_row *r = &cert_init_rows[i];
		char err[512] = "", pub[512];
		void *st = NULL;
		int64_t at = r->at == AT_VALID ? CERTS_VALID_MS :
			     r->at == AT_2023  ? FIXED_NOW_MS :
			     r->at == AT_EXPIRED ?
						certs_not_after_ms + 86400000 :
						certs_not_after_ms -
							10LL * 86400 * 1000 +
							1000;
		int rc;

		print_message("cert init: %s\n", r->name);
		snprintf(pub, sizeof(pub), "@%s/alipay_platform_public.pem",
			 TEST_KEY_DIR);
		logged[0] = '\0';
		rc = cert_init(r->app_cert ? cert_file(r->app_cert) : NULL,
			       r->alipay_cert ? cert_file(r->alipay_cert) :
						NULL,
			       r->root ? cert_file(r->root) : NULL,
			       r->public_key || !(r->app_cert ||
						  r->alipay_cert || r->root) ?
				       (r->public_key ? pub : NULL) :
				       NULL,
			       at, &st, err, sizeof(err));
		if (rc != r->rc || (r->err && !strstr(err, r->err)) ||
		    (r->err2 && !strstr(err, r->err2)) ||
		    (r->log && !strstr(logged, r->log)))
			fail_msg("\"%s\": rc %d (want %d), err \"%s\", log "
				 "\"%s\"",
				 r->name, rc, r->rc, err, logged);
		if (st)
			drv->fini(st);
	}
	svc.log = pr_services()->log;
}

/* Every request of the certificate-mode channel carries the SNs, signed:
 * an API call, and the parameters of a page payment. */
static void test_cert_requests(void **unused)
{
	struct payroute_order o = base_order("h5", 100, "CNY");
	struct payroute_http_response none = {
		sizeof(none), 0, NULL, 0, NULL, 0
	};
	struct payroute_http_req req;
	struct payroute_result res;
	struct payroute_kv payer;
	char err[256] = "";
	json_t *params;
	const char *url;

	(void)unused;
	pr_http_req_init(&req);
	assert_int_equal(drv->build_query(cstate, &o, &req, err, sizeof(err)),
			 0);
	params = form_to_json((const char *)req.body);
	check_signed_params_mode(params, "alipay.trade.query", 1);
	json_decref(params);
	pr_http_req_clear(&req);

	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);
	pr_kv_init(&payer);
	res.payer = &payer;
	assert_int_equal(
		drv->parse_pay(cstate, &o, &none, &res, err, sizeof(err)), 0);
	url = pr_kv_get(&payer, "pay_url");
	assert_non_null(url);
	params = form_to_json(strchr(url, '?') + 1);
	check_signed_params_mode(params, "alipay.trade.wap.pay", 1);
	json_decref(params);
	pr_kv_clear(&payer);
}

/* An answer's alipay_cert_sn must be alipay_cert's (certificate mode). */
static void test_cert_answers(void **unused)
{
	static const char node[] =
		"{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":"
		"\"PR0001\",\"total_amount\":\"0.01\",\"trade_status\":"
		"\"TRADE_SUCCESS\"}";
	const struct {
		const char *name;
		void **st;
		const char *sn; /* NULL: none; "$": ours */
		int rc;
		const char *err;
	} rows[] = {
		{ "our certificate", &cstate, "$", 0, NULL },
		{ "no alipay_cert_sn", &cstate, NULL, 0, NULL },
		{ "another certificate", &cstate,
		  "\"0123456789abcdef0123456789abcdef\"", -EBADMSG,
		  "signed with Alipay's certificate "
		  "0123456789abcdef0123456789abcdef, this channel's "
		  "alipay_cert is " },
		{ "not a string", &cstate, "42", -EPROTO,
		  "alipay_cert_sn is not a string" },
		{ "public-key mode ignores it", &state,
		  "\"0123456789abcdef0123456789abcdef\"", 0, NULL },
	};
	struct payroute_order o = base_order(NULL, 1, "CNY");
	char *sig = NULL, body[2048], snv[96];

	(void)unused;
	assert_int_equal(pr_rsa_sha256_sign(platform_private, node,
					    strlen(node), &sig),
			 0);
	for (size_t i = 0; i < N_ELEMS(rows); i++) {
		struct payroute_http_response resp;
		struct payroute_result res;
		char err[512] = "";
		int rc;

		print_message("cert answer: %s\n", rows[i].name);
		if (rows[i].sn && strcmp(rows[i].sn, "$") == 0)
			snprintf(snv, sizeof(snv), "\"%s\"", alipay_cert_sn);
		else
			snprintf(snv, sizeof(snv), "%s",
				 rows[i].sn ? rows[i].sn : "");
		if (rows[i].sn)
			snprintf(body, sizeof(body),
				 "{\"alipay_trade_query_response\":%s,"
				 "\"alipay_cert_sn\":%s,\"sign\":\"%s\"}",
				 node, snv, sig);
		else
			snprintf(body, sizeof(body),
				 "{\"alipay_trade_query_response\":%s,"
				 "\"sign\":\"%s\"}",
				 node, sig);
		memset(&resp, 0, sizeof(resp));
		resp.size = sizeof(resp);
		resp.status = 200;
		resp.body = body;
		resp.body_len = strlen(body);
		memset(&res, 0, sizeof(res));
		res.size = sizeof(res);
		rc = drv->parse_query(*rows[i].st, &o, &resp, &res, err,
				      sizeof(err));
		if (rc != rows[i].rc ||
		    (rows[i].err && !strstr(err, rows[i].err)))
			fail_msg("\"%s\": rc %d, err \"%s\"", rows[i].name, rc,
				 err);
		if (rc == 0)
			assert_string_equal(res.sub_code, "TRADE_SUCCESS");
		if (rc == -EBADMSG)
			assert_non_null(strstr(err, alipay_cert_sn));
	}
	free(sig);
}

/* Alipay takes transfers in certificate mode only: a public-key-mode
 * channel refuses them, saying so. */
static void test_payout_key_mode(void **unused)
{
	struct payroute_order o = base_order(NULL, 100, "CNY");
	struct payroute_http_req req;
	char err[512];

	(void)unused;
	for (int q = 0; q < 2; q++) {
		err[0] = '\0';
		pr_http_req_init(&req);
		assert_int_equal((q ? drv->build_payout_query :
				      drv->build_payout)(state, &o, &req, err,
							 sizeof(err)),
				 -ENOTSUP);
		assert_non_null(
			strstr(err, q ? "alipay.fund.trans.common.query" :
					"alipay.fund.trans.uni.transfer"));
		assert_non_null(strstr(err, "certificate mode only"));
		assert_null(req.url);
		pr_http_req_clear(&req);
	}
}

/* "Paid" without the amount is refused saying so, and the order is named
 * (the core's log line about the refusal names it). */
static void test_notify_paid_needs_amount(void **unused)
{
	struct payroute_inbound in;
	struct payroute_notify out;
	char err[256] = "", *body;

	(void)unused;
	body = notify_body(pay_notify, N_DROP, "total_amount", NULL);
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.method = "POST";
	in.body = body;
	in.body_len = strlen(body);
	memset(&out, 0, sizeof(out));
	out.size = sizeof(out);
	assert_int_equal(drv->parse_notify(state, &in, &out, err, sizeof(err)),
			 -EPROTO);
	assert_string_equal(err,
			    "notification: TRADE_SUCCESS without total_amount: "
			    "refused (a paid order is only taken with the "
			    "amount to check)");
	assert_string_equal(out.order_id, "PR0001");
	assert_int_equal(out.kind, PAYROUTE_KIND_PAYMENT);
	free(body);
}

/* The code table knows every status the codecs put in sub_code / code. */
static void test_codes(void **unused)
{
	static const char *const want[][2] = {
		{ "pay", "TRADE_SUCCESS" },	{ "query", "TRADE_SUCCESS" },
		{ "query", "WAIT_BUYER_PAY" },	{ "notify", "TRADE_SUCCESS" },
		{ "notify", "REFUND_SUCCESS" }, { "payout_query", "FAIL" },
	};
	const struct payroute_code_entry *t;
	size_t n, es, found;

	(void)unused;
	t = drv->default_codes(&n, &es);
	assert_int_equal(es, sizeof(*t));
	for (size_t w = 0; w < N_ELEMS(want); w++) {
		found = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(t[i].op, want[w][0]) == 0 &&
			    ((strcmp(want[w][0], "notify") == 0 &&
			      strcmp(t[i].code, want[w][1]) == 0) ||
			     strcmp(t[i].sub_code, want[w][1]) == 0))
				found = 1;
		assert_true(found);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_pay_without_call),
		cmocka_unit_test(test_fixed_vector),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_answer_message),
		cmocka_unit_test(test_barcode_build),
		cmocka_unit_test(test_barcode_answers),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_notify_paid_needs_amount),
		cmocka_unit_test(test_cert_init),
		cmocka_unit_test(test_cert_requests),
		cmocka_unit_test(test_cert_answers),
		cmocka_unit_test(test_payout_key_mode),
		cmocka_unit_test(test_codes),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
