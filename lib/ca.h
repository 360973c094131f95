/*
 * ca: the private CA behind smz-issue.  A directory with the root and the
 * issuing CA certificates, their private keys (encrypted PKCS#8 unless
 * explicitly stored plain), and a transactional Berkeley DB of every
 * certificate issued and revoked, indexed by address and key id, with the
 * CRL number and a hash-chained audit log.
 */
#ifndef SMZ_CA_H
#define SMZ_CA_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdio.h>
#include "audit.h"
#include "err.h"
#include "policy.h"
#include "profile.h"
#include "secret.h"

struct smz_ca;

struct smz_ca_init {
	const struct smz_secret *passphrase; /* NULL: keys stored plain (0600) */
	const char *root_cert, *root_key;    /* an existing enterprise root, or NULL */
	const struct smz_secret *root_passphrase;
};

int smz_ca_create(const char *dir, const struct smz_policy *p, const struct smz_ca_init *o,
		  struct smz_err *e);
int smz_ca_open(const char *dir, struct smz_ca **out, struct smz_err *e);
void smz_ca_close(struct smz_ca *ca);

/* Load the issuing CA's private key (pass may be NULL for a plain key). */
int smz_ca_unlock(struct smz_ca *ca, const struct smz_secret *pass, struct smz_err *e);

X509 *smz_ca_issuing(struct smz_ca *ca);
X509 *smz_ca_root(struct smz_ca *ca);

struct smz_ca_request {
	struct smz_csr_info *ci; /* checked request */
	X509 *prebuilt;		 /* in, optional: from smz_ca_prepare; taken over */
	X509 *cert;		 /* out: new or existing certificate */
	int existed;		 /* out: a valid certificate for this key was there */
	int refused;		 /* out: the key was revoked as compromised */
};

/* Build (and sign) a certificate for ci with a fresh serial, outside any
 * transaction; safe to call from several threads at once. */
int smz_ca_prepare(struct smz_ca *ca, const struct smz_policy *p, const struct smz_csr_info *ci,
		   X509 **out, struct smz_err *e);

/* Issue for n checked requests in one transaction; a request whose key
 * already has a valid certificate for the same addresses gets that one. */
int smz_ca_issue(struct smz_ca *ca, const struct smz_policy *p, struct smz_ca_request *r, size_t n,
		 struct smz_err *e);

/* By address: the domain always compares case-insensitively; the local
 * part too, except with SMZ_CA_BY_EXACT_ADDRESS (policy local_part =
 * sensitive, where Alice@ and alice@ are two people). */
enum smz_ca_select {
	SMZ_CA_BY_SERIAL,
	SMZ_CA_BY_ADDRESS,
	SMZ_CA_BY_EXACT_ADDRESS,
	SMZ_CA_BY_KEYID
};

/* Revoke every valid certificate matching value; cb reports each serial
 * revoked (or already revoked).  SMZ_ERR_NOTFOUND when nothing matched. */
int smz_ca_revoke(struct smz_ca *ca, enum smz_ca_select by, const char *value, const char *reason,
		  void (*cb)(void *arg, json_t *rec, int already), void *arg, struct smz_err *e);

/* Is reason one smz accepts (RFC 5280 names, never unspecified)? */
int smz_ca_reason_valid(const char *reason);

/* A signed CRL (DER) with the next CRL number. */
int smz_ca_crl(struct smz_ca *ca, const struct smz_policy *p, unsigned char **der, size_t *len,
	       struct smz_err *e);

/* The same as PEM: into path (replaced atomically, mode 0644) or, path
 * NULL, onto out. */
int smz_ca_crl_write(struct smz_ca *ca, const struct smz_policy *p, const char *path, FILE *out,
		     struct smz_err *e);

/* The certificate this CA issued with a serial (hex, colons allowed). */
int smz_ca_cert_by_serial(struct smz_ca *ca, const char *serial, X509 **out, struct smz_err *e);

/* The same, written as PEM onto out (smz-publish --serial). */
int smz_ca_cert_write(struct smz_ca *ca, const char *serial, FILE *out, struct smz_err *e);

/* Every certificate record, in serial order. */
int smz_ca_foreach(struct smz_ca *ca, int (*cb)(void *arg, json_t *rec), void *arg,
		   struct smz_err *e);

/* The records smz-issue list prints (smz-formats(5), Listings): one per
 * mailbox of each certificate, in serial order, with the members of
 * smz_ca_list_cols, times in ISO 8601, status "expired" for a valid
 * certificate past its notAfter.  With within_days >= 0, only the valid
 * certificates not yet expired whose notAfter is within that many days.
 * cb gets each record on loan. */
extern const char *const smz_ca_list_cols[];
int smz_ca_list(struct smz_ca *ca, long within_days, int (*cb)(void *arg, json_t *row), void *arg,
		struct smz_err *e);

/* The CA's audit log, for smz_audit_walk and smz_audit_verify. */
void smz_ca_audit_log(struct smz_ca *ca, struct smz_audit *au);

#endif
