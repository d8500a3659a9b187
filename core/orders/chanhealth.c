/*
 * chanhealth.c - the success-rate estimates and the circuit breakers as
 * the order path feeds and reads them (chanhealth.h, doc/design.md §4).
 *
 * The decisions are domain/'s (srate.c, breaker.c); this file sorts a
 * call's end into what the breaker counts, logs and publishes every
 * transition, and keeps the instances in agreement through table
 * channel_breakers (migration 013):
 *
 *  - a transition made here (the failures seen by this instance, a probe's
 *    outcome, a cool-down that ended, an operator's force) is upserted
 *    with its start time (ms) and appended to audit_log in one statement;
 *    a row only ever moves to a later start, so two instances racing keep
 *    the later decision;
 *  - the same statement announces it (NOTIFY payroute_breakers, at
 *    commit); every other instance then reads the table and takes each
 *    row later than the local state of its channel (pr_brk_adopt), and
 *    logs it; the table is also read whenever the LISTEN connection is
 *    (re-)established, start-up included.
 *
 * So a channel that fails for one instance is out of routing for all of
 * them as soon as the notification arrives, and an operator's force
 * reaches every instance the same way. Counting failures in the store
 * instead (one row per call) would put a write on every channel call, and
 * polling the table would cost every instance a statement a second; a
 * transition is rare.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "orders/chanhealth.h"
#include "orders/ordstore.h"

/* A channel of the viewed catalogue: its breaker and estimates, or NULL
 * for none yet. */
struct view_ent {
	struct pr_brk *brk;
	const struct pr_sr_chan *sr;
};

struct pr_health {
	struct pr_daemon *d;
	struct pr_srate *sr;
	struct pr_breakers *brk;
	/* by catalogue index, for generation view_gen, as of the two
	 * tables' epochs view_sr and view_brk */
	struct view_ent *view;
	size_t n_view;
	uint64_t view_gen, view_sr, view_brk;
	int syncing; /* the read of channel_breakers is in flight */
	int again;   /* another was asked for meanwhile */
	int dead;    /* freed while it was: its callback frees */
};

void pr_health_cfg(const struct pr_config *cfg, struct pr_srate_cfg *sr,
		   struct pr_brk_cfg *bk)
{
	sr->half_life_ms = (int64_t)cfg->sr_half_life_s * 1000;
	sr->min_n = cfg->sr_min_outcomes;
	bk->failures = cfg->brk_failures;
	bk->window_ms = (int64_t)cfg->brk_window_s * 1000;
	bk->cooldown_ms = (int64_t)cfg->brk_cooldown_s * 1000;
	bk->probe_interval_ms = cfg->brk_probe_interval_ms;
}

/* ------------------------------------------------------------ publish */

static const char publish_sql[] =
	"WITH u AS (INSERT INTO channel_breakers AS t (channel, state, since_ms, "
	"reason, actor, updated_at) "
	"SELECT $1, $2, $3::bigint, $4, $5, now() "
	"WHERE EXISTS (SELECT 1 FROM channels WHERE code = $1) "
	"ON CONFLICT (channel) DO UPDATE SET state = EXCLUDED.state, "
	"since_ms = EXCLUDED.since_ms, reason = EXCLUDED.reason, "
	"actor = EXCLUDED.actor, updated_at = now() "
	"WHERE t.since_ms < EXCLUDED.since_ms RETURNING 1), "
	"a AS (INSERT INTO audit_log (actor, action, object_kind, object_id, "
	"before, after, note) SELECT $5, 'breaker_' || $2, 'channel', $1, "
	"jsonb_build_object('state', $6::text), "
	"jsonb_build_object('state', $2::text, 'since_ms', $3::bigint), $4 "
	"FROM u RETURNING 1) "
	"SELECT pg_notify('" PR_BREAKERS_NOTIFY_CHANNEL "', $1) FROM a";

struct pub {
	char channel[65], state[16];
};

static void on_published(PGresult *res, const char *err, void *arg)
{
	struct pub *p = arg;

	if (!res)
		pr_warn("channel %s: breaker %s not written to the store (other "
			"instances learn it from their own calls): %s",
			p->channel, p->state, err ? err : "?");
	free(p);
}

/* Logs the newest transition of b and writes it to the store. */
static void publish(struct pr_health *h, const char *channel,
		    const struct pr_brk *b)
{
	const struct pr_brk_change *c = pr_brk_last(b);
	const char *p[6];
	char since[24];
	struct pub *q;

	if (!c)
		return;
	pr_log(c->to == PR_BRK_OPEN ? PAYROUTE_LOG_WARN : PAYROUTE_LOG_INFO,
	       "channel %s: breaker %s -> %s (%s; by %s)", channel,
	       pr_brk_state_name(c->from), pr_brk_state_name(c->to), c->reason,
	       c->actor);
	q = calloc(1, sizeof(*q));
	if (!q)
		return;
	snprintf(q->channel, sizeof(q->channel), "%s", channel);
	snprintf(q->state, sizeof(q->state), "%s", pr_brk_state_name(c->to));
	snprintf(since, sizeof(since), "%lld", (long long)c->at_ms);
	p[0] = channel;
	p[1] = pr_brk_state_name(c->to);
	p[2] = since;
	p[3] = c->reason;
	p[4] = c->actor;
	p[5] = pr_brk_state_name(c->from);
	if (!h->d->db ||
	    pr_db_query(h->d->db, publish_sql, 6, p, on_published, q) < 0)
		on_published(NULL, "store unavailable", q);
}

/* --------------------------------------------------------------- sync */

static void sync(struct pr_health *h);

static void on_synced(PGresult *res, const char *err, void *arg)
{
	struct pr_health *h = arg;

	h->syncing = 0;
	if (h->dead) {
		pr_srate_free(h->sr);
		pr_breakers_free(h->brk);
		free(h->view);
		free(h);
		return;
	}
	if (!res)
		pr_warn("breakers: channel_breakers not read (another "
			"instance's decisions wait for the next one): %s",
			err ? err : "?");
	for (int i = 0; res && i < PQntuples(res); i++) {
		const char *ch = PQgetvalue(res, i, 0);
		const char *st = PQgetvalue(res, i, 1);
		enum pr_brk_state to;
		struct pr_brk *b;
		char why[160];

		if (strcmp(st, "open") == 0)
			to = PR_BRK_OPEN;
		else if (strcmp(st, "half_open") == 0)
			to = PR_BRK_HALF_OPEN;
		else
			to = PR_BRK_CLOSED;
		b = pr_breakers_get(h->brk, ch, to != PR_BRK_CLOSED);
		if (!b)
			continue;
		snprintf(why, sizeof(why), "from the store: %s",
			 PQgetvalue(res, i, 3));
		if (pr_brk_adopt(b, to, pr_col_i64(res, i, 2),
				 PQgetvalue(res, i, 4), why) == 1)
			pr_log(to == PR_BRK_OPEN ? PAYROUTE_LOG_WARN :
						   PAYROUTE_LOG_INFO,
			       "channel %s: breaker -> %s as another instance "
			       "decided (%s; by %s)",
			       ch, st, PQgetvalue(res, i, 3),
			       PQgetvalue(res, i, 4));
	}
	if (h->again) {
		h->again = 0;
		sync(h);
	}
}

/* Reads channel_breakers (one read at a time; one asked for meanwhile
 * runs after it). */
static void sync(struct pr_health *h)
{
	if (h->syncing) {
		h->again = 1;
		return;
	}
	if (pr_db_query(h->d->db,
			"SELECT channel, state, since_ms, reason, actor "
			"FROM channel_breakers",
			0, NULL, on_synced, h) == 0)
		h->syncing = 1;
}

/* A transition announced by an instance (payload: the channel), or the
 * LISTEN connection (re-)established (channel NULL: announcements may
 * have been missed). This instance's own are known already. */
static void on_notify(const char *channel, const char *payload, int backend_pid,
		      void *arg)
{
	struct pr_health *h = arg;

	(void)payload;
	if (h->dead || !h->d->db ||
	    (channel && pr_db_own_backend(h->d->db, backend_pid)))
		return;
	sync(h);
}

int pr_health_listen(struct pr_health *h)
{
	if (!h || !h->d->db)
		return -EINVAL;
	return pr_db_listen(h->d->db, PR_BREAKERS_NOTIFY_CHANNEL, on_notify, h);
}

struct pr_health *pr_health_new(struct pr_daemon *d)
{
	struct pr_health *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->d = d;
	h->sr = pr_srate_new();
	h->brk = pr_breakers_new();
	if (!h->sr || !h->brk) {
		pr_srate_free(h->sr);
		pr_breakers_free(h->brk);
		free(h);
		return NULL;
	}
	return h;
}

void pr_health_free(struct pr_health *h)
{
	if (!h)
		return;
	if (h->syncing) {
		h->dead = 1;
		return;
	}
	pr_srate_free(h->sr);
	pr_breakers_free(h->brk);
	free(h->view);
	free(h);
}

/* ------------------------------------------------------------- events */

void pr_health_call(struct pr_health *h, const struct pr_config *cfg,
		    const char *channel, const struct pr_call *c)
{
	struct pr_srate_cfg sc;
	struct pr_brk_cfg bc;
	enum pr_brk_event ev = PR_BRK_EV_OK;
	const char *what = c->code ? c->code->unified : "";
	struct pr_brk *b;

	if (!h || !channel || !channel[0])
		return;
	switch (c->end) {
	case PR_CALL_TIMEOUT:
	case PR_CALL_NOT_SENT:
	case PR_CALL_BAD_ANSWER:
		ev = PR_BRK_EV_FAIL;
		break;
	case PR_CALL_ANSWER:
		if (c->code && c->code->effect == PAYROUTE_EFFECT_FAILED &&
		    (c->code->category == PAYROUTE_CAT_CHANNEL ||
		     c->code->category == PAYROUTE_CAT_SYSTEM))
			ev = PR_BRK_EV_FAIL;
		break;
	default:
		return; /* nothing reached the channel: says nothing of it */
	}
	b = pr_breakers_get(h->brk, channel, ev == PR_BRK_EV_FAIL);
	if (!b)
		return;
	pr_health_cfg(cfg, &sc, &bc);
	if (pr_brk_record(b, &bc, ev, what, pr_now_ms()) == 1)
		publish(h, channel, b);
}

void pr_health_outcome(struct pr_health *h, const struct pr_config *cfg,
		       const char *channel, const char *method,
		       const char *environment, const char *bank, int success)
{
	struct pr_srate_cfg sc;
	struct pr_brk_cfg bc;

	if (!h || !channel || !channel[0])
		return;
	pr_health_cfg(cfg, &sc, &bc);
	if (pr_srate_record(h->sr, &sc, channel, method, environment, bank,
			    success, pr_now_ms()) < 0)
		pr_warn("channel %s: an outcome not counted in the success "
			"rate: out of memory",
			channel);
}

void pr_health_req(struct pr_health *h, const struct pr_config *cfg,
		   struct pr_route_req *rq)
{
	struct pr_brk_cfg bc;

	rq->srate = h ? h->sr : NULL;
	pr_health_cfg(cfg, &rq->srate_cfg, &bc);
}

/* The view of gen's catalogue, (re)built when another generation asks
 * or either table's epoch moved; NULL when out of memory. */
static const struct view_ent *view(struct pr_health *h,
				   const struct pr_generation *gen)
{
	const struct pr_catalogue *cat = &gen->cat;
	uint64_t es = pr_srate_epoch(h->sr), eb = pr_breakers_epoch(h->brk);

	if (h->view && h->view_gen == gen->id && h->n_view == cat->n_chans &&
	    h->view_sr == es && h->view_brk == eb)
		return h->view;
	if (h->n_view != cat->n_chans || !h->view) {
		struct view_ent *v =
			realloc(h->view,
				(cat->n_chans ? cat->n_chans : 1) * sizeof(*v));

		if (!v)
			return NULL;
		h->view = v;
		h->n_view = cat->n_chans;
	}
	for (size_t i = 0; i < cat->n_chans; i++) {
		h->view[i].brk = pr_breakers_get(h->brk, cat->chans[i].code, 0);
		h->view[i].sr = pr_srate_chan(h->sr, cat->chans[i].code);
	}
	h->view_gen = gen->id;
	h->view_sr = es;
	h->view_brk = eb;
	return h->view;
}

void pr_health_fill(struct pr_health *h, const struct pr_config *cfg,
		    const struct pr_generation *gen, size_t i, int64_t now_ms,
		    struct pr_chan_usage *u)
{
	const struct view_ent *v;
	struct pr_srate_cfg sc;
	struct pr_brk_cfg bc;
	int changed = 0;

	u->breaker = PR_BRK_ROUTE_ANY;
	u->sr = NULL;
	u->sr_known = 0;
	if (!h || i >= gen->cat.n_chans)
		return;
	v = view(h, gen);
	if (!v)
		return; /* out of memory: the router looks up by code */
	u->sr = v[i].sr;
	u->sr_known = 1;
	if (!v[i].brk)
		return;
	pr_health_cfg(cfg, &sc, &bc);
	u->breaker = pr_brk_route(v[i].brk, &bc, now_ms, &changed);
	if (changed)
		publish(h, gen->cat.chans[i].code, v[i].brk);
}

static int in_catalogue(const char *channel, void *arg)
{
	return pr_catalogue_find(arg, channel) >= 0;
}

size_t pr_health_catalogue(struct pr_health *h, const struct pr_generation *gen)
{
	size_t n;

	if (!h)
		return 0;
	n = pr_srate_retain(h->sr, in_catalogue, (void *)&gen->cat);
	if (n)
		pr_info("success rates: the estimates of %zu channel%s no "
			"longer in the catalogue forgotten",
			n, n == 1 ? "" : "s");
	return n;
}

void pr_health_routed(struct pr_health *h, const struct pr_catalogue *cat,
		      const struct pr_route_result *res)
{
	struct pr_brk *b;

	if (!h || !res->probe || res->chosen < 0 ||
	    (size_t)res->chosen >= cat->n_chans)
		return;
	b = pr_breakers_get(h->brk, cat->chans[res->chosen].code, 0);
	if (!b)
		return;
	pr_brk_probe_sent(b, pr_now_ms());
	pr_info("channel %s: breaker half open: a probe sent",
		cat->chans[res->chosen].code);
}

int pr_health_force(struct pr_health *h, const struct pr_config *cfg,
		    const char *channel, const char *state, const char *actor,
		    const char *note)
{
	enum pr_brk_state to;
	struct pr_brk *b;
	char why[112];
	int rc;

	(void)cfg;
	if (strcmp(state, "closed") == 0)
		to = PR_BRK_CLOSED;
	else if (strcmp(state, "open") == 0)
		to = PR_BRK_OPEN;
	else
		return -EINVAL;
	b = pr_breakers_get(h->brk, channel, 1);
	if (!b)
		return -ENOMEM;
	snprintf(why, sizeof(why), "forced by an operator%s%s",
		 note && note[0] ? ": " : "", note ? note : "");
	rc = pr_brk_force(b, to, actor, why, pr_now_ms());
	if (rc == 1)
		publish(h, channel, b);
	return rc;
}

json_t *pr_health_breaker_json(struct pr_health *h, const struct pr_config *cfg,
			       const char *channel)
{
	static const struct pr_brk closed = { 0 };
	struct pr_srate_cfg sc;
	struct pr_brk_cfg bc;
	struct pr_brk *b = h ? pr_breakers_get(h->brk, channel, 0) : NULL;

	pr_health_cfg(cfg, &sc, &bc);
	return pr_brk_json(b ? b : &closed, &bc, pr_now_ms());
}

struct wr {
	void (*out)(void *arg, const char *s, size_t n);
	void *arg;
	int fam; /* 0: the state, 1: opened_total */
};

static void write_one(const char *channel, struct pr_brk *b, void *arg)
{
	struct wr *w = arg;
	char line[512];
	int n;

	if (w->fam == 0)
		n = snprintf(line, sizeof(line),
			     "payroute_channel_breaker_state{channel=\"%s\","
			     "state=\"closed\"} %d\n"
			     "payroute_channel_breaker_state{channel=\"%s\","
			     "state=\"open\"} %d\n"
			     "payroute_channel_breaker_state{channel=\"%s\","
			     "state=\"half_open\"} %d\n",
			     channel, b->state == PR_BRK_CLOSED, channel,
			     b->state == PR_BRK_OPEN, channel,
			     b->state == PR_BRK_HALF_OPEN);
	else
		n = snprintf(line, sizeof(line),
			     "payroute_channel_breaker_opened_total{channel="
			     "\"%s\"} %llu\n",
			     channel, (unsigned long long)b->opened);
	if (n > 0 && (size_t)n < sizeof(line))
		w->out(w->arg, line, (size_t)n);
}

void pr_health_write(struct pr_health *h, const struct pr_config *cfg,
		     void (*out)(void *arg, const char *s, size_t n), void *arg)
{
	static const char *const heads[] = {
		"# HELP payroute_channel_breaker_state A channel's circuit "
		"breaker (doc/design.md §4): 1 for its state.\n"
		"# TYPE payroute_channel_breaker_state gauge\n",
		"# HELP payroute_channel_breaker_opened_total Times a "
		"channel's breaker opened, as this instance saw it.\n"
		"# TYPE payroute_channel_breaker_opened_total counter\n",
	};
	struct pr_srate_cfg sc;
	struct pr_brk_cfg bc;
	struct wr w = { out, arg, 0 };

	if (!h)
		return;
	pr_health_cfg(cfg, &sc, &bc);
	for (w.fam = 0; w.fam < 2; w.fam++) {
		out(arg, heads[w.fam], strlen(heads[w.fam]));
		pr_breakers_each(h->brk, write_one, &w);
	}
	pr_srate_write(h->sr, &sc, pr_now_ms(), out, arg);
}
