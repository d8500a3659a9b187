/*
 * daemon.c - the running daemon.
 *
 * One libevent loop carries everything. Signals arrive as libevent signal
 * events, so the SIGHUP "handler" only schedules: the reload runs in the
 * loop. A reload builds a complete generation aside (config file, driver
 * directory rescan, the routing policy from the store in one round trip
 * (policy_snapshot: channels, whitelist, rules) built into the routing
 * catalogue, each online channel's driver init), and only when every part
 * validated is the current pointer swapped; on any error the old generation
 * stays and the log says "no changes were applied" and why. When the store
 * is unavailable the policy is carried over from the current generation's
 * source JSON. Reloads do not overlap: a request during a reload queues
 * exactly one more, however many arrive.
 *
 * Other instances announce policy changes with NOTIFY on
 * PR_POLICY_NOTIFY_CHANNEL; the store's LISTEN connection turns each into a
 * reload request, and so does the LISTEN connection being
 * (re-)established, since notifications may have been missed meanwhile.
 * Such reloads start at most once per PR_NOTIFY_RELOAD_INTERVAL_MS: the
 * first notification of a burst reloads at once, the rest of the burst is
 * folded into one more reload at the end of the interval (reloads take
 * about a millisecond, so the reload queue alone would let a burst spread
 * over a few milliseconds cause one reload per notification). Our own
 * notifications are skipped: the admin API reloads locally.
 *
 * Requests hold a reference on the generation they started with (struct
 * pr_request), so a swapped-out generation is freed when its last request
 * answers. Shutdown stops accepting, lets in-flight requests finish within
 * server.shutdown_timeout_ms, and leaves the loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin/admin.h"
#include "admin/operators.h"
#include "base/authcache.h"
#include "orders/approvals.h"
#include "base/clock.h"
#include "orders/chanhealth.h"
#include "orders/completion.h"
#include "runtime/daemon.h"
#include "runtime/log.h"
#include "runtime/offload.h"
#include "orders/merchants.h"
#include "orders/outbox.h"
#include "orders/recon.h"
#include "orders/refunds.h"
#include "orders/withdrawals.h"

static const char policy_sql[] =
	"SELECT channels::text, whitelist::text, rules::text, codes::text "
	"FROM policy_snapshot";

/* ------------------------------------------------------------ requests */

/* The loop's event base. With epoll, libevent's changelist: the changes
 * of one loop pass are merged and applied once before epoll_wait, so a
 * request whose connection stops reading while it is answered and starts
 * again once the answer is out costs one epoll_ctl where it cost four
 * (doc/design.md §10 has the figures). libevent warns only about a
 * descriptor dup()ed while both copies are watched, which payrouted never
 * does (the bill parsers' dup()s are files, never in the loop). Another
 * backend ignores the flag. */
static struct event_base *loop_base(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (!ec)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

void pr_request_raw(struct pr_request *r, int status, const char *ctype,
		    const void *body, size_t len)
{
	struct pr_daemon *d = r->d;
	int64_t overhead;

	if (d->stopping)
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Connection", "close");
	if (r->read_src.set) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
		char lag[24];

		evhttp_add_header(h, "X-Payroute-Read-Source",
				  r->read_src.replica ? "replica" : "primary");
		if (r->read_src.replica) {
			snprintf(lag, sizeof(lag), "%ld", r->read_src.lag_ms);
			evhttp_add_header(h, "X-Payroute-Read-Lag-Ms", lag);
		}
	}
	pr_http_reply_raw(r->req, status, ctype, body, len);
	overhead = pr_mono_us() - r->started_us - r->wait_us;
	pr_hist_observe(&d->overhead[r->op], overhead);
	pr_hist_observe(&d->store_wait[r->op], r->store_wait_us);
	pr_hist_observe(&d->store_run[r->op], r->store_run_us);
	pr_hist_observe(&d->own[r->op],
			overhead - r->store_wait_us - r->store_run_us);
	if (r->gen != d->gen)
		d->requests_on_old_gen++;
	pr_gen_unref(r->gen);
	if (d->n_spare_reqs < PR_SPARE_REQS)
		d->spare_reqs[d->n_spare_reqs++] = r;
	else
		free(r);
	d->inflight--;
	if (d->stopping && d->inflight == 0 && !d->usage_flushing)
		event_base_loopexit(d->base, NULL);
}

/* No store error text reaches a client: a store_unavailable answer says
 * only that (handlers put the store's reason in it), and any other error
 * message carrying a SQLSTATE (db.c's "message (SQLSTATE xxxxx)") is
 * replaced. The original goes to the log. */
static void scrub_store_text(struct pr_request *r, int status, json_t *body)
{
	json_t *e = json_object_get(body, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *generic;

	if (!code || !msg)
		return;
	if (strcmp(code, "store_unavailable") == 0) {
		generic = "the store (PostgreSQL) is unavailable; retry later";
		if (strcmp(msg, generic) == 0)
			return;
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Retry-After", "1");
	} else if (strstr(msg, "SQLSTATE")) {
		generic = "the store refused the operation; the daemon's log "
			  "says why";
	} else {
		return;
	}
	pr_warn("%s %s %s: %d %s: %s", r->listener, pr_http_method(r->req),
		r->path, status, code, msg);
	json_object_set_new(e, "message", json_string(generic));
}

void pr_request_reply(struct pr_request *r, int status, json_t *body)
{
	char *text;

	if (status >= 400 && body)
		scrub_store_text(r, status, body);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (!text) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\","
					  "\"message\":\"out of memory\"}}";

		pr_request_raw(r, 500, "application/json", oom,
			       sizeof(oom) - 1);
		return;
	}
	pr_request_raw(r, status, "application/json", text, strlen(text));
	free(text);
}

/* The daemon's own error answer, before a request reaches its listener's
 * table (the handlers answer through apiutil). */
static void request_error(struct pr_request *r, int status, const char *code,
			  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void request_error(struct pr_request *r, int status, const char *code,
			  const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_request_reply(r, status, pr_http_error_body(code, NULL, msg));
}

/* What a request does, from its method and path. */
static enum pr_req_op request_op(struct evhttp_request *req, const char *path)
{
	size_t n = strlen(path);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
		return PR_REQ_OTHER;
	if (strcmp(path, "/v1/payments") == 0)
		return PR_REQ_PAYMENT;
	if (strcmp(path, "/v1/withdrawals") == 0)
		return PR_REQ_WITHDRAWAL;
	if (strncmp(path, "/notify/", 8) == 0)
		return PR_REQ_CALLBACK;
	if (strncmp(path, "/v1/payments/", 13) == 0 && n > 21 &&
	    strcmp(path + n - 8, "/refunds") == 0)
		return PR_REQ_REFUND;
	return PR_REQ_OTHER;
}

static void request_begin(struct pr_daemon *d, struct evhttp_request *req,
			  const char *listener,
			  void (*handle)(struct pr_request *))
{
	struct pr_request *r;

	if (d->stopping) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
		pr_http_reply_error(req, 503, "shutting_down",
				    "payrouted is shutting down");
		return;
	}
	if (d->n_spare_reqs) {
		r = d->spare_reqs[--d->n_spare_reqs];
		memset(r, 0, sizeof(*r));
	} else {
		r = calloc(1, sizeof(*r));
	}
	if (!r) {
		pr_http_reply_error(req, 500, "internal", "out of memory");
		return;
	}
	r->d = d;
	r->req = req;
	r->listener = listener;
	r->gen = pr_gen_ref(d->gen);
	r->started_ms = pr_now_ms();
	r->started_us = pr_mono_us();
	r->op = PR_REQ_OTHER;
	d->inflight++;
	d->requests_total++;
	if (!pr_http_path(req, r->path, sizeof(r->path))) {
		request_error(r, 400, "bad_request",
			      "the request path cannot be decoded: it must "
			      "be percent-encoded UTF-8 without control "
			      "characters, at most %zu bytes",
			      sizeof(r->path) - 1);
		return;
	}
	r->op = request_op(req, r->path);
	handle(r);
}

static void on_merchant(struct evhttp_request *req, void *arg)
{
	request_begin(arg, req, "merchant", pr_merchant_handle);
}

static void on_admin(struct evhttp_request *req, void *arg)
{
	request_begin(arg, req, "admin", pr_admin_handle);
}

/* ------------------------------------------------------------- reload */

static void waiters_call(struct pr_reload_waiter *w, int ok, uint64_t gen,
			 const char *reason)
{
	while (w) {
		struct pr_reload_waiter *next = w->next;

		if (w->cb)
			w->cb(ok, gen, reason, w->arg);
		free(w);
		w = next;
	}
}

static void reload_begin(struct pr_daemon *d, const char *why);

/* The listeners' limits from a config: at start, and at each reload. */
static void listeners_configure(struct pr_daemon *d, const struct pr_config *c)
{
	struct pr_listen_limits m, a;
	char note[512];

	pr_listen_limits_derive(c, d->nofile, &m, &a, &d->fd_reserve, note,
				sizeof(note));
	if (note[0])
		pr_warn("%s", note);
	pr_listener_set_limits(&d->merchant, &m);
	pr_listener_set_limits(&d->admin, &a);
}

static void reload_finish(struct pr_daemon *d, int ok, const char *reason)
{
	struct pr_generation *g = d->reload_gen, *old = d->gen;
	struct pr_reload_waiter *w = d->waiters;
	char err[256];

	d->reload_gen = NULL;
	d->waiters = NULL;
	if (ok) {
		const struct pr_config *c = g->config;

		if (pr_log_open(c->log_target, err, sizeof(err)) < 0)
			pr_warn("reload: %s; logging stays where it was", err);
		pr_log_set_level((enum payroute_log_level)c->log_level);
		listeners_configure(d, c);
		d->gen = g;
		d->last_gen_id = g->id;
		d->reloads_ok++;
		/* a deleted channel's success rates go with it */
		pr_health_catalogue(d->health, g);
		pr_info("reload: generation %llu active (%zu drivers, %zu "
			"channels%s)",
			(unsigned long long)g->id, g->drivers.n, g->n_channels,
			g->channels_from_store ?
				"" :
				", carried over: store unavailable");
		pr_gen_unref(old);
		if (g->channels_from_store && !d->routable) {
			d->routable = 1;
			pr_info("ready: generation %llu routes with the "
				"store's policy (%zu channels)",
				(unsigned long long)g->id, g->n_channels);
		}
	} else {
		d->reloads_failed++;
		pr_err("reload failed: %s; no changes were applied (generation "
		       "%llu stays active)",
		       reason, (unsigned long long)d->gen->id);
		if (g) {
			g->unpublished = 1;
			pr_gen_unref(g);
		}
	}
	d->reload_running = 0;
	waiters_call(w, ok, d->gen->id, ok ? NULL : reason);
	if (d->reload_pending && !d->stopping) {
		char why[sizeof(d->pending_why) + 48];

		snprintf(why, sizeof(why), "queued: %s", d->pending_why);
		if (d->pending_more)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 " (and %u more)", d->pending_more);
		d->reload_pending = 0;
		d->pending_why[0] = '\0';
		d->pending_more = 0;
		d->waiters = d->pending_waiters;
		d->pending_waiters = NULL;
		reload_begin(d, why);
	}
}

/* Remembers why a reload was asked for while another ran (each reason
 * once; what does not fit is counted). */
static void pending_why_add(struct pr_daemon *d, const char *why)
{
	size_t used = strlen(d->pending_why), n = strlen(why);

	if (strstr(d->pending_why, why))
		return;
	if (used + n + 3 > sizeof(d->pending_why)) {
		d->pending_more++;
		return;
	}
	snprintf(d->pending_why + used, sizeof(d->pending_why) - used, "%s%s",
		 used ? "; " : "", why);
}

/* The last step: the catalogue, then each online channel's driver. */
static void reload_policy(struct pr_daemon *d, json_t *channels,
			  json_t *whitelist, json_t *rules, json_t *codes,
			  int from_store)
{
	char err[512];

	d->reload_gen->channels_from_store = from_store;
	if (pr_gen_set_policy(d->reload_gen, channels, whitelist, rules, err,
			      sizeof(err)) < 0 ||
	    pr_gen_set_codes(d->reload_gen, codes, err, sizeof(err)) < 0) {
		reload_finish(d, 0, err);
		return;
	}
	reload_finish(d, 1, NULL);
}

struct reload_query {
	struct pr_daemon *d;
	uint64_t token;
};

/* Column col of the snapshot as a JSON array (NULL for SQL NULL). */
static int snapshot_array(PGresult *res, int col, const char *name,
			  json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	*out = NULL;
	if (PQgetisnull(res, 0, col))
		return 0;
	j = json_loads(PQgetvalue(res, 0, col), JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(err, errlen, "%s: bad JSON from the store: %s", name,
			 jerr.text);
		return -EINVAL;
	}
	if (!json_is_array(j)) {
		json_decref(j);
		snprintf(err, errlen, "%s: the store did not give an array",
			 name);
		return -EINVAL;
	}
	*out = j;
	return 0;
}

static void on_policy(PGresult *res, const char *dberr, void *arg)
{
	struct reload_query *q = arg;
	struct pr_daemon *d = q->d;
	json_t *ch = NULL, *wl = NULL, *rules = NULL, *codes = NULL;
	char err[512];

	if (q->token != d->reload_token || !d->reload_gen) {
		free(q);
		return;
	}
	free(q);
	if (!res || PQntuples(res) != 1 || PQnfields(res) != 4) {
		snprintf(err, sizeof(err), "cannot read the routing policy: %s",
			 dberr ? dberr :
				 "policy_snapshot did not give one row of "
				 "four columns");
		reload_finish(d, 0, err);
		return;
	}
	if (snapshot_array(res, 0, "channels", &ch, err, sizeof(err)) < 0 ||
	    snapshot_array(res, 1, "whitelist", &wl, err, sizeof(err)) < 0 ||
	    snapshot_array(res, 2, "rules", &rules, err, sizeof(err)) < 0 ||
	    snapshot_array(res, 3, "codes", &codes, err, sizeof(err)) < 0) {
		json_decref(ch);
		json_decref(wl);
		json_decref(rules);
		reload_finish(d, 0, err);
		return;
	}
	reload_policy(d, ch, wl, rules, codes, 1);
	json_decref(ch);
	json_decref(wl);
	json_decref(rules);
	json_decref(codes);
}

/* Restart-only options keep their running values. */
static void keep_restart_options(struct pr_config *nc,
				 const struct pr_config *oc)
{
	const char *names[32];
	size_t n = pr_config_restart_changes(oc, nc, names, 32);

	for (size_t i = 0; i < n && i < 32; i++)
		pr_warn("reload: option %s changed but needs a restart; not "
			"applied",
			names[i]);
	nc->merchant_listen = oc->merchant_listen;
	nc->admin_listen = oc->admin_listen;
#define KEEP_STR(f)                                                            \
	do {                                                                   \
		free(nc->f);                                                   \
		nc->f = oc->f ? strdup(oc->f) : NULL;                          \
	} while (0)
	KEEP_STR(pid_file);
	KEEP_STR(db_conninfo);
	KEEP_STR(db_read_conninfo);
	KEEP_STR(migrations_dir);
	KEEP_STR(http_ca_file);
#undef KEEP_STR
	nc->db_pool_size = oc->db_pool_size;
	nc->db_reconnect_min_ms = oc->db_reconnect_min_ms;
	nc->db_reconnect_max_ms = oc->db_reconnect_max_ms;
	nc->db_query_timeout_ms = oc->db_query_timeout_ms;
	nc->db_read_pool_size = oc->db_read_pool_size;
	nc->db_read_max_lag_ms = oc->db_read_max_lag_ms;
	nc->http_timeout_ms = oc->http_timeout_ms;
	nc->http_connect_timeout_ms = oc->http_connect_timeout_ms;
	nc->http_verify_tls = oc->http_verify_tls;
	nc->http_max_connections = oc->http_max_connections;
}

static void reload_begin(struct pr_daemon *d, const char *why)
{
	struct pr_driver_set set;
	struct pr_config *cfg = NULL;
	struct reload_query *q;
	char err[512];

	d->reload_running = 1;
	d->reload_token++;
	pr_info("reload: %s; building generation %llu", why,
		(unsigned long long)(d->last_gen_id + 1));
	if (pr_config_load(d->config_path, &cfg, err, sizeof(err)) < 0) {
		reload_finish(d, 0, err);
		return;
	}
	keep_restart_options(cfg, d->gen->config);
	if (pr_loader_scan(cfg->driver_dir, &d->gen->drivers,
			   d->last_gen_id + 1, &set, err, sizeof(err)) < 0) {
		pr_config_free(cfg);
		reload_finish(d, 0, err);
		return;
	}
	d->reload_gen = pr_gen_new(d->last_gen_id + 1, cfg);
	if (!d->reload_gen) {
		pr_driver_set_release(&set);
		pr_config_free(cfg);
		reload_finish(d, 0, "out of memory");
		return;
	}
	d->reload_gen->drivers = set;
	if (d->db && pr_db_ready(d->db)) {
		q = malloc(sizeof(*q));
		if (q) {
			q->d = d;
			q->token = d->reload_token;
			if (pr_db_query(d->db, policy_sql, 0, NULL, on_policy,
					q) == 0)
				return;
			free(q);
		}
	}
	/* The store is unavailable: keep the policy we have, rebuilt and
	 * re-started with the new drivers and config. */
	reload_policy(d, d->gen->src_channels, d->gen->src_whitelist,
		      d->gen->src_rules, d->gen->src_codes, 0);
}

void pr_daemon_reload(struct pr_daemon *d, const char *why, pr_reload_cb cb,
		      void *arg)
{
	struct pr_reload_waiter *w = NULL, **list;

	if (cb) {
		w = calloc(1, sizeof(*w));
		if (!w) {
			cb(0, d->gen->id, "out of memory", arg);
			return;
		}
		w->cb = cb;
		w->arg = arg;
	}
	if (d->stopping) {
		if (w)
			waiters_call(w, 0, d->gen->id, "shutting down");
		return;
	}
	list = d->reload_running ? &d->pending_waiters : &d->waiters;
	if (w) {
		w->next = *list;
		*list = w;
	}
	if (d->reload_running) {
		pending_why_add(d, why);
		d->reload_pending = 1;
		return;
	}
	reload_begin(d, why);
}

/* ------------------------------------------------------------ signals */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct pr_daemon *d = arg;

	if (sig == SIGHUP)
		pr_daemon_reload(d, "SIGHUP", NULL, NULL);
	else
		pr_daemon_stop(d, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pr_daemon *d = arg;

	pr_warn("shutdown: %zu requests still in flight after %d ms; exiting",
		d->inflight, d->gen->config->shutdown_timeout_ms);
	event_base_loopexit(d->base, NULL);
}

static void on_usage_flushed(int rc, void *arg)
{
	struct pr_daemon *d = arg;

	if (rc < 0)
		pr_warn("shutdown: some daily-limit leases could not be given "
			"back (see above); they stay reserved until the day "
			"ends");
	d->usage_flushing = 0;
	if (d->inflight == 0)
		event_base_loopexit(d->base, NULL);
}

static void stop_now(struct pr_daemon *d, const char *why);

static void on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pr_daemon *d = arg;

	stop_now(d, "drained");
}

/* With server.drain_ms, a stop first only fails /readyz for that long
 * while every request is still served, so that a load balancer checking
 * readiness takes the instance out before its listeners close (doc/
 * design.md §7, "High availability"); a second signal stops at once. */
void pr_daemon_stop(struct pr_daemon *d, const char *why)
{
	int ms = d->gen->config->drain_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (d->stopping)
		return;
	if (ms > 0 && !d->draining) {
		d->ev_drain_timer = evtimer_new(d->base, on_drain_timer, d);
		if (d->ev_drain_timer &&
		    evtimer_add(d->ev_drain_timer, &tv) == 0) {
			d->draining = 1;
			pr_info("shutting down (%s): not ready for %d ms "
				"(server.drain_ms) while still serving; "
				"signal again to stop at once",
				why, ms);
			return;
		}
	}
	stop_now(d, why);
}

static void stop_now(struct pr_daemon *d, const char *why)
{
	struct timeval tv;
	int ms = d->gen->config->shutdown_timeout_ms;

	if (d->stopping)
		return;
	d->stopping = 1;
	if (d->ev_drain_timer)
		evtimer_del(d->ev_drain_timer);
	pr_info("shutting down (%s): %zu requests in flight", why, d->inflight);
	pr_listener_stop_accepting(&d->merchant);
	pr_listener_stop_accepting(&d->admin);
	/* Unspent daily-limit leases go back to the store, so that the other
	 * instances can use them today. */
	if (d->usage && pr_usage_flush(d->usage, on_usage_flushed, d) == 0)
		d->usage_flushing = 1;
	if (d->inflight == 0 && !d->usage_flushing) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	d->ev_stop_timer = evtimer_new(d->base, on_stop_timer, d);
	if (d->ev_stop_timer)
		evtimer_add(d->ev_stop_timer, &tv);
	else
		event_base_loopexit(d->base, NULL);
}

/* -------------------------------------------------------------- store */

/* The end of a notification interval: one reload for what arrived in it. */
static void on_notify_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pr_daemon *d = arg;
	char why[160];

	if (d->stopping || d->notify_folded == 0)
		return;
	snprintf(why, sizeof(why),
		 "policy changed (%lu more NOTIFYs, the last from pid %d)",
		 d->notify_folded, d->notify_last_pid);
	d->notify_folded = 0;
	d->notify_last_ms = pr_mono_ms();
	pr_daemon_reload(d, why, NULL, NULL);
}

/* A notification asks for a reload: now, or folded into the one at the
 * end of the current interval. */
static void notify_reload(struct pr_daemon *d, int pid)
{
	int64_t now = pr_mono_ms(), wait;
	struct timeval tv;
	char why[128];

	d->notify_last_pid = pid;
	if (d->ev_notify && evtimer_pending(d->ev_notify, NULL)) {
		d->notify_folded++;
		return;
	}
	wait = d->notify_last_ms + PR_NOTIFY_RELOAD_INTERVAL_MS - now;
	if (d->notify_last_ms == 0 || wait <= 0 || !d->ev_notify) {
		d->notify_last_ms = now;
		snprintf(why, sizeof(why),
			 "policy changed (NOTIFY from pid %d)", pid);
		pr_daemon_reload(d, why, NULL, NULL);
		return;
	}
	d->notify_folded++;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	if (evtimer_add(d->ev_notify, &tv) < 0) {
		d->notify_folded = 0;
		d->notify_last_ms = now;
		snprintf(why, sizeof(why),
			 "policy changed (NOTIFY from pid %d)", pid);
		pr_daemon_reload(d, why, NULL, NULL);
	}
}

/* A NOTIFY on the policy channel, or (channel NULL) the LISTEN connection
 * (re-)established. */
static void on_policy_notify(const char *channel, const char *payload,
			     int backend_pid, void *arg)
{
	struct pr_daemon *d = arg;

	if (d->stopping)
		return;
	if (!channel) {
		pr_daemon_reload(d,
				 "listening for policy changes (any sent "
				 "meanwhile may have been missed)",
				 NULL, NULL);
		return;
	}
	if (pr_db_own_backend(d->db, backend_pid)) {
		pr_debug("policy change notified by this instance (pid %d): "
			 "already reloaded here",
			 backend_pid);
		return;
	}
	d->notifications++;
	notify_reload(d, backend_pid);
}

/* A merchant was written (here or elsewhere), or (channel NULL) the
 * LISTEN connection is back and notifications may have been missed: the
 * authentication cache starts again. */
static void on_merchants_notify(const char *channel, const char *payload,
				int backend_pid, void *arg)
{
	struct pr_daemon *d = arg;

	(void)channel;
	(void)payload;
	(void)backend_pid;
	pr_auth_cache_flush(d->auth_cache);
}

/* An operator or one of its tokens changed (payload: its name; "": all
 * of them), or (channel NULL) the LISTEN connection is back and changes
 * may have been missed: the operators' token cache forgets them. */
static void on_operators_notify(const char *channel, const char *payload,
				int backend_pid, void *arg)
{
	struct pr_daemon *d = arg;

	(void)backend_pid;
	pr_operators_cache_notified(d, channel ? payload : NULL);
}

static void load_policy(struct pr_daemon *d)
{
	pr_daemon_reload(d, "store ready: loading the routing policy", NULL,
			 NULL);
}

/* The store's notification channels this instance listens on (doc/design.md
 * §3: a NOTIFY from another instance), and what is lost when a LISTEN
 * fails. */
static const struct {
	const char *channel;
	pr_db_notify_cb cb;
	const char *what;    /* "cannot listen for WHAT" */
	const char *without; /* what happens without it */
} listens[] = {
	{ PR_POLICY_NOTIFY_CHANNEL, on_policy_notify, "policy changes",
	  "changes made by other instances need a reload here" },
	{ PR_MERCHANTS_NOTIFY_CHANNEL, on_merchants_notify, "merchant changes",
	  "merchants.auth_cache_ms bounds how long an API key check made "
	  "elsewhere is reused" },
	{ PR_OPERATORS_NOTIFY_CHANNEL, on_operators_notify, "operator changes",
	  "operators' tokens are checked in the store at every request" },
};

static void listen_failed(int rc, const char *what, const char *without)
{
	pr_warn("store: cannot listen for %s: %s; %s", what, strerror(-rc),
		without);
}

static void on_store_state(int ready, void *arg)
{
	struct pr_daemon *d = arg;
	int rc;

	if (!ready || d->stopping)
		return;
	if (!d->listening) {
		for (size_t i = 0; i < sizeof(listens) / sizeof(listens[0]);
		     i++) {
			rc = pr_db_listen(d->db, listens[i].channel,
					  listens[i].cb, d);
			if (rc < 0)
				listen_failed(rc, listens[i].what,
					      listens[i].without);
			else if (listens[i].cb == on_policy_notify)
				d->listening = 1;
		}
		rc = pr_health_listen(d->health);
		if (rc < 0)
			listen_failed(rc, "circuit breakers",
				      "this instance decides from its own "
				      "calls");
	}
	if (!d->bootstrapped) {
		/* the first admin before the first policy load, so that
		 * the daemon is ready only once admin.token works */
		d->bootstrapped = 1;
		pr_operators_bootstrap(d, load_policy);
		return;
	}
	load_policy(d);
}

/* ------------------------------------------------------------ startup */

static int write_pid_file(const char *path, char *err, size_t errlen)
{
	char buf[32];
	FILE *f;

	f = fopen(path, "we");
	if (!f) {
		snprintf(err, errlen, "server.pid_file %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	fputs(buf, f);
	if (fclose(f) != 0) {
		snprintf(err, errlen, "server.pid_file %s: %s", path,
			 strerror(errno));
		return -EIO;
	}
	return 0;
}

int pr_daemon_start(struct pr_daemon *d, const char *config_path,
		    struct pr_config *cfg, char *err, size_t errlen)
{
	struct pr_driver_set set;
	struct pr_db_opts dbo = { 0 };
	struct pr_httpc_opts ho = { 0 };
	int rc;

	memset(d, 0, sizeof(*d));
	d->started_ms = pr_now_ms();
	d->config_path = strdup(config_path);
	d->base = loop_base();
	if (!d->config_path || !d->base) {
		pr_config_free(cfg);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = pr_loader_init();
	if (rc < 0) {
		pr_config_free(cfg);
		snprintf(err, errlen, "cannot initialise libltdl");
		return rc;
	}
	rc = pr_loader_scan(cfg->driver_dir, NULL, 1, &set, err, errlen);
	if (rc < 0) {
		pr_config_free(cfg);
		return rc;
	}
	d->gen = pr_gen_new(1, cfg);
	if (!d->gen) {
		pr_driver_set_release(&set);
		pr_config_free(cfg);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->gen->drivers = set;
	d->last_gen_id = 1;
	/* Until the store is reached: the drivers' default codes. */
	rc = pr_gen_set_codes(d->gen, NULL, err, errlen);
	if (rc < 0)
		return rc;
	pr_info("generation 1 active (%zu drivers; channels load when the "
		"store is ready)",
		set.n);

	/* Connection caps are derived from the descriptor limit (raised to
	 * its hard limit first), less a reserve for the store, the channels
	 * and the rest. */
	d->nofile = pr_fd_limit_raise();
	{
		struct pr_listen_limits m, a;
		char note[512];

		pr_listen_limits_derive(cfg, d->nofile, &m, &a, &d->fd_reserve,
					note, sizeof(note));
		if (note[0])
			pr_warn("%s", note);
		pr_info("open file limit %ld: %ld descriptors kept for the "
			"store, channels and files",
			d->nofile, d->fd_reserve);
		rc = pr_listener_open(&d->merchant, d->base, "merchant",
				      &cfg->merchant_listen, &m, on_merchant, d,
				      err, errlen);
		if (rc < 0)
			return rc;
		rc = pr_listener_open(&d->admin, d->base, "admin",
				      &cfg->admin_listen, &a, on_admin, d, err,
				      errlen);
		if (rc < 0)
			return rc;
	}

	ho.timeout_ms = cfg->http_timeout_ms;
	ho.connect_timeout_ms = cfg->http_connect_timeout_ms;
	ho.verify_tls = cfg->http_verify_tls;
	ho.ca_file = cfg->http_ca_file;
	ho.max_connections = cfg->http_max_connections;
	d->httpc = pr_httpc_new(d->base, &ho);
	if (!d->httpc) {
		snprintf(err, errlen, "cannot start the HTTP client");
		return -ENOMEM;
	}

	dbo.conninfo = cfg->db_conninfo;
	dbo.pool_size = pr_config_pool_size(cfg);
	dbo.reconnect_min_ms = cfg->db_reconnect_min_ms;
	dbo.reconnect_max_ms = cfg->db_reconnect_max_ms;
	dbo.query_timeout_ms = cfg->db_query_timeout_ms;
	dbo.migrations_dir = cfg->migrations_dir;
	d->db = pr_db_new(d->base, &dbo, on_store_state, d);
	if (!d->db) {
		snprintf(err, errlen, "cannot start the store");
		return -ENOMEM;
	}
	{
		struct pr_reads_opts ro = { 0 };

		ro.conninfo = cfg->db_read_conninfo;
		ro.pool_size = cfg->db_read_pool_size;
		ro.max_lag_ms = cfg->db_read_max_lag_ms;
		ro.reconnect_min_ms = cfg->db_reconnect_min_ms;
		ro.reconnect_max_ms = cfg->db_reconnect_max_ms;
		ro.query_timeout_ms = cfg->db_query_timeout_ms;
		d->reads = pr_reads_new(d->base, d->db, &ro);
		if (!d->reads) {
			snprintf(err, errlen, "cannot start the read replica");
			return -ENOMEM;
		}
	}
	d->usage = pr_usage_new(d->base, d->db, NULL);
	if (!d->usage) {
		snprintf(err, errlen, "cannot start the usage tracker");
		return -ENOMEM;
	}
	d->auth_cache = pr_auth_cache_new();
	d->op_cache = pr_authcache_new(PR_OPERATORS_CACHE_SLOTS);
	d->chanstats = pr_chanstats_new();
	d->health = pr_health_new(d);
	d->completion = pr_completion_new(d);
	d->recon = pr_recon_new(d);
	d->outbox = pr_outbox_new(d);
	d->refunds = pr_refunds_new(d);
	d->withdrawals = pr_withdrawals_new(d);
	d->approvals = pr_approvals_new(d);
	if (!d->auth_cache || !d->op_cache || !d->completion || !d->recon || !d->outbox ||
	    !d->refunds || !d->withdrawals || !d->chanstats || !d->health ||
	    !d->approvals) {
		snprintf(err, errlen, "cannot start the background jobs");
		return -ENOMEM;
	}

	signal(SIGPIPE, SIG_IGN);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_notify = evtimer_new(d->base, on_notify_timer, d);
	if (!d->ev_hup || !d->ev_term || !d->ev_int || !d->ev_notify ||
	    evsignal_add(d->ev_hup, NULL) < 0 ||
	    evsignal_add(d->ev_term, NULL) < 0 ||
	    evsignal_add(d->ev_int, NULL) < 0) {
		snprintf(err, errlen,
			 "cannot create the signal and timer events");
		return -EIO;
	}
	if (cfg->pid_file) {
		rc = write_pid_file(cfg->pid_file, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int pr_daemon_run(struct pr_daemon *d)
{
	pr_info("payrouted %s running (pid %ld)", PR_VERSION, (long)getpid());
	event_base_dispatch(d->base);
	return d->exit_code;
}

void pr_daemon_free(struct pr_daemon *d)
{
	/* The store and the client fail what they still hold: those
	 * callbacks answer their requests while the listeners still exist. */
	d->stopping = 1;
	pr_completion_free(d->completion);
	pr_health_free(d->health);
	d->health = NULL;
	d->completion = NULL;
	pr_recon_free(d->recon);
	d->recon = NULL;
	pr_outbox_free(d->outbox);
	d->outbox = NULL;
	pr_refunds_free(d->refunds);
	d->refunds = NULL;
	pr_withdrawals_free(d->withdrawals);
	d->withdrawals = NULL;
	pr_approvals_free(d->approvals);
	d->approvals = NULL;
	/* Channel calls in flight end (as timeouts: their orders stay
	 * chased), then the statements they queued fail, then the usage
	 * tracker, whose releases those failures may still ask for. */
	if (d->httpc)
		pr_httpc_free(d->httpc);
	d->httpc = NULL;
	pr_reads_free(d->reads);
	d->reads = NULL;
	if (d->db)
		pr_db_free(d->db);
	d->db = NULL;
	if (d->usage)
		pr_usage_free(d->usage);
	d->usage = NULL;
	pr_offload_shutdown(); /* the password KDF's worker thread */
	pr_listener_close(&d->merchant);
	pr_listener_close(&d->admin);
	pr_auth_cache_free(d->auth_cache);
	d->auth_cache = NULL;
	pr_authcache_free(d->op_cache);
	d->op_cache = NULL;
	while (d->n_spare_reqs)
		free(d->spare_reqs[--d->n_spare_reqs]);
	pr_chanstats_free(d->chanstats);
	d->chanstats = NULL;
	if (d->reload_gen) {
		d->reload_gen->unpublished = 1;
		pr_gen_unref(d->reload_gen);
	}
	waiters_call(d->waiters, 0, 0, "shutting down");
	waiters_call(d->pending_waiters, 0, 0, "shutting down");
	if (d->gen) {
		if (d->gen->config->pid_file)
			unlink(d->gen->config->pid_file);
		pr_gen_unref(d->gen);
	}
	if (d->ev_hup)
		event_free(d->ev_hup);
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_stop_timer)
		event_free(d->ev_stop_timer);
	if (d->ev_drain_timer)
		event_free(d->ev_drain_timer);
	if (d->ev_notify)
		event_free(d->ev_notify);
	if (d->base)
		event_base_free(d->base);
	pr_loader_exit();
	free(d->config_path);
	free(d->console_dir);
	pr_info("exit");
}
