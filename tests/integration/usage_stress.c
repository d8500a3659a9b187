/*
 * usage_stress.c - the daily-limit stress client of t_usage.sh: P processes
 * ("instances", each with its own event loop, store pool and struct
 * pr_usage, like separate payrouted daemons) fire N reservations each
 * (at most --concurrency in flight) of --amount against one channel's daily
 * limit. A share of the granted ones (--release-pct) is released, like a
 * failed payment, and reserved again once the release is applied. At the
 * end each process returns its leases (pr_usage_flush) and reports what it
 * kept through a pipe.
 *
 * The parent polls the channel's row while they run (its amount must never
 * be above the limit), then checks: the row's final amount and count equal
 * the sum of the kept reservations, no errors, and the successes are
 * exactly min(P x N, floor(L / A), count limit, floor(bank limit / A)).
 * Exit 0 when every check holds, 1 otherwise, 2 on bad usage.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "base/clock.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "orders/usage.h"

#define MAX_PROCS 64
#define RUN_TIMEOUT_S 180

struct args {
	const char *conninfo;
	const char *channel;
	const char *bank;
	int procs;
	long per_proc;
	int64_t amount;
	int64_t limit;
	int64_t count_limit;
	int64_t bank_limit;
	int exact;
	int release_pct;
	int concurrency;
	int pool;
};

struct child {
	const struct args *a;
	struct event_base *base;
	struct pr_db *db;
	struct pr_usage *u;
	struct pr_usage_limits lim;
	long started, inflight;
	int64_t kept_amount, kept_count;
	long failures, errors, released;
	int running;
	int flush_rc;
	int done;
	unsigned seed;
};

struct pay {
	struct child *c;
	int phase; /* 0: first reservation, 1: after a release */
};

static void start_more(struct child *c);

static void flush_done(int rc, void *arg)
{
	struct child *c = arg;

	c->flush_rc = rc;
	c->done = 1;
	event_base_loopbreak(c->base);
}

static void pay_end(struct child *c, struct pay *p)
{
	free(p);
	c->inflight--;
	start_more(c);
	if (c->started == c->a->per_proc && c->inflight == 0 && !c->done &&
	    pr_usage_flush(c->u, flush_done, c) < 0) {
		c->flush_rc = -EBUSY;
		c->done = 1;
		event_base_loopbreak(c->base);
	}
}

static void pay_cb(int rc, const struct pr_usage_token *tok, void *arg);

static void reserve(struct child *c, struct pay *p)
{
	int rc = pr_usage_reserve(c->u, c->a->channel, NULL, &c->lim,
				  c->a->amount, pr_now_ms(), pay_cb, p);

	if (rc < 0) {
		fprintf(stderr, "usage_stress: pr_usage_reserve: %s\n",
			strerror(-rc));
		c->errors++;
		pay_end(c, p);
	}
}

static void released_cb(int rc, void *arg)
{
	struct pay *p = arg;
	struct child *c = p->c;

	if (rc < 0) {
		/* Not applied (queued for retry): the row keeps it. */
		fprintf(stderr, "usage_stress: release failed: %s\n",
			strerror(-rc));
		c->errors++;
		pay_end(c, p);
		return;
	}
	c->released++;
	p->phase = 1;
	reserve(c, p);
}

static void pay_cb(int rc, const struct pr_usage_token *tok, void *arg)
{
	struct pay *p = arg;
	struct child *c = p->c;

	if (rc == 1) {
		if (p->phase == 0 &&
		    (int)(rand_r(&c->seed) % 100) < c->a->release_pct) {
			struct pr_usage_token copy = *tok;

			if (pr_usage_release_then(c->u, &copy, released_cb, p) <
			    0) {
				c->errors++;
				pay_end(c, p);
			}
			return;
		}
		c->kept_amount += tok->amount;
		c->kept_count += tok->count;
	} else if (rc == 0) {
		c->failures++;
	} else {
		fprintf(stderr, "usage_stress: reservation error: %s\n",
			strerror(-rc));
		c->errors++;
	}
	pay_end(c, p);
}

static void start_more(struct child *c)
{
	while (c->running && c->started < c->a->per_proc &&
	       c->inflight < c->a->concurrency) {
		struct pay *p = calloc(1, sizeof(*p));

		if (!p) {
			c->errors++;
			c->started = c->a->per_proc;
			break;
		}
		p->c = c;
		c->started++;
		c->inflight++;
		reserve(c, p);
	}
}

static void db_state(int ready, void *arg)
{
	struct child *c = arg;

	if (ready && !c->running) {
		c->running = 1;
		start_more(c);
	}
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;

	(void)fd;
	(void)what;
	fprintf(stderr, "usage_stress: child %d timed out\n", (int)getpid());
	event_base_loopbreak(c->base);
}

static int child_main(const struct args *a, int idx, int wfd)
{
	struct child c;
	struct pr_db_opts dbo = { 0 };
	struct pr_usage_opts uo = { 0 };
	struct event *tmo;
	struct timeval tv = { RUN_TIMEOUT_S - 10, 0 };
	struct pr_usage_stats st;
	char line[512];
	int n, ok;

	memset(&c, 0, sizeof(c));
	c.a = a;
	c.seed = (unsigned)(getpid() * 2654435761u) ^ (unsigned)idx;
	c.lim.daily_amount = a->limit;
	c.lim.daily_count = a->count_limit;
	c.lim.bank = a->bank_limit > 0 ? a->bank : NULL;
	c.lim.bank_daily_amount = a->bank_limit;
	c.base = event_base_new();
	dbo.conninfo = a->conninfo;
	dbo.pool_size = a->pool;
	dbo.reconnect_min_ms = 100;
	dbo.reconnect_max_ms = 2000;
	dbo.query_timeout_ms = 30000;
	dbo.max_queue = 1000000;
	c.db = pr_db_new(c.base, &dbo, db_state, &c);
	uo.exact = a->exact;
	c.u = pr_usage_new(c.base, c.db, &uo);
	tmo = evtimer_new(c.base, timeout_cb, &c);
	if (!c.base || !c.db || !c.u || !tmo)
		return 1;
	evtimer_add(tmo, &tv);
	event_base_dispatch(c.base);
	ok = c.done && c.flush_rc == 0;
	pr_usage_get_stats(c.u, &st);
	n = snprintf(line, sizeof(line),
		     "%d %" PRId64 " %" PRId64 " %ld %ld %ld %d %lu %lu %lu\n",
		     ok, c.kept_amount, c.kept_count, c.failures, c.errors,
		     c.released, c.flush_rc, st.db_reserves, st.local_grants,
		     st.db_releases);
	if (write(wfd, line, (size_t)n) != n)
		return 1;
	event_free(tmo);
	pr_db_free(c.db);
	pr_usage_free(c.u);
	event_base_free(c.base);
	return ok ? 0 : 1;
}

/* ------------------------------------------------------------- parent */

static int row(PGconn *pg, const char *channel, const char *scope,
	       int64_t *amount, int64_t *count)
{
	const char *params[2] = { channel, scope };
	PGresult *res = PQexecParams(
		pg,
		"SELECT coalesce(sum(amount), 0), coalesce(sum(count), 0) "
		"FROM channel_daily_usage WHERE channel = $1 AND scope = $2",
		2, NULL, params, NULL, NULL, 0);
	int rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		*amount = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*count = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		rc = 0;
	} else {
		fprintf(stderr, "usage_stress: %s", PQerrorMessage(pg));
	}
	PQclear(res);
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: usage_stress --conninfo S --procs P --per-proc N "
		"--amount A --limit L\n"
		"       [--count-limit C] [--mode exact|lease] [--channel X]\n"
		"       [--bank CODE --bank-limit BL] [--release-pct R]\n"
		"       [--concurrency K] [--pool N]\n");
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "conninfo", required_argument, NULL, 'c' },
		{ "procs", required_argument, NULL, 'p' },
		{ "per-proc", required_argument, NULL, 'n' },
		{ "amount", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'l' },
		{ "count-limit", required_argument, NULL, 'C' },
		{ "mode", required_argument, NULL, 'm' },
		{ "channel", required_argument, NULL, 'h' },
		{ "bank", required_argument, NULL, 'b' },
		{ "bank-limit", required_argument, NULL, 'B' },
		{ "release-pct", required_argument, NULL, 'r' },
		{ "concurrency", required_argument, NULL, 'k' },
		{ "pool", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(a, 0, sizeof(*a));
	a->channel = "stress";
	a->bank = "ICBC";
	a->procs = 2;
	a->per_proc = 1000;
	a->release_pct = 10;
	a->concurrency = 64;
	a->pool = 8;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->conninfo = optarg;
			break;
		case 'p':
			a->procs = atoi(optarg);
			break;
		case 'n':
			a->per_proc = atol(optarg);
			break;
		case 'a':
			a->amount = strtoll(optarg, NULL, 10);
			break;
		case 'l':
			a->limit = strtoll(optarg, NULL, 10);
			break;
		case 'C':
			a->count_limit = strtoll(optarg, NULL, 10);
			break;
		case 'h':
			a->channel = optarg;
			break;
		case 'b':
			a->bank = optarg;
			break;
		case 'B':
			a->bank_limit = strtoll(optarg, NULL, 10);
			break;
		case 'r':
			a->release_pct = atoi(optarg);
			break;
		case 'k':
			a->concurrency = atoi(optarg);
			break;
		case 'P':
			a->pool = atoi(optarg);
			break;
		case 'm':
			if (strcmp(optarg, "exact") == 0)
				a->exact = 1;
			else if (strcmp(optarg, "lease") == 0)
				a->exact = 0;
			else
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (!a->conninfo || a->procs < 1 || a->procs > MAX_PROCS ||
	    a->per_proc < 1 || a->amount < 1 || a->limit < 1 ||
	    a->count_limit < 0 || a->release_pct < 0 || a->release_pct > 100 ||
	    a->concurrency < 1 || a->pool < 1 || optind != argc)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct args a;
	pid_t pids[MAX_PROCS];
	int pfd[2], alive, failed = 0, status;
	PGconn *pg;
	const char *params[1];
	PGresult *res;
	int64_t max_seen = 0, amount = 0, count = 0, bank_amount = 0, bc = 0;
	int64_t kept_amount = 0, kept_count = 0, expected;
	long failures = 0, errors = 0, released = 0, okc = 0;
	unsigned long dbr = 0, local = 0, dbrel = 0;
	int64_t t0, t1, deadline;
	FILE *in;
	char line[512];

	if (parse_args(argc, argv, &a) < 0) {
		usage();
		return 2;
	}
	pr_log_set_level(PAYROUTE_LOG_WARN);
	pg = PQconnectdb(a.conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "usage_stress: %s", PQerrorMessage(pg));
		return 1;
	}
	params[0] = a.channel;
	res = PQexecParams(pg,
			   "DELETE FROM channel_daily_usage WHERE channel = $1",
			   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "usage_stress: %s", PQerrorMessage(pg));
		return 1;
	}
	PQclear(res);
	PQfinish(pg);

	if (pipe(pfd) < 0) {
		perror("pipe");
		return 1;
	}
	fflush(NULL);
	t0 = pr_now_ms();
	for (int i = 0; i < a.procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[i] == 0) {
			close(pfd[0]);
			_exit(child_main(&a, i, pfd[1]));
		}
	}
	close(pfd[1]);

	pg = PQconnectdb(a.conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "usage_stress: %s", PQerrorMessage(pg));
		failed = 1;
	}
	/* Watch the row while the children run (bounded). */
	deadline = t0 + RUN_TIMEOUT_S * 1000;
	alive = a.procs;
	while (alive > 0) {
		pid_t w = waitpid(-1, &status, WNOHANG);

		if (w > 0) {
			alive--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr,
					"usage_stress: child %d "
					"failed\n",
					(int)w);
				failed = 1;
			}
			continue;
		}
		if (!failed && row(pg, a.channel, "", &amount, &count) == 0) {
			if (amount > max_seen)
				max_seen = amount;
			if (amount > a.limit ||
			    (a.count_limit > 0 && count > a.count_limit)) {
				fprintf(stderr,
					"usage_stress: row over the "
					"limit: amount %" PRId64
					" count %" PRId64 "\n",
					amount, count);
				failed = 1;
			}
		}
		if (pr_now_ms() > deadline) {
			fprintf(stderr, "usage_stress: time-out; killing "
					"the children\n");
			for (int i = 0; i < a.procs; i++)
				kill(pids[i], SIGKILL);
			failed = 1;
			deadline = INT64_MAX;
		}
		usleep(20000);
	}
	t1 = pr_now_ms();

	in = fdopen(pfd[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		int ok, frc;
		int64_t ka, kc;
		long f, e, r;
		unsigned long d1, d2, d3;

		if (sscanf(line,
			   "%d %" SCNd64 " %" SCNd64 " %ld %ld %ld %d %lu %lu "
			   "%lu",
			   &ok, &ka, &kc, &f, &e, &r, &frc, &d1, &d2,
			   &d3) != 10) {
			failed = 1;
			continue;
		}
		okc += ok;
		kept_amount += ka;
		kept_count += kc;
		failures += f;
		errors += e;
		released += r;
		dbr += d1;
		local += d2;
		dbrel += d3;
		if (frc != 0) {
			fprintf(stderr, "usage_stress: a flush failed: %s\n",
				strerror(-frc));
			failed = 1;
		}
	}
	if (okc != a.procs) {
		fprintf(stderr,
			"usage_stress: %ld of %d children reported "
			"success\n",
			okc, a.procs);
		failed = 1;
	}
	if (row(pg, a.channel, "", &amount, &count) < 0)
		failed = 1;
	if (a.bank_limit > 0 &&
	    row(pg, a.channel, a.bank, &bank_amount, &bc) < 0)
		failed = 1;
	PQfinish(pg);

	expected = (int64_t)a.procs * a.per_proc;
	if (a.limit / a.amount < expected)
		expected = a.limit / a.amount;
	if (a.count_limit > 0 && a.count_limit < expected)
		expected = a.count_limit;
	if (a.bank_limit > 0 && a.bank_limit / a.amount < expected)
		expected = a.bank_limit / a.amount;

	printf("usage_stress: mode %s, %d procs x %ld, amount %" PRId64
	       ", limit %" PRId64 "%s\n",
	       a.exact ? "exact" : "lease", a.procs, a.per_proc, a.amount,
	       a.limit, a.bank_limit > 0 ? " (+ bank limit)" : "");
	printf("usage_stress: successes %" PRId64 " (expected %" PRId64
	       "), failures %ld, errors %ld, released and re-reserved %ld\n",
	       kept_count, expected, failures, errors, released);
	printf("usage_stress: final used amount %" PRId64 " count %" PRId64
	       " (kept %" PRId64 "), highest seen %" PRId64 "\n",
	       amount, count, kept_amount, max_seen);
	if (a.bank_limit > 0)
		printf("usage_stress: bank %s used %" PRId64 " of %" PRId64
		       "\n",
		       a.bank, bank_amount, a.bank_limit);
	printf("usage_stress: %lu reservation statements, %lu local grants, "
	       "%lu release statements, %.2f s\n",
	       dbr, local, dbrel, (double)(t1 - t0) / 1000.0);

	if (errors) {
		fprintf(stderr, "usage_stress: FAIL: %ld errors\n", errors);
		failed = 1;
	}
	if (amount > a.limit || max_seen > a.limit) {
		fprintf(stderr, "usage_stress: FAIL: over the limit\n");
		failed = 1;
	}
	if (amount != kept_amount || count != kept_count) {
		fprintf(stderr,
			"usage_stress: FAIL: the row (%" PRId64 "/%" PRId64
			") differs from the kept reservations (%" PRId64
			"/%" PRId64 ")\n",
			amount, count, kept_amount, kept_count);
		failed = 1;
	}
	if (a.bank_limit > 0 && bank_amount != kept_amount) {
		fprintf(stderr,
			"usage_stress: FAIL: bank row %" PRId64
			" differs from the kept amount %" PRId64 "\n",
			bank_amount, kept_amount);
		failed = 1;
	}
	if (kept_count != expected) {
		fprintf(stderr,
			"usage_stress: FAIL: %" PRId64 " successes, "
			"expected exactly %" PRId64 "\n",
			kept_count, expected);
		failed = 1;
	}
	if (!failed)
		printf("usage_stress: ok\n");
	return failed ? 1 : 0;
}
