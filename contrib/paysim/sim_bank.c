/*
 * sim_bank.c - the simulator's bank card channel: a UnionPay online
 * gateway (ACP, version 5.1.0, signMethod 01) under /bank, so the driver's
 * gateway is http://127.0.0.1:PORT/bank.
 *
 *   POST /bank/gateway/api/backTransReq.do   txnType 01 consume (back),
 *                                            04 refund, 12 payout
 *   POST /bank/gateway/api/queryTrans.do     txnType 00 status query
 *   POST /bank/gateway/api/frontTransReq.do  txnType 01, the payer's
 *                                            browser posts the form
 *
 * The front consume is what the bank driver's payer payload ("form", or
 * "form_fields" posted to "pay_url") makes the payer's browser post. The
 * signature is checked like any request; the order is created pending
 * (trade_type "front", txnTime kept for queries) and paid as auto_pay or
 * the order's "pay" script say, or by /_sim/pay, which sends the backUrl
 * notification. The answer is the gateway's page for the payer: HTTP 200
 * with the order (spans orderId, queryId, state) or HTTP 400 with the
 * error (span respCode), and the respCode in a Paysim-Resp-Code header.
 * Posting the same form again (same merId, orderId, txnTime, txnAmt)
 * shows the same order; another consume with its orderId is 12.
 *
 * Requests are form-encoded. The signature: every non-empty parameter but
 * `signature`, sorted by name, "k=v" joined with '&' (raw values), SHA-256
 * of that in lowercase hex, SHA256withRSA over the hex string, base64; it
 * is verified with the merchant certificate configured for certId (whose
 * merId must match). Answers of the back endpoints are "k=v&..." in the
 * gateway's own style: values NOT percent-encoded (as UnionPay answers; the
 * signature's base64 keeps its '+', '/', '='), keys sorted, empty values
 * left out, signed the same way with the bank platform key and carrying
 * the platform certId (config bank.platform_cert_id). signPubKeyCert is
 * not sent: drivers verify with their configured verify_key.
 *
 * respCode 00 on a transaction means accepted; the outcome comes by
 * backUrl notification (form POST, values percent-encoded, signed; any
 * 200 acknowledges) and by query, whose respCode 00 carries origRespCode:
 * 00 success, 05 accepted / in progress, 60 failed, 61 refund to a closed
 * card. accNo may come encrypted (RSA PKCS#1 v1.5 with the platform
 * certificate, base64, with encryptCertId = bank.platform_cert_id): it is
 * decrypted with the platform key and the ledger keeps the card's head and
 * tail; a wrong encryptCertId or a ciphertext that does not decrypt is 10.
 * accNo in clear (without encryptCertId) is still accepted. Errors: 10 bad
 * format, 11 signature, 12 duplicate, 13 missing
 * fields, 34 no such transaction, 35 original transaction missing or in a
 * wrong state, 36 inconsistent with the original.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "runtime/crypto.h"
#include "runtime/log.h"
#include "runtime/services.h"
#include "sim.h"

/* The signature of a sorted string: base64(RSA-SHA256(hex(sha256(s)))). */
static int bank_sign(struct sim *s, struct sim_sig *defer, payroute_key *key,
		     const char *str, int bad, char **sig)
{
	unsigned char d[32];
	char *hex;
	int rc;

	if (pr_sha256(str, strlen(str), d) != 0)
		return -EINVAL;
	hex = pr_hex_encode(d, sizeof(d));
	if (!hex)
		return -ENOMEM;
	if (bad)
		hex[0] = hex[0] == '0' ? '1' : '0';
	rc = sim_sign(s, defer, key, hex, strlen(hex), sig);
	free(hex);
	return rc;
}

static int bank_verify(payroute_key *key, const char *str, const char *sig)
{
	unsigned char d[32];
	char *hex;
	int rc;

	if (pr_sha256(str, strlen(str), d) != 0)
		return -EINVAL;
	hex = pr_hex_encode(d, sizeof(d));
	if (!hex)
		return -ENOMEM;
	rc = pr_rsa_sha256_verify(key, hex, strlen(hex), sig);
	free(hex);
	return rc;
}

static const char *resp_msg(const char *code)
{
	static const struct {
		const char *c, *m;
	} t[] = {
		{ "00", "成功[0000000]" },
		{ "01", "交易失败" },
		{ "03", "交易通讯超时，请发起查询交易" },
		{ "04", "交易状态未明，请查询对账结果" },
		{ "05", "交易已受理，请稍后查询交易结果" },
		{ "06", "系统繁忙，请稍后再试" },
		{ "10", "报文格式错误" },
		{ "11", "验证签名失败" },
		{ "12", "重复交易" },
		{ "13", "报文交易要素缺失" },
		{ "34", "查无此交易" },
		{ "35", "原交易不存在或状态不正确" },
		{ "36", "与原交易信息不符" },
		{ "60", "交易失败，详情请咨询您的发卡行" },
		{ "61", "输入的卡号无效，请确认后输入" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].c, code) == 0)
			return t[i].m;
	return "交易失败";
}

/* Signs f (adds certId, signMethod, signature) and serializes it raw and
 * sorted into *body (or percent-encoded when `encode`). */
static int sign_form(struct sim *s, struct sim_sig *defer, struct sim_form *f,
		     int bad, int encode, char **body)
{
	static const char *const skip[] = { "signature", NULL };
	char *str, *sig = NULL;
	int rc;

	sim_form_add(f, "certId", s->bank_cert_id);
	sim_form_add(f, "signMethod", "01");
	str = sim_form_sign_string(f, skip);
	if (!str)
		return -ENOMEM;
	rc = bank_sign(s, defer, s->bank_key, str, bad, &sig);
	if (rc == 0 && !encode) {
		size_t len = strlen(str) + strlen(sig) + 16;

		*body = malloc(len);
		if (*body)
			snprintf(*body, len, "%s&signature=%s", str, sig);
		else
			rc = -ENOMEM;
	} else if (rc == 0) {
		struct sim_form g = { 0 };
		const struct sim_kv **v;

		/* encoded: same sorted order */
		v = calloc(f->n, sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
		} else {
			for (size_t i = 0; i < f->n; i++)
				v[i] = &f->kv[i];
			for (size_t i = 1; i < f->n; i++)
				for (size_t j = i;
				     j > 0 && strcmp(v[j - 1]->k, v[j]->k) > 0;
				     j--) {
					const struct sim_kv *t = v[j];

					v[j] = v[j - 1];
					v[j - 1] = t;
				}
			for (size_t i = 0; i < f->n; i++)
				if (*v[i]->v)
					sim_form_add(&g, v[i]->k, v[i]->v);
			sim_form_add(&g, "signature", sig);
			*body = sim_form_serialize(&g, 1);
			if (!*body)
				rc = -ENOMEM;
			sim_form_free(&g);
			free(v);
		}
	}
	free(str);
	free(sig);
	return rc;
}

static void copy_field(struct sim_form *dst, const struct sim_form *src,
		       const char *k)
{
	const char *v = sim_form_get(src, k);

	if (v && *v)
		sim_form_add(dst, k, v);
}

/* Answers the request `req` with respCode `code` plus extra fields. */
static void answer(struct sim *s, struct sim_out *out,
		   const struct sim_form *req, struct sim_form *extra,
		   const char *code, const char *msg)
{
	struct sim_form f = { 0 };
	char *body = NULL;

	sim_form_add(&f, "version", "5.1.0");
	sim_form_add(&f, "encoding", "UTF-8");
	copy_field(&f, req, "bizType");
	copy_field(&f, req, "txnTime");
	copy_field(&f, req, "txnType");
	copy_field(&f, req, "txnSubType");
	copy_field(&f, req, "accessType");
	copy_field(&f, req, "merId");
	copy_field(&f, req, "orderId");
	copy_field(&f, req, "reqReserved");
	sim_form_add(&f, "respCode", code);
	sim_form_add(&f, "respMsg", msg ? msg : resp_msg(code));
	for (size_t i = 0; extra && i < extra->n; i++)
		sim_form_add(&f, extra->kv[i].k, extra->kv[i].v);
	if (sign_form(s, &out->sig, &f, 0, 0, &body) != 0)
		sim_out_set(out, 500, "text/plain", strdup("sign failed\n"));
	else
		sim_out_set(out, 200, "text/plain;charset=UTF-8", body);
	sim_form_free(&f);
}

static void mask_card(const char *acc, char *buf, size_t len)
{
	size_t n = acc ? strlen(acc) : 0;

	if (n < 10)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%.6s*****%s", acc, acc + n - 4);
}

static int64_t parse_cents(const char *v)
{
	int64_t x = 0;

	if (!v || !*v || strlen(v) > 12)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		x = x * 10 + (*v - '0');
	}
	return x;
}

static const struct sim_bank_mer *find_mer(struct sim *s, const char *cert_id)
{
	for (size_t i = 0; cert_id && i < s->n_mers; i++)
		if (strcmp(s->mers[i].cert_id, cert_id) == 0)
			return &s->mers[i];
	return NULL;
}

static const char *order_orig(const struct sim_order *o)
{
	switch (o->state) {
	case SIM_SUCCESS:
		return "00";
	case SIM_PENDING:
		return "05";
	default:
		return "60";
	}
}

static const char *final_orig(enum sim_state st, int account_closed)
{
	switch (st) {
	case SIM_SUCCESS:
		return "00";
	case SIM_PROCESSING:
	case SIM_PENDING:
		return "05";
	default:
		return account_closed ? "61" : "60";
	}
}

/* Appends s HTML-escaped. */
static void html_add(struct evbuffer *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			evbuffer_add(b, "&amp;", 5);
			break;
		case '<':
			evbuffer_add(b, "&lt;", 4);
			break;
		case '>':
			evbuffer_add(b, "&gt;", 4);
			break;
		case '"':
			evbuffer_add(b, "&quot;", 6);
			break;
		case '\'':
			evbuffer_add(b, "&#39;", 5);
			break;
		default:
			evbuffer_add(b, s, 1);
		}
	}
}

/* The gateway's page for the payer of a front consume: the order, or the
 * error (respCode, respMsg). The answer carries the respCode in a
 * Paysim-Resp-Code header for tests; errors are HTTP 400. */
static void front_page(struct sim_out *out, const char *code,
		       const struct sim_order *o, const char *front_url)
{
	struct evbuffer *b = evbuffer_new();
	char amt[32], *html = NULL;
	size_t len;

	if (!b) {
		sim_out_set(out, 500, "text/plain", strdup("out of memory\n"));
		return;
	}
	evbuffer_add_printf(b, "<!DOCTYPE html><html><head><meta "
			       "charset=\"utf-8\"><title>paysim UnionPay"
			       "</title></head><body><h1>UnionPay "
			       "(simulated)</h1>");
	if (o) {
		sim_fmt_yuan(o->amount, amt, sizeof(amt));
		evbuffer_add_printf(b, "<p>orderId <span id=\"orderId\">");
		html_add(b, o->out_trade_no);
		evbuffer_add_printf(b,
				    "</span>, amount %s CNY, queryId <span "
				    "id=\"queryId\">%s</span>, state <span "
				    "id=\"state\">%s</span></p>",
				    amt, o->trade_no, sim_state_name(o->state));
		evbuffer_add_printf(b, "<p>The payer pays by itself with "
				       "auto_pay or a \"pay\" script, else "
				       "POST /_sim/pay.</p>");
		if (front_url && *front_url) {
			evbuffer_add_printf(b, "<p><a id=\"frontUrl\" href=\"");
			html_add(b, front_url);
			evbuffer_add_printf(b, "\">Back to the merchant</a>"
					       "</p>");
		}
	} else {
		evbuffer_add_printf(b, "<p>Error: respCode <span "
				       "id=\"respCode\">");
		html_add(b, code);
		evbuffer_add_printf(b, "</span> ");
		html_add(b, resp_msg(code));
		evbuffer_add_printf(b, "</p>");
	}
	evbuffer_add_printf(b, "</body></html>\n");
	len = evbuffer_get_length(b);
	html = malloc(len + 1);
	if (html) {
		evbuffer_remove(b, html, len);
		html[len] = '\0';
	}
	evbuffer_free(b);
	sim_out_set(out, o ? 200 : 400, "text/html;charset=UTF-8", html);
	sim_out_header(out, "Paysim-Resp-Code", code);
}

/* Refuses a consume with respCode code: a signed answer on the back
 * endpoint, the error page on the front one. */
static void consume_refuse(struct sim *s, struct sim_out *out,
			   const struct sim_form *f, int front,
			   const char *code)
{
	if (front)
		front_page(out, code, NULL, NULL);
	else
		answer(s, out, f, NULL, code, NULL);
}

/*
 * The card number of a request: accNo in clear, or, when encryptCertId is
 * present, accNo decrypted with the platform key (RSA PKCS#1 v1.5, base64)
 * as the gateway does; encryptCertId must then name our certificate (we
 * encrypt with the platform key pair). Returns NULL and sets *acc (NULL
 * when there is no accNo; the caller frees *owned), or the respCode to
 * answer: "10" for an encryptCertId or ciphertext we cannot use.
 */
static const char *card_no(const struct sim *s, const struct sim_form *f,
			   const char **acc, char **owned)
{
	const char *v = sim_form_get(f, "accNo");
	const char *ecid = sim_form_get(f, "encryptCertId");
	unsigned char *plain = NULL;
	size_t len = 0;

	*owned = NULL;
	*acc = v;
	if (!ecid || !*ecid || !v || !*v)
		return NULL;
	if (strcmp(ecid, s->bank_cert_id) != 0)
		return "10";
	if (pr_rsa_decrypt(s->bank_key, PAYROUTE_RSA_PKCS1, v, &plain, &len) <
		    0 ||
	    len == 0 || strlen((char *)plain) != len) {
		free(plain);
		return "10";
	}
	*owned = (char *)plain;
	*acc = *owned;
	return NULL;
}

/* txnType 01: a consume. On the front endpoint it comes from the payer's
 * browser (the form of the driver's payer payload); the order is created
 * and the payer pays it as auto_pay or the "pay" script say, or by
 * /_sim/pay. Posting the same form again (a reload) shows the same order;
 * another consume with the same orderId is a duplicate (12). */
static void consume(struct sim *s, struct sim_out *out,
		    const struct sim_form *f, const char *mer, int front)
{
	const char *oid = sim_form_get(f, "orderId");
	const char *tt = sim_form_get(f, "txnTime");
	int64_t amt = parse_cents(sim_form_get(f, "txnAmt"));
	const char *acc, *bad;
	char *acc_owned = NULL;
	struct sim_order *o;

	if (!oid || !tt || strlen(tt) != 14 || amt <= 0 ||
	    !sim_form_get(f, "backUrl") || strlen(oid) > 40) {
		consume_refuse(s, out, f, front, "13");
		return;
	}
	bad = card_no(s, f, &acc, &acc_owned);
	if (bad) {
		consume_refuse(s, out, f, front, bad);
		return;
	}
	o = sim_order_find(s, SIM_BANK, oid);
	if (o) {
		if (front && strcmp(o->trade_type, "front") == 0 &&
		    strcmp(o->merchant, mer) == 0 &&
		    strcmp(o->txn_time, tt) == 0 && o->amount == amt)
			front_page(out, "00", o, sim_form_get(f, "frontUrl"));
		else
			consume_refuse(s, out, f, front, "12");
		free(acc_owned);
		return;
	}
	o = sim_order_new(s, SIM_BANK, mer, oid, amt, "CNY",
			  sim_form_get(f, "backUrl"));
	if (!o) {
		consume_refuse(s, out, f, front, "06");
		free(acc_owned);
		return;
	}
	snprintf(o->txn_time, sizeof(o->txn_time), "%s", tt);
	snprintf(o->trade_type, sizeof(o->trade_type), "%s",
		 front ? "front" : "back");
	snprintf(o->appid, sizeof(o->appid), "%s",
		 sim_form_get(f, "channelType") ?
			 sim_form_get(f, "channelType") :
			 "");
	mask_card(acc, o->payer, sizeof(o->payer));
	free(acc_owned);
	acc_owned = NULL;
	if (!front) {
		answer(s, out, f, NULL, "00", NULL);
		return;
	}
	front_page(out, "00", o, sim_form_get(f, "frontUrl"));
}

static void refund(struct sim *s, struct sim_out *out, const struct sim_form *f)
{
	const char *oid = sim_form_get(f, "orderId");
	const char *tt = sim_form_get(f, "txnTime");
	const char *qid = sim_form_get(f, "origQryId");
	int64_t amt = parse_cents(sim_form_get(f, "txnAmt"));
	struct sim_order *o;
	struct sim_refund *r;

	if (!oid || !tt || !qid || amt <= 0 || strlen(oid) > 40) {
		answer(s, out, f, NULL, "13", NULL);
		return;
	}
	if (sim_refund_find(s, SIM_BANK, oid) ||
	    sim_order_find(s, SIM_BANK, oid)) {
		answer(s, out, f, NULL, "12", NULL);
		return;
	}
	o = sim_order_find_trade_no(s, SIM_BANK, qid);
	if (!o || o->state != SIM_SUCCESS ||
	    strcmp(o->merchant, sim_form_get(f, "merId")) != 0) {
		answer(s, out, f, NULL, "35", NULL);
		return;
	}
	if (amt > o->amount - o->refunded) {
		answer(s, out, f, NULL, "36", NULL);
		return;
	}
	r = sim_refund_new(s, o, oid, amt, sim_form_get(f, "backUrl"), 0);
	if (!r) {
		answer(s, out, f, NULL, "06", NULL);
		return;
	}
	snprintf(r->txn_time, sizeof(r->txn_time), "%s", tt);
	answer(s, out, f, NULL, "00", NULL);
}

static void payout(struct sim *s, struct sim_out *out, const struct sim_form *f,
		   const char *mer)
{
	const char *oid = sim_form_get(f, "orderId");
	const char *tt = sim_form_get(f, "txnTime");
	const char *acc, *bad;
	char *acc_owned = NULL;
	int64_t amt = parse_cents(sim_form_get(f, "txnAmt"));
	struct sim_payout *p;

	bad = card_no(s, f, &acc, &acc_owned);
	if (bad) {
		answer(s, out, f, NULL, bad, NULL);
		return;
	}
	if (!oid || !tt || !acc || !*acc || amt <= 0 || strlen(oid) > 40) {
		answer(s, out, f, NULL, "13", NULL);
		goto out;
	}
	if (sim_payout_find(s, SIM_BANK, oid)) {
		answer(s, out, f, NULL, "12", NULL);
		goto out;
	}
	p = sim_payout_new(s, SIM_BANK, mer, oid, amt,
			   sim_form_get(f, "backUrl"), 0);
	if (!p) {
		answer(s, out, f, NULL, "06", NULL);
		goto out;
	}
	snprintf(p->txn_time, sizeof(p->txn_time), "%s", tt);
	/* The ledger keeps the decrypted card's head and tail only. */
	mask_card(acc, p->payee, sizeof(p->payee));
	answer(s, out, f, NULL, "00", NULL);
out:
	free(acc_owned);
}

static void query(struct sim *s, struct sim_out *out, const struct sim_form *f,
		  const char *mer)
{
	const char *oid = sim_form_get(f, "orderId");
	const char *tt = sim_form_get(f, "txnTime");
	struct sim_form x = { 0 };
	struct sim_order *o;
	struct sim_refund *r;
	struct sim_payout *p;
	const char *orig, *txn_type, *qid = "", *otime;
	char amt[24], settle[8];
	int64_t cents, done;

	if (!oid || !tt) {
		answer(s, out, f, NULL, "13", NULL);
		return;
	}
	if ((o = sim_order_find(s, SIM_BANK, oid))) {
		orig = order_orig(o);
		txn_type = "01";
		qid = o->trade_no;
		cents = o->amount;
		otime = o->txn_time;
		done = o->paid_ms;
	} else if ((r = sim_refund_find(s, SIM_BANK, oid))) {
		orig = final_orig(r->state,
				  r->fault == SIM_REFUND_ACCOUNT_CLOSED);
		txn_type = "04";
		qid = r->refund_id;
		cents = r->amount;
		otime = r->txn_time;
		done = r->done_ms;
		sim_form_add(&x, "origQryId", r->order->trade_no);
	} else if ((p = sim_payout_find(s, SIM_BANK, oid))) {
		orig = final_orig(p->state, 0);
		txn_type = "12";
		qid = p->payout_id;
		cents = p->amount;
		otime = p->txn_time;
		done = p->done_ms;
	} else {
		answer(s, out, f, NULL, "34", NULL);
		return;
	}
	(void)mer;
	if (strcmp(otime, tt) != 0) {
		sim_form_free(&x);
		answer(s, out, f, NULL, "34", NULL);
		return;
	}
	snprintf(amt, sizeof(amt), "%lld", (long long)cents);
	sim_form_add(&x, "origRespCode", orig);
	sim_form_add(&x, "origRespMsg", resp_msg(orig));
	sim_form_add(&x, "queryId", qid);
	sim_form_add(&x, "txnAmt", amt);
	sim_form_add(&x, "currencyCode", "156");
	sim_form_add(&x, "origTxnType", txn_type);
	if (strcmp(orig, "00") == 0) {
		char t[16];

		sim_time_compact(done, t, sizeof(t));
		snprintf(settle, sizeof(settle), "%.4s", t + 4);
		sim_form_add(&x, "settleAmt", amt);
		sim_form_add(&x, "settleCurrencyCode", "156");
		sim_form_add(&x, "settleDate", settle);
		sim_form_add(&x, "traceNo", qid + strlen(qid) - 6);
		sim_form_add(&x, "traceTime", t + 4);
	}
	answer(s, out, f, &x, "00", NULL);
	sim_form_free(&x);
}

/* The file transfer of the settlement file (txnType 76, fileType 00,
 * settleDate MMDD of this year, Beijing): answered with fileUrl and
 * fileDigest (the SHA-256 of the zip) rather than UnionPay's inline
 * fileContent, so that a large file streams; respCode 98 when there is no
 * file. */
static void file_transfer(struct sim *s, struct sim_out *out,
			  const struct sim_form *f, const char *mer_id,
			  const char *host)
{
	const char *sd = sim_form_get(f, "settleDate");
	const char *tt = sim_form_get(f, "txnTime");
	struct sim_form x = { 0 };
	char day[16], token[32], hash[80], url[256];
	int rc, y;

	if (!sd || strlen(sd) != 4 || !tt || strlen(tt) < 4 ||
	    strcmp(sim_form_get(f, "fileType") ? sim_form_get(f, "fileType") :
						 "",
		   "00") != 0) {
		answer(s, out, f, NULL, "13", NULL);
		return;
	}
	/* the year of the request's txnTime; December's file asked in
	 * January is last year's */
	y = 0;
	if (sscanf(tt, "%4d", &y) != 1) {
		answer(s, out, f, NULL, "13", NULL);
		return;
	}
	if (strncmp(sd, tt + 4, 2) > 0)
		y--;
	snprintf(day, sizeof(day), "%04d-%.2s-%.2s", y, sd, sd + 2);
	rc = sim_bill_make(s, SIM_BANK, mer_id, day, token, sizeof(token), hash,
			   sizeof(hash));
	if (rc == -ENOENT) {
		answer(s, out, f, NULL, "98", "文件不存在");
		return;
	}
	if (rc < 0) {
		answer(s, out, f, NULL, "03", NULL);
		return;
	}
	snprintf(url, sizeof(url),
		 "http://%s/bank/gateway/api/billfile?token=%s", host, token);
	sim_form_add(&x, "settleDate", sd);
	sim_form_add(&x, "fileType", "00");
	sim_form_add(&x, "fileUrl", url);
	sim_form_add(&x, "fileDigest", hash);
	answer(s, out, f, &x, "00", NULL);
	sim_form_free(&x);
}

void sim_bank_handle(struct sim *s, const struct sim_req *rq,
		     struct sim_out *out)
{
	static const char *const skip[] = { "signature", NULL };
	const char *ep = rq->path + strlen("/bank/gateway/api/");
	struct sim_form f = { 0 };
	const struct sim_bank_mer *m;
	const char *tt, *sig;
	char *str = NULL;
	struct sim_fault fault;
	int front = strcmp(ep, "frontTransReq.do") == 0;

	if (!s->bank_key) {
		sim_out_set(out, 404, "text/plain",
			    strdup("bank is not configured\n"));
		return;
	}
	if (strcmp(rq->method, "POST") != 0 ||
	    (!front && strcmp(ep, "backTransReq.do") != 0 &&
	     strcmp(ep, "queryTrans.do") != 0 &&
	     strcmp(ep, "fileTransRequest.do") != 0)) {
		sim_out_set(out, 404, "text/plain", strdup("not found\n"));
		return;
	}
	if (sim_form_parse(&f, rq->body, rq->body_len) != 0) {
		consume_refuse(s, out, &f, front, "10");
		goto out;
	}
	m = find_mer(s, sim_form_get(&f, "certId"));
	sig = sim_form_get(&f, "signature");
	tt = sim_form_get(&f, "txnType");
	if (!sim_form_get(&f, "merId") || !tt || !sig) {
		consume_refuse(s, out, &f, front, "13");
		goto out;
	}
	str = sim_form_sign_string(&f, skip);
	if (!m || strcmp(m->mer_id, sim_form_get(&f, "merId")) != 0 || !str ||
	    bank_verify(m->pub, str, sig) != 0) {
		pr_debug("paysim: bank: bad signature over [%s]",
			 str ? str : "");
		consume_refuse(s, out, &f, front, "11");
		goto out;
	}
	if (strcmp(sim_form_get(&f, "version") ? sim_form_get(&f, "version") :
						 "",
		   "5.1.0") != 0 ||
	    strcmp(sim_form_get(&f, "signMethod") ?
			   sim_form_get(&f, "signMethod") :
			   "",
		   "01") != 0) {
		consume_refuse(s, out, &f, front, "10");
		goto out;
	}
	sim_fault_lookup(s, sim_form_get(&f, "orderId"), NULL, &fault);
	out->fault = fault;
	if (fault.http_status) {
		sim_out_set(
			out, fault.http_status, "text/html",
			strdup("<html><body>gateway error</body></html>\n"));
		goto out;
	}
	if (fault.code[0]) {
		if (front)
			front_page(out, fault.code, NULL, NULL);
		else
			answer(s, out, &f, NULL, fault.code,
			       fault.sub_code[0] ? fault.sub_code : NULL);
		goto out;
	}
	if (strcmp(ep, "fileTransRequest.do") == 0) {
		if (strcmp(tt, "76") == 0)
			file_transfer(s, out, &f, m->mer_id, rq->host);
		else
			answer(s, out, &f, NULL, "10", NULL);
	} else if (strcmp(ep, "queryTrans.do") == 0) {
		if (strcmp(tt, "00") == 0)
			query(s, out, &f, m->mer_id);
		else
			answer(s, out, &f, NULL, "10", NULL);
	} else if (strcmp(tt, "01") == 0) {
		consume(s, out, &f, m->mer_id, front);
	} else if (!front && strcmp(tt, "04") == 0) {
		refund(s, out, &f);
	} else if (!front && strcmp(tt, "12") == 0) {
		payout(s, out, &f, m->mer_id);
	} else {
		consume_refuse(s, out, &f, front, "10");
	}
out:
	free(str);
	sim_form_free(&f);
}

/* ------------------------------------------------------------------------ */
/* backUrl notifications                                                    */
/* ------------------------------------------------------------------------ */

int sim_bank_notice(struct sim *s, char kind, void *ent,
		    enum sim_cb_fault fault, struct payroute_http_req *req,
		    struct sim_sig *defer, const char **ack_body)
{
	const struct payroute_services *svc = pr_services();
	struct sim_form f = { 0 };
	const char *url, *code, *txn, *sub, *biz, *oid, *qid, *tt, *acc = "";
	char amt[24], t[16], settle[8], *body = NULL;
	int64_t cents, done;
	int rc;

	if (kind == 'o') {
		struct sim_order *o = ent;

		if (o->state != SIM_SUCCESS)
			return -ENOENT; /* consume: success only */
		url = o->notify_url;
		code = "00";
		txn = "01";
		sub = "01";
		biz = "000201";
		oid = o->out_trade_no;
		qid = o->trade_no;
		tt = o->txn_time;
		cents = o->amount;
		done = o->paid_ms;
		acc = o->payer;
	} else if (kind == 'r') {
		struct sim_refund *r = ent;

		url = r->notify_url;
		code = final_orig(r->state,
				  r->fault == SIM_REFUND_ACCOUNT_CLOSED);
		txn = "04";
		sub = "00";
		biz = "000201";
		oid = r->out_refund_no;
		qid = r->refund_id;
		tt = r->txn_time;
		cents = r->amount;
		done = r->done_ms;
		sim_form_add(&f, "origQryId", r->order->trade_no);
	} else {
		struct sim_payout *p = ent;

		url = p->notify_url;
		code = final_orig(p->state, 0);
		txn = "12";
		sub = "00";
		biz = "000401";
		oid = p->out_no;
		qid = p->payout_id;
		tt = p->txn_time;
		cents = p->amount;
		done = p->done_ms;
		acc = p->payee;
	}
	if (!url) {
		sim_form_free(&f);
		return -ENOENT;
	}
	snprintf(amt, sizeof(amt), "%lld", (long long)cents);
	sim_time_compact(done ? done : sim_now_ms(), t, sizeof(t));
	snprintf(settle, sizeof(settle), "%.4s", t + 4);
	sim_form_add(&f, "version", "5.1.0");
	sim_form_add(&f, "encoding", "UTF-8");
	sim_form_add(&f, "bizType", biz);
	sim_form_add(&f, "txnType", txn);
	sim_form_add(&f, "txnSubType", sub);
	sim_form_add(&f, "accessType", "0");
	sim_form_add(&f, "merId",
		     kind == 'r' ? ((struct sim_refund *)ent)->merchant :
		     kind == 'p' ? ((struct sim_payout *)ent)->merchant :
				   ((struct sim_order *)ent)->merchant);
	sim_form_add(&f, "orderId", oid);
	sim_form_add(&f, "txnTime", tt);
	sim_form_add(&f, "txnAmt", amt);
	sim_form_add(&f, "currencyCode", "156");
	sim_form_add(&f, "queryId", qid);
	sim_form_add(&f, "respCode", code);
	sim_form_add(&f, "respMsg", resp_msg(code));
	if (acc && *acc)
		sim_form_add(&f, "accNo", acc);
	if (strcmp(code, "00") == 0) {
		sim_form_add(&f, "settleAmt", amt);
		sim_form_add(&f, "settleCurrencyCode", "156");
		sim_form_add(&f, "settleDate", settle);
		sim_form_add(&f, "traceNo", qid + strlen(qid) - 6);
		sim_form_add(&f, "traceTime", t + 4);
	}
	rc = sign_form(s, defer, &f, fault == SIM_CB_BAD_SIGNATURE, 1, &body);
	if (rc == 0)
		rc = svc->http_set(req, "POST", url);
	if (rc == 0)
		rc = svc->http_header(req, "Content-Type",
				      "application/x-www-form-urlencoded;"
				      "charset=UTF-8");
	if (rc == 0)
		rc = svc->http_body(req, body, strlen(body));
	*ack_body = NULL;
	free(body);
	sim_form_free(&f);
	return rc;
}
