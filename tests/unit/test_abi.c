/*
 * test_abi.c - the driver ABI check and the loader.
 *
 * First a table of descriptors (one named row per case) through
 * pr_abi_check; then the loader against the test drivers built as real .so
 * files (tests/drivers/testdrv.c compiled with a good and with broken
 * descriptors): refused files are skipped and counted, unchanged files are
 * shared between scans, changed files are loaded anew.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader.h"
#include "log.h"

/* The core's ABI as text, for the expected messages: the rows must not
 * hard-code a minor (it grows with every appended field). */
#define STR_(x) #x
#define STR(x) STR_(x)
#define ABI_MAJOR_S STR(PAYROUTE_ABI_MAJOR)
#define ABI_MINOR_S STR(PAYROUTE_ABI_MINOR)
#define ABI_NEXT_MAJOR (PAYROUTE_ABI_MAJOR + 1)
#define ABI_NEXT_MINOR (PAYROUTE_ABI_MINOR + 1)

static int dummy_init(const struct payroute_services *svc, const char *ch,
		      const payroute_conf *conf, void **state, char *err,
		      size_t errlen)
{
	*state = NULL;
	return 0;
}

static const struct payroute_driver good = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "good",
	.version = "1",
	.init = dummy_init,
};

struct abi_case {
	const char *name;
	void (*mutate)(struct payroute_driver *d);
	int expect;		 /* 0 or -ENOEXEC */
	const char *expect_text; /* substring of the error */
	const char *expect_text2;
	int names_version; /* the error says "found MAJOR.MINOR" */
};

static void m_none(struct payroute_driver *d)
{
	(void)d;
}
static void m_magic(struct payroute_driver *d)
{
	d->magic = 0xdeadbeef;
}
static void m_major_up(struct payroute_driver *d)
{
	d->abi_major = ABI_NEXT_MAJOR;
	d->abi_minor = 0;
}
static void m_major_down(struct payroute_driver *d)
{
	d->abi_major = PAYROUTE_ABI_MAJOR - 1;
	d->abi_minor = 0;
}
static void m_minor_up(struct payroute_driver *d)
{
	d->abi_minor = ABI_NEXT_MINOR;
}
/* A driver built against 1.0 (its descriptor is the v1 layout, which no
 * minor has grown so far) in this core. */
static void m_minor_first(struct payroute_driver *d)
{
	d->abi_minor = 0;
}
static void m_small(struct payroute_driver *d)
{
	d->size = (uint32_t)offsetof(struct payroute_driver, init);
}
static void m_big(struct payroute_driver *d)
{
	d->size = (uint32_t)sizeof(*d) + 64;
}
static void m_noname(struct payroute_driver *d)
{
	d->name = NULL;
}
static void m_badname(struct payroute_driver *d)
{
	d->name = "Bad-Name";
}
static void m_noinit(struct payroute_driver *d)
{
	d->init = NULL;
}

static const struct abi_case abi_cases[] = {
	{ "good descriptor", m_none, 0, NULL, NULL, 0 },
	{ "larger descriptor from a later minor is fine", m_big, 0, NULL, NULL,
	  0 },
	{ "a driver built for 1.0 loads in any 1.x core", m_minor_first, 0,
	  NULL, NULL, 0 },
	{ "wrong magic", m_magic, -ENOEXEC, "expected 0x50524456",
	  "found 0xdeadbeef", 0 },
	{ "newer major", m_major_up, -ENOEXEC, "expected ABI " ABI_MAJOR_S ".x",
	  NULL, 1 },
	{ "older major", m_major_down, -ENOEXEC,
	  "expected ABI " ABI_MAJOR_S ".x", NULL, 1 },
	{ "newer minor", m_minor_up, -ENOEXEC,
	  "expected ABI " ABI_MAJOR_S "." ABI_MINOR_S " or older", NULL, 1 },
	{ "too small for v1", m_small, -ENOEXEC, "descriptor too small",
	  "(ABI " ABI_MAJOR_S ".0)", 0 },
	{ "no name", m_noname, -ENOEXEC, "invalid driver name", NULL, 0 },
	{ "name with capitals and dash", m_badname, -ENOEXEC,
	  "invalid driver name", "Bad-Name", 0 },
	{ "no init", m_noinit, -ENOEXEC, "no init function", NULL, 0 },
};

static void test_abi_table(void **state)
{
	for (size_t i = 0; i < sizeof(abi_cases) / sizeof(abi_cases[0]); i++) {
		const struct abi_case *c = &abi_cases[i];
		struct payroute_driver d = good;
		char err[256] = "", found[32];
		int rc;

		c->mutate(&d);
		rc = pr_abi_check(&d, err, sizeof(err));
		/* A refused version names what it found. */
		snprintf(found, sizeof(found), "found %u.%u",
			 (unsigned)d.abi_major, (unsigned)d.abi_minor);
		if (rc != c->expect ||
		    (c->expect_text && !strstr(err, c->expect_text)) ||
		    (c->expect_text2 && !strstr(err, c->expect_text2)) ||
		    (c->names_version && !strstr(err, found)))
			fail_msg("case \"%s\": rc %d (want %d), err \"%s\"",
				 c->name, rc, c->expect, err);
	}
	assert_int_equal(pr_abi_check(NULL, (char[64]){ 0 }, 64), -ENOEXEC);
}

/* ------------------------------------------------------------ loader */

static char tmpdir[256];

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out;
	size_t n;

	if (!in)
		fail_msg("cannot open %s (build the test drivers first)", from);
	/* Write to a new inode, as `install` does. */
	unlink(to);
	out = fopen(to, "wb");
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

static void put_driver(const char *name, const char *as)
{
	char from[512], to[512];

	snprintf(from, sizeof(from), "%s/%s", TEST_DRIVER_DIR, name);
	snprintf(to, sizeof(to), "%s/%s", tmpdir, as);
	copy_file(from, to);
}

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pr-test-abi-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return pr_loader_init();
}

static int teardown_dir(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return -1;
	pr_loader_exit();
	return 0;
}

static void test_loader_refuses_broken(void **state)
{
	struct pr_driver_set set;
	char err[256];

	put_driver("good.so", "good.so");
	put_driver("badmagic.so", "badmagic.so");
	put_driver("badmajor.so", "badmajor.so");
	put_driver("small.so", "small.so");
	put_driver("newminor.so", "newminor.so");
	assert_int_equal(
		pr_loader_scan(tmpdir, NULL, 1, &set, err, sizeof(err)), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.refused, 4);
	assert_string_equal(set.mods[0]->desc->name, "testgood");
	assert_string_equal(set.mods[0]->file, "good.so");
	assert_int_equal(set.mods[0]->loaded_in, 1);
	assert_int_equal(pr_loader_open_count(), 1);
	pr_driver_set_release(&set);
	assert_int_equal(pr_loader_open_count(), 0);
}

static void test_loader_shares_and_reloads(void **state)
{
	struct pr_driver_set a, b, c;
	char err[256], path[512];

	snprintf(path, sizeof(path), "%s/badmagic.so", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/badmajor.so", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/small.so", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/newminor.so", tmpdir);
	unlink(path);
	put_driver("good.so", "good.so");
	assert_int_equal(pr_loader_scan(tmpdir, NULL, 1, &a, err, sizeof(err)),
			 0);
	assert_int_equal(a.n, 1);

	/* Unchanged file + a new one: the first module is shared. */
	put_driver("good2.so", "good2.so");
	assert_int_equal(pr_loader_scan(tmpdir, &a, 2, &b, err, sizeof(err)),
			 0);
	assert_int_equal(b.n, 2);
	assert_ptr_equal(pr_driver_set_find(&b, "testgood"), a.mods[0]);
	assert_int_equal(a.mods[0]->refs, 2);
	assert_int_equal(pr_driver_set_find(&b, "testgood2")->loaded_in, 2);
	assert_int_equal(pr_loader_open_count(), 2);

	/* Replace good.so (a new inode, as after a rebuild): loaded anew,
	 * while the old module stays open for the sets that hold it. */
	sleep(1);
	put_driver("good.so", "good.so");
	assert_int_equal(pr_loader_scan(tmpdir, &b, 3, &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.n, 2);
	assert_ptr_not_equal(pr_driver_set_find(&c, "testgood"), a.mods[0]);
	assert_int_equal(pr_driver_set_find(&c, "testgood")->loaded_in, 3);
	assert_int_equal(pr_loader_open_count(), 3);

	pr_driver_set_release(&a);
	assert_int_equal(pr_loader_open_count(), 3);
	pr_driver_set_release(&b); /* the old testgood goes now */
	assert_int_equal(pr_loader_open_count(), 2);
	pr_driver_set_release(&c);
	assert_int_equal(pr_loader_open_count(), 0);
}

static void test_loader_duplicate_name(void **state)
{
	struct pr_driver_set set;
	char err[256];

	put_driver("good.so", "good.so");
	put_driver("good.so", "copy.so");
	assert_int_equal(pr_loader_scan(tmpdir, NULL, 1, &set, err,
					sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "testgood"));
	assert_int_equal(set.n, 0);
	assert_int_equal(pr_loader_open_count(), 0);
}

static void test_loader_missing_dir(void **state)
{
	struct pr_driver_set set;
	char err[256];

	assert_int_equal(pr_loader_scan("/nonexistent/drivers", NULL, 1, &set,
					err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/drivers"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi_table),
		cmocka_unit_test(test_loader_refuses_broken),
		cmocka_unit_test(test_loader_shares_and_reloads),
		cmocka_unit_test(test_loader_duplicate_name),
		cmocka_unit_test(test_loader_missing_dir),
	};

	pr_log_set_level(PAYROUTE_LOG_ERROR);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
