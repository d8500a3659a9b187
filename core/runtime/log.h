/*
 * log.h - the daemon's log: one line per event, to stderr, a file or syslog.
 */
#ifndef PR_LOG_H
#define PR_LOG_H

#include <stddef.h>

#include <payroute/driver.h>

/* Opens the log target: "stderr", "syslog" or a file path (appended to).
 * Returns 0 or a negative errno with err filled. May be called again on
 * reload; the previous target is closed once the new one is open. */
int pr_log_open(const char *target, char *err, size_t errlen);
void pr_log_close(void);

/* Lines above `level` are dropped. */
void pr_log_set_level(enum payroute_log_level level);
enum payroute_log_level pr_log_get_level(void);

/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int pr_log_level_parse(const char *name);
const char *pr_log_level_name(enum payroute_log_level level);

void pr_log(enum payroute_log_level level, const char *fmt, ...)
	PAYROUTE_PRINTF(2, 3);

#define pr_err(...) pr_log(PAYROUTE_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) pr_log(PAYROUTE_LOG_WARN, __VA_ARGS__)
#define pr_info(...) pr_log(PAYROUTE_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) pr_log(PAYROUTE_LOG_DEBUG, __VA_ARGS__)

#endif
