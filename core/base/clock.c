/*
 * clock.c - the daemon's one reading of the clocks (see clock.h). Every
 * "now" of the core comes from here: the wall clock for timestamps that
 * are stored or shown, the monotonic one for spans measured in process.
 */
#include <time.h>

#include "base/clock.h"

static int64_t read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pr_now_ms(void)
{
	return read_ms(CLOCK_REALTIME);
}

int64_t pr_mono_ms(void)
{
	return read_ms(CLOCK_MONOTONIC);
}

int64_t pr_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
