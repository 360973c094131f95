/* fuzz-cmsread: lib/cmsread.c on hostile bytes, for libFuzzer (make fuzz)
 * and for tests/fuzz/replay.c (make check).
 *
 * One input is read each way smime.c reads mail: from a memory spool with
 * and without a content pointer, and from a file spool with the content
 * left in the file and without.  cmsread promises that what is accepted
 * and refused stays OpenSSL's call, so every answer is held against
 * d2i_CMS_bio of the same bytes: accepted exactly when d2i accepts, the
 * same type, the same structure once re-encoded without its content (and
 * the same certificates, a duplicate dropped), the same content octets --
 * read through the BIO over the file twice, the second time after a
 * reset and in odd sizes.  A disagreement aborts, so libFuzzer keeps it
 * as a crash.  The run's certificate cache is emptied after each input:
 * an input answers the same alone or after others. */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cms.h"
#include "smime-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *fuzz_cmsread_verdict(void);

static struct smz_smime *engine;
static char verdict[160];

static _Noreturn void
fail(const char *why)
{
	fprintf(stderr, "fuzz-cmsread: %s\n", why);
	abort();
}

/* What a reading gave, to compare with d2i's. */
struct answer {
	CMS_ContentInfo *cms;
	int nid;
	unsigned char *der; /* re-encoded without the content */
	int derlen;
	unsigned char *content; /* its octets, from inside or from the file */
	size_t clen;
	int has_content, from_file;
	STACK_OF(X509) * certs;
};

static void
answer_free(struct answer *a)
{
	CMS_ContentInfo_free(a->cms);
	OPENSSL_free(a->der);
	free(a->content);
	sk_X509_pop_free(a->certs, X509_free);
	memset(a, 0, sizeof *a);
}

static int
grow(unsigned char **p, size_t *len, const void *d, size_t n)
{
	unsigned char *np = realloc(*p, *len + n + 1);
	if (!np)
		return -1;
	memcpy(np + *len, d, n);
	*p = np;
	*len += n;
	return 0;
}

/* All of the BIO, read in pieces of `step` bytes. */
static int
slurp(BIO *b, size_t step, unsigned char **out, size_t *len)
{
	unsigned char tmp[4096];
	int r;
	*out = NULL;
	*len = 0;
	if (grow(out, len, "", 0))
		return -1;
	while ((r = BIO_read(b, tmp, (int)step)) > 0)
		if (grow(out, len, tmp, (size_t)r))
			return -1;
	return r < 0 ? -1 : 0;
}

/* Fill in a from cms and the detached content BIO cb (both consumed). */
static void
describe(struct answer *a, CMS_ContentInfo *cms, BIO *cb)
{
	memset(a, 0, sizeof *a);
	a->cms = cms;
	if (!cms) {
		if (cb)
			fail("a content BIO without a structure");
		return;
	}
	a->nid = OBJ_obj2nid(CMS_get0_type(cms));
	ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
	if (cb) {
		if (pos && *pos)
			fail("content both inside and in the file");
		unsigned char *again;
		size_t alen;
		if (slurp(cb, 4096, &a->content, &a->clen))
			fail("the content BIO fails a read its check passed");
		if (BIO_eof(cb) != 1)
			fail("the content BIO is not at its end after the last byte");
		if (BIO_reset(cb) != 1 || slurp(cb, 7, &again, &alen))
			fail("the content BIO does not read again after a reset");
		if (alen != a->clen || memcmp(again, a->content, alen) != 0)
			fail("the content BIO reads other octets after a reset");
		free(again);
		BIO_free(cb);
		a->has_content = a->from_file = 1;
	} else if (pos && *pos) {
		a->clen = (size_t)ASN1_STRING_length(*pos);
		a->content = malloc(a->clen + 1);
		if (!a->content)
			fail("out of memory");
		memcpy(a->content, ASN1_STRING_get0_data(*pos), a->clen);
		a->has_content = 1;
	}
	/* only where the content is optional: elsewhere OpenSSL's i2d does not
	 * expect a NULL (an unknown type's ANY would crash it) */
	if (pos && *pos &&
	    (a->nid == NID_pkcs7_signed || a->nid == NID_pkcs7_enveloped ||
	     a->nid == NID_id_smime_ct_authEnvelopedData))
		CMS_set_detached(cms, 1);
	a->certs = CMS_get1_certs(cms);
	a->derlen = i2d_CMS_ContentInfo(cms, &a->der);
	ERR_clear_error();
}

static int
has_cert(STACK_OF(X509) * v, X509 *x)
{
	for (int i = 0; i < sk_X509_num(v); i++)
		if (X509_cmp(sk_X509_value(v, i), x) == 0)
			return 1;
	return 0;
}

/* got must be ref, d2i's answer, but for certificates given twice. */
static void
same(const struct answer *ref, const struct answer *got, const char *how)
{
	char why[200];
	const char *bad = NULL;
	if (!ref->cms != !got->cms)
		bad = ref->cms ? "refused what d2i accepts" : "accepted what d2i refuses";
	else if (!ref->cms)
		return;
	else if (ref->nid != got->nid)
		bad = "another type";
	else if (ref->has_content != got->has_content || ref->clen != got->clen ||
		 (ref->clen && memcmp(ref->content, got->content, ref->clen) != 0))
		bad = "other content";
	else if (sk_X509_num(ref->certs) == sk_X509_num(got->certs)) {
		if ((ref->derlen < 0) != (got->derlen < 0) ||
		    (ref->derlen > 0 && (ref->derlen != got->derlen ||
					 memcmp(ref->der, got->der, (size_t)ref->derlen) != 0)))
			bad = "another structure";
	} else {
		int distinct = 0;
		for (int i = 0; i < sk_X509_num(ref->certs); i++) {
			X509 *x = sk_X509_value(ref->certs, i);
			if (!has_cert(got->certs, x))
				bad = "a certificate lost";
			int first = 1;
			for (int j = 0; j < i; j++)
				if (X509_cmp(sk_X509_value(ref->certs, j), x) == 0)
					first = 0;
			distinct += first;
		}
		if (!bad && distinct != sk_X509_num(got->certs))
			bad = "other certificates";
	}
	if (bad) {
		snprintf(why, sizeof why, "%s: %s", how, bad);
		fail(why);
	}
}

static void
spool_of(struct smz_spool *sp, int big, const uint8_t *d, size_t n)
{
	if (smz_spool_open(sp, big) || (n && fwrite(d, 1, n, sp->w) != n) || smz_spool_seal(sp))
		fail("cannot make a spool");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!engine) {
		struct smz_smime_cfg cfg = {0};
		struct smz_err e = {0};
		if (smz_smime_new(&cfg, &engine, &e))
			fail("cannot set up the engine");
	}
	struct answer ref, got;
	BIO *mb = BIO_new_mem_buf(data, (int)size);
	describe(&ref, mb ? d2i_CMS_bio(mb, NULL) : NULL, NULL);
	BIO_free(mb);

	struct smz_spool mem, file;
	BIO *cb = (BIO *)&cb; /* must be set to NULL */
	spool_of(&mem, 0, data, size);
	describe(&got, smz_cms_read(engine, &mem, NULL), NULL);
	same(&ref, &got, "memory");
	answer_free(&got);
	describe(&got, smz_cms_read(engine, &mem, &cb), NULL);
	if (cb)
		fail("memory: content left out of a spool in memory");
	same(&ref, &got, "memory, content wanted");
	answer_free(&got);
	smz_spool_free(&mem);

	spool_of(&file, 1, data, size);
	describe(&got, smz_cms_read(engine, &file, NULL), NULL);
	same(&ref, &got, "file");
	answer_free(&got);
	cb = (BIO *)&cb;
	CMS_ContentInfo *cms = smz_cms_read(engine, &file, &cb);
	if (cb == (BIO *)&cb)
		fail("file: content pointer not set");
	describe(&got, cms, cb);
	same(&ref, &got, "file, content wanted");
	smz_spool_free(&file);

	if (!ref.cms)
		snprintf(verdict, sizeof verdict, "refused");
	else
		snprintf(verdict, sizeof verdict, "%s certs=%d cached=%zu content=%s",
			 OBJ_nid2sn(ref.nid), ref.certs ? sk_X509_num(ref.certs) : 0, engine->ncc,
			 !got.has_content ? "none"
			 : got.from_file  ? "file"
					  : "inside");
	answer_free(&ref);
	answer_free(&got);
	for (size_t i = 0; i < engine->ncc; i++) {
		X509_free(engine->cc[i].x);
		free(engine->cc[i].der);
	}
	engine->ncc = 0;
	ERR_clear_error();
	return 0;
}

/* The answer to the last input, for replay. */
const char *
fuzz_cmsread_verdict(void)
{
	return verdict;
}
