/*
 * test_breaker.c - the circuit breaker's state machine (domain/breaker.h)
 * as a table of scripts: each step is an event at a time (ms) and, after
 * ':', what must hold then.
 *
 *   F<t>  a channel-side failure      K<t>  an answer (the channel is up)
 *   R<t>  ask what routing may do     P<t>  the probe routing chose is sent
 *   C<t>  an operator forces closed   O<t>  an operator forces open
 *
 * After F, K, C, O the expectation is the state (closed, open, half_open);
 * after R it is the routing answer (any, none, probe). Every row uses
 * 5 failures in 60 s, a 30 s cool-down and a probe every 5 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/breaker.h"

struct bcase {
	const char *name;
	const char *script;
};

#define OPEN5 "F0 F1 F2 F3 F4:open "

static const struct bcase cases[] = {
	{ "four failures leave it closed", "F0 F1 F2 F3:closed R5:any" },
	{ "five failures within the window open it", OPEN5 "R5:none" },
	{ "failures spread wider than the window do not",
	  "F0 F20000 F40000 F60000 F70000:closed F90000:closed R90001:any" },
	{ "the fifth failure inside a sliding window opens it",
	  "F0 F20000 F40000 F60000 F70000:closed F79000:open" },
	{ "answers in between do not reset the count",
	  "F0 K1 F2 K3 F4 K5 F6 K7 F8:open" },
	{ "open drops the channel until the cool-down ends",
	  OPEN5 "R10000:none R30003:none R30004:probe" },
	{ "half open: one probe, then none until the interval",
	  OPEN5 "R30004:probe P30004 R30005:none R35003:none R35004:probe" },
	{ "a probe's success closes it",
	  OPEN5 "R30004:probe P30004 K30100:closed R30101:any" },
	{ "a probe's failure opens it for a new cool-down",
	  OPEN5 "R30004:probe P30004 F30100:open R60099:none R60100:probe" },
	{ "after closing, the count starts over",
	  OPEN5 "R30004:probe K30100:closed F30200 F30300 F30400 "
		"F30500:closed F30600:open" },
	{ "answers that arrive while open change nothing",
	  OPEN5 "K100:open F200:open R29999:none R30004:probe" },
	{ "an operator forces an open breaker closed",
	  OPEN5 "C10:closed R11:any" },
	{ "an operator forces a closed breaker open; it half opens later",
	  "O0:open R29999:none R30000:probe" },
	{ "forcing the state it has changes nothing",
	  "C0:closed R1:any F2 F3 F4 F5 F6:open O7:open R8:none" },
};

static enum pr_brk_state state_of(const char *s)
{
	return strcmp(s, "open") == 0	   ? PR_BRK_OPEN :
	       strcmp(s, "half_open") == 0 ? PR_BRK_HALF_OPEN :
					     PR_BRK_CLOSED;
}

static enum pr_brk_route route_of(const char *s)
{
	return strcmp(s, "none") == 0  ? PR_BRK_ROUTE_NONE :
	       strcmp(s, "probe") == 0 ? PR_BRK_ROUTE_PROBE :
					 PR_BRK_ROUTE_ANY;
}

static void run(const struct bcase *c)
{
	const struct pr_brk_cfg cfg = { 5, 60000, 30000, 5000 };
	struct pr_brk b;
	char script[512], *tok, *save = NULL, *want;
	enum pr_brk_route r = PR_BRK_ROUTE_ANY;
	int64_t t;
	char op;

	memset(&b, 0, sizeof(b));
	snprintf(script, sizeof(script), "%s", c->script);
	for (tok = strtok_r(script, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		op = tok[0];
		t = strtoll(tok + 1, NULL, 10);
		want = strchr(tok, ':');
		switch (op) {
		case 'F':
			pr_brk_record(&b, &cfg, PR_BRK_EV_FAIL,
				      "CHANNEL_TIMEOUT", t);
			break;
		case 'K':
			pr_brk_record(&b, &cfg, PR_BRK_EV_OK, "", t);
			break;
		case 'R':
			r = pr_brk_route(&b, &cfg, t, NULL);
			break;
		case 'P':
			pr_brk_probe_sent(&b, t);
			break;
		case 'C':
		case 'O':
			assert_true(pr_brk_force(&b,
						 op == 'C' ? PR_BRK_CLOSED :
							     PR_BRK_OPEN,
						 "ops", "test", t) >= 0);
			break;
		default:
			fail_msg("%s: bad step %s", c->name, tok);
		}
		if (!want)
			continue;
		if (op == 'R' && r != route_of(want + 1))
			fail_msg("%s: at %s routing said %d", c->name, tok, r);
		if (op != 'R' && b.state != state_of(want + 1))
			fail_msg("%s: at %s the state is %s", c->name, tok,
				 pr_brk_state_name(b.state));
	}
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
}

/* The history says what happened, newest first, with the actor. */
static void test_history(void **state)
{
	const struct pr_brk_cfg cfg = { 2, 60000, 30000, 5000 };
	struct pr_brk b;
	json_t *j, *h;

	(void)state;
	memset(&b, 0, sizeof(b));
	pr_brk_record(&b, &cfg, PR_BRK_EV_FAIL, "CHANNEL_UNREACHABLE", 1000);
	assert_int_equal(pr_brk_record(&b, &cfg, PR_BRK_EV_FAIL,
				       "CHANNEL_UNREACHABLE", 2000),
			 1);
	pr_brk_route(&b, &cfg, 32000, NULL);
	assert_int_equal(
		pr_brk_force(&b, PR_BRK_CLOSED, "alice", "fixed", 33000), 1);
	j = pr_brk_json(&b, &cfg, 34000);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "closed");
	assert_int_equal(json_integer_value(json_object_get(j, "opened")), 1);
	h = json_object_get(j, "history");
	assert_int_equal(json_array_size(h), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(h, 0), "actor")),
			    "alice");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(h, 1), "to")),
		"half_open");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(h, 2), "reason")),
			    "2 failures in 60 s: CHANNEL_UNREACHABLE");
	assert_int_equal(
		json_integer_value(json_object_get(json_array_get(h, 2), "at")),
		2000);
	json_decref(j);
}

/* Another instance's decision is taken only when it is later. */
static void test_adopt(void **state)
{
	struct pr_brk b;

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(pr_brk_adopt(&b, PR_BRK_OPEN, 5000, "system", "x"), 1);
	assert_int_equal(b.state, PR_BRK_OPEN);
	assert_int_equal(b.since_ms, 5000);
	/* older: ignored */
	assert_int_equal(pr_brk_adopt(&b, PR_BRK_CLOSED, 4000, "ops", "y"), 0);
	assert_int_equal(b.state, PR_BRK_OPEN);
	/* opened again later elsewhere: its cool-down counts */
	assert_int_equal(pr_brk_adopt(&b, PR_BRK_OPEN, 9000, "system", "z"), 0);
	assert_int_equal(b.since_ms, 9000);
	assert_int_equal(pr_brk_adopt(&b, PR_BRK_CLOSED, 9500, "ops", "y"), 1);
	assert_int_equal(b.state, PR_BRK_CLOSED);
}

/* The registry finds every channel it made, and only those. */
static void test_registry(void **state)
{
	struct pr_breakers *r = pr_breakers_new();
	char code[16];

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < 1000; i++) {
		snprintf(code, sizeof(code), "ch%d", i);
		assert_non_null(pr_breakers_get(r, code, 1));
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(code, sizeof(code), "ch%d", i);
		assert_ptr_equal(pr_breakers_get(r, code, 0),
				 pr_breakers_get(r, code, 1));
	}
	assert_null(pr_breakers_get(r, "nope", 0));
	pr_breakers_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
