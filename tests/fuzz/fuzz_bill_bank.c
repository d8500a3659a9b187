/*
 * fuzz_bill_bank.c - libFuzzer target for the reader of the bank's zipped fixed-width GBK settlement file
 * (drivers/bank/bank_bill.c, ABI 1.3 bills): the input is the downloaded
 * file, handed over as a file descriptor like the core does. Never a
 * crash; every row it yields has a kind, positive amount, a
 * NUL-terminated order id, and a line number that grows; an error says
 * what in err. (Digests are not checked here: the core's hash services are
 * not linked.)
 *
 * Seeds: tests/fuzz/corpus/fuzz_bill_bank/ (written by
 * tests/fuzz/make_bill_seeds.py).
 */
// FUZZ_CORE: drivers/bank/bank_bill.c drivers/common/billtext.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bank_bill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bank_bill *b = NULL;
	struct payroute_bill_row row;
	char err[512] = "";
	uint64_t last = 0;
	int fd = memfd_create("bill", MFD_CLOEXEC), rc;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	rc = bank_bill_open(NULL, "", "", fd, &b, err, sizeof(err));
	close(fd);
	if (rc < 0) {
		if (!err[0])
			abort();
		return 0;
	}
	for (int n = 0; n < 100000; n++) {
		memset(&row, 0, sizeof(row));
		row.size = sizeof(row);
		rc = bank_bill_next(b, &row, err, sizeof(err));
		if (rc != 1)
			break;
		if (row.amount <= 0 || row.line <= last ||
		    memchr(row.order_id, '\0', sizeof(row.order_id)) == NULL ||
		    (row.kind != PAYROUTE_KIND_PAYMENT &&
		     row.kind != PAYROUTE_KIND_REFUND &&
		     row.kind != PAYROUTE_KIND_PAYOUT))
			abort();
		last = row.line;
	}
	if (rc < 0 && !err[0])
		abort();
	bank_bill_close(b);
	return 0;
}
