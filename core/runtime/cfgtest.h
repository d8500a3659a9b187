/*
 * cfgtest.h - what `payrouted -t` checks beyond the config file and the
 * driver directory: the channels stored in PostgreSQL, each against the
 * driver it names (its declared config keys, ABI 1.2, and for an online
 * channel the driver's init), as a reload would build them.
 */
#ifndef PR_CFGTEST_H
#define PR_CFGTEST_H

#include <stdio.h>

#include "runtime/config.h"
#include "runtime/loader.h"

/* Reads the channels from the store cfg names (a blocking connection of
 * at most PR_CFGTEST_CONNECT_S seconds; -t runs no event loop) and checks
 * each against the drivers of set, printing one "payrouted: ..." line per
 * problem to out, then a summary. Unknown keys are problems here, though
 * a running daemon only warns about them (see generation.c). Returns the
 * number of problems (0: all good), or -1 when the channels could not be
 * read (said on out): the store is not part of what -t requires. */
int pr_cfgtest_channels(const struct pr_config *cfg,
			const struct pr_driver_set *set, FILE *out);

#define PR_CFGTEST_CONNECT_S "5"

#endif
