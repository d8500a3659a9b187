/*
 * chanstats.h - each channel's figures as this instance saw them, in
 * memory (doc/design.md §10): the orders that reached an outcome by kind,
 * status and unified code, the channel calls by operation (how they ended,
 * how long they took), the callbacks, the cascades, and a ring of the last
 * 60 minutes for the console's overview.
 *
 * The hot path pays one hash lookup of the channel's code and a short
 * linear search among the few (kind, status, code) or (to, reason) rows
 * a channel has: no store query, no allocation once a row exists. Labels
 * are bounded: channels are the catalogue's codes (callers pass only a
 * channel of the generation, or "" for an order no channel took), kinds
 * and statuses the machines', codes the unified vocabulary, operations the
 * code tables'. No order id or merchant number is ever kept.
 *
 * Figures outlive reloads (a counter is not reset because the policy
 * changed); a channel deleted from the catalogue keeps its counters until
 * the process ends. Pure (libc and jansson): test_chanstats calls it
 * directly. Everything runs on the event loop's thread.
 */
#ifndef PR_CHANSTATS_H
#define PR_CHANSTATS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct pr_chanstats;

/* Channel call latency buckets (seconds): channels answer in tens of
 * milliseconds to tens of seconds, wider than hist.h's. The last is +Inf. */
#define PR_CS_LAT_BUCKETS 14
/* Minutes kept for the overview's series. */
#define PR_CS_MINUTES 60
/* Operations, as orders.h's enum pr_op (pay .. payout_query). */
#define PR_CS_OPS 7

/* How a channel call ended (orders.h's enum pr_call_end, in its order). */
enum pr_cs_call_end {
	PR_CS_CALL_ANSWER = 0,
	PR_CS_CALL_NOT_SENT,
	PR_CS_CALL_TIMEOUT,
	PR_CS_CALL_BAD_ANSWER,
	PR_CS_CALL_BUILD_ERROR,
	PR_CS_CALL_UNSUPPORTED,
	PR_CS_CALL_N
};

/* How a callback ended. */
enum pr_cs_callback {
	PR_CS_CB_ACCEPTED = 0, /* verified and recorded (or a duplicate) */
	PR_CS_CB_REFUSED,      /* did not verify, or not understood */
	PR_CS_CB_FAILED,       /* verified but not recorded: sent again */
	PR_CS_CB_N
};

/* A new, empty registry, or NULL when out of memory. */
struct pr_chanstats *pr_chanstats_new(void);
void pr_chanstats_free(struct pr_chanstats *cs);

/* An order of kind ("payment", "refund", "withdrawal") on channel ("":
 * none took it) reached status (a final state, or unknown, or a refund's
 * overdue) with unified code ("" when none). cs may be NULL (no-op). */
void pr_chanstats_order(struct pr_chanstats *cs, const char *kind,
			const char *channel, const char *status,
			const char *code, int64_t now_ms);

/* A call of operation op (0 .. PR_CS_OPS - 1, orders.h's enum pr_op) to
 * channel ended as `end`; ms is its round trip (only calls that were sent
 * are timed). */
void pr_chanstats_call(struct pr_chanstats *cs, const char *channel, int op,
		       enum pr_cs_call_end end, double ms, int64_t now_ms);

/* A callback for channel (one of the generation's) ended as result. */
void pr_chanstats_callback(struct pr_chanstats *cs, const char *channel,
			   enum pr_cs_callback result);
/* A callback for a channel code the generation does not have. */
void pr_chanstats_callback_unknown(struct pr_chanstats *cs);

/* An order left channel `from` for channel `to` after a retryable failure
 * with unified code reason. */
void pr_chanstats_cascade(struct pr_chanstats *cs, const char *from,
			  const char *to, const char *reason);

/* Writes the Prometheus text of every counter and histogram through out
 * (called with pieces of text; arg is passed on). Returns 0 or -ENOMEM. */
int pr_chanstats_write(const struct pr_chanstats *cs,
		       void (*out)(void *arg, const char *s, size_t n),
		       void *arg);

/* The last `minutes` minutes (1 .. PR_CS_MINUTES) up to now_ms of
 * channel, for the overview: {"from": ms of the first minute,
 * "step_ms": 60000, "succeeded": [..], "failed": [..], "unknown": [..],
 * "other": [..], "calls": [..], "p95_ms": [.. or null], "totals":
 * {"succeeded", "failed", "unknown", "other", "calls", "volume",
 * "success_rate" (or null), "p95_ms" (or null)}}, one entry a minute,
 * oldest first. A channel never seen answers zeros. Returns a new
 * reference or NULL (out of memory). */
json_t *pr_chanstats_series(const struct pr_chanstats *cs, const char *channel,
			    int minutes, int64_t now_ms);

/* The upper bound of latency bucket i in seconds (< 0 for +Inf). */
double pr_chanstats_bound_s(size_t i);

/* The q-quantile (0 < q < 1) in milliseconds of the bucket counts
 * counts[0 .. PR_CS_LAT_BUCKETS - 1] (per bucket, not cumulative), linear
 * within the bucket as Prometheus' histogram_quantile; the +Inf bucket
 * answers the highest finite bound. -1 when there is no observation. */
double pr_chanstats_quantile_ms(const uint32_t *counts, double q);

#endif
