/*
 * breaker.h - a circuit breaker per channel (doc/design.md §4, "Circuit
 * breaking"): the state machine and a registry of channels by code.
 *
 *   closed ── `failures` channel-side failures within window_ms ──► open
 *   open ── cooldown_ms elapsed (seen by pr_brk_route) ──► half_open
 *   half_open: one probe may go out every probe_interval_ms;
 *     a probe's success ──► closed; its failure ──► open (a new cool-down)
 *   any state ── an operator's force ──► closed (or open)
 *
 * A channel-side failure is a call that timed out, could not be sent, got
 * an answer that did not verify, or an answer mapped to a failure of
 * category "channel" or "system" (codemap.h). A user's decline is an
 * answer: the channel is up, so it counts as a success here.
 *
 * Pure (libc and jansson): test_breaker drives the machine with a clock
 * given by the test. The router never sees this registry: the caller
 * passes each channel's routing state as data (router.h, enum
 * pr_brk_route).
 */
#ifndef PR_BREAKER_H
#define PR_BREAKER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum pr_brk_state {
	PR_BRK_CLOSED = 0,
	PR_BRK_OPEN,
	PR_BRK_HALF_OPEN,
};

/* "closed", "open", "half_open"; NULL for anything else. */
const char *pr_brk_state_name(enum pr_brk_state s);

/* What a call told the breaker. */
enum pr_brk_event {
	PR_BRK_EV_OK = 0, /* an answer the channel meant */
	PR_BRK_EV_FAIL,	  /* a channel-side failure */
};

/* What routing may do with the channel now. */
enum pr_brk_route {
	PR_BRK_ROUTE_ANY = 0, /* closed: route normally */
	PR_BRK_ROUTE_NONE,    /* open, or half open between probes: drop */
	PR_BRK_ROUTE_PROBE,   /* half open and a probe is due: send one */
};

struct pr_brk_cfg {
	int failures;		   /* > 0: failures that open it */
	int64_t window_ms;	   /* within this long */
	int64_t cooldown_ms;	   /* open this long before half open */
	int64_t probe_interval_ms; /* between probes when half open */
};

#define PR_BRK_FAILURES 5
#define PR_BRK_WINDOW_MS 60000
#define PR_BRK_COOLDOWN_MS 30000
#define PR_BRK_PROBE_INTERVAL_MS 5000

/* The failures remembered per channel: cfg.failures is at most this. */
#define PR_BRK_MAX_FAILURES 64
/* Transitions kept per channel (the newest ones). */
#define PR_BRK_HISTORY 16

struct pr_brk_change {
	int64_t at_ms;
	enum pr_brk_state from, to;
	char reason[112]; /* "5 failures in 60 s: CHANNEL_TIMEOUT", ... */
	char actor[64];	  /* "system", or the operator */
};

/* One channel's breaker. */
struct pr_brk {
	enum pr_brk_state state;
	int64_t since_ms;      /* when it entered state */
	int64_t last_probe_ms; /* half open: the last probe sent, or 0 */
	int64_t fail_ms[PR_BRK_MAX_FAILURES]; /* ring of failure times */
	size_t n_fail, fail_next;
	char last_failure[48];			   /* the last failure's code */
	uint64_t opened;			   /* times it opened */
	struct pr_brk_change hist[PR_BRK_HISTORY]; /* ring */
	size_t n_hist, hist_next;
};

/* Checks cfg: 0, or -EINVAL with err naming the field. */
int pr_brk_cfg_check(const struct pr_brk_cfg *cfg, char *err, size_t errlen);

/* A call ended as ev (what: its unified code, for the reason). Returns 1
 * when the state changed (the newest history entry says how), else 0. */
int pr_brk_record(struct pr_brk *b, const struct pr_brk_cfg *cfg,
		  enum pr_brk_event ev, const char *what, int64_t now_ms);

/* What routing may do now. Moves open to half open once the cool-down is
 * over (*changed = 1 then; changed may be NULL). */
enum pr_brk_route pr_brk_route(struct pr_brk *b, const struct pr_brk_cfg *cfg,
			       int64_t now_ms, int *changed);

/* The probe routing chose was sent: no other until probe_interval_ms. */
void pr_brk_probe_sent(struct pr_brk *b, int64_t now_ms);

/* An operator (actor) forces state to (closed or open) with reason.
 * Returns 1 when the state changed, 0 when it was already to, -EINVAL for
 * another target. */
int pr_brk_force(struct pr_brk *b, enum pr_brk_state to, const char *actor,
		 const char *reason, int64_t now_ms);

/* Takes a state decided elsewhere (another instance, through the store)
 * at at_ms by actor: applied when at_ms is later than the current state's
 * start and the state differs (1), else nothing (0). */
int pr_brk_adopt(struct pr_brk *b, enum pr_brk_state to, int64_t at_ms,
		 const char *actor, const char *reason);

/* The newest transition, or NULL. */
const struct pr_brk_change *pr_brk_last(const struct pr_brk *b);

/* {"state","since","failures_in_window","last_failure","opened",
 * "probe_due" (half open: when the next probe may go, else null),
 * "history":[{"at","from","to","reason","actor"}, newest first]}. Times
 * are ms since the epoch. A new reference or NULL. */
json_t *pr_brk_json(const struct pr_brk *b, const struct pr_brk_cfg *cfg,
		    int64_t now_ms);

/* ------------------------------------------------------------ registry */

struct pr_breakers;

/* A new, empty registry (NULL: out of memory); freed by
 * pr_breakers_free. */
struct pr_breakers *pr_breakers_new(void);
void pr_breakers_free(struct pr_breakers *r);

/* The breaker of channel, created closed when create and not there yet;
 * NULL when absent (or out of memory). Owned by the registry, valid until
 * it is freed. */
struct pr_brk *pr_breakers_get(struct pr_breakers *r, const char *channel,
			       int create);

/* Changes whenever a breaker is created: a caller that keeps breakers by
 * its own index (chanhealth.c, per generation) looks up again the
 * channels it had none for. 0 for a NULL r. */
uint64_t pr_breakers_epoch(const struct pr_breakers *r);

/* Calls fn for every channel's breaker, in no particular order. */
void pr_breakers_each(struct pr_breakers *r,
		      void (*fn)(const char *channel, struct pr_brk *b,
				 void *arg),
		      void *arg);

#endif
