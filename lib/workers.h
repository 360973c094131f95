/*
 * workers: a batch spread over worker processes (-j N).  Worker k of N
 * takes the items k, k + N, k + 2N, ... with handles of its own: a
 * Berkeley DB environment, an unlocked vault and an LDAP connection do not
 * survive fork(2), so each worker opens its own.  What a worker reports is
 * tagged with the item's index and handed back to the calling process,
 * which passes it on in input order once the workers are done; with one
 * worker the work runs in the calling process and reports go out at once.
 * One code sums the run up: the first failure, and SMZ_ERR_VERIFY (an
 * answer of "no") only when nothing failed.
 */
#ifndef SMZ_WORKERS_H
#define SMZ_WORKERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include "err.h"

#define SMZ_WORKERS_MAX 64

/* One thing to report: a record of the run's own (rec), a result line
 * (text with result: standard output's), a message for the user (text),
 * or a failure to tell as "unable to <what>: <err>". */
struct smz_workers_report {
	size_t index; /* the item it is about */
	int code;     /* 0, or the failure's SMZ_ERR_* */
	json_t *rec;
	const char *text;
	int result;
	const char *what;
	const struct smz_err *err;
};

struct smz_workers;

struct smz_workers_opts {
	size_t jobs; /* 1 to SMZ_WORKERS_MAX; 1: no process of its own */
	/* one worker's share, items first, first + step, ...: 0 or an SMZ_ERR_* */
	int (*work)(void *arg, struct smz_workers *w, size_t first, size_t step);
	/* in a worker process after work: what it added to arg's totals, handed
	 * to add in the calling process (both may be NULL) */
	json_t *(*totals)(void *arg);
	void (*add)(void *arg, json_t *totals);
	void *arg;
	/* in the calling process, in index order */
	void (*report)(void *report_arg, const struct smz_workers_report *r);
	void *report_arg;
};

/* The pool; its fields are its own. */
struct smz_workers {
	struct smz_workers_opts o;
	int code;	      /* the run's */
	struct smz_err first; /* the first failure's words */
	FILE *part;	      /* in a worker process: where its reports go */
};

void smz_workers_init(struct smz_workers *w, const struct smz_workers_opts *o);

/* Run work in every worker; returns the run's code so far. */
int smz_workers_run(struct smz_workers *w);

/* Report, from work or from the calling process before or after the run;
 * code goes into the run's (in a worker process, into the worker's, which
 * work may return).  A worker's reports must come in index order.  Each
 * returns code.  rec is taken over. */
int smz_workers_rec(struct smz_workers *w, size_t index, int code, json_t *rec);
int smz_workers_note(struct smz_workers *w, size_t index, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int smz_workers_fail(struct smz_workers *w, size_t index, int code, const struct smz_err *e,
		     const char *what);
/* A result line (standard output's), e.g. "file: OK". */
int smz_workers_result(struct smz_workers *w, size_t index, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Fold code into the run's without a report; returns the run's code. */
int smz_workers_code(struct smz_workers *w, int code);

/* The run's code, and into e (may be NULL) the words of its first failure. */
int smz_workers_end(const struct smz_workers *w, struct smz_err *e);

#endif
