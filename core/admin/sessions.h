/*
 * sessions.h - the console's sign-in: operators' passwords, sessions in an
 * HttpOnly cookie with idle and absolute time-outs, and the CSRF checks of
 * every state-changing request a cookie authenticates (doc/design.md §11,
 * "Passwords and sessions"; the store's side is
 * etc/migrations/012_sessions.sql).
 *
 * operators.c's pr_operators_authenticate hands a request without an
 * Authorization header but with the session cookie to
 * pr_sessions_authenticate, which fills the same principal (via
 * PR_VIA_SESSION) and calls done, or answers 401/403/429 itself.
 */
#ifndef PR_SESSIONS_H
#define PR_SESSIONS_H

#include "base/route.h"
#include "runtime/daemon.h"

/* The session cookie's name. */
#define PR_SESSION_COOKIE "payroute_session"

/* 1 when r carries the session cookie (well formed or not). */
int pr_sessions_cookie_present(struct pr_request *r);

/* Authenticates r by its session cookie: on success fills r->who and
 * calls done(r, arg), after the CSRF checks for a method other than GET
 * and HEAD; else answers r (401 expired/unknown, 403 csrf, 429 locked
 * out), logged and audited where it is a failure. */
void pr_sessions_authenticate(struct pr_request *r,
			      void (*done)(struct pr_request *r, void *arg),
			      void *arg);

/* The CSRF token of r's session (64 hex and a NUL into out): 0, or
 * -ENOENT when r has no well-formed session cookie. */
int pr_sessions_csrf(struct pr_request *r, char out[65]);

/* The API (doc/openapi/admin.json). */
/* POST /admin/v1/session {"name","password"} or {"token"}: no operator yet */
void pr_sessions_sign_in(struct pr_request *r, const struct pr_route_match *m);
/* DELETE /admin/v1/session */
void pr_sessions_sign_out(struct pr_request *r, const struct pr_route_match *m);
/* POST /admin/v1/operators/{name}/password {"password"} */
void pr_sessions_set_password(struct pr_request *r,
			      const struct pr_route_match *m);
/* POST /admin/v1/operators with a "password": operators.c checked name
 * and roles (roles: a PostgreSQL array literal); this checks pw against
 * the policy, hashes it off the loop, makes the operator with it and
 * answers 201 (or 400 naming "password", 409...). pw NULL: not a string,
 * refused. */
void pr_sessions_create_operator(struct pr_request *r, const char *name,
				 const char *roles, const char *pw);
/* POST /admin/v1/whoami/password {"old_password","password"} */
void pr_sessions_change_password(struct pr_request *r,
				 const struct pr_route_match *m);

#endif
