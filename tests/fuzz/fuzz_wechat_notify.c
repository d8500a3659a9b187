// FUZZ_DRIVER: drivers/wechat/wechat.c
/*
 * fuzz_wechat_notify.c - libFuzzer target for the WeChat Pay v3 driver's callback parser (parse_notify).
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
 * Input: byte 0 = mode (bits 0-1: 0 the rest is the decrypted resource,
 * encrypted, wrapped in a callback and signed here; 1 the rest is the
 * whole callback body, signed; 2 the body unsigned; 3 headers then body
 * from the input), event_type (bits 2-4), bit 5 breaks the GCM tag, bit 6
 * makes the timestamp stale.
 */
#include "fuzz_wechat_common.h"

static const char *const fz_events[8] = {
	"TRANSACTION.SUCCESS",
	"REFUND.SUCCESS",
	"REFUND.ABNORMAL",
	"REFUND.CLOSED",
	"MCHTRANSFER.BATCH.FINISHED",
	"MCHTRANSFER.BATCH.CLOSED",
	"TRANSACTION.UNKNOWN",
	"",
};

/* Encrypts the resource and wraps it in a callback body (malloc'd). */
static char *fz_wrap(const char *event, const uint8_t *res, size_t len,
		     int break_tag)
{
	static const unsigned char nonce[] = "0123456789ab";
	unsigned char *ct = NULL;
	size_t ct_len = 0;
	char *b64, *out;
	json_t *root;

	if (pr_aes256gcm_encrypt(fz_apiv3, nonce, 12, "transaction", 11,
				 len ? (const void *)res : "", len, &ct,
				 &ct_len) != 0)
		abort();
	if (break_tag)
		ct[ct_len - 1] ^= 1;
	b64 = pr_base64_encode(ct, ct_len);
	root = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}",
			 "id", "EV-1", "create_time",
			 "2023-11-15T06:13:20+08:00", "resource_type",
			 "encrypt-resource", "event_type", event, "resource",
			 "original_type", "transaction", "algorithm",
			 "AEAD_AES_256_GCM", "ciphertext", b64 ? b64 : "",
			 "associated_data", "transaction", "nonce",
			 (const char *)nonce);
	out = root ? json_dumps(root, JSON_COMPACT) : NULL;
	if (!out)
		abort();
	json_decref(root);
	free(b64);
	free(ct);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payroute_inbound in;
	struct payroute_notify n;
	struct fz_headers hd;
	const uint8_t *b;
	char err[256], *body;
	size_t len;
	int mode, rc;

	fz_init();
	if (size < 1)
		return 0;
	mode = data[0] & 3;
	memset(&hd, 0, sizeof(hd));
	b = data + 1;
	len = size - 1;
	if (mode == 3)
		fz_raw_headers(&hd, data + 1, size - 1, &b, &len);
	if (mode == 0) {
		body = fz_wrap(fz_events[(data[0] >> 2) & 7], b, len,
			       data[0] & 0x20);
		len = strlen(body);
	} else {
		body = malloc(len + 1);
		if (!body)
			abort();
		if (len)
			memcpy(body, b, len);
		body[len] = '\0';
	}
	if (mode < 2)
		fz_sign(&hd, body, len, data[0] & 0x40 ? -301 : 0);

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.method = "POST";
	in.path = "/notify/fuzz";
	in.headers = hd.n ? hd.h : NULL;
	in.n_headers = hd.n;
	in.body = body;
	in.body_len = len;
	in.received_at_ms = FUZZ_NOW_S * 1000;
	memset(&n, 0, sizeof(n));
	n.size = sizeof(n);
	err[0] = '\0';
	rc = fz_drv->parse_notify(fz_state, &in, &n, err, sizeof(err));
	/* Every failure says why; the replies are always there; an accepted
	 * callback names its order and status. */
	if ((rc < 0 && !err[0]) || n.reply_ok_status != 200 ||
	    n.reply_fail_status != 500)
		abort();
	if (rc == 0 && (n.kind == 0 || !n.order_id[0] || !n.code[0]))
		abort();
	if (!memchr(n.order_id, 0, sizeof(n.order_id)) ||
	    !memchr(n.code, 0, sizeof(n.code)) || !memchr(err, 0, sizeof(err)))
		abort();
	fz_headers_free(&hd);
	free(body);
	return 0;
}
