/* smime: sign, encrypt, decrypt and verify one message; see smime.h.
 * This file holds the run's state and audit entries and the orchestration
 * of the layers; the parts live in spool.c (message bytes), mime.c (GMime),
 * certpick.c (which certificates and keys), cms.c, cmsinfo.c and cmsread.c
 * (OpenSSL's CMS). */
#include "smime.h"
#include "certpick.h"
#include "cms.h"
#include "mime.h"
#include "prog.h"
#include "smime-int.h"
#include "vault.h"

#include <gmime/gmime.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int
smz_smime_new(const struct smz_smime_cfg *cfg, struct smz_smime **out, struct smz_err *e)
{
	static int inited;
	if (!inited) {
		g_mime_init();
		if (smz_spool_b64_init() || smz_cms_read_init())
			return smz_err_set(e, SMZ_ERR_INTERNAL, "cannot set up OpenSSL BIOs");
		inited = 1;
	}
	struct smz_smime *s = calloc(1, sizeof *s);
	if (!s)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	s->cfg = *cfg;
	s->last_key = -1;
	/* what we decrypt, best first */
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	s->aes256cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	s->aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (!s->sha256 || !s->aes256cbc || !s->aes256gcm ||
	    !CMS_add_simple_smimecap(&s->caps, NID_aes_256_gcm, -1) ||
	    !CMS_add_simple_smimecap(&s->caps, NID_aes_256_cbc, -1) ||
	    !CMS_add_simple_smimecap(&s->caps, NID_aes_128_gcm, -1) ||
	    !CMS_add_simple_smimecap(&s->caps, NID_aes_128_cbc, -1)) {
		smz_smime_free(s);
		return smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot set up OpenSSL algorithms");
	}
	if (!s->cfg.max_layers)
		s->cfg.max_layers = 8;
	*out = s;
	return 0;
}

/* What the engine learnt from the vault and the directory: keys,
 * recipients, verified chains, RecipientInfo lookups. */
static void
forget(struct smz_smime *s)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		EVP_PKEY_free(s->keys[i].key);
		X509_free(s->keys[i].cert);
	}
	free(s->keys);
	s->keys = NULL;
	s->nkeys = 0;
	for (size_t i = 0; i < s->nrc; i++)
		X509_free(s->rc[i].cert);
	s->nrc = s->nvc = s->nrid = 0;
	s->last_key = -1;
}

void
smz_smime_reuse(struct smz_smime *s, const struct smz_smime_cfg *cfg)
{
	smz_smime_discard(s, 0);
	forget(s);
	s->cfg = *cfg;
	if (!s->cfg.max_layers)
		s->cfg.max_layers = 8;
	s->nest = 0;
	s->cipher[0] = s->weak[0] = 0;
}

void
smz_smime_free(struct smz_smime *s)
{
	if (!s)
		return;
	forget(s);
	for (size_t i = 0; i < s->nkept; i++)
		EVP_PKEY_free(s->kept[i].key);
	for (size_t i = 0; i < s->npc; i++)
		X509_free(s->pc[i].x);
	EVP_MD_free(s->sha256);
	EVP_CIPHER_free(s->aes256cbc);
	EVP_CIPHER_free(s->aes256gcm);
	sk_X509_ALGOR_pop_free(s->caps, X509_ALGOR_free);
	for (size_t i = 0; i < s->ncc; i++) {
		X509_free(s->cc[i].x);
		free(s->cc[i].der);
	}
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
	if (s->cfg.actor)
		smz_prog_act_for(s->cfg.actor);
	int rc = smz_vault_audit_batch(s->cfg.vault, a, n, e);
	if (s->cfg.actor)
		smz_prog_act_for(NULL);
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
			return smz_err_set(e, SMZ_ERR_USAGE, "the signing identity: %s", ae.msg);
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

/* One application/pkcs7-mime layer: decrypt or verify into next.  A
 * large layer's content stays in its spool (der) and is read from there. */
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
	BIO *content = NULL;
	CMS_ContentInfo *cms = smz_mime_b64_sane(o, smz_spool_size(&der))
				       ? smz_cms_read(s, &der, &content)
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
			BIO_free(content);
			smz_spool_free(&der);
			CMS_ContentInfo_free(cms);
			return smz_err_set(e, SMZ_ERR_PERM,
					   "refused: the content cipher %s is refused "
					   "by policy [smime] refuse",
					   name);
		}
	}
	if (!cms) {
		smz_spool_free(&der);
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
		rc = smz_cms_decrypt(s, cms, content, ob, mid, used, usedcap, e);
	else if (*type == NID_pkcs7_signed) {
		rc = smz_cms_verify(s, cms, content, ob, from, sr, e);
		/* a bad signature is reported, but what it wraps is still the
		 * message: hand it on (OpenSSL's CMS_verify does not) */
		ASN1_OCTET_STRING **pos = rc == SMZ_ERR_VERIFY && !content ? CMS_get0_content(cms)
									   : NULL;
		if (rc == SMZ_ERR_VERIFY && BIO_flush(ob) > 0 && ftell(next->w) == 0) {
			if (pos && *pos)
				BIO_write(ob, ASN1_STRING_get0_data(*pos),
					  ASN1_STRING_length(*pos));
			else if (content && BIO_reset(content) == 1)
				smz_cms_copy(content, ob);
		}
	} else
		rc = smz_err_set(e, SMZ_ERR_DATA, "unsupported CMS content (%s)",
				 OBJ_nid2sn(*type));
	if (ob) {
		BIO_flush(ob);
		BIO_free(ob);
	}
	BIO_free(content);
	smz_spool_free(&der);
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
				       : smz_cms_read(s, &der, NULL);
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
