/*
 * route.h - the route tables of the two listeners: one row a method set
 * and a path pattern, with the handler and who may call it, as pgbouncer's
 * show_map keeps its SHOW commands. admin.c holds the tables; this is the
 * matcher, a pure function of a table, a method and a path (no request,
 * no I/O), which the unit tests call directly.
 *
 * A pattern is the path with named segments: "/admin/v1/channels/{code}"
 * takes one segment of at least one byte without '/', "{rest*}" (at the
 * end only) takes the rest of the path, '/' included, possibly empty.
 * Everything else must be the same byte for byte. A row may also give a
 * check every named segment must pass for the path to be the row's (a
 * channel code, a store id): a path that fails it is no row's, and goes on
 * to the rows below.
 *
 * The first row whose pattern takes the path decides what the path is;
 * of the rows with that same pattern, the one that takes the method is the
 * route. When none does, the answer is 405 with an Allow header of their
 * methods (pr_route_allow).
 */
#ifndef PR_ROUTE_H
#define PR_ROUTE_H

#include <stddef.h>

#include "base/perms.h"

struct pr_request;

/* Methods, as bits of a row's set. HEAD is a method of its own: a row that
 * takes GET takes HEAD only when it says so. */
enum pr_method {
	PR_GET = 1u << 0,
	PR_HEAD = 1u << 1,
	PR_POST = 1u << 2,
	PR_PUT = 1u << 3,
	PR_PATCH = 1u << 4,
	PR_DELETE = 1u << 5,
	PR_OTHER = 1u << 6, /* a method none of the above (OPTIONS...) */
};
/* GET and HEAD */
#define PR_READ (PR_GET | PR_HEAD)
/* every method, PR_OTHER included (for a catch-all row) */
#define PR_ANY (~0u)

/* Who may call a row. */
enum pr_route_auth {
	PR_AUTH_NONE,	  /* anyone: health, readiness, metrics, console */
	PR_AUTH_ADMIN,	  /* an operator (admin/operators.c: a token),
			   * authenticated before the method is looked at
			   * (a 401 comes before a 405), then holding the
			   * row's permission (403 otherwise) */
	PR_AUTH_MERCHANT, /* a merchant API key: the handler authenticates
			   * it once the route and the method are settled */
	PR_AUTH_CHANNEL,  /* a channel's callback: its driver checks the
			   * signature */
};

#define PR_ROUTE_MAX_PARAMS 4

struct pr_route_match;

/* A handler answers r; m holds the named segments of its path. */
typedef void (*pr_route_fn)(struct pr_request *r,
			    const struct pr_route_match *m);

struct pr_route {
	unsigned methods;    /* enum pr_method bits */
	const char *pattern; /* "/admin/v1/channels/{code}" */
	pr_route_fn handle;
	enum pr_route_auth auth;
	/* NULL, or 1 when a named segment's value may be this row's */
	int (*param_ok)(const char *value);
	/* PR_AUTH_ADMIN rows: the permission an operator needs (perms.h);
	 * PR_PERM_NONE on every other row */
	enum pr_perm perm;
};

/* What pr_route_find found. Read the named segments with pr_route_param. */
struct pr_route_match {
	/* the route; without one for the method (-ENOTSUP), the first row
	 * that took the path (its auth says who may be told 405) */
	const struct pr_route *route;
	unsigned allowed; /* -ENOTSUP: the methods of the pattern's rows */
	size_t n_params;
	struct {
		const char *name; /* into the pattern, name_len bytes */
		size_t name_len;
		size_t at; /* the value: buf + at, NUL-terminated */
	} params[PR_ROUTE_MAX_PARAMS];
	char buf[1024];
};

/* Finds the route of method (one enum pr_method bit) and path in the n rows of table; m is filled in
 * every case. Returns 0 (m->route is the route), -ENOTSUP (rows take the
 * path but not the method: m->route is the first, m->allowed their
 * methods), or -ENOENT (no row takes the path; m->route is NULL). */
int pr_route_find(const struct pr_route *table, size_t n, unsigned method,
		  const char *path, struct pr_route_match *m);

/* The value of the named segment name of m, or NULL when m has none. */
const char *pr_route_param(const struct pr_route_match *m, const char *name);

/* Writes the methods of the set (enum pr_method bits) as an Allow header
 * value into buf: "GET, PUT, DELETE", in the order GET, POST, PUT, PATCH,
 * DELETE (HEAD goes with GET and is not named). Returns buf. */
char *pr_route_allow(unsigned methods, char *buf, size_t len);

/* Checks the patterns of a table: braces closed, names not empty, "*"
 * only on the last segment, at most PR_ROUTE_MAX_PARAMS of them, every
 * row with a handler, a permission on every PR_AUTH_ADMIN row and on no
 * other. Returns 0, or -EINVAL with err naming the first bad
 * row. */
int pr_route_check(const struct pr_route *table, size_t n, char *err,
		   size_t len);

/* 1 when s is a store id (a bigint key): 1 to 18 digits. For param_ok. */
int pr_route_id_ok(const char *s);

#endif
