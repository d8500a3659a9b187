/*
 * alipay.c - the Alipay channel driver (Alipay open platform, gateway
 * alipay.trade.* / alipay.fund.trans.*, RSA2 signatures).
 *
 * At this stage the driver checks a channel's driver config, loads its keys
 * and ships the default result-code table; the protocol codecs (build_* /
 * parse_* / parse_notify) are scheduled for the drivers issue. Until then
 * every operation pointer is NULL, which the core answers with -ENOTSUP:
 * nothing here pretends to talk to Alipay.
 *
 * Driver config (the channel's driver_config object):
 *   app_id             required, the open platform application id
 *   gateway            required, http:// or https:// URL of the gateway,
 *                      e.g. https://openapi.alipay.com/gateway.do
 *   app_private_key    required, the application's RSA private key: PEM
 *                      text or "@/path/key.pem"
 *   alipay_public_key  required, Alipay's RSA public key (or certificate),
 *                      PEM text or "@/path"
 *   sign_type          optional, "RSA2" (the only one supported)
 *
 * Result codes. `code` is the gateway's code (10000, 40004...) and
 * `sub_code` its sub_code (ACQ.TRADE_HAS_SUCCESS...). When the gateway
 * answers 10000 the codecs put the order's own status in sub_code:
 * trade_status for query (and TRADE_SUCCESS for a barcode payment that
 * completed at once), refund_status for refund_query, the transfer status
 * for payout / payout_query. For notifications `code` is trade_status.
 * Rows are listed most specific first. A code missing here is left
 * unmapped on purpose: the core keeps the order unknown and chases it.
 * Errors of a query or close call never move the order (effect unknown);
 * "retryable" (on another channel) is set only where the request was
 * refused before Alipay accepted it, so that certainly no money moved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payroute/driver.h>

#define ALIPAY_MAX_ID 64

struct alipay_state {
	const struct payroute_services *svc;
	char *channel;
	char *app_id;
	char *gateway;
	payroute_key *app_private_key;
	payroute_key *alipay_public_key;
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

static void alipay_fini(void *state)
{
	struct alipay_state *st = state;

	if (!st)
		return;
	if (st->app_private_key)
		st->svc->key_free(st->app_private_key);
	if (st->alipay_public_key)
		st->svc->key_free(st->alipay_public_key);
	free(st->channel);
	free(st->app_id);
	free(st->gateway);
	free(st);
}

static int alipay_init(const struct payroute_services *svc, const char *channel,
		       const payroute_conf *conf, void **state, char *err,
		       size_t errlen)
{
	struct alipay_state *st = NULL;
	const char *app_id, *gateway, *sign_type;
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

	rc = conf_string(svc, conf, "app_id", 1, &app_id, err, errlen);
	if (rc == 0)
		rc = check_ident("app_id", app_id, ALIPAY_MAX_ID, err, errlen);
	if (rc == 0)
		rc = conf_string(svc, conf, "gateway", 1, &gateway, err,
				 errlen);
	if (rc == 0)
		rc = check_url("gateway", gateway, &plain, err, errlen);
	if (rc == 0)
		rc = conf_string(svc, conf, "sign_type", 0, &sign_type, err,
				 errlen);
	if (rc == 0 && sign_type && strcmp(sign_type, "RSA2") != 0) {
		snprintf(err, errlen,
			 "sign_type: \"%s\" is not supported (only RSA2)",
			 sign_type);
		rc = -EINVAL;
	}
	if (rc < 0)
		return rc;

	st = calloc(1, sizeof(*st));
	if (!st)
		goto nomem;
	st->svc = svc;
	st->channel = strdup(channel ? channel : "");
	st->app_id = strdup(app_id);
	st->gateway = strdup(gateway);
	if (!st->channel || !st->app_id || !st->gateway)
		goto nomem;

	rc = load_key(svc, conf, "app_private_key", 1, &st->app_private_key,
		      err, errlen);
	if (rc < 0)
		goto fail;
	rc = load_key(svc, conf, "alipay_public_key", 0, &st->alipay_public_key,
		      err, errlen);
	if (rc < 0)
		goto fail;

	if (svc->log) {
		if (plain)
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "alipay: gateway %s is plain http (only for a "
				 "simulator)",
				 st->gateway);
		svc->log(
			PAYROUTE_LOG_INFO, st->channel,
			"alipay: app_id %s, gateway %s: keys loaded; protocol "
			"codecs not implemented yet, operations answer ENOTSUP",
			st->app_id, st->gateway);
	}
	*state = st;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
fail:
	alipay_fini(st);
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
#define CALL_ERROR_(code, sub, uni, retry, cat, en, zh)                        \
	ROW("pay", code, sub, uni, FAILED, retry, cat, en, zh),                \
	ROW("refund", code, sub, uni, FAILED, 0, cat, en, zh),                 \
	ROW("payout", code, sub, uni, FAILED, retry, cat, en, zh),             \
	ROW("query", code, sub, uni, UNKNOWN, 0, cat, en, zh),                 \
	ROW("close", code, sub, uni, UNKNOWN, 0, cat, en, zh),                 \
	ROW("refund_query", code, sub, uni, UNKNOWN, 0, cat, en, zh),          \
	ROW("payout_query", code, sub, uni, UNKNOWN, 0, cat, en, zh)

#define MSG_CONFIG                                                             \
	"The payment channel is temporarily unavailable.",                     \
	"支付通道暂不可用。"
#define MSG_UNKNOWN                                                            \
	"The result is being confirmed; please check again later.",            \
	"结果确认中，请稍后查询。"

static const struct payroute_code_entry alipay_codes[] = {
	/* --- outcomes of any call ----------------------------------------- */
	ROW("*", "10003", "*", "USER_PAYING", PROCESSING, 0, USER,
	    "Waiting for the payer to confirm the payment.",
	    "等待用户确认支付。"),
	ROW("*", "20000", "*", "UNKNOWN", UNKNOWN, 0, SYSTEM, MSG_UNKNOWN),
	ROW("*", "40004", "ACQ.SYSTEM_ERROR", "UNKNOWN", UNKNOWN, 0, SYSTEM,
	    MSG_UNKNOWN),
	ROW("*", "40004", "SYSTEM_ERROR", "UNKNOWN", UNKNOWN, 0, SYSTEM,
	    MSG_UNKNOWN),

	/* --- the gateway refused the call --------------------------------- */
	CALL_ERROR("20001", "*", "CHANNEL_CONFIG_ERROR", 1, CHANNEL,
		   MSG_CONFIG),
	CALL_ERROR("40001", "*", "PARAM_INVALID", 0, CHANNEL,
		   "The request was rejected by the payment channel.",
		   "请求被支付通道拒绝。"),
	CALL_ERROR("40002", "isv.invalid-signature", "SIGNATURE_ERROR", 1,
		   CHANNEL, MSG_CONFIG),
	CALL_ERROR("40002", "isv.invalid-signature-type",
		   "CHANNEL_CONFIG_ERROR", 1, CHANNEL, MSG_CONFIG),
	CALL_ERROR("40002", "isv.invalid-app-id", "CHANNEL_CONFIG_ERROR", 1,
		   CHANNEL, MSG_CONFIG),
	CALL_ERROR("40002", "*", "PARAM_INVALID", 0, CHANNEL,
		   "The request was rejected by the payment channel.",
		   "请求被支付通道拒绝。"),
	CALL_ERROR("40006", "*", "CHANNEL_CONFIG_ERROR", 1, CHANNEL,
		   MSG_CONFIG),
	CALL_ERROR("40004", "ACQ.ACCESS_FORBIDDEN", "CHANNEL_CONFIG_ERROR", 1,
		   CHANNEL, MSG_CONFIG),
	CALL_ERROR("40004", "ACQ.PARTNER_ERROR", "CHANNEL_CONFIG_ERROR", 1,
		   CHANNEL, MSG_CONFIG),
	CALL_ERROR("40004", "ACQ.INVALID_PARAMETER", "PARAM_INVALID", 0,
		   CHANNEL, "The request was rejected by the payment channel.",
		   "请求被支付通道拒绝。"),

	/* --- pay (trade.pay / precreate / wap / page / app) --------------- */
	ROW("pay", "10000", "TRADE_SUCCESS", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("pay", "10000", "*", "PROCESSING", PROCESSING, 0, NONE,
	    "Waiting for the payer to complete the payment.",
	    "等待付款方完成支付。"),
	ROW("pay", "40004", "ACQ.TRADE_HAS_SUCCESS", "ALREADY_PAID", UNKNOWN, 0,
	    NONE, "This order has already been paid.", "该订单已支付。"),
	ROW("pay", "40004", "ACQ.TRADE_HAS_CLOSE", "ORDER_CLOSED", CLOSED, 0,
	    NONE, "The order has been closed.", "订单已关闭。"),
	ROW("pay", "40004", "ACQ.CONTEXT_INCONSISTENT", "ORDER_CONFLICT",
	    UNKNOWN, 0, CHANNEL,
	    "An order with this number but different details exists.",
	    "订单号重复且订单信息不一致。"),
	ROW("pay", "40004", "ACQ.TOTAL_FEE_EXCEED", "AMOUNT_LIMIT_EXCEEDED",
	    FAILED, 1, LIMIT, "The amount exceeds the channel's limit.",
	    "订单金额超过通道限额。"),
	ROW("pay", "40004", "ACQ.BEYOND_PAY_RESTRICTION",
	    "AMOUNT_LIMIT_EXCEEDED", FAILED, 1, LIMIT,
	    "The amount exceeds the channel's limit.",
	    "订单金额超过通道限额。"),
	ROW("pay", "40004", "ACQ.BEYOND_PER_RECEIPT_RESTRICTION",
	    "AMOUNT_LIMIT_EXCEEDED", FAILED, 1, LIMIT,
	    "The amount exceeds the channel's limit.",
	    "订单金额超过通道限额。"),
	ROW("pay", "40004", "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR",
	    "AMOUNT_LIMIT_EXCEEDED", FAILED, 0, USER,
	    "The payer's daily payment limit has been reached.",
	    "付款方当日支付额度已用完。"),
	ROW("pay", "40004", "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR",
	    "AMOUNT_LIMIT_EXCEEDED", FAILED, 0, USER,
	    "The payer's monthly payment limit has been reached.",
	    "付款方当月支付额度已用完。"),
	ROW("pay", "40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH",
	    "INSUFFICIENT_BALANCE", FAILED, 0, USER,
	    "Insufficient balance; please use another payment method.",
	    "余额不足，请更换付款方式。"),
	ROW("pay", "40004", "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH",
	    "INSUFFICIENT_BALANCE", FAILED, 0, USER,
	    "Insufficient bank card balance; please use another payment "
	    "method.",
	    "银行卡余额不足，请更换付款方式。"),
	ROW("pay", "40004", "ACQ.ERROR_BALANCE_PAYMENT_DISABLE",
	    "PAYMENT_FAILED", FAILED, 0, USER,
	    "Balance payment is disabled on the payer's account.",
	    "付款方账户未开启余额支付。"),
	ROW("pay", "40004", "ACQ.PAYMENT_AUTH_CODE_INVALID",
	    "AUTH_CODE_INVALID", FAILED, 0, USER,
	    "The payment code is invalid; please refresh it and try again.",
	    "付款码无效，请刷新后重试。"),
	ROW("pay", "40004", "ACQ.BUYER_SELLER_EQUAL", "PARAM_INVALID", FAILED,
	    0, USER, "The payer and the payee cannot be the same account.",
	    "付款方与收款方不能为同一账户。"),
	ROW("pay", "40004", "ACQ.TRADE_BUYER_NOT_MATCH", "PARAM_INVALID",
	    FAILED, 0, USER, "This order belongs to another payer.",
	    "该订单属于其他付款方。"),
	ROW("pay", "40004", "ACQ.EXIST_FORBIDDEN_WORD", "PARAM_INVALID", FAILED,
	    0, CHANNEL,
	    "The order description contains words the channel refuses.",
	    "订单信息中包含违禁词。"),
	ROW("pay", "40004", "ACQ.BUYER_ENABLE_STATUS_FORBID", "RISK_REJECTED",
	    FAILED, 0, RISK, "The payer's account is restricted.",
	    "付款方账户状态受限。"),
	ROW("pay", "40004", "ACQ.PAYMENT_REQUEST_HAS_RISK", "RISK_REJECTED",
	    FAILED, 0, RISK, "The payment was declined by risk control.",
	    "支付存在风险，已被拒绝。"),
	ROW("pay", "40004", "ACQ.ERROR_BUYER_CERTIFY_LEVEL_LIMIT",
	    "PAYMENT_FAILED", FAILED, 0, USER,
	    "The payer's account must complete identity verification.",
	    "付款方账户需先完成实名认证。"),
	ROW("pay", "40004", "ACQ.NO_PAYMENT_INSTRUMENTS_AVAILABLE",
	    "PAYMENT_FAILED", FAILED, 0, USER,
	    "No payment method is available on the payer's account.",
	    "付款方没有可用的支付方式。"),
	ROW("pay", "40004", "ACQ.MOBILE_PAYMENT_SWITCH_OFF", "PAYMENT_FAILED",
	    FAILED, 0, USER, "Mobile payment is switched off for the payer.",
	    "付款方已关闭无线支付功能。"),
	ROW("pay", "40004", "ACQ.PULL_MOBILE_CASHIER_FAIL", "PAYMENT_FAILED",
	    FAILED, 0, USER,
	    "The payment could not be started; please refresh and retry.",
	    "唤起收银台失败，请刷新后重试。"),
	ROW("pay", "40004", "ACQ.PAYMENT_FAIL", "PAYMENT_FAILED", FAILED, 0,
	    USER, "The payment failed; please try another payment method.",
	    "支付失败，请更换付款方式。"),
	ROW("pay", "40004", "ACQ.SELLER_BEEN_BLOCKED", "CHANNEL_UNAVAILABLE",
	    FAILED, 1, CHANNEL, MSG_CONFIG),

	/* --- query (trade_status in sub_code) ----------------------------- */
	ROW("query", "10000", "TRADE_SUCCESS", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("query", "10000", "TRADE_FINISHED", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("query", "10000", "WAIT_BUYER_PAY", "USER_PAYING", PROCESSING, 0,
	    NONE, "Waiting for the payer to complete the payment.",
	    "等待付款方完成支付。"),
	/* Unpaid and timed out (a paid order fully refunded also reads
	 * TRADE_CLOSED: a final payment never moves again). */
	ROW("query", "10000", "TRADE_CLOSED", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
	/* A precreate QR code nobody scanned yet is not known to Alipay. */
	ROW("query", "40004", "ACQ.TRADE_NOT_EXIST", "ORDER_NOT_EXIST", UNKNOWN,
	    0, NONE, "The payer has not started the payment yet.",
	    "付款方尚未发起支付。"),

	/* --- close -------------------------------------------------------- */
	ROW("close", "10000", "*", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
	/* Closing a trade Alipay does not know does not stop a later scan. */
	ROW("close", "40004", "ACQ.TRADE_NOT_EXIST", "ORDER_NOT_EXIST", UNKNOWN,
	    0, NONE, MSG_UNKNOWN),
	ROW("close", "40004", "ACQ.TRADE_STATUS_ERROR", "UNKNOWN", UNKNOWN, 0,
	    NONE, MSG_UNKNOWN),

	/* --- refund ------------------------------------------------------- */
	ROW("refund", "10000", "*", "SUCCESS", SUCCESS, 0, NONE,
	    "Refund succeeded.", "退款成功。"),
	ROW("refund", "40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH",
	    "MERCHANT_BALANCE_INSUFFICIENT", FAILED, 0, CHANNEL,
	    "The refund cannot be made right now; it will be "
	    "handled by the merchant.",
	    "暂时无法退款，商户将尽快处理。"),
	ROW("refund", "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
	    "REFUND_AMOUNT_INVALID", FAILED, 0, NONE,
	    "The refund amount exceeds what can be refunded.",
	    "退款金额超过可退金额。"),
	ROW("refund", "40004", "ACQ.REASON_TRADE_BEEN_FREEZEN", "RISK_REJECTED",
	    FAILED, 0, RISK,
	    "The payment is frozen and cannot be refunded now.",
	    "该交易已被冻结，暂时无法退款。"),
	ROW("refund", "40004", "ACQ.TRADE_NOT_EXIST", "ORDER_NOT_EXIST", FAILED,
	    0, CHANNEL, "The original payment was not found.",
	    "原支付交易不存在。"),
	ROW("refund", "40004", "ACQ.TRADE_STATUS_ERROR", "REFUND_NOT_ALLOWED",
	    FAILED, 0, NONE, "The payment cannot be refunded in its state.",
	    "该交易当前状态不允许退款。"),
	/* Past Alipay's refund period: the original route is gone. */
	ROW("refund", "40004", "ACQ.TRADE_HAS_FINISHED",
	    "REFUND_WINDOW_EXPIRED", FAILED, 0, CHANNEL,
	    "The original payment can no longer be refunded by "
	    "the channel; the merchant will handle it.",
	    "原交易已超过可退款期限，商户将另行处理。"),
	ROW("refund", "40004", "ACQ.BUYER_ERROR", "ACCOUNT_CLOSED", FAILED, 0,
	    USER,
	    "The payer's account cannot receive the refund; the "
	    "merchant will handle it.",
	    "付款方账户状态异常，无法原路退款，商户将另行处理。"),
	ROW("refund", "40004", "ACQ.DISCORDANT_REPEAT_REQUEST",
	    "ORDER_CONFLICT", UNKNOWN, 0, CHANNEL, MSG_UNKNOWN),

	/* --- refund_query (refund_status in sub_code) --------------------- */
	ROW("refund_query", "10000", "REFUND_SUCCESS", "SUCCESS", SUCCESS, 0,
	    NONE, "Refund succeeded.", "退款成功。"),
	/* No refund_status: Alipay has no successful refund with this
	 * number (yet); the refund may be sent again with the same number. */
	ROW("refund_query", "10000", "*", "PROCESSING", UNKNOWN, 0, NONE,
	    "The refund is being processed.", "退款处理中。"),
	ROW("refund_query", "40004", "ACQ.TRADE_NOT_EXIST", "ORDER_NOT_EXIST",
	    UNKNOWN, 0, NONE, MSG_UNKNOWN),

	/* --- payout (fund.trans.uni.transfer; status in sub_code) --------- */
	ROW("payout", "10000", "SUCCESS", "SUCCESS", SUCCESS, 0, NONE,
	    "Withdrawal succeeded.", "提现成功。"),
	ROW("payout", "10000", "DEALING", "PROCESSING", PROCESSING, 0, NONE,
	    "The withdrawal is being processed.", "提现处理中。"),
	ROW("payout", "40004", "PAYER_BALANCE_NOT_ENOUGH",
	    "MERCHANT_BALANCE_INSUFFICIENT", FAILED, 1, CHANNEL,
	    "The withdrawal cannot be made right now.", "暂时无法提现。"),
	ROW("payout", "40004", "EXCEED_LIMIT_SM_AMOUNT",
	    "AMOUNT_LIMIT_EXCEEDED", FAILED, 1, LIMIT,
	    "The amount exceeds the channel's per-transaction limit.",
	    "金额超过通道单笔限额。"),
	ROW("payout", "40004", "EXCEED_LIMIT_DM_AMOUNT",
	    "AMOUNT_LIMIT_EXCEEDED", FAILED, 1, LIMIT,
	    "The channel's daily limit has been reached.",
	    "已超过通道当日限额。"),
	ROW("payout", "40004", "PAYEE_NOT_EXIST", "PAYEE_INVALID", FAILED, 0,
	    USER, "The payee account does not exist.", "收款账户不存在。"),
	ROW("payout", "40004", "PAYEE_ACCOUNT_STATUS_ERROR", "PAYEE_INVALID",
	    FAILED, 0, USER, "The payee account cannot receive funds.",
	    "收款账户状态异常，无法收款。"),
	ROW("payout", "40004", "PAYEE_USER_INFO_ERROR", "PAYEE_INFO_MISMATCH",
	    FAILED, 0, USER, "The payee's name does not match the account.",
	    "收款人姓名与账户不符。"),
	ROW("payout", "40004", "PAYER_PAYEE_CANNOT_SAME", "PARAM_INVALID",
	    FAILED, 0, USER, "The payer and the payee cannot be the same.",
	    "付款方与收款方不能相同。"),
	ROW("payout", "40004", "INVALID_PARAMETER", "PARAM_INVALID", FAILED, 0,
	    CHANNEL, "The request was rejected by the payment channel.",
	    "请求被支付通道拒绝。"),

	/* --- payout_query (status in sub_code) ---------------------------- */
	ROW("payout_query", "10000", "SUCCESS", "SUCCESS", SUCCESS, 0, NONE,
	    "Withdrawal succeeded.", "提现成功。"),
	ROW("payout_query", "10000", "INIT", "PROCESSING", PROCESSING, 0, NONE,
	    "The withdrawal is being processed.", "提现处理中。"),
	ROW("payout_query", "10000", "DEALING", "PROCESSING", PROCESSING, 0,
	    NONE, "The withdrawal is being processed.", "提现处理中。"),
	ROW("payout_query", "10000", "FAIL", "PAYOUT_FAILED", FAILED, 0,
	    CHANNEL, "The withdrawal failed.", "提现失败。"),
	/* The bank returned the transfer: the money is back with the payer. */
	ROW("payout_query", "10000", "REFUND", "PAYOUT_RETURNED", FAILED, 0,
	    USER, "The withdrawal was returned by the receiving bank.",
	    "提现被收款银行退回。"),
	ROW("payout_query", "40004", "ORDER_NOT_EXIST", "ORDER_NOT_EXIST",
	    UNKNOWN, 0, NONE, MSG_UNKNOWN),

	/* --- notify (trade_status in code) -------------------------------- */
	ROW("notify", "TRADE_SUCCESS", "*", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("notify", "TRADE_FINISHED", "*", "SUCCESS", SUCCESS, 0, NONE,
	    "Payment succeeded.", "支付成功。"),
	ROW("notify", "WAIT_BUYER_PAY", "*", "USER_PAYING", PROCESSING, 0, NONE,
	    "Waiting for the payer to complete the payment.",
	    "等待付款方完成支付。"),
	ROW("notify", "TRADE_CLOSED", "*", "ORDER_CLOSED", CLOSED, 0, NONE,
	    "The order has been closed.", "订单已关闭。"),
};
/* clang-format on */

static const struct payroute_code_entry *
alipay_default_codes(size_t *n, size_t *entry_size)
{
	*n = sizeof(alipay_codes) / sizeof(alipay_codes[0]);
	*entry_size = sizeof(struct payroute_code_entry);
	return alipay_codes;
}

static const struct payroute_driver alipay_driver = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "alipay",
	.version = "0.1.0",
	.description = "Alipay (open platform, RSA2): config and key checks "
		       "and the default code table; protocol codecs not "
		       "implemented yet",
	.init = alipay_init,
	.fini = alipay_fini,
	/* build_* / parse_* / parse_notify: NULL until the codecs land. */
	.default_codes = alipay_default_codes,
};

PAYROUTE_DRIVER_EXPORT(alipay_driver)
