/*
 * test_generation.c - generations and their reference counts.
 *
 * A fake driver (linked in, wrapped with pr_module_wrap) counts init and
 * fini calls, so the tests see exactly when a channel's state is released:
 * an old generation and the driver modules only it uses go when its last
 * request ends, and not before.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/generation.h"
#include "runtime/log.h"

static int inits, finis;

static int fake_init(const struct payroute_services *svc, const char *ch,
		     const payroute_conf *conf, void **state, char *err,
		     size_t errlen)
{
	const char *ep = svc->conf_str(conf, "endpoint");

	if (!ep) {
		snprintf(err, errlen, "endpoint: required");
		return -EINVAL;
	}
	*state = strdup(ep);
	inits++;
	return *state ? 0 : -ENOMEM;
}

static void fake_fini(void *state)
{
	free(state);
	finis++;
}

static const struct payroute_driver fake = {
	PAYROUTE_DRIVER_HEADER_V1, .name = "fake",    .version = "1",
	.init = fake_init,	   .fini = fake_fini,
};

static struct pr_config *new_config(void)
{
	return calloc(1, sizeof(struct pr_config));
}

/* A generation with the fake driver (sharing module m when given). */
static struct pr_generation *gen_with(uint64_t id, struct pr_module **m)
{
	struct pr_generation *g = pr_gen_new(id, new_config());
	char err[128];

	assert_non_null(g);
	if (!*m) {
		*m = pr_module_wrap(&fake, "fake.so", err, sizeof(err));
		assert_non_null(*m);
	} else {
		pr_module_ref(*m);
	}
	g->drivers.mods = calloc(1, sizeof(*g->drivers.mods));
	g->drivers.mods[0] = *m;
	g->drivers.n = 1;
	return g;
}

static json_t *rows(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad test JSON: %s", e.text);
	return j;
}

static void test_old_generation_lives_until_last_request(void **state)
{
	struct pr_module *m = NULL;
	struct pr_generation *g1, *g2, *req1, *req2;
	json_t *r = rows("[{\"code\":\"a1\",\"driver\":\"fake\",\"status\":"
			 "\"online\",\"driver_config\":{\"endpoint\":\"x\"}}]");
	char err[256];

	inits = finis = 0;
	g1 = gen_with(1, &m);
	assert_int_equal(pr_gen_add_channels(g1, r, err, sizeof(err)), 0);
	assert_int_equal(inits, 1);
	assert_int_equal(pr_gen_alive(), 1);

	/* Two requests start on generation 1. */
	req1 = pr_gen_ref(g1);
	req2 = pr_gen_ref(g1);

	/* A reload publishes generation 2; the daemon drops generation 1. */
	g2 = gen_with(2, &m);
	assert_int_equal(pr_gen_add_channels(g2, r, err, sizeof(err)), 0);
	assert_int_equal(pr_gen_unref(g1), 2);
	assert_int_equal(pr_gen_alive(), 2);
	assert_int_equal(finis, 0);

	assert_int_equal(pr_gen_unref(req1), 1);
	assert_int_equal(finis, 0);
	assert_int_equal(pr_gen_alive(), 2);

	/* The last request ends: generation 1 goes, the module stays with
	 * generation 2. */
	assert_int_equal(pr_gen_unref(req2), 0);
	assert_int_equal(finis, 1);
	assert_int_equal(pr_gen_alive(), 1);
	assert_int_equal(m->refs, 1);

	assert_int_equal(pr_gen_unref(g2), 0);
	assert_int_equal(finis, 2);
	assert_int_equal(pr_gen_alive(), 0);
	json_decref(r);
}

struct chan_case {
	const char *name;
	const char *rows;
	int expect;
	const char *expect_text;
	size_t n_started; /* driver inits expected */
};

static const struct chan_case chan_cases[] = {
	{ "empty catalogue", "[]", 0, NULL, 0 },
	{ "two online channels, sorted by code",
	  "[{\"code\":\"b\",\"driver\":\"fake\",\"status\":\"online\","
	  "\"driver_config\":{\"endpoint\":\"1\"}},"
	  "{\"code\":\"a\",\"driver\":\"fake\",\"status\":\"online\","
	  "\"driver_config\":{\"endpoint\":\"2\"}}]",
	  0, NULL, 2 },
	{ "offline channel with an unknown driver is kept, not started",
	  "[{\"code\":\"z\",\"driver\":\"nosuch\",\"status\":\"offline\","
	  "\"driver_config\":{}}]",
	  0, NULL, 0 },
	{ "online channel with an unknown driver",
	  "[{\"code\":\"z\",\"driver\":\"nosuch\",\"status\":\"online\","
	  "\"driver_config\":{}}]",
	  -ENOENT, "channel z: driver nosuch is not loaded", 0 },
	{ "driver init refuses the config",
	  "[{\"code\":\"a\",\"driver\":\"fake\",\"status\":\"online\","
	  "\"driver_config\":{\"endpoint\":\"1\"}},"
	  "{\"code\":\"c\",\"driver\":\"fake\",\"status\":\"online\","
	  "\"driver_config\":{}}]",
	  -EINVAL, "channel c: driver fake: endpoint: required", 1 },
	{ "duplicate code",
	  "[{\"code\":\"a\",\"driver\":\"fake\",\"status\":\"offline\"},"
	  "{\"code\":\"a\",\"driver\":\"fake\",\"status\":\"offline\"}]",
	  -EEXIST, "channel a appears twice", 0 },
	{ "missing driver field", "[{\"code\":\"a\",\"status\":\"online\"}]",
	  -EINVAL, "code, driver and status are required", 0 },
	{ "driver_config not an object",
	  "[{\"code\":\"a\",\"driver\":\"fake\",\"status\":\"online\","
	  "\"driver_config\":[1]}]",
	  -EINVAL, "driver_config must be an object", 0 },
	{ "not an array", "{}", -EINVAL, "expected an array", 0 },
};

static void test_channels_table(void **state)
{
	for (size_t i = 0; i < sizeof(chan_cases) / sizeof(chan_cases[0]);
	     i++) {
		const struct chan_case *c = &chan_cases[i];
		struct pr_module *m = NULL;
		struct pr_generation *g = gen_with(10 + i, &m);
		json_t *r = rows(c->rows);
		char err[256] = "";
		int rc;

		inits = finis = 0;
		rc = pr_gen_add_channels(g, r, err, sizeof(err));
		if (rc != c->expect ||
		    (c->expect_text && !strstr(err, c->expect_text)) ||
		    (size_t)inits != c->n_started)
			fail_msg("case \"%s\": rc %d (want %d), inits %d "
				 "(want %zu), err \"%s\"",
				 c->name, rc, c->expect, inits, c->n_started,
				 err);
		/* A failed add leaves nothing started behind. */
		if (rc < 0 && finis != inits)
			fail_msg("case \"%s\": %d inits but %d finis", c->name,
				 inits, finis);
		if (rc == 0 && g->n_channels > 1)
			assert_true(strcmp(g->channels[0].code,
					   g->channels[1].code) < 0);
		if (rc == 0 && g->n_channels)
			assert_non_null(pr_gen_channel(g, g->channels[0].code));
		assert_null(pr_gen_channel(g, "nope"));
		g->unpublished = 1;
		pr_gen_unref(g);
		json_decref(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_generation_lives_until_last_request),
		cmocka_unit_test(test_channels_table),
	};

	pr_log_set_level(PAYROUTE_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
