/*
 * wechat_bill.h - the reader of WeChat Pay's trade bill (API v3
 * /v3/bill/tradebill, bill_type ALL, tar_type GZIP; ABI 1.3 bill_open,
 * bill_next, bill_close of the wechat driver). See wechat_bill.c.
 */
#ifndef PR_WECHAT_BILL_H
#define PR_WECHAT_BILL_H

#include <stddef.h>

#include <payroute/driver.h>

struct wechat_bill;

/* Opens the gzip file in fd (not taken: it is dup()ed). When hash_hex is
 * not empty, the SHA1 of the decompressed bill must be it (hash_alg
 * "SHA1"), checked through svc's hash services at the end; svc NULL skips
 * that check (the fuzz target). Returns 0 and sets *out, -EBADMSG,
 * -ENOTSUP (an algorithm other than SHA1, or a core without hashes),
 * -ENOMEM. */
int wechat_bill_open(const struct payroute_services *svc, const char *hash_alg,
		     const char *hash_hex, int fd, struct wechat_bill **out,
		     char *err, size_t errlen);
int wechat_bill_next(struct wechat_bill *b, struct payroute_bill_row *row,
		     char *err, size_t errlen);
void wechat_bill_close(struct wechat_bill *b);

#endif
