/*
 * sim.h - the channel simulator's shared types: the simulator (config,
 * keys, loop, HTTP client for notifications), its ledger of orders, refunds
 * and payouts, the fault scripts, the merchant-notification sinks, and the
 * interface between the HTTP front (paysim.c) and the three protocol
 * modules (sim_alipay.c, sim_wechat.c, sim_bank.c).
 *
 * Ownership: the struct sim owns everything reachable from it (ledger
 * entries, scripts, sinks and their records, keys, timers); ledger entries
 * and sinks live until /_sim/reset or exit. A struct sim_out owns its body
 * and header strings (free with sim_out_clear). Everything runs on one
 * libevent loop, but for the RSA signatures, which a pool of threads
 * computes (sim_sign.c).
 */
#ifndef PAYSIM_SIM_H
#define PAYSIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include <payroute/driver.h>

#include "domain/drvobj.h"

enum sim_chan {
	SIM_ALIPAY = 0,
	SIM_WECHAT = 1,
	SIM_BANK = 2,
};

/* Order states (neutral; each protocol maps them to its own words). */
enum sim_state {
	SIM_PENDING = 0,
	SIM_SUCCESS = 1,
	SIM_FAILED = 2,
	SIM_CLOSED = 3,
	SIM_PROCESSING = 4, /* refunds and payouts accepted, not final */
};

enum sim_pay_fault {
	SIM_PAY_AUTO = 0,
	SIM_PAY_SUCCESS,
	SIM_PAY_FAIL,
	SIM_PAY_NEVER
};
enum sim_cb_fault {
	SIM_CB_NORMAL = 0,
	SIM_CB_DROP,
	SIM_CB_DUPLICATE,
	SIM_CB_DELAY,
	SIM_CB_BAD_SIGNATURE,
	SIM_CB_OUT_OF_ORDER,
	SIM_CB_STALE,	    /* WeChat Pay: signed with a timestamp 10 min old */
	SIM_CB_NO_AMOUNT,   /* Alipay: total_amount left out (signed so) */
	SIM_CB_WRONG_AMOUNT /* Alipay: amounts 0.01 more than the order's */
};
enum sim_refund_fault {
	SIM_REFUND_NORMAL = 0,
	SIM_REFUND_PROCESSING,
	SIM_REFUND_ACCOUNT_CLOSED
};

/* One script's faults (all zero: none). */
struct sim_fault {
	int delay_ms;	 /* answer after this long */
	int timeout;	 /* do the work, never answer */
	int http_status; /* answer this status, do nothing */
	char code[64];	 /* answer this result code, do nothing */
	char sub_code[64];
	enum sim_pay_fault pay;
	enum sim_cb_fault callback;
	int callback_delay_ms; /* delay:MS, out_of_order:MS (0: default) */
	enum sim_refund_fault refund;
};

struct sim_order {
	enum sim_chan chan;
	char merchant[64]; /* app_id, mchid or merId */
	char out_trade_no[96];
	char trade_no[64];   /* the channel's number (alipay trade_no,
				   wechat transaction_id, bank queryId) */
	char token[40];	     /* qr / prepay token */
	char trade_type[24]; /* NATIVE, JSAPI, precreate, front... */
	char txn_time[16];   /* bank: the request's txnTime */
	char subject[128];
	char appid[40];	  /* wechat: appid; bank: channel of entry */
	char payer[64];	  /* wechat: payer openid; bank: card no tail */
	char *notify_url; /* owned; may be NULL */
	int64_t amount;	  /* minor units */
	int64_t refunded;
	char currency[4];
	enum sim_state state;
	int64_t created_ms, paid_ms;
	int notify_sent, notify_acked;
};

struct sim_refund {
	enum sim_chan chan;
	char merchant[64];
	char out_refund_no[96];
	char refund_id[64];
	char txn_time[16];
	struct sim_order *order;
	char *notify_url; /* owned; may be NULL */
	int64_t amount;
	enum sim_state state;
	enum sim_refund_fault fault;
	int64_t created_ms, done_ms;
	int notify_sent, notify_acked;
};

struct sim_payout {
	enum sim_chan chan;
	char merchant[64];
	char out_no[96];    /* out_biz_no, out_batch_no / out_bill_no,
				   orderId */
	char payout_id[64]; /* order_id, batch_id / transfer_bill_no */
	char detail_no[96]; /* wechat batch: out_detail_no */
	char detail_id[64];
	char txn_time[16];
	char payee[96];
	char kind[16]; /* wechat: "batch" or "bill" */
	char *notify_url;
	int64_t amount;
	enum sim_state state;
	int64_t created_ms, done_ms;
	int notify_sent, notify_acked;
};

/* A string-keyed hash map of borrowed pointers (sim_ledger.c). */
struct sim_map_ent;
struct sim_map {
	struct sim_map_ent **b;
	size_t nb, n;
};

struct sim_vec {
	void **v;
	size_t n, cap;
};

struct sim_alipay_app {
	char app_id[64];
	payroute_key *pub;
	/* Public-key certificate mode: the SN of the app's certificate
	 * (Alipay issued it, so it knows); "" for a public-key-mode app. */
	char app_cert_sn[64];
};
struct sim_wechat_mch {
	char mchid[64];
	char serial_no[64];
	payroute_key *pub;
	unsigned char apiv3_key[32];
};
struct sim_bank_mer {
	char mer_id[64];
	char cert_id[64];
	payroute_key *pub;
};

struct sim_timer;
struct sim_signer;

/* A signature still to compute (sim_sign.c): the message (owned, NUL
 * added) and the key (borrowed from struct sim). */
struct sim_sig {
	payroute_key *key;
	char *msg;
	size_t len;
};
/* What sim_sign() hands back in place of a deferred signature, and what
 * url-encoding makes of it; the front replaces both. \x01 never appears
 * raw in what jansson writes or pr_url_encode() makes. */
#define SIM_SIG_MARK "\x01SIG\x01"
#define SIM_SIG_MARK_URL "%01SIG%01"

/* Merchant-notification sinks (paysim.c): POST /_sim/sink/NAME records,
 * GET reads back. Bounded: see paysim.c. */
struct sim_sink;

struct sim {
	struct event_base *base;
	struct evhttp *http;
	struct pr_httpc *httpc;
	int notify_delay_ms;
	int auto_pay;
	int max_notify_attempts;
	/* alipay */
	payroute_key *alipay_key;
	struct sim_alipay_app *apps;
	size_t n_apps;
	/* certificate mode: the SNs of the certificate alipay_key belongs to
	 * and of the root bundle (both "" when not configured) */
	char alipay_cert_sn[64];
	char alipay_root_cert_sn[256];
	/* wechat */
	payroute_key *wechat_key;
	char wechat_serial[64];
	struct sim_wechat_mch *mchs;
	size_t n_mchs;
	/* bank */
	payroute_key *bank_key;
	char bank_cert_id[64];
	struct sim_bank_mer *mers;
	size_t n_mers;
	/* ledger */
	struct sim_map orders, orders_by_trade_no, refunds, payouts;
	struct sim_vec order_list, refund_list, payout_list;
	uint64_t seq;
	/* scripts */
	struct sim_map scripts; /* out_trade_no -> struct sim_fault * */
	struct sim_fault *wild; /* "*" */
	double wild_rate;
	struct sim_timer *timers; /* pending ledger timers (reset cancels) */
	uint64_t requests;
	struct sim_signer *signer; /* NULL: sign on the loop */
	/* sinks: name -> struct sim_sink *, owned; reset empties it */
	struct sim_map sinks;
	size_t sink_bytes;     /* what all their records hold */
	uint64_t sink_refused; /* deliveries to a new name past the limit */
	/* bills (sim_bill.c): a script per channel (owned), the private
	 * directory of the files, the last token */
	json_t *bill_script[3];
	char bill_dir[64];
	uint64_t bill_seq;
};

/* An inbound HTTP request, as the protocol modules see it. */
struct sim_req {
	struct evhttp_request *ev;
	const char *method; /* "GET", "POST" */
	const char *uri;    /* path?query exactly as received */
	const char *path;   /* decoded-free path, without query (owned by
				   the front) */
	const char *query;  /* NULL when none */
	const char *body;   /* NUL-terminated */
	size_t body_len;
	const char *host; /* the Host header, or "127.0.0.1" */
};

#define SIM_MAX_OUT_HEADERS 8

/* An answer built by a protocol module; the front sends it, possibly late
 * (fault.delay_ms) or never (fault.timeout). */
struct sim_out {
	int status;
	char *ctype;
	char *body; /* malloc'd, may be NULL (empty) */
	size_t body_len;
	char *hname[SIM_MAX_OUT_HEADERS], *hval[SIM_MAX_OUT_HEADERS];
	int n_headers;
	struct sim_fault fault; /* delay_ms / timeout apply */
	struct sim_sig sig;	/* a deferred signature of this answer */
	/* Alipay certificate mode: the answer names the certificate it is
	 * signed with (alipay_cert_sn); NULL for a public-key-mode call. */
	const char *alipay_cert_sn;
};

/* ---- paysim.c */
void sim_out_set(struct sim_out *o, int status, const char *ctype,
		 char *body_owned);
void sim_out_header(struct sim_out *o, const char *name, const char *value);
void sim_out_clear(struct sim_out *o);
int64_t sim_now_ms(void);
/* Times in Beijing time (the channels' clock): "yyyy-MM-dd HH:mm:ss",
 * RFC 3339 "+08:00", "yyyyMMddHHmmss". */
void sim_time_alipay(int64_t ms, char *buf, size_t len);
void sim_time_rfc3339(int64_t ms, char *buf, size_t len);
void sim_time_compact(int64_t ms, char *buf, size_t len);
/* A fresh id: prefix + date + sequence, e.g. "2024112522001..." */
void sim_new_id(struct sim *s, const char *prefix, char *buf, size_t len);
/* Random alphanumeric string of n chars into buf (n < len). */
void sim_random_str(char *buf, size_t n);
/* Runs fn(arg) after ms on the loop; cancelled (fn not called, arg freed
 * with free_arg) by sim_timers_cancel. */
void sim_timer_add(struct sim *s, int ms, void (*fn)(struct sim *, void *),
		   void *arg, void (*free_arg)(void *));
void sim_timers_cancel(struct sim *s);

/* Notifications. The request is copied, and so is `sig` (may be NULL):
 * a deferred signature whose markers in the request are replaced before
 * it leaves. When `ack_body` is non-NULL, the receiver must answer 2xx
 * with exactly that body (trimmed), else any 2xx counts. kind/key name the
 * ledger entry whose notify counters to bump ('o' order, 'r' refund, 'p'
 * payout). Failed deliveries are retried. */
void sim_notify_send(struct sim *s, const struct payroute_http_req *req,
		     const struct sim_sig *sig, const char *ack_body, char kind,
		     enum sim_chan chan, const char *key, int delay_ms);

/* ---- form helpers (paysim.c) */
struct sim_kv {
	char *k, *v;
};
struct sim_form {
	struct sim_kv *kv;
	size_t n;
};
/* Parses "a=b&c=d" (url-decoded). Returns 0 or -EINVAL. Appends. */
int sim_form_parse(struct sim_form *f, const char *text, size_t len);
const char *sim_form_get(const struct sim_form *f, const char *k);
int sim_form_add(struct sim_form *f, const char *k, const char *v);
void sim_form_free(struct sim_form *f);
/* The sorted "k=v&..." of non-empty params, leaving out the named keys
 * (NULL-terminated list). malloc'd. */
char *sim_form_sign_string(const struct sim_form *f, const char *const *skip);
/* "k=v&..." in insertion order, values url-encoded when `encode`. */
char *sim_form_serialize(const struct sim_form *f, int encode);

/* ---- money */
/* "88.88" -> 8888; -1 when malformed. */
int64_t sim_parse_yuan(const char *s);
void sim_fmt_yuan(int64_t cents, char *buf, size_t len);

/* ---- faults / scripts (sim_ledger.c) */
/* Returns the fault for the first key that has a script (keys may be
 * NULL), else the "*" script with its rate; NULL when none. The result is
 * copied into *out. */
int sim_fault_lookup(struct sim *s, const char *key1, const char *key2,
		     struct sim_fault *out);
int sim_script_set(struct sim *s, json_t *req, char *err, size_t errlen);

/* ---- ledger (sim_ledger.c) */
void sim_map_init(struct sim_map *m);
void *sim_map_get(const struct sim_map *m, const char *key);
int sim_map_put(struct sim_map *m, const char *key, void *val);
void sim_map_del(struct sim_map *m, const char *key);
void sim_map_clear(struct sim_map *m, void (*free_val)(void *));
/* Calls fn(key, val, arg) for every entry, in no particular order; fn
 * must not change the map. */
void sim_map_foreach(const struct sim_map *m,
		     void (*fn)(const char *key, void *val, void *arg),
		     void *arg);

const char *sim_chan_name(enum sim_chan c);
int sim_chan_parse(const char *name);
const char *sim_state_name(enum sim_state st);

struct sim_order *sim_order_find(struct sim *s, enum sim_chan c,
				 const char *out_trade_no);
struct sim_order *sim_order_find_trade_no(struct sim *s, enum sim_chan c,
					  const char *trade_no);
/* Creates a pending order (trade_no assigned) and schedules its payment as
 * auto_pay and the scripts say. */
struct sim_order *sim_order_new(struct sim *s, enum sim_chan c,
				const char *merchant, const char *out_trade_no,
				int64_t amount, const char *currency,
				const char *notify_url);
/* The payer pays (success) or the payment fails; sends the notification.
 * Returns 0 or -EALREADY when the order is not pending. */
int sim_order_settle(struct sim *s, struct sim_order *o, int success);
/* The same, for an order the answer being built says is settled: its
 * notification leaves on the loop's next turn, after that answer (whose
 * signature is queued when the handler returns), as a channel's does. */
int sim_order_settle_answered(struct sim *s, struct sim_order *o, int success);
struct sim_refund *sim_refund_find(struct sim *s, enum sim_chan c,
				   const char *out_refund_no);
/* Creates a refund; it succeeds at once (sync=1) or after notify_delay_ms
 * (sync=0), unless scripted. */
struct sim_refund *sim_refund_new(struct sim *s, struct sim_order *o,
				  const char *out_refund_no, int64_t amount,
				  const char *notify_url, int sync);
struct sim_payout *sim_payout_find(struct sim *s, enum sim_chan c,
				   const char *out_no);
struct sim_payout *sim_payout_new(struct sim *s, enum sim_chan c,
				  const char *merchant, const char *out_no,
				  int64_t amount, const char *notify_url,
				  int sync);
json_t *sim_ledger_json(struct sim *s);
json_t *sim_stats_json(struct sim *s);
void sim_ledger_reset(struct sim *s);
/* Bumps the notify counters of the named entry, if it still exists. */
void sim_ledger_notified(struct sim *s, char kind, enum sim_chan chan,
			 const char *key, int acked);

/* ---- bills (sim_bill.c) */
/* POST /_sim/bill_script: see sim_bill.c. 0 or -EINVAL with err. */
int sim_bill_script_set(struct sim *s, json_t *req, char *err, size_t errlen);
/* Writes the bill of channel c for merchant and day (YYYY-MM-DD, Beijing)
 * to a new file: 0 with its token and, for WeChat Pay (SHA1 of the bill)
 * and the bank (SHA-256 of the zip), its digest in hex (else ""); -ENOENT
 * when the bill has no row; -EINVAL, -EIO. */
int sim_bill_make(struct sim *s, enum sim_chan c, const char *merchant,
		  const char *day, char *token, size_t tlen, char *hash,
		  size_t hlen);
/* The file of token, malloc'd (NUL added), its length in *len; NULL when
 * there is none. */
char *sim_bill_read(struct sim *s, const char *token, size_t *len);
/* Forgets the scripts and removes the files (reset), and the directory
 * (exit). */
void sim_bill_reset(struct sim *s);
void sim_bill_cleanup(struct sim *s);
/* Serves the file named by the query's token= (or 404). */
void sim_bill_serve(struct sim *s, const struct sim_req *rq,
		    struct sim_out *out);

/* ---- signatures (sim_sign.c) */
/* SHA256withRSA of msg with key into *sig (base64, malloc'd). With a pool
 * and a free `defer` slot (an answer's out->sig, a notification's), the
 * message is copied into *defer and *sig is SIM_SIG_MARK, to be put where
 * the signature goes; otherwise it signs at once. 0 or a negative errno. */
int sim_sign(struct sim *s, struct sim_sig *defer, payroute_key *key,
	     const void *msg, size_t len, char **sig);
void sim_sig_clear(struct sim_sig *g);
/* text with every SIM_SIG_MARK replaced by sig and every SIM_SIG_MARK_URL
 * by its url-encoded form: malloc'd, NUL-terminated, length in *out_len;
 * NULL when out of memory. */
char *sim_sig_splice(const char *text, size_t len, const char *sig,
		     size_t *out_len);
/* Starts `threads` signing threads (0: none, sign on the loop). */
int sim_signer_start(struct sim *s, int threads);
/* Stops the threads; signs what is left and calls it back first. */
void sim_signer_stop(struct sim *s);
/* Queues a copy of sig; cb(s, signature or NULL on failure, arg) runs on
 * the loop, in submission order. 0 or a negative errno (cb not called). */
int sim_signer_submit(struct sim *s, const struct sim_sig *sig,
		      void (*cb)(struct sim *, const char *sig, void *arg),
		      void *arg);
/* {"threads", "signatures", "failures", "pending"} for /_sim/stats. */
json_t *sim_signer_json(struct sim *s);

/* ---- protocols */
void sim_alipay_handle(struct sim *s, const struct sim_req *rq,
		       struct sim_out *out);
void sim_wechat_handle(struct sim *s, const struct sim_req *rq,
		       struct sim_out *out);
void sim_bank_handle(struct sim *s, const struct sim_req *rq,
		     struct sim_out *out);
/* Notifications for an order / refund / payout that just changed state.
 * fault: the scripted callback fault: SIM_CB_BAD_SIGNATURE signs
 * something else, SIM_CB_STALE (WeChat Pay) signs with an old timestamp,
 * SIM_CB_NO_AMOUNT (Alipay) leaves total_amount out, SIM_CB_WRONG_AMOUNT
 * (Alipay) says 0.01 more was paid than the order's amount (all signed as
 * sent); the protocols ignore the faults they have no such thing for.
 * Return a built
 * request in *req (caller clears), its signature possibly deferred into
 * *sig (caller clears), or a negative errno when the protocol sends none
 * for this change. ack_body: what the receiver must answer. */
int sim_alipay_notice(struct sim *s, char kind, void *ent,
		      enum sim_cb_fault fault, struct payroute_http_req *req,
		      struct sim_sig *sig, const char **ack_body);
int sim_wechat_notice(struct sim *s, char kind, void *ent,
		      enum sim_cb_fault fault, struct payroute_http_req *req,
		      struct sim_sig *sig, const char **ack_body);
int sim_bank_notice(struct sim *s, char kind, void *ent,
		    enum sim_cb_fault fault, struct payroute_http_req *req,
		    struct sim_sig *sig, const char **ack_body);

#endif
