/*
 * test_router.c - the routing decision, as a table that reads like the
 * spec (doc/design.md §4, steps 1 to 3).
 *
 * Each row is a small catalogue (channels written as overrides on a base
 * channel, in the admin API's JSON shape, built by pr_catalogue_build), an
 * optional whitelist, rules and usage, a request, and what must come out:
 * the chosen channel, the first failing condition of every channel ("-" for
 * a survivor), and optionally the ranking, the deciding whitelist entry,
 * the applied rule and the scores. Every row is routed twice, once over the
 * whole catalogue (explain's full trace) and once over the request's
 * business/method bucket (the hot path); both must agree.
 *
 * JSON in the rows uses single quotes for readability; they become double
 * quotes before parsing.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/catalogue.h"
#include "domain/router.h"

/* Every channel of a row starts as this one: pays by alipay in h5/app/pc,
 * CNY, online, no limits, 0.6 % fee, weight 100, Shanghai time. */
static const char base_chan[] =
	"{'code':'x','driver':'sim','institution':'Test Bank',"
	"'business_types':['pay'],'methods':['alipay'],"
	"'environments':['h5','app','pc'],'product_codes':[],"
	"'currencies':['CNY'],'banks':[],'status':'online',"
	"'timezone':'Asia/Shanghai','maintenance_windows':[],"
	"'limits':{'txn_min':0,'txn_max':0,'daily_amount':0,'daily_count':0},"
	"'fee':{'rate_bps':60,'fixed':0,'min':0,'max':0},'weight':100,"
	"'refund_window_days':180,'refund_timeout':'48h',"
	"'refund_resend':false,'whitelist_only':false,'driver_config':{}}";

/* HMAC-SHA256 (hex) of two card numbers, as the whitelist stores them. */
#define CARD1 "6f1ed002ab5595859014ebf0951522d9f1e3c9c1c6e8d5b2f3a4b5c6d7e8f901"
#define CARD2 "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"

struct qspec {
	unsigned business;  /* 0: pay */
	const char *method; /* NULL: alipay */
	const char *env;    /* NULL: h5 */
	int no_env;	    /* 1: no environment (withdrawals) */
	const char *product;
	const char *currency; /* NULL: CNY */
	const char *bank;
	const char *merchant; /* NULL: m1 */
	const char *buyer, *seller, *card;
	int64_t amount; /* 0: 100.00 */
	const char *at; /* RFC 3339; NULL: Wed 2024-03-06 12:00 +08:00 */
};

struct rcase {
	const char *name;
	const char *chans; /* array of overrides on base_chan */
	const char *wl;	   /* whitelist entries, or NULL */
	const char *rules; /* rules, or NULL */
	const char *usage; /* {code:{amount,count,rate,banks:{bank:amount}}} */
	struct qspec q;
	const char *chosen; /* NULL: nothing eligible */
	const char *drops;  /* every channel: "a=- b=status ..." */
	const char *order;  /* optional: the survivors in rank order */
	int64_t wl_id;	    /* the entry that decided; 0: none */
	/* optional: the entries that matched but did not decide, with
	 * what dropped their channel: "3=status" (explain's
	 * whitelist_unused) */
	const char *unused;
	int64_t rule_id;    /* the rule that applied; 0: none */
	const char *scores; /* optional: "a=0.75 b=0.5" */
};

#define ON_MAR6(t) "2024-03-06T" t "+08:00"

static const struct rcase cases[] = {
	/* ------------------------------------------- the nine elements */
	{ .name = "method mapping: only the channel with the method",
	  .chans =
		  "[{'code':'ali','methods':['alipay'],'fee':{'rate_bps':10}},"
		  "{'code':'wx','methods':['wechat_pay'],'fee':{'rate_bps':60}}]",
	  .q = { .method = "wechat_pay" },
	  .chosen = "wx",
	  .drops = "ali=method wx=-" },
	{ .name = "method mapping: a channel with several methods",
	  .chans = "[{'code':'a','methods':['alipay','wechat_pay','unionpay']},"
		   "{'code':'b','methods':['debit_card']}]",
	  .q = { .method = "unionpay" },
	  .chosen = "a",
	  .drops = "a=- b=method" },
	{ .name = "per-transaction max: 100.00 is above a's 50.00",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'limits':{'txn_max':5000}},"
		  "{'code':'b'}]",
	  .q = { .amount = 10000 },
	  .chosen = "b",
	  .drops = "a=txn_limit b=-" },
	{ .name = "per-transaction min: 100.00 is below a's 200.00",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'limits':{'txn_min':20000}},"
		  "{'code':'b'}]",
	  .q = { .amount = 10000 },
	  .chosen = "b",
	  .drops = "a=txn_limit b=-" },
	{ .name = "per-transaction limits are inclusive",
	  .chans = "[{'code':'a','limits':{'txn_min':10000,'txn_max':10000}}]",
	  .q = { .amount = 10000 },
	  .chosen = "a",
	  .drops = "a=-" },
	{ .name = "daily amount: 950.00 used + 100.00 > 1000.00",
	  .chans = "[{'code':'a','fee':{'rate_bps':10},"
		   "'limits':{'daily_amount':100000}},{'code':'b'}]",
	  .usage = "{'a':{'amount':95000,'count':3}}",
	  .chosen = "b",
	  .drops = "a=daily_amount_limit b=-" },
	{ .name = "daily amount: exactly filling the limit is allowed",
	  .chans = "[{'code':'a','fee':{'rate_bps':10},"
		   "'limits':{'daily_amount':100000}},{'code':'b'}]",
	  .usage = "{'a':{'amount':90000,'count':3}}",
	  .chosen = "a",
	  .drops = "a=- b=-",
	  .order = "a b" },
	{ .name = "daily count: the 10th payment of 10 is the last",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'limits':{'daily_count':10}},"
		  "{'code':'b'}]",
	  .usage = "{'a':{'amount':1000,'count':9}}",
	  .chosen = "a",
	  .drops = "a=- b=-" },
	{ .name = "daily count: 10 of 10 used",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'limits':{'daily_count':10}},"
		  "{'code':'b'}]",
	  .usage = "{'a':{'amount':1000,'count':10}}",
	  .chosen = "b",
	  .drops = "a=daily_count_limit b=-" },
	{ .name = "status: an offline channel is dropped",
	  .chans = "[{'code':'a','fee':{'rate_bps':10},'status':'offline'},"
		   "{'code':'b'}]",
	  .chosen = "b",
	  .drops = "a=status b=-" },
	{ .name = "weight: same fee, the higher weight wins",
	  .chans = "[{'code':'a','weight':100},{'code':'b','weight':300},"
		   "{'code':'c','weight':200}]",
	  .chosen = "b",
	  .drops = "a=- b=- c=-",
	  .order = "b c a" },
	{ .name = "whitelist: a buyer entry names the dearest channel",
	  .chans = "[{'code':'a','fee':{'rate_bps':10}},"
		   "{'code':'b','fee':{'rate_bps':90}}]",
	  .wl = "[{'id':7,'kind':'buyer_id','value':'u42','channel':'b',"
		"'note':'vip'}]",
	  .q = { .buyer = "u42" },
	  .chosen = "b",
	  .drops = "a=- b=-",
	  .order = "b a",
	  .wl_id = 7 },
	{ .name = "whitelist: an entry for someone else does not apply",
	  .chans = "[{'code':'a','fee':{'rate_bps':10}},"
		   "{'code':'b','fee':{'rate_bps':90}}]",
	  .wl = "[{'id':7,'kind':'buyer_id','value':'u42','channel':'b'}]",
	  .q = { .buyer = "u43" },
	  .chosen = "a",
	  .drops = "a=- b=-",
	  .order = "a b" },
	{ .name = "product code: listed codes only; none listed = any",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'product_codes':['QUICK']},"
		  "{'code':'b','fee':{'rate_bps':20},'product_codes':['FACE','QR']},"
		  "{'code':'c','product_codes':[]}]",
	  .q = { .product = "FACE" },
	  .chosen = "b",
	  .drops = "a=product_code b=- c=-",
	  .order = "b c" },
	{ .name = "product code: a request without one fails channels listing some",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'product_codes':['QUICK']},"
		  "{'code':'c'}]",
	  .chosen = "c",
	  .drops = "a=product_code c=-" },
	{ .name = "environment: mini_program only on b",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'environments':['h5','app']},"
		  "{'code':'b','environments':['mini_program']}]",
	  .q = { .env = "mini_program" },
	  .chosen = "b",
	  .drops = "a=environment b=-" },
	{ .name = "environment: a withdrawal has none and skips the check",
	  .chans = "[{'code':'a','business_types':['withdraw'],"
		   "'methods':['bank_transfer'],'environments':['h5']}]",
	  .q = { .business = PR_BIZ_WITHDRAW,
		 .method = "bank_transfer",
		 .no_env = 1 },
	  .chosen = "a",
	  .drops = "a=-" },
	{ .name = "fee rate: 0.38 % beats 0.60 %",
	  .chans = "[{'code':'a','fee':{'rate_bps':60}},"
		   "{'code':'b','fee':{'rate_bps':38}}]",
	  .chosen = "b",
	  .drops = "a=- b=-",
	  .order = "b a" },
	{ .name = "fee for this amount: a fixed fee loses on a small amount",
	  .chans = "[{'code':'fixed','fee':{'rate_bps':0,'fixed':100}},"
		   "{'code':'rate','fee':{'rate_bps':60}}]",
	  .q = { .amount = 1000 },
	  .chosen = "rate",
	  .drops = "fixed=- rate=-" },
	{ .name = "fee for this amount: ... and wins on a large one",
	  .chans = "[{'code':'fixed','fee':{'rate_bps':0,'fixed':100}},"
		   "{'code':'rate','fee':{'rate_bps':60}}]",
	  .q = { .amount = 1000000 },
	  .chosen = "fixed",
	  .drops = "fixed=- rate=-" },
	{ .name = "fee: the cap makes the dear rate cheapest",
	  .chans = "[{'code':'a','fee':{'rate_bps':100,'max':500}},"
		   "{'code':'b','fee':{'rate_bps':60}}]",
	  .q = { .amount = 1000000 },
	  .chosen = "a",
	  .drops = "a=- b=-" },
	{ .name = "maintenance window: daily 11:00-13:00, request at 12:00",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		  "[{'kind':'daily','start':'11:00','end':'13:00'}]},{'code':'b'}]",
	  .q = { .at = ON_MAR6("12:00:00") },
	  .chosen = "b",
	  .drops = "a=maintenance_window b=-" },
	{ .name = "maintenance window: the end is not in the window",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		  "[{'kind':'daily','start':'11:00','end':'13:00'}]},{'code':'b'}]",
	  .q = { .at = ON_MAR6("13:00:00") },
	  .chosen = "a",
	  .drops = "a=- b=-" },
	{ .name = "maintenance across midnight: 23:00-01:00 at 23:30",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		  "[{'kind':'daily','start':'23:00','end':'01:00'}]},{'code':'b'}]",
	  .q = { .at = ON_MAR6("23:30:00") },
	  .chosen = "b",
	  .drops = "a=maintenance_window b=-" },
	{ .name = "maintenance across midnight: 23:00-01:00 at 00:30",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		  "[{'kind':'daily','start':'23:00','end':'01:00'}]},{'code':'b'}]",
	  .q = { .at = ON_MAR6("00:30:00") },
	  .chosen = "b",
	  .drops = "a=maintenance_window b=-" },
	{ .name = "maintenance across midnight: 23:00-01:00 at 01:30 is open",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		  "[{'kind':'daily','start':'23:00','end':'01:00'}]},{'code':'b'}]",
	  .q = { .at = ON_MAR6("01:30:00") },
	  .chosen = "a",
	  .drops = "a=- b=-" },
	{ .name = "maintenance in another time zone: 02:00-03:00 New York "
		  "is 15:30 in Shanghai",
	  .chans = "[{'code':'ny','fee':{'rate_bps':10},"
		   "'timezone':'America/New_York','maintenance_windows':"
		   "[{'kind':'daily','start':'02:00','end':'03:00'}]},"
		   "{'code':'sh','fee':{'rate_bps':20},'maintenance_windows':"
		   "[{'kind':'daily','start':'02:00','end':'03:00'}]},"
		   "{'code':'z'}]",
	  .q = { .at = "2024-03-06T07:30:00Z" }, /* 02:30 EST, 15:30 CST */
	  .chosen = "sh",
	  .drops = "ny=maintenance_window sh=- z=-",
	  .order = "sh z" },
	{ .name = "maintenance weekly: Wednesdays 11:00-13:00, on a Wednesday",
	  .chans = "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		   "[{'kind':'weekly','days':['wed'],'start':'11:00',"
		   "'end':'13:00'}]},{'code':'b'}]",
	  .q = { .at = ON_MAR6("12:00:00") },
	  .chosen = "b",
	  .drops = "a=maintenance_window b=-" },
	{ .name = "maintenance weekly: ... not on a Thursday",
	  .chans = "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		   "[{'kind':'weekly','days':['wed'],'start':'11:00',"
		   "'end':'13:00'}]},{'code':'b'}]",
	  .q = { .at = "2024-03-07T12:00:00+08:00" },
	  .chosen = "a",
	  .drops = "a=- b=-" },
	{ .name = "maintenance once: from/to around the request",
	  .chans = "[{'code':'a','fee':{'rate_bps':10},'maintenance_windows':"
		   "[{'kind':'once','from':'2024-03-06T00:00:00Z',"
		   "'to':'2024-03-06T06:00:00Z'}]},{'code':'b'}]",
	  .q = { .at = ON_MAR6("12:00:00") }, /* 04:00Z */
	  .chosen = "b",
	  .drops = "a=maintenance_window b=-" },

	/* ------------------------------------------------- whitelist */
	{ .name = "whitelist beats a higher score under a rule",
	  .chans = "[{'code':'a','weight':1000,'fee':{'rate_bps':10}},"
		   "{'code':'b','weight':10,'fee':{'rate_bps':90}}]",
	  .wl = "[{'id':3,'kind':'seller_id','value':'s1','channel':'b'}]",
	  .rules = "[{'id':1,'name':'all','enabled':true,'conditions':{},"
		   "'scoring':{'weight':1,'fee':1,'success_rate':1}}]",
	  .q = { .seller = "s1" },
	  .chosen = "b",
	  .drops = "a=- b=-",
	  .order = "b a",
	  .wl_id = 3,
	  .rule_id = 1 },
	{ .name = "whitelist: card first, then buyer, then seller",
	  .chans = "[{'code':'a'},{'code':'b'},{'code':'c'},{'code':'d'}]",
	  .wl = "[{'id':1,'kind':'seller_id','value':'s1','channel':'a'},"
		"{'id':2,'kind':'buyer_id','value':'u1','channel':'b'},"
		"{'id':3,'kind':'card_no','value':'" CARD1 "','channel':'c'}]",
	  .q = { .seller = "s1", .buyer = "u1", .card = CARD1 },
	  .chosen = "c",
	  .drops = "a=- b=- c=- d=-",
	  .order = "c a b d",
	  .wl_id = 3 },
	{ .name = "whitelisted channel failing a hard filter: dropped with "
		  "its reason, the next entry decides",
	  .chans = "[{'code':'a'},{'code':'b'},"
		   "{'code':'c','status':'offline'}]",
	  .wl = "[{'id':2,'kind':'buyer_id','value':'u1','channel':'b'},"
		"{'id':3,'kind':'card_no','value':'" CARD1 "','channel':'c'}]",
	  .q = { .buyer = "u1", .card = CARD1 },
	  .chosen = "b",
	  .drops = "a=- b=- c=status",
	  .wl_id = 2,
	  .unused = "3=status" },
	{ .name = "whitelisted channel failing a hard filter: falls back to "
		  "scoring",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':30}},{'code':'b'},"
		  "{'code':'c','fee':{'rate_bps':10},'limits':{'txn_max':100}}]",
	  .wl = "[{'id':3,'kind':'card_no','value':'" CARD1 "','channel':'c'}]",
	  .q = { .card = CARD1 },
	  .chosen = "a",
	  .drops = "a=- b=- c=txn_limit",
	  .order = "a b",
	  .unused = "3=txn_limit" },
	{ .name = "whitelist_only without a match: gray channel dropped",
	  .chans = "[{'code':'a'},{'code':'gray','whitelist_only':true,"
		   "'fee':{'rate_bps':1}}]",
	  .wl = "[{'id':4,'kind':'buyer_id','value':'tester','channel':'gray'}]",
	  .q = { .buyer = "someone" },
	  .chosen = "a",
	  .drops = "a=- gray=whitelist_only" },
	{ .name = "whitelist_only with a match: gray channel chosen",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},"
		   "{'code':'gray','whitelist_only':true}]",
	  .wl = "[{'id':4,'kind':'buyer_id','value':'tester','channel':'gray'}]",
	  .q = { .buyer = "tester" },
	  .chosen = "gray",
	  .drops = "a=- gray=-",
	  .order = "gray a",
	  .wl_id = 4 },
	{ .name = "whitelist_only: a match for another channel does not open it",
	  .chans = "[{'code':'a'},{'code':'gray','whitelist_only':true}]",
	  .wl = "[{'id':4,'kind':'buyer_id','value':'tester','channel':'a'}]",
	  .q = { .buyer = "tester" },
	  .chosen = "a",
	  .drops = "a=- gray=whitelist_only",
	  .wl_id = 4 },
	{ .name = "expired whitelist entry: ignored, gray channel closed",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},"
		   "{'code':'b','fee':{'rate_bps':90}},"
		   "{'code':'gray','whitelist_only':true}]",
	  .wl = "[{'id':5,'kind':'buyer_id','value':'tester','channel':'b',"
		"'expires_at':'2024-03-01T00:00:00Z'},"
		"{'id':6,'kind':'buyer_id','value':'tester','channel':'gray',"
		"'expires_at':'2024-03-06T03:59:59Z'}]",
	  .q = { .buyer = "tester" },
	  .chosen = "a",
	  .drops = "a=- b=- gray=whitelist_only",
	  .order = "a b" },
	{ .name = "whitelist entry not yet expired still applies",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},"
		   "{'code':'b','fee':{'rate_bps':90}}]",
	  .wl = "[{'id':5,'kind':'buyer_id','value':'tester','channel':'b',"
		"'expires_at':'2024-03-06T04:00:01Z'}]",
	  .q = { .buyer = "tester" },
	  .chosen = "b",
	  .drops = "a=- b=-",
	  .wl_id = 5 },

	/* ----------------------------------------- ties, rules, others */
	{ .name = "tie-break: same fee and weight, the lower code wins",
	  .chans = "[{'code':'zeta'},{'code':'alpha'},{'code':'mid'}]",
	  .chosen = "alpha",
	  .drops = "alpha=- mid=- zeta=-",
	  .order = "alpha mid zeta",
	  .scores = "alpha=1 mid=0.6666666666666666 zeta=0.3333333333333333" },
	{ .name = "tie-break under a rule: equal scores, the lower code wins",
	  .chans = "[{'code':'b'},{'code':'a'}]",
	  .rules = "[{'id':1,'name':'all','enabled':true,'conditions':{},"
		   "'scoring':{'weight':1,'fee':1,'success_rate':0}}]",
	  .chosen = "a",
	  .drops = "a=- b=-",
	  .order = "a b",
	  .rule_id = 1,
	  .scores = "a=2 b=2" },
	{ .name = "rule allow list: channels outside it are dropped",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':1}},{'code':'b'},{'code':'c'}]",
	  .rules = "[{'id':9,'name':'only b and c','enabled':true,"
		   "'conditions':{},'scoring':{'weight':0,'fee':1,"
		   "'success_rate':0},'allow':['b','c']}]",
	  .chosen = "b",
	  .drops = "a=rule b=- c=-",
	  .rule_id = 9 },
	{ .name = "rule deny list: a denied channel is dropped",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},{'code':'b'}]",
	  .rules = "[{'id':9,'name':'not a','enabled':true,'conditions':{},"
		   "'scoring':{'weight':0,'fee':1,'success_rate':0},"
		   "'deny':['a']}]",
	  .chosen = "b",
	  .drops = "a=rule b=-",
	  .rule_id = 9 },
	{ .name = "rules: the first enabled matching rule applies",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},{'code':'b'}]",
	  .rules = "[{'id':1,'name':'off','enabled':false,'conditions':{},"
		   "'scoring':{'weight':1,'fee':0,'success_rate':0},"
		   "'deny':['b']},"
		   "{'id':2,'name':'big','enabled':true,"
		   "'conditions':{'amount_min':500000},"
		   "'scoring':{'weight':1,'fee':0,'success_rate':0},"
		   "'deny':['b']},"
		   "{'id':3,'name':'m1 small alipay','enabled':true,"
		   "'conditions':{'merchants':['m1'],'methods':['alipay'],"
		   "'currencies':['CNY'],'amount_max':20000},"
		   "'scoring':{'weight':1,'fee':0,'success_rate':0},"
		   "'deny':['a']}]",
	  .chosen = "b",
	  .drops = "a=rule b=-",
	  .rule_id = 3 },
	{ .name = "rules: an amount above the rule's range skips it",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},{'code':'b'}]",
	  .rules = "[{'id':2,'name':'small','enabled':true,"
		   "'conditions':{'amount_min':100,'amount_max':9999},"
		   "'scoring':{'weight':1,'fee':0,'success_rate':0},"
		   "'deny':['a']},"
		   "{'id':5,'name':'large','enabled':true,"
		   "'conditions':{'amount_min':10000,'amount_max':10000},"
		   "'scoring':{'weight':1,'fee':0,'success_rate':0},"
		   "'allow':['a']}]",
	  .q = { .amount = 10000 },
	  .chosen = "a",
	  .drops = "a=- b=rule",
	  .rule_id = 5 },
	{ .name = "rules: no rule matches, doc/design.md §4's default order",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},{'code':'b'}]",
	  .rules = "[{'id':2,'name':'ICBC only','enabled':true,"
		   "'conditions':{'banks':['ICBC']},"
		   "'scoring':{'weight':1,'fee':0,'success_rate':0},"
		   "'deny':['a']}]",
	  .chosen = "a",
	  .drops = "a=- b=-" },
	{ .name = "rule scoring: recent success rate decides",
	  .chans =
		  "[{'code':'a','fee':{'rate_bps':10}},{'code':'b'},{'code':'c'}]",
	  .rules = "[{'id':4,'name':'reliability','enabled':true,"
		   "'conditions':{},'scoring':{'weight':0,'fee':0,"
		   "'success_rate':1}}]",
	  .usage = "{'a':{'rate':0.8},'b':{'rate':0.95}}",
	  .chosen = "b",
	  .drops = "a=- b=- c=-",
	  .order = "b a c", /* c has no history: 0.5 */
	  .rule_id = 4,
	  .scores = "a=0.8 b=0.95 c=0.5" },
	{ .name = "rule scoring: weights, fee and success rate together",
	  .chans = "[{'code':'a','weight':100,'fee':{'rate_bps':30}},"
		   "{'code':'b','weight':50,'fee':{'rate_bps':60}}]",
	  .rules = "[{'id':4,'name':'mix','enabled':true,'conditions':{},"
		   "'scoring':{'weight':0.25,'fee':0.25,'success_rate':0.5}}]",
	  .usage = "{'a':{'rate':0.5},'b':{'rate':1.0}}",
	  /* a: .2*1 + .3*1 + .5*.5 = .75; b: .2*.5 + .3*.5 + .5*1 = .75:
	   * a tie, broken by the fee */
	  .chosen = "a",
	  .drops = "a=- b=-",
	  .order = "a b",
	  .rule_id = 4,
	  .scores = "a=0.75 b=0.75" },
	{ .name = "currency: USD only on b",
	  .chans = "[{'code':'a','fee':{'rate_bps':1}},"
		   "{'code':'b','currencies':['USD','EUR']}]",
	  .q = { .currency = "USD" },
	  .chosen = "b",
	  .drops = "a=currency b=-" },
	{ .name = "business type: a withdrawal over pay-only channels",
	  .chans =
		  "[{'code':'p'},{'code':'w','business_types':['pay','withdraw']}]",
	  .q = { .business = PR_BIZ_WITHDRAW },
	  .chosen = "w",
	  .drops = "p=business_type w=-" },
	{ .name = "bank mapping: only channels mapping the bank",
	  .chans = "[{'code':'a','methods':['debit_card'],'fee':{'rate_bps':1},"
		   "'banks':[{'bank_code':'CCB','channel_bank_code':'105'}]},"
		   "{'code':'b','methods':['debit_card'],"
		   "'banks':[{'bank_code':'ICBC','channel_bank_code':'102'}]}]",
	  .q = { .method = "debit_card", .bank = "ICBC" },
	  .chosen = "b",
	  .drops = "a=bank b=-" },
	{ .name = "bank mapping: no bank in the request, no bank check",
	  .chans = "[{'code':'a','methods':['debit_card'],'fee':{'rate_bps':1},"
		   "'banks':[{'bank_code':'CCB','channel_bank_code':'105'}]},"
		   "{'code':'b','methods':['debit_card']}]",
	  .q = { .method = "debit_card" },
	  .chosen = "a",
	  .drops = "a=- b=-" },
	{ .name = "bank card type: a credit card at a debit-only mapping",
	  .chans =
		  "[{'code':'a','methods':['credit_card'],'fee':{'rate_bps':1},"
		  "'banks':[{'bank_code':'ICBC','channel_bank_code':'102',"
		  "'card_types':['debit']}]},"
		  "{'code':'b','methods':['credit_card'],"
		  "'banks':[{'bank_code':'ICBC','channel_bank_code':'0102',"
		  "'card_types':['debit','credit']}]},"
		  "{'code':'c','methods':['credit_card'],"
		  "'banks':[{'bank_code':'ICBC','channel_bank_code':'x'}]}]",
	  .q = { .method = "credit_card", .bank = "ICBC" },
	  .chosen = "b",
	  .drops = "a=bank b=- c=-",
	  .order = "b c" },
	{ .name = "bank per-transaction limit",
	  .chans = "[{'code':'a','methods':['debit_card'],'fee':{'rate_bps':1},"
		   "'banks':[{'bank_code':'ICBC','channel_bank_code':'102',"
		   "'txn_max':5000}]},"
		   "{'code':'b','methods':['debit_card'],"
		   "'banks':[{'bank_code':'ICBC','channel_bank_code':'102'}]}]",
	  .q = { .method = "debit_card", .bank = "ICBC", .amount = 10000 },
	  .chosen = "b",
	  .drops = "a=bank b=-" },
	{ .name = "bank daily limit: today's amount at that bank",
	  .chans = "[{'code':'a','methods':['debit_card'],'fee':{'rate_bps':1},"
		   "'banks':[{'bank_code':'ICBC','channel_bank_code':'102',"
		   "'daily_amount':100000},{'bank_code':'CCB',"
		   "'channel_bank_code':'105','daily_amount':100000}]},"
		   "{'code':'b','methods':['debit_card'],"
		   "'banks':[{'bank_code':'ICBC','channel_bank_code':'102'}]}]",
	  .usage = "{'a':{'amount':95000,'banks':{'CCB':0,'ICBC':95000}}}",
	  .q = { .method = "debit_card", .bank = "ICBC", .amount = 10000 },
	  .chosen = "b",
	  .drops = "a=bank b=-" },
	{ .name = "empty result: every channel dropped, each with its reason",
	  .chans = "[{'code':'a','methods':['wechat_pay']},"
		   "{'code':'b','status':'offline'},"
		   "{'code':'c','limits':{'txn_max':100}},"
		   "{'code':'d','currencies':['USD']},"
		   "{'code':'e','environments':['app']},"
		   "{'code':'f','limits':{'daily_count':1}},"
		   "{'code':'g','business_types':['refund']}]",
	  .usage = "{'f':{'count':1}}",
	  .chosen = NULL,
	  .drops = "a=method b=status c=txn_limit d=currency e=environment "
		   "f=daily_count_limit g=business_type" },
	{ .name = "first failing condition wins: offline and over the limit",
	  .chans = "[{'code':'a','status':'offline','limits':{'txn_max':100},"
		   "'maintenance_windows':[{'kind':'daily','start':'00:00',"
		   "'end':'23:59'}]}]",
	  .chosen = NULL,
	  .drops = "a=status" },
	{ .name = "bucket and full trace agree on a mixed catalogue",
	  .chans = "[{'code':'ali1','fee':{'rate_bps':55}},"
		   "{'code':'ali2','fee':{'rate_bps':45},"
		   "'business_types':['pay','refund']},"
		   "{'code':'card','methods':['debit_card','credit_card']},"
		   "{'code':'wd','business_types':['withdraw'],"
		   "'methods':['alipay']},"
		   "{'code':'wx','methods':['wechat_pay','alipay'],"
		   "'fee':{'rate_bps':50},'status':'offline'}]",
	  .chosen = "ali2",
	  .drops = "ali1=- ali2=- card=method wd=business_type wx=status",
	  .order = "ali2 ali1" },
};

/* ------------------------------------------------------------ helpers */

static json_t *jq(const char *text)
{
	char *s = strdup(text);
	json_error_t e;
	json_t *j;

	assert_non_null(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(s, 0, &e);
	if (!j)
		fail_msg("bad test JSON (%s) in: %s", e.text, s);
	free(s);
	return j;
}

/* dst gets src's keys; nested objects are merged one level down. */
static void merge(json_t *dst, json_t *src)
{
	const char *k;
	json_t *v, *d;

	json_object_foreach(src, k, v) {
		d = json_object_get(dst, k);
		if (json_is_object(d) && json_is_object(v))
			json_object_update(d, v);
		else
			json_object_set(dst, k, v);
	}
}

/* The written trace (pr_route_trace_write, the explain answer) is the text
 * json_dumps(JSON_COMPACT) gives for pr_route_trace_json's tree, byte for
 * byte; what = the case, for the failure message. */
static void check_gen(const struct pr_catalogue *cat,
		      const struct pr_route_result *res, size_t max_listed,
		      const char *what)
{
	json_t *j = pr_route_trace_json(cat, res, max_listed);
	char *want = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char room[256]; /* small: the text moves to the heap */
	struct pr_jw w;

	assert_non_null(want);
	pr_jw_init(&w, room, sizeof(room));
	pr_jw_obj_open(&w);
	if (pr_route_trace_write(&w, cat, res, max_listed) != 0)
		fail_msg("%s (max_listed %zu): pr_route_trace_write failed",
			 what, max_listed);
	pr_jw_obj_close(&w);
	assert_false(w.failed);
	if (w.len != strlen(want) || memcmp(w.p, want, w.len) != 0)
		fail_msg("%s (max_listed %zu): written\n%.*s\nwant\n%s", what,
			 max_listed, (int)w.len, w.p, want);
	pr_jw_free(&w);
	free(want);
	json_decref(j);
}

static void build(const struct rcase *c, struct pr_catalogue *cat)
{
	json_t *base = jq(base_chan), *ov = jq(c->chans), *chans = json_array();
	json_t *wl = c->wl ? jq(c->wl) : NULL;
	json_t *rules = c->rules ? jq(c->rules) : NULL;
	char err[256] = "";
	size_t i;
	json_t *o;
	int rc;

	json_array_foreach(ov, i, o) {
		json_t *ch = json_deep_copy(base);

		merge(ch, o);
		json_array_append_new(chans, ch);
	}
	memset(cat, 0, sizeof(*cat));
	rc = pr_catalogue_build(cat, chans, wl, rules, err, sizeof(err));
	if (rc != 0)
		fail_msg("case \"%s\": pr_catalogue_build: %d %s", c->name, rc,
			 err);
	json_decref(base);
	json_decref(ov);
	json_decref(chans);
	json_decref(wl);
	json_decref(rules);
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "2024-03-06T12:00:00+08:00" or "...Z" to UTC milliseconds. */
static int64_t at_ms(const char *s)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0, n = 0;
	int64_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se,
		   &n) != 6)
		fail_msg("bad time %s", s);
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	if (s[n] == '+' || s[n] == '-') {
		if (sscanf(s + n + 1, "%2d:%2d", &oh, &om) != 2)
			fail_msg("bad offset %s", s);
		t += (s[n] == '+' ? -1 : 1) * (oh * 3600 + om * 60);
	}
	return t * 1000;
}

static struct pr_route_req make_req(const struct qspec *q)
{
	struct pr_route_req r = {
		.business = q->business ? q->business : PR_BIZ_PAY,
		.method = q->method ? q->method : "alipay",
		.environment = q->no_env ? NULL :
			       q->env	 ? q->env :
					   "h5",
		.product_code = q->product,
		.currency = q->currency ? q->currency : "CNY",
		.bank_code = q->bank,
		.merchant = q->merchant ? q->merchant : "m1",
		.buyer_id = q->buyer,
		.seller_id = q->seller,
		.card_hmac = q->card,
		.amount = q->amount ? q->amount : 10000,
		.now_ms = at_ms(q->at ? q->at : ON_MAR6("12:00:00")),
	};
	return r;
}

#define MAX_BANK_USAGE 32

/* Usage from the row; usage[i] for channel i. Returns NULL without. */
static struct pr_chan_usage *make_usage(const struct rcase *c,
					const struct pr_catalogue *cat,
					json_t **keep, struct pr_bank_usage *bu)
{
	struct pr_chan_usage *u;
	const char *code, *bank;
	json_t *o, *b, *v;
	size_t nb = 0;
	long i;

	*keep = NULL;
	if (!c->usage)
		return NULL;
	u = calloc(cat->n_chans ? cat->n_chans : 1, sizeof(*u));
	assert_non_null(u);
	for (size_t k = 0; k < cat->n_chans; k++)
		u[k].success_rate = -1;
	*keep = jq(c->usage);
	json_object_foreach(*keep, code, o) {
		i = pr_catalogue_find(cat, code);
		if (i < 0)
			fail_msg("case \"%s\": usage of unknown channel %s",
				 c->name, code);
		u[i].amount = json_integer_value(json_object_get(o, "amount"));
		u[i].count = json_integer_value(json_object_get(o, "count"));
		if (json_object_get(o, "rate"))
			u[i].success_rate =
				json_number_value(json_object_get(o, "rate"));
		b = json_object_get(o, "banks");
		u[i].banks = &bu[nb];
		json_object_foreach(b, bank, v) {
			assert_true(nb < MAX_BANK_USAGE);
			bu[nb].bank_code = bank;
			bu[nb].amount = json_integer_value(v);
			nb++;
			u[i].n_banks++;
		}
	}
	return u;
}

/* The expected reason for code in "a=- b=status", or NULL if unlisted. */
static const char *want_drop(const char *drops, const char *code, char *buf,
			     size_t len)
{
	size_t cl = strlen(code);
	const char *p = drops, *e;

	while (*p) {
		while (*p == ' ')
			p++;
		e = p + strcspn(p, " ");
		if ((size_t)(e - p) > cl && strncmp(p, code, cl) == 0 &&
		    p[cl] == '=') {
			snprintf(buf, len, "%.*s", (int)(e - p - cl - 1),
				 p + cl + 1);
			return buf;
		}
		p = e;
	}
	return NULL;
}

static size_t count_words(const char *s)
{
	size_t n = 0;

	while (s && *s) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		n++;
		s += strcspn(s, " ");
	}
	return n;
}

static const char *got_drop(const struct pr_route_cand *c)
{
	return c->dropped_by == PR_DROP_NONE ? "-" :
					       pr_drop_name(c->dropped_by);
}

static void check_result(const struct rcase *c, const struct pr_catalogue *cat,
			 const struct pr_route_result *res, int full)
{
	const char *mode = full ? "full trace" : "bucket";
	char buf[64], order[512] = "";
	const char *want, *code;
	size_t i, j, ne = 0, len = 0;

	/* The chosen channel. */
	if (c->chosen == NULL) {
		if (res->chosen != -1)
			fail_msg("case \"%s\" (%s): chose %s, want nothing",
				 c->name, mode, cat->chans[res->chosen].code);
	} else if (res->chosen < 0 ||
		   strcmp(cat->chans[res->chosen].code, c->chosen) != 0) {
		fail_msg("case \"%s\" (%s): chose %s, want %s", c->name, mode,
			 res->chosen < 0 ? "nothing" :
					   cat->chans[res->chosen].code,
			 c->chosen);
	}
	if (full && res->n != cat->n_chans)
		fail_msg("case \"%s\": full trace has %zu of %zu channels",
			 c->name, res->n, cat->n_chans);

	/* Every candidate's first failing condition; survivors first. */
	for (i = 0; i < res->n; i++) {
		const struct pr_route_cand *k = &res->cands[i];

		code = cat->chans[k->chan].code;
		want = want_drop(c->drops, code, buf, sizeof(buf));
		if (!want)
			fail_msg("case \"%s\": channel %s not in .drops",
				 c->name, code);
		if (strcmp(want, got_drop(k)) != 0)
			fail_msg("case \"%s\" (%s): %s dropped by %s, want %s",
				 c->name, mode, code, got_drop(k), want);
		if (k->dropped_by == PR_DROP_NONE) {
			if (i != ne)
				fail_msg("case \"%s\" (%s): survivor %s after "
					 "a dropped channel",
					 c->name, mode, code);
			ne++;
			len += (size_t)snprintf(order + len,
						sizeof(order) - len, "%s%s",
						len ? " " : "", code);
			assert_true(len < sizeof(order));
		} else if (i > ne && res->cands[i - 1].chan >= k->chan) {
			fail_msg("case \"%s\" (%s): dropped channels not in "
				 "code order",
				 c->name, mode);
		}
		if (k->fee !=
		    pr_chan_fee(&cat->chans[k->chan], make_req(&c->q).amount))
			fail_msg("case \"%s\": %s fee %lld", c->name, code,
				 (long long)k->fee);
	}
	if (ne != res->n_eligible)
		fail_msg("case \"%s\" (%s): n_eligible %zu, counted %zu",
			 c->name, mode, res->n_eligible, ne);
	/* Every expected survivor appears in either mode. */
	for (i = 0; i < cat->n_chans; i++) {
		code = cat->chans[i].code;
		want = want_drop(c->drops, code, buf, sizeof(buf));
		if (!want || strcmp(want, "-") != 0)
			continue;
		for (j = 0; j < res->n_eligible; j++)
			if (res->cands[j].chan == i)
				break;
		if (j == res->n_eligible)
			fail_msg("case \"%s\" (%s): %s should survive", c->name,
				 mode, code);
	}
	if (c->order && strcmp(order, c->order) != 0)
		fail_msg("case \"%s\" (%s): ranked \"%s\", want \"%s\"",
			 c->name, mode, order, c->order);

	if (c->wl_id == 0 && res->whitelist != -1)
		fail_msg("case \"%s\" (%s): whitelist entry %lld decided",
			 c->name, mode, (long long)cat->wl[res->whitelist].id);
	if (c->wl_id &&
	    (res->whitelist < 0 || cat->wl[res->whitelist].id != c->wl_id))
		fail_msg("case \"%s\" (%s): whitelist entry %lld, want %lld",
			 c->name, mode,
			 res->whitelist < 0 ?
				 -1LL :
				 (long long)cat->wl[res->whitelist].id,
			 (long long)c->wl_id);
	if (c->unused || res->n_wl_unused) {
		json_t *js = pr_route_to_json(cat, res), *u;
		char got[256] = "";
		size_t o = 0, x;

		assert_non_null(js);
		json_array_foreach(json_object_get(js, "whitelist_unused"), x,
				   u) {
			o += (size_t)snprintf(got + o, sizeof(got) - o,
					      "%s%lld=%s", o ? " " : "",
					      (long long)json_integer_value(
						      json_object_get(u, "id")),
					      json_string_value(json_object_get(
						      u, "dropped_by")));
			assert_true(o < sizeof(got));
		}
		json_decref(js);
		if (strcmp(got, c->unused ? c->unused : "") != 0)
			fail_msg("case \"%s\" (%s): whitelist_unused \"%s\", "
				 "want \"%s\"",
				 c->name, mode, got,
				 c->unused ? c->unused : "");
	}
	check_gen(cat, res, 0, c->name);
	check_gen(cat, res, 2, c->name);

	if ((c->rule_id == 0) != (res->rule < 0) ||
	    (c->rule_id && cat->rules[res->rule].id != c->rule_id))
		fail_msg("case \"%s\" (%s): rule %lld, want %lld", c->name,
			 mode,
			 res->rule < 0 ? -1LL :
					 (long long)cat->rules[res->rule].id,
			 (long long)c->rule_id);

	/* Scores, when the row gives them. */
	for (i = 0; c->scores && i < res->n_eligible; i++) {
		const struct pr_route_cand *k = &res->cands[i];

		code = cat->chans[k->chan].code;
		want = want_drop(c->scores, code, buf, sizeof(buf));
		if (!want || fabs(strtod(want, NULL) - k->score) > 1e-9)
			fail_msg("case \"%s\" (%s): %s scored %.17g, want %s",
				 c->name, mode, code, k->score,
				 want ? want : "(none)");
	}
}

static void test_routing_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];
		struct pr_bank_usage bu[MAX_BANK_USAGE];
		struct pr_catalogue cat;
		struct pr_route_req req = make_req(&c->q);
		struct pr_chan_usage *usage;
		struct pr_route_result res;
		json_t *keep;

		build(c, &cat);
		if (count_words(c->drops) != cat.n_chans)
			fail_msg("case \"%s\": .drops must list all %zu "
				 "channels",
				 c->name, cat.n_chans);
		usage = make_usage(c, &cat, &keep, bu);
		for (int full = 1; full >= 0; full--) {
			memset(&res, 0, sizeof(res));
			res.cap = cat.n_chans;
			res.cands = calloc(res.cap + 1, sizeof(*res.cands));
			assert_non_null(res.cands);
			if (pr_route(&cat, &req, usage, full, &res) != 0)
				fail_msg("case \"%s\": pr_route failed",
					 c->name);
			check_result(c, &cat, &res, full);
			free(res.cands);
		}
		free(usage);
		json_decref(keep);
		pr_catalogue_clear(&cat);
	}
}

/* ------------------------------------------------------ other checks */

static void test_bad_requests(void **state)
{
	const struct rcase c = { .name = "bad", .chans = "[{'code':'a'}]" };
	struct pr_route_cand cands[1];
	struct pr_route_result res = { .cands = cands, .cap = 1 };
	struct pr_catalogue cat;
	struct pr_route_req ok, r;
	struct qspec q = { 0 };

	build(&c, &cat);
	ok = make_req(&q);
	assert_int_equal(pr_route(&cat, &ok, NULL, 1, &res), 0);
	assert_int_equal(res.chosen, 0);

	r = ok;
	r.method = NULL;
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);
	r = ok;
	r.method = "";
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);
	r = ok;
	r.currency = NULL;
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);
	r = ok;
	r.amount = 0;
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);
	r = ok;
	r.amount = -5;
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);
	r = ok;
	r.business = 0;
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);
	r = ok;
	r.business = PR_BIZ_PAY | PR_BIZ_WITHDRAW;
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);
	r = ok;
	r.business = 1u << 7;
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), -EINVAL);

	/* Too little room for the trace. */
	res.cap = 0;
	assert_int_equal(pr_route(&cat, &ok, NULL, 1, &res), -ENOSPC);

	/* A method no channel has: no bucket, nothing eligible. */
	res.cap = 1;
	r = ok;
	r.method = "paypal";
	assert_int_equal(pr_route(&cat, &r, NULL, 0, &res), 0);
	assert_int_equal(res.n, 0);
	assert_int_equal(res.chosen, -1);
	assert_int_equal(pr_route(&cat, &r, NULL, 1, &res), 0);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.cands[0].dropped_by, PR_DROP_METHOD);
	pr_catalogue_clear(&cat);
}

static void test_drop_names(void **state)
{
	static const char *const names[] = {
		"business_type",
		"method",
		"environment",
		"product_code",
		"currency",
		"bank",
		"status",
		"maintenance_window",
		"txn_limit",
		"daily_amount_limit",
		"daily_count_limit",
		"whitelist_only",
		"rule",
	};

	for (int d = PR_DROP_BUSINESS_TYPE; d <= PR_DROP_RULE; d++)
		assert_string_equal(pr_drop_name((enum pr_drop)d),
				    names[d - PR_DROP_BUSINESS_TYPE]);
}

static void test_trace_json(void **state)
{
	const struct rcase c = {
		.name = "json",
		.chans = "[{'code':'a','fee':{'rate_bps':10}},"
			 "{'code':'b','fee':{'rate_bps':90}},"
			 "{'code':'c','status':'offline'}]",
		.wl = "[{'id':11,'kind':'card_no','value':'" CARD2 "',"
		      "'channel':'b','note':'gray test'}]",
		.rules = "[{'id':21,'name':'cheap first','enabled':true,"
			 "'conditions':{},'scoring':{'weight':0,'fee':1,"
			 "'success_rate':0}}]",
	};
	struct qspec q = { .card = CARD2, .amount = 10000 };
	struct pr_route_cand cands[3];
	struct pr_route_result res = { .cands = cands, .cap = 3 };
	struct pr_route_req req;
	struct pr_catalogue cat;
	json_t *j, *cs, *k, *w;
	char *text;

	build(&c, &cat);
	req = make_req(&q);
	assert_int_equal(pr_route(&cat, &req, NULL, 1, &res), 0);
	j = pr_route_to_json(&cat, &res);
	assert_non_null(j);

	assert_string_equal(json_string_value(json_object_get(j, "chosen")),
			    "b");
	w = json_object_get(j, "whitelist");
	assert_true(json_is_object(w));
	assert_int_equal(json_integer_value(json_object_get(w, "id")), 11);
	assert_string_equal(json_string_value(json_object_get(w, "kind")),
			    "card_no");
	assert_string_equal(json_string_value(json_object_get(w, "channel")),
			    "b");
	assert_string_equal(json_string_value(json_object_get(w, "note")),
			    "gray test");
	assert_null(json_object_get(w, "value"));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(j, "rule"), "name")),
			    "cheap first");

	cs = json_object_get(j, "candidates");
	assert_int_equal(json_array_size(cs), 3);
	k = json_array_get(cs, 0);
	assert_string_equal(json_string_value(json_object_get(k, "channel")),
			    "b");
	assert_true(json_is_true(json_object_get(k, "eligible")));
	assert_true(json_is_null(json_object_get(k, "dropped_by")));
	assert_int_equal(json_integer_value(json_object_get(k, "fee")), 90);
	/* b costs 9 times a: fee part 1/9, score = 1 * 1/9 */
	assert_true(fabs(json_real_value(json_object_get(
				 json_object_get(k, "score_parts"), "fee")) -
			 10.0 / 90.0) < 1e-12);
	assert_true(fabs(json_real_value(json_object_get(k, "score")) -
			 10.0 / 90.0) < 1e-12);
	assert_true(json_is_number(
		json_object_get(json_object_get(k, "score_parts"), "weight")));
	assert_true(fabs(json_real_value(json_object_get(
				 json_object_get(k, "score_parts"),
				 "success_rate")) -
			 0.5) < 1e-12);
	k = json_array_get(cs, 1);
	assert_string_equal(json_string_value(json_object_get(k, "channel")),
			    "a");
	assert_true(fabs(json_real_value(json_object_get(k, "score")) - 1) <
		    1e-12);
	k = json_array_get(cs, 2);
	assert_string_equal(json_string_value(json_object_get(k, "channel")),
			    "c");
	assert_true(json_is_false(json_object_get(k, "eligible")));
	assert_string_equal(json_string_value(json_object_get(k, "dropped_by")),
			    "status");
	assert_true(json_is_null(json_object_get(k, "score")));

	check_gen(&cat, &res, 0, "json");
	/* The card's HMAC never appears in the trace. */
	text = json_dumps(j, 0);
	assert_non_null(text);
	assert_null(strstr(text, CARD2));
	free(text);
	json_decref(j);

	/* Nothing chosen: nulls. */
	res.n = res.n_eligible = 0;
	res.chosen = res.whitelist = res.rule = -1;
	check_gen(&cat, &res, 0, "nothing chosen");
	check_gen(&cat, &res, 3, "nothing chosen");
	j = pr_route_to_json(&cat, &res);
	assert_true(json_is_null(json_object_get(j, "chosen")));
	assert_true(json_is_null(json_object_get(j, "whitelist")));
	assert_true(json_is_null(json_object_get(j, "rule")));
	assert_int_equal(json_array_size(json_object_get(j, "candidates")), 0);
	json_decref(j);
	pr_catalogue_clear(&cat);
}

/* The trace kept on an order: the eligible channels ranked, at most the
 * bound, the rest counted; the dropped ones counted by reason. */
static void test_trace_bounded(void **state)
{
	json_t *chans = json_array(), *ch, *base = jq(base_chan), *j, *cs, *dr;
	struct pr_route_cand *cands;
	struct pr_route_result res = { 0 };
	struct pr_route_req req;
	struct pr_catalogue cat;
	struct qspec q = { .amount = 1000 };
	char code[32], err[256];

	(void)state;
	/* 30 eligible (fees 1..30 bps), 50 offline, 20 of another method. */
	for (int i = 0; i < 100; i++) {
		ch = json_deep_copy(base);
		snprintf(code, sizeof(code), "c%03d", i);
		json_object_set_new(ch, "code", json_string(code));
		json_object_set_new(ch, "fee",
				    json_pack("{s:i}", "rate_bps", i + 1));
		if (i >= 30 && i < 80)
			json_object_set_new(ch, "status",
					    json_string("offline"));
		if (i >= 80)
			json_object_set_new(ch, "methods",
					    json_pack("[s]", "wechat_pay"));
		json_array_append_new(chans, ch);
	}
	assert_int_equal(pr_catalogue_build(&cat, chans, NULL, NULL, err,
					    sizeof(err)),
			 0);
	cands = calloc(cat.n_chans, sizeof(*cands));
	res.cands = cands;
	res.cap = cat.n_chans;
	req = make_req(&q);
	assert_int_equal(pr_route(&cat, &req, NULL, 1, &res), 0);

	check_gen(&cat, &res, 16, "100 channels");
	check_gen(&cat, &res, 0, "100 channels");
	j = pr_route_trace_json(&cat, &res, 16);
	assert_non_null(j);
	cs = json_object_get(j, "candidates");
	assert_int_equal(json_array_size(cs), 16);
	/* the cheapest first, all eligible */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(cs, 0), "channel")),
			    "c000");
	for (size_t i = 0; i < json_array_size(cs); i++)
		assert_true(json_is_true(
			json_object_get(json_array_get(cs, i), "eligible")));
	assert_int_equal(
		json_integer_value(json_object_get(j, "eligible_not_listed")),
		14);
	dr = json_object_get(j, "dropped");
	assert_int_equal(json_integer_value(json_object_get(dr, "status")), 50);
	assert_int_equal(json_integer_value(json_object_get(dr, "method")), 20);
	assert_int_equal(json_object_size(dr), 2);
	assert_string_equal(json_string_value(json_object_get(j, "chosen")),
			    "c000");
	json_decref(j);

	/* 0: every candidate, as the explain endpoint shows them. */
	j = pr_route_trace_json(&cat, &res, 0);
	assert_int_equal(json_array_size(json_object_get(j, "candidates")),
			 100);
	assert_null(json_object_get(j, "dropped"));
	json_decref(j);

	free(cands);
	json_decref(chans);
	json_decref(base);
	pr_catalogue_clear(&cat);
}

/* A catalogue of a few hundred channels in several buckets: the bucket and
 * the full trace choose the same channel for many requests, and the
 * survivors are ranked by fee (no rules). */
static void test_bucket_equals_full_trace(void **state)
{
	static const char *const methods[] = { "alipay", "wechat_pay",
					       "unionpay", "debit_card" };
	json_t *chans = json_array(), *ch, *base = jq(base_chan);
	struct pr_catalogue cat;
	struct pr_route_result full, bkt;
	char code[32], err[256];
	int rc;

	for (int i = 0; i < 300; i++) {
		ch = json_deep_copy(base);
		snprintf(code, sizeof(code), "ch%03d", (i * 37) % 300);
		json_object_set_new(ch, "code", json_string(code));
		json_object_set_new(ch, "methods",
				    json_pack("[s]", methods[i % 4]));
		json_object_set_new(ch, "status",
				    json_string(i % 7 ? "online" : "offline"));
		json_object_set_new(json_object_get(ch, "fee"), "rate_bps",
				    json_integer(20 + (i * 13) % 50));
		json_object_set_new(json_object_get(ch, "limits"), "txn_max",
				    json_integer(i % 5 ? 0 : 5000 + i * 100));
		json_array_append_new(chans, ch);
	}
	rc = pr_catalogue_build(&cat, chans, NULL, NULL, err, sizeof(err));
	if (rc)
		fail_msg("build: %s", err);
	full.cap = bkt.cap = cat.n_chans;
	full.cands = calloc(cat.n_chans, sizeof(*full.cands));
	bkt.cands = calloc(cat.n_chans, sizeof(*bkt.cands));
	for (int r = 0; r < 200; r++) {
		struct qspec q = { .method = methods[r % 4],
				   .amount = 1000 + r * 211 };
		struct pr_route_req req = make_req(&q);

		assert_int_equal(pr_route(&cat, &req, NULL, 1, &full), 0);
		assert_int_equal(pr_route(&cat, &req, NULL, 0, &bkt), 0);
		assert_int_equal(full.chosen, bkt.chosen);
		assert_int_equal(full.n_eligible, bkt.n_eligible);
		assert_true(bkt.n < full.n);
		for (size_t i = 0; i < full.n_eligible; i++) {
			assert_int_equal(full.cands[i].chan, bkt.cands[i].chan);
			if (i)
				assert_true(full.cands[i - 1].fee <=
					    full.cands[i].fee);
		}
	}
	free(full.cands);
	free(bkt.cands);
	pr_catalogue_clear(&cat);
	json_decref(chans);
	json_decref(base);
}

/* Strings that need escaping, non-ASCII text and rule weights that make
 * long fractions: streamed and dumped traces still agree. */
static void test_gen_escapes(void **state)
{
	const struct rcase c = {
		.name = "escapes",
		.chans = "[{'code':'a','fee':{'rate_bps':7},'weight':3},"
			 "{'code':'b','fee':{'rate_bps':11},'weight':7},"
			 "{'code':'c','status':'offline'}]",
		.wl = "[{'id':11,'kind':'card_no','value':'" CARD2 "',"
		      "'channel':'c','note':'say \\\"hi\\\" \\\\ tab\\t "
		      "nl\\n \\u0001 \\u00e9\\u4e2d /'},"
		      "{'id':12,'kind':'buyer_id','value':'u1',"
		      "'channel':'c','note':'gone'}]",
		.rules = "[{'id':21,'name':'r\\u00e8gle \\\"1/3\\\"',"
			 "'enabled':true,'conditions':{},'scoring':{"
			 "'weight':0.3,'fee':0.7,'success_rate':0.1}}]",
	};
	struct qspec q = { .card = CARD2, .buyer = "u1", .amount = 12345 };
	struct pr_route_cand cands[3];
	struct pr_route_result res = { .cands = cands, .cap = 3 };
	struct pr_route_req req;
	struct pr_catalogue cat;

	(void)state;
	build(&c, &cat);
	req = make_req(&q);
	assert_int_equal(pr_route(&cat, &req, NULL, 1, &res), 0);
	assert_int_equal(res.n_wl_unused, 2);
	check_gen(&cat, &res, 0, "escapes");
	check_gen(&cat, &res, 1, "escapes");
	pr_catalogue_clear(&cat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing_table),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_drop_names),
		cmocka_unit_test(test_trace_json),
		cmocka_unit_test(test_trace_bounded),
		cmocka_unit_test(test_gen_escapes),
		cmocka_unit_test(test_bucket_equals_full_trace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
