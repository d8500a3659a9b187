/*
 * test_netguard.c - where a merchant notification may go (netguard.c):
 * tables of addresses and their classes, of allow lists, of the daemon's
 * own listeners, and of notify_urls with the verdict expected.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/netguard.h"

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *addr;
	enum pr_addr_class cls;
} classes[] = {
	{ "8.8.8.8", PR_ADDR_PUBLIC },
	{ "93.184.216.34", PR_ADDR_PUBLIC },
	{ "0.0.0.0", PR_ADDR_UNSPECIFIED },
	{ "0.1.2.3", PR_ADDR_UNSPECIFIED },
	{ "127.0.0.1", PR_ADDR_LOOPBACK },
	{ "127.255.255.254", PR_ADDR_LOOPBACK },
	{ "127.1", PR_ADDR_LOOPBACK },	    /* inet_aton shorthand */
	{ "2130706433", PR_ADDR_LOOPBACK }, /* 127.0.0.1 as a number */
	{ "0x7f.0.0.1", PR_ADDR_LOOPBACK }, /* hex */
	{ "0177.0.0.1", PR_ADDR_LOOPBACK }, /* octal */
	{ "10.0.0.1", PR_ADDR_PRIVATE },
	{ "172.16.0.1", PR_ADDR_PRIVATE },
	{ "172.31.255.255", PR_ADDR_PRIVATE },
	{ "172.32.0.1", PR_ADDR_PUBLIC },
	{ "172.15.255.255", PR_ADDR_PUBLIC },
	{ "192.168.1.1", PR_ADDR_PRIVATE },
	{ "100.64.0.1", PR_ADDR_SHARED },
	{ "100.127.255.255", PR_ADDR_SHARED },
	{ "100.128.0.1", PR_ADDR_PUBLIC },
	{ "100.63.255.255", PR_ADDR_PUBLIC },
	{ "169.254.169.254", PR_ADDR_LINK_LOCAL }, /* cloud metadata */
	{ "224.0.0.1", PR_ADDR_MULTICAST },
	{ "239.255.255.250", PR_ADDR_MULTICAST },
	{ "240.0.0.1", PR_ADDR_RESERVED },
	{ "255.255.255.255", PR_ADDR_RESERVED },
	{ "192.0.2.1", PR_ADDR_RESERVED },
	{ "198.18.0.1", PR_ADDR_RESERVED },
	{ "203.0.113.9", PR_ADDR_RESERVED },
	{ "::", PR_ADDR_UNSPECIFIED },
	{ "::1", PR_ADDR_LOOPBACK },
	{ "[::1]", PR_ADDR_LOOPBACK },
	{ "::ffff:127.0.0.1", PR_ADDR_LOOPBACK }, /* IPv4-mapped */
	{ "::ffff:7f00:1", PR_ADDR_LOOPBACK },
	{ "::ffff:10.1.2.3", PR_ADDR_PRIVATE },
	{ "::ffff:8.8.8.8", PR_ADDR_PUBLIC },
	{ "::127.0.0.1", PR_ADDR_LOOPBACK },	      /* IPv4-compatible */
	{ "64:ff9b::a9fe:a9fe", PR_ADDR_LINK_LOCAL }, /* NAT64 169.254... */
	{ "2002:0a00:0001::1", PR_ADDR_PRIVATE },     /* 6to4 of 10.0.0.1 */
	{ "fe80::1", PR_ADDR_LINK_LOCAL },
	{ "fe80::1%eth0", PR_ADDR_LINK_LOCAL },
	{ "febf::1", PR_ADDR_LINK_LOCAL },
	{ "fc00::1", PR_ADDR_UNIQUE_LOCAL },
	{ "fd12:3456:789a::1", PR_ADDR_UNIQUE_LOCAL },
	{ "fec0::1", PR_ADDR_UNIQUE_LOCAL },
	{ "ff02::1", PR_ADDR_MULTICAST },
	{ "2001:db8::1", PR_ADDR_RESERVED },
	{ "100::1", PR_ADDR_RESERVED },
	{ "2001:4860:4860::8888", PR_ADDR_PUBLIC },
	{ "2400:cb00::1", PR_ADDR_PUBLIC },
};

static void test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ROWS(classes); i++) {
		struct pr_addr a;

		print_message("  %s\n", classes[i].addr);
		assert_int_equal(pr_addr_parse(classes[i].addr, &a), 0);
		assert_int_equal(pr_addr_classify(&a), classes[i].cls);
	}
}

static void test_not_addresses(void **state)
{
	static const char *const names[] = {
		"example.com", "localhost", "127.0.0.1.example.com",
		"127.0.0.1 x", "",	    "1.2.3.4.5",
		"::g",	       "[::1",
	};
	struct pr_addr a;

	(void)state;
	for (size_t i = 0; i < N_ROWS(names); i++) {
		print_message("  '%s'\n", names[i]);
		assert_int_equal(pr_addr_parse(names[i], &a), -EINVAL);
	}
	assert_int_equal(pr_addr_parse(NULL, &a), -EINVAL);
}

static const struct {
	const char *cidr, *addr;
	int rc, match;
} cidrs[] = {
	{ "127.0.0.0/8", "127.0.0.1", 0, 1 },
	{ "127.0.0.0/8", "::ffff:127.0.0.1", 0, 1 },
	{ "127.0.0.0/8", "128.0.0.1", 0, 0 },
	{ "10.1.0.0/16", "10.1.200.3", 0, 1 },
	{ "10.1.0.0/16", "10.2.0.1", 0, 0 },
	{ "192.168.1.7", "192.168.1.7", 0, 1 },
	{ "192.168.1.7", "192.168.1.8", 0, 0 },
	{ "100.64.0.0/10", "100.127.1.1", 0, 1 },
	{ "::1/128", "::1", 0, 1 },
	{ "::1", "::2", 0, 0 },
	{ "fd00::/8", "fd12::1", 0, 1 },
	{ "fd00::/8", "fe80::1", 0, 0 },
	{ "0.0.0.0/0", "8.8.8.8", 0, 1 },
	{ "10.0.0.1/8", NULL, -EINVAL, 0 }, /* host bits set */
	{ "10.0.0.0/33", NULL, -EINVAL, 0 },
	{ "10.0.0.0/", NULL, -EINVAL, 0 },
	{ "127.1/8", NULL, -EINVAL, 0 }, /* written plainly only */
	{ "localhost", NULL, -EINVAL, 0 },
	{ "", NULL, -EINVAL, 0 },
};

static void test_cidr(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ROWS(cidrs); i++) {
		struct pr_cidr c;
		struct pr_addr a;

		print_message("  %s ~ %s\n", cidrs[i].cidr,
			      cidrs[i].addr ? cidrs[i].addr : "-");
		assert_int_equal(pr_cidr_parse(cidrs[i].cidr, &c), cidrs[i].rc);
		if (cidrs[i].rc)
			continue;
		assert_int_equal(pr_addr_parse(cidrs[i].addr, &a), 0);
		assert_int_equal(pr_cidr_match(&c, &a), cidrs[i].match);
	}
}

static const struct {
	const char *url, *host;
	int port;
} urls[] = {
	{ "http://example.com/n", "example.com", 80 },
	{ "https://example.com", "example.com", 443 },
	{ "HTTPS://Example.COM:8443/x?y#z", "Example.COM", 8443 },
	{ "http://user:pw@10.0.0.1:81/", "10.0.0.1", 81 },
	{ "http://a@b@127.0.0.1/", "127.0.0.1", 80 },
	{ "http://[::1]:9/x", "::1", 9 },
	{ "http://[fe80::1%25eth0]/", "fe80::1%25eth0", 80 },
	{ "http://127.1/", "127.1", 80 },
	{ "ftp://example.com/", NULL, 0 },
	{ "http:///x", NULL, 0 },
	{ "http://ex ample.com/", NULL, 0 },
	{ "http://%31%32%37.0.0.1/", NULL, 0 },
	{ "http://example.com:0/", NULL, 0 },
	{ "http://example.com:65536/", NULL, 0 },
	{ "http://example.com:80a/", NULL, 0 },
	{ "http://[::1/", NULL, 0 },
	{ "http://[::1]x/", NULL, 0 },
	{ "http://exa\\mple.com/", NULL, 0 },
};

static void test_url_host(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ROWS(urls); i++) {
		char host[256];
		int port = 0, rc;

		print_message("  %s\n", urls[i].url);
		rc = pr_url_host(urls[i].url, host, sizeof(host), &port);
		if (!urls[i].host) {
			assert_int_equal(rc, -EINVAL);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(host, urls[i].host);
		assert_int_equal(port, urls[i].port);
	}
}

/* The verdicts with a guard like the test suite's (loopback allowed) and
 * like a default one (nothing allowed), the daemon listening on
 * 127.0.0.1:8081 (admin) and on every address at 8080 (merchant), this
 * host having 192.168.5.5. */
static void guard_init(struct pr_netguard *g, int allow_loopback)
{
	memset(g, 0, sizeof(*g));
	if (allow_loopback) {
		assert_int_equal(pr_cidr_parse("127.0.0.0/8", &g->allow[0]), 0);
		assert_int_equal(pr_cidr_parse("::1/128", &g->allow[1]), 0);
		g->n_allow = 2;
	}
	g->own[0].name = "listen.admin";
	assert_int_equal(pr_addr_parse("127.0.0.1", &g->own[0].addr), 0);
	g->own[0].port = 8081;
	g->own[1].name = "listen.merchant";
	g->own[1].any = 1;
	g->own[1].port = 8080;
	g->n_own = 2;
	assert_int_equal(pr_addr_parse("192.168.5.5", &g->local[0]), 0);
	g->n_local = 1;
}

static const struct {
	const char *url;
	int allow_loopback;
	const char *refused; /* NULL: allowed; else a part of the reason */
} verdicts[] = {
	{ "https://shop.example/notify", 0, NULL },
	{ "https://93.184.216.34/n", 0, NULL },
	{ "http://127.0.0.1:9000/n", 0, "loopback" },
	{ "http://127.0.0.1:9000/n", 1, NULL },
	{ "http://127.0.0.1:8081/admin/v1/reload", 1, "own listen.admin" },
	{ "http://127.0.0.1:8081/admin/v1/reload", 0, "own listen.admin" },
	{ "http://[::ffff:127.0.0.1]:8081/", 1, "own listen.admin" },
	{ "http://0.0.0.0:8081/", 1, "own listen.admin" },
	{ "http://127.0.0.2:8080/v1/payments", 1, "own listen.merchant" },
	{ "http://192.168.5.5:8080/", 1, "own listen.merchant" },
	{ "http://192.168.5.5:8082/", 1, "private" },
	{ "http://localhost:9000/", 0, "loopback name" },
	{ "http://localhost:9000/", 1, NULL },
	{ "http://LOCALHOST.:8081/", 1, "loopback name" },
	{ "http://a.b.localhost/", 0, "loopback name" },
	{ "http://localhost.example.com/", 0, NULL },
	{ "http://[::1]:9000/", 0, "loopback" },
	{ "http://2130706433/", 0, "loopback" },
	{ "http://10.0.0.1/", 0, "private address (RFC 1918)" },
	{ "http://10.0.0.1/", 1, "private address (RFC 1918)" },
	{ "http://169.254.169.254/latest/meta-data/", 0, "link-local" },
	{ "http://100.64.1.1/", 0, "carrier-grade NAT" },
	{ "http://[fc00::1]/", 0, "unique local" },
	{ "http://[fe80::1]/", 0, "link-local" },
	{ "http://224.0.0.1/", 0, "multicast" },
	{ "http://0.0.0.0/", 0, "unspecified" },
	{ "http://[::]/", 0, "unspecified" },
	{ "ftp://example.com/", 0, "http://" },
	{ "http://%31%32%37.0.0.1/", 0, "http://" },
};

static void test_verdicts(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ROWS(verdicts); i++) {
		struct pr_netguard g;
		char why[300] = "";
		const char *r;

		guard_init(&g, verdicts[i].allow_loopback);
		r = pr_netguard_url(&g, verdicts[i].url, why, sizeof(why));
		print_message("  %s (loopback %s): %s\n", verdicts[i].url,
			      verdicts[i].allow_loopback ? "allowed" : "not",
			      r ? r : "allowed");
		if (!verdicts[i].refused) {
			assert_null(r);
			continue;
		}
		assert_non_null(r);
		if (!strstr(r, verdicts[i].refused))
			fail_msg("%s: '%s' does not say '%s'", verdicts[i].url,
				 r, verdicts[i].refused);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_not_addresses),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_url_host),
		cmocka_unit_test(test_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
