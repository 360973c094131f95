/*
 * vault-int: what the vault's source files share and nobody else sees:
 * the open vault (struct smz_vault), its records and meta records, the
 * wraps of its secret under the officers' credentials, and the files of
 * a rotation.  lib/vault.c keeps the databases and records, vaultrec.c
 * writes records (deposit, attach, revoke), vaultkey.c makes and opens
 * the vault secret, vaultrotate.c replaces the whole vault, vaultcheck.c
 * checks it.
 */
#ifndef SMZ_VAULT_INT_H
#define SMZ_VAULT_INT_H

#include <db.h>
#include <pthread.h>
#include <limits.h>
#include <time.h>
#include "vault.h"

#define SMZ_VAULT_DEPOSIT_FILE "deposit.pub"
#define SMZ_VAULT_GATEWAY_MAGIC "smz-gateway-key-v1"

struct smz_vault {
	char dir[PATH_MAX];
	DB_ENV *env;
	DB *keys, *addr, *isn, *ski, *meta, *log;
	unsigned char pk[SMZ_VAULT_PK];
	char id[33];
	unsigned char *sk; /* guarded; NULL until unlocked with an officer's credential */
	unsigned char gwpk[SMZ_VAULT_PK]; /* the gateway's key pair, when has_gw */
	int has_gw;
	unsigned char *gwsk; /* guarded; set by a gateway unlock, which never sets sk */
	/* the credential keys the unlock derived (guarded), kept for rotation:
	 * a rotation wraps the new secret for the credentials it keeps */
	unsigned char *kpw, *ksh;
	int lockfd; /* shared flock on DIR/lock while open; a rotation takes it exclusive */
	int shared; /* smz_vault_share: the reads and the audit batch below take mu */
	pthread_mutex_t mu;
};

/* The vault's audit log, named by the vault id in anchors and syslog. */
static inline struct smz_audit
smz_vault_auditor(struct smz_vault *v)
{
	return (struct smz_audit){v->env, v->log, v->meta, "vault", v->id};
}

/* ---- vault.c: databases, records, meta records ---- */

/* The databases of dir opened and indexed, in a new struct smz_vault. */
int smz_vault_env_open(const char *dir, struct smz_vault **out, struct smz_err *e);
/* The gateway's current public key into pk, from the "gw" meta record
 * read inside txn (may be NULL); 0 if there is none or it was revoked. */
int smz_vault_gw_read(struct smz_vault *v, DB_TXN *txn, unsigned char pk[SMZ_VAULT_PK]);
/* deposit.pub of dir: the vault id and public key, mode 0600 or 0644. */
int smz_vault_write_deposit(const char *dir, const char *id, const unsigned char pk[SMZ_VAULT_PK],
			    int mode, struct smz_err *e);

json_t *smz_vault_rec_parse(const DBT *d);

enum smz_vault_idx { SMZ_VAULT_IDX_ADDR, SMZ_VAULT_IDX_ISN, SMZ_VAULT_IDX_SKI };
/* The secondary keys a record must have in index which (malloc'd). */
int smz_vault_index_keys(json_t *j, enum smz_vault_idx which, char **keys, u_int32_t *lens,
			 size_t cap, size_t *n);

/* Has rec a mailbox whose local part is address's, to the letter? */
int smz_vault_has_exact_local(json_t *rec, const char *address);

int smz_vault_meta_get(struct smz_vault *v, DB_TXN *txn, const char *key, char **val, size_t *len);
int smz_vault_meta_put(struct smz_vault *v, DB_TXN *txn, const char *key, const void *val,
		       size_t len);
int smz_vault_meta_put_json(struct smz_vault *v, DB_TXN *txn, const char *key, json_t *j);
/* A meta record's JSON (txn NULL), or NULL when absent or damaged. */
json_t *smz_vault_meta_json(struct smz_vault *v, const char *key);

/* ---- vaultkey.c: the vault secret and its wraps ---- */

/* {"nonce","ct"}: sk sealed under a 32-byte key. */
json_t *smz_vault_wrap(const unsigned char *sk, const unsigned char *key);
/* The wrap of sk under a key derived from pass; the key in key_out (32
 * bytes, may be NULL), for the credential escrow. */
json_t *smz_vault_wrap_passphrase(const unsigned char *sk, const struct smz_secret *pass,
				  enum smz_kdf kdf, unsigned char *key_out);
/* New share key, sk wrapped under it, share files in dir. */
int smz_vault_make_shares(const char *vault_id, const unsigned char *sk, int n, int m,
			  const char *dir, json_t **out, unsigned char *key_out, struct smz_err *e);
/* The credential escrow (see smz-formats(5), meta "esc"). */
json_t *smz_vault_escrow_seal(const unsigned char *pk, const unsigned char *kpw,
			      const unsigned char *ksh);
void smz_vault_escrow_open(struct smz_vault *v);
/* Remember a credential key (guarded) for a later rotation. */
void smz_vault_keep_key(unsigned char **slot, const unsigned char *key);
/* A new gateway pair: its unlock file written (O_EXCL) and its meta record. */
int smz_vault_new_gateway(struct smz_vault *v, const char *path, unsigned char gwpk[SMZ_VAULT_PK],
			  json_t **meta, struct smz_err *e);

/* Open a sealed key (base64 of keyid || PKCS#8, sealed to pk) into msg. */
int smz_vault_open_sealed(const char *b64, const unsigned char *pk, const unsigned char *sk,
			  struct smz_secret *msg, struct smz_err *e);
/* Is a record in the gateway's scope? */
int smz_vault_gw_in_scope(json_t *rec, time_t now);

/* ---- vaultrotate.c: the files of a rotation ---- */

/* DIR.rotate, where a rotation builds the new vault. */
void smz_vault_stage_path(const char *dir, char *out, size_t cap);
/* Subdirectories not the vault's own move from one directory to the other. */
void smz_vault_move_subdirs(const char *from, const char *to);
/* Overwrite every file of a directory with zeros, remove them and it. */
void smz_vault_wipe_dir(const char *path);
/* A shared (LOCK_SH) or exclusive lock on DIR/lock. */
int smz_vault_lock(const char *dir, int how, int *out, struct smz_err *e);

#endif
