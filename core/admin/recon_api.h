/*
 * recon_api.h - the reconciliation endpoints of the admin API
 * (recon_api.c).
 */
#ifndef PR_RECON_API_H
#define PR_RECON_API_H

#include "runtime/daemon.h"
#include "base/route.h"

void pr_recon_get(struct pr_request *r, const struct pr_route_match *m);
void pr_recon_run(struct pr_request *r, const struct pr_route_match *m);
void pr_recon_resolve(struct pr_request *r, const struct pr_route_match *m);

#endif
