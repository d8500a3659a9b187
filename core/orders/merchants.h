/*
 * merchants.h - merchants and their credentials: the admin API that creates,
 * lists, changes and re-keys them, and the authentication of the merchant
 * API by API key.
 *
 * A merchant has two secrets, both shown once (at creation or rotation)
 * and never again: its API key "prk_" + 64 hex digits (stored as its
 * SHA-256; operators see its first 12 characters, api_key_prefix) and its
 * notification secret "prn_" + 64 hex digits (the HMAC key of the
 * notifications sent to it, outbox.c; stored as is, since it must be used).
 */
#ifndef PR_MERCHANTS_H
#define PR_MERCHANTS_H

#include <event2/http.h>

#include "runtime/daemon.h"
#include "base/route.h"

/* Length of the API key prefix operators see ("prk_" and 8 hex digits). */
#define PR_API_KEY_PREFIX_LEN 12

/* A merchant, as the merchant API sees it after authentication. Every
 * string points into the store's answer and is valid during the callback
 * only: copy what you keep. Never log notify_secret. */
struct pr_merchant {
	const char *id;
	const char *name;
	const char *locale;	   /* "zh-CN" or "en" */
	const char *notify_secret; /* "prn_..." */
};

/* The handlers of the admin listener's route table (admin.c) for
 * /admin/v1/merchants...: list, create, get, update (PATCH), a new API
 * key, a new notify secret. The caller has checked the admin token, the
 * method and {id} (pr_merchant_id_ok). Each answers r. */
void pr_merchants_list(struct pr_request *r, const struct pr_route_match *m);
void pr_merchants_create(struct pr_request *r, const struct pr_route_match *m);
void pr_merchants_get(struct pr_request *r, const struct pr_route_match *m);
void pr_merchants_update(struct pr_request *r, const struct pr_route_match *m);
void pr_merchants_new_key(struct pr_request *r, const struct pr_route_match *m);
void pr_merchants_new_secret(struct pr_request *r,
			     const struct pr_route_match *m);

/* 1 when s can be a merchant id: [a-z0-9][a-z0-9_-]{0,63}. */
int pr_merchant_id_ok(const char *s);

/* The outcome of pr_merchant_auth: m and status 0 for an active merchant;
 * otherwise m is NULL, status is 401 (code "unauthorized": no, a malformed
 * or an unknown key), 403 ("merchant_disabled") or 503
 * ("store_unavailable"), and message is a sentence for the client. */
typedef void (*pr_merchant_cb)(const struct pr_merchant *m, int status,
			       const char *code, const char *message,
			       void *arg);

/* The NOTIFY channel of merchant writes: every instance empties its
 * authentication cache when one arrives. */
#define PR_MERCHANTS_NOTIFY_CHANNEL "payroute_merchants"

/* The authentication cache of a daemon (merchants.c says how it stays
 * right). pr_auth_cache_flush empties it; NULL is a no-op everywhere. */
struct pr_auth_cache;
struct pr_auth_cache *pr_auth_cache_new(void);
void pr_auth_cache_flush(struct pr_auth_cache *c);
void pr_auth_cache_free(struct pr_auth_cache *c);
void pr_auth_cache_stats(const struct pr_auth_cache *c, unsigned long *hits,
			 unsigned long *misses, unsigned long *flushes);

/* Authenticates a merchant API request by its header
 * "Authorization: Bearer prk_<64 hex>": hashes the key and looks the hash
 * up in the daemon's cache (merchants.auth_cache_ms), else in the store
 * (one query). Only the header is read, during the call. Returns 0, and
 * then cb is called exactly once, later, from the loop (never from inside
 * this call); or a negative errno (-EINVAL: no daemon, request or cb;
 * -ENOMEM), and then cb is never called. The key is never logged. */
int pr_merchant_auth(struct pr_daemon *d, struct evhttp_request *req,
		     pr_merchant_cb cb, void *arg);

/* What a merchant API handler does once its request is authenticated:
 * m is the active merchant (valid during the call only). */
typedef void (*pr_merchant_ok)(const struct pr_merchant *m, void *arg);

/* Authenticates r with pr_merchant_auth and goes on in ok(m, arg). A
 * refused request is answered here, in the one shape of every merchant
 * endpoint (401 with "WWW-Authenticate: Bearer", 403 merchant_disabled,
 * 503 store_unavailable and its message), and then drop(arg) frees the
 * handler's state; so is a request whose authentication cannot start (503,
 * the log says why). Exactly one of ok and drop is called, once; drop may
 * be NULL when arg needs no freeing. */
void pr_merchant_request(struct pr_request *r, pr_merchant_ok ok,
			 void (*drop)(void *arg), void *arg);

/* Makes a new credential: prefix ("prk_" or "prn_") + 64 lowercase hex
 * digits of 32 random bytes, written to out (at least 69 bytes). When
 * hash_hex is not NULL it receives the hex SHA-256 of the credential (65
 * bytes). Returns 0 or a negative errno. Exposed for the tests and
 * contrib tools. */
int pr_merchant_new_secret(const char *prefix, char *out, size_t outlen,
			   char *hash_hex, size_t hashlen);

#endif
