/*
 * payroute/driver.h - the payroute channel driver ABI, version 1.
 *
 * A driver is a codec, not a client. payrouted owns sockets, TLS, timeouts,
 * retries, metrics and the event loop; a driver only translates:
 *
 *   build_*        a domain request + the channel's state -> an HTTP request
 *                  description (method, URL, headers, body), written through
 *                  the services table into a core-owned handle;
 *   parse_*        the HTTP response -> a domain result (channel code, sub
 *                  code, message, channel trade number, payer payload);
 *   parse_notify   an inbound callback -> a verified notification, or a
 *                  rejection when its signature does not verify;
 *   init / fini    check a channel's driver config once and keep an opaque
 *                  per-channel state;
 *   default_codes  the driver's built-in result-code table;
 *   config_keys    (ABI 1.2) the keys its driver config takes, so that the
 *                  core can check a config before init and explain it;
 *   bills          (ABI 1.3) the request for a day's bill, where its file
 *                  is, and a streaming reader of the file's rows (see
 *                  "Bills" below).
 *
 * This header is self-contained (C99, no other payroute header, no library
 * types) and is installed with payroute-driver.pc. A driver exports exactly
 * one symbol, PAYROUTE_DRIVER_SYMBOL, a function returning its descriptor:
 *
 *     static const struct payroute_config_key my_keys[] = {
 *             { "endpoint", PAYROUTE_CONFIG_STRING,
 *               PAYROUTE_CONFIG_REQUIRED, NULL, "the channel's base URL" },
 *     };
 *     static const struct payroute_config_key *my_config_keys(
 *             size_t *n, size_t *entry_size)
 *     {
 *             *n = sizeof(my_keys) / sizeof(my_keys[0]);
 *             *entry_size = sizeof(my_keys[0]);
 *             return my_keys;
 *     }
 *     static const struct payroute_driver my_driver = {
 *             PAYROUTE_DRIVER_HEADER_V1,
 *             .name = "mychannel",
 *             .version = "1.0.0",
 *             .init = my_init,
 *             .config_keys = my_config_keys,
 *             ...
 *     };
 *     PAYROUTE_DRIVER_EXPORT(my_driver)
 *
 * and links with `libtool -module -avoid-version
 * -export-symbols-regex '^payroute_driver_entry$'`.
 *
 * Versioning. The descriptor opens with a magic number, the ABI major and
 * minor it was built against and its own sizeof. The loader checks them
 * before running any other driver code: a wrong magic or a different major
 * is refused; a smaller descriptor than the v1 layout is refused; a larger
 * minor than the core's is refused (the driver may rely on services the core
 * does not have). Every struct that crosses the boundary carries its size as
 * its first member, set by whoever allocated it; fields are only ever
 * appended. Use PAYROUTE_HAS_FIELD() before reading a field that was added
 * after the minor you require.
 *
 * Minor versions (each only appends):
 *   1.0  the first release.
 *   1.1  adds payroute_order.auth_code (barcode payments). A driver reads
 *        it only when PAYROUTE_HAS_FIELD(o, struct payroute_order,
 *        auth_code): a 1.0 core never set it (and refuses a driver built
 *        for 1.1 anyway), while a driver built for 1.0 keeps loading in a
 *        1.1 core and never looks at it.
 *        1.1 also adds services->rsa_encrypt (the first of the spare
 *        slots, so sizeof(struct payroute_services) is unchanged). A
 *        driver uses it only when svc->abi_minor >= 1 and the pointer is
 *        not NULL (PAYROUTE_HAS_RSA_ENCRYPT() checks both): a 1.0 core
 *        left that slot NULL.
 *   1.2  adds payroute_driver.config_keys, the first of the descriptor's
 *        spare slots (sizeof(struct payroute_driver) is unchanged), and
 *        struct payroute_config_key: a driver declares its config keys
 *        (name, type, required, secret, default, a one-line description).
 *        The core reads it only from a driver that says 1.2 or later
 *        (PAYROUTE_HAS_CONFIG_KEYS()); with it the core refuses a channel
 *        config with an unknown key (suggesting the closest declared
 *        one), a missing required key or a value of the wrong JSON type,
 *        before init runs, and the admin API, payroutectl and the console
 *        show the keys. A driver built for 1.0 or 1.1 declares nothing:
 *        it keeps loading, and its config is checked only by its own init
 *        (unknown keys pass, as before).
 *        1.2 also adds three services in the spare slots of the services
 *        table (whose sizeof is unchanged): md5, x509_info and
 *        x509_verify, for channels that identify certificates by digests
 *        of their names and serials and want their chains checked (Alipay's
 *        public-key certificate mode). PAYROUTE_HAS_X509() checks that the
 *        core offers them. And it documents -ESTALE, which parse_notify
 *        (and a parser) may return for a message whose timestamp is out of
 *        the accepted window; an older core logs it as "not understood"
 *        and answers the channel's failure reply all the same.
 *   1.3  adds the bill operations in the descriptor's next six spare
 *        slots (build_bill, parse_bill, build_bill_download, bill_open,
 *        bill_next, bill_close; sizeof(struct payroute_driver) is
 *        unchanged), the structs payroute_bill_req, payroute_bill_file
 *        and payroute_bill_row, and three services in the spare slots of
 *        the services table: hash_begin, hash_update, hash_end (an
 *        incremental SHA-1 or SHA-256, PAYROUTE_HAS_HASH()). The core
 *        reads the bill slots only from a driver that says 1.3 or later
 *        (PAYROUTE_HAS_BILLS()), and refuses at load one that sets some
 *        of build_bill, parse_bill, bill_open, bill_next and bill_close
 *        but not all (build_bill_download is optional). A driver built
 *        for an older minor offers no bills: its channels are not
 *        reconciled.
 *
 * Bills (ABI 1.3). Once a day the core fetches each channel's bill for a
 * calendar day (in the channel's time zone) and matches it against its
 * own orders. The driver, still a codec:
 *   build_bill           writes the request asking for the bill of
 *                        req->day, part req->part (a bill of several
 *                        files asks part 0, 1, ... until -ENOENT);
 *   parse_bill           reads the answer into a struct payroute_bill_file:
 *                        where the file is (a URL) and, optionally, the
 *                        digest it must have; -ENOENT when the channel
 *                        says there is no bill for that day (no trade);
 *   build_bill_download  (optional) the request for that URL, when it
 *                        must be signed; NULL: the core GETs the URL;
 *   bill_open, bill_next, bill_close
 *                        a reader over the downloaded file, which the core
 *                        spools to disk and hands over as a file
 *                        descriptor (seekable, read-only, owned by the
 *                        core: dup() it to keep it). bill_next yields one
 *                        row at a time, so that a bill of a million rows is
 *                        never in memory at once; at the end of the file it
 *                        checks the bill's own totals (summary lines) and
 *                        the digest (unless bill_open did), and answers
 *                        -EBADMSG when they disagree with what was read.
 *
 * Ownership. Unless a comment says otherwise:
 *   - every pointer the core passes in is owned by the core and valid only
 *     for the duration of the call; copy what you keep;
 *   - strings are NUL-terminated UTF-8;
 *   - memory that a service function returns to the driver (a signature, an
 *     encoding) is released by the driver with services->free();
 *   - the descriptor and the code table are static data of the driver and
 *     must stay valid while the module is loaded.
 *
 * Return values: 0 on success, a negative errno-style code on failure
 * (-EINVAL bad input, -ENOMEM, -ENOTSUP operation not supported, -EBADMSG
 * signature or format check failed, -EPROTO unexpected answer, -ESTALE
 * (ABI 1.2) a message whose timestamp is outside the accepted window, a
 * replay or a clock gone wrong, not a bad signature). Functions that can
 * fail with a detail also fill an error buffer.
 */
#ifndef PAYROUTE_DRIVER_H
#define PAYROUTE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAYROUTE_DRIVER_MAGIC 0x50524456u /* "PRDV" */
#define PAYROUTE_ABI_MAJOR 1
#define PAYROUTE_ABI_MINOR 3

/* The one symbol a driver exports (a function: dlsym is only promised for
 * functions). */
#define PAYROUTE_DRIVER_SYMBOL "payroute_driver_entry"

#if defined(__GNUC__)
#define PAYROUTE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define PAYROUTE_EXPORT __attribute__((visibility("default")))
#else
#define PAYROUTE_PRINTF(f, a)
#define PAYROUTE_EXPORT
#endif

/* True when the struct of type `type` pointed to by p (whose first member
 * is its size) is large enough to contain the member m. */
#define PAYROUTE_HAS_FIELD(p, type, m)                                         \
	((size_t)(p)->size >= offsetof(type, m) + sizeof(((type *)0)->m))

/* Fixed sizes of the short strings in results; all are NUL-terminated and
 * truncated to fit. */
#define PAYROUTE_CODE_LEN 64
#define PAYROUTE_MSG_LEN 256
#define PAYROUTE_ID_LEN 96

/* ------------------------------------------------------------------------ */
/* Opaque handles owned by the core                                         */
/* ------------------------------------------------------------------------ */

/* An outbound HTTP request being built by build_*(); written only through
 * services->http_*(). */
typedef struct payroute_http_req payroute_http_req;
/* A string map (the payer payload of a result: qr_code, pay_url, form,
 * prepay_id, ...); written through services->kv_set(). */
typedef struct payroute_kv payroute_kv;
/* A channel's driver config (a JSON object), read through services->conf_*. */
typedef struct payroute_conf payroute_conf;
/* A loaded RSA key (public or private). */
typedef struct payroute_key payroute_key;

/* ------------------------------------------------------------------------ */
/* Enumerations                                                             */
/* ------------------------------------------------------------------------ */

enum payroute_log_level {
	PAYROUTE_LOG_ERROR = 0,
	PAYROUTE_LOG_WARN = 1,
	PAYROUTE_LOG_INFO = 2,
	PAYROUTE_LOG_DEBUG = 3,
};

/* What a channel answer does to an order. */
enum payroute_effect {
	PAYROUTE_EFFECT_UNKNOWN = 0,	/* outcome unknown: chase by query */
	PAYROUTE_EFFECT_SUCCESS = 1,	/* final, money moved */
	PAYROUTE_EFFECT_FAILED = 2,	/* final, no money moved */
	PAYROUTE_EFFECT_PROCESSING = 3, /* accepted, outcome later */
	PAYROUTE_EFFECT_CLOSED = 4,	/* final, closed / cancelled */
};

enum payroute_category {
	PAYROUTE_CAT_NONE = 0,
	PAYROUTE_CAT_USER = 1,	  /* the payer can fix it (balance, password) */
	PAYROUTE_CAT_RISK = 2,	  /* refused by risk control */
	PAYROUTE_CAT_LIMIT = 3,	  /* a limit was hit */
	PAYROUTE_CAT_CHANNEL = 4, /* the channel or its config */
	PAYROUTE_CAT_SYSTEM = 5,  /* transient system trouble */
};

/* Which kind of order a notification or query concerns. */
enum payroute_order_kind {
	PAYROUTE_KIND_PAYMENT = 1,
	PAYROUTE_KIND_REFUND = 2,
	PAYROUTE_KIND_PAYOUT = 3,
};

/* Hash algorithms of services->hash_begin (ABI 1.3). */
enum payroute_hash_alg {
	PAYROUTE_HASH_SHA1 = 1, /* WeChat Pay's bill digests */
	PAYROUTE_HASH_SHA256 = 2,
};

/* Paddings of services->rsa_encrypt (ABI 1.1). */
enum payroute_rsa_padding {
	/* RSAES-OAEP with SHA-1 and MGF1-SHA-1, empty label: OpenSSL's
	 * RSA_PKCS1_OAEP_PADDING, Java's RSA/ECB/OAEPWithSHA-1AndMGF1Padding
	 * (WeChat Pay API v3 sensitive fields). At most k - 42 bytes of
	 * input for a k-byte modulus (214 for RSA-2048). */
	PAYROUTE_RSA_OAEP_SHA1 = 1,
	/* RSAES-PKCS1-v1_5 (UnionPay's accNo and encryptedInfo). At most
	 * k - 11 bytes (245 for RSA-2048). */
	PAYROUTE_RSA_PKCS1 = 2,
};

/* The type of a config key's value (ABI 1.2), as the channel's
 * driver_config JSON holds it. */
enum payroute_config_type {
	PAYROUTE_CONFIG_STRING = 1,  /* a JSON string */
	PAYROUTE_CONFIG_INTEGER = 2, /* a JSON integer (no fraction, no
	                                exponent) */
	PAYROUTE_CONFIG_BOOLEAN = 3, /* true or false */
	/* A key or a certificate (bundle), as services->key_load and the x509
	 * services take it: PEM text, a bare base64 DER body, or "@/path" to
	 * a file holding either. */
	PAYROUTE_CONFIG_PEM = 4,
};

/* Flags of a config key (ABI 1.2). */
#define PAYROUTE_CONFIG_REQUIRED 0x1u /* a config without it is refused */
#define PAYROUTE_CONFIG_SECRET 0x2u   /* masked ("********") when read back */

/* ------------------------------------------------------------------------ */
/* Data crossing the boundary                                               */
/* ------------------------------------------------------------------------ */

/* One HTTP header, as the core hands them over (read-only). */
struct payroute_header {
	const char *name;
	const char *value;
};

/* The order a build_* or parse_* call is about. Filled by the core; every
 * string may be NULL when it does not apply to the operation. */
struct payroute_order {
	uint32_t size; /* sizeof(struct payroute_order) as the core built it */
	uint32_t reserved;
	const char *order_id; /* payroute's id: the channel's out_trade_no */
	const char *channel_trade_no; /* the channel's own number, once known */
	int64_t amount;		      /* minor units of currency */
	char currency[4];	      /* ISO 4217, e.g. "CNY" */
	const char *method;	      /* alipay, wechat_pay, debit_card, ... */
	const char *environment; /* h5, mini_program, app, pc, native_qr, jsapi */
	const char *product_code;
	const char *subject;
	const char *buyer_id;
	const char *card_no;	/* in clear; never log it */
	const char *bank_code;	/* already mapped to the channel's bank code */
	const char *notify_url; /* where the channel must send callbacks */
	const char *client_ip;
	/* When this order was created, ms since the epoch, UTC: the payment's
	 * for pay, query and close, the refund's for refund and refund_query,
	 * the payout's for payout and payout_query (UnionPay repeats it as
	 * txnTime in its queries). */
	int64_t created_at_ms;
	int64_t expire_at_ms; /* 0: none */
	/* refunds (refund, refund_query) */
	const char *refund_id; /* payroute's refund id: out_request_no */
	int64_t refund_amount;
	int64_t total_amount; /* the original payment's amount */
	const char *reason;
	/* payouts (payout, payout_query) */
	const char *payout_id;
	const char *payee_kind; /* bank_card, alipay_account, wechat_openid */
	const char *payee_account; /* in clear; never log it */
	const char *payee_name;
	const char *payee_bank_code;
	/* ABI 1.1 (check with PAYROUTE_HAS_FIELD before reading) */
	const char *auth_code; /* barcode payments: the payer's payment code;
	                          never log it */
};

/* An HTTP response as received by the core (read-only for the driver). */
struct payroute_http_response {
	uint32_t size;
	int status; /* HTTP status; 0 when no response arrived */
	const struct payroute_header *headers;
	size_t n_headers;
	const char *body; /* NUL-terminated for convenience; may contain NULs */
	size_t body_len;
};

/* The outcome of a parse_* call. The core zeroes it, sets size and payer,
 * and reads it after the call. */
struct payroute_result {
	uint32_t size;
	uint32_t reserved;
	char code[PAYROUTE_CODE_LEN];	  /* the channel's code, e.g. "10000" */
	char sub_code[PAYROUTE_CODE_LEN]; /* e.g. "ACQ.TRADE_HAS_SUCCESS" */
	char message[PAYROUTE_MSG_LEN];	  /* the channel's text, for logs */
	char channel_trade_no[PAYROUTE_ID_LEN];
	char status[PAYROUTE_CODE_LEN]; /* the channel's order status, e.g.
	                                     TRADE_SUCCESS, SUCCESS, USERPAYING */
	int64_t amount;			/* amount the channel reports, or -1 */
	payroute_kv *payer; /* what the payer needs (qr_code, pay_url, form,
	                       prepay_id...): add with services->kv_set() */
};

/* An inbound callback (POST /notify/{channel}), read-only. */
struct payroute_inbound {
	uint32_t size;
	uint32_t reserved;
	const char *method;
	const char *path;  /* without the query string */
	const char *query; /* may be NULL */
	const struct payroute_header *headers;
	size_t n_headers;
	const char *body;
	size_t body_len;
	int64_t received_at_ms;
};

/* A verified notification, filled by parse_notify(). The core zeroes it and
 * sets size; the driver fills what it found. */
struct payroute_notify {
	uint32_t size;
	uint32_t reserved;
	enum payroute_order_kind kind;
	char order_id[PAYROUTE_ID_LEN];	 /* payroute's id (out_trade_no) */
	char refund_id[PAYROUTE_ID_LEN]; /* for refund notifications */
	char channel_trade_no[PAYROUTE_ID_LEN];
	char code[PAYROUTE_CODE_LEN];
	char sub_code[PAYROUTE_CODE_LEN];
	char status[PAYROUTE_CODE_LEN];
	char message[PAYROUTE_MSG_LEN];
	int64_t amount; /* -1 when the notification carries none */
	/* What to answer the channel when the core has accepted the
	 * notification, and when it has not (e.g. "success" / "fail"). */
	int reply_ok_status;
	int reply_fail_status;
	char reply_content_type[PAYROUTE_CODE_LEN];
	char reply_ok_body[PAYROUTE_MSG_LEN];
	char reply_fail_body[PAYROUTE_MSG_LEN];
};

/* One row of a driver's default result-code table. op is one of "pay",
 * "query", "close", "refund", "refund_query", "payout", "payout_query",
 * "notify" or "*"; code and sub_code match exactly, or "*" for any. */
struct payroute_code_entry {
	const char *op;
	const char *code;
	const char *sub_code;
	const char *unified; /* payroute's code, e.g. "INSUFFICIENT_BALANCE" */
	enum payroute_effect effect;
	int retryable; /* may be retried on another channel */
	enum payroute_category category;
	const char *message_en; /* for the end user */
	const char *message_zh;
};

/* One key of a driver's config (ABI 1.2), a row of the table that
 * config_keys() returns; static data of the driver, like the code table.
 * The keys are the top-level members of the channel's driver_config
 * object. */
struct payroute_config_key {
	const char *name; /* [a-z0-9_]{1,64}, unique in the table */
	enum payroute_config_type type;
	uint32_t flags; /* PAYROUTE_CONFIG_REQUIRED | PAYROUTE_CONFIG_SECRET */
	/* What the driver does without the key, for people ("RSA2",
	 * "false", "300"), or NULL. The core does not apply it: init reads
	 * the config as given. It must be a valid value of the type, and a
	 * required key has none. */
	const char *default_value;
	/* One line (no newline), for people: what the key is, where it
	 * comes from, when it is needed. Not NULL. */
	const char *description;
};

/* What services->x509_info tells of one certificate (ABI 1.2). The driver
 * allocates it and sets size; the core fills what fits in size. Every
 * string is NUL-terminated; one that does not fit fails the call
 * (-EOVERFLOW) rather than being cut. */
#define PAYROUTE_X509_NAME_LEN 512
struct payroute_x509_info {
	uint32_t size;
	uint32_t reserved;
	/* The issuer's and the subject's distinguished names: their
	 * attributes from the last one in the certificate to the first (the
	 * order of RFC 4514 strings and of Java's X500Principal.getName()),
	 * each as SHORTNAME=value with OpenSSL's short names (C, ST, L, O, OU,
	 * CN, emailAddress...; the OID in dotted form for one without),
	 * values as UTF-8 text without any escaping, joined by ",". E.g.
	 * "CN=Ant Financial Certification Authority Class 2 R1,
	 * OU=Certification Authority,O=Ant Financial,C=CN" (without the
	 * spaces after the commas). */
	char issuer[PAYROUTE_X509_NAME_LEN];
	char subject[PAYROUTE_X509_NAME_LEN];
	char serial_dec[PAYROUTE_CODE_LEN]; /* the serial number in decimal */
	char serial_hex[PAYROUTE_CODE_LEN]; /* in upper-case hex, no leading
	                                       zeros ("0" for zero) */
	/* The dotted OID of the algorithm the issuer signed the certificate
	 * with, e.g. "1.2.840.113549.1.1.11" (sha256WithRSAEncryption). */
	char sig_alg_oid[PAYROUTE_CODE_LEN];
	char key_type[16]; /* the subject key's type: "RSA", "EC", "SM2"... */
	int64_t not_before_ms; /* validity, ms since the epoch (UTC) */
	int64_t not_after_ms;
	int is_ca; /* basicConstraints cA is set */
	int reserved2;
};

/* The bill a build_bill / parse_bill / bill_open call is about (ABI 1.3),
 * filled by the core. */
struct payroute_bill_req {
	uint32_t size; /* sizeof(struct payroute_bill_req) as the core built it */
	uint32_t part;	 /* 0, 1, ...: the part of the day's bill */
	const char *day; /* "YYYY-MM-DD", a calendar day of the channel's
	                    time zone */
};

#define PAYROUTE_URL_LEN 2048

/* Where a bill's file is (ABI 1.3), filled by parse_bill. The core zeroes
 * it and sets size. */
struct payroute_bill_file {
	uint32_t size;
	uint32_t reserved;
	char url[PAYROUTE_URL_LEN]; /* http(s) URL of the file */
	/* The digest the file must have, as the channel announced it, in
	 * lower- or upper-case hex, and its algorithm; "" when the channel
	 * announces none. The reader checks it (the channel says over which
	 * bytes: WeChat Pay's is of the bill decompressed). */
	char hash_alg[16]; /* "SHA1", "SHA256" */
	char hash_hex[136];
};

/* One row of a bill (ABI 1.3), filled by bill_next. The core zeroes it and
 * sets size before each call. Amounts are minor units of currency,
 * positive: a refund row's amount is the amount refunded. */
struct payroute_bill_row {
	uint32_t size;
	uint32_t reserved;
	enum payroute_order_kind kind; /* payment, refund or payout */
	int32_t reserved2;
	/* The channel's number: the trade's, or for a refund the refund's
	 * own when the bill has one, else the trade's. */
	char channel_trade_no[PAYROUTE_ID_LEN];
	/* payroute's id as the channel echoes it: the payment's id
	 * (out_trade_no) for payments and refunds, the payout's id for
	 * payouts. */
	char order_id[PAYROUTE_ID_LEN];
	char refund_id[PAYROUTE_ID_LEN]; /* refunds: payroute's refund id */
	int64_t amount;
	/* The fee the channel charged for the row, minor units: positive
	 * when charged, negative when given back (a refund's share). */
	int64_t fee;
	char currency[4];
	/* The channel's status text for the row ("SUCCESS", "REFUND",
	 * "交易"...), for people, and what it means: */
	char status[PAYROUTE_CODE_LEN];
	enum payroute_effect effect; /* SUCCESS: money moved */
	int64_t at_ms;		     /* when, ms since the epoch, UTC */
	uint64_t line;		     /* the row's line in the file, from 1 */
};

/* ------------------------------------------------------------------------ */
/* Services the core hands to drivers at init                               */
/* ------------------------------------------------------------------------ */

struct payroute_services {
	uint32_t size; /* sizeof(struct payroute_services) in the core */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* Logging, tagged with the channel code. Never log secrets. */
	void (*log)(enum payroute_log_level level, const char *channel,
		    const char *fmt, ...) PAYROUTE_PRINTF(3, 4);

	/* Wall clock, milliseconds since the epoch (UTC). */
	int64_t (*now_ms)(void);

	/* Memory, for anything the driver hands back to the core or frees
	 * after a service returned it. */
	void *(*alloc)(size_t size);
	void (*free)(void *ptr);

	/* Channel config (a JSON object; keys may be dotted paths "a.b"). */
	const char *(*conf_str)(const payroute_conf *conf, const char *key);
	/* Returns 0 and sets *out, -ENOENT when missing, -EINVAL wrong type. */
	int (*conf_int)(const payroute_conf *conf, const char *key,
			int64_t *out);
	int (*conf_bool)(const payroute_conf *conf, const char *key, int *out);

	/* Building an outbound request. Each copies its arguments. */
	int (*http_set)(payroute_http_req *req, const char *method,
			const char *url);
	int (*http_header)(payroute_http_req *req, const char *name,
			   const char *value);
	int (*http_body)(payroute_http_req *req, const void *data, size_t len);
	/* Per-request timeout override in milliseconds (0: the core's). */
	int (*http_timeout)(payroute_http_req *req, int timeout_ms);

	/* String maps (the payer payload). Copies key and value. */
	int (*kv_set)(payroute_kv *kv, const char *key, const char *value);

	/* RSA keys from PEM text or a file ("@/path/key.pem"). A private key
	 * when is_private, else a public key or an X.509 certificate. */
	int (*key_load)(const char *pem_or_path, int is_private,
			payroute_key **out, char *err, size_t errlen);
	void (*key_free)(payroute_key *key);
	/* SHA256withRSA (PKCS#1 v1.5). *sig_b64 is allocated: services->free. */
	int (*rsa_sha256_sign)(const payroute_key *key, const void *data,
			       size_t len, char **sig_b64);
	/* 0 when valid, -EBADMSG when not. */
	int (*rsa_sha256_verify)(const payroute_key *key, const void *data,
				 size_t len, const char *sig_b64);

	/* AES-256-GCM. key: 32 bytes. Encrypt writes len + 16 bytes
	 * (ciphertext then tag) to *out; decrypt takes ciphertext then tag and
	 * returns -EBADMSG when the tag does not verify. *out is allocated
	 * (len + 1 bytes at least, NUL-terminated): services->free. */
	int (*aes256gcm_encrypt)(const unsigned char key[32],
				 const unsigned char *iv, size_t iv_len,
				 const void *aad, size_t aad_len,
				 const void *in, size_t len,
				 unsigned char **out, size_t *out_len);
	int (*aes256gcm_decrypt)(const unsigned char key[32],
				 const unsigned char *iv, size_t iv_len,
				 const void *aad, size_t aad_len,
				 const void *in, size_t len,
				 unsigned char **out, size_t *out_len);

	/* Digests. out must hold 32 bytes. */
	int (*hmac_sha256)(const void *key, size_t key_len, const void *data,
			   size_t len, unsigned char out[32]);
	int (*sha256)(const void *data, size_t len, unsigned char out[32]);

	/* Encodings; results are allocated: services->free. */
	char *(*base64_encode)(const void *data, size_t len);
	int (*base64_decode)(const char *text, unsigned char **out,
			     size_t *out_len);
	char *(*hex_encode)(const void *data, size_t len);
	/* RFC 3986 percent-encoding of everything but unreserved characters. */
	char *(*url_encode)(const char *text);
	/* Decodes %XX and '+' (form encoding). */
	char *(*url_decode)(const char *text);

	/* Cryptographically secure random bytes. */
	int (*random_bytes)(void *buf, size_t len);

	/* ABI 1.1. RSA public-key encryption of len bytes of data with key
	 * (a public key or certificate; a private key's public half works
	 * too) and padding (enum payroute_rsa_padding). Each call is
	 * randomised: the same input encrypts differently every time. On
	 * success *out_b64 is the standard base64 of the ciphertext (the
	 * modulus size, e.g. 256 bytes -> 344 characters), allocated:
	 * services->free. Returns 0; -EINVAL for a bad argument, an unknown
	 * padding, input longer than the padding allows (see the enum) or a
	 * key that cannot encrypt; -ENOMEM. *out_b64 is NULL on failure.
	 * Check PAYROUTE_HAS_RSA_ENCRYPT(svc) before calling it. */
	int (*rsa_encrypt)(const payroute_key *key, int padding,
			   const void *data, size_t len, char **out_b64);

	/* ABI 1.2 (check PAYROUTE_HAS_X509(svc) before calling these three).
	 *
	 * MD5 of len bytes of data into out. For identifiers that channels
	 * define with it (Alipay's certificate serial numbers), never for
	 * security. Returns 0 or -EINVAL. */
	int (*md5)(const void *data, size_t len, unsigned char out[16]);

	/* Reads certificate number `index` (0: the first) of a PEM bundle:
	 * pem_or_path is PEM text of one or more certificates, or "@/path"
	 * to a file of them. Fills *out (see struct payroute_x509_info; its
	 * size set by the caller). Returns 0; -ENOENT when the bundle has no
	 * certificate number index; -EINVAL when it cannot be read or holds
	 * something that is not a certificate (err says what); -EOVERFLOW
	 * when a name or the serial does not fit; -ENOMEM. */
	int (*x509_info)(const char *pem_or_path, size_t index,
			 struct payroute_x509_info *out, char *err,
			 size_t errlen);

	/* Checks that the first certificate of cert_pem_or_path was issued,
	 * directly or through intermediates, by one of the certificates of
	 * roots_pem_or_path (trusted as they are), every certificate of the
	 * chain being valid at at_ms (ms since the epoch; 0: now).
	 * Certificates after the first in cert_pem_or_path are intermediates
	 * the chain may use, never trusted by themselves. Both arguments take
	 * PEM text or "@/path" (OpenSSL's X509_STORE and X509_verify_cert).
	 * Returns 0 when the chain holds, -EBADMSG when it does not (err says
	 * why: "certificate has expired", "unable to get local issuer
	 * certificate"...), -EINVAL when a file cannot be read or holds no
	 * certificate, -ENOMEM. */
	int (*x509_verify)(const char *cert_pem_or_path,
			   const char *roots_pem_or_path, int64_t at_ms,
			   char *err, size_t errlen);

	/* ABI 1.3 (check PAYROUTE_HAS_HASH(svc)). An incremental digest:
	 * hash_begin returns a context for alg (enum payroute_hash_alg), or
	 * NULL (unknown algorithm, no memory); hash_update adds len bytes
	 * (0 or -EINVAL); hash_end writes the digest in lower-case hex,
	 * NUL-terminated, into hex (hexlen >= 2 * digest size + 1), frees
	 * the context and returns 0, or -EINVAL (the context is freed all
	 * the same). hash_end(ctx, NULL, 0) just frees it. */
	void *(*hash_begin)(int alg);
	int (*hash_update)(void *ctx, const void *data, size_t len);
	int (*hash_end)(void *ctx, char *hex, size_t hexlen);

	/* Room to grow: new services go here, with a minor bump. */
	void (*spare[9])(void);
};

/* True when the services table offers rsa_encrypt (a 1.1 core or newer;
 * a 1.0 core had a NULL spare slot there). */
#define PAYROUTE_HAS_RSA_ENCRYPT(svc)                                          \
	((svc)->abi_minor >= 1 &&                                              \
	 PAYROUTE_HAS_FIELD(svc, struct payroute_services, rsa_encrypt) &&     \
	 (svc)->rsa_encrypt != NULL)

/* True when the services table offers md5, x509_info and x509_verify (a
 * 1.2 core or newer; older cores had NULL spare slots there). */
#define PAYROUTE_HAS_X509(svc)                                                 \
	((svc)->abi_minor >= 2 &&                                              \
	 PAYROUTE_HAS_FIELD(svc, struct payroute_services, x509_verify) &&     \
	 (svc)->md5 != NULL && (svc)->x509_info != NULL &&                     \
	 (svc)->x509_verify != NULL)

/* True when the services table offers hash_begin, hash_update and
 * hash_end (a 1.3 core or newer). */
#define PAYROUTE_HAS_HASH(svc)                                                 \
	((svc)->abi_minor >= 3 &&                                              \
	 PAYROUTE_HAS_FIELD(svc, struct payroute_services, hash_end) &&        \
	 (svc)->hash_begin != NULL && (svc)->hash_update != NULL &&            \
	 (svc)->hash_end != NULL)

/* ------------------------------------------------------------------------ */
/* The descriptor                                                           */
/* ------------------------------------------------------------------------ */

/* A build function: write the request for `order` into `req`.
 * Return 0, -ENOTSUP, -EINVAL (with err filled).
 *
 * A build may succeed without writing a request (no http_set call): the
 * operation needs no call to the channel, e.g. Alipay's page, wap and app
 * payments, where the payer's browser or app carries the signed
 * parameters. The core then sends nothing and calls the
 * matching parse function with a response whose status is 0 and whose body
 * is empty; the parser fills the payer payload (pay_url, form,
 * order_string). */
typedef int (*payroute_build_fn)(void *state,
				 const struct payroute_order *order,
				 payroute_http_req *req, char *err,
				 size_t errlen);

/* A parse function: turn the channel's answer to the request built for
 * `order` into `out`. Returns 0 when the answer was understood (whatever
 * its business outcome), -EBADMSG when its signature did not verify,
 * -EPROTO when it could not be understood. */
typedef int (*payroute_parse_fn)(void *state,
				 const struct payroute_order *order,
				 const struct payroute_http_response *resp,
				 struct payroute_result *out, char *err,
				 size_t errlen);

struct payroute_driver {
	/* Filled by PAYROUTE_DRIVER_HEADER_V1; checked before anything else. */
	uint32_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t size; /* sizeof(struct payroute_driver) the driver saw */
	uint32_t reserved;

	const char *name;    /* unique, [a-z0-9_]+, what channels refer to */
	const char *version; /* the driver's own version, free text */
	const char *description;

	/* Check a channel's driver config and build its state. `channel` is
	 * the channel code, for log lines. svc stays valid until fini.
	 * Returns 0 and sets *state, or a negative code with err filled. */
	int (*init)(const struct payroute_services *svc, const char *channel,
		    const payroute_conf *conf, void **state, char *err,
		    size_t errlen);
	/* Release a state from init. */
	void (*fini)(void *state);

	/* Operations; NULL when the driver does not support one. */
	payroute_build_fn build_pay;
	payroute_parse_fn parse_pay;
	payroute_build_fn build_query;
	payroute_parse_fn parse_query;
	payroute_build_fn build_close;
	payroute_parse_fn parse_close;
	payroute_build_fn build_refund;
	payroute_parse_fn parse_refund;
	payroute_build_fn build_refund_query;
	payroute_parse_fn parse_refund_query;
	payroute_build_fn build_payout;
	payroute_parse_fn parse_payout;
	payroute_build_fn build_payout_query;
	payroute_parse_fn parse_payout_query;

	/* Verify and decode a callback. Returns 0 when verified, -EBADMSG when
	 * the signature does not verify (reply fields are still filled), or
	 * another negative code. */
	int (*parse_notify)(void *state, const struct payroute_inbound *in,
			    struct payroute_notify *out, char *err,
			    size_t errlen);

	/* The built-in result-code table: sets *n to its number of rows and
	 * *entry_size to sizeof(struct payroute_code_entry) as compiled. */
	const struct payroute_code_entry *(*default_codes)(size_t *n,
							   size_t *entry_size);

	/* ABI 1.2. The keys the driver config takes: sets *n to the number
	 * of rows and *entry_size to sizeof(struct payroute_config_key) as
	 * compiled, and returns the table (static data). NULL (the slot, or
	 * what it returns with *n 0) declares nothing: the config is then
	 * checked by init alone. The core calls it once, when it loads the
	 * driver, right after the descriptor check, and refuses a driver
	 * whose table breaks the rules of struct payroute_config_key. It is
	 * read only when abi_minor >= 2 (PAYROUTE_HAS_CONFIG_KEYS). */
	const struct payroute_config_key *(*config_keys)(size_t *n,
							 size_t *entry_size);

	/* ABI 1.3: bills (see "Bills" at the top). Read only when
	 * abi_minor >= 3 (PAYROUTE_HAS_BILLS); all five of build_bill,
	 * parse_bill, bill_open, bill_next and bill_close, or none. */

	/* Writes the request for the bill of req->day, part req->part.
	 * Returns 0, -ENOENT when the bill has no such part (part > 0),
	 * -EINVAL with err filled. */
	int (*build_bill)(void *state, const struct payroute_bill_req *req,
			  payroute_http_req *http, char *err, size_t errlen);
	/* Reads the answer to build_bill into *out. Returns 0; -ENOENT when
	 * the channel says there is no bill for the day (nothing traded);
	 * -EBADMSG when its signature does not verify; -EPROTO when it
	 * cannot be understood or is an error (err says which). */
	int (*parse_bill)(void *state, const struct payroute_bill_req *req,
			  const struct payroute_http_response *resp,
			  struct payroute_bill_file *out, char *err,
			  size_t errlen);
	/* Optional: the request that downloads file->url, for channels
	 * that want it signed. NULL: the core sends a plain GET. */
	int (*build_bill_download)(void *state,
				   const struct payroute_bill_req *req,
				   const struct payroute_bill_file *file,
				   payroute_http_req *http, char *err,
				   size_t errlen);
	/* Opens a reader over the downloaded file fd (see the top) as
	 * parse_bill described it. Returns 0 and sets *cursor; -EBADMSG when
	 * the file is not a bill of the expected shape. */
	int (*bill_open)(void *state, const struct payroute_bill_req *req,
			 const struct payroute_bill_file *file, int fd,
			 void **cursor, char *err, size_t errlen);
	/* Reads the next row into *row. Returns 1 with a row, 0 at the end
	 * (the bill's totals and digest checked), -EBADMSG for a row, a
	 * total or a digest that is wrong (err says which line), -EIO. After
	 * 0 or an error the cursor only takes bill_close. */
	int (*bill_next)(void *cursor, struct payroute_bill_row *row, char *err,
			 size_t errlen);
	/* Releases a reader, at any point. */
	void (*bill_close)(void *cursor);

	/* Room to grow without breaking old drivers. */
	void (*spare[9])(void);
};

/* True when the descriptor d may declare its config keys (ABI 1.2 or
 * newer) and does. */
#define PAYROUTE_HAS_CONFIG_KEYS(d)                                            \
	((d)->abi_minor >= 2 && (d)->config_keys != NULL)

/* True when the descriptor d may offer bills (ABI 1.3 or newer) and does
 * (the loader has checked that all five are set). */
#define PAYROUTE_HAS_BILLS(d) ((d)->abi_minor >= 3 && (d)->build_bill != NULL)

#define PAYROUTE_DRIVER_HEADER_V1                                              \
	.magic = PAYROUTE_DRIVER_MAGIC, .abi_major = PAYROUTE_ABI_MAJOR,       \
	.abi_minor = PAYROUTE_ABI_MINOR,                                       \
	.size = (uint32_t)sizeof(struct payroute_driver), .reserved = 0

/* The entry point's type and the macro that defines it. */
typedef const struct payroute_driver *(*payroute_driver_entry_fn)(void);

#define PAYROUTE_DRIVER_EXPORT(desc)                                           \
	PAYROUTE_EXPORT const struct payroute_driver *payroute_driver_entry(   \
		void);                                                         \
	PAYROUTE_EXPORT const struct payroute_driver *payroute_driver_entry(   \
		void)                                                          \
	{                                                                      \
		return &(desc);                                                \
	}

#ifdef __cplusplus
}
#endif

#endif /* PAYROUTE_DRIVER_H */
