/*
 * admin.c - the two listeners' faces: their route tables, the handlers of
 * the admin listener's own paths, and what answers a request by its table.
 *
 * One table a listener (route.h): the method, the path pattern with its
 * named segments, the handler and who may call it. Both listeners answer
 * /healthz (the process is up) and /readyz (it can route: the store is
 * connected and migrated and a generation built from its routing policy is
 * active). The admin listener serves the admin API under /admin/v1/ (bearer
 * token from the current generation's config, compared in constant time,
 * before anything else is said about the path), /metrics (Prometheus text)
 * and the console's static files at /. The merchant listener serves the
 * merchant API (payments, refunds, withdrawals: the merchant's API key,
 * checked by each handler) and the channels' callbacks (/notify/, checked
 * by the channel's driver). Each listener also serves its OpenAPI 3.1
 * document (GET /v1/openapi.json, to anyone; GET /admin/v1/openapi.json,
 * behind the token as all of /admin/), doc/openapi/ as installed.
 *
 * The table answers what no handler needs to: 405 with an Allow header of
 * the methods the path takes, 404 (JSON, as every error) for a path no row
 * takes, 401 for an admin path without a valid token, 403 (audited) for an
 * operator whose roles lack the row's permission. Every answer goes out
 * through apiutil.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin/admin.h"
#include "runtime/apiutil.h"
#include "base/clock.h"
#include "runtime/crypto.h"
#include "domain/currency.h"
#include "orders/callbacks.h"
#include "orders/completion.h"
#include "admin/explain.h"
#include "orders/merchants.h"
#include "orders/orderadmin.h"
#include "admin/overview.h"
#include "orders/outbox.h"
#include "orders/payments.h"
#include "orders/recon.h"
#include "admin/recon_api.h"
#include "admin/breaker_api.h"
#include "orders/chanhealth.h"
#include "orders/refunds.h"
#include "orders/approvals.h"
#include "admin/approvals_api.h"
#include "orders/withdrawals.h"
#include "admin/operators.h"
#include "admin/sessions.h"
#include "admin/policy_api.h"
#include "admin/policy_replay.h"
#include "runtime/log.h"

#define CONSOLE_CSP                                                            \
	"default-src 'none'; script-src 'self'; style-src 'self'; "            \
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; "       \
	"base-uri 'none'; frame-ancestors 'none'"

#ifndef PR_CONSOLE_DIR
#define PR_CONSOLE_DIR "/usr/share/payroute/console"
#endif
#ifndef PR_OPENAPI_DIR
#define PR_OPENAPI_DIR "/usr/share/payroute/openapi"
#endif

/* ------------------------------------------------------ health, ready */

/* GET /healthz */
static void handle_health(struct pr_request *r, const struct pr_route_match *m)
{
	pr_request_reply(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* GET /readyz: ready means able to route: the store is up and the
 * channels were loaded from it, and the daemon is not draining before a
 * stop (server.drain_ms). */
static void handle_ready(struct pr_request *r, const struct pr_route_match *m)
{
	struct pr_daemon *d = r->d;

	if (d->draining) {
		pr_request_reply(r, 503,
				 json_pack("{s:b,s:s}", "ready", 0, "reason",
					   "shutting down (draining)"));
		return;
	}
	if (d->db && pr_db_ready(d->db) && d->routable) {
		pr_request_reply(r, 200, json_pack("{s:b}", "ready", 1));
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
			  "Retry-After", "1");
	pr_request_reply(r, 503,
			 json_pack("{s:b,s:s}", "ready", 0, "reason",
				   !(d->db && pr_db_ready(d->db)) ?
					   "store unavailable" :
					   "the routing policy is not "
					   "loaded yet"));
}

/* ------------------------------------------------------------ drivers */

/* One driver as GET /admin/v1/drivers shows it: config_keys is its
 * declared keys (ABI 1.2), or null for a driver that declares none (its
 * config is then checked by its init only); bills, whether it reads its
 * channels' bills (ABI 1.3: they are reconciled). */
static json_t *driver_json(const struct pr_module *m)
{
	char abi[32];

	snprintf(abi, sizeof(abi), "%u.%u", (unsigned)m->desc->abi_major,
		 (unsigned)m->desc->abi_minor);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:I,s:o?,s:b}", "name",
			 m->desc->name, "version",
			 m->desc->version ? m->desc->version : "", "abi", abi,
			 "file", m->file, "path", m->path, "description",
			 m->desc->description, "generation",
			 (json_int_t)m->loaded_in, "config_keys",
			 pr_schema_to_json(&m->schema), "bills",
			 PAYROUTE_HAS_BILLS(m->desc) ? 1 : 0);
}

/* GET /admin/v1/drivers */
static void handle_drivers(struct pr_request *r, const struct pr_route_match *m)
{
	const struct pr_driver_set *set = &r->gen->drivers;
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < set->n; i++)
		json_array_append_new(arr, driver_json(set->mods[i]));
	pr_request_reply(r, 200,
			 json_pack("{s:I,s:o}", "generation",
				   (json_int_t)r->gen->id, "drivers", arr));
}

/* GET /admin/v1/drivers/{name}: one driver, as in the list. */
static void handle_driver(struct pr_request *r, const struct pr_route_match *m)
{
	const char *name = pr_route_param(m, "name");
	const struct pr_module *mod =
		pr_driver_set_find(&r->gen->drivers, name);

	if (!mod) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no driver named %.64s is loaded (GET "
				 "/admin/v1/drivers lists them)",
				 name);
		return;
	}
	pr_request_reply(r, 200, driver_json(mod));
}

/* ------------------------------------------------------------- status */

static json_t *store_json(struct pr_daemon *d)
{
	struct pr_db_stats st;
	struct pr_reads_stats rs;

	pr_db_get_stats(d->db, &st);
	pr_reads_get_stats(d->reads, &rs);
	return json_pack("{s:b,s:i,s:i,s:i,s:I,s:I,s:I,s:{s:b,s:b,s:b,s:I,"
			 "s:i,s:s}}",
			 "ready", pr_db_ready(d->db), "pool_size", st.pool_size,
			 "connected", st.connected, "busy", st.busy, "queued",
			 (json_int_t)st.queued, "reconnects",
			 (json_int_t)st.reconnects, "errors",
			 (json_int_t)st.errors, "read_replica", "configured",
			 rs.configured, "connected", rs.connected, "in_use",
			 rs.in_use, "lag_ms", (json_int_t)rs.lag_ms,
			 "max_lag_ms", rs.max_lag_ms, "reason", rs.why);
}

static void on_status(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	struct pr_daemon *d = r->d;
	int64_t now;

	if (!res) {
		pr_warn("admin: status query failed: %s", err);
		pr_api_store_unavailable(r);
		return;
	}
	now = pr_now_ms();
	pr_request_reply(r, 200,
			 json_pack("{s:I,s:I,s:s,s:o,s:o,s:i,s:I,s:I,s:I,s:I}",
				   "generation", (json_int_t)r->gen->id,
				   "current_generation", (json_int_t)d->gen->id,
				   "version", PR_VERSION, "abi",
				   json_sprintf("%d.%d", PAYROUTE_ABI_MAJOR,
						PAYROUTE_ABI_MINOR),
				   "store", store_json(d), "schema_version",
				   PQgetisnull(res, 0, 0) ?
					   0 :
					   atoi(PQgetvalue(res, 0, 0)),
				   "uptime_s",
				   (json_int_t)((now - d->started_ms) / 1000),
				   "drivers", (json_int_t)r->gen->drivers.n,
				   "channels", (json_int_t)r->gen->n_channels,
				   "inflight", (json_int_t)d->inflight));
}

/* GET /admin/v1/status */
static void handle_status(struct pr_request *r, const struct pr_route_match *m)
{
	if (pr_db_query(r->d->db, "SELECT max(version) FROM schema_migrations",
			0, NULL, on_status, r) < 0)
		pr_api_store_unavailable(r);
}

/* --------------------------------------------------------- currencies */

/* GET /admin/v1/currencies: the ISO 4217 codes an order or a channel may
 * name, with their minor units (currency.c), so that the console shows
 * and takes amounts in major units: [{"code", "minor"}], sorted. */
static void handle_currencies(struct pr_request *r,
			      const struct pr_route_match *m)
{
	size_t n;
	const struct pr_currency *all = pr_currency_all(&n);
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (all[i].minor >= 0)
			json_array_append_new(
				arr, json_pack("{s:s,s:i}", "code", all[i].code,
					       "minor", all[i].minor));
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "currencies", arr));
}

/* ------------------------------------------------------------- reload */

static void on_reload(int ok, uint64_t gen, const char *reason, void *arg)
{
	struct pr_request *r = arg;

	if (ok)
		pr_request_reply(r, 200,
				 json_pack("{s:I}", "generation",
					   (json_int_t)gen));
	else
		pr_request_reply(r, 500,
				 json_pack("{s:{s:s,s:s,s:I}}", "error", "code",
					   "reload_failed", "message", reason,
					   "generation", (json_int_t)gen));
}

/* POST /admin/v1/reload */
static void handle_reload(struct pr_request *r, const struct pr_route_match *m)
{
	pr_daemon_reload(r->d, "admin API", on_reload, r);
}

/* ------------------------------------------------------------ metrics */

/* The order path's figures: what payroute adds to a request, the store's
 * prepared statements, the merchant authentication cache. */
static void metrics_order_path(struct pr_daemon *d, struct evbuffer *b,
			       const struct pr_db_stats *st)
{
	static const char *const ops[PR_REQ_N_OPS] = {
		"payment", "refund", "withdrawal", "callback", "other",
	};
	unsigned long hits, misses, flushes;
	char labels[32], buf[2048];

	evbuffer_add_printf(
		b, "# HELP payroute_overhead_seconds Time a request spent in "
		   "payrouted, minus the time it waited for channels.\n"
		   "# TYPE payroute_overhead_seconds histogram\n");
	for (int i = 0; i < PR_REQ_N_OPS; i++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", ops[i]);
		if (pr_hist_format(&d->overhead[i], "payroute_overhead_seconds",
				   labels, buf, sizeof(buf)) < sizeof(buf))
			evbuffer_add(b, buf, strlen(buf));
	}
	evbuffer_add_printf(
		b, "# HELP payroute_store_wait_seconds Time a request's store "
		   "statements waited for a pool connection (part of "
		   "payroute_overhead_seconds).\n"
		   "# TYPE payroute_store_wait_seconds histogram\n");
	for (int i = 0; i < PR_REQ_N_OPS; i++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", ops[i]);
		if (pr_hist_format(&d->store_wait[i],
				   "payroute_store_wait_seconds", labels, buf,
				   sizeof(buf)) < sizeof(buf))
			evbuffer_add(b, buf, strlen(buf));
	}
	evbuffer_add_printf(
		b, "# HELP payroute_store_run_seconds Time a request's store "
		   "statements ran on their connection, commits included "
		   "(part of payroute_overhead_seconds).\n"
		   "# TYPE payroute_store_run_seconds histogram\n");
	for (int i = 0; i < PR_REQ_N_OPS; i++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", ops[i]);
		if (pr_hist_format(&d->store_run[i],
				   "payroute_store_run_seconds", labels, buf,
				   sizeof(buf)) < sizeof(buf))
			evbuffer_add(b, buf, strlen(buf));
	}
	evbuffer_add_printf(
		b, "# HELP payroute_own_seconds payroute_overhead_seconds "
		   "minus a request's store wait and store time: the loop's "
		   "own work, and ready work waiting for the loop or a "
		   "core.\n"
		   "# TYPE payroute_own_seconds histogram\n");
	for (int i = 0; i < PR_REQ_N_OPS; i++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", ops[i]);
		if (pr_hist_format(&d->own[i], "payroute_own_seconds", labels,
				   buf, sizeof(buf)) < sizeof(buf))
			evbuffer_add(b, buf, strlen(buf));
	}
	if (d->usage) {
		struct pr_usage_stats us;

		pr_usage_get_stats(d->usage, &us);
		evbuffer_add_printf(
			b,
			"# HELP payroute_usage_reservations_total Daily-limit "
			"reservations, by how they were granted.\n"
			"# TYPE payroute_usage_reservations_total counter\n"
			"payroute_usage_reservations_total{from=\"lease\"} "
			"%lu\n"
			"payroute_usage_reservations_total{from=\"all\"} %lu\n"
			"# HELP payroute_usage_statements_total Statements of "
			"the usage tracker, by kind.\n"
			"# TYPE payroute_usage_statements_total counter\n"
			"payroute_usage_statements_total{kind=\"reserve\"} "
			"%lu\n"
			"payroute_usage_statements_total{kind=\"release\"} "
			"%lu\n"
			"payroute_usage_statements_total{kind=\"record\"} "
			"%lu\n"
			"payroute_usage_statements_total{kind=\"refresh\"} "
			"%lu\n",
			us.local_grants, us.reserves, us.db_reserves,
			us.db_releases, us.db_records, us.db_refreshes);
	}
	pr_auth_cache_stats(d->auth_cache, &hits, &misses, &flushes);
	evbuffer_add_printf(
		b,
		"# HELP payroute_store_prepares_total Statements prepared "
		"on store sessions.\n"
		"# TYPE payroute_store_prepares_total counter\n"
		"payroute_store_prepares_total %lu\n"
		"# HELP payroute_store_prepared_runs_total Executions of "
		"prepared statements.\n"
		"# TYPE payroute_store_prepared_runs_total counter\n"
		"payroute_store_prepared_runs_total %lu\n"
		"# HELP payroute_merchant_auth_total Merchant API key checks, "
		"by where the answer came from.\n"
		"# TYPE payroute_merchant_auth_total counter\n"
		"payroute_merchant_auth_total{from=\"cache\"} %lu\n"
		"payroute_merchant_auth_total{from=\"store\"} %lu\n"
		"# HELP payroute_merchant_auth_cache_flushes_total Times the "
		"authentication cache was emptied.\n"
		"# TYPE payroute_merchant_auth_cache_flushes_total counter\n"
		"payroute_merchant_auth_cache_flushes_total %lu\n",
		st->prepares, st->prepared_runs, hits, misses, flushes);
}

static void put_evbuffer(void *arg, const char *s, size_t n)
{
	evbuffer_add(arg, s, n);
}

/* One gauge family over the active generation's channels: value(c, &v)
 * answers 1 and v for a channel that has the figure, 0 for one that does
 * not (no limit, no outcome in the window). */
static void gauge_family(struct evbuffer *b, struct pr_daemon *d,
			 const char *name, const char *help,
			 int (*value)(struct pr_daemon *,
				      const struct pr_chan_spec *, double *))
{
	const struct pr_catalogue *cat = &d->gen->cat;
	double v;

	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help,
			    name);
	for (size_t i = 0; i < cat->n_chans; i++)
		if (value(d, &cat->chans[i], &v))
			evbuffer_add_printf(b, "%s{channel=\"%s\"} %.17g\n",
					    name, cat->chans[i].code, v);
}

static int g_online(struct pr_daemon *d, const struct pr_chan_spec *c,
		    double *v)
{
	*v = c->online;
	return 1;
}

static int g_maintenance(struct pr_daemon *d, const struct pr_chan_spec *c,
			 double *v)
{
	*v = pr_chan_in_maintenance(c, pr_now_ms());
	return 1;
}

static int g_success(struct pr_daemon *d, const struct pr_chan_spec *c,
		     double *v)
{
	*v = pr_usage_success_rate(d->usage, c->code, pr_now_ms());
	return *v >= 0;
}

static int g_amount(struct pr_daemon *d, const struct pr_chan_spec *c,
		    double *v)
{
	int64_t a = 0;

	pr_usage_today(d->usage, c->code, c->tz, pr_now_ms(), &a, NULL);
	*v = (double)a;
	return 1;
}

static int g_amount_limit(struct pr_daemon *d, const struct pr_chan_spec *c,
			  double *v)
{
	*v = (double)c->daily_amount;
	return c->daily_amount > 0;
}

static int g_count(struct pr_daemon *d, const struct pr_chan_spec *c, double *v)
{
	int64_t n = 0;

	pr_usage_today(d->usage, c->code, c->tz, pr_now_ms(), NULL, &n);
	*v = (double)n;
	return 1;
}

static int g_count_limit(struct pr_daemon *d, const struct pr_chan_spec *c,
			 double *v)
{
	*v = (double)c->daily_count;
	return c->daily_count > 0;
}

/* Each channel's state and figures: the active generation's channels
 * (gauges read at the scrape from memory: the catalogue, this instance's
 * view of today's usage, the routing window's success rate), then the
 * counters of chanstats.h. */
static void metrics_channels(struct pr_daemon *d, struct evbuffer *b)
{
	const struct pr_catalogue *cat = &d->gen->cat;
	int64_t now = pr_now_ms();

	gauge_family(b, d, "payroute_channel_online",
		     "1 when the channel is online in the active generation.",
		     g_online);
	gauge_family(b, d, "payroute_channel_in_maintenance",
		     "1 while the channel is in one of its maintenance "
		     "windows.",
		     g_maintenance);
	gauge_family(b, d, "payroute_channel_success_ratio",
		     "Successes over outcomes in the routing window (the last "
		     "10 minutes, this instance); absent without outcomes.",
		     g_success);
	if (d->usage) {
		gauge_family(b, d, "payroute_channel_daily_amount_minor_units",
			     "Amount used today (the channel's local day), in "
			     "minor units, as this instance sees it.",
			     g_amount);
		gauge_family(b, d, "payroute_channel_daily_orders",
			     "Orders counted against today's limit (the "
			     "channel's local day), as this instance sees it.",
			     g_count);
	}
	gauge_family(b, d, "payroute_channel_daily_amount_limit_minor_units",
		     "The channel's daily amount limit in minor units; absent "
		     "without one.",
		     g_amount_limit);
	gauge_family(b, d, "payroute_channel_daily_orders_limit",
		     "The channel's daily count limit; absent without one.",
		     g_count_limit);
	evbuffer_add_printf(
		b,
		"# HELP payroute_channel_bank_daily_amount_minor_units Amount "
		"used today at a bank with a per-bank daily limit, in minor "
		"units.\n"
		"# TYPE payroute_channel_bank_daily_amount_minor_units gauge\n");
	for (size_t i = 0; d->usage && i < cat->n_chans; i++)
		for (size_t j = 0; j < cat->chans[i].n_banks; j++) {
			const struct pr_chan_spec *c = &cat->chans[i];
			int64_t a = 0;

			if (c->banks[j].daily_amount <= 0)
				continue;
			pr_usage_today_scope(d->usage, c->code,
					     c->banks[j].bank_code, c->tz, now,
					     &a, NULL);
			evbuffer_add_printf(
				b,
				"payroute_channel_bank_daily_amount_minor_"
				"units{channel=\"%s\",bank=\"%s\"} %lld\n",
				c->code, c->banks[j].bank_code, (long long)a);
		}
	evbuffer_add_printf(
		b,
		"# HELP payroute_channel_bank_daily_amount_limit_minor_units "
		"A per-bank daily amount limit in minor units.\n"
		"# TYPE payroute_channel_bank_daily_amount_limit_minor_units "
		"gauge\n");
	for (size_t i = 0; i < cat->n_chans; i++)
		for (size_t j = 0; j < cat->chans[i].n_banks; j++)
			if (cat->chans[i].banks[j].daily_amount > 0)
				evbuffer_add_printf(
					b,
					"payroute_channel_bank_daily_amount_"
					"limit_minor_units{channel=\"%s\","
					"bank=\"%s\"} %lld\n",
					cat->chans[i].code,
					cat->chans[i].banks[j].bank_code,
					(long long)cat->chans[i]
						.banks[j]
						.daily_amount);
	pr_chanstats_write(d->chanstats, put_evbuffer, b);
	if (d->gen)
		pr_health_write(d->health, d->gen->config, put_evbuffer, b);
}

/* GET /metrics */
static void handle_metrics(struct pr_request *r, const struct pr_route_match *m)
{
	struct pr_daemon *d = r->d;
	struct pr_db_stats st;
	struct pr_outbox_stats ob;
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *text;

	if (!b) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	pr_db_get_stats(d->db, &st);
	pr_outbox_get_stats(d->outbox, &ob);
	evbuffer_add_printf(
		b,
		"# HELP payroute_info Build information.\n"
		"# TYPE payroute_info gauge\n"
		"payroute_info{version=\"%s\",abi=\"%d.%d\"} 1\n"
		"# HELP payroute_generation The active generation.\n"
		"# TYPE payroute_generation gauge\n"
		"payroute_generation %llu\n"
		"# HELP payroute_generations_alive Generations in memory "
		"(the active one and those still held by requests).\n"
		"# TYPE payroute_generations_alive gauge\n"
		"payroute_generations_alive %zu\n"
		"# HELP payroute_reloads_total Reloads by outcome.\n"
		"# TYPE payroute_reloads_total counter\n"
		"payroute_reloads_total{result=\"ok\"} %lu\n"
		"payroute_reloads_total{result=\"failed\"} %lu\n"
		"# HELP payroute_drivers_loaded Driver modules open.\n"
		"# TYPE payroute_drivers_loaded gauge\n"
		"payroute_drivers_loaded %zu\n"
		"# HELP payroute_channels Channels in the active generation.\n"
		"# TYPE payroute_channels gauge\n"
		"payroute_channels %zu\n"
		"# HELP payroute_http_requests_total Requests received.\n"
		"# TYPE payroute_http_requests_total counter\n"
		"payroute_http_requests_total %lu\n"
		"# HELP payroute_http_requests_inflight Requests being served.\n"
		"# TYPE payroute_http_requests_inflight gauge\n"
		"payroute_http_requests_inflight %zu\n"
		"# HELP payroute_requests_finished_on_old_generation_total "
		"Requests that ended after a reload replaced their generation.\n"
		"# TYPE payroute_requests_finished_on_old_generation_total "
		"counter\n"
		"payroute_requests_finished_on_old_generation_total %lu\n"
		"# HELP payroute_store_ready 1 when the store is usable.\n"
		"# TYPE payroute_store_ready gauge\n"
		"payroute_store_ready %d\n"
		"# HELP payroute_store_connections Store connections up.\n"
		"# TYPE payroute_store_connections gauge\n"
		"payroute_store_connections %d\n"
		"# HELP payroute_store_queued Queries waiting for a "
		"connection.\n"
		"# TYPE payroute_store_queued gauge\n"
		"payroute_store_queued %zu\n"
		"# HELP payroute_store_reconnects_total Reconnections.\n"
		"# TYPE payroute_store_reconnects_total counter\n"
		"payroute_store_reconnects_total %lu\n"
		"# HELP payroute_store_queries_total Queries run.\n"
		"# TYPE payroute_store_queries_total counter\n"
		"payroute_store_queries_total %lu\n"
		"# HELP payroute_store_errors_total Queries failed.\n"
		"# TYPE payroute_store_errors_total counter\n"
		"payroute_store_errors_total %lu\n"
		"# HELP payroute_schema_version Highest applied migration.\n"
		"# TYPE payroute_schema_version gauge\n"
		"payroute_schema_version %d\n"
		"# HELP payroute_channel_http_pending Channel requests in "
		"flight.\n"
		"# TYPE payroute_channel_http_pending gauge\n"
		"payroute_channel_http_pending %zu\n",
		PR_VERSION, PAYROUTE_ABI_MAJOR, PAYROUTE_ABI_MINOR,
		(unsigned long long)d->gen->id, pr_gen_alive(), d->reloads_ok,
		d->reloads_failed, pr_loader_open_count(), d->gen->n_channels,
		d->requests_total, d->inflight, d->requests_on_old_gen,
		pr_db_ready(d->db), st.connected, st.queued, st.reconnects,
		st.queries, st.errors, st.schema_version,
		pr_httpc_pending(d->httpc));
	evbuffer_add_printf(
		b,
		"# HELP payroute_notifications_total Merchant notification "
		"attempts by outcome (failed: retried or abandoned later).\n"
		"# TYPE payroute_notifications_total counter\n"
		"payroute_notifications_total{result=\"delivered\"} %lu\n"
		"payroute_notifications_total{result=\"failed\"} %lu\n"
		"# HELP payroute_notifications_abandoned_total Notifications "
		"given up.\n"
		"# TYPE payroute_notifications_abandoned_total counter\n"
		"payroute_notifications_abandoned_total %lu\n"
		"# HELP payroute_notifications_inflight Notifications being "
		"delivered by this instance.\n"
		"# TYPE payroute_notifications_inflight gauge\n"
		"payroute_notifications_inflight %zu\n"
		"# HELP payroute_notification_orders_read_total First "
		"attempts' orders read to build their bodies: with the "
		"claim, or alone (a refund; an order the claim did not "
		"find).\n"
		"# TYPE payroute_notification_orders_read_total counter\n"
		"payroute_notification_orders_read_total{read=\"with_claim\"} "
		"%lu\n"
		"payroute_notification_orders_read_total{read=\"alone\"} "
		"%lu\n",
		ob.delivered, ob.failed, ob.abandoned, ob.inflight,
		ob.read_with_claim, ob.read_alone);
	{
		struct pr_reads_stats rs;

		pr_reads_get_stats(d->reads, &rs);
		evbuffer_add_printf(
			b,
			"# HELP payroute_read_replica_connected 1 when the "
			"read replica's pool is up (database.read_conninfo).\n"
			"# TYPE payroute_read_replica_connected gauge\n"
			"payroute_read_replica_connected %d\n"
			"# HELP payroute_read_replica_in_use 1 when heavy reads "
			"go to the read replica, 0 when to the primary.\n"
			"# TYPE payroute_read_replica_in_use gauge\n"
			"payroute_read_replica_in_use %d\n"
			"# HELP payroute_read_replica_lag_seconds How far behind the "
			"primary the replica may be, at most (-1: unknown).\n"
			"# TYPE payroute_read_replica_lag_seconds gauge\n"
			"payroute_read_replica_lag_seconds %.3f\n"
			"# HELP payroute_reads_total Heavy reads by where they "
			"were sent.\n"
			"# TYPE payroute_reads_total counter\n"
			"payroute_reads_total{source=\"replica\"} %lu\n"
			"payroute_reads_total{source=\"primary\"} %lu\n"
			"# HELP payroute_read_replica_retries_total Reads that "
			"failed on the replica and were run on the primary.\n"
			"# TYPE payroute_read_replica_retries_total counter\n"
			"payroute_read_replica_retries_total %lu\n"
			"# HELP payroute_read_replica_fallbacks_total Times the "
			"reads left the replica (down, stale, not a standby).\n"
			"# TYPE payroute_read_replica_fallbacks_total counter\n"
			"payroute_read_replica_fallbacks_total %lu\n",
			rs.connected, rs.in_use,
			rs.lag_ms < 0 ? -1.0 : (double)rs.lag_ms / 1000.0,
			rs.replica_reads, rs.primary_reads, rs.retried,
			rs.fallbacks);
	}
	if (d->completion) {
		struct pr_completion_stats cs;

		pr_completion_get_stats(d->completion, &cs);
		evbuffer_add_printf(
			b,
			"# HELP payroute_completion_checks_total Order "
			"completion checks by this instance, by outcome.\n"
			"# TYPE payroute_completion_checks_total counter\n"
			"payroute_completion_checks_total{result=\"settled\"} "
			"%lu\n"
			"payroute_completion_checks_total{result="
			"\"rescheduled\"} %lu\n"
			"payroute_completion_checks_total{result="
			"\"attention\"} %lu\n"
			"payroute_completion_checks_total{result=\"error\"} "
			"%lu\n"
			"# HELP payroute_completion_inflight Orders being "
			"checked by this instance.\n"
			"# TYPE payroute_completion_inflight gauge\n"
			"payroute_completion_inflight %lu\n"
			"# HELP payroute_completion_orders_read_total Checked "
			"orders read: with the claim, or alone (a refund; an "
			"order the claim did not read).\n"
			"# TYPE payroute_completion_orders_read_total counter\n"
			"payroute_completion_orders_read_total{read="
			"\"with_claim\"} %lu\n"
			"payroute_completion_orders_read_total{read=\"alone\"} "
			"%lu\n",
			cs.settled, cs.rescheduled, cs.attention, cs.errors,
			cs.in_flight, cs.read_with_claim, cs.read_alone);
	}
	{
		char rb[4096];
		size_t rn = pr_refunds_metrics(d->refunds, rb, sizeof(rb));

		if (rn)
			evbuffer_add(b, rb, rn);
	}
	{
		char ab[512];
		size_t an = pr_approvals_metrics(d->approvals, ab, sizeof(ab));

		if (an)
			evbuffer_add(b, ab, an);
	}
	{
		char rc[12288];
		size_t n = pr_recon_metrics(d->recon, rc, sizeof(rc));

		if (n)
			evbuffer_add(b, rc, n);
	}
	{
		char ab[2048];
		size_t n = pr_operators_metrics(d, ab, sizeof(ab));

		if (n)
			evbuffer_add(b, ab, n);
	}
	metrics_order_path(d, b, &st);
	metrics_channels(d, b);
	{
		struct pr_listener *const ls[] = { &d->merchant, &d->admin };

		evbuffer_add_printf(b,
				    "# HELP payroute_ready 1 when the daemon "
				    "can route (/readyz).\n"
				    "# TYPE payroute_ready gauge\n"
				    "payroute_ready %d\n",
				    d->routable && pr_db_ready(d->db));
		pr_listeners_metrics(b, ls, 2, d->nofile, d->fd_reserve);
	}
	len = evbuffer_get_length(b);
	text = (char *)evbuffer_pullup(b, -1);
	pr_request_raw(r, 200, "text/plain; version=0.0.4", text, len);
	evbuffer_free(b);
}

/* ------------------------------------------------------------ console */

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (!dot)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	if (strcmp(dot, ".png") == 0)
		return "image/png";
	return "application/octet-stream";
}

/* Answers r with the file at path (at most 8 MiB) as type: 404 when it
 * is not a regular file, 500 when it cannot be read. csp: 1 to send the
 * console's Content-Security-Policy. */
static void reply_file(struct pr_request *r, const char *path, const char *type,
		       int csp)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > 8 * 1024 * 1024) {
		if (fd >= 0)
			close(fd);
		pr_api_reply_err(r, 404, "not_found", NULL, "no such page: %s",
				 r->path);
		return;
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		pr_warn("admin: cannot read %s for %s", path, r->path);
		pr_api_reply_err(r, 500, "internal", NULL, "cannot read %s",
				 r->path);
		return;
	}
	/* The console loads only its own script and style sheet (no inline
	 * script or style), talks to the admin API of its own origin, and
	 * uses a data: URL for its empty favicon. */
	if (csp)
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Content-Security-Policy", CONSOLE_CSP);
	pr_request_raw(r, 200, type, buf, (size_t)n);
	free(buf);
}

/* GET /{file*}: the console's static files. */
static void handle_console(struct pr_request *r, const struct pr_route_match *m)
{
	const char *dir = getenv("PAYROUTE_CONSOLE_DIR");
	const char *rel = strcmp(r->path, "/") == 0 ? "/index.html" : r->path;
	char path[PATH_MAX];

	if (!dir)
		dir = PR_CONSOLE_DIR;
	if (strstr(rel, "..") || strchr(rel, '\\')) {
		pr_api_reply_err(r, 400, "bad_request", NULL, "invalid path");
		return;
	}
	snprintf(path, sizeof(path), "%s%s", dir, rel);
	reply_file(r, path, content_type(path), 1);
}

/* ------------------------------------------------------------ openapi */

/* The listeners' OpenAPI 3.1 documents, doc/openapi/{merchant,admin}.json
 * as installed in $(pkgdatadir)/openapi (PAYROUTE_OPENAPI_DIR overrides
 * the directory, for tests run from the build tree). Read at each request,
 * as the console's files are: an upgrade that installs new documents is
 * served at once. tests/static/t_openapi_routes.sh keeps each document's
 * paths and the listener's table the same. */
static void reply_openapi(struct pr_request *r, const char *name)
{
	const char *dir = getenv("PAYROUTE_OPENAPI_DIR");
	char path[PATH_MAX];

	if (!dir)
		dir = PR_OPENAPI_DIR;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	reply_file(r, path, "application/json", 0);
}

/* GET /admin/v1/openapi.json */
static void handle_openapi_admin(struct pr_request *r,
				 const struct pr_route_match *m)
{
	reply_openapi(r, "admin.json");
}

/* GET /v1/openapi.json */
static void handle_openapi_merchant(struct pr_request *r,
				    const struct pr_route_match *m)
{
	reply_openapi(r, "merchant.json");
}

/* ------------------------------------------------------------ tables */

/* GET and the rest under /admin/ that no row takes (once the token is
 * checked: an unknown path says nothing before it). */
static void admin_not_found(struct pr_request *r,
			    const struct pr_route_match *m)
{
	pr_api_reply_err(r, 404, "not_found", NULL, "no such endpoint: %s",
			 r->path);
}

/* The admin listener. Rows of one pattern together; a more particular
 * pattern before the one that would take its path too. */
const struct pr_route pr_admin_routes[] = {
	{ PR_READ, "/healthz", handle_health, PR_AUTH_NONE, NULL,
	  PR_PERM_NONE },
	{ PR_READ, "/readyz", handle_ready, PR_AUTH_NONE, NULL, PR_PERM_NONE },
	{ PR_READ, "/metrics", handle_metrics, PR_AUTH_NONE, NULL,
	  PR_PERM_NONE },
	/* the daemon */
	{ PR_READ, "/admin/v1/status", handle_status, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/reload", handle_reload, PR_AUTH_ADMIN, NULL,
	  PR_PERM_DAEMON },
	{ PR_READ, "/admin/v1/overview", pr_overview_handle, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/currencies", handle_currencies, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/drivers", handle_drivers, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/drivers/{name}", handle_driver, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/route/explain", pr_explain_handle, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/openapi.json", handle_openapi_admin,
	  PR_AUTH_ADMIN, NULL, PR_PERM_SELF },
	/* the routing policy (policy_*.c) */
	{ PR_READ, "/admin/v1/channels", pr_policy_channels_list, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/channels", pr_policy_channel_create,
	  PR_AUTH_ADMIN, NULL, PR_PERM_POLICY_WRITE },
	{ PR_READ, "/admin/v1/channels/{code}", pr_policy_channel_get,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_VIEW },
	{ PR_PUT, "/admin/v1/channels/{code}", pr_policy_channel_put,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_POLICY_WRITE },
	{ PR_PATCH, "/admin/v1/channels/{code}", pr_policy_channel_patch,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_POLICY_WRITE },
	{ PR_DELETE, "/admin/v1/channels/{code}", pr_policy_channel_delete,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_POLICY_WRITE },
	{ PR_POST, "/admin/v1/channels/{code}/status", pr_policy_channel_status,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_CHANNEL_OPERATE },
	{ PR_PUT, "/admin/v1/channels/{code}/weight", pr_policy_channel_weight,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_CHANNEL_OPERATE },
	/* circuit breakers (breaker_api.c) */
	{ PR_READ, "/admin/v1/channels/{code}/breaker", pr_breaker_get,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/channels/{code}/breaker", pr_breaker_force,
	  PR_AUTH_ADMIN, pr_policy_code_ok, PR_PERM_CHANNEL_OPERATE },
	{ PR_READ, "/admin/v1/breakers", pr_breakers_list, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/whitelist", pr_policy_whitelist_list,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/whitelist", pr_policy_whitelist_add,
	  PR_AUTH_ADMIN, NULL, PR_PERM_POLICY_WRITE },
	{ PR_DELETE, "/admin/v1/whitelist/{id}", pr_policy_whitelist_delete,
	  PR_AUTH_ADMIN, pr_route_id_ok, PR_PERM_POLICY_WRITE },
	{ PR_READ, "/admin/v1/routing/rules", pr_policy_rules_get,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_PUT, "/admin/v1/routing/rules", pr_policy_rules_put, PR_AUTH_ADMIN,
	  NULL, PR_PERM_POLICY_WRITE },
	{ PR_READ, "/admin/v1/codes", pr_policy_codes_get, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/codes/overrides", pr_policy_overrides_get,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_PUT, "/admin/v1/codes/overrides", pr_policy_overrides_put,
	  PR_AUTH_ADMIN, NULL, PR_PERM_POLICY_WRITE },
	{ PR_DELETE, "/admin/v1/codes/overrides", pr_policy_overrides_delete,
	  PR_AUTH_ADMIN, NULL, PR_PERM_POLICY_WRITE },
	{ PR_READ, "/admin/v1/codes/unmapped", pr_policy_unmapped_get,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/audit", pr_policy_audit_get, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/policy", pr_policy_export, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_PUT, "/admin/v1/policy", pr_policy_import, PR_AUTH_ADMIN, NULL,
	  PR_PERM_POLICY_WRITE },
	{ PR_POST, "/admin/v1/policy/replay", pr_policy_replay_start,
	  PR_AUTH_ADMIN, NULL, PR_PERM_POLICY_WRITE },
	{ PR_READ, "/admin/v1/policy/replay/{id}", pr_policy_replay_get,
	  PR_AUTH_ADMIN, pr_route_id_ok, PR_PERM_VIEW },
	/* merchants (merchants.c) and their notifications (outbox.c) */
	{ PR_READ, "/admin/v1/merchants", pr_merchants_list, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/merchants", pr_merchants_create, PR_AUTH_ADMIN,
	  NULL, PR_PERM_MERCHANT_WRITE },
	{ PR_READ, "/admin/v1/merchants/{id}", pr_merchants_get, PR_AUTH_ADMIN,
	  pr_merchant_id_ok, PR_PERM_VIEW },
	{ PR_PATCH, "/admin/v1/merchants/{id}", pr_merchants_update,
	  PR_AUTH_ADMIN, pr_merchant_id_ok, PR_PERM_MERCHANT_WRITE },
	{ PR_POST, "/admin/v1/merchants/{id}/keys", pr_merchants_new_key,
	  PR_AUTH_ADMIN, pr_merchant_id_ok, PR_PERM_MERCHANT_WRITE },
	{ PR_POST, "/admin/v1/merchants/{id}/notify-secret",
	  pr_merchants_new_secret, PR_AUTH_ADMIN, pr_merchant_id_ok,
	  PR_PERM_MERCHANT_WRITE },
	{ PR_READ, "/admin/v1/notifications", pr_outbox_list, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_READ, "/admin/v1/notifications/{id}", pr_outbox_get, PR_AUTH_ADMIN,
	  pr_route_id_ok, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/notifications/{id}/retry", pr_outbox_retry,
	  PR_AUTH_ADMIN, pr_route_id_ok, PR_PERM_ORDER_FOLLOW_UP },
	/* orders (payments.c, refunds.c, withdrawals.c; lists and
	 * settlement: orderadmin.c) */
	{ PR_GET, "/admin/v1/orders/attention", pr_payments_attention,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_GET, "/admin/v1/payments", pr_orders_list_payments, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_GET, "/admin/v1/payments/{id}", pr_payments_admin_get,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/payments/{id}/settle", pr_orders_settle_payment,
	  PR_AUTH_ADMIN, NULL, PR_PERM_ORDER_SETTLE },
	{ PR_GET, "/admin/v1/refunds", pr_orders_list_refunds, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_GET, "/admin/v1/refunds/overdue", pr_refunds_overdue,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_GET, "/admin/v1/refunds/{id}", pr_refunds_admin_get, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/refunds/{id}/resend", pr_refunds_resend,
	  PR_AUTH_ADMIN, NULL, PR_PERM_ORDER_FOLLOW_UP },
	{ PR_POST, "/admin/v1/refunds/{id}/resolve", pr_refunds_resolve,
	  PR_AUTH_ADMIN, NULL, PR_PERM_ORDER_FOLLOW_UP },
	{ PR_POST, "/admin/v1/refunds/{id}/settle", pr_refunds_settle,
	  PR_AUTH_ADMIN, NULL, PR_PERM_ORDER_SETTLE },
	{ PR_GET, "/admin/v1/withdrawals", pr_orders_list_withdrawals,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_GET, "/admin/v1/withdrawals/{id}", pr_withdrawals_admin_get,
	  PR_AUTH_ADMIN, NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/withdrawals/{id}/settle",
	  pr_orders_settle_withdrawal, PR_AUTH_ADMIN, NULL,
	  PR_PERM_ORDER_SETTLE },
	/* four eyes on money (approvals_api.c) */
	{ PR_GET, "/admin/v1/approvals", pr_approvals_list, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_GET, "/admin/v1/approvals/{id}", pr_approvals_get, PR_AUTH_ADMIN,
	  pr_route_id_ok, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/approvals/{id}/approve", pr_approvals_approve,
	  PR_AUTH_ADMIN, pr_route_id_ok, PR_PERM_APPROVE },
	{ PR_POST, "/admin/v1/approvals/{id}/reject", pr_approvals_reject,
	  PR_AUTH_ADMIN, pr_route_id_ok, PR_PERM_APPROVE },
	/* reconciliation against the channels' bills (recon_api.c) */
	{ PR_GET, "/admin/v1/reconciliation", pr_recon_get, PR_AUTH_ADMIN, NULL,
	  PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/reconciliation/runs", pr_recon_run, PR_AUTH_ADMIN,
	  NULL, PR_PERM_ORDER_FOLLOW_UP },
	{ PR_POST, "/admin/v1/reconciliation/differences/{id}/resolve",
	  pr_recon_resolve, PR_AUTH_ADMIN, pr_route_id_ok,
	  PR_PERM_ORDER_FOLLOW_UP },
	/* operators and their tokens (operators.c); the console's sessions
	 * and passwords (sessions.c) */
	{ PR_DELETE, "/admin/v1/session", pr_sessions_sign_out, PR_AUTH_ADMIN,
	  NULL, PR_PERM_SELF },
	{ PR_POST, "/admin/v1/session", pr_sessions_sign_in, PR_AUTH_NONE, NULL,
	  PR_PERM_NONE }, /* signs in: no operator yet */
	{ PR_READ, "/admin/v1/whoami", pr_operators_whoami, PR_AUTH_ADMIN, NULL,
	  PR_PERM_SELF },
	{ PR_POST, "/admin/v1/whoami/password", pr_sessions_change_password,
	  PR_AUTH_ADMIN, NULL, PR_PERM_SELF },
	{ PR_READ, "/admin/v1/operators", pr_operators_list, PR_AUTH_ADMIN,
	  NULL, PR_PERM_VIEW },
	{ PR_POST, "/admin/v1/operators", pr_operators_create, PR_AUTH_ADMIN,
	  NULL, PR_PERM_OPERATORS },
	{ PR_READ, "/admin/v1/operators/{name}", pr_operators_get,
	  PR_AUTH_ADMIN, pr_operators_name_ok, PR_PERM_VIEW },
	{ PR_PATCH, "/admin/v1/operators/{name}", pr_operators_update,
	  PR_AUTH_ADMIN, pr_operators_name_ok, PR_PERM_OPERATORS },
	{ PR_POST, "/admin/v1/operators/{name}/password",
	  pr_sessions_set_password, PR_AUTH_ADMIN, pr_operators_name_ok,
	  PR_PERM_OPERATORS },
	{ PR_READ, "/admin/v1/operators/{name}/tokens",
	  pr_operators_tokens_list, PR_AUTH_ADMIN, pr_operators_name_ok,
	  PR_PERM_OPERATORS },
	{ PR_POST, "/admin/v1/operators/{name}/tokens",
	  pr_operators_token_create, PR_AUTH_ADMIN, pr_operators_name_ok,
	  PR_PERM_OPERATORS },
	{ PR_DELETE, "/admin/v1/operators/{name}/tokens/{id}",
	  pr_operators_token_revoke, PR_AUTH_ADMIN, pr_operators_name_ok,
	  PR_PERM_OPERATORS },
	/* the rest */
	{ PR_ANY, "/admin/{rest*}", admin_not_found, PR_AUTH_ADMIN, NULL,
	  PR_PERM_SELF },
	{ PR_READ, "/{file*}", handle_console, PR_AUTH_NONE, NULL,
	  PR_PERM_NONE },
};
const size_t pr_admin_n_routes =
	sizeof(pr_admin_routes) / sizeof(pr_admin_routes[0]);

/* The merchant listener. */
const struct pr_route pr_merchant_routes[] = {
	{ PR_READ, "/healthz", handle_health, PR_AUTH_NONE, NULL,
	  PR_PERM_NONE },
	{ PR_READ, "/readyz", handle_ready, PR_AUTH_NONE, NULL, PR_PERM_NONE },
	{ PR_READ, "/v1/openapi.json", handle_openapi_merchant, PR_AUTH_NONE,
	  NULL, PR_PERM_NONE },
	{ PR_POST, "/v1/payments", pr_payments_create, PR_AUTH_MERCHANT, NULL,
	  PR_PERM_NONE },
	{ PR_GET, "/v1/payments", pr_payments_find, PR_AUTH_MERCHANT, NULL,
	  PR_PERM_NONE },
	{ PR_GET, "/v1/payments/{id}", pr_payments_get, PR_AUTH_MERCHANT, NULL,
	  PR_PERM_NONE },
	{ PR_POST, "/v1/payments/{id}/close", pr_payments_close,
	  PR_AUTH_MERCHANT, NULL, PR_PERM_NONE },
	{ PR_POST, "/v1/payments/{id}/refunds", pr_refunds_create,
	  PR_AUTH_MERCHANT, NULL, PR_PERM_NONE },
	{ PR_GET, "/v1/payments/{id}/refunds", pr_refunds_list,
	  PR_AUTH_MERCHANT, NULL, PR_PERM_NONE },
	{ PR_GET, "/v1/refunds", pr_refunds_find, PR_AUTH_MERCHANT, NULL,
	  PR_PERM_NONE },
	{ PR_GET, "/v1/refunds/{id}", pr_refunds_get, PR_AUTH_MERCHANT, NULL,
	  PR_PERM_NONE },
	{ PR_POST, "/v1/withdrawals", pr_withdrawals_create, PR_AUTH_MERCHANT,
	  NULL, PR_PERM_NONE },
	{ PR_GET, "/v1/withdrawals", pr_withdrawals_find, PR_AUTH_MERCHANT,
	  NULL, PR_PERM_NONE },
	{ PR_GET, "/v1/withdrawals/{id}", pr_withdrawals_get, PR_AUTH_MERCHANT,
	  NULL, PR_PERM_NONE },
	{ PR_POST, "/notify/{code*}", pr_callbacks_handle, PR_AUTH_CHANNEL,
	  NULL, PR_PERM_NONE },
};
const size_t pr_merchant_n_routes =
	sizeof(pr_merchant_routes) / sizeof(pr_merchant_routes[0]);

/* ----------------------------------------------------------- answers */

/* The request's method as the tables name it. */
static unsigned method_of(struct pr_request *r)
{
	switch (evhttp_request_get_command(r->req)) {
	case EVHTTP_REQ_GET:
		return PR_GET;
	case EVHTTP_REQ_HEAD:
		return PR_HEAD;
	case EVHTTP_REQ_POST:
		return PR_POST;
	case EVHTTP_REQ_PUT:
		return PR_PUT;
	case EVHTTP_REQ_PATCH:
		return PR_PATCH;
	case EVHTTP_REQ_DELETE:
		return PR_DELETE;
	default:
		return PR_OTHER;
	}
}

/* Once r->who is known (an operator's row of the admin table: the match
 * is made again, a pure function of the method and the path, so that
 * nothing waits in memory for the authentication, which may end in an
 * answer of its own): 405 with Allow when the path's rows do not take the
 * method; 403 when the operator lacks the row's permission; else the
 * handler. */
static void authenticated(struct pr_request *r, void *arg)
{
	struct pr_route_match m;
	char allow[64];
	int rc = pr_route_find(pr_admin_routes, pr_admin_n_routes, method_of(r),
			       r->path, &m);

	(void)arg;
	if (rc == -ENOTSUP)
		pr_api_method_not_allowed(r, pr_route_allow(m.allowed, allow,
							    sizeof(allow)));
	else if (rc < 0)
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such endpoint: %s %s",
				 pr_http_method(r->req), r->path);
	else if (!pr_perm_allowed(&r->who, m.route->perm))
		pr_operators_refuse(r, m.route->perm);
	else
		m.route->handle(r, &m);
}

/* Answers r as pr_route_find found it (rc, m): 404 for a path no row
 * takes; a row that needs an operator is authenticated first
 * (operators.c: 401 without a valid token), then authenticated() goes on;
 * 405 with Allow; else the row's handler. */
static void answer(struct pr_request *r, int rc, const struct pr_route_match *m)
{
	char allow[64];

	if (rc == -ENOENT) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such endpoint: %s %s",
				 pr_http_method(r->req), r->path);
		return;
	}
	if (m->route->auth == PR_AUTH_ADMIN) {
		pr_operators_authenticate(r, authenticated, NULL);
		return;
	}
	if (rc == -ENOTSUP) {
		pr_api_method_not_allowed(r, pr_route_allow(m->allowed, allow,
							    sizeof(allow)));
		return;
	}
	m->route->handle(r, m);
}

void pr_admin_handle(struct pr_request *r)
{
	struct pr_route_match m;
	int rc = pr_route_find(pr_admin_routes, pr_admin_n_routes, method_of(r),
			       r->path, &m);

	answer(r, rc, &m);
}

void pr_merchant_handle(struct pr_request *r)
{
	unsigned method = method_of(r);
	struct pr_route_match m;
	int rc = pr_route_find(pr_merchant_routes, pr_merchant_n_routes, method,
			       r->path, &m);

	/* Before the channels are loaded nothing can be routed: a request
	 * that would create or move an order (every method but GET and
	 * HEAD, callbacks included, whatever its path but health and
	 * readiness) is told to come back, never answered with a failure
	 * (nor stored under its Idempotency-Key). */
	if (!r->d->routable && !(method & PR_READ) &&
	    (rc == -ENOENT || m.route->auth != PR_AUTH_NONE)) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Retry-After", "1");
		pr_api_reply_err(r, 503, "not_ready", NULL,
				 "payrouted is starting: the routing policy "
				 "is not loaded yet; retry shortly");
		return;
	}
	answer(r, rc, &m);
}
