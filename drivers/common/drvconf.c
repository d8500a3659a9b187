/*
 * drvconf.c - checking a channel's driver config, shared by the in-tree
 * drivers (alipay, wechat, bank): each is linked with its own copy and keeps
 * these symbols hidden, so a driver module still exports one symbol.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drvconf.h"

/* Reads the string option `key`. A missing required option, a value of
 * another type or an empty string is an error naming the key. Sets *out to
 * NULL when an optional option is missing. The string belongs to conf. */
int drv_conf_string(const struct payroute_services *svc,
		    const payroute_conf *conf, const char *key, int required,
		    const char **out, char *err, size_t errlen)
{
	const char *v = svc->conf_str(conf, key);
	int64_t ignored;

	*out = NULL;
	if (!v) {
		if (svc->conf_int(conf, key, &ignored) == -ENOENT) {
			if (!required)
				return 0;
			snprintf(err, errlen, "%s: required", key);
		} else {
			snprintf(err, errlen, "%s: must be a string", key);
		}
		return -EINVAL;
	}
	if (!*v) {
		snprintf(err, errlen, "%s: must not be empty", key);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* An identifier: printable ASCII without spaces, at most max bytes. */
int drv_check_ident(const char *key, const char *v, size_t max, char *err,
		    size_t errlen)
{
	size_t i, len = strlen(v);

	if (len > max) {
		snprintf(err, errlen, "%s: longer than %zu characters", key,
			 max);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)v[i] <= 0x20 ||
		    (unsigned char)v[i] >= 0x7f) {
			snprintf(err, errlen,
				 "%s: must be printable ASCII without spaces",
				 key);
			return -EINVAL;
		}
	}
	return 0;
}

/* An absolute http:// or https:// URL with a host. Sets *plain when the
 * scheme is http. */
int drv_check_url(const char *key, const char *v, int *plain, char *err,
		  size_t errlen)
{
	const char *rest;
	size_t i;

	if (strncmp(v, "https://", 8) == 0) {
		rest = v + 8;
		*plain = 0;
	} else if (strncmp(v, "http://", 7) == 0) {
		rest = v + 7;
		*plain = 1;
	} else {
		snprintf(err, errlen, "%s: must be an http:// or https:// URL",
			 key);
		return -EINVAL;
	}
	if (!*rest || *rest == '/' || *rest == '?' || *rest == '#') {
		snprintf(err, errlen, "%s: URL has no host", key);
		return -EINVAL;
	}
	for (i = 0; v[i]; i++) {
		if ((unsigned char)v[i] <= 0x20 ||
		    (unsigned char)v[i] == 0x7f) {
			snprintf(
				err, errlen,
				"%s: URL contains a space or control character",
				key);
			return -EINVAL;
		}
	}
	return 0;
}

/* Loads the key named by option `key` through the core. */
int drv_load_key(const struct payroute_services *svc, const payroute_conf *conf,
		 const char *key, int is_private, payroute_key **out, char *err,
		 size_t errlen)
{
	const char *v;
	char kerr[256];
	int rc;

	rc = drv_conf_string(svc, conf, key, 1, &v, err, errlen);
	if (rc < 0)
		return rc;
	kerr[0] = '\0';
	rc = svc->key_load(v, is_private, out, kerr, sizeof(kerr));
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot load: %s", key,
			 kerr[0] ? kerr : strerror(-rc));
		*out = NULL;
		return rc;
	}
	return 0;
}

int drv_conf_ident(const struct payroute_services *svc,
		   const payroute_conf *conf, const char *key, size_t max,
		   char **out, char *err, size_t errlen)
{
	const char *v;
	int rc;

	rc = drv_conf_string(svc, conf, key, 1, &v, err, errlen);
	if (rc == 0)
		rc = drv_check_ident(key, v, max, err, errlen);
	if (rc < 0)
		return rc;
	*out = strdup(v);
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int drv_check_services(const struct payroute_services *svc, char *err,
		       size_t errlen)
{
	if (svc->abi_major != PAYROUTE_ABI_MAJOR ||
	    !PAYROUTE_HAS_FIELD(svc, struct payroute_services, random_bytes)) {
		snprintf(err, errlen, "services table ABI %u.%u is too old",
			 (unsigned)svc->abi_major, (unsigned)svc->abi_minor);
		return -ENOTSUP;
	}
	return 0;
}
