/*
 * breaker_api.c - the channels' circuit breakers in the admin API
 * (doc/design.md §4 "Circuit breaking"): each channel's state, its reason
 * and its history as this instance holds them (the same on every
 * instance within a second: orders/chanhealth.c), and an operator's force.
 *
 * A force is written to channel_breakers and audit_log with
 * the authenticated operator (pr_api_actor) and X-Payroute-Note, and logged.
 */
#include <errno.h>
#include <string.h>

#include "runtime/apiutil.h"
#include "runtime/generation.h"
#include "runtime/log.h"
#include "admin/breaker_api.h"
#include "orders/chanhealth.h"

/* The channel of the path, in the request's generation; NULL after
 * answering 404. */
static const char *channel_of(struct pr_request *r,
			      const struct pr_route_match *m)
{
	const char *code = pr_route_param(m, "code");

	if (!code || pr_catalogue_find(&r->gen->cat, code) < 0) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no channel %s in the active policy",
				 code ? code : "");
		return NULL;
	}
	return code;
}

void pr_breakers_list(struct pr_request *r, const struct pr_route_match *m)
{
	const struct pr_catalogue *cat = &r->gen->cat;
	json_t *a = json_array(), *b;

	(void)m;
	for (size_t i = 0; a && i < cat->n_chans; i++) {
		b = pr_health_breaker_json(r->d->health, r->gen->config,
					   cat->chans[i].code);
		if (!b ||
		    json_object_set_new(b, "channel",
					json_string(cat->chans[i].code)) < 0 ||
		    json_array_append_new(a, b) < 0) {
			json_decref(b);
			json_decref(a);
			a = NULL;
		}
	}
	if (!a) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	pr_request_reply(r, 200, json_pack("{s:o}", "breakers", a));
}

static void reply_one(struct pr_request *r, const char *code, int changed)
{
	json_t *b = pr_health_breaker_json(r->d->health, r->gen->config, code);

	if (!b) {
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (changed < 0)
		pr_request_reply(r, 200,
				 json_pack("{s:s,s:o}", "channel", code,
					   "breaker", b));
	else
		pr_request_reply(r, 200,
				 json_pack("{s:s,s:b,s:o}", "channel", code,
					   "changed", changed, "breaker", b));
}

void pr_breaker_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *code = channel_of(r, m);

	if (code)
		reply_one(r, code, -1);
}

void pr_breaker_force(struct pr_request *r, const struct pr_route_match *m)
{
	const char *code, *actor, *note, *state;
	json_t *body;
	int rc;

	if (!(code = channel_of(r, m)) ||
	    pr_api_audit_headers(r, &actor, &note) < 0)
		return;
	body = pr_api_read_body(r);
	if (!body)
		return;
	state = json_string_value(json_object_get(body, "state"));
	if (!state ||
	    (strcmp(state, "closed") != 0 && strcmp(state, "open") != 0)) {
		pr_api_reply_field(r, "state", "state: \"closed\" or \"open\"");
		json_decref(body);
		return;
	}
	rc = pr_health_force(r->d->health, r->gen->config, code, state,
			     actor ? actor : "admin", note);
	if (rc < 0) {
		pr_err("channel %s: breaker not forced %s: %s", code, state,
		       strerror(-rc));
		pr_api_reply_err(r, 500, "internal", NULL,
				 "the breaker could not be forced: %s",
				 strerror(-rc));
	} else {
		pr_info("channel %s: breaker forced %s by %s%s", code, state,
			actor ? actor : "admin", rc ? "" : " (it was already)");
		reply_one(r, code, rc);
	}
	json_decref(body);
}
