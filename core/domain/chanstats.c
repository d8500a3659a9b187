/*
 * chanstats.c - each channel's figures in memory (chanstats.h).
 *
 * One record a channel, found by a hash of its code (a fixed table of
 * chains: a catalogue of a thousand channels makes chains of four). A
 * record holds fixed arrays for what has a fixed shape (calls and their
 * latencies by operation, callbacks, the minute ring) and two short
 * growing arrays for what depends on the vocabulary (orders by kind,
 * status and code; cascades by destination and reason).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/chanstats.h"

#define NB 1024 /* hash buckets, a power of two */
#define CODE_MAX 65

static const double bounds_s[PR_CS_LAT_BUCKETS - 1] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30,
};

static const char *const op_names[PR_CS_OPS] = {
	"pay",		"query",  "close",	  "refund",
	"refund_query", "payout", "payout_query",
};

static const char *const end_names[PR_CS_CALL_N] = {
	"answer",     "not_sent",    "timeout",
	"bad_answer", "build_error", "unsupported",
};

static const char *const cb_names[PR_CS_CB_N] = {
	"accepted",
	"refused",
	"failed",
};

/* The minute ring's outcome columns. */
enum { END_OK, END_FAILED, END_UNKNOWN, END_OTHER, END_N };

struct order_row {
	char kind[16];
	char status[24];
	char code[CODE_MAX];
	uint64_t n;
};

struct cascade_row {
	char to[CODE_MAX];
	char reason[CODE_MAX];
	uint64_t n;
};

struct minute {
	int64_t minute; /* minutes since the epoch; INT64_MIN: unused */
	uint32_t ended[END_N];
	uint32_t calls;
	uint32_t lat[PR_CS_LAT_BUCKETS];
};

struct chan {
	char code[CODE_MAX];
	uint32_t hash;
	struct chan *hnext; /* the bucket's chain */
	struct chan *next;  /* every record, newest first */
	uint64_t calls[PR_CS_OPS][PR_CS_CALL_N];
	uint64_t lat[PR_CS_OPS][PR_CS_LAT_BUCKETS]; /* per bucket */
	uint64_t lat_n[PR_CS_OPS];
	double lat_sum_s[PR_CS_OPS];
	uint64_t cb[PR_CS_CB_N];
	struct order_row *orders;
	size_t n_orders, cap_orders;
	struct cascade_row *cascades;
	size_t n_cascades, cap_cascades;
	struct minute ring[PR_CS_MINUTES];
};

struct pr_chanstats {
	struct chan *b[NB];
	struct chan *all;
	size_t n;
	uint64_t cb_unknown;
};

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct pr_chanstats *pr_chanstats_new(void)
{
	return calloc(1, sizeof(struct pr_chanstats));
}

void pr_chanstats_free(struct pr_chanstats *cs)
{
	struct chan *c, *next;

	if (!cs)
		return;
	for (c = cs->all; c; c = next) {
		next = c->next;
		free(c->orders);
		free(c->cascades);
		free(c);
	}
	free(cs);
}

static struct chan *find(const struct pr_chanstats *cs, const char *code)
{
	uint32_t h = hash_str(code);

	for (struct chan *c = cs->b[h & (NB - 1)]; c; c = c->hnext)
		if (c->hash == h && strcmp(c->code, code) == 0)
			return c;
	return NULL;
}

/* The channel's record, made on first sight; NULL when out of memory or
 * the code does not fit. */
static struct chan *get(struct pr_chanstats *cs, const char *code)
{
	struct chan *c;

	if (!cs || !code || strlen(code) >= CODE_MAX)
		return NULL;
	c = find(cs, code);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	memcpy(c->code, code, strlen(code) + 1);
	c->hash = hash_str(code);
	for (size_t i = 0; i < PR_CS_MINUTES; i++)
		c->ring[i].minute = INT64_MIN;
	c->hnext = cs->b[c->hash & (NB - 1)];
	cs->b[c->hash & (NB - 1)] = c;
	c->next = cs->all;
	cs->all = c;
	cs->n++;
	return c;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The ring's slot for now_ms, emptied when it held an older minute. */
static struct minute *slot(struct chan *c, int64_t now_ms)
{
	int64_t m = floor_div(now_ms, 60000);
	struct minute *s =
		&c->ring[((m % PR_CS_MINUTES) + PR_CS_MINUTES) % PR_CS_MINUTES];

	if (s->minute != m) {
		memset(s, 0, sizeof(*s));
		s->minute = m;
	}
	return s;
}

/* Copies s into a field of size n; 0, or -1 when it does not fit. */
static int put(char *dst, size_t n, const char *s)
{
	size_t l = strlen(s ? s : "");

	if (l >= n)
		return -1;
	memcpy(dst, s ? s : "", l + 1);
	return 0;
}

static int end_column(const char *status)
{
	if (strcmp(status, "succeeded") == 0)
		return END_OK;
	if (strcmp(status, "failed") == 0)
		return END_FAILED;
	if (strcmp(status, "unknown") == 0)
		return END_UNKNOWN;
	return END_OTHER;
}

void pr_chanstats_order(struct pr_chanstats *cs, const char *kind,
			const char *channel, const char *status,
			const char *code, int64_t now_ms)
{
	struct chan *c = get(cs, channel ? channel : "");
	struct order_row *r = NULL;

	if (!c || !kind || !status)
		return;
	if (!code)
		code = "";
	for (size_t i = 0; i < c->n_orders; i++) {
		struct order_row *o = &c->orders[i];

		if (strcmp(o->code, code) == 0 &&
		    strcmp(o->status, status) == 0 &&
		    strcmp(o->kind, kind) == 0) {
			r = o;
			break;
		}
	}
	if (!r) {
		if (c->n_orders == c->cap_orders) {
			size_t cap = c->cap_orders ? 2 * c->cap_orders : 8;
			struct order_row *p =
				realloc(c->orders, cap * sizeof(*p));

			if (!p)
				return;
			c->orders = p;
			c->cap_orders = cap;
		}
		r = &c->orders[c->n_orders];
		memset(r, 0, sizeof(*r));
		if (put(r->kind, sizeof(r->kind), kind) < 0 ||
		    put(r->status, sizeof(r->status), status) < 0 ||
		    put(r->code, sizeof(r->code), code) < 0)
			return;
		c->n_orders++;
	}
	r->n++;
	slot(c, now_ms)->ended[end_column(status)]++;
}

void pr_chanstats_call(struct pr_chanstats *cs, const char *channel, int op,
		       enum pr_cs_call_end end, double ms, int64_t now_ms)
{
	struct chan *c;
	struct minute *m;
	double s = ms / 1000.0;
	size_t i = 0;

	if (op < 0 || op >= PR_CS_OPS || (unsigned)end >= PR_CS_CALL_N)
		return;
	c = get(cs, channel);
	if (!c)
		return;
	c->calls[op][end]++;
	m = slot(c, now_ms);
	m->calls++;
	if (end == PR_CS_CALL_NOT_SENT || end == PR_CS_CALL_BUILD_ERROR ||
	    end == PR_CS_CALL_UNSUPPORTED)
		return; /* nothing went out: nothing to time */
	if (s < 0)
		s = 0;
	while (i < PR_CS_LAT_BUCKETS - 1 && s > bounds_s[i])
		i++;
	c->lat[op][i]++;
	c->lat_n[op]++;
	c->lat_sum_s[op] += s;
	m->lat[i]++;
}

void pr_chanstats_callback(struct pr_chanstats *cs, const char *channel,
			   enum pr_cs_callback result)
{
	struct chan *c = (unsigned)result < PR_CS_CB_N ? get(cs, channel) :
							 NULL;

	if (c)
		c->cb[result]++;
}

void pr_chanstats_callback_unknown(struct pr_chanstats *cs)
{
	if (cs)
		cs->cb_unknown++;
}

void pr_chanstats_cascade(struct pr_chanstats *cs, const char *from,
			  const char *to, const char *reason)
{
	struct chan *c = get(cs, from);
	struct cascade_row *r;

	if (!c || !to)
		return;
	if (!reason)
		reason = "";
	for (size_t i = 0; i < c->n_cascades; i++) {
		r = &c->cascades[i];
		if (strcmp(r->to, to) == 0 && strcmp(r->reason, reason) == 0) {
			r->n++;
			return;
		}
	}
	if (c->n_cascades == c->cap_cascades) {
		size_t cap = c->cap_cascades ? 2 * c->cap_cascades : 4;
		struct cascade_row *p = realloc(c->cascades, cap * sizeof(*p));

		if (!p)
			return;
		c->cascades = p;
		c->cap_cascades = cap;
	}
	r = &c->cascades[c->n_cascades];
	memset(r, 0, sizeof(*r));
	if (put(r->to, sizeof(r->to), to) < 0 ||
	    put(r->reason, sizeof(r->reason), reason) < 0)
		return;
	r->n = 1;
	c->n_cascades++;
}

/* ---------------------------------------------------------- exposition */

struct w {
	void (*out)(void *, const char *, size_t);
	void *arg;
};

static void wf(struct w *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void wf(struct w *w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		w->out(w->arg, buf,
		       (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A label value escaped as the text format wants (\\, \", \n). */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 2 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

static int by_code(const void *a, const void *b)
{
	return strcmp((*(struct chan *const *)a)->code,
		      (*(struct chan *const *)b)->code);
}

static void write_head(struct w *w, const char *name, const char *type,
		       const char *help)
{
	wf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int pr_chanstats_write(const struct pr_chanstats *cs,
		       void (*out)(void *arg, const char *s, size_t n),
		       void *arg)
{
	struct w w = { out, arg };
	struct chan **v;
	char e1[2 * CODE_MAX], e2[2 * CODE_MAX], e3[2 * CODE_MAX];
	size_t n = 0;

	if (!cs)
		return 0;
	v = malloc((cs->n ? cs->n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (struct chan *c = cs->all; c; c = c->next)
		v[n++] = c;
	qsort(v, n, sizeof(*v), by_code);

	write_head(&w, "payroute_orders_total", "counter",
		   "Orders that reached an outcome (a final state, unknown, "
		   "or a refund's overdue), by kind, channel (empty: none "
		   "took it), status and unified code.");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < v[i]->n_orders; j++) {
			const struct order_row *o = &v[i]->orders[j];

			wf(&w,
			   "payroute_orders_total{kind=\"%s\",channel=\"%s\","
			   "status=\"%s\",code=\"%s\"} %llu\n",
			   esc(o->kind, e1, sizeof(e1)),
			   esc(v[i]->code, e2, sizeof(e2)), o->status,
			   esc(o->code, e3, sizeof(e3)),
			   (unsigned long long)o->n);
		}

	write_head(&w, "payroute_channel_calls_total", "counter",
		   "Calls to channels by operation and how they ended.");
	for (size_t i = 0; i < n; i++)
		for (int op = 0; op < PR_CS_OPS; op++)
			for (int e = 0; e < PR_CS_CALL_N; e++)
				if (v[i]->calls[op][e])
					wf(&w,
					   "payroute_channel_calls_total{"
					   "channel=\"%s\",op=\"%s\","
					   "result=\"%s\"} %llu\n",
					   esc(v[i]->code, e1, sizeof(e1)),
					   op_names[op], end_names[e],
					   (unsigned long long)v[i]
						   ->calls[op][e]);

	write_head(&w, "payroute_channel_call_duration_seconds", "histogram",
		   "Round trip of the channel calls that were sent, by "
		   "operation.");
	for (size_t i = 0; i < n; i++)
		for (int op = 0; op < PR_CS_OPS; op++) {
			uint64_t cum = 0;

			if (!v[i]->lat_n[op])
				continue;
			esc(v[i]->code, e1, sizeof(e1));
			for (size_t b = 0; b < PR_CS_LAT_BUCKETS; b++) {
				cum += v[i]->lat[op][b];
				if (b < PR_CS_LAT_BUCKETS - 1)
					wf(&w,
					   "payroute_channel_call_duration_"
					   "seconds_bucket{channel=\"%s\","
					   "op=\"%s\",le=\"%g\"} %llu\n",
					   e1, op_names[op], bounds_s[b],
					   (unsigned long long)cum);
				else
					wf(&w,
					   "payroute_channel_call_duration_"
					   "seconds_bucket{channel=\"%s\","
					   "op=\"%s\",le=\"+Inf\"} %llu\n",
					   e1, op_names[op],
					   (unsigned long long)cum);
			}
			wf(&w,
			   "payroute_channel_call_duration_seconds_sum{"
			   "channel=\"%s\",op=\"%s\"} %.6f\n"
			   "payroute_channel_call_duration_seconds_count{"
			   "channel=\"%s\",op=\"%s\"} %llu\n",
			   e1, op_names[op], v[i]->lat_sum_s[op], e1,
			   op_names[op], (unsigned long long)v[i]->lat_n[op]);
		}

	write_head(&w, "payroute_channel_callbacks_total", "counter",
		   "Callbacks from channels: accepted (verified and "
		   "recorded), refused (did not verify or not understood), "
		   "failed (not recorded; the channel sends it again).");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < PR_CS_CB_N; r++)
			if (v[i]->cb[r])
				wf(&w,
				   "payroute_channel_callbacks_total{channel="
				   "\"%s\",result=\"%s\"} %llu\n",
				   esc(v[i]->code, e1, sizeof(e1)), cb_names[r],
				   (unsigned long long)v[i]->cb[r]);
	write_head(&w, "payroute_callbacks_unknown_channel_total", "counter",
		   "Callbacks refused because no channel has the code in "
		   "their path.");
	wf(&w, "payroute_callbacks_unknown_channel_total %llu\n",
	   (unsigned long long)cs->cb_unknown);

	write_head(&w, "payroute_cascades_total", "counter",
		   "Orders sent on to another channel after a retryable "
		   "failure, by the channel left, the next one and the "
		   "failure's unified code.");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < v[i]->n_cascades; j++) {
			const struct cascade_row *c = &v[i]->cascades[j];

			wf(&w,
			   "payroute_cascades_total{from=\"%s\",to=\"%s\","
			   "reason=\"%s\"} %llu\n",
			   esc(v[i]->code, e1, sizeof(e1)),
			   esc(c->to, e2, sizeof(e2)),
			   esc(c->reason, e3, sizeof(e3)),
			   (unsigned long long)c->n);
		}
	free(v);
	return 0;
}

/* ------------------------------------------------------------- series */

double pr_chanstats_bound_s(size_t i)
{
	return i < PR_CS_LAT_BUCKETS - 1 ? bounds_s[i] : -1;
}

double pr_chanstats_quantile_ms(const uint32_t *counts, double q)
{
	uint64_t total = 0, cum = 0;
	double rank, lower;

	for (size_t i = 0; i < PR_CS_LAT_BUCKETS; i++)
		total += counts[i];
	if (!total || q <= 0 || q >= 1)
		return -1;
	rank = q * (double)total;
	for (size_t i = 0; i < PR_CS_LAT_BUCKETS; i++) {
		if (!counts[i] || (double)(cum + counts[i]) < rank) {
			cum += counts[i];
			continue;
		}
		if (i == PR_CS_LAT_BUCKETS - 1)
			return bounds_s[PR_CS_LAT_BUCKETS - 2] * 1000.0;
		lower = i ? bounds_s[i - 1] : 0;
		return (lower + (bounds_s[i] - lower) * (rank - (double)cum) /
					(double)counts[i]) *
		       1000.0;
	}
	return bounds_s[PR_CS_LAT_BUCKETS - 2] * 1000.0;
}

static json_t *num_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

json_t *pr_chanstats_series(const struct pr_chanstats *cs, const char *channel,
			    int minutes, int64_t now_ms)
{
	const struct chan *c = cs && channel ? find(cs, channel) : NULL;
	static const char *const cols[END_N] = { "succeeded", "failed",
						 "unknown", "other" };
	json_t *o = json_object(), *a[END_N], *calls, *p95, *totals;
	uint32_t lat_all[PR_CS_LAT_BUCKETS] = { 0 };
	uint64_t sum[END_N] = { 0 }, sum_calls = 0;
	int64_t last = floor_div(now_ms, 60000), first;

	if (minutes < 1 || minutes > PR_CS_MINUTES)
		minutes = PR_CS_MINUTES;
	first = last - minutes + 1;
	if (!o)
		return NULL;
	for (int k = 0; k < END_N; k++) {
		a[k] = json_array();
		json_object_set_new(o, cols[k], a[k]);
	}
	calls = json_array();
	p95 = json_array();
	json_object_set_new(o, "calls", calls);
	json_object_set_new(o, "p95_ms", p95);
	for (int64_t m = first; m <= last; m++) {
		const struct minute *s =
			c ? &c->ring[((m % PR_CS_MINUTES) + PR_CS_MINUTES) %
				     PR_CS_MINUTES] :
			    NULL;
		static const struct minute zero = { 0 };

		if (!s || s->minute != m)
			s = &zero;
		for (int k = 0; k < END_N; k++) {
			json_array_append_new(a[k], json_integer(s->ended[k]));
			sum[k] += s->ended[k];
		}
		json_array_append_new(calls, json_integer(s->calls));
		sum_calls += s->calls;
		json_array_append_new(p95, num_or_null(pr_chanstats_quantile_ms(
						   s->lat, 0.95)));
		for (size_t b = 0; b < PR_CS_LAT_BUCKETS; b++)
			lat_all[b] += s->lat[b];
	}
	json_object_set_new(o, "from", json_integer(first * 60000));
	json_object_set_new(o, "step_ms", json_integer(60000));
	totals = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "succeeded",
			   (json_int_t)sum[0], "failed", (json_int_t)sum[1],
			   "unknown", (json_int_t)sum[2], "other",
			   (json_int_t)sum[3], "calls", (json_int_t)sum_calls,
			   "volume",
			   (json_int_t)(sum[0] + sum[1] + sum[2] + sum[3]));
	if (totals) {
		json_object_set_new(
			totals, "success_rate",
			sum[0] + sum[1] ? json_real((double)sum[0] /
						    (double)(sum[0] + sum[1])) :
					  json_null());
		json_object_set_new(
			totals, "p95_ms",
			num_or_null(pr_chanstats_quantile_ms(lat_all, 0.95)));
	}
	json_object_set_new(o, "totals", totals);
	return o;
}
