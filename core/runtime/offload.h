/*
 * offload.h - work that would block the loop, run on a worker thread: a
 * password's memory-hard KDF (runtime/passwd.c) takes about 0.3 s of
 * CPU, far too long for the one thread that serves every request. A job's work runs on the worker; its done runs back on the
 * loop, in the order the jobs finished, woken by a pipe the loop watches
 * (an ordinary libevent read event: the loop needs no thread support).
 *
 * One worker thread per process, started at the first job; jobs wait in a
 * FIFO (a burst of sign-ins is served one after the other, so the KDF's
 * memory is taken once, not once per request). work must touch nothing
 * the loop touches (no log, no store, no request): only what its argument
 * owns.
 */
#ifndef PR_OFFLOAD_H
#define PR_OFFLOAD_H

struct event_base;

/* Runs work(arg) on the worker thread, then done(arg) on base's loop.
 * Returns 0, or a negative errno (the thread or the pipe could not be
 * made: neither function is called then). */
int pr_offload(struct event_base *base, void (*work)(void *arg),
	       void (*done)(void *arg), void *arg);

/* Stops the worker (after the job it is running; queued jobs are dropped
 * without their done: call at exit only, once the loop has stopped). */
void pr_offload_shutdown(void);

#endif
