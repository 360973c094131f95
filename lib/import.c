#include "import.h"
#include "addr.h"
#include "fileio.h"
#include "keys.h"
#include "pbe.h"
#include "vault.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILE_MAX (16u << 20)
#define KEYS_MAX 64

struct loaded {
	EVP_PKEY *keys[KEYS_MAX];
	size_t nkeys;
	STACK_OF(X509) * certs;
};

static void
loaded_free(struct loaded *l)
{
	for (size_t i = 0; i < l->nkeys; i++)
		EVP_PKEY_free(l->keys[i]);
	sk_X509_pop_free(l->certs, X509_free);
	memset(l, 0, sizeof *l);
}

static int
add_key(struct loaded *l, EVP_PKEY *k)
{
	if (l->nkeys == sizeof l->keys / sizeof l->keys[0]) {
		EVP_PKEY_free(k);
		return -1;
	}
	l->keys[l->nkeys++] = k;
	return 0;
}

static int
pass_cb(char *buf, int size, int rw, void *u)
{
	(void)rw;
	const struct smz_secret *s = u;
	if (!s || !s->buf || (int)s->len >= size)
		return 0;
	memcpy(buf, s->buf, s->len);
	return (int)s->len;
}

/* The MAC's key derivation: its iteration count, before it runs. */
static int
check_mac(const PKCS12 *p12, struct smz_err *e)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_INTEGER *iter = NULL;
	const ASN1_OBJECT *obj = NULL;
	if (!PKCS12_mac_present(p12))
		return 0;
	PKCS12_get0_mac(NULL, &alg, NULL, &iter, p12);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	/* PBMAC1 keeps its real iteration count where MacData does not show it */
	if (OBJ_obj2nid(obj) == NID_pbmac1)
		return smz_err_set(e, SMZ_ERR_DATA, "PBMAC1 MACs are not supported");
	return smz_pbe_check_iter(iter, NULL, "MAC", e);
}

/* Before any key bag among bags is decrypted: each one's key derivation
 * within the caps, and no more keys in the file than an import takes. */
static int
check_bags(const STACK_OF(PKCS12_SAFEBAG) * bags, const char *where, size_t *nkeys,
	   struct smz_err *e)
{
	for (int b = 0; b < sk_PKCS12_SAFEBAG_num(bags); b++) {
		const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, b);
		int bt = PKCS12_SAFEBAG_get_nid(bag);
		if (bt != NID_pkcs8ShroudedKeyBag && bt != NID_keyBag)
			continue;
		if (++*nkeys > KEYS_MAX)
			return smz_err_set(e, SMZ_ERR_DATA, "more than %d keys in one file",
					   KEYS_MAX);
		const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
		const X509_ALGOR *alg = NULL;
		if (sig)
			X509_SIG_get0(sig, &alg, NULL);
		int rc = bt == NID_keyBag ? 0 : smz_pbe_check(alg, where, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* A crafted file must not stall an import in its key derivations: every
 * cost readable without the password (the MAC, the encrypted safes, the
 * key bags in the plain ones) is checked before the first derivation. */
static int
check_p12(const PKCS12 *p12, const STACK_OF(PKCS7) * safes, struct smz_err *e)
{
	int rc = check_mac(p12, e);
	size_t nkeys = 0;
	for (int i = 0; !rc && i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		if (PKCS7_type_is_data(p7)) {
			STACK_OF(PKCS12_SAFEBAG) *bags = PKCS12_unpack_p7data(p7);
			rc = bags ? check_bags(bags, "key bag", &nkeys, e)
				  : smz_err_set(e, SMZ_ERR_DATA,
						"damaged PKCS#12 (unreadable safe)");
			sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
		} else if (PKCS7_type_is_encrypted(p7)) {
			const PKCS7_ENC_CONTENT *ec = p7->d.encrypted ? p7->d.encrypted->enc_data
								      : NULL;
			rc = smz_pbe_check(ec ? ec->algorithm : NULL, "encrypted safe", e);
		}
	}
	return rc;
}

/* Every key and certificate bag of a PKCS#12 (PKCS12_parse takes only one key). */
static int
load_p12(PKCS12 *p12, const struct smz_secret *pw, struct loaded *l, struct smz_err *e)
{
	const char *pass = pw ? (const char *)pw->buf : "";
	int plen = pw ? (int)pw->len : 0;
	STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
	if (!safes)
		return smz_err_set(e, SMZ_ERR_DATA, "damaged PKCS#12 (no safe contents)");
	int rc = check_p12(p12, safes, e);
	if (!rc && PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, pass, plen) &&
	    !(plen == 0 && PKCS12_verify_mac(p12, NULL, 0)))
		rc = smz_err_set(e, SMZ_ERR_PERM, "wrong password (the MAC does not verify)");
	size_t nkeys = 0;
	for (int i = 0; !rc && i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		int nid = OBJ_obj2nid(p7->type);
		STACK_OF(PKCS12_SAFEBAG) *bags = nid == NID_pkcs7_data ? PKCS12_unpack_p7data(p7)
						 : nid == NID_pkcs7_encrypted
							 ? PKCS12_unpack_p7encdata(p7, pass, plen)
							 : NULL;
		if (!bags) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "cannot decrypt a safe (%s)",
					 ERR_peek_last_error()
						 ? ERR_reason_error_string(ERR_peek_last_error())
						 : "unsupported");
			break;
		}
		/* the key bags an encrypted safe held hidden, before their derivations */
		rc = check_bags(bags,
				nid == NID_pkcs7_data ? "key bag" : "key bag in an encrypted safe",
				&nkeys, e);
		for (int b = 0; !rc && b < sk_PKCS12_SAFEBAG_num(bags); b++) {
			PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, b);
			int bt = PKCS12_SAFEBAG_get_nid(bag);
			if (bt == NID_pkcs8ShroudedKeyBag || bt == NID_keyBag) {
				PKCS8_PRIV_KEY_INFO *p8 = NULL;
				const PKCS8_PRIV_KEY_INFO *in;
				if (bt == NID_keyBag)
					in = PKCS12_SAFEBAG_get0_p8inf(bag);
				else
					in = p8 = PKCS12_decrypt_skey(bag, pass, plen);
				EVP_PKEY *k = in ? EVP_PKCS82PKEY(in) : NULL;
				PKCS8_PRIV_KEY_INFO_free(p8);
				if (!k || add_key(l, k) < 0)
					rc = smz_err_set(e, SMZ_ERR_DATA,
							 "cannot decrypt a key bag");
			} else if (bt == NID_certBag &&
				   PKCS12_SAFEBAG_get_bag_nid(bag) == NID_x509Certificate) {
				X509 *x = PKCS12_SAFEBAG_get1_cert(bag);
				if (x && !sk_X509_push(l->certs, x))
					X509_free(x);
			}
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return rc;
}

/* The key derivation of each encrypted PKCS#8 key in a PEM file, and
 * their number, before PEM_X509_INFO_read_bio runs them (the same reader
 * finds the same blocks). */
static int
check_pem(const char *data, size_t len, struct smz_err *e)
{
	BIO *b = BIO_new_mem_buf(data, (int)len);
	char *name = NULL, *hdr = NULL;
	unsigned char *der = NULL;
	long dlen = 0;
	int rc = 0, nkeys = 0;
	while (!rc && b && PEM_read_bio(b, &name, &hdr, &der, &dlen)) {
		if (strstr(name, "PRIVATE KEY") && ++nkeys > KEYS_MAX)
			rc = smz_err_set(e, SMZ_ERR_DATA, "more than %d keys in one file",
					 KEYS_MAX);
		else if (strcmp(name, PEM_STRING_PKCS8) == 0) {
			const unsigned char *q = der;
			X509_SIG *sig = d2i_X509_SIG(NULL, &q, dlen);
			const X509_ALGOR *alg = NULL;
			if (sig)
				X509_SIG_get0(sig, &alg, NULL);
			rc = sig ? smz_pbe_check(alg, "encrypted PEM key", e)
				 : smz_err_set(e, SMZ_ERR_DATA, "damaged encrypted PEM key");
			X509_SIG_free(sig);
		}
		OPENSSL_free(name);
		OPENSSL_free(hdr);
		OPENSSL_clear_free(der, dlen > 0 ? (size_t)dlen : 0);
		name = hdr = NULL;
		der = NULL;
	}
	ERR_clear_error();
	BIO_free(b);
	return rc;
}

static int
load_pem(const char *data, size_t len, const struct smz_secret *pw, struct loaded *l,
	 struct smz_err *e)
{
	int rc = check_pem(data, len, e);
	if (rc)
		return rc;
	BIO *b = BIO_new_mem_buf(data, (int)len);
	STACK_OF(X509_INFO) *infos = b ? PEM_X509_INFO_read_bio(b, NULL, pass_cb, (void *)pw)
				       : NULL;
	BIO_free(b);
	if (!infos)
		return smz_err_set(e, SMZ_ERR_DATA, "%s",
				   strstr(data, "ENCRYPTED")
					   ? "cannot decrypt the key (wrong password?)"
					   : "damaged PEM");
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);
		if (xi->x509) {
			sk_X509_push(l->certs, xi->x509);
			xi->x509 = NULL;
		}
		if (xi->x_pkey && xi->x_pkey->dec_pkey) {
			if (add_key(l, xi->x_pkey->dec_pkey) < 0)
				rc = smz_err_set(e, SMZ_ERR_DATA, "too many keys in one file");
			xi->x_pkey->dec_pkey = NULL;
		} else if (xi->x_pkey) {
			rc = smz_err_set(e, SMZ_ERR_PERM,
					 "cannot decrypt the key (wrong password?)");
		}
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return rc;
}

static int
load_file(const char *path, const struct smz_secret *pw, struct loaded *l, struct smz_err *e)
{
	char *data = NULL;
	size_t len = 0;
	int rc = smz_file_read(path, FILE_MAX, &data, &len, e);
	if (rc)
		return rc;
	l->certs = sk_X509_new_null();
	if (strstr(data, "-----BEGIN ")) {
		rc = load_pem(data, len, pw, l, e);
	} else {
		const unsigned char *q = (const unsigned char *)data;
		PKCS12 *p12 = d2i_PKCS12(NULL, &q, (long)len);
		if (p12) {
			rc = load_p12(p12, pw, l, e);
			PKCS12_free(p12);
		} else {
			q = (const unsigned char *)data;
			EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &q, (long)len);
			q = (const unsigned char *)data;
			X509 *x = k ? NULL : d2i_X509(NULL, &q, (long)len);
			if (k)
				add_key(l, k);
			else if (x)
				sk_X509_push(l->certs, x);
			else
				rc = smz_err_set(e, SMZ_ERR_DATA,
						 "not PKCS#12, PEM or a DER key "
						 "(damaged or truncated?)");
		}
	}
	ERR_clear_error();
	sodium_memzero(data, len);
	free(data);
	if (!rc && l->nkeys == 0)
		rc = smz_err_set(e, SMZ_ERR_DATA, "no private key in the file");
	return rc;
}

/* The newest certificate of k among certs, or NULL. */
static X509 *
cert_for(STACK_OF(X509) * certs, EVP_PKEY *k, int *any)
{
	X509 *best = NULL;
	*any = 0;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if (X509_check_private_key(x, k) != 1)
			continue;
		(*any)++;
		if (!best ||
		    ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(best)) > 0)
			best = x;
	}
	ERR_clear_error();
	return best;
}

static long long
asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;
	return ASN1_TIME_to_tm(t, &tm) ? (long long)timegm(&tm) : 0;
}

/* Deposit the keys of one file and attach their certificates. */
static int
import_one(const struct smz_import_opts *o, struct smz_vault *v, struct loaded *l, size_t *imported,
	   size_t *unchanged, struct smz_err *e)
{
	struct smz_deposit d[64];
	struct smz_secret p8 = {0}, msg = {0};
	memset(d, 0, sizeof d);
	int rc = 0;
	size_t nd = 0;
	long long now = (long long)time(NULL);
	for (size_t i = 0; !rc && i < l->nkeys; i++) {
		EVP_PKEY *k = l->keys[i];
		int any = 0;
		X509 *x = cert_for(l->certs, k, &any);
		if (!x && sk_X509_num(l->certs) > 0 && l->nkeys == 1) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "the key does not match its certificate");
			break;
		}
		struct smz_deposit *dp = &d[nd];
		const char *alg = smz_key_alg(k);
		/* no address yet: attaching the certificate files the key under
		 * all of its mailboxes */
		dp->address = NULL;
		dp->alg = alg ? alg : EVP_PKEY_get0_type_name(k);
		dp->usage = "dual";
		dp->source = "import";
		dp->created = x ? asn1_epoch(X509_get0_notBefore(x)) : 0;
		dp->state = x && asn1_epoch(X509_get0_notAfter(x)) < now ? "superseded" : "active";
		dp->local_sensitive = o->policy->local_part_sensitive;
		if (smz_key_id(k, dp->key_id) || smz_key_to_pkcs8(k, &p8, e) ||
		    smz_vault_seal(smz_vault_deposit_key(v), dp->key_id, &p8, &msg, &dp->sealed,
				   &dp->sealed_len) ||
		    ((dp->gw_pk = smz_vault_gateway_pk(v)) &&
		     smz_vault_seal(dp->gw_pk, dp->key_id, &p8, &msg, &dp->gw_sealed,
				    &dp->gw_sealed_len))) {
			rc = e->code ? e->code
				     : smz_err_set(e, SMZ_ERR_INTERNAL, "cannot seal a key");
			break;
		}
		nd++;
	}
	smz_secret_free(&p8);
	smz_secret_free(&msg);
	if (!rc && nd)
		rc = smz_vault_deposit(v, d, nd, e);
	size_t fresh = 0;
	for (size_t i = 0; i < nd; i++) {
		fresh += !d[i].skipped;
		free(d[i].sealed);
		free(d[i].gw_sealed);
	}
	if (rc)
		return rc;
	/* every certificate that belongs to one of the keys */
	struct smz_attach at[64];
	size_t na = 0;
	for (int i = 0; i < sk_X509_num(l->certs) && na < 64; i++) {
		X509 *x = sk_X509_value(l->certs, i);
		int mine = 0;
		for (size_t k = 0; k < l->nkeys && !mine; k++)
			mine = X509_check_private_key(x, l->keys[k]) == 1;
		ERR_clear_error();
		if (mine)
			at[na++] = (struct smz_attach){.cert = x};
	}
	/* imported keys keep the state their own dates give them */
	rc = na ? smz_vault_attach(v, at, na, o->policy->supersede, o->policy->local_part_sensitive,
				   e)
		: 0;
	size_t newcerts = 0;
	for (size_t i = 0; i < na; i++) {
		newcerts += at[i].result == 0;
		/* kept, but not filed under a mailbox: say why */
		if (at[i].result == SMZ_ERR_DATA && !e->msg[0])
			snprintf(e->msg, sizeof e->msg, "certificate not attached: %.900s",
				 at[i].why);
	}
	*imported = fresh;
	*unchanged = fresh == 0 && newcerts == 0;
	return rc;
}

int
smz_import_run(const struct smz_import_opts *o, const struct smz_import_file *files, size_t n,
	       struct smz_import_stats *st, struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	/* RC2 and RC4, which old PKCS#12 files use, live in the legacy provider */
	static OSSL_PROVIDER *legacy;
	if (!legacy) {
		/* loading legacy would hide default unless both are loaded */
		OSSL_PROVIDER_load(NULL, "default");
		legacy = OSSL_PROVIDER_load(NULL, "legacy");
		ERR_clear_error();
	}
	struct smz_vault *v;
	int rc = smz_vault_open(o->vault_dir, &v, e);
	if (rc)
		return rc;
	if (o->unlock && (rc = smz_vault_unlock(v, o->unlock, "smz-vault import", e))) {
		smz_vault_close(v);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct loaded l = {0};
		struct smz_err fe = {0};
		size_t keys = 0, unchanged = 0;
		st->files++;
		int r = load_file(files[i].path, files[i].password, &l, &fe);
		if (!r)
			r = import_one(o, v, &l, &keys, &unchanged, &fe);
		loaded_free(&l);
		if (r == SMZ_ERR_TEMP || r == SMZ_ERR_IO || r == SMZ_ERR_INTERNAL) {
			rc = smz_err_set(e, r, "%s: %s", files[i].path, fe.msg);
			break;
		}
		if (r) {
			st->failed++;
			o->report(o->arg, files[i].path, SMZ_IM_FAILED, 0, fe.msg);
			continue;
		}
		st->keys += keys;
		st->unchanged += unchanged;
		o->report(o->arg, files[i].path, unchanged ? SMZ_IM_UNCHANGED : SMZ_IM_IMPORTED,
			  keys, fe.msg[0] ? fe.msg : NULL);
	}
	if (!rc) {
		char what[64];
		snprintf(what, sizeof what, "%zu files, %zu keys, %zu failed", st->files, st->keys,
			 st->failed);
		rc = smz_vault_audit(v, "import", what, "", e);
	}
	smz_vault_close(v);
	return rc;
}
