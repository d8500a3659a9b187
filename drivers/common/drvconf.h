/*
 * drvconf.h - checking a channel's driver config, for the in-tree drivers.
 * Each function returns 0 or -EINVAL (or the key loader's error) with err
 * naming the option ("app_id: required", "gateway: URL has no host").
 */
#ifndef PR_DRVCONF_H
#define PR_DRVCONF_H

#include <stddef.h>

#include <payroute/driver.h>

/* Checks that the core's services table has our ABI major and every
 * service up to random_bytes. Returns 0 or -ENOTSUP (err filled). */
int drv_check_services(const struct payroute_services *svc, char *err,
		       size_t errlen);

/* Reads the string option `key`. A missing required option, a value of
 * another type or an empty string is an error naming the key; *out is NULL
 * when an optional option is missing. The string belongs to conf. */
int drv_conf_string(const struct payroute_services *svc,
		    const payroute_conf *conf, const char *key, int required,
		    const char **out, char *err, size_t errlen);

/* An identifier: printable ASCII without spaces, at most max bytes. */
int drv_check_ident(const char *key, const char *v, size_t max, char *err,
		    size_t errlen);

/* Reads a required identifier option (drv_conf_string + drv_check_ident
 * with max) and keeps a copy in *out (malloc'd: free it). */
int drv_conf_ident(const struct payroute_services *svc,
		   const payroute_conf *conf, const char *key, size_t max,
		   char **out, char *err, size_t errlen);

/* An absolute http:// or https:// URL with a host; *plain is set when the
 * scheme is http. */
int drv_check_url(const char *key, const char *v, int *plain, char *err,
		  size_t errlen);

/* Loads the key named by option `key` through the core's key_load
 * (private when is_private). *out is released with svc->key_free. */
int drv_load_key(const struct payroute_services *svc, const payroute_conf *conf,
		 const char *key, int is_private, payroute_key **out, char *err,
		 size_t errlen);

#endif
