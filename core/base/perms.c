/*
 * perms.c - the one table of roles and their permissions (perms.h).
 *
 *   viewer    reads everything but secrets
 *   operator  the viewer's, and the day's operations: a channel's status
 *             and weight,
 *             overdue refunds and notifications, reconciliation follow-up,
 *             manual settlement
 *   admin     everything: the routing policy, merchants, reload, operators
 *
 * Which permission each endpoint needs is the route table's column
 * (admin/admin.c); doc/design.md §11 shows both as one table.
 */
#include <string.h>

#include "base/perms.h"

#define BIT(p) ((pr_perm_set)1 << (p))

#define VIEWER_PERMS (BIT(PR_PERM_SELF) | BIT(PR_PERM_VIEW))
#define OPERATOR_PERMS                                                         \
	(VIEWER_PERMS | BIT(PR_PERM_CHANNEL_OPERATE) |                         \
	 BIT(PR_PERM_ORDER_FOLLOW_UP) | BIT(PR_PERM_ORDER_SETTLE))
#define ADMIN_PERMS                                                            \
	(OPERATOR_PERMS | BIT(PR_PERM_POLICY_WRITE) |                          \
	 BIT(PR_PERM_MERCHANT_WRITE) | BIT(PR_PERM_DAEMON) |                   \
	 BIT(PR_PERM_OPERATORS))

static const struct {
	enum pr_role role;
	const char *name;
	pr_perm_set perms;
} roles[PR_ROLE_N] = {
	{ PR_ROLE_VIEWER, "viewer", VIEWER_PERMS },
	{ PR_ROLE_OPERATOR, "operator", OPERATOR_PERMS },
	{ PR_ROLE_ADMIN, "admin", ADMIN_PERMS },
};

static const char *const perm_names[PR_PERM_N] = {
	[PR_PERM_NONE] = "none",
	[PR_PERM_SELF] = "self",
	[PR_PERM_VIEW] = "view",
	[PR_PERM_CHANNEL_OPERATE] = "channel.operate",
	[PR_PERM_ORDER_FOLLOW_UP] = "order.follow_up",
	[PR_PERM_ORDER_SETTLE] = "order.settle",
	[PR_PERM_POLICY_WRITE] = "policy.write",
	[PR_PERM_MERCHANT_WRITE] = "merchant.write",
	[PR_PERM_DAEMON] = "daemon",
	[PR_PERM_OPERATORS] = "operators",
};

pr_perm_set pr_perms_of(unsigned r)
{
	pr_perm_set s = 0;

	for (size_t i = 0; i < PR_ROLE_N; i++)
		if (r & roles[i].role)
			s |= roles[i].perms;
	return s;
}

int pr_perm_allowed(const struct pr_principal *p, enum pr_perm perm)
{
	if (perm == PR_PERM_NONE)
		return 1;
	if ((unsigned)perm >= PR_PERM_N || !p || p->via == PR_VIA_NONE)
		return 0;
	return (p->perms & BIT(perm)) != 0;
}

const char *pr_perm_name(enum pr_perm perm)
{
	return (unsigned)perm < PR_PERM_N ? perm_names[perm] : NULL;
}

const char *pr_role_name(enum pr_role role)
{
	for (size_t i = 0; i < PR_ROLE_N; i++)
		if (roles[i].role == role)
			return roles[i].name;
	return NULL;
}

unsigned pr_role_parse(const char *name)
{
	for (size_t i = 0; name && i < PR_ROLE_N; i++)
		if (strcmp(roles[i].name, name) == 0)
			return roles[i].role;
	return 0;
}

int pr_operator_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > PR_OPERATOR_NAME_MAX)
		return 0;
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._@-") == n;
}

const char *pr_token_split(const char *tok, char *id, size_t idlen)
{
	const size_t pre = sizeof(PR_TOKEN_PREFIX) - 1;
	const char *p, *us;
	size_t n;

	if (!tok || strncmp(tok, PR_TOKEN_PREFIX, pre) != 0)
		return NULL;
	p = tok + pre;
	us = strchr(p, '_');
	n = us ? (size_t)(us - p) : 0;
	if (n < 1 || n > 18 || n >= idlen || strspn(p, "0123456789") != n)
		return NULL;
	if (strlen(us + 1) != PR_TOKEN_SECRET_HEX ||
	    strspn(us + 1, "0123456789abcdef") != PR_TOKEN_SECRET_HEX)
		return NULL;
	memcpy(id, p, n);
	id[n] = '\0';
	return us + 1;
}
