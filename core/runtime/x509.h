/*
 * x509.h - X.509 certificates, for the drivers' services (ABI 1.2,
 * services->x509_info and x509_verify) and the simulator: what a
 * certificate says of itself, and whether its chain leads to a trusted
 * root. Pure functions over PEM text (or "@/path" to a file of it): no
 * globals, no logging; OpenSSL's error queue is left empty.
 */
#ifndef PR_X509_H
#define PR_X509_H

#include <stddef.h>
#include <stdint.h>

#include <payroute/driver.h>

/* services->x509_info: certificate number index of a PEM bundle into
 * *out (out->size set by the caller, at least the ABI 1.2 layout). See
 * payroute/driver.h for the fields and the return values. */
int pr_x509_info(const char *pem_or_path, size_t index,
		 struct payroute_x509_info *out, char *err, size_t errlen);

/* services->x509_verify: the first certificate of cert_pem_or_path (the
 * rest of it as untrusted intermediates) chains to a certificate of
 * roots_pem_or_path, every one valid at at_ms (0: now). Returns 0,
 * -EBADMSG (err says why), -EINVAL, -ENOMEM. */
int pr_x509_verify(const char *cert_pem_or_path, const char *roots_pem_or_path,
		   int64_t at_ms, char *err, size_t errlen);

#endif
