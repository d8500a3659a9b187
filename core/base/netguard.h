/*
 * netguard.h - where the daemon may send a merchant notification: the
 * classification of IP addresses (loopback, private, link-local...), CIDR
 * allow lists, and the host of a notify_url. Pure: no I/O, no globals, no
 * name resolution (the runtime resolves; outbox.c applies the verdicts at
 * request time on literal addresses and at delivery time on the address
 * about to be connected).
 */
#ifndef PR_NETGUARD_H
#define PR_NETGUARD_H

#include <stddef.h>
#include <stdint.h>

/* What an address is, by the IANA special-purpose registries. */
enum pr_addr_class {
	PR_ADDR_PUBLIC = 0,   /* none of the below */
	PR_ADDR_UNSPECIFIED,  /* 0.0.0.0/8, ::/128 */
	PR_ADDR_LOOPBACK,     /* 127.0.0.0/8, ::1 */
	PR_ADDR_PRIVATE,      /* RFC 1918: 10/8, 172.16/12, 192.168/16 */
	PR_ADDR_SHARED,	      /* RFC 6598 (carrier-grade NAT): 100.64/10 */
	PR_ADDR_LINK_LOCAL,   /* 169.254/16, fe80::/10 */
	PR_ADDR_UNIQUE_LOCAL, /* RFC 4193 fc00::/7, and site-local fec0::/10 */
	PR_ADDR_MULTICAST,    /* 224/4, ff00::/8 */
	PR_ADDR_RESERVED,     /* 240/4 and broadcast, documentation, benchmark
				 and protocol-assignment ranges, discard-only
				 100::/64, Teredo, ORCHIDv2 */
};

/* An IPv4 or IPv6 address. An IPv4 address is stored as v4 (4 bytes). */
struct pr_addr {
	int family; /* 4 or 6 */
	uint8_t b[16];
};

/* A CIDR block of an allow list. */
struct pr_cidr {
	struct pr_addr net;
	int bits; /* 0..32 or 0..128 */
};

/* What a notification may reach. */
#define PR_NETGUARD_MAX_ALLOW 32
#define PR_NETGUARD_MAX_OWN 4
#define PR_NETGUARD_MAX_LOCAL 64
struct pr_netguard {
	/* notify.allow_private: non-public addresses allowed anyway */
	struct pr_cidr allow[PR_NETGUARD_MAX_ALLOW];
	size_t n_allow;
	/* the daemon's listeners (never reached, whatever the allow list);
	 * any: a wildcard listener (0.0.0.0 or ::), which every address of
	 * this host (local[]) and every loopback address reach */
	struct {
		const char *name; /* "listen.merchant" */
		struct pr_addr addr;
		int port;
		int any;
	} own[PR_NETGUARD_MAX_OWN];
	size_t n_own;
	struct pr_addr local[PR_NETGUARD_MAX_LOCAL];
	size_t n_local;
};

/* The class of a; an IPv6 address that embeds an IPv4 one (IPv4-mapped
 * ::ffff:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4
 * 2002::/16) has the class of the IPv4 address. */
enum pr_addr_class pr_addr_classify(const struct pr_addr *a);

/* "loopback", "private (RFC 1918)"...: for messages. */
const char *pr_addr_class_name(enum pr_addr_class c);

/* Parses a literal address: IPv6 with or without brackets (a zone,
 * "%eth0", is dropped), or IPv4 in any form the system's resolver takes
 * for one (inet_aton: "127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1"),
 * so that no spelling of a loopback address passes for a name. Returns 0,
 * or -EINVAL when s is not an address. */
int pr_addr_parse(const char *s, struct pr_addr *out);

/* Formats a into out (at least 46 bytes: INET6_ADDRSTRLEN). Returns out. */
const char *pr_addr_format(const struct pr_addr *a, char *out, size_t len);

/* Parses "10.0.0.0/8", "fd00::/8" or a single address (a /32 or /128).
 * The host bits must be zero. Returns 0 or -EINVAL. */
int pr_cidr_parse(const char *s, struct pr_cidr *out);

/* 1 when a is in c (an IPv4 block also takes the IPv4 address an IPv6
 * one embeds, as pr_addr_classify reads it). */
int pr_cidr_match(const struct pr_cidr *c, const struct pr_addr *a);

/* The host and port of an http:// or https:// URL, as libcurl reads them:
 * the authority after the scheme up to '/', '?' or '#', without
 * user information; an IPv6 literal without its brackets; the port given
 * or the scheme's (80, 443). Returns 0, or -EINVAL for any other scheme, an
 * empty or over-long host, a bad port, or a host with characters other
 * than letters, digits, '.', '-' and '_' (a name) or of an IPv6 literal
 * (percent-encoded and escaped hosts are refused, never decoded here). */
int pr_url_host(const char *url, char *host, size_t len, int *port);

/* The verdict on connecting to a:port. Returns NULL when allowed; else
 * writes why into why ("127.0.0.1 is a loopback address", "... is this
 * daemon's own listen.admin") and returns why. The daemon's own
 * listeners are refused first, whatever the allow list; then any
 * non-public address not in g->allow. */
const char *pr_netguard_check(const struct pr_netguard *g,
			      const struct pr_addr *a, int port, char *why,
			      size_t len);

/* The verdict on a notify_url when the merchant gives it, before any
 * name is resolved: NULL when it may be kept (why untouched); else why
 * it is refused: a malformed URL or host, a literal address that
 * pr_netguard_check refuses, or a name under "localhost" (RFC 6761:
 * always loopback). Other names are judged at delivery time, on the
 * addresses they resolve to then. */
const char *pr_netguard_url(const struct pr_netguard *g, const char *url,
			    char *why, size_t len);

#endif
