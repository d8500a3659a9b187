/*
 * replay.h - policy replay, the pure part (doc/design.md §4, "Replay"):
 * stored payment requests routed, one at a time and in the order they
 * came, under two catalogues, the active policy's and a draft's, and what
 * differs between the two summed up.
 *
 * Each side keeps its own simulated daily usage (every order it routes
 * reserves its amount and one count on the chosen channel for the
 * channel-local day; the first day of the range starts at zero), so that
 * a daily limit the draft would reach shows where it is reached. Success
 * rates are the caller's figures of the period (the same for both sides;
 * they also feed the router's success-rate score). Fees come from each
 * side's channel fee model (pr_chan_fee).
 *
 * No I/O, no globals; allocation only in pr_replay_new and while
 * aggregating (per currency, flows, limit days, samples).
 */
#ifndef PR_REPLAY_H
#define PR_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "domain/catalogue.h"
#include "domain/router.h"

/* The outcomes of one channel's orders in the period (the caller counts
 * final payments: succeeded against failed). */
struct pr_replay_rate {
	const char *channel;
	int64_t succeeded;
	int64_t failed;
};

/* One stored order. req.now_ms is when it was created; the strings are
 * borrowed for the call only. */
struct pr_replay_order {
	const char *id;
	const char *recorded; /* the channel the order went to, or NULL */
	struct pr_route_req req;
};

struct pr_replay_opts {
	size_t sample_max;     /* changed orders kept with both traces */
	size_t trace_listed;   /* candidates listed in a sample's trace */
	size_t flows_max;      /* distinct (from, to, currency) flows kept */
	size_t limit_days_max; /* limit days listed */
};

struct pr_replay;

/* A replay of active against draft. Both catalogues are borrowed and
 * must outlive the replay. opts NULL: 20
 * samples, 5 candidates, 256 flows, 1000 limit days. Returns 0 with *out
 * set (free with pr_replay_free), -EINVAL, or -ENOMEM. The rates are
 * read during the call only. */
int pr_replay_new(const struct pr_catalogue *active,
		  const struct pr_catalogue *draft,
		  const struct pr_replay_rate *rates, size_t n_rates,
		  const struct pr_replay_opts *opts, struct pr_replay **out);

/* Routes one order under both policies and adds it up. Orders must come
 * in creation order (the simulated usage only moves forward). Returns 0;
 * -EINVAL for a request the router refuses (counted as "skipped", not an
 * error of the replay); -ENOMEM. */
int pr_replay_add(struct pr_replay *rp, const struct pr_replay_order *o);

/* Orders added, the skipped ones included (the result's "orders" plus
 * "skipped"). */
size_t pr_replay_count(const struct pr_replay *rp);

/* The result (a new reference, NULL when out of memory):
 *   {"orders", "skipped", "changed", "recorded_differs",
 *    "totals": [{"currency", "active": SIDE, "draft": SIDE,
 *                "changed": {"orders", "amount"}}],
 *    "channels": [{"channel", "currency", "success_rate" (null when no
 *      final order), "succeeded", "failed", "active": CHAN, "draft": CHAN,
 *      "moved_in": {"orders","amount"}, "moved_out": {"orders","amount"}}],
 *    "flows": [{"from", "to" (null: unroutable), "currency", "orders",
 *      "amount"}] (most orders first), "flows_other": N,
 *    "limit_days": [{"policy" ("active"|"draft"), "channel", "day"
 *      (the channel's local date), "limit" ("daily_amount_limit" |
 *      "daily_count_limit"), "first_at" (RFC 3339, UTC), "orders_turned_away"}],
 *    "limit_days_other": N,
 *    "samples": [{"id", "at" (RFC 3339, UTC), "amount", "currency", "recorded_channel",
 *      "active": trace, "draft": trace}]}
 * SIDE: {"routed", "unroutable", "amount", "fees", "expected_success"
 *   (the orders' mean success rate of their channel, over those whose
 *   channel has one; null when none), "orders_without_rate"}
 * CHAN: {"orders", "amount", "fees", "expected_succeeded" (orders times
 *   the rate; null without a rate)}
 * A trace is pr_route_trace_json's with opts->trace_listed candidates.
 * Channels and totals are sorted by code and currency. */
json_t *pr_replay_json(const struct pr_replay *rp);

void pr_replay_free(struct pr_replay *rp);

#endif
