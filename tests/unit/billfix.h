/*
 * billfix.h - fixtures of the bill reader tests (test_bill_*.c): real-shaped
 * bill files written to a temporary file the way the channels ship them
 * (GBK text through glibc's iconv, a zip through libzip, a gzip through
 * zlib), handed over as a file descriptor like the core does.
 */
#ifndef PR_BILLFIX_H
#define PR_BILLFIX_H

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

/* UTF-8 -> GBK (GB18030); the result is malloc'ed, *len its length. */
static inline char *fix_gbk(const char *utf8, size_t *len)
{
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	size_t inleft = strlen(utf8), outcap = inleft * 2 + 1, outleft = outcap;
	char *out = malloc(outcap), *in = (char *)utf8, *o = out;

	if (cd == (iconv_t)-1 || !out ||
	    iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1)
		abort();
	iconv_close(cd);
	*len = outcap - outleft;
	return out;
}

/* A fresh temporary path (unlinked by fix_open). */
static inline void fix_path(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/pr_billfix_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
}

/* Opens path read-only and unlinks it: the fd is all that is left. */
static inline int fix_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		abort();
	unlink(path);
	return fd;
}

/* Writes len bytes to a temporary file and returns it open. */
static inline int fix_raw(const void *data, size_t len)
{
	char path[64];
	FILE *f;

	fix_path(path, sizeof(path));
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
	return fix_open(path);
}

#ifdef BILLFIX_ZIP
#include <zip.h>

/* A zip of n members (names and contents as given, names stored raw) in a
 * temporary file, returned open. */
static inline int fix_zip(size_t n, const char *const *names,
			  const char *const *data, const size_t *lens)
{
	char path[64];
	zip_t *z;
	int zerr;

	fix_path(path, sizeof(path));
	z = zip_open(path, ZIP_TRUNCATE, &zerr);
	if (!z)
		abort();
	for (size_t i = 0; i < n; i++) {
		zip_source_t *s = zip_source_buffer(z, data[i], lens[i], 0);

		if (!s || zip_file_add(z, names[i], s, ZIP_FL_ENC_RAW) < 0)
			abort();
	}
	if (zip_close(z) < 0)
		abort();
	return fix_open(path);
}
#endif

#ifdef BILLFIX_GZIP
#include <zlib.h>

static inline int fix_gzip(const char *data, size_t len)
{
	char path[64];
	gzFile g;

	fix_path(path, sizeof(path));
	g = gzopen(path, "wb");
	if (!g || (len && gzwrite(g, data, (unsigned)len) != (int)len) ||
	    gzclose(g) != Z_OK)
		abort();
	return fix_open(path);
}
#endif

#endif
