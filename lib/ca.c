#include "ca.h"
#include "addr.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "keys.h"

#include <errno.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct smz_ca {
	char dir[PATH_MAX];
	DB_ENV *env;
	DB *certs, *addr, *kid, *meta, *log;
	X509 *root, *issuing;
	EVP_PKEY *key;
	char id[65]; /* SHA-256 of the issuing certificate: the audit log's name */
};

static void
set_id(struct smz_ca *ca, X509 *issuing)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (X509_digest(issuing, EVP_sha256(), md, &len) == 1 && len == 32)
		sodium_bin2hex(ca->id, sizeof ca->id, md, len);
	ERR_clear_error();
}

static struct smz_audit
ca_audit(struct smz_ca *ca)
{
	return (struct smz_audit){ca->env, ca->log, ca->meta, "ca", ca->id};
}

static const char *const reasons[] = {"keyCompromise",	      "affiliationChanged", "superseded",
				      "cessationOfOperation", "privilegeWithdrawn", NULL};
static const int reason_codes[] = {CRL_REASON_KEY_COMPROMISE, CRL_REASON_AFFILIATION_CHANGED,
				   CRL_REASON_SUPERSEDED, CRL_REASON_CESSATION_OF_OPERATION,
				   CRL_REASON_PRIVILEGE_WITHDRAWN};

int
smz_ca_reason_valid(const char *reason)
{
	for (int i = 0; reasons[i]; i++)
		if (strcmp(reason, reasons[i]) == 0)
			return 1;
	return 0;
}

/* ---- index callbacks ---- */

/* Records are stored compact with sorted keys; the index callbacks read
 * just their field instead of parsing the whole record (with its DER). */
static json_t *
field_array(const DBT *d, const char *name)
{
	char pat[32];
	int pl = snprintf(pat, sizeof pat, "\"%s\":[", name);
	const char *p = memmem(d->data, d->size, pat, (size_t)pl);
	const char *end = p ? memchr(p, ']', (size_t)((const char *)d->data + d->size - p)) : NULL;
	return end ? json_loadb(p + pl - 1, (size_t)(end - p - pl + 2), 0, NULL) : NULL;
}

static int
addr_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	json_t *arr = field_array(d, "addresses");
	char *keys[SMZ_MAX_ADDRESSES];
	u_int32_t lens[SMZ_MAX_ADDRESSES];
	size_t n = 0, i;
	json_t *a;
	json_array_foreach(arr, i, a)
	{
		char key[SMZ_ADDR_MAX];
		if (n == SMZ_MAX_ADDRESSES || !json_string_value(a))
			break;
		smz_addr_key(json_string_value(a), 0, key);
		if (!(keys[n] = strdup(key)))
			break;
		lens[n++] = (u_int32_t)strlen(key);
	}
	json_decref(arr);
	return smz_db_multi_keys(res, keys, lens, n);
}

static int
kid_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	static const char pat[] = "\"key_id\":\"";
	const char *h = memmem(d->data, d->size, pat, sizeof pat - 1);
	unsigned char *b = malloc(SMZ_KEYID_LEN);
	size_t bl = 0;
	int ok = h && b && (const char *)d->data + d->size - h >= (long)(sizeof pat - 1 + 64) &&
		 sodium_hex2bin(b, SMZ_KEYID_LEN, h + sizeof pat - 1, 64, NULL, &bl, NULL) == 0 &&
		 bl == SMZ_KEYID_LEN;
	if (!ok) {
		free(b);
		return DB_DONOTINDEX;
	}
	char *keys[1] = {(char *)b};
	u_int32_t lens[1] = {SMZ_KEYID_LEN};
	return smz_db_multi_keys(res, keys, lens, 1);
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
read_key(const char *path, const struct smz_secret *pass, const char *opt, EVP_PKEY **out,
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
			       ? smz_err_set(e, SMZ_ERR_PERM, "%s is encrypted: give %s", path, opt)
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

/* ---- open, create ---- */

static int
open_dbs(struct smz_ca *ca, struct smz_err *e)
{
	int rc, r;
	if ((rc = smz_dbenv_open(ca->dir, &ca->env, e)) ||
	    (rc = smz_db_open(ca->env, &ca->certs, "certs.db", DB_BTREE, 0, e)) ||
	    (rc = smz_db_open(ca->env, &ca->addr, "addr.idx", DB_BTREE, 1, e)) ||
	    (rc = smz_db_open(ca->env, &ca->kid, "kid.idx", DB_BTREE, 1, e)) ||
	    (rc = smz_db_open(ca->env, &ca->meta, "meta.db", DB_BTREE, 0, e)) ||
	    (rc = smz_db_open(ca->env, &ca->log, "audit.db", DB_RECNO, 0, e)))
		return rc;
	if ((r = ca->certs->associate(ca->certs, NULL, ca->addr, addr_cb, 0)) ||
	    (r = ca->certs->associate(ca->certs, NULL, ca->kid, kid_cb, 0)))
		return smz_db_err(e, r, "index");
	return 0;
}

void
smz_ca_close(struct smz_ca *ca)
{
	if (!ca)
		return;
	DB *dbs[] = {ca->addr, ca->kid, ca->certs, ca->meta, ca->log};
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++)
		if (dbs[i])
			dbs[i]->close(dbs[i], 0);
	smz_dbenv_close(ca->env);
	X509_free(ca->root);
	X509_free(ca->issuing);
	EVP_PKEY_free(ca->key);
	free(ca);
}

/* A transaction of the CA's, with audit entries (see smz_audit_txn). */
struct txn_job {
	int (*fn)(struct smz_ca *, DB_TXN *, void *, struct smz_audit_entry *, size_t *,
		  struct smz_err *);
	void *arg;
	struct smz_audit_entry *a;
	size_t cap;
	struct smz_ca *ca;
};

static int
job_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	struct txn_job *j = arg;
	return j->fn(j->ca, txn, j->arg, a, na, e);
}

static int
in_txn(struct smz_ca *ca, struct txn_job *j, struct smz_err *e)
{
	struct smz_audit au = ca_audit(ca);
	j->ca = ca;
	return smz_audit_txn(&au, job_fn, j, j->a, j->cap, "CA database", e);
}

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
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "no CA given (--ca, $SMZ_CA or policy [ca] path)");
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
		    (rc = read_key(o->root_key, o->root_passphrase, "--root-passphrase-file", &rk,
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
	if ((rc = write_key(path, ik, o->passphrase, e)) || (rc = open_dbs(ca, e)))
		goto out;
	char subj[256];
	X509_NAME_oneline(X509_get_subject_name(iss), subj, sizeof subj);
	set_id(ca, iss);
	struct smz_audit_entry a[1];
	struct txn_job j = {init_meta, subj, a, 1, ca};
	if ((rc = in_txn(ca, &j, e)))
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
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "no CA given (--ca, $SMZ_CA or policy [ca] path)");
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
	if ((rc = open_dbs(ca, e)))
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
	int rc = read_key(path, pass, "--passphrase-file", &k, e);
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

X509 *
smz_ca_issuing(struct smz_ca *ca)
{
	return ca->issuing;
}

X509 *
smz_ca_root(struct smz_ca *ca)
{
	return ca->root;
}

/* ---- issuing ---- */

static long long
asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;
	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (long long)timegm(&tm);
}

static json_t *
cert_record(X509 *x, const struct smz_csr_info *ci, const char *profile)
{
	unsigned char *der = NULL;
	int l = i2d_X509(x, &der);
	char *b = l > 0 ? smz_b64(der, (size_t)l) : NULL;
	OPENSSL_free(der);
	char kid[65], serial[2 * SMZ_SERIAL_LEN + 1];
	smz_hex(ci->key_id, SMZ_KEYID_LEN, kid);
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	smz_hex(ASN1_STRING_get0_data(sn),
		(size_t)ASN1_STRING_length(sn) <= SMZ_SERIAL_LEN ? (size_t)ASN1_STRING_length(sn)
								 : SMZ_SERIAL_LEN,
		serial);
	json_t *addrs = json_array();
	for (size_t i = 0; i < ci->naddr; i++)
		json_array_append_new(addrs, json_string(ci->addresses[i]));
	json_t *j = b ? json_pack("{s:s,s:s,s:o,s:I,s:I,s:s,s:s,s:s,s:s}", "serial", serial,
				  "key_id", kid, "addresses", addrs, "not_before",
				  (json_int_t)asn1_epoch(X509_get0_notBefore(x)), "not_after",
				  (json_int_t)asn1_epoch(X509_get0_notAfter(x)), "status", "valid",
				  "profile", profile, "usage", ci->usage, "der", b)
		      : NULL;
	free(b);
	return j;
}

static X509 *
record_cert(json_t *rec)
{
	return smz_cert_from_b64(json_string_value(json_object_get(rec, "der")));
}

/* A valid, unexpired certificate of this key covering these addresses,
 * under the same profile and usage (a policy change gets new ones). */
static int
find_existing(struct smz_ca *ca, DB_TXN *txn, const struct smz_csr_info *ci, const char *profile,
	      long long fresh_until, X509 **out, int *compromised)
{
	*compromised = 0;
	DBC *c;
	int r = ca->kid->cursor(ca->kid, txn, &c, 0);
	if (r)
		return r;
	DBT sk = {.data = (void *)ci->key_id, .size = SMZ_KEYID_LEN}, pk = {0}, pd = {0};
	u_int32_t flag = DB_SET;
	long long now = (long long)time(NULL);
	while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
		flag = DB_NEXT_DUP;
		json_t *j = json_loadb(pd.data, pd.size, 0, NULL);
		const char *st = json_string_value(json_object_get(j, "status"));
		json_int_t na = json_integer_value(json_object_get(j, "not_after"));
		const char *reason = json_string_value(json_object_get(j, "reason"));
		if (st && strcmp(st, "revoked") == 0 && reason &&
		    strcmp(reason, "keyCompromise") == 0)
			*compromised = 1; /* BR 4.9.1.1: never certify that key again */
		const char *pr = json_string_value(json_object_get(j, "profile"));
		const char *us = json_string_value(json_object_get(j, "usage"));
		int cover = st && strcmp(st, "valid") == 0 && na > now && na > fresh_until && pr &&
			    strcmp(pr, profile) == 0 && us && strcmp(us, ci->usage) == 0;
		for (size_t i = 0; cover && i < ci->naddr; i++) {
			size_t k;
			json_t *a;
			int found = 0;
			json_array_foreach(json_object_get(j, "addresses"), k, a)
				found |= json_string_value(a) &&
					 strcasecmp(json_string_value(a), ci->addresses[i]) == 0;
			cover = found;
		}
		if (cover && !*out)
			*out = record_cert(j);
		json_decref(j);
	}
	c->close(c);
	return r == DB_NOTFOUND || r == 0 ? 0 : r;
}

struct issue_job {
	const struct smz_policy *p;
	struct smz_ca_request *r;
	size_t n;
	char **subjects;
};

static int
issue_fn(struct smz_ca *ca, DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
	 struct smz_err *e)
{
	struct issue_job *j = arg;
	time_t now = time(NULL);
	for (size_t i = 0; i < j->n; i++) {
		struct smz_ca_request *rq = &j->r[i];
		X509_free(rq->cert);
		rq->cert = NULL;
		rq->existed = 0;
		rq->refused = 0;
		int compromised = 0;
		/* a certificate inside the renewal window does not count: a CSR
		 * sent again for its key (renewal with the same key) gets a new one */
		long long w = j->p->window_days;
		if (2 * w > j->p->validity_days)
			w = j->p->validity_days / 2;
		int r = find_existing(ca, txn, rq->ci, j->p->profile, (long long)now + w * 86400,
				      &rq->cert, &compromised);
		if (r)
			return r;
		if (compromised) {
			X509_free(rq->cert);
			rq->cert = NULL;
			rq->refused = 1;
			continue;
		}
		if (rq->cert) {
			rq->existed = 1;
			continue;
		}
		X509 *cand = rq->prebuilt;
		rq->prebuilt = NULL;
		for (int tries = 0;; tries++) {
			if (!cand) {
				unsigned char fresh[SMZ_SERIAL_LEN];
				if (smz_profile_serial(fresh) < 0)
					return smz_err_set(e, SMZ_ERR_INTERNAL,
							   "no randomness for a serial");
				int rc = smz_profile_build(j->p, ca->issuing, ca->key, rq->ci,
							   fresh, now, &cand, e);
				if (rc)
					return rc;
			}
			const ASN1_INTEGER *sn = X509_get0_serialNumber(cand);
			if (ASN1_STRING_length(sn) != SMZ_SERIAL_LEN) {
				X509_free(cand);
				return smz_err_set(e, SMZ_ERR_INTERNAL,
						   "serial of the wrong length");
			}
			unsigned char serial[SMZ_SERIAL_LEN];
			memcpy(serial, ASN1_STRING_get0_data(sn), SMZ_SERIAL_LEN);
			json_t *rec = cert_record(cand, rq->ci, j->p->profile);
			char *s = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			char hex[2 * SMZ_SERIAL_LEN + 1];
			smz_hex(serial, SMZ_SERIAL_LEN, hex);
			json_decref(rec);
			if (!s) {
				X509_free(cand);
				return ENOMEM;
			}
			DBT k = {.data = serial, .size = SMZ_SERIAL_LEN};
			DBT d = {.data = s, .size = (u_int32_t)strlen(s)};
			r = ca->certs->put(ca->certs, txn, &k, &d, DB_NOOVERWRITE);
			free(s);
			if (r == DB_KEYEXIST && tries < 8) { /* a serial is never reused */
				X509_free(cand);
				cand = NULL;
				continue;
			}
			if (r) {
				X509_free(cand);
				return r;
			}
			rq->cert = cand;
			free(j->subjects[*na]);
			if (asprintf(&j->subjects[*na], "%s %s", hex, rq->ci->addresses[0]) < 0)
				return ENOMEM;
			a[*na] = (struct smz_audit_entry){"issue", j->subjects[*na], rq->ci->usage};
			(*na)++;
			break;
		}
	}
	return 0;
}

int
smz_ca_prepare(struct smz_ca *ca, const struct smz_policy *p, const struct smz_csr_info *ci,
	       X509 **out, struct smz_err *e)
{
	unsigned char serial[SMZ_SERIAL_LEN];
	if (!ca->key)
		return smz_err_set(e, SMZ_ERR_PERM, "the CA key is not loaded");
	if (smz_profile_serial(serial) < 0)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "no randomness for a serial");
	return smz_profile_build(p, ca->issuing, ca->key, ci, serial, time(NULL), out, e);
}

int
smz_ca_issue(struct smz_ca *ca, const struct smz_policy *p, struct smz_ca_request *r, size_t n,
	     struct smz_err *e)
{
	if (!ca->key)
		return smz_err_set(e, SMZ_ERR_PERM, "the CA key is not loaded");
	struct smz_audit_entry *a = calloc(n + 1, sizeof *a);
	char **subjects = calloc(n + 1, sizeof *subjects);
	int rc = a && subjects ? 0 : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (!rc) {
		struct issue_job ij = {p, r, n, subjects};
		struct txn_job j = {issue_fn, &ij, a, n, ca};
		rc = in_txn(ca, &j, e);
	}
	for (size_t i = 0; subjects && i < n; i++)
		free(subjects[i]);
	free(subjects);
	free(a);
	if (rc)
		for (size_t i = 0; i < n; i++) {
			X509_free(r[i].cert);
			r[i].cert = NULL;
		}
	return rc;
}

/* ---- revocation ---- */

struct revoke_job {
	enum smz_ca_select by;
	const char *value, *reason;
	void (*cb)(void *, json_t *, int);
	void *arg;
	json_t *done; /* records revoked, reported after commit */
	char **subjects;
	size_t nsub;
};

static int
revoke_one(struct smz_ca *ca, DB_TXN *txn, struct revoke_job *j, DBT *k, json_t *rec,
	   struct smz_audit_entry *a, size_t *na)
{
	const char *st = json_string_value(json_object_get(rec, "status"));
	if (st && strcmp(st, "revoked") == 0) {
		json_array_append_new(j->done, json_pack("{s:O,s:b}", "rec", rec, "already", 1));
		return 0;
	}
	json_object_set_new(rec, "status", json_string("revoked"));
	json_object_set_new(rec, "revoked_at", json_integer((json_int_t)time(NULL)));
	json_object_set_new(rec, "reason", json_string(j->reason));
	char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return ENOMEM;
	DBT d = {.data = s, .size = (u_int32_t)strlen(s)};
	int r = ca->certs->put(ca->certs, txn, k, &d, 0);
	free(s);
	if (r)
		return r;
	char **ns = realloc(j->subjects, (j->nsub + 1) * sizeof *ns);
	if (!ns)
		return ENOMEM;
	j->subjects = ns;
	if (asprintf(&j->subjects[j->nsub], "%s %s",
		     json_string_value(json_object_get(rec, "serial")),
		     json_string_value(json_array_get(json_object_get(rec, "addresses"), 0))) < 0)
		return ENOMEM;
	if (*na < 4096)
		a[(*na)++] = (struct smz_audit_entry){"revoke", j->subjects[j->nsub], j->reason};
	j->nsub++;
	json_array_append_new(j->done, json_pack("{s:O,s:b}", "rec", rec, "already", 0));
	return 0;
}

static int
revoke_fn(struct smz_ca *ca, DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
	  struct smz_err *e)
{
	struct revoke_job *j = arg;
	json_array_clear(j->done);
	for (size_t i = 0; i < j->nsub; i++)
		free(j->subjects[i]);
	j->nsub = 0;
	int r = 0;
	if (j->by == SMZ_CA_BY_SERIAL) {
		unsigned char serial[64];
		size_t sl = 0;
		char clean[160];
		size_t cl = 0;
		for (const char *p = j->value; *p && cl + 1 < sizeof clean; p++)
			if (*p != ':')
				clean[cl++] = (char)((*p >= 'A' && *p <= 'F') ? *p + 32 : *p);
		clean[cl] = 0;
		if (sodium_hex2bin(serial, sizeof serial, clean, cl, NULL, &sl, NULL) != 0 ||
		    sl == 0)
			return smz_err_set(e, SMZ_ERR_USAGE, "%s: not a hexadecimal serial",
					   j->value);
		DBT k = {.data = serial, .size = (u_int32_t)sl}, d = {.flags = DB_DBT_MALLOC};
		r = ca->certs->get(ca->certs, txn, &k, &d, DB_RMW);
		if (r == DB_NOTFOUND)
			return 0;
		if (r)
			return r;
		json_t *rec = json_loadb(d.data, d.size, 0, NULL);
		free(d.data);
		r = rec ? revoke_one(ca, txn, j, &k, rec, a, na) : EINVAL;
		json_decref(rec);
		return r;
	}
	DB *idx = j->by == SMZ_CA_BY_ADDRESS ? ca->addr : ca->kid;
	unsigned char kid[SMZ_KEYID_LEN];
	char akey[SMZ_ADDR_MAX];
	DBT sk = {0};
	if (j->by == SMZ_CA_BY_ADDRESS) {
		char norm[SMZ_ADDR_MAX];
		struct smz_err ae;
		if (smz_addr_normalize(j->value, norm, &ae) < 0)
			return smz_err_set(e, SMZ_ERR_USAGE, "%s", ae.msg);
		smz_addr_key(norm, 0, akey);
		sk.data = akey;
		sk.size = (u_int32_t)strlen(akey);
	} else {
		size_t kl = 0;
		if (sodium_hex2bin(kid, sizeof kid, j->value, strlen(j->value), NULL, &kl, NULL) ||
		    kl != SMZ_KEYID_LEN)
			return smz_err_set(e, SMZ_ERR_USAGE, "%s: a key id is 64 hex digits",
					   j->value);
		sk.data = kid;
		sk.size = SMZ_KEYID_LEN;
	}
	/* Collect the serials first: updating records under an open cursor
	 * on their own index would move it. */
	DBC *c;
	if ((r = idx->cursor(idx, txn, &c, 0)))
		return r;
	unsigned char(*serials)[SMZ_SERIAL_LEN] = NULL;
	size_t ns = 0;
	DBT pk = {0}, pd = {0};
	u_int32_t flag = DB_SET;
	while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
		flag = DB_NEXT_DUP;
		void *more = realloc(serials, (ns + 1) * sizeof *serials);
		if (!more || pk.size != SMZ_SERIAL_LEN) {
			r = more ? EINVAL : ENOMEM;
			serials = more ? more : serials;
			break;
		}
		serials = more;
		memcpy(serials[ns++], pk.data, SMZ_SERIAL_LEN);
	}
	c->close(c);
	if (r != DB_NOTFOUND) {
		free(serials);
		return r;
	}
	r = 0;
	for (size_t i = 0; i < ns; i++) {
		DBT k = {.data = serials[i], .size = SMZ_SERIAL_LEN};
		DBT d = {.flags = DB_DBT_MALLOC};
		if ((r = ca->certs->get(ca->certs, txn, &k, &d, DB_RMW)))
			break;
		json_t *rec = json_loadb(d.data, d.size, 0, NULL);
		free(d.data);
		r = rec ? revoke_one(ca, txn, j, &k, rec, a, na) : EINVAL;
		json_decref(rec);
		if (r)
			break;
	}
	free(serials);
	return r;
}

int
smz_ca_revoke(struct smz_ca *ca, enum smz_ca_select by, const char *value, const char *reason,
	      void (*cb)(void *, json_t *, int), void *arg, struct smz_err *e)
{
	if (!smz_ca_reason_valid(reason))
		return smz_err_set(e, SMZ_ERR_USAGE,
				   "reason %s: expected keyCompromise, affiliationChanged, "
				   "superseded, cessationOfOperation or privilegeWithdrawn",
				   reason);
	struct smz_audit_entry *a = calloc(4096, sizeof *a);
	struct revoke_job rj = {by, value, reason, cb, arg, json_array(), NULL, 0};
	struct txn_job j = {revoke_fn, &rj, a, 4096, ca};
	int rc = a ? in_txn(ca, &j, e) : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (!rc && json_array_size(rj.done) == 0)
		rc = smz_err_set(e, SMZ_ERR_NOTFOUND, "%s: no certificate issued by this CA",
				 value);
	size_t i;
	json_t *d;
	if (!rc)
		json_array_foreach(rj.done, i, d) cb(arg, json_object_get(d, "rec"),
						     json_is_true(json_object_get(d, "already")));
	for (i = 0; i < rj.nsub; i++)
		free(rj.subjects[i]);
	free(rj.subjects);
	json_decref(rj.done);
	free(a);
	return rc;
}

/* ---- CRL ---- */

struct crl_job {
	X509_CRL *crl;
	unsigned long number;
	char subject[64];
};

static int
crl_fn(struct smz_ca *ca, DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
       struct smz_err *e)
{
	(void)e;
	struct crl_job *j = arg;
	char *s = NULL;
	int r = smz_db_get_str(ca->meta, txn, "crl_number", DB_RMW, &s, NULL);
	if (r)
		return r;
	j->number = strtoul(s, NULL, 10) + 1;
	free(s);
	char buf[32];
	int l = snprintf(buf, sizeof buf, "%lu", j->number);
	if ((r = smz_db_put_str(ca->meta, txn, "crl_number", buf, (size_t)l)))
		return r;
	snprintf(j->subject, sizeof j->subject, "CRL %lu", j->number);
	a[0] = (struct smz_audit_entry){"crl", j->subject, ""};
	*na = 1;
	return 0;
}

struct revoked_list {
	X509_CRL *crl;
	long long now;
	int failed;
};

static int
add_revoked(void *arg, json_t *rec)
{
	struct revoked_list *rl = arg;
	const char *st = json_string_value(json_object_get(rec, "status"));
	if (!st || strcmp(st, "revoked") != 0 ||
	    json_integer_value(json_object_get(rec, "not_after")) < rl->now)
		return 0;
	const char *hex = json_string_value(json_object_get(rec, "serial"));
	const char *reason = json_string_value(json_object_get(rec, "reason"));
	BIGNUM *bn = NULL;
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)json_integer_value(
						   json_object_get(rec, "revoked_at")));
	ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
	int c = CRL_REASON_UNSPECIFIED;
	for (int i = 0; reason && reasons[i]; i++)
		if (strcmp(reason, reasons[i]) == 0)
			c = reason_codes[i];
	int ok = hex && rv && t && code && BN_hex2bn(&bn, hex) &&
		 (sn = BN_to_ASN1_INTEGER(bn, NULL)) && X509_REVOKED_set_serialNumber(rv, sn) &&
		 X509_REVOKED_set_revocationDate(rv, t) && ASN1_ENUMERATED_set(code, c) &&
		 X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, code, 0, 0) &&
		 X509_CRL_add0_revoked(rl->crl, rv);
	if (ok)
		rv = NULL;
	else
		rl->failed = 1;
	X509_REVOKED_free(rv);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(code);
	BN_free(bn);
	return 0;
}

int
smz_ca_crl(struct smz_ca *ca, const struct smz_policy *p, unsigned char **der, size_t *len,
	   struct smz_err *e)
{
	if (!ca->key)
		return smz_err_set(e, SMZ_ERR_PERM, "the CA key is not loaded");
	struct crl_job cj = {0};
	struct smz_audit_entry a[1];
	struct txn_job j = {crl_fn, &cj, a, 1, ca};
	int rc = in_txn(ca, &j, e);
	if (rc)
		return rc;
	time_t now = time(NULL);
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, now);
	ASN1_TIME *t2 = ASN1_TIME_set(NULL, now + (time_t)p->crl_days * 86400);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	struct revoked_list rl = {crl, (long long)now, 0};
	X509V3_CTX ctx;
	X509_EXTENSION *aki = NULL;
	rc = SMZ_ERR_INTERNAL;
	if (!crl || !t1 || !t2 || !num || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->issuing)) ||
	    !X509_CRL_set1_lastUpdate(crl, t1) || !X509_CRL_set1_nextUpdate(crl, t2) ||
	    !ASN1_INTEGER_set_uint64(num, cj.number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto out;
	X509V3_set_ctx(&ctx, ca->issuing, NULL, NULL, crl, 0);
	if (!(aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
					"keyid:always")) ||
	    !X509_CRL_add_ext(crl, aki, -1))
		goto out;
	if ((rc = smz_ca_foreach(ca, add_revoked, &rl, e)))
		goto out;
	rc = SMZ_ERR_INTERNAL;
	if (rl.failed || !X509_CRL_sort(crl) ||
	    !X509_CRL_sign(crl, ca->key, smz_profile_md(ca->key)))
		goto out;
	unsigned char *buf = NULL;
	int l = i2d_X509_CRL(crl, &buf);
	if (l <= 0)
		goto out;
	*der = buf;
	*len = (size_t)l;
	rc = 0;
out:
	if (rc == SMZ_ERR_INTERNAL)
		smz_err_ssl(e, rc, "cannot build the CRL");
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	X509_CRL_free(crl);
	return rc;
}

int
smz_ca_foreach(struct smz_ca *ca, int (*cb)(void *, json_t *), void *arg, struct smz_err *e)
{
	return smz_db_foreach_json(ca->certs, cb, arg, "certs.db", e);
}

void
smz_ca_audit_log(struct smz_ca *ca, struct smz_audit *au)
{
	*au = ca_audit(ca);
}

int
smz_ca_cert_by_serial(struct smz_ca *ca, const char *hex, X509 **out, struct smz_err *e)
{
	unsigned char serial[64];
	char clean[160];
	size_t cl = 0, sl = 0;
	for (const char *p = hex; *p && cl + 1 < sizeof clean; p++)
		if (*p != ':')
			clean[cl++] = (char)((*p >= 'A' && *p <= 'F') ? *p + 32 : *p);
	clean[cl] = 0;
	if (sodium_hex2bin(serial, sizeof serial, clean, cl, NULL, &sl, NULL) != 0 || sl == 0)
		return smz_err_set(e, SMZ_ERR_USAGE, "%s: not a hexadecimal serial", hex);
	DBT k = {.data = serial, .size = (u_int32_t)sl}, d = {.flags = DB_DBT_MALLOC};
	int r = ca->certs->get(ca->certs, NULL, &k, &d, 0);
	if (r == DB_NOTFOUND)
		return smz_err_set(e, SMZ_ERR_NOTFOUND, "%s: no certificate with this serial", hex);
	if (r)
		return smz_db_err(e, r, "certs.db");
	json_t *rec = json_loadb(d.data, d.size, 0, NULL);
	free(d.data);
	X509 *x = rec ? record_cert(rec) : NULL;
	json_decref(rec);
	if (!x)
		return smz_err_set(e, SMZ_ERR_DATA, "%s: damaged record", hex);
	*out = x;
	return 0;
}
