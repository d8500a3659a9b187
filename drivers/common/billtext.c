/*
 * billtext.c - lines, CSV fields, amounts and times of channel bills
 * (billtext.h), shared by the drivers' bill readers. GBK goes through
 * glibc's iconv (no table of our own): bills from Alipay and the bank are
 * GBK, WeChat Pay's are UTF-8.
 */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billtext.h"

#define BT_BUF (BT_MAX_LINE * 2)
#define BT_UTF8 (BT_MAX_LINE * 2 + 8)

int bt_lines_init(struct bt_lines *l, bt_read_fn read, void *src, int gbk)
{
	memset(l, 0, sizeof(*l));
	l->read = read;
	l->src = src;
	l->buf = malloc(BT_BUF);
	if (!l->buf)
		return -ENOMEM;
	if (gbk) {
		iconv_t cd = iconv_open("UTF-8", "GB18030");

		if (cd == (iconv_t)-1) {
			bt_lines_free(l);
			return -ENOTSUP;
		}
		l->cd = cd;
		l->utf8 = malloc(BT_UTF8);
		if (!l->utf8) {
			bt_lines_free(l);
			return -ENOMEM;
		}
	}
	return 0;
}

void bt_lines_free(struct bt_lines *l)
{
	if (l->cd)
		iconv_close((iconv_t)l->cd);
	free(l->buf);
	free(l->utf8);
	memset(l, 0, sizeof(*l));
}

static int valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		else
			return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

/* Reads more into the buffer; 1 when something came, 0 at the end. */
static int fill(struct bt_lines *l)
{
	long n;

	if (l->start > 0) {
		memmove(l->buf, l->buf + l->start, l->end - l->start);
		l->end -= l->start;
		l->start = 0;
	}
	if (l->eof || l->end >= BT_BUF)
		return 0;
	n = l->read(l->src, l->buf + l->end, BT_BUF - l->end);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		l->eof = 1;
		return 0;
	}
	l->end += (size_t)n;
	return 1;
}

int bt_lines_next(struct bt_lines *l, char **line)
{
	char *s, *nl;
	size_t len;
	int rc;

	for (;;) {
		s = l->buf + l->start;
		nl = memchr(s, '\n', l->end - l->start);
		if (nl)
			break;
		if (l->end - l->start > BT_MAX_LINE)
			return -EBADMSG;
		rc = fill(l);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (l->start == l->end)
				return 0;
			if (l->end >= BT_BUF)
				return -EBADMSG;
			/* the last line has no LF: make room for a NUL */
			l->buf[l->end] = '\n';
			nl = l->buf + l->end;
			l->end++;
			s = l->buf + l->start;
			break;
		}
	}
	len = (size_t)(nl - s);
	l->start += len + 1;
	if (len > BT_MAX_LINE)
		return -EBADMSG;
	if (len && s[len - 1] == '\r')
		len--;
	s[len] = '\0';
	if (memchr(s, '\0', len))
		return -EBADMSG;
	l->line_no++;
	if (l->line_no == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (l->cd) {
		char *in = s, *out = l->utf8;
		size_t inleft = len, outleft = BT_UTF8 - 1;

		iconv((iconv_t)l->cd, NULL, NULL, NULL, NULL);
		if (iconv((iconv_t)l->cd, &in, &inleft, &out, &outleft) ==
		    (size_t)-1)
			return -EBADMSG;
		*out = '\0';
		*line = l->utf8;
		return 1;
	}
	if (!valid_utf8((const unsigned char *)s, len))
		return -EBADMSG;
	*line = s;
	return 1;
}

static char *trim(char *b, char *e)
{
	while (b < e && (*b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	return b;
}

int bt_csv_split(char *line, char **fields, int max)
{
	char *p = line;
	int n = 0;

	for (;;) {
		char *f, *w, c;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '`')
			p++;
		if (n >= max)
			return -EBADMSG;
		if (*p == '"') {
			f = w = ++p;
			for (;;) {
				if (*p == '\0')
					return -EBADMSG;
				if (*p == '"' && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*w++ = *p++;
				}
			}
			while (*p == ' ' || *p == '\t')
				p++;
			c = *p;
			if (c != ',' && c != '\0')
				return -EBADMSG;
			*w = '\0';
			fields[n++] = f;
		} else {
			char *e = p + strcspn(p, ",");

			f = p;
			c = *e;
			p = e;
			fields[n++] =
				trim(f, e); /* writes a NUL at or before e */
		}
		if (c != ',')
			break;
		p++;
	}
	return n;
}

int bt_field_index(char *const *fields, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(fields[i], name) == 0)
			return i;
	return -1;
}

int bt_decimal(const char *s, int scale, int64_t *out)
{
	int64_t v = 0;
	int neg = 0, digits = 0, decimals = -1;

	if (!s)
		return -EBADMSG;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	for (; *s; s++) {
		if (*s == '.') {
			if (decimals >= 0)
				return -EBADMSG;
			decimals = 0;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -EBADMSG;
		if (decimals >= 0 && ++decimals > scale)
			return -EBADMSG;
		if (v > (INT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (*s - '0');
		digits++;
	}
	if (!digits || decimals == 0)
		return -EBADMSG;
	for (int i = decimals < 0 ? 0 : decimals; i < scale; i++) {
		if (v > INT64_MAX / 10)
			return -EBADMSG;
		v *= 10;
	}
	*out = neg ? -v : v;
	return 0;
}

int64_t bt_round(int64_t v, int from, int to)
{
	int64_t d = 1;

	for (int i = to; i < from; i++)
		d *= 10;
	if (v >= 0)
		return (v + d / 2) / d;
	return -((-v + d / 2) / d);
}

int bt_time(const char *s, int offset_min, int64_t *ms)
{
	int y, mo, d, h, mi, se, n = 0;
	struct tm tm = { 0 };
	time_t t;

	if (!s || (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
			  &se, &n) != 6 &&
		   sscanf(s, "%4d/%2d/%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
			  &se, &n) != 6))
		return -EBADMSG;
	if (s[n] != '\0' || y < 1970 || y > 9999 || mo < 1 || mo > 12 ||
	    d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || h < 0 ||
	    mi < 0 || se < 0)
		return -EBADMSG;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EBADMSG;
	*ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000;
	return 0;
}

int bt_copy(char *dst, size_t dstlen, const char *src, int required)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= dstlen || (required && n == 0))
		return -EBADMSG;
	memcpy(dst, src ? src : "", n + 1);
	return 0;
}
