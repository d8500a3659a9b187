/*
 * wechat.c - the WeChat Pay channel driver (WeChat Pay API v3: JSON over
 * HTTPS, WECHATPAY2-SHA256-RSA2048 signatures, AES-256-GCM encrypted
 * notification resources).
 *
 * At this stage the driver checks a channel's driver config, loads its keys
 * and ships the default result-code table; the protocol codecs (build_* /
 * parse_* / parse_notify) are scheduled for the drivers issue. Until then
 * every operation pointer is NULL, which the core answers with -ENOTSUP:
 * nothing here pretends to talk to WeChat Pay.
 *
 * Driver config (the channel's driver_config object):
 *   mch_id                required, the merchant id (mchid)
 *   appid                 required, the app / official account id
 *   api_base              required, http:// or https:// base URL, e.g.
 *                         https://api.mch.weixin.qq.com
 *   merchant_private_key  required, the merchant API certificate's RSA
 *                         private key: PEM text or "@/path/key.pem"
 *   merchant_serial_no    required, that certificate's serial number
 *   platform_public_key   required, WeChat Pay's platform public key or
 *                         certificate, PEM text or "@/path"
 *   platform_serial_no    required, its serial number (Wechatpay-Serial)
 *   apiv3_key             required, the APIv3 key: exactly 32 characters
 *
 * Result codes. On a 2xx answer `code` is the HTTP status ("200", "204")
 * and `sub_code` the state the body carries: trade_state for query, the
 * refund status for refund / refund_query, the transfer state for payout /
 * payout_query. On an error answer `code` is the JSON error code
 * (ORDERPAID, SYSTEM_ERROR...). For notifications `code` is trade_state
 * (payments) or refund_status (refunds). Rows are listed most specific
 * first. A code missing here is left unmapped on purpose: the core keeps the
 * order unknown and chases it. Errors of a query or close call never move
 * the order (effect unknown); "retryable" (on another channel) is set only
 * where WeChat Pay refused the request before accepting it, so that
 * certainly no money moved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payroute/driver.h>

#define WECHAT_MAX_ID 64
#define WECHAT_APIV3_KEY_LEN 32

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

/* Reads the string option `key`. A missing required option, a value of
 * another type or an empty string is an error naming the key. Sets *out to
 * NULL when an optional option is missing. The string belongs to conf. */
static int conf_string(const struct payroute_services *svc,
		       const payroute_conf *conf, const char *key, int required,
		       const char **out, char *err, size_t errlen)
{
	const char *v = svc->conf_str(conf, key);
	int64_t ignored;

	*out = NULL;
	if (!v) {
		if (svc->conf_int(conf, key, &ignored) == -ENOENT) {
			if (!required)
				return 0;
			snprintf(err, errlen, "%s: required", key);
		} else {
			snprintf(err, errlen, "%s: must be a string", key);
		}
		return -EINVAL;
	}
	if (!*v) {
		snprintf(err, errlen, "%s: must not be empty", key);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* An identifier: printable ASCII without spaces, at most max bytes. */
static int check_ident(const char *key, const char *v, size_t max, char *err,
		       size_t errlen)
{
	size_t i, len = strlen(v);

	if (len > max) {
		snprintf(err, errlen, "%s: longer than %zu characters", key,
			 max);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)v[i] <= 0x20 ||
		    (unsigned char)v[i] >= 0x7f) {
			snprintf(err, errlen,
				 "%s: must be printable ASCII without spaces",
				 key);
			return -EINVAL;
		}
	}
	return 0;
}

/* An absolute http:// or https:// URL with a host. Sets *plain when the
 * scheme is http. */
static int check_url(const char *key, const char *v, int *plain, char *err,
		     size_t errlen)
{
	const char *rest;
	size_t i;

	if (strncmp(v, "https://", 8) == 0) {
		rest = v + 8;
		*plain = 0;
	} else if (strncmp(v, "http://", 7) == 0) {
		rest = v + 7;
		*plain = 1;
	} else {
		snprintf(err, errlen, "%s: must be an http:// or https:// URL",
			 key);
		return -EINVAL;
	}
	if (!*rest || *rest == '/' || *rest == '?' || *rest == '#') {
		snprintf(err, errlen, "%s: URL has no host", key);
		return -EINVAL;
	}
	for (i = 0; v[i]; i++) {
		if ((unsigned char)v[i] <= 0x20 ||
		    (unsigned char)v[i] == 0x7f) {
			snprintf(
				err, errlen,
				"%s: URL contains a space or control character",
				key);
			return -EINVAL;
		}
	}
	return 0;
}

/* Loads the key named by option `key` through the core. */
static int load_key(const struct payroute_services *svc,
		    const payroute_conf *conf, const char *key, int is_private,
		    payroute_key **out, char *err, size_t errlen)
{
	const char *v;
	char kerr[256];
	int rc;

	rc = conf_string(svc, conf, key, 1, &v, err, errlen);
	if (rc < 0)
		return rc;
	kerr[0] = '\0';
	rc = svc->key_load(v, is_private, out, kerr, sizeof(kerr));
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot load: %s", key,
			 kerr[0] ? kerr : strerror(-rc));
		*out = NULL;
		return rc;
	}
	return 0;
}

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

/* Reads a required identifier option and keeps a copy in *out. */
static int conf_ident(const struct payroute_services *svc,
		      const payroute_conf *conf, const char *key, char **out,
		      char *err, size_t errlen)
{
	const char *v;
	int rc;

	rc = conf_string(svc, conf, key, 1, &v, err, errlen);
	if (rc == 0)
		rc = check_ident(key, v, WECHAT_MAX_ID, err, errlen);
	if (rc < 0)
		return rc;
	*out = strdup(v);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
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
	if (svc->abi_major != PAYROUTE_ABI_MAJOR ||
	    !PAYROUTE_HAS_FIELD(svc, struct payroute_services, random_bytes)) {
		snprintf(err, errlen, "services table ABI %u.%u is too old",
			 (unsigned)svc->abi_major, (unsigned)svc->abi_minor);
		return -ENOTSUP;
	}

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

	rc = conf_ident(svc, conf, "mch_id", &st->mch_id, err, errlen);
	if (rc == 0)
		rc = conf_ident(svc, conf, "appid", &st->appid, err, errlen);
	if (rc < 0)
		goto fail;

	rc = conf_string(svc, conf, "api_base", 1, &api_base, err, errlen);
	if (rc == 0)
		rc = check_url("api_base", api_base, &plain, err, errlen);
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

	rc = conf_ident(svc, conf, "merchant_serial_no",
			&st->merchant_serial_no, err, errlen);
	if (rc == 0)
		rc = conf_ident(svc, conf, "platform_serial_no",
				&st->platform_serial_no, err, errlen);
	if (rc < 0)
		goto fail;

	/* The APIv3 key is used as the 32 bytes of an AES-256 key. */
	rc = conf_string(svc, conf, "apiv3_key", 1, &apiv3_key, err, errlen);
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

	rc = load_key(svc, conf, "merchant_private_key", 1,
		      &st->merchant_private_key, err, errlen);
	if (rc < 0)
		goto fail;
	rc = load_key(svc, conf, "platform_public_key", 0,
		      &st->platform_public_key, err, errlen);
	if (rc < 0)
		goto fail;

	if (svc->log) {
		if (plain)
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "wechat: api_base %s is plain http (only for "
				 "a simulator)",
				 st->api_base);
		svc->log(PAYROUTE_LOG_INFO, st->channel,
			 "wechat: mch_id %s, appid %s, api_base %s: keys "
			 "loaded; protocol codecs not implemented yet, "
			 "operations answer ENOTSUP",
			 st->mch_id, st->appid, st->api_base);
	}
	*state = st;
	return 0;

fail:
	wechat_fini(st);
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

/* Transfer states (商家转账), as answered by payout and payout_query. */
#define TRANSFER_STATES(op)                                                    \
	ROW(op, "200", "SUCCESS", "SUCCESS", SUCCESS, 0, NONE,                 \
	    "Withdrawal succeeded.", "提现成功。"),                            \
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

static const struct payroute_code_entry wechat_codes[] = {
	/* --- outcomes of any call ----------------------------------------- */
	ROW("*", "SYSTEM_ERROR", "*", "UNKNOWN", UNKNOWN, 0, SYSTEM,
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
	ROW("payout_query", "RESOURCE_NOT_EXISTS", "*", "ORDER_NOT_EXIST",
	    UNKNOWN, 0, NONE, MSG_UNKNOWN),
	ROW("payout_query", "NOT_FOUND", "*", "ORDER_NOT_EXIST", UNKNOWN, 0,
	    NONE, MSG_UNKNOWN),

	/* --- notify (trade_state or refund_status in code) ---------------- */
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

static const struct payroute_driver wechat_driver = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "wechat",
	.version = "0.1.0",
	.description = "WeChat Pay (API v3): config and key checks and the "
		       "default code table; protocol codecs not implemented "
		       "yet",
	.init = wechat_init,
	.fini = wechat_fini,
	/* build_* / parse_* / parse_notify: NULL until the codecs land. */
	.default_codes = wechat_default_codes,
};

PAYROUTE_DRIVER_EXPORT(wechat_driver)
