/*
 * statedump.c - prints one of core/domain/orderstate.c's state machines for the
 * integration tests to compare with the store's (check_machine in
 * lib_pay.sh):
 *
 *   statedump KIND        KIND: payment, withdrawal or refund
 *
 * One line per state ("state NAME", in enum order), per final state
 * ("final NAME") and per pair of states ("next FROM TO true" or "...
 * false", as PostgreSQL writes a boolean as text). Exit status 0, or 2 for
 * an unknown kind.
 */
#include <stdio.h>

#include "domain/orderstate.h"

int main(int argc, char **argv)
{
	const struct pr_machine *m = argc == 2 ? pr_machine_of(argv[1]) : NULL;

	if (!m) {
		fprintf(stderr, "usage: statedump payment|withdrawal|refund\n");
		return 2;
	}
	for (int s = 0; s < m->n; s++)
		printf("state %s\n", pr_state_name(m, s));
	for (int s = 0; s < m->n; s++)
		if (pr_state_final(m, s))
			printf("final %s\n", pr_state_name(m, s));
	for (int f = 0; f < m->n; f++)
		for (int t = 0; t < m->n; t++)
			printf("next %s %s %s\n", pr_state_name(m, f),
			       pr_state_name(m, t),
			       pr_state_next_ok(m, f, t) ? "true" : "false");
	return 0;
}
