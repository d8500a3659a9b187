/*
 * breaker_api.h - the channels' circuit breakers in the admin API
 * (breaker_api.c, doc/design.md §4 "Circuit breaking").
 */
#ifndef PR_BREAKER_API_H
#define PR_BREAKER_API_H

#include "runtime/daemon.h"
#include "base/route.h"

/* GET /admin/v1/breakers */
void pr_breakers_list(struct pr_request *r, const struct pr_route_match *m);
/* GET /admin/v1/channels/{code}/breaker */
void pr_breaker_get(struct pr_request *r, const struct pr_route_match *m);
/* POST /admin/v1/channels/{code}/breaker {"state": "closed" | "open"} */
void pr_breaker_force(struct pr_request *r, const struct pr_route_match *m);

#endif
