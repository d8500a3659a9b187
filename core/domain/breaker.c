/*
 * breaker.c - each channel's circuit breaker (breaker.h, doc/design.md
 * §4): the state machine over a ring of recent failure times, and a small
 * chained hash table of channels by code.
 *
 * The window is exact: the ring keeps the last cfg.failures failure times
 * (at most PR_BRK_MAX_FAILURES), and the breaker opens when the oldest of
 * them is within window_ms of the newest. A success while closed does not
 * clear the ring: "5 failures in a minute" means five, whatever succeeded
 * in between, so a channel failing every other call still opens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/breaker.h"

static const char *const state_names[] = { "closed", "open", "half_open" };

const char *pr_brk_state_name(enum pr_brk_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return NULL;
	return state_names[s];
}

int pr_brk_cfg_check(const struct pr_brk_cfg *cfg, char *err, size_t errlen)
{
	const char *bad = NULL;

	if (cfg->failures < 1 || cfg->failures > PR_BRK_MAX_FAILURES)
		bad = "failures: must be 1 to 64";
	else if (cfg->window_ms < 1000)
		bad = "window: must be at least 1 second";
	else if (cfg->cooldown_ms < 1000)
		bad = "cooldown: must be at least 1 second";
	else if (cfg->probe_interval_ms < 100)
		bad = "probe_interval: must be at least 100 ms";
	if (!bad)
		return 0;
	snprintf(err, errlen, "%s", bad);
	return -EINVAL;
}

static void go(struct pr_brk *b, enum pr_brk_state to, const char *actor,
	       const char *reason, int64_t now_ms)
{
	struct pr_brk_change *h = &b->hist[b->hist_next];

	h->at_ms = now_ms;
	h->from = b->state;
	h->to = to;
	snprintf(h->reason, sizeof(h->reason), "%s", reason ? reason : "");
	snprintf(h->actor, sizeof(h->actor), "%s", actor ? actor : "system");
	b->hist_next = (b->hist_next + 1) % PR_BRK_HISTORY;
	if (b->n_hist < PR_BRK_HISTORY)
		b->n_hist++;
	if (to == PR_BRK_OPEN)
		b->opened++;
	if (to != PR_BRK_OPEN)
		b->n_fail = b->fail_next = 0; /* a fresh window */
	b->state = to;
	b->since_ms = now_ms;
	b->last_probe_ms = 0;
}

/* Failures of the ring within window_ms of now_ms. */
static size_t in_window(const struct pr_brk *b, const struct pr_brk_cfg *cfg,
			int64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n_fail; i++)
		if (b->fail_ms[i] > now_ms - cfg->window_ms)
			n++;
	return n;
}

int pr_brk_record(struct pr_brk *b, const struct pr_brk_cfg *cfg,
		  enum pr_brk_event ev, const char *what, int64_t now_ms)
{
	char why[112];
	size_t cap = (size_t)cfg->failures;

	if (cap > PR_BRK_MAX_FAILURES)
		cap = PR_BRK_MAX_FAILURES;
	if (ev == PR_BRK_EV_OK) {
		if (b->state == PR_BRK_HALF_OPEN) {
			go(b, PR_BRK_CLOSED, "system", "probe succeeded",
			   now_ms);
			return 1;
		}
		return 0;
	}
	snprintf(b->last_failure, sizeof(b->last_failure), "%s",
		 what ? what : "");
	switch (b->state) {
	case PR_BRK_OPEN:
		return 0; /* a call sent before it opened */
	case PR_BRK_HALF_OPEN:
		snprintf(why, sizeof(why), "probe failed: %s", b->last_failure);
		go(b, PR_BRK_OPEN, "system", why, now_ms);
		return 1;
	case PR_BRK_CLOSED:
		break;
	}
	b->fail_ms[b->fail_next] = now_ms;
	b->fail_next = (b->fail_next + 1) % cap;
	if (b->n_fail < cap)
		b->n_fail++;
	if (in_window(b, cfg, now_ms) < cap)
		return 0;
	snprintf(why, sizeof(why), "%d failures in %lld s: %s", cfg->failures,
		 (long long)(cfg->window_ms / 1000), b->last_failure);
	go(b, PR_BRK_OPEN, "system", why, now_ms);
	return 1;
}

enum pr_brk_route pr_brk_route(struct pr_brk *b, const struct pr_brk_cfg *cfg,
			       int64_t now_ms, int *changed)
{
	if (changed)
		*changed = 0;
	switch (b->state) {
	case PR_BRK_CLOSED:
		return PR_BRK_ROUTE_ANY;
	case PR_BRK_OPEN:
		if (now_ms - b->since_ms < cfg->cooldown_ms)
			return PR_BRK_ROUTE_NONE;
		go(b, PR_BRK_HALF_OPEN, "system", "cool-down over", now_ms);
		if (changed)
			*changed = 1;
		return PR_BRK_ROUTE_PROBE;
	case PR_BRK_HALF_OPEN:
		if (b->last_probe_ms &&
		    now_ms - b->last_probe_ms < cfg->probe_interval_ms)
			return PR_BRK_ROUTE_NONE;
		return PR_BRK_ROUTE_PROBE;
	}
	return PR_BRK_ROUTE_NONE;
}

void pr_brk_probe_sent(struct pr_brk *b, int64_t now_ms)
{
	if (b->state == PR_BRK_HALF_OPEN)
		b->last_probe_ms = now_ms ? now_ms : 1;
}

int pr_brk_force(struct pr_brk *b, enum pr_brk_state to, const char *actor,
		 const char *reason, int64_t now_ms)
{
	if (to != PR_BRK_CLOSED && to != PR_BRK_OPEN)
		return -EINVAL;
	if (b->state == to)
		return 0;
	go(b, to, actor, reason, now_ms);
	return 1;
}

int pr_brk_adopt(struct pr_brk *b, enum pr_brk_state to, int64_t at_ms,
		 const char *actor, const char *reason)
{
	if (!pr_brk_state_name(to) || at_ms <= b->since_ms)
		return 0;
	if (to == b->state) {
		/* opened again elsewhere: its cool-down counts */
		if (to == PR_BRK_OPEN)
			b->since_ms = at_ms;
		return 0;
	}
	go(b, to, actor, reason, at_ms);
	return 1;
}

const struct pr_brk_change *pr_brk_last(const struct pr_brk *b)
{
	if (!b->n_hist)
		return NULL;
	return &b->hist[(b->hist_next + PR_BRK_HISTORY - 1) % PR_BRK_HISTORY];
}

json_t *pr_brk_json(const struct pr_brk *b, const struct pr_brk_cfg *cfg,
		    int64_t now_ms)
{
	json_t *o, *h = json_array(), *x;
	int64_t due = 0;

	if (!h)
		return NULL;
	for (size_t i = 0; i < b->n_hist; i++) {
		const struct pr_brk_change *c =
			&b->hist[(b->hist_next + PR_BRK_HISTORY - 1 - i) %
				 PR_BRK_HISTORY];

		x = json_pack("{s:I,s:s,s:s,s:s,s:s}", "at",
			      (json_int_t)c->at_ms, "from",
			      pr_brk_state_name(c->from), "to",
			      pr_brk_state_name(c->to), "reason", c->reason,
			      "actor", c->actor);
		if (!x || json_array_append_new(h, x) < 0) {
			json_decref(x);
			json_decref(h);
			return NULL;
		}
	}
	if (b->state == PR_BRK_OPEN)
		due = b->since_ms + cfg->cooldown_ms;
	else if (b->state == PR_BRK_HALF_OPEN)
		due = b->last_probe_ms ?
			      b->last_probe_ms + cfg->probe_interval_ms :
			      now_ms;
	o = json_pack("{s:s,s:I,s:I,s:s,s:I,s:o,s:o}", "state",
		      pr_brk_state_name(b->state), "since",
		      (json_int_t)b->since_ms, "failures_in_window",
		      (json_int_t)in_window(b, cfg, now_ms), "last_failure",
		      b->last_failure, "opened", (json_int_t)b->opened,
		      b->state == PR_BRK_OPEN ? "half_open_at" : "probe_due",
		      due ? json_integer(due) : json_null(), "history", h);
	return o;
}

/* ------------------------------------------------------------ registry */

struct brk_ent {
	struct brk_ent *next;
	uint32_t hash;
	struct pr_brk b;
	char code[];
};

struct pr_breakers {
	struct brk_ent *b[256];
	uint64_t epoch; /* one more for each breaker created */
};

static uint32_t hash_code(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct pr_breakers *pr_breakers_new(void)
{
	struct pr_breakers *r = calloc(1, sizeof(*r));

	if (r)
		r->epoch = 1;
	return r;
}

uint64_t pr_breakers_epoch(const struct pr_breakers *r)
{
	return r ? r->epoch : 0;
}

void pr_breakers_free(struct pr_breakers *r)
{
	struct brk_ent *e, *nx;

	if (!r)
		return;
	for (size_t i = 0; i < sizeof(r->b) / sizeof(r->b[0]); i++)
		for (e = r->b[i]; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(r);
}

struct pr_brk *pr_breakers_get(struct pr_breakers *r, const char *channel,
			       int create)
{
	const size_t nb = sizeof(r->b) / sizeof(r->b[0]);
	uint32_t h;
	struct brk_ent *e;
	size_t len;

	if (!r || !channel)
		return NULL;
	h = hash_code(channel);
	for (e = r->b[h % nb]; e; e = e->next)
		if (e->hash == h && strcmp(e->code, channel) == 0)
			return &e->b;
	if (!create)
		return NULL;
	len = strlen(channel) + 1;
	e = calloc(1, sizeof(*e) + len);
	if (!e)
		return NULL;
	memcpy(e->code, channel, len);
	e->hash = h;
	e->next = r->b[h % nb];
	r->b[h % nb] = e;
	r->epoch++;
	return &e->b;
}

void pr_breakers_each(struct pr_breakers *r,
		      void (*fn)(const char *channel, struct pr_brk *b,
				 void *arg),
		      void *arg)
{
	if (!r)
		return;
	for (size_t i = 0; i < sizeof(r->b) / sizeof(r->b[0]); i++)
		for (struct brk_ent *e = r->b[i]; e; e = e->next)
			fn(e->code, &e->b, arg);
}
