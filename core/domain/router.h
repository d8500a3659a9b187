/*
 * router.h - the routing decision, a pure function: over a catalogue
 * snapshot, the request, and what the caller knows of today's usage and
 * recent success rates, it returns the ranked candidates and a trace
 * (doc/design.md §4, steps 1 to 3). No I/O, no globals, no allocation:
 * the caller provides the room for the trace.
 */
#ifndef PR_ROUTER_H
#define PR_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "base/jsonw.h"
#include "domain/breaker.h"
#include "domain/catalogue.h"
#include "domain/srate.h"

/* Why a channel was dropped: the first failing condition, in this order. */
enum pr_drop {
	PR_DROP_NONE = 0,
	PR_DROP_BUSINESS_TYPE,
	PR_DROP_METHOD,
	PR_DROP_ENVIRONMENT,
	PR_DROP_PRODUCT_CODE,
	PR_DROP_CURRENCY,
	PR_DROP_BANK,
	PR_DROP_STATUS,
	PR_DROP_MAINTENANCE_WINDOW,
	PR_DROP_TXN_LIMIT,
	PR_DROP_DAILY_AMOUNT_LIMIT,
	PR_DROP_DAILY_COUNT_LIMIT,
	PR_DROP_WHITELIST_ONLY,
	PR_DROP_RULE,
	PR_DROP_CIRCUIT_OPEN, /* its breaker is open (breaker.h) */
};

/* "business_type", "method", ... (the names of doc/design.md §9). */
const char *pr_drop_name(enum pr_drop d);

struct pr_route_req {
	unsigned business;	  /* PR_BIZ_PAY or PR_BIZ_WITHDRAW */
	const char *method;	  /* alipay, wechat_pay, debit_card, ... */
	const char *environment;  /* may be NULL for withdrawals */
	const char *product_code; /* may be NULL */
	const char *currency;	  /* ISO 4217 */
	const char *bank_code;	  /* may be NULL */
	const char *merchant;	  /* the merchant's id, for rule conditions */
	const char *buyer_id;	  /* may be NULL */
	const char *seller_id;	  /* may be NULL */
	const char *card_hmac;	  /* hex HMAC of the card number, or NULL */
	int64_t amount;		  /* minor units */
	int64_t now_ms;		  /* the request's time, UTC */
	/* Exploration (the rule's scoring.explore): only when explore is
	 * set; the draws come from seed, so a seed gives one decision. */
	int explore;
	uint64_t seed;
	/* The success-rate estimates (srate.h) to score the survivors with,
	 * for the request's (method, environment, bank) at now_ms; NULL:
	 * the usage's success_rate and est. Only survivors are estimated:
	 * dropped channels cost nothing. */
	const struct pr_srate *srate;
	struct pr_srate_cfg srate_cfg;
};

/* What the caller knows of one channel today (its local day). */
struct pr_bank_usage {
	const char *bank_code;
	int64_t amount;
};
struct pr_chan_usage {
	int64_t amount; /* reserved today */
	int64_t count;
	const struct pr_bank_usage *banks; /* per-bank amounts, if any */
	size_t n_banks;
	double success_rate; /* 0..1 over the recent window; < 0: unknown */
	/* Where success_rate comes from, for the trace (srate.h); a zeroed
	 * one says "none". Both unused when the request has srate. */
	struct pr_sr_est est;
	/* What the channel's breaker allows (breaker.h): ANY (0) routes as
	 * usual, NONE drops it (circuit_open), PROBE ranks it first unless
	 * the whitelist decided (one probe). */
	enum pr_brk_route breaker;
	/* The channel's estimates in the request's srate (pr_srate_chan),
	 * when sr_known: the caller keeps the handles, so a decision hashes
	 * no channel code (NULL: the channel has none). sr_known 0: the
	 * router looks the channel up by its code. */
	const struct pr_sr_chan *sr;
	int sr_known;
};

struct pr_route_cand {
	size_t chan;		 /* index into cat->chans */
	enum pr_drop dropped_by; /* PR_DROP_NONE when eligible */
	int64_t fee;		 /* for this amount */
	double score;		 /* eligible only */
	double part_weight, part_fee, part_success;
	struct pr_sr_est est; /* the usage's, copied for the trace */
	enum pr_brk_route breaker;
};

#define PR_ROUTE_MAX_WL_UNUSED 8

struct pr_route_result {
	struct pr_route_cand *cands; /* caller's room: cap entries */
	size_t cap;
	size_t n; /* considered: eligible first, ranked, then the
				dropped ones by channel code */
	size_t n_eligible;
	long chosen;	/* index into cat->chans, or -1 */
	long whitelist; /* index into cat->wl of the entry that decided,
				or -1 */
	long rule;	/* index into cat->rules that applied, or -1 */
	/* The live whitelist entries that matched the request but did not
	 * decide, because their channel was not eligible (indexes into
	 * cat->wl, in the order they were tried; at most
	 * PR_ROUTE_MAX_WL_UNUSED). */
	long wl_unused[PR_ROUTE_MAX_WL_UNUSED];
	size_t n_wl_unused;
	enum pr_score_mode mode; /* the rule's, or FEE_FIRST without one */
	int probe;		 /* chosen is a half-open channel's probe */
	/* Exploration: explore_share is the rule's (0: none), explore_draw
	 * the draw in [0, 1) (-1: none drawn), explored 1 when the draw
	 * fell below the share and chosen is another eligible channel than
	 * the one ranked first by the scores, exploit (index into
	 * cat->chans) that one. */
	double explore_share, explore_draw;
	int explored;
	long exploit;
};

/* Routes req. usage has cat->n_chans entries (NULL: no usage, rates
 * unknown). full_trace: consider every channel (explain); otherwise only
 * those of the request's business/method bucket (they are the only ones
 * that can pass the first two filters). out->cands must have room for
 * cat->n_chans entries. Returns 0; -EINVAL for a request missing method,
 * currency or a positive amount, or whose business is not exactly one
 * known bit; -ENOSPC when out->cap is smaller than the channels it must
 * consider. */
int pr_route(const struct pr_catalogue *cat, const struct pr_route_req *req,
	     const struct pr_chan_usage *usage, int full_trace,
	     struct pr_route_result *out);

/* The trace as JSON, the explain endpoint's answer: {"chosen", "whitelist",
 * "whitelist_unused": [{"id", "kind", "channel", "note", "dropped_by"}]
 * (entries that matched but whose channel was dropped: dropped_by names
 * the filter, or "not_in_catalogue" when no channel has the entry's
 * code, "not_considered" when the route did not consider it), "rule",
 * "candidates": [{"channel","eligible","dropped_by","fee","score",
 * "score_parts":{"weight","fee","success_rate"},"success":{"rate","ok","n",
 * "level"} (the estimate behind success_rate), "breaker": "closed",
 * "open" or "probe"}], "scoring": the mode, "probe": bool, "exploration":
 * null or {"share","draw","explored","instead_of"}}. */
json_t *pr_route_to_json(const struct pr_catalogue *cat,
			 const struct pr_route_result *res);

/* The trace kept on an order, bounded whatever the catalogue's size: like
 * pr_route_to_json, but "candidates" lists only the eligible channels,
 * ranked, at most max_listed of them (0: every candidate, as
 * pr_route_to_json), "eligible_not_listed" counts the eligible ones left
 * out, and "dropped" counts the others by the condition that dropped them
 * ({"environment": 988, "status": 2}). */
json_t *pr_route_trace_json(const struct pr_catalogue *cat,
			    const struct pr_route_result *res,
			    size_t max_listed);

/* The same trace as pr_route_trace_json(cat, res, max_listed), written
 * into w as the members of an object the caller opened (and closes,
 * after adding its own): the text json_dumps(JSON_COMPACT) gives for that
 * tree, byte for byte, without building it (the explain endpoint's
 * answer, admin/explain.c; tests/unit/test_router.c compares the two on
 * every case). Returns 0, or -EINVAL when w failed (out of memory, a
 * string that is not UTF-8). */
int pr_route_trace_write(struct pr_jw *w, const struct pr_catalogue *cat,
			 const struct pr_route_result *res, size_t max_listed);

#endif
