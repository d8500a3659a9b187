/*
 * test_qpick.c - the store pool's choice between the requests' queue and
 * the background queue (core/base/qpick.c), one named row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "base/qpick.h"

struct bg_max_row {
	int pool_size, bg_max;
};

/* A quarter of the pool, at least one connection, stays for requests;
 * background work always keeps one. */
static const struct bg_max_row bg_maxes[] = {
	{ 1, 1 }, { 2, 1 },   { 3, 2 },	  { 4, 3 },   { 7, 6 },
	{ 8, 6 }, { 16, 12 }, { 32, 24 }, { 64, 48 },
};

static void test_bg_max(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bg_maxes) / sizeof(bg_maxes[0]); i++) {
		int got = pr_qpick_bg_max(bg_maxes[i].pool_size);

		if (got != bg_maxes[i].bg_max)
			fail_msg("pool of %d: background may hold %d, want %d",
				 bg_maxes[i].pool_size, got,
				 bg_maxes[i].bg_max);
	}
}

struct pick_row {
	const char *name;
	struct pr_qpick_state s;
	enum pr_qpick want;
};

#define WAIT PR_QPICK_MAX_WAIT_US

static const struct pick_row picks[] = {
	{ "nothing waits", { 0, 0, 0, 0, 6 }, PR_QPICK_NONE },
	{ "a request", { 1, 0, 0, 0, 6 }, PR_QPICK_REQUEST },
	{ "background alone", { 0, 3, 10, 0, 6 }, PR_QPICK_BACKGROUND },
	{ "a request before background", { 2, 3, 10, 0, 6 }, PR_QPICK_REQUEST },
	{ "a request before background just under the wait",
	  { 2, 3, WAIT - 1, 0, 6 },
	  PR_QPICK_REQUEST },
	{ "background that waited the limit goes first",
	  { 2, 3, WAIT, 0, 6 },
	  PR_QPICK_BACKGROUND },
	{ "background at its share waits", { 0, 3, 10, 6, 6 }, PR_QPICK_NONE },
	{ "background at its share waits, however long",
	  { 0, 3, 10 * WAIT, 6, 6 },
	  PR_QPICK_NONE },
	{ "background at its share: the request goes",
	  { 1, 3, 10 * WAIT, 6, 6 },
	  PR_QPICK_REQUEST },
	{ "background under its share",
	  { 0, 3, 10, 5, 6 },
	  PR_QPICK_BACKGROUND },
	{ "a pool of one: background behind the request",
	  { 1, 1, 10, 0, 1 },
	  PR_QPICK_REQUEST },
	{ "a pool of one: background when no request waits",
	  { 0, 1, 10, 0, 1 },
	  PR_QPICK_BACKGROUND },
};

static void test_pick(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(picks) / sizeof(picks[0]); i++) {
		enum pr_qpick got = pr_qpick(&picks[i].s);

		if (got != picks[i].want)
			fail_msg("%s: got %d, want %d", picks[i].name, got,
				 picks[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bg_max),
		cmocka_unit_test(test_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
