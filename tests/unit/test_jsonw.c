/*
 * test_jsonw.c - the JSON writer (core/base/jsonw.c) writes what jansson's
 * json_dumps(JSON_COMPACT) writes for the same values, byte for byte:
 * reals (a table, the exact path and glibc's), strings needing escapes,
 * integers at their limits, nesting; and it refuses what jansson cannot
 * hold (NaN, infinities, a string that is not UTF-8).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/jsonw.h"

/* w's text equals json_dumps(j) (j stolen). */
static void same(struct pr_jw *w, json_t *j, const char *what)
{
	char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	assert_non_null(want);
	assert_false(w->failed);
	if (w->len != strlen(want) || memcmp(w->p, want, w->len) != 0)
		fail_msg("%s: wrote %.*s, jansson %s", what, (int)w->len, w->p,
			 want);
	free(want);
	json_decref(j);
}

static void test_reals(void **state)
{
	static const double rows[] = {
		0.0,
		1.0,
		0.5,
		2.5,
		3.0,
		0.0009765625,	    /* 1/1024: the exact path's smallest step */
		9999999.9990234375, /* the exact path's largest, 17 digits */
		10000000.0,	    /* past it: glibc */
		123.125,
		1.0 / 3.0,
		2.0 / 3.0,
		0.1,
		10.0 / 90.0,
		1e-7,
		1e-4,
		1.5e-300,
		1e16,
		1e17,
		1e21,
		1e22,
		-1.0,
		-0.0,
		-2.5,
		4.9e-324,
		1.7976931348623157e308,
		0.30000000000000004,
	};
	char room[64];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pr_jw w;
		char what[48];

		pr_jw_init(&w, room, sizeof(room));
		pr_jw_real(&w, rows[i]);
		snprintf(what, sizeof(what), "%.17g", rows[i]);
		same(&w, json_real(rows[i]), what);
		pr_jw_free(&w);
	}
	for (int i = 0; i < 3; i++) {
		struct pr_jw w;

		pr_jw_init(&w, room, sizeof(room));
		pr_jw_real(&w, i == 0 ? NAN : i == 1 ? INFINITY : -INFINITY);
		assert_true(w.failed);
		pr_jw_free(&w);
	}
}

static void test_strings(void **state)
{
	static const char *const rows[] = {
		"",
		"plain",
		"say \"hi\"",
		"back\\slash",
		"tab\tnl\ncr\rbs\bff\f",
		"\x01\x1f\x7f",
		"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
		"a/b",
	};
	struct pr_jw w;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pr_jw_init(&w, NULL, 0);
		pr_jw_str(&w, rows[i]);
		same(&w, json_string(rows[i]), rows[i]);
		pr_jw_free(&w);
	}
	/* every ASCII byte, alone and inside plain text (the fast path's
	 * table and the escaping path) */
	for (int c = 1; c < 0x80; c++) {
		char one[2] = { (char)c, 0 }, mid[8];

		snprintf(mid, sizeof(mid), "ab%cde", c);
		pr_jw_init(&w, NULL, 0);
		pr_jw_str(&w, one);
		same(&w, json_string(one), "one ASCII byte");
		pr_jw_free(&w);
		pr_jw_init(&w, NULL, 0);
		pr_jw_str(&w, mid);
		same(&w, json_string(mid), "an ASCII byte in text");
		pr_jw_free(&w);
	}
	/* not UTF-8: jansson would not hold it; the writer fails */
	pr_jw_init(&w, NULL, 0);
	pr_jw_str(&w, "bad \xc3(");
	assert_true(w.failed);
	pr_jw_free(&w);
	assert_null(json_string("bad \xc3("));
}

static void test_ints(void **state)
{
	static const int64_t rows[] = {
		0, 1, -1, 42, 1796619757187LL, INT64_MAX, INT64_MIN
	};
	struct pr_jw w;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pr_jw_init(&w, NULL, 0);
		pr_jw_int(&w, rows[i]);
		same(&w, json_integer(rows[i]), "integer");
		pr_jw_free(&w);
	}
}

/* Nesting, separators, and a text that outgrows the caller's room. */
static void test_structure(void **state)
{
	char room[16];
	struct pr_jw w;
	json_t *j = json_object(), *a = json_array();
	char key[16];

	(void)state;
	pr_jw_init(&w, room, sizeof(room));
	pr_jw_obj_open(&w);
	pr_jw_key(&w, "empty");
	pr_jw_obj_open(&w);
	pr_jw_obj_close(&w);
	json_object_set_new(j, "empty", json_object());
	pr_jw_key(&w, "none");
	pr_jw_arr_open(&w);
	pr_jw_arr_close(&w);
	json_object_set_new(j, "none", json_array());
	pr_jw_key(&w, "list");
	pr_jw_arr_open(&w);
	for (int i = 0; i < 200; i++) {
		pr_jw_obj_open(&w);
		snprintf(key, sizeof(key), "k%d", i);
		pr_jw_key(&w, key);
		pr_jw_bool(&w, i % 2);
		pr_jw_key(&w, "n");
		pr_jw_null(&w);
		pr_jw_key(&w, "s");
		pr_jw_str(&w, i % 3 ? "x" : NULL);
		pr_jw_obj_close(&w);
		json_array_append_new(
			a, json_pack("{s:b,s:n,s:o}", key, i % 2, "n", "s",
				     i % 3 ? json_string("x") : json_null()));
	}
	pr_jw_arr_close(&w);
	json_object_set_new(j, "list", a);
	pr_jw_obj_close(&w);
	assert_non_null(w.own); /* moved to the heap */
	same(&w, j, "structure");
	pr_jw_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reals),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_structure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
