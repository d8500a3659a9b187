/*
 * orderstate.c - the payment state machine (DESIGN section 8), as one
 * table of allowed transitions. The database holds the same table
 * (pr_payment_transition_ok in migration 004, enforced by a trigger on
 * payments); the C side uses it to decide which states an update may start
 * from (pr_pay_from_literal builds the expected-state array of the one
 * conditional UPDATE), so a late or duplicate answer can never move a final
 * order. Pure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "orderstate.h"

static const char *const names[PR_PAY_N_STATUS] = {
	[PR_PAY_CREATED] = "created",	  [PR_PAY_PROCESSING] = "processing",
	[PR_PAY_SUCCEEDED] = "succeeded", [PR_PAY_FAILED] = "failed",
	[PR_PAY_CLOSED] = "closed",	  [PR_PAY_UNKNOWN] = "unknown",
};

#define B(s) (1u << (s))

/* allowed[from]: the bit set of the states `from` may move to. */
static const unsigned allowed[PR_PAY_N_STATUS] = {
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

static int valid(enum pr_pay_status s)
{
	return (unsigned)s < PR_PAY_N_STATUS;
}

const char *pr_pay_status_name(enum pr_pay_status s)
{
	return valid(s) ? names[s] : NULL;
}

int pr_pay_status_parse(const char *s, enum pr_pay_status *out)
{
	for (int i = 0; s && i < PR_PAY_N_STATUS; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum pr_pay_status)i;
			return 0;
		}
	}
	return -EINVAL;
}

int pr_pay_status_final(enum pr_pay_status s)
{
	return s == PR_PAY_SUCCEEDED || s == PR_PAY_FAILED ||
	       s == PR_PAY_CLOSED;
}

int pr_pay_transition_ok(enum pr_pay_status from, enum pr_pay_status to)
{
	if (!valid(from) || !valid(to))
		return 0;
	return (allowed[from] & B(to)) != 0;
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
	size_t used = 0;
	int n;

	if (!buf || len == 0 || !valid(to))
		return NULL;
	buf[0] = '\0';
	for (int from = 0; from < PR_PAY_N_STATUS; from++) {
		if (!(allowed[from] & B(to)))
			continue;
		n = snprintf(buf + used, len - used, "%c%s", used ? ',' : '{',
			     names[from]);
		if (n < 0 || (size_t)n >= len - used)
			return NULL;
		used += (size_t)n;
	}
	if (!used || used + 2 > len)
		return NULL;
	buf[used] = '}';
	buf[used + 1] = '\0';
	return buf;
}
