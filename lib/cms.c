/* cms: sign, encrypt, verify and decrypt one S/MIME layer; see cms.h. */
#include "cms.h"
#include "certpick.h"
#include "keys.h"
#include "mime.h"
#include "smime-int.h"
#include "vault.h"

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
add_signer(struct smz_smime *s, CMS_ContentInfo *cms, struct smz_smime_key *k, unsigned flags)
{
	CMS_SignerInfo *si = CMS_add1_signer(cms, k->cert, k->key, s->sha256,
					     flags | CMS_NOSMIMECAP);
	return si && CMS_add_smimecap(si, s->caps) ? si : NULL;
}

int
smz_cms_sign(struct smz_smime *s, struct smz_smime_key *k, struct smz_spool *in,
	     struct smz_spool *out, struct smz_err *e)
{
	unsigned flags = CMS_BINARY | CMS_PARTIAL | (s->cfg.opaque ? CMS_STREAM : CMS_DETACHED);
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, s->cfg.chain, NULL, flags);
	BIO *data = smz_spool_bio(in);
	int rc = 0;
	if (!cms || !data || !add_signer(s, cms, k, flags)) {
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
			micalg(s->sha256), b, b);
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

/* cert_advertises, remembered for the run's recipient certificates */
static int
advertises(struct smz_smime *s, X509 *x, int nid)
{
	for (size_t i = 0; i < s->nrc; i++) {
		if (s->rc[i].cert != x)
			continue;
		int *v = nid == NID_aes_256_gcm ? &s->rc[i].gcm : &s->rc[i].oaep;
		if (*v < 0)
			*v = cert_advertises(x, nid);
		return *v;
	}
	return cert_advertises(x, nid);
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
			gcm &= advertises(s, sk_X509_value(rcpt, i), NID_aes_256_gcm);
	}
	unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;
	CMS_ContentInfo *cms = CMS_encrypt(NULL, NULL, gcm ? s->aes256gcm : s->aes256cbc, flags);
	if (!cms)
		rc = smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot encrypt");
	int noaep = 0, npk = 0, nec = 0;
	for (int i = 0; !rc && i < sk_X509_num(rcpt); i++) {
		X509 *x = sk_X509_value(rcpt, i);
		int ec = EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_EC;
		int oaep = !ec && (s->cfg.rsa_transport == 2 ||
				   (s->cfg.rsa_transport == 0 && advertises(s, x, NID_rsaesOaep)));
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, x, flags | CMS_KEY_PARAM);
		EVP_PKEY_CTX *pc = ri ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
		if (!ri || !pc ||
		    (oaep && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) <= 0 ||
			      EVP_PKEY_CTX_set_rsa_oaep_md(pc, s->sha256) <= 0 ||
			      EVP_PKEY_CTX_set_rsa_mgf1_md(pc, s->sha256) <= 0)) ||
		    (ec && EVP_PKEY_CTX_set_ecdh_kdf_md(pc, s->sha256) <= 0))
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
chain_id(const EVP_MD *md, X509 *signer, STACK_OF(X509) * untrusted, unsigned char id[32])
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	unsigned char *d = NULL;
	int dl = i2d_X509(signer, &d);
	int idok = mc && dl > 0 && EVP_DigestInit_ex(mc, md, NULL) &&
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
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = CMS_get1_certs(cms); /* NULL when it has none */
	if (!untrusted)
		untrusted = sk_X509_new_null();
	for (int i = 0; i < sk_X509_num(s->cfg.chain); i++) {
		X509_up_ref(sk_X509_value(s->cfg.chain, i));
		sk_X509_push(untrusted, sk_X509_value(s->cfg.chain, i));
	}
	int rc = 0;
	unsigned char cid[32];
	struct smz_smime_vcache *hit = NULL;
	int idok = chain_id(s->sha256, signer, untrusted, cid);
	for (size_t i = 0; idok && i < s->nvc; i++)
		if (memcmp(s->vc[i].id, cid, 32) == 0 && s->vc[i].crl == s->cfg.crl_check &&
		    at >= s->vc[i].from && at <= s->vc[i].to)
			hit = &s->vc[i];
	if (hit) {
		;
	} else if (!(ctx = X509_STORE_CTX_new()) ||
		   !X509_STORE_CTX_init(ctx, s->cfg.trust, signer, untrusted)) {
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
		struct tm tm;
		strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&st, &tm));
		strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&h->date, &tm));
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
		struct tm tm;
		if (st != (time_t)-1)
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&st, &tm));
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
smz_cms_decrypt(struct smz_smime *s, CMS_ContentInfo *cms, BIO *dcont, BIO *out, const char *mid,
		char *used, size_t usedcap, struct smz_err *e)
{
	if (!s->cfg.vault)
		return smz_err_need(e, SMZ_ERR_PERM, SMZ_NEED_VAULT,
				    "the message is encrypted and no vault is configured");
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
							       NULL, s->sha256, NULL) == 1
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
	if (!CMS_decrypt(cms, NULL, NULL, dcont, out, CMS_BINARY)) {
		/* the key matched but the content does not decrypt or authenticate */
		if (!s->cfg.count_only)
			smz_smime_audit_add(s, "decrypt-failed", used, mid);
		return smz_err_ssl(e, SMZ_ERR_DATA, "the encrypted content is damaged");
	}
	if (s->last_key >= 0)
		s->keys[s->last_key].uses++;
	return 0;
}

int
smz_cms_copy(BIO *in, BIO *out)
{
	char b[16384];
	int n;
	while ((n = BIO_read(in, b, sizeof b)) > 0)
		if (BIO_write(out, b, n) != n)
			return -1;
	return n < 0 ? -1 : 0;
}
