/*
 * secret: every secret lives in locked, guarded memory that is wiped on
 * free.  Passphrases, vault keys, shares and private keys as PKCS#8 bytes
 * are in libsodium guarded memory (struct smz_secret).  Private keys
 * loaded into OpenSSL (EVP_PKEY) keep their private components (RSA d, p,
 * q and CRT values; the EC scalar) in OpenSSL's secure heap, and so do
 * BIO_s_secmem buffers: smz_prog_init sets the heap up, SMZ_SECURE_HEAP
 * bytes mapped apart, locked, between guard pages, left out of core
 * dumps, wiped on free.  The values OpenSSL works with while it signs or
 * decrypts are in its ordinary heap (a signature adds nothing to the
 * secure heap), and core dumps are off for that reason too.
 *
 * Size: a private key takes 32 (P-256), 64 (P-384), 896 (RSA-2048) or
 * 1792 bytes (RSA-3072 and RSA-4096) of the heap, measured on OpenSSL
 * 3.0, so 4 MiB holds some 2300 RSA-4096 keys or 130000 P-256 keys.  The
 * most a program holds at once: smz-vault export, one mailbox's keys (at
 * most 64) in each of up to 64 threads, so 4096 at worst, more RSA-4096
 * keys than fit but far more than mailboxes have; smz-sign --batch and
 * smz-recover, every key used in the run, without bound (a forked worker
 * has a heap of its own).  A full heap makes the next key fail to load
 * with "secure memory for private keys is full", never a quiet fallback
 * to ordinary memory.  4 MiB is half the usual RLIMIT_MEMLOCK (8 MiB),
 * which bounds what libsodium can lock too.
 *
 * Start-up never fails for the heap: if it cannot be locked (a lower
 * RLIMIT_MEMLOCK and no CAP_IPC_LOCK) it is used unlocked, and if it
 * cannot be mapped keys are in ordinary memory; either way -v says so
 * once (smz_secret_heap_note).  Memory locks are not inherited across
 * fork(2): the workers of smz-sign -j and smz-recover -j use the heap
 * unlocked.
 *
 * Passphrases come from a file or stdin, never argv or environment.
 */
#ifndef SMZ_SECRET_H
#define SMZ_SECRET_H

#include <stddef.h>
#include "err.h"

struct smz_secret {
	unsigned char *buf; /* sodium_malloc'd, NUL-terminated */
	size_t len, cap;
};

#define SMZ_SECURE_HEAP (4u << 20) /* a power of two, as OpenSSL requires */
#define SMZ_SECURE_HEAP_MIN 32	   /* its smallest piece: one P-256 scalar */

/* Set up OpenSSL's secure heap; smz_prog_init calls it, before any key is
 * loaded.  Returns (and remembers) 1 if it is in place and locked, 2 if
 * in place but not locked or guarded, 0 if there is none. */
int smz_secret_heap_init(void);

/* What smz_secret_heap_init found, as a note for -v; NULL if all is well. */
const char *smz_secret_heap_note(void);

/* Is the secure heap too full for another private key?  Asked after a key
 * failed to load, to say why. */
int smz_secret_heap_full(void);

/* Allocate len bytes of guarded memory (plus a NUL); 0 or SMZ_ERR_INTERNAL. */
int smz_secret_alloc(struct smz_secret *s, size_t len);

/* Make s hold len bytes, reusing its buffer when large enough (guarded
 * allocations cost system calls: a batch reuses one per worker). */
int smz_secret_ensure(struct smz_secret *s, size_t len);

/* Wipe and free; safe on a zeroed or already freed secret. */
void smz_secret_free(struct smz_secret *s);

/* Read a passphrase: the first line of path ("-" = stdin), without its
 * line end, at most 1023 bytes, never through stdio buffers. */
int smz_secret_read_passphrase(const char *path, struct smz_secret *s, struct smz_err *e);

#endif
