#include "profile.h"
#include "addr.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name, *oid;
} profiles[] = {
	{"mailbox-strict", "2.23.140.1.5.1.3"},
	{"mailbox-multipurpose", "2.23.140.1.5.1.2"},
	{"sponsor-strict", "2.23.140.1.5.3.3"},
	{"sponsor-multipurpose", "2.23.140.1.5.3.2"},
};

const char *
smz_profile_oid(const char *profile)
{
	for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
		if (strcmp(profile, profiles[i].name) == 0)
			return profiles[i].oid;
	return NULL;
}

const EVP_MD *
smz_profile_md(EVP_PKEY *signer)
{
	const char *a = smz_key_alg(signer);
	return a && strcmp(a, "ec-p384") == 0 ? EVP_sha384() : EVP_sha256();
}

/* Sign *x with key and hand it to *out (*x becomes NULL); what names it
 * in the error. */
static int
sign_into(X509 **x, EVP_PKEY *key, X509 **out, const char *what, struct smz_err *e)
{
	char why[64];
	snprintf(why, sizeof why, "cannot sign %s", what);
	if (!X509_sign(*x, key, smz_profile_md(key)))
		return smz_err_ssl(e, SMZ_ERR_INTERNAL, why);
	*out = *x;
	*x = NULL;
	return 0;
}

int
smz_profile_serial(unsigned char s[SMZ_SERIAL_LEN])
{
	if (RAND_priv_bytes(s, SMZ_SERIAL_LEN) != 1)
		return SMZ_ERR_INTERNAL;
	/* 01xxxxxx: positive, below 2^159, and never a leading zero octet,
	 * so every serial is 20 octets with 158 random bits. */
	s[0] = (unsigned char)((s[0] & 0x3f) | 0x40);
	return 0;
}

void
smz_csr_info_free(struct smz_csr_info *ci)
{
	X509_REQ_free(ci->req);
	for (size_t i = 0; i < ci->naddr; i++)
		free(ci->addresses[i]);
	free(ci->cn);
	free(ci->given);
	free(ci->surname);
	memset(ci, 0, sizeof *ci);
}

static char *
name_entry(X509_NAME *n, int nid)
{
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	if (i < 0)
		return NULL;
	unsigned char *u = NULL;
	int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (l < 0)
		return NULL;
	char *s = strndup((char *)u, (size_t)l);
	OPENSSL_free(u);
	return s;
}

static int
add_address(struct smz_csr_info *ci, const struct smz_policy *p, const char *raw, size_t len,
	    struct smz_err *e)
{
	char in[SMZ_ADDR_MAX], out[SMZ_ADDR_MAX], k1[SMZ_ADDR_MAX], k2[SMZ_ADDR_MAX];
	if (len >= sizeof in || memchr(raw, 0, len))
		return smz_err_set(e, SMZ_ERR_DATA,
				   "a mail address in the request is too long "
				   "or contains NUL");
	memcpy(in, raw, len);
	in[len] = 0;
	struct smz_err ae;
	if (smz_addr_normalize(in, out, &ae) < 0)
		return smz_err_set(e, SMZ_ERR_DATA, "%s", ae.msg);
	const char *dom = strrchr(out, '@') + 1;
	if (!smz_policy_domain_allowed(p, dom))
		return smz_err_set(e, SMZ_ERR_DATA,
				   "%s: domain %s is not allowed by policy "
				   "(a request in another organisation's name)",
				   out, dom);
	smz_addr_key(out, p->local_part_sensitive, k1);
	for (size_t i = 0; i < ci->naddr; i++) {
		smz_addr_key(ci->addresses[i], p->local_part_sensitive, k2);
		if (strcmp(k1, k2) == 0)
			return 0;
	}
	if (ci->naddr == SMZ_MAX_ADDRESSES)
		return smz_err_set(e, SMZ_ERR_DATA, "more than %d mail addresses",
				   SMZ_MAX_ADDRESSES);
	if (!(ci->addresses[ci->naddr] = strdup(out)))
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	ci->naddr++;
	return 0;
}

static int
check_key(EVP_PKEY *pk, struct smz_csr_info *ci, struct smz_err *e)
{
	if (EVP_PKEY_is_a(pk, "RSA")) {
		int bits = EVP_PKEY_get_bits(pk);
		BIGNUM *exp = NULL;
		int e65537 = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &exp) &&
			     BN_is_word(exp, 65537);
		BN_free(exp);
		if (bits < 2048 || bits % 8 || bits > 8192)
			return smz_err_set(e, SMZ_ERR_DATA,
					   "RSA key of %d bits (need 2048 to 8192, "
					   "a multiple of 8)",
					   bits);
		if (!e65537)
			return smz_err_set(e, SMZ_ERR_DATA, "RSA public exponent is not 65537");
		snprintf(ci->alg, sizeof ci->alg, "rsa-%d", bits);
		return 0;
	}
	const char *a = smz_key_alg(pk);
	if (!a || strncmp(a, "ec-", 3) != 0)
		return smz_err_set(e, SMZ_ERR_DATA,
				   "unsupported key type %s (RSA, EC P-256 "
				   "or P-384 only)",
				   EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?");
	snprintf(ci->alg, sizeof ci->alg, "%s", a);
	return 0;
}

int
smz_csr_check(const unsigned char *der, size_t len, const struct smz_policy *p,
	      struct smz_csr_info *ci, struct smz_err *e)
{
	memset(ci, 0, sizeof *ci);
	const unsigned char *q = der;
	int rc = 0;
	ci->req = len <= (1 << 20) ? d2i_X509_REQ(NULL, &q, (long)len) : NULL;
	if (!ci->req || q != der + len) {
		ERR_clear_error();
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "not a PKCS#10 request (damaged or truncated DER)");
		goto out;
	}
	EVP_PKEY *pk = X509_REQ_get0_pubkey(ci->req);
	if (!pk) {
		ERR_clear_error();
		rc = smz_err_set(e, SMZ_ERR_DATA, "unreadable public key");
		goto out;
	}
	if ((rc = check_key(pk, ci, e)))
		goto out;
	{
		/* EC keys by named curve only (BR 7.1.3.1), RSA with NULL parameters */
		ASN1_OBJECT *alg;
		X509_ALGOR *pa;
		int ptype;
		const void *pval;
		if (!X509_PUBKEY_get0_param(&alg, NULL, NULL, &pa,
					    X509_REQ_get_X509_PUBKEY(ci->req))) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "unreadable public key");
			goto out;
		}
		X509_ALGOR_get0(NULL, &ptype, &pval, pa);
		int ec = OBJ_obj2nid(alg) == NID_X9_62_id_ecPublicKey;
		if ((ec && ptype != V_ASN1_OBJECT) ||
		    (OBJ_obj2nid(alg) == NID_rsaEncryption && ptype != V_ASN1_NULL)) {
			rc = smz_err_set(
				e, SMZ_ERR_DATA, "%s",
				ec ? "EC key with explicit parameters (a named curve is required)"
				   : "RSA key without NULL parameters");
			goto out;
		}
	}
	if (X509_REQ_verify(ci->req, pk) != 1) {
		ERR_clear_error();
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "bad signature: no proof of possession of the key");
		goto out;
	}
	unsigned char *spki = NULL;
	int sl = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(ci->req), &spki);
	if (sl <= 0) {
		rc = smz_err_set(e, SMZ_ERR_DATA, "unreadable public key");
		goto out;
	}
	SHA256(spki, (size_t)sl, ci->key_id);
	OPENSSL_free(spki);

	ci->usage = "dual";
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(ci->req);
	GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	ASN1_BIT_STRING *ku = exts ? X509V3_get_d2i(exts, NID_key_usage, NULL, NULL) : NULL;
	for (int i = 0; !rc && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_EMAIL)
			rc = add_address(ci, p,
					 (const char *)ASN1_STRING_get0_data(g->d.rfc822Name),
					 (size_t)ASN1_STRING_length(g->d.rfc822Name), e);
		else if (g->type == GEN_OTHERNAME)
			rc = smz_err_set(e, SMZ_ERR_DATA,
					 "otherName (e.g. SmtpUTF8Mailbox) in the "
					 "request is not supported yet");
	}
	if (p->split) {
		/* split keys: the request says which half; the policy, not the
		 * request, then decides the bits */
		int sig = ku && ASN1_BIT_STRING_get_bit(ku, 0),
		    enc = ku && (ASN1_BIT_STRING_get_bit(ku, 2) || ASN1_BIT_STRING_get_bit(ku, 4));
		ci->usage = sig && !enc ? "sign" : enc && !sig ? "encrypt" : NULL;
		if (!ci->usage && !rc)
			rc = smz_err_set(e, SMZ_ERR_DATA,
					 "policy usage = split: the request must ask "
					 "for either signing or encryption (keyUsage)");
	}
	ASN1_BIT_STRING_free(ku);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	X509_NAME *subj = X509_REQ_get_subject_name(ci->req);
	for (int i = -1;
	     !rc && (i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i)) >= 0;) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		rc = add_address(ci, p, (const char *)ASN1_STRING_get0_data(s),
				 (size_t)ASN1_STRING_length(s), e);
	}
	if (!rc && ci->naddr == 0)
		rc = smz_err_set(e, SMZ_ERR_DATA, "no mail address in the request");
	if (rc)
		goto out;
	ci->cn = name_entry(subj, NID_commonName);
	ci->given = name_entry(subj, NID_givenName);
	ci->surname = name_entry(subj, NID_surname);
	/* an empty attribute is no name: the certificate would have neither
	 * it nor more than half a common name (" One") */
	if (strncmp(p->profile, "sponsor", 7) == 0 &&
	    (!ci->given || !*ci->given || !ci->surname || !*ci->surname))
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "a sponsor-validated certificate needs givenName "
				 "and surname in the request");
out:
	if (rc)
		smz_csr_info_free(ci);
	return rc;
}

/* Add an extension from its OpenSSL configuration form. */
static int
ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ex && X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

/* Copy the request's SubjectPublicKeyInfo into the certificate as it is:
 * X509_set_pubkey would re-encode the key through OpenSSL 3.0's encoder
 * machinery, which costs more than the signature. */
static int
copy_pubkey(X509 *x, X509_REQ *req)
{
	ASN1_OBJECT *alg;
	const unsigned char *pk;
	int pklen, ptype;
	const void *pval;
	X509_ALGOR *pa;
	X509_PUBKEY *src = X509_REQ_get_X509_PUBKEY(req), *dst = X509_get_X509_PUBKEY(x);
	if (!src || !dst || !X509_PUBKEY_get0_param(&alg, &pk, &pklen, &pa, src))
		return -1;
	X509_ALGOR_get0((const ASN1_OBJECT **)&alg, &ptype, &pval, pa);
	void *nval = NULL;
	if (ptype == V_ASN1_OBJECT)
		nval = OBJ_dup(pval);
	else if (ptype == V_ASN1_SEQUENCE)
		nval = ASN1_STRING_dup(pval);
	else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		return -1;
	unsigned char *penc = OPENSSL_memdup(pk, (size_t)pklen);
	ASN1_OBJECT *nalg = OBJ_dup(alg);
	if (!penc || !nalg || ((ptype == V_ASN1_OBJECT || ptype == V_ASN1_SEQUENCE) && !nval) ||
	    !X509_PUBKEY_set0_param(dst, nalg, ptype, nval, penc, pklen)) {
		OPENSSL_free(penc);
		ASN1_OBJECT_free(nalg);
		if (ptype == V_ASN1_OBJECT)
			ASN1_OBJECT_free(nval);
		else
			ASN1_STRING_free(nval);
		return -1;
	}
	return 0;
}

/* certificatePolicies with the given OIDs, no qualifiers.  (OpenSSL's
 * configuration form of this extension needs a config database.) */
static int
policies(X509 *x, const char *const *oids, size_t n)
{
	CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
	int ok = cp != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		POLICYINFO *pi = POLICYINFO_new();
		ok = pi && (pi->policyid = OBJ_txt2obj(oids[i], 1)) && sk_POLICYINFO_push(cp, pi);
		if (!ok)
			POLICYINFO_free(pi);
	}
	ok = ok && X509_add1_ext_i2d(x, NID_certificate_policies, cp, 0, X509V3_ADD_DEFAULT) == 1;
	CERTIFICATEPOLICIES_free(cp);
	return ok ? 0 : -1;
}

/* S/MIME capabilities (RFC 8551 2.5.2), strongest first. */
static int
smime_caps(X509 *x)
{
	STACK_OF(X509_ALGOR) *caps = sk_X509_ALGOR_new_null();
	int nids[] = {NID_aes_256_gcm, NID_aes_128_gcm, NID_aes_256_cbc, NID_aes_128_cbc};
	unsigned char *der = NULL;
	int ok = caps != NULL;
	for (size_t i = 0; ok && i < sizeof nids / sizeof nids[0]; i++)
		ok = PKCS7_simple_smimecap(caps, nids[i], -1) == 1;
	int l = ok ? i2d_X509_ALGORS(caps, &der) : -1;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ex = NULL;
	ok = l > 0 && os && ASN1_OCTET_STRING_set(os, der, l) &&
	     (ex = X509_EXTENSION_create_by_NID(NULL, NID_SMIMECapabilities, 0, os)) &&
	     X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	ASN1_OCTET_STRING_free(os);
	OPENSSL_free(der);
	sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
	return ok ? 0 : -1;
}

static int
add_utf8(X509_NAME *n, int nid, const char *v)
{
	return !v || !*v ||
	       X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1,
					  0);
}

static int
set_validity(X509 *x, X509 *issuer, time_t now, long days)
{
	time_t end = now + days * 86400L;
	if (issuer) {
		/* never outlive the issuer */
		const ASN1_TIME *ia = X509_get0_notAfter(issuer);
		int d = 0, s = 0;
		ASN1_TIME *nt = ASN1_TIME_set(NULL, now);
		if (nt && ASN1_TIME_diff(&d, &s, nt, ia) && (long)d * 86400L + s < days * 86400L)
			end = now + (long)d * 86400L + s;
		ASN1_TIME_free(nt);
	}
	return ASN1_TIME_set(X509_getm_notBefore(x), now) &&
			       ASN1_TIME_set(X509_getm_notAfter(x), end)
		       ? 0
		       : -1;
}

int
smz_profile_check_policy(const struct smz_policy *p, struct smz_err *e)
{
	if (!smz_profile_oid(p->profile) || !p->crl_url[0] || !p->issuer_url[0])
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "the policy needs [certificate] profile, "
				   "[ca] crl_url and [ca] issuer_url to issue certificates");
	if (strncmp(p->profile, "sponsor", 7) == 0 && (!p->organization[0] || !p->country[0]))
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "sponsor-validated profiles need "
				   "[certificate] organization and country");
	if (p->ndomains == 0)
		return smz_err_set(e, SMZ_ERR_CONFIG, "the policy has no [domains] allowed");
	return 0;
}

int
smz_profile_build(const struct smz_policy *p, X509 *ca, EVP_PKEY *ca_key,
		  const struct smz_csr_info *ci, const unsigned char *serial, time_t now,
		  X509 **out, struct smz_err *e)
{
	const char *oid = smz_profile_oid(p->profile);
	int rc = smz_profile_check_policy(p, e);
	if (rc)
		return rc;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	BIGNUM *bn = BN_bin2bn(serial, SMZ_SERIAL_LEN, NULL);
	ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	X509_EXTENSION *san = NULL;
	rc = SMZ_ERR_INTERNAL;
	if (!x || !n || !sn || !gens)
		goto out;
	const char *mbox = ci->addresses[0];
	int sponsor = strncmp(p->profile, "sponsor", 7) == 0;
	if (sponsor) {
		char cn[256];
		snprintf(cn, sizeof cn, "%s %s", ci->given, ci->surname);
		if (!add_utf8(n, NID_commonName,
			      smz_utf8_chars(cn) <= 64 ? cn
			      : strlen(mbox) <= 64     ? mbox
						       : NULL) ||
		    !add_utf8(n, NID_givenName, ci->given) ||
		    !add_utf8(n, NID_surname, ci->surname) ||
		    !add_utf8(n, NID_organizationName, p->organization) ||
		    !add_utf8(n, NID_organizationIdentifier, p->organization_identifier) ||
		    !X509_NAME_add_entry_by_NID(n, NID_countryName, MBSTRING_ASC,
						(const unsigned char *)p->country, -1, -1, 0))
			goto out;
	} else if (!add_utf8(n, NID_commonName, strlen(mbox) <= 64 ? mbox : NULL)) {
		goto out;
	}
	/* emailAddress is bounded at 128 (OpenSSL's table, ub-emailaddress 255) */
	if (strlen(mbox) <= 128 &&
	    !X509_NAME_add_entry_by_NID(n, NID_pkcs9_emailAddress, MBSTRING_ASC,
					(const unsigned char *)mbox, -1, -1, 0))
		goto out;
	for (size_t i = 0; i < ci->naddr; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (!g || !s || !ASN1_STRING_set(s, ci->addresses[i], -1)) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_EMAIL, s);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	EVP_PKEY *pk = X509_REQ_get0_pubkey(ci->req);
	int rsa = EVP_PKEY_is_a(pk, "RSA");
	const char *ku = strcmp(ci->usage, "sign") == 0 ? "critical,digitalSignature"
			 : strcmp(ci->usage, "encrypt") == 0
				 ? (rsa ? "critical,keyEncipherment" : "critical,keyAgreement")
			 : rsa ? "critical,digitalSignature,keyEncipherment"
			       : "critical,digitalSignature,keyAgreement";
	char crl[1100], aia[1100];
	snprintf(crl, sizeof crl, "URI:%s", p->crl_url);
	snprintf(aia, sizeof aia, "caIssuers;URI:%s", p->issuer_url);
	X509V3_CTX ctx;
	if (!X509_set_version(x, 2) || !X509_set_serialNumber(x, sn) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca)) || !X509_set_subject_name(x, n) ||
	    copy_pubkey(x, ci->req) < 0 || set_validity(x, ca, now, p->validity_days) < 0)
		goto out;
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	san = X509V3_EXT_i2d(NID_subject_alt_name, X509_NAME_entry_count(n) == 0, gens);
	if (ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    ext(x, &ctx, NID_key_usage, ku) < 0 ||
	    ext(x, &ctx, NID_ext_key_usage, "emailProtection") < 0 || policies(x, &oid, 1) < 0 ||
	    !san || !X509_add_ext(x, san, -1) ||
	    ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
	    ext(x, &ctx, NID_crl_distribution_points, crl) < 0 ||
	    ext(x, &ctx, NID_info_access, aia) < 0 || smime_caps(x) < 0)
		goto out;
	/* the issuing CA's name constraints, as fixed at init, not only the
	 * policy of today: never issue what relying parties will reject */
	NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca, NID_name_constraints, NULL, NULL);
	int ncr = nc ? NAME_CONSTRAINTS_check(x, nc) : X509_V_OK;
	NAME_CONSTRAINTS_free(nc);
	if (ncr != X509_V_OK) {
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "a mailbox is outside the issuing CA's name "
				 "constraints (re-create the CA after changing [domains])");
		goto out;
	}
	rc = sign_into(&x, ca_key, out, "the certificate", e);
out:
	if (rc == SMZ_ERR_INTERNAL && e && !e->msg[0])
		smz_err_ssl(e, rc, "cannot build the certificate");
	X509_EXTENSION_free(san);
	GENERAL_NAMES_free(gens);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_NAME_free(n);
	X509_free(x);
	return rc;
}

static int
ca_name(const struct smz_policy *p, const char *what, X509_NAME **out)
{
	X509_NAME *n = X509_NAME_new();
	char cn[256];
	snprintf(cn, sizeof cn, "%s %s", p->ca_name, what);
	if (!n || !add_utf8(n, NID_commonName, cn) ||
	    !add_utf8(n, NID_organizationName, p->organization) ||
	    (p->country[0] &&
	     !X509_NAME_add_entry_by_NID(n, NID_countryName, MBSTRING_ASC,
					 (const unsigned char *)p->country, -1, -1, 0))) {
		X509_NAME_free(n);
		return -1;
	}
	*out = n;
	return 0;
}

static int
ca_cert(const struct smz_policy *p, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key, time_t now,
	X509 **out, struct smz_err *e)
{
	int root = issuer == NULL;
	X509 *x = X509_new();
	X509_NAME *n = NULL;
	unsigned char serial[SMZ_SERIAL_LEN];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	int rc = SMZ_ERR_INTERNAL;
	if (!x || ca_name(p, root ? "Root CA" : "S/MIME Issuing CA", &n) < 0 ||
	    smz_profile_serial(serial) < 0 || !(bn = BN_bin2bn(serial, sizeof serial, NULL)) ||
	    !(sn = BN_to_ASN1_INTEGER(bn, NULL)))
		goto out;
	if (!X509_set_version(x, 2) || !X509_set_serialNumber(x, sn) ||
	    !X509_set_subject_name(x, n) ||
	    !X509_set_issuer_name(x, root ? n : X509_get_subject_name(issuer)) ||
	    !X509_set_pubkey(x, key) ||
	    set_validity(x, issuer, now, root ? p->root_days : p->issuing_days) < 0)
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, root ? x : issuer, x, NULL, NULL, 0);
	if (ext(x, &ctx, NID_basic_constraints,
		root ? "critical,CA:TRUE" : "critical,CA:TRUE,pathlen:0") < 0 ||
	    ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    (!root && ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0))
		goto out;
	if (!root) {
		/* Only the policy's mail domains, and only for e-mail protection.
		 * Critical unless the policy says otherwise: gpgsm refuses a
		 * critical nameConstraints, and some sites need gpgsm to work. */
		char nc[8192] = "";
		size_t l = 0;
		if (p->name_constraints == SMZ_NC_CRITICAL)
			l = (size_t)snprintf(nc, sizeof nc, "critical,");
		for (size_t i = 0; i < p->ndomains && l < sizeof nc; i++) {
			const char *d = p->domains[i];
			if (d[0] == '.')
				l += (size_t)snprintf(nc + l, sizeof nc - l,
						      "%spermitted;email:%s,permitted;email:%s",
						      i ? "," : "", d + 1, d);
			else
				l += (size_t)snprintf(nc + l, sizeof nc - l, "%spermitted;email:%s",
						      i ? "," : "", d);
		}
		const char *pol[sizeof profiles / sizeof profiles[0]];
		for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
			pol[i] = profiles[i].oid;
		if (p->ndomains == 0 && p->name_constraints != SMZ_NC_NONE) {
			rc = smz_err_set(e, SMZ_ERR_CONFIG,
					 "the policy has no [domains] allowed: "
					 "the issuing CA would not be constrained");
			goto out;
		}
		if (l >= sizeof nc) {
			rc = smz_err_set(e, SMZ_ERR_CONFIG,
					 "[domains] allowed is too long for the "
					 "issuing CA's name constraints");
			goto out;
		}
		if ((p->name_constraints != SMZ_NC_NONE &&
		     ext(x, &ctx, NID_name_constraints, nc) < 0) ||
		    ext(x, &ctx, NID_ext_key_usage, "emailProtection") < 0 ||
		    policies(x, pol, sizeof pol / sizeof pol[0]) < 0)
			goto out;
	}
	rc = sign_into(&x, root ? key : issuer_key, out, "the CA certificate", e);
out:
	if (rc == SMZ_ERR_INTERNAL && e && !e->msg[0])
		smz_err_ssl(e, rc, "cannot build the CA certificate");
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_NAME_free(n);
	X509_free(x);
	return rc;
}

int
smz_profile_root(const struct smz_policy *p, EVP_PKEY *key, time_t now, X509 **out,
		 struct smz_err *e)
{
	return ca_cert(p, NULL, NULL, key, now, out, e);
}

int
smz_profile_issuing(const struct smz_policy *p, X509 *root, EVP_PKEY *root_key, EVP_PKEY *key,
		    time_t now, X509 **out, struct smz_err *e)
{
	return ca_cert(p, root, root_key, key, now, out, e);
}
