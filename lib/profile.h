/*
 * profile: what a certificate says, decided by policy and never by the
 * request.  Checks a PKCS#10 request (proof of possession, key strength,
 * every mailbox in an allowed domain) and builds certificates that meet
 * the CA/Browser Forum S/MIME Baseline Requirements (mailbox- or
 * sponsor-validated, strict or multipurpose), and the root and issuing CA
 * certificates (the issuing CA name-constrained to the policy's domains).
 */
#ifndef SMZ_PROFILE_H
#define SMZ_PROFILE_H

#include <openssl/x509.h>
#include <time.h>
#include "err.h"
#include "keys.h"
#include "policy.h"

#define SMZ_MAX_ADDRESSES 16
#define SMZ_SERIAL_LEN 20

struct smz_csr_info {
	X509_REQ *req;
	unsigned char key_id[SMZ_KEYID_LEN];
	char alg[16];
	char *addresses[SMZ_MAX_ADDRESSES]; /* normalised */
	size_t naddr;
	char *cn, *given, *surname; /* UTF-8 from the subject, may be NULL */
	const char *usage;	    /* "dual", "sign" or "encrypt" */
};

/* Parse and check one DER request against policy. */
int smz_csr_check(const unsigned char *der, size_t len, const struct smz_policy *p,
		  struct smz_csr_info *ci, struct smz_err *e);
void smz_csr_info_free(struct smz_csr_info *ci);

/* The reserved S/MIME BR policy OID of a profile name. */
const char *smz_profile_oid(const char *profile);

/* The digest that goes with a signing key: SHA-384 for P-384, else SHA-256. */
const EVP_MD *smz_profile_md(EVP_PKEY *signer);

/* Can this policy issue at all (profile, URLs, sponsor attributes)? */
int smz_profile_check_policy(const struct smz_policy *p, struct smz_err *e);

/* A subscriber certificate for ci, serial of SMZ_SERIAL_LEN bytes. */
int smz_profile_build(const struct smz_policy *p, X509 *ca, EVP_PKEY *ca_key,
		      const struct smz_csr_info *ci, const unsigned char *serial, time_t now,
		      X509 **out, struct smz_err *e);

/* Self-signed root, and the issuing CA under root. */
int smz_profile_root(const struct smz_policy *p, EVP_PKEY *key, time_t now, X509 **out,
		     struct smz_err *e);
int smz_profile_issuing(const struct smz_policy *p, X509 *root, EVP_PKEY *root_key, EVP_PKEY *key,
			time_t now, X509 **out, struct smz_err *e);

/* A fresh serial: 20 CSPRNG bytes, positive, below 2^159, always 20 octets. */
int smz_profile_serial(unsigned char serial[SMZ_SERIAL_LEN]);

#endif
