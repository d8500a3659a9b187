/*
 * test_tz.c - time zones, as tables: one named cmocka test per row. The
 * offset rows name a zone, a UTC instant, the UTC offset and the local
 * time and weekday that instant must have; system zones come from
 * /usr/share/zoneinfo (expected values checked against Python's zoneinfo),
 * fixture zones ("fix/...") are TZif files the group setup writes into a
 * temporary TZDIR to reach the cases the system files do not (version 1
 * files, footers with Jn and n dates, broken footers, broken files). The
 * error rows name a zone that must not load and a substring of the error.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "domain/tz.h"

/* ---------------------------------------------------------------- fixtures */

static char fx_dir[64];

struct fx_zone {
	const char *name;
	int version; /* 1, 2 or 3 */
	size_t n_trans;
	int64_t trans[2];
	uint8_t idx[2];
	size_t n_types;
	int32_t offs[2];
	const char *footer; /* NULL: none (v1); "" an empty footer */
	const char *raw;    /* instead of all that: these bytes */
	size_t raw_len;
};

static const struct fx_zone fx_zones[] = {
	{ "fix/rule_us",
	  2,
	  0,
	  { 0 },
	  { 0 },
	  1,
	  { -18000 },
	  "EST5EDT,M3.2.0,M11.1.0",
	  NULL,
	  0 },
	{ "fix/plus8", 2, 0, { 0 }, { 0 }, 1, { 28800 }, "CST-8", NULL, 0 },
	{ "fix/plus0330",
	  3,
	  0,
	  { 0 },
	  { 0 },
	  1,
	  { 12600 },
	  "<+0330>-3:30",
	  NULL,
	  0 },
	{ "fix/minus0330",
	  2,
	  0,
	  { 0 },
	  { 0 },
	  1,
	  { -12600 },
	  "<-0330>3:30",
	  NULL,
	  0 },
	{ "fix/south",
	  2,
	  0,
	  { 0 },
	  { 0 },
	  1,
	  { 36000 },
	  "AEST-10AEDT,M10.1.0,M4.1.0/3",
	  NULL,
	  0 },
	{ "fix/julian1",
	  2,
	  0,
	  { 0 },
	  { 0 },
	  1,
	  { -10800 },
	  "XST3XDT,J60,J300",
	  NULL,
	  0 },
	{ "fix/julian0",
	  2,
	  0,
	  { 0 },
	  { 0 },
	  1,
	  { -10800 },
	  "XST3XDT,59,299",
	  NULL,
	  0 },
	{ "fix/negative_dst",
	  2,
	  0,
	  { 0 },
	  { 0 },
	  1,
	  { 3600 },
	  "IST-1GMT0,M10.5.0,M3.5.0/1",
	  NULL,
	  0 },
	{ "fix/v1",
	  1,
	  1,
	  { 1000000000 },
	  { 1 },
	  2,
	  { 3600, 7200 },
	  NULL,
	  NULL,
	  0 },
	{ "fix/bad_footer",
	  2,
	  1,
	  { 1000000000 },
	  { 1 },
	  2,
	  { 3600, 7200 },
	  "not a rule!",
	  NULL,
	  0 },
	{ "fix/empty_footer",
	  2,
	  1,
	  { 1000000000 },
	  { 1 },
	  2,
	  { 3600, 7200 },
	  "",
	  NULL,
	  0 },
	{ "fix/corrupt",
	  0,
	  0,
	  { 0 },
	  { 0 },
	  0,
	  { 0 },
	  NULL,
	  "TZif2\0\0\0\0\0\0\0\0\0\0",
	  15 },
	{ "fix/truncated",
	  0,
	  0,
	  { 0 },
	  { 0 },
	  0,
	  { 0 },
	  NULL,
	  "TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	  "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x64\0\0\0\1\0\0\0\4",
	  44 },
	{ "fix/empty", 0, 0, { 0 }, { 0 }, 0, { 0 }, NULL, "", 0 },
	{ "fix/not_tzif",
	  0,
	  0,
	  { 0 },
	  { 0 },
	  0,
	  { 0 },
	  NULL,
	  "Asia/Shanghai\n",
	  14 },
};

static size_t put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

/* One header and data block, 4- or 8-byte times. */
static size_t put_block(unsigned char *p, const struct fx_zone *z, int ver,
			size_t tsize)
{
	size_t n = 0, i;

	memcpy(p, "TZif", 4);
	p[4] = ver == 1 ? 0 : (unsigned char)('0' + ver);
	memset(p + 5, 0, 15);
	n = 20;
	n += put32(p + n, 0);			 /* isutcnt */
	n += put32(p + n, 0);			 /* isstdcnt */
	n += put32(p + n, 0);			 /* leapcnt */
	n += put32(p + n, (uint32_t)z->n_trans); /* timecnt */
	n += put32(p + n, (uint32_t)z->n_types); /* typecnt */
	n += put32(p + n, 4);			 /* charcnt */
	for (i = 0; i < z->n_trans; i++) {
		if (tsize == 8)
			n += put32(p + n,
				   (uint32_t)((uint64_t)z->trans[i] >> 32));
		n += put32(p + n, (uint32_t)z->trans[i]);
	}
	for (i = 0; i < z->n_trans; i++)
		p[n++] = z->idx[i];
	for (i = 0; i < z->n_types; i++) {
		n += put32(p + n, (uint32_t)z->offs[i]);
		p[n++] = 0; /* isdst */
		p[n++] = 0; /* abbreviation index */
	}
	memcpy(p + n, "XXX", 4);
	return n + 4;
}

static void write_zone(const struct fx_zone *z)
{
	unsigned char buf[1024];
	char path[256];
	size_t n;
	FILE *f;

	if (z->raw) {
		n = z->raw_len;
		memcpy(buf, z->raw, n);
	} else {
		n = put_block(buf, z, z->version, 4);
		if (z->version >= 2) {
			n += put_block(buf + n, z, z->version, 8);
			n += (size_t)snprintf((char *)buf + n, sizeof(buf) - n,
					      "\n%s\n", z->footer);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", fx_dir, z->name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
	char sub[128];

	(void)state;
	snprintf(fx_dir, sizeof(fx_dir), "/tmp/prtzXXXXXX");
	if (!mkdtemp(fx_dir))
		return -1;
	snprintf(sub, sizeof(sub), "%s/fix", fx_dir);
	if (mkdir(sub, 0700) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(fx_zones) / sizeof(fx_zones[0]); i++)
		write_zone(&fx_zones[i]);
	return 0;
}

static int group_teardown(void **state)
{
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(fx_zones) / sizeof(fx_zones[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx_dir, fx_zones[i].name);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/fix", fx_dir);
	rmdir(path);
	rmdir(fx_dir);
	return 0;
}

/* Zones named "fix/..." come from the fixture directory. */
static struct pr_tz *load(const char *zone, char *err, size_t errlen)
{
	struct pr_tz *tz;

	if (strncmp(zone, "fix/", 4) == 0)
		setenv("TZDIR", fx_dir, 1);
	else
		unsetenv("TZDIR");
	tz = pr_tz_load(zone, err, errlen);
	unsetenv("TZDIR");
	return tz;
}

/* "YYYY-MM-DDTHH:MM:SSZ" as seconds since the epoch. */
static int64_t utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year,
				&tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
				&tm.tm_min, &tm.tm_sec),
			 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* ------------------------------------------------------------ offset rows */

struct off_row {
	const char *name;
	const char *zone;
	const char *at; /* UTC */
	int32_t offset;
	const char *local; /* "YYYY-MM-DDTHH:MM" */
	int weekday;
};

static const struct off_row off_rows[] = {
	/* Asia/Shanghai: +8, no DST. */
	{ "shanghai_summer", "Asia/Shanghai", "2026-06-15T16:30:00Z", 28800,
	  "2026-06-16T00:30", 2 },
	{ "shanghai_epoch_day_before_utc", "Asia/Shanghai",
	  "1969-12-31T20:00:00Z", 28800, "1970-01-01T04:00", 4 },
	{ "shanghai_2045", "Asia/Shanghai", "2045-12-31T16:00:00Z", 28800,
	  "2046-01-01T00:00", 1 },
	/* America/New_York across the 2026 changes. */
	{ "ny_2026_before_spring_forward", "America/New_York",
	  "2026-03-08T06:59:00Z", -18000, "2026-03-08T01:59", 0 },
	{ "ny_2026_at_spring_forward", "America/New_York",
	  "2026-03-08T07:00:00Z", -14400, "2026-03-08T03:00", 0 },
	{ "ny_2026_before_fall_back", "America/New_York",
	  "2026-11-01T05:59:00Z", -14400, "2026-11-01T01:59", 0 },
	{ "ny_2026_at_fall_back", "America/New_York", "2026-11-01T06:00:00Z",
	  -18000, "2026-11-01T01:00", 0 },
	{ "ny_1900", "America/New_York", "1900-01-01T12:00:00Z", -18000,
	  "1900-01-01T07:00", 1 },
	/* 2045: past the file's transitions, the footer rule. */
	{ "ny_2045_summer_footer", "America/New_York", "2045-07-01T12:00:00Z",
	  -14400, "2045-07-01T08:00", 6 },
	{ "ny_2045_before_spring_forward", "America/New_York",
	  "2045-03-12T06:59:59Z", -18000, "2045-03-12T01:59", 0 },
	{ "ny_2045_at_spring_forward", "America/New_York",
	  "2045-03-12T07:00:00Z", -14400, "2045-03-12T03:00", 0 },
	{ "ny_2045_before_fall_back", "America/New_York",
	  "2045-11-05T05:59:59Z", -14400, "2045-11-05T01:59", 0 },
	{ "ny_2045_at_fall_back", "America/New_York", "2045-11-05T06:00:00Z",
	  -18000, "2045-11-05T01:00", 0 },
	/* Europe/London. */
	{ "london_winter", "Europe/London", "2026-01-15T12:00:00Z", 0,
	  "2026-01-15T12:00", 4 },
	{ "london_before_bst", "Europe/London", "2026-03-29T00:59:59Z", 0,
	  "2026-03-29T00:59", 0 },
	{ "london_at_bst", "Europe/London", "2026-03-29T01:00:00Z", 3600,
	  "2026-03-29T02:00", 0 },
	{ "london_before_gmt", "Europe/London", "2026-10-25T00:59:59Z", 3600,
	  "2026-10-25T01:59", 0 },
	{ "london_at_gmt", "Europe/London", "2026-10-25T01:00:00Z", 0,
	  "2026-10-25T01:00", 0 },
	{ "london_2045_bst_footer", "Europe/London", "2045-03-26T01:00:00Z",
	  3600, "2045-03-26T02:00", 0 },
	/* Footers of other shapes, from the system's files. */
	{ "sydney_2045_summer", "Australia/Sydney", "2045-01-15T00:00:00Z",
	  39600, "2045-01-15T11:00", 0 },
	{ "sydney_2045_winter", "Australia/Sydney", "2045-07-01T00:00:00Z",
	  36000, "2045-07-01T10:00", 6 },
	{ "sydney_2045_before_dst_end", "Australia/Sydney",
	  "2045-04-01T15:59:59Z", 39600, "2045-04-02T02:59", 0 },
	{ "sydney_2045_at_dst_end", "Australia/Sydney", "2045-04-01T16:00:00Z",
	  36000, "2045-04-02T02:00", 0 },
	{ "sydney_2045_before_dst_start", "Australia/Sydney",
	  "2045-09-30T15:59:59Z", 36000, "2045-10-01T01:59", 0 },
	{ "sydney_2045_at_dst_start", "Australia/Sydney",
	  "2045-09-30T16:00:00Z", 39600, "2045-10-01T03:00", 0 },
	{ "tehran_2045_angle_names", "Asia/Tehran", "2045-07-01T00:00:00Z",
	  12600, "2045-07-01T03:30", 6 },
	{ "nuuk_2045_negative_time_before", "America/Nuuk",
	  "2045-03-26T00:59:59Z", -7200, "2045-03-25T22:59", 6 },
	{ "nuuk_2045_negative_time_at", "America/Nuuk", "2045-03-26T01:00:00Z",
	  -3600, "2045-03-26T00:00", 0 },
	{ "nuuk_2045_end_before", "America/Nuuk", "2045-10-29T00:59:59Z", -3600,
	  "2045-10-28T23:59", 6 },
	{ "nuuk_2045_end_at", "America/Nuuk", "2045-10-29T01:00:00Z", -7200,
	  "2045-10-28T23:00", 6 },
	{ "dublin_2045_winter_negative_dst", "Europe/Dublin",
	  "2045-01-15T12:00:00Z", 0, "2045-01-15T12:00", 0 },
	{ "dublin_2045_summer", "Europe/Dublin", "2045-07-01T12:00:00Z", 3600,
	  "2045-07-01T13:00", 6 },
	{ "dublin_2045_at_change", "Europe/Dublin", "2045-03-26T01:00:00Z",
	  3600, "2045-03-26T02:00", 0 },
	/* UTC. */
	{ "utc", "UTC", "2026-05-01T10:20:00Z", 0, "2026-05-01T10:20", 5 },
	{ "etc_utc_negative_time", "Etc/UTC", "1969-12-31T23:59:00Z", 0,
	  "1969-12-31T23:59", 3 },
	{ "etc_utc_far_past", "Etc/UTC", "1901-12-13T20:45:52Z", 0,
	  "1901-12-13T20:45", 5 },
	/* Fixtures: rules alone (no transitions at all). */
	{ "fix_rule_us_winter", "fix/rule_us", "2045-03-12T06:59:59Z", -18000,
	  "2045-03-12T01:59", 0 },
	{ "fix_rule_us_summer", "fix/rule_us", "2045-03-12T07:00:00Z", -14400,
	  "2045-03-12T03:00", 0 },
	{ "fix_rule_us_1990_by_rule", "fix/rule_us", "1990-07-01T12:00:00Z",
	  -14400, "1990-07-01T08:00", 0 },
	{ "fix_plus8", "fix/plus8", "2030-01-01T00:00:00Z", 28800,
	  "2030-01-01T08:00", 2 },
	{ "fix_plus0330", "fix/plus0330", "2045-07-01T00:00:00Z", 12600,
	  "2045-07-01T03:30", 6 },
	{ "fix_minus0330_previous_day", "fix/minus0330", "2045-07-01T02:00:00Z",
	  -12600, "2045-06-30T22:30", 5 },
	{ "fix_south_summer", "fix/south", "2045-01-15T00:00:00Z", 39600,
	  "2045-01-15T11:00", 0 },
	{ "fix_south_winter", "fix/south", "2045-07-01T00:00:00Z", 36000,
	  "2045-07-01T10:00", 6 },
	{ "fix_julian1_before_start_leap_year", "fix/julian1",
	  "2044-03-01T04:59:59Z", -10800, "2044-03-01T01:59", 2 },
	{ "fix_julian1_at_start_leap_year", "fix/julian1",
	  "2044-03-01T05:00:00Z", -7200, "2044-03-01T03:00", 2 },
	{ "fix_julian1_before_end", "fix/julian1", "2045-10-27T03:59:59Z",
	  -7200, "2045-10-27T01:59", 5 },
	{ "fix_julian1_at_end", "fix/julian1", "2045-10-27T04:00:00Z", -10800,
	  "2045-10-27T01:00", 5 },
	{ "fix_julian0_feb29_before", "fix/julian0", "2044-02-29T04:59:59Z",
	  -10800, "2044-02-29T01:59", 1 },
	{ "fix_julian0_feb29_at", "fix/julian0", "2044-02-29T05:00:00Z", -7200,
	  "2044-02-29T03:00", 1 },
	{ "fix_negative_dst_winter", "fix/negative_dst", "2045-01-15T12:00:00Z",
	  0, "2045-01-15T12:00", 0 },
	{ "fix_negative_dst_summer", "fix/negative_dst", "2045-07-01T12:00:00Z",
	  3600, "2045-07-01T13:00", 6 },
	/* Fixtures: transitions, without a usable footer. */
	{ "fix_v1_before_first", "fix/v1", "1900-01-01T00:00:00Z", 3600,
	  "1900-01-01T01:00", 1 },
	{ "fix_v1_just_before", "fix/v1", "2001-09-09T01:46:39Z", 3600,
	  "2001-09-09T02:46", 0 },
	{ "fix_v1_at_transition", "fix/v1", "2001-09-09T01:46:40Z", 7200,
	  "2001-09-09T03:46", 0 },
	{ "fix_v1_2045_last_offset", "fix/v1", "2045-01-01T00:00:00Z", 7200,
	  "2045-01-01T02:00", 0 },
	{ "fix_bad_footer_last_offset", "fix/bad_footer",
	  "2045-01-01T00:00:00Z", 7200, "2045-01-01T02:00", 0 },
	{ "fix_bad_footer_before", "fix/bad_footer", "2000-01-01T00:00:00Z",
	  3600, "2000-01-01T01:00", 6 },
	{ "fix_empty_footer_last_offset", "fix/empty_footer",
	  "2045-01-01T00:00:00Z", 7200, "2045-01-01T02:00", 0 },
};

static void test_offset_row(void **state)
{
	const struct off_row *r = *state;
	struct pr_local_time lt;
	struct pr_tz *tz;
	char err[256] = "";
	int64_t t = utc(r->at);
	int y, mo, d, h, mi;
	struct tm tm;

	tz = load(r->zone, err, sizeof(err));
	if (!tz)
		fail_msg("%s: %s", r->name, err);
	assert_string_equal(pr_tz_name(tz), r->zone);
	assert_int_equal(pr_tz_offset(tz, t), r->offset);

	pr_tz_local(tz, t, &lt);
	assert_int_equal(
		sscanf(r->local, "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi), 5);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	assert_int_equal(lt.day, (int64_t)timegm(&tm) / 86400 -
					 ((int64_t)timegm(&tm) % 86400 < 0));
	assert_int_equal(lt.minute, h * 60 + mi);
	assert_int_equal(lt.weekday, r->weekday);
	pr_tz_free(tz);
}

/* ------------------------------------------------------------- error rows */

struct err_row {
	const char *name;
	const char *zone;
	const char *error; /* a substring of the message */
};

static const struct err_row err_rows[] = {
	{ "empty_name", "", "not a valid zone name" },
	{ "dot_dot", "../etc/passwd", "not a valid zone name" },
	{ "dot_dot_inside", "Asia/../../etc/passwd", "not a valid zone name" },
	{ "absolute", "/etc/passwd", "not a valid zone name" },
	{ "double_slash", "Asia//Shanghai", "not a valid zone name" },
	{ "trailing_slash", "Asia/Shanghai/", "not a valid zone name" },
	{ "space", "Asia/Shang hai", "not a valid zone name" },
	{ "backslash", "Asia\\Shanghai", "not a valid zone name" },
	{ "dot", "posixrules.bak", "not a valid zone name" },
	{ "missing_zone", "Nowhere/Atlantis",
	  "unknown time zone 'Nowhere/Atlantis'" },
	{ "directory", "Asia", "unknown time zone 'Asia'" },
	{ "fix_corrupt", "fix/corrupt", "not a valid TZif file" },
	{ "fix_truncated", "fix/truncated", "not a valid TZif file" },
	{ "fix_empty_file", "fix/empty", "not a valid TZif file" },
	{ "fix_not_tzif", "fix/not_tzif", "not a valid TZif file" },
	{ "fix_missing", "fix/nothing_here", "unknown time zone" },
};

static void test_error_row(void **state)
{
	const struct err_row *r = *state;
	char err[256] = "";
	struct pr_tz *tz = load(r->zone, err, sizeof(err));

	if (tz) {
		pr_tz_free(tz);
		fail_msg("%s: loaded, expected \"%s\"", r->name, r->error);
	}
	if (!strstr(err, r->error))
		fail_msg("%s: got \"%s\", expected \"%s\"", r->name, err,
			 r->error);
}

/* A null name is refused, not dereferenced. */
static void test_null_name(void **state)
{
	char err[128] = "";

	(void)state;
	assert_null(pr_tz_load(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "not a valid zone name"));
	pr_tz_free(NULL);
}

/* Every local minute of a year in New York is consistent: the offset
 * changes only at the two 2026 transitions, and local time = UTC + offset. */
static void test_ny_year_scan(void **state)
{
	char err[256] = "";
	struct pr_tz *tz = load("America/New_York", err, sizeof(err));
	int64_t t0 = utc("2026-01-01T00:00:00Z"), t;
	int32_t prev;
	int changes = 0;

	(void)state;
	assert_non_null(tz);
	prev = pr_tz_offset(tz, t0);
	for (t = t0; t < t0 + 365 * 86400; t += 900) {
		struct pr_local_time lt;
		int32_t off = pr_tz_offset(tz, t);
		int64_t local = t + off;

		if (off != prev)
			changes++;
		prev = off;
		pr_tz_local(tz, t, &lt);
		assert_int_equal(lt.day * 86400 + lt.minute * 60,
				 local - local % 60);
	}
	assert_int_equal(changes, 2);
	pr_tz_free(tz);
}

int main(void)
{
	size_t n_off = sizeof(off_rows) / sizeof(off_rows[0]);
	size_t n_err = sizeof(err_rows) / sizeof(err_rows[0]);
	struct CMUnitTest *tests = calloc(n_off + n_err + 2, sizeof(*tests));
	size_t n = 0;
	int rc;

	if (!tests)
		return 1;
	for (size_t i = 0; i < n_off; i++)
		tests[n++] = (struct CMUnitTest){ off_rows[i].name,
						  test_offset_row, NULL, NULL,
						  (void *)&off_rows[i] };
	for (size_t i = 0; i < n_err; i++)
		tests[n++] = (struct CMUnitTest){ err_rows[i].name,
						  test_error_row, NULL, NULL,
						  (void *)&err_rows[i] };
	tests[n++] = (struct CMUnitTest){ "null_name", test_null_name, NULL,
					  NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "ny_year_scan", test_ny_year_scan,
					  NULL, NULL, NULL };
	rc = _cmocka_run_group_tests("tz", tests, n, group_setup,
				     group_teardown);
	free(tests);
	return rc;
}
