/*
 * cms: the cryptography of one S/MIME layer, with OpenSSL's CMS.  Sign a
 * canonical entity (multipart/signed, or opaque signed-data) with a
 * capabilities attribute of what we decrypt; encrypt it to the chosen
 * certificates (AES-256-GCM when every recipient advertises it, RSA-OAEP
 * where advertised, ECDH for EC keys); verify a SignedData (signature,
 * chain at the signing time cached per run, revocation, signer mailbox =
 * every From: mailbox, signing time near Date:); decrypt with whichever
 * vaulted key a RecipientInfo names, auditing each use.  cmsinfo.c names
 * the content cipher of an enveloped message before any key is used;
 * cmsread.c parses a structure with the run's certificate cache and
 * leaves a large message's content in its spool.
 * Part of smime; works on its run state (smime-int.h).
 */
#ifndef SMZ_CMS_H
#define SMZ_CMS_H

#include <openssl/cms.h>
#include <openssl/x509.h>
#include "err.h"
#include "spool.h"

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

/* Decrypt an (Auth)EnvelopedData to out with a vaulted key in scope; the
 * encrypted content in dcont (left out by smz_cms_read) or inside; which
 * key in used; mid for the audit entry. */
int smz_cms_decrypt(struct smz_smime *s, CMS_ContentInfo *cms, BIO *dcont, BIO *out,
		    const char *mid, char *used, size_t usedcap, struct smz_err *e);

/* Copy in to out to its end; 0, or -1 on a read or write error. */
int smz_cms_copy(BIO *in, BIO *out);

/* cmsread.c: a CMS structure from the DER in a sealed spool, or NULL when
 * it is not one.  A SignedData's certificates come from the run's cache.
 * With content non-NULL and the spool in a file, a SignedData's eContent
 * or an (Auth)EnvelopedData's encryptedContent is left out, as if
 * detached, and *content (else NULL) reads those octets from the spool,
 * which must outlive it: a large message is not held in memory.
 * smz_cms_read_init once first. */
int smz_cms_read_init(void);
CMS_ContentInfo *smz_cms_read(struct smz_smime *s, struct smz_spool *sp, BIO **content);

/* cmsinfo.c: the content cipher of the enveloped CMS in der (a prefix
 * suffices), NID_undef when unreadable; and its name for status lines,
 * whether policy (SMZ_REFUSE_*) refuses it, and whether it is weak. */
int smz_cms_cipher(struct smz_spool *der);
const char *smz_cms_cipher_name(int nid, unsigned refuse, int *refused, int *weak);

#endif
