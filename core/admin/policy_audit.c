/*
 * policy_audit.c - the audit log through the admin API (GET
 * /admin/v1/audit): the newest entries first, at most limit of them (100
 * by default, 1000 at most), of one kind of object or one object when
 * asked. Every policy write appends its row in its own transaction
 * (policy_write.c), with the actor and note of its request's headers and
 * the before and after images, secrets masked; the admin actions on
 * merchants, notifications and refunds append theirs too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "admin/policy_api.h"

static const char audit_list_sql[] =
	"SELECT coalesce(json_agg(json_build_object('id', a.id, 'at', "
	"pr_rfc3339(a.at), 'actor', a.actor, 'action', a.action, "
	"'object_kind', a.object_kind, 'object_id', a.object_id, 'before', "
	"a.before, 'after', a.after, 'note', a.note) ORDER BY a.id DESC), "
	"'[]')::text FROM (SELECT * FROM audit_log "
	"WHERE ($2::text IS NULL OR object_kind = $2) "
	"AND ($3::text IS NULL OR object_id = $3) "
	"ORDER BY id DESC LIMIT $1::int) a";

static void on_audit(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *arr;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "read audit log", err);
		return;
	}
	arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!arr) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the audit log");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "audit", arr));
}

/* GET /admin/v1/audit[?limit=&object_kind=&object_id=] */
void pr_policy_audit_get(struct pr_request *r, const struct pr_route_match *m)
{
	struct evkeyvalq args;
	const char *v, *p[3];
	char limit[16] = "100", kind[64], id[128];
	long n;
	char *end;

	if (pr_api_query_args(r, &args) < 0)
		return;
	p[1] = p[2] = NULL;
	if ((v = evhttp_find_header(&args, "limit"))) {
		n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > 1000) {
			evhttp_clear_headers(&args);
			pr_api_reply_err(r, 400, "invalid_field", "limit",
					 "limit: an integer from 1 to 1000");
			return;
		}
		snprintf(limit, sizeof(limit), "%ld", n);
	}
	if ((v = evhttp_find_header(&args, "object_kind")) && *v) {
		snprintf(kind, sizeof(kind), "%s", v);
		p[1] = kind;
	}
	if ((v = evhttp_find_header(&args, "object_id")) && *v) {
		snprintf(id, sizeof(id), "%s", v);
		p[2] = id;
	}
	evhttp_clear_headers(&args);
	p[0] = limit;
	pr_api_query(r, audit_list_sql, 3, p, on_audit);
}
