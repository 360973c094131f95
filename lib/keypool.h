/*
 * keypool: keys generated ahead of need (off-hours, from cron) so that a
 * joiner with a slow algorithm (RSA-3072/4096) is provisioned in
 * milliseconds.  The pool is a directory beside the vault (vault/pool);
 * each key is a file sealed (crypto_box_seal) to the pool's own X25519 key
 * pair, whose secret half, pool.key (0600), smz-keygen needs to draw a key
 * and sign its request.  That secret reads only keys not yet given to
 * anyone: once drawn, a key is sealed into the vault and its pool file
 * removed.  Protect pool.key like the CA key all the same: whoever holds it
 * can read the keys that future joiners will get.
 */
#ifndef SMZ_KEYPOOL_H
#define SMZ_KEYPOOL_H

#include <openssl/evp.h>
#include <stddef.h>
#include "err.h"
#include "policy.h"

struct smz_pool;

/* Add n keys of alg to the pool in dir (created, with its key pair, when
 * missing); *total is how many of alg it holds then. */
int smz_pool_fill(const char *dir, enum smz_alg alg, size_t n, size_t *total, struct smz_err *e);

/* The pool in dir for alg; *out NULL (and 0) when there is none or it is empty. */
int smz_pool_open(const char *dir, enum smz_alg alg, struct smz_pool **out, struct smz_err *e);
void smz_pool_close(struct smz_pool *p);

/* Claim one key (thread-safe): its file is renamed so no other run takes it;
 * claimed is that name, for smz_pool_consumed once the key is in the vault.
 * SMZ_ERR_NOTFOUND when the pool is empty. */
int smz_pool_take(struct smz_pool *p, EVP_PKEY **key, char *claimed, size_t cap, struct smz_err *e);
void smz_pool_consumed(const char *claimed);

#endif
