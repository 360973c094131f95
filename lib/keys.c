#include "keys.h"
#include "addr.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

void
smz_hex(const unsigned char *in, size_t len, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * len] = 0;
}

/* A key that failed to load or generate: a full secure heap (see
 * secret.h) is said as such, not as a damaged key. */
static int
key_fail(struct smz_err *e, int code, const char *what)
{
	if (!smz_secret_heap_full())
		return smz_err_ssl(e, code, what);
	ERR_clear_error();
	return smz_err_set(e, SMZ_ERR_INTERNAL,
			   "secure memory for private keys is full (%zu "
			   "KiB in use): too many keys at once",
			   CRYPTO_secure_used() >> 10);
}

int
smz_key_generate(enum smz_alg alg, EVP_PKEY **out, struct smz_err *e)
{
	EVP_PKEY *k = NULL;
	switch (alg) {
	case SMZ_ALG_RSA2048:
	case SMZ_ALG_RSA3072:
	case SMZ_ALG_RSA4096:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
				      (size_t)(alg == SMZ_ALG_RSA2048	? 2048
					       : alg == SMZ_ALG_RSA3072 ? 3072
									: 4096));
		break;
	case SMZ_ALG_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case SMZ_ALG_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	}
	if (!k)
		return key_fail(e, SMZ_ERR_INTERNAL, "key generation failed");
	*out = k;
	return 0;
}

struct smz_keygen_ctx {
	EVP_PKEY_CTX *ctx;
};

int
smz_key_generator_new(enum smz_alg alg, struct smz_keygen_ctx **out, struct smz_err *e)
{
	struct smz_keygen_ctx *g = calloc(1, sizeof *g);
	int ec = alg == SMZ_ALG_P256 || alg == SMZ_ALG_P384;
	if (g)
		g->ctx = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "RSA", NULL);
	if (!g || !g->ctx || EVP_PKEY_keygen_init(g->ctx) <= 0 ||
	    (ec &&
	     EVP_PKEY_CTX_set_group_name(g->ctx, alg == SMZ_ALG_P256 ? "P-256" : "P-384") <= 0) ||
	    (!ec &&
	     EVP_PKEY_CTX_set_rsa_keygen_bits(g->ctx, alg == SMZ_ALG_RSA2048   ? 2048
						      : alg == SMZ_ALG_RSA3072 ? 3072
									       : 4096) <= 0)) {
		smz_key_generator_free(g);
		return smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot set up key generation");
	}
	*out = g;
	return 0;
}

int
smz_key_generator_next(struct smz_keygen_ctx *g, EVP_PKEY **out, struct smz_err *e)
{
	EVP_PKEY *k = NULL;
	if (EVP_PKEY_generate(g->ctx, &k) <= 0)
		return key_fail(e, SMZ_ERR_INTERNAL, "key generation failed");
	*out = k;
	return 0;
}

void
smz_key_generator_free(struct smz_keygen_ctx *g)
{
	if (g)
		EVP_PKEY_CTX_free(g->ctx);
	free(g);
}

int
smz_key_id(EVP_PKEY *k, unsigned char id[SMZ_KEYID_LEN])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	if (len <= 0)
		return SMZ_ERR_INTERNAL;
	SHA256(der, (size_t)len, id);
	OPENSSL_free(der);
	return 0;
}

const char *
smz_key_alg(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "RSA")) {
		switch (EVP_PKEY_get_bits(k)) {
		case 2048:
			return "rsa-2048";
		case 3072:
			return "rsa-3072";
		case 4096:
			return "rsa-4096";
		}
		return NULL;
	}
	if (EVP_PKEY_is_a(k, "EC")) {
		char group[64];
		if (!EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, NULL))
			return NULL;
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			return "ec-p256";
		if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			return "ec-p384";
	}
	return NULL;
}

static int
add_name(X509_NAME *n, int nid, const char *v)
{
	if (!v || !*v)
		return 1;
	return X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1,
					  0);
}

/* For EC keys, fill the request's SubjectPublicKeyInfo from the encoded
 * point: OpenSSL 3.0's generic path runs its encoder machinery, which
 * costs more than the key generation itself. */
static int
set_pubkey(X509_REQ *req, EVP_PKEY *k)
{
	const char *alg = smz_key_alg(k);
	int curve = !alg			  ? 0
		    : strcmp(alg, "ec-p256") == 0 ? NID_X9_62_prime256v1
		    : strcmp(alg, "ec-p384") == 0 ? NID_secp384r1
						  : 0;
	unsigned char pt[160];
	size_t ptlen = 0;
	if (!curve || !EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
						       sizeof pt, &ptlen))
		return X509_REQ_set_pubkey(req, k) ? 0 : -1;
	unsigned char *penc = OPENSSL_memdup(pt, ptlen);
	X509_PUBKEY *xp = X509_REQ_get_X509_PUBKEY(req);
	if (!penc || !xp ||
	    !X509_PUBKEY_set0_param(xp, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
				    OBJ_nid2obj(curve), penc, (int)ptlen)) {
		OPENSSL_free(penc);
		return -1;
	}
	return 0;
}

int
smz_csr_build(EVP_PKEY *k, const struct smz_csr_subject *s, unsigned char **der, size_t *len,
	      unsigned char *keyid, struct smz_err *e)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	X509_EXTENSION *ext = NULL;
	int rc = SMZ_ERR_INTERNAL;
	if (!req || !name || !exts || !gens || !gen || !ia5)
		goto out;
	/* X.520 upper bounds (characters): commonName 64, given name and
	 * surname 64 here, emailAddress 128 (OpenSSL's table); a longer value
	 * is left out, the address always stays in subjectAltName. */
	const char *cn = s->common_name && *s->common_name ? s->common_name : s->address;
	if (smz_utf8_chars(cn) > 64)
		cn = smz_utf8_chars(s->address) <= 64 ? s->address : NULL;
	const char *mail = strlen(s->address) <= 128 ? s->address : NULL;
	if (!add_name(name, NID_commonName, cn) ||
	    !add_name(name, NID_givenName, smz_utf8_chars(s->given) <= 64 ? s->given : NULL) ||
	    !add_name(name, NID_surname, smz_utf8_chars(s->surname) <= 64 ? s->surname : NULL) ||
	    (mail && !X509_NAME_add_entry_by_NID(name, NID_pkcs9_emailAddress, MBSTRING_ASC,
						 (const unsigned char *)mail, -1, -1, 0))) {
		rc = smz_err_ssl(e, SMZ_ERR_DATA, "cannot build the subject name");
		goto out;
	}
	if (!ASN1_STRING_set(ia5, s->address, -1))
		goto out;
	GENERAL_NAME_set0_value(gen, GEN_EMAIL, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(gens, gen))
		goto out;
	gen = NULL;
	/* RFC 5280: with an empty subject the subjectAltName is critical */
	ext = X509V3_EXT_i2d(NID_subject_alt_name, X509_NAME_entry_count(name) == 0, gens);
	if (!ext || !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	ext = NULL;
	/* Split keys say which half they are; the CA still decides the bits. */
	int sign = s->usage && strcmp(s->usage, "sign") == 0;
	int enc = s->usage && strcmp(s->usage, "encrypt") == 0;
	if (sign || enc) {
		int rsa = EVP_PKEY_is_a(k, "RSA");
		const char *ku = sign  ? "critical,digitalSignature"
				 : rsa ? "critical,keyEncipherment"
				       : "critical,keyAgreement";
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, ku);
		if (!ext || !sk_X509_EXTENSION_push(exts, ext))
			goto out;
		ext = NULL;
	}
	const EVP_MD *md = strcmp(smz_key_alg(k) ? smz_key_alg(k) : "", "ec-p384") == 0
				   ? EVP_sha384()
				   : EVP_sha256();
	if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
	    set_pubkey(req, k) < 0 || !X509_REQ_add_extensions(req, exts) ||
	    !X509_REQ_sign(req, k, md)) {
		rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot sign the request");
		goto out;
	}
	unsigned char *buf = NULL;
	if (keyid) {
		/* The request already holds the encoded SubjectPublicKeyInfo;
		 * hashing it saves a second trip through OpenSSL's encoders. */
		int pl = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &buf);
		if (pl <= 0)
			goto out;
		SHA256(buf, (size_t)pl, keyid);
		OPENSSL_free(buf);
		buf = NULL;
	}
	int l = i2d_X509_REQ(req, &buf);
	if (l <= 0)
		goto out;
	*der = buf;
	*len = (size_t)l;
	rc = 0;
out:
	if (rc == SMZ_ERR_INTERNAL && e && !e->msg[0])
		smz_err_ssl(e, rc, "cannot build the request");
	X509_EXTENSION_free(ext);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

int
smz_key_to_pkcs8(EVP_PKEY *k, struct smz_secret *out, struct smz_err *e)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	unsigned char *der = NULL;
	int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (len <= 0)
		return smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot encode the private key");
	int rc = smz_secret_ensure(out, (size_t)len);
	if (!rc)
		memcpy(out->buf, der, (size_t)len);
	OPENSSL_clear_free(der, (size_t)len);
	return rc ? smz_err_set(e, rc, "cannot allocate secure memory") : 0;
}

int
smz_key_from_pkcs8(const unsigned char *der, size_t len, EVP_PKEY **out, struct smz_err *e)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	EVP_PKEY *k = p8 && p == der + len ? EVP_PKCS82PKEY(p8) : NULL;
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (!k)
		return key_fail(e, SMZ_ERR_DATA, "damaged private key");
	*out = k;
	return 0;
}

int
smz_cert_key_id(X509 *x, unsigned char id[SMZ_KEYID_LEN])
{
	unsigned char *der = NULL;
	int l = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (l <= 0)
		return SMZ_ERR_DATA;
	SHA256(der, (size_t)l, id);
	OPENSSL_free(der);
	return 0;
}

int
smz_isn_hash(const X509_NAME *issuer, const ASN1_INTEGER *serial, unsigned char out[SMZ_KEYID_LEN])
{
	unsigned char *der = NULL;
	int l = i2d_X509_NAME(issuer, &der);
	if (l <= 0)
		return SMZ_ERR_DATA;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(c, der, (size_t)l) &&
		 EVP_DigestUpdate(c, ASN1_STRING_get0_data(serial),
				  (size_t)ASN1_STRING_length(serial)) &&
		 EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
	OPENSSL_free(der);
	return ok ? 0 : SMZ_ERR_INTERNAL;
}

X509 *
smz_cert_from_b64(const char *b)
{
	size_t cap = b ? strlen(b) : 0, l = 0;
	unsigned char *der = cap ? malloc(cap) : NULL;
	X509 *x = NULL;
	if (der && sodium_base642bin(der, cap, b, cap, NULL, &l, NULL,
				     sodium_base64_VARIANT_ORIGINAL) == 0) {
		const unsigned char *q = der;
		x = d2i_X509(NULL, &q, (long)l);
		if (x && q != der + l) {
			X509_free(x);
			x = NULL;
		}
	}
	free(der);
	return x;
}

/* Append the address in d (length l, not NUL-terminated) to out. */
static int
add_mailbox(const unsigned char *d, int l, const char *where,
	    char out[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX], size_t *n, struct smz_err *e)
{
	char in[SMZ_ADDR_MAX], norm[SMZ_ADDR_MAX];
	struct smz_err ae;
	if (l <= 0 || l >= (int)sizeof in || memchr(d, 0, (size_t)l))
		return smz_err_set(e, SMZ_ERR_DATA, "an unreadable mail address in the %s", where);
	memcpy(in, d, (size_t)l);
	in[l] = 0;
	if (smz_addr_normalize(in, norm, &ae) < 0)
		return smz_err_set(e, SMZ_ERR_DATA, "%s: %s", where, ae.msg);
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i], norm) == 0)
			return 0;
	if (*n == SMZ_CERT_MAILBOXES)
		return smz_err_set(e, SMZ_ERR_DATA, "more than %d mail addresses in the %s",
				   SMZ_CERT_MAILBOXES, where);
	strcpy(out[(*n)++], norm);
	return 0;
}

int
smz_cert_mailboxes(X509 *x, char out[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX], size_t *n,
		   struct smz_err *e)
{
	char mb[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX];
	size_t k = 0;
	int crit = -1, rc = 0;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!gens && crit != -1)
		rc = smz_err_set(e, SMZ_ERR_DATA, "the subjectAltName extension is %s",
				 crit == -2 ? "repeated" : "unreadable");
	for (int i = 0; !rc && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_EMAIL)
			rc = add_mailbox(ASN1_STRING_get0_data(g->d.rfc822Name),
					 ASN1_STRING_length(g->d.rfc822Name), "subjectAltName", mb,
					 &k, e);
	}
	GENERAL_NAMES_free(gens);
	/* no rfc822Name: the subject's emailAddress, in any string type */
	const X509_NAME *sn = X509_get_subject_name(x);
	int in_san = k > 0;
	for (int i = -1; !rc && !in_san &&
			 (i = X509_NAME_get_index_by_NID(sn, NID_pkcs9_emailAddress, i)) >= 0;) {
		unsigned char *u = NULL;
		int l = ASN1_STRING_to_UTF8(&u,
					    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, i)));
		rc = add_mailbox(u, l, "subject emailAddress", mb, &k, e);
		OPENSSL_free(u);
	}
	ERR_clear_error();
	if (rc)
		return rc;
	memcpy(out, mb, k * sizeof mb[0]);
	*n = k;
	return 0;
}
