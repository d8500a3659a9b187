/*
 * passwd.c - operators' passwords (passwd.h): the policy, and scrypt
 * through OpenSSL 3's EVP_KDF. scrypt rather than libsodium's Argon2id:
 * OpenSSL is already what payrouted links for every other hash, cipher
 * and random byte, so passwords add no library; OpenSSL 3.0 (Debian 12)
 * has scrypt but not yet Argon2 (3.2 adds it: a later "argon2id$..."
 * hash would sit next to these, as the stored text names its algorithm).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "runtime/crypto.h"
#include "runtime/passwd.h"

#define SALT_LEN 16 /* a new hash's; a stored one may have 8 to 32 */
#define SALT_MAX 32
#define KEY_LEN 32

int pr_passwd_policy(const char *name, const char *pw, char *err, size_t len)
{
	size_t n = pw ? strlen(pw) : 0;

	if (n < PR_PASSWD_MIN || n > PR_PASSWD_MAX) {
		snprintf(err, len,
			 "password: %d to %d characters (a passphrase of a "
			 "few words is easier to remember)",
			 PR_PASSWD_MIN, PR_PASSWD_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f) {
			snprintf(err, len,
				 "password: no control characters");
			return -EINVAL;
		}
	if (name && *name && strcasestr(pw, name)) {
		snprintf(err, len,
			 "password: must not be nor contain the operator's "
			 "name");
		return -EINVAL;
	}
	return 0;
}

static int scrypt(const char *pw, const unsigned char *salt, size_t salt_len,
		  unsigned ln, unsigned r, unsigned p, unsigned char *key,
		  size_t key_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << ln;
	/* scrypt needs 128 * r * N for V, 128 * r * p for B */
	uint64_t maxmem = 128ull * r * (n + p) + (1u << 20);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						  (void *)pw, strlen(pw)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						  (void *)salt, salt_len),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM,
					    &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int rc = 0;

	if (!ctx || EVP_KDF_derive(ctx, key, key_len, params) != 1)
		rc = -EIO;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

static int hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads len bytes of lower-case hex from s (2 * len digits, ending at
 * end). Returns 0 or -EINVAL. */
static int unhex(const char *s, const char *end, unsigned char *out,
		 size_t len)
{
	if (end < s || (size_t)(end - s) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Splits stored into its parameters, salt (*salt_len bytes) and key. */
static int parse(const char *stored, unsigned *ln, unsigned *r, unsigned *p,
		 unsigned char salt[SALT_MAX], size_t *salt_len,
		 unsigned char key[KEY_LEN])
{
	const char *s, *d;
	int used = 0;

	if (!stored || strncmp(stored, "scrypt$", 7) != 0)
		return -EINVAL;
	s = stored + 7;
	if (sscanf(s, "ln=%u,r=%u,p=%u$%n", ln, r, p, &used) != 3 || !used)
		return -EINVAL;
	if (*ln < 10 || *ln > 20 || *r < 1 || *r > 32 || *p < 1 || *p > 16)
		return -EINVAL;
	s += used;
	d = strchr(s, '$');
	if (!d || (d - s) % 2 || (d - s) / 2 < 8 || (d - s) / 2 > SALT_MAX)
		return -EINVAL;
	*salt_len = (size_t)(d - s) / 2;
	if (unhex(s, d, salt, *salt_len) < 0 ||
	    unhex(d + 1, d + 1 + strlen(d + 1), key, KEY_LEN) < 0)
		return -EINVAL;
	return 0;
}

int pr_passwd_hash(const char *pw, char out[PR_PASSWD_HASH_MAX])
{
	unsigned char salt[SALT_LEN], key[KEY_LEN];
	char *hs = NULL, *hk = NULL;
	int rc;

	rc = pr_random_bytes(salt, sizeof(salt));
	if (rc < 0)
		return rc;
	rc = scrypt(pw, salt, sizeof(salt), PR_PASSWD_LN, PR_PASSWD_R,
		    PR_PASSWD_P, key, sizeof(key));
	if (rc < 0)
		goto out;
	hs = pr_hex_encode(salt, sizeof(salt));
	hk = pr_hex_encode(key, sizeof(key));
	if (!hs || !hk) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(out, PR_PASSWD_HASH_MAX, "scrypt$ln=%d,r=%d,p=%d$%s$%s",
		 PR_PASSWD_LN, PR_PASSWD_R, PR_PASSWD_P, hs, hk);
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(hs);
	if (hk)
		OPENSSL_cleanse(hk, strlen(hk));
	free(hk);
	return rc;
}

int pr_passwd_verify(const char *pw, const char *stored)
{
	unsigned char salt[SALT_MAX], want[KEY_LEN], got[KEY_LEN];
	unsigned ln, r, p;
	size_t salt_len;
	int rc = parse(stored, &ln, &r, &p, salt, &salt_len, want);

	if (rc < 0)
		return rc;
	rc = scrypt(pw, salt, salt_len, ln, r, p, got, sizeof(got));
	if (rc == 0)
		rc = pr_memeq_ct(got, want, sizeof(got)) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}

int pr_passwd_stale(const char *stored)
{
	unsigned char salt[SALT_MAX], key[KEY_LEN];
	unsigned ln, r, p;
	size_t salt_len;

	if (parse(stored, &ln, &r, &p, salt, &salt_len, key) < 0)
		return 1;
	return ln != PR_PASSWD_LN || r != PR_PASSWD_R || p != PR_PASSWD_P;
}
