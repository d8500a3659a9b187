/*
 * test_passwd.c - unit tests of core/runtime/passwd.c and offload.c: the
 * password policy (one row a case), scrypt against RFC 7914's test vector
 * through the stored format, a hash made and verified, the stored texts
 * refused, and the worker thread of offload.c running work off the loop
 * and done on it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "runtime/offload.h"
#include "runtime/passwd.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *what, *name, *pw;
	int ok;
} policy[] = {
	{ "long enough", "alice", "correct horse battery", 1 },
	{ "exactly the minimum", "alice", "123456789012", 1 },
	{ "one short", "alice", "12345678901", 0 },
	{ "empty", "alice", "", 0 },
	{ "the name", "alicealicealice", "alicealicealice", 0 },
	{ "the name inside, other case", "alice", "my name is ALICE ok", 0 },
	{ "a control character", "alice", "correct horse\tbattery", 0 },
	{ "UTF-8 is fine", "alice", "密码密码密码密码", 1 },
};

static void test_policy(void **state)
{
	char err[160], big[PR_PASSWD_MAX + 2];

	(void)state;
	for (size_t i = 0; i < N(policy); i++) {
		int rc = pr_passwd_policy(policy[i].name, policy[i].pw, err,
					  sizeof(err));

		if ((rc == 0) != policy[i].ok)
			fail_msg("%s: rc %d (%s)", policy[i].what, rc, err);
		if (rc < 0 && strncmp(err, "password: ", 10) != 0)
			fail_msg("%s: the message names no field: %s",
				 policy[i].what, err);
	}
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pr_passwd_policy("a", big, err, sizeof(err)), -EINVAL);
	big[PR_PASSWD_MAX] = '\0';
	assert_int_equal(pr_passwd_policy("a", big, err, sizeof(err)), 0);
}

/* RFC 7914 section 12: scrypt("pleaseletmein", "SodiumChloride", N=16384,
 * r=8, p=1): the first 32 bytes of its 64 (PBKDF2's first block), in the
 * stored format with that salt. */
static void test_rfc7914_vector(void **state)
{
	const char *stored =
		"scrypt$ln=14,r=8,p=1$536f6469756d43686c6f72696465$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2";

	(void)state;
	assert_int_equal(pr_passwd_verify("pleaseletmein", stored), 1);
	assert_int_equal(pr_passwd_verify("pleaseletmeout", stored), 0);
	assert_int_equal(pr_passwd_stale(stored), 1);
}

static void test_hash_verify(void **state)
{
	char a[PR_PASSWD_HASH_MAX], b[PR_PASSWD_HASH_MAX];

	(void)state;
	assert_int_equal(pr_passwd_hash("correct horse battery", a), 0);
	assert_int_equal(pr_passwd_hash("correct horse battery", b), 0);
	assert_int_equal(strncmp(a, "scrypt$ln=15,r=8,p=3$", 21), 0);
	assert_int_equal(strlen(a), 21 + 32 + 1 + 64);
	assert_string_not_equal(a, b); /* each its own salt */
	assert_int_equal(pr_passwd_verify("correct horse battery", a), 1);
	assert_int_equal(pr_passwd_verify("correct horse batterY", a), 0);
	assert_int_equal(pr_passwd_verify("", a), 0);
	assert_int_equal(pr_passwd_stale(a), 0);
}

static void test_stored_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		"scrypt$ln=15,r=8,p=3$",
		"scrypt$ln=15,r=8$00112233445566778899aabbccddeeff$"
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"scrypt$ln=30,r=8,p=3$00112233445566778899aabbccddeeff$"
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"scrypt$ln=15,r=8,p=99$00112233445566778899aabbccddeeff$"
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"scrypt$ln=15,r=8,p=3$0011$"
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"scrypt$ln=15,r=8,p=3$00112233445566778899AABBCCDDEEFF$"
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"scrypt$ln=15,r=8,p=3$00112233445566778899aabbccddeeff$0011",
		"scrypt$ln=15,r=8,p=3$00112233445566778899aabbccddeeff$"
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
	};

	(void)state;
	for (size_t i = 0; i < N(bad); i++)
		if (pr_passwd_verify("x", bad[i]) != -EINVAL)
			fail_msg("stored text %zu taken: %s", i, bad[i]);
	assert_int_equal(pr_passwd_verify("x", NULL), -EINVAL);
	assert_int_equal(pr_passwd_stale("nonsense"), 1);
}

/* offload: three jobs; work runs on another thread, done on the loop's,
 * in order. */
struct ojob {
	pthread_t loop, worker;
	int index, *done_order, *n_done;
	struct event_base *base;
};

static void o_work(void *arg)
{
	struct ojob *j = arg;

	j->worker = pthread_self();
}

static void o_done(void *arg)
{
	struct ojob *j = arg;

	assert_true(pthread_equal(pthread_self(), j->loop));
	assert_false(pthread_equal(j->worker, j->loop));
	j->done_order[(*j->n_done)++] = j->index;
	if (*j->n_done == 3)
		event_base_loopbreak(j->base);
}

static void test_offload(void **state)
{
	struct event_base *base = event_base_new();
	struct ojob jobs[3];
	int order[3] = { -1, -1, -1 }, n = 0;
	struct timeval limit = { 10, 0 };

	(void)state;
	assert_non_null(base);
	for (int i = 0; i < 3; i++) {
		jobs[i] = (struct ojob){ .loop = pthread_self(),
					 .index = i,
					 .done_order = order,
					 .n_done = &n,
					 .base = base };
		assert_int_equal(pr_offload(base, o_work, o_done, &jobs[i]), 0);
	}
	event_base_loopexit(base, &limit); /* bounded: 10 s */
	event_base_dispatch(base);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(order[i], i);
	pr_offload_shutdown();
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_rfc7914_vector),
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_stored_refused),
		cmocka_unit_test(test_offload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
