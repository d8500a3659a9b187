/*
 * test_drvschema.c - a channel's driver_config checked against the config
 * keys its driver declares (ABI 1.2, core/domain/drvschema.c): one named row per
 * case, each with the config, the flags, and the problem, field and
 * message expected; then masking and the JSON form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "domain/drvschema.h"

#define REQ PAYROUTE_CONFIG_REQUIRED
#define SEC PAYROUTE_CONFIG_SECRET

static struct payroute_config_key keys[] = {
	{ "endpoint", PAYROUTE_CONFIG_STRING, REQ, NULL, "base URL" },
	{ "sign_type", PAYROUTE_CONFIG_STRING, 0, "RSA2", "signature type" },
	{ "app_private_key", PAYROUTE_CONFIG_PEM, REQ | SEC, NULL,
	  "the app key" },
	{ "timeout_s", PAYROUTE_CONFIG_INTEGER, 0, "30", "seconds" },
	{ "sandbox", PAYROUTE_CONFIG_BOOLEAN, 0, "false", "the sandbox" },
};
static const struct pr_schema schema = { 1, keys,
					 sizeof(keys) / sizeof(keys[0]) };
static const struct pr_schema none = { 0, NULL, 0 };

#define OKCONF "\"endpoint\": \"https://gw\", \"app_private_key\": \"@/k.pem\""

struct check_case {
	const char *name;
	const struct pr_schema *schema;
	const char *config; /* JSON */
	const char *path;   /* NULL: "driver_config" */
	unsigned flags;
	enum pr_schema_problem expect;
	const char *field;    /* expected field */
	const char *message;  /* expected message, whole */
	const char *contains; /* or a substring of it */
};

static const struct check_case cases[] = {
	{ "every key, each of its type", &schema,
	  "{" OKCONF ", \"sign_type\": \"RSA2\", \"timeout_s\": 5, "
	  "\"sandbox\": true}",
	  NULL, 0, PR_SCHEMA_OK, NULL, NULL, NULL },
	{ "optional keys may be left out", &schema, "{" OKCONF "}", NULL, 0,
	  PR_SCHEMA_OK, NULL, NULL, NULL },
	{ "a misspelt key is refused, the closest one suggested", &schema,
	  "{" OKCONF ", \"signtype\": \"RSA2\"}", NULL, 0, PR_SCHEMA_UNKNOWN,
	  "driver_config.signtype",
	  "driver_config.signtype: unknown key; did you mean sign_type?",
	  NULL },
	{ "a key close to none: the keys are listed", &schema,
	  "{" OKCONF ", \"merchant\": \"x\"}", NULL, 0, PR_SCHEMA_UNKNOWN,
	  "driver_config.merchant",
	  "driver_config.merchant: unknown key (the test driver takes: "
	  "endpoint, sign_type, app_private_key, timeout_s, sandbox)",
	  NULL },
	{ "unknown keys pass when allowed", &schema,
	  "{" OKCONF ", \"signtype\": \"RSA2\"}", NULL, PR_SCHEMA_ALLOW_UNKNOWN,
	  PR_SCHEMA_OK, NULL, NULL, NULL },
	{ "the path is the caller's", &schema, "{" OKCONF ", \"sandbx\": true}",
	  "channels[2].driver_config", 0, PR_SCHEMA_UNKNOWN,
	  "channels[2].driver_config.sandbx", NULL,
	  "channels[2].driver_config.sandbx: unknown key; did you mean "
	  "sandbox?" },
	{ "a string given as a number", &schema,
	  "{\"endpoint\": 80, \"app_private_key\": \"@/k.pem\"}", NULL, 0,
	  PR_SCHEMA_WRONG_TYPE, "driver_config.endpoint",
	  "driver_config.endpoint: must be a string (found an integer)", NULL },
	{ "an integer given as 1e20", &schema,
	  "{" OKCONF ", \"timeout_s\": 1e20}", NULL, 0, PR_SCHEMA_WRONG_TYPE,
	  "driver_config.timeout_s",
	  "driver_config.timeout_s: must be an integer (found a real number)",
	  NULL },
	{ "a boolean given as a string", &schema,
	  "{" OKCONF ", \"sandbox\": \"true\"}", NULL, 0, PR_SCHEMA_WRONG_TYPE,
	  "driver_config.sandbox",
	  "driver_config.sandbox: must be true or false (found a string)",
	  NULL },
	{ "null is not a value of any type", &schema,
	  "{" OKCONF ", \"sign_type\": null}", NULL, 0, PR_SCHEMA_WRONG_TYPE,
	  "driver_config.sign_type", NULL, "(found null)" },
	{ "a key that is neither PEM nor a path", &schema,
	  "{\"endpoint\": \"https://gw\", \"app_private_key\": \"my key!\"}",
	  NULL, 0, PR_SCHEMA_WRONG_TYPE, "driver_config.app_private_key", NULL,
	  "must be PEM text, a base64 body or \"@/path/to/file\"" },
	{ "\"@\" alone is no path", &schema,
	  "{\"endpoint\": \"https://gw\", \"app_private_key\": \"@\"}", NULL, 0,
	  PR_SCHEMA_WRONG_TYPE, "driver_config.app_private_key", NULL, NULL },
	{ "PEM text is a key", &schema,
	  "{\"endpoint\": \"https://gw\", \"app_private_key\": \"-----BEGIN "
	  "PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n\"}",
	  NULL, 0, PR_SCHEMA_OK, NULL, NULL, NULL },
	{ "a bare base64 body is a key (as Alipay publishes them)", &schema,
	  "{\"endpoint\": \"https://gw\", \"app_private_key\": "
	  "\"MIIEvQIBADANBgkqhkiG9w0B AQEFAASC\"}",
	  NULL, 0, PR_SCHEMA_OK, NULL, NULL, NULL },
	{ "a required key missing", &schema, "{\"endpoint\": \"https://gw\"}",
	  NULL, 0, PR_SCHEMA_MISSING, "driver_config.app_private_key",
	  "driver_config.app_private_key: required by the test driver (the "
	  "app key)",
	  NULL },
	{ "missing keys pass when allowed (offline channels)", &schema, "{}",
	  NULL, PR_SCHEMA_ALLOW_MISSING, PR_SCHEMA_OK, NULL, NULL, NULL },
	{ "types are checked even when missing keys are allowed", &schema,
	  "{\"sandbox\": 1}", NULL, PR_SCHEMA_ALLOW_MISSING,
	  PR_SCHEMA_WRONG_TYPE, "driver_config.sandbox", NULL, NULL },
	{ "an unknown key is named before a wrong type", &schema,
	  "{\"endpoint\": 1, \"xyzzy\": 2}", NULL, 0, PR_SCHEMA_UNKNOWN,
	  "driver_config.xyzzy", NULL, NULL },
	{ "a wrong type is named before a missing key", &schema,
	  "{\"sandbox\": 1}", NULL, 0, PR_SCHEMA_WRONG_TYPE,
	  "driver_config.sandbox", NULL, NULL },
	{ "the config must be an object", &schema, "[1]", NULL, 0,
	  PR_SCHEMA_NOT_OBJECT, "driver_config",
	  "driver_config: must be an object", NULL },
	{ "a driver without keys takes any object", &none,
	  "{\"signtype\": 1, \"anything\": {\"at\": \"all\"}}", NULL, 0,
	  PR_SCHEMA_OK, NULL, NULL, NULL },
	{ "... but still only an object", &none, "\"text\"", NULL, 0,
	  PR_SCHEMA_NOT_OBJECT, "driver_config", NULL, NULL },
};

static void test_check_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct check_case *c = &cases[i];
		char field[160] = "", err[512] = "";
		json_error_t je;
		json_t *conf = json_loads(c->config, JSON_DECODE_ANY, &je);
		enum pr_schema_problem p;

		if (!conf)
			fail_msg("case \"%s\": bad JSON: %s", c->name, je.text);
		p = pr_schema_check(c->schema, "test", conf,
				    c->path ? c->path : "driver_config",
				    c->flags, field, sizeof(field), err,
				    sizeof(err));
		json_decref(conf);
		if (p != c->expect || (c->field && strcmp(field, c->field)) ||
		    (c->message && strcmp(err, c->message)) ||
		    (c->contains && !strstr(err, c->contains)) ||
		    (p != PR_SCHEMA_OK && strncmp(err, field, strlen(field))))
			fail_msg("case \"%s\": problem %d (want %d), field "
				 "\"%s\", err \"%s\"",
				 c->name, (int)p, (int)c->expect, field, err);
	}
}

static void test_mask(void **state)
{
	json_t *c = json_pack("{s:s,s:s,s:s}", "endpoint", "https://gw",
			      "app_private_key", "@/k.pem", "other", "x");

	(void)state;
	pr_schema_mask(&schema, c);
	assert_string_equal(json_string_value(json_object_get(c, "endpoint")),
			    "https://gw");
	assert_string_equal(
		json_string_value(json_object_get(c, "app_private_key")),
		"********");
	assert_string_equal(json_string_value(json_object_get(c, "other")),
			    "x");
	/* a secret that is not set stays absent */
	json_object_del(c, "app_private_key");
	pr_schema_mask(&schema, c);
	assert_null(json_object_get(c, "app_private_key"));
	json_decref(c);
}

static void test_json(void **state)
{
	json_t *j = pr_schema_to_json(&schema), *k;
	char *text;

	(void)state;
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 5);
	k = json_array_get(j, 2);
	text = json_dumps(k, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(text,
			    "{\"default\":null,\"description\":\"the app "
			    "key\",\"name\":\"app_private_key\",\"required\":"
			    "true,\"secret\":true,\"type\":\"pem\"}");
	free(text);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(j, 3), "default")),
			    "30");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(j, 4), "type")),
			    "boolean");
	json_decref(j);
	j = pr_schema_to_json(&none);
	assert_true(json_is_null(j));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
