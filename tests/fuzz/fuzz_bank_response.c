/*
 * fuzz_bank_response.c - libFuzzer target for the bank driver's answer
 * parsers (parse_query, parse_refund, parse_refund_query, parse_payout,
 * parse_payout_query). The first input byte picks the parser ('0' query,
 * '1' refund, '2' refund_query, '3' payout, '4' payout_query; any byte
 * minus '0', modulo 5), the rest is the HTTP body of a 200 answer. A parser must never crash or
 * read past the body, and must answer anything it cannot verify with an
 * error: the target checks that a 0 return came with a respCode.
 *
 * Seeds (tests/fuzz/corpus/fuzz_bank_response/) are answers signed with
 * the test platform key, as in tests/unit/test_drv_bank.c.
 */
// FUZZ_DRIVER: drivers/bank/bank.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "domain/drvobj.h"
#include "runtime/log.h"
#include "runtime/services.h"

const struct payroute_driver *payroute_driver_entry(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct payroute_driver *drv;
static void *state;

static void setup(void)
{
	struct payroute_conf conf;
	char err[256];

	pr_log_set_level(PAYROUTE_LOG_ERROR);
	drv = payroute_driver_entry();
	conf.root = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:b}", "mer_id", "777290058110048",
		"gateway", "http://127.0.0.1:9/bank", "sign_key",
		"@" FUZZ_KEY_DIR "/bank_merchant_private.pem", "verify_key",
		"@" FUZZ_KEY_DIR "/bank_platform_cert.pem", "cert_id",
		"11972549452306169698", "allow_clear_accno", 1);
	if (!conf.root || drv->init(pr_services(), "fuzz", &conf, &state, err,
				    sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_bank_response: init: %s\n", err);
		abort();
	}
	json_decref(conf.root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	payroute_parse_fn fns[5];
	struct payroute_order o;
	struct payroute_http_response resp;
	struct payroute_result res;
	char err[256];
	char *body;
	int rc;

	if (!drv)
		setup();
	if (size < 1)
		return 0;
	fns[0] = drv->parse_query;
	fns[1] = drv->parse_refund;
	fns[2] = drv->parse_refund_query;
	fns[3] = drv->parse_payout;
	fns[4] = drv->parse_payout_query;

	/* The body in a buffer of its exact size (plus the NUL the core
	 * promises), so that ASan sees any read past it. */
	body = malloc(size);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.order_id = "P20231115000001";
	o.refund_id = "R20231115000001";
	o.payout_id = "W20231115000001";
	o.amount = 1234;
	memcpy(o.currency, "CNY", 4);
	o.created_at_ms = 1700000000000LL;
	memset(&resp, 0, sizeof(resp));
	resp.size = sizeof(resp);
	resp.status = 200;
	resp.body = body;
	resp.body_len = size - 1;
	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);

	rc = fns[(uint8_t)(data[0] - '0') % 5](state, &o, &resp, &res, err,
					       sizeof(err));
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "rc %d code %s sub_code %s err %s\n", rc,
			res.code, res.sub_code, rc ? err : "");
	if (rc == 0 && res.code[0] == '\0')
		abort(); /* accepted without a respCode: a guess */
	if (rc != 0 && err[0] == '\0')
		abort(); /* refused without saying why */
	free(body);
	return 0;
}
