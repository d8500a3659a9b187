/*
 * alipay.c - the Alipay channel driver: the Alipay open platform gateway
 * protocol (alipay.trade.* / alipay.fund.trans.*, RSA2 = SHA256withRSA).
 * A codec only: it turns payroute's orders into signed gateway requests,
 * verifies and decodes the gateway's answers and the asynchronous
 * notifications, and does no I/O of its own.
 *
 * Version 1.2.0: built against driver ABI 1.2: declares its config keys
 * and speaks public-key certificate mode (its x509 services), so a 1.1
 * payrouted refuses to load it. 1.1.0: barcode payments
 * (alipay.trade.pay, ABI 1.1's payroute_order.auth_code); 1.0.0 had
 * everything else.
 *
 * Driver config (the channel's driver_config object), declared to the core
 * in alipay_keys (ABI 1.2: the core checks a config against it before init
 * and shows it):
 *   app_id             required, the open platform application id
 *   gateway            required, http:// or https:// URL of the gateway,
 *                      e.g. https://openapi.alipay.com/gateway.do
 *   app_private_key    required, the application's RSA private key: PEM
 *                      text or "@/path/key.pem"
 *   sign_type          optional, "RSA2" (the only one supported)
 * and either, in public-key mode,
 *   alipay_public_key  Alipay's RSA public key (or certificate), PEM text
 *                      or "@/path"
 * or, in public-key certificate mode, all three of
 *   app_cert           the app's public key certificate, as Alipay issued
 *                      it (appCertPublicKey_<app_id>.crt), PEM or "@/path"
 *   alipay_cert        Alipay's public key certificate
 *                      (alipayCertPublicKey_RSA2.crt: the certificate, then
 *                      the intermediate that issued it)
 *   alipay_root_cert   Alipay's root certificate bundle (alipayRootCert.crt)
 * Setting both alipay_public_key and a certificate, or some of the three
 * certificates only, is refused at init.
 *
 * Public-key certificate mode, as Alipay's SDKs speak it. Requests carry
 * app_cert_sn and alipay_root_cert_sn among the common (signed)
 * parameters; answers are verified with the key of alipay_cert, and an
 * answer's alipay_cert_sn (next to its sign) must be alipay_cert's: a
 * different one means Alipay signs with a new certificate, so the answer is
 * refused (-EBADMSG) saying so, rather than failing as a bad signature.
 * Notifications are verified with the same key. At init the chains are
 * checked with the core's x509_verify (OpenSSL's X509_verify_cert):
 * app_cert and alipay_cert (with the intermediates its file carries) must
 * be issued by a certificate of alipay_root_cert and valid now; app_cert
 * must hold app_private_key's public key; a certificate expiring within 30
 * days is warned about. The serial numbers follow Alipay's rules (see
 * "Certificate serial numbers" below). This mode needs a core with the ABI
 * 1.2 x509 services.
 *
 * Transfers (alipay.fund.trans.uni.transfer, and its query
 * alipay.fund.trans.common.query) are served by Alipay in certificate mode
 * only: a channel in public-key mode refuses them at the call (-ENOTSUP,
 * saying so), which the core reports as a driver error and which sends a
 * withdrawal on to its next candidate channel.
 *
 * Requests. Every call is a POST of an application/x-www-form-urlencoded
 * body to the gateway with the common parameters app_id, method,
 * format=JSON, charset=utf-8, sign_type=RSA2, timestamp ("yyyy-MM-dd
 * HH:mm:ss", Beijing time, UTC+8), version=1.0, notify_url (pay and refund,
 * when the order has one), biz_content (compact JSON), in certificate mode
 * app_cert_sn and alipay_root_cert_sn, and sign: base64 of
 * SHA256withRSA with the app key over the non-empty parameters but sign,
 * sorted by key, joined as "k=v&k=v" with the values NOT url-encoded.
 * Amounts are yuan with exactly two decimals (1 -> "0.01"); only CNY is
 * accepted. Operations:
 *   pay       by order->environment:
 *               native_qr            alipay.trade.precreate (a call; the
 *                                    payer gets "qr_code")
 *               mini_program, jsapi  alipay.trade.create, product_code
 *                                    JSAPI_PAY, needs buyer_id (a call; the
 *                                    payer gets "trade_no")
 *               h5                   alipay.trade.wap.pay, QUICK_WAP_WAY
 *               pc                   alipay.trade.page.pay,
 *                                    FAST_INSTANT_TRADE_PAY
 *               app                  alipay.trade.app.pay,
 *                                    QUICK_MSECURITY_PAY
 *               barcode              alipay.trade.pay, scene bar_code,
 *                                    auth_code = the payer's payment code
 *                                    (order->auth_code, ABI 1.1; required:
 *                                    -EINVAL without it), product_code
 *                                    FACE_TO_FACE_PAYMENT (a call; the
 *                                    merchant scanned the payer's code, so
 *                                    the answer itself says paid or not)
 *             precreate, create and pay send timeout_express (whole
 *             minutes left until expire_at_ms), wap/page/app send
 *             time_expire. auth_code is never logged nor put in an error.
 *   query     alipay.trade.query {out_trade_no}
 *   close     alipay.trade.close {out_trade_no}
 *   refund    alipay.trade.refund {out_trade_no, refund_amount,
 *             out_request_no = refund_id, refund_reason}
 *   refund_query  alipay.trade.fastpay.refund.query {out_trade_no,
 *             out_request_no}
 *   payout    alipay.fund.trans.uni.transfer {out_biz_no = payout_id,
 *             trans_amount, product_code TRANS_ACCOUNT_NO_PWD, biz_scene
 *             DIRECT_TRANSFER, order_title, payee_info {identity =
 *             payee_account, identity_type ALIPAY_LOGON_ID, name}}; only
 *             payee_kind "alipay_account" (or none)
 *   payout_query  alipay.fund.trans.common.query {out_biz_no, product_code,
 *             biz_scene}
 *
 * Pay without a call (wap / page / app). Alipay never sees these orders
 * until the payer opens them, so there is nothing to send: build_pay checks
 * the order and writes NO request (req is left untouched, its method unset:
 * the core skips the HTTP call), then the core calls parse_pay with a
 * response of status 0 (or NULL), which signs the parameters and answers
 * code "10000", sub_code and status "WAIT_BUYER_PAY" and the payer payload:
 * "pay_url" = gateway?<url-encoded parameters with sign> (wap, page; a GET
 * of it is the payer's cashier page) or "order_string" = the url-encoded
 * signed parameters (app, for the Alipay app SDK). The signature covers a
 * timestamp taken in parse_pay.
 *
 * Answers. The body is {"<method with '.' as '_'>_response": {...},
 * "sign": "..."} (or "error_response" for gateway-level errors; in
 * certificate mode also "alipay_cert_sn", which must be ours). The
 * signature is verified with the Alipay public key over the exact bytes of
 * the node's value as it appears in the body, never a re-serialisation.
 * An answer with a sign field must verify (else -EBADMSG). An answer
 * without a sign field is accepted only when its code is not 10000 (Alipay
 * leaves gateway errors such as 40001/20001 unsigned); an unsigned 10000 is
 * -EBADMSG. Anything that is not such JSON is -EPROTO, as is an answer that
 * names another order (out_trade_no / out_request_no / out_biz_no differ).
 * The result: code, sub_code, message ("msg: sub_msg"), channel_trade_no
 * (trade_no; the transfer's order_id for payouts), amount (yuan parsed back
 * to minor units exactly; -1 when absent: query total_amount, refund
 * refund_fee (the total refunded so far), refund_query refund_amount,
 * payout_query trans_amount), payer (qr_code for precreate, trade_no for
 * create).
 *
 * Barcode answers (alipay.trade.pay). The answer has no trade_status: its
 * code is the outcome. 10000 means paid: sub_code and status are set to
 * TRADE_SUCCESS, amount from total_amount and channel_trade_no from
 * trade_no (both required, else -EPROTO: the order stays unknown and is
 * chased by query). 10003 means the payer must still confirm (a password
 * on the phone): status WAIT_BUYER_PAY, the order is processing and is
 * chased by query or settled by the notification. 20000 and 40004
 * ACQ.SYSTEM_ERROR are unknown; other 40004 ACQ.* are refusals (failed).
 *
 * Notifications: a POST of application/x-www-form-urlencoded parameters.
 * The signature (sign_type RSA2) covers the url-DECODED parameters but
 * sign and sign_type, sorted by key, "k=v&..." including empty values;
 * when that fails and some values are empty, the string without them is
 * tried too (some signers leave empty values out). A bad or missing
 * signature is -EBADMSG, a notification for another app_id is -EPROTO.
 * A notification with gmt_refund and refund_fee is a refund (kind REFUND,
 * refund_id = out_biz_no, code "REFUND_SUCCESS" since Alipay only notifies
 * refunds that succeeded, sub_code = trade_status, amount = refund_fee, the
 * total refunded so far); any other is a payment (code = trade_status,
 * amount = total_amount). A payment notification saying TRADE_SUCCESS or
 * TRADE_FINISHED without a total_amount is refused (-EPROTO, Alipay sends
 * it again): the core checks a paid order's amount, and must not be
 * handed a "paid" without one. order_id = out_trade_no, channel_trade_no =
 * trade_no, status = trade_status. Replies: "success" to accept, "fail" to
 * have Alipay send again, both 200 text/plain (Alipay retries on any body
 * but "success").
 *
 * Bills (ABI 1.3). build_bill asks
 * alipay.data.dataservice.bill.downloadurl.query for bill_type trade and
 * the day; parse_bill reads bill_download_url from the signed answer
 * (isp.bill_not_exist: no bill, -ENOENT); the core downloads the zip
 * unsigned (the URL carries Alipay's own token) and alipay_bill.c reads it.
 *
 * Result codes. `code` is the gateway's code (10000, 40004...) and
 * `sub_code` its sub_code (ACQ.TRADE_HAS_SUCCESS...). When the gateway
 * answers 10000 the codecs put the order's own status in sub_code:
 * trade_status for query (and TRADE_SUCCESS for a barcode payment: its
 * 10000 means paid), refund_status for refund_query, the transfer status
 * for payout / payout_query. For notifications `code` is trade_status
 * (REFUND_SUCCESS for refunds).
 * Rows are listed most specific first. A code missing here is left
 * unmapped on purpose: the core keeps the order unknown and chases it.
 * Errors of a query or close call never move the order (effect unknown);
 * "retryable" (on another channel) is set only where the request was
 * refused before Alipay accepted it, so that certainly no money moved.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <payroute/driver.h>

#include "alipay_bill.h"
#include "drvbuf.h"
#include "drvconf.h"
#include "drvfield.h"

#define ALIPAY_MAX_ID 64

#define ALIPAY_SN_LEN 32 /* an MD5 in hex */

struct alipay_state {
	const struct payroute_services *svc;
	char *channel;
	char *app_id;
	char *gateway;
	payroute_key *app_private_key;
	/* Verifies answers and notifications: alipay_public_key, or in
	 * certificate mode alipay_cert's key. */
	payroute_key *alipay_public_key;
	/* Public-key certificate mode (see the header comment). */
	int cert_mode;
	char app_cert_sn[ALIPAY_SN_LEN + 1];
	char alipay_cert_sn[ALIPAY_SN_LEN + 1];
	char *alipay_root_cert_sn; /* the SNs of the RSA roots, '_'-joined */
};

/* ------------------------------------------------------------------------ */
/* Config                                                                   */
/* ------------------------------------------------------------------------ */

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
	free(st->alipay_root_cert_sn);
	free(st);
}

/* ------------------------------------------------------------------------ */
/* Certificate serial numbers                                               */
/* ------------------------------------------------------------------------ */

/*
 * Alipay names a certificate by an "SN" of its own, computed as its SDKs
 * compute it: alipay-sdk for Node (4.14.0, the version tests/interop pins),
 * src/antcertutil.ts, getCertSN() and getRootCertSN(); the Java SDK's
 * AntCertificationUtil.getCertSN() / getRootCertSN() agree.
 *   - A certificate's SN is the lower-case hex MD5 of its issuer's name,
 *     written from the last attribute to the first as "SHORTNAME=value"
 *     joined by "," (what services->x509_info gives as issuer), followed
 *     at once by its serial number in decimal.
 *   - app_cert_sn and alipay_cert_sn are the SNs of the first certificate
 *     of the app's and of Alipay's certificate file.
 *   - alipay_root_cert_sn joins with "_", in file order, the SNs of the
 *     root bundle's certificates whose signature algorithm is one of RSA's
 *     (OID under 1.2.840.113549.1.1, as the SDK's startsWith() test has
 *     it): the bundle's ECC and SM2 roots are left out.
 */
#define RSA_SIG_OID_PREFIX "1.2.840.113549.1.1"
#define ALIPAY_MAX_ROOTS 16

/* Reads certificate number index of pem; err names the key. */
static int cert_info(const struct payroute_services *svc, const char *key,
		     const char *pem, size_t index,
		     struct payroute_x509_info *xi, char *err, size_t errlen)
{
	char xerr[256] = "";
	int rc;

	memset(xi, 0, sizeof(*xi));
	xi->size = sizeof(*xi);
	rc = svc->x509_info(pem, index, xi, xerr, sizeof(xerr));
	if (rc < 0 && rc != -ENOENT)
		snprintf(err, errlen, "%s: %s", key,
			 xerr[0] ? xerr : strerror(-rc));
	return rc;
}

/* The SN of the certificate xi describes, into out (ALIPAY_SN_LEN + 1). */
static int cert_sn(const struct payroute_services *svc,
		   const struct payroute_x509_info *xi, char *out)
{
	size_t li = strlen(xi->issuer), ls = strlen(xi->serial_dec);
	unsigned char md[16];
	char buf[sizeof(xi->issuer) + sizeof(xi->serial_dec)], *hex;

	memcpy(buf, xi->issuer, li);
	memcpy(buf + li, xi->serial_dec, ls);
	if (svc->md5(buf, li + ls, md) < 0)
		return -EINVAL;
	hex = svc->hex_encode(md, sizeof(md));
	if (!hex)
		return -ENOMEM;
	snprintf(out, ALIPAY_SN_LEN + 1, "%s", hex);
	svc->free(hex);
	return 0;
}

/* app_cert_sn or alipay_cert_sn: the SN of the file's first certificate.
 * *not_after_ms gets its expiry. */
static int file_sn(const struct payroute_services *svc, const char *key,
		   const char *pem, char *out, int64_t *not_after_ms, char *err,
		   size_t errlen)
{
	struct payroute_x509_info xi;
	int rc;

	rc = cert_info(svc, key, pem, 0, &xi, err, errlen);
	if (rc == -ENOENT)
		snprintf(err, errlen, "%s: no certificate", key);
	if (rc == 0 && (rc = cert_sn(svc, &xi, out)) < 0)
		snprintf(err, errlen, "%s: cannot compute its serial number",
			 key);
	*not_after_ms = xi.not_after_ms;
	return rc < 0 ? rc : 0;
}

/* alipay_root_cert_sn of the bundle pem; *out is malloc'd. */
static int root_sn(const struct payroute_services *svc, const char *pem,
		   char **out, char *err, size_t errlen)
{
	struct payroute_x509_info xi;
	struct drv_buf b = { 0 };
	char sn[ALIPAY_SN_LEN + 1];
	int rc = 0;

	*out = NULL;
	for (size_t i = 0;; i++) {
		rc = cert_info(svc, "alipay_root_cert", pem, i, &xi, err,
			       errlen);
		if (rc == -ENOENT)
			break;
		if (rc < 0)
			goto out;
		if (i == ALIPAY_MAX_ROOTS) {
			snprintf(err, errlen,
				 "alipay_root_cert: more than %d certificates",
				 ALIPAY_MAX_ROOTS);
			rc = -EINVAL;
			goto out;
		}
		if (strncmp(xi.sig_alg_oid, RSA_SIG_OID_PREFIX,
			    strlen(RSA_SIG_OID_PREFIX)) != 0)
			continue;
		rc = cert_sn(svc, &xi, sn);
		if (rc < 0) {
			snprintf(err, errlen,
				 "alipay_root_cert: cannot compute a serial "
				 "number");
			goto out;
		}
		if (b.len)
			drv_buf_add(&b, "_", 1);
		drv_buf_add(&b, sn, strlen(sn));
	}
	rc = -EINVAL;
	if (b.oom)
		snprintf(err, errlen, "out of memory");
	else if (!b.len)
		snprintf(err, errlen,
			 "alipay_root_cert: no RSA-signed root in it (Alipay's "
			 "bundle has at least one)");
	else
		rc = 0;
out:
	if (rc == 0)
		*out = b.p;
	else
		free(b.p);
	return rc;
}

/* Warns when the certificate named key expires within 30 days. */
static void warn_expiry(const struct alipay_state *st, const char *key,
			int64_t not_after_ms)
{
	int64_t left = not_after_ms - st->svc->now_ms();

	if (st->svc->log && left < 30LL * 86400 * 1000)
		st->svc->log(PAYROUTE_LOG_WARN, st->channel,
			     "alipay: %s expires in %lld day(s): get the new "
			     "one from Alipay",
			     key, (long long)(left / (86400 * 1000)));
}

/* Certificate mode: checks the chains and the app key pair, computes the
 * serial numbers and loads Alipay's key from alipay_cert. */
static int cert_mode_init(struct alipay_state *st, const char *app_cert,
			  const char *alipay_cert, const char *root, char *err,
			  size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	static const char probe[] = "payroute: app_cert holds this key";
	payroute_key *app_key = NULL;
	char xerr[256] = "", *sig = NULL;
	int64_t app_exp = 0, ali_exp = 0;
	int rc;

	if (!PAYROUTE_HAS_X509(svc)) {
		snprintf(err, errlen,
			 "app_cert: certificate mode needs the x509 services "
			 "of ABI 1.2; this core offers ABI %u.%u",
			 (unsigned)svc->abi_major, (unsigned)svc->abi_minor);
		return -ENOTSUP;
	}
	rc = svc->x509_verify(app_cert, root, svc->now_ms(), xerr,
			      sizeof(xerr));
	if (rc < 0) {
		snprintf(err, errlen,
			 "app_cert: not a valid certificate issued under "
			 "alipay_root_cert: %s",
			 xerr[0] ? xerr : strerror(-rc));
		return rc;
	}
	rc = svc->x509_verify(alipay_cert, root, svc->now_ms(), xerr,
			      sizeof(xerr));
	if (rc < 0) {
		snprintf(err, errlen,
			 "alipay_cert: not a valid certificate issued under "
			 "alipay_root_cert: %s",
			 xerr[0] ? xerr : strerror(-rc));
		return rc;
	}
	rc = file_sn(svc, "app_cert", app_cert, st->app_cert_sn, &app_exp, err,
		     errlen);
	if (rc == 0)
		rc = file_sn(svc, "alipay_cert", alipay_cert,
			     st->alipay_cert_sn, &ali_exp, err, errlen);
	if (rc == 0)
		rc = root_sn(svc, root, &st->alipay_root_cert_sn, err, errlen);
	if (rc < 0)
		return rc;
	/* The app's certificate must hold the key the requests are signed
	 * with, or Alipay refuses every call. */
	rc = svc->key_load(app_cert, 0, &app_key, xerr, sizeof(xerr));
	if (rc < 0) {
		snprintf(err, errlen, "app_cert: cannot load its key: %s",
			 xerr[0] ? xerr : strerror(-rc));
		return rc;
	}
	rc = svc->rsa_sha256_sign(st->app_private_key, probe, strlen(probe),
				  &sig);
	if (rc == 0)
		rc = svc->rsa_sha256_verify(app_key, probe, strlen(probe), sig);
	svc->key_free(app_key);
	if (sig)
		svc->free(sig);
	if (rc < 0) {
		snprintf(err, errlen,
			 "app_cert: its public key is not app_private_key's");
		return -EINVAL;
	}
	rc = svc->key_load(alipay_cert, 0, &st->alipay_public_key, xerr,
			   sizeof(xerr));
	if (rc < 0) {
		snprintf(err, errlen, "alipay_cert: cannot load its key: %s",
			 xerr[0] ? xerr : strerror(-rc));
		return rc;
	}
	st->cert_mode = 1;
	warn_expiry(st, "app_cert", app_exp);
	warn_expiry(st, "alipay_cert", ali_exp);
	return 0;
}

static int alipay_init(const struct payroute_services *svc, const char *channel,
		       const payroute_conf *conf, void **state, char *err,
		       size_t errlen)
{
	struct alipay_state *st = NULL;
	const char *app_id, *gateway, *sign_type, *public_key = NULL;
	const char *app_cert = NULL, *alipay_cert = NULL, *root = NULL;
	int plain = 0, n_certs;
	int rc;

	if (!svc || !conf || !state) {
		snprintf(err, errlen, "init: missing argument");
		return -EINVAL;
	}
	rc = drv_check_services(svc, err, errlen);
	if (rc < 0)
		return rc;

	rc = drv_conf_string(svc, conf, "app_id", 1, &app_id, err, errlen);
	if (rc == 0)
		rc = drv_check_ident("app_id", app_id, ALIPAY_MAX_ID, err,
				     errlen);
	if (rc == 0)
		rc = drv_conf_string(svc, conf, "gateway", 1, &gateway, err,
				     errlen);
	if (rc == 0)
		rc = drv_check_url("gateway", gateway, &plain, err, errlen);
	if (rc == 0)
		rc = drv_conf_string(svc, conf, "sign_type", 0, &sign_type, err,
				     errlen);
	if (rc == 0 && sign_type && strcmp(sign_type, "RSA2") != 0) {
		snprintf(err, errlen,
			 "sign_type: \"%s\" is not supported (only RSA2)",
			 sign_type);
		rc = -EINVAL;
	}
	/* public-key mode or certificate mode, never both or half */
	if (rc == 0)
		rc = drv_conf_string(svc, conf, "alipay_public_key", 0,
				     &public_key, err, errlen);
	if (rc == 0)
		rc = drv_conf_string(svc, conf, "app_cert", 0, &app_cert, err,
				     errlen);
	if (rc == 0)
		rc = drv_conf_string(svc, conf, "alipay_cert", 0, &alipay_cert,
				     err, errlen);
	if (rc == 0)
		rc = drv_conf_string(svc, conf, "alipay_root_cert", 0, &root,
				     err, errlen);
	if (rc < 0)
		return rc;
	n_certs = !!app_cert + !!alipay_cert + !!root;
	if (n_certs && n_certs < 3) {
		snprintf(err, errlen,
			 "%s: required in certificate mode: app_cert, "
			 "alipay_cert and alipay_root_cert go together",
			 !app_cert    ? "app_cert" :
			 !alipay_cert ? "alipay_cert" :
					"alipay_root_cert");
		return -EINVAL;
	}
	if (n_certs && public_key) {
		snprintf(err, errlen,
			 "alipay_public_key: not used in certificate mode "
			 "(Alipay's key is alipay_cert's): leave it out");
		return -EINVAL;
	}
	if (!n_certs && !public_key) {
		snprintf(err, errlen,
			 "alipay_public_key: required (or app_cert, "
			 "alipay_cert and alipay_root_cert for certificate "
			 "mode)");
		return -EINVAL;
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		goto nomem;
	st->svc = svc;
	st->channel = strdup(channel ? channel : "");
	st->app_id = strdup(app_id);
	st->gateway = strdup(gateway);
	if (!st->channel || !st->app_id || !st->gateway)
		goto nomem;

	rc = drv_load_key(svc, conf, "app_private_key", 1, &st->app_private_key,
			  err, errlen);
	if (rc < 0)
		goto fail;
	if (n_certs)
		rc = cert_mode_init(st, app_cert, alipay_cert, root, err,
				    errlen);
	else
		rc = drv_load_key(svc, conf, "alipay_public_key", 0,
				  &st->alipay_public_key, err, errlen);
	if (rc < 0)
		goto fail;

	if (svc->log) {
		if (plain)
			svc->log(PAYROUTE_LOG_WARN, st->channel,
				 "alipay: gateway %s is plain http (only for a "
				 "simulator)",
				 st->gateway);
		svc->log(PAYROUTE_LOG_INFO, st->channel,
			 "alipay: app_id %s, gateway %s: %s", st->app_id,
			 st->gateway,
			 st->cert_mode ? "certificate mode, chains checked" :
					 "public-key mode, keys loaded");
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
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

#define ALIPAY_OK "10000"
#define ALIPAY_PAYING "10003" /* waiting for the payer (barcode) */
#define ALIPAY_MAX_PARAMS 14
#define ALIPAY_MAX_BODY (1024 * 1024)
#define ALIPAY_NOTIFY_MAX_BODY (64 * 1024)
#define ALIPAY_NOTIFY_MAX_PARAMS 128
#define ALIPAY_MAX_TIMEOUT_MIN (15 * 24 * 60) /* timeout_express: 15d */
#define ALIPAY_MAX_AUTH_CODE 64
#define BEIJING_OFFSET_S (8 * 3600)

/* An order field the operation needs: present, an identifier. */
static int need_id(const char *v, const char *what, char *err, size_t errlen)
{
	if (!v || !*v) {
		snprintf(err, errlen, "%s: required", what);
		return -EINVAL;
	}
	return drv_check_ident(what, v, ALIPAY_MAX_ID, err, errlen);
}

static int need_cny(const struct payroute_order *o, char *err, size_t errlen)
{
	if (strncmp(o->currency, "CNY", sizeof(o->currency)) != 0) {
		snprintf(err, errlen, "currency: alipay supports CNY only");
		return -EINVAL;
	}
	return 0;
}

/* Minor units to yuan with exactly two decimals: 1 -> "0.01". */
static int format_yuan(int64_t minor, const char *what, char *buf, size_t len,
		       char *err, size_t errlen)
{
	if (minor <= 0) {
		snprintf(err, errlen, "%s: must be positive", what);
		return -EINVAL;
	}
	snprintf(buf, len, "%" PRId64 ".%02d", minor / 100, (int)(minor % 100));
	return 0;
}

/* Yuan ("12", "12.3", "12.34") to minor units, exactly; -EPROTO for
 * anything else (sign, exponent, a third decimal, overflow). */
static int parse_yuan(const char *s, int64_t *out)
{
	int64_t v = 0;
	int frac = 0, nd = 0;

	if (*s < '0' || *s > '9')
		return -EPROTO;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX / 100 - 99) / 10)
			return -EPROTO;
		v = v * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (++nd > 2)
				return -EPROTO;
			frac = frac * 10 + (*s - '0');
		}
		if (nd == 0)
			return -EPROTO;
		if (nd == 1)
			frac *= 10;
	}
	if (*s)
		return -EPROTO;
	*out = v * 100 + frac;
	return 0;
}

/* "yyyy-MM-dd HH:mm:ss" in Beijing time (UTC+8) for ms since the epoch. */
static int beijing_time(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t;

	if (ms < 0)
		return -EINVAL;
	t = (time_t)(ms / 1000) + BEIJING_OFFSET_S;
	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Parameters and signatures                                                */
/* ------------------------------------------------------------------------ */

struct alipay_param {
	const char *key;
	const char *value;
};

static int param_cmp(const void *a, const void *b)
{
	return strcmp(((const struct alipay_param *)a)->key,
		      ((const struct alipay_param *)b)->key);
}

#define JOIN_NO_SIGN 1	    /* leave out "sign" */
#define JOIN_NO_SIGN_TYPE 2 /* leave out "sign_type" */
#define JOIN_NO_EMPTY 4	    /* leave out empty values */
#define JOIN_ENCODE 8	    /* percent-encode keys and values */

/* Joins the pairs as "k=v&k=v" in their order. Returns a malloc'd string
 * (free()) or NULL when out of memory. */
static char *join_params(const struct payroute_services *svc,
			 const struct alipay_param *p, size_t n, int flags)
{
	struct drv_buf b = { 0 };
	char *ek, *ev;
	int first = 1;

	drv_buf_add(&b, "", 0);
	for (size_t i = 0; i < n; i++) {
		if ((flags & JOIN_NO_SIGN) && strcmp(p[i].key, "sign") == 0)
			continue;
		if ((flags & JOIN_NO_SIGN_TYPE) &&
		    strcmp(p[i].key, "sign_type") == 0)
			continue;
		if ((flags & JOIN_NO_EMPTY) && !*p[i].value)
			continue;
		if (!first)
			drv_buf_add(&b, "&", 1);
		first = 0;
		if (flags & JOIN_ENCODE) {
			ek = svc->url_encode(p[i].key);
			ev = svc->url_encode(p[i].value);
			if (!ek || !ev)
				b.oom = 1;
			else {
				drv_buf_add(&b, ek, strlen(ek));
				drv_buf_add(&b, "=", 1);
				drv_buf_add(&b, ev, strlen(ev));
			}
			svc->free(ek);
			svc->free(ev);
		} else {
			drv_buf_add(&b, p[i].key, strlen(p[i].key));
			drv_buf_add(&b, "=", 1);
			drv_buf_add(&b, p[i].value, strlen(p[i].value));
		}
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* A signed request: the parameters (sorted, sign last) and what they point
 * to. */
struct alipay_req {
	struct alipay_param p[ALIPAY_MAX_PARAMS];
	size_t n;
	char timestamp[32];
	char *biz;  /* json_dumps(): free() */
	char *sign; /* svc->free() */
};

static void req_clear(const struct payroute_services *svc,
		      struct alipay_req *ar)
{
	free(ar->biz);
	if (ar->sign)
		svc->free(ar->sign);
	memset(ar, 0, sizeof(*ar));
}

static void req_add(struct alipay_req *ar, const char *key, const char *value)
{
	if (value && *value && ar->n < ALIPAY_MAX_PARAMS) {
		ar->p[ar->n].key = key;
		ar->p[ar->n].value = value;
		ar->n++;
	}
}

/* Fills ar with the common parameters of `method` and biz, and signs them
 * with the app key. notify_url may be NULL. */
static int sign_request(struct alipay_state *st, struct alipay_req *ar,
			const char *method, const char *notify_url,
			const json_t *biz, char *err, size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	char *content;
	int rc;

	memset(ar, 0, sizeof(*ar));
	ar->biz = json_dumps(biz, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!ar->biz) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (beijing_time(svc->now_ms(), ar->timestamp, sizeof(ar->timestamp))) {
		snprintf(err, errlen, "clock out of range");
		return -EINVAL;
	}
	if (notify_url && *notify_url) {
		int plain;

		rc = drv_check_url("notify_url", notify_url, &plain, err,
				   errlen);
		if (rc < 0)
			return rc;
	}
	req_add(ar, "app_id", st->app_id);
	req_add(ar, "method", method);
	req_add(ar, "format", "JSON");
	req_add(ar, "charset", "utf-8");
	req_add(ar, "sign_type", "RSA2");
	req_add(ar, "timestamp", ar->timestamp);
	req_add(ar, "version", "1.0");
	req_add(ar, "notify_url", notify_url);
	req_add(ar, "biz_content", ar->biz);
	if (st->cert_mode) {
		req_add(ar, "app_cert_sn", st->app_cert_sn);
		req_add(ar, "alipay_root_cert_sn", st->alipay_root_cert_sn);
	}
	qsort(ar->p, ar->n, sizeof(ar->p[0]), param_cmp);

	content = join_params(svc, ar->p, ar->n, JOIN_NO_SIGN | JOIN_NO_EMPTY);
	if (!content) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = svc->rsa_sha256_sign(st->app_private_key, content, strlen(content),
				  &ar->sign);
	free(content);
	if (rc < 0 || !ar->sign) {
		ar->sign = NULL;
		snprintf(err, errlen, "cannot sign the request: %s",
			 strerror(rc < 0 ? -rc : EINVAL));
		return rc < 0 ? rc : -EINVAL;
	}
	req_add(ar, "sign", ar->sign);
	return 0;
}

/* Signs and writes the gateway call: POST gateway, form body. */
static int call_gateway(struct alipay_state *st, const char *method,
			const char *notify_url, const json_t *biz,
			payroute_http_req *req, char *err, size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	struct alipay_req ar;
	char *body = NULL;
	int rc;

	rc = sign_request(st, &ar, method, notify_url, biz, err, errlen);
	if (rc < 0)
		goto out;
	body = join_params(svc, ar.p, ar.n, JOIN_ENCODE | JOIN_NO_EMPTY);
	if (!body) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = svc->http_set(req, "POST", st->gateway);
	if (rc == 0)
		rc = svc->http_header(
			req, "Content-Type",
			"application/x-www-form-urlencoded;charset=utf-8");
	if (rc == 0)
		rc = svc->http_header(req, "Accept", "application/json");
	if (rc == 0)
		rc = svc->http_body(req, body, strlen(body));
	if (rc < 0)
		snprintf(err, errlen, "cannot write the request: %s",
			 strerror(-rc));
out:
	free(body);
	req_clear(svc, &ar);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* biz_content                                                              */
/* ------------------------------------------------------------------------ */

/* Sets a string member; -EINVAL when v is not valid UTF-8. A NULL or empty
 * v is left out. */
static int biz_str(json_t *obj, const char *key, const char *v, char *err,
		   size_t errlen)
{
	json_t *s;

	if (!v || !*v)
		return 0;
	s = json_string(v);
	if (!s || json_object_set_new(obj, key, s) < 0) {
		snprintf(err, errlen, "%s: not valid UTF-8", key);
		return -EINVAL;
	}
	return 0;
}

enum pay_kind {
	PAY_PRECREATE, /* API call, payer gets qr_code */
	PAY_CREATE,    /* API call, payer gets trade_no */
	PAY_URL,       /* no call, payer gets pay_url */
	PAY_APP,       /* no call, payer gets order_string */
	PAY_BARCODE,   /* API call, paid (or not) in the answer */
};

struct pay_env {
	const char *environment;
	const char *method;
	const char *product_code;
	enum pay_kind kind;
};

static const struct pay_env pay_envs[] = {
	{ "native_qr", "alipay.trade.precreate", "FACE_TO_FACE_PAYMENT",
	  PAY_PRECREATE },
	{ "mini_program", "alipay.trade.create", "JSAPI_PAY", PAY_CREATE },
	{ "jsapi", "alipay.trade.create", "JSAPI_PAY", PAY_CREATE },
	{ "h5", "alipay.trade.wap.pay", "QUICK_WAP_WAY", PAY_URL },
	{ "pc", "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY", PAY_URL },
	{ "app", "alipay.trade.app.pay", "QUICK_MSECURITY_PAY", PAY_APP },
	{ "barcode", "alipay.trade.pay", "FACE_TO_FACE_PAYMENT", PAY_BARCODE },
};

static const struct pay_env *find_env(const struct payroute_order *o, char *err,
				      size_t errlen)
{
	for (size_t i = 0; i < sizeof(pay_envs) / sizeof(pay_envs[0]); i++)
		if (o->environment &&
		    strcmp(o->environment, pay_envs[i].environment) == 0)
			return &pay_envs[i];
	snprintf(err, errlen,
		 "environment: \"%s\" is not supported by alipay (native_qr, "
		 "mini_program, jsapi, h5, pc, app, barcode)",
		 o->environment ? o->environment : "");
	return NULL;
}

/* The payer's payment code of a barcode payment: present (ABI 1.1 and set)
 * and a token of at most ALIPAY_MAX_AUTH_CODE bytes. The error never
 * quotes it. */
static int need_auth_code(const struct payroute_order *o, const char **out,
			  char *err, size_t errlen)
{
	const char *v = NULL;

	if (PAYROUTE_HAS_FIELD(o, struct payroute_order, auth_code))
		v = o->auth_code;
	if (!v || !*v) {
		snprintf(err, errlen,
			 "auth_code: required for barcode payments");
		return -EINVAL;
	}
	if (strlen(v) > ALIPAY_MAX_AUTH_CODE || !drv_is_token(v)) {
		snprintf(err, errlen,
			 "auth_code: at most %d printable characters without "
			 "spaces",
			 ALIPAY_MAX_AUTH_CODE);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* The biz_content of a payment. */
static int pay_biz(struct alipay_state *st, const struct payroute_order *o,
		   const struct pay_env *pe, json_t **out, char *err,
		   size_t errlen)
{
	char amount[32], subject[PAYROUTE_ID_LEN + 16], when[32];
	const char *auth_code = NULL;
	json_t *biz;
	int64_t left;
	int rc;

	*out = NULL;
	rc = need_id(o->order_id, "order_id", err, errlen);
	if (rc == 0)
		rc = need_cny(o, err, errlen);
	if (rc == 0)
		rc = format_yuan(o->amount, "amount", amount, sizeof(amount),
				 err, errlen);
	if (rc == 0 && pe->kind == PAY_CREATE)
		rc = need_id(o->buyer_id, "buyer_id", err, errlen);
	if (rc == 0 && pe->kind == PAY_BARCODE)
		rc = need_auth_code(o, &auth_code, err, errlen);
	if (rc < 0)
		return rc;
	biz = json_object();
	if (!biz) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Alipay requires a subject. */
	if (o->subject && *o->subject)
		drv_copy_text(subject, sizeof(subject), o->subject);
	else
		snprintf(subject, sizeof(subject), "order %s", o->order_id);

	rc = biz_str(biz, "out_trade_no", o->order_id, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "total_amount", amount, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "subject", subject, err, errlen);
	if (rc == 0 && pe->kind == PAY_BARCODE)
		rc = biz_str(biz, "scene", "bar_code", err, errlen);
	if (rc == 0 && pe->kind == PAY_BARCODE)
		rc = biz_str(biz, "auth_code", auth_code, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "product_code", pe->product_code, err,
			     errlen);
	if (rc == 0 && pe->kind == PAY_CREATE)
		rc = biz_str(biz, "buyer_id", o->buyer_id, err, errlen);
	if (rc == 0 && o->expire_at_ms > 0) {
		if (pe->kind == PAY_URL || pe->kind == PAY_APP) {
			if (beijing_time(o->expire_at_ms, when, sizeof(when))) {
				snprintf(err, errlen,
					 "expire_at_ms: out of range");
				rc = -EINVAL;
			} else {
				rc = biz_str(biz, "time_expire", when, err,
					     errlen);
			}
		} else {
			left = o->expire_at_ms - st->svc->now_ms();
			if (left <= 0) {
				snprintf(err, errlen,
					 "expire_at_ms: already past");
				rc = -EINVAL;
			} else {
				left = (left + 59999) / 60000;
				if (left > ALIPAY_MAX_TIMEOUT_MIN)
					left = ALIPAY_MAX_TIMEOUT_MIN;
				snprintf(when, sizeof(when), "%" PRId64 "m",
					 left);
				rc = biz_str(biz, "timeout_express", when, err,
					     errlen);
			}
		}
	}
	if (rc < 0) {
		json_decref(biz);
		return rc;
	}
	*out = biz;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Builders                                                                 */
/* ------------------------------------------------------------------------ */

static int alipay_build_pay(void *state, const struct payroute_order *o,
			    payroute_http_req *req, char *err, size_t errlen)
{
	struct alipay_state *st = state;
	const struct pay_env *pe;
	json_t *biz;
	int rc;

	if (!st || !o || !req) {
		snprintf(err, errlen, "build_pay: missing argument");
		return -EINVAL;
	}
	pe = find_env(o, err, errlen);
	if (!pe)
		return -ENOTSUP;
	rc = pay_biz(st, o, pe, &biz, err, errlen);
	if (rc < 0)
		return rc;
	/* wap / page / app: no call; parse_pay signs the payer's payload. */
	if (pe->kind == PAY_PRECREATE || pe->kind == PAY_CREATE ||
	    pe->kind == PAY_BARCODE)
		rc = call_gateway(st, pe->method, o->notify_url, biz, req, err,
				  errlen);
	json_decref(biz);
	return rc;
}

/* biz_content with only the out_trade_no (query, close). */
static int build_by_trade_no(void *state, const struct payroute_order *o,
			     payroute_http_req *req, const char *method,
			     char *err, size_t errlen)
{
	struct alipay_state *st = state;
	json_t *biz;
	int rc;

	if (!st || !o || !req) {
		snprintf(err, errlen, "build: missing argument");
		return -EINVAL;
	}
	rc = need_id(o->order_id, "order_id", err, errlen);
	if (rc < 0)
		return rc;
	biz = json_object();
	if (!biz) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = biz_str(biz, "out_trade_no", o->order_id, err, errlen);
	if (rc == 0)
		rc = call_gateway(st, method, NULL, biz, req, err, errlen);
	json_decref(biz);
	return rc;
}

static int alipay_build_query(void *state, const struct payroute_order *o,
			      payroute_http_req *req, char *err, size_t errlen)
{
	return build_by_trade_no(state, o, req, "alipay.trade.query", err,
				 errlen);
}

static int alipay_build_close(void *state, const struct payroute_order *o,
			      payroute_http_req *req, char *err, size_t errlen)
{
	return build_by_trade_no(state, o, req, "alipay.trade.close", err,
				 errlen);
}

static int alipay_build_refund(void *state, const struct payroute_order *o,
			       payroute_http_req *req, char *err, size_t errlen)
{
	struct alipay_state *st = state;
	char amount[32];
	json_t *biz;
	int rc;

	if (!st || !o || !req) {
		snprintf(err, errlen, "build_refund: missing argument");
		return -EINVAL;
	}
	rc = need_id(o->order_id, "order_id", err, errlen);
	if (rc == 0)
		rc = need_id(o->refund_id, "refund_id", err, errlen);
	if (rc == 0)
		rc = need_cny(o, err, errlen);
	if (rc == 0)
		rc = format_yuan(o->refund_amount, "refund_amount", amount,
				 sizeof(amount), err, errlen);
	if (rc < 0)
		return rc;
	biz = json_object();
	if (!biz) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = biz_str(biz, "out_trade_no", o->order_id, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "refund_amount", amount, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "out_request_no", o->refund_id, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "refund_reason", o->reason, err, errlen);
	if (rc == 0)
		rc = call_gateway(st, "alipay.trade.refund", o->notify_url, biz,
				  req, err, errlen);
	json_decref(biz);
	return rc;
}

static int alipay_build_refund_query(void *state,
				     const struct payroute_order *o,
				     payroute_http_req *req, char *err,
				     size_t errlen)
{
	struct alipay_state *st = state;
	json_t *biz;
	int rc;

	if (!st || !o || !req) {
		snprintf(err, errlen, "build_refund_query: missing argument");
		return -EINVAL;
	}
	rc = need_id(o->order_id, "order_id", err, errlen);
	if (rc == 0)
		rc = need_id(o->refund_id, "refund_id", err, errlen);
	if (rc < 0)
		return rc;
	biz = json_object();
	if (!biz) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = biz_str(biz, "out_trade_no", o->order_id, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "out_request_no", o->refund_id, err, errlen);
	if (rc == 0)
		rc = call_gateway(st, "alipay.trade.fastpay.refund.query", NULL,
				  biz, req, err, errlen);
	json_decref(biz);
	return rc;
}

#define PAYOUT_PRODUCT "TRANS_ACCOUNT_NO_PWD"
#define PAYOUT_SCENE "DIRECT_TRANSFER"

/* Alipay serves the fund.trans methods in certificate mode only. */
static int need_cert_mode(const struct alipay_state *st, const char *method,
			  char *err, size_t errlen)
{
	if (st->cert_mode)
		return 0;
	snprintf(err, errlen,
		 "%s: Alipay serves transfers in certificate mode only and "
		 "this channel is in public-key mode (configure app_cert, "
		 "alipay_cert, alipay_root_cert)",
		 method);
	return -ENOTSUP;
}

static int alipay_build_payout(void *state, const struct payroute_order *o,
			       payroute_http_req *req, char *err, size_t errlen)
{
	struct alipay_state *st = state;
	const char *title;
	char amount[32];
	json_t *biz, *payee = NULL;
	int rc;

	if (!st || !o || !req) {
		snprintf(err, errlen, "build_payout: missing argument");
		return -EINVAL;
	}
	rc = need_cert_mode(st, "alipay.fund.trans.uni.transfer", err, errlen);
	if (rc < 0)
		return rc;
	if (o->payee_kind && *o->payee_kind &&
	    strcmp(o->payee_kind, "alipay_account") != 0) {
		snprintf(err, errlen,
			 "payee_kind: alipay pays out to alipay_account only");
		return -EINVAL;
	}
	rc = need_id(o->payout_id, "payout_id", err, errlen);
	if (rc == 0)
		rc = need_cny(o, err, errlen);
	if (rc == 0)
		rc = format_yuan(o->amount, "amount", amount, sizeof(amount),
				 err, errlen);
	if (rc == 0 && (!o->payee_account || !*o->payee_account)) {
		snprintf(err, errlen, "payee_account: required");
		rc = -EINVAL;
	}
	if (rc < 0)
		return rc;
	title = o->subject && *o->subject ? o->subject :
		o->reason && *o->reason	  ? o->reason :
					    "withdrawal";
	biz = json_object();
	payee = json_object();
	if (!biz || !payee) {
		json_decref(biz);
		json_decref(payee);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = biz_str(payee, "identity", o->payee_account, err, errlen);
	if (rc == 0)
		rc = biz_str(payee, "identity_type", "ALIPAY_LOGON_ID", err,
			     errlen);
	if (rc == 0)
		rc = biz_str(payee, "name", o->payee_name, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "out_biz_no", o->payout_id, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "trans_amount", amount, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "product_code", PAYOUT_PRODUCT, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "biz_scene", PAYOUT_SCENE, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "order_title", title, err, errlen);
	if (rc == 0 && json_object_set(biz, "payee_info", payee) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	}
	if (rc == 0)
		rc = biz_str(biz, "remark", o->reason, err, errlen);
	if (rc == 0)
		rc = call_gateway(st, "alipay.fund.trans.uni.transfer", NULL,
				  biz, req, err, errlen);
	json_decref(payee);
	json_decref(biz);
	return rc;
}

static int alipay_build_payout_query(void *state,
				     const struct payroute_order *o,
				     payroute_http_req *req, char *err,
				     size_t errlen)
{
	struct alipay_state *st = state;
	json_t *biz;
	int rc;

	if (!st || !o || !req) {
		snprintf(err, errlen, "build_payout_query: missing argument");
		return -EINVAL;
	}
	rc = need_cert_mode(st, "alipay.fund.trans.common.query", err, errlen);
	if (rc == 0)
		rc = need_id(o->payout_id, "payout_id", err, errlen);
	if (rc < 0)
		return rc;
	biz = json_object();
	if (!biz) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = biz_str(biz, "out_biz_no", o->payout_id, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "product_code", PAYOUT_PRODUCT, err, errlen);
	if (rc == 0)
		rc = biz_str(biz, "biz_scene", PAYOUT_SCENE, err, errlen);
	if (rc == 0)
		rc = call_gateway(st, "alipay.fund.trans.common.query", NULL,
				  biz, req, err, errlen);
	json_decref(biz);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */
/* ------------------------------------------------------------------------ */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* s[*i] is '"': moves *i past the closing quote. -1 when unterminated. */
static int scan_string(const char *s, size_t n, size_t *i)
{
	size_t j = *i + 1;

	while (j < n) {
		if (s[j] == '\\') {
			j += 2;
			continue;
		}
		if (s[j] == '"') {
			*i = j + 1;
			return 0;
		}
		j++;
	}
	return -1;
}

/* Moves *i past the JSON value starting at s[*i]: a string, an object or
 * array (brackets counted outside strings), or a scalar. Bounded by n. */
static int scan_value(const char *s, size_t n, size_t *i)
{
	size_t depth = 0, j = *i;

	if (j >= n)
		return -1;
	if (s[j] == '"')
		return scan_string(s, n, i);
	if (s[j] != '{' && s[j] != '[') {
		while (j < n && s[j] != ',' && s[j] != '}' && s[j] != ']' &&
		       s[j] != ' ' && s[j] != '\t' && s[j] != '\n' &&
		       s[j] != '\r')
			j++;
		if (j == *i)
			return -1;
		*i = j;
		return 0;
	}
	while (j < n) {
		if (s[j] == '"') {
			if (scan_string(s, n, &j) < 0)
				return -1;
			continue;
		}
		if (s[j] == '{' || s[j] == '[') {
			depth++;
		} else if (s[j] == '}' || s[j] == ']') {
			if (depth == 0)
				return -1;
			if (--depth == 0) {
				*i = j + 1;
				return 0;
			}
		}
		j++;
	}
	return -1;
}

/* Finds the text of the value of the top-level member `name` of the JSON
 * object in s[0..n): its first byte at *start, one past its last at *end.
 * The key must be spelt without escapes. -1 when it is not there. */
static int find_member(const char *s, size_t n, const char *name, size_t *start,
		       size_t *end)
{
	size_t i = skip_ws(s, n, 0), ks, kl = strlen(name);

	if (i >= n || s[i] != '{')
		return -1;
	i++;
	for (;;) {
		i = skip_ws(s, n, i);
		if (i >= n || s[i] != '"')
			return -1;
		ks = i + 1;
		if (scan_string(s, n, &i) < 0)
			return -1;
		int match = i - 1 - ks == kl && memcmp(s + ks, name, kl) == 0;
		i = skip_ws(s, n, i);
		if (i >= n || s[i] != ':')
			return -1;
		i = skip_ws(s, n, i + 1);
		*start = i;
		if (scan_value(s, n, &i) < 0)
			return -1;
		if (match) {
			*end = i;
			return 0;
		}
		i = skip_ws(s, n, i);
		if (i >= n || s[i] != ',')
			return -1;
		i++;
	}
}

/* A string member of an answer: sets *out (NULL when missing or null);
 * -EPROTO when it is of another type. */
static int get_field(const json_t *node, const char *key, const char **out,
		     char *err, size_t errlen)
{
	json_t *v = json_object_get(node, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "answer: %s is not a string", key);
		return -EPROTO;
	}
	*out = json_string_value(v);
	return 0;
}

/* Reads the common part of an answer to `method`: checks the HTTP status,
 * parses the JSON, verifies the signature of the response node over its
 * text in the body, fills code, sub_code, message. On success *root is the
 * parsed body (json_decref) and *node its response node (borrowed). */
static int parse_answer(struct alipay_state *st, const char *method,
			const struct payroute_http_response *resp,
			struct payroute_result *out, json_t **root_out,
			json_t **node_out, char *err, size_t errlen)
{
	char name[96], msg[PAYROUTE_MSG_LEN];
	const char *used, *code, *sub, *m, *sm;
	json_t *root = NULL, *node, *sign, *sn;
	json_error_t jerr;
	size_t start, end;
	int rc;

	*root_out = NULL;
	*node_out = NULL;
	out->amount = -1;
	if (!resp || resp->status == 0) {
		snprintf(err, errlen, "no answer from the gateway");
		return -EPROTO;
	}
	if (resp->status != 200) {
		snprintf(err, errlen, "gateway answered HTTP %d", resp->status);
		return -EPROTO;
	}
	if (!resp->body || resp->body_len == 0) {
		snprintf(err, errlen, "empty answer");
		return -EPROTO;
	}
	if (resp->body_len > ALIPAY_MAX_BODY) {
		snprintf(err, errlen, "answer larger than %d bytes",
			 ALIPAY_MAX_BODY);
		return -EPROTO;
	}
	root = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES,
			  &jerr);
	if (!root) {
		snprintf(err, errlen, "answer is not JSON: %s (line %d)",
			 jerr.text, jerr.line);
		return -EPROTO;
	}
	rc = -EPROTO;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "answer is not a JSON object");
		goto fail;
	}
	snprintf(name, sizeof(name), "%s_response", method);
	for (char *p = name; *p; p++)
		if (*p == '.')
			*p = '_';
	used = name;
	node = json_object_get(root, name);
	if (!node) {
		used = "error_response";
		node = json_object_get(root, used);
	}
	if (!node) {
		snprintf(err, errlen, "answer has no %s node", name);
		goto fail;
	}
	if (!json_is_object(node)) {
		snprintf(err, errlen, "answer: %s is not an object", used);
		goto fail;
	}
	if (get_field(node, "code", &code, err, errlen) < 0)
		goto fail;
	if (!code || !*code) {
		snprintf(err, errlen, "answer: %s has no code", used);
		goto fail;
	}
	/* Certificate mode: the answer names the certificate it is signed
	 * with; another than ours means Alipay has a new one. */
	sn = st->cert_mode ? json_object_get(root, "alipay_cert_sn") : NULL;
	if (sn && !json_is_string(sn)) {
		snprintf(err, errlen, "answer: alipay_cert_sn is not a string");
		goto fail;
	}
	if (sn && strcmp(json_string_value(sn), st->alipay_cert_sn) != 0) {
		snprintf(err, errlen,
			 "answer: signed with Alipay's certificate %s, this "
			 "channel's alipay_cert is %s (Alipay has a new "
			 "certificate: download it and update alipay_cert)",
			 strlen(json_string_value(sn)) <= ALIPAY_SN_LEN &&
					 drv_is_token(json_string_value(sn)) ?
				 json_string_value(sn) :
				 "(not an SN)",
			 st->alipay_cert_sn);
		rc = -EBADMSG;
		goto fail;
	}
	sign = json_object_get(root, "sign");
	if (sign) {
		if (!json_is_string(sign)) {
			snprintf(err, errlen, "answer: sign is not a string");
			goto fail;
		}
		if (find_member(resp->body, resp->body_len, used, &start,
				&end) < 0) {
			snprintf(err, errlen,
				 "answer: cannot locate the text of %s", used);
			goto fail;
		}
		if (st->svc->rsa_sha256_verify(st->alipay_public_key,
					       resp->body + start, end - start,
					       json_string_value(sign)) != 0) {
			snprintf(err, errlen,
				 "answer: the signature of %s does not verify",
				 used);
			rc = -EBADMSG;
			goto fail;
		}
	} else if (strcmp(code, ALIPAY_OK) == 0) {
		snprintf(err, errlen, "answer: %s code 10000 is not signed",
			 used);
		rc = -EBADMSG;
		goto fail;
	}
	if (drv_copy_id(out->code, sizeof(out->code), code, DRV_F_TOKEN, "code",
			err, errlen) < 0)
		goto fail;
	if (get_field(node, "sub_code", &sub, err, errlen) < 0 ||
	    get_field(node, "msg", &m, err, errlen) < 0 ||
	    get_field(node, "sub_msg", &sm, err, errlen) < 0)
		goto fail;
	if (sub && drv_copy_id(out->sub_code, sizeof(out->sub_code), sub,
			       DRV_F_TOKEN, "sub_code", err, errlen) < 0)
		goto fail;
	if (m && sm)
		snprintf(msg, sizeof(msg), "%s: %s", m, sm);
	else
		snprintf(msg, sizeof(msg), "%s", m ? m : sm ? sm : "");
	drv_copy_text(out->message, sizeof(out->message), msg);
	*root_out = root;
	*node_out = node;
	return 0;
fail:
	json_decref(root);
	return rc;
}

/* How the answer to one operation is read beyond the common part. */
struct answer_spec {
	const char *method;
	const char *status;	/* member into sub_code and status on 10000 */
	int status_required;	/* 10000 without it is -EPROTO */
	const char *trade_no;	/* member into channel_trade_no */
	const char *amount;	/* member into amount (yuan) */
	const char *echo_order; /* must equal order_id when present */
	const char *echo_other; /* must equal refund_id / payout_id */
};

static const struct answer_spec spec_precreate = {
	"alipay.trade.precreate", NULL, 0, NULL, NULL, "out_trade_no", NULL
};
static const struct answer_spec spec_create = {
	"alipay.trade.create", NULL, 0, "trade_no", NULL, "out_trade_no", NULL
};
static const struct answer_spec spec_barcode = {
	"alipay.trade.pay", NULL,	    0,	 "trade_no",
	"total_amount",	    "out_trade_no", NULL
};
static const struct answer_spec spec_query = {
	"alipay.trade.query", "trade_status", 1,   "trade_no",
	"total_amount",	      "out_trade_no", NULL
};
static const struct answer_spec spec_close = {
	"alipay.trade.close", NULL, 0, "trade_no", NULL, "out_trade_no", NULL
};
static const struct answer_spec spec_refund = {
	"alipay.trade.refund", NULL,	       0,   "trade_no",
	"refund_fee",	       "out_trade_no", NULL
};
static const struct answer_spec spec_refund_query = {
	"alipay.trade.fastpay.refund.query",
	"refund_status",
	0,
	"trade_no",
	"refund_amount",
	"out_trade_no",
	"out_request_no"
};
static const struct answer_spec spec_payout = { "alipay.fund.trans.uni.transfer",
						"status",
						1,
						"order_id",
						NULL,
						NULL,
						"out_biz_no" };
static const struct answer_spec spec_payout_query = {
	"alipay.fund.trans.common.query",
	"status",
	1,
	"order_id",
	"trans_amount",
	NULL,
	"out_biz_no"
};

/* Checks that the answer's `key`, when present, names `want`. */
static int check_echo(const json_t *node, const char *key, const char *want,
		      char *err, size_t errlen)
{
	const char *v;

	if (!key || get_field(node, key, &v, err, errlen) < 0)
		return key ? -EPROTO : 0;
	if (v && want && strcmp(v, want) != 0) {
		snprintf(err, errlen, "answer: %s is another order's", key);
		return -EPROTO;
	}
	return 0;
}

/* Parses an answer by `spec`; *root_out / *node_out as for parse_answer,
 * or NULL to release them here. */
static int parse_by_spec(void *state, const struct answer_spec *spec,
			 const char *other_id, const struct payroute_order *o,
			 const struct payroute_http_response *resp,
			 struct payroute_result *out, json_t **node_out,
			 json_t **root_out, char *err, size_t errlen)
{
	struct alipay_state *st = state;
	const char *v, *fail_reason = NULL;
	json_t *root, *node;
	int ok, rc;

	if (!st || !o || !out) {
		snprintf(err, errlen, "parse: missing argument");
		return -EINVAL;
	}
	rc = parse_answer(st, spec->method, resp, out, &root, &node, err,
			  errlen);
	if (rc < 0)
		return rc;
	rc = -EPROTO;
	ok = strcmp(out->code, ALIPAY_OK) == 0;
	if (check_echo(node, spec->echo_order, o->order_id, err, errlen) < 0 ||
	    check_echo(node, spec->echo_other, other_id, err, errlen) < 0)
		goto out;
	if (spec->trade_no) {
		if (get_field(node, spec->trade_no, &v, err, errlen) < 0)
			goto out;
		if (v &&
		    drv_copy_id(out->channel_trade_no,
				sizeof(out->channel_trade_no), v, DRV_F_TOKEN,
				spec->trade_no, err, errlen) < 0)
			goto out;
	}
	if (ok && spec->status) {
		if (get_field(node, spec->status, &v, err, errlen) < 0)
			goto out;
		if (!v && spec->status_required) {
			snprintf(err, errlen, "answer: no %s", spec->status);
			goto out;
		}
		if (v &&
		    (drv_copy_id(out->sub_code, sizeof(out->sub_code), v,
				 DRV_F_TOKEN, spec->status, err, errlen) < 0 ||
		     drv_copy_id(out->status, sizeof(out->status), v,
				 DRV_F_TOKEN, spec->status, err, errlen) < 0))
			goto out;
		/* A failed transfer says why. */
		if (get_field(node, "fail_reason", &fail_reason, err, errlen) <
		    0)
			goto out;
		if (fail_reason && *fail_reason) {
			char msg[PAYROUTE_MSG_LEN * 2];

			snprintf(msg, sizeof(msg), "%s: %s", out->message,
				 fail_reason);
			drv_copy_text(out->message, sizeof(out->message), msg);
		}
	}
	if (spec->amount) {
		if (get_field(node, spec->amount, &v, err, errlen) < 0)
			goto out;
		if (v && parse_yuan(v, &out->amount) < 0) {
			snprintf(err, errlen, "answer: %s is not an amount",
				 spec->amount);
			out->amount = -1;
			goto out;
		}
	}
	rc = 0;
out:
	if (rc == 0 && root_out) {
		*root_out = root;
		*node_out = node;
	} else {
		json_decref(root);
	}
	return rc;
}

/* wap / page / app: signs the parameters the payer's browser or app
 * carries to Alipay and puts them in the payer payload. */
static int pay_link(struct alipay_state *st, const struct payroute_order *o,
		    const struct pay_env *pe, struct payroute_result *out,
		    char *err, size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	struct drv_buf url = { 0 };
	struct alipay_req ar;
	char *encoded = NULL;
	json_t *biz;
	int rc;

	memset(&ar, 0, sizeof(ar));
	out->amount = -1;
	if (!out->payer) {
		snprintf(err, errlen, "parse_pay: no payer map");
		return -EINVAL;
	}
	rc = pay_biz(st, o, pe, &biz, err, errlen);
	if (rc < 0)
		return rc;
	rc = sign_request(st, &ar, pe->method, o->notify_url, biz, err, errlen);
	json_decref(biz);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	encoded = join_params(svc, ar.p, ar.n, JOIN_ENCODE | JOIN_NO_EMPTY);
	if (!encoded)
		goto out;
	if (pe->kind == PAY_URL) {
		drv_buf_add(&url, st->gateway, strlen(st->gateway));
		drv_buf_add(&url, strchr(st->gateway, '?') ? "&" : "?", 1);
		drv_buf_add(&url, encoded, strlen(encoded));
		if (url.oom)
			goto out;
		rc = svc->kv_set(out->payer, "pay_url", url.p);
	} else {
		rc = svc->kv_set(out->payer, "order_string", encoded);
	}
	if (rc < 0)
		goto out;
	snprintf(out->code, sizeof(out->code), "%s", ALIPAY_OK);
	snprintf(out->sub_code, sizeof(out->sub_code), "WAIT_BUYER_PAY");
	snprintf(out->status, sizeof(out->status), "WAIT_BUYER_PAY");
	snprintf(out->message, sizeof(out->message),
		 "%s: waiting for the payer", pe->method);
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	else if (rc < 0 && !err[0])
		snprintf(err, errlen, "cannot fill the payer payload: %s",
			 strerror(-rc));
	free(encoded);
	free(url.p);
	req_clear(svc, &ar);
	return rc;
}

/* alipay.trade.pay: the answer's code is the outcome (see the header
 * comment); no payer payload, the payer already acted. */
static int parse_barcode(struct alipay_state *st,
			 const struct payroute_order *o,
			 const struct payroute_http_response *resp,
			 struct payroute_result *out, char *err, size_t errlen)
{
	int rc;

	rc = parse_by_spec(st, &spec_barcode, NULL, o, resp, out, NULL, NULL,
			   err, errlen);
	if (rc < 0)
		return rc;
	if (strcmp(out->code, ALIPAY_OK) == 0) {
		if (!out->channel_trade_no[0] || out->amount < 0) {
			snprintf(err, errlen, "answer: paid without %s",
				 out->channel_trade_no[0] ? "total_amount" :
							    "trade_no");
			out->amount = -1;
			return -EPROTO;
		}
		snprintf(out->sub_code, sizeof(out->sub_code), "TRADE_SUCCESS");
		snprintf(out->status, sizeof(out->status), "TRADE_SUCCESS");
	} else if (strcmp(out->code, ALIPAY_PAYING) == 0) {
		snprintf(out->status, sizeof(out->status), "WAIT_BUYER_PAY");
	}
	return 0;
}

static int alipay_parse_pay(void *state, const struct payroute_order *o,
			    const struct payroute_http_response *resp,
			    struct payroute_result *out, char *err,
			    size_t errlen)
{
	struct alipay_state *st = state;
	const struct pay_env *pe;
	const struct answer_spec *spec;
	const char *v = NULL;
	json_t *root = NULL, *node = NULL;
	int rc;

	if (!st || !o || !out) {
		snprintf(err, errlen, "parse_pay: missing argument");
		return -EINVAL;
	}
	out->amount = -1;
	pe = find_env(o, err, errlen);
	if (!pe)
		return -ENOTSUP;
	if (pe->kind == PAY_URL || pe->kind == PAY_APP)
		return pay_link(st, o, pe, out, err, errlen);
	if (pe->kind == PAY_BARCODE)
		return parse_barcode(st, o, resp, out, err, errlen);
	spec = pe->kind == PAY_PRECREATE ? &spec_precreate : &spec_create;
	rc = parse_by_spec(st, spec, NULL, o, resp, out, &node, &root, err,
			   errlen);
	if (rc < 0)
		return rc;
	if (strcmp(out->code, ALIPAY_OK) == 0) {
		const char *key = pe->kind == PAY_PRECREATE ? "qr_code" :
							      "trade_no";

		rc = get_field(node, key, &v, err, errlen);
		if (rc == 0 && (!v || !*v)) {
			snprintf(err, errlen, "answer: no %s", key);
			rc = -EPROTO;
		}
		if (rc == 0 && out->payer &&
		    st->svc->kv_set(out->payer, key, v) < 0) {
			snprintf(err, errlen, "cannot fill the payer payload");
			rc = -ENOMEM;
		}
	}
	json_decref(root);
	return rc;
}

static int alipay_parse_query(void *state, const struct payroute_order *o,
			      const struct payroute_http_response *resp,
			      struct payroute_result *out, char *err,
			      size_t errlen)
{
	return parse_by_spec(state, &spec_query, NULL, o, resp, out, NULL, NULL,
			     err, errlen);
}

static int alipay_parse_close(void *state, const struct payroute_order *o,
			      const struct payroute_http_response *resp,
			      struct payroute_result *out, char *err,
			      size_t errlen)
{
	return parse_by_spec(state, &spec_close, NULL, o, resp, out, NULL, NULL,
			     err, errlen);
}

static int alipay_parse_refund(void *state, const struct payroute_order *o,
			       const struct payroute_http_response *resp,
			       struct payroute_result *out, char *err,
			       size_t errlen)
{
	return parse_by_spec(state, &spec_refund, NULL, o, resp, out, NULL,
			     NULL, err, errlen);
}

static int alipay_parse_refund_query(void *state,
				     const struct payroute_order *o,
				     const struct payroute_http_response *resp,
				     struct payroute_result *out, char *err,
				     size_t errlen)
{
	return parse_by_spec(state, &spec_refund_query, o ? o->refund_id : NULL,
			     o, resp, out, NULL, NULL, err, errlen);
}

static int alipay_parse_payout(void *state, const struct payroute_order *o,
			       const struct payroute_http_response *resp,
			       struct payroute_result *out, char *err,
			       size_t errlen)
{
	return parse_by_spec(state, &spec_payout, o ? o->payout_id : NULL, o,
			     resp, out, NULL, NULL, err, errlen);
}

static int alipay_parse_payout_query(void *state,
				     const struct payroute_order *o,
				     const struct payroute_http_response *resp,
				     struct payroute_result *out, char *err,
				     size_t errlen)
{
	return parse_by_spec(state, &spec_payout_query, o ? o->payout_id : NULL,
			     o, resp, out, NULL, NULL, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Bills (ABI 1.3)                                                          */
/* ------------------------------------------------------------------------ */

#define BILL_METHOD "alipay.data.dataservice.bill.downloadurl.query"

/* alipay.data.dataservice.bill.downloadurl.query, bill_type trade, for
 * req->day: one part. */
static int alipay_build_bill(void *state, const struct payroute_bill_req *req,
			     payroute_http_req *http, char *err, size_t errlen)
{
	struct alipay_state *st = state;
	json_t *biz;
	int rc;

	if (!st || !req || !req->day || strlen(req->day) != 10) {
		snprintf(err, errlen, "bill: a day YYYY-MM-DD is needed");
		return -EINVAL;
	}
	if (req->part > 0)
		return -ENOENT;
	biz = json_pack("{s:s, s:s}", "bill_type", "trade", "bill_date",
			req->day);
	if (!biz) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = call_gateway(st, BILL_METHOD, NULL, biz, http, err, errlen);
	json_decref(biz);
	return rc;
}

/* The answer: bill_download_url on 10000; isp.bill_not_exist (no trade
 * that day) is -ENOENT. Alipay announces no digest. */
static int alipay_parse_bill(void *state, const struct payroute_bill_req *req,
			     const struct payroute_http_response *resp,
			     struct payroute_bill_file *out, char *err,
			     size_t errlen)
{
	struct alipay_state *st = state;
	struct payroute_result res;
	json_t *root, *node;
	const char *url;
	int rc;

	(void)req;
	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);
	rc = parse_answer(st, BILL_METHOD, resp, &res, &root, &node, err,
			  errlen);
	if (rc < 0)
		return rc;
	rc = -EPROTO;
	if (strcmp(res.code, ALIPAY_OK) != 0) {
		if (strcmp(res.sub_code, "isp.bill_not_exist") == 0)
			rc = -ENOENT;
		snprintf(err, errlen, "bill: %s %s %s", res.code, res.sub_code,
			 res.message);
		goto out;
	}
	if (get_field(node, "bill_download_url", &url, err, errlen) < 0)
		goto out;
	if (!url ||
	    (strncmp(url, "https://", 8) != 0 &&
	     strncmp(url, "http://", 7) != 0) ||
	    strlen(url) >= sizeof(out->url)) {
		snprintf(err, errlen, "bill: no usable bill_download_url");
		goto out;
	}
	snprintf(out->url, sizeof(out->url), "%s", url);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int alipay_bill_open_op(void *state, const struct payroute_bill_req *req,
			       const struct payroute_bill_file *file, int fd,
			       void **cursor, char *err, size_t errlen)
{
	struct alipay_bill *b;
	int rc;

	(void)state, (void)req, (void)file;
	rc = alipay_bill_open(fd, &b, err, errlen);
	*cursor = rc == 0 ? b : NULL;
	return rc;
}

static int alipay_bill_next_op(void *cursor, struct payroute_bill_row *row,
			       char *err, size_t errlen)
{
	return alipay_bill_next(cursor, row, err, errlen);
}

static void alipay_bill_close_op(void *cursor)
{
	alipay_bill_close(cursor);
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

struct notify_params {
	struct alipay_param p[ALIPAY_NOTIFY_MAX_PARAMS];
	size_t n;
};

static void notify_params_clear(const struct payroute_services *svc,
				struct notify_params *np)
{
	for (size_t i = 0; i < np->n; i++) {
		svc->free((char *)np->p[i].key);
		svc->free((char *)np->p[i].value);
	}
	np->n = 0;
}

/* The value of `key` or NULL (np is sorted). */
static const char *notify_get(const struct notify_params *np, const char *key)
{
	struct alipay_param probe = { key, NULL };
	const struct alipay_param *hit;

	hit = bsearch(&probe, np->p, np->n, sizeof(np->p[0]), param_cmp);
	return hit ? hit->value : NULL;
}

/* Splits and decodes a form body into np, sorted by key. */
static int parse_form(const struct payroute_services *svc, const char *body,
		      size_t len, struct notify_params *np, char *err,
		      size_t errlen)
{
	size_t i = 0, seg_end, eq;
	char *k, *v, *raw;

	np->n = 0;
	while (i < len) {
		seg_end = i;
		while (seg_end < len && body[seg_end] != '&')
			seg_end++;
		if (seg_end == i) { /* "a=1&&b=2": an empty pair */
			i++;
			continue;
		}
		eq = i;
		while (eq < seg_end && body[eq] != '=')
			eq++;
		if (eq == seg_end || eq == i) {
			snprintf(err, errlen, "notification: malformed pair");
			return -EPROTO;
		}
		if (np->n == ALIPAY_NOTIFY_MAX_PARAMS) {
			snprintf(err, errlen,
				 "notification: more than %d parameters",
				 ALIPAY_NOTIFY_MAX_PARAMS);
			return -EPROTO;
		}
		raw = malloc(seg_end - i + 1);
		if (!raw) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		memcpy(raw, body + i, seg_end - i);
		raw[seg_end - i] = '\0';
		raw[eq - i] = '\0';
		k = svc->url_decode(raw);
		v = svc->url_decode(raw + (eq - i) + 1);
		free(raw);
		if (!k || !v || !*k) {
			if (k)
				svc->free(k);
			if (v)
				svc->free(v);
			snprintf(err, errlen,
				 "notification: bad percent-encoding");
			return -EPROTO;
		}
		np->p[np->n].key = k;
		np->p[np->n].value = v;
		np->n++;
		i = seg_end + 1;
	}
	qsort(np->p, np->n, sizeof(np->p[0]), param_cmp);
	for (i = 1; i < np->n; i++) {
		if (strcmp(np->p[i - 1].key, np->p[i].key) == 0) {
			snprintf(err, errlen,
				 "notification: parameter %s twice",
				 drv_is_token(np->p[i].key) ? np->p[i].key :
							      "?");
			return -EPROTO;
		}
	}
	return 0;
}

/* Verifies the notification's signature (see the header comment). */
static int verify_notify(struct alipay_state *st,
			 const struct notify_params *np, char *err,
			 size_t errlen)
{
	const struct payroute_services *svc = st->svc;
	const char *sign = notify_get(np, "sign");
	const char *sign_type = notify_get(np, "sign_type");
	int flags = JOIN_NO_SIGN | JOIN_NO_SIGN_TYPE, has_empty = 0;
	char *content;
	int rc;

	if (!sign || !*sign) {
		snprintf(err, errlen, "notification: not signed");
		return -EBADMSG;
	}
	if (sign_type && strcmp(sign_type, "RSA2") != 0) {
		snprintf(err, errlen, "notification: sign_type is not RSA2");
		return -EBADMSG;
	}
	for (size_t i = 0; i < np->n; i++)
		if (!*np->p[i].value)
			has_empty = 1;
	for (int pass = 0; pass < 1 + has_empty; pass++) {
		content = join_params(svc, np->p, np->n,
				      flags | (pass ? JOIN_NO_EMPTY : 0));
		if (!content) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		rc = svc->rsa_sha256_verify(st->alipay_public_key, content,
					    strlen(content), sign);
		free(content);
		if (rc == 0)
			return 0;
	}
	snprintf(err, errlen, "notification: the signature does not verify");
	return -EBADMSG;
}

/* drv_get_fn over the notification's parameters. */
static int notify_param(const void *np, const char *key, const char **v,
			char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*v = notify_get(np, key);
	return 0;
}

#define NOTIFY(key, member, flags)                                             \
	DRV_FIELD(struct payroute_notify, key, member, DRV_F_TOKEN | (flags))

/* What every notification says: the order, Alipay's trade, its status. */
static const struct drv_field notify_fields[] = {
	NOTIFY("out_trade_no", order_id, DRV_F_REQUIRED),
	NOTIFY("trade_no", channel_trade_no, 0),
	NOTIFY("trade_status", status, DRV_F_REQUIRED),
};
/* What a refund's adds: our refund's number. */
static const struct drv_field notify_refund_fields[] = {
	NOTIFY("out_biz_no", refund_id, 0),
};

#undef NOTIFY

static int alipay_parse_notify(void *state, const struct payroute_inbound *in,
			       struct payroute_notify *out, char *err,
			       size_t errlen)
{
	struct alipay_state *st = state;
	struct notify_params *np = NULL;
	const char *v, *amount_key;
	int rc;

	if (!st || !in || !out) {
		snprintf(err, errlen, "parse_notify: missing argument");
		return -EINVAL;
	}
	out->reply_ok_status = 200;
	out->reply_fail_status = 200;
	snprintf(out->reply_content_type, sizeof(out->reply_content_type),
		 "text/plain");
	snprintf(out->reply_ok_body, sizeof(out->reply_ok_body), "success");
	snprintf(out->reply_fail_body, sizeof(out->reply_fail_body), "fail");
	out->amount = -1;

	if (in->method && strcmp(in->method, "POST") != 0) {
		snprintf(err, errlen, "notification: method %s, not POST",
			 drv_is_token(in->method) ? in->method : "?");
		return -EPROTO;
	}
	if (!in->body || in->body_len == 0) {
		snprintf(err, errlen, "notification: empty body");
		return -EPROTO;
	}
	if (in->body_len > ALIPAY_NOTIFY_MAX_BODY ||
	    memchr(in->body, '\0', in->body_len)) {
		snprintf(err, errlen,
			 "notification: body too large or not text");
		return -EPROTO;
	}
	np = calloc(1, sizeof(*np));
	if (!np) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = parse_form(st->svc, in->body, in->body_len, np, err, errlen);
	if (rc < 0)
		goto out;
	rc = verify_notify(st, np, err, errlen);
	if (rc < 0)
		goto out;

	rc = -EPROTO;
	v = notify_get(np, "app_id");
	if (!v || strcmp(v, st->app_id) != 0) {
		snprintf(err, errlen,
			 "notification: app_id is not this channel's (%s)",
			 st->app_id);
		goto out;
	}
	if (drv_take_fields(out, notify_fields,
			    sizeof(notify_fields) / sizeof(notify_fields[0]),
			    notify_param, np, "notification", err, errlen) < 0)
		goto out;
	v = notify_get(np, "gmt_refund");
	if (v && *v && (v = notify_get(np, "refund_fee")) && *v) {
		out->kind = PAYROUTE_KIND_REFUND;
		if (drv_take_fields(out, notify_refund_fields, 1, notify_param,
				    np, "notification", err, errlen) < 0)
			goto out;
		snprintf(out->code, sizeof(out->code), "REFUND_SUCCESS");
		memcpy(out->sub_code, out->status, sizeof(out->sub_code));
		amount_key = "refund_fee";
	} else {
		out->kind = PAYROUTE_KIND_PAYMENT;
		memcpy(out->code, out->status, sizeof(out->code));
		amount_key = "total_amount";
	}
	v = notify_get(np, amount_key);
	if (v && *v && parse_yuan(v, &out->amount) < 0) {
		out->amount = -1;
		snprintf(err, errlen, "notification: %s is not an amount",
			 amount_key);
		goto out;
	}
	/* A payment said paid is taken only with the amount paid, which the
	 * core checks against the order's: never on the status alone. */
	if (out->kind == PAYROUTE_KIND_PAYMENT && out->amount < 0 &&
	    (strcmp(out->status, "TRADE_SUCCESS") == 0 ||
	     strcmp(out->status, "TRADE_FINISHED") == 0)) {
		snprintf(err, errlen,
			 "notification: %s without total_amount: refused (a "
			 "paid order is only taken with the amount to check)",
			 out->status);
		goto out;
	}
	snprintf(out->message, sizeof(out->message), "%s %s",
		 notify_get(np, "notify_type") &&
				 drv_is_token(notify_get(np, "notify_type")) ?
			 notify_get(np, "notify_type") :
			 "notification",
		 out->status);
	rc = 0;
out:
	notify_params_clear(st->svc, np);
	free(np);
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
	/* A refund notification (gmt_refund, refund_fee): Alipay only sends
	 * one for a refund that succeeded. */
	ROW("notify", "REFUND_SUCCESS", "*", "SUCCESS", SUCCESS, 0, NONE,
	    "Refund succeeded.", "退款成功。"),
};
/* clang-format on */

static const struct payroute_code_entry *
alipay_default_codes(size_t *n, size_t *entry_size)
{
	*n = sizeof(alipay_codes) / sizeof(alipay_codes[0]);
	*entry_size = sizeof(struct payroute_code_entry);
	return alipay_codes;
}

/* The driver config, as the core checks it before init (ABI 1.2). */
static const struct payroute_config_key alipay_keys[] = {
	{ "app_id", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the open platform application id" },
	{ "gateway", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "gateway URL, e.g. https://openapi.alipay.com/gateway.do" },
	{ "app_private_key", PAYROUTE_CONFIG_PEM,
	  PAYROUTE_CONFIG_REQUIRED | PAYROUTE_CONFIG_SECRET, NULL,
	  "the application's RSA private key (signs requests)" },
	{ "sign_type", PAYROUTE_CONFIG_STRING, 0, "RSA2",
	  "signature type; only RSA2 (SHA256withRSA) is supported" },
	{ "alipay_public_key", PAYROUTE_CONFIG_PEM, 0, NULL,
	  "public-key mode: Alipay's RSA public key (verifies answers and "
	  "callbacks); or the three certificates below" },
	{ "app_cert", PAYROUTE_CONFIG_PEM, 0, NULL,
	  "certificate mode: the app's public key certificate "
	  "(appCertPublicKey_<app_id>.crt)" },
	{ "alipay_cert", PAYROUTE_CONFIG_PEM, 0, NULL,
	  "certificate mode: Alipay's public key certificate "
	  "(alipayCertPublicKey_RSA2.crt); needed for transfers" },
	{ "alipay_root_cert", PAYROUTE_CONFIG_PEM, 0, NULL,
	  "certificate mode: Alipay's root certificate bundle "
	  "(alipayRootCert.crt)" },
};

static const struct payroute_config_key *alipay_config_keys(size_t *n,
							    size_t *entry_size)
{
	*n = sizeof(alipay_keys) / sizeof(alipay_keys[0]);
	*entry_size = sizeof(struct payroute_config_key);
	return alipay_keys;
}

static const struct payroute_driver alipay_driver = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "alipay",
	.version = "1.3.0",
	.description = "Alipay open platform gateway (RSA2, public-key or "
		       "certificate mode): precreate, create, wap/page/app "
		       "pay, barcode pay, query, close, refund, refund query, "
		       "transfer and its query (certificate mode), "
		       "notifications, trade bills",
	.init = alipay_init,
	.fini = alipay_fini,
	.build_pay = alipay_build_pay,
	.parse_pay = alipay_parse_pay,
	.build_query = alipay_build_query,
	.parse_query = alipay_parse_query,
	.build_close = alipay_build_close,
	.parse_close = alipay_parse_close,
	.build_refund = alipay_build_refund,
	.parse_refund = alipay_parse_refund,
	.build_refund_query = alipay_build_refund_query,
	.parse_refund_query = alipay_parse_refund_query,
	.build_payout = alipay_build_payout,
	.parse_payout = alipay_parse_payout,
	.build_payout_query = alipay_build_payout_query,
	.parse_payout_query = alipay_parse_payout_query,
	.parse_notify = alipay_parse_notify,
	.default_codes = alipay_default_codes,
	.config_keys = alipay_config_keys,
	.build_bill = alipay_build_bill,
	.parse_bill = alipay_parse_bill,
	.bill_open = alipay_bill_open_op,
	.bill_next = alipay_bill_next_op,
	.bill_close = alipay_bill_close_op,
};

PAYROUTE_DRIVER_EXPORT(alipay_driver)
