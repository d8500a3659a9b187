/*
 * catalogue.h - what routing works on: the channels with every routing
 * attribute (doc/design.md §4), the whitelist and the routing rules, as one
 * immutable snapshot held by a generation.
 *
 * A channel is read and written as JSON in the admin API's shape
 * (doc/design.md §9); pr_chan_parse checks it and names the first bad
 * field ("limits.txn_max: must be at least limits.txn_min"), the same
 * function whether the JSON comes from an operator or from the store.
 */
#ifndef PR_CATALOGUE_H
#define PR_CATALOGUE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "domain/tz.h"

/* Business types (a bit set). */
enum {
	PR_BIZ_PAY = 1u << 0,
	PR_BIZ_REFUND = 1u << 1,
	PR_BIZ_WITHDRAW = 1u << 2,
};

/* Card types (a bit set; 0 in a bank mapping means any). */
enum {
	PR_CARD_DEBIT = 1u << 0,
	PR_CARD_CREDIT = 1u << 1,
};

/* A channel-bank mapping. */
struct pr_bank_map {
	char *bank_code;	 /* ours, e.g. "ICBC" */
	char *channel_bank_code; /* the channel's, e.g. "1002" */
	unsigned card_types;	 /* PR_CARD_*; 0: any */
	int64_t txn_max;	 /* per transaction at this bank; 0: none */
	int64_t daily_amount;	 /* per day at this bank; 0: none */
};

enum pr_mw_kind { PR_MW_DAILY, PR_MW_WEEKLY, PR_MW_ONCE };

/* A maintenance window. Recurring windows are in the channel's local time;
 * end <= start means the window crosses midnight (22:00-02:00), and a
 * weekly window's days name the day it starts on. */
struct pr_mwindow {
	enum pr_mw_kind kind;
	int start_min; /* minutes after local midnight */
	int end_min;
	unsigned days;	 /* weekly: bit 0 Sunday .. bit 6 Saturday */
	int64_t from_ms; /* once: [from, to) in UTC ms */
	int64_t to_ms;
};

struct pr_strlist {
	char **v;
	size_t n;
	/* v's ids in the catalogue's names (pr_catalogue_build sets them for
	 * a channel's methods, environments, product codes and currencies;
	 * they point into the catalogue's names_ids). NULL: compared as
	 * strings. */
	const uint32_t *ids;
};

struct pr_chan_spec {
	char *code;
	char *driver;
	char *institution;
	unsigned business;		 /* PR_BIZ_*; 0: none */
	struct pr_strlist methods;	 /* empty: none */
	struct pr_strlist environments;	 /* empty: none */
	struct pr_strlist product_codes; /* empty: any */
	struct pr_strlist currencies;	 /* ISO 4217; empty: none */
	struct pr_bank_map *banks;	 /* sorted by bank_code */
	size_t n_banks;
	int online;
	char *timezone;	  /* IANA name */
	struct pr_tz *tz; /* loaded by pr_chan_parse; owned */
	struct pr_mwindow *windows;
	size_t n_windows;
	int64_t txn_min;      /* 0: none */
	int64_t txn_max;      /* 0: none */
	int64_t daily_amount; /* 0: none */
	int64_t daily_count;  /* 0: none */
	int32_t fee_rate_bps; /* basis points of the amount, rounded up */
	int64_t fee_fixed;
	int64_t fee_min;
	int64_t fee_max; /* 0: no cap */
	int32_t weight;	 /* 0..10000 */
	int32_t refund_window_days;
	int64_t refund_timeout_s;
	int refund_resend;
	int whitelist_only;
	json_t *driver_config; /* owned reference; an object */
};

/* Parses and checks a channel in the API's JSON shape. Unknown keys are
 * errors; missing optional keys take their defaults (documented in
 * catalogue.c). Returns 0, or -EINVAL with err naming the field. */
int pr_chan_parse(json_t *j, struct pr_chan_spec *out, char *err,
		  size_t errlen);
void pr_chan_clear(struct pr_chan_spec *c);
/* The channel in the API's JSON shape (a new reference); driver_config is
 * included as is: mask it before showing it. */
json_t *pr_chan_to_json(const struct pr_chan_spec *c);

/* The fee for amount on channel c: fixed + ceil(amount * rate / 10000),
 * at least fee_min, at most fee_max when set. Pure; saturates instead of
 * overflowing. */
int64_t pr_chan_fee(const struct pr_chan_spec *c, int64_t amount);

/* The channel's bank mapping for bank_code, or NULL. */
const struct pr_bank_map *pr_chan_bank(const struct pr_chan_spec *c,
				       const char *bank_code);

/* 1 when the UTC instant now_ms falls in one of c's maintenance windows. */
int pr_chan_in_maintenance(const struct pr_chan_spec *c, int64_t now_ms);

/* ------------------------------------------------------------ whitelist */

enum pr_wl_kind { PR_WL_CARD, PR_WL_BUYER, PR_WL_SELLER };

struct pr_wl_entry {
	int64_t id;
	enum pr_wl_kind kind;
	char *value;   /* card: lowercase hex HMAC-SHA256 of the card number;
			  buyer/seller: the id as given */
	char *channel; /* the channel it names */
	char *note;    /* "" when none */
	int64_t expires_ms; /* 0: never */
};

/* Parses a stored entry {"id","kind","value","channel","note",
 * "expires_at"(RFC 3339 or null)}. */
int pr_wl_parse(json_t *j, struct pr_wl_entry *out, char *err, size_t errlen);
void pr_wl_clear(struct pr_wl_entry *e);

/* ---------------------------------------------------------------- rules */

/* A routing rule. Conditions: an empty list or a zero bound means any. The
 * first enabled rule whose conditions all match the request applies: its
 * allow/deny lists are hard filters (dropped_by "rule") and its weights
 * score the survivors. */
/* How a rule ranks its survivors (doc/design.md §4, "Scoring"). */
enum pr_score_mode {
	PR_SCORE_WEIGHTED = 0,	/* w_weight * weight + w_fee * fee + w_success *
				  success_rate (the default) */
	PR_SCORE_FEE_FIRST,	/* lower fee, higher weight, code */
	PR_SCORE_WEIGHT,	/* higher weight, lower fee, code */
	PR_SCORE_SUCCESS_FIRST, /* the cheapest of those within within_points
				   of the best success rate, then the rest by
				   success rate */
};

/* "weighted", "fee_first", "weight", "success_first". */
const char *pr_score_mode_name(enum pr_score_mode m);

struct pr_rule {
	int64_t id;
	char *name;
	int enabled;
	struct pr_strlist product_codes, methods, environments, currencies,
		banks, merchants;
	int64_t amount_min, amount_max;
	double w_weight;  /* weight of the channel's weight (normalised) */
	double w_fee;	  /* weight of cheapness (normalised) */
	double w_success; /* weight of the recent success rate */
	enum pr_score_mode mode;
	double within_points;	 /* success_first: the budget, in points */
	double explore;		 /* share of decisions explored, 0 .. 0.5 */
	struct pr_strlist allow; /* empty: all */
	struct pr_strlist deny;
};

/* Parses {"id","name","enabled","conditions":{...},"scoring":{"weight",
 * "fee","success_rate","mode","within_points","explore"},"allow":[],
 * "deny":[]}. mode defaults to "weighted", within_points (0 .. 100) to
 * 0, explore (0 .. 0.5) to 0. */
int pr_rule_parse(json_t *j, struct pr_rule *out, char *err, size_t errlen);
void pr_rule_clear(struct pr_rule *r);
json_t *pr_rule_to_json(const struct pr_rule *r);

/* ------------------------------------------------------------ catalogue */

/* Channels by business type and method, so that a request looks only at
 * channels that can take it. */
struct pr_cat_bucket {
	unsigned business; /* one PR_BIZ_* bit */
	char *method;
	size_t *chans; /* indices into the catalogue's channels */
	size_t n;
};

struct pr_catalogue {
	struct pr_chan_spec *chans; /* sorted by code */
	size_t n_chans;
	struct pr_wl_entry *wl; /* sorted by kind, value */
	size_t n_wl;
	struct pr_rule *rules; /* in order */
	size_t n_rules;
	struct pr_cat_bucket *buckets;
	size_t n_buckets;
	/* Every distinct string of the channels' methods, environments,
	 * product codes and currencies, sorted (pointers into those lists);
	 * a list's ids index it, so the router looks a request's values up
	 * once per decision and compares numbers (pr_catalogue_name_id).
	 * names_ids holds the lists' ids. */
	const char **names;
	size_t n_names;
	uint32_t *names_ids;
};

/* No such name in the catalogue (pr_catalogue_name_id). */
#define PR_NAME_NONE UINT32_MAX

/* Builds a catalogue from JSON arrays of channels, whitelist entries and
 * rules (each may be NULL: empty). A whitelist entry or rule naming a
 * channel that does not exist is an error. Returns 0 or -EINVAL/-ENOMEM
 * with err naming the element ("channels[3] (wx_native): fee.rate_bps: ...").
 */
int pr_catalogue_build(struct pr_catalogue *cat, json_t *channels,
		       json_t *whitelist, json_t *rules, char *err,
		       size_t errlen);
void pr_catalogue_clear(struct pr_catalogue *cat);

/* The id of s among cat's names (a channel's methods, environments,
 * product codes and currencies), or PR_NAME_NONE when no such list holds
 * s (or s is NULL). */
uint32_t pr_catalogue_name_id(const struct pr_catalogue *cat, const char *s);

/* Index of the channel with that code, or -1. */
long pr_catalogue_find(const struct pr_catalogue *cat, const char *code);

/* The bucket for one business bit and a method, or NULL. */
const struct pr_cat_bucket *pr_catalogue_bucket(const struct pr_catalogue *cat,
						unsigned business,
						const char *method);

/* 1 when some channel of the catalogue, whatever its status, windows and
 * limits, takes business (one PR_BIZ_* bit) by method in currency: one
 * that could serve such an order once usable; 0 when none could ever
 * (until an operator changes the catalogue). */
int pr_catalogue_can_serve(const struct pr_catalogue *cat, unsigned business,
			   const char *method, const char *currency);

#endif
