/*
 * db.h - the PostgreSQL store: a pool of N libpq connections driven
 * without blocking by the event loop (PQconnectStart/PQconnectPoll,
 * PQsendQueryParams, PQconsumeInput on PQsocket events). Connections that
 * fail are re-opened with exponential back-off. After the first connection
 * is up, schema migrations are applied once (under an advisory lock, so
 * concurrent daemons apply them once) before the store reports ready.
 *
 * LISTEN/NOTIFY runs on one more connection of its own (not one of the
 * pool's N), opened on the first pr_db_listen and re-opened like the others
 * when it fails; it issues LISTEN for every registered channel after each
 * (re)connect.
 */
#ifndef PR_DB_H
#define PR_DB_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

struct pr_db;

struct pr_db_opts {
	const char *name; /* what its log lines open with; NULL: "store" */
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
 * or the queue is full (cb is not called). A statement text seen twice on
 * a session is prepared there and from then on only executed, so a
 * static SQL string costs the server no parse and plan per call. */
int pr_db_query(struct pr_db *db, const char *sql, int nparams,
		const char *const *params, pr_db_cb cb, void *arg);

/* pr_db_query of sql; when its result has no row (and no error), of
 * sql_else with the same parameters (kept until then), whose result cb
 * gets: for a change that is one cheap statement in the common case and
 * a fuller one otherwise (the order flow's, doc/design.md §5). cb is
 * called once, with the last statement's result. */
int pr_db_query_else(struct pr_db *db, const char *sql, const char *sql_else,
		     int nparams, const char *const *params, pr_db_cb cb,
		     void *arg);

/* pr_db_query for a statement known to run long (a reconciliation's
 * match over a million rows): timeout_ms replaces database.query_timeout_ms
 * for it (0: the default). */
int pr_db_query_timeout(struct pr_db *db, const char *sql, int nparams,
			const char *const *params, int timeout_ms, pr_db_cb cb,
			void *arg);

/* pr_db_query_timeout for a background job's statement (completion
 * checks, the outbox, channel health, reconciliation, usage flushes):
 * queued behind every request's statement, and run on at most
 * pool_size - max(1, pool_size / 4) connections at once (at least one),
 * so that a burst of background work never makes a request wait for a
 * connection it holds. */
int pr_db_query_bg(struct pr_db *db, const char *sql, int nparams,
		   const char *const *params, int timeout_ms, pr_db_cb cb,
		   void *arg);

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

/* Called with a notification (channel, payload, the server process id of
 * the session that sent it), or with channel and payload NULL and
 * backend_pid 0 once each time the LISTEN connection is (re-)established,
 * the first time included: notifications sent before may have been missed,
 * so re-read whatever they announce. The strings are only valid during the
 * call. */
typedef void (*pr_db_notify_cb)(const char *channel, const char *payload,
				int backend_pid, void *arg);

/* Registers cb for notifications on `channel` (a name of 1 to 63 bytes,
 * case-sensitive: it is quoted as an identifier) and starts the LISTEN
 * connection if it is not running. Registering a channel again replaces
 * its callback. Never calls cb from here. Returns 0, -EINVAL (bad
 * arguments or name), -ENOMEM, or -EAGAIN when the store is closing. */
int pr_db_listen(struct pr_db *db, const char *channel, pr_db_notify_cb cb,
		 void *arg);

/* 1 when the LISTEN connection is up and every registered LISTEN is done
 * on it: a notification sent from now on will be delivered. 0 while it
 * is down or (re)connecting, when what is sent may be lost. */
int pr_db_listening(const struct pr_db *db);
/* Only in a pr_db_cb of pr_db_query: how long the statement whose result
 * it is waited for a pool connection (queued until sent) and how long it
 * then took on it (sent until its result was complete), in
 * microseconds. */
void pr_db_last_times(const struct pr_db *db, int64_t *wait_us,
		      int64_t *run_us);

/* 1 when backend_pid is the server process of one of this store's own
 * sessions (pool or LISTEN connection): a notification from it was sent by
 * this process. */
int pr_db_own_backend(const struct pr_db *db, int backend_pid);

/* Figures for /metrics and status. */
struct pr_db_stats {
	int pool_size;
	int connected;
	int busy;
	size_t queued;
	unsigned long reconnects;
	unsigned long queries;
	unsigned long errors;
	unsigned long prepares;	     /* statements prepared (per session) */
	unsigned long prepared_runs; /* executions of prepared statements */
	int schema_version;	     /* highest applied migration, -1 unknown */
	int listener_up; /* the LISTEN connection is up, LISTENs issued */
	unsigned long listener_reconnects;
	unsigned long notifications; /* delivered to callbacks */
};
void pr_db_get_stats(const struct pr_db *db, struct pr_db_stats *st);

#endif
