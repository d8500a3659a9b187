/*
 * authcache.h - the admin credentials the store has verified, kept in
 * memory so that the next request with the same one costs no store round
 * trip (admin/operators.c uses it; doc/design.md §11, "The
 * authentication cache").
 *
 * An entry is found by its key (a token's row id, or the hash of a token
 * looked up by its hash) and holds the SHA-256 of the secret as stored,
 * the principal it authenticated, when the store said so and until when
 * the credential itself is valid. The caller compares the hashes (in
 * constant time); this file only keeps and forgets. It forgets:
 *
 *   - everything, on pr_authcache_flush (the daemon's LISTEN connection
 *     came back: notifications sent while it was down are lost);
 *   - an operator's entries, on pr_authcache_drop_operator (the store
 *     NOTIFYs a change of the operator, its tokens);
 *   - an entry older than the time-to-live the caller passes, or past
 *     its credential's own expiry, when it is looked up.
 *
 * A lookup that went to the store may only be kept when nothing was
 * forgotten meanwhile: take pr_authcache_epoch before asking the store,
 * hand it to pr_authcache_put with the answer.
 *
 * Pure: no clock is read here (times are the caller's, monotonic
 * milliseconds), no I/O.
 */
#ifndef PR_AUTHCACHE_H
#define PR_AUTHCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/perms.h"

/* A key: "t" and a token's id, or "h" and the hex SHA-256 of a token
 * looked up by its hash. */
#define PR_AUTHCACHE_KEY_MAX 66

struct pr_authcache_ent {
	char key[PR_AUTHCACHE_KEY_MAX + 1]; /* "" when the slot is empty */
	char hash[65];		 /* hex SHA-256 of the secret, as stored */
	struct pr_principal who; /* what the credential authenticates */
	int64_t at_ms;		 /* when the store said yes */
	int64_t until_ms;	 /* the credential expires; INT64_MAX: never */
	int64_t used_ms;	 /* its use was last written to the store */
};

struct pr_authcache_stats {
	unsigned long hits, misses, flushes, drops;
	size_t entries;
};

struct pr_authcache;

/* A new, empty cache of slots entries (direct-mapped on the key: a
 * collision replaces the older entry). NULL when out of memory or slots
 * is 0. Free with pr_authcache_free. */
struct pr_authcache *pr_authcache_new(size_t slots);
void pr_authcache_free(struct pr_authcache *c);

/* The entry of key, when it was verified less than ttl_ms before now_ms
 * and its credential has not expired at now_ms; else NULL (an entry past
 * either is forgotten). The pointer is valid until the next call that
 * changes c; the caller may set its used_ms. Counts a hit or a miss.
 * NULL also when c is NULL or ttl_ms <= 0. */
struct pr_authcache_ent *pr_authcache_get(struct pr_authcache *c,
					  const char *key, int64_t now_ms,
					  int64_t ttl_ms);

/* What changes whenever anything is forgotten (flush, drop). */
uint64_t pr_authcache_epoch(const struct pr_authcache *c);

/* Keeps a copy of e (e->key set) when epoch is still c's: 0 kept,
 * -ESTALE when something was forgotten since epoch was read (e may be
 * stale: not kept), -EINVAL on a NULL or an empty or too long key. */
int pr_authcache_put(struct pr_authcache *c, uint64_t epoch,
		     const struct pr_authcache_ent *e);

/* Forgets every entry. */
void pr_authcache_flush(struct pr_authcache *c);

/* Forgets the entries whose principal is the operator name; returns how
 * many there were. The epoch moves on even when none was. */
size_t pr_authcache_drop_operator(struct pr_authcache *c, const char *name);

/* Figures for /metrics (all 0 when c is NULL). */
void pr_authcache_get_stats(const struct pr_authcache *c,
			    struct pr_authcache_stats *st);

#endif
