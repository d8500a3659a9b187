/*
 * bank.c - the bank card channel driver, for a UnionPay online gateway
 * (China UnionPay's "ACP" full-channel gateway, protocol version 5.1.0:
 * form-encoded messages, RSA-SHA256 signatures with a merchant signing
 * certificate, respCode / origRespCode result codes). A codec only: it
 * builds requests, verifies and reads answers and notifications through the
 * core's services table, and does no I/O of its own.
 *
 * Driver config (the channel's driver_config object), declared to the core
 * in bank_keys (ABI 1.2: the core checks a config against it before init
 * and shows it; version 1.1.0 is the first to declare it, so a payrouted
 * older than ABI 1.2 refuses to load this driver):
 *   mer_id      required, the merchant id (merId)
 *   gateway     required, http:// or https:// base URL of the gateway
 *               (https://gateway.95516.com; the simulator's .../bank)
 *   sign_key    required, the merchant's RSA private signing key: PEM
 *               text or "@/path/key.pem"
 *   verify_key  required, the gateway's verification certificate (or its
 *               public key), PEM text or "@/path"
 *   cert_id     required, the serial number of the signing certificate in
 *               decimal (certId)
 *   front_url   optional, frontUrl of front consumes (where the payer's
 *               browser returns); sent only when set
 *   encrypt_cert  optional (needed for payouts), UnionPay's encryption
 *               certificate (or its public key), PEM text or "@/path"
 *   encrypt_cert_id  required with encrypt_cert: that certificate's serial
 *               number in decimal (encryptCertId)
 *   allow_clear_accno  optional boolean, default false: see payouts
 *
 * Messages. Every request is a POST of application/x-www-form-urlencoded;
 * charset=UTF-8 with version=5.1.0, encoding=UTF-8, signMethod=01,
 * accessType=0, merId, certId and signature. Empty fields are neither sent
 * nor signed. The signature is base64(SHA256withRSA(sign_key, hex)), where
 * hex is the lower-case hex SHA-256 of the sorted string: every field but
 * signature, sorted by key, "k=v" joined by "&", values not encoded. So
 * the RSA signature is over the 64 hex characters, not the string itself
 * (tests/keys/make_bank_vectors.sh computes vectors with openssl alone).
 *
 *   pay           front consume (txnType 01, txnSubType 01, bizType 000201)
 *                 to /gateway/api/frontTransReq.do: the payer enters the
 *                 card on the gateway's page, so no card number goes
 *                 through us. channelType 08 for h5 / app / mini_program /
 *                 jsapi, else 07 (PC); issInsCode = order->bank_code (the
 *                 channel's bank code from the bank mapping) to go straight
 *                 to that bank; payTimeout from expire_at_ms. The front
 *                 consume is posted by the PAYER's browser, never by us,
 *                 so build_pay only validates the order and writes no
 *                 request (driver.h's "no request" contract); the core
 *                 sends nothing and calls parse_pay with a status-0
 *                 response, and parse_pay signs the fields and fills the
 *                 payer payload:
 *                   form         an auto-submitting HTML form (POST to the
 *                                front URL, every value HTML-escaped);
 *                   pay_url      the front URL, gateway +
 *                                /gateway/api/frontTransReq.do;
 *                   form_fields  the signed fields as a JSON object text
 *                                ({"accessType":"0",...}), for an app that
 *                                posts them itself (form-encoded, UTF-8);
 *                 with code "FORM" (not a UnionPay respCode; the default
 *                 table maps it to PROCESSING: waiting for the payer). The
 *                 fields are deterministic (txnTime from created_at_ms;
 *                 RSA PKCS#1 v1.5 signatures are deterministic), so a
 *                 repeated parse_pay hands out the same form. parse_pay
 *                 does not read the response: a core that sent something
 *                 anyway (ABI 1.0 allows it) gets the same payload.
 *   query         txnType 00, bizType 000000, /gateway/api/queryTrans.do,
 *                 orderId and txnTime of the original transaction.
 *   refund        txnType 04, origQryId = channel_trade_no, orderId =
 *                 refund_id, txnAmt = refund_amount, /backTransReq.do.
 *   refund_query  as query, orderId = refund_id.
 *   payout        txnType 12 (代付, bizType 000401; 000501 is 代收, the
 *                 collection product), accType 01, accNo = payee_account,
 *                 customerInfo = base64("{customerNm=<payee_name>}"),
 *                 issInsCode = payee_bank_code. accNo is sent encrypted
 *                 as the gateway wants it: base64(RSA PKCS#1 v1.5 with
 *                 encrypt_cert's public key), with encryptCertId =
 *                 encrypt_cert_id (both signed like every other field).
 *                 customerInfo carries only customerNm, which UnionPay
 *                 does not count as sensitive (its SDK encrypts phoneNo,
 *                 cvn2 and expired into encryptedInfo; we send none of
 *                 them), so it stays base64 text. Encryption uses the
 *                 services table's rsa_encrypt (ABI 1.1); encrypt_cert
 *                 with a core that lacks it fails init. Without
 *                 encrypt_cert a payout is refused (ENOTSUP, naming the
 *                 option), unless the channel sets allow_clear_accno=true,
 *                 which sends accNo in clear without encryptCertId: only
 *                 for the simulator and tests. When both are set,
 *                 encryption wins.
 *   payout_query  as query, orderId = payout_id.
 *   close         not supported (a front consume simply expires at its
 *                 payTimeout).
 *   bills (ABI 1.3)  the file transfer (txnType 76, fileType 00,
 *                 settleDate MMDD) to /gateway/api/fileTransRequest.do.
 *                 UnionPay answers the file inline (fileContent); ours
 *                 answers fileUrl, under the gateway, and fileDigest, the
 *                 SHA-256 of the file, so that the core streams a large
 *                 file to disk instead of holding it in an answer.
 *                 bank_bill.c reads the zip; respCode 98: no file.
 * txnTime is created_at_ms in Beijing time (yyyyMMddHHmmss). A query must
 * repeat the original's txnTime, so for refund / refund_query the core
 * passes the refund's creation time in created_at_ms, and for payout /
 * payout_query the payout's. txnAmt is in fen; only CNY (currencyCode 156).
 *
 * orderId. UnionPay takes 8 to 40 letters and digits. A payroute id that
 * is such a string and does not start with "X0" is sent as it is; any
 * other id of 3 to 19 bytes is sent as "X0" followed by the upper-case hex
 * of its bytes, and an orderId of that shape is decoded back in answers
 * and notifications. The mapping is one to one; other ids are refused.
 *
 * Answers (to back and query requests) are "k=v&k=v" as the gateway sends
 * them: split on '&' outside {} and [] (the SDK's rule), key up to the
 * first '=', values not form-decoded except %XX escapes ('+' stays a plus:
 * it is common in base64). The signature is checked with verify_key over
 * the sorted string of the decoded fields. 5.1.0 answers carry the
 * signing certificate in signPubKeyCert; we pin the configured certificate
 * instead of walking UnionPay's chain, and when signPubKeyCert is present
 * it must be a PEM certificate whose key verifies the same signature
 * (i.e. it is the configured key), else the answer is refused. An unsigned
 * answer (even an error) is -EBADMSG; a wrong merId or orderId, a missing
 * respCode or a non-200 status is -EPROTO.
 *
 * Notifications: the gateway POSTs a form (application/x-www-form-
 * urlencoded, '+' is a space) to backUrl = order->notify_url. Verified like
 * an answer; kind from txnType (01 payment, 04 refund, 12 payout); orderId
 * (decoded) goes to order_id, or to refund_id for a refund (order_id is
 * then empty: the notification names the payment only by origQryId);
 * channel_trade_no = queryId, code = status = respCode, sub_code = txnType,
 * amount = txnAmt. We answer HTTP 200 "ok" when the core took it and 400
 * "fail" otherwise (text/plain): the gateway only looks at the status and
 * retries anything but 200.
 *
 * Result codes. `code` is respCode (or "FORM" for the front consume's
 * payer form, see pay). A respCode of 00 on a transaction
 * request (pay, refund, payout) only means the gateway accepted it: the
 * outcome comes by notification or query. On a status query (query,
 * refund_query, payout_query) a respCode of 00 means the query itself
 * worked, and the codecs put the original transaction's origRespCode in
 * sub_code (and status): 00 / A6 success, 03 / 04 / 05 still unknown,
 * anything else the published failure it names. For notifications `code` is the notified
 * transaction's respCode and sub_code its txnType (01 consume, 04 refund,
 * 12 payout), so that a refund that failed on the card's state reads
 * "original route unavailable". Codes are published by UnionPay; a code missing
 * here is left unmapped on purpose (the core keeps the order unknown and
 * chases it, never guesses failure). Errors of a query call never move the
 * order; "retryable" (on another channel) is set only where the request was
 * refused before acceptance, so that certainly no money moved.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <payroute/driver.h>

#include "bank_bill.h"
#include "drvbuf.h"
#include "drvconf.h"
#include "drvfield.h"

#define BANK_MAX_ID 64

struct bank_state {
	const struct payroute_services *svc;
	char *channel;
	char *mer_id;
	char *gateway; /* without a trailing '/' */
	char *cert_id;
	char *front_url;       /* NULL when not configured */
	char *encrypt_cert_id; /* NULL without encrypt_cert */
	int allow_clear_accno;
	payroute_key *sign_key;
	payroute_key *verify_key;
	payroute_key *encrypt_key; /* NULL without encrypt_cert */
};

/* ------------------------------------------------------------------------ */
/* Config                                                                   */
/* ------------------------------------------------------------------------ */

static void bank_fini(void *state)
{
	struct bank_state *st = state;

	if (!st)
		return;
	if (st->sign_key)
		st->svc->key_free(st->sign_key);
	if (st->verify_key)
		st->svc->key_free(st->verify_key);
	if (st->encrypt_key)
		st->svc->key_free(st->encrypt_key);
	free(st->encrypt_cert_id);
	free(st->channel);
	free(st->mer_id);
	free(st->gateway);
	free(st->cert_id);
	free(st->front_url);
	free(st);
}

static int bank_init(const struct payroute_services *svc, const char *channel,
		     const payroute_conf *conf, void **state, char *err,
		     size_t errlen)
{
	struct bank_state *st = NULL;
	const char *gateway, *front_url, *encrypt_cert;
	size_t len;
	int plain = 0, front_plain = 0;
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

	rc = drv_conf_ident(svc, conf, "mer_id", BANK_MAX_ID, &st->mer_id, err,
			    errlen);
	if (rc < 0)
		goto fail;
	rc = drv_conf_string(svc, conf, "gateway", 1, &gateway, err, errlen);
	if (rc == 0)
		rc = drv_check_url("gateway", gateway, &plain, err, errlen);
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
	rc = drv_conf_ident(svc, conf, "cert_id", BANK_MAX_ID, &st->cert_id,
			    err, errlen);
	if (rc < 0)
		goto fail;

	rc = drv_conf_string(svc, conf, "front_url", 0, &front_url, err,
			     errlen);
	if (rc == 0 && front_url)
		rc = drv_check_url("front_url", front_url, &front_plain, err,
				   errlen);
	if (rc < 0)
		goto fail;
	if (front_url) {
		st->front_url = strdup(front_url);
		if (!st->front_url) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
			goto fail;
		}
	}
	rc = svc->conf_bool(conf, "allow_clear_accno", &st->allow_clear_accno);
	if (rc == -ENOENT) {
		st->allow_clear_accno = 0;
	} else if (rc < 0) {
		snprintf(err, errlen, "allow_clear_accno: must be a boolean");
		goto fail;
	}

	rc = drv_load_key(svc, conf, "sign_key", 1, &st->sign_key, err, errlen);
	if (rc < 0)
		goto fail;
	rc = drv_load_key(svc, conf, "verify_key", 0, &st->verify_key, err,
			  errlen);
	if (rc < 0)
		goto fail;

	/* Payouts: UnionPay's encryption certificate and its id. */
	rc = drv_conf_string(svc, conf, "encrypt_cert", 0, &encrypt_cert, err,
			     errlen);
	if (rc < 0)
		goto fail;
	if (encrypt_cert) {
		if (!PAYROUTE_HAS_RSA_ENCRYPT(svc)) {
			snprintf(err, errlen,
				 "encrypt_cert: this core (services ABI "
				 "%u.%u) offers no rsa_encrypt (an ABI 1.1 "
				 "service)",
				 (unsigned)svc->abi_major,
				 (unsigned)svc->abi_minor);
			rc = -ENOTSUP;
			goto fail;
		}
		rc = drv_load_key(svc, conf, "encrypt_cert", 0,
				  &st->encrypt_key, err, errlen);
		if (rc == 0)
			rc = drv_conf_ident(svc, conf, "encrypt_cert_id",
					    BANK_MAX_ID, &st->encrypt_cert_id,
					    err, errlen);
		if (rc < 0)
			goto fail;
	} else if (svc->conf_str(conf, "encrypt_cert_id")) {
		snprintf(err, errlen,
			 "encrypt_cert_id: set without encrypt_cert");
		rc = -EINVAL;
		goto fail;
	}

	if (svc->log) {
		if (plain)
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "bank: gateway %s is plain http (only for a "
				 "simulator)",
				 st->gateway);
		if (st->allow_clear_accno && st->encrypt_key)
			svc->log(PAYROUTE_LOG_INFO, st->channel,
				 "bank: allow_clear_accno is ignored: "
				 "encrypt_cert is set, accNo is encrypted");
		else if (st->allow_clear_accno)
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "bank: allow_clear_accno is set: payouts send "
				 "the card number unencrypted (only for a "
				 "simulator)");
		svc->log(PAYROUTE_LOG_INFO, st->channel,
			 "bank: mer_id %s, gateway %s, cert_id %s: keys "
			 "loaded",
			 st->mer_id, st->gateway, st->cert_id);
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
	/* Not a respCode: parse_pay's payer form, nothing sent yet. */
	ROW("pay", "FORM", "*", "PROCESSING", PROCESSING, 0, NONE,
	    "Waiting for the payer to complete the payment.",
	    "等待付款人完成支付。"),
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

/* ------------------------------------------------------------------------ */
/* Fields                                                                   */
/* ------------------------------------------------------------------------ */

#define BANK_VERSION "5.1.0"
#define BANK_MAX_FIELDS 96
#define BANK_MAX_BODY (256 * 1024)
#define BANK_ORDER_ID_MAX 40
#define BANK_AMOUNT_MAX 999999999999LL /* txnAmt: at most 12 digits */

struct bank_field {
	char *key;
	char *value;
};

/* A message: owned copies of its fields, in insertion order. */
struct bank_msg {
	struct bank_field f[BANK_MAX_FIELDS];
	size_t n;
};

static void msg_clear(struct bank_msg *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->f[i].key);
		free(m->f[i].value);
	}
	m->n = 0;
}

static const char *msg_get(const struct bank_msg *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].key, key) == 0)
			return m->f[i].value;
	return NULL;
}

/* Adds key=value, taking copies of klen / vlen bytes. A duplicate key is
 * -EPROTO (an answer naming a field twice is not understood). */
static int msg_add_n(struct bank_msg *m, const char *key, size_t klen,
		     const char *value, size_t vlen)
{
	char *k, *v;

	for (size_t i = 0; i < m->n; i++)
		if (strlen(m->f[i].key) == klen &&
		    memcmp(m->f[i].key, key, klen) == 0)
			return -EPROTO;
	if (m->n == BANK_MAX_FIELDS)
		return -EPROTO;
	k = malloc(klen + 1);
	v = malloc(vlen + 1);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	memcpy(k, key, klen);
	k[klen] = '\0';
	memcpy(v, value, vlen);
	v[vlen] = '\0';
	m->f[m->n].key = k;
	m->f[m->n].value = v;
	m->n++;
	return 0;
}

/* Adds a request field; an empty or NULL value is left out (UnionPay
 * neither sends nor signs empty fields). */
static int msg_add(struct bank_msg *m, const char *key, const char *value)
{
	if (!value || !*value)
		return 0;
	return msg_add_n(m, key, strlen(key), value, strlen(value));
}

static int cmp_field(const void *a, const void *b)
{
	const struct bank_field *const *x = a;
	const struct bank_field *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

/* Fills order[] with the fields sorted by key; returns their number. */
static size_t msg_sorted(const struct bank_msg *m,
			 const struct bank_field *order[BANK_MAX_FIELDS])
{
	for (size_t i = 0; i < m->n; i++)
		order[i] = &m->f[i];
	qsort(order, m->n, sizeof(order[0]), cmp_field);
	return m->n;
}

/* The hex SHA-256 of the sorted string of every field but signature, in
 * *hex (services->free). */
static int msg_digest_hex(const struct payroute_services *svc,
			  const struct bank_msg *m, char **hex)
{
	const struct bank_field *order[BANK_MAX_FIELDS];
	struct drv_buf b = { 0 };
	unsigned char md[32];
	size_t n = msg_sorted(m, order);
	int first = 1, rc;

	*hex = NULL;
	drv_buf_add(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(order[i]->key, "signature") == 0)
			continue;
		if (!first)
			drv_buf_add(&b, "&", 1);
		first = 0;
		drv_buf_str(&b, order[i]->key);
		drv_buf_add(&b, "=", 1);
		drv_buf_str(&b, order[i]->value);
	}
	if (b.oom) {
		rc = -ENOMEM;
		goto out;
	}
	rc = svc->sha256(b.p, b.len, md);
	if (rc < 0)
		goto out;
	*hex = svc->hex_encode(md, sizeof(md));
	rc = *hex ? 0 : -ENOMEM;
out:
	free(b.p);
	return rc;
}

/* Adds certId and signature to a request. */
static int msg_sign(struct bank_state *st, struct bank_msg *m)
{
	char *hex = NULL, *sig = NULL;
	int rc;

	rc = msg_add(m, "certId", st->cert_id);
	if (rc == 0)
		rc = msg_digest_hex(st->svc, m, &hex);
	if (rc == 0)
		rc = st->svc->rsa_sha256_sign(st->sign_key, hex, strlen(hex),
					      &sig);
	if (rc == 0)
		rc = msg_add(m, "signature", sig);
	if (hex)
		st->svc->free(hex);
	if (sig)
		st->svc->free(sig);
	return rc;
}

/* Checks the signature of an answer or notification (see the header). */
static int msg_verify(struct bank_state *st, const struct bank_msg *m,
		      char *err, size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	const char *sig = msg_get(m, "signature");
	const char *method = msg_get(m, "signMethod");
	const char *cert = msg_get(m, "signPubKeyCert");
	static const char pem_cert[] = "-----BEGIN CERTIFICATE-----";
	payroute_key *k = NULL;
	char kerr[128];
	char *hex = NULL;
	int rc;

	if (!sig || !*sig) {
		snprintf(err, errlen, "bank: message is not signed");
		return -EBADMSG;
	}
	if (method && strcmp(method, "01") != 0) {
		snprintf(err, errlen, "bank: unsupported signMethod");
		return -EBADMSG;
	}
	rc = msg_digest_hex(svc, m, &hex);
	if (rc < 0) {
		snprintf(err, errlen, "bank: cannot digest the message");
		return rc;
	}
	rc = svc->rsa_sha256_verify(st->verify_key, hex, strlen(hex), sig);
	if (rc < 0) {
		snprintf(err, errlen, "bank: signature does not verify");
		rc = rc == -ENOMEM ? rc : -EBADMSG;
		goto out;
	}
	if (cert && *cert) {
		/* Only PEM text: key_load would read "@/path" as a file. */
		if (strncmp(cert, pem_cert, sizeof(pem_cert) - 1) != 0 ||
		    svc->key_load(cert, 0, &k, kerr, sizeof(kerr)) < 0) {
			snprintf(err, errlen,
				 "bank: signPubKeyCert is not a certificate");
			rc = -EBADMSG;
			goto out;
		}
		rc = svc->rsa_sha256_verify(k, hex, strlen(hex), sig);
		if (rc < 0) {
			snprintf(err, errlen,
				 "bank: signPubKeyCert is not the configured "
				 "verification certificate");
			rc = rc == -ENOMEM ? rc : -EBADMSG;
			goto out;
		}
	}
	rc = 0;
out:
	if (k)
		svc->key_free(k);
	svc->free(hex);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static int is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

/* True when s is 1..max printable ASCII characters without spaces. */
static int is_ident(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return n > 0 && n <= max;
}

static int all_alnum(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!is_alnum((unsigned char)*s))
			return 0;
	return n > 0 && n <= max;
}

/* yyyyMMddHHmmss in Beijing time (UTC+8, no daylight saving). */
static int beijing_time(int64_t ms, char out[15])
{
	time_t t;
	struct tm tm;

	if (ms <= 0 || ms / 1000 > (int64_t)253402300799LL - 8 * 3600)
		return -EINVAL;
	t = (time_t)(ms / 1000 + 8 * 3600);
	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	if (strftime(out, 15, "%Y%m%d%H%M%S", &tm) != 14)
		return -EINVAL;
	return 0;
}

/* payroute's id -> orderId (see the header). out holds 41 bytes. */
static int map_order_id(const char *id, char out[BANK_ORDER_ID_MAX + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = id ? strlen(id) : 0;

	if (n >= 8 && all_alnum(id, BANK_ORDER_ID_MAX) &&
	    strncmp(id, "X0", 2) != 0) {
		memcpy(out, id, n + 1);
		return 0;
	}
	if (n < 3 || 2 + 2 * n > BANK_ORDER_ID_MAX)
		return -EINVAL;
	out[0] = 'X';
	out[1] = '0';
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i] = hex[(unsigned char)id[i] >> 4];
		out[3 + 2 * i] = hex[(unsigned char)id[i] & 0x0f];
	}
	out[2 + 2 * n] = '\0';
	return 0;
}

static int upper_hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* orderId -> payroute's id, the inverse of map_order_id. -EPROTO when
 * the orderId is no identifier. */
static int unmap_order_id(const char *oid, char *out, size_t size)
{
	size_t n = strlen(oid), o = 0;
	int hi, lo;

	if (!is_ident(oid, BANK_ORDER_ID_MAX) || n >= size)
		return -EPROTO;
	if (strncmp(oid, "X0", 2) == 0 && n > 2 && n % 2 == 0) {
		for (size_t i = 2; i < n; i += 2) {
			hi = upper_hex_val(oid[i]);
			lo = upper_hex_val(oid[i + 1]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto plain;
			out[o++] = (char)(hi << 4 | lo);
		}
		out[o] = '\0';
		return 0;
	}
plain:
	memcpy(out, oid, n + 1);
	return 0;
}

/* A decimal amount of at most 12 digits; -1 when absent. */
static int parse_amount(const char *v, int64_t *out)
{
	int64_t a = 0;
	size_t n = 0;

	*out = -1;
	if (!v)
		return 0;
	for (; *v; v++, n++) {
		if (*v < '0' || *v > '9' || n >= 12)
			return -EPROTO;
		a = a * 10 + (*v - '0');
	}
	if (n == 0)
		return -EPROTO;
	*out = a;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Building requests                                                        */
/* ------------------------------------------------------------------------ */

enum bank_op {
	OP_PAY,
	OP_QUERY,
	OP_REFUND,
	OP_REFUND_QUERY,
	OP_PAYOUT,
	OP_PAYOUT_QUERY,
};

static const char *op_path(enum bank_op op)
{
	switch (op) {
	case OP_PAY:
		return "/gateway/api/frontTransReq.do";
	case OP_QUERY:
	case OP_REFUND_QUERY:
	case OP_PAYOUT_QUERY:
		return "/gateway/api/queryTrans.do";
	default:
		return "/gateway/api/backTransReq.do";
	}
}

/* The id that is this operation's orderId. */
static const char *op_id(enum bank_op op, const struct payroute_order *o)
{
	switch (op) {
	case OP_REFUND:
	case OP_REFUND_QUERY:
		return o->refund_id;
	case OP_PAYOUT:
	case OP_PAYOUT_QUERY:
		return o->payout_id;
	default:
		return o->order_id;
	}
}

static const char *channel_type(const char *env)
{
	static const char *const mobile[] = { "h5", "app", "mini_program",
					      "jsapi" };

	for (size_t i = 0; env && i < sizeof(mobile) / sizeof(mobile[0]); i++)
		if (strcmp(env, mobile[i]) == 0)
			return "08";
	return "07";
}

static int check_amount(const char *what, int64_t amount, char *err,
			size_t errlen)
{
	if (amount <= 0 || amount > BANK_AMOUNT_MAX) {
		snprintf(err, errlen, "bank: %s out of range", what);
		return -EINVAL;
	}
	return 0;
}

/* Writes the message of operation op for order o into m, signed when
 * `sign` (else only checked: build_pay). */
static int make_msg(struct bank_state *st, enum bank_op op,
		    const struct payroute_order *o, int sign,
		    struct bank_msg *m, char *err, size_t errlen)
{
	char oid[BANK_ORDER_ID_MAX + 1], txn_time[15], pay_timeout[15];
	char amount[24];
	char *info = NULL, *acc_enc = NULL;
	const char *id = o ? op_id(op, o) : NULL;
	int query = op == OP_QUERY || op == OP_REFUND_QUERY ||
		    op == OP_PAYOUT_QUERY;
	int rc;

	if (!o || o->size < sizeof(*o)) {
		snprintf(err, errlen, "bank: no order");
		return -EINVAL;
	}
	if (!id || map_order_id(id, oid) < 0) {
		snprintf(
			err, errlen,
			"bank: %s: missing, or not 8-40 letters and digits "
			"nor 3-19 bytes to encode",
			op == OP_REFUND || op == OP_REFUND_QUERY ? "refund_id" :
			op == OP_PAYOUT || op == OP_PAYOUT_QUERY ? "payout_id" :
								   "order_id");
		return -EINVAL;
	}
	if (beijing_time(o->created_at_ms, txn_time) < 0) {
		snprintf(err, errlen, "bank: created_at_ms out of range");
		return -EINVAL;
	}
	if (!query && strcmp(o->currency, "CNY") != 0) {
		snprintf(err, errlen,
			 "bank: currency %.3s not supported "
			 "(CNY only)",
			 o->currency);
		return -EINVAL;
	}
	if (!query && (!o->notify_url || !*o->notify_url)) {
		snprintf(err, errlen, "bank: notify_url is required");
		return -EINVAL;
	}

	rc = msg_add(m, "version", BANK_VERSION);
	if (rc == 0)
		rc = msg_add(m, "encoding", "UTF-8");
	if (rc == 0)
		rc = msg_add(m, "signMethod", "01");
	if (rc == 0)
		rc = msg_add(m, "accessType", "0");
	if (rc == 0)
		rc = msg_add(m, "merId", st->mer_id);
	if (rc == 0)
		rc = msg_add(m, "orderId", oid);
	if (rc == 0)
		rc = msg_add(m, "txnTime", txn_time);
	if (rc < 0)
		goto out;

	switch (op) {
	case OP_QUERY:
	case OP_REFUND_QUERY:
	case OP_PAYOUT_QUERY:
		rc = msg_add(m, "txnType", "00");
		if (rc == 0)
			rc = msg_add(m, "txnSubType", "00");
		if (rc == 0)
			rc = msg_add(m, "bizType", "000000");
		break;
	case OP_PAY:
		if ((rc = check_amount("amount", o->amount, err, errlen)) < 0)
			goto out;
		if (o->bank_code && *o->bank_code &&
		    !all_alnum(o->bank_code, 20)) {
			snprintf(err, errlen,
				 "bank: bank_code is not a "
				 "UnionPay issuer code");
			rc = -EINVAL;
			goto out;
		}
		pay_timeout[0] = '\0';
		if (o->expire_at_ms > 0 &&
		    beijing_time(o->expire_at_ms, pay_timeout) < 0) {
			snprintf(err, errlen,
				 "bank: expire_at_ms out of range");
			rc = -EINVAL;
			goto out;
		}
		snprintf(amount, sizeof(amount), "%lld", (long long)o->amount);
		rc = msg_add(m, "txnType", "01");
		if (rc == 0)
			rc = msg_add(m, "txnSubType", "01");
		if (rc == 0)
			rc = msg_add(m, "bizType", "000201");
		if (rc == 0)
			rc = msg_add(m, "channelType",
				     channel_type(o->environment));
		if (rc == 0)
			rc = msg_add(m, "txnAmt", amount);
		if (rc == 0)
			rc = msg_add(m, "currencyCode", "156");
		if (rc == 0)
			rc = msg_add(m, "backUrl", o->notify_url);
		if (rc == 0)
			rc = msg_add(m, "frontUrl", st->front_url);
		if (rc == 0)
			rc = msg_add(m, "payTimeout", pay_timeout);
		if (rc == 0)
			rc = msg_add(m, "issInsCode", o->bank_code);
		break;
	case OP_REFUND:
		if ((rc = check_amount("refund_amount", o->refund_amount, err,
				       errlen)) < 0)
			goto out;
		if (!o->channel_trade_no ||
		    !is_ident(o->channel_trade_no, BANK_MAX_ID)) {
			snprintf(err, errlen,
				 "bank: refund needs the "
				 "payment's channel_trade_no "
				 "(queryId)");
			rc = -EINVAL;
			goto out;
		}
		snprintf(amount, sizeof(amount), "%lld",
			 (long long)o->refund_amount);
		rc = msg_add(m, "txnType", "04");
		if (rc == 0)
			rc = msg_add(m, "txnSubType", "00");
		if (rc == 0)
			rc = msg_add(m, "bizType", "000201");
		if (rc == 0)
			rc = msg_add(m, "channelType", "07");
		if (rc == 0)
			rc = msg_add(m, "txnAmt", amount);
		if (rc == 0)
			rc = msg_add(m, "currencyCode", "156");
		if (rc == 0)
			rc = msg_add(m, "backUrl", o->notify_url);
		if (rc == 0)
			rc = msg_add(m, "origQryId", o->channel_trade_no);
		break;
	case OP_PAYOUT:
		if ((rc = check_amount("amount", o->amount, err, errlen)) < 0)
			goto out;
		if (o->payee_kind && strcmp(o->payee_kind, "bank_card") != 0) {
			snprintf(err, errlen,
				 "bank: payee_kind %s not "
				 "supported (bank_card only)",
				 o->payee_kind);
			rc = -ENOTSUP;
			goto out;
		}
		if (!st->encrypt_key && !st->allow_clear_accno) {
			snprintf(err, errlen,
				 "bank: payouts need accNo encrypted with "
				 "UnionPay's encryption certificate: set "
				 "encrypt_cert and encrypt_cert_id in the "
				 "channel's driver_config");
			rc = -ENOTSUP;
			goto out;
		}
		if (!o->payee_account || !all_alnum(o->payee_account, 32)) {
			snprintf(err, errlen,
				 "bank: payee_account is not a "
				 "card number");
			rc = -EINVAL;
			goto out;
		}
		if (st->encrypt_key) {
			rc = st->svc->rsa_encrypt(st->encrypt_key,
						  PAYROUTE_RSA_PKCS1,
						  o->payee_account,
						  strlen(o->payee_account),
						  &acc_enc);
			if (rc < 0) {
				snprintf(err, errlen,
					 "bank: cannot encrypt accNo with "
					 "encrypt_cert: %s",
					 strerror(-rc));
				goto out;
			}
		}
		if (o->payee_bank_code && *o->payee_bank_code &&
		    !all_alnum(o->payee_bank_code, 20)) {
			snprintf(err, errlen,
				 "bank: payee_bank_code is not "
				 "a UnionPay issuer code");
			rc = -EINVAL;
			goto out;
		}
		if (o->payee_name && *o->payee_name) {
			struct drv_buf b = { 0 };

			if (strpbrk(o->payee_name, "{}&=")) {
				snprintf(err, errlen,
					 "bank: payee_name has "
					 "reserved characters");
				rc = -EINVAL;
				goto out;
			}
			drv_buf_str(&b, "{customerNm=");
			drv_buf_str(&b, o->payee_name);
			drv_buf_str(&b, "}");
			info = b.oom ? NULL :
				       st->svc->base64_encode(b.p, b.len);
			free(b.p);
			if (!info) {
				rc = -ENOMEM;
				goto out;
			}
		}
		snprintf(amount, sizeof(amount), "%lld", (long long)o->amount);
		rc = msg_add(m, "txnType", "12");
		if (rc == 0)
			rc = msg_add(m, "txnSubType", "00");
		if (rc == 0)
			rc = msg_add(m, "bizType", "000401");
		if (rc == 0)
			rc = msg_add(m, "channelType", "07");
		if (rc == 0)
			rc = msg_add(m, "txnAmt", amount);
		if (rc == 0)
			rc = msg_add(m, "currencyCode", "156");
		if (rc == 0)
			rc = msg_add(m, "backUrl", o->notify_url);
		if (rc == 0)
			rc = msg_add(m, "accType", "01");
		if (rc == 0)
			rc = msg_add(m, "accNo",
				     acc_enc ? acc_enc : o->payee_account);
		if (rc == 0 && acc_enc)
			rc = msg_add(m, "encryptCertId", st->encrypt_cert_id);
		if (rc == 0)
			rc = msg_add(m, "customerInfo", info);
		if (rc == 0)
			rc = msg_add(m, "issInsCode", o->payee_bank_code);
		break;
	}
	if (rc == 0 && sign)
		rc = msg_sign(st, m);
	if (rc < 0 && errlen && !err[0])
		snprintf(err, errlen, "bank: cannot build the message: %s",
			 strerror(-rc));
out:
	if (info)
		st->svc->free(info);
	if (acc_enc)
		st->svc->free(acc_enc);
	return rc;
}

/* Writes the signed message m as a form POST to gateway + path. */
static int post_msg(struct bank_state *st, const struct bank_msg *m,
		    const char *path, payroute_http_req *req, char *err,
		    size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	const struct bank_field *order[BANK_MAX_FIELDS];
	struct drv_buf body = { 0 }, url = { 0 };
	char *k, *v;
	size_t n;
	int rc;

	n = msg_sorted(m, order);
	for (size_t i = 0; i < n; i++) {
		k = svc->url_encode(order[i]->key);
		v = svc->url_encode(order[i]->value);
		if (k && v) {
			if (i)
				drv_buf_add(&body, "&", 1);
			drv_buf_str(&body, k);
			drv_buf_add(&body, "=", 1);
			drv_buf_str(&body, v);
		} else {
			body.oom = 1;
		}
		if (k)
			svc->free(k);
		if (v)
			svc->free(v);
	}
	drv_buf_str(&url, st->gateway);
	drv_buf_str(&url, path);
	if (body.oom || url.oom) {
		rc = -ENOMEM;
		goto out;
	}
	rc = svc->http_set(req, "POST", url.p);
	if (rc == 0)
		rc = svc->http_header(req, "Content-Type",
				      "application/x-www-form-urlencoded; "
				      "charset=UTF-8");
	if (rc == 0)
		rc = svc->http_body(req, body.p, body.len);
	if (rc < 0)
		snprintf(err, errlen, "bank: cannot write the request: %s",
			 strerror(-rc));
out:
	free(body.p);
	free(url.p);
	return rc;
}

/* Writes the request of operation op. */
static int build(void *state, enum bank_op op, const struct payroute_order *o,
		 payroute_http_req *req, char *err, size_t errlen)
{
	struct bank_state *st = state;
	struct bank_msg m = { .n = 0 };
	int rc;

	if (errlen)
		err[0] = '\0';
	rc = make_msg(st, op, o, 1, &m, err, errlen);
	if (rc == 0)
		rc = post_msg(st, &m, op_path(op), req, err, errlen);
	msg_clear(&m);
	return rc;
}

/* Front consume: the payer's browser posts it, so only check the order
 * (the same checks parse_pay's form goes through) and write no request. */
static int build_pay(void *state, const struct payroute_order *o,
		     payroute_http_req *req, char *err, size_t errlen)
{
	struct bank_msg m = { .n = 0 };
	int rc;

	(void)req;
	if (errlen)
		err[0] = '\0';
	rc = make_msg(state, OP_PAY, o, 0, &m, err, errlen);
	msg_clear(&m);
	return rc;
}

static int build_query(void *st, const struct payroute_order *o,
		       payroute_http_req *req, char *err, size_t errlen)
{
	return build(st, OP_QUERY, o, req, err, errlen);
}

static int build_refund(void *st, const struct payroute_order *o,
			payroute_http_req *req, char *err, size_t errlen)
{
	return build(st, OP_REFUND, o, req, err, errlen);
}

static int build_refund_query(void *st, const struct payroute_order *o,
			      payroute_http_req *req, char *err, size_t errlen)
{
	return build(st, OP_REFUND_QUERY, o, req, err, errlen);
}

static int build_payout(void *st, const struct payroute_order *o,
			payroute_http_req *req, char *err, size_t errlen)
{
	return build(st, OP_PAYOUT, o, req, err, errlen);
}

static int build_payout_query(void *st, const struct payroute_order *o,
			      payroute_http_req *req, char *err, size_t errlen)
{
	return build(st, OP_PAYOUT_QUERY, o, req, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Reading answers and notifications                                        */
/* ------------------------------------------------------------------------ */

/* A key: letters, digits and '_' only. */
static int good_key(const char *k, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)k[i]) && k[i] != '_')
			return 0;
	return 1;
}

static int hexv(char c)
{
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return upper_hex_val(c);
}

/* Decodes value bytes into a new string. form: '+' is a space and a bad
 * '%' is an error (notifications); otherwise only well-formed %XX escapes
 * are decoded (answers). %00 is always an error. */
static char *decode_value(const char *s, size_t n, int form)
{
	char *out = malloc(n + 1);
	size_t o = 0;
	int hi, lo;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			hi = i + 2 < n ? hexv(s[i + 1]) : -1;
			lo = hi >= 0 ? hexv(s[i + 2]) : -1;
			if (hi >= 0 && lo >= 0) {
				if (hi == 0 && lo == 0)
					goto bad;
				out[o++] = (char)(hi << 4 | lo);
				i += 2;
				continue;
			}
			if (form)
				goto bad;
			out[o++] = s[i];
		} else if (s[i] == '+' && form) {
			out[o++] = ' ';
		} else if (s[i] == '\0') {
			goto bad;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Splits body into m. form: a form-encoded notification ('&' splits,
 * '+' and %XX decoded); otherwise a gateway answer (the SDK's rule: '&'
 * inside {} or [] does not split; %XX decoded, '+' kept). */
static int parse_fields(const char *body, size_t len, int form,
			struct bank_msg *m, char *err, size_t errlen)
{
	size_t i = 0, start, eq, end;
	int depth, rc;
	char *v;

	if (!body || len == 0) {
		snprintf(err, errlen, "bank: empty message");
		return -EPROTO;
	}
	if (len > BANK_MAX_BODY) {
		snprintf(err, errlen, "bank: message too large");
		return -EPROTO;
	}
	while (i <= len) {
		start = i;
		eq = (size_t)-1;
		depth = 0;
		for (; i < len; i++) {
			char c = body[i];

			if (c == '=' && eq == (size_t)-1) {
				eq = i;
			} else if (eq != (size_t)-1 && !form &&
				   (c == '{' || c == '[')) {
				depth++;
			} else if (eq != (size_t)-1 && !form &&
				   (c == '}' || c == ']')) {
				if (depth > 0)
					depth--;
			} else if (c == '&' && depth == 0) {
				break;
			}
		}
		end = i;
		i++; /* past '&' or the end */
		if (end == start && end == len && m->n > 0)
			break; /* a trailing '&' */
		if (eq == (size_t)-1 || !good_key(body + start, eq - start)) {
			snprintf(err, errlen, "bank: malformed field");
			return -EPROTO;
		}
		v = decode_value(body + eq + 1, end - eq - 1, form);
		if (!v) {
			snprintf(err, errlen, "bank: malformed value");
			return -EPROTO;
		}
		rc = msg_add_n(m, body + start, eq - start, v, strlen(v));
		free(v);
		if (rc < 0) {
			snprintf(
				err, errlen,
				rc == -ENOMEM ?
					"out of memory" :
					"bank: duplicate field or too many fields");
			return rc;
		}
	}
	return 0;
}

/* Reads a verified message's common fields into code / message /
 * channel_trade_no / amount. */
static int read_common(struct bank_state *st, const struct bank_msg *m,
		       char *code, size_t code_len, char *message,
		       size_t msg_len, char *trade_no, size_t trade_len,
		       int64_t *amount, char *err, size_t errlen)
{
	const char *resp = msg_get(m, "respCode");
	const char *mer = msg_get(m, "merId");
	const char *msg = msg_get(m, "respMsg");
	const char *qid = msg_get(m, "queryId");

	if (!resp || !all_alnum(resp, 8)) {
		snprintf(err, errlen, "bank: no respCode");
		return -EPROTO;
	}
	if (mer && strcmp(mer, st->mer_id) != 0) {
		snprintf(err, errlen, "bank: message for another merId");
		return -EPROTO;
	}
	if (qid && *qid && !is_ident(qid, trade_len - 1)) {
		snprintf(err, errlen, "bank: malformed queryId");
		return -EPROTO;
	}
	if (parse_amount(msg_get(m, "txnAmt"), amount) < 0) {
		snprintf(err, errlen, "bank: malformed txnAmt");
		return -EPROTO;
	}
	drv_copy_clean(code, code_len, resp);
	drv_copy_clean(message, msg_len, msg ? msg : "");
	drv_copy_clean(trade_no, trade_len, qid ? qid : "");
	return 0;
}

/* Reads the answer to the request of operation op. */
static int parse(void *state, enum bank_op op, const struct payroute_order *o,
		 const struct payroute_http_response *resp,
		 struct payroute_result *out, char *err, size_t errlen)
{
	struct bank_state *st = state;
	struct bank_msg m = { .n = 0 };
	char oid[BANK_ORDER_ID_MAX + 1];
	const char *id = o ? op_id(op, o) : NULL;
	const char *got, *orig;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!resp || !out) {
		snprintf(err, errlen, "bank: missing argument");
		return -EINVAL;
	}
	out->amount = -1;
	if (resp->status != 200) {
		snprintf(err, errlen, "bank: HTTP status %d", resp->status);
		return -EPROTO;
	}
	rc = parse_fields(resp->body, resp->body_len, 0, &m, err, errlen);
	if (rc < 0)
		goto out;
	rc = msg_verify(st, &m, err, errlen);
	if (rc < 0)
		goto out;
	rc = read_common(st, &m, out->code, sizeof(out->code), out->message,
			 sizeof(out->message), out->channel_trade_no,
			 sizeof(out->channel_trade_no), &out->amount, err,
			 errlen);
	if (rc < 0)
		goto out;
	got = msg_get(&m, "orderId");
	if (got && id && map_order_id(id, oid) == 0 && strcmp(got, oid) != 0) {
		snprintf(err, errlen, "bank: answer about another orderId");
		rc = -EPROTO;
		goto out;
	}
	if (op == OP_QUERY || op == OP_REFUND_QUERY || op == OP_PAYOUT_QUERY) {
		orig = msg_get(&m, "origRespCode");
		if (strcmp(out->code, "00") == 0) {
			if (!orig || !all_alnum(orig, 8)) {
				snprintf(err, errlen,
					 "bank: query answer without "
					 "origRespCode");
				rc = -EPROTO;
				goto out;
			}
			drv_copy_clean(out->sub_code, sizeof(out->sub_code),
				       orig);
			drv_copy_clean(out->status, sizeof(out->status), orig);
		}
	}
	rc = 0;
out:
	msg_clear(&m);
	return rc;
}

/* Escapes s for an HTML attribute value. */
static void html_escape(struct drv_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			drv_buf_str(b, "&amp;");
			break;
		case '<':
			drv_buf_str(b, "&lt;");
			break;
		case '>':
			drv_buf_str(b, "&gt;");
			break;
		case '"':
			drv_buf_str(b, "&quot;");
			break;
		case '\'':
			drv_buf_str(b, "&#39;");
			break;
		default:
			drv_buf_add(b, s, 1);
		}
	}
}

/* Appends s as the contents of a JSON string: '"', '\' and control
 * characters escaped, other bytes (UTF-8) as they are. */
static void json_escape(struct drv_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char u[6] = { '\\', 'u', '0', '0', 0, 0 };

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			drv_buf_add(b, "\\", 1);
			drv_buf_add(b, s, 1);
		} else if (c < 0x20 || c == 0x7f) {
			u[4] = hex[c >> 4];
			u[5] = hex[c & 0x0f];
			drv_buf_add(b, u, sizeof(u));
		} else {
			drv_buf_add(b, s, 1);
		}
	}
}

/* Front consume: nothing was sent (see the header); sign the fields and
 * hand the payer the form, the front URL and the fields. The response is
 * not read. */
static int parse_pay(void *state, const struct payroute_order *o,
		     const struct payroute_http_response *resp,
		     struct payroute_result *out, char *err, size_t errlen)
{
	struct bank_state *st = state;
	const struct payroute_services *svc = st->svc;
	const struct bank_field *order[BANK_MAX_FIELDS];
	struct bank_msg m = { .n = 0 };
	struct drv_buf url = { 0 }, form = { 0 }, json = { 0 };
	size_t n;
	int rc;

	(void)resp;
	if (errlen)
		err[0] = '\0';
	if (!out || !out->payer) {
		snprintf(err, errlen,
			 "bank: parse_pay: no result or payer map");
		return -EINVAL;
	}
	out->amount = -1;
	rc = make_msg(st, OP_PAY, o, 1, &m, err, errlen);
	if (rc < 0)
		goto out;
	n = msg_sorted(&m, order);

	drv_buf_str(&url, st->gateway);
	drv_buf_str(&url, op_path(OP_PAY));

	drv_buf_str(&form, "<!DOCTYPE html><html><head><meta charset=\"UTF-8\">"
			   "<title>UnionPay</title></head>"
			   "<body onload=\"document.forms[0].submit()\">"
			   "<form id=\"pay_form\" method=\"post\" "
			   "accept-charset=\"UTF-8\" action=\"");
	html_escape(&form, url.p ? url.p : "");
	drv_buf_str(&form, "\">");
	drv_buf_add(&json, "{", 1);
	for (size_t i = 0; i < n; i++) {
		drv_buf_str(&form, "<input type=\"hidden\" name=\"");
		html_escape(&form, order[i]->key);
		drv_buf_str(&form, "\" value=\"");
		html_escape(&form, order[i]->value);
		drv_buf_str(&form, "\"/>");

		if (i)
			drv_buf_add(&json, ",", 1);
		drv_buf_add(&json, "\"", 1);
		json_escape(&json, order[i]->key);
		drv_buf_add(&json, "\":\"", 3);
		json_escape(&json, order[i]->value);
		drv_buf_add(&json, "\"", 1);
	}
	drv_buf_str(&form, "<noscript><input type=\"submit\" "
			   "value=\"Continue\"/></noscript>"
			   "</form></body></html>");
	drv_buf_add(&json, "}", 1);
	if (url.oom || form.oom || json.oom) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = svc->kv_set(out->payer, "form", form.p);
	if (rc == 0)
		rc = svc->kv_set(out->payer, "pay_url", url.p);
	if (rc == 0)
		rc = svc->kv_set(out->payer, "form_fields", json.p);
	if (rc < 0) {
		snprintf(err, errlen, "bank: cannot set the payer payload: %s",
			 strerror(-rc));
		goto out;
	}
	drv_copy_clean(out->code, sizeof(out->code), "FORM");
	drv_copy_clean(
		out->message, sizeof(out->message),
		"front consume: the payer posts the form to the gateway");
out:
	msg_clear(&m);
	free(url.p);
	free(form.p);
	free(json.p);
	return rc;
}

static int parse_query(void *st, const struct payroute_order *o,
		       const struct payroute_http_response *resp,
		       struct payroute_result *out, char *err, size_t errlen)
{
	return parse(st, OP_QUERY, o, resp, out, err, errlen);
}

static int parse_refund(void *st, const struct payroute_order *o,
			const struct payroute_http_response *resp,
			struct payroute_result *out, char *err, size_t errlen)
{
	return parse(st, OP_REFUND, o, resp, out, err, errlen);
}

static int parse_refund_query(void *st, const struct payroute_order *o,
			      const struct payroute_http_response *resp,
			      struct payroute_result *out, char *err,
			      size_t errlen)
{
	return parse(st, OP_REFUND_QUERY, o, resp, out, err, errlen);
}

static int parse_payout(void *st, const struct payroute_order *o,
			const struct payroute_http_response *resp,
			struct payroute_result *out, char *err, size_t errlen)
{
	return parse(st, OP_PAYOUT, o, resp, out, err, errlen);
}

static int parse_payout_query(void *st, const struct payroute_order *o,
			      const struct payroute_http_response *resp,
			      struct payroute_result *out, char *err,
			      size_t errlen)
{
	return parse(st, OP_PAYOUT_QUERY, o, resp, out, err, errlen);
}

static int parse_notify(void *state, const struct payroute_inbound *in,
			struct payroute_notify *out, char *err, size_t errlen)
{
	struct bank_state *st = state;
	struct bank_msg m = { .n = 0 };
	const char *type, *oid;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!in || !out) {
		snprintf(err, errlen, "bank: missing argument");
		return -EINVAL;
	}
	out->amount = -1;
	out->reply_ok_status = 200;
	out->reply_fail_status = 400;
	drv_copy_clean(out->reply_content_type, sizeof(out->reply_content_type),
		       "text/plain; charset=UTF-8");
	drv_copy_clean(out->reply_ok_body, sizeof(out->reply_ok_body), "ok");
	drv_copy_clean(out->reply_fail_body, sizeof(out->reply_fail_body),
		       "fail");
	if (!in->method || strcmp(in->method, "POST") != 0) {
		snprintf(err, errlen, "bank: notification is not a POST");
		return -EPROTO;
	}
	rc = parse_fields(in->body, in->body_len, 1, &m, err, errlen);
	if (rc < 0)
		goto out;
	rc = msg_verify(st, &m, err, errlen);
	if (rc < 0)
		goto out;
	rc = read_common(st, &m, out->code, sizeof(out->code), out->message,
			 sizeof(out->message), out->channel_trade_no,
			 sizeof(out->channel_trade_no), &out->amount, err,
			 errlen);
	if (rc < 0)
		goto out;
	type = msg_get(&m, "txnType");
	oid = msg_get(&m, "orderId");
	rc = -EPROTO;
	if (!type || !oid) {
		snprintf(err, errlen,
			 "bank: notification without txnType "
			 "or orderId");
		goto out;
	}
	if (strcmp(type, "01") == 0)
		out->kind = PAYROUTE_KIND_PAYMENT;
	else if (strcmp(type, "04") == 0)
		out->kind = PAYROUTE_KIND_REFUND;
	else if (strcmp(type, "12") == 0)
		out->kind = PAYROUTE_KIND_PAYOUT;
	else {
		snprintf(err, errlen,
			 "bank: notification of txnType %.8s "
			 "not supported",
			 type);
		goto out;
	}
	rc = unmap_order_id(oid,
			    out->kind == PAYROUTE_KIND_REFUND ? out->refund_id :
								out->order_id,
			    PAYROUTE_ID_LEN);
	if (rc < 0) {
		snprintf(err, errlen, "bank: malformed orderId");
		goto out;
	}
	drv_copy_clean(out->sub_code, sizeof(out->sub_code), type);
	drv_copy_clean(out->status, sizeof(out->status), out->code);
	rc = 0;
out:
	msg_clear(&m);
	if (rc < 0 && rc != -EBADMSG) {
		/* Nothing half-read leaks out of a refused notification. */
		out->kind = 0;
		out->order_id[0] = out->refund_id[0] = '\0';
		out->channel_trade_no[0] = out->code[0] = '\0';
		out->sub_code[0] = out->status[0] = out->message[0] = '\0';
		out->amount = -1;
	}
	return rc;
}

/* The driver config, as the core checks it before init (ABI 1.2). */
/* ------------------------------------------------------------------------ */
/* Bills (ABI 1.3)                                                          */
/* ------------------------------------------------------------------------ */

#define BANK_FILE_PATH "/gateway/api/fileTransRequest.do"

/* The file transfer of the day's settlement file: txnType 76, txnSubType
 * 01, bizType 000000, fileType 00, settleDate MMDD, signed like every
 * request. One part. */
static int build_bill(void *state, const struct payroute_bill_req *req,
		      payroute_http_req *http, char *err, size_t errlen)
{
	struct bank_state *st = state;
	struct bank_msg m = { .n = 0 };
	char settle[5], txn_time[15];
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!st || !req || !req->day || strlen(req->day) != 10 ||
	    strspn(req->day, "0123456789-") != 10) {
		snprintf(err, errlen, "bank: a day YYYY-MM-DD is needed");
		return -EINVAL;
	}
	if (req->part > 0)
		return -ENOENT;
	snprintf(settle, sizeof(settle), "%.2s%.2s", req->day + 5,
		 req->day + 8);
	if (beijing_time(st->svc->now_ms(), txn_time) < 0) {
		snprintf(err, errlen, "bank: the clock is out of range");
		return -EINVAL;
	}
	rc = msg_add(&m, "version", BANK_VERSION);
	if (rc == 0)
		rc = msg_add(&m, "encoding", "UTF-8");
	if (rc == 0)
		rc = msg_add(&m, "signMethod", "01");
	if (rc == 0)
		rc = msg_add(&m, "txnType", "76");
	if (rc == 0)
		rc = msg_add(&m, "txnSubType", "01");
	if (rc == 0)
		rc = msg_add(&m, "bizType", "000000");
	if (rc == 0)
		rc = msg_add(&m, "accessType", "0");
	if (rc == 0)
		rc = msg_add(&m, "merId", st->mer_id);
	if (rc == 0)
		rc = msg_add(&m, "settleDate", settle);
	if (rc == 0)
		rc = msg_add(&m, "txnTime", txn_time);
	if (rc == 0)
		rc = msg_add(&m, "fileType", "00");
	if (rc == 0)
		rc = msg_sign(st, &m);
	if (rc < 0 && errlen && !err[0])
		snprintf(err, errlen, "bank: cannot build the message: %s",
			 strerror(-rc));
	if (rc == 0)
		rc = post_msg(st, &m, BANK_FILE_PATH, http, err, errlen);
	msg_clear(&m);
	return rc;
}

/* The signed answer: respCode 00 with fileUrl (under the gateway) and
 * fileDigest (SHA-256 of the zip, hex); respCode 98, no file for the day,
 * is -ENOENT. */
static int parse_bill(void *state, const struct payroute_bill_req *req,
		      const struct payroute_http_response *resp,
		      struct payroute_bill_file *out, char *err, size_t errlen)
{
	struct bank_state *st = state;
	struct bank_msg m = { .n = 0 };
	const char *code, *url, *digest, *mer;
	int rc;

	(void)req;
	if (errlen)
		err[0] = '\0';
	if (!resp || resp->status != 200) {
		snprintf(err, errlen, "bank: HTTP status %d",
			 resp ? resp->status : 0);
		return -EPROTO;
	}
	rc = parse_fields(resp->body, resp->body_len, 0, &m, err, errlen);
	if (rc == 0)
		rc = msg_verify(st, &m, err, errlen);
	if (rc < 0)
		goto out;
	rc = -EPROTO;
	code = msg_get(&m, "respCode");
	mer = msg_get(&m, "merId");
	if (!code || (mer && strcmp(mer, st->mer_id) != 0)) {
		snprintf(err, errlen, "bank: no respCode, or another merId");
		goto out;
	}
	if (strcmp(code, "00") != 0) {
		const char *msg = msg_get(&m, "respMsg");

		snprintf(err, errlen, "bank: file transfer answered %.8s %s",
			 code, msg ? msg : "");
		rc = strcmp(code, "98") == 0 ? -ENOENT : -EPROTO;
		goto out;
	}
	url = msg_get(&m, "fileUrl");
	digest = msg_get(&m, "fileDigest");
	if (!url || strncmp(url, st->gateway, strlen(st->gateway)) != 0 ||
	    url[strlen(st->gateway)] != '/' ||
	    strlen(url) >= sizeof(out->url) ||
	    (digest && strlen(digest) >= sizeof(out->hash_hex))) {
		snprintf(err, errlen,
			 "bank: no fileUrl under the gateway, or a bad "
			 "fileDigest");
		goto out;
	}
	snprintf(out->url, sizeof(out->url), "%s", url);
	if (digest && *digest) {
		snprintf(out->hash_alg, sizeof(out->hash_alg), "SHA256");
		snprintf(out->hash_hex, sizeof(out->hash_hex), "%s", digest);
	}
	rc = 0;
out:
	msg_clear(&m);
	return rc;
}

static int bill_open(void *state, const struct payroute_bill_req *req,
		     const struct payroute_bill_file *file, int fd,
		     void **cursor, char *err, size_t errlen)
{
	struct bank_state *st = state;
	struct bank_bill *b;
	int rc;

	(void)req;
	rc = bank_bill_open(st->svc, file->hash_alg, file->hash_hex, fd, &b,
			    err, errlen);
	*cursor = rc == 0 ? b : NULL;
	return rc;
}

/* A row as the file has it, its orderIds decoded from the "X0" form. */
static int bill_next(void *cursor, struct payroute_bill_row *row, char *err,
		     size_t errlen)
{
	char id[PAYROUTE_ID_LEN];
	int rc = bank_bill_next(cursor, row, err, errlen);

	if (rc != 1)
		return rc;
	if (unmap_order_id(row->order_id, id, sizeof(id)) < 0)
		goto bad;
	snprintf(row->order_id, sizeof(row->order_id), "%s", id);
	if (row->refund_id[0]) {
		if (unmap_order_id(row->refund_id, id, sizeof(id)) < 0)
			goto bad;
		snprintf(row->refund_id, sizeof(row->refund_id), "%s", id);
	}
	return 1;
bad:
	snprintf(err, errlen, "bill line %llu: an orderId not ours",
		 (unsigned long long)row->line);
	return -EBADMSG;
}

static void bill_close(void *cursor)
{
	bank_bill_close(cursor);
}

static const struct payroute_config_key bank_keys[] = {
	{ "mer_id", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the merchant id (merId)" },
	{ "gateway", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "gateway base URL, e.g. https://gateway.95516.com" },
	{ "sign_key", PAYROUTE_CONFIG_PEM,
	  PAYROUTE_CONFIG_REQUIRED | PAYROUTE_CONFIG_SECRET, NULL,
	  "the merchant's RSA private signing key" },
	{ "verify_key", PAYROUTE_CONFIG_PEM, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the gateway's verification certificate or public key" },
	{ "cert_id", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the signing certificate's serial number in decimal (certId)" },
	{ "front_url", PAYROUTE_CONFIG_STRING, 0, NULL,
	  "where the payer's browser returns after a front consume" },
	{ "encrypt_cert", PAYROUTE_CONFIG_PEM, 0, NULL,
	  "UnionPay's encryption certificate (needed for payouts)" },
	{ "encrypt_cert_id", PAYROUTE_CONFIG_STRING, 0, NULL,
	  "its serial number in decimal; required with encrypt_cert" },
	{ "allow_clear_accno", PAYROUTE_CONFIG_BOOLEAN, 0, "false",
	  "send payout card numbers unencrypted (simulator and tests only)" },
};

static const struct payroute_config_key *bank_config_keys(size_t *n,
							  size_t *entry_size)
{
	*n = sizeof(bank_keys) / sizeof(bank_keys[0]);
	*entry_size = sizeof(struct payroute_config_key);
	return bank_keys;
}

static const struct payroute_driver bank_driver = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "bank",
	.version = "1.2.0",
	.description = "Bank cards over the UnionPay online gateway "
		       "(protocol 5.1.0, signMethod 01: RSA-SHA256), "
		       "settlement files",
	.init = bank_init,
	.fini = bank_fini,
	.build_pay = build_pay,
	.parse_pay = parse_pay,
	.build_query = build_query,
	.parse_query = parse_query,
	.build_refund = build_refund,
	.parse_refund = parse_refund,
	.build_refund_query = build_refund_query,
	.parse_refund_query = parse_refund_query,
	.build_payout = build_payout,
	.parse_payout = parse_payout,
	.build_payout_query = build_payout_query,
	.parse_payout_query = parse_payout_query,
	.parse_notify = parse_notify,
	.default_codes = bank_default_codes,
	.config_keys = bank_config_keys,
	.build_bill = build_bill,
	.parse_bill = parse_bill,
	.bill_open = bill_open,
	.bill_next = bill_next,
	.bill_close = bill_close,
};

PAYROUTE_DRIVER_EXPORT(bank_driver)
