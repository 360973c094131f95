/*
 * certpick: which certificates and keys one message may use.  Signing: the
 * newest usable certificate of an active key of the signing address, its
 * key unsealed from the vault once per run, and whether an authenticated
 * submitter may sign as that address at all.  Encrypting: per recipient,
 * the vault's, a --cert file's or the directory's certificate, each one
 * path-validated against the trust anchors (and CRL) and checked against
 * the revocations the vault knows.  Decrypting: which vaulted keys are in
 * scope.  Part of smime; works on its run state (smime-int.h).
 */
#ifndef SMZ_CERTPICK_H
#define SMZ_CERTPICK_H

#include <gmime/gmime.h>
#include <jansson.h>
#include <openssl/x509.h>
#include <time.h>
#include "addr.h"
#include "err.h"

struct smz_smime;
struct smz_smime_key;

/* Does x name addr (smz_cert_mailboxes), local parts compared as the
 * policy says? */
int smz_certpick_has_mailbox(X509 *x, const char *addr, int local_sensitive);
/* The first mailbox of a certificate, for messages; "?" if it has none. */
void smz_certpick_mailbox(X509 *x, char *out, size_t cap);

/* The key to sign as addr with, and its certificate. */
int smz_certpick_signer(struct smz_smime *s, const char *addr, struct smz_smime_key **out,
			struct smz_err *e);
/* Signing on behalf of cfg.sender: every From: and Sender: mailbox of m,
 * and the signing identity as, must be the submitter's own; else
 * SMZ_ERR_PERM "not-sender: ...". */
int smz_certpick_check_sender(struct smz_smime *s, GMimeMessage *m, const char *as,
			      struct smz_err *e);

/* The certificates to encrypt to for addrs (as smz_mime_recipients gives
 * them: the first nto the recipients, the rest the sender, who gets no
 * copy without a certificate: *no_self).  Every recipient without a usable
 * certificate is named in one SMZ_ERR_NOTFOUND; nothing is then encrypted. */
int smz_certpick_recipients(struct smz_smime *s, char **addrs, size_t n, size_t nto,
			    STACK_OF(X509) * *out, int *no_self, struct smz_err *e);

/* A key of the vault record rec, unsealed once per run (the vault is
 * unlocked on first need); takes cert (may be NULL). */
int smz_certpick_vault_key(struct smz_smime *s, json_t *rec, X509 *cert, const char *addr,
			   struct smz_smime_key **out, struct smz_err *e);
/* May a key of these addresses be used (cfg.scope, cfg.recipient)? */
int smz_certpick_in_scope(struct smz_smime *s, json_t *addrs);

/* Does the vault (which the CA tells of revocations) know x, or its key,
 * as revoked?  The reason in why; *at when (0 when unknown) and
 * *compromised for a key revoked as compromised. */
int smz_certpick_revoked(struct smz_smime *s, X509 *x, char *why, size_t cap, time_t *at,
			 int *compromised);

#endif
