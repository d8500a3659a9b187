/*
 * chanhealth.h - what routing learns from the channels' answers
 * (doc/design.md §4, "Success-rate estimates" and "Circuit breaking"):
 * the success-rate estimates (domain/srate.h) fed by every final order
 * outcome, and the circuit breakers (domain/breaker.h) fed by every
 * channel call, shared by all instances through table channel_breakers
 * (migration 013).
 *
 * A breaker's transition made here is written to channel_breakers and
 * audit_log (actor "system", or the operator's name) and announced on
 * PR_BREAKERS_NOTIFY_CHANNEL in one statement; the other instances then
 * read the table and take every row newer than their own state, so an
 * instance that never called the channel agrees as soon as the
 * notification arrives. Everything runs on the event loop's thread.
 */
#ifndef PR_CHANHEALTH_H
#define PR_CHANHEALTH_H

#include <stdint.h>

#include <jansson.h>

#include "domain/breaker.h"
#include "domain/router.h"
#include "domain/srate.h"
#include "runtime/config.h"
#include "runtime/daemon.h"
#include "runtime/generation.h"
#include "orders/orders.h"

/* Announces a breaker's transition (payload: the channel). */
#define PR_BREAKERS_NOTIFY_CHANNEL "payroute_breakers"

struct pr_health;

/* The estimator's and the breakers' settings from cfg (routing.*,
 * breaker.*). */
void pr_health_cfg(const struct pr_config *cfg, struct pr_srate_cfg *sr,
		   struct pr_brk_cfg *bk);

/* A new tracker over d's store; NULL when out of memory. Freed with
 * pr_health_free (a read in flight ends first). */
struct pr_health *pr_health_new(struct pr_daemon *d);
void pr_health_free(struct pr_health *h);

/* Listens for other instances' transitions (and reads channel_breakers
 * each time the LISTEN connection is (re-)established). Returns 0 or
 * pr_db_listen's error. */
int pr_health_listen(struct pr_health *h);

/* A call to channel ended as c says (orders.c's call_finish): a timeout,
 * a request not sent, an answer that did not verify, or an answer mapped
 * to a failure of category channel or system counts against the breaker;
 * any other answer for it. h may be NULL. */
void pr_health_call(struct pr_health *h, const struct pr_config *cfg,
		    const char *channel, const struct pr_call *c);

/* An order on channel reached a final outcome (success 1 or 0) for
 * (method, environment, bank), each may be NULL. */
void pr_health_outcome(struct pr_health *h, const struct pr_config *cfg,
		       const char *channel, const char *method,
		       const char *environment, const char *bank, int success);

/* Fills u->breaker (as of now_ms: an open breaker whose cool-down is
 * over turns half open here) and u->sr, u->sr_known (the handle of its
 * estimates in the table pr_health_req points a request at) for channel
 * i of gen's catalogue. Each channel's breaker and estimates are kept by
 * catalogue index for the generation last asked about, looked up again
 * only when another generation asks or a channel gains its first
 * breaker or estimate: a decision hashes no channel code (doc/design.md
 * §4, "Success-rate estimates"). */
void pr_health_fill(struct pr_health *h, const struct pr_config *cfg,
		    const struct pr_generation *gen, size_t i, int64_t now_ms,
		    struct pr_chan_usage *u);

/* gen became the active generation: the estimates of the channels that
 * are not in its catalogue are forgotten (a channel deleted for good
 * would keep them otherwise; one that comes back starts afresh). Returns
 * how many channels were forgotten. */
size_t pr_health_catalogue(struct pr_health *h,
			   const struct pr_generation *gen);

/* Points rq at the success-rate estimates (rq->srate, rq->srate_cfg),
 * valid while h lives and the loop does not turn. */
void pr_health_req(struct pr_health *h, const struct pr_config *cfg,
		   struct pr_route_req *rq);

/* The routing of an order chose res->chosen: when that is a probe, no
 * other probe goes to the channel before breaker.probe_interval_ms. */
void pr_health_routed(struct pr_health *h, const struct pr_catalogue *cat,
		      const struct pr_route_result *res);

/* An operator forces channel's breaker to closed or open ("closed",
 * "open"). Returns 1 (changed, written to the store and audited), 0
 * (already so), -EINVAL (another state). */
int pr_health_force(struct pr_health *h, const struct pr_config *cfg,
		    const char *channel, const char *state, const char *actor,
		    const char *note);

/* The breaker of channel as pr_brk_json (a channel never seen: closed,
 * no history). A new reference or NULL. */
json_t *pr_health_breaker_json(struct pr_health *h, const struct pr_config *cfg,
			       const char *channel);

/* The Prometheus text of the estimates and the breakers:
 * payroute_channel_breaker_state{channel,state} (1 for the current
 * state), payroute_channel_breaker_opened_total{channel}. */
void pr_health_write(struct pr_health *h, const struct pr_config *cfg,
		     void (*out)(void *arg, const char *s, size_t n),
		     void *arg);

#endif
