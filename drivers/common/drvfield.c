/*
 * drvfield.c - copying what a channel sent into a result's or a
 * notification's fixed-size fields, shared by the in-tree drivers
 * (drvfield.h). Before this file each driver had its own copy of each
 * piece (Alipay's copy_token and copy_text, WeChat Pay's copy_out and its
 * notification readers, the bank's copy_text).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drvfield.h"

int drv_is_token(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

void drv_copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The length of the UTF-8 character at s (1 to 4) that is valid and not an
 * ASCII control character, or 0. */
static size_t clean_char(const unsigned char *s)
{
	size_t len, i;
	unsigned int cp;

	if (*s < 0x80) {
		len = 1;
		cp = *s;
	} else if ((*s & 0xe0) == 0xc0) {
		len = 2;
		cp = *s & 0x1f;
	} else if ((*s & 0xf0) == 0xe0) {
		len = 3;
		cp = *s & 0x0f;
	} else if ((*s & 0xf8) == 0xf0) {
		len = 4;
		cp = *s & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (len == 1 && (cp < 0x20 || cp == 0x7f))
		return 0;
	return len;
}

void drv_copy_clean(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, len;

	while (*s) {
		len = clean_char(s);
		if (len == 0) {
			if (o + 1 >= size)
				break;
			dst[o++] = '?';
			s++;
			continue;
		}
		if (o + len >= size)
			break;
		memcpy(dst + o, s, len);
		o += len;
		s += len;
	}
	if (size)
		dst[o] = '\0';
}

int drv_copy_id(char *dst, size_t size, const char *src, unsigned flags,
		const char *what, char *err, size_t errlen)
{
	size_t len = strlen(src);

	if (len >= size) {
		snprintf(err, errlen, "%s: longer than %zu bytes", what,
			 size ? size - 1 : 0);
		return -EPROTO;
	}
	if ((flags & DRV_F_TOKEN) && !drv_is_token(src)) {
		snprintf(err, errlen, "%s: not a valid identifier", what);
		return -EPROTO;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int drv_take_fields(void *out, const struct drv_field *f, size_t n,
		    drv_get_fn get, const void *msg, const char *where,
		    char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char *dst = (char *)out + f[i].off;
		const char *v = NULL;
		int rc = get(msg, f[i].key, &v, err, errlen);

		if (rc < 0)
			return rc;
		if (!v || !*v) {
			if (!(f[i].flags & DRV_F_REQUIRED))
				continue;
			snprintf(err, errlen, "%s: no %s", where, f[i].key);
			return -EPROTO;
		}
		if (f[i].flags & DRV_F_TEXT)
			drv_copy_text(dst, f[i].size, v);
		else if ((rc = drv_copy_id(dst, f[i].size, v, f[i].flags,
					   f[i].key, err, errlen)) < 0)
			return rc;
	}
	return 0;
}
