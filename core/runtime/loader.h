/*
 * loader.h - driver modules: scan a directory, lt_dlopenext each .so,
 * check its descriptor before running any other code of it, and share
 * unchanged modules between generations (a module is closed when the last
 * generation using it is released).
 */
#ifndef PR_LOADER_H
#define PR_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <payroute/driver.h>

#include "domain/drvschema.h"

/* One loaded driver file. Reference-counted: each driver set holding it
 * owns one reference. */
struct pr_module {
	int refs;
	char *path; /* absolute path of the .so */
	char *file; /* its base name */
	dev_t dev;  /* identity of the file when it was loaded: a file that */
	ino_t ino;  /* changes (rebuilt, replaced) is loaded anew */
	int64_t mtime_ns;
	off_t fsize;
	void *handle; /* lt_dlhandle; NULL for modules built in tests */
	const struct payroute_driver *desc;
	uint64_t loaded_in; /* the generation that first loaded it */
	/* The config keys the driver declares (ABI 1.2), read and checked
	 * when it was loaded; schema.declared is 0 for an older driver. */
	struct pr_schema schema;
};

/* The drivers of one generation, sorted by name. */
struct pr_driver_set {
	struct pr_module **mods;
	size_t n;
	size_t refused; /* files of the scan that were refused (logged) */
};

/* Checks a descriptor: magic, ABI major, minor not newer than ours, size
 * at least the v1 layout, a valid name and init. Pure: returns 0, or
 * -ENOEXEC with err saying what was expected and what was found. */
int pr_abi_check(const struct payroute_driver *d, char *err, size_t errlen);

/* Initialises libltdl. Returns 0 or -EIO. */
int pr_loader_init(void);
void pr_loader_exit(void);

/* Builds `out` from the *.so files of dir. A module of `prev` whose file is
 * unchanged is shared (its refcount raised), others are loaded. A file that
 * cannot be loaded, fails the ABI check or declares a broken config-key
 * table (pr_schema_load) is refused with a log line naming it and
 * skipped. Two files declaring the same driver name is an error.
 * `gen` is recorded on newly loaded modules. Returns 0, or a negative
 * errno with err filled (out is then empty). */
int pr_loader_scan(const char *dir, const struct pr_driver_set *prev,
		   uint64_t gen, struct pr_driver_set *out, char *err,
		   size_t errlen);

/* Finds a driver by name, or NULL. */
struct pr_module *pr_driver_set_find(const struct pr_driver_set *set,
				     const char *name);

/* Drops the set's references; modules reaching zero are lt_dlclose'd. */
void pr_driver_set_release(struct pr_driver_set *set);

/* Wraps a descriptor that is linked into the process (unit tests, built-in
 * drivers) as a module with one reference and no handle; the descriptor
 * and its config keys are checked like a loaded one's. Returns NULL (err
 * filled) when refused. */
struct pr_module *pr_module_wrap(const struct payroute_driver *desc,
				 const char *file, char *err, size_t errlen);

/* Takes a reference on a module / drops one (closing it at zero). */
void pr_module_ref(struct pr_module *m);
void pr_module_unref(struct pr_module *m);

/* Number of modules currently open (for tests and metrics). */
size_t pr_loader_open_count(void);

#endif
