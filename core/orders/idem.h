/*
 * idem.h - the Idempotency-Key of the merchant API's POSTs (doc/design.md
 * §6), on table idempotency_keys, written once for payments, refunds and
 * withdrawals.
 *
 * The key is claimed in the order's first commit, with the order (the
 * begin functions of migration 008, pr_idem_claim): a request whose first
 * commit fails leaves nothing behind, and its key is free again at once.
 * The answer is stored in the second commit, the one that records the
 * channel's answer (or in the first, when the order ends there). A retry
 * with the same body (its canonical JSON's hash) gets that answer again,
 * with "Idempotent-Replayed: true"; another body under the key is a 409
 * idempotency_key_reused; a retry while the first is still running is a
 * 409 request_in_progress. A key left in progress for five minutes (its
 * daemon died between the two commits) is answered with the order it
 * created, as that order is now, and that answer is kept.
 */
#ifndef PR_IDEM_H
#define PR_IDEM_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "runtime/daemon.h"

#define PR_IDEM_KEY_MAX 255

struct pr_idem {
	int active; /* a key was given */
	char merchant[65];
	char key[PR_IDEM_KEY_MAX + 1];
	char endpoint[64];
	char hash[65];
};

/* Reads the Idempotency-Key header of r into k (k->active 0 when there is
 * none). Returns 0, or -EINVAL after answering 400 (field
 * "Idempotency-Key": 1 to 255 printable ASCII characters). */
int pr_idem_read(struct pr_request *r, const char *merchant,
		 const char *endpoint, const char *hash, struct pr_idem *k);

/* The columns a begin statement returns for the key it found (its result
 * column r_key, a row of idempotency_keys), for pr_idem_found. */
#define PR_IDEM_COLS                                                           \
	"(t.r_key).endpoint, (t.r_key).request_hash, (t.r_key).state, "        \
	"(t.r_key).status, (t.r_key).body, coalesce((t.r_key).order_id, ''), " \
	"(t.r_key).created_at < now() - interval '5 minutes'"
#define PR_IDEM_NCOLS 7

/* The key existed (the PR_IDEM_COLS columns at col of row 0 of res).
 * Answers r and returns 0 (a replay, a 409 for another body or a
 * request still in progress), or returns 1 and copies into order_id the
 * order a stale key created: the caller answers with that order as it is
 * now (201) and keeps that answer with pr_idem_finish. */
int pr_idem_found(struct pr_request *r, const struct pr_idem *k,
		  const PGresult *res, int col, char *order_id, size_t len);

/* Stores the answer (status and body) under an active key for later
 * replays, or frees the key when status is 503 (nothing happened that a
 * retry must see). A separate statement, for the answers that the order's
 * own commits do not carry (a 409, a raced transition). No-op when
 * !k->active. */
void pr_idem_finish(struct pr_daemon *d, struct pr_idem *k, int status,
		    json_t *body);

#endif
