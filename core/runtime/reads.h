/*
 * reads.h - where the heavy reads go: an optional read replica
 * (database.read_conninfo) with a pool of its own, used while its
 * staleness is known to be within database.read_max_lag_ms, and the
 * primary's pool otherwise (doc/design.md §7, "Read replicas").
 *
 * Only reads that may be a little behind come here: the admin order lists,
 * the dashboard's open orders, the reconciliation reports. The payment
 * path, the completion job, reconciliation runs and anything that reads to
 * decide a write use the primary's pool directly and never this.
 *
 * The staleness bound. Every check interval the primary is asked for its
 * WAL position (pg_current_wal_lsn()) at monotonic time t0, then the
 * replica whether it has replayed that far (pg_last_wal_replay_lsn()). When
 * it has, every commit visible on the primary at t0 is visible on the
 * replica, so from then on what the replica answers is at most (now - t0)
 * behind. The bound is measured on one clock (the daemon's), holds on an
 * idle primary (the position does not move, the replica has it at once)
 * and grows by itself when replay stops or the primary cannot be asked.
 */
#ifndef PR_READS_H
#define PR_READS_H

#include <event2/event.h>

#include "runtime/db.h"

struct pr_reads;

struct pr_reads_opts {
	const char *conninfo; /* the replica; NULL: every read to the primary */
	int pool_size;
	int max_lag_ms; /* a replica further behind is not read */
	int reconnect_min_ms;
	int reconnect_max_ms;
	int query_timeout_ms;
};

/* Where one read was answered. */
struct pr_read_src {
	int set;     /* the read went through pr_reads_query */
	int replica; /* 1: the read replica; 0: the primary */
	long lag_ms; /* replica: the staleness bound when it was sent */
};

/* Creates the router over `primary` (not owned; it must outlive the
 * router) and, when o->conninfo is set, the replica's pool. Returns NULL
 * on allocation failure only. */
struct pr_reads *pr_reads_new(struct event_base *base, struct pr_db *primary,
			      const struct pr_reads_opts *o);

/* Closes the replica's pool (its pending callbacks get an error). */
void pr_reads_free(struct pr_reads *rd);

/* Runs one read-only statement on the replica when it is usable now, else
 * on the primary; a statement that fails on the replica (it went away, or
 * cancelled a query over a recovery conflict) is run again on the primary.
 * sql and params are copied. src, when not NULL, is filled before cb runs
 * and must live until then. Returns 0 (cb is called exactly once) or
 * -EAGAIN like pr_db_query (cb is not called), -ENOMEM. */
int pr_reads_query(struct pr_reads *rd, const char *sql, int nparams,
		   const char *const *params, int timeout_ms,
		   struct pr_read_src *src, pr_db_cb cb, void *arg);

/* Figures for /metrics and /admin/v1/status. */
struct pr_reads_stats {
	int configured; /* database.read_conninfo is set */
	int connected;	/* the replica's pool is up */
	int in_use;	/* reads go to it now */
	long lag_ms;	/* the staleness bound now; -1: never caught up */
	int max_lag_ms;
	const char *why; /* in words, why reads go where they go */
	unsigned long replica_reads;
	unsigned long primary_reads;
	unsigned long retried;	 /* failed on the replica, run on the primary */
	unsigned long fallbacks; /* times reads left the replica */
};
void pr_reads_get_stats(struct pr_reads *rd, struct pr_reads_stats *st);

#endif
