/*
 * wechat_bill.c - WeChat Pay's trade bill, read row by row
 * (wechat_bill.h).
 *
 * GET /v3/bill/tradebill answers a download_url and the SHA1 of the bill
 * (hash_value: of the bill itself, before gzip). The download is a gzip
 * (zlib's gzdopen reads it as a stream) of UTF-8 CSV:
 *
 *   交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,
 *       用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,
 *       代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,
 *       退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,
 *       申请退款金额,费率备注
 *   `2026-12-06 10:00:00,`wx...,`1900000001,`0,`,`4200...,`P7a...,...
 *   总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,
 *       订单总金额,申请退款总金额
 *   `3,`3.00,`0.50,`0.00,`0.01800,`3.00,`0.50
 *
 * Every field starts with a backtick. Columns are found by name. A row
 * whose 交易状态 is SUCCESS is a paid payment (amount 订单金额), REVOKED a
 * revoked one (effect closed), REFUND a refund of 商户订单号: refund id
 * 商户退款单号, channel number 微信退款单号, amount 退款金额, effect by
 * 退款状态 (SUCCESS, PROCESSING, else failed). 手续费 has five decimals
 * (yuan); the row's fee is rounded half away from zero to fen, the totals
 * are checked on the five decimals. At the end: 总交易单数 is the number of
 * rows, 应结订单总金额 the sum of 应结订单金额 over SUCCESS rows,
 * 退款总金额 the sum of 退款金额, 手续费总金额 the sum of 手续费, and the
 * SHA1 of the decompressed bytes is hash_value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <zlib.h>

#include "billtext.h"
#include "wechat_bill.h"

#define MAX_FIELDS 64
#define BEIJING_MIN 480

enum col {
	C_TIME,
	C_TRADE_NO,
	C_ORDER,
	C_STATE,
	C_CURRENCY,
	C_SETTLE,
	C_REFUND_TRADE_NO,
	C_REFUND_NO,
	C_REFUND_AMOUNT,
	C_REFUND_STATE,
	C_FEE,
	C_AMOUNT,
	N_COLS
};

static const char *const col_names[N_COLS] = {
	"交易时间", "微信订单号",   "商户订单号",   "交易状态",
	"货币种类", "应结订单金额", "微信退款单号", "商户退款单号",
	"退款金额", "退款状态",	    "手续费",	    "订单金额",
};

enum sum_col { S_COUNT, S_SETTLE, S_REFUND, S_FEE, N_SUMS };
static const char *const sum_names[N_SUMS] = { "总交易单数", "应结订单总金额",
					       "退款总金额", "手续费总金额" };

struct wechat_bill {
	const struct payroute_services *svc;
	gzFile gz;
	void *hash;
	char want_hash[136];
	struct bt_lines lines;
	int col[N_COLS];
	int sum_col[N_SUMS];
	int have_header, sum_header, sum_row, done;
	int64_t count, settle, refund, fee5; /* of the rows */
};

static long gz_read_fn(void *src, void *buf, size_t len)
{
	struct wechat_bill *b = src;
	int n;

	if (len > (1u << 30))
		len = 1u << 30;
	n = gzread(b->gz, buf, (unsigned)len);
	if (n < 0 || (n > 0 && gzdirect(b->gz)))
		return -EBADMSG; /* broken, or not gzip at all */
	if (n > 0 && b->hash &&
	    b->svc->hash_update(b->hash, buf, (size_t)n) < 0)
		return -EIO;
	return n;
}

int wechat_bill_open(const struct payroute_services *svc, const char *hash_alg,
		     const char *hash_hex, int fd, struct wechat_bill **out,
		     char *err, size_t errlen)
{
	struct wechat_bill *b;
	int fd2, rc;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->svc = svc;
	if (svc && hash_hex && hash_hex[0]) {
		if (!hash_alg || strcasecmp(hash_alg, "SHA1") != 0 ||
		    !PAYROUTE_HAS_HASH(svc)) {
			snprintf(err, errlen, "bill: cannot check a %s digest",
				 hash_alg ? hash_alg : "(none)");
			free(b);
			return -ENOTSUP;
		}
		if (strlen(hash_hex) >= sizeof(b->want_hash)) {
			snprintf(err, errlen, "bill: the digest is too long");
			free(b);
			return -EBADMSG;
		}
		snprintf(b->want_hash, sizeof(b->want_hash), "%s", hash_hex);
		b->hash = svc->hash_begin(PAYROUTE_HASH_SHA1);
		if (!b->hash) {
			free(b);
			return -ENOMEM;
		}
	}
	fd2 = dup(fd);
	if (fd2 < 0 || lseek(fd2, 0, SEEK_SET) < 0 ||
	    !(b->gz = gzdopen(fd2, "rb"))) {
		if (fd2 >= 0)
			close(fd2);
		snprintf(err, errlen, "bill: cannot read the file");
		rc = -EIO;
		goto fail;
	}
	rc = bt_lines_init(&b->lines, gz_read_fn, b, 0);
	if (rc < 0) {
		snprintf(err, errlen, "bill: %s", strerror(-rc));
		goto fail;
	}
	*out = b;
	return 0;
fail:
	wechat_bill_close(b);
	return rc;
}

void wechat_bill_close(struct wechat_bill *b)
{
	if (!b)
		return;
	bt_lines_free(&b->lines);
	if (b->gz)
		gzclose(b->gz);
	if (b->hash)
		b->svc->hash_end(b->hash, NULL, 0);
	free(b);
}

static int find_cols(char **f, int n, const char *const *names, int *cols,
		     int ncols, const char **missing)
{
	for (int c = 0; c < ncols; c++) {
		cols[c] = bt_field_index(f, n, names[c]);
		if (cols[c] < 0) {
			*missing = names[c];
			return -EBADMSG;
		}
	}
	return 0;
}

static int check_end(struct wechat_bill *b, char *err, size_t errlen)
{
	char got[136];

	if (!b->have_header || !b->sum_row) {
		snprintf(err, errlen, "bill: %s",
			 b->have_header ? "no summary" : "no header line");
		return -EBADMSG;
	}
	if (b->hash) {
		int rc = b->svc->hash_end(b->hash, got, sizeof(got));

		b->hash = NULL;
		if (rc < 0 || strcasecmp(got, b->want_hash) != 0) {
			snprintf(err, errlen,
				 "bill: SHA1 %s, but WeChat Pay announced %s",
				 rc < 0 ? "?" : got, b->want_hash);
			return -EBADMSG;
		}
	}
	return 0;
}

static int sums(struct wechat_bill *b, char **f, int n, char *err,
		size_t errlen)
{
	int64_t v[N_SUMS];

	for (int s = 0; s < N_SUMS; s++) {
		int c = b->sum_col[s];

		if (c >= n || bt_decimal(f[c],
					 s == S_COUNT ? 0 :
					 s == S_FEE   ? 5 :
							2,
					 &v[s]) < 0) {
			snprintf(err, errlen,
				 "bill line %llu: %s not understood",
				 (unsigned long long)b->lines.line_no,
				 sum_names[s]);
			return -EBADMSG;
		}
	}
	if (v[S_COUNT] != b->count || v[S_SETTLE] != b->settle ||
	    v[S_REFUND] != b->refund || v[S_FEE] != b->fee5) {
		snprintf(err, errlen,
			 "bill line %llu: the summary (%lld rows, %lld fen "
			 "settled, %lld refunded, fee %lld e-5 yuan) is not "
			 "the rows' (%lld, %lld, %lld, %lld)",
			 (unsigned long long)b->lines.line_no,
			 (long long)v[S_COUNT], (long long)v[S_SETTLE],
			 (long long)v[S_REFUND], (long long)v[S_FEE],
			 (long long)b->count, (long long)b->settle,
			 (long long)b->refund, (long long)b->fee5);
		return -EBADMSG;
	}
	b->sum_row = 1;
	return 0;
}

static int row_of(struct wechat_bill *b, char **f, int n,
		  struct payroute_bill_row *row, char *err, size_t errlen)
{
	const char *state, *rstate;
	int64_t fee5, settle;

	for (int c = 0; c < N_COLS; c++)
		if (b->col[c] >= n)
			goto bad;
	state = f[b->col[C_STATE]];
	if (bt_copy(row->order_id, sizeof(row->order_id), f[b->col[C_ORDER]],
		    1) < 0 ||
	    bt_time(f[b->col[C_TIME]], BEIJING_MIN, &row->at_ms) < 0 ||
	    bt_decimal(f[b->col[C_FEE]], 5, &fee5) < 0 ||
	    bt_decimal(f[b->col[C_SETTLE]], 2, &settle) < 0 ||
	    bt_copy(row->currency, sizeof(row->currency), f[b->col[C_CURRENCY]],
		    1) < 0 ||
	    bt_copy(row->status, sizeof(row->status), state, 1) < 0)
		goto bad;
	if (strcmp(state, "SUCCESS") == 0 || strcmp(state, "REVOKED") == 0) {
		row->kind = PAYROUTE_KIND_PAYMENT;
		row->effect = state[0] == 'S' ? PAYROUTE_EFFECT_SUCCESS :
						PAYROUTE_EFFECT_CLOSED;
		if (bt_copy(row->channel_trade_no,
			    sizeof(row->channel_trade_no),
			    f[b->col[C_TRADE_NO]], 1) < 0 ||
		    bt_decimal(f[b->col[C_AMOUNT]], 2, &row->amount) < 0)
			goto bad;
		if (state[0] == 'S' &&
		    __builtin_add_overflow(b->settle, settle, &b->settle))
			goto bad;
	} else if (strcmp(state, "REFUND") == 0) {
		row->kind = PAYROUTE_KIND_REFUND;
		rstate = f[b->col[C_REFUND_STATE]];
		row->effect = strcmp(rstate, "SUCCESS") == 0 ?
				      PAYROUTE_EFFECT_SUCCESS :
			      strcmp(rstate, "PROCESSING") == 0 ?
				      PAYROUTE_EFFECT_PROCESSING :
				      PAYROUTE_EFFECT_FAILED;
		if (bt_copy(row->channel_trade_no,
			    sizeof(row->channel_trade_no),
			    f[b->col[C_REFUND_TRADE_NO]], 1) < 0 ||
		    bt_copy(row->refund_id, sizeof(row->refund_id),
			    f[b->col[C_REFUND_NO]], 1) < 0 ||
		    bt_decimal(f[b->col[C_REFUND_AMOUNT]], 2, &row->amount) <
			    0 ||
		    snprintf(row->status, sizeof(row->status), "REFUND/%s",
			     rstate) >= (int)sizeof(row->status))
			goto bad;
		if (__builtin_add_overflow(b->refund, row->amount, &b->refund))
			goto bad;
	} else {
		goto bad;
	}
	if (row->amount <= 0 || fee5 > INT64_MAX / 2 || fee5 < -INT64_MAX / 2)
		goto bad;
	row->fee = bt_round(fee5, 5, 2);
	if (__builtin_add_overflow(b->fee5, fee5, &b->fee5))
		goto bad; /* no real bill sums past 2^63 e-5 yuan */
	b->count++;
	row->line = b->lines.line_no;
	return 1;
bad:
	snprintf(err, errlen, "bill line %llu: a row not understood",
		 (unsigned long long)b->lines.line_no);
	return -EBADMSG;
}

int wechat_bill_next(struct wechat_bill *b, struct payroute_bill_row *row,
		     char *err, size_t errlen)
{
	char *line, *f[MAX_FIELDS];
	const char *missing = NULL;
	int rc, n;

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
				 rc == -EBADMSG ? "not UTF-8 text, too long, "
						  "or a broken gzip" :
						  "cannot be read");
			return rc == -EBADMSG ? rc : -EIO;
		}
		if (rc == 0) {
			b->done = 1;
			return check_end(b, err, errlen);
		}
		if (line[0] == '\0')
			continue;
		if (b->sum_row) {
			rc = -EBADMSG;
			snprintf(err, errlen,
				 "bill line %llu: a line after the summary",
				 (unsigned long long)b->lines.line_no);
			goto out;
		}
		n = bt_csv_split(line, f, MAX_FIELDS);
		if (n < 0) {
			rc = -EBADMSG;
			snprintf(err, errlen, "bill line %llu: broken CSV",
				 (unsigned long long)b->lines.line_no);
			goto out;
		}
		if (!b->have_header) {
			rc = find_cols(f, n, col_names, b->col, N_COLS,
				       &missing);
			b->have_header = rc == 0;
		} else if (!b->sum_header &&
			   bt_field_index(f, n, sum_names[S_COUNT]) >= 0) {
			rc = find_cols(f, n, sum_names, b->sum_col, N_SUMS,
				       &missing);
			b->sum_header = rc == 0;
		} else if (b->sum_header) {
			rc = sums(b, f, n, err, errlen);
		} else {
			rc = row_of(b, f, n, row, err, errlen);
			if (rc == 1)
				return 1;
		}
		if (missing)
			snprintf(err, errlen, "bill line %llu: no column %s",
				 (unsigned long long)b->lines.line_no, missing);
out:
		if (rc < 0) {
			b->done = 1;
			return rc;
		}
	}
}
