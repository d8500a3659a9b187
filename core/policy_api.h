/*
 * policy_api.h - the admin API for the routing policy: channels (CRUD and a
 * quick status switch), the whitelist and the routing rules, each change
 * validated, audited and announced to every instance (NOTIFY).
 */
#ifndef PR_POLICY_API_H
#define PR_POLICY_API_H

#include "daemon.h"

/* Handles r when its path belongs to the policy API (/admin/v1/channels...,
 * /admin/v1/whitelist..., /admin/v1/routing/rules, /admin/v1/audit) and
 * returns 1; returns 0 for any other path. The caller has checked the admin
 * token. */
int pr_policy_api_handle(struct pr_request *r);

#endif
