/*
 * policy_write.h - the policy write ("pw"): one change of the routing
 * policy as one transaction on a held store connection, the same steps for
 * every resource of the policy API (channels, whitelist, rules, code
 * overrides, an import):
 *
 *   BEGIN; the policy lock; the before image (ops->before_sql); the
 *   resource's check (ops->prepare), which fills the write; the write;
 *   the whole policy re-read and built as a reload will build it; the
 *   audit row and the NOTIFY; COMMIT; a reload, and the answer with the
 *   generation it made.
 *
 * A resource describes its write in a struct pr_pw_ops and fills a
 * struct pr_pw from its request; everything else is here. Every function
 * that takes a pw answers its request in the end: the caller of
 * pr_pw_go/pr_pw_start must not touch the request afterwards.
 */
#ifndef PR_POLICY_WRITE_H
#define PR_POLICY_WRITE_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "runtime/daemon.h"
#include "domain/policy_io.h"

struct pr_pw;

/* What differs from one kind of write to the next. */
struct pr_pw_ops {
	const char *action; /* audit action */
	const char *kind;   /* audit object_kind, NOTIFY kind */
	/* Reads the before image; $1 is w->key. */
	const char *before_sql;
	/* Checks the change against the before image; fills the write
	 * (write_sql, wp[]), the audit images and the answer. Returns 0, or
	 * -1 after filling w->fail_* (the transaction is rolled back). */
	int (*prepare)(struct pr_pw *w, PGresult *before);
	/* Optional: looks at the write's result. Same return convention. */
	int (*written)(struct pr_pw *w, PGresult *res);
	/* Optional: completes the answer from the validated catalogue. */
	void (*finish)(struct pr_pw *w, json_t *snapshot_channels,
		       json_t *snapshot_rules);
	/* Optional: writes the audit rows and the NOTIFY in one statement
	 * (pr_pw_run with PR_PW_AUDIT) instead of the one row of the
	 * engine. Returns 0 or a negative errno (the transaction is then
	 * rolled back and the answer is 503). */
	int (*audit)(struct pr_pw *w);
	int verify_status; /* a catalogue that does not build: 400 or 409 */
};

/* The steps of the transaction, in order. */
enum pr_pw_step {
	PR_PW_BEGIN,
	PR_PW_LOCK,
	PR_PW_BEFORE,
	PR_PW_WRITE,
	PR_PW_VERIFY,
	PR_PW_AUDIT,
	PR_PW_COMMIT,
};

#define PR_PW_MAX_PARAMS 8
#define PR_PW_MAX_BEFORE_PARAMS 4
/* channel/op/code/sub_code of a code override, with room to spare */
#define PR_PW_KEY_MAX 640

/* One write in flight. The strings and JSON it holds are its own
 * (pr_pw_free releases them). */
struct pr_pw {
	struct pr_request *r;
	struct pr_db_conn *conn;
	const struct pr_pw_ops *ops;
	enum pr_pw_step step;
	char actor[65];
	char *note;
	/* channel code, whitelist id, "rules", channel/op/code/sub_code */
	char key[PR_PW_KEY_MAX];
	json_t *body; /* the request body */
	/* the before query's parameters when it has several (else key) */
	char *bp[PR_PW_MAX_BEFORE_PARAMS];
	int nbp;

	const char *write_sql;
	char *wp[PR_PW_MAX_PARAMS];
	int nwp;

	json_t *audit_before; /* masked; NULL: none */
	json_t *audit_after;
	char object_id[PR_PW_KEY_MAX];

	int status;    /* of the answer */
	json_t *reply; /* the answer's body; NULL: no body (204) */

	/* a refusal found while the transaction is open */
	int fail_status;
	json_t *fail_body;
	char reload_why[PR_PW_KEY_MAX + 64];

	/* Set by prepare: check everything, write it, verify it, then roll
	 * back and answer w->reply (a dry run). */
	int dry_run;
	/* an import's plan (policy_io.h) */
	struct pr_policy_plan plan;

	/* Set for an approved import (four eyes, admin/approvals_api.c):
	 * the approval's id, marked applied by the import's audit statement
	 * in the transaction, and answer, told the end (status and body,
	 * stolen, NULL for none) in place of answering the request. */
	int64_t approval_id;
	void (*answer)(struct pr_pw *w, int status, json_t *body);
	void *answer_arg;
};

/* A write's state for request r, with the audit actor and note from the
 * headers (pr_api_audit_headers); key is the object's key (w->key,
 * w->object_id, and the reload's reason). Takes the body reference (NULL:
 * none). Returns the new write, or NULL after answering r (bad headers,
 * out of memory). */
struct pr_pw *pr_pw_new(struct pr_request *r, const struct pr_pw_ops *ops,
			const char *key, json_t *body);

/* Runs the write's transaction; its request is answered when it is over. */
void pr_pw_go(struct pr_pw *w);

/* pr_pw_new, then pr_pw_go. */
void pr_pw_start(struct pr_request *r, const struct pr_pw_ops *ops,
		 const char *key, json_t *body);

/* Frees a write that pr_pw_go was not called on (its request is not
 * answered). */
void pr_pw_free(struct pr_pw *w);

/* Records a refusal: the answer will be status and {"error": {"code",
 * "message": the formatted text, "field"}} (field may be NULL), and the
 * transaction is rolled back. Returns -1, for prepare and written to
 * return. */
int pr_pw_fail(struct pr_pw *w, int status, const char *code, const char *field,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* pr_pw_fail for a parser message err ("limits.txn_max: must be ..."):
 * 400 "invalid_field" naming the message's field (pr_policy_err_field),
 * behind prefix ("rules[2].") when prefix is not NULL. Returns -1. */
int pr_pw_invalid(struct pr_pw *w, const char *prefix, const char *err);

/* Appends a copy of v (NULL: SQL NULL) to the write's parameters; the
 * JSON form appends j's compact text. Returns 0, or -1 when out of memory
 * or out of room (PR_PW_MAX_PARAMS). */
int pr_pw_param(struct pr_pw *w, const char *v);
int pr_pw_param_json(struct pr_pw *w, const json_t *j);

/* Runs sql on the write's connection as its step; the transaction goes on
 * when the statement is over. For ops->audit. Returns 0 or a negative
 * errno (the statement could not be sent). */
int pr_pw_run(struct pr_pw *w, enum pr_pw_step step, const char *sql,
	      int nparams, const char *const *params);

/* The NOTIFY payload of a policy change of object id of the given kind,
 * naming this instance (which ignores its own): compact JSON, to free(),
 * or NULL when out of memory. */
char *pr_pw_notify(const char *kind, const char *id);

/* The field path of a parser message "limits.txn_max: must be ..." (the
 * part before the first ": "), or "" when there is none, into field. */
void pr_policy_err_field(const char *err, char *field, size_t len);

#endif
