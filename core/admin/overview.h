/*
 * overview.h - GET /admin/v1/overview: each channel's health for the
 * console's dashboard (issue 13, item 6; doc/design.md §10).
 */
#ifndef PR_OVERVIEW_H
#define PR_OVERVIEW_H

#include "runtime/daemon.h"
#include "base/route.h"

/* GET /admin/v1/overview[?minutes=1..60]: for each channel of the
 * request's generation, its state, today's usage against its daily limits
 * (this instance's view, as routing sees it), the routing window's success
 * rate, the last minutes' series and totals (chanstats.h: volume,
 * outcomes, calls, p95 latency a minute), and from the store the open
 * unknown payments and withdrawals and the overdue refunds it holds. */
void pr_overview_handle(struct pr_request *r, const struct pr_route_match *m);

#endif
