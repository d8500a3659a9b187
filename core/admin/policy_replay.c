/*
 * policy_replay.c - a draft routing policy replayed over the stored
 * payments (or withdrawals) of a time range (doc/design.md §4, "Replay"),
 * as a job of this instance.
 *
 * POST /admin/v1/policy/replay {"policy": a policy document (the export's
 * format, policy_io.h), "from", "to" (RFC 3339, at most
 * PR_REPLAY_MAX_DAYS apart), "kind" ("payments", the default, or
 * "withdrawals"), "sample" (changed orders shown, 0 to 100)} checks
 * the draft as an import checks it, without the drivers (nothing is
 * sent: a driver's config does not matter) and without the code
 * overrides (routing does not read them), builds its catalogue, and answers 202 {"id", "status": "running"} once
 * the job's first statement is on its way. GET
 * /admin/v1/policy/replay/{id} answers its progress, then its result
 * (replay.h) or its error.
 *
 * The job, on the loop, never blocking it:
 *   1. one statement counts the range's orders by channel and outcome:
 *      the success rates of the period (both sides score with them) and
 *      the total, for progress;
 *   2. then the orders in (created_at, id) order, PR_REPLAY_BATCH a
 *      statement, by keyset on the index payments_created_idx
 *      (withdrawals_created_idx; migration 009): each statement continues after the last row of the one
 *      before. The next statement is sent before a batch is routed, so
 *      the store reads the next batch while the loop routes this one;
 *      routing costs the loop about a microsecond a payment, so
 *      about 11 ms a batch (contrib/bench/bench_replay.sh prints the
 *      daemon's CPU per payment): batches of 10,000 halve the
 *      statements' count (a million payments on a loaded 2-core
 *      machine: 12.1 s with 5,000, 7.7 s with 10,000) and keep the
 *      loop's pause short.
 * The active side is the catalogue of the generation active when the
 * job started (the job holds a reference to it until it ends): the
 * policy now in force, which is the one that was active over the range
 * unless the policy changed inside it. "recorded_differs" counts the
 * orders whose stored channel is not the active side's choice (a
 * cascade, a policy change, usage that differed), so a large figure says
 * the baseline is not what happened.
 *
 * Jobs live in this instance's memory: at most PR_REPLAY_RUNNING run at
 * once (429 beyond), PR_REPLAY_KEEP are kept (the oldest finished one
 * goes first), a restart forgets them, and another instance does not
 * know them (404). Reads only: a replay writes nothing to the store.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/policy_api.h"
#include "admin/policy_replay.h"
#include "admin/policy_write.h"
#include "base/clock.h"
#include "domain/catalogue.h"
#include "domain/policy_io.h"
#include "domain/replay.h"
#include "domain/tz.h"
#include "orders/ordstore.h"
#include "runtime/apiutil.h"
#include "runtime/db.h"
#include "runtime/generation.h"
#include "runtime/log.h"

#define REPLAY_STR2(x) #x
#define REPLAY_STR(x) REPLAY_STR2(x)

enum job_state { JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct job {
	struct job *next;
	int64_t id;
	enum job_state state;
	struct pr_daemon *d;
	struct pr_generation *gen; /* the active side; while running */
	struct pr_catalogue draft; /* while running */
	struct pr_replay *rp;	   /* while running */
	char from[40], to[40];	   /* RFC 3339, as given */
	char cursor_at[64];	   /* created_at of the last row read */
	char cursor_id[64];
	struct pr_replay_opts opts;
	const struct kind *kind;
	int inflight;  /* a statement of the job is on its way */
	int64_t total; /* payments in the range when the job started */
	int64_t batches;
	int64_t started_ms, finished_ms, started_us, elapsed_us;
	json_t *result; /* when done */
	char err[256];	/* when failed */
};

/* This instance's jobs, newest first. */
static struct job *jobs;
static int64_t last_id;

#define RATES_SQL(table)                                                       \
	"SELECT channel, count(*) FILTER (WHERE status = 'succeeded'), "       \
	"count(*) FILTER (WHERE status = 'failed'), count(*) "                 \
	"FROM " table " WHERE created_at >= $1::timestamptz "                  \
	"AND created_at < $2::timestamptz GROUP BY channel"

/* The columns are the route request of pr_payreq (payments.c's
 * pay_route_req and flow.c) as the order keeps them. The cursor's text
 * has its own name: ORDER BY created_at would sort by the text column
 * of that name (all the rest of the range, every batch) instead of
 * walking the index. */
#define BATCH_SQL(table, request)                                              \
	"SELECT id, created_at::text AS cursor_at, "                           \
	"floor(extract(epoch FROM created_at) * 1000)::bigint, merchant_id, "  \
	"amount, currency, method, " request ", channel "                      \
	"FROM " table " WHERE created_at >= $3::timestamptz "                  \
	"AND created_at < $2::timestamptz AND created_at >= $1::timestamptz "  \
	"AND (created_at, id) > ($3::timestamptz, $4::text) "                  \
	"ORDER BY " table ".created_at, " table ".id "                         \
	"LIMIT " REPLAY_STR(PR_REPLAY_BATCH)

/* What a kind of order replays with. A withdrawal routes by its method
 * and the payee's bank (withdrawals.c's wd_route_req); its card's HMAC
 * is not stored, so a card whitelist entry never matches one here. */
struct kind {
	const char *name;
	unsigned business;
	const char *rates_sql, *batch_sql;
};

static const struct kind kinds[] = {
	{ "payments", PR_BIZ_PAY, RATES_SQL("payments"),
	  BATCH_SQL("payments", "environment, product_code, buyer_id, "
				"seller_id, card_hmac, bank_code") },
	{ "withdrawals", PR_BIZ_WITHDRAW, RATES_SQL("withdrawals"),
	  BATCH_SQL("withdrawals", "NULL, NULL, NULL, NULL, NULL, "
				   "payee_bank_code") },
};

/* ------------------------------------------------------------ the jobs */

static void job_release(struct job *j)
{
	pr_replay_free(j->rp);
	j->rp = NULL;
	pr_catalogue_clear(&j->draft);
	if (j->gen) {
		pr_gen_unref(j->gen);
		j->gen = NULL;
	}
}

static void job_free(struct job *j)
{
	job_release(j);
	json_decref(j->result);
	free(j);
}

static size_t jobs_running(void)
{
	size_t n = 0;

	for (struct job *j = jobs; j; j = j->next)
		n += j->state == JOB_RUNNING;
	return n;
}

/* Drops the oldest finished jobs beyond PR_REPLAY_KEEP - 1, to make room
 * for one more. */
static void jobs_trim(void)
{
	struct job **pp, *oldest;
	size_t n;

	for (;;) {
		n = 0;
		oldest = NULL;
		for (struct job *j = jobs; j; j = j->next) {
			n++;
			if (j->state != JOB_RUNNING && !j->inflight)
				oldest = j;
		}
		if (n < PR_REPLAY_KEEP || !oldest)
			return;
		for (pp = &jobs; *pp != oldest; pp = &(*pp)->next)
			;
		*pp = oldest->next;
		job_free(oldest);
	}
}

static struct job *job_find(int64_t id)
{
	for (struct job *j = jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

static void job_fail(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void job_fail(struct job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->err, sizeof(j->err), fmt, ap);
	va_end(ap);
	j->state = JOB_FAILED;
	j->finished_ms = pr_now_ms();
	j->elapsed_us = pr_mono_us() - j->started_us;
	pr_warn("policy replay %" PRId64 ": failed: %s", j->id, j->err);
	job_release(j);
}

static void job_done(struct job *j)
{
	j->result = pr_replay_json(j->rp);
	if (!j->result) {
		job_fail(j, "out of memory building the result");
		return;
	}
	j->state = JOB_DONE;
	j->finished_ms = pr_now_ms();
	j->elapsed_us = pr_mono_us() - j->started_us;
	pr_info("policy replay %" PRId64 ": %zu %s from %s to %s in "
		"%.3f s, %" JSON_INTEGER_FORMAT " would move",
		j->id, pr_replay_count(j->rp), j->kind->name, j->from, j->to,
		(double)j->elapsed_us / 1e6,
		json_integer_value(json_object_get(j->result, "changed")));
	job_release(j);
}

/* -------------------------------------------------------------- the run */

static void on_batch(PGresult *res, const char *err, void *arg);

static int next_batch(struct job *j)
{
	const char *p[4] = { j->from, j->to, j->cursor_at, j->cursor_id };
	int rc;

	rc = pr_db_query_timeout(j->d->db, j->kind->batch_sql, 4, p, 60000,
				 on_batch, j);
	if (rc == 0)
		j->inflight = 1;
	return rc;
}

static const char *col(PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

static void on_batch(PGresult *res, const char *err, void *arg)
{
	struct job *j = arg;
	struct pr_replay_order o;
	int n, row, more, rc;

	j->inflight = 0;
	if (j->state != JOB_RUNNING) /* failed while this was on its way */
		return;
	if (!res) {
		job_fail(j, "reading payments failed: %s", err);
		return;
	}
	n = PQntuples(res);
	j->batches++;
	more = n == PR_REPLAY_BATCH;
	if (more) {
		snprintf(j->cursor_at, sizeof(j->cursor_at), "%s",
			 PQgetvalue(res, n - 1, 1));
		snprintf(j->cursor_id, sizeof(j->cursor_id), "%s",
			 PQgetvalue(res, n - 1, 0));
		/* the store reads the next batch while this one is routed */
		if (next_batch(j) < 0) {
			job_fail(j, "the store (PostgreSQL) is unavailable");
			return;
		}
	}
	for (row = 0; row < n; row++) {
		memset(&o, 0, sizeof(o));
		o.id = PQgetvalue(res, row, 0);
		o.req.business = j->kind->business;
		o.req.now_ms = strtoll(PQgetvalue(res, row, 2), NULL, 10);
		o.req.merchant = col(res, row, 3);
		o.req.amount = strtoll(PQgetvalue(res, row, 4), NULL, 10);
		o.req.currency = col(res, row, 5);
		o.req.method = col(res, row, 6);
		o.req.environment = col(res, row, 7);
		o.req.product_code = col(res, row, 8);
		o.req.buyer_id = col(res, row, 9);
		o.req.seller_id = col(res, row, 10);
		o.req.card_hmac = col(res, row, 11);
		o.req.bank_code = col(res, row, 12);
		o.recorded = col(res, row, 13);
		rc = pr_replay_add(j->rp, &o);
		if (rc == -ENOMEM) {
			/* the next statement's answer finds the job failed */
			job_fail(j, "out of memory");
			return;
		}
	}
	if (!more)
		job_done(j);
}

static void on_rates(PGresult *res, const char *err, void *arg)
{
	struct job *j = arg;
	struct pr_replay_rate *rates = NULL;
	int n, i, rc;

	j->inflight = 0;
	if (!res) {
		job_fail(j, "counting payments failed: %s", err);
		return;
	}
	n = PQntuples(res);
	rates = calloc((size_t)n + 1, sizeof(*rates));
	if (!rates) {
		job_fail(j, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		rates[i].channel = col(res, i, 0);
		rates[i].succeeded = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		rates[i].failed = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		j->total += strtoll(PQgetvalue(res, i, 3), NULL, 10);
		if (!rates[i].channel) /* never routed: no rate */
			rates[i].succeeded = rates[i].failed = 0;
	}
	rc = pr_replay_new(&j->gen->cat, &j->draft, rates, (size_t)n, &j->opts,
			   &j->rp);
	free(rates);
	if (rc < 0) {
		job_fail(j, "cannot start: %s", strerror(-rc));
		return;
	}
	if (next_batch(j) < 0)
		job_fail(j, "the store (PostgreSQL) is unavailable");
}

/* ------------------------------------------------------------ the draft */

/* Answers 400 invalid_field naming field, and logs what was refused. */
static void refuse(struct pr_request *r, const char *field, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

static void refuse(struct pr_request *r, const char *field, const char *fmt,
		   ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_info("policy replay: refused (%s): %s", field ? field : "-", msg);
	pr_api_reply_err(r, 400, "invalid_field", field, "%s", msg);
}

/* A parser's message err ("limits.txn_max: must be ...") about the
 * element prefix ("policy.channels[2].") refused with its full field. */
static void refuse_parsed(struct pr_request *r, const char *prefix,
			  const char *err)
{
	char f[256], full[400];
	size_t n;

	pr_policy_err_field(err, f, sizeof(f));
	snprintf(full, sizeof(full), "%s%s", prefix, f);
	n = strlen(full);
	if (!f[0] && n && full[n - 1] == '.')
		full[n - 1] = '\0';
	refuse(r, full, "%s%s", prefix, err);
}

/* The draft's whitelist as the catalogue takes it (stored entries: a
 * card by its HMAC). A card entry exported without its number names the
 * active policy's entry by id and takes its HMAC. Returns a new array, or
 * NULL after answering. */
static json_t *draft_whitelist(struct pr_request *r, json_t *given,
			       json_t *codes)
{
	const struct pr_catalogue *cat = &r->gen->cat;
	json_t *out = json_array(), *e, *copy, *one;
	struct pr_policy_refusal f;
	struct pr_policy_wl_in in;
	char prefix[64], field[96];
	const char *value;
	size_t i, k;

	if (!out)
		goto oom;
	json_array_foreach(given, i, e) {
		snprintf(prefix, sizeof(prefix), "policy.whitelist[%zu].", i);
		copy = json_deep_copy(e); /* the check wipes a card number */
		if (!copy || pr_policy_wl_check(r->gen->config, copy, prefix, 1,
						&in, &f) < 0) {
			json_decref(copy);
			if (!copy) {
				pr_policy_wl_in_clear(&in);
				goto oom;
			}
			pr_policy_wl_in_clear(&in);
			pr_info("policy replay: refused (%s): %s",
				f.field[0] ? f.field : "-", f.msg);
			pr_api_reply_err(r, f.status, f.code,
					 f.field[0] ? f.field : NULL, "%s",
					 f.msg);
			json_decref(out);
			return NULL;
		}
		if (!pr_policy_has_code(codes, in.channel)) {
			snprintf(field, sizeof(field), "%schannel", prefix);
			refuse(r, field, "%s: no channel named %s in the draft",
			       field, in.channel);
			goto refused;
		}
		value = in.value;
		for (k = 0; !value && k < cat->n_wl; k++)
			if (cat->wl[k].id == (int64_t)in.id &&
			    cat->wl[k].kind == PR_WL_CARD)
				value = cat->wl[k].value;
		if (!value) {
			snprintf(field, sizeof(field), "%sid", prefix);
			refuse(r, field,
			       "%s: the active policy has no card entry %" JSON_INTEGER_FORMAT
			       " (give the card number in value)",
			       field, in.id);
			goto refused;
		}
		one = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s?}", "id",
				(json_int_t)(in.id > 0 ? in.id : 0), "kind",
				in.kind, "value", value, "channel", in.channel,
				"note", in.note ? in.note : "", "expires_at",
				in.expires);
		json_decref(copy);
		pr_policy_wl_in_clear(&in);
		if (!one || json_array_append_new(out, one) < 0)
			goto oom;
		continue;
refused:
		json_decref(copy);
		pr_policy_wl_in_clear(&in);
		json_decref(out);
		return NULL;
	}
	return out;
oom:
	json_decref(out);
	pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
	return NULL;
}

/* Checks the draft (a policy document) and builds its catalogue into
 * cat. Returns 0, or -1 after answering. */
static int draft_build(struct pr_request *r, json_t *doc,
		       struct pr_catalogue *cat)
{
	json_t *chans, *rules, *codes = json_array(), *wl = NULL, *v;
	char field[128], err[768], prefix[64], full[200];
	struct pr_chan_spec spec;
	struct pr_rule rule;
	size_t i;
	int rc = -1;

	if (!codes) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return -1;
	}
	if (!json_is_object(doc)) {
		refuse(r, "policy",
		       "policy: required, a policy document (GET "
		       "/admin/v1/policy)");
		goto out;
	}
	if (pr_policy_doc_check(doc, field, sizeof(field), err, sizeof(err)) <
	    0) {
		snprintf(full, sizeof(full), "policy%s%s", field[0] ? "." : "",
			 field);
		refuse(r, full, "policy.%s", err);
		goto out;
	}
	chans = json_object_get(doc, "channels");
	json_array_foreach(chans, i, v) {
		snprintf(prefix, sizeof(prefix), "policy.channels[%zu].", i);
		memset(&spec, 0, sizeof(spec));
		if (pr_chan_parse(v, &spec, err, sizeof(err)) < 0) {
			pr_chan_clear(&spec);
			refuse_parsed(r, prefix, err);
			goto out;
		}
		if (pr_policy_has_code(codes, spec.code)) {
			snprintf(full, sizeof(full), "%scode", prefix);
			refuse(r, full, "%s: channel %s is in the draft twice",
			       full, spec.code);
			pr_chan_clear(&spec);
			goto out;
		}
		json_array_append_new(codes, json_string(spec.code));
		pr_chan_clear(&spec);
	}
	rules = json_object_get(doc, "rules");
	json_array_foreach(rules, i, v) {
		snprintf(prefix, sizeof(prefix), "policy.rules[%zu].", i);
		memset(&rule, 0, sizeof(rule));
		if (pr_rule_parse(v, &rule, err, sizeof(err)) < 0) {
			pr_rule_clear(&rule);
			refuse_parsed(r, prefix, err);
			goto out;
		}
		for (size_t k = 0; k < rule.allow.n + rule.deny.n; k++) {
			const char *c = k < rule.allow.n ?
						rule.allow.v[k] :
						rule.deny.v[k - rule.allow.n];

			if (pr_policy_has_code(codes, c))
				continue;
			snprintf(full, sizeof(full), "%s%s", prefix,
				 k < rule.allow.n ? "allow" : "deny");
			refuse(r, full, "%s: no channel named %s in the draft",
			       full, c);
			pr_rule_clear(&rule);
			goto out;
		}
		pr_rule_clear(&rule);
	}
	wl = draft_whitelist(r, json_object_get(doc, "whitelist"), codes);
	if (!wl)
		goto out;
	memset(cat, 0, sizeof(*cat));
	if (pr_catalogue_build(cat, chans, wl, rules, err, sizeof(err)) < 0) {
		pr_catalogue_clear(cat);
		refuse(r, "policy", "policy: %s", err);
		goto out;
	}
	rc = 0;
out:
	json_decref(codes);
	json_decref(wl);
	return rc;
}

/* --------------------------------------------------------------- the API */

/* UTC milliseconds as the statements take them. */
static void utc_text(int64_t ms, char *out, size_t len)
{
	int64_t day = ms / 86400000 - (ms % 86400000 < 0), y;
	int64_t in = ms - day * 86400000;
	int m, d;

	pr_civil_from_days(day, &y, &m, &d);
	snprintf(out, len, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (long long)y, m, d, (int)(in / 3600000),
		 (int)(in / 60000 % 60), (int)(in / 1000 % 60),
		 (int)(in % 1000));
}

/* body's time field name: 0 with *ms set, or -1 after answering. */
static int body_time(struct pr_request *r, json_t *body, const char *name,
		     int64_t *ms)
{
	const char *s = json_string_value(json_object_get(body, name));

	if (!s || pr_parse_rfc3339(s, ms) < 0) {
		refuse(r, name, "%s: required, an RFC 3339 time from 1970 on",
		       name);
		return -1;
	}
	return 0;
}

static json_t *job_json(const struct job *j)
{
	int64_t us = j->state == JOB_RUNNING ? pr_mono_us() - j->started_us :
					       j->elapsed_us;
	int64_t done = j->rp ? (int64_t)pr_replay_count(j->rp) :
		       j->result ?
			       json_integer_value(
				       json_object_get(j->result, "orders")) +
				       json_integer_value(json_object_get(
					       j->result, "skipped")) :
			       0;
	static const char *const names[] = { "running", "done", "failed" };

	return json_pack(
		"{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:{s:I,s:I,s:I},s:I,s:o,s:O?,s:o}",
		"id", (json_int_t)j->id, "status", names[j->state], "kind",
		j->kind->name, "from", j->from, "to", j->to, "started_at",
		pr_json_time(j->started_ms), "finished_at",
		j->finished_ms ? pr_json_time(j->finished_ms) : json_null(),
		"progress", "orders", (json_int_t)done, "total",
		(json_int_t)j->total, "batches", (json_int_t)j->batches,
		"elapsed_ms", (json_int_t)(us / 1000), "orders_per_second",
		j->state == JOB_DONE && us > 0 ?
			json_integer(
				(json_int_t)((double)done * 1e6 / (double)us)) :
			json_null(),
		"result", j->result, "error",
		j->state == JOB_FAILED ? json_string(j->err) : json_null());
}

/* POST /admin/v1/policy/replay */
void pr_policy_replay_start(struct pr_request *r,
			    const struct pr_route_match *m)
{
	static const char *const keys[] = { "policy", "from", "to",
					    "sample", "kind", NULL };
	struct pr_replay_opts opts = { 20, 5, 256, 1000 };
	const struct kind *kind = &kinds[0];
	const char *k;
	json_t *body, *v;
	struct job *j = NULL;
	int64_t from, to;
	const char *p[2];
	size_t i;

	(void)m;
	if (!(body = pr_api_read_body(r)))
		return;
	json_object_foreach(body, k, v) {
		for (i = 0; keys[i] && strcmp(keys[i], k); i++)
			;
		if (!keys[i]) {
			refuse(r, k,
			       "%s: unknown field (policy, from, to, sample, kind)",
			       k);
			goto out;
		}
	}
	if (body_time(r, body, "from", &from) < 0 ||
	    body_time(r, body, "to", &to) < 0)
		goto out;
	if (to <= from) {
		refuse(r, "to", "to: must be after from");
		goto out;
	}
	if (to - from > (int64_t)PR_REPLAY_MAX_DAYS * 86400000) {
		refuse(r, "to",
		       "to: the range is at most %d days (replay it in parts)",
		       PR_REPLAY_MAX_DAYS);
		goto out;
	}
	v = json_object_get(body, "sample");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
		  json_integer_value(v) > 100)) {
		refuse(r, "sample",
		       "sample: changed orders shown with both traces, 0 to "
		       "100");
		goto out;
	}
	if (v)
		opts.sample_max = (size_t)json_integer_value(v);
	v = json_object_get(body, "kind");
	if (v) {
		kind = NULL;
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), kinds[i].name) == 0)
				kind = &kinds[i];
		if (!kind) {
			refuse(r, "kind", "kind: payments or withdrawals");
			goto out;
		}
	}
	if (jobs_running() >= PR_REPLAY_RUNNING) {
		pr_info("policy replay: refused: %d replays running",
			PR_REPLAY_RUNNING);
		pr_api_reply_err(r, 429, "too_many_replays", NULL,
				 "%d replays are running on this instance; "
				 "wait for one to finish",
				 PR_REPLAY_RUNNING);
		goto out;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if (draft_build(r, json_object_get(body, "policy"), &j->draft) < 0) {
		free(j);
		goto out;
	}
	j->d = r->d;
	j->opts = opts;
	j->kind = kind;
	j->gen = pr_gen_ref(r->gen);
	j->started_ms = pr_now_ms();
	j->started_us = pr_mono_us();
	j->id = j->started_ms > last_id ? j->started_ms : last_id + 1;
	utc_text(from, j->from, sizeof(j->from));
	utc_text(to, j->to, sizeof(j->to));
	snprintf(j->cursor_at, sizeof(j->cursor_at), "%s", j->from);
	j->cursor_id[0] = '\0';
	p[0] = j->from;
	p[1] = j->to;
	if (pr_db_query_timeout(r->d->db, j->kind->rates_sql, 2, p, 60000,
				on_rates, j) < 0) {
		job_free(j);
		pr_api_store_unavailable(r);
		goto out;
	}
	j->inflight = 1;
	last_id = j->id;
	jobs_trim();
	j->next = jobs;
	jobs = j;
	pr_info("policy replay %" PRId64 ": started, %s from %s to %s", j->id,
		j->kind->name, j->from, j->to);
	pr_request_reply(r, 202, job_json(j));
out:
	json_decref(body);
}

/* GET /admin/v1/policy/replay/{id} */
void pr_policy_replay_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");
	struct job *j = id ? job_find(strtoll(id, NULL, 10)) : NULL;

	if (!j) {
		pr_api_reply_err(r, 404, "not_found", "id",
				 "no replay %s on this instance (a replay is "
				 "kept by the instance that runs it, until "
				 "it restarts)",
				 id ? id : "");
		return;
	}
	pr_request_reply(r, 200, job_json(j));
}
