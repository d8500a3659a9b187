/*
 * drvfield.h - taking the fields of a channel's answer or callback into
 * the fixed-size fields of a payroute_result or payroute_notify, for the
 * in-tree drivers. Each driver reads its own format (JSON, a form, a
 * key=value message) through a getter; what is copied how, and what is
 * refused, is the same everywhere: an id or a code is copied whole or
 * refused (-EPROTO: a cut id would name another order), text for people
 * is cut on a UTF-8 character boundary.
 */
#ifndef PR_DRVFIELD_H
#define PR_DRVFIELD_H

#include <stddef.h>

/* True when s is printable ASCII without spaces (0x21 to 0x7e). */
int drv_is_token(const char *s);

/* Copies src into dst (size bytes, size > 0), cut on a UTF-8 character
 * boundary when it does not fit. For a message people read. */
void drv_copy_text(char *dst, size_t size, const char *src);

/* As drv_copy_text, and bytes that are not UTF-8 (an overlong form, a
 * surrogate, a stray continuation byte) or are ASCII control characters
 * become '?': for a format that does not promise UTF-8. */
void drv_copy_clean(char *dst, size_t size, const char *src);

/* How drv_copy_id and drv_take_fields treat a field. */
#define DRV_F_REQUIRED 1u /* absent or empty: -EPROTO "WHERE: no KEY" */
#define DRV_F_TOKEN 2u	  /* printable ASCII without spaces (drv_is_token) */
#define DRV_F_TEXT 4u	  /* text for people: cut to fit (drv_copy_text) */

/* Copies the id or code src whole into dst (size bytes): -EPROTO with err
 * naming what when it does not fit ("trade_no: longer than 63 bytes") or,
 * with DRV_F_TOKEN, is not a token ("trade_no: not a valid identifier");
 * dst is then unchanged. Returns 0 or -EPROTO. */
int drv_copy_id(char *dst, size_t size, const char *src, unsigned flags,
		const char *what, char *err, size_t errlen);

/* One field of a channel's message and where it goes: key in the message,
 * the place in the output struct (offsetof, sizeof of a char array) and
 * DRV_F_* flags. */
struct drv_field {
	const char *key;
	size_t off;
	size_t size;
	unsigned flags;
};

/* A drv_field for the char array member of struct type. */
#define DRV_FIELD(type, key, member, flags)                                    \
	{                                                                      \
		(key), offsetof(type, member), sizeof(((type *)0)->member),    \
			(flags)                                                \
	}

/* Reads the value of key in msg into *v: NULL when absent. Returns 0, or
 * a negative code with err filled when the value is there but unusable
 * (not a string). */
typedef int (*drv_get_fn)(const void *msg, const char *key, const char **v,
			  char *err, size_t errlen);

/* Takes the n fields f from msg through get into the struct at out, in
 * order: an absent or empty field is skipped (its place keeps what it
 * had) unless DRV_F_REQUIRED ("WHERE: no KEY"); a DRV_F_TEXT field is cut
 * to fit; any other is copied whole by drv_copy_id. Returns 0, or the
 * first error (-EPROTO, or get's) with err filled; fields before it are
 * taken. */
int drv_take_fields(void *out, const struct drv_field *f, size_t n,
		    drv_get_fn get, const void *msg, const char *where,
		    char *err, size_t errlen);

#endif
