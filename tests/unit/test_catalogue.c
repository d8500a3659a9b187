/*
 * test_catalogue.c - channels, whitelist entries, rules and the catalogue,
 * as tables: every row is one named cmocka test. JSON in the rows is
 * written with single quotes for readability (turned into double quotes
 * before parsing). Tables: channels that must be refused (with a substring
 * of the error, which names the field), channels that must parse (with a
 * check of the result), round trips through pr_chan_to_json, fees, the
 * maintenance windows at given instants, whitelist entries and rules, and
 * whole catalogues (build errors and the (business, method) buckets).
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "domain/catalogue.h"

/* ---------------------------------------------------------------- helpers */

/* Parses text with ' for ". */
static json_t *J(const char *text)
{
	char *s = strdup(text);
	json_error_t je;
	json_t *j;

	assert_non_null(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(s, JSON_DECODE_ANY, &je);
	if (!j)
		fail_msg("bad test JSON (%s): %s", je.text, s);
	free(s);
	return j;
}

/* "YYYY-MM-DDTHH:MM[:SS](Z|+HH:MM|-HH:MM)" as UTC ms. */
static int64_t at_ms(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec = 0, n = 0, oh = 0, om = 0;
	const char *p;

	if (sscanf(s, "%d-%d-%dT%d:%d%n", &y, &mo, &d, &h, &mi, &n) != 5)
		fail_msg("bad instant %s", s);
	p = s + n;
	if (*p == ':') {
		sec = atoi(p + 1);
		p += 3;
	}
	if (*p == '+' || *p == '-') {
		assert_int_equal(sscanf(p + 1, "%d:%d", &oh, &om), 2);
		if (*p == '-') {
			oh = -oh;
			om = -om;
		}
	} else {
		assert_int_equal(*p, 'Z');
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return ((int64_t)timegm(&tm) - oh * 3600 - om * 60) * 1000;
}

#define BASE "'code':'c1','driver':'sim'"

static int strlist_equal(const struct pr_strlist *a, const struct pr_strlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

/* Field by field; the loaded zone by name. */
static int chan_equal(const struct pr_chan_spec *a,
		      const struct pr_chan_spec *b)
{
	if (strcmp(a->code, b->code) || strcmp(a->driver, b->driver) ||
	    strcmp(a->institution, b->institution) ||
	    a->business != b->business ||
	    !strlist_equal(&a->methods, &b->methods) ||
	    !strlist_equal(&a->environments, &b->environments) ||
	    !strlist_equal(&a->product_codes, &b->product_codes) ||
	    !strlist_equal(&a->currencies, &b->currencies) ||
	    a->n_banks != b->n_banks || a->online != b->online ||
	    strcmp(a->timezone, b->timezone) ||
	    strcmp(pr_tz_name(a->tz), pr_tz_name(b->tz)) ||
	    a->n_windows != b->n_windows || a->txn_min != b->txn_min ||
	    a->txn_max != b->txn_max || a->daily_amount != b->daily_amount ||
	    a->daily_count != b->daily_count ||
	    a->fee_rate_bps != b->fee_rate_bps ||
	    a->fee_fixed != b->fee_fixed || a->fee_min != b->fee_min ||
	    a->fee_max != b->fee_max || a->weight != b->weight ||
	    a->refund_window_days != b->refund_window_days ||
	    a->refund_timeout_s != b->refund_timeout_s ||
	    a->refund_resend != b->refund_resend ||
	    a->whitelist_only != b->whitelist_only ||
	    !json_equal(a->driver_config, b->driver_config))
		return 0;
	for (size_t i = 0; i < a->n_banks; i++) {
		const struct pr_bank_map *x = &a->banks[i], *y = &b->banks[i];

		if (strcmp(x->bank_code, y->bank_code) ||
		    strcmp(x->channel_bank_code, y->channel_bank_code) ||
		    x->card_types != y->card_types ||
		    x->txn_max != y->txn_max ||
		    x->daily_amount != y->daily_amount)
			return 0;
	}
	for (size_t i = 0; i < a->n_windows; i++) {
		const struct pr_mwindow *x = &a->windows[i],
					*y = &b->windows[i];

		if (x->kind != y->kind || x->start_min != y->start_min ||
		    x->end_min != y->end_min || x->days != y->days ||
		    x->from_ms != y->from_ms || x->to_ms != y->to_ms)
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------- invalid channels */

struct bad_row {
	const char *name;
	const char *json;
	const char *error; /* substring */
};

static const struct bad_row bad_chans[] = {
	{ "not_an_object", "['c1']", "expected an object" },
	{ "unknown_key", "{" BASE ",'colour':'red'}", "colour: unknown key" },
	{ "code_missing", "{'driver':'sim'}", "code: missing" },
	{ "code_not_string", "{'code':5,'driver':'sim'}",
	  "code: expected a string" },
	{ "code_empty", "{'code':'','driver':'sim'}",
	  "code: expected 1 to 64 characters of a-z, 0-9 and _" },
	{ "code_uppercase", "{'code':'Ali','driver':'sim'}",
	  "code: expected 1 to 64" },
	{ "code_dash", "{'code':'ali-h5','driver':'sim'}",
	  "code: expected 1 to 64" },
	{ "code_65_chars",
	  "{'code':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaa','driver':'sim'}",
	  "code: expected 1 to 64" },
	{ "driver_missing", "{'code':'c1'}", "driver: missing" },
	{ "driver_bad", "{'code':'c1','driver':'../sim'}",
	  "driver: expected 1 to 64" },
	{ "institution_not_string", "{" BASE ",'institution':1}",
	  "institution: expected a string" },
	{ "business_types_not_array", "{" BASE ",'business_types':'pay'}",
	  "business_types: expected an array" },
	{ "business_type_unknown", "{" BASE ",'business_types':['pay','lend']}",
	  "business_types[1]: expected pay, refund or withdraw" },
	{ "business_type_duplicate",
	  "{" BASE ",'business_types':['pay','refund','pay']}",
	  "business_types[2]: duplicate 'pay'" },
	{ "methods_not_array", "{" BASE ",'methods':{}}",
	  "methods: expected an array" },
	{ "method_not_string", "{" BASE ",'methods':['alipay',7]}",
	  "methods[1]: expected a string" },
	{ "method_bad_chars", "{" BASE ",'methods':['Ali Pay']}",
	  "methods[0]: expected 1 to 64" },
	{ "method_duplicate", "{" BASE ",'methods':['alipay','alipay']}",
	  "methods[1]: duplicate 'alipay'" },
	{ "environment_unknown", "{" BASE ",'environments':['h5','tv']}",
	  "environments[1]: expected h5, mini_program, app, pc, native_qr, "
	  "jsapi or barcode" },
	{ "environment_none", "{" BASE ",'environments':['none']}",
	  "environments[0]: expected h5" },
	{ "environment_duplicate", "{" BASE ",'environments':['app','app']}",
	  "environments[1]: duplicate 'app'" },
	{ "product_code_empty", "{" BASE ",'product_codes':['']}",
	  "product_codes[0]: expected 1 to 64" },
	{ "product_code_control_char",
	  "{" BASE ",'product_codes':['A\\u0001B']}",
	  "product_codes[0]: expected 1 to 64 characters, no control" },
	{ "product_code_duplicate", "{" BASE ",'product_codes':['P1','P1']}",
	  "product_codes[1]: duplicate 'P1'" },
	{ "currency_lowercase", "{" BASE ",'currencies':['cny']}",
	  "currencies[0]: expected a currency code of 3 uppercase letters" },
	{ "currency_four_letters", "{" BASE ",'currencies':['CNYX']}",
	  "currencies[0]: expected a currency code" },
	{ "currency_duplicate", "{" BASE ",'currencies':['CNY','USD','CNY']}",
	  "currencies[2]: duplicate 'CNY'" },
	{ "banks_not_array", "{" BASE ",'banks':{}}",
	  "banks: expected an array" },
	{ "bank_not_object", "{" BASE ",'banks':[1]}",
	  "banks[0]: expected an object" },
	{ "bank_code_missing", "{" BASE ",'banks':[{'channel_bank_code':'1'}]}",
	  "banks[0].bank_code: missing" },
	{ "bank_code_bad",
	  "{" BASE ",'banks':[{'bank_code':'IC BC',"
	  "'channel_bank_code':'1'}]}",
	  "banks[0].bank_code: expected" },
	{ "channel_bank_code_missing",
	  "{" BASE ",'banks':[{'bank_code':'ICBC'}]}",
	  "banks[0].channel_bank_code: missing" },
	{ "channel_bank_code_empty",
	  "{" BASE ",'banks':[{'bank_code':'ICBC','channel_bank_code':''}]}",
	  "banks[0].channel_bank_code: expected 1 to 256 characters" },
	{ "bank_card_type_unknown",
	  "{" BASE ",'banks':[{'bank_code':'ABC','channel_bank_code':'1'},"
	  "{'bank_code':'ICBC','channel_bank_code':'2','card_types':['prepaid']}"
	  "]}",
	  "banks[1].card_types[0]: expected debit or credit" },
	{ "bank_card_type_duplicate",
	  "{" BASE ",'banks':[{'bank_code':'ICBC','channel_bank_code':'2',"
	  "'card_types':['debit','debit']}]}",
	  "banks[0].card_types[1]: duplicate 'debit'" },
	{ "bank_txn_max_negative",
	  "{" BASE ",'banks':[{'bank_code':'ICBC','channel_bank_code':'2',"
	  "'txn_max':-1}]}",
	  "banks[0].txn_max: must be at least 0" },
	{ "bank_daily_amount_real",
	  "{" BASE ",'banks':[{'bank_code':'ICBC','channel_bank_code':'2',"
	  "'daily_amount':100.0}]}",
	  "banks[0].daily_amount: expected an integer" },
	{ "bank_unknown_key",
	  "{" BASE ",'banks':[{'bank_code':'ICBC','channel_bank_code':'2',"
	  "'limit':1}]}",
	  "banks[0].limit: unknown key" },
	{ "bank_duplicate",
	  "{" BASE ",'banks':[{'bank_code':'ICBC','channel_bank_code':'1'},"
	  "{'bank_code':'ICBC','channel_bank_code':'2'}]}",
	  "banks[1].bank_code: duplicate 'ICBC'" },
	{ "status_unknown", "{" BASE ",'status':'paused'}",
	  "status: expected online or offline" },
	{ "status_not_string", "{" BASE ",'status':true}",
	  "status: expected a string" },
	{ "timezone_unknown", "{" BASE ",'timezone':'Mars/Olympus_Mons'}",
	  "timezone: unknown time zone 'Mars/Olympus_Mons'" },
	{ "timezone_path", "{" BASE ",'timezone':'../../etc/passwd'}",
	  "timezone: unknown time zone '../../etc/passwd'" },
	{ "timezone_not_string", "{" BASE ",'timezone':8}",
	  "timezone: expected a string" },
	{ "windows_not_array", "{" BASE ",'maintenance_windows':{}}",
	  "maintenance_windows: expected an array" },
	{ "window_not_object", "{" BASE ",'maintenance_windows':['daily']}",
	  "maintenance_windows[0]: expected an object" },
	{ "window_kind_missing",
	  "{" BASE ",'maintenance_windows':[{'start':'01:00','end':'02:00'}]}",
	  "maintenance_windows[0].kind: missing" },
	{ "window_kind_unknown",
	  "{" BASE ",'maintenance_windows':[{'kind':'monthly'}]}",
	  "maintenance_windows[0].kind: expected daily, weekly or once" },
	{ "window_unknown_key",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','start':'01:00',"
	  "'end':'02:00','tz':'UTC'}]}",
	  "maintenance_windows[0].tz: unknown key" },
	{ "window_start_missing",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','end':'02:00'}]}",
	  "maintenance_windows[0].start: missing" },
	{ "window_start_24h",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','start':'24:00',"
	  "'end':'02:00'}]}",
	  "maintenance_windows[0].start: expected HH:MM" },
	{ "window_end_one_digit_hour",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','start':'01:00',"
	  "'end':'2:00'}]}",
	  "maintenance_windows[0].end: expected HH:MM" },
	{ "window_end_minutes_60",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','start':'01:00',"
	  "'end':'02:60'}]}",
	  "maintenance_windows[0].end: expected HH:MM" },
	{ "window_start_equals_end",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','start':'01:00',"
	  "'end':'02:00'},{'kind':'daily','start':'03:00','end':'03:00'}]}",
	  "maintenance_windows[1].end: must differ from "
	  "maintenance_windows[1].start" },
	{ "window_daily_with_days",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','start':'01:00',"
	  "'end':'02:00','days':['mon']}]}",
	  "maintenance_windows[0].days: only allowed in a weekly window" },
	{ "window_daily_with_from",
	  "{" BASE ",'maintenance_windows':[{'kind':'daily','start':'01:00',"
	  "'end':'02:00','from':'2026-05-01T00:00:00Z'}]}",
	  "maintenance_windows[0].from: only allowed in a once window" },
	{ "window_weekly_days_missing",
	  "{" BASE ",'maintenance_windows':[{'kind':'weekly','start':'01:00',"
	  "'end':'02:00'}]}",
	  "maintenance_windows[0].days: missing" },
	{ "window_weekly_days_empty",
	  "{" BASE ",'maintenance_windows':[{'kind':'weekly','start':'01:00',"
	  "'end':'02:00','days':[]}]}",
	  "maintenance_windows[0].days: must not be empty" },
	{ "window_weekly_day_unknown",
	  "{" BASE ",'maintenance_windows':[{'kind':'weekly','start':'01:00',"
	  "'end':'02:00','days':['mon','funday']}]}",
	  "maintenance_windows[0].days[1]: expected sun, mon" },
	{ "window_weekly_day_7",
	  "{" BASE ",'maintenance_windows':[{'kind':'weekly','start':'01:00',"
	  "'end':'02:00','days':[7]}]}",
	  "maintenance_windows[0].days[0]: expected sun" },
	{ "window_weekly_day_duplicate",
	  "{" BASE ",'maintenance_windows':[{'kind':'weekly','start':'01:00',"
	  "'end':'02:00','days':['mon',1]}]}",
	  "maintenance_windows[0].days[1]: duplicate 'mon'" },
	{ "window_once_from_missing",
	  "{" BASE ",'maintenance_windows':[{'kind':'once',"
	  "'to':'2026-05-01T00:00:00Z'}]}",
	  "maintenance_windows[0].from: missing" },
	{ "window_once_space_separator",
	  "{" BASE ",'maintenance_windows':[{'kind':'once',"
	  "'from':'2026-05-01 00:00:00Z','to':'2026-05-02T00:00:00Z'}]}",
	  "maintenance_windows[0].from: expected an RFC 3339 date-time" },
	{ "window_once_no_offset",
	  "{" BASE ",'maintenance_windows':[{'kind':'once',"
	  "'from':'2026-05-01T00:00:00','to':'2026-05-02T00:00:00Z'}]}",
	  "maintenance_windows[0].from: expected an RFC 3339" },
	{ "window_once_feb_30",
	  "{" BASE ",'maintenance_windows':[{'kind':'once',"
	  "'from':'2026-02-28T00:00:00Z','to':'2026-02-30T00:00:00Z'}]}",
	  "maintenance_windows[0].to: expected an RFC 3339" },
	{ "window_once_to_before_from",
	  "{" BASE ",'maintenance_windows':[{'kind':'once',"
	  "'from':'2026-05-01T08:00:00+08:00','to':'2026-05-01T00:00:00Z'}]}",
	  "maintenance_windows[0].to: must be after maintenance_windows[0].from" },
	{ "window_once_with_start",
	  "{" BASE ",'maintenance_windows':[{'kind':'once','start':'01:00',"
	  "'from':'2026-05-01T00:00:00Z','to':'2026-05-02T00:00:00Z'}]}",
	  "maintenance_windows[0].start: not allowed in a once window" },
	{ "limits_not_object", "{" BASE ",'limits':[]}",
	  "limits: expected an object" },
	{ "limits_unknown_key", "{" BASE ",'limits':{'txn_maximum':1}}",
	  "limits.txn_maximum: unknown key" },
	{ "limits_txn_max_string", "{" BASE ",'limits':{'txn_max':'100'}}",
	  "limits.txn_max: expected an integer" },
	{ "limits_txn_max_real", "{" BASE ",'limits':{'txn_max':100.5}}",
	  "limits.txn_max: expected an integer" },
	{ "limits_txn_min_negative", "{" BASE ",'limits':{'txn_min':-1}}",
	  "limits.txn_min: must be at least 0" },
	{ "limits_daily_amount_null",
	  "{" BASE ",'limits':{'daily_amount':null}}",
	  "limits.daily_amount: expected an integer" },
	{ "limits_daily_count_negative",
	  "{" BASE ",'limits':{'daily_count':-5}}",
	  "limits.daily_count: must be at least 0" },
	{ "limits_max_below_min",
	  "{" BASE ",'limits':{'txn_min':1000,'txn_max':999}}",
	  "limits.txn_max: must be at least limits.txn_min" },
	{ "fee_not_object", "{" BASE ",'fee':60}", "fee: expected an object" },
	{ "fee_unknown_key", "{" BASE ",'fee':{'rate':60}}",
	  "fee.rate: unknown key" },
	{ "fee_rate_too_high", "{" BASE ",'fee':{'rate_bps':10001}}",
	  "fee.rate_bps: must be between 0 and 10000" },
	{ "fee_rate_negative", "{" BASE ",'fee':{'rate_bps':-1}}",
	  "fee.rate_bps: must be between 0 and 10000" },
	{ "fee_rate_real", "{" BASE ",'fee':{'rate_bps':0.6}}",
	  "fee.rate_bps: expected an integer" },
	{ "fee_fixed_negative", "{" BASE ",'fee':{'fixed':-10}}",
	  "fee.fixed: must be at least 0" },
	{ "fee_min_negative", "{" BASE ",'fee':{'min':-1}}",
	  "fee.min: must be at least 0" },
	{ "fee_max_below_min", "{" BASE ",'fee':{'min':100,'max':99}}",
	  "fee.max: must be at least fee.min" },
	{ "weight_too_high", "{" BASE ",'weight':10001}",
	  "weight: must be between 0 and 10000" },
	{ "weight_negative", "{" BASE ",'weight':-1}",
	  "weight: must be between 0 and 10000" },
	{ "weight_string", "{" BASE ",'weight':'100'}",
	  "weight: expected an integer" },
	{ "refund_window_days_too_high", "{" BASE ",'refund_window_days':3651}",
	  "refund_window_days: must be between 0 and 3650" },
	{ "refund_timeout_no_unit", "{" BASE ",'refund_timeout':'48'}",
	  "refund_timeout: expected a duration with a unit" },
	{ "refund_timeout_unknown_unit", "{" BASE ",'refund_timeout':'2w'}",
	  "refund_timeout: expected a duration" },
	{ "refund_timeout_zero", "{" BASE ",'refund_timeout':'0h'}",
	  "refund_timeout: expected a duration" },
	{ "refund_timeout_two_units", "{" BASE ",'refund_timeout':'1h30m'}",
	  "refund_timeout: expected a duration" },
	{ "refund_timeout_negative", "{" BASE ",'refund_timeout':'-1h'}",
	  "refund_timeout: expected a duration" },
	{ "refund_timeout_huge",
	  "{" BASE ",'refund_timeout':'99999999999999999999d'}",
	  "refund_timeout: expected a duration" },
	{ "refund_timeout_number", "{" BASE ",'refund_timeout':48}",
	  "refund_timeout: expected a string" },
	{ "refund_resend_string", "{" BASE ",'refund_resend':'yes'}",
	  "refund_resend: expected true or false" },
	{ "whitelist_only_integer", "{" BASE ",'whitelist_only':1}",
	  "whitelist_only: expected true or false" },
	{ "driver_config_array", "{" BASE ",'driver_config':[]}",
	  "driver_config: expected an object" },
	{ "driver_config_string", "{" BASE ",'driver_config':'{}'}",
	  "driver_config: expected an object" },
};

static void test_bad_chan(void **state)
{
	const struct bad_row *r = *state;
	struct pr_chan_spec c;
	char err[512] = "";
	json_t *j = J(r->json);
	int rc = pr_chan_parse(j, &c, err, sizeof(err));

	json_decref(j);
	if (rc == 0) {
		pr_chan_clear(&c);
		fail_msg("%s: parsed, expected \"%s\"", r->name, r->error);
	}
	assert_int_equal(rc, -EINVAL);
	if (!strstr(err, r->error))
		fail_msg("%s: got \"%s\", expected \"%s\"", r->name, err,
			 r->error);
	/* Refused means cleared: nothing to free, nothing left. */
	assert_null(c.code);
	assert_null(c.tz);
}

/* --------------------------------------------------------- valid channels */

#define FULL                                                                     \
	"{'code':'ali_h5','driver':'alipay',"                                    \
	"'institution':'Alipay (China) Network Technology',"                     \
	"'business_types':['pay','refund'],'methods':['alipay'],"                \
	"'environments':['h5','app'],'product_codes':['QUICK_WAP_WAY'],"         \
	"'currencies':['CNY','USD'],"                                            \
	"'banks':[{'bank_code':'ABC','channel_bank_code':'1003',"                \
	"'card_types':['debit'],'txn_max':500000,'daily_amount':0},"             \
	"{'bank_code':'ICBC','channel_bank_code':'1002',"                        \
	"'card_types':['debit','credit'],'txn_max':0,"                           \
	"'daily_amount':10000000}],"                                             \
	"'status':'online','timezone':'America/New_York',"                       \
	"'maintenance_windows':[{'kind':'daily','start':'23:30','end':'00:30'}," \
	"{'kind':'weekly','start':'02:00','end':'04:00','days':['sun','wed']},"  \
	"{'kind':'once','from':'2026-05-01T00:00:00Z',"                          \
	"'to':'2026-05-01T06:00:00.500Z'}],"                                     \
	"'limits':{'txn_min':100,'txn_max':5000000,'daily_amount':100000000,"    \
	"'daily_count':10000},"                                                  \
	"'fee':{'rate_bps':60,'fixed':10,'min':1,'max':2000},"                   \
	"'weight':250,'refund_window_days':180,'refund_timeout':'90s',"          \
	"'refund_resend':false,'whitelist_only':true,"                           \
	"'driver_config':{'app_id':'2021000000','sandbox':true,"                 \
	"'keys':{'private':'x'}}}"

typedef void (*chan_check_fn)(const struct pr_chan_spec *c);

struct good_row {
	const char *name;
	const char *json;
	chan_check_fn check;
	const char *canonical; /* pr_chan_to_json must give this (or NULL) */
};

static void check_minimal(const struct pr_chan_spec *c)
{
	assert_string_equal(c->code, "c1");
	assert_string_equal(c->driver, "sim");
	assert_string_equal(c->institution, "");
	assert_int_equal(c->business, 0);
	assert_int_equal(c->methods.n, 0);
	assert_int_equal(c->environments.n, 0);
	assert_int_equal(c->product_codes.n, 0);
	assert_int_equal(c->currencies.n, 0);
	assert_int_equal(c->n_banks, 0);
	assert_int_equal(c->online, 0);
	assert_string_equal(c->timezone, "Asia/Shanghai");
	assert_non_null(c->tz);
	assert_string_equal(pr_tz_name(c->tz), "Asia/Shanghai");
	assert_int_equal(c->n_windows, 0);
	assert_int_equal(c->txn_min, 0);
	assert_int_equal(c->txn_max, 0);
	assert_int_equal(c->daily_amount, 0);
	assert_int_equal(c->daily_count, 0);
	assert_int_equal(c->fee_rate_bps, 0);
	assert_int_equal(c->fee_fixed, 0);
	assert_int_equal(c->fee_min, 0);
	assert_int_equal(c->fee_max, 0);
	assert_int_equal(c->weight, 100);
	assert_int_equal(c->refund_window_days, 365);
	assert_int_equal(c->refund_timeout_s, 48 * 3600);
	assert_int_equal(c->refund_resend, 1);
	assert_int_equal(c->whitelist_only, 0);
	assert_true(json_is_object(c->driver_config));
	assert_int_equal(json_object_size(c->driver_config), 0);
}

static void check_full(const struct pr_chan_spec *c)
{
	assert_string_equal(c->code, "ali_h5");
	assert_string_equal(c->driver, "alipay");
	assert_string_equal(c->institution,
			    "Alipay (China) Network Technology");
	assert_int_equal(c->business, PR_BIZ_PAY | PR_BIZ_REFUND);
	assert_int_equal(c->methods.n, 1);
	assert_string_equal(c->methods.v[0], "alipay");
	assert_int_equal(c->environments.n, 2);
	assert_string_equal(c->environments.v[1], "app");
	assert_string_equal(c->product_codes.v[0], "QUICK_WAP_WAY");
	assert_int_equal(c->currencies.n, 2);
	assert_int_equal(c->n_banks, 2);
	assert_string_equal(c->banks[0].bank_code, "ABC");
	assert_int_equal(c->banks[0].card_types, PR_CARD_DEBIT);
	assert_int_equal(c->banks[0].txn_max, 500000);
	assert_string_equal(c->banks[1].channel_bank_code, "1002");
	assert_int_equal(c->banks[1].card_types,
			 PR_CARD_DEBIT | PR_CARD_CREDIT);
	assert_int_equal(c->banks[1].daily_amount, 10000000);
	assert_int_equal(c->online, 1);
	assert_string_equal(pr_tz_name(c->tz), "America/New_York");
	assert_int_equal(c->n_windows, 3);
	assert_int_equal(c->windows[0].kind, PR_MW_DAILY);
	assert_int_equal(c->windows[0].start_min, 23 * 60 + 30);
	assert_int_equal(c->windows[0].end_min, 30);
	assert_int_equal(c->windows[1].kind, PR_MW_WEEKLY);
	assert_int_equal(c->windows[1].days, (1u << 0) | (1u << 3));
	assert_int_equal(c->windows[2].kind, PR_MW_ONCE);
	assert_int_equal(c->windows[2].from_ms, 1777593600000LL);
	assert_int_equal(c->windows[2].to_ms,
			 1777593600000LL + 6 * 3600000 + 500);
	assert_int_equal(c->txn_min, 100);
	assert_int_equal(c->txn_max, 5000000);
	assert_int_equal(c->daily_amount, 100000000);
	assert_int_equal(c->daily_count, 10000);
	assert_int_equal(c->fee_rate_bps, 60);
	assert_int_equal(c->fee_fixed, 10);
	assert_int_equal(c->fee_min, 1);
	assert_int_equal(c->fee_max, 2000);
	assert_int_equal(c->weight, 250);
	assert_int_equal(c->refund_window_days, 180);
	assert_int_equal(c->refund_timeout_s, 90);
	assert_int_equal(c->refund_resend, 0);
	assert_int_equal(c->whitelist_only, 1);
	assert_true(json_is_true(json_object_get(c->driver_config, "sandbox")));
}

static void check_banks_sorted(const struct pr_chan_spec *c)
{
	assert_int_equal(c->n_banks, 3);
	assert_string_equal(c->banks[0].bank_code, "ABC");
	assert_string_equal(c->banks[1].bank_code, "BOC");
	assert_string_equal(c->banks[2].bank_code, "ICBC");
	assert_string_equal(c->banks[2].channel_bank_code, "1");
	assert_int_equal(c->banks[2].card_types, 0);
	assert_non_null(pr_chan_bank(c, "BOC"));
	assert_string_equal(pr_chan_bank(c, "BOC")->channel_bank_code, "3");
	assert_non_null(pr_chan_bank(c, "ABC"));
	assert_non_null(pr_chan_bank(c, "ICBC"));
	assert_null(pr_chan_bank(c, "CCB"));
	assert_null(pr_chan_bank(c, "icbc"));
	assert_null(pr_chan_bank(c, NULL));
}

static void check_no_banks(const struct pr_chan_spec *c)
{
	assert_null(pr_chan_bank(c, "ICBC"));
}

static void check_week_numbers(const struct pr_chan_spec *c)
{
	assert_int_equal(c->windows[0].days, (1u << 0) | (1u << 6) | (1u << 1));
}

static void check_offset_time(const struct pr_chan_spec *c)
{
	/* 08:00+08:00 is midnight UTC. */
	assert_int_equal(c->windows[0].from_ms, 1777593600000LL);
	assert_int_equal(c->windows[0].to_ms, 1777593600000LL + 3600000);
}

static void check_limits_edges(const struct pr_chan_spec *c)
{
	assert_int_equal(c->txn_min, 0);
	assert_int_equal(c->txn_max, INT64_MAX);
	assert_int_equal(c->fee_rate_bps, 10000);
	assert_int_equal(c->weight, 0);
	assert_int_equal(c->refund_window_days, 0);
}

static void check_timeout_7d(const struct pr_chan_spec *c)
{
	assert_int_equal(c->refund_timeout_s, 7 * 86400);
}

static void check_timeout_30m(const struct pr_chan_spec *c)
{
	assert_int_equal(c->refund_timeout_s, 1800);
}

static void check_utc(const struct pr_chan_spec *c)
{
	assert_string_equal(pr_tz_name(c->tz), "UTC");
	assert_int_equal(c->business, PR_BIZ_WITHDRAW);
}

static const struct good_row good_chans[] = {
	{ "minimal_defaults", "{" BASE "}", check_minimal,
	  "{'code':'c1','driver':'sim','institution':'','business_types':[],"
	  "'methods':[],'environments':[],'product_codes':[],'currencies':[],"
	  "'banks':[],'status':'offline','timezone':'Asia/Shanghai',"
	  "'maintenance_windows':[],'limits':{'txn_min':0,'txn_max':0,"
	  "'daily_amount':0,'daily_count':0},'fee':{'rate_bps':0,'fixed':0,"
	  "'min':0,'max':0},'weight':100,'refund_window_days':365,"
	  "'refund_timeout':'2d','refund_resend':true,'whitelist_only':false,"
	  "'driver_config':{}}" },
	{ "full", FULL, check_full, FULL },
	{ "banks_sorted_by_code",
	  "{" BASE ",'banks':[{'bank_code':'ICBC','channel_bank_code':'1'},"
	  "{'bank_code':'ABC','channel_bank_code':'2'},"
	  "{'bank_code':'BOC','channel_bank_code':'3'}]}",
	  check_banks_sorted, NULL },
	{ "no_banks_no_mapping", "{" BASE "}", check_no_banks, NULL },
	{ "weekly_days_as_numbers",
	  "{" BASE ",'maintenance_windows':[{'kind':'weekly','start':'22:00',"
	  "'end':'02:00','days':[0,6,'mon']}]}",
	  check_week_numbers, NULL },
	{ "once_with_offset",
	  "{" BASE ",'maintenance_windows':[{'kind':'once',"
	  "'from':'2026-05-01T08:00:00+08:00','to':'2026-04-30T22:00:00-03:00'}]}",
	  check_offset_time, NULL },
	{ "limits_at_edges",
	  "{" BASE ",'limits':{'txn_min':0,'txn_max':9223372036854775807},"
	  "'fee':{'rate_bps':10000},'weight':0,'refund_window_days':0}",
	  check_limits_edges, NULL },
	{ "refund_timeout_days", "{" BASE ",'refund_timeout':'7d'}",
	  check_timeout_7d, NULL },
	{ "refund_timeout_minutes", "{" BASE ",'refund_timeout':'30m'}",
	  check_timeout_30m, NULL },
	{ "utc_withdraw_only",
	  "{" BASE ",'timezone':'UTC','business_types':['withdraw']}",
	  check_utc, NULL },
};

static void test_good_chan(void **state)
{
	const struct good_row *r = *state;
	struct pr_chan_spec c;
	char err[512] = "";
	json_t *j = J(r->json), *out;

	if (pr_chan_parse(j, &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", r->name, err);
	r->check(&c);
	out = pr_chan_to_json(&c);
	assert_non_null(out);
	if (r->canonical) {
		json_t *want = J(r->canonical);

		if (!json_equal(out, want)) {
			char *s = json_dumps(out, JSON_SORT_KEYS);

			fail_msg("%s: to_json gave %s", r->name, s);
		}
		json_decref(want);
	}
	json_decref(out);
	json_decref(j);
	pr_chan_clear(&c);
	assert_null(c.code);
}

/* parse(to_json(parse(x))) == parse(x), for every valid row. */
static void test_round_trip(void **state)
{
	const struct good_row *r = *state;
	struct pr_chan_spec a, b;
	char err[512] = "";
	json_t *j = J(r->json), *out, *out2;

	if (pr_chan_parse(j, &a, err, sizeof(err)) != 0)
		fail_msg("%s: %s", r->name, err);
	out = pr_chan_to_json(&a);
	assert_non_null(out);
	if (pr_chan_parse(out, &b, err, sizeof(err)) != 0)
		fail_msg("%s: reparse: %s", r->name, err);
	assert_true(chan_equal(&a, &b));
	out2 = pr_chan_to_json(&b);
	assert_true(json_equal(out, out2));
	json_decref(out2);
	json_decref(out);
	json_decref(j);
	pr_chan_clear(&a);
	pr_chan_clear(&b);
}

/* The largest exact unit. */
struct dur_row {
	const char *name;
	const char *in;
	const char *out;
};

static const struct dur_row dur_rows[] = {
	{ "duration_90s", "90s", "90s" },
	{ "duration_120s_is_2m", "120s", "2m" },
	{ "duration_48h", "48h", "2d" },
	{ "duration_36h", "36h", "36h" },
	{ "duration_90m", "90m", "90m" },
	{ "duration_180m_is_3h", "180m", "3h" },
	{ "duration_86400s_is_1d", "86400s", "1d" },
	{ "duration_3650d", "3650d", "3650d" },
};

static void test_duration(void **state)
{
	const struct dur_row *r = *state;
	struct pr_chan_spec c;
	char text[256], err[256] = "";
	json_t *j, *out;

	snprintf(text, sizeof(text), "{" BASE ",'refund_timeout':'%s'}", r->in);
	j = J(text);
	if (pr_chan_parse(j, &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", r->name, err);
	out = pr_chan_to_json(&c);
	assert_string_equal(
		json_string_value(json_object_get(out, "refund_timeout")),
		r->out);
	json_decref(out);
	json_decref(j);
	pr_chan_clear(&c);
}

/* ------------------------------------------------------------------- fees */

struct fee_row {
	const char *name;
	int32_t rate;
	int64_t fixed, min, max;
	int64_t amount;
	int64_t fee;
};

static const struct fee_row fee_rows[] = {
	{ "rate_0_no_fee", 0, 0, 0, 0, 100000, 0 },
	{ "rate_0_fixed_only", 0, 25, 0, 0, 100000, 25 },
	{ "one_minor_unit_rounds_up", 1, 0, 0, 0, 1, 1 },
	{ "one_minor_unit_high_rate", 9999, 0, 0, 0, 1, 1 },
	{ "exact_division", 60, 0, 0, 0, 10000, 60 },
	{ "just_over_rounds_up", 60, 0, 0, 0, 10001, 61 },
	{ "just_under_rounds_up", 60, 0, 0, 0, 9999, 60 },
	{ "rate_0_6_percent", 60, 0, 0, 0, 123456, 741 },
	{ "full_rate", 10000, 0, 0, 0, 12345, 12345 },
	{ "fixed_plus_rate", 30, 100, 0, 0, 1000, 103 },
	{ "min_floor", 6, 0, 50, 0, 100, 50 },
	{ "min_floor_not_reached", 6, 0, 50, 0, 1000000, 600 },
	{ "max_cap", 100, 0, 0, 500, 1000000, 500 },
	{ "max_cap_not_reached", 100, 0, 0, 500, 1000, 10 },
	{ "max_0_means_no_cap", 100, 0, 0, 0, 100000000, 1000000 },
	{ "min_equals_max", 100, 0, 300, 300, 1, 300 },
	{ "fixed_above_max_capped", 0, 1000, 0, 500, 1, 500 },
	{ "zero_amount_fixed", 60, 7, 0, 0, 0, 7 },
	{ "int64_max_amount_rate_1", 1, 0, 0, 0, INT64_MAX, 922337203685478LL },
	{ "int64_max_amount_full_rate", 10000, 0, 0, 0, INT64_MAX, INT64_MAX },
	{ "saturates_at_int64_max", 10000, INT64_MAX, 0, 0, INT64_MAX,
	  INT64_MAX },
	{ "saturated_then_capped", 10000, INT64_MAX, 0, 1000, INT64_MAX, 1000 },
	{ "large_no_overflow", 5000, 0, 0, 0, 4611686018427387904LL,
	  2305843009213693952LL },
};

static void test_fee(void **state)
{
	const struct fee_row *r = *state;
	struct pr_chan_spec c;

	memset(&c, 0, sizeof(c));
	c.fee_rate_bps = r->rate;
	c.fee_fixed = r->fixed;
	c.fee_min = r->min;
	c.fee_max = r->max;
	assert_int_equal(pr_chan_fee(&c, r->amount), r->fee);
}

/* ---------------------------------------------------- maintenance windows */

struct mw_row {
	const char *name;
	const char *tz;	     /* NULL: default (Asia/Shanghai) */
	const char *windows; /* the maintenance_windows array */
	const char *at;	     /* RFC 3339 instant */
	int in;
};

#define DAILY_2_4 "[{'kind':'daily','start':'02:00','end':'04:00'}]"
#define DAILY_22_2 "[{'kind':'daily','start':'22:00','end':'02:00'}]"
#define MON_22_2                                                               \
	"[{'kind':'weekly','start':'22:00','end':'02:00','days':['mon']}]"
#define WEEKEND_0_6                                                            \
	"[{'kind':'weekly','start':'00:00','end':'06:00','days':['sat',0]}]"
#define ONCE_MAY1                                                              \
	"[{'kind':'once','from':'2026-05-01T00:00:00+08:00',"                  \
	"'to':'2026-05-01T06:00:00+08:00'}]"
#define DAILY_1_3 "[{'kind':'daily','start':'01:00','end':'03:00'}]"
#define DAILY_1_2 "[{'kind':'daily','start':'01:00','end':'02:00'}]"
#define SUN_2_4                                                                \
	"[{'kind':'weekly','start':'02:00','end':'04:00','days':['sun']}]"
#define TWO                                                                    \
	"[{'kind':'daily','start':'02:00','end':'03:00'},"                     \
	"{'kind':'weekly','start':'12:00','end':'13:00','days':['fri']}]"

/* 2026-05-04 is a Monday, 2026-05-01 a Friday. */
static const struct mw_row mw_rows[] = {
	{ "no_windows", NULL, "[]", "2026-05-01T02:30:00+08:00", 0 },
	{ "daily_inside", NULL, DAILY_2_4, "2026-05-01T02:30:00+08:00", 1 },
	{ "daily_at_start", NULL, DAILY_2_4, "2026-05-01T02:00:00+08:00", 1 },
	{ "daily_last_minute", NULL, DAILY_2_4, "2026-05-01T03:59:59+08:00",
	  1 },
	{ "daily_at_end_excluded", NULL, DAILY_2_4, "2026-05-01T04:00:00+08:00",
	  0 },
	{ "daily_before", NULL, DAILY_2_4, "2026-05-01T01:59:00+08:00", 0 },
	{ "cross_midnight_evening", NULL, DAILY_22_2,
	  "2026-05-01T23:30:00+08:00", 1 },
	{ "cross_midnight_at_start", NULL, DAILY_22_2,
	  "2026-05-01T22:00:00+08:00", 1 },
	{ "cross_midnight_at_midnight", NULL, DAILY_22_2,
	  "2026-05-02T00:00:00+08:00", 1 },
	{ "cross_midnight_morning", NULL, DAILY_22_2,
	  "2026-05-02T01:59:00+08:00", 1 },
	{ "cross_midnight_at_end_excluded", NULL, DAILY_22_2,
	  "2026-05-02T02:00:00+08:00", 0 },
	{ "cross_midnight_before", NULL, DAILY_22_2,
	  "2026-05-01T21:59:00+08:00", 0 },
	{ "cross_midnight_noon", NULL, DAILY_22_2, "2026-05-01T12:00:00+08:00",
	  0 },
	{ "weekly_listed_day_evening", NULL, MON_22_2,
	  "2026-05-04T23:00:00+08:00", 1 },
	{ "weekly_after_midnight_belongs_to_next_day", NULL, MON_22_2,
	  "2026-05-05T01:00:00+08:00", 1 },
	{ "weekly_listed_day_early_morning_excluded", NULL, MON_22_2,
	  "2026-05-04T01:00:00+08:00", 0 },
	{ "weekly_next_day_evening_excluded", NULL, MON_22_2,
	  "2026-05-05T23:00:00+08:00", 0 },
	{ "weekly_day_before_evening_excluded", NULL, MON_22_2,
	  "2026-05-03T23:00:00+08:00", 0 },
	{ "weekly_saturday", NULL, WEEKEND_0_6, "2026-05-02T03:00:00+08:00",
	  1 },
	{ "weekly_sunday_by_number", NULL, WEEKEND_0_6,
	  "2026-05-03T05:59:00+08:00", 1 },
	{ "weekly_friday_excluded", NULL, WEEKEND_0_6,
	  "2026-05-01T03:00:00+08:00", 0 },
	{ "weekly_saturday_after_end", NULL, WEEKEND_0_6,
	  "2026-05-02T06:00:00+08:00", 0 },
	{ "once_at_from", NULL, ONCE_MAY1, "2026-05-01T00:00:00+08:00", 1 },
	{ "once_inside_in_utc", NULL, ONCE_MAY1, "2026-04-30T20:00:00Z", 1 },
	{ "once_at_to_excluded", NULL, ONCE_MAY1, "2026-05-01T06:00:00+08:00",
	  0 },
	{ "once_before", NULL, ONCE_MAY1, "2026-04-30T23:59:59+08:00", 0 },
	{ "once_ignores_channel_zone", "America/New_York", ONCE_MAY1,
	  "2026-05-01T01:00:00+08:00", 1 },
	/* 01:00-03:00 in New York and the same instants in Shanghai. */
	{ "new_york_window_in_new_york", "America/New_York", DAILY_1_3,
	  "2026-05-01T06:00:00Z", 1 },
	{ "same_instant_in_shanghai", "Asia/Shanghai", DAILY_1_3,
	  "2026-05-01T06:00:00Z", 0 },
	{ "shanghai_window_in_shanghai", "Asia/Shanghai", DAILY_1_3,
	  "2026-04-30T17:30:00Z", 1 },
	{ "same_instant_in_new_york", "America/New_York", DAILY_1_3,
	  "2026-04-30T17:30:00Z", 0 },
	{ "utc_zone", "UTC", DAILY_1_3, "2026-05-01T02:59:00Z", 1 },
	/* New York's DST days: 2026-03-08 02:00 EST -> 03:00 EDT, 2026-11-01
	 * 02:00 EDT -> 01:00 EST. */
	{ "dst_spring_before_jump", "America/New_York", DAILY_1_3,
	  "2026-03-08T06:30:00Z", 1 },
	{ "dst_spring_after_jump_03_00_excluded", "America/New_York", DAILY_1_3,
	  "2026-03-08T07:00:00Z", 0 },
	{ "dst_spring_weekly_03_00_edt", "America/New_York", SUN_2_4,
	  "2026-03-08T07:00:00Z", 1 },
	{ "dst_spring_weekly_before_01_59_est", "America/New_York", SUN_2_4,
	  "2026-03-08T06:59:00Z", 0 },
	{ "dst_fall_first_01_30_edt", "America/New_York", DAILY_1_2,
	  "2026-11-01T05:30:00Z", 1 },
	{ "dst_fall_second_01_30_est", "America/New_York", DAILY_1_2,
	  "2026-11-01T06:30:00Z", 1 },
	{ "dst_fall_02_00_est_excluded", "America/New_York", DAILY_1_2,
	  "2026-11-01T07:00:00Z", 0 },
	{ "two_windows_second_matches", NULL, TWO, "2026-05-01T12:30:00+08:00",
	  1 },
	{ "two_windows_none_matches", NULL, TWO, "2026-05-02T12:30:00+08:00",
	  0 },
	{ "before_epoch", "UTC", DAILY_22_2, "1969-12-31T23:00:00Z", 1 },
};

static void test_mw(void **state)
{
	const struct mw_row *r = *state;
	struct pr_chan_spec c;
	char text[1024], err[256] = "";
	json_t *j;

	snprintf(text, sizeof(text),
		 "{" BASE ",'timezone':'%s','maintenance_windows':%s}",
		 r->tz ? r->tz : "Asia/Shanghai", r->windows);
	j = J(text);
	if (pr_chan_parse(j, &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", r->name, err);
	assert_int_equal(pr_chan_in_maintenance(&c, at_ms(r->at)), r->in);
	json_decref(j);
	pr_chan_clear(&c);
}

/* -------------------------------------------------------------- whitelist */

#define HMAC "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct wl_row {
	const char *name;
	const char *json;
	const char *error; /* NULL: must parse */
	enum pr_wl_kind kind;
	int64_t expires_ms;
};

static const struct wl_row wl_rows[] = {
	{ "wl_buyer",
	  "{'id':7,'kind':'buyer_id','value':'u1001','channel':'c1',"
	  "'note':'vip','expires_at':'2026-06-01T00:00:00+08:00'}",
	  NULL, PR_WL_BUYER, 1780243200000LL },
	{ "wl_seller_null_expiry",
	  "{'kind':'seller_id','value':'m-9',"
	  "'channel':'c1','expires_at':null}",
	  NULL, PR_WL_SELLER, 0 },
	{ "wl_card_hmac",
	  "{'id':1,'kind':'card_no','value':'" HMAC "',"
	  "'channel':'c1','note':null}",
	  NULL, PR_WL_CARD, 0 },
	{ "wl_not_object", "[]", "expected an object", 0, 0 },
	{ "wl_kind_missing", "{'value':'u1','channel':'c1'}", "kind: missing",
	  0, 0 },
	{ "wl_kind_unknown", "{'kind':'phone','value':'u1','channel':'c1'}",
	  "kind: expected card_no, buyer_id or seller_id", 0, 0 },
	{ "wl_value_missing", "{'kind':'buyer_id','channel':'c1'}",
	  "value: missing", 0, 0 },
	{ "wl_value_empty", "{'kind':'buyer_id','value':'','channel':'c1'}",
	  "value: expected 1 to 256 characters", 0, 0 },
	{ "wl_card_in_clear",
	  "{'kind':'card_no','value':'6222021234567890123',"
	  "'channel':'c1'}",
	  "value: expected the card's HMAC-SHA256 as 64 lowercase hex", 0, 0 },
	{ "wl_card_uppercase_hex",
	  "{'kind':'card_no','value':'0123456789ABCDEF0123456789abcdef"
	  "0123456789abcdef0123456789abcdef','channel':'c1'}",
	  "value: expected the card's HMAC", 0, 0 },
	{ "wl_card_63_chars",
	  "{'kind':'card_no','value':'123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef','channel':'c1'}",
	  "value: expected the card's HMAC", 0, 0 },
	{ "wl_channel_missing", "{'kind':'buyer_id','value':'u1'}",
	  "channel: missing", 0, 0 },
	{ "wl_channel_bad", "{'kind':'buyer_id','value':'u1','channel':'C 1'}",
	  "channel: expected 1 to 64", 0, 0 },
	{ "wl_note_not_string",
	  "{'kind':'buyer_id','value':'u1','channel':'c1',"
	  "'note':5}",
	  "note: expected a string", 0, 0 },
	{ "wl_expires_bad",
	  "{'kind':'buyer_id','value':'u1','channel':'c1',"
	  "'expires_at':'tomorrow'}",
	  "expires_at: expected an RFC 3339 date-time", 0, 0 },
	{ "wl_expires_number",
	  "{'kind':'buyer_id','value':'u1','channel':'c1',"
	  "'expires_at':1780243200}",
	  "expires_at: expected an RFC 3339", 0, 0 },
	{ "wl_id_string",
	  "{'id':'7','kind':'buyer_id','value':'u1',"
	  "'channel':'c1'}",
	  "id: expected an integer", 0, 0 },
	{ "wl_unknown_key",
	  "{'kind':'buyer_id','value':'u1','channel':'c1',"
	  "'card':'x'}",
	  "card: unknown key", 0, 0 },
};

static void test_wl(void **state)
{
	const struct wl_row *r = *state;
	struct pr_wl_entry e;
	char err[256] = "";
	json_t *j = J(r->json);
	int rc = pr_wl_parse(j, &e, err, sizeof(err));

	json_decref(j);
	if (r->error) {
		if (rc == 0) {
			pr_wl_clear(&e);
			fail_msg("%s: parsed, expected \"%s\"", r->name,
				 r->error);
		}
		assert_int_equal(rc, -EINVAL);
		if (!strstr(err, r->error))
			fail_msg("%s: got \"%s\", expected \"%s\"", r->name,
				 err, r->error);
		assert_null(e.value);
		return;
	}
	if (rc != 0)
		fail_msg("%s: %s", r->name, err);
	assert_int_equal(e.kind, r->kind);
	assert_int_equal(e.expires_ms, r->expires_ms);
	assert_string_equal(e.channel, "c1");
	assert_non_null(e.note);
	if (r->kind == PR_WL_CARD)
		assert_string_equal(e.value, HMAC);
	pr_wl_clear(&e);
}

/* ------------------------------------------------------------------ rules */

#define FULL_RULE                                                              \
	"{'id':3,'name':'big card payments','enabled':false,"                  \
	"'conditions':{'product_codes':['P1'],'methods':['debit_card'],"       \
	"'environments':['pc','h5'],'currencies':['CNY'],'banks':['ICBC'],"    \
	"'merchants':['m1','m2'],'amount_min':100000,'amount_max':0},"         \
	"'scoring':{'weight':0.5,'fee':2.0,'success_rate':1.5},"               \
	"'allow':['c1','c2'],'deny':['c3']}"

struct rule_row {
	const char *name;
	const char *json;
	const char *error; /* NULL: must parse and round-trip */
};

static const struct rule_row rule_rows[] = {
	{ "rule_full_round_trip", FULL_RULE, NULL },
	{ "rule_minimal", "{'name':'default'}", NULL },
	{ "rule_integer_weights", "{'scoring':{'weight':3,'fee':0}}", NULL },
	{ "rule_not_object", "'rule'", "expected an object" },
	{ "rule_unknown_key", "{'name':'r','priority':1}",
	  "priority: unknown key" },
	{ "rule_name_not_string", "{'name':1}", "name: expected a string" },
	{ "rule_enabled_not_bool", "{'enabled':'yes'}",
	  "enabled: expected true or false" },
	{ "rule_conditions_not_object", "{'conditions':[]}",
	  "conditions: expected an object" },
	{ "rule_conditions_unknown_key", "{'conditions':{'method':'x'}}",
	  "conditions.method: unknown key" },
	{ "rule_conditions_environment_unknown",
	  "{'conditions':{'environments':['web']}}",
	  "conditions.environments[0]: expected h5" },
	{ "rule_conditions_currency_bad",
	  "{'conditions':{'currencies':['rmb']}}",
	  "conditions.currencies[0]: expected a currency code" },
	{ "rule_conditions_method_duplicate",
	  "{'conditions':{'methods':['alipay','alipay']}}",
	  "conditions.methods[1]: duplicate 'alipay'" },
	{ "rule_amount_min_negative", "{'conditions':{'amount_min':-1}}",
	  "conditions.amount_min: must be at least 0" },
	{ "rule_amount_max_below_min",
	  "{'conditions':{'amount_min':500,'amount_max':100}}",
	  "conditions.amount_max: must be at least conditions.amount_min" },
	{ "rule_scoring_unknown_key", "{'scoring':{'speed':1}}",
	  "scoring.speed: unknown key" },
	{ "rule_scoring_negative", "{'scoring':{'fee':-0.5}}",
	  "scoring.fee: must be between 0 and 1000000" },
	{ "rule_scoring_string", "{'scoring':{'weight':'1'}}",
	  "scoring.weight: expected a number" },
	{ "rule_allow_bad_code", "{'allow':['C1']}",
	  "allow[0]: expected 1 to 64" },
	{ "rule_deny_duplicate", "{'deny':['c1','c1']}",
	  "deny[1]: duplicate 'c1'" },
	{ "rule_allow_not_array", "{'allow':'c1'}",
	  "allow: expected an array" },
};

static void test_rule(void **state)
{
	const struct rule_row *r = *state;
	struct pr_rule a, b;
	char err[256] = "";
	json_t *j = J(r->json), *out, *out2;
	int rc = pr_rule_parse(j, &a, err, sizeof(err));

	json_decref(j);
	if (r->error) {
		if (rc == 0) {
			pr_rule_clear(&a);
			fail_msg("%s: parsed, expected \"%s\"", r->name,
				 r->error);
		}
		assert_int_equal(rc, -EINVAL);
		if (!strstr(err, r->error))
			fail_msg("%s: got \"%s\", expected \"%s\"", r->name,
				 err, r->error);
		return;
	}
	if (rc != 0)
		fail_msg("%s: %s", r->name, err);
	out = pr_rule_to_json(&a);
	assert_non_null(out);
	if (pr_rule_parse(out, &b, err, sizeof(err)) != 0)
		fail_msg("%s: reparse: %s", r->name, err);
	out2 = pr_rule_to_json(&b);
	assert_true(json_equal(out, out2));
	assert_int_equal(a.enabled, b.enabled);
	assert_true(a.w_fee == b.w_fee && a.w_weight == b.w_weight &&
		    a.w_success == b.w_success);
	json_decref(out);
	json_decref(out2);
	pr_rule_clear(&a);
	pr_rule_clear(&b);
}

static void test_rule_values(void **state)
{
	struct pr_rule r;
	char err[256] = "";
	json_t *j = J(FULL_RULE), *out;

	(void)state;
	if (pr_rule_parse(j, &r, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(r.id, 3);
	assert_string_equal(r.name, "big card payments");
	assert_int_equal(r.enabled, 0);
	assert_int_equal(r.environments.n, 2);
	assert_string_equal(r.merchants.v[1], "m2");
	assert_int_equal(r.amount_min, 100000);
	assert_true(r.w_weight == 0.5 && r.w_fee == 2.0 && r.w_success == 1.5);
	assert_int_equal(r.allow.n, 2);
	assert_string_equal(r.deny.v[0], "c3");
	out = pr_rule_to_json(&r);
	assert_true(json_equal(out, j));
	json_decref(out);
	json_decref(j);
	pr_rule_clear(&r);

	/* Defaults. */
	j = J("{}");
	assert_int_equal(pr_rule_parse(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.enabled, 1);
	assert_string_equal(r.name, "");
	assert_true(r.w_weight == 1 && r.w_fee == 1 && r.w_success == 0);
	assert_int_equal(r.allow.n + r.deny.n + r.methods.n, 0);
	assert_int_equal(r.amount_min + r.amount_max, 0);
	json_decref(j);
	pr_rule_clear(&r);
}

/* ------------------------------------------------------------- catalogue */

struct cat_row {
	const char *name;
	const char *channels, *whitelist, *rules; /* NULL: none */
	const char *error;			  /* NULL: must build */
};

#define CH(code) "{'code':'" code "','driver':'sim'}"

static const struct cat_row cat_rows[] = {
	{ "cat_empty", NULL, NULL, NULL, NULL },
	{ "cat_empty_arrays", "[]", "[]", "[]", NULL },
	{ "cat_ok", "[" CH("b") "," CH("a") "]",
	  "[{'kind':'buyer_id','value':'u1','channel':'a'}]",
	  "[{'name':'r1','allow':['a','b'],'deny':['b']}]", NULL },
	{ "cat_channels_not_array", "{}", NULL, NULL,
	  "channels: expected an array" },
	{ "cat_whitelist_not_array", "[]", "{}", NULL,
	  "whitelist: expected an array" },
	{ "cat_rules_not_array", "[]", NULL, "7", "rules: expected an array" },
	{ "cat_duplicate_code", "[" CH("a") "," CH("b") "," CH("a") "]", NULL,
	  NULL, "channels: duplicate code 'a'" },
	{ "cat_bad_channel_named",
	  "[" CH("a") "," CH("b") ",{'code':'ali_h5','driver':'sim',"
				  "'fee':{'rate_bps':20000}}]",
	  NULL, NULL,
	  "channels[2] (ali_h5): fee.rate_bps: must be between 0 and 10000" },
	{ "cat_bad_channel_no_code", "[{'driver':'sim'}]", NULL, NULL,
	  "channels[0]: code: missing" },
	{ "cat_whitelist_unknown_channel", "[" CH("a") "]",
	  "[{'kind':'buyer_id','value':'u1','channel':'a'},"
	  "{'kind':'buyer_id','value':'u2','channel':'zz'}]",
	  NULL, "whitelist[1]: channel: channel 'zz' does not exist" },
	{ "cat_whitelist_invalid", "[" CH("a") "]",
	  "[{'kind':'card_no','value':'1234','channel':'a'}]", NULL,
	  "whitelist[0]: value: expected the card's HMAC" },
	{ "cat_rule_allow_unknown_channel", "[" CH("a") "]", NULL,
	  "[{'name':'r1','allow':['a','zz']}]",
	  "rules[0] (r1): allow[1]: channel 'zz' does not exist" },
	{ "cat_rule_deny_unknown_channel", "[" CH("a") "]", NULL,
	  "[{'name':'r1'},{'name':'r2','deny':['nope']}]",
	  "rules[1] (r2): deny[0]: channel 'nope' does not exist" },
	{ "cat_rule_invalid", "[" CH("a") "]", NULL,
	  "[{'name':'r1','scoring':{'fee':-1}}]",
	  "rules[0] (r1): scoring.fee: must be between" },
};

static json_t *J_or_null(const char *s)
{
	return s ? J(s) : NULL;
}

static void test_cat(void **state)
{
	const struct cat_row *r = *state;
	struct pr_catalogue cat;
	char err[512] = "";
	json_t *ch = J_or_null(r->channels), *wl = J_or_null(r->whitelist),
	       *ru = J_or_null(r->rules);
	int rc = pr_catalogue_build(&cat, ch, wl, ru, err, sizeof(err));

	json_decref(ch);
	json_decref(wl);
	json_decref(ru);
	if (r->error) {
		if (rc == 0) {
			pr_catalogue_clear(&cat);
			fail_msg("%s: built, expected \"%s\"", r->name,
				 r->error);
		}
		assert_int_equal(rc, -EINVAL);
		if (!strstr(err, r->error))
			fail_msg("%s: got \"%s\", expected \"%s\"", r->name,
				 err, r->error);
		assert_null(cat.chans);
		assert_int_equal(cat.n_chans, 0);
		return;
	}
	if (rc != 0)
		fail_msg("%s: %s", r->name, err);
	pr_catalogue_clear(&cat);
	assert_null(cat.chans);
}

/* Channels by (business, method), in code order. */
static void test_buckets(void **state)
{
	static const char *channels =
		"[{'code':'c_b','driver':'sim','business_types':['refund','pay'],"
		"'methods':['alipay','wechat_pay']},"
		"{'code':'c_a','driver':'sim','business_types':['pay'],"
		"'methods':['alipay']},"
		"{'code':'c_c','driver':'sim','business_types':['withdraw'],"
		"'methods':['bank_transfer']},"
		"{'code':'c_d','driver':'sim','business_types':['pay']},"
		"{'code':'c_e','driver':'sim','methods':['alipay']},"
		"{'code':'c_f','driver':'sim','business_types':"
		"['pay','refund','withdraw'],'methods':['wechat_pay','alipay']}]";
	static const char *whitelist =
		"[{'id':1,'kind':'seller_id','value':'s1','channel':'c_a'},"
		"{'id':2,'kind':'buyer_id','value':'u9','channel':'c_b'},"
		"{'id':3,'kind':'card_no','value':'" HMAC "','channel':'c_c'},"
		"{'id':4,'kind':'buyer_id','value':'u1','channel':'c_a'},"
		"{'id':6,'kind':'buyer_id','value':'u1','channel':'c_f'},"
		"{'id':5,'kind':'buyer_id','value':'u1','channel':'c_b'}]";
	static const struct {
		unsigned business;
		const char *method;
		const char *codes; /* space-separated; NULL: no bucket */
	} want[] = {
		{ PR_BIZ_PAY, "alipay", "c_a c_b c_f" },
		{ PR_BIZ_PAY, "wechat_pay", "c_b c_f" },
		{ PR_BIZ_REFUND, "alipay", "c_b c_f" },
		{ PR_BIZ_REFUND, "wechat_pay", "c_b c_f" },
		{ PR_BIZ_WITHDRAW, "bank_transfer", "c_c" },
		{ PR_BIZ_WITHDRAW, "alipay", "c_f" },
		{ PR_BIZ_WITHDRAW, "wechat_pay", "c_f" },
		{ PR_BIZ_PAY, "bank_transfer", NULL },
		{ PR_BIZ_PAY, "unionpay", NULL },
		{ PR_BIZ_PAY | PR_BIZ_REFUND, "alipay", NULL },
		{ 0, "alipay", NULL },
		{ PR_BIZ_PAY, NULL, NULL },
	};
	struct pr_catalogue cat;
	char err[512] = "";
	json_t *ch = J(channels), *wl = J(whitelist);

	(void)state;
	if (pr_catalogue_build(&cat, ch, wl, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	json_decref(ch);
	json_decref(wl);

	assert_int_equal(cat.n_chans, 6);
	for (size_t i = 0; i + 1 < cat.n_chans; i++)
		assert_true(strcmp(cat.chans[i].code, cat.chans[i + 1].code) <
			    0);
	assert_int_equal(pr_catalogue_find(&cat, "c_a"), 0);
	assert_int_equal(pr_catalogue_find(&cat, "c_c"), 2);
	assert_int_equal(pr_catalogue_find(&cat, "c_f"), 5);
	assert_int_equal(pr_catalogue_find(&cat, "zz"), -1);
	assert_int_equal(pr_catalogue_find(&cat, ""), -1);
	assert_int_equal(pr_catalogue_find(&cat, NULL), -1);
	assert_int_equal(cat.n_buckets, 7);

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct pr_cat_bucket *b = pr_catalogue_bucket(
			&cat, want[i].business, want[i].method);
		char got[256] = "";
		size_t len = 0;

		if (!want[i].codes) {
			if (b)
				fail_msg("bucket %u/%s: expected none",
					 want[i].business, want[i].method);
			continue;
		}
		if (!b)
			fail_msg("bucket %u/%s: missing", want[i].business,
				 want[i].method);
		assert_int_equal(b->business, want[i].business);
		assert_string_equal(b->method, want[i].method);
		for (size_t k = 0; k < b->n; k++)
			len += (size_t)snprintf(got + len, sizeof(got) - len,
						"%s%s", k ? " " : "",
						cat.chans[b->chans[k]].code);
		assert_string_equal(got, want[i].codes);
	}

	/* Whitelist by kind (card, buyer, seller), then value, then id. */
	assert_int_equal(cat.n_wl, 6);
	assert_int_equal(cat.wl[0].kind, PR_WL_CARD);
	assert_int_equal(cat.wl[1].kind, PR_WL_BUYER);
	assert_string_equal(cat.wl[1].value, "u1");
	assert_int_equal(cat.wl[1].id, 4);
	assert_int_equal(cat.wl[2].id, 5);
	assert_int_equal(cat.wl[3].id, 6);
	assert_string_equal(cat.wl[4].value, "u9");
	assert_int_equal(cat.wl[5].kind, PR_WL_SELLER);
	pr_catalogue_clear(&cat);
	assert_int_equal(cat.n_buckets, 0);
	pr_catalogue_clear(&cat); /* twice is harmless */
}

/* The rules keep their order; clearing a zeroed catalogue is harmless. */
static void test_rules_order(void **state)
{
	struct pr_catalogue cat;
	char err[256] = "";
	json_t *ch = J("[" CH("a") "]"),
	       *ru = J("[{'name':'z'},{'name':'a'},{'name':'m'}]");

	(void)state;
	assert_int_equal(
		pr_catalogue_build(&cat, ch, NULL, ru, err, sizeof(err)), 0);
	assert_int_equal(cat.n_rules, 3);
	assert_string_equal(cat.rules[0].name, "z");
	assert_string_equal(cat.rules[2].name, "m");
	assert_int_equal(cat.n_buckets, 0);
	assert_null(pr_catalogue_bucket(&cat, PR_BIZ_PAY, "alipay"));
	pr_catalogue_clear(&cat);
	json_decref(ch);
	json_decref(ru);
}

/* ------------------------------------------------------------------- main */

#define ADD_ROWS(rows, fn)                                                     \
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)            \
		tests[n++] = (struct CMUnitTest)                               \
		{                                                              \
			rows[i].name, fn, NULL, NULL, (void *)&rows[i]         \
		}
#define ADD(name, fn)                                                          \
	tests[n++] = (struct CMUnitTest)                                       \
	{                                                                      \
		name, fn, NULL, NULL, NULL                                     \
	}
#define N_ROWS(rows) (sizeof(rows) / sizeof(rows[0]))

int main(void)
{
	size_t cap = N_ROWS(bad_chans) + 2 * N_ROWS(good_chans) +
		     N_ROWS(dur_rows) + N_ROWS(fee_rows) + N_ROWS(mw_rows) +
		     N_ROWS(wl_rows) + N_ROWS(rule_rows) + N_ROWS(cat_rows) + 8;
	struct CMUnitTest *tests = calloc(cap, sizeof(*tests));
	char(*rt_names)[96] = calloc(N_ROWS(good_chans), sizeof(*rt_names));
	size_t n = 0;
	int rc;

	if (!tests || !rt_names)
		return 1;
	ADD_ROWS(bad_chans, test_bad_chan);
	ADD_ROWS(good_chans, test_good_chan);
	for (size_t i = 0; i < N_ROWS(good_chans); i++) {
		snprintf(rt_names[i], sizeof(rt_names[i]), "round_trip_%s",
			 good_chans[i].name);
		tests[n++] = (struct CMUnitTest){ rt_names[i], test_round_trip,
						  NULL, NULL,
						  (void *)&good_chans[i] };
	}
	ADD_ROWS(dur_rows, test_duration);
	ADD_ROWS(fee_rows, test_fee);
	ADD_ROWS(mw_rows, test_mw);
	ADD_ROWS(wl_rows, test_wl);
	ADD_ROWS(rule_rows, test_rule);
	ADD("rule_values_and_defaults", test_rule_values);
	ADD_ROWS(cat_rows, test_cat);
	ADD("cat_buckets_find_whitelist_order", test_buckets);
	ADD("cat_rules_order", test_rules_order);
	rc = _cmocka_run_group_tests("catalogue", tests, n, NULL, NULL);
	free(tests);
	free(rt_names);
	return rc;
}
