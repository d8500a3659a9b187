/*
 * callbacks.h - channel callbacks, POST /notify/{channel_code} on the
 * merchant listener: verified by the channel's driver, applied to the
 * order along its state machine, answered as the channel expects.
 */
#ifndef PR_CALLBACKS_H
#define PR_CALLBACKS_H

#include "daemon.h"

/* Handles r when its path is under /notify/ and returns 1; 0 otherwise. */
int pr_callbacks_handle(struct pr_request *r);

#endif
