/*
 * smime: one RFC 5322 message in, one out: sign (clear or opaque), encrypt
 * (AuthEnvelopedData or EnvelopedData, key transport or agreement chosen
 * per recipient), decrypt (whichever key of an address's history a
 * RecipientInfo names) and verify (signature, chain at signing time,
 * revocation, signer mailbox = From:).  GMime parses the untrusted MIME;
 * OpenSSL's CMS does the cryptography; keys come from the vault.
 */
#ifndef SMZ_SMIME_H
#define SMZ_SMIME_H

#include <openssl/x509.h>
#include <stdio.h>
#include "err.h"
#include "policy.h"
#include "spool.h" /* smz_tmpfile */

struct smz_vault;
struct smz_smime;

enum { SMZ_SMIME_SIGN = 1, SMZ_SMIME_ENCRYPT = 2, SMZ_SMIME_DECRYPT = 4, SMZ_SMIME_VERIFY = 8 };

struct smz_smime_cfg {
	struct smz_vault *vault; /* NULL: no vault keys (verify, encrypt to --cert) */
	int vault_unlocked;	 /* private keys may be used */
	/* called once, when a private key is first needed and the vault is locked */
	int (*unlock)(void *arg, struct smz_err *e);
	void *unlock_arg;
	int local_sensitive;	/* policy [vault] local_part */
	X509_STORE *trust;	/* anchors (and CRLs): signers (verify) and recipients
				       (encrypt: a certificate that does not chain is not used) */
	int crl_check;		/* a CRL was given: check signers and recipients against it */
	STACK_OF(X509) * chain; /* sign: CA certificates to include; verify: intermediates */
	STACK_OF(X509) * certs; /* encrypt: recipient certificates from files */
	/* recipient lookup in a directory, or NULL */
	int (*lookup)(void *arg, const char *addr, STACK_OF(X509) * out, struct smz_err *e);
	void *lookup_arg;
	int opaque;		  /* sign: application/pkcs7-mime signed-data */
	const char *as;		  /* sign as this address instead of From: */
	const char *sender;	  /* sign: the authenticated submitter; every From: and
				       Sender: mailbox (and as) must be one of its vaulted
				       mailboxes, else SMZ_ERR_PERM and nothing is signed */
	const char *recipient;	  /* decrypt: only keys of this address (any generation) */
	unsigned refuse;	  /* SMZ_REFUSE_* (policy.h): algorithms refused when
				       decrypting and verifying; others weak are reported */
	const char *const *to;	  /* encrypt to these instead of To/Cc/Bcc */
	int rsa_transport;	  /* 0 auto, 1 PKCS#1 v1.5, 2 OAEP */
	int content_cipher;	  /* 0 auto, 1 AES-256-CBC, 2 AES-256-GCM */
	int max_layers;		  /* 0: 8 */
	int commit_before_output; /* commit the audit entries of a message's key
				       uses before writing its output */
	/* recovery */
	const char *const *scope; /* NULL, or the only addresses whose keys may be used */
	int count_only;		  /* no audit entry per key use: smz_smime_key_uses */
	/* with count_only: instead, one audit entry per key, at its first use
	   (op first_use_op, the key id and address as subject, reason
	   first_use_reason), committed before the message's output with
	   commit_before_output */
	const char *first_use_op, *first_use_reason;
	int unwrap_all;	   /* --decrypt also removes opaque signature layers */
	const char *actor; /* the audit entries' actor, e.g. a service's client;
			      NULL: the program's user (smz_prog_actor) */
};

struct smz_smime_result {
	char status[1024]; /* verify: "OK signer=..." or "FAIL reason: ..."; else what was done */
	int signatures;	   /* signature layers seen */
	int decrypted;	   /* encryption layers removed */
	char signature[1024]; /* decrypt/verify: "none", or the first failure, else the first OK */
	char message_id[256], date[128], from[320]; /* of the message, printable */
	int forwarded_failed; /* recovery: forwarded encrypted messages left closed */
	int raw; /* decrypt: decrypted content that is not readable MIME was written as it
		  * came, as the body of the output (r->status says why) */
};

int smz_smime_new(const struct smz_smime_cfg *cfg, struct smz_smime **out, struct smz_err *e);
void smz_smime_free(struct smz_smime *s);

/* The engine again, for a message with another cfg (same OpenSSL set-up,
 * parsed certificates kept), for a server that runs one message after
 * another: what it learnt from the vault and the directory is forgotten,
 * since a key may have been revoked since; uncommitted key uses are
 * dropped (commit them first). */
void smz_smime_reuse(struct smz_smime *s, const struct smz_smime_cfg *cfg);

/* Process the message read from fd in; the resulting message (not for
 * verify) goes to out.  Returns 0, SMZ_ERR_VERIFY (a signature or mailbox
 * check failed: r->status says why), SMZ_ERR_DATA (malformed), SMZ_ERR_PERM
 * (no key for it or not for cfg.recipient, vault locked, From: not the
 * sender's, an algorithm refused by policy: r->status "FAIL tag: why"),
 * SMZ_ERR_NOTFOUND (no usable certificate for a recipient). */
int smz_smime_run(struct smz_smime *s, int ops, int in, FILE *out, struct smz_smime_result *r,
		  struct smz_err *e);

/* Each key used in this run (decryptions with it), and the key of the last
 * decryption: for reports and per-key audit entries. */
void smz_smime_key_uses(const struct smz_smime *s,
			void (*cb)(void *arg, const char *key_id, const char *address, size_t uses),
			void *arg);
int smz_smime_last_key(const struct smz_smime *s, const char **key_id, const char **address);

/* Private-key uses since the last commit, as audit entries (one transaction). */
size_t smz_smime_pending(const struct smz_smime *s);
int smz_smime_commit(struct smz_smime *s, struct smz_err *e);
/* Forget the uses since the last commit (their outputs were not kept). */
void smz_smime_discard(struct smz_smime *s, size_t keep);

#endif
