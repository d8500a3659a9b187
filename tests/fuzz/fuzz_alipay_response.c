/*
 * fuzz_alipay_response.c - libFuzzer target for the Alipay driver's answer
 * parsers. The first input byte picks the parser (byte % 8: 0 query,
 * 1 pay/precreate, 2 pay/create, 3 close, 4 refund, 5 refund_query,
 * 6 payout, 7 payout_query). The second byte picks how the rest is used:
 * even, it is the whole HTTP body of a 200 answer; odd, it is the text of
 * the response node, which the target wraps as {"<node>":TEXT,"sign":SIG}
 * with SIG made here with the test platform key over exactly TEXT, so
 * that the fuzzer also reaches what follows a good signature.
 *
 * A parser must never crash or read past the body (it lies in a buffer of
 * its exact size plus the NUL the core promises), must say why when it
 * refuses, and must not accept an answer without a code; an accepted
 * precreate answer with code 10000 must have given the payer a qr_code.
 *
 * Seeds: tests/fuzz/corpus/fuzz_alipay_response/, from the answers of
 * tests/unit/test_drv_alipay.c.
 */
// FUZZ_DRIVER: drivers/alipay/alipay.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/crypto.h"
#include "domain/drvobj.h"
#include "runtime/log.h"
#include "runtime/services.h"

#ifndef FUZZ_KEY_DIR
#define FUZZ_KEY_DIR "tests/keys"
#endif

const struct payroute_driver *payroute_driver_entry(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct payroute_driver *drv;
static void *state;
static payroute_key *platform_private;

static const char *const node_names[8] = {
	"alipay_trade_query_response",
	"alipay_trade_precreate_response",
	"alipay_trade_create_response",
	"alipay_trade_close_response",
	"alipay_trade_refund_response",
	"alipay_trade_fastpay_refund_query_response",
	"alipay_fund_trans_uni_transfer_response",
	"alipay_fund_trans_common_query_response",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct payroute_conf conf;
	char err[256] = "";

	(void)argc;
	(void)argv;
	pr_log_set_level(PAYROUTE_LOG_ERROR);
	drv = payroute_driver_entry();
	conf.root = json_pack(
		"{s:s, s:s, s:s, s:s}", "app_id", "2021000000000001", "gateway",
		"http://127.0.0.1:9/alipay/gateway.do", "app_private_key",
		"@" FUZZ_KEY_DIR "/alipay_app_private.pem", "alipay_public_key",
		"@" FUZZ_KEY_DIR "/alipay_platform_public.pem");
	if (!conf.root ||
	    drv->init(pr_services(), "fuzz", &conf, &state, err, sizeof(err)) !=
		    0 ||
	    pr_key_load("@" FUZZ_KEY_DIR "/alipay_platform_private.pem", 1,
			&platform_private, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_alipay_response: init: %s\n", err);
		abort();
	}
	json_decref(conf.root);
	return 0;
}

/* {"<name>":TEXT,"sign":"<SIG over TEXT>"} in an exact-size buffer. */
static char *signed_body(const char *name, const uint8_t *text, size_t len,
			 size_t *out_len)
{
	char *sig = NULL, *body;
	size_t n;

	if (pr_rsa_sha256_sign(platform_private, text, len, &sig) != 0)
		return NULL;
	n = strlen(name) + len + strlen(sig) + 16;
	body = malloc(n);
	if (body) {
		int head = snprintf(body, n, "{\"%s\":", name);

		memcpy(body + head, text, len);
		*out_len = (size_t)head + len;
		*out_len += (size_t)snprintf(body + *out_len, n - *out_len,
					     ",\"sign\":\"%s\"}", sig);
	}
	free(sig);
	return body;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payroute_http_response resp;
	struct payroute_result res;
	struct payroute_order o;
	struct payroute_kv payer;
	payroute_parse_fn fn;
	unsigned op;
	char err[256] = "";
	char *body, *tmp;
	size_t len;
	int rc;

	if (size < 2)
		return 0;
	op = data[0] % 8;
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.order_id = "PR0001";
	o.refund_id = "RF0001";
	o.payout_id = "PO0001";
	o.amount = 1234;
	memcpy(o.currency, "CNY", 4);
	o.environment = op == 1 ? "native_qr" : "mini_program";
	o.buyer_id = "2088000000000001";
	o.created_at_ms = 1700000000000LL;
	switch (op) {
	case 0:
		fn = drv->parse_query;
		break;
	case 1:
	case 2:
		fn = drv->parse_pay;
		break;
	case 3:
		fn = drv->parse_close;
		break;
	case 4:
		fn = drv->parse_refund;
		break;
	case 5:
		fn = drv->parse_refund_query;
		break;
	case 6:
		fn = drv->parse_payout;
		break;
	default:
		fn = drv->parse_payout_query;
		break;
	}

	if (data[1] & 1) {
		tmp = signed_body(node_names[op], data + 2, size - 2, &len);
		if (!tmp)
			return 0;
	} else {
		len = size - 2;
		tmp = malloc(len + 1);
		if (!tmp)
			return 0;
		memcpy(tmp, data + 2, len);
	}
	/* Exactly len bytes plus the NUL. */
	body = malloc(len + 1);
	if (!body) {
		free(tmp);
		return 0;
	}
	memcpy(body, tmp, len);
	body[len] = '\0';
	free(tmp);

	memset(&resp, 0, sizeof(resp));
	resp.size = sizeof(resp);
	resp.status = 200;
	resp.body = body;
	resp.body_len = len;
	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);
	pr_kv_init(&payer);
	res.payer = &payer;

	rc = fn(state, &o, &resp, &res, err, sizeof(err));
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "op %u rc %d code %s sub_code %s err %s\n", op,
			rc, res.code, res.sub_code, rc ? err : "");
	if (rc == 0 && res.code[0] == '\0')
		abort(); /* accepted without a code: a guess */
	if (rc != 0 && err[0] == '\0')
		abort(); /* refused without saying why */
	if (rc == 0 && op == 1 && strcmp(res.code, "10000") == 0 &&
	    !pr_kv_get(&payer, "qr_code"))
		abort(); /* a precreate success without its QR code */
	pr_kv_clear(&payer);
	free(body);
	return 0;
}
