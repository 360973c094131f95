/*
 * export: what an MDM, a GPO or a script installs on every device: one
 * PKCS#12 per address holding every key the person ever had (current key
 * first) with its certificate and the issuing chain, in a named profile
 * (compat: PBE-SHA1-3DES and an HMAC-SHA1 MAC; modern: PBES2/PBKDF2-SHA-256/
 * AES-256-CBC and an HMAC-SHA-256 MAC) and optionally an Apple
 * .mobileconfig; passwords generated (>= 112 bits, easy to read out) into a
 * 0600 passwords.tsv.
 */
#ifndef SMZ_EXPORT_H
#define SMZ_EXPORT_H

#include <openssl/x509.h>
#include "err.h"
#include "policy.h"
#include "secret.h"

struct smz_vault;

enum smz_export_event { SMZ_EX_WRITTEN, SMZ_EX_MISSING, SMZ_EX_FAILED };

struct smz_export_opts {
	const struct smz_policy *policy;
	struct smz_vault *vault; /* unlocked */
	const char *out_dir;
	const char *profile; /* "compat" or "modern" */
	int current_only, mobileconfig;
	int jobs;			   /* threads building bundles */
	const struct smz_secret *password; /* NULL: one generated per address */
	const char *reason;
	STACK_OF(X509) * chain; /* CA certificates to include; may be NULL */
	void (*report)(void *arg, const char *address, enum smz_export_event ev, size_t keys,
		       const char *detail);
	void *arg;
};

struct smz_export_stats {
	size_t written, missing, keys;
};

int smz_export_run(const struct smz_export_opts *o, const char *const *addresses, size_t n,
		   struct smz_export_stats *st, struct smz_err *e);

/* Every address that has a key with a certificate. */
int smz_export_all(const struct smz_export_opts *o, struct smz_export_stats *st, struct smz_err *e);

/* A password of 24 characters from 31 unambiguous ones (118 bits), in
 * groups of four: "7kq3-..."; out holds at least 30 bytes. */
void smz_export_password(char *out);

/* A PKCS#12 of keys[i] with certs[i] (names[i] as friendlyName), plus chain. */
int smz_export_p12(EVP_PKEY *const *keys, X509 *const *certs, const char *const *names, size_t n,
		   STACK_OF(X509) * chain, const char *profile, const char *pass,
		   unsigned char **der, size_t *len, struct smz_err *e);

#endif
