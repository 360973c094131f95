/*
 * trust: the certificates a program trusts and the ones it is handed, read
 * from PEM files and the CA directory: anchors (and CRLs) in an
 * X509_STORE, intermediates to send along or build paths with, other
 * certificates (recipients'), and the CA's issuing certificate.  One place
 * for it, so that programs hold a struct smz_trust and no libcrypto of
 * their own.
 */
#ifndef SMZ_TRUST_H
#define SMZ_TRUST_H

#include <openssl/x509.h>
#include <stddef.h>
#include "err.h"

struct smz_trust {
	X509_STORE *store;	/* anchors and CRLs; NULL until smz_trust_anchors */
	STACK_OF(X509) * chain; /* intermediates */
	STACK_OF(X509) * certs; /* other certificates, e.g. recipients' */
	X509 *issuer;		/* the CA's issuing certificate, or NULL */
	int crl;		/* a CRL is in store: check revocation */
};

/* The certificates of a PEM file as anchors; path NULL: none, the store
 * only (nothing is trusted). */
int smz_trust_anchors(struct smz_trust *t, const char *path, struct smz_err *e);

/* A CRL (PEM or DER) into the store, which smz_trust_anchors made. */
int smz_trust_crl(struct smz_trust *t, const char *path, struct smz_err *e);

/* The certificates of a PEM file appended to the intermediates, to the
 * other certificates, or (its first) as the issuer. */
int smz_trust_chain(struct smz_trust *t, const char *path, struct smz_err *e);
int smz_trust_certs(struct smz_trust *t, const char *path, struct smz_err *e);
int smz_trust_issuer(struct smz_trust *t, const char *path, struct smz_err *e);

/* ca_dir/name in buf when ca_dir is set and the file is readable, else NULL:
 * a CA directory need not hold every file (root.pem, issuing.pem, chain.pem). */
const char *smz_trust_ca_file(const char *ca_dir, const char *name, char *buf, size_t cap);

void smz_trust_free(struct smz_trust *t);

#endif
