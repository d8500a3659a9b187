/*
 * idem.c - Idempotency-Key handling for the merchant API (idem.h): the
 * header, what to answer when the first commit found the key taken, and
 * the answers kept outside the order's own commits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "orders/idem.h"
#include "runtime/log.h"

#define IDEM_STALE "5 minutes"

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

static void on_forgotten(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("idempotency: a stale key was not removed: %s", err);
}

/* A key of the previous version left in progress without its order by a
 * daemon that died: removed, so that the merchant's next retry claims it
 * (this one is answered "in progress"). */
static void forget_stale(struct pr_daemon *d, const struct pr_idem *k)
{
	static const char sql[] =
		"DELETE FROM idempotency_keys WHERE merchant_id = $1 AND "
		"key = $2 AND state = 'in_progress' AND order_id IS NULL AND "
		"created_at < now() - interval '" IDEM_STALE "'";
	const char *p[2] = { k->merchant, k->key };

	pr_db_query(d->db, sql, 2, p, on_forgotten, NULL);
}

int pr_idem_found(struct pr_request *r, const struct pr_idem *k,
		  const PGresult *res, int col, char *order_id, size_t len)
{
	if (PQgetisnull(res, 0, col + 0)) {
		/* Claimed by a request whose commit this statement did not
		 * see yet: it is in progress, or just done. */
		pr_api_reply_err(r, 409, "request_in_progress", NULL,
				 "a request with this Idempotency-Key is still "
				 "in progress; retry in a moment to get its "
				 "answer");
		return 0;
	}
	if (strcmp(PQgetvalue(res, 0, col + 0), k->endpoint) != 0 ||
	    strcmp(PQgetvalue(res, 0, col + 1), k->hash) != 0) {
		pr_api_reply_err(r, 409, "idempotency_key_reused", NULL,
				 "this Idempotency-Key was used with another "
				 "request body; use a new key for a new "
				 "request");
		return 0;
	}
	if (strcmp(PQgetvalue(res, 0, col + 2), "done") == 0) {
		const char *body = PQgetvalue(res, 0, col + 4);

		evhttp_add_header(evhttp_request_get_output_headers(r->req),
				  "Idempotent-Replayed", "true");
		pr_request_raw(r, atoi(PQgetvalue(res, 0, col + 3)),
			       "application/json", body, strlen(body));
		return 0;
	}
	if (PQgetvalue(res, 0, col + 6)[0] == 't' &&
	    !PQgetvalue(res, 0, col + 5)[0])
		forget_stale(r->d, k);
	if (PQgetvalue(res, 0, col + 6)[0] != 't' ||
	    !PQgetvalue(res, 0, col + 5)[0]) {
		pr_api_reply_err(r, 409, "request_in_progress", NULL,
				 "a request with this Idempotency-Key is still "
				 "in progress; retry in a moment to get its "
				 "answer");
		return 0;
	}
	pr_warn("%s: Idempotency-Key of merchant %s in progress for over " IDEM_STALE
		": answered with its order %s as it is now",
		k->endpoint, k->merchant, PQgetvalue(res, 0, col + 5));
	snprintf(order_id, len, "%s", PQgetvalue(res, 0, col + 5));
	return 1;
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
