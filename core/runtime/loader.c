/*
 * loader.c - driver modules.
 *
 * A reload rescans the driver directory. A file that is unchanged since it
 * was loaded (same device, inode, size and mtime) keeps its module, shared
 * with the generations that already use it; a new or changed file is loaded
 * anew. Each load copies the file into an anonymous memfd and opens it
 * through /proc/self/fd/N: glibc returns an already-loaded object when asked
 * for the same path again, so opening the directory's path would hand a
 * rebuilt driver's old code back to us. The memfd stays open as long as the
 * module does, so its path is never reused while the object is mapped.
 *
 * The descriptor is checked (pr_abi_check) before anything else of the
 * driver runs; only its entry function, which returns a pointer to static
 * data, has been called by then. Then the config keys a 1.2 driver
 * declares are read once and checked (drvschema.c): a broken table refuses
 * the driver like a bad descriptor. A refused file is logged with what was
 * expected and what was found, and skipped: the daemon runs with the rest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ltdl.h>

#include "runtime/loader.h"
#include "runtime/log.h"

/* Size of the v1.0 descriptor: the least a driver may hand us. */
#define PR_DRIVER_V1_SIZE sizeof(struct payroute_driver)

struct pr_module_priv {
	struct pr_module pub;
	int memfd;
};

static size_t modules_open;

size_t pr_loader_open_count(void)
{
	return modules_open;
}

int pr_loader_init(void)
{
	if (lt_dlinit() != 0) {
		pr_err("libltdl: %s", lt_dlerror());
		return -EIO;
	}
	return 0;
}

void pr_loader_exit(void)
{
	lt_dlexit();
}

static int valid_name(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n >= 1 && n <= 64;
}

int pr_abi_check(const struct payroute_driver *d, char *err, size_t errlen)
{
	if (!d) {
		snprintf(err, errlen, "entry point returned no descriptor");
		return -ENOEXEC;
	}
	if (d->magic != PAYROUTE_DRIVER_MAGIC) {
		snprintf(err, errlen,
			 "not a payroute driver: bad magic: expected 0x%08x, "
			 "found 0x%08x",
			 PAYROUTE_DRIVER_MAGIC, (unsigned)d->magic);
		return -ENOEXEC;
	}
	if (d->abi_major != PAYROUTE_ABI_MAJOR) {
		snprintf(err, errlen,
			 "ABI mismatch: expected ABI %d.x, found %u.%u",
			 PAYROUTE_ABI_MAJOR, (unsigned)d->abi_major,
			 (unsigned)d->abi_minor);
		return -ENOEXEC;
	}
	if (d->abi_minor > PAYROUTE_ABI_MINOR) {
		snprintf(err, errlen,
			 "ABI mismatch: expected ABI %d.%d or older, found "
			 "%u.%u (the driver is newer than this payrouted)",
			 PAYROUTE_ABI_MAJOR, PAYROUTE_ABI_MINOR,
			 (unsigned)d->abi_major, (unsigned)d->abi_minor);
		return -ENOEXEC;
	}
	if (d->size < PR_DRIVER_V1_SIZE) {
		snprintf(err, errlen,
			 "descriptor too small: expected at least %zu bytes "
			 "(ABI %d.0), found %u",
			 PR_DRIVER_V1_SIZE, PAYROUTE_ABI_MAJOR,
			 (unsigned)d->size);
		return -ENOEXEC;
	}
	if (!valid_name(d->name)) {
		snprintf(err, errlen,
			 "invalid driver name: expected [a-z0-9_]{1,64}, "
			 "found \"%s\"",
			 d->name ? d->name : "(null)");
		return -ENOEXEC;
	}
	if (!d->init) {
		snprintf(err, errlen, "driver %s has no init function",
			 d->name);
		return -ENOEXEC;
	}
	/* ABI 1.3: the bill operations go together (an older minor's
	 * slots are never read). */
	if (d->abi_minor >= 3) {
		int n = !!d->build_bill + !!d->parse_bill + !!d->bill_open +
			!!d->bill_next + !!d->bill_close;

		if (n != 0 && n != 5) {
			snprintf(err, errlen,
				 "driver %s sets %d of the 5 bill operations "
				 "(build_bill, parse_bill, bill_open, "
				 "bill_next, bill_close): all or none",
				 d->name, n);
			return -ENOEXEC;
		}
	}
	return 0;
}

void pr_module_ref(struct pr_module *m)
{
	m->refs++;
}

void pr_module_unref(struct pr_module *m)
{
	struct pr_module_priv *p = (struct pr_module_priv *)m;

	if (!m || --m->refs > 0)
		return;
	if (m->handle) {
		pr_info("driver %s unloaded (%s)",
			m->desc ? m->desc->name : "?", m->file);
		lt_dlclose((lt_dlhandle)m->handle);
		modules_open--;
	}
	if (p->memfd >= 0)
		close(p->memfd);
	pr_schema_clear(&m->schema);
	free(m->path);
	free(m->file);
	free(p);
}

void pr_driver_set_release(struct pr_driver_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		pr_module_unref(set->mods[i]);
	free(set->mods);
	set->mods = NULL;
	set->n = 0;
}

struct pr_module *pr_driver_set_find(const struct pr_driver_set *set,
				     const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->mods[i]->desc->name, name) == 0)
			return set->mods[i];
	return NULL;
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* Copies the file at path into a new memfd. Returns the fd or -errno. */
static int copy_to_memfd(const char *path, const char *file)
{
	char buf[65536];
	int in, fd, rc = 0;
	ssize_t n;

	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	fd = memfd_create(file, MFD_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0) {
				rc = -errno;
				goto out;
			}
			off += w;
		}
	}
	if (n < 0)
		rc = -errno;
out:
	close(in);
	if (rc < 0 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return rc < 0 ? rc : fd;
}

/* Loads one file and checks its descriptor. Returns the module (one
 * reference) or NULL when refused (logged). */
static struct pr_module *load_one(const char *path, const char *file,
				  const struct stat *st, uint64_t gen)
{
	struct pr_module_priv *p = NULL;
	const struct payroute_driver *desc;
	struct pr_schema schema = { 0 };
	payroute_driver_entry_fn entry;
	lt_dladvise advise = NULL;
	lt_dlhandle h = NULL;
	char fdpath[64], err[256];
	int fd;

	fd = copy_to_memfd(path, file);
	if (fd < 0) {
		pr_err("driver %s refused: cannot read it: %s", path,
		       strerror(-fd));
		return NULL;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	/* No lt_dladvise_ext: libltdl would append .la/.so to the memfd
	 * path and never try it as it is. Symbols stay local to the module. */
	if (lt_dladvise_init(&advise) == 0 && lt_dladvise_local(&advise) == 0)
		h = lt_dlopenadvise(fdpath, advise);
	lt_dladvise_destroy(&advise);
	if (!h) {
		pr_err("driver %s refused: cannot load it: %s", path,
		       lt_dlerror());
		goto fail;
	}
	entry = (payroute_driver_entry_fn)(uintptr_t)lt_dlsym(
		h, PAYROUTE_DRIVER_SYMBOL);
	if (!entry) {
		pr_err("driver %s refused: not a payroute driver: no %s symbol "
		       "(expected a function exported by "
		       "PAYROUTE_DRIVER_EXPORT)",
		       path, PAYROUTE_DRIVER_SYMBOL);
		goto fail;
	}
	desc = entry();
	if (pr_abi_check(desc, err, sizeof(err)) < 0 ||
	    pr_schema_load(desc, &schema, err, sizeof(err)) < 0) {
		pr_err("driver %s refused: %s", path, err);
		goto fail;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto fail;
	p->pub.schema = schema;
	schema = (struct pr_schema){ 0 };
	p->memfd = fd;
	p->pub.refs = 1;
	p->pub.path = strdup(path);
	p->pub.file = strdup(file);
	p->pub.dev = st->st_dev;
	p->pub.ino = st->st_ino;
	p->pub.mtime_ns = mtime_ns(st);
	p->pub.fsize = st->st_size;
	p->pub.handle = h;
	p->pub.desc = desc;
	p->pub.loaded_in = gen;
	if (!p->pub.path || !p->pub.file) {
		free(p->pub.path);
		free(p->pub.file);
		pr_schema_clear(&p->pub.schema);
		free(p);
		p = NULL;
		goto fail;
	}
	modules_open++;
	pr_info("driver %s %s (ABI %u.%u) loaded from %s%s", desc->name,
		desc->version ? desc->version : "?", (unsigned)desc->abi_major,
		(unsigned)desc->abi_minor, path,
		p->pub.schema.declared ?
			"" :
			" (it declares no config keys: its config is checked "
			"by its init only)");
	return &p->pub;
fail:
	pr_schema_clear(&schema);
	if (h)
		lt_dlclose(h);
	close(fd);
	return NULL;
}

struct pr_module *pr_module_wrap(const struct payroute_driver *desc,
				 const char *file, char *err, size_t errlen)
{
	struct pr_module_priv *p;
	struct pr_schema schema;

	if (pr_abi_check(desc, err, errlen) < 0 ||
	    pr_schema_load(desc, &schema, err, errlen) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		pr_schema_clear(&schema);
		goto nomem;
	}
	p->pub.schema = schema;
	p->memfd = -1;
	p->pub.refs = 1;
	p->pub.desc = desc;
	p->pub.path = strdup(file);
	p->pub.file = strdup(file);
	if (!p->pub.path || !p->pub.file) {
		free(p->pub.path);
		free(p->pub.file);
		pr_schema_clear(&p->pub.schema);
		free(p);
		goto nomem;
	}
	return &p->pub;
nomem:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_mod(const void *a, const void *b)
{
	const struct pr_module *x = *(struct pr_module *const *)a;
	const struct pr_module *y = *(struct pr_module *const *)b;

	return strcmp(x->desc->name, y->desc->name);
}

static struct pr_module *find_unchanged(const struct pr_driver_set *prev,
					const char *path, const struct stat *st)
{
	if (!prev)
		return NULL;
	for (size_t i = 0; i < prev->n; i++) {
		struct pr_module *m = prev->mods[i];

		if (strcmp(m->path, path) == 0 && m->dev == st->st_dev &&
		    m->ino == st->st_ino && m->fsize == st->st_size &&
		    m->mtime_ns == mtime_ns(st))
			return m;
	}
	return NULL;
}

int pr_loader_scan(const char *dir, const struct pr_driver_set *prev,
		   uint64_t gen, struct pr_driver_set *out, char *err,
		   size_t errlen)
{
	struct pr_driver_set set = { 0 };
	char **names = NULL;
	size_t n_names = 0, cap = 0;
	struct dirent *de;
	DIR *dp;
	int rc = 0;

	out->mods = NULL;
	out->n = 0;
	dp = opendir(dir);
	if (!dp) {
		rc = -errno;
		snprintf(err, errlen, "drivers.dir %s: %s", dir,
			 strerror(errno));
		return rc;
	}
	while ((de = readdir(dp))) {
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0 ||
		    de->d_name[0] == '.')
			continue;
		if (n_names == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn) {
				rc = -ENOMEM;
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		names[n_names] = strdup(de->d_name);
		if (!names[n_names]) {
			rc = -ENOMEM;
			goto out;
		}
		n_names++;
	}
	if (n_names)
		qsort(names, n_names, sizeof(*names), cmp_str);
	set.mods = calloc(n_names ? n_names : 1, sizeof(*set.mods));
	if (!set.mods) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_names; i++) {
		char path[PATH_MAX];
		struct pr_module *m, *dup;
		struct stat st;

		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
		    (int)sizeof(path))
			continue;
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		m = find_unchanged(prev, path, &st);
		if (m)
			pr_module_ref(m);
		else
			m = load_one(path, names[i], &st, gen);
		if (!m) {
			set.refused++;
			continue;
		}
		dup = pr_driver_set_find(&set, m->desc->name);
		if (dup) {
			snprintf(err, errlen,
				 "driver name %s is declared by both %s and %s",
				 m->desc->name, dup->file, m->file);
			pr_module_unref(m);
			rc = -EEXIST;
			goto out;
		}
		set.mods[set.n++] = m;
	}
	if (set.n)
		qsort(set.mods, set.n, sizeof(*set.mods), cmp_mod);
out:
	closedir(dp);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory scanning %s", dir);
		pr_driver_set_release(&set);
		return rc;
	}
	*out = set;
	return 0;
}
