/*
 * netguard.c - address classification and notify_url checks (netguard.h).
 *
 * A merchant's notify_url makes the daemon POST to a place the merchant
 * chooses: without a check, "http://127.0.0.1:<admin port>/admin/v1/..."
 * or "http://169.254.169.254/" (a cloud metadata service) are requests
 * the daemon makes from inside the operator's network, with the answer
 * kept for operators to read (server-side request forgery). So by default
 * only public unicast addresses are reached; notify.allow_private lists
 * the non-public ranges an operator allows (a merchant on the same
 * private network, a test sink on 127.0.0.1); the daemon's own listeners
 * are never reached.
 *
 * The ranges are those of the IANA IPv4 and IPv6 Special-Purpose Address
 * Registries that are not globally reachable (RFC 6890 and its updates),
 * grouped by why: loopback, RFC 1918 private, RFC 6598 shared (CGNAT),
 * link-local, RFC 4193 unique local, multicast, unspecified, and the
 * rest as reserved. An IPv6 address that carries an IPv4 one (mapped,
 * compatible, NAT64, 6to4) is judged by that IPv4 address, so that
 * "[::ffff:127.0.0.1]" is loopback.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/netguard.h"

/* ---------------------------------------------------------- classify */

/* The IPv4 address an IPv6 one carries, into v4; 1 when there is one. */
static int embedded_v4(const struct pr_addr *a, uint8_t v4[4])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0,    0,
					    0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[12] = { 0 };
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	const uint8_t *b = a->b;

	if (a->family != 6)
		return 0;
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
		memcpy(v4, b + 12, 4);
		return 1;
	}
	/* IPv4-compatible ::a.b.c.d (deprecated), not :: or ::1 */
	if (memcmp(b, zero, 12) == 0 && (b[12] | b[13] | b[14] | (b[15] > 1))) {
		memcpy(v4, b + 12, 4);
		return 1;
	}
	if (b[0] == 0x20 && b[1] == 0x02) { /* 6to4 2002:V4ADDR::/48 */
		memcpy(v4, b + 2, 4);
		return 1;
	}
	return 0;
}

static enum pr_addr_class classify_v4(const uint8_t *b)
{
	if (b[0] == 0)
		return PR_ADDR_UNSPECIFIED; /* 0/8 "this network" */
	if (b[0] == 127)
		return PR_ADDR_LOOPBACK;
	if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
	    (b[0] == 192 && b[1] == 168))
		return PR_ADDR_PRIVATE;
	if (b[0] == 100 && (b[1] & 0xc0) == 64)
		return PR_ADDR_SHARED;
	if (b[0] == 169 && b[1] == 254)
		return PR_ADDR_LINK_LOCAL;
	if (b[0] >= 224 && b[0] <= 239)
		return PR_ADDR_MULTICAST;
	if (b[0] >= 240 ||				  /* 240/4, broadcast */
	    (b[0] == 192 && b[1] == 0 && b[2] == 0) ||	  /* 192.0.0/24 */
	    (b[0] == 192 && b[1] == 0 && b[2] == 2) ||	  /* TEST-NET-1 */
	    (b[0] == 198 && (b[1] & 0xfe) == 18) ||	  /* 198.18/15 */
	    (b[0] == 198 && b[1] == 51 && b[2] == 100) || /* TEST-NET-2 */
	    (b[0] == 203 && b[1] == 0 && b[2] == 113))	  /* TEST-NET-3 */
		return PR_ADDR_RESERVED;
	return PR_ADDR_PUBLIC;
}

enum pr_addr_class pr_addr_classify(const struct pr_addr *a)
{
	static const uint8_t zero[16] = { 0 };
	const uint8_t *b = a->b;
	uint8_t v4[4];

	if (a->family == 4)
		return classify_v4(b);
	if (memcmp(b, zero, 16) == 0)
		return PR_ADDR_UNSPECIFIED;
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return PR_ADDR_LOOPBACK;
	if (embedded_v4(a, v4))
		return classify_v4(v4);
	if (b[0] == 0xff)
		return PR_ADDR_MULTICAST;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return PR_ADDR_LINK_LOCAL;
	if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))
		return PR_ADDR_UNIQUE_LOCAL;
	if ((b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) ||
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 &&
	     (b[3] & 0xf0) == 0x20) ||
	    (b[0] == 0x01 && b[1] == 0 && memcmp(b + 2, zero, 6) == 0) ||
	    (b[0] & 0xe0) != 0x20) /* outside 2000::/3, the global unicast */
		return PR_ADDR_RESERVED;
	return PR_ADDR_PUBLIC;
}

const char *pr_addr_class_name(enum pr_addr_class c)
{
	switch (c) {
	case PR_ADDR_PUBLIC:
		return "public";
	case PR_ADDR_UNSPECIFIED:
		return "an unspecified (\"this network\") address";
	case PR_ADDR_LOOPBACK:
		return "a loopback address";
	case PR_ADDR_PRIVATE:
		return "a private address (RFC 1918)";
	case PR_ADDR_SHARED:
		return "a carrier-grade NAT address (RFC 6598)";
	case PR_ADDR_LINK_LOCAL:
		return "a link-local address";
	case PR_ADDR_UNIQUE_LOCAL:
		return "a unique local address (RFC 4193)";
	case PR_ADDR_MULTICAST:
		return "a multicast address";
	case PR_ADDR_RESERVED:
		return "a reserved address";
	}
	return "an address of no known class";
}

/* ------------------------------------------------------------- parse */

int pr_addr_parse(const char *s, struct pr_addr *out)
{
	char buf[64];
	size_t n;
	struct in_addr in4;

	if (!s)
		return -EINVAL;
	n = strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (strchr(buf, ':')) {
		char *zone = strchr(buf, '%');

		if (zone)
			*zone = '\0';
		if (inet_pton(AF_INET6, buf, out->b) != 1)
			return -EINVAL;
		out->family = 6;
		return 0;
	}
	/* inet_aton stops at a space and takes what came before: only
	 * digits, dots and hex letters are an address here */
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)buf[i]) && buf[i] != '.' &&
		    buf[i] != 'x' && buf[i] != 'X')
			return -EINVAL;
	if (inet_aton(buf, &in4) == 0)
		return -EINVAL;
	memcpy(out->b, &in4.s_addr, 4);
	out->family = 4;
	return 0;
}

const char *pr_addr_format(const struct pr_addr *a, char *out, size_t len)
{
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, out,
		       (socklen_t)len))
		snprintf(out, len, "?");
	return out;
}

int pr_cidr_parse(const char *s, struct pr_cidr *out)
{
	char buf[64];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t n = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
	int max, bits;
	char *end;
	long v;

	if (!s || n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	/* a CIDR's address is written plainly: inet_pton, not inet_aton */
	if (strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, out->net.b) != 1)
			return -EINVAL;
		out->net.family = 6;
		max = 128;
	} else {
		if (inet_pton(AF_INET, buf, out->net.b) != 1)
			return -EINVAL;
		out->net.family = 4;
		max = 32;
	}
	bits = max;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		v = strtol(slash + 1, &end, 10);
		if (*end || v < 0 || v > max)
			return -EINVAL;
		bits = (int)v;
	}
	for (int i = bits; i < max; i++)
		if (out->net.b[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL; /* host bits set */
	out->bits = bits;
	return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *net, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ net[full]) & (0xff00 >> rest) & 0xff) == 0;
}

int pr_cidr_match(const struct pr_cidr *c, const struct pr_addr *a)
{
	uint8_t v4[4];

	if (c->net.family == a->family)
		return prefix_match(a->b, c->net.b, c->bits);
	if (c->net.family == 4 && embedded_v4(a, v4))
		return prefix_match(v4, c->net.b, c->bits);
	return 0;
}

/* --------------------------------------------------------------- URLs */

int pr_url_host(const char *url, char *host, size_t len, int *port)
{
	const char *p, *end, *at, *h, *he, *colon = NULL;
	size_t n;

	if (!url)
		return -EINVAL;
	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		*port = 80;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
		*port = 443;
	} else {
		return -EINVAL;
	}
	end = p + strcspn(p, "/?#");
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	h = at ? at + 1 : p;
	if (h < end && *h == '[') {
		he = memchr(h, ']', (size_t)(end - h));
		if (!he)
			return -EINVAL;
		he++;
		if (he < end && *he != ':')
			return -EINVAL;
		if (he < end)
			colon = he;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		he = colon ? colon : end;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= len)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	if (colon && colon + 1 < end) {
		long v = 0;

		for (const char *q = colon + 1; q < end; q++) {
			if (*q < '0' || *q > '9' || v > 65535)
				return -EINVAL;
			v = v * 10 + (*q - '0');
		}
		if (v < 1 || v > 65535)
			return -EINVAL;
		*port = (int)v;
	}
	if (host[0] == '[') {
		struct pr_addr a;

		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
		return pr_addr_parse(host, &a) == 0 ? 0 : -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
		    host[i] != '-' && host[i] != '_')
			return -EINVAL;
	return 0;
}

/* ----------------------------------------------------------- verdicts */

static int addr_eq(const struct pr_addr *a, const struct pr_addr *b)
{
	uint8_t v4[4];

	if (a->family == b->family)
		return memcmp(a->b, b->b, a->family == 4 ? 4 : 16) == 0;
	if (a->family == 6 && embedded_v4(a, v4))
		return memcmp(v4, b->b, 4) == 0;
	if (b->family == 6 && embedded_v4(b, v4))
		return memcmp(v4, a->b, 4) == 0;
	return 0;
}

const char *pr_netguard_check(const struct pr_netguard *g,
			      const struct pr_addr *a, int port, char *why,
			      size_t len)
{
	enum pr_addr_class c = pr_addr_classify(a);
	char text[64];

	for (size_t i = 0; i < g->n_own; i++) {
		int hit = 0;

		if (g->own[i].port != port)
			continue;
		if (g->own[i].any) {
			hit = c == PR_ADDR_LOOPBACK || c == PR_ADDR_UNSPECIFIED;
			for (size_t k = 0; !hit && k < g->n_local; k++)
				hit = addr_eq(a, &g->local[k]);
		} else {
			hit = addr_eq(a, &g->own[i].addr) ||
			      (pr_addr_classify(&g->own[i].addr) ==
				       PR_ADDR_LOOPBACK &&
			       c == PR_ADDR_UNSPECIFIED);
		}
		if (hit) {
			snprintf(why, len, "%s port %d is this daemon's own %s",
				 pr_addr_format(a, text, sizeof(text)), port,
				 g->own[i].name);
			return why;
		}
	}
	if (c == PR_ADDR_PUBLIC)
		return NULL;
	for (size_t i = 0; i < g->n_allow; i++)
		if (pr_cidr_match(&g->allow[i], a))
			return NULL;
	snprintf(why, len,
		 "%s is %s (notify.allow_private lists the ranges allowed)",
		 pr_addr_format(a, text, sizeof(text)), pr_addr_class_name(c));
	return why;
}

/* A name under "localhost" (RFC 6761 section 6.3: resolved to loopback,
 * never asked of DNS); a trailing dot is the same name. */
static int is_localhost(const char *host)
{
	size_t n = strlen(host);

	if (n && host[n - 1] == '.')
		n--;
	if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
		return 1;
	return n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0;
}

const char *pr_netguard_url(const struct pr_netguard *g, const char *url,
			    char *why, size_t len)
{
	char host[256];
	struct pr_addr a;
	int port;

	if (pr_url_host(url, host, sizeof(host), &port) < 0) {
		snprintf(why, len,
			 "expected an http:// or https:// URL whose host is a "
			 "name or an IP address");
		return why;
	}
	if (pr_addr_parse(host, &a) == 0)
		return pr_netguard_check(g, &a, port, why, len);
	if (is_localhost(host)) {
		/* as 127.0.0.1 would be judged */
		memset(&a, 0, sizeof(a));
		a.family = 4;
		a.b[0] = 127;
		a.b[3] = 1;
		if (!pr_netguard_check(g, &a, port, why, len))
			return NULL;
		snprintf(
			why, len,
			"%.64s is a loopback name (RFC 6761), and as "
			"127.0.0.1 port %d it is refused (notify.allow_private "
			"lists the ranges allowed; the daemon's own "
			"listeners are never allowed)",
			host, port);
		return why;
	}
	return NULL;
}
