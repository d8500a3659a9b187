/*
 * callbacks.c - POST /notify/{channel_code}: asynchronous notifications
 * from the channels (doc/design.md §5 and §6, "Callbacks").
 *
 * The channel's driver verifies and decodes the callback (parse_notify). A
 * callback that does not verify is refused with a log line (which channel,
 * which order when the driver could tell, from where, why: a signature
 * that does not verify, a timestamp out of the window (-ESTALE, ABI 1.2:
 * a replay or a clock that is off), or a callback not understood) and
 * changes nothing. A verified one is handed to its
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

#include "runtime/apiutil.h"
#include "orders/callbacks.h"
#include "runtime/log.h"
#include "orders/orders.h"
#include "orders/payorder.h"
#include "orders/refunds.h"
#include "orders/withdrawals.h"

#define MAX_CB_HEADERS 64

struct cb {
	struct pr_request *r;
	const struct pr_channel *ch;
	struct payroute_notify nt;
	char peer[64];
	int refused; /* did not verify, or not understood */
};

static void reply(struct cb *c, int ok)
{
	const struct payroute_notify *nt = &c->nt;
	int status = ok ? nt->reply_ok_status : nt->reply_fail_status;
	const char *body = ok ? nt->reply_ok_body : nt->reply_fail_body;

	if (status < 200 || status > 599)
		status = ok ? 200 : 400;
	pr_chanstats_callback(c->r->d->chanstats, c->ch->code,
			      ok	 ? PR_CS_CB_ACCEPTED :
			      c->refused ? PR_CS_CB_REFUSED :
					   PR_CS_CB_FAILED);
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

/* " for payment P" / " for refund R" / " for withdrawal W" when the driver
 * named the order (printable ids only), "" otherwise; into buf. */
static const char *order_part(const struct payroute_notify *nt, char *buf,
			      size_t len)
{
	const char *id = nt->kind == PAYROUTE_KIND_REFUND && nt->refund_id[0] ?
				 nt->refund_id :
				 nt->order_id;
	const char *kind = nt->kind == PAYROUTE_KIND_REFUND &&
					   nt->refund_id[0] ?
				   "refund" :
			   nt->kind == PAYROUTE_KIND_PAYOUT  ? "withdrawal" :
			   nt->kind == PAYROUTE_KIND_PAYMENT ? "payment" :
							       "order";

	buf[0] = '\0';
	if (!id[0] || strnlen(id, PAYROUTE_ID_LEN) == PAYROUTE_ID_LEN)
		return buf;
	for (const char *p = id; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return buf;
	snprintf(buf, len, " for %s %s", kind, id);
	return buf;
}

static const char *refusal(int rc)
{
	switch (rc) {
	case -EBADMSG:
		return "signature does not verify";
	case -ESTALE:
		return "stale: its timestamp is out of the accepted window (a "
		       "replay, or a clock that is off)";
	default:
		return "not understood";
	}
}

void pr_callbacks_handle(struct pr_request *r, const struct pr_route_match *m)
{
	struct evkeyvalq *hq = evhttp_request_get_input_headers(r->req);
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct payroute_header hdrs[MAX_CB_HEADERS];
	struct payroute_inbound ib = { 0 };
	const struct payroute_driver *drv;
	const char *code = pr_route_param(m, "code"), *uri, *q;
	struct evkeyval *kv;
	char err[256] = "", who[PAYROUTE_ID_LEN + 32];
	size_t nh = 0;
	struct cb *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	c->r = r;
	pr_api_client_addr(r, c->peer, sizeof(c->peer));
	c->ch = pr_gen_channel(r->gen, code);
	if (!c->ch) {
		pr_warn("callback for unknown channel \"%.64s\" from %s: "
			"refused",
			code, c->peer);
		pr_chanstats_callback_unknown(r->d->chanstats);
		pr_api_reply_err(r, 404, "not_found", NULL, "no such channel");
		free(c);
		return;
	}
	drv = c->ch->mod ? c->ch->mod->desc : NULL;
	if (!drv || !drv->parse_notify || !c->ch->state) {
		pr_warn("callback for channel %s from %s: its driver is not "
			"started: refused",
			code, c->peer);
		pr_chanstats_callback(r->d->chanstats, c->ch->code,
				      PR_CS_CB_FAILED);
		pr_api_reply_err(r, 503, "channel_unavailable", NULL,
				 "channel %s cannot take callbacks now", code);
		free(c);
		return;
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
	order_part(&c->nt, who, sizeof(who));
	if (rc < 0) {
		pr_warn("callback for channel %s%s from %s refused: %s: %s",
			code, who, c->peer, refusal(rc),
			err[0] ? err : strerror(-rc));
		c->refused = 1;
		reply(c, 0);
		return;
	}
	if (c->nt.kind == PAYROUTE_KIND_REFUND) {
		if (pr_refund_callback(r->d, r->gen, c->ch, &c->nt, on_done,
				       c) < 0) {
			pr_warn("callback for channel %s%s: store unavailable "
				"(the channel will send it again)",
				code, who);
			reply(c, 0);
		}
		return;
	}
	if (c->nt.kind == PAYROUTE_KIND_PAYOUT) {
		if (pr_withdrawal_callback(r->d, r->gen, c->ch, &c->nt, on_done,
					   c) < 0)
			reply(c, 0);
		return;
	}
	if (c->nt.kind != PAYROUTE_KIND_PAYMENT) {
		pr_warn("callback for channel %s: a notification of unknown "
			"kind %d for %s: refused",
			code, (int)c->nt.kind, c->nt.order_id);
		c->refused = 1;
		reply(c, 0);
		return;
	}
	if (pr_payment_callback(r->d, r->gen, c->ch, &c->nt, on_done, c) < 0) {
		pr_warn("callback for channel %s%s: store unavailable (the "
			"channel will send it again)",
			code, who);
		reply(c, 0);
	}
}
