/*
 * jsonw.h - a JSON text writer for answers written as they are walked
 * (the explain endpoint's, doc/design.md §9): no tree, one growing
 * buffer, the text json_dumps(JSON_COMPACT) would give for the same
 * values, byte for byte (strings escaped as jansson escapes them, reals
 * as jansson prints them), so that an answer moved to it keeps its bytes.
 */
#ifndef PR_JSONW_H
#define PR_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct pr_jw {
	char *p; /* the text so far (not NUL-terminated) */
	size_t len, cap;
	char *own;  /* p when it is the writer's heap copy, else NULL */
	int comma;  /* the next member or element needs a ',' first */
	int failed; /* out of memory, or a string that is not UTF-8 */
};

/* Starts w on the caller's room (buf, cap bytes; may be NULL, 0): the text
 * moves to the heap when it outgrows it. */
void pr_jw_init(struct pr_jw *w, char *buf, size_t cap);

/* Frees what w allocated (not the caller's room). */
void pr_jw_free(struct pr_jw *w);

/* The structure. A key is a member's name inside an object, followed by
 * exactly one value (or an open). Misuse (a value where a key is due) is
 * the caller's bug and is not detected. */
void pr_jw_obj_open(struct pr_jw *w);
void pr_jw_obj_close(struct pr_jw *w);
void pr_jw_arr_open(struct pr_jw *w);
void pr_jw_arr_close(struct pr_jw *w);
void pr_jw_key(struct pr_jw *w, const char *k);

/* Values. pr_jw_str writes null for NULL; a string that is not UTF-8
 * marks w failed (jansson refuses to hold one). pr_jw_real marks w failed
 * for NaN and the infinities (no JSON number), and otherwise writes what
 * jansson writes: "%.17g", with ".0" when neither a point nor an exponent
 * shows, and no '+' or leading zeros in the exponent. */
void pr_jw_str(struct pr_jw *w, const char *s);
void pr_jw_int(struct pr_jw *w, int64_t v);
void pr_jw_real(struct pr_jw *w, double v);
void pr_jw_bool(struct pr_jw *w, int v);
void pr_jw_null(struct pr_jw *w);

#endif
