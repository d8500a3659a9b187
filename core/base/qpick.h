/*
 * qpick.h - which statement an idle connection of the store's pool takes
 * next (core/runtime/db.c, doc/design.md §5 "The pool"): a request's
 * before a background job's, a background job's only while fewer than
 * the pool's background share run one, and a background job's first once
 * it has waited PR_QPICK_MAX_WAIT_US, so that a steady stream of requests
 * never starves it. Pure: test_qpick calls it directly.
 */
#ifndef PR_QPICK_H
#define PR_QPICK_H

#include <stdint.h>

#define PR_QPICK_MAX_WAIT_US 1000000

enum pr_qpick {
	PR_QPICK_NONE,	     /* nothing it may take: stay idle */
	PR_QPICK_REQUEST,    /* the first of the requests' queue */
	PR_QPICK_BACKGROUND, /* the first of the background queue */
};

struct pr_qpick_state {
	int requests;	      /* requests' statements waiting */
	int background;	      /* background statements waiting */
	int64_t bg_waited_us; /* how long the first of them has waited */
	int bg_running;	      /* connections running background work */
	int bg_max;	      /* pr_qpick_bg_max of the pool */
};

/* The connections of a pool of pool_size that background work may hold
 * at once: all but a quarter (at least one stays for requests), and at
 * least one. */
int pr_qpick_bg_max(int pool_size);

/* The queue an idle connection serves next, given the state. */
enum pr_qpick pr_qpick(const struct pr_qpick_state *s);

#endif
