/* smime: sign, encrypt, decrypt and verify one message; see smime.h. */
#include "smime.h"
#include "addr.h"
#include "audit.h"
#include "keys.h"
#include "policy.h"
#include "vault.h"
#include "spool.h"
#include "mime.h"
#include "certpick.h"
#include "smime-int.h"

#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- declarations, by the file each part will move to ---- */

/* cms.h */
struct smz_smime;
struct smz_smime_key;
struct smz_mime_hdrs;

/* Sign the canonical entity in `in` into a new entity written to out->w:
 * multipart/signed, or application/pkcs7-mime with cfg.opaque. */
int smz_cms_sign(struct smz_smime *s, struct smz_smime_key *k, struct smz_spool *in,
		 struct smz_spool *out, struct smz_err *e);

/* Encrypt the entity in `in` to rcpt into an application/pkcs7-mime entity
 * written to out->w; what was done into what (no_self: the sender gets no
 * copy, for want of a certificate). */
int smz_cms_encrypt(struct smz_smime *s, STACK_OF(X509) * rcpt, int no_self, struct smz_spool *in,
		    struct smz_spool *out, char *what, size_t whatcap, struct smz_err *e);

/* A signature's verdict: "OK signer=..." or "FAIL tag: why". */
struct smz_cms_sig {
	int ok; /* 1 good, 0 failed */
	char line[900];
};

/* Verify one SignedData; content in dcont (detached) or inside; the signed
 * content goes to content_out (may be NULL).  0, or SMZ_ERR_VERIFY with
 * the reason in res. */
int smz_cms_verify(struct smz_smime *s, CMS_ContentInfo *cms, BIO *dcont, BIO *content_out,
		   const struct smz_mime_hdrs *h, struct smz_cms_sig *res, struct smz_err *e);

/* Decrypt an (Auth)EnvelopedData to out with a vaulted key in scope;
 * which key in used; mid for the audit entry. */
int smz_cms_decrypt(struct smz_smime *s, CMS_ContentInfo *cms, BIO *out, const char *mid,
		    char *used, size_t usedcap, struct smz_err *e);

/* A CMS structure from the DER in a sealed spool, or NULL. */
CMS_ContentInfo *smz_cms_read(struct smz_spool *sp);

/* cmsinfo.c: the content cipher of the enveloped CMS in der (a prefix
 * suffices), NID_undef when unreadable; and its name for status lines,
 * whether policy (SMZ_REFUSE_*) refuses it, and whether it is weak. */
int smz_cms_cipher(struct smz_spool *der);
const char *smz_cms_cipher_name(int nid, unsigned refuse, int *refused, int *weak);

/* ---- CMS: sign, encrypt, verify, decrypt ---- */

/* ---- sign ---- */

static void
boundary(char *out, size_t cap)
{
	unsigned char r[12];
	char hex[25];
	randombytes_buf(r, sizeof r);
	smz_hex(r, sizeof r, hex);
	snprintf(out, cap, "----=_smz_%s", hex);
}

static const char *
micalg(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha384:
		return "sha-384";
	case NID_sha512:
		return "sha-512";
	default:
		return "sha-256";
	}
}

/* Add our signer with an S/MIME capabilities attribute that lists what we
 * decrypt, best first. */
static CMS_SignerInfo *
add_signer(CMS_ContentInfo *cms, struct smz_smime_key *k, unsigned flags)
{
	CMS_SignerInfo *si = CMS_add1_signer(cms, k->cert, k->key, EVP_sha256(),
					     flags | CMS_NOSMIMECAP);
	STACK_OF(X509_ALGOR) *caps = NULL;
	if (!si || !CMS_add_simple_smimecap(&caps, NID_aes_256_gcm, -1) ||
	    !CMS_add_simple_smimecap(&caps, NID_aes_256_cbc, -1) ||
	    !CMS_add_simple_smimecap(&caps, NID_aes_128_gcm, -1) ||
	    !CMS_add_simple_smimecap(&caps, NID_aes_128_cbc, -1) || !CMS_add_smimecap(si, caps))
		si = NULL;
	sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
	return si;
}

int
smz_cms_sign(struct smz_smime *s, struct smz_smime_key *k, struct smz_spool *in,
	     struct smz_spool *out, struct smz_err *e)
{
	unsigned flags = CMS_BINARY | CMS_PARTIAL | (s->cfg.opaque ? CMS_STREAM : CMS_DETACHED);
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, s->cfg.chain, NULL, flags);
	BIO *data = smz_spool_bio(in);
	int rc = 0;
	if (!cms || !data || !add_signer(cms, k, flags)) {
		rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot sign");
		goto done;
	}
	FILE *f = out->w;
	if (!s->cfg.opaque) {
		/* detached: the content streams through the digest, not into memory */
		if (!CMS_set_detached(cms, 1) || !CMS_final(cms, data, NULL, flags)) {
			rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot sign");
			goto done;
		}
		char b[64];
		boundary(b, sizeof b);
		fprintf(f,
			"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
			"\r\n micalg=%s; boundary=\"%s\"\r\n\r\n"
			"This is a cryptographically signed message in MIME "
			"format.\r\n\r\n--%s\r\n",
			micalg(EVP_sha256()), b, b);
		fflush(f);
		if (smz_spool_copy(in, f, 1)) {
			rc = smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
			goto done;
		}
		fprintf(f,
			"\r\n--%s\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\""
			"\r\nContent-Transfer-Encoding: base64\r\n"
			"Content-Disposition: attachment; filename=\"smime.p7s\"\r\n"
			"Content-Description: S/MIME Cryptographic Signature\r\n\r\n",
			b);
		struct smz_spool_b64 bs;
		BIO *sink = smz_spool_b64_new(f, &bs);
		if (!sink || i2d_CMS_bio(sink, cms) <= 0 || BIO_flush(sink) <= 0)
			rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot write the signature");
		if (sink)
			smz_spool_b64_free(sink, &bs);
		fprintf(f, "\r\n--%s--\r\n", b);
	} else {
		fputs("Content-Type: application/pkcs7-mime; smime-type=signed-data;"
		      " name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\n"
		      "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n",
		      f);
		struct smz_spool_b64 bs;
		BIO *sink = smz_spool_b64_new(f, &bs);
		if (!sink || !i2d_CMS_bio_stream(sink, cms, data, flags) || BIO_flush(sink) <= 0)
			rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot sign");
		if (sink)
			smz_spool_b64_free(sink, &bs);
	}
done:
	BIO_free(data);
	CMS_ContentInfo_free(cms);
	return rc;
}

/* ---- encrypt ---- */

/* Does the certificate's S/MIME capabilities extension (RFC 4262) list nid? */
static int
cert_advertises(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, NID_SMIMECapabilities, -1);
	if (i < 0)
		return 0;
	ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(x, i));
	const unsigned char *p = ASN1_STRING_get0_data(v);
	X509_ALGORS *algs = d2i_X509_ALGORS(NULL, &p, ASN1_STRING_length(v));
	int found = 0;
	for (int k = 0; !found && k < sk_X509_ALGOR_num(algs); k++) {
		const ASN1_OBJECT *o;
		X509_ALGOR_get0(&o, NULL, NULL, sk_X509_ALGOR_value(algs, k));
		found = OBJ_obj2nid(o) == nid;
	}
	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	return found;
}

int
smz_cms_encrypt(struct smz_smime *s, STACK_OF(X509) * rcpt, int no_self, struct smz_spool *in,
		struct smz_spool *out, char *what, size_t whatcap, struct smz_err *e)
{
	int rc = 0;
	int gcm = s->cfg.content_cipher == 2;
	if (s->cfg.content_cipher == 0) {
		gcm = 1;
		for (int i = 0; i < sk_X509_num(rcpt); i++)
			gcm &= cert_advertises(sk_X509_value(rcpt, i), NID_aes_256_gcm);
	}
	unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;
	CMS_ContentInfo *cms = CMS_encrypt(NULL, NULL, gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(),
					   flags);
	if (!cms)
		rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot encrypt");
	int noaep = 0, npk = 0, nec = 0;
	for (int i = 0; !rc && i < sk_X509_num(rcpt); i++) {
		X509 *x = sk_X509_value(rcpt, i);
		int ec = EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_EC;
		int oaep = !ec &&
			   (s->cfg.rsa_transport == 2 ||
			    (s->cfg.rsa_transport == 0 && cert_advertises(x, NID_rsaesOaep)));
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, x, flags | CMS_KEY_PARAM);
		EVP_PKEY_CTX *pc = ri ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
		if (!ri || !pc ||
		    (oaep && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) <= 0 ||
			      EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()) <= 0 ||
			      EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) <= 0)) ||
		    (ec && EVP_PKEY_CTX_set_ecdh_kdf_md(pc, EVP_sha256()) <= 0))
			rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot add a recipient");
		ec ? nec++ : oaep ? noaep++ : npk++;
	}
	BIO *data = rc ? NULL : smz_spool_bio(in);
	if (!rc) {
		FILE *f = out->w;
		fprintf(f,
			"Content-Type: application/pkcs7-mime; smime-type=%s; name=\"smime.p7m\""
			"\r\nContent-Transfer-Encoding: base64\r\n"
			"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n",
			gcm ? "authEnveloped-data" : "enveloped-data");
		struct smz_spool_b64 bs;
		BIO *sink = smz_spool_b64_new(f, &bs);
		if (!sink || !data || !i2d_CMS_bio_stream(sink, cms, data, flags) ||
		    BIO_flush(sink) <= 0)
			rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot encrypt");
		if (sink)
			smz_spool_b64_free(sink, &bs);
		snprintf(what, whatcap,
			 "encrypted with %s for %d recipients (%d RSA PKCS#1 v1.5, "
			 "%d RSA-OAEP, %d ECDH)%s",
			 gcm ? "AES-256-GCM" : "AES-256-CBC", sk_X509_num(rcpt), npk, noaep, nec,
			 no_self ? "; no copy for the sender, who has no certificate" : "");
	}
	BIO_free(data);
	CMS_ContentInfo_free(cms);
	return rc;
}

/* ---- verify ---- */

static time_t
asn1_to_time(const ASN1_TIME *t)
{
	struct tm tm;
	return t && ASN1_TIME_to_tm(t, &tm) ? timegm(&tm) : (time_t)-1;
}

static time_t
signing_time(CMS_SignerInfo *si)
{
	int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *a = i >= 0 ? CMS_signed_get_attr(si, i) : NULL;
	ASN1_TYPE *t = a ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;
	if (!t || (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME))
		return (time_t)-1;
	return asn1_to_time((ASN1_TIME *)t->value.asn1_string);
}

static int
crl_time_cb(int ok, X509_STORE_CTX *ctx)
{
	int err = X509_STORE_CTX_get_error(ctx);
	/* the CRL is judged now, not at the signing time */
	if (!ok && (err == X509_V_ERR_CRL_NOT_YET_VALID || err == X509_V_ERR_CRL_HAS_EXPIRED))
		return 1;
	return ok;
}

/* The run's cache key for a chain: SHA-256 of the signer and the
 * certificates offered with it. */
static int
chain_id(X509 *signer, STACK_OF(X509) * untrusted, unsigned char id[32])
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	unsigned char *d = NULL;
	int dl = i2d_X509(signer, &d);
	int idok = mc && dl > 0 && EVP_DigestInit_ex(mc, EVP_sha256(), NULL) &&
		   EVP_DigestUpdate(mc, d, (size_t)dl);
	OPENSSL_free(d);
	for (int i = 0; idok && i < sk_X509_num(untrusted); i++) {
		d = NULL;
		dl = i2d_X509(sk_X509_value(untrusted, i), &d);
		idok = dl > 0 && EVP_DigestUpdate(mc, d, (size_t)dl);
		OPENSSL_free(d);
	}
	idok = idok && EVP_DigestFinal_ex(mc, id, NULL);
	EVP_MD_CTX_free(mc);
	return idok;
}

/* The signer's chain at time at; a chain verified before in this run is
 * good for the times it covers. */
static int
check_chain(struct smz_smime *s, CMS_ContentInfo *cms, X509 *signer, time_t at, const char *mbox,
	    struct smz_cms_sig *res)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = CMS_get1_certs(cms);
	for (int i = 0; i < sk_X509_num(s->cfg.chain); i++) {
		X509_up_ref(sk_X509_value(s->cfg.chain, i));
		sk_X509_push(untrusted, sk_X509_value(s->cfg.chain, i));
	}
	int rc = 0;
	unsigned char cid[32];
	struct smz_smime_vcache *hit = NULL;
	int idok = chain_id(signer, untrusted, cid);
	for (size_t i = 0; idok && i < s->nvc; i++)
		if (memcmp(s->vc[i].id, cid, 32) == 0 && s->vc[i].crl == s->cfg.crl_check &&
		    at >= s->vc[i].from && at <= s->vc[i].to)
			hit = &s->vc[i];
	if (hit) {
		;
	} else if (!ctx || !X509_STORE_CTX_init(ctx, s->cfg.trust, signer, untrusted)) {
		snprintf(res->line, sizeof res->line, "FAIL internal: cannot check the chain");
		rc = SMZ_ERR_INTERNAL;
	} else {
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN);
		X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_time(vp, at);
		if (s->cfg.crl_check)
			X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK);
		X509_STORE_CTX_set_verify_cb(ctx, crl_time_cb);
		if (X509_verify_cert(ctx) != 1) {
			int err = X509_STORE_CTX_get_error(ctx);
			const char *tag = err == X509_V_ERR_CERT_HAS_EXPIRED	 ? "expired"
					  : err == X509_V_ERR_CERT_NOT_YET_VALID ? "not-yet-valid"
					  : err == X509_V_ERR_CERT_REVOKED	 ? "revoked"
					  : err == X509_V_ERR_INVALID_PURPOSE	 ? "wrong-purpose"
										 : "untrusted";
			snprintf(res->line, sizeof res->line, "FAIL %s: signer %s: %s", tag, mbox,
				 X509_verify_cert_error_string(err));
			rc = SMZ_ERR_VERIFY;
		} else if (idok && s->nvc < sizeof s->vc / sizeof s->vc[0]) {
			struct smz_smime_vcache *v = &s->vc[s->nvc++];
			STACK_OF(X509) *ch = X509_STORE_CTX_get0_chain(ctx);
			memcpy(v->id, cid, 32);
			v->crl = s->cfg.crl_check;
			v->from = 0;
			v->to = (time_t)1 << 62;
			for (int i = 0; i < sk_X509_num(ch); i++) {
				time_t nb = asn1_to_time(X509_get0_notBefore(sk_X509_value(ch, i)));
				time_t na = asn1_to_time(X509_get0_notAfter(sk_X509_value(ch, i)));
				v->from = nb > v->from ? nb : v->from;
				v->to = na < v->to ? na : v->to;
			}
		}
	}
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(untrusted, X509_free);
	return rc;
}

int
smz_cms_verify(struct smz_smime *s, CMS_ContentInfo *cms, BIO *dcont, BIO *content_out,
	       const struct smz_mime_hdrs *h, struct smz_cms_sig *res, struct smz_err *e)
{
	(void)e;
	res->ok = 0;
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) < 1) {
		snprintf(res->line, sizeof res->line, "FAIL unsigned: no signer in the signature");
		return SMZ_ERR_VERIFY;
	}
	unsigned flags = CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
	ERR_clear_error();
	if (!CMS_verify(cms, s->cfg.chain, s->cfg.trust, dcont, content_out, flags)) {
		unsigned long err = ERR_peek_last_error();
		int reason = ERR_GET_REASON(err);
		const char *why = reason == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND
					  ? "the signer's certificate is missing or is not the one "
					    "that signed"
				  : reason == CMS_R_CONTENT_VERIFY_ERROR ||
						  reason == CMS_R_VERIFICATION_FAILURE
					  ? "the message was altered after signing (digest or "
					    "signature mismatch)"
					  : NULL;
		char buf[256] = "";
		if (!why)
			ERR_error_string_n(err, buf, sizeof buf);
		ERR_clear_error();
		snprintf(res->line, sizeof res->line, "FAIL bad-signature: %s", why ? why : buf);
		return SMZ_ERR_VERIFY;
	}
	STACK_OF(X509) *signers = CMS_get0_signers(cms);
	X509 *signer = sk_X509_num(signers) > 0 ? sk_X509_value(signers, 0) : NULL;
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
	X509_ALGOR *dig = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	const ASN1_OBJECT *dobj = NULL;
	X509_ALGOR_get0(&dobj, NULL, NULL, dig);
	int dnid = OBJ_obj2nid(dobj);
	const char *dname = dnid == NID_sha1	 ? "sha1"
			    : dnid == NID_sha224 ? "sha224"
			    : dnid == NID_sha256 ? "sha256"
			    : dnid == NID_sha384 ? "sha384"
			    : dnid == NID_sha512 ? "sha512"
			    : dnid == NID_md5	 ? "md5"
						 : "other";
	char mbox[SMZ_ADDR_MAX];
	if (!signer) {
		snprintf(res->line, sizeof res->line, "FAIL bad-signature: no signer certificate");
		sk_X509_free(signers);
		return SMZ_ERR_VERIFY;
	}
	smz_certpick_mailbox(signer, mbox, sizeof mbox);
	if (dnid == NID_md5 || strcmp(dname, "other") == 0) {
		snprintf(res->line, sizeof res->line, "FAIL weak-digest: %s signature by %s", dname,
			 mbox);
		sk_X509_free(signers);
		return SMZ_ERR_VERIFY;
	}
	time_t now = time(NULL), st = signing_time(si), at = now;
	if (st != (time_t)-1 && st <= now + 300)
		at = st;
	/* the chain, at the signing time */
	int rc = check_chain(s, cms, signer, at, mbox, res);
	/* what the CA revoked, as the vault knows it: a signature made after
	 * the revocation, or by a compromised key whenever, does not count */
	char rwhy[200];
	time_t rat;
	int comp;
	if (!rc && smz_certpick_revoked(s, signer, rwhy, sizeof rwhy, &rat, &comp) &&
	    (comp || !rat || at > rat)) {
		snprintf(res->line, sizeof res->line, "FAIL revoked: signer %s: %s", mbox, rwhy);
		rc = SMZ_ERR_VERIFY;
	}
	const char *from = h->from;
	int other = -1; /* a From: mailbox that is not the signer's */
	for (int i = 0; i < h->nall && other < 0; i++)
		if (!smz_certpick_has_mailbox(signer, h->all[i], s->cfg.local_sensitive))
			other = i;
	if (!rc && !from) {
		snprintf(res->line, sizeof res->line,
			 "FAIL from-mismatch: signed by %s but the message has no From: mailbox",
			 mbox);
		rc = SMZ_ERR_VERIFY;
	} else if (!rc && !smz_certpick_has_mailbox(signer, from, s->cfg.local_sensitive)) {
		snprintf(res->line, sizeof res->line,
			 "FAIL from-mismatch: signed by %s but From: is %s", mbox, from);
		rc = SMZ_ERR_VERIFY;
	} else if (!rc && (h->bad || other >= 0)) {
		/* a second mailbox or field would show as the sender in some clients */
		snprintf(res->line, sizeof res->line,
			 "FAIL from-mismatch: signed by %s but From: also names %s (%d fields, %d "
			 "mailboxes)",
			 mbox, other >= 0 ? h->all[other] : "an unreadable mailbox", h->fields,
			 h->nall);
		rc = SMZ_ERR_VERIFY;
	} else if (!rc && st != (time_t)-1 && h->date != (time_t)-1 &&
		   (st - h->date > 3600 || h->date - st > 3600)) {
		/* Thunderbird's rule: a signature made at another time than the
		 * message says may be an old signed message sent again */
		char a[32], b[32];
		strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime(&st));
		strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime(&h->date));
		snprintf(res->line, sizeof res->line,
			 "FAIL time-mismatch: signed by %s at %s but Date: is %s", mbox, a, b);
		rc = SMZ_ERR_VERIFY;
	} else if (!rc && dnid == NID_sha1 && (s->cfg.refuse & SMZ_REFUSE_SHA1)) {
		snprintf(
			res->line, sizeof res->line,
			"FAIL refused: signature by %s uses sha1, refused by policy [smime] refuse",
			mbox);
		rc = SMZ_ERR_VERIFY;
	}
	if (!rc) {
		char serial[80] = "", when[32] = "none";
		const ASN1_INTEGER *sn = X509_get0_serialNumber(signer);
		if (ASN1_STRING_length(sn) <= 32)
			smz_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
		if (st != (time_t)-1)
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&st));
		snprintf(res->line, sizeof res->line,
			 "OK signer=%s digest=%s signed=%s serial=%s%s", mbox, dname, when, serial,
			 dnid == NID_sha1 ? " weak=sha1" : "");
		res->ok = 1;
	}
	sk_X509_free(signers);
	return rc;
}

/* ---- decrypt ---- */

int
smz_cms_decrypt(struct smz_smime *s, CMS_ContentInfo *cms, BIO *out, const char *mid, char *used,
		size_t usedcap, struct smz_err *e)
{
	if (!s->cfg.vault)
		return smz_err_set(e, SMZ_ERR_PERM,
				   "the message is encrypted and no vault is "
				   "configured (--vault, $SMZ_VAULT or policy [vault] path)");
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int rc = SMZ_ERR_PERM, tried = 0;
	char first[300] = "";
	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris) && rc; i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		int type = CMS_RecipientInfo_type(ri);
		STACK_OF(CMS_RecipientEncryptedKey) *reks =
			type == CMS_RECIPINFO_AGREE ? CMS_RecipientInfo_kari_get0_reks(ri) : NULL;
		int nids = type == CMS_RECIPINFO_TRANS ? 1 : sk_CMS_RecipientEncryptedKey_num(reks);
		for (int j = 0; j < nids && rc; j++) {
			ASN1_OCTET_STRING *kid = NULL;
			X509_NAME *iss = NULL;
			ASN1_INTEGER *sno = NULL;
			CMS_RecipientEncryptedKey *rek = NULL;
			if (type == CMS_RECIPINFO_TRANS) {
				if (!CMS_RecipientInfo_ktri_get0_signer_id(ri, &kid, &iss, &sno))
					continue;
			} else if (type == CMS_RECIPINFO_AGREE) {
				rek = sk_CMS_RecipientEncryptedKey_value(reks, j);
				if (!CMS_RecipientEncryptedKey_get0_id(rek, &kid, NULL, NULL, &iss,
								       &sno))
					continue;
			} else {
				continue;
			}
			if (!first[0]) {
				char is[200] = "", sh[80] = "";
				if (iss)
					X509_NAME_oneline(iss, is, sizeof is);
				if (sno && ASN1_STRING_length(sno) <= 32)
					smz_hex(ASN1_STRING_get0_data(sno),
						(size_t)ASN1_STRING_length(sno), sh);
				snprintf(first, sizeof first, "%s%s%s", iss ? is : "key identifier",
					 iss ? " serial " : "", sh);
			}
			/* the id, as a cache key: issuer+serial hash, else the SKI's */
			unsigned char rid[32];
			int have_rid = iss && sno ? smz_isn_hash(iss, sno, rid) == 0
				       : kid	  ? EVP_Digest(ASN1_STRING_get0_data(kid),
							       (size_t)ASN1_STRING_length(kid), rid,
							       NULL, EVP_sha256(), NULL) == 1
						  : 0;
			struct smz_smime_ridcache *hit =
				NULL; /* ids out of scope are never cached */
			for (size_t c = 0; have_rid && c < s->nrid && !hit; c++)
				if (memcmp(s->rid[c].id, rid, 32) == 0)
					hit = &s->rid[c];
			struct smz_smime_key *k = NULL;
			char st[16], how[24];
			if (hit) {
				k = &s->keys[hit->key];
				memcpy(st, hit->state, sizeof st);
				memcpy(how, hit->how, sizeof how);
				tried++;
			} else {
				json_t *rec = NULL;
				const char *h = "";
				struct smz_err fe = {0};
				int fr = smz_vault_find_rid(s->cfg.vault, iss, sno, kid, &rec, &h,
							    &fe);
				if (fr == SMZ_ERR_NOTFOUND)
					continue;
				if (fr) {
					*e = fe;
					return fr;
				}
				json_t *addrs = json_object_get(rec, "addresses");
				const char *addr = json_string_value(json_array_get(addrs, 0));
				if (!smz_certpick_in_scope(s, addrs)) {
					json_decref(rec);
					continue;
				}
				tried++;
				int kr = smz_certpick_vault_key(s, rec, NULL, addr ? addr : "", &k,
								e);
				const char *state = json_string_value(
					json_object_get(rec, "state"));
				snprintf(st, sizeof st, "%s", state ? state : "?");
				snprintf(how, sizeof how, "%s", h);
				json_decref(rec);
				if (kr)
					return kr;
				if (have_rid && s->nrid < sizeof s->rid / sizeof s->rid[0]) {
					struct smz_smime_ridcache *c = &s->rid[s->nrid++];
					memcpy(c->id, rid, 32);
					c->key = (size_t)(k - s->keys);
					memcpy(c->state, st, sizeof st);
					memcpy(c->how, how, sizeof how);
				}
			}
			int ok;
			if (type == CMS_RECIPINFO_TRANS) {
				/* set0 takes a reference; setting NULL drops it */
				EVP_PKEY_up_ref(k->key);
				ok = CMS_RecipientInfo_set0_pkey(ri, k->key) &&
				     CMS_RecipientInfo_decrypt(cms, ri);
				CMS_RecipientInfo_set0_pkey(ri, NULL);
			} else {
				ok = CMS_RecipientInfo_kari_set0_pkey_and_peer(ri, k->key, NULL) &&
				     CMS_RecipientInfo_kari_decrypt(cms, ri, rek);
				CMS_RecipientInfo_kari_set0_pkey(ri, NULL);
			}
			if (!ok) {
				smz_err_ssl(e, SMZ_ERR_DATA,
					    "decryption with the vaulted key failed");
				continue;
			}
			char subj[400];
			snprintf(subj, sizeof subj, "%s %s", k->id, k->addr);
			/* a compromised key still opens old mail, but says so */
			int bad = strcmp(st, "compromised") == 0;
			if (!s->cfg.count_only &&
			    smz_smime_audit_add(s, bad ? "decrypt-compromised" : "decrypt", subj,
						mid))
				return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
			if (s->cfg.count_only && s->cfg.first_use_op && !k->audited) {
				if (smz_smime_audit_add(s, s->cfg.first_use_op, subj,
							s->cfg.first_use_reason))
					return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
				k->audited = 1;
			}
			snprintf(used, usedcap, "key %.16s of %s (%s, found by %s)%s", k->id,
				 k->addr, st, how, bad ? " WARNING: the key is compromised" : "");
			s->last_key = k - s->keys;
			rc = 0;
		}
	}
	if (rc && !tried && s->cfg.recipient)
		return smz_err_set(e, SMZ_ERR_PERM,
				   "not-for-recipient: the message is not "
				   "encrypted to a key of %s (first recipient: %s)",
				   s->cfg.recipient, first[0] ? first : "none");
	if (rc && !tried)
		return smz_err_set(e, SMZ_ERR_PERM,
				   "no key in the vault for any recipient of "
				   "this message (first: %s)",
				   first[0] ? first : "none");
	if (rc)
		return smz_err_set(e, SMZ_ERR_DATA,
				   "the message cannot be decrypted with the "
				   "vaulted key: %s",
				   e->msg);
	ERR_clear_error();
	if (!CMS_decrypt(cms, NULL, NULL, NULL, out, CMS_BINARY)) {
		/* the key matched but the content does not decrypt or authenticate */
		if (!s->cfg.count_only)
			smz_smime_audit_add(s, "decrypt-failed", used, mid);
		return smz_err_ssl(e, SMZ_ERR_DATA, "the encrypted content is damaged");
	}
	if (s->last_key >= 0)
		s->keys[s->last_key].uses++;
	return 0;
}

CMS_ContentInfo *
smz_cms_read(struct smz_spool *sp)
{
	BIO *b = smz_spool_bio(sp);
	CMS_ContentInfo *cms = b ? d2i_CMS_bio(b, NULL) : NULL;
	BIO_free(b);
	return cms;
}

/* ---- the content cipher of an enveloped message ----
 * OpenSSL 3.0 has no getter for an EnvelopedData's content-encryption
 * algorithm, so its DER (or BER: streamed CMS uses indefinite lengths) is
 * walked with OpenSSL's own TLV reader, ASN1_get_object, down to the
 * AlgorithmIdentifier, which d2i_X509_ALGOR reads.  Only a prefix is
 * needed: what precedes the encrypted content. */

/* Step over one element; -1 if it does not fit in left. */
static int
tlv_skip(const unsigned char **p, long *left, int depth)
{
	const unsigned char *q = *p;
	long l;
	int tag, cls;
	int r = ASN1_get_object(&q, &l, &tag, &cls, *left);
	if ((r & 0x80) || depth > 16)
		return -1;
	long rest = *left - (long)(q - *p);
	if (r == (V_ASN1_CONSTRUCTED | 1)) { /* indefinite: elements up to end-of-contents */
		while (!(rest >= 2 && q[0] == 0 && q[1] == 0))
			if (rest < 2 || tlv_skip(&q, &rest, depth + 1))
				return -1;
		q += 2;
		rest -= 2;
	} else {
		if (l > rest)
			return -1;
		q += l;
		rest -= l;
	}
	*p = q;
	*left = rest;
	return 0;
}

/* Enter a constructed element with this tag and class; a definite length
 * may run past the prefix. */
static int
tlv_enter(const unsigned char **p, long *left, int want_tag, int want_cls)
{
	const unsigned char *q = *p;
	long l;
	int tag, cls;
	int r = ASN1_get_object(&q, &l, &tag, &cls, *left);
	if (r == 0x80 || !(r & V_ASN1_CONSTRUCTED) || tag != want_tag || cls != want_cls)
		return -1;
	*left -= (long)(q - *p);
	if (!(r & 1) && l < *left)
		*left = l;
	*p = q;
	return 0;
}

static int
peek_tag(const unsigned char *p, long left, int *tag, int *cls)
{
	long l;
	return ASN1_get_object(&p, &l, tag, cls, left) == 0x80 ? -1 : 0;
}

static int
cipher_nid(const unsigned char *p, long left)
{
	int tag, cls, nid = NID_undef;
	if (tlv_enter(&p, &left, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL) || /* ContentInfo */
	    tlv_skip(&p, &left, 0) ||				       /* contentType */
	    tlv_enter(&p, &left, 0, V_ASN1_CONTEXT_SPECIFIC) ||	       /* [0] content */
	    tlv_enter(&p, &left, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL) || /* (Auth)EnvelopedData */
	    tlv_skip(&p, &left, 0) ||				       /* version */
	    peek_tag(p, left, &tag, &cls))
		return NID_undef;
	if (tag == 0 && cls == V_ASN1_CONTEXT_SPECIFIC &&
	    tlv_skip(&p, &left, 0)) /* originatorInfo */
		return NID_undef;
	if (tlv_skip(&p, &left, 0) ||				       /* recipientInfos */
	    tlv_enter(&p, &left, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL) || /* EncryptedContentInfo */
	    tlv_skip(&p, &left, 0))				       /* contentType */
		return NID_undef;
	X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, left);
	if (alg) {
		const ASN1_OBJECT *o;
		X509_ALGOR_get0(&o, NULL, NULL, alg);
		nid = OBJ_obj2nid(o);
	}
	X509_ALGOR_free(alg);
	ERR_clear_error();
	return nid;
}

int
smz_cms_cipher(struct smz_spool *der)
{
	unsigned char head[65536];
	size_t n = smz_spool_head(der, head, sizeof head);
	return cipher_nid(head, (long)n);
}

const char *
smz_cms_cipher_name(int nid, unsigned refuse, int *refused, int *weak)
{
	static const struct {
		int nid;
		const char *name;
		unsigned bits;
	} t[] = {{NID_aes_256_gcm, "aes-256-gcm", 0},
		 {NID_aes_192_gcm, "aes-192-gcm", 0},
		 {NID_aes_128_gcm, "aes-128-gcm", 0},
		 {NID_aes_256_cbc, "aes-256-cbc", SMZ_REFUSE_CBC},
		 {NID_aes_192_cbc, "aes-192-cbc", SMZ_REFUSE_CBC},
		 {NID_aes_128_cbc, "aes-128-cbc", SMZ_REFUSE_CBC},
		 {NID_des_ede3_cbc, "3des", SMZ_REFUSE_CBC | SMZ_REFUSE_3DES},
		 {NID_des_cbc, "des", SMZ_REFUSE_CBC | SMZ_REFUSE_DES},
		 {NID_rc2_cbc, "rc2", SMZ_REFUSE_CBC | SMZ_REFUSE_RC2}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].nid == nid) {
			*refused = (t[i].bits & refuse) != 0;
			*weak = (t[i].bits & (SMZ_REFUSE_3DES | SMZ_REFUSE_DES | SMZ_REFUSE_RC2)) !=
				0;
			return t[i].name;
		}
	*refused = 0;
	*weak = 1;
	return "unknown";
}

/* ---- the run: state, audit entries, orchestration ---- */

int
smz_smime_new(const struct smz_smime_cfg *cfg, struct smz_smime **out, struct smz_err *e)
{
	static int inited;
	if (!inited) {
		g_mime_init();
		if (smz_spool_b64_init())
			return smz_err_set(e, SMZ_ERR_INTERNAL, "cannot set up OpenSSL BIOs");
		inited = 1;
	}
	struct smz_smime *s = calloc(1, sizeof *s);
	if (!s)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	s->cfg = *cfg;
	s->last_key = -1;
	if (!s->cfg.max_layers)
		s->cfg.max_layers = 8;
	*out = s;
	return 0;
}

void
smz_smime_free(struct smz_smime *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nkeys; i++) {
		EVP_PKEY_free(s->keys[i].key);
		X509_free(s->keys[i].cert);
	}
	free(s->keys);
	for (size_t i = 0; i < s->nrc; i++)
		X509_free(s->rc[i].cert);
	smz_smime_discard(s, 0);
	free(s->audit);
	free(s);
}

int
smz_smime_audit_add(struct smz_smime *s, const char *op, const char *subject, const char *reason)
{
	if (s->naudit + 3 > s->capaudit) {
		size_t cap = s->capaudit ? s->capaudit * 2 : 96;
		char **n = realloc(s->audit, cap * sizeof *n);
		if (!n)
			return -1;
		s->audit = n;
		s->capaudit = cap;
	}
	s->audit[s->naudit++] = strdup(op);
	s->audit[s->naudit++] = strdup(subject);
	s->audit[s->naudit++] = strdup(reason ? reason : "");
	return 0;
}

size_t
smz_smime_pending(const struct smz_smime *s)
{
	return s->naudit / 3;
}

void
smz_smime_discard(struct smz_smime *s, size_t keep)
{
	while (s->naudit > keep * 3)
		free(s->audit[--s->naudit]);
}

int
smz_smime_commit(struct smz_smime *s, struct smz_err *e)
{
	size_t n = s->naudit / 3;
	if (!n)
		return 0;
	struct smz_audit_entry *a = calloc(n, sizeof *a);
	if (!a)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++)
		a[i] = (struct smz_audit_entry){s->audit[3 * i], s->audit[3 * i + 1],
						s->audit[3 * i + 2]};
	int rc = smz_vault_audit_batch(s->cfg.vault, a, n, e);
	free(a);
	if (!rc)
		smz_smime_discard(s, 0);
	return rc;
}

/* ---- sign and/or encrypt ---- */

/* Encrypt `in` to cfg.to, else To/Cc/Bcc, and the sender when it has a
 * certificate; into out. */
static int
encrypt_layer(struct smz_smime *s, GMimeMessage *m, struct smz_spool *in, struct smz_spool *out,
	      char *what, size_t whatcap, struct smz_err *e)
{
	char **addrs;
	size_t n, nto;
	smz_mime_recipients(m, s->cfg.to, &addrs, &n, &nto);
	STACK_OF(X509) *rcpt = NULL;
	int no_self = 0;
	int rc = smz_certpick_recipients(s, addrs, n, nto, &rcpt, &no_self, e);
	smz_mime_recipients_free(addrs, n);
	if (!rc)
		rc = smz_cms_encrypt(s, rcpt, no_self, in, out, what, whatcap, e);
	sk_X509_pop_free(rcpt, X509_free);
	return rc;
}

static int
outgoing(struct smz_smime *s, int ops, struct smz_mime_msg *m, FILE *out,
	 struct smz_smime_result *r, struct smz_err *e)
{
	int big = m->raw.tf != NULL, rc = 0;
	struct smz_spool a, b, c;
	memset(&b, 0, sizeof b);
	memset(&c, 0, sizeof c);
	GMimeObject *body = g_mime_message_get_mime_part(m->m);
	if (!body)
		return smz_err_set(e, SMZ_ERR_DATA, "the message has no body");
	char as[SMZ_ADDR_MAX];
	struct smz_smime_key *k = NULL;
	if (ops & SMZ_SMIME_SIGN) {
		struct smz_err ae = {0};
		if (s->cfg.as && smz_addr_normalize(s->cfg.as, as, &ae))
			return smz_err_set(e, SMZ_ERR_USAGE, "--as: %s", ae.msg);
		if (!s->cfg.as && (rc = smz_mime_from(m->m, as, e)))
			return rc;
		if (s->cfg.sender && (rc = smz_certpick_check_sender(s, m->m, as, e))) {
			snprintf(r->status, sizeof r->status, "FAIL %.900s", e->msg);
			return rc;
		}
		if ((rc = smz_certpick_signer(s, as, &k, e)))
			return rc;
		if (!s->cfg.opaque)
			smz_mime_make_7bit(body);
	}
	if (smz_mime_spool_entity(body, &a, big)) {
		smz_spool_free(&a);
		return smz_err_set(e, SMZ_ERR_IO, "cannot write the message body");
	}
	struct smz_spool *cur = &a;
	char what[1024] = "";
	if (!rc && (ops & SMZ_SMIME_SIGN)) {
		if (smz_spool_open(&b, big))
			rc = smz_err_set(e, SMZ_ERR_IO, "cannot create a temporary file");
		else if (!(rc = smz_cms_sign(s, k, &a, &b, e)) && smz_spool_seal(&b))
			rc = smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
		cur = &b;
		const char *mid = g_mime_message_get_message_id(m->m);
		char subj[400];
		snprintf(subj, sizeof subj, "%s %s", k->id, k->addr);
		if (!rc && smz_smime_audit_add(s, "sign", subj, mid ? mid : ""))
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		snprintf(what, sizeof what, "signed as %s with key %.16s (%s)", k->addr, k->id,
			 s->cfg.opaque ? "opaque" : "clear");
	}
	if (!rc && (ops & SMZ_SMIME_ENCRYPT)) {
		char w2[200] = "";
		if (smz_spool_open(&c, big))
			rc = smz_err_set(e, SMZ_ERR_IO, "cannot create a temporary file");
		else if (!(rc = encrypt_layer(s, m->m, cur, &c, w2, sizeof w2, e)) &&
			 smz_spool_seal(&c))
			rc = smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
		cur = &c;
		size_t l = strlen(what);
		snprintf(what + l, sizeof what - l, "%s%s", l ? ", then " : "", w2);
	}
	if (!rc) {
		smz_mime_write_outer(m->m, out);
		if (smz_spool_copy(cur, out, 1))
			rc = smz_err_set(e, SMZ_ERR_IO, "write error");
		snprintf(r->status, sizeof r->status, "%s", what);
	}
	smz_spool_free(&a);
	smz_spool_free(&b);
	smz_spool_free(&c);
	return rc;
}

/* ---- decrypt and/or verify: walk the layers ---- */

static void
note_sig(struct smz_cms_sig *sr, int vr, int *bad, struct smz_cms_sig *fail,
	 struct smz_cms_sig *first)
{
	if (vr == SMZ_ERR_VERIFY && !*bad) {
		*fail = *sr;
		*bad = 1;
	}
	if (sr->ok && !first->ok)
		*first = *sr;
}

/* One application/pkcs7-mime layer: decrypt or verify into next. */
static int
pkcs7_layer(struct smz_smime *s, GMimeObject *o, struct smz_spool *next, int big,
	    const struct smz_mime_hdrs *from, const char *mid, char *used, size_t usedcap,
	    int *type, struct smz_cms_sig *sr, struct smz_err *e)
{
	struct smz_spool der;
	if (smz_mime_part_content(o, &der, big)) {
		smz_spool_free(&der);
		return smz_err_set(e, SMZ_ERR_DATA, "unreadable S/MIME part");
	}
	CMS_ContentInfo *cms = smz_mime_b64_sane(o, smz_spool_size(&der)) ? smz_cms_read(&der)
									  : NULL;
	int cnid = cms ? OBJ_obj2nid(CMS_get0_type(cms)) : NID_undef;
	if (cnid == NID_pkcs7_enveloped || cnid == NID_id_smime_ct_authEnvelopedData) {
		int refused = 0, weak = 0;
		const char *name = smz_cms_cipher_name(smz_cms_cipher(&der), s->cfg.refuse,
						       &refused, &weak);
		snprintf(s->cipher, sizeof s->cipher, "%s", name);
		if (weak)
			snprintf(s->weak, sizeof s->weak, " weak=%s", name);
		if (refused) { /* before any key is used */
			smz_spool_free(&der);
			CMS_ContentInfo_free(cms);
			return smz_err_set(e, SMZ_ERR_PERM,
					   "refused: the content cipher %s is refused "
					   "by policy [smime] refuse",
					   name);
		}
	}
	smz_spool_free(&der);
	if (!cms) {
		ERR_clear_error();
		return smz_err_set(e, SMZ_ERR_DATA,
				   "the S/MIME part is not a CMS structure "
				   "(truncated or damaged base64?)");
	}
	*type = OBJ_obj2nid(CMS_get0_type(cms));
	int rc = smz_spool_open(next, big) ? smz_err_set(e, SMZ_ERR_IO,
							 "cannot create a temporary "
							 "file")
					   : 0;
	BIO *ob = rc ? NULL : BIO_new_fp(next->w, BIO_NOCLOSE);
	if (rc)
		;
	else if (*type == NID_pkcs7_enveloped || *type == NID_id_smime_ct_authEnvelopedData)
		rc = smz_cms_decrypt(s, cms, ob, mid, used, usedcap, e);
	else if (*type == NID_pkcs7_signed) {
		rc = smz_cms_verify(s, cms, NULL, ob, from, sr, e);
		/* a bad signature is reported, but what it wraps is still the
		 * message: hand it on (OpenSSL's CMS_verify does not) */
		ASN1_OCTET_STRING **pos = rc == SMZ_ERR_VERIFY ? CMS_get0_content(cms) : NULL;
		if (pos && *pos && BIO_flush(ob) > 0 && ftell(next->w) == 0)
			BIO_write(ob, ASN1_STRING_get0_data(*pos), ASN1_STRING_length(*pos));
	} else
		rc = smz_err_set(e, SMZ_ERR_DATA, "unsupported CMS content (%s)",
				 OBJ_nid2sn(*type));
	if (ob) {
		BIO_flush(ob);
		BIO_free(ob);
	}
	CMS_ContentInfo_free(cms);
	if ((!rc || rc == SMZ_ERR_VERIFY) && smz_spool_seal(next))
		rc = smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
	return rc;
}

/* One multipart/signed layer: verify; the content part is next. */
static int
signed_layer(struct smz_smime *s, GMimeObject *o, int big, const struct smz_mime_hdrs *from,
	     struct smz_cms_sig *sr, struct smz_err *e)
{
	GMimeMultipart *mp = GMIME_MULTIPART(o);
	if (g_mime_multipart_get_count(mp) != 2)
		return smz_err_set(e, SMZ_ERR_DATA, "multipart/signed without exactly two parts");
	GMimeObject *content = g_mime_multipart_get_part(mp, 0),
		    *sig = g_mime_multipart_get_part(mp, 1);
	struct smz_spool cs, der;
	memset(&der, 0, sizeof der);
	int rc = 0;
	if (smz_mime_spool_entity(content, &cs, big) || smz_mime_part_content(sig, &der, big))
		rc = smz_err_set(e, SMZ_ERR_DATA, "unreadable signature part");
	CMS_ContentInfo *cms = rc || !smz_mime_b64_sane(sig, smz_spool_size(&der))
				       ? NULL
				       : smz_cms_read(&der);
	if (!rc && (!cms || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)) {
		ERR_clear_error();
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "the signature part is not a CMS SignedData "
				 "(truncated or damaged base64?)");
	}
	if (!rc) {
		BIO *db = smz_spool_bio(&cs);
		rc = smz_cms_verify(s, cms, db, NULL, from, sr, e);
		BIO_free(db);
	}
	CMS_ContentInfo_free(cms);
	smz_spool_free(&der);
	smz_spool_free(&cs);
	return rc;
}

/* Encrypted messages forwarded as message/rfc822 attachments, decrypted in
 * place in the GMime tree (recovery); the number replaced. */
static int
open_forwarded(struct smz_smime *s, GMimeObject *o, int depth, struct smz_smime_result *r)
{
	int n = 0;
	if (depth > SMZ_MIME_MAX_DEPTH)
		return 0;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			n += open_forwarded(s, g_mime_multipart_get_part(mp, i), depth + 1, r);
		return n;
	}
	if (!GMIME_IS_MESSAGE_PART(o))
		return 0;
	GMimeMessagePart *part = GMIME_MESSAGE_PART(o);
	GMimeMessage *inner = g_mime_message_part_get_message(part);
	GMimeObject *b = inner ? g_mime_message_get_mime_part(inner) : NULL;
	if (!b)
		return 0;
	if (!smz_mime_is_pkcs7(b) && !smz_mime_is_signed(b))
		return open_forwarded(s, b, depth + 1, r);
	if (s->nest >= 4)
		return 0;
	int fd = memfd_create("smz-fwd", MFD_CLOEXEC);
	FILE *w = fd >= 0 ? fdopen(dup(fd), "w") : NULL;
	FILE *res = w ? smz_tmpfile() : NULL;
	if (!res || smz_mime_write_entity(GMIME_OBJECT(inner), w) || fclose(w) != 0 ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		if (res)
			fclose(res);
		else if (w)
			fclose(w);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	struct smz_smime_result r2;
	struct smz_err e2 = {0};
	s->nest++;
	int rc = smz_smime_run(s, SMZ_SMIME_DECRYPT, fd, res, &r2, &e2);
	s->nest--;
	close(fd);
	if (rc || !r2.decrypted) { /* signed only is no failure */
		r->forwarded_failed += rc != 0;
		fclose(res);
		return 0;
	}
	rewind(res);
	GMimeStream *st = g_mime_stream_file_new(res); /* owns res */
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *nm = g_mime_parser_construct_message(p, NULL);
	if (nm) {
		g_mime_message_part_set_message(part, nm);
		g_object_unref(nm);
		r->decrypted += r2.decrypted;
		n = 1;
	}
	g_object_unref(p);
	g_object_unref(st);
	return n;
}

static int
incoming(struct smz_smime *s, int ops, struct smz_mime_msg *m, FILE *out,
	 struct smz_smime_result *r, struct smz_err *e)
{
	int big = m->raw.tf != NULL, rc = 0, bad = 0;
	struct smz_mime_hdrs h;
	smz_mime_read_hdrs(m->m, &h);
	s->cipher[0] = 0;
	s->weak[0] = 0;
	const char *fromp = h.from;
	const char *mid = g_mime_message_get_message_id(m->m);
	mid = mid ? mid : "";
	smz_printable(mid, r->message_id, sizeof r->message_id);
	smz_printable(fromp ? fromp : "", r->from, sizeof r->from);
	const char *date = g_mime_object_get_header(GMIME_OBJECT(m->m), "Date");
	smz_printable(date ? date : "", r->date, sizeof r->date);
	struct smz_mime_keep k;
	k.nobj = k.nsp = 0;
	GMimeObject *cur = g_mime_message_get_mime_part(m->m);
	struct smz_spool *outsp = NULL;	 /* NULL: the original message */
	struct smz_spool *bodysp = NULL; /* content with no header block: written as a body */
	struct smz_spool *lastsp = NULL; /* the last content below a decryption */
	struct smz_cms_sig first = {0}, fail = {0};
	char used[400] = "";
	for (int depth = 0; !rc && cur; depth++) {
		int layer = smz_mime_is_pkcs7(cur) || smz_mime_is_signed(cur);
		if (layer && (depth >= s->cfg.max_layers || k.nsp >= 16 || k.nobj + 3 > 4 * 16)) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "more than %d nested S/MIME layers",
					 s->cfg.max_layers);
			break;
		}
		struct smz_cms_sig sr = {0};
		if (smz_mime_is_pkcs7(cur)) {
			struct smz_spool *next = &k.sp[k.nsp++];
			memset(next, 0, sizeof *next);
			int type = 0;
			rc = pkcs7_layer(s, cur, next, big, &h, mid, used, sizeof used, &type, &sr,
					 e);
			if (type == NID_pkcs7_signed) {
				r->signatures++;
				note_sig(&sr, rc, &bad, &fail, &first);
				if (rc == SMZ_ERR_VERIFY)
					rc = smz_spool_size(next)
						     ? 0
						     : -1000; /* nothing inside to walk */
			} else if (!rc) {
				r->decrypted++;
			}
			GMimeObject *inner = NULL;
			if (!rc && r->decrypted)
				lastsp = next;
			if (!rc && !smz_mime_starts_with_field(next)) {
				/* no header block: a body, and the end of the walk */
				if (type != NID_pkcs7_signed || s->cfg.unwrap_all)
					bodysp = outsp = next;
			} else {
				if (!rc)
					rc = smz_mime_parse_entity(&k, next, &inner, e);
				if (!rc && (type != NID_pkcs7_signed || smz_mime_is_pkcs7(inner) ||
					    s->cfg.unwrap_all))
					outsp = next; /* the output lies below this layer */
			}
			cur = inner;
		} else if (smz_mime_is_signed(cur)) {
			rc = signed_layer(s, cur, big, &h, &sr, e);
			if (!rc || rc == SMZ_ERR_VERIFY) {
				r->signatures++;
				note_sig(&sr, rc, &bad, &fail, &first);
				rc = 0;
			}
			GMimeObject *content = g_mime_multipart_get_part(GMIME_MULTIPART(cur), 0);
			if (!rc && smz_mime_is_pkcs7(content)) { /* encrypted inside signed */
				struct smz_spool *sp = &k.sp[k.nsp++];
				memset(sp, 0, sizeof *sp);
				if (smz_mime_spool_entity(content, sp, big))
					rc = smz_err_set(e, SMZ_ERR_IO,
							 "temporary file write error");
				outsp = sp;
			}
			cur = content;
		} else {
			break;
		}
	}
	if (rc == -1000)
		rc = 0;
	/* Once a layer is decrypted its content is never lost: what cannot be
	 * read as MIME further down is written as it came, as a body. */
	char rawwhy[300] = "";
	if (rc == SMZ_ERR_DATA && lastsp && (ops & SMZ_SMIME_DECRYPT) &&
	    !(ops & SMZ_SMIME_VERIFY)) {
		snprintf(rawwhy, sizeof rawwhy, "%.299s", e->msg);
		bodysp = outsp = lastsp;
		r->raw = 1;
		rc = 0;
	}
	snprintf(r->signature, sizeof r->signature, "%s",
		 !r->signatures ? "none"
		 : bad		? fail.line
				: first.line);
	if (!rc && (ops & SMZ_SMIME_VERIFY)) {
		size_t l = 0;
		if (bad) {
			l = (size_t)snprintf(r->status, sizeof r->status, "%s", fail.line);
			rc = SMZ_ERR_VERIFY;
		} else if (!r->signatures) {
			l = (size_t)snprintf(r->status, sizeof r->status,
					     "FAIL unsigned: the message "
					     "has no S/MIME signature");
			rc = SMZ_ERR_VERIFY;
		} else {
			l = (size_t)snprintf(r->status, sizeof r->status, "%s", first.line);
		}
		if (l < sizeof r->status && r->signatures > 1)
			l += (size_t)snprintf(r->status + l, sizeof r->status - l, " signatures=%d",
					      r->signatures);
		if (l < sizeof r->status && r->decrypted)
			snprintf(r->status + l, sizeof r->status - l, " decrypted=%d cipher=%s%s",
				 r->decrypted, s->cipher, s->weak);
	} else if (!rc && (ops & SMZ_SMIME_DECRYPT)) {
		const char *kind = NULL;
		char note[400] = "";
		if (bodysp) {
			smz_mime_write_outer(m->m, out);
			if (smz_mime_write_body(bodysp, out, &kind))
				rc = smz_err_set(e, SMZ_ERR_IO, "write error");
			else if (r->raw)
				snprintf(note, sizeof note,
					 "; raw: the inner entity is not readable "
					 "MIME (%.300s), written as it came as %s",
					 rawwhy, kind);
			else
				snprintf(note, sizeof note,
					 "; the content has no MIME header: "
					 "written as %s",
					 kind);
		}
		if (!r->decrypted)
			snprintf(r->status, sizeof r->status,
				 "not encrypted: passed through "
				 "unchanged");
		else
			snprintf(r->status, sizeof r->status, "decrypted with %s cipher=%s%s%s%s%s",
				 used, s->cipher, s->weak, r->signatures ? "; signature: " : "",
				 r->signatures ? (bad ? fail.line : first.line) : "", note);
		GMimeObject *ent = NULL;
		if (bodysp)
			;
		else if (s->cfg.unwrap_all && outsp && smz_mime_parse_entity(&k, outsp, &ent, e))
			ent = NULL;
		else if (s->cfg.unwrap_all && !outsp)
			ent = g_mime_message_get_mime_part(m->m);
		if (bodysp) {
			; /* written above */
		} else if (ent && open_forwarded(s, ent, 0, r) > 0) {
			smz_mime_write_outer(m->m, out);
			smz_mime_keep_content_headers(ent);
			if (smz_mime_write_entity(ent, out))
				rc = smz_err_set(e, SMZ_ERR_IO, "write error");
		} else if (!outsp) {
			if (smz_spool_copy(&m->raw, out, 1))
				rc = smz_err_set(e, SMZ_ERR_IO, "write error");
		} else {
			smz_mime_write_outer(m->m, out);
			if (smz_mime_copy_entity(outsp, out))
				rc = smz_err_set(e, SMZ_ERR_IO, "write error");
		}
	}
	if (rc == SMZ_ERR_PERM)
		snprintf(r->status, sizeof r->status, "FAIL %s%.900s",
			 strncmp(e->msg, "refused:", 8) == 0 ||
					 strncmp(e->msg, "not-for-recipient:", 18) == 0
				 ? ""
				 : "no-key: ",
			 e->msg);
	else if (rc == SMZ_ERR_DATA)
		snprintf(r->status, sizeof r->status, "FAIL malformed: %.900s", e->msg);
	smz_mime_keep_free(&k);
	return rc;
}

int
smz_smime_run(struct smz_smime *s, int ops, int in, FILE *out, struct smz_smime_result *r,
	      struct smz_err *e)
{
	memset(r, 0, sizeof *r);
	struct smz_mime_msg m;
	memset(&m, 0, sizeof m);
	int rc = smz_spool_read(in, &m.raw, e);
	if (!rc)
		rc = smz_mime_parse(&m, e);
	/* everything is built canonical (CRLF) in a spool, then written with
	 * the input's line ends */
	struct smz_spool o;
	memset(&o, 0, sizeof o);
	if (!rc && smz_spool_open(&o, m.raw.tf != NULL))
		rc = smz_err_set(e, SMZ_ERR_IO, "cannot create a temporary file");
	if (!rc)
		rc = (ops & (SMZ_SMIME_DECRYPT | SMZ_SMIME_VERIFY))
			     ? incoming(s, ops, &m, o.w, r, e)
			     : outgoing(s, ops, &m, o.w, r, e);
	if (!rc && smz_spool_seal(&o))
		rc = smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
	/* the audit entries of this message's key uses before its output */
	if (!rc && !(ops & SMZ_SMIME_VERIFY) && s->cfg.commit_before_output && smz_smime_pending(s))
		rc = smz_smime_commit(s, e);
	if (!rc && !(ops & SMZ_SMIME_VERIFY) && smz_spool_copy(&o, out, m.crlf))
		rc = smz_err_set(e, SMZ_ERR_IO, "write error");
	if (rc == SMZ_ERR_DATA && (ops & SMZ_SMIME_VERIFY) && !r->status[0])
		snprintf(r->status, sizeof r->status, "FAIL malformed: %.900s", e->msg);
	smz_spool_free(&o);
	smz_mime_msg_free(&m);
	return rc;
}

void
smz_smime_key_uses(const struct smz_smime *s,
		   void (*cb)(void *arg, const char *key_id, const char *address, size_t uses),
		   void *arg)
{
	for (size_t i = 0; i < s->nkeys; i++)
		if (s->keys[i].uses)
			cb(arg, s->keys[i].id, s->keys[i].addr, s->keys[i].uses);
}

int
smz_smime_last_key(const struct smz_smime *s, const char **key_id, const char **address)
{
	if (s->last_key < 0 || (size_t)s->last_key >= s->nkeys)
		return -1;
	*key_id = s->keys[s->last_key].id;
	*address = s->keys[s->last_key].addr;
	return 0;
}
