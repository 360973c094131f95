/* vaultkey: the vault secret: made at create, wrapped under the
 * passphrase and the share key (with the credential escrow), opened by
 * unlock; the gateway's own key pair; sealing and unsealing keys. */
#include "vault-int.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "share.h"
#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- wrapping the vault secret ---- */

static void
kdf_params(enum smz_kdf k, unsigned long long *ops, size_t *mem)
{
	*ops = k == SMZ_KDF_INTERACTIVE ? crypto_pwhash_OPSLIMIT_INTERACTIVE
	       : k == SMZ_KDF_SENSITIVE ? crypto_pwhash_OPSLIMIT_SENSITIVE
					: crypto_pwhash_OPSLIMIT_MODERATE;
	*mem = k == SMZ_KDF_INTERACTIVE ? crypto_pwhash_MEMLIMIT_INTERACTIVE
	       : k == SMZ_KDF_SENSITIVE ? crypto_pwhash_MEMLIMIT_SENSITIVE
					: crypto_pwhash_MEMLIMIT_MODERATE;
}

/* {"nonce","ct"} plus extra fields: sk sealed under a 32-byte key. */
json_t *
smz_vault_wrap(const unsigned char *sk, const unsigned char *key)
{
	unsigned char nonce[crypto_secretbox_NONCEBYTES], ct[32 + crypto_secretbox_MACBYTES];
	randombytes_buf(nonce, sizeof nonce);
	crypto_secretbox_easy(ct, sk, 32, nonce, key);
	char *n = smz_b64(nonce, sizeof nonce), *c = smz_b64(ct, sizeof ct);
	json_t *j = n && c ? json_pack("{s:s,s:s}", "nonce", n, "ct", c) : NULL;
	free(n);
	free(c);
	return j;
}

static int
unwrap(json_t *j, const unsigned char *key, unsigned char *sk)
{
	unsigned char nonce[crypto_secretbox_NONCEBYTES], ct[32 + crypto_secretbox_MACBYTES];
	size_t nl, cl;
	if (smz_unb64(json_string_value(json_object_get(j, "nonce")), nonce, sizeof nonce, &nl) ||
	    smz_unb64(json_string_value(json_object_get(j, "ct")), ct, sizeof ct, &cl) ||
	    nl != sizeof nonce || cl != sizeof ct)
		return SMZ_ERR_CONFIG;
	return crypto_secretbox_open_easy(sk, ct, cl, nonce, key) == 0 ? 0 : SMZ_ERR_PERM;
}

/* The wrap of sk under a key derived from pass; the key in key_out (32
 * bytes, may be NULL), for the credential escrow. */
json_t *
smz_vault_wrap_passphrase(const unsigned char *sk, const struct smz_secret *pass, enum smz_kdf kdf,
			  unsigned char *key_out)
{
	unsigned char salt[crypto_pwhash_SALTBYTES];
	unsigned long long ops;
	size_t mem;
	kdf_params(kdf, &ops, &mem);
	randombytes_buf(salt, sizeof salt);
	unsigned char *key = sodium_malloc(32);
	if (!key || crypto_pwhash(key, 32, (const char *)pass->buf, pass->len, salt, ops, mem,
				  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		if (key)
			sodium_free(key);
		return NULL;
	}
	json_t *j = smz_vault_wrap(sk, key);
	if (key_out)
		memcpy(key_out, key, 32);
	sodium_free(key);
	char *s = smz_b64(salt, sizeof salt);
	if (!j || !s || json_object_set_new(j, "salt", json_string(s)) ||
	    json_object_set_new(j, "ops", json_integer((json_int_t)ops)) ||
	    json_object_set_new(j, "mem", json_integer((json_int_t)mem)) ||
	    json_object_set_new(j, "kdf", json_string("argon2id13"))) {
		json_decref(j);
		j = NULL;
	}
	free(s);
	return j;
}

/* The credential escrow: the passphrase's derived key and the share key,
 * sealed to the vault's public key, so that a rotation (which makes a new
 * vault secret) can wrap it for the credentials it keeps.  Whoever holds
 * the vault secret learns nothing more from it. */
json_t *
smz_vault_escrow_seal(const unsigned char *pk, const unsigned char *kpw, const unsigned char *ksh)
{
	unsigned char *m = sodium_malloc(65), out[65 + crypto_box_SEALBYTES];
	if (!m)
		return NULL;
	m[0] = (unsigned char)((kpw ? 1 : 0) | (ksh ? 2 : 0));
	memset(m + 1, 0, 64);
	if (kpw)
		memcpy(m + 1, kpw, 32);
	if (ksh)
		memcpy(m + 33, ksh, 32);
	int ok = crypto_box_seal(out, m, 65, pk) == 0;
	sodium_free(m);
	char *b = ok ? smz_b64(out, sizeof out) : NULL;
	json_t *j = b ? json_pack("{s:s}", "sealed", b) : NULL;
	free(b);
	return j;
}

/* Open the escrow with the vault secret: the keys it holds into kpw / ksh
 * (guarded, 32 bytes each), where those are not known already. */
void
smz_vault_escrow_open(struct smz_vault *v)
{
	json_t *j = v->sk ? smz_vault_meta_json(v, "esc") : NULL;
	if (!j)
		return;
	unsigned char in[65 + crypto_box_SEALBYTES];
	unsigned char *m = sodium_malloc(65);
	size_t l = 0;
	if (m && j &&
	    !smz_unb64(json_string_value(json_object_get(j, "sealed")), in, sizeof in, &l) &&
	    l == sizeof in && crypto_box_seal_open(m, in, l, v->pk, v->sk) == 0) {
		if ((m[0] & 1) && !v->kpw && (v->kpw = sodium_malloc(32)))
			memcpy(v->kpw, m + 1, 32);
		if ((m[0] & 2) && !v->ksh && (v->ksh = sodium_malloc(32)))
			memcpy(v->ksh, m + 33, 32);
	}
	if (m)
		sodium_free(m);
	json_decref(j);
}

static int
write_shares(const struct smz_share *sh, int n, const char *dir, struct smz_err *e)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", dir, strerror(errno));
	char path[PATH_MAX];
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/share-%d-of-%d.txt", dir, i + 1, n);
		if (access(path, F_OK) == 0)
			return smz_err_set(e, SMZ_ERR_EXISTS,
					   "%s: exists; share files are never overwritten", path);
	}
	char *buf = sodium_malloc(1024);
	if (!buf)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	int rc = 0, i;
	for (i = 0; i < n && !rc; i++) {
		snprintf(path, sizeof path, "%s/share-%d-of-%d.txt", dir, i + 1, n);
		int l = smz_share_format(&sh[i], buf, 1024);
		rc = l < 0 ? smz_err_set(e, SMZ_ERR_INTERNAL, "share too large")
			   : smz_file_create_excl(path, buf, (size_t)l, e);
	}
	if (rc) /* leave no partial set behind */
		for (int j = 0; j < i - 1; j++) {
			snprintf(path, sizeof path, "%s/share-%d-of-%d.txt", dir, j + 1, n);
			unlink(path);
		}
	sodium_free(buf);
	return rc;
}

/* New share key, wrapped sk, share files. */
int
smz_vault_make_shares(const char *vault_id, const unsigned char *sk, int n, int m, const char *dir,
		      json_t **out, unsigned char *key_out, struct smz_err *e)
{
	unsigned char *ks = sodium_malloc(32);
	struct smz_share *sh = sodium_allocarray((size_t)n, sizeof *sh);
	int rc = 0;
	if (!ks || !sh) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
		goto out;
	}
	randombytes_buf(ks, 32);
	unsigned char setb[8];
	char set[17];
	randombytes_buf(setb, sizeof setb);
	sodium_bin2hex(set, sizeof set, setb, sizeof setb);
	if ((rc = smz_share_split(ks, n, m, sh, e)))
		goto out;
	for (int i = 0; i < n; i++) {
		memcpy(sh[i].vault, vault_id, 33);
		memcpy(sh[i].set, set, 17);
	}
	json_t *j = smz_vault_wrap(sk, ks);
	if (!j || json_object_set_new(j, "set", json_string(set)) ||
	    json_object_set_new(j, "shares", json_integer(n)) ||
	    json_object_set_new(j, "threshold", json_integer(m))) {
		json_decref(j);
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = write_shares(sh, n, dir, e))) {
		json_decref(j);
		goto out;
	}
	if (key_out)
		memcpy(key_out, ks, 32);
	*out = j;
out:
	if (ks)
		sodium_free(ks);
	if (sh)
		sodium_free(sh);
	return rc;
}

static int
dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

int
smz_vault_create(const char *dir, const struct smz_vault_init *o, struct smz_err *e)
{
	if (!dir || !*dir)
		return smz_err_need(e, SMZ_ERR_CONFIG, SMZ_NEED_VAULT, "no vault given");
	if (!o->passphrase && !o->shares)
		return smz_err_need(
			e, SMZ_ERR_USAGE, SMZ_NEED_SECRET,
			"the vault secret needs a passphrase or recovery shares, or both");
	if (o->shares &&
	    (o->threshold < 2 || o->threshold > o->shares || o->shares > 255 || !o->share_out))
		return smz_err_need(e, SMZ_ERR_USAGE, SMZ_NEED_SHARE_SETUP,
				    "shares need 2 <= threshold <= shares <= 255 and a directory "
				    "to write them to");
	if (mkdir(dir, 0700) < 0 && !(errno == EEXIST && dir_is_empty(dir) == 1)) {
		char dp[PATH_MAX + 16];
		snprintf(dp, sizeof dp, "%s/%s", dir, SMZ_VAULT_DEPOSIT_FILE);
		if (errno != EEXIST)
			return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", dir, strerror(errno));
		return smz_err_set(
			e, SMZ_ERR_EXISTS, "%s: %s", dir,
			access(dp, F_OK) == 0
				? "exists and is not empty"
				: "holds an interrupted init (no deposit.pub): remove the "
				  "directory and run init again");
	}
	/* an existing directory must be this user's own, and no one else's to
	 * write in: whoever can replace files in it can swap the vault */
	struct stat st;
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return smz_err_set(e, SMZ_ERR_PERM, "%s: not a directory (a symbolic link?)", dir);
	if (st.st_uid != geteuid())
		return smz_err_set(e, SMZ_ERR_PERM,
				   "%s: owned by another user (uid %ld); create "
				   "the vault in a directory of your own",
				   dir, (long)st.st_uid);
	if (st.st_mode & 022)
		return smz_err_set(e, SMZ_ERR_PERM, "%s: writable by group or others (mode %03o)",
				   dir, (unsigned)(st.st_mode & 0777));
	chmod(dir, 0700);
	unsigned char *sk = sodium_malloc(32), pk[32], idb[16];
	unsigned char *kpw = sodium_malloc(32), *ksh = sodium_malloc(32);
	char id[33];
	json_t *pw = NULL, *sh = NULL;
	struct smz_vault *v = NULL;
	int rc = 0;
	if (!sk) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
		goto out;
	}
	crypto_box_keypair(pk, sk);
	randombytes_buf(idb, sizeof idb);
	sodium_bin2hex(id, sizeof id, idb, sizeof idb);
	if (!kpw || !ksh) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
		goto out;
	}
	if (o->passphrase && !(pw = smz_vault_wrap_passphrase(sk, o->passphrase, o->kdf, kpw))) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL,
				 "cannot derive a key from the passphrase "
				 "(out of memory for Argon2id?)");
		goto out;
	}
	if (o->shares && (rc = smz_vault_make_shares(id, sk, o->shares, o->threshold, o->share_out,
						     &sh, ksh, e)))
		goto out;
	json_t *esc = smz_vault_escrow_seal(pk, pw ? kpw : NULL, sh ? ksh : NULL);
	if (!esc) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = smz_vault_env_open(dir, &v, e))) {
		json_decref(esc);
		goto out;
	}
	DB_TXN *txn = NULL;
	char why[128];
	snprintf(why, sizeof why, "%s%s", pw ? "passphrase" : "",
		 sh ? (pw ? " and shares" : "shares") : "");
	struct smz_audit_entry a = {"init", id, why};
	struct smz_audit_mark m = {0};
	int r = v->env->txn_begin(v->env, NULL, &txn, 0);
	if (!r && !(r = smz_vault_meta_put(v, txn, "version", "1", 1)) &&
	    !(r = smz_vault_meta_put(v, txn, "vault_id", id, 32)) &&
	    !(r = smz_vault_meta_put(v, txn, "pk", pk, 32)) &&
	    !(r = pw ? smz_vault_meta_put_json(v, txn, "pw", pw) : 0) &&
	    !(r = sh ? smz_vault_meta_put_json(v, txn, "sh", sh) : 0) &&
	    !(r = smz_vault_meta_put_json(v, txn, "esc", esc))) {
		if (smz_db_code(rc = smz_audit_append(v->log, v->meta, txn, &a, 1, &m, e)))
			r = rc, rc = 0;
	}
	json_decref(esc);
	if (r || rc) {
		if (txn)
			txn->abort(txn);
		rc = rc ? rc : smz_db_err(e, r, dir);
		goto out;
	}
	if ((r = txn->commit(txn, 0))) {
		rc = smz_db_err(e, r, dir);
		goto out;
	}
	memcpy(v->id, id, sizeof v->id);
	struct smz_audit au = smz_vault_auditor(v);
	smz_audit_syslog(&au, &a, &m, 1);
	rc = smz_vault_write_deposit(dir, id, pk, 0600, e);
out:
	smz_vault_close(v);
	json_decref(pw);
	json_decref(sh);
	sodium_free(sk);
	sodium_free(kpw);
	sodium_free(ksh);
	return rc;
}

/* ---- sealing ---- */

int
smz_vault_seal(const unsigned char pk[SMZ_VAULT_PK], const unsigned char *keyid,
	       const struct smz_secret *pkcs8, struct smz_secret *msg, unsigned char **sealed,
	       size_t *len)
{
	if (smz_secret_ensure(msg, SMZ_KEYID_LEN + pkcs8->len) < 0)
		return SMZ_ERR_INTERNAL;
	memcpy(msg->buf, keyid, SMZ_KEYID_LEN);
	memcpy(msg->buf + SMZ_KEYID_LEN, pkcs8->buf, pkcs8->len);
	size_t l = msg->len + crypto_box_SEALBYTES;
	unsigned char *out = malloc(l);
	int rc = out && crypto_box_seal(out, msg->buf, msg->len, pk) == 0 ? 0 : SMZ_ERR_INTERNAL;
	sodium_memzero(msg->buf, msg->len);
	if (rc) {
		free(out);
		return rc;
	}
	*sealed = out;
	*len = l;
	return 0;
}

/* Open a sealed key (base64 of keyid || PKCS#8, sealed to pk) into msg. */
int
smz_vault_open_sealed(const char *b64, const unsigned char *pk, const unsigned char *sk,
		      struct smz_secret *msg, struct smz_err *e)
{
	size_t sl = strlen(b64), bl = 0;
	unsigned char *sealed = malloc(sl);
	int rc = 0;
	if (!sealed || smz_unb64(b64, sealed, sl, &bl) ||
	    bl <= crypto_box_SEALBYTES + SMZ_KEYID_LEN)
		rc = smz_err_set(e, SMZ_ERR_DATA, "sealed key is damaged");
	else if (smz_secret_alloc(msg, bl - crypto_box_SEALBYTES) < 0)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	else if (crypto_box_seal_open(msg->buf, sealed, bl, pk, sk) != 0)
		rc = smz_err_set(e, SMZ_ERR_DATA, "sealed key is damaged or not for this vault");
	free(sealed);
	return rc;
}

/* Is a record in the gateway's scope: the keys a gateway needs, of an
 * active key, or superseded with an unrevoked certificate still valid? */
int
smz_vault_gw_in_scope(json_t *rec, time_t now)
{
	const char *st = json_string_value(json_object_get(rec, "state"));
	if (st && strcmp(st, "active") == 0)
		return 1;
	if (!st || strcmp(st, "superseded") != 0)
		return 0;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(rec, "certs"), i,
			   c) if (!smz_vault_cert_revoked(c) &&
				  json_integer_value(json_object_get(c, "not_after")) >
					  (json_int_t)now) return 1;
	return 0;
}

int
smz_vault_sealed_for(struct smz_vault *v, json_t *rec, const char **sealed, struct smz_err *e)
{
	if (!v->sk && !v->gwsk)
		return smz_err_set(e, SMZ_ERR_PERM, "the vault is locked");
	const char *idhex = json_string_value(json_object_get(rec, "key_id"));
	/* a gateway unlock opens only the gateway's own seals, of keys in its scope */
	const char *s = json_string_value(json_object_get(rec, v->sk ? "sealed" : "gw_sealed"));
	if (!v->sk && (!s || !smz_vault_gw_in_scope(rec, time(NULL))))
		return smz_err_set(e, SMZ_ERR_PERM,
				   "key %.16s is not in the gateway's scope "
				   "(current and unexpired keys of active mailboxes); it needs the "
				   "officers' passphrase or shares",
				   idhex ? idhex : "?");
	if (!idhex || !s)
		return smz_err_set(e, SMZ_ERR_DATA, "record has no sealed key");
	*sealed = s;
	return 0;
}

int
smz_vault_unseal(struct smz_vault *v, json_t *rec, EVP_PKEY **key, struct smz_err *e)
{
	const char *s, *idhex = json_string_value(json_object_get(rec, "key_id"));
	int rc = smz_vault_sealed_for(v, rec, &s, e);
	if (rc)
		return rc;
	struct smz_secret msg = {0};
	rc = v->sk ? smz_vault_open_sealed(s, v->pk, v->sk, &msg, e)
		   : smz_vault_open_sealed(s, v->gwpk, v->gwsk, &msg, e);
	if (rc)
		goto out;
	char inner[65];
	smz_hex(msg.buf, SMZ_KEYID_LEN, inner);
	if (strcmp(inner, idhex) != 0) {
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "sealed key belongs to key %.16s..., not this "
				 "record (swapped record)",
				 inner);
		goto out;
	}
	EVP_PKEY *k = NULL;
	if ((rc = smz_key_from_pkcs8(msg.buf + SMZ_KEYID_LEN, msg.len - SMZ_KEYID_LEN, &k, e)))
		goto out;
	unsigned char id[SMZ_KEYID_LEN];
	char actual[65];
	smz_key_id(k, id);
	smz_hex(id, sizeof id, actual);
	if (strcmp(actual, idhex) != 0) {
		EVP_PKEY_free(k);
		rc = smz_err_set(e, SMZ_ERR_DATA, "private key does not match its key id");
		goto out;
	}
	*key = k;
out:
	smz_secret_free(&msg);
	return rc;
}

/* ---- unlocking ---- */

void
smz_vault_keep_key(unsigned char **slot, const unsigned char *key)
{
	if (!*slot)
		*slot = sodium_malloc(32);
	if (*slot)
		memcpy(*slot, key, 32);
}

static int
unlock_passphrase(struct smz_vault *v, const char *file, unsigned char *sk, struct smz_err *e)
{
	char *s = NULL;
	if (smz_vault_meta_get(v, NULL, "pw", &s, NULL))
		return smz_err_need(e, SMZ_ERR_PERM, SMZ_NEED_SHARES,
				    "this vault has no passphrase; unlock it with its recovery "
				    "shares");
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	unsigned char salt[crypto_pwhash_SALTBYTES];
	size_t sl = 0;
	json_int_t ops = json_integer_value(json_object_get(j, "ops"));
	json_int_t mem = json_integer_value(json_object_get(j, "mem"));
	if (!j ||
	    smz_unb64(json_string_value(json_object_get(j, "salt")), salt, sizeof salt, &sl) ||
	    sl != sizeof salt || ops < 1 || mem < 8192 || mem > ((json_int_t)1 << 34)) {
		json_decref(j);
		return smz_err_set(e, SMZ_ERR_CONFIG, "the vault's passphrase record is damaged");
	}
	struct smz_secret pass = {0};
	int rc = smz_secret_read_passphrase(file, &pass, e);
	unsigned char *key = rc ? NULL : sodium_malloc(32);
	if (!rc && !key)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	if (!rc &&
	    crypto_pwhash(key, 32, (const char *)pass.buf, pass.len, salt, (unsigned long long)ops,
			  (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "Argon2id failed (out of memory?)");
	if (!rc && (rc = unwrap(j, key, sk)))
		rc = smz_err_set(e, rc,
				 rc == SMZ_ERR_PERM ? "wrong passphrase"
						    : "the vault's passphrase record is damaged");
	if (!rc)
		smz_vault_keep_key(&v->kpw, key);
	if (key)
		sodium_free(key);
	smz_secret_free(&pass);
	json_decref(j);
	return rc;
}

static int
unlock_shares(struct smz_vault *v, const char *const *files, unsigned char *sk, char *used,
	      size_t usedcap, struct smz_err *e)
{
	char *s = NULL;
	if (smz_vault_meta_get(v, NULL, "sh", &s, NULL))
		return smz_err_need(e, SMZ_ERR_PERM, SMZ_NEED_PASSPHRASE,
				    "this vault has no recovery shares; unlock it with its "
				    "passphrase");
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	const char *set = json_string_value(json_object_get(j, "set"));
	size_t n = 0;
	while (files[n])
		n++;
	struct smz_share *sh = sodium_allocarray(n ? n : 1, sizeof *sh);
	unsigned char *ks = sodium_malloc(32);
	int rc = (!j || !set)
			 ? smz_err_set(e, SMZ_ERR_CONFIG, "the vault's share record is damaged")
		 : (!sh || !ks) ? smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory")
				: 0;
	used[0] = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		char *text = NULL;
		size_t len;
		if ((rc = smz_file_read(files[i], 4096, &text, &len, e))) {
			if (rc == SMZ_ERR_DATA)
				rc = smz_err_set(e, SMZ_ERR_PERM, "%s: not a share file", files[i]);
			break;
		}
		rc = smz_share_parse(text, files[i], &sh[i], e);
		sodium_memzero(text, len);
		free(text);
		if (rc)
			break;
		if (strcmp(sh[i].vault, v->id) != 0)
			rc = smz_err_set(e, SMZ_ERR_PERM, "%s: a share of another vault (%s)",
					 files[i], sh[i].vault);
		else if (strcmp(sh[i].set, set) != 0)
			rc = smz_err_set(e, SMZ_ERR_PERM,
					 "%s: a share of an earlier share set, replaced by "
					 "smz-vault reshare",
					 files[i]);
		size_t ul = strlen(used);
		snprintf(used + ul, usedcap - ul, "%s%d", i ? "," : "", sh[i].index);
	}
	if (!rc)
		rc = smz_share_combine(sh, n, ks, e);
	if (!rc && (rc = unwrap(j, ks, sk)))
		rc = smz_err_set(e, rc == SMZ_ERR_PERM ? SMZ_ERR_PERM : rc,
				 "the shares do not unlock this vault");
	if (!rc)
		smz_vault_keep_key(&v->ksh, ks);
	if (sh)
		sodium_free(sh);
	if (ks)
		sodium_free(ks);
	json_decref(j);
	return rc;
}

/* The gateway's secret half, unwrapped with the key in its unlock file. */
static int
unlock_gateway(struct smz_vault *v, const char *file, unsigned char *gwsk, struct smz_err *e)
{
	char *text = NULL, *s = NULL;
	size_t len;
	int rc = smz_file_read(file, 1024, &text, &len, e);
	if (rc)
		return rc == SMZ_ERR_DATA
			       ? smz_err_set(e, SMZ_ERR_PERM, "%s: not a gateway key file", file)
			       : rc;
	char id[128] = "", b64[128] = "";
	unsigned char *key = sodium_malloc(32);
	size_t kl = 0;
	if (!key)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	else if (sscanf(text, SMZ_VAULT_GATEWAY_MAGIC " %127s %127s", id, b64) != 2 ||
		 smz_unb64(b64, key, 32, &kl) || kl != 32)
		rc = smz_err_set(e, SMZ_ERR_PERM, "%s: not a gateway key file", file);
	else if (strcmp(id, v->id) != 0)
		rc = smz_err_set(e, SMZ_ERR_PERM, "%s: the gateway key of another vault (%s)", file,
				 id);
	sodium_memzero(text, len);
	sodium_memzero(b64, sizeof b64);
	free(text);
	if (!rc && smz_vault_meta_get(v, NULL, "gw", &s, NULL))
		rc = smz_err_set(e, SMZ_ERR_PERM,
				 "this vault has no gateway key "
				 "(smz-vault gateway-key creates one)");
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	free(s);
	unsigned char pk[32];
	if (!rc && json_object_get(j, "revoked"))
		rc = smz_err_set(e, SMZ_ERR_PERM, "the gateway key was revoked");
	else if (!rc && !json_object_get(j, "pk"))
		/* before step 9 the file wrapped the vault secret itself */
		rc = smz_err_set(
			e, SMZ_ERR_PERM,
			"this gateway key is of the earlier kind, which "
			"opened every key: make a new one with smz-vault gateway-key, then "
			"rotate the passphrase (smz-vault passwd)");
	else if (!rc && (rc = unwrap(j, key, gwsk)))
		rc = smz_err_set(e, SMZ_ERR_PERM,
				 "%s: not the vault's current gateway key "
				 "(replaced by a newer one?)",
				 file);
	else if (!rc && (!v->has_gw || crypto_scalarmult_base(pk, gwsk) != 0 ||
			 memcmp(pk, v->gwpk, 32) != 0))
		rc = smz_err_set(e, SMZ_ERR_CONFIG, "the gateway key record is damaged");
	json_decref(j);
	if (key)
		sodium_free(key);
	return rc;
}

int
smz_vault_unlock(struct smz_vault *v, const struct smz_unlock *u, const char *why,
		 struct smz_err *e)
{
	int has_shares = u->shares && u->shares[0];
	if (u->passphrase_file && has_shares)
		return smz_err_need(e, SMZ_ERR_USAGE, SMZ_NEED_UNLOCK,
				    "the vault is unlocked with its passphrase or with shares, not "
				    "both");
	if (!u->passphrase_file && !has_shares && !u->gateway_file)
		return smz_err_need(e, SMZ_ERR_USAGE, SMZ_NEED_UNLOCK,
				    "the vault must be unlocked with its passphrase or M of its "
				    "recovery shares");
	int gateway = !u->passphrase_file && !has_shares;
	if (gateway && !u->scoped_ok)
		return smz_err_need(e, SMZ_ERR_PERM, SMZ_NEED_UNLOCK,
				    "the gateway unlock file (policy [gateway] unlock_file) opens "
				    "only the keys a gateway needs; this needs the passphrase or "
				    "the officers' shares");
	unsigned char *sk = sodium_malloc(32);
	if (!sk)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	char used[1024], how[1100];
	int rc = u->passphrase_file ? unlock_passphrase(v, u->passphrase_file, sk, e)
		 : has_shares	    ? unlock_shares(v, u->shares, sk, used, sizeof used, e)
				    : unlock_gateway(v, u->gateway_file, sk, e);
	unsigned char pk[32];
	if (!rc && !gateway && (crypto_scalarmult_base(pk, sk) != 0 || memcmp(pk, v->pk, 32) != 0))
		rc = smz_err_set(
			e, SMZ_ERR_CONFIG,
			"the unlocked secret does not match the deposit key (damaged vault)");
	if (rc) {
		sodium_free(sk);
		return rc;
	}
	if (u->passphrase_file)
		snprintf(how, sizeof how, "passphrase");
	else if (has_shares)
		snprintf(how, sizeof how, "shares %s", used);
	else
		snprintf(how, sizeof how, "gateway key");
	if ((rc = smz_vault_audit(v, "unlock", how, why, e))) {
		sodium_free(sk);
		return rc;
	}
	unsigned char **slot = gateway ? &v->gwsk : &v->sk;
	if (*slot)
		sodium_free(*slot);
	*slot = sk;
	return 0;
}

/* ---- the gateway's key pair ---- */

int
smz_vault_new_gateway(struct smz_vault *v, const char *path, unsigned char gwpk[SMZ_VAULT_PK],
		      json_t **meta, struct smz_err *e)
{
	unsigned char *key = sodium_malloc(32), *gwsk = sodium_malloc(32);
	char *line = sodium_malloc(256);
	int rc = key && gwsk && line ? 0 : smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	json_t *j = NULL;
	int n = -1;
	if (!rc) {
		randombytes_buf(key, 32);
		crypto_box_keypair(gwpk, gwsk);
		char *b = smz_b64(key, 32), *p = smz_b64(gwpk, 32);
		n = b ? snprintf(line, 256, SMZ_VAULT_GATEWAY_MAGIC " %s %s\n", v->id, b) : -1;
		if (b) {
			sodium_memzero(b, strlen(b));
			free(b);
		}
		j = n > 0 && p ? smz_vault_wrap(gwsk, key) : NULL;
		if (j &&
		    (json_object_set_new(j, "pk", json_string(p)) ||
		     json_object_set_new(j, "created", json_integer((json_int_t)time(NULL))))) {
			json_decref(j);
			j = NULL;
		}
		free(p);
		rc = j ? smz_file_create_excl(path, line, (size_t)n, e)
		       : smz_err_set(e, SMZ_ERR_INTERNAL, "cannot wrap the gateway key");
	}
	if (key)
		sodium_free(key);
	if (gwsk)
		sodium_free(gwsk);
	if (line)
		sodium_free(line);
	if (rc)
		json_decref(j);
	else
		*meta = j;
	return rc;
}
