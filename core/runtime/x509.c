/*
 * x509.c - X.509 certificates on OpenSSL 3 (see x509.h): a bundle of PEM
 * certificates read in order; one certificate's names, serial, signature
 * algorithm, key type and validity (services->x509_info); a chain checked
 * with X509_STORE and X509_verify_cert (services->x509_verify).
 *
 * Names are written the way the channels' SDKs write them when they make
 * identifiers of them (Alipay's certificate serial numbers): the
 * attributes from the last to the first, SHORTNAME=value, joined by ","
 * and without RFC 4514's escaping. The short names are OpenSSL's, which
 * agree with the SDKs' for the attributes certificate authorities use in
 * practice (C, ST, L, O, OU, CN).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "runtime/crypto.h"
#include "runtime/x509.h"

/* The most certificates a bundle may hold. */
#define BUNDLE_MAX 32

/* Reads every certificate of a PEM bundle (text or "@/path"), in order.
 * Blocks of other kinds are skipped. */
static int load_bundle(const char *pem_or_path, const char *what,
		       STACK_OF(X509) * *out, char *err, size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	char *file_text = NULL;
	const char *text;
	unsigned long e;
	BIO *bio = NULL;
	X509 *x;
	int rc;

	*out = NULL;
	if (!pem_or_path || !*pem_or_path) {
		snprintf(err, errlen, "%s: empty", what);
		return -EINVAL;
	}
	text = pem_or_path;
	if (pem_or_path[0] == '@') {
		rc = pr_read_pem_file(pem_or_path + 1, &file_text, err, errlen);
		if (rc < 0)
			return rc;
		text = file_text;
	}
	rc = -ENOMEM;
	sk = sk_X509_new_null();
	bio = BIO_new_mem_buf(text, -1);
	if (!sk || !bio) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) == BUNDLE_MAX || !sk_X509_push(sk, x)) {
			X509_free(x);
			snprintf(err, errlen,
				 sk_X509_num(sk) == BUNDLE_MAX ?
					 "%s: more than %d certificates" :
					 "out of memory",
				 what, BUNDLE_MAX);
			rc = sk_X509_num(sk) == BUNDLE_MAX ? -EINVAL : -ENOMEM;
			goto out;
		}
	}
	/* The loop ends at the end of the text ("no start line") or at a
	 * certificate block that does not parse. */
	e = ERR_peek_last_error();
	if (e && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		snprintf(err, errlen, "%s: a certificate does not parse", what);
		rc = -EINVAL;
		goto out;
	}
	if (sk_X509_num(sk) == 0) {
		snprintf(err, errlen, "%s: no PEM certificate in it", what);
		rc = -EINVAL;
		goto out;
	}
	*out = sk;
	sk = NULL;
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	free(file_text);
	ERR_clear_error();
	return rc;
}

/* Appends s to buf (used bytes at *used); -EOVERFLOW when it does not
 * fit. */
static int append(char *buf, size_t len, size_t *used, const char *s, size_t n)
{
	if (*used + n + 1 > len)
		return -EOVERFLOW;
	memcpy(buf + *used, s, n);
	*used += n;
	buf[*used] = '\0';
	return 0;
}

/* The name as "SN=value,..." from its last attribute to its first. */
static int name_text(const X509_NAME *nm, char *buf, size_t len)
{
	char oid[80];
	size_t used = 0;
	int rc = 0;

	buf[0] = '\0';
	for (int i = X509_NAME_entry_count(nm) - 1; i >= 0 && rc == 0; i--) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
		const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
		int nid = OBJ_obj2nid(obj);
		const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
		unsigned char *utf8 = NULL;
		int n;

		if (!sn) {
			if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0)
				return -EINVAL;
			sn = oid;
		}
		n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
		if (n < 0)
			return -EINVAL;
		if (used)
			rc = append(buf, len, &used, ",", 1);
		if (rc == 0)
			rc = append(buf, len, &used, sn, strlen(sn));
		if (rc == 0)
			rc = append(buf, len, &used, "=", 1);
		if (rc == 0)
			rc = append(buf, len, &used, (const char *)utf8,
				    (size_t)n);
		OPENSSL_free(utf8);
	}
	return rc;
}

static int serial_text(const X509 *x, char *dec, size_t declen, char *hex,
		       size_t hexlen)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *d = NULL, *h = NULL;
	int rc = -ENOMEM;

	if (!bn)
		goto out;
	d = BN_bn2dec(bn);
	h = BN_bn2hex(bn);
	if (!d || !h)
		goto out;
	rc = -EOVERFLOW;
	if (strlen(d) >= declen || strlen(h) >= hexlen)
		goto out;
	memcpy(dec, d, strlen(d) + 1);
	memcpy(hex, h, strlen(h) + 1);
	rc = 0;
out:
	OPENSSL_free(d);
	OPENSSL_free(h);
	BN_free(bn);
	return rc;
}

static int time_ms(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	*out = (int64_t)timegm(&tm) * 1000;
	return 0;
}

int pr_x509_info(const char *pem_or_path, size_t index,
		 struct payroute_x509_info *out, char *err, size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	const char *type;
	EVP_PKEY *pkey;
	uint32_t size;
	X509 *x;
	int rc;

	if (!out || out->size < sizeof(struct payroute_x509_info)) {
		snprintf(err, errlen, "x509_info: no room for the answer");
		return -EINVAL;
	}
	size = out->size;
	memset(out, 0, sizeof(*out));
	out->size = size;
	rc = load_bundle(pem_or_path, "certificate", &sk, err, errlen);
	if (rc < 0)
		return rc;
	if (index >= (size_t)sk_X509_num(sk)) {
		snprintf(err, errlen, "certificate: the bundle has %d, no #%zu",
			 sk_X509_num(sk), index);
		rc = -ENOENT;
		goto out;
	}
	x = sk_X509_value(sk, (int)index);
	rc = name_text(X509_get_issuer_name(x), out->issuer,
		       sizeof(out->issuer));
	if (rc == 0)
		rc = name_text(X509_get_subject_name(x), out->subject,
			       sizeof(out->subject));
	if (rc == 0)
		rc = serial_text(x, out->serial_dec, sizeof(out->serial_dec),
				 out->serial_hex, sizeof(out->serial_hex));
	if (rc == 0) {
		X509_get0_signature(NULL, &alg, x);
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
		if (!obj || OBJ_obj2txt(out->sig_alg_oid,
					sizeof(out->sig_alg_oid), obj, 1) <= 0)
			rc = -EINVAL;
	}
	if (rc == 0 &&
	    (time_ms(X509_get0_notBefore(x), &out->not_before_ms) < 0 ||
	     time_ms(X509_get0_notAfter(x), &out->not_after_ms) < 0))
		rc = -EINVAL;
	if (rc < 0) {
		snprintf(err, errlen,
			 rc == -EOVERFLOW ? "certificate: a name or the serial "
					    "is too long" :
			 rc == -ENOMEM	  ? "out of memory" :
					    "certificate: unreadable fields");
		goto out;
	}
	pkey = X509_get0_pubkey(x);
	type = pkey ? EVP_PKEY_get0_type_name(pkey) : NULL;
	snprintf(out->key_type, sizeof(out->key_type), "%s", type ? type : "?");
	out->is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
out:
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	return rc;
}

int pr_x509_verify(const char *cert_pem_or_path, const char *roots_pem_or_path,
		   int64_t at_ms, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL, *roots = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *store = NULL;
	X509 *leaf;
	char subject[256] = "";
	int rc, e;

	rc = load_bundle(cert_pem_or_path, "certificate", &chain, err, errlen);
	if (rc == 0)
		rc = load_bundle(roots_pem_or_path, "root certificates", &roots,
				 err, errlen);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (!store || !ctx)
		goto nomem;
	for (int i = 0; i < sk_X509_num(roots); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(roots, i)) != 1)
			goto nomem;
	/* The leaf stays in chain, which owns it; the rest are the
	 * untrusted intermediates (the leaf among them does no harm). */
	leaf = sk_X509_value(chain, 0);
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1)
		goto nomem;
	if (at_ms > 0)
		X509_STORE_CTX_set_time(ctx, 0, (time_t)(at_ms / 1000));
	if (X509_verify_cert(ctx) == 1) {
		rc = 0;
		goto out;
	}
	e = X509_STORE_CTX_get_error(ctx);
	if (X509_STORE_CTX_get_current_cert(ctx))
		X509_NAME_oneline(X509_get_subject_name(
					  X509_STORE_CTX_get_current_cert(ctx)),
				  subject, sizeof(subject));
	snprintf(err, errlen, "%s (at depth %d%s%s)",
		 X509_verify_cert_error_string(e),
		 X509_STORE_CTX_get_error_depth(ctx), subject[0] ? ": " : "",
		 subject);
	rc = -EBADMSG;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(roots, X509_free);
	ERR_clear_error();
	return rc;
}
