/*
 * ordstore.h - orders in the store, written once for payments and
 * withdrawals (doc/design.md §5).
 *
 * Both kinds have the same store contract (migration 008): a begin
 * function for the first commit (the kind's own, since its columns
 * differ) and pr_<kind>_apply for every later change, with the same
 * parameters for both kinds. pr_order_apply runs the latter for any kind
 * described by a struct pr_order_kind, and does what every change implies
 * in this process: the reservation the change gave back (or replaced) is
 * given back to the usage tracker, a final state feeds the channel's
 * success rate and, when a notification was queued, wakes the outbox.
 *
 * Rows: a kind's row struct starts with struct pr_order_common, the
 * fields every kind has; the kind reads the rest. The merchant JSON of an
 * order is built in C from the row (the kind's render function), never in
 * SQL: the same function answers the API, fills the answer kept under an
 * Idempotency-Key and the body of a merchant notification.
 */
#ifndef PR_ORDSTORE_H
#define PR_ORDSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <payroute/driver.h>

#include "domain/codemap.h"
#include "runtime/daemon.h"
#include "domain/orderstate.h"
#include "orders/usage.h"

/* What every order row has. A kind's row struct starts with one. */
struct pr_order_common {
	char id[33];
	char merchant_id[65];
	char merchant_no[65]; /* the merchant's order/withdrawal number */
	int status;	      /* index into the kind's status names */
	char channel[65];     /* "" when none yet */
	int64_t amount;
	char currency[4];
	char code[65]; /* the unified code so far, "" */
	char message_en[256];
	char message_zh[256];
	char channel_trade_no[PAYROUTE_ID_LEN];
	int attempts;
	int64_t created_ms;
	int64_t finished_ms; /* 0 while not final */
	/* the daily-limit reservation of the current attempt */
	int64_t usage_day; /* days since 1970-01-01 */
	char usage_bank[65];
	int64_t usage_amount; /* 0: none */
	int usage_released;
	char notify_url[1025];
	char locale[8]; /* the merchant's; "" when the query did not say */
};

/* What $21 of a kind's apply statement carries. */
enum pr_apply_extra {
	PR_EXTRA_PAYER, /* the payer's payload (jsonb): payments */
	PR_EXTRA_RETRY, /* seconds to the next routing (int): withdrawals */
};

/* A kind of order as the store and the order path see it. */
struct pr_order_kind {
	const char *name; /* "payment", "withdrawal" */
	/* its states (names, transitions, final ones: orderstate.h); a
	 * row's status is a state of this machine */
	const struct pr_machine *machine;
	int st_processing, st_unknown, st_succeeded, st_failed;
	/* PR_APPLY_SQL for the kind, PR_APPLY_LEAN_SQL (the common change),
	 * PR_APPLY_ANSWER_SQL (the lean one for the flow's answers), and
	 * what their $21 is. */
	const char *apply_sql;
	const char *apply_lean_sql;
	const char *apply_answer_sql;
	const char *apply_fast_sql;  /* PR_APPLY_FAST_SQL, tried first */
	const char *apply_final_sql; /* PR_APPLY_FINAL_SQL, tried first */
	enum pr_apply_extra apply_extra;
	/* Its table, and its row columns over that table aliased x (what
	 * row_read reads; load_sql selects them): the outbox reads the
	 * orders of the notifications it claims with the claim. */
	const char *table;
	const char *cols;
	/* SELECT <row columns>, m.locale FROM <table> x JOIN merchants m
	 * ON m.id = x.merchant_id WHERE x.id = $1 AND ($2::text IS NULL OR
	 * x.merchant_id = $2) */
	const char *load_sql;
	size_t row_size;
	/* Fills row (row_size bytes, zeroed first) from the row columns
	 * starting at col; with_locale: the locale column follows them.
	 * Returns 0 or -EPROTO. */
	int (*row_read)(PGresult *res, int r, int col, int with_locale,
			void *row);
	/* Frees what a row holds (not the row). */
	void (*row_clear)(void *row);
	/* The merchant JSON of row (a new reference, or NULL). */
	json_t *(*render)(const void *row, const char *locale);
};

/* The SET items of a change's outcome (its unified code and messages,
 * the channel's code, sub code, message and trade number: $14 to $20),
 * then EXTRA, the kind's: in PR_APPLY_SQL_ and PR_APPLY_FAST_SQL. */
#define PR_APPLY_OUTCOME(EXTRA)                                                \
	"code = coalesce($14::text, t.code), "                                 \
	"message_en = coalesce($15::text, t.message_en), "                     \
	"message_zh = coalesce($16::text, t.message_zh), "                     \
	"channel_code = CASE WHEN $14::text IS NULL THEN t.channel_code "      \
	"ELSE $17::text END, "                                                 \
	"channel_sub_code = CASE WHEN $14::text IS NULL "                      \
	"THEN t.channel_sub_code ELSE $18::text END, "                         \
	"channel_message = CASE WHEN $14::text IS NULL "                       \
	"THEN t.channel_message ELSE $19::text END, "                          \
	"channel_trade_no = coalesce(nullif($20::text, ''), "                  \
	"t.channel_trade_no), " EXTRA

/* The statement of pr_order_apply for a kind: one statement (data-
 * modifying WITH clauses, prepared once per store session), the contract
 * of doc/design.md §5:
 *
 *   o   locks the order (its latest version);
 *   g   the guards (its channel must be $25, its amount $26, when given)
 *       and whether its status is one of $2;
 *   u   the transition to $3 with the outcome; a next attempt when $8 (its
 *       channel) is given, whose reservation replaces the current one;
 *       usage_released set by $13 or a RELEASE state;
 *   e   the event ($5, or "$5.ignored" when the status was another),
 *       unless the order's columns keep it (i_ok: PR_APPLY_ANSWER_SQL's
 *       PR_APPLY_IMPLIED);
 *   ea  the next attempt's 'attempt' event ($12);
 *   cd  the check row dropped in a FINAL state (by its key, $1, behind
 *       EXISTS over u: a one-time filter, so that nothing is scanned
 *       otherwise; joined to u, a generic plan made while the check queue
 *       was empty scanned the whole queue at every change); ci, when $24 (a new
 *       attempt, an order that had none), queued due in $23 s in a
 *       CHECKED state (an order that is processing or unknown has its
 *       row from its first commit: the checks keep it);
 *   n   the merchant notification of a FINAL state (its body is built by
 *       the daemon that delivers it);
 *   k   the answer $28 kept under the Idempotency-Key $27;
 * and answers the result ('changed', 'ignored': only the event, 'guard':
 * nothing written), the status, usage_released and reservation before,
 * then the row after (COLS over alias x).
 *
 * Parameters: $1 id, $2 from (text[]), $3 to, $4 actor, $5 event, $6
 * detail, $7 now (ms: finished_at), $8 channel, $9 usage day, $10 bank
 * scope, $11 amount, $12 attempt detail, $13 release, $14 code, $15 and $16
 * its messages, $17 to $19 the channel's code, sub code and message, $20
 * channel trade number, $21 EXTRA's parameter, $22 trace, $23 check
 * seconds, $24 check reset, $25 guard channel, $26 guard amount, $27
 * Idempotency-Key, $28 its answer. TABLE, KIND and the state lists are SQL
 * text; EXTRA is more SET items of the kind, using $21; IMPLIED a boolean
 * over o (i_ok: the event is the order's columns, not a row) and ASET the
 * SET items that keep it. */
#define PR_APPLY_SQL_(TABLE, KIND, FINAL, RELEASE, EXTRA, RARE, IMPLIED, ASET,            \
		      COLS)                                                               \
	"WITH o AS (SELECT * FROM " TABLE " WHERE id = $1::text FOR UPDATE), "            \
	"g AS (SELECT o.id, o.status, o.usage_released, o.channel, "                      \
	"o.usage_day, o.usage_bank, o.usage_amount, "                                     \
	"($25::text IS NULL OR o.channel IS NOT DISTINCT FROM $25::text) AND "            \
	"($26::bigint IS NULL OR o.amount = $26::bigint) AS g_ok, "                       \
	"o.status = ANY ($2::text[]) AS f_ok, " IMPLIED " AS i_ok FROM o), "              \
	"u AS (UPDATE " TABLE " t SET " ASET "status = $3::text, "                        \
	"channel = coalesce($8::text, t.channel), "                                       \
	"attempts = t.attempts + CASE WHEN $8::text IS NULL THEN 0 ELSE 1 "               \
	"END, "                                                                           \
	"usage_day = CASE WHEN $8::text IS NULL THEN t.usage_day "                        \
	"ELSE DATE '1970-01-01' + $9::int END, "                                          \
	"usage_bank = CASE WHEN $8::text IS NULL THEN t.usage_bank "                      \
	"ELSE $10::text END, "                                                            \
	"usage_amount = CASE WHEN $8::text IS NULL THEN t.usage_amount "                  \
	"ELSE $11::bigint END, "                                                          \
	"usage_released = CASE WHEN $8::text IS NOT NULL THEN false "                     \
	"ELSE t.usage_released OR $13::boolean OR "                                       \
	"$3::text IN (" RELEASE ") END, " PR_APPLY_OUTCOME(                               \
		EXTRA) "paid_amount = CASE WHEN $3::text = 'succeeded' THEN t.amount "    \
		       "ELSE t.paid_amount END, "                                         \
		       "trace = coalesce($22::jsonb, t.trace), "                          \
		       "finished_at = CASE WHEN $3::text IN (" FINAL ") "                 \
		       "THEN pr_ms_time($7::bigint) END "                                 \
		       "FROM g WHERE t.id = g.id AND g.g_ok AND g.f_ok RETURNING t.*), "  \
		       "e AS (INSERT INTO order_events (kind, order_id, actor, event, "   \
		       "from_status, to_status, detail) SELECT '" KIND                    \
		       "', g.id, $4::text, "                                              \
		       "CASE WHEN g.f_ok THEN $5::text ELSE $5::text || '.ignored' END, " \
		       "g.status, $3::text, $6::jsonb FROM g "                            \
		       "WHERE g.g_ok AND NOT (g.f_ok AND g.i_ok)), " RARE                 \
		       "x AS (SELECT * FROM u UNION ALL SELECT * FROM o "                 \
		       "WHERE NOT EXISTS (SELECT 1 FROM u)) "                             \
		       "SELECT CASE WHEN NOT g.g_ok THEN 'guard' WHEN NOT g.f_ok THEN "   \
		       "'ignored' ELSE 'changed' END, g.status, g.usage_released, "       \
		       "coalesce(g.channel, ''), "                                        \
		       "coalesce(g.usage_day - DATE '1970-01-01', 0), "                   \
		       "coalesce(g.usage_bank, ''), coalesce(g.usage_amount, 0), " COLS   \
		       " FROM g, x"
/* The clauses of PR_APPLY_SQL that write only in some changes (ea, cd,
 * ci, n, k). */
#define PR_APPLY_RARE(KIND, FINAL, CHECKED)                                      \
	"ea AS (INSERT INTO order_events (kind, order_id, actor, event, "        \
	"from_status, to_status, detail) SELECT '" KIND "', u.id, $4::text, "    \
	"'attempt', u.status, u.status, $12::jsonb FROM u "                      \
	"WHERE $12::jsonb IS NOT NULL), "                                        \
	"cd AS (DELETE FROM order_checks c WHERE c.kind = '" KIND "' AND "       \
	"c.order_id = $1::text AND EXISTS (SELECT 1 FROM u "                     \
	"WHERE u.status IN (" FINAL "))), "                                      \
	"ci AS (INSERT INTO order_checks AS c (kind, order_id, next_at) "        \
	"SELECT '" KIND "', u.id, now() + make_interval(secs => $23::int) "      \
	"FROM u WHERE u.status IN (" CHECKED ") AND $24::boolean "               \
	"ON CONFLICT (kind, order_id) DO UPDATE SET next_at = "                  \
	"EXCLUDED.next_at, checks = 0, attention = false, updated_at = now()), " \
	"n AS (INSERT INTO merchant_notifications (merchant_id, kind, "          \
	"order_id, event, url) SELECT u.merchant_id, '" KIND "', u.id, "         \
	"'" KIND ".' || u.status, u.notify_url FROM u "                          \
	"WHERE u.status IN (" FINAL ") AND coalesce(u.notify_url, '') <> '' "    \
	"ON CONFLICT (kind, order_id, event) DO NOTHING), "                      \
	"k AS (UPDATE idempotency_keys i SET state = 'done', status = 201, "     \
	"body = $28::text, updated_at = now() FROM u "                           \
	"WHERE $27::text IS NOT NULL AND i.merchant_id = u.merchant_id AND "     \
	"i.key = $27::text AND i.state = 'in_progress'), "
#define PR_APPLY_SQL(TABLE, KIND, FINAL, CHECKED, RELEASE, EXTRA, COLS)        \
	PR_APPLY_SQL_(TABLE, KIND, FINAL, RELEASE, EXTRA,                      \
		      PR_APPLY_RARE(KIND, FINAL, CHECKED), "false", "", COLS)
/* The same statement for the common change, which writes none of the
 * rare clauses: not final, no next attempt ($12 NULL), no check reset
 * ($24 false), no Idempotency-Key ($27 NULL); pr_order_apply picks it.
 * Their parameters keep their types in a clause nothing reads (the
 * planner drops it): a statement executes every data-modifying clause it
 * has, and prepares each at every execution, even one whose condition
 * is false (each opens its table and indexes). */
#define PR_APPLY_LEAN_SQL(TABLE, KIND, FINAL, RELEASE, EXTRA, COLS)            \
	PR_APPLY_SQL_(TABLE, KIND, FINAL, RELEASE, EXTRA, PR_APPLY_LEAN_R,     \
		      "false", "", COLS)
#define PR_APPLY_LEAN_R                                                        \
	"r AS (SELECT $12::jsonb, $23::int, $24::boolean, $27::text, "         \
	"$28::text), "
/* The lean statement for an answer of the flow (event 'answer'), whose
 * event the order may keep (PR_APPLY_IMPLIED); other changes (checks,
 * callbacks) send PR_APPLY_LEAN_SQL, without the columns' expressions
 * (the executor starts each at every execution). */
#define PR_APPLY_ANSWER_SQL(TABLE, KIND, FINAL, RELEASE, EXTRA, COLS)          \
	PR_APPLY_SQL_(TABLE, KIND, FINAL, RELEASE, EXTRA, PR_APPLY_LEAN_R,     \
		      PR_APPLY_IMPLIED, PR_APPLY_ASET, COLS)
/* The answer statement's event implied by the order (migration 021): the
 * first answer of an order whose first attempt is its row (created_by,
 * migration 019), still processing on that attempt, when the answer
 * changes it (f_ok: e tests both). Its detail is then the trace's first
 * attempt, by construction (the flow appends the answer's detail to the
 * trace it stores with it, flow.c), which the history shows as the
 * event's detail: the statement does not compare the two, since jsonb
 * operators on the trace cost more than they check. The same UPDATE
 * keeps the event's id (drawn from order_events' sequence: its place
 * among the order's events), time, actor and new status; e writes no
 * row then. */
#define PR_APPLY_IMPLIED                                                       \
	"coalesce($5::text = 'answer' AND o.status = 'processing' AND "        \
	"o.created_by IS NOT NULL AND o.attempts = 1 AND "                     \
	"o.answer_id IS NULL, false)"
#define PR_APPLY_ASET                                                          \
	"answer_id = CASE WHEN g.i_ok THEN nextval('order_events_id_seq') "    \
	"ELSE t.answer_id END, "                                               \
	"answer_at = CASE WHEN g.i_ok THEN now() ELSE t.answer_at END, "       \
	"answer_by = CASE WHEN g.i_ok THEN $4::text ELSE t.answer_by END, "    \
	"answer_to = CASE WHEN g.i_ok THEN $3::text ELSE t.answer_to END, "
/* The flow's first answer as one UPDATE (PR_APPLY_FAST_SQL): the change
 * PR_APPLY_ANSWER_SQL makes when its event is implied (i_ok), without
 * its o, g, e and x clauses, whose executor start-up (the INSERT's table
 * and indexes opened though it writes nothing) was most of what the
 * statement cost beyond its UPDATE (doc/design.md §10). Its WHERE is
 * i_ok and the guards, its SET the same as u's for a change that is not
 * final, names no next attempt ($8 NULL) and releases nothing ($13
 * false): the reservation and usage_released are then what they were,
 * and the status before 'processing', so the answer's first columns come
 * from the row after. pr_order_apply sends it only for such a change, and
 * when it updates no row (the order moved, or another state: a callback
 * came first, a guard), sends PR_APPLY_ANSWER_SQL with the same
 * parameters, which writes what the full statement would. It answers the
 * first PR_APPLY_NCOLS columns only, not the row after: the caller holds
 * it (pr_order_update.row_after, the flow's prediction, which the UPDATE
 * makes true), and sending it back cost the store about 15% of a
 * payment's two statements (the RETURNING of the whole row and some
 * thirty columns out as text: doc/design.md §10). Parameters as PR_APPLY_SQL_'s; those
 * it does not read keep their types in r. */
#define PR_APPLY_FAST_SQL(TABLE, EXTRA)                                                       \
	"WITH r AS (SELECT $2::text[], $5::text, $6::jsonb, $7::bigint, "                     \
	"$8::text, $9::int, $10::text, $11::bigint, $12::jsonb, "                             \
	"$13::boolean, $23::int, $24::boolean, $27::text, $28::text), "                       \
	"x AS (UPDATE " TABLE " t SET answer_id = "                                           \
	"nextval('order_events_id_seq'), answer_at = now(), "                                 \
	"answer_by = $4::text, answer_to = $3::text, status = $3::text, " PR_APPLY_OUTCOME(   \
		EXTRA) "trace = coalesce($22::jsonb, t.trace) "                               \
		       "WHERE t.id = $1::text AND t.status = 'processing' AND "               \
		       "t.created_by IS NOT NULL AND t.attempts = 1 AND "                     \
		       "t.answer_id IS NULL AND "                                             \
		       "($25::text IS NULL OR t.channel IS NOT DISTINCT FROM $25::text) AND " \
		       "($26::bigint IS NULL OR t.amount = $26::bigint) "                     \
		       "RETURNING t.usage_released, t.channel, t.usage_day, t.usage_bank, "   \
		       "t.usage_amount) "                                                     \
		       "SELECT 'changed', 'processing', x.usage_released, "                   \
		       "coalesce(x.channel, ''), "                                            \
		       "coalesce(x.usage_day - DATE '1970-01-01', 0), "                       \
		       "coalesce(x.usage_bank, ''), coalesce(x.usage_amount, 0) FROM x"
/* A processing order's final change (a callback's, a check's, an
 * answer's that keeps no Idempotency-Key) as one UPDATE and the rows a
 * final change writes (PR_APPLY_FINAL_SQL): the same method as
 * PR_APPLY_FAST_SQL for PR_APPLY_SQL, without its o, g, x clauses and
 * the ea, ci and k ones that write nothing then (a final state names no
 * next attempt, queues no check). Its WHERE is the guards, $3 one of
 * FINAL, and the order processing with its reservation held: the status
 * and usage_released before are then 'processing' and false, the event's
 * from status 'processing', and the reservation (no next attempt: $8
 * NULL) what the row after has. Its SET is u's for such a change; e, cd
 * and n are the full statement's for a final state (e without i_ok: an
 * implied event is the flow's first answer, never final). A change with
 * a next attempt, a check reset or a key ($8, $12, $24, $27) updates no
 * row either. pr_order_apply sends it only for such a change, and when it
 * updates no row (an unknown order, one that moved, a guard), sends
 * PR_APPLY_SQL with the same parameters. Parameters as PR_APPLY_SQL_'s;
 * those it does not read keep their types in r. */
#define PR_APPLY_FINAL_SQL(TABLE, KIND, FINAL, RELEASE, EXTRA, COLS)                          \
	"WITH r AS (SELECT $2::text[], $9::int, $10::text, $11::bigint, "                     \
	"$23::int, $28::text), "                                                              \
	"x AS (UPDATE " TABLE " t SET status = $3::text, "                                    \
	"usage_released = $13::boolean OR $3::text IN (" RELEASE                              \
	"), " PR_APPLY_OUTCOME(                                                               \
		EXTRA) "paid_amount = CASE WHEN $3::text = 'succeeded' "                      \
		       "THEN t.amount ELSE t.paid_amount END, "                               \
		       "trace = coalesce($22::jsonb, t.trace), "                              \
		       "finished_at = pr_ms_time($7::bigint) "                                \
		       "WHERE t.id = $1::text AND $3::text IN (" FINAL                        \
		       ") AND "                                                               \
		       "$8::text IS NULL AND $12::jsonb IS NULL AND NOT $24::boolean AND "    \
		       "$27::text IS NULL AND "                                               \
		       "t.status = 'processing' AND NOT t.usage_released AND "                \
		       "($25::text IS NULL OR t.channel IS NOT DISTINCT FROM $25::text) AND " \
		       "($26::bigint IS NULL OR t.amount = $26::bigint) RETURNING t.*), "     \
		       "e AS (INSERT INTO order_events (kind, order_id, actor, event, "       \
		       "from_status, to_status, detail) SELECT '" KIND                        \
		       "', x.id, "                                                            \
		       "$4::text, $5::text, 'processing', $3::text, $6::jsonb FROM x), "      \
		       "cd AS (DELETE FROM order_checks c WHERE c.kind = '" KIND              \
		       "' AND "                                                               \
		       "c.order_id = $1::text AND EXISTS (SELECT 1 FROM x)), "                \
		       "n AS (INSERT INTO merchant_notifications (merchant_id, kind, "        \
		       "order_id, event, url) SELECT x.merchant_id, '" KIND                   \
		       "', x.id, "                                                            \
		       "'" KIND ".' || x.status, x.notify_url FROM x "                        \
		       "WHERE coalesce(x.notify_url, '') <> '' "                              \
		       "ON CONFLICT (kind, order_id, event) DO NOTHING) "                     \
		       "SELECT 'changed', 'processing', false, "                              \
		       "coalesce(x.channel, ''), "                                            \
		       "coalesce(x.usage_day - DATE '1970-01-01', 0), "                       \
		       "coalesce(x.usage_bank, ''), coalesce(x.usage_amount, 0), " COLS       \
		       " FROM x"
#define PR_APPLY_NCOLS 7

/* One change of an order (pr_<kind>_apply). NULL pointers and zeros leave
 * things as they are. */
struct pr_order_update {
	const char *id;
	unsigned from; /* PR_FROM() bits */
	int to;
	const char *event; /* "answer", "callback", "check"... */
	json_t *detail;	   /* borrowed: the event's detail */
	const char *actor; /* NULL: this instance */
	int64_t now_ms;	   /* 0: now; finished_at of a final state */
	/* A next attempt (a cascade): its channel, reservation, event. */
	const char *channel;
	const struct pr_usage_token *tok;
	json_t *attempt_detail;
	int release; /* give the current reservation back */
	const struct pr_code *code;
	const struct payroute_result *res;
	json_t *payer; /* payments */
	json_t *trace;
	/* Queue the check row (due in check_s): a new attempt, or an order
	 * that had none; otherwise the row of the first commit stays. */
	int check_s;
	int check_reset;
	int retry_s; /* withdrawals in pending_channel */
	/* Guards: the order's channel must be this, its amount this (-1 or
	 * 0 with !guard_amount_set: none); else nothing is written. */
	const char *guard_channel;
	int guard_amount_set;
	int64_t guard_amount;
	/* The answer to keep under the order's Idempotency-Key. */
	const char *idem_key;
	const char *idem_body;
	/* The kind's row as this change leaves it, when the caller knows it
	 * (the flow's answer: its prediction). Only then is an answer sent
	 * as PR_APPLY_FAST_SQL, which does not send the row back: cb gets
	 * this one when that statement changed the order (the row it read
	 * otherwise), which must stay valid until cb. */
	const void *row_after;
};

enum pr_apply_result {
	PR_APPLY_CHANGED = 0,
	PR_APPLY_IGNORED, /* in another state: only ".ignored" was written */
	PR_APPLY_GUARD,	  /* a guard failed: nothing was written */
};

/* Called with rc 0, the result, the status before and the row after (the
 * kind's row struct, valid during the call), or rc < 0 with err: -ENOENT
 * no such order, -EIO the statement failed (err_definite() tells whether
 * it surely wrote nothing), -EPROTO a malformed answer. */
typedef void (*pr_order_apply_cb)(int rc, enum pr_apply_result result, int from,
				  void *row, const char *err, void *arg);

/* Applies u to an order of kind k. When the change gave back (or a new
 * attempt replaced) a reservation that was not given back yet, it is
 * given back to the usage tracker here; a final state reached by this
 * call feeds the success rate (succeeded and failed) and, when the order
 * has a notify_url (a notification was queued), wakes the outbox. cb may
 * be NULL. Returns 0, or -EAGAIN / -ENOMEM / -EINVAL (cb
 * not called). */
int pr_order_apply(struct pr_daemon *d, const struct pr_order_kind *k,
		   const struct pr_order_update *u, pr_order_apply_cb cb,
		   void *arg);

/* Called with the row (NULL: no such order for that merchant) or err. */
typedef void (*pr_order_load_cb)(void *row, const char *err, void *arg);

/* Loads order id of kind k (merchant_id NULL: any merchant's). Returns 0
 * or -EAGAIN / -ENOMEM (cb not called). */
int pr_order_load(struct pr_daemon *d, const struct pr_order_kind *k,
		  const char *id, const char *merchant_id, pr_order_load_cb cb,
		  void *arg);
/* The same with another query of the kind's row columns (and the
 * locale), e.g. by the merchant's number. */
int pr_order_load_sql(struct pr_daemon *d, const struct pr_order_kind *k,
		      const char *sql, int n, const char *const *params,
		      pr_order_load_cb cb, void *arg);

/* Called with the merchant JSON of an order (a new reference; NULL with
 * err, or with err NULL when there is no such order). */
typedef void (*pr_order_json_cb)(json_t *j, const char *err, void *arg);

/* Loads order id of kind k and renders its merchant JSON. Returns 0 or
 * -EAGAIN / -ENOMEM (cb not called). */
int pr_order_json_load(struct pr_daemon *d, const struct pr_order_kind *k,
		       const char *id, pr_order_json_cb cb, void *arg);

/* Orders read with a claim (the outbox's, the completion job's): one
 * statement for a batch's orders instead of one each. pr_order_claim_sql
 * builds the claim's text: head (the SELECT and its own columns), then
 * ", k<i>.*" for each of the n kinds, from (" FROM <the claim> c"), then
 * for each kind
 *
 *   LEFT JOIN LATERAL (SELECT true AS pr_kind_<name>, <row columns>,
 *   m.locale FROM <table> x JOIN merchants m ON m.id = x.merchant_id
 *   WHERE [<cond> AND] <kind_col> = '<name>' AND x.id = <id>
 *   OFFSET 0) k<i> ON true
 *
 * cond (may be NULL), kind_col and id being SQL text over the claim's
 * alias: a lookup by primary key per claimed row, never a scan of the
 * table (ordstore.c says why OFFSET 0). Returns a new string or NULL.
 * pr_order_claim_mark gives the column of kind k's mark in res (-1:
 * none); pr_order_claim_read reads row r's order of kind k: a new row
 * (free it with k->row_clear, then free), or NULL, with *err NULL when
 * the claim read none (the mark is NULL) and set when the row is
 * malformed or memory is short. */
char *pr_order_claim_sql(const char *head, const char *from,
			 const struct pr_order_kind *const *kinds, size_t n,
			 const char *cond, const char *kind_col,
			 const char *id);
int pr_order_claim_mark(PGresult *res, const struct pr_order_kind *k);
void *pr_order_claim_read(PGresult *res, int r, const struct pr_order_kind *k,
			  int mark, const char **err);

/* 1 when the store error text err says the statement surely changed
 * nothing (the server refused it, or it was never sent); 0 when it may
 * have committed (the connection died with it in flight). */
int pr_db_err_definite(const char *err);

/* ----------------------------------------------------------- callbacks */

/* The unified code of a verified notification of channel ch (operation
 * "notify"); an answer nobody mapped is counted (unmapped_codes) and is
 * UNMAPPED_CODE. Never NULL. */
const struct pr_code *pr_order_notify_code(struct pr_daemon *d,
					   const struct pr_generation *gen,
					   const struct pr_channel *ch,
					   const struct payroute_notify *nt);

/* Applies a verified callback of channel ch to order nt->order_id of kind
 * k, in one statement: the transition from processing or unknown to `to`
 * with code, guarded by the order's channel (it must be ch) and, for a
 * success with an amount, the order's amount. When a guard fails nothing
 * is written: a callback from another channel is refused; a paid amount
 * that differs leaves the order unknown (AMOUNT_MISMATCH) for an
 * operator, a second statement on that rare path only. A success for an
 * order already failed or closed is logged at error level (the money
 * moved after all: an operator must reconcile it). done(ok) says whether
 * the channel may stop re-sending. Returns 0 or a negative errno (done
 * not called). */
int pr_order_callback(struct pr_daemon *d, const struct pr_order_kind *k,
		      const struct pr_channel *ch,
		      const struct payroute_notify *nt,
		      const struct pr_code *code, int to,
		      void (*done)(int ok, void *arg), void *arg);

/* ------------------------------------------------ the merchant JSON */

/* ms since the epoch as the merchant JSON writes times:
 * "2026-12-06T22:30:22.226Z" (a new reference). */
json_t *pr_json_time(int64_t ms);
/* The same text into buf (25 bytes are enough). Returns 0; -EOVERFLOW
 * for a moment gmtime cannot express (buf is then ""). */
int pr_time_text(int64_t ms, char *buf, size_t len);
/* Sets key to s when s is not empty. */
void pr_json_put_str(json_t *o, const char *key, const char *s);
/* Sets "code", "message" (in locale: "en" or zh-CN) and "messages"
 * {"en", "zh-CN"} when code is not empty. */
void pr_json_put_code(json_t *o, const char *code, const char *message_en,
		      const char *message_zh, const char *locale);

/* The columns of struct pr_order_common over a kind's table aliased x;
 * `no` is the column of the merchant's number. pr_order_common_read reads
 * them. */
#define PR_ORDER_COLS(no)                                                      \
	"x.id, x.merchant_id, x." no ", x.status, coalesce(x.channel, ''), "   \
	"x.amount, x.currency, coalesce(x.code, ''), "                         \
	"coalesce(x.message_en, ''), coalesce(x.message_zh, ''), "             \
	"coalesce(x.channel_trade_no, ''), x.attempts, "                       \
	"(extract(epoch FROM x.created_at) * 1000)::bigint, "                  \
	"coalesce((extract(epoch FROM x.finished_at) * 1000)::bigint, 0), "    \
	"coalesce(x.usage_day - DATE '1970-01-01', 0), "                       \
	"coalesce(x.usage_bank, ''), coalesce(x.usage_amount, 0), "            \
	"x.usage_released, coalesce(x.notify_url, '')"
#define PR_ORDER_NCOLS 19

/* Reads the PR_ORDER_COLS columns starting at col into c. Returns 0 or
 * -EPROTO (an unknown status). */
int pr_order_common_read(const struct pr_order_kind *k, const PGresult *res,
			 int r, int col, struct pr_order_common *c);

/* Copies column col of row r into dst (len bytes, truncated). */
void pr_col_copy(char *dst, size_t len, const PGresult *res, int r, int col);
/* Column col of row r as an integer (0 when NULL). */
int64_t pr_col_i64(const PGresult *res, int r, int col);

#endif
