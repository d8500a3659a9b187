/*
 * approvals_api.h - four eyes on money, the approvals API (doc/design.md
 * §11): the approvals waiting for a second operator and what became of
 * them, and the second operator's decision.
 *
 *   GET  /admin/v1/approvals?state=S     newest first (view)
 *   GET  /admin/v1/approvals/{id}        one (view)
 *   POST /admin/v1/approvals/{id}/approve  applies the stored request
 *                                        once (approve)
 *   POST /admin/v1/approvals/{id}/reject   {"reason"} (approve)
 */
#ifndef PR_APPROVALS_API_H
#define PR_APPROVALS_API_H

#include "runtime/daemon.h"
#include "base/route.h"

void pr_approvals_list(struct pr_request *r, const struct pr_route_match *m);
void pr_approvals_get(struct pr_request *r, const struct pr_route_match *m);
void pr_approvals_approve(struct pr_request *r, const struct pr_route_match *m);
void pr_approvals_reject(struct pr_request *r, const struct pr_route_match *m);

#endif
