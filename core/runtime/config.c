/*
 * config.c - payrouted.conf. The file is one JSON object of sections
 * ("database", "log", ...) holding options; every option the daemon knows is
 * one row of the table below (path, type, whether a reload may change it,
 * range, default, help), and nothing else is accepted: an unknown key, a
 * wrong type or a value out of range is an error naming the dotted key path.
 *
 * Parsing is three passes over that table: walk the JSON and pick out the
 * value of each option (unknown keys and wrong JSON types fail here), then
 * apply values and defaults into a fresh struct pr_config (ranges, listen
 * addresses, log levels, relative paths), then the checks that span options
 * (admin token, reconnect bounds) and the files the config points at (the
 * admin token file and the secrets key file are read here, at load time, so
 * that a reload with an unreadable key fails before anything is swapped).
 *
 * The table is also what `payrouted --options` prints and what
 * tests/integration/t_optscan.sh checks doc/payrouted.conf.5 against.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "runtime/config.h"
#include "base/names.h"
#include "runtime/log.h"

#ifndef PR_DRIVER_DIR
#define PR_DRIVER_DIR "/usr/local/lib/payroute/drivers"
#endif
#ifndef PR_MIGRATIONS_DIR
#define PR_MIGRATIONS_DIR "/usr/local/share/payroute/migrations"
#endif

#define MAX_CONFIG_BYTES (1024 * 1024)
#define MAX_TOKEN_FILE_BYTES 4096
#define MIN_TOKEN_LEN 16

/* Row flags. */
#define F_REQUIRED 0x1 /* an error when missing */
#define F_PATH 0x2     /* a file or directory, resolved against base_dir */
#define F_NOFIELD 0x4  /* no field of its own (handled in check_cross) */
#define F_SCHEDULE 0x8 /* a list of durations, parsed into *_s[] */

#define NO_FIELD ((size_t)-1)
#define FIELD(f) offsetof(struct pr_config, f)
#define FSIZE(f) sizeof(((struct pr_config *)0)->f)

/*
 * The table. X(path, type, restart_only, field offset, field size, min, max,
 * default integer, default string, flags, help). Integers take min..max;
 * strings and listen addresses take the default string (NULL: unset).
 * Keep it grouped by section, in the order of doc/payrouted.conf.5.
 */
#define OPTION_TABLE(X)                                                        \
	X("listen.merchant", PR_OPT_LISTEN, 1, FIELD(merchant_listen),         \
	  FSIZE(merchant_listen), 0, 0, 0, "127.0.0.1:8080", 0,                \
	  "merchant API and channel callbacks, \"host:port\"")                 \
	X("listen.admin", PR_OPT_LISTEN, 1, FIELD(admin_listen),               \
	  FSIZE(admin_listen), 0, 0, 0, "127.0.0.1:8081", 0,                   \
	  "admin API, console and metrics, \"host:port\"")                     \
	X("listen.merchant_max_connections", PR_OPT_INT, 0,                    \
	  FIELD(merchant_max_connections), FSIZE(merchant_max_connections), 0, \
	  1048576, 0, NULL, 0,                                                 \
	  "merchant listener: open connections (0: from RLIMIT_NOFILE)")       \
	X("listen.merchant_max_per_address", PR_OPT_INT, 0,                    \
	  FIELD(merchant_max_per_address), FSIZE(merchant_max_per_address), 0, \
	  1048576, 0, NULL, 0,                                                 \
	  "merchant listener: open connections from one address (0: 1/8th)")   \
	X("listen.admin_max_connections", PR_OPT_INT, 0,                       \
	  FIELD(admin_max_connections), FSIZE(admin_max_connections), 0,       \
	  1048576, 0, NULL, 0,                                                 \
	  "admin listener: open connections (0: from RLIMIT_NOFILE)")          \
	X("listen.admin_max_per_address", PR_OPT_INT, 0,                       \
	  FIELD(admin_max_per_address), FSIZE(admin_max_per_address), 0,       \
	  1048576, 0, NULL, 0,                                                 \
	  "admin listener: open connections from one address (0: no cap)")     \
	X("admin.token", PR_OPT_STRING, 0, FIELD(admin_token),                 \
	  FSIZE(admin_token), 0, 0, 0, NULL, 0,                                \
	  "admin API bearer token (>= 16 characters)")                         \
	X("admin.token_file", PR_OPT_STRING, 0, NO_FIELD, 0, 0, 0, 0, NULL,    \
	  F_PATH | F_NOFIELD, "file holding the admin API bearer token")       \
	X("admin.legacy_token", PR_OPT_BOOL, 0, FIELD(admin_legacy_token),     \
	  FSIZE(admin_legacy_token), 0, 1, 0, NULL, 0,                         \
	  "admin.token also works as the old shared token (warned)")           \
	X("admin.auth_cache_ms", PR_OPT_INT, 0, FIELD(admin_auth_cache_ms),    \
	  FSIZE(admin_auth_cache_ms), 0, 60000, 30000, NULL, 0,                \
	  "how long a verified operator token is reused (0: never)")           \
	X("admin.lockout_failures", PR_OPT_INT, 0,                             \
	  FIELD(admin_lockout_failures), FSIZE(admin_lockout_failures), 0,     \
	  1000, 5, NULL, 0,                                                    \
	  "failed authentications that lock an operator (0: never)")           \
	X("admin.lockout_address_failures", PR_OPT_INT, 0,                     \
	  FIELD(admin_lockout_address_failures),                               \
	  FSIZE(admin_lockout_address_failures), 0, 100000, 20, NULL, 0,       \
	  "failed authentications that lock a client address (0: never)")      \
	X("admin.lockout_window_s", PR_OPT_INT, 0,                             \
	  FIELD(admin_lockout_window_s), FSIZE(admin_lockout_window_s), 1,     \
	  86400, 900, NULL, 0, "the window the failures are counted in")       \
	X("admin.lockout_duration_s", PR_OPT_INT, 0,                           \
	  FIELD(admin_lockout_duration_s), FSIZE(admin_lockout_duration_s), 1, \
	  86400, 900, NULL, 0, "how long a lockout lasts")                     \
	X("approvals.threshold", PR_OPT_INT, 0, FIELD(approvals_threshold),    \
	  FSIZE(approvals_threshold), -1, INT_MAX, -1, NULL, 0,                \
	  "settlements and write-offs from this amount (minor units) need a "  \
	  "second operator (-1: never)")                                       \
	X("approvals.policy_import", PR_OPT_BOOL, 0,                           \
	  FIELD(approvals_policy_import), FSIZE(approvals_policy_import), 0,   \
	  1, 0, NULL, 0, "a policy import needs a second operator")            \
	X("approvals.expire_s", PR_OPT_INT, 0, FIELD(approvals_expire_s),      \
	  FSIZE(approvals_expire_s), 1, 2592000, 86400, NULL, 0,               \
	  "a pending approval expires after this many seconds")                \
	X("admin.session_idle_s", PR_OPT_INT, 0, FIELD(admin_session_idle_s), \
	  FSIZE(admin_session_idle_s), 1, 86400, 900, NULL, 0,                 \
	  "a console session ends after this long unused")                     \
	X("admin.session_max_s", PR_OPT_INT, 0, FIELD(admin_session_max_s),   \
	  FSIZE(admin_session_max_s), 1, 604800, 43200, NULL, 0,               \
	  "a console session ends this long after sign-in")                    \
	X("admin.cookie_secure", PR_OPT_BOOL, 0, FIELD(admin_cookie_secure),   \
	  FSIZE(admin_cookie_secure), 0, 1, 0, NULL, 0,                        \
	  "the console's session cookie is Secure (HTTPS only)")               \
	X("database.conninfo", PR_OPT_STRING, 1, FIELD(db_conninfo),           \
	  FSIZE(db_conninfo), 0, 0, 0, NULL, F_REQUIRED,                       \
	  "libpq connection string")                                           \
	X("database.pool_size", PR_OPT_INT, 1, FIELD(db_pool_size),            \
	  FSIZE(db_pool_size), 0, 64, 0, NULL, 0,                              \
	  "PostgreSQL connections per process (0: 4 per CPU, 8 to 32)")        \
	X("database.reconnect_min_ms", PR_OPT_INT, 1,                          \
	  FIELD(db_reconnect_min_ms), FSIZE(db_reconnect_min_ms), 10, 600000,  \
	  250, NULL, 0, "first delay before reconnecting")                     \
	X("database.reconnect_max_ms", PR_OPT_INT, 1,                          \
	  FIELD(db_reconnect_max_ms), FSIZE(db_reconnect_max_ms), 10, 3600000, \
	  10000, NULL, 0, "longest delay between reconnects")                  \
	X("database.query_timeout_ms", PR_OPT_INT, 1,                          \
	  FIELD(db_query_timeout_ms), FSIZE(db_query_timeout_ms), 100,         \
	  3600000, 15000, NULL, 0, "statement timeout")                        \
	X("database.read_conninfo", PR_OPT_STRING, 1, FIELD(db_read_conninfo), \
	  FSIZE(db_read_conninfo), 0, 0, 0, NULL, 0,                           \
	  "libpq connection string of a read replica (unset: none)")           \
	X("database.read_pool_size", PR_OPT_INT, 1, FIELD(db_read_pool_size),  \
	  FSIZE(db_read_pool_size), 1, 64, 2, NULL, 0,                         \
	  "connections to the read replica per process")                       \
	X("database.read_max_lag_ms", PR_OPT_INT, 1,                           \
	  FIELD(db_read_max_lag_ms), FSIZE(db_read_max_lag_ms), 100, 3600000,  \
	  5000, NULL, 0,                                                       \
	  "reads go to the primary while the replica may be this far behind")  \
	X("database.migrations_dir", PR_OPT_STRING, 1, FIELD(migrations_dir),  \
	  FSIZE(migrations_dir), 0, 0, 0, PR_MIGRATIONS_DIR, F_PATH,           \
	  "directory of numbered SQL migrations")                              \
	X("drivers.dir", PR_OPT_STRING, 0, FIELD(driver_dir),                  \
	  FSIZE(driver_dir), 0, 0, 0, PR_DRIVER_DIR, F_PATH,                   \
	  "directory the driver modules are loaded from")                      \
	X("log.level", PR_OPT_LEVEL, 0, FIELD(log_level), FSIZE(log_level), 0, \
	  0, 0, "info", 0, "error, warn, info or debug")                       \
	X("log.target", PR_OPT_STRING, 0, FIELD(log_target),                   \
	  FSIZE(log_target), 0, 0, 0, "stderr", 0,                             \
	  "stderr, syslog or a file path")                                     \
	X("secrets.key_file", PR_OPT_STRING, 0, FIELD(secrets_key_file),       \
	  FSIZE(secrets_key_file), 0, 0, 0, NULL, F_PATH,                      \
	  "at-rest encryption key: 32 raw bytes or 64 hex characters")         \
	X("http_client.timeout_ms", PR_OPT_INT, 1, FIELD(http_timeout_ms),     \
	  FSIZE(http_timeout_ms), 100, 600000, 15000, NULL, 0,                 \
	  "whole channel request timeout")                                     \
	X("http_client.connect_timeout_ms", PR_OPT_INT, 1,                     \
	  FIELD(http_connect_timeout_ms), FSIZE(http_connect_timeout_ms), 100, \
	  600000, 3000, NULL, 0, "channel connect timeout")                    \
	X("http_client.verify_tls", PR_OPT_BOOL, 1, FIELD(http_verify_tls),    \
	  FSIZE(http_verify_tls), 0, 1, 1, NULL, 0,                            \
	  "verify channel TLS certificates")                                   \
	X("http_client.ca_file", PR_OPT_STRING, 1, FIELD(http_ca_file),        \
	  FSIZE(http_ca_file), 0, 0, 0, NULL, F_PATH,                          \
	  "CA bundle for channel TLS (default: system)")                       \
	X("http_client.max_connections", PR_OPT_INT, 1,                        \
	  FIELD(http_max_connections), FSIZE(http_max_connections), 1, 4096,   \
	  64, NULL, 0, "concurrent channel connections")                       \
	X("server.max_body_bytes", PR_OPT_INT, 0, FIELD(max_body_bytes),       \
	  FSIZE(max_body_bytes), 1024, 67108864, 1048576, NULL, 0,             \
	  "largest request body accepted")                                     \
	X("server.max_header_bytes", PR_OPT_INT, 0, FIELD(max_header_bytes),   \
	  FSIZE(max_header_bytes), 1024, 1048576, 32768, NULL, 0,              \
	  "largest request head (request line and headers) accepted")          \
	X("server.header_timeout_ms", PR_OPT_INT, 0, FIELD(header_timeout_ms), \
	  FSIZE(header_timeout_ms), 100, 600000, 10000, NULL, 0,               \
	  "deadline for a whole request head")                                 \
	X("server.body_timeout_ms", PR_OPT_INT, 0, FIELD(body_timeout_ms),     \
	  FSIZE(body_timeout_ms), 100, 3600000, 30000, NULL, 0,                \
	  "deadline for a whole request body")                                 \
	X("server.idle_timeout_ms", PR_OPT_INT, 0, FIELD(idle_timeout_ms),     \
	  FSIZE(idle_timeout_ms), 100, 3600000, 60000, NULL, 0,                \
	  "a keep-alive connection idle this long is closed")                  \
	X("server.fd_reserve", PR_OPT_INT, 0, FIELD(fd_reserve),               \
	  FSIZE(fd_reserve), 0, 1048576, 0, NULL, 0,                           \
	  "descriptors kept out of the connection caps (0: derived)")          \
	X("server.shutdown_timeout_ms", PR_OPT_INT, 0,                         \
	  FIELD(shutdown_timeout_ms), FSIZE(shutdown_timeout_ms), 0, 3600000,  \
	  10000, NULL, 0, "grace period for in-flight requests on TERM")       \
	X("server.drain_ms", PR_OPT_INT, 0, FIELD(drain_ms), FSIZE(drain_ms),  \
	  0, 600000, 0, NULL, 0,                                               \
	  "on TERM, not ready but serving this long before closing")           \
	X("server.pid_file", PR_OPT_STRING, 1, FIELD(pid_file),                \
	  FSIZE(pid_file), 0, 0, 0, NULL, F_PATH,                              \
	  "file the daemon's pid is written to")                               \
	X("server.public_url", PR_OPT_STRING, 0, FIELD(public_url),            \
	  FSIZE(public_url), 0, 0, 0, NULL, 0,                                 \
	  "base URL channels reach the merchant listener at (callbacks)")      \
	X("server.instance", PR_OPT_STRING, 0, FIELD(instance),                \
	  FSIZE(instance), 0, 0, 0, NULL, 0,                                   \
	  "this instance's name in order history (default host:pid)")          \
	X("payments.default_expire_seconds", PR_OPT_INT, 0,                    \
	  FIELD(pay_default_expire_s), FSIZE(pay_default_expire_s), 60,        \
	  604800, 1800, NULL, 0,                                               \
	  "payment expiry when the merchant gives none")                       \
	X("payments.max_expire_seconds", PR_OPT_INT, 0,                        \
	  FIELD(pay_max_expire_s), FSIZE(pay_max_expire_s), 60, 2592000,       \
	  86400, NULL, 0, "longest expiry a merchant may ask for")             \
	X("merchants.auth_cache_ms", PR_OPT_INT, 0,                            \
	  FIELD(merchant_auth_cache_ms), FSIZE(merchant_auth_cache_ms), 0,     \
	  600000, 5000, NULL, 0,                                               \
	  "how long a merchant's API key check is reused (0: never)")          \
	X("completion.schedule", PR_OPT_STRING, 0, FIELD(completion_schedule), \
	  FSIZE(completion_schedule), 0, 0, 0, "10s,30s,1m,2m,5m,10m,30m,1h",  \
	  F_SCHEDULE, "delays between channel queries of an unsettled order")  \
	X("completion.interval_ms", PR_OPT_INT, 0,                             \
	  FIELD(completion_interval_ms), FSIZE(completion_interval_ms), 50,    \
	  60000, 1000, NULL, 0, "how often due orders are claimed")            \
	X("completion.batch", PR_OPT_INT, 0, FIELD(completion_batch),          \
	  FSIZE(completion_batch), 1, 1000, 32, NULL, 0,                       \
	  "orders claimed at a time")                                          \
	X("completion.lease_seconds", PR_OPT_INT, 0,                           \
	  FIELD(completion_lease_s), FSIZE(completion_lease_s), 5, 3600, 120,  \
	  NULL, 0, "a claimed order is this instance's for this long")         \
	X("notify.schedule", PR_OPT_STRING, 0, FIELD(notify_schedule),         \
	  FSIZE(notify_schedule), 0, 0, 0,                                     \
	  "5s,15s,30s,1m,2m,5m,10m,30m,1h,2h,6h", F_SCHEDULE,                  \
	  "delays between merchant notification attempts (last repeats)")      \
	X("notify.interval_ms", PR_OPT_INT, 0, FIELD(notify_interval_ms),      \
	  FSIZE(notify_interval_ms), 50, 60000, 1000, NULL, 0,                 \
	  "how often due notifications are claimed")                           \
	X("notify.batch", PR_OPT_INT, 0, FIELD(notify_batch),                  \
	  FSIZE(notify_batch), 1, 1000, 32, NULL, 0,                           \
	  "notifications claimed at a time")                                   \
	X("notify.timeout_ms", PR_OPT_INT, 0, FIELD(notify_timeout_ms),        \
	  FSIZE(notify_timeout_ms), 100, 120000, 10000, NULL, 0,               \
	  "timeout of one delivery to a merchant")                             \
	X("notify.give_up_seconds", PR_OPT_INT, 0, FIELD(notify_give_up_s),    \
	  FSIZE(notify_give_up_s), 60, 2592000, 259200, NULL, 0,               \
	  "an undelivered notification is abandoned after this")               \
	X("notify.allow_private", PR_OPT_LIST, 0, FIELD(notify_allow_private), \
	  FSIZE(notify_allow_private), 0, 0, 0, NULL, 0,                       \
	  "non-public CIDRs notifications may reach (default: none)")          \
	X("withdrawals.pending_deadline_seconds", PR_OPT_INT, 0,               \
	  FIELD(wd_pending_deadline_s), FSIZE(wd_pending_deadline_s), 60,      \
	  2592000, 86400, NULL, 0,                                             \
	  "a withdrawal waits this long for a usable channel, then fails")     \
	X("withdrawals.retry_interval_ms", PR_OPT_INT, 0,                      \
	  FIELD(wd_retry_interval_ms), FSIZE(wd_retry_interval_ms), 100,       \
	  600000, 5000, NULL, 0,                                               \
	  "how often withdrawals waiting for a channel are routed again")      \
	X("reconciliation.enabled", PR_OPT_BOOL, 0, FIELD(recon_enabled),      \
	  FSIZE(recon_enabled), 0, 1, 1, NULL, 0,                              \
	  "fetch and match the channels' daily bills")                         \
	X("reconciliation.bill_time", PR_OPT_STRING, 0,                        \
	  FIELD(recon_bill_time), FSIZE(recon_bill_time), 0, 0, 0, "10:00", 0, \
	  "HH:MM in each channel's time zone after which yesterday's bill "    \
	  "is fetched")                                                        \
	X("reconciliation.interval_ms", PR_OPT_INT, 0,                         \
	  FIELD(recon_interval_ms), FSIZE(recon_interval_ms), 100, 3600000,    \
	  60000, NULL, 0, "how often due reconciliation runs are looked for")  \
	X("reconciliation.lease_seconds", PR_OPT_INT, 0, FIELD(recon_lease_s), \
	  FSIZE(recon_lease_s), 10, 86400, 300, NULL, 0,                       \
	  "a claimed run is this instance's for this long (renewed)")          \
	X("reconciliation.retry_seconds", PR_OPT_INT, 0, FIELD(recon_retry_s), \
	  FSIZE(recon_retry_s), 1, 86400, 600, NULL, 0,                        \
	  "a failed run is tried again after this long")                       \
	X("reconciliation.max_attempts", PR_OPT_INT, 0,                        \
	  FIELD(recon_max_attempts), FSIZE(recon_max_attempts), 1, 1000, 6,    \
	  NULL, 0, "a run failing this often waits for an operator")           \
	X("reconciliation.chunk_rows", PR_OPT_INT, 0, FIELD(recon_chunk_rows), \
	  FSIZE(recon_chunk_rows), 1, 100000, 5000, NULL, 0,                   \
	  "bill rows read and stored per step of the loop")                    \
	X("reconciliation.max_bill_mb", PR_OPT_INT, 0,                         \
	  FIELD(recon_max_bill_mb), FSIZE(recon_max_bill_mb), 1, 1048576,      \
	  4096, NULL, 0, "largest bill file downloaded, MiB")                  \
	X("reconciliation.tmpdir", PR_OPT_STRING, 0, FIELD(recon_tmpdir),      \
	  FSIZE(recon_tmpdir), 0, 0, 0, "/tmp", F_PATH,                        \
	  "directory of the downloaded bills (unlinked files)")                \
	X("reconciliation.keep_days", PR_OPT_INT, 0, FIELD(recon_keep_days),   \
	  FSIZE(recon_keep_days), 1, 3650, 62, NULL, 0,                        \
	  "days a bill's rows are kept (runs and differences stay)")           \
	X("reconciliation.fee_drift_pct", PR_OPT_INT, 0,                       \
	  FIELD(recon_fee_drift_pct), FSIZE(recon_fee_drift_pct), 0, 1000, 5,  \
	  NULL, 0,                                                             \
	  "fees billed this many percent off the fee model are flagged")       \
	X("routing.success_half_life_seconds", PR_OPT_INT, 0,                  \
	  FIELD(sr_half_life_s), FSIZE(sr_half_life_s), 10, 604800, 600, NULL, \
	  0, "an order outcome this old weighs half in success rates")         \
	X("routing.success_min_outcomes", PR_OPT_INT, 0,                       \
	  FIELD(sr_min_outcomes), FSIZE(sr_min_outcomes), 0, 100000, 20, NULL, \
	  0, "decayed outcomes a segment needs for its own estimate")          \
	X("breaker.failures", PR_OPT_INT, 0, FIELD(brk_failures),              \
	  FSIZE(brk_failures), 1, 64, 5, NULL, 0,                              \
	  "channel-side failures that open a channel's breaker")               \
	X("breaker.window_seconds", PR_OPT_INT, 0, FIELD(brk_window_s),        \
	  FSIZE(brk_window_s), 1, 86400, 60, NULL, 0, "within this long")      \
	X("breaker.cooldown_seconds", PR_OPT_INT, 0, FIELD(brk_cooldown_s),    \
	  FSIZE(brk_cooldown_s), 1, 86400, 30, NULL, 0,                        \
	  "an open breaker stays open this long, then half opens")             \
	X("breaker.probe_interval_ms", PR_OPT_INT, 0,                          \
	  FIELD(brk_probe_interval_ms), FSIZE(brk_probe_interval_ms), 100,     \
	  3600000, 5000, NULL, 0,                                              \
	  "a half-open channel gets one probe this often")

/* What the parser needs beyond the public row. */
struct opt_spec {
	size_t off;
	size_t size;
	long long min, max, def_int;
	const char *def_str;
	unsigned flags;
};

#define X_PUBLIC(path, type, restart, off, size, min, max, di, ds, fl, help)   \
	{ path, type, restart, help },
#define X_SPEC(path, type, restart, off, size, min, max, di, ds, fl, help)     \
	{ off, size, min, max, di, ds, fl },

static const struct pr_option options[] = { OPTION_TABLE(X_PUBLIC){
	NULL, PR_OPT_STRING, 0, NULL } };

static const struct opt_spec specs[] = { OPTION_TABLE(X_SPEC) };

#define N_OPTIONS (sizeof(specs) / sizeof(specs[0]))

_Static_assert(sizeof(options) / sizeof(options[0]) == N_OPTIONS + 1,
	       "option table and spec table differ");

static const char *const sections[] = {
	"listen",      "admin",		 "database",	"drivers",
	"log",	       "secrets",	 "http_client", "server",
	"payments",    "merchants",	 "completion",	"notify",
	"withdrawals", "reconciliation", "routing",	"breaker",
	"approvals"
};

#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

const struct pr_option *pr_config_options(void)
{
	return options;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	PAYROUTE_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *json_type_phrase(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

static const char *opt_type_phrase(enum pr_opt_type t)
{
	switch (t) {
	case PR_OPT_INT:
		return "an integer";
	case PR_OPT_BOOL:
		return "a boolean";
	case PR_OPT_LISTEN:
		return "a string \"host:port\"";
	case PR_OPT_LIST:
		return "an array of strings";
	case PR_OPT_LEVEL:
	case PR_OPT_STRING:
		break;
	}
	return "a string";
}

static int json_type_ok(enum pr_opt_type t, const json_t *v)
{
	switch (t) {
	case PR_OPT_INT:
		return json_is_integer(v);
	case PR_OPT_BOOL:
		return json_is_boolean(v);
	case PR_OPT_LIST:
		return json_is_array(v);
	case PR_OPT_STRING:
	case PR_OPT_LISTEN:
	case PR_OPT_LEVEL:
		break;
	}
	return json_is_string(v);
}

/* ---------------------------------------------------------------- names */

static int find_option(const char *path)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].path, path) == 0)
			return (int)i;
	return -1;
}

static int is_section(const char *name)
{
	for (size_t i = 0; i < N_SECTIONS; i++)
		if (strcmp(sections[i], name) == 0)
			return 1;
	return 0;
}

/* The closest known name within distance 2 (sections too when at the
 * root), or NULL. */
static const char *suggest(const char *name, int at_root)
{
	struct pr_suggest s;

	pr_suggest_init(&s, name, 2);
	for (size_t i = 0; i < N_OPTIONS; i++)
		pr_suggest_offer(&s, options[i].path);
	for (size_t i = 0; at_root && i < N_SECTIONS; i++)
		pr_suggest_offer(&s, sections[i]);
	return s.best;
}

static void unknown_option(const char *path, int at_root, char *err,
			   size_t errlen)
{
	const char *s = suggest(path, at_root);
	const char *dot;

	if (at_root && find_option(path) >= 0 &&
	    (dot = strchr(path, '.')) != NULL) {
		set_err(err, errlen,
			"unknown option '%s' at the top level; options are "
			"nested: \"%.*s\": { \"%s\": ... }",
			path, (int)(dot - path), path, dot + 1);
		return;
	}
	if (s)
		set_err(err, errlen, "unknown option '%s'; did you mean '%s'?",
			path, s);
	else
		set_err(err, errlen, "unknown option '%s'", path);
}

/* ---------------------------------------------------------------- values */

/* Parses "host:port": an IPv4 literal, "localhost", or "[v6]" with the
 * brackets removed in l->host. Returns 0 or -EINVAL. */
static int parse_listen(const char *s, struct pr_listen *l)
{
	const char *colon, *host;
	size_t host_len;
	char *end;
	long port;
	unsigned char buf[16];
	char tmp[64];

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		host = s;
		host_len = (size_t)(colon - s);
	}
	if (host_len == 0 || host_len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, host, host_len);
	tmp[host_len] = '\0';
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, tmp, buf) != 1)
			return -EINVAL;
	} else if (strcmp(tmp, "localhost") != 0 &&
		   inet_pton(AF_INET, tmp, buf) != 1) {
		return -EINVAL;
	}
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || port < 1 || port > 65535)
		return -EINVAL;
	_Static_assert(sizeof(tmp) <= sizeof(l->host), "listen host size");
	memcpy(l->host, tmp, host_len + 1);
	l->port = (int)port;
	return 0;
}

/* A relative path joined to base_dir (a leading "./" dropped); a copy of
 * the path otherwise. NULL when out of memory. */
static char *resolve_path(const char *path, const char *base_dir)
{
	char *out;
	size_t n;

	if (path[0] == '/' || !base_dir || !base_dir[0])
		return strdup(path);
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	n = strlen(base_dir) + 1 + strlen(path) + 1;
	out = malloc(n);
	if (!out)
		return NULL;
	if (path[0] == '\0' || (path[0] == '.' && path[1] == '\0'))
		snprintf(out, n, "%s", base_dir);
	else
		snprintf(out, n, "%s%s%s", base_dir,
			 base_dir[strlen(base_dir) - 1] == '/' ? "" : "/",
			 path);
	return out;
}

/* Reads at most max bytes of a file into a new NUL-terminated buffer.
 * -EFBIG when the file is larger. */
static int read_small_file(const char *path, size_t max, char **out,
			   size_t *out_len)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 2);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (len < max + 1) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		rc = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes exactly 2*len hex characters. */
static int hex_decode(const char *s, unsigned char *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int load_secret_key(struct pr_config *cfg, char *err, size_t errlen)
{
	const char *path = cfg->secrets_key_file;
	char *buf = NULL;
	size_t len = 0, hex_len;
	int rc;

	rc = read_small_file(path, 128, &buf, &len);
	if (rc == -EFBIG) {
		set_err(err, errlen,
			"secrets.key_file: %s: expected 32 raw bytes or 64 hex "
			"characters, got a larger file",
			path);
		return -EINVAL;
	}
	if (rc < 0) {
		set_err(err, errlen, "secrets.key_file: cannot read %s: %s",
			path, strerror(-rc));
		return rc;
	}
	if (len == sizeof(cfg->secret_key)) {
		memcpy(cfg->secret_key, buf, sizeof(cfg->secret_key));
		goto ok;
	}
	hex_len = len;
	if (hex_len > 0 && buf[hex_len - 1] == '\n')
		hex_len--;
	if (hex_len > 0 && buf[hex_len - 1] == '\r')
		hex_len--;
	if (hex_len == 2 * sizeof(cfg->secret_key) &&
	    hex_decode(buf, cfg->secret_key, sizeof(cfg->secret_key)) == 0)
		goto ok;
	set_err(err, errlen,
		"secrets.key_file: %s: expected 32 raw bytes or 64 hex "
		"characters, got %zu bytes%s",
		path, len,
		hex_len == 2 * sizeof(cfg->secret_key) ? " that are not hex" :
							 "");
	explicit_bzero(buf, len);
	free(buf);
	return -EINVAL;
ok:
	cfg->has_secret_key = 1;
	explicit_bzero(buf, len);
	free(buf);
	return 0;
}

static int check_token(const char *key, const char *file, const char *tok,
		       char *err, size_t errlen)
{
	size_t len = strlen(tok);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tok[i];

		if (c < 0x21 || c == 0x7f) {
			set_err(err, errlen,
				"%s%s%s: the token must not contain spaces or "
				"control characters",
				key, file ? ": " : "", file ? file : "");
			return -EINVAL;
		}
	}
	if (len < MIN_TOKEN_LEN) {
		set_err(err, errlen,
			"%s%s%s: the token must be at least %d characters, "
			"got %zu",
			key, file ? ": " : "", file ? file : "", MIN_TOKEN_LEN,
			len);
		return -EINVAL;
	}
	return 0;
}

static int load_token_file(struct pr_config *cfg, const char *path, char *err,
			   size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = read_small_file(path, MAX_TOKEN_FILE_BYTES, &buf, &len);
	if (rc == -EFBIG) {
		set_err(err, errlen,
			"admin.token_file: %s: larger than %d bytes", path,
			MAX_TOKEN_FILE_BYTES);
		return -EINVAL;
	}
	if (rc < 0) {
		set_err(err, errlen, "admin.token_file: cannot read %s: %s",
			path, strerror(-rc));
		return rc;
	}
	if (strlen(buf) != len) {
		set_err(err, errlen,
			"admin.token_file: %s: contains a NUL byte", path);
		rc = -EINVAL;
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	rc = check_token("admin.token_file", path, buf, err, errlen);
	if (rc < 0)
		goto out;
	cfg->admin_token = buf;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return rc;
}

/* ---------------------------------------------------------------- passes */

/* Pass 1: every key must be a section holding known options. */
static int collect(json_t *root, json_t **values, char *err, size_t errlen)
{
	const char *skey, *okey;
	json_t *sect, *v;
	char path[256];

	if (!json_is_object(root)) {
		set_err(err, errlen,
			"the configuration must be a JSON object, got %s",
			json_type_phrase(root));
		return -EINVAL;
	}
	json_object_foreach(root, skey, sect) {
		if (!is_section(skey)) {
			unknown_option(skey, 1, err, errlen);
			return -EINVAL;
		}
		if (!json_is_object(sect)) {
			set_err(err, errlen, "%s: expected an object, got %s",
				skey, json_type_phrase(sect));
			return -EINVAL;
		}
		json_object_foreach(sect, okey, v) {
			int i;

			snprintf(path, sizeof(path), "%s.%s", skey, okey);
			i = find_option(path);
			if (i < 0) {
				unknown_option(path, 0, err, errlen);
				return -EINVAL;
			}
			if (!json_type_ok(options[i].type, v)) {
				set_err(err, errlen, "%s: expected %s, got %s",
					path, opt_type_phrase(options[i].type),
					json_type_phrase(v));
				return -EINVAL;
			}
			values[i] = v;
		}
	}
	return 0;
}

static void store_int(struct pr_config *cfg, const struct opt_spec *s,
		      long long val)
{
	char *field = (char *)cfg + s->off;

	if (s->size == sizeof(int)) {
		int x = (int)val;

		memcpy(field, &x, sizeof(x));
	} else {
		size_t x = (size_t)val;

		memcpy(field, &x, sizeof(x));
	}
}

static int store_string(struct pr_config *cfg, const struct opt_spec *s,
			const char *val, const char *base_dir)
{
	char **field = (char **)(void *)((char *)cfg + s->off);
	char *copy;

	if (s->flags & F_PATH)
		copy = resolve_path(val, base_dir);
	else
		copy = strdup(val);
	if (!copy)
		return -ENOMEM;
	*field = copy;
	return 0;
}

/* A list option: every element a non-empty string without ',' or
 * control characters, at most PR_NETGUARD_MAX_ALLOW of them, kept joined
 * by ",". */
static int store_list(struct pr_config *cfg, const struct opt_spec *s,
		      const char *path, json_t *v, char *err, size_t errlen)
{
	char **field = (char **)(void *)((char *)cfg + s->off);
	size_t i, n = 0, max = json_array_size(v) * 65 + 1;
	char *out;
	json_t *e;

	if (json_array_size(v) > PR_NETGUARD_MAX_ALLOW) {
		set_err(err, errlen, "%s: at most %d entries, got %zu", path,
			PR_NETGUARD_MAX_ALLOW, json_array_size(v));
		return -EINVAL;
	}
	out = malloc(max);
	if (!out)
		return -ENOMEM;
	out[0] = '\0';
	json_array_foreach(v, i, e) {
		const char *str = json_string_value(e);
		size_t len = str ? strlen(str) : 0;
		int bad = !str || len == 0 || len > 64 ||
			  len != json_string_length(e);

		for (size_t k = 0; !bad && k < len; k++)
			bad = str[k] == ',' || (unsigned char)str[k] <= 0x20 ||
			      str[k] == 0x7f;
		if (bad) {
			set_err(err, errlen,
				"%s[%zu]: expected a string of 1 to 64 "
				"characters without spaces or commas",
				path, i);
			free(out);
			return -EINVAL;
		}
		n += (size_t)snprintf(out + n, max - n, "%s%s", i ? "," : "",
				      str);
	}
	*field = out;
	return 0;
}

/* Pass 2: one option, its value or its default. */
static int apply(struct pr_config *cfg, size_t i, json_t *v,
		 const char *base_dir, char *err, size_t errlen)
{
	const struct pr_option *o = &options[i];
	const struct opt_spec *s = &specs[i];
	const char *str = NULL;
	long long n;

	if (!v && (s->flags & F_REQUIRED)) {
		set_err(err, errlen, "%s: required option missing", o->path);
		return -EINVAL;
	}
	if (s->flags & F_NOFIELD)
		return 0;
	if (v && json_is_string(v)) {
		str = json_string_value(v);
		if (strlen(str) != json_string_length(v) ||
		    (o->type == PR_OPT_STRING && str[0] == '\0')) {
			set_err(err, errlen, "%s: must not %s", o->path,
				strlen(str) != json_string_length(v) ?
					"contain a NUL byte" :
					"be empty");
			return -EINVAL;
		}
	} else if (!v) {
		str = s->def_str;
	}

	switch (o->type) {
	case PR_OPT_INT:
		n = v ? json_integer_value(v) : s->def_int;
		if (n < s->min || n > s->max) {
			set_err(err, errlen,
				"%s: must be between %lld and %lld, got %lld",
				o->path, s->min, s->max, n);
			return -EINVAL;
		}
		store_int(cfg, s, n);
		return 0;
	case PR_OPT_BOOL:
		store_int(cfg, s, v ? json_is_true(v) : s->def_int);
		return 0;
	case PR_OPT_LEVEL:
		n = pr_log_level_parse(str);
		if (n < 0) {
			set_err(err, errlen,
				"%s: expected one of error, warn, info, debug, "
				"got \"%s\"",
				o->path, str);
			return -EINVAL;
		}
		store_int(cfg, s, n);
		return 0;
	case PR_OPT_LISTEN:
		if (parse_listen(str, (struct pr_listen *)(void *)((char *)cfg +
								   s->off)) <
		    0) {
			set_err(err, errlen,
				"%s: expected \"host:port\", got \"%s\"",
				o->path, str);
			return -EINVAL;
		}
		return 0;
	case PR_OPT_LIST:
		return v ? store_list(cfg, s, o->path, v, err, errlen) : 0;
	case PR_OPT_STRING:
		break;
	}
	if (!str)
		return 0; /* optional, unset */
	return store_string(cfg, s, str, base_dir);
}

/* Pass 3: rules spanning options, and the files options point at. */
static int check_cross(struct pr_config *cfg, json_t **values,
		       const char *base_dir, char *err, size_t errlen)
{
	json_t *tok = values[find_option("admin.token")];
	json_t *tok_file = values[find_option("admin.token_file")];
	char *path;
	int rc;

	if (tok && tok_file) {
		set_err(err, errlen,
			"admin.token and admin.token_file are mutually "
			"exclusive; give one");
		return -EINVAL;
	}
	if (!tok && !tok_file) {
		set_err(err, errlen,
			"admin.token: required option missing (give "
			"admin.token or admin.token_file)");
		return -EINVAL;
	}
	if (tok) {
		rc = check_token("admin.token", NULL, cfg->admin_token, err,
				 errlen);
		if (rc < 0)
			return rc;
	} else {
		path = resolve_path(json_string_value(tok_file), base_dir);
		if (!path)
			return -ENOMEM;
		rc = load_token_file(cfg, path, err, errlen);
		free(path);
		if (rc < 0)
			return rc;
	}

	if (cfg->db_reconnect_max_ms < cfg->db_reconnect_min_ms) {
		set_err(err, errlen,
			"database.reconnect_max_ms: must be at least "
			"database.reconnect_min_ms (%d), got %d",
			cfg->db_reconnect_min_ms, cfg->db_reconnect_max_ms);
		return -EINVAL;
	}

	/* log.target: the two keywords, else a file path. */
	if (strcmp(cfg->log_target, "stderr") != 0 &&
	    strcmp(cfg->log_target, "syslog") != 0 &&
	    cfg->log_target[0] != '/') {
		path = resolve_path(cfg->log_target, base_dir);
		if (!path)
			return -ENOMEM;
		free(cfg->log_target);
		cfg->log_target = path;
	}

	if (cfg->secrets_key_file) {
		rc = load_secret_key(cfg, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (pr_schedule_parse(cfg->completion_schedule, cfg->completion_s,
			      PR_SCHEDULE_MAX, &cfg->n_completion_s) < 0) {
		set_err(err, errlen,
			"completion.schedule: expected 1 to %d durations "
			"separated by commas (\"10s,30s,1m,1h\"), got \"%s\"",
			PR_SCHEDULE_MAX, cfg->completion_schedule);
		return -EINVAL;
	}
	{
		int hh, mm, n = 0;

		if (sscanf(cfg->recon_bill_time, "%2d:%2d%n", &hh, &mm, &n) !=
			    2 ||
		    cfg->recon_bill_time[n] != '\0' || n != 5 || hh < 0 ||
		    hh > 23 || mm < 0 || mm > 59) {
			set_err(err, errlen,
				"reconciliation.bill_time: expected HH:MM "
				"(\"10:00\"), got \"%s\"",
				cfg->recon_bill_time);
			return -EINVAL;
		}
	}
	if (pr_schedule_parse(cfg->notify_schedule, cfg->notify_s,
			      PR_SCHEDULE_MAX, &cfg->n_notify_s) < 0) {
		set_err(err, errlen,
			"notify.schedule: expected 1 to %d durations "
			"separated by commas (\"5s,1m,1h\"), got \"%s\"",
			PR_SCHEDULE_MAX, cfg->notify_schedule);
		return -EINVAL;
	}
	cfg->n_notify_allow = 0;
	if (cfg->notify_allow_private) {
		const char *p = cfg->notify_allow_private;

		while (*p) {
			size_t n = strcspn(p, ",");
			char one[72];

			snprintf(one, sizeof(one), "%.*s", (int)n, p);
			if (pr_cidr_parse(
				    one,
				    &cfg->notify_allow[cfg->n_notify_allow]) <
			    0) {
				set_err(err, errlen,
					"notify.allow_private[%zu]: expected "
					"an address or a CIDR block such as "
					"127.0.0.0/8, 10.0.0.0/8 or fd00::/8 "
					"(host bits zero), got \"%s\"",
					cfg->n_notify_allow, one);
				return -EINVAL;
			}
			cfg->n_notify_allow++;
			p += n;
			if (*p == ',')
				p++;
		}
	}
	if (cfg->pay_default_expire_s > cfg->pay_max_expire_s) {
		set_err(err, errlen,
			"payments.default_expire_seconds (%d) is more than "
			"payments.max_expire_seconds (%d)",
			cfg->pay_default_expire_s, cfg->pay_max_expire_s);
		return -EINVAL;
	}
	if (cfg->public_url && strncmp(cfg->public_url, "http://", 7) != 0 &&
	    strncmp(cfg->public_url, "https://", 8) != 0) {
		set_err(err, errlen,
			"server.public_url: expected an http:// or https:// "
			"URL, got \"%s\"",
			cfg->public_url);
		return -EINVAL;
	}
	if (cfg->public_url) {
		size_t n = strlen(cfg->public_url);

		while (n > 0 && cfg->public_url[n - 1] == '/')
			cfg->public_url[--n] = '\0';
	} else {
		/* The merchant listener itself; a wildcard address is
		 * reached on loopback. */
		const char *host = cfg->merchant_listen.host;
		char buf[128];

		if (strcmp(host, "0.0.0.0") == 0)
			host = "127.0.0.1";
		else if (strcmp(host, "::") == 0)
			host = "[::1]";
		else if (strchr(host, ':'))
			host = NULL;
		if (host)
			snprintf(buf, sizeof(buf), "http://%s:%d", host,
				 cfg->merchant_listen.port);
		else
			snprintf(buf, sizeof(buf), "http://[%s]:%d",
				 cfg->merchant_listen.host,
				 cfg->merchant_listen.port);
		cfg->public_url = strdup(buf);
		if (!cfg->public_url)
			return -ENOMEM;
	}
	if (!cfg->instance) {
		char host[64] = "localhost", buf[96];

		if (gethostname(host, sizeof(host) - 1) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(buf, sizeof(buf), "%s:%ld", host, (long)getpid());
		cfg->instance = strdup(buf);
		if (!cfg->instance)
			return -ENOMEM;
	} else if (!cfg->instance[0] || strlen(cfg->instance) > 64) {
		set_err(err, errlen,
			"server.instance: expected 1 to 64 characters");
		return -EINVAL;
	}
	return 0;
}

int pr_schedule_parse(const char *text, int *out, size_t max, size_t *n)
{
	const char *p = text;

	*n = 0;
	if (!text || !*text)
		return -EINVAL;
	for (;;) {
		long long v = 0;
		int digits = 0, unit;

		while (*p == ' ')
			p++;
		while (*p >= '0' && *p <= '9' && digits < 9) {
			v = v * 10 + (*p - '0');
			p++;
			digits++;
		}
		switch (digits ? *p : 0) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return -EINVAL;
		}
		p++;
		if (v <= 0 || v * unit > 30LL * 86400 || *n == max)
			return -EINVAL;
		out[(*n)++] = (int)(v * unit);
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			return -EINVAL;
	}
}

int pr_config_parse(const char *text, const char *base_dir,
		    struct pr_config **out, char *err, size_t errlen)
{
	json_t *values[N_OPTIONS] = { 0 };
	struct pr_config *cfg = NULL;
	json_error_t jerr;
	json_t *root;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		set_err(err, errlen, "JSON error at line %d, column %d: %s",
			jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	rc = collect(root, values, err, errlen);
	if (rc < 0)
		goto out;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < N_OPTIONS; i++) {
		rc = apply(cfg, i, values[i], base_dir, err, errlen);
		if (rc < 0)
			goto out;
	}
	rc = check_cross(cfg, values, base_dir, err, errlen);
	if (rc < 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	if (rc == -ENOMEM && err && errlen && !err[0])
		set_err(err, errlen, "out of memory");
	pr_config_free(cfg);
	json_decref(root);
	return rc;
}

/* The directory of path, made absolute so that relative options still
 * point at the right place after the daemon changes directory. */
static char *config_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char cwd[PATH_MAX];
	char *out;
	size_t n;

	if (slash == path)
		return strdup("/");
	if (path[0] == '/')
		return strndup(path, (size_t)(slash - path));
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (!slash)
		return strdup(cwd);
	n = strlen(cwd) + 1 + (size_t)(slash - path) + 1;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s/%.*s", cwd, (int)(slash - path), path);
	return out;
}

int pr_config_load(const char *path, struct pr_config **out, char *err,
		   size_t errlen)
{
	char msg[1024];
	char *text = NULL, *dir = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = read_small_file(path, MAX_CONFIG_BYTES, &text, &len);
	if (rc == -EFBIG) {
		set_err(err, errlen, "%s: larger than %d bytes", path,
			MAX_CONFIG_BYTES);
		return -EINVAL;
	}
	if (rc < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	dir = config_dir(path);
	if (!dir) {
		rc = errno ? -errno : -ENOMEM;
		set_err(err, errlen, "%s: cannot resolve its directory: %s",
			path, strerror(-rc));
		goto out;
	}
	msg[0] = '\0';
	rc = pr_config_parse(text, dir, out, msg, sizeof(msg));
	if (rc < 0) {
		set_err(err, errlen, "%s: %s", path, msg);
		goto out;
	}
	if (path[0] == '/') {
		(*out)->path = strdup(path);
	} else {
		size_t n = strlen(dir) + 1 + strlen(path) + 1;
		const char *base = strrchr(path, '/');

		(*out)->path = malloc(n);
		if ((*out)->path)
			snprintf((*out)->path, n, "%s/%s", dir,
				 base ? base + 1 : path);
	}
	if (!(*out)->path) {
		pr_config_free(*out);
		*out = NULL;
		rc = -ENOMEM;
		set_err(err, errlen, "%s: out of memory", path);
	}
out:
	free(dir);
	free(text);
	return rc;
}

void pr_config_free(struct pr_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->admin_token)
		explicit_bzero(cfg->admin_token, strlen(cfg->admin_token));
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if ((options[i].type == PR_OPT_STRING ||
		     options[i].type == PR_OPT_LIST) &&
		    !(specs[i].flags & F_NOFIELD))
			free(*(char **)(void *)((char *)cfg + specs[i].off));
	}
	free(cfg->path);
	explicit_bzero(cfg->secret_key, sizeof(cfg->secret_key));
	free(cfg);
}

size_t pr_config_restart_changes(const struct pr_config *old_cfg,
				 const struct pr_config *new_cfg,
				 const char **names, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < N_OPTIONS; i++) {
		const char *a = (const char *)old_cfg + specs[i].off;
		const char *b = (const char *)new_cfg + specs[i].off;
		int differ = 0;

		if (!options[i].restart_only || (specs[i].flags & F_NOFIELD))
			continue;
		switch (options[i].type) {
		case PR_OPT_LISTEN: {
			const struct pr_listen *la = (const void *)a;
			const struct pr_listen *lb = (const void *)b;

			differ = la->port != lb->port ||
				 strcmp(la->host, lb->host) != 0;
			break;
		}
		case PR_OPT_LIST:
		case PR_OPT_STRING: {
			const char *sa = *(char *const *)(const void *)a;
			const char *sb = *(char *const *)(const void *)b;

			differ = (sa == NULL) != (sb == NULL) ||
				 (sa && strcmp(sa, sb) != 0);
			break;
		}
		case PR_OPT_INT:
		case PR_OPT_BOOL:
		case PR_OPT_LEVEL:
			differ = memcmp(a, b, specs[i].size) != 0;
			break;
		}
		if (differ) {
			if (n < max && names)
				names[n] = options[i].path;
			n++;
		}
	}
	return n;
}

int pr_config_pool_size(const struct pr_config *cfg)
{
	long ncpu;

	if (cfg->db_pool_size > 0)
		return cfg->db_pool_size;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 2)
		ncpu = 2;
	if (ncpu > 8)
		ncpu = 8;
	return (int)ncpu * 4;
}
