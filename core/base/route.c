/*
 * route.c - the route matcher (route.h): a table, a method and a path in,
 * the row and its named segments out. Pure: no request, no I/O, no state;
 * admin.c answers what it finds (the handler, 401, 405 with Allow, 404),
 * and tests/unit/test_route.c holds it, and the listeners' tables, to
 * what route.h says.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/route.h"

/* Adds the named segment name (the pattern after its '{') with the len
 * bytes of value to m. Returns 0, or -ENOSPC. */
static int add_param(struct pr_route_match *m, const char *name,
		     const char *value, size_t len, size_t *used)
{
	size_t i = m->n_params;

	if (i == PR_ROUTE_MAX_PARAMS || *used + len + 1 > sizeof(m->buf))
		return -ENOSPC;
	m->params[i].name = name;
	m->params[i].name_len = strcspn(name, "*}");
	m->params[i].at = *used;
	memcpy(m->buf + *used, value, len);
	m->buf[*used + len] = '\0';
	*used += len + 1;
	m->n_params = i + 1;
	return 0;
}

/* 1 when row's pattern takes path, with its named segments in m (and
 * whatever was taken before the refusal otherwise). */
static int match(const struct pr_route *row, const char *path,
		 struct pr_route_match *m)
{
	const char *p = row->pattern, *s = path, *end;
	size_t used = 0, len;
	int rest;

	m->n_params = 0;
	while (*p) {
		if (*p != '{') {
			if (*p++ != *s++)
				return 0;
			continue;
		}
		end = strchr(p, '}');
		if (!end)
			return 0;
		rest = end[-1] == '*';
		len = rest ? strlen(s) : strcspn(s, "/");
		if ((len == 0 && !rest) ||
		    add_param(m, p + 1, s, len, &used) < 0)
			return 0;
		if (row->param_ok && !row->param_ok(m->buf + used - len - 1))
			return 0;
		s += len;
		p = end + 1;
	}
	return *s == '\0';
}

/* *dst = *src, the part of buf the parameters use only. */
static void match_copy(struct pr_route_match *dst,
		       const struct pr_route_match *src)
{
	size_t used = 0;

	for (size_t i = 0; i < src->n_params; i++) {
		size_t end = src->params[i].at +
			     strlen(src->buf + src->params[i].at) + 1;

		if (end > used)
			used = end;
	}
	dst->route = src->route;
	dst->allowed = src->allowed;
	dst->n_params = src->n_params;
	memcpy(dst->params, src->params,
	       src->n_params * sizeof(src->params[0]));
	memcpy(dst->buf, src->buf, used);
	if (!used)
		dst->buf[0] = '\0';
}

int pr_route_find(const struct pr_route *table, size_t n, unsigned method,
		  const char *path, struct pr_route_match *m)
{
	struct pr_route_match tmp;
	unsigned allowed;

	/* The header fields, not the 1 KiB buf: a match copies only what
	 * its parameters use (this runs for every request). */
	m->route = NULL;
	m->allowed = 0;
	m->n_params = 0;
	m->buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct pr_route *row = &table[i];

		if (m->route && strcmp(row->pattern, m->route->pattern) != 0)
			continue;
		if (!match(row, path, &tmp))
			continue;
		if (!m->route || (row->methods & method)) {
			allowed = m->allowed;
			match_copy(m, &tmp);
			m->route = row;
			m->allowed = allowed;
		}
		m->allowed |= row->methods;
		if (row->methods & method)
			return 0;
	}
	return m->route ? -ENOTSUP : -ENOENT;
}

const char *pr_route_param(const struct pr_route_match *m, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < m->n_params; i++) {
		if (m->params[i].name_len == n &&
		    strncmp(m->params[i].name, name, n) == 0)
			return m->buf + m->params[i].at;
	}
	return NULL;
}

char *pr_route_allow(unsigned methods, char *buf, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ PR_GET, "GET" },	 { PR_POST, "POST" },
		{ PR_PUT, "PUT" },	 { PR_PATCH, "PATCH" },
		{ PR_DELETE, "DELETE" },
	};
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((methods & names[i].bit) && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 used ? ", " : "",
						 names[i].name);
	}
	return buf;
}

/* What is wrong with pattern p, or NULL. */
static const char *pattern_error(const char *p)
{
	size_t params = 0, name;

	if (p[0] != '/')
		return "does not start with /";
	for (; *p; p++) {
		if (*p == '}')
			return "has a } without its {";
		if (*p != '{')
			continue;
		name = strcspn(p + 1, "{}*/");
		if (name == 0)
			return "has a segment without a name";
		if (p[1 + name] == '*')
			name++;
		if (p[1 + name] != '}')
			return "has a { that is not closed after its name";
		if (p[name] == '*' && p[2 + name])
			return "has a {name*} that is not at its end";
		if (++params > PR_ROUTE_MAX_PARAMS)
			return "has too many named segments";
		p += 1 + name;
	}
	return NULL;
}

int pr_route_check(const struct pr_route *table, size_t n, char *err,
		   size_t len)
{
	for (size_t i = 0; i < n; i++) {
		const char *why = table[i].pattern ?
					  pattern_error(table[i].pattern) :
					  "has no pattern";

		if (!why && !table[i].handle)
			why = "has no handler";
		if (!why && !table[i].methods)
			why = "takes no method";
		if (!why && table[i].auth == PR_AUTH_ADMIN &&
		    (table[i].perm == PR_PERM_NONE ||
		     (unsigned)table[i].perm >= PR_PERM_N))
			why = "needs the admin token but names no permission";
		if (!why && table[i].auth != PR_AUTH_ADMIN &&
		    table[i].perm != PR_PERM_NONE)
			why = "names a permission but is no operator's";
		if (why) {
			snprintf(err, len, "route %zu (%s) %s", i,
				 table[i].pattern ? table[i].pattern : "?",
				 why);
			return -EINVAL;
		}
	}
	return 0;
}

int pr_route_id_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 18 && strspn(s, "0123456789") == n;
}
