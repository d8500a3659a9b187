/*
 * payorder.h - the payment as an order kind (ordstore.h): its row, its
 * merchant JSON, the driver's view of it, its completion check
 * (supplementary query) and the application of its channel callbacks.
 * The merchant API of payments is payments.c; the cascade is flow.c.
 */
#ifndef PR_PAYORDER_H
#define PR_PAYORDER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <payroute/driver.h>

#include "orders/completion.h"
#include "runtime/daemon.h"
#include "domain/orderstate.h"
#include "orders/ordstore.h"

/* A payment as the store has it (common.status is an enum
 * pr_pay_status). */
struct pr_pay_row {
	struct pr_order_common c;
	char method[33];
	char environment[17];
	char product_code[65];
	char subject[257];
	char buyer_id[129];
	char bank_code[17];
	char client_ip[64];
	char card_last4[5];
	int64_t expire_ms;
	json_t *payer; /* the payer's payload (a reference), or NULL */
};

extern const struct pr_order_kind pr_payment_kind;

/* The columns of a payment row over alias x (pr_payment_kind.row_read
 * reads them, then the locale when asked). */
#define PR_PAY_COLS                                                            \
	PR_ORDER_COLS("merchant_order_no")                                     \
	", x.method, coalesce(x.environment, ''), "                            \
	"coalesce(x.product_code, ''), coalesce(x.subject, ''), "              \
	"coalesce(x.buyer_id, ''), coalesce(x.bank_code, ''), "                \
	"coalesce(x.client_ip, ''), coalesce(x.card_last4, ''), "              \
	"(extract(epoch FROM x.expire_at) * 1000)::bigint, x.payer::text"

/* Fills o for an operation on payment p over channel spec c (bank code
 * mapped to the channel's, notify URL of the channel). The strings point
 * into p and notify_buf, which must outlive o. */
void pr_pay_order(const struct pr_pay_row *p, const struct pr_config *cfg,
		  const struct pr_chan_spec *c, struct payroute_order *o,
		  char *notify_buf, size_t notify_len);

/* How payments are checked by the completion job. */
extern const struct pr_check_kind pr_payment_check;

/* Applies a verified callback for a payment of channel ch (of generation
 * gen); done(ok) says whether the channel may stop re-sending it. Returns
 * 0, or a negative errno (done not called). */
int pr_payment_callback(struct pr_daemon *d, struct pr_generation *gen,
			const struct pr_channel *ch,
			const struct payroute_notify *nt,
			void (*done)(int ok, void *arg), void *arg);

#endif
