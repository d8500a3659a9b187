/*
 * idem.c - Idempotency-Key handling for the merchant API (idem.h): one
 * INSERT .. ON CONFLICT DO NOTHING claims a key; a conflict reads the
 * stored row and decides replay, 409 or take-over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "apiutil.h"
#include "idem.h"
#include "log.h"

#define IDEM_STALE "5 minutes"

struct claim {
	struct pr_request *r;
	struct pr_daemon *d;
	struct pr_idem *k;
	pr_idem_cb cb;
	void *arg;
};

static int key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > PR_IDEM_KEY_MAX)
		return 0;
	for (; *k; k++)
		if (*k < 0x21 || *k > 0x7e)
			return 0;
	return 1;
}

int pr_idem_read(struct pr_request *r, const char *merchant,
		 const char *endpoint, const char *hash, struct pr_idem *k)
{
	const char *key = evhttp_find_header(
		evhttp_request_get_input_headers(r->req), "Idempotency-Key");

	memset(k, 0, sizeof(*k));
	if (!key)
		return 0;
	if (!key_ok(key)) {
		pr_api_reply_field(r, "Idempotency-Key",
				   "Idempotency-Key: 1 to 255 printable ASCII "
				   "characters without spaces");
		return -EINVAL;
	}
	snprintf(k->merchant, sizeof(k->merchant), "%s", merchant);
	snprintf(k->key, sizeof(k->key), "%s", key);
	snprintf(k->endpoint, sizeof(k->endpoint), "%s", endpoint);
	snprintf(k->hash, sizeof(k->hash), "%s", hash);
	k->active = 1;
	return 0;
}

static void end(struct claim *c, int proceed)
{
	if (!proceed)
		c->k->active = 0;
	c->cb(proceed, c->arg);
	free(c);
}

static void on_row(PGresult *res, const char *err, void *arg)
{
	struct claim *c = arg;
	struct pr_request *r = c->r;

	if (!res || PQntuples(res) != 1) {
		pr_request_error(r, 503, "store_unavailable",
				 "the Idempotency-Key could not be checked: %s",
				 res ? "it vanished; retry" : err);
		end(c, 0);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), c->k->endpoint) != 0 ||
	    strcmp(PQgetvalue(res, 0, 1), c->k->hash) != 0) {
		pr_request_error(r, 409, "idempotency_key_reused",
				 "this Idempotency-Key was used with another "
				 "request body; use a new key for a new "
				 "request");
		end(c, 0);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "done") == 0) {
		const char *body = PQgetvalue(res, 0, 4);

		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Idempotent-Replayed", "true");
		pr_request_raw(r, atoi(PQgetvalue(res, 0, 3)),
			       "application/json", body, strlen(body));
		end(c, 0);
		return;
	}
	if (PQgetvalue(res, 0, 5)[0] != 't') {
		pr_request_error(r, 409, "request_in_progress",
				 "a request with this Idempotency-Key is still "
				 "in progress; retry in a moment to get its "
				 "answer");
		end(c, 0);
		return;
	}
	pr_warn("%s: Idempotency-Key of merchant %s in progress for over " IDEM_STALE
		": taken over",
		c->k->endpoint, c->k->merchant);
	c->k->taken_over = 1;
	end(c, 1);
}

static void on_claim(PGresult *res, const char *err, void *arg)
{
	static const char sql[] =
		"SELECT endpoint, request_hash, state, status, body, "
		"created_at < now() - interval '" IDEM_STALE "' "
		"FROM idempotency_keys WHERE merchant_id = $1 AND key = $2";
	struct claim *c = arg;
	const char *p[2] = { c->k->merchant, c->k->key };

	if (!res) {
		pr_request_error(c->r, 503, "store_unavailable",
				 "the Idempotency-Key could not be recorded: "
				 "%s",
				 err);
		end(c, 0);
		return;
	}
	if (PQntuples(res) == 1) {
		end(c, 1);
		return;
	}
	if (pr_db_query(c->d->db, sql, 2, p, on_row, c) < 0) {
		pr_request_error(c->r, 503, "store_unavailable",
				 "the store is unavailable; retry later");
		end(c, 0);
	}
}

int pr_idem_begin(struct pr_daemon *d, struct pr_request *r, struct pr_idem *k,
		  pr_idem_cb cb, void *arg)
{
	static const char sql[] =
		"INSERT INTO idempotency_keys (merchant_id, key, endpoint, "
		"request_hash) VALUES ($1, $2, $3, $4) "
		"ON CONFLICT (merchant_id, key) DO NOTHING RETURNING 1";
	const char *p[4] = { k->merchant, k->key, k->endpoint, k->hash };
	struct claim *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->r = r;
	c->d = d;
	c->k = k;
	c->cb = cb;
	c->arg = arg;
	if (pr_db_query(d->db, sql, 4, p, on_claim, c) < 0) {
		free(c);
		return -EAGAIN;
	}
	return 0;
}

static void on_stored(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("idempotency: answer not stored: %s", err);
}

void pr_idem_finish(struct pr_daemon *d, struct pr_idem *k, int status,
		    json_t *body)
{
	static const char done_sql[] =
		"UPDATE idempotency_keys SET state = 'done', status = $3, "
		"body = $4, updated_at = now() "
		"WHERE merchant_id = $1 AND key = $2";
	static const char del_sql[] =
		"DELETE FROM idempotency_keys WHERE merchant_id = $1 "
		"AND key = $2 AND state = 'in_progress'";
	char st[8], *text = NULL;
	const char *p[4] = { k->merchant, k->key, st, NULL };
	int rc;

	if (!k->active)
		return;
	k->active = 0;
	snprintf(st, sizeof(st), "%d", status);
	if (status == 503) {
		/* Nothing happened that a retry must see. */
		rc = pr_db_query(d->db, del_sql, 2, p, on_stored, NULL);
	} else {
		text = body ? json_dumps(body, JSON_COMPACT) : NULL;
		if (!text) {
			pr_warn("idempotency: answer of %s not stored: out of "
				"memory",
				k->merchant);
			return;
		}
		p[3] = text;
		rc = pr_db_query(d->db, done_sql, 4, p, on_stored, NULL);
	}
	if (rc < 0)
		pr_warn("idempotency: key of merchant %s left in progress: "
			"store unavailable",
			k->merchant);
	free(text);
}
