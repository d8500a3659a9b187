/*
 * callbacks.c - POST /notify/{channel_code}: asynchronous notifications
 * from the channels (DESIGN section 8, "Callbacks").
 *
 * The channel's driver verifies and decodes the callback (parse_notify). A
 * callback that does not verify is refused with a log line (which channel,
 * from where, why) and changes nothing. A verified one is handed to its
 * kind (payorder.c, refunds.c, withdrawals.c), which maps it with the code
 * map (operation "notify") and applies it to the order with the same
 * conditional transition as every other path, in one statement, so a
 * duplicate or late callback cannot move a final order; it is still
 * answered as accepted, since the channel must stop re-sending. The
 * answer's status and body are the driver's (e.g. "success", or WeChat
 * Pay's JSON), so each channel gets what it expects.
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
#include "payorder.h"
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
		if (pr_withdrawal_callback(r->d, r->gen, c->ch, &c->nt, on_done,
					   c) < 0)
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
	if (pr_payment_callback(r->d, r->gen, c->ch, &c->nt, on_done, c) < 0) {
		pr_warn("callback for channel %s: store unavailable", code);
		reply(c, 0);
	}
	return 1;
}
