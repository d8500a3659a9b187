/*
 * daemon.h - the running daemon: one event loop, the current generation,
 * the store, the HTTP client, the two listeners, signals, reload and
 * shutdown. Requests are tracked here: each holds the generation it started
 * with until its answer is sent.
 */
#ifndef PR_DAEMON_H
#define PR_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "domain/chanstats.h"
#include "runtime/db.h"
#include "runtime/reads.h"
#include "runtime/generation.h"
#include "base/hist.h"
#include "base/perms.h"
#include "runtime/httpc.h"
#include "runtime/server.h"

/* The NOTIFY channel announcing routing-policy changes (channels,
 * whitelist, rules) to every instance on the database: whoever changes the
 * policy runs `SELECT pg_notify(PR_POLICY_NOTIFY_CHANNEL, payload)` in the
 * changing transaction, and every other instance reloads. */
#define PR_POLICY_NOTIFY_CHANNEL "payroute_policy"

/* The shortest time between two reloads caused by notifications. */
#define PR_NOTIFY_RELOAD_INTERVAL_MS 200

/* Called when a reload ends: ok, the active generation, and the reason for
 * a failure (NULL on success). */
typedef void (*pr_reload_cb)(int ok, uint64_t gen, const char *reason,
			     void *arg);

struct pr_reload_waiter {
	pr_reload_cb cb;
	void *arg;
	struct pr_reload_waiter *next;
};

struct pr_usage;
struct pr_outbox;
struct pr_completion;
struct pr_auth_cache;
struct pr_authcache;
struct pr_refunds;
struct pr_approvals;
struct pr_withdrawals;
struct pr_health;

/* What a request does, for the latency histogram
 * payroute_overhead_seconds{op=...}. */
enum pr_req_op {
	PR_REQ_PAYMENT = 0, /* POST /v1/payments */
	PR_REQ_REFUND,	    /* POST /v1/payments/{id}/refunds */
	PR_REQ_WITHDRAWAL,  /* POST /v1/withdrawals */
	PR_REQ_CALLBACK,    /* POST /notify/{channel} */
	PR_REQ_OTHER,
	PR_REQ_N_OPS
};

#define PR_SPARE_REQS 64 /* answered requests kept for reuse */

struct pr_daemon {
	struct event_base *base;
	char *config_path;
	struct pr_generation *gen; /* current; the daemon holds a reference */
	uint64_t last_gen_id;

	struct pr_db *db;
	struct pr_reads *reads; /* heavy reads: the replica or db */
	struct pr_usage *usage; /* daily limits (leases), success rates */
	int usage_flushing;	/* shutdown: leases being given back */
	int draining;	  /* TERM seen: /readyz fails, requests still served */
	int listening;	  /* LISTEN on PR_POLICY_NOTIFY_CHANNEL registered */
	int bootstrapped; /* pr_operators_bootstrap ran (admin/operators.c) */
	/* Reloads asked for by notifications start at most once per
	 * PR_NOTIFY_RELOAD_INTERVAL_MS; those arriving sooner are folded into
	 * one reload at the end of the interval. */
	struct event *ev_notify;
	int64_t notify_last_ms; /* monotonic start of the last such reload */
	unsigned long notify_folded; /* notifications waiting for ev_notify */
	int notify_last_pid;
	unsigned long notifications;
	struct pr_httpc *httpc;
	struct pr_outbox *outbox; /* merchant notifications (outbox.c) */
	struct pr_completion *completion; /* order completion (completion.c) */
	struct pr_recon *recon;		  /* daily bills (recon.c) */
	struct pr_auth_cache *auth_cache; /* merchants by API key hash */
	struct pr_authcache *op_cache;	  /* operators' verified tokens */
	struct pr_withdrawals *withdrawals; /* pending re-routing */
	struct pr_refunds *refunds;	    /* overdue gauge (refunds.c) */
	struct pr_approvals *approvals;	    /* pending gauge (approvals.c) */
	struct pr_chanstats *chanstats;	    /* each channel's figures */
	/* success-rate estimates and circuit breakers (orders/chanhealth.h) */
	struct pr_health *health;
	struct pr_listener merchant;
	struct pr_listener admin;
	long nofile;	 /* RLIMIT_NOFILE, raised at start */
	long fd_reserve; /* descriptors kept out of the listeners' caps */
	/* 1 once a generation built from the store's routing policy is
	 * active: before that, requests that would route get 503 not_ready
	 * and /readyz answers 503 (a policy carried over while the store is
	 * down later still routes). */
	int routable;
	char *console_dir;

	struct event *ev_hup, *ev_term, *ev_int, *ev_stop_timer;
	struct event *ev_drain_timer; /* the end of server.drain_ms */
	int stopping;
	int exit_code;

	/* reload state: one reload at a time, later requests coalesce */
	int reload_running;
	int reload_pending;
	/* why the queued requests asked ("; "-joined, each once), and how
	 * many more did not fit: the queued reload's log line says it all */
	char pending_why[384];
	unsigned pending_more;
	struct pr_generation *reload_gen; /* being built */
	struct pr_reload_waiter *waiters; /* of the running reload */
	struct pr_reload_waiter *pending_waiters;
	uint64_t reload_token; /* guards async steps of a reload */

	size_t inflight;
	int64_t started_ms;
	unsigned long reloads_ok, reloads_failed;
	unsigned long requests_total;
	unsigned long requests_on_old_gen;
	/* The time payroute adds to each request: its time here minus the
	 * time spent waiting for channels (flow.c counts it), by op. */
	struct pr_hist overhead[PR_REQ_N_OPS];
	/* Its parts in the store (flow.c counts them): its statements'
	 * wait for a pool connection, and their time on one (commits). */
	struct pr_hist store_wait[PR_REQ_N_OPS];
	struct pr_hist store_run[PR_REQ_N_OPS];
	/* and the rest: the overhead minus both (the loop's own work and
	 * the time ready work waited for the loop or a core) */
	struct pr_hist own[PR_REQ_N_OPS];
	/* Answered requests kept for the next ones: a struct pr_request is
	 * past malloc's small sizes, and allocating one per request made
	 * glibc consolidate its heap (perf under bench_explain.sh). */
	struct pr_request *spare_reqs[PR_SPARE_REQS];
	size_t n_spare_reqs;
};

/* One HTTP request in flight. */
struct pr_request {
	struct pr_daemon *d;
	struct evhttp_request *req;
	struct pr_generation *gen; /* a reference, dropped at the answer */
	const char *listener;
	char path[1024];
	int64_t started_ms;
	int64_t started_us;    /* monotonic */
	int64_t wait_us;       /* spent waiting for channels */
	int64_t store_wait_us; /* its statements waiting for a connection */
	int64_t store_run_us;  /* its statements on their connection */
	enum pr_req_op op;
	struct pr_read_src read_src; /* said in the answer's headers */
	/* the authenticated operator of an admin request (admin/operators.c;
	 * via PR_VIA_NONE before, and on every other request) */
	struct pr_principal who;
};

/* Sets the daemon up from an already loaded config (ownership taken):
 * first generation, listeners, store, HTTP client, signals. Returns 0 or a
 * negative errno with err filled. */
int pr_daemon_start(struct pr_daemon *d, const char *config_path,
		    struct pr_config *cfg, char *err, size_t errlen);

/* Runs the loop until shutdown; returns the exit code. */
int pr_daemon_run(struct pr_daemon *d);

/* Frees everything. */
void pr_daemon_free(struct pr_daemon *d);

/* Starts a reload (or joins the one running / queues one after it); cb,
 * when given, is called once with the outcome. */
void pr_daemon_reload(struct pr_daemon *d, const char *why, pr_reload_cb cb,
		      void *arg);

/* Begins graceful shutdown: stop accepting, finish in-flight requests
 * (bounded by server.shutdown_timeout_ms), then leave the loop. */
void pr_daemon_stop(struct pr_daemon *d, const char *why);

/* Answers a request and releases it (its generation reference too). The
 * body reference is stolen. An error answer never carries the store's own
 * words: a store_unavailable message is replaced by a generic one (with
 * Retry-After), as is any message holding a SQLSTATE; the original is
 * logged. */
void pr_request_reply(struct pr_request *r, int status, json_t *body);
void pr_request_raw(struct pr_request *r, int status, const char *ctype,
		    const void *body, size_t len);

#endif
