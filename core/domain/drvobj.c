/*
 * drvobj.c - the core-side objects behind the driver ABI's opaque handles:
 * the outbound request a driver describes (payroute_http_req) and the
 * string map of a result's payer payload (payroute_kv).
 *
 * These are plain containers. Drivers write them only through the services
 * table (services.c, which validates and grows them with realloc); the core
 * reads them directly (httpc.c sends the request, the order code turns the
 * map into JSON) and frees them here.
 */
#include <stdlib.h>
#include <string.h>

#include "domain/drvobj.h"

void pr_http_req_init(struct payroute_http_req *req)
{
	memset(req, 0, sizeof(*req));
}

void pr_http_req_clear(struct payroute_http_req *req)
{
	if (!req)
		return;
	free(req->method);
	free(req->url);
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->headers);
	free(req->body);
	pr_http_req_init(req);
}

void pr_kv_init(struct payroute_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
}

void pr_kv_clear(struct payroute_kv *kv)
{
	if (!kv)
		return;
	for (size_t i = 0; i < kv->n; i++) {
		free(kv->items[i].name);
		free(kv->items[i].value);
	}
	free(kv->items);
	pr_kv_init(kv);
}

const char *pr_kv_get(const struct payroute_kv *kv, const char *key)
{
	if (!kv || !key)
		return NULL;
	for (size_t i = 0; i < kv->n; i++)
		if (strcmp(kv->items[i].name, key) == 0)
			return kv->items[i].value;
	return NULL;
}

json_t *pr_kv_to_json(const struct payroute_kv *kv)
{
	json_t *obj;

	obj = json_object();
	if (!obj)
		return NULL;
	for (size_t i = 0; kv && i < kv->n; i++) {
		/* kv_set only admits valid UTF-8, so only ENOMEM fails here. */
		if (json_object_set_new(obj, kv->items[i].name,
					json_string(kv->items[i].value)) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}
