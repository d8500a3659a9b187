/*
 * recon_api.c - the operators' side of reconciliation (doc/design.md §9;
 * the job is recon.c, the store's side migration 010):
 *
 *   GET  /admin/v1/reconciliation[?channel=C]
 *        the latest runs (100, newest first) with their counts and totals,
 *        and per channel the fee learnt from the last 30 days of bills
 *        next to its fee model, flagged when it drifts more than
 *        reconciliation.fee_drift_pct;
 *   GET  /admin/v1/reconciliation?channel=C&day=D[&status=open]
 *        one day: the run, its counts and totals, its fees, and its
 *        differences (up to 1000) with both sides;
 *   POST /admin/v1/reconciliation/runs {"channel", "day"}
 *        runs a day (again) now; audited;
 *   POST /admin/v1/reconciliation/differences/{id}/resolve {"note"}
 *        an operator settles a difference; audited (pr_api_actor).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/apiutil.h"
#include "runtime/log.h"
#include "admin/recon_api.h"
#include "base/route.h"

#define RUN_JSON(r, c)                                                         \
	"jsonb_build_object('channel', " r ".channel, 'day', " r ".day, "      \
	"'status', " r ".status, 'attempts', " r ".attempts, 'runs', " r       \
	".runs, 'error', " r ".error, 'no_bill', " r ".no_bill, "              \
	"'started_at', " r ".started_at, 'finished_at', " r ".finished_at, "   \
	"'bill', jsonb_build_object('rows', " r ".bill_rows, 'amount', " r     \
	".bill_amount, 'fee', " r ".bill_fee), "                               \
	"'matched', jsonb_build_object('count', " r ".matched, 'amount', " r   \
	".matched_amount), 'open_differences', " r ".differences, "            \
	"'fees', jsonb_build_object('amount', " r ".fee_amount, 'billed', " r  \
	".fee_billed, 'expected', " r ".fee_expected, 'learnt_bps', "          \
	"CASE WHEN " r ".fee_amount > 0 THEN round(" r ".fee_billed * "        \
	"10000.0 / " r ".fee_amount, 2) END, 'configured', "                   \
	"jsonb_build_object('rate_bps', " c ".fee_rate_bps, 'fixed', " c       \
	".fee_fixed, 'min', " c ".fee_min, 'max', " c ".fee_max), "            \
	"'drift_pct', CASE WHEN " r ".fee_expected > 0 THEN round((" r         \
	".fee_billed - " r ".fee_expected) * 100.0 / " r ".fee_expected, 2) "  \
	"END, 'drift', CASE WHEN " r ".fee_expected > 0 THEN abs(" r           \
	".fee_billed - " r ".fee_expected) * 100 > $3::int * " r               \
	".fee_expected ELSE " r ".fee_billed <> 0 END))"

static const char day_sql[] = "SELECT (" RUN_JSON(
	"r",
	"c") " || jsonb_build_object("
	     "'differences', (SELECT coalesce(jsonb_agg(jsonb_build_object("
	     "'id', d.id, 'kind', d.kind, 'order_kind', d.order_kind, "
	     "'ref', d.ref, 'order_id', d.order_id, 'status', d.status, "
	     "'amount', d.amount, 'ours', d.ours, 'theirs', d.theirs, "
	     "'check_scheduled', d.check_scheduled, "
	     "'resolution_note', d.resolution_note, 'resolved_by', d.resolved_by, "
	     "'resolved_at', d.resolved_at, 'created_at', d.created_at, "
	     "'updated_at', d.updated_at) ORDER BY d.id), '[]') "
	     "FROM (SELECT * FROM recon_differences x WHERE x.channel = r.channel "
	     "AND x.day = r.day AND ($4 = '' OR x.status = $4) ORDER BY x.id "
	     "LIMIT 1000) d), "
	     "'totals', (SELECT jsonb_build_object("
	     "'open', count(*) FILTER (WHERE status = 'open'), "
	     "'open_amount', coalesce(sum(amount) FILTER (WHERE status = 'open'), "
	     "0), 'resolved', count(*) FILTER (WHERE status = 'resolved'), "
	     "'cleared', count(*) FILTER (WHERE status = 'cleared')) "
	     "FROM recon_differences x WHERE x.channel = r.channel "
	     "AND x.day = r.day)))::text "
	     "FROM recon_runs r JOIN channels c ON c.code = r.channel "
	     "WHERE r.channel = $1 AND r.day = $2::date";

static const char list_sql[] =
	"SELECT jsonb_build_object('runs', (SELECT coalesce(jsonb_agg(j "
	"ORDER BY day DESC, channel), '[]') FROM (SELECT r.day, r.channel, " RUN_JSON(
		"r",
		"c") " AS j FROM recon_runs r JOIN channels c "
		     "ON c.code = r.channel WHERE ($1 = '' OR r.channel = $1) "
		     "ORDER BY r.day DESC, r.channel LIMIT 100) x), "
		     "'fees', (SELECT coalesce(jsonb_agg(to_jsonb(f) ORDER BY f.channel), "
		     "'[]') FROM pr_recon_fees(30, $3::int) f "
		     "WHERE ($1 = '' OR f.channel = $1)), 'drift_pct_threshold', $3::int, "
		     "'day', $2::text)::text";

static void on_json(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *j;

	if (!res) {
		pr_api_reply_db_error(r, "reconciliation", "read", err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no reconciliation of that channel and day");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "bad JSON from the store");
		return;
	}
	pr_request_reply(r, 200, j);
}

static int code_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int day_ok(const char *s)
{
	int y, m, d, n = 0;

	return sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 &&
	       s[n] == '\0' && y >= 2000 && m >= 1 && m <= 12 && d >= 1 &&
	       d <= 31;
}

/* GET /admin/v1/reconciliation */
void pr_recon_get(struct pr_request *r, const struct pr_route_match *m)
{
	char channel[80], day[16], status[16], pct[16];
	const char *p[4];

	(void)m;
	pr_api_query_param(r, "channel", channel, sizeof(channel));
	pr_api_query_param(r, "day", day, sizeof(day));
	pr_api_query_param(r, "status", status, sizeof(status));
	if (channel[0] && !code_ok(channel)) {
		pr_api_reply_field(r, "channel", "channel: a channel code");
		return;
	}
	if (day[0] && !day_ok(day)) {
		pr_api_reply_field(r, "day", "day: YYYY-MM-DD");
		return;
	}
	if (day[0] && !channel[0]) {
		pr_api_reply_field(r, "channel", "channel: required with day");
		return;
	}
	if (status[0] && strcmp(status, "open") != 0 &&
	    strcmp(status, "resolved") != 0 && strcmp(status, "cleared") != 0) {
		pr_api_reply_field(r, "status",
				   "status: open, resolved or cleared");
		return;
	}
	snprintf(pct, sizeof(pct), "%d",
		 r->d->gen->config->recon_fee_drift_pct);
	p[0] = channel;
	p[1] = day;
	p[2] = pct;
	p[3] = status;
	pr_api_query(r, day[0] ? day_sql : list_sql, day[0] ? 4 : 3, p,
		     on_json);
}

/* ------------------------------------------------------------- runs */

static const char request_sql[] =
	"WITH c AS (SELECT code FROM channels WHERE code = $1), "
	"q AS (SELECT pr_recon_request($1, $2::date) FROM c), "
	"a AS (INSERT INTO audit_log (actor, action, object_kind, object_id, "
	"after, note) SELECT $3, 'run', 'reconciliation', $1 || '/' || $2, "
	"jsonb_build_object('channel', $1, 'day', $2), $4 FROM c) "
	"SELECT (SELECT count(*) FROM q)";

static void on_requested(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;

	if (!res) {
		pr_api_reply_db_error(r, "reconciliation", "request run", err);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		pr_api_reply_err(r, 404, "not_found", "channel",
				 "no such channel");
		return;
	}
	pr_request_reply(r, 202, json_pack("{s:s}", "status", "pending"));
}

/* POST /admin/v1/reconciliation/runs {"channel", "day"} */
void pr_recon_run(struct pr_request *r, const struct pr_route_match *m)
{
	const char *actor, *note, *channel, *day, *p[4];
	json_t *body;

	(void)m;
	if (pr_api_audit_headers(r, &actor, &note) < 0)
		return;
	body = pr_api_read_body(r);
	if (!body)
		return;
	channel = json_string_value(json_object_get(body, "channel"));
	day = json_string_value(json_object_get(body, "day"));
	if (!channel || !code_ok(channel)) {
		pr_api_reply_field(r, "channel", "channel: a channel code");
	} else if (!day || !day_ok(day)) {
		pr_api_reply_field(r, "day", "day: YYYY-MM-DD");
	} else {
		pr_info("reconciliation: %s %s asked for by %s", channel, day,
			actor ? actor : "admin");
		p[0] = channel;
		p[1] = day;
		p[2] = actor ? actor : "admin";
		p[3] = note;
		pr_api_query(r, request_sql, 4, p, on_requested);
	}
	json_decref(body);
}

/* ------------------------------------------------------------- resolve */

static const char resolve_sql[] =
	"WITH o AS (SELECT * FROM recon_differences WHERE id = $1::bigint "
	"FOR UPDATE), "
	"u AS (UPDATE recon_differences d SET status = 'resolved', "
	"resolution_note = $3, resolved_by = $2, resolved_at = now(), "
	"updated_at = now() FROM o WHERE d.id = o.id AND o.status <> "
	"'resolved' RETURNING d.*), "
	"a AS (INSERT INTO audit_log (actor, action, object_kind, object_id, "
	"before, after, note) SELECT $2, 'resolve', 'recon_difference', "
	"u.id::text, (SELECT to_jsonb(o) FROM o), to_jsonb(u), $3 FROM u) "
	"SELECT (SELECT status FROM o), "
	"(SELECT to_jsonb(u)::text FROM u)";

static void on_resolved(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_t *j;

	if (!res) {
		pr_api_reply_db_error(r, "reconciliation", "resolve difference",
				      err);
		return;
	}
	if (PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such difference");
		return;
	}
	if (PQgetisnull(res, 0, 1)) {
		pr_api_reply_err(r, 409, "already_resolved", NULL,
				 "this difference is resolved already");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "bad JSON from the store");
		return;
	}
	pr_info("reconciliation: difference %" JSON_INTEGER_FORMAT
		" (%s %s) resolved by %s",
		json_integer_value(json_object_get(j, "id")),
		json_string_value(json_object_get(j, "kind")),
		json_string_value(json_object_get(j, "ref")),
		json_string_value(json_object_get(j, "resolved_by")));
	pr_request_reply(r, 200, j);
}

/* POST /admin/v1/reconciliation/differences/{id}/resolve {"note"} */
void pr_recon_resolve(struct pr_request *r, const struct pr_route_match *m)
{
	const char *actor, *hnote, *note, *p[3];
	json_t *body;

	if (pr_api_audit_headers(r, &actor, &hnote) < 0)
		return;
	body = pr_api_read_body(r);
	if (!body)
		return;
	note = json_string_value(json_object_get(body, "note"));
	if (!note || !*note || !pr_api_text_ok(note, PR_API_MAX_NOTE)) {
		pr_api_reply_field(r, "note",
				   "note: required, 1 to %d characters (what "
				   "was found, for the audit)",
				   PR_API_MAX_NOTE);
	} else {
		p[0] = pr_route_param(m, "id");
		p[1] = actor ? actor : "admin";
		p[2] = note;
		pr_api_query(r, resolve_sql, 3, p, on_resolved);
	}
	json_decref(body);
}
