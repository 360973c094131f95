#include "trust.h"
#include "pem.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Append the certificates of path to *into (made when NULL). */
static int
read_into(STACK_OF(X509) * *into, const char *path, struct smz_err *e)
{
	STACK_OF(X509) *s = NULL;
	int rc = smz_pem_read_certs(path, &s, e);
	if (rc)
		return rc;
	if (!*into && !(*into = sk_X509_new_null())) {
		sk_X509_pop_free(s, X509_free);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	while (sk_X509_num(s) > 0)
		sk_X509_push(*into, sk_X509_shift(s));
	sk_X509_free(s);
	return 0;
}

int
smz_trust_anchors(struct smz_trust *t, const char *path, struct smz_err *e)
{
	if (!t->store && !(t->store = X509_STORE_new()))
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	STACK_OF(X509) *anchors = NULL;
	int rc = path ? read_into(&anchors, path, e) : 0;
	for (int i = 0; !rc && i < sk_X509_num(anchors); i++)
		X509_STORE_add_cert(t->store, sk_X509_value(anchors, i));
	sk_X509_pop_free(anchors, X509_free);
	return rc;
}

int
smz_trust_crl(struct smz_trust *t, const char *path, struct smz_err *e)
{
	BIO *b = BIO_new_file(path, "rb");
	if (!b)
		return smz_err_set(e, SMZ_ERR_NOINPUT, "%s: %s", path, strerror(errno));
	X509_CRL *crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
	if (!crl) {
		ERR_clear_error();
		(void)BIO_reset(b);
		crl = d2i_X509_CRL_bio(b, NULL);
	}
	BIO_free(b);
	if (!crl) {
		ERR_clear_error();
		return smz_err_set(e, SMZ_ERR_DATA, "%s: not a CRL (PEM or DER)", path);
	}
	int ok = t->store && X509_STORE_add_crl(t->store, crl);
	X509_CRL_free(crl);
	if (!ok)
		return smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot use the CRL");
	t->crl = 1;
	return 0;
}

int
smz_trust_chain(struct smz_trust *t, const char *path, struct smz_err *e)
{
	return read_into(&t->chain, path, e);
}

int
smz_trust_certs(struct smz_trust *t, const char *path, struct smz_err *e)
{
	return read_into(&t->certs, path, e);
}

int
smz_trust_issuer(struct smz_trust *t, const char *path, struct smz_err *e)
{
	STACK_OF(X509) *s = NULL;
	int rc = read_into(&s, path, e);
	if (!rc) {
		X509_free(t->issuer);
		t->issuer = sk_X509_shift(s);
	}
	sk_X509_pop_free(s, X509_free);
	return rc;
}

const char *
smz_trust_ca_file(const char *ca_dir, const char *name, char *buf, size_t cap)
{
	if (!ca_dir || !ca_dir[0])
		return NULL;
	int l = snprintf(buf, cap, "%s/%s", ca_dir, name);
	if (l < 0 || (size_t)l >= cap || access(buf, R_OK) != 0)
		return NULL;
	return buf;
}

void
smz_trust_free(struct smz_trust *t)
{
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->chain, X509_free);
	sk_X509_pop_free(t->certs, X509_free);
	X509_free(t->issuer);
	memset(t, 0, sizeof *t);
}
