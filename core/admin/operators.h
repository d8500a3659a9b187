/*
 * operators.h - who is calling the admin API: operators' API tokens turned
 * into the request's principal (base/perms.h), failed authentications
 * counted and locked out (per operator in the store, per client address
 * here), the first admin made from admin.token, and the operators API
 * (accounts and their tokens).
 *
 * The admin router (admin.c) calls pr_operators_authenticate for every row
 * that needs an operator, before the method or the permission is looked
 * at; the handler then reads the principal in r->who (pr_api_actor for the
 * audit's actor). A second way to authenticate (a console session cookie)
 * belongs in pr_operators_authenticate, before the bearer token: it fills
 * the same r->who (pr_operators_set_principal, with its own enum
 * pr_auth_via) and calls done; a password sign-in checks
 * pr_operators_address_locked first and refuses through
 * pr_operators_refuse_auth, so both ways share the lockout and the audit.
 */
#ifndef PR_OPERATORS_H
#define PR_OPERATORS_H

#include "base/route.h"
#include "runtime/daemon.h"

/* The principal name of the shared admin.token under admin.legacy_token
 * (not a valid operator name: no operator can be called so). */
#define PR_LEGACY_PRINCIPAL "(admin.token)"

/* The channel the store NOTIFYs operators' changes on, the payload the
 * operator's name ("": every operator); etc/migrations/018_auth_notify.sql
 * fires it. */
#define PR_OPERATORS_NOTIFY_CHANNEL "payroute_operators"

/* Slots of the daemon's cache of verified tokens (d->op_cache,
 * base/authcache.h): an operator's tokens in use at once are few. */
#define PR_OPERATORS_CACHE_SLOTS 1024

/* The store said operator name (payload; "": every operator) changed, or
 * (payload NULL) the LISTEN connection is back and changes may have been
 * missed: the verified tokens of name (NULL, "": all) are forgotten. */
void pr_operators_cache_notified(struct pr_daemon *d, const char *payload);

/* Forgets the cached tokens of operator name at once, after this instance
 * changed it in the store (the NOTIFY comes later); NULL or "": nothing. */
void pr_operators_forget(struct pr_daemon *d, const char *name);

/* Authenticates r. On success fills r->who and calls done(r, arg); on
 * failure answers r (401, 429 when locked out, 503 without the store),
 * logged and audited, and calls nothing. */
void pr_operators_authenticate(struct pr_request *r,
			       void (*done)(struct pr_request *r, void *arg),
			       void *arg);

/* For a second way in (a console session, a password sign-in), the
 * pieces a token's authentication is made of: */

/* Fills r->who: operator name with roles (enum pr_role bits),
 * authenticated via (token_id: the token, else 0). */
void pr_operators_set_principal(struct pr_request *r, const char *name,
				unsigned roles, enum pr_auth_via via,
				int64_t token_id);

/* Seconds the client address of r stays locked out after failed
 * authentications (0: it is not); check it before trying a credential. */
int64_t pr_operators_address_locked(struct pr_request *r);

/* Refuses r's authentication: counts the failure on the client address,
 * and when count_account on operator name in the store (NULL: no operator
 * is known; see admin.lockout_*), logs and audits it ("auth_failed" with
 * the address and reason), then answers 429 when locked (the operator is
 * locked out), else 401 (the reason itself for "token expired", "token
 * revoked" and "operator disabled", a generic message otherwise). reason
 * is a static string. */
void pr_operators_refuse_auth(struct pr_request *r, const char *name,
			      const char *reason, int count_account,
			      int locked);

/* pr_operators_refuse_auth answering a 401 with message (a static string:
 * "wrong name or password" for a sign-in) instead of the token's. */
void pr_operators_refuse_auth_msg(struct pr_request *r, const char *name,
				  const char *reason, int count_account,
				  int locked, const char *message);

/* Authenticates r by the bearer token tok as pr_operators_authenticate
 * does with the Authorization header's (sessions.c: a sign-in with a
 * token): the same answers. */
void pr_operators_authenticate_token(struct pr_request *r, const char *tok,
				     void (*done)(struct pr_request *r,
						  void *arg),
				     void *arg);

/* The principal as whoami shows it: {"name", "roles", "permissions",
 * "via"}. New reference (NULL when out of memory). */
json_t *pr_operators_principal_json(const struct pr_principal *who);

/* Answers r 403 "forbidden" for perm (the route's): logged, and audited
 * (action "denied") before the answer goes out. */
void pr_operators_refuse(struct pr_request *r, enum pr_perm perm);

/* Makes the first admin ("admin", role admin, the token admin.token) when
 * the store has no operator yet; warns about admin.legacy_token. Calls
 * then(d) when done, whatever the outcome (a failure is logged). */
void pr_operators_bootstrap(struct pr_daemon *d,
			    void (*then)(struct pr_daemon *d));

/* The operators API (doc/openapi/admin.json). */
void pr_operators_whoami(struct pr_request *r, const struct pr_route_match *m);
void pr_operators_list(struct pr_request *r, const struct pr_route_match *m);
void pr_operators_get(struct pr_request *r, const struct pr_route_match *m);
void pr_operators_create(struct pr_request *r, const struct pr_route_match *m);
void pr_operators_update(struct pr_request *r, const struct pr_route_match *m);
void pr_operators_tokens_list(struct pr_request *r,
			      const struct pr_route_match *m);
void pr_operators_token_create(struct pr_request *r,
			       const struct pr_route_match *m);
void pr_operators_token_revoke(struct pr_request *r,
			       const struct pr_route_match *m);

/* The admin API's authentication figures as Prometheus text into buf
 * (len bytes): payroute_admin_auth_total{result} (ok, failed, locked: a
 * locked operator or address refused) and payroute_admin_denied_total
 * (403s), and the token cache's payroute_admin_auth_cache_total{result}
 * (hit, miss), payroute_admin_auth_cache_flushes_total and
 * payroute_admin_auth_cache_entries. Returns the length written, 0 when
 * it does not fit. */
size_t pr_operators_metrics(const struct pr_daemon *d, char *buf, size_t len);

/* param_ok of the {name} segment: pr_operator_name_ok. */
int pr_operators_name_ok(const char *s);

#endif
