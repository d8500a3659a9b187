/*
 * names.c - "did you mean ...?": the edit distance between two names and
 * the closest of a set of candidates (see names.h). Moved here from
 * config.c so that every place that refuses an unknown name suggests the
 * same way.
 */
#include <stdint.h>
#include <string.h>

#include "base/names.h"

/* Longest name compared, NUL excluded (one row of the matrix on the
 * stack). */
#define NAME_MAX_COMPARED 63

size_t pr_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[NAME_MAX_COMPARED + 1];

	if (la > NAME_MAX_COMPARED || lb > NAME_MAX_COMPARED)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

void pr_suggest_init(struct pr_suggest *s, const char *name,
		     size_t max_distance)
{
	s->name = name;
	s->best = NULL;
	/* best_distance is one past the largest distance still accepted */
	s->best_distance = max_distance + 1;
}

void pr_suggest_offer(struct pr_suggest *s, const char *candidate)
{
	size_t d;

	if (!candidate)
		return;
	d = pr_edit_distance(s->name, candidate);
	if (d < s->best_distance) {
		s->best_distance = d;
		s->best = candidate;
	}
}
