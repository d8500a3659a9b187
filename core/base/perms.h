/*
 * perms.h - who may do what on the admin API: the permissions, the roles
 * that hold them, and the principal (the authenticated operator) a request
 * carries. One table (perms.c) maps each role to its permissions; the
 * admin listener's route table (admin/admin.c) names the one permission
 * each row needs, and the router checks it before the handler runs. A
 * pure function of names and bits: tests/unit/test_perms.c calls it
 * directly.
 */
#ifndef PR_PERMS_H
#define PR_PERMS_H

#include <stddef.h>
#include <stdint.h>

/* A permission, as the route table names it. PR_PERM_NONE is the column
 * of the rows that are no operator's (health, metrics, console, the
 * merchant listener). */
enum pr_perm {
	PR_PERM_NONE = 0,
	PR_PERM_SELF,		 /* any active operator: whoami, openapi */
	PR_PERM_VIEW,		 /* read everything but secrets */
	PR_PERM_CHANNEL_OPERATE, /* a channel online or offline, its
				  * weight */
	PR_PERM_ORDER_FOLLOW_UP, /* overdue refunds (resend, resolve),
				  * notifications (retry), reconciliation
				  * (runs, differences) */
	PR_PERM_ORDER_SETTLE,	 /* manual settlement of an order */
	PR_PERM_POLICY_WRITE,	 /* catalogue, rules, whitelist, codes, the
				 * policy document (import) */
	PR_PERM_MERCHANT_WRITE,	 /* merchants, their keys and secrets */
	PR_PERM_DAEMON,		 /* reload */
	PR_PERM_OPERATORS,	 /* operators and their tokens */
	PR_PERM_APPROVE,	 /* approve or reject another operator's
				  * request (four eyes on money) */
	PR_PERM_N
};

/* A role: a named set of permissions (perms.c). */
enum pr_role {
	PR_ROLE_VIEWER = 1u << 0,
	PR_ROLE_OPERATOR = 1u << 1,
	PR_ROLE_ADMIN = 1u << 2,
};
#define PR_ROLE_N 3

/* A set of permissions: bit (1 << perm). */
typedef uint32_t pr_perm_set;

/* How a principal proved who it is. A second way (a console session)
 * adds a value here and fills the same principal. */
enum pr_auth_via {
	PR_VIA_NONE = 0, /* not authenticated */
	PR_VIA_TOKEN,	 /* an operator's API token (Authorization: Bearer) */
	PR_VIA_LEGACY,	 /* the shared admin.token, admin.legacy_token on */
	PR_VIA_SESSION,	 /* a console session's cookie (admin/sessions.c) */
};

/* The longest operator name (bytes): [a-z0-9][a-z0-9._@-]{0,63}. */
#define PR_OPERATOR_NAME_MAX 64

/* The authenticated operator of an admin request. */
struct pr_principal {
	char name[PR_OPERATOR_NAME_MAX + 1]; /* "" when not authenticated */
	unsigned roles;			     /* enum pr_role bits */
	pr_perm_set perms;		     /* pr_perms_of(roles) */
	enum pr_auth_via via;
	int64_t token_id; /* the token used (PR_VIA_TOKEN), else 0 */
};

/* The permissions of a set of roles (enum pr_role bits): the union of
 * each role's. */
pr_perm_set pr_perms_of(unsigned roles);

/* 1 when p holds perm (PR_PERM_NONE: always 1). */
int pr_perm_allowed(const struct pr_principal *p, enum pr_perm perm);

/* The name of a permission ("policy.write") or a role ("admin"); NULL
 * for a value that is none. Static strings. */
const char *pr_perm_name(enum pr_perm perm);
const char *pr_role_name(enum pr_role role);

/* The role named name (its enum pr_role bit), or 0 when none is. */
unsigned pr_role_parse(const char *name);

/* An operator's API token: "pro_<id>_<64 lowercase hex>", the row's id
 * and 32 random bytes (admin/operators.c). */
#define PR_TOKEN_PREFIX "pro_"
#define PR_TOKEN_SECRET_HEX 64

/* Splits tok, when it is such a token, into its id (1 to 18 digits,
 * copied NUL-terminated into id, idlen at least 19) and its secret.
 * Returns the secret (pointing into tok), or NULL when tok is not so made
 * (id is then untouched). */
const char *pr_token_split(const char *tok, char *id, size_t idlen);

/* 1 when name is a valid operator name (see PR_OPERATOR_NAME_MAX). */
int pr_operator_name_ok(const char *name);

#endif
