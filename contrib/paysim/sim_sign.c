/*
 * sim_sign.c - the simulator's signatures, off the loop.
 *
 * Every answer and notification of the three channels carries an RSA-2048
 * signature (SHA256withRSA), and one costs about 270 us of CPU here while
 * everything else a request needs (HTTP, JSON, verifying the caller's
 * signature, the ledger) costs a few tens of us. Signing on the loop would
 * cap paysim at one core's worth of signatures; instead the protocol
 * modules ask sim_sign() for a signature and get a marker back
 * (SIM_SIG_MARK), which they put where the signature goes: the Alipay
 * answer's "sign", the Wechatpay-Signature header, a form's
 * signature=... (a form's url-encoding turns the marker into
 * SIM_SIG_MARK_URL). The message is queued to a pool of signing threads;
 * when its signature is back on the loop, the front replaces the markers
 * (the url-encoded one by the url-encoded signature) and sends the answer
 * or notification on its way. Signatures come back to the loop in the
 * order they were asked for, so notifications keep their order.
 *
 * The threads only compute pr_rsa_sha256_sign() over a private copy of the
 * message with a key that does not change while paysim runs (OpenSSL keys
 * are safe to share for signing); everything else stays on the loop's
 * thread. With no pool (--sign-threads 0) sim_sign() signs at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/crypto.h"
#include "runtime/log.h"
#include "sim.h"

#define SIM_SIGNER_MAX_THREADS 64

struct sig_job {
	struct sig_job *next;  /* in submission order (loop side) */
	struct sig_job *qnext; /* in the workers' queue */
	payroute_key *key;
	char *msg;
	size_t len;
	char *sig; /* the result; NULL when signing failed */
	int done;  /* written by a worker, under the lock */
	void (*cb)(struct sim *, const char *sig, void *arg);
	void *arg;
};

struct sim_signer {
	struct sim *s;
	pthread_t *threads;
	int n_threads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sig_job *qhead, **qtail; /* waiting for a worker */
	int stopping;
	/* loop side only */
	struct sig_job *head, **tail; /* every job not yet called back */
	size_t pending;
	uint64_t signatures, failures;
	int wake[2]; /* workers write a byte, the loop reads */
	struct event *ev;
};

/* ------------------------------------------------------------------------ */
/* Markers                                                                  */
/* ------------------------------------------------------------------------ */

int sim_sign(struct sim *s, struct sim_sig *defer, payroute_key *key,
	     const void *msg, size_t len, char **sig)
{
	*sig = NULL;
	if (!defer || !s->signer || defer->msg)
		return pr_rsa_sha256_sign(key, msg, len, sig);
	defer->msg = malloc(len + 1);
	*sig = strdup(SIM_SIG_MARK);
	if (!defer->msg || !*sig) {
		free(defer->msg);
		free(*sig);
		defer->msg = NULL;
		*sig = NULL;
		return -ENOMEM;
	}
	memcpy(defer->msg, msg, len);
	defer->msg[len] = '\0';
	defer->len = len;
	defer->key = key;
	return 0;
}

void sim_sig_clear(struct sim_sig *g)
{
	free(g->msg);
	memset(g, 0, sizeof(*g));
}

char *sim_sig_splice(const char *text, size_t len, const char *sig,
		     size_t *out_len)
{
	static const char raw[] = SIM_SIG_MARK, url[] = SIM_SIG_MARK_URL;
	char *usig = pr_url_encode(sig), *out = NULL, *w;
	size_t n_raw = 0, n_url = 0, size;
	const char *p, *hit;

	if (!usig)
		return NULL;
	for (p = text;
	     (hit = memmem(p, len - (size_t)(p - text), raw, sizeof(raw) - 1));
	     p = hit + sizeof(raw) - 1)
		n_raw++;
	for (p = text;
	     (hit = memmem(p, len - (size_t)(p - text), url, sizeof(url) - 1));
	     p = hit + sizeof(url) - 1)
		n_url++;
	size = len + n_raw * strlen(sig) + n_url * strlen(usig) + 1;
	out = malloc(size);
	if (!out)
		goto out;
	w = out;
	for (p = text; p < text + len;) {
		size_t rest = len - (size_t)(p - text);

		if (rest >= sizeof(raw) - 1 &&
		    memcmp(p, raw, sizeof(raw) - 1) == 0) {
			w = stpcpy(w, sig);
			p += sizeof(raw) - 1;
		} else if (rest >= sizeof(url) - 1 &&
			   memcmp(p, url, sizeof(url) - 1) == 0) {
			w = stpcpy(w, usig);
			p += sizeof(url) - 1;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	if (out_len)
		*out_len = (size_t)(w - out);
out:
	free(usig);
	return out;
}

/* ------------------------------------------------------------------------ */
/* The pool                                                                 */
/* ------------------------------------------------------------------------ */

static void *worker(void *arg)
{
	struct sim_signer *g = arg;
	char byte = 1;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		struct sig_job *j;

		while (!g->qhead && !g->stopping)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->stopping)
			break;
		j = g->qhead;
		g->qhead = j->qnext;
		if (!g->qhead)
			g->qtail = &g->qhead;
		pthread_mutex_unlock(&g->mu);
		if (pr_rsa_sha256_sign(j->key, j->msg, j->len, &j->sig) != 0)
			j->sig = NULL;
		pthread_mutex_lock(&g->mu);
		j->done = 1;
		/* A full pipe already holds a wake-up: nothing is lost. */
		if (write(g->wake[1], &byte, 1) < 0 && errno != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Calls back, oldest first, every job that is done and has no older job
 * still signing. */
static void deliver(struct sim_signer *g)
{
	struct sig_job *ready = NULL, **rt = &ready;

	pthread_mutex_lock(&g->mu);
	while (g->head && g->head->done) {
		struct sig_job *j = g->head;

		g->head = j->next;
		j->next = NULL;
		*rt = j;
		rt = &j->next;
	}
	if (!g->head)
		g->tail = &g->head;
	pthread_mutex_unlock(&g->mu);
	while (ready) {
		struct sig_job *j = ready;

		ready = j->next;
		g->pending--;
		if (j->sig)
			g->signatures++;
		else
			g->failures++;
		j->cb(g->s, j->sig, j->arg);
		free(j->sig);
		free(j->msg);
		free(j);
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	deliver(arg);
}

int sim_signer_start(struct sim *s, int threads)
{
	struct sim_signer *g;

	if (threads <= 0)
		return 0;
	if (threads > SIM_SIGNER_MAX_THREADS)
		threads = SIM_SIGNER_MAX_THREADS;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->s = s;
	g->qtail = &g->qhead;
	g->tail = &g->head;
	g->wake[0] = g->wake[1] = -1;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	if (pipe2(g->wake, O_NONBLOCK | O_CLOEXEC) != 0)
		goto fail;
	g->ev = event_new(s->base, g->wake[0], EV_READ | EV_PERSIST, on_wake,
			  g);
	if (!g->ev || event_add(g->ev, NULL) != 0)
		goto fail;
	g->threads = calloc((size_t)threads, sizeof(*g->threads));
	if (!g->threads)
		goto fail;
	for (; g->n_threads < threads; g->n_threads++)
		if (pthread_create(&g->threads[g->n_threads], NULL, worker,
				   g) != 0)
			break;
	if (g->n_threads == 0)
		goto fail;
	s->signer = g;
	return 0;
fail:
	s->signer = g;
	sim_signer_stop(s);
	return -EAGAIN;
}

void sim_signer_stop(struct sim *s)
{
	struct sim_signer *g = s->signer;

	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stopping = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	for (int i = 0; i < g->n_threads; i++)
		pthread_join(g->threads[i], NULL);
	/* What no worker took is signed here, so that every answer and
	 * notification still gets its call (and frees what it holds). */
	for (struct sig_job *j = g->head; j; j = j->next)
		if (!j->done) {
			if (pr_rsa_sha256_sign(j->key, j->msg, j->len,
					       &j->sig) != 0)
				j->sig = NULL;
			j->done = 1;
		}
	deliver(g);
	s->signer = NULL;
	if (g->ev)
		event_free(g->ev);
	if (g->wake[0] >= 0)
		close(g->wake[0]);
	if (g->wake[1] >= 0)
		close(g->wake[1]);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g->threads);
	free(g);
}

int sim_signer_submit(struct sim *s, const struct sim_sig *sig,
		      void (*cb)(struct sim *, const char *sig, void *arg),
		      void *arg)
{
	struct sim_signer *g = s->signer;
	struct sig_job *j;

	if (!g || !sig->msg)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->msg = malloc(sig->len + 1))) {
		free(j);
		return -ENOMEM;
	}
	memcpy(j->msg, sig->msg, sig->len + 1);
	j->len = sig->len;
	j->key = sig->key;
	j->cb = cb;
	j->arg = arg;
	g->pending++;
	pthread_mutex_lock(&g->mu);
	*g->tail = j;
	g->tail = &j->next;
	*g->qtail = j;
	g->qtail = &j->qnext;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

json_t *sim_signer_json(struct sim *s)
{
	struct sim_signer *g = s->signer;

	if (!g)
		return json_pack("{s:i}", "threads", 0);
	return json_pack("{s:i,s:I,s:I,s:I}", "threads", g->n_threads,
			 "signatures", (json_int_t)g->signatures, "failures",
			 (json_int_t)g->failures, "pending",
			 (json_int_t)g->pending);
}
