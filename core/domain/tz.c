/*
 * tz.c - IANA time zones without the C library's global TZ state. A zone is
 * read once from its TZif file ($TZDIR or /usr/share/zoneinfo; RFC 8536,
 * versions 1 to 3, using the 64-bit section of version 2 and later) into a
 * table of transitions and UTC offsets, plus the footer's POSIX TZ rule for
 * the instants after the last transition ("CST-8", "EST5EDT,M3.2.0,M11.1.0",
 * "<+0330>-3:30", with Mm.w.d, Jn and n dates and optional /time, negative
 * or beyond 24 hours as version 3 allows). A zone whose footer cannot be
 * parsed keeps the last transition's offset after it. Leap-second records
 * ("right/" zones) are skipped: offsets are civil, not TAI. Lookups are pure
 * functions of the loaded zone.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain/tz.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_MAX_FILE (1024 * 1024)
#define TZ_MAX_NAME 255
#define SECS_PER_DAY 86400

/* One date of a POSIX rule. */
enum rule_kind { RULE_JULIAN1, RULE_JULIAN0, RULE_MWD };
struct rule_date {
	enum rule_kind kind;
	int day;      /* Jn: 1..365; n: 0..365; Mm.w.d: d (0 Sunday..6) */
	int week;     /* 1..5 */
	int month;    /* 1..12 */
	int32_t time; /* seconds after local midnight, may be < 0 or > 24h */
};

struct posix_rule {
	int32_t std_off; /* UTC offsets, seconds east */
	int32_t dst_off;
	int has_dst;
	struct rule_date start, end;
};

struct pr_tz {
	char *name;
	size_t n_trans;
	int64_t *trans; /* UTC seconds, ascending */
	uint8_t *idx;	/* type of each transition */
	size_t n_types;
	int32_t *offs; /* UTC offset of each type */
	int has_rule;
	struct posix_rule rule;
};

/* ------------------------------------------------------------ calendar */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
	int64_t era, doe, yoe, y, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return mp >= 10 ? y + 1 : y;
}

void pr_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* RFC 3339 date-time with Z or a numeric offset, years 1970..9999, as UTC
 * milliseconds (fractions beyond milliseconds are dropped). */
int pr_parse_rfc3339(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, ms = 0, oh, om, sign;
	int64_t t;
	const char *p;

	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    sec > 60)
		return -EINVAL;
	{
		static const int ml[12] = { 31, 29, 31, 30, 31, 30,
					    31, 31, 30, 31, 30, 31 };
		int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

		if (d > ml[mo - 1] || (mo == 2 && d == 29 && !leap))
			return -EINVAL;
	}
	if (sec == 60)
		sec = 59; /* a leap second: the last second of the minute */
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		p++;
		while (*p >= '0' && *p <= '9') {
			if (n < 3)
				ms = ms * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0)
			return -EINVAL;
		for (; n < 3; n++)
			ms *= 10;
	}
	t = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) *
		    1000 +
	    ms;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*out = t;
		return 0;
	}
	if ((*p != '+' && *p != '-') || strlen(p) != 6 ||
	    digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
	    oh > 23 || om > 59)
		return -EINVAL;
	sign = *p == '-' ? -1 : 1;
	*out = t - sign * (int64_t)(oh * 3600 + om * 60) * 1000;
	return 0;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_len(int64_t y, int m)
{
	static const int len[12] = { 31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

static int weekday_of_days(int64_t days)
{
	int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */

	return (int)(w < 0 ? w + 7 : w);
}

/* Local seconds since the epoch at which date rd of year y happens, as
 * local wall time (not yet shifted to UTC). */
static int64_t rule_local(const struct rule_date *rd, int64_t y)
{
	int64_t days;

	switch (rd->kind) {
	case RULE_JULIAN1:
		days = days_from_civil(y, 1, 1) + rd->day - 1;
		if (is_leap(y) && rd->day >= 60)
			days++;
		break;
	case RULE_JULIAN0:
		days = days_from_civil(y, 1, 1) + rd->day;
		break;
	default: {
		int64_t first = days_from_civil(y, rd->month, 1);
		int wd = weekday_of_days(first);
		int d = 1 + (rd->day - wd + 7) % 7 + (rd->week - 1) * 7;

		while (d > month_len(y, rd->month))
			d -= 7;
		days = first + d - 1;
		break;
	}
	}
	return days * SECS_PER_DAY + rd->time;
}

static int32_t rule_offset(const struct posix_rule *r, int64_t t)
{
	int64_t y, start, end;

	if (!r->has_dst)
		return r->std_off;
	y = year_of_days(floor_div(t + r->std_off, SECS_PER_DAY));
	/* DST starts at a standard-time wall clock and ends at a DST one. */
	start = rule_local(&r->start, y) - r->std_off;
	end = rule_local(&r->end, y) - r->dst_off;
	if (start < end)
		return t >= start && t < end ? r->dst_off : r->std_off;
	/* Southern hemisphere: DST across the new year. */
	return t >= end && t < start ? r->std_off : r->dst_off;
}

/* ---------------------------------------------------- POSIX TZ strings */

static const char *parse_abbr(const char *s)
{
	const char *p = s;

	if (*p == '<') {
		p++;
		while (*p && *p != '>')
			p++;
		if (*p != '>' || p - s < 4)
			return NULL;
		return p + 1;
	}
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - s >= 3 ? p : NULL;
}

static const char *parse_num(const char *s, int min, int max, int *out)
{
	int v = 0, n = 0;

	while (*s >= '0' && *s <= '9' && n < 4) {
		v = v * 10 + (*s - '0');
		s++;
		n++;
	}
	if (n == 0 || v < min || v > max)
		return NULL;
	*out = v;
	return s;
}

/* [+-]hh[:mm[:ss]], hours up to max_h; the value in seconds, sign as
 * written. */
static const char *parse_hms(const char *s, int max_h, int32_t *out)
{
	int sign = 1, h, m = 0, sec = 0;

	if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		s++;
	}
	if (!(s = parse_num(s, 0, max_h, &h)))
		return NULL;
	if (*s == ':') {
		if (!(s = parse_num(s + 1, 0, 59, &m)))
			return NULL;
		if (*s == ':' && !(s = parse_num(s + 1, 0, 59, &sec)))
			return NULL;
	}
	*out = sign * (h * 3600 + m * 60 + sec);
	return s;
}

static const char *parse_date(const char *s, struct rule_date *rd)
{
	rd->time = 7200;
	if (*s == 'J') {
		rd->kind = RULE_JULIAN1;
		s = parse_num(s + 1, 1, 365, &rd->day);
	} else if (*s == 'M') {
		rd->kind = RULE_MWD;
		if (!(s = parse_num(s + 1, 1, 12, &rd->month)) || *s != '.')
			return NULL;
		if (!(s = parse_num(s + 1, 1, 5, &rd->week)) || *s != '.')
			return NULL;
		s = parse_num(s + 1, 0, 6, &rd->day);
	} else {
		rd->kind = RULE_JULIAN0;
		s = parse_num(s, 0, 365, &rd->day);
	}
	if (s && *s == '/')
		s = parse_hms(s + 1, 167, &rd->time);
	return s;
}

/* Parses a POSIX TZ string; 0 or -EINVAL. */
static int parse_posix(const char *s, struct posix_rule *r)
{
	int32_t v;

	memset(r, 0, sizeof(*r));
	if (!(s = parse_abbr(s)) || !(s = parse_hms(s, 24, &v)))
		return -EINVAL;
	r->std_off = -v;
	if (*s == '\0')
		return 0;
	if (!(s = parse_abbr(s)))
		return -EINVAL;
	r->has_dst = 1;
	r->dst_off = r->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if (!(s = parse_hms(s, 24, &v)))
			return -EINVAL;
		r->dst_off = -v;
	}
	if (*s == '\0') {
		/* No rule: the US rule, as glibc's default does. */
		r->start = (struct rule_date){ RULE_MWD, 0, 2, 3, 7200 };
		r->end = (struct rule_date){ RULE_MWD, 0, 1, 11, 7200 };
		return 0;
	}
	if (*s != ',' || !(s = parse_date(s + 1, &r->start)) || *s != ',' ||
	    !(s = parse_date(s + 1, &r->end)) || *s != '\0')
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ TZif */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_hdr {
	int version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_hdr(const unsigned char *p, size_t len, struct tzif_hdr *h)
{
	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	h->version = p[4] == 0 ? 1 : p[4] - '0';
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 100000 ||
	    h->leapcnt > 10000 || h->charcnt > 100000 || h->isutcnt > 256 ||
	    h->isstdcnt > 256)
		return -EINVAL;
	return 0;
}

static size_t block_len(const struct tzif_hdr *h, size_t tsize)
{
	return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
	       h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int parse_tzif(struct pr_tz *tz, const unsigned char *buf, size_t len)
{
	struct tzif_hdr h;
	const unsigned char *p = buf, *end = buf + len;
	size_t tsize = 4, i;
	int rc;

	if ((rc = read_hdr(p, len, &h)) < 0)
		return rc;
	if (h.version >= 2) {
		size_t skip = 44 + block_len(&h, 4);

		if (skip > len)
			return -EINVAL;
		p += skip;
		if ((rc = read_hdr(p, (size_t)(end - p), &h)) < 0)
			return rc;
		tsize = 8;
	}
	p += 44;
	if (block_len(&h, tsize) > (size_t)(end - p))
		return -EINVAL;

	tz->n_trans = h.timecnt;
	tz->n_types = h.typecnt;
	tz->trans = calloc(h.timecnt ? h.timecnt : 1, sizeof(*tz->trans));
	tz->idx = calloc(h.timecnt ? h.timecnt : 1, 1);
	tz->offs = calloc(h.typecnt, sizeof(*tz->offs));
	if (!tz->trans || !tz->idx || !tz->offs)
		return -ENOMEM;
	for (i = 0; i < h.timecnt; i++) {
		tz->trans[i] = tsize == 8 ? be64(p + i * 8) :
					    (int32_t)be32(p + i * 4);
		if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
			return -EINVAL;
	}
	p += h.timecnt * tsize;
	for (i = 0; i < h.timecnt; i++) {
		if (p[i] >= h.typecnt)
			return -EINVAL;
		tz->idx[i] = p[i];
	}
	p += h.timecnt;
	for (i = 0; i < h.typecnt; i++) {
		int32_t off = (int32_t)be32(p + i * 6);

		if (off < -25 * 3600 || off > 26 * 3600)
			return -EINVAL;
		tz->offs[i] = off;
	}
	p += block_len(&h, tsize) - h.timecnt * (tsize + 1);

	/* The footer: "\n" POSIX-TZ "\n". */
	if (h.version >= 2 && p < end && *p == '\n') {
		const unsigned char *nl =
			memchr(p + 1, '\n', (size_t)(end - p - 1));
		char footer[128];
		size_t flen;

		if (nl && (flen = (size_t)(nl - p - 1)) > 0 &&
		    flen < sizeof(footer)) {
			memcpy(footer, p + 1, flen);
			footer[flen] = '\0';
			if (parse_posix(footer, &tz->rule) == 0)
				tz->has_rule = 1;
		}
	}
	return 0;
}

static int valid_name(const char *name)
{
	size_t n = 0, comp = 0;

	for (const char *s = name; *s; s++, n++) {
		char c = *s;

		if (c == '/') {
			if (comp == 0)
				return 0;
			comp = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '+' ||
		      c == '-'))
			return 0;
		comp++;
	}
	return n > 0 && n <= TZ_MAX_NAME && comp > 0;
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (st.st_size > TZ_MAX_FILE) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

struct pr_tz *pr_tz_load(const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[4096];
	unsigned char *buf = NULL;
	size_t len = 0;
	struct pr_tz *tz = NULL;
	int rc;

	if (!name || !valid_name(name)) {
		snprintf(err, errlen,
			 "unknown time zone '%s': not a valid zone name",
			 name ? name : "(null)");
		return NULL;
	}
	if (!dir || !*dir)
		dir = TZ_DEFAULT_DIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		snprintf(err, errlen, "unknown time zone '%s'", name);
		return NULL;
	}
	rc = read_file(path, &buf, &len);
	if (rc == -ENOENT || rc == -ENOTDIR || rc == -EISDIR) {
		snprintf(err, errlen, "unknown time zone '%s'", name);
		goto out;
	}
	if (rc < 0) {
		snprintf(err, errlen, "time zone '%s': %s: %s", name, path,
			 strerror(-rc));
		goto out;
	}
	tz = calloc(1, sizeof(*tz));
	if (!tz || !(tz->name = strdup(name))) {
		snprintf(err, errlen, "time zone '%s': out of memory", name);
		goto fail;
	}
	rc = parse_tzif(tz, buf, len);
	if (rc == -ENOMEM) {
		snprintf(err, errlen, "time zone '%s': out of memory", name);
		goto fail;
	}
	if (rc < 0) {
		snprintf(err, errlen,
			 "time zone '%s': %s: not a valid TZif file", name,
			 path);
		goto fail;
	}
	goto out;
fail:
	pr_tz_free(tz);
	tz = NULL;
out:
	free(buf);
	return tz;
}

void pr_tz_free(struct pr_tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->idx);
	free(tz->offs);
	free(tz);
}

const char *pr_tz_name(const struct pr_tz *tz)
{
	return tz->name;
}

int32_t pr_tz_offset(const struct pr_tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->n_trans;

	if (tz->n_trans == 0 || t >= tz->trans[tz->n_trans - 1]) {
		if (tz->has_rule)
			return rule_offset(&tz->rule, t);
		if (tz->n_trans == 0)
			return tz->offs[0];
		return tz->offs[tz->idx[tz->n_trans - 1]];
	}
	if (t < tz->trans[0])
		return tz->offs[0];
	/* The last transition at or before t. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->offs[tz->idx[lo]];
}

void pr_tz_local(const struct pr_tz *tz, int64_t t, struct pr_local_time *lt)
{
	int64_t local = t + pr_tz_offset(tz, t);
	int64_t day = floor_div(local, SECS_PER_DAY);

	lt->day = day;
	lt->minute = (int)((local - day * SECS_PER_DAY) / 60);
	lt->weekday = weekday_of_days(day);
}
