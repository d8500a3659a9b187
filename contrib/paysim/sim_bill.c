/*
 * sim_bill.c - the simulator's daily bills, written from its ledger in each
 * channel's own format (what drivers/X/X_bill.c read):
 *
 *   alipay  a zip of GBK CSVs: "<app_id>_<yyyyMMdd>_业务明细.csv" (交易 and
 *           退款 rows, trailing tabs, the #交易合计/#退款合计 lines) and
 *           "..._业务明细(汇总).csv";
 *   wechat  a gzip of the backtick CSV, its summary rows, and the SHA1 of
 *           the bill before gzip, as /v3/bill/tradebill announces it;
 *   bank    a zip of a GBK fixed-width settlement file (HDR, S22 / S30 /
 *           S46 records, TRL), and the SHA-256 of the zip.
 *
 * A bill of a day (Beijing) holds the merchant's paid orders (paid_ms that
 * day), finished refunds and, for the bank, finished payouts (done_ms that
 * day). The fee of a row is ceil(amount x fee_bps / 10000) (payroute's fee
 * model's rounding), fee_bps 60 unless scripted; a refund gives its share
 * back (a negative fee).
 *
 * Faults a test scripts (POST /_sim/bill_script, one script per channel,
 * replaced by the next, emptied by /_sim/reset):
 *   {"channel": "alipay" | "wechat" | "bank",
 *    "fee_bps": 60,
 *    "omit": [NO, ...],             leave these rows out (the merchant's
 *                                    order, refund or payout number)
 *    "amount": {NO: MINOR, ...},    write this amount instead
 *    "fee": {NO: MINOR, ...},       write this fee instead
 *    "extra": [{"order": NO, "amount": MINOR, "kind": "pay" | "refund",
 *               "refund": NO, "day": "YYYY-MM-DD"}],
 *                                    rows nobody sent us (a charge payroute
 *                                    never heard of), on that day
 *    "bulk": {"count": N, "prefix": P, "amount": MINOR, "day": D}}
 *                                    N more payment rows P00000001...
 *                                    (benchmarks), written as they go
 * The files go to a private temporary directory, one per bill asked for,
 * and are served by token (GET .../billfile?token=T); they are removed at
 * reset and exit.
 */
#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zip.h>
#include <zlib.h>

#include "runtime/crypto.h"
#include "runtime/log.h"
#include "sim.h"

#define BILL_DEFAULT_FEE_BPS 60

/* One row, as every format needs it. */
struct brow {
	int kind; /* 'p' payment, 'r' refund, 'w' payout */
	const char *trade_no, *order_no, *refund_no;
	int64_t amount, fee, at_ms;
};

struct bill_writer {
	enum sim_chan chan;
	const char *merchant, *day;
	FILE *text;		   /* alipay, bank: the GBK text before zip */
	gzFile gz;		   /* wechat */
	iconv_t cd;		   /* UTF-8 -> GB18030 */
	void *sha1;		   /* wechat: of the text */
	int64_t n[2], received[2]; /* alipay: trades, refunds */
	int64_t count, settle, refund_total, fee5, total;
	int failed;
};

static json_t *script(struct sim *s, enum sim_chan c)
{
	return s->bill_script[c];
}

int sim_bill_script_set(struct sim *s, json_t *req, char *err, size_t errlen)
{
	const char *ch = json_string_value(json_object_get(req, "channel"));
	int c = ch ? sim_chan_parse(ch) : -1;

	if (c < 0) {
		snprintf(err, errlen, "channel: alipay, wechat or bank");
		return -EINVAL;
	}
	json_decref(s->bill_script[c]);
	s->bill_script[c] = json_incref(req);
	return 0;
}

static int listed(json_t *arr, const char *key)
{
	size_t i;
	json_t *v;

	if (!key)
		return 0;
	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), key) == 0)
			return 1;
	}
	return 0;
}

static void wline(struct bill_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes one line (CR LF added): GBK into the text file, or UTF-8 into the
 * gzip and its digest. */
static void wline(struct bill_writer *w, const char *fmt, ...)
{
	char line[2048], gbk[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 2) {
		w->failed = 1;
		return;
	}
	line[n++] = '\r';
	line[n++] = '\n';
	if (w->gz) {
		if (gzwrite(w->gz, line, (unsigned)n) != n ||
		    pr_hash_update(w->sha1, line, (size_t)n) < 0)
			w->failed = 1;
		return;
	} else {
		char *in = line, *out = gbk;
		size_t inleft = (size_t)n, outleft = sizeof(gbk);

		iconv(w->cd, NULL, NULL, NULL, NULL);
		if (iconv(w->cd, &in, &inleft, &out, &outleft) == (size_t)-1 ||
		    fwrite(gbk, 1, sizeof(gbk) - outleft, w->text) !=
			    sizeof(gbk) - outleft)
			w->failed = 1;
	}
}

static void yuan(int64_t minor, char *buf, size_t len)
{
	snprintf(buf, len, "%s%" PRId64 ".%02" PRId64, minor < 0 ? "-" : "",
		 (minor < 0 ? -minor : minor) / 100,
		 (minor < 0 ? -minor : minor) % 100);
}

static void begin(struct bill_writer *w)
{
	char d8[9];

	snprintf(d8, sizeof(d8), "%.4s%.2s%.2s", w->day, w->day + 5,
		 w->day + 8);
	switch (w->chan) {
	case SIM_ALIPAY:
		wline(w, "#支付宝业务明细查询");
		wline(w, "#账号：[%s]", w->merchant);
		wline(w,
		      "#起始日期：[%.4s年%.2s月%.2s日 00:00:00]   终止日期：[%.4s年"
		      "%.2s月%.2s日 23:59:59]",
		      w->day, w->day + 5, w->day + 8, w->day, w->day + 5,
		      w->day + 8);
		wline(w,
		      "#-----------------------------------------业务明细列表"
		      "----------------------------------------");
		wline(w,
		      "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,"
		      "门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
		      "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
		      "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
		      "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注");
		break;
	case SIM_WECHAT:
		wline(w,
		      "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,"
		      "商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
		      "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
		      "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,"
		      "费率,订单金额,申请退款金额,费率备注");
		break;
	case SIM_BANK:
		wline(w, "HDR %-15s %s", w->merchant, d8);
		break;
	}
}

static void emit(struct bill_writer *w, const struct brow *r)
{
	char t[32], a[32], f[32], rec[32];

	sim_time_alipay(r->at_ms, t, sizeof(t));
	switch (w->chan) {
	case SIM_ALIPAY: {
		int k = r->kind == 'r';
		int64_t received = k ? -r->amount : r->amount;

		if (r->kind == 'w')
			return;
		yuan(k ? r->amount : r->amount, a, sizeof(a));
		yuan(received, rec, sizeof(rec));
		yuan(-r->fee, f, sizeof(f));
		wline(w,
		      "%s\t,%s\t,%s\t,\"商品, %s\"\t,%s\t,%s\t,\t,\t,\t,\t,"
		      "buy***@example.com\t,%s\t,%s\t,0.00\t,0.00\t,0.00\t,"
		      "0.00\t,0.00\t,\t,0.00\t,0.00\t,%s\t,%s\t,0.00\t,",
		      r->trade_no, r->order_no, k ? "退款" : "交易",
		      r->order_no, t, t, a, rec, k ? r->refund_no : "", f);
		w->n[k]++;
		w->received[k] += received;
		break;
	}
	case SIM_WECHAT: {
		int64_t fee5 = r->fee * 1000;
		char fee[40];

		if (r->kind == 'w')
			return;
		snprintf(fee, sizeof(fee), "%s%" PRId64 ".%05" PRId64,
			 fee5 < 0 ? "-" : "",
			 (fee5 < 0 ? -fee5 : fee5) / 100000,
			 (fee5 < 0 ? -fee5 : fee5) % 100000);
		yuan(r->amount, a, sizeof(a));
		if (r->kind == 'p')
			wline(w,
			      "`%s,`wx8888888888888888,`%s,`0,`,`%s,`%s,`oUser,"
			      "`NATIVE,`SUCCESS,`OTHERS,`CNY,`%s,`0.00,`0,`0,"
			      "`0.00,`0.00,`,`,`商品,`,`%s,`0.60%%,`%s,`0.00,`",
			      t, w->merchant, r->trade_no, r->order_no, a, fee,
			      a);
		else
			wline(w,
			      "`%s,`wx8888888888888888,`%s,`0,`,`%s,`%s,`oUser,"
			      "`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`%s,`%s,"
			      "`%s,`0.00,`ORIGINAL,`SUCCESS,`商品,`,`%s,`0.60%%,"
			      "`0.00,`%s,`",
			      t, w->merchant, r->trade_no, r->order_no,
			      r->trade_no, r->refund_no, a, fee, a);
		w->count++;
		if (r->kind == 'p')
			w->settle += r->amount;
		else
			w->refund_total += r->amount;
		w->fee5 += fee5;
		break;
	}
	case SIM_BANK: {
		char c14[16];

		sim_time_compact(r->at_ms, c14, sizeof(c14));
		wline(w,
		      "%-3s %-21s %-14s %012" PRId64 " %c%012" PRId64
		      " %-40s %-40s 00 模拟商户",
		      r->kind == 'p' ? "S22" :
		      r->kind == 'r' ? "S30" :
				       "S46",
		      r->trade_no, c14, r->amount, r->fee < 0 ? 'C' : 'D',
		      r->fee < 0 ? -r->fee : r->fee,
		      r->kind == 'r' ? r->refund_no : r->order_no,
		      r->kind == 'r' ? r->order_no : "");
		w->count++;
		w->total += r->amount;
		break;
	}
	}
}

static void end(struct bill_writer *w)
{
	char a[32], b[32];

	switch (w->chan) {
	case SIM_ALIPAY:
		wline(w,
		      "#-----------------------------------------业务明细列表"
		      "结束------------------------------------");
		yuan(w->received[0], a, sizeof(a));
		yuan(w->received[1], b, sizeof(b));
		wline(w,
		      "#交易合计：%" PRId64
		      "笔，商家实收共：%s元，商家优惠共：0.00元",
		      w->n[0], a);
		wline(w,
		      "#退款合计：%" PRId64
		      "笔，商家实收共：%s元，商家优惠共：0.00元",
		      w->n[1], b);
		wline(w, "#导出时间：[%s]", w->day);
		break;
	case SIM_WECHAT: {
		int64_t f = w->fee5 < 0 ? -w->fee5 : w->fee5;

		yuan(w->settle, a, sizeof(a));
		yuan(w->refund_total, b, sizeof(b));
		wline(w,
		      "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,"
		      "手续费总金额,订单总金额,申请退款总金额");
		wline(w,
		      "`%" PRId64 ",`%s,`%s,`0.00,`%s%" PRId64 ".%05" PRId64
		      ",`%s,`%s",
		      w->count, a, b, w->fee5 < 0 ? "-" : "", f / 100000,
		      f % 100000, a, b);
		break;
	}
	case SIM_BANK:
		wline(w, "TRL %010" PRId64 " %016" PRId64, w->count, w->total);
		break;
	}
}

/* payroute's fee model's rounding (core/domain/catalogue.c, pr_chan_fee): up. */
static int64_t fee_of(int64_t amount, int bps)
{
	return (amount * bps + 9999) / 10000;
}

static int on_day(int64_t ms, const char *day)
{
	char t[32];

	if (ms <= 0)
		return 0;
	sim_time_alipay(ms, t, sizeof(t));
	return strncmp(t, day, 10) == 0;
}

/* A row of the ledger, with the script's amount and fee changes. */
static void put(struct bill_writer *w, json_t *sc, struct brow *r, int bps,
		const char *key)
{
	json_t *v;

	if (listed(json_object_get(sc, "omit"), key))
		return;
	r->fee = fee_of(r->amount, bps);
	if (r->kind == 'r')
		r->fee = -r->fee;
	v = json_object_get(json_object_get(sc, "amount"), key);
	if (json_is_integer(v))
		r->amount = json_integer_value(v);
	v = json_object_get(json_object_get(sc, "fee"), key);
	if (json_is_integer(v))
		r->fee = json_integer_value(v);
	emit(w, r);
}

static int day_noon(const char *day, int64_t *ms)
{
	struct tm tm = { 0 };

	if (sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) !=
	    3)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_hour = 4; /* 12:00 Beijing */
	*ms = (int64_t)timegm(&tm) * 1000;
	return 0;
}

/* Writes the rows; returns how many. */
static int64_t rows(struct sim *s, struct bill_writer *w)
{
	json_t *sc = script(s, w->chan), *v, *bulk;
	json_int_t bps_j = json_integer_value(json_object_get(sc, "fee_bps"));
	int bps = json_is_integer(json_object_get(sc, "fee_bps")) ?
			  (int)bps_j :
			  BILL_DEFAULT_FEE_BPS;
	int64_t before = w->n[0] + w->n[1] + w->count;
	char tn[64], on[64];
	size_t i;

	for (i = 0; i < s->order_list.n; i++) {
		struct sim_order *o = s->order_list.v[i];
		struct brow r = { 'p',	     o->trade_no, o->out_trade_no, "",
				  o->amount, 0,		  o->paid_ms };

		if (o->chan == w->chan && o->state == SIM_SUCCESS &&
		    strcmp(o->merchant, w->merchant) == 0 &&
		    on_day(o->paid_ms, w->day))
			put(w, sc, &r, bps, o->out_trade_no);
	}
	for (i = 0; i < s->refund_list.n; i++) {
		struct sim_refund *rf = s->refund_list.v[i];
		struct brow r = { 'r',
				  rf->refund_id,
				  rf->order->out_trade_no,
				  rf->out_refund_no,
				  rf->amount,
				  0,
				  rf->done_ms };

		if (rf->chan == w->chan && rf->state == SIM_SUCCESS &&
		    strcmp(rf->order->merchant, w->merchant) == 0 &&
		    on_day(rf->done_ms, w->day))
			put(w, sc, &r, bps, rf->out_refund_no);
	}
	for (i = 0; w->chan == SIM_BANK && i < s->payout_list.n; i++) {
		struct sim_payout *p = s->payout_list.v[i];
		struct brow r = { 'w', p->payout_id, p->out_no, "", p->amount,
				  0,   p->done_ms };

		if (p->chan == w->chan && p->state == SIM_SUCCESS &&
		    strcmp(p->merchant, w->merchant) == 0 &&
		    on_day(p->done_ms, w->day))
			put(w, sc, &r, bps, p->out_no);
	}
	json_array_foreach(json_object_get(sc, "extra"), i, v) {
		const char *no = json_string_value(json_object_get(v, "order"));
		const char *kind =
			json_string_value(json_object_get(v, "kind"));
		const char *rno =
			json_string_value(json_object_get(v, "refund"));
		const char *d = json_string_value(json_object_get(v, "day"));
		struct brow r = { 'p', tn, no, rno ? rno : "", 0, 0, 0 };

		if (!no || (d && strcmp(d, w->day) != 0) ||
		    day_noon(w->day, &r.at_ms) < 0)
			continue;
		if (kind && strcmp(kind, "refund") == 0)
			r.kind = 'r';
		r.amount = json_integer_value(json_object_get(v, "amount"));
		snprintf(tn, sizeof(tn), "X%s%zu", w->day, i);
		for (char *p = tn; *p; p++)
			if (*p == '-')
				*p = '0';
		put(w, sc, &r, bps, no);
	}
	bulk = json_object_get(sc, "bulk");
	if (bulk) {
		json_int_t n =
			json_integer_value(json_object_get(bulk, "count"));
		const char *pre =
			json_string_value(json_object_get(bulk, "prefix"));
		const char *d = json_string_value(json_object_get(bulk, "day"));
		json_int_t amt =
			json_integer_value(json_object_get(bulk, "amount"));
		struct brow r = { 'p', tn, on, "", amt, 0, 0 };

		if ((!d || strcmp(d, w->day) == 0) &&
		    day_noon(w->day, &r.at_ms) == 0)
			for (json_int_t k = 1; k <= n; k++) {
				snprintf(on, sizeof(on), "%s%08lld",
					 pre ? pre : "B", (long long)k);
				snprintf(tn, sizeof(tn), "T%s%08lld",
					 pre ? pre : "B", (long long)k);
				r.amount = amt;
				put(w, sc, &r, bps, NULL);
			}
	}
	return w->n[0] + w->n[1] + w->count - before;
}

static int bill_dir(struct sim *s)
{
	if (s->bill_dir[0])
		return 0;
	snprintf(s->bill_dir, sizeof(s->bill_dir), "/tmp/paysim-bills-XXXXXX");
	if (!mkdtemp(s->bill_dir)) {
		s->bill_dir[0] = '\0';
		return -errno;
	}
	return 0;
}

static char *gbk_name(const char *utf8)
{
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	size_t inleft = strlen(utf8), outleft = inleft * 2 + 1;
	char *out = calloc(1, outleft + 1), *in = (char *)utf8, *o = out;

	if (cd == (iconv_t)-1 || !out ||
	    iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1) {
		free(out);
		out = NULL;
	}
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	return out;
}

/* Zips the text file at text_path (and a small summary for Alipay) into
 * zip_path. */
static int zip_up(struct bill_writer *w, const char *text_path,
		  const char *zip_path)
{
	char d8[9], name[256], *gname = NULL, *sname = NULL;
	static char summary[512];
	zip_t *z;
	zip_source_t *src;
	int zerr, rc = -EIO;

	snprintf(d8, sizeof(d8), "%.4s%.2s%.2s", w->day, w->day + 5,
		 w->day + 8);
	z = zip_open(zip_path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	if (!z)
		return -EIO;
	if (w->chan == SIM_ALIPAY)
		snprintf(name, sizeof(name), "%s_%s_业务明细.csv", w->merchant,
			 d8);
	else
		snprintf(name, sizeof(name), "INN%.6s88ZM_%s", d8 + 2,
			 w->merchant);
	gname = gbk_name(name);
	src = gname ? zip_source_file(z, text_path, 0, -1) : NULL;
	if (!src || zip_file_add(z, gname, src, ZIP_FL_ENC_RAW) < 0) {
		if (src)
			zip_source_free(src);
		goto out;
	}
	if (w->chan == SIM_ALIPAY) {
		char *g;
		size_t inleft, outleft = sizeof(summary);
		char *in, *o = summary;
		iconv_t cd = iconv_open("GB18030", "UTF-8");
		char text[256];

		snprintf(name, sizeof(name), "%s_%s_业务明细(汇总).csv",
			 w->merchant, d8);
		snprintf(text, sizeof(text),
			 "#支付宝业务汇总查询\r\n#交易笔数,%" PRId64 "\r\n",
			 w->n[0]);
		in = text;
		inleft = strlen(text);
		if (cd == (iconv_t)-1 ||
		    iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1) {
			if (cd != (iconv_t)-1)
				iconv_close(cd);
			goto out;
		}
		iconv_close(cd);
		sname = gbk_name(name);
		g = sname;
		src = g ? zip_source_buffer(z, summary,
					    sizeof(summary) - outleft, 0) :
			  NULL;
		if (!src || zip_file_add(z, g, src, ZIP_FL_ENC_RAW) < 0) {
			if (src)
				zip_source_free(src);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc == 0 && zip_close(z) < 0)
		rc = -EIO;
	else if (rc < 0)
		zip_discard(z);
	free(gname);
	free(sname);
	return rc;
}

static int sha256_file(const char *path, char *hex, size_t len)
{
	char buf[65536];
	FILE *f = fopen(path, "rb");
	void *h = pr_hash_begin(PAYROUTE_HASH_SHA256);
	size_t n;

	if (!f || !h) {
		if (f)
			fclose(f);
		if (h)
			pr_hash_end(h, NULL, 0);
		return -EIO;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		pr_hash_update(h, buf, n);
	fclose(f);
	return pr_hash_end(h, hex, len);
}

int sim_bill_make(struct sim *s, enum sim_chan c, const char *merchant,
		  const char *day, char *token, size_t tlen, char *hash,
		  size_t hlen)
{
	struct bill_writer w = { .chan = c, .merchant = merchant, .day = day };
	char text_path[128], path[128];
	int64_t n;
	int rc;

	hash[0] = '\0';
	if (!day || strlen(day) != 10 || strspn(day, "0123456789-") != 10)
		return -EINVAL;
	rc = bill_dir(s);
	if (rc < 0)
		return rc;
	snprintf(token, tlen, "b%llu", (unsigned long long)++s->bill_seq);
	snprintf(path, sizeof(path), "%s/%s", s->bill_dir, token);
	snprintf(text_path, sizeof(text_path), "%s/%s.txt", s->bill_dir, token);
	if (c == SIM_WECHAT) {
		w.gz = gzopen(path, "wb6");
		w.sha1 = pr_hash_begin(PAYROUTE_HASH_SHA1);
		if (!w.gz || !w.sha1) {
			rc = -EIO;
			goto out;
		}
	} else {
		w.cd = iconv_open("GB18030", "UTF-8");
		w.text = fopen(text_path, "wb");
		if (w.cd == (iconv_t)-1 || !w.text) {
			rc = -EIO;
			goto out;
		}
	}
	begin(&w);
	n = rows(s, &w);
	end(&w);
	if (n == 0) {
		rc = -ENOENT;
		goto out;
	}
	if (c == SIM_WECHAT) {
		rc = gzclose(w.gz) == Z_OK ? 0 : -EIO;
		w.gz = NULL;
		if (rc == 0)
			rc = pr_hash_end(w.sha1, hash, hlen);
		w.sha1 = NULL;
	} else {
		rc = fclose(w.text) == 0 ? 0 : -EIO;
		w.text = NULL;
		if (rc == 0)
			rc = zip_up(&w, text_path, path);
		if (rc == 0 && c == SIM_BANK)
			rc = sha256_file(path, hash, hlen);
	}
	if (rc == 0 && w.failed)
		rc = -EIO;
out:
	if (w.gz)
		gzclose(w.gz);
	if (w.sha1)
		pr_hash_end(w.sha1, NULL, 0);
	if (w.text)
		fclose(w.text);
	if (w.cd && w.cd != (iconv_t)-1)
		iconv_close(w.cd);
	unlink(text_path);
	if (rc < 0)
		unlink(path);
	pr_info("paysim: %s bill of %s for %s: %s (%lld rows)",
		sim_chan_name(c), merchant, day,
		rc == 0	      ? token :
		rc == -ENOENT ? "none" :
				strerror(-rc),
		(long long)(rc == 0 ? n : 0));
	return rc;
}

char *sim_bill_read(struct sim *s, const char *token, size_t *len)
{
	char path[160];
	struct stat st;
	FILE *f;
	char *buf;

	if (!s->bill_dir[0] || !token || !*token ||
	    strspn(token, "b0123456789") != strlen(token))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", s->bill_dir, token);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) < 0 ||
	    !(buf = malloc((size_t)st.st_size + 1))) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

void sim_bill_reset(struct sim *s)
{
	char path[160];

	for (int c = 0; c < 3; c++) {
		json_decref(s->bill_script[c]);
		s->bill_script[c] = NULL;
	}
	for (uint64_t i = 1; s->bill_dir[0] && i <= s->bill_seq; i++) {
		snprintf(path, sizeof(path), "%s/b%llu", s->bill_dir,
			 (unsigned long long)i);
		unlink(path);
	}
}

void sim_bill_cleanup(struct sim *s)
{
	sim_bill_reset(s);
	if (s->bill_dir[0])
		rmdir(s->bill_dir);
}

void sim_bill_serve(struct sim *s, const struct sim_req *rq,
		    struct sim_out *out)
{
	const char *t = rq->query ? strstr(rq->query, "token=") : NULL;
	char token[32];
	size_t len = 0;
	char *body;

	if (t && (t == rq->query || t[-1] == '&'))
		snprintf(token, sizeof(token), "%.*s", (int)strcspn(t + 6, "&"),
			 t + 6);
	else
		token[0] = '\0';
	body = sim_bill_read(s, token, &len);
	if (!body) {
		sim_out_set(out, 404, "text/plain", strdup("no such bill\n"));
		return;
	}
	sim_out_set(out, 200, "application/octet-stream", body);
	out->body_len = len;
}
