/*
 * explain.h - POST /admin/v1/route/explain: a payment request in, the
 * routing trace out, nothing created.
 */
#ifndef PR_EXPLAIN_H
#define PR_EXPLAIN_H

#include "daemon.h"

/* Handles POST /admin/v1/route/explain. */
void pr_explain_handle(struct pr_request *r);

#endif
