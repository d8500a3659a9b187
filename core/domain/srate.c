/*
 * srate.c - success-rate estimates per segment, time-decayed (srate.h,
 * doc/design.md §4).
 *
 * Each (channel, method, environment, bank) level is one entry of a
 * chained hash table: its decayed counts (ok, n) as of last_ms. Decay is
 * applied lazily: a record first brings the counts to now (multiplying by
 * 2^(-age / half-life)) and then adds 1; an estimate reads the counts
 * brought to now without writing. So a record costs four lookups and an
 * estimate at most four, with no allocation once the entries exist.
 * Labels are bounded by the catalogue: channels are its codes, methods,
 * environments and banks the values its channels accept.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/srate.h"

struct sr_ent {
	struct sr_ent *up; /* the next coarser level; NULL for the channel */
	uint32_t hash;
	enum pr_sr_level level;
	double ok, n;
	int64_t last_ms;
	/* until when the decayed n stays at or above the min_n of the
	 * table's last record (INT64_MIN: below already): the hot path
	 * compares a time instead of computing a power */
	int64_t full_until;
	/* channel, method, environment, bank: one allocation, \0-separated */
	const char *f[4];
	char buf[];
};

/* Open addressing, linear probing, at most half full: a lookup reads the
 * slots (one cache line, mostly) and the one entry whose hash matches,
 * where chains would read every entry on the way. */
struct slot {
	uint32_t hash;
	struct sr_ent *e; /* NULL: empty */
};

struct pr_srate {
	struct slot *b;
	size_t nb, n;
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
	s->nb = 64;
	s->b = calloc(s->nb, sizeof(*s->b));
	if (!s->b) {
		free(s);
		return NULL;
	}
	return s;
}

void pr_srate_free(struct pr_srate *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nb; i++)
		free(s->b[i].e);
	free(s->b);
	free(s);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* FNV-1a over the level and the four fields, each ended by a byte that
 * cannot occur in them. The level is part of the key: the segment of a
 * request without bank and its environment level have the same fields. */
static uint32_t key_hash(enum pr_sr_level l, const char *const f[4])
{
	uint32_t h = (2166136261u ^ (uint32_t)l) * 16777619u;

	for (int i = 0; i < 4; i++) {
		for (const unsigned char *p = (const unsigned char *)f[i]; *p;
		     p++)
			h = (h ^ *p) * 16777619u;
		h = (h ^ 0xffu) * 16777619u;
	}
	return h;
}

/* The key of level l: the fields below it are kept, the others "". */
static void level_key(enum pr_sr_level l, const char *channel,
		      const char *method, const char *environment,
		      const char *bank, const char *f[4])
{
	f[0] = channel;
	f[1] = l >= PR_SR_METHOD ? nz(method) : "";
	f[2] = l >= PR_SR_ENVIRONMENT ? nz(environment) : "";
	f[3] = l >= PR_SR_SEGMENT ? nz(bank) : "";
}

static struct sr_ent *find(const struct pr_srate *s, enum pr_sr_level l,
			   const char *const f[4], uint32_t h)
{
	struct sr_ent *e;

	for (size_t i = h & (s->nb - 1); (e = s->b[i].e);
	     i = (i + 1) & (s->nb - 1))
		if (s->b[i].hash == h && e->level == l &&
		    strcmp(e->f[0], f[0]) == 0 && strcmp(e->f[1], f[1]) == 0 &&
		    strcmp(e->f[2], f[2]) == 0 && strcmp(e->f[3], f[3]) == 0)
			return e;
	return NULL;
}

static void put(struct slot *b, size_t nb, struct sr_ent *e)
{
	size_t i = e->hash & (nb - 1);

	while (b[i].e)
		i = (i + 1) & (nb - 1);
	b[i].hash = e->hash;
	b[i].e = e;
}

static int grow(struct pr_srate *s)
{
	size_t nb = s->nb * 2;
	struct slot *b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < s->nb; i++)
		if (s->b[i].e)
			put(b, nb, s->b[i].e);
	free(s->b);
	s->b = b;
	s->nb = nb;
	return 0;
}

static struct sr_ent *add(struct pr_srate *s, enum pr_sr_level l,
			  const char *const f[4], uint32_t h)
{
	size_t len[4], total = 0, off = 0;
	struct sr_ent *e;

	if (2 * (s->n + 1) > s->nb && grow(s) < 0)
		return NULL;
	for (int i = 0; i < 4; i++) {
		len[i] = strlen(f[i]) + 1;
		total += len[i];
	}
	e = calloc(1, sizeof(*e) + total);
	if (!e)
		return NULL;
	for (int i = 0; i < 4; i++) {
		memcpy(e->buf + off, f[i], len[i]);
		e->f[i] = e->buf + off;
		off += len[i];
	}
	e->hash = h;
	e->level = l;
	put(s->b, s->nb, e);
	s->n++;
	return e;
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
			  const struct sr_ent *e)
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

int pr_srate_record(struct pr_srate *s, const struct pr_srate_cfg *cfg,
		    const char *channel, const char *method,
		    const char *environment, const char *bank, int success,
		    int64_t now_ms)
{
	const char *f[4];
	struct sr_ent *e, *up = NULL;
	double k;

	if (!s || !cfg || !channel)
		return -EINVAL;
	if (s->rec.half_life_ms != cfg->half_life_ms ||
	    s->rec.min_n != cfg->min_n) {
		/* settings changed (a reload): every entry anew */
		s->rec = *cfg;
		for (size_t i = 0; i < s->nb; i++)
			if ((e = s->b[i].e))
				e->full_until = full_until(cfg, e);
	}
	/* coarse to fine, each entry linked to the level above it */
	for (int l = PR_SR_CHANNEL; l <= PR_SR_SEGMENT; l++) {
		uint32_t h;

		level_key((enum pr_sr_level)l, channel, method, environment,
			  bank, f);
		h = key_hash((enum pr_sr_level)l, f);
		e = find(s, (enum pr_sr_level)l, f, h);
		if (!e && !(e = add(s, (enum pr_sr_level)l, f, h)))
			return -ENOMEM; /* the coarser levels counted */
		e->up = up;
		k = decay(cfg, e->last_ms, now_ms);
		e->ok = e->ok * k + (success ? 1 : 0);
		e->n = e->n * k + 1;
		if (now_ms > e->last_ms)
			e->last_ms = now_ms;
		e->full_until = full_until(cfg, e);
		up = e;
	}
	return 0;
}

/*
 * One hash lookup in the usual case: the finest level the table has for
 * the request (the segment, unless that combination was never seen), then
 * up its links. A level's count is never above its parent's (every
 * outcome counts at all four, decayed alike), so the first level from the
 * finest up that reaches min_n is the finest that does.
 */
void pr_srate_estimate(const struct pr_srate *s, const struct pr_srate_cfg *cfg,
		       const char *channel, const char *method,
		       const char *environment, const char *bank,
		       int64_t now_ms, struct pr_sr_est *out)
{
	const char *f[4];
	const struct sr_ent *e = NULL;
	int fast;
	double k;

	out->rate = -1;
	out->ok = out->n = 0;
	out->level = PR_SR_NONE;
	if (!s || !cfg || !channel)
		return;
	for (int l = PR_SR_SEGMENT; l >= PR_SR_CHANNEL && !e; l--) {
		level_key((enum pr_sr_level)l, channel, method, environment,
			  bank, f);
		e = find(s, (enum pr_sr_level)l, f,
			 key_hash((enum pr_sr_level)l, f));
	}
	fast = s->rec.half_life_ms == cfg->half_life_ms &&
	       s->rec.min_n == cfg->min_n;
	for (; e; e = e->up) {
		if (fast ? now_ms <= e->full_until :
			   e->n * decay(cfg, e->last_ms, now_ms) >= cfg->min_n)
			break;
		if (!e->up)
			break; /* the channel's own, whatever it has */
	}
	if (!e)
		return;
	k = decay(cfg, e->last_ms, now_ms);
	if (!(e->n * k > 0))
		return;
	out->ok = e->ok * k;
	out->n = e->n * k;
	out->rate = e->ok / e->n;
	out->level = e->level;
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
	char line[640], lb[4][72];
	const char *lv;
	double k;
	int n;

	if (!s)
		return 0;
	/* one family after the other: a scraper wants each together */
	for (int fam = 0; fam < 2; fam++) {
		out(arg, heads[fam], strlen(heads[fam]));
		for (size_t i = 0; i < s->nb; i++) {
			const struct sr_ent *e = s->b[i].e;

			if (!e)
				continue;
			lv = pr_sr_level_name(e->level);
			k = decay(cfg, e->last_ms, now_ms);
			for (int j = 0; j < 4; j++)
				label(lb[j], sizeof(lb[j]), e->f[j]);
			if (fam == 0)
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
					     lb[0], lb[1], lb[2], lb[3], lv,
					     e->ok * k, lb[0], lb[1], lb[2],
					     lb[3], lv, e->n * k);
			else if (e->n > 0)
				n = snprintf(line, sizeof(line),
					     "payroute_route_success_estimate"
					     "{channel=\"%s\",method=\"%s\","
					     "environment=\"%s\",bank=\"%s\","
					     "level=\"%s\"} %.4f\n",
					     lb[0], lb[1], lb[2], lb[3], lv,
					     e->ok / e->n);
			else
				continue;
			if (n < 0 || (size_t)n >= sizeof(line))
				return -ENOMEM;
			out(arg, line, (size_t)n);
		}
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
