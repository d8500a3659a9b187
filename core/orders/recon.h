/*
 * recon.h - reconciliation against the channels' daily bills (doc/design.md
 * §6, "Reconciliation"; migration 010): a job in every daemon that, after
 * reconciliation.bill_time in each channel's time zone, makes yesterday's
 * run of every channel whose driver reads bills (ABI 1.3) due, claims one
 * due run at a time (recon_runs, FOR UPDATE SKIP LOCKED, a lease renewed
 * while it works, like the completion job's), fetches the bill through the
 * driver on the loop (core/runtime/billfetch.c: the file streamed to an unlinked
 * temporary file), reads it row by row with the driver's reader, stores
 * the rows chunk by chunk (reconciliation.chunk_rows per turn of the loop,
 * so the loop never stalls and no bill is in memory whole), and has the
 * store match them against the payments, refunds and withdrawals of that
 * channel and day (pr_recon_match): what differs goes to
 * recon_differences, and an order the channel charged that has not
 * succeeded here is checked at once.
 */
#ifndef PR_RECON_H
#define PR_RECON_H

#include <stdint.h>

#include "runtime/daemon.h"

struct pr_recon;

struct pr_recon_stats {
	uint64_t runs_done;   /* matched and finished */
	uint64_t runs_failed; /* attempts that failed */
	uint64_t rows;	      /* bill rows stored */
	uint64_t checks;      /* orders checked at once because of a bill */
	int running;	      /* a run in progress here */
};

/* Starts the job on d's loop; NULL when out of memory. */
struct pr_recon *pr_recon_new(struct pr_daemon *d);
/* Stops it; a run in progress ends with errors as the store and the HTTP
 * client go (its lease lets another instance take it over). */
void pr_recon_free(struct pr_recon *r);
void pr_recon_get_stats(const struct pr_recon *r, struct pr_recon_stats *st);
/* The job's /metrics text (counters, and the open differences by kind and
 * channel and the fee drift, as last read from the store) into buf;
 * returns its length, 0 when it does not fit. */
size_t pr_recon_metrics(const struct pr_recon *r, char *buf, size_t len);

/* Appends row as one JSON object of the chunk format pr_recon_match's
 * loader reads ({"l","k","o","r","t","a","f","c","s","e","m"}) to buf
 * (growing it). Returns 0, -EINVAL for a row the store would refuse
 * (err says why), -ENOMEM. Exposed for the tests and the benchmark. */
struct pr_recon_buf {
	char *p;
	size_t len, cap;
	uint64_t rows;
};
int pr_recon_row_json(struct pr_recon_buf *buf,
		      const struct payroute_bill_row *row, char *err,
		      size_t errlen);

#endif
