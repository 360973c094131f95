/* cainit: the CA directory's certificates and keys: create (root and
 * issuing CA), open, and loading the issuing key. */
#include "ca-int.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "keys.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The audit log's name: the SHA-256 of the issuing certificate. */
static void
set_id(struct smz_ca *ca, X509 *issuing)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (X509_digest(issuing, EVP_sha256(), md, &len) == 1 && len == 32)
		sodium_bin2hex(ca->id, sizeof ca->id, md, len);
	ERR_clear_error();
}

/* ---- files ---- */

static int
path_of(const struct smz_ca *ca, const char *name, char *out, size_t cap)
{
	return (size_t)snprintf(out, cap, "%s/%s", ca->dir, name) < cap ? 0 : -1;
}

static X509 *
read_cert(const char *path, struct smz_err *e)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!x)
		smz_err_set(e, f ? SMZ_ERR_DATA : SMZ_ERR_NOINPUT, "%s: %s", path,
			    f ? "not a PEM certificate" : strerror(errno));
	ERR_clear_error();
	return x;
}

static int
pass_cb(char *buf, int size, int rw, void *u)
{
	(void)rw;
	const struct smz_secret *s = u;
	if (!s || !s->buf || (int)s->len >= size)
		return -1;
	memcpy(buf, s->buf, s->len);
	return (int)s->len;
}

/* Any PEM private key: PKCS#8 encrypted with scrypt (ours) or PBKDF2
 * (earlier versions, other tools), or not encrypted; opt names the option
 * that gives its passphrase. */
static int
read_key(const char *path, const struct smz_secret *pass, enum smz_need need, EVP_PKEY **out,
	 struct smz_err *e)
{
	char *pem = NULL;
	size_t len;
	int rc = smz_file_read(path, 1 << 20, &pem, &len, e);
	if (rc)
		return rc;
	int encrypted = strstr(pem, "ENCRYPTED") != NULL;
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, pass_cb, (void *)pass) : NULL;
	BIO_free(b);
	sodium_memzero(pem, len);
	free(pem);
	ERR_clear_error();
	if (!k)
		return encrypted && !pass
			       ? smz_err_need(e, SMZ_ERR_PERM, need, "%s is encrypted", path)
		       : encrypted ? smz_err_set(e, SMZ_ERR_PERM, "%s: wrong passphrase", path)
				   : smz_err_set(e, SMZ_ERR_DATA, "%s: not a private key", path);
	*out = k;
	return 0;
}

/* The CA keys' passphrase KDF: scrypt (RFC 7914) in PKCS#8 PBES2, so that
 * openssl pkey reads the files.  OpenSSL's PKCS#8 reader caps scrypt at
 * 32 MiB, whatever the file asks: N = 2^14 with r = 8 (16 MiB) is the
 * largest power-of-two N it accepts; N = 2^15 or more makes a key no
 * OpenSSL can open.  p = 16 raises the work per guess sixteenfold at that
 * memory, to about 0.4 s an unlock here (p = 1 costs 0.03 s). */
#define CA_SCRYPT_N (1u << 14)
#define CA_SCRYPT_R 8u
#define CA_SCRYPT_P 16u
#define CA_SALT_LEN 16

static int
encrypt_key(BIO *b, EVP_PKEY *k, const struct smz_secret *pass)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	X509_ALGOR *pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, CA_SALT_LEN, NULL,
						CA_SCRYPT_N, CA_SCRYPT_R, CA_SCRYPT_P);
	X509_SIG *sig = p8 && pbe ? PKCS8_set0_pbe((const char *)pass->buf, (int)pass->len, p8, pbe)
				  : NULL;
	if (!sig)
		X509_ALGOR_free(pbe); /* set0 takes it only on success */
	int ok = sig && PEM_write_bio_PKCS8(b, sig);
	X509_SIG_free(sig);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return ok;
}

static int
write_key(const char *path, EVP_PKEY *k, const struct smz_secret *pass, struct smz_err *e)
{
	BIO *b = BIO_new(BIO_s_secmem());
	int ok = b && (pass ? encrypt_key(b, k, pass)
			    : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	char *data = NULL;
	long len = ok ? BIO_get_mem_data(b, &data) : 0;
	int rc = ok && len > 0 ? smz_file_create_excl(path, data, (size_t)len, e)
			       : smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot encode the CA key");
	BIO_free(b);
	return rc;
}

static int
write_cert(const char *path, X509 *x, X509 *more, struct smz_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ok = b && PEM_write_bio_X509(b, x) && (!more || PEM_write_bio_X509(b, more));
	char *data = NULL;
	long len = ok ? BIO_get_mem_data(b, &data) : 0;
	int rc = ok ? smz_file_write_atomic(path, data, (size_t)len, 0644, e)
		    : smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot encode a certificate");
	BIO_free(b);
	return rc;
}

/* ---- create, open, unlock ---- */

static int
init_meta(struct smz_ca *ca, DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
	  struct smz_err *e)
{
	(void)e;
	char *s = NULL;
	int r = smz_db_get_str(ca->meta, txn, "version", 0, &s, NULL);
	free(s);
	if (r == 0)
		return smz_err_set(e, SMZ_ERR_EXISTS, "%s: a CA is already there", ca->dir);
	if (r != DB_NOTFOUND)
		return r;
	if ((r = smz_db_put_str(ca->meta, txn, "version", "1", 1)) ||
	    (r = smz_db_put_str(ca->meta, txn, "crl_number", "0", 1)))
		return r;
	a[0] = (struct smz_audit_entry){"init", arg, ""};
	*na = 1;
	return 0;
}

int
smz_ca_create(const char *dir, const struct smz_policy *p, const struct smz_ca_init *o,
	      struct smz_err *e)
{
	if (!dir || !*dir)
		return smz_err_need(e, SMZ_ERR_CONFIG, SMZ_NEED_CA, "no CA given");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", dir, strerror(errno));
	struct smz_ca *ca = calloc(1, sizeof *ca);
	EVP_PKEY *rk = NULL, *ik = NULL;
	X509 *root = NULL, *iss = NULL;
	char path[PATH_MAX + 32];
	int rc = ca ? 0 : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (rc)
		return rc;
	snprintf(ca->dir, sizeof ca->dir, "%s", dir);
	path_of(ca, "issuing.pem", path, sizeof path);
	if (access(path, F_OK) == 0) {
		rc = smz_err_set(e, SMZ_ERR_EXISTS, "%s: a CA is already there", dir);
		goto out;
	}
	time_t now = time(NULL);
	if (o->root_cert) {
		if (!(root = read_cert(o->root_cert, e)) ||
		    (rc = read_key(o->root_key, o->root_passphrase, SMZ_NEED_ROOT_PASSPHRASE, &rk,
				   e)))
			goto out;
		if (X509_check_private_key(root, rk) != 1) {
			ERR_clear_error();
			rc = smz_err_set(e, SMZ_ERR_DATA, "%s does not match %s", o->root_key,
					 o->root_cert);
			goto out;
		}
	} else if ((rc = smz_key_generate(p->root_alg, &rk, e)) ||
		   (rc = smz_profile_root(p, rk, now, &root, e))) {
		goto out;
	}
	if ((rc = smz_key_generate(p->issuing_alg, &ik, e)) ||
	    (rc = smz_profile_issuing(p, root, rk, ik, now, &iss, e)))
		goto out;
	/* Keys first (never overwritten), certificates after: an interrupted
	 * init leaves no certificate without its key. */
	if (!o->root_cert && (path_of(ca, "root.key", path, sizeof path),
			      (rc = write_key(path, rk, o->passphrase, e))))
		goto out;
	path_of(ca, "issuing.key", path, sizeof path);
	if ((rc = write_key(path, ik, o->passphrase, e)) || (rc = smz_ca_open_dbs(ca, e)))
		goto out;
	char subj[256];
	X509_NAME_oneline(X509_get_subject_name(iss), subj, sizeof subj);
	set_id(ca, iss);
	struct smz_audit_entry a[1];
	struct smz_ca_txn j = {init_meta, subj, a, 1, ca};
	if ((rc = smz_ca_in_txn(ca, &j, e)))
		goto out;
	if ((path_of(ca, "root.pem", path, sizeof path), rc = write_cert(path, root, NULL, e)) ||
	    (path_of(ca, "chain.pem", path, sizeof path), rc = write_cert(path, iss, root, e)) ||
	    (path_of(ca, "issuing.pem", path, sizeof path), rc = write_cert(path, iss, NULL, e)))
		goto out;
out:
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	X509_free(root);
	X509_free(iss);
	smz_ca_close(ca);
	return rc;
}

int
smz_ca_open(const char *dir, struct smz_ca **out, struct smz_err *e)
{
	if (!dir || !*dir)
		return smz_err_need(e, SMZ_ERR_CONFIG, SMZ_NEED_CA, "no CA given");
	struct smz_ca *ca = calloc(1, sizeof *ca);
	if (!ca)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	snprintf(ca->dir, sizeof ca->dir, "%s", dir);
	char path[PATH_MAX + 32];
	int rc = 0;
	path_of(ca, "issuing.pem", path, sizeof path);
	if (access(path, F_OK) != 0) {
		rc = smz_err_set(e, SMZ_ERR_NOINPUT,
				 "%s: not a CA (create one with smz-issue init)", dir);
		goto fail;
	}
	if (!(ca->issuing = read_cert(path, e)) ||
	    (path_of(ca, "root.pem", path, sizeof path), !(ca->root = read_cert(path, e)))) {
		rc = e->code;
		goto fail;
	}
	if ((rc = smz_ca_open_dbs(ca, e)))
		goto fail;
	set_id(ca, ca->issuing);
	*out = ca;
	return 0;
fail:
	smz_ca_close(ca);
	return rc;
}

int
smz_ca_unlock(struct smz_ca *ca, const struct smz_secret *pass, struct smz_err *e)
{
	char path[PATH_MAX + 32];
	path_of(ca, "issuing.key", path, sizeof path);
	EVP_PKEY *k = NULL;
	int rc = read_key(path, pass, SMZ_NEED_CA_PASSPHRASE, &k, e);
	if (rc)
		return rc;
	if (X509_check_private_key(ca->issuing, k) != 1) {
		ERR_clear_error();
		EVP_PKEY_free(k);
		return smz_err_set(e, SMZ_ERR_CONFIG, "%s does not match issuing.pem", path);
	}
	EVP_PKEY_free(ca->key);
	ca->key = k;
	return 0;
}
