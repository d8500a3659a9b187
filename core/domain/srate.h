/*
 * srate.h - success-rate estimates per segment, time-decayed
 * (doc/design.md §4, "Success-rate estimates").
 *
 * A segment is (channel, method, environment, bank). Every final outcome
 * of an order is counted at four levels: the channel alone, channel x
 * method, channel x method x environment and the full segment. Counts
 * decay exponentially with a half-life: an outcome half_life_ms old
 * weighs 1/2, two half-lives old 1/4. An estimate asks for the finest
 * level whose decayed count reaches min_n; when none does, the channel
 * level is used if it has any count at all; a channel never seen has no
 * estimate (rate < 0, the router then scores it 0.5).
 *
 * Pure (libc, jansson, libm): test_srate calls it directly, and policy
 * replay can build one over stored outcomes of a past period. Everything
 * runs on the caller's thread; nothing here is locked.
 */
#ifndef PR_SRATE_H
#define PR_SRATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/jsonw.h"

/* The levels, coarsest first. PR_SR_NONE: no estimate. */
enum pr_sr_level {
	PR_SR_NONE = 0,
	PR_SR_CHANNEL,
	PR_SR_METHOD,
	PR_SR_ENVIRONMENT,
	PR_SR_SEGMENT,
};

/* "none", "channel", "method", "environment", "segment". */
const char *pr_sr_level_name(enum pr_sr_level l);

struct pr_srate_cfg {
	int64_t half_life_ms; /* > 0 */
	double min_n;	      /* decayed outcomes a level needs, >= 0 */
};

/* The defaults: half-life 10 minutes, 20 outcomes. */
#define PR_SR_HALF_LIFE_MS (10 * 60 * 1000)
#define PR_SR_MIN_N 20.0

/* One estimate: what the router is given for a channel (router.h). */
struct pr_sr_est {
	double rate;		/* ok / n at level; -1 when level is NONE */
	double ok, n;		/* the decayed counts of that level */
	enum pr_sr_level level; /* the level used */
};

struct pr_srate;

/* A new, empty table, or NULL when out of memory. The caller frees it with
 * pr_srate_free. */
struct pr_srate *pr_srate_new(void);
void pr_srate_free(struct pr_srate *s);

/* Counts an outcome (success 1 or 0) of channel for (method, environment,
 * bank) at now_ms; method, environment and bank may be NULL or "" (that
 * level then counts under ""). An outcome older than the level's last one
 * counts as if it came then. Returns 0 or -ENOMEM (nothing counted at the
 * levels that failed); -EINVAL for a NULL channel. */
int pr_srate_record(struct pr_srate *s, const struct pr_srate_cfg *cfg,
		    const char *channel, const char *method,
		    const char *environment, const char *bank, int success,
		    int64_t now_ms);

/* The estimate for channel and the request's (method, environment, bank)
 * at now_ms into *out, by the fallback rule above. s may be NULL (no
 * estimate). */
void pr_srate_estimate(const struct pr_srate *s, const struct pr_srate_cfg *cfg,
		       const char *channel, const char *method,
		       const char *environment, const char *bank,
		       int64_t now_ms, struct pr_sr_est *out);

/*
 * The hot path's way to the same estimate, without hashing a string per
 * channel (doc/design.md §4, "Success-rate estimates"): the caller looks
 * each channel up once (pr_srate_chan) and keeps the handle while
 * pr_srate_epoch stays the same; a decision turns the request's method,
 * environment and bank into ids once (pr_srate_key) and estimates each
 * channel by handle and ids (pr_srate_estimate_key), which gives what
 * pr_srate_estimate gives, bit for bit.
 */
struct pr_sr_chan;

/* Channel's estimates, or NULL when it has none yet. Valid while
 * pr_srate_epoch(s) returns what it returned when it was looked up. */
const struct pr_sr_chan *pr_srate_chan(const struct pr_srate *s,
				       const char *channel);

/* Changes whenever a channel gains its first estimate or is dropped:
 * the handles looked up before are then stale. 0 for a NULL s. */
uint64_t pr_srate_epoch(const struct pr_srate *s);

/* A request's (method, environment, bank) as the table's ids. */
struct pr_sr_key {
	uint32_t method, environment, bank;
};

/* The ids of (method, environment, bank) (each may be NULL or ""): ids
 * the table has never seen match nothing. */
void pr_srate_key(const struct pr_srate *s, const char *method,
		  const char *environment, const char *bank,
		  struct pr_sr_key *key);

/* pr_srate_estimate for the channel of handle c (NULL: none) and key. */
void pr_srate_estimate_key(const struct pr_srate *s,
			   const struct pr_srate_cfg *cfg,
			   const struct pr_sr_chan *c,
			   const struct pr_sr_key *key, int64_t now_ms,
			   struct pr_sr_est *out);

/* pr_srate_estimate_key for n channels (c[i]: a handle, or NULL) into
 * out[i], stride bytes apart (an array of structs holding a pr_sr_est:
 * sizeof of the struct), the walks down their trees interleaved so that
 * their loads from memory overlap. The same bits as one at a time. */
void pr_srate_estimate_many(const struct pr_srate *s,
			    const struct pr_srate_cfg *cfg,
			    const struct pr_sr_chan *const *c, size_t n,
			    const struct pr_sr_key *key, int64_t now_ms,
			    struct pr_sr_est *out, size_t stride);

/* Forgets every estimate of channel (it left the catalogue). Returns 1
 * when it had some, else 0; the epoch changes when it had. */
int pr_srate_drop(struct pr_srate *s, const char *channel);

/* Drops the estimates of every channel for which keep returns 0 (a
 * reload: the channels that left the catalogue). Returns how many. */
size_t pr_srate_retain(struct pr_srate *s,
		       int (*keep)(const char *channel, void *arg), void *arg);

/* Every level of every channel as Prometheus text through out (arg passed
 * on): payroute_route_success_outcomes{channel,method,environment,bank,
 * level,result="ok"|"all"} (decayed counts at now_ms) and
 * payroute_route_success_estimate{channel,...,level} (ok / all). A coarser
 * level has "" for the labels it does not split. Returns 0 or -ENOMEM. */
int pr_srate_write(const struct pr_srate *s, const struct pr_srate_cfg *cfg,
		   int64_t now_ms,
		   void (*out)(void *arg, const char *s, size_t n), void *arg);

/* The estimate as JSON for explain: {"rate" (or null), "ok", "n",
 * "level"}. A new reference or NULL. */
json_t *pr_sr_est_json(const struct pr_sr_est *e);
/* The same bytes, written to w (explain's answer, base/jsonw.h). */
void pr_sr_est_write(struct pr_jw *w, const struct pr_sr_est *e);

#endif
