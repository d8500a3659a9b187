/*
 * orders.h - what every order path shares: one call to a channel through
 * its driver (build -> HTTP -> parse -> code map), the routing of an order
 * over this instance's view of today's usage, the reservation limits of a
 * channel, and order ids. Orders in the store are ordstore.h; the cascade
 * of payments and withdrawals is flow.h.
 */
#ifndef PR_ORDERS_H
#define PR_ORDERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <payroute/driver.h>

#include "base/clock.h" /* pr_now_ms, for every order path */
#include "domain/codemap.h"
#include "runtime/daemon.h"
#include "domain/drvobj.h"
#include "domain/orderstate.h"
#include "domain/router.h"
#include "orders/usage.h"

/* ------------------------------------------------- routing an order */

/* The eligible candidates listed in an order's stored trace (the rest are
 * counted): an order's row stays small (stored in line, written twice)
 * with a thousand channels as with ten; explain shows them all. */
#define PR_TRACE_LISTED 16

/* A route of one order (payment or withdrawal): the ranked eligible
 * candidates (owned: free()) and the trace stored on the order,
 * {"route": the router's trace, "generation", "attempts": []}, with
 * attempts a borrowed pointer into it for the flow to append to. */
struct pr_order_route {
	struct pr_route_cand *cands;
	size_t n_cands;
	json_t *trace;
	json_t *attempts;
};

/* Routes rq over gen's catalogue and this instance's view of today's
 * usage and success rates (the store's reservation is what enforces the
 * limits). Returns 0 and fills out (the caller frees cands and decrefs
 * trace), -EINVAL for a request the router refuses, or -ENOMEM. */
int pr_order_route(struct pr_daemon *d, const struct pr_generation *gen,
		   const struct pr_route_req *rq, struct pr_order_route *out);

/* This instance's view of today's usage, breakers and success rates for
 * routing rq over gen's catalogue (the channels of the request's
 * business/method bucket; the others cannot pass the router's first
 * filters): two arrays of gen->cat.n_chans entries, banks holding the
 * bank scope of rq->bank_code that usage[i].banks points into. The arrays
 * are this thread's, reused by its next call: the caller does not free
 * them and is done with them before it calls again. Returns 0 or -ENOMEM
 * (then both NULL). */
int pr_order_usage(struct pr_daemon *d, const struct pr_generation *gen,
		   const struct pr_route_req *rq, struct pr_chan_usage **usage,
		   struct pr_bank_usage **banks);

/* The daily limits a reservation on channel c must respect, with the
 * channel's per-bank limit for bank_code (NULL or "": none); lim->bank
 * points to bank_code. */
void pr_chan_limits(const struct pr_chan_spec *c, const char *bank_code,
		    struct pr_usage_limits *lim);

/* Gives back a reservation recorded on an order row (channel, bank scope,
 * day, amount; count 1). what and id name the order in the log line when
 * the tracker is gone (shutting down). No-op when amount <= 0. */
void pr_usage_release_stored(struct pr_daemon *d, const char *what,
			     const char *id, const char *channel,
			     const char *bank, int64_t day, int64_t amount);

/* ------------------------------------------------------- channel calls */

enum pr_op {
	PR_OP_PAY = 0,
	PR_OP_QUERY,
	PR_OP_CLOSE,
	PR_OP_REFUND,
	PR_OP_REFUND_QUERY,
	PR_OP_PAYOUT,
	PR_OP_PAYOUT_QUERY,
};

/* "pay", "query", ... (the op names of the code tables). */
const char *pr_op_name(enum pr_op op);

/* How a channel call ended. */
enum pr_call_end {
	PR_CALL_ANSWER = 0,  /* an answer was understood (res is filled) */
	PR_CALL_NOT_SENT,    /* certainly never reached the channel */
	PR_CALL_TIMEOUT,     /* sent; no (complete) answer: outcome unknown */
	PR_CALL_BAD_ANSWER,  /* an answer that did not verify or parse */
	PR_CALL_BUILD_ERROR, /* the driver could not build the request */
	PR_CALL_UNSUPPORTED, /* the driver has no such operation, or the
				channel has no driver state */
};

struct pr_call {
	enum pr_call_end end;
	struct payroute_result res; /* the driver's reading of the answer */
	struct payroute_kv payer;   /* res.payer points here */
	/* The mapping that applies: the code map's for an answer, the core's
	 * own otherwise (CHANNEL_TIMEOUT, CHANNEL_UNREACHABLE, BAD_RESPONSE,
	 * DRIVER_ERROR, UNMAPPED_CODE). Never NULL in the callback. */
	const struct pr_code *code;
	int unmapped;	  /* an answer nobody mapped (code: UNMAPPED_CODE) */
	int http_status;  /* 0 when none */
	int sent;	  /* a request went out (0 for no-request builds) */
	double ms;	  /* the HTTP round trip */
	char detail[256]; /* what went wrong, for logs and the trace */
};

/* What call c waited for its channel, in µs: the HTTP round trip. The
 * driver's building and signing of the request and its reading of the
 * answer are payrouted's own time (payroute_overhead_seconds, doc/
 * design.md §10); 0 when nothing was sent. */
int64_t pr_call_wait_us(const struct pr_call *c);

/* Called once with the outcome; c is valid during the call only. */
typedef void (*pr_call_cb)(struct pr_call *c, void *arg);

/* Calls operation op of channel ch (of generation gen) for order o: the
 * driver's build, the HTTP request (or none, when the build writes none:
 * the parser is then called with status 0), the driver's parse, and the
 * code map lookup (an unmapped answer is counted in table unmapped_codes
 * and logged the first time). gen is referenced until the callback; o and
 * everything it points to must stay valid until then too. Returns 0 (cb
 * will be called, always from the loop), or a negative errno (-ENOMEM;
 * cb not called). */
int pr_chan_call(struct pr_daemon *d, struct pr_generation *gen,
		 const struct pr_channel *ch, enum pr_op op,
		 const struct payroute_order *o, pr_call_cb cb, void *arg);

/* Counts an answer nobody mapped in table unmapped_codes (fire and
 * forget; logged the first time the store sees it). */
void pr_unmapped_note(struct pr_daemon *d, const struct pr_channel *ch,
		      const char *op, const char *code, const char *sub_code,
		      const char *order_id, const char *message);

/* The URL channels send callbacks for channel `code` to (server.public_url
 * + "/notify/" + code), written into buf. */
const char *pr_notify_url(const struct pr_config *cfg, const char *code,
			  char *buf, size_t len);

/* A new order id: the prefix ('P' payment, 'R' refund, 'W' withdrawal),
 * 12 hex digits of now_ms (ids sort by creation) and 16 random hex
 * digits: 29 characters, [A-Z0-9], usable as every channel's order
 * number. */
void pr_order_new_id(char prefix, int64_t now_ms, char out[33]);

#endif
