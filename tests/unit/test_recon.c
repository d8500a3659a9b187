/*
 * test_recon.c - the chunk format the reconciliation job stores bill rows
 * in (pr_recon_row_json, core/orders/recon.c): what a driver's row becomes in the
 * JSON that json_to_recordset reads (every field, escaping), and the rows
 * refused before they reach the store, one case per row.
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
#include <jansson.h>

#include "orders/recon.h"

static struct payroute_bill_row good_row(void)
{
	struct payroute_bill_row r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.kind = PAYROUTE_KIND_REFUND;
	snprintf(r.order_id, sizeof(r.order_id), "P0001");
	snprintf(r.refund_id, sizeof(r.refund_id), "R0001");
	snprintf(r.channel_trade_no, sizeof(r.channel_trade_no), "42\"00\\1");
	snprintf(r.status, sizeof(r.status), "退款\t成功");
	r.amount = 250;
	r.fee = -2;
	memcpy(r.currency, "CNY", 4);
	r.effect = PAYROUTE_EFFECT_SUCCESS;
	r.at_ms = 1796522405000LL;
	r.line = 8;
	return r;
}

static void test_fields(void **state)
{
	struct pr_recon_buf b = { 0 };
	struct payroute_bill_row r = good_row();
	char err[256] = "";
	json_t *j, *o;

	(void)state;
	assert_int_equal(pr_recon_row_json(&b, &r, err, sizeof(err)), 0);
	r.kind = PAYROUTE_KIND_PAYOUT;
	r.refund_id[0] = '\0';
	r.effect = PAYROUTE_EFFECT_CLOSED;
	assert_int_equal(pr_recon_row_json(&b, &r, err, sizeof(err)), 0);
	assert_int_equal(b.rows, 2);
	b.p[b.len++] = ']';
	j = json_loadb(b.p, b.len, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 2);
	o = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(o, "k")),
			    "refund");
	assert_string_equal(json_string_value(json_object_get(o, "o")),
			    "P0001");
	assert_string_equal(json_string_value(json_object_get(o, "r")),
			    "R0001");
	assert_string_equal(json_string_value(json_object_get(o, "t")),
			    "42\"00\\1");
	assert_string_equal(json_string_value(json_object_get(o, "s")),
			    "退款\t成功");
	assert_int_equal(json_integer_value(json_object_get(o, "a")), 250);
	assert_int_equal(json_integer_value(json_object_get(o, "f")), -2);
	assert_string_equal(json_string_value(json_object_get(o, "c")), "CNY");
	assert_string_equal(json_string_value(json_object_get(o, "e")),
			    "success");
	assert_int_equal(json_integer_value(json_object_get(o, "m")),
			 1796522405000LL);
	assert_int_equal(json_integer_value(json_object_get(o, "l")), 8);
	o = json_array_get(j, 1);
	assert_string_equal(json_string_value(json_object_get(o, "k")),
			    "payout");
	assert_string_equal(json_string_value(json_object_get(o, "e")),
			    "closed");
	json_decref(j);
	free(b.p);
}

static void m_kind(struct payroute_bill_row *r)
{
	r->kind = (enum payroute_order_kind)9;
}
static void m_amount(struct payroute_bill_row *r)
{
	r->amount = 0;
}
static void m_currency(struct payroute_bill_row *r)
{
	memcpy(r->currency, "cny", 4);
}
static void m_no_order(struct payroute_bill_row *r)
{
	r->order_id[0] = '\0';
}
static void m_refund_no_id(struct payroute_bill_row *r)
{
	r->refund_id[0] = '\0';
}
static void m_not_utf8(struct payroute_bill_row *r)
{
	snprintf(r->status, sizeof(r->status), "\xcd\xcb\xbf\xee"); /* GBK */
}
static void m_unterminated(struct payroute_bill_row *r)
{
	memset(r->order_id, 'x', sizeof(r->order_id));
}
static void m_no_line(struct payroute_bill_row *r)
{
	r->line = 0;
}

static void test_refused(void **state)
{
	static const struct {
		const char *name;
		void (*mutate)(struct payroute_bill_row *r);
		const char *err;
	} cases[] = {
		{ "an unknown kind", m_kind, "without kind" },
		{ "a zero amount", m_amount, "positive amount" },
		{ "a currency in lower case", m_currency, "currency" },
		{ "no order id", m_no_order, "order id" },
		{ "a refund without its refund id", m_refund_no_id,
		  "order id" },
		{ "GBK text left unconverted", m_not_utf8, "not UTF-8" },
		{ "an order id that fills its field", m_unterminated,
		  "order id" },
		{ "no line number", m_no_line, "bill line 0" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pr_recon_buf b = { 0 };
		struct payroute_bill_row r = good_row();
		char err[256] = "";
		int rc;

		cases[i].mutate(&r);
		rc = pr_recon_row_json(&b, &r, err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, cases[i].err) || b.rows != 0)
			fail_msg("%s: rc %d, err \"%s\"", cases[i].name, rc,
				 err);
		free(b.p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
