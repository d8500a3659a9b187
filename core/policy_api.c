/*
 * policy_api.c - which part of the policy API (policy_api.h) a path of
 * /admin/v1/ belongs to: each resource is a file of its own
 * (policy_channels.c, policy_whitelist.c, policy_rules.c,
 * policy_codes.c, policy_audit.c, policy_transfer.c), and every write goes
 * through the policy write engine (policy_write.c).
 */
#include <string.h>

#include "policy_api.h"

int pr_policy_api_handle(struct pr_request *r)
{
	static const char ch[] = "/admin/v1/channels";
	static const char wl[] = "/admin/v1/whitelist";
	static const char codes[] = "/admin/v1/codes";
	const char *path = r->path;

	if (strncmp(path, ch, sizeof(ch) - 1) == 0 &&
	    (path[sizeof(ch) - 1] == '\0' || path[sizeof(ch) - 1] == '/')) {
		pr_policy_channels_handle(r, path + sizeof(ch) - 1);
		return 1;
	}
	if (strncmp(path, wl, sizeof(wl) - 1) == 0 &&
	    (path[sizeof(wl) - 1] == '\0' || path[sizeof(wl) - 1] == '/')) {
		pr_policy_whitelist_handle(r, path + sizeof(wl) - 1);
		return 1;
	}
	if (strcmp(path, "/admin/v1/routing/rules") == 0) {
		pr_policy_rules_handle(r);
		return 1;
	}
	if (strcmp(path, "/admin/v1/audit") == 0) {
		pr_policy_audit_handle(r);
		return 1;
	}
	if (strcmp(path, "/admin/v1/policy") == 0) {
		pr_policy_transfer_handle(r);
		return 1;
	}
	if (strncmp(path, codes, sizeof(codes) - 1) == 0 &&
	    (path[sizeof(codes) - 1] == '\0' ||
	     path[sizeof(codes) - 1] == '/')) {
		pr_policy_codes_handle(r, path + sizeof(codes) - 1);
		return 1;
	}
	return 0;
}
