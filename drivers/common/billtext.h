/*
 * billtext.h - what the drivers' bill readers (ABI 1.3) share: a line
 * reader over any byte source (a member of a zip, a gzip stream, a plain
 * file), CSV fields split in place (quotes, the tabs and backticks channels
 * pad their fields with), GBK to UTF-8 (glibc's iconv, as GB18030, GBK's
 * superset), decimal amounts to minor units and Beijing wall-clock times
 * to the epoch.
 *
 * Nothing here allocates per row: a reader holds one line buffer and
 * hands out lines that stay valid until the next call.
 */
#ifndef PR_BILLTEXT_H
#define PR_BILLTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Reads up to len bytes into buf: returns the count, 0 at the end, or a
 * negative errno-style code. */
typedef long (*bt_read_fn)(void *src, void *buf, size_t len);

/* The longest line a bill may have; a longer one is -EBADMSG. */
#define BT_MAX_LINE 16384

struct bt_lines {
	bt_read_fn read;
	void *src;
	char *buf;	   /* BT_MAX_LINE * 2 bytes, owned */
	size_t start, end; /* unread bytes are buf[start, end) */
	int eof;
	uint64_t line_no; /* of the line last returned, from 1 */
	/* GBK -> UTF-8 converter (iconv_t) when opened with gbk, and its
	 * output buffer (owned) */
	void *cd;
	char *utf8;
};

/* Starts reading lines from src. gbk: the text is GBK (converted to UTF-8
 * line by line). Returns 0, -ENOMEM, or -ENOTSUP when this libc has no
 * GBK converter. */
int bt_lines_init(struct bt_lines *l, bt_read_fn read, void *src, int gbk);
void bt_lines_free(struct bt_lines *l);

/* The next line, without its CR LF or LF, NUL-terminated, valid until the
 * next call: returns 1 and sets *line; 0 at the end; -EBADMSG for a line
 * longer than BT_MAX_LINE, a NUL in a line or text that is not GBK (resp.
 * not UTF-8); or what the source returned. A UTF-8 byte order mark before
 * the first line is skipped. */
int bt_lines_next(struct bt_lines *l, char **line);

/* Splits line (modified in place) at commas into at most max fields. A
 * field may be quoted ("a,b" and "" inside); spaces, tabs and a leading
 * backtick (WeChat Pay's) around a field are dropped. Returns the number
 * of fields, or -EBADMSG for more than max fields or a broken quote. */
int bt_csv_split(char *line, char **fields, int max);

/* Index of the field equal to name, or -1. */
int bt_field_index(char *const *fields, int n, const char *name);

/* Parses a decimal amount ("12.34", "-0.60", "1", "0.00600") into units
 * of 10^-scale (scale 2: fen from yuan). More decimals than scale are
 * -EBADMSG, as is anything that is not a number or would overflow. */
int bt_decimal(const char *s, int scale, int64_t *out);

/* Rounds a value of 10^-from units to 10^-to units (to < from), half away
 * from zero. */
int64_t bt_round(int64_t v, int from, int to);

/* Parses "YYYY-MM-DD hh:mm:ss" (or "YYYY/MM/DD hh:mm:ss") of a wall clock
 * offset_min minutes ahead of UTC (Beijing: 480) into ms since the epoch.
 * Returns 0 or -EBADMSG. */
int bt_time(const char *s, int offset_min, int64_t *ms);

/* Copies src into the fixed-size dst; -EBADMSG when it does not fit or
 * is empty and required. */
int bt_copy(char *dst, size_t dstlen, const char *src, int required);

#endif
