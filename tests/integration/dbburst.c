/*
 * dbburst.c - the store pool's order under load (doc/design.md §5, "The
 * pool"; core/base/qpick.c), against a real PostgreSQL: run by
 * t_db_burst.sh, which starts the server. Two phases, each bounded:
 *
 *   burst   three rounds of background statements (pr_db_query_bg, each
 *           SELECT pg_sleep(0.5)) on every connection they may hold,
 *           while a request (SELECT 1) is sent every 20 ms: no request
 *           may wait behind them (one connection stays for requests),
 *           and no more of them run at once than the pool's share
 *           (pr_qpick_bg_max, read from pg_stat_activity by the
 *           requests themselves: what one sees while it holds a
 *           connection, so it catches a share too large by two or more);
 *   starve  a closed loop of requests (SELECT pg_sleep(0.05)) keeps the
 *           requests' queue full for 3 s; one background statement sent
 *           into it must wait for the requests first (at least 0.5 s)
 *           and then at most its bound (PR_QPICK_MAX_WAIT_US) and one
 *           request's statement, with slack for a loaded machine.
 *
 *   dbburst CONNINFO POOL_SIZE
 *
 * Prints its figures and "ok"/"FAIL" lines; exits 0 when every check
 * held, 1 when one failed, 2 on a usage or setup error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "base/qpick.h"
#include "runtime/db.h"
#include "runtime/log.h"

#define BG_SQL "SELECT pg_sleep(0.5) /* dbburst bg */"
#define BG_US 500000
#define REQ_EVERY_MS 20
#define BURST_REQ_MAX_US 250000 /* half a background statement */
#define STARVE_S 3
#define STARVE_REQ_SQL "SELECT pg_sleep(0.05)"
#define STARVE_BG_AT_MS 200
#define STARVE_BG_MIN_US 500000
#define STARVE_BG_MAX_US (PR_QPICK_MAX_WAIT_US + 1000000)
#define DEADLINE_S 30
#define MAX_REQ 1024

struct run {
	struct event_base *base;
	struct pr_db *db;
	int pool, bg_max;
	int phase; /* 0: waiting for the store, 1: burst, 2: starve, 3: done */
	int failed;
	struct event *tick, *deadline;
	/* burst */
	int bg_total, bg_done, req_sent, req_done;
	int64_t req_max_us, req_sum_us, burst_start;
	int bg_seen_max; /* background statements seen running at once */
	int64_t req_lat[MAX_REQ];
	/* starve */
	int64_t starve_start, bg_sent_at, bg_lat_us;
	int loop_live, loop_done, bg_back;
};

struct req {
	struct run *run;
	int64_t sent;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void check(struct run *run, int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "FAIL", what);
	if (!ok)
		run->failed = 1;
}

static void start_starve(struct run *run);

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The burst is over when every background statement and request is back. */
static void burst_maybe_done(struct run *run)
{
	char what[200];
	int64_t p50;

	if (run->phase != 1 || run->bg_done < run->bg_total ||
	    event_pending(run->tick, EV_TIMEOUT, NULL) ||
	    run->req_done < run->req_sent)
		return;
	qsort(run->req_lat, (size_t)run->req_done, sizeof(run->req_lat[0]),
	      cmp64);
	p50 = run->req_lat[run->req_done / 2];
	printf("burst: %d background statements of %d ms on a pool of %d "
	       "(background share %d) in %.2f s; %d requests, wait p50 "
	       "%.1f ms, max %.1f ms; background running at once: at most "
	       "%d\n",
	       run->bg_total, BG_US / 1000, run->pool, run->bg_max,
	       (double)(now_us() - run->burst_start) / 1e6, run->req_done,
	       (double)p50 / 1e3, (double)run->req_max_us / 1e3,
	       run->bg_seen_max);
	snprintf(what, sizeof(what),
		 "no request waited behind the burst (max %.1f ms < %d ms)",
		 (double)run->req_max_us / 1e3, BURST_REQ_MAX_US / 1000);
	check(run, run->req_max_us < BURST_REQ_MAX_US, what);
	snprintf(what, sizeof(what),
		 "background ran on at most %d connections (seen %d) and "
		 "did run",
		 run->bg_max, run->bg_seen_max);
	check(run, run->bg_seen_max >= 1 && run->bg_seen_max <= run->bg_max,
	      what);
	start_starve(run);
}

static void on_bg(PGresult *res, const char *err, void *arg)
{
	struct run *run = arg;

	if (!res) {
		fprintf(stderr, "dbburst: background statement: %s\n", err);
		run->failed = 1;
	}
	run->bg_done++;
	burst_maybe_done(run);
}

static void on_burst_req(PGresult *res, const char *err, void *arg)
{
	struct req *q = arg;
	struct run *run = q->run;
	int64_t lat = now_us() - q->sent;

	free(q);
	if (!res) {
		fprintf(stderr, "dbburst: request: %s\n", err);
		run->failed = 1;
	} else if (PQntuples(res) == 1) {
		int n = atoi(PQgetvalue(res, 0, 0));

		if (n > run->bg_seen_max)
			run->bg_seen_max = n;
	}
	if (lat > run->req_max_us)
		run->req_max_us = lat;
	run->req_lat[run->req_done++] = lat;
	burst_maybe_done(run);
}

static int send_req(struct run *run, const char *sql, pr_db_cb cb)
{
	struct req *q = malloc(sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->run = run;
	q->sent = now_us();
	if (pr_db_query(run->db, sql, 0, NULL, cb, q) < 0) {
		free(q);
		return -EAGAIN;
	}
	return 0;
}

/* Every REQ_EVERY_MS during the burst: one request, which also counts
 * the background statements running. */
static void on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct run *run = arg;
	static const struct timeval every = { 0, REQ_EVERY_MS * 1000 };

	(void)fd;
	(void)ev;
	if (run->bg_done >= run->bg_total || run->req_sent >= MAX_REQ) {
		burst_maybe_done(run);
		return;
	}
	if (send_req(run,
		     "SELECT count(*) FROM pg_stat_activity WHERE state = "
		     "'active' AND query = '" BG_SQL "'",
		     on_burst_req) < 0) {
		fprintf(stderr, "dbburst: cannot queue a request\n");
		run->failed = 1;
	} else {
		run->req_sent++;
	}
	evtimer_add(run->tick, &every);
}

static void start_burst(struct run *run)
{
	static const struct timeval every = { 0, REQ_EVERY_MS * 1000 };

	run->phase = 1;
	run->burst_start = now_us();
	run->bg_total = 3 * run->bg_max;
	for (int i = 0; i < run->bg_total; i++)
		if (pr_db_query_bg(run->db, BG_SQL, 0, NULL, 0, on_bg, run) <
		    0) {
			fprintf(stderr, "dbburst: cannot queue background\n");
			exit(2);
		}
	evtimer_add(run->tick, &every);
}

/* ------------------------------------------------------------- starve */

static void starve_maybe_done(struct run *run)
{
	char what[200];

	if (run->phase != 2 || !run->bg_back || run->loop_live > 0)
		return;
	run->phase = 3;
	printf("starve: %d requests of 50 ms kept the queue full for %d s "
	       "on a pool of %d; the background statement sent at %d ms "
	       "waited %.3f s\n",
	       run->loop_done, STARVE_S, run->pool, STARVE_BG_AT_MS,
	       (double)run->bg_lat_us / 1e6);
	snprintf(what, sizeof(what),
		 "the background statement went after requests (%.3f s >= "
		 "%.1f s)",
		 (double)run->bg_lat_us / 1e6, STARVE_BG_MIN_US / 1e6);
	check(run, run->bg_lat_us >= STARVE_BG_MIN_US, what);
	snprintf(what, sizeof(what),
		 "the background statement was not starved (%.3f s <= %.1f "
		 "s: its bound and one request)",
		 (double)run->bg_lat_us / 1e6, STARVE_BG_MAX_US / 1e6);
	check(run, run->bg_lat_us <= STARVE_BG_MAX_US, what);
	event_base_loopexit(run->base, NULL);
}

static void on_loop_req(PGresult *res, const char *err, void *arg)
{
	struct req *q = arg;
	struct run *run = q->run;

	free(q);
	run->loop_live--;
	run->loop_done++;
	if (!res) {
		fprintf(stderr, "dbburst: request: %s\n", err);
		run->failed = 1;
	}
	/* a closed loop: each answer sends the next, for STARVE_S */
	if (now_us() - run->starve_start < STARVE_S * 1000000LL &&
	    send_req(run, STARVE_REQ_SQL, on_loop_req) == 0)
		run->loop_live++;
	starve_maybe_done(run);
}

static void on_starve_bg(PGresult *res, const char *err, void *arg)
{
	struct run *run = arg;

	if (!res) {
		fprintf(stderr, "dbburst: background statement: %s\n", err);
		run->failed = 1;
	}
	run->bg_lat_us = now_us() - run->bg_sent_at;
	run->bg_back = 1;
	starve_maybe_done(run);
}

static void on_starve_bg_time(evutil_socket_t fd, short ev, void *arg)
{
	struct run *run = arg;

	(void)fd;
	(void)ev;
	run->bg_sent_at = now_us();
	if (pr_db_query_bg(run->db, "SELECT 1", 0, NULL, 0, on_starve_bg, run) <
	    0) {
		fprintf(stderr, "dbburst: cannot queue background\n");
		exit(2);
	}
}

static void start_starve(struct run *run)
{
	static const struct timeval at = { 0, STARVE_BG_AT_MS * 1000 };

	run->phase = 2;
	run->starve_start = now_us();
	/* four statements a connection: the queue is never empty */
	for (int i = 0; i < 4 * run->pool; i++)
		if (send_req(run, STARVE_REQ_SQL, on_loop_req) == 0)
			run->loop_live++;
	event_base_once(run->base, -1, EV_TIMEOUT, on_starve_bg_time, run, &at);
}

/* ------------------------------------------------------------ the run */

static void on_state(int ready, void *arg)
{
	struct run *run = arg;

	if (ready && run->phase == 0)
		start_burst(run);
}

static void on_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct run *run = arg;

	(void)fd;
	(void)ev;
	printf("FAIL - not done in %d s (phase %d)\n", DEADLINE_S, run->phase);
	run->failed = 1;
	event_base_loopexit(run->base, NULL);
}

int main(int argc, char **argv)
{
	static const struct timeval deadline = { DEADLINE_S, 0 };
	struct run run = { 0 };
	struct pr_db_opts o = { 0 };

	if (argc != 3 || atoi(argv[2]) < 2 || atoi(argv[2]) > 64) {
		fprintf(stderr, "usage: dbburst CONNINFO POOL_SIZE (2-64)\n");
		return 2;
	}
	pr_log_set_level(PAYROUTE_LOG_WARN);
	run.pool = atoi(argv[2]);
	run.bg_max = pr_qpick_bg_max(run.pool);
	run.base = event_base_new();
	if (!run.base)
		return 2;
	run.tick = evtimer_new(run.base, on_tick, &run);
	run.deadline = evtimer_new(run.base, on_deadline, &run);
	if (!run.tick || !run.deadline)
		return 2;
	o.name = "dbburst";
	o.conninfo = argv[1];
	o.pool_size = run.pool;
	o.reconnect_min_ms = 100;
	o.reconnect_max_ms = 1000;
	o.query_timeout_ms = 10000;
	o.max_queue = 10000;
	run.db = pr_db_new(run.base, &o, on_state, &run);
	if (!run.db)
		return 2;
	evtimer_add(run.deadline, &deadline);
	event_base_dispatch(run.base);
	pr_db_free(run.db);
	event_free(run.tick);
	event_free(run.deadline);
	event_base_free(run.base);
	if (run.phase != 3)
		run.failed = 1;
	return run.failed ? 1 : 0;
}
