/*
 * drvschema.h - a driver's config keys (ABI 1.2, struct
 * payroute_config_key): read and checked once when the driver is loaded,
 * then used to check a channel's driver_config before the driver's init
 * sees it, to mask its secrets, and to describe it (GET
 * /admin/v1/drivers, payroutectl, the console's form).
 *
 * Pure functions over the descriptor and JSON: no I/O, no globals.
 */
#ifndef PR_DRVSCHEMA_H
#define PR_DRVSCHEMA_H

#include <stddef.h>

#include <jansson.h>
#include <payroute/driver.h>

/* The most keys a driver may declare. */
#define PR_SCHEMA_MAX_KEYS 128

/* A driver's keys. declared is 0 for a driver that declares none (built
 * for ABI 1.0 or 1.1, or with no config_keys): its config is then checked
 * by its init alone. keys is an owned copy of the rows (n of them, in the
 * driver's order); their strings are the driver's static data, valid
 * while the module is loaded. */
struct pr_schema {
	int declared;
	struct payroute_config_key *keys;
	size_t n;
};

/* Reads the keys descriptor d declares (PAYROUTE_HAS_CONFIG_KEYS) into
 * *out and checks the table: rows at least as large as the 1.2 layout,
 * at most PR_SCHEMA_MAX_KEYS, names of 1 to 64 [a-z0-9_] and unique, a
 * known type, no unknown flag, a one-line description, and a default only
 * on an optional key and valid for its type. Returns 0 (*out filled,
 * declared or not), -ENOEXEC with err saying which row breaks which rule,
 * or -ENOMEM. Release *out with pr_schema_clear. */
int pr_schema_load(const struct payroute_driver *d, struct pr_schema *out,
		   char *err, size_t errlen);
void pr_schema_clear(struct pr_schema *s);

/* The row named name, or NULL. */
const struct payroute_config_key *pr_schema_find(const struct pr_schema *s,
						 const char *name);

/* "string", "integer", "boolean", "pem" ("?" for anything else). */
const char *pr_schema_type_name(enum payroute_config_type type);

/* What pr_schema_check found. */
enum pr_schema_problem {
	PR_SCHEMA_OK = 0,
	PR_SCHEMA_NOT_OBJECT, /* the config is not a JSON object */
	PR_SCHEMA_UNKNOWN,    /* a key the driver does not declare */
	PR_SCHEMA_WRONG_TYPE, /* a value of another JSON type */
	PR_SCHEMA_MISSING,    /* a required key is missing */
};

/* Flags of pr_schema_check. */
#define PR_SCHEMA_ALLOW_UNKNOWN 0x1u /* do not refuse undeclared keys */
#define PR_SCHEMA_ALLOW_MISSING 0x2u /* do not refuse missing required keys */

/*
 * Checks config (a channel's driver_config) against s, the keys of the
 * driver named driver. path names config in the messages
 * ("driver_config", "channels[2].driver_config"). The first problem wins,
 * looking in this order: unknown keys (in the config's order), then the
 * types of the declared keys present, then the required keys missing (in
 * the driver's order). On a problem, field gets "PATH.KEY" (PATH alone
 * when the config is not an object) and err a message that starts with
 * it:
 *   "driver_config.signtype: unknown key; did you mean sign_type?"
 *   "driver_config.x: unknown key (the alipay driver takes: app_id, ...)"
 *   "driver_config.app_id: must be a string (found an integer)"
 *   "driver_config.app_id: required by the alipay driver (the open
 *    platform application id)"
 * A schema that is not declared accepts every object. Returns the
 * problem (PR_SCHEMA_OK: none).
 */
enum pr_schema_problem pr_schema_check(const struct pr_schema *s,
				       const char *driver, const json_t *config,
				       const char *path, unsigned flags,
				       char *field, size_t fieldlen, char *err,
				       size_t errlen);

/* Masks, in the object config, the value of every key s declares secret
 * with "********" (nested objects are left alone: keys are top-level). */
void pr_schema_mask(const struct pr_schema *s, json_t *config);

/* The keys as JSON: null when not declared, else an array of {"name",
 * "type", "required", "secret", "default" (string or null),
 * "description"} in the driver's order. A new reference, NULL when out of
 * memory. */
json_t *pr_schema_to_json(const struct pr_schema *s);

#endif
