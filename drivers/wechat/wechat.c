/*
 * wechat.c - the WeChat Pay channel driver: WeChat Pay API v3 (JSON over
 * HTTPS, WECHATPAY2-SHA256-RSA2048 signatures, AEAD_AES_256_GCM encrypted
 * notification resources). A codec only: it builds signed requests, checks
 * and reads the answers and callbacks, and does no I/O of its own.
 *
 * Driver config (the channel's driver_config object), declared to the core
 * in wechat_keys (ABI 1.2: the core checks a config against it before init
 * and shows it; version 1.1.0 is the first to declare it, so a payrouted
 * older than ABI 1.2 refuses to load this driver):
 *   mch_id                required, the merchant id (mchid)
 *   appid                 required, the app / official account id
 *   api_base              required, http:// or https:// base URL, e.g.
 *                         https://api.mch.weixin.qq.com; a path prefix is
 *                         kept (http://127.0.0.1:P/wechat for the simulator)
 *   merchant_private_key  required, the merchant API certificate's RSA
 *                         private key: PEM text or "@/path/key.pem"
 *   merchant_serial_no    required, that certificate's serial number
 *   platform_public_key   required, WeChat Pay's platform public key or
 *                         certificate, PEM text or "@/path"
 *   platform_serial_no    required, its serial number (Wechatpay-Serial)
 *   apiv3_key             required, the APIv3 key: exactly 32 characters
 *
 * Requests. Every call carries Authorization: WECHATPAY2-SHA256-RSA2048
 * mchid="..",nonce_str="..",signature="..",timestamp="..",serial_no=".."
 * where signature = SHA256withRSA(merchant key, "METHOD\nURL\nTIMESTAMP\n
 * NONCE\nBODY\n"), URL being the path and query as sent (api_base's path
 * prefix included) and the nonce 32 random alphanumerics.
 *   pay           POST /v3/pay/transactions/{native|jsapi|h5|app} by the
 *                 order's environment: native_qr and pc -> native (payer
 *                 "qr_code" = code_url); jsapi and mini_program -> jsapi
 *                 with payer.openid = buyer_id (payer: prepay_id and the
 *                 signed wx.requestPayment parameters appId, timeStamp,
 *                 nonceStr, package, signType, paySign); h5 (client_ip
 *                 required; payer "pay_url" = h5_url); app (payer: prepay_id
 *                 and the signed PayReq parameters). Amounts in fen, CNY.
 *   query         GET /v3/pay/transactions/out-trade-no/{no}?mchid=..
 *   close         POST /v3/pay/transactions/out-trade-no/{no}/close (204)
 *   refund        POST /v3/refund/domestic/refunds
 *   refund_query  GET /v3/refund/domestic/refunds/{out_refund_no}
 *   bills (ABI 1.3)  GET /v3/bill/tradebill?bill_date=..&bill_type=ALL&
 *                 tar_type=GZIP answers download_url and the SHA1 of the
 *                 bill; the download (under api_base) is signed like a
 *                 call; wechat_bill.c reads the gzip and checks the SHA1.
 *                 The fund-flow bill (/v3/bill/fundflowbill) lists
 *                 balance movements, not orders, and is not asked for.
 *   payout        POST /v3/transfer/batches (商家转账到零钱): one batch of
 *                 one detail, out_batch_no = out_detail_no = payout_id,
 *                 payee kind wechat_openid. With a payee name, user_name
 *                 is sent encrypted as WeChat Pay publishes for sensitive
 *                 fields: RSAES-OAEP (SHA-1, MGF1-SHA-1) with the platform
 *                 public key, base64, and the request carries
 *                 Wechatpay-Serial = platform_serial_no to name that key.
 *                 The name is mandatory from 2000 yuan (200000 fen) on: a
 *                 payout of that size without one is refused (EINVAL).
 *                 Encryption needs the services table's rsa_encrypt (ABI
 *                 1.1); should a core lack it, a payout from 2000 yuan on
 *                 is refused (ENOTSUP) and a smaller one goes without the
 *                 (then optional) name, as before.
 *   payout_query  GET /v3/transfer/batches/out-batch-no/{no}
 *                 ?need_query_detail=true&detail_status=ALL
 *
 * Answers and callbacks are signed by WeChat Pay: Wechatpay-Signature over
 * "TIMESTAMP\nNONCE\nBODY\n" with the platform key. The driver requires
 * Wechatpay-Serial to be the configured platform_serial_no and the
 * signature to verify (else -EBADMSG), then the timestamp to be within
 * 300 s of now: a genuine but older (or future) message is -ESTALE (ABI
 * 1.2), a replay or a clock gone wrong, and a callback refused for it is
 * answered {"code":"FAIL","message":"stale Wechatpay-Timestamp: ..."}
 * rather than as a bad signature (the callback is still decrypted, only
 * so that the order it names is filled in for the core's log line). A
 * 2xx answer must be signed. An error answer (4xx/5xx) is verified when it
 * carries Wechatpay-* headers and accepted unsigned when it carries none
 * (gateways and proxies in front of WeChat Pay answer errors unsigned);
 * its code is then only trusted as far as the error rows below allow.
 * Callbacks ({id, event_type, resource_type encrypt-resource, resource
 * {algorithm, ciphertext, associated_data, nonce}}) are always verified,
 * then the resource is decrypted with the APIv3 key; the reply is 200 with
 * an empty body when accepted, 500 {"code":"FAIL","message":..} otherwise.
 *
 * Result codes. On a 2xx answer `code` is the HTTP status ("200", "204")
 * and `sub_code` (and `status`) the state the body carries: nothing for pay
 * and close, trade_state for query, the refund status for refund /
 * refund_query, for payout the batch_status (ACCEPTED when the answer has
 * none), for payout_query the detail_status of our transfer when listed,
 * else the batch_status. On an error answer `code` is the JSON error code
 * (ORDERPAID, SYSTEM_ERROR...). For notifications `code` is trade_state
 * (payments), refund_status (refunds) or batch_status (transfers) and
 * `sub_code` the event_type (TRANSACTION.SUCCESS, REFUND.SUCCESS...). Rows
 * are listed most specific first. A code missing here is left unmapped on
 * purpose: the core keeps the order unknown and chases it. Errors of a
 * query or close call never move the order (effect unknown); "retryable"
 * (on another channel) is set only where WeChat Pay refused the request
 * before accepting it, so that certainly no money moved.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <payroute/driver.h>

#include "drvconf.h"
#include "drvfield.h"
#include "wechat_bill.h"

#define WECHAT_MAX_ID 64
#define WECHAT_APIV3_KEY_LEN 32
#define WECHAT_NONCE_LEN 32
#define WECHAT_MAX_SKEW_S 300
#define WECHAT_AUTH_SCHEMA "WECHATPAY2-SHA256-RSA2048"
#define WECHAT_VERSION "1.2.0"
#define WECHAT_USER_AGENT "payroute-wechat/" WECHAT_VERSION
/* From this amount (2000 yuan) on a transfer needs the payee's name. */
#define WECHAT_NAME_REQUIRED_FEN 200000

struct wechat_state {
	const struct payroute_services *svc;
	char *channel;
	char *mch_id;
	char *appid;
	char *api_base; /* without a trailing '/' */
	char *merchant_serial_no;
	char *platform_serial_no;
	unsigned char apiv3_key[WECHAT_APIV3_KEY_LEN];
	payroute_key *merchant_private_key;
	payroute_key *platform_public_key;
};

/* ------------------------------------------------------------------------ */
/* Config                                                                   */
/* ------------------------------------------------------------------------ */

static void wechat_fini(void *state)
{
	struct wechat_state *st = state;

	if (!st)
		return;
	if (st->merchant_private_key)
		st->svc->key_free(st->merchant_private_key);
	if (st->platform_public_key)
		st->svc->key_free(st->platform_public_key);
	/* The APIv3 key is a secret: do not leave it in freed memory. */
	explicit_bzero(st->apiv3_key, sizeof(st->apiv3_key));
	free(st->channel);
	free(st->mch_id);
	free(st->appid);
	free(st->api_base);
	free(st->merchant_serial_no);
	free(st->platform_serial_no);
	free(st);
}

static int wechat_init(const struct payroute_services *svc, const char *channel,
		       const payroute_conf *conf, void **state, char *err,
		       size_t errlen)
{
	struct wechat_state *st = NULL;
	const char *api_base, *apiv3_key;
	size_t len;
	int plain = 0;
	int rc;

	if (!svc || !conf || !state) {
		snprintf(err, errlen, "init: missing argument");
		return -EINVAL;
	}
	rc = drv_check_services(svc, err, errlen);
	if (rc < 0)
		return rc;

	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st->svc = svc;
	st->channel = strdup(channel ? channel : "");
	if (!st->channel) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}

	rc = drv_conf_ident(svc, conf, "mch_id", WECHAT_MAX_ID, &st->mch_id,
			    err, errlen);
	if (rc == 0)
		rc = drv_conf_ident(svc, conf, "appid", WECHAT_MAX_ID,
				    &st->appid, err, errlen);
	if (rc < 0)
		goto fail;

	rc = drv_conf_string(svc, conf, "api_base", 1, &api_base, err, errlen);
	if (rc == 0)
		rc = drv_check_url("api_base", api_base, &plain, err, errlen);
	if (rc < 0)
		goto fail;
	st->api_base = strdup(api_base);
	if (!st->api_base) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	len = strlen(st->api_base);
	while (len > 0 && st->api_base[len - 1] == '/')
		st->api_base[--len] = '\0';

	rc = drv_conf_ident(svc, conf, "merchant_serial_no", WECHAT_MAX_ID,
			    &st->merchant_serial_no, err, errlen);
	if (rc == 0)
		rc = drv_conf_ident(svc, conf, "platform_serial_no",
				    WECHAT_MAX_ID, &st->platform_serial_no, err,
				    errlen);
	if (rc < 0)
		goto fail;

	/* The APIv3 key is used as the 32 bytes of an AES-256 key. */
	rc = drv_conf_string(svc, conf, "apiv3_key", 1, &apiv3_key, err,
			     errlen);
	if (rc < 0)
		goto fail;
	len = strlen(apiv3_key);
	if (len != WECHAT_APIV3_KEY_LEN) {
		snprintf(err, errlen,
			 "apiv3_key: must be exactly %d characters (got %zu)",
			 WECHAT_APIV3_KEY_LEN, len);
		rc = -EINVAL;
		goto fail;
	}
	memcpy(st->apiv3_key, apiv3_key, WECHAT_APIV3_KEY_LEN);

	rc = drv_load_key(svc, conf, "merchant_private_key", 1,
			  &st->merchant_private_key, err, errlen);
	if (rc < 0)
		goto fail;
	rc = drv_load_key(svc, conf, "platform_public_key", 0,
			  &st->platform_public_key, err, errlen);
	if (rc < 0)
		goto fail;

	if (svc->log) {
		if (plain)
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "wechat: api_base %s is plain http (only for "
				 "a simulator)",
				 st->api_base);
		if (!PAYROUTE_HAS_RSA_ENCRYPT(svc))
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "wechat: the core offers no rsa_encrypt "
				 "(ABI %u.%u): payouts of 2000 yuan or more "
				 "will be refused",
				 (unsigned)svc->abi_major,
				 (unsigned)svc->abi_minor);
		svc->log(PAYROUTE_LOG_INFO, st->channel,
			 "wechat: mch_id %s, appid %s, api_base %s: keys "
			 "loaded",
			 st->mch_id, st->appid, st->api_base);
	}
	*state = st;
	return 0;

fail:
	wechat_fini(st);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

/* Case-insensitive header lookup; NULL when absent. */
static const char *header_get(const struct payroute_header *h, size_t n,
			      const char *name)
{
	size_t i;

	if (!h)
		return NULL;
	for (i = 0; i < n; i++)
		if (h[i].name && h[i].value && strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

/* 32 random characters from [0-9A-Za-z] (the modulo bias of 256 % 62 is of
 * no consequence for a replay nonce). */
static int make_nonce(const struct wechat_state *st,
		      char out[WECHAT_NONCE_LEN + 1])
{
	static const char alnum[] = "0123456789"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz";
	unsigned char raw[WECHAT_NONCE_LEN];
	size_t i;
	int rc;

	rc = st->svc->random_bytes(raw, sizeof(raw));
	if (rc < 0)
		return rc;
	for (i = 0; i < WECHAT_NONCE_LEN; i++)
		out[i] = alnum[raw[i] % (sizeof(alnum) - 1)];
	out[WECHAT_NONCE_LEN] = '\0';
	return 0;
}

/* Joins n parts, each followed by '\n' (the shape of every WeChat Pay v3
 * signature message). lens[i] may be (size_t)-1 for strlen. Returns a
 * malloc'd buffer (free()) and its length, or NULL when out of memory. */
static char *join_lines(const char *const *parts, const size_t *lens, size_t n,
			size_t *out_len)
{
	size_t i, total = 0, l, off = 0;
	char *buf;

	for (i = 0; i < n; i++) {
		l = lens && lens[i] != (size_t)-1 ? lens[i] : strlen(parts[i]);
		if (l > SIZE_MAX / 2 - total)
			return NULL;
		total += l + 1;
	}
	buf = malloc(total + 1);
	if (!buf)
		return NULL;
	for (i = 0; i < n; i++) {
		l = lens && lens[i] != (size_t)-1 ? lens[i] : strlen(parts[i]);
		if (l)
			memcpy(buf + off, parts[i], l);
		off += l;
		buf[off++] = '\n';
	}
	buf[off] = '\0';
	*out_len = off;
	return buf;
}

/* Signs the lines with the merchant key; *sig is services->free'd. */
static int sign_lines(const struct wechat_state *st, const char *const *parts,
		      const size_t *lens, size_t n, char **sig)
{
	size_t len;
	char *msg;
	int rc;

	*sig = NULL;
	msg = join_lines(parts, lens, n, &len);
	if (!msg)
		return -ENOMEM;
	rc = st->svc->rsa_sha256_sign(st->merchant_private_key, msg, len, sig);
	free(msg);
	return rc;
}

/* An id the driver puts in a URL path or a body: non-empty printable ASCII
 * without spaces, at most WECHAT_MAX_ID bytes. */
static int check_id(const char *what, const char *v, char *err, size_t errlen)
{
	if (!v || !*v) {
		snprintf(err, errlen, "%s: required", what);
		return -EINVAL;
	}
	return drv_check_ident(what, v, WECHAT_MAX_ID, err, errlen);
}

/* An amount in fen: WeChat Pay takes a positive 32-bit integer. */
static int check_fen(const char *what, int64_t v, char *err, size_t errlen)
{
	if (v <= 0 || v > INT32_MAX) {
		snprintf(err, errlen, "%s: %lld is not a valid amount in fen",
			 what, (long long)v);
		return -EINVAL;
	}
	return 0;
}

/* WeChat Pay (domestic) settles in CNY only. */
static int check_currency(const struct payroute_order *o, char *err,
			  size_t errlen)
{
	if (o->currency[0] && strncmp(o->currency, "CNY", 4) != 0) {
		snprintf(err, errlen,
			 "currency %.3s is not supported (CNY only)",
			 o->currency);
		return -EINVAL;
	}
	return 0;
}

/* Copies at most max_chars UTF-8 characters of src into dst (never
 * splitting a sequence). Invalid UTF-8 is caught later by jansson. */
static void utf8_trunc(char *dst, size_t dstsz, const char *src,
		       size_t max_chars)
{
	size_t i = 0, chars = 0, l;
	unsigned char c;

	while (src[i] && chars < max_chars) {
		c = (unsigned char)src[i];
		l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (i + l >= dstsz || strnlen(src + i, l) < l)
			break;
		i += l;
		chars++;
	}
	memcpy(dst, src, i);
	dst[i] = '\0';
}

/* Reads the string member `key` of obj. Absent: *out = NULL, and an error
 * when required. Present with another type, or empty when required: error. */
static int jstr(const json_t *obj, const char *key, int required,
		const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(err, errlen, "answer has no %s", key);
		return -EPROTO;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "answer's %s is not a string", key);
		return -EPROTO;
	}
	if (required && !json_string_value(v)[0]) {
		snprintf(err, errlen, "answer's %s is empty", key);
		return -EPROTO;
	}
	*out = json_string_value(v);
	return 0;
}

/* Reads the non-negative integer member `key` of obj (an object or NULL)
 * into *out; leaves *out alone when absent. */
static int jint(const json_t *obj, const char *key, int64_t *out, char *err,
		size_t errlen)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen,
			 "answer's %s is not a non-negative integer", key);
		return -EPROTO;
	}
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* Parses a JSON object out of a buffer; duplicate keys are refused, so that
 * what was signed cannot be read two ways. */
static json_t *parse_object(const char *text, size_t len, const char *what,
			    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s is not valid JSON: %s", what,
			 jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s is not a JSON object", what);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ------------------------------------------------------------------------ */
/* Signatures of answers and callbacks                                      */
/* ------------------------------------------------------------------------ */

/* Checks the Wechatpay-* headers of an answer or a callback and the
 * signature over "TIMESTAMP\nNONCE\nBODY\n" with the platform key: the
 * serial must be the configured platform certificate's, the timestamp
 * within WECHAT_MAX_SKEW_S of now. Returns 0, -EBADMSG when it is not
 * WeChat Pay's signature (err filled), or -ESTALE when the signature
 * holds but the timestamp is out of the window: a replay of an old
 * message, or a clock that is off (ABI 1.2 names that case). */
static int verify_signed(const struct wechat_state *st,
			 const struct payroute_header *h, size_t n,
			 const char *body, size_t body_len, char *err,
			 size_t errlen)
{
	const char *ts, *nonce, *sig, *serial, *type;
	const char *parts[3];
	size_t lens[3], mlen, i;
	int64_t t = 0, now;
	char *msg;
	int rc;

	ts = header_get(h, n, "Wechatpay-Timestamp");
	nonce = header_get(h, n, "Wechatpay-Nonce");
	sig = header_get(h, n, "Wechatpay-Signature");
	serial = header_get(h, n, "Wechatpay-Serial");
	type = header_get(h, n, "Wechatpay-Signature-Type");
	if (!ts || !nonce || !sig || !serial || !*nonce || !*sig) {
		snprintf(err, errlen,
			 "missing Wechatpay-Timestamp/Nonce/Signature/Serial "
			 "header");
		return -EBADMSG;
	}
	if (type && strcmp(type, WECHAT_AUTH_SCHEMA) != 0) {
		snprintf(err, errlen, "unsupported Wechatpay-Signature-Type");
		return -EBADMSG;
	}
	if (strcasecmp(serial, st->platform_serial_no) != 0) {
		snprintf(err, errlen, "unknown platform certificate serial");
		return -EBADMSG;
	}
	for (i = 0; ts[i]; i++) {
		if (ts[i] < '0' || ts[i] > '9' || i >= 12) {
			snprintf(err, errlen, "bad Wechatpay-Timestamp");
			return -EBADMSG;
		}
		t = t * 10 + (ts[i] - '0');
	}
	if (i == 0) {
		snprintf(err, errlen, "bad Wechatpay-Timestamp");
		return -EBADMSG;
	}
	parts[0] = ts;
	parts[1] = nonce;
	parts[2] = body ? body : "";
	lens[0] = lens[1] = (size_t)-1;
	lens[2] = body ? body_len : 0;
	msg = join_lines(parts, lens, 3, &mlen);
	if (!msg) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = st->svc->rsa_sha256_verify(st->platform_public_key, msg, mlen,
					sig);
	free(msg);
	if (rc == -ENOMEM) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen, "Wechatpay-Signature does not verify");
		return -EBADMSG;
	}
	/* Signed by WeChat Pay, but when? */
	now = st->svc->now_ms() / 1000;
	if (t > now + WECHAT_MAX_SKEW_S || t < now - WECHAT_MAX_SKEW_S) {
		snprintf(err, errlen,
			 "stale Wechatpay-Timestamp: %lld s %s now, more than "
			 "the %d s accepted (a replay, or a clock that is off)",
			 (long long)(t > now ? t - now : now - t),
			 t > now ? "ahead of" : "behind", WECHAT_MAX_SKEW_S);
		return -ESTALE;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

/* Writes a signed request: URL api_base + path (path starts with "/v3/"
 * and includes any query), the JSON body when body is not NULL, and the
 * Authorization header over "METHOD\nCANONICAL_URL\nTIMESTAMP\nNONCE\nBODY\n"
 * where CANONICAL_URL is the path and query of the URL as sent (with any
 * path prefix of api_base). */
static int send_signed(const struct wechat_state *st, payroute_http_req *req,
		       const char *method, const char *path, const json_t *body,
		       char *err, size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	char nonce[WECHAT_NONCE_LEN + 1], ts[24], *text = NULL, *url = NULL;
	char *sig = NULL, *auth = NULL;
	const char *canon, *host, *parts[5];
	size_t url_len, auth_len;
	int rc;

	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			rc = -ENOMEM;
			goto out;
		}
	}
	url_len = strlen(st->api_base) + strlen(path) + 1;
	url = malloc(url_len);
	if (!url) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(url, url_len, "%s%s", st->api_base, path);
	host = strstr(url, "://");
	host = host ? host + 3 : url;
	canon = host + strcspn(host, "/?#");
	if (!*canon || *canon != '/')
		canon = url + strlen(st->api_base); /* == path */

	rc = make_nonce(st, nonce);
	if (rc < 0)
		goto out;
	snprintf(ts, sizeof(ts), "%lld", (long long)(svc->now_ms() / 1000));
	parts[0] = method;
	parts[1] = canon;
	parts[2] = ts;
	parts[3] = nonce;
	parts[4] = text ? text : "";
	rc = sign_lines(st, parts, NULL, 5, &sig);
	if (rc < 0)
		goto out;
	auth_len = strlen(st->mch_id) + strlen(sig) +
		   strlen(st->merchant_serial_no) + WECHAT_NONCE_LEN +
		   sizeof(ts) + 128;
	auth = malloc(auth_len);
	if (!auth) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(auth, auth_len,
		 WECHAT_AUTH_SCHEMA " mchid=\"%s\",nonce_str=\"%s\","
				    "signature=\"%s\",timestamp=\"%s\","
				    "serial_no=\"%s\"",
		 st->mch_id, nonce, sig, ts, st->merchant_serial_no);

	rc = svc->http_set(req, method, url);
	if (rc == 0)
		rc = svc->http_header(req, "Accept", "application/json");
	if (rc == 0 && text)
		rc = svc->http_header(req, "Content-Type", "application/json");
	if (rc == 0)
		rc = svc->http_header(req, "User-Agent", WECHAT_USER_AGENT);
	if (rc == 0)
		rc = svc->http_header(req, "Authorization", auth);
	if (rc == 0 && text)
		rc = svc->http_body(req, text, strlen(text));
out:
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "cannot build the request: %s",
			 strerror(-rc));
	free(text);
	free(url);
	free(auth);
	if (sig)
		svc->free(sig);
	return rc;
}

/* Builds "fmt" with one URL-encoded id into out. */
static int path_with_id(const struct wechat_state *st, char *out, size_t outsz,
			const char *prefix, const char *id, const char *suffix,
			char *err, size_t errlen)
{
	char *enc = st->svc->url_encode(id);
	int n;

	if (!enc) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = snprintf(out, outsz, "%s%s%s", prefix, enc, suffix);
	st->svc->free(enc);
	if (n < 0 || (size_t)n >= outsz) {
		snprintf(err, errlen, "request path too long");
		return -EINVAL;
	}
	return 0;
}

/* Packs a JSON value; a failure is a bad argument (invalid UTF-8 in a
 * text) or out of memory, named in err. */
static json_t *pack_or_err(char *err, size_t errlen, const char *fmt, ...)
{
	json_error_t jerr;
	json_t *v;
	va_list ap;

	va_start(ap, fmt);
	v = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	if (!v)
		snprintf(err, errlen, "cannot build the request body: %s",
			 jerr.text);
	return v;
}

/* The trade type (the URL's last segment) for an order's environment. */
static const char *trade_type(const char *env)
{
	if (!env || !*env || strcmp(env, "native_qr") == 0 ||
	    strcmp(env, "pc") == 0)
		return "native";
	if (strcmp(env, "jsapi") == 0 || strcmp(env, "mini_program") == 0)
		return "jsapi";
	if (strcmp(env, "h5") == 0)
		return "h5";
	if (strcmp(env, "app") == 0)
		return "app";
	return NULL;
}

/* "yyyy-MM-DDTHH:mm:ss+08:00" (Beijing time) for a UTC ms timestamp. */
static int rfc3339_cst(int64_t ms, char *out, size_t outsz)
{
	time_t t = (time_t)(ms / 1000 + 8 * 3600);
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%S+08:00", &tm) == 0)
		return -EINVAL;
	return 0;
}

static int wechat_build_pay(void *state, const struct payroute_order *o,
			    payroute_http_req *req, char *err, size_t errlen)
{
	struct wechat_state *st = state;
	const char *type = trade_type(o->environment);
	char path[64], expire[40], desc[512];
	json_t *body = NULL, *scene;
	int rc;

	err[0] = '\0';
	if (!type) {
		snprintf(err, errlen, "environment %s is not supported",
			 o->environment);
		return -EINVAL;
	}
	rc = check_id("order_id", o->order_id, err, errlen);
	if (rc == 0)
		rc = check_fen("amount", o->amount, err, errlen);
	if (rc == 0)
		rc = check_currency(o, err, errlen);
	if (rc < 0)
		return rc;
	if (!o->notify_url || !*o->notify_url) {
		snprintf(err, errlen, "notify_url: required");
		return -EINVAL;
	}
	if (strcmp(type, "jsapi") == 0 && (!o->buyer_id || !*o->buyer_id)) {
		snprintf(err, errlen,
			 "buyer_id (the payer's openid) is required for %s",
			 o->environment);
		return -EINVAL;
	}
	if (strcmp(type, "h5") == 0 && (!o->client_ip || !*o->client_ip)) {
		snprintf(err, errlen, "client_ip is required for h5");
		return -EINVAL;
	}

	/* description: at most 127 characters. */
	utf8_trunc(desc, sizeof(desc),
		   o->subject && *o->subject ? o->subject : o->order_id, 127);
	body = pack_or_err(err, errlen,
			   "{s:s, s:s, s:s, s:s, s:s, s:{s:I, s:s}}", "appid",
			   st->appid, "mchid", st->mch_id, "description", desc,
			   "out_trade_no", o->order_id, "notify_url",
			   o->notify_url, "amount", "total",
			   (json_int_t)o->amount, "currency", "CNY");
	if (!body)
		return -EINVAL;
	if (o->expire_at_ms > 0) {
		if (rfc3339_cst(o->expire_at_ms, expire, sizeof(expire)) < 0 ||
		    json_object_set_new(body, "time_expire",
					json_string(expire)) < 0) {
			snprintf(err, errlen, "expire_at_ms: out of range");
			rc = -EINVAL;
			goto out;
		}
	}
	if (strcmp(type, "jsapi") == 0 &&
	    json_object_set_new(body, "payer",
				pack_or_err(err, errlen, "{s:s}", "openid",
					    o->buyer_id)) < 0) {
		rc = -EINVAL;
		goto out;
	}
	if (o->client_ip && *o->client_ip) {
		scene = pack_or_err(err, errlen, "{s:s}", "payer_client_ip",
				    o->client_ip);
		if (scene && strcmp(type, "h5") == 0 &&
		    json_object_set_new(scene, "h5_info",
					json_pack("{s:s}", "type", "Wap")) <
			    0) {
			json_decref(scene);
			scene = NULL;
		}
		if (json_object_set_new(body, "scene_info", scene) < 0) {
			if (!err[0])
				snprintf(err, errlen, "out of memory");
			rc = -EINVAL;
			goto out;
		}
	}
	snprintf(path, sizeof(path), "/v3/pay/transactions/%s", type);
	rc = send_signed(st, req, "POST", path, body, err, errlen);
out:
	json_decref(body);
	return rc;
}

static int wechat_build_query(void *state, const struct payroute_order *o,
			      payroute_http_req *req, char *err, size_t errlen)
{
	struct wechat_state *st = state;
	char path[512], suffix[WECHAT_MAX_ID + 16];
	int rc;

	err[0] = '\0';
	rc = check_id("order_id", o->order_id, err, errlen);
	if (rc < 0)
		return rc;
	snprintf(suffix, sizeof(suffix), "?mchid=%s", st->mch_id);
	rc = path_with_id(st, path, sizeof(path),
			  "/v3/pay/transactions/out-trade-no/", o->order_id,
			  suffix, err, errlen);
	if (rc < 0)
		return rc;
	return send_signed(st, req, "GET", path, NULL, err, errlen);
}

static int wechat_build_close(void *state, const struct payroute_order *o,
			      payroute_http_req *req, char *err, size_t errlen)
{
	struct wechat_state *st = state;
	char path[512];
	json_t *body;
	int rc;

	err[0] = '\0';
	rc = check_id("order_id", o->order_id, err, errlen);
	if (rc == 0)
		rc = path_with_id(st, path, sizeof(path),
				  "/v3/pay/transactions/out-trade-no/",
				  o->order_id, "/close", err, errlen);
	if (rc < 0)
		return rc;
	body = pack_or_err(err, errlen, "{s:s}", "mchid", st->mch_id);
	if (!body)
		return -ENOMEM;
	rc = send_signed(st, req, "POST", path, body, err, errlen);
	json_decref(body);
	return rc;
}

static int wechat_build_refund(void *state, const struct payroute_order *o,
			       payroute_http_req *req, char *err, size_t errlen)
{
	struct wechat_state *st = state;
	char reason[256];
	json_t *body;
	int rc;

	err[0] = '\0';
	rc = check_id("order_id", o->order_id, err, errlen);
	if (rc == 0)
		rc = check_id("refund_id", o->refund_id, err, errlen);
	if (rc == 0)
		rc = check_fen("refund_amount", o->refund_amount, err, errlen);
	if (rc == 0)
		rc = check_fen("total_amount", o->total_amount, err, errlen);
	if (rc == 0)
		rc = check_currency(o, err, errlen);
	if (rc < 0)
		return rc;
	if (o->refund_amount > o->total_amount) {
		snprintf(err, errlen, "refund_amount exceeds total_amount");
		return -EINVAL;
	}
	body = pack_or_err(err, errlen, "{s:s, s:s, s:{s:I, s:I, s:s}}",
			   "out_trade_no", o->order_id, "out_refund_no",
			   o->refund_id, "amount", "refund",
			   (json_int_t)o->refund_amount, "total",
			   (json_int_t)o->total_amount, "currency", "CNY");
	if (!body)
		return -EINVAL;
	rc = 0;
	if (o->reason && *o->reason) {
		/* The API takes at most 80 characters. */
		utf8_trunc(reason, sizeof(reason), o->reason, 80);
		if (json_object_set_new(body, "reason", json_string(reason)) <
		    0) {
			snprintf(err, errlen, "reason: not valid UTF-8");
			rc = -EINVAL;
		}
	}
	if (rc == 0 && o->notify_url && *o->notify_url &&
	    json_object_set_new(body, "notify_url",
				json_string(o->notify_url)) < 0) {
		snprintf(err, errlen, "notify_url: not valid UTF-8");
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = send_signed(st, req, "POST", "/v3/refund/domestic/refunds",
				 body, err, errlen);
	json_decref(body);
	return rc;
}

static int wechat_build_refund_query(void *state,
				     const struct payroute_order *o,
				     payroute_http_req *req, char *err,
				     size_t errlen)
{
	struct wechat_state *st = state;
	char path[512];
	int rc;

	err[0] = '\0';
	rc = check_id("refund_id", o->refund_id, err, errlen);
	if (rc == 0)
		rc = path_with_id(st, path, sizeof(path),
				  "/v3/refund/domestic/refunds/", o->refund_id,
				  "", err, errlen);
	if (rc < 0)
		return rc;
	return send_signed(st, req, "GET", path, NULL, err, errlen);
}

/* Payouts use 商家转账到零钱 (POST /v3/transfer/batches), one batch of one
 * detail per withdrawal: out_batch_no = out_detail_no = payout_id. */
static int wechat_build_payout(void *state, const struct payroute_order *o,
			       payroute_http_req *req, char *err, size_t errlen)
{
	struct wechat_state *st = state;
	const struct payroute_services *svc = st->svc;
	char name[128], remark[128], *enc_name = NULL;
	json_t *body = NULL, *detail;
	int has_name, rc;

	err[0] = '\0';
	rc = check_id("payout_id", o->payout_id, err, errlen);
	if (rc == 0)
		rc = check_fen("amount", o->amount, err, errlen);
	if (rc == 0)
		rc = check_currency(o, err, errlen);
	if (rc < 0)
		return rc;
	if (o->payee_kind && *o->payee_kind &&
	    strcmp(o->payee_kind, "wechat_openid") != 0) {
		snprintf(err, errlen,
			 "payee kind %s is not supported (wechat_openid only)",
			 o->payee_kind);
		return -EINVAL;
	}
	if (!o->payee_account || !*o->payee_account) {
		snprintf(err, errlen,
			 "payee_account (the payee's openid) is required");
		return -EINVAL;
	}
	has_name = o->payee_name && *o->payee_name;
	/* From 2000 yuan on, WeChat Pay requires user_name: refuse rather
	 * than send a request bound to fail. */
	if (o->amount >= WECHAT_NAME_REQUIRED_FEN && !has_name) {
		snprintf(err, errlen,
			 "payouts of 2000 yuan or more need the payee's name");
		return -EINVAL;
	}
	if (has_name && !PAYROUTE_HAS_RSA_ENCRYPT(svc)) {
		if (o->amount >= WECHAT_NAME_REQUIRED_FEN) {
			snprintf(err, errlen,
				 "payouts of 2000 yuan or more need the "
				 "payee's name encrypted with RSA-OAEP, and "
				 "this core (services ABI %u.%u) offers no "
				 "rsa_encrypt (an ABI 1.1 service)",
				 (unsigned)svc->abi_major,
				 (unsigned)svc->abi_minor);
			return -ENOTSUP;
		}
		has_name = 0; /* optional below 2000 yuan: leave it out */
	}
	if (has_name) {
		rc = svc->rsa_encrypt(st->platform_public_key,
				      PAYROUTE_RSA_OAEP_SHA1, o->payee_name,
				      strlen(o->payee_name), &enc_name);
		if (rc < 0) {
			/* With a loaded key, EINVAL means too long (214
			 * bytes with a 2048-bit key). */
			snprintf(err, errlen,
				 "cannot encrypt the payee's name with the "
				 "platform public key: %s",
				 rc == -EINVAL ? "name too long" :
						 strerror(-rc));
			return rc;
		}
	}
	utf8_trunc(name, sizeof(name),
		   o->subject && *o->subject ? o->subject : "withdrawal", 32);
	utf8_trunc(remark, sizeof(remark),
		   o->reason && *o->reason ? o->reason : "withdrawal", 32);
	body = pack_or_err(
		err, errlen,
		"{s:s, s:s, s:s, s:s, s:I, s:i, s:[{s:s, s:I, s:s, s:s}]}",
		"appid", st->appid, "out_batch_no", o->payout_id, "batch_name",
		name, "batch_remark", remark, "total_amount",
		(json_int_t)o->amount, "total_num", 1, "transfer_detail_list",
		"out_detail_no", o->payout_id, "transfer_amount",
		(json_int_t)o->amount, "transfer_remark", remark, "openid",
		o->payee_account);
	if (!body) {
		rc = -EINVAL;
		goto out;
	}
	detail = json_array_get(json_object_get(body, "transfer_detail_list"),
				0);
	if (enc_name && json_object_set_new(detail, "user_name",
					    json_string(enc_name)) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = send_signed(st, req, "POST", "/v3/transfer/batches", body, err,
			 errlen);
	/* Names the platform key the sensitive field is encrypted for. */
	if (rc == 0 && enc_name) {
		rc = svc->http_header(req, "Wechatpay-Serial",
				      st->platform_serial_no);
		if (rc < 0)
			snprintf(err, errlen, "cannot build the request: %s",
				 strerror(-rc));
	}
out:
	json_decref(body);
	if (enc_name)
		svc->free(enc_name);
	return rc;
}

static int wechat_build_payout_query(void *state,
				     const struct payroute_order *o,
				     payroute_http_req *req, char *err,
				     size_t errlen)
{
	struct wechat_state *st = state;
	char path[512];
	int rc;

	err[0] = '\0';
	rc = check_id("payout_id", o->payout_id, err, errlen);
	if (rc == 0)
		rc = path_with_id(st, path, sizeof(path),
				  "/v3/transfer/batches/out-batch-no/",
				  o->payout_id,
				  "?need_query_detail=true&detail_status=ALL",
				  err, errlen);
	if (rc < 0)
		return rc;
	return send_signed(st, req, "GET", path, NULL, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */
/* ------------------------------------------------------------------------ */

/* The part every parse_* shares. Checks the signature (always on a 2xx
 * answer; on an error answer when it carries Wechatpay-* headers, see the
 * top of the file), then:
 *   2xx: code = the status; *body = the JSON object, or NULL for an empty
 *        body (204); returns 0;
 *   4xx/5xx with {"code","message"}: code and message filled; returns 1;
 *   anything else: -EPROTO / -EBADMSG with err filled. */
static int parse_answer(const struct wechat_state *st,
			const struct payroute_http_response *resp,
			struct payroute_result *out, json_t **body, char *err,
			size_t errlen)
{
	const char *text = resp ? resp->body : NULL;
	size_t len = text ? resp->body_len : 0, i;
	const char *code = NULL, *msg = NULL;
	json_t *root;
	int rc, empty = 1;

	*body = NULL;
	err[0] = '\0';
	out->amount = -1;
	if (!resp || resp->status == 0) {
		snprintf(err, errlen, "no answer from WeChat Pay");
		return -EPROTO;
	}
	if (resp->status < 200 || resp->status > 599 ||
	    (resp->status >= 300 && resp->status < 400)) {
		snprintf(err, errlen, "unexpected HTTP status %d",
			 resp->status);
		return -EPROTO;
	}
	if ((resp->status >= 200 && resp->status < 300) ||
	    header_get(resp->headers, resp->n_headers, "Wechatpay-Signature") ||
	    header_get(resp->headers, resp->n_headers, "Wechatpay-Serial") ||
	    header_get(resp->headers, resp->n_headers, "Wechatpay-Timestamp") ||
	    header_get(resp->headers, resp->n_headers, "Wechatpay-Nonce")) {
		rc = verify_signed(st, resp->headers, resp->n_headers, text,
				   len, err, errlen);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
		    text[i] != '\n')
			empty = 0;

	if (resp->status < 300) {
		snprintf(out->code, sizeof(out->code), "%d", resp->status);
		if (empty)
			return 0;
		root = parse_object(text, len, "answer body", err, errlen);
		if (!root)
			return -EPROTO;
		*body = root;
		return 0;
	}

	if (empty) {
		snprintf(err, errlen, "HTTP %d with an empty body",
			 resp->status);
		return -EPROTO;
	}
	root = parse_object(text, len, "error body", err, errlen);
	if (!root)
		return -EPROTO;
	rc = jstr(root, "code", 1, &code, err, errlen);
	if (rc == 0)
		rc = jstr(root, "message", 0, &msg, err, errlen);
	if (rc == 0)
		rc = drv_copy_id(out->code, sizeof(out->code), code, 0, "code",
				 err, errlen);
	if (rc == 0 && msg)
		snprintf(out->message, sizeof(out->message), "%s", msg);
	json_decref(root);
	return rc < 0 ? rc : 1;
}

/* When the answer names an id (out_trade_no...), it must be ours. */
static int check_same(const json_t *obj, const char *key, const char *ours,
		      char *err, size_t errlen)
{
	const char *v;
	int rc = jstr(obj, key, 0, &v, err, errlen);

	if (rc < 0)
		return rc;
	if (v && ours && strcmp(v, ours) != 0) {
		snprintf(err, errlen, "answer is about another %s", key);
		return -EPROTO;
	}
	return 0;
}

/* Sets the payer map entry; a failure is out of memory or bad UTF-8. */
static int payer_set(const struct wechat_state *st, struct payroute_result *out,
		     const char *key, const char *value, char *err,
		     size_t errlen)
{
	int rc;

	if (!out->payer)
		return 0;
	rc = st->svc->kv_set(out->payer, key, value);
	if (rc < 0)
		snprintf(err, errlen, "cannot store payer field %s", key);
	return rc;
}

/* The parameters a JSAPI / mini program front end passes to
 * wx.requestPayment: appId, timeStamp, nonceStr, package, signType and
 * paySign = sign("appId\ntimeStamp\nnonceStr\npackage\n"). */
static int payer_jsapi(const struct wechat_state *st,
		       struct payroute_result *out, const char *prepay_id,
		       char *err, size_t errlen)
{
	char ts[24], nonce[WECHAT_NONCE_LEN + 1], package[128], *sig = NULL;
	const char *parts[4];
	int rc;

	snprintf(ts, sizeof(ts), "%lld", (long long)(st->svc->now_ms() / 1000));
	snprintf(package, sizeof(package), "prepay_id=%s", prepay_id);
	rc = make_nonce(st, nonce);
	if (rc < 0)
		goto out;
	parts[0] = st->appid;
	parts[1] = ts;
	parts[2] = nonce;
	parts[3] = package;
	rc = sign_lines(st, parts, NULL, 4, &sig);
	if (rc < 0)
		goto out;
	rc = payer_set(st, out, "prepay_id", prepay_id, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "appId", st->appid, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "timeStamp", ts, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "nonceStr", nonce, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "package", package, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "signType", "RSA", err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "paySign", sig, err, errlen);
out:
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "cannot sign the payer parameters");
	if (sig)
		st->svc->free(sig);
	return rc;
}

/* The parameters an app passes to the WeChat SDK (PayReq): appid,
 * partnerid, prepayid, package "Sign=WXPay", noncestr, timestamp and
 * sign = sign("appid\ntimestamp\nnoncestr\nprepayid\n"). */
static int payer_app(const struct wechat_state *st, struct payroute_result *out,
		     const char *prepay_id, char *err, size_t errlen)
{
	char ts[24], nonce[WECHAT_NONCE_LEN + 1], *sig = NULL;
	const char *parts[4];
	int rc;

	snprintf(ts, sizeof(ts), "%lld", (long long)(st->svc->now_ms() / 1000));
	rc = make_nonce(st, nonce);
	if (rc < 0)
		goto out;
	parts[0] = st->appid;
	parts[1] = ts;
	parts[2] = nonce;
	parts[3] = prepay_id;
	rc = sign_lines(st, parts, NULL, 4, &sig);
	if (rc < 0)
		goto out;
	rc = payer_set(st, out, "prepay_id", prepay_id, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "appid", st->appid, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "partnerid", st->mch_id, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "prepayid", prepay_id, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "package", "Sign=WXPay", err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "noncestr", nonce, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "timestamp", ts, err, errlen);
	if (rc == 0)
		rc = payer_set(st, out, "sign", sig, err, errlen);
out:
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "cannot sign the payer parameters");
	if (sig)
		st->svc->free(sig);
	return rc;
}

static int wechat_parse_pay(void *state, const struct payroute_order *o,
			    const struct payroute_http_response *resp,
			    struct payroute_result *out, char *err,
			    size_t errlen)
{
	struct wechat_state *st = state;
	const char *type = trade_type(o->environment), *v;
	json_t *body = NULL;
	int rc;

	rc = parse_answer(st, resp, out, &body, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (!type) {
		snprintf(err, errlen, "environment %s is not supported",
			 o->environment);
		rc = -EINVAL;
		goto out;
	}
	if (!body) {
		snprintf(err, errlen, "answer has an empty body");
		rc = -EPROTO;
		goto out;
	}
	if (strcmp(type, "native") == 0) {
		rc = jstr(body, "code_url", 1, &v, err, errlen);
		if (rc == 0)
			rc = payer_set(st, out, "qr_code", v, err, errlen);
	} else if (strcmp(type, "h5") == 0) {
		rc = jstr(body, "h5_url", 1, &v, err, errlen);
		if (rc == 0)
			rc = payer_set(st, out, "pay_url", v, err, errlen);
	} else {
		rc = jstr(body, "prepay_id", 1, &v, err, errlen);
		if (rc == 0)
			rc = drv_check_ident("prepay_id", v, WECHAT_MAX_ID, err,
					     errlen) < 0 ?
				     -EPROTO :
				     0;
		if (rc == 0 && strcmp(type, "jsapi") == 0)
			rc = payer_jsapi(st, out, v, err, errlen);
		else if (rc == 0)
			rc = payer_app(st, out, v, err, errlen);
	}
out:
	json_decref(body);
	return rc;
}

static int wechat_parse_query(void *state, const struct payroute_order *o,
			      const struct payroute_http_response *resp,
			      struct payroute_result *out, char *err,
			      size_t errlen)
{
	struct wechat_state *st = state;
	const char *state_s = NULL, *txn = NULL, *desc = NULL, *openid = NULL;
	json_t *body = NULL, *payer;
	int rc;

	rc = parse_answer(st, resp, out, &body, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (!body) {
		snprintf(err, errlen, "answer has an empty body");
		rc = -EPROTO;
		goto out;
	}
	rc = check_same(body, "out_trade_no", o->order_id, err, errlen);
	if (rc == 0)
		rc = check_same(body, "mchid", st->mch_id, err, errlen);
	if (rc == 0)
		rc = jstr(body, "trade_state", 1, &state_s, err, errlen);
	if (rc == 0)
		rc = jstr(body, "transaction_id", 0, &txn, err, errlen);
	if (rc == 0)
		rc = jstr(body, "trade_state_desc", 0, &desc, err, errlen);
	if (rc == 0)
		rc = jint(json_object_get(body, "amount"), "total",
			  &out->amount, err, errlen);
	payer = json_object_get(body, "payer");
	if (rc == 0 && json_is_object(payer))
		rc = jstr(payer, "openid", 0, &openid, err, errlen);
	if (rc == 0)
		rc = drv_copy_id(out->sub_code, sizeof(out->sub_code), state_s,
				 0, "trade_state", err, errlen);
	if (rc == 0)
		rc = drv_copy_id(out->status, sizeof(out->status), state_s, 0,
				 "trade_state", err, errlen);
	if (rc == 0 && txn)
		rc = drv_copy_id(out->channel_trade_no,
				 sizeof(out->channel_trade_no), txn, 0,
				 "transaction_id", err, errlen);
	if (rc == 0 && desc)
		snprintf(out->message, sizeof(out->message), "%s", desc);
	if (rc == 0 && openid && *openid)
		rc = payer_set(st, out, "openid", openid, err, errlen);
out:
	json_decref(body);
	return rc;
}

static int wechat_parse_close(void *state, const struct payroute_order *o,
			      const struct payroute_http_response *resp,
			      struct payroute_result *out, char *err,
			      size_t errlen)
{
	struct wechat_state *st = state;
	json_t *body = NULL;
	int rc;

	(void)o;
	rc = parse_answer(st, resp, out, &body, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (resp->status != 204) {
		snprintf(err, errlen, "close answered HTTP %d, not 204",
			 resp->status);
		rc = -EPROTO;
	}
	json_decref(body);
	return rc;
}

/* refund and refund_query answer the same refund object. */
static int parse_refund_common(void *state, const struct payroute_order *o,
			       const struct payroute_http_response *resp,
			       struct payroute_result *out, char *err,
			       size_t errlen)
{
	struct wechat_state *st = state;
	const char *status = NULL, *refund_id = NULL;
	json_t *body = NULL;
	int rc;

	rc = parse_answer(st, resp, out, &body, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (!body) {
		snprintf(err, errlen, "answer has an empty body");
		rc = -EPROTO;
		goto out;
	}
	rc = check_same(body, "out_refund_no", o->refund_id, err, errlen);
	if (rc == 0)
		rc = check_same(body, "out_trade_no", o->order_id, err, errlen);
	if (rc == 0)
		rc = jstr(body, "status", 1, &status, err, errlen);
	if (rc == 0)
		rc = jstr(body, "refund_id", 0, &refund_id, err, errlen);
	if (rc == 0)
		rc = jint(json_object_get(body, "amount"), "refund",
			  &out->amount, err, errlen);
	if (rc == 0)
		rc = drv_copy_id(out->sub_code, sizeof(out->sub_code), status,
				 0, "status", err, errlen);
	if (rc == 0)
		rc = drv_copy_id(out->status, sizeof(out->status), status, 0,
				 "status", err, errlen);
	if (rc == 0 && refund_id)
		rc = drv_copy_id(out->channel_trade_no,
				 sizeof(out->channel_trade_no), refund_id, 0,
				 "refund_id", err, errlen);
out:
	json_decref(body);
	return rc;
}

/* The create answer carries batch_status (ACCEPTED...) in the current API;
 * older answers only had out_batch_no / batch_id / create_time, and a 200
 * then means the batch was accepted. */
static int wechat_parse_payout(void *state, const struct payroute_order *o,
			       const struct payroute_http_response *resp,
			       struct payroute_result *out, char *err,
			       size_t errlen)
{
	struct wechat_state *st = state;
	const char *status = NULL, *batch_id = NULL;
	json_t *body = NULL;
	int rc;

	rc = parse_answer(st, resp, out, &body, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (!body) {
		snprintf(err, errlen, "answer has an empty body");
		rc = -EPROTO;
		goto out;
	}
	rc = check_same(body, "out_batch_no", o->payout_id, err, errlen);
	if (rc == 0)
		rc = jstr(body, "batch_id", 1, &batch_id, err, errlen);
	if (rc == 0)
		rc = jstr(body, "batch_status", 0, &status, err, errlen);
	if (rc == 0)
		rc = drv_copy_id(out->channel_trade_no,
				 sizeof(out->channel_trade_no), batch_id, 0,
				 "batch_id", err, errlen);
	if (rc == 0) {
		if (!status || !*status)
			status = "ACCEPTED";
		rc = drv_copy_id(out->sub_code, sizeof(out->sub_code), status,
				 0, "batch_status", err, errlen);
	}
	if (rc == 0)
		rc = drv_copy_id(out->status, sizeof(out->status), status, 0,
				 "batch_status", err, errlen);
out:
	json_decref(body);
	return rc;
}

/* The state of our one transfer: the detail's detail_status (SUCCESS,
 * FAIL, PROCESSING, INIT, WAIT_PAY) when the answer lists it, else the
 * batch's batch_status (ACCEPTED, PROCESSING, FINISHED, CLOSED). */
static int wechat_parse_payout_query(void *state,
				     const struct payroute_order *o,
				     const struct payroute_http_response *resp,
				     struct payroute_result *out, char *err,
				     size_t errlen)
{
	struct wechat_state *st = state;
	const char *status = NULL, *batch_id = NULL, *dno = NULL;
	const char *dstatus = NULL, *reason = NULL;
	json_t *body = NULL, *batch, *list, *d;
	size_t i;
	int rc;

	rc = parse_answer(st, resp, out, &body, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	batch = body ? json_object_get(body, "transfer_batch") : NULL;
	if (!json_is_object(batch)) {
		snprintf(err, errlen, "answer has no transfer_batch object");
		rc = -EPROTO;
		goto out;
	}
	rc = check_same(batch, "out_batch_no", o->payout_id, err, errlen);
	if (rc == 0)
		rc = check_same(batch, "mchid", st->mch_id, err, errlen);
	if (rc == 0)
		rc = jstr(batch, "batch_status", 1, &status, err, errlen);
	if (rc == 0)
		rc = jstr(batch, "batch_id", 0, &batch_id, err, errlen);
	if (rc == 0)
		rc = jstr(batch, "close_reason", 0, &reason, err, errlen);
	if (rc == 0)
		rc = jint(batch, "total_amount", &out->amount, err, errlen);
	if (rc < 0)
		goto out;
	list = json_object_get(body, "transfer_detail_list");
	if (list && !json_is_array(list) && !json_is_null(list)) {
		snprintf(err, errlen, "transfer_detail_list is not an array");
		rc = -EPROTO;
		goto out;
	}
	json_array_foreach(list, i, d) {
		if (!json_is_object(d)) {
			snprintf(err, errlen,
				 "transfer_detail_list holds a non-object");
			rc = -EPROTO;
			goto out;
		}
		rc = jstr(d, "out_detail_no", 1, &dno, err, errlen);
		if (rc == 0)
			rc = jstr(d, "detail_status", 1, &dstatus, err, errlen);
		if (rc < 0)
			goto out;
		if (o->payout_id && strcmp(dno, o->payout_id) == 0)
			status = dstatus;
	}
	rc = drv_copy_id(out->sub_code, sizeof(out->sub_code), status, 0,
			 "batch_status", err, errlen);
	if (rc == 0)
		rc = drv_copy_id(out->status, sizeof(out->status), status, 0,
				 "batch_status", err, errlen);
	if (rc == 0 && batch_id)
		rc = drv_copy_id(out->channel_trade_no,
				 sizeof(out->channel_trade_no), batch_id, 0,
				 "batch_id", err, errlen);
	if (rc == 0 && reason)
		snprintf(out->message, sizeof(out->message), "%s", reason);
out:
	json_decref(body);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

/* Decrypts resource {algorithm, ciphertext, associated_data, nonce} with
 * the APIv3 key and parses the plaintext JSON object. */
static int decrypt_resource(const struct wechat_state *st, const json_t *res,
			    json_t **plain_out, char *err, size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	const char *alg = NULL, *ct_b64 = NULL, *aad = NULL, *nonce = NULL;
	unsigned char *ct = NULL, *plain = NULL;
	size_t ct_len = 0, plain_len = 0, nonce_len;
	int rc;

	*plain_out = NULL;
	rc = jstr(res, "algorithm", 1, &alg, err, errlen);
	if (rc == 0)
		rc = jstr(res, "ciphertext", 1, &ct_b64, err, errlen);
	if (rc == 0)
		rc = jstr(res, "nonce", 1, &nonce, err, errlen);
	if (rc == 0)
		rc = jstr(res, "associated_data", 0, &aad, err, errlen);
	if (rc < 0)
		return rc;
	if (strcmp(alg, "AEAD_AES_256_GCM") != 0) {
		snprintf(err, errlen, "unsupported resource algorithm");
		return -EPROTO;
	}
	nonce_len = strlen(nonce);
	if (nonce_len > 64) {
		snprintf(err, errlen, "resource nonce too long");
		return -EPROTO;
	}
	if (!aad)
		aad = "";
	rc = svc->base64_decode(ct_b64, &ct, &ct_len);
	if (rc < 0) {
		snprintf(err, errlen, "resource ciphertext is not base64");
		return rc == -ENOMEM ? rc : -EPROTO;
	}
	rc = svc->aes256gcm_decrypt(st->apiv3_key, (const unsigned char *)nonce,
				    nonce_len, aad, strlen(aad), ct, ct_len,
				    &plain, &plain_len);
	if (rc < 0) {
		snprintf(err, errlen,
			 rc == -EBADMSG ?
				 "resource does not decrypt (bad tag)" :
				 "cannot decrypt the resource");
		rc = rc == -ENOMEM ? rc : -EBADMSG;
		goto out;
	}
	*plain_out = parse_object((const char *)plain, plain_len, "resource",
				  err, errlen);
	rc = *plain_out ? 0 : -EPROTO;
out:
	if (ct)
		svc->free(ct);
	if (plain) {
		explicit_bzero(plain, plain_len);
		svc->free(plain);
	}
	return rc;
}

/* drv_get_fn over a JSON object: a string member, NULL when absent or
 * null; another type is refused. */
static int json_get(const void *obj, const char *key, const char **v, char *err,
		    size_t errlen)
{
	return jstr(obj, key, 0, v, err, errlen);
}

#define NOTIFY(key, member, flags)                                             \
	DRV_FIELD(struct payroute_notify, key, member, flags)
#define REQ DRV_F_REQUIRED

/* A payment: TRANSACTION.* with a transaction resource. */
static int notify_payment(const json_t *r, struct payroute_notify *out,
			  char *err, size_t errlen)
{
	static const struct drv_field fields[] = {
		NOTIFY("out_trade_no", order_id, REQ),
		NOTIFY("trade_state", code, REQ),
		NOTIFY("trade_state", status, REQ),
		NOTIFY("transaction_id", channel_trade_no, 0),
		NOTIFY("trade_state_desc", message, DRV_F_TEXT),
	};
	int rc;

	out->kind = PAYROUTE_KIND_PAYMENT;
	rc = drv_take_fields(out, fields, sizeof(fields) / sizeof(fields[0]),
			     json_get, r, "notification", err, errlen);
	if (rc == 0)
		rc = jint(json_object_get(r, "amount"), "total", &out->amount,
			  err, errlen);
	return rc;
}

/* A refund: REFUND.SUCCESS / ABNORMAL / CLOSED with a refund resource. */
static int notify_refund(const json_t *r, struct payroute_notify *out,
			 char *err, size_t errlen)
{
	static const struct drv_field fields[] = {
		NOTIFY("out_trade_no", order_id, REQ),
		NOTIFY("out_refund_no", refund_id, REQ),
		NOTIFY("refund_status", code, REQ),
		NOTIFY("refund_status", status, REQ),
		NOTIFY("refund_id", channel_trade_no, 0),
	};
	int rc;

	out->kind = PAYROUTE_KIND_REFUND;
	rc = drv_take_fields(out, fields, sizeof(fields) / sizeof(fields[0]),
			     json_get, r, "notification", err, errlen);
	if (rc == 0)
		rc = jint(json_object_get(r, "amount"), "refund", &out->amount,
			  err, errlen);
	return rc;
}

/* A transfer batch: MCHTRANSFER.BATCH.FINISHED / CLOSED. FINISHED does
 * not say how our one detail ended: it stays unmapped, and the core asks
 * with payout_query. */
static int notify_payout(const json_t *r, struct payroute_notify *out,
			 char *err, size_t errlen)
{
	static const struct drv_field fields[] = {
		NOTIFY("out_batch_no", order_id, REQ),
		NOTIFY("batch_status", code, REQ),
		NOTIFY("batch_status", status, REQ),
		NOTIFY("batch_id", channel_trade_no, 0),
		NOTIFY("close_reason", message, DRV_F_TEXT),
	};
	int rc;

	out->kind = PAYROUTE_KIND_PAYOUT;
	rc = drv_take_fields(out, fields, sizeof(fields) / sizeof(fields[0]),
			     json_get, r, "notification", err, errlen);
	if (rc == 0)
		rc = jint(r, "total_amount", &out->amount, err, errlen);
	return rc;
}

#undef REQ
#undef NOTIFY

static int wechat_parse_notify(void *state, const struct payroute_inbound *in,
			       struct payroute_notify *out, char *err,
			       size_t errlen)
{
	struct wechat_state *st = state;
	const char *event = NULL, *rtype = NULL;
	json_t *root = NULL, *res, *plain = NULL;
	char stale[PAYROUTE_MSG_LEN] = "";
	int rc;

	err[0] = '\0';
	/* The replies come first: they are needed whatever happens next. */
	out->reply_ok_status = 200;
	out->reply_ok_body[0] = '\0';
	out->reply_fail_status = 500;
	snprintf(out->reply_content_type, sizeof(out->reply_content_type),
		 "application/json");
	snprintf(out->reply_fail_body, sizeof(out->reply_fail_body),
		 "{\"code\":\"FAIL\",\"message\":\"not accepted\"}");
	out->amount = -1;

	if (!in || (!in->body && in->body_len)) {
		snprintf(err, errlen, "no callback");
		return -EINVAL;
	}
	if (in->method && strcmp(in->method, "POST") != 0) {
		snprintf(err, errlen, "callback method %s is not POST",
			 in->method);
		return -EPROTO;
	}
	rc = verify_signed(st, in->headers, in->n_headers, in->body,
			   in->body_len, err, errlen);
	if (rc < 0) {
		/* Say what it is: WeChat Pay shows the message to the
		 * merchant's support and sends the callback again. */
		snprintf(out->reply_fail_body, sizeof(out->reply_fail_body),
			 "{\"code\":\"FAIL\",\"message\":\"%s\"}",
			 rc == -ESTALE ? "stale Wechatpay-Timestamp: outside "
					 "the accepted window" :
					 "signature verification failed");
		if (rc != -ESTALE)
			return rc;
		/* WeChat Pay's, but old: read on only to name the order in
		 * the refusal, which stays -ESTALE. */
		snprintf(stale, sizeof(stale), "%s", err);
	}
	root = parse_object(in->body ? in->body : "", in->body_len,
			    "callback body", err, errlen);
	if (!root) {
		rc = -EPROTO;
		goto out;
	}
	rc = jstr(root, "event_type", 1, &event, err, errlen);
	if (rc == 0)
		rc = jstr(root, "resource_type", 0, &rtype, err, errlen);
	if (rc < 0)
		goto out;
	if (rtype && strcmp(rtype, "encrypt-resource") != 0) {
		snprintf(err, errlen, "unsupported resource_type");
		rc = -EPROTO;
		goto out;
	}
	res = json_object_get(root, "resource");
	if (!json_is_object(res)) {
		snprintf(err, errlen, "callback has no resource object");
		rc = -EPROTO;
		goto out;
	}
	rc = decrypt_resource(st, res, &plain, err, errlen);
	if (rc < 0)
		goto out;
	rc = check_same(plain, "mchid", st->mch_id, err, errlen);
	if (rc < 0)
		goto out;
	snprintf(out->sub_code, sizeof(out->sub_code), "%s", event);
	if (strncmp(event, "TRANSACTION.", 12) == 0) {
		rc = notify_payment(plain, out, err, errlen);
	} else if (strncmp(event, "REFUND.", 7) == 0) {
		rc = notify_refund(plain, out, err, errlen);
	} else if (strncmp(event, "MCHTRANSFER.", 12) == 0) {
		rc = notify_payout(plain, out, err, errlen);
	} else {
		snprintf(err, errlen, "unsupported event_type");
		rc = -EPROTO;
	}
out:
	json_decref(plain);
	json_decref(root);
	if (stale[0]) {
		snprintf(err, errlen, "%s", stale);
		return -ESTALE;
	}
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Default result codes                                                     */
/* ------------------------------------------------------------------------ */

/* clang-format off */
/* The variadic outer macros let a message pair come from one macro. */
#define ROW(...) ROW_(__VA_ARGS__)
#define ROW_(op, code, sub, uni, eff, retry, cat, en, zh)                      \
	{ op, code, sub, uni, PAYROUTE_EFFECT_##eff, retry,                    \
	  PAYROUTE_CAT_##cat, en, zh }

/* A refusal of the call itself: the operations that create something fail
 * (no money moved), the follow-up ones leave the order as it was. */
#define CALL_ERROR(...) CALL_ERROR_(__VA_ARGS__)
#define CALL_ERROR_(code, uni, retry, cat, en, zh)                             \
	ROW("pay", code, "*", uni, FAILED, retry, cat, en, zh),                \
	ROW("refund", code, "*", uni, FAILED, 0, cat, en, zh),                 \
	ROW("payout", code, "*", uni, FAILED, retry, cat, en, zh),             \
	ROW("query", code, "*", uni, UNKNOWN, 0, cat, en, zh),                 \
	ROW("close", code, "*", uni, UNKNOWN, 0, cat, en, zh),                 \
	ROW("refund_query", code, "*", uni, UNKNOWN, 0, cat, en, zh),          \
	ROW("payout_query", code, "*", uni, UNKNOWN, 0, cat, en, zh)

/* Refund states, as answered by refund and refund_query (HTTP 200). */
#define REFUND_STATES(op)                                                      \
	ROW(op, "200", "SUCCESS", "SUCCESS", SUCCESS, 0, NONE,                 \
	    "Refund succeeded.", "退款成功。"),                                \
	ROW(op, "200", "PROCESSING", "PROCESSING", PROCESSING, 0, NONE,        \
	    MSG_REFUND_PROCESSING),                                            \
	ROW(op, "200", "ABNORMAL", "ACCOUNT_CLOSED", FAILED, 0, USER,          \
	    MSG_REFUND_ABNORMAL),                                              \
	ROW(op, "200", "CLOSED", "REFUND_CLOSED", CLOSED, 0, NONE,             \
	    "The refund has been closed.", "退款已关闭。")

/* Transfer states (商家转账到零钱, /v3/transfer/batches), as answered by
 * payout (batch_status) and payout_query (our detail's detail_status, else
 * batch_status): detail SUCCESS / FAIL / INIT / WAIT_PAY / PROCESSING,
 * batch ACCEPTED / PROCESSING / WAIT_PAY / CLOSED. A FINISHED batch without
 * our detail says nothing about it and stays unmapped. The remaining rows
 * are the states of the newer transfer-bills API, kept for channels whose
 * answers use them. */
#define TRANSFER_STATES(op)                                                    \
	ROW(op, "200", "SUCCESS", "SUCCESS", SUCCESS, 0, NONE,                 \
	    "Withdrawal succeeded.", "提现成功。"),                            \
	ROW(op, "200", "INIT", "PROCESSING", PROCESSING, 0, NONE,              \
	    MSG_PAYOUT_PROCESSING),                                            \
	ROW(op, "200", "WAIT_PAY", "PROCESSING", PROCESSING, 0, NONE,          \
	    MSG_PAYOUT_PROCESSING),                                            \
	ROW(op, "200", "CLOSED", "ORDER_CLOSED", CLOSED, 0, NONE,              \
	    "The withdrawal has been cancelled.", "提现已撤销。"),             \
	ROW(op, "200", "ACCEPTED", "PROCESSING", PROCESSING, 0, NONE,          \
	    MSG_PAYOUT_PROCESSING),                                            \
	ROW(op, "200", "PROCESSING", "PROCESSING", PROCESSING, 0, NONE,        \
	    MSG_PAYOUT_PROCESSING),                                            \
	ROW(op, "200", "TRANSFERING", "PROCESSING", PROCESSING, 0, NONE,       \
	    MSG_PAYOUT_PROCESSING),                                            \
	ROW(op, "200", "WAIT_USER_CONFIRM", "PROCESSING", PROCESSING, 0, USER, \
	    "Waiting for the payee to confirm the transfer.",                  \
	    "等待收款人确认收款。"),                                           \
	ROW(op, "200", "CANCELING", "PROCESSING", PROCESSING, 0, NONE,         \
	    MSG_PAYOUT_PROCESSING),                                            \
	ROW(op, "200", "FAIL", "PAYOUT_FAILED", FAILED, 0, CHANNEL,            \
	    "The withdrawal failed.", "提现失败。"),                           \
	ROW(op, "200", "CANCELLED", "ORDER_CLOSED", CLOSED, 0, NONE,           \
	    "The withdrawal has been cancelled.", "提现已撤销。")

#define MSG_CONFIG                                                             \
	"The payment channel is temporarily unavailable.",                     \
	"支付通道暂不可用。"
#define MSG_UNKNOWN                                                            \
	"The result is being confirmed; please check again later.",            \
	"结果确认中，请稍后查询。"
#define MSG_REJECTED                                                           \
	"The request was rejected by the payment channel.",                    \
	"请求被支付通道拒绝。"
#define MSG_REFUND_PROCESSING "The refund is being processed.", "退款处理中。"
#define MSG_REFUND_ABNORMAL                                                    \
	"The refund could not reach the payer's original card or account; "    \
	"the merchant will handle it.",                                        \
	"退款无法原路退回（卡已作废或冻结），商户将另行处理。"
#define MSG_PAYOUT_PROCESSING                                                  \
	"The withdrawal is being processed.", "提现处理中。"

/* ------------------------------------------------------------------------ */
/* Bills (ABI 1.3)                                                          */
/* ------------------------------------------------------------------------ */

/* GET /v3/bill/tradebill?bill_date=DAY&bill_type=ALL&tar_type=GZIP: the
 * trade bill (payments and refunds) is part 0; there is no other part. */
static int wechat_build_bill(void *state, const struct payroute_bill_req *req,
			     payroute_http_req *http, char *err, size_t errlen)
{
	struct wechat_state *st = state;
	char path[128];

	err[0] = '\0';
	if (!st || !req || !req->day || strlen(req->day) != 10 ||
	    strspn(req->day, "0123456789-") != 10) {
		snprintf(err, errlen, "bill: a day YYYY-MM-DD is needed");
		return -EINVAL;
	}
	if (req->part > 0)
		return -ENOENT;
	snprintf(path, sizeof(path),
		 "/v3/bill/tradebill?bill_date=%s&bill_type=ALL&tar_type=GZIP",
		 req->day);
	return send_signed(st, http, "GET", path, NULL, err, errlen);
}

/* The signed answer {hash_type, hash_value, download_url};
 * NO_STATEMENT_EXIST (no trade that day) is -ENOENT. */
static int wechat_parse_bill(void *state, const struct payroute_bill_req *req,
			     const struct payroute_http_response *resp,
			     struct payroute_bill_file *out, char *err,
			     size_t errlen)
{
	struct wechat_state *st = state;
	struct payroute_result res;
	const char *url = NULL, *alg = NULL, *hash = NULL;
	json_t *body = NULL;
	int rc;

	(void)req;
	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);
	rc = parse_answer(st, resp, &res, &body, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		snprintf(err, errlen, "bill: %s %s", res.code, res.message);
		return strcmp(res.code, "NO_STATEMENT_EXIST") == 0 ? -ENOENT
								   : -EPROTO;
	}
	rc = -EPROTO;
	if (!body) {
		snprintf(err, errlen, "bill: an empty answer");
		goto out;
	}
	if (jstr(body, "download_url", 1, &url, err, errlen) < 0 ||
	    jstr(body, "hash_type", 0, &alg, err, errlen) < 0 ||
	    jstr(body, "hash_value", 0, &hash, err, errlen) < 0)
		goto out;
	if (strncmp(url, st->api_base, strlen(st->api_base)) != 0 ||
	    url[strlen(st->api_base)] != '/' ||
	    strlen(url) >= sizeof(out->url)) {
		snprintf(err, errlen,
			 "bill: download_url is not under api_base");
		goto out;
	}
	if ((alg && strlen(alg) >= sizeof(out->hash_alg)) ||
	    (hash && strlen(hash) >= sizeof(out->hash_hex)) ||
	    (hash && *hash && (!alg || strcmp(alg, "SHA1") != 0))) {
		snprintf(err, errlen, "bill: an unusable hash_type/hash_value");
		goto out;
	}
	snprintf(out->url, sizeof(out->url), "%s", url);
	snprintf(out->hash_alg, sizeof(out->hash_alg), "%s", alg ? alg : "");
	snprintf(out->hash_hex, sizeof(out->hash_hex), "%s",
		 hash ? hash : "");
	rc = 0;
out:
	json_decref(body);
	return rc;
}

/* The download is signed like any call (its URL is under api_base). */
static int wechat_build_bill_download(void *state,
				      const struct payroute_bill_req *req,
				      const struct payroute_bill_file *file,
				      payroute_http_req *http, char *err,
				      size_t errlen)
{
	struct wechat_state *st = state;
	size_t n = strlen(st->api_base);

	(void)req;
	err[0] = '\0';
	if (strncmp(file->url, st->api_base, n) != 0 || file->url[n] != '/') {
		snprintf(err, errlen, "bill: the URL is not under api_base");
		return -EINVAL;
	}
	return send_signed(st, http, "GET", file->url + n, NULL, err, errlen);
}

static int wechat_bill_open_op(void *state, const struct payroute_bill_req *req,
			       const struct payroute_bill_file *file, int fd,
			       void **cursor, char *err, size_t errlen)
{
	struct wechat_state *st = state;
	struct wechat_bill *b;
	int rc;

	(void)req;
	rc = wechat_bill_open(st->svc, file->hash_alg, file->hash_hex, fd, &b,
			      err, errlen);
	*cursor = rc == 0 ? b : NULL;
	return rc;
}

static int wechat_bill_next_op(void *cursor, struct payroute_bill_row *row,
			       char *err, size_t errlen)
{
	return wechat_bill_next(cursor, row, err, errlen);
}

static void wechat_bill_close_op(void *cursor)
{
	wechat_bill_close(cursor);
}

static const struct payroute_code_entry wechat_codes[] = {
	/* --- outcomes of any call ----------------------------------------- */
	ROW("*", "SYSTEM_ERROR", "*", "UNKNOWN", UNKNOWN, 0, SYSTEM,
	    MSG_UNKNOWN),
	/* The spelling some v3 APIs (the prepay ones) use. */
	ROW("*", "SYSTEMERROR", "*", "UNKNOWN", UNKNOWN, 0, SYSTEM,
	    MSG_UNKNOWN),
	ROW("*", "BANKERROR", "*", "UNKNOWN", UNKNOWN, 0, SYSTEM,
	    MSG_UNKNOWN),

	/* --- WeChat Pay refused the call ---------------------------------- */
	CALL_ERROR("FREQUENCY_LIMITED", "RATE_LIMITED", 1, SYSTEM,
		   "The payment channel is busy; please try again later.",
		   "支付通道繁忙，请稍后再试。"),
	CALL_ERROR("SIGN_ERROR", "SIGNATURE_ERROR", 1, CHANNEL, MSG_CONFIG),
	CALL_ERROR("NO_AUTH", "CHANNEL_CONFIG_ERROR", 1, CHANNEL, MSG_CONFIG),
	CALL_ERROR("APPID_MCHID_NOT_MATCH", "CHANNEL_CONFIG_ERROR", 1, CHANNEL,
		   MSG_CONFIG),
	CALL_ERROR("MCH_NOT_EXISTS", "CHANNEL_CONFIG_ERROR", 1, CHANNEL,
		   MSG_CONFIG),
	CALL_ERROR("PARAM_ERROR", "PARAM_INVALID", 0, CHANNEL, MSG_REJECTED),
	CALL_ERROR("INVALID_REQUEST", "PARAM_INVALID", 0, CHANNEL,
		   MSG_REJECTED),

	/* --- pay (JSAPI / Native / H5 / App prepay) ----------------------- */
	ROW("pay", "200", "*", "PROCESSING", PROCESSING, 0, NONE,
	    "Waiting for the payer to complete the payment.",
	    "等待付款方完成支付。"),
	ROW("pay", "ORDERPAID", "*", "ALREADY_PAID", UNKNOWN, 0, NONE,
	    "This order has already been paid.", "该订单已支付。"),
	ROW("pay", "ORDER_CLOSED", "*", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
	ROW("pay", "OUT_TRADE_NO_USED", "*", "ORDER_CONFLICT", UNKNOWN, 0,
	    CHANNEL, "An order with this number but different details exists.",
	    "订单号重复且订单信息不一致。"),
	ROW("pay", "NOTENOUGH", "*", "INSUFFICIENT_BALANCE", FAILED, 0, USER,
	    "Insufficient balance; please use another payment method.",
	    "余额不足，请更换付款方式。"),

	/* --- query (trade_state in sub_code) ------------------------------ */
	ROW("query", "200", "SUCCESS", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	/* Paid, then (partly) refunded: the payment itself succeeded. */
	ROW("query", "200", "REFUND", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("query", "200", "NOTPAY", "PROCESSING", PROCESSING, 0, NONE,
	    "Waiting for the payer to complete the payment.",
	    "等待付款方完成支付。"),
	ROW("query", "200", "USERPAYING", "USER_PAYING", PROCESSING, 0, USER,
	    "Waiting for the payer to confirm the payment.",
	    "等待用户确认支付。"),
	ROW("query", "200", "ACCEPT", "PROCESSING", PROCESSING, 0, NONE,
	    "The payment is being processed.", "支付处理中。"),
	ROW("query", "200", "CLOSED", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
	ROW("query", "200", "REVOKED", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been cancelled.", "订单已撤销。"),
	ROW("query", "200", "PAYERROR", "PAYMENT_FAILED", FAILED, 0, USER,
	    "The payment failed; please try another payment method.",
	    "支付失败，请更换付款方式。"),
	ROW("query", "ORDER_NOT_EXIST", "*", "ORDER_NOT_EXIST", UNKNOWN, 0,
	    NONE, MSG_UNKNOWN),

	/* --- close -------------------------------------------------------- */
	ROW("close", "204", "*", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
	ROW("close", "ORDER_CLOSED", "*", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
	/* Too late to close: the payer paid; the query will confirm. */
	ROW("close", "ORDERPAID", "*", "ALREADY_PAID", UNKNOWN, 0, NONE,
	    "This order has already been paid.", "该订单已支付。"),
	ROW("close", "ORDER_NOT_EXIST", "*", "ORDER_NOT_EXIST", UNKNOWN, 0,
	    NONE, MSG_UNKNOWN),

	/* --- refund / refund_query (status in sub_code) ------------------- */
	REFUND_STATES("refund"),
	REFUND_STATES("refund_query"),
	ROW("refund", "NOT_ENOUGH", "*", "MERCHANT_BALANCE_INSUFFICIENT",
	    FAILED, 0, CHANNEL,
	    "The refund cannot be made right now; it will be handled by the "
	    "merchant.",
	    "暂时无法退款，商户将尽快处理。"),
	ROW("refund", "USER_ACCOUNT_ABNORMAL", "*", "ACCOUNT_CLOSED", FAILED,
	    0, USER, MSG_REFUND_ABNORMAL),
	ROW("refund", "ORDER_NOT_EXIST", "*", "ORDER_NOT_EXIST", FAILED, 0,
	    CHANNEL, "The original payment was not found.",
	    "原支付交易不存在。"),
	ROW("refund", "RESOURCE_NOT_EXISTS", "*", "ORDER_NOT_EXIST", FAILED,
	    0, CHANNEL, "The original payment was not found.",
	    "原支付交易不存在。"),
	ROW("refund_query", "RESOURCE_NOT_EXISTS", "*", "ORDER_NOT_EXIST",
	    UNKNOWN, 0, NONE, MSG_UNKNOWN),

	/* --- payout / payout_query (state in sub_code) -------------------- */
	TRANSFER_STATES("payout"),
	TRANSFER_STATES("payout_query"),
	ROW("payout", "NOT_ENOUGH", "*", "MERCHANT_BALANCE_INSUFFICIENT",
	    FAILED, 1, CHANNEL, "The withdrawal cannot be made right now.",
	    "暂时无法提现。"),
	ROW("payout", "QUOTA_EXCEED", "*", "AMOUNT_LIMIT_EXCEEDED", FAILED, 1, LIMIT,
	    "The withdrawal exceeds the channel's limit.",
	    "提现超出通道限额。"),
	ROW("payout_query", "RESOURCE_NOT_EXISTS", "*", "ORDER_NOT_EXIST",
	    UNKNOWN, 0, NONE, MSG_UNKNOWN),
	ROW("payout_query", "NOT_FOUND", "*", "ORDER_NOT_EXIST", UNKNOWN, 0,
	    NONE, MSG_UNKNOWN),

	/* --- notify (trade_state / refund_status / batch_status in code,
	 *     event_type in sub_code) ------------------------------------- */
	ROW("notify", "SUCCESS", "REFUND.SUCCESS", "SUCCESS", SUCCESS, 0, NONE,
	    "Refund succeeded.", "退款成功。"),
	ROW("notify", "SUCCESS", "*", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("notify", "CLOSED", "*", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
	ROW("notify", "ABNORMAL", "*", "ACCOUNT_CLOSED", FAILED, 0, USER,
	    MSG_REFUND_ABNORMAL),
};
/* clang-format on */

static const struct payroute_code_entry *
wechat_default_codes(size_t *n, size_t *entry_size)
{
	*n = sizeof(wechat_codes) / sizeof(wechat_codes[0]);
	*entry_size = sizeof(struct payroute_code_entry);
	return wechat_codes;
}

/* The driver config, as the core checks it before init (ABI 1.2). */
static const struct payroute_config_key wechat_keys[] = {
	{ "mch_id", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the merchant id (mchid)" },
	{ "appid", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the app or official account id bound to the merchant" },
	{ "api_base", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "API base URL, e.g. https://api.mch.weixin.qq.com" },
	{ "merchant_private_key", PAYROUTE_CONFIG_PEM,
	  PAYROUTE_CONFIG_REQUIRED | PAYROUTE_CONFIG_SECRET, NULL,
	  "the merchant API certificate's RSA private key (signs requests)" },
	{ "merchant_serial_no", PAYROUTE_CONFIG_STRING,
	  PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the merchant API certificate's serial number (hex)" },
	{ "platform_public_key", PAYROUTE_CONFIG_PEM, PAYROUTE_CONFIG_REQUIRED,
	  NULL,
	  "WeChat Pay's platform public key or certificate (verifies answers "
	  "and callbacks)" },
	{ "platform_serial_no", PAYROUTE_CONFIG_STRING,
	  PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the platform certificate's serial number (Wechatpay-Serial)" },
	{ "apiv3_key", PAYROUTE_CONFIG_STRING,
	  PAYROUTE_CONFIG_REQUIRED | PAYROUTE_CONFIG_SECRET, NULL,
	  "the APIv3 key, exactly 32 characters (decrypts callbacks)" },
};

static const struct payroute_config_key *wechat_config_keys(size_t *n,
							    size_t *entry_size)
{
	*n = sizeof(wechat_keys) / sizeof(wechat_keys[0]);
	*entry_size = sizeof(struct payroute_config_key);
	return wechat_keys;
}

static const struct payroute_driver wechat_driver = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "wechat",
	.version = WECHAT_VERSION,
	.description = "WeChat Pay API v3: native, jsapi, mini program, h5 "
		       "and app orders, query, close, domestic refunds, "
		       "transfers to balance, trade bills",
	.init = wechat_init,
	.fini = wechat_fini,
	.build_pay = wechat_build_pay,
	.parse_pay = wechat_parse_pay,
	.build_query = wechat_build_query,
	.parse_query = wechat_parse_query,
	.build_close = wechat_build_close,
	.parse_close = wechat_parse_close,
	.build_refund = wechat_build_refund,
	.parse_refund = parse_refund_common,
	.build_refund_query = wechat_build_refund_query,
	.parse_refund_query = parse_refund_common,
	.build_payout = wechat_build_payout,
	.parse_payout = wechat_parse_payout,
	.build_payout_query = wechat_build_payout_query,
	.parse_payout_query = wechat_parse_payout_query,
	.parse_notify = wechat_parse_notify,
	.default_codes = wechat_default_codes,
	.config_keys = wechat_config_keys,
	.build_bill = wechat_build_bill,
	.parse_bill = wechat_parse_bill,
	.build_bill_download = wechat_build_bill_download,
	.bill_open = wechat_bill_open_op,
	.bill_next = wechat_bill_next_op,
	.bill_close = wechat_bill_close_op,
};

PAYROUTE_DRIVER_EXPORT(wechat_driver)
