/*
 * offload.c - a worker thread for work that would block the loop
 * (offload.h). The worker takes jobs from a FIFO under a mutex, runs
 * their work, moves them to the finished list and writes one byte to a
 * pipe; the loop's read event on the pipe drains it and runs each
 * finished job's done. All of one base: the first job names it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "runtime/offload.h"

struct job {
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
	struct job *next;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int started, stop;
	int pipe[2];
	struct event *ev;
	struct job *todo, **todo_tail;
	struct job *finished, **finished_tail;
} off = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	  .pipe = { -1, -1 } };

static void *worker(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&off.mu);
	for (;;) {
		struct job *j;
		ssize_t n;

		while (!off.todo && !off.stop)
			pthread_cond_wait(&off.cv, &off.mu);
		if (off.stop)
			break;
		j = off.todo;
		off.todo = j->next;
		if (!off.todo)
			off.todo_tail = &off.todo;
		pthread_mutex_unlock(&off.mu);
		j->work(j->arg);
		j->next = NULL;
		pthread_mutex_lock(&off.mu);
		*off.finished_tail = j;
		off.finished_tail = &j->next;
		do
			n = write(off.pipe[1], "", 1);
		while (n < 0 && errno == EINTR);
		/* EAGAIN: the pipe is full of wake-ups already */
	}
	pthread_mutex_unlock(&off.mu);
	return NULL;
}

/* The loop's side: drains the pipe, runs the finished jobs' done. */
static void on_wake(evutil_socket_t fd, short what, void *unused)
{
	char buf[64];
	struct job *j;

	(void)what;
	(void)unused;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&off.mu);
	j = off.finished;
	off.finished = NULL;
	off.finished_tail = &off.finished;
	pthread_mutex_unlock(&off.mu);
	while (j) {
		struct job *next = j->next;

		j->done(j->arg);
		free(j);
		j = next;
	}
}

static int start(struct event_base *base)
{
	int rc;

	if (pipe2(off.pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	off.todo_tail = &off.todo;
	off.finished_tail = &off.finished;
	off.ev = event_new(base, off.pipe[0], EV_READ | EV_PERSIST, on_wake,
			   NULL);
	if (!off.ev || event_add(off.ev, NULL) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&off.thread, NULL, worker, NULL);
	if (rc < 0)
		goto fail;
	off.started = 1;
	return 0;
fail:
	if (off.ev)
		event_free(off.ev);
	off.ev = NULL;
	close(off.pipe[0]);
	close(off.pipe[1]);
	off.pipe[0] = off.pipe[1] = -1;
	return rc;
}

int pr_offload(struct event_base *base, void (*work)(void *arg),
	       void (*done)(void *arg), void *arg)
{
	struct job *j;
	int rc;

	if (!off.started && (rc = start(base)) < 0)
		return rc;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&off.mu);
	*off.todo_tail = j;
	off.todo_tail = &j->next;
	pthread_cond_signal(&off.cv);
	pthread_mutex_unlock(&off.mu);
	return 0;
}

void pr_offload_shutdown(void)
{
	struct job *j;

	if (!off.started)
		return;
	pthread_mutex_lock(&off.mu);
	off.stop = 1;
	pthread_cond_signal(&off.cv);
	pthread_mutex_unlock(&off.mu);
	pthread_join(off.thread, NULL);
	for (int list = 0; list < 2; list++) {
		j = list ? off.finished : off.todo;
		while (j) {
			struct job *next = j->next;

			free(j);
			j = next;
		}
	}
	event_free(off.ev);
	close(off.pipe[0]);
	close(off.pipe[1]);
	off.started = off.stop = 0;
	off.todo = off.finished = NULL;
	off.ev = NULL;
	off.pipe[0] = off.pipe[1] = -1;
}
