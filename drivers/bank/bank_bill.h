/*
 * bank_bill.h - the reader of the bank's settlement file (ABI 1.3
 * bill_open, bill_next, bill_close of the bank driver): a zip of one GBK
 * fixed-width text file, UnionPay-style. See bank_bill.c for the layout.
 */
#ifndef PR_BANK_BILL_H
#define PR_BANK_BILL_H

#include <stddef.h>

#include <payroute/driver.h>

struct bank_bill;

/* Opens the zip in fd (not taken). When hash_hex is not empty the SHA-256
 * of the file's bytes must be it (hash_alg "SHA256"), checked here through
 * svc's hash services (svc NULL: not checked, the fuzz target). Returns 0
 * and sets *out; -EBADMSG (not such a file, a wrong digest), -ENOTSUP,
 * -EIO, -ENOMEM. order ids come out as the file has them (the driver
 * decodes its "X0" form). */
int bank_bill_open(const struct payroute_services *svc, const char *hash_alg,
		   const char *hash_hex, int fd, struct bank_bill **out,
		   char *err, size_t errlen);
int bank_bill_next(struct bank_bill *b, struct payroute_bill_row *row,
		   char *err, size_t errlen);
void bank_bill_close(struct bank_bill *b);

#endif
