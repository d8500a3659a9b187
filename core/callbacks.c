/*
 * callbacks.c - POST /notify/{channel_code}: asynchronous notifications
 * from the channels (DESIGN section 8, "Callbacks").
 *
 * The channel's driver verifies and decodes the callback (parse_notify). A
 * callback that does not verify is refused with a log line (which channel,
 * from where, why) and changes nothing. A verified one is mapped with the
 * code map (operation "notify") and applied to the order with the same
 * conditional transition as every other path, so a duplicate or late
 * callback cannot move a final order; it is still answered as accepted,
 * since the channel must stop re-sending. A success reported for an order
 * that is already closed or failed means the payer was charged after all:
 * that is logged at error level for an operator (the money must be given
 * back). The answer's status and body are the driver's (e.g. "success",
 * or WeChat Pay's JSON), so each channel gets what it expects.
 *
 * Anything that keeps the callback from being recorded (store
 * unavailable, an order we do not know) is answered with the driver's
 * failure reply, so that the channel sends it again later.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "callbacks.h"
#include "log.h"
#include "orders.h"
#include "refunds.h"
#include "withdrawals.h"

#define MAX_CB_HEADERS 64

struct cb {
	struct pr_request *r;
	const struct pr_channel *ch;
	struct payroute_notify nt;
	char peer[64];
};

static void reply(struct cb *c, int ok)
{
	const struct payroute_notify *nt = &c->nt;
	int status = ok ? nt->reply_ok_status : nt->reply_fail_status;
	const char *body = ok ? nt->reply_ok_body : nt->reply_fail_body;

	if (status < 200 || status > 599)
		status = ok ? 200 : 400;
	pr_request_raw(c->r, status,
		       nt->reply_content_type[0] ? nt->reply_content_type :
						   "text/plain",
		       body, strlen(body));
	free(c);
}

static void on_done(int ok, void *arg)
{
	reply(arg, ok);
}

static void on_applied(int rc, int changed, enum pr_pay_status from,
		       struct pr_pay_row *row, const char *err, void *arg)
{
	struct cb *c = arg;

	if (rc < 0 || !row) {
		pr_warn("callback from %s: payment %s not updated: %s (the "
			"channel will send it again)",
			c->ch->code, c->nt.order_id, err ? err : "?");
		reply(c, 0);
		return;
	}
	if (changed)
		pr_info("callback from %s: payment %s: %s -> %s (%s)",
			c->ch->code, row->id, pr_pay_status_name(from),
			pr_pay_status_name(row->status), row->code);
	else
		pr_info("callback from %s: payment %s is %s already: "
			"duplicate or late callback ignored",
			c->ch->code, row->id, pr_pay_status_name(row->status));
	reply(c, 1);
}

static void on_loaded(struct pr_pay_row *row, const char *err, void *arg)
{
	struct cb *c = arg;
	struct pr_daemon *d = c->r->d;
	const struct pr_code *code;
	struct payroute_result res;
	struct pr_pay_update u = { 0 };
	json_t *detail;
	int rc;

	if (err) {
		pr_warn("callback from %s for %s: store unavailable: %s",
			c->ch->code, c->nt.order_id, err);
		reply(c, 0);
		return;
	}
	if (!row) {
		pr_warn("callback from %s: no payment %s here (from %s)",
			c->ch->code, c->nt.order_id, c->peer);
		reply(c, 0);
		return;
	}
	if (strcmp(row->channel, c->ch->code) != 0) {
		pr_err("callback from %s for payment %s, which was sent to "
		       "channel %s: refused",
		       c->ch->code, row->id,
		       row->channel[0] ? row->channel : "(none)");
		reply(c, 0);
		return;
	}
	code = c->r->gen->codes ?
		       pr_codemap_lookup(c->r->gen->codes, c->ch->driver,
					 c->ch->code, "notify", c->nt.code,
					 c->nt.sub_code) :
		       NULL;
	if (!code) {
		pr_unmapped_note(d, c->ch, "notify", c->nt.code, c->nt.sub_code,
				 row->id, c->nt.message);
		code = pr_code_core("UNMAPPED_CODE");
	}
	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);
	snprintf(res.code, sizeof(res.code), "%s", c->nt.code);
	snprintf(res.sub_code, sizeof(res.sub_code), "%s", c->nt.sub_code);
	snprintf(res.message, sizeof(res.message), "%s", c->nt.message);
	snprintf(res.channel_trade_no, sizeof(res.channel_trade_no), "%s",
		 c->nt.channel_trade_no);
	snprintf(res.status, sizeof(res.status), "%s", c->nt.status);
	res.amount = c->nt.amount;

	u.id = row->id;
	u.from = PR_FROM(PR_PAY_PROCESSING) | PR_FROM(PR_PAY_UNKNOWN);
	u.to = pr_pay_status_for_effect(code->effect);
	u.code = code;
	u.res = &res;
	u.paid_amount = row->amount;
	u.event = "callback";
	u.check_s = 1;
	if (code->effect == PAYROUTE_EFFECT_SUCCESS && c->nt.amount >= 0 &&
	    c->nt.amount != row->amount) {
		pr_err("callback from %s: payment %s paid %lld but the order "
		       "is %lld: left unknown for an operator",
		       c->ch->code, row->id, (long long)c->nt.amount,
		       (long long)row->amount);
		u.to = PR_PAY_UNKNOWN;
		u.code = pr_code_core("AMOUNT_MISMATCH");
	}
	if (code->effect == PAYROUTE_EFFECT_SUCCESS &&
	    (row->status == PR_PAY_CLOSED || row->status == PR_PAY_FAILED))
		pr_err("callback from %s: payment %s is %s but the channel "
		       "reports it paid (%s): the payer was charged; an "
		       "operator must give the money back",
		       c->ch->code, row->id, pr_pay_status_name(row->status),
		       c->nt.channel_trade_no);
	detail = json_pack("{s:s,s:s,s:s,s:s}", "channel", c->ch->code, "code",
			   u.code->unified, "channel_code", c->nt.code,
			   "channel_sub_code", c->nt.sub_code);
	u.detail = detail;
	rc = pr_pay_update(d, &u, on_applied, c);
	json_decref(detail);
	if (rc < 0) {
		pr_warn("callback from %s for %s: store unavailable",
			c->ch->code, row->id);
		reply(c, 0);
	}
}

int pr_callbacks_handle(struct pr_request *r)
{
	struct evkeyvalq *hq = evhttp_request_get_input_headers(r->req);
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct payroute_header hdrs[MAX_CB_HEADERS];
	struct payroute_inbound ib = { 0 };
	const struct payroute_driver *drv;
	const char *code = r->path + 8, *uri, *q;
	struct evkeyval *kv;
	char err[256] = "", *ip = NULL;
	ev_uint16_t port = 0;
	size_t nh = 0;
	struct cb *c;
	int rc;

	if (strncmp(r->path, "/notify/", 8) != 0)
		return 0;
	if (strcmp(pr_http_method(r->req), "POST") != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Allow", "POST");
		pr_request_error(r, 405, "method_not_allowed",
				 "callbacks are POSTed");
		return 1;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pr_request_error(r, 500, "internal", "out of memory");
		return 1;
	}
	c->r = r;
	evhttp_connection_get_peer(evhttp_request_get_connection(r->req), &ip,
				   &port);
	snprintf(c->peer, sizeof(c->peer), "%s", ip ? ip : "?");
	c->ch = pr_gen_channel(r->gen, code);
	if (!c->ch) {
		pr_warn("callback for unknown channel \"%.64s\" from %s: "
			"refused",
			code, c->peer);
		pr_request_error(r, 404, "not_found", "no such channel");
		free(c);
		return 1;
	}
	drv = c->ch->mod ? c->ch->mod->desc : NULL;
	if (!drv || !drv->parse_notify || !c->ch->state) {
		pr_warn("callback for channel %s from %s: its driver is not "
			"started: refused",
			code, c->peer);
		pr_request_error(r, 503, "channel_unavailable",
				 "channel %s cannot take callbacks now", code);
		free(c);
		return 1;
	}
	TAILQ_FOREACH(kv, hq, next) {
		if (nh == MAX_CB_HEADERS)
			break;
		hdrs[nh].name = kv->key;
		hdrs[nh].value = kv->value;
		nh++;
	}
	uri = evhttp_request_get_uri(r->req);
	q = uri ? strchr(uri, '?') : NULL;
	ib.size = sizeof(ib);
	ib.method = "POST";
	ib.path = r->path;
	ib.query = q ? q + 1 : NULL;
	ib.headers = hdrs;
	ib.n_headers = nh;
	ib.body_len = in ? evbuffer_get_length(in) : 0;
	ib.body = ib.body_len ? (const char *)evbuffer_pullup(in, -1) : "";
	ib.received_at_ms = pr_now_ms();
	c->nt.size = sizeof(c->nt);
	c->nt.amount = -1;
	rc = drv->parse_notify(c->ch->state, &ib, &c->nt, err, sizeof(err));
	if (rc < 0) {
		pr_warn("callback for channel %s from %s refused: %s: %s", code,
			c->peer,
			rc == -EBADMSG ? "signature does not verify" :
					 "not understood",
			err[0] ? err : strerror(-rc));
		reply(c, 0);
		return 1;
	}
	if (c->nt.kind == PAYROUTE_KIND_REFUND) {
		if (pr_refund_callback(r->d, r->gen, c->ch, &c->nt, on_done,
				       c) < 0) {
			pr_warn("callback for channel %s: store unavailable",
				code);
			reply(c, 0);
		}
		return 1;
	}
	if (c->nt.kind == PAYROUTE_KIND_PAYOUT) {
		if (pr_withdrawal_callback(r, c->ch, &c->nt, on_done, c) < 0)
			reply(c, 0);
		return 1;
	}
	if (c->nt.kind != PAYROUTE_KIND_PAYMENT) {
		pr_warn("callback for channel %s: a notification of unknown "
			"kind %d for %s: refused",
			code, (int)c->nt.kind, c->nt.order_id);
		reply(c, 0);
		return 1;
	}
	if (pr_pay_load(r->d, c->nt.order_id, NULL, on_loaded, c) < 0) {
		pr_warn("callback for channel %s: store unavailable", code);
		reply(c, 0);
	}
	return 1;
}
