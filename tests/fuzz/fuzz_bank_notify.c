/*
 * fuzz_bank_notify.c - libFuzzer target for the bank driver's
 * parse_notify: the input is the body of a POST to /notify/<channel>. The
 * driver must never crash or read past the body, must fill the reply
 * fields whatever it answers, and must not accept a notification without
 * a kind, an order id and a respCode.
 *
 * Seeds (tests/fuzz/corpus/fuzz_bank_notify/) are form-encoded
 * notifications signed with the test platform key.
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
	conf.root = json_pack("{s:s, s:s, s:s, s:s, s:s}", "mer_id",
			      "777290058110048", "gateway",
			      "http://127.0.0.1:9/bank", "sign_key",
			      "@" FUZZ_KEY_DIR "/bank_merchant_private.pem",
			      "verify_key",
			      "@" FUZZ_KEY_DIR "/bank_platform_cert.pem",
			      "cert_id", "11972549452306169698");
	if (!conf.root || drv->init(pr_services(), "fuzz", &conf, &state, err,
				    sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_bank_notify: init: %s\n", err);
		abort();
	}
	json_decref(conf.root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payroute_inbound in;
	struct payroute_notify n;
	char err[256];
	char *body;
	int rc;

	if (!drv)
		setup();
	body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.method = "POST";
	in.path = "/notify/fuzz";
	in.body = body;
	in.body_len = size;
	memset(&n, 0, sizeof(n));
	n.size = sizeof(n);

	rc = drv->parse_notify(state, &in, &n, err, sizeof(err));
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "rc %d kind %d order %s%s code %s err %s\n", rc,
			(int)n.kind, n.order_id, n.refund_id, n.code,
			rc ? err : "");
	if (n.reply_ok_status != 200 || n.reply_fail_status != 400)
		abort();
	if (rc == 0 && (n.kind == 0 || n.code[0] == '\0' ||
			(n.order_id[0] == '\0' && n.refund_id[0] == '\0')))
		abort();
	if (rc != 0 && err[0] == '\0')
		abort();
	free(body);
	return 0;
}
