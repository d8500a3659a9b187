/*
 * recon.c - the daily reconciliation job (recon.h).
 *
 * Every reconciliation.interval_ms an instance with no run in progress
 * makes the runs that are due exist (pr_recon_schedule: yesterday's, for
 * the channels of its generation whose driver reads bills, once their
 * local time is past reconciliation.bill_time) and claims one
 * (pr_recon_claim). A run then goes, each step a callback on the loop:
 *
 *   forget the day's stored rows (a re-run replaces them), and the
 *   channel's rows older than reconciliation.keep_days
 *   for each part of the bill (0, 1, ... until the driver has no more):
 *       fetch it through the driver (billfetch.c) into a temporary file
 *       open the driver's reader on it
 *       read chunk_rows rows, store them in one statement, repeat
 *   pr_recon_match: the store compares and finishes the run
 *
 * and renews its lease on the way. Anything that goes wrong fails the
 * attempt (pr_recon_fail: due again after reconciliation.retry_seconds, or
 * left for an operator after reconciliation.max_attempts). A channel that
 * has no bill for the day (-ENOENT) is matched with no rows: what
 * succeeded here is then missing at the channel.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "runtime/billfetch.h"
#include "base/clock.h"
#include "runtime/log.h"
#include "orders/recon.h"

struct run;

struct pr_recon {
	struct pr_daemon *d;
	struct event *timer;
	struct event *metrics_timer;
	int querying; /* the metrics query is in flight */
	char metrics[8192];
	size_t metrics_len;
	int busy; /* scheduling, claiming or running */
	int dead; /* freed by the daemon; the run in progress frees it */
	struct run *run;
	struct pr_recon_stats st;
};

struct run {
	struct pr_recon *r;
	struct pr_generation *gen; /* referenced while the run lasts */
	const struct pr_channel *ch;
	char channel[72];
	char day[16];
	int attempts;
	unsigned part;
	int no_bill;
	int fd;
	void *cursor;
	struct payroute_bill_req breq;
	struct payroute_bill_file file;
	int part_done;
	struct pr_recon_buf buf;
	uint64_t rows;
	int64_t started_ms, renewed_ms;
};

static void on_tick(evutil_socket_t fd, short what, void *arg);

static void arm(struct pr_recon *r)
{
	int ms = r->d->gen->config->recon_interval_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (r->timer)
		evtimer_add(r->timer, &tv);
}

/* ------------------------------------------------------------- rows */

static int buf_add(struct pr_recon_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* A JSON string of the NUL-terminated field f (at most max bytes). */
static int buf_str(struct pr_recon_buf *b, const char *f, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strnlen(f, max), start = 0;
	char esc[8];
	int rc = buf_add(b, "\"", 1);

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)f[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = buf_add(b, f + start, i - start);
		esc[0] = '\\';
		esc[1] = 'u';
		esc[2] = '0';
		esc[3] = '0';
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		if (rc == 0)
			rc = buf_add(b, esc, 6);
		start = i + 1;
	}
	if (rc == 0)
		rc = buf_add(b, f + start, n - start);
	return rc == 0 ? buf_add(b, "\"", 1) : rc;
}

static const char *effect_name(enum payroute_effect e)
{
	switch (e) {
	case PAYROUTE_EFFECT_SUCCESS:
		return "success";
	case PAYROUTE_EFFECT_FAILED:
		return "failed";
	case PAYROUTE_EFFECT_CLOSED:
		return "closed";
	case PAYROUTE_EFFECT_PROCESSING:
		return "processing";
	default:
		return "unknown";
	}
}

static int valid_utf8(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strnlen(s, max), i = 0;

	while (i < n) {
		size_t k = p[i] < 0x80		 ? 0 :
			   (p[i] & 0xe0) == 0xc0 ? 1 :
			   (p[i] & 0xf0) == 0xe0 ? 2 :
			   (p[i] & 0xf8) == 0xf0 ? 3 :
						   9;

		if (k == 9 || (k > 0 && i + k >= n))
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

int pr_recon_row_json(struct pr_recon_buf *b,
		      const struct payroute_bill_row *row, char *err,
		      size_t errlen)
{
	const char *kind = row->kind == PAYROUTE_KIND_PAYMENT ? "payment" :
			   row->kind == PAYROUTE_KIND_REFUND  ? "refund" :
			   row->kind == PAYROUTE_KIND_PAYOUT  ? "payout" :
								NULL;
	const char *fields[] = { row->order_id, row->refund_id,
				 row->channel_trade_no, row->status };
	char num[160];
	int n, rc;

	if (!kind || row->amount <= 0 || !row->order_id[0] ||
	    strnlen(row->order_id, sizeof(row->order_id)) ==
		    sizeof(row->order_id) ||
	    row->line == 0 || row->currency[0] < 'A' ||
	    row->currency[0] > 'Z' || row->currency[1] < 'A' ||
	    row->currency[1] > 'Z' || row->currency[2] < 'A' ||
	    row->currency[2] > 'Z' || row->currency[3] != '\0' ||
	    (row->kind == PAYROUTE_KIND_REFUND && !row->refund_id[0])) {
		snprintf(err, errlen,
			 "bill line %" PRIu64 ": a row without kind, order "
			 "id, positive amount or currency",
			 row->line);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!valid_utf8(fields[i], PAYROUTE_ID_LEN)) {
			snprintf(err, errlen,
				 "bill line %" PRIu64 ": text that is not "
				 "UTF-8",
				 row->line);
			return -EINVAL;
		}
	n = snprintf(num, sizeof(num),
		     "%s{\"l\":%" PRIu64 ",\"k\":\"%s\",\"o\":",
		     b->rows ? "," : "[", row->line, kind);
	rc = buf_add(b, num, (size_t)n);
	if (rc == 0)
		rc = buf_str(b, row->order_id, sizeof(row->order_id));
	if (rc == 0)
		rc = buf_add(b, ",\"r\":", 5);
	if (rc == 0)
		rc = buf_str(b, row->refund_id, sizeof(row->refund_id));
	if (rc == 0)
		rc = buf_add(b, ",\"t\":", 5);
	if (rc == 0)
		rc = buf_str(b, row->channel_trade_no,
			     sizeof(row->channel_trade_no));
	if (rc == 0)
		rc = buf_add(b, ",\"s\":", 5);
	if (rc == 0)
		rc = buf_str(b, row->status, sizeof(row->status));
	if (rc == 0) {
		n = snprintf(num, sizeof(num),
			     ",\"a\":%" PRId64 ",\"f\":%" PRId64
			     ",\"c\":\"%.3s\",\"e\":\"%s\",\"m\":%" PRId64 "}",
			     row->amount, row->fee, row->currency,
			     effect_name(row->effect), row->at_ms);
		rc = buf_add(b, num, (size_t)n);
	}
	if (rc == 0)
		b->rows++;
	return rc;
}

/* ------------------------------------------------------------- ends */

static void run_free(struct run *u)
{
	struct pr_recon *r = u->r;

	if (u->cursor)
		u->ch->mod->desc->bill_close(u->cursor);
	if (u->fd >= 0)
		close(u->fd);
	free(u->buf.p);
	pr_gen_unref(u->gen);
	free(u);
	r->run = NULL;
	r->busy = 0;
	r->st.running = 0;
	if (r->dead && !r->querying)
		free(r);
}

static void on_ended(PGresult *res, const char *err, void *arg)
{
	struct run *u = arg;

	if (!res)
		pr_warn("reconciliation: %s %s: recording the failure failed: "
			"%s (the run comes due again when its lease ends)",
			u->channel, u->day, err);
	run_free(u);
}

static void run_fail(struct run *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Fails this attempt: logged, recorded, due again later (or never). */
static void run_fail(struct run *u, const char *fmt, ...)
{
	static const char sql[] =
		"SELECT pr_recon_fail($1, $2::date, $3, $4, $5::int)";
	const struct pr_config *cfg = u->gen->config;
	char why[600], retry[16];
	const char *p[5];
	va_list ap;
	int last = u->attempts >= cfg->recon_max_attempts;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	u->r->st.runs_failed++;
	pr_warn("reconciliation: %s %s: attempt %d failed: %s%s", u->channel,
		u->day, u->attempts, why,
		last ? " (no more attempts: an operator runs it again)" : "");
	snprintf(retry, sizeof(retry), "%d", cfg->recon_retry_s);
	p[0] = u->channel;
	p[1] = u->day;
	p[2] = cfg->instance;
	p[3] = why;
	p[4] = last ? NULL : retry;
	if (u->r->dead || pr_db_query(u->r->d->db, sql, 5, p, on_ended, u) < 0)
		run_free(u);
}

static void on_matched(PGresult *res, const char *err, void *arg)
{
	struct run *u = arg;

	if (!res) {
		run_fail(u, "matching failed: %s", err);
		return;
	}
	if (PQntuples(res) == 1) {
		u->r->st.runs_done++;
		u->r->st.checks += strtoull(PQgetvalue(res, 0, 3), NULL, 10);
		pr_info("reconciliation: %s %s: %s rows%s, %s matched, open "
			"differences %s, %s orders checked now, %s cleared "
			"(%" PRId64 " ms)",
			u->channel, u->day, PQgetvalue(res, 0, 0),
			u->no_bill ? " (no bill)" : "", PQgetvalue(res, 0, 1),
			PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
			PQgetvalue(res, 0, 4), pr_now_ms() - u->started_ms);
	}
	run_free(u);
}

static void match(struct run *u)
{
	static const char sql[] =
		"SELECT r_rows, r_matched, r_differences::text, r_checks, "
		"r_cleared FROM pr_recon_match($1, $2::date, $3, $4::boolean)";
	const char *p[4] = { u->channel, u->day, u->gen->config->instance,
			     u->no_bill ? "true" : "false" };

	pr_info("reconciliation: %s %s: %" PRIu64 " rows read and stored "
		"(%" PRId64 " ms); matching",
		u->channel, u->day, u->rows, pr_now_ms() - u->started_ms);

	/* over a large bill the match runs longer than an ordinary
	 * statement may: it has the run's lease */
	if (u->r->dead || pr_db_query_bg(u->r->d->db, sql, 4, p,
					 u->gen->config->recon_lease_s * 1000,
					 on_matched, u) < 0)
		run_fail(u, "the store is unavailable");
}

/* ------------------------------------------------------------- parts */

static void fetch_part(struct run *u);
static void read_chunk(struct run *u);

static void on_renewed(PGresult *res, const char *err, void *arg)
{
	struct run *u = arg;

	if (!res) {
		run_fail(u, "renewing the lease failed: %s", err);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		pr_warn("reconciliation: %s %s: the run is no longer ours "
			"(lease lost); stopping",
			u->channel, u->day);
		run_free(u);
		return;
	}
	u->renewed_ms = pr_now_ms();
	read_chunk(u);
}

/* Goes on after a stored chunk: the next part, or more of this one
 * (renewing the lease when a third of it has passed). */
static void next_step(struct run *u)
{
	const struct pr_config *cfg = u->gen->config;
	char lease[16];
	const char *p[4];

	if (u->part_done) {
		u->ch->mod->desc->bill_close(u->cursor);
		u->cursor = NULL;
		close(u->fd);
		u->fd = -1;
		u->part++;
		fetch_part(u);
		return;
	}
	if (pr_now_ms() - u->renewed_ms < (int64_t)cfg->recon_lease_s * 333) {
		read_chunk(u);
		return;
	}
	snprintf(lease, sizeof(lease), "%d", cfg->recon_lease_s);
	p[0] = u->channel;
	p[1] = u->day;
	p[2] = cfg->instance;
	p[3] = lease;
	if (u->r->dead ||
	    pr_db_query(u->r->d->db,
			"SELECT pr_recon_renew($1, $2::date, $3, $4::int)", 4,
			p, on_renewed, u) < 0)
		run_fail(u, "the store is unavailable");
}

static void on_stored(PGresult *res, const char *err, void *arg)
{
	struct run *u = arg;

	if (!res) {
		run_fail(u, "storing bill rows failed: %s", err);
		return;
	}
	next_step(u);
}

/* Reads up to chunk_rows rows and stores them (or goes on when there were
 * none). */
static void read_chunk(struct run *u)
{
	static const char sql[] =
		"INSERT INTO recon_bill_rows (channel, day, part, line, kind, "
		"order_id, refund_id, channel_trade_no, amount, fee, currency, "
		"status, effect, at) "
		"SELECT $1, $2::date, $3::int, x.l, x.k, x.o, x.r, x.t, x.a, "
		"x.f, x.c, x.s, x.e, to_timestamp(x.m / 1000.0) "
		"FROM json_to_recordset($4::json) AS x(l bigint, k text, "
		"o text, r text, t text, a bigint, f bigint, c text, s text, "
		"e text, m bigint)";
	const struct payroute_driver *drv = u->ch->mod->desc;
	int max = u->gen->config->recon_chunk_rows, rc = 0;
	struct payroute_bill_row row;
	char err[512] = "", part[16];
	const char *p[4];

	if (u->r->dead) {
		run_free(u);
		return;
	}
	u->buf.len = 0;
	u->buf.rows = 0;
	for (int i = 0; i < max; i++) {
		memset(&row, 0, sizeof(row));
		row.size = sizeof(row);
		rc = drv->bill_next(u->cursor, &row, err, sizeof(err));
		if (rc != 1)
			break;
		row.order_id[sizeof(row.order_id) - 1] = '\0';
		row.refund_id[sizeof(row.refund_id) - 1] = '\0';
		row.channel_trade_no[sizeof(row.channel_trade_no) - 1] = '\0';
		row.status[sizeof(row.status) - 1] = '\0';
		if (pr_recon_row_json(&u->buf, &row, err, sizeof(err)) < 0) {
			rc = -EINVAL;
			break;
		}
	}
	if (rc < 0) {
		run_fail(u, "part %u: %s", u->part,
			 err[0] ? err : strerror(-rc));
		return;
	}
	if (rc == 0)
		u->part_done = 1;
	if (u->buf.rows == 0) {
		next_step(u);
		return;
	}
	if (buf_add(&u->buf, "]", 1) < 0) {
		run_fail(u, "out of memory");
		return;
	}
	u->rows += u->buf.rows;
	u->r->st.rows += u->buf.rows;
	snprintf(part, sizeof(part), "%u", u->part);
	p[0] = u->channel;
	p[1] = u->day;
	p[2] = part;
	p[3] = u->buf.p;
	if (pr_db_query(u->r->d->db, sql, 4, p, on_stored, u) < 0)
		run_fail(u, "the store is unavailable");
}

static void on_fetched(int rc, int fd, const struct payroute_bill_file *file,
		       const char *err, void *arg)
{
	struct run *u = arg;
	const struct payroute_driver *drv = u->ch->mod->desc;
	char oerr[512] = "";

	if (u->r->dead) {
		if (fd >= 0)
			close(fd);
		run_free(u);
		return;
	}
	if (rc == -ENODATA || (rc == -ENOENT && u->part == 0)) {
		if (rc == -ENOENT) {
			u->no_bill = 1;
			pr_info("reconciliation: %s %s: the channel has no "
				"bill (%s)",
				u->channel, u->day, err);
		}
		match(u);
		return;
	}
	if (rc < 0) {
		run_fail(u, "part %u: %s", u->part, err);
		return;
	}
	u->fd = fd;
	u->file = *file;
	u->part_done = 0;
	u->breq.part = u->part;
	rc = drv->bill_open(u->ch->state, &u->breq, &u->file, u->fd, &u->cursor,
			    oerr, sizeof(oerr));
	if (rc < 0) {
		u->cursor = NULL;
		run_fail(u, "part %u: the driver cannot read the bill: %s",
			 u->part, oerr[0] ? oerr : strerror(-rc));
		return;
	}
	read_chunk(u);
}

static void fetch_part(struct run *u)
{
	const struct pr_config *cfg = u->gen->config;
	struct pr_billfetch_req f = { 0 };
	int rc;

	f.base = u->r->d->base;
	f.httpc = u->r->d->httpc;
	f.drv = u->ch->mod->desc;
	f.state = u->ch->state;
	f.channel = u->channel;
	f.day = u->day;
	f.part = u->part;
	f.tmpdir = cfg->recon_tmpdir;
	f.max_bytes = (uint64_t)cfg->recon_max_bill_mb << 20;
	rc = u->part > 64 ? -E2BIG : pr_billfetch_start(&f, on_fetched, u);
	if (rc < 0)
		run_fail(u, "cannot fetch part %u: %s", u->part, strerror(-rc));
}

static void on_forgotten(PGresult *res, const char *err, void *arg)
{
	struct run *u = arg;

	if (!res) {
		run_fail(u, "forgetting the day's rows failed: %s", err);
		return;
	}
	fetch_part(u);
}

/* ------------------------------------------------------------- tick */

static void start_run(struct pr_recon *r, const char *channel, const char *day,
		      int attempts)
{
	struct run *u = calloc(1, sizeof(*u));
	char keep[16];
	const char *p[3];

	if (!u) {
		r->busy = 0;
		return;
	}
	u->r = r;
	u->fd = -1;
	u->gen = pr_gen_ref(r->d->gen);
	snprintf(u->channel, sizeof(u->channel), "%s", channel);
	snprintf(u->day, sizeof(u->day), "%s", day);
	u->attempts = attempts;
	u->breq.size = sizeof(u->breq);
	u->breq.day = u->day;
	u->started_ms = u->renewed_ms = pr_now_ms();
	r->run = u;
	r->st.running = 1;
	u->ch = pr_gen_channel(u->gen, channel);
	if (!u->ch || !u->ch->mod || !u->ch->state ||
	    !PAYROUTE_HAS_BILLS(u->ch->mod->desc)) {
		const struct pr_channel *ch = u->ch;

		u->ch = NULL;
		run_fail(u, "%s",
			 !ch	    ? "no such channel in this generation" :
			 !ch->mod   ? "the channel's driver is not loaded" :
			 !ch->state ? "the channel's driver is not started" :
				      "the channel's driver reads no bills");
		return;
	}
	pr_info("reconciliation: %s %s: attempt %d", channel, day, attempts);
	p[0] = u->channel;
	p[1] = u->day;
	snprintf(keep, sizeof(keep), "%d", u->gen->config->recon_keep_days);
	p[2] = keep;
	if (pr_db_query_bg(r->d->db,
			   "DELETE FROM recon_bill_rows WHERE channel = $1 "
			   "AND (day = $2::date "
			   "OR day < $2::date - $3::int)",
			   3, p, u->gen->config->recon_lease_s * 1000,
			   on_forgotten, u) < 0)
		run_fail(u, "the store is unavailable");
}

static void on_claimed(PGresult *res, const char *err, void *arg)
{
	struct pr_recon *r = arg;

	if (r->dead) {
		r->busy = 0;
		if (!r->querying)
			free(r);
		return;
	}
	if (!res) {
		pr_warn("reconciliation: claiming a due run failed: %s", err);
		r->busy = 0;
		return;
	}
	if (PQntuples(res) != 1) {
		r->busy = 0;
		return;
	}
	start_run(r, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		  atoi(PQgetvalue(res, 0, 2)));
}

static void claim(struct pr_recon *r)
{
	const struct pr_config *cfg = r->d->gen->config;
	char lease[16];
	const char *p[2];

	snprintf(lease, sizeof(lease), "%d", cfg->recon_lease_s);
	p[0] = cfg->instance;
	p[1] = lease;
	if (pr_db_query(r->d->db,
			"SELECT r_channel, r_day::text, r_attempts "
			"FROM pr_recon_claim($1, $2::int)",
			2, p, on_claimed, r) < 0)
		r->busy = 0;
}

static void on_scheduled(PGresult *res, const char *err, void *arg)
{
	struct pr_recon *r = arg;

	if (r->dead) {
		r->busy = 0;
		if (!r->querying)
			free(r);
		return;
	}
	if (!res)
		pr_warn("reconciliation: scheduling the day's runs failed: %s",
			err);
	else if (atoi(PQgetvalue(res, 0, 0)) > 0)
		pr_info("reconciliation: %s run(s) due", PQgetvalue(res, 0, 0));
	claim(r);
}

/* The channels of gen whose driver reads bills, as a text[] literal
 * (channel codes are [a-z0-9_]). */
static char *bill_channels(const struct pr_generation *g)
{
	size_t cap = 3, len = 0;
	char *s;

	for (size_t i = 0; i < g->n_channels; i++)
		cap += strlen(g->channels[i].code) + 1;
	s = malloc(cap);
	if (!s)
		return NULL;
	s[len++] = '{';
	for (size_t i = 0; i < g->n_channels; i++) {
		const struct pr_channel *c = &g->channels[i];

		if (!c->mod || !c->state || !PAYROUTE_HAS_BILLS(c->mod->desc))
			continue;
		if (len > 1)
			s[len++] = ',';
		memcpy(s + len, c->code, strlen(c->code));
		len += strlen(c->code);
	}
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pr_recon *r = arg;
	const struct pr_config *cfg = r->d->gen->config;
	const char *p[2];
	char *chans;

	(void)fd;
	(void)what;
	arm(r);
	if (!cfg->recon_enabled || r->busy || !pr_db_ready(r->d->db) ||
	    r->d->stopping || !r->d->gen->channels_from_store)
		return;
	chans = bill_channels(r->d->gen);
	if (!chans)
		return;
	r->busy = 1;
	p[0] = chans;
	p[1] = cfg->recon_bill_time;
	if (pr_db_query(r->d->db,
			"SELECT pr_recon_schedule($1::text[], $2::time)", 2, p,
			on_scheduled, r) < 0)
		r->busy = 0;
	free(chans);
}

/* ------------------------------------------------------------- metrics */

/* The open differences by kind and channel, and the fees learnt from the
 * last 30 days of bills next to the fee models, refreshed every 5 s. */
static void on_metrics(PGresult *res, const char *err, void *arg)
{
	struct pr_recon *r = arg;
	size_t o = 0, cap = sizeof(r->metrics);
	int n;

	r->querying = 0;
	if (r->dead) {
		if (!r->busy)
			free(r);
		return;
	}
	if (!res) {
		pr_warn("reconciliation: reading the figures failed: %s", err);
		return;
	}
	n = PQntuples(res);
#define PUT(...)                                                               \
	do {                                                                   \
		if (o < cap)                                                   \
			o += (size_t)snprintf(r->metrics + o, cap - o,         \
					      __VA_ARGS__);                    \
	} while (0)
	PUT("# HELP payroute_recon_differences Open reconciliation "
	    "differences, by kind and channel.\n"
	    "# TYPE payroute_recon_differences gauge\n");
	for (int i = 0; i < n; i++)
		if (PQgetvalue(res, i, 0)[0] == 'd')
			PUT("payroute_recon_differences{kind=\"%s\","
			    "channel=\"%s\"} %s\n",
			    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			    PQgetvalue(res, i, 3));
	PUT("# HELP payroute_recon_differences_amount Minor units of the "
	    "open reconciliation differences, by kind and channel.\n"
	    "# TYPE payroute_recon_differences_amount gauge\n");
	for (int i = 0; i < n; i++)
		if (PQgetvalue(res, i, 0)[0] == 'd')
			PUT("payroute_recon_differences_amount{kind=\"%s\","
			    "channel=\"%s\"} %s\n",
			    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			    PQgetvalue(res, i, 4));
	PUT("# HELP payroute_recon_fee_learnt_bps The fee rate the last 30 "
	    "days of bills charged, by channel (basis points).\n"
	    "# TYPE payroute_recon_fee_learnt_bps gauge\n");
	for (int i = 0; i < n; i++)
		if (PQgetvalue(res, i, 0)[0] == 'f')
			PUT("payroute_recon_fee_learnt_bps{channel=\"%s\"} "
			    "%s\n",
			    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
	PUT("# HELP payroute_recon_fee_drift 1 when the bills' fees are "
	    "more than reconciliation.fee_drift_pct off the fee model.\n"
	    "# TYPE payroute_recon_fee_drift gauge\n");
	for (int i = 0; i < n; i++)
		if (PQgetvalue(res, i, 0)[0] == 'f')
			PUT("payroute_recon_fee_drift{channel=\"%s\"} %s\n",
			    PQgetvalue(res, i, 2),
			    strcmp(PQgetvalue(res, i, 4), "true") == 0 ? "1" :
									 "0");
#undef PUT
	r->metrics_len = o < cap ? o : 0; /* never a cut line */
}

static void on_metrics_timer(evutil_socket_t fd, short what, void *arg)
{
	static const char sql[] =
		"SELECT 'd', kind, channel, count(*)::text, "
		"coalesce(sum(amount), 0)::text FROM recon_differences "
		"WHERE status = 'open' GROUP BY kind, channel "
		"UNION ALL "
		"SELECT 'f', '', channel, coalesce(learnt_bps::text, '0'), "
		"drift::text FROM pr_recon_fees(30, $1::int) "
		"ORDER BY 1, 2, 3";
	struct pr_recon *r = arg;
	struct timeval tv = { 5, 0 };
	char pct[16];
	const char *p[1];

	(void)fd;
	(void)what;
	evtimer_add(r->metrics_timer, &tv);
	if (r->querying || !pr_db_ready(r->d->db) || r->d->stopping)
		return;
	snprintf(pct, sizeof(pct), "%d",
		 r->d->gen->config->recon_fee_drift_pct);
	p[0] = pct;
	if (pr_db_query(r->d->db, sql, 1, p, on_metrics, r) == 0)
		r->querying = 1;
}

size_t pr_recon_metrics(const struct pr_recon *r, char *buf, size_t len)
{
	size_t n;

	if (!r || !len)
		return 0;
	n = (size_t)snprintf(
		buf, len,
		"# HELP payroute_recon_runs_total Reconciliation runs by this "
		"instance, by outcome.\n"
		"# TYPE payroute_recon_runs_total counter\n"
		"payroute_recon_runs_total{result=\"done\"} %" PRIu64 "\n"
		"payroute_recon_runs_total{result=\"failed\"} %" PRIu64 "\n"
		"# HELP payroute_recon_bill_rows_total Bill rows stored by "
		"this instance.\n"
		"# TYPE payroute_recon_bill_rows_total counter\n"
		"payroute_recon_bill_rows_total %" PRIu64 "\n"
		"# HELP payroute_recon_checks_total Orders checked at once "
		"because a bill charged them.\n"
		"# TYPE payroute_recon_checks_total counter\n"
		"payroute_recon_checks_total %" PRIu64 "\n",
		r->st.runs_done, r->st.runs_failed, r->st.rows, r->st.checks);
	if (n >= len)
		return 0;
	if (r->metrics_len && n + r->metrics_len < len) {
		memcpy(buf + n, r->metrics, r->metrics_len);
		n += r->metrics_len;
		buf[n] = '\0';
	}
	return n;
}

struct pr_recon *pr_recon_new(struct pr_daemon *d)
{
	struct pr_recon *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->d = d;
	r->timer = evtimer_new(d->base, on_tick, r);
	r->metrics_timer = evtimer_new(d->base, on_metrics_timer, r);
	if (!r->timer || !r->metrics_timer) {
		if (r->timer)
			event_free(r->timer);
		free(r);
		return NULL;
	}
	arm(r);
	{
		struct timeval tv = { 1, 0 };

		evtimer_add(r->metrics_timer, &tv);
	}
	return r;
}

void pr_recon_free(struct pr_recon *r)
{
	if (!r)
		return;
	event_free(r->timer);
	r->timer = NULL;
	event_free(r->metrics_timer);
	r->metrics_timer = NULL;
	if (r->busy || r->querying) {
		/* the callback in flight frees r */
		r->dead = 1;
		return;
	}
	free(r);
}

void pr_recon_get_stats(const struct pr_recon *r, struct pr_recon_stats *st)
{
	*st = r->st;
}
