/*
 * outbox.h - delivery of merchant notifications: the rows of table
 * merchant_notifications (queued in the transaction that makes an order
 * final) are claimed by whichever instance gets them first, POSTed to the
 * merchant's notify_url signed with HMAC-SHA256, and retried with back-off
 * (notify.*) until the merchant answers 2xx or the notification is
 * abandoned. Also the admin API that lists and re-queues them.
 */
#ifndef PR_OUTBOX_H
#define PR_OUTBOX_H

#include <stddef.h>

#include "runtime/config.h"
#include "runtime/daemon.h"
#include "base/netguard.h"
#include "base/route.h"

struct pr_outbox;

/* Figures for /metrics. */
struct pr_outbox_stats {
	unsigned long delivered; /* answered 2xx */
	unsigned long failed;	 /* attempts that failed (then retried or
				    abandoned) */
	unsigned long abandoned; /* given up (too old, or a refused URL) */
	size_t inflight;	 /* claimed and not yet recorded */
	/* first attempts' bodies, by how their order was read: with the
	 * claim, or alone (a refund; an order the claim did not find) */
	unsigned long read_with_claim, read_alone;
};

/* Starts the sender on d (its loop, store, HTTP client and current
 * config, read at each tick so that a reload applies). The first look is
 * one interval after the call; it claims nothing while the store is not
 * ready or the daemon is stopping. Returns NULL when out of memory. */
struct pr_outbox *pr_outbox_new(struct pr_daemon *d);

/* Stops and frees the sender. Deliveries in flight are abandoned in
 * memory: their callbacks, when the store or the HTTP client later calls
 * them (with an error, while they are being freed), touch nothing; their
 * rows stay claimed until the lease ends and are sent again then. Call it
 * before pr_db_free and pr_httpc_free. NULL is a no-op. */
void pr_outbox_free(struct pr_outbox *o);

/* A notification was just queued: look now rather than at the next tick.
 * Cheap to call often; NULL is a no-op. */
void pr_outbox_kick(struct pr_outbox *o);

/* Fills st (zeros when o is NULL). */
void pr_outbox_get_stats(const struct pr_outbox *o, struct pr_outbox_stats *st);

/* The handlers of the admin listener's route table (admin.c); the caller
 * has checked the admin token, the method and {id} (pr_route_id_ok). Each
 * answers r.
 *   GET  /admin/v1/notifications?state=&order_id=&merchant_id=&limit=
 *   GET  /admin/v1/notifications/{id}          (with the body)
 *   POST /admin/v1/notifications/{id}/retry    re-queue now (audited) */
void pr_outbox_list(struct pr_request *r, const struct pr_route_match *m);
void pr_outbox_get(struct pr_request *r, const struct pr_route_match *m);
void pr_outbox_retry(struct pr_request *r, const struct pr_route_match *m);

/* Fills g with where notifications may go under cfg: notify.allow_private,
 * the daemon's listeners (listen.merchant, listen.admin; "localhost" as
 * 127.0.0.1 and ::1) and, when one listens on a wildcard address, this
 * host's addresses (getifaddrs, a local call: it does not block). */
void pr_outbox_guard(const struct pr_config *cfg, struct pr_netguard *g);

/* The check of a notify_url a merchant gives (payments, refunds,
 * withdrawals), made when the request arrives: NULL when it may be
 * kept, else why not (into why). Only literal addresses and names under
 * "localhost" are judged here (pr_netguard_url); a name is resolved,
 * and its addresses judged, at delivery (outbox.c says why). */
const char *pr_outbox_url_check(const struct pr_config *cfg, const char *url,
				char *why, size_t len);

/* Computes the Payroute-Signature value "t=<t>,v1=<hex>" of body for
 * secret into out (at least 96 bytes). Returns 0 or a negative errno.
 * Pure; exposed for the tests. */
int pr_outbox_sign(const char *secret, long long t, const char *body,
		   size_t body_len, char *out, size_t outlen);

#endif
