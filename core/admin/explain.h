/*
 * explain.h - POST /admin/v1/route/explain: a payment request in, the
 * routing trace out, nothing created.
 */
#ifndef PR_EXPLAIN_H
#define PR_EXPLAIN_H

#include "runtime/daemon.h"
#include "base/route.h"

/* POST /admin/v1/route/explain, for the admin listener's route table
 * (admin.c); the caller has checked the token. Answers r. */
void pr_explain_handle(struct pr_request *r, const struct pr_route_match *m);

#endif
