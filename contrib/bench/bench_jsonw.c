/*
 * bench_jsonw.c - what writing the explain answer's trace costs: the
 * jansson tree (pr_route_to_json, json_dumps, json_decref, as explain did
 * until it streamed) against jsonw (pr_route_trace_write, what explain
 * does now), on the sample catalogue (etc/catalogue.sample.json, 8
 * channels, the answer bench_explain.sh measures end to end) and on 13
 * copies of it (104 channels). Prints ns per answer and the answer's
 * bytes, the best of 7 rounds (other work on the machine only ever makes
 * a round slower). Both must write the same bytes; it says so, and exits 1
 * when they do not. Built by `make bench`; a program that prints figures,
 * not a timed test.
 *
 * Usage: bench_jsonw [CATALOGUE.json] [answers per round, default 20000]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/jsonw.h"
#include "domain/catalogue.h"
#include "domain/router.h"

#define ROUNDS 7

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The catalogue's channels, copies times (codes suffixed _N after the
 * first copy). */
static int build(struct pr_catalogue *cat, json_t *doc, int copies)
{
	json_t *chans = json_array(), *c;
	char err[256], code[96];
	size_t i;
	int rc;

	for (int k = 0; k < copies; k++) {
		json_array_foreach(json_object_get(doc, "channels"), i, c) {
			json_t *d = json_deep_copy(c);

			if (k) {
				snprintf(code, sizeof(code), "%s_%d",
					 json_string_value(
						 json_object_get(c, "code")),
					 k);
				json_object_set_new(d, "code",
						    json_string(code));
			}
			json_array_append_new(chans, d);
		}
	}
	rc = pr_catalogue_build(cat, chans, NULL, json_object_get(doc, "rules"),
				err, sizeof(err));
	if (rc)
		fprintf(stderr, "bench_jsonw: catalogue: %s\n", err);
	json_decref(chans);
	return rc;
}

static char *by_jansson(const struct pr_catalogue *cat,
			const struct pr_route_result *res)
{
	json_t *j = pr_route_to_json(cat, res);
	char *t = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return t;
}

/* Writes into buf (cap bytes); returns the length, or 0. */
static size_t by_jsonw(const struct pr_catalogue *cat,
		       const struct pr_route_result *res, char *buf, size_t cap,
		       char **heap)
{
	struct pr_jw w;
	size_t n;

	pr_jw_init(&w, buf, cap);
	pr_jw_obj_open(&w);
	pr_route_trace_write(&w, cat, res, 0);
	pr_jw_obj_close(&w);
	n = w.failed ? 0 : w.len;
	*heap = w.own; /* the caller frees it (the text is there) */
	if (w.own && n)
		memcpy(buf, w.p, n < cap ? n : cap);
	return n;
}

static int run(const char *title, struct pr_catalogue *cat, long n)
{
	struct pr_route_cand *cands = calloc(cat->n_chans, sizeof(*cands));
	struct pr_route_result res = { .cands = cands, .cap = cat->n_chans };
	struct pr_route_req rq = { 0 };
	int64_t best_j = INT64_MAX, best_w = INT64_MAX, t;
	static char buf[1 << 16];
	char *want, *heap;
	size_t len;
	int same;

	rq.business = PR_BIZ_PAY;
	rq.method = "wechat_pay";
	rq.environment = "native_qr";
	rq.product_code = "NATIVE";
	rq.currency = "CNY";
	rq.amount = 10000;
	rq.now_ms = 1796619757187LL;
	if (!cands || pr_route(cat, &rq, NULL, 1, &res) < 0) {
		fprintf(stderr, "bench_jsonw: cannot route\n");
		return -1;
	}
	want = by_jansson(cat, &res);
	len = by_jsonw(cat, &res, buf, sizeof(buf), &heap);
	free(heap);
	same = want && len == strlen(want) && memcmp(buf, want, len) == 0;
	for (int r = 0; r < ROUNDS; r++) {
		t = now_ns();
		for (long i = 0; i < n; i++)
			free(by_jansson(cat, &res));
		t = now_ns() - t;
		best_j = t < best_j ? t : best_j;
		t = now_ns();
		for (long i = 0; i < n; i++) {
			char room[8192];

			by_jsonw(cat, &res, room, sizeof(room), &heap);
			free(heap);
		}
		t = now_ns() - t;
		best_w = t < best_w ? t : best_w;
	}
	printf("%s: %zu channels, answer %zu bytes, %s\n"
	       "  jansson tree + json_dumps  %8.0f ns per answer\n"
	       "  jsonw                      %8.0f ns per answer (%.1fx)\n",
	       title, cat->n_chans, want ? strlen(want) : 0,
	       same ? "the same bytes" : "DIFFERENT BYTES",
	       (double)best_j / (double)n, (double)best_w / (double)n,
	       (double)best_j / (double)best_w);
	free(want);
	free(cands);
	return same ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "etc/catalogue.sample.json";
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
	struct pr_catalogue cat;
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	int rc = 0;

	if (!doc || n <= 0) {
		fprintf(stderr, "usage: bench_jsonw [CATALOGUE.json] [N]%s%s\n",
			doc ? "" : ": ", doc ? "" : jerr.text);
		return 2;
	}
	if (build(&cat, doc, 1) != 0)
		return 1;
	rc |= run("sample catalogue", &cat, n);
	pr_catalogue_clear(&cat);
	if (build(&cat, doc, 13) != 0)
		return 1;
	rc |= run("13 copies", &cat, n / 10 ? n / 10 : 1);
	pr_catalogue_clear(&cat);
	json_decref(doc);
	return rc ? 1 : 0;
}
