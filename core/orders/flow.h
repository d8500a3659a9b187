/*
 * flow.h - the cascade of one payment or withdrawal, written once
 * (doc/design.md §5):
 *
 *   route (router.c, over this instance's view of today's usage) ->
 *   reserve the daily limits of the best candidate (usage.c: from this
 *   instance's lease, most of the time without a round trip; refused:
 *   the next candidate) ->
 *   FIRST COMMIT (the kind's begin): the Idempotency-Key, the order with
 *   its route trace and this attempt (its first event: the row says it),
 *   and its check row;
 *   nothing is sent to a channel before it is durable ->
 *   the driver's call (orders.c) -> the code map's effect:
 *     failed and retryable: the next candidate is reserved, and the
 *       answer and the next attempt are one commit; then that call;
 *     anything else: SECOND COMMIT: the outcome, the answer kept under
 *       the Idempotency-Key; the end.
 *
 * When no candidate can be reserved the order ends in its first commit:
 * a payment fails (NO_CHANNEL), a withdrawal waits in pending_channel; an
 * order whose last candidate answered with a retryable failure fails with
 * that code. A timeout or an answer that does not verify, parse or map
 * leaves the order unknown: never failed, never sent elsewhere.
 *
 * If the first commit fails, nothing was sent: the request is answered
 * 503 and its Idempotency-Key is free again. If a later commit fails, the
 * order is processing on its channel with a check row: the completion job
 * settles it.
 *
 * A kind supplies a struct pr_flow_ops and embeds a struct pr_flow as the
 * first member of its own state (payments.c, withdrawals.c).
 */
#ifndef PR_FLOW_H
#define PR_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <payroute/driver.h>

#include "runtime/daemon.h"
#include "orders/idem.h"
#include "orders/orders.h"
#include "orders/ordstore.h"
#include "domain/router.h"

struct pr_flow;

/* The parts of a first commit every kind has, as text parameters (NULL:
 * SQL NULL). */
struct pr_flow_begin {
	const char *actor;
	const char *now_ms;
	const char *status; /* "processing", or the end state */
	const char *channel;
	const char *usage_day, *usage_bank, *usage_amount;
	const char *detail; /* the first event's */
	const char *check_s;
	const char *retry_s; /* the kind's, when it waits (withdrawals) */
	const char *code, *message_en, *message_zh;
	const char *trace;
	const char *idem_key, *idem_endpoint, *idem_body;
};

/* The first commit of a new order of a kind: one statement (prepared once
 * per store session) that claims the Idempotency-Key ($18, when given),
 * inserts the order (unless the key was another request's, or the
 * merchant's number is taken), its first event and its check row (a
 * processing order) or its notification (one that failed at once), and
 * answers one row: the result ('created', 'duplicate': the order that has
 * the number and its request hash follow, 'key': the key's row follows,
 * PR_IDEM_COLS' shape) and those columns.
 *
 * Parameters every kind has: $1 id, $2 merchant, $3 the merchant's number,
 * $4 request hash, $5 actor, $6 now (ms: created_at, finished_at), $7
 * status ('processing', 'failed' or 'pending_channel'), $8 channel, $9
 * usage day, $10 bank scope, $11 amount reserved, $12 the first event's
 * detail, $13 check seconds, $14 code, $15 and $16 its messages, $17
 * trace, $18 Idempotency-Key, $19 its endpoint, $20 the answer kept under
 * it when the order ends here (or waits: a pending withdrawal); the kind's
 * own from $21. TABLE, KIND, NO (the column of the merchant's number),
 * COLS and VALS (the kind's columns and their values, each list starting
 * with a comma) are SQL text.
 *
 * A statement executes every data-modifying clause it has, and starts
 * each (opens its table and indexes) at every execution even when its
 * condition is false; so does a LATERAL lookup behind a false condition.
 * The kinds therefore send one of three variants (pr_flow_begin_send):
 *   PR_BEGIN_SQL      everything: an order that ends or waits in its
 *                     first commit (no channel could take it: rare),
 *                     with its first event ('answer', 'pending');
 *   PR_BEGIN_KEY_SQL  a processing order with an Idempotency-Key: the key,
 *                     the order and its check row;
 *   PR_BEGIN_LEAN_SQL a processing order without one (the common case):
 *                     the order and its check row.
 * A processing order's first event ('attempt', created -> processing,
 * {"channel", "attempt": 1}) is not a row: the order's created_by (the
 * actor, migration 019), created_at and first channel say it, and the
 * history read (PR_ORDER_HISTORY) shows it first, with id 0. Nor, mostly,
 * is its first answer (migration 021): when the lean apply applies it
 * (PR_APPLY_IMPLIED, ordstore.h), the order's answer_id, answer_at,
 * answer_by and answer_to and its trace's first attempt say it, and the
 * history shows it with its id from order_events' sequence, in its place.
 * The variants answer the same columns; the parameters a variant does
 * not use keep their types in a clause nothing reads (the planner drops
 * it). */
#define PR_BEGIN_SQL_(TABLE, KIND, NO, COLS, VALS, K, P_COND, E, N, KI)        \
	"WITH " K "p AS (INSERT INTO " TABLE " (id, merchant_id, " NO          \
	", request_hash, "                                                     \
	"status, channel, attempts, usage_day, usage_bank, usage_amount, "     \
	"code, message_en, message_zh, trace, created_at, finished_at" COLS    \
	") SELECT $1::text, $2::text, $3::text, $4::text, $7::text, "          \
	"$8::text, CASE WHEN $8::text IS NULL THEN 0 ELSE 1 END, "             \
	"DATE '1970-01-01' + $9::int, $10::text, $11::bigint, $14::text, "     \
	"$15::text, $16::text, $17::jsonb, pr_ms_time($6::bigint), "           \
	"CASE WHEN $7::text = 'failed' THEN pr_ms_time($6::bigint) END" VALS   \
		P_COND " ON CONFLICT (merchant_id, " NO ") DO NOTHING "        \
	"RETURNING id, merchant_id, notify_url), " E                           \
	"c AS (INSERT INTO order_checks (kind, order_id, next_at) "            \
	"SELECT '" KIND "', p.id, now() + make_interval(secs => $13::int) "    \
	"FROM p WHERE $7::text = 'processing')" N " " KI
/* The Idempotency-Key's clause, and the key's row when it was another
 * request's. */
#define PR_BEGIN_K                                                             \
	"k AS (INSERT INTO idempotency_keys (merchant_id, key, endpoint, "     \
	"request_hash, order_id, state, status, body) SELECT $2::text, "       \
	"$18::text, $19::text, $4::text, $1::text, "                           \
	"CASE WHEN $7::text = 'processing' THEN 'in_progress' ELSE 'done' "    \
	"END, CASE WHEN $7::text = 'processing' THEN NULL ELSE 201 END, "      \
	"CASE WHEN $7::text = 'processing' THEN NULL ELSE $20::text END "      \
	"WHERE $18::text IS NOT NULL "                                         \
	"ON CONFLICT (merchant_id, key) DO NOTHING RETURNING 1), "
#define PR_BEGIN_KI(TABLE, NO)                                                 \
	"SELECT r.result, d.id, d.request_hash, "                              \
	"ki.endpoint, ki.request_hash, ki.state, ki.status, ki.body, "         \
	"coalesce(ki.order_id, ''), "                                          \
	"ki.created_at < now() - interval '5 minutes' "                        \
	"FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM p) THEN 'created' "      \
	"WHEN $18::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM k) "         \
	"THEN 'key' ELSE 'duplicate' END AS result) r "                        \
	"LEFT JOIN LATERAL (SELECT id, request_hash FROM " TABLE               \
	" WHERE r.result = 'duplicate' AND merchant_id = $2::text AND " NO     \
	" = $3::text) d ON true LEFT JOIN LATERAL (SELECT * FROM "             \
	"idempotency_keys WHERE r.result = 'key' AND merchant_id = $2::text "  \
	"AND key = $18::text) ki ON true"
#define PR_BEGIN_P_COND " WHERE $18::text IS NULL OR EXISTS (SELECT 1 FROM k)"
#define PR_BEGIN_SQL(TABLE, KIND, NO, COLS, VALS)                              \
	PR_BEGIN_SQL_(TABLE, KIND, NO, COLS, VALS, PR_BEGIN_K,                 \
		      PR_BEGIN_P_COND,                                         \
		      "e AS (INSERT INTO order_events (kind, order_id, "       \
		      "actor, event, from_status, to_status, detail) "         \
		      "SELECT '" KIND "', p.id, $5::text, CASE $7::text "      \
		      "WHEN 'processing' THEN 'attempt' "                      \
		      "WHEN 'pending_channel' THEN 'pending' ELSE 'answer' "   \
		      "END, 'created', $7::text, $12::jsonb FROM p), ",        \
		      ", n AS (INSERT INTO merchant_notifications "            \
		      "(merchant_id, kind, order_id, event, url) SELECT "      \
		      "p.merchant_id, '" KIND "', p.id, '" KIND ".' || "       \
		      "$7::text, p.notify_url FROM p WHERE $7::text = "        \
		      "'failed' AND coalesce(p.notify_url, '') <> '')",        \
		      PR_BEGIN_KI(TABLE, NO))
#define PR_BEGIN_KEY_SQL(TABLE, KIND, NO, COLS, VALS)                          \
	PR_BEGIN_SQL_(TABLE, KIND, NO, ", created_by" COLS, ", $5::text" VALS, \
		      PR_BEGIN_K, PR_BEGIN_P_COND, ,                           \
		      ", r0 AS (SELECT $12::jsonb)", PR_BEGIN_KI(TABLE, NO))
#define PR_BEGIN_LEAN_SQL(TABLE, KIND, NO, COLS, VALS)                         \
	PR_BEGIN_SQL_(TABLE, KIND, NO, ", created_by" COLS, ", $5::text" VALS, \
		      , , ,                                                    \
		      ", r0 AS (SELECT $12::jsonb, $18::text, $19::text, "     \
		      "$20::text)",                                            \
		      "SELECT r.result, d.id, d.request_hash, "                \
		      "NULL::text, NULL::text, NULL::text, NULL::int, "        \
		      "NULL::text, NULL::text, NULL::boolean "                 \
		      "FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM p) "       \
		      "THEN 'created' ELSE 'duplicate' END AS result) r "      \
		      "LEFT JOIN LATERAL (SELECT id, request_hash FROM " TABLE \
		      " WHERE r.result = 'duplicate' AND "                     \
		      "merchant_id = $2::text AND " NO " = $3::text) d "       \
		      "ON true")
/* The history of an order of KIND (its row is alias A): its first event
 * when the row implies it (created_by set, above), with id 0, its first
 * answer when the row keeps it (answer_id set, migration 021) with that
 * id, and its rows of order_events, in the order of their ids; SQL text
 * of a jsonb array. */
#define PR_ORDER_HISTORY(KIND, A)                                              \
	"(SELECT coalesce(jsonb_agg(x.j ORDER BY x.id), '[]') FROM ("          \
	"SELECT 0::bigint AS id, jsonb_build_object('id', 0, 'at', " A         \
	".created_at, 'actor', " A ".created_by, 'event', 'attempt', "         \
	"'from_status', 'created', 'to_status', 'processing', 'detail', "      \
	"jsonb_build_object('channel', coalesce(" A ".trace #>> "              \
	"'{attempts,0,channel}', " A ".channel), 'attempt', 1)) AS j "         \
	"WHERE " A ".created_by IS NOT NULL UNION ALL "                        \
	"SELECT " A ".answer_id, jsonb_build_object('id', " A ".answer_id, "   \
	"'at', " A ".answer_at, 'actor', " A ".answer_by, 'event', 'answer', " \
	"'from_status', 'processing', 'to_status', " A ".answer_to, "          \
	"'detail', " A ".trace #> '{attempts,0}') "                            \
	"WHERE " A ".answer_id IS NOT NULL UNION ALL "                         \
	"SELECT e.id, to_jsonb(e) - 'kind' - 'order_id' FROM order_events e "  \
	"WHERE e.kind = '" KIND "' AND e.order_id = " A ".id) x)"
/* The lean variant as the kinds send it first: the same clauses, and
 * the answer of an order inserted straight from p, without the closing
 * SELECT's EXISTS and its LATERAL lookup of a duplicate (which the
 * executor starts at every execution: about 3% of a payment's two
 * statements, doc/design.md §10). A duplicate merchant number inserts
 * nothing (ON CONFLICT DO NOTHING, having waited for the row's own
 * transaction), so it answers no row; pr_flow_begin_send then sends
 * PR_BEGIN_LEAN_SQL with the same parameters, which inserts nothing
 * either and answers the duplicate. */
#define PR_BEGIN_FAST_SQL(TABLE, KIND, NO, COLS, VALS)                         \
	PR_BEGIN_SQL_(TABLE, KIND, NO, ", created_by" COLS, ", $5::text" VALS, \
		      , , ,                                                    \
		      ", r0 AS (SELECT $12::jsonb, $18::text, $19::text, "     \
		      "$20::text)",                                            \
		      "SELECT 'created', NULL::text, NULL::text, NULL::text, " \
		      "NULL::text, NULL::text, NULL::int, NULL::text, "        \
		      "NULL::text, NULL::boolean FROM p")
/* The variants of a kind, for pr_flow_begin_send. */
struct pr_flow_begin_sqls {
	const char *full, *key, *lean, *fast;
};
#define PR_BEGIN_SQLS(TABLE, KIND, NO, COLS, VALS)                             \
	{                                                                      \
		PR_BEGIN_SQL(TABLE, KIND, NO, COLS, VALS),                     \
			PR_BEGIN_KEY_SQL(TABLE, KIND, NO, COLS, VALS),         \
			PR_BEGIN_LEAN_SQL(TABLE, KIND, NO, COLS, VALS),        \
			PR_BEGIN_FAST_SQL(TABLE, KIND, NO, COLS, VALS)         \
	}
#define PR_BEGIN_NCOLS 3
#define PR_BEGIN_NPARAMS 20

struct pr_flow_ops {
	const struct pr_order_kind *kind;
	unsigned business; /* PR_BIZ_PAY or PR_BIZ_WITHDRAW */
	enum pr_op op;
	/* The status each effect leads to. */
	int to_status[PAYROUTE_EFFECT_CLOSED + 1];
	/* The end of an order no candidate could take when none answered:
	 * a status (the kind's pending state, or failed with NO_CHANNEL). */
	int no_channel_status;
	/* A duplicate merchant number: the 409's message and the field
	 * naming the order that has it ("payment_id"). */
	const char *dup_message;
	const char *dup_field;
	/* A stored order that no channel can take now: put it back to wait
	 * (withdrawals), then ops->end. NULL for kinds that never store
	 * before routing. */
	void (*requeue)(struct pr_flow *f);
	/* Optional: a new order no candidate could take. Returns the code
	 * to fail it with at once, or NULL to end it in no_channel_status
	 * (withdrawals: PAYEE_NOT_SUPPORTED when no channel of the catalogue
	 * could ever serve it, so that it does not wait for its deadline). */
	const struct pr_code *(*unservable)(struct pr_flow *f);
	/* Fills the route request (strings may point into the flow). */
	void (*route_req)(struct pr_flow *f, struct pr_route_req *rq);
	/* Fills f->order for an attempt on channel c. */
	void (*order)(struct pr_flow *f, const struct pr_chan_spec *c);
	/* Sends the first commit of a new order: the kind's PR_BEGIN_SQLS
	 * variant for b (pr_flow_begin_send) with
	 * b's parameters ($1 .. $20, pr_flow_begin_params) and its own.
	 * Returns 0 or -EAGAIN / -ENOMEM (cb not called). */
	int (*begin)(struct pr_flow *f, const struct pr_flow_begin *b,
		     pr_db_cb cb, void *arg);
	/* Optional: what a step changes in the kind's part of f->row beyond
	 * the common fields (the payer of a payment). */
	void (*predict)(struct pr_flow *f, const struct pr_call *c);
	/* Ends the flow: answers (when f->r) and frees the kind's state
	 * (body is stolen). status 0: answered already, or nothing to
	 * answer. */
	void (*end)(struct pr_flow *f, int status, json_t *body);
};

struct pr_flow {
	const struct pr_flow_ops *ops;
	struct pr_request *r; /* NULL: a flow of our own (a timer) */
	struct pr_daemon *d;
	struct pr_generation *gen; /* r->gen, or referenced by the owner */
	char locale[8];		   /* the merchant's */
	const char *bank_code;	   /* the per-bank limit's scope, or "" */
	int64_t now_ms;		   /* the request's time */
	struct pr_idem idem;
	/* The order as this flow has it: the kind's row (its first member
	 * the common part), filled by the kind before pr_flow_start, then
	 * kept as the store has it after each commit. */
	struct pr_order_common *row;
	/* The order is stored already (a pending withdrawal routed again):
	 * its first commit is an apply from these states. */
	int stored;
	unsigned stored_from;

	/* The route. */
	struct pr_route_cand *cands;
	size_t n_cands; /* eligible, ranked */
	size_t next;
	json_t *trace; /* {"route", "generation", "attempts": []} */
	json_t *attempts;

	/* The candidate being reserved, and whether for a cascade. */
	const struct pr_chan_spec *cand_spec;
	const struct pr_channel *cand_ch;
	int cascading;
	/* The answer kept under the key when the first commit ends it. */
	char *begin_text;

	/* The current attempt. */
	const struct pr_chan_spec *spec;
	const struct pr_channel *ch;
	struct pr_usage_token tok;
	int have_tok;
	struct pr_usage_token next_tok; /* the cascade's next reservation */
	const struct pr_chan_spec *next_spec;
	const struct pr_channel *next_ch;
	struct pr_call_copy {
		const struct pr_code *code;
		enum pr_call_end end;
		struct payroute_result res;
		json_t *detail;
	} answer; /* a retryable failure waiting for the next reservation */
	struct payroute_order order;
	char notify_buf[512];
	const struct pr_code *last_code;
};

/* Sends the variant of s that b needs (PR_BEGIN_SQL_ above) with the n
 * parameters p: for a processing order without an Idempotency-Key the
 * fast one, then the lean one when it answered no row (a duplicate); key
 * for one with a key; full for an order that ends or waits in its first
 * commit. Returns 0 or -EAGAIN (cb not called). */
int pr_flow_begin_send(struct pr_db *db, const struct pr_flow_begin_sqls *s,
		       const struct pr_flow_begin *b, int n,
		       const char *const *p, pr_db_cb cb, void *arg);

/* Fills p[0 .. PR_BEGIN_NPARAMS - 1] with the common parameters of a
 * begin statement (f->row's id, merchant, number; b; the request hash). */
void pr_flow_begin_params(const struct pr_flow *f,
			  const struct pr_flow_begin *b, const char *hash,
			  const char **p);

/* Routes the order (f->row, the kind's route request) and runs the
 * cascade. The kind has filled f->ops, r/d/gen, f->row (id, merchant,
 * amount, currency, created time...), locale, bank_code, now_ms and
 * idem. Ends, always, with ops->end. */
void pr_flow_start(struct pr_flow *f);

/* Frees what the flow holds (not f itself): for the kind's end(). */
void pr_flow_clear(struct pr_flow *f);

/* The attempt entry of the trace for call c on f's channel. */
json_t *pr_flow_attempt_json(const struct pr_flow *f, const struct pr_call *c,
			     const char *outcome);

/* The JSON text and status of the order as f->row has it, answered and
 * kept: for the kinds that answer from a row loaded another way. */
void pr_flow_answer_row(struct pr_flow *f, int status);

#endif
