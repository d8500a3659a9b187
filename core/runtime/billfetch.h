/*
 * billfetch.h - fetching one part of a channel's daily bill through its
 * driver (ABI 1.3, doc/design.md §2) on the daemon's loop: build_bill, the
 * request through the HTTP client, parse_bill, then the download
 * (build_bill_download or a plain GET) streamed into an unlinked temporary
 * file, never held in memory. The caller then reads the file with the
 * driver's bill_open / bill_next / bill_close.
 */
#ifndef PR_BILLFETCH_H
#define PR_BILLFETCH_H

#include <stdint.h>

#include <event2/event.h>
#include <payroute/driver.h>

#include "runtime/httpc.h"

struct pr_billfetch_req {
	struct event_base *base;
	struct pr_httpc *httpc;
	const struct payroute_driver *drv; /* PAYROUTE_HAS_BILLS */
	void *state;			   /* the channel's driver state */
	const char *channel;		   /* for log lines */
	const char *day;		   /* YYYY-MM-DD */
	unsigned part;
	const char *tmpdir; /* where the file goes (NULL: /tmp) */
	uint64_t max_bytes; /* largest download (0: no limit) */
};

/* Called once, from the loop. rc 0: fd is the downloaded file, at offset
 * 0, owned by the callee (close it); file says where it came from. rc
 * -ENOENT: the channel has no bill for the day; -ENODATA: the bill has no
 * such part; another negative code with err saying what went wrong (fd is
 * -1). err and file are valid during the call only. */
typedef void (*pr_billfetch_cb)(int rc, int fd,
				const struct payroute_bill_file *file,
				const char *err, void *arg);

/* Starts the fetch (strings in r are copied). Returns 0 and then cb is
 * called exactly once, never from inside this call; or -ENOMEM / -EINVAL
 * (a driver without bills) and cb is never called. */
int pr_billfetch_start(const struct pr_billfetch_req *r, pr_billfetch_cb cb,
		       void *arg);

#endif
