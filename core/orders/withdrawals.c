/*
 * withdrawals.c - withdrawals: the merchant API, the withdrawal as an
 * order kind (its row, JSON, driver order, check and callbacks), and the
 * routing again of those waiting for a channel (doc/design.md §6). The
 * cascade is flow.c's, as for payments:
 *
 *   authenticate -> parse (wdreq.c) -> route over the channels whose
 *   business types include withdraw (PR_BIZ_WITHDRAW; the method is the
 *   payee kind's) -> reserve -> first commit (pr_withdrawal_begin: the
 *   withdrawal with its route trace, the payee's account encrypted, the
 *   attempt, the check row, the Idempotency-Key) -> the driver's payout
 *   call -> second commit (pr_withdrawal_apply):
 *
 *     success            succeeded (the channel's amount must match)
 *     failed, retryable  the next candidate, in the same commit
 *     failed, closed     failed (reservation given back)
 *     processing         processing (the completion job and the channel's
 *                        callback settle it)
 *     unknown, timeout,  unknown: never failed, never sent to a second
 *     bad or unmapped    channel (the money may have left); the completion
 *     answer             job finds out with payout_query
 *
 * When no channel is usable (none passes the filters: all offline, in a
 * maintenance window, over a daily limit...; or every reservation was
 * refused) the withdrawal is not failed: it waits in pending_channel (the
 * answer is 201 with that status). A timer here claims due pending rows
 * (FOR UPDATE SKIP LOCKED with a lease, so that instances share them) and
 * routes them again with the current generation (the flow of a stored
 * order: its first attempt is an apply), until their deadline_at
 * (withdrawals.pending_deadline_seconds after creation), after which they
 * fail with NO_CHANNEL_BEFORE_DEADLINE. When candidates existed and every
 * one refused with a retryable code, the withdrawal fails with the last
 * code, like a payment (a channel that answers is not "unusable").
 *
 * The payee's account is encrypted at rest with AES-256-GCM under
 * secrets.key_file (12-byte random IV, the withdrawal's id as additional
 * data, stored as base64(iv || ciphertext || tag)); it is decrypted only to
 * build the driver's payout request, wiped after, and shown and logged
 * masked only. Without a secrets key new withdrawals are refused with 503.
 * The request hash kept for the Idempotency-Key is an HMAC under the same
 * key, so that it cannot be used to guess the account.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runtime/apiutil.h"
#include "runtime/crypto.h"
#include "orders/flow.h"
#include "orders/idem.h"
#include "runtime/log.h"
#include "orders/merchants.h"
#include "orders/orderadmin.h"
#include "orders/orders.h"
#include "domain/orderstate.h"
#include "orders/ordstore.h"
#include "orders/outbox.h"
#include "domain/router.h"
#include "domain/wdreq.h"
#include "orders/withdrawals.h"

#define ENDPOINT "/v1/withdrawals"
#define GCM_IV_LEN 12
#define CLAIM_BATCH 32
#define CLAIM_LEASE_S 60

/* ------------------------------------------------------------- options */

/* withdrawals.pending_deadline_seconds: how long a withdrawal may wait in
 * pending_channel. */
static int opt_pending_deadline_s(const struct pr_config *cfg)
{
	return cfg->wd_pending_deadline_s;
}

/* withdrawals.retry_interval_ms: how often pending withdrawals are routed
 * again. */
static int opt_retry_interval_ms(const struct pr_config *cfg)
{
	return cfg->wd_retry_interval_ms;
}

/* ------------------------------------------------------------ statuses */

/* The withdrawal state machine is pr_wd_machine (orderstate.c; migration
 * 005 has the same table, t_withdrawals checks both). */
static int wd_final(int s)
{
	return pr_state_final(&pr_wd_machine, s);
}

/* ------------------------------------------------------ the account */

/* Encrypts account under key for withdrawal id; returns the base64 text
 * (free()) or NULL. */
static char *account_seal(const unsigned char key[32], const char *id,
			  const char *account)
{
	unsigned char iv[GCM_IV_LEN], *ct = NULL, *all = NULL;
	size_t ct_len = 0;
	char *b64 = NULL;

	if (pr_random_bytes(iv, sizeof(iv)) < 0 ||
	    pr_aes256gcm_encrypt(key, iv, sizeof(iv), id, strlen(id), account,
				 strlen(account), &ct, &ct_len) < 0)
		goto out;
	all = malloc(sizeof(iv) + ct_len);
	if (!all)
		goto out;
	memcpy(all, iv, sizeof(iv));
	memcpy(all + sizeof(iv), ct, ct_len);
	b64 = pr_base64_encode(all, sizeof(iv) + ct_len);
out:
	free(ct);
	free(all);
	return b64;
}

/* Decrypts a stored account into out. Returns 0 or a negative errno. */
static int account_open(const unsigned char key[32], const char *id,
			const char *b64, char *out, size_t len)
{
	unsigned char *all = NULL, *pt = NULL;
	size_t all_len = 0, pt_len = 0;
	int rc;

	rc = pr_base64_decode(b64, &all, &all_len);
	if (rc < 0)
		goto out;
	if (all_len <= GCM_IV_LEN) {
		rc = -EINVAL;
		goto out;
	}
	rc = pr_aes256gcm_decrypt(key, all, GCM_IV_LEN, id, strlen(id),
				  all + GCM_IV_LEN, all_len - GCM_IV_LEN, &pt,
				  &pt_len);
	if (rc < 0)
		goto out;
	if (pt_len >= len || memchr(pt, '\0', pt_len)) {
		rc = -EINVAL;
		goto out;
	}
	memcpy(out, pt, pt_len);
	out[pt_len] = '\0';
out:
	if (pt)
		explicit_bzero(pt, pt_len);
	free(pt);
	free(all);
	return rc;
}

/* ------------------------------------------------------------ the row */

struct wd_row {
	struct pr_order_common c;
	char kind[16];
	char enc[512];
	char mask[80];
	char name[129];
	char bank_code[17];
	char method[33];
	char client_ip[64];
	int64_t deadline_ms;
};

#define WD_COLS                                                                \
	PR_ORDER_COLS("merchant_withdrawal_no")                                \
	", x.payee_kind, x.payee_account_enc, x.payee_account_mask, "          \
	"coalesce(x.payee_name, ''), coalesce(x.payee_bank_code, ''), "        \
	"x.method, coalesce(x.client_ip, ''), "                                \
	"(extract(epoch FROM x.deadline_at) * 1000)::bigint"
#define WD_NCOLS 8

static int wd_row_read(PGresult *res, int r, int col, int with_locale,
		       void *row)
{
	struct wd_row *w = row;
	int k = col + PR_ORDER_NCOLS;

	if (pr_order_common_read(&pr_withdrawal_kind, res, r, col, &w->c) < 0 ||
	    PQnfields(res) < k + WD_NCOLS + with_locale)
		return -EPROTO;
	pr_col_copy(w->kind, sizeof(w->kind), res, r, k + 0);
	pr_col_copy(w->enc, sizeof(w->enc), res, r, k + 1);
	pr_col_copy(w->mask, sizeof(w->mask), res, r, k + 2);
	pr_col_copy(w->name, sizeof(w->name), res, r, k + 3);
	pr_col_copy(w->bank_code, sizeof(w->bank_code), res, r, k + 4);
	pr_col_copy(w->method, sizeof(w->method), res, r, k + 5);
	pr_col_copy(w->client_ip, sizeof(w->client_ip), res, r, k + 6);
	w->deadline_ms = pr_col_i64(res, r, k + 7);
	if (with_locale)
		pr_col_copy(w->c.locale, sizeof(w->c.locale), res, r,
			    k + WD_NCOLS);
	return 0;
}

static void wd_row_clear(void *row)
{
	(void)row;
}

/* The merchant JSON of a withdrawal (doc/design.md §9): the answer of the
 * merchant API and the body of its notifications. The payee's account
 * appears masked only. */
static json_t *wd_render(const void *row, const char *locale)
{
	const struct wd_row *w = row;
	const struct pr_order_common *c = &w->c;
	json_t *o = json_object(), *payee = json_object();

	if (!o || !payee) {
		json_decref(o);
		json_decref(payee);
		return NULL;
	}
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "merchant_withdrawal_no",
			    json_string(c->merchant_no));
	json_object_set_new(
		o, "status",
		json_string(c->status == PR_WD_CREATED ?
				    "processing" :
				    pr_state_name(&pr_wd_machine, c->status)));
	pr_json_put_str(o, "channel", c->channel);
	json_object_set_new(o, "amount", json_integer(c->amount));
	json_object_set_new(o, "currency", json_string(c->currency));
	json_object_set_new(payee, "kind", json_string(w->kind));
	json_object_set_new(payee, "account", json_string(w->mask));
	pr_json_put_str(payee, "name", w->name);
	pr_json_put_str(payee, "bank_code", w->bank_code);
	json_object_set_new(o, "payee", payee);
	pr_json_put_code(o, c->code, c->message_en, c->message_zh,
			 locale && locale[0] ? locale : c->locale);
	pr_json_put_str(o, "channel_trade_no", c->channel_trade_no);
	if (c->status == PR_WD_PENDING_CHANNEL)
		json_object_set_new(o, "deadline_at",
				    pr_json_time(w->deadline_ms));
	json_object_set_new(o, "created_at", pr_json_time(c->created_ms));
	if (c->finished_ms > 0)
		json_object_set_new(o, "finished_at",
				    pr_json_time(c->finished_ms));
	return o;
}

/* The kind's own SET items of a change (PR_APPLY_SQL's EXTRA, $21 the
 * retry delay of pending_channel). */
#define WD_APPLY_EXTRA                                                         \
	"next_route_at = CASE WHEN $3::text = 'pending_channel' THEN "         \
	"now() + make_interval(secs => $21::int) END, "                        \
	"route_claimed_by = NULL, "

const struct pr_order_kind pr_withdrawal_kind = {
	.name = "withdrawal",
	.machine = &pr_wd_machine,
	.st_processing = PR_WD_PROCESSING,
	.st_unknown = PR_WD_UNKNOWN,
	.st_succeeded = PR_WD_SUCCEEDED,
	.st_failed = PR_WD_FAILED,
	.apply_sql = PR_APPLY_SQL(
		"withdrawals", "withdrawal", "'succeeded', 'failed'",
		"'processing', 'unknown'", "'failed'", WD_APPLY_EXTRA, WD_COLS),
	.apply_lean_sql = PR_APPLY_LEAN_SQL("withdrawals", "withdrawal",
					    "'succeeded', 'failed'", "'failed'",
					    WD_APPLY_EXTRA, WD_COLS),
	.apply_answer_sql = PR_APPLY_ANSWER_SQL(
		"withdrawals", "withdrawal", "'succeeded', 'failed'",
		"'failed'", WD_APPLY_EXTRA, WD_COLS),
	.apply_fast_sql = PR_APPLY_FAST_SQL("withdrawals", WD_APPLY_EXTRA),
	.apply_final_sql = PR_APPLY_FINAL_SQL(
		"withdrawals", "withdrawal", "'succeeded', 'failed'",
		"'failed'", WD_APPLY_EXTRA, WD_COLS),
	.apply_extra = PR_EXTRA_RETRY,
	.table = "withdrawals",
	.cols = WD_COLS,
	.load_sql = "SELECT " WD_COLS ", m.locale "
		    "FROM withdrawals x JOIN merchants m "
		    "ON m.id = x.merchant_id WHERE x.id = $1 AND "
		    "($2::text IS NULL OR x.merchant_id = $2)",
	.row_size = sizeof(struct wd_row),
	.row_read = wd_row_read,
	.row_clear = wd_row_clear,
	.render = wd_render,
};

/* Fills o for a payout or payout_query of withdrawal w over channel spec
 * c. account may be NULL (queries). Strings point into the arguments. */
static void wd_order(struct payroute_order *o, const struct pr_config *cfg,
		     const struct pr_chan_spec *c, const struct wd_row *w,
		     const char *account, char *notify_buf, size_t notify_len)
{
	const struct pr_bank_map *bm = NULL;

	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->order_id = w->c.id;
	o->payout_id = w->c.id;
	o->channel_trade_no = w->c.channel_trade_no[0] ? w->c.channel_trade_no :
							 NULL;
	o->amount = w->c.amount;
	snprintf(o->currency, sizeof(o->currency), "%s", w->c.currency);
	o->method = w->method;
	if (w->bank_code[0] && c)
		bm = pr_chan_bank(c, w->bank_code);
	o->payee_bank_code = bm		     ? bm->channel_bank_code :
			     w->bank_code[0] ? w->bank_code :
					       NULL;
	o->bank_code = o->payee_bank_code;
	o->payee_kind = w->kind;
	o->payee_account = account && account[0] ? account : NULL;
	o->payee_name = w->name[0] ? w->name : NULL;
	o->notify_url =
		pr_notify_url(cfg, c ? c->code : "", notify_buf, notify_len);
	o->created_at_ms = w->c.created_ms;
}

/* ------------------------------------------------------- one withdrawal */

struct pr_withdrawals {
	struct pr_daemon *d;
	struct event *timer;
	int claiming;
	int dead;
	size_t in_flight;
	unsigned long routed, expired, still_pending;
};

struct wd {
	struct pr_flow f;	      /* first: the cascade's state */
	struct pr_request *r;	      /* NULL: a re-routing by the timer */
	struct pr_withdrawals *owner; /* the timer's flows */
	struct pr_daemon *d;
	struct pr_generation *gen; /* r->gen, or referenced (timer) */
	char merchant[65];
	char locale[8];
	struct pr_wdreq req;
	char card_hmac[65];
	char req_hash[65];
	struct wd_row row; /* the order (f.row) */
};

static void wd_free(struct wd *w)
{
	struct pr_withdrawals *o = w->owner;

	explicit_bzero(&w->req, sizeof(w->req));
	pr_flow_clear(&w->f);
	if (o) {
		pr_gen_unref(w->gen);
		o->in_flight--;
		if (o->dead && o->in_flight == 0 && !o->claiming)
			free(o);
	}
	free(w);
}

static void wd_route_req(struct pr_flow *f, struct pr_route_req *rq)
{
	struct wd *w = (struct wd *)f;

	rq->method = w->row.method;
	rq->bank_code = w->row.bank_code[0] ? w->row.bank_code : NULL;
	rq->card_hmac = w->card_hmac[0] ? w->card_hmac : NULL;
}

static void wd_flow_order(struct pr_flow *f, const struct pr_chan_spec *c)
{
	struct wd *w = (struct wd *)f;

	wd_order(&f->order, w->gen->config, c, &w->row, w->req.account,
		 f->notify_buf, sizeof(f->notify_buf));
	pr_info("withdrawal %s: paying %lld %s to %s %s over %s", w->row.c.id,
		(long long)w->row.c.amount, w->row.c.currency, w->row.kind,
		w->row.mask, c->code);
}

static int wd_begin(struct pr_flow *f, const struct pr_flow_begin *b,
		    pr_db_cb cb, void *arg)
{
	static const struct pr_flow_begin_sqls sqls = PR_BEGIN_SQLS(
		"withdrawals", "withdrawal", "merchant_withdrawal_no",
		", amount, currency, payee_kind, payee_account_enc, "
		"payee_account_mask, payee_name, payee_bank_code, method, "
		"notify_url, client_ip, deadline_at, next_route_at",
		", $21::bigint, $22::text, $23::text, $24::text, $25::text, "
		"$26::text, $27::text, $28::text, $29::text, $30::text, "
		"pr_ms_time($6::bigint) + make_interval(secs => $31::int), "
		"CASE WHEN $7::text = 'pending_channel' THEN now() + "
		"make_interval(secs => $32::int) END");
	struct wd *w = (struct wd *)f;
	char amount[24], deadline[16];
	const char *params[PR_BEGIN_NPARAMS + 12];

	snprintf(amount, sizeof(amount), "%lld", (long long)w->row.c.amount);
	snprintf(deadline, sizeof(deadline), "%d",
		 opt_pending_deadline_s(w->gen->config));
	pr_flow_begin_params(f, b, w->req_hash, params);
#define OPT(s) ((s)[0] ? (s) : NULL)
	params[20] = amount;
	params[21] = w->row.c.currency;
	params[22] = w->row.kind;
	params[23] = w->row.enc;
	params[24] = w->row.mask;
	params[25] = OPT(w->row.name);
	params[26] = OPT(w->row.bank_code);
	params[27] = w->row.method;
	params[28] = OPT(w->row.c.notify_url);
	params[29] = OPT(w->row.client_ip);
	params[30] = deadline;
	params[31] = b->retry_s;
#undef OPT
	return pr_flow_begin_send(w->d->db, &sqls, b, PR_BEGIN_NPARAMS + 12,
				  params, cb, arg);
}

static void wd_end(struct pr_flow *f, int status, json_t *body)
{
	struct wd *w = (struct wd *)f;

	if (w->r && status)
		pr_request_reply(w->r, status, body);
	else
		json_decref(body);
	wd_free(w);
}

static void on_bumped(PGresult *res, const char *err, void *arg)
{
	struct wd *w = arg;

	if (!res)
		pr_warn("withdrawal %s: rescheduling its routing failed: %s "
			"(it comes due when the claim's lease ends)",
			w->row.c.id, err);
	wd_free(w);
}

/* Routed again and still no usable channel: only the next time changes
 * (no event), with the new route trace. */
static void wd_requeue(struct pr_flow *f)
{
	static const char bump_sql[] =
		"UPDATE withdrawals SET next_route_at = now() + "
		"make_interval(secs => $2::int), route_claimed_by = NULL, "
		"trace = $3::jsonb WHERE id = $1 AND status = 'pending_channel'";
	struct wd *w = (struct wd *)f;
	int retry_s = (opt_retry_interval_ms(w->gen->config) + 999) / 1000;
	char s_retry[16], *trace;
	const char *p[3];
	int rc;

	w->owner->still_pending++;
	snprintf(s_retry, sizeof(s_retry), "%d", retry_s);
	trace = f->trace ? json_dumps(f->trace, JSON_COMPACT) : NULL;
	p[0] = w->row.c.id;
	p[1] = s_retry;
	p[2] = trace;
	rc = pr_db_query(w->d->db, bump_sql, 3, p, on_bumped, w);
	free(trace);
	if (rc < 0)
		wd_free(w);
}

/* A new withdrawal no candidate could take: when no channel of this
 * generation's catalogue takes withdrawals by the payee kind's method in
 * its currency, whatever its status, windows and limits, none will until
 * an operator changes the catalogue: it fails now with
 * PAYEE_NOT_SUPPORTED rather than waiting for its deadline. One that some
 * channel could serve waits (pending_channel). A withdrawal already
 * waiting keeps waiting when the catalogue changes under it (an operator
 * may be replacing a channel): only its deadline ends it. */
static const struct pr_code *wd_unservable(struct pr_flow *f)
{
	struct wd *w = (struct wd *)f;

	if (pr_catalogue_can_serve(&w->gen->cat, PR_BIZ_WITHDRAW, w->row.method,
				   w->row.c.currency))
		return NULL;
	pr_info("withdrawal %s: no channel pays out to %s in %s: failed with "
		"PAYEE_NOT_SUPPORTED",
		w->row.c.id, w->row.kind, w->row.c.currency);
	return pr_code_core("PAYEE_NOT_SUPPORTED");
}

static const struct pr_flow_ops wd_ops = {
	.kind = &pr_withdrawal_kind,
	.business = PR_BIZ_WITHDRAW,
	.op = PR_OP_PAYOUT,
	.to_status = {
		[PAYROUTE_EFFECT_SUCCESS] = PR_WD_SUCCEEDED,
		[PAYROUTE_EFFECT_FAILED] = PR_WD_FAILED,
		[PAYROUTE_EFFECT_PROCESSING] = PR_WD_PROCESSING,
		[PAYROUTE_EFFECT_UNKNOWN] = PR_WD_UNKNOWN,
		[PAYROUTE_EFFECT_CLOSED] = PR_WD_FAILED,
	},
	.no_channel_status = PR_WD_PENDING_CHANNEL,
	.dup_message = "merchant_withdrawal_no is already used by another "
		       "withdrawal",
	.dup_field = "withdrawal_id",
	.requeue = wd_requeue,
	.unservable = wd_unservable,
	.route_req = wd_route_req,
	.order = wd_flow_order,
	.begin = wd_begin,
	.end = wd_end,
};

/* HMAC of a card for whitelist matching (as payments compute it). */
static void card_hmac(struct wd *w)
{
	const struct pr_config *cfg = w->gen->config;
	unsigned char mac[32];
	char *hex;

	if (strcmp(w->req.kind, "bank_card") != 0 || !cfg->has_secret_key)
		return;
	if (pr_hmac_sha256(cfg->secret_key, sizeof(cfg->secret_key),
			   w->req.account, strlen(w->req.account), mac) == 0 &&
	    (hex = pr_hex_encode(mac, sizeof(mac)))) {
		snprintf(w->card_hmac, sizeof(w->card_hmac), "%s", hex);
		free(hex);
	}
}

/* Points the flow at w's row and the request's time. */
static void flow_setup(struct wd *w)
{
	w->f.ops = &wd_ops;
	w->f.r = w->r;
	w->f.d = w->d;
	w->f.gen = w->gen;
	w->f.row = &w->row.c;
	w->f.bank_code = w->row.bank_code;
	w->f.now_ms = pr_now_ms();
	snprintf(w->f.locale, sizeof(w->f.locale), "%s", w->locale);
}

/* ------------------------------------------------------- the merchant API */

static void reply_field(struct pr_request *r, const char *field,
			const char *msg)
{
	pr_request_reply(r, 400,
			 json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				   "invalid_field", "message", msg, "field",
				   field));
}

static void reply_store_down(struct pr_request *r, const char *what)
{
	pr_api_reply_err(r, 503, "store_unavailable", NULL,
			 "the store is unavailable (%s); retry later", what);
}

static void wd_fail_now(struct wd *w, int status, const char *code,
			const char *msg)
{
	pr_api_reply_err(w->r, status, code, NULL, "%s", msg);
	wd_free(w);
}

static void create_withdrawal(struct wd *w)
{
	const struct pr_config *cfg = w->gen->config;
	struct wd_row *row = &w->row;
	char field[96], err[512];
	unsigned char mac[32];
	char *canon = NULL, *hex = NULL, *sealed;
	json_t *body;

	if (!cfg->has_secret_key) {
		wd_fail_now(w, 503, "withdrawals_unavailable",
			    "withdrawals need an encryption key for payee "
			    "accounts: set secrets.key_file in the daemon's "
			    "config");
		return;
	}
	body = pr_api_read_body(w->r);
	if (!body) {
		wd_free(w);
		return;
	}
	if (pr_wdreq_parse(body, &w->req, field, sizeof(field), err,
			   sizeof(err)) < 0) {
		json_decref(body);
		reply_field(w->r, field, err);
		wd_free(w);
		return;
	}
	if (w->req.notify_url[0] &&
	    pr_outbox_url_check(cfg, w->req.notify_url, err, sizeof(err))) {
		char msg[600];

		json_decref(body);
		snprintf(msg, sizeof(msg), "notify_url: %s", err);
		reply_field(w->r, "notify_url", msg);
		wd_free(w);
		return;
	}
	canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	if (canon && pr_hmac_sha256(cfg->secret_key, sizeof(cfg->secret_key),
				    canon, strlen(canon), mac) == 0)
		hex = pr_hex_encode(mac, sizeof(mac));
	if (canon) {
		explicit_bzero(canon, strlen(canon)); /* holds the account */
		free(canon);
	}
	if (!hex) {
		wd_fail_now(w, 500, "internal", "out of memory");
		return;
	}
	snprintf(w->req_hash, sizeof(w->req_hash), "%s", hex);
	free(hex);
	card_hmac(w);
	flow_setup(w);
	if (pr_idem_read(w->r, w->merchant, ENDPOINT, w->req_hash, &w->f.idem) <
	    0) {
		wd_free(w);
		return;
	}
	pr_order_new_id('W', w->f.now_ms, row->c.id);
	sealed = account_seal(cfg->secret_key, row->c.id, w->req.account);
	if (!sealed || strlen(sealed) >= sizeof(row->enc)) {
		free(sealed);
		wd_fail_now(w, 500, "internal",
			    "the payee account could not be encrypted");
		return;
	}
	snprintf(row->enc, sizeof(row->enc), "%s", sealed);
	free(sealed);
	snprintf(row->c.merchant_id, sizeof(row->c.merchant_id), "%s",
		 w->merchant);
	snprintf(row->c.merchant_no, sizeof(row->c.merchant_no), "%s",
		 w->req.no);
	row->c.status = PR_WD_PROCESSING;
	row->c.amount = w->req.amount;
	snprintf(row->c.currency, sizeof(row->c.currency), "%s",
		 w->req.currency);
	row->c.created_ms = w->f.now_ms;
	snprintf(row->c.notify_url, sizeof(row->c.notify_url), "%s",
		 w->req.notify_url);
	snprintf(row->c.locale, sizeof(row->c.locale), "%s", w->locale);
	snprintf(row->kind, sizeof(row->kind), "%s", w->req.kind);
	pr_wd_mask_account(w->req.kind, w->req.account, row->mask,
			   sizeof(row->mask));
	snprintf(row->name, sizeof(row->name), "%s", w->req.name);
	snprintf(row->bank_code, sizeof(row->bank_code), "%s",
		 w->req.bank_code);
	snprintf(row->method, sizeof(row->method), "%s",
		 pr_wd_method(w->req.kind));
	{
		char *ip = NULL;

		evhttp_connection_get_peer(
			evhttp_request_get_connection(w->r->req), &ip,
			&(ev_uint16_t){ 0 });
		snprintf(row->client_ip, sizeof(row->client_ip), "%s",
			 ip ? ip : "");
	}
	row->deadline_ms = w->f.now_ms + 1000LL * opt_pending_deadline_s(cfg);
	pr_flow_start(&w->f);
}

static void on_got(void *row, const char *err, void *arg)
{
	struct wd *w = arg;
	json_t *j;

	if (err) {
		reply_store_down(w->r, "reading the withdrawal");
	} else if (!row) {
		pr_api_reply_err(w->r, 404, "not_found", NULL,
				 "no such withdrawal");
	} else if (!(j = wd_render(row, w->locale))) {
		pr_api_reply_err(w->r, 500, "internal", NULL, "out of memory");
	} else {
		pr_request_reply(w->r, 200, j);
	}
	wd_free(w);
}

static const char by_no_sql[] =
	"SELECT " WD_COLS ", m.locale "
	"FROM withdrawals x JOIN merchants m ON m.id = x.merchant_id "
	"WHERE x.merchant_id = $1 AND x.merchant_withdrawal_no = $2";

enum action { A_CREATE, A_GET, A_LIST };

struct authed {
	struct wd *w;
	enum action action;
	char id[64];
	char no[128];
};

/* Frees a request refused at authentication. */
static void authed_drop(void *arg)
{
	struct authed *a = arg;

	wd_free(a->w);
	free(a);
}

static void on_auth(const struct pr_merchant *m, void *arg)
{
	struct authed *a = arg;
	struct wd *w = a->w;
	int rc = 0;

	snprintf(w->merchant, sizeof(w->merchant), "%s", m->id);
	snprintf(w->locale, sizeof(w->locale), "%s", m->locale);
	switch (a->action) {
	case A_CREATE:
		create_withdrawal(w);
		break;
	case A_GET:
		rc = pr_order_load(w->d, &pr_withdrawal_kind, a->id,
				   w->merchant, on_got, w);
		break;
	case A_LIST:
		rc = pr_order_load_sql(w->d, &pr_withdrawal_kind, by_no_sql, 2,
				       (const char *[]){ w->merchant, a->no },
				       on_got, w);
		break;
	}
	if (rc < 0) {
		reply_store_down(w->r, "reading the withdrawal");
		wd_free(w);
	}
	free(a);
}

static int id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 32 || s[0] != 'W')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s))
			return 0;
	return 1;
}

/* Starts action for r: its state, then the merchant's authentication;
 * on_auth goes on. id and no as the action needs them, else NULL. */
static void begin(struct pr_request *r, enum action action, const char *id,
		  const char *no)
{
	struct authed *a = calloc(1, sizeof(*a));
	struct wd *w = calloc(1, sizeof(*w));

	if (!a || !w) {
		free(a);
		free(w);
		pr_api_reply_err(r, 500, "internal", NULL, "out of memory");
		return;
	}
	w->r = r;
	w->d = r->d;
	w->gen = r->gen;
	a->w = w;
	a->action = action;
	snprintf(a->id, sizeof(a->id), "%s", id ? id : "");
	snprintf(a->no, sizeof(a->no), "%s", no ? no : "");
	pr_merchant_request(r, on_auth, authed_drop, a);
}

/* POST /v1/withdrawals */
void pr_withdrawals_create(struct pr_request *r, const struct pr_route_match *m)
{
	begin(r, A_CREATE, NULL, NULL);
}

/* GET /v1/withdrawals?merchant_withdrawal_no=NO */
void pr_withdrawals_find(struct pr_request *r, const struct pr_route_match *m)
{
	char no[sizeof(((struct authed *)NULL)->no)];

	if (pr_api_query_param(r, "merchant_withdrawal_no", no, sizeof(no)) < 0)
		reply_field(r, "merchant_withdrawal_no",
			    "merchant_withdrawal_no: required query parameter "
			    "(GET /v1/withdrawals?merchant_withdrawal_no=...)");
	else
		begin(r, A_LIST, NULL, no);
}

/* GET /v1/withdrawals/{id} */
void pr_withdrawals_get(struct pr_request *r, const struct pr_route_match *m)
{
	const char *id = pr_route_param(m, "id");

	if (!id_ok(id)) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such withdrawal");
		return;
	}
	begin(r, A_GET, id, NULL);
}

/* -------------------------------------------- re-routing pending ones */

static void on_tick(evutil_socket_t fd, short what, void *arg);

static void arm(struct pr_withdrawals *o)
{
	int ms = opt_retry_interval_ms(o->d->gen->config);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(o->timer, &tv);
}

static struct wd *timer_flow(struct pr_withdrawals *o, const char *id)
{
	struct wd *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->owner = o;
	w->d = o->d;
	w->gen = pr_gen_ref(o->d->gen);
	snprintf(w->row.c.id, sizeof(w->row.c.id), "%s", id);
	o->in_flight++;
	flow_setup(w);
	return w;
}

static void on_expired(int rc, enum pr_apply_result result, int from, void *row,
		       const char *err, void *arg)
{
	struct wd *w = arg;

	(void)from;
	(void)row;
	if (rc < 0)
		pr_warn("withdrawal %s: failing it at its deadline failed: %s",
			w->row.c.id, err ? err : "?");
	else if (result == PR_APPLY_CHANGED)
		pr_info("withdrawal %s: failed at its deadline", w->row.c.id);
	wd_free(w);
}

static void expire(struct wd *w)
{
	struct pr_order_update u = { 0 };

	u.id = w->row.c.id;
	u.from = PR_FROM(PR_WD_CREATED) | PR_FROM(PR_WD_PENDING_CHANNEL);
	u.to = PR_WD_FAILED;
	u.event = "deadline";
	u.code = pr_code_core("NO_CHANNEL_BEFORE_DEADLINE");
	if (pr_order_apply(w->d, &pr_withdrawal_kind, &u, on_expired, w) < 0)
		wd_free(w);
}

static void on_pending_loaded(void *row, const char *err, void *arg)
{
	struct wd *w = arg;
	struct wd_row *p = row;
	const struct pr_config *cfg = w->gen->config;

	if (err || !p || p->c.status != PR_WD_PENDING_CHANNEL) {
		if (err)
			pr_warn("withdrawal %s: loading it to route it again "
				"failed: %s",
				w->row.c.id, err);
		wd_free(w);
		return;
	}
	w->row = *p;
	snprintf(w->merchant, sizeof(w->merchant), "%s", p->c.merchant_id);
	snprintf(w->locale, sizeof(w->locale), "%s", p->c.locale);
	snprintf(w->f.locale, sizeof(w->f.locale), "%s", p->c.locale);
	w->f.stored = 1;
	w->f.stored_from = PR_FROM(PR_WD_CREATED) |
			   PR_FROM(PR_WD_PENDING_CHANNEL);
	if (!cfg->has_secret_key ||
	    account_open(cfg->secret_key, w->row.c.id, w->row.enc,
			 w->req.account, sizeof(w->req.account)) < 0) {
		pr_err("withdrawal %s: the payee account cannot be decrypted "
		       "(%s): it stays pending until its deadline",
		       w->row.c.id,
		       cfg->has_secret_key ? "was secrets.key_file changed?" :
					     "no secrets.key_file");
		wd_requeue(&w->f);
		return;
	}
	snprintf(w->req.kind, sizeof(w->req.kind), "%s", w->row.kind);
	card_hmac(w);
	w->owner->routed++;
	pr_flow_start(&w->f);
}

static void on_claimed(PGresult *res, const char *err, void *arg)
{
	struct pr_withdrawals *o = arg;
	int n;

	o->claiming = 0;
	if (o->dead) {
		if (o->in_flight == 0)
			free(o);
		return;
	}
	if (!res) {
		pr_warn("withdrawals: claiming pending withdrawals failed: %s",
			err);
		return;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct wd *w = timer_flow(o, PQgetvalue(res, i, 0));

		if (!w)
			break;
		if (PQgetvalue(res, i, 1)[0] == 't') {
			o->expired++;
			pr_warn("withdrawal %s: no channel could take it "
				"before its deadline: failed",
				w->row.c.id);
			expire(w);
			continue;
		}
		if (pr_order_load(o->d, &pr_withdrawal_kind, w->row.c.id, NULL,
				  on_pending_loaded, w) < 0)
			wd_free(w);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pr_withdrawals *o = arg;
	const struct pr_config *cfg = o->d->gen->config;
	char batch[16], lease[16];
	const char *p[3];

	(void)fd;
	(void)what;
	arm(o);
	if (!pr_db_ready(o->d->db) || o->d->stopping || o->claiming ||
	    o->in_flight > 0 || !o->d->gen->channels_from_store)
		return;
	snprintf(batch, sizeof(batch), "%d", CLAIM_BATCH);
	snprintf(lease, sizeof(lease), "%d", CLAIM_LEASE_S);
	p[0] = cfg->instance;
	p[1] = batch;
	p[2] = lease;
	if (pr_db_query(o->d->db,
			"SELECT r_id, r_expired "
			"FROM pr_withdrawals_claim($1, $2::int, $3::int)",
			3, p, on_claimed, o) == 0)
		o->claiming = 1;
}

struct pr_withdrawals *pr_withdrawals_new(struct pr_daemon *d)
{
	struct pr_withdrawals *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->d = d;
	o->timer = evtimer_new(d->base, on_tick, o);
	if (!o->timer) {
		free(o);
		return NULL;
	}
	arm(o);
	return o;
}

void pr_withdrawals_free(struct pr_withdrawals *o)
{
	if (!o)
		return;
	event_free(o->timer);
	o->timer = NULL;
	if (o->in_flight > 0 || o->claiming) {
		o->dead = 1;
		return;
	}
	free(o);
}

/* ------------------------------------------------ the completion check */

struct wd_check {
	struct pr_check *k;
	struct wd_row row;
	const struct pr_channel *ch;
	const struct pr_chan_spec *spec;
	struct payroute_order order;
	char notify_buf[512];
};

static void check_end(struct wd_check *wc, int final, int keep_going,
		      const char *result)
{
	struct pr_check *k = wc->k;
	struct pr_check_end e = { 0 };

	e.final = final;
	e.keep_going = keep_going;
	e.result = result;
	free(wc);
	pr_check_done(k, &e);
}

static void on_check_applied(int rc, enum pr_apply_result result, int from,
			     void *row, const char *err, void *arg)
{
	struct wd_check *wc = arg;
	struct wd_row *w = row;
	char text[128];

	if (rc < 0) {
		snprintf(text, sizeof(text), "store error: %s",
			 err ? err : "?");
		check_end(wc, 0, 1, text);
		return;
	}
	if (result == PR_APPLY_CHANGED)
		pr_info("completion: withdrawal %s: %s -> %s (%s)", w->c.id,
			pr_state_name(&pr_wd_machine, from),
			pr_state_name(&pr_wd_machine, w->c.status), w->c.code);
	snprintf(text, sizeof(text), "%s", w->c.code);
	check_end(wc, wd_final(w->c.status), w->c.status == PR_WD_PROCESSING,
		  text);
}

static void check_apply(struct wd_check *wc, struct pr_call *cl, int to,
			const struct pr_code *code)
{
	struct pr_order_update u = { 0 };
	json_t *detail = json_pack("{s:s,s:s}", "channel", wc->row.c.channel,
				   "code", code->unified);

	if (cl && cl->end == PR_CALL_ANSWER) {
		json_object_set_new(detail, "channel_code",
				    json_string(cl->res.code));
		json_object_set_new(detail, "channel_sub_code",
				    json_string(cl->res.sub_code));
	}
	u.id = wc->row.c.id;
	u.from = PR_FROM(PR_WD_PROCESSING) | PR_FROM(PR_WD_UNKNOWN);
	u.to = to;
	u.event = "check";
	u.detail = detail;
	u.code = code;
	u.res = cl && cl->end == PR_CALL_ANSWER ? &cl->res : NULL;
	u.check_s = 1;
	if (pr_order_apply(wc->k->d, &pr_withdrawal_kind, &u, on_check_applied,
			   wc) < 0)
		check_end(wc, 0, 1, "store unavailable");
	json_decref(detail);
}

static void on_payout_query(struct pr_call *cl, void *arg)
{
	struct wd_check *wc = arg;
	const struct pr_code *code = cl->code;
	char text[300];

	if (cl->end != PR_CALL_ANSWER) {
		snprintf(text, sizeof(text), "%s: %s", code->unified,
			 cl->detail);
		check_end(wc, 0, wc->row.c.status == PR_WD_PROCESSING, text);
		return;
	}
	switch (code->effect) {
	case PAYROUTE_EFFECT_SUCCESS:
		if (cl->res.amount >= 0 && cl->res.amount != wc->row.c.amount) {
			pr_err("completion: withdrawal %s: channel %s reports "
			       "amount %lld, the order is %lld: left unknown "
			       "for an operator",
			       wc->row.c.id, wc->row.c.channel,
			       (long long)cl->res.amount,
			       (long long)wc->row.c.amount);
			check_apply(wc, cl, PR_WD_UNKNOWN,
				    pr_code_core("AMOUNT_MISMATCH"));
			return;
		}
		check_apply(wc, cl, PR_WD_SUCCEEDED, code);
		return;
	case PAYROUTE_EFFECT_FAILED:
	case PAYROUTE_EFFECT_CLOSED:
		check_apply(wc, cl, PR_WD_FAILED, code);
		return;
	case PAYROUTE_EFFECT_PROCESSING:
		if (wc->row.c.status == PR_WD_UNKNOWN) {
			check_apply(wc, cl, PR_WD_PROCESSING, code);
			return;
		}
		check_end(wc, 0, 1, code->unified);
		return;
	case PAYROUTE_EFFECT_UNKNOWN:
	default:
		snprintf(text, sizeof(text), "%s%s%s", code->unified,
			 cl->unmapped ? ": " : "",
			 cl->unmapped ? cl->detail : "");
		check_end(wc, 0, 0, text);
		return;
	}
}

static void on_check_loaded(void *row, const char *err, void *arg)
{
	struct wd_check *wc = arg;
	struct pr_check *k = wc->k;
	struct wd_row *w = row;
	char text[200];
	long ci;

	if (err) {
		check_end(wc, 0, 1, "store error");
		return;
	}
	if (!w || wd_final(w->c.status) || w->c.status == PR_WD_CREATED ||
	    w->c.status == PR_WD_PENDING_CHANNEL) {
		pr_check_settled(k);
		check_end(wc, 1, 0, "settled");
		return;
	}
	wc->row = *w;
	wc->ch = pr_gen_channel(k->gen, wc->row.c.channel);
	ci = pr_catalogue_find(&k->gen->cat, wc->row.c.channel);
	wc->spec = ci >= 0 ? &k->gen->cat.chans[ci] : NULL;
	if (!wc->ch) {
		snprintf(text, sizeof(text), "channel %s is not configured",
			 wc->row.c.channel);
		check_end(wc, 0, 0, text);
		return;
	}
	wd_order(&wc->order, k->gen->config, wc->spec, &wc->row, NULL,
		 wc->notify_buf, sizeof(wc->notify_buf));
	if (pr_chan_call(k->d, k->gen, wc->ch, PR_OP_PAYOUT_QUERY, &wc->order,
			 on_payout_query, wc) < 0)
		check_end(wc, 0, 1, "out of memory");
}

static void check_withdrawal(struct pr_check *k)
{
	struct wd_check *wc = calloc(1, sizeof(*wc));
	struct pr_check_end e = { 0 };

	if (!wc) {
		e.result = "out of memory";
		pr_check_done(k, &e);
		return;
	}
	wc->k = k;
	if (pr_check_load(k, on_check_loaded, wc) < 0) {
		free(wc);
		e.result = "store unavailable";
		e.keep_going = 1;
		pr_check_done(k, &e);
	}
}

const struct pr_check_kind pr_withdrawal_check = { "withdrawal",
						   check_withdrawal,
						   &pr_withdrawal_kind };

/* ------------------------------------------------------------ callbacks */

static void on_check_now(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("withdrawals: could not bring a check forward: %s",
			err);
}

int pr_withdrawal_callback(struct pr_daemon *d, struct pr_generation *gen,
			   const struct pr_channel *ch,
			   const struct payroute_notify *nt,
			   void (*done)(int ok, void *arg), void *arg)
{
	static const char now_sql[] =
		"UPDATE order_checks SET next_at = now() "
		"WHERE kind = 'withdrawal' AND order_id = $1 AND NOT attention";
	const struct pr_code *code;
	const char *params[1] = { nt->order_id };

	if (!id_ok(nt->order_id)) {
		pr_warn("callback from %s: payout %.64s is not a withdrawal of "
			"ours",
			ch->code, nt->order_id);
		return -ENOENT;
	}
	code = pr_order_notify_code(d, gen, ch, nt);
	if (code->effect == PAYROUTE_EFFECT_UNKNOWN ||
	    code->effect == PAYROUTE_EFFECT_PROCESSING) {
		/* Says nothing final (e.g. a WeChat batch FINISHED): ask the
		 * channel now. */
		pr_info("callback from %s: withdrawal %s: %s/%s: checking "
			"with the channel",
			ch->code, nt->order_id, nt->code, nt->sub_code);
		if (pr_db_query(d->db, now_sql, 1, params, on_check_now, NULL) <
		    0)
			return -EAGAIN;
		done(1, arg);
		return 0;
	}
	return pr_order_callback(d, &pr_withdrawal_kind, ch, nt, code,
				 code->effect == PAYROUTE_EFFECT_SUCCESS ?
					 PR_WD_SUCCEEDED :
					 PR_WD_FAILED,
				 done, arg);
}

/* ------------------------------------------------------------ the admin */

static void on_admin_row(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_error_t jerr;
	json_t *j;

	if (!res) {
		pr_warn("withdrawals: reading a withdrawal failed: %s", err);
		reply_store_down(r, "reading the withdrawal");
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such withdrawal");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	if (!j) {
		pr_api_reply_err(r, 500, "internal", NULL,
				 "bad JSON from the store");
		return;
	}
	pr_request_reply(r, 200, j);
}

/* The order's history: its first event and first answer, when its row
 * says them, and its events (flow.h); its check and notifications
 * (orderadmin.h). */
#define WD_HISTORY PR_ORDER_HISTORY("withdrawal", "w")
#define WD_FOLLOW_UPS PR_ORDER_FOLLOW_UPS("withdrawal", "w")
static const char admin_sql[] =
	"SELECT jsonb_build_object("
	"'withdrawal', to_jsonb(w) - 'payee_account_enc' - "
	"'request_hash' - 'created_by' - 'answer_id' - 'answer_at' - "
	"'answer_by' - 'answer_to', "
	"'events', " WD_HISTORY ", " WD_FOLLOW_UPS ")::text "
	"FROM withdrawals w WHERE w.id = $1";

/* GET /admin/v1/withdrawals/{id} */
void pr_withdrawals_admin_get(struct pr_request *r,
			      const struct pr_route_match *m)
{
	const char *params[1] = { pr_route_param(m, "id") };

	if (!id_ok(params[0])) {
		pr_api_reply_err(r, 404, "not_found", NULL,
				 "no such withdrawal");
		return;
	}
	if (pr_db_query(r->d->db, admin_sql, 1, params, on_admin_row, r) < 0)
		reply_store_down(r, "reading the withdrawal");
}
