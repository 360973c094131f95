/*
 * secmem: every secret (passphrase, vault key, share, unsealed private
 * key) lives in libsodium guarded memory: locked, guard pages, wiped on
 * free.  Passphrases come from a file or stdin, never argv or environment.
 */
#ifndef SMZ_SECMEM_H
#define SMZ_SECMEM_H

#include <stddef.h>
#include "err.h"

struct smz_secret {
	unsigned char *buf; /* sodium_malloc'd, NUL-terminated */
	size_t len, cap;
};

/* Allocate len bytes of guarded memory (plus a NUL); 0 or SMZ_ERR_INTERNAL. */
int smz_secret_alloc(struct smz_secret *s, size_t len);

/* Make s hold len bytes, reusing its buffer when large enough (guarded
 * allocations cost system calls: a batch reuses one per worker). */
int smz_secret_ensure(struct smz_secret *s, size_t len);

/* Wipe and free; safe on a zeroed or already freed secret. */
void smz_secret_free(struct smz_secret *s);

/* Read a passphrase: the first line of path ("-" = stdin), without its
 * line end, at most 1023 bytes, never through stdio buffers. */
int smz_secret_read_passphrase(const char *path, struct smz_secret *s,
			       struct smz_err *e);

#endif
