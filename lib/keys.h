/*
 * keys: key pairs per policy (OpenSSL EVP), the key id that names a key
 * everywhere (SHA-256 of its DER SubjectPublicKeyInfo), PKCS#10 requests
 * signed by the new key, and PKCS#8 encoding into guarded memory for
 * sealing.
 */
#ifndef SMZ_KEYS_H
#define SMZ_KEYS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include "addr.h"
#include "err.h"
#include "policy.h"
#include "secret.h"

#define SMZ_KEYID_LEN 32

int smz_key_generate(enum smz_alg alg, EVP_PKEY **out, struct smz_err *e);

/* A reusable generator for many keys of one algorithm: OpenSSL 3 looks
 * algorithms up by name under a lock, so a batch does it once per worker. */
struct smz_keygen_ctx;
int smz_key_generator_new(enum smz_alg alg, struct smz_keygen_ctx **g, struct smz_err *e);
int smz_key_generator_next(struct smz_keygen_ctx *g, EVP_PKEY **out, struct smz_err *e);
void smz_key_generator_free(struct smz_keygen_ctx *g);

/* SHA-256 of the DER SubjectPublicKeyInfo. */
int smz_key_id(EVP_PKEY *k, unsigned char id[SMZ_KEYID_LEN]);

/* The policy algorithm name of a key ("ec-p256", ...), or NULL if none fits. */
const char *smz_key_alg(EVP_PKEY *k);

struct smz_csr_subject {
	const char *address;	 /* rfc822Name and emailAddress */
	const char *common_name; /* NULL: the address */
	const char *given, *surname;
	const char *usage; /* "sign" or "encrypt" asks for that keyUsage; NULL/"dual": none */
};

/* A DER PKCS#10 request for k, signed with SHA-256 (SHA-384 for P-384);
 * keyid (may be NULL) gets k's key id from the encoding the request holds. */
int smz_csr_build(EVP_PKEY *k, const struct smz_csr_subject *s, unsigned char **der, size_t *len,
		  unsigned char *keyid, struct smz_err *e);

/* k's private key as PKCS#8 DER in guarded memory (out is reused if big enough). */
int smz_key_to_pkcs8(EVP_PKEY *k, struct smz_secret *out, struct smz_err *e);
int smz_key_from_pkcs8(const unsigned char *der, size_t len, EVP_PKEY **out, struct smz_err *e);

void smz_hex(const unsigned char *in, size_t len, char *out);

/* A certificate from its base64 DER (as records store it), or NULL. */
X509 *smz_cert_from_b64(const char *b64);

/* Key id of a certificate's public key (SHA-256 of its SubjectPublicKeyInfo). */
int smz_cert_key_id(X509 *x, unsigned char id[SMZ_KEYID_LEN]);

#define SMZ_CERT_MAILBOXES 16

/* The mailboxes a certificate is for, the one place that decides it: the
 * rfc822Name entries of its subjectAltName, or, only when that extension
 * has none, the emailAddress attributes of its subject (what older CAs and
 * NSS test CAs issue; RFC 8550 section 3).  A subjectAltName rfc822Name
 * wins: a subject emailAddress beside it is not a mailbox of the
 * certificate (RFC 5280 section 4.1.2.6).  Each is normalised by
 * smz_addr_normalize (local part as written, domain lowercased), exact
 * repeats dropped; compare them with smz_addr_key under the policy's
 * local-part rule.  *n may be 0.  SMZ_ERR_DATA, e saying which, when one
 * is not a mail address, the extension is unreadable or repeated, or
 * there are more than SMZ_CERT_MAILBOXES: a certificate is read whole or
 * not at all, so that no caller files it under part of its names. */
int smz_cert_mailboxes(X509 *x, char out[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX], size_t *n,
		       struct smz_err *e);

/* The issuer+serial index key: SHA-256 over the DER issuer Name followed by
 * the serial number's content octets; what a CMS RecipientInfo names. */
int smz_isn_hash(const X509_NAME *issuer, const ASN1_INTEGER *serial,
		 unsigned char out[SMZ_KEYID_LEN]);

#endif
