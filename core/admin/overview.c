/*
 * overview.c - GET /admin/v1/overview (overview.h): what the console's
 * dashboard draws, one answer for every channel.
 *
 * Most of it is memory: the generation's catalogue (state, limits), the
 * usage tracker (today's usage, the routing window's success rate) and
 * the channel figures' minute ring (chanstats.h). One statement reads
 * what only the store knows, the orders waiting for someone: unknown
 * payments and withdrawals (through order_checks, which holds only the
 * open orders, and the tables' primary keys) and overdue refunds (the
 * partial index refunds_overdue_idx); its cost grows with the open
 * orders, not with the tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "base/clock.h"
#include "runtime/log.h"
#include "admin/overview.h"
#include "orders/usage.h"

static const char open_sql[] =
	"SELECT channel, sum(unknown)::bigint, sum(overdue)::bigint FROM ("
	"SELECT p.channel, 1 AS unknown, 0 AS overdue FROM order_checks c "
	"JOIN payments p ON p.id = c.order_id "
	"WHERE c.kind = 'payment' AND p.status = 'unknown' "
	"UNION ALL SELECT w.channel, 1, 0 FROM order_checks c "
	"JOIN withdrawals w ON w.id = c.order_id "
	"WHERE c.kind = 'withdrawal' AND w.status = 'unknown' "
	"UNION ALL SELECT r.channel, 0, 1 FROM refunds r "
	"WHERE r.status = 'overdue') x "
	"WHERE channel IS NOT NULL GROUP BY channel";

struct ov {
	struct pr_request *r;
	int minutes;
};

static json_t *limit_or_null(int64_t v)
{
	return v > 0 ? json_integer(v) : json_null();
}

/* One channel's entry. open: the store's row for it (unknown, overdue),
 * or NULL. */
static json_t *channel_json(struct pr_daemon *d, const struct pr_chan_spec *c,
			    int minutes, int64_t now, int64_t unknown,
			    int64_t overdue)
{
	int64_t amount = 0, count = 0;
	double rate;
	json_t *o, *banks;

	if (d->usage)
		pr_usage_today(d->usage, c->code, c->tz, now, &amount, &count);
	rate = d->usage ? pr_usage_success_rate(d->usage, c->code, now) : -1;
	banks = json_array();
	for (size_t i = 0; banks && i < c->n_banks; i++) {
		int64_t a = 0;

		if (c->banks[i].daily_amount <= 0)
			continue;
		if (d->usage)
			pr_usage_today_scope(d->usage, c->code,
					     c->banks[i].bank_code, c->tz, now,
					     &a, NULL);
		json_array_append_new(
			banks, json_pack("{s:s,s:I,s:I}", "bank_code",
					 c->banks[i].bank_code, "amount",
					 (json_int_t)a, "amount_limit",
					 (json_int_t)c->banks[i].daily_amount));
	}
	o = json_pack(
		"{s:s,s:s,s:s,s:b,s:s?,s:o,s:{s:I,s:o,s:I,s:o,s:o},s:I,s:I,"
		"s:o}",
		"code", c->code, "institution", c->institution, "status",
		c->online ? "online" : "offline", "in_maintenance",
		pr_chan_in_maintenance(c, now), "currency",
		c->currencies.n ? c->currencies.v[0] : NULL,
		"routing_success_rate",
		rate >= 0 ? json_real(rate) : json_null(), "daily", "amount",
		(json_int_t)amount, "amount_limit",
		limit_or_null(c->daily_amount), "count", (json_int_t)count,
		"count_limit", limit_or_null(c->daily_count), "banks",
		banks ? banks : json_array(), "open_unknown",
		(json_int_t)unknown, "overdue_refunds", (json_int_t)overdue,
		"series",
		pr_chanstats_series(d->chanstats, c->code, minutes, now));
	return o;
}

static void on_open(PGresult *res, const char *err, void *arg)
{
	struct ov *ov = arg;
	struct pr_request *r = ov->r;
	const struct pr_catalogue *cat = &r->gen->cat;
	int64_t now = pr_now_ms();
	json_t *arr, *out;
	int minutes = ov->minutes;

	free(ov);
	if (!res) {
		pr_warn("admin: the overview's open orders: %s",
			err ? err : "no answer");
		pr_api_store_unavailable(r);
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < cat->n_chans; i++) {
		const struct pr_chan_spec *c = &cat->chans[i];
		int64_t unknown = 0, overdue = 0;

		for (int j = 0; j < PQntuples(res); j++)
			if (strcmp(PQgetvalue(res, j, 0), c->code) == 0) {
				unknown = strtoll(PQgetvalue(res, j, 1), NULL,
						  10);
				overdue = strtoll(PQgetvalue(res, j, 2), NULL,
						  10);
				break;
			}
		json_array_append_new(arr, channel_json(r->d, c, minutes, now,
							unknown, overdue));
	}
	out = arr ? json_pack("{s:I,s:I,s:i,s:I,s:o}", "generation",
			      (json_int_t)r->gen->id, "now", (json_int_t)now,
			      "minutes", minutes, "step_ms", (json_int_t)60000,
			      "channels", arr) :
		    NULL;
	if (!out) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	pr_request_reply(r, 200, out);
}

void pr_overview_handle(struct pr_request *r, const struct pr_route_match *m)
{
	struct evkeyvalq args;
	const char *v;
	struct ov *ov;
	long n = PR_CS_MINUTES;
	char *end;

	if (pr_api_query_args(r, &args) < 0)
		return;
	if ((v = evhttp_find_header(&args, "minutes"))) {
		n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > PR_CS_MINUTES) {
			evhttp_clear_headers(&args);
			pr_api_reply_err(r, 400, "invalid_field", "minutes",
					 "minutes: an integer from 1 to %d",
					 PR_CS_MINUTES);
			return;
		}
	}
	evhttp_clear_headers(&args);
	ov = calloc(1, sizeof(*ov));
	if (!ov) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	ov->r = r;
	ov->minutes = (int)n;
	if (pr_api_read(r, open_sql, 0, NULL, on_open, ov) < 0) {
		free(ov);
		pr_api_store_unavailable(r);
	}
}
