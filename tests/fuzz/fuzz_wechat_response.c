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
#include "fuzz_wechat_common.h"

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
