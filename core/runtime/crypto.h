/*
 * crypto.h - the cryptography payroute needs, on OpenSSL: RSA SHA256
 * signatures, RSA encryption (OAEP-SHA1, PKCS#1 v1.5), AES-256-GCM, HMAC-SHA256, SHA-256, base64, hex, URL encoding,
 * secure random bytes. Pure functions over buffers, no globals; the
 * driver services table (services.c) exposes them to drivers.
 *
 * Unless said otherwise, functions return 0 or a negative errno (-EINVAL,
 * -ENOMEM, -EBADMSG when a signature or tag does not verify), and results
 * they allocate are released with free().
 */
#ifndef PR_CRYPTO_H
#define PR_CRYPTO_H

#include <stddef.h>

#include <payroute/driver.h>

/* Reads the key or certificate file at path (a regular file of at most
 * 1 MiB) into *out, NUL-terminated, released with free() (better after
 * OPENSSL_cleanse: it may hold a private key). Returns 0 or a negative
 * errno with err naming the file. */
int pr_read_pem_file(const char *path, char **out, char *err, size_t errlen);

/* payroute_key wraps an EVP_PKEY. pem_or_path is PEM text or "@/path". A
 * public key may also be given as an X.509 certificate. */
int pr_key_load(const char *pem_or_path, int is_private, payroute_key **out,
		char *err, size_t errlen);
void pr_key_free(payroute_key *key);

int pr_rsa_sha256_sign(const payroute_key *key, const void *data, size_t len,
		       char **sig_b64);
int pr_rsa_sha256_verify(const payroute_key *key, const void *data, size_t len,
			 const char *sig_b64);

/* RSA encryption with the public half of key; padding is an enum
 * payroute_rsa_padding. *out_b64 (base64 of the ciphertext) is released
 * with free(). Returns 0, -EINVAL (bad argument or padding, input too long
 * for the padding: k - 42 bytes for OAEP-SHA1, k - 11 for PKCS#1 v1.5,
 * a key that cannot encrypt), -ENOMEM. */
int pr_rsa_encrypt(const payroute_key *key, int padding, const void *data,
		   size_t len, char **out_b64);
/* The reverse, with a private key: decodes b64 and decrypts it. *out is
 * NUL-terminated (not counted in *out_len) and released with free().
 * Returns 0, -EINVAL (bad argument, a public key), -EBADMSG (not base64,
 * wrong length, or it does not decrypt with this key and padding),
 * -ENOMEM. Core only (the simulator and tests): drivers never decrypt. */
int pr_rsa_decrypt(const payroute_key *key, int padding, const char *b64,
		   unsigned char **out, size_t *out_len);

int pr_aes256gcm_encrypt(const unsigned char key[32], const unsigned char *iv,
			 size_t iv_len, const void *aad, size_t aad_len,
			 const void *in, size_t len, unsigned char **out,
			 size_t *out_len);
int pr_aes256gcm_decrypt(const unsigned char key[32], const unsigned char *iv,
			 size_t iv_len, const void *aad, size_t aad_len,
			 const void *in, size_t len, unsigned char **out,
			 size_t *out_len);

int pr_hmac_sha256(const void *key, size_t key_len, const void *data,
		   size_t len, unsigned char out[32]);
int pr_sha256(const void *data, size_t len, unsigned char out[32]);
/* The lower-case hex SHA-256 of the string s into hex[65] (the stored
 * form of operators' tokens and sessions): 0, or -EINVAL. */
int pr_sha256_hex(const char *s, char hex[65]);
/* MD5, for identifiers channels define with it (Alipay's certificate
 * serial numbers), never for security. */
int pr_md5(const void *data, size_t len, unsigned char out[16]);

/* An incremental digest (services->hash_*, ABI 1.3): alg is enum
 * payroute_hash_alg. pr_hash_begin returns a context or NULL;
 * pr_hash_update 0 or -EINVAL; pr_hash_end writes the lower-case hex digest
 * into hex (NULL: only frees), frees ctx, returns 0 or -EINVAL. */
void *pr_hash_begin(int alg);
int pr_hash_update(void *ctx, const void *data, size_t len);
int pr_hash_end(void *ctx, char *hex, size_t hexlen);

char *pr_base64_encode(const void *data, size_t len);
int pr_base64_decode(const char *text, unsigned char **out, size_t *out_len);
char *pr_hex_encode(const void *data, size_t len);
/* Decodes exactly out_len bytes of hex; -EINVAL otherwise. */
int pr_hex_decode(const char *text, unsigned char *out, size_t out_len);
char *pr_url_encode(const char *text);
char *pr_url_decode(const char *text);
int pr_random_bytes(void *buf, size_t len);

/* Constant-time comparison of two buffers; 0 when equal. */
int pr_memeq_ct(const void *a, const void *b, size_t len);

#endif
