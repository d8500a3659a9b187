/*
 * generation.c - generations, their channels, their routing catalogue and
 * their result codes.
 *
 * A generation bundles what a request runs with (config, driver modules,
 * channels with their driver states, the routing catalogue built from the
 * policy's JSON, which it keeps as the source of the next rebuild, and the
 * result-code map built from the drivers' default tables and the
 * operators' overrides) and is never modified once published.
 * It is freed when its reference count drops to zero: the daemon holds one
 * reference on the current generation and every request one on the
 * generation it started with, so an old generation lives exactly as long as
 * its last request, never on a timer. Freeing runs each channel's fini and
 * drops the generation's driver references; a module no other generation
 * uses is closed then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "runtime/generation.h"
#include "runtime/log.h"
#include "runtime/services.h"

static size_t gens_alive;

size_t pr_gen_alive(void)
{
	return gens_alive;
}

struct pr_generation *pr_gen_new(uint64_t id, struct pr_config *cfg)
{
	struct pr_generation *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->id = id;
	g->refs = 1;
	g->created_ms = pr_now_ms();
	g->config = cfg;
	gens_alive++;
	return g;
}

struct pr_generation *pr_gen_ref(struct pr_generation *g)
{
	g->refs++;
	return g;
}

static void channel_clear(struct pr_channel *c)
{
	if (c->state && c->mod && c->mod->desc->fini)
		c->mod->desc->fini(c->state);
	json_decref(c->row);
	free(c->code);
	free(c->driver);
	free(c->status);
	memset(c, 0, sizeof(*c));
}

static void gen_free(struct pr_generation *g)
{
	for (size_t i = 0; i < g->n_channels; i++)
		channel_clear(&g->channels[i]);
	free(g->channels);
	pr_catalogue_clear(&g->cat);
	json_decref(g->src_channels);
	json_decref(g->src_whitelist);
	json_decref(g->src_rules);
	pr_codemap_free(g->codes);
	json_decref(g->src_codes);
	pr_driver_set_release(&g->drivers);
	pr_config_free(g->config);
	gens_alive--;
	free(g);
}

int pr_gen_unref(struct pr_generation *g)
{
	uint64_t id;
	int published;

	if (!g)
		return 0;
	if (--g->refs > 0)
		return g->refs;
	id = g->id;
	published = !g->unpublished;
	gen_free(g);
	if (published)
		pr_info("generation %llu released", (unsigned long long)id);
	return 0;
}

const struct pr_channel *pr_gen_channel(const struct pr_generation *g,
					const char *code)
{
	size_t lo = 0, hi = g->n_channels;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(code, g->channels[mid].code);

		if (c == 0)
			return &g->channels[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int cmp_channel(const void *a, const void *b)
{
	return strcmp(((const struct pr_channel *)a)->code,
		      ((const struct pr_channel *)b)->code);
}

static const char *row_str(json_t *row, const char *key)
{
	return json_string_value(json_object_get(row, key));
}

/*
 * Checks a channel's driver_config against the keys its driver declares
 * (ABI 1.2) before init sees it. An unknown key is only warned about: the
 * store may hold configs written before the driver declared its keys, and
 * a key the driver does not know changes nothing it does, so refusing it
 * here would take a working channel down on upgrade (the admin API refuses
 * it on the next write, `payrouted -t` reports it). A wrong type or a
 * missing required key is an error for an online channel (init would
 * refuse it anyway; this says which key) and a warning for an offline one.
 * Returns 0, or -EINVAL with err filled.
 */
static int channel_check_config(const struct pr_channel *c, int online,
				char *err, size_t errlen)
{
	char field[160], msg[512];

	if (pr_schema_check(&c->mod->schema, c->driver, c->driver_config,
			    "driver_config", 0, field, sizeof(field), msg,
			    sizeof(msg)) == PR_SCHEMA_UNKNOWN)
		pr_warn("channel %s: %s (ignored by the %s driver; the admin "
			"API refuses it on the channel's next write)",
			c->code, msg, c->driver);
	if (pr_schema_check(&c->mod->schema, c->driver, c->driver_config,
			    "driver_config", PR_SCHEMA_ALLOW_UNKNOWN, field,
			    sizeof(field), msg, sizeof(msg)) == PR_SCHEMA_OK)
		return 0;
	if (!online) {
		pr_warn("channel %s (offline): %s", c->code, msg);
		return 0;
	}
	snprintf(err, errlen, "channel %s: %s", c->code, msg);
	return -EINVAL;
}

/* Fills c from row and, for an online channel, runs its driver's init. */
static int channel_init(struct pr_generation *g, struct pr_channel *c,
			json_t *row, size_t idx, char *err, size_t errlen)
{
	const char *code = row_str(row, "code");
	const char *driver = row_str(row, "driver");
	const char *status = row_str(row, "status");
	json_t *dc = json_object_get(row, "driver_config");
	char derr[256] = "";
	int rc;

	if (!json_is_object(row) || !code || !driver || !status) {
		snprintf(err, errlen,
			 "channel #%zu: code, driver and status are required",
			 idx);
		return -EINVAL;
	}
	if (dc && !json_is_object(dc)) {
		snprintf(err, errlen,
			 "channel %s: driver_config must be an object", code);
		return -EINVAL;
	}
	c->row = json_incref(row);
	c->code = strdup(code);
	c->driver = strdup(driver);
	c->status = strdup(status);
	if (!c->code || !c->driver || !c->status) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->driver_config = dc;
	c->conf.root = dc;
	c->mod = pr_driver_set_find(&g->drivers, driver);
	if (strcmp(status, "online") != 0) {
		/* Offline channels take no new orders, but their orders in
		 * flight are still queried, closed and called back: start
		 * the driver when the config allows, and only warn when it
		 * does not (its config is checked for real when an operator
		 * brings it online; a reload that fails then keeps it
		 * offline). */
		if (!c->mod) {
			pr_warn("channel %s (offline): driver %s is not loaded",
				code, driver);
			return 0;
		}
		if (!dc)
			return 0;
		channel_check_config(c, 0, err, errlen);
		rc = c->mod->desc->init(pr_services(), code, &c->conf,
					&c->state, derr, sizeof(derr));
		if (rc < 0) {
			c->state = NULL;
			pr_warn("channel %s (offline): driver %s not started: "
				"%s (its orders in flight cannot be queried)",
				code, driver, derr[0] ? derr : strerror(-rc));
		}
		return 0;
	}
	if (!c->mod) {
		snprintf(err, errlen, "channel %s: driver %s is not loaded",
			 code, driver);
		return -ENOENT;
	}
	if (!dc) {
		snprintf(err, errlen, "channel %s: driver_config missing",
			 code);
		return -EINVAL;
	}
	rc = channel_check_config(c, 1, err, errlen);
	if (rc < 0)
		return rc;
	rc = c->mod->desc->init(pr_services(), code, &c->conf, &c->state, derr,
				sizeof(derr));
	if (rc < 0) {
		c->state = NULL;
		snprintf(err, errlen, "channel %s: driver %s: %s", code, driver,
			 derr[0] ? derr : strerror(-rc));
		return rc;
	}
	return 0;
}

int pr_gen_add_channels(struct pr_generation *g, json_t *rows, char *err,
			size_t errlen)
{
	struct pr_channel *chs;
	size_t n, i;
	int rc = 0;

	if (!json_is_array(rows)) {
		snprintf(err, errlen, "channels: expected an array");
		return -EINVAL;
	}
	n = json_array_size(rows);
	chs = calloc(n ? n : 1, sizeof(*chs));
	if (!chs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		rc = channel_init(g, &chs[i], json_array_get(rows, i), i, err,
				  errlen);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		for (size_t j = 0; j <= i && j < n; j++)
			channel_clear(&chs[j]);
		free(chs);
		return rc;
	}
	qsort(chs, n, sizeof(*chs), cmp_channel);
	for (i = 1; i < n; i++) {
		if (strcmp(chs[i - 1].code, chs[i].code) == 0) {
			snprintf(err, errlen, "channel %s appears twice",
				 chs[i].code);
			for (size_t j = 0; j < n; j++)
				channel_clear(&chs[j]);
			free(chs);
			return -EEXIST;
		}
	}
	for (i = 0; i < g->n_channels; i++)
		channel_clear(&g->channels[i]);
	free(g->channels);
	g->channels = chs;
	g->n_channels = n;
	return 0;
}

int pr_gen_set_policy(struct pr_generation *g, json_t *channels,
		      json_t *whitelist, json_t *rules, char *err,
		      size_t errlen)
{
	json_t *empty = NULL;
	int rc;

	if (g->src_channels || g->src_whitelist || g->src_rules ||
	    g->n_channels) {
		snprintf(err, errlen, "the generation has a policy already");
		return -EBUSY;
	}
	rc = pr_catalogue_build(&g->cat, channels, whitelist, rules, err,
				errlen);
	if (rc < 0) {
		pr_catalogue_clear(&g->cat);
		memset(&g->cat, 0, sizeof(g->cat));
		return rc;
	}
	if (!channels) {
		empty = json_array();
		if (!empty) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	rc = pr_gen_add_channels(g, channels ? channels : empty, err, errlen);
	json_decref(empty);
	if (rc < 0)
		goto fail;
	g->src_channels = json_incref(channels);
	g->src_whitelist = json_incref(whitelist);
	g->src_rules = json_incref(rules);
	return 0;
fail:
	pr_catalogue_clear(&g->cat);
	memset(&g->cat, 0, sizeof(g->cat));
	return rc;
}

/* 1 when the JSON array of channel objects `channels` has one named code. */
static int json_has_channel(const void *arg, const char *code)
{
	json_t *ch;
	size_t i;

	json_array_foreach((json_t *)arg, i, ch) {
		const char *c = row_str(ch, "code");

		if (c && strcmp(c, code) == 0)
			return 1;
	}
	return 0;
}

static int gen_has_channel(const void *arg, const char *code)
{
	return pr_gen_channel(arg, code) != NULL;
}

static int codes_build(const struct pr_driver_set *drivers, json_t *overrides,
		       int (*exists)(const void *, const char *),
		       const void *arg, struct pr_codemap **out, char *err,
		       size_t errlen)
{
	struct pr_codemap *m = pr_codemap_new();
	json_t *o;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; drivers && i < drivers->n; i++) {
		const struct payroute_driver *d = drivers->mods[i]->desc;
		const struct payroute_code_entry *rows;
		size_t n = 0, es = 0;

		if (!d->default_codes)
			continue;
		rows = d->default_codes(&n, &es);
		rc = pr_codemap_add_driver(m, d->name, rows, n, es, err,
					   errlen);
		if (rc < 0)
			goto out;
	}
	rc = pr_codemap_add_overrides(m, overrides, err, errlen);
	if (rc < 0)
		goto out;
	if (exists && json_is_array(overrides)) {
		json_array_foreach(overrides, i, o) {
			const char *ch = row_str(o, "channel");

			if (!exists(arg, ch)) {
				snprintf(err, errlen,
					 "codes[%zu]: no channel named %s "
					 "(override %s/%s/%s/%s)",
					 i, ch, row_str(o, "channel"),
					 row_str(o, "op"), row_str(o, "code"),
					 row_str(o, "sub_code") ?
						 row_str(o, "sub_code") :
						 "*");
				rc = -ENOENT;
				goto out;
			}
		}
	}
	*out = m;
	m = NULL;
out:
	pr_codemap_free(m);
	return rc;
}

int pr_codes_build(const struct pr_driver_set *drivers, json_t *overrides,
		   json_t *channels, struct pr_codemap **out, char *err,
		   size_t errlen)
{
	return codes_build(drivers, overrides,
			   channels ? json_has_channel : NULL, channels, out,
			   err, errlen);
}

int pr_gen_set_codes(struct pr_generation *g, json_t *overrides, char *err,
		     size_t errlen)
{
	struct pr_codemap *m;
	int rc;

	if (g->codes) {
		snprintf(err, errlen, "the generation has its codes already");
		return -EBUSY;
	}
	rc = codes_build(&g->drivers, overrides, gen_has_channel, g, &m, err,
			 errlen);
	if (rc < 0)
		return rc;
	g->codes = m;
	g->src_codes = json_incref(overrides);
	return 0;
}
