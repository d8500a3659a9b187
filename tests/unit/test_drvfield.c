/*
 * test_drvfield.c - the drivers' shared field copying
 * (drivers/common/drvfield.c), one named row per case: text cut on a
 * UTF-8 boundary, text cleaned of what is not UTF-8, ids copied whole or
 * refused, and a field table read through a getter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "drvfield.h"

struct text_row {
	const char *name;
	int clean; /* drv_copy_clean, else drv_copy_text */
	size_t size;
	const char *src;
	const char *want;
};

static const struct text_row text_rows[] = {
	{ "fits", 0, 8, "abc", "abc" },
	{ "cut", 0, 4, "abcdef", "abc" },
	{ "cut before a character", 0, 5, "ab\xe4\xb8\xad", "ab" },
	{ "a whole character", 0, 6, "ab\xe4\xb8\xad", "ab\xe4\xb8\xad" },
	{ "control kept", 0, 8, "a\nb", "a\nb" },
	{ "clean: fits", 1, 8, "abc", "abc" },
	{ "clean: control", 1, 8, "a\nb\x7f", "a?b?" },
	{ "clean: stray continuation", 1, 8, "a\x80z", "a?z" },
	{ "clean: overlong", 1, 8, "\xc0\xafz", "??z" },
	{ "clean: surrogate", 1, 8, "\xed\xa0\x80", "???" },
	{ "clean: cut before a character", 1, 5, "ab\xe4\xb8\xad", "ab" },
	{ "clean: a whole character", 1, 6, "ab\xe4\xb8\xad",
	  "ab\xe4\xb8\xad" },
};

static void test_text(void **state)
{
	char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(text_rows) / sizeof(text_rows[0]); i++) {
		const struct text_row *r = &text_rows[i];

		memset(out, 'X', sizeof(out));
		if (r->clean)
			drv_copy_clean(out, r->size, r->src);
		else
			drv_copy_text(out, r->size, r->src);
		if (strcmp(out, r->want) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", r->name, out,
				 r->want);
	}
}

struct id_row {
	const char *name;
	unsigned flags;
	const char *src;
	int rc;
	const char *err; /* a part of the refusal */
};

static const struct id_row id_rows[] = {
	{ "fits", 0, "20261", 0, NULL },
	{ "exactly fits", 0, "1234567", 0, NULL },
	{ "too long", 0, "12345678", -EPROTO, "no: longer than 7 bytes" },
	{ "a space is fine without TOKEN", 0, "a b", 0, NULL },
	{ "token", DRV_F_TOKEN, "A-1_b", 0, NULL },
	{ "not a token", DRV_F_TOKEN, "a b", -EPROTO,
	  "no: not a valid identifier" },
	{ "too long token", DRV_F_TOKEN, "12345678", -EPROTO,
	  "no: longer than 7 bytes" },
};

static void test_id(void **state)
{
	char out[8], err[64];

	(void)state;
	for (size_t i = 0; i < sizeof(id_rows) / sizeof(id_rows[0]); i++) {
		const struct id_row *r = &id_rows[i];
		int rc;

		snprintf(out, sizeof(out), "keep");
		err[0] = '\0';
		rc = drv_copy_id(out, sizeof(out), r->src, r->flags, "no", err,
				 sizeof(err));
		if (rc != r->rc)
			fail_msg("%s: rc %d, want %d", r->name, rc, r->rc);
		if (rc == 0 && strcmp(out, r->src) != 0)
			fail_msg("%s: copied \"%s\"", r->name, out);
		if (rc < 0 &&
		    (strcmp(out, "keep") != 0 || !strstr(err, r->err)))
			fail_msg("%s: \"%s\" / \"%s\"", r->name, out, err);
	}
}

/* A message: NULL-terminated key, value pairs; "BAD" refuses the key. */
static int get(const void *msg, const char *key, const char **v, char *err,
	       size_t errlen)
{
	const char *const *kv = msg;

	*v = NULL;
	for (; kv[0]; kv += 2) {
		if (strcmp(kv[0], key) != 0)
			continue;
		if (kv[1] && strcmp(kv[1], "BAD") == 0) {
			snprintf(err, errlen, "%s: not a string", key);
			return -EINVAL;
		}
		*v = kv[1];
	}
	return 0;
}

struct out {
	char id[8];
	char no[8];
	char msg[6];
};

#define F(key, member, flags) DRV_FIELD(struct out, key, member, flags)

static const struct drv_field fields[] = {
	F("id", id, DRV_F_REQUIRED | DRV_F_TOKEN),
	F("no", no, 0),
	F("msg", msg, DRV_F_TEXT),
};

struct take_row {
	const char *name;
	const char *msg[8];
	int rc;
	const char *want; /* "id|no|msg", or a part of the error */
};

static const struct take_row take_rows[] = {
	{ "all",
	  { "id", "A1", "no", "N1", "msg", "hello world", NULL },
	  0,
	  "A1|N1|hello" },
	{ "optional absent", { "id", "A1", NULL }, 0, "A1|old|old" },
	{ "optional empty", { "id", "A1", "no", "", NULL }, 0, "A1|old|old" },
	{ "required absent", { "no", "N1", NULL }, -EPROTO, "where: no id" },
	{ "required empty", { "id", "", NULL }, -EPROTO, "where: no id" },
	{ "not a token",
	  { "id", "A 1", NULL },
	  -EPROTO,
	  "id: not a valid identifier" },
	{ "id too long",
	  { "id", "A1", "no", "12345678", NULL },
	  -EPROTO,
	  "no: longer than 7 bytes" },
	{ "the getter refuses",
	  { "id", "A1", "no", "BAD", NULL },
	  -EINVAL,
	  "no: not a string" },
};

static void test_take(void **state)
{
	char err[64], got[64];

	(void)state;
	for (size_t i = 0; i < sizeof(take_rows) / sizeof(take_rows[0]); i++) {
		const struct take_row *r = &take_rows[i];
		struct out o = { "old", "old", "old" };
		int rc;

		err[0] = '\0';
		rc = drv_take_fields(&o, fields, 3, get, r->msg, "where", err,
				     sizeof(err));
		if (rc != r->rc)
			fail_msg("%s: rc %d (%s), want %d", r->name, rc, err,
				 r->rc);
		snprintf(got, sizeof(got), "%s|%s|%s", o.id, o.no, o.msg);
		if (rc == 0 && strcmp(got, r->want) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", r->name, got,
				 r->want);
		if (rc < 0 && !strstr(err, r->want))
			fail_msg("%s: error \"%s\"", r->name, err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
