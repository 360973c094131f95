/* cmsread: a CMS structure read without OpenSSL's full parse where that
 * costs too much; see smz_cms_read in cms.h.
 *
 * d2i of a SignedData decodes each certificate's public key through
 * OpenSSL 3.0's decoder framework, which was half the time of verifying a
 * small message, for the same two certificates every time; and d2i holds
 * all of a structure, content included, in memory.  So the DER is walked
 * first: the certificates (and, in a file, the content octets) are cut
 * out, the small rest goes to d2i_CMS_bio as before, the certificates are
 * put back from a cache of those parsed in this run (byte-identical DER),
 * and the content is read from the spool, as detached content, by a BIO
 * that joins the chunks of a BER OCTET STRING.  Anything the walk does not
 * expect goes to plain d2i, so what is accepted and refused stays
 * OpenSSL's call.  Part of smime; works on its run state (smime-int.h). */
#include "cms.h"
#include "smime-int.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REST (16u << 20) /* what is left after the cuts; else plain d2i */
#define MAX_NEST 32	     /* indefinite lengths within indefinite lengths */
#define MAX_CHUNK_NEST 5     /* constructed strings in one another, as ASN1_MAX_STRING_NEST */
#define MAX_CERT (64u << 10) /* a certificate cached, at most */

struct src { /* the DER: in memory, or in a file */
	const unsigned char *m;
	int fd;
	uint64_t size;
};

static int
src_read(const struct src *s, uint64_t off, void *buf, size_t n)
{
	if (off > s->size || n > s->size - off)
		return -1;
	if (s->m) {
		memcpy(buf, s->m + off, n);
		return 0;
	}
	unsigned char *p = buf;
	while (n) {
		ssize_t r = pread(s->fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r, off += (uint64_t)r, n -= (size_t)r;
	}
	return 0;
}

struct tlv {
	uint64_t off, end;  /* the element is [off, end); end 0 until known */
	unsigned idlen, hl; /* identifier octets; identifier and length octets */
	int cls, cons, indef;
	uint32_t tag;
	uint64_t len; /* of the contents, definite lengths */
};

/* The identifier and length of the element at off, which must end by limit. */
static int
tlv_head(const struct src *s, uint64_t off, uint64_t limit, struct tlv *t)
{
	unsigned char b[16];
	if (off >= limit || limit - off < 2)
		return -1;
	size_t n = limit - off < sizeof b ? (size_t)(limit - off) : sizeof b, i = 1;
	if (src_read(s, off, b, n))
		return -1;
	memset(t, 0, sizeof *t);
	t->off = off;
	t->cls = b[0] & 0xc0;
	t->cons = (b[0] & 0x20) != 0;
	t->tag = b[0] & 0x1f;
	if (t->tag == 0x1f) {
		t->tag = 0;
		do {
			if (i >= n || i > 4)
				return -1;
			t->tag = t->tag << 7 | (b[i] & 0x7f);
		} while (b[i++] & 0x80);
	}
	t->idlen = (unsigned)i;
	if (i >= n)
		return -1;
	unsigned char l = b[i++];
	if (l == 0x80) {
		if (!t->cons)
			return -1;
		t->indef = 1;
	} else if (l < 0x80) {
		t->len = l;
	} else {
		unsigned k = l & 0x7f;
		if (k > 8 || i + k > n)
			return -1;
		while (k--)
			t->len = t->len << 8 | b[i++];
	}
	t->hl = (unsigned)i;
	if (!t->indef && t->len > limit - off - i)
		return -1;
	t->end = t->indef ? 0 : off + i + t->len;
	return 0;
}

/* An end-of-contents is the two octets 00 00, as d2i reads one: not tag 0
 * with its length in long form or its number in high-tag form. */
static int
is_eoc(const struct tlv *t)
{
	return t->hl == 2 && t->cls == 0 && !t->cons && t->tag == 0 && t->len == 0;
}

/* d2i_CMS_bio reads a structure in with asn1_d2i_read_bio, which takes any
 * element of tag number 0 and length 0 (of any class: 80 00, a0 00, 00 81
 * 00) for an end-of-contents where lengths are indefinite, and so refuses
 * the whole.  Where one would be cut out of d2i's sight, the walk gives up
 * and leaves the structure to d2i. */
static int
reader_eoc(const struct tlv *t)
{
	return t->tag == 0 && !t->indef && t->len == 0;
}

/* Find where an element of indefinite length ends: past its end-of-contents. */
static int
tlv_finish(const struct src *s, struct tlv *t, uint64_t limit, int depth)
{
	if (!t->indef)
		return 0;
	if (depth > MAX_NEST)
		return -1;
	for (uint64_t pos = t->off + t->hl;;) {
		struct tlv c;
		if (tlv_head(s, pos, limit, &c))
			return -1;
		if (is_eoc(&c)) {
			t->end = pos + 2;
			return 0;
		}
		if (tlv_finish(s, &c, limit, depth + 1))
			return -1;
		pos = c.end;
	}
}

/* The children of a constructed element, one after the other. */
struct kids {
	const struct src *s;
	uint64_t pos, limit;
	int indef, depth;
};

static void
kids_of(struct kids *k, const struct src *s, const struct tlv *t, uint64_t limit, int depth)
{
	*k = (struct kids){s, t->off + t->hl, t->indef ? limit : t->end, t->indef, depth + 1};
}

/* The next child's header only (to descend into it): 1; 0 at the end; -1
 * malformed.  An end-of-contents within a definite length is malformed:
 * d2i refuses it there, and once its parent is written again with an
 * indefinite length (emit) it would end that parent instead. */
static int
kids_peek(struct kids *k, struct tlv *c)
{
	if (!k->indef && k->pos == k->limit)
		return 0;
	if (tlv_head(k->s, k->pos, k->limit, c))
		return -1;
	if (is_eoc(c))
		return k->indef ? 0 : -1;
	return 1;
}

/* The next child, whole (its end known): 1, 0 or -1. */
static int
kids_next(struct kids *k, struct tlv *c)
{
	int r = kids_peek(k, c);
	if (r != 1)
		return r;
	if (tlv_finish(k->s, c, k->limit, k->depth))
		return -1;
	k->pos = c->end;
	return 1;
}

static int
tlv_is(const struct tlv *t, int cls, int cons, uint32_t tag)
{
	return t->cls == cls && t->cons == cons && t->tag == tag;
}

/* What to leave out of a structure, and the elements that hold it. */
struct plan {
	uint64_t rewrite[4]; /* written again with indefinite lengths */
	int nrewrite;
	uint64_t cut[2];
	int ncut;
	struct tlv certs; /* SignedData certificates, when cut */
	uint64_t certs_limit;
	int have_certs;
	struct tlv content; /* the OCTET STRING of the content, when cut */
	int have_content;
};

static int
in_list(const uint64_t *v, int n, uint64_t off)
{
	for (int i = 0; i < n; i++)
		if (v[i] == off)
			return 1;
	return 0;
}

/* Certificates worth taking out: only X.509 certificates (no other
 * CertificateChoices), definite lengths, not too many or too large. */
static int
certs_cuttable(const struct src *s, const struct tlv *set, uint64_t limit, int depth)
{
	struct kids k;
	struct tlv c;
	int r, n = 0;
	kids_of(&k, s, set, limit, depth);
	while ((r = kids_next(&k, &c)) == 1) {
		if (!tlv_is(&c, V_ASN1_UNIVERSAL, 1, V_ASN1_SEQUENCE) || c.indef ||
		    c.end - c.off > MAX_CERT || ++n > 64)
			return 0;
	}
	return r == 0 && n > 0;
}

static const unsigned char oid_signed[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02},
			   oid_enveloped[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03},
			   oid_auth[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
					 0x01, 0x09, 0x10, 0x01, 0x17};

/* Walk ContentInfo down to what can be cut: 0 with a plan (maybe empty),
 * -1 for anything unexpected. */
static int
plan_cuts(const struct src *s, int detach, struct plan *p)
{
	struct tlv ci, oid, expl, inner, c;
	struct kids k;
	unsigned char ov[16];
	memset(p, 0, sizeof *p);
	if (tlv_head(s, 0, s->size, &ci) || !tlv_is(&ci, V_ASN1_UNIVERSAL, 1, V_ASN1_SEQUENCE))
		return -1;
	kids_of(&k, s, &ci, s->size, 0);
	uint64_t climit = k.limit;
	if (kids_next(&k, &oid) != 1 || !tlv_is(&oid, V_ASN1_UNIVERSAL, 0, V_ASN1_OBJECT) ||
	    oid.len > sizeof ov || src_read(s, oid.off + oid.hl, ov, (size_t)oid.len) ||
	    kids_peek(&k, &expl) != 1 || !tlv_is(&expl, V_ASN1_CONTEXT_SPECIFIC, 1, 0))
		return -1;
	int sig = oid.len == sizeof oid_signed && memcmp(ov, oid_signed, sizeof oid_signed) == 0;
	int env = (oid.len == sizeof oid_enveloped &&
		   memcmp(ov, oid_enveloped, sizeof oid_enveloped) == 0) ||
		  (oid.len == sizeof oid_auth && memcmp(ov, oid_auth, sizeof oid_auth) == 0);
	if (!sig && !env)
		return 0;
	kids_of(&k, s, &expl, climit, 1);
	if (kids_peek(&k, &inner) != 1 || !tlv_is(&inner, V_ASN1_UNIVERSAL, 1, V_ASN1_SEQUENCE))
		return -1;
	uint64_t ilimit = k.limit, top[3] = {ci.off, expl.off, inner.off};
	kids_of(&k, s, &inner, ilimit, 2);
	if (kids_next(&k, &c) != 1 || !tlv_is(&c, V_ASN1_UNIVERSAL, 0, V_ASN1_INTEGER))
		return -1;
	struct tlv holder; /* encapContentInfo or EncryptedContentInfo */
	if (sig) {
		if (kids_next(&k, &c) != 1 || !tlv_is(&c, V_ASN1_UNIVERSAL, 1, V_ASN1_SET) ||
		    kids_peek(&k, &holder) != 1)
			return -1;
	} else {
		if (kids_next(&k, &c) != 1)
			return -1;
		if (tlv_is(&c, V_ASN1_CONTEXT_SPECIFIC, 1, 0) && kids_next(&k, &c) != 1)
			return -1; /* originatorInfo, then recipientInfos */
		if (!tlv_is(&c, V_ASN1_UNIVERSAL, 1, V_ASN1_SET) || kids_peek(&k, &holder) != 1)
			return -1;
	}
	if (!tlv_is(&holder, V_ASN1_UNIVERSAL, 1, V_ASN1_SEQUENCE))
		return -1;
	if (detach) {
		struct kids h;
		struct tlv ct, t;
		kids_of(&h, s, &holder, k.limit, 3);
		if (kids_next(&h, &ct) != 1 || !tlv_is(&ct, V_ASN1_UNIVERSAL, 0, V_ASN1_OBJECT))
			return -1;
		if (env &&
		    (kids_next(&h, &t) != 1 || !tlv_is(&t, V_ASN1_UNIVERSAL, 1, V_ASN1_SEQUENCE)))
			return -1; /* contentEncryptionAlgorithm */
		int r = kids_peek(&h, &t);
		if (r < 0)
			return -1;
		if (r == 1 && t.cls == V_ASN1_CONTEXT_SPECIFIC && t.tag == 0) {
			struct tlv after;
			p->content = t;
			if (sig) { /* [0] EXPLICIT OCTET STRING, alone */
				struct kids e;
				kids_of(&e, s, &t, h.limit, 4);
				if (!t.cons || kids_next(&e, &p->content) != 1 ||
				    p->content.cls != V_ASN1_UNIVERSAL ||
				    p->content.tag != V_ASN1_OCTET_STRING ||
				    kids_peek(&e, &after) != 0)
					return -1;
			}
			/* the last element of its SEQUENCE: else the cut could make a
			 * structure that d2i refuses into one it accepts */
			if (kids_next(&h, &t) != 1 || kids_peek(&h, &after) != 0)
				return -1;
			p->have_content = 1;
			p->cut[p->ncut++] = t.off;
			p->rewrite[p->nrewrite++] = holder.off;
		}
	}
	if (sig) { /* after encapContentInfo: certificates [0] */
		struct tlv certs;
		if (kids_next(&k, &holder) != 1)
			return -1;
		int r = kids_peek(&k, &certs);
		if (r < 0)
			return -1;
		struct kids after = k;
		struct tlv next;
		if (r == 1 && tlv_is(&certs, V_ASN1_CONTEXT_SPECIFIC, 1, 0) &&
		    certs_cuttable(s, &certs, k.limit, 3) && kids_next(&after, &certs) == 1 &&
		    kids_peek(&after, &next) == 1 && /* not a second [0] in its place */
		    !(next.cls == V_ASN1_CONTEXT_SPECIFIC && next.tag == 0)) {
			p->certs = certs;
			p->certs_limit = k.limit;
			p->have_certs = 1;
			p->cut[p->ncut++] = certs.off;
		}
	}
	if (p->ncut)
		for (int i = 0; i < 3; i++)
			p->rewrite[p->nrewrite++] = top[i];
	return 0;
}

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int
buf_add(struct buf *b, const void *d, size_t n)
{
	if (n > MAX_REST - b->len)
		return -1;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static int
buf_copy(struct buf *b, const struct src *s, uint64_t off, uint64_t n)
{
	unsigned char tmp[16384];
	while (n) {
		size_t k = n < sizeof tmp ? (size_t)n : sizeof tmp;
		if (src_read(s, off, tmp, k) || buf_add(b, tmp, k))
			return -1;
		off += k, n -= k;
	}
	return 0;
}

/* Copy the element t to b without the cuts; the elements that hold a cut
 * get indefinite lengths (BER, as streamed CMS has anyway).  Sets t->end. */
static int
emit(const struct src *s, struct tlv *t, uint64_t limit, const struct plan *p, struct buf *b,
     int depth)
{
	if (depth > MAX_NEST)
		return -1;
	if (!in_list(p->rewrite, p->nrewrite, t->off)) {
		if (tlv_finish(s, t, limit, depth))
			return -1;
		return in_list(p->cut, p->ncut, t->off) ? 0
							: buf_copy(b, s, t->off, t->end - t->off);
	}
	unsigned char id[8];
	if (t->idlen > sizeof id - 1 || src_read(s, t->off, id, t->idlen))
		return -1;
	id[t->idlen] = 0x80;
	if (buf_add(b, id, t->idlen + 1))
		return -1;
	struct kids k;
	struct tlv c;
	int r;
	kids_of(&k, s, t, limit, depth);
	while ((r = kids_peek(&k, &c)) == 1) {
		if (emit(s, &c, k.limit, p, b, depth + 1))
			return -1;
		k.pos = c.end;
	}
	if (r < 0)
		return -1;
	t->end = t->indef ? k.pos + 2 : t->end;
	return buf_add(b, "\0\0", 2);
}

/* The certificate with this DER: from the run's cache, else parsed (and
 * kept while there is room). */
static X509 *
cached_cert(struct smz_smime *s, const unsigned char *der, size_t len)
{
	for (size_t i = 0; i < s->ncc; i++)
		if (s->cc[i].len == len && memcmp(s->cc[i].der, der, len) == 0) {
			X509_up_ref(s->cc[i].x);
			return s->cc[i].x;
		}
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)len);
	if (!x || q != der + len) {
		X509_free(x);
		return NULL;
	}
	unsigned char *copy = s->ncc < sizeof s->cc / sizeof s->cc[0] ? malloc(len) : NULL;
	if (copy) {
		memcpy(copy, der, len);
		X509_up_ref(x);
		s->cc[s->ncc++] = (struct smz_smime_ccache){copy, len, x};
	}
	return x;
}

/* Put the certificates cut out back, in their order. */
static int
add_certs(struct smz_smime *s, const struct src *src, const struct plan *p, CMS_ContentInfo *cms)
{
	struct kids k;
	struct tlv c;
	int r = -1;
	unsigned char *der = malloc(MAX_CERT);
	kids_of(&k, src, &p->certs, p->certs_limit, 3);
	while (der && (r = kids_next(&k, &c)) == 1) {
		size_t len = (size_t)(c.end - c.off);
		X509 *x = src_read(src, c.off, der, len) ? NULL : cached_cert(s, der, len);
		if (!x)
			break;
		/* a certificate given twice is there once: CMS_add1_cert says so,
		 * and verification is the same */
		if (!CMS_add1_cert(cms, x))
			ERR_clear_error();
		X509_free(x);
	}
	free(der);
	return der && r == 0 ? 0 : -1;
}

/* The content octets: a BIO over the chunks of a BER OCTET STRING (or one
 * primitive string) in a file. */
struct octets {
	struct src src;
	struct tlv first;
	uint64_t pos, left; /* in the chunk being read */
	struct {
		int indef;
		uint64_t end;
	} lev[MAX_CHUNK_NEST + 1];
	int nlev, started, done;
};

static BIO_METHOD *octets_method;

static void
octets_start(struct octets *o)
{
	o->nlev = 0;
	o->done = 0;
	o->pos = o->first.off + o->first.hl;
	if (o->first.cons) {
		o->left = 0;
		o->lev[o->nlev].indef = o->first.indef;
		o->lev[o->nlev++].end = o->first.end;
	} else {
		o->left = o->first.len;
	}
}

/* On to the next primitive chunk: 1, 0 at the end, -1 malformed. */
static int
octets_next(struct octets *o)
{
	while (o->nlev > 0) {
		int top = o->nlev - 1;
		struct tlv t;
		if (!o->lev[top].indef && o->pos == o->lev[top].end) {
			o->nlev--;
			continue;
		}
		if (tlv_head(&o->src, o->pos, o->lev[top].indef ? o->src.size : o->lev[top].end,
			     &t))
			return -1;
		if (is_eoc(&t)) {
			if (!o->lev[top].indef)
				return -1;
			o->pos += 2;
			o->nlev--;
			continue;
		}
		if (reader_eoc(&t))
			return -1;
		o->pos += t.hl;
		if (t.cons) {
			if (o->nlev > MAX_CHUNK_NEST)
				return -1;
			o->lev[o->nlev].indef = t.indef;
			o->lev[o->nlev++].end = t.end;
			continue;
		}
		o->left = t.len;
		if (o->left)
			return 1;
	}
	return 0;
}

static int
octets_read(BIO *b, char *out, int outl)
{
	struct octets *o = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (outl <= 0)
		return 0;
	while (!o->left) {
		int r = o->done ? 0 : octets_next(o);
		if (r <= 0) {
			o->done = 1;
			return r;
		}
	}
	size_t n = o->left < (uint64_t)outl ? (size_t)o->left : (size_t)outl;
	if (src_read(&o->src, o->pos, out, n))
		return -1;
	o->pos += n;
	o->left -= n;
	return (int)n;
}

static long
octets_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num, (void)ptr;
	struct octets *o = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_RESET:
		octets_start(o);
		return 1;
	case BIO_CTRL_EOF:
		return o->done;
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static int
octets_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

int
smz_cms_read_init(void)
{
	octets_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "smz-octets");
	if (!octets_method || !BIO_meth_set_read(octets_method, octets_read) ||
	    !BIO_meth_set_ctrl(octets_method, octets_ctrl) ||
	    !BIO_meth_set_destroy(octets_method, octets_destroy))
		return -1;
	return 0;
}

static BIO *
octets_bio(const struct src *s, const struct tlv *first)
{
	struct octets *o = calloc(1, sizeof *o);
	BIO *b = o ? BIO_new(octets_method) : NULL;
	if (!b) {
		free(o);
		return NULL;
	}
	o->src = *s;
	o->first = *first;
	octets_start(o);
	BIO_set_data(b, o);
	BIO_set_init(b, 1);
	return b;
}

/* Walk the chunks of the content once before it is used, so that a
 * malformed one is OpenSSL's to refuse, in d2i, not a read error half way. */
static int
octets_check(const struct src *s, const struct tlv *first)
{
	struct octets o = {.src = *s, .first = *first};
	if (reader_eoc(first))
		return -1;
	octets_start(&o);
	int r = 1;
	while (r == 1) {
		o.pos += o.left;
		o.left = 0;
		r = octets_next(&o);
	}
	return r;
}

static CMS_ContentInfo *
d2i_all(struct smz_spool *sp)
{
	BIO *b = smz_spool_bio(sp);
	CMS_ContentInfo *cms = b ? d2i_CMS_bio(b, NULL) : NULL;
	BIO_free(b);
	return cms;
}

CMS_ContentInfo *
smz_cms_read(struct smz_smime *s, struct smz_spool *sp, BIO **content)
{
	if (content)
		*content = NULL;
	struct src src = {sp->tf ? NULL : (const unsigned char *)(sp->buf ? sp->buf : ""),
			  sp->tf ? fileno(sp->tf) : -1, smz_spool_size(sp)};
	struct plan p;
	struct tlv root;
	struct buf b = {0};
	if (plan_cuts(&src, content && sp->tf, &p) || !p.ncut ||
	    tlv_head(&src, 0, src.size, &root) || emit(&src, &root, src.size, &p, &b, 0)) {
		free(b.p);
		return d2i_all(sp);
	}
	BIO *mb = BIO_new_mem_buf(b.p, (int)b.len);
	CMS_ContentInfo *cms = mb ? d2i_CMS_bio(mb, NULL) : NULL;
	BIO_free(mb);
	free(b.p);
	BIO *cb = NULL;
	if (cms && p.have_certs && add_certs(s, &src, &p, cms))
		CMS_ContentInfo_free(cms), cms = NULL;
	if (cms && p.have_content &&
	    (octets_check(&src, &p.content) || !(cb = octets_bio(&src, &p.content))))
		CMS_ContentInfo_free(cms), cms = NULL;
	if (!cms) { /* OpenSSL says what is wrong with it */
		ERR_clear_error();
		return d2i_all(sp);
	}
	if (content)
		*content = cb;
	return cms;
}
