/*
 * clock.h - now, in milliseconds or microseconds: the wall clock for what
 * is stored, shown or compared with another machine's time (created_at,
 * a day's usage, a driver's timestamps), the monotonic clock for what
 * measures a span inside this process (timeouts, latencies, cache ages).
 * Pure in the include wall's sense (libc only: doc/design.md §1); the one
 * thing it reads is the clock.
 */
#ifndef PR_CLOCK_H
#define PR_CLOCK_H

#include <stdint.h>

/* The wall clock (CLOCK_REALTIME): ms since 1970-01-01 UTC. It can jump
 * (NTP, an operator): never measure a span with it. */
int64_t pr_now_ms(void);

/* The monotonic clock (CLOCK_MONOTONIC), from an unspecified start: only
 * differences mean anything. In ms and in us. */
int64_t pr_mono_ms(void);
int64_t pr_mono_us(void);

#endif
