/*
 * policy_api.h - the admin API for the routing policy: channels (CRUD and a
 * quick status switch), the whitelist, the routing rules and the result-code
 * overrides, each change validated, audited and announced to every instance
 * (NOTIFY); the whole policy exported and replaced as one document; and the
 * reads that go with them (a channel's effective code table, the
 * unmapped-code report, the audit log).
 */
#ifndef PR_POLICY_API_H
#define PR_POLICY_API_H

#include "daemon.h"

/* Handles r when its path belongs to the policy API (/admin/v1/channels...,
 * /admin/v1/whitelist..., /admin/v1/routing/rules, /admin/v1/codes,
 * /admin/v1/codes/overrides, /admin/v1/codes/unmapped, /admin/v1/audit,
 * /admin/v1/policy) and returns 1; returns 0 for any other path. The
 * caller has checked the admin token. */
int pr_policy_api_handle(struct pr_request *r);

#endif
