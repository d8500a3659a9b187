/*
 * sim_alipay.c - the simulator's Alipay: the open platform gateway
 * (/alipay/gateway.do) as Alipay publishes it.
 *
 * Requests: the common parameters plus biz_content, in the query string,
 * the form body or both (SDKs split them). The RSA2 signature covers every
 * non-empty parameter except `sign` (sign_type included), sorted by name,
 * "k=v" joined with '&', raw values; it is verified with the app public key
 * configured for app_id. Answers are {"<method _>_response":{...},"sign":
 * "..."}, the sign computed with the platform key over the exact text of
 * the response node (compact JSON, as written). A bad signature is answered
 * like Alipay does: the method's node with code 40002,
 * sub_code isv.invalid-signature, signed.
 *
 * Public-key certificate mode. An app configured with app_cert_sn is in
 * that mode (as an Alipay app is in one mode or the other): its requests
 * must carry app_cert_sn equal to it and alipay_root_cert_sn equal to the
 * configured root_cert_sn (both are signed like every parameter), and its
 * answers carry "alipay_cert_sn": platform_cert_sn next to "sign". A
 * missing app_cert_sn is 40001 isv.missing-app-cert-sn, a wrong one 40002
 * isv.invalid-app-cert-sn, a wrong root 40002
 * isv.invalid-alipay-root-cert-sn; a public-key-mode app sending
 * app_cert_sn is 40002 isv.invalid-app-cert-sn. Transfers
 * (alipay.fund.trans.uni.transfer and .common.query) are served in
 * certificate mode only, as Alipay serves them: a public-key-mode call is
 * 40002 isv.app-cert-required. (These sub codes are the simulator's own
 * wording: the errors are Alipay's, their exact codes are not published.)
 * paysim does not compute SNs: Alipay issued the certificates and knows
 * them, so its config gives them (tests/keys/make_alipay_certs.sh computes
 * them with openssl).
 *
 * Page, wap and app pay (alipay.trade.page.pay / wap.pay / app.pay) are not
 * API calls: the payer's browser opens the signed URL (GET, or POST of the
 * form); the simulator verifies it, creates the pending order and shows a
 * small HTML page.
 *
 * Barcode pay (alipay.trade.pay, scene bar_code or security_code): the
 * merchant scanned the payer's payment code (auth_code, 10 to 32 digits;
 * anything else is 40004 ACQ.PAYMENT_AUTH_CODE_INVALID and no order). The
 * order is created and the answer is synchronous:
 *   - by default the payer pays at once, whatever auto_pay says (showing
 *     the code was the payer's act): the order is paid, the answer is a
 *     signed 10000 with trade_no, out_trade_no, total_amount,
 *     buyer_logon_id, gmt_payment (and the amounts Alipay adds), and the
 *     trade_status_sync notification goes to notify_url too, as Alipay
 *     sends it for trade.pay;
 *   - an auth_code starting with "99" (a payer who must confirm with a
 *     password), or a {"pay": "never"} script: 10003 "order success pay
 *     inprocess" with trade_no, and the order stays pending until the
 *     payer confirms: POST /_sim/pay, a {"pay": "success"} script or
 *     auto_pay, after notify_delay_ms; the notification follows then;
 *   - a {"pay": "fail"} script: 40004 ACQ.PAYMENT_FAIL, the order closed,
 *     no notification.
 * Scripts' code / sub_code, http_status, delay_ms and timeout apply as for
 * every method (timeout: the order is paid and notified, the answer never
 * comes). A second trade.pay of a pending order (same amount) is decided
 * again by its auth_code; of a paid one, 40004 ACQ.TRADE_HAS_SUCCESS.
 *
 * Async notifications (trade_status_sync) go to the request's notify_url
 * as a form POST; their signature covers every non-empty parameter except
 * sign and sign_type. The receiver must answer "success". Refunds notify
 * the original notify_url too (refund_fee, out_biz_no, gmt_refund), as
 * Alipay does. Transfers (fund.trans) send no notification here (Alipay's
 * alipay.fund.trans.order.changed message is not simulated).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/crypto.h"
#include "runtime/log.h"
#include "runtime/services.h"
#include "sim.h"

static const char *code_msg(const char *code)
{
	if (strcmp(code, "10000") == 0)
		return "Success";
	if (strcmp(code, "20000") == 0)
		return "Service Currently Unavailable";
	if (strcmp(code, "20001") == 0)
		return "Insufficient Token Permissions";
	if (strcmp(code, "40001") == 0)
		return "Missing Required Arguments";
	if (strcmp(code, "40002") == 0)
		return "Invalid Arguments";
	if (strcmp(code, "40004") == 0)
		return "Business Failed";
	if (strcmp(code, "40006") == 0)
		return "Insufficient Permissions";
	return "Business Failed";
}

/* Signs the node text and writes the full answer (takes node). */
static void respond(struct sim *s, struct sim_out *out, const char *name,
		    json_t *node)
{
	char *text = json_dumps(node, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *sig = NULL, *body = NULL;
	size_t len;

	json_decref(node);
	if (!text || sim_sign(s, &out->sig, s->alipay_key, text, strlen(text),
			      &sig) != 0) {
		sim_out_set(out, 500, "text/plain", strdup("sign failed\n"));
		goto out;
	}
	len = strlen(name) + strlen(text) + strlen(sig) + 128;
	body = malloc(len);
	if (body && out->alipay_cert_sn)
		snprintf(
			body, len,
			"{\"%s\":%s,\"alipay_cert_sn\":\"%s\",\"sign\":\"%s\"}",
			name, text, out->alipay_cert_sn, sig);
	else if (body)
		snprintf(body, len, "{\"%s\":%s,\"sign\":\"%s\"}", name, text,
			 sig);
	sim_out_set(out, 200, "application/json;charset=utf-8", body);
out:
	free(text);
	free(sig);
}

static json_t *ok_node(void)
{
	return json_pack("{s:s,s:s}", "code", "10000", "msg", "Success");
}

static void respond_error(struct sim *s, struct sim_out *out, const char *name,
			  const char *code, const char *sub_code,
			  const char *sub_msg, const char *out_trade_no)
{
	json_t *n = json_pack("{s:s,s:s}", "code", code, "msg", code_msg(code));

	if (sub_code && *sub_code) {
		json_object_set_new(n, "sub_code", json_string(sub_code));
		json_object_set_new(n, "sub_msg",
				    json_string(sub_msg ? sub_msg : sub_code));
	}
	if (out_trade_no && *out_trade_no)
		json_object_set_new(n, "out_trade_no",
				    json_string(out_trade_no));
	respond(s, out, name, n);
}

static void yuan(json_t *n, const char *key, int64_t cents)
{
	char b[32];

	sim_fmt_yuan(cents, b, sizeof(b));
	json_object_set_new(n, key, json_string(b));
}

static const char *trade_status(const struct sim_order *o)
{
	switch (o->state) {
	case SIM_PENDING:
		return "WAIT_BUYER_PAY";
	case SIM_SUCCESS:
		return o->refunded >= o->amount ? "TRADE_CLOSED" :
						  "TRADE_SUCCESS";
	default:
		return "TRADE_CLOSED";
	}
}

static const char *bstr(json_t *biz, const char *k)
{
	const char *v = json_string_value(json_object_get(biz, k));

	return v && *v ? v : NULL;
}

static struct sim_order *find_order(struct sim *s, json_t *biz)
{
	const char *no = bstr(biz, "out_trade_no"), *tn = bstr(biz, "trade_no");
	struct sim_order *o = NULL;

	if (no)
		o = sim_order_find(s, SIM_ALIPAY, no);
	if (!o && tn)
		o = sim_order_find_trade_no(s, SIM_ALIPAY, tn);
	return o;
}

/* Creates (or finds the same pending) order; NULL with an error answered. */
static struct sim_order *create_order(struct sim *s, struct sim_out *out,
				      const char *name, const char *app_id,
				      json_t *biz, const char *notify_url,
				      const char *type)
{
	const char *no = bstr(biz, "out_trade_no");
	int64_t amt = sim_parse_yuan(bstr(biz, "total_amount"));
	struct sim_order *o;

	if (!no || strlen(no) > 64 || amt <= 0 || !bstr(biz, "subject")) {
		respond_error(s, out, name, "40004", "ACQ.INVALID_PARAMETER",
			      "参数无效", no);
		return NULL;
	}
	o = sim_order_find(s, SIM_ALIPAY, no);
	if (o) {
		if (o->state == SIM_SUCCESS)
			respond_error(s, out, name, "40004",
				      "ACQ.TRADE_HAS_SUCCESS", "交易已被支付",
				      no);
		else if (o->state != SIM_PENDING)
			respond_error(s, out, name, "40004",
				      "ACQ.TRADE_HAS_CLOSE", "交易已经关闭",
				      no);
		else if (o->amount != amt)
			respond_error(s, out, name, "40004",
				      "ACQ.CONTEXT_INCONSISTENT",
				      "交易信息被篡改", no);
		else
			return o;
		return NULL;
	}
	o = sim_order_new(s, SIM_ALIPAY, app_id, no, amt, "CNY", notify_url);
	if (!o) {
		respond_error(s, out, name, "20000", "isp.unknow-error",
			      "系统繁忙", no);
		return NULL;
	}
	snprintf(o->trade_type, sizeof(o->trade_type), "%s", type);
	snprintf(o->subject, sizeof(o->subject), "%s", bstr(biz, "subject"));
	return o;
}

static void page_pay(struct sim *s, struct sim_out *out, const char *name,
		     const char *app_id, json_t *biz, const char *notify_url,
		     const char *type)
{
	struct sim_order *o;
	char *html;
	char amt[32];
	size_t len;

	o = create_order(s, out, name, app_id, biz, notify_url, type);
	if (!o) {
		/* keep the signed JSON error, but as a page status 200 like
		 * Alipay's cashier error pages */
		return;
	}
	sim_fmt_yuan(o->amount, amt, sizeof(amt));
	len = 512 + strlen(o->out_trade_no);
	html = malloc(len);
	if (html)
		snprintf(html, len,
			 "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
			 "<title>paysim alipay cashier</title></head><body>"
			 "<h1>Alipay (simulated)</h1><p>order %s, amount "
			 "%s CNY, trade_no %s</p><p>POST /_sim/pay to pay."
			 "</p></body></html>\n",
			 o->out_trade_no, amt, o->trade_no);
	sim_out_set(out, 200, "text/html;charset=utf-8", html);
}

/* A payment code as Alipay's apps show them: 10 to 32 digits. */
static int auth_code_ok(const char *c)
{
	size_t n = c ? strlen(c) : 0;

	if (n < 10 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (c[i] < '0' || c[i] > '9')
			return 0;
	return 1;
}

/* The node of a barcode answer: the trade and, once paid, the payment. */
static json_t *barcode_node(const struct sim_order *o, int paid)
{
	json_t *n, *bill;
	char t[32], a[32];

	if (paid)
		n = ok_node();
	else
		n = json_pack("{s:s,s:s}", "code", "10003", "msg",
			      "order success pay inprocess");
	json_object_set_new(n, "trade_no", json_string(o->trade_no));
	json_object_set_new(n, "out_trade_no", json_string(o->out_trade_no));
	json_object_set_new(n, "buyer_logon_id", json_string("159****5620"));
	yuan(n, "total_amount", o->amount);
	if (!paid)
		return n;
	yuan(n, "receipt_amount", o->amount);
	yuan(n, "buyer_pay_amount", o->amount);
	yuan(n, "invoice_amount", o->amount);
	sim_time_alipay(o->paid_ms, t, sizeof(t));
	json_object_set_new(n, "gmt_payment", json_string(t));
	sim_fmt_yuan(o->amount, a, sizeof(a));
	bill = json_pack("[{s:s,s:s}]", "fund_channel", "ALIPAYACCOUNT",
			 "amount", a);
	if (bill)
		json_object_set_new(n, "fund_bill_list", bill);
	json_object_set_new(n, "buyer_user_id",
			    json_string("2088102177846875"));
	return n;
}

/* alipay.trade.pay: see the header comment. */
static void do_barcode(struct sim *s, struct sim_out *out, const char *name,
		       const char *app_id, json_t *biz, const char *notify_url,
		       const struct sim_fault *fault)
{
	const char *scene = bstr(biz, "scene"), *code = bstr(biz, "auth_code");
	const char *no = bstr(biz, "out_trade_no");
	struct sim_order *o;

	if (!scene || (strcmp(scene, "bar_code") != 0 &&
		       strcmp(scene, "security_code") != 0)) {
		respond_error(s, out, name, "40004", "ACQ.INVALID_PARAMETER",
			      "参数无效: scene", no);
		return;
	}
	if (!auth_code_ok(code)) {
		respond_error(
			s, out, name, "40004", "ACQ.PAYMENT_AUTH_CODE_INVALID",
			"支付失败，获取顾客账户信息失败，请顾客刷新付款码后"
			"重新收款",
			no);
		return;
	}
	o = create_order(s, out, name, app_id, biz, notify_url, "bar_code");
	if (!o)
		return;
	if (fault->pay == SIM_PAY_FAIL) {
		o->state = SIM_CLOSED;
		respond_error(s, out, name, "40004", "ACQ.PAYMENT_FAIL",
			      "支付失败", o->out_trade_no);
		return;
	}
	if (fault->pay == SIM_PAY_NEVER || strncmp(code, "99", 2) == 0) {
		pr_debug("paysim: alipay barcode %s waits for the payer",
			 o->out_trade_no);
		respond(s, out, name, barcode_node(o, 0));
		return;
	}
	/* Paid now: the answer says so, and the notification follows it. */
	sim_order_settle_answered(s, o, 1);
	respond(s, out, name, barcode_node(o, 1));
}

static void do_query(struct sim *s, struct sim_out *out, const char *name,
		     json_t *biz)
{
	struct sim_order *o = find_order(s, biz);
	json_t *n;
	char t[32];

	if (!o) {
		respond_error(s, out, name, "40004", "ACQ.TRADE_NOT_EXIST",
			      "交易不存在", bstr(biz, "out_trade_no"));
		return;
	}
	n = ok_node();
	json_object_set_new(n, "trade_no", json_string(o->trade_no));
	json_object_set_new(n, "out_trade_no", json_string(o->out_trade_no));
	json_object_set_new(n, "buyer_logon_id", json_string("159****5620"));
	json_object_set_new(n, "trade_status", json_string(trade_status(o)));
	yuan(n, "total_amount", o->amount);
	if (o->state == SIM_SUCCESS) {
		yuan(n, "buyer_pay_amount", o->amount);
		yuan(n, "receipt_amount", o->amount);
		sim_time_alipay(o->paid_ms, t, sizeof(t));
		json_object_set_new(n, "send_pay_date", json_string(t));
		json_object_set_new(n, "buyer_user_id",
				    json_string("2088102177846875"));
	}
	respond(s, out, name, n);
}

static void do_close(struct sim *s, struct sim_out *out, const char *name,
		     json_t *biz)
{
	struct sim_order *o = find_order(s, biz);
	json_t *n;

	if (!o) {
		respond_error(s, out, name, "40004", "ACQ.TRADE_NOT_EXIST",
			      "交易不存在", bstr(biz, "out_trade_no"));
		return;
	}
	if (o->state == SIM_SUCCESS) {
		respond_error(s, out, name, "40004", "ACQ.TRADE_STATUS_ERROR",
			      "交易状态不合法", o->out_trade_no);
		return;
	}
	if (o->state == SIM_PENDING)
		o->state = SIM_CLOSED;
	n = ok_node();
	json_object_set_new(n, "trade_no", json_string(o->trade_no));
	json_object_set_new(n, "out_trade_no", json_string(o->out_trade_no));
	respond(s, out, name, n);
}

static void do_refund(struct sim *s, struct sim_out *out, const char *name,
		      json_t *biz, const char *notify_url)
{
	struct sim_order *o = find_order(s, biz);
	const char *rno = bstr(biz, "out_request_no");
	int64_t amt = sim_parse_yuan(bstr(biz, "refund_amount"));
	struct sim_refund *r;
	json_t *n;
	char t[32];

	if (!o) {
		respond_error(s, out, name, "40004", "ACQ.TRADE_NOT_EXIST",
			      "交易不存在", bstr(biz, "out_trade_no"));
		return;
	}
	if (!rno)
		rno = o->out_trade_no; /* Alipay's default */
	if (amt <= 0) {
		respond_error(s, out, name, "40004", "ACQ.INVALID_PARAMETER",
			      "参数无效", o->out_trade_no);
		return;
	}
	r = sim_refund_find(s, SIM_ALIPAY, rno);
	if (!r) {
		if (o->state != SIM_SUCCESS) {
			respond_error(s, out, name, "40004",
				      "ACQ.TRADE_STATUS_ERROR",
				      "交易状态不合法", o->out_trade_no);
			return;
		}
		if (amt > o->amount - o->refunded) {
			respond_error(s, out, name, "40004",
				      "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
				      "退款金额超限", o->out_trade_no);
			return;
		}
		r = sim_refund_new(s, o, rno, amt, notify_url, 1);
		if (!r) {
			respond_error(s, out, name, "20000", "isp.unknow-error",
				      "系统繁忙", o->out_trade_no);
			return;
		}
	} else if (r->order != o || r->amount != amt) {
		respond_error(s, out, name, "40004", "ACQ.CONTEXT_INCONSISTENT",
			      "交易信息被篡改", o->out_trade_no);
		return;
	}
	if (r->state == SIM_FAILED) {
		respond_error(s, out, name, "40004", "ACQ.BUYER_ERROR",
			      "买家状态非法", o->out_trade_no);
		return;
	}
	n = ok_node();
	json_object_set_new(n, "trade_no", json_string(o->trade_no));
	json_object_set_new(n, "out_trade_no", json_string(o->out_trade_no));
	json_object_set_new(n, "buyer_logon_id", json_string("159****5620"));
	json_object_set_new(n, "fund_change",
			    json_string(r->state == SIM_SUCCESS ? "Y" : "N"));
	yuan(n, "refund_fee", o->refunded);
	if (r->state == SIM_SUCCESS) {
		sim_time_alipay(r->done_ms, t, sizeof(t));
		json_object_set_new(n, "gmt_refund_pay", json_string(t));
	}
	json_object_set_new(n, "buyer_user_id",
			    json_string("2088102177846875"));
	respond(s, out, name, n);
}

static void do_refund_query(struct sim *s, struct sim_out *out,
			    const char *name, json_t *biz)
{
	struct sim_order *o = find_order(s, biz);
	const char *rno = bstr(biz, "out_request_no");
	struct sim_refund *r;
	json_t *n;
	char t[32];

	if (!o) {
		respond_error(s, out, name, "40004", "ACQ.TRADE_NOT_EXIST",
			      "交易不存在", bstr(biz, "out_trade_no"));
		return;
	}
	if (!rno) {
		respond_error(s, out, name, "40004", "ACQ.INVALID_PARAMETER",
			      "参数无效", o->out_trade_no);
		return;
	}
	r = sim_refund_find(s, SIM_ALIPAY, rno);
	n = ok_node();
	json_object_set_new(n, "trade_no", json_string(o->trade_no));
	json_object_set_new(n, "out_trade_no", json_string(o->out_trade_no));
	/* Alipay: no refund data when the refund did not (yet) succeed;
	 * refused refunds do not exist for it. */
	if (r && r->order == o && r->state != SIM_FAILED) {
		json_object_set_new(n, "out_request_no", json_string(rno));
		yuan(n, "total_amount", o->amount);
		yuan(n, "refund_amount", r->amount);
		if (r->state == SIM_SUCCESS) {
			json_object_set_new(n, "refund_status",
					    json_string("REFUND_SUCCESS"));
			sim_time_alipay(r->done_ms, t, sizeof(t));
			json_object_set_new(n, "gmt_refund_pay",
					    json_string(t));
		}
	}
	respond(s, out, name, n);
}

static const char *payout_status(const struct sim_payout *p)
{
	return p->state == SIM_SUCCESS ? "SUCCESS" :
	       p->state == SIM_FAILED  ? "FAIL" :
					 "DEALING";
}

static void payout_node(json_t *n, const struct sim_payout *p, int query)
{
	char t[32];

	json_object_set_new(n, "out_biz_no", json_string(p->out_no));
	json_object_set_new(n, "order_id", json_string(p->payout_id));
	json_object_set_new(n, "pay_fund_order_id", json_string(p->detail_id));
	json_object_set_new(n, "status", json_string(payout_status(p)));
	if (query)
		yuan(n, "trans_amount", p->amount);
	if (p->state == SIM_SUCCESS) {
		sim_time_alipay(p->done_ms, t, sizeof(t));
		json_object_set_new(n, query ? "pay_date" : "trans_date",
				    json_string(t));
	}
	if (p->state == SIM_FAILED) {
		json_object_set_new(n, "fail_reason",
				    json_string("收款账户状态异常"));
		json_object_set_new(n, "error_code",
				    json_string("PAYEE_ACCOUNT_STATUS_ERROR"));
	}
}

static void do_transfer(struct sim *s, struct sim_out *out, const char *name,
			const char *app_id, json_t *biz)
{
	const char *no = bstr(biz, "out_biz_no");
	int64_t amt = sim_parse_yuan(bstr(biz, "trans_amount"));
	json_t *payee = json_object_get(biz, "payee_info");
	struct sim_payout *p;
	json_t *n;

	if (!no || amt <= 0 || !json_is_object(payee) ||
	    !bstr(payee, "identity")) {
		respond_error(s, out, name, "40004", "INVALID_PARAMETER",
			      "参数有误", NULL);
		return;
	}
	p = sim_payout_find(s, SIM_ALIPAY, no);
	if (p && p->amount != amt) {
		respond_error(s, out, name, "40004",
			      "EXCEED_LIMIT_UNRN_DM_AMOUNT",
			      "out_biz_no 重复且金额不一致", NULL);
		return;
	}
	if (!p) {
		/* synchronous: the transfer is done when the call answers
		 * (unless scripted "pay": "never" / "fail") */
		p = sim_payout_new(s, SIM_ALIPAY, app_id, no, amt, NULL, 1);
		if (!p) {
			respond_error(s, out, name, "20000", "SYSTEM_ERROR",
				      "系统繁忙", NULL);
			return;
		}
		sim_new_id(s, "2088", p->detail_id, sizeof(p->detail_id));
		snprintf(p->payee, sizeof(p->payee), "%s",
			 bstr(payee, "identity"));
	}
	n = ok_node();
	payout_node(n, p, 0);
	respond(s, out, name, n);
}

static void do_transfer_query(struct sim *s, struct sim_out *out,
			      const char *name, json_t *biz)
{
	const char *no = bstr(biz, "out_biz_no"), *oid = bstr(biz, "order_id");
	struct sim_payout *p = no ? sim_payout_find(s, SIM_ALIPAY, no) : NULL;
	json_t *n;

	if (!p && oid) {
		for (size_t i = 0; i < s->payout_list.n && !p; i++) {
			struct sim_payout *q = s->payout_list.v[i];

			if (q->chan == SIM_ALIPAY &&
			    strcmp(q->payout_id, oid) == 0)
				p = q;
		}
	}
	if (!p) {
		respond_error(s, out, name, "40004", "ORDER_NOT_EXIST",
			      "转账订单不存在", NULL);
		return;
	}
	n = ok_node();
	payout_node(n, p, 1);
	respond(s, out, name, n);
}

/* alipay.data.dataservice.bill.downloadurl.query: the trade bill of
 * bill_date (sim_bill.c), downloaded from /alipay/billfile. */
#define BILL_METHOD "alipay.data.dataservice.bill.downloadurl.query"

static void do_bill(struct sim *s, struct sim_out *out, const char *name,
		    const char *app_id, json_t *biz, const char *host)
{
	const char *type = bstr(biz, "bill_type"),
		   *day = bstr(biz, "bill_date");
	char token[32], hash[80], url[256];
	json_t *n;
	int rc;

	if (!type || strcmp(type, "trade") != 0 || !day) {
		respond_error(s, out, name, "40004", "isv.invalid-parameter",
			      "bill_type 或 bill_date 无效", NULL);
		return;
	}
	rc = sim_bill_make(s, SIM_ALIPAY, app_id, day, token, sizeof(token),
			   hash, sizeof(hash));
	if (rc == -ENOENT) {
		respond_error(s, out, name, "40004", "isp.bill_not_exist",
			      "账单不存在", NULL);
		return;
	}
	if (rc < 0) {
		respond_error(s, out, name, "20000", "isp.unknow-error",
			      "服务暂不可用", NULL);
		return;
	}
	snprintf(url, sizeof(url), "http://%s/alipay/billfile?token=%s", host,
		 token);
	n = ok_node();
	json_object_set_new(n, "bill_download_url", json_string(url));
	respond(s, out, name, n);
}

static const struct sim_alipay_app *find_app(struct sim *s, const char *id)
{
	for (size_t i = 0; id && i < s->n_apps; i++)
		if (strcmp(s->apps[i].app_id, id) == 0)
			return &s->apps[i];
	return NULL;
}

void sim_alipay_handle(struct sim *s, const struct sim_req *rq,
		       struct sim_out *out)
{
	static const char *const skip_sign[] = { "sign", NULL };
	struct sim_form f = { 0 };
	const struct sim_alipay_app *app;
	const char *method, *sign, *st, *bizs, *notify_url, *no, *acsn, *rsn;
	char name[128], *str = NULL;
	json_t *biz = NULL;
	struct sim_fault fault;
	int page;

	if (!s->alipay_key) {
		sim_out_set(out, 404, "text/plain",
			    strdup("alipay is not configured\n"));
		return;
	}
	if ((rq->query && sim_form_parse(&f, rq->query, strlen(rq->query))) ||
	    (rq->body_len && sim_form_parse(&f, rq->body, rq->body_len))) {
		sim_out_set(out, 400, "text/plain",
			    strdup("malformed form encoding\n"));
		goto out;
	}
	method = sim_form_get(&f, "method");
	if (!method || !*method || strlen(method) > 100) {
		respond_error(s, out, "error_response", "40001",
			      "isv.missing-method", "缺少方法名参数", NULL);
		goto out;
	}
	snprintf(name, sizeof(name), "%s_response", method);
	for (char *p = name; *p; p++)
		if (*p == '.')
			*p = '_';
	app = find_app(s, sim_form_get(&f, "app_id"));
	sign = sim_form_get(&f, "sign");
	st = sim_form_get(&f, "sign_type");
	if (!app) {
		respond_error(s, out, name, "40002", "isv.invalid-app-id",
			      "无效的AppID参数", NULL);
		goto out;
	}
	if (!sign || !*sign) {
		respond_error(s, out, name, "40001", "isv.missing-signature",
			      "缺少签名参数", NULL);
		goto out;
	}
	if (!st || strcmp(st, "RSA2") != 0) {
		respond_error(s, out, name, "40002",
			      "isv.invalid-signature-type", "无效的签名类型",
			      NULL);
		goto out;
	}
	acsn = sim_form_get(&f, "app_cert_sn");
	rsn = sim_form_get(&f, "alipay_root_cert_sn");
	if (app->app_cert_sn[0]) {
		if (!acsn || !*acsn) {
			respond_error(s, out, name, "40001",
				      "isv.missing-app-cert-sn",
				      "缺少应用公钥证书序列号", NULL);
			goto out;
		}
		if (strcmp(acsn, app->app_cert_sn) != 0) {
			respond_error(s, out, name, "40002",
				      "isv.invalid-app-cert-sn",
				      "应用公钥证书序列号不匹配", NULL);
			goto out;
		}
		if (!rsn || strcmp(rsn, s->alipay_root_cert_sn) != 0) {
			respond_error(s, out, name, "40002",
				      "isv.invalid-alipay-root-cert-sn",
				      "支付宝根证书序列号不匹配", NULL);
			goto out;
		}
		out->alipay_cert_sn = s->alipay_cert_sn;
	} else if (acsn && *acsn) {
		respond_error(s, out, name, "40002", "isv.invalid-app-cert-sn",
			      "应用未启用公钥证书模式", NULL);
		goto out;
	}
	str = sim_form_sign_string(&f, skip_sign);
	if (!str || pr_rsa_sha256_verify(app->pub, str, strlen(str), sign)) {
		pr_debug("paysim: alipay: bad signature over [%s]",
			 str ? str : "");
		respond_error(s, out, name, "40002", "isv.invalid-signature",
			      "验签出错，建议检查签名字符串或签名私钥与应用公钥"
			      "是否匹配",
			      NULL);
		goto out;
	}
	bizs = sim_form_get(&f, "biz_content");
	biz = bizs ? json_loads(bizs, 0, NULL) : NULL;
	if (!json_is_object(biz)) {
		respond_error(s, out, name, "40002", "isv.invalid-parameter",
			      "biz_content 无效", NULL);
		goto out;
	}
	notify_url = sim_form_get(&f, "notify_url");
	no = bstr(biz, "out_trade_no");
	if (!no)
		no = bstr(biz, "out_biz_no");
	sim_fault_lookup(s, no, bstr(biz, "out_request_no"), &fault);
	out->fault = fault;
	if (fault.http_status) {
		sim_out_set(out, fault.http_status, "text/html;charset=utf-8",
			    strdup("<html><body>Service Unavailable</body>"
				   "</html>\n"));
		goto out;
	}
	if (fault.code[0] || fault.sub_code[0]) {
		respond_error(s, out, name,
			      fault.code[0] ? fault.code : "40004",
			      fault.sub_code, fault.sub_code, no);
		goto out;
	}
	page = strcmp(method, "alipay.trade.page.pay") == 0 ||
	       strcmp(method, "alipay.trade.wap.pay") == 0 ||
	       strcmp(method, "alipay.trade.app.pay") == 0;
	if (page)
		page_pay(s, out, name, app->app_id, biz, notify_url,
			 method + strlen("alipay.trade."));
	else if (strcmp(rq->method, "POST") != 0)
		sim_out_set(out, 405, "text/plain",
			    strdup("API methods are POSTed\n"));
	else if (strcmp(method, "alipay.trade.precreate") == 0 ||
		 strcmp(method, "alipay.trade.create") == 0) {
		int pre = strcmp(method, "alipay.trade.precreate") == 0;
		struct sim_order *o =
			create_order(s, out, name, app->app_id, biz, notify_url,
				     pre ? "precreate" : "create");
		json_t *n;
		char qr[96];

		if (o) {
			n = ok_node();
			json_object_set_new(n, "out_trade_no",
					    json_string(o->out_trade_no));
			if (pre) {
				snprintf(qr, sizeof(qr),
					 "https://qr.alipay.com/%s", o->token);
				json_object_set_new(n, "qr_code",
						    json_string(qr));
			} else {
				json_object_set_new(n, "trade_no",
						    json_string(o->trade_no));
			}
			respond(s, out, name, n);
		}
	} else if (strcmp(method, "alipay.trade.pay") == 0)
		do_barcode(s, out, name, app->app_id, biz, notify_url, &fault);
	else if (strcmp(method, "alipay.trade.query") == 0)
		do_query(s, out, name, biz);
	else if (strcmp(method, "alipay.trade.close") == 0)
		do_close(s, out, name, biz);
	else if (strcmp(method, "alipay.trade.refund") == 0)
		do_refund(s, out, name, biz, notify_url);
	else if (strcmp(method, "alipay.trade.fastpay.refund.query") == 0)
		do_refund_query(s, out, name, biz);
	else if (strncmp(method, "alipay.fund.trans.", 18) == 0 &&
		 !out->alipay_cert_sn)
		respond_error(s, out, name, "40002", "isv.app-cert-required",
			      "该接口仅支持公钥证书模式调用", NULL);
	else if (strcmp(method, "alipay.fund.trans.uni.transfer") == 0)
		do_transfer(s, out, name, app->app_id, biz);
	else if (strcmp(method, "alipay.fund.trans.common.query") == 0)
		do_transfer_query(s, out, name, biz);
	else if (strcmp(method, BILL_METHOD) == 0)
		do_bill(s, out, name, app->app_id, biz, rq->host);
	else
		respond_error(s, out, name, "40002", "isv.invalid-method",
			      "不存在的方法名", NULL);
out:
	json_decref(biz);
	free(str);
	sim_form_free(&f);
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

int sim_alipay_notice(struct sim *s, char kind, void *ent,
		      enum sim_cb_fault fault, struct payroute_http_req *req,
		      struct sim_sig *defer, const char **ack_body)
{
	static const char *const skip[] = { "sign", "sign_type", NULL };
	const struct payroute_services *svc = pr_services();
	struct sim_order *o;
	struct sim_refund *r = NULL;
	struct sim_form f = { 0 };
	char t[32], a[32], nid[64], *str = NULL, *sig = NULL, *body = NULL;
	const char *url;
	int rc = -ENOMEM;

	if (kind == 'o') {
		o = ent;
		url = o->notify_url;
	} else if (kind == 'r') {
		r = ent;
		o = r->order;
		url = r->notify_url;
		if (r->state != SIM_SUCCESS)
			return -ENOENT;
	} else {
		return -ENOTSUP;
	}
	if (!url)
		return -ENOENT;
	sim_time_alipay(o->created_ms, t, sizeof(t));
	sim_form_add(&f, "gmt_create", t);
	sim_form_add(&f, "charset", "utf-8");
	if (o->state == SIM_SUCCESS) {
		sim_time_alipay(o->paid_ms, t, sizeof(t));
		sim_form_add(&f, "gmt_payment", t);
	}
	sim_time_alipay(sim_now_ms(), t, sizeof(t));
	sim_form_add(&f, "notify_time", t);
	if (o->subject[0])
		sim_form_add(&f, "subject", o->subject);
	sim_form_add(&f, "buyer_id", "2088102177846875");
	sim_form_add(&f, "version", "1.0");
	sim_random_str(nid, 32);
	sim_form_add(&f, "notify_id", nid);
	sim_form_add(&f, "notify_type", "trade_status_sync");
	sim_form_add(&f, "out_trade_no", o->out_trade_no);
	/* wrong_amount: a channel reporting another amount than the order's,
	 * signed as sent (the receiver's amount guard must catch it) */
	sim_fmt_yuan(o->amount + (fault == SIM_CB_WRONG_AMOUNT), a, sizeof(a));
	if (fault != SIM_CB_NO_AMOUNT)
		sim_form_add(&f, "total_amount", a);
	sim_form_add(&f, "trade_status", trade_status(o));
	sim_form_add(&f, "trade_no", o->trade_no);
	sim_form_add(&f, "auth_app_id", o->merchant);
	if (o->state == SIM_SUCCESS) {
		sim_form_add(&f, "receipt_amount", a);
		sim_form_add(&f, "buyer_pay_amount", a);
	}
	if (r) {
		sim_form_add(&f, "out_biz_no", r->out_refund_no);
		sim_fmt_yuan(o->refunded, a, sizeof(a));
		sim_form_add(&f, "refund_fee", a);
		sim_time_alipay(r->done_ms, t, sizeof(t));
		sim_form_add(&f, "gmt_refund", t);
	}
	sim_form_add(&f, "app_id", o->merchant);
	sim_form_add(&f, "seller_id", "2088101117955611");
	str = sim_form_sign_string(&f, skip);
	if (!str)
		goto out;
	if (fault == SIM_CB_BAD_SIGNATURE) {
		char *tampered = malloc(strlen(str) + 2);

		if (!tampered)
			goto out;
		snprintf(tampered, strlen(str) + 2, "%sx", str);
		free(str);
		str = tampered;
	}
	if (sim_sign(s, defer, s->alipay_key, str, strlen(str), &sig) != 0)
		goto out;
	sim_form_add(&f, "sign_type", "RSA2");
	sim_form_add(&f, "sign", sig);
	body = sim_form_serialize(&f, 1);
	if (!body)
		goto out;
	rc = svc->http_set(req, "POST", url);
	if (rc == 0)
		rc = svc->http_header(req, "Content-Type",
				      "application/x-www-form-urlencoded;"
				      "charset=utf-8");
	if (rc == 0)
		rc = svc->http_body(req, body, strlen(body));
	*ack_body = "success";
out:
	free(str);
	free(sig);
	free(body);
	sim_form_free(&f);
	return rc;
}
