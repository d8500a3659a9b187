/*
 * test_bill_bank.c - the reader of the bank's settlement file
 * (drivers/bank/bank_bill.c): a zip of one GBK fixed-width file, HDR, a
 * consume, a return and a 代付 record (merchant names in GBK), TRL counting
 * them; the SHA-256 of the zip checked through the core's hash services.
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

#define BILLFIX_ZIP
#include "bank_bill.h"
#include "billfix.h"
#include "runtime/crypto.h"
#include "runtime/services.h"

const struct payroute_driver *payroute_driver_entry(void);

/* One record of the layout in bank_bill.c. */
static void rec(char *out, size_t len, const char *code, const char *qid,
		const char *when, long long amount, char dc, long long fee,
		const char *order, const char *orig, const char *resp)
{
	size_t n = strlen(out);

	snprintf(out + n, len - n,
		 "%-3s %-21s %-14s %012lld %c%012lld %-40s %-40s %-2s "
		 "测试商户有限公司\r\n",
		 code, qid, when, amount, dc, fee, order, orig, resp);
}

static void good(char *out, size_t len)
{
	out[0] = '\0';
	snprintf(out, len, "HDR 777290058110048 20261206\r\n");
	rec(out, len, "S22", "512612061000000000001", "20261206100005", 10000,
	    'D', 60, "P00000001", "", "00");
	rec(out, len, "S30", "512612061200000000002", "20261206120000", 2000,
	    'C', 12, "R00000001", "P00000001", "00");
	rec(out, len, "S46", "512612061300000000003", "20261206130000", 30000,
	    'D', 200, "W00000001", "", "00");
	snprintf(out + strlen(out), len - strlen(out), "TRL %010d %016d\r\n", 3,
		 42000);
}

struct bill_case {
	const char *name;
	const char *from, *to;
	int hash; /* 1: the right digest, 2: a wrong one */
	int open_rc, rows, end_rc;
	const char *err;
};

static const struct bill_case cases[] = {
	{ "the good file, its digest announced", NULL, NULL, 1, 0, 3, 0, NULL },
	{ "the good file, no digest", NULL, NULL, 0, 0, 3, 0, NULL },
	{ "a digest that is not the file's", NULL, NULL, 2, -EBADMSG, 0, 0,
	  "but the bank announced" },
	{ "a trailer that counts one more", "TRL 0000000003", "TRL 0000000004",
	  0, 0, 3, -EBADMSG, "does not count the 3 records" },
	{ "a trailer with another total", "0000000000042000",
	  "0000000000042001", 0, 0, 3, -EBADMSG, "of 42000 fen" },
	{ "no trailer", "TRL", "XXX", 0, 0, 3, -EBADMSG, "line 5" },
	{ "no header", "HDR", "HDX", 0, 0, 0, -EBADMSG, "line 1" },
	{ "an unknown transaction code", "S46", "S99", 0, 0, 2, -EBADMSG,
	  "line 4" },
	{ "a fee neither D nor C", " C000000000012", " X000000000012", 0, 0, 1,
	  -EBADMSG, "line 3" },
	{ "an amount with a letter", "000000010000", "00000001O000", 0, 0, 0,
	  -EBADMSG, "line 2" },
};

static int open_case(const struct bill_case *c, struct bank_bill **b, char *err,
		     size_t errlen)
{
	char text[4096], *gbk, *p, hex[65] = "", buf[4096];
	const char *name = "INN26120688ZM_777290058110048";
	size_t glen;
	ssize_t n;
	int fd, rc;

	good(text, sizeof(text));
	if (c->from) {
		char tmp[4096];

		p = strstr(text, c->from);
		assert_non_null(p);
		snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(p - text), text,
			 c->to, p + strlen(c->from));
		snprintf(text, sizeof(text), "%s", tmp);
	}
	gbk = fix_gbk(text, &glen);
	fd = fix_zip(1, &name, (const char *const *)&gbk, &glen);
	free(gbk);
	if (c->hash) {
		void *h = pr_hash_begin(PAYROUTE_HASH_SHA256);

		while ((n = read(fd, buf, sizeof(buf))) > 0)
			pr_hash_update(h, buf, (size_t)n);
		if (c->hash == 2)
			pr_hash_update(h, "x", 1);
		pr_hash_end(h, hex, sizeof(hex));
	}
	rc = bank_bill_open(pr_services(), "SHA256", hex, fd, b, err, errlen);
	close(fd);
	return rc;
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bill_case *c = &cases[i];
		struct payroute_bill_row row;
		struct bank_bill *b = NULL;
		char err[256] = "";
		int rc = open_case(c, &b, err, sizeof(err)), n = 0;

		if (rc != c->open_rc)
			fail_msg("%s: open %d (want %d): %s", c->name, rc,
				 c->open_rc, err);
		if (rc == 0) {
			do {
				memset(&row, 0, sizeof(row));
				row.size = sizeof(row);
				rc = bank_bill_next(b, &row, err, sizeof(err));
			} while (rc == 1 && ++n);
			if (rc != c->end_rc || n != c->rows)
				fail_msg("%s: %d after %d rows (want %d after "
					 "%d): %s",
					 c->name, rc, n, c->end_rc, c->rows,
					 err);
		}
		if (c->err && !strstr(err, c->err))
			fail_msg("%s: err \"%s\" lacks \"%s\"", c->name, err,
				 c->err);
		bank_bill_close(b);
	}
}

static void test_rows(void **state)
{
	struct payroute_bill_row r[3];
	struct bank_bill *b;
	char err[256];

	(void)state;
	assert_int_equal(open_case(&cases[0], &b, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].size = sizeof(r[i]);
		assert_int_equal(bank_bill_next(b, &r[i], err, sizeof(err)), 1);
	}
	bank_bill_close(b);
	assert_int_equal(r[0].kind, PAYROUTE_KIND_PAYMENT);
	assert_string_equal(r[0].channel_trade_no, "512612061000000000001");
	assert_string_equal(r[0].order_id, "P00000001");
	assert_int_equal(r[0].amount, 10000);
	assert_int_equal(r[0].fee, 60);
	assert_int_equal(r[0].at_ms, 1796522405000LL);
	assert_int_equal(r[0].effect, PAYROUTE_EFFECT_SUCCESS);
	assert_int_equal(r[1].kind, PAYROUTE_KIND_REFUND);
	assert_string_equal(r[1].order_id, "P00000001");
	assert_string_equal(r[1].refund_id, "R00000001");
	assert_int_equal(r[1].fee, -12);
	assert_int_equal(r[2].kind, PAYROUTE_KIND_PAYOUT);
	assert_string_equal(r[2].order_id, "W00000001");
	assert_int_equal(r[2].amount, 30000);
	assert_int_equal(r[2].line, 4);
}

static void test_descriptor(void **state)
{
	const struct payroute_driver *d = payroute_driver_entry();

	(void)state;
	assert_true(PAYROUTE_HAS_BILLS(d));
	assert_null(d->build_bill_download);
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
