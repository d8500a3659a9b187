/*
 * callbacks.h - channel callbacks, POST /notify/{channel_code} on the
 * merchant listener: verified by the channel's driver, applied to the
 * order along its state machine, answered as the channel expects.
 */
#ifndef PR_CALLBACKS_H
#define PR_CALLBACKS_H

#include "runtime/daemon.h"
#include "base/route.h"

/* POST /notify/{code*}: the callback of channel code, for the merchant
 * listener's route table (admin.c). Answers r. */
void pr_callbacks_handle(struct pr_request *r, const struct pr_route_match *m);

#endif
