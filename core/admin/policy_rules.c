/*
 * policy_rules.c - the routing rules of the policy through the admin API:
 * read the list, and replace it whole (PUT /admin/v1/routing/rules) by a
 * policy write (policy_write.h). The order of the list is the order the
 * router tries the rules in, the first that matches applying (doc/design.md
 * §4); each rule is checked by the parser the generation uses
 * (pr_rule_parse), and the channels its allow and deny lists name must
 * exist. The import (policy_transfer.c) checks a document's rules with
 * pr_policy_rules_check.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/apiutil.h"
#include "domain/catalogue.h"
#include "admin/policy_api.h"

#define MAX_RULES 1000

static const char rules_list_sql[] =
	"SELECT coalesce(json_agg(rule ORDER BY position), '[]')::text "
	"FROM routing_rules_api";

/* 1 when code is in the JSON array of strings codes. */
int pr_policy_has_code(json_t *codes, const char *code)
{
	size_t i;
	json_t *v;

	json_array_foreach(codes, i, v) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), code) == 0)
			return 1;
	}
	return 0;
}

static int rule_channels_ok(struct pr_pw *w, size_t idx, json_t *rule,
			    const char *list, json_t *codes)
{
	json_t *arr = json_object_get(rule, list), *v;
	char field[64];
	size_t i;

	json_array_foreach(arr, i, v) {
		const char *code = json_string_value(v);

		if (code && !pr_policy_has_code(codes, code)) {
			snprintf(field, sizeof(field), "rules[%zu].%s[%zu]",
				 idx, list, i);
			return pr_pw_fail(w, 400, "invalid_field", field,
					  "%s: no channel named %s", field,
					  code);
		}
	}
	return 0;
}

/* Checks the rules given (a JSON array, in order) as PUT
 * /admin/v1/routing/rules does: each parsed by pr_rule_parse (ids are the
 * store's and ignored; positions come from the order), its allow and deny
 * lists naming channels of codes (a JSON array of strings). Fields are
 * named "rules[I]...". On success *norm is the normalised list, without
 * ids (a new reference). Returns 0, or -1 after pr_pw_fail. */
int pr_policy_rules_check(struct pr_pw *w, json_t *given, json_t *codes,
			  json_t **norm)
{
	char prefix[48], err[512];
	json_t *v;
	size_t i;

	*norm = NULL;
	if (!json_is_array(given))
		return pr_pw_fail(w, 400, "invalid_field", "rules",
				  "rules: required, an array (in order: the "
				  "first rule that matches applies)");
	if (json_array_size(given) > MAX_RULES)
		return pr_pw_fail(w, 400, "invalid_field", "rules",
				  "rules: at most %d rules", MAX_RULES);
	*norm = json_array();
	if (!*norm)
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
	json_array_foreach(given, i, v) {
		struct pr_rule rule;
		json_t *copy, *one;

		snprintf(prefix, sizeof(prefix), "rules[%zu].", i);
		if (!json_is_object(v)) {
			prefix[strlen(prefix) - 1] = '\0';
			pr_pw_fail(w, 400, "invalid_field", prefix,
				   "%s: a rule is an object", prefix);
			goto fail;
		}
		copy = json_deep_copy(v);
		if (!copy) {
			pr_pw_fail(w, 500, "internal", NULL, "out of memory");
			goto fail;
		}
		json_object_del(copy, "id");
		memset(&rule, 0, sizeof(rule));
		err[0] = '\0';
		if (pr_rule_parse(copy, &rule, err, sizeof(err)) < 0) {
			json_decref(copy);
			pr_rule_clear(&rule);
			pr_pw_invalid(w, prefix, err);
			goto fail;
		}
		json_decref(copy);
		one = pr_rule_to_json(&rule);
		pr_rule_clear(&rule);
		if (!one) {
			pr_pw_fail(w, 500, "internal", NULL, "out of memory");
			goto fail;
		}
		json_object_del(one, "id");
		json_array_append_new(*norm, one);
		if (rule_channels_ok(w, i, one, "allow", codes) < 0 ||
		    rule_channels_ok(w, i, one, "deny", codes) < 0)
			goto fail;
	}
	return 0;
fail:
	json_decref(*norm);
	*norm = NULL;
	return -1;
}

static int rules_prepare(struct pr_pw *w, PGresult *res)
{
	json_t *codes, *norm = NULL, *v;
	const char *k;
	int rc = -1;

	json_object_foreach(w->body, k, v) {
		if (strcmp(k, "rules") != 0)
			return pr_pw_fail(w, 400, "invalid_field", k,
					  "%s: unknown key (the body is "
					  "{\"rules\": [...]})",
					  k);
	}
	w->audit_before = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	codes = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	if (!codes)
		return pr_pw_fail(w, 500, "internal", NULL, "out of memory");
	if (pr_policy_rules_check(w, json_object_get(w->body, "rules"), codes,
				  &norm) < 0)
		goto out;
	w->write_sql = "SELECT routing_rules_replace($1::jsonb)";
	if (pr_pw_param_json(w, norm) < 0) {
		pr_pw_fail(w, 500, "internal", NULL, "out of memory");
		goto out;
	}
	w->status = 200;
	rc = 0;
out:
	json_decref(codes);
	json_decref(norm);
	return rc;
}

static void rules_finish(struct pr_pw *w, json_t *channels, json_t *rules)
{
	(void)channels;
	json_decref(w->audit_after);
	w->audit_after = json_incref(rules);
	w->reply = json_pack("{s:O}", "rules", rules);
}

static const struct pr_pw_ops rules_ops = {
	.action = "replace",
	.kind = "routing_rules",
	.before_sql =
		"SELECT (SELECT coalesce(json_agg(rule ORDER BY position), "
		"'[]')::text FROM routing_rules_api), "
		"(SELECT coalesce(json_agg(code), '[]')::text FROM channels) "
		"WHERE $1::text IS NOT NULL",
	.prepare = rules_prepare,
	.finish = rules_finish,
	.verify_status = 400,
};

static void on_rules(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "list rules", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the rules");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "rules", arr));
}

/* GET /admin/v1/routing/rules */
void pr_policy_rules_get(struct pr_request *r, const struct pr_route_match *m)
{
	pr_api_query(r, rules_list_sql, 0, NULL, on_rules);
}

/* PUT /admin/v1/routing/rules */
void pr_policy_rules_put(struct pr_request *r, const struct pr_route_match *m)
{
	json_t *body = pr_api_read_body(r);

	if (body)
		pr_pw_start(r, &rules_ops, "rules", body);
}
