/*
 * test_drv_bank.c - unit tests of the bank driver (drivers/bank/bank.c, the
 * UnionPay gateway 5.1.0 codec), driven only through its exported
 * descriptor and the core's real services table, with the fixed test keys
 * of tests/keys.
 *
 * Requests are checked field by field, and their signatures twice: with a
 * verification written here on OpenSSL (SHA-256 hex, then SHA256withRSA
 * with the merchant public key), and against tests/keys/bank_vectors.txt,
 * vectors computed by tests/keys/make_bank_vectors.sh with the openssl
 * command line. Answers and notifications are signed here with the
 * platform key (good, tampered, garbage, unknown results, query
 * origRespCode), and the vectors' platform signatures must be accepted.
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

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "runtime/crypto.h"
#include "domain/drvobj.h"
#include "runtime/services.h"

const struct payroute_driver *payroute_driver_entry(void);

#define KEY(f) "@" TEST_KEY_DIR "/" f
#define MER "777290058110048"
#define CERT_ID "11972549452306169698"
#define GATEWAY "http://127.0.0.1:9/bank"
/* The serial of tests/keys/bank_platform_cert.pem in decimal: the tests
 * use the bank's platform certificate as its encryption certificate. */
#define ENC_CERT_ID "13293235775628248816"
#define NOTIFY "http://127.0.0.1:8081/notify/bank1"
#define T0 1700000000000LL /* 20231115061320 in Beijing */
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAXF 64

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */
/* ------------------------------------------------------------------------ */

struct fx {
	const struct payroute_driver *drv;
	void *state;
	payroute_key *platform; /* signs answers and notifications */
};

static int init_with(const struct payroute_driver *drv, json_t *conf_json,
		     void **state, char *err, size_t errlen)
{
	struct payroute_conf conf = { .root = conf_json };

	return drv->init(pr_services(), "bank1", &conf, state, err, errlen);
}

static json_t *base_conf(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "mer_id", MER, "gateway",
			 GATEWAY "/", "sign_key",
			 KEY("bank_merchant_private.pem"), "verify_key",
			 KEY("bank_platform_cert.pem"), "cert_id", CERT_ID);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "";
	json_t *c = base_conf();

	assert_non_null(f);
	f->drv = payroute_driver_entry();
	assert_non_null(f->drv);
	json_object_set_new(c, "allow_clear_accno", json_true());
	assert_int_equal(init_with(f->drv, c, &f->state, err, sizeof(err)), 0);
	json_decref(c);
	assert_int_equal(pr_key_load(KEY("bank_platform_private.pem"), 1,
				     &f->platform, err, sizeof(err)),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	f->drv->fini(f->state);
	pr_key_free(f->platform);
	free(f);
	return 0;
}

static struct payroute_order base_order(void)
{
	struct payroute_order o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.order_id = "P20231115000001";
	o.amount = 1234;
	memcpy(o.currency, "CNY", 4);
	o.method = "debit_card";
	o.environment = "pc";
	o.bank_code = "ICBC";
	o.notify_url = NOTIFY;
	o.created_at_ms = T0;
	o.expire_at_ms = T0 + 30 * 60 * 1000;
	return o;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

struct fields {
	char *k[MAXF];
	char *v[MAXF];
	size_t n;
};

static void fields_free(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->k[i]);
		free(f->v[i]);
	}
	f->n = 0;
}

static const char *fget(const struct fields *f, const char *k)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->k[i], k) == 0)
			return f->v[i];
	return NULL;
}

/* Splits a form body and decodes it with the core's url_decode. */
static void form_split(const char *body, struct fields *f)
{
	char *copy = strdup(body), *p = copy, *amp, *eq;

	assert_non_null(copy);
	f->n = 0;
	while (p && *p) {
		amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		eq = strchr(p, '=');
		assert_non_null(eq);
		*eq = '\0';
		assert_true(f->n < MAXF);
		f->k[f->n] = pr_url_decode(p);
		f->v[f->n] = pr_url_decode(eq + 1);
		assert_non_null(f->k[f->n]);
		assert_non_null(f->v[f->n]);
		f->n++;
		p = amp ? amp + 1 : NULL;
	}
	free(copy);
}

static int cmp_idx(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return strcmp(*x, *y);
}

/* The sorted string of f without signature (written independently of
 * the driver); caller frees. */
static char *sorted_string(const struct fields *f)
{
	const char *keys[MAXF];
	size_t n = 0, len = 1;
	char *s;

	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->k[i], "signature") == 0)
			continue;
		keys[n++] = f->k[i];
		len += strlen(f->k[i]) + strlen(fget(f, f->k[i])) + 2;
	}
	qsort(keys, n, sizeof(keys[0]), cmp_idx);
	s = calloc(1, len);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strncat(s, "&", len - strlen(s) - 1);
		strncat(s, keys[i], len - strlen(s) - 1);
		strncat(s, "=", len - strlen(s) - 1);
		strncat(s, fget(f, keys[i]), len - strlen(s) - 1);
	}
	return s;
}

/* Lower-case hex SHA-256 with OpenSSL's EVP directly. */
static void sha256_hex(const char *s, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	assert_int_equal(
		EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL), 1);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Verifies a request's signature with the merchant public key, on OpenSSL
 * directly (not the core's crypto). */
static void verify_independently(const struct fields *f)
{
	char hex[65];
	char *sorted = sorted_string(f);
	const char *sig64 = fget(f, "signature");
	unsigned char sig[512];
	FILE *fp;
	EVP_PKEY *pub;
	EVP_MD_CTX *ctx;
	int n;

	assert_non_null(sig64);
	sha256_hex(sorted, hex);
	n = EVP_DecodeBlock(sig, (const unsigned char *)sig64,
			    (int)strlen(sig64));
	assert_int_equal(n, 258); /* 256 bytes, padded to 3 */
	fp = fopen(TEST_KEY_DIR "/bank_merchant_public.pem", "r");
	assert_non_null(fp);
	pub = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(pub);
	ctx = EVP_MD_CTX_new();
	assert_int_equal(
		EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, 256,
					  (const unsigned char *)hex, 64),
			 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pub);
	free(sorted);
}

struct vector {
	char name[32];
	char signer[16];
	char sorted[2048];
	char hex[80];
	char sig[512];
};

/* Reads vector `name` from tests/keys/bank_vectors.txt. */
static void get_vector(const char *name, struct vector *v)
{
	char line[4096];
	FILE *fp = fopen(TEST_KEY_DIR "/bank_vectors.txt", "r");
	int found = 0;

	assert_non_null(fp);
	while (!found && fgets(line, sizeof(line), fp)) {
		char *fld[5], *p = line;
		size_t i;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#')
			continue;
		for (i = 0; i < 5 && p; i++) {
			fld[i] = p;
			p = strchr(p, '|');
			if (p)
				*p++ = '\0';
		}
		assert_int_equal(i, 5);
		if (strcmp(fld[0], name) != 0)
			continue;
		snprintf(v->name, sizeof(v->name), "%s", fld[0]);
		snprintf(v->signer, sizeof(v->signer), "%s", fld[1]);
		snprintf(v->sorted, sizeof(v->sorted), "%s", fld[2]);
		snprintf(v->hex, sizeof(v->hex), "%s", fld[3]);
		snprintf(v->sig, sizeof(v->sig), "%s", fld[4]);
		found = 1;
	}
	fclose(fp);
	assert_true(found);
}

/* Runs a build function; the request's body is split into f. */
static int run_build(payroute_build_fn fn, struct fx *fx,
		     const struct payroute_order *o,
		     struct payroute_http_req *req, struct fields *f)
{
	char err[256] = "";
	int rc;

	pr_http_req_init(req);
	rc = fn(fx->state, o, req, err, sizeof(err));
	if (rc == 0) {
		assert_string_equal(req->method, "POST");
		assert_int_equal(req->n_headers, 1);
		assert_string_equal(req->headers[0].name, "Content-Type");
		assert_string_equal(
			req->headers[0].value,
			"application/x-www-form-urlencoded; charset=UTF-8");
		form_split((const char *)req->body, f);
	} else {
		assert_true(err[0] != '\0');
	}
	return rc;
}

/* Checks f has exactly the expected fields (plus signature). */
static void expect_fields(const struct fields *f, const char *const exp[][2],
			  size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = fget(f, exp[i][0]);

		if (!got || strcmp(got, exp[i][1]) != 0)
			fail_msg("field %s: got %s, want %s", exp[i][0],
				 got ? got : "(missing)", exp[i][1]);
	}
	assert_non_null(fget(f, "signature"));
	assert_int_equal(f->n, n + 1);
}

/* A body signed with key: sorted fields, then signature; form-encoded
 * values when `form`, raw "k=v" (as the gateway answers) otherwise. */
static char *sign_body(const payroute_key *key, const char *const kv[][2],
		       size_t n, int form)
{
	struct fields f = { .n = 0 };
	char hex[65], *sorted, *sig = NULL, *out;
	size_t len = 1;

	for (size_t i = 0; i < n; i++) {
		f.k[f.n] = strdup(kv[i][0]);
		f.v[f.n] = strdup(kv[i][1]);
		f.n++;
	}
	sorted = sorted_string(&f);
	sha256_hex(sorted, hex);
	assert_int_equal(pr_rsa_sha256_sign(key, hex, 64, &sig), 0);
	len = 3 * (strlen(sorted) + strlen(sig)) + 32;
	out = calloc(1, len);
	assert_non_null(out);
	for (size_t i = 0; i < f.n; i++) {
		char *k = form ? pr_url_encode(f.k[i]) : strdup(f.k[i]);
		char *v = form ? pr_url_encode(f.v[i]) : strdup(f.v[i]);

		strncat(out, k, len - strlen(out) - 1);
		strncat(out, "=", len - strlen(out) - 1);
		strncat(out, v, len - strlen(out) - 1);
		strncat(out, "&", len - strlen(out) - 1);
		free(k);
		free(v);
	}
	{
		char *s = form ? pr_url_encode(sig) : strdup(sig);

		strncat(out, "signature=", len - strlen(out) - 1);
		strncat(out, s, len - strlen(out) - 1);
		free(s);
	}
	free(sig);
	free(sorted);
	fields_free(&f);
	return out;
}

static int run_parse(payroute_parse_fn fn, struct fx *fx,
		     const struct payroute_order *o, int status,
		     const char *body, struct payroute_result *res)
{
	struct payroute_http_response resp = { .size = sizeof(resp),
					       .status = status,
					       .body = body,
					       .body_len = strlen(body) };
	char err[256] = "";
	int rc;

	memset(res, 0, sizeof(*res));
	res->size = sizeof(*res);
	rc = fn(fx->state, o, &resp, res, err, sizeof(err));
	if (rc != 0)
		assert_true(err[0] != '\0');
	return rc;
}

static int run_notify(struct fx *fx, const char *method, const char *body,
		      struct payroute_notify *n)
{
	struct payroute_inbound in = { .size = sizeof(in),
				       .method = method,
				       .path = "/notify/bank1",
				       .body = body,
				       .body_len = strlen(body) };
	char err[256] = "";

	memset(n, 0, sizeof(*n));
	n->size = sizeof(*n);
	return fx->drv->parse_notify(fx->state, &in, n, err, sizeof(err));
}

/* ------------------------------------------------------------------------ */
/* Init                                                                     */
/* ------------------------------------------------------------------------ */

static void test_init_errors(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *key;
		json_t *(*value)(void);
		const char *want;
	} rows[] = {
		{ "sign_key", NULL, "sign_key: required" },
		{ "verify_key", NULL, "verify_key: required" },
		{ "cert_id", NULL, "cert_id: required" },
		{ "allow_clear_accno", NULL, NULL },
	};
	void *st = NULL;
	char err[256];

	for (size_t i = 0; i < N_ELEMS(rows); i++) {
		json_t *c = base_conf();

		if (rows[i].want) {
			json_object_del(c, rows[i].key);
		} else {
			json_object_set_new(c, rows[i].key, json_string("yes"));
		}
		err[0] = '\0';
		assert_int_equal(init_with(fx->drv, c, &st, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(
			strstr(err, rows[i].want ? rows[i].want : rows[i].key));
		json_decref(c);
	}
	/* A public key where the private signing key belongs. */
	{
		json_t *c = base_conf();

		json_object_set_new(c, "sign_key",
				    json_string(KEY("bank_merchant_cert.pem")));
		assert_true(init_with(fx->drv, c, &st, err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "sign_key"));
		json_decref(c);
	}
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

/* The vector's string and signature are exactly what the build signed. */
static void expect_vector(const struct fields *f, const char *name)
{
	struct vector v;
	char *sorted = sorted_string(f);
	char hex[65];

	get_vector(name, &v);
	assert_string_equal(v.signer, "merchant");
	assert_string_equal(sorted, v.sorted);
	sha256_hex(sorted, hex);
	assert_string_equal(hex, v.hex);
	assert_string_equal(fget(f, "signature"), v.sig);
	free(sorted);
}

/* init refuses a services table of another ABI major or one too small to
 * hold every service the driver calls (drivers/common/drvconf.c, the same
 * check in every in-tree driver). */
static void test_init_services_abi(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *name;
		int major_delta;
		size_t size;
		int want;
	} rows[] = {
		{ "the core's own table", 0, 0, 0 },
		{ "another ABI major", 1, 0, -ENOTSUP },
		{ "too small for random_bytes", 0,
		  offsetof(struct payroute_services, random_bytes), -ENOTSUP },
	};
	struct payroute_conf conf;
	json_t *c = base_conf();
	char err[256];

	conf.root = c;
	for (size_t i = 0; i < N_ELEMS(rows); i++) {
		struct payroute_services svc = *pr_services();
		void *st = NULL;
		int rc;

		svc.abi_major = (uint16_t)(svc.abi_major + rows[i].major_delta);
		if (rows[i].size)
			svc.size = (uint32_t)rows[i].size;
		err[0] = '\0';
		rc = fx->drv->init(&svc, "bank1", &conf, &st, err, sizeof(err));
		if (rc != rows[i].want ||
		    (rc < 0 && !strstr(err, "services table ABI")))
			fail_msg("%s: rc %d (want %d), err \"%s\"",
				 rows[i].name, rc, rows[i].want, err);
		if (rc == 0)
			fx->drv->fini(st);
	}
	json_decref(c);
}

static void test_build_query(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_http_req req;
	struct fields f = { .n = 0 };
	static const char *const exp[][2] = {
		{ "version", "5.1.0" },
		{ "encoding", "UTF-8" },
		{ "signMethod", "01" },
		{ "accessType", "0" },
		{ "merId", MER },
		{ "orderId", "P20231115000001" },
		{ "txnTime", "20231115061320" },
		{ "txnType", "00" },
		{ "txnSubType", "00" },
		{ "bizType", "000000" },
		{ "certId", CERT_ID },
	};

	assert_int_equal(run_build(fx->drv->build_query, fx, &o, &req, &f), 0);
	assert_string_equal(req.url, GATEWAY "/gateway/api/queryTrans.do");
	expect_fields(&f, exp, N_ELEMS(exp));
	verify_independently(&f);
	expect_vector(&f, "query");
	fields_free(&f);
	pr_http_req_clear(&req);
}

static void test_build_refund(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_http_req req;
	struct fields f = { .n = 0 };
	static const char *const exp[][2] = {
		{ "version", "5.1.0" },
		{ "encoding", "UTF-8" },
		{ "signMethod", "01" },
		{ "accessType", "0" },
		{ "merId", MER },
		{ "orderId", "R20231115000001" },
		{ "txnTime", "20231115061320" },
		{ "txnType", "04" },
		{ "txnSubType", "00" },
		{ "bizType", "000201" },
		{ "channelType", "07" },
		{ "txnAmt", "500" },
		{ "currencyCode", "156" },
		{ "backUrl", NOTIFY },
		{ "origQryId", "512311150613200000001" },
		{ "certId", CERT_ID },
	};

	o.refund_id = "R20231115000001";
	o.refund_amount = 500;
	o.total_amount = 1234;
	o.channel_trade_no = "512311150613200000001";
	assert_int_equal(run_build(fx->drv->build_refund, fx, &o, &req, &f), 0);
	assert_string_equal(req.url, GATEWAY "/gateway/api/backTransReq.do");
	expect_fields(&f, exp, N_ELEMS(exp));
	verify_independently(&f);
	expect_vector(&f, "refund");
	fields_free(&f);
	pr_http_req_clear(&req);

	/* No queryId of the payment: nothing to refund against. */
	o.channel_trade_no = NULL;
	assert_int_equal(run_build(fx->drv->build_refund, fx, &o, &req, &f),
			 -EINVAL);
	pr_http_req_clear(&req);
}

/* Runs the front consume as the core does: build_pay must write no
 * request; parse_pay then gets a status-0 response with an empty body
 * (or `status` / `body` to show they are not read) and fills payer.
 * On success form_fields is parsed (with jansson) into f. */
static int run_pay(struct fx *fx, const struct payroute_order *o, int status,
		   const char *body, struct payroute_kv *payer,
		   struct payroute_result *res, struct fields *f)
{
	struct payroute_http_req req;
	struct payroute_http_response resp = { .size = sizeof(resp),
					       .status = status,
					       .body = body,
					       .body_len = strlen(body) };
	char err[256] = "";
	const char *text, *k;
	json_t *j, *v;
	int rc;

	pr_http_req_init(&req);
	rc = fx->drv->build_pay(fx->state, o, &req, err, sizeof(err));
	assert_null(req.method);
	assert_null(req.url);
	assert_null(req.body);
	assert_int_equal(req.n_headers, 0);
	pr_http_req_clear(&req);
	if (rc != 0) {
		assert_true(err[0] != '\0');
		/* parse_pay refuses the same order the same way. */
		memset(res, 0, sizeof(*res));
		res->size = sizeof(*res);
		res->payer = payer;
		err[0] = '\0';
		assert_int_equal(fx->drv->parse_pay(fx->state, o, &resp, res,
						    err, sizeof(err)),
				 rc);
		assert_true(err[0] != '\0');
		assert_int_equal(payer->n, 0);
		return rc;
	}
	memset(res, 0, sizeof(*res));
	res->size = sizeof(*res);
	res->payer = payer;
	rc = fx->drv->parse_pay(fx->state, o, &resp, res, err, sizeof(err));
	if (rc != 0)
		fail_msg("parse_pay: %d %s", rc, err);
	text = pr_kv_get(payer, "form_fields");
	assert_non_null(text);
	j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	assert_true(json_is_object(j));
	f->n = 0;
	json_object_foreach(j, k, v) {
		assert_true(json_is_string(v));
		assert_true(f->n < MAXF);
		f->k[f->n] = strdup(k);
		f->v[f->n] = strdup(json_string_value(v));
		f->n++;
	}
	json_decref(j);
	return 0;
}

/* The payer's form: every field once, as an HTML-escaped hidden input. */
static void expect_form_inputs(const char *form, const struct fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		char want[2048];
		size_t o = 0;

		o += (size_t)snprintf(want, sizeof(want),
				      "<input type=\"hidden\" name=\"%s\" "
				      "value=\"",
				      f->k[i]);
		for (const char *c = f->v[i]; *c && o + 8 < sizeof(want); c++) {
			const char *e = *c == '&'  ? "&amp;" :
					*c == '<'  ? "&lt;" :
					*c == '>'  ? "&gt;" :
					*c == '"'  ? "&quot;" :
					*c == '\'' ? "&#39;" :
						     NULL;

			if (e) {
				memcpy(want + o, e, strlen(e));
				o += strlen(e);
			} else {
				want[o++] = *c;
			}
		}
		snprintf(want + o, sizeof(want) - o, "\"/>");
		if (!strstr(form, want))
			fail_msg("form: no %s", want);
	}
}

static void test_build_pay(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_kv payer;
	struct payroute_result res;
	struct fields f = { .n = 0 };
	static const char *const exp[][2] = {
		{ "version", "5.1.0" },
		{ "encoding", "UTF-8" },
		{ "signMethod", "01" },
		{ "accessType", "0" },
		{ "merId", MER },
		{ "orderId", "P20231115000001" },
		{ "txnTime", "20231115061320" },
		{ "txnType", "01" },
		{ "txnSubType", "01" },
		{ "bizType", "000201" },
		{ "channelType", "07" },
		{ "txnAmt", "1234" },
		{ "currencyCode", "156" },
		{ "backUrl", NOTIFY },
		{ "payTimeout", "20231115064320" },
		{ "issInsCode", "ICBC" },
		{ "certId", CERT_ID },
	};
	const char *form;
	char sig[512];

	pr_kv_init(&payer);
	assert_int_equal(run_pay(fx, &o, 0, "", &payer, &res, &f), 0);
	assert_string_equal(res.code, "FORM");
	assert_string_equal(res.sub_code, "");
	assert_int_equal(res.amount, -1);
	assert_string_equal(pr_kv_get(&payer, "pay_url"),
			    GATEWAY "/gateway/api/frontTransReq.do");
	expect_fields(&f, exp, N_ELEMS(exp));
	verify_independently(&f);
	expect_vector(&f, "pay");
	form = pr_kv_get(&payer, "form");
	assert_non_null(form);
	assert_non_null(strstr(form, "<form id=\"pay_form\" method=\"post\""));
	assert_non_null(strstr(form, "action=\"" GATEWAY
				     "/gateway/api/frontTransReq.do\""));
	assert_non_null(strstr(form, "submit()"));
	expect_form_inputs(form, &f);
	form = fget(&f, "signature");
	assert_non_null(form);
	snprintf(sig, sizeof(sig), "%s", form ? form : "");
	fields_free(&f);
	pr_kv_clear(&payer);

	/* Deterministic, and the response is not read: an answer (a core
	 * that sent something anyway) gives the same payload. */
	pr_kv_init(&payer);
	assert_int_equal(run_pay(fx, &o, 200, "<html>gateway</html>", &payer,
				 &res, &f),
			 0);
	assert_string_equal(res.code, "FORM");
	assert_string_equal(fget(&f, "signature"), sig);
	fields_free(&f);
	pr_kv_clear(&payer);
}

/* Front consume orders, one row per case: what build_pay accepts and the
 * fields parse_pay then signs into the payer's form. */
static void test_pay_rows(void **state)
{
	static const struct {
		const char *name;
		const char *env;
		const char *bank_code;
		int64_t amount;
		const char *currency;
		const char *notify_url;	 /* "-": none */
		int64_t expire_after_ms; /* 0: no expiry */
		int rc;
		const char *channel_type;
		const char *iss_ins_code; /* NULL: left out */
		const char *pay_timeout;  /* NULL: left out */
	} rows[] = {
		{ "pc with a bank and an expiry", "pc", "ICBC", 1234, "CNY",
		  NOTIFY, 30 * 60 * 1000, 0, "07", "ICBC", "20231115064320" },
		{ "h5 goes as channelType 08", "h5", NULL, 1, "CNY", NOTIFY, 0,
		  0, "08", NULL, NULL },
		{ "app", "app", NULL, 1, "CNY", NOTIFY, 0, 0, "08", NULL,
		  NULL },
		{ "mini_program", "mini_program", "", 1, "CNY", NOTIFY, 0, 0,
		  "08", NULL, NULL },
		{ "jsapi", "jsapi", NULL, 1, "CNY", NOTIFY, 0, 0, "08", NULL,
		  NULL },
		{ "native_qr is not mobile", "native_qr", NULL, 1, "CNY",
		  NOTIFY, 0, 0, "07", NULL, NULL },
		{ "no environment", NULL, NULL, 1, "CNY", NOTIFY, 0, 0, "07",
		  NULL, NULL },
		{ "backUrl with & and a quote, escaped in the form", "pc", NULL,
		  1, "CNY", "http://127.0.0.1:8081/notify/bank1?a=1&b=\"<x>'",
		  0, 0, "07", NULL, NULL },
		{ "the largest amount", "pc", NULL, 999999999999LL, "CNY",
		  NOTIFY, 0, 0, "07", NULL, NULL },
		{ "USD", "pc", NULL, 1, "USD", NOTIFY, 0, -EINVAL, NULL, NULL,
		  NULL },
		{ "amount 0", "pc", NULL, 0, "CNY", NOTIFY, 0, -EINVAL, NULL,
		  NULL, NULL },
		{ "amount of 13 digits", "pc", NULL, 1000000000000LL, "CNY",
		  NOTIFY, 0, -EINVAL, NULL, NULL, NULL },
		{ "no notify_url", "pc", NULL, 1, "CNY", "-", 0, -EINVAL, NULL,
		  NULL, NULL },
		{ "a bank code that is no issuer code", "pc", "IC BC", 1, "CNY",
		  NOTIFY, 0, -EINVAL, NULL, NULL, NULL },
	};
	struct fx *fx = *state;

	for (size_t i = 0; i < N_ELEMS(rows); i++) {
		struct payroute_order o = base_order();
		struct payroute_kv payer;
		struct payroute_result res;
		struct fields f = { .n = 0 };
		int rc;

		o.environment = rows[i].env;
		o.bank_code = rows[i].bank_code;
		o.amount = rows[i].amount;
		memcpy(o.currency, rows[i].currency, 4);
		o.notify_url = strcmp(rows[i].notify_url, "-") == 0 ?
				       NULL :
				       rows[i].notify_url;
		o.expire_at_ms = rows[i].expire_after_ms ?
					 T0 + rows[i].expire_after_ms :
					 0;
		pr_kv_init(&payer);
		rc = run_pay(fx, &o, 0, "", &payer, &res, &f);
		if (rc != rows[i].rc)
			fail_msg("%s: rc %d, want %d", rows[i].name, rc,
				 rows[i].rc);
		if (rc == 0) {
			const char *got;

			assert_string_equal(res.code, "FORM");
			assert_string_equal(fget(&f, "channelType"),
					    rows[i].channel_type);
			assert_string_equal(fget(&f, "backUrl"), o.notify_url);
			got = fget(&f, "issInsCode");
			if (rows[i].iss_ins_code)
				assert_string_equal(got, rows[i].iss_ins_code);
			else
				assert_null(got);
			got = fget(&f, "payTimeout");
			if (rows[i].pay_timeout)
				assert_string_equal(got, rows[i].pay_timeout);
			else
				assert_null(got);
			verify_independently(&f);
			expect_form_inputs(pr_kv_get(&payer, "form"), &f);
		}
		fields_free(&f);
		pr_kv_clear(&payer);
	}
}

/* Rows of the default code table that the lifecycle relies on. */
static void test_default_codes(void **state)
{
	static const struct {
		const char *op, *code, *sub_code;
		const char *unified;
		enum payroute_effect effect;
	} rows[] = {
		{ "pay", "FORM", "*", "PROCESSING",
		  PAYROUTE_EFFECT_PROCESSING },
		{ "pay", "00", "*", "PROCESSING", PAYROUTE_EFFECT_PROCESSING },
		{ "query", "00", "00", "SUCCESS", PAYROUTE_EFFECT_SUCCESS },
		{ "query", "00", "05", "PROCESSING",
		  PAYROUTE_EFFECT_PROCESSING },
		{ "query", "34", "*", "ORDER_NOT_EXIST",
		  PAYROUTE_EFFECT_UNKNOWN },
		{ "notify", "00", "*", "SUCCESS", PAYROUTE_EFFECT_SUCCESS },
	};
	struct fx *fx = *state;
	const struct payroute_code_entry *t;
	size_t n = 0, size = 0;

	t = fx->drv->default_codes(&n, &size);
	assert_non_null(t);
	assert_int_equal(size, sizeof(struct payroute_code_entry));
	for (size_t i = 0; i < N_ELEMS(rows); i++) {
		size_t j;

		for (j = 0; j < n; j++)
			if (strcmp(t[j].op, rows[i].op) == 0 &&
			    strcmp(t[j].code, rows[i].code) == 0 &&
			    strcmp(t[j].sub_code, rows[i].sub_code) == 0)
				break;
		if (j == n)
			fail_msg("no row %s/%s/%s", rows[i].op, rows[i].code,
				 rows[i].sub_code);
		assert_string_equal(t[j].unified, rows[i].unified);
		assert_int_equal(t[j].effect, rows[i].effect);
		assert_int_equal(t[j].retryable, 0);
		assert_non_null(t[j].message_en);
		assert_non_null(t[j].message_zh);
	}
}

static void test_order_id_mapping(void **state)
{
	static const struct {
		const char *id;
		const char *order_id; /* NULL: refused */
	} rows[] = {
		{ "P20231115000001", "P20231115000001" },
		{ "abcdefgh", "abcdefgh" },
		{ "ord-1", "X06F72642D31" },
		{ "abc", "X0616263" },
		{ "X0ABCDEF", "X05830414243444546" },
		{ "ab", NULL },
		{ "0123456789012345678901234567890123456789", /* 40 */
		  "0123456789012345678901234567890123456789" },
		{ "pay_0123456789abcdefg", NULL }, /* 21 bytes, not alnum */
	};
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_http_req req;
	struct payroute_notify n;
	struct fields f = { .n = 0 };

	for (size_t i = 0; i < N_ELEMS(rows); i++) {
		o.order_id = rows[i].id;
		if (!rows[i].order_id) {
			assert_int_equal(run_build(fx->drv->build_query, fx, &o,
						   &req, &f),
					 -EINVAL);
			pr_http_req_clear(&req);
			continue;
		}
		assert_int_equal(
			run_build(fx->drv->build_query, fx, &o, &req, &f), 0);
		assert_string_equal(fget(&f, "orderId"), rows[i].order_id);
		fields_free(&f);
		pr_http_req_clear(&req);

		/* A notification names the mapped orderId: decoded back. */
		{
			const char *const kv[][2] = {
				{ "version", "5.1.0" },
				{ "merId", MER },
				{ "orderId", rows[i].order_id },
				{ "txnType", "01" },
				{ "respCode", "00" },
				{ "queryId", "5123" },
			};
			char *body =
				sign_body(fx->platform, kv, N_ELEMS(kv), 1);

			assert_int_equal(run_notify(fx, "POST", body, &n), 0);
			assert_string_equal(n.order_id, rows[i].id);
			free(body);
		}
	}
}

static void test_build_payout(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_http_req req;
	struct fields f = { .n = 0 };
	unsigned char *info = NULL;
	size_t info_len = 0;
	void *st = NULL;
	char err[256] = "";
	json_t *c;
	static const char *const exp[][2] = {
		{ "version", "5.1.0" },
		{ "encoding", "UTF-8" },
		{ "signMethod", "01" },
		{ "accessType", "0" },
		{ "merId", MER },
		{ "orderId", "W20231115000001" },
		{ "txnTime", "20231115061320" },
		{ "txnType", "12" },
		{ "txnSubType", "00" },
		{ "bizType", "000401" },
		{ "channelType", "07" },
		{ "txnAmt", "20000" },
		{ "currencyCode", "156" },
		{ "backUrl", NOTIFY },
		{ "accType", "01" },
		{ "accNo", "6216261000000000018" },
		{ "customerInfo", "e2N1c3RvbWVyTm095byg5LiJfQ==" },
		{ "issInsCode", "CMB" },
		{ "certId", CERT_ID },
	};

	o.order_id = NULL;
	o.payout_id = "W20231115000001";
	o.amount = 20000;
	o.payee_kind = "bank_card";
	o.payee_account = "6216261000000000018";
	o.payee_name = "张三";
	o.payee_bank_code = "CMB";
	assert_int_equal(run_build(fx->drv->build_payout, fx, &o, &req, &f), 0);
	assert_string_equal(req.url, GATEWAY "/gateway/api/backTransReq.do");
	expect_fields(&f, exp, N_ELEMS(exp));
	assert_int_equal(pr_base64_decode(fget(&f, "customerInfo"), &info,
					  &info_len),
			 0);
	assert_memory_equal(info, "{customerNm=张三}", info_len);
	free(info);
	verify_independently(&f);
	fields_free(&f);
	pr_http_req_clear(&req);

	/* The payout query asks for the payout's orderId. */
	assert_int_equal(
		run_build(fx->drv->build_payout_query, fx, &o, &req, &f), 0);
	assert_string_equal(fget(&f, "orderId"), "W20231115000001");
	assert_string_equal(fget(&f, "txnType"), "00");
	fields_free(&f);
	pr_http_req_clear(&req);

	/* Without encrypt_cert nor allow_clear_accno the card number is
	 * never sent, and the error names the option to set. */
	c = base_conf();
	assert_int_equal(init_with(fx->drv, c, &st, err, sizeof(err)), 0);
	json_decref(c);
	pr_http_req_init(&req);
	err[0] = '\0';
	assert_int_equal(fx->drv->build_payout(st, &o, &req, err, sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "encrypt_cert"));
	assert_null(req.body);
	pr_http_req_clear(&req);
	fx->drv->fini(st);

	/* Only bank cards. */
	o.payee_kind = "alipay_account";
	assert_int_equal(run_build(fx->drv->build_payout, fx, &o, &req, &f),
			 -ENOTSUP);
	pr_http_req_clear(&req);
}

/* base_conf() with UnionPay's encryption certificate (here the bank's
 * platform certificate of tests/keys). */
static json_t *enc_conf(void)
{
	json_t *c = base_conf();

	json_object_set_new(c, "encrypt_cert",
			    json_string(KEY("bank_platform_cert.pem")));
	json_object_set_new(c, "encrypt_cert_id", json_string(ENC_CERT_ID));
	return c;
}

/* With encrypt_cert, accNo is the card number encrypted for the gateway
 * (RSA PKCS#1 v1.5, base64: the bank's private key decrypts it), with
 * encryptCertId, and both are signed; the card number never appears in
 * clear. allow_clear_accno does not override encryption. */
static void test_build_payout_encrypted(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_http_req req;
	struct fields f = { .n = 0 };
	unsigned char *plain = NULL;
	size_t plain_len = 0;
	char err[256] = "", *first = NULL;
	static const char *const exp[][2] = {
		{ "version", "5.1.0" },
		{ "encoding", "UTF-8" },
		{ "signMethod", "01" },
		{ "accessType", "0" },
		{ "merId", MER },
		{ "orderId", "W20231115000001" },
		{ "txnTime", "20231115061320" },
		{ "txnType", "12" },
		{ "txnSubType", "00" },
		{ "bizType", "000401" },
		{ "channelType", "07" },
		{ "txnAmt", "20000" },
		{ "currencyCode", "156" },
		{ "backUrl", NOTIFY },
		{ "accType", "01" },
		{ "customerInfo", "e2N1c3RvbWVyTm095byg5LiJfQ==" },
		{ "issInsCode", "CMB" },
		{ "encryptCertId", ENC_CERT_ID },
		{ "certId", CERT_ID },
	};

	o.order_id = NULL;
	o.payout_id = "W20231115000001";
	o.amount = 20000;
	o.payee_kind = "bank_card";
	o.payee_account = "6216261000000000018";
	o.payee_name = "张三";
	o.payee_bank_code = "CMB";

	for (int variant = 0; variant < 2; variant++) {
		struct fx efx = *fx;
		json_t *c = enc_conf();

		if (variant == 1) /* the escape hatch does not win */
			json_object_set_new(c, "allow_clear_accno",
					    json_true());
		efx.state = NULL;
		if (init_with(fx->drv, c, &efx.state, err, sizeof(err)) != 0)
			fail_msg("init: %s", err);
		json_decref(c);
		assert_int_equal(run_build(fx->drv->build_payout, &efx, &o,
					   &req, &f),
				 0);
		assert_null(
			strstr((const char *)req.body, "6216261000000000018"));
		/* Every field but accNo as before, plus encryptCertId. */
		for (size_t i = 0; i < N_ELEMS(exp); i++) {
			const char *got = fget(&f, exp[i][0]);

			if (!got || strcmp(got, exp[i][1]) != 0)
				fail_msg("field %s: got %s, want %s", exp[i][0],
					 got ? got : "(missing)", exp[i][1]);
		}
		assert_int_equal(f.n, N_ELEMS(exp) + 2); /* accNo, signature */
		assert_int_equal(strlen(fget(&f, "accNo")), 344);
		assert_int_equal(
			pr_rsa_decrypt(fx->platform, PAYROUTE_RSA_PKCS1,
				       fget(&f, "accNo"), &plain, &plain_len),
			0);
		assert_int_equal(plain_len, strlen("6216261000000000018"));
		assert_string_equal((char *)plain, "6216261000000000018");
		free(plain);
		/* Randomised padding: a new text each time. */
		if (first)
			assert_string_not_equal(first, fget(&f, "accNo"));
		else
			first = strdup(fget(&f, "accNo"));
		verify_independently(&f);
		fields_free(&f);
		pr_http_req_clear(&req);
		fx->drv->fini(efx.state);
	}
	free(first);
}

/* encrypt_cert's checks at init. */
static void test_init_encrypt_cert(void **state)
{
	struct fx *fx = *state;
	struct payroute_services svc = *pr_services();
	struct payroute_conf conf;
	void *st = NULL;
	char err[256];
	json_t *c;

	/* encrypt_cert without its id, and the id without the cert. */
	c = enc_conf();
	json_object_del(c, "encrypt_cert_id");
	err[0] = '\0';
	assert_int_equal(init_with(fx->drv, c, &st, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "encrypt_cert_id: required"));
	json_decref(c);
	c = base_conf();
	json_object_set_new(c, "encrypt_cert_id", json_string(ENC_CERT_ID));
	assert_int_equal(init_with(fx->drv, c, &st, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "encrypt_cert_id"));
	json_decref(c);

	/* A private key, a missing file. */
	c = enc_conf();
	json_object_set_new(c, "encrypt_cert",
			    json_string(KEY("bank_platform_private.pem")));
	assert_true(init_with(fx->drv, c, &st, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "encrypt_cert"));
	json_object_set_new(c, "encrypt_cert", json_string(KEY("missing.pem")));
	assert_true(init_with(fx->drv, c, &st, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "encrypt_cert"));
	json_decref(c);

	/* A core without rsa_encrypt cannot honour encrypt_cert. */
	c = enc_conf();
	conf.root = c;
	svc.rsa_encrypt = NULL;
	err[0] = '\0';
	assert_int_equal(fx->drv->init(&svc, "bank1", &conf, &st, err,
				       sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "rsa_encrypt"));
	svc = *pr_services();
	svc.abi_minor = 0;
	assert_int_equal(fx->drv->init(&svc, "bank1", &conf, &st, err,
				       sizeof(err)),
			 -ENOTSUP);
	json_decref(c);
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */
/* ------------------------------------------------------------------------ */

static void test_vectors_accepted(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_result res;
	struct payroute_notify n;
	struct vector v;
	char body[4096];
	char *enc;

	/* The query answer vector, as the gateway sends it (raw). */
	get_vector("query_answer", &v);
	assert_string_equal(v.signer, "platform");
	snprintf(body, sizeof(body), "%s&signature=%s", v.sorted, v.sig);
	assert_int_equal(
		run_parse(fx->drv->parse_query, fx, &o, 200, body, &res), 0);
	assert_string_equal(res.code, "00");
	assert_string_equal(res.sub_code, "00");
	assert_string_equal(res.status, "00");
	assert_string_equal(res.message, "成功[0000000]");
	assert_string_equal(res.channel_trade_no, "512311150613200000001");
	assert_int_equal(res.amount, 1234);

	/* One byte of the signature changed. */
	body[strlen(body) - 3] ^= 1;
	assert_int_equal(run_parse(fx->drv->parse_query, fx, &o, 200, body,
				   &res),
			 -EBADMSG);

	/* The notification vector, form-encoded as the gateway posts it. */
	get_vector("notify", &v);
	enc = pr_url_encode(v.sig);
	snprintf(body, sizeof(body), "%s&signature=%s", v.sorted, enc);
	free(enc);
	assert_int_equal(run_notify(fx, "POST", body, &n), 0);
	assert_int_equal(n.kind, PAYROUTE_KIND_PAYMENT);
	assert_string_equal(n.order_id, "P20231115000001");
	assert_string_equal(n.channel_trade_no, "512311150613200000001");
	assert_string_equal(n.code, "00");
	assert_string_equal(n.sub_code, "01");
	assert_string_equal(n.message, "Success!");
	assert_int_equal(n.amount, 1234);
	assert_int_equal(n.reply_ok_status, 200);
	assert_string_equal(n.reply_ok_body, "ok");
	assert_int_equal(n.reply_fail_status, 400);
	assert_string_equal(n.reply_fail_body, "fail");
}

/* One row: an answer to parse with fn; the fields are signed with the
 * platform key unless `unsigned_` (then sent as they are). */
struct answer_row {
	const char *name;
	int op; /* 0 query, 1 refund, 2 refund_query, 3 payout */
	const char *kv[12][2];
	int rc;
	const char *code;
	const char *sub_code;
	int64_t amount;
};

static const struct answer_row answer_rows[] = {
	{ "query: paid",
	  0,
	  { { "respCode", "00" },
	    { "origRespCode", "00" },
	    { "merId", MER },
	    { "orderId", "P20231115000001" },
	    { "queryId", "Q1" },
	    { "txnAmt", "1234" } },
	  0,
	  "00",
	  "00",
	  1234 },
	{ "query: original still unknown (03)",
	  0,
	  { { "respCode", "00" },
	    { "origRespCode", "03" },
	    { "origRespMsg", "交易通讯超时" } },
	  0,
	  "00",
	  "03",
	  -1 },
	{ "query: original failed (61)",
	  0,
	  { { "respCode", "00" }, { "origRespCode", "61" } },
	  0,
	  "00",
	  "61",
	  -1 },
	{ "query: not found (34)",
	  0,
	  { { "respCode", "34" }, { "respMsg", "查无此交易" } },
	  0,
	  "34",
	  "",
	  -1 },
	{ "query: 00 without origRespCode",
	  0,
	  { { "respCode", "00" } },
	  -EPROTO,
	  NULL,
	  NULL,
	  0 },
	{ "refund: accepted",
	  1,
	  { { "respCode", "00" },
	    { "queryId", "R1" },
	    { "txnAmt", "500" },
	    { "orderId", "R20231115000001" } },
	  0,
	  "00",
	  "",
	  500 },
	{ "refund: unknown (03), chase by query",
	  1,
	  { { "respCode", "03" },
	    { "respMsg", "交易通讯超时，请发起查询交易" } },
	  0,
	  "03",
	  "",
	  -1 },
	{ "refund: unknown (05)", 1, { { "respCode", "05" } }, 0, "05", "", -1 },
	{ "refund: answer about another orderId",
	  1,
	  { { "respCode", "00" }, { "orderId", "R99999999" } },
	  -EPROTO,
	  NULL,
	  NULL,
	  0 },
	{ "refund: answer for another merchant",
	  1,
	  { { "respCode", "00" }, { "merId", "777290058110099" } },
	  -EPROTO,
	  NULL,
	  NULL,
	  0 },
	{ "refund_query: refunded",
	  2,
	  { { "respCode", "00" }, { "origRespCode", "A6" } },
	  0,
	  "00",
	  "A6",
	  -1 },
	{ "payout: refused (64)", 3, { { "respCode", "64" } }, 0, "64", "", -1 },
	{ "no respCode", 0, { { "respMsg", "x" } }, -EPROTO, NULL, NULL, 0 },
	{ "bad txnAmt",
	  1,
	  { { "respCode", "00" }, { "txnAmt", "12a" } },
	  -EPROTO,
	  NULL,
	  NULL,
	  0 },
	{ "signMethod 11 (SM3)",
	  1,
	  { { "respCode", "00" }, { "signMethod", "11" } },
	  -EBADMSG,
	  NULL,
	  NULL,
	  0 },
};

static payroute_parse_fn parse_fn(const struct payroute_driver *d, int op)
{
	switch (op) {
	case 0:
		return d->parse_query;
	case 1:
		return d->parse_refund;
	case 2:
		return d->parse_refund_query;
	default:
		return d->parse_payout;
	}
}

static void test_answers(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_result res;

	o.refund_id = "R20231115000001";
	o.payout_id = "W20231115000001";
	for (size_t i = 0; i < N_ELEMS(answer_rows); i++) {
		const struct answer_row *r = &answer_rows[i];
		size_t n = 0;
		char *body;
		int rc;

		while (n < N_ELEMS(r->kv) && r->kv[n][0])
			n++;
		body = sign_body(fx->platform, r->kv, n, 0);
		rc = run_parse(parse_fn(fx->drv, r->op), fx, &o, 200, body,
			       &res);
		if (rc != r->rc)
			fail_msg("%s: rc %d, want %d", r->name, rc, r->rc);
		if (r->rc == 0) {
			assert_string_equal(res.code, r->code);
			assert_string_equal(res.sub_code, r->sub_code);
			assert_int_equal(res.amount, r->amount);
		}
		free(body);
	}
}

static void test_answers_refused(void **state)
{
	static const char *const garbage[] = {
		"",
		"hello",
		"=",
		"&&&",
		"respCode=00&respCode=00",
		"respCode=00&signature=AAAA",
		"respCode=00", /* unsigned */
		"<html><body>500</body></html>",
		"respCode=00&res pMsg=x&signature=AAAA",
		"respCode=%00&signature=AAAA",
	};
	static const int want[] = {
		-EPROTO,  -EPROTO,  -EPROTO, -EPROTO, -EPROTO,
		-EBADMSG, -EBADMSG, -EPROTO, -EPROTO, -EPROTO,
	};
	static const char *const kv[][2] = {
		{ "respCode", "00" },
		{ "origRespCode", "00" },
		{ "txnAmt", "1234" },
	};
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_result res;
	char *body, *p;

	for (size_t i = 0; i < N_ELEMS(garbage); i++) {
		int rc = run_parse(fx->drv->parse_query, fx, &o, 200,
				   garbage[i], &res);

		if (rc != want[i])
			fail_msg("garbage %zu: rc %d, want %d", i, rc, want[i]);
	}

	/* Tampered after signing: the amount. */
	body = sign_body(fx->platform, kv, N_ELEMS(kv), 0);
	p = strstr(body, "txnAmt=1234");
	assert_non_null(p);
	p[7] = '9';
	assert_int_equal(run_parse(fx->drv->parse_query, fx, &o, 200, body,
				   &res),
			 -EBADMSG);
	free(body);

	/* Signed by the merchant key instead of the bank's. */
	{
		payroute_key *mk = NULL;
		char err[128];

		assert_int_equal(pr_key_load(KEY("bank_merchant_private.pem"),
					     1, &mk, err, sizeof(err)),
				 0);
		body = sign_body(mk, kv, N_ELEMS(kv), 0);
		assert_int_equal(run_parse(fx->drv->parse_query, fx, &o, 200,
					   body, &res),
				 -EBADMSG);
		free(body);
		pr_key_free(mk);
	}

	/* A good answer with a bad HTTP status. */
	body = sign_body(fx->platform, kv, N_ELEMS(kv), 0);
	assert_int_equal(run_parse(fx->drv->parse_query, fx, &o, 500, body,
				   &res),
			 -EPROTO);
	assert_int_equal(run_parse(fx->drv->parse_query, fx, &o, 0, body, &res),
			 -EPROTO);
	free(body);
}

/* Reads a PEM file into a string. */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf = calloc(1, 16384);
	size_t n;

	assert_non_null(fp);
	assert_non_null(buf);
	n = fread(buf, 1, 16383, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_sign_pub_key_cert(void **state)
{
	struct fx *fx = *state;
	struct payroute_order o = base_order();
	struct payroute_result res;
	char *good = slurp(TEST_KEY_DIR "/bank_platform_cert.pem");
	char *other = slurp(TEST_KEY_DIR "/bank_merchant_cert.pem");
	const char *cases[][2] = {
		{ good, "0" },
		{ other, "bad" },
		{ "@" TEST_KEY_DIR "/bank_platform_cert.pem", "bad" },
		{ "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
		  "bad" },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		const char *kv[][2] = {
			{ "respCode", "00" },
			{ "origRespCode", "00" },
			{ "signPubKeyCert", cases[i][0] },
		};
		char *body = sign_body(fx->platform, kv, N_ELEMS(kv), 0);
		int rc = run_parse(fx->drv->parse_query, fx, &o, 200, body,
				   &res);

		if (strcmp(cases[i][1], "0") == 0)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -EBADMSG);
		free(body);
	}
	free(good);
	free(other);
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

static void test_notify(void **state)
{
	struct fx *fx = *state;
	struct payroute_notify n;
	char *body, *p;
	static const char *const refund[][2] = {
		{ "version", "5.1.0" },
		{ "merId", MER },
		{ "orderId", "R20231115000001" },
		{ "origQryId", "512311150613200000001" },
		{ "txnType", "04" },
		{ "respCode", "61" },
		{ "respMsg", "原卡 无效" },
		{ "queryId", "612311150613200000009" },
		{ "txnAmt", "500" },
	};
	static const char *const payout[][2] = {
		{ "merId", MER },
		{ "orderId", "W20231115000001" },
		{ "txnType", "12" },
		{ "respCode", "03" },
	};
	static const char *const undo[][2] = {
		{ "merId", MER },
		{ "orderId", "P20231115000001" },
		{ "txnType", "31" },
		{ "respCode", "00" },
	};

	body = sign_body(fx->platform, refund, N_ELEMS(refund), 1);
	assert_int_equal(run_notify(fx, "POST", body, &n), 0);
	assert_int_equal(n.kind, PAYROUTE_KIND_REFUND);
	assert_string_equal(n.refund_id, "R20231115000001");
	assert_string_equal(n.order_id, "");
	assert_string_equal(n.channel_trade_no, "612311150613200000009");
	assert_string_equal(n.code, "61");
	assert_string_equal(n.sub_code, "04");
	assert_string_equal(n.message, "原卡 无效");
	assert_int_equal(n.amount, 500);
	assert_int_equal(run_notify(fx, "GET", body, &n), -EPROTO);
	/* Tampered: the respCode. */
	p = strstr(body, "respCode=61");
	assert_non_null(p);
	p[10] = '0';
	assert_int_equal(run_notify(fx, "POST", body, &n), -EBADMSG);
	assert_int_equal(n.reply_fail_status, 400);
	assert_string_equal(n.reply_fail_body, "fail");
	assert_int_equal(n.reply_ok_status, 200);
	free(body);

	body = sign_body(fx->platform, payout, N_ELEMS(payout), 1);
	assert_int_equal(run_notify(fx, "POST", body, &n), 0);
	assert_int_equal(n.kind, PAYROUTE_KIND_PAYOUT);
	assert_string_equal(n.order_id, "W20231115000001");
	assert_string_equal(n.code, "03");
	assert_int_equal(n.amount, -1);
	free(body);

	body = sign_body(fx->platform, undo, N_ELEMS(undo), 1);
	assert_int_equal(run_notify(fx, "POST", body, &n), -EPROTO);
	assert_int_equal(n.kind, 0);
	free(body);

	assert_int_equal(run_notify(fx, "POST", "", &n), -EPROTO);
	assert_int_equal(run_notify(fx, "POST", "garbage", &n), -EPROTO);
	assert_int_equal(run_notify(fx, "POST", "a=%zz&signature=x", &n),
			 -EPROTO);
	assert_int_equal(run_notify(fx, "POST", "respCode=00", &n), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_init_services_abi, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_build_query, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_build_refund, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_build_pay, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pay_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_codes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_order_id_mapping, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_build_payout_encrypted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_encrypt_cert, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_build_payout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vectors_accepted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answers_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sign_pub_key_cert, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
