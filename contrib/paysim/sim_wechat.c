/*
 * sim_wechat.c - the simulator's WeChat Pay API v3 (under /wechat, so the
 * driver's api_base is http://127.0.0.1:PORT/wechat).
 *
 * Every request must carry "Authorization: WECHATPAY2-SHA256-RSA2048
 * mchid=..,nonce_str=..,timestamp=..,serial_no=..,signature=.." signed with
 * the merchant key over "METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n", URL being
 * the path and query exactly as received (with the /wechat prefix); the
 * key is the one configured for mchid, the serial must match, and the
 * timestamp must be within 5 minutes. Every answer, errors and 204s
 * included, is signed with the platform key over "TS\nNONCE\nBODY\n" in
 * Wechatpay-Timestamp / -Nonce / -Signature / -Serial. Errors are
 * {"code","message"} with WeChat Pay's HTTP statuses.
 *
 * Served: orders (native, jsapi, h5, app), query by out-trade-no and by
 * transaction id, close (204), domestic refunds (PROCESSING, SUCCESS after
 * notify_delay_ms) and refund query; transfers both as the older batches
 * (/v3/transfer/batches, one detail per batch; ACCEPTED -> FINISHED with
 * the detail SUCCESS) and as the newer transfer bills
 * (/v3/fund-app/mch-transfer/transfer-bills; ACCEPTED -> SUCCESS, no user
 * confirmation step). A transfer's user_name, mandatory from 2000 yuan on,
 * is decrypted with the platform key (RSA-OAEP, SHA-1) and needs a
 * Wechatpay-Serial naming the platform certificate; transfers without a
 * name below 2000 yuan are accepted as before. Notifications: TRANSACTION.SUCCESS, REFUND.SUCCESS /
 * REFUND.ABNORMAL, MCHTRANSFER.BILL.FINISHED, each with its resource
 * encrypted AEAD_AES_256_GCM under the merchant's APIv3 key (12-character
 * nonce, associated_data "transaction" / "refund" / "mch_payment"); any
 * 2xx answer acknowledges.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/crypto.h"
#include "runtime/log.h"
#include "runtime/services.h"
#include "sim.h"

#define WX_MAX_SKEW_S 300

struct wx_ctx {
	struct sim *s;
	struct sim_out *out;
	const struct sim_req *rq;
	const struct sim_wechat_mch *mch;
	json_t *body; /* parsed request body, may be NULL */
};

/* From this amount (2000 yuan) on a transfer must name the payee. */
#define WX_NAME_REQUIRED_FEN 200000

/* ------------------------------------------------------------------------ */
/* Signing                                                                  */
/* ------------------------------------------------------------------------ */

/* Signs "TS\nNONCE\nBODY\n" as WeChat Pay does; fault SIM_CB_BAD_SIGNATURE
 * signs something else, SIM_CB_STALE a timestamp 10 minutes old. */
static int wx_sign(struct sim *s, struct sim_sig *defer, const char *body,
		   size_t len, enum sim_cb_fault fault, char ts[24],
		   char nonce[40], char **sig)
{
	char *msg;
	size_t ml = len + 96;
	int n, rc;

	snprintf(ts, 24, "%lld",
		 (long long)(sim_now_ms() / 1000 -
			     (fault == SIM_CB_STALE ? 600 : 0)));
	sim_random_str(nonce, 32);
	msg = malloc(ml);
	if (!msg)
		return -ENOMEM;
	n = snprintf(msg, ml, "%s\n%s\n", ts, nonce);
	memcpy(msg + n, body, len);
	n += (int)len;
	msg[n++] = '\n';
	if (fault == SIM_CB_BAD_SIGNATURE)
		msg[n++] = 'x';
	rc = sim_sign(s, defer, s->wechat_key, msg, (size_t)n, sig);
	free(msg);
	return rc;
}

/* Finishes an answer: status, body (owned, may be NULL), signed headers. */
static void wx_answer(struct sim *s, struct sim_out *out, int status,
		      char *body)
{
	char ts[24], nonce[40], rid[40], *sig = NULL;

	sim_out_set(out, status,
		    body ? "application/json; charset=utf-8" : NULL, body);
	if (wx_sign(s, &out->sig, body ? body : "", body ? strlen(body) : 0,
		    SIM_CB_NORMAL, ts, nonce, &sig) != 0) {
		sim_out_set(out, 500, "text/plain", strdup("sign failed\n"));
		return;
	}
	sim_random_str(rid, 32);
	sim_out_header(out, "Request-ID", rid);
	sim_out_header(out, "Wechatpay-Timestamp", ts);
	sim_out_header(out, "Wechatpay-Nonce", nonce);
	sim_out_header(out, "Wechatpay-Signature", sig);
	sim_out_header(out, "Wechatpay-Serial", s->wechat_serial);
	free(sig);
}

static void wx_json(struct sim *s, struct sim_out *out, int status, json_t *j)
{
	wx_answer(s, out, status,
		  json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER));
	json_decref(j);
}

static int error_status(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} t[] = {
		{ "SIGN_ERROR", 401 },
		{ "ORDERPAID", 403 },
		{ "NOT_ENOUGH", 403 },
		{ "NO_AUTH", 403 },
		{ "USER_ACCOUNT_ABNORMAL", 403 },
		{ "ACCOUNTERROR", 403 },
		{ "TRADE_ERROR", 403 },
		{ "RULE_LIMIT", 403 },
		{ "ORDER_NOT_EXIST", 404 },
		{ "RESOURCE_NOT_EXISTS", 404 },
		{ "NOT_FOUND", 404 },
		{ "FREQUENCY_LIMITED", 429 },
		{ "SYSTEM_ERROR", 500 },
		{ "SYSTEMERROR", 500 },
		{ "BANKERROR", 500 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(code, t[i].code) == 0)
			return t[i].status;
	return 400;
}

static void wx_error(struct sim *s, struct sim_out *out, int status,
		     const char *code, const char *msg)
{
	wx_json(s, out, status ? status : error_status(code),
		json_pack("{s:s,s:s}", "code", code, "message", msg));
}

/* ------------------------------------------------------------------------ */
/* Authorization                                                            */
/* ------------------------------------------------------------------------ */

/* Copies the value of key="..." from an Authorization header. */
static int auth_param(const char *h, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	const char *p = h;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == h || p[-1] == ' ' || p[-1] == ',') && p[kl] == '=' &&
		    p[kl + 1] == '"') {
			const char *v = p + kl + 2, *e = strchr(v, '"');

			if (!e || (size_t)(e - v) >= len)
				return -EINVAL;
			memcpy(buf, v, (size_t)(e - v));
			buf[e - v] = '\0';
			return 0;
		}
		p += kl;
	}
	return -ENOENT;
}

static const struct sim_wechat_mch *find_mch(struct sim *s, const char *id)
{
	for (size_t i = 0; id && i < s->n_mchs; i++)
		if (strcmp(s->mchs[i].mchid, id) == 0)
			return &s->mchs[i];
	return NULL;
}

static const struct sim_wechat_mch *
authorize(struct sim *s, const struct sim_req *rq, const char **why)
{
	const char *h = evhttp_find_header(
		evhttp_request_get_input_headers(rq->ev), "Authorization");
	static const char scheme[] = "WECHATPAY2-SHA256-RSA2048 ";
	char mchid[64], nonce[128], ts[32], serial[96], sig[1024];
	const struct sim_wechat_mch *m;
	char *msg;
	size_t ml;
	long long t;
	int n, rc;

	*why = "Http头Authorization值格式错误";
	if (!h || strncmp(h, scheme, sizeof(scheme) - 1) != 0)
		return NULL;
	if (auth_param(h, "mchid", mchid, sizeof(mchid)) ||
	    auth_param(h, "nonce_str", nonce, sizeof(nonce)) ||
	    auth_param(h, "timestamp", ts, sizeof(ts)) ||
	    auth_param(h, "serial_no", serial, sizeof(serial)) ||
	    auth_param(h, "signature", sig, sizeof(sig)))
		return NULL;
	m = find_mch(s, mchid);
	if (!m) {
		*why = "商户号不存在";
		return NULL;
	}
	if (strcasecmp(serial, m->serial_no) != 0) {
		*why = "商户证书序列号有误";
		return NULL;
	}
	t = strtoll(ts, NULL, 10);
	if (t <= 0 || llabs(t - sim_now_ms() / 1000) > WX_MAX_SKEW_S) {
		*why = "请求时间戳已过期";
		return NULL;
	}
	ml = strlen(rq->uri) + strlen(ts) + strlen(nonce) + rq->body_len + 64;
	msg = malloc(ml);
	if (!msg)
		return NULL;
	n = snprintf(msg, ml, "%s\n%s\n%s\n%s\n", rq->method, rq->uri, ts,
		     nonce);
	memcpy(msg + n, rq->body, rq->body_len);
	n += (int)rq->body_len;
	msg[n++] = '\n';
	rc = pr_rsa_sha256_verify(m->pub, msg, (size_t)n, sig);
	if (rc != 0)
		pr_debug("paysim: wechat: bad signature over [%.*s]", n, msg);
	free(msg);
	if (rc != 0) {
		*why = "签名错误";
		return NULL;
	}
	return m;
}

/* ------------------------------------------------------------------------ */
/* Payments                                                                 */
/* ------------------------------------------------------------------------ */

static const char *trade_state(const struct sim_order *o)
{
	switch (o->state) {
	case SIM_PENDING:
		return "NOTPAY";
	case SIM_SUCCESS:
		return o->refunded > 0 ? "REFUND" : "SUCCESS";
	case SIM_FAILED:
		return "PAYERROR";
	default:
		return "CLOSED";
	}
}

static const char *trade_state_desc(const struct sim_order *o)
{
	switch (o->state) {
	case SIM_PENDING:
		return "订单未支付";
	case SIM_SUCCESS:
		return o->refunded > 0 ? "转入退款" : "支付成功";
	case SIM_FAILED:
		return "支付失败";
	default:
		return "订单已关闭";
	}
}

static json_t *transaction_json(const struct sim_order *o)
{
	json_t *j = json_object(), *amt;
	char t[40];

	json_object_set_new(j, "appid", json_string(o->appid));
	json_object_set_new(j, "mchid", json_string(o->merchant));
	json_object_set_new(j, "out_trade_no", json_string(o->out_trade_no));
	if (o->state == SIM_SUCCESS)
		json_object_set_new(j, "transaction_id",
				    json_string(o->trade_no));
	json_object_set_new(j, "trade_type", json_string(o->trade_type));
	json_object_set_new(j, "trade_state", json_string(trade_state(o)));
	json_object_set_new(j, "trade_state_desc",
			    json_string(trade_state_desc(o)));
	if (o->state == SIM_SUCCESS) {
		json_object_set_new(j, "bank_type", json_string("OTHERS"));
		json_object_set_new(j, "attach", json_string(""));
		sim_time_rfc3339(o->paid_ms, t, sizeof(t));
		json_object_set_new(j, "success_time", json_string(t));
		json_object_set_new(
			j, "payer",
			json_pack("{s:s}", "openid",
				  o->payer[0] ?
					  o->payer :
					  "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"));
	}
	amt = json_pack("{s:I}", "total", (json_int_t)o->amount);
	if (o->state == SIM_SUCCESS)
		json_object_set_new(amt, "payer_total",
				    json_integer(o->amount));
	json_object_set_new(amt, "currency", json_string(o->currency));
	json_object_set_new(amt, "payer_currency", json_string(o->currency));
	json_object_set_new(j, "amount", amt);
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && *v ? v : NULL;
}

static void prepay_id(const struct sim_order *o, char *buf, size_t len)
{
	char t[16];

	sim_time_compact(o->created_ms, t, sizeof(t));
	snprintf(buf, len, "wx%s%.20s", t, o->token);
}

static void create_order(struct wx_ctx *c, const char *type)
{
	json_t *b = c->body, *amt = json_object_get(b, "amount");
	json_t *total = json_object_get(amt, "total");
	const char *no = jstr(b, "out_trade_no"), *appid = jstr(b, "appid");
	const char *openid = jstr(json_object_get(b, "payer"), "openid");
	const char *cur = jstr(amt, "currency");
	struct sim_order *o;
	char buf[256], pid[64];

	if (!no || !appid || !jstr(b, "description") ||
	    !jstr(b, "notify_url") || !json_is_integer(total) ||
	    json_integer_value(total) <= 0 || strlen(no) > 32) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "输入源“/body”映射到值字段失败");
		return;
	}
	if (!jstr(b, "mchid") || strcmp(jstr(b, "mchid"), c->mch->mchid)) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "mchid与请求头的商户号不一致");
		return;
	}
	if (strcmp(type, "JSAPI") == 0 && !openid) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "JSAPI下单缺少payer.openid");
		return;
	}
	if (strcmp(type, "MWEB") == 0 &&
	    !jstr(json_object_get(b, "scene_info"), "payer_client_ip")) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "H5下单缺少scene_info.payer_client_ip");
		return;
	}
	o = sim_order_find(c->s, SIM_WECHAT, no);
	if (o) {
		if (o->state == SIM_SUCCESS) {
			wx_error(c->s, c->out, 403, "ORDERPAID",
				 "该订单已支付");
			return;
		}
		if (o->state != SIM_PENDING) {
			wx_error(c->s, c->out, 400, "ORDER_CLOSED",
				 "订单已关闭");
			return;
		}
		if (o->amount != json_integer_value(total) ||
		    strcmp(o->trade_type, type)) {
			wx_error(c->s, c->out, 400, "INVALID_REQUEST",
				 "201 商户订单号重复");
			return;
		}
	} else {
		o = sim_order_new(c->s, SIM_WECHAT, c->mch->mchid, no,
				  json_integer_value(total), cur ? cur : "CNY",
				  jstr(b, "notify_url"));
		if (!o) {
			wx_error(c->s, c->out, 500, "SYSTEM_ERROR", "系统错误");
			return;
		}
		snprintf(o->trade_type, sizeof(o->trade_type), "%s", type);
		snprintf(o->appid, sizeof(o->appid), "%s", appid);
		snprintf(o->subject, sizeof(o->subject), "%s",
			 jstr(b, "description"));
		if (openid)
			snprintf(o->payer, sizeof(o->payer), "%s", openid);
	}
	prepay_id(o, pid, sizeof(pid));
	if (strcmp(type, "NATIVE") == 0) {
		snprintf(buf, sizeof(buf), "weixin://wxpay/bizpayurl?pr=%.16s",
			 o->token);
		wx_json(c->s, c->out, 200, json_pack("{s:s}", "code_url", buf));
	} else if (strcmp(type, "MWEB") == 0) {
		snprintf(buf, sizeof(buf),
			 "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb"
			 "?prepay_id=%s&package=2150917749",
			 pid);
		wx_json(c->s, c->out, 200, json_pack("{s:s}", "h5_url", buf));
	} else {
		wx_json(c->s, c->out, 200,
			json_pack("{s:s}", "prepay_id", pid));
	}
}

static void query_order(struct wx_ctx *c, struct sim_order *o)
{
	if (!o || strcmp(o->merchant, c->mch->mchid) != 0) {
		wx_error(c->s, c->out, 404, "ORDER_NOT_EXIST", "订单不存在");
		return;
	}
	wx_json(c->s, c->out, 200, transaction_json(o));
}

static void close_order(struct wx_ctx *c, struct sim_order *o)
{
	if (!o || strcmp(o->merchant, c->mch->mchid) != 0) {
		wx_error(c->s, c->out, 404, "ORDER_NOT_EXIST", "订单不存在");
		return;
	}
	if (o->state == SIM_SUCCESS) {
		wx_error(c->s, c->out, 403, "ORDERPAID", "该订单已支付");
		return;
	}
	if (o->state == SIM_PENDING)
		o->state = SIM_CLOSED;
	wx_answer(c->s, c->out, 204, NULL);
}

/* ------------------------------------------------------------------------ */
/* Refunds                                                                  */
/* ------------------------------------------------------------------------ */

static const char *refund_status(const struct sim_refund *r)
{
	switch (r->state) {
	case SIM_SUCCESS:
		return "SUCCESS";
	case SIM_FAILED:
		return "ABNORMAL";
	case SIM_CLOSED:
		return "CLOSED";
	default:
		return "PROCESSING";
	}
}

static json_t *refund_json(const struct sim_refund *r, int notify)
{
	const struct sim_order *o = r->order;
	json_t *j = json_object(), *amt;
	char t[40];

	if (notify)
		json_object_set_new(j, "mchid", json_string(r->merchant));
	json_object_set_new(j, "refund_id", json_string(r->refund_id));
	json_object_set_new(j, "out_refund_no", json_string(r->out_refund_no));
	json_object_set_new(j, "transaction_id", json_string(o->trade_no));
	json_object_set_new(j, "out_trade_no", json_string(o->out_trade_no));
	if (!notify)
		json_object_set_new(j, "channel", json_string("ORIGINAL"));
	json_object_set_new(j, "user_received_account",
			    json_string("支付用户零钱"));
	if (r->state == SIM_SUCCESS) {
		sim_time_rfc3339(r->done_ms, t, sizeof(t));
		json_object_set_new(j, "success_time", json_string(t));
	}
	sim_time_rfc3339(r->created_ms, t, sizeof(t));
	if (!notify)
		json_object_set_new(j, "create_time", json_string(t));
	json_object_set_new(j, notify ? "refund_status" : "status",
			    json_string(refund_status(r)));
	if (!notify)
		json_object_set_new(j, "funds_account",
				    json_string("AVAILABLE"));
	amt = json_pack("{s:I,s:I,s:I,s:I}", "total", (json_int_t)o->amount,
			"refund", (json_int_t)r->amount, "payer_total",
			(json_int_t)o->amount, "payer_refund",
			(json_int_t)r->amount);
	if (!notify) {
		json_object_set_new(amt, "settlement_refund",
				    json_integer(r->amount));
		json_object_set_new(amt, "settlement_total",
				    json_integer(o->amount));
		json_object_set_new(amt, "discount_refund", json_integer(0));
		json_object_set_new(amt, "currency", json_string(o->currency));
		json_object_set_new(amt, "refund_fee", json_integer(0));
	}
	json_object_set_new(j, "amount", amt);
	return j;
}

static void create_refund(struct wx_ctx *c)
{
	json_t *b = c->body, *amt = json_object_get(b, "amount");
	const char *no = jstr(b, "out_trade_no"),
		   *tid = jstr(b, "transaction_id");
	const char *rno = jstr(b, "out_refund_no");
	json_t *refund = json_object_get(amt, "refund");
	json_t *total = json_object_get(amt, "total");
	struct sim_order *o = NULL;
	struct sim_refund *r;

	if (!rno || (!no && !tid) || !json_is_integer(refund) ||
	    !json_is_integer(total) || json_integer_value(refund) <= 0) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "输入源“/body”映射到值字段失败");
		return;
	}
	if (no)
		o = sim_order_find(c->s, SIM_WECHAT, no);
	if (!o && tid)
		o = sim_order_find_trade_no(c->s, SIM_WECHAT, tid);
	if (!o || strcmp(o->merchant, c->mch->mchid) != 0) {
		wx_error(c->s, c->out, 404, "RESOURCE_NOT_EXISTS",
			 "订单不存在");
		return;
	}
	r = sim_refund_find(c->s, SIM_WECHAT, rno);
	if (r) {
		if (r->order != o || r->amount != json_integer_value(refund)) {
			wx_error(c->s, c->out, 400, "INVALID_REQUEST",
				 "退款单号重复，且与之前请求的信息不一致");
			return;
		}
		wx_json(c->s, c->out, 200, refund_json(r, 0));
		return;
	}
	if (o->state != SIM_SUCCESS) {
		wx_error(c->s, c->out, 400, "INVALID_REQUEST",
			 "订单状态不正确，不能退款");
		return;
	}
	if (json_integer_value(total) != o->amount) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "订单金额与原订单不一致");
		return;
	}
	if (json_integer_value(refund) > o->amount - o->refunded) {
		wx_error(c->s, c->out, 400, "INVALID_REQUEST",
			 "申请退款金额超过订单可退金额");
		return;
	}
	r = sim_refund_new(c->s, o, rno, json_integer_value(refund),
			   jstr(b, "notify_url"), 0);
	if (!r) {
		wx_error(c->s, c->out, 500, "SYSTEM_ERROR", "系统错误");
		return;
	}
	wx_json(c->s, c->out, 200, refund_json(r, 0));
}

static void query_refund(struct wx_ctx *c, const char *rno)
{
	struct sim_refund *r = sim_refund_find(c->s, SIM_WECHAT, rno);

	if (!r || strcmp(r->merchant, c->mch->mchid) != 0) {
		wx_error(c->s, c->out, 404, "RESOURCE_NOT_EXISTS",
			 "退款单不存在");
		return;
	}
	wx_json(c->s, c->out, 200, refund_json(r, 0));
}

/* ------------------------------------------------------------------------ */
/* Transfers                                                                */
/* ------------------------------------------------------------------------ */

static json_t *batch_json(const struct sim_payout *p, int details)
{
	const char *bs = p->state == SIM_PROCESSING ? "ACCEPTED" : "FINISHED";
	const char *ds = p->state == SIM_SUCCESS ? "SUCCESS" :
			 p->state == SIM_FAILED	 ? "FAIL" :
						   "PROCESSING";
	json_t *tb, *j;
	char t[40];

	sim_time_rfc3339(p->created_ms, t, sizeof(t));
	tb = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:i,s:s}", "mchid",
		       p->merchant, "out_batch_no", p->out_no, "batch_id",
		       p->payout_id, "appid", p->txn_time, "batch_status", bs,
		       "batch_type", "API", "batch_name", "payout",
		       "batch_remark", "payout", "total_amount",
		       (json_int_t)p->amount, "total_num", 1, "create_time", t);
	if (p->state != SIM_PROCESSING) {
		sim_time_rfc3339(p->done_ms, t, sizeof(t));
		json_object_set_new(tb, "update_time", json_string(t));
	}
	json_object_set_new(tb, "success_amount",
			    json_integer(p->state == SIM_SUCCESS ? p->amount :
								   0));
	json_object_set_new(tb, "success_num",
			    json_integer(p->state == SIM_SUCCESS));
	json_object_set_new(tb, "fail_amount",
			    json_integer(p->state == SIM_FAILED ? p->amount :
								  0));
	json_object_set_new(tb, "fail_num",
			    json_integer(p->state == SIM_FAILED));
	j = json_pack("{s:o}", "transfer_batch", tb);
	if (details)
		json_object_set_new(j, "transfer_detail_list",
				    json_pack("[{s:s,s:s,s:s}]", "detail_id",
					      p->detail_id, "out_detail_no",
					      p->detail_no, "detail_status",
					      ds));
	return j;
}

/*
 * A transfer's user_name (in obj: the batch's detail or the bill), as
 * WeChat Pay checks it: mandatory from 2000 yuan on; when present it is
 * the name encrypted with the platform key (RSA-OAEP, SHA-1, base64) and
 * the request's Wechatpay-Serial must name the platform certificate. A
 * Wechatpay-Serial that is sent must be ours in any case. Answers the
 * error and returns -1 when the transfer is refused, else 0 (the decrypted
 * name is only checked, never kept: the ledger has no place for it).
 */
static int check_user_name(struct wx_ctx *c, json_t *obj, int64_t amount)
{
	const char *enc = jstr(obj, "user_name");
	const char *serial =
		evhttp_find_header(evhttp_request_get_input_headers(c->rq->ev),
				   "Wechatpay-Serial");
	unsigned char *name = NULL;
	size_t len = 0;
	int rc;

	if (serial && strcmp(serial, c->s->wechat_serial) != 0) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "Wechatpay-Serial 与平台证书序列号不符");
		return -1;
	}
	if (!enc || !*enc) {
		if (amount < WX_NAME_REQUIRED_FEN)
			return 0;
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "转账金额大于等于2000元时，收款用户姓名必填");
		return -1;
	}
	if (!serial) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "上送敏感信息时需在请求头中携带 Wechatpay-Serial");
		return -1;
	}
	rc = pr_rsa_decrypt(c->s->wechat_key, PAYROUTE_RSA_OAEP_SHA1, enc,
			    &name, &len);
	if (rc == 0 && (len == 0 || strlen((const char *)name) != len))
		rc = -EBADMSG;
	free(name);
	if (rc < 0) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "收款用户姓名解密失败");
		return -1;
	}
	return 0;
}

static void create_batch(struct wx_ctx *c)
{
	json_t *b = c->body, *list = json_object_get(b, "transfer_detail_list");
	json_t *d = json_array_get(list, 0);
	json_t *total = json_object_get(b, "total_amount");
	const char *no = jstr(b, "out_batch_no"), *appid = jstr(b, "appid");
	struct sim_payout *p;
	char t[40];

	if (!no || !appid || !json_is_integer(total) ||
	    json_array_size(list) != 1 || !jstr(d, "out_detail_no") ||
	    !jstr(d, "openid") ||
	    json_integer_value(json_object_get(d, "transfer_amount")) !=
		    json_integer_value(total) ||
	    json_integer_value(json_object_get(b, "total_num")) != 1 ||
	    json_integer_value(total) <= 0) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "参数错误（paysim: 每批一笔明细）");
		return;
	}
	if (check_user_name(c, d, json_integer_value(total)) < 0)
		return;
	p = sim_payout_find(c->s, SIM_WECHAT, no);
	if (!p) {
		p = sim_payout_new(c->s, SIM_WECHAT, c->mch->mchid, no,
				   json_integer_value(total), NULL, 0);
		if (!p) {
			wx_error(c->s, c->out, 500, "SYSTEM_ERROR", "系统错误");
			return;
		}
		snprintf(p->kind, sizeof(p->kind), "batch");
		snprintf(p->detail_no, sizeof(p->detail_no), "%s",
			 jstr(d, "out_detail_no"));
		sim_new_id(c->s, "1040", p->detail_id, sizeof(p->detail_id));
		snprintf(p->payee, sizeof(p->payee), "%s", jstr(d, "openid"));
		/* txn_time holds the appid for wechat payouts */
		snprintf(p->txn_time, sizeof(p->txn_time), "%.15s", appid);
	} else if (strcmp(p->kind, "batch") != 0) {
		wx_error(c->s, c->out, 400, "INVALID_REQUEST",
			 "商户批次单号重复");
		return;
	}
	sim_time_rfc3339(p->created_ms, t, sizeof(t));
	wx_json(c->s, c->out, 200,
		json_pack("{s:s,s:s,s:s,s:s}", "out_batch_no", p->out_no,
			  "batch_id", p->payout_id, "create_time", t,
			  "batch_status",
			  p->state == SIM_PROCESSING ? "ACCEPTED" :
						       "FINISHED"));
}

static void query_batch(struct wx_ctx *c, const char *no, const char *detail,
			int details)
{
	struct sim_payout *p = sim_payout_find(c->s, SIM_WECHAT, no);
	char t[40];

	if (!p || strcmp(p->kind, "batch") != 0 ||
	    strcmp(p->merchant, c->mch->mchid) != 0 ||
	    (detail && strcmp(detail, p->detail_no) != 0)) {
		wx_error(c->s, c->out, 404, "NOT_FOUND", "记录不存在");
		return;
	}
	if (!detail) {
		wx_json(c->s, c->out, 200, batch_json(p, details));
		return;
	}
	sim_time_rfc3339(p->created_ms, t, sizeof(t));
	wx_json(c->s, c->out, 200,
		json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}",
			  "mchid", p->merchant, "out_batch_no", p->out_no,
			  "batch_id", p->payout_id, "appid", p->txn_time,
			  "out_detail_no", p->detail_no, "detail_id",
			  p->detail_id, "detail_status",
			  p->state == SIM_SUCCESS ? "SUCCESS" :
			  p->state == SIM_FAILED  ? "FAIL" :
						    "PROCESSING",
			  "transfer_amount", (json_int_t)p->amount,
			  "transfer_remark", "payout", "openid", p->payee,
			  "initiate_time", t));
}

static const char *bill_state(const struct sim_payout *p)
{
	return p->state == SIM_SUCCESS ? "SUCCESS" :
	       p->state == SIM_FAILED  ? "FAIL" :
					 "ACCEPTED";
}

static json_t *bill_json(const struct sim_payout *p, int notify)
{
	json_t *j = json_object();
	char t[40];

	json_object_set_new(j, "mch_id", json_string(p->merchant));
	json_object_set_new(j, "out_bill_no", json_string(p->out_no));
	json_object_set_new(j, "transfer_bill_no", json_string(p->payout_id));
	if (!notify)
		json_object_set_new(j, "appid", json_string(p->txn_time));
	json_object_set_new(j, "state", json_string(bill_state(p)));
	json_object_set_new(j, "transfer_amount", json_integer(p->amount));
	if (!notify)
		json_object_set_new(j, "transfer_remark",
				    json_string("payout"));
	if (p->state == SIM_FAILED)
		json_object_set_new(j, "fail_reason",
				    json_string("ACCOUNT_FROZEN"));
	json_object_set_new(j, "openid", json_string(p->payee));
	sim_time_rfc3339(p->created_ms, t, sizeof(t));
	json_object_set_new(j, "create_time", json_string(t));
	sim_time_rfc3339(p->done_ms ? p->done_ms : p->created_ms, t, sizeof(t));
	json_object_set_new(j, "update_time", json_string(t));
	return j;
}

static void create_bill(struct wx_ctx *c)
{
	json_t *b = c->body, *amt = json_object_get(b, "transfer_amount");
	const char *no = jstr(b, "out_bill_no"), *appid = jstr(b, "appid");
	struct sim_payout *p;
	char t[40];

	if (!no || !appid || !jstr(b, "openid") || !json_is_integer(amt) ||
	    json_integer_value(amt) <= 0 || !jstr(b, "transfer_scene_id")) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR", "参数错误");
		return;
	}
	if (check_user_name(c, b, json_integer_value(amt)) < 0)
		return;
	p = sim_payout_find(c->s, SIM_WECHAT, no);
	if (!p) {
		p = sim_payout_new(c->s, SIM_WECHAT, c->mch->mchid, no,
				   json_integer_value(amt),
				   jstr(b, "notify_url"), 0);
		if (!p) {
			wx_error(c->s, c->out, 500, "SYSTEM_ERROR", "系统错误");
			return;
		}
		snprintf(p->kind, sizeof(p->kind), "bill");
		snprintf(p->payee, sizeof(p->payee), "%s", jstr(b, "openid"));
		snprintf(p->txn_time, sizeof(p->txn_time), "%.15s", appid);
	} else if (strcmp(p->kind, "bill") != 0 ||
		   p->amount != json_integer_value(amt)) {
		wx_error(c->s, c->out, 400, "INVALID_REQUEST", "商户单号重复");
		return;
	}
	sim_time_rfc3339(p->created_ms, t, sizeof(t));
	wx_json(c->s, c->out, 200,
		json_pack("{s:s,s:s,s:s,s:s}", "out_bill_no", p->out_no,
			  "transfer_bill_no", p->payout_id, "create_time", t,
			  "state", bill_state(p)));
}

static void query_bill(struct wx_ctx *c, const char *no)
{
	struct sim_payout *p = sim_payout_find(c->s, SIM_WECHAT, no);

	if (!p || strcmp(p->kind, "bill") != 0 ||
	    strcmp(p->merchant, c->mch->mchid) != 0) {
		wx_error(c->s, c->out, 404, "NOT_FOUND", "记录不存在");
		return;
	}
	wx_json(c->s, c->out, 200, bill_json(p, 0));
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                  */
/* ------------------------------------------------------------------------ */

/* If path is prefix + ONE_SEGMENT (+ suffix), copies the decoded segment. */
/* GET /v3/bill/tradebill?bill_date=D&bill_type=ALL&tar_type=GZIP: the
 * trade bill (sim_bill.c), its SHA1 and where to download it (signed, under
 * /wechat). */
static void trade_bill(struct wx_ctx *c)
{
	const char *q = c->rq->query ? c->rq->query : "", *d;
	char day[16], token[32], hash[80], url[256];
	int rc;

	d = strstr(q, "bill_date=");
	if (!d || strlen(d + 10) < 10 || !strstr(q, "tar_type=GZIP")) {
		wx_error(c->s, c->out, 400, "PARAM_ERROR",
			 "bill_date 或 tar_type 无效");
		return;
	}
	snprintf(day, sizeof(day), "%.10s", d + 10);
	rc = sim_bill_make(c->s, SIM_WECHAT, c->mch->mchid, day, token,
			   sizeof(token), hash, sizeof(hash));
	if (rc == -ENOENT) {
		wx_error(c->s, c->out, 400, "NO_STATEMENT_EXIST",
			 "账单文件不存在");
		return;
	}
	if (rc < 0) {
		wx_error(c->s, c->out, 500, "SYSTEM_ERROR", "系统错误");
		return;
	}
	snprintf(url, sizeof(url),
		 "http://%s/wechat/v3/billdownload/file?token=%s", c->rq->host,
		 token);
	wx_json(c->s, c->out, 200,
		json_pack("{s:s,s:s,s:s}", "hash_type", "SHA1", "hash_value",
			  hash, "download_url", url));
}

static int seg(const char *path, const char *prefix, const char *suffix,
	       char *buf, size_t len)
{
	size_t pl = strlen(prefix), n;
	const char *p, *e;
	char raw[160], *dec;

	if (strncmp(path, prefix, pl) != 0)
		return 0;
	p = path + pl;
	e = strchr(p, '/');
	if (!e)
		e = p + strlen(p);
	n = (size_t)(e - p);
	if (!n || n >= sizeof(raw))
		return 0;
	if (suffix ? strcmp(e, suffix) != 0 : *e != '\0')
		return 0;
	memcpy(raw, p, n);
	raw[n] = '\0';
	dec = pr_url_decode(raw);
	if (!dec || strlen(dec) >= len) {
		free(dec);
		return 0;
	}
	snprintf(buf, len, "%s", dec);
	free(dec);
	return 1;
}

void sim_wechat_handle(struct sim *s, const struct sim_req *rq,
		       struct sim_out *out)
{
	const char *api = rq->path + strlen("/wechat"), *why;
	int post = strcmp(rq->method, "POST") == 0;
	struct wx_ctx c = { .s = s, .out = out, .rq = rq };
	struct sim_fault f;
	char a[128], b[128];
	const char *k1 = NULL, *k2 = NULL;

	if (!s->wechat_key) {
		sim_out_set(out, 404, "text/plain",
			    strdup("wechat is not configured\n"));
		return;
	}
	c.mch = authorize(s, rq, &why);
	if (!c.mch) {
		wx_error(s, out, 401, "SIGN_ERROR", why);
		return;
	}
	if (post) {
		c.body = json_loadb(rq->body, rq->body_len, 0, NULL);
		if (!json_is_object(c.body)) {
			wx_error(s, out, 400, "PARAM_ERROR",
				 "请求体不是合法的JSON");
			goto out;
		}
		k1 = jstr(c.body, "out_trade_no");
		if (!k1)
			k1 = jstr(c.body, "out_batch_no");
		if (!k1)
			k1 = jstr(c.body, "out_bill_no");
		k2 = jstr(c.body, "out_refund_no");
	}
	a[0] = b[0] = '\0';
	if (seg(api, "/v3/pay/transactions/out-trade-no/", NULL, a,
		sizeof(a)) ||
	    seg(api, "/v3/pay/transactions/out-trade-no/", "/close", a,
		sizeof(a)) ||
	    seg(api, "/v3/refund/domestic/refunds/", NULL, a, sizeof(a)) ||
	    seg(api, "/v3/transfer/batches/out-batch-no/", NULL, a,
		sizeof(a)) ||
	    seg(api, "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/",
		NULL, a, sizeof(a)))
		k1 = a;
	sim_fault_lookup(s, k1, k2, &f);
	out->fault = f;
	if (f.http_status) {
		wx_error(s, out, f.http_status,
			 f.code[0] ? f.code : "SYSTEM_ERROR", "系统错误");
		goto out;
	}
	if (f.code[0]) {
		wx_error(s, out, 0, f.code,
			 f.sub_code[0] ? f.sub_code : "模拟错误");
		goto out;
	}

	if (post && strcmp(api, "/v3/pay/transactions/native") == 0)
		create_order(&c, "NATIVE");
	else if (post && strcmp(api, "/v3/pay/transactions/jsapi") == 0)
		create_order(&c, "JSAPI");
	else if (post && strcmp(api, "/v3/pay/transactions/h5") == 0)
		create_order(&c, "MWEB");
	else if (post && strcmp(api, "/v3/pay/transactions/app") == 0)
		create_order(&c, "APP");
	else if (!post && seg(api, "/v3/pay/transactions/out-trade-no/", NULL,
			      a, sizeof(a)))
		query_order(&c, sim_order_find(s, SIM_WECHAT, a));
	else if (!post &&
		 seg(api, "/v3/pay/transactions/id/", NULL, a, sizeof(a)))
		query_order(&c, sim_order_find_trade_no(s, SIM_WECHAT, a));
	else if (post && seg(api, "/v3/pay/transactions/out-trade-no/",
			     "/close", a, sizeof(a)))
		close_order(&c, sim_order_find(s, SIM_WECHAT, a));
	else if (post && strcmp(api, "/v3/refund/domestic/refunds") == 0)
		create_refund(&c);
	else if (!post &&
		 seg(api, "/v3/refund/domestic/refunds/", NULL, a, sizeof(a)))
		query_refund(&c, a);
	else if (post && strcmp(api, "/v3/transfer/batches") == 0)
		create_batch(&c);
	else if (!post && seg(api, "/v3/transfer/batches/out-batch-no/", NULL,
			      a, sizeof(a)))
		query_batch(&c, a, NULL,
			    rq->query &&
				    strstr(rq->query,
					   "need_query_detail=true") != NULL);
	else if (!post &&
		 strncmp(api, "/v3/transfer/batches/out-batch-no/", 34) == 0 &&
		 strstr(api, "/details/out-detail-no/") &&
		 sscanf(api + 34, "%127[^/]/details/out-detail-no/%127[^/?]", a,
			b) == 2)
		query_batch(&c, a, b, 1);
	else if (post &&
		 strcmp(api, "/v3/fund-app/mch-transfer/transfer-bills") == 0)
		create_bill(&c);
	else if (!post &&
		 seg(api,
		     "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/",
		     NULL, a, sizeof(a)))
		query_bill(&c, a);
	else if (!post && strcmp(api, "/v3/bill/tradebill") == 0)
		trade_bill(&c);
	else if (!post && strcmp(api, "/v3/billdownload/file") == 0)
		sim_bill_serve(s, rq, out);
	else
		wx_error(s, out, 404, "NOT_FOUND", "接口不存在");
out:
	json_decref(c.body);
}

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

int sim_wechat_notice(struct sim *s, char kind, void *ent,
		      enum sim_cb_fault fault, struct payroute_http_req *req,
		      struct sim_sig *defer, const char **ack_body)
{
	const struct payroute_services *svc = pr_services();
	const struct sim_wechat_mch *m;
	const char *url, *event, *summary, *aad, *otype;
	json_t *plain = NULL, *env = NULL;
	char *ptext = NULL, *body = NULL, *sig = NULL, *ct64 = NULL;
	unsigned char *ct = NULL;
	size_t ct_len;
	char nonce[16], ts[24], hn[40], id[64], t[40];
	int rc = -ENOMEM;

	if (kind == 'o') {
		struct sim_order *o = ent;

		if (o->state != SIM_SUCCESS)
			return -ENOENT; /* WeChat notifies successes only */
		url = o->notify_url;
		m = find_mch(s, o->merchant);
		event = "TRANSACTION.SUCCESS";
		summary = "支付成功";
		aad = otype = "transaction";
		plain = transaction_json(o);
	} else if (kind == 'r') {
		struct sim_refund *r = ent;

		url = r->notify_url;
		m = find_mch(s, r->merchant);
		event = r->state == SIM_SUCCESS ? "REFUND.SUCCESS" :
			r->state == SIM_FAILED	? "REFUND.ABNORMAL" :
						  "REFUND.CLOSED";
		summary = r->state == SIM_SUCCESS ? "退款成功" : "退款异常";
		aad = otype = "refund";
		plain = refund_json(r, 1);
	} else {
		struct sim_payout *p = ent;

		if (strcmp(p->kind, "bill") != 0)
			return -ENOENT;
		url = p->notify_url;
		m = find_mch(s, p->merchant);
		event = "MCHTRANSFER.BILL.FINISHED";
		summary = "商家转账单据终态通知";
		aad = otype = "mch_payment";
		plain = bill_json(p, 1);
	}
	if (!url || !m) {
		json_decref(plain);
		return -ENOENT;
	}
	ptext = json_dumps(plain, JSON_COMPACT | JSON_PRESERVE_ORDER);
	sim_random_str(nonce, 12);
	if (!ptext ||
	    pr_aes256gcm_encrypt(m->apiv3_key, (const unsigned char *)nonce, 12,
				 aad, strlen(aad), ptext, strlen(ptext), &ct,
				 &ct_len) != 0 ||
	    !(ct64 = pr_base64_encode(ct, ct_len)))
		goto out;
	sim_random_str(id + 3, 36);
	memcpy(id, "EV-", 3);
	sim_time_rfc3339(sim_now_ms(), t, sizeof(t));
	env = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s}}", "id",
			id, "create_time", t, "resource_type",
			"encrypt-resource", "event_type", event, "summary",
			summary, "resource", "original_type", otype,
			"algorithm", "AEAD_AES_256_GCM", "ciphertext", ct64,
			"associated_data", aad, "nonce", nonce);
	body = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!body || wx_sign(s, defer, body, strlen(body), fault, ts, hn, &sig))
		goto out;
	rc = svc->http_set(req, "POST", url);
	if (rc == 0)
		rc = svc->http_header(req, "Content-Type", "application/json");
	if (rc == 0)
		rc = svc->http_header(req, "Wechatpay-Timestamp", ts);
	if (rc == 0)
		rc = svc->http_header(req, "Wechatpay-Nonce", hn);
	if (rc == 0)
		rc = svc->http_header(req, "Wechatpay-Signature", sig);
	if (rc == 0)
		rc = svc->http_header(req, "Wechatpay-Serial",
				      s->wechat_serial);
	if (rc == 0)
		rc = svc->http_header(req, "Wechatpay-Signature-Type",
				      "WECHATPAY2-SHA256-RSA2048");
	if (rc == 0)
		rc = svc->http_body(req, body, strlen(body));
	*ack_body = NULL;
out:
	json_decref(plain);
	json_decref(env);
	free(ptext);
	free(ct);
	free(ct64);
	free(body);
	free(sig);
	return rc;
}
