/* smz_cms_read: signed and enveloped structures, DER (definite lengths)
 * and streamed BER (indefinite, chunked content), in memory and in a file
 * spool, read back with their certificates from the run's cache and, in a
 * file, their content detached; what OpenSSL refuses stays refused. */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>
#include "cms.h"
#include "smime-int.h"
#include "tap.h"

#define DATA_LEN 300000

static X509 *
make_cert(EVP_PKEY *k, const char *cn, EVP_PKEY *signer)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	ASN1_INTEGER_set(X509_get_serialNumber(x), cn[0]);
	X509_set_version(x, 2);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_sign(x, signer, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* The DER of cms in a spool: file-backed with big, streamed with data. */
static void
to_spool(CMS_ContentInfo *cms, BIO *data, unsigned flags, int big, struct smz_spool *sp)
{
	smz_spool_open(sp, big);
	BIO *b = BIO_new_fp(sp->w, BIO_NOCLOSE);
	if (data)
		i2d_CMS_bio_stream(b, cms, data, flags);
	else
		i2d_CMS_bio(b, cms);
	BIO_flush(b);
	BIO_free(b);
	smz_spool_seal(sp);
}

static int
same_as(BIO *mem, const unsigned char *want, size_t len)
{
	const unsigned char *p;
	long n = BIO_get_mem_data(mem, (char **)&p);
	return n >= 0 && (size_t)n == len && memcmp(p, want, len) == 0;
}

/* How many of the two readings of d, from memory and from a file (content
 * left there), smz_cms_read accepts. */
static int
accepted(struct smz_smime *s, const unsigned char *d, size_t n)
{
	int r = 0;
	for (int big = 0; big < 2; big++) {
		struct smz_spool sp;
		BIO *content = NULL;
		smz_spool_open(&sp, big);
		fwrite(d, 1, n, sp.w);
		smz_spool_seal(&sp);
		CMS_ContentInfo *c = smz_cms_read(s, &sp, &content);
		r += c != NULL;
		CMS_ContentInfo_free(c);
		BIO_free(content);
		smz_spool_free(&sp);
		ERR_clear_error();
	}
	return r;
}

/* The DER of cms (streamed BER with data) in a new buffer with room for
 * `room` more bytes. */
static unsigned char *
der_of(CMS_ContentInfo *cms, BIO *data, size_t room, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (data)
		i2d_CMS_bio_stream(b, cms, data, CMS_BINARY | CMS_STREAM);
	else
		i2d_CMS_bio(b, cms);
	char *p;
	long n = BIO_get_mem_data(b, &p);
	unsigned char *d = malloc((size_t)n + room);
	memcpy(d, p, (size_t)n);
	*len = (size_t)n;
	BIO_free(b);
	return d;
}

int
main(void)
{
	struct smz_smime_cfg cfg = {0};
	struct smz_smime *s = NULL;
	struct smz_err e = {0};
	ok(smz_smime_new(&cfg, &s, &e) == 0, "engine");
	EVP_PKEY *k = EVP_EC_gen("P-256"), *ca = EVP_EC_gen("P-256");
	X509 *cert = make_cert(k, "alice", k), *cacert = make_cert(ca, "ca", ca);
	STACK_OF(X509) *extra = sk_X509_new_null(), *rcpt = sk_X509_new_null();
	sk_X509_push(extra, cacert);
	sk_X509_push(rcpt, cert);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_add_cert(store, cert);
	unsigned char *data = malloc(DATA_LEN);
	for (size_t i = 0; i < DATA_LEN; i++)
		data[i] = (unsigned char)(i * 7 + i / 1000);

	for (int stream = 0; stream < 2; stream++)
		for (int big = 0; big < 2; big++) {
			const char *how = stream ? "BER streamed" : "DER";
			const char *where = big ? "file" : "memory";
			unsigned flags = CMS_BINARY | (stream ? CMS_STREAM | CMS_PARTIAL : 0);
			/* signed, opaque */
			BIO *in = BIO_new_mem_buf(data, DATA_LEN);
			CMS_ContentInfo *c = CMS_sign(cert, k, extra, in, flags);
			struct smz_spool sp;
			BIO_free(in);
			in = BIO_new_mem_buf(data, DATA_LEN);
			to_spool(c, stream ? in : NULL, flags, big, &sp);
			BIO_free(in);
			CMS_ContentInfo_free(c);
			size_t ncc = s->ncc;
			BIO *content = NULL, *out = BIO_new(BIO_s_mem());
			CMS_ContentInfo *r = smz_cms_read(s, &sp, &content);
			STACK_OF(X509) *certs = r ? CMS_get1_certs(r) : NULL;
			ok(r && OBJ_obj2nid(CMS_get0_type(r)) == NID_pkcs7_signed &&
				   sk_X509_num(certs) == 2,
			   "signed, %s, %s: read with both certificates", how, where);
			ok(!big == !content, "signed, %s, %s: content %s", how, where,
			   big ? "left in the file" : "inside");
			ok(r &&
				   CMS_verify(r, NULL, store, content, out,
					      CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1 &&
				   same_as(out, data, DATA_LEN),
			   "signed, %s, %s: verifies, content intact", how, where);
			ok(s->ncc == 2 && (ncc == 0 || ncc == 2),
			   "signed, %s, %s: certificates cached once (%zu)", how, where, s->ncc);
			sk_X509_pop_free(certs, X509_free);
			BIO_free(content);
			BIO_free(out);
			CMS_ContentInfo_free(r);
			smz_spool_free(&sp);
			ERR_clear_error();

			/* enveloped (CBC) and auth-enveloped (GCM), to an EC key */
			for (int gcm = 0; gcm < 2; gcm++) {
				in = BIO_new_mem_buf(data, DATA_LEN);
				c = CMS_encrypt(rcpt, in,
						gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(), flags);
				BIO_free(in);
				in = BIO_new_mem_buf(data, DATA_LEN);
				to_spool(c, stream ? in : NULL, flags, big, &sp);
				BIO_free(in);
				CMS_ContentInfo_free(c);
				content = NULL;
				out = BIO_new(BIO_s_mem());
				r = smz_cms_read(s, &sp, &content);
				ok(r && !big == !content, "%s, %s, %s: read, content %s",
				   gcm ? "GCM" : "CBC", how, where,
				   big ? "left in the file" : "inside");
				ok(r && CMS_decrypt(r, k, cert, content, out, CMS_BINARY) == 1 &&
					   same_as(out, data, DATA_LEN),
				   "%s, %s, %s: decrypts to the content", gcm ? "GCM" : "CBC", how,
				   where);
				BIO_free(content);
				BIO_free(out);
				CMS_ContentInfo_free(r);
				ERR_clear_error();
				if (gcm && big) { /* one byte changed inside: refused */
					unsigned char b;
					long at = (long)smz_spool_size(&sp) / 2;
					int fd = fileno(sp.tf);
					ok(pread(fd, &b, 1, at) == 1 && (b ^= 1, 1) &&
						   pwrite(fd, &b, 1, at) == 1,
					   "GCM, %s: one byte changed", how);
					content = NULL;
					out = BIO_new(BIO_s_mem());
					r = smz_cms_read(s, &sp, &content);
					ok(!r || CMS_decrypt(r, k, cert, content, out,
							     CMS_BINARY) != 1,
					   "GCM, %s: a changed byte is refused", how);
					BIO_free(content);
					BIO_free(out);
					CMS_ContentInfo_free(r);
					ERR_clear_error();
				}
				smz_spool_free(&sp);
			}
		}

	/* what d2i refuses: a truncated stream, garbage, nothing */
	BIO *in = BIO_new_mem_buf(data, DATA_LEN);
	CMS_ContentInfo *c = CMS_sign(cert, k, extra, in, CMS_BINARY | CMS_STREAM | CMS_PARTIAL);
	BIO_free(in);
	in = BIO_new_mem_buf(data, DATA_LEN);
	struct smz_spool sp, cut;
	to_spool(c, in, CMS_BINARY | CMS_STREAM | CMS_PARTIAL, 1, &sp);
	BIO_free(in);
	CMS_ContentInfo_free(c);
	size_t n = smz_spool_size(&sp);
	unsigned char *all = malloc(n);
	ok(pread(fileno(sp.tf), all, n, 0) == (ssize_t)n, "a stream of %zu bytes", n);
	for (size_t keep = n - 1; keep > 16; keep = keep > 4096 ? keep - 4093 : keep / 2) {
		smz_spool_open(&cut, keep > DATA_LEN / 2);
		fwrite(all, 1, keep, cut.w);
		smz_spool_seal(&cut);
		BIO *content = NULL;
		CMS_ContentInfo *r = smz_cms_read(s, &cut, &content);
		if (r) {
			ok(0, "a stream cut at %zu of %zu bytes is refused", keep, n);
			CMS_ContentInfo_free(r);
			BIO_free(content);
		}
		smz_spool_free(&cut);
		ERR_clear_error();
	}
	ok(1, "streams cut anywhere are refused");
	for (int big = 0; big < 2; big++) {
		smz_spool_open(&cut, big);
		fwrite("\x30\x80\x06\x09garbage-garbage", 1, 19, cut.w);
		smz_spool_seal(&cut);
		BIO *content = NULL;
		ok(smz_cms_read(s, &cut, &content) == NULL && !content, "garbage refused (%s)",
		   big ? "file" : "memory");
		smz_spool_free(&cut);
		smz_spool_open(&cut, big);
		smz_spool_seal(&cut);
		ok(smz_cms_read(s, &cut, &content) == NULL, "nothing refused (%s)",
		   big ? "file" : "memory");
		smz_spool_free(&cut);
	}
	free(all);
	smz_spool_free(&sp);

	/* An end-of-contents (00 00) last inside the definite lengths of the
	 * ContentInfo, its [0] and the SignedData: d2i refuses it, and so must
	 * the walk, which writes those three again with indefinite lengths,
	 * where it would have ended the SignedData (found by
	 * tests/fuzz/fuzz-cmsread; corpus-cmsread/bad-eoc-*). */
	in = BIO_new_mem_buf(data, 100);
	c = CMS_sign(cert, k, extra, in, CMS_BINARY);
	BIO_free(in);
	unsigned char *d = der_of(c, NULL, 3, &n);
	ok(n > 255 && n < 65536 && d[0] == 0x30 && d[1] == 0x82 && d[4] == 0x06 && d[5] == 0x09 &&
		   d[15] == 0xa0 && d[16] == 0x82 && d[19] == 0x30 && d[20] == 0x82 &&
		   accepted(s, d, n) == 2,
	   "a small SignedData in DER, read");
	for (size_t at = 2; at <= 21; at += at == 2 ? 15 : 4) {
		unsigned v = (unsigned)d[at] << 8 | d[at + 1];
		d[at] = (unsigned char)((v + 2) >> 8);
		d[at + 1] = (unsigned char)(v + 2);
	}
	d[n] = d[n + 1] = 0;
	BIO *mb = BIO_new_mem_buf(d, (int)n + 2);
	CMS_ContentInfo *r = d2i_CMS_bio(mb, NULL);
	ok(!r && accepted(s, d, n + 2) == 0,
	   "an end-of-contents inside a definite length: refused, as d2i does");
	CMS_ContentInfo_free(r);
	BIO_free(mb);
	free(d);
	ERR_clear_error();
	/* 00 81 00 is no end-of-contents for d2i: not one for the walk either,
	 * which took it for one and left it out, accepting what d2i refuses */
	CMS_ContentInfo_free(c);
	in = BIO_new_mem_buf(data, 100);
	c = CMS_sign(cert, k, extra, in, CMS_BINARY | CMS_STREAM | CMS_PARTIAL);
	BIO_free(in);
	in = BIO_new_mem_buf(data, 100);
	d = der_of(c, in, 3, &n);
	BIO_free(in);
	ok(n > 6 && memcmp(d + n - 6, "\0\0\0\0\0\0", 6) == 0 && accepted(s, d, n) == 2,
	   "a small SignedData streamed, read");
	memmove(d + n - 3, d + n - 6, 6);
	memcpy(d + n - 6, "\0\x81\0", 3);
	mb = BIO_new_mem_buf(d, (int)n + 3);
	r = d2i_CMS_bio(mb, NULL);
	ok(!r && accepted(s, d, n + 3) == 0,
	   "an end-of-contents with a long-form length: refused, as d2i does");
	CMS_ContentInfo_free(r);
	BIO_free(mb);
	free(d);
	ERR_clear_error();
	/* a chunk 80 00 in the streamed content: d2i_CMS_bio's reader takes it
	 * for an end-of-contents and refuses the whole; with the content cut
	 * out of its sight (in a file) it was accepted (found by the fuzzer,
	 * corpus-cmsread/bad-found-chunk-ctx0.ber) */
	CMS_ContentInfo_free(c);
	in = BIO_new_mem_buf(data, 100);
	c = CMS_sign(cert, k, extra, in, CMS_BINARY | CMS_STREAM | CMS_PARTIAL);
	BIO_free(in);
	in = BIO_new_mem_buf(data, 100);
	d = der_of(c, in, 2, &n);
	BIO_free(in);
	unsigned char *at = memmem(d, n, "\xa0\x80\x24\x80\x04", 5);
	ok(at && accepted(s, d, n) == 2, "a small SignedData streamed, its content chunked");
	if (at) {
		memmove(at + 6, at + 4, n - (size_t)(at + 4 - d));
		memcpy(at + 4, "\x80\0", 2);
	}
	mb = BIO_new_mem_buf(d, (int)n + 2);
	r = d2i_CMS_bio(mb, NULL);
	ok(at && !r && accepted(s, d, n + 2) == 0,
	   "a content chunk [0] of length 0: refused, as d2i does");
	CMS_ContentInfo_free(r);
	BIO_free(mb);
	free(d);
	CMS_ContentInfo_free(c);
	ERR_clear_error();
	free(data);
	X509_STORE_free(store);
	sk_X509_free(extra);
	sk_X509_free(rcpt);
	X509_free(cert);
	X509_free(cacert);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ca);
	smz_smime_free(s);
	return done_testing();
}
