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
