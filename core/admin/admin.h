/*
 * admin.h - request routing for both listeners, by one route table each
 * (route.h): health and readiness on both, the admin API (bearer token),
 * metrics and the console on the admin listener, and the merchant API and
 * the channels' callbacks on the merchant listener.
 */
#ifndef PR_ADMIN_H
#define PR_ADMIN_H

#include <stddef.h>

#include "runtime/daemon.h"
#include "domain/policy_io.h"
#include "base/route.h"

/* Handle one request; every path ends in pr_request_reply or friends. */
void pr_admin_handle(struct pr_request *r);
void pr_merchant_handle(struct pr_request *r);

/* The listeners' route tables, as pr_admin_handle and pr_merchant_handle
 * answer by them (exposed for the unit tests). */
extern const struct pr_route pr_admin_routes[];
extern const size_t pr_admin_n_routes;
extern const struct pr_route pr_merchant_routes[];
extern const size_t pr_merchant_n_routes;

/* pr_mask_secrets is in policy_io.h (a pure module: the fuzz target and
 * the unit tests link it without the admin API). */

#endif
