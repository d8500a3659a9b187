/*
 * admin.h - request routing for both listeners: health and readiness on
 * both, the admin API (bearer token), metrics and the console on the admin
 * listener, and the merchant API (arriving with the payments issue) on the
 * merchant listener.
 */
#ifndef PR_ADMIN_H
#define PR_ADMIN_H

#include "daemon.h"
#include "policy_io.h"

/* Handle one request; every path ends in pr_request_reply or friends. */
void pr_admin_handle(struct pr_request *r);
void pr_merchant_handle(struct pr_request *r);

/* pr_mask_secrets is in policy_io.h (a pure module: the fuzz target and
 * the unit tests link it without the admin API). */

#endif
