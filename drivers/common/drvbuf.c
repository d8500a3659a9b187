/*
 * drvbuf.c - a growing NUL-terminated string shared by the in-tree drivers.
 */
#include <stdlib.h>
#include <string.h>

#include "drvbuf.h"

void drv_buf_add(struct drv_buf *b, const char *s, size_t n)
{
	char *p;
	size_t cap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void drv_buf_str(struct drv_buf *b, const char *s)
{
	drv_buf_add(b, s, strlen(s));
}
