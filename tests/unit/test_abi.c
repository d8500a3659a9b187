/*
 * test_abi.c - the driver ABI check and the loader.
 *
 * First a table of descriptors (one named row per case) through
 * pr_abi_check; then a table of config-key tables (ABI 1.2) through
 * pr_module_wrap, which reads and checks them as the loader does; then the
 * loader against the test drivers built as real .so files
 * (tests/drivers/testdrv.c compiled with good and with broken descriptors,
 * one declaring its config keys, one built as for ABI 1.1, one with a
 * broken key table): refused files are skipped and counted, unchanged
 * files are shared between scans, changed files are loaded anew.
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

#include "runtime/loader.h"
#include "runtime/log.h"

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

/* ABI 1.3 bills: all five or none; a 1.2 driver's slots are never read. */
static int fake_build_bill(void *st, const struct payroute_bill_req *r,
			   payroute_http_req *h, char *e, size_t el)
{
	(void)st, (void)r, (void)h, (void)e, (void)el;
	return -ENOTSUP;
}
static int fake_bill_next(void *c, struct payroute_bill_row *row, char *e,
			  size_t el)
{
	(void)c, (void)row, (void)e, (void)el;
	return 0;
}
static void m_bills_partial(struct payroute_driver *d)
{
	d->build_bill = fake_build_bill;
	d->bill_next = fake_bill_next;
}
static void m_bills_partial_old(struct payroute_driver *d)
{
	m_bills_partial(d);
	d->abi_minor = 2;
}

static const struct abi_case abi_cases[] = {
	{ "some bill operations but not all", m_bills_partial, -ENOEXEC,
	  "sets 2 of the 5 bill operations", "all or none", 0 },
	{ "a 1.2 driver's bill slots are not read", m_bills_partial_old, 0,
	  NULL, NULL, 0 },
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

/* The 1.1, 1.2 and 1.3 growths took spare slots: neither struct grew, so a
 * driver built for an older minor has the same layout. */
static void test_abi_layout(void **state)
{
	const size_t fn = sizeof(void (*)(void));

	(void)state;
	assert_int_equal(offsetof(struct payroute_driver, config_keys) +
				 16 * fn,
			 sizeof(struct payroute_driver));
	assert_int_equal(offsetof(struct payroute_services, rsa_encrypt) +
				 16 * fn,
			 sizeof(struct payroute_services));
	assert_int_equal(offsetof(struct payroute_services, md5),
			 offsetof(struct payroute_services, rsa_encrypt) + fn);
	/* 1.3: the bill operations follow config_keys, the hash services
	 * x509_verify. */
	assert_int_equal(offsetof(struct payroute_driver, build_bill),
			 offsetof(struct payroute_driver, config_keys) + fn);
	assert_int_equal(offsetof(struct payroute_driver, bill_close),
			 offsetof(struct payroute_driver, config_keys) +
				 6 * fn);
	assert_int_equal(offsetof(struct payroute_services, hash_begin),
			 offsetof(struct payroute_services, x509_verify) + fn);
}

/* ------------------------------------------------------- config keys */

static const struct payroute_config_key *ck_rows;
static size_t ck_n, ck_size, ck_calls;

static const struct payroute_config_key *ck_fn(size_t *n, size_t *entry_size)
{
	ck_calls++;
	*n = ck_n;
	*entry_size = ck_size;
	return ck_rows;
}

#define K(name, type, flags, def, desc)                                        \
	{                                                                      \
		name, PAYROUTE_CONFIG_##type, flags, def, desc                 \
	}
#define REQ PAYROUTE_CONFIG_REQUIRED
#define SEC PAYROUTE_CONFIG_SECRET

static const struct payroute_config_key ck_good[] = {
	K("endpoint", STRING, REQ, NULL, "base URL"),
	K("api_key", STRING, REQ | SEC, NULL, "a secret"),
	K("retries", INTEGER, 0, "-3", "how many"),
	K("verbose", BOOLEAN, 0, "false", "log more"),
	K("cert", PEM, 0, "@/etc/x.pem", "a certificate"),
};
/* Rows of a later, larger layout: read by their stride. */
static const struct {
	struct payroute_config_key k;
	uint64_t later_field;
} ck_wide[] = {
	{ K("endpoint", STRING, REQ, NULL, "base URL"), 7 },
	{ K("verbose", BOOLEAN, 0, "true", "log more"), 8 },
};
static const struct payroute_config_key ck_dup[] = {
	K("endpoint", STRING, 0, NULL, "one"),
	K("endpoint", STRING, 0, NULL, "two"),
};
static const struct payroute_config_key ck_badname[] = {
	K("Endpoint", STRING, 0, NULL, "capital"),
};
static const struct payroute_config_key ck_noname[] = {
	K(NULL, STRING, 0, NULL, "none"),
};
static const struct payroute_config_key ck_badtype[] = {
	{ "x", (enum payroute_config_type)9, 0, NULL, "type 9" },
};
static const struct payroute_config_key ck_badflags[] = {
	K("x", STRING, 0x4u, NULL, "flag 4"),
};
static const struct payroute_config_key ck_reqdefault[] = {
	K("x", STRING, REQ, "a", "required with a default"),
};
static const struct payroute_config_key ck_intdefault[] = {
	K("x", INTEGER, 0, "12a", "not an integer"),
};
static const struct payroute_config_key ck_booldefault[] = {
	K("x", BOOLEAN, 0, "yes", "not a boolean"),
};
static const struct payroute_config_key ck_nodesc[] = {
	K("x", STRING, 0, NULL, NULL),
};
static const struct payroute_config_key ck_twolines[] = {
	K("x", STRING, 0, NULL, "first line\nsecond line"),
};

struct ck_case {
	const char *name;
	uint16_t minor; /* the descriptor's abi_minor */
	const struct payroute_config_key *rows;
	size_t n, size;
	int expect_ok;	   /* the module is accepted */
	int declared;	   /* ... with its keys declared */
	size_t calls;	   /* times config_keys is called */
	const char *text;  /* substring of the refusal */
	const char *text2; /* another one */
};

#define ROWS(a) a, sizeof(a) / sizeof(a[0]), sizeof(a[0])

static const struct ck_case ck_cases[] = {
	{ "a good table is read", PAYROUTE_ABI_MINOR, ROWS(ck_good), 1, 1, 1,
	  NULL, NULL },
	{ "a driver built for 1.1: the slot is never read", 1, ROWS(ck_good), 1,
	  0, 0, NULL, NULL },
	{ "an empty table declares nothing", PAYROUTE_ABI_MINOR, ck_good, 0,
	  sizeof(ck_good[0]), 1, 0, 1, NULL, NULL },
	{ "rows smaller than the 1.2 layout", PAYROUTE_ABI_MINOR, ck_good, 5,
	  sizeof(ck_good[0]) - 8, 0, 0, 1, "rows of", "(ABI 1.2)" },
	{ "a larger row layout (a later minor) is read by its stride",
	  PAYROUTE_ABI_MINOR, &ck_wide[0].k, 2, sizeof(ck_wide[0]), 1, 1, 1,
	  NULL, NULL },
	{ "too many rows", PAYROUTE_ABI_MINOR, ck_good, PR_SCHEMA_MAX_KEYS + 1,
	  sizeof(ck_good[0]), 0, 0, 1, "at most", NULL },
	{ "a key declared twice", PAYROUTE_ABI_MINOR, ROWS(ck_dup), 0, 0, 1,
	  "endpoint is declared twice", NULL },
	{ "a name with a capital", PAYROUTE_ABI_MINOR, ROWS(ck_badname), 0, 0,
	  1, "invalid name", "Endpoint" },
	{ "no name", PAYROUTE_ABI_MINOR, ROWS(ck_noname), 0, 0, 1,
	  "invalid name", "(null)" },
	{ "an unknown type", PAYROUTE_ABI_MINOR, ROWS(ck_badtype), 0, 0, 1,
	  "unknown type 9", NULL },
	{ "an unknown flag", PAYROUTE_ABI_MINOR, ROWS(ck_badflags), 0, 0, 1,
	  "unknown flags 0x4", NULL },
	{ "a required key with a default", PAYROUTE_ABI_MINOR,
	  ROWS(ck_reqdefault), 0, 0, 1, "a required key has no default", NULL },
	{ "an integer default that is not one", PAYROUTE_ABI_MINOR,
	  ROWS(ck_intdefault), 0, 0, 1, "default \"12a\"", "integer" },
	{ "a boolean default that is not one", PAYROUTE_ABI_MINOR,
	  ROWS(ck_booldefault), 0, 0, 1, "default \"yes\"", "boolean" },
	{ "no description", PAYROUTE_ABI_MINOR, ROWS(ck_nodesc), 0, 0, 1,
	  "one-line description", NULL },
	{ "a description of two lines", PAYROUTE_ABI_MINOR, ROWS(ck_twolines),
	  0, 0, 1, "one-line description", NULL },
};

static void test_config_keys_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ck_cases) / sizeof(ck_cases[0]); i++) {
		const struct ck_case *c = &ck_cases[i];
		struct payroute_driver d = good;
		struct pr_module *m;
		char err[256] = "";

		d.abi_minor = c->minor;
		d.config_keys = ck_fn;
		ck_rows = c->rows;
		ck_n = c->n;
		ck_size = c->size;
		ck_calls = 0;
		m = pr_module_wrap(&d, "ck.so", err, sizeof(err));
		if (!!m != c->expect_ok || ck_calls != c->calls ||
		    (m && m->schema.declared != c->declared) ||
		    (c->text && !strstr(err, c->text)) ||
		    (c->text2 && !strstr(err, c->text2)))
			fail_msg("case \"%s\": module %s, declared %d, %zu "
				 "call(s), err \"%s\"",
				 c->name, m ? "accepted" : "refused",
				 m ? m->schema.declared : -1, ck_calls, err);
		if (m && m->schema.declared) {
			assert_int_equal(m->schema.n, c->n);
			assert_string_equal(m->schema.keys[0].name, "endpoint");
			assert_string_equal(m->schema.keys[1].name,
					    c->rows == ck_good ? "api_key" :
								 "verbose");
			assert_non_null(pr_schema_find(&m->schema, "endpoint"));
			assert_null(pr_schema_find(&m->schema, "endpoin"));
		}
		pr_module_unref(m);
	}
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

/* ABI 1.2's config keys through the loader: testkeys declares them,
 * testold (built as for 1.1) is loaded without reading its slot, badkeys
 * (a key declared twice) is refused and counted. */
static void test_loader_config_keys(void **state)
{
	struct pr_driver_set set;
	struct pr_module *keys, *old;
	char err[256], path[512];
	const char *others[] = { "good.so", "good2.so" };

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, others[i]);
		unlink(path);
	}
	put_driver("keys.so", "keys.so");
	put_driver("old.so", "old.so");
	put_driver("badkeys.so", "badkeys.so");
	assert_int_equal(
		pr_loader_scan(tmpdir, NULL, 1, &set, err, sizeof(err)), 0);
	assert_int_equal(set.n, 2);
	assert_int_equal(set.refused, 1);
	keys = pr_driver_set_find(&set, "testkeys");
	old = pr_driver_set_find(&set, "testold");
	assert_non_null(keys);
	assert_non_null(old);
	assert_null(pr_driver_set_find(&set, "badkeys"));
	assert_int_equal(keys->schema.declared, 1);
	assert_int_equal(keys->schema.n, 5);
	assert_int_equal(keys->schema.keys[3].flags, PAYROUTE_CONFIG_SECRET);
	assert_string_equal(
		pr_schema_find(&keys->schema, "sign_type")->default_value,
		"HMAC-SHA256");
	assert_int_equal(old->desc->abi_minor, 1);
	assert_non_null(old->desc->config_keys); /* set, and not read: */
	assert_int_equal(old->schema.declared, 0);
	pr_driver_set_release(&set);
	snprintf(path, sizeof(path), "%s/keys.so", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/old.so", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/badkeys.so", tmpdir);
	unlink(path);
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
		cmocka_unit_test(test_abi_layout),
		cmocka_unit_test(test_config_keys_table),
		cmocka_unit_test(test_loader_refuses_broken),
		cmocka_unit_test(test_loader_shares_and_reloads),
		cmocka_unit_test(test_loader_config_keys),
		cmocka_unit_test(test_loader_duplicate_name),
		cmocka_unit_test(test_loader_missing_dir),
	};

	pr_log_set_level(PAYROUTE_LOG_ERROR);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
