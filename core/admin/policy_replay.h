/*
 * policy_replay.h - POST /admin/v1/policy/replay and GET
 * /admin/v1/policy/replay/{id} (policy_replay.c): a draft routing policy
 * replayed over the stored payments (or withdrawals) of a time range, as
 * a job of this instance.
 */
#ifndef PR_POLICY_REPLAY_H
#define PR_POLICY_REPLAY_H

#include "runtime/daemon.h"
#include "base/route.h"

/* The longest range a replay takes (days). */
#define PR_REPLAY_MAX_DAYS 31
/* Payments read per statement (and routed in one turn of the loop). */
#define PR_REPLAY_BATCH 10000
/* Jobs kept (finished ones are dropped oldest first) and jobs running at
 * once, per instance. */
#define PR_REPLAY_KEEP 16
#define PR_REPLAY_RUNNING 2

void pr_policy_replay_start(struct pr_request *r,
			    const struct pr_route_match *m);
void pr_policy_replay_get(struct pr_request *r, const struct pr_route_match *m);

#endif
