/*
 * lagbound.c - the staleness bound of a read replica from WAL positions
 * (see lagbound.h): a ring of the primary's positions with the times they
 * were asked, and the newest of them the replica has replayed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/lagbound.h"

int pr_lsn_parse(const char *s, uint64_t *out)
{
	unsigned int hi, lo;
	int n = 0;

	if (!s || sscanf(s, "%8X/%8X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
		return -EINVAL;
	*out = (uint64_t)hi << 32 | lo;
	return 0;
}

void pr_lagbound_init(struct pr_lagbound *lb)
{
	memset(lb, 0, sizeof(*lb));
}

void pr_lagbound_primary(struct pr_lagbound *lb, int64_t t_ms, uint64_t lsn)
{
	unsigned i = lb->n % PR_LAGBOUND_RING;

	lb->ring[i].t_ms = t_ms;
	lb->ring[i].lsn = lsn;
	lb->n++;
}

void pr_lagbound_replayed(struct pr_lagbound *lb, uint64_t replay)
{
	unsigned n = lb->n < PR_LAGBOUND_RING ? lb->n : PR_LAGBOUND_RING;

	/* newest first: the first one at or below replay is the latest time
	 * the replica is known to have caught */
	for (unsigned k = 0; k < n; k++) {
		unsigned i = (lb->n - 1 - k) % PR_LAGBOUND_RING;

		if (lb->ring[i].lsn <= replay) {
			if (!lb->caught || lb->ring[i].t_ms > lb->caught_ms)
				lb->caught_ms = lb->ring[i].t_ms;
			lb->caught = 1;
			return;
		}
	}
}

void pr_lagbound_forget(struct pr_lagbound *lb)
{
	lb->caught = 0;
	lb->caught_ms = 0;
}

long pr_lagbound_ms(const struct pr_lagbound *lb, int64_t now_ms)
{
	if (!lb->caught)
		return -1;
	return now_ms > lb->caught_ms ? (long)(now_ms - lb->caught_ms) : 0;
}
