/*
 * hist.h - a latency histogram for /metrics (Prometheus "histogram"
 * type): fixed buckets from 100 us to 1 s, cumulative counts, a sum. Pure:
 * test_hist calls it directly.
 */
#ifndef PR_HIST_H
#define PR_HIST_H

#include <stddef.h>
#include <stdint.h>

#define PR_HIST_BUCKETS 19 /* the last is +Inf */

struct pr_hist {
	uint64_t count[PR_HIST_BUCKETS]; /* per bucket, not cumulative */
	uint64_t n;
	uint64_t sum_us;
};

/* The upper bound of bucket i in microseconds (-1 for +Inf). */
int64_t pr_hist_bound_us(size_t i);

/* Counts one observation of us microseconds (negative counts as 0). */
void pr_hist_observe(struct pr_hist *h, int64_t us);

/* Writes the histogram's lines for metric `name` with the label set
 * `labels` ("op=\"payment\"", no braces; may be "") into buf; returns the
 * length written (snprintf's contract: a return >= len means cut). */
size_t pr_hist_format(const struct pr_hist *h, const char *name,
		      const char *labels, char *buf, size_t len);

#endif
