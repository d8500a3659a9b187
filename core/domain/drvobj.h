/*
 * drvobj.h - the core-side objects behind the driver ABI's opaque handles:
 * the outbound request a driver builds (payroute_http_req), a string map
 * (payroute_kv) and a channel's driver config (payroute_conf).
 */
#ifndef PR_DRVOBJ_H
#define PR_DRVOBJ_H

#include <stddef.h>

#include <jansson.h>
#include <payroute/driver.h>

struct pr_hdr {
	char *name;
	char *value;
};

struct payroute_http_req {
	char *method;		/* owned */
	char *url;		/* owned */
	struct pr_hdr *headers; /* owned, n_headers of them */
	size_t n_headers;
	unsigned char *body; /* owned, NUL-terminated, body_len bytes */
	size_t body_len;
	int timeout_ms; /* 0: the client's default */
};

struct payroute_kv {
	struct pr_hdr *items; /* owned key/value pairs, in insertion order */
	size_t n;
};

struct payroute_conf {
	json_t *root; /* a borrowed JSON object */
};

/* Initialises an empty request / map. */
void pr_http_req_init(struct payroute_http_req *req);
/* Frees what the request holds and leaves it empty. */
void pr_http_req_clear(struct payroute_http_req *req);

void pr_kv_init(struct payroute_kv *kv);
void pr_kv_clear(struct payroute_kv *kv);
/* Returns the value for key or NULL. */
const char *pr_kv_get(const struct payroute_kv *kv, const char *key);
/* A new JSON object with the map's pairs (caller owns the reference). */
json_t *pr_kv_to_json(const struct payroute_kv *kv);

#endif
