/*
 * log.c - the daemon's log. One line per event:
 *
 *     2026-11-25T03:40:00.123Z [info] store: ready (4/4 connections)
 *
 * to stderr, to a file opened for append, or to syslog. The level filter is
 * a plain variable read by every call; the daemon is single-threaded.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"

static enum payroute_log_level log_level = PAYROUTE_LOG_INFO;
static int log_fd = STDERR_FILENO;
static int log_syslog;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int pr_log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++)
		if (name && strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *pr_log_level_name(enum payroute_log_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "?";
}

void pr_log_set_level(enum payroute_log_level level)
{
	log_level = level;
}

enum payroute_log_level pr_log_get_level(void)
{
	return log_level;
}

int pr_log_open(const char *target, char *err, size_t errlen)
{
	int fd;

	if (!target || strcmp(target, "stderr") == 0) {
		pr_log_close();
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		pr_log_close();
		openlog("payrouted", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
		return 0;
	}
	fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot open log file %s: %s", target,
			 strerror(e));
		return -e;
	}
	pr_log_close();
	log_fd = fd;
	return 0;
}

void pr_log_close(void)
{
	if (log_syslog) {
		closelog();
		log_syslog = 0;
	}
	if (log_fd != STDERR_FILENO) {
		close(log_fd);
		log_fd = STDERR_FILENO;
	}
}

void pr_log(enum payroute_log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[4096];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	if (log_syslog) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		syslog(prio[level], "[%s] %s", pr_log_level_name(level), line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
		     pr_log_level_name(level));
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	/* One event, one line: newlines inside a message are flattened. */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	(void)!write(log_fd, line, (size_t)n);
}
