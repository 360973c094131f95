/*
 * mailbox: mail stores in and out.  In: message files, mboxes and Maildirs
 * named on the command line (with recursion, any directory), and an mbox
 * split into its messages, each handed over on its own so that a hostile
 * one cannot swallow the ones after it.  Out: a Maildir, where a message's
 * name derives from where it came from so that a re-run recognises it,
 * written through tmp/ and made durable a chunk at a time; or an mboxrd
 * file that worker processes append to a message at a time.  Outputs go
 * through outdir (no symbolic links, directories ours and only ours).
 */
#ifndef SMZ_MAILBOX_H
#define SMZ_MAILBOX_H

#include <stddef.h>
#include <stdio.h>
#include "err.h"
#include "outdir.h"

/* ---- in ---- */

/* The paths of args (NULL-terminated, may be NULL) and then, when in is
 * not NULL, of in, one a line (empty lines skipped), appended to *v. */
int smz_mailbox_paths(const char *const *args, FILE *in, char ***v, size_t *n);
void smz_mailbox_paths_free(char **v, size_t n);

struct smz_mailbox_item {
	char *path;
	int mbox; /* an mbox (starts "From "), else one message */
};

struct smz_mailbox_inputs {
	struct smz_mailbox_item *v;
	size_t n, cap;
};

/* Add path: a message file, an mbox, a Maildir (its cur/ and new/), or
 * with recurse any directory, entries in name order.  What cannot be
 * used goes to note (code SMZ_ERR_* or 0, and why) and the rest is added;
 * returns the first note's code: SMZ_ERR_USAGE for a directory that is
 * not a Maildir without recurse. */
int smz_mailbox_add(struct smz_mailbox_inputs *in, const char *path, int recurse,
		    void (*note)(void *arg, int code, const char *msg), void *arg);
void smz_mailbox_inputs_free(struct smz_mailbox_inputs *in);

/* Each message of the mbox at path, with mboxrd's ">From " quoting undone
 * (mboxo: only ">From " loses its '>'), to msg as a descriptor (a memfd at
 * offset 0, closed after) with the offset of its "From " line; fd -1 for a
 * message over 1 GiB, not read.  msg returns 0 to go on, else the split
 * stops and returns that.  SMZ_ERR_NOINPUT, SMZ_ERR_IO, SMZ_ERR_INTERNAL. */
int smz_mailbox_split(const char *path, int mboxo, int (*msg)(void *arg, int fd, long long offset),
		      void *arg, struct smz_err *e);

/* ---- out ---- */

/* A file named by a path: its directory opened once (smz_outdir_open),
 * then the file checked (check) or opened in it (smz_outfile_open how). */
struct smz_mailbox_file {
	const char *path;
	int dir; /* -1 until opened */
	char *name;
};

int smz_mailbox_file_open(struct smz_mailbox_file *f, int how, int check, int *fd,
			  struct smz_err *e);
void smz_mailbox_file_close(struct smz_mailbox_file *f);

struct smz_mailbox_out;

/* The output: a Maildir or an mbox (one of them).  smz_mailbox_out_open
 * first with create 0, which refuses an unsafe output and creates
 * nothing; then with create 1. */
int smz_mailbox_out_new(const char *maildir, const char *mbox, struct smz_mailbox_out **out);
int smz_mailbox_out_open(struct smz_mailbox_out *o, int create, struct smz_err *e);

/* In each process that writes, before it does: its own open mbox, for
 * flock(2) between processes. */
int smz_mailbox_out_start(struct smz_mailbox_out *o, struct smz_err *e);

/* A Maildir: the name of the message from source at offset in name, and
 * whether it is there (in new/, or moved to cur/ by a mail client). */
int smz_mailbox_out_has(struct smz_mailbox_out *o, const char *source, long long offset,
			char name[40]);

/* Write msg (from its current position) as name (Maildir) or appended
 * (mbox); e's message may be empty for a failed mbox write. */
int smz_mailbox_out_put(struct smz_mailbox_out *o, const char *name, FILE *msg, struct smz_err *e);

/* Make what was put durable and visible; close the process's mbox. */
int smz_mailbox_out_finish(struct smz_mailbox_out *o, struct smz_err *e);

void smz_mailbox_out_free(struct smz_mailbox_out *o);

#endif
