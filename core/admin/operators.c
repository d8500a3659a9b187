/*
 * operators.c - operators on the admin API: who a request comes from, and
 * the accounts and tokens that say so (operators.h; the store's side is
 * etc/migrations/011_operators.sql).
 *
 * Authentication. An operator's API token is "pro_<id>_<64 hex>": 32
 * bytes of the OpenSSL CSPRNG behind the token's row id. Only the SHA-256
 * of the hex part is stored: a random 256-bit secret has no dictionary to
 * slow down, so a fast hash is right (a slow KDF is for passwords), and it
 * is shown once, when made. The id finds the row by its key (one indexed
 * read) and the hashes are compared in constant time. Any other bearer
 * (the bootstrap token, admin.token as configured) is looked up by the
 * SHA-256 of the whole token (a unique index); a lookup by a hash says
 * nothing through timing about a secret. Under admin.legacy_token the
 * configured token is also taken as it is, without the store, as the
 * principal "(admin.token)" with the role admin (warned at start).
 *
 * Failures. A wrong secret of a known token counts on its operator in the
 * store (pr_operator_auth_failed: admin.lockout_failures within
 * admin.lockout_window_s lock the account for admin.lockout_duration_s),
 * and every failure counts on the client's address here, in memory
 * (admin.lockout_address_failures; each instance counts its own). A
 * locked account or address is answered 429 with Retry-After. Every
 * failure is logged and audited (action "auth_failed"); a request without
 * any credential is only answered 401. A token's use sets its last_used_at
 * (at most once a minute) and is logged then.
 *
 * Permissions. The router (admin.c) checks the route's permission against
 * r->who once this file has filled it; a refusal (pr_operators_refuse) is
 * logged and audited (action "denied") before the 403 goes out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <openssl/crypto.h>

#include "admin/operators.h"
#include "admin/sessions.h"
#include "base/authcache.h"
#include "base/clock.h"
#include "domain/tz.h"
#include "runtime/apiutil.h"
#include "runtime/crypto.h"
#include "runtime/log.h"

#define TOKEN_PREFIX PR_TOKEN_PREFIX
#define SECRET_HEX PR_TOKEN_SECRET_HEX
#define MAX_BEARER 4096
#define USE_EVERY_MS 60000 /* a token's last_used_at is written so often */

/* ------------------------------------------------------ address lockout */

/* Failed authentications per client address, in this process: a small
 * open-addressed table (ADDR_SLOTS, probing ADDR_PROBE slots; when they
 * are all taken the one whose window began first and that is not locked
 * is reused, so a flood of addresses cannot unlock one). */
#define ADDR_SLOTS 1024
#define ADDR_PROBE 16

struct addr_slot {
	char addr[64];
	int failures;
	int64_t first_ms;
	int64_t locked_until_ms;
};
static struct addr_slot addr_table[ADDR_SLOTS];

/* /metrics: counted by this process since it started */
static unsigned long n_auth_ok, n_auth_failed, n_auth_locked, n_denied;

static size_t addr_hash(const char *a)
{
	size_t h = 5381;

	while (*a)
		h = h * 33 + (unsigned char)*a++;
	return h;
}

/* The slot of addr, or when create a new one (NULL when none is free). */
static struct addr_slot *addr_find(const char *addr, int create, int64_t now)
{
	size_t h = addr_hash(addr);
	struct addr_slot *victim = NULL;

	for (size_t i = 0; i < ADDR_PROBE; i++) {
		struct addr_slot *s = &addr_table[(h + i) % ADDR_SLOTS];

		if (s->addr[0] && strcmp(s->addr, addr) == 0)
			return s;
		if (!create)
			continue;
		if (!s->addr[0]) {
			if (!victim || victim->addr[0])
				victim = s;
		} else if (s->locked_until_ms <= now &&
			   (!victim || (victim->addr[0] &&
					s->first_ms < victim->first_ms))) {
			victim = s;
		}
	}
	if (victim) {
		memset(victim, 0, sizeof(*victim));
		snprintf(victim->addr, sizeof(victim->addr), "%s", addr);
	}
	return victim;
}

/* Seconds addr stays locked (0: not locked). */
static int64_t addr_locked_s(const char *addr, int64_t now)
{
	struct addr_slot *s = addr_find(addr, 0, now);

	if (!s || s->locked_until_ms <= now)
		return 0;
	return (s->locked_until_ms - now + 999) / 1000;
}

/* Counts a failure of addr; returns 1 when it locks the address now. */
static int addr_failed(const struct pr_config *cfg, const char *addr,
		       int64_t now)
{
	struct addr_slot *s;

	if (cfg->admin_lockout_address_failures <= 0)
		return 0;
	s = addr_find(addr, 1, now);
	if (!s)
		return 0;
	if (!s->failures ||
	    now - s->first_ms >= (int64_t)cfg->admin_lockout_window_s * 1000) {
		s->failures = 0;
		s->first_ms = now;
	}
	if (++s->failures < cfg->admin_lockout_address_failures)
		return 0;
	s->failures = 0;
	s->locked_until_ms =
		now + (int64_t)cfg->admin_lockout_duration_s * 1000;
	return 1;
}

/* ------------------------------------------------------- authentication */

struct auth {
	struct pr_request *r;
	void (*done)(struct pr_request *r, void *arg);
	void *arg;
	char addr[64];
	char hash[65];			     /* hex SHA-256 of the secret */
	char name[PR_OPERATOR_NAME_MAX + 1]; /* a failure's operator */
	const char *reason;		     /* a failure's, static */
	const char *message; /* a 401's message, static; NULL: the token's */
	int status;	     /* 401 or 429 */
	/* the token cache: what finds the token there; when the store's
	 * answer may be kept, the cache's epoch and the time it was asked */
	char key[PR_AUTHCACHE_KEY_MAX + 1];
	int cacheable;
	uint64_t epoch;
	int64_t asked_ms;
};

/* roles: "admin,viewer" as array_to_string gives them. */
static unsigned parse_roles(const char *s)
{
	unsigned roles = 0;
	char one[32];

	while (*s) {
		size_t n = strcspn(s, ",");

		if (n < sizeof(one)) {
			memcpy(one, s, n);
			one[n] = '\0';
			roles |= pr_role_parse(one);
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return roles;
}

static void reply_unauthorized(struct pr_request *r, const char *message)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
			  "WWW-Authenticate", "Bearer");
	pr_api_reply_err(r, 401, "unauthorized", NULL, "%s", message);
}

static void reply_locked(struct pr_request *r, int64_t secs, const char *what)
{
	char ra[32];

	snprintf(ra, sizeof(ra), "%lld", (long long)(secs > 0 ? secs : 1));
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
			  "Retry-After", ra);
	pr_api_reply_err(r, 429, "locked_out", NULL,
			 "%s is locked out after too many failed "
			 "authentications; try again in %s seconds",
			 what, ra);
}

static void on_failure_audited(PGresult *res, const char *err, void *arg)
{
	struct auth *a = arg;
	struct pr_request *r = a->r;

	/* the failure counted (or locked the account) in the store: this
	 * instance forgets the operator's tokens before it answers */
	if (a->name[0])
		pr_operators_forget(r->d, a->name);
	if (!res)
		pr_warn("admin: cannot audit a failed authentication from %s: "
			"%s",
			a->addr, err);
	else if (!PQgetisnull(res, 0, 0))
		pr_warn("admin: operator %s locked until %s after repeated "
			"failed authentications (the last from %s)",
			a->name, PQgetvalue(res, 0, 0), a->addr);
	if (a->status == 429)
		reply_locked(r, r->gen->config->admin_lockout_duration_s,
			     a->name[0] ? "this operator" : "this address");
	else if (a->message)
		reply_unauthorized(r, a->message);
	else if (strcmp(a->reason, "token expired") == 0 ||
		 strcmp(a->reason, "token revoked") == 0 ||
		 strcmp(a->reason, "operator disabled") == 0)
		reply_unauthorized(r, a->reason);
	else
		reply_unauthorized(r, "a valid operator token is required "
				      "(Authorization: Bearer)");
	free(a);
}

/* Fails a: logs, counts (count_account: on the operator too), audits,
 * then answers. */
static void fail(struct auth *a, const char *reason, int count_account)
{
	struct pr_request *r = a->r;
	const struct pr_config *cfg = r->gen->config;
	char max[16], win[16], lock[16];
	const char *p[6];

	a->reason = reason;
	if (!a->status)
		a->status = 401;
	if (a->status == 429)
		n_auth_locked++;
	else
		n_auth_failed++;
	if (addr_failed(cfg, a->addr, pr_now_ms())) {
		pr_warn("admin: address %s locked for %d s after %d failed "
			"authentications",
			a->addr, cfg->admin_lockout_duration_s,
			cfg->admin_lockout_address_failures);
	}
	pr_warn("admin: authentication failed from %s for %s %s: %s%s%s",
		a->addr, pr_http_method(r->req), r->path, reason,
		a->name[0] ? ", operator " : "", a->name);
	snprintf(max, sizeof(max), "%d",
		 count_account ? cfg->admin_lockout_failures : 0);
	snprintf(win, sizeof(win), "%d", cfg->admin_lockout_window_s);
	snprintf(lock, sizeof(lock), "%d", cfg->admin_lockout_duration_s);
	p[0] = a->name[0] ? a->name : NULL;
	p[1] = a->addr;
	p[2] = reason;
	p[3] = max;
	p[4] = win;
	p[5] = lock;
	if (pr_db_query(r->d->db,
			"SELECT pr_rfc3339(pr_operator_auth_failed($1, $2, $3, "
			"$4::int, $5::int, $6::int))",
			6, p, on_failure_audited, a) < 0) {
		pr_api_store_unavailable(r);
		free(a);
	}
}

static void on_used(PGresult *res, const char *err, void *arg)
{
	if (!res)
		pr_warn("admin: cannot record a token's use: %s", err);
}

/* Writes the use of r's token (r->who) to the store: its last_used_at,
 * and the operator's failure count starts again. Logged. */
static void record_use(struct pr_request *r, const char *addr)
{
	char id[24];
	const char *p[2] = { id, r->who.name };

	snprintf(id, sizeof(id), "%lld", (long long)r->who.token_id);
	pr_info("admin: operator %s uses token %s from %s", r->who.name, id,
		addr);
	if (pr_db_query(r->d->db,
			"WITH u AS (UPDATE operator_tokens SET "
			"last_used_at = now() WHERE id = $1) UPDATE "
			"operators SET failed_auth = 0, "
			"first_failed_at = NULL WHERE name = $2 AND "
			"failed_auth > 0",
			2, p, on_used, NULL) < 0)
		pr_warn("admin: cannot record a token's use: the "
			"store is busy");
}

/* How long a verified token is reused at r (admin.auth_cache_ms), or 0:
 * only while the store's changes reach this instance (the LISTEN
 * connection is up), since a change sent meanwhile would be lost. */
static int64_t cache_ttl(struct pr_request *r)
{
	int ttl = r->gen->config->admin_auth_cache_ms;

	return ttl > 0 && r->d->op_cache && pr_db_listening(r->d->db) ? ttl :
									 0;
}

/* Keeps what the store verified for a (r->who filled) in the token cache,
 * unless anything was forgotten since it was asked. res is on_token's
 * row; used: its use was just written. */
static void cache_keep(struct auth *a, PGresult *res, int used)
{
	struct pr_request *r = a->r;
	struct pr_authcache_ent e;
	int64_t now = pr_mono_ms();

	if (!a->cacheable)
		return;
	memset(&e, 0, sizeof(e));
	snprintf(e.key, sizeof(e.key), "%s", a->key);
	memcpy(e.hash, a->hash, sizeof(e.hash));
	e.who = r->who;
	e.at_ms = a->asked_ms;
	/* the expiry as the time left by the store's clock, from when it
	 * was asked: earlier than the true one, never later */
	e.until_ms = PQgetisnull(res, 0, 9) ?
			     INT64_MAX :
			     a->asked_ms + strtoll(PQgetvalue(res, 0, 9), NULL, 10);
	e.used_ms = used || PQgetisnull(res, 0, 10) ?
			    now :
			    now - strtoll(PQgetvalue(res, 0, 10), NULL, 10);
	if (pr_authcache_put(r->d->op_cache, a->epoch, &e) < 0)
		pr_debug("admin: token %s of operator %s not cached: the "
			 "cache was emptied while the store was asked",
			 a->key, r->who.name);
	OPENSSL_cleanse(&e, sizeof(e));
}

/* Authenticates a by the token cache's entry e (its hash compared in
 * constant time, a wrong secret counted as the store's answer would be):
 * no store round trip, but for the token's use once a minute. */
static void from_cache(struct auth *a, struct pr_authcache_ent *e,
		       int64_t now)
{
	struct pr_request *r = a->r;

	if (pr_memeq_ct(e->hash, a->hash, 64) != 0) {
		snprintf(a->name, sizeof(a->name), "%s", e->who.name);
		fail(a, "wrong token secret", 1);
		return;
	}
	r->who = e->who;
	if (now - e->used_ms >= USE_EVERY_MS) {
		e->used_ms = now;
		record_use(r, a->addr);
	}
	n_auth_ok++;
	a->done(r, a->arg);
	free(a);
}

static void on_token(PGresult *res, const char *err, void *arg)
{
	struct auth *a = arg;
	struct pr_request *r = a->r;
	int ok, used;

	if (!res) {
		pr_warn("admin: token lookup failed: %s", err);
		pr_api_store_unavailable(r);
		free(a);
		return;
	}
	if (PQntuples(res) != 1) {
		fail(a, "unknown token", 0);
		return;
	}
	snprintf(a->name, sizeof(a->name), "%s", PQgetvalue(res, 0, 1));
	ok = strlen(PQgetvalue(res, 0, 0)) == 64 &&
	     pr_memeq_ct(PQgetvalue(res, 0, 0), a->hash, 64) == 0;
	if (!ok) {
		fail(a, "wrong token secret", 1);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 6), "t") == 0) {
		a->status = 429;
		fail(a, "account locked", 0);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 4), "t") == 0) {
		fail(a, "token revoked", 0);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 5), "t") == 0) {
		fail(a, "token expired", 0);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "active") != 0) {
		fail(a, "operator disabled", 0);
		return;
	}
	pr_operators_set_principal(r, a->name,
				   parse_roles(PQgetvalue(res, 0, 2)),
				   PR_VIA_TOKEN,
				   strtoll(PQgetvalue(res, 0, 8), NULL, 10));
	used = strcmp(PQgetvalue(res, 0, 7), "t") == 0;
	if (used)
		record_use(r, a->addr);
	cache_keep(a, res, used);
	n_auth_ok++;
	a->done(r, a->arg);
	free(a);
}

#define TOKEN_COLUMNS                                                          \
	"SELECT t.hash, o.name, array_to_string(o.roles, ','), o.state, "      \
	"t.revoked_at IS NOT NULL, coalesce(t.expires_at <= now(), false), "   \
	"coalesce(o.locked_until > now(), false), (t.last_used_at IS NULL "    \
	"OR t.last_used_at < now() - interval '60 seconds' OR "                \
	"o.failed_auth > 0), t.id, "                                           \
	"floor(extract(epoch FROM t.expires_at - now()) * 1000)::bigint, "     \
	"ceil(extract(epoch FROM now() - t.last_used_at) * 1000)::bigint "     \
	"FROM operator_tokens t JOIN operators o ON o.name = t.operator "

void pr_operators_set_principal(struct pr_request *r, const char *name,
				unsigned roles, enum pr_auth_via via,
				int64_t token_id)
{
	memset(&r->who, 0, sizeof(r->who));
	snprintf(r->who.name, sizeof(r->who.name), "%s", name);
	r->who.roles = roles;
	r->who.perms = pr_perms_of(roles);
	r->who.via = via;
	r->who.token_id = token_id;
}

int64_t pr_operators_address_locked(struct pr_request *r)
{
	char addr[64];

	return addr_locked_s(pr_api_client_addr(r, addr, sizeof(addr)), pr_now_ms());
}

void pr_operators_refuse_auth(struct pr_request *r, const char *name,
			      const char *reason, int count_account, int locked)
{
	pr_operators_refuse_auth_msg(r, name, reason, count_account, locked,
				     NULL);
}

void pr_operators_refuse_auth_msg(struct pr_request *r, const char *name,
				  const char *reason, int count_account,
				  int locked, const char *message)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (!a) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	a->r = r;
	pr_api_client_addr(r, a->addr, sizeof(a->addr));
	if (name)
		snprintf(a->name, sizeof(a->name), "%s", name);
	a->status = locked ? 429 : 401;
	a->message = message;
	fail(a, reason, count_account);
}

void pr_operators_authenticate(struct pr_request *r,
			       void (*done)(struct pr_request *r, void *arg),
			       void *arg)
{
	const char *h = pr_api_req_header(r, "Authorization");

	/* The console's session cookie (sessions.c), when no bearer token
	 * is given: a bearer token wins, and needs no CSRF token. */
	if (!h && pr_sessions_cookie_present(r)) {
		pr_sessions_authenticate(r, done, arg);
		return;
	}
	if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
		reply_unauthorized(r, "a valid operator token is required "
				      "(Authorization: Bearer)");
		return;
	}
	pr_operators_authenticate_token(r, h + 7, done, arg);
}

void pr_operators_authenticate_token(struct pr_request *r, const char *tok,
				     void (*done)(struct pr_request *r,
						  void *arg),
				     void *arg)
{
	const struct pr_config *cfg = r->gen->config;
	const char *secret;
	char id[20], addr[64];
	struct auth *a;
	int64_t locked, ttl;
	const char *p[1];

	locked = pr_operators_address_locked(r);
	if (locked) {
		pr_warn("admin: refused %s %s from %s: the address is locked "
			"out",
			pr_http_method(r->req), r->path,
			pr_api_client_addr(r, addr, sizeof(addr)));
		n_auth_locked++;
		reply_locked(r, locked, "this address");
		return;
	}
	if (strlen(tok) > MAX_BEARER) {
		pr_operators_refuse_auth(r, NULL, "malformed token", 0, 0);
		return;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	a->r = r;
	a->done = done;
	a->arg = arg;
	pr_api_client_addr(r, a->addr, sizeof(a->addr));
	if (cfg->admin_legacy_token && cfg->admin_token &&
	    strlen(tok) == strlen(cfg->admin_token) &&
	    pr_memeq_ct(tok, cfg->admin_token, strlen(tok)) == 0) {
		pr_operators_set_principal(r, PR_LEGACY_PRINCIPAL,
					   PR_ROLE_ADMIN, PR_VIA_LEGACY, 0);
		n_auth_ok++;
		free(a);
		done(r, arg);
		return;
	}
	secret = pr_token_split(tok, id, sizeof(id));
	if (pr_sha256_hex(secret ? secret : tok, a->hash) < 0) {
		free(a);
		pr_api_reply_err(r, 500, "internal", NULL, "cannot hash");
		return;
	}
	snprintf(a->key, sizeof(a->key), "%s%s", secret ? "t" : "h",
		 secret ? id : a->hash);
	ttl = cache_ttl(r);
	if (ttl > 0) {
		int64_t now = pr_mono_ms();
		struct pr_authcache_ent *e =
			pr_authcache_get(r->d->op_cache, a->key, now, ttl);

		if (e) {
			from_cache(a, e, now);
			return;
		}
		a->cacheable = 1;
		a->epoch = pr_authcache_epoch(r->d->op_cache);
		a->asked_ms = now;
	}
	p[0] = secret ? id : a->hash;
	if (pr_db_query(r->d->db,
			secret ? TOKEN_COLUMNS "WHERE t.id = $1::bigint" :
				 TOKEN_COLUMNS "WHERE t.hash = $1",
			1, p, on_token, a) < 0) {
		free(a);
		pr_api_store_unavailable(r);
	}
}

/* ---------------------------------------------------------- refusal */

struct refusal {
	struct pr_request *r;
	enum pr_perm perm;
};

static void on_refusal_audited(PGresult *res, const char *err, void *arg)
{
	struct refusal *f = arg;

	if (!res)
		pr_warn("admin: cannot audit a refusal: %s", err);
	pr_api_reply_err(f->r, 403, "forbidden", NULL,
			 "operator %s may not do this: it needs the "
			 "permission %s, which none of its roles holds",
			 f->r->who.name, pr_perm_name(f->perm));
	free(f);
}

/* The roles of p as a JSON array text ("[\"viewer\"]") into buf. */
static const char *roles_json(unsigned roles, char *buf, size_t len)
{
	size_t n = 0;

	n += (size_t)snprintf(buf + n, len - n, "[");
	for (unsigned b = 1; b < (1u << PR_ROLE_N) && n < len; b <<= 1)
		if (roles & b)
			n += (size_t)snprintf(buf + n, len - n, "%s\"%s\"",
					      n > 1 ? "," : "",
					      pr_role_name((enum pr_role)b));
	if (n < len)
		snprintf(buf + n, len - n, "]");
	return buf;
}

void pr_operators_refuse(struct pr_request *r, enum pr_perm perm)
{
	struct refusal *f = calloc(1, sizeof(*f));
	char obj[1100], addr[64], roles[96];
	const char *p[5];

	n_denied++;
	snprintf(obj, sizeof(obj), "%s %s", pr_http_method(r->req), r->path);
	pr_api_client_addr(r, addr, sizeof(addr));
	pr_warn("admin: refused %s to operator %s from %s: needs the "
		"permission %s",
		obj, r->who.name, addr, pr_perm_name(perm));
	if (!f) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	f->r = r;
	f->perm = perm;
	p[0] = r->who.name;
	p[1] = obj;
	p[2] = pr_perm_name(perm);
	p[3] = roles_json(r->who.roles, roles, sizeof(roles));
	p[4] = addr;
	if (pr_db_query(r->d->db,
			"INSERT INTO audit_log (actor, action, object_kind, "
			"object_id, after, note) VALUES ($1, 'denied', "
			"'endpoint', $2, jsonb_build_object('permission', "
			"$3::text, 'roles', $4::jsonb, 'address', $5::text), "
			"'needs ' || $3::text)",
			5, p, on_refusal_audited, f) < 0) {
		pr_warn("admin: cannot audit a refusal: the store is busy");
		on_refusal_audited(NULL, "store busy", f);
	}
}

/* ---------------------------------------------------------- bootstrap */

struct boot {
	struct pr_daemon *d;
	void (*then)(struct pr_daemon *d);
};

static void on_bootstrap(PGresult *res, const char *err, void *arg)
{
	struct boot *b = arg;

	if (!res)
		pr_warn("operators: cannot make the first admin from "
			"admin.token: %s",
			err);
	else if (strcmp(PQgetvalue(res, 0, 0), "created") == 0)
		pr_info("operators: no operator yet: made the first, \"admin\" "
			"(role admin), whose token is admin.token; make the "
			"others with payroutectl operator add");
	b->then(b->d);
	free(b);
}

void pr_operators_bootstrap(struct pr_daemon *d,
			    void (*then)(struct pr_daemon *d))
{
	const struct pr_config *cfg = d->gen->config;
	struct boot *b;
	char hash[65];
	const char *p[2];

	if (cfg->admin_legacy_token)
		pr_warn("admin.legacy_token is on: admin.token is accepted as "
			"the old shared token, acting as \"%s\" with the role "
			"admin; give each person an operator and a token of "
			"their own and turn it off",
			PR_LEGACY_PRINCIPAL);
	b = calloc(1, sizeof(*b));
	if (!cfg->admin_token || !b || pr_sha256_hex(cfg->admin_token, hash) < 0) {
		free(b);
		then(d);
		return;
	}
	b->d = d;
	b->then = then;
	p[0] = "admin";
	p[1] = hash;
	if (pr_db_query(d->db, "SELECT pr_operator_bootstrap($1, $2)", 2, p,
			on_bootstrap, b) < 0) {
		pr_warn("operators: cannot make the first admin: the store is "
			"busy");
		free(b);
		then(d);
	}
	OPENSSL_cleanse(hash, sizeof(hash));
}

void pr_operators_forget(struct pr_daemon *d, const char *name)
{
	if (d && name && *name)
		pr_authcache_drop_operator(d->op_cache, name);
}

void pr_operators_cache_notified(struct pr_daemon *d, const char *payload)
{
	size_t n;

	if (!payload || !*payload) {
		pr_authcache_flush(d->op_cache);
		pr_info("admin: token cache emptied: %s",
			payload ? "every operator changed in the store" :
				  "listening for operator changes (any made "
				  "meanwhile may have been missed)");
		return;
	}
	n = pr_authcache_drop_operator(d->op_cache, payload);
	pr_debug("admin: operator %s changed in the store: %zu cached "
		 "token(s) forgotten",
		 payload, n);
}

size_t pr_operators_metrics(const struct pr_daemon *d, char *buf, size_t len)
{
	struct pr_authcache_stats st;
	int n;

	pr_authcache_get_stats(d ? d->op_cache : NULL, &st);
	n = snprintf(
		buf, len,
		"# HELP payroute_admin_auth_total Admin API authentications, by "
		"outcome (locked: a locked operator or address refused).\n"
		"# TYPE payroute_admin_auth_total counter\n"
		"payroute_admin_auth_total{result=\"ok\"} %lu\n"
		"payroute_admin_auth_total{result=\"failed\"} %lu\n"
		"payroute_admin_auth_total{result=\"locked\"} %lu\n"
		"# HELP payroute_admin_denied_total Admin API calls refused "
		"(403) for want of a permission.\n"
		"# TYPE payroute_admin_denied_total counter\n"
		"payroute_admin_denied_total %lu\n"
		"# HELP payroute_admin_auth_cache_total Operator token checks "
		"by the token cache (hit: no store round trip).\n"
		"# TYPE payroute_admin_auth_cache_total counter\n"
		"payroute_admin_auth_cache_total{result=\"hit\"} %lu\n"
		"payroute_admin_auth_cache_total{result=\"miss\"} %lu\n"
		"# HELP payroute_admin_auth_cache_flushes_total Times the token "
		"cache was emptied whole (LISTEN connection back, TRUNCATE).\n"
		"# TYPE payroute_admin_auth_cache_flushes_total counter\n"
		"payroute_admin_auth_cache_flushes_total %lu\n"
		"# HELP payroute_admin_auth_cache_entries Verified tokens "
		"held by the token cache.\n"
		"# TYPE payroute_admin_auth_cache_entries gauge\n"
		"payroute_admin_auth_cache_entries %zu\n",
		n_auth_ok, n_auth_failed, n_auth_locked, n_denied, st.hits,
		st.misses, st.flushes, st.entries);

	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

int pr_operators_name_ok(const char *s)
{
	return pr_operator_name_ok(s);
}

/* ---------------------------------------------------------------- API */

json_t *pr_operators_principal_json(const struct pr_principal *who)
{
	json_t *roles = json_array(), *perms = json_array();
	const char *via = who->via == PR_VIA_LEGACY  ? "legacy_token" :
			  who->via == PR_VIA_SESSION ? "session" :
						       "token";

	for (unsigned b = 1; roles && b < (1u << PR_ROLE_N); b <<= 1)
		if (who->roles & b)
			json_array_append_new(roles, json_string(pr_role_name(
							     (enum pr_role)b)));
	for (int p = PR_PERM_SELF; perms && p < PR_PERM_N; p++)
		if (pr_perm_allowed(who, (enum pr_perm)p))
			json_array_append_new(perms, json_string(pr_perm_name(
							     (enum pr_perm)p)));
	return json_pack("{s:s,s:o,s:o,s:s}", "name", who->name, "roles",
			 roles, "permissions", perms, "via", via);
}

/* GET /admin/v1/whoami: the principal, for the console and payroutectl:
 * {"name", "roles": [...], "permissions": [...], "via"}; by a console
 * session also "csrf_token" (sessions.c: the page that reloads gets it
 * again from here, as only its own origin can read this answer). */
void pr_operators_whoami(struct pr_request *r, const struct pr_route_match *m)
{
	json_t *j = pr_operators_principal_json(&r->who);
	char csrf[65];

	if (j && r->who.via == PR_VIA_SESSION && pr_sessions_csrf(r, csrf) == 0)
		json_object_set_new(j, "csrf_token", json_string(csrf));
	pr_request_reply(r, 200, j);
}

/* Answers r with the JSON text of column 0 of the one row of res as
 * status, 404 (what) when there is none. */
/* Answers r with the row a write or read returned (its one column, the
 * JSON of an operator or a token). forget: the row is of a write that may
 * change what a cached token of its operator ("name" of an operator's
 * JSON, "operator" of a token's) authenticates; that operator's tokens
 * are forgotten here at once, before the answer, as every instance does
 * when the store's NOTIFY reaches it: a next request to this instance
 * cannot beat the notification. */
static void reply_row_forget(struct pr_request *r, PGresult *res,
			     const char *err, int status, const char *what,
			     const char *forget)
{
	json_t *j;

	if (!res) {
		pr_api_reply_db_error(r, "operators", what, err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such %s",
				 strstr(what, "token") ? "token" : "operator");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL, "cannot read the %s",
				 what);
		return;
	}
	if (forget)
		pr_operators_forget(
			r->d, json_string_value(json_object_get(j, forget)));
	pr_request_reply(r, status, j);
}

static void reply_row(struct pr_request *r, PGresult *res, const char *err,
		      int status, const char *what)
{
	reply_row_forget(r, res, err, status, what, NULL);
}

static void on_list(PGresult *res, const char *err, void *arg)
{
	reply_row(arg, res, err, 200, "operator list");
}

/* GET /admin/v1/operators */
void pr_operators_list(struct pr_request *r, const struct pr_route_match *m)
{
	pr_api_query(
		r,
		"SELECT jsonb_build_object('operators', coalesce(jsonb_agg("
		"pr_operator_json(o) ORDER BY o.name), '[]'))::text FROM "
		"operators o",
		0, NULL, on_list);
}

static void on_get(PGresult *res, const char *err, void *arg)
{
	reply_row(arg, res, err, 200, "operator");
}

/* GET /admin/v1/operators/{name} */
void pr_operators_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *p[1] = { pr_route_param(m, "name") };

	pr_api_query(r,
		     "SELECT pr_operator_json(o)::text FROM operators o WHERE "
		     "o.name = $1",
		     1, p, on_get);
}

/* The roles field of body as a PostgreSQL array literal ("{viewer,admin}")
 * into buf: 0; -EINVAL after answering 400 naming "roles"; 1 when absent
 * and not required (buf is then ""). */
static int roles_field(struct pr_request *r, json_t *body, int required,
		       char *buf, size_t len)
{
	json_t *arr = json_object_get(body, "roles"), *v;
	size_t i, n = 0;
	unsigned seen = 0;

	buf[0] = '\0';
	if (!arr && !required)
		return 1;
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		pr_api_reply_field(r, "roles",
				   "roles: a non-empty array of role names "
				   "(viewer, operator, admin)");
		return -EINVAL;
	}
	n += (size_t)snprintf(buf, len, "{");
	json_array_foreach(arr, i, v) {
		unsigned role = pr_role_parse(json_string_value(v));

		if (!role || (seen & role)) {
			pr_api_reply_field(r, "roles",
					   "roles[%zu]: %s; the roles are "
					   "viewer, operator and admin, each "
					   "at most once",
					   i,
					   role ? "named twice" : "not a role");
			return -EINVAL;
		}
		seen |= role;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "",
				      json_string_value(v));
	}
	snprintf(buf + n, len - n, "}");
	return 0;
}

static void on_created(PGresult *res, const char *err, void *arg)
{
	reply_row(arg, res, err, 201, "create operator");
}

/* POST /admin/v1/operators {"name", "roles": [...], "password"?} */
void pr_operators_create(struct pr_request *r, const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);
	const char *name, *actor, *note, *p[4];
	char roles[64];

	if (!body)
		return;
	name = json_string_value(json_object_get(body, "name"));
	if (!pr_operator_name_ok(name)) {
		pr_api_reply_field(r, "name",
				   "name: 1 to %d characters of a-z, 0-9 and "
				   "._@-, starting with a letter or digit",
				   PR_OPERATOR_NAME_MAX);
		goto out;
	}
	if (roles_field(r, body, 1, roles, sizeof(roles)) < 0 ||
	    pr_api_audit_headers(r, &actor, &note) < 0)
		goto out;
	if (json_object_get(body, "password")) {
		/* hashed off the loop first (sessions.c) */
		pr_sessions_create_operator(
			r, name, roles,
			json_string_value(json_object_get(body, "password")));
		goto out;
	}
	p[0] = name;
	p[1] = roles;
	p[2] = actor;
	p[3] = note;
	pr_info("operators: %s creates operator %s %s", actor, name, roles);
	pr_api_query(r,
		     "WITH o AS (INSERT INTO operators (name, roles, "
		     "created_by) VALUES ($1, $2::text[], $3) RETURNING *), a "
		     "AS (INSERT INTO audit_log (actor, action, object_kind, "
		     "object_id, after, note) SELECT $3, 'create', 'operator', "
		     "o.name, pr_operator_json(o), $4 FROM o) SELECT "
		     "pr_operator_json(o)::text FROM o",
		     4, p, on_created);
out:
	json_decref(body);
}

static void on_updated(PGresult *res, const char *err, void *arg)
{
	reply_row_forget(arg, res, err, 200, "update operator", "name");
}

/* PATCH /admin/v1/operators/{name} {"roles"?, "state"?}: the store keeps
 * one active admin at least (a trigger: 400 constraint_violation). */
void pr_operators_update(struct pr_request *r, const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r), *st;
	const char *state = NULL, *actor, *note, *p[5];
	char roles[64];
	int rc;

	if (!body)
		return;
	rc = roles_field(r, body, 0, roles, sizeof(roles));
	if (rc < 0)
		goto out;
	st = json_object_get(body, "state");
	if (st) {
		state = json_string_value(st);
		if (!state || (strcmp(state, "active") != 0 &&
			       strcmp(state, "disabled") != 0)) {
			pr_api_reply_field(r, "state",
					   "state: \"active\" or \"disabled\"");
			goto out;
		}
	}
	if (rc == 1 && !state) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "nothing to change: give roles or state");
		goto out;
	}
	if (pr_api_audit_headers(r, &actor, &note) < 0)
		goto out;
	p[0] = pr_route_param(m, "name");
	p[1] = rc == 1 ? NULL : roles;
	p[2] = state;
	p[3] = actor;
	p[4] = note;
	pr_info("operators: %s updates operator %s:%s%s%s%s", actor, p[0],
		p[1] ? " roles " : "", p[1] ? p[1] : "", state ? " state " : "",
		state ? state : "");
	pr_api_query(
		r,
		"WITH b AS (SELECT * FROM operators WHERE name = $1), o AS "
		"(UPDATE operators SET roles = coalesce($2::text[], roles), "
		"state = coalesce($3, state), updated_at = now(), "
		"locked_until = CASE WHEN $3 = 'active' THEN NULL ELSE "
		"locked_until END WHERE name = $1 RETURNING *), a AS "
		"(INSERT INTO audit_log (actor, action, object_kind, "
		"object_id, before, after, note) SELECT $4, 'update', "
		"'operator', o.name, pr_operator_json(b), "
		"pr_operator_json(o), $5 FROM o, b) SELECT "
		"pr_operator_json(o)::text FROM o",
		5, p, on_updated);
out:
	json_decref(body);
}

static void on_tokens(PGresult *res, const char *err, void *arg)
{
	reply_row(arg, res, err, 200, "operator's tokens");
}

/* GET /admin/v1/operators/{name}/tokens: never a secret nor its hash. */
void pr_operators_tokens_list(struct pr_request *r,
			      const struct pr_route_match *m)
{
	const char *p[1] = { pr_route_param(m, "name") };

	pr_api_query(
		r,
		"SELECT jsonb_build_object('operator', o.name, 'tokens', "
		"(SELECT coalesce(jsonb_agg(pr_operator_token_json(t) "
		"ORDER BY t.id), '[]') FROM operator_tokens t WHERE "
		"t.operator = o.name))::text FROM operators o WHERE o.name "
		"= $1",
		1, p, on_tokens);
}

/* A token being made: its secret waits for the row's id. */
struct mint {
	struct pr_request *r;
	char secret[SECRET_HEX + 1];
};

static void on_minted(PGresult *res, const char *err, void *arg)
{
	struct mint *k = arg;
	struct pr_request *r = k->r;
	char tok[sizeof(TOKEN_PREFIX) + 20 + SECRET_HEX + 2];
	json_t *j;

	if (!res || PQntuples(res) != 1) {
		OPENSSL_cleanse(k->secret, sizeof(k->secret));
		free(k);
		reply_row(r, res, err, 201, "create token");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	snprintf(tok, sizeof(tok), TOKEN_PREFIX "%s_%s", PQgetvalue(res, 0, 0),
		 k->secret);
	OPENSSL_cleanse(k->secret, sizeof(k->secret));
	free(k);
	if (!j) {
		OPENSSL_cleanse(tok, sizeof(tok));
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the token");
		return;
	}
	/* shown this once: only its hash is kept */
	json_object_set_new(j, "token", json_string(tok));
	OPENSSL_cleanse(tok, sizeof(tok));
	pr_request_reply(r, 201, j);
}

/* POST /admin/v1/operators/{name}/tokens {"label", "expires_at"?}:
 * answers the token once ("token"), with its public fields. */
void pr_operators_token_create(struct pr_request *r,
			       const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r), *ex;
	const char *label, *expires = NULL, *actor, *note, *p[6];
	unsigned char raw[SECRET_HEX / 2];
	char hash[65], *hex = NULL;
	struct mint *k = NULL;

	if (!body)
		return;
	label = json_string_value(json_object_get(body, "label"));
	if (!label || !pr_api_text_ok(label, 64) || !label[0]) {
		pr_api_reply_field(r, "label",
				   "label: 1 to 64 characters, no control "
				   "characters (what the token is for)");
		goto out;
	}
	ex = json_object_get(body, "expires_at");
	if (ex && !json_is_null(ex)) {
		int64_t ms;

		expires = json_string_value(ex);
		if (!expires || pr_parse_rfc3339(expires, &ms) < 0) {
			pr_api_reply_field(r, "expires_at",
					   "expires_at: an RFC 3339 time, or "
					   "null for none");
			goto out;
		}
	}
	if (pr_api_audit_headers(r, &actor, &note) < 0)
		goto out;
	k = calloc(1, sizeof(*k));
	if (!k || pr_random_bytes(raw, sizeof(raw)) < 0 ||
	    !(hex = pr_hex_encode(raw, sizeof(raw))) ||
	    pr_sha256_hex(hex, hash) < 0) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot make a token");
		free(k);
		goto out;
	}
	k->r = r;
	snprintf(k->secret, sizeof(k->secret), "%s", hex);
	p[0] = pr_route_param(m, "name");
	p[1] = label;
	p[2] = hash;
	p[3] = actor;
	p[4] = expires;
	p[5] = note;
	pr_info("operators: %s makes a token \"%s\" for operator %s", actor,
		label, p[0]);
	if (pr_db_query(r->d->db,
			"WITH t AS (INSERT INTO operator_tokens (operator, "
			"label, hash, created_by, expires_at) SELECT o.name, "
			"$2, $3, $4, $5::timestamptz FROM operators o WHERE "
			"o.name = $1 RETURNING *), a AS (INSERT INTO audit_log "
			"(actor, action, object_kind, object_id, after, note) "
			"SELECT $4, 'token_create', 'operator', t.operator, "
			"pr_operator_token_json(t), $6 FROM t) SELECT t.id, "
			"pr_operator_token_json(t)::text FROM t",
			6, p, on_minted, k) < 0) {
		OPENSSL_cleanse(k->secret, sizeof(k->secret));
		free(k);
		pr_api_store_unavailable(r);
	}
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (hex) {
		OPENSSL_cleanse(hex, strlen(hex));
		free(hex);
	}
	json_decref(body);
}

static void on_revoked(PGresult *res, const char *err, void *arg)
{
	reply_row_forget(arg, res, err, 200, "revoke token", "operator");
}

/* DELETE /admin/v1/operators/{name}/tokens/{id}: revokes (the row stays,
 * for the audit); 404 for a token that is not the operator's or is
 * revoked already. */
void pr_operators_token_revoke(struct pr_request *r,
			       const struct pr_route_match *m)
{
	const char *actor, *note, *p[4];

	if (!pr_route_id_ok(pr_route_param(m, "id"))) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such token: ids are numbers");
		return;
	}
	if (pr_api_audit_headers(r, &actor, &note) < 0)
		return;
	p[0] = pr_route_param(m, "name");
	p[1] = pr_route_param(m, "id");
	p[2] = actor;
	p[3] = note;
	pr_info("operators: %s revokes token %s of operator %s", actor, p[1],
		p[0]);
	pr_api_query(
		r,
		"WITH t AS (UPDATE operator_tokens SET revoked_at = now(), "
		"revoked_by = $3 WHERE id = $2::bigint AND operator = $1 "
		"AND revoked_at IS NULL RETURNING *), a AS (INSERT INTO "
		"audit_log (actor, action, object_kind, object_id, before, "
		"after, note) SELECT $3, 'token_revoke', 'operator', "
		"t.operator, NULL, pr_operator_token_json(t), $4 FROM t) "
		"SELECT pr_operator_token_json(t)::text FROM t",
		4, p, on_revoked);
}
