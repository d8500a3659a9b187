/*
 * bench_chanstats.c - what each channel's figures (core/domain/chanstats.c) cost
 * the order path: nanoseconds per recorded outcome and per channel call,
 * with 10, 100 and 1,000 channels in the registry, and the time to write
 * /metrics' part and one overview series (built by `make bench`; a
 * program that prints figures, not a timed test).
 *
 * The recordings follow what an order does: one call and one outcome on
 * a channel picked at random, codes from a small vocabulary, times
 * advancing so that the minute ring turns.
 *
 * Usage: bench_chanstats [recordings per size, default 2000000]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "domain/chanstats.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t written;

static void sink(void *arg, const char *s, size_t n)
{
	(void)arg;
	(void)s;
	written += n;
}

int main(int argc, char **argv)
{
	static const char *const codes[] = { "SUCCESS", "INSUFFICIENT_BALANCE",
					     "CARD_EXPIRED", "SYSTEM_ERROR",
					     "CHANNEL_TIMEOUT" };
	static const char *const status[] = { "succeeded", "failed", "failed",
					      "failed", "unknown" };
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	const size_t sizes[] = { 10, 100, 1000 };

	printf("%8s %14s %14s %14s %14s\n", "channels", "ns/outcome", "ns/call",
	       "ms/metrics", "us/series");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct pr_chanstats *cs = pr_chanstats_new();
		char(*names)[32] = calloc(sizes[s], sizeof(*names));
		int64_t t = 1765000000000;
		double t0, t_order, t_call, t_write, t_series;
		json_t *j;

		if (!cs || !names)
			return 1;
		for (size_t i = 0; i < sizes[s]; i++)
			snprintf(names[i], sizeof(names[i]), "chan_%zu", i);
		t0 = now_s();
		for (long i = 0; i < n; i++) {
			size_t c = next() % sizes[s];
			size_t k = next() % 5;

			pr_chanstats_order(cs, "payment", names[c], status[k],
					   codes[k], t + i);
		}
		t_order = now_s() - t0;
		t0 = now_s();
		for (long i = 0; i < n; i++)
			pr_chanstats_call(cs, names[next() % sizes[s]], 0,
					  PR_CS_CALL_ANSWER,
					  (double)(next() % 3000), t + i);
		t_call = now_s() - t0;
		written = 0;
		t0 = now_s();
		pr_chanstats_write(cs, sink, NULL);
		t_write = now_s() - t0;
		t0 = now_s();
		j = pr_chanstats_series(cs, names[0], 60, t + n);
		t_series = now_s() - t0;
		json_decref(j);
		printf("%8zu %14.1f %14.1f %14.3f %14.1f   (%zu bytes of "
		       "metrics)\n",
		       sizes[s], t_order / (double)n * 1e9,
		       t_call / (double)n * 1e9, t_write * 1e3, t_series * 1e6,
		       written);
		pr_chanstats_free(cs);
		free(names);
	}
	return 0;
}
