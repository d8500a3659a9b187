/*
 * services.h - the table of core services handed to every driver at init
 * (struct payroute_services in payroute/driver.h).
 */
#ifndef PR_SERVICES_H
#define PR_SERVICES_H

#include <payroute/driver.h>

/* The core's services table (static; valid for the process's life). */
const struct payroute_services *pr_services(void);

#endif
