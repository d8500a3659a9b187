/*
 * idem.h - the Idempotency-Key of the merchant API's POSTs (DESIGN section
 * 8), on table idempotency_keys (migration 004), written once for
 * payments, refunds and withdrawals.
 *
 * The first request under a key claims it (in progress) and its answer is
 * stored (pr_idem_finish). A retry with the same body (its canonical JSON's
 * hash) gets that answer again, with "Idempotent-Replayed: true"; another
 * body under the key is a 409 idempotency_key_reused; a retry while the
 * first is still running is a 409 request_in_progress. A key left in
 * progress by an instance that died is taken over after five minutes: the
 * merchant number's uniqueness then answers with what the first attempt
 * created. An answer of 503 (nothing happened) frees the key.
 */
#ifndef PR_IDEM_H
#define PR_IDEM_H

#include <jansson.h>

#include "daemon.h"

#define PR_IDEM_KEY_MAX 255

struct pr_idem {
	int active; /* a key was given and claimed by this request */
	char merchant[65];
	char key[PR_IDEM_KEY_MAX + 1];
	char endpoint[64];
	char hash[65];
	int taken_over; /* the key was stale and is now this request's */
};

/* Reads the Idempotency-Key header of r into k (k->active 0 when there is
 * none). Returns 0, or -EINVAL after answering 400 (field
 * "Idempotency-Key": 1 to 255 printable ASCII characters). */
int pr_idem_read(struct pr_request *r, const char *merchant,
		 const char *endpoint, const char *hash, struct pr_idem *k);

/* Called once: proceed 1 (the key is this request's: go on, and end with
 * pr_idem_finish), or 0 (r has been answered: a replay, a 409 or a 503;
 * only free your state). */
typedef void (*pr_idem_cb)(int proceed, void *arg);

/* Claims k for r. Returns 0 (cb will be called from the loop), or -EAGAIN
 * (store unavailable: cb not called, nothing answered). */
int pr_idem_begin(struct pr_daemon *d, struct pr_request *r, struct pr_idem *k,
		  pr_idem_cb cb, void *arg);

/* Stores the answer (status and body) under an active key for later
 * replays, or frees the key when status is 503. No-op when !k->active. */
void pr_idem_finish(struct pr_daemon *d, struct pr_idem *k, int status,
		    json_t *body);

#endif
