/*
 * bench_passwd.c - what a password costs payrouted (core/runtime/passwd.c,
 * offload.c; doc/design.md §11): the time of one scrypt hash with the
 * parameters new hashes get, and the longest the event loop stalls while
 * a burst of sign-ins is verified, with the KDF run on the loop (as a
 * naive handler would) and on offload.c's worker thread (as payrouted
 * does). A 1 ms timer stands in for every other request: its worst lateness
 * is the stall another request would see.
 *
 *   make bench && ./contrib/bench/bench_passwd [N]   (N sign-ins, default 8)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "runtime/offload.h"
#include "runtime/passwd.h"

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* CPU time of this thread, µs: what a hash costs whatever else the
 * machine runs (wall time on a loaded machine is more). */
static int64_t cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char stored[PR_PASSWD_HASH_MAX];
static struct event_base *base;
static int64_t last_tick, worst_gap;
static int left, inline_mode;

static void tick(evutil_socket_t fd, short what, void *arg)
{
	int64_t t = now_us();

	(void)fd;
	(void)what;
	(void)arg;
	if (t - last_tick > worst_gap)
		worst_gap = t - last_tick;
	last_tick = t;
}

static void work(void *arg)
{
	if (pr_passwd_verify("correct horse battery", stored) != 1)
		abort();
	(void)arg;
}

static void done(void *arg)
{
	(void)arg;
	if (--left == 0) {
		tick(-1, 0, NULL); /* the gap up to now counts too */
		event_base_loopbreak(base);
	}
}

/* One sign-in arriving: verified on the loop or handed to the worker. */
static void arrive(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (inline_mode) {
		work(NULL);
		done(NULL);
	} else if (pr_offload(base, work, done, NULL) < 0) {
		abort();
	}
}

/* The worst gap between 1 ms ticks while n sign-ins are checked, in ms. */
static double run(int n, int on_loop)
{
	struct timeval one_ms = { 0, 1000 }, at;
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);

	inline_mode = on_loop;
	left = n;
	last_tick = now_us();
	worst_gap = 0;
	event_add(t, &one_ms);
	for (int i = 0; i < n; i++) {
		at.tv_sec = 0;
		at.tv_usec = 5000 + i * 2000; /* one every 2 ms */
		event_base_once(base, -1, EV_TIMEOUT, arrive, NULL, &at);
	}
	event_base_dispatch(base);
	event_free(t);
	return worst_gap / 1000.0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8;
	int64_t t0, t1, c0, c1;
	double on_loop, off_loop;

	if (n < 1 || n > 1000)
		n = 8;
	t0 = now_us();
	c0 = cpu_us();
	if (pr_passwd_hash("correct horse battery", stored) < 0)
		return 1;
	c1 = cpu_us();
	t1 = now_us();
	printf("scrypt ln=%d r=%d p=%d (%d MiB): one hash %.1f ms (%.1f ms of "
	       "CPU)\n",
	       PR_PASSWD_LN, PR_PASSWD_R, PR_PASSWD_P,
	       (128 * PR_PASSWD_R << PR_PASSWD_LN) >> 20, (t1 - t0) / 1000.0,
	       (c1 - c0) / 1000.0);
	t0 = now_us();
	for (int i = 0; i < 5; i++)
		work(NULL);
	printf("one verification (mean of 5): %.1f ms\n",
	       (now_us() - t0) / 5000.0);
	base = event_base_new();
	if (!base)
		return 1;
	on_loop = run(n, 1);
	off_loop = run(n, 0);
	printf("%d sign-ins, one every 2 ms: the loop's longest stall %.1f ms "
	       "with the KDF on the loop, %.1f ms on the worker thread\n",
	       n, on_loop, off_loop);
	pr_offload_shutdown();
	event_base_free(base);
	return 0;
}
