/*
 * bank_bill.c - the bank's settlement file, read row by row (bank_bill.h).
 *
 * UnionPay-style: the file transfer of the day's settlement (fileType 00)
 * gives a zip (read with libzip) holding one GBK text file of fixed-width
 * records, one per line, fields separated by one space:
 *
 *   offset width  field
 *        0     3  交易代码: S22 consume (payment), S30 return (refund),
 *                 S46 代付 (payout); HDR and TRL open and close the file
 *        4    21  查询流水号 queryId (the channel's number)
 *       26    14  交易传输时间 yyyyMMddHHmmss, Beijing
 *       41    12  交易金额, fen, zero-padded
 *       54    13  手续费: D (charged to the merchant) or C (given back)
 *                 and 12 digits of fen
 *       68    40  商户订单号 orderId, space-padded (a refund's: the
 *                 refund's id)
 *      109    40  原始订单号 origOrderId: a refund's payment, else blank
 *      150     2  应答码 respCode (00: settled)
 *      153     -  商户名称 (GBK text, to the end of the line)
 *
 *   HDR <merId, 15> <settle date yyyyMMdd>
 *   TRL <record count, 10 digits> <sum of 交易金额, 16 digits>
 *
 * The trailer must count the records and their amounts. Settled rows
 * (respCode 00) have effect success, others failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <zip.h>

#include "bank_bill.h"
#include "billtext.h"

#define BEIJING_MIN 480
#define REC_MIN 152

struct bank_bill {
	zip_t *zip;
	zip_file_t *file;
	struct bt_lines lines;
	int have_header, have_trailer, done;
	int64_t count, total;
};

static long zip_read_fn(void *src, void *buf, size_t len)
{
	zip_int64_t n = zip_fread(src, buf, len);

	return n < 0 ? -EIO : (long)n;
}

static int check_digest(const struct payroute_services *svc, const char *alg,
			const char *want, int fd, char *err, size_t errlen)
{
	char buf[65536], got[136];
	void *h;
	ssize_t n;
	int rc;

	if (!alg || strcasecmp(alg, "SHA256") != 0 || !PAYROUTE_HAS_HASH(svc)) {
		snprintf(err, errlen, "bill: cannot check a %s digest",
			 alg ? alg : "(none)");
		return -ENOTSUP;
	}
	h = svc->hash_begin(PAYROUTE_HASH_SHA256);
	if (!h)
		return -ENOMEM;
	if (lseek(fd, 0, SEEK_SET) < 0)
		n = -1;
	else
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			svc->hash_update(h, buf, (size_t)n);
	if (n < 0) {
		svc->hash_end(h, NULL, 0);
		snprintf(err, errlen, "bill: cannot read the file");
		return -EIO;
	}
	rc = svc->hash_end(h, got, sizeof(got));
	if (rc < 0 || strcasecmp(got, want) != 0) {
		snprintf(err, errlen,
			 "bill: SHA-256 %s, but the bank announced %s",
			 rc < 0 ? "?" : got, want);
		return -EBADMSG;
	}
	return 0;
}

int bank_bill_open(const struct payroute_services *svc, const char *hash_alg,
		   const char *hash_hex, int fd, struct bank_bill **out,
		   char *err, size_t errlen)
{
	struct bank_bill *b;
	int zerr = 0, fd2, rc;

	*out = NULL;
	if (svc && hash_hex && hash_hex[0]) {
		rc = check_digest(svc, hash_alg, hash_hex, fd, err, errlen);
		if (rc < 0)
			return rc;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	fd2 = dup(fd);
	if (fd2 < 0 || lseek(fd2, 0, SEEK_SET) < 0) {
		if (fd2 >= 0)
			close(fd2);
		free(b);
		snprintf(err, errlen, "bill: cannot read the file");
		return -EIO;
	}
	b->zip = zip_fdopen(fd2, ZIP_RDONLY, &zerr);
	if (!b->zip) {
		close(fd2);
		snprintf(err, errlen, "bill: not a zip (libzip error %d)",
			 zerr);
		rc = -EBADMSG;
		goto fail;
	}
	if (zip_get_num_entries(b->zip, 0) != 1) {
		snprintf(err, errlen, "bill: the zip must hold one file");
		rc = -EBADMSG;
		goto fail;
	}
	b->file = zip_fopen_index(b->zip, 0, 0);
	if (!b->file) {
		snprintf(err, errlen, "bill: cannot open the file in the zip");
		rc = -EBADMSG;
		goto fail;
	}
	rc = bt_lines_init(&b->lines, zip_read_fn, b->file, 1);
	if (rc < 0) {
		snprintf(err, errlen, "bill: %s", strerror(-rc));
		goto fail;
	}
	*out = b;
	return 0;
fail:
	bank_bill_close(b);
	return rc;
}

void bank_bill_close(struct bank_bill *b)
{
	if (!b)
		return;
	bt_lines_free(&b->lines);
	if (b->file)
		zip_fclose(b->file);
	if (b->zip)
		zip_discard(b->zip);
	free(b);
}

/* Copies the field at [off, off + width) of line, trimmed of spaces. */
static void field(const char *line, size_t off, size_t width, char *out,
		  size_t outlen)
{
	size_t b = off, e = off + width;

	while (b < e && line[b] == ' ')
		b++;
	while (e > b && line[e - 1] == ' ')
		e--;
	if (e - b >= outlen)
		e = b + outlen - 1;
	memcpy(out, line + b, e - b);
	out[e - b] = '\0';
}

static int digits(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int record(struct bank_bill *b, const char *line,
		  struct payroute_bill_row *row)
{
	char t[16], when[24], orig[48];
	int64_t fee;

	if (strlen(line) < REC_MIN)
		return -EBADMSG;
	for (size_t i = 0; i < REC_MIN; i++)
		if ((unsigned char)line[i] >= 0x80)
			return -EBADMSG;
	field(line, 0, 3, t, sizeof(t));
	if (strcmp(t, "S22") == 0)
		row->kind = PAYROUTE_KIND_PAYMENT;
	else if (strcmp(t, "S30") == 0)
		row->kind = PAYROUTE_KIND_REFUND;
	else if (strcmp(t, "S46") == 0)
		row->kind = PAYROUTE_KIND_PAYOUT;
	else
		return -EBADMSG;
	field(line, 4, 21, row->channel_trade_no,
	      sizeof(row->channel_trade_no));
	field(line, 26, 14, t, sizeof(t));
	if (strlen(t) != 14)
		return -EBADMSG;
	snprintf(when, sizeof(when), "%.4s-%.2s-%.2s %.2s:%.2s:%.2s", t, t + 4,
		 t + 6, t + 8, t + 10, t + 12);
	if (bt_time(when, BEIJING_MIN, &row->at_ms) < 0 ||
	    digits(line + 41, 12, &row->amount) < 0 || row->amount <= 0 ||
	    (line[54] != 'D' && line[54] != 'C') ||
	    digits(line + 55, 12, &fee) < 0)
		return -EBADMSG;
	row->fee = line[54] == 'D' ? fee : -fee;
	field(line, 109, 40, orig, sizeof(orig));
	if (row->kind == PAYROUTE_KIND_REFUND) {
		field(line, 68, 40, row->refund_id, sizeof(row->refund_id));
		snprintf(row->order_id, sizeof(row->order_id), "%s", orig);
	} else {
		field(line, 68, 40, row->order_id, sizeof(row->order_id));
		if (orig[0])
			return -EBADMSG;
	}
	if (!row->channel_trade_no[0] || !row->order_id[0] ||
	    (row->kind == PAYROUTE_KIND_REFUND && !row->refund_id[0]))
		return -EBADMSG;
	field(line, 150, 2, row->status, sizeof(row->status));
	row->effect = strcmp(row->status, "00") == 0 ? PAYROUTE_EFFECT_SUCCESS :
						       PAYROUTE_EFFECT_FAILED;
	memcpy(row->currency, "CNY", 4);
	row->line = b->lines.line_no;
	if (__builtin_add_overflow(b->total, row->amount, &b->total))
		return -EBADMSG; /* the trailer's 16 digits cannot say it */
	b->count++;
	return 1;
}

static int trailer(struct bank_bill *b, const char *line)
{
	int64_t count, total;

	if (strlen(line) != 31 || line[3] != ' ' || line[14] != ' ' ||
	    digits(line + 4, 10, &count) < 0 ||
	    digits(line + 15, 16, &total) < 0)
		return -EBADMSG;
	if (count != b->count || total != b->total)
		return -ERANGE;
	b->have_trailer = 1;
	return 0;
}

int bank_bill_next(struct bank_bill *b, struct payroute_bill_row *row,
		   char *err, size_t errlen)
{
	char *line;
	int rc;

	if (b->done) {
		snprintf(err, errlen, "bill: read past its end");
		return -EINVAL;
	}
	for (;;) {
		rc = bt_lines_next(&b->lines, &line);
		if (rc < 0) {
			b->done = 1;
			snprintf(err, errlen, "bill line %llu: %s",
				 (unsigned long long)b->lines.line_no + 1,
				 rc == -EBADMSG ? "not GBK text, or too long" :
						  "cannot be read");
			return rc == -EBADMSG ? rc : -EIO;
		}
		if (rc == 0) {
			b->done = 1;
			if (!b->have_trailer) {
				snprintf(err, errlen, "bill: no %s line",
					 b->have_header ? "TRL" : "HDR");
				return -EBADMSG;
			}
			return 0;
		}
		if (line[0] == '\0')
			continue;
		if (b->have_trailer) {
			rc = -EBADMSG;
		} else if (!b->have_header) {
			rc = strncmp(line, "HDR ", 4) == 0 ? 0 : -EBADMSG;
			b->have_header = rc == 0;
		} else if (strncmp(line, "TRL", 3) == 0) {
			rc = trailer(b, line);
			if (rc == -ERANGE) {
				b->done = 1;
				snprintf(err, errlen,
					 "bill line %llu: the trailer does "
					 "not count the %lld records of %lld "
					 "fen",
					 (unsigned long long)b->lines.line_no,
					 (long long)b->count,
					 (long long)b->total);
				return -EBADMSG;
			}
		} else {
			rc = record(b, line, row);
			if (rc == 1)
				return 1;
		}
		if (rc < 0) {
			b->done = 1;
			snprintf(err, errlen,
				 "bill line %llu: a record not understood",
				 (unsigned long long)b->lines.line_no);
			return -EBADMSG;
		}
	}
}
