/*
 * bench_listsql.c - prints the statement the admin API runs for an order
 * list (core/domain/ordquery.c, the daemon's own builder) as SQL that psql can
 * EXPLAIN: "PREPARE q AS <statement>;" then "EXPLAIN (ANALYZE, BUFFERS)
 * EXECUTE q(<parameters>);". For bench_lists.sh.
 *
 * Usage: bench_listsql payment|refund|withdrawal [NAME=VALUE...]
 */
#include <stdio.h>
#include <string.h>

#include "domain/ordquery.h"

int main(int argc, char **argv)
{
	const char *names[PR_OQ_MAX_PARAMS], *values[PR_OQ_MAX_PARAMS];
	static char buf[PR_OQ_MAX_PARAMS][256];
	enum pr_oq_kind kind;
	const char *bad = NULL;
	char err[256];
	struct pr_oq q;
	size_t n = 0;

	if (argc < 2)
		goto usage;
	if (strcmp(argv[1], "payment") == 0)
		kind = PR_OQ_PAYMENT;
	else if (strcmp(argv[1], "refund") == 0)
		kind = PR_OQ_REFUND;
	else if (strcmp(argv[1], "withdrawal") == 0)
		kind = PR_OQ_WITHDRAWAL;
	else
		goto usage;
	for (int i = 2; i < argc && n < PR_OQ_MAX_PARAMS; i++) {
		char *eq;

		snprintf(buf[n], sizeof(buf[n]), "%s", argv[i]);
		eq = strchr(buf[n], '=');
		if (!eq)
			goto usage;
		*eq = '\0';
		names[n] = buf[n];
		values[n] = eq + 1;
		n++;
	}
	if (pr_oq_build(kind, names, values, n, &q, &bad, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "bench_listsql: %s\n", err);
		return 1;
	}
	printf("DEALLOCATE ALL;\nPREPARE q AS %s;\n", q.sql);
	printf("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE q");
	for (int i = 0; i < q.n; i++) {
		printf("%s'", i ? ", " : "(");
		for (const char *c = q.param[i]; *c; c++)
			printf(*c == '\'' ? "''" : "%c", *c);
		printf("'");
	}
	printf("%s;\n", q.n ? ")" : "");
	return 0;
usage:
	fprintf(stderr, "usage: bench_listsql payment|refund|withdrawal "
			"[NAME=VALUE...]\n");
	return 2;
}
