/*
 * fuzz_alipay_notify.c - libFuzzer target for the Alipay driver's
 * parse_notify. The first input byte picks how the rest is used: even, it
 * is the POST body as received; odd, the target reads it as a form
 * ("k=v&k=v", percent-encoded) and, when the form is well made (every pair
 * has a non-empty key, decodes, no key twice, no sign / sign_type), appends
 * a sign made here with the test platform key over the sorted decoded
 * pairs, as Alipay would: that body must never be refused for its
 * signature (-EBADMSG), whatever else is wrong with it.
 *
 * Always: no crash, no read past the body (it lies in a buffer of its
 * exact size plus a NUL), a refusal says why, the replies are filled, and
 * an accepted notification names its order.
 *
 * Seeds: tests/fuzz/corpus/fuzz_alipay_notify/, from the notifications of
 * tests/unit/test_drv_alipay.c.
 */
// FUZZ_DRIVER: drivers/alipay/alipay.c
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/crypto.h"
#include "domain/drvobj.h"
#include "runtime/log.h"
#include "runtime/services.h"

#ifndef FUZZ_KEY_DIR
#define FUZZ_KEY_DIR "tests/keys"
#endif

#define MAX_PAIRS 100

const struct payroute_driver *payroute_driver_entry(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct payroute_driver *drv;
static void *state;
static payroute_key *platform_private;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct payroute_conf conf;
	char err[256] = "";

	(void)argc;
	(void)argv;
	pr_log_set_level(PAYROUTE_LOG_ERROR);
	drv = payroute_driver_entry();
	conf.root = json_pack(
		"{s:s, s:s, s:s, s:s}", "app_id", "2021000000000001", "gateway",
		"http://127.0.0.1:9/alipay/gateway.do", "app_private_key",
		"@" FUZZ_KEY_DIR "/alipay_app_private.pem", "alipay_public_key",
		"@" FUZZ_KEY_DIR "/alipay_platform_public.pem");
	if (!conf.root ||
	    drv->init(pr_services(), "fuzz", &conf, &state, err, sizeof(err)) !=
		    0 ||
	    pr_key_load("@" FUZZ_KEY_DIR "/alipay_platform_private.pem", 1,
			&platform_private, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_alipay_notify: init: %s\n", err);
		abort();
	}
	json_decref(conf.root);
	return 0;
}

struct kv {
	char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/* Appends "&sign=..." to a well-made form; NULL when it is not one. */
static char *sign_form(const char *form, size_t len)
{
	struct kv pairs[MAX_PAIRS];
	size_t n = 0, i = 0, cap, used;
	char *copy, *seg, *amp, *eq, *content = NULL, *sig = NULL, *esig;
	char *out = NULL;
	int ok = 1;

	if (len == 0 || memchr(form, '\0', len))
		return NULL;
	copy = strndup(form, len);
	if (!copy)
		return NULL;
	for (seg = copy; ok && seg; seg = amp) {
		amp = strchr(seg, '&');
		if (amp)
			*amp++ = '\0';
		if (!*seg)
			continue;
		eq = strchr(seg, '=');
		if (!eq || eq == seg || n == MAX_PAIRS) {
			ok = 0;
			break;
		}
		*eq = '\0';
		pairs[n].k = pr_url_decode(seg);
		pairs[n].v = pr_url_decode(eq + 1);
		n++;
		if (!pairs[n - 1].k || !pairs[n - 1].v || !*pairs[n - 1].k ||
		    strcmp(pairs[n - 1].k, "sign") == 0 ||
		    strcmp(pairs[n - 1].k, "sign_type") == 0)
			ok = 0;
	}
	if (ok && n > 0) {
		qsort(pairs, n, sizeof(pairs[0]), kv_cmp);
		cap = 1;
		for (i = 0; i < n; i++) {
			if (i && strcmp(pairs[i - 1].k, pairs[i].k) == 0)
				ok = 0;
			cap += strlen(pairs[i].k) + strlen(pairs[i].v) + 2;
		}
		content = ok ? calloc(1, cap) : NULL;
		used = 0;
		for (i = 0; content && i < n; i++)
			used += (size_t)snprintf(content + used, cap - used,
						 "%s%s=%s", i ? "&" : "",
						 pairs[i].k, pairs[i].v);
		if (content && pr_rsa_sha256_sign(platform_private, content,
						  used, &sig) == 0) {
			esig = pr_url_encode(sig);
			cap = len + (esig ? strlen(esig) : 0) + 8;
			out = esig ? malloc(cap) : NULL;
			if (out)
				snprintf(out, cap, "%.*s&sign=%s", (int)len,
					 form, esig);
			free(esig);
		}
	}
	for (i = 0; i < n; i++) {
		free(pairs[i].k);
		free(pairs[i].v);
	}
	free(content);
	free(sig);
	free(copy);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct payroute_inbound in;
	struct payroute_notify out;
	char err[256] = "";
	char *body, *signed_form = NULL;
	size_t len;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		signed_form = sign_form((const char *)data + 1, size - 1);
	len = signed_form ? strlen(signed_form) : size - 1;
	/* Exactly len bytes plus the NUL. */
	body = malloc(len + 1);
	if (!body) {
		free(signed_form);
		return 0;
	}
	memcpy(body, signed_form ? signed_form : (const char *)data + 1, len);
	body[len] = '\0';

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	in.method = "POST";
	in.path = "/notify/alipay_fuzz";
	in.body = body;
	in.body_len = len;
	memset(&out, 0, sizeof(out));
	out.size = sizeof(out);

	rc = drv->parse_notify(state, &in, &out, err, sizeof(err));
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "signed %d rc %d order %s code %s err %s\n",
			signed_form != NULL, rc, out.order_id, out.code,
			rc ? err : "");
	if (rc != 0 && err[0] == '\0')
		abort(); /* refused without saying why */
	if (strcmp(out.reply_ok_body, "success") != 0 ||
	    strcmp(out.reply_fail_body, "fail") != 0)
		abort(); /* the replies must always be there */
	if (rc == 0 && (out.order_id[0] == '\0' || out.code[0] == '\0'))
		abort(); /* accepted without naming the order */
	if (signed_form && rc == -EBADMSG)
		abort(); /* our own good signature refused */
	free(signed_form);
	free(body);
	return 0;
}
