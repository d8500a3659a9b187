/*
 * usage.h - daily limits and recent success rates of channels
 * (doc/design.md §4, step 4 and "Mind the hot row").
 *
 * Daily usage lives in PostgreSQL, table channel_daily_usage (migration
 * 003_usage.sql): one row per channel, channel-local day and scope (scope
 * "" is the channel, a bank code is that bank's per-bank limit). A row is
 * only ever raised by pr_usage_reserve()/pr_usage_reserve_multi(), single
 * statements that refuse to go over the limits, and CHECK constraints make
 * the database refuse any amount above a limit whatever a client does: two
 * or more daemons on one database never exceed a limit.
 *
 * Leases (why): one conditional UPDATE of the row per payment serialises
 * every payment of a popular channel on one row lock. Instead each
 * instance (one struct pr_usage per daemon) takes a slice of the remaining
 * limit, a lease (amount, count), with one statement, and spends it
 * locally: a reservation that fits the local lease costs no round trip.
 * Requests that miss the lease while a lease request is in flight wait for
 * it instead of piling onto the row.
 *
 * Lease size: want = max(payment, min(base * m, remaining / 10)) where base
 * = max(opts.min_lease_amount, opts.lease_payments x the recent average
 * payment of that row), m doubles (up to 16) when a lease lasted less than
 * 200 ms and falls back to 1 when a lease goes idle, and remaining is the
 * limit minus the row's total as last seen. The count is leased alike
 * (2 x lease_payments, capped at a tenth of the remaining count). The
 * database grants min(want, what is left) as long as the payment itself
 * fits.
 *
 * Exact mode: near the limit a lease would keep part of the limit idle in
 * one instance while another is refused. So when, after a grant, the rest
 * of the limit is below 2 x base (amount or count), or when the database
 * refuses a request, the row switches to exact mode: each reservation
 * reserves exactly its amount and count in the database, and the unspent
 * lease is given back at once. The successes are then exactly what fits
 * (provided the instances that held leases keep spending them or return
 * them). A row goes back to lease mode when an exact reservation sees at
 * least 4 x base left (a raised limit, a new day is a new row anyway).
 * opts.exact forces exact mode for every row.
 *
 * Leases are given back (pr_usage_release in SQL): when the row's local
 * day ends (a reservation for the next day returns the previous day's
 * lease), when the row has been idle for opts.idle_return_ms, when the
 * limits in the config change (an operator lowering a limit takes effect
 * at the next reservation), and by pr_usage_flush() at shutdown. A crash
 * loses only leased-but-unspent amounts, for the rest of that day: the
 * limit may be under-used, never exceeded.
 *
 * Releases: a released reservation goes back to the local lease when its
 * row is in lease mode (it is counted in the database and unspent), else to
 * the database at once. A release the database refused or never got is
 * kept in a retry queue and retried every second, never dropped; one whose
 * outcome is unknown (the connection died with the statement in flight) is
 * not retried, since releasing twice could let the row exceed its limit:
 * it is logged at error level with the channel, day, scope and amounts, so
 * that nothing is lost silently.
 *
 * Unlimited channels (no daily amount or count limit) cost no round trip
 * per payment, but their totals are still recorded for operators: usage is
 * accumulated locally and written every opts.flush_ms (one statement per
 * row and flush, net of releases). Bank scopes without a per-bank limit are
 * not recorded.
 *
 * Success rates: per channel and per instance, in memory: a sliding
 * window of the last 10 minutes in 60 buckets of 10 seconds; the rate is
 * successes / outcomes over the buckets of the window, -1 when the window
 * holds no outcome.
 *
 * Days: a reservation's day is the channel's local day at now_ms in the
 * channel's time zone (pr_tz_local; NULL tz: UTC), kept in the token so
 * that a payment released after midnight is released from the day it was
 * reserved on.
 *
 * Everything runs on the event loop's thread; nothing here is thread-safe.
 */
#ifndef PR_USAGE_H
#define PR_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "runtime/db.h"
#include "domain/tz.h"

struct pr_usage;

struct pr_usage_opts {
	int exact;		  /* 1: never lease (every reservation is
				     one statement) */
	int64_t min_lease_amount; /* smallest lease; 0: default 0 */
	int lease_payments;	  /* a lease covers about this many average
				     payments; 0: default 20 */
	int idle_return_ms;	  /* an unused lease goes back after this;
				     0: default 5000 */
	int flush_ms;		  /* record/retry tick; 0: default 1000 */
};

/* Creates the usage tracker of one daemon over db and base (both borrowed:
 * they must outlive it). o may be NULL (defaults). Returns NULL on
 * allocation failure. */
struct pr_usage *pr_usage_new(struct event_base *base, struct pr_db *db,
			      const struct pr_usage_opts *o);

/* Frees everything. Callbacks of reservations still waiting for the
 * database are not called any more. Leases not returned (call
 * pr_usage_flush first) and releases still in the retry queue are logged
 * at error level as lost. */
void pr_usage_free(struct pr_usage *u);

/* The limits of one reservation (from the channel's config). */
struct pr_usage_limits {
	int64_t daily_amount;	   /* the channel's; 0: none */
	int64_t daily_count;	   /* 0: none */
	const char *bank;	   /* bank code for a per-bank limit, or NULL */
	int64_t bank_daily_amount; /* that bank's daily limit; 0: none (the
				      bank scope is then not used) */
};

#define PR_USAGE_CODE_MAX 65

/* What a granted reservation holds, to release it later: plain data, copy
 * it by value and keep it with the payment (it survives nothing but the
 * process; its fields may be stored to release by hand). */
struct pr_usage_token {
	char channel[PR_USAGE_CODE_MAX];
	char bank[PR_USAGE_CODE_MAX]; /* "" when no bank scope was reserved */
	int64_t day;		      /* channel-local day, days since
					 1970-01-01 */
	int64_t amount;
	int64_t count; /* 1 */
};

/* The result of a reservation: rc 1 granted (tok filled; copy it), 0 over
 * a limit (tok NULL), or a negative errno (-EAGAIN store unavailable or
 * busy, -EIO the statement failed: the database may have counted it, which
 * is conservative). tok is valid during the call only. */
typedef void (*pr_usage_cb)(int rc, const struct pr_usage_token *tok,
			    void *arg);

/* Reserves amount (and a count of 1) on channel's day (local day in tz at
 * now_ms) against lim: the channel's row, and the bank's row when
 * lim->bank and lim->bank_daily_amount are set, all or nothing. Returns 0:
 * cb is called exactly once, always later from the event loop (never from
 * inside this call), unless pr_usage_free comes first; or -EINVAL (bad
 * arguments, code longer than PR_USAGE_CODE_MAX - 1) / -ENOMEM, cb not
 * called. */
int pr_usage_reserve(struct pr_usage *u, const char *channel,
		     const struct pr_tz *tz, const struct pr_usage_limits *lim,
		     int64_t amount, int64_t now_ms, pr_usage_cb cb, void *arg);

/* Called when a release is applied (rc 0: to the local lease or the
 * database) or could not be applied yet (negative: kept for retry, or its
 * outcome is unknown; logged either way). */
typedef void (*pr_usage_done_cb)(int rc, void *arg);

/* Gives a granted reservation back (a failed or closed payment). Fire and
 * forget: failures are retried or logged, see above. */
void pr_usage_release(struct pr_usage *u, const struct pr_usage_token *tok);

/* The same, calling cb (from the event loop, never from inside this call)
 * once the release is applied; for callers that must order a later
 * reservation after it. Returns 0, or -ENOMEM (nothing released, cb not
 * called). */
int pr_usage_release_then(struct pr_usage *u, const struct pr_usage_token *tok,
			  pr_usage_done_cb cb, void *arg);

/* Graceful shutdown: from now on every reservation is exact and every
 * recorded usage is written at once; gives back every lease, writes the
 * recorded usage and retries the queued releases, and calls cb (from the
 * loop) when nothing is in flight any more: rc 0, or -EIO when something
 * could not be returned (logged). Returns 0 or -EBUSY (a flush is already
 * running). */
int pr_usage_flush(struct pr_usage *u, pr_usage_done_cb cb, void *arg);

/* Records the outcome of a payment on channel (success 1 or 0). */
void pr_usage_outcome(struct pr_usage *u, const char *channel, int success,
		      int64_t now_ms);

/* Successes / outcomes over the last 10 minutes, or -1 when there was no
 * outcome. */
double pr_usage_success_rate(const struct pr_usage *u, const char *channel,
			     int64_t now_ms);

/* What this instance believes is used today (the channel's local day at
 * now_ms) on channel (scope NULL or "") or one of its banks: the row's
 * totals as last seen from the database (a reservation, a release or
 * pr_usage_load_today), minus this instance's own unspent lease (counted
 * by the database but still available here), plus usage recorded here and
 * not yet written. amount or count may be NULL (not wanted). Returns 1 when
 * the row is known, 0 when not (amount and count 0). */
int pr_usage_today(const struct pr_usage *u, const char *channel,
		   const struct pr_tz *tz, int64_t now_ms, int64_t *amount,
		   int64_t *count);
int pr_usage_today_scope(const struct pr_usage *u, const char *channel,
			 const char *scope, const struct pr_tz *tz,
			 int64_t now_ms, int64_t *amount, int64_t *count);

/* Reads channel_daily_usage for the days around now_ms (UTC day -1 .. +1:
 * every channel-local "today") for all channels into what pr_usage_today
 * answers; cb(0 or a negative errno) from the loop. Returns 0 or -EAGAIN /
 * -ENOMEM (cb not called). */
int pr_usage_load_today(struct pr_usage *u, int64_t now_ms, pr_usage_done_cb cb,
			void *arg);

/* Every row's totals (all channels, the days around now) are read from
 * the store on each tick of the tracker (opts.flush_ms, 1000 ms by
 * default; one statement, never two at once), so that pr_usage_today also
 * says what other instances have used. Routing only ever needs an
 * estimate (the store's reservation enforces the limits); the explain
 * endpoint says how old its figures are. */

/* The wall-clock time (ms) of the last refresh that answered: every row's
 * totals are at least that recent. 0 when none has yet. */
int64_t pr_usage_as_of(const struct pr_usage *u);

/* Figures for /metrics and the benchmark. */
struct pr_usage_stats {
	unsigned long reserves;	    /* pr_usage_reserve calls */
	unsigned long local_grants; /* granted from a lease, no round trip */
	unsigned long db_reserves;  /* reservation statements */
	unsigned long db_releases;  /* release statements (incl. returns) */
	unsigned long db_records;   /* usage of unlimited rows written */
	unsigned long db_refreshes; /* reads of every row's totals */
	unsigned long refused;	    /* over a limit */
	unsigned long errors;
	unsigned long lost; /* releases logged as lost / unknown */
	size_t retry_queued;
	size_t rows; /* (channel, day, scope) rows tracked */
};
void pr_usage_get_stats(const struct pr_usage *u, struct pr_usage_stats *st);

/* Days since 1970-01-01 of the channel-local day at now_ms in tz (NULL:
 * UTC). */
int64_t pr_usage_day(const struct pr_tz *tz, int64_t now_ms);

#endif
