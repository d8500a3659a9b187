/*
 * drvbuf.h - a growing NUL-terminated string for the in-tree drivers
 * (sign strings, form bodies, URLs). An allocation failure is sticky: the
 * caller builds on and checks `oom` once at the end. p is malloc'd: free it.
 */
#ifndef PR_DRVBUF_H
#define PR_DRVBUF_H

#include <stddef.h>

struct drv_buf {
	char *p; /* NUL-terminated once anything was added; owned */
	size_t len;
	size_t cap;
	int oom;
};

/* Appends n bytes of s. */
void drv_buf_add(struct drv_buf *b, const char *s, size_t n);
/* Appends the string s. */
void drv_buf_str(struct drv_buf *b, const char *s);

#endif
