/*
 * db.h - the PostgreSQL store: a pool of N libpq connections driven
 * without blocking by the event loop (PQconnectStart/PQconnectPoll,
 * PQsendQueryParams, PQconsumeInput on PQsocket events). Connections that
 * fail are re-opened with exponential back-off. After the first connection
 * is up, schema migrations are applied once (under an advisory lock, so
 * concurrent daemons apply them once) before the store reports ready.
 */
#ifndef PR_DB_H
#define PR_DB_H

#include <stddef.h>

#include <event2/event.h>
#include <libpq-fe.h>

struct pr_db;

struct pr_db_opts {
	const char *conninfo;
	int pool_size;
	int reconnect_min_ms;
	int reconnect_max_ms;
	int query_timeout_ms;	    /* a query running longer is cancelled */
	const char *migrations_dir; /* NULL: no migrations */
	int max_queue;		    /* queued queries beyond this get -EAGAIN */
};

/* Called with the result of a query (res is NULL when it failed, with err
 * saying why). res is owned by the db and cleared after the callback
 * returns. */
typedef void (*pr_db_cb)(PGresult *res, const char *err, void *arg);

/* Called when the store becomes ready (1) or unavailable (0). */
typedef void (*pr_db_state_cb)(int ready, void *arg);

/* Creates the pool and starts connecting. Returns NULL on allocation
 * failure only: connection trouble is retried in the background. */
struct pr_db *pr_db_new(struct event_base *base, const struct pr_db_opts *o,
			pr_db_state_cb on_state, void *arg);

/* Closes every connection; pending callbacks are called with an error. */
void pr_db_free(struct pr_db *db);

/* 1 when at least one connection is up and migrations are applied. */
int pr_db_ready(const struct pr_db *db);

/* Queues one statement with text parameters (NULL for SQL NULL). Returns 0
 * (cb will be called exactly once), or -EAGAIN when the store is not ready
 * or the queue is full (cb is not called). */
int pr_db_query(struct pr_db *db, const char *sql, int nparams,
		const char *const *params, pr_db_cb cb, void *arg);

/* A connection held for a sequence of statements (a transaction). */
struct pr_db_conn;
typedef void (*pr_db_conn_cb)(struct pr_db_conn *conn, const char *err,
			      void *arg);

/* Asks for a connection of its own; cb gets it (or NULL and err). Returns
 * 0 or -EAGAIN like pr_db_query. */
int pr_db_acquire(struct pr_db *db, pr_db_conn_cb cb, void *arg);
/* Runs one statement on a held connection; cb is called exactly once. */
int pr_db_conn_query(struct pr_db_conn *conn, const char *sql, int nparams,
		     const char *const *params, pr_db_cb cb, void *arg);
/* Gives the connection back (rolling back an open transaction). */
void pr_db_release(struct pr_db_conn *conn);

/* Figures for /metrics and status. */
struct pr_db_stats {
	int pool_size;
	int connected;
	int busy;
	size_t queued;
	unsigned long reconnects;
	unsigned long queries;
	unsigned long errors;
	int schema_version; /* highest applied migration, -1 unknown */
};
void pr_db_get_stats(const struct pr_db *db, struct pr_db_stats *st);

#endif
