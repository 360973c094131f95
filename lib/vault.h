/*
 * vault: the directory that keeps every private key an address ever had,
 * sealed to the vault's X25519 key (crypto_box_seal), in a transactional
 * Berkeley DB environment with indexes by address, issuer+serial and
 * subject key identifier, and a hash-chained audit log.  Depositing needs
 * only the public half (deposit.pub); reading needs the secret half,
 * stored only wrapped under a passphrase (Argon2id) and/or an M-of-N
 * share key.
 */
#ifndef SMZ_VAULT_H
#define SMZ_VAULT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include "audit.h"
#include "err.h"
#include "keys.h"
#include "policy.h"
#include "addr.h"
#include "secret.h"

#define SMZ_VAULT_PK 32

struct smz_vault;

struct smz_vault_init {
	const struct smz_secret *passphrase; /* may be NULL */
	enum smz_kdf kdf;
	int shares, threshold; /* 0: no shares */
	const char *share_out; /* directory for share-K-of-N.txt */
};

struct smz_unlock {
	const char *passphrase_file;
	const char *const *shares; /* NULL-terminated paths */
	const char *gateway_file;  /* used when neither of the above is given */
	int scoped_ok;		   /* the caller needs only a gateway's scope (sign,
				      decrypt): else a gateway file alone is refused */
};

int smz_vault_create(const char *dir, const struct smz_vault_init *o, struct smz_err *e);
int smz_vault_open(const char *dir, struct smz_vault **out, struct smz_err *e);
void smz_vault_close(struct smz_vault *v);

const unsigned char *smz_vault_deposit_key(const struct smz_vault *v);
/* The gateway's public key, to seal new deposits to as well; NULL when
 * the vault has no gateway key (or it was revoked). */
const unsigned char *smz_vault_gateway_pk(const struct smz_vault *v);
/* Unlocked with an officer's credential (every key, every verb), as
 * opposed to locked or unlocked with a gateway's scoped key? */
int smz_vault_full(const struct smz_vault *v);
const char *smz_vault_id(const struct smz_vault *v);

/* Seal keyid || PKCS#8 to the deposit key; needs no secret.  scratch is
 * guarded memory for the message, reused across calls. */
int smz_vault_seal(const unsigned char pk[SMZ_VAULT_PK], const unsigned char *keyid,
		   const struct smz_secret *pkcs8, struct smz_secret *scratch,
		   unsigned char **sealed, size_t *len);

struct smz_deposit {
	/* in */
	const char *address; /* NULL: none (an imported key without certificate) */
	const char *alg, *usage, *source;
	const char *employee_id; /* NULL: none; from the roster, to recognise movers */
	unsigned char key_id[SMZ_KEYID_LEN];
	unsigned char *sealed, *csr;
	size_t sealed_len, csr_len;
	/* the same key sealed to the gateway's public key gw_pk (both NULL: none);
	 * kept only if gw_pk is still the gateway's key when the deposit commits */
	unsigned char *gw_sealed;
	size_t gw_sealed_len;
	const unsigned char *gw_pk;
	int if_absent;	     /* skip when the address already has an active key */
	int local_sensitive; /* policy compares local parts case-sensitively */
	long long created;   /* 0: now; an imported key: its certificate's notBefore */
	const char *state;   /* NULL: "active" */
	/* out */
	int skipped; /* another writer deposited a key for it first */
};

/* Deposit n keys in one transaction (retried on deadlock), with one audit
 * entry each; durable when this returns 0. */
int smz_vault_deposit(struct smz_vault *v, struct smz_deposit *d, size_t n, struct smz_err *e);

struct smz_attach {
	X509 *cert;		    /* in */
	int result;		    /* out: 0 attached, 1 unchanged, SMZ_ERR_NOTFOUND no key,
				       SMZ_ERR_DATA refused (why) */
	char address[SMZ_ADDR_MAX]; /* out: the key's first address */
	char why[200];		    /* out: why it was refused */
};

/* File each certificate beside its vaulted key (found by the key id of its
 * public key), fill the issuer+serial and SKI indexes, and with supersede
 * mark the addresses' older active keys of the same usage superseded.
 * A certificate's mailboxes (smz_cert_mailboxes) must be the key's, local
 * parts compared as local_sensitive (the policy) says; a key without
 * mailboxes takes the certificate's when the vault is unlocked.  One
 * transaction, one audit entry per certificate attached. */
int smz_vault_attach(struct smz_vault *v, struct smz_attach *a, size_t n, int supersede,
		     int local_sensitive, struct smz_err *e);

struct smz_vault_revocation {
	X509 *cert;	    /* in: a certificate the CA revoked */
	const char *reason; /* in: its RFC 5280 reason name */
	long long when;	    /* in: when (0: now) */
	int result;	    /* out: 0 recorded, 1 known before, SMZ_ERR_NOTFOUND no such key */
	char state[16];	    /* out: the key's state afterwards */
};

/* Tell the vault what the CA revoked, so that no service uses it: the
 * certificate is marked revoked in its key's record; the key becomes
 * "compromised" for keyCompromise (it stays usable only to decrypt old
 * mail, flagged), else "revoked" once none of its certificates is left
 * unrevoked.  One transaction, one audit entry per change. */
int smz_vault_revoke(struct smz_vault *v, struct smz_vault_revocation *r, size_t n,
		     struct smz_err *e);

/* Is this certificate entry of a record (its "certs" array) revoked? */
int smz_vault_cert_revoked(json_t *cert_entry);

/* Every record of address (case rules of policy), oldest first. */
int smz_vault_history(struct smz_vault *v, const char *address, int local_sensitive,
		      int (*cb)(void *arg, json_t *rec), void *arg, struct smz_err *e);

/* The record of the key a certificate names, through the issuer+serial
 * index (how a CMS RecipientInfo names it), else the SKI index.  how says
 * which index found it. */
int smz_vault_find_cert(struct smz_vault *v, X509 *cert, json_t **rec, const char **how,
			struct smz_err *e);

/* smz-vault lookup: for each certificate of the PEM file path, cb gets the
 * record of its key and how it was found, or fail, why there is none
 * (counted in *missing); cb returns negative to stop (a write error). */
int smz_vault_find_certs(struct smz_vault *v, const char *path,
			 int (*cb)(void *arg, const json_t *rec, const char *how, const char *fail),
			 void *arg, size_t *missing, struct smz_err *e);

/* Every record, in key id order. */
int smz_vault_foreach(struct smz_vault *v, int (*cb)(void *arg, json_t *rec), void *arg,
		      struct smz_err *e);

/* One record by key id or unique hex prefix of at least 8 digits. */
int smz_vault_get(struct smz_vault *v, const char *keyid, json_t **rec, struct smz_err *e);

/* The records smz-vault prints (smz-formats(5), Listings), not the stored
 * ones: a listing record per mailbox of a key, with the members of
 * smz_vault_list_cols, times in ISO 8601 and employee_id "" when the key
 * has none; and show's record of one key, with the members of
 * smz_vault_show_cols (certificates: how many are attached; csr: the
 * request's DER in base64, absent without one), never its sealed key. */
extern const char *const smz_vault_list_cols[];
extern const char *const smz_vault_show_cols[];

/* The listing records of every key, in key id order; or, given address,
 * of that mailbox's keys (compared as local_sensitive says), oldest first.
 * cb gets each record on loan. */
int smz_vault_list(struct smz_vault *v, const char *address, int local_sensitive,
		   int (*cb)(void *arg, json_t *row), void *arg, struct smz_err *e);

/* Show's record of one key, found as smz_vault_get finds it. */
int smz_vault_show(struct smz_vault *v, const char *keyid, json_t **rec, struct smz_err *e);

/* The key a CMS RecipientInfo names: by issuer+serial when given, else by
 * subject key identifier (a hint only: the caller's decryption proves it). */
int smz_vault_find_rid(struct smz_vault *v, const X509_NAME *issuer, const ASN1_INTEGER *serial,
		       const ASN1_OCTET_STRING *ski, json_t **rec, const char **how,
		       struct smz_err *e);

/* A gateway unlock file at path (created 0600, never overwritten), for an
 * unattended smz-sign: a random key that unwraps the secret half of a
 * gateway key pair of its own, never the vault secret.  Only the keys a
 * gateway needs (active keys, and superseded ones with an unrevoked
 * certificate still valid) are sealed to that pair, in the same
 * transaction; new deposits are sealed to it by keygen; keys the CA
 * revokes leave it.  A new one replaces the previous pair and its seals;
 * revoke deletes them.  Needs an officer's unlock. */
int smz_vault_gateway_key(struct smz_vault *v, const char *path, struct smz_err *e);
int smz_vault_gateway_revoke(struct smz_vault *v, struct smz_err *e);

/* Unlock with a passphrase, shares or a gateway file; records an audit entry. */
int smz_vault_unlock(struct smz_vault *v, const struct smz_unlock *u, const char *why,
		     struct smz_err *e);

/* One handle for the S/MIME engines of several threads (smz-api): from
 * now on smz_vault_history, smz_vault_find_cert, smz_vault_find_rid and
 * smz_vault_audit_batch take a lock of the handle's own, and
 * smz_vault_sealed_for and smz_vault_unseal touch no database.  Nothing
 * else may be called while engines run (an unlock, for one, waits until
 * they are done).  Berkeley DB allows one environment handle per process
 * (DB_REGISTER), so threads share this one rather than open their own. */
void smz_vault_share(struct smz_vault *v);

/* The private key of rec, checked against its key id; needs unlock. */
int smz_vault_unseal(struct smz_vault *v, json_t *rec, EVP_PKEY **key, struct smz_err *e);
/* What smz_vault_unseal checks before it opens anything: the vault is
 * unlocked, and with the gateway key, the key is in the gateway's scope
 * now.  0 with *sealed the sealed copy it would open (valid while rec is),
 * or the refusal.  For a cache of unsealed keys: a key kept from an
 * earlier use is used again only where this says yes and the sealed copy
 * is the same. */
int smz_vault_sealed_for(struct smz_vault *v, json_t *rec, const char **sealed, struct smz_err *e);

/* Check indexes (and with unlocked, every sealed key).  cb gets each key id
 * with NULL (OK) or the reason it failed. */
int smz_vault_check(struct smz_vault *v, int (*cb)(void *arg, const char *id, const char *fail),
		    void *arg, size_t *records, size_t *failed, struct smz_err *e);

int smz_vault_passwd(struct smz_vault *v, const struct smz_secret *pass, enum smz_kdf kdf,
		     struct smz_err *e);
int smz_vault_reshare(struct smz_vault *v, int shares, int threshold, const char *dir,
		      struct smz_err *e);

/* The vault's audit log, for smz_audit_walk and smz_audit_verify. */
void smz_vault_audit_log(struct smz_vault *v, struct smz_audit *au);

/* Record n audit entries in one transaction. */
int smz_vault_audit_batch(struct smz_vault *v, const struct smz_audit_entry *a, size_t n,
			  struct smz_err *e);

/* Record one audit entry on its own (e.g. for a check). */
int smz_vault_audit(struct smz_vault *v, const char *op, const char *subject, const char *reason,
		    struct smz_err *e);

#endif
