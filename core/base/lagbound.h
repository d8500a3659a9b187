/*
 * lagbound.h - how far behind its primary a streaming replica may be, at
 * most, from positions in the WAL (doc/design.md §7, "Read replicas").
 *
 * The caller notes the primary's WAL position together with the time it
 * asked for it (pr_lagbound_primary), and later the position the replica
 * has replayed (pr_lagbound_replayed). Once the replica is at or past a
 * position the primary had at time t, every commit visible on the primary
 * at t is visible on the replica: from then on it is at most now - t
 * behind. The last PR_LAGBOUND_RING positions are kept, so that a replica
 * that streams under a steady write load (never exactly at the position
 * just asked) is measured against one of a few checks ago. Times are the
 * caller's monotonic milliseconds; nothing here reads a clock.
 */
#ifndef PR_LAGBOUND_H
#define PR_LAGBOUND_H

#include <stdint.h>

#define PR_LAGBOUND_RING 16

struct pr_lagbound {
	struct {
		int64_t t_ms;
		uint64_t lsn;
	} ring[PR_LAGBOUND_RING]; /* the primary's positions, oldest first */
	unsigned n;	   /* positions noted (the ring holds the last) */
	int caught;	   /* caught_ms is set */
	int64_t caught_ms; /* the latest primary time the replica has caught */
};

/* Parses an LSN as PostgreSQL prints it ("16/B374D848"). Returns 0 or
 * -EINVAL. */
int pr_lsn_parse(const char *s, uint64_t *out);

/* Empties lb (no position, never caught). */
void pr_lagbound_init(struct pr_lagbound *lb);

/* The primary was at `lsn` at time t_ms or later (ask for the position
 * after noting the time). Times must not go back. */
void pr_lagbound_primary(struct pr_lagbound *lb, int64_t t_ms, uint64_t lsn);

/* The replica has replayed up to `replay`: the newest noted position at or
 * below it moves the caught time forward (never back). */
void pr_lagbound_replayed(struct pr_lagbound *lb, uint64_t replay);

/* Forgets the caught time (the replica went away: the next one may be
 * another server), keeping the primary's positions. */
void pr_lagbound_forget(struct pr_lagbound *lb);

/* The bound at now_ms, in ms; -1 when the replica was never caught. */
long pr_lagbound_ms(const struct pr_lagbound *lb, int64_t now_ms);

#endif
