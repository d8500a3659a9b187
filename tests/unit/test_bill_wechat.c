/*
 * test_bill_wechat.c - the reader of WeChat Pay's trade bill
 * (drivers/wechat/wechat_bill.c) over real-shaped files: a gzip of the
 * UTF-8 CSV with every field behind a backtick, a paid, a revoked and a
 * refunded row, fees of five decimals, the summary header and row at the
 * end, and the SHA1 of the bill checked through the core's hash services.
 * One row per case.
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

#define BILLFIX_GZIP
#include "billfix.h"
#include "runtime/crypto.h"
#include "runtime/services.h"
#include "wechat_bill.h"

const struct payroute_driver *payroute_driver_entry(void);

#define HEAD                                                                                                   \
	"交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,"     \
	"用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额," \
	"微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"  \
	"商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n"

#define ROW(t, no, order, state, settle, rno, rorder, ramount, rstate, fee,    \
	    amount)                                                            \
	"`" t ",`wx8888888888888888,`1900000001,`0,`,`" no ",`" order          \
	",`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`" state                       \
	",`OTHERS,`CNY,`" settle ",`0.00,`" rno ",`" rorder ",`" ramount       \
	",`0.00,`ORIGINAL,`" rstate ",`\"商品, 一\",`,`" fee                   \
	",`0.60%,`" amount ",`" ramount ",`\r\n"

#define ROWS                                                                   \
	ROW("2026-12-06 10:00:00", "4200000001", "P0001", "SUCCESS", "1.00",   \
	    "0", "0", "0.00", "", "0.00600", "1.00")                           \
	ROW("2026-12-06 11:00:00", "4200000002", "P0002", "REVOKED", "0.00",   \
	    "0", "0", "0.00", "", "0.00000", "2.00")                           \
	ROW("2026-12-06 12:00:00", "4200000001", "P0001", "REFUND", "0.00",    \
	    "50300000001", "R0001", "0.50", "SUCCESS", "-0.00300", "1.00")

#define SUM                                                                                                  \
	"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额," \
	"订单总金额,申请退款总金额\r\n"                                                          \
	"`3,`1.00,`0.50,`0.00,`0.00300,`4.00,`0.50\r\n"

static const char good[] = HEAD ROWS SUM;

struct bill_case {
	const char *name;
	const char *from, *to;
	int gzip;	  /* 0: the text as it is, not compressed */
	int hash;	  /* 1: announce the right SHA1, 2: a wrong one */
	int rows, end_rc; /* rows read, then this */
	const char *err;
};

static const struct bill_case cases[] = {
	{ "the good bill, its SHA1 announced", NULL, NULL, 1, 1, 3, 0, NULL },
	{ "the good bill, no SHA1", NULL, NULL, 1, 0, 3, 0, NULL },
	{ "a SHA1 that is not the bill's", NULL, NULL, 1, 2, 3, -EBADMSG,
	  "but WeChat Pay announced" },
	{ "not gzip", NULL, NULL, 0, 0, 0, -EBADMSG, "broken gzip" },
	{ "a count the rows do not have", "`3,`1.00", "`4,`1.00", 1, 0, 3,
	  -EBADMSG, "is not the rows'" },
	{ "a fee total off by one e-5 yuan", "`0.00300,`4.00", "`0.00301,`4.00",
	  1, 0, 3, -EBADMSG, "is not the rows'" },
	{ "an unknown trade state", "`REVOKED", "`CLOSED", 1, 0, 1, -EBADMSG,
	  "bill line 3" },
	{ "no summary", SUM, "", 1, 0, 3, -EBADMSG, "no summary" },
	{ "a fee of six decimals", "`0.00600", "`0.006001", 1, 0, 0, -EBADMSG,
	  "bill line 2" },
	{ "a header without 手续费", "商户数据包,手续费", "商户数据包,费用", 1,
	  0, 0, -EBADMSG, "no column 手续费" },
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

static void sha1_hex(const char *text, char out[41])
{
	void *h = pr_hash_begin(PAYROUTE_HASH_SHA1);

	assert_non_null(h);
	assert_int_equal(pr_hash_update(h, text, strlen(text)), 0);
	assert_int_equal(pr_hash_end(h, out, 41), 0);
}

static int run_case(const struct bill_case *c, struct payroute_bill_row *rows,
		    int max, char *err, size_t errlen)
{
	char *text = replaced(c->from, c->to), hash[41] = "";
	struct payroute_bill_row scratch;
	struct wechat_bill *b;
	int fd, rc, n = 0;

	fd = c->gzip ? fix_gzip(text, strlen(text)) :
		       fix_raw(text, strlen(text));
	if (c->hash)
		sha1_hex(c->hash == 1 ? text : "something else", hash);
	rc = wechat_bill_open(pr_services(), "SHA1", hash, fd, &b, err, errlen);
	close(fd);
	free(text);
	if (rc < 0)
		fail_msg("%s: open %d: %s", c->name, rc, err);
	for (;;) {
		struct payroute_bill_row *r = n < max ? &rows[n] : &scratch;

		memset(r, 0, sizeof(*r));
		r->size = sizeof(*r);
		rc = wechat_bill_next(b, r, err, errlen);
		if (rc != 1)
			break;
		n++;
	}
	wechat_bill_close(b);
	if (rc != c->end_rc || n != c->rows)
		fail_msg("%s: %d after %d rows (want %d after %d): %s", c->name,
			 rc, n, c->end_rc, c->rows, err);
	if (c->err && !strstr(err, c->err))
		fail_msg("%s: err \"%s\" lacks \"%s\"", c->name, err, c->err);
	return n;
}

static void test_cases(void **state)
{
	struct payroute_bill_row rows[4];
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		run_case(&cases[i], rows, 4, err, sizeof(err));
	}
}

static void test_rows(void **state)
{
	struct payroute_bill_row r[3];
	char err[512] = "";

	(void)state;
	assert_int_equal(run_case(&cases[0], r, 3, err, sizeof(err)), 3);
	assert_int_equal(r[0].kind, PAYROUTE_KIND_PAYMENT);
	assert_string_equal(r[0].channel_trade_no, "4200000001");
	assert_string_equal(r[0].order_id, "P0001");
	assert_int_equal(r[0].amount, 100);
	assert_int_equal(r[0].fee, 1); /* 0.006 yuan: 0.6 fen, rounded */
	assert_int_equal(r[0].effect, PAYROUTE_EFFECT_SUCCESS);
	assert_string_equal(r[0].currency, "CNY");
	assert_int_equal(r[0].at_ms, 1796522400000LL);
	assert_int_equal(r[1].effect, PAYROUTE_EFFECT_CLOSED);
	assert_int_equal(r[1].amount, 200);
	assert_int_equal(r[2].kind, PAYROUTE_KIND_REFUND);
	assert_string_equal(r[2].channel_trade_no, "50300000001");
	assert_string_equal(r[2].order_id, "P0001");
	assert_string_equal(r[2].refund_id, "R0001");
	assert_int_equal(r[2].amount, 50);
	assert_int_equal(r[2].fee, 0); /* -0.3 fen rounds to 0 */
	assert_string_equal(r[2].status, "REFUND/SUCCESS");
	assert_int_equal(r[2].line, 4);
}

static void test_descriptor(void **state)
{
	const struct payroute_driver *d = payroute_driver_entry();

	(void)state;
	assert_true(PAYROUTE_HAS_BILLS(d));
	assert_non_null(d->build_bill_download); /* the download is signed */
	assert_true(PAYROUTE_HAS_HASH(pr_services()));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_descriptor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
