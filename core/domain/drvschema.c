/*
 * drvschema.c - a driver's config keys (ABI 1.2): reading and checking the
 * table a driver declares, checking a channel's driver_config against it,
 * masking its secrets and describing it as JSON (see drvschema.h).
 *
 * The loader reads the table once per module (loader.c); the generation,
 * the admin API's channel writes and `payrouted -t` check configs with it;
 * the admin API masks and lists it. A driver that declares nothing (built
 * for ABI 1.0 or 1.1) is left to its own init, as before 1.2.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/drvschema.h"
#include "base/names.h"

#define MASKED "********"
#define KNOWN_FLAGS (PAYROUTE_CONFIG_REQUIRED | PAYROUTE_CONFIG_SECRET)
#define KEY_NAME_MAX 64

static int valid_key_name(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n >= 1 && n <= KEY_NAME_MAX;
}

const char *pr_schema_type_name(enum payroute_config_type type)
{
	switch (type) {
	case PAYROUTE_CONFIG_STRING:
		return "string";
	case PAYROUTE_CONFIG_INTEGER:
		return "integer";
	case PAYROUTE_CONFIG_BOOLEAN:
		return "boolean";
	case PAYROUTE_CONFIG_PEM:
		return "pem";
	}
	return "?";
}

/* An integer in decimal that fits int64_t: [-]digits. */
static int is_int_text(const char *s)
{
	char *end;

	if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
		return 0;
	errno = 0;
	(void)strtoimax(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static int is_b64_or_space(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=' ||
	       c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* What key_load and the x509 services take: "@/path", PEM text, or a bare
 * base64 body. */
static int is_pem_text(const char *s)
{
	if (s[0] == '@')
		return s[1] != '\0';
	if (strstr(s, "-----BEGIN "))
		return 1;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!is_b64_or_space(*s))
			return 0;
	return 1;
}

/* Checks one row; err names it by index and name. */
static int check_row(const struct payroute_config_key *k, size_t i,
		     const struct payroute_config_key *rows, char *err,
		     size_t errlen)
{
	const char *name = k->name && valid_key_name(k->name) ? k->name : "?";

	if (!valid_key_name(k->name)) {
		snprintf(err, errlen,
			 "config key #%zu: invalid name: expected "
			 "[a-z0-9_]{1,%d}, found \"%.64s\"",
			 i, KEY_NAME_MAX, k->name ? k->name : "(null)");
		return -ENOEXEC;
	}
	for (size_t j = 0; j < i; j++) {
		if (strcmp(rows[j].name, k->name) == 0) {
			snprintf(err, errlen,
				 "config key #%zu: %s is declared twice", i,
				 name);
			return -ENOEXEC;
		}
	}
	if (strcmp(pr_schema_type_name(k->type), "?") == 0) {
		snprintf(err, errlen,
			 "config key %s: unknown type %d (expected 1 string, 2 "
			 "integer, 3 boolean or 4 pem)",
			 name, (int)k->type);
		return -ENOEXEC;
	}
	if (k->flags & ~KNOWN_FLAGS) {
		snprintf(err, errlen,
			 "config key %s: unknown flags 0x%x (expected "
			 "PAYROUTE_CONFIG_REQUIRED and PAYROUTE_CONFIG_SECRET)",
			 name, (unsigned)(k->flags & ~KNOWN_FLAGS));
		return -ENOEXEC;
	}
	if (!k->description || !*k->description ||
	    strpbrk(k->description, "\r\n")) {
		snprintf(err, errlen,
			 "config key %s: expected a one-line description",
			 name);
		return -ENOEXEC;
	}
	if (!k->default_value)
		return 0;
	if (k->flags & PAYROUTE_CONFIG_REQUIRED) {
		snprintf(err, errlen,
			 "config key %s: a required key has no default", name);
		return -ENOEXEC;
	}
	if ((k->type == PAYROUTE_CONFIG_INTEGER &&
	     !is_int_text(k->default_value)) ||
	    (k->type == PAYROUTE_CONFIG_BOOLEAN &&
	     strcmp(k->default_value, "true") != 0 &&
	     strcmp(k->default_value, "false") != 0) ||
	    (k->type == PAYROUTE_CONFIG_PEM &&
	     !is_pem_text(k->default_value))) {
		snprintf(err, errlen,
			 "config key %s: default \"%.64s\" is not a valid %s",
			 name, k->default_value, pr_schema_type_name(k->type));
		return -ENOEXEC;
	}
	return 0;
}

int pr_schema_load(const struct payroute_driver *d, struct pr_schema *out,
		   char *err, size_t errlen)
{
	const struct payroute_config_key *rows;
	struct payroute_config_key *keys;
	size_t n = 0, es = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!PAYROUTE_HAS_CONFIG_KEYS(d))
		return 0;
	rows = d->config_keys(&n, &es);
	if (!rows || n == 0)
		return 0;
	if (es < sizeof(struct payroute_config_key)) {
		snprintf(err, errlen,
			 "config keys: rows of %zu bytes, expected at least "
			 "%zu (ABI 1.2)",
			 es, sizeof(struct payroute_config_key));
		return -ENOEXEC;
	}
	if (n > PR_SCHEMA_MAX_KEYS) {
		snprintf(err, errlen,
			 "config keys: %zu rows, at most %d expected", n,
			 PR_SCHEMA_MAX_KEYS);
		return -ENOEXEC;
	}
	keys = calloc(n, sizeof(*keys));
	if (!keys) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Rows of a larger (later) layout: read the 1.2 part of each. */
	for (size_t i = 0; i < n; i++)
		memcpy(&keys[i], (const char *)rows + i * es, sizeof(keys[i]));
	for (size_t i = 0; i < n; i++) {
		rc = check_row(&keys[i], i, keys, err, errlen);
		if (rc < 0) {
			free(keys);
			return rc;
		}
	}
	out->declared = 1;
	out->keys = keys;
	out->n = n;
	return 0;
}

void pr_schema_clear(struct pr_schema *s)
{
	if (!s)
		return;
	free(s->keys);
	memset(s, 0, sizeof(*s));
}

const struct payroute_config_key *pr_schema_find(const struct pr_schema *s,
						 const char *name)
{
	for (size_t i = 0; s && name && i < s->n; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return &s->keys[i];
	return NULL;
}

/* "a string", "an integer"... for a JSON value, in messages. */
static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

/* 1 when v fits the key's type; *want says what was expected. */
static int type_ok(const struct payroute_config_key *k, const json_t *v,
		   const char **want)
{
	switch (k->type) {
	case PAYROUTE_CONFIG_STRING:
		*want = "a string";
		return json_is_string(v);
	case PAYROUTE_CONFIG_INTEGER:
		*want = "an integer";
		return json_is_integer(v);
	case PAYROUTE_CONFIG_BOOLEAN:
		*want = "true or false";
		return json_is_boolean(v);
	case PAYROUTE_CONFIG_PEM:
		*want = "PEM text, a base64 body or \"@/path/to/file\"";
		return json_is_string(v) && is_pem_text(json_string_value(v));
	}
	*want = "?";
	return 0;
}

/* Lists the declared keys, "a, b, c", cut to fit. */
static void key_list(const struct pr_schema *s, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && used < len; i++) {
		n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
			     s->keys[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

enum pr_schema_problem pr_schema_check(const struct pr_schema *s,
				       const char *driver, const json_t *config,
				       const char *path, unsigned flags,
				       char *field, size_t fieldlen, char *err,
				       size_t errlen)
{
	const struct payroute_config_key *k;
	const char *key, *want;
	struct pr_suggest sg;
	char keys[384];
	json_t *v;

	if (!json_is_object(config)) {
		snprintf(field, fieldlen, "%s", path);
		snprintf(err, errlen, "%s: must be an object", path);
		return PR_SCHEMA_NOT_OBJECT;
	}
	if (!s || !s->declared)
		return PR_SCHEMA_OK;
	if (!(flags & PR_SCHEMA_ALLOW_UNKNOWN)) {
		json_object_foreach((json_t *)config, key, v) {
			if (pr_schema_find(s, key))
				continue;
			snprintf(field, fieldlen, "%s.%s", path, key);
			pr_suggest_init(&sg, key, 2);
			for (size_t i = 0; i < s->n; i++)
				pr_suggest_offer(&sg, s->keys[i].name);
			if (sg.best) {
				snprintf(err, errlen,
					 "%s: unknown key; did you mean %s?",
					 field, sg.best);
			} else {
				key_list(s, keys, sizeof(keys));
				snprintf(
					err, errlen,
					"%s: unknown key (the %s driver takes: "
					"%s)",
					field, driver, keys);
			}
			return PR_SCHEMA_UNKNOWN;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		k = &s->keys[i];
		v = json_object_get(config, k->name);
		if (!v || type_ok(k, v, &want))
			continue;
		snprintf(field, fieldlen, "%s.%s", path, k->name);
		snprintf(err, errlen, "%s: must be %s (found %s)", field, want,
			 json_kind(v));
		return PR_SCHEMA_WRONG_TYPE;
	}
	if (flags & PR_SCHEMA_ALLOW_MISSING)
		return PR_SCHEMA_OK;
	for (size_t i = 0; i < s->n; i++) {
		k = &s->keys[i];
		if (!(k->flags & PAYROUTE_CONFIG_REQUIRED) ||
		    json_object_get(config, k->name))
			continue;
		snprintf(field, fieldlen, "%s.%s", path, k->name);
		snprintf(err, errlen, "%s: required by the %s driver (%s)",
			 field, driver, k->description);
		return PR_SCHEMA_MISSING;
	}
	return PR_SCHEMA_OK;
}

void pr_schema_mask(const struct pr_schema *s, json_t *config)
{
	if (!s || !json_is_object(config))
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (!(s->keys[i].flags & PAYROUTE_CONFIG_SECRET))
			continue;
		if (json_object_get(config, s->keys[i].name))
			json_object_set_new(config, s->keys[i].name,
					    json_string(MASKED));
	}
}

json_t *pr_schema_to_json(const struct pr_schema *s)
{
	json_t *arr, *row;

	if (!s || !s->declared)
		return json_null();
	arr = json_array();
	for (size_t i = 0; arr && i < s->n; i++) {
		const struct payroute_config_key *k = &s->keys[i];

		row = json_pack(
			"{s:s,s:s,s:b,s:b,s:s?,s:s}", "name", k->name, "type",
			pr_schema_type_name(k->type), "required",
			(k->flags & PAYROUTE_CONFIG_REQUIRED) != 0, "secret",
			(k->flags & PAYROUTE_CONFIG_SECRET) != 0, "default",
			k->default_value, "description", k->description);
		if (!row || json_array_append_new(arr, row) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}
