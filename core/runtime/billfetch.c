/*
 * billfetch.c - one part of a channel's bill, fetched through its driver
 * (billfetch.h). Three steps on the loop, each an HTTP exchange through
 * core/runtime/httpc.c: the bill request the driver builds and its answer, which
 * the driver reads into where the file is; then the file, written by
 * libcurl straight into a temporary file that is unlinked from the start
 * (O_TMPFILE), so that nothing is left behind by a crash and no bill is
 * ever in memory whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/billfetch.h"
#include "domain/drvobj.h"
#include "runtime/log.h"
#include "runtime/services.h"

struct fetch {
	struct pr_billfetch_req r;
	char *day, *channel, *tmpdir;
	struct payroute_bill_req breq;
	struct payroute_bill_file file;
	pr_billfetch_cb cb;
	void *arg;
	int fd;
	int rc;
	char err[512];
};

static void fetch_free(struct fetch *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->day);
	free(f->channel);
	free(f->tmpdir);
	free(f);
}

/* Ends the fetch: calls back and frees. */
static void finish(struct fetch *f)
{
	int fd = f->rc == 0 ? f->fd : -1;

	if (f->rc == 0)
		f->fd = -1; /* the callee's now */
	f->cb(f->rc, fd, f->rc == 0 ? &f->file : NULL, f->err, f->arg);
	fetch_free(f);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg);
}

/* Fails (or ends) the fetch from the loop's next turn. */
static void defer_finish(struct fetch *f)
{
	struct timeval zero = { 0, 0 };

	if (event_base_once(f->r.base, -1, EV_TIMEOUT, on_deferred, f, &zero) <
	    0) {
		pr_err("billfetch: %s %s: cannot schedule the end of a fetch",
		       f->channel, f->day);
		finish(f);
	}
}

static int fail(struct fetch *f, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct fetch *f, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
	f->rc = rc;
	return rc;
}

static int open_tmp(const char *dir)
{
	char path[4096];
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 ||
	    (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	snprintf(path, sizeof(path), "%s/payroute-bill-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

static void on_file(const struct pr_httpc_result *hr, void *arg)
{
	struct fetch *f = arg;

	if (!hr->ok)
		fail(f, -EIO, "the download failed: %s",
		     hr->error ? hr->error : "no answer");
	else if (hr->status != 200)
		fail(f, -EPROTO, "the download answered HTTP %d", hr->status);
	else if (lseek(f->fd, 0, SEEK_SET) < 0)
		fail(f, -EIO, "cannot rewind the downloaded file");
	else
		pr_info("channel %s: bill %s part %u downloaded (%zu bytes)",
			f->channel, f->day, f->breq.part, hr->body_len);
	finish(f);
}

static void on_answer(const struct pr_httpc_result *hr, void *arg)
{
	struct fetch *f = arg;
	struct payroute_http_response resp = { 0 };
	struct payroute_http_req req;
	char err[256] = "";
	int rc;

	if (!hr->ok) {
		fail(f, -EIO, "the bill request got no answer: %s",
		     hr->error ? hr->error : "unknown error");
		goto out;
	}
	resp.size = sizeof(resp);
	resp.status = hr->status;
	resp.headers = hr->headers;
	resp.n_headers = hr->n_headers;
	resp.body = hr->body ? hr->body : "";
	resp.body_len = hr->body_len;
	f->file.size = sizeof(f->file);
	rc = f->r.drv->parse_bill(f->r.state, &f->breq, &resp, &f->file, err,
				  sizeof(err));
	if (rc == -ENOENT) {
		fail(f, -ENOENT, "no bill: %s", err);
		goto out;
	}
	if (rc < 0) {
		fail(f, rc, "the bill answer (HTTP %d) not accepted: %s",
		     hr->status, err[0] ? err : strerror(-rc));
		goto out;
	}
	f->file.url[sizeof(f->file.url) - 1] = '\0';
	f->file.hash_alg[sizeof(f->file.hash_alg) - 1] = '\0';
	f->file.hash_hex[sizeof(f->file.hash_hex) - 1] = '\0';
	pr_http_req_init(&req);
	if (f->r.drv->build_bill_download)
		rc = f->r.drv->build_bill_download(
			f->r.state, &f->breq, &f->file, &req, err, sizeof(err));
	else
		rc = pr_services()->http_set(&req, "GET", f->file.url);
	if (rc == 0 && !req.url)
		rc = -EINVAL;
	if (rc < 0) {
		pr_http_req_clear(&req);
		fail(f, rc, "cannot build the download: %s",
		     err[0] ? err : strerror(-rc));
		goto out;
	}
	f->fd = open_tmp(f->tmpdir);
	if (f->fd < 0) {
		pr_http_req_clear(&req);
		fail(f, f->fd, "cannot create a file in %s: %s", f->tmpdir,
		     strerror(-f->fd));
		f->fd = -1;
		goto out;
	}
	rc = pr_httpc_send_to_fd(f->r.httpc, &req, f->fd, f->r.max_bytes,
				 on_file, f);
	pr_http_req_clear(&req);
	if (rc == 0)
		return;
	fail(f, rc, "cannot send the download: %s", strerror(-rc));
out:
	finish(f);
}

int pr_billfetch_start(const struct pr_billfetch_req *r, pr_billfetch_cb cb,
		       void *arg)
{
	struct payroute_http_req req;
	struct fetch *f;
	char err[256] = "";
	int rc;

	if (!r || !cb || !r->drv || !PAYROUTE_HAS_BILLS(r->drv) || !r->day ||
	    !r->base || !r->httpc)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = -1;
	f->r = *r;
	f->cb = cb;
	f->arg = arg;
	f->day = strdup(r->day);
	f->channel = strdup(r->channel ? r->channel : "?");
	f->tmpdir = strdup(r->tmpdir ? r->tmpdir : "/tmp");
	if (!f->day || !f->channel || !f->tmpdir) {
		fetch_free(f);
		return -ENOMEM;
	}
	f->breq.size = sizeof(f->breq);
	f->breq.part = r->part;
	f->breq.day = f->day;
	pr_http_req_init(&req);
	rc = r->drv->build_bill(r->state, &f->breq, &req, err, sizeof(err));
	if (rc == -ENOENT && r->part > 0) {
		fail(f, -ENODATA, "no part %u", r->part);
	} else if (rc < 0 || !req.url) {
		fail(f, rc < 0 ? rc : -EINVAL,
		     "the driver could not build the bill request: %s",
		     err[0] ? err :
		     rc < 0 ? strerror(-rc) :
			      "no request");
	} else {
		rc = pr_httpc_send(r->httpc, &req, on_answer, f);
		if (rc < 0)
			fail(f, rc, "cannot send the bill request: %s",
			     strerror(-rc));
	}
	pr_http_req_clear(&req);
	if (f->rc < 0)
		defer_finish(f);
	return 0;
}
