/*
 * hist.c - a latency histogram for /metrics (hist.h).
 */
#include <stdio.h>

#include "base/hist.h"

static const int64_t bounds_us[PR_HIST_BUCKETS - 1] = {
	100,  250,  500,   750,	  1000,	 1500,	 2000,	 3000,	 4000,
	5000, 7500, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};

int64_t pr_hist_bound_us(size_t i)
{
	return i < PR_HIST_BUCKETS - 1 ? bounds_us[i] : -1;
}

void pr_hist_observe(struct pr_hist *h, int64_t us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < PR_HIST_BUCKETS - 1 && us > bounds_us[i])
		i++;
	h->count[i]++;
	h->n++;
	h->sum_us += (uint64_t)us;
}

size_t pr_hist_format(const struct pr_hist *h, const char *name,
		      const char *labels, char *buf, size_t len)
{
	const char *sep = labels && labels[0] ? "," : "";
	uint64_t cum = 0;
	size_t o = 0;
	int n;

	if (!labels)
		labels = "";
#define PUT(...)                                                               \
	do {                                                                   \
		n = snprintf(buf + (o < len ? o : len), o < len ? len - o : 0, \
			     __VA_ARGS__);                                     \
		if (n > 0)                                                     \
			o += (size_t)n;                                        \
	} while (0)
	for (size_t i = 0; i < PR_HIST_BUCKETS; i++) {
		cum += h->count[i];
		if (i < PR_HIST_BUCKETS - 1)
			PUT("%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
			    sep, (double)bounds_us[i] / 1e6,
			    (unsigned long long)cum);
		else
			PUT("%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
			    sep, (unsigned long long)cum);
	}
	PUT("%s_sum{%s} %.6f\n", name, labels, (double)h->sum_us / 1e6);
	PUT("%s_count{%s} %llu\n", name, labels, (unsigned long long)h->n);
#undef PUT
	return o;
}
