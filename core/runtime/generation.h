/*
 * generation.h - a generation is everything a request runs with: the
 * config, the driver modules, the channels (with each channel's driver
 * state), the routing catalogue (channels, whitelist, rules) and the
 * result-code map (the drivers' default tables and the operators'
 * overrides). It is immutable once published. The daemon holds one reference
 * on the current generation; every request takes one when it starts and
 * drops it when it ends. A reload builds a complete new generation aside,
 * and publishing it drops the daemon's reference on the old one, which is
 * freed (with the driver modules only it used) when its last request ends.
 */
#ifndef PR_GENERATION_H
#define PR_GENERATION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "domain/catalogue.h"
#include "domain/codemap.h"
#include "runtime/config.h"
#include "domain/drvobj.h"
#include "runtime/loader.h"

/* A channel as loaded from the store, with its driver's per-channel state. */
struct pr_channel {
	char *code;
	char *driver;
	char *status;	       /* online | offline */
	json_t *row;	       /* the whole channel as JSON (owned reference) */
	json_t *driver_config; /* borrowed from row */
	struct payroute_conf conf;
	struct pr_module *mod; /* the driver (a reference held by the gen) */
	void *state;	       /* from the driver's init; fini'd at free */
};

struct pr_generation {
	uint64_t id;
	int refs;
	int64_t created_ms;
	struct pr_config *config;     /* owned */
	struct pr_driver_set drivers; /* owned references */
	struct pr_channel *channels;  /* owned, sorted by code */
	size_t n_channels;
	struct pr_catalogue cat; /* owned; built by pr_gen_set_policy */
	/* The JSON arrays the catalogue was built from (owned references;
	 * NULL before the first policy): a reload that cannot reach the store
	 * rebuilds from these. */
	json_t *src_channels;
	json_t *src_whitelist;
	json_t *src_rules;
	/* The result codes (owned; NULL before pr_gen_set_codes) and the
	 * overrides they were built from (owned reference; NULL: none). */
	struct pr_codemap *codes;
	json_t *src_codes;
	int channels_from_store; /* 0 when carried over (store down) */
	int unpublished; /* built but never made current: no release line */
};

/* A new, empty generation with one reference (the caller's). Takes
 * ownership of cfg. */
struct pr_generation *pr_gen_new(uint64_t id, struct pr_config *cfg);

/* Adds the channels in `rows` (a JSON array of channel objects, each with
 * at least code, driver, status and driver_config) and runs each driver's
 * init. Returns 0, or a negative errno with err naming the channel. */
int pr_gen_add_channels(struct pr_generation *g, json_t *rows, char *err,
			size_t errlen);

/* Sets the generation's routing policy from three JSON arrays in the admin
 * API's shape (each may be NULL: empty): builds the catalogue
 * (pr_catalogue_build), then adds the channels with their driver init
 * (pr_gen_add_channels), and keeps references on the three arrays as the
 * generation's source. Call once, on a generation being built. Returns 0,
 * or a negative errno with err saying why (nothing is kept then). */
int pr_gen_set_policy(struct pr_generation *g, json_t *channels,
		      json_t *whitelist, json_t *rules, char *err,
		      size_t errlen);

/* Sets the generation's result codes: the default table of every driver
 * in g->drivers, then `overrides` (the admin API's array of code overrides,
 * policy_snapshot's "codes"; NULL: none), each of which must name a channel
 * of the generation. Call after pr_gen_set_policy (or on a generation
 * without channels, with no overrides), once. Keeps a reference on
 * overrides as src_codes. Returns 0, or a negative errno with err saying
 * why (nothing is kept then): -EINVAL for a bad driver table or override,
 * -ENOENT for an override naming a channel the generation does not have,
 * -EBUSY when called twice. */
int pr_gen_set_codes(struct pr_generation *g, json_t *overrides, char *err,
		     size_t errlen);

/* Builds a code map from the default tables of the modules of `drivers`
 * and from `overrides` (as above). When `channels` (a JSON array of
 * channel objects, only "code" is read) is given, every override must name
 * one of them. The admin API uses it to check a policy before committing
 * it. Returns 0 and sets *out (the caller frees it with pr_codemap_free),
 * or a negative errno with err filled. */
int pr_codes_build(const struct pr_driver_set *drivers, json_t *overrides,
		   json_t *channels, struct pr_codemap **out, char *err,
		   size_t errlen);

/* Finds a channel by code, or NULL. */
const struct pr_channel *pr_gen_channel(const struct pr_generation *g,
					const char *code);

/* Reference counting. pr_gen_unref frees the generation at zero: fini of
 * each channel state, its driver references released (modules nobody else
 * uses are closed), its config freed. Returns the remaining count. */
struct pr_generation *pr_gen_ref(struct pr_generation *g);
int pr_gen_unref(struct pr_generation *g);

/* Generations alive (for metrics and tests). */
size_t pr_gen_alive(void);

#endif
