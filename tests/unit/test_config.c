/*
 * test_config.c - payrouted.conf parsing, as a table: one named row per
 * case, with the JSON text and either the error it must produce (a
 * substring) or a function checking the config it must produce. Files the
 * config points at (token and key files) are temporary files made in the
 * group setup; rows name them with placeholders (@TOKEN@, @KEYHEX@...).
 */

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "runtime/config.h"
#include "runtime/server.h"

/* ---------------------------------------------------------------- fixtures */

enum fixture {
	FX_TOKEN,      /* a good token, with a trailing newline */
	FX_TOKEN_CRLF, /* a good token, with "\r\n" */
	FX_TOKEN_SHORT,
	FX_KEY_HEX,    /* 64 hex characters and a newline */
	FX_KEY_RAW,    /* 32 raw bytes, some of them '\n' and NUL */
	FX_KEY_SHORT,  /* 31 raw bytes */
	FX_KEY_NOTHEX, /* 64 characters, not hex */
	FX_COUNT
};

static const char *const fx_names[FX_COUNT] = {
	"@TOKEN@",  "@TOKENCRLF@", "@TOKENSHORT@", "@KEYHEX@",
	"@KEYRAW@", "@KEYSHORT@",  "@KEYNOTHEX@",
};

static char fx_path[FX_COUNT][64];

#define GOOD_FILE_TOKEN "file-token-0123456789"
#define KEY_HEX                                                                \
	"000102030405060708090a0b0c0d0e0f"                                     \
	"101112131415161718191A1B1C1D1E1F"

static unsigned char raw_key[32];

static void write_fixture(enum fixture fx, const void *data, size_t len)
{
	int fd;

	snprintf(fx_path[fx], sizeof(fx_path[fx]), "/tmp/prcfgXXXXXX");
	fd = mkstemp(fx_path[fx]);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int group_setup(void **state)
{
	for (size_t i = 0; i < sizeof(raw_key); i++)
		raw_key[i] = (unsigned char)(i * 7);
	raw_key[3] = '\n';
	write_fixture(FX_TOKEN, GOOD_FILE_TOKEN "\n",
		      strlen(GOOD_FILE_TOKEN) + 1);
	write_fixture(FX_TOKEN_CRLF, GOOD_FILE_TOKEN "\r\n",
		      strlen(GOOD_FILE_TOKEN) + 2);
	write_fixture(FX_TOKEN_SHORT, "tooshort\n", 9);
	write_fixture(FX_KEY_HEX, KEY_HEX "\n", 65);
	write_fixture(FX_KEY_RAW, raw_key, sizeof(raw_key));
	write_fixture(FX_KEY_SHORT, raw_key, 31);
	write_fixture(FX_KEY_NOTHEX,
		      "zz0102030405060708090a0b0c0d0e0f"
		      "101112131415161718191a1b1c1d1e1f",
		      64);
	return 0;
}

static int group_teardown(void **state)
{
	for (int i = 0; i < FX_COUNT; i++)
		if (fx_path[i][0])
			unlink(fx_path[i]);
	return 0;
}

/* Replaces the placeholders in text by the fixture paths. The base name of
 * a fixture is "@NAME:base@" (for relative path tests, base_dir "/tmp"). */
static char *expand(const char *text)
{
	char *out = malloc(8192);
	size_t n = 0;

	assert_non_null(out);
	while (*text) {
		int hit = 0;

		for (int i = 0; i < FX_COUNT && !hit; i++) {
			size_t l = strlen(fx_names[i]) - 1; /* without '@' */
			const char *p = fx_path[i];

			if (strncmp(text, fx_names[i], l) != 0)
				continue;
			if (text[l] == '@') {
				text += l + 1;
			} else if (strncmp(text + l, ":base@", 6) == 0) {
				text += l + 6;
				p = strrchr(p, '/') + 1;
			} else {
				continue;
			}
			n += (size_t)snprintf(out + n, 8192 - n, "%s", p);
			hit = 1;
		}
		if (!hit)
			out[n++] = *text++;
		assert_true(n < 8000);
	}
	out[n] = '\0';
	return out;
}

/* ---------------------------------------------------------------- checks */

#define DB "\"database\": { \"conninfo\": \"dbname=payroute\" }"
#define ADMIN "\"admin\": { \"token\": \"0123456789abcdef\" }"
#define MINIMAL "{ " DB ", " ADMIN " }"

static void check_defaults(const struct pr_config *c)
{
	assert_string_equal(c->merchant_listen.host, "127.0.0.1");
	assert_int_equal(c->merchant_listen.port, 8080);
	assert_string_equal(c->admin_listen.host, "127.0.0.1");
	assert_int_equal(c->admin_listen.port, 8081);
	assert_string_equal(c->admin_token, "0123456789abcdef");
	assert_string_equal(c->db_conninfo, "dbname=payroute");
	assert_int_equal(c->db_pool_size, 0); /* auto */
	assert_int_equal(c->db_reconnect_min_ms, 250);
	assert_int_equal(c->db_reconnect_max_ms, 10000);
	assert_int_equal(c->db_query_timeout_ms, 15000);
	assert_null(c->db_read_conninfo); /* no read replica */
	assert_int_equal(c->db_read_pool_size, 2);
	assert_int_equal(c->db_read_max_lag_ms, 5000);
#if defined(PR_MIGRATIONS_DIR) && defined(PR_DRIVER_DIR)
	assert_string_equal(c->migrations_dir, PR_MIGRATIONS_DIR);
	assert_string_equal(c->driver_dir, PR_DRIVER_DIR);
#else
	assert_true(c->migrations_dir[0] == '/');
	assert_true(c->driver_dir[0] == '/');
#endif
	assert_int_equal(c->log_level, 2); /* info */
	assert_string_equal(c->log_target, "stderr");
	assert_null(c->secrets_key_file);
	assert_int_equal(c->has_secret_key, 0);
	assert_int_equal(c->http_timeout_ms, 15000);
	assert_int_equal(c->http_connect_timeout_ms, 3000);
	assert_int_equal(c->http_verify_tls, 1);
	assert_null(c->http_ca_file);
	assert_int_equal(c->http_max_connections, 64);
	assert_int_equal(c->max_body_bytes, 1048576);
	assert_int_equal(c->shutdown_timeout_ms, 10000);
	assert_int_equal(c->drain_ms, 0);
	assert_null(c->pid_file);
	assert_null(c->path);
}

static void check_all_set(const struct pr_config *c)
{
	assert_string_equal(c->merchant_listen.host, "0.0.0.0");
	assert_int_equal(c->merchant_listen.port, 443);
	assert_string_equal(c->admin_listen.host, "::1");
	assert_int_equal(c->admin_listen.port, 9000);
	assert_int_equal(c->db_pool_size, 64);
	assert_int_equal(c->db_reconnect_min_ms, 100);
	assert_int_equal(c->db_reconnect_max_ms, 100);
	assert_int_equal(c->db_query_timeout_ms, 5000);
	assert_string_equal(c->migrations_dir, "/srv/migrations");
	assert_string_equal(c->driver_dir, "/srv/drivers");
	assert_int_equal(c->log_level, 3); /* debug */
	assert_string_equal(c->log_target, "syslog");
	assert_int_equal(c->http_timeout_ms, 20000);
	assert_int_equal(c->http_connect_timeout_ms, 1000);
	assert_int_equal(c->http_verify_tls, 0);
	assert_string_equal(c->http_ca_file, "/etc/ssl/ca.pem");
	assert_int_equal(c->http_max_connections, 8);
	assert_int_equal(c->max_body_bytes, 67108864);
	assert_int_equal(c->shutdown_timeout_ms, 0);
	assert_string_equal(c->pid_file, "/run/payrouted.pid");
}

static void check_localhost(const struct pr_config *c)
{
	assert_string_equal(c->admin_listen.host, "localhost");
	assert_int_equal(c->admin_listen.port, 65535);
}

static void check_file_token(const struct pr_config *c)
{
	assert_string_equal(c->admin_token, GOOD_FILE_TOKEN);
}

static void check_key_hex(const struct pr_config *c)
{
	assert_int_equal(c->has_secret_key, 1);
	for (int i = 0; i < 32; i++)
		assert_int_equal(c->secret_key[i], i);
}

static void check_key_raw(const struct pr_config *c)
{
	assert_int_equal(c->has_secret_key, 1);
	assert_memory_equal(c->secret_key, raw_key, sizeof(raw_key));
}

/* base_dir "/etc/payroute". */
static void check_relative(const struct pr_config *c)
{
	assert_string_equal(c->driver_dir, "/etc/payroute/drivers");
	assert_string_equal(c->migrations_dir,
			    "/etc/payroute/share/migrations");
	assert_string_equal(c->log_target, "/etc/payroute/log/payrouted.log");
	assert_string_equal(c->http_ca_file, "/etc/ssl/ca.pem");
	assert_string_equal(c->pid_file, "/etc/payroute/run/payrouted.pid");
}

/* base_dir "/tmp": the token and key files are named by base name. */
static void check_relative_files(const struct pr_config *c)
{
	assert_string_equal(c->admin_token, GOOD_FILE_TOKEN);
	assert_string_equal(c->secrets_key_file, fx_path[FX_KEY_HEX]);
	assert_int_equal(c->has_secret_key, 1);
}

/* base_dir NULL: relative paths are kept as written. */
static void check_kept(const struct pr_config *c)
{
	assert_string_equal(c->driver_dir, "drivers");
	assert_string_equal(c->log_target, "payrouted.log");
}

/* ---------------------------------------------------------------- the table */

struct row {
	const char *name;
	const char *json;
	const char *base_dir;
	const char *err; /* expected substring, or NULL: must parse */
	void (*check)(const struct pr_config *cfg);
};

static const struct row rows[] = {
	/* valid */
	{ "minimal config, defaults applied", MINIMAL, NULL, NULL,
	  check_defaults },
	{ "every option set",
	  "{ \"listen\": { \"merchant\": \"0.0.0.0:443\","
	  "              \"admin\": \"[::1]:9000\" },"
	  "  \"admin\": { \"token\": \"0123456789abcdef\" },"
	  "  \"database\": { \"conninfo\": \"host=db\", \"pool_size\": 64,"
	  "    \"reconnect_min_ms\": 100, \"reconnect_max_ms\": 100,"
	  "    \"query_timeout_ms\": 5000,"
	  "    \"migrations_dir\": \"/srv/migrations\" },"
	  "  \"drivers\": { \"dir\": \"/srv/drivers\" },"
	  "  \"log\": { \"level\": \"debug\", \"target\": \"syslog\" },"
	  "  \"http_client\": { \"timeout_ms\": 20000,"
	  "    \"connect_timeout_ms\": 1000, \"verify_tls\": false,"
	  "    \"ca_file\": \"/etc/ssl/ca.pem\", \"max_connections\": 8 },"
	  "  \"server\": { \"max_body_bytes\": 67108864,"
	  "    \"shutdown_timeout_ms\": 0,"
	  "    \"pid_file\": \"/run/payrouted.pid\" } }",
	  "/etc/payroute", NULL, check_all_set },
	{ "listen on localhost, highest port",
	  "{ " DB ", " ADMIN
	  ", \"listen\": { \"admin\": \"localhost:65535\" } }",
	  NULL, NULL, check_localhost },
	{ "empty sections are fine",
	  "{ " DB ", " ADMIN ", \"log\": {}, \"server\": {} }", NULL, NULL,
	  check_defaults },

	/* structure and unknown keys */
	{ "root is an array", "[1, 2]", NULL,
	  "must be a JSON object, got an array", NULL },
	{ "unknown key at the root", "{ " DB ", " ADMIN ", \"databse\": {} }",
	  NULL, "unknown option 'databse'; did you mean 'database'?", NULL },
	{ "unknown key, far from anything",
	  "{ " DB ", " ADMIN ", \"frobnicate\": 1 }", NULL,
	  "unknown option 'frobnicate'", NULL },
	{ "unknown nested key with a suggestion",
	  "{ \"database\": { \"conninfo\": \"x\", \"poolsize\": 4 }, " ADMIN
	  " }",
	  NULL,
	  "unknown option 'database.poolsize'; did you mean "
	  "'database.pool_size'?",
	  NULL },
	{ "unknown nested key in another section",
	  "{ " DB ", " ADMIN ", \"server\": { \"workers\": 4 } }", NULL,
	  "unknown option 'server.workers'", NULL },
	{ "dotted path at the root",
	  "{ " DB ", " ADMIN ", \"log.level\": \"debug\" }", NULL,
	  "unknown option 'log.level' at the top level", NULL },
	{ "section is not an object",
	  "{ " DB ", " ADMIN ", \"log\": \"debug\" }", NULL,
	  "log: expected an object, got a string", NULL },
	{ "nested object where a value goes",
	  "{ " DB ", " ADMIN ", \"log\": { \"level\": { \"x\": 1 } } }", NULL,
	  "log.level: expected a string, got an object", NULL },
	{ "real where an integer goes",
	  "{ \"database\": { \"conninfo\": \"x\", \"pool_size\": 4.0 }, " ADMIN
	  " }",
	  NULL, "database.pool_size: expected an integer, got a real number",
	  NULL },
	{ "string where an integer goes",
	  "{ \"database\": { \"conninfo\": \"x\", \"pool_size\": \"4\" }, " ADMIN
	  " }",
	  NULL, "database.pool_size: expected an integer, got a string", NULL },
	{ "string where a boolean goes",
	  "{ " DB ", " ADMIN ", \"http_client\": { \"verify_tls\": \"yes\" } }",
	  NULL, "http_client.verify_tls: expected a boolean, got a string",
	  NULL },
	{ "null value",
	  "{ " DB ", " ADMIN ", \"server\": { \"pid_file\": null } }", NULL,
	  "server.pid_file: expected a string, got null", NULL },
	{ "duplicate key",
	  "{ " DB ", " ADMIN ", \"log\": { \"level\": \"info\", "
	  "\"level\": \"debug\" } }",
	  NULL, "duplicate", NULL },

	/* ranges */
	{ "pool_size -1",
	  "{ \"database\": { \"conninfo\": \"x\", \"pool_size\": -1 }, " ADMIN
	  " }",
	  NULL, "database.pool_size: must be between 0 and 64, got -1", NULL },
	{ "pool_size 65",
	  "{ \"database\": { \"conninfo\": \"x\", \"pool_size\": 65 }, " ADMIN
	  " }",
	  NULL, "database.pool_size: must be between 0 and 64, got 65", NULL },
	{ "read_pool_size 0",
	  "{ \"database\": { \"conninfo\": \"x\", \"read_pool_size\": 0 }, " ADMIN
	  " }",
	  NULL, "database.read_pool_size: must be between 1 and 64, got 0",
	  NULL },
	{ "read_max_lag_ms 99",
	  "{ \"database\": { \"conninfo\": \"x\", \"read_max_lag_ms\": 99 }, " ADMIN
	  " }",
	  NULL,
	  "database.read_max_lag_ms: must be between 100 and 3600000, got 99",
	  NULL },
	{ "max_body_bytes too small",
	  "{ " DB ", " ADMIN ", \"server\": { \"max_body_bytes\": 1023 } }",
	  NULL,
	  "server.max_body_bytes: must be between 1024 and 67108864, got 1023",
	  NULL },
	{ "max_body_bytes too large",
	  "{ " DB ", " ADMIN ", \"server\": { \"max_body_bytes\": 67108865 } }",
	  NULL, "server.max_body_bytes: must be between", NULL },
	{ "huge integer",
	  "{ " DB ", " ADMIN
	  ", \"http_client\": { \"timeout_ms\": 9000000000000 } }",
	  NULL, "http_client.timeout_ms: must be between", NULL },
	{ "negative integer",
	  "{ " DB ", " ADMIN ", \"http_client\": { \"max_connections\": -1 } }",
	  NULL,
	  "http_client.max_connections: must be between 1 and 4096, got -1",
	  NULL },
	{ "reconnect max below min",
	  "{ \"database\": { \"conninfo\": \"x\", \"reconnect_min_ms\": 500, "
	  "\"reconnect_max_ms\": 499 }, " ADMIN " }",
	  NULL, "database.reconnect_max_ms: must be at least", NULL },
	{ "bad log level",
	  "{ " DB ", " ADMIN ", \"log\": { \"level\": \"loud\" } }", NULL,
	  "log.level: expected one of error, warn, info, debug, got \"loud\"",
	  NULL },
	{ "empty string",
	  "{ " DB ", " ADMIN ", \"drivers\": { \"dir\": \"\" } }", NULL,
	  "drivers.dir: must not be empty", NULL },

	/* listen */
	{ "listen without port",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": \"127.0.0.1\" } }",
	  NULL, "listen.admin: expected \"host:port\", got \"127.0.0.1\"",
	  NULL },
	{ "listen port 0",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": \"127.0.0.1:0\" } }",
	  NULL, "listen.admin: expected \"host:port\", got \"127.0.0.1:0\"",
	  NULL },
	{ "listen port too large",
	  "{ " DB ", " ADMIN
	  ", \"listen\": { \"merchant\": \"127.0.0.1:65536\" } }",
	  NULL, "listen.merchant: expected \"host:port\"", NULL },
	{ "listen port not a number",
	  "{ " DB ", " ADMIN
	  ", \"listen\": { \"admin\": \"127.0.0.1:http\" } }",
	  NULL, "listen.admin: expected \"host:port\"", NULL },
	{ "listen signed port",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": \"127.0.0.1:+80\" } }",
	  NULL, "listen.admin: expected \"host:port\"", NULL },
	{ "listen bad IPv4",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": \"300.1.1.1:80\" } }",
	  NULL, "listen.admin: expected \"host:port\"", NULL },
	{ "listen host name",
	  "{ " DB ", " ADMIN
	  ", \"listen\": { \"admin\": \"example.com:80\" } }",
	  NULL, "listen.admin: expected \"host:port\"", NULL },
	{ "listen IPv6 without brackets",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": \"::1:80\" } }", NULL,
	  "listen.admin: expected \"host:port\"", NULL },
	{ "listen bad IPv6",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": \"[::g]:80\" } }",
	  NULL, "listen.admin: expected \"host:port\"", NULL },
	{ "listen empty",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": \"\" } }", NULL,
	  "listen.admin: expected \"host:port\", got \"\"", NULL },
	{ "listen an integer",
	  "{ " DB ", " ADMIN ", \"listen\": { \"admin\": 8081 } }", NULL,
	  "listen.admin: expected a string \"host:port\", got an integer",
	  NULL },

	/* required */
	{ "missing conninfo", "{ " ADMIN " }", NULL,
	  "database.conninfo: required option missing", NULL },
	{ "empty object", "{}", NULL, "required option missing", NULL },

	/* admin token */
	{ "token and token_file both",
	  "{ " DB ", \"admin\": { \"token\": \"0123456789abcdef\", "
	  "\"token_file\": \"@TOKEN@\" } }",
	  NULL, "admin.token and admin.token_file are mutually exclusive",
	  NULL },
	{ "neither token nor token_file", "{ " DB " }", NULL,
	  "admin.token: required option missing", NULL },
	{ "token too short",
	  "{ " DB ", \"admin\": { \"token\": \"0123456789abcde\" } }", NULL,
	  "admin.token: the token must be at least 16 characters, got 15",
	  NULL },
	{ "token with a space",
	  "{ " DB ", \"admin\": { \"token\": \"0123456789 abcdef\" } }", NULL,
	  "admin.token: the token must not contain spaces", NULL },
	{ "token_file, newline stripped",
	  "{ " DB ", \"admin\": { \"token_file\": \"@TOKEN@\" } }", NULL, NULL,
	  check_file_token },
	{ "token_file with CRLF",
	  "{ " DB ", \"admin\": { \"token_file\": \"@TOKENCRLF@\" } }", NULL,
	  NULL, check_file_token },
	{ "token_file too short",
	  "{ " DB ", \"admin\": { \"token_file\": \"@TOKENSHORT@\" } }", NULL,
	  "the token must be at least 16 characters, got 8", NULL },
	{ "token_file missing",
	  "{ " DB ", \"admin\": { \"token_file\": \"/nonexistent/token\" } }",
	  NULL,
	  "admin.token_file: cannot read /nonexistent/token: No such file",
	  NULL },

	/* secrets key */
	{ "key_file with hex",
	  "{ " DB ", " ADMIN ", \"secrets\": { \"key_file\": \"@KEYHEX@\" } }",
	  NULL, NULL, check_key_hex },
	{ "key_file with 32 raw bytes",
	  "{ " DB ", " ADMIN ", \"secrets\": { \"key_file\": \"@KEYRAW@\" } }",
	  NULL, NULL, check_key_raw },
	{ "key_file of 31 bytes",
	  "{ " DB ", " ADMIN
	  ", \"secrets\": { \"key_file\": \"@KEYSHORT@\" } }",
	  NULL,
	  "secrets.key_file: @KEYSHORT@: expected 32 raw bytes or 64 hex "
	  "characters, got 31 bytes",
	  NULL },
	{ "key_file of 64 non-hex characters",
	  "{ " DB ", " ADMIN
	  ", \"secrets\": { \"key_file\": \"@KEYNOTHEX@\" } }",
	  NULL, "got 64 bytes that are not hex", NULL },
	{ "key_file missing",
	  "{ " DB ", " ADMIN
	  ", \"secrets\": { \"key_file\": \"/nonexistent/k\" } }",
	  NULL, "secrets.key_file: cannot read /nonexistent/k", NULL },

	/* relative paths */
	{ "relative paths resolve against base_dir",
	  "{ " ADMIN ", \"drivers\": { \"dir\": \"drivers\" },"
	  "  \"database\": { \"conninfo\": \"x\","
	  "                  \"migrations_dir\": \"./share/migrations\" },"
	  "  \"log\": { \"target\": \"log/payrouted.log\" },"
	  "  \"http_client\": { \"ca_file\": \"/etc/ssl/ca.pem\" },"
	  "  \"server\": { \"pid_file\": \"run/payrouted.pid\" } }",
	  "/etc/payroute", NULL, check_relative },
	{ "relative token and key files",
	  "{ " DB ", \"admin\": { \"token_file\": \"@TOKEN:base@\" },"
	  "  \"secrets\": { \"key_file\": \"@KEYHEX:base@\" } }",
	  "/tmp", NULL, check_relative_files },
	{ "relative paths kept without base_dir",
	  "{ " DB ", " ADMIN ", \"drivers\": { \"dir\": \"drivers\" },"
	  "  \"log\": { \"target\": \"payrouted.log\" } }",
	  NULL, NULL, check_kept },

	/* JSON syntax */
	{ "syntax error names the line",
	  "{\n  \"database\": { \"conninfo\": \"x\" },\n  \"admin\": { \"token\" "
	  "\"0123456789abcdef\" }\n}",
	  NULL, "JSON error at line 3", NULL },
	{ "trailing comma", "{\n" DB ",\n" ADMIN ",\n}", NULL,
	  "JSON error at line 4", NULL },
	{ "not JSON at all", "listen = 8080", NULL, "JSON error at line 1",
	  NULL },
};

static void run_row(const struct row *r)
{
	struct pr_config *cfg = (struct pr_config *)0x1;
	char err[512] = "";
	char *json = expand(r->json);
	char *want = r->err ? expand(r->err) : NULL;
	int rc;

	rc = pr_config_parse(json, r->base_dir, &cfg, err, sizeof(err));
	if (want) {
		if (rc == 0 || !strstr(err, want))
			fail_msg("row '%s': want error containing \"%s\", got "
				 "rc %d \"%s\"",
				 r->name, want, rc, err);
		assert_true(rc < 0);
		assert_null(cfg);
	} else {
		if (rc != 0)
			fail_msg("row '%s': want success, got rc %d \"%s\"",
				 r->name, rc, err);
		assert_non_null(cfg);
		if (r->check)
			r->check(cfg);
		pr_config_free(cfg);
	}
	free(want);
	free(json);
}

static void test_rows(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("  %s\n", rows[i].name);
		run_row(&rows[i]);
	}
}

/* -------------------------------------------------------- the option table */

/* Every option given a value of the wrong JSON type is an error that
 * starts with its path. */
static void test_every_option_wrong_type(void **state)
{
	const struct pr_option *o;
	size_t n = 0;

	for (o = pr_config_options(); o->path; o++, n++) {
		json_t *root = json_pack("{s:{s:s}, s:{s:s}}", "database",
					 "conninfo", "x", "admin", "token",
					 "0123456789abcdef");
		const char *dot = strchr(o->path, '.');
		char section[32], err[512] = "", want[128];
		struct pr_config *cfg = NULL;
		json_t *sect;
		char *text;
		int rc;

		assert_non_null(root);
		assert_non_null(dot);
		assert_true((size_t)(dot - o->path) < sizeof(section));
		snprintf(section, sizeof(section), "%.*s", (int)(dot - o->path),
			 o->path);
		sect = json_object_get(root, section);
		if (!sect) {
			sect = json_object();
			json_object_set_new(root, section, sect);
		}
		json_object_set_new(sect, dot + 1,
				    o->type == PR_OPT_INT ||
						    o->type == PR_OPT_BOOL ?
					    json_string("x") :
					    json_integer(12));
		text = json_dumps(root, 0);
		rc = pr_config_parse(text, NULL, &cfg, err, sizeof(err));
		snprintf(want, sizeof(want), "%s: expected ", o->path);
		if (rc == 0 || strncmp(err, want, strlen(want)) != 0)
			fail_msg("%s: got rc %d \"%s\"", o->path, rc, err);
		assert_null(cfg);
		free(text);
		json_decref(root);
		assert_non_null(o->help);
		assert_true(o->help[0] != '\0');
	}
	/* 48, server.drain_ms, the 11 reconciliation.*, the 2
	 * routing.success_*, the 4 breaker.*, the 3 database.read_*,
	 * admin.legacy_token, the 4 admin.lockout_*, the 3 approvals.*,
	 * the 2 admin.session_* and admin.cookie_secure,
	 * admin.auth_cache_ms */
	assert_int_equal(n, 81);
}

/* The restart-only options are the listen addresses, the store's and the
 * HTTP client's settings (both are built once at start-up) and the pid
 * file. */
static void test_restart_only_rows(void **state)
{
	const char *want[] = { "listen.merchant",
			       "listen.admin",
			       "database.conninfo",
			       "database.pool_size",
			       "database.reconnect_min_ms",
			       "database.reconnect_max_ms",
			       "database.query_timeout_ms",
			       "database.read_conninfo",
			       "database.read_pool_size",
			       "database.read_max_lag_ms",
			       "database.migrations_dir",
			       "http_client.timeout_ms",
			       "http_client.connect_timeout_ms",
			       "http_client.verify_tls",
			       "http_client.ca_file",
			       "http_client.max_connections",
			       "server.pid_file" };
	const size_t n_want = sizeof(want) / sizeof(want[0]);
	size_t n = 0;

	for (const struct pr_option *o = pr_config_options(); o->path; o++) {
		if (!o->restart_only)
			continue;
		assert_true(n < n_want);
		assert_string_equal(o->path, want[n]);
		n++;
	}
	assert_int_equal(n, n_want);
}

/* --------------------------------------------------------- restart changes */

static struct pr_config *parse_ok(const char *json)
{
	struct pr_config *cfg = NULL;
	char err[512] = "";

	if (pr_config_parse(json, NULL, &cfg, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	return cfg;
}

static void test_restart_changes(void **state)
{
	struct pr_config *a, *b, *c, *d;
	const char *names[4] = { 0 };

	a = parse_ok(
		"{ " DB ", " ADMIN ", \"listen\": { \"admin\": "
		"\"127.0.0.1:9001\" }, \"log\": { \"level\": \"info\" } }");
	b = parse_ok(
		"{ " DB ", " ADMIN ", \"listen\": { \"admin\": "
		"\"127.0.0.1:9002\" }, \"log\": { \"level\": \"debug\" } }");
	c = parse_ok(
		"{ " ADMIN ", \"listen\": { \"admin\": "
		"\"127.0.0.1:9001\" }, \"log\": { \"level\": \"debug\" },"
		" \"database\": { \"conninfo\": \"x\", \"pool_size\": 9 } }");
	d = parse_ok("{ " DB ", " ADMIN ", \"listen\": { \"admin\": "
		     "\"localhost:9001\", \"merchant\": \"[::]:8080\" },"
		     " \"server\": { \"pid_file\": \"/run/p.pid\" } }");

	/* listen.admin changed, log.level changed: only the first counts */
	assert_int_equal(pr_config_restart_changes(a, b, names, 4), 1);
	assert_string_equal(names[0], "listen.admin");

	/* database.conninfo, database.pool_size and log.level changed: the
	 * store's options count, log.level does not */
	assert_int_equal(pr_config_restart_changes(a, c, names, 4), 2);
	assert_string_equal(names[0], "database.conninfo");
	assert_string_equal(names[1], "database.pool_size");
	assert_int_equal(pr_config_restart_changes(a, a, names, 4), 0);

	/* three at once, in table order; max bounds what is written */
	assert_int_equal(pr_config_restart_changes(a, d, names, 4), 3);
	assert_string_equal(names[0], "listen.merchant");
	assert_string_equal(names[1], "listen.admin");
	assert_string_equal(names[2], "server.pid_file");
	names[1] = NULL;
	assert_int_equal(pr_config_restart_changes(d, a, names, 1), 3);
	assert_string_equal(names[0], "listen.merchant");
	assert_null(names[1]);

	pr_config_free(a);
	pr_config_free(b);
	pr_config_free(c);
	pr_config_free(d);
}

/* ---------------------------------------------------------------- load */

static void write_file(char *tmpl, size_t size, const char *text)
{
	int fd;

	snprintf(tmpl, size, "/tmp/prcfgloadXXXXXX");
	fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_load(void **state)
{
	char path[] = "/tmp/prcfgloadXXXXXX";
	struct pr_config *cfg = NULL;
	char err[1024] = "", want[256];
	int rc;

	write_file(path, sizeof(path),
		   "{ " DB ", " ADMIN ", \"drivers\": { \"dir\": \"drv\" } }");
	rc = pr_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->driver_dir, "/tmp/drv");
	pr_config_free(cfg);
	unlink(path);

	/* errors are prefixed with the file */
	write_file(path, sizeof(path),
		   "{ \"database\": { \"conninfo\": \"x\", "
		   "\"pool_size\": 65 }, " ADMIN " }");
	cfg = NULL;
	rc = pr_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	assert_null(cfg);
	snprintf(want, sizeof(want),
		 "%s: database.pool_size: must be between 0 and 64, got 65",
		 path);
	assert_string_equal(err, want);
	unlink(path);

	write_file(path, sizeof(path), "{\n\n  \"log\": }\n");
	rc = pr_config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	snprintf(want, sizeof(want), "%s: JSON error at line 3", path);
	assert_non_null(strstr(err, want));
	unlink(path);

	rc = pr_config_load("/nonexistent/payrouted.conf", &cfg, err,
			    sizeof(err));
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/payrouted.conf: "));
}

/* A relative config path: relative options resolve against the file's
 * directory made absolute, not against whatever the cwd is later. */
static void test_load_relative(void **state)
{
	char dir[] = "/tmp/prcfgdirXXXXXX";
	char old[PATH_MAX], want[PATH_MAX + 64], path[PATH_MAX + 64];
	struct pr_config *cfg = NULL;
	char err[1024] = "";
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{ " DB ", " ADMIN ", \"drivers\": { \"dir\": \"drv\" } }", f);
	fclose(f);
	assert_non_null(getcwd(old, sizeof(old)));
	assert_int_equal(chdir("/tmp"), 0);
	/* a directory is not a config file */
	assert_int_equal(pr_config_load(dir + strlen("/tmp/"), &cfg, err,
					sizeof(err)),
			 -EISDIR);
	assert_null(cfg);
	snprintf(path, sizeof(path), "%s/sub.conf", dir + strlen("/tmp/"));
	assert_int_equal(pr_config_load(path, &cfg, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/drv", dir);
	assert_string_equal(cfg->driver_dir, want);
	snprintf(want, sizeof(want), "%s/sub.conf", dir);
	assert_string_equal(cfg->path, want);
	pr_config_free(cfg);
	assert_int_equal(chdir(old), 0);
	unlink(want);
	rmdir(dir);
}

/* The shipped sample, etc/payrouted.conf, is a valid config. Found from
 * this file's path (absolute in VPATH builds, relative to the build
 * directory otherwise, which is where tests run). */
static void test_sample(void **state)
{
	char path[PATH_MAX], err[1024] = "";
	const char *src = __FILE__;
	const char *tail = strstr(src, "tests/unit/test_config.c");
	struct pr_config *cfg = NULL;

	assert_non_null(tail);
	snprintf(path, sizeof(path), "%.*setc/payrouted.conf",
		 (int)(tail - src), src);
	if (access(path, R_OK) != 0) {
		print_message("  sample not found at %s\n", path);
		skip();
	}
	if (pr_config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg->merchant_listen.port, 8080);
	assert_int_equal(cfg->admin_listen.port, 8081);
	assert_true(strlen(cfg->admin_token) >= 16);
	assert_non_null(
		strstr(cfg->driver_dir, "/etc/../lib/payroute/drivers"));
	pr_config_free(cfg);
}

/* Schedules (completion.schedule, notify.schedule), one row per case. */
static void test_schedules(void **unused)
{
	static const struct {
		const char *name, *text;
		int rc;
		size_t n;
		int first, last;
	} srows[] = {
		{ "default completion", "10s,30s,1m,2m,5m,10m,30m,1h", 0, 8, 10,
		  3600 },
		{ "one", "5s", 0, 1, 5, 5 },
		{ "spaces", " 1s , 2m ", 0, 2, 1, 120 },
		{ "days", "1d", 0, 1, 86400, 86400 },
		{ "30 days is the most", "30d", 0, 1, 2592000, 2592000 },
		{ "over 30 days", "31d", -EINVAL, 0, 0, 0 },
		{ "empty", "", -EINVAL, 0, 0, 0 },
		{ "no unit", "10", -EINVAL, 0, 0, 0 },
		{ "bad unit", "10w", -EINVAL, 0, 0, 0 },
		{ "zero", "0s", -EINVAL, 0, 0, 0 },
		{ "trailing comma", "1s,", -EINVAL, 0, 0, 0 },
		{ "negative", "-1s", -EINVAL, 0, 0, 0 },
	};
	int out[PR_SCHEDULE_MAX];
	size_t n;

	(void)unused;
	for (size_t i = 0; i < sizeof(srows) / sizeof(srows[0]); i++) {
		int rc = pr_schedule_parse(srows[i].text, out, PR_SCHEDULE_MAX,
					   &n);

		if (rc != srows[i].rc)
			fail_msg("%s: rc %d, want %d", srows[i].name, rc,
				 srows[i].rc);
		if (rc < 0)
			continue;
		if (n != srows[i].n || out[0] != srows[i].first ||
		    out[n - 1] != srows[i].last)
			fail_msg("%s: n %zu first %d last %d", srows[i].name, n,
				 out[0], out[n - 1]);
	}
	/* More than PR_SCHEDULE_MAX entries. */
	{
		char text[512] = "";

		for (int i = 0; i <= PR_SCHEDULE_MAX; i++)
			strncat(text, i ? ",1s" : "1s",
				sizeof(text) - strlen(text) - 1);
		assert_int_equal(pr_schedule_parse(text, out, PR_SCHEDULE_MAX,
						   &n),
				 -EINVAL);
	}
}

/* server.public_url defaults to the merchant listener; a bad schedule is
 * refused naming the option. */
static void test_payment_options(void **unused)
{
	struct pr_config *cfg = NULL;
	char err[512] = "";

	(void)unused;
	assert_int_equal(
		pr_config_parse("{\"database\":{\"conninfo\":\"x\"},"
				"\"admin\":{\"token\":\"0123456789abcdef\"},"
				"\"listen\":{\"merchant\":\"0.0.0.0:9000\"}}",
				NULL, &cfg, err, sizeof(err)),
		0);
	assert_string_equal(cfg->public_url, "http://127.0.0.1:9000");
	assert_int_equal(cfg->n_completion_s, 8);
	assert_non_null(cfg->instance);
	pr_config_free(cfg);
	cfg = NULL;
	assert_int_equal(
		pr_config_parse("{\"database\":{\"conninfo\":\"x\"},"
				"\"admin\":{\"token\":\"0123456789abcdef\"},"
				"\"completion\":{\"schedule\":\"1s,soon\"}}",
				NULL, &cfg, err, sizeof(err)),
		-EINVAL);
	assert_null(cfg);
	assert_non_null(strstr(err, "completion.schedule"));
	assert_int_equal(
		pr_config_parse("{\"database\":{\"conninfo\":\"x\"},"
				"\"admin\":{\"token\":\"0123456789abcdef\"},"
				"\"server\":{\"public_url\":\"ftp://x\"}}",
				NULL, &cfg, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "server.public_url"));
}

/* reconciliation.bill_time: HH:MM, one row per case. */
static void test_bill_time(void **state)
{
	static const struct {
		const char *value;
		int ok;
	} times[] = {
		{ "10:00", 1 },	   { "00:00", 1 }, { "23:59", 1 },
		{ "24:00", 0 },	   { "10:60", 0 }, { "9:30", 0 },
		{ "10:00:00", 0 }, { "ten", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		struct pr_config *cfg = NULL;
		char text[256], err[512] = "";
		int rc;

		snprintf(text, sizeof(text),
			 "{\"database\":{\"conninfo\":\"x\"},"
			 "\"admin\":{\"token\":\"0123456789abcdef\"},"
			 "\"reconciliation\":{\"bill_time\":\"%s\"}}",
			 times[i].value);
		rc = pr_config_parse(text, NULL, &cfg, err, sizeof(err));
		if (times[i].ok ? rc != 0 :
				  rc != -EINVAL ||
					  !strstr(err, "reconciliation.bill_"
						       "time: expected HH:MM"))
			fail_msg("\"%s\": rc %d \"%s\"", times[i].value, rc,
				 err);
		if (cfg)
			assert_string_equal(cfg->recon_bill_time,
					    times[i].value);
		pr_config_free(cfg);
	}
}

/* The listeners' limits from the config and the open file limit: one row
 * per case (listen options as JSON, the limit, what comes out, and
 * whether a note says a cap was lowered). */
struct limits_row {
	const char *name;
	const char *listen; /* inside "listen": {...}, may be "" */
	long nofile;
	long reserve;
	int merchant, merchant_per_addr, admin, admin_per_addr;
	int lowered;
};

static const struct limits_row limits_rows[] = {
	{ "defaults, 20000 descriptors", "", 20000, 2000, 16384, 2048, 256, 256,
	  0 },
	{ "defaults, 1024 descriptors", "", 1024, 132, 769, 96, 55, 55, 0 },
	{ "defaults, 64 descriptors", "", 64, 32, 7, 7, 8, 8, 0 },
	{ "configured caps that fit",
	  "\"merchant_max_connections\": 100, \"merchant_max_per_address\": "
	  "5, \"admin_max_connections\": 10, \"admin_max_per_address\": 2",
	  20000, 2000, 100, 5, 10, 2, 0 },
	{ "a per-address cap over its listener's",
	  "\"merchant_max_connections\": 100, \"merchant_max_per_address\": "
	  "500",
	  20000, 2000, 100, 100, 256, 256, 0 },
	{ "a merchant cap that does not fit is lowered",
	  "\"merchant_max_connections\": 50000", 1024, 132, 769, 96, 55, 55,
	  1 },
	{ "an admin cap that does not fit is lowered",
	  "\"admin_max_connections\": 5000", 1024, 132, 413, 51, 412, 412, 1 },
};

static void test_listen_limits(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(limits_rows) / sizeof(limits_rows[0]);
	     i++) {
		const struct limits_row *t = &limits_rows[i];
		struct pr_listen_limits m, a;
		struct pr_config *cfg;
		char json[512], note[512];
		long reserve = -1;

		snprintf(json, sizeof(json),
			 "{\"database\":{\"conninfo\":\"x\","
			 "\"pool_size\":4},"
			 "\"admin\":{\"token\":\"0123456789abcdef\"},"
			 "\"listen\":{%s}}",
			 t->listen);
		cfg = parse_ok(json);
		pr_listen_limits_derive(cfg, t->nofile, &m, &a, &reserve, note,
					sizeof(note));
		if (reserve != t->reserve || m.max_connections != t->merchant ||
		    m.max_per_address != t->merchant_per_addr ||
		    a.max_connections != t->admin ||
		    a.max_per_address != t->admin_per_addr ||
		    (note[0] != '\0') != t->lowered)
			fail_msg(
				"%s: reserve %ld, merchant %d/%d, admin %d/%d, "
				"note \"%s\"",
				t->name, reserve, m.max_connections,
				m.max_per_address, a.max_connections,
				a.max_per_address, note);
		/* never more than the descriptors allow */
		assert_true(m.max_connections + m.max_connections / 16 + 8 +
				    a.max_connections + a.max_connections / 16 +
				    8 <=
			    t->nofile - reserve);
		assert_int_equal(m.header_timeout_ms, 10000);
		assert_int_equal(m.max_body_bytes, 1048576);
		pr_config_free(cfg);
	}
}

/* notify.allow_private, one row per case: the JSON of the option, and
 * the entries parsed or the error's start. */
static void test_allow_private(void **unused)
{
	static const struct {
		const char *name, *json;
		size_t n;	 /* entries parsed */
		const char *err; /* NULL: accepted */
	} arows[] = {
		{ "absent: nothing allowed", NULL, 0, NULL },
		{ "empty", "[]", 0, NULL },
		{ "the test suite's", "[\"127.0.0.0/8\", \"::1/128\"]", 2,
		  NULL },
		{ "a single address", "[\"10.1.2.3\"]", 1, NULL },
		{ "IPv6 ULA", "[\"fd00::/8\"]", 1, NULL },
		{ "host bits set", "[\"10.0.0.1/8\"]", 0,
		  "notify.allow_private[0]: expected" },
		{ "a name", "[\"127.0.0.0/8\", \"localhost\"]", 0,
		  "notify.allow_private[1]: expected" },
		{ "a comma", "[\"10.0.0.0/8,1.2.3.4\"]", 0,
		  "notify.allow_private[0]: expected a string" },
		{ "not a string", "[8]", 0,
		  "notify.allow_private[0]: expected a string" },
		{ "a string, not a list", "\"127.0.0.0/8\"", 0,
		  "notify.allow_private: expected an array" },
	};

	(void)unused;
	for (size_t i = 0; i < sizeof(arows) / sizeof(arows[0]); i++) {
		struct pr_config *cfg = NULL;
		char text[512], err[512] = "";
		int rc;

		print_message("  %s\n", arows[i].name);
		snprintf(text, sizeof(text),
			 "{\"database\":{\"conninfo\":\"x\"},"
			 "\"admin\":{\"token\":\"0123456789abcdef\"}%s%s%s}",
			 arows[i].json ? ",\"notify\":{\"allow_private\":" : "",
			 arows[i].json ? arows[i].json : "",
			 arows[i].json ? "}" : "");
		rc = pr_config_parse(text, NULL, &cfg, err, sizeof(err));
		if (arows[i].err) {
			assert_int_equal(rc, -EINVAL);
			assert_null(cfg);
			if (strncmp(err, arows[i].err, strlen(arows[i].err)))
				fail_msg("%s: got \"%s\"", arows[i].name, err);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: refused: %s", arows[i].name, err);
		assert_int_equal(cfg->n_notify_allow, arows[i].n);
		pr_config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_every_option_wrong_type),
		cmocka_unit_test(test_restart_only_rows),
		cmocka_unit_test(test_restart_changes),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_relative),
		cmocka_unit_test(test_sample),
		cmocka_unit_test(test_schedules),
		cmocka_unit_test(test_allow_private),
		cmocka_unit_test(test_payment_options),
		cmocka_unit_test(test_listen_limits),
		cmocka_unit_test(test_bill_time),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
