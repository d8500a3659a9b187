/*
 * config.h - payrouted.conf: a JSON object read with jansson, checked
 * against a table of options (config.c), so that an unknown key or a wrong
 * type is an error naming the key path ("database.pool_size: expected an
 * integer, got a string"), and so that every option is listed (and
 * documented: tests/optscan.sh) in one place.
 */
#ifndef PR_CONFIG_H
#define PR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/netguard.h"

struct pr_listen {
	char host[64];
	int port;
};

/* Most entries in a schedule option (completion.schedule...). */
#define PR_SCHEDULE_MAX 32

struct pr_config {
	char *path; /* the file it was read from, or NULL */

	struct pr_listen merchant_listen; /* listen.merchant  "host:port" */
	struct pr_listen admin_listen;	  /* listen.admin     "host:port" */
	/* listen.{merchant,admin}_max_connections and _max_per_address:
	 * 0 (the default) means derived from RLIMIT_NOFILE (server.c,
	 * pr_listen_limits_derive). */
	int merchant_max_connections;
	int merchant_max_per_address;
	int admin_max_connections;
	int admin_max_per_address;
	char *admin_token;	/* admin.token or admin.token_file */
	int admin_legacy_token; /* admin.legacy_token (default off) */
	int admin_auth_cache_ms; /* a verified token is reused (30000) */
	/* admin.lockout_*: failed authentications (admin/operators.c) */
	int admin_lockout_failures;	    /* per operator (5; 0: never) */
	int admin_lockout_address_failures; /* per client address (20) */
	int admin_lockout_window_s;	    /* counted over (900) */
	int admin_lockout_duration_s;	    /* locked for (900) */
	/* approvals.*: four eyes on money (admin/approvals_api.c) */
	int approvals_threshold;     /* minor units of the order's currency
				      * from which a settlement or write-off
				      * waits for a second operator (-1,
				      * the default: never) */
	int approvals_policy_import; /* a policy import waits too (off) */
	int approvals_expire_s;	     /* a pending one expires (86400) */
	int admin_session_idle_s;	    /* a console session's idle
					     * time-out (900) */
	int admin_session_max_s; /* its absolute time-out (43200) */
	int admin_cookie_secure; /* the session cookie is Secure (off) */

	char *db_conninfo;	 /* database.conninfo */
	int db_pool_size;	 /* database.pool_size (0..64; 0: auto, see
				    pr_config_pool_size) */
	int db_reconnect_min_ms; /* database.reconnect_min_ms (default 250) */
	int db_reconnect_max_ms; /* database.reconnect_max_ms (default 10000) */
	int db_query_timeout_ms; /* database.query_timeout_ms (default 15000) */
	char *db_read_conninfo;	 /* database.read_conninfo (NULL: none) */
	int db_read_pool_size;	 /* database.read_pool_size (default 2) */
	int db_read_max_lag_ms;	 /* database.read_max_lag_ms (default 5000) */
	char *migrations_dir; /* database.migrations_dir (default: installed) */

	char *driver_dir; /* drivers.dir */

	int log_level;	  /* log.level: error|warn|info|debug (default info) */
	char *log_target; /* log.target: stderr|syslog|/path (default stderr) */

	char *secrets_key_file; /* secrets.key_file: 32 raw bytes or 64 hex */
	unsigned char secret_key[32];
	int has_secret_key;

	int http_timeout_ms; /* http_client.timeout_ms (default 15000) */
	int http_connect_timeout_ms; /* http_client.connect_timeout_ms (3000) */
	int http_verify_tls;	     /* http_client.verify_tls (default true) */
	char *http_ca_file;	     /* http_client.ca_file (optional) */
	int http_max_connections;    /* http_client.max_connections (64) */

	size_t max_body_bytes;	 /* server.max_body_bytes (default 1 MiB) */
	size_t max_header_bytes; /* server.max_header_bytes (32 KiB) */
	int header_timeout_ms;	 /* server.header_timeout_ms (10000) */
	int body_timeout_ms;	 /* server.body_timeout_ms (30000) */
	int idle_timeout_ms;	 /* server.idle_timeout_ms (60000) */
	int fd_reserve;		 /* server.fd_reserve (0: derived) */
	int shutdown_timeout_ms; /* server.shutdown_timeout_ms (10000) */
	int drain_ms;		 /* server.drain_ms (0) */
	char *pid_file;		 /* server.pid_file (optional) */
	char *public_url; /* server.public_url (default http://listen.merchant) */
	char *instance;	  /* server.instance (default host:pid) */

	int pay_default_expire_s;   /* payments.default_expire_seconds */
	int pay_max_expire_s;	    /* payments.max_expire_seconds */
	int merchant_auth_cache_ms; /* merchants.auth_cache_ms */

	char *completion_schedule;	   /* completion.schedule, as written */
	int completion_s[PR_SCHEDULE_MAX]; /* ... parsed, seconds */
	size_t n_completion_s;
	int completion_interval_ms; /* completion.interval_ms */
	int completion_batch;	    /* completion.batch */
	int completion_lease_s;	    /* completion.lease_seconds */

	char *notify_schedule; /* notify.schedule, as written */
	int notify_s[PR_SCHEDULE_MAX];
	size_t n_notify_s;
	int notify_interval_ms; /* notify.interval_ms */
	int notify_batch;	/* notify.batch */
	int notify_timeout_ms;	/* notify.timeout_ms */
	int notify_give_up_s;	/* notify.give_up_seconds */
	/* notify.allow_private, as written (the CIDRs joined by ","), and
	 * parsed: the non-public ranges notifications may reach */
	char *notify_allow_private;
	struct pr_cidr notify_allow[PR_NETGUARD_MAX_ALLOW];
	size_t n_notify_allow;

	int wd_pending_deadline_s; /* withdrawals.pending_deadline_seconds */
	int wd_retry_interval_ms;  /* withdrawals.retry_interval_ms */

	/* reconciliation.* (recon.c) */
	int recon_enabled;
	char *recon_bill_time; /* "HH:MM", checked */
	int recon_interval_ms;
	int recon_lease_s;
	int recon_retry_s;
	int recon_max_attempts;
	int recon_chunk_rows;
	int recon_max_bill_mb;
	char *recon_tmpdir;
	int recon_keep_days;
	int recon_fee_drift_pct;

	/* routing.success_*, breaker.* (orders/chanhealth.c) */
	int sr_half_life_s;
	int sr_min_outcomes;
	int brk_failures;
	int brk_window_s;
	int brk_cooldown_s;
	int brk_probe_interval_ms;
};

/* Parses a schedule, "10s,30s,1m,2h,1d": 1 to max positive durations of
 * at most 30 days, into seconds. Returns 0, or -EINVAL. */
int pr_schedule_parse(const char *text, int *out, size_t max, size_t *n);

enum pr_opt_type {
	PR_OPT_STRING,
	PR_OPT_INT,
	PR_OPT_BOOL,
	PR_OPT_LISTEN, /* "host:port" */
	PR_OPT_LEVEL,  /* a log level name */
	PR_OPT_LIST,   /* an array of strings (kept joined by ",") */
};

/* One known option: its dotted path, type, whether it needs a restart, and
 * a one-line description (printed by `payrouted --options`). */
struct pr_option {
	const char *path;
	enum pr_opt_type type;
	int restart_only;
	const char *help;
};

/* The table of every option, terminated by a row with path == NULL. */
const struct pr_option *pr_config_options(void);

/* Parses JSON text. Relative paths in the config are resolved against
 * base_dir (the config file's directory), or kept when base_dir is NULL.
 * Returns 0 and a new config in *out (free with pr_config_free), or a
 * negative errno with err naming the key path. Reads the admin token file and
 * the secrets key file when they are given. */
int pr_config_parse(const char *text, const char *base_dir,
		    struct pr_config **out, char *err, size_t errlen);

/* Reads and parses a file. Errors are prefixed with the file name. */
int pr_config_load(const char *path, struct pr_config **out, char *err,
		   size_t errlen);

void pr_config_free(struct pr_config *cfg);

/* Fills names[] (up to max) with the paths of the restart-only options that
 * differ between old and new; returns how many differ. */
size_t pr_config_restart_changes(const struct pr_config *old_cfg,
				 const struct pr_config *new_cfg,
				 const char **names, size_t max);

/* The store connections a process opens: database.pool_size, or when it
 * is 0 (the default) 4 per online CPU, at least 8 and at most 32: enough
 * statements in flight for PostgreSQL to flush several commits with one
 * WAL write (group commit), not so many that they fight over the CPUs. */
int pr_config_pool_size(const struct pr_config *cfg);

#endif
