/*
 * progress: done/total, rate and ETA for long batches, on the stream the
 * caller names (NULL: none) and only when that is a terminal; the label
 * is the program's name.
 */
#ifndef SMZ_PROGRESS_H
#define SMZ_PROGRESS_H

#include <stddef.h>
#include <stdio.h>
#include "err.h"

struct smz_progress {
	FILE *out; /* NULL when disabled */
	const char *label;
	size_t total;
	double start, last;
};

/* Seconds on the monotonic clock, for rates and batch timing. */
double smz_now(void);

/* tty: where the caller wants progress shown (NULL: nowhere); shown only
 * when it is a terminal.  The label is the program name. */
void smz_progress_start(struct smz_progress *p, FILE *tty, size_t total);
void smz_progress_update(struct smz_progress *p, size_t done);

/* The end of a batch's group: out flushed (a write error is SMZ_ERR_IO,
 * unless rc is already an error), progress updated; returns rc. */
int smz_progress_flush(struct smz_progress *p, size_t done, FILE *out, int rc, struct smz_err *e);
void smz_progress_end(struct smz_progress *p);

#endif
