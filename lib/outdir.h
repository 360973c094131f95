/*
 * outdir: where a program puts secrets it was asked to write, such as
 * recovered mail and its report.  An output directory must be the
 * effective user's and writable by nobody else, since whoever can write
 * to it can swap a name for a symbolic link or a file of theirs; it is
 * opened once, without following a link in its last component, and then
 * used only by descriptor (openat, mkdirat, renameat), so no path is
 * looked up twice.  Files in it are created O_CREAT|O_EXCL|O_NOFOLLOW
 * 0600, or, where a re-run rewrites or appends, opened O_NOFOLLOW and
 * checked to be a regular file of ours with one link.
 */
#ifndef SMZ_OUTDIR_H
#define SMZ_OUTDIR_H

#include "err.h"

/* Open the directory path, relative to the directory fd at (or
 * AT_FDCWD), refusing (SMZ_ERR_CANTCREAT) a symbolic link, anything but a
 * directory, one owned by another user and one writable by group or
 * others.  create: make it 0700 if missing; else a missing directory is
 * no error, and *fd is -1.  what names it in messages. */
int smz_outdir_open(int at, const char *path, int create, const char *what, int *fd,
		    struct smz_err *e);

/* The same checks on a directory already open. */
int smz_outdir_check(int fd, const char *what, struct smz_err *e);

enum {
	SMZ_OUT_EXCL,	/* the file must not exist (SMZ_ERR_EXISTS) */
	SMZ_OUT_TRUNC,	/* an existing file is emptied */
	SMZ_OUT_APPEND, /* an existing file is appended to (O_APPEND) */
};

/* Open name in the output directory dfd for writing, created 0600 if
 * missing; an existing one (TRUNC, APPEND) must be a regular file owned
 * by us with one link.  check: check only, open and create nothing,
 * *fd -1.  what names it in messages. */
int smz_outfile_open(int dfd, const char *name, int how, int check, const char *what, int *fd,
		     struct smz_err *e);

/* Split the file path into its directory (".", if none) and its last
 * component, both malloc'ed; SMZ_ERR_USAGE for a path that names no file
 * ("", "dir/"). */
int smz_outpath_split(const char *path, char **dir, char **base, struct smz_err *e);

/* A Maildir and its tmp, new and cur, each an output directory (no
 * symbolic links, ours, writable only by us); created if create, else
 * only what exists is checked and the others are -1. */
struct smz_maildir {
	int dir, tmp, new, cur;
};

int smz_maildir_open(const char *path, int create, struct smz_maildir *md, struct smz_err *e);
void smz_maildir_close(struct smz_maildir *md);

#endif
