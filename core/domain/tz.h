/*
 * tz.h - IANA time zones for maintenance windows and channel-local days,
 * read once from the system's TZif files (TZDIR or /usr/share/zoneinfo)
 * when a generation is built. Converting a UTC instant to local time is
 * then a pure lookup: no TZ environment, no localtime(), no I/O.
 */
#ifndef PR_TZ_H
#define PR_TZ_H

#include <stddef.h>
#include <stdint.h>

struct pr_tz;

/* Loads a zone by IANA name ("Asia/Shanghai", "UTC"). Returns NULL with
 * err filled when the name is invalid or the zone cannot be read. Free with
 * pr_tz_free. */
struct pr_tz *pr_tz_load(const char *name, char *err, size_t errlen);
void pr_tz_free(struct pr_tz *tz);
const char *pr_tz_name(const struct pr_tz *tz);

/* UTC offset in seconds at the UTC instant t (seconds since the epoch).
 * Beyond the file's last transition the footer's POSIX rule applies when
 * the file has one, else the last offset. */
int32_t pr_tz_offset(const struct pr_tz *tz, int64_t t);

/* Local calendar pieces of the UTC instant t in tz. */
struct pr_local_time {
	int64_t day; /* days since 1970-01-01 in local time */
	int minute;  /* minutes since local midnight, 0..1439 */
	int weekday; /* 0 = Sunday .. 6 = Saturday */
};
void pr_tz_local(const struct pr_tz *tz, int64_t t, struct pr_local_time *lt);

/* RFC 3339 date-time with Z or a numeric offset ("2026-11-25T22:30:00+08:00",
 * fractions allowed), years from 1970, to UTC milliseconds. Returns 0 or
 * -EINVAL. */
int pr_parse_rfc3339(const char *s, int64_t *ms);

/* The proleptic Gregorian date of a day number (days since 1970-01-01). */
void pr_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
