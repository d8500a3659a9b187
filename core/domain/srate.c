/*
 * srate.c - success-rate estimates per segment, time-decayed (srate.h,
 * doc/design.md §4).
 *
 * The levels of a channel are a tree: the channel's node, its methods'
 * nodes under it, their environments' under those, the banks' (the
 * segments) at the bottom. Each node is one cache line: its decayed
 * counts (ok, n) as of last_ms, the moment its count falls below the
 * minimum, and its children as an array of label ids beside an array of
 * pointers. Labels (channel codes, methods, environments, banks) are
 * interned once into small ids, so finding a request's segment is a walk
 * down comparing integers: no string is hashed or compared per channel,
 * and the walk reads only the nodes of the request's own path (what was
 * an open-addressing table of every level of every channel, hashed by
 * four strings per lookup, is the hot path's cache misses and strcmp
 * calls; contrib/bench/bench_router measures it).
 *
 * Decay is applied lazily: a record first brings the counts of the four
 * nodes on its path to now (multiplying by 2^(-age / half-life)) and then
 * adds 1; an estimate reads the counts brought to now without writing.
 * Labels are bounded by the catalogue: channels are its codes, methods,
 * environments and banks the values its channels accept; a channel that
 * leaves the catalogue is dropped with its tree (pr_srate_retain), its
 * label (a few bytes) stays.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/srate.h"

#define NO_ID UINT32_MAX

/*
 * One level of one channel, in one allocation aligned on a cache line:
 * this header (48 bytes), then its children's label ids (cap_kid of
 * them; the first four share the header's line), then their nodes'
 * addresses. A walk down reads a node's header and ids together and the
 * one address it needs, not three scattered blocks. A node that outgrows
 * its room moves (its parent's address of it is updated; a channel's
 * node moving changes the table's epoch: handles are stale then).
 */
struct sr_node {
	double ok, n;
	int64_t last_ms;
	/* until when the decayed n stays at or above the min_n of the
	 * table's last record (INT64_MIN: below already): the hot path
	 * compares a time instead of computing a power */
	int64_t full_until;
	uint32_t id; /* its own label */
	uint32_t n_kid, cap_kid;
	uint8_t level; /* enum pr_sr_level */
};

/* A channel's handle is its channel-level node. */
struct pr_sr_chan {
	struct sr_node n;
};

static uint32_t *kid_ids(const struct sr_node *e)
{
	return (uint32_t *)((char *)e + sizeof(*e));
}

static size_t ids_room(uint32_t cap)
{
	return ((size_t)cap * sizeof(uint32_t) + 7) & ~(size_t)7;
}

static struct sr_node **kid_ptrs(const struct sr_node *e)
{
	return (struct sr_node **)((char *)e + sizeof(*e) +
				   ids_room(e->cap_kid));
}

/* The labels: open addressing, linear probing, at most half full. */
struct lab_slot {
	uint32_t hash;
	uint32_t id; /* NO_ID: empty */
};

struct pr_srate {
	struct lab_slot *ls;
	size_t nls;
	char **lab;	       /* each label by id */
	struct sr_node **chan; /* a channel's node by its label's id */
	size_t n_lab, cap_lab;
	uint64_t epoch;
	struct pr_srate_cfg rec; /* the settings full_until was made with */
};

static const char *const level_names[] = { "none", "channel", "method",
					   "environment", "segment" };

const char *pr_sr_level_name(enum pr_sr_level l)
{
	if ((unsigned)l >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[l];
}

struct pr_srate *pr_srate_new(void)
{
	struct pr_srate *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->nls = 64;
	s->ls = malloc(s->nls * sizeof(*s->ls));
	if (!s->ls) {
		free(s);
		return NULL;
	}
	memset(s->ls, 0xff, s->nls * sizeof(*s->ls));
	s->epoch = 1;
	return s;
}

static void node_free(struct sr_node *e)
{
	if (!e)
		return;
	for (uint32_t i = 0; i < e->n_kid; i++)
		node_free(kid_ptrs(e)[i]);
	free(e);
}

void pr_srate_free(struct pr_srate *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_lab; i++) {
		free(s->lab[i]);
		node_free(s->chan[i]);
	}
	free(s->lab);
	free(s->chan);
	free(s->ls);
	free(s);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* FNV-1a. */
static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

static uint32_t lab_find(const struct pr_srate *s, const char *str)
{
	uint32_t h = str_hash(str);

	for (size_t i = h & (s->nls - 1); s->ls[i].id != NO_ID;
	     i = (i + 1) & (s->nls - 1))
		if (s->ls[i].hash == h && strcmp(s->lab[s->ls[i].id], str) == 0)
			return s->ls[i].id;
	return NO_ID;
}

static void lab_put(struct lab_slot *ls, size_t nls, uint32_t h, uint32_t id)
{
	size_t i = h & (nls - 1);

	while (ls[i].id != NO_ID)
		i = (i + 1) & (nls - 1);
	ls[i].hash = h;
	ls[i].id = id;
}

/* The id of str, interned when new; NO_ID when out of memory. */
static uint32_t lab_add(struct pr_srate *s, const char *str)
{
	uint32_t id = lab_find(s, str);
	char *copy;

	if (id != NO_ID)
		return id;
	if (s->n_lab >= NO_ID - 1)
		return NO_ID;
	if (2 * (s->n_lab + 1) > s->nls) {
		size_t nls = s->nls * 2;
		struct lab_slot *ls = malloc(nls * sizeof(*ls));

		if (!ls)
			return NO_ID;
		memset(ls, 0xff, nls * sizeof(*ls));
		for (size_t i = 0; i < s->nls; i++)
			if (s->ls[i].id != NO_ID)
				lab_put(ls, nls, s->ls[i].hash, s->ls[i].id);
		free(s->ls);
		s->ls = ls;
		s->nls = nls;
	}
	if (s->n_lab == s->cap_lab) {
		size_t cap = s->cap_lab ? s->cap_lab * 2 : 32;
		char **lab = realloc(s->lab, cap * sizeof(*lab));
		struct sr_node **chan;

		if (!lab)
			return NO_ID;
		s->lab = lab;
		chan = realloc(s->chan, cap * sizeof(*chan));
		if (!chan)
			return NO_ID;
		memset(chan + s->cap_lab, 0,
		       (cap - s->cap_lab) * sizeof(*chan));
		s->chan = chan;
		s->cap_lab = cap;
	}
	copy = strdup(str);
	if (!copy)
		return NO_ID;
	id = (uint32_t)s->n_lab++;
	s->lab[id] = copy;
	lab_put(s->ls, s->nls, str_hash(str), id);
	return id;
}

_Static_assert(sizeof(struct sr_node) == 48,
	       "a node's header and its first four children's ids share a "
	       "cache line");

/* A node of level l labelled id with room for cap children. */
static struct sr_node *node_new(enum pr_sr_level l, uint32_t id, uint32_t cap)
{
	size_t len = sizeof(struct sr_node) + ids_room(cap) +
		     (size_t)cap * sizeof(struct sr_node *);
	struct sr_node *e = aligned_alloc(64, (len + 63) & ~(size_t)63);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->level = (uint8_t)l;
	e->id = id;
	e->cap_kid = cap;
	return e;
}

/* The child of e labelled id, or NULL. */
static struct sr_node *kid(const struct sr_node *e, uint32_t id)
{
	const uint32_t *ids = kid_ids(e);

	for (uint32_t i = 0; i < e->n_kid; i++)
		if (ids[i] == id)
			return kid_ptrs(e)[i];
	return NULL;
}

/* Adds a child labelled id to the node at *slot (which may move: *slot is
 * updated, and s's epoch when it is a channel's). Returns its index, or
 * -1 when out of memory. */
static long kid_add(struct pr_srate *s, struct sr_node **slot, uint32_t id)
{
	struct sr_node *e = *slot, *k;

	if (e->level >= PR_SR_SEGMENT)
		return -1;
	if (e->n_kid == e->cap_kid) {
		struct sr_node *m = node_new((enum pr_sr_level)e->level, e->id,
					     e->cap_kid ? e->cap_kid * 2 : 4);

		if (!m)
			return -1;
		m->ok = e->ok;
		m->n = e->n;
		m->last_ms = e->last_ms;
		m->full_until = e->full_until;
		m->n_kid = e->n_kid;
		memcpy(kid_ids(m), kid_ids(e), e->n_kid * sizeof(uint32_t));
		memcpy(kid_ptrs(m), kid_ptrs(e),
		       e->n_kid * sizeof(struct sr_node *));
		free(e);
		*slot = e = m;
		if (e->level == PR_SR_CHANNEL)
			s->epoch++;
	}
	/* a segment has no children */
	k = node_new((enum pr_sr_level)(e->level + 1), id,
		     e->level + 1 < PR_SR_SEGMENT ? 4 : 0);
	if (!k)
		return -1;
	kid_ids(e)[e->n_kid] = id;
	kid_ptrs(e)[e->n_kid] = k;
	return (long)e->n_kid++;
}

/* The factor by which counts as of last_ms shrink by now_ms. */
static double decay(const struct pr_srate_cfg *cfg, int64_t last_ms,
		    int64_t now_ms)
{
	double x;

	if (now_ms <= last_ms || cfg->half_life_ms <= 0)
		return 1;
	x = (double)(now_ms - last_ms) / (double)cfg->half_life_ms;
	/* 64 half-lives leave nothing worth counting; and counts that
	 * small would be subnormal, slow on every read */
	return x > 64 ? 0 : exp2(-x);
}

/* last_ms + half_life * log2(n / min_n): when n decays below min_n. */
static int64_t full_until(const struct pr_srate_cfg *cfg,
			  const struct sr_node *e)
{
	double span;

	if (cfg->min_n <= 0)
		return INT64_MAX;
	if (e->n < cfg->min_n || cfg->half_life_ms <= 0)
		return e->n < cfg->min_n ? INT64_MIN : INT64_MAX;
	span = (double)cfg->half_life_ms * log2(e->n / cfg->min_n);
	if (span > 64.0 * (double)cfg->half_life_ms)
		span = 64.0 * (double)cfg->half_life_ms;
	return e->last_ms + (int64_t)span;
}

static void refresh(const struct pr_srate_cfg *cfg, struct sr_node *e)
{
	e->full_until = full_until(cfg, e);
	for (uint32_t i = 0; i < e->n_kid; i++)
		refresh(cfg, kid_ptrs(e)[i]);
}

static void count(const struct pr_srate_cfg *cfg, struct sr_node *e,
		  int success, int64_t now_ms)
{
	double k = decay(cfg, e->last_ms, now_ms);

	e->ok = e->ok * k + (success ? 1 : 0);
	e->n = e->n * k + 1;
	if (now_ms > e->last_ms)
		e->last_ms = now_ms;
	e->full_until = full_until(cfg, e);
}

int pr_srate_record(struct pr_srate *s, const struct pr_srate_cfg *cfg,
		    const char *channel, const char *method,
		    const char *environment, const char *bank, int success,
		    int64_t now_ms)
{
	const char *f[4];
	uint32_t id[4];
	struct sr_node **slot, *e;
	const uint32_t *ids;
	long i;

	if (!s || !cfg || !channel)
		return -EINVAL;
	if (s->rec.half_life_ms != cfg->half_life_ms ||
	    s->rec.min_n != cfg->min_n) {
		/* settings changed (a reload): every node anew */
		s->rec = *cfg;
		for (size_t c = 0; c < s->n_lab; c++)
			if (s->chan[c])
				refresh(cfg, s->chan[c]);
	}
	f[0] = channel;
	f[1] = nz(method);
	f[2] = nz(environment);
	f[3] = nz(bank);
	for (int j = 0; j < 4; j++)
		if ((id[j] = lab_add(s, f[j])) == NO_ID)
			return -ENOMEM;
	slot = &s->chan[id[0]];
	if (!*slot) {
		if (!(*slot = node_new(PR_SR_CHANNEL, id[0], 4)))
			return -ENOMEM;
		s->epoch++;
	}
	/* coarse to fine: a level's id is id[its parent's level] */
	for (;;) {
		e = *slot;
		count(cfg, e, success, now_ms);
		if (e->level == PR_SR_SEGMENT)
			return 0;
		ids = kid_ids(e);
		for (i = 0; i < (long)e->n_kid && ids[i] != id[e->level]; i++)
			;
		if (i == (long)e->n_kid &&
		    (i = kid_add(s, slot, id[e->level])) < 0)
			return -ENOMEM; /* the coarser levels counted */
		slot = &kid_ptrs(*slot)[i];
	}
}

const struct pr_sr_chan *pr_srate_chan(const struct pr_srate *s,
				       const char *channel)
{
	uint32_t id;

	if (!s || !channel)
		return NULL;
	id = lab_find(s, channel);
	return id == NO_ID ? NULL : (const struct pr_sr_chan *)s->chan[id];
}

uint64_t pr_srate_epoch(const struct pr_srate *s)
{
	return s ? s->epoch : 0;
}

void pr_srate_key(const struct pr_srate *s, const char *method,
		  const char *environment, const char *bank,
		  struct pr_sr_key *key)
{
	if (!s) {
		key->method = key->environment = key->bank = NO_ID;
		return;
	}
	key->method = lab_find(s, nz(method));
	key->environment = lab_find(s, nz(environment));
	key->bank = lab_find(s, nz(bank));
}

/* The estimate from the request's path down a channel's tree, path[0]
 * (its channel's node) to path[d - 1] (the finest level it has): up from
 * the finest, a level's count is never above its parent's (every outcome
 * counts at all four, decayed alike), so the first level from the finest
 * up that reaches min_n is the finest that does. */
static void pick(const struct pr_srate *s, const struct pr_srate_cfg *cfg,
		 const struct sr_node *const *path, int d, int64_t now_ms,
		 struct pr_sr_est *out)
{
	const struct sr_node *e;
	int fast = s->rec.half_life_ms == cfg->half_life_ms &&
		   s->rec.min_n == cfg->min_n;
	double k;

	/* down to the channel's own, whatever it has */
	for (d--; d > 0; d--) {
		e = path[d];
		if (fast ? now_ms <= e->full_until :
			   e->n * decay(cfg, e->last_ms, now_ms) >= cfg->min_n)
			break;
	}
	e = path[d];
	k = decay(cfg, e->last_ms, now_ms);
	if (!(e->n * k > 0))
		return;
	out->ok = e->ok * k;
	out->n = e->n * k;
	out->rate = e->ok / e->n;
	out->level = (enum pr_sr_level)e->level;
}

static void est_none(struct pr_sr_est *out)
{
	out->rate = -1;
	out->ok = out->n = 0;
	out->level = PR_SR_NONE;
}

void pr_srate_estimate_key(const struct pr_srate *s,
			   const struct pr_srate_cfg *cfg,
			   const struct pr_sr_chan *c,
			   const struct pr_sr_key *key, int64_t now_ms,
			   struct pr_sr_est *out)
{
	const struct sr_node *path[4], *e;
	int d = 0;

	est_none(out);
	if (!s || !cfg || !c)
		return;
	/* down the request's path as far as the tree goes */
	path[d++] = &c->n;
	if ((e = kid(path[0], key->method))) {
		path[d++] = e;
		if ((e = kid(e, key->environment))) {
			path[d++] = e;
			if ((e = kid(e, key->bank)))
				path[d++] = e;
		}
	}
	pick(s, cfg, path, d, now_ms, out);
}

/* A node's header, its children's ids and the first of their addresses. */
static void prefetch(const struct sr_node *e)
{
	__builtin_prefetch(e);
	__builtin_prefetch((const char *)e + 64);
}

/*
 * The walks of up to ESTIMATE_BATCH channels a level at a time: each
 * level's nodes of all of them are asked for from memory before any is
 * read, so their cache misses overlap instead of following each other
 * channel after channel (a walk is four dependent loads).
 */
#define ESTIMATE_BATCH 16

static struct pr_sr_est *nth(struct pr_sr_est *out, size_t i, size_t stride)
{
	return (struct pr_sr_est *)((char *)out + i * stride);
}

void pr_srate_estimate_many(const struct pr_srate *s,
			    const struct pr_srate_cfg *cfg,
			    const struct pr_sr_chan *const *c, size_t n,
			    const struct pr_sr_key *key, int64_t now_ms,
			    struct pr_sr_est *out, size_t stride)
{
	const uint32_t want[3] = { key->method, key->environment, key->bank };
	const struct sr_node *path[ESTIMATE_BATCH][4], *e;
	int d[ESTIMATE_BATCH];
	size_t m, i;

	for (size_t at = 0; at < n; at += m) {
		m = n - at < ESTIMATE_BATCH ? n - at : ESTIMATE_BATCH;
		for (i = 0; i < m; i++) {
			est_none(nth(out, at + i, stride));
			d[i] = s && cfg && c[at + i] ? 1 : 0;
			if (d[i]) {
				path[i][0] = &c[at + i]->n;
				prefetch(path[i][0]);
			}
		}
		for (int l = 0; l < 3; l++)
			for (i = 0; i < m; i++) {
				if (d[i] != l + 1)
					continue;
				e = kid(path[i][l], want[l]);
				if (e) {
					path[i][d[i]++] = e;
					prefetch(e);
				}
			}
		for (i = 0; i < m; i++)
			if (d[i])
				pick(s, cfg, path[i], d[i], now_ms,
				     nth(out, at + i, stride));
	}
}

void pr_srate_estimate(const struct pr_srate *s, const struct pr_srate_cfg *cfg,
		       const char *channel, const char *method,
		       const char *environment, const char *bank,
		       int64_t now_ms, struct pr_sr_est *out)
{
	struct pr_sr_key key;

	pr_srate_key(s, method, environment, bank, &key);
	pr_srate_estimate_key(s, cfg, pr_srate_chan(s, channel), &key, now_ms,
			      out);
}

static void chan_drop(struct pr_srate *s, size_t id)
{
	node_free(s->chan[id]);
	s->chan[id] = NULL;
}

int pr_srate_drop(struct pr_srate *s, const char *channel)
{
	uint32_t id;

	if (!s || !channel || (id = lab_find(s, channel)) == NO_ID ||
	    !s->chan[id])
		return 0;
	chan_drop(s, id);
	s->epoch++;
	return 1;
}

size_t pr_srate_retain(struct pr_srate *s,
		       int (*keep)(const char *channel, void *arg), void *arg)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (size_t i = 0; i < s->n_lab; i++) {
		if (s->chan[i] && !keep(s->lab[i], arg)) {
			chan_drop(s, i);
			n++;
		}
	}
	if (n)
		s->epoch++;
	return n;
}

/* Prometheus label values: channel codes, methods, environments and bank
 * codes are [A-Za-z0-9_.-]; anything else is dropped rather than
 * escaped. */
static void label(char *dst, size_t len, const char *src)
{
	size_t o = 0;

	for (; *src && o + 1 < len; src++)
		if (*src != '"' && *src != '\\' && *src != '\n')
			dst[o++] = *src;
	dst[o] = '\0';
}

struct wr {
	const struct pr_srate *s;
	const struct pr_srate_cfg *cfg;
	int64_t now_ms;
	void (*out)(void *arg, const char *s, size_t n);
	void *arg;
	int fam;	/* 0: the counts, 1: the estimates */
	char lb[4][72]; /* the labels of the path down to the node */
};

/* Node e's lines of family w->fam, then its children's, depth first. */
static int write_node(struct wr *w, const struct sr_node *e)
{
	const char *lv = pr_sr_level_name((enum pr_sr_level)e->level);
	double k = decay(w->cfg, e->last_ms, w->now_ms);
	char line[640];
	int n = 0;

	label(w->lb[e->level - 1], sizeof(w->lb[0]), w->s->lab[e->id]);
	for (int j = e->level; j < 4; j++)
		w->lb[j][0] = '\0';
	if (w->fam == 0)
		n = snprintf(line, sizeof(line),
			     "payroute_route_success_outcomes"
			     "{channel=\"%s\",method=\"%s\","
			     "environment=\"%s\",bank=\"%s\","
			     "level=\"%s\",result=\"ok\"} "
			     "%.3f\n"
			     "payroute_route_success_outcomes"
			     "{channel=\"%s\",method=\"%s\","
			     "environment=\"%s\",bank=\"%s\","
			     "level=\"%s\",result=\"all\"} "
			     "%.3f\n",
			     w->lb[0], w->lb[1], w->lb[2], w->lb[3], lv,
			     e->ok * k, w->lb[0], w->lb[1], w->lb[2], w->lb[3],
			     lv, e->n * k);
	else if (e->n > 0)
		n = snprintf(line, sizeof(line),
			     "payroute_route_success_estimate"
			     "{channel=\"%s\",method=\"%s\","
			     "environment=\"%s\",bank=\"%s\","
			     "level=\"%s\"} %.4f\n",
			     w->lb[0], w->lb[1], w->lb[2], w->lb[3], lv,
			     e->ok / e->n);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -ENOMEM;
	if (n)
		w->out(w->arg, line, (size_t)n);
	for (uint32_t i = 0; i < e->n_kid; i++)
		if (write_node(w, kid_ptrs(e)[i]) < 0)
			return -ENOMEM;
	return 0;
}

int pr_srate_write(const struct pr_srate *s, const struct pr_srate_cfg *cfg,
		   int64_t now_ms,
		   void (*out)(void *arg, const char *s, size_t n), void *arg)
{
	static const char *const heads[] = {
		"# HELP payroute_route_success_outcomes Decayed order outcomes "
		"per routing segment (doc/design.md §4).\n"
		"# TYPE payroute_route_success_outcomes gauge\n",
		"# HELP payroute_route_success_estimate Decayed success rate "
		"per routing segment.\n"
		"# TYPE payroute_route_success_estimate gauge\n",
	};
	struct wr w = { s, cfg, now_ms, out, arg, 0, { "" } };

	if (!s)
		return 0;
	/* one family after the other: a scraper wants each together; each
	 * channel's levels together, channels in the order they came */
	for (w.fam = 0; w.fam < 2; w.fam++) {
		out(arg, heads[w.fam], strlen(heads[w.fam]));
		for (size_t i = 0; i < s->n_lab; i++)
			if (s->chan[i] && write_node(&w, s->chan[i]) < 0)
				return -ENOMEM;
	}
	return 0;
}

void pr_sr_est_write(struct pr_jw *w, const struct pr_sr_est *e)
{
	pr_jw_obj_open(w);
	pr_jw_key(w, "rate");
	if (e->level != PR_SR_NONE)
		pr_jw_real(w, e->rate);
	else
		pr_jw_null(w);
	pr_jw_key(w, "ok");
	pr_jw_real(w, e->ok);
	pr_jw_key(w, "n");
	pr_jw_real(w, e->n);
	pr_jw_key(w, "level");
	pr_jw_str(w, pr_sr_level_name(e->level));
	pr_jw_obj_close(w);
}

json_t *pr_sr_est_json(const struct pr_sr_est *e)
{
	return json_pack(
		"{s:o,s:f,s:f,s:s}", "rate",
		e->level != PR_SR_NONE ? json_real(e->rate) : json_null(), "ok",
		e->ok, "n", e->n, "level", pr_sr_level_name(e->level));
}
