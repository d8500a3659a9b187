/*
 * bench_usage.c - what leasing buys on daily-limit reservations
 * (doc/design.md §4, "Mind the hot row"). Against the PostgreSQL given by
 * --conninfo (migrations 001..003 applied), one process with one event
 * loop, one store pool and one struct pr_usage keeps --concurrency
 * reservations in flight for --seconds, spread round robin over 1 and then
 * 10 channels with a daily limit far away, in exact mode (one conditional
 * UPDATE of the channel's row per payment) and in lease mode, and prints
 * reservations per second, statements per second and latency percentiles.
 * Not a timed test: figures depend on the machine and on the server's
 * durability settings (run it against a server with fsync and
 * synchronous_commit on to see the effect of the row lock held across the
 * commit's flush).
 *
 * Usage: bench_usage --conninfo S [--seconds N] [--concurrency K]
 *                    [--pool N] [--amount A]
 * The rows of channels bench_0 .. bench_9 are deleted before each run.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "base/clock.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "orders/usage.h"

#define MAX_CONC 1024
#define MAX_LAT 4000000

struct bench;

struct slot {
	struct bench *b;
	int64_t start_us;
};

struct bench {
	struct event_base *base;
	struct pr_db *db;
	struct pr_usage *u;
	struct pr_usage_limits lim;
	int nchan;
	int concurrency;
	int64_t amount;
	int64_t deadline_us;
	int64_t t0_us, t1_us;
	unsigned long seq;
	unsigned long done, refused, errors;
	int inflight;
	int started;
	int finished;
	uint32_t *lat; /* microseconds */
	size_t nlat;
	struct slot slots[MAX_CONC];
};

static const char *const chans[10] = { "bench_0", "bench_1", "bench_2",
				       "bench_3", "bench_4", "bench_5",
				       "bench_6", "bench_7", "bench_8",
				       "bench_9" };

static void flushed(int rc, void *arg)
{
	struct bench *b = arg;

	if (rc < 0)
		fprintf(stderr, "bench_usage: flush: %s\n", strerror(-rc));
	b->finished = 1;
	event_base_loopbreak(b->base);
}

static void res_cb(int rc, const struct pr_usage_token *tok, void *arg);

static void issue(struct slot *s)
{
	struct bench *b = s->b;
	const char *ch = chans[b->seq++ % (unsigned long)b->nchan];
	int rc;

	s->start_us = pr_mono_us();
	rc = pr_usage_reserve(b->u, ch, NULL, &b->lim, b->amount, pr_now_ms(),
			      res_cb, s);
	if (rc < 0) {
		fprintf(stderr, "bench_usage: reserve: %s\n", strerror(-rc));
		b->errors++;
		b->inflight--;
	}
}

static void res_cb(int rc, const struct pr_usage_token *tok, void *arg)
{
	struct slot *s = arg;
	struct bench *b = s->b;
	int64_t t = pr_mono_us();

	(void)tok;
	if (rc == 1)
		b->done++;
	else if (rc == 0)
		b->refused++;
	else
		b->errors++;
	if (b->nlat < MAX_LAT)
		b->lat[b->nlat++] = (uint32_t)(t - s->start_us);
	if (t < b->deadline_us) {
		issue(s);
		return;
	}
	if (--b->inflight == 0) {
		b->t1_us = t;
		if (pr_usage_flush(b->u, flushed, b) < 0)
			event_base_loopbreak(b->base);
	}
}

static void start_cb(int ready, void *arg)
{
	struct bench *b = arg;

	if (!ready || b->started)
		return;
	b->started = 1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int clean(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo);
	PGresult *res;
	int rc = 0;

	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "bench_usage: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return -1;
	}
	res = PQexec(pg, "DELETE FROM channel_daily_usage "
			 "WHERE channel LIKE 'bench\\_%'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "bench_usage: %s", PQerrorMessage(pg));
		rc = -1;
	}
	PQclear(res);
	PQfinish(pg);
	return rc;
}

static int run(const char *conninfo, int nchan, int exact, int seconds,
	       int concurrency, int pool, int64_t amount, uint32_t *lat)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct pr_db_opts dbo = { 0 };
	struct pr_usage_opts uo = { 0 };
	struct pr_usage_stats st;
	struct pr_db_stats ds;
	unsigned long q0;
	double secs;
	int rc = -1;

	if (!b || clean(conninfo) < 0)
		goto out;
	b->base = event_base_new();
	b->nchan = nchan;
	b->concurrency = concurrency;
	b->amount = amount;
	b->lat = lat;
	b->lim.daily_amount = INT64_C(1000000000000000);
	dbo.conninfo = conninfo;
	dbo.pool_size = pool;
	dbo.reconnect_min_ms = 100;
	dbo.reconnect_max_ms = 2000;
	dbo.query_timeout_ms = 30000;
	dbo.max_queue = 100000;
	b->db = pr_db_new(b->base, &dbo, start_cb, b);
	uo.exact = exact;
	b->u = pr_usage_new(b->base, b->db, &uo);
	if (!b->base || !b->db || !b->u)
		goto out;
	/* Wait for the store (bounded), then start the clients. */
	for (int i = 0; i < 1000 && !b->started; i++)
		event_base_loop(b->base, EVLOOP_ONCE);
	if (!b->started) {
		fprintf(stderr, "bench_usage: the store did not get ready\n");
		goto out;
	}
	/* Let the whole pool connect before measuring. */
	for (int i = 0; i < 2000; i++) {
		struct timespec ts = { 0, 1000000 };

		pr_db_get_stats(b->db, &ds);
		if (ds.connected == pool)
			break;
		event_base_loop(b->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		nanosleep(&ts, NULL);
	}
	pr_db_get_stats(b->db, &ds);
	q0 = ds.queries;
	b->inflight = concurrency;
	b->t0_us = pr_mono_us();
	b->deadline_us = b->t0_us + (int64_t)seconds * 1000000;
	for (int i = 0; i < concurrency; i++) {
		b->slots[i].b = b;
		issue(&b->slots[i]);
	}
	event_base_dispatch(b->base);
	if (!b->finished) {
		fprintf(stderr, "bench_usage: the run did not finish\n");
		goto out;
	}
	pr_usage_get_stats(b->u, &st);
	pr_db_get_stats(b->db, &ds);
	secs = (double)(b->t1_us - b->t0_us) / 1e6;
	qsort(b->lat, b->nlat, sizeof(*b->lat), cmp_u32);
	printf("%-8s %9d %14.0f %13.0f %9u %9u %9u %8lu %6lu\n",
	       exact ? "exact" : "lease", nchan, (double)b->done / secs,
	       (double)(ds.queries - q0) / secs,
	       b->nlat ? b->lat[b->nlat / 2] : 0,
	       b->nlat ? b->lat[b->nlat * 99 / 100] : 0,
	       b->nlat ? b->lat[b->nlat - 1] : 0, st.local_grants,
	       b->errors + b->refused);
	fflush(stdout);
	rc = b->errors ? -1 : 0;
out:
	if (b) {
		if (b->u)
			pr_usage_free(b->u);
		if (b->db)
			pr_db_free(b->db);
		if (b->base)
			event_base_free(b->base);
		free(b);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conninfo", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "concurrency", required_argument, NULL, 'k' },
		{ "pool", required_argument, NULL, 'p' },
		{ "amount", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conninfo = NULL;
	int seconds = 3, conc = 16, pool = 16, opt, failed = 0;
	int64_t amount = 100;
	uint32_t *lat;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conninfo = optarg;
			break;
		case 's':
			seconds = atoi(optarg);
			break;
		case 'k':
			conc = atoi(optarg);
			break;
		case 'p':
			pool = atoi(optarg);
			break;
		case 'a':
			amount = strtoll(optarg, NULL, 10);
			break;
		default: /* getopt said what was wrong */
			conninfo = NULL;
			goto usage;
		}
	}
usage:
	if (!conninfo || optind != argc || seconds < 1 || seconds > 600 ||
	    conc < 1 || conc > MAX_CONC || pool < 1 || amount < 1) {
		fprintf(stderr, "usage: bench_usage --conninfo S [--seconds N] "
				"[--concurrency K] [--pool N] [--amount A]\n");
		return 2;
	}
	lat = malloc(sizeof(*lat) * MAX_LAT);
	if (!lat)
		return 1;
	pr_log_set_level(PAYROUTE_LOG_WARN);
	printf("bench_usage: %d concurrent reservations of %lld for %d s per "
	       "run, pool %d\n",
	       conc, (long long)amount, seconds, pool);
	printf("%-8s %9s %14s %13s %9s %9s %9s %8s %6s\n", "mode", "channels",
	       "reservations/s", "statements/s", "p50 us", "p99 us", "max us",
	       "local", "errors");
	for (int mode = 1; mode >= 0; mode--) {
		if (run(conninfo, 1, mode, seconds, conc, pool, amount, lat) <
		    0)
			failed = 1;
		if (run(conninfo, 10, mode, seconds, conc, pool, amount, lat) <
		    0)
			failed = 1;
	}
	clean(conninfo);
	free(lat);
	return failed;
}
