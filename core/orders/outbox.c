/*
 * outbox.c - delivery of merchant notifications (doc/design.md §6), and
 * the admin API over them.
 *
 * The transaction that makes an order final also inserts a row into
 * merchant_notifications (migration 004): the outbox pattern, so that a
 * notification exists exactly when the order's final state does. Here a
 * timer (notify.interval_ms, read from the current config at each tick so
 * that a reload applies; pr_outbox_kick makes it look at once) claims due
 * rows in one statement:
 *
 *   UPDATE merchant_notifications SET next_at = now() + lease,
 *   claimed_by = instance FROM (SELECT ... WHERE state = 'pending' AND
 *   next_at <= now() ORDER BY next_at LIMIT n FOR UPDATE SKIP LOCKED) ...
 *
 * so that several daemons on one database share the work and no two send
 * the same notification at the same time. The lease (2 * notify.timeout_ms
 * + 30 s) outlives the delivery; when an instance dies (or shuts down with
 * deliveries in flight) its claims come due again when their leases end.
 * At most notify.batch deliveries are in flight per instance.
 *
 * Delivery is at least once: a merchant that answered 2xx may get the same
 * notification again when the answer could not be recorded (store down,
 * instance stopped) before the lease ended. Merchants de-duplicate by
 * Payroute-Notification-Id (or by order and event).
 *
 * Each attempt is
 *
 *   POST <url>
 *   Content-Type: application/json
 *   Payroute-Event: payment.succeeded
 *   Payroute-Notification-Id: 42
 *   Payroute-Timestamp: 1735689600
 *   Payroute-Signature: t=1735689600,v1=<hex HMAC-SHA256>
 *
 *   <body: the order's merchant JSON, {"event": ..., "payment": {...}}>
 *
 * The signature scheme. v1 is the lowercase hex HMAC-SHA256, keyed with
 * the merchant's notify secret (the whole "prn_..." string, as ASCII
 * bytes, exactly as shown at creation or rotation), of the string
 *
 *   <t> "." <the raw request body, byte for byte>
 *
 * where <t> is the decimal Unix time of the attempt (the same value as in
 * Payroute-Timestamp; each retry is signed anew). A merchant verifies by
 * (1) parsing t and v1 from Payroute-Signature, ignoring unknown keys
 * (a v2 may come); (2) recomputing the HMAC over t, ".", and the body as
 * received, before any JSON parsing or re-encoding; (3) comparing it with
 * v1 in constant time (hmac.compare_digest, crypto.timingSafeEqual,
 * CRYPTO_memcmp...); (4) refusing t more than 5 minutes away from its own
 * clock, which bounds replays; (5) de-duplicating by
 * Payroute-Notification-Id. After a secret rotation
 * (POST /admin/v1/merchants/{id}/notify-secret) the next attempt is signed
 * with the new secret. doc/merchant-notifications.md has the same for
 * merchants, with examples.
 *
 * Outcome of an attempt: any 2xx marks the row delivered (the successes
 * of a busy outbox in batches: one statement for those that came while
 * the last one was recorded, record_flush); anything else (a
 * status, a time-out after notify.timeout_ms, a connection error) adds one
 * attempt, records last_status / last_error and schedules the next attempt
 * notify.schedule[min(attempts - 1, n - 1)] seconds later, unless
 * notify.give_up_seconds have passed since the row was created, or since
 * an operator last re-queued it (the "retry" record in audit_log): then the
 * row is abandoned, with a warning in the log. A URL that is not http:// or
 * https:// is never fetched; the row is abandoned with last_error saying
 * why. Redirects are not followed (a 3xx is a failure).
 *
 * Where a notification may go (notify.allow_private; netguard.c has the
 * ranges and why): a merchant's notify_url is checked twice. When the
 * request arrives (pr_outbox_url_check) only what needs no resolution is
 * judged: a literal address, and names under "localhost". Resolving other
 * names there would need an asynchronous resolver in every request
 * handler (evdns or getaddrinfo_a) for a verdict that proves nothing: the
 * name may resolve elsewhere by delivery time (DNS rebinding, TTLs). The
 * check that holds is at delivery: libcurl resolves the name (its
 * threaded resolver: the loop is not blocked) and every address it is
 * about to connect to, and the peer of a reused connection, is judged by
 * httpc's guard before anything is connected or sent. A refused delivery
 * is abandoned at once (a retry would be refused again) with last_error
 * "refused: ... (never connected)".
 *
 * Shutdown: pr_outbox_free detaches the deliveries in flight; their
 * callbacks (called by the store and the HTTP client as they are freed)
 * then only free memory. Those delivered and waiting to be recorded are
 * freed there: they are sent again when their leases end.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "runtime/crypto.h"
#include "domain/drvobj.h"
#include "runtime/log.h"
#include "orders/outbox.h"
#include "orders/payorder.h"
#include "orders/refunds.h"
#include "runtime/services.h"
#include "orders/withdrawals.h"

#define MAX_ERROR 300	 /* last_error, bytes */
#define BODY_SNIPPET 160 /* of a failed answer, in last_error */
#define LEASE_EXTRA_S 30 /* lease = 2 * timeout + this */
#define SIG_LEN 96	 /* "t=<20 digits>,v1=<64 hex>" and NUL */

/* ------------------------------------------------------------- state */

struct pr_outbox;

/* One claimed notification, from the claim to the recorded outcome. */
struct delivery {
	struct pr_outbox *o; /* NULL once the outbox is freed */
	TAILQ_ENTRY(delivery) link;
	char id[24];
	char instance[65]; /* the claimer's name */
	char *merchant_id, *kind, *order_id, *event, *url, *body, *secret;
	int attempts; /* before this one */
	int status;   /* HTTP status of the answer; a failure's may be 0 */
	char error[MAX_ERROR + 1];
	int force_abandon; /* a refused URL */
	int body_new; /* built here from the order: kept with the outcome */
};

/* A claim query in flight. */
struct claim {
	struct pr_outbox *o; /* NULL once the outbox is freed */
	int limit;
	char instance[65];
};

/* Deliveries recorded as delivered by one statement (record_flush). */
struct record {
	struct pr_outbox *o; /* NULL once the outbox is freed */
	size_t n;
	struct delivery *dl[];
};

TAILQ_HEAD(delivery_list, delivery);

struct pr_outbox {
	struct pr_daemon *d;
	struct event *ev_tick;
	struct claim *claim; /* in flight, or NULL */
	int kicked;	     /* a kick arrived during the claim */
	int more;	     /* the last claim was full: more may be due */
	struct delivery_list deliveries;
	size_t inflight;
	/* Delivered, waiting to be recorded while a record is in flight: the
	 * successes of a busy outbox are recorded together. */
	struct delivery **wait;
	size_t n_wait, cap_wait;
	struct record *rec; /* in flight, or NULL */
	char *claim_sql;    /* claim_sql_build */
	unsigned long delivered, failed, abandoned;
	/* first attempts' bodies, by how their order was read */
	unsigned long read_with_claim, read_alone;
};

/* -------------------------------------------------------------- sign */

int pr_outbox_sign(const char *secret, long long t, const char *body,
		   size_t body_len, char *out, size_t outlen)
{
	unsigned char mac[32];
	char ts[24], *msg = NULL, *hex = NULL;
	size_t tl;
	int rc;

	if (!secret || (!body && body_len) || !out || outlen < SIG_LEN)
		return -EINVAL;
	tl = (size_t)snprintf(ts, sizeof(ts), "%lld", t);
	msg = malloc(tl + 1 + body_len + 1);
	if (!msg)
		return -ENOMEM;
	memcpy(msg, ts, tl);
	msg[tl] = '.';
	if (body_len)
		memcpy(msg + tl + 1, body, body_len);
	rc = pr_hmac_sha256(secret, strlen(secret), msg, tl + 1 + body_len,
			    mac);
	if (rc < 0)
		goto out;
	hex = pr_hex_encode(mac, sizeof(mac));
	if (!hex) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(out, outlen, "t=%s,v1=%s", ts, hex);
	rc = 0;
out:
	free(msg);
	free(hex);
	return rc;
}

/* --------------------------------------------------------- deliveries */

static void tick_soon(struct pr_outbox *o);

static void delivery_free(struct delivery *dl)
{
	free(dl->merchant_id);
	free(dl->kind);
	free(dl->order_id);
	free(dl->event);
	free(dl->url);
	free(dl->body);
	if (dl->secret) {
		memset(dl->secret, 0, strlen(dl->secret));
		free(dl->secret);
	}
	free(dl);
}

/* The delivery is over (recorded or not): frees it, and looks for more
 * when the last claim was full. */
static void delivery_done(struct delivery *dl)
{
	struct pr_outbox *o = dl->o;

	if (o) {
		TAILQ_REMOVE(&o->deliveries, dl, link);
		o->inflight--;
		if (o->more) {
			o->more = 0;
			tick_soon(o);
		}
	}
	delivery_free(dl);
}

static void record_flush(struct pr_outbox *o);

static void on_recorded_ok(PGresult *res, const char *err, void *arg)
{
	struct record *rec = arg;
	struct pr_outbox *o = rec->o;

	if (o)
		o->rec = NULL;
	for (size_t i = 0; i < rec->n; i++) {
		if (o && !res)
			pr_warn("outbox: notification %s was delivered but "
				"that could not be recorded (%s); it will be "
				"sent again after its lease",
				rec->dl[i]->id, err ? err : "?");
		delivery_done(rec->dl[i]);
	}
	free(rec);
	if (o)
		record_flush(o);
}

static void on_recorded_failure(PGresult *res, const char *err, void *arg)
{
	struct delivery *dl = arg;
	struct pr_outbox *o = dl->o;

	if (!o) {
		delivery_free(dl);
		return;
	}
	if (!res) {
		pr_warn("outbox: notification %s: the failed attempt could "
			"not be recorded (%s); it comes due again after its "
			"lease",
			dl->id, err ? err : "?");
	} else if (PQntuples(res) < 1) {
		pr_debug("outbox: notification %s is no longer claimed by "
			 "%s; outcome not recorded",
			 dl->id, dl->instance);
	} else if (strcmp(PQgetvalue(res, 0, 0), "abandoned") == 0) {
		o->abandoned++;
		pr_warn("outbox: notification %s (%s %s, %s) to %s abandoned "
			"(attempts: %s): %s",
			dl->id, dl->kind, dl->order_id, dl->event, dl->url,
			PQgetvalue(res, 0, 1), dl->error);
	} else {
		pr_info("outbox: notification %s (%s %s) to %s: attempt %s "
			"failed (%s); next in %ss",
			dl->id, dl->kind, dl->order_id, dl->url,
			PQgetvalue(res, 0, 1), dl->error,
			PQgetvalue(res, 0, 2));
	}
	delivery_done(dl);
}

/* $1 the deliveries, a JSON array of {"id", "status", "body" (the body
 * built here, or null)}. */
static const char delivered_sql[] =
	"UPDATE merchant_notifications n SET state = 'delivered', "
	"delivered_at = now(), attempts = n.attempts + 1, "
	"last_status = v.status, last_error = NULL, claimed_by = NULL, "
	"body = coalesce(n.body, v.body) "
	"FROM json_to_recordset($1::json) AS v(id bigint, status int, "
	"body text) WHERE n.id = v.id AND n.state = 'pending'";

/* $1 id, $2 status (NULL: none), $3 error, $4 give-up seconds, $5 abandon
 * now, $6 the schedule as an int[], $7 the claimer, $8 the body built here
 * (NULL: none). The give-up clock starts at creation or at the last
 * operator re-queue. */
static const char failed_sql[] =
	"UPDATE merchant_notifications n SET attempts = n.attempts + 1, "
	"last_status = $2::int, last_error = $3, claimed_by = NULL, "
	"body = coalesce(n.body, $8), state = CASE WHEN $5::boolean OR greatest(n.created_at, "
	"(SELECT max(a.at) FROM audit_log a WHERE a.object_kind = "
	"'notification' AND a.object_id = n.id::text AND a.action = 'retry')) "
	"+ make_interval(secs => $4::int) <= now() THEN 'abandoned' "
	"ELSE 'pending' END, "
	"next_at = now() + make_interval(secs => ($6::int[])[least(n.attempts "
	"+ 1, cardinality($6::int[]))]) "
	"WHERE n.id = $1::bigint AND n.state = 'pending' AND n.claimed_by = $7 "
	"RETURNING n.state, n.attempts, "
	"extract(epoch FROM n.next_at - now())::int";

/* Records the deliveries waiting, in one statement, unless one is in
 * flight: its answer calls this again, so that a busy outbox records its
 * successes in batches (what the claim is to the rows due) and an idle
 * one each at once. */
static void record_flush(struct pr_outbox *o)
{
	struct record *rec;
	json_t *arr;
	char *text = NULL;
	const char *p[1];

	if (o->rec || o->n_wait == 0)
		return;
	rec = malloc(sizeof(*rec) + o->n_wait * sizeof(rec->dl[0]));
	arr = json_array();
	for (size_t i = 0; rec && arr && i < o->n_wait; i++) {
		struct delivery *dl = o->wait[i];

		if (json_array_append_new(
			    arr, json_pack("{s:s,s:i,s:s?}", "id", dl->id,
					   "status", dl->status, "body",
					   dl->body_new ? dl->body : NULL)) < 0)
			break;
	}
	if (rec && arr && json_array_size(arr) == o->n_wait)
		text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!rec || !text) {
		free(rec);
		free(text);
		pr_err("outbox: out of memory; %zu delivered notifications are "
		       "sent again after their leases",
		       o->n_wait);
		for (size_t i = 0; i < o->n_wait; i++)
			delivery_done(o->wait[i]);
		o->n_wait = 0;
		return;
	}
	rec->o = o;
	rec->n = o->n_wait;
	memcpy(rec->dl, o->wait, rec->n * sizeof(rec->dl[0]));
	o->n_wait = 0;
	p[0] = text;
	if (pr_db_query_bg(o->d->db, delivered_sql, 1, p, 0, on_recorded_ok,
			   rec) < 0) {
		for (size_t i = 0; i < rec->n; i++) {
			pr_warn("outbox: notification %s was delivered but the "
				"store is unavailable; it will be sent again "
				"after its lease",
				rec->dl[i]->id);
			delivery_done(rec->dl[i]);
		}
		free(rec);
	} else {
		o->rec = rec;
	}
	free(text);
}

static void record_ok(struct delivery *dl, int status)
{
	struct pr_outbox *o = dl->o;

	dl->status = status;
	o->delivered++;
	pr_debug("outbox: notification %s (%s %s) delivered to %s (HTTP %d)",
		 dl->id, dl->kind, dl->order_id, dl->url, status);
	if (o->n_wait == o->cap_wait) {
		size_t cap = o->cap_wait ? 2 * o->cap_wait : 16;
		struct delivery **w = realloc(o->wait, cap * sizeof(*w));

		if (!w) {
			pr_err("outbox: out of memory; notification %s was "
			       "delivered and is sent again after its lease",
			       dl->id);
			delivery_done(dl);
			return;
		}
		o->wait = w;
		o->cap_wait = cap;
	}
	o->wait[o->n_wait++] = dl;
	record_flush(o);
}

static void record_failure(struct delivery *dl)
{
	const struct pr_config *cfg = dl->o->d->gen->config;
	char st[16], giveup[16], sched[PR_SCHEDULE_MAX * 12 + 3];
	const char *p[8];
	size_t off = 0;

	dl->o->failed++;
	snprintf(st, sizeof(st), "%d", dl->status);
	snprintf(giveup, sizeof(giveup), "%d", cfg->notify_give_up_s);
	sched[off++] = '{';
	for (size_t i = 0; i < cfg->n_notify_s && off < sizeof(sched) - 14; i++)
		off += (size_t)snprintf(sched + off, sizeof(sched) - off,
					"%s%d", i ? "," : "", cfg->notify_s[i]);
	if (cfg->n_notify_s == 0)
		off += (size_t)snprintf(sched + off, sizeof(sched) - off, "60");
	snprintf(sched + off, sizeof(sched) - off, "}");
	p[0] = dl->id;
	p[1] = dl->status ? st : NULL;
	p[2] = dl->error;
	p[3] = giveup;
	p[4] = dl->force_abandon ? "true" : "false";
	p[5] = sched;
	p[6] = dl->instance;
	p[7] = dl->body_new ? dl->body : NULL;
	if (pr_db_query_bg(dl->o->d->db, failed_sql, 8, p, 0,
			   on_recorded_failure, dl) < 0) {
		pr_warn("outbox: notification %s: attempt failed (%s) and the "
			"store is unavailable; it comes due again after its "
			"lease",
			dl->id, dl->error);
		delivery_done(dl);
	}
}

/* Appends text to dl->error as printable ASCII (others become '?'). */
static void error_append(struct delivery *dl, const char *text, size_t len)
{
	size_t off = strlen(dl->error);

	for (size_t i = 0; i < len && off < MAX_ERROR; i++) {
		unsigned char c = (unsigned char)text[i];

		dl->error[off++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dl->error[off] = '\0';
}

static void on_answer(const struct pr_httpc_result *res, void *arg)
{
	struct delivery *dl = arg;
	char head[32];

	if (!dl->o) {
		delivery_free(dl);
		return;
	}
	if (res->ok && res->status >= 200 && res->status < 300) {
		record_ok(dl, res->status);
		return;
	}
	dl->error[0] = '\0';
	if (res->ok) {
		dl->status = res->status;
		snprintf(head, sizeof(head), "HTTP %d", res->status);
		error_append(dl, head, strlen(head));
		if (res->body_len) {
			error_append(dl, ": ", 2);
			error_append(dl, res->body,
				     res->body_len < BODY_SNIPPET ?
					     res->body_len :
					     BODY_SNIPPET);
		}
	} else if (res->refused) {
		/* the guard refused every address the name resolved to:
		 * nothing connected; a retry would be refused again */
		dl->status = 0;
		dl->force_abandon = 1;
		error_append(dl, "refused: ", 9);
		error_append(dl, res->error, strlen(res->error));
		error_append(dl, " (never connected)", 18);
	} else {
		dl->status = 0;
		error_append(dl, res->error ? res->error : "no answer",
			     strlen(res->error ? res->error : "no answer"));
	}
	record_failure(dl);
}

static void fail_now(struct delivery *dl, int abandon, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records a failure found before anything was sent. */
static void fail_now(struct delivery *dl, int abandon, const char *fmt, ...)
{
	char msg[MAX_ERROR + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dl->error[0] = '\0';
	error_append(dl, msg, strlen(msg));
	dl->status = 0;
	dl->force_abandon = abandon;
	record_failure(dl);
}

/* ------------------------------------------------------------ guard */

/* Adds the listener l (named name) to g. */
static void guard_listener(struct pr_netguard *g, const char *name,
			   const struct pr_listen *l, int *any)
{
	struct pr_addr a;

	if (g->n_own + 2 > PR_NETGUARD_MAX_OWN)
		return;
	if (strcmp(l->host, "localhost") == 0) {
		pr_addr_parse("127.0.0.1", &g->own[g->n_own].addr);
		g->own[g->n_own].name = name;
		g->own[g->n_own++].port = l->port;
		pr_addr_parse("::1", &g->own[g->n_own].addr);
		g->own[g->n_own].name = name;
		g->own[g->n_own++].port = l->port;
		return;
	}
	if (pr_addr_parse(l->host, &a) < 0)
		return;
	g->own[g->n_own].name = name;
	g->own[g->n_own].addr = a;
	g->own[g->n_own].port = l->port;
	if (pr_addr_classify(&a) == PR_ADDR_UNSPECIFIED) {
		g->own[g->n_own].any = 1;
		*any = 1;
	}
	g->n_own++;
}

void pr_outbox_guard(const struct pr_config *cfg, struct pr_netguard *g)
{
	struct ifaddrs *ifs = NULL, *i;
	int any = 0;

	memset(g, 0, sizeof(*g));
	g->n_allow = cfg->n_notify_allow;
	memcpy(g->allow, cfg->notify_allow,
	       cfg->n_notify_allow * sizeof(g->allow[0]));
	guard_listener(g, "listen.merchant", &cfg->merchant_listen, &any);
	guard_listener(g, "listen.admin", &cfg->admin_listen, &any);
	if (!any || getifaddrs(&ifs) < 0)
		return;
	for (i = ifs; i && g->n_local < PR_NETGUARD_MAX_LOCAL;
	     i = i->ifa_next) {
		struct pr_addr *a = &g->local[g->n_local];

		if (!i->ifa_addr)
			continue;
		memset(a, 0, sizeof(*a));
		if (i->ifa_addr->sa_family == AF_INET) {
			a->family = 4;
			memcpy(a->b,
			       &((struct sockaddr_in *)(void *)i->ifa_addr)
					->sin_addr,
			       4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a->family = 6;
			memcpy(a->b,
			       &((struct sockaddr_in6 *)(void *)i->ifa_addr)
					->sin6_addr,
			       16);
		} else {
			continue;
		}
		g->n_local++;
	}
	freeifaddrs(ifs);
}

const char *pr_outbox_url_check(const struct pr_config *cfg, const char *url,
				char *why, size_t len)
{
	struct pr_netguard g;

	pr_outbox_guard(cfg, &g);
	return pr_netguard_url(&g, url, why, len);
}

static void delivery_start(struct delivery *dl)
{
	const struct payroute_services *svc = pr_services();
	const struct pr_config *cfg = dl->o->d->gen->config;
	struct payroute_http_req req;
	struct pr_netguard guard;
	char ts[24], sig[SIG_LEN], why[256];
	long long t = (long long)time(NULL);
	int rc;

	if (strncasecmp(dl->url, "http://", 7) != 0 &&
	    strncasecmp(dl->url, "https://", 8) != 0) {
		fail_now(dl, 1,
			 "refused URL: only http:// and https:// are sent to");
		return;
	}
	/* Checked again: the config (its allow list) may have changed since
	 * the order was taken, and a stored URL may predate the check. */
	pr_outbox_guard(cfg, &guard);
	if (pr_netguard_url(&guard, dl->url, why, sizeof(why))) {
		fail_now(dl, 1, "refused: %s (never connected)", why);
		return;
	}
	pr_http_req_init(&req);
	snprintf(ts, sizeof(ts), "%lld", t);
	rc = svc->http_set(&req, "POST", dl->url);
	if (rc == -EINVAL) {
		pr_http_req_clear(&req);
		fail_now(dl, 1, "refused URL: not a valid http(s) URL");
		return;
	}
	if (rc == 0)
		rc = pr_outbox_sign(dl->secret, t, dl->body, strlen(dl->body),
				    sig, sizeof(sig));
	if (rc == 0)
		rc = svc->http_header(&req, "Content-Type", "application/json");
	if (rc == 0)
		rc = svc->http_header(&req, "User-Agent",
				      "payrouted/" PR_VERSION);
	if (rc == 0)
		rc = svc->http_header(&req, "Payroute-Event", dl->event);
	if (rc == 0)
		rc = svc->http_header(&req, "Payroute-Notification-Id", dl->id);
	if (rc == 0)
		rc = svc->http_header(&req, "Payroute-Timestamp", ts);
	if (rc == 0)
		rc = svc->http_header(&req, "Payroute-Signature", sig);
	if (rc == 0)
		rc = svc->http_body(&req, dl->body, strlen(dl->body));
	if (rc == 0)
		rc = svc->http_timeout(&req, cfg->notify_timeout_ms);
	if (rc == 0)
		rc = pr_httpc_send_guarded(dl->o->d->httpc, &req, &guard,
					   on_answer, dl);
	pr_http_req_clear(&req);
	if (rc == -EINVAL)
		fail_now(dl, 1, "refused: the URL or event cannot be sent");
	else if (rc < 0)
		fail_now(dl, 0, "cannot send: %s", strerror(-rc));
}

/* The body of a notification whose order is final: {"event": ...,
 * "<kind>": the order's merchant JSON}, built by the kind's own function
 * (a final order does not change any more, so every attempt sends the
 * same body); kept with the attempt's outcome. */
static void on_order_json(json_t *j, const char *err, void *arg)
{
	struct delivery *dl = arg;
	json_t *body;

	if (!dl->o) {
		json_decref(j);
		delivery_free(dl);
		return;
	}
	if (!j) {
		fail_now(dl, !err, "the %s cannot be read: %s", dl->kind,
			 err ? err : "no such order");
		return;
	}
	body = json_pack("{s:s,s:o}", "event", dl->event, dl->kind, j);
	dl->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!dl->body) {
		fail_now(dl, 0, "out of memory");
		return;
	}
	dl->body_new = 1;
	delivery_start(dl);
}

/* Reads the order alone, then builds the body (on_order_json): a refund,
 * or an order the claim did not find. */
static void delivery_build(struct delivery *dl)
{
	int rc;

	dl->o->read_alone++;
	if (strcmp(dl->kind, "payment") == 0)
		rc = pr_order_json_load(dl->o->d, &pr_payment_kind,
					dl->order_id, on_order_json, dl);
	else if (strcmp(dl->kind, "withdrawal") == 0)
		rc = pr_order_json_load(dl->o->d, &pr_withdrawal_kind,
					dl->order_id, on_order_json, dl);
	else if (strcmp(dl->kind, "refund") == 0)
		rc = pr_refund_json_load(dl->o->d, dl->order_id, on_order_json,
					 dl);
	else
		rc = -EINVAL;
	if (rc == -EINVAL)
		fail_now(dl, 1, "no order of kind %s", dl->kind);
	else if (rc < 0)
		fail_now(dl, 0, "the %s cannot be read: store unavailable",
			 dl->kind);
}

/* -------------------------------------------------------------- claim */

/* The kinds whose orders the claim reads: a first attempt's body is
 * built from its order, and reading each order alone cost a statement (a
 * commit) per notification, as much as the claim and the record of a
 * busy outbox together. A refund's is read alone (pr_refund_json_load:
 * its row is read with its payment's), as is an order the claim did not
 * find. */
static const struct pr_order_kind *const claim_kinds[] = {
	&pr_payment_kind,
	&pr_withdrawal_kind,
};
#define N_CLAIM_KINDS (sizeof(claim_kinds) / sizeof(claim_kinds[0]))

/* The claim: $1 instance, $2 how many, $3 lease seconds.
 *
 *   WITH c AS (UPDATE merchant_notifications n SET next_at = ...,
 *     claimed_by = $1 FROM (SELECT id ... FOR UPDATE SKIP LOCKED) d,
 *     merchants m ... RETURNING n.id, ..., m.notify_secret)
 *   SELECT c.id, ..., c.notify_secret, k0.*, k1.* FROM c
 *   <pr_order_claim_sql's lookups of payments and withdrawals, for a
 *     row with no body yet: c.body IS NULL, by c.kind and c.order_id>
 *
 * Each claimed row carries its notification's columns (delivery_from_row),
 * then per kind a mark, NULL unless that kind's order was read (a first
 * attempt: no body yet), its row columns and the merchant's locale. The
 * order is final when its notification exists (the same transaction made
 * both), so what is read is what a later read would give. Returns a new
 * string or NULL. */
static char *claim_sql_build(void)
{
	return pr_order_claim_sql(
		"WITH c AS (UPDATE merchant_notifications n "
		"SET next_at = now() + make_interval(secs => $3::int), "
		"claimed_by = $1 "
		"FROM (SELECT id FROM merchant_notifications "
		"WHERE state = 'pending' AND next_at <= now() "
		"ORDER BY next_at LIMIT $2::int FOR UPDATE SKIP LOCKED) d, "
		"merchants m "
		"WHERE n.id = d.id AND m.id = n.merchant_id "
		"RETURNING n.id, n.merchant_id, n.kind, n.order_id, n.event, "
		"n.url, n.body, n.attempts, m.notify_secret) "
		"SELECT c.id, c.merchant_id, c.kind, c.order_id, c.event, "
		"c.url, c.body, c.attempts, c.notify_secret",
		" FROM c", claim_kinds, N_CLAIM_KINDS, "c.body IS NULL",
		"c.kind", "c.order_id");
}

/* Builds dl's body from the order the claim read in row r of res (mark:
 * the column of its kind's mark, or -1), and starts the delivery.
 * Returns -ENOENT when the claim did not read it (a refund, or no such
 * order: the caller reads it alone). */
static int body_from_claim(struct delivery *dl, PGresult *res, int r,
			   const struct pr_order_kind *k, int mark)
{
	void *row;
	json_t *j = NULL;
	const char *err;

	if (!k)
		return -ENOENT;
	row = pr_order_claim_read(res, r, k, mark, &err);
	if (!row && !err)
		return -ENOENT;
	dl->o->read_with_claim++;
	if (row && !(j = k->render(row, NULL)))
		err = "out of memory";
	if (row) {
		k->row_clear(row);
		free(row);
	}
	on_order_json(j, err, dl);
	return 0;
}

static struct delivery *delivery_from_row(struct pr_outbox *o, PGresult *res,
					  int row, const char *instance)
{
	struct delivery *dl = calloc(1, sizeof(*dl));

	if (!dl)
		return NULL;
	dl->o = o;
	snprintf(dl->id, sizeof(dl->id), "%s", PQgetvalue(res, row, 0));
	snprintf(dl->instance, sizeof(dl->instance), "%s", instance);
	dl->merchant_id = strdup(PQgetvalue(res, row, 1));
	dl->kind = strdup(PQgetvalue(res, row, 2));
	dl->order_id = strdup(PQgetvalue(res, row, 3));
	dl->event = strdup(PQgetvalue(res, row, 4));
	dl->url = strdup(PQgetvalue(res, row, 5));
	/* NULL: built from the order before the first attempt. */
	dl->body = PQgetisnull(res, row, 6) ? NULL :
					      strdup(PQgetvalue(res, row, 6));
	dl->attempts = atoi(PQgetvalue(res, row, 7));
	dl->secret = strdup(PQgetvalue(res, row, 8));
	if (!dl->merchant_id || !dl->kind || !dl->order_id || !dl->event ||
	    !dl->url || (!dl->body && !PQgetisnull(res, row, 6)) ||
	    !dl->secret) {
		delivery_free(dl);
		return NULL;
	}
	return dl;
}

static void on_claimed(PGresult *res, const char *err, void *arg)
{
	struct claim *c = arg;
	struct pr_outbox *o = c->o;
	struct delivery *dl;
	int mark[N_CLAIM_KINDS];
	int n;

	if (!o) {
		free(c);
		return;
	}
	o->claim = NULL;
	if (!res) {
		pr_warn("outbox: claiming due notifications failed: %s",
			err ? err : "?");
		free(c);
		return;
	}
	n = PQntuples(res);
	if (n > 0)
		pr_debug("outbox: claimed %d notifications", n);
	if (n >= c->limit)
		o->more = 1;
	for (size_t k = 0; k < N_CLAIM_KINDS; k++)
		mark[k] = pr_order_claim_mark(res, claim_kinds[k]);
	for (int i = 0; i < n; i++) {
		const struct pr_order_kind *kind = NULL;
		int kmark = -1;

		dl = delivery_from_row(o, res, i, c->instance);
		if (!dl) {
			pr_err("outbox: out of memory; notification %s comes "
			       "due again after its lease",
			       PQgetvalue(res, i, 0));
			continue;
		}
		TAILQ_INSERT_TAIL(&o->deliveries, dl, link);
		o->inflight++;
		for (size_t k = 0; k < N_CLAIM_KINDS; k++) {
			if (strcmp(dl->kind, claim_kinds[k]->name) == 0) {
				kind = claim_kinds[k];
				kmark = mark[k];
			}
		}
		/* Never calls back from inside: a failure found at once is
		 * recorded by a query, and ends the delivery at the latest
		 * when that query cannot be queued. */
		if (dl->body)
			delivery_start(dl);
		else if (body_from_claim(dl, res, i, kind, kmark) < 0)
			delivery_build(dl);
	}
	free(c);
	if (o->kicked) {
		o->kicked = 0;
		tick_soon(o);
	}
}

static void tick_schedule(struct pr_outbox *o, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(o->ev_tick, &tv);
}

/* Looks at once (from the loop), or right after the claim in flight. */
static void tick_soon(struct pr_outbox *o)
{
	if (o->claim)
		o->kicked = 1;
	else
		tick_schedule(o, 0);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pr_outbox *o = arg;
	struct pr_daemon *d = o->d;
	const struct pr_config *cfg = d->gen->config;
	char limit[16], lease[16];
	const char *p[3];
	struct claim *c;
	int n;

	(void)fd;
	(void)what;
	tick_schedule(o, cfg->notify_interval_ms);
	if (d->stopping || o->claim || !d->db || !pr_db_ready(d->db))
		return;
	n = cfg->notify_batch - (int)o->inflight;
	if (n <= 0) {
		o->more = 1; /* look again when one is over */
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->o = o;
	c->limit = n;
	snprintf(c->instance, sizeof(c->instance), "%s", cfg->instance);
	snprintf(limit, sizeof(limit), "%d", n);
	snprintf(lease, sizeof(lease), "%d",
		 2 * ((cfg->notify_timeout_ms + 999) / 1000) + LEASE_EXTRA_S);
	p[0] = c->instance;
	p[1] = limit;
	p[2] = lease;
	if (pr_db_query_bg(d->db, o->claim_sql, 3, p, 0, on_claimed, c) < 0) {
		free(c);
		return;
	}
	o->claim = c;
}

/* ---------------------------------------------------------- lifecycle */

struct pr_outbox *pr_outbox_new(struct pr_daemon *d)
{
	struct pr_outbox *o;

	if (!d || !d->base || !d->gen)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->d = d;
	TAILQ_INIT(&o->deliveries);
	o->claim_sql = claim_sql_build();
	o->ev_tick = o->claim_sql ? evtimer_new(d->base, on_tick, o) : NULL;
	if (!o->ev_tick) {
		free(o->claim_sql);
		free(o);
		return NULL;
	}
	tick_schedule(o, d->gen->config->notify_interval_ms);
	return o;
}

void pr_outbox_free(struct pr_outbox *o)
{
	struct delivery *dl;
	size_t n = 0;

	if (!o)
		return;
	event_free(o->ev_tick);
	if (o->claim)
		o->claim->o = NULL;
	if (o->rec)
		o->rec->o = NULL;
	/* delivered, waiting to be recorded: no callback will free them */
	for (size_t i = 0; i < o->n_wait; i++) {
		TAILQ_REMOVE(&o->deliveries, o->wait[i], link);
		delivery_free(o->wait[i]);
		n++;
	}
	free(o->wait);
	while ((dl = TAILQ_FIRST(&o->deliveries))) {
		TAILQ_REMOVE(&o->deliveries, dl, link);
		dl->o = NULL; /* freed by its pending callback */
		n++;
	}
	if (n)
		pr_info("outbox: %zu deliveries in flight dropped; they are "
			"sent again when their leases end",
			n);
	free(o->claim_sql);
	free(o);
}

void pr_outbox_kick(struct pr_outbox *o)
{
	if (o && !o->d->stopping)
		tick_soon(o);
}

void pr_outbox_get_stats(const struct pr_outbox *o, struct pr_outbox_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!o)
		return;
	st->delivered = o->delivered;
	st->failed = o->failed;
	st->abandoned = o->abandoned;
	st->inflight = o->inflight;
	st->read_with_claim = o->read_with_claim;
	st->read_alone = o->read_alone;
}

/* ---------------------------------------------------------- admin API */

/* The admin JSON of notification row alias A, without the body. */
#define NOTIF_JSON(A)                                                          \
	"json_build_object('id', " A ".id, 'merchant_id', " A                  \
	".merchant_id, 'kind', " A ".kind, 'order_id', " A ".order_id, "       \
	"'event', " A ".event, 'url', " A ".url, 'state', " A ".state, "       \
	"'attempts', " A ".attempts, 'next_at', pr_rfc3339(" A ".next_at), "   \
	"'claimed_by', " A ".claimed_by, 'last_status', " A ".last_status, "   \
	"'last_error', " A ".last_error, 'created_at', pr_rfc3339(" A          \
	".created_at), 'delivered_at', pr_rfc3339(" A ".delivered_at))"

static void on_list(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr;

	if (!res) {
		pr_api_reply_db_error(r, "outbox", "list notifications", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the notifications");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "notifications", arr));
}

static const char list_sql[] = "SELECT coalesce(json_agg(" NOTIF_JSON(
	"n") " ORDER BY n.id DESC), "
	     "'[]')::text FROM (SELECT * FROM merchant_notifications "
	     "WHERE ($2::text IS NULL OR state = $2) "
	     "AND ($3::text IS NULL OR order_id = $3) "
	     "AND ($4::text IS NULL OR merchant_id = $4) "
	     "ORDER BY id DESC LIMIT $1::int) n";

/* GET /admin/v1/notifications?state=&order_id=&merchant_id=&limit= */
void pr_outbox_list(struct pr_request *r, const struct pr_route_match *m)
{
	static const char *const names[] = { "state", "order_id",
					     "merchant_id" };
	struct evkeyvalq args;
	struct evkeyval *kv;
	char limit[16] = "100", vals[3][129];
	const char *p[4] = { limit, NULL, NULL, NULL };
	const char *v;
	char *end;
	long n;

	if (pr_api_query_args(r, &args) < 0)
		return;
	TAILQ_FOREACH(kv, &args, next) {
		if (strcmp(kv->key, "limit") != 0 &&
		    strcmp(kv->key, "state") != 0 &&
		    strcmp(kv->key, "order_id") != 0 &&
		    strcmp(kv->key, "merchant_id") != 0) {
			pr_api_reply_err(
				r, 400, "invalid_field", kv->key,
				"%.64s: unknown parameter (state, order_id, "
				"merchant_id and limit are known)",
				kv->key);
			goto out;
		}
	}
	if ((v = evhttp_find_header(&args, "limit"))) {
		n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > 1000) {
			pr_api_reply_err(r, 400, "invalid_field", "limit",
					 "limit: an integer from 1 to 1000");
			goto out;
		}
		snprintf(limit, sizeof(limit), "%ld", n);
	}
	for (int i = 0; i < 3; i++) {
		v = evhttp_find_header(&args, names[i]);
		if (!v || !*v)
			continue;
		if (!pr_api_printable(v, 128) ||
		    (i == 0 && strcmp(v, "pending") != 0 &&
		     strcmp(v, "delivered") != 0 &&
		     strcmp(v, "abandoned") != 0)) {
			if (i == 0)
				pr_api_reply_err(r, 400, "invalid_field",
						 "state",
						 "state: pending, delivered or "
						 "abandoned");
			else
				pr_api_reply_err(
					r, 400, "invalid_field", names[i],
					"%s: 1 to 128 printable characters",
					names[i]);
			goto out;
		}
		snprintf(vals[i], sizeof(vals[i]), "%s", v);
		p[i + 1] = vals[i];
	}
	pr_api_query(r, list_sql, 4, p, on_list);
out:
	evhttp_clear_headers(&args);
}

static void on_one(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *j;

	if (!res) {
		pr_api_reply_db_error(r, "outbox", "read notification", err);
		return;
	}
	if (PQntuples(res) < 1) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such notification");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the notification");
		return;
	}
	json_object_set_new(j, "body", json_string(PQgetvalue(res, 0, 1)));
	pr_request_reply(r, 200, j);
}

/* Re-queues a pending or abandoned notification: due now (unless another
 * instance is delivering it right now: then when that lease ends, so that
 * it is never sent twice at once), attempts back to 0, the give-up clock
 * restarted (failed_sql reads the time of this audit record). Answers
 * (state before, the notification after or NULL). */
static const char retry_sql[] =
	"WITH u AS (UPDATE merchant_notifications n SET state = 'pending', "
	"attempts = 0, next_at = CASE WHEN o.state = 'pending' AND "
	"o.claimed_by IS NOT NULL AND o.next_at > now() THEN o.next_at "
	"ELSE now() END "
	"FROM (SELECT * FROM merchant_notifications WHERE id = $1::bigint "
	"FOR UPDATE) o WHERE n.id = o.id AND o.state <> 'delivered' "
	"RETURNING n.id, " NOTIF_JSON("o") "::jsonb AS before, " NOTIF_JSON(
		"n") "::jsonb AS after), "
		     "a AS (INSERT INTO audit_log (actor, action, object_kind, "
		     "object_id, before, after, note) SELECT $2, 'retry', "
		     "'notification', u.id::text, u.before, u.after, $3 FROM u) "
		     "SELECT (SELECT state FROM merchant_notifications WHERE id = "
		     "$1::bigint), (SELECT after::text FROM u)";

static void on_retried(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	const char *actor;
	json_t *j;

	if (!res) {
		pr_api_reply_db_error(r, "outbox", "re-queue notification",
				      err);
		return;
	}
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such notification");
		return;
	}
	if (PQgetisnull(res, 0, 1)) {
		pr_api_reply_err(r, 409, "already_delivered", NULL,
				 "this notification was delivered; nothing to "
				 "retry");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the notification");
		return;
	}
	actor = pr_api_actor(r);
	pr_info("outbox: notification %" JSON_INTEGER_FORMAT
		" (%s) re-queued by %s",
		json_integer_value(json_object_get(j, "id")),
		json_string_value(json_object_get(j, "order_id")) ?
			json_string_value(json_object_get(j, "order_id")) :
			"?",
		actor ? actor : "admin");
	pr_outbox_kick(r->d->outbox);
	pr_request_reply(r, 200, j);
}

/* POST /admin/v1/notifications/{id}/retry: re-queue now (audited) */
void pr_outbox_retry(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");
	const char *actor, *note;
	const char *p[3];

	if (pr_api_audit_headers(r, &actor, &note) < 0)
		return;
	p[0] = id;
	p[1] = actor ? actor : "admin";
	p[2] = note;
	pr_api_query(r, retry_sql, 3, p, on_retried);
}

/* GET /admin/v1/notifications/{id}, with the body */
void pr_outbox_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *p[1] = { pr_route_param(m, "id") };

	pr_api_query(r,
		     "SELECT " NOTIF_JSON("n") "::text, n.body FROM "
					       "merchant_notifications n WHERE "
					       "n.id = $1::bigint",
		     1, p, on_one);
}
