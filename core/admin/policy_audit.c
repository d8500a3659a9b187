/*
 * policy_audit.c - the audit log through the admin API (GET
 * /admin/v1/audit): the newest entries first, at most limit of them (100
 * by default, 1000 at most), of one kind of object or one object when
 * asked, a page at a time: the answer's next_cursor is the page's oldest
 * id, and cursor=ID asks for the entries before it (keyset, as the order
 * lists: an entry written meanwhile never shifts a page). Every policy write appends its row in its own transaction
 * (policy_write.c), with the actor and note of its request's headers and
 * the before and after images, secrets masked; the admin actions on
 * merchants, notifications and refunds append theirs too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "runtime/log.h"
#include "admin/policy_api.h"

/* The statement asks for one entry more than the page: when it came, the
 * page's oldest id is the next page's cursor. */
static const char audit_list_sql[] =
	"SELECT json_build_object('audit', coalesce(json_agg(json_build_object("
	"'id', a.id, 'at', pr_rfc3339(a.at), 'actor', a.actor, 'action', "
	"a.action, 'object_kind', a.object_kind, 'object_id', a.object_id, "
	"'before', a.before, 'after', a.after, 'note', a.note) ORDER BY a.id "
	"DESC) FILTER (WHERE a.n <= $1::int), '[]'), 'next_cursor', "
	"CASE WHEN count(*) > $1::int THEN (min(a.id) FILTER (WHERE a.n <= "
	"$1::int))::text END)::text FROM (SELECT *, row_number() OVER "
	"(ORDER BY id DESC) AS n FROM (SELECT * FROM audit_log "
	"WHERE ($2::text IS NULL OR object_kind = $2) "
	"AND ($3::text IS NULL OR object_id = $3) "
	"AND ($4::bigint IS NULL OR id < $4) "
	"ORDER BY id DESC LIMIT $1::int + 1) l) a";

static void on_audit(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *page;

	if (!res) {
		pr_api_reply_db_error(r, "policy", "read audit log", err);
		return;
	}
	page = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!page) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "cannot read the audit log");
		return;
	}
	pr_request_reply(r, 200, page);
}

/* GET /admin/v1/audit[?limit=&object_kind=&object_id=&cursor=] */
void pr_policy_audit_get(struct pr_request *r, const struct pr_route_match *m)
{
	struct evkeyvalq args;
	const char *v, *p[4];
	char limit[16] = "100", kind[64], id[128], cursor[24];
	long long before;
	long n;
	char *end;

	if (pr_api_query_args(r, &args) < 0)
		return;
	p[1] = p[2] = p[3] = NULL;
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
	if ((v = evhttp_find_header(&args, "cursor"))) {
		errno = 0;
		before = strtoll(v, &end, 10);
		if (*v < '1' || *v > '9' || *end || errno || before < 1) {
			pr_info("audit: a list refused: cursor %.32s", v);
			evhttp_clear_headers(&args);
			pr_api_reply_err(r, 400, "invalid_field", "cursor",
					 "cursor: not one a page of this list "
					 "gave (next_cursor)");
			return;
		}
		snprintf(cursor, sizeof(cursor), "%lld", before);
		p[3] = cursor;
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
	pr_api_query(r, audit_list_sql, 4, p, on_audit);
}
