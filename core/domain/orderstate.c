/*
 * orderstate.c - the state machines of payments, withdrawals and refunds
 * (doc/design.md §6), each as one table of allowed transitions and its
 * final states. The database holds the same tables (the
 * pr_*_transition_ok functions of migrations 004-006, enforced by a
 * trigger per table); the C side uses them to name states, to know which
 * are final and to decide which states an update may start from (the
 * expected-state array of the one conditional UPDATE), so a late or
 * duplicate answer can never move a final order. Pure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domain/orderstate.h"

#define B(s) PR_FROM(s)

/* ------------------------------------------------------------ payments */

static const char *const pay_names[PR_PAY_N_STATUS] = {
	[PR_PAY_CREATED] = "created",	  [PR_PAY_PROCESSING] = "processing",
	[PR_PAY_SUCCEEDED] = "succeeded", [PR_PAY_FAILED] = "failed",
	[PR_PAY_CLOSED] = "closed",	  [PR_PAY_UNKNOWN] = "unknown",
};

static const unsigned pay_next[PR_PAY_N_STATUS] = {
	[PR_PAY_CREATED] = B(PR_PAY_PROCESSING) | B(PR_PAY_FAILED),
	[PR_PAY_PROCESSING] = B(PR_PAY_PROCESSING) | B(PR_PAY_SUCCEEDED) |
			      B(PR_PAY_FAILED) | B(PR_PAY_CLOSED) |
			      B(PR_PAY_UNKNOWN),
	[PR_PAY_UNKNOWN] = B(PR_PAY_UNKNOWN) | B(PR_PAY_PROCESSING) |
			   B(PR_PAY_SUCCEEDED) | B(PR_PAY_FAILED) |
			   B(PR_PAY_CLOSED),
	[PR_PAY_SUCCEEDED] = 0,
	[PR_PAY_FAILED] = 0,
	[PR_PAY_CLOSED] = 0,
};

const struct pr_machine pr_pay_machine = {
	.kind = "payment",
	.n = PR_PAY_N_STATUS,
	.names = pay_names,
	.next = pay_next,
	.final = B(PR_PAY_SUCCEEDED) | B(PR_PAY_FAILED) | B(PR_PAY_CLOSED),
};

/* --------------------------------------------------------- withdrawals */

static const char *const wd_names[PR_WD_N_STATUS] = {
	[PR_WD_CREATED] = "created",
	[PR_WD_PENDING_CHANNEL] = "pending_channel",
	[PR_WD_PROCESSING] = "processing",
	[PR_WD_SUCCEEDED] = "succeeded",
	[PR_WD_FAILED] = "failed",
	[PR_WD_UNKNOWN] = "unknown",
};

static const unsigned wd_next[PR_WD_N_STATUS] = {
	[PR_WD_CREATED] = B(PR_WD_PENDING_CHANNEL) | B(PR_WD_PROCESSING) |
			  B(PR_WD_FAILED),
	[PR_WD_PENDING_CHANNEL] = B(PR_WD_PROCESSING) | B(PR_WD_FAILED),
	[PR_WD_PROCESSING] = B(PR_WD_PROCESSING) | B(PR_WD_SUCCEEDED) |
			     B(PR_WD_FAILED) | B(PR_WD_UNKNOWN),
	[PR_WD_UNKNOWN] = B(PR_WD_UNKNOWN) | B(PR_WD_PROCESSING) |
			  B(PR_WD_SUCCEEDED) | B(PR_WD_FAILED),
	[PR_WD_SUCCEEDED] = 0,
	[PR_WD_FAILED] = 0,
};

const struct pr_machine pr_wd_machine = {
	.kind = "withdrawal",
	.n = PR_WD_N_STATUS,
	.names = wd_names,
	.next = wd_next,
	.final = B(PR_WD_SUCCEEDED) | B(PR_WD_FAILED),
};

/* ------------------------------------------------------------- refunds */

static const char *const rf_names[PR_RF_N_STATUS] = {
	[PR_RF_CREATED] = "created",	 [PR_RF_PROCESSING] = "processing",
	[PR_RF_SUCCEEDED] = "succeeded", [PR_RF_FAILED] = "failed",
	[PR_RF_OVERDUE] = "overdue",	 [PR_RF_RESOLVED] = "resolved",
};

static const unsigned rf_next[PR_RF_N_STATUS] = {
	[PR_RF_CREATED] = B(PR_RF_PROCESSING) | B(PR_RF_SUCCEEDED) |
			  B(PR_RF_FAILED) | B(PR_RF_OVERDUE),
	[PR_RF_PROCESSING] = B(PR_RF_PROCESSING) | B(PR_RF_SUCCEEDED) |
			     B(PR_RF_FAILED) | B(PR_RF_OVERDUE),
	[PR_RF_OVERDUE] = B(PR_RF_OVERDUE) | B(PR_RF_PROCESSING) |
			  B(PR_RF_SUCCEEDED) | B(PR_RF_RESOLVED),
	[PR_RF_SUCCEEDED] = 0,
	[PR_RF_FAILED] = 0,
	[PR_RF_RESOLVED] = 0,
};

const struct pr_machine pr_rf_machine = {
	.kind = "refund",
	.n = PR_RF_N_STATUS,
	.names = rf_names,
	.next = rf_next,
	.final = B(PR_RF_SUCCEEDED) | B(PR_RF_FAILED) | B(PR_RF_RESOLVED),
};

/* ------------------------------------------------------ any machine */

const struct pr_machine *pr_machine_of(const char *kind)
{
	static const struct pr_machine *const all[] = {
		&pr_pay_machine,
		&pr_wd_machine,
		&pr_rf_machine,
	};

	for (size_t i = 0; kind && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->kind, kind) == 0)
			return all[i];
	return NULL;
}

static int valid(const struct pr_machine *m, int s)
{
	return s >= 0 && s < m->n;
}

const char *pr_state_name(const struct pr_machine *m, int s)
{
	return valid(m, s) ? m->names[s] : NULL;
}

int pr_state_parse(const struct pr_machine *m, const char *s)
{
	for (int i = 0; s && i < m->n; i++)
		if (strcmp(s, m->names[i]) == 0)
			return i;
	return -EINVAL;
}

int pr_state_final(const struct pr_machine *m, int s)
{
	return valid(m, s) && (m->final & B(s)) != 0;
}

int pr_state_next_ok(const struct pr_machine *m, int from, int to)
{
	if (!valid(m, from) || !valid(m, to))
		return 0;
	return (m->next[from] & B(to)) != 0;
}

unsigned pr_state_preds(const struct pr_machine *m, int to)
{
	unsigned set = 0;

	for (int from = 0; valid(m, to) && from < m->n; from++)
		if (m->next[from] & B(to))
			set |= B(from);
	return set;
}

const char *pr_state_set_literal(const struct pr_machine *m, unsigned set,
				 char *buf, size_t len)
{
	size_t used = 1;
	int n;

	if (!buf || len < 3)
		return NULL;
	buf[0] = '{';
	for (int s = 0; s < m->n; s++) {
		if (!(set & B(s)))
			continue;
		n = snprintf(buf + used, len - used, "%s%s",
			     used > 1 ? "," : "", m->names[s]);
		/* room left for the closing brace and the NUL */
		if (n < 0 || (size_t)n >= len - used - 1)
			return NULL;
		used += (size_t)n;
	}
	buf[used++] = '}';
	buf[used] = '\0';
	return buf;
}

/* ------------------------------------------- the payment shorthands */

const char *pr_pay_status_name(enum pr_pay_status s)
{
	return pr_state_name(&pr_pay_machine, (int)s);
}

int pr_pay_status_parse(const char *s, enum pr_pay_status *out)
{
	int st = pr_state_parse(&pr_pay_machine, s);

	if (st < 0)
		return st;
	*out = (enum pr_pay_status)st;
	return 0;
}

int pr_pay_status_final(enum pr_pay_status s)
{
	return pr_state_final(&pr_pay_machine, (int)s);
}

int pr_pay_transition_ok(enum pr_pay_status from, enum pr_pay_status to)
{
	return pr_state_next_ok(&pr_pay_machine, (int)from, (int)to);
}

enum pr_pay_status pr_pay_status_for_effect(enum payroute_effect e)
{
	switch (e) {
	case PAYROUTE_EFFECT_SUCCESS:
		return PR_PAY_SUCCEEDED;
	case PAYROUTE_EFFECT_FAILED:
		return PR_PAY_FAILED;
	case PAYROUTE_EFFECT_CLOSED:
		return PR_PAY_CLOSED;
	case PAYROUTE_EFFECT_PROCESSING:
		return PR_PAY_PROCESSING;
	case PAYROUTE_EFFECT_UNKNOWN:
		break;
	}
	/* an unknown effect is treated as an unknown outcome: chased, never
	 * guessed */
	return PR_PAY_UNKNOWN;
}

const char *pr_pay_from_literal(enum pr_pay_status to, char *buf, size_t len)
{
	unsigned preds = pr_state_preds(&pr_pay_machine, (int)to);

	if (!preds)
		return NULL;
	return pr_state_set_literal(&pr_pay_machine, preds, buf, len);
}
