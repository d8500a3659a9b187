/*
 * test_bill_alipay.c - the reader of Alipay's trade bill
 * (drivers/alipay/alipay_bill.c) over real-shaped files: a zip holding the
 * GBK detail CSV (trailing tabs, a quoted name with a comma, another with
 * doubled quotes, a 收费 row that is not an order, the summary lines at the
 * end) and the summary CSV, both with GBK names. One row per case: what is
 * changed in the good bill, and what the reader must say.
 */
#include "runtime/config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define BILLFIX_ZIP
#include "alipay_bill.h"
#include "billfix.h"

const struct payroute_driver *payroute_driver_entry(void);

#define HEAD                                                                                                   \
	"#支付宝业务明细查询\r\n"                                                                     \
	"#账号：[20881234567890120156]\r\n"                                                                 \
	"#起始日期：[2026年12月06日 00:00:00]   终止日期：[2026年12月07日 "                    \
	"00:00:00]\r\n"                                                                                        \
	"#-----------------------------------------业务明细列表-------------"                            \
	"---------------------------\r\n"                                                                      \
	"支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号," \
	"门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,"           \
	"支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,"          \
	"券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"       \
	"退款批次号/请求号,服务费（元）,分润（元）,备注\r\n"

#define ROW(no, order, type, name, amount, received, refund, fee)              \
	no "\t," order "\t," type "\t," name "\t,2026-12-06 10:00:00\t,"       \
	   "2026-12-06 10:00:05\t,\t,\t,\t,\t,buy***@example.com\t," amount    \
	   "\t," received "\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,"   \
	   "0.00\t," refund "\t," fee "\t,0.00\t,\r\n"

#define ROWS                                                                   \
	ROW("2026120622001400001", "P0001", "交易", "\"咖啡, 大杯\"",          \
	    "100.00", "100.00", "", "-0.60")                                   \
	ROW("2026120622001400002", "P0002", "交易", "\"特价\"\"茶\"\"\"",      \
	    "50.00", "50.00", "", "-0.30")                                     \
	ROW("2026120622001400001", "P0001", "退款", "\"咖啡, 大杯\"",          \
	    "100.00", "-20.00", "R0001", "0.12")                               \
	ROW("2026120622001400009", "FEE0001", "收费", "技术服务费", "0.00",    \
	    "0.00", "", "0.00")

#define TAIL                                                                                 \
	"#-----------------------------------------业务明细列表结束---------"        \
	"---------------------------\r\n"                                                    \
	"#交易合计：2笔，商家实收共：150.00元，商家优惠共：0.00元\r\n" \
	"#退款合计：1笔，商家实收共：-20.00元，商家优惠共：0.00元\r\n" \
	"#导出时间：[2026年12月07日 09:12:34]\r\n"

static const char good[] = HEAD ROWS TAIL;

struct bill_case {
	const char *name;
	const char *from, *to; /* replaced in the good bill; NULL: as is */
	int zip;	       /* 0: not a zip at all; 2: no detail member */
	int open_rc;
	int rows;	 /* rows before the end (or the error) */
	int end_rc;	 /* 0 or -EBADMSG */
	const char *err; /* substring of err */
};

static const struct bill_case cases[] = {
	{ "the good bill", NULL, NULL, 1, 0, 3, 0, NULL },
	{ "a trade count the rows do not have", "#交易合计：2笔",
	  "#交易合计：3笔", 1, 0, 3, -EBADMSG, "the summary says 3 trades" },
	{ "a refund total the rows do not have", "-20.00元", "-21.00元", 1, 0,
	  3, -EBADMSG, "-2100 fen" },
	{ "no summary of refunds", "#退款合计", "#退款总计", 1, 0, 3, -EBADMSG,
	  "no summary line of refunds" },
	{ "an amount that is not a number", "100.00\t,100.00",
	  "1O0.00\t,100.00", 1, 0, 0, -EBADMSG, "bill line 6" },
	{ "a broken quote",
	  "\"咖啡, 大杯\"\t,2026-12-06 10:00:00\t,2026-12-06 "
	  "10:00:05\t,\t,\t,\t,\t,buy***@example.com\t,100.00\t,100.00",
	  "\"咖啡, 大杯\t,2026-12-06 10:00:00\t,2026-12-06 "
	  "10:00:05\t,\t,\t,\t,\t,buy***@example.com\t,100.00\t,100.00",
	  1, 0, 0, -EBADMSG, "bill line 6" },
	{ "a header without the fee column", "服务费（元）", "手续费（元）", 1,
	  0, 0, -EBADMSG, "no column 服务费（元）" },
	{ "a row after the summary", "#导出时间", "x,y\r\n#导出时间", 1, 0, 3,
	  -EBADMSG, "a row after the summary" },
	{ "not a zip", NULL, NULL, 0, -EBADMSG, 0, 0, "not a zip" },
	{ "a zip without the detail file", NULL, NULL, 2, -EBADMSG, 0, 0,
	  "no detail file" },
};

static char *replaced(const char *from, const char *to)
{
	size_t n = strlen(good) + (to ? strlen(to) : 0) + 1;
	char *s = malloc(n);
	const char *p;

	if (!from) {
		snprintf(s, n, "%s", good);
		return s;
	}
	p = strstr(good, from);
	assert_non_null(p);
	snprintf(s, n, "%.*s%s%s", (int)(p - good), good, to, p + strlen(from));
	return s;
}

static int open_case(const struct bill_case *c, char **text)
{
	size_t glen, nlen[2];
	char *gbk, *names[2];
	const char *data[2];
	size_t lens[2];
	int fd;

	*text = replaced(c->from, c->to);
	gbk = fix_gbk(*text, &glen);
	names[0] =
		fix_gbk("20881234567890120156_20261206_业务明细.csv", &nlen[0]);
	names[1] = fix_gbk("20881234567890120156_20261206_业务明细(汇总).csv",
			   &nlen[1]);
	names[0] = realloc(names[0], nlen[0] + 1);
	names[0][nlen[0]] = '\0';
	names[1] = realloc(names[1], nlen[1] + 1);
	names[1][nlen[1]] = '\0';
	data[0] = gbk;
	lens[0] = glen;
	data[1] = "#支付宝业务汇总查询\r\n";
	lens[1] = strlen(data[1]);
	if (c->zip == 0)
		fd = fix_raw(gbk, glen);
	else if (c->zip == 2)
		fd = fix_zip(1, (const char *const *)&names[1], &data[1],
			     &lens[1]);
	else
		fd = fix_zip(2, (const char *const *)names, data, lens);
	free(gbk);
	free(names[0]);
	free(names[1]);
	return fd;
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bill_case *c = &cases[i];
		struct payroute_bill_row row;
		struct alipay_bill *b = NULL;
		char err[256] = "", *text;
		int fd = open_case(c, &text), rc, n = 0;

		rc = alipay_bill_open(fd, &b, err, sizeof(err));
		close(fd); /* the reader keeps its own */
		if (rc != c->open_rc)
			fail_msg("%s: open %d (want %d): %s", c->name, rc,
				 c->open_rc, err);
		if (rc == 0) {
			for (;;) {
				memset(&row, 0, sizeof(row));
				row.size = sizeof(row);
				rc = alipay_bill_next(b, &row, err,
						      sizeof(err));
				if (rc != 1)
					break;
				n++;
			}
			if (rc != c->end_rc || n != c->rows)
				fail_msg("%s: end %d after %d rows (want %d "
					 "after %d): %s",
					 c->name, rc, n, c->end_rc, c->rows,
					 err);
		}
		if (c->err && !strstr(err, c->err))
			fail_msg("%s: err \"%s\" lacks \"%s\"", c->name, err,
				 c->err);
		alipay_bill_close(b);
		free(text);
	}
}

/* What the rows of the good bill say, field by field. */
static void test_rows(void **state)
{
	const struct bill_case c = { "good", NULL, NULL, 1, 0, 3, 0, NULL };
	struct payroute_bill_row r[3], end = { .size = sizeof(end) };
	struct alipay_bill *b;
	char err[256], *text;
	int fd = open_case(&c, &text);

	(void)state;
	assert_int_equal(alipay_bill_open(fd, &b, err, sizeof(err)), 0);
	close(fd);
	for (int i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].size = sizeof(r[i]);
		assert_int_equal(alipay_bill_next(b, &r[i], err, sizeof(err)),
				 1);
	}
	assert_int_equal(alipay_bill_next(b, &end, err, sizeof(err)), 0);
	alipay_bill_close(b);
	free(text);
	assert_int_equal(r[0].kind, PAYROUTE_KIND_PAYMENT);
	assert_string_equal(r[1].order_id, "P0002");
	assert_int_equal(r[1].amount, 5000);
	assert_int_equal(r[1].fee, 30);
	assert_string_equal(r[2].channel_trade_no, "2026120622001400001");
	assert_int_equal(r[2].kind, PAYROUTE_KIND_REFUND);
	assert_string_equal(r[2].order_id, "P0001");
	assert_string_equal(r[2].refund_id, "R0001");
	assert_int_equal(r[2].amount, 2000);
	assert_int_equal(r[2].fee, -12);
	assert_int_equal(r[2].effect, PAYROUTE_EFFECT_SUCCESS);
	assert_string_equal(r[2].currency, "CNY");
	/* 2026-12-06 10:00:05 Beijing = 02:00:05 UTC */
	assert_int_equal(r[2].at_ms, 1796522405000LL);
	assert_int_equal(r[2].line, 8);
}

/* The first row alone, checked before anything overwrites it. */
static void test_first_row(void **state)
{
	const struct bill_case c = { "good", NULL, NULL, 1, 0, 3, 0, NULL };
	struct payroute_bill_row r = { .size = sizeof(r) };
	struct alipay_bill *b;
	char err[256], *text;
	int fd = open_case(&c, &text);

	(void)state;
	assert_int_equal(alipay_bill_open(fd, &b, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(alipay_bill_next(b, &r, err, sizeof(err)), 1);
	assert_int_equal(r.kind, PAYROUTE_KIND_PAYMENT);
	assert_string_equal(r.channel_trade_no, "2026120622001400001");
	assert_string_equal(r.order_id, "P0001");
	assert_string_equal(r.refund_id, "");
	assert_int_equal(r.amount, 10000);
	assert_int_equal(r.fee, 60);
	assert_string_equal(r.status, "交易");
	assert_int_equal(r.line, 6);
	alipay_bill_close(b);
	free(text);
}

/* The driver offers bills through ABI 1.3. */
static void test_descriptor(void **state)
{
	const struct payroute_driver *d = payroute_driver_entry();

	(void)state;
	assert_true(PAYROUTE_HAS_BILLS(d));
	assert_non_null(d->parse_bill);
	assert_non_null(d->bill_open);
	assert_non_null(d->bill_next);
	assert_non_null(d->bill_close);
	assert_null(d->build_bill_download); /* the URL carries its token */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_first_row),
		cmocka_unit_test(test_descriptor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
