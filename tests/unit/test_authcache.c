/*
 * test_authcache.c - the admin authentication cache (core/base/authcache.c):
 * what it keeps, and above all what it forgets. One named row per
 * lookup: a script of puts, forgets and clock moves, then the lookup and
 * whether it must hit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/authcache.h"

#define TTL 30000

static struct pr_authcache_ent ent(const char *key, const char *name,
				   int64_t at, int64_t until)
{
	struct pr_authcache_ent e;

	memset(&e, 0, sizeof(e));
	snprintf(e.key, sizeof(e.key), "%s", key);
	memset(e.hash, 'a', 64);
	snprintf(e.who.name, sizeof(e.who.name), "%s", name);
	e.who.roles = PR_ROLE_ADMIN;
	e.at_ms = at;
	e.until_ms = until;
	return e;
}

/* A step of a script. */
enum op { PUT, PUT_STALE, FLUSH, DROP, END };
struct step {
	enum op op;
	const char *key;  /* PUT: the entry's key */
	const char *name; /* PUT: its operator; DROP: the one dropped */
	int64_t at;	  /* PUT: verified at */
	int64_t until;	  /* PUT: expires at (0: never) */
};

struct row {
	const char *name;
	struct step steps[6];
	const char *key; /* looked up */
	int64_t now;	 /* at */
	int hit;
	const char *who; /* a hit's operator */
};

static const struct row rows[] = {
	{ "a fresh entry is found",
	  { { PUT, "t1", "alice", 1000, 0 }, { END, NULL, NULL, 0, 0 } },
	  "t1",
	  1000 + TTL - 1,
	  1,
	  "alice" },
	{ "another key is not",
	  { { PUT, "t1", "alice", 1000, 0 }, { END, NULL, NULL, 0, 0 } },
	  "t2",
	  1001,
	  0,
	  NULL },
	{ "a prefix of a key is not",
	  { { PUT, "t12", "alice", 1000, 0 }, { END, NULL, NULL, 0, 0 } },
	  "t1",
	  1001,
	  0,
	  NULL },
	{ "the time-to-live is a hard bound",
	  { { PUT, "t1", "alice", 1000, 0 }, { END, NULL, NULL, 0, 0 } },
	  "t1",
	  1000 + TTL,
	  0,
	  NULL },
	{ "a clock before the entry's is no hit",
	  { { PUT, "t1", "alice", 1000, 0 }, { END, NULL, NULL, 0, 0 } },
	  "t1",
	  999,
	  0,
	  NULL },
	{ "an expired token is not found at its expiry",
	  { { PUT, "t1", "alice", 1000, 5000 }, { END, NULL, NULL, 0, 0 } },
	  "t1",
	  5000,
	  0,
	  NULL },
	{ "an expiring token is found before it",
	  { { PUT, "t1", "alice", 1000, 5000 }, { END, NULL, NULL, 0, 0 } },
	  "t1",
	  4999,
	  1,
	  "alice" },
	{ "a flush forgets everything",
	  { { PUT, "t1", "alice", 1000, 0 },
	    { FLUSH, NULL, NULL, 0, 0 },
	    { END, NULL, NULL, 0, 0 } },
	  "t1",
	  1001,
	  0,
	  NULL },
	{ "an operator's drop forgets its entries",
	  { { PUT, "t1", "alice", 1000, 0 },
	    { DROP, NULL, "alice", 0, 0 },
	    { END, NULL, NULL, 0, 0 } },
	  "t1",
	  1001,
	  0,
	  NULL },
	{ "an operator's drop keeps the others'",
	  { { PUT, "t1", "alice", 1000, 0 },
	    { PUT, "t2", "bob", 1000, 0 },
	    { DROP, NULL, "alice", 0, 0 },
	    { END, NULL, NULL, 0, 0 } },
	  "t2",
	  1001,
	  1,
	  "bob" },
	{ "an answer from before a drop is not kept",
	  { { PUT_STALE, "t1", "alice", 1000, 0 }, { END, NULL, NULL, 0, 0 } },
	  "t1",
	  1001,
	  0,
	  NULL },
	{ "a later put replaces the entry",
	  { { PUT, "t1", "alice", 1000, 0 },
	    { PUT, "t1", "alice2", 2000, 0 },
	    { END, NULL, NULL, 0, 0 } },
	  "t1",
	  2000 + TTL - 1,
	  1,
	  "alice2" },
	{ "a token found by its hash has its own key",
	  { { PUT, "h0123abcd", "admin", 1000, 0 }, { END, NULL, NULL, 0, 0 } },
	  "h0123abcd",
	  1001,
	  1,
	  "admin" },
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct pr_authcache *c = pr_authcache_new(64);
		struct pr_authcache_ent *got;

		assert_non_null(c);
		for (const struct step *s = w->steps; s->op != END; s++) {
			struct pr_authcache_ent e = ent(
				s->key ? s->key : "", s->name ? s->name : "",
				s->at, s->until ? s->until : INT64_MAX);
			uint64_t ep = pr_authcache_epoch(c);

			switch (s->op) {
			case PUT:
				assert_int_equal(pr_authcache_put(c, ep, &e),
						 0);
				break;
			case PUT_STALE:
				pr_authcache_drop_operator(c, "nobody");
				assert_int_equal(pr_authcache_put(c, ep, &e),
						 -ESTALE);
				break;
			case FLUSH:
				pr_authcache_flush(c);
				break;
			case DROP:
				pr_authcache_drop_operator(c, s->name);
				break;
			case END:
				break;
			}
		}
		got = pr_authcache_get(c, w->key, w->now, TTL);
		if (w->hit != (got != NULL))
			fail_msg("%s: %s", w->name,
				 w->hit ? "no hit" : "an unexpected hit");
		if (got)
			assert_string_equal(got->who.name, w->who);
		pr_authcache_free(c);
	}
}

/* Forgetting wipes: a slot once used holds nothing of its hash after a
 * flush or a drop, and the figures count what happened. */
static void test_forget_and_figures(void **state)
{
	struct pr_authcache *c = pr_authcache_new(8);
	struct pr_authcache_ent e = ent("t7", "carol", 0, INT64_MAX);
	struct pr_authcache_stats st;

	(void)state;
	assert_int_equal(pr_authcache_put(c, pr_authcache_epoch(c), &e), 0);
	assert_non_null(pr_authcache_get(c, "t7", 10, TTL));
	assert_null(pr_authcache_get(c, "t8", 10, TTL));
	assert_int_equal(pr_authcache_drop_operator(c, "carol"), 1);
	assert_null(pr_authcache_get(c, "t7", 10, TTL));
	pr_authcache_get_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.drops, 1);
	assert_int_equal(st.entries, 0);
	assert_int_equal(pr_authcache_put(c, pr_authcache_epoch(c), &e), 0);
	pr_authcache_flush(c);
	pr_authcache_get_stats(c, &st);
	assert_int_equal(st.flushes, 1);
	assert_int_equal(st.entries, 0);
	/* a time-to-live of 0 turns the cache off */
	assert_int_equal(pr_authcache_put(c, pr_authcache_epoch(c), &e), 0);
	assert_null(pr_authcache_get(c, "t7", 10, 0));
	pr_authcache_free(c);
}

static void test_bad_input(void **state)
{
	struct pr_authcache *c = pr_authcache_new(8);
	struct pr_authcache_ent e = ent("", "dave", 0, INT64_MAX);

	(void)state;
	assert_null(pr_authcache_new(0));
	assert_int_equal(pr_authcache_put(c, pr_authcache_epoch(c), &e),
			 -EINVAL);
	assert_int_equal(pr_authcache_put(NULL, 0, &e), -EINVAL);
	assert_null(pr_authcache_get(NULL, "t1", 0, TTL));
	assert_null(pr_authcache_get(c, "", 0, TTL));
	pr_authcache_flush(NULL);
	assert_int_equal(pr_authcache_drop_operator(NULL, "x"), 0);
	pr_authcache_free(NULL);
	pr_authcache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_forget_and_figures),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
