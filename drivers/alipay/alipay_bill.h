/*
 * alipay_bill.h - the reader of Alipay's trade bill (ABI 1.3 bill_open,
 * bill_next, bill_close of the alipay driver): the zip that
 * alipay.data.dataservice.bill.downloadurl.query points to, holding the
 * GBK CSV "..._业务明细.csv" (the rows) and "..._业务明细(汇总).csv" (a
 * summary per day, not read). See alipay_bill.c for the columns.
 */
#ifndef PR_ALIPAY_BILL_H
#define PR_ALIPAY_BILL_H

#include <stddef.h>

#include <payroute/driver.h>

struct alipay_bill;

/* Opens the zip in fd (not taken: it is dup()ed). Returns 0 and sets *out;
 * -EBADMSG when it is not such a zip (err says why); -ENOMEM. Free with
 * alipay_bill_close. */
int alipay_bill_open(int fd, struct alipay_bill **out, char *err,
		     size_t errlen);
/* The next row (see bill_next in payroute/driver.h): 1, 0 at the end
 * after the "#交易合计" and "#退款合计" lines were checked against the
 * rows, or -EBADMSG / -EIO with err naming the line. */
int alipay_bill_next(struct alipay_bill *b, struct payroute_bill_row *row,
		     char *err, size_t errlen);
void alipay_bill_close(struct alipay_bill *b);

#endif
