/*
 * passwd.h - operators' passwords: the policy a new one must meet, and
 * its hash with a memory-hard KDF, scrypt (RFC 7914) from OpenSSL 3's
 * EVP_KDF "SCRYPT" (doc/design.md §11, "Passwords and sessions").
 *
 * A stored hash names its algorithm and parameters next to its salt:
 * "scrypt$ln=15,r=8,p=3$<salt: 32 hex>$<key: 64 hex>" (a stored salt may
 * be 8 to 32 bytes; new ones are 16), so the parameters
 * may change later without invalidating a stored hash (each is verified
 * with its own). pr_passwd_hash and pr_passwd_verify take about 0.3 s
 * of CPU and 32 MiB: never call them on the loop (offload.h); they
 * touch nothing but their arguments, so any thread may.
 */
#ifndef PR_PASSWD_H
#define PR_PASSWD_H

#include <stddef.h>

/* The parameters new hashes get: N = 2^15, r = 8, p = 3, OWASP's
 * password storage cheat sheet's scrypt configuration for 32 MiB. */
#define PR_PASSWD_LN 15
#define PR_PASSWD_R 8
#define PR_PASSWD_P 3

/* A password's length bounds (bytes of UTF-8). */
#define PR_PASSWD_MIN 12
#define PR_PASSWD_MAX 256

/* The longest stored hash text, with its NUL. */
#define PR_PASSWD_HASH_MAX 128

/* Checks the policy for a new password pw of operator name: PR_PASSWD_MIN
 * to PR_PASSWD_MAX bytes, no control characters, not the name (in any
 * case) nor containing it. Returns 0, or -EINVAL with why (a sentence
 * naming the rule) in err. Pure. */
int pr_passwd_policy(const char *name, const char *pw, char *err, size_t len);

/* Hashes pw with a fresh salt and the PR_PASSWD_* parameters into
 * out[PR_PASSWD_HASH_MAX]. Returns 0 or a negative errno. */
int pr_passwd_hash(const char *pw, char out[PR_PASSWD_HASH_MAX]);

/* Verifies pw against stored (as pr_passwd_hash wrote it, whatever its
 * parameters): 1 when it matches, 0 when not, -EINVAL when stored is not
 * a hash this code reads (or its parameters are out of bounds), another
 * negative errno on failure. The keys are compared in constant time. */
int pr_passwd_verify(const char *pw, const char *stored);

/* 1 when stored was made with other parameters than the current ones
 * (a successful sign-in then stores a new hash). */
int pr_passwd_stale(const char *stored);

#endif
