/*
 * sessions.c - the console's sign-in (sessions.h): passwords, sessions and
 * their CSRF checks. doc/design.md §11 ("Passwords and sessions") is the
 * overview; the store's side is etc/migrations/012_sessions.sql.
 *
 * Passwords. Set by an operator holding the permission "operators" (POST
 * /admin/v1/operators/{name}/password, or "password" in POST
 * /admin/v1/operators) or by the operator itself with the
 * old one (POST /admin/v1/whoami/password); checked against the policy
 * (runtime/passwd.c) with a 400 naming the rule; hashed with scrypt. The
 * KDF takes about 0.3 s of CPU (contrib/bench/bench_passwd prints it):
 * it runs on the worker thread of runtime/offload.c, never on the loop,
 * and the request goes on when the worker posts its result back. A name
 * that is no operator's (or one without a password) is checked against a
 * dummy hash all the same, so that the answer's time does not tell.
 *
 * Sessions. POST /admin/v1/session with a name and password (or a token)
 * makes a session: 32 random bytes, hex, in the cookie
 * "payroute_session" (HttpOnly, SameSite=Strict, Path=/, Secure when
 * admin.cookie_secure); the store keeps only their SHA-256. Each request
 * the cookie authenticates is checked in the store (pr_session_check):
 * unused for admin.session_idle_s or older than admin.session_max_s, or of
 * a disabled operator, or made with a token since revoked or expired, it
 * has ended (401 session_expired; audited
 * session_end once). DELETE /admin/v1/session signs out. Failed sign-ins
 * count towards operators.c's lockout (per account and per address), and
 * sign-in, failures and sign-out are audited.
 *
 * CSRF. SameSite=Strict already keeps the cookie off other sites'
 * requests; on top, every request the cookie authenticates whose method
 * is not GET or HEAD must carry X-CSRF-Token: the HMAC-SHA256 of the
 * session's secret (keyed by it) over a fixed label, which the sign-in
 * answers and whoami answers again to a page of this origin (a signed
 * double submit: nothing more to store), compared in constant time; and
 * its Origin, when sent, must be this listener's, its Sec-Fetch-Site, when
 * sent, "same-origin". The sign-in itself gets the Origin and
 * Sec-Fetch-Site checks (login CSRF). A refusal is 403 csrf_failed,
 * logged and audited (csrf_refused). A bearer-token request needs none of
 * this: a browser never adds that header on its own.
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
#include "runtime/apiutil.h"
#include "runtime/crypto.h"
#include "runtime/log.h"
#include "runtime/offload.h"
#include "runtime/passwd.h"

#define SECRET_HEX 64
#define CSRF_LABEL "payroute console csrf v1"
#define SIGN_IN_FAILED "wrong name or password"

/* Checked for a name that has no password: as costly as a real one. */
static const char dummy_hash[] =
	"scrypt$ln=15,r=8,p=3$00000000000000000000000000000000$"
	"0000000000000000000000000000000000000000000000000000000000000000";

/* ------------------------------------------------------------ helpers */

/* When r's address is locked out (operators.c counts it): answers 429
 * with Retry-After, logged, and returns 1; else 0. */
static int address_refused(struct pr_request *r)
{
	int64_t secs = pr_operators_address_locked(r);
	char addr[64], ra[32];

	if (!secs)
		return 0;
	pr_warn("admin: refused %s %s from %s: the address is locked out",
		pr_http_method(r->req), r->path,
		pr_api_client_addr(r, addr, sizeof(addr)));
	snprintf(ra, sizeof(ra), "%lld", (long long)secs);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
			  "Retry-After", ra);
	pr_api_reply_err(r, 429, "locked_out", NULL,
			 "this address is locked out after too many failed "
			 "authentications; try again in %s seconds",
			 ra);
	return 1;
}

/* The roles "admin,viewer" (array_to_string) as enum pr_role bits. */
static unsigned roles_of(const char *s)
{
	char buf[128], *save = NULL, *tok;
	unsigned roles = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		roles |= pr_role_parse(tok);
	return roles;
}

/* The session's secret from r's Cookie header into out[65]: 0, -ENOENT
 * without the cookie, -EINVAL when it is not 64 hex digits. */
static int cookie_secret(struct pr_request *r, char out[65])
{
	const char *h = pr_api_req_header(r, "Cookie"), *p;
	size_t n = strlen(PR_SESSION_COOKIE), len;

	for (p = h; p && *p;) {
		p += strspn(p, " ;");
		if (strncmp(p, PR_SESSION_COOKIE, n) == 0 && p[n] == '=') {
			p += n + 1;
			len = strcspn(p, "; ");
			if (len != SECRET_HEX ||
			    strspn(p, "0123456789abcdef") < SECRET_HEX)
				return -EINVAL;
			memcpy(out, p, SECRET_HEX);
			out[SECRET_HEX] = '\0';
			return 0;
		}
		p += strcspn(p, ";");
	}
	return -ENOENT;
}

int pr_sessions_cookie_present(struct pr_request *r)
{
	char s[65];

	return cookie_secret(r, s) != -ENOENT;
}

static int csrf_of(const char *secret, char out[65])
{
	unsigned char mac[32];
	char *h;

	if (pr_hmac_sha256(secret, strlen(secret), CSRF_LABEL,
			   strlen(CSRF_LABEL), mac) < 0)
		return -EIO;
	h = pr_hex_encode(mac, sizeof(mac));
	if (!h)
		return -ENOMEM;
	snprintf(out, 65, "%s", h);
	free(h);
	return 0;
}

int pr_sessions_csrf(struct pr_request *r, char out[65])
{
	char secret[65];
	int rc = cookie_secret(r, secret);

	if (rc == 0)
		rc = csrf_of(secret, out);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc < 0 ? -ENOENT : 0;
}

/* Sets the session cookie to secret, or clears it (secret NULL). */
static void set_cookie(struct pr_request *r, const char *secret)
{
	char c[256];

	snprintf(c, sizeof(c), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
		 PR_SESSION_COOKIE, secret ? secret : "",
		 r->gen->config->admin_cookie_secure ? "; Secure" : "",
		 secret ? "" : "; Max-Age=0");
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
			  "Set-Cookie", c);
}

/* Why r does not come from a page of this listener's origin (NULL: it
 * may). Headers a browser sets and a page cannot. */
static const char *cross_origin(struct pr_request *r)
{
	const char *site = pr_api_req_header(r, "Sec-Fetch-Site");
	const char *origin = pr_api_req_header(r, "Origin");
	const char *host = pr_api_req_header(r, "Host"), *o;

	if (site && strcmp(site, "same-origin") != 0)
		return "Sec-Fetch-Site is not same-origin";
	if (origin) {
		o = strstr(origin, "://");
		if (!o || !host || strcmp(o + 3, host) != 0)
			return "Origin is not this console's";
	}
	return NULL;
}

/* ------------------------------------------------------- CSRF refusal */

struct refusal {
	struct pr_request *r;
	const char *why; /* static */
};

static void on_csrf_audited(PGresult *res, const char *err, void *arg)
{
	struct refusal *f = arg;

	if (!res)
		pr_warn("admin: cannot audit a CSRF refusal: %s", err);
	pr_api_reply_err(f->r, 403, "csrf_failed", NULL,
			 "refused as a possible cross-site request: %s; "
			 "reload the console and try again",
			 f->why);
	free(f);
}

/* Answers r 403 csrf_failed for why: logged and audited first. */
static void csrf_refuse(struct pr_request *r, const char *why)
{
	struct refusal *f = calloc(1, sizeof(*f));
	char obj[1100], addr[64];
	const char *p[4];

	snprintf(obj, sizeof(obj), "%s %s", pr_http_method(r->req), r->path);
	pr_api_client_addr(r, addr, sizeof(addr));
	pr_warn("admin: refused %s from %s (operator %s): %s", obj, addr,
		r->who.name[0] ? r->who.name : "-", why);
	if (!f) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	f->r = r;
	f->why = why;
	p[0] = r->who.name[0] ? r->who.name : "-";
	p[1] = obj;
	p[2] = why;
	p[3] = addr;
	if (pr_db_query(r->d->db,
			"INSERT INTO audit_log (actor, action, object_kind, "
			"object_id, after, note) VALUES ($1, 'csrf_refused', "
			"'endpoint', $2, jsonb_build_object('address', "
			"$4::text, 'reason', $3::text), $3)",
			4, p, on_csrf_audited, f) < 0)
		on_csrf_audited(NULL, "the store is busy", f);
}

/* ----------------------------------------------------- authentication */

struct sauth {
	struct pr_request *r;
	void (*done)(struct pr_request *r, void *arg);
	void *arg;
	char secret[65];
};

static void reply_expired(struct pr_request *r, const char *verdict)
{
	const struct pr_config *cfg = r->gen->config;
	const char *msg = "you signed out";

	if (strcmp(verdict, "idle") == 0)
		msg = "unused for longer than the idle time-out";
	else if (strcmp(verdict, "absolute") == 0)
		msg = "older than the longest a session may last";
	else if (strcmp(verdict, "disabled") == 0)
		msg = "the operator is disabled";
	else if (strcmp(verdict, "token") == 0)
		msg = "the token it was signed in with is revoked or expired";
	set_cookie(r, NULL);
	pr_api_reply_err(r, 401, "session_expired", NULL,
			 "the session has ended (%s: idle %d s, at most %d s); "
			 "sign in again",
			 msg, cfg->admin_session_idle_s,
			 cfg->admin_session_max_s);
}

static void on_session(PGresult *res, const char *err, void *arg)
{
	struct sauth *a = arg;
	struct pr_request *r = a->r;
	const char *verdict, *why, *sent;
	char csrf[65];

	if (!res) {
		pr_warn("admin: session lookup failed: %s", err);
		pr_api_store_unavailable(r);
		goto out;
	}
	if (PQntuples(res) != 1) {
		set_cookie(r, NULL);
		pr_operators_refuse_auth_msg(r, NULL, "unknown session", 0, 0,
					     "no such session: sign in again");
		goto out;
	}
	verdict = PQgetvalue(res, 0, 0);
	if (strcmp(verdict, "locked") == 0) {
		pr_operators_refuse_auth(r, PQgetvalue(res, 0, 1),
					 "account locked", 0, 1);
		goto out;
	}
	if (strcmp(verdict, "ok") != 0) {
		char addr[64];

		pr_info("admin: session %s of operator %s from %s refused: %s",
			PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 1),
			pr_api_client_addr(r, addr, sizeof(addr)),
			verdict);
		reply_expired(r, verdict);
		goto out;
	}
	pr_operators_set_principal(r, PQgetvalue(res, 0, 1),
				   roles_of(PQgetvalue(res, 0, 2)),
				   PR_VIA_SESSION, 0);
	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(r->req) != EVHTTP_REQ_HEAD) {
		sent = pr_api_req_header(r, "X-CSRF-Token");
		why = cross_origin(r);
		if (!why && (!sent || strlen(sent) != 64 ||
			     csrf_of(a->secret, csrf) < 0 ||
			     pr_memeq_ct(sent, csrf, 64) != 0))
			why = sent ? "the X-CSRF-Token header is wrong" :
				     "no X-CSRF-Token header";
		if (why) {
			csrf_refuse(r, why);
			goto out;
		}
	}
	a->done(r, a->arg);
out:
	OPENSSL_cleanse(a->secret, sizeof(a->secret));
	free(a);
}

void pr_sessions_authenticate(struct pr_request *r,
			      void (*done)(struct pr_request *r, void *arg),
			      void *arg)
{
	const struct pr_config *cfg = r->gen->config;
	struct sauth *a;
	char hash[65], idle[16], max[16];
	const char *p[3];

	if (address_refused(r))
		return;
	a = calloc(1, sizeof(*a));
	if (!a) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (cookie_secret(r, a->secret) < 0) {
		free(a);
		set_cookie(r, NULL);
		pr_operators_refuse_auth_msg(r, NULL,
					     "malformed session cookie", 0, 0,
					     "no such session: sign in again");
		return;
	}
	a->r = r;
	a->done = done;
	a->arg = arg;
	if (pr_sha256_hex(a->secret, hash) < 0) {
		free(a);
		pr_api_reply_err(r, 500, "internal", NULL, "cannot hash");
		return;
	}
	snprintf(idle, sizeof(idle), "%d", cfg->admin_session_idle_s);
	snprintf(max, sizeof(max), "%d", cfg->admin_session_max_s);
	p[0] = hash;
	p[1] = idle;
	p[2] = max;
	if (pr_db_query(r->d->db,
			"SELECT verdict, operator, roles, session_id FROM "
			"pr_session_check($1, $2::int, $3::int)",
			3, p, on_session, a) < 0) {
		free(a);
		pr_api_store_unavailable(r);
	}
}

/* ------------------------------------------------------------ sign-in */

/* A password being checked or hashed on the worker thread. */
struct pwjob {
	struct pr_request *r;
	char name[PR_OPERATOR_NAME_MAX + 1];
	char pw[PR_PASSWD_MAX + 1];	   /* cleansed on the worker */
	char old[PR_PASSWD_MAX + 1];	   /* change: the old one */
	char stored[PR_PASSWD_HASH_MAX];   /* the stored hash ("": none) */
	char fresh[PR_PASSWD_HASH_MAX];	   /* a new hash ("": none) */
	char keep[65]; /* a session not to end (the caller's) */
	char roles[64];
	int exists, active, verify, verified, hash_rc;
};

static void pwjob_free(struct pwjob *j)
{
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
}

/* The worker's part: verify (j->verify: j->old or, for a sign-in, j->pw
 * against j->stored or the dummy), then hash j->pw when asked (j->verify
 * 2: the change of one's own password, only when the old one matched; 1:
 * a sign-in whose stored hash has other parameters than the current
 * ones, to store it anew). */
static void pw_work(void *arg)
{
	struct pwjob *j = arg;

	if (j->verify)
		j->verified =
			pr_passwd_verify(j->verify == 2 ? j->old : j->pw,
					 j->stored[0] ? j->stored :
							dummy_hash) == 1;
	if (j->verify == 0 || (j->verify == 2 && j->verified) ||
	    (j->verify == 1 && j->verified && pr_passwd_stale(j->stored)))
		j->hash_rc = pr_passwd_hash(j->pw, j->fresh);
	OPENSSL_cleanse(j->pw, sizeof(j->pw));
	OPENSSL_cleanse(j->old, sizeof(j->old));
}

static void on_session_made(PGresult *res, const char *err, void *arg)
{
	struct sauth *a = arg;
	struct pr_request *r = a->r;
	char csrf[65];
	json_t *j;

	if (!res || PQntuples(res) != 1) {
		pr_warn("admin: cannot make a session for %s: %s", r->who.name,
			res ? "no row" : err);
		pr_api_store_unavailable(r);
		goto out;
	}
	j = pr_operators_principal_json(&r->who);
	if (!j || csrf_of(a->secret, csrf) < 0) {
		json_decref(j);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot make a session");
		goto out;
	}
	json_object_set_new(j, "csrf_token", json_string(csrf));
	json_object_set_new(j, "idle_timeout_s",
			    json_integer(r->gen->config->admin_session_idle_s));
	json_object_set_new(j, "expires_at",
			    json_string(PQgetvalue(res, 0, 0)));
	set_cookie(r, a->secret);
	pr_request_reply(r, 200, j);
out:
	OPENSSL_cleanse(a->secret, sizeof(a->secret));
	free(a);
}

/* r->who is signed in (via "password" or "token"): a new session. */
static void make_session(struct pr_request *r, const char *via)
{
	struct sauth *a = calloc(1, sizeof(*a));
	unsigned char raw[SECRET_HEX / 2];
	char hash[65], addr[64], max[16], tid[24], *hex = NULL;
	const char *p[6];

	if (!a || pr_random_bytes(raw, sizeof(raw)) < 0 ||
	    !(hex = pr_hex_encode(raw, sizeof(raw))) ||
	    pr_sha256_hex(hex, hash) < 0) {
		free(a);
		free(hex);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot make a session");
		return;
	}
	a->r = r;
	snprintf(a->secret, sizeof(a->secret), "%s", hex);
	OPENSSL_cleanse(hex, strlen(hex));
	free(hex);
	OPENSSL_cleanse(raw, sizeof(raw));
	pr_api_client_addr(r, addr, sizeof(addr));
	snprintf(max, sizeof(max), "%d", r->gen->config->admin_session_max_s);
	pr_info("admin: operator %s signed in from %s (%s)", r->who.name, addr,
		via);
	p[0] = r->who.name;
	p[1] = hash;
	p[2] = via;
	p[3] = addr;
	p[4] = max;
	snprintf(tid, sizeof(tid), "%lld", (long long)r->who.token_id);
	p[5] = r->who.via == PR_VIA_TOKEN ? tid : NULL;
	r->who.via = PR_VIA_SESSION; /* what the answer says from now on */
	if (pr_db_query(r->d->db,
			"WITH s AS (INSERT INTO operator_sessions (operator, "
			"hash, via, address, token_id) VALUES ($1, $2, $3, $4, "
			"$6::bigint) RETURNING id, created_at), o AS (UPDATE operators SET "
			"failed_auth = 0, first_failed_at = NULL WHERE name = "
			"$1 AND failed_auth > 0), a AS (INSERT INTO audit_log "
			"(actor, action, object_kind, object_id, after, note) "
			"SELECT $1, 'sign_in', 'operator', $1, "
			"jsonb_build_object('session', s.id, 'via', $3::text, "
			"'address', $4::text), 'signed in (' || $3 || ')' FROM "
			"s) SELECT pr_rfc3339(s.created_at + make_interval(secs "
			"=> $5::int)) FROM s",
			6, p, on_session_made, a) < 0) {
		OPENSSL_cleanse(a->secret, sizeof(a->secret));
		free(a);
		pr_api_store_unavailable(r);
	}
}

static void on_token_signed_in(struct pr_request *r, void *arg)
{
	(void)arg;
	if (r->who.via == PR_VIA_LEGACY) {
		/* no operator: nothing a session could name */
		pr_api_reply_err(r, 400, "bad_request", "token",
				 "token: the shared admin.token cannot sign in "
				 "to the console; use an operator's token or "
				 "password");
		return;
	}
	make_session(r, "token");
}

static void on_rehashed(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("admin: cannot store a password hashed anew: %s", err);
}

static void on_password_checked(void *arg)
{
	struct pwjob *j = arg;
	struct pr_request *r = j->r;

	if (!j->exists)
		pr_operators_refuse_auth_msg(r, NULL, "unknown operator", 0, 0,
					     SIGN_IN_FAILED);
	else if (!j->stored[0])
		pr_operators_refuse_auth_msg(r, j->name, "no password set", 1,
					     0, SIGN_IN_FAILED);
	else if (!j->verified)
		pr_operators_refuse_auth_msg(r, j->name, "wrong password", 1,
					     0, SIGN_IN_FAILED);
	else if (!j->active)
		pr_operators_refuse_auth(r, j->name, "operator disabled", 0,
					 0);
	else {
		pr_operators_set_principal(r, j->name, roles_of(j->roles),
					   PR_VIA_SESSION, 0);
		if (j->fresh[0] && j->hash_rc == 0) {
			const char *p[3] = { j->name, j->fresh, j->stored };

			pr_info("admin: the password of %s is hashed anew with "
				"the current parameters",
				j->name);
			if (pr_db_query(r->d->db,
					"UPDATE operators SET password_hash = "
					"$2 WHERE name = $1 AND password_hash "
					"= $3",
					3, p, on_rehashed, NULL) < 0)
				pr_warn("admin: cannot store a password "
					"hashed anew: the store is busy");
		}
		make_session(r, "password");
	}
	pwjob_free(j);
}

static void on_operator_row(PGresult *res, const char *err, void *arg)
{
	struct pwjob *j = arg;
	struct pr_request *r = j->r;

	if (!res) {
		pr_warn("admin: sign-in lookup failed: %s", err);
		pr_api_store_unavailable(r);
		pwjob_free(j);
		return;
	}
	if (PQntuples(res) == 1) {
		j->exists = 1;
		snprintf(j->stored, sizeof(j->stored), "%s",
			 PQgetvalue(res, 0, 0));
		j->active = strcmp(PQgetvalue(res, 0, 1), "active") == 0;
		snprintf(j->roles, sizeof(j->roles), "%s",
			 PQgetvalue(res, 0, 3));
		if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
			pr_operators_refuse_auth(r, j->name, "account locked",
						 0, 1);
			pwjob_free(j);
			return;
		}
	}
	j->verify = 1;
	if (pr_offload(r->d->base, pw_work, on_password_checked, j) < 0) {
		pwjob_free(j);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot check the password now");
	}
}

void pr_sessions_sign_in(struct pr_request *r, const struct pr_route_match *m)
{
	const char *why = cross_origin(r), *name, *pw, *tok, *p[1];
	json_t *body;
	struct pwjob *j;

	(void)m;
	if (why) {
		csrf_refuse(r, why);
		return;
	}
	if (address_refused(r))
		return;
	body = pr_api_read_body(r);
	if (!body)
		return;
	tok = json_string_value(json_object_get(body, "token"));
	if (tok) {
		pr_operators_authenticate_token(r, tok, on_token_signed_in,
						NULL);
		goto out;
	}
	name = json_string_value(json_object_get(body, "name"));
	pw = json_string_value(json_object_get(body, "password"));
	if (!pr_operator_name_ok(name)) {
		pr_api_reply_field(r, "name",
				   "name: your operator name (or give "
				   "\"token\" instead)");
		goto out;
	}
	if (!pw || !pw[0] || strlen(pw) > PR_PASSWD_MAX) {
		pr_api_reply_field(r, "password",
				   "password: 1 to %d characters",
				   PR_PASSWD_MAX);
		goto out;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	j->r = r;
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->pw, sizeof(j->pw), "%s", pw);
	p[0] = j->name;
	if (pr_db_query(r->d->db,
			"SELECT coalesce(password_hash, ''), state, "
			"coalesce(locked_until > now(), false), "
			"array_to_string(roles, ',') FROM operators WHERE "
			"name = $1",
			1, p, on_operator_row, j) < 0) {
		pwjob_free(j);
		pr_api_store_unavailable(r);
	}
out:
	json_decref(body);
}

/* ----------------------------------------------------------- sign-out */

static void on_signed_out(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;

	if (!res) {
		pr_api_reply_db_error(r, "sessions", "sign out", err);
		return;
	}
	set_cookie(r, NULL);
	pr_request_reply(r, 200, json_pack("{s:b}", "signed_out", 1));
}

void pr_sessions_sign_out(struct pr_request *r, const struct pr_route_match *m)
{
	char secret[65], hash[65], addr[64];
	const char *p[2];

	(void)m;
	if (r->who.via != PR_VIA_SESSION || cookie_secret(r, secret) < 0) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "no session to sign out of: this request is "
				 "authenticated by a token");
		return;
	}
	if (pr_sha256_hex(secret, hash) < 0) {
		OPENSSL_cleanse(secret, sizeof(secret));
		pr_api_reply_err(r, 500, "internal", NULL, "cannot hash");
		return;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	pr_info("admin: operator %s signs out from %s", r->who.name,
		pr_api_client_addr(r, addr, sizeof(addr)));
	p[0] = hash;
	p[1] = addr;
	pr_api_query(r,
		     "WITH s AS (UPDATE operator_sessions SET ended_at = now(), "
		     "ended_why = 'sign_out' WHERE hash = $1 AND ended_at IS "
		     "NULL RETURNING id, operator) INSERT INTO audit_log "
		     "(actor, action, object_kind, object_id, after, note) "
		     "SELECT s.operator, 'sign_out', 'operator', s.operator, "
		     "jsonb_build_object('session', s.id, 'address', "
		     "$2::text), 'signed out' FROM s",
		     2, p, on_signed_out);
}

/* ---------------------------------------------------------- passwords */

/* Answers r with the operator row a password write returned (its one
 * column, pr_operator_json): status on success, 404 when no row came
 * back, the store's error (what: the action, for the log) otherwise. */
static void reply_operator_row(struct pr_request *r, PGresult *res,
			       const char *err, const char *what, int status)
{
	json_t *j;

	if (!res) {
		pr_api_reply_db_error(r, "operators", what, err);
		return;
	}
	if (PQntuples(res) != 1) {
		pr_api_reply_err(r, 404, "not_found", NULL, "no such operator");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the operator");
		return;
	}
	pr_request_reply(r, status, j);
}

/* In a job's done callback: 0 with the request's audit headers when the
 * worker made a hash, else -1 with j->r answered (500, or the audit
 * headers' refusal). */
static int hashed(struct pwjob *j, const char **actor, const char **note)
{
	if (j->hash_rc < 0 || !j->fresh[0]) {
		pr_api_reply_err(j->r, 500, "internal", NULL,
				 "cannot hash the password");
		return -1;
	}
	return pr_api_audit_headers(j->r, actor, note) < 0 ? -1 : 0;
}

/* Checks j->pw against the password policy, then hashes it on the worker
 * and calls done(j) in the loop. When it cannot, answers r (400 naming
 * the field, or 500) and frees j. */
static void offload_hash(struct pr_request *r, struct pwjob *j,
			 void (*done)(void *arg))
{
	char err[160];

	if (pr_passwd_policy(j->name, j->pw, err, sizeof(err)) < 0) {
		pr_api_reply_field(r, "password", "%s", err);
		pwjob_free(j);
		return;
	}
	if (pr_offload(r->d->base, pw_work, done, j) < 0) {
		pwjob_free(j);
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot hash the password now");
	}
}

static void on_password_stored(PGresult *res, const char *err, void *arg)
{
	reply_operator_row(arg, res, err, "set password", 200);
}

/* The worker is done with a new password: store it (j->verify 2: only
 * when the old one matched), ending the operator's other sessions. */
static void on_password_hashed(void *arg)
{
	struct pwjob *j = arg;
	struct pr_request *r = j->r;
	const char *actor, *note, *p[5];
	int own = j->verify == 2;

	if (own && !j->verified) {
		char addr[64];

		pr_warn("admin: operator %s from %s gave a wrong old password "
			"to change it",
			j->name,
			pr_api_client_addr(r, addr, sizeof(addr)));
		pr_api_reply_field(r, "old_password",
				   "old_password: not your current password");
		goto out;
	}
	if (hashed(j, &actor, &note) < 0)
		goto out;
	p[0] = j->name;
	p[1] = j->fresh;
	p[2] = actor;
	p[3] = note;
	p[4] = j->keep;
	pr_info("operators: %s sets the password of operator %s", actor,
		j->name);
	pr_api_query(
		r,
		"WITH o AS (UPDATE operators SET password_hash = $2, "
		"password_set_at = now(), updated_at = now() WHERE name = $1 "
		"RETURNING *), s AS (UPDATE operator_sessions SET ended_at = "
		"now(), ended_why = 'password' WHERE operator = $1 AND "
		"ended_at IS NULL AND hash <> $5 AND EXISTS (SELECT 1 FROM o) "
		"RETURNING id), a AS (INSERT INTO audit_log (actor, action, "
		"object_kind, object_id, after, note) SELECT $3, "
		"'password_set', 'operator', o.name, jsonb_build_object("
		"'password_set_at', pr_rfc3339(o.password_set_at), "
		"'sessions_ended', (SELECT count(*) FROM s)), $4 FROM o) "
		"SELECT pr_operator_json(o)::text FROM o",
		5, p, on_password_stored);
out:
	pwjob_free(j);
}

/* Starts j (name, pw set) on the worker after the policy check. */
static void hash_password(struct pr_request *r, struct pwjob *j)
{
	char secret[65];

	/* the caller's own session stays open; every other one ends */
	if (r->who.via == PR_VIA_SESSION && cookie_secret(r, secret) == 0) {
		pr_sha256_hex(secret, j->keep);
		OPENSSL_cleanse(secret, sizeof(secret));
	}
	offload_hash(r, j, on_password_hashed);
}

void pr_sessions_set_password(struct pr_request *r,
			      const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);
	const char *pw;
	struct pwjob *j;

	if (!body)
		return;
	pw = json_string_value(json_object_get(body, "password"));
	j = calloc(1, sizeof(*j));
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	j->r = r;
	snprintf(j->name, sizeof(j->name), "%s", pr_route_param(m, "name"));
	snprintf(j->pw, sizeof(j->pw), "%s", pw ? pw : "");
	if (pw && strlen(pw) > PR_PASSWD_MAX)
		j->pw[0] = '\0'; /* refused by the policy, never cut */
	hash_password(r, j);
out:
	json_decref(body);
}

static void on_operator_made(PGresult *res, const char *err, void *arg)
{
	reply_operator_row(arg, res, err, "create operator", 201);
}

static void on_create_hashed(void *arg)
{
	struct pwjob *j = arg;
	struct pr_request *r = j->r;
	const char *actor, *note, *p[5];

	if (hashed(j, &actor, &note) < 0)
		goto out;
	p[0] = j->name;
	p[1] = j->roles;
	p[2] = actor;
	p[3] = note;
	p[4] = j->fresh;
	pr_info("operators: %s creates operator %s %s, with a password", actor,
		j->name, j->roles);
	pr_api_query(r,
		     "WITH o AS (INSERT INTO operators (name, roles, "
		     "created_by, password_hash, password_set_at) VALUES ($1, "
		     "$2::text[], $3, $5, now()) RETURNING *), a AS (INSERT "
		     "INTO audit_log (actor, action, object_kind, object_id, "
		     "after, note) SELECT $3, 'create', 'operator', o.name, "
		     "pr_operator_json(o), $4 FROM o) SELECT "
		     "pr_operator_json(o)::text FROM o",
		     5, p, on_operator_made);
out:
	pwjob_free(j);
}

void pr_sessions_create_operator(struct pr_request *r, const char *name,
				 const char *roles, const char *pw)
{
	struct pwjob *j = calloc(1, sizeof(*j));

	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	j->r = r;
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->roles, sizeof(j->roles), "%s", roles);
	snprintf(j->pw, sizeof(j->pw), "%s",
		 pw && strlen(pw) <= PR_PASSWD_MAX ? pw : "");
	offload_hash(r, j, on_create_hashed);
}

static void on_own_row(PGresult *res, const char *err, void *arg)
{
	struct pwjob *j = arg;
	struct pr_request *r = j->r;

	if (!res) {
		pr_api_reply_db_error(r, "operators", "change password", err);
		pwjob_free(j);
		return;
	}
	if (PQntuples(res) == 1)
		snprintf(j->stored, sizeof(j->stored), "%s",
			 PQgetvalue(res, 0, 0));
	j->verify = 2;
	hash_password(r, j);
}

void pr_sessions_change_password(struct pr_request *r,
				 const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);
	const char *pw, *old, *p[1];
	struct pwjob *j = NULL;

	(void)m;
	if (!body)
		return;
	if (r->who.via == PR_VIA_LEGACY) {
		pr_api_reply_err(r, 400, "bad_request", NULL,
				 "%s is the shared token, not an operator: it "
				 "has no password",
				 PR_LEGACY_PRINCIPAL);
		goto out;
	}
	old = json_string_value(json_object_get(body, "old_password"));
	pw = json_string_value(json_object_get(body, "password"));
	if (!old || strlen(old) > PR_PASSWD_MAX) {
		pr_api_reply_field(r, "old_password",
				   "old_password: your current password");
		goto out;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	j->r = r;
	snprintf(j->name, sizeof(j->name), "%s", r->who.name);
	snprintf(j->old, sizeof(j->old), "%s", old);
	snprintf(j->pw, sizeof(j->pw), "%s",
		 pw && strlen(pw) <= PR_PASSWD_MAX ? pw : "");
	p[0] = j->name;
	if (pr_db_query(r->d->db,
			"SELECT coalesce(password_hash, '') FROM operators "
			"WHERE name = $1",
			1, p, on_own_row, j) < 0) {
		pwjob_free(j);
		pr_api_store_unavailable(r);
	}
out:
	json_decref(body);
}
