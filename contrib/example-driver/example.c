/*
 * example.c - a small, complete payroute driver built out of tree, against
 * nothing but the installed <payroute/driver.h> (found through
 * payroute-driver.pc). Copy it to start a driver of your own.
 *
 * It speaks a deliberately trivial protocol, to show the shape of a driver
 * rather than any real channel:
 *
 *   pay       POST <endpoint>/pay
 *             Content-Type: application/x-www-form-urlencoded
 *             order=<order id>&amount=<minor units>&currency=<ISO 4217>
 *   answer    code=<CODE>&trade_no=<channel trade number>
 *             (form-encoded; CODE is OK, PENDING or DECLINED)
 *
 *   bill      GET <endpoint>/bill?day=YYYY-MM-DD          (ABI 1.3)
 *   answer    url=<where the file is>  (form-encoded), or code=NONE
 *   file      one line per paid order, "order_id,amount,fee" (minor
 *             units), then "total,<rows>,<sum of amounts>"; read row by
 *             row with stdio, never whole
 *
 * Its driver config is one option, "endpoint", the channel's base URL,
 * declared in example_keys (ABI 1.2) so that the core checks and explains
 * it. The other operations are NULL (the core answers them with
 * -ENOTSUP).
 *
 * The rules every driver follows, shown here: everything is static except
 * the one exported function that PAYROUTE_DRIVER_EXPORT defines; the core's
 * services arrive in init and are kept in the per-channel state; what a
 * service allocates is released with svc->free; strings the core passes in
 * are copied when kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <payroute/driver.h>

struct example_state {
	const struct payroute_services *svc;
	char *endpoint; /* without a trailing '/' */
};

static char *copy_string(const char *s)
{
	size_t len = strlen(s);
	char *p = malloc(len + 1);

	if (p)
		memcpy(p, s, len + 1);
	return p;
}

/* Copies at most len bytes of src into the fixed-size field dst. */
static void copy_field(char *dst, size_t dstlen, const char *src, size_t len)
{
	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int example_init(const struct payroute_services *svc,
			const char *channel, const payroute_conf *conf,
			void **state, char *err, size_t errlen)
{
	struct example_state *st;
	const char *endpoint;
	size_t len;

	if (!svc || !conf || !state) {
		snprintf(err, errlen, "init: missing argument");
		return -EINVAL;
	}
	endpoint = svc->conf_str(conf, "endpoint");
	if (!endpoint || !*endpoint) {
		snprintf(err, errlen, "endpoint: required");
		return -EINVAL;
	}
	if (strncmp(endpoint, "http://", 7) != 0 &&
	    strncmp(endpoint, "https://", 8) != 0) {
		snprintf(err, errlen, "endpoint: must be an http(s):// URL");
		return -EINVAL;
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		goto nomem;
	st->svc = svc;
	st->endpoint = copy_string(endpoint);
	if (!st->endpoint) {
		free(st);
		goto nomem;
	}
	len = strlen(st->endpoint);
	while (len > 0 && st->endpoint[len - 1] == '/')
		st->endpoint[--len] = '\0';
	if (svc->log)
		svc->log(PAYROUTE_LOG_INFO, channel, "example: endpoint %s",
			 st->endpoint);
	*state = st;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static void example_fini(void *state)
{
	struct example_state *st = state;

	if (!st)
		return;
	free(st->endpoint);
	free(st);
}

static int example_build_pay(void *state, const struct payroute_order *order,
			     payroute_http_req *req, char *err, size_t errlen)
{
	struct example_state *st = state;
	const struct payroute_services *svc = st->svc;
	char *id = NULL, *url = NULL, *body = NULL;
	size_t len;
	int n, rc;

	if (!order->order_id || !*order->order_id) {
		snprintf(err, errlen, "order_id: missing");
		return -EINVAL;
	}
	if (order->amount <= 0) {
		snprintf(err, errlen, "amount: must be positive");
		return -EINVAL;
	}
	if (strlen(order->currency) != 3) {
		snprintf(err, errlen, "currency: must be an ISO 4217 code");
		return -EINVAL;
	}

	id = svc->url_encode(order->order_id);
	if (!id)
		goto nomem;
	len = strlen(st->endpoint) + sizeof("/pay");
	url = malloc(len);
	if (!url)
		goto nomem;
	snprintf(url, len, "%s/pay", st->endpoint);

	/* "order=" + id + "&amount=" + up to 20 digits + "&currency=XXX" */
	len = strlen(id) + 64;
	body = malloc(len);
	if (!body)
		goto nomem;
	n = snprintf(body, len, "order=%s&amount=%lld&currency=%s", id,
		     (long long)order->amount, order->currency);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "request body too long");
		rc = -EINVAL;
		goto out;
	}

	rc = svc->http_set(req, "POST", url);
	if (rc == 0)
		rc = svc->http_header(req, "Content-Type",
				      "application/x-www-form-urlencoded");
	if (rc == 0)
		rc = svc->http_body(req, body, (size_t)n);
	if (rc < 0)
		snprintf(err, errlen, "cannot build the request (%d)", rc);
	goto out;

nomem:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
out:
	free(body);
	free(url);
	if (id)
		svc->free(id);
	return rc;
}

/* Finds key in a form-encoded body and url-decodes its value into dst.
 * Returns 0, -ENOENT when absent, -ENOMEM. */
static int form_value(const struct payroute_services *svc, const char *body,
		      size_t body_len, const char *key, char *dst,
		      size_t dstlen)
{
	const char *p = body, *end = body + body_len;
	size_t klen = strlen(key);

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *seg_end = amp ? amp : end;

		if ((size_t)(seg_end - p) > klen && memcmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t vlen = (size_t)(seg_end - v);
			char *raw, *dec;

			raw = malloc(vlen + 1);
			if (!raw)
				return -ENOMEM;
			memcpy(raw, v, vlen);
			raw[vlen] = '\0';
			dec = svc->url_decode(raw);
			free(raw);
			if (!dec)
				return -ENOMEM;
			copy_field(dst, dstlen, dec, strlen(dec));
			svc->free(dec);
			return 0;
		}
		p = seg_end + 1;
	}
	return -ENOENT;
}

static int example_parse_pay(void *state, const struct payroute_order *order,
			     const struct payroute_http_response *resp,
			     struct payroute_result *out, char *err,
			     size_t errlen)
{
	struct example_state *st = state;
	size_t len;
	int rc;

	(void)order;
	if (resp->status < 200 || resp->status > 299) {
		snprintf(err, errlen, "unexpected HTTP status %d",
			 resp->status);
		return -EPROTO;
	}
	len = resp->body ? resp->body_len : 0;
	while (len > 0 &&
	       (resp->body[len - 1] == '\n' || resp->body[len - 1] == '\r'))
		len--;
	rc = form_value(st->svc, resp->body, len, "code", out->code,
			sizeof(out->code));
	if (rc == -ENOENT || (rc == 0 && !out->code[0])) {
		snprintf(err, errlen, "answer has no code");
		return -EPROTO;
	}
	if (rc < 0)
		goto nomem;
	rc = form_value(st->svc, resp->body, len, "trade_no",
			out->channel_trade_no, sizeof(out->channel_trade_no));
	if (rc == -ENOMEM)
		goto nomem;
	/* trade_no is optional: a declined payment has none. */
	copy_field(out->status, sizeof(out->status), out->code,
		   strlen(out->code));
	out->amount = -1;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* ABI 1.3: bills. The request for a day's bill... */
static int example_build_bill(void *state, const struct payroute_bill_req *req,
			      payroute_http_req *http, char *err, size_t errlen)
{
	struct example_state *st = state;
	char url[1024];
	int n;

	if (req->part > 0)
		return -ENOENT; /* one file a day */
	if (!req->day || strlen(req->day) != 10 ||
	    strspn(req->day, "0123456789-") != 10) {
		snprintf(err, errlen, "day: not YYYY-MM-DD");
		return -EINVAL;
	}
	n = snprintf(url, sizeof(url), "%s/bill?day=%s", st->endpoint,
		     req->day);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		snprintf(err, errlen, "endpoint too long");
		return -EINVAL;
	}
	return st->svc->http_set(http, "GET", url);
}

/* ...its answer: where the file is (the core downloads it)... */
static int example_parse_bill(void *state, const struct payroute_bill_req *req,
			      const struct payroute_http_response *resp,
			      struct payroute_bill_file *out, char *err,
			      size_t errlen)
{
	struct example_state *st = state;
	char code[16];
	size_t len = resp->body ? resp->body_len : 0;

	(void)req;
	if (resp->status != 200) {
		snprintf(err, errlen, "unexpected HTTP status %d",
			 resp->status);
		return -EPROTO;
	}
	while (len > 0 &&
	       (resp->body[len - 1] == '\n' || resp->body[len - 1] == '\r'))
		len--;
	if (form_value(st->svc, resp->body, len, "code", code, sizeof(code)) ==
		    0 &&
	    strcmp(code, "NONE") == 0)
		return -ENOENT; /* nothing traded that day */
	if (form_value(st->svc, resp->body, len, "url", out->url,
		       sizeof(out->url)) < 0 ||
	    (strncmp(out->url, "http://", 7) != 0 &&
	     strncmp(out->url, "https://", 8) != 0)) {
		snprintf(err, errlen, "answer has no url");
		return -EPROTO;
	}
	return 0;
}

/* ...and a reader of the file, one row per call. */
struct example_bill {
	FILE *f;
	uint64_t line;
	int64_t rows, sum;
};

static int example_bill_open(void *state, const struct payroute_bill_req *req,
			     const struct payroute_bill_file *file, int fd,
			     void **cursor, char *err, size_t errlen)
{
	struct example_bill *b = calloc(1, sizeof(*b));
	int fd2 = dup(fd); /* the core keeps fd */

	(void)state, (void)req, (void)file;
	if (!b || fd2 < 0 || lseek(fd2, 0, SEEK_SET) < 0 ||
	    !(b->f = fdopen(fd2, "r"))) {
		if (fd2 >= 0)
			close(fd2);
		free(b);
		snprintf(err, errlen, "cannot read the bill");
		return -EIO;
	}
	*cursor = b;
	return 0;
}

static int example_bill_next(void *cursor, struct payroute_bill_row *row,
			     char *err, size_t errlen)
{
	struct example_bill *b = cursor;
	char line[512], id[PAYROUTE_ID_LEN];
	long long a, c;
	int n = 0;

	if (!fgets(line, sizeof(line), b->f)) {
		snprintf(err, errlen, "bill: no total line");
		return -EBADMSG;
	}
	b->line++;
	if (sscanf(line, "total,%lld,%lld%n", &a, &c, &n) == 2) {
		if (a != b->rows || c != b->sum) {
			snprintf(err, errlen,
				 "bill: the total says %lld rows, %lld; the "
				 "rows are %lld, %lld",
				 a, c, (long long)b->rows, (long long)b->sum);
			return -EBADMSG;
		}
		return 0;
	}
	if (sscanf(line, "%95[^,],%lld,%lld", id, &a, &c) != 3 || a <= 0) {
		snprintf(err, errlen, "bill line %llu: not understood",
			 (unsigned long long)b->line);
		return -EBADMSG;
	}
	row->kind = PAYROUTE_KIND_PAYMENT;
	copy_field(row->order_id, sizeof(row->order_id), id, strlen(id));
	copy_field(row->channel_trade_no, sizeof(row->channel_trade_no), id,
		   strlen(id));
	row->amount = a;
	row->fee = c;
	row->effect = PAYROUTE_EFFECT_SUCCESS;
	row->line = b->line;
	b->rows++;
	b->sum += a;
	return 1;
}

static void example_bill_close(void *cursor)
{
	struct example_bill *b = cursor;

	if (b && b->f)
		fclose(b->f);
	free(b);
}

static const struct payroute_code_entry example_codes[] = {
	{ "pay", "OK", "*", "SUCCESS", PAYROUTE_EFFECT_SUCCESS, 0,
	  PAYROUTE_CAT_NONE, "Payment succeeded.", "支付成功。" },
	{ "pay", "PENDING", "*", "PROCESSING", PAYROUTE_EFFECT_PROCESSING, 0,
	  PAYROUTE_CAT_NONE, "The payment is being processed.",
	  "支付处理中。" },
	{ "pay", "DECLINED", "*", "PAYMENT_FAILED", PAYROUTE_EFFECT_FAILED, 0,
	  PAYROUTE_CAT_USER, "The payment was declined.", "支付被拒绝。" },
};

static const struct payroute_code_entry *
example_default_codes(size_t *n, size_t *entry_size)
{
	*n = sizeof(example_codes) / sizeof(example_codes[0]);
	*entry_size = sizeof(struct payroute_code_entry);
	return example_codes;
}

/* The driver config (ABI 1.2): the core checks a channel's driver_config
 * against it before init runs (an unknown or misspelt key, a value of the
 * wrong type and a missing required key are refused, naming the key), and
 * the admin API, payroutectl and the console show it. */
static const struct payroute_config_key example_keys[] = {
	{ "endpoint", PAYROUTE_CONFIG_STRING, PAYROUTE_CONFIG_REQUIRED, NULL,
	  "the channel's base URL, http:// or https://" },
};

static const struct payroute_config_key *example_config_keys(size_t *n,
							     size_t *entry_size)
{
	*n = sizeof(example_keys) / sizeof(example_keys[0]);
	*entry_size = sizeof(struct payroute_config_key);
	return example_keys;
}

static const struct payroute_driver example_driver = {
	PAYROUTE_DRIVER_HEADER_V1,
	.name = "example",
	.version = "1.1.0",
	.description = "out-of-tree example driver (a toy form protocol)",
	.init = example_init,
	.fini = example_fini,
	.build_pay = example_build_pay,
	.parse_pay = example_parse_pay,
	.default_codes = example_default_codes,
	.config_keys = example_config_keys,
	.build_bill = example_build_bill,
	.parse_bill = example_parse_bill,
	.bill_open = example_bill_open,
	.bill_next = example_bill_next,
	.bill_close = example_bill_close,
};

PAYROUTE_DRIVER_EXPORT(example_driver)
