/*
 * names.h - "did you mean ...?" for names the user got wrong: an edit
 * distance and a running pick of the closest candidate. Pure functions
 * over strings (no I/O, no globals); config.c uses them for the options of
 * payrouted.conf, drvschema.c for the keys of a driver's config.
 */
#ifndef PR_NAMES_H
#define PR_NAMES_H

#include <stddef.h>

/* The Levenshtein distance between a and b (insertions, deletions and
 * substitutions of one byte each). Names of 64 bytes or more are not
 * compared: SIZE_MAX. */
size_t pr_edit_distance(const char *a, const char *b);

/* The closest of the candidates offered, within a bound. Use:
 *
 *     struct pr_suggest s;
 *
 *     pr_suggest_init(&s, name, 2);
 *     for (each candidate c)
 *             pr_suggest_offer(&s, c);
 *     if (s.best) ... "did you mean %s?", s.best
 *
 * best is the first candidate at the smallest distance <= max_distance
 * (NULL when none is that close); it points at the candidate offered. */
struct pr_suggest {
	const char *name;
	const char *best;
	size_t best_distance;
};

void pr_suggest_init(struct pr_suggest *s, const char *name,
		     size_t max_distance);
void pr_suggest_offer(struct pr_suggest *s, const char *candidate);

#endif
