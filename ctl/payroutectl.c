/*
 * payroutectl.c - payroutectl(1): payrouted's admin API from a shell.
 *
 * One command per run: it builds one request (two for none), sends it
 * with libcurl's easy interface to the admin listener with the bearer
 * token (an operator's: the audit log names its operator) and the audit
 * note (X-Payroute-Note: --note), and prints the answer for people
 * (tables, the explain trace, the import's changes) or, with --json, as
 * the server sent it. It holds no state and keeps nothing: every decision
 * is the daemon's, so what it prints is what the API says.
 *
 * Exit status: 0 success; 1 the request failed (the server's JSON error
 * printed as "payroutectl: WHAT: STATUS CODE: MESSAGE", or the server
 * could not be reached, or a file could not be read or written); 2 a usage
 * error (unknown command or option, missing argument, no token).
 *
 * The pure parts (key=value bodies, tables, error lines, the explain and
 * import printers) are in ctlutil.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctlutil.h"

#ifndef PR_VERSION
#define PR_VERSION "unknown"
#endif

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define DEFAULT_URL "http://127.0.0.1:8081"
#define DEFAULT_TIMEOUT_S 60
/* The largest answer or file read (a policy document is far smaller). */
#define MAX_BYTES (64u * 1024 * 1024)

/* ------------------------------------------------------------ options */

enum {
	/* command options, as bits: which command takes which */
	OPT_OUTPUT = 1u << 0,
	OPT_DRY_RUN = 1u << 1,
	OPT_FILE = 1u << 2,
	OPT_OUTCOME = 1u << 3,
	OPT_WITHDRAWAL = 1u << 4,
	OPT_EVIDENCE = 1u << 5,
	OPT_RANGE = 1u << 6, /* --from and --to */
	OPT_ROLE = 1u << 7,
	OPT_LABEL = 1u << 8,
	OPT_EXPIRES = 1u << 9,
	OPT_REASON = 1u << 10,
	OPT_KIND = 1u << 11, /* --kind payments|withdrawals */
};
#define OPT_LAST OPT_KIND
/* the most --role options (there are three roles) */
#define MAX_ROLES 3

enum {
	LONG_TIMEOUT = 256,
	LONG_DRY_RUN,
	LONG_OUTCOME,
	LONG_WITHDRAWAL,
	LONG_EVIDENCE,
	LONG_FROM,
	LONG_TO,
	LONG_ROLE,
	LONG_LABEL,
	LONG_EXPIRES,
	LONG_REASON,
	LONG_KIND,
};

static const struct option long_opts[] = {
	{ "url", required_argument, NULL, 'u' },
	{ "token", required_argument, NULL, 't' },
	{ "token-file", required_argument, NULL, 'T' },
	{ "actor", required_argument, NULL, 'a' },
	{ "note", required_argument, NULL, 'n' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, LONG_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "output", required_argument, NULL, 'o' },
	{ "file", required_argument, NULL, 'f' },
	{ "dry-run", no_argument, NULL, LONG_DRY_RUN },
	{ "outcome", required_argument, NULL, LONG_OUTCOME },
	{ "withdrawal", required_argument, NULL, LONG_WITHDRAWAL },
	{ "evidence", required_argument, NULL, LONG_EVIDENCE },
	{ "from", required_argument, NULL, LONG_FROM },
	{ "to", required_argument, NULL, LONG_TO },
	{ "role", required_argument, NULL, LONG_ROLE },
	{ "label", required_argument, NULL, LONG_LABEL },
	{ "expires", required_argument, NULL, LONG_EXPIRES },
	{ "reason", required_argument, NULL, LONG_REASON },
	{ "kind", required_argument, NULL, LONG_KIND },
	{ NULL, 0, NULL, 0 },
};

#define SHORT_OPTS "u:t:T:a:n:jhVo:f:"

struct ctl {
	/* connection and audit */
	const char *url_opt, *token_opt, *token_file;
	char url[1024];
	char *token;
	const char *note;
	long timeout_s;
	int json;
	/* command options */
	unsigned seen;
	const char *output, *file, *outcome, *withdrawal, *evidence;
	const char *from, *to;
	const char *kind; /* policy replay: payments or withdrawals */
	const char *roles[MAX_ROLES], *label, *expires;
	const char *reason; /* --reason (approvals reject) */
	int n_roles;
	int dry_run;
	/* the command as errors name it: "channel disable foo" */
	char what[512];
	CURL *curl;
	/* GET /admin/v1/currencies, read once for the amounts of a table */
	json_t *currencies;
	int currencies_read;
};

struct answer {
	long status;
	char *body;
	size_t len;
	int too_big;
};

/* ------------------------------------------------------------ reports */

static void err_msg(struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "payroutectl: WHAT: message" on stderr. */
static void err_msg(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "payroutectl: %s%s", c->what, c->what[0] ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- HTTP */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t add = size * n;
	char *grown;

	if (a->len + add > MAX_BYTES) {
		a->too_big = 1;
		return 0;
	}
	grown = realloc(a->body, a->len + add + 1);
	if (!grown)
		return 0;
	a->body = grown;
	memcpy(a->body + a->len, p, add);
	a->len += add;
	a->body[a->len] = '\0';
	return add;
}

static void answer_clear(struct answer *a)
{
	free(a->body);
	memset(a, 0, sizeof(*a));
}

/* Appends "Name: value" to the list; returns NULL on failure (the list is
 * freed). */
static struct curl_slist *header(struct curl_slist *h, const char *name,
				 const char *value)
{
	char line[2048];
	struct curl_slist *n;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	n = curl_slist_append(h, line);
	if (!n)
		curl_slist_free_all(h);
	return n;
}

/* Sends METHOD url+path with body (JSON, len bytes; NULL: none). Fills a
 * (the caller clears it). Returns 0 when an answer came (any status), or
 * EXIT_FAIL after reporting why none did. */
static int request(struct ctl *c, const char *method, const char *path,
		   const char *body, size_t len, struct answer *a)
{
	char url[2048], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	CURLcode rc;
	int ret = EXIT_FAIL;

	memset(a, 0, sizeof(*a));
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	curl_easy_reset(c->curl);
	{
		/* any length of token; wiped after use */
		size_t n = strlen(c->token) + sizeof("Authorization: Bearer ");
		char *line = malloc(n);

		if (!line) {
			err_msg(c, "out of memory");
			return EXIT_FAIL;
		}
		snprintf(line, n, "Authorization: Bearer %s", c->token);
		h = curl_slist_append(NULL, line);
		explicit_bzero(line, n);
		free(line);
	}
	if (h)
		h = header(h, "Accept", "application/json");
	if (h && c->note)
		h = header(h, "X-Payroute-Note", c->note);
	if (h && body)
		h = header(h, "Content-Type", "application/json");
	if (h)
		h = curl_slist_append(h, "Expect:");
	if (!h) {
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "payroutectl/" PR_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout_s);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (body) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		if (a->too_big)
			err_msg(c, "the answer of %s is over %u bytes", url,
				MAX_BYTES);
		else
			err_msg(c, "%s %s: %s", method, url,
				cerr[0] ? cerr : curl_easy_strerror(rc));
		answer_clear(a);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &a->status);
	ret = 0;
out:
	curl_slist_free_all(h);
	return ret;
}

/* Reports an answer that is not a 2xx; returns EXIT_FAIL. */
static int http_failed(struct ctl *c, const struct answer *a)
{
	char text[1024];

	pr_ctl_error_text(a->status, a->body, a->len, text, sizeof(text));
	err_msg(c, "%s", text);
	return EXIT_FAIL;
}

/* One call: sends it and, on a 2xx, parses the JSON answer into *out
 * (NULL for an empty body; the caller decrefs it). Returns 0 or
 * EXIT_FAIL after reporting. */
static int call(struct ctl *c, const char *method, const char *path,
		const char *body, size_t len, json_t **out)
{
	struct answer a;
	json_error_t je;
	int rc;

	*out = NULL;
	rc = request(c, method, path, body, len, &a);
	if (rc)
		return rc;
	if (a.status < 200 || a.status > 299) {
		rc = http_failed(c, &a);
		answer_clear(&a);
		return rc;
	}
	if (a.len) {
		*out = json_loadb(a.body, a.len, 0, &je);
		if (!*out) {
			err_msg(c, "%ld: the answer is not JSON: %s", a.status,
				je.text);
			rc = EXIT_FAIL;
		}
	}
	answer_clear(&a);
	return rc;
}

/* "/admin/v1/channels/" + the escaped code + tail. */
static int path_with(struct ctl *c, char *out, size_t len, const char *head,
		     const char *id, const char *tail)
{
	char *e = curl_easy_escape(c->curl, id, 0);

	if (!e) {
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	snprintf(out, len, "%s%s%s", head, e, tail);
	curl_free(e);
	return 0;
}

/* ------------------------------------------------------------- output */

static void print_json(FILE *f, json_t *j)
{
	if (j)
		json_dumpf(j, f, JSON_INDENT(2) | JSON_ENCODE_ANY);
	else
		fputs("{}", f);
	fputc('\n', f);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static long long jint(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

#define NCOLS(cols) (sizeof(cols) / sizeof((cols)[0]))

/* The daemon's currencies and their minor units (GET
 * /admin/v1/currencies, the table the console also uses), read once;
 * NULL when they cannot be read, and amounts then show in minor units. */
static const json_t *currencies(struct ctl *c)
{
	struct answer a;
	json_t *j = NULL;

	if (c->currencies_read)
		return c->currencies;
	c->currencies_read = 1;
	if (request(c, "GET", "/admin/v1/currencies", NULL, 0, &a))
		return NULL;
	if (a.status >= 200 && a.status <= 299)
		j = json_loadb(a.body, a.len, 0, NULL);
	answer_clear(&a);
	c->currencies = j;
	return j;
}

/* Prints rows as a table of the columns cols (pr_ctl_print_rows), the
 * line empty when there are none; reads the currencies when a column is
 * an amount. Returns 0, or EXIT_FAIL after reporting. */
static int show_rows(struct ctl *c, const struct pr_ctl_col *cols, size_t n,
		     json_t *rows, const char *empty)
{
	const json_t *cur = NULL;

	for (size_t i = 0; i < n && !cur; i++)
		if (cols[i].kind == PR_CTL_COL_AMOUNT && json_array_size(rows))
			cur = currencies(c);
	if (pr_ctl_print_rows(stdout, cols, n, rows, cur, empty) < 0) {
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	return 0;
}

/* GET path, then its answer as it is (--json) or its member key as a
 * table of the columns cols (show_rows). Returns 0, or EXIT_FAIL after
 * reporting. */
static int list(struct ctl *c, const char *path, const char *key,
		const struct pr_ctl_col *cols, size_t n, const char *empty)
{
	json_t *j;
	int rc;

	if ((rc = call(c, "GET", path, NULL, 0, &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		rc = show_rows(c, cols, n, json_object_get(j, key), empty);
	json_decref(j);
	return rc;
}

/* ---------------------------------------------------------------- files */

/* Reads a whole file ("-": standard input) into *buf (NUL-terminated, the
 * caller frees it). Returns 0, or EXIT_FAIL after reporting. */
static int read_file(struct ctl *c, const char *name, char **buf, size_t *len)
{
	FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "re");
	size_t cap = 65536, n = 0, r;
	char *b = NULL, *grown;
	int rc = EXIT_FAIL;

	*buf = NULL;
	if (!f) {
		err_msg(c, "cannot open %s: %s", name, strerror(errno));
		return EXIT_FAIL;
	}
	b = malloc(cap + 1);
	while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n < cap)
			continue;
		if (cap >= MAX_BYTES) {
			err_msg(c, "%s: over %u bytes", name, MAX_BYTES);
			goto out;
		}
		cap *= 2;
		grown = realloc(b, cap + 1);
		if (!grown)
			goto out;
		b = grown;
	}
	if (!b) {
		err_msg(c, "out of memory");
		goto out;
	}
	if (ferror(f)) {
		err_msg(c, "cannot read %s: %s", name, strerror(errno));
		goto out;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
	rc = 0;
out:
	free(b);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* Writes text to name atomically: a temporary file in the same
 * directory (mode 0600: the document names buyers and channels), then
 * rename. Returns 0, or EXIT_FAIL after reporting. */
static int write_file(struct ctl *c, const char *name, const char *text,
		      size_t len)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", name) >=
	    sizeof(tmp)) {
		err_msg(c, "%s: the name is too long", name);
		return EXIT_FAIL;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		err_msg(c, "cannot create %s: %s", tmp, strerror(errno));
		return EXIT_FAIL;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (off < len || fsync(fd) < 0 || close(fd) < 0) {
		err_msg(c, "cannot write %s: %s", tmp, strerror(errno));
		if (off < len)
			close(fd);
		unlink(tmp);
		return EXIT_FAIL;
	}
	if (rename(tmp, name) < 0) {
		err_msg(c, "cannot rename %s to %s: %s", tmp, name,
			strerror(errno));
		unlink(tmp);
		return EXIT_FAIL;
	}
	return 0;
}

/* ------------------------------------------------------------ commands */

struct cmd {
	const char *name; /* "channel enable" */
	const char *args; /* the synopsis after the name */
	const char *help; /* what it does */
	unsigned opts;	  /* OPT_* it takes */
	int min_args;	  /* positional arguments */
	int max_args;	  /* -1: any number */
	int (*run)(struct ctl *c, int argc, char **argv);
};

static int cmd_status(struct ctl *c, int argc, char **argv)
{
	json_t *j, *st;
	char up[32];
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = call(c, "GET", "/admin/v1/status", NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
		json_decref(j);
		return 0;
	}
	st = json_object_get(j, "store");
	pr_ctl_duration(jint(j, "uptime_s"), up, sizeof(up));
	printf("version     %s (driver ABI %s)\n", jstr(j, "version"),
	       jstr(j, "abi"));
	printf("generation  %lld\n", jint(j, "current_generation"));
	printf("uptime      %s\n", up);
	printf("store       %s, %lld/%lld connected, %lld busy, %lld queued, "
	       "%lld reconnects, %lld errors\n",
	       json_is_true(json_object_get(st, "ready")) ? "ready" :
							    "NOT READY",
	       jint(st, "connected"), jint(st, "pool_size"), jint(st, "busy"),
	       jint(st, "queued"), jint(st, "reconnects"), jint(st, "errors"));
	printf("schema      %lld\n", jint(j, "schema_version"));
	printf("drivers     %lld\n", jint(j, "drivers"));
	printf("channels    %lld\n", jint(j, "channels"));
	printf("inflight    %lld\n", jint(j, "inflight"));
	json_decref(j);
	return 0;
}

/* How many keys a driver declares; "-": none (its init checks). */
static void keys_count(json_t *d, char *out, size_t len)
{
	json_t *keys = json_object_get(d, "config_keys");

	if (json_is_array(keys))
		snprintf(out, len, "%zu", json_array_size(keys));
	else
		snprintf(out, len, "-");
}

static int cmd_drivers(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "NAME", .path = "name" },
		{ .head = "VERSION", .path = "version" },
		{ .head = "ABI", .path = "abi" },
		{ .head = "GENERATION", .path = "generation" },
		{ .head = "KEYS", .kind = PR_CTL_COL_FN, .fn = keys_count },
		{ .head = "FILE", .path = "path" },
	};
	json_t *j;
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = call(c, "GET", "/admin/v1/drivers", NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
	} else if (!(rc = show_rows(c, cols, NCOLS(cols),
				    json_object_get(j, "drivers"),
				    "no drivers loaded"))) {
		printf("generation %lld\n", jint(j, "generation"));
	}
	json_decref(j);
	return rc;
}

/* One driver and the keys of its config (GET /admin/v1/drivers/NAME). */
static int cmd_driver(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "KEY", .path = "name" },
		{ .head = "TYPE", .path = "type" },
		{ .head = "REQUIRED", .path = "required" },
		{ .head = "SECRET", .path = "secret" },
		{ .head = "DEFAULT", .path = "default" },
		{ .head = "DESCRIPTION", .path = "description" },
	};
	char path[512];
	json_t *j, *keys;
	int rc;

	(void)argc;
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/drivers/",
			    argv[0], "")))
		return rc;
	if ((rc = call(c, "GET", path, NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
		json_decref(j);
		return 0;
	}
	printf("driver      %s %s (ABI %s)\n", jstr(j, "name"),
	       jstr(j, "version"), jstr(j, "abi"));
	printf("file        %s\n", jstr(j, "path"));
	printf("about       %s\n", jstr(j, "description"));
	printf("bills       %s\n",
	       json_is_true(json_object_get(j, "bills")) ?
		       "yes: its channels are reconciled (ABI 1.3)" :
		       "no: its channels are not reconciled");
	keys = json_object_get(j, "config_keys");
	if (!json_is_array(keys)) {
		printf("config      declares no keys (as every driver built for "
		       "ABI 1.1 or older): its init alone checks the config\n");
		json_decref(j);
		return 0;
	}
	printf("config      %zu key(s); an unknown key, a wrong type or a "
	       "missing required key is refused\n",
	       json_array_size(keys));
	rc = show_rows(c, cols, NCOLS(cols), keys, NULL);
	json_decref(j);
	return rc;
}

static int cmd_reload(struct ctl *c, int argc, char **argv)
{
	json_t *j;
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = call(c, "POST", "/admin/v1/reload", NULL, 0, &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("reload: generation %lld active\n",
		       jint(j, "generation"));
	json_decref(j);
	return 0;
}

static int cmd_channels(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "CODE", .path = "code" },
		{ .head = "DRIVER", .path = "driver" },
		{ .head = "STATUS", .path = "status" },
		{ .head = "BUSINESS", .path = "business_types" },
		{ .head = "METHODS", .path = "methods" },
		{ .head = "ENVIRONMENTS", .path = "environments" },
		{ .head = "CURRENCIES", .path = "currencies" },
		{ .head = "FEE_BPS", .path = "fee.rate_bps" },
		{ .head = "WEIGHT", .path = "weight" },
		/* minor units: a channel may take several currencies */
		{ .head = "DAILY_AMOUNT", .path = "limits.daily_amount" },
	};

	(void)argc;
	(void)argv;
	return list(c, "/admin/v1/channels", "channels", cols, NCOLS(cols),
		    "no channels");
}

/* GET head + the escaped id, printed as JSON (channel show, merchant
 * show). */
static int show_one(struct ctl *c, const char *head, const char *id)
{
	char path[512];
	json_t *j;
	int rc;

	if ((rc = path_with(c, path, sizeof(path), head, id, "")))
		return rc;
	if ((rc = call(c, "GET", path, NULL, 0, &j)))
		return rc;
	print_json(stdout, j);
	json_decref(j);
	return 0;
}

static int cmd_channel_show(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return show_one(c, "/admin/v1/channels/", argv[0]);
}

static int channel_status(struct ctl *c, const char *code, const char *st)
{
	char path[512], body[64];
	json_t *j;
	int rc;

	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/channels/", code,
			    "/status")))
		return rc;
	snprintf(body, sizeof(body), "{\"status\": \"%s\"}", st);
	if ((rc = call(c, "POST", path, body, strlen(body), &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("channel %s %s (generation %lld)\n", code,
		       jstr(json_object_get(j, "channel"), "status"),
		       jint(j, "generation"));
	json_decref(j);
	return 0;
}

static int cmd_channel_enable(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return channel_status(c, argv[0], "online");
}

static int cmd_channel_disable(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return channel_status(c, argv[0], "offline");
}

/* channel breaker CODE [closed|open]: the channel's circuit breaker, or
 * an operator's force (doc/design.md §4). */
static int cmd_channel_breaker(struct ctl *c, int argc, char **argv)
{
	char path[512], body[64];
	json_t *j, *b, *h;
	int rc;

	if (argc > 1 && strcmp(argv[1], "closed") != 0 &&
	    strcmp(argv[1], "open") != 0) {
		fprintf(stderr,
			"payroutectl: channel breaker: the state is closed or "
			"open, not %s\n",
			argv[1]);
		return 2;
	}
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/channels/",
			    argv[0], "/breaker")))
		return rc;
	if (argc > 1) {
		snprintf(body, sizeof(body), "{\"state\": \"%s\"}", argv[1]);
		rc = call(c, "POST", path, body, strlen(body), &j);
	} else {
		rc = call(c, "GET", path, NULL, 0, &j);
	}
	if (rc)
		return rc;
	b = json_object_get(j, "breaker");
	h = json_array_get(json_object_get(b, "history"), 0);
	if (c->json)
		print_json(stdout, j);
	else
		printf("channel %s breaker %s%s (%lld failures in the window; "
		       "last: %s by %s)\n",
		       argv[0], jstr(b, "state"),
		       argc > 1 && json_is_false(
					   json_object_get(j, "changed")) ?
			       " already" :
			       "",
		       jint(b, "failures_in_window"),
		       h ? jstr(h, "reason") : "never moved",
		       h ? jstr(h, "actor") : "-");
	json_decref(j);
	return 0;
}

/* channel weight CODE N: the weight alone (PUT .../weight), which the
 * operator role may set. */
static int cmd_channel_weight(struct ctl *c, int argc, char **argv)
{
	char path[512], body[64], *end;
	long long w;
	json_t *j;
	int rc;

	(void)argc;
	w = strtoll(argv[1], &end, 10);
	if (!argv[1][0] || *end) {
		err_msg(c, "%s: the weight is an integer", argv[1]);
		return EXIT_USAGE;
	}
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/channels/",
			    argv[0], "/weight")))
		return rc;
	snprintf(body, sizeof(body), "{\"weight\": %lld}", w);
	if ((rc = call(c, "PUT", path, body, strlen(body), &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("channel %s weight %lld (generation %lld)\n", argv[0],
		       jint(json_object_get(j, "channel"), "weight"),
		       jint(j, "generation"));
	json_decref(j);
	return 0;
}

/* channel set CODE PATH=VALUE...: a JSON Merge Patch of the channel
 * (PATCH /admin/v1/channels/CODE), checked by the daemon as a PUT. */
static int cmd_channel_set(struct ctl *c, int argc, char **argv)
{
	json_t *patch = json_object(), *j = NULL;
	char path[512], err[256], *text = NULL;
	int rc;

	if (!patch) {
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	rc = pr_ctl_patch_add(patch, argc - 1, argv + 1, err, sizeof(err));
	if (rc < 0) {
		json_decref(patch);
		err_msg(c, "%s", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	text = json_dumps(patch, JSON_COMPACT);
	json_decref(patch);
	if (!text) {
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	rc = path_with(c, path, sizeof(path), "/admin/v1/channels/", argv[0],
		       "");
	if (!rc)
		rc = call(c, "PATCH", path, text, strlen(text), &j);
	if (rc) {
		free(text);
		return rc;
	}
	if (c->json)
		print_json(stdout, j);
	else
		printf("channel %s updated: %s (generation %lld)\n", argv[0],
		       text, jint(j, "generation"));
	free(text);
	json_decref(j);
	return 0;
}

static int cmd_explain(struct ctl *c, int argc, char **argv)
{
	const char *file = c->file;
	char err[512], *text = NULL, *in = NULL;
	json_t *body = NULL, *j = NULL;
	json_error_t je;
	size_t len;
	int rc = EXIT_FAIL;

	if (argc > 0 && strcmp(argv[0], "-") == 0) {
		if (file) {
			err_msg(c, "give the body once: -f FILE or -");
			return EXIT_USAGE;
		}
		file = "-";
		argc--;
		argv++;
	}
	if (!file && argc == 0) {
		err_msg(c, "no payment: -f FILE, - (standard input) or "
			   "KEY=VALUE arguments (payroutectl explain --help)");
		return EXIT_USAGE;
	}
	if (file) {
		if ((rc = read_file(c, file, &in, &len)))
			return rc;
		body = json_loadb(in, len, 0, &je);
		free(in);
		if (!json_is_object(body)) {
			err_msg(c, "%s: %s", file,
				body ? "not a JSON object" : je.text);
			json_decref(body);
			return EXIT_FAIL;
		}
	} else if (!(body = json_object())) {
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	if (pr_ctl_kv_add(body, argc, argv, err, sizeof(err)) < 0) {
		err_msg(c, "%s", err);
		rc = EXIT_USAGE;
		goto out;
	}
	text = json_dumps(body, JSON_COMPACT);
	if (!text) {
		err_msg(c, "out of memory");
		rc = EXIT_FAIL;
		goto out;
	}
	if ((rc = call(c, "POST", "/admin/v1/route/explain", text, strlen(text),
		       &j)))
		goto out;
	if (c->json)
		print_json(stdout, j);
	else
		pr_ctl_print_explain(stdout, j);
out:
	free(text);
	json_decref(body);
	json_decref(j);
	return rc;
}

static int cmd_export(struct ctl *c, int argc, char **argv)
{
	json_t *j;
	char *text;
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = call(c, "GET", "/admin/v1/policy", NULL, 0, &j)))
		return rc;
	text = json_dumps(j, JSON_INDENT(2));
	if (!text) {
		json_decref(j);
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	if (!c->output || strcmp(c->output, "-") == 0) {
		fputs(text, stdout);
		fputc('\n', stdout);
	} else {
		size_t n = strlen(text);

		text[n] = '\n'; /* json_dumps' NUL: the file ends in \n */
		rc = write_file(c, c->output, text, n + 1);
		if (!rc)
			printf("exported to %s (channels %zu, whitelist "
			       "entries %zu, rules %zu, code overrides %zu)\n",
			       c->output,
			       json_array_size(json_object_get(j, "channels")),
			       json_array_size(json_object_get(j, "whitelist")),
			       json_array_size(json_object_get(j, "rules")),
			       json_array_size(
				       json_object_get(j, "code_overrides")));
	}
	free(text);
	json_decref(j);
	return rc;
}

/* An answer that is a pending approval (202: four eyes, from
 * approvals.threshold on): says so and what comes next; 1 when it was
 * one. */
static int print_pending(struct ctl *c, json_t *j)
{
	json_t *a = json_object_get(j, "approval");

	if (!json_is_object(a) || strcmp(jstr(a, "state"), "pending") != 0)
		return 0;
	if (c->json)
		print_json(stdout, j);
	else
		printf("approval %lld pending: %s of %s, asked by %s; another "
		       "operator approves it (payroutectl approvals approve "
		       "%lld) before %s\n",
		       jint(a, "id"), jstr(a, "kind"), jstr(a, "target"),
		       jstr(a, "requested_by"), jint(a, "id"),
		       jstr(a, "expires_at"));
	return 1;
}

static int cmd_import(struct ctl *c, int argc, char **argv)
{
	json_t *doc, *j = NULL;
	json_error_t je;
	char *text;
	size_t len;
	int rc;

	(void)argc;
	if ((rc = read_file(c, argv[0], &text, &len)))
		return rc;
	/* say where a hand-edited document is broken before sending it */
	doc = json_loadb(text, len, 0, &je);
	if (!json_is_object(doc)) {
		if (doc)
			err_msg(c, "%s: not a policy document (a JSON object)",
				argv[0]);
		else
			err_msg(c, "%s: line %d column %d: %s", argv[0],
				je.line, je.column, je.text);
		json_decref(doc);
		free(text);
		return EXIT_FAIL;
	}
	json_decref(doc);
	rc = call(c, "PUT",
		  c->dry_run ? "/admin/v1/policy?dry_run=1" :
			       "/admin/v1/policy",
		  text, len, &j);
	free(text);
	if (rc)
		return rc;
	/* a pending approval (four eyes): not applied yet */
	if (!print_pending(c, j)) {
		if (c->json)
			print_json(stdout, j);
		else
			pr_ctl_print_import(stdout, j);
	}
	json_decref(j);
	return 0;
}

/* Polls the replay at path until it is no longer running, within the
 * timeout (--timeout). Returns 0 with *out the last answer. */
static int replay_wait(struct ctl *c, const char *path, json_t **out)
{
	const struct timespec pause = { 0, 200 * 1000 * 1000 };
	long tries = c->timeout_s * 5;
	const char *st;
	int rc;

	for (;;) {
		if ((rc = call(c, "GET", path, NULL, 0, out)))
			return rc;
		st = json_string_value(json_object_get(*out, "status"));
		if (!st || strcmp(st, "running") != 0)
			return 0;
		if (--tries <= 0) {
			err_msg(c,
				"still running after %ld s (--timeout); "
				"payroutectl can read it later: GET %s",
				c->timeout_s, path);
			json_decref(*out);
			*out = NULL;
			return EXIT_FAIL;
		}
		json_decref(*out);
		*out = NULL;
		nanosleep(&pause, NULL);
	}
}

static int cmd_policy_replay(struct ctl *c, int argc, char **argv)
{
	json_t *doc, *body = NULL, *j = NULL;
	json_error_t je;
	char *text, path[96];
	size_t len;
	int rc;

	(void)argc;
	if (!c->from || !c->to) {
		err_msg(c, "--from and --to are required (RFC 3339)");
		return EXIT_USAGE;
	}
	if ((rc = read_file(c, argv[0], &text, &len)))
		return rc;
	doc = json_loadb(text, len, 0, &je);
	free(text);
	if (!json_is_object(doc)) {
		if (doc)
			err_msg(c, "%s: not a policy document (a JSON object)",
				argv[0]);
		else
			err_msg(c, "%s: line %d column %d: %s", argv[0],
				je.line, je.column, je.text);
		json_decref(doc);
		return EXIT_FAIL;
	}
	body = json_pack("{s:o,s:s,s:s}", "policy", doc, "from", c->from, "to",
			 c->to);
	if (body && c->kind &&
	    json_object_set_new(body, "kind", json_string(c->kind)) < 0) {
		json_decref(body);
		body = NULL;
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory");
		return EXIT_FAIL;
	}
	rc = call(c, "POST", "/admin/v1/policy/replay", text, strlen(text), &j);
	free(text);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/admin/v1/policy/replay/%lld",
		 jint(j, "id"));
	json_decref(j);
	if ((rc = replay_wait(c, path, &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		pr_ctl_print_replay(stdout, j);
	rc = strcmp(jstr(j, "status"), "done") == 0 ? 0 : EXIT_FAIL;
	json_decref(j);
	return rc;
}

static int cmd_overdue(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "ID", .path = "id" },
		{ .head = "PAYMENT", .path = "payment_id" },
		{ .head = "CHANNEL", .path = "channel" },
		{ .head = "AMOUNT",
		  .path = "amount",
		  .kind = PR_CTL_COL_AMOUNT,
		  .arg = "currency" },
		{ .head = "REASON", .path = "reason" },
		{ .head = "AGE",
		  .path = "age_seconds",
		  .kind = PR_CTL_COL_DURATION },
		{ .head = "ATTEMPTS", .path = "attempts" },
		{ .head = "BUYER", .path = "buyer_id" },
	};

	(void)argc;
	(void)argv;
	return list(c, "/admin/v1/refunds/overdue", "refunds", cols,
		    NCOLS(cols), "no overdue refunds");
}

static int cmd_refund_resend(struct ctl *c, int argc, char **argv)
{
	char path[512];
	json_t *j;
	int rc;

	(void)argc;
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/refunds/",
			    argv[0], "/resend")))
		return rc;
	if ((rc = call(c, "POST", path, NULL, 0, &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("refund %s re-sent: %s\n", argv[0], jstr(j, "status"));
	json_decref(j);
	return 0;
}

static int cmd_refund_resolve(struct ctl *c, int argc, char **argv)
{
	char path[512];
	json_t *body, *j = NULL;
	char *text = NULL;
	int rc;

	(void)argc;
	if (!c->outcome || !c->note) {
		err_msg(c, "--outcome and --note are required "
			   "(payroutectl refund resolve --help)");
		return EXIT_USAGE;
	}
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/refunds/",
			    argv[0], "/resolve")))
		return rc;
	body = json_pack("{s:s,s:s}", "outcome", c->outcome, "note", c->note);
	if (body && c->withdrawal)
		json_object_set_new(body, "withdrawal_id",
				    json_string(c->withdrawal));
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory (or --outcome/--note not UTF-8)");
		return EXIT_FAIL;
	}
	rc = call(c, "POST", path, text, strlen(text), &j);
	free(text);
	if (rc)
		return rc;
	/* a pending approval (four eyes): not applied yet */
	if (!print_pending(c, j)) {
		if (c->json)
			print_json(stdout, j);
		else
			printf("refund %s %s (%s)\n", argv[0],
			       jstr(j, "status"), c->outcome);
	}
	json_decref(j);
	return 0;
}

/* The list a KIND argument names ("payments", "refunds", "withdrawals"),
 * or NULL. */
static const char *list_kind(const char *k)
{
	static const char *const kinds[] = { "payments", "refunds",
					     "withdrawals" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(k, kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

/* The path of a list: head and the filters NAME=VALUE of argv (each
 * escaped) as its query string. Returns 0, or EXIT_USAGE after reporting
 * an argument that is no filter or filters too long. */
static int filter_path(struct ctl *c, char *path, size_t len, const char *head,
		       int argc, char **argv)
{
	size_t o = (size_t)snprintf(path, len, "%s", head);

	for (int a = 0; a < argc; a++) {
		const char *eq = strchr(argv[a], '=');
		char *k, *v;

		if (!eq || eq == argv[a]) {
			err_msg(c, "%s: a filter is NAME=VALUE", argv[a]);
			return EXIT_USAGE;
		}
		k = curl_easy_escape(c->curl, argv[a], (int)(eq - argv[a]));
		v = curl_easy_escape(c->curl, eq + 1, 0);
		if (k && v && o < len)
			o += (size_t)snprintf(path + o, len - o, "%c%s=%s",
					      a == 0 ? '?' : '&', k, v);
		curl_free(k);
		curl_free(v);
		if (!k || !v || o >= len) {
			err_msg(c, "the filters are too long");
			return EXIT_USAGE;
		}
	}
	return 0;
}

/* After a page of a list: the command that prints the next one (the
 * same arguments, cursor=next_cursor), when the answer has one. */
static void print_more(json_t *j, const char *cmd, int argc, char **argv)
{
	if (!json_is_string(json_object_get(j, "next_cursor")))
		return;
	printf("more: payroutectl %s", cmd);
	for (int a = 0; a < argc; a++)
		if (strncmp(argv[a], "cursor=", 7) != 0)
			printf(" %s", argv[a]);
	printf(" cursor=%s\n", jstr(j, "next_cursor"));
}

static int cmd_orders(struct ctl *c, int argc, char **argv)
{
	const char *kind = list_kind(argv[0]), *no;
	char path[4096], head[64];
	json_t *j;
	int rc;

	if (!kind) {
		err_msg(c, "%s: payments, refunds or withdrawals", argv[0]);
		return EXIT_USAGE;
	}
	snprintf(head, sizeof(head), "/admin/v1/%s", kind);
	if ((rc = filter_path(c, path, sizeof(path), head, argc - 1, argv + 1)))
		return rc;
	if ((rc = call(c, "GET", path, NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
		json_decref(j);
		return 0;
	}
	no = strcmp(kind, "payments") == 0 ? "merchant_order_no" :
	     strcmp(kind, "refunds") == 0  ? "merchant_refund_no" :
					     "merchant_withdrawal_no";
	{
		char empty[32];
		const struct pr_ctl_col cols[] = {
			{ .head = "ID", .path = "id" },
			{ .head = "MERCHANT", .path = "merchant_id" },
			{ .head = "NUMBER", .path = no },
			{ .head = "STATUS", .path = "status" },
			{ .head = "CHANNEL", .path = "channel" },
			{ .head = "AMOUNT",
			  .path = "amount",
			  .kind = PR_CTL_COL_AMOUNT,
			  .arg = "currency" },
			{ .head = "CODE", .path = "code" },
			{ .head = "CREATED", .path = "created_at" },
			/* only withdrawals wait (for an approval) */
			{ .head = "WAITING",
			  .path = "waiting.reason",
			  .missing = "" },
		};

		snprintf(empty, sizeof(empty), "no %s", kind);
		rc = show_rows(c, cols, NCOLS(cols) - (kind[0] != 'w'),
			       json_object_get(j, "items"), empty);
	}
	print_more(j, "orders", argc, argv);
	json_decref(j);
	return rc;
}

static int cmd_settle(struct ctl *c, int argc, char **argv)
{
	const char *kind = list_kind(argv[0]);
	char path[512], head[32];
	json_t *body, *j = NULL;
	char *text;
	int rc;

	(void)argc;
	if (!kind) {
		err_msg(c, "%s: payments, refunds or withdrawals", argv[0]);
		return EXIT_USAGE;
	}
	if (!c->outcome || !c->note || !c->evidence) {
		err_msg(c, "--outcome, --note and --evidence are required "
			   "(payroutectl settle --help)");
		return EXIT_USAGE;
	}
	snprintf(head, sizeof(head), "/admin/v1/%s/", kind);
	if ((rc = path_with(c, path, sizeof(path), head, argv[1], "/settle")))
		return rc;
	body = json_pack("{s:s,s:s,s:s}", "outcome", c->outcome, "note",
			 c->note, "evidence", c->evidence);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory (or an option not UTF-8)");
		return EXIT_FAIL;
	}
	rc = call(c, "POST", path, text, strlen(text), &j);
	free(text);
	if (rc)
		return rc;
	/* a pending approval (four eyes): not applied yet */
	if (!print_pending(c, j)) {
		if (c->json)
			print_json(stdout, j);
		else
			printf("%s %s settled: %s (%s)\n", kind, argv[1],
			       jstr(j, "status"), jstr(j, "code"));
	}
	json_decref(j);
	return 0;
}

/* ------------------------------------------------------ reconciliation */

/* The open differences of a run as a table. */
static int print_differences(struct ctl *c, json_t *j)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "ID", .path = "id" },
		{ .head = "KIND", .path = "kind" },
		{ .head = "ORDER", .path = "order_kind" },
		{ .head = "REF", .path = "ref" },
		/* each side in its own currency: a bill may name another */
		{ .head = "OURS", .path = "ours.status" },
		{ .head = "AMOUNT",
		  .path = "ours.amount",
		  .kind = PR_CTL_COL_AMOUNT,
		  .arg = "ours.currency" },
		{ .head = "THEIRS", .path = "theirs.effect" },
		{ .head = "AMOUNT",
		  .path = "theirs.amount",
		  .kind = PR_CTL_COL_AMOUNT,
		  .arg = "theirs.currency" },
		{ .head = "FEE",
		  .path = "theirs.fee",
		  .kind = PR_CTL_COL_AMOUNT,
		  .arg = "theirs.currency" },
		{ .head = "STATUS", .path = "status" },
		{ .head = "CHECK",
		  .path = "check_scheduled",
		  .kind = PR_CTL_COL_IF_TRUE,
		  .arg = "checked" },
	};

	return show_rows(c, cols, NCOLS(cols),
			 json_object_get(j, "differences"), "no differences");
}

/* A run's open differences, summed over their kinds. */
static void open_count(json_t *r, char *out, size_t len)
{
	const char *key;
	long long n = 0;
	json_t *v;

	json_object_foreach(json_object_get(r, "open_differences"), key, v)
		n += json_integer_value(v);
	snprintf(out, len, "%lld", n);
}

/* A run's status, "done (no bill)" for a day the channel had no bill. */
static void run_status(json_t *r, char *out, size_t len)
{
	int no_bill = json_is_true(json_object_get(r, "no_bill")) &&
		      strcmp(jstr(r, "status"), "done") == 0;

	snprintf(out, len, "%s",
		 no_bill ? "done (no bill)" : jstr(r, "status"));
}

/* The runs and the fees, as tables. */
static int print_runs(struct ctl *c, json_t *j)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "DAY", .path = "day" },
		{ .head = "CHANNEL", .path = "channel" },
		{ .head = "STATUS", .kind = PR_CTL_COL_FN, .fn = run_status },
		{ .head = "ROWS", .path = "bill.rows" },
		{ .head = "MATCHED", .path = "matched.count" },
		{ .head = "OPEN", .kind = PR_CTL_COL_FN, .fn = open_count },
		{ .head = "FEE BPS",
		  .path = "fees.learnt_bps",
		  .kind = PR_CTL_COL_REAL },
		{ .head = "ERROR", .path = "error", .missing = "" },
	};
	/* minor units: the answer names no currency */
	static const struct pr_ctl_col fcols[] = {
		{ .head = "CHANNEL", .path = "channel" },
		{ .head = "AMOUNT", .path = "amount" },
		{ .head = "BILLED", .path = "billed" },
		{ .head = "EXPECTED", .path = "expected" },
		{ .head = "LEARNT BPS",
		  .path = "learnt_bps",
		  .kind = PR_CTL_COL_REAL },
		{ .head = "MODEL BPS", .path = "configured.rate_bps" },
		{ .head = "DRIFT %",
		  .path = "drift_pct",
		  .kind = PR_CTL_COL_REAL,
		  .arg = "+" },
		{ .head = "FLAG",
		  .path = "drift",
		  .kind = PR_CTL_COL_IF_TRUE,
		  .arg = "DRIFT" },
	};
	int rc;

	if ((rc = show_rows(c, cols, NCOLS(cols), json_object_get(j, "runs"),
			    "no reconciliation runs")))
		return rc;
	if (json_array_size(json_object_get(j, "fees")) == 0)
		return 0;
	printf("\nfees over the last 30 days (flagged past %lld%% of the fee "
	       "model):\n",
	       jint(j, "drift_pct_threshold"));
	return show_rows(c, fcols, NCOLS(fcols), json_object_get(j, "fees"),
			 NULL);
}

static int cmd_recon(struct ctl *c, int argc, char **argv)
{
	char path[512], *ech = NULL;
	json_t *j;
	int rc;

	if (argc >= 1) {
		ech = curl_easy_escape(c->curl, argv[0], 0);
		if (!ech) {
			err_msg(c, "out of memory");
			return EXIT_FAIL;
		}
	}
	if (argc >= 2) {
		char *eday = curl_easy_escape(c->curl, argv[1], 0);

		if (!eday) {
			curl_free(ech);
			err_msg(c, "out of memory");
			return EXIT_FAIL;
		}
		snprintf(path, sizeof(path),
			 "/admin/v1/reconciliation?channel=%s&day=%s", ech,
			 eday);
		curl_free(eday);
	} else {
		snprintf(path, sizeof(path), "/admin/v1/reconciliation%s%s",
			 ech ? "?channel=" : "", ech ? ech : "");
	}
	curl_free(ech);
	if ((rc = call(c, "GET", path, NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
	} else if (argc >= 2) {
		json_t *bill = json_object_get(j, "bill");
		json_t *fees = json_object_get(j, "fees");
		json_t *tot = json_object_get(j, "totals");

		printf("%s %s: %s%s (attempt %lld, %lld matches)\n",
		       jstr(j, "channel"), jstr(j, "day"), jstr(j, "status"),
		       json_is_true(json_object_get(j, "no_bill")) ?
			       ", no bill" :
			       "",
		       jint(j, "attempts"), jint(j, "runs"));
		if (json_is_string(json_object_get(j, "error")))
			printf("error       %s\n", jstr(j, "error"));
		printf("bill        %lld rows, amount %lld, fee %lld\n",
		       jint(bill, "rows"), jint(bill, "amount"),
		       jint(bill, "fee"));
		printf("matched     %lld rows, amount %lld\n",
		       jint(json_object_get(j, "matched"), "count"),
		       jint(json_object_get(j, "matched"), "amount"));
		printf("differences %lld open (amount %lld), %lld resolved, "
		       "%lld cleared\n",
		       jint(tot, "open"), jint(tot, "open_amount"),
		       jint(tot, "resolved"), jint(tot, "cleared"));
		printf("fees        billed %lld, the model says %lld%s\n\n",
		       jint(fees, "billed"), jint(fees, "expected"),
		       json_is_true(json_object_get(fees, "drift")) ?
			       " (DRIFT)" :
			       "");
		rc = print_differences(c, j);
	} else {
		rc = print_runs(c, j);
	}
	json_decref(j);
	return rc;
}

static int cmd_recon_run(struct ctl *c, int argc, char **argv)
{
	json_t *body, *j;
	char *text;
	int rc;

	(void)argc;
	body = json_pack("{s:s,s:s}", "channel", argv[0], "day", argv[1]);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory (or arguments not UTF-8)");
		return EXIT_FAIL;
	}
	rc = call(c, "POST", "/admin/v1/reconciliation/runs", text,
		  strlen(text), &j);
	free(text);
	if (rc)
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("reconciliation of %s on %s: %s\n", argv[0], argv[1],
		       jstr(j, "status"));
	json_decref(j);
	return 0;
}

static int cmd_recon_resolve(struct ctl *c, int argc, char **argv)
{
	char path[512];
	json_t *body, *j;
	char *text;
	int rc;

	(void)argc;
	if (!c->note) {
		err_msg(c, "--note is required (payroutectl recon resolve "
			   "--help)");
		return EXIT_USAGE;
	}
	if ((rc = path_with(c, path, sizeof(path),
			    "/admin/v1/reconciliation/differences/", argv[0],
			    "/resolve")))
		return rc;
	body = json_pack("{s:s}", "note", c->note);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory (or --note not UTF-8)");
		return EXIT_FAIL;
	}
	rc = call(c, "POST", path, text, strlen(text), &j);
	free(text);
	if (rc)
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("difference %s %s by %s\n", argv[0], jstr(j, "status"),
		       jstr(j, "resolved_by"));
	json_decref(j);
	return 0;
}

/* ----------------------------------------------------------- operators */

static int cmd_whoami(struct ctl *c, int argc, char **argv)
{
	json_t *j, *v;
	size_t i;
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = call(c, "GET", "/admin/v1/whoami", NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
	} else {
		printf("%s (", jstr(j, "name"));
		json_array_foreach(json_object_get(j, "roles"), i, v)
			printf("%s%s", i ? ", " : "", json_string_value(v));
		printf(")\npermissions:");
		json_array_foreach(json_object_get(j, "permissions"), i, v)
			printf(" %s", json_string_value(v));
		printf("\n");
	}
	json_decref(j);
	return 0;
}

/* "admin, viewer" of an operator's roles into buf. */
static const char *roles_text(json_t *op, char *buf, size_t len)
{
	json_t *v;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(op, "roles"), i, v)
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
					      i ? "," : "",
					      json_string_value(v));
	return buf;
}

/* An operator's roles joined by ",". */
static void roles_cell(json_t *op, char *out, size_t len)
{
	roles_text(op, out, len);
}

static int cmd_operator_list(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "NAME", .path = "name" },
		{ .head = "ROLES", .kind = PR_CTL_COL_FN, .fn = roles_cell },
		{ .head = "STATE", .path = "state" },
		{ .head = "CREATED BY", .path = "created_by" },
		{ .head = "CREATED", .path = "created_at" },
	};

	(void)argc;
	(void)argv;
	return list(c, "/admin/v1/operators", "operators", cols, NCOLS(cols),
		    NULL);
}

/* Sends body (stolen) to method path; prints the answer's operator. */
static int operator_call(struct ctl *c, const char *method, const char *path,
			 json_t *body, const char *done)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char roles[64];
	json_t *j = NULL;
	int rc;

	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory (or an argument not UTF-8)");
		return EXIT_FAIL;
	}
	rc = call(c, method, path, text, strlen(text), &j);
	free(text);
	if (rc)
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("operator %s %s: roles %s, %s\n", jstr(j, "name"), done,
		       roles_text(j, roles, sizeof(roles)), jstr(j, "state"));
	json_decref(j);
	return 0;
}

static int cmd_operator_add(struct ctl *c, int argc, char **argv)
{
	json_t *roles = json_array();

	(void)argc;
	if (!c->n_roles) {
		json_decref(roles);
		err_msg(c, "--role ROLE is required (viewer, operator, admin; "
			   "repeat it for more)");
		return EXIT_USAGE;
	}
	for (int i = 0; roles && i < c->n_roles; i++)
		json_array_append_new(roles, json_string(c->roles[i]));
	return operator_call(c, "POST", "/admin/v1/operators",
			     json_pack("{s:s,s:o}", "name", argv[0], "roles",
				       roles),
			     "created");
}

static int operator_state(struct ctl *c, const char *name, const char *state)
{
	char path[512];
	int rc;

	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/operators/", name,
			    "")))
		return rc;
	return operator_call(c, "PATCH", path,
			     json_pack("{s:s}", "state", state), state);
}

static int cmd_operator_disable(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return operator_state(c, argv[0], "disabled");
}

static int cmd_operator_enable(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return operator_state(c, argv[0], "active");
}

static int cmd_operator_roles(struct ctl *c, int argc, char **argv)
{
	json_t *roles = json_array();
	char path[512];
	int rc;

	(void)argc;
	if (!c->n_roles) {
		json_decref(roles);
		err_msg(c, "--role ROLE is required");
		return EXIT_USAGE;
	}
	for (int i = 0; roles && i < c->n_roles; i++)
		json_array_append_new(roles, json_string(c->roles[i]));
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/operators/",
			    argv[0], ""))) {
		json_decref(roles);
		return rc;
	}
	return operator_call(c, "PATCH", path,
			     json_pack("{s:o}", "roles", roles), "changed");
}

/* operator password NAME: the password is the first line of standard
 * input (never an argument: ps would show it); on a terminal it is asked
 * for without echo. */
static int cmd_operator_password(struct ctl *c, int argc, char **argv)
{
	char pw[300], path[512];
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO), echo_off = 0, rc;
	size_t n;

	(void)argc;
	if (tty) {
		fprintf(stderr, "password for %s: ", argv[0]);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) ==
				   0;
		}
	}
	if (!fgets(pw, sizeof(pw), stdin))
		pw[0] = '\0';
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (!n) {
		err_msg(c, "no password on standard input");
		return EXIT_USAGE;
	}
	rc = path_with(c, path, sizeof(path), "/admin/v1/operators/", argv[0],
		       "/password");
	if (!rc)
		rc = operator_call(c, "POST", path,
				   json_pack("{s:s}", "password", pw),
				   "has a new password");
	memset(pw, 0, sizeof(pw));
	return rc;
}

static int cmd_operator_token(struct ctl *c, int argc, char **argv)
{
	char path[512];
	json_t *body, *j = NULL;
	char *text;
	int rc;

	(void)argc;
	if (!c->label) {
		err_msg(c, "--label TEXT is required (what the token is for)");
		return EXIT_USAGE;
	}
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/operators/",
			    argv[0], "/tokens")))
		return rc;
	body = json_pack("{s:s,s:s?}", "label", c->label, "expires_at",
			 c->expires);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory (or an argument not UTF-8)");
		return EXIT_FAIL;
	}
	rc = call(c, "POST", path, text, strlen(text), &j);
	free(text);
	if (rc)
		return rc;
	if (c->json) {
		print_json(stdout, j);
	} else {
		/* the secret alone on stdout, for a pipe; the rest to
		 * stderr */
		fprintf(stderr,
			"token %lld \"%s\" of operator %s, expires %s; it "
			"is shown this once:\n",
			jint(j, "id"), jstr(j, "label"), jstr(j, "operator"),
			json_is_string(json_object_get(j, "expires_at")) ?
				jstr(j, "expires_at") :
				"never");
		printf("%s\n", jstr(j, "token"));
	}
	json_decref(j);
	return 0;
}

static int cmd_operator_tokens(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "ID", .path = "id" },
		{ .head = "LABEL", .path = "label" },
		{ .head = "STATE", .path = "state" },
		{ .head = "CREATED", .path = "created_at" },
		{ .head = "EXPIRES", .path = "expires_at" },
		{ .head = "LAST USED", .path = "last_used_at" },
	};
	char path[512];
	int rc;

	(void)argc;
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/operators/",
			    argv[0], "/tokens")))
		return rc;
	return list(c, path, "tokens", cols, NCOLS(cols), NULL);
}

static int cmd_operator_revoke(struct ctl *c, int argc, char **argv)
{
	char path[512], tail[64];
	json_t *j;
	int rc;

	(void)argc;
	if (strspn(argv[1], "0123456789") != strlen(argv[1]) || !argv[1][0] ||
	    strlen(argv[1]) > 18) {
		err_msg(c, "%s: a token id (a number)", argv[1]);
		return EXIT_USAGE;
	}
	snprintf(tail, sizeof(tail), "/tokens/%s", argv[1]);
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/operators/",
			    argv[0], tail)))
		return rc;
	if ((rc = call(c, "DELETE", path, NULL, 0, &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("token %s of operator %s revoked\n", argv[1], argv[0]);
	json_decref(j);
	return 0;
}

/* ----------------------------------------------------------- approvals */

static int cmd_approvals_list(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "ID", .path = "id" },
		{ .head = "STATE", .path = "state" },
		{ .head = "KIND", .path = "kind" },
		{ .head = "TARGET", .path = "target" },
		{ .head = "AMOUNT",
		  .path = "amount",
		  .kind = PR_CTL_COL_AMOUNT,
		  .arg = "currency" },
		{ .head = "BY", .path = "requested_by" },
		{ .head = "DECIDED BY", .path = "decided_by" },
		{ .head = "EXPIRES", .path = "expires_at" },
	};
	char path[128];

	if (argc > 0 &&
	    strspn(argv[0], "abcdefghijklmnopqrstuvwxyz") != strlen(argv[0])) {
		err_msg(c,
			"%s: a state (pending, approved, rejected, expired, "
			"applied, failed)",
			argv[0]);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/admin/v1/approvals%s%s",
		 argc > 0 ? "?state=" : "", argc > 0 ? argv[0] : "");
	return list(c, path, "items", cols, NCOLS(cols), "no approvals");
}

static int cmd_approvals_decide(struct ctl *c, const char *id, const char *verb,
				const char *body)
{
	char path[256], tail[16];
	json_t *j, *a;
	int rc;

	snprintf(tail, sizeof(tail), "/%s", verb);
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/approvals/", id,
			    tail)))
		return rc;
	if ((rc = call(c, "POST", path, body, body ? strlen(body) : 0, &j)))
		return rc;
	a = json_object_get(j, "approval");
	if (c->json)
		print_json(stdout, j);
	else
		printf("approval %s %s: %s of %s, asked by %s\n", id,
		       jstr(a, "state"), jstr(a, "kind"), jstr(a, "target"),
		       jstr(a, "requested_by"));
	json_decref(j);
	return 0;
}

static int cmd_approvals_approve(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return cmd_approvals_decide(c, argv[0], "approve", NULL);
}

static int cmd_approvals_reject(struct ctl *c, int argc, char **argv)
{
	json_t *body;
	char *text;
	int rc;

	(void)argc;
	if (!c->reason) {
		err_msg(c, "--reason is required (payroutectl approvals reject "
			   "--help)");
		return EXIT_USAGE;
	}
	body = json_pack("{s:s}", "reason", c->reason);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		err_msg(c, "out of memory (or --reason not UTF-8)");
		return EXIT_FAIL;
	}
	rc = cmd_approvals_decide(c, argv[0], "reject", text);
	free(text);
	return rc;
}

/* ------------------------------------------------------------ merchants */

/* A list with filters (filter_path): its answer as it is (--json) or its
 * member key as a table of the columns cols, then the next page's command
 * when the answer has a next_cursor (print_more, as cmd). */
static int list_filtered(struct ctl *c, const char *cmd, const char *head,
			 const char *key, const struct pr_ctl_col *cols,
			 size_t n, const char *empty, int argc, char **argv)
{
	char path[4096];
	json_t *j;
	int rc;

	if ((rc = filter_path(c, path, sizeof(path), head, argc, argv)))
		return rc;
	if ((rc = call(c, "GET", path, NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
		json_decref(j);
		return 0;
	}
	rc = show_rows(c, cols, n, json_object_get(j, key), empty);
	print_more(j, cmd, argc, argv);
	json_decref(j);
	return rc;
}

static int cmd_merchants(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "ID", .path = "id" },
		{ .head = "NAME", .path = "name" },
		{ .head = "STATUS", .path = "status" },
		{ .head = "LOCALE", .path = "locale" },
		{ .head = "KEY", .path = "api_key_prefix" },
		{ .head = "CREATED", .path = "created_at" },
	};

	return list_filtered(c, "merchants", "/admin/v1/merchants", "merchants",
			     cols, NCOLS(cols), "no merchants", argc, argv);
}

static int cmd_merchant_show(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return show_one(c, "/admin/v1/merchants/", argv[0]);
}

/* Sends body (stolen; NULL: none) to method on the merchant id's path
 * with tail, then prints what the answer says: with --json all of it,
 * else "merchant ID DONE: STATUS, locale L" on standard error and each
 * credential the answer carries on standard output, a line each
 * ("api_key prk_...", "notify_secret prn_..."), for a pipe: no read of
 * the API shows them again (the store keeps the key's hash only, and the
 * secret for signing). */
static int merchant_call(struct ctl *c, const char *method, const char *id,
			 const char *tail, json_t *body, const char *done)
{
	static const char *const creds[] = { "api_key", "notify_secret" };
	char path[512], *text = NULL;
	json_t *j = NULL;
	int rc, shown = 0;

	if (body && !(text = json_dumps(body, JSON_COMPACT))) {
		json_decref(body);
		err_msg(c, "out of memory (or an argument not UTF-8)");
		return EXIT_FAIL;
	}
	json_decref(body);
	snprintf(path, sizeof(path), "/admin/v1/merchants");
	rc = id ? path_with(c, path, sizeof(path), "/admin/v1/merchants/", id,
			    tail) :
		  0;
	if (!rc)
		rc = call(c, method, path, text ? text : "{}",
			  text ? strlen(text) : 2, &j);
	free(text);
	if (rc)
		return rc;
	if (c->json) {
		print_json(stdout, j);
		json_decref(j);
		return 0;
	}
	for (size_t i = 0; i < 2; i++)
		shown += json_is_string(json_object_get(j, creds[i]));
	fprintf(stderr, "merchant %s %s: %s, locale %s%s%s\n", jstr(j, "id"),
		done, jstr(j, "status"), jstr(j, "locale"),
		shown ? "; shown this once below (the API never shows it "
			"again): give " :
			"",
		shown > 1 ? "them to the merchant" :
		shown	  ? "it to the merchant" :
			    "");
	for (size_t i = 0; i < 2; i++)
		if (json_is_string(json_object_get(j, creds[i])))
			printf("%s %s\n", creds[i], jstr(j, creds[i]));
	json_decref(j);
	return 0;
}

/* A merchant's fields from FIELD=VALUE arguments (pr_ctl_kv_add): NULL
 * after reporting (*rc EXIT_USAGE or EXIT_FAIL). */
static json_t *merchant_fields(struct ctl *c, int argc, char **argv, int *rc)
{
	json_t *body = json_object();
	char err[256];
	int r;

	if (!body) {
		err_msg(c, "out of memory");
		*rc = EXIT_FAIL;
		return NULL;
	}
	if ((r = pr_ctl_kv_add(body, argc, argv, err, sizeof(err))) < 0) {
		json_decref(body);
		err_msg(c, "%s", err);
		*rc = r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
		return NULL;
	}
	return body;
}

static int cmd_merchant_add(struct ctl *c, int argc, char **argv)
{
	int rc = 0;
	json_t *body = merchant_fields(c, argc - 1, argv + 1, &rc);

	if (!body)
		return rc;
	if (json_object_set_new(body, "id", json_string(argv[0])) < 0) {
		json_decref(body);
		err_msg(c, "%s: not UTF-8", argv[0]);
		return EXIT_USAGE;
	}
	return merchant_call(c, "POST", NULL, "", body, "created");
}

static int cmd_merchant_set(struct ctl *c, int argc, char **argv)
{
	int rc = 0;
	json_t *body = merchant_fields(c, argc - 1, argv + 1, &rc);

	if (!body)
		return rc;
	return merchant_call(c, "PATCH", argv[0], "", body, "updated");
}

static int cmd_merchant_disable(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return merchant_call(c, "PATCH", argv[0], "",
			     json_pack("{s:s}", "status", "disabled"),
			     "disabled");
}

static int cmd_merchant_enable(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return merchant_call(c, "PATCH", argv[0], "",
			     json_pack("{s:s}", "status", "active"), "enabled");
}

static int cmd_merchant_key(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return merchant_call(c, "POST", argv[0], "/keys", NULL,
			     "has a new API key (the old one no longer works)");
}

static int cmd_merchant_secret(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return merchant_call(c, "POST", argv[0], "/notify-secret", NULL,
			     "has a new notification secret (notifications "
			     "are signed with it from now on)");
}

/* ------------------------------------------------- an order, follow-ups */

/* order ID: the kind from the id's first letter (P, R, W), as the
 * console's lookup. */
static int cmd_order(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col hist[] = {
		{ .head = "AT", .path = "at" },
		{ .head = "ACTOR", .path = "actor" },
		{ .head = "EVENT", .path = "event" },
		{ .head = "FROM", .path = "from_status" },
		{ .head = "TO", .path = "to_status" },
		{ .head = "DETAIL", .path = "detail" },
	};
	static const struct pr_ctl_col notes[] = {
		{ .head = "NOTIFICATION", .path = "id" },
		{ .head = "EVENT", .path = "event" },
		{ .head = "STATE", .path = "state" },
		{ .head = "ATTEMPTS", .path = "attempts" },
		{ .head = "LAST STATUS", .path = "last_status" },
		{ .head = "LAST ERROR", .path = "last_error" },
	};
	const char *kind = argv[0][0] == 'P' ? "payment" :
			   argv[0][0] == 'R' ? "refund" :
			   argv[0][0] == 'W' ? "withdrawal" :
					       NULL;
	char head[64], path[512], amount[64];
	json_t *j, *o, *ck;
	int rc, digits;

	(void)argc;
	if (!kind) {
		err_msg(c,
			"%s: a payment (P...), refund (R...) or withdrawal "
			"(W...) id",
			argv[0]);
		return EXIT_USAGE;
	}
	snprintf(head, sizeof(head), "/admin/v1/%ss/", kind);
	if ((rc = path_with(c, path, sizeof(path), head, argv[0], "")))
		return rc;
	if ((rc = call(c, "GET", path, NULL, 0, &j)))
		return rc;
	if (c->json) {
		print_json(stdout, j);
		json_decref(j);
		return 0;
	}
	o = json_object_get(j, kind);
	/* digits -1 (currency unknown): "1234 minor" */
	digits = pr_ctl_minor_units(currencies(c), jstr(o, "currency"));
	pr_ctl_major(jint(o, "amount"), digits, amount, sizeof(amount));
	printf("%s %s: %s, %s %s on %s\n", kind, jstr(o, "id"),
	       jstr(o, "status"), amount, jstr(o, "currency"),
	       json_is_string(json_object_get(o, "channel")) ?
		       jstr(o, "channel") :
		       "no channel");
	printf("merchant %s", jstr(o, "merchant_id"));
	if (json_is_string(json_object_get(o, "payment_id")))
		printf(", payment %s", jstr(o, "payment_id"));
	printf(", created %s", jstr(o, "created_at"));
	if (json_is_string(json_object_get(o, "finished_at")))
		printf(", finished %s", jstr(o, "finished_at"));
	printf("\n");
	if (json_is_string(json_object_get(o, "code")))
		printf("code %s: %s\n", jstr(o, "code"), jstr(o, "message_en"));
	if (json_is_string(json_object_get(o, "channel_trade_no")))
		printf("the channel's trade number %s\n",
		       jstr(o, "channel_trade_no"));
	ck = json_object_get(j, "check");
	if (json_is_object(ck))
		printf("supplementary query: %lld so far, next %s%s%s\n",
		       jint(ck, "checks"), jstr(ck, "next_at"),
		       json_is_true(json_object_get(ck, "attention")) ?
			       "; needs an operator: " :
			       "",
		       json_is_true(json_object_get(ck, "attention")) ?
			       jstr(ck, "attention_reason") :
			       "");
	printf("\n");
	rc = show_rows(c, hist, NCOLS(hist), json_object_get(j, "events"),
		       "no history");
	if (!rc && json_array_size(json_object_get(j, "notifications"))) {
		printf("\n");
		rc = show_rows(c, notes, NCOLS(notes),
			       json_object_get(j, "notifications"), NULL);
	}
	json_decref(j);
	return rc;
}

static int cmd_attention(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "KIND", .path = "kind" },
		{ .head = "ID", .path = "id" },
		{ .head = "STATUS", .path = "status" },
		{ .head = "CHANNEL", .path = "channel" },
		{ .head = "AMOUNT",
		  .path = "amount",
		  .kind = PR_CTL_COL_AMOUNT,
		  .arg = "currency" },
		{ .head = "CHECKS", .path = "checks" },
		{ .head = "REASON", .path = "reason" },
		{ .head = "LAST RESULT", .path = "last_result" },
		{ .head = "SINCE", .path = "since" },
	};

	return list_filtered(c, "attention", "/admin/v1/orders/attention",
			     "orders", cols, NCOLS(cols),
			     "no orders need an operator", argc, argv);
}

static int cmd_notifications(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "ID", .path = "id" },
		{ .head = "MERCHANT", .path = "merchant_id" },
		{ .head = "ORDER", .path = "order_id" },
		{ .head = "EVENT", .path = "event" },
		{ .head = "STATE", .path = "state" },
		{ .head = "ATTEMPTS", .path = "attempts" },
		{ .head = "NEXT", .path = "next_at" },
		{ .head = "LAST STATUS", .path = "last_status" },
		{ .head = "LAST ERROR", .path = "last_error" },
	};

	return list_filtered(c, "notifications", "/admin/v1/notifications",
			     "notifications", cols, NCOLS(cols),
			     "no notifications", argc, argv);
}

static int cmd_notification_show(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return show_one(c, "/admin/v1/notifications/", argv[0]);
}

static int cmd_notification_retry(struct ctl *c, int argc, char **argv)
{
	char path[512];
	json_t *j;
	int rc;

	(void)argc;
	if ((rc = path_with(c, path, sizeof(path), "/admin/v1/notifications/",
			    argv[0], "/retry")))
		return rc;
	if ((rc = call(c, "POST", path, "{}", 2, &j)))
		return rc;
	if (c->json)
		print_json(stdout, j);
	else
		printf("notification %lld (%s of %s) re-queued: %s, next %s\n",
		       jint(j, "id"), jstr(j, "event"), jstr(j, "order_id"),
		       jstr(j, "state"), jstr(j, "next_at"));
	json_decref(j);
	return 0;
}

static int cmd_audit(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "AT", .path = "at" },
		{ .head = "ACTOR", .path = "actor" },
		{ .head = "ACTION", .path = "action" },
		{ .head = "KIND", .path = "object_kind" },
		{ .head = "OBJECT", .path = "object_id" },
		{ .head = "NOTE", .path = "note" },
	};

	return list_filtered(c, "audit", "/admin/v1/audit", "audit", cols,
			     NCOLS(cols), "no audit entries", argc, argv);
}

/* ------------------------------------------------ result codes, breakers */

static int cmd_codes_unmapped(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "CHANNEL", .path = "channel" },
		{ .head = "OP", .path = "op" },
		{ .head = "CODE", .path = "code" },
		{ .head = "SUB CODE", .path = "sub_code" },
		{ .head = "COUNT", .path = "count" },
		{ .head = "LAST SEEN", .path = "last_seen" },
		{ .head = "SAMPLE ORDER", .path = "sample_order" },
		{ .head = "MESSAGE", .path = "sample_message" },
	};

	return list_filtered(c, "codes unmapped", "/admin/v1/codes/unmapped",
			     "unmapped", cols, NCOLS(cols),
			     "every code the channels answered is mapped", argc,
			     argv);
}

static int cmd_breakers(struct ctl *c, int argc, char **argv)
{
	static const struct pr_ctl_col cols[] = {
		{ .head = "CHANNEL", .path = "channel" },
		{ .head = "STATE", .path = "state" },
		{ .head = "FAILURES", .path = "failures_in_window" },
		{ .head = "OPENED", .path = "opened" },
		{ .head = "PROBE DUE", .path = "probe_due" },
		{ .head = "LAST FAILURE", .path = "last_failure" },
	};

	(void)argc;
	(void)argv;
	return list(c, "/admin/v1/breakers", "breakers", cols, NCOLS(cols),
		    "no channels");
}

static const struct cmd cmds[] = {
	{ "status", "",
	  "The daemon's version, generation, uptime, store pool "
	  "and counts (GET /admin/v1/status).",
	  0, 0, 0, cmd_status },
	{ "drivers", "",
	  "The drivers the current generation has loaded, with the number of "
	  "config keys each declares (GET /admin/v1/drivers).",
	  0, 0, 0, cmd_drivers },
	{ "driver", "NAME",
	  "One driver and the keys of its driver_config: type, required, "
	  "secret (masked when read back), default, what it is "
	  "(GET /admin/v1/drivers/NAME).",
	  0, 1, 1, cmd_driver },
	{ "reload", "",
	  "Reload as SIGHUP does and wait for the outcome: the "
	  "new generation, or why no changes were applied "
	  "(POST /admin/v1/reload).",
	  0, 0, 0, cmd_reload },
	{ "channels", "", "The channels as a table (GET /admin/v1/channels).",
	  0, 0, 0, cmd_channels },
	{ "channel show", "CODE",
	  "One channel as JSON, secrets masked "
	  "(GET /admin/v1/channels/CODE).",
	  0, 1, 1, cmd_channel_show },
	{ "channel enable", "CODE",
	  "Put a channel online; audited, in effect "
	  "on every instance (POST /admin/v1/channels/CODE/status).",
	  0, 1, 1, cmd_channel_enable },
	{ "channel weight", "CODE N",
	  "Set a channel's weight alone, the rest as it is; the operator role "
	  "may (PUT /admin/v1/channels/CODE/weight).",
	  0, 2, 2, cmd_channel_weight },
	{ "channel set", "CODE PATH=VALUE...",
	  "Change some of a channel's fields: a JSON Merge Patch (RFC 7396) "
	  "of the channel (PATCH /admin/v1/channels/CODE), checked and "
	  "audited as a full write: weight=60 limits.daily_amount=500000 "
	  "status=offline fee.max=null (null removes it); a number, true, "
	  "false and null are JSON, anything else a string; PATH:=JSON for "
	  "any value (methods:='[\"alipay\"]').",
	  0, 2, -1, cmd_channel_set },
	{ "channel disable", "CODE",
	  "Take a channel offline; audited, in "
	  "effect on every instance.",
	  0, 1, 1, cmd_channel_disable },
	{ "channel breaker", "CODE [closed|open]",
	  "The channel's circuit breaker: its state, failures and last "
	  "move (GET /admin/v1/channels/CODE/breaker); with a state, force "
	  "it, audited, on every instance within a second (POST).",
	  0, 1, 2, cmd_channel_breaker },
	{ "breakers", "",
	  "Every channel's circuit breaker (GET /admin/v1/breakers): its "
	  "state, failures in the window, times opened, when a probe is due "
	  "and the last failure; channel breaker CODE for one, and to force "
	  "it.",
	  0, 0, 0, cmd_breakers },
	{ "codes unmapped", "[FILTER=VALUE]...",
	  "The result codes channels answered that no table maps to a "
	  "unified code (GET /admin/v1/codes/unmapped), the most frequent "
	  "first, with a sample order and message: map each with an "
	  "override (codes.overrides of the policy document, import). "
	  "Filters: channel, limit (1 to 10000, default 1000).",
	  0, 0, -1, cmd_codes_unmapped },
	{ "explain", "[-f FILE | -] [KEY=VALUE | KEY:=JSON]...",
	  "The routing decision for a payment, without paying: the chosen "
	  "channel and every candidate with what dropped it and its score "
	  "parts (POST /admin/v1/route/explain). The body comes from FILE, "
	  "from standard input (-), from KEY=VALUE arguments (amount and "
	  "expire_seconds are integers; KEY:=JSON for any value), or from a "
	  "file completed by arguments.",
	  OPT_FILE, 0, -1, cmd_explain },
	{ "export", "[-o FILE]",
	  "The whole routing policy as one JSON "
	  "document (GET /admin/v1/policy): channels (secrets masked), "
	  "whitelist, rules, code overrides; to standard output or, written "
	  "atomically with mode 0600, to FILE.",
	  OPT_OUTPUT, 0, 0, cmd_export },
	{ "import", "FILE [--dry-run]",
	  "Replace the whole routing policy by "
	  "a document (PUT /admin/v1/policy): checked as a whole, written in "
	  "one transaction, audited, in effect on every instance when it "
	  "answers. What the store holds and FILE lacks is REMOVED. A masked "
	  "secret keeps the stored value. --dry-run checks it and prints "
	  "what would change, writing nothing. FILE - reads standard input.",
	  OPT_DRY_RUN, 1, 1, cmd_import },
	{ "policy replay",
	  "FILE --from TIME --to TIME [--kind payments|withdrawals]",
	  "Replay a draft policy (a document as export writes it) over the "
	  "payments (or, with --kind withdrawals, the withdrawals) stored "
	  "between --from and --to, and print what would "
	  "change against the active policy: per channel the orders moved "
	  "in and out, the fees of each side, the expected success from the "
	  "period's success rates, the days a daily limit is reached "
	  "(POST /admin/v1/policy/replay, then GET .../replay/ID until it "
	  "ends). Writes nothing. FILE - reads standard input.",
	  OPT_RANGE | OPT_KIND, 1, 1, cmd_policy_replay },
	{ "overdue", "",
	  "The refund overdue queue "
	  "(GET /admin/v1/refunds/overdue).",
	  0, 0, 0, cmd_overdue },
	{ "refund resend", "ID",
	  "Send an overdue refund again, where its "
	  "channel allows it (POST /admin/v1/refunds/ID/resend).",
	  0, 1, 1, cmd_refund_resend },
	{ "refund resolve",
	  "ID --outcome OUTCOME --note TEXT [--withdrawal ID]",
	  "Resolve an overdue refund by hand; OUTCOME is buyer_contacted, "
	  "refunded_offline, refunded_by_transfer or cancelled, the note says "
	  "what was done (POST /admin/v1/refunds/ID/resolve).",
	  OPT_OUTCOME | OPT_WITHDRAWAL, 1, 1, cmd_refund_resolve },
	{ "orders", "KIND [FILTER=VALUE]...",
	  "Orders of KIND (payments, refunds or withdrawals), newest first, a "
	  "page at a time (GET /admin/v1/KIND): merchant, status, channel, "
	  "code, merchant_order_no (merchant_refund_no, "
	  "merchant_withdrawal_no), buyer_id, payment_id, amount_min, "
	  "amount_max, created_from, created_to (RFC 3339), limit; the next "
	  "page's command is printed after the table (cursor=...). A "
	  "withdrawal waiting for a channel says why.",
	  0, 1, -1, cmd_orders },
	{ "settle", "KIND ID --outcome OUTCOME --note TEXT --evidence REF",
	  "Settle an order the channel will not: a payment (succeeded, failed "
	  "or closed), refund or withdrawal (succeeded or failed) that is "
	  "processing or unknown (a withdrawal waiting for a channel: failed; "
	  "an overdue refund: succeeded). --evidence is the channel's trade "
	  "number or a statement reference; --note says why. Audited; the "
	  "merchant is notified (POST /admin/v1/KIND/ID/settle).",
	  OPT_OUTCOME | OPT_EVIDENCE, 2, 2, cmd_settle },
	{ "order", "ID",
	  "One order, by its id (a payment P..., a refund R... or a "
	  "withdrawal W...; GET /admin/v1/KIND/ID): its state, amount, "
	  "channel and code, its supplementary query, its history (every "
	  "attempt, answer, check, callback and operator action) and its "
	  "merchant notifications; --json for all of it, the route trace "
	  "included.",
	  0, 1, 1, cmd_order },
	{ "attention", "",
	  "The orders the completion job gave up on, whose outcome at the "
	  "channel is unknown (GET /admin/v1/orders/attention): settle each "
	  "(payroutectl settle) once the channel or its statement says.",
	  0, 0, 0, cmd_attention },
	{ "notifications", "[FILTER=VALUE]...",
	  "Merchant notifications, newest first (GET "
	  "/admin/v1/notifications): state (pending, delivered, abandoned), "
	  "order_id, merchant_id, limit (1 to 1000, default 100).",
	  0, 0, -1, cmd_notifications },
	{ "notification show", "ID",
	  "One merchant notification (GET /admin/v1/notifications/ID), its "
	  "URL, attempts and last answer.",
	  0, 1, 1, cmd_notification_show },
	{ "notification retry", "ID",
	  "Send a notification that is not delivered again now, an abandoned "
	  "one included (POST /admin/v1/notifications/ID/retry). Audited.",
	  0, 1, 1, cmd_notification_retry },
	{ "audit", "[FILTER=VALUE]...",
	  "The audit log, newest first (GET /admin/v1/audit): object_kind "
	  "(channel, merchant, operator, refund, notification, ...), "
	  "object_id, limit (1 to 1000, default 100).",
	  0, 0, -1, cmd_audit },
	{ "merchants", "[FILTER=VALUE]...",
	  "The merchants by id, a page at a time (GET /admin/v1/merchants): "
	  "q (a part of the id, or of the name ignoring case), status "
	  "(active or disabled), limit (1 to 1000, default 100); the next "
	  "page's command is printed after the table (cursor=...).",
	  0, 0, -1, cmd_merchants },
	{ "merchant show", "ID",
	  "One merchant (GET /admin/v1/merchants/ID): never its API key or "
	  "notification secret, only the key's first characters.",
	  0, 1, 1, cmd_merchant_show },
	{ "merchant add",
	  "ID name=TEXT [locale=zh-CN|en] "
	  "[post_delivery_bearer=merchant|platform]",
	  "Create a merchant (POST /admin/v1/merchants). Its API key and "
	  "notification secret are printed this once, each on a line of "
	  "standard output (\"api_key prk_...\", \"notify_secret prn_...\"): "
	  "the store keeps only the key's hash. Give them to the merchant.",
	  0, 1, -1, cmd_merchant_add },
	{ "merchant set", "ID FIELD=VALUE...",
	  "Change a merchant's name, locale or post_delivery_bearer (PATCH "
	  "/admin/v1/merchants/ID).",
	  0, 2, -1, cmd_merchant_set },
	{ "merchant disable", "ID",
	  "Disable a merchant: its API key is refused from now on, on every "
	  "instance (PATCH /admin/v1/merchants/ID).",
	  0, 1, 1, cmd_merchant_disable },
	{ "merchant enable", "ID", "Enable a disabled merchant again.", 0, 1, 1,
	  cmd_merchant_enable },
	{ "merchant key", "ID",
	  "A new API key for the merchant (POST /admin/v1/merchants/ID/keys): "
	  "the old one stops working at once; the new one is printed this "
	  "once on standard output.",
	  0, 1, 1, cmd_merchant_key },
	{ "merchant secret", "ID",
	  "A new notification secret for the merchant (POST "
	  "/admin/v1/merchants/ID/notify-secret): notifications are signed "
	  "with it from now on; printed this once on standard output.",
	  0, 1, 1, cmd_merchant_secret },
	{ "recon", "[CHANNEL [DAY]]",
	  "Reconciliation against the channels' bills "
	  "(GET /admin/v1/reconciliation): the latest runs with their counts "
	  "and the fees the bills charged next to the fee models (drift "
	  "flagged); with CHANNEL and DAY (YYYY-MM-DD), that day's figures "
	  "and its differences with both sides.",
	  0, 0, 2, cmd_recon },
	{ "recon run", "CHANNEL DAY",
	  "Reconcile a day (again) now; audited "
	  "(POST /admin/v1/reconciliation/runs).",
	  0, 2, 2, cmd_recon_run },
	{ "recon resolve", "ID --note TEXT",
	  "Resolve a difference by hand; the note says what was found "
	  "(POST /admin/v1/reconciliation/differences/ID/resolve).",
	  0, 1, 1, cmd_recon_resolve },
	{ "whoami", "",
	  "The operator the token belongs to, its roles and permissions "
	  "(GET /admin/v1/whoami).",
	  0, 0, 0, cmd_whoami },
	{ "operator list", "",
	  "The operators as a table (GET /admin/v1/operators).", 0, 0, 0,
	  cmd_operator_list },
	{ "operator add", "NAME --role ROLE...",
	  "Create an operator with one or more roles: viewer, operator, admin "
	  "(POST /admin/v1/operators). Give it a token with operator token.",
	  OPT_ROLE, 1, 1, cmd_operator_add },
	{ "operator roles", "NAME --role ROLE...",
	  "Replace an operator's roles (PATCH /admin/v1/operators/NAME).",
	  OPT_ROLE, 1, 1, cmd_operator_roles },
	{ "operator disable", "NAME",
	  "Disable an operator: its tokens stop working at once "
	  "(PATCH /admin/v1/operators/NAME).",
	  0, 1, 1, cmd_operator_disable },
	{ "operator enable", "NAME",
	  "Enable an operator again, lifting a lockout "
	  "(PATCH /admin/v1/operators/NAME).",
	  0, 1, 1, cmd_operator_enable },
	{ "operator password", "NAME",
	  "Set an operator's console password, read from the first line of "
	  "standard input (asked for without echo on a terminal); its open "
	  "sessions end (POST /admin/v1/operators/NAME/password).",
	  0, 1, 1, cmd_operator_password },
	{ "operator token", "NAME --label TEXT [--expires TIME]",
	  "Make an API token for an operator; it is printed once, alone on "
	  "stdout (POST /admin/v1/operators/NAME/tokens). TIME is RFC 3339.",
	  OPT_LABEL | OPT_EXPIRES, 1, 1, cmd_operator_token },
	{ "operator tokens", "NAME",
	  "An operator's tokens, never their secrets "
	  "(GET /admin/v1/operators/NAME/tokens).",
	  0, 1, 1, cmd_operator_tokens },
	{ "operator revoke", "NAME ID",
	  "Revoke a token of an operator "
	  "(DELETE /admin/v1/operators/NAME/tokens/ID).",
	  0, 2, 2, cmd_operator_revoke },
	{ "approvals list", "[STATE]",
	  "Approvals (four eyes on money), newest first, optionally of one "
	  "state: pending, approved, rejected, expired, applied, failed "
	  "(GET /admin/v1/approvals).",
	  0, 0, 1, cmd_approvals_list },
	{ "approvals approve", "ID",
	  "Approve another operator's pending request: it is applied once, "
	  "now (POST /admin/v1/approvals/ID/approve). Never one's own.",
	  0, 1, 1, cmd_approvals_approve },
	{ "approvals reject", "ID --reason TEXT",
	  "Reject another operator's pending request; nothing is applied "
	  "(POST /admin/v1/approvals/ID/reject).",
	  OPT_REASON, 1, 1, cmd_approvals_reject },
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

/* --------------------------------------------------------------- usage */

static const char global_help[] =
	"Options (before or after the command):\n"
	"  -u, --url URL          the admin API (default $PAYROUTE_ADMIN_URL,\n"
	"                         else " DEFAULT_URL ")\n"
	"  -t, --token TOKEN      the admin token (ps shows it: prefer -T or\n"
	"                         the environment)\n"
	"  -T, --token-file FILE  read the token from FILE (default:\n"
	"                         $PAYROUTE_ADMIN_TOKEN)\n"
	"  -a, --actor NAME       ignored (the audit log names the token's\n"
	"                         operator)\n"
	"  -n, --note TEXT        why, for the audit log\n"
	"  -j, --json             print the answer as JSON\n"
	"      --timeout SECONDS  give up after this long (default 60)\n"
	"  -h, --help             help (payroutectl COMMAND --help)\n"
	"  -V, --version          print the version\n";

static void usage_all(FILE *f)
{
	fprintf(f, "usage: payroutectl [OPTIONS] COMMAND [ARGS]\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(f, "  %s%s%s\n", cmds[i].name,
			cmds[i].args[0] ? " " : "", cmds[i].args);
	fprintf(f,
		"\n%s\nExit status: 0 success, 1 the request failed, 2 a "
		"usage error.\nSee payroutectl(1).\n",
		global_help);
}

static void usage_cmd(FILE *f, const struct cmd *c)
{
	fprintf(f, "usage: payroutectl [OPTIONS] %s%s%s\n\n", c->name,
		c->args[0] ? " " : "", c->args);
	/* the help text, wrapped at 76 columns */
	{
		const char *p = c->help;
		size_t col = 0;

		while (*p) {
			size_t w = strcspn(p, " ");

			if (col && col + 1 + w > 76) {
				fputc('\n', f);
				col = 0;
			} else if (col) {
				fputc(' ', f);
				col++;
			}
			fwrite(p, 1, w, f);
			col += w;
			p += w;
			while (*p == ' ')
				p++;
		}
		fputc('\n', f);
	}
	if (c->opts & OPT_FILE)
		fprintf(f, "\n  -f, --file FILE        the payment body (JSON; "
			   "- for standard input)\n");
	if (c->opts & OPT_OUTPUT)
		fprintf(f, "\n  -o, --output FILE      write the document to "
			   "FILE instead of standard output\n");
	if (c->opts & OPT_DRY_RUN)
		fprintf(f, "\n      --dry-run          check and print what "
			   "would change; write nothing\n");
	if (c->opts & OPT_OUTCOME)
		fprintf(f, "\n      --outcome OUTCOME  buyer_contacted, "
			   "refunded_offline,\n"
			   "                         refunded_by_transfer or "
			   "cancelled\n"
			   "  -n, --note TEXT        what was done (required; "
			   "also the audit note)\n"
			   "      --withdrawal ID    the withdrawal that paid "
			   "the buyer, if any\n");
	if (c->opts & OPT_RANGE)
		fprintf(f,
			"\n      --from TIME        the first moment (RFC 3339)\n"
			"      --to TIME          the end, excluded (RFC 3339; "
			"at most 31 days\n"
			"                         after --from)\n");
	if (c->opts & OPT_KIND)
		fprintf(f, "\n      --kind KIND        payments (the default) "
			   "or withdrawals\n");
	fprintf(f, "\n%s", global_help);
}

/* The command named by the first one or two words, or NULL; *words is
 * how many words it took. */
static const struct cmd *find_cmd(int argc, char **argv, int *words)
{
	char two[128];

	if (argc < 1)
		return NULL;
	if (argc >= 2) {
		snprintf(two, sizeof(two), "%s %s", argv[0], argv[1]);
		for (size_t i = 0; i < N_CMDS; i++) {
			if (strcmp(cmds[i].name, two) == 0) {
				*words = 2;
				return &cmds[i];
			}
		}
	}
	for (size_t i = 0; i < N_CMDS; i++) {
		if (strcmp(cmds[i].name, argv[0]) == 0) {
			*words = 1;
			return &cmds[i];
		}
	}
	return NULL;
}

/* 1 when word starts some two-word command ("channel", "refund"). */
static int is_group(const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i < N_CMDS; i++) {
		if (strncmp(cmds[i].name, word, n) == 0 &&
		    cmds[i].name[n] == ' ')
			return 1;
	}
	return 0;
}

static const char *opt_name(unsigned bit)
{
	switch (bit) {
	case OPT_OUTPUT:
		return "--output";
	case OPT_DRY_RUN:
		return "--dry-run";
	case OPT_FILE:
		return "--file";
	case OPT_OUTCOME:
		return "--outcome";
	case OPT_EVIDENCE:
		return "--evidence";
	case OPT_RANGE:
		return "--from/--to";
	case OPT_ROLE:
		return "--role";
	case OPT_LABEL:
		return "--label";
	case OPT_EXPIRES:
		return "--expires";
	case OPT_REASON:
		return "--reason";
	case OPT_KIND:
		return "--kind";
	default:
		return "--withdrawal";
	}
}

/* Answers a command line whose words name no command: the commands of a
 * group ("channel --help"), or a usage error. */
static int no_cmd(struct ctl *c, int argc, char **argv)
{
	const char *next = argc > 1 ? argv[1] : NULL;
	size_t n = strlen(argv[0]);

	snprintf(c->what, sizeof(c->what), "%s", argv[0]);
	if (!is_group(argv[0])) {
		err_msg(c, "unknown command (payroutectl --help lists them)");
		return EXIT_USAGE;
	}
	if (next && (strcmp(next, "--help") == 0 || strcmp(next, "-h") == 0)) {
		printf("usage:\n");
		for (size_t i = 0; i < N_CMDS; i++) {
			if (strncmp(cmds[i].name, argv[0], n) == 0 &&
			    cmds[i].name[n] == ' ')
				printf("  payroutectl %s%s%s\n", cmds[i].name,
				       cmds[i].args[0] ? " " : "",
				       cmds[i].args);
		}
		printf("\npayroutectl %s COMMAND --help says more.\n", argv[0]);
		return 0;
	}
	if (next && next[0] != '-')
		err_msg(c, "%s: unknown command (payroutectl %s --help)", next,
			argv[0]);
	else
		err_msg(c, "which one? (payroutectl %s --help)", argv[0]);
	return EXIT_USAGE;
}

/* ------------------------------------------------------------ settings */

/* Handles one option of either parse; bad is the argument getopt
 * stopped at (for ? and :). Returns 0, or EXIT_USAGE after reporting. */
static int take_opt(struct ctl *c, int o, const char *arg, const char *bad,
		    int *help)
{
	char *end;

	switch (o) {
	case 'u':
		c->url_opt = arg;
		break;
	case 't':
		c->token_opt = arg;
		break;
	case 'T':
		c->token_file = arg;
		break;
	case 'a':
		/* earlier versions sent it as the audit's actor; the actor
		 * is now the token's operator (doc/design.md §11) */
		fprintf(stderr,
			"payroutectl: --actor is ignored: the audit log names "
			"the operator whose token is used\n");
		break;
	case 'n':
		c->note = arg;
		break;
	case 'j':
		c->json = 1;
		break;
	case LONG_TIMEOUT:
		c->timeout_s = strtol(arg, &end, 10);
		if (!*arg || *end || c->timeout_s < 1 || c->timeout_s > 3600) {
			err_msg(c, "--timeout: 1 to 3600 seconds");
			return EXIT_USAGE;
		}
		break;
	case 'h':
		*help = 1;
		break;
	case 'o':
		c->output = arg;
		c->seen |= OPT_OUTPUT;
		break;
	case 'f':
		c->file = arg;
		c->seen |= OPT_FILE;
		break;
	case LONG_DRY_RUN:
		c->dry_run = 1;
		c->seen |= OPT_DRY_RUN;
		break;
	case LONG_OUTCOME:
		c->outcome = arg;
		c->seen |= OPT_OUTCOME;
		break;
	case LONG_WITHDRAWAL:
		c->withdrawal = arg;
		c->seen |= OPT_WITHDRAWAL;
		break;
	case LONG_EVIDENCE:
		c->evidence = arg;
		c->seen |= OPT_EVIDENCE;
		break;
	case LONG_FROM:
		c->from = arg;
		c->seen |= OPT_RANGE;
		break;
	case LONG_TO:
		c->to = arg;
		c->seen |= OPT_RANGE;
		break;
	case LONG_ROLE:
		if (c->n_roles >= MAX_ROLES) {
			err_msg(c, "--role: at most %d", MAX_ROLES);
			return EXIT_USAGE;
		}
		c->roles[c->n_roles++] = arg;
		c->seen |= OPT_ROLE;
		break;
	case LONG_LABEL:
		c->label = arg;
		c->seen |= OPT_LABEL;
		break;
	case LONG_EXPIRES:
		c->expires = arg;
		c->seen |= OPT_EXPIRES;
		break;
	case LONG_KIND:
		if (strcmp(arg, "payments") != 0 &&
		    strcmp(arg, "withdrawals") != 0) {
			err_msg(c, "--kind: payments or withdrawals");
			return EXIT_USAGE;
		}
		c->kind = arg;
		c->seen |= OPT_KIND;
		break;
	case LONG_REASON:
		c->reason = arg;
		c->seen |= OPT_REASON;
		break;
	case ':':
		err_msg(c, "%s needs a value", bad);
		return EXIT_USAGE;
	default:
		err_msg(c, "unknown option %s", bad);
		return EXIT_USAGE;
	}
	return 0;
}

/* 1 when s is printable ASCII only (no CR/LF that would end a header). */
static int printable(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	}
	return 1;
}

/* The URL and token from the options, the environment and the
 * login. Returns 0, or EXIT_USAGE after reporting. */
static int settle(struct ctl *c)
{
	const char *url = c->url_opt ? c->url_opt :
				       getenv("PAYROUTE_ADMIN_URL");
	const char *tok = c->token_opt;
	size_t n;

	if (!url || !*url)
		url = DEFAULT_URL;
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		err_msg(c, "--url %s: an http:// or https:// URL", url);
		return EXIT_USAGE;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= sizeof(c->url)) {
		err_msg(c, "--url: too long");
		return EXIT_USAGE;
	}
	memcpy(c->url, url, n);
	c->url[n] = '\0';
	if (!tok && c->token_file) {
		char *buf = NULL;
		size_t len;

		if (read_file(c, c->token_file, &buf, &len))
			return EXIT_USAGE;
		buf[strcspn(buf, "\r\n")] = '\0';
		c->token = buf;
	} else {
		if (!tok)
			tok = getenv("PAYROUTE_ADMIN_TOKEN");
		if (tok && !(c->token = strdup(tok))) {
			err_msg(c, "out of memory");
			return EXIT_FAIL;
		}
	}
	if (!c->token || !c->token[0]) {
		err_msg(c, "no admin token: --token-file FILE, --token TOKEN "
			   "or PAYROUTE_ADMIN_TOKEN (contrib/dev.sh up writes "
			   "it to .dev/env)");
		return EXIT_USAGE;
	}
	if (!printable(c->token)) {
		err_msg(c, "the admin token has characters a header cannot "
			   "carry");
		return EXIT_USAGE;
	}
	if (c->note && strpbrk(c->note, "\r\n")) {
		err_msg(c, "--note: one line");
		return EXIT_USAGE;
	}
	return 0;
}

/* ---------------------------------------------------------------- main */

/* What getopt stopped at, for take_opt's message: "-x" for an unknown
 * short option, else the argument itself ("--bogus", "-o"). */
static const char *bad_arg(char **argv, int o, char *buf, size_t len)
{
	if (o == '?' && optopt > 0 && optopt < 128) {
		snprintf(buf, len, "-%c", optopt);
		return buf;
	}
	return optind > 0 ? argv[optind - 1] : "?";
}

int main(int argc, char **argv)
{
	struct ctl c;
	const struct cmd *cmd;
	int help = 0, words = 0, o, rc, sub_argc, npos;
	char **sub_argv, **pos, bad[8];

	memset(&c, 0, sizeof(c));
	c.timeout_s = DEFAULT_TIMEOUT_S;
	/* the options before the command; the messages are ours */
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+:" SHORT_OPTS, long_opts,
				NULL)) != -1) {
		if (o == 'V') {
			printf("payroutectl %s\n", PR_VERSION);
			return 0;
		}
		if ((rc = take_opt(&c, o, optarg,
				   bad_arg(argv, o, bad, sizeof(bad)),
				   &help))) {
			fprintf(stderr, "(payroutectl --help)\n");
			return rc;
		}
	}
	if (optind >= argc) {
		usage_all(help ? stdout : stderr);
		return help ? 0 : EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		cmd = find_cmd(argc - optind - 1, argv + optind + 1, &words);
		if (cmd)
			usage_cmd(stdout, cmd);
		else
			usage_all(stdout);
		return 0;
	}
	cmd = find_cmd(argc - optind, argv + optind, &words);
	if (!cmd)
		return no_cmd(&c, argc - optind, argv + optind);
	/* the command's own arguments and options, in any order */
	sub_argc = argc - optind - (words - 1);
	sub_argv = argv + optind + (words - 1);
	optind = 0; /* GNU: start again */
	snprintf(c.what, sizeof(c.what), "%s", cmd->name);
	while ((o = getopt_long(sub_argc, sub_argv, ":" SHORT_OPTS, long_opts,
				NULL)) != -1) {
		if (o == 'V') {
			printf("payroutectl %s\n", PR_VERSION);
			return 0;
		}
		if ((rc = take_opt(&c, o, optarg,
				   bad_arg(sub_argv, o, bad, sizeof(bad)),
				   &help))) {
			fprintf(stderr, "(payroutectl %s --help)\n", cmd->name);
			return rc;
		}
	}
	if (help) {
		usage_cmd(stdout, cmd);
		return 0;
	}
	pos = sub_argv + optind;
	npos = sub_argc - optind;
	for (int i = 0; i < npos; i++) {
		size_t n = strlen(c.what);

		snprintf(c.what + n, sizeof(c.what) - n, " %s", pos[i]);
	}
	for (unsigned bit = 1; bit <= OPT_LAST; bit <<= 1) {
		if ((c.seen & bit) && !(cmd->opts & bit)) {
			err_msg(&c,
				"%s is not an option of %s "
				"(payroutectl %s --help)",
				opt_name(bit), cmd->name, cmd->name);
			return EXIT_USAGE;
		}
	}
	if (npos < cmd->min_args ||
	    (cmd->max_args >= 0 && npos > cmd->max_args)) {
		err_msg(&c, "%s (usage: payroutectl %s%s%s)",
			npos < cmd->min_args ? "missing argument" :
					       "too many arguments",
			cmd->name, cmd->args[0] ? " " : "", cmd->args);
		return EXIT_USAGE;
	}
	if ((rc = settle(&c)))
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(c.curl = curl_easy_init())) {
		err_msg(&c, "cannot start libcurl");
		rc = EXIT_FAIL;
		goto out;
	}
	rc = cmd->run(&c, npos, pos);
	json_decref(c.currencies);
	if (fflush(stdout) != 0 && !rc) {
		err_msg(&c, "standard output: %s", strerror(errno));
		rc = EXIT_FAIL;
	}
	curl_easy_cleanup(c.curl);
	curl_global_cleanup();
out:
	if (c.token) {
		explicit_bzero(c.token, strlen(c.token));
		free(c.token);
	}
	return rc;
}
