/*
 * withdrawals.c - withdrawals: the merchant API, the flow of one
 * withdrawal, the re-routing of those waiting for a channel, their
 * completion check, callbacks and admin view (DESIGN section 8; the seed's
 * section 2.3). The flow has the payments' shape (payments.c):
 *
 *   authenticate -> parse -> Idempotency-Key -> route over the channels
 *   whose business types include withdraw (router.c, PR_BIZ_WITHDRAW; the
 *   method is the payee kind's: bank_card -> bank_transfer,
 *   alipay_account -> alipay, wechat_openid -> wechat_pay) -> insert,
 *   status created, with the route trace and the payee's account encrypted
 *   -> for each ranked candidate: reserve the daily limits (refused: next)
 *   -> processing with the attempt (the completion check is queued in the
 *   same statement) -> the driver's payout call -> apply:
 *
 *     success            succeeded (the channel's amount must match)
 *     failed, retryable  give the reservation back, next candidate
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
 * routes them again with the current generation, until their deadline_at
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

#include "crypto.h"
#include "idem.h"
#include "log.h"
#include "merchants.h"
#include "orders.h"
#include "outbox.h"
#include "router.h"
#include "withdrawals.h"

#define ENDPOINT "/v1/withdrawals"
#define AMOUNT_MAX 1000000000000000LL /* 10^15 minor units */
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

/* --------------------------------------------------------- pure pieces */

enum wd_status {
	WD_CREATED = 0,
	WD_PENDING,
	WD_PROCESSING,
	WD_SUCCEEDED,
	WD_FAILED,
	WD_UNKNOWN,
	WD_N_STATUS
};

static const char *const status_names[WD_N_STATUS] = {
	"created",   "pending_channel", "processing",
	"succeeded", "failed",		"unknown",
};

#define WD_FROM(s) (1u << (s))

static const char *wd_status_name(enum wd_status s)
{
	return (unsigned)s < WD_N_STATUS ? status_names[s] : "?";
}

static int wd_status_parse(const char *s, enum wd_status *out)
{
	for (int i = 0; i < WD_N_STATUS; i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum wd_status)i;
			return 0;
		}
	return -EINVAL;
}

static int wd_final(enum wd_status s)
{
	return s == WD_SUCCEEDED || s == WD_FAILED;
}

const char *pr_wd_method(const char *kind)
{
	if (!kind)
		return NULL;
	if (strcmp(kind, "bank_card") == 0)
		return "bank_transfer";
	if (strcmp(kind, "alipay_account") == 0)
		return "alipay";
	if (strcmp(kind, "wechat_openid") == 0)
		return "wechat_pay";
	return NULL;
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

const char *pr_wd_mask_account(const char *kind, const char *account, char *out,
			       size_t len)
{
	size_t n = account ? strlen(account) : 0;
	const char *at = account ? strchr(account, '@') : NULL;

	if (!len)
		return out;
	if (n == 0) {
		snprintf(out, len, "****");
	} else if (kind && strcmp(kind, "bank_card") == 0 && n >= 9) {
		snprintf(out, len, "%.4s **** **** %s", account,
			 account + n - 4);
	} else if (kind && strcmp(kind, "alipay_account") == 0 && at &&
		   at > account) {
		snprintf(out, len, "%c***%.48s", account[0], at);
	} else if (kind && strcmp(kind, "alipay_account") == 0 && n == 11 &&
		   all_digits(account)) {
		snprintf(out, len, "%.3s****%s", account, account + 7);
	} else if (n >= 9) {
		snprintf(out, len, "%.4s****%s", account, account + n - 4);
	} else {
		snprintf(out, len, "****");
	}
	return out;
}

/* -------------------------------------------------------- the request */

struct wd_req {
	char no[65];
	int64_t amount;
	char currency[4];
	char kind[16];
	char account[129]; /* in clear: wiped when the flow ends */
	char name[129];
	char bank_code[17];
	char notify_url[513];
};

static int bad(char *field, size_t fl, char *err, size_t el, const char *name,
	       const char *msg)
{
	snprintf(field, fl, "%s", name);
	snprintf(err, el, "%s: %s", name, msg);
	return -EINVAL;
}

static int charset_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return 0;
	return 1;
}

/* A string member: 1 copied, 0 absent (or null), -EINVAL. */
static int get_str(json_t *o, const char *key, const char *name, char *buf,
		   size_t len, size_t min, char *field, size_t fl, char *err,
		   size_t el)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad(field, fl, err, el, name, "expected a string");
	s = json_string_value(v);
	n = strlen(s);
	if (n < min || n >= len || n != json_string_length(v)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%zu to %zu characters", min,
			 len - 1);
		return bad(field, fl, err, el, name, msg);
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return bad(field, fl, err, el, name,
				   "control characters are not allowed");
	memcpy(buf, s, n + 1);
	return 1;
}

static int check_keys(json_t *o, const char *const *known, const char *prefix,
		      char *field, size_t fl, char *err, size_t el)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; known[i]; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (!known[i]) {
			char name[96];

			snprintf(name, sizeof(name), "%s%.64s", prefix, k);
			return bad(field, fl, err, el, name, "unknown field");
		}
	}
	return 0;
}

/* Parses and checks a POST /v1/withdrawals body. Errors name the field. */
static int wd_parse(json_t *j, struct wd_req *q, char *field, size_t fl,
		    char *err, size_t el)
{
	static const char *const top[] = { "merchant_withdrawal_no",
					   "amount",
					   "currency",
					   "payee",
					   "notify_url",
					   NULL };
	static const char *const payee_keys[] = { "kind", "account", "name",
						  "bank_code", NULL };
	json_t *amt, *payee;
	int rc;

	memset(q, 0, sizeof(*q));
	if (!json_is_object(j))
		return bad(field, fl, err, el, "body", "expected an object");
	if (check_keys(j, top, "", field, fl, err, el) < 0)
		return -EINVAL;
	rc = get_str(j, "merchant_withdrawal_no", "merchant_withdrawal_no",
		     q->no, sizeof(q->no), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return bad(field, fl, err, el, "merchant_withdrawal_no",
			   "required");
	if (!charset_ok(q->no, "_.:-"))
		return bad(field, fl, err, el, "merchant_withdrawal_no",
			   "letters, digits and _ . : - only");
	amt = json_object_get(j, "amount");
	if (!amt)
		return bad(field, fl, err, el, "amount", "required");
	if (!json_is_integer(amt) || json_integer_value(amt) <= 0 ||
	    json_integer_value(amt) > AMOUNT_MAX)
		return bad(field, fl, err, el, "amount",
			   "a positive integer in minor units");
	q->amount = json_integer_value(amt);
	rc = get_str(j, "currency", "currency", q->currency,
		     sizeof(q->currency), 3, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0 || !isupper((unsigned char)q->currency[0]) ||
	    !isupper((unsigned char)q->currency[1]) ||
	    !isupper((unsigned char)q->currency[2]))
		return bad(field, fl, err, el, "currency",
			   "required, an ISO 4217 code such as CNY");
	rc = get_str(j, "notify_url", "notify_url", q->notify_url,
		     sizeof(q->notify_url), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc && strncmp(q->notify_url, "http://", 7) != 0 &&
	    strncmp(q->notify_url, "https://", 8) != 0)
		return bad(field, fl, err, el, "notify_url",
			   "an http:// or https:// URL");
	payee = json_object_get(j, "payee");
	if (!payee)
		return bad(field, fl, err, el, "payee", "required");
	if (!json_is_object(payee))
		return bad(field, fl, err, el, "payee", "expected an object");
	if (check_keys(payee, payee_keys, "payee.", field, fl, err, el) < 0)
		return -EINVAL;
	rc = get_str(payee, "kind", "payee.kind", q->kind, sizeof(q->kind), 1,
		     field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0 || !pr_wd_method(q->kind))
		return bad(field, fl, err, el, "payee.kind",
			   "bank_card, alipay_account or wechat_openid");
	rc = get_str(payee, "account", "payee.account", q->account,
		     sizeof(q->account), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return bad(field, fl, err, el, "payee.account", "required");
	if (strcmp(q->kind, "bank_card") == 0) {
		size_t n = strlen(q->account);

		if (!all_digits(q->account) || n < 12 || n > 32)
			return bad(field, fl, err, el, "payee.account",
				   "a bank card or account number: 12 to 32 "
				   "digits");
	} else if (strcmp(q->kind, "alipay_account") == 0) {
		size_t n = strlen(q->account);

		if (n < 3 || n > 100 || !charset_ok(q->account, "@._+-"))
			return bad(field, fl, err, el, "payee.account",
				   "an Alipay logon id (e-mail or phone "
				   "number)");
	} else if (strlen(q->account) < 8 || strlen(q->account) > 64 ||
		   !charset_ok(q->account, "_-")) {
		return bad(field, fl, err, el, "payee.account",
			   "an openid: 8 to 64 letters, digits, _ and -");
	}
	rc = get_str(payee, "name", "payee.name", q->name, sizeof(q->name), 1,
		     field, fl, err, el);
	if (rc < 0)
		return rc;
	rc = get_str(payee, "bank_code", "payee.bank_code", q->bank_code,
		     sizeof(q->bank_code), 1, field, fl, err, el);
	if (rc < 0)
		return rc;
	if (rc && !charset_ok(q->bank_code, "_"))
		return bad(field, fl, err, el, "payee.bank_code",
			   "letters, digits and _ only");
	return 0;
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

/* ------------------------------------------------------ rows in store */

struct wd_row {
	char id[33];
	char merchant_id[65];
	char no[65];
	enum wd_status status;
	char channel[65];
	int64_t amount;
	char currency[4];
	char kind[16];
	char enc[512];
	char mask[80];
	char name[129];
	char bank_code[17];
	char method[33];
	char client_ip[64];
	char channel_trade_no[PAYROUTE_ID_LEN];
	char code[65];
	int64_t created_ms;
	int64_t deadline_ms;
	int attempts;
	int64_t usage_day;
	char usage_bank[65];
	int64_t usage_amount;
	int usage_released;
	char locale[8];
	json_t *json; /* the merchant JSON (a reference) */
};

static void row_clear(struct wd_row *w)
{
	json_decref(w->json);
	w->json = NULL;
}

static void row_move(struct wd_row *dst, struct wd_row *src)
{
	*dst = *src;
	src->json = NULL;
}

#define WD_COLS                                                                \
	"w.id, w.merchant_id, w.merchant_withdrawal_no, w.status, "            \
	"coalesce(w.channel, ''), w.amount, w.currency, w.payee_kind, "        \
	"w.payee_account_enc, w.payee_account_mask, "                          \
	"coalesce(w.payee_name, ''), coalesce(w.payee_bank_code, ''), "        \
	"w.method, coalesce(w.client_ip, ''), "                                \
	"coalesce(w.channel_trade_no, ''), coalesce(w.code, ''), "             \
	"(extract(epoch FROM w.created_at) * 1000)::bigint, "                  \
	"(extract(epoch FROM w.deadline_at) * 1000)::bigint, w.attempts, "     \
	"coalesce(w.usage_day - DATE '1970-01-01', 0), "                       \
	"coalesce(w.usage_bank, ''), coalesce(w.usage_amount, 0), "            \
	"w.usage_released, m.locale, "
#define WD_NCOLS 25

static void col(char *dst, size_t len, PGresult *res, int row, int c)
{
	snprintf(dst, len, "%s", PQgetvalue(res, row, c));
}

static int row_read(PGresult *res, int r, int c, struct wd_row *w)
{
	json_error_t jerr;

	memset(w, 0, sizeof(*w));
	if (PQnfields(res) < c + WD_NCOLS)
		return -EPROTO;
	col(w->id, sizeof(w->id), res, r, c + 0);
	col(w->merchant_id, sizeof(w->merchant_id), res, r, c + 1);
	col(w->no, sizeof(w->no), res, r, c + 2);
	if (wd_status_parse(PQgetvalue(res, r, c + 3), &w->status) < 0)
		return -EPROTO;
	col(w->channel, sizeof(w->channel), res, r, c + 4);
	w->amount = strtoll(PQgetvalue(res, r, c + 5), NULL, 10);
	col(w->currency, sizeof(w->currency), res, r, c + 6);
	col(w->kind, sizeof(w->kind), res, r, c + 7);
	col(w->enc, sizeof(w->enc), res, r, c + 8);
	col(w->mask, sizeof(w->mask), res, r, c + 9);
	col(w->name, sizeof(w->name), res, r, c + 10);
	col(w->bank_code, sizeof(w->bank_code), res, r, c + 11);
	col(w->method, sizeof(w->method), res, r, c + 12);
	col(w->client_ip, sizeof(w->client_ip), res, r, c + 13);
	col(w->channel_trade_no, sizeof(w->channel_trade_no), res, r, c + 14);
	col(w->code, sizeof(w->code), res, r, c + 15);
	w->created_ms = strtoll(PQgetvalue(res, r, c + 16), NULL, 10);
	w->deadline_ms = strtoll(PQgetvalue(res, r, c + 17), NULL, 10);
	w->attempts = atoi(PQgetvalue(res, r, c + 18));
	w->usage_day = strtoll(PQgetvalue(res, r, c + 19), NULL, 10);
	col(w->usage_bank, sizeof(w->usage_bank), res, r, c + 20);
	w->usage_amount = strtoll(PQgetvalue(res, r, c + 21), NULL, 10);
	w->usage_released = PQgetvalue(res, r, c + 22)[0] == 't';
	col(w->locale, sizeof(w->locale), res, r, c + 23);
	w->json = json_loads(PQgetvalue(res, r, c + 24), 0, &jerr);
	return w->json ? 0 : -EPROTO;
}

typedef void (*wd_load_cb)(struct wd_row *w, const char *err, void *arg);

struct load {
	wd_load_cb cb;
	void *arg;
};

static void on_load(PGresult *res, const char *err, void *arg)
{
	struct load *l = arg;
	struct wd_row w;

	memset(&w, 0, sizeof(w));
	if (!res)
		l->cb(NULL, err ? err : "store error", l->arg);
	else if (PQntuples(res) == 0)
		l->cb(NULL, NULL, l->arg);
	else if (row_read(res, 0, 0, &w) < 0)
		l->cb(NULL, "the store gave a malformed withdrawal row",
		      l->arg);
	else
		l->cb(&w, NULL, l->arg);
	row_clear(&w);
	free(l);
}

static int load_query(struct pr_daemon *d, const char *sql, int n,
		      const char *const *params, wd_load_cb cb, void *arg)
{
	struct load *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->cb = cb;
	l->arg = arg;
	if (pr_db_query(d->db, sql, n, params, on_load, l) < 0) {
		free(l);
		return -EAGAIN;
	}
	return 0;
}

/* Loads withdrawal id (of merchant_id; NULL: any). */
static int wd_load(struct pr_daemon *d, const char *id, const char *merchant_id,
		   wd_load_cb cb, void *arg)
{
	static const char sql[] =
		"SELECT " WD_COLS "pr_withdrawal_json(w, m.locale)::text "
		"FROM withdrawals w JOIN merchants m ON m.id = w.merchant_id "
		"WHERE w.id = $1 AND ($2::text IS NULL OR w.merchant_id = $2)";
	const char *p[2] = { id, merchant_id };

	return load_query(d, sql, 2, p, cb, arg);
}

static int wd_load_by_no(struct pr_daemon *d, const char *merchant_id,
			 const char *no, wd_load_cb cb, void *arg)
{
	static const char sql[] =
		"SELECT " WD_COLS "pr_withdrawal_json(w, m.locale)::text "
		"FROM withdrawals w JOIN merchants m ON m.id = w.merchant_id "
		"WHERE w.merchant_id = $1 AND w.merchant_withdrawal_no = $2";
	const char *p[2] = { merchant_id, no };

	return load_query(d, sql, 2, p, cb, arg);
}

/* -------------------------------------------------------- transitions */

/* A transition (pr_withdrawal_transition in migration 005). */
struct wd_update {
	const char *id;
	unsigned from; /* WD_FROM() bits */
	enum wd_status to;
	const char *event;
	json_t *detail; /* borrowed */
	const char *channel;
	const struct pr_code *code;
	const struct payroute_result *res;
	int64_t paid_amount; /* with to == succeeded */
	int attempt;
	int64_t usage_day;
	const char *usage_bank;
	int64_t usage_amount;
	int release;
	json_t *trace; /* borrowed */
	int check_s;
	int check_reset;
	int retry_s;
};

typedef void (*wd_update_cb)(int rc, int changed, enum wd_status from,
			     struct wd_row *w, const char *err, void *arg);

struct upd {
	struct pr_daemon *d;
	wd_update_cb cb;
	void *arg;
};

static const char transition_sql[] =
	"SELECT t.r_changed, t.r_from, t.r_released_before, " WD_COLS
	"pr_withdrawal_json(t.r_withdrawal, m.locale)::text "
	"FROM pr_withdrawal_transition($1, $2::text[], $3, $4, $5, $6::jsonb, "
	"$7, $8, $9, $10, $11, $12, $13, $14, $15::bigint, $16::boolean, "
	"DATE '1970-01-01' + $17::int, $18, $19::bigint, $20::boolean, "
	"$21::jsonb, $22::int, $23::boolean, $24::int) t "
	"CROSS JOIN LATERAL (SELECT (t.r_withdrawal).*) w "
	"JOIN merchants m ON m.id = w.merchant_id";

static void release_reservation(struct pr_daemon *d, const struct wd_row *w)
{
	pr_usage_release_stored(d, "withdrawal", w->id, w->channel,
				w->usage_bank, w->usage_day, w->usage_amount);
}

static void on_transition(PGresult *res, const char *err, void *arg)
{
	struct upd *u = arg;
	enum wd_status from = WD_CREATED;
	struct wd_row w;
	int changed, released_before;

	memset(&w, 0, sizeof(w));
	if (!res || PQntuples(res) != 1) {
		if (u->cb)
			u->cb(-EIO, 0, from, NULL,
			      res ? "no such withdrawal" :
			      err ? err :
				    "store error",
			      u->arg);
		free(u);
		return;
	}
	changed = PQgetvalue(res, 0, 0)[0] == 't';
	released_before = PQgetvalue(res, 0, 2)[0] == 't';
	if (wd_status_parse(PQgetvalue(res, 0, 1), &from) < 0 ||
	    row_read(res, 0, 3, &w) < 0) {
		row_clear(&w);
		if (u->cb)
			u->cb(-EPROTO, 0, from, NULL,
			      "the store gave a malformed withdrawal row",
			      u->arg);
		free(u);
		return;
	}
	if (changed && !released_before && w.usage_released)
		release_reservation(u->d, &w);
	if (changed && wd_final(w.status)) {
		if (w.channel[0] && u->d->usage)
			pr_usage_outcome(u->d->usage, w.channel,
					 w.status == WD_SUCCEEDED, pr_now_ms());
		if (u->d->outbox)
			pr_outbox_kick(u->d->outbox);
	}
	if (u->cb)
		u->cb(0, changed, from, &w, NULL, u->arg);
	row_clear(&w);
	free(u);
}

static const char *from_literal(unsigned from, char *buf, size_t len)
{
	size_t o = 0;

	buf[o++] = '{';
	for (int s = 0; s < WD_N_STATUS; s++) {
		if (!(from & WD_FROM(s)))
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
				      o > 1 ? "," : "",
				      wd_status_name((enum wd_status)s));
		if (o >= len - 2)
			return NULL;
	}
	buf[o++] = '}';
	buf[o] = '\0';
	return buf;
}

/* Applies u; on a change to failed (or u->release) the reservation is
 * given back once; a final state feeds the success rate and wakes the
 * outbox. cb may be NULL. Returns 0 or -EAGAIN / -ENOMEM (cb not
 * called). */
static int wd_update(struct pr_daemon *d, const struct wd_update *u,
		     wd_update_cb cb, void *arg)
{
	char from[160], paid[24], day[24], amount[24], check[16], retry[16];
	char *detail = NULL, *trace = NULL;
	const struct payroute_result *r = u->res;
	const struct pr_code *c = u->code;
	const char *p[24];
	struct upd *x;
	int rc = 0;

	if (!from_literal(u->from, from, sizeof(from)))
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->d = d;
	x->cb = cb;
	x->arg = arg;
	if (u->detail)
		detail = json_dumps(u->detail, JSON_COMPACT);
	if (u->trace)
		trace = json_dumps(u->trace, JSON_COMPACT);
	snprintf(day, sizeof(day), "%lld", (long long)u->usage_day);
	snprintf(amount, sizeof(amount), "%lld", (long long)u->usage_amount);
	snprintf(check, sizeof(check), "%d", u->check_s > 0 ? u->check_s : 10);
	snprintf(retry, sizeof(retry), "%d", u->retry_s > 0 ? u->retry_s : 5);
	p[0] = u->id;
	p[1] = from;
	p[2] = wd_status_name(u->to);
	p[3] = d->gen->config->instance;
	p[4] = u->event;
	p[5] = detail;
	p[6] = u->channel;
	p[7] = c ? c->unified : NULL;
	p[8] = c ? c->message_en : NULL;
	p[9] = c ? c->message_zh : NULL;
	p[10] = c && r ? r->code : NULL;
	p[11] = c && r ? r->sub_code : NULL;
	p[12] = c && r ? r->message : NULL;
	p[13] = r ? r->channel_trade_no : NULL;
	snprintf(paid, sizeof(paid), "%lld", (long long)u->paid_amount);
	p[14] = u->to == WD_SUCCEEDED ? paid : NULL;
	p[15] = u->attempt ? "true" : "false";
	p[16] = u->attempt && u->usage_amount > 0 ? day : NULL;
	p[17] = u->attempt && u->usage_bank && u->usage_bank[0] ?
			u->usage_bank :
			NULL;
	p[18] = u->attempt && u->usage_amount > 0 ? amount : NULL;
	p[19] = u->to == WD_FAILED || u->release ? "true" : "false";
	p[20] = trace;
	p[21] = check;
	p[22] = u->check_reset ? "true" : "false";
	p[23] = retry;
	if (pr_db_query(d->db, transition_sql, 24, p, on_transition, x) < 0) {
		free(x);
		rc = -EAGAIN;
	}
	free(detail);
	free(trace);
	return rc;
}

/* ---------------------------------------------------------- the order */

/* Fills o for a payout or payout_query of withdrawal id over channel spec
 * c. account may be NULL (queries). Strings point into the arguments. */
static void wd_order(struct payroute_order *o, const struct pr_config *cfg,
		     const struct pr_chan_spec *c, const char *id,
		     int64_t amount, const char *currency, const char *method,
		     const char *kind, const char *account, const char *name,
		     const char *bank_code, const char *trade_no,
		     int64_t created_ms, char *notify_buf, size_t notify_len)
{
	const struct pr_bank_map *bm = NULL;

	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->order_id = id;
	o->payout_id = id;
	o->channel_trade_no = trade_no && trade_no[0] ? trade_no : NULL;
	o->amount = amount;
	snprintf(o->currency, sizeof(o->currency), "%s", currency);
	o->method = method;
	if (bank_code && bank_code[0] && c)
		bm = pr_chan_bank(c, bank_code);
	o->payee_bank_code = bm			       ? bm->channel_bank_code :
			     bank_code && bank_code[0] ? bank_code :
							 NULL;
	o->bank_code = o->payee_bank_code;
	o->payee_kind = kind;
	o->payee_account = account && account[0] ? account : NULL;
	o->payee_name = name && name[0] ? name : NULL;
	o->notify_url =
		pr_notify_url(cfg, c ? c->code : "", notify_buf, notify_len);
	o->created_at_ms = created_ms;
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
	struct pr_request *r;	      /* NULL: a re-routing by the timer */
	struct pr_withdrawals *owner; /* the timer's flows */
	struct pr_daemon *d;
	struct pr_generation *gen; /* r->gen, or referenced (timer) */
	char merchant[65];
	char locale[8];
	struct wd_req req;
	char method[33];
	char mask[80];
	char card_hmac[65];
	char req_hash[65];
	struct pr_idem idem;

	char id[33];
	enum wd_status status; /* where this flow left it */
	int64_t now_ms;
	int64_t created_ms;

	struct pr_route_cand *cands;
	size_t n_cands;
	size_t next;
	json_t *trace;
	json_t *attempts;

	const struct pr_chan_spec *spec;
	const struct pr_channel *ch;
	struct pr_usage_token tok;
	int have_tok;
	struct payroute_order order;
	char notify_buf[512];
	const struct pr_code *last_code;
};

static void wd_free(struct wd *w)
{
	struct pr_withdrawals *o = w->owner;

	explicit_bzero(&w->req, sizeof(w->req));
	explicit_bzero(&w->order, sizeof(w->order));
	json_decref(w->trace);
	free(w->cands);
	if (o) {
		pr_gen_unref(w->gen);
		o->in_flight--;
		if (o->dead && o->in_flight == 0 && !o->claiming)
			free(o);
	}
	free(w);
}

/* Ends the flow: the API's answer (stored under the Idempotency-Key), or
 * nothing for the timer. */
static void wd_reply(struct wd *w, int status, json_t *body)
{
	if (!w->r) {
		json_decref(body);
		wd_free(w);
		return;
	}
	pr_idem_finish(w->d, &w->idem, status, body);
	pr_request_reply(w->r, status, body);
	wd_free(w);
}

static void wd_error(struct wd *w, int status, const char *code,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void wd_error(struct wd *w, int status, const char *code,
		     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!w->r)
		pr_warn("withdrawal %s: %s", w->id[0] ? w->id : "?", msg);
	wd_reply(w, status,
		 json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			   msg));
}

static void try_next(struct wd *w);

static void on_final(int rc, int changed, enum wd_status from,
		     struct wd_row *row, const char *err, void *arg)
{
	struct wd *w = arg;

	(void)changed;
	(void)from;
	if (rc < 0 || !row) {
		pr_err("withdrawal %s: recording the outcome failed: %s", w->id,
		       err ? err : "?");
		wd_error(w, 503, "store_unavailable",
			 "withdrawal %s: its outcome could not be recorded; "
			 "query it by id",
			 w->id);
		return;
	}
	if (changed)
		pr_info("withdrawal %s: %s -> %s (%s%s%s)", row->id,
			wd_status_name(from), wd_status_name(row->status),
			row->code[0] ? row->code : "-",
			row->channel[0] ? " on " : "", row->channel);
	wd_reply(w, 201, json_incref(row->json));
}

static json_t *attempt_json(const struct wd *w, const struct pr_call *c,
			    const char *outcome)
{
	json_t *a = json_pack("{s:s,s:s,s:s}", "channel", w->spec->code,
			      "outcome", outcome, "code",
			      c && c->code ? c->code->unified : "");

	if (!a || !c)
		return a;
	if (c->end == PR_CALL_ANSWER) {
		json_object_set_new(a, "channel_code",
				    json_string(c->res.code));
		json_object_set_new(a, "channel_sub_code",
				    json_string(c->res.sub_code));
	}
	if (c->detail[0])
		json_object_set_new(a, "detail", json_string(c->detail));
	json_object_set_new(a, "http_status", json_integer(c->http_status));
	json_object_set_new(a, "ms", json_real(c->ms));
	return a;
}

static void fail_withdrawal(struct wd *w, const struct pr_code *code,
			    const char *event)
{
	struct wd_update u = { 0 };

	u.id = w->id;
	u.from = WD_FROM(WD_CREATED) | WD_FROM(WD_PENDING) |
		 WD_FROM(WD_PROCESSING);
	u.to = WD_FAILED;
	u.event = event;
	u.code = code;
	u.trace = w->trace;
	if (wd_update(w->d, &u, on_final, w) < 0)
		wd_error(w, 503, "store_unavailable",
			 "withdrawal %s failed (%s) but the store is "
			 "unavailable to record it",
			 w->id, code->unified);
}

static void on_bumped(PGresult *res, const char *err, void *arg)
{
	struct wd *w = arg;

	if (!res)
		pr_warn("withdrawal %s: rescheduling its routing failed: %s "
			"(it comes due when the claim's lease ends)",
			w->id, err);
	wd_free(w);
}

/* No usable channel: wait in pending_channel (routed again later). */
static void go_pending(struct wd *w)
{
	static const char bump_sql[] =
		"UPDATE withdrawals SET next_route_at = now() + "
		"make_interval(secs => $2::int), route_claimed_by = NULL, "
		"trace = $3::jsonb WHERE id = $1 AND status = 'pending_channel'";
	int retry_s = (opt_retry_interval_ms(w->gen->config) + 999) / 1000;
	struct wd_update u = { 0 };
	char s_retry[16], *trace;
	const char *p[3];
	json_t *detail;
	int rc;

	if (w->status == WD_PENDING) {
		/* Still none: only the next time changes (no event). */
		w->owner->still_pending++;
		snprintf(s_retry, sizeof(s_retry), "%d", retry_s);
		trace = json_dumps(w->trace, JSON_COMPACT);
		p[0] = w->id;
		p[1] = s_retry;
		p[2] = trace;
		rc = pr_db_query(w->d->db, bump_sql, 3, p, on_bumped, w);
		free(trace);
		if (rc < 0)
			wd_free(w);
		return;
	}
	pr_info("withdrawal %s: no usable channel: pending_channel until a "
		"channel can take it",
		w->id);
	detail = json_pack("{s:s}", "reason", "no usable channel");
	u.id = w->id;
	u.from = WD_FROM(WD_CREATED);
	u.to = WD_PENDING;
	u.event = "pending";
	u.detail = detail;
	u.trace = w->trace;
	u.retry_s = retry_s;
	rc = wd_update(w->d, &u, on_final, w);
	json_decref(detail);
	if (rc < 0)
		wd_error(w, 503, "store_unavailable",
			 "withdrawal %s could not be recorded: the store is "
			 "unavailable",
			 w->id);
}

static void on_released_recorded(int rc, int changed, enum wd_status from,
				 struct wd_row *row, const char *err, void *arg)
{
	struct wd *w = arg;

	(void)changed;
	(void)from;
	(void)row;
	if (rc < 0) {
		pr_err("withdrawal %s: recording a retryable failure failed: %s",
		       w->id, err ? err : "?");
		wd_error(w, 503, "store_unavailable",
			 "withdrawal %s: the store became unavailable; query "
			 "it by id",
			 w->id);
		return;
	}
	try_next(w);
}

static void on_payout(struct pr_call *c, void *arg)
{
	struct wd *w = arg;
	const struct pr_code *code = c->code;
	struct wd_update u = { 0 };
	const char *outcome;

	/* The account in clear stays for a next candidate; it is wiped
	 * when the flow ends (wd_free). */
	w->order.payee_account = NULL;
	w->last_code = code;
	if (code->effect == PAYROUTE_EFFECT_FAILED && code->retryable) {
		json_array_append_new(w->attempts,
				      attempt_json(w, c, "retryable_failure"));
		pr_info("withdrawal %s: channel %s: %s (retryable): trying the "
			"next channel",
			w->id, w->spec->code, code->unified);
		u.id = w->id;
		u.from = WD_FROM(WD_PROCESSING);
		u.to = WD_PROCESSING;
		u.event = "answer";
		u.detail = json_array_get(w->attempts,
					  json_array_size(w->attempts) - 1);
		u.code = code;
		u.res = c->end == PR_CALL_ANSWER ? &c->res : NULL;
		u.release = 1;
		u.trace = w->trace;
		w->have_tok = 0;
		if (wd_update(w->d, &u, on_released_recorded, w) < 0)
			wd_error(w, 503, "store_unavailable",
				 "withdrawal %s: the store became "
				 "unavailable; query it by id",
				 w->id);
		return;
	}
	u.id = w->id;
	u.from = WD_FROM(WD_PROCESSING);
	u.event = "answer";
	u.code = code;
	u.res = c->end == PR_CALL_ANSWER ? &c->res : NULL;
	u.trace = w->trace;
	u.check_s = (int)w->gen->config->completion_s[0];
	switch (code->effect) {
	case PAYROUTE_EFFECT_SUCCESS:
		if (c->res.amount >= 0 && c->res.amount != w->req.amount) {
			pr_err("withdrawal %s: channel %s reports amount "
			       "%lld, the order is %lld: left unknown for an "
			       "operator",
			       w->id, w->spec->code, (long long)c->res.amount,
			       (long long)w->req.amount);
			u.to = WD_UNKNOWN;
			u.code = pr_code_core("AMOUNT_MISMATCH");
			outcome = "amount_mismatch";
		} else {
			u.to = WD_SUCCEEDED;
			u.paid_amount = w->req.amount;
			outcome = "succeeded";
		}
		break;
	case PAYROUTE_EFFECT_FAILED:
	case PAYROUTE_EFFECT_CLOSED:
		u.to = WD_FAILED;
		outcome = "failed";
		break;
	case PAYROUTE_EFFECT_PROCESSING:
		u.to = WD_PROCESSING;
		outcome = "processing";
		break;
	case PAYROUTE_EFFECT_UNKNOWN:
	default:
		u.to = WD_UNKNOWN;
		outcome = "unknown";
		break;
	}
	json_array_append_new(w->attempts, attempt_json(w, c, outcome));
	u.detail =
		json_array_get(w->attempts, json_array_size(w->attempts) - 1);
	if (wd_update(w->d, &u, on_final, w) < 0)
		wd_error(w, 503, "store_unavailable",
			 "withdrawal %s was sent but its outcome could not be "
			 "recorded; query it by id",
			 w->id);
}

static void on_attempt_recorded(int rc, int changed, enum wd_status from,
				struct wd_row *row, const char *err, void *arg)
{
	struct wd *w = arg;

	(void)from;
	if (rc < 0 || !changed || !row) {
		if (w->have_tok && w->d->usage)
			pr_usage_release(w->d->usage, &w->tok);
		w->have_tok = 0;
		pr_err("withdrawal %s: recording the attempt on %s failed: %s",
		       w->id, w->spec->code,
		       err ? err : "the withdrawal moved meanwhile");
		wd_error(w, 503, "store_unavailable",
			 "withdrawal %s could not be sent: the store is "
			 "unavailable",
			 w->id);
		return;
	}
	w->status = WD_PROCESSING;
	wd_order(&w->order, w->gen->config, w->spec, w->id, w->req.amount,
		 w->req.currency, w->method, w->req.kind, w->req.account,
		 w->req.name, w->req.bank_code, NULL, w->created_ms,
		 w->notify_buf, sizeof(w->notify_buf));
	pr_info("withdrawal %s: paying %lld %s to %s %s over %s", w->id,
		(long long)w->req.amount, w->req.currency, w->req.kind, w->mask,
		w->spec->code);
	if (pr_chan_call(w->d, w->gen, w->ch, PR_OP_PAYOUT, &w->order,
			 on_payout, w) < 0)
		wd_error(w, 500, "internal", "out of memory");
}

static void on_reserved(int rc, const struct pr_usage_token *tok, void *arg)
{
	struct wd *w = arg;
	struct wd_update u = { 0 };
	json_t *detail;

	if (rc <= 0) {
		if (rc < 0)
			pr_warn("withdrawal %s: reserving the daily limit of "
				"%s failed: %s",
				w->id, w->spec->code, strerror(-rc));
		json_array_append_new(w->attempts,
				      json_pack("{s:s,s:s}", "channel",
						w->spec->code, "outcome",
						rc == 0 ? "daily_limit" :
							  "reservation_error"));
		try_next(w);
		return;
	}
	w->tok = *tok;
	w->have_tok = 1;
	detail = json_pack("{s:s,s:i}", "channel", w->spec->code, "attempt",
			   (int)json_array_size(w->attempts) + 1);
	u.id = w->id;
	u.from = WD_FROM(WD_CREATED) | WD_FROM(WD_PENDING) |
		 WD_FROM(WD_PROCESSING);
	u.to = WD_PROCESSING;
	u.event = "attempt";
	u.detail = detail;
	u.channel = w->spec->code;
	u.attempt = 1;
	u.usage_day = tok->day;
	u.usage_bank = tok->bank;
	u.usage_amount = tok->amount;
	u.trace = w->trace;
	u.check_s = (int)w->gen->config->completion_s[0];
	u.check_reset = 1;
	rc = wd_update(w->d, &u, on_attempt_recorded, w);
	json_decref(detail);
	if (rc < 0) {
		if (w->d->usage)
			pr_usage_release(w->d->usage, &w->tok);
		w->have_tok = 0;
		wd_error(w, 503, "store_unavailable",
			 "withdrawal %s could not be sent: the store is "
			 "unavailable",
			 w->id);
	}
}

/* The next ranked candidate; at the end: failed with the last channel's
 * (retryable) code when one answered, else pending_channel. */
static void try_next(struct wd *w)
{
	const struct pr_catalogue *cat = &w->gen->cat;
	struct pr_usage_limits lim;
	int rc;

	while (w->next < w->n_cands) {
		w->spec = &cat->chans[w->cands[w->next++].chan];
		w->ch = pr_gen_channel(w->gen, w->spec->code);
		if (!w->ch || !w->ch->state) {
			json_array_append_new(
				w->attempts,
				json_pack("{s:s,s:s}", "channel", w->spec->code,
					  "outcome", "driver_not_started"));
			continue;
		}
		pr_chan_limits(w->spec, w->req.bank_code, &lim);
		rc = !w->d->usage ?
			     -ESHUTDOWN :
			     pr_usage_reserve(w->d->usage, w->spec->code,
					      w->spec->tz, &lim, w->req.amount,
					      pr_now_ms(), on_reserved, w);
		if (rc == 0)
			return;
		json_array_append_new(w->attempts,
				      json_pack("{s:s,s:s}", "channel",
						w->spec->code, "outcome",
						"reservation_error"));
	}
	if (w->last_code)
		fail_withdrawal(w, w->last_code, "answer");
	else
		go_pending(w);
}

/* Routes the withdrawal (pr_order_route); again for a pending one. */
static int route(struct wd *w)
{
	struct pr_route_req rq = { 0 };
	struct pr_order_route r;
	int rc;

	rq.business = PR_BIZ_WITHDRAW;
	rq.method = w->method;
	rq.currency = w->req.currency;
	rq.bank_code = w->req.bank_code[0] ? w->req.bank_code : NULL;
	rq.merchant = w->merchant;
	rq.card_hmac = w->card_hmac[0] ? w->card_hmac : NULL;
	rq.amount = w->req.amount;
	rq.now_ms = w->now_ms;
	rc = pr_order_route(w->d, w->gen, &rq, &r);
	if (rc < 0)
		return rc;
	json_decref(w->trace);
	free(w->cands);
	w->cands = r.cands;
	w->n_cands = r.n_cands;
	w->trace = r.trace;
	w->attempts = r.attempts;
	w->next = 0;
	return 0;
}

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
	pr_request_error(r, 503, "store_unavailable",
			 "the store is unavailable (%s); retry later", what);
}

static void on_existing(struct wd_row *row, const char *err, void *arg)
{
	struct wd *w = arg;

	if (!row) {
		wd_error(w, err ? 503 : 409,
			 err ? "store_unavailable" : "duplicate_order",
			 "merchant_withdrawal_no %s is already used",
			 w->req.no);
		return;
	}
	wd_reply(w, 409,
		 json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
			   "duplicate_order", "message",
			   "merchant_withdrawal_no is already used by another "
			   "withdrawal",
			   "withdrawal_id", row->id));
}

static void on_existing_same(struct wd_row *row, const char *err, void *arg)
{
	struct wd *w = arg;

	if (!row) {
		on_existing(row, err, arg);
		return;
	}
	wd_reply(w, 201, json_incref(row->json));
}

static void on_dup_check(PGresult *res, const char *err, void *arg)
{
	struct wd *w = arg;
	int same;

	if (!res || PQntuples(res) != 1) {
		wd_error(w, res ? 409 : 503,
			 res ? "duplicate_order" : "store_unavailable",
			 "merchant_withdrawal_no %s is already used%s%s",
			 w->req.no, res ? "" : ": ", res ? "" : err);
		return;
	}
	same = w->idem.taken_over &&
	       strcmp(PQgetvalue(res, 0, 1), w->req_hash) == 0;
	if (wd_load(w->d, PQgetvalue(res, 0, 0), w->merchant,
		    same ? on_existing_same : on_existing, w) < 0)
		wd_error(w, 503, "store_unavailable",
			 "the store is unavailable; retry later");
}

static void on_inserted(PGresult *res, const char *err, void *arg)
{
	struct wd *w = arg;
	static const char dup_sql[] =
		"SELECT id, request_hash FROM withdrawals "
		"WHERE merchant_id = $1 AND merchant_withdrawal_no = $2";
	const char *params[2] = { w->merchant, w->req.no };

	if (!res) {
		pr_warn("withdrawals: inserting %s failed: %s", w->id, err);
		wd_error(w, 503, "store_unavailable",
			 "the withdrawal could not be stored; retry later");
		return;
	}
	if (PQntuples(res) == 0) {
		if (pr_db_query(w->d->db, dup_sql, 2, params, on_dup_check, w) <
		    0)
			wd_error(w, 503, "store_unavailable",
				 "the store is unavailable; retry later");
		return;
	}
	w->created_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	w->status = WD_CREATED;
	pr_info("withdrawal %s created for merchant %s (no %s, %lld %s to %s "
		"%s, %zu candidate channel%s)",
		w->id, w->merchant, w->req.no, (long long)w->req.amount,
		w->req.currency, w->req.kind, w->mask, w->n_cands,
		w->n_cands == 1 ? "" : "s");
	try_next(w);
}

/* Routes, then inserts the order with its account sealed. */
static void wd_start(struct wd *w)
{
	static const char sql[] =
		"INSERT INTO withdrawals (id, merchant_id, "
		"merchant_withdrawal_no, request_hash, amount, currency, "
		"payee_kind, payee_account_enc, payee_account_mask, payee_name, "
		"payee_bank_code, method, notify_url, client_ip, trace, "
		"deadline_at) "
		"VALUES ($1, $2, $3, $4, $5::bigint, $6, $7, $8, $9, $10, $11, "
		"$12, $13, $14, $15::jsonb, "
		"now() + make_interval(secs => $16::int)) "
		"ON CONFLICT (merchant_id, merchant_withdrawal_no) DO NOTHING "
		"RETURNING (extract(epoch FROM created_at) * 1000)::bigint";
	const struct pr_config *cfg = w->gen->config;
	char amount[24], deadline[16], *trace = NULL, *sealed = NULL;
	const char *params[16];
	char *ip = NULL;
	int rc;

	rc = route(w);
	if (rc < 0) {
		wd_error(w, rc == -EINVAL ? 400 : 500,
			 rc == -EINVAL ? "bad_request" : "internal",
			 "the withdrawal cannot be routed: %s", strerror(-rc));
		return;
	}
	pr_order_new_id('W', w->now_ms, w->id);
	sealed = account_seal(cfg->secret_key, w->id, w->req.account);
	trace = json_dumps(w->trace, JSON_COMPACT);
	if (!sealed || !trace) {
		free(sealed);
		free(trace);
		wd_error(w, 500, "internal",
			 "the payee account could not be encrypted");
		return;
	}
	evhttp_connection_get_peer(evhttp_request_get_connection(w->r->req),
				   &ip, &(ev_uint16_t){ 0 });
	snprintf(amount, sizeof(amount), "%lld", (long long)w->req.amount);
	snprintf(deadline, sizeof(deadline), "%d", opt_pending_deadline_s(cfg));
#define OPT(s) ((s)[0] ? (s) : NULL)
	params[0] = w->id;
	params[1] = w->merchant;
	params[2] = w->req.no;
	params[3] = w->req_hash;
	params[4] = amount;
	params[5] = w->req.currency;
	params[6] = w->req.kind;
	params[7] = sealed;
	params[8] = w->mask;
	params[9] = OPT(w->req.name);
	params[10] = OPT(w->req.bank_code);
	params[11] = w->method;
	params[12] = OPT(w->req.notify_url);
	params[13] = ip;
	params[14] = trace;
	params[15] = deadline;
#undef OPT
	rc = pr_db_query(w->d->db, sql, 16, params, on_inserted, w);
	free(sealed);
	free(trace);
	if (rc < 0)
		wd_error(w, 503, "store_unavailable",
			 "the store is unavailable; retry later");
}

static void on_idem(int proceed, void *arg)
{
	struct wd *w = arg;

	if (proceed)
		wd_start(w);
	else
		wd_free(w);
}

static void create_withdrawal(struct wd *w)
{
	const struct pr_config *cfg = w->gen->config;
	char field[96], err[512];
	unsigned char mac[32];
	char *canon = NULL, *hex = NULL;
	int status = 400;
	json_t *body;

	if (!cfg->has_secret_key) {
		wd_error(w, 503, "withdrawals_unavailable",
			 "withdrawals need an encryption key for payee "
			 "accounts: set secrets.key_file in the daemon's "
			 "config");
		return;
	}
	body = pr_http_read_json(w->r->req, &status, err, sizeof(err));
	if (!body) {
		wd_error(w, status,
			 status == 415 ? "unsupported_media_type" :
					 "bad_request",
			 "%s", err);
		return;
	}
	if (wd_parse(body, &w->req, field, sizeof(field), err, sizeof(err)) <
	    0) {
		json_decref(body);
		reply_field(w->r, field, err);
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
		wd_error(w, 500, "internal", "out of memory");
		return;
	}
	snprintf(w->req_hash, sizeof(w->req_hash), "%s", hex);
	free(hex);
	snprintf(w->method, sizeof(w->method), "%s", pr_wd_method(w->req.kind));
	pr_wd_mask_account(w->req.kind, w->req.account, w->mask,
			   sizeof(w->mask));
	card_hmac(w);
	w->now_ms = pr_now_ms();
	if (pr_idem_read(w->r, w->merchant, ENDPOINT, w->req_hash, &w->idem) <
	    0) {
		wd_free(w);
		return;
	}
	if (!w->idem.active) {
		wd_start(w);
		return;
	}
	if (pr_idem_begin(w->d, w->r, &w->idem, on_idem, w) < 0) {
		w->idem.active = 0;
		wd_error(w, 503, "store_unavailable",
			 "the store is unavailable; retry later");
	}
}

static void on_got(struct wd_row *row, const char *err, void *arg)
{
	struct wd *w = arg;

	if (err)
		reply_store_down(w->r, err);
	else if (!row)
		pr_request_error(w->r, 404, "not_found", "no such withdrawal");
	else
		pr_request_reply(w->r, 200, json_incref(row->json));
	wd_free(w);
}

enum action { A_CREATE, A_GET, A_LIST };

struct authed {
	struct wd *w;
	enum action action;
	char id[64];
	char no[128];
};

static void on_auth(const struct pr_merchant *m, int status, const char *code,
		    const char *message, void *arg)
{
	struct authed *a = arg;
	struct wd *w = a->w;
	int rc = 0;

	if (!m) {
		if (status == 401)
			evhttp_add_header(
				evhttp_request_get_output_headers(w->r->req),
				"WWW-Authenticate", "Bearer");
		pr_request_error(w->r, status, code, "%s", message);
		wd_free(w);
		free(a);
		return;
	}
	snprintf(w->merchant, sizeof(w->merchant), "%s", m->id);
	snprintf(w->locale, sizeof(w->locale), "%s", m->locale);
	switch (a->action) {
	case A_CREATE:
		create_withdrawal(w);
		break;
	case A_GET:
		rc = wd_load(w->d, a->id, w->merchant, on_got, w);
		break;
	case A_LIST:
		rc = wd_load_by_no(w->d, w->merchant, a->no, on_got, w);
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

static void method_not_allowed(struct pr_request *r, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow",
			  allow);
	pr_request_error(r, 405, "method_not_allowed",
			 "%s is not allowed here; use %s",
			 pr_http_method(r->req), allow);
}

int pr_withdrawals_handle(struct pr_request *r)
{
	const char *m = pr_http_method(r->req);
	struct authed *a;
	struct wd *w;

	if (strcmp(r->path, ENDPOINT) != 0 &&
	    strncmp(r->path, ENDPOINT "/", sizeof(ENDPOINT)) != 0)
		return 0;
	a = calloc(1, sizeof(*a));
	w = calloc(1, sizeof(*w));
	if (!a || !w) {
		free(a);
		free(w);
		pr_request_error(r, 500, "internal", "out of memory");
		return 1;
	}
	w->r = r;
	w->d = r->d;
	w->gen = r->gen;
	a->w = w;
	if (strcmp(r->path, ENDPOINT) == 0) {
		if (strcmp(m, "POST") == 0) {
			a->action = A_CREATE;
		} else if (strcmp(m, "GET") == 0) {
			const char *uri = evhttp_request_get_uri(r->req);
			const char *qs = strchr(uri, '?');
			struct evkeyvalq q;
			const char *no;

			TAILQ_INIT(&q);
			if (!qs || evhttp_parse_query_str(qs + 1, &q) < 0 ||
			    !(no = evhttp_find_header(
				      &q, "merchant_withdrawal_no")) ||
			    !*no || strlen(no) >= sizeof(a->no)) {
				evhttp_clear_headers(&q);
				reply_field(r, "merchant_withdrawal_no",
					    "merchant_withdrawal_no: required "
					    "query parameter (GET "
					    "/v1/withdrawals?merchant_"
					    "withdrawal_no=...)");
				goto done;
			}
			snprintf(a->no, sizeof(a->no), "%s", no);
			evhttp_clear_headers(&q);
			a->action = A_LIST;
		} else {
			method_not_allowed(r, "GET, POST");
			goto done;
		}
	} else {
		const char *rest = r->path + sizeof(ENDPOINT);

		if (strcmp(m, "GET") != 0) {
			method_not_allowed(r, "GET");
			goto done;
		}
		if (!id_ok(rest)) {
			pr_request_error(r, 404, "not_found",
					 "no such withdrawal");
			goto done;
		}
		snprintf(a->id, sizeof(a->id), "%s", rest);
		a->action = A_GET;
	}
	if (pr_merchant_auth(r->d, r->req, on_auth, a) < 0) {
		reply_store_down(r, "authenticating");
		goto done;
	}
	return 1;
done:
	wd_free(w);
	free(a);
	return 1;
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
	w->status = WD_PENDING;
	snprintf(w->id, sizeof(w->id), "%s", id);
	o->in_flight++;
	return w;
}

static void on_pending_loaded(struct wd_row *row, const char *err, void *arg)
{
	struct wd *w = arg;
	const struct pr_config *cfg = w->gen->config;
	int rc;

	if (err || !row || row->status != WD_PENDING) {
		if (err)
			pr_warn("withdrawal %s: loading it to route it again "
				"failed: %s",
				w->id, err);
		wd_free(w);
		return;
	}
	snprintf(w->merchant, sizeof(w->merchant), "%s", row->merchant_id);
	snprintf(w->locale, sizeof(w->locale), "%s", row->locale);
	snprintf(w->req.no, sizeof(w->req.no), "%s", row->no);
	w->req.amount = row->amount;
	snprintf(w->req.currency, sizeof(w->req.currency), "%s", row->currency);
	snprintf(w->req.kind, sizeof(w->req.kind), "%s", row->kind);
	snprintf(w->req.name, sizeof(w->req.name), "%s", row->name);
	snprintf(w->req.bank_code, sizeof(w->req.bank_code), "%s",
		 row->bank_code);
	snprintf(w->method, sizeof(w->method), "%s", row->method);
	snprintf(w->mask, sizeof(w->mask), "%s", row->mask);
	w->created_ms = row->created_ms;
	w->now_ms = pr_now_ms();
	if (!cfg->has_secret_key ||
	    account_open(cfg->secret_key, w->id, row->enc, w->req.account,
			 sizeof(w->req.account)) < 0) {
		pr_err("withdrawal %s: the payee account cannot be decrypted "
		       "(%s): it stays pending until its deadline",
		       w->id,
		       cfg->has_secret_key ? "was secrets.key_file changed?" :
					     "no secrets.key_file");
		w->trace = json_object();
		go_pending(w);
		return;
	}
	card_hmac(w);
	rc = route(w);
	if (rc < 0) {
		pr_warn("withdrawal %s: routing failed: %s", w->id,
			strerror(-rc));
		wd_free(w);
		return;
	}
	if (w->n_cands == 0) {
		go_pending(w);
		return;
	}
	w->owner->routed++;
	pr_info("withdrawal %s: a channel can take it now (%zu candidate%s)",
		w->id, w->n_cands, w->n_cands == 1 ? "" : "s");
	try_next(w);
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
				w->id);
			w->trace = NULL;
			fail_withdrawal(
				w, pr_code_core("NO_CHANNEL_BEFORE_DEADLINE"),
				"deadline");
			continue;
		}
		if (wd_load(o->d, w->id, NULL, on_pending_loaded, w) < 0)
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
	row_clear(&wc->row);
	free(wc);
	pr_check_done(k, &e);
}

static void on_check_applied(int rc, int changed, enum wd_status from,
			     struct wd_row *row, const char *err, void *arg)
{
	struct wd_check *wc = arg;
	char result[128];

	if (rc < 0 || !row) {
		snprintf(result, sizeof(result), "store error: %s",
			 err ? err : "?");
		check_end(wc, 0, 1, result);
		return;
	}
	if (changed)
		pr_info("completion: withdrawal %s: %s -> %s (%s)", row->id,
			wd_status_name(from), wd_status_name(row->status),
			row->code);
	snprintf(result, sizeof(result), "%s", row->code);
	check_end(wc, wd_final(row->status), row->status == WD_PROCESSING,
		  result);
}

static void check_apply(struct wd_check *wc, struct pr_call *cl,
			enum wd_status to, const struct pr_code *code)
{
	struct wd_update u = { 0 };
	json_t *detail = json_pack("{s:s,s:s}", "channel", wc->row.channel,
				   "code", code->unified);

	if (cl && cl->end == PR_CALL_ANSWER) {
		json_object_set_new(detail, "channel_code",
				    json_string(cl->res.code));
		json_object_set_new(detail, "channel_sub_code",
				    json_string(cl->res.sub_code));
	}
	u.id = wc->row.id;
	u.from = WD_FROM(WD_PROCESSING) | WD_FROM(WD_UNKNOWN);
	u.to = to;
	u.event = "check";
	u.detail = detail;
	u.code = code;
	u.res = cl && cl->end == PR_CALL_ANSWER ? &cl->res : NULL;
	u.paid_amount = wc->row.amount;
	u.check_s = 1;
	if (wd_update(wc->k->d, &u, on_check_applied, wc) < 0)
		check_end(wc, 0, 1, "store unavailable");
	json_decref(detail);
}

static void on_payout_query(struct pr_call *cl, void *arg)
{
	struct wd_check *wc = arg;
	const struct pr_code *code = cl->code;
	char result[300];

	if (cl->end != PR_CALL_ANSWER) {
		snprintf(result, sizeof(result), "%s: %s", code->unified,
			 cl->detail);
		check_end(wc, 0, wc->row.status == WD_PROCESSING, result);
		return;
	}
	switch (code->effect) {
	case PAYROUTE_EFFECT_SUCCESS:
		if (cl->res.amount >= 0 && cl->res.amount != wc->row.amount) {
			pr_err("completion: withdrawal %s: channel %s reports "
			       "amount %lld, the order is %lld: left unknown "
			       "for an operator",
			       wc->row.id, wc->row.channel,
			       (long long)cl->res.amount,
			       (long long)wc->row.amount);
			check_apply(wc, cl, WD_UNKNOWN,
				    pr_code_core("AMOUNT_MISMATCH"));
			return;
		}
		check_apply(wc, cl, WD_SUCCEEDED, code);
		return;
	case PAYROUTE_EFFECT_FAILED:
	case PAYROUTE_EFFECT_CLOSED:
		check_apply(wc, cl, WD_FAILED, code);
		return;
	case PAYROUTE_EFFECT_PROCESSING:
		if (wc->row.status == WD_UNKNOWN) {
			check_apply(wc, cl, WD_PROCESSING, code);
			return;
		}
		check_end(wc, 0, 1, code->unified);
		return;
	case PAYROUTE_EFFECT_UNKNOWN:
	default:
		snprintf(result, sizeof(result), "%s%s%s", code->unified,
			 cl->unmapped ? ": " : "",
			 cl->unmapped ? cl->detail : "");
		check_end(wc, 0, 0, result);
		return;
	}
}

static void on_check_deleted(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("completion: dropping a settled check failed: %s", err);
}

static void on_check_loaded(struct wd_row *row, const char *err, void *arg)
{
	struct wd_check *wc = arg;
	struct pr_check *k = wc->k;
	static const char del_sql[] =
		"DELETE FROM order_checks "
		"WHERE kind = 'withdrawal' AND order_id = $1";
	const char *params[1] = { k->order_id };
	char result[200];
	long ci;

	if (err) {
		check_end(wc, 0, 1, "store error");
		return;
	}
	if (!row || wd_final(row->status) || row->status == WD_CREATED ||
	    row->status == WD_PENDING) {
		pr_db_query(k->d->db, del_sql, 1, params, on_check_deleted,
			    NULL);
		check_end(wc, 1, 0, "settled");
		return;
	}
	row_move(&wc->row, row);
	wc->ch = pr_gen_channel(k->gen, wc->row.channel);
	ci = pr_catalogue_find(&k->gen->cat, wc->row.channel);
	wc->spec = ci >= 0 ? &k->gen->cat.chans[ci] : NULL;
	if (!wc->ch) {
		snprintf(result, sizeof(result), "channel %s is not configured",
			 wc->row.channel);
		check_end(wc, 0, 0, result);
		return;
	}
	wd_order(&wc->order, k->gen->config, wc->spec, wc->row.id,
		 wc->row.amount, wc->row.currency, wc->row.method, wc->row.kind,
		 NULL, wc->row.name, wc->row.bank_code,
		 wc->row.channel_trade_no, wc->row.created_ms, wc->notify_buf,
		 sizeof(wc->notify_buf));
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
	if (wd_load(k->d, k->order_id, NULL, on_check_loaded, wc) < 0) {
		free(wc);
		e.result = "store unavailable";
		e.keep_going = 1;
		pr_check_done(k, &e);
	}
}

const struct pr_check_kind pr_withdrawal_check = { "withdrawal",
						   check_withdrawal };

/* ------------------------------------------------------------ callbacks */

struct wd_cb {
	struct pr_daemon *d;
	struct pr_generation *gen; /* r->gen: alive until done */
	char channel[65];
	char driver[65];
	struct payroute_notify nt;
	void (*done)(int ok, void *arg);
	void *arg;
};

static void cb_end(struct wd_cb *c, int ok)
{
	c->done(ok, c->arg);
	free(c);
}

static void on_cb_applied(int rc, int changed, enum wd_status from,
			  struct wd_row *row, const char *err, void *arg)
{
	struct wd_cb *c = arg;

	if (rc < 0 || !row) {
		pr_warn("callback from %s: withdrawal %s not updated: %s (the "
			"channel will send it again)",
			c->channel, c->nt.order_id, err ? err : "?");
		cb_end(c, 0);
		return;
	}
	if (changed)
		pr_info("callback from %s: withdrawal %s: %s -> %s (%s)",
			c->channel, row->id, wd_status_name(from),
			wd_status_name(row->status), row->code);
	else
		pr_info("callback from %s: withdrawal %s is %s already: "
			"duplicate or late callback ignored",
			c->channel, row->id, wd_status_name(row->status));
	cb_end(c, 1);
}

static void on_check_now(PGresult *res, const char *err, void *arg)
{
	(void)arg;
	if (!res)
		pr_warn("withdrawals: could not bring a check forward: %s",
			err);
}

static void on_cb_loaded(struct wd_row *row, const char *err, void *arg)
{
	struct wd_cb *c = arg;
	static const char now_sql[] =
		"UPDATE order_checks SET next_at = now() "
		"WHERE kind = 'withdrawal' AND order_id = $1 AND NOT attention";
	const struct pr_code *code;
	struct payroute_result res;
	struct wd_update u = { 0 };
	const char *params[1];
	json_t *detail;
	int rc;

	if (err) {
		pr_warn("callback from %s for withdrawal %s: store "
			"unavailable: %s",
			c->channel, c->nt.order_id, err);
		cb_end(c, 0);
		return;
	}
	if (!row) {
		pr_warn("callback from %s: no withdrawal %s here", c->channel,
			c->nt.order_id);
		cb_end(c, 0);
		return;
	}
	if (strcmp(row->channel, c->channel) != 0) {
		pr_err("callback from %s for withdrawal %s, which was sent to "
		       "channel %s: refused",
		       c->channel, row->id,
		       row->channel[0] ? row->channel : "(none)");
		cb_end(c, 0);
		return;
	}
	code = c->gen->codes ?
		       pr_codemap_lookup(c->gen->codes, c->driver, c->channel,
					 "notify", c->nt.code, c->nt.sub_code) :
		       NULL;
	if (!code) {
		const struct pr_channel *ch =
			pr_gen_channel(c->gen, c->channel);

		if (ch)
			pr_unmapped_note(c->d, ch, "notify", c->nt.code,
					 c->nt.sub_code, row->id,
					 c->nt.message);
	}
	if (!code || code->effect == PAYROUTE_EFFECT_UNKNOWN ||
	    code->effect == PAYROUTE_EFFECT_PROCESSING) {
		/* Says nothing final (e.g. a WeChat batch FINISHED): ask the
		 * channel now. */
		pr_info("callback from %s: withdrawal %s: %s/%s: checking "
			"with the channel",
			c->channel, row->id, c->nt.code, c->nt.sub_code);
		params[0] = row->id;
		pr_db_query(c->d->db, now_sql, 1, params, on_check_now, NULL);
		cb_end(c, 1);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.size = sizeof(res);
	snprintf(res.code, sizeof(res.code), "%s", c->nt.code);
	snprintf(res.sub_code, sizeof(res.sub_code), "%s", c->nt.sub_code);
	snprintf(res.message, sizeof(res.message), "%s", c->nt.message);
	snprintf(res.channel_trade_no, sizeof(res.channel_trade_no), "%s",
		 c->nt.channel_trade_no);
	snprintf(res.status, sizeof(res.status), "%s", c->nt.status);
	res.amount = c->nt.amount;
	u.id = row->id;
	u.from = WD_FROM(WD_PROCESSING) | WD_FROM(WD_UNKNOWN);
	u.to = code->effect == PAYROUTE_EFFECT_SUCCESS ? WD_SUCCEEDED :
							 WD_FAILED;
	u.code = code;
	u.res = &res;
	u.event = "callback";
	u.paid_amount = row->amount;
	u.check_s = 1;
	if (code->effect == PAYROUTE_EFFECT_SUCCESS && c->nt.amount >= 0 &&
	    c->nt.amount != row->amount) {
		pr_err("callback from %s: withdrawal %s paid out %lld but the "
		       "order is %lld: left unknown for an operator",
		       c->channel, row->id, (long long)c->nt.amount,
		       (long long)row->amount);
		u.to = WD_UNKNOWN;
		u.code = pr_code_core("AMOUNT_MISMATCH");
	}
	if (code->effect == PAYROUTE_EFFECT_SUCCESS && row->status == WD_FAILED)
		pr_err("callback from %s: withdrawal %s is failed but the "
		       "channel reports it paid out (%s): an operator must "
		       "reconcile it",
		       c->channel, row->id, c->nt.channel_trade_no);
	detail = json_pack("{s:s,s:s,s:s,s:s}", "channel", c->channel, "code",
			   u.code->unified, "channel_code", c->nt.code,
			   "channel_sub_code", c->nt.sub_code);
	u.detail = detail;
	rc = wd_update(c->d, &u, on_cb_applied, c);
	json_decref(detail);
	if (rc < 0) {
		pr_warn("callback from %s for withdrawal %s: store "
			"unavailable",
			c->channel, row->id);
		cb_end(c, 0);
	}
}

int pr_withdrawal_callback(struct pr_request *r, const struct pr_channel *ch,
			   const struct payroute_notify *nt,
			   void (*done)(int ok, void *arg), void *arg)
{
	struct wd_cb *c;

	if (!r || !ch || !nt || !done)
		return -EINVAL;
	if (!id_ok(nt->order_id)) {
		pr_warn("callback from %s: payout %.64s is not a withdrawal of "
			"ours",
			ch->code, nt->order_id);
		return -ENOENT;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = r->d;
	c->gen = r->gen;
	snprintf(c->channel, sizeof(c->channel), "%s", ch->code);
	snprintf(c->driver, sizeof(c->driver), "%s", ch->driver);
	c->nt = *nt;
	c->done = done;
	c->arg = arg;
	if (wd_load(r->d, c->nt.order_id, NULL, on_cb_loaded, c) < 0) {
		free(c);
		return -EAGAIN;
	}
	return 0;
}

/* ------------------------------------------------------------ the admin */

static void on_admin_row(PGresult *res, const char *err, void *arg)
{
	struct pr_request *r = arg;
	json_error_t jerr;
	json_t *j;

	if (!res) {
		reply_store_down(r, err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		pr_request_error(r, 404, "not_found", "no such withdrawal");
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	if (!j) {
		pr_request_error(r, 500, "internal", "bad JSON from the store");
		return;
	}
	pr_request_reply(r, 200, j);
}

int pr_withdrawals_admin_handle(struct pr_request *r)
{
	static const char sql[] =
		"SELECT jsonb_build_object("
		"'withdrawal', to_jsonb(w) - 'payee_account_enc' - "
		"'request_hash', "
		"'events', (SELECT coalesce(jsonb_agg(to_jsonb(e) - 'kind' - "
		"'order_id' ORDER BY e.id), '[]') FROM order_events e "
		"WHERE e.kind = 'withdrawal' AND e.order_id = w.id), "
		"'check', (SELECT to_jsonb(c) - 'kind' - 'order_id' "
		"FROM order_checks c WHERE c.kind = 'withdrawal' "
		"AND c.order_id = w.id), "
		"'notifications', (SELECT coalesce(jsonb_agg(jsonb_build_object("
		"'id', n.id, 'event', n.event, 'state', n.state, 'attempts', "
		"n.attempts, 'last_status', n.last_status, 'last_error', "
		"n.last_error) ORDER BY n.id), '[]') "
		"FROM merchant_notifications n WHERE n.kind = 'withdrawal' "
		"AND n.order_id = w.id))::text "
		"FROM withdrawals w WHERE w.id = $1";
	static const char prefix[] = "/admin/v1/withdrawals/";
	const char *params[1];

	if (strncmp(r->path, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	if (strcmp(pr_http_method(r->req), "GET") != 0) {
		method_not_allowed(r, "GET");
		return 1;
	}
	params[0] = r->path + sizeof(prefix) - 1;
	if (!id_ok(params[0])) {
		pr_request_error(r, 404, "not_found", "no such withdrawal");
		return 1;
	}
	if (pr_db_query(r->d->db, sql, 1, params, on_admin_row, r) < 0)
		reply_store_down(r, "reading the withdrawal");
	return 1;
}
