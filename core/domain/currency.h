/*
 * currency.h - the ISO 4217 currency codes payroute accepts, with each
 * code's minor units (the number of decimal places of its minor unit:
 * CNY 2, JPY 0, KWD 3, CLF 4). Pure: a constant table, no I/O.
 *
 * Amounts are integers in minor units everywhere (doc/design.md §6), so a
 * currency's minor units never change how an amount is read or checked in
 * the core; they are here for whoever must turn minor units into a
 * decimal amount (a driver formatting "12.34"), and so that codes without
 * a minor unit (gold, SDR, test and fund codes: "N.A." in the standard)
 * can be refused as something a payment cannot be made in.
 */
#ifndef PR_CURRENCY_H
#define PR_CURRENCY_H

#include <stddef.h>

/* One row of ISO 4217 List One. */
struct pr_currency {
	char code[4]; /* alphabetic code, "CNY" */
	int minor;    /* minor units (0 to 4), or -1: N.A. */
};

/* The row of code (exactly three upper-case letters), or NULL when code
 * is not a current ISO 4217 code. */
const struct pr_currency *pr_currency_find(const char *code);

/* The whole table, sorted by code; *n is set to its length. */
const struct pr_currency *pr_currency_all(size_t *n);

/* Checks a currency a payment, refund, withdrawal or channel may name:
 * a current ISO 4217 code that has minor units. Returns NULL when code is
 * acceptable, else what is wrong ("not a current ISO 4217 currency
 * code...", "an ISO 4217 code without minor units..."): a constant
 * string, for a message that names the field. */
const char *pr_currency_check(const char *code);

#endif
