/*
 * fileio: files written so that a crash leaves either the old or the new
 * content (temp file, fsync, rename, fsync of the directory), secret
 * files created 0600 with O_EXCL|O_NOFOLLOW, and bounded whole-file reads.
 */
#ifndef SMZ_FILEIO_H
#define SMZ_FILEIO_H

#include <stddef.h>
#include "err.h"

/* Replace path atomically with data (mode 0600 unless mode given). */
int smz_file_write_atomic(const char *path, const void *data, size_t len, int mode,
			  struct smz_err *e);

/* The same without the fsync of the directory, for many files in one
 * directory: the caller fsyncs it once (smz_fsync_dir) when done. */
int smz_file_write_atomic_nodirsync(const char *path, const void *data, size_t len, int mode,
				    struct smz_err *e);

/* Create path, which must not exist, 0600, durable on return. */
int smz_file_create_excl(const char *path, const void *data, size_t len, struct smz_err *e);

/* Read all of path ("-" = stdin), at most max bytes; *buf is NUL-terminated. */
int smz_file_read(const char *path, size_t max, char **buf, size_t *len, struct smz_err *e);

/* fsync the directory that holds path (or the directory itself). */
int smz_fsync_dir(const char *dir);

#endif
