/* cmsinfo: the content cipher of an enveloped CMS message; see cms.h.
 * OpenSSL 3.0 has no getter for an EnvelopedData's content-encryption
 * algorithm, so its DER (or BER: streamed CMS uses indefinite lengths) is
 * walked with OpenSSL's own TLV reader, ASN1_get_object, down to the
 * AlgorithmIdentifier, which d2i_X509_ALGOR reads.  Only a prefix is
 * needed: what precedes the encrypted content. */
#include "cms.h"
#include "policy.h"

#include <openssl/asn1.h>
#include <openssl/err.h>

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
