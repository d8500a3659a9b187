/*
 * authcache.c - the verified admin credentials kept in memory
 * (authcache.h). A direct-mapped table: the key's FNV-1a hash picks the
 * one slot it may live in, a newer entry replaces whatever was there.
 * Forgetting wipes the slots (the hashes they hold are of secrets) and
 * moves the epoch on, so that an answer the store gave before it cannot
 * be put back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/authcache.h"

struct pr_authcache {
	size_t n;
	uint64_t epoch;
	struct pr_authcache_stats st;
	struct pr_authcache_ent *slots;
};

/* Overwrites n bytes at p with zeros in a way the compiler keeps. */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

static size_t slot_of(const struct pr_authcache *c, const char *key)
{
	uint64_t h = 14695981039346656037ULL;

	while (*key) {
		h ^= (unsigned char)*key++;
		h *= 1099511628211ULL;
	}
	return (size_t)(h % c->n);
}

struct pr_authcache *pr_authcache_new(size_t slots)
{
	struct pr_authcache *c;

	if (slots == 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->slots = calloc(slots, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	c->n = slots;
	return c;
}

void pr_authcache_free(struct pr_authcache *c)
{
	if (!c)
		return;
	wipe(c->slots, c->n * sizeof(*c->slots));
	free(c->slots);
	free(c);
}

static void forget(struct pr_authcache *c, struct pr_authcache_ent *e)
{
	wipe(e, sizeof(*e));
	c->st.entries--;
}

struct pr_authcache_ent *pr_authcache_get(struct pr_authcache *c,
					  const char *key, int64_t now_ms,
					  int64_t ttl_ms)
{
	struct pr_authcache_ent *e;

	if (!c || !key || !*key || ttl_ms <= 0)
		return NULL;
	e = &c->slots[slot_of(c, key)];
	if (!e->key[0] || strcmp(e->key, key) != 0) {
		c->st.misses++;
		return NULL;
	}
	if (now_ms - e->at_ms >= ttl_ms || now_ms < e->at_ms ||
	    now_ms >= e->until_ms) {
		forget(c, e);
		c->st.misses++;
		return NULL;
	}
	c->st.hits++;
	return e;
}

uint64_t pr_authcache_epoch(const struct pr_authcache *c)
{
	return c ? c->epoch : 0;
}

int pr_authcache_put(struct pr_authcache *c, uint64_t epoch,
		     const struct pr_authcache_ent *e)
{
	struct pr_authcache_ent *s;

	if (!c || !e || !e->key[0] ||
	    strnlen(e->key, sizeof(e->key)) >= sizeof(e->key))
		return -EINVAL;
	if (epoch != c->epoch)
		return -ESTALE;
	s = &c->slots[slot_of(c, e->key)];
	if (!s->key[0])
		c->st.entries++;
	*s = *e;
	return 0;
}

void pr_authcache_flush(struct pr_authcache *c)
{
	if (!c)
		return;
	wipe(c->slots, c->n * sizeof(*c->slots));
	c->st.entries = 0;
	c->st.flushes++;
	c->epoch++;
}

size_t pr_authcache_drop_operator(struct pr_authcache *c, const char *name)
{
	size_t n = 0;

	if (!c || !name)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		struct pr_authcache_ent *e = &c->slots[i];

		if (e->key[0] && strcmp(e->who.name, name) == 0) {
			forget(c, e);
			n++;
		}
	}
	c->st.drops += n;
	c->epoch++;
	return n;
}

void pr_authcache_get_stats(const struct pr_authcache *c,
			    struct pr_authcache_stats *st)
{
	if (!c) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = c->st;
}
