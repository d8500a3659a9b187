/*
 * alipay_bill.c - Alipay's trade bill, read row by row (alipay_bill.h).
 *
 * The file is a zip (read with libzip: Alipay writes it with data
 * descriptors and GBK names, which libzip handles; it needs a seekable
 * file, which is why the core spools the download to disk) of GBK CSV
 * files. The detail file reads:
 *
 *   #支付宝业务明细查询
 *   #账号：[2088...]
 *   #起始日期：[2026年12月06日 00:00:00]   终止日期：[...]
 *   #-----------------业务明细列表-----------------
 *   支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,...,
 *       订单金额（元）,商家实收（元）,...,退款批次号/请求号,服务费（元）,...
 *   2026120622001...	,P7a...	,交易	,...
 *   #-----------------业务明细列表结束-----------------
 *   #交易合计：2笔，商家实收共：300.00元，商家优惠共：0.00元
 *   #退款合计：1笔，商家实收共：-50.00元，商家优惠共：0.00元
 *   #导出时间：[2026年12月07日 09:12:34]
 *
 * Fields carry trailing tabs (Alipay's, to keep spreadsheets from reading
 * long numbers as numbers); columns are found by their header names.
 * A 交易 row is a payment: amount 订单金额, fee minus 服务费 (Alipay
 * writes a charge negative). A 退款 row is a refund of the payment
 * 商户订单号: refund id 退款批次号/请求号, amount minus 商家实收, fee minus
 * 服务费 (a fee given back is positive there). Other business types
 * (收费, 分账...) are not orders and are skipped. Times are Beijing's.
 * At the end the counts and 商家实收 totals of both summary lines must be
 * the rows'.
 */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#include "alipay_bill.h"
#include "billtext.h"

#define MAX_FIELDS 64
#define BEIJING_MIN 480

enum col {
	C_TRADE_NO,
	C_ORDER,
	C_TYPE,
	C_FINISHED,
	C_AMOUNT,
	C_RECEIVED,
	C_REFUND_NO,
	C_FEE,
	N_COLS
};

static const char *const col_names[N_COLS] = {
	"支付宝交易号",	  "商户订单号",	    "业务类型",		 "完成时间",
	"订单金额（元）", "商家实收（元）", "退款批次号/请求号", "服务费（元）",
};

struct tally {
	int64_t count, received;
};

struct alipay_bill {
	zip_t *zip;
	zip_file_t *file;
	struct bt_lines lines;
	int col[N_COLS];
	int have_header, in_trailer, done;
	struct tally rows[2], said[2]; /* [0] trades, [1] refunds */
	int said_seen[2];
};

static long zip_read_fn(void *src, void *buf, size_t len)
{
	zip_int64_t n = zip_fread(src, buf, len);

	return n < 0 ? -EIO : (long)n;
}

/* The entry's name in UTF-8 (names are GBK) into out. */
static void entry_name(const char *raw, char *out, size_t outlen)
{
	iconv_t cd = iconv_open("UTF-8", "GB18030");
	char *in = (char *)raw, *o = out;
	size_t inleft = strlen(raw), outleft = outlen - 1;

	if (cd == (iconv_t)-1 ||
	    iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1)
		snprintf(out, outlen, "%s", raw);
	else
		*o = '\0';
	if (cd != (iconv_t)-1)
		iconv_close(cd);
}

int alipay_bill_open(int fd, struct alipay_bill **out, char *err, size_t errlen)
{
	struct alipay_bill *b;
	zip_int64_t n, pick = -1;
	int zerr = 0, fd2, rc;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	fd2 = dup(fd);
	if (fd2 < 0 || lseek(fd2, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "bill: cannot read the file");
		if (fd2 >= 0)
			close(fd2);
		free(b);
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
	n = zip_get_num_entries(b->zip, 0);
	for (zip_int64_t i = 0; i < n; i++) {
		const char *raw =
			zip_get_name(b->zip, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
		char name[1024];
		size_t len;

		if (!raw)
			continue;
		entry_name(raw, name, sizeof(name));
		len = strlen(name);
		if (len < 4 || strcmp(name + len - 4, ".csv") != 0 ||
		    strstr(name, "汇总"))
			continue;
		if (pick >= 0) {
			snprintf(err, errlen,
				 "bill: the zip holds two detail files");
			rc = -EBADMSG;
			goto fail;
		}
		pick = i;
	}
	if (pick < 0) {
		snprintf(err, errlen, "bill: the zip holds no detail file");
		rc = -EBADMSG;
		goto fail;
	}
	b->file = zip_fopen_index(b->zip, (zip_uint64_t)pick, 0);
	if (!b->file) {
		snprintf(err, errlen, "bill: cannot open the detail file: %s",
			 zip_strerror(b->zip));
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
	alipay_bill_close(b);
	return rc;
}

void alipay_bill_close(struct alipay_bill *b)
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

static int header(struct alipay_bill *b, char *line, char *err, size_t errlen)
{
	char *f[MAX_FIELDS];
	int n = bt_csv_split(line, f, MAX_FIELDS);

	if (n < 0) {
		snprintf(err, errlen, "bill line %llu: a broken header",
			 (unsigned long long)b->lines.line_no);
		return -EBADMSG;
	}
	for (int c = 0; c < N_COLS; c++) {
		b->col[c] = bt_field_index(f, n, col_names[c]);
		if (b->col[c] < 0) {
			snprintf(err, errlen,
				 "bill line %llu: no column %s in the header",
				 (unsigned long long)b->lines.line_no,
				 col_names[c]);
			return -EBADMSG;
		}
	}
	b->have_header = 1;
	return 0;
}

/* "#交易合计：2笔，商家实收共：300.00元，..." */
static int summary(struct alipay_bill *b, const char *line, char *err,
		   size_t errlen)
{
	static const char *const what[2] = { "#交易合计：", "#退款合计：" };
	const char *p, *q;
	char amount[64];
	int k;
	char *end;

	for (k = 0; k < 2; k++)
		if (strncmp(line, what[k], strlen(what[k])) == 0)
			break;
	if (k == 2)
		return 0; /* the list's end, the export time */
	p = line + strlen(what[k]);
	b->said[k].count = strtoll(p, &end, 10);
	if (end == p || strncmp(end, "笔", strlen("笔")) != 0)
		goto bad;
	p = strstr(end, "商家实收共：");
	if (!p)
		goto bad;
	p += strlen("商家实收共：");
	q = strstr(p, "元");
	if (!q || (size_t)(q - p) >= sizeof(amount))
		goto bad;
	memcpy(amount, p, (size_t)(q - p));
	amount[q - p] = '\0';
	if (bt_decimal(amount, 2, &b->said[k].received) < 0)
		goto bad;
	b->said_seen[k] = 1;
	return 0;
bad:
	snprintf(err, errlen, "bill line %llu: a summary line not understood",
		 (unsigned long long)b->lines.line_no);
	return -EBADMSG;
}

static int check_end(struct alipay_bill *b, char *err, size_t errlen)
{
	static const char *const what[2] = { "trades", "refunds" };

	if (!b->have_header) {
		snprintf(err, errlen, "bill: no header line");
		return -EBADMSG;
	}
	for (int k = 0; k < 2; k++) {
		if (!b->said_seen[k]) {
			snprintf(err, errlen, "bill: no summary line of %s",
				 what[k]);
			return -EBADMSG;
		}
		if (b->said[k].count != b->rows[k].count ||
		    b->said[k].received != b->rows[k].received) {
			snprintf(err, errlen,
				 "bill: the summary says %lld %s, %lld fen; "
				 "the rows are %lld, %lld fen",
				 (long long)b->said[k].count, what[k],
				 (long long)b->said[k].received,
				 (long long)b->rows[k].count,
				 (long long)b->rows[k].received);
			return -EBADMSG;
		}
	}
	return 0;
}

static int row_of(struct alipay_bill *b, char *line,
		  struct payroute_bill_row *row, char *err, size_t errlen)
{
	char *f[MAX_FIELDS];
	int n = bt_csv_split(line, f, MAX_FIELDS), k;
	int64_t received, fee;
	const char *type;

	if (n < 0)
		goto bad;
	for (int c = 0; c < N_COLS; c++)
		if (b->col[c] >= n)
			goto bad;
	type = f[b->col[C_TYPE]];
	if (strcmp(type, "交易") == 0)
		k = 0;
	else if (strcmp(type, "退款") == 0)
		k = 1;
	else
		return 0; /* not an order */
	row->kind = k == 0 ? PAYROUTE_KIND_PAYMENT : PAYROUTE_KIND_REFUND;
	if (bt_copy(row->channel_trade_no, sizeof(row->channel_trade_no),
		    f[b->col[C_TRADE_NO]], 1) < 0 ||
	    bt_copy(row->order_id, sizeof(row->order_id), f[b->col[C_ORDER]],
		    1) < 0 ||
	    bt_copy(row->refund_id, sizeof(row->refund_id),
		    k ? f[b->col[C_REFUND_NO]] : "", k) < 0 ||
	    bt_decimal(f[b->col[C_RECEIVED]], 2, &received) < 0 ||
	    bt_decimal(f[b->col[C_FEE]][0] ? f[b->col[C_FEE]] : "0", 2, &fee) <
		    0 ||
	    bt_time(f[b->col[C_FINISHED]], BEIJING_MIN, &row->at_ms) < 0)
		goto bad;
	if (k == 0) {
		if (bt_decimal(f[b->col[C_AMOUNT]], 2, &row->amount) < 0)
			goto bad;
	} else {
		row->amount = -received;
	}
	if (row->amount <= 0)
		goto bad;
	row->fee = -fee;
	memcpy(row->currency, "CNY", 4);
	snprintf(row->status, sizeof(row->status), "%s", type);
	row->effect = PAYROUTE_EFFECT_SUCCESS;
	row->line = b->lines.line_no;
	if (__builtin_add_overflow(b->rows[k].received, received,
				   &b->rows[k].received))
		goto bad; /* no real bill sums past 2^63 fen */
	b->rows[k].count++;
	return 1;
bad:
	snprintf(err, errlen, "bill line %llu: a row not understood",
		 (unsigned long long)b->lines.line_no);
	return -EBADMSG;
}

int alipay_bill_next(struct alipay_bill *b, struct payroute_bill_row *row,
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
			return check_end(b, err, errlen);
		}
		if (line[0] == '\0')
			continue;
		if (line[0] == '#') {
			if (b->have_header)
				b->in_trailer = 1;
			if (b->in_trailer) {
				rc = summary(b, line, err, errlen);
				if (rc < 0) {
					b->done = 1;
					return rc;
				}
			}
			continue;
		}
		if (b->in_trailer) {
			b->done = 1;
			snprintf(err, errlen,
				 "bill line %llu: a row after the summary",
				 (unsigned long long)b->lines.line_no);
			return -EBADMSG;
		}
		if (!b->have_header) {
			rc = header(b, line, err, errlen);
		} else {
			rc = row_of(b, line, row, err, errlen);
			if (rc == 1)
				return 1;
		}
		if (rc < 0) {
			b->done = 1;
			return rc;
		}
	}
}
