/*
 * bank.c - the bank card channel driver, for a UnionPay online gateway
 * (China UnionPay's "ACP" full-channel gateway: form-encoded messages,
 * RSA-SHA256 signatures with a merchant signing certificate, respCode /
 * origRespCode result codes).
 *
 * At this stage the driver checks a channel's driver config, loads its keys
 * and ships the default result-code table; the protocol codecs (build_* /
 * parse_* / parse_notify) are scheduled for the drivers issue. Until then
 * every operation pointer is NULL, which the core answers with -ENOTSUP:
 * nothing here pretends to talk to a bank.
 *
 * Driver config (the channel's driver_config object):
 *   mer_id      required, the merchant id (merId)
 *   gateway     required, http:// or https:// base URL of the gateway
 *   sign_key    required, the merchant's RSA private signing key: PEM
 *               text or "@/path/key.pem"
 *   verify_key  required, the gateway's public key or verification
 *               certificate, PEM text or "@/path"
 *   cert_id     required, the serial number of the signing certificate
 *               (certId)
 *
 * Result codes. `code` is respCode. A respCode of 00 on a transaction
 * request (pay, refund, payout) only means the gateway accepted it: the
 * outcome comes by notification or query. On a status query (query,
 * refund_query, payout_query) a respCode of 00 means the query itself
 * worked, and the codecs put the original transaction's origRespCode in
 * sub_code: 00 / A6 success, 03 / 04 / 05 still unknown, anything else the
 * published failure it names. For notifications `code` is the notified
 * transaction's respCode and sub_code its txnType (01 consume, 04 refund,
 * 12 payout), so that a refund that failed on the card's state reads
 * "original route unavailable". Codes are published by UnionPay; a code missing
 * here is left unmapped on purpose (the core keeps the order unknown and
 * chases it, never guesses failure). Errors of a query call never move the
 * order; "retryable" (on another channel) is set only where the request was
 * refused before acceptance, so that certainly no money moved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payroute/driver.h>

#define BANK_MAX_ID 64

struct bank_state {
	const struct payroute_services *svc;
	char *channel;
	char *mer_id;
	char *gateway; /* without a trailing '/' */
	char *cert_id;
	payroute_key *sign_key;
	payroute_key *verify_key;
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

static void bank_fini(void *state)
{
	struct bank_state *st = state;

	if (!st)
		return;
	if (st->sign_key)
		st->svc->key_free(st->sign_key);
	if (st->verify_key)
		st->svc->key_free(st->verify_key);
	free(st->channel);
	free(st->mer_id);
	free(st->gateway);
	free(st->cert_id);
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
		rc = check_ident(key, v, BANK_MAX_ID, err, errlen);
	if (rc < 0)
		return rc;
	*out = strdup(v);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int bank_init(const struct payroute_services *svc, const char *channel,
		     const payroute_conf *conf, void **state, char *err,
		     size_t errlen)
{
	struct bank_state *st = NULL;
	const char *gateway;
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

	rc = conf_ident(svc, conf, "mer_id", &st->mer_id, err, errlen);
	if (rc < 0)
		goto fail;
	rc = conf_string(svc, conf, "gateway", 1, &gateway, err, errlen);
	if (rc == 0)
		rc = check_url("gateway", gateway, &plain, err, errlen);
	if (rc < 0)
		goto fail;
	st->gateway = strdup(gateway);
	if (!st->gateway) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	len = strlen(st->gateway);
	while (len > 0 && st->gateway[len - 1] == '/')
		st->gateway[--len] = '\0';
	rc = conf_ident(svc, conf, "cert_id", &st->cert_id, err, errlen);
	if (rc < 0)
		goto fail;

	rc = load_key(svc, conf, "sign_key", 1, &st->sign_key, err, errlen);
	if (rc < 0)
		goto fail;
	rc = load_key(svc, conf, "verify_key", 0, &st->verify_key, err, errlen);
	if (rc < 0)
		goto fail;

	if (svc->log) {
		if (plain)
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "bank: gateway %s is plain http (only for a "
				 "simulator)",
				 st->gateway);
		svc->log(
			PAYROUTE_LOG_INFO, st->channel,
			"bank: mer_id %s, gateway %s: keys loaded; protocol "
			"codecs not implemented yet, operations answer ENOTSUP",
			st->mer_id, st->gateway);
	}
	*state = st;
	return 0;

fail:
	bank_fini(st);
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

/* A code as respCode of a transaction request or notification (sub_code
 * "*"; AS_RESP0 where "retryable" has no meaning), as the respCode of a
 * refund's notification (sub_code "04", the refund txnType), or as
 * origRespCode of a query (code "00"). */
#define AS_RESP(...) AS_RESP_(__VA_ARGS__)
#define AS_RESP_(op, c, uni, eff, retry, cat, en, zh)                          \
	ROW(op, c, "*", uni, eff, retry, cat, en, zh)
#define AS_RESP0(...) AS_RESP0_(__VA_ARGS__)
#define AS_RESP0_(op, c, uni, eff, retry, cat, en, zh)                         \
	ROW(op, c, "*", uni, eff, 0, cat, en, zh)
#define AS_REFUND_NOTIFY(...) AS_REFUND_NOTIFY_(__VA_ARGS__)
#define AS_REFUND_NOTIFY_(op, c, uni, eff, retry, cat, en, zh)                 \
	ROW(op, c, "04", uni, eff, 0, cat, en, zh)
#define AS_ORIG(...) AS_ORIG_(__VA_ARGS__)
#define AS_ORIG_(op, c, uni, eff, retry, cat, en, zh)                          \
	ROW(op, "00", c, uni, eff, 0, cat, en, zh)

/* A refusal of the call itself: a transaction request fails (no money
 * moved), a query leaves the order as it was. */
#define CALL_ERROR(...) CALL_ERROR_(__VA_ARGS__)
#define CALL_ERROR_(code, uni, retry, cat, en, zh)                             \
	ROW("pay", code, "*", uni, FAILED, retry, cat, en, zh),                \
	ROW("refund", code, "*", uni, FAILED, 0, cat, en, zh),                 \
	ROW("payout", code, "*", uni, FAILED, retry, cat, en, zh),             \
	ROW("close", code, "*", uni, UNKNOWN, 0, cat, en, zh),                 \
	ROW("query", code, "*", uni, UNKNOWN, 0, cat, en, zh),                 \
	ROW("refund_query", code, "*", uni, UNKNOWN, 0, cat, en, zh),          \
	ROW("payout_query", code, "*", uni, UNKNOWN, 0, cat, en, zh)

#define MSG_CONFIG                                                             \
	"The payment channel is temporarily unavailable.",                     \
	"支付通道暂不可用。"
#define MSG_UNKNOWN                                                            \
	"The result is being confirmed; please check again later.",            \
	"结果确认中，请稍后查询。"
#define MSG_REJECTED                                                           \
	"The request was rejected by the payment channel.",                    \
	"请求被支付通道拒绝。"
#define MSG_DECLINED                                                           \
	"The card was declined; please contact your bank or use another "      \
	"card.",                                                               \
	"交易未通过，请联系发卡行或更换银行卡。"
#define MSG_VERIFY                                                             \
	"The card details, password or verification code are incorrect.",      \
	"卡信息、密码或验证码有误。"
#define MSG_ROUTE                                                              \
	"The refund cannot go back to the original card; the merchant will "   \
	"handle it.",                                                          \
	"原卡无法接收退款，商户将另行处理。"

/* The outcomes of a transaction (as its respCode in a notification, or as
 * origRespCode in a query), except 00 / A6 and the card-state codes whose
 * meaning depends on the operation. R is AS_RESP, AS_RESP0 or AS_ORIG. */
#define TXN_OUTCOMES(R, op)                                                    \
	R(op, "03", "UNKNOWN", UNKNOWN, 0, SYSTEM, MSG_UNKNOWN),               \
	R(op, "04", "UNKNOWN", UNKNOWN, 0, SYSTEM, MSG_UNKNOWN),               \
	R(op, "05", "PROCESSING", PROCESSING, 0, NONE,                         \
	  "The transaction is being processed.", "交易处理中。"),              \
	R(op, "01", "PAYMENT_FAILED", FAILED, 0, CHANNEL,                      \
	  "The transaction failed.", "交易失败。"),                            \
	R(op, "30", "CARD_DECLINED", FAILED, 0, USER, MSG_DECLINED),           \
	R(op, "31", "CHANNEL_CONFIG_ERROR", FAILED, 1, CHANNEL, MSG_CONFIG),   \
	R(op, "32", "CHANNEL_CONFIG_ERROR", FAILED, 1, CHANNEL, MSG_CONFIG),   \
	R(op, "33", "AMOUNT_LIMIT_EXCEEDED", FAILED, 1, LIMIT,                 \
	  "The amount exceeds the limit.", "交易金额超限。"),                  \
	R(op, "38", "RISK_REJECTED", FAILED, 0, RISK,                          \
	  "The transaction was declined by risk control.",                     \
	  "交易被风险控制拒绝。"),                                             \
	R(op, "39", "CHANNEL_UNAVAILABLE", FAILED, 1, CHANNEL,                 \
	  "The channel does not accept transactions at this time.",            \
	  "当前时间不受理该交易。"),                                           \
	R(op, "40", "CARD_VERIFICATION_FAILED", FAILED, 0, USER,               \
	  "The card binding could not be verified.",                           \
	  "银行卡绑定关系校验失败。"),                                         \
	R(op, "42", "UNKNOWN", UNKNOWN, 0, CHANNEL,                            \
	  "The card was charged after the payment time limit; the "            \
	  "merchant will check it.",                                           \
	  "扣款成功但超过规定支付时间，商户将核实处理。"),                     \
	R(op, "43", "CHANNEL_CONFIG_ERROR", FAILED, 1, CHANNEL, MSG_CONFIG),   \
	R(op, "44", "CARD_NOT_SUPPORTED", FAILED, 1, USER,                     \
	  "This card is not enabled for this service.",                        \
	  "卡号有误或该卡暂未开通此项业务。"),                                 \
	R(op, "60", "CARD_DECLINED", FAILED, 0, USER, MSG_DECLINED),           \
	R(op, "62", "CARD_NOT_SUPPORTED", FAILED, 1, USER,                     \
	  "The card's bank does not support this merchant; please use "        \
	  "another card.",                                                     \
	  "发卡银行不支持该商户，请更换银行卡。"),                             \
	R(op, "64", "INSUFFICIENT_BALANCE", FAILED, 0, USER,                   \
	  "Insufficient card balance.", "卡上余额不足。"),                     \
	R(op, "65", "CARD_VERIFICATION_FAILED", FAILED, 0, USER, MSG_VERIFY),  \
	R(op, "66", "CARD_VERIFICATION_FAILED", FAILED, 0, USER,               \
	  "The cardholder's identity or phone number is incorrect.",           \
	  "持卡人身份信息或手机号不正确。"),                                   \
	R(op, "67", "CARD_VERIFICATION_FAILED", FAILED, 0, USER,               \
	  "Too many wrong password attempts.", "密码输入次数超限。"),          \
	R(op, "68", "CARD_NOT_SUPPORTED", FAILED, 1, USER,                     \
	  "This card does not support this service.",                          \
	  "该银行卡暂不支持此业务。"),                                         \
	R(op, "69", "PAYMENT_TIMEOUT", FAILED, 0, USER,                        \
	  "The input timed out; the transaction failed.",                      \
	  "输入超时，交易失败。"),                                             \
	R(op, "70", "USER_PAYING", PROCESSING, 0, USER,                        \
	  "Waiting for the cardholder's input.", "等待持卡人输入。"),          \
	R(op, "71", "CARD_VERIFICATION_FAILED", FAILED, 0, USER, MSG_VERIFY),  \
	R(op, "77", "CARD_NOT_SUPPORTED", FAILED, 1, USER,                     \
	  "This card is not enabled for online payment.",                      \
	  "银行卡未开通认证支付。"),                                           \
	R(op, "78", "CARD_DECLINED", FAILED, 0, USER,                          \
	  "The card's bank restricts this transaction.",                       \
	  "发卡行交易权限受限。"),                                             \
	R(op, "83", "PROCESSING", PROCESSING, 0, NONE,                         \
	  "The card's bank is processing the transaction.",                    \
	  "发卡行处理中。")

/* Card-state codes. On a payment or payout the card is unusable
 * (CARD_STATE, with the unified code given); on a refund the original
 * route is gone (CARD_ROUTE: ACCOUNT_CLOSED, the refund goes to the overdue
 * queue). */
#define CARD_STATE(R, op, uni)                                                 \
	R(op, "61", uni, FAILED, 0, USER, "The card number is invalid.",       \
	  "卡号无效。"),                                                       \
	R(op, "63", uni, FAILED, 0, USER,                                      \
	  "The card's status does not allow this transaction.",                \
	  "卡状态不正确。"),                                                   \
	R(op, "73", uni, FAILED, 0, USER, "The card has expired.",             \
	  "银行卡已过有效期。")
#define CARD_ROUTE(R, op)                                                      \
	R(op, "61", "ACCOUNT_CLOSED", FAILED, 0, USER, MSG_ROUTE),             \
	R(op, "63", "ACCOUNT_CLOSED", FAILED, 0, USER, MSG_ROUTE),             \
	R(op, "73", "ACCOUNT_CLOSED", FAILED, 0, USER, MSG_ROUTE)

static const struct payroute_code_entry bank_codes[] = {
	/* --- the gateway refused the call --------------------------------- */
	CALL_ERROR("02", "SYSTEM_BUSY", 1, SYSTEM,
		   "The payment channel is temporarily closed; please try "
		   "again later.",
		   "支付通道暂时关闭，请稍后再试。"),
	CALL_ERROR("06", "SYSTEM_BUSY", 1, SYSTEM,
		   "The payment channel is busy; please try again later.",
		   "支付通道繁忙，请稍后再试。"),
	CALL_ERROR("10", "PARAM_INVALID", 0, CHANNEL, MSG_REJECTED),
	CALL_ERROR("11", "SIGNATURE_ERROR", 1, CHANNEL, MSG_CONFIG),
	CALL_ERROR("13", "PARAM_INVALID", 0, CHANNEL, MSG_REJECTED),
	CALL_ERROR("37", "RATE_LIMITED", 1, SYSTEM,
		   "Too many requests; please try again later.",
		   "操作过于频繁，请稍后再试。"),

	/* --- pay / refund / payout: respCode of the request --------------- */
	ROW("pay", "00", "*", "PROCESSING", PROCESSING, 0, NONE,
	    "The payment is being processed.", "支付处理中。"),
	ROW("refund", "00", "*", "PROCESSING", PROCESSING, 0, NONE,
	    "The refund is being processed.", "退款处理中。"),
	ROW("payout", "00", "*", "PROCESSING", PROCESSING, 0, NONE,
	    "The withdrawal is being processed.", "提现处理中。"),
	/* Same orderId again: the first attempt may have gone through. */
	ROW("pay", "12", "*", "ORDER_CONFLICT", UNKNOWN, 0, CHANNEL,
	    MSG_UNKNOWN),
	ROW("refund", "12", "*", "ORDER_CONFLICT", UNKNOWN, 0, CHANNEL,
	    MSG_UNKNOWN),
	ROW("payout", "12", "*", "ORDER_CONFLICT", UNKNOWN, 0, CHANNEL,
	    MSG_UNKNOWN),
	TXN_OUTCOMES(AS_RESP, "pay"),
	CARD_STATE(AS_RESP, "pay", "CARD_INVALID"),
	TXN_OUTCOMES(AS_RESP, "payout"),
	CARD_STATE(AS_RESP, "payout", "PAYEE_INVALID"),
	TXN_OUTCOMES(AS_RESP0, "refund"),
	CARD_ROUTE(AS_RESP0, "refund"),
	ROW("refund", "35", "*", "REFUND_NOT_ALLOWED", FAILED, 0, NONE,
	    "The original payment does not exist or cannot be refunded.",
	    "原交易不存在或状态不允许退款。"),
	ROW("refund", "36", "*", "REFUND_AMOUNT_INVALID", FAILED, 0, NONE,
	    "The refund does not match the original payment.",
	    "退款信息与原交易不符。"),
	ROW("refund", "45", "*", "REFUND_NOT_ALLOWED", FAILED, 0, NONE,
	    "The original payment has already been refunded or cancelled.",
	    "原交易已被退货或撤销。"),

	/* --- status queries: respCode 00, origRespCode in sub_code -------- */
	ROW("query", "00", "00", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("query", "00", "A6", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	TXN_OUTCOMES(AS_ORIG, "query"),
	CARD_STATE(AS_ORIG, "query", "CARD_INVALID"),
	ROW("refund_query", "00", "00", "SUCCESS", SUCCESS, 0, NONE,
	    "Refund succeeded.", "退款成功。"),
	ROW("refund_query", "00", "A6", "SUCCESS", SUCCESS, 0, NONE,
	    "Refund succeeded.", "退款成功。"),
	TXN_OUTCOMES(AS_ORIG, "refund_query"),
	CARD_ROUTE(AS_ORIG, "refund_query"),
	ROW("payout_query", "00", "00", "SUCCESS", SUCCESS, 0, NONE,
	    "Withdrawal succeeded.", "提现成功。"),
	ROW("payout_query", "00", "A6", "SUCCESS", SUCCESS, 0, NONE,
	    "Withdrawal succeeded.", "提现成功。"),
	TXN_OUTCOMES(AS_ORIG, "payout_query"),
	CARD_STATE(AS_ORIG, "payout_query", "PAYEE_INVALID"),
	/* The query did not find the transaction (yet). */
	ROW("query", "34", "*", "ORDER_NOT_EXIST", UNKNOWN, 0, NONE,
	    MSG_UNKNOWN),
	ROW("refund_query", "34", "*", "ORDER_NOT_EXIST", UNKNOWN, 0, NONE,
	    MSG_UNKNOWN),
	ROW("payout_query", "34", "*", "ORDER_NOT_EXIST", UNKNOWN, 0, NONE,
	    MSG_UNKNOWN),

	/* --- notify: the notified transaction's respCode, txnType --------- */
	ROW("notify", "00", "*", "SUCCESS", SUCCESS, 0, NONE,
	    "The transaction succeeded.", "交易成功。"),
	ROW("notify", "A6", "*", "SUCCESS", SUCCESS, 0, NONE,
	    "The transaction succeeded.", "交易成功。"),
	CARD_ROUTE(AS_REFUND_NOTIFY, "notify"),
	TXN_OUTCOMES(AS_RESP0, "notify"),
	CARD_STATE(AS_RESP0, "notify", "CARD_INVALID"),
};
/* clang-format on */

static const struct payroute_code_entry *bank_default_codes(size_t *n,
							    size_t *entry_size)
{
	*n = sizeof(bank_codes) / sizeof(bank_codes[0]);
	*entry_size = sizeof(struct payroute_code_entry);
	return bank_codes;
}

static const struct payroute_driver bank_driver = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "bank",
	.version = "0.1.0",
	.description = "Bank cards over a UnionPay online gateway: config and "
		       "key checks and the default code table; protocol "
		       "codecs not implemented yet",
	.init = bank_init,
	.fini = bank_fini,
	/* build_* / parse_* / parse_notify: NULL until the codecs land. */
	.default_codes = bank_default_codes,
};

PAYROUTE_DRIVER_EXPORT(bank_driver)
