/*
 * test_lagbound.c - a read replica's staleness bound (core/base/lagbound.c),
 * one named row per case: LSNs as PostgreSQL prints them, then scripts of
 * the primary's positions and the replica's replay, each with the bound it
 * must give at a time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/lagbound.h"

/* ------------------------------------------------------------- LSNs */

struct lsn_row {
	const char *name;
	const char *text;
	int rc;
	uint64_t lsn;
};

static const struct lsn_row lsns[] = {
	{ "zero", "0/0", 0, 0 },
	{ "low half only", "0/16B3748", 0, 0x16B3748 },
	{ "both halves", "16/B374D848", 0, 0x16B374D848ULL },
	{ "lower-case hex", "a/ff", 0, 0xA000000FFULL },
	{ "the highest", "FFFFFFFF/FFFFFFFF", 0, UINT64_MAX },
	{ "no slash", "16B374D848", -EINVAL, 0 },
	{ "trailing text", "0/10 ", -EINVAL, 0 },
	{ "empty", "", -EINVAL, 0 },
	{ "not hex", "0/XYZ", -EINVAL, 0 },
	{ "a half too long", "0/123456789", -EINVAL, 0 },
};

static void test_lsn_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lsns) / sizeof(lsns[0]); i++) {
		uint64_t v = 0;
		int rc = pr_lsn_parse(lsns[i].text, &v);

		print_message("  %s\n", lsns[i].name);
		assert_int_equal(rc, lsns[i].rc);
		if (rc == 0)
			assert_true(v == lsns[i].lsn);
	}
	assert_int_equal(pr_lsn_parse(NULL, &(uint64_t){ 0 }), -EINVAL);
}

/* ----------------------------------------------------------- scripts */

/* One step: the primary at LSN at time T ('p'), the replica replayed to
 * LSN ('r'), the replica forgotten ('f'), or the bound at time T must be
 * WANT ('?'; -1: never caught). */
struct step {
	char op;
	int64_t t;
	uint64_t lsn;
	long want;
};

struct script {
	const char *name;
	struct step steps[48];
};

#define P(t, l)                                                                \
	{                                                                      \
		'p', t, l, 0                                                   \
	}
#define R(l)                                                                   \
	{                                                                      \
		'r', 0, l, 0                                                   \
	}
#define F                                                                      \
	{                                                                      \
		'f', 0, 0, 0                                                   \
	}
#define WANT(t, w)                                                             \
	{                                                                      \
		'?', t, 0, w                                                   \
	}

static const struct script scripts[] = {
	{ "nothing known: never caught",
	  { WANT(0, -1), P(100, 500), WANT(200, -1) } },
	{ "replay below the only position: not caught",
	  { P(100, 500), R(499), WANT(150, -1) } },
	{ "replay at the position: caught at its time",
	  { P(100, 500), R(500), WANT(100, 0), WANT(350, 250) } },
	{ "an idle primary: the same position, each check catches it",
	  { P(100, 500), R(500), P(350, 500), R(500), P(600, 500), R(500),
	    WANT(700, 100) } },
	{ "under a steady load: caught at the newest position replayed",
	  /* the replica is always a little behind the position just
	   * asked, but past the one before */
	  { P(0, 100), R(90), P(250, 200), R(150), WANT(260, 260), P(500, 300),
	    R(250), WANT(510, 260), P(750, 400), R(390), WANT(760, 260) } },
	{ "replay stopped: the bound only grows",
	  { P(0, 100), R(100), P(250, 200), R(100), P(500, 300), R(100),
	    WANT(500, 500), WANT(5000, 5000) } },
	{ "replay resumed: caught again at once",
	  { P(0, 100), R(100), P(250, 200), R(100), P(500, 300), R(300),
	    WANT(500, 0) } },
	{ "the caught time never goes back",
	  { P(0, 100), P(250, 200), R(200), R(100), WANT(300, 50) } },
	{ "the primary cannot be asked: the bound grows from the last catch",
	  { P(0, 100), R(100), R(100), R(100), WANT(3000, 3000) } },
	{ "forgotten (the replica went away): never caught until replayed",
	  { P(0, 100), R(100), F, WANT(10, -1), P(250, 100), R(100),
	    WANT(260, 10) } },
	{ "a time before the catch is bound 0",
	  { P(100, 500), R(500), WANT(90, 0) } },
	{ "only the last 16 positions are kept",
	  /* 20 positions; the replica is at the 2nd, which the ring no
	   * longer has: not caught */
	  { P(0, 10),	P(1, 20),     P(2, 30),	  P(3, 40),    P(4, 50),
	    P(5, 60),	P(6, 70),     P(7, 80),	  P(8, 90),    P(9, 100),
	    P(10, 110), P(11, 120),   P(12, 130), P(13, 140),  P(14, 150),
	    P(15, 160), P(16, 170),   P(17, 180), P(18, 190),  P(19, 200),
	    R(25),	WANT(20, -1), R(55),	  WANT(20, 16) } },
};

static void test_scripts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		const struct script *sc = &scripts[i];
		struct pr_lagbound lb;

		print_message("  %s\n", sc->name);
		pr_lagbound_init(&lb);
		for (size_t k = 0; k < 48 && sc->steps[k].op; k++) {
			const struct step *s = &sc->steps[k];

			switch (s->op) {
			case 'p':
				pr_lagbound_primary(&lb, s->t, s->lsn);
				break;
			case 'r':
				pr_lagbound_replayed(&lb, s->lsn);
				break;
			case 'f':
				pr_lagbound_forget(&lb);
				break;
			default:
				if (pr_lagbound_ms(&lb, s->t) != s->want)
					fail_msg("%s: step %zu: bound at %lld "
						 "is %ld, want %ld",
						 sc->name, k, (long long)s->t,
						 pr_lagbound_ms(&lb, s->t),
						 s->want);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lsn_parse),
		cmocka_unit_test(test_scripts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
