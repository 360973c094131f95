/* Profile: what a request may ask and what a certificate says.  Requests
 * are built here by hand (good and bad ones), certificates are read back
 * field by field and the chain is checked by OpenSSL's own verifier. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "profile.h"
#include "prog.h"
#include "tap.h"

/* Test keys made for this file with openssl genpkey; no secret.  RSA keys
 * are not generated here because that takes too long for a unit test. */
static const char rsa2048_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCk6BEasuCL6NNR\n"
	"99gwmgOA5PRLl/XFea+PhnSUXT5C3Y4IW2YmUBgJD1u80WuxhT8oNDvsO/v4pZi1\n"
	"jjsZpSQHqn/fVFO2lBnh22ij3PW7Dv7WSwvWHvHavydm6TbngfjyGtN/bo/m9xsW\n"
	"zuLaS+wQCN7A5hAykdX3axYGVP/oqODsZ2k/JwR8p9z7MpOI0yAFM70cd5bcFSKT\n"
	"cG7DSRDwTfGWTgKGFUphjzuh8degsysNT62CZ0txCaF/EbuzgIl2imcUhrMvNlZz\n"
	"UqP1NmflZFeNOpUMn6U+tg3LhK9lynsc8QFgQREuAZfryVtgg7WWiXwANhMt1eFE\n"
	"rIjpdaP9AgMBAAECggEACWByvIhoUTxLa9FCdz0Crv0V0QiSfoiVTX1xOpB0vluX\n"
	"vGzqCYqrWzSG3F0yGPWBKlmSALRGdxR/cu9j9+jWfCMbQ0kpu2t/b0LJF+w0As9u\n"
	"+SNqSGIZEX2mEWl4aECRNb8FwKy6PQFXBnx8FLqVcTH37JMIX7/AIWHy7ig+Ju3/\n"
	"03LeKHOd76O7lkuN9xPSrUSNT+zLBJ/K4At1LiQ0GmHChwksN4QXbZYLRpjEQYwB\n"
	"AXPK+cwf3e+lDlgKvu32u+6sVTWvc8Lvchh0mfY7jNvoQxdj0OhY9EUcXF6zh59u\n"
	"E0cvBbyneaSuwDKM99f35FP/Qqo/2lvIlZDJLNIudwKBgQDo27TIlRCsTictFyfP\n"
	"6jZ38KLzJLr4nqhSD3kLHvw2cY/qSd3NTmsURnOmS9KYrWwwDkBiB/kFjAcJ+VuV\n"
	"6n06C9JULpQlkyYYg87K9smEU104oas9XPtHWD7Vh3t3u4JIC7S6jEtwBQJ//YHL\n"
	"tGixNwKdiiXLit5hEs2WKie7iwKBgQC1S47UO+mYkU/ctrn+I/e7RmPAoGGQXmmn\n"
	"jH8M+TfH8OReJVX7iIARyYgiZXkT2wstC5OTgENcQFea7HD/a3ejPAuxxLssEDQo\n"
	"BOL6zGzakJaNWdfBdZTrX77/1RX3uF4idnFkrq3cW05pYSej15hfjFv+8Z1h8LAy\n"
	"cKJ6aravlwKBgQDJrSgppXl4UoP5uJlhqQ+d18u53LEXDYro77+9UwvMN5UWrP0u\n"
	"iOGTAOW/POJcG6+c+2rlvNP/6uRZzh91e08UTBLRmDn1RTn0d4xOG2ozcmRF3TfL\n"
	"gNGdXB+nnpzf+YX/0iuoekQH9D7TDYQyIsGd4vAf8/uCC3dJChkHGuGouwKBgF/i\n"
	"tIofne7pfBm6MyjtEQtlsUCiErful2bcch4EebIwADii+pTsnv/JXU0D6kPMKF8M\n"
	"rmLnBbl29l6kCyesSTx2d6Dv8ibd8xfvbbVEBZabvmTITcquS7MpkrVwmAvK4U7M\n"
	"4jBkCuRvDkvB7NtFHfv7GnT+iUTRrf8ff2/LnQ/FAoGBAK30M5eWADqE5HmFJxKe\n"
	"tesB2Ie2rX7udVqteZNDsyna1MWXIfWf8PgQdV1kAWA+0F4LDtjHmhTWZ8wnKdzq\n"
	"l/mB++/8IVtMrOMXiue+yrxpvw8V4tHUeXH7SUpgwoOjRxEAps9zGeftRhNed/aq\n"
	"5b2J6MGKv2+d2bHG2J61vC8W\n"
	"-----END PRIVATE KEY-----\n";
/* public halves only: a request is refused for them before its signature
 * is looked at */
static const char rsa2048_e3_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEApwDjruVhGVjVlR946fLk\n"
	"5t7qyKMceUeJbDSae1ARq/S8bkg1OzyqiV4AF6vxUsO7+U3Ofqsr6XHtgspNSjCd\n"
	"Jdi7yThw1nKXA17z1/sNgDjXuq0I7/LHHEyhW5K+ft1OQmetSf4UH+RdcVdnSF5R\n"
	"cOzNaD9+eJLzc+lRf6wjYTS29BIX5UezHRwRIajLoDkdhZQ6eS1SJeu4zgFYiNmH\n"
	"RqsXqDk+Fo0Y5apXqUC0+hshCjTRj6DlXQJltWj39QYZVroM1AbNOOjXMbzbjdEK\n"
	"BDmL44QF0VxjugiUgoCQD0oKvarsq+L+U+Eej1CSyIwo+G6Rzj/kdohSmCRpRj1u\n"
	"dQIBAw==\n"
	"-----END PUBLIC KEY-----\n";
static const char rsa1024_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCqgbJNtaXF5mkKURPkv7AUyU5\n"
	"uFR/n82fYcbkEIxKcmGueCgU1eTrhTgzSCAeBFif8rp+zk6ixWdY+4h4GMHKVQR5\n"
	"fQ2JNb0wRyOdgDOewSRBD6+EMpHX7WuKAXuZeS0tOqGOYzDSE0zn7pUx5PF9m8cz\n"
	"0bPInquELgDNLqrqFwIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

static struct smz_err e;
static struct smz_policy pol;
static time_t now;

static int
has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static int
eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static int
load_policy(struct smz_policy *p, const char *text)
{
	char path[] = "/tmp/test-profile.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	int rc = smz_policy_load(path, p, &e);
	unlink(path);
	return rc;
}

#define BASE_POLICY                                                    \
	"[domains]\nallowed = example.com, .example.org\n"             \
	"[ca]\nname = Test\ncrl_url = http://crl.example.com/ca.crl\n" \
	"issuer_url = http://crl.example.com/ca.cer\n"                 \
	"[certificate]\norganization = Example Ltd\ncountry = DE\n"    \
	"organization_identifier = NTRDE-HRB12345\n"

static EVP_PKEY *
ec(const char *curve)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

static EVP_PKEY *
pem_key(const char *pem, int private)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = private ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
			      : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

/* ---- requests ---- */

struct req {
	EVP_PKEY *key;	  /* in the request */
	EVP_PKEY *signer; /* NULL: key */
	const char *san[20];
	const char *subj_email[3];
	const char *cn, *given, *surname;
	const char *ku; /* keyUsage asked for, e.g. "digitalSignature" */
	int other_name;
};

static int
req_der(const struct req *q, unsigned char **der, size_t *len)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	int ok_ = r && n && exts && gens;
	/* UTF8String directly: OpenSSL's table would refuse an empty name,
	 * which a hostile request may well carry */
	const char *names[] = {q->cn, q->given, q->surname};
	const int nids[] = {NID_commonName, NID_givenName, NID_surname};
	for (int i = 0; i < 3; i++)
		if (names[i])
			ok_ = ok_ && X509_NAME_add_entry_by_NID(n, nids[i], V_ASN1_UTF8STRING,
								(const unsigned char *)names[i], -1,
								-1, 0);
	for (int i = 0; q->subj_email[i]; i++)
		ok_ = ok_ && X509_NAME_add_entry_by_NID(n, NID_pkcs9_emailAddress, MBSTRING_ASC,
							(const unsigned char *)q->subj_email[i], -1,
							-1, 0);
	for (int i = 0; ok_ && q->san[i]; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		ASN1_STRING_set(s, q->san[i], -1);
		GENERAL_NAME_set0_value(g, GEN_EMAIL, s);
		sk_GENERAL_NAME_push(gens, g);
	}
	if (ok_ && q->other_name) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_TYPE *v = ASN1_TYPE_new();
		ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
		ASN1_STRING_set(u, "j\xc3\xb6rg@example.com", -1);
		ASN1_TYPE_set(v, V_ASN1_UTF8STRING, u);
		GENERAL_NAME_set0_othername(g, OBJ_txt2obj("1.3.6.1.5.5.7.8.9", 1), v);
		sk_GENERAL_NAME_push(gens, g);
	}
	if (ok_ && sk_GENERAL_NAME_num(gens) > 0) {
		X509_EXTENSION *x = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
		ok_ = x && sk_X509_EXTENSION_push(exts, x);
	}
	if (ok_ && q->ku) {
		char v[128];
		snprintf(v, sizeof v, "critical,%s", q->ku);
		X509_EXTENSION *x = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, v);
		ok_ = x && sk_X509_EXTENSION_push(exts, x);
	}
	EVP_PKEY *signer = q->signer ? q->signer : q->key;
	ok_ = ok_ && X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, q->key) &&
	      (sk_X509_EXTENSION_num(exts) == 0 || X509_REQ_add_extensions(r, exts)) &&
	      X509_REQ_sign(r, signer, EVP_sha256()) > 0;
	int l = ok_ ? i2d_X509_REQ(r, der) : -1;
	*len = l > 0 ? (size_t)l : 0;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(n);
	X509_REQ_free(r);
	return l > 0 ? 0 : -1;
}

/* smz_csr_check on the request q; 0 or the code, e has the message. */
static int
check(const struct smz_policy *p, const struct req *q, struct smz_csr_info *ci)
{
	unsigned char *der = NULL;
	size_t len;
	memset(&e, 0, sizeof e);
	if (req_der(q, &der, &len) < 0) {
		ERR_print_errors_fp(stdout);
		return 1;
	}
	int rc = smz_csr_check(der, len, p, ci, &e);
	OPENSSL_free(der);
	return rc;
}

/* Only the message: the request is refused, ci left empty. */
static int
refused(const struct smz_policy *p, const struct req *q, const char *msg)
{
	struct smz_csr_info ci;
	int rc = check(p, q, &ci);
	int empty = ci.req == NULL && ci.naddr == 0;
	if (rc == 0)
		smz_csr_info_free(&ci);
	if (rc != SMZ_ERR_DATA || strcmp(e.msg, msg) != 0 || !empty) {
		printf("#   rc %d, message \"%s\"\n#   expected \"%s\"\n", rc, e.msg, msg);
		return 0;
	}
	return 1;
}

static void
requests(EVP_PKEY *p256, EVP_PKEY *rsa)
{
	struct smz_csr_info ci;
	struct req q = {.key = p256,
			.san = {"Ann.One@EXAMPLE.com"},
			.cn = "Ann One",
			.given = "Ann",
			.surname = "One"};
	ok(check(&pol, &q, &ci) == 0, "a P-256 request passes: %s", e.msg);
	is_str(ci.alg, "ec-p256", "its algorithm");
	ok(ci.naddr == 1, "one address");
	is_str(ci.addresses[0], "Ann.One@example.com", "normalised: domain lowered");
	is_str(ci.cn, "Ann One", "common name");
	is_str(ci.given, "Ann", "given name");
	is_str(ci.surname, "One", "surname");
	is_str(ci.usage, "dual", "dual use under a dual policy");
	unsigned char id[SMZ_KEYID_LEN];
	ok(smz_key_id(p256, id) == 0 && memcmp(id, ci.key_id, sizeof id) == 0,
	   "key id: SHA-256 of the SubjectPublicKeyInfo");
	smz_csr_info_free(&ci);
	ok(ci.req == NULL && ci.naddr == 0 && ci.cn == NULL, "info freed and cleared");

	/* the production request builder's output passes too */
	unsigned char *der = NULL, kid[SMZ_KEYID_LEN];
	size_t len;
	struct smz_csr_subject s = {.address = "bea@example.com", .common_name = "Bea"};
	ok(smz_csr_build(p256, &s, &der, &len, kid, &e) == 0 &&
		   smz_csr_check(der, len, &pol, &ci, &e) == 0,
	   "smz_csr_build's request passes");
	ok(ci.naddr == 1 && strcmp(ci.addresses[0], "bea@example.com") == 0 &&
		   memcmp(kid, ci.key_id, sizeof kid) == 0,
	   "the address once (SAN and emailAddress agree), the same key id");
	smz_csr_info_free(&ci);
	der[len - 1] ^= 1;
	ok(smz_csr_check(der, len, &pol, &ci, &e) == SMZ_ERR_DATA, "a flipped signature bit");
	is_str(e.msg, "bad signature: no proof of possession of the key", "no proof");
	der[len - 1] ^= 1;
	ok(smz_csr_check(der, len - 1, &pol, &ci, &e) == SMZ_ERR_DATA &&
		   strcmp(e.msg, "not a PKCS#10 request (damaged or truncated DER)") == 0,
	   "a truncated request");
	unsigned char *more = malloc(len + 1);
	memcpy(more, der, len);
	more[len] = 0;
	ok(smz_csr_check(more, len + 1, &pol, &ci, &e) == SMZ_ERR_DATA &&
		   strcmp(e.msg, "not a PKCS#10 request (damaged or truncated DER)") == 0,
	   "a byte after the request");
	ok(smz_csr_check((const unsigned char *)"", 0, &pol, &ci, &e) == SMZ_ERR_DATA,
	   "nothing at all");
	free(more);
	OPENSSL_free(der);

	EVP_PKEY *p384 = ec("P-384"), *p521 = ec("P-521"),
		 *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct req r384 = {.key = p384, .san = {"a@example.com"}};
	ok(check(&pol, &r384, &ci) == 0 && strcmp(ci.alg, "ec-p384") == 0, "P-384: ec-p384");
	smz_csr_info_free(&ci);
	struct req rr = {.key = rsa, .san = {"a@example.com"}};
	ok(check(&pol, &rr, &ci) == 0 && strcmp(ci.alg, "rsa-2048") == 0, "RSA: rsa-2048");
	smz_csr_info_free(&ci);
	EVP_PKEY *e3 = pem_key(rsa2048_e3_pub, 0), *small = pem_key(rsa1024_pub, 0);
	struct req bad = {.key = e3, .signer = p256, .san = {"a@example.com"}};
	ok(refused(&pol, &bad, "RSA public exponent is not 65537"), "RSA with e = 3");
	bad.key = small;
	ok(refused(&pol, &bad, "RSA key of 1024 bits (need 2048 to 8192, a multiple of 8)"),
	   "RSA-1024");
	bad.key = p521;
	ok(refused(&pol, &bad, "unsupported key type EC (RSA, EC P-256 or P-384 only)"), "P-521");
	bad.key = ed;
	ok(refused(&pol, &bad, "unsupported key type ED25519 (RSA, EC P-256 or P-384 only)"),
	   "Ed25519");
	EVP_PKEY *explicit = EVP_PKEY_dup(p256);
	ok(explicit && EVP_PKEY_set_utf8_string_param(explicit, OSSL_PKEY_PARAM_EC_ENCODING,
						      OSSL_PKEY_EC_ENCODING_EXPLICIT),
	   "a P-256 key with explicit curve parameters");
	bad.key = explicit;
	bad.signer = p256;
	ok(refused(&pol, &bad, "EC key with explicit parameters (a named curve is required)"),
	   "is refused");
	bad.key = p256;
	bad.signer = ec("P-256");
	ok(refused(&pol, &bad, "bad signature: no proof of possession of the key"),
	   "a request signed by another key");
	EVP_PKEY_free(bad.signer);
	EVP_PKEY_free(explicit);
	EVP_PKEY_free(e3);
	EVP_PKEY_free(small);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(ed);

	/* addresses */
	struct req a = {.key = p256,
			.san = {"ann@example.com", "Ann@mail.example.org", "ANN@Example.com"},
			.subj_email = {"ann@EXAMPLE.COM"}};
	ok(check(&pol, &a, &ci) == 0 && ci.naddr == 2, "addresses from SAN and subject (%zu)",
	   ci.naddr);
	ok(ci.naddr == 2 && strcmp(ci.addresses[0], "ann@example.com") == 0 &&
		   strcmp(ci.addresses[1], "Ann@mail.example.org") == 0,
	   "in order, repeats (by the policy's local-part rule) dropped");
	smz_csr_info_free(&ci);
	struct req sub = {.key = p256, .subj_email = {"cid@example.com"}};
	ok(check(&pol, &sub, &ci) == 0 && ci.naddr == 1 &&
		   strcmp(ci.addresses[0], "cid@example.com") == 0,
	   "an emailAddress alone is an address");
	smz_csr_info_free(&ci);
	struct req evil = {.key = p256, .san = {"ann@example.com", "x@Evil.Example"}};
	ok(refused(&pol, &evil,
		   "x@evil.example: domain evil.example is not allowed by policy (a request "
		   "in another organisation's name)"),
	   "one address outside the policy refuses the request");
	struct req evil2 = {.key = p256,
			    .san = {"ann@example.com"},
			    .subj_email = {"x@evil.example"}};
	ok(refused(&pol, &evil2,
		   "x@evil.example: domain evil.example is not allowed by policy (a request "
		   "in another organisation's name)"),
	   "in the subject too");
	struct req sd = {.key = p256, .san = {"x@sub.example.com"}};
	ok(refused(&pol, &sd,
		   "x@sub.example.com: domain sub.example.com is not allowed by policy (a "
		   "request in another organisation's name)"),
	   "example.com does not allow its subdomains");
	struct req none = {.key = p256, .cn = "Nobody"};
	ok(refused(&pol, &none, "no mail address in the request"), "no address");
	struct req junk = {.key = p256, .san = {"not-an-address"}};
	ok(check(&pol, &junk, &ci) == SMZ_ERR_DATA && has(e.msg, "no '@'"), "not an address: %s",
	   e.msg);
	struct req on = {.key = p256, .san = {"a@example.com"}, .other_name = 1};
	ok(refused(&pol, &on,
		   "otherName (e.g. SmtpUTF8Mailbox) in the request is not supported yet"),
	   "an otherName");
	struct req many = {.key = p256};
	char addrs[17][32];
	for (int i = 0; i < 17; i++) {
		snprintf(addrs[i], sizeof addrs[i], "u%d@example.com", i);
		many.san[i] = addrs[i];
	}
	ok(refused(&pol, &many, "more than 16 mail addresses"), "17 addresses");
	many.san[16] = NULL;
	ok(check(&pol, &many, &ci) == 0 && ci.naddr == 16, "16 are fine");
	smz_csr_info_free(&ci);

	/* keyUsage: the policy decides; under split the request picks a half */
	struct req ku = {.key = p256, .san = {"a@example.com"}, .ku = "digitalSignature"};
	ok(check(&pol, &ku, &ci) == 0 && strcmp(ci.usage, "dual") == 0,
	   "a dual policy ignores the keyUsage asked for");
	smz_csr_info_free(&ci);
	struct smz_policy split;
	ok(load_policy(&split, BASE_POLICY "[keys]\nusage = split\n") == 0, "a split policy");
	ok(check(&split, &ku, &ci) == 0 && strcmp(ci.usage, "sign") == 0,
	   "digitalSignature: the signing half");
	smz_csr_info_free(&ci);
	ku.ku = "keyAgreement";
	ok(check(&split, &ku, &ci) == 0 && strcmp(ci.usage, "encrypt") == 0,
	   "keyAgreement: the encryption half");
	smz_csr_info_free(&ci);
	struct req kurs = {.key = rsa, .san = {"a@example.com"}, .ku = "keyEncipherment"};
	ok(check(&split, &kurs, &ci) == 0 && strcmp(ci.usage, "encrypt") == 0,
	   "keyEncipherment (RSA): the encryption half");
	smz_csr_info_free(&ci);
	const char *msg = "policy usage = split: the request must ask for either signing or "
			  "encryption (keyUsage)";
	ku.ku = "digitalSignature,keyAgreement";
	ok(refused(&split, &ku, msg), "both halves at once are refused");
	ku.ku = NULL;
	ok(refused(&split, &ku, msg), "so is no keyUsage");
	ku.ku = "nonRepudiation";
	ok(refused(&split, &ku, msg), "and neither half");
	smz_policy_free(&split);

	/* sponsor-validated: the person's names are required */
	struct smz_policy sp;
	ok(load_policy(&sp, BASE_POLICY "[certificate]\nprofile = sponsor-strict\n") == 0,
	   "a sponsor policy");
	const char *need = "a sponsor-validated certificate needs givenName and surname in the "
			   "request";
	struct req who = {.key = p256, .san = {"a@example.com"}, .given = "Ann", .surname = "One"};
	ok(check(&sp, &who, &ci) == 0, "given name and surname: passes");
	smz_csr_info_free(&ci);
	who.surname = NULL;
	ok(refused(&sp, &who, need), "without a surname: refused");
	who.surname = "One";
	who.given = NULL;
	ok(refused(&sp, &who, need), "without a given name: refused");
	who.given = "";
	ok(refused(&sp, &who, need), "with an empty given name: refused");
	who.given = "Ann";
	who.surname = "";
	ok(refused(&sp, &who, need), "with an empty surname: refused");
	smz_policy_free(&sp);
}

/* ---- reading certificates back ---- */

static char *
name_get(const X509_NAME *n, int nid)
{
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	unsigned char *u = NULL;
	int l = i < 0 ? -1
		      : ASN1_STRING_to_UTF8(&u,
					    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	static char buf[512];
	snprintf(buf, sizeof buf, "%.*s", l > 0 ? l : 0, l > 0 ? (char *)u : "");
	OPENSSL_free(u);
	return l >= 0 ? buf : NULL;
}

static int
critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* The certificate policies as "oid oid ...". */
static const char *
policy_oids(X509 *x)
{
	static char buf[512];
	CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	buf[0] = 0;
	for (int i = 0; i < sk_POLICYINFO_num(cp); i++) {
		char o[64];
		POLICYINFO *pi = sk_POLICYINFO_value(cp, i);
		OBJ_obj2txt(o, sizeof o, pi->policyid, 1);
		if (pi->qualifiers)
			strcat(o, "+qualifiers");
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "", o);
	}
	CERTIFICATEPOLICIES_free(cp);
	return buf;
}

static const char *
ekus(X509 *x)
{
	static char buf[256];
	EXTENDED_KEY_USAGE *ek = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	buf[0] = 0;
	for (int i = 0; i < sk_ASN1_OBJECT_num(ek); i++)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "",
			 OBJ_nid2sn(OBJ_obj2nid(sk_ASN1_OBJECT_value(ek, i))));
	sk_ASN1_OBJECT_pop_free(ek, ASN1_OBJECT_free);
	return buf;
}

/* Names of one type in a GENERAL_NAMES extension (SAN, name constraints'
 * permitted subtrees) as "a b c". */
static const char *
emails(X509 *x, int nid)
{
	static char buf[2048];
	buf[0] = 0;
	if (nid == NID_subject_alt_name) {
		GENERAL_NAMES *g = X509_get_ext_d2i(x, nid, NULL, NULL);
		for (int i = 0; i < sk_GENERAL_NAME_num(g); i++) {
			GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s",
				 buf[0] ? " " : "",
				 n->type == GEN_EMAIL
					 ? (const char *)ASN1_STRING_get0_data(n->d.rfc822Name)
					 : "?");
		}
		GENERAL_NAMES_free(g);
	} else {
		NAME_CONSTRAINTS *nc = X509_get_ext_d2i(x, nid, NULL, NULL);
		for (int i = 0; nc && i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
			GENERAL_NAME *n = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s",
				 buf[0] ? " " : "",
				 n->type == GEN_EMAIL
					 ? (const char *)ASN1_STRING_get0_data(n->d.rfc822Name)
					 : "?");
		}
		if (nc && nc->excludedSubtrees)
			strcat(buf, " +excluded");
		NAME_CONSTRAINTS_free(nc);
	}
	return buf;
}

static const char *
uri_of(X509 *x, int nid)
{
	static char buf[512];
	buf[0] = 0;
	if (nid == NID_crl_distribution_points) {
		CRL_DIST_POINTS *d = X509_get_ext_d2i(x, nid, NULL, NULL);
		if (sk_DIST_POINT_num(d) == 1) {
			DIST_POINT *dp = sk_DIST_POINT_value(d, 0);
			GENERAL_NAMES *fn = dp->distpoint ? dp->distpoint->name.fullname : NULL;
			GENERAL_NAME *g = sk_GENERAL_NAME_num(fn) == 1
						  ? sk_GENERAL_NAME_value(fn, 0)
						  : NULL;
			if (g && g->type == GEN_URI)
				snprintf(buf, sizeof buf, "%s",
					 ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
		}
		CRL_DIST_POINTS_free(d);
	} else {
		AUTHORITY_INFO_ACCESS *a = X509_get_ext_d2i(x, nid, NULL, NULL);
		if (sk_ACCESS_DESCRIPTION_num(a) == 1) {
			ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(a, 0);
			if (OBJ_obj2nid(ad->method) == NID_ad_ca_issuers &&
			    ad->location->type == GEN_URI)
				snprintf(buf, sizeof buf, "%s",
					 ASN1_STRING_get0_data(
						 ad->location->d.uniformResourceIdentifier));
		}
		AUTHORITY_INFO_ACCESS_free(a);
	}
	return buf;
}

/* Seconds from t to the certificate's notBefore (which 0) or notAfter. */
static long long
offset(X509 *x, int which, time_t t)
{
	int d = 0, s = 0;
	ASN1_TIME *at = ASN1_TIME_set(NULL, t);
	ASN1_TIME_diff(&d, &s, at, which ? X509_get0_notAfter(x) : X509_get0_notBefore(x));
	ASN1_TIME_free(at);
	return (long long)d * 86400 + s;
}

/* OpenSSL's verifier: leaf under issuing under root, S/MIME, strict. */
static int
chain_ok(X509 *root, X509 *issuing, X509 *leaf, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *c = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, issuing);
	X509_STORE_add_cert(st, root);
	int r = X509_STORE_CTX_init(c, st, leaf, untrusted);
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(c);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT | X509_V_FLAG_POLICY_CHECK);
	X509_VERIFY_PARAM_set_time(vp, now + 60);
	X509_VERIFY_PARAM_set_purpose(vp, purpose);
	r = r && X509_verify_cert(c) == 1;
	if (!r)
		printf("#   verify: %s\n",
		       X509_verify_cert_error_string(X509_STORE_CTX_get_error(c)));
	X509_STORE_CTX_free(c);
	X509_STORE_free(st);
	sk_X509_free(untrusted);
	return r;
}

/* The certificate as it leaves the CA: encoded, and read back (the X509
 * smz_profile_build returns has the request's key as bytes only, not
 * decoded, which OpenSSL's verifier needs). */
static X509 *
reparse(X509 *x)
{
	unsigned char *der = NULL;
	int l = x ? i2d_X509(x, &der) : -1;
	const unsigned char *q = der;
	X509 *y = l > 0 ? d2i_X509(NULL, &q, l) : NULL;
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

/* ---- the CA ---- */

static void
cas(EVP_PKEY *root_key, EVP_PKEY *ca_key, X509 **root, X509 **issuing)
{
	ok(smz_profile_root(&pol, root_key, now, root, &e) == 0, "a root: %s", e.msg);
	X509 *r = *root;
	is_str(name_get(X509_get_subject_name(r), NID_commonName), "Test Root CA", "root CN");
	is_str(name_get(X509_get_subject_name(r), NID_organizationName), "Example Ltd", "root O");
	is_str(name_get(X509_get_subject_name(r), NID_countryName), "DE", "root C");
	ok(X509_NAME_cmp(X509_get_subject_name(r), X509_get_issuer_name(r)) == 0 &&
		   X509_verify(r, root_key) == 1,
	   "self-signed");
	ok(X509_get_version(r) == 2, "v3");
	ok(critical(r, NID_basic_constraints) == 1 && X509_check_ca(r) == 1 &&
		   X509_get_pathlen(r) == -1,
	   "basicConstraints critical, CA, no path length");
	ok(critical(r, NID_key_usage) == 1 &&
		   X509_get_key_usage(r) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN),
	   "keyUsage critical: keyCertSign, cRLSign");
	ok(critical(r, NID_subject_key_identifier) == 0, "a subject key identifier");
	ok(critical(r, NID_ext_key_usage) == -1 && critical(r, NID_name_constraints) == -1 &&
		   critical(r, NID_certificate_policies) == -1,
	   "no EKU, name constraints or policies on the root");
	ok(offset(r, 0, now) == 0 && offset(r, 1, now) == 7300LL * 86400,
	   "valid from now for root_days (7300 by default)");
	const ASN1_INTEGER *sn = X509_get0_serialNumber(r);
	ok(ASN1_STRING_length(sn) == SMZ_SERIAL_LEN && sn->type == V_ASN1_INTEGER,
	   "a positive 20-octet serial");

	ok(smz_profile_issuing(&pol, r, root_key, ca_key, now, issuing, &e) == 0,
	   "an issuing CA: %s", e.msg);
	X509 *i = *issuing;
	is_str(name_get(X509_get_subject_name(i), NID_commonName), "Test S/MIME Issuing CA",
	       "issuing CN");
	ok(X509_NAME_cmp(X509_get_issuer_name(i), X509_get_subject_name(r)) == 0 &&
		   X509_verify(i, root_key) == 1 && X509_check_issued(r, i) == X509_V_OK,
	   "issued and signed by the root (AKI matches)");
	ok(X509_check_ca(i) == 1 && X509_get_pathlen(i) == 0 &&
		   critical(i, NID_basic_constraints) == 1,
	   "a CA with path length 0");
	ok(X509_get_key_usage(i) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN) &&
		   critical(i, NID_key_usage) == 1,
	   "keyCertSign, cRLSign, critical");
	is_str(ekus(i), "emailProtection", "EKU: emailProtection only");
	is_str(policy_oids(i),
	       "2.23.140.1.5.1.3 2.23.140.1.5.1.2 2.23.140.1.5.3.3 2.23.140.1.5.3.2",
	       "all four S/MIME BR policies, no qualifiers");
	ok(critical(i, NID_name_constraints) == 1, "name constraints critical by default");
	is_str(emails(i, NID_name_constraints), "example.com example.org .example.org",
	       "permitted: each domain, a .domain with itself and its subdomains");
	ok(offset(i, 1, now) == 1825LL * 86400, "issuing_days (1825 by default)");
	ok(X509_get_signature_nid(i) == NID_ecdsa_with_SHA256,
	   "signed with SHA-256 by a P-256 root");
}

static void
ca_variants(EVP_PKEY *root_key, EVP_PKEY *ca_key, X509 *root)
{
	struct smz_policy p;
	X509 *x = NULL;
	ok(load_policy(&p, BASE_POLICY "[ca]\nname_constraints = noncritical\n") == 0 &&
		   smz_profile_issuing(&p, root, root_key, ca_key, now, &x, &e) == 0 &&
		   critical(x, NID_name_constraints) == 0 &&
		   strcmp(emails(x, NID_name_constraints),
			  "example.com example.org .example.org") == 0,
	   "name_constraints = noncritical: the same, not critical");
	X509_free(x);
	x = NULL;
	smz_policy_free(&p);
	ok(load_policy(&p, BASE_POLICY "[ca]\nname_constraints = none\n") == 0 &&
		   smz_profile_issuing(&p, root, root_key, ca_key, now, &x, &e) == 0 &&
		   critical(x, NID_name_constraints) == -1,
	   "name_constraints = none: no extension");
	X509_free(x);
	x = NULL;
	smz_policy_free(&p);
	ok(load_policy(&p, "[ca]\nname = T\n") == 0 &&
		   smz_profile_issuing(&p, root, root_key, ca_key, now, &x, &e) == SMZ_ERR_CONFIG &&
		   x == NULL,
	   "no domains: no issuing CA");
	is_str(e.msg,
	       "the policy has no [domains] allowed: the issuing CA would not be constrained",
	       "and why");
	ok(load_policy(&p, "[ca]\nname = T\nname_constraints = none\n") == 0 &&
		   smz_profile_issuing(&p, root, root_key, ca_key, now, &x, &e) == 0,
	   "unless it is meant to be unconstrained");
	X509_free(x);
	x = NULL;
	ok(load_policy(&p, BASE_POLICY "[ca]\nroot_days = 30\nissuing_days = 400\n") == 0,
	   "a root of 30 days");
	X509 *r30 = NULL;
	ok(smz_profile_root(&p, root_key, now, &r30, &e) == 0 &&
		   smz_profile_issuing(&p, r30, root_key, ca_key, now, &x, &e) == 0 &&
		   offset(r30, 1, now) == 30LL * 86400 && offset(x, 1, now) == 30LL * 86400,
	   "the issuing CA never outlives its root");
	X509_free(x);
	X509_free(r30);
	x = NULL;
	smz_policy_free(&p);
	EVP_PKEY *p384 = ec("P-384");
	ok(smz_profile_root(&pol, p384, now, &x, &e) == 0 &&
		   X509_get_signature_nid(x) == NID_ecdsa_with_SHA384,
	   "a P-384 root signs with SHA-384");
	X509_free(x);
	EVP_PKEY_free(p384);
}

/* ---- subscriber certificates ---- */

static X509 *
issue(const struct smz_policy *p, X509 *ca, EVP_PKEY *ca_key, const struct req *q,
      const unsigned char *serial, int *rc)
{
	struct smz_csr_info ci;
	X509 *x = NULL;
	*rc = check(p, q, &ci);
	if (*rc == 0) {
		memset(&e, 0, sizeof e);
		*rc = smz_profile_build(p, ca, ca_key, &ci, serial, now, &x, &e);
		smz_csr_info_free(&ci);
	}
	return reparse(x);
}

static void
subscribers(EVP_PKEY *p256, EVP_PKEY *rsa, X509 *root, EVP_PKEY *root_key, X509 *ca,
	    EVP_PKEY *ca_key)
{
	unsigned char serial[SMZ_SERIAL_LEN];
	int rc;
	ok(smz_profile_serial(serial) == 0, "a serial");
	struct req q = {.key = p256,
			.san = {"Ann.One@example.com", "ann@mail.example.org"},
			.cn = "x"};
	X509 *x = issue(&pol, ca, ca_key, &q, serial, &rc);
	ok(rc == 0 && x, "mailbox-strict, P-256: issued (%s)", e.msg);
	if (!x)
		return;
	ok(X509_get_version(x) == 2, "v3");
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	ok(ASN1_STRING_length(sn) == SMZ_SERIAL_LEN &&
		   memcmp(ASN1_STRING_get0_data(sn), serial, SMZ_SERIAL_LEN) == 0,
	   "the serial given");
	ok(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) == 0 &&
		   X509_verify(x, ca_key) == 1,
	   "issued and signed by the CA");
	X509_NAME *s = X509_get_subject_name(x);
	ok(X509_NAME_entry_count(s) == 2, "subject: two attributes");
	is_str(name_get(s, NID_commonName), "Ann.One@example.com",
	       "CN is the first mailbox, not the request's CN");
	is_str(name_get(s, NID_pkcs9_emailAddress), "Ann.One@example.com", "and emailAddress");
	is_str(emails(x, NID_subject_alt_name), "Ann.One@example.com ann@mail.example.org",
	       "SAN: every address, in order");
	ok(critical(x, NID_subject_alt_name) == 0, "SAN not critical with a subject");
	ok(critical(x, NID_basic_constraints) == 1 && X509_check_ca(x) == 0,
	   "basicConstraints critical, not a CA");
	ok(critical(x, NID_key_usage) == 1 &&
		   X509_get_key_usage(x) == (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT),
	   "EC dual: digitalSignature, keyAgreement, critical");
	is_str(ekus(x), "emailProtection", "EKU: emailProtection only");
	ok(critical(x, NID_ext_key_usage) == 0, "not critical");
	is_str(policy_oids(x), "2.23.140.1.5.1.3", "mailbox-validated strict policy");
	is_str(uri_of(x, NID_crl_distribution_points), "http://crl.example.com/ca.crl",
	       "CRL distribution point");
	is_str(uri_of(x, NID_info_access), "http://crl.example.com/ca.cer", "caIssuers");
	ok(X509_get0_authority_key_id(x) && X509_get0_subject_key_id(x) &&
		   ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
					 X509_get0_subject_key_id(ca)) == 0 &&
		   X509_check_issued(ca, x) == X509_V_OK,
	   "AKI is the CA's key, SKI present");
	ok(critical(x, NID_SMIMECapabilities) == 0, "S/MIME capabilities");
	ok(offset(x, 0, now) == 0 && offset(x, 1, now) == 730LL * 86400,
	   "valid from now for validity_days (730 by default)");
	ok(EVP_PKEY_eq(X509_get0_pubkey(x), p256) == 1, "the request's key");
	/* (OpenSSL's S/MIME encryption purpose wants keyEncipherment, which
	 * an EC key has not: checked with RSA below) */
	ok(chain_ok(root, ca, x, X509_PURPOSE_SMIME_SIGN),
	   "OpenSSL verifies the chain for S/MIME signing, strictly, with policy checks");
	X509_free(x);

	/* key usages by key type and split half */
	struct {
		EVP_PKEY *key;
		const char *ku, *split;
		uint32_t want;
		const char *what;
		int purpose, purpose2; /* that OpenSSL's verifier checks, 0: none */
	} kus[] = {
		{rsa, NULL, NULL, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, "RSA dual",
		 X509_PURPOSE_SMIME_SIGN, X509_PURPOSE_SMIME_ENCRYPT},
		{p256, "digitalSignature", "split", KU_DIGITAL_SIGNATURE, "EC signing half",
		 X509_PURPOSE_SMIME_SIGN, 0},
		{p256, "keyAgreement", "split", KU_KEY_AGREEMENT, "EC encryption half", 0, 0},
		{rsa, "digitalSignature", "split", KU_DIGITAL_SIGNATURE, "RSA signing half",
		 X509_PURPOSE_SMIME_SIGN, 0},
		{rsa, "keyEncipherment", "split", KU_KEY_ENCIPHERMENT, "RSA encryption half",
		 X509_PURPOSE_SMIME_ENCRYPT, 0},
		{rsa, "keyAgreement,keyEncipherment", "split", KU_KEY_ENCIPHERMENT,
		 "RSA encryption half asking for more", 0, 0},
		{p256, "digitalSignature", NULL, KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT,
		 "EC dual, asking for signing only", 0, 0},
	};
	for (size_t i = 0; i < sizeof kus / sizeof kus[0]; i++) {
		struct smz_policy p;
		load_policy(&p, kus[i].split ? BASE_POLICY "[keys]\nusage = split\n" : BASE_POLICY);
		struct req k = {.key = kus[i].key, .san = {"a@example.com"}, .ku = kus[i].ku};
		x = issue(&p, ca, ca_key, &k, serial, &rc);
		ok(rc == 0 && x && X509_get_key_usage(x) == kus[i].want &&
			   critical(x, NID_key_usage) == 1,
		   "%s: keyUsage %#x (%s)", kus[i].what, x ? X509_get_key_usage(x) : 0, e.msg);
		if (x && kus[i].purpose)
			ok(chain_ok(root, ca, x, kus[i].purpose) &&
				   (!kus[i].purpose2 || chain_ok(root, ca, x, kus[i].purpose2)),
			   "%s: OpenSSL verifies it for its S/MIME purpose", kus[i].what);
		X509_free(x);
		smz_policy_free(&p);
	}

	/* the other profiles */
	struct {
		const char *profile, *oid;
	} profs[] = {
		{"mailbox-multipurpose", "2.23.140.1.5.1.2"},
		{"sponsor-strict", "2.23.140.1.5.3.3"},
		{"sponsor-multipurpose", "2.23.140.1.5.3.2"},
	};
	struct req person = {.key = p256,
			     .san = {"ann@example.com"},
			     .cn = "ignored",
			     .given = "Zo\xc3\xab",
			     .surname = "M\xc3\xbcller"};
	for (size_t i = 0; i < 3; i++) {
		struct smz_policy p;
		char text[1024];
		snprintf(text, sizeof text, BASE_POLICY "[certificate]\nprofile = %s\n",
			 profs[i].profile);
		load_policy(&p, text);
		x = issue(&p, ca, ca_key, &person, serial, &rc);
		ok(rc == 0 && x && strcmp(policy_oids(x), profs[i].oid) == 0, "%s: policy %s",
		   profs[i].profile, x ? policy_oids(x) : e.msg);
		if (x && profs[i].profile[0] == 's') {
			s = X509_get_subject_name(x);
			ok(eq(name_get(s, NID_commonName), "Zo\xc3\xab M\xc3\xbcller") &&
				   eq(name_get(s, NID_givenName), "Zo\xc3\xab") &&
				   eq(name_get(s, NID_surname), "M\xc3\xbcller") &&
				   eq(name_get(s, NID_organizationName), "Example Ltd") &&
				   eq(name_get(s, NID_organizationIdentifier), "NTRDE-HRB12345") &&
				   eq(name_get(s, NID_countryName), "DE") &&
				   eq(name_get(s, NID_pkcs9_emailAddress), "ann@example.com") &&
				   X509_NAME_entry_count(s) == 7,
			   "%s: CN given surname, GN, SN, O, organizationIdentifier, C, email",
			   profs[i].profile);
		} else if (x) {
			ok(X509_NAME_entry_count(X509_get_subject_name(x)) == 2,
			   "%s: CN and emailAddress only, no names", profs[i].profile);
		}
		if (x)
			ok(chain_ok(root, ca, x, X509_PURPOSE_SMIME_SIGN), "%s: verifies",
			   profs[i].profile);
		X509_free(x);
		smz_policy_free(&p);
	}

	/* long names */
	struct smz_policy sp;
	load_policy(&sp, BASE_POLICY "[certificate]\nprofile = sponsor-strict\n");
	struct req longname = {.key = p256,
			       .san = {"ann@example.com"},
			       .given = "Annabelle-Josephine-Marguerite-Louise",
			       .surname = "Featherstonehaugh-Cholmondeley"};
	x = issue(&sp, ca, ca_key, &longname, serial, &rc);
	ok(x && eq(name_get(X509_get_subject_name(x), NID_commonName), "ann@example.com"),
	   "sponsor: \"given surname\" over 64 characters: CN is the mailbox");
	ok(x && eq(name_get(X509_get_subject_name(x), NID_givenName),
		   "Annabelle-Josephine-Marguerite-Louise"),
	   "the names stay in GN and SN");
	X509_free(x);
	smz_policy_free(&sp);
	char l80[100], l200[260];
	snprintf(l80, sizeof l80, "%.60s@mail.example.org",
		 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij");
	struct req lq = {.key = p256, .san = {l80}};
	x = issue(&pol, ca, ca_key, &lq, serial, &rc);
	ok(x && name_get(X509_get_subject_name(x), NID_commonName) == NULL &&
		   eq(name_get(X509_get_subject_name(x), NID_pkcs9_emailAddress), l80),
	   "a mailbox over 64 characters: no CN, emailAddress kept");
	X509_free(x);
	snprintf(l200, sizeof l200, "%.60s@%.60s.%.60s.example.org",
		 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij",
		 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij",
		 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij");
	lq.san[0] = l200;
	x = issue(&pol, ca, ca_key, &lq, serial, &rc);
	ok(x && X509_NAME_entry_count(X509_get_subject_name(x)) == 0 &&
		   critical(x, NID_subject_alt_name) == 1 &&
		   strcmp(emails(x, NID_subject_alt_name), l200) == 0,
	   "over 128: an empty subject, and the SAN critical (RFC 5280)");
	ok(x && chain_ok(root, ca, x, X509_PURPOSE_SMIME_SIGN), "and it verifies");
	X509_free(x);

	/* validity */
	struct smz_policy vp;
	load_policy(&vp, BASE_POLICY "[certificate]\nvalidity_days = 90\n");
	struct req v = {.key = p256, .san = {"a@example.com"}};
	x = issue(&vp, ca, ca_key, &v, serial, &rc);
	ok(x && offset(x, 1, now) == 90LL * 86400, "validity_days = 90");
	X509_free(x);
	smz_policy_free(&vp);
	X509 *short_ca = NULL;
	load_policy(&vp, BASE_POLICY "[ca]\nissuing_days = 30\n");
	ok(smz_profile_issuing(&vp, root, root_key, ca_key, now - 86400, &short_ca, &e) == 0,
	   "a CA with 29 days left");
	x = issue(&pol, short_ca, ca_key, &v, serial, &rc);
	ok(x && offset(x, 1, now) == 29LL * 86400 && offset(x, 0, now) == 0,
	   "a certificate never outlives its CA");
	X509_free(x);
	X509_free(short_ca);
	smz_policy_free(&vp);

	/* what the CA is constrained to, not only today's policy */
	load_policy(&vp, BASE_POLICY "[domains]\nallowed = other.example\n");
	struct req other = {.key = p256, .san = {"a@other.example"}};
	x = issue(&vp, ca, ca_key, &other, serial, &rc);
	ok(rc == SMZ_ERR_DATA && x == NULL, "a domain added to the policy after the CA");
	is_str(e.msg,
	       "a mailbox is outside the issuing CA's name constraints (re-create the CA after "
	       "changing [domains])",
	       "is refused, saying what to do");
	smz_policy_free(&vp);
	load_policy(&vp, "[domains]\nallowed = example.com\n");
	x = issue(&vp, ca, ca_key, &v, serial, &rc);
	ok(rc == SMZ_ERR_CONFIG && x == NULL, "a policy without URLs cannot issue");
	smz_policy_free(&vp);

	/* a P-384 CA signs with SHA-384 */
	EVP_PKEY *k384 = ec("P-384");
	X509 *ca384 = NULL;
	ok(smz_profile_issuing(&pol, root, root_key, k384, now, &ca384, &e) == 0, "a P-384 CA");
	x = issue(&pol, ca384, k384, &v, serial, &rc);
	ok(x && X509_get_signature_nid(x) == NID_ecdsa_with_SHA384 && X509_verify(x, k384) == 1,
	   "signs with SHA-384");
	X509_free(x);
	X509_free(ca384);
	EVP_PKEY_free(k384);
}

static void
small_things(EVP_PKEY *p256, EVP_PKEY *rsa)
{
	is_str(smz_profile_oid("mailbox-strict"), "2.23.140.1.5.1.3", "mailbox-strict OID");
	is_str(smz_profile_oid("mailbox-multipurpose"), "2.23.140.1.5.1.2",
	       "mailbox-multipurpose OID");
	is_str(smz_profile_oid("sponsor-strict"), "2.23.140.1.5.3.3", "sponsor-strict OID");
	is_str(smz_profile_oid("sponsor-multipurpose"), "2.23.140.1.5.3.2",
	       "sponsor-multipurpose OID");
	ok(smz_profile_oid("mailbox") == NULL && smz_profile_oid("") == NULL,
	   "no OID for other names");
	EVP_PKEY *p384 = ec("P-384");
	ok(smz_profile_md(p384) == EVP_sha384(), "P-384 signs with SHA-384");
	ok(smz_profile_md(p256) == EVP_sha256() && smz_profile_md(rsa) == EVP_sha256(),
	   "P-256 and RSA with SHA-256");
	EVP_PKEY_free(p384);

	int top = 1, differ = 0;
	unsigned char a[SMZ_SERIAL_LEN], b[SMZ_SERIAL_LEN];
	smz_profile_serial(b);
	for (int i = 0; i < 1000; i++) {
		smz_profile_serial(a);
		BIGNUM *bn = BN_bin2bn(a, sizeof a, NULL);
		top &= (a[0] & 0xc0) == 0x40 && BN_num_bits(bn) == 159;
		differ += memcmp(a, b, sizeof a) != 0;
		memcpy(b, a, sizeof a);
		BN_free(bn);
	}
	ok(top, "serials: 20 octets, positive, below 2^159, top octet never 0");
	ok(differ == 1000, "and random");

	struct smz_policy p;
	ok(smz_profile_check_policy(&pol, &e) == 0, "the test policy can issue");
	load_policy(&p, "[domains]\nallowed = example.com\n");
	ok(smz_profile_check_policy(&p, &e) == SMZ_ERR_CONFIG, "without URLs: no");
	is_str(e.msg,
	       "the policy needs [certificate] profile, [ca] crl_url and [ca] issuer_url to "
	       "issue certificates",
	       "naming the keys");
	smz_policy_free(&p);
	load_policy(&p, BASE_POLICY);
	p.issuer_url[0] = 0;
	ok(smz_profile_check_policy(&p, &e) == SMZ_ERR_CONFIG, "without the issuer URL: no");
	memcpy(p.issuer_url, pol.issuer_url, sizeof p.issuer_url);
	snprintf(p.profile, sizeof p.profile, "%s", "mailbox");
	ok(smz_profile_check_policy(&p, &e) == SMZ_ERR_CONFIG, "an unknown profile: no");
	snprintf(p.profile, sizeof p.profile, "%s", "sponsor-strict");
	p.organization[0] = 0;
	ok(smz_profile_check_policy(&p, &e) == SMZ_ERR_CONFIG, "sponsor without organization");
	is_str(e.msg, "sponsor-validated profiles need [certificate] organization and country",
	       "names both");
	memcpy(p.organization, pol.organization, sizeof p.organization);
	p.country[0] = 0;
	ok(smz_profile_check_policy(&p, &e) == SMZ_ERR_CONFIG, "sponsor without country");
	snprintf(p.profile, sizeof p.profile, "%s", "mailbox-strict");
	ok(smz_profile_check_policy(&p, &e) == 0, "mailbox needs neither");
	smz_policy_free(&p);
	load_policy(&p, "[ca]\ncrl_url = http://x.example/c\nissuer_url = http://x.example/i\n");
	ok(smz_profile_check_policy(&p, &e) == SMZ_ERR_CONFIG, "no domains: no");
	is_str(e.msg, "the policy has no [domains] allowed", "and why");
	smz_policy_free(&p);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	now = time(NULL);
	if (smz_prog_init("test-profile") < 0) {
		printf("Bail out! smz_prog_init\n");
		return 1;
	}
	EVP_PKEY *p256 = ec("P-256"), *rsa = pem_key(rsa2048_pem, 1);
	EVP_PKEY *root_key = ec("P-256"), *ca_key = ec("P-256");
	if (!p256 || !rsa || !root_key || !ca_key || load_policy(&pol, BASE_POLICY) != 0) {
		printf("Bail out! set up: %s\n", e.msg);
		return 1;
	}
	X509 *root = NULL, *ca = NULL;
	small_things(p256, rsa);
	requests(p256, rsa);
	cas(root_key, ca_key, &root, &ca);
	if (root && ca) {
		ca_variants(root_key, ca_key, root);
		subscribers(p256, rsa, root, root_key, ca, ca_key);
	}
	X509_free(root);
	X509_free(ca);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(ca_key);
	smz_policy_free(&pol);
	return done_testing();
}
