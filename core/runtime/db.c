/*
 * db.c - the PostgreSQL store: a pool of libpq connections driven by the
 * event loop without ever blocking it.
 *
 * Each pool slot (struct pr_db_conn) owns one PGconn and one socket event.
 * A slot is DOWN (waiting on its back-off timer), CONNECTING (PQconnectPoll
 * driven by socket events, with a connect timeout) or UP. An UP slot runs
 * at most one statement at a time: PQsendQueryParams, PQflush until the
 * output is gone, then PQconsumeInput/PQisBusy/PQgetResult on read events
 * until PQgetResult returns NULL. Queries wait in two FIFO queues and go to
 * the first idle slot: requests' statements first, background jobs'
 * (pr_db_query_bg) behind them and on at most bg_max slots. A slot whose connection fails fails the statement it
 * was running (never retried: it may not be idempotent), is closed, and
 * reconnects with jittered exponential back-off. A statement running past
 * query_timeout_ms closes its connection (PQcancel would block).
 *
 * After the first connection is up, migrations (NNN_name.sql files) are
 * applied on it under an advisory lock, one transaction each; the store is
 * ready once they are done and at least one connection is up.
 *
 * Callbacks are only ever called from event callbacks, never from the
 * public functions that queue work. A callback may call pr_db_free: the
 * free is then finished when the outermost event callback returns.
 *
 * LISTEN/NOTIFY has a connection of its own (lconn, flagged `listener`),
 * driven by the same code as the pool's but never given pool work: it is
 * opened by the first pr_db_listen, issues one LISTEN per registered
 * channel after each (re)connect, then only reads; PQnotifies after each
 * PQconsumeInput hands notifications to the registered callbacks. Once all
 * LISTENs of a session are done, each registration is told (channel NULL)
 * that notifications may have been missed. Pool connections never LISTEN:
 * notifications they see are dropped.
 *
 * Host names in conninfo are resolved by libpq with a blocking
 * getaddrinfo() inside PQconnectStart; use host addresses (hostaddr=) or
 * Unix sockets where that matters.
 *
 * Sessions name themselves "payrouted" (fallback_application_name: an
 * application_name in conninfo wins), so that pg_stat_activity and the
 * server's log (%a) tell them from other clients.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/qpick.h"
#include "runtime/db.h"
#include "runtime/log.h"

#define DB_DEFAULT_POOL 4
#define DB_DEFAULT_MAX_QUEUE 10000
#define DB_DEFAULT_RECONNECT_MIN_MS 100
#define DB_DEFAULT_RECONNECT_MAX_MS 30000
#define DB_CONNECT_TIMEOUT_MS 10000
#define DB_MAX_PARAMS 65535
#define DB_MAX_MIGRATION_BYTES (16 * 1024 * 1024)
/* pg_advisory_lock key serialising migrations across daemons ("payr"). */
#define DB_MIGRATION_LOCK "1885434226"

enum query_kind {
	QK_PARAMS,  /* PQsendQueryParams, one statement */
	QK_SIMPLE,  /* PQsendQuery, several statements (migration files) */
	QK_ACQUIRE, /* a request for a held connection */
};

struct db_query {
	TAILQ_ENTRY(db_query) link;
	enum query_kind kind;
	int internal;	/* ours (migrations, release): not in the stats */
	int timed;	/* subject to query_timeout_ms */
	int background; /* pr_db_query_bg: behind requests' statements */
	int timeout_ms; /* > 0: this statement's own limit instead */
	int nparams;
	char *sql;
	const char *sql_src; /* the caller's pointer: a hint for stmt_get */
	char **params;
	int64_t queued_us, sent_us; /* monotonic; sent_us 0 until sent */
	struct db_stmt *stmt; /* its prepared statement on the connection */
	int preparing;	      /* the Prepare is in flight, then the query */
	pr_db_cb cb;
	pr_db_conn_cb conn_cb;
	void *arg;
};

TAILQ_HEAD(query_list, db_query);

enum conn_state { C_DOWN, C_CONNECTING, C_UP };

/* A statement text seen on one session: prepared under `name` from its
 * second use on (a text used once, such as a one-off admin query, is not
 * worth a Prepare round trip). Entries live as long as the session. */
struct db_stmt {
	struct db_stmt *next; /* in the hash chain */
	uint64_t hash;
	char *sql;
	const char *src; /* the pointer the text last came from */
	unsigned uses;
	int prepared; /* the server has it under name */
	int broken;   /* its Prepare failed: always sent unprepared */
	char name[24];
};

#define DB_STMT_BUCKETS 256
/* Texts found by the caller's pointer (most are static strings of 2 to 3
 * KiB: hashing one costs microseconds, comparing it a few dozen ns). */
#define DB_STMT_HINTS 64
#define DB_STMT_MAX 1024 /* per session; beyond, texts are not prepared */
#define DB_STMT_PREPARE_AT 2

struct pr_db_conn {
	struct pr_db *db;
	int id;
	enum conn_state state;
	PGconn *pg;
	struct event *ev; /* socket event; re-created as needed */
	evutil_socket_t ev_fd;
	short ev_what;
	struct event *timer; /* reconnect delay, connect or query timeout */
	int backoff_ms;
	int ever_up;
	int flushing;	      /* PQflush returned 1: output still pending */
	struct db_query *cur; /* the statement in flight */
	PGresult *res;	      /* its result so far */
	/* This session's prepared statements (see struct db_stmt). */
	struct db_stmt *stmts[DB_STMT_BUCKETS];
	struct db_stmt *hints[DB_STMT_HINTS]; /* by the text's pointer */
	size_t n_stmts;
	unsigned long stmt_seq;
	int migrating; /* running the migrations */
	/* Held by pr_db_acquire. */
	int held;
	int broken;    /* its session was lost while held */
	int releasing; /* pr_db_release called: give back when drained */
	struct query_list hq;
	/* The LISTEN connection. */
	int listener;
	size_t listen_idx; /* the registration whose LISTEN is in flight */
};

/* One pr_db_listen registration. */
struct db_listen {
	char *channel;
	pr_db_notify_cb cb;
	void *arg;
	int active; /* LISTEN done on the current session */
	int told;   /* the callback got this session's "maybe missed" call */
};

enum mig_step {
	M_LOCK,
	M_CREATE,
	M_VERSIONS,
	M_BEGIN,
	M_FILE,
	M_INSERT,
	M_COMMIT,
	M_ROLLBACK,
	M_UNLOCK_FAIL,
	M_UNLOCK,
};

struct mig_file {
	int version;
	char name[256];
};

struct pr_db {
	struct event_base *base;
	char name[32]; /* what the log lines open with: "store" */
	char *conninfo;
	char *migrations_dir;
	int pool_size;
	int reconnect_min_ms;
	int reconnect_max_ms;
	int query_timeout_ms;
	size_t max_queue;
	pr_db_state_cb on_state;
	void *state_arg;

	struct pr_db_conn *conns;
	int connected;
	int ready;
	int down_logged;  /* the store's unavailability has been logged */
	char server[160]; /* host and port of the last connection made */
	struct query_list queue;   /* requests' statements, first served */
	struct query_list bgqueue; /* background jobs' (pr_db_query_bg) */
	size_t queued;		   /* in both */
	int bg_max;		   /* connections background work may hold */
	struct event *kick;	   /* runs the dispatcher from the loop */
	uint32_t rng;

	/* Migrations. */
	int migrated;
	struct pr_db_conn *mig_conn;
	enum mig_step mig_step;
	int mig_locked;
	struct mig_file *mig_files;
	size_t mig_nfiles;
	size_t mig_idx;
	int *mig_applied;
	size_t mig_napplied;
	char *mig_sql;
	int mig_backoff_ms;
	struct event *mig_timer;
	int schema_version;
	char mig_last_err[512]; /* logged already: retries repeat quietly */

	unsigned long reconnects;
	unsigned long queries;
	unsigned long errors;
	unsigned long prepares;
	unsigned long prepared_runs;
	/* The statement whose callback is running: its wait for a
	 * connection and its time on it (pr_db_last_times). */
	int64_t last_wait_us, last_run_us;

	/* LISTEN/NOTIFY. */
	struct pr_db_conn *lconn; /* NULL until the first pr_db_listen */
	struct db_listen *listens;
	size_t n_listens;
	int l_down_logged; /* the listener's loss has been logged */
	unsigned long l_reconnects;
	unsigned long notifications;

	int depth; /* nesting of our event callbacks */
	int closing;
	int free_pending;
};

static void conn_fail(struct pr_db_conn *c, const char *reason,
		      const char *qerr);
static void conn_next(struct pr_db_conn *c);
static void mig_start(struct pr_db *db, struct pr_db_conn *c);
static void db_destroy(struct pr_db *db);
static void listener_next(struct pr_db_conn *c);
static void listener_down(struct pr_db_conn *c, int was_up, const char *why,
			  struct db_query *q);
static void listener_up(struct pr_db_conn *c);
static void listener_notify(struct pr_db_conn *c, const PGnotify *n);

/* ------------------------------------------------------------ helpers */

/* Copies the first line of src, without trailing blanks. */
static void first_line(char *dst, size_t len, const char *src)
{
	size_t n = 0;

	if (!src)
		src = "";
	while (src[n] && src[n] != '\n' && n + 1 < len)
		n++;
	while (n > 0 &&
	       (src[n - 1] == ' ' || src[n - 1] == '\t' || src[n - 1] == '\r'))
		n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void pq_reason(PGconn *pg, char *buf, size_t len)
{
	first_line(buf, len, pg ? PQerrorMessage(pg) : NULL);
	if (!buf[0])
		snprintf(buf, len, "connection lost");
}

/* "message (SQLSTATE xxxxx)" for a failed result, with ", constraint
 * NAME" and ", column NAME" inside the parentheses when the server names
 * them (integrity and data errors: apiutil.c maps them to the API's
 * field). */
static void result_error(const PGresult *res, char *buf, size_t len)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	char line[512];

	if (msg)
		first_line(line, sizeof(line), msg);
	else
		first_line(line, sizeof(line), PQresultErrorMessage(res));
	if (!line[0])
		snprintf(line, sizeof(line), "%s",
			 PQresStatus(PQresultStatus(res)));
	if (state)
		snprintf(buf, len, "%s (SQLSTATE %s%s%.63s%s%.63s)", line,
			 state, cons ? ", constraint " : "", cons ? cons : "",
			 col ? ", column " : "", col ? col : "");
	else
		snprintf(buf, len, "%s", line);
}

static int result_ok(const PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
	case PGRES_SINGLE_TUPLE:
		return 1;
	default:
		return 0;
	}
}

static struct timeval ms_tv(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static uint32_t db_random(struct pr_db *db)
{
	uint32_t x = db->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	db->rng = x;
	return x;
}

/* The next back-off step and a delay of that step +-25%, kept within
 * [reconnect_min_ms, reconnect_max_ms]. */
static int backoff_next(struct pr_db *db, int *backoff_ms)
{
	int b = *backoff_ms;
	int spread, d;

	if (b <= 0)
		b = db->reconnect_min_ms;
	else if (b > db->reconnect_max_ms / 2)
		b = db->reconnect_max_ms;
	else
		b *= 2;
	*backoff_ms = b;
	spread = b / 2;
	d = b - b / 4;
	if (spread > 0)
		d += (int)(db_random(db) % (uint32_t)(spread + 1));
	if (d < db->reconnect_min_ms)
		d = db->reconnect_min_ms;
	if (d > db->reconnect_max_ms)
		d = db->reconnect_max_ms;
	return d;
}

/* ------------------------------------------------ prepared statements */

/* FNV-1a over the statement text. */
static uint64_t stmt_hash(const char *sql)
{
	uint64_t h = 1469598103934665603ull;

	for (; *sql; sql++) {
		h ^= (unsigned char)*sql;
		h *= 1099511628211ull;
	}
	return h;
}

/* Forgets the session's statements (the session is gone with them). */
static void stmts_clear(struct pr_db_conn *c)
{
	for (size_t b = 0; b < DB_STMT_BUCKETS; b++) {
		struct db_stmt *e = c->stmts[b], *next;

		for (; e; e = next) {
			next = e->next;
			free(e->sql);
			free(e);
		}
		c->stmts[b] = NULL;
	}
	memset(c->hints, 0, sizeof(c->hints));
	c->n_stmts = 0;
}

/* The session's entry for sql, created on first sight (NULL when the
 * table is full or memory is short: the text is then sent unprepared). */
static struct db_stmt *stmt_get(struct pr_db_conn *c, const char *sql,
				const char *src)
{
	size_t hint = ((uintptr_t)src >> 4) % DB_STMT_HINTS;
	struct db_stmt **head, *e;
	uint64_t h;

	/* The text compared in full: a pointer seen before may hold
	 * another text now. */
	e = c->hints[hint];
	if (e && e->src == src && strcmp(e->sql, sql) == 0)
		return e;
	h = stmt_hash(sql);
	head = &c->stmts[h % DB_STMT_BUCKETS];
	for (e = *head; e; e = e->next)
		if (e->hash == h && strcmp(e->sql, sql) == 0)
			goto found;
	if (c->n_stmts >= DB_STMT_MAX)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->sql = strdup(sql);
	if (!e->sql) {
		free(e);
		return NULL;
	}
	e->hash = h;
	snprintf(e->name, sizeof(e->name), "pr_%lu", ++c->stmt_seq);
	e->next = *head;
	*head = e;
	c->n_stmts++;
found:
	e->src = src;
	c->hints[hint] = e;
	return e;
}

/* One allocation: the struct, the parameter array and the strings. */
static struct db_query *query_new(enum query_kind kind, const char *sql,
				  int nparams, const char *const *params)
{
	size_t size = sizeof(struct db_query);
	size_t sql_len = sql ? strlen(sql) + 1 : 0;
	struct db_query *q;
	char *p;

	size += (size_t)nparams * sizeof(char *) + sql_len;
	for (int i = 0; i < nparams; i++)
		if (params[i])
			size += strlen(params[i]) + 1;
	q = calloc(1, size);
	if (!q)
		return NULL;
	q->kind = kind;
	q->nparams = nparams;
	p = (char *)(q + 1);
	if (nparams > 0) {
		q->params = (char **)(void *)p;
		p += (size_t)nparams * sizeof(char *);
	}
	for (int i = 0; i < nparams; i++) {
		size_t n;

		if (!params[i])
			continue;
		n = strlen(params[i]) + 1;
		memcpy(p, params[i], n);
		q->params[i] = p;
		p += n;
	}
	if (sql) {
		memcpy(p, sql, sql_len);
		q->sql = p;
	}
	q->sql_src = sql;
	q->queued_us = pr_mono_us();
	return q;
}

/* Calls a query's callback with a failure. */
static void query_fail(struct pr_db *db, struct db_query *q, const char *err)
{
	if (!q->internal && !db->closing)
		db->errors++;
	if (q->kind == QK_ACQUIRE)
		q->conn_cb(NULL, err, q->arg);
	else
		q->cb(NULL, err, q->arg);
}

static void db_enter(struct pr_db *db)
{
	db->depth++;
}

static void db_leave(struct pr_db *db)
{
	if (--db->depth == 0 && db->free_pending)
		db_destroy(db);
}

static void db_kick(struct pr_db *db)
{
	event_active(db->kick, EV_TIMEOUT, 1);
}

static void notice_cb(void *arg, const char *message)
{
	struct pr_db_conn *c = arg;
	char line[512];

	first_line(line, sizeof(line), message);
	pr_debug("%s: connection %d: server says: %s", c->db->name, c->id,
		 line);
}

/* ----------------------------------------------------- state changes */

static void set_state(struct pr_db *db, int ready)
{
	db->ready = ready;
	if (db->on_state)
		db->on_state(ready, db->state_arg);
}

/* Reports the store ready when it just became so. */
static void check_ready(struct pr_db *db)
{
	if (db->ready || db->closing || !db->migrated || db->connected == 0)
		return;
	db->down_logged = 0;
	pr_info("%s: ready (%d/%d connections to %s)", db->name, db->connected,
		db->pool_size, db->server);
	set_state(db, 1);
}

/* The last connection is gone: fail what waits and say so. */
static void store_down(struct pr_db *db, const char *reason)
{
	struct db_query *q;

	db->ready = 0;
	db->down_logged = 1;
	pr_warn("%s: connection lost (%s); reconnecting", db->name, reason);
	while ((q = TAILQ_FIRST(&db->queue)) != NULL) {
		TAILQ_REMOVE(&db->queue, q, link);
		db->queued--;
		query_fail(db, q, "store unavailable");
		free(q);
		if (db->closing)
			return;
	}
	while ((q = TAILQ_FIRST(&db->bgqueue)) != NULL) {
		TAILQ_REMOVE(&db->bgqueue, q, link);
		db->queued--;
		query_fail(db, q, "store unavailable");
		free(q);
		if (db->closing)
			return;
	}
	set_state(db, 0);
}

/* ------------------------------------------------------- connections */

static void conn_io_cb(evutil_socket_t fd, short what, void *arg);

/* Watches the connection's socket for `what` (always plus persistence).
 * While connecting the event is re-created on every step: libpq may have
 * replaced the socket, possibly under the same descriptor number. */
static int conn_watch(struct pr_db_conn *c, short what, int force)
{
	evutil_socket_t fd = PQsocket(c->pg);

	if (fd < 0)
		return -EBADF;
	if (c->ev && !force && c->ev_fd == fd && c->ev_what == what)
		return 0;
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	c->ev = event_new(c->db->base, fd, what | EV_PERSIST, conn_io_cb, c);
	if (!c->ev || event_add(c->ev, NULL) < 0)
		return -ENOMEM;
	c->ev_fd = fd;
	c->ev_what = what;
	return 0;
}

static void conn_schedule_reconnect(struct pr_db_conn *c)
{
	struct timeval tv = ms_tv(backoff_next(c->db, &c->backoff_ms));

	evtimer_add(c->timer, &tv);
}

static void conn_start(struct pr_db_conn *c)
{
	struct pr_db *db = c->db;
	struct timeval tv = ms_tv(DB_CONNECT_TIMEOUT_MS);
	/* conninfo expanded in place (expand_dbname): a URI or key=value */
	const char *const keys[] = { "dbname", "fallback_application_name",
				     NULL };
	const char *const vals[] = { db->conninfo, "payrouted", NULL };
	char reason[512];

	c->pg = PQconnectStartParams(keys, vals, 1);
	if (!c->pg) {
		conn_fail(c, "out of memory", NULL);
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		pq_reason(c->pg, reason, sizeof(reason));
		conn_fail(c, reason, NULL);
		return;
	}
	PQsetnonblocking(c->pg, 1);
	PQsetNoticeProcessor(c->pg, notice_cb, c);
	c->state = C_CONNECTING;
	/* Before the first PQconnectPoll, act as if it said "writing". */
	if (conn_watch(c, EV_WRITE, 1) < 0) {
		conn_fail(c, "cannot watch the connection socket", NULL);
		return;
	}
	evtimer_add(c->timer, &tv);
}

/* Closes the connection, fails its statement and schedules a reconnect.
 * reason is for the log; qerr (or "connection lost (reason)") goes to the
 * statement's callback. */
static void conn_fail(struct pr_db_conn *c, const char *reason,
		      const char *qerr)
{
	struct pr_db *db = c->db;
	struct db_query *q = c->cur;
	int was_up = c->state == C_UP;
	char why[512], err[600];

	snprintf(why, sizeof(why), "%s", reason);
	c->cur = NULL;
	PQclear(c->res);
	c->res = NULL;
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	evtimer_del(c->timer);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	stmts_clear(c);
	c->state = C_DOWN;
	c->flushing = 0;
	if (c->listener) {
		listener_down(c, was_up, why, q);
		return;
	}
	if (was_up)
		db->connected--;
	if (c->held) {
		c->broken = 1;
		db_kick(db);
	}
	if (db->mig_conn == c) {
		struct timeval tv;

		tv = ms_tv(backoff_next(db, &db->mig_backoff_ms));

		/* The server drops the advisory lock with the session. */
		db->mig_conn = NULL;
		db->mig_locked = 0;
		c->migrating = 0;
		evtimer_add(db->mig_timer, &tv);
	}
	conn_schedule_reconnect(c);

	if (was_up)
		pr_debug("%s: connection %d lost (%s)", c->db->name, c->id,
			 why);
	else
		pr_debug("%s: connection %d: cannot connect (%s)", c->db->name,
			 c->id, why);

	if (q) {
		if (!qerr) {
			snprintf(err, sizeof(err), "connection lost (%s)", why);
			qerr = err;
		}
		query_fail(db, q, qerr);
		free(q);
		if (db->closing)
			return;
	}
	if (was_up && db->connected == 0 && db->ready) {
		store_down(db, why);
	} else if (!db->ready && !db->down_logged && db->connected == 0) {
		db->down_logged = 1;
		pr_warn("%s: cannot connect (%s); retrying", db->name, why);
	}
}

/* Remembers which server of conninfo's hosts a connection reached, and
 * says so when it is not the one before: with several hosts and
 * target_session_attrs=read-write, that is a failover (doc/design.md §7,
 * "High availability"). */
static void note_server(struct pr_db *db, PGconn *pg)
{
	char now[sizeof(db->server)];
	const char *host = PQhost(pg), *port = PQport(pg);

	snprintf(now, sizeof(now), "%s port %s", host ? host : "?",
		 port ? port : "?");
	if (db->server[0] && strcmp(now, db->server) != 0)
		pr_warn("%s: now connected to %s (was %s): another "
			"server of the conninfo took the writes",
			db->name, now, db->server);
	memcpy(db->server, now, sizeof(db->server));
}

static void conn_up(struct pr_db_conn *c)
{
	struct pr_db *db = c->db;

	evtimer_del(c->timer);
	note_server(db, c->pg);
	if (conn_watch(c, EV_READ, 1) < 0) {
		conn_fail(c, "cannot watch the connection socket", NULL);
		return;
	}
	c->state = C_UP;
	c->backoff_ms = 0;
	if (c->listener) {
		listener_up(c);
		return;
	}
	if (c->ever_up)
		db->reconnects++;
	c->ever_up = 1;
	db->connected++;
	pr_debug("%s: connection %d up", db->name, c->id);
	if (!db->migrated) {
		if (!db->mig_conn && !evtimer_pending(db->mig_timer, NULL))
			mig_start(db, c);
		return;
	}
	check_ready(db);
	if (db->closing)
		return;
	conn_next(c);
}

/* Sends q on the connection (which must be up and idle). */
static void conn_send(struct pr_db_conn *c, struct db_query *q)
{
	struct pr_db *db = c->db;
	char reason[512];
	int ok, r;

	c->cur = q;
	/* A statement text used twice on this session is prepared once and
	 * then only executed: the server parses and plans it no more (its
	 * plan cache decides between custom and generic plans). */
	if (q->kind == QK_PARAMS && !q->internal && !q->stmt)
		q->stmt = stmt_get(c, q->sql, q->sql_src);
	if (!q->sent_us)
		q->sent_us = pr_mono_us();
	if (q->stmt && !q->stmt->prepared && !q->stmt->broken &&
	    ++q->stmt->uses >= DB_STMT_PREPARE_AT) {
		q->preparing = 1;
		db->prepares++;
		ok = PQsendPrepare(c->pg, q->stmt->name, q->sql, q->nparams,
				   NULL);
	} else if (q->kind == QK_SIMPLE) {
		ok = PQsendQuery(c->pg, q->sql);
	} else if (q->stmt && q->stmt->prepared) {
		db->prepared_runs++;
		ok = PQsendQueryPrepared(c->pg, q->stmt->name, q->nparams,
					 (const char *const *)q->params, NULL,
					 NULL, 0);
	} else {
		ok = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL,
				       (const char *const *)q->params, NULL,
				       NULL, 0);
	}
	if (!ok) {
		pq_reason(c->pg, reason, sizeof(reason));
		conn_fail(c, reason, NULL);
		return;
	}
	r = PQflush(c->pg);
	if (r < 0) {
		pq_reason(c->pg, reason, sizeof(reason));
		conn_fail(c, reason, NULL);
		return;
	}
	c->flushing = r == 1;
	if (conn_watch(c, c->flushing ? EV_READ | EV_WRITE : EV_READ, 0) < 0) {
		conn_fail(c, "cannot watch the connection socket", NULL);
		return;
	}
	if (q->timed && (q->timeout_ms > 0 || db->query_timeout_ms > 0)) {
		struct timeval tv = ms_tv(q->timeout_ms > 0 ?
						  q->timeout_ms :
						  db->query_timeout_ms);

		evtimer_add(c->timer, &tv);
	}
}

/* The statement in flight is complete: hand its result over. */
static void conn_done(struct pr_db_conn *c)
{
	struct pr_db *db = c->db;
	struct db_query *q = c->cur;
	PGresult *res = c->res;
	char err[600];

	if (q->preparing) {
		/* The Prepare is done: now run the statement (or, when the
		 * server refused to prepare it, run it as before: the error,
		 * if it is the statement's own, comes back then). */
		q->preparing = 0;
		c->res = NULL;
		if (res && result_ok(res)) {
			q->stmt->prepared = 1;
		} else {
			if (res)
				result_error(res, err, sizeof(err));
			pr_debug("%s: connection %d: statement not "
				 "prepared (%s); sent as text",
				 c->db->name, c->id, res ? err : "no result");
			q->stmt->broken = 1;
		}
		PQclear(res);
		evtimer_del(c->timer);
		conn_send(c, q);
		return;
	}
	c->cur = NULL;
	c->res = NULL;
	evtimer_del(c->timer);
	if (!q->internal)
		db->queries++;
	db->last_wait_us = q->sent_us - q->queued_us;
	db->last_run_us = pr_mono_us() - q->sent_us;
	if (res && result_ok(res)) {
		q->cb(res, NULL, q->arg);
	} else {
		if (res)
			result_error(res, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "no result");
		if (!q->internal)
			db->errors++;
		q->cb(NULL, err, q->arg);
	}
	PQclear(res);
	free(q);
	if (db->closing)
		return;
	/* The server may have ended the session along with the statement:
	 * do not hand the next one to a dead connection. */
	if (c->state == C_UP && PQstatus(c->pg) == CONNECTION_BAD) {
		pq_reason(c->pg, err, sizeof(err));
		conn_fail(c, err, NULL);
		return;
	}
	conn_next(c);
}

static void conn_read(struct pr_db_conn *c, short what)
{
	char reason[512];
	PGnotify *n;

	if ((what & EV_READ) && !PQconsumeInput(c->pg))
		goto fail;
	if (c->flushing) {
		int r = PQflush(c->pg);

		if (r < 0)
			goto fail;
		if (r == 0) {
			c->flushing = 0;
			if (conn_watch(c, EV_READ, 0) < 0) {
				conn_fail(c, "cannot watch the socket", NULL);
				return;
			}
		}
	}
	/* Only the listener LISTENs; anything else must not pile up. */
	while ((n = PQnotifies(c->pg)) != NULL) {
		if (c->listener && !c->db->closing)
			listener_notify(c, n);
		PQfreemem(n);
		if (c->db->closing || c->state != C_UP)
			return;
	}
	if (!c->cur) {
		if (PQstatus(c->pg) == CONNECTION_BAD)
			goto fail;
		return;
	}
	while (!PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		ExecStatusType st;

		if (!res) {
			conn_done(c);
			return;
		}
		st = PQresultStatus(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT ||
		    st == PGRES_COPY_BOTH) {
			PQclear(res);
			conn_fail(c, "COPY is not supported",
				  "COPY is not supported");
			return;
		}
		/* Keep the last result, or the first error. */
		if (c->res && !result_ok(c->res)) {
			PQclear(res);
		} else {
			PQclear(c->res);
			c->res = res;
		}
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		goto fail;
	return;
fail:
	pq_reason(c->pg, reason, sizeof(reason));
	conn_fail(c, reason, NULL);
}

static void conn_poll(struct pr_db_conn *c)
{
	char reason[512];

	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		if (conn_watch(c, EV_READ, 1) < 0)
			conn_fail(c, "cannot watch the connection socket",
				  NULL);
		break;
	case PGRES_POLLING_WRITING:
		if (conn_watch(c, EV_WRITE, 1) < 0)
			conn_fail(c, "cannot watch the connection socket",
				  NULL);
		break;
	case PGRES_POLLING_OK:
		conn_up(c);
		break;
	default:
		pq_reason(c->pg, reason, sizeof(reason));
		conn_fail(c, reason, NULL);
		break;
	}
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pr_db_conn *c = arg;
	struct pr_db *db = c->db;

	db_enter(db);
	if (c->state == C_CONNECTING)
		conn_poll(c);
	else if (c->state == C_UP)
		conn_read(c, what);
	db_leave(db);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pr_db_conn *c = arg;
	struct pr_db *db = c->db;

	db_enter(db);
	switch (c->state) {
	case C_DOWN:
		conn_start(c);
		break;
	case C_CONNECTING:
		conn_fail(c, "connect timeout", NULL);
		break;
	case C_UP:
		if (c->cur && c->listener) {
			pr_warn("store: LISTEN timed out after %d ms; closing "
				"the notification connection",
				db->query_timeout_ms);
			conn_fail(c, "LISTEN timeout", "LISTEN timeout");
		} else if (c->cur) {
			pr_warn("%s: query timed out after %d ms; closing "
				"connection %d",
				db->name,
				c->cur->timeout_ms > 0 ? c->cur->timeout_ms :
							 db->query_timeout_ms,
				c->id);
			conn_fail(c, "query timeout", "query timeout");
		} else if (c->listener) {
			/* Kicked by pr_db_listen: a new registration. */
			listener_next(c);
		}
		break;
	}
	db_leave(db);
}

static void release_done(PGresult *res, const char *err, void *arg)
{
	struct pr_db_conn *c = arg;

	/* Success: conn_next sees the transaction closed and gives the
	 * connection back. A failed ROLLBACK leaves a session we cannot
	 * trust: drop it. */
	if (err && !c->db->closing && c->state == C_UP)
		conn_fail(c, "ROLLBACK on release failed", NULL);
}

static void conn_unhold(struct pr_db_conn *c)
{
	c->held = 0;
	c->broken = 0;
	c->releasing = 0;
}

/* Gives a connection its next piece of work, if any. Returns 1 when it
 * should be asked again. */
/* The next statement for an idle connection, taken off its queue: a
 * request's first; a background job's only while fewer than bg_max
 * connections run background work, so that a burst of it (a completion
 * sweep, the outbox, a reconciliation) never holds every connection
 * while requests wait; one that has waited a second goes before
 * requests (within the same limit). */
static struct db_query *next_query(struct pr_db *db)
{
	struct db_query *q = TAILQ_FIRST(&db->queue);
	struct db_query *b = TAILQ_FIRST(&db->bgqueue);
	struct pr_qpick_state s = { .requests = q != NULL,
				    .background = b != NULL,
				    .bg_max = db->bg_max };

	if (b) {
		s.bg_waited_us = pr_mono_us() - b->queued_us;
		for (int i = 0; i < db->pool_size; i++)
			if (db->conns[i].cur && db->conns[i].cur->background)
				s.bg_running++;
	}
	switch (pr_qpick(&s)) {
	case PR_QPICK_REQUEST:
		TAILQ_REMOVE(&db->queue, q, link);
		return q;
	case PR_QPICK_BACKGROUND:
		TAILQ_REMOVE(&db->bgqueue, b, link);
		return b;
	default:
		return NULL;
	}
}

static int conn_next_once(struct pr_db_conn *c)
{
	struct pr_db *db = c->db;
	struct db_query *q;

	if (db->closing || c->cur || c->migrating)
		return 0;
	if (c->held) {
		q = TAILQ_FIRST(&c->hq);
		if (q && (c->state != C_UP || c->broken)) {
			TAILQ_REMOVE(&c->hq, q, link);
			query_fail(db, q, "connection lost");
			free(q);
			return 1;
		}
		if (q) {
			TAILQ_REMOVE(&c->hq, q, link);
			conn_send(c, q);
			return 0;
		}
		if (!c->releasing)
			return 0;
		if (c->state == C_UP && !c->broken) {
			PGTransactionStatusType ts = PQtransactionStatus(c->pg);

			if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
				q = query_new(QK_PARAMS, "ROLLBACK", 0, NULL);
				if (!q) {
					conn_fail(c, "out of memory", NULL);
					return 0;
				}
				q->internal = 1;
				q->timed = 1;
				q->cb = release_done;
				q->arg = c;
				conn_send(c, q);
				return 0;
			}
			if (ts != PQTRANS_IDLE) {
				conn_fail(c, "bad transaction state on release",
					  NULL);
				return 0;
			}
		}
		conn_unhold(c);
		return c->state == C_UP;
	}
	if (c->state != C_UP || !db->ready)
		return 0;
	q = next_query(db);
	if (!q)
		return 0;
	db->queued--;
	if (q->kind == QK_ACQUIRE) {
		c->held = 1;
		c->broken = 0;
		c->releasing = 0;
		q->conn_cb(c, NULL, q->arg);
		free(q);
		return 1;
	}
	conn_send(c, q);
	return 0;
}

static void conn_next(struct pr_db_conn *c)
{
	if (c->listener) {
		listener_next(c);
		return;
	}
	while (conn_next_once(c))
		;
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pr_db *db = arg;

	db_enter(db);
	for (int i = 0; i < db->pool_size && !db->closing; i++)
		conn_next(&db->conns[i]);
	db_leave(db);
}

/* ------------------------------------------------------- LISTEN/NOTIFY */

static void listen_done(PGresult *res, const char *err, void *arg)
{
	struct pr_db_conn *c = arg;
	struct pr_db *db = c->db;

	if (db->closing || c->state != C_UP)
		return;
	if (err) {
		pr_warn("store: LISTEN %s failed: %s",
			db->listens[c->listen_idx].channel, err);
		conn_fail(c, "LISTEN failed", NULL);
		return;
	}
	db->listens[c->listen_idx].active = 1;
}

/* Sends LISTEN for registration i on the (up, idle) listener. */
static void listener_send(struct pr_db_conn *c, size_t i)
{
	struct pr_db *db = c->db;
	const char *ch = db->listens[i].channel;
	struct db_query *q;
	char sql[200];
	char *ident;

	ident = PQescapeIdentifier(c->pg, ch, strlen(ch));
	if (!ident) {
		conn_fail(c, "cannot quote a channel name", NULL);
		return;
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", ident);
	PQfreemem(ident);
	q = query_new(QK_PARAMS, sql, 0, NULL);
	if (!q) {
		conn_fail(c, "out of memory", NULL);
		return;
	}
	q->internal = 1;
	q->timed = 1;
	q->cb = listen_done;
	q->arg = c;
	c->listen_idx = i;
	conn_send(c, q);
}

/* The listener's next step: LISTEN for the next registration not yet
 * active on this session; once all are, tell each registration not yet
 * told on this session that notifications may have been missed. */
static void listener_next(struct pr_db_conn *c)
{
	struct pr_db *db = c->db;
	char names[512];
	size_t i, len = 0;

	if (db->closing || c->state != C_UP || c->cur)
		return;
	for (i = 0; i < db->n_listens; i++) {
		if (!db->listens[i].active) {
			listener_send(c, i);
			return;
		}
	}
	names[0] = '\0';
	for (i = 0; i < db->n_listens; i++) {
		int n;

		if (db->listens[i].told)
			continue;
		n = snprintf(names + len, sizeof(names) - len, "%s%s",
			     len ? ", " : "", db->listens[i].channel);
		if (n > 0 && (size_t)n < sizeof(names) - len)
			len += (size_t)n;
	}
	if (!names[0])
		return;
	db->l_down_logged = 0;
	pr_info("store: listening for notifications on %s (backend pid %d)",
		names, PQbackendPID(c->pg));
	/* A callback may register more (the array may move) or free us. */
	for (i = 0; i < db->n_listens; i++) {
		if (db->listens[i].told)
			continue;
		db->listens[i].told = 1;
		db->listens[i].cb(NULL, NULL, 0, db->listens[i].arg);
		if (db->closing || c->state != C_UP)
			return;
	}
}

static void listener_up(struct pr_db_conn *c)
{
	struct pr_db *db = c->db;

	if (c->ever_up)
		db->l_reconnects++;
	c->ever_up = 1;
	pr_debug("store: notification connection up (backend pid %d)",
		 PQbackendPID(c->pg));
	listener_next(c);
}

/* The listener's session is gone (conn_fail has closed it). */
static void listener_down(struct pr_db_conn *c, int was_up, const char *why,
			  struct db_query *q)
{
	struct pr_db *db = c->db;

	for (size_t i = 0; i < db->n_listens; i++) {
		db->listens[i].active = 0;
		db->listens[i].told = 0;
	}
	/* An internal LISTEN: nobody waits for it. */
	free(q);
	conn_schedule_reconnect(c);
	if (was_up && !db->l_down_logged) {
		db->l_down_logged = 1;
		pr_warn("store: notification connection lost (%s); "
			"reconnecting",
			why);
	} else {
		pr_debug("store: notification connection: cannot connect "
			 "(%s)",
			 why);
	}
}

static void listener_notify(struct pr_db_conn *c, const PGnotify *n)
{
	struct pr_db *db = c->db;

	for (size_t i = 0; i < db->n_listens; i++) {
		if (strcmp(db->listens[i].channel, n->relname) != 0)
			continue;
		db->notifications++;
		db->listens[i].cb(n->relname, n->extra ? n->extra : "",
				  n->be_pid, db->listens[i].arg);
		return;
	}
}

static struct pr_db_conn *listener_new(struct pr_db *db)
{
	struct pr_db_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->db = db;
	c->id = -1;
	c->listener = 1;
	c->state = C_DOWN;
	c->ev_fd = -1;
	TAILQ_INIT(&c->hq);
	c->timer = evtimer_new(db->base, conn_timer_cb, c);
	if (!c->timer) {
		free(c);
		return NULL;
	}
	return c;
}

static void listener_free(struct pr_db *db)
{
	struct pr_db_conn *c = db->lconn;

	if (c) {
		free(c->cur); /* an internal LISTEN */
		PQclear(c->res);
		if (c->ev)
			event_free(c->ev);
		if (c->timer)
			event_free(c->timer);
		if (c->pg)
			PQfinish(c->pg);
		free(c);
		db->lconn = NULL;
	}
	for (size_t i = 0; i < db->n_listens; i++)
		free(db->listens[i].channel);
	free(db->listens);
	db->listens = NULL;
	db->n_listens = 0;
}

/* -------------------------------------------------------- migrations */

static void mig_cb(PGresult *res, const char *err, void *arg);

static int mig_send(struct pr_db *db, enum mig_step step, enum query_kind kind,
		    const char *sql, int nparams, const char *const *params)
{
	struct pr_db_conn *c = db->mig_conn;
	struct db_query *q = query_new(kind, sql, nparams, params);

	if (!q) {
		conn_fail(c, "out of memory", NULL);
		return -ENOMEM;
	}
	q->internal = 1;
	q->cb = mig_cb;
	q->arg = c;
	db->mig_step = step;
	conn_send(c, q);
	return 0;
}

static void mig_clear(struct pr_db *db)
{
	free(db->mig_files);
	db->mig_files = NULL;
	db->mig_nfiles = 0;
	db->mig_idx = 0;
	free(db->mig_applied);
	db->mig_applied = NULL;
	db->mig_napplied = 0;
	free(db->mig_sql);
	db->mig_sql = NULL;
}

/* Gives up for now: the connection goes back to idle and the migrations
 * are tried again after a back-off. */
static void mig_retry_later(struct pr_db *db)
{
	struct pr_db_conn *c = db->mig_conn;
	struct timeval tv = ms_tv(backoff_next(db, &db->mig_backoff_ms));

	mig_clear(db);
	db->mig_conn = NULL;
	db->mig_locked = 0;
	c->migrating = 0;
	evtimer_add(db->mig_timer, &tv);
}

/* A step failed: roll back, unlock, retry later. */
static void mig_fail(struct pr_db *db, const char *what, const char *err)
{
	int in_tx = db->mig_step >= M_BEGIN && db->mig_step <= M_COMMIT;
	char line[sizeof(db->mig_last_err)];

	snprintf(line, sizeof(line), "%s failed: %s", what, err);
	if (strcmp(line, db->mig_last_err) != 0) {
		pr_err("store: %s; will retry", line);
		snprintf(db->mig_last_err, sizeof(db->mig_last_err), "%s",
			 line);
	} else {
		pr_debug("store: %s; will retry", line);
	}
	if (in_tx) {
		mig_send(db, M_ROLLBACK, QK_PARAMS, "ROLLBACK", 0, NULL);
		return;
	}
	if (db->mig_locked) {
		mig_send(db, M_UNLOCK_FAIL, QK_PARAMS,
			 "SELECT pg_advisory_unlock(" DB_MIGRATION_LOCK ")", 0,
			 NULL);
		return;
	}
	mig_retry_later(db);
}

static int mig_file_cmp(const void *a, const void *b)
{
	const struct mig_file *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Lists NNN_name.sql files, sorted by number. */
static int mig_scan(struct pr_db *db, char *err, size_t errlen)
{
	struct mig_file *files = NULL, *nf;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	dir = opendir(db->migrations_dir);
	if (!dir) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", db->migrations_dir,
			 strerror(-rc));
		return rc;
	}
	while ((de = readdir(dir)) != NULL) {
		const char *name = de->d_name;
		size_t len = strlen(name);
		char *end;
		long v;

		if (name[0] < '0' || name[0] > '9' || len < 6 ||
		    strcmp(name + len - 4, ".sql") != 0)
			continue;
		errno = 0;
		v = strtol(name, &end, 10);
		if (*end != '_' || errno || v < 0 || v > INT_MAX ||
		    len >= sizeof(files[0].name)) {
			snprintf(err, errlen, "bad migration file name %s",
				 name);
			rc = -EINVAL;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nf = realloc(files, cap * sizeof(*files));
			if (!nf) {
				snprintf(err, errlen, "out of memory");
				rc = -ENOMEM;
				goto out;
			}
			files = nf;
		}
		files[n].version = (int)v;
		snprintf(files[n].name, sizeof(files[n].name), "%s", name);
		n++;
	}
	if (n > 0)
		qsort(files, n, sizeof(*files), mig_file_cmp);
	for (size_t i = 1; i < n; i++) {
		if (files[i].version == files[i - 1].version) {
			snprintf(err, errlen,
				 "migrations %s and %s have the same number",
				 files[i - 1].name, files[i].name);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	closedir(dir);
	if (rc < 0) {
		free(files);
		return rc;
	}
	db->mig_files = files;
	db->mig_nfiles = n;
	return 0;
}

static int mig_read_file(struct pr_db *db, const struct mig_file *f, char *err,
			 size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	size_t got = 0;
	char *buf = NULL;
	int fd, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", db->migrations_dir,
			     f->name) >= sizeof(path)) {
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", f->name,
			 strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > DB_MAX_MIGRATION_BYTES) {
		snprintf(err, errlen,
			 "%s: not a regular file of at most %d bytes", f->name,
			 DB_MAX_MIGRATION_BYTES);
		rc = -EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			snprintf(err, errlen, "cannot read %s: %s", f->name,
				 r < 0 ? strerror(errno) : "short read");
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	free(db->mig_sql);
	db->mig_sql = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static int mig_is_applied(const struct pr_db *db, int version)
{
	for (size_t i = 0; i < db->mig_napplied; i++)
		if (db->mig_applied[i] == version)
			return 1;
	return 0;
}

static void mig_finish(struct pr_db *db)
{
	struct pr_db_conn *c = db->mig_conn;

	mig_clear(db);
	db->mig_conn = NULL;
	db->mig_locked = 0;
	db->mig_backoff_ms = 0;
	db->migrated = 1;
	db->mig_last_err[0] = '\0';
	c->migrating = 0;
	if (db->migrations_dir)
		pr_info("store: schema at version %d", db->schema_version);
	check_ready(db);
}

/* Applies the next missing file, or unlocks when there is none. */
static void mig_next_file(struct pr_db *db)
{
	char err[600], what[300];
	const struct mig_file *f;

	while (db->mig_idx < db->mig_nfiles &&
	       mig_is_applied(db, db->mig_files[db->mig_idx].version))
		db->mig_idx++;
	if (db->mig_idx == db->mig_nfiles) {
		mig_send(db, M_UNLOCK, QK_PARAMS,
			 "SELECT pg_advisory_unlock(" DB_MIGRATION_LOCK ")", 0,
			 NULL);
		return;
	}
	f = &db->mig_files[db->mig_idx];
	if (mig_read_file(db, f, err, sizeof(err)) < 0) {
		snprintf(what, sizeof(what), "migration %s", f->name);
		mig_fail(db, what, err);
		return;
	}
	mig_send(db, M_BEGIN, QK_PARAMS, "BEGIN", 0, NULL);
}

static void mig_versions(struct pr_db *db, PGresult *res)
{
	int n = PQntuples(res);
	char err[600];

	free(db->mig_applied);
	db->mig_applied = calloc((size_t)n + 1, sizeof(int));
	db->mig_napplied = 0;
	if (!db->mig_applied) {
		mig_fail(db, "migrations", "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		int v = atoi(PQgetvalue(res, i, 0));

		db->mig_applied[db->mig_napplied++] = v;
		if (v > db->schema_version)
			db->schema_version = v;
	}
	free(db->mig_files);
	db->mig_files = NULL;
	db->mig_nfiles = 0;
	if (mig_scan(db, err, sizeof(err)) < 0) {
		mig_fail(db, "migrations", err);
		return;
	}
	db->mig_idx = 0;
	mig_next_file(db);
}

static void mig_cb(PGresult *res, const char *err, void *arg)
{
	struct pr_db_conn *c = arg;
	struct pr_db *db = c->db;
	const struct mig_file *f = NULL;
	char what[300], vbuf[16];
	const char *params[2];

	if (db->closing || db->mig_conn != c || c->state != C_UP)
		return; /* aborted: the connection went away */
	if (db->mig_idx < db->mig_nfiles)
		f = &db->mig_files[db->mig_idx];
	if (f)
		snprintf(what, sizeof(what), "migration %s", f->name);
	else
		snprintf(what, sizeof(what), "migrations");

	switch (db->mig_step) {
	case M_LOCK:
		if (err)
			break;
		db->mig_locked = 1;
		mig_send(db, M_CREATE, QK_PARAMS,
			 "CREATE TABLE IF NOT EXISTS schema_migrations ("
			 "version int PRIMARY KEY, name text NOT NULL, "
			 "applied_at timestamptz NOT NULL DEFAULT now())",
			 0, NULL);
		return;
	case M_CREATE:
		if (err)
			break;
		mig_send(db, M_VERSIONS, QK_PARAMS,
			 "SELECT version FROM schema_migrations "
			 "ORDER BY version",
			 0, NULL);
		return;
	case M_VERSIONS:
		if (err)
			break;
		mig_versions(db, res);
		return;
	case M_BEGIN:
		if (err)
			break;
		mig_send(db, M_FILE, QK_SIMPLE, db->mig_sql, 0, NULL);
		return;
	case M_FILE:
		free(db->mig_sql);
		db->mig_sql = NULL;
		if (err)
			break;
		if (PQtransactionStatus(c->pg) != PQTRANS_INTRANS) {
			err = "the file must not end its transaction";
			break;
		}
		snprintf(vbuf, sizeof(vbuf), "%d", f->version);
		params[0] = vbuf;
		params[1] = f->name;
		mig_send(db, M_INSERT, QK_PARAMS,
			 "INSERT INTO schema_migrations (version, name) "
			 "VALUES ($1, $2)",
			 2, params);
		return;
	case M_INSERT:
		if (err)
			break;
		mig_send(db, M_COMMIT, QK_PARAMS, "COMMIT", 0, NULL);
		return;
	case M_COMMIT:
		if (err)
			break;
		pr_info("store: applied migration %s", f->name);
		if (f->version > db->schema_version)
			db->schema_version = f->version;
		db->mig_idx++;
		mig_next_file(db);
		return;
	case M_ROLLBACK:
		mig_send(db, M_UNLOCK_FAIL, QK_PARAMS,
			 "SELECT pg_advisory_unlock(" DB_MIGRATION_LOCK ")", 0,
			 NULL);
		return;
	case M_UNLOCK_FAIL:
		mig_retry_later(db);
		return;
	case M_UNLOCK:
		mig_finish(db);
		if (err && !db->closing && c->state == C_UP)
			/* Closing the session releases the lock for sure. */
			conn_fail(c, "advisory unlock failed", NULL);
		return;
	}
	mig_fail(db, what, err);
}

static void mig_start(struct pr_db *db, struct pr_db_conn *c)
{
	db->mig_conn = c;
	c->migrating = 1;
	db->mig_locked = 0;
	mig_clear(db);
	if (!db->migrations_dir) {
		mig_finish(db);
		return;
	}
	/* The server makes us wait for the lock; the loop does not. */
	mig_send(db, M_LOCK, QK_PARAMS,
		 "SELECT pg_advisory_lock(" DB_MIGRATION_LOCK ")", 0, NULL);
}

static void mig_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pr_db *db = arg;

	db_enter(db);
	if (!db->migrated && !db->mig_conn && !db->closing) {
		for (int i = 0; i < db->pool_size; i++) {
			struct pr_db_conn *c = &db->conns[i];

			if (c->state == C_UP && !c->cur && !c->held) {
				mig_start(db, c);
				break;
			}
		}
		/* None up: the next connection to come up starts them. */
	}
	db_leave(db);
}

/* ------------------------------------------------------------ the API */

struct pr_db *pr_db_new(struct event_base *base, const struct pr_db_opts *o,
			pr_db_state_cb on_state, void *arg)
{
	struct pr_db *db;
	struct timeval now;

	if (!base || !o || !o->conninfo)
		return NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	db->base = base;
	snprintf(db->name, sizeof(db->name), "%s",
		 o->name && *o->name ? o->name : "store");
	db->on_state = on_state;
	db->state_arg = arg;
	db->pool_size = o->pool_size > 0 ? o->pool_size : DB_DEFAULT_POOL;
	db->bg_max = pr_qpick_bg_max(db->pool_size);
	db->reconnect_min_ms = o->reconnect_min_ms > 0 ?
				       o->reconnect_min_ms :
				       DB_DEFAULT_RECONNECT_MIN_MS;
	db->reconnect_max_ms = o->reconnect_max_ms > 0 ?
				       o->reconnect_max_ms :
				       DB_DEFAULT_RECONNECT_MAX_MS;
	if (db->reconnect_max_ms < db->reconnect_min_ms)
		db->reconnect_max_ms = db->reconnect_min_ms;
	db->query_timeout_ms = o->query_timeout_ms > 0 ? o->query_timeout_ms :
							 0;
	db->max_queue = o->max_queue > 0 ? (size_t)o->max_queue :
					   DB_DEFAULT_MAX_QUEUE;
	db->schema_version = -1;
	TAILQ_INIT(&db->queue);
	TAILQ_INIT(&db->bgqueue);
	gettimeofday(&now, NULL);
	db->rng = (uint32_t)now.tv_usec ^ (uint32_t)now.tv_sec ^
		  ((uint32_t)getpid() << 16) ^ (uint32_t)(uintptr_t)db;
	if (!db->rng)
		db->rng = 0x9e3779b9u;

	db->conninfo = strdup(o->conninfo);
	if (o->migrations_dir)
		db->migrations_dir = strdup(o->migrations_dir);
	db->conns = calloc((size_t)db->pool_size, sizeof(*db->conns));
	db->kick = event_new(base, -1, 0, kick_cb, db);
	db->mig_timer = evtimer_new(base, mig_timer_cb, db);
	if (!db->conninfo || (o->migrations_dir && !db->migrations_dir) ||
	    !db->conns || !db->kick || !db->mig_timer)
		goto fail;
	for (int i = 0; i < db->pool_size; i++) {
		struct pr_db_conn *c = &db->conns[i];

		c->db = db;
		c->id = i;
		c->state = C_DOWN;
		c->ev_fd = -1;
		TAILQ_INIT(&c->hq);
		c->timer = evtimer_new(base, conn_timer_cb, c);
		if (!c->timer)
			goto fail;
	}
	/* Connect from the loop, so that nothing is reported from here. */
	for (int i = 0; i < db->pool_size; i++) {
		struct timeval zero = { 0, 0 };

		evtimer_add(db->conns[i].timer, &zero);
	}
	return db;
fail:
	db->closing = 1;
	db_destroy(db);
	return NULL;
}

static void db_destroy(struct pr_db *db)
{
	struct query_list fail;
	struct db_query *q;

	TAILQ_INIT(&fail);
	db->closing = 1;
	db->free_pending = 0;
	for (int i = 0; db->conns && i < db->pool_size; i++) {
		struct pr_db_conn *c = &db->conns[i];

		if (c->cur)
			TAILQ_INSERT_TAIL(&fail, c->cur, link);
		c->cur = NULL;
		TAILQ_CONCAT(&fail, &c->hq, link);
		PQclear(c->res);
		c->res = NULL;
		if (c->ev)
			event_free(c->ev);
		c->ev = NULL;
		if (c->timer)
			event_free(c->timer);
		c->timer = NULL;
		if (c->pg)
			PQfinish(c->pg);
		c->pg = NULL;
		stmts_clear(c);
		c->state = C_DOWN;
	}
	listener_free(db);
	TAILQ_CONCAT(&fail, &db->queue, link);
	TAILQ_CONCAT(&fail, &db->bgqueue, link);
	db->queued = 0;
	if (db->kick)
		event_free(db->kick);
	if (db->mig_timer)
		event_free(db->mig_timer);
	db->kick = db->mig_timer = NULL;
	/* Callbacks may try pr_db_* again: closing answers -EAGAIN. */
	db->depth++;
	while ((q = TAILQ_FIRST(&fail)) != NULL) {
		TAILQ_REMOVE(&fail, q, link);
		query_fail(db, q, "store shutting down");
		free(q);
	}
	mig_clear(db);
	free(db->conns);
	free(db->conninfo);
	free(db->migrations_dir);
	free(db);
}

void pr_db_free(struct pr_db *db)
{
	if (!db || db->closing)
		return;
	db->closing = 1;
	if (db->depth > 0) {
		/* Inside one of our callbacks: finish when it returns. */
		db->free_pending = 1;
		return;
	}
	db_destroy(db);
}

int pr_db_ready(const struct pr_db *db)
{
	return db && db->ready && !db->closing;
}

static int params_ok(int nparams, const char *const *params)
{
	return nparams >= 0 && nparams <= DB_MAX_PARAMS &&
	       (nparams == 0 || params);
}

static int query_queue(struct pr_db *db, const char *sql, int nparams,
		       const char *const *params, int timeout_ms,
		       int background, pr_db_cb cb, void *arg)
{
	struct db_query *q;

	if (!db || !sql || !cb || !params_ok(nparams, params))
		return -EINVAL;
	if (db->closing || !db->ready || db->queued >= db->max_queue)
		return -EAGAIN;
	q = query_new(QK_PARAMS, sql, nparams, params);
	if (!q)
		return -ENOMEM;
	q->timed = 1;
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	q->background = background;
	q->cb = cb;
	q->arg = arg;
	TAILQ_INSERT_TAIL(background ? &db->bgqueue : &db->queue, q, link);
	db->queued++;
	db_kick(db);
	return 0;
}

int pr_db_query(struct pr_db *db, const char *sql, int nparams,
		const char *const *params, pr_db_cb cb, void *arg)
{
	return query_queue(db, sql, nparams, params, 0, 0, cb, arg);
}

/* A statement whose result, when it has no row, is another's (the
 * parameters kept for it, after the pointers). */
struct query_else {
	struct pr_db *db;
	const char *sql;
	int nparams;
	pr_db_cb cb;
	void *arg;
	const char *params[];
};

static void on_query_else(PGresult *res, const char *err, void *arg)
{
	struct query_else *e = arg;

	if (!err && res && PQntuples(res) == 0) {
		if (query_queue(e->db, e->sql, e->nparams, e->params, 0, 0,
				e->cb, e->arg) == 0) {
			free(e);
			return;
		}
		res = NULL;
		err = "store unavailable (its queue is full)";
	}
	e->cb(res, err, e->arg);
	free(e);
}

int pr_db_query_else(struct pr_db *db, const char *sql, const char *sql_else,
		     int nparams, const char *const *params, pr_db_cb cb,
		     void *arg)
{
	size_t len = sizeof(struct query_else) +
		     (size_t)nparams * sizeof(const char *);
	struct query_else *e;
	char *w;
	int rc;

	if (!sql_else || !params_ok(nparams, params))
		return -EINVAL;
	for (int i = 0; i < nparams; i++)
		len += params[i] ? strlen(params[i]) + 1 : 0;
	e = malloc(len);
	if (!e)
		return -ENOMEM;
	e->db = db;
	e->sql = sql_else;
	e->nparams = nparams;
	e->cb = cb;
	e->arg = arg;
	w = (char *)&e->params[nparams];
	for (int i = 0; i < nparams; i++) {
		size_t n = params[i] ? strlen(params[i]) + 1 : 0;

		e->params[i] = params[i] ? memcpy(w, params[i], n) : NULL;
		w += n;
	}
	rc = query_queue(db, sql, nparams, params, 0, 0, on_query_else, e);
	if (rc < 0)
		free(e);
	return rc;
}

int pr_db_query_timeout(struct pr_db *db, const char *sql, int nparams,
			const char *const *params, int timeout_ms, pr_db_cb cb,
			void *arg)
{
	return query_queue(db, sql, nparams, params, timeout_ms, 0, cb, arg);
}

int pr_db_query_bg(struct pr_db *db, const char *sql, int nparams,
		   const char *const *params, int timeout_ms, pr_db_cb cb,
		   void *arg)
{
	return query_queue(db, sql, nparams, params, timeout_ms, 1, cb, arg);
}

int pr_db_acquire(struct pr_db *db, pr_db_conn_cb cb, void *arg)
{
	struct db_query *q;

	if (!db || !cb)
		return -EINVAL;
	if (db->closing || !db->ready || db->queued >= db->max_queue)
		return -EAGAIN;
	q = query_new(QK_ACQUIRE, NULL, 0, NULL);
	if (!q)
		return -ENOMEM;
	q->conn_cb = cb;
	q->arg = arg;
	TAILQ_INSERT_TAIL(&db->queue, q, link);
	db->queued++;
	db_kick(db);
	return 0;
}

int pr_db_conn_query(struct pr_db_conn *conn, const char *sql, int nparams,
		     const char *const *params, pr_db_cb cb, void *arg)
{
	struct db_query *q;

	if (!conn || !sql || !cb || !params_ok(nparams, params))
		return -EINVAL;
	if (conn->db->closing)
		return -EAGAIN;
	if (!conn->held || conn->releasing)
		return -EINVAL;
	q = query_new(QK_PARAMS, sql, nparams, params);
	if (!q)
		return -ENOMEM;
	q->timed = 1;
	q->cb = cb;
	q->arg = arg;
	TAILQ_INSERT_TAIL(&conn->hq, q, link);
	db_kick(conn->db);
	return 0;
}

void pr_db_release(struct pr_db_conn *conn)
{
	if (!conn || conn->db->closing || !conn->held || conn->releasing)
		return;
	conn->releasing = 1;
	db_kick(conn->db);
}

int pr_db_listen(struct pr_db *db, const char *channel, pr_db_notify_cb cb,
		 void *arg)
{
	struct timeval zero = { 0, 0 };
	struct db_listen *nl;
	struct pr_db_conn *c;
	size_t len;
	char *name;

	if (!db || !channel || !cb)
		return -EINVAL;
	len = strlen(channel);
	if (len == 0 || len > 63)
		return -EINVAL; /* the server would truncate it (NAMEDATALEN) */
	if (db->closing)
		return -EAGAIN;
	for (size_t i = 0; i < db->n_listens; i++) {
		if (strcmp(db->listens[i].channel, channel) == 0) {
			db->listens[i].cb = cb;
			db->listens[i].arg = arg;
			return 0;
		}
	}
	if (!db->lconn) {
		db->lconn = listener_new(db);
		if (!db->lconn)
			return -ENOMEM;
	}
	c = db->lconn;
	name = strdup(channel);
	if (!name)
		return -ENOMEM;
	nl = realloc(db->listens, (db->n_listens + 1) * sizeof(*nl));
	if (!nl) {
		free(name);
		return -ENOMEM;
	}
	db->listens = nl;
	memset(&nl[db->n_listens], 0, sizeof(*nl));
	nl[db->n_listens].channel = name;
	nl[db->n_listens].cb = cb;
	nl[db->n_listens].arg = arg;
	db->n_listens++;
	/* Work happens in the loop: start connecting (unless a reconnect is
	 * already scheduled) or, when up and idle, issue the LISTEN. */
	if ((c->state == C_DOWN && !evtimer_pending(c->timer, NULL)) ||
	    (c->state == C_UP && !c->cur))
		evtimer_add(c->timer, &zero);
	return 0;
}

int pr_db_listening(const struct pr_db *db)
{
	if (!db || !db->lconn || db->lconn->state != C_UP || !db->n_listens)
		return 0;
	for (size_t i = 0; i < db->n_listens; i++)
		if (!db->listens[i].active)
			return 0;
	return 1;
}

void pr_db_last_times(const struct pr_db *db, int64_t *wait_us, int64_t *run_us)
{
	*wait_us = db->last_wait_us;
	*run_us = db->last_run_us;
}

int pr_db_own_backend(const struct pr_db *db, int backend_pid)
{
	if (!db || backend_pid <= 0)
		return 0;
	for (int i = 0; i < db->pool_size; i++) {
		const struct pr_db_conn *c = &db->conns[i];

		if (c->state == C_UP && c->pg &&
		    PQbackendPID(c->pg) == backend_pid)
			return 1;
	}
	if (db->lconn && db->lconn->state == C_UP && db->lconn->pg &&
	    PQbackendPID(db->lconn->pg) == backend_pid)
		return 1;
	return 0;
}

void pr_db_get_stats(const struct pr_db *db, struct pr_db_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->schema_version = -1;
	if (!db)
		return;
	st->pool_size = db->pool_size;
	st->connected = db->connected;
	for (int i = 0; i < db->pool_size; i++) {
		const struct pr_db_conn *c = &db->conns[i];

		if (c->state == C_UP && (c->cur || c->held || c->migrating))
			st->busy++;
	}
	st->queued = db->queued;
	st->reconnects = db->reconnects;
	st->queries = db->queries;
	st->errors = db->errors;
	st->prepares = db->prepares;
	st->prepared_runs = db->prepared_runs;
	st->schema_version = db->schema_version;
	if (db->lconn && db->lconn->state == C_UP) {
		st->listener_up = 1;
		for (size_t i = 0; i < db->n_listens; i++)
			if (!db->listens[i].active)
				st->listener_up = 0;
	}
	st->listener_reconnects = db->l_reconnects;
	st->notifications = db->notifications;
}
