/*
 * reads.c - the read router (see reads.h): the replica's pool, the timer
 * that measures how far behind it may be, and the choice, read by read,
 * between it and the primary.
 *
 * A check is two statements, one at a time: the primary's WAL position
 * (skipped while the primary is away), then the replica's recovery state
 * and whether it has replayed up to that position. Only one check runs at
 * a time; the router outlives its own outstanding check (pr_reads_free
 * leaves the last callback to free it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/reads.h"
#include "base/clock.h"
#include "base/lagbound.h"
#include "runtime/log.h"

#define CHECK_MIN_MS 50
#define CHECK_MAX_MS 1000

static const char primary_lsn_sql[] = "SELECT pg_current_wal_lsn()::text";

static const char replica_sql[] =
	"SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text";

/* Why reads go where they go. */
enum why {
	W_START,       /* configured, not checked yet */
	W_NONE,	       /* no replica configured */
	W_DOWN,	       /* its pool is not up */
	W_NOT_STANDBY, /* it takes writes: not a replica (any more) */
	W_BEHIND,      /* not known to be within max_lag_ms */
	W_OK,
};

static const char *const why_text[] = {
	[W_START] = "the read replica has not been checked yet",
	[W_NONE] = "no read replica is configured",
	[W_DOWN] = "the read replica is unreachable",
	[W_NOT_STANDBY] = "the read replica is not a standby",
	[W_BEHIND] = "the read replica is too far behind",
	[W_OK] = "the read replica is within database.read_max_lag_ms",
};

struct pr_reads {
	struct event_base *base;
	struct pr_db *primary; /* not owned */
	struct pr_db *replica; /* NULL: none configured */
	struct event *timer;
	int max_lag_ms;
	int check_ms;

	int checking;		/* a check's statement is out */
	int pending;		/* reads out on the replica */
	int dead;		/* pr_reads_free was called */
	int in_free;		/* inside pr_reads_free */
	int64_t t0_ms;		/* when the primary's position was asked */
	struct pr_lagbound lag; /* the primary's positions, what it caught */
	int answered;		/* the last check had an answer */
	int standby;		/* that answer: it is in recovery */
	enum why why;

	unsigned long replica_reads;
	unsigned long primary_reads;
	unsigned long retried;
	unsigned long fallbacks;
};

/* One read sent to the replica: what it takes to run it again. */
struct read {
	struct pr_reads *rd;
	char *sql;
	char **params;
	int n;
	int timeout_ms;
	struct pr_read_src *src;
	pr_db_cb cb;
	void *arg;
};

static long lag_now(const struct pr_reads *rd)
{
	return pr_lagbound_ms(&rd->lag, pr_mono_ms());
}

/* Works out where reads go now, and says so in the log when it changed. */
static enum why evaluate(struct pr_reads *rd)
{
	enum why w;
	long lag = lag_now(rd);

	if (!rd->replica)
		w = W_NONE;
	else if (!pr_db_ready(rd->replica) || !rd->answered)
		w = rd->why == W_START ? W_START : W_DOWN;
	else if (!rd->standby)
		w = W_NOT_STANDBY;
	else if (lag < 0 || lag > rd->max_lag_ms)
		w = W_BEHIND;
	else
		w = W_OK;
	if (w == rd->why)
		return w;
	if (rd->why == W_OK)
		rd->fallbacks++;
	switch (w) {
	case W_OK:
		pr_info("read replica: in use for reads (at most %ld ms "
			"behind the primary; database.read_max_lag_ms %d)",
			lag, rd->max_lag_ms);
		break;
	case W_DOWN:
		pr_warn("read replica: unavailable; reads go to the primary");
		break;
	case W_NOT_STANDBY:
		pr_warn("read replica: the server is not a standby "
			"(pg_is_in_recovery() is false); reads go to the "
			"primary");
		break;
	case W_BEHIND:
		if (lag < 0)
			pr_warn("read replica: has not replayed the "
				"primary's position yet; reads go to the "
				"primary");
		else
			pr_warn("read replica: may be %ld ms behind the "
				"primary (database.read_max_lag_ms %d); reads "
				"go to the primary",
				lag, rd->max_lag_ms);
		break;
	default:
		break;
	}
	rd->why = w;
	return w;
}

/* ------------------------------------------------------------ checks */

static void check_start(struct pr_reads *rd);

/* After pr_reads_free, the last callback that holds the router frees it. */
static void maybe_free(struct pr_reads *rd)
{
	if (rd->dead && !rd->in_free && !rd->checking && rd->pending == 0)
		free(rd);
}

static int check_dead(struct pr_reads *rd)
{
	if (!rd->dead)
		return 0;
	rd->checking = 0;
	maybe_free(rd);
	return 1;
}

static void on_replica(PGresult *res, const char *err, void *arg)
{
	struct pr_reads *rd = arg;
	uint64_t replay;

	if (check_dead(rd))
		return;
	rd->checking = 0;
	if (!res || PQntuples(res) != 1) {
		pr_debug("read replica: check failed: %s",
			 err ? err : "no row");
		rd->answered = 0;
	} else {
		rd->answered = 1;
		rd->standby = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		if (!PQgetisnull(res, 0, 1) &&
		    pr_lsn_parse(PQgetvalue(res, 0, 1), &replay) == 0)
			pr_lagbound_replayed(&rd->lag, replay);
	}
	evaluate(rd);
}

static void check_replica(struct pr_reads *rd)
{
	if (!pr_db_ready(rd->replica) ||
	    pr_db_query(rd->replica, replica_sql, 0, NULL, on_replica, rd) <
		    0) {
		rd->checking = 0;
		evaluate(rd);
	}
}

static void on_primary_lsn(PGresult *res, const char *err, void *arg)
{
	struct pr_reads *rd = arg;
	uint64_t lsn;

	if (check_dead(rd))
		return;
	if (!res || PQntuples(res) != 1) {
		pr_debug("read replica: the primary's position: %s",
			 err ? err : "no row");
		check_replica(rd);
		return;
	}
	if (pr_lsn_parse(PQgetvalue(res, 0, 0), &lsn) == 0)
		pr_lagbound_primary(&rd->lag, rd->t0_ms, lsn);
	check_replica(rd);
}

static void check_start(struct pr_reads *rd)
{
	if (rd->checking || rd->dead)
		return;
	if (!pr_db_ready(rd->replica)) {
		rd->answered = 0;
		rd->standby = 0;
		pr_lagbound_forget(&rd->lag);
		evaluate(rd);
		return;
	}
	rd->checking = 1;
	if (pr_db_ready(rd->primary)) {
		rd->t0_ms = pr_mono_ms();
		if (pr_db_query(rd->primary, primary_lsn_sql, 0, NULL,
				on_primary_lsn, rd) == 0)
			return;
	}
	check_replica(rd);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check_start(arg);
}

static void on_replica_state(int ready, void *arg)
{
	struct pr_reads *rd = arg;

	if (rd->dead)
		return;
	if (ready)
		check_start(rd);
	else {
		rd->answered = 0;
		rd->standby = 0;
		pr_lagbound_forget(&rd->lag);
		evaluate(rd);
	}
}

/* ------------------------------------------------------------- reads */

static void read_free(struct read *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

static void on_primary_read(PGresult *res, const char *err, void *arg)
{
	struct read *q = arg;

	if (q->src) {
		q->src->replica = 0;
		q->src->lag_ms = 0;
	}
	q->cb(res, err, q->arg);
	read_free(q);
}

static void on_replica_read(PGresult *res, const char *err, void *arg)
{
	struct read *q = arg;
	struct pr_reads *rd = q->rd;

	rd->pending--;
	if (res || rd->dead) {
		q->cb(res, err, q->arg);
		read_free(q);
		maybe_free(rd);
		return;
	}
	pr_info("read replica: a read failed there (%s); running it on the "
		"primary",
		err ? err : "?");
	rd->retried++;
	rd->primary_reads++;
	if (pr_db_query_timeout(rd->primary, q->sql, q->n,
				(const char *const *)q->params, q->timeout_ms,
				on_primary_read, q) < 0) {
		q->cb(NULL, "store unavailable", q->arg);
		read_free(q);
	}
}

static struct read *read_new(struct pr_reads *rd, const char *sql, int n,
			     const char *const *params, int timeout_ms,
			     struct pr_read_src *src, pr_db_cb cb, void *arg)
{
	struct read *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->rd = rd;
	q->timeout_ms = timeout_ms;
	q->src = src;
	q->cb = cb;
	q->arg = arg;
	q->sql = strdup(sql);
	q->params = n > 0 ? calloc((size_t)n, sizeof(*q->params)) : NULL;
	if (!q->sql || (n > 0 && !q->params)) {
		read_free(q);
		return NULL;
	}
	q->n = n;
	for (int i = 0; i < n; i++)
		if (params[i] && !(q->params[i] = strdup(params[i]))) {
			read_free(q);
			return NULL;
		}
	return q;
}

int pr_reads_query(struct pr_reads *rd, const char *sql, int nparams,
		   const char *const *params, int timeout_ms,
		   struct pr_read_src *src, pr_db_cb cb, void *arg)
{
	struct read *q;
	int rc;

	if (src) {
		src->set = 1;
		src->replica = 0;
		src->lag_ms = 0;
	}
	if (rd->dead)
		return -EAGAIN;
	if (evaluate(rd) != W_OK) {
		rc = pr_db_query_timeout(rd->primary, sql, nparams, params,
					 timeout_ms, cb, arg);
		if (rc == 0)
			rd->primary_reads++;
		return rc;
	}
	q = read_new(rd, sql, nparams, params, timeout_ms, src, cb, arg);
	if (!q)
		return -ENOMEM;
	if (src) {
		src->replica = 1;
		src->lag_ms = lag_now(rd);
	}
	rc = pr_db_query_timeout(rd->replica, sql, nparams, params, timeout_ms,
				 on_replica_read, q);
	if (rc == 0) {
		rd->replica_reads++;
		rd->pending++;
		return 0;
	}
	read_free(q);
	if (src)
		src->replica = 0;
	rc = pr_db_query_timeout(rd->primary, sql, nparams, params, timeout_ms,
				 cb, arg);
	if (rc == 0)
		rd->primary_reads++;
	return rc;
}

/* ------------------------------------------------------ the router */

struct pr_reads *pr_reads_new(struct event_base *base, struct pr_db *primary,
			      const struct pr_reads_opts *o)
{
	struct pr_reads *rd;
	struct pr_db_opts dbo = { 0 };
	struct timeval tv;

	if (!base || !primary || !o)
		return NULL;
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return NULL;
	rd->base = base;
	rd->primary = primary;
	rd->max_lag_ms = o->max_lag_ms > 0 ? o->max_lag_ms : 5000;
	rd->t0_ms = -1;
	pr_lagbound_init(&rd->lag);
	rd->why = W_NONE;
	if (!o->conninfo || !*o->conninfo)
		return rd;
	rd->why = W_START;
	rd->check_ms = rd->max_lag_ms / 4;
	if (rd->check_ms < CHECK_MIN_MS)
		rd->check_ms = CHECK_MIN_MS;
	if (rd->check_ms > CHECK_MAX_MS)
		rd->check_ms = CHECK_MAX_MS;
	dbo.name = "read replica";
	dbo.conninfo = o->conninfo;
	dbo.pool_size = o->pool_size > 0 ? o->pool_size : 2;
	dbo.reconnect_min_ms = o->reconnect_min_ms;
	dbo.reconnect_max_ms = o->reconnect_max_ms;
	dbo.query_timeout_ms = o->query_timeout_ms;
	rd->replica = pr_db_new(base, &dbo, on_replica_state, rd);
	rd->timer = event_new(base, -1, EV_PERSIST, on_timer, rd);
	tv.tv_sec = rd->check_ms / 1000;
	tv.tv_usec = (rd->check_ms % 1000) * 1000;
	if (!rd->replica || !rd->timer || event_add(rd->timer, &tv) < 0) {
		rd->dead = 1;
		if (rd->timer)
			event_free(rd->timer);
		pr_db_free(rd->replica);
		free(rd);
		return NULL;
	}
	pr_info("read replica: configured; heavy reads go there while it is "
		"at most %d ms behind (checked every %d ms)",
		rd->max_lag_ms, rd->check_ms);
	return rd;
}

void pr_reads_free(struct pr_reads *rd)
{
	if (!rd || rd->dead)
		return;
	rd->dead = 1;
	rd->in_free = 1;
	if (rd->timer)
		event_free(rd->timer);
	rd->timer = NULL;
	pr_db_free(rd->replica);
	rd->replica = NULL;
	rd->in_free = 0;
	maybe_free(rd);
}

void pr_reads_get_stats(struct pr_reads *rd, struct pr_reads_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->lag_ms = -1;
	st->why = why_text[W_NONE];
	if (!rd)
		return;
	st->configured = rd->replica != NULL;
	st->connected = rd->replica && pr_db_ready(rd->replica);
	st->in_use = evaluate(rd) == W_OK;
	st->lag_ms = lag_now(rd);
	st->max_lag_ms = rd->max_lag_ms;
	st->why = why_text[rd->why];
	st->replica_reads = rd->replica_reads;
	st->primary_reads = rd->primary_reads;
	st->retried = rd->retried;
	st->fallbacks = rd->fallbacks;
}
