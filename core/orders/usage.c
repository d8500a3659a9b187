/*
 * usage.c - daily-limit reservations with leases, and success rates (see
 * usage.h for the design: leases, exact mode near the limit, releases and
 * their retry queue, recorded usage of unlimited channels).
 *
 * State: one entry (struct uent) per (channel, scope, day) row this
 * instance has touched, in a hash table: the local lease, the row's totals
 * as last seen, the limits of the last reservation, the mode, the usage
 * recorded but not yet written, and the reservations waiting for a lease
 * request in flight. A reservation (struct ures) names one or two entries
 * (the channel's and the bank's); it takes what its entries' leases cover
 * and asks the database (one statement, all or nothing) for the rest.
 * Every statement in flight is a struct uop in a list, so that
 * pr_usage_free can orphan them: their callbacks then only free memory.
 * User callbacks are only ever called from ev_done, never from inside a
 * public function.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "runtime/log.h"
#include "orders/usage.h"

#define SR_BUCKETS 60
#define SR_BUCKET_MS 10000
#define LEASE_MULT_MAX 16
#define LEASE_FAST_MS 200
#define RETRY_PER_TICK 64
#define NONE (-1)

struct ures;
struct uop;

/* One (channel, scope, day) row. */
struct uent {
	struct uent *hnext;
	uint32_t hash;
	char channel[PR_USAGE_CODE_MAX];
	char scope[PR_USAGE_CODE_MAX];
	int64_t day;

	int64_t lease_amount, lease_count; /* counted in the DB, unspent */
	int64_t db_amount, db_count;	   /* the row's totals, last seen */
	int db_seen;
	int lim_known;		       /* a reservation gave limits */
	int64_t lim_amount, lim_count; /* NONE: no limit */
	int limited;		       /* lim_amount or lim_count set */
	int exact;
	int lease_inflight;
	int mult;
	int64_t lease_at_ms;
	double avg; /* recent average payment */
	int64_t last_use_ms;
	int64_t pend_amount, pend_count; /* recorded, not written (signed) */
	int pend_inflight;
	struct ures *wait_head, *wait_tail;
	int refs; /* reservations and statements */
};

/* Success rate window of one channel. */
struct srate {
	struct srate *hnext;
	uint32_t hash;
	char channel[PR_USAGE_CODE_MAX];
	int64_t idx[SR_BUCKETS];
	uint32_t ok[SR_BUCKETS];
	uint32_t n[SR_BUCKETS];
};

/* A reservation in progress. */
struct ures {
	struct ures *next; /* in a wait list or the done list */
	struct pr_usage *u;
	pr_usage_cb cb;
	void *arg;
	struct pr_usage_token tok;
	int n;
	struct uent *e[2];
	int64_t lim_a[2], lim_c[2];
	int took[2];  /* 1: from the lease, 2: recorded */
	int db[2];    /* asked the database */
	int lease[2]; /* this request holds e->lease_inflight */
	int rc;
};

/* A release (of a payment or of a lease) to write to the database. */
struct join;
struct urel {
	struct urel *next; /* in the retry queue */
	int queued;
	int inflight;
	int attempts;
	int is_lease;
	char channel[PR_USAGE_CODE_MAX];
	char scope[PR_USAGE_CODE_MAX];
	int64_t day, amount, count;
	struct join *join; /* first attempt only */
};

/* Waits for the parts of one pr_usage_release_then. */
struct join {
	int pending;
	int rc;
	pr_usage_done_cb cb;
	void *arg;
};

/* A deferred callback. */
struct udefer {
	struct udefer *next;
	pr_usage_done_cb cb;
	void *arg;
	int rc;
};

enum op_kind { OP_RESERVE, OP_RELEASE, OP_PEND, OP_LOAD };

/* A statement in flight. */
struct uop {
	struct uop *prev, *next;
	struct pr_usage *u; /* NULL: orphaned by pr_usage_free */
	enum op_kind kind;
	struct ures *r;	  /* OP_RESERVE (owned) */
	struct urel *rel; /* OP_RELEASE (owned) */
	struct uent *e;	  /* OP_PEND */
	int64_t pend_a, pend_c;
	pr_usage_done_cb cb; /* OP_LOAD (NULL: a refresh) */
	int refresh;	     /* OP_LOAD: the periodic refresh */
	int64_t sent_ms;     /* OP_LOAD */
	void *arg;
};

struct htab {
	void **b;
	size_t nb, n;
};

struct pr_usage {
	struct event_base *base;
	struct pr_db *db;
	struct pr_usage_opts o;
	struct htab ents;  /* struct uent */
	struct htab rates; /* struct srate */
	struct uop *ops;
	size_t nops;
	struct urel *retry_head, *retry_tail;
	size_t nretry;
	struct ures *done_head, *done_tail;
	struct udefer *defer_head, *defer_tail;
	struct event *ev_done;
	struct event *ev_tick;
	int draining;
	pr_usage_done_cb flush_cb;
	void *flush_arg;
	int flush_armed;
	int depth;
	int free_pending;
	/* The refresh of every row's totals (PR_USAGE_REFRESH_MS). */
	int refreshing;
	int64_t refreshed_ms; /* wall clock of the last refresh answered */
	struct pr_usage_stats st;
};

static void res_step(struct ures *r);
static void pend_flush(struct pr_usage *u, struct uent *e);
static void rel_send(struct pr_usage *u, struct urel *rel);
static void usage_destroy(struct pr_usage *u);
static int load_send(struct pr_usage *u, int64_t now_ms, int refresh,
		     pr_usage_done_cb cb, void *arg);

/* ------------------------------------------------------------- helpers */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int64_t pr_usage_day(const struct pr_tz *tz, int64_t now_ms)
{
	struct pr_local_time lt;

	if (!tz)
		return floor_div(now_ms, 86400000);
	pr_tz_local(tz, floor_div(now_ms, 1000), &lt);
	return lt.day;
}

/* "YYYY-MM-DD" of a day number, for log lines. */
static void day_str(int64_t day, char *buf, size_t len)
{
	int64_t z = day + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	if (m <= 2)
		y++;
	snprintf(buf, len, "%04lld-%02lld-%02lld", (long long)y, (long long)m,
		 (long long)d);
}

static uint32_t hash_str(uint32_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static uint32_t ent_hash(const char *channel, const char *scope, int64_t day)
{
	uint32_t h = 2166136261u;

	h = hash_str(h, channel);
	h ^= 0xff;
	h *= 16777619u;
	h = hash_str(h, scope);
	for (int i = 0; i < 8; i++) {
		h ^= (uint32_t)((uint64_t)day >> (8 * i)) & 0xff;
		h *= 16777619u;
	}
	return h;
}

/* Both node types start with (next, hash). */
struct hnode {
	struct hnode *hnext;
	uint32_t hash;
};

static int htab_grow(struct htab *t)
{
	size_t nb = t->nb ? t->nb * 2 : 64;
	void **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->nb; i++) {
		struct hnode *n = t->b[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

static int htab_add(struct htab *t, void *node)
{
	struct hnode *n = node;

	if ((t->n + 1 > t->nb * 2 || !t->nb) && htab_grow(t) < 0 && !t->nb)
		return -ENOMEM;
	n->hnext = t->b[n->hash & (t->nb - 1)];
	t->b[n->hash & (t->nb - 1)] = n;
	t->n++;
	return 0;
}

static void htab_del(struct htab *t, void *node)
{
	struct hnode *n = node;
	struct hnode **pp = (struct hnode **)&t->b[n->hash & (t->nb - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			t->n--;
			return;
		}
	}
}

static int copy_code(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= PR_USAGE_CODE_MAX)
		return -EINVAL;
	memcpy(dst, src, n + 1);
	return 0;
}

static void log_release_lost(const char *what, const struct urel *rel,
			     const char *why)
{
	char d[64];

	day_str(rel->day, d, sizeof(d));
	pr_err("usage: %s of channel %s day %s scope '%s' amount %lld count "
	       "%lld %s (%s)",
	       rel->is_lease ? "lease return" : "release", rel->channel, d,
	       rel->scope, (long long)rel->amount, (long long)rel->count, what,
	       why);
}

/* -------------------------------------------------------- deferred work */

static void done_kick(struct pr_usage *u)
{
	event_active(u->ev_done, EV_TIMEOUT, 1);
}

static void defer(struct pr_usage *u, pr_usage_done_cb cb, void *arg, int rc)
{
	struct udefer *d;

	if (!cb)
		return;
	d = calloc(1, sizeof(*d));
	if (!d) {
		pr_err("usage: out of memory: a completion callback is lost");
		return;
	}
	d->cb = cb;
	d->arg = arg;
	d->rc = rc;
	if (u->defer_tail)
		u->defer_tail->next = d;
	else
		u->defer_head = d;
	u->defer_tail = d;
	done_kick(u);
}

static void ent_unref(struct uent *e)
{
	e->refs--;
}

/* The reservation is over: its callback runs from ev_done. */
static void res_finish(struct ures *r, int rc)
{
	struct pr_usage *u = r->u;

	r->rc = rc;
	for (int i = 0; i < r->n; i++)
		ent_unref(r->e[i]);
	r->next = NULL;
	if (u->done_tail)
		u->done_tail->next = r;
	else
		u->done_head = r;
	u->done_tail = r;
	done_kick(u);
}

static void check_flush_done(struct pr_usage *u)
{
	if (u->flush_cb && !u->flush_armed && u->nops == 0)
		done_kick(u);
}

static void flush_finish(struct pr_usage *u)
{
	pr_usage_done_cb cb = u->flush_cb;
	void *arg = u->flush_arg;
	int rc = 0;

	u->flush_cb = NULL;
	for (struct urel *r = u->retry_head; r; r = r->next) {
		log_release_lost("not written at shutdown (still queued)", r,
				 "store unavailable");
		rc = -EIO;
	}
	for (size_t b = 0; b < u->ents.nb; b++) {
		for (struct uent *e = u->ents.b[b]; e; e = e->hnext) {
			char d[64];

			if (!e->pend_amount && !e->pend_count &&
			    !e->lease_amount && !e->lease_count)
				continue;
			day_str(e->day, d, sizeof(d));
			pr_err("usage: channel %s day %s scope '%s': amount "
			       "%lld count %lld (recorded) and lease %lld/%lld "
			       "not written at shutdown",
			       e->channel, d, e->scope,
			       (long long)e->pend_amount,
			       (long long)e->pend_count,
			       (long long)e->lease_amount,
			       (long long)e->lease_count);
			rc = -EIO;
		}
	}
	if (cb)
		cb(rc, arg);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pr_usage *u = arg;
	int guard = 0;

	(void)fd;
	(void)what;
	u->depth++;
	while ((u->done_head || u->defer_head) && !u->free_pending &&
	       guard++ < 100000) {
		struct ures *r = u->done_head;
		struct udefer *d;

		if (r) {
			u->done_head = r->next;
			if (!u->done_head)
				u->done_tail = NULL;
			r->cb(r->rc, r->rc == 1 ? &r->tok : NULL, r->arg);
			free(r);
			continue;
		}
		d = u->defer_head;
		u->defer_head = d->next;
		if (!u->defer_head)
			u->defer_tail = NULL;
		d->cb(d->rc, d->arg);
		free(d);
	}
	if (!u->free_pending && (u->done_head || u->defer_head))
		done_kick(u);
	if (!u->free_pending && u->flush_cb && u->nops == 0)
		flush_finish(u);
	u->depth--;
	if (u->depth == 0 && u->free_pending)
		usage_destroy(u);
}

/* ---------------------------------------------------------------- ops */

static struct uop *op_new(struct pr_usage *u, enum op_kind kind)
{
	struct uop *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->u = u;
	op->kind = kind;
	return op;
}

static void op_link(struct pr_usage *u, struct uop *op)
{
	op->next = u->ops;
	if (u->ops)
		u->ops->prev = op;
	u->ops = op;
	u->nops++;
}

static void op_unlink(struct pr_usage *u, struct uop *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		u->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	u->nops--;
}

/* Sends op's statement; links it on success. */
static int op_send(struct pr_usage *u, struct uop *op, const char *sql, int n,
		   const char *const *params, pr_db_cb cb)
{
	int rc = pr_db_query(u->db, sql, n, params, cb, op);

	if (rc == 0)
		op_link(u, op);
	return rc;
}

/* 1 when a failed statement surely did not change anything: the server
 * refused it (a SQLSTATE: the transaction rolled back) or it was never
 * sent. Otherwise (the connection died with it in flight) it may have
 * committed. */
static int err_definite(const char *err)
{
	if (!err)
		return 0;
	if (strstr(err, "(SQLSTATE "))
		return 1;
	return strncmp(err, "store unavailable", 17) == 0;
}

static int64_t cell_i64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* ------------------------------------------------------------ entries */

static struct uent *ent_find(const struct pr_usage *u, const char *channel,
			     const char *scope, int64_t day)
{
	uint32_t h;
	struct uent *e;

	if (!u->ents.nb)
		return NULL;
	h = ent_hash(channel, scope, day);
	for (e = u->ents.b[h & (u->ents.nb - 1)]; e; e = e->hnext) {
		if (e->hash == h && e->day == day &&
		    strcmp(e->channel, channel) == 0 &&
		    strcmp(e->scope, scope) == 0)
			return e;
	}
	return NULL;
}

static struct uent *ent_get(struct pr_usage *u, const char *channel,
			    const char *scope, int64_t day, int *created)
{
	struct uent *e = ent_find(u, channel, scope, day);

	*created = 0;
	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	if (copy_code(e->channel, channel) < 0 ||
	    copy_code(e->scope, scope) < 0) {
		free(e);
		return NULL;
	}
	e->day = day;
	e->hash = ent_hash(channel, scope, day);
	e->lim_amount = e->lim_count = NONE;
	e->mult = 1;
	if (htab_add(&u->ents, e) < 0) {
		free(e);
		return NULL;
	}
	*created = 1;
	return e;
}

static void ent_free(struct pr_usage *u, struct uent *e)
{
	htab_del(&u->ents, e);
	free(e);
}

static int row_exact(const struct pr_usage *u, const struct uent *e)
{
	return u->o.exact || u->draining || e->exact;
}

/* Queues a release of (amount, count) on e's row to the database. */
static void db_release(struct pr_usage *u, const char *channel,
		       const char *scope, int64_t day, int64_t amount,
		       int64_t count, int is_lease, struct join *j)
{
	struct urel *rel = calloc(1, sizeof(*rel));

	if (!rel) {
		struct urel tmp = { 0 };

		snprintf(tmp.channel, sizeof(tmp.channel), "%s", channel);
		snprintf(tmp.scope, sizeof(tmp.scope), "%s", scope);
		tmp.day = day;
		tmp.amount = amount;
		tmp.count = count;
		tmp.is_lease = is_lease;
		log_release_lost("lost", &tmp, "out of memory");
		u->st.lost++;
		if (j) {
			j->pending--;
			j->rc = -ENOMEM;
		}
		return;
	}
	snprintf(rel->channel, sizeof(rel->channel), "%s", channel);
	snprintf(rel->scope, sizeof(rel->scope), "%s", scope);
	rel->day = day;
	rel->amount = amount;
	rel->count = count;
	rel->is_lease = is_lease;
	rel->join = j;
	rel_send(u, rel);
}

/* Gives e's unspent lease back to the database. */
static void return_lease(struct pr_usage *u, struct uent *e)
{
	if (e->lease_amount <= 0 && e->lease_count <= 0)
		return;
	db_release(u, e->channel, e->scope, e->day,
		   e->lease_amount > 0 ? e->lease_amount : 0,
		   e->lease_count > 0 ? e->lease_count : 0, 1, NULL);
	e->lease_amount = e->lease_count = 0;
}

static int64_t base_amount(const struct pr_usage *u, const struct uent *e)
{
	double b = e->avg * u->o.lease_payments;
	int64_t v = b > 4e18 ? INT64_MAX / 4 : (int64_t)b;

	if (v < u->o.min_lease_amount)
		v = u->o.min_lease_amount;
	return v > 0 ? v : 1;
}

static int64_t base_count(const struct pr_usage *u)
{
	return 2 * (int64_t)u->o.lease_payments;
}

static void set_exact(struct pr_usage *u, struct uent *e)
{
	if (!e->exact) {
		char d[64];

		day_str(e->day, d, sizeof(d));
		pr_debug("usage: %s/%s/%s: exact mode (near the limit)",
			 e->channel, d, e->scope);
	}
	e->exact = 1;
	return_lease(u, e);
}

/* After a grant showed the row's totals: near the limit go exact, far
 * from it go back to leases. */
static void update_mode(struct pr_usage *u, struct uent *e)
{
	int64_t left_a = INT64_MAX, left_c = INT64_MAX;
	int64_t ba = base_amount(u, e), bc = base_count(u);

	if (!e->limited)
		return;
	if (e->lim_amount != NONE)
		left_a = e->lim_amount - e->db_amount;
	if (e->lim_count != NONE)
		left_c = e->lim_count - e->db_count;
	if (!e->exact) {
		if (left_a < 2 * ba || left_c < 2 * bc)
			set_exact(u, e);
	} else if (!u->o.exact && !u->draining && left_a / 4 >= ba &&
		   left_c / 4 >= bc) {
		e->exact = 0;
	}
}

static void lease_want(const struct pr_usage *u, const struct uent *e,
		       int64_t amount, int64_t *wa, int64_t *wc)
{
	int64_t a = base_amount(u, e), c = base_count(u);

	if (a > INT64_MAX / LEASE_MULT_MAX)
		a = INT64_MAX / LEASE_MULT_MAX;
	a *= e->mult;
	c *= e->mult;
	if (e->lim_amount != NONE) {
		int64_t cap =
			(e->lim_amount - (e->db_seen ? e->db_amount : 0)) / 10;

		if (a > cap)
			a = cap;
	}
	if (e->lim_count != NONE) {
		int64_t cap =
			(e->lim_count - (e->db_seen ? e->db_count : 0)) / 10;

		if (c > cap)
			c = cap;
	}
	*wa = a > amount ? a : amount;
	*wc = c > 1 ? c : 1;
}

/* ------------------------------------------------------------ releases */

static void rel_queue(struct pr_usage *u, struct urel *rel)
{
	if (rel->queued)
		return;
	rel->queued = 1;
	rel->next = NULL;
	if (u->retry_tail)
		u->retry_tail->next = rel;
	else
		u->retry_head = rel;
	u->retry_tail = rel;
	u->nretry++;
}

static void rel_unqueue(struct pr_usage *u, struct urel *rel)
{
	struct urel **pp, *prev = NULL;

	if (!rel->queued)
		return;
	for (pp = &u->retry_head; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == rel) {
			*pp = rel->next;
			if (u->retry_tail == rel)
				u->retry_tail = prev;
			break;
		}
	}
	rel->queued = 0;
	u->nretry--;
}

static void join_part(struct pr_usage *u, struct urel *rel, int rc)
{
	struct join *j = rel->join;

	rel->join = NULL;
	if (!j)
		return;
	if (rc < 0 && j->rc == 0)
		j->rc = rc;
	if (--j->pending == 0) {
		defer(u, j->cb, j->arg, j->rc);
		free(j);
	}
}

static void rel_cb(PGresult *res, const char *err, void *arg)
{
	struct uop *op = arg;
	struct pr_usage *u = op->u;
	struct urel *rel = op->rel;

	if (!u) {
		if (!res)
			log_release_lost("lost", rel, "usage tracker freed");
		if (rel->join && --rel->join->pending == 0)
			free(rel->join);
		free(rel);
		free(op);
		return;
	}
	op_unlink(u, op);
	free(op);
	rel->inflight = 0;
	if (res) {
		struct uent *e;

		u->st.db_releases++;
		e = ent_find(u, rel->channel, rel->scope, rel->day);
		if (e && PQntuples(res) == 1) {
			e->db_amount = cell_i64(res, 0, 0);
			e->db_count = cell_i64(res, 0, 1);
			e->db_seen = 1;
		}
		if (rel->attempts > 0)
			pr_info("usage: a queued release was written after "
				"%d attempts",
				rel->attempts);
		rel_unqueue(u, rel);
		join_part(u, rel, 0);
		free(rel);
	} else if (err_definite(err)) {
		rel->attempts++;
		if (rel->attempts == 1 || rel->attempts % 60 == 0) {
			char d[64];

			day_str(rel->day, d, sizeof(d));
			pr_warn("usage: release of channel %s day %s scope "
				"'%s' amount %lld failed (%s); retrying",
				rel->channel, d, rel->scope,
				(long long)rel->amount, err);
		}
		u->st.errors++;
		join_part(u, rel, -EAGAIN);
		rel_queue(u, rel);
	} else {
		log_release_lost("may not have been applied; not retried "
				 "(releasing twice could exceed the limit)",
				 rel, err ? err : "unknown");
		u->st.lost++;
		u->st.errors++;
		rel_unqueue(u, rel);
		join_part(u, rel, -EIO);
		free(rel);
	}
	check_flush_done(u);
}

static void rel_send(struct pr_usage *u, struct urel *rel)
{
	static const char sql[] =
		"SELECT * FROM pr_usage_release($1, DATE '1970-01-01' + "
		"$2::integer, $3, $4::bigint, $5::bigint)";
	char day[24], amount[24], count[24];
	const char *params[5] = { rel->channel, day, rel->scope, amount,
				  count };
	struct uop *op;

	snprintf(day, sizeof(day), "%lld", (long long)rel->day);
	snprintf(amount, sizeof(amount), "%lld", (long long)rel->amount);
	snprintf(count, sizeof(count), "%lld", (long long)rel->count);
	op = op_new(u, OP_RELEASE);
	if (op) {
		op->rel = rel;
		if (op_send(u, op, sql, 5, params, rel_cb) == 0) {
			rel->inflight = 1;
			return;
		}
		free(op);
	}
	/* Not sent: retry from the tick. */
	rel->attempts++;
	if (rel->attempts == 1) {
		char d[64];

		day_str(rel->day, d, sizeof(d));
		pr_warn("usage: release of channel %s day %s scope '%s' "
			"amount %lld queued (store unavailable)",
			rel->channel, d, rel->scope, (long long)rel->amount);
	}
	if (rel->join) {
		/* Keep the release_then promise: called from the loop. */
		join_part(u, rel, -EAGAIN);
	}
	rel_queue(u, rel);
}

/* A release of tok's part on one scope: to the lease, to the recorded
 * usage, or to the database. Returns 1 when it went to the database. */
static int release_part(struct pr_usage *u, const struct pr_usage_token *tok,
			const char *scope, int bank, struct join *j)
{
	struct uent *e = ent_find(u, tok->channel, scope, tok->day);

	if (e && e->lim_known && e->limited && !row_exact(u, e)) {
		e->lease_amount += tok->amount;
		e->lease_count += tok->count;
		e->last_use_ms = pr_now_ms();
		return 0;
	}
	if (e && e->lim_known && !e->limited && !bank) {
		e->pend_amount -= tok->amount;
		e->pend_count -= tok->count;
		if (u->draining)
			pend_flush(u, e);
		return 0;
	}
	if (j)
		j->pending++;
	db_release(u, tok->channel, scope, tok->day, tok->amount, tok->count, 0,
		   j);
	return 1;
}

int pr_usage_release_then(struct pr_usage *u, const struct pr_usage_token *tok,
			  pr_usage_done_cb cb, void *arg)
{
	struct join *j = NULL;

	if (!u || !tok)
		return -EINVAL;
	if (cb) {
		j = calloc(1, sizeof(*j));
		if (!j)
			return -ENOMEM;
		j->cb = cb;
		j->arg = arg;
		j->pending = 1; /* ours, dropped below */
	}
	release_part(u, tok, "", 0, j);
	if (tok->bank[0])
		release_part(u, tok, tok->bank, 1, j);
	if (j && --j->pending == 0) {
		defer(u, j->cb, j->arg, j->rc);
		free(j);
	}
	return 0;
}

void pr_usage_release(struct pr_usage *u, const struct pr_usage_token *tok)
{
	pr_usage_release_then(u, tok, NULL, NULL);
}

/* ----------------------------------------------------- recorded usage */

static void pend_cb(PGresult *res, const char *err, void *arg)
{
	struct uop *op = arg;
	struct pr_usage *u = op->u;
	struct uent *e = op->e;

	if (!u) {
		free(op);
		return;
	}
	op_unlink(u, op);
	e->pend_inflight = 0;
	ent_unref(e);
	if (res) {
		if (PQntuples(res) == 1) {
			int n = PQnfields(res);

			e->db_amount = cell_i64(res, 0, n - 2);
			e->db_count = cell_i64(res, 0, n - 1);
			e->db_seen = 1;
		}
		if (op->pend_a < 0)
			u->st.db_releases++;
	} else if (err_definite(err)) {
		e->pend_amount += op->pend_a;
		e->pend_count += op->pend_c;
		u->st.errors++;
	} else {
		char d[64];

		day_str(e->day, d, sizeof(d));
		pr_err("usage: recorded usage of channel %s day %s (amount "
		       "%lld count %lld) may not have been written (%s)",
		       e->channel, d, (long long)op->pend_a,
		       (long long)op->pend_c, err ? err : "unknown");
		u->st.lost++;
		u->st.errors++;
	}
	free(op);
	if (u->draining && (e->pend_amount || e->pend_count) && res)
		pend_flush(u, e);
	check_flush_done(u);
}

/* Writes e's recorded usage (net of releases). */
static void pend_flush(struct pr_usage *u, struct uent *e)
{
	static const char rsql[] =
		"SELECT * FROM pr_usage_reserve($1, DATE '1970-01-01' + "
		"$2::integer, $3, $4::bigint, $5::bigint, NULL, NULL, "
		"$4::bigint, $5::bigint)";
	static const char lsql[] =
		"SELECT * FROM pr_usage_release($1, DATE '1970-01-01' + "
		"$2::integer, $3, $4::bigint, $5::bigint)";
	char day[24], amount[24], count[24];
	const char *params[5] = { e->channel, day, e->scope, amount, count };
	int64_t a = e->pend_amount, c = e->pend_count;
	struct uop *op;
	int up;

	if (e->pend_inflight || (a == 0 && c == 0))
		return;
	/* Both move together; if they disagree write the positive part now
	 * and the rest next time. */
	up = a > 0 || (a == 0 && c > 0);
	if (up) {
		a = a > 0 ? a : 0;
		c = c > 0 ? c : 0;
	} else {
		a = a < 0 ? a : 0;
		c = c < 0 ? c : 0;
	}
	snprintf(day, sizeof(day), "%lld", (long long)e->day);
	snprintf(amount, sizeof(amount), "%lld", (long long)(up ? a : -a));
	snprintf(count, sizeof(count), "%lld", (long long)(up ? c : -c));
	op = op_new(u, OP_PEND);
	if (!op)
		return;
	op->e = e;
	op->pend_a = a;
	op->pend_c = c;
	if (op_send(u, op, up ? rsql : lsql, 5, params, pend_cb) < 0) {
		free(op);
		return; /* kept; the next tick tries again */
	}
	u->st.db_records++;
	e->pend_amount -= a;
	e->pend_count -= c;
	e->pend_inflight = 1;
	e->refs++;
}

/* --------------------------------------------------------- reservations */

static void wait_on(struct uent *e, struct ures *r)
{
	r->next = NULL;
	if (e->wait_tail)
		e->wait_tail->next = r;
	else
		e->wait_head = r;
	e->wait_tail = r;
}

static void wake(struct uent *e)
{
	struct ures *w = e->wait_head;

	e->wait_head = e->wait_tail = NULL;
	while (w) {
		struct ures *next = w->next;

		w->next = NULL;
		res_step(w);
		w = next;
	}
}

/* Gives back what r took locally (it was refused or failed). */
static void untake(struct ures *r)
{
	for (int i = 0; i < r->n; i++) {
		struct uent *e = r->e[i];

		if (r->took[i] == 1) {
			e->lease_amount += r->tok.amount;
			e->lease_count += r->tok.count;
		} else if (r->took[i] == 2) {
			e->pend_amount -= r->tok.amount;
			e->pend_count -= r->tok.count;
		}
		r->took[i] = 0;
	}
}

static int scope_limited(const struct ures *r, int i)
{
	return r->lim_a[i] != NONE || r->lim_c[i] != NONE;
}

static void res_cb(PGresult *res, const char *err, void *arg)
{
	struct uop *op = arg;
	struct pr_usage *u = op->u;
	struct ures *r = op->r;
	int rc, i;

	if (!u) {
		free(r);
		free(op);
		return;
	}
	op_unlink(u, op);
	free(op);
	for (i = 0; i < r->n; i++) {
		if (r->lease[i])
			r->e[i]->lease_inflight = 0;
	}
	if (!res) {
		u->st.errors++;
		pr_warn("usage: reservation on channel %s failed: %s",
			r->tok.channel, err ? err : "unknown");
		rc = -EIO;
	} else if (PQntuples(res) == 0) {
		u->st.refused++;
		rc = 0;
		for (i = 0; i < r->n; i++) {
			if (r->db[i])
				set_exact(u, r->e[i]);
		}
	} else {
		int nf = PQnfields(res);

		rc = 1;
		for (int row = 0; row < PQntuples(res); row++) {
			const char *sc = nf == 5 ? PQgetvalue(res, row, 0) :
						   NULL;
			int off = nf == 5 ? 1 : 0;
			struct uent *e = NULL;
			int64_t ga, gc;

			for (i = 0; i < r->n; i++) {
				if (!r->db[i])
					continue;
				if (!sc || strcmp(sc, r->e[i]->scope) == 0) {
					e = r->e[i];
					break;
				}
			}
			if (!e)
				continue;
			ga = cell_i64(res, row, off);
			gc = cell_i64(res, row, off + 1);
			e->db_amount = cell_i64(res, row, off + 2);
			e->db_count = cell_i64(res, row, off + 3);
			e->db_seen = 1;
			if (r->lease[i]) {
				int64_t now = pr_now_ms();

				if (e->lease_at_ms &&
				    now - e->lease_at_ms < LEASE_FAST_MS &&
				    e->mult < LEASE_MULT_MAX)
					e->mult *= 2;
				e->lease_at_ms = now;
			}
			e->lease_amount += ga - r->tok.amount;
			e->lease_count += gc - r->tok.count;
			update_mode(u, e);
			if (row_exact(u, e))
				return_lease(u, e);
		}
	}
	if (rc != 1)
		untake(r);
	for (i = 0; i < r->n; i++) {
		if (r->db[i])
			r->e[i]->refs++; /* held across wake below */
	}
	{
		struct uent *es[2] = { r->e[0], r->n > 1 ? r->e[1] : NULL };
		int dbs[2] = { r->db[0], r->n > 1 ? r->db[1] : 0 };

		res_finish(r, rc);
		for (i = 0; i < 2; i++) {
			if (es[i] && dbs[i]) {
				wake(es[i]);
				ent_unref(es[i]);
			}
		}
	}
	check_flush_done(u);
}

static void array_text(char *buf, size_t len, struct ures *r, int which)
{
	size_t off = 0;
	int first = 1;

	off += (size_t)snprintf(buf + off, len - off, "{");
	for (int i = 0; i < r->n && off < len; i++) {
		if (!r->db[i])
			continue;
		if (!first)
			off += (size_t)snprintf(buf + off, len - off, ",");
		first = 0;
		if (off >= len)
			break;
		if (which == 0) {
			/* scope codes: quoted, \ and " escaped */
			const char *s = r->e[i]->scope;

			off += (size_t)snprintf(buf + off, len - off, "\"");
			for (; *s && off + 3 < len; s++) {
				if (*s == '"' || *s == '\\')
					buf[off++] = '\\';
				buf[off++] = *s;
			}
			if (off < len)
				off += (size_t)snprintf(buf + off, len - off,
							"\"");
		} else {
			int64_t v = which == 1 ? r->lim_a[i] : r->lim_c[i];

			if (v == NONE)
				off += (size_t)snprintf(buf + off, len - off,
							"NULL");
			else
				off += (size_t)snprintf(buf + off, len - off,
							"%lld", (long long)v);
		}
	}
	if (off < len)
		snprintf(buf + off, len - off, "}");
}

static void res_send(struct ures *r)
{
	static const char one_sql[] =
		"SELECT * FROM pr_usage_reserve($1, DATE '1970-01-01' + "
		"$2::integer, $3, $4::bigint, $5::bigint, $6::bigint, "
		"$7::bigint, $8::bigint, $9::bigint)";
	static const char multi_sql[] =
		"SELECT * FROM pr_usage_reserve_multi($1, DATE '1970-01-01' + "
		"$2::integer, $3::text[], $4::bigint, $5::bigint, "
		"$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])";
	struct pr_usage *u = r->u;
	char day[24], amount[24], count[24], la[24], lc[24], wa[48], wc[48];
	char scopes[2 * PR_USAGE_CODE_MAX * 2 + 16], las[64], lcs[64];
	const char *params[9];
	int64_t want_a[2] = { 0, 0 }, want_c[2] = { 0, 0 };
	int ndb = 0, one = -1, rc;
	struct uop *op;

	for (int i = 0; i < r->n; i++) {
		struct uent *e = r->e[i];

		if (!r->db[i])
			continue;
		ndb++;
		one = i;
		if (row_exact(u, e)) {
			want_a[i] = r->tok.amount;
			want_c[i] = r->tok.count;
		} else {
			lease_want(u, e, r->tok.amount, &want_a[i], &want_c[i]);
			e->lease_inflight = 1;
			r->lease[i] = 1;
		}
	}
	snprintf(day, sizeof(day), "%lld", (long long)r->tok.day);
	snprintf(amount, sizeof(amount), "%lld", (long long)r->tok.amount);
	snprintf(count, sizeof(count), "%lld", (long long)r->tok.count);
	params[0] = r->tok.channel;
	params[1] = day;
	params[3] = amount;
	params[4] = count;
	if (ndb == 1) {
		params[2] = r->e[one]->scope;
		snprintf(la, sizeof(la), "%lld", (long long)r->lim_a[one]);
		snprintf(lc, sizeof(lc), "%lld", (long long)r->lim_c[one]);
		params[5] = r->lim_a[one] == NONE ? NULL : la;
		params[6] = r->lim_c[one] == NONE ? NULL : lc;
		snprintf(wa, sizeof(wa), "%lld", (long long)want_a[one]);
		snprintf(wc, sizeof(wc), "%lld", (long long)want_c[one]);
	} else {
		array_text(scopes, sizeof(scopes), r, 0);
		array_text(las, sizeof(las), r, 1);
		array_text(lcs, sizeof(lcs), r, 2);
		params[2] = scopes;
		params[5] = las;
		params[6] = lcs;
		snprintf(wa, sizeof(wa), "{%lld,%lld}", (long long)want_a[0],
			 (long long)want_a[1]);
		snprintf(wc, sizeof(wc), "{%lld,%lld}", (long long)want_c[0],
			 (long long)want_c[1]);
	}
	params[7] = wa;
	params[8] = wc;
	op = op_new(u, OP_RESERVE);
	rc = -ENOMEM;
	if (op) {
		op->r = r;
		rc = op_send(u, op, ndb == 1 ? one_sql : multi_sql, 9, params,
			     res_cb);
		if (rc == 0) {
			u->st.db_reserves++;
			return;
		}
		free(op);
	}
	/* Not sent. */
	for (int i = 0; i < r->n; i++) {
		if (r->lease[i]) {
			r->e[i]->lease_inflight = 0;
			r->lease[i] = 0;
		}
	}
	untake(r);
	u->st.errors++;
	rc = rc == -ENOMEM ? -ENOMEM : -EAGAIN;
	/* Reservations waiting behind a lease request that never left fail
	 * the same way (failing them here, not re-stepping them, keeps the
	 * stack flat when the store is down). */
	for (int i = 0; i < r->n; i++) {
		struct uent *e = r->e[i];
		struct ures *w = e->wait_head, *next;

		e->wait_head = e->wait_tail = NULL;
		for (; w; w = next) {
			next = w->next;
			u->st.errors++;
			res_finish(w, rc);
		}
	}
	res_finish(r, rc);
}

/* Takes what the leases cover, asks the database for the rest, or waits
 * for a lease request in flight. */
static void res_step(struct ures *r)
{
	struct pr_usage *u = r->u;
	int need_db = 0, i;

	for (i = 0; i < r->n; i++) {
		struct uent *e = r->e[i];

		r->db[i] = 0;
		r->lease[i] = 0;
		if (!scope_limited(r, i))
			continue;
		if (row_exact(u, e)) {
			r->db[i] = 1;
			need_db = 1;
			continue;
		}
		if (e->lease_amount >= r->tok.amount &&
		    e->lease_count >= r->tok.count)
			continue;
		if (e->lease_inflight) {
			wait_on(e, r);
			return;
		}
		r->db[i] = 1;
		need_db = 1;
	}
	for (i = 0; i < r->n; i++) {
		struct uent *e = r->e[i];

		if (r->db[i] || r->took[i])
			continue;
		if (scope_limited(r, i)) {
			e->lease_amount -= r->tok.amount;
			e->lease_count -= r->tok.count;
			r->took[i] = 1;
		} else {
			e->pend_amount += r->tok.amount;
			e->pend_count += r->tok.count;
			r->took[i] = 2;
			if (u->draining)
				pend_flush(u, e);
		}
	}
	if (!need_db) {
		u->st.local_grants++;
		res_finish(r, 1);
		return;
	}
	res_send(r);
}

/* Applies the config's limits to e; a change returns the lease (a lowered
 * limit then applies to the next grant). */
static void ent_limits(struct pr_usage *u, struct uent *e, int64_t la,
		       int64_t lc)
{
	if (e->lim_known && e->lim_amount == la && e->lim_count == lc)
		return;
	if (e->lim_known) {
		char d[64];

		day_str(e->day, d, sizeof(d));
		pr_info("usage: %s/%s/%s: limits changed", e->channel, d,
			e->scope);
		return_lease(u, e);
		e->exact = 0;
		e->mult = 1;
	}
	e->lim_known = 1;
	e->lim_amount = la;
	e->lim_count = lc;
	e->limited = la != NONE || lc != NONE;
}

int pr_usage_reserve(struct pr_usage *u, const char *channel,
		     const struct pr_tz *tz, const struct pr_usage_limits *lim,
		     int64_t amount, int64_t now_ms, pr_usage_cb cb, void *arg)
{
	struct ures *r;
	const char *scopes[2] = { "", NULL };
	int created;

	if (!u || !channel || !lim || !cb || amount < 0 || !channel[0])
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->u = u;
	r->cb = cb;
	r->arg = arg;
	if (copy_code(r->tok.channel, channel) < 0)
		goto inval;
	r->tok.day = pr_usage_day(tz, now_ms);
	r->tok.amount = amount;
	r->tok.count = 1;
	r->n = 1;
	r->lim_a[0] = lim->daily_amount > 0 ? lim->daily_amount : NONE;
	r->lim_c[0] = lim->daily_count > 0 ? lim->daily_count : NONE;
	if (lim->bank && lim->bank[0] && lim->bank_daily_amount > 0) {
		if (copy_code(r->tok.bank, lim->bank) < 0)
			goto inval;
		scopes[1] = r->tok.bank;
		r->lim_a[1] = lim->bank_daily_amount;
		r->lim_c[1] = NONE;
		r->n = 2;
	}
	for (int i = 0; i < r->n; i++) {
		struct uent *e =
			ent_get(u, channel, scopes[i], r->tok.day, &created);

		if (!e) {
			for (int k = 0; k < i; k++)
				ent_unref(r->e[k]);
			free(r);
			return -ENOMEM;
		}
		if (created) {
			/* A new day: the day before gives its lease back. */
			struct uent *old =
				ent_find(u, channel, scopes[i], r->tok.day - 1);

			if (old) {
				return_lease(u, old);
				pend_flush(u, old);
			}
		}
		ent_limits(u, e, r->lim_a[i], r->lim_c[i]);
		e->refs++;
		e->last_use_ms = pr_now_ms();
		e->avg = e->avg > 0 ? e->avg * 0.95 + (double)amount * 0.05 :
				      (double)amount;
		r->e[i] = e;
	}
	u->st.reserves++;
	res_step(r);
	return 0;
inval:
	free(r);
	return -EINVAL;
}

/* -------------------------------------------------------------- flush */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pr_usage *u = arg;
	int64_t now = pr_now_ms();
	int64_t old_day = floor_div(now, 86400000) - 2;
	int sent = 0;

	(void)fd;
	(void)what;
	for (size_t b = 0; b < u->ents.nb; b++) {
		struct uent *e = u->ents.b[b], *next;

		for (; e; e = next) {
			next = e->hnext;
			if (e->pend_amount || e->pend_count)
				pend_flush(u, e);
			if ((e->lease_amount > 0 || e->lease_count > 0) &&
			    !e->lease_inflight && !e->wait_head &&
			    now - e->last_use_ms >= u->o.idle_return_ms) {
				return_lease(u, e);
				e->mult = 1;
			}
			if (e->refs == 0 && e->day < old_day &&
			    !e->lease_amount && !e->lease_count &&
			    !e->pend_amount && !e->pend_count &&
			    !e->pend_inflight && !e->lease_inflight &&
			    !e->wait_head)
				ent_free(u, e);
		}
	}
	if (!u->refreshing && !u->draining && pr_db_ready(u->db) &&
	    load_send(u, now, 1, NULL, NULL) == 0) {
		u->refreshing = 1;
		u->st.db_refreshes++;
	}
	for (struct urel *r = u->retry_head; r && sent < RETRY_PER_TICK;) {
		struct urel *next = r->next;

		if (!r->inflight) {
			rel_send(u, r);
			sent++;
		}
		r = next;
	}
}

int pr_usage_flush(struct pr_usage *u, pr_usage_done_cb cb, void *arg)
{
	if (!u)
		return -EINVAL;
	if (u->flush_cb)
		return -EBUSY;
	u->draining = 1;
	u->flush_cb = cb;
	u->flush_arg = arg;
	/* Do not let the kick below finish before the work is queued. */
	u->flush_armed = 1;
	for (size_t b = 0; b < u->ents.nb; b++) {
		for (struct uent *e = u->ents.b[b]; e; e = e->hnext) {
			if (!e->lease_inflight)
				return_lease(u, e);
			pend_flush(u, e);
		}
	}
	for (struct urel *r = u->retry_head; r;) {
		struct urel *next = r->next;

		if (!r->inflight)
			rel_send(u, r);
		r = next;
	}
	u->flush_armed = 0;
	done_kick(u);
	return 0;
}

/* -------------------------------------------------------- success rate */

static struct srate *rate_find(const struct pr_usage *u, const char *channel)
{
	uint32_t h = hash_str(2166136261u, channel);

	if (!u->rates.nb)
		return NULL;
	for (struct srate *s = u->rates.b[h & (u->rates.nb - 1)]; s;
	     s = s->hnext) {
		if (s->hash == h && strcmp(s->channel, channel) == 0)
			return s;
	}
	return NULL;
}

void pr_usage_outcome(struct pr_usage *u, const char *channel, int success,
		      int64_t now_ms)
{
	struct srate *s;
	int64_t idx;
	int b;

	if (!u || !channel)
		return;
	s = rate_find(u, channel);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		if (copy_code(s->channel, channel) < 0) {
			free(s);
			return;
		}
		s->hash = hash_str(2166136261u, channel);
		for (int i = 0; i < SR_BUCKETS; i++)
			s->idx[i] = INT64_MIN;
		if (htab_add(&u->rates, s) < 0) {
			free(s);
			return;
		}
	}
	idx = floor_div(now_ms, SR_BUCKET_MS);
	b = (int)(((idx % SR_BUCKETS) + SR_BUCKETS) % SR_BUCKETS);
	if (s->idx[b] != idx) {
		s->idx[b] = idx;
		s->ok[b] = s->n[b] = 0;
	}
	s->n[b]++;
	if (success)
		s->ok[b]++;
}

double pr_usage_success_rate(const struct pr_usage *u, const char *channel,
			     int64_t now_ms)
{
	const struct srate *s;
	int64_t idx;
	uint64_t ok = 0, n = 0;

	if (!u || !channel)
		return -1;
	s = rate_find(u, channel);
	if (!s)
		return -1;
	idx = floor_div(now_ms, SR_BUCKET_MS);
	for (int i = 0; i < SR_BUCKETS; i++) {
		if (s->idx[i] > idx - SR_BUCKETS && s->idx[i] <= idx) {
			ok += s->ok[i];
			n += s->n[i];
		}
	}
	return n ? (double)ok / (double)n : -1;
}

/* -------------------------------------------------------------- today */

int pr_usage_today_scope(const struct pr_usage *u, const char *channel,
			 const char *scope, const struct pr_tz *tz,
			 int64_t now_ms, int64_t *amount, int64_t *count)
{
	int64_t unused_amount, unused_count;
	const struct uent *e;
	int64_t a, c;

	if (!amount)
		amount = &unused_amount;
	if (!count)
		count = &unused_count;
	*amount = *count = 0;
	if (!u || !channel)
		return 0;
	e = ent_find(u, channel, scope ? scope : "", pr_usage_day(tz, now_ms));
	if (!e || (!e->db_seen && !e->pend_amount && !e->pend_count &&
		   !e->lease_inflight))
		return 0;
	a = e->db_amount - e->lease_amount + e->pend_amount;
	c = e->db_count - e->lease_count + e->pend_count;
	*amount = a > 0 ? a : 0;
	*count = c > 0 ? c : 0;
	return 1;
}

int pr_usage_today(const struct pr_usage *u, const char *channel,
		   const struct pr_tz *tz, int64_t now_ms, int64_t *amount,
		   int64_t *count)
{
	return pr_usage_today_scope(u, channel, "", tz, now_ms, amount, count);
}

static void load_cb(PGresult *res, const char *err, void *arg)
{
	struct uop *op = arg;
	struct pr_usage *u = op->u;
	int rc = 0;

	if (!u) {
		free(op);
		return;
	}
	op_unlink(u, op);
	if (op->refresh) {
		u->refreshing = 0;
		if (res)
			u->refreshed_ms = op->sent_ms;
	}
	if (res) {
		for (int i = 0; i < PQntuples(res); i++) {
			int created;
			struct uent *e;

			if (PQgetlength(res, i, 0) >= PR_USAGE_CODE_MAX ||
			    PQgetlength(res, i, 1) >= PR_USAGE_CODE_MAX)
				continue;
			e = ent_get(u, PQgetvalue(res, i, 0),
				    PQgetvalue(res, i, 1), cell_i64(res, i, 2),
				    &created);
			if (!e) {
				rc = -ENOMEM;
				break;
			}
			e->db_amount = cell_i64(res, i, 3);
			e->db_count = cell_i64(res, i, 4);
			e->db_seen = 1;
		}
	} else if (!op->refresh) {
		pr_warn("usage: cannot read today's usage: %s",
			err ? err : "unknown");
		rc = -EIO;
	}
	if (op->cb)
		defer(u, op->cb, op->arg, rc);
	free(op);
	check_flush_done(u);
}

static int load_send(struct pr_usage *u, int64_t now_ms, int refresh,
		     pr_usage_done_cb cb, void *arg)
{
	static const char sql[] =
		"SELECT channel, scope, (day - DATE '1970-01-01')::bigint, "
		"amount, count FROM channel_daily_usage WHERE day BETWEEN "
		"DATE '1970-01-01' + $1::integer - 1 AND "
		"DATE '1970-01-01' + $1::integer + 1";
	char day[24];
	const char *params[1] = { day };
	struct uop *op;
	int rc;

	snprintf(day, sizeof(day), "%lld",
		 (long long)floor_div(now_ms, 86400000));
	op = op_new(u, OP_LOAD);
	if (!op)
		return -ENOMEM;
	op->cb = cb;
	op->arg = arg;
	op->refresh = refresh;
	op->sent_ms = now_ms;
	rc = op_send(u, op, sql, 1, params, load_cb);
	if (rc < 0)
		free(op);
	return rc;
}

int pr_usage_load_today(struct pr_usage *u, int64_t now_ms, pr_usage_done_cb cb,
			void *arg)
{
	if (!u || !cb)
		return -EINVAL;
	return load_send(u, now_ms, 0, cb, arg);
}

int64_t pr_usage_as_of(const struct pr_usage *u)
{
	return u ? u->refreshed_ms : 0;
}

/* ---------------------------------------------------------- lifecycle */

struct pr_usage *pr_usage_new(struct event_base *base, struct pr_db *db,
			      const struct pr_usage_opts *o)
{
	struct pr_usage *u = calloc(1, sizeof(*u));
	struct timeval tv;

	if (!u)
		return NULL;
	u->base = base;
	u->db = db;
	if (o)
		u->o = *o;
	if (u->o.lease_payments <= 0)
		u->o.lease_payments = 20;
	if (u->o.idle_return_ms <= 0)
		u->o.idle_return_ms = 5000;
	if (u->o.flush_ms <= 0)
		u->o.flush_ms = 1000;
	if (u->o.min_lease_amount < 0)
		u->o.min_lease_amount = 0;
	u->ev_done = event_new(base, -1, 0, done_cb, u);
	u->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, u);
	if (!u->ev_done || !u->ev_tick)
		goto fail;
	tv.tv_sec = u->o.flush_ms / 1000;
	tv.tv_usec = (u->o.flush_ms % 1000) * 1000;
	if (event_add(u->ev_tick, &tv) < 0)
		goto fail;
	return u;
fail:
	if (u->ev_done)
		event_free(u->ev_done);
	if (u->ev_tick)
		event_free(u->ev_tick);
	free(u);
	return NULL;
}

static void usage_destroy(struct pr_usage *u)
{
	size_t leases = 0;

	for (struct uop *op = u->ops; op; op = op->next)
		op->u = NULL; /* their callbacks only free memory now */
	while (u->retry_head) {
		struct urel *r = u->retry_head;

		u->retry_head = r->next;
		if (!r->inflight) {
			log_release_lost("lost at exit", r,
					 "still queued for retry");
			free(r->join);
			free(r);
		} else {
			r->queued = 0; /* the orphaned op frees it */
		}
	}
	for (size_t b = 0; b < u->ents.nb; b++) {
		struct uent *e = u->ents.b[b], *next;

		for (; e; e = next) {
			struct ures *w = e->wait_head, *wn;

			next = e->hnext;
			if (e->lease_amount > 0 || e->lease_count > 0)
				leases++;
			if (e->pend_amount || e->pend_count) {
				char d[64];

				day_str(e->day, d, sizeof(d));
				pr_err("usage: recorded usage of channel %s "
				       "day %s (amount %lld count %lld) not "
				       "written at exit",
				       e->channel, d, (long long)e->pend_amount,
				       (long long)e->pend_count);
			}
			for (; w; w = wn) {
				wn = w->next;
				free(w);
			}
			free(e);
		}
	}
	if (leases)
		pr_warn("usage: %zu unspent leases not returned at exit (held "
			"until the end of their day)",
			leases);
	free(u->ents.b);
	for (size_t b = 0; b < u->rates.nb; b++) {
		struct srate *s = u->rates.b[b], *next;

		for (; s; s = next) {
			next = s->hnext;
			free(s);
		}
	}
	free(u->rates.b);
	while (u->done_head) {
		struct ures *r = u->done_head;

		u->done_head = r->next;
		free(r);
	}
	while (u->defer_head) {
		struct udefer *d = u->defer_head;

		u->defer_head = d->next;
		free(d);
	}
	event_free(u->ev_done);
	event_free(u->ev_tick);
	free(u);
}

void pr_usage_free(struct pr_usage *u)
{
	if (!u)
		return;
	if (u->depth > 0) {
		u->free_pending = 1;
		return;
	}
	usage_destroy(u);
}

void pr_usage_get_stats(const struct pr_usage *u, struct pr_usage_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!u)
		return;
	*st = u->st;
	st->retry_queued = u->nretry;
	st->rows = u->ents.n;
}
