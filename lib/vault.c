#include "vault.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "share.h"
#include "addr.h"
#include "keys.h"

#include <db.h>
#include <openssl/x509v3.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEPOSIT_FILE "deposit.pub"

struct smz_vault {
	char dir[PATH_MAX];
	DB_ENV *env;
	DB *keys, *addr, *isn, *ski, *meta, *log;
	unsigned char pk[SMZ_VAULT_PK];
	char id[33];
	unsigned char *sk; /* guarded; NULL until unlocked with an officer's credential */
	unsigned char gwpk[SMZ_VAULT_PK]; /* the gateway's key pair, when has_gw */
	int has_gw;
	unsigned char *gwsk; /* guarded; set by a gateway unlock, which never sets sk */
	/* the credential keys the unlock derived (guarded), kept for rotation:
	 * a rotation wraps the new secret for the credentials it keeps */
	unsigned char *kpw, *ksh;
	int lockfd; /* shared flock on DIR/lock while open; a rotation takes it exclusive */
};

/* The vault's audit log, named by the vault id in anchors and syslog. */
static struct smz_audit
vault_audit(struct smz_vault *v)
{
	return (struct smz_audit){v->env, v->log, v->meta, "vault", v->id};
}

/* ---- records and their index keys ---- */

static json_t *
rec_parse(const DBT *d)
{
	return json_loadb(d->data, d->size, JSON_REJECT_DUPLICATES, NULL);
}

enum idx { IDX_ADDR, IDX_ISN, IDX_SKI };

/* The secondary keys a record must have in index which (malloc'd). */
static int
index_keys(json_t *j, enum idx which, char **keys, u_int32_t *lens, size_t cap, size_t *n)
{
	*n = 0;
	if (which == IDX_ADDR) {
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(j, "addresses"), i, a)
		{
			const char *s = json_string_value(a);
			if (!s || *n == cap)
				return EINVAL;
			char key[SMZ_ADDR_MAX];
			smz_addr_key(s, 0, key);
			keys[*n] = strdup(key);
			lens[*n] = (u_int32_t)strlen(key);
			if (!keys[(*n)++])
				return ENOMEM;
		}
		return 0;
	}
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(j, "certs"), i, c)
	{
		const char *h = json_string_value(
			json_object_get(c, which == IDX_ISN ? "isn" : "ski"));
		if (!h)
			continue;
		size_t hl = strlen(h);
		if (*n == cap || hl == 0 || hl % 2 || hl > 128)
			return EINVAL;
		unsigned char *b = malloc(hl / 2);
		size_t bl = 0;
		if (!b || sodium_hex2bin(b, hl / 2, h, hl, NULL, &bl, NULL) != 0) {
			free(b);
			return EINVAL;
		}
		keys[*n] = (char *)b;
		lens[(*n)++] = (u_int32_t)bl;
	}
	return 0;
}

static int
index_cb(enum idx which, const DBT *pdata, DBT *res)
{
	/* Records are stored compact with sorted keys, so a key without
	 * certificates says so literally: skip the parse on every deposit. */
	if (which != IDX_ADDR && memmem(pdata->data, pdata->size, "\"certs\":[]", 10))
		return DB_DONOTINDEX;
	json_t *j = rec_parse(pdata);
	if (!j)
		return DB_DONOTINDEX;
	char *keys[64];
	u_int32_t lens[64];
	size_t n = 0;
	int r = index_keys(j, which, keys, lens, 64, &n);
	json_decref(j);
	if (r) {
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		return r;
	}
	return smz_db_multi_keys(res, keys, lens, n);
}

static int
addr_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	return index_cb(IDX_ADDR, d, res);
}

static int
isn_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	return index_cb(IDX_ISN, d, res);
}

static int
ski_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	return index_cb(IDX_SKI, d, res);
}

/* ---- environment ---- */

static int
env_open(const char *dir, struct smz_vault **out, struct smz_err *e)
{
	struct smz_vault *v = calloc(1, sizeof *v);
	if (!v)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	snprintf(v->dir, sizeof v->dir, "%s", dir);
	v->lockfd = -1;
	int rc = smz_dbenv_open(dir, &v->env, e), r;
	if (rc)
		goto fail;
	if ((rc = smz_db_open(v->env, &v->keys, "keys.db", DB_BTREE, 0, e)) ||
	    (rc = smz_db_open(v->env, &v->addr, "addr.idx", DB_BTREE, 1, e)) ||
	    (rc = smz_db_open(v->env, &v->isn, "isn.idx", DB_BTREE, 1, e)) ||
	    (rc = smz_db_open(v->env, &v->ski, "ski.idx", DB_BTREE, 1, e)) ||
	    (rc = smz_db_open(v->env, &v->meta, "meta.db", DB_BTREE, 0, e)) ||
	    (rc = smz_db_open(v->env, &v->log, "audit.db", DB_RECNO, 0, e)))
		goto fail;
	if ((r = v->keys->associate(v->keys, NULL, v->addr, addr_cb, 0)) ||
	    (r = v->keys->associate(v->keys, NULL, v->isn, isn_cb, 0)) ||
	    (r = v->keys->associate(v->keys, NULL, v->ski, ski_cb, 0))) {
		rc = smz_db_err(e, r, "index");
		goto fail;
	}
	*out = v;
	return 0;
fail:
	smz_vault_close(v);
	return rc;
}

void
smz_vault_close(struct smz_vault *v)
{
	if (!v)
		return;
	DB *dbs[] = {v->addr, v->isn, v->ski, v->keys, v->meta, v->log};
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++)
		if (dbs[i])
			dbs[i]->close(dbs[i], 0);
	smz_dbenv_close(v->env);
	if (v->sk)
		sodium_free(v->sk);
	if (v->gwsk)
		sodium_free(v->gwsk);
	if (v->kpw)
		sodium_free(v->kpw);
	if (v->ksh)
		sodium_free(v->ksh);
	if (v->lockfd > 0)
		close(v->lockfd);
	free(v);
}

static int
meta_get(struct smz_vault *v, DB_TXN *txn, const char *key, char **val, size_t *len)
{
	return smz_db_get_str(v->meta, txn, key, 0, val, len);
}

static int
meta_put(struct smz_vault *v, DB_TXN *txn, const char *key, const void *val, size_t len)
{
	return smz_db_put_str(v->meta, txn, key, val, len);
}

static int
read_deposit_file(const char *dir, unsigned char pk[32], char id[33], struct smz_err *e)
{
	char path[PATH_MAX + 16], *buf = NULL;
	size_t len;
	snprintf(path, sizeof path, "%s/%s", dir, DEPOSIT_FILE);
	int rc = smz_file_read(path, 4096, &buf, &len, e);
	if (rc)
		return rc == SMZ_ERR_NOINPUT
			       ? smz_err_set(e, SMZ_ERR_NOINPUT,
					     "%s: not a vault (no %s; create one with "
					     "smz-vault init)",
					     dir, DEPOSIT_FILE)
			       : rc;
	char b64[128] = "";
	int version = 0;
	if (sscanf(buf, "smz-vault-deposit-key: %d\nvault: %32s\nkey: %100s", &version, id, b64) !=
		    3 ||
	    version != 1 || strlen(id) != 32 ||
	    sodium_base642bin(pk, 32, b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != 32)
		rc = smz_err_set(e, SMZ_ERR_CONFIG, "%s: damaged deposit key file", path);
	free(buf);
	return rc;
}

static void stage_path(const char *dir, char *out, size_t cap);
static void wipe_dir(const char *path);
static void move_subdirs(const char *from, const char *to);
static int vault_lock(const char *dir, int how, int *out, struct smz_err *e);

/* The gateway's public key, from the "gw" meta record, unless revoked. */
static void
gw_load(struct smz_vault *v)
{
	char *s = NULL;
	size_t l = 0;
	v->has_gw = 0;
	if (meta_get(v, NULL, "gw", &s, NULL))
		return;
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	if (j && !json_object_get(j, "revoked") &&
	    !smz_unb64(json_string_value(json_object_get(j, "pk")), v->gwpk, sizeof v->gwpk, &l) &&
	    l == sizeof v->gwpk)
		v->has_gw = 1;
	json_decref(j);
}

const unsigned char *
smz_vault_gateway_pk(const struct smz_vault *v)
{
	return v->has_gw ? v->gwpk : NULL;
}

int
smz_vault_full(const struct smz_vault *v)
{
	return v->sk != NULL;
}

int
smz_vault_open(const char *dir, struct smz_vault **out, struct smz_err *e)
{
	if (!dir || !*dir)
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "no vault given (--vault, $SMZ_VAULT or policy [vault] path)");
	unsigned char pk[32];
	char id[33], stage[PATH_MAX + 16];
	int lockfd = -1;
	int rc = read_deposit_file(dir, pk, id, e);
	if (rc)
		return rc;
	/* shared with every other user; a rotation holds it alone, so a
	 * DIR.rotate seen now is what a killed rotation left: wiped */
	if ((rc = vault_lock(dir, LOCK_SH, &lockfd, e)))
		return rc;
	stage_path(dir, stage, sizeof stage);
	if (access(stage, F_OK) == 0) {
		move_subdirs(stage, dir);
		wipe_dir(stage);
	}
	if ((rc = read_deposit_file(dir, pk, id, e))) {
		close(lockfd);
		return rc;
	}
	struct smz_vault *v;
	if ((rc = env_open(dir, &v, e))) {
		close(lockfd);
		return rc;
	}
	v->lockfd = lockfd;
	char *mid = NULL, *mpk = NULL;
	size_t pklen = 0;
	if (meta_get(v, NULL, "vault_id", &mid, NULL) || meta_get(v, NULL, "pk", &mpk, &pklen) ||
	    strcmp(mid, id) != 0 || pklen != 32 || memcmp(mpk, pk, 32) != 0)
		rc = smz_err_set(e, SMZ_ERR_CONFIG,
				 "%s: deposit.pub does not belong to this vault's database", dir);
	free(mid);
	free(mpk);
	if (rc) {
		smz_vault_close(v);
		return rc;
	}
	memcpy(v->pk, pk, 32);
	memcpy(v->id, id, 33);
	gw_load(v);
	*out = v;
	return 0;
}

const unsigned char *
smz_vault_deposit_key(const struct smz_vault *v)
{
	return v->pk;
}

const char *
smz_vault_id(const struct smz_vault *v)
{
	return v->id;
}

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
static json_t *
wrap(const unsigned char *sk, const unsigned char *key)
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
static json_t *
wrap_passphrase(const unsigned char *sk, const struct smz_secret *pass, enum smz_kdf kdf,
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
	json_t *j = wrap(sk, key);
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
static json_t *
escrow_seal(const unsigned char *pk, const unsigned char *kpw, const unsigned char *ksh)
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
static void
escrow_open(struct smz_vault *v)
{
	char *s = NULL;
	if (!v->sk || meta_get(v, NULL, "esc", &s, NULL))
		return;
	json_t *j = json_loads(s, 0, NULL);
	free(s);
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
static int
make_shares(const char *vault_id, const unsigned char *sk, int n, int m, const char *dir,
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
	json_t *j = wrap(sk, ks);
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
put_json(struct smz_vault *v, DB_TXN *txn, const char *key, json_t *j)
{
	return smz_db_put_json(v->meta, txn, key, j);
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
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "no vault given (--vault, $SMZ_VAULT or policy [vault] path)");
	if (!o->passphrase && !o->shares)
		return smz_err_set(e, SMZ_ERR_USAGE,
				   "the vault secret needs a passphrase (--passphrase-file) or "
				   "shares (--shares N --threshold M --share-out DIR), or both");
	if (o->shares &&
	    (o->threshold < 2 || o->threshold > o->shares || o->shares > 255 || !o->share_out))
		return smz_err_set(e, SMZ_ERR_USAGE,
				   "shares need 2 <= --threshold <= --shares <= 255 and "
				   "--share-out DIR");
	if (mkdir(dir, 0700) < 0 && !(errno == EEXIST && dir_is_empty(dir) == 1)) {
		char dp[PATH_MAX + 16];
		snprintf(dp, sizeof dp, "%s/%s", dir, DEPOSIT_FILE);
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
	if (o->passphrase && !(pw = wrap_passphrase(sk, o->passphrase, o->kdf, kpw))) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL,
				 "cannot derive a key from the passphrase "
				 "(out of memory for Argon2id?)");
		goto out;
	}
	if (o->shares &&
	    (rc = make_shares(id, sk, o->shares, o->threshold, o->share_out, &sh, ksh, e)))
		goto out;
	json_t *esc = escrow_seal(pk, pw ? kpw : NULL, sh ? ksh : NULL);
	if (!esc) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((rc = env_open(dir, &v, e))) {
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
	if (!r && !(r = meta_put(v, txn, "version", "1", 1)) &&
	    !(r = meta_put(v, txn, "vault_id", id, 32)) && !(r = meta_put(v, txn, "pk", pk, 32)) &&
	    !(r = pw ? put_json(v, txn, "pw", pw) : 0) &&
	    !(r = sh ? put_json(v, txn, "sh", sh) : 0) && !(r = put_json(v, txn, "esc", esc))) {
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
	struct smz_audit au = vault_audit(v);
	smz_audit_syslog(&au, &a, &m, 1);
	char *pkb = smz_b64(pk, 32), buf[256], path[PATH_MAX + 16];
	int l = snprintf(buf, sizeof buf, "smz-vault-deposit-key: 1\nvault: %s\nkey: %s\n", id,
			 pkb ? pkb : "");
	free(pkb);
	snprintf(path, sizeof path, "%s/%s", dir, DEPOSIT_FILE);
	rc = smz_file_write_atomic(path, buf, (size_t)l, 0600, e);
out:
	smz_vault_close(v);
	json_decref(pw);
	json_decref(sh);
	if (sk)
		sodium_free(sk);
	if (kpw)
		sodium_free(kpw);
	if (ksh)
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
static int
open_sealed(const char *b64, const unsigned char *pk, const unsigned char *sk,
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
static int
gw_in_scope(json_t *rec, time_t now)
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
smz_vault_unseal(struct smz_vault *v, json_t *rec, EVP_PKEY **key, struct smz_err *e)
{
	if (!v->sk && !v->gwsk)
		return smz_err_set(e, SMZ_ERR_PERM, "the vault is locked");
	const char *idhex = json_string_value(json_object_get(rec, "key_id"));
	/* a gateway unlock opens only the gateway's own seals, of keys in its scope */
	const char *s = json_string_value(json_object_get(rec, v->sk ? "sealed" : "gw_sealed"));
	if (!v->sk && (!s || !gw_in_scope(rec, time(NULL))))
		return smz_err_set(e, SMZ_ERR_PERM,
				   "key %.16s is not in the gateway's scope "
				   "(current and unexpired keys of active mailboxes); it needs the "
				   "officers' passphrase or shares",
				   idhex ? idhex : "?");
	if (!idhex || !s)
		return smz_err_set(e, SMZ_ERR_DATA, "record has no sealed key");
	struct smz_secret msg = {0};
	int rc = v->sk ? open_sealed(s, v->pk, v->sk, &msg, e)
		       : open_sealed(s, v->gwpk, v->gwsk, &msg, e);
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

/* ---- deposits and lookups ---- */

static int has_exact_local(json_t *rec, const char *address);

static int
active_for(struct smz_vault *v, DB_TXN *txn, const char *address, const char *usage, int sensitive,
	   int *active)
{
	char key[SMZ_ADDR_MAX];
	smz_addr_key(address, 0, key);
	DBC *c;
	int r = v->addr->cursor(v->addr, txn, &c, 0);
	if (r)
		return r;
	DBT sk = {.data = key, .size = (u_int32_t)strlen(key)}, pk = {0}, pd = {0};
	*active = 0;
	u_int32_t flag = DB_SET;
	while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
		flag = DB_NEXT_DUP;
		json_t *j = rec_parse(&pd);
		const char *st = j ? json_string_value(json_object_get(j, "state")) : NULL;
		const char *us = j ? json_string_value(json_object_get(j, "usage")) : NULL;
		if (st && strcmp(st, "active") == 0 && us && strcmp(us, usage) == 0 &&
		    (!sensitive || has_exact_local(j, address)))
			*active = 1;
		json_decref(j);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

static int
next_record_number(struct smz_vault *v, DB_TXN *txn, long long *n)
{
	char *s = NULL;
	int r = meta_get(v, txn, "records", &s, NULL);
	*n = r == 0 ? atoll(s) + 1 : 1;
	free(s);
	if (r && r != DB_NOTFOUND)
		return r;
	char buf[32];
	int l = snprintf(buf, sizeof buf, "%lld", *n);
	return meta_put(v, txn, "records", buf, (size_t)l);
}

/* A batch job inside smz_audit_txn: the audit subjects it allocates live
 * in the job, freed when the transaction is over (or retried). */
struct job {
	struct smz_vault *v;
	void *items;
	size_t n;
	int supersede;
	char **subj;
	size_t nsubj;
	int sensitive; /* the policy compares local parts case-sensitively */
};

static void
job_clear(struct job *j)
{
	for (size_t i = 0; i < j->nsubj; i++)
		free(j->subj[i]);
	j->nsubj = 0;
}

static int
job_entry(struct job *j, struct smz_audit_entry *a, size_t *na, const char *op, const char *reason,
	  const char *fmt, const char *x, const char *y)
{
	if (asprintf(&j->subj[j->nsubj], fmt, x, y) < 0)
		return ENOMEM;
	a[(*na)++] = (struct smz_audit_entry){op, j->subj[j->nsubj++], reason};
	return 0;
}

static int
run_job(struct job *j,
	int (*fn)(DB_TXN *, void *, struct smz_audit_entry *, size_t *, struct smz_err *),
	const char *what, struct smz_err *e)
{
	struct smz_audit au = vault_audit(j->v);
	struct smz_audit_entry *a = calloc(j->n + 1, sizeof *a);
	j->subj = calloc(j->n + 1, sizeof *j->subj);
	int rc = a && j->subj ? smz_audit_txn(&au, fn, j, a, j->n, what, e)
			      : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (j->subj)
		job_clear(j);
	free(j->subj);
	free(a);
	return rc;
}

/* The gateway's current public key, read inside txn; 0 if there is none. */
static int
gw_current(struct smz_vault *v, DB_TXN *txn, unsigned char pk[SMZ_VAULT_PK])
{
	char *s = NULL;
	size_t l = 0;
	if (smz_db_get_str(v->meta, txn, "gw", 0, &s, NULL))
		return 0;
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	int ok = j && !json_object_get(j, "revoked") &&
		 !smz_unb64(json_string_value(json_object_get(j, "pk")), pk, SMZ_VAULT_PK, &l) &&
		 l == SMZ_VAULT_PK;
	json_decref(j);
	return ok;
}

static int
deposit_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	struct job *job = arg;
	struct smz_vault *v = job->v;
	struct smz_deposit *d = job->items;
	job_clear(job); /* an earlier attempt's */
	long long t = (long long)time(NULL);
	int r = 0;
	/* seals for the gateway count only if made for its current key */
	unsigned char gwpk[SMZ_VAULT_PK];
	int have_gw = gw_current(v, txn, gwpk);
	for (size_t i = 0; !r && i < job->n; i++) {
		d[i].skipped = 0;
		int active = 0;
		if (d[i].if_absent && d[i].address &&
		    (r = active_for(v, txn, d[i].address, d[i].usage ? d[i].usage : "dual",
				    d[i].local_sensitive, &active)))
			break;
		if (active) {
			d[i].skipped = 1;
			continue;
		}
		long long recno;
		if ((r = next_record_number(v, txn, &recno)))
			break;
		char id[65];
		smz_hex(d[i].key_id, SMZ_KEYID_LEN, id);
		char *sealed = smz_b64(d[i].sealed, d[i].sealed_len);
		char *csr = d[i].csr ? smz_b64(d[i].csr, d[i].csr_len) : NULL;
		json_t *addrs = json_array();
		if (d[i].address)
			json_array_append_new(addrs, json_string(d[i].address));
		json_t *j = sealed ? json_pack("{s:s,s:o,s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:s,s:[]}",
					       "key_id", id, "addresses", addrs, "alg", d[i].alg,
					       "usage", d[i].usage ? d[i].usage : "dual", "source",
					       d[i].source ? d[i].source : "keygen", "n",
					       (json_int_t)recno, "created",
					       (json_int_t)(d[i].created ? d[i].created : t),
					       "state", d[i].state ? d[i].state : "active",
					       "state_changed", (json_int_t)t, "sealed", sealed,
					       "certs")
				   : (json_decref(addrs), NULL);
		if (j && csr)
			json_object_set_new(j, "csr", json_string(csr));
		if (j && d[i].gw_sealed && have_gw && d[i].gw_pk &&
		    memcmp(d[i].gw_pk, gwpk, sizeof gwpk) == 0) {
			char *g = smz_b64(d[i].gw_sealed, d[i].gw_sealed_len);
			if (g)
				json_object_set_new(j, "gw_sealed", json_string(g));
			free(g);
		}
		const char *emp = d[i].employee_id;
		if (j && emp && emp[0] && smz_utf8_valid(emp, strlen(emp)))
			json_object_set_new(j, "employee_id", json_string(emp));
		char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(j);
		free(sealed);
		free(csr);
		if (!s)
			return ENOMEM;
		DBT k = {.data = d[i].key_id, .size = SMZ_KEYID_LEN};
		DBT dd = {.data = s, .size = (u_int32_t)strlen(s)};
		r = v->keys->put(v->keys, txn, &k, &dd, DB_NOOVERWRITE);
		free(s);
		if (r == DB_KEYEXIST) {
			d[i].skipped = 1;
			r = 0;
			continue;
		}
		if (!r)
			r = job_entry(job, a, na, "deposit", d[i].source ? d[i].source : "keygen",
				      "%s %s", d[i].address ? d[i].address : "-", id);
	}
	return r;
}

int
smz_vault_deposit(struct smz_vault *v, struct smz_deposit *d, size_t n, struct smz_err *e)
{
	struct job j = {v, d, n, 0, NULL, 0, 0};
	return run_job(&j, deposit_fn, "deposit", e);
}

/* ---- attaching certificates ---- */

static json_t *
cert_entry(X509 *x)
{
	unsigned char *der = NULL, isn[SMZ_KEYID_LEN], fp[SMZ_KEYID_LEN];
	int l = i2d_X509(x, &der);
	if (l <= 0 || smz_isn_hash(X509_get_issuer_name(x), X509_get0_serialNumber(x), isn))
		return NULL;
	crypto_hash_sha256(fp, der, (size_t)l);
	char isnhex[65], fphex[65], skihex[129] = "", serial[129] = "", issuer[512];
	smz_hex(isn, sizeof isn, isnhex);
	smz_hex(fp, sizeof fp, fphex);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	if (ski && ASN1_STRING_length(ski) <= 64)
		smz_hex(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski), skihex);
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	if (ASN1_STRING_length(sn) <= 64)
		smz_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof issuer);
	struct tm tb, ta;
	ASN1_TIME_to_tm(X509_get0_notBefore(x), &tb);
	ASN1_TIME_to_tm(X509_get0_notAfter(x), &ta);
	char *b = smz_b64(der, (size_t)l);
	OPENSSL_free(der);
	json_t *j = b ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "der", b, "isn", isnhex,
				  "sha256", fphex, "serial", serial, "issuer", issuer, "not_before",
				  (json_int_t)timegm(&tb), "not_after", (json_int_t)timegm(&ta))
		      : NULL;
	if (j && skihex[0])
		json_object_set_new(j, "ski", json_string(skihex));
	free(b);
	return j;
}

#define KEY_CERTS 60

/* May x be filed with rec?  Its mailboxes must be the ones the key was
 * made for: a certificate naming someone else's mailbox for this key (a
 * forged one, or a CA's mistake) must not make it that person's key.  A
 * key without addresses (imported without certificate) takes them. */
static int
check_cert_for(json_t *rec, X509 *x, int may_adopt, int sensitive, char *why, size_t cap)
{
	char mb[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX];
	size_t n;
	struct smz_err me;
	json_t *addrs = json_object_get(rec, "addresses");
	if (smz_cert_mailboxes(x, mb, &n, &me) < 0) {
		snprintf(why, cap, "%.190s", me.msg);
		return -1;
	}
	if (json_array_size(json_object_get(rec, "certs")) >= KEY_CERTS) {
		snprintf(why, cap, "the key already has %d certificates", KEY_CERTS);
		return -1;
	}
	/* the policy's rule: under local_part = sensitive, Alice@ and alice@
	 * are two people, and neither may take the other's key */
	for (size_t i = 0; json_array_size(addrs) && i < n; i++) {
		char k1[SMZ_ADDR_MAX], k2[SMZ_ADDR_MAX];
		int found = 0;
		size_t j;
		json_t *a;
		smz_addr_key(mb[i], sensitive, k1);
		json_array_foreach(addrs, j, a)
		{
			smz_addr_key(json_string_value(a) ? json_string_value(a) : "", sensitive,
				     k2);
			found |= strcmp(k1, k2) == 0;
		}
		if (!found) {
			snprintf(why, cap, "names %.100s, but the key was made for %.60s", mb[i],
				 json_string_value(json_array_get(addrs, 0)));
			return -1;
		}
	}
	if (!json_array_size(addrs)) {
		/* a key deposited without a mailbox (an import) takes the
		 * certificate's only in an unlocked operation: else anyone who
		 * may write the vault could make their key a colleague's */
		if (!may_adopt) {
			snprintf(why, cap,
				 "the key has no mailbox yet; it takes %.100s only when "
				 "attached or imported with the vault unlocked",
				 n ? mb[0] : "one");
			return -1;
		}
		/* one index key per mailbox: the index folds case */
		for (size_t i = 0; i < n; i++) {
			char k1[SMZ_ADDR_MAX], k2[SMZ_ADDR_MAX];
			int dup = 0;
			smz_addr_key(mb[i], 0, k1);
			for (size_t j = 0; j < i; j++) {
				smz_addr_key(mb[j], 0, k2);
				dup |= strcmp(k1, k2) == 0;
			}
			if (!dup)
				json_array_append_new(addrs, json_string(mb[i]));
		}
	}
	return 0;
}

static int
put_record(struct smz_vault *v, DB_TXN *txn, const unsigned char *kid, json_t *rec)
{
	char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return ENOMEM;
	DBT k = {.data = (void *)kid, .size = SMZ_KEYID_LEN};
	DBT d = {.data = s, .size = (u_int32_t)strlen(s)};
	int r = v->keys->put(v->keys, txn, &k, &d, 0);
	free(s);
	return r;
}

/* Is o older than (created, n)?  Imported keys carry their certificate's
 * date, so the record number alone does not say which is newer. */
static int
older_than(json_t *o, json_int_t created, json_int_t n)
{
	json_int_t oc = json_integer_value(json_object_get(o, "created"));
	return oc < created || (oc == created && json_integer_value(json_object_get(o, "n")) < n);
}

/* Mark older active keys of rec's addresses with the same usage
 * superseded; *newer says whether an active key newer than rec exists. */
static int
supersede_older(struct smz_vault *v, DB_TXN *txn, json_t *rec, int *newer)
{
	*newer = 0;
	json_int_t n = json_integer_value(json_object_get(rec, "n"));
	json_int_t created = json_integer_value(json_object_get(rec, "created"));
	const char *usage = json_string_value(json_object_get(rec, "usage"));
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		char key[SMZ_ADDR_MAX];
		smz_addr_key(json_string_value(a), 0, key);
		DBC *c;
		int r = v->addr->cursor(v->addr, txn, &c, 0);
		if (r)
			return r;
		DBT sk = {.data = key, .size = (u_int32_t)strlen(key)}, pk = {0}, pd = {0};
		u_int32_t flag = DB_SET;
		unsigned char(*older)[SMZ_KEYID_LEN] = NULL;
		size_t no = 0;
		while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
			flag = DB_NEXT_DUP;
			json_t *o = rec_parse(&pd);
			const char *st = json_string_value(json_object_get(o, "state"));
			const char *us = json_string_value(json_object_get(o, "usage"));
			if (o && st && strcmp(st, "active") == 0 && us && usage &&
			    strcmp(us, usage) == 0 &&
			    json_array_size(json_object_get(o, "certs")) > 0 &&
			    !older_than(o, created, n) &&
			    json_integer_value(json_object_get(o, "n")) != n)
				*newer = 1;
			if (o && st && strcmp(st, "active") == 0 && us && usage &&
			    strcmp(us, usage) == 0 && older_than(o, created, n) &&
			    pk.size == SMZ_KEYID_LEN) {
				void *m = realloc(older, (no + 1) * sizeof *older);
				if (m) {
					older = m;
					memcpy(older[no++], pk.data, SMZ_KEYID_LEN);
				}
			}
			json_decref(o);
		}
		c->close(c);
		if (r != DB_NOTFOUND) {
			free(older);
			return r;
		}
		r = 0;
		for (size_t k = 0; !r && k < no; k++) {
			DBT kk = {.data = older[k], .size = SMZ_KEYID_LEN},
			    dd = {.flags = DB_DBT_MALLOC};
			if ((r = v->keys->get(v->keys, txn, &kk, &dd, DB_RMW)))
				break;
			json_t *o = rec_parse(&dd);
			free(dd.data);
			if (!o) {
				r = EINVAL;
				break;
			}
			json_object_set_new(o, "state", json_string("superseded"));
			json_object_set_new(o, "state_changed",
					    json_integer((json_int_t)time(NULL)));
			r = put_record(v, txn, older[k], o);
			json_decref(o);
		}
		free(older);
		if (r)
			return r;
	}
	return 0;
}

/* The record of the key a certificate is for, read for update in txn, and
 * the certificate's entry; DB_NOTFOUND when the vault has no such key. */
static int
cert_record(struct smz_vault *v, DB_TXN *txn, X509 *cert, unsigned char kid[SMZ_KEYID_LEN],
	    json_t **rec, json_t **ce)
{
	if (smz_cert_key_id(cert, kid))
		return DB_NOTFOUND;
	DBT k = {.data = kid, .size = SMZ_KEYID_LEN}, d = {.flags = DB_DBT_MALLOC};
	int r = v->keys->get(v->keys, txn, &k, &d, DB_RMW);
	if (r)
		return r;
	*rec = rec_parse(&d);
	free(d.data);
	*ce = *rec ? cert_entry(cert) : NULL;
	if (!*ce) {
		json_decref(*rec);
		return EINVAL;
	}
	return 0;
}

static int
attach_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	struct job *job = arg;
	struct smz_vault *v = job->v;
	struct smz_attach *at = job->items;
	int supersede = job->supersede, r = 0;
	job_clear(job);
	for (size_t i = 0; !r && i < job->n; i++) {
		unsigned char kid[SMZ_KEYID_LEN];
		at[i].result = SMZ_ERR_NOTFOUND;
		at[i].address[0] = 0;
		json_t *rec, *ce;
		r = cert_record(v, txn, at[i].cert, kid, &rec, &ce);
		if (r == DB_NOTFOUND) {
			r = 0;
			continue;
		}
		if (r)
			break;
		const char *fp = json_string_value(json_object_get(ce, "sha256"));
		size_t k2;
		json_t *c;
		int have = 0;
		json_array_foreach(json_object_get(rec, "certs"), k2, c)
			have |= json_string_value(json_object_get(c, "sha256")) &&
				strcmp(json_string_value(json_object_get(c, "sha256")), fp) == 0;
		at[i].result = have ? 1 : 0;
		if (!have && check_cert_for(rec, at[i].cert, v->sk != NULL, job->sensitive,
					    at[i].why, sizeof at[i].why) < 0) {
			at[i].result = SMZ_ERR_DATA;
			have = 1; /* nothing to write */
		}
		const char *first = json_string_value(
			json_array_get(json_object_get(rec, "addresses"), 0));
		snprintf(at[i].address, sizeof at[i].address, "%s", first ? first : "-");
		if (!have) {
			json_array_append(json_object_get(rec, "certs"), ce);
			r = put_record(v, txn, kid, rec);
			int newer = 0;
			if (!r && supersede)
				r = supersede_older(v, txn, rec, &newer);
			/* an older key attached late (an import) yields to the newer */
			if (!r && newer) {
				json_object_set_new(rec, "state", json_string("superseded"));
				r = put_record(v, txn, kid, rec);
			}
			char id[65], what[256];
			smz_hex(kid, sizeof kid, id);
			snprintf(what, sizeof what, "%s %s", at[i].address,
				 json_string_value(json_object_get(ce, "serial")));
			if (!r)
				r = job_entry(job, a, na, "attach", "", "%s %s", what, id);
		}
		json_decref(ce);
		json_decref(rec);
	}
	return r;
}

int
smz_vault_attach(struct smz_vault *v, struct smz_attach *at, size_t n, int supersede,
		 int local_sensitive, struct smz_err *e)
{
	struct job j = {v, at, n, supersede, NULL, 0, local_sensitive};
	return run_job(&j, attach_fn, "attach", e);
}

/* ---- revocations from the CA ---- */

int
smz_vault_cert_revoked(json_t *ce)
{
	return json_object_get(ce, "revoked") != NULL;
}

static int
revoke_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	struct job *job = arg;
	struct smz_vault *v = job->v;
	struct smz_vault_revocation *rv = job->items;
	int r = 0;
	job_clear(job);
	for (size_t i = 0; !r && i < job->n; i++) {
		unsigned char kid[SMZ_KEYID_LEN];
		rv[i].result = SMZ_ERR_NOTFOUND;
		rv[i].state[0] = 0;
		json_t *rec, *ce;
		r = cert_record(v, txn, rv[i].cert, kid, &rec, &ce);
		if (r == DB_NOTFOUND) {
			r = 0;
			continue;
		}
		if (r)
			break;
		const char *fp = json_string_value(json_object_get(ce, "sha256"));
		const char *st = json_string_value(json_object_get(rec, "state"));
		const char *old = st ? st : "active";
		int changed = 0, unrevoked = 0;
		size_t k2;
		json_t *c;
		json_array_foreach(json_object_get(rec, "certs"), k2, c)
		{
			const char *cfp = json_string_value(json_object_get(c, "sha256"));
			if (cfp && strcmp(cfp, fp) == 0 && !smz_vault_cert_revoked(c)) {
				json_object_set_new(c, "revoked",
						    json_pack("{s:s,s:I}", "reason", rv[i].reason,
							      "at",
							      (json_int_t)(rv[i].when
										   ? rv[i].when
										   : time(NULL))));
				changed = 1;
			}
			unrevoked += !smz_vault_cert_revoked(c);
		}
		const char *now = old;
		if (strcmp(rv[i].reason, "keyCompromise") == 0 && strcmp(old, "destroyed") != 0)
			now = "compromised";
		else if (strcmp(old, "active") == 0 && !unrevoked)
			now = "revoked";
		/* a revoked key leaves the gateway's scope, and its seal goes */
		if (strcmp(now, "revoked") == 0 || strcmp(now, "compromised") == 0)
			changed |= json_object_del(rec, "gw_sealed") == 0;
		if (strcmp(now, old) != 0) {
			json_object_set_new(rec, "state", json_string(now));
			json_object_set_new(rec, "state_changed",
					    json_integer((json_int_t)time(NULL)));
			changed = 1;
		}
		snprintf(rv[i].state, sizeof rv[i].state, "%s", now);
		rv[i].result = changed ? 0 : 1;
		if (changed)
			r = put_record(v, txn, kid, rec);
		if (!r && changed) {
			char id[65], what[256];
			smz_hex(kid, sizeof kid, id);
			const char *addr = json_string_value(
				json_array_get(json_object_get(rec, "addresses"), 0));
			snprintf(what, sizeof what, "%s %s", addr ? addr : "-",
				 json_string_value(json_object_get(ce, "serial")));
			r = job_entry(job, a, na, "revoke", rv[i].reason, "%s %s", what, id);
		}
		json_decref(ce);
		json_decref(rec);
	}
	return r;
}

int
smz_vault_revoke(struct smz_vault *v, struct smz_vault_revocation *rv, size_t n, struct smz_err *e)
{
	struct job j = {v, rv, n, 0, NULL, 0, 0};
	return run_job(&j, revoke_fn, "revoke", e);
}

static int
get_by_index(DB *idx, const void *key, size_t klen, json_t **rec)
{
	DBT sk = {.data = (void *)key, .size = (u_int32_t)klen}, pk = {0},
	    pd = {.flags = DB_DBT_MALLOC};
	int r = idx->pget(idx, NULL, &sk, &pk, &pd, 0);
	if (r)
		return r;
	*rec = rec_parse(&pd);
	free(pd.data);
	return *rec ? 0 : EINVAL;
}

int
smz_vault_find_cert(struct smz_vault *v, X509 *cert, json_t **rec, const char **how,
		    struct smz_err *e)
{
	unsigned char isn[SMZ_KEYID_LEN];
	if (smz_isn_hash(X509_get_issuer_name(cert), X509_get0_serialNumber(cert), isn))
		return smz_err_set(e, SMZ_ERR_DATA, "unreadable certificate");
	int r = get_by_index(v->isn, isn, sizeof isn, rec);
	if (!r) {
		*how = "issuer+serial";
		return 0;
	}
	/* an SKI is only a hint (anyone can copy one): the key found must be
	 * this certificate's key; and a key not attached yet is found by id */
	unsigned char kid[SMZ_KEYID_LEN];
	char hex[65];
	if (r == DB_NOTFOUND && smz_cert_key_id(cert, kid) == 0) {
		smz_hex(kid, sizeof kid, hex);
		DBT k = {.data = kid, .size = SMZ_KEYID_LEN}, d = {.flags = DB_DBT_MALLOC};
		if ((r = v->keys->get(v->keys, NULL, &k, &d, 0)) == 0) {
			*rec = rec_parse(&d);
			free(d.data);
			*how = "key id";
			return *rec ? 0 : smz_err_set(e, SMZ_ERR_DATA, "damaged record");
		}
	}
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
	if (r == DB_NOTFOUND && ski &&
	    !(r = get_by_index(v->ski, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski),
			       rec))) {
		const char *id = json_string_value(json_object_get(*rec, "key_id"));
		if (id && strcmp(id, hex) == 0) {
			*how = "subject key identifier";
			return 0;
		}
		json_decref(*rec);
		*rec = NULL;
		r = DB_NOTFOUND;
	}
	return r == DB_NOTFOUND ? smz_err_set(e, SMZ_ERR_NOTFOUND,
					      "no vaulted key for this "
					      "certificate")
				: smz_db_err(e, r, "index");
}

int
smz_vault_find_rid(struct smz_vault *v, const X509_NAME *issuer, const ASN1_INTEGER *serial,
		   const ASN1_OCTET_STRING *ski, json_t **rec, const char **how, struct smz_err *e)
{
	unsigned char isn[SMZ_KEYID_LEN];
	int r = DB_NOTFOUND;
	if (issuer && serial) {
		if (smz_isn_hash(issuer, serial, isn))
			return smz_err_set(e, SMZ_ERR_DATA, "unreadable issuer and serial number");
		r = get_by_index(v->isn, isn, sizeof isn, rec);
		*how = "issuer+serial";
	} else if (ski && ASN1_STRING_length(ski) > 0) {
		r = get_by_index(v->ski, ASN1_STRING_get0_data(ski),
				 (size_t)ASN1_STRING_length(ski), rec);
		*how = "subject key identifier";
	}
	return !r		  ? 0
	       : r == DB_NOTFOUND ? smz_err_set(e, SMZ_ERR_NOTFOUND, "no vaulted key")
				  : smz_db_err(e, r, "index");
}

struct recs {
	json_t **v;
	size_t n, cap;
};

static int
recs_push(struct recs *rs, json_t *j)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		json_t **nv = realloc(rs->v, cap * sizeof *nv);
		if (!nv)
			return -1;
		rs->v = nv;
		rs->cap = cap;
	}
	rs->v[rs->n++] = j;
	return 0;
}

static int
by_number(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "n"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "n"));
	return (x > y) - (x < y);
}

static int
has_exact_local(json_t *rec, const char *address)
{
	size_t i;
	json_t *a;
	const char *at = strrchr(address, '@');
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		const char *s = json_string_value(a), *sat = s ? strrchr(s, '@') : NULL;
		if (sat && at && sat - s == at - address &&
		    strncmp(s, address, (size_t)(at - address)) == 0)
			return 1;
	}
	return 0;
}

/* Readers take no transaction; the lock manager may still pick one as a
 * deadlock victim against a writer, so a read is retried like a write. */
static int
history_once(struct smz_vault *v, const char *key, const char *address, int sensitive,
	     struct recs *rs)
{
	DBC *c;
	int r = v->addr->cursor(v->addr, NULL, &c, 0);
	if (r)
		return r;
	DBT sk = {.data = (void *)key, .size = (u_int32_t)strlen(key)}, pk = {0}, pd = {0};
	u_int32_t flag = DB_SET;
	while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
		flag = DB_NEXT_DUP;
		json_t *j = rec_parse(&pd);
		if (!j)
			continue;
		if ((sensitive && !has_exact_local(j, address)) || recs_push(rs, j) < 0)
			json_decref(j);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

int
smz_vault_history(struct smz_vault *v, const char *address, int sensitive,
		  int (*cb)(void *, json_t *), void *arg, struct smz_err *e)
{
	char key[SMZ_ADDR_MAX];
	smz_addr_key(address, 0, key);
	struct recs rs = {0};
	int r, rc = 0;
	for (int attempt = 0;; attempt++) {
		r = history_once(v, key, address, sensitive, &rs);
		if (!r || !smz_db_retry(r, attempt))
			break;
		for (size_t i = 0; i < rs.n; i++)
			json_decref(rs.v[i]);
		rs.n = 0;
	}
	if (r)
		rc = smz_db_err(e, r, "address index");
	if (rs.n)
		qsort(rs.v, rs.n, sizeof *rs.v, by_number);
	for (size_t i = 0; i < rs.n; i++) {
		if (!rc && cb(arg, rs.v[i]) < 0)
			rc = SMZ_ERR_IO;
		json_decref(rs.v[i]);
	}
	free(rs.v);
	return rc;
}

int
smz_vault_foreach(struct smz_vault *v, int (*cb)(void *, json_t *), void *arg, struct smz_err *e)
{
	return smz_db_foreach_json(v->keys, cb, arg, "keys.db", e);
}

struct find {
	const char *prefix;
	json_t *found;
	int count;
};

static int
find_cb(void *arg, json_t *rec)
{
	struct find *f = arg;
	const char *id = json_string_value(json_object_get(rec, "key_id"));
	if (id && strncmp(id, f->prefix, strlen(f->prefix)) == 0) {
		if (!f->count++)
			f->found = json_incref(rec);
	}
	return 0;
}

int
smz_vault_get(struct smz_vault *v, const char *keyid, json_t **rec, struct smz_err *e)
{
	size_t l = strlen(keyid);
	if (l < 8 || l > 64 || strspn(keyid, "0123456789abcdef") != l)
		return smz_err_set(e, SMZ_ERR_USAGE, "%s: a key id is 8 to 64 lowercase hex digits",
				   keyid);
	struct find f = {keyid, NULL, 0};
	int rc = smz_vault_foreach(v, find_cb, &f, e);
	if (!rc && f.count == 0)
		rc = smz_err_set(e, SMZ_ERR_NOTFOUND, "%s: no such key in the vault", keyid);
	else if (!rc && f.count > 1)
		rc = smz_err_set(e, SMZ_ERR_USAGE, "%s: matches %d keys; give more digits", keyid,
				 f.count);
	if (rc)
		json_decref(f.found);
	else
		*rec = f.found;
	return rc;
}

/* ---- unlocking ---- */

/* One transaction: optionally a meta record, and one audit entry. */
struct meta_write {
	struct smz_vault *v;
	const char *key;
	json_t *j;
	struct smz_audit_entry entry;
};

static int
meta_write_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	struct meta_write *m = arg;
	int r = m->key ? put_json(m->v, txn, m->key, m->j) : 0;
	if (!r) {
		a[0] = m->entry;
		*na = 1;
	}
	return r;
}

static int
audited_write(struct smz_vault *v, const char *key, json_t *j, const char *op, const char *subject,
	      const char *reason, struct smz_err *e)
{
	struct smz_audit au = vault_audit(v);
	struct meta_write m = {v, key, j, {op, subject, reason}};
	struct smz_audit_entry a[1];
	return smz_audit_txn(&au, meta_write_fn, &m, a, 1, key ? key : "audit", e);
}

static int
audit_one(struct smz_vault *v, const char *op, const char *subject, const char *reason,
	  struct smz_err *e)
{
	return audited_write(v, NULL, NULL, op, subject, reason, e);
}

struct batch {
	const struct smz_audit_entry *a;
	size_t n;
};

static int
batch_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)txn, (void)e;
	struct batch *b = arg;
	memcpy(a, b->a, b->n * sizeof *a);
	*na = b->n;
	return 0;
}

int
smz_vault_audit_batch(struct smz_vault *v, const struct smz_audit_entry *a, size_t n,
		      struct smz_err *e)
{
	struct smz_audit au = vault_audit(v);
	struct batch b = {a, n};
	struct smz_audit_entry *buf = calloc(n ? n : 1, sizeof *buf);
	int rc = buf ? smz_audit_txn(&au, batch_fn, &b, buf, n, "audit", e)
		     : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	free(buf);
	return rc;
}

int
smz_vault_audit(struct smz_vault *v, const char *op, const char *subject, const char *reason,
		struct smz_err *e)
{
	return audit_one(v, op, subject, reason, e);
}

/* Remember a credential key (guarded) for a later rotation. */
static void
keep_key(unsigned char **slot, const unsigned char *key)
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
	if (meta_get(v, NULL, "pw", &s, NULL))
		return smz_err_set(e, SMZ_ERR_PERM,
				   "this vault has no passphrase; unlock it with --share");
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
		keep_key(&v->kpw, key);
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
	if (meta_get(v, NULL, "sh", &s, NULL))
		return smz_err_set(e, SMZ_ERR_PERM,
				   "this vault has no recovery shares; use --passphrase-file");
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
		keep_key(&v->ksh, ks);
	if (sh)
		sodium_free(sh);
	if (ks)
		sodium_free(ks);
	json_decref(j);
	return rc;
}

#define GATEWAY_MAGIC "smz-gateway-key-v1"

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
	else if (sscanf(text, GATEWAY_MAGIC " %127s %127s", id, b64) != 2 ||
		 smz_unb64(b64, key, 32, &kl) || kl != 32)
		rc = smz_err_set(e, SMZ_ERR_PERM, "%s: not a gateway key file", file);
	else if (strcmp(id, v->id) != 0)
		rc = smz_err_set(e, SMZ_ERR_PERM, "%s: the gateway key of another vault (%s)", file,
				 id);
	sodium_memzero(text, len);
	sodium_memzero(b64, sizeof b64);
	free(text);
	if (!rc && meta_get(v, NULL, "gw", &s, NULL))
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
		return smz_err_set(e, SMZ_ERR_USAGE, "give --passphrase-file or --share, not both");
	if (!u->passphrase_file && !has_shares && !u->gateway_file)
		return smz_err_set(e, SMZ_ERR_USAGE,
				   "the vault must be unlocked: --passphrase-file FILE or "
				   "--share FILE (M times)");
	int gateway = !u->passphrase_file && !has_shares;
	if (gateway && !u->scoped_ok)
		return smz_err_set(
			e, SMZ_ERR_PERM,
			"the gateway unlock file (policy [gateway] unlock_file) opens only "
			"the keys a gateway needs; this needs the passphrase "
			"(--passphrase-file) or the officers' shares (--share)");
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
	if ((rc = audit_one(v, "unlock", how, why, e))) {
		sodium_free(sk);
		return rc;
	}
	unsigned char **slot = gateway ? &v->gwsk : &v->sk;
	if (*slot)
		sodium_free(*slot);
	*slot = sk;
	return 0;
}

/* ---- rotation: passwd, reshare and gateway keys revoke what the old
 * credential opened ----
 *
 * Berkeley DB keeps old bytes in its log files, in freed pages and in its
 * region files, so rewriting a wrap in place revokes nothing.  A rotation
 * builds the whole vault anew in DIR.rotate, with fresh files: a new vault
 * key pair (passwd, reshare), every key sealed again, the credentials it
 * keeps wrapped for the new secret, the gateway's seals kept, dropped or
 * made for a new gateway pair; then it exchanges the two directories in
 * one atomic rename (renameat2 RENAME_EXCHANGE) and overwrites and removes
 * the old files.  A kill at any point leaves either the old vault or the
 * new one, each complete; what is left in DIR.rotate is wiped by the next
 * program that opens the vault.  Nobody else may have the vault open:
 * every open holds a shared flock on DIR/lock, a rotation an exclusive one. */

enum gw_change { GW_KEEP, GW_REMOVE, GW_NEW };

struct rotation {
	int rekey;		       /* a new vault key pair */
	const struct smz_secret *pass; /* passwd: the new passphrase */
	enum smz_kdf kdf;
	int shares, threshold; /* reshare: the new share set */
	const char *share_out;
	enum gw_change gw;
	const char *gw_path;		   /* GW_NEW: the new unlock file */
	const char *op, *subject, *reason; /* its audit entry */
};

static void
stage_path(const char *dir, char *out, size_t cap)
{
	size_t l = strlen(dir);
	while (l > 1 && dir[l - 1] == '/')
		l--;
	snprintf(out, cap, "%.*s.rotate", (int)l, dir);
}

/* Subdirectories of the vault directory that are not the vault's own
 * (the key pool, vault/pool) move from one directory to the other where
 * the other has none of that name: a rotation carries them over, and the
 * cleanup of a killed rotation's leftovers rescues them first. */
static void
move_subdirs(const char *from, const char *to)
{
	DIR *d = opendir(from);
	int tfd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	struct stat st;
	while (d && tfd >= 0 && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode) && fstatat(tfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			renameat(dirfd(d), de->d_name, tfd, de->d_name);
	if (d)
		closedir(d);
	if (tfd >= 0)
		close(tfd);
}

/* Overwrite every file of a directory (and of its subdirectories) with
 * zeros, remove them and it. */
static void
wipe_dir_at(int parent, const char *name, int depth)
{
	int dfd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	static const char zero[65536];
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat ds;
		if (depth < 8 && fstatat(dirfd(d), de->d_name, &ds, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(ds.st_mode)) {
			wipe_dir_at(dirfd(d), de->d_name, depth + 1);
			continue;
		}
		int fd = openat(dirfd(d), de->d_name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			for (off_t o = 0; o < st.st_size;) {
				size_t n = (size_t)(st.st_size - o) < sizeof zero
						   ? (size_t)(st.st_size - o)
						   : sizeof zero;
				ssize_t w = pwrite(fd, zero, n, o);
				if (w <= 0)
					break;
				o += w;
			}
			fsync(fd);
		}
		if (fd >= 0)
			close(fd);
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

static void
wipe_dir(const char *path)
{
	wipe_dir_at(AT_FDCWD, path, 0);
}

/* A shared (LOCK_SH) or exclusive lock on DIR/lock, on the lock file that
 * is there once the lock is held (a rotation may have replaced it). */
static int
vault_lock(const char *dir, int how, int *out, struct smz_err *e)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/lock", dir);
	for (int tries = 0; tries < 100; tries++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0 && errno == EACCES)
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return smz_err_set(e, errno == ENOENT ? SMZ_ERR_NOINPUT : SMZ_ERR_PERM,
					   "%s: %s", path, strerror(errno));
		if (flock(fd, how) != 0) {
			int er = errno;
			close(fd);
			return er == EWOULDBLOCK
				       ? smz_err_set(e, SMZ_ERR_TEMP,
						     "%s: the vault is in use; try "
						     "again",
						     dir)
				       : smz_err_set(e, SMZ_ERR_IO, "%s: %s", path, strerror(er));
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			*out = fd;
			return 0;
		}
		close(fd);
	}
	return smz_err_set(e, SMZ_ERR_TEMP, "%s: the vault keeps being replaced; try again", dir);
}

/* The wrap of sk under a credential key, with the old record's other
 * members (salt and cost, or share set). */
static json_t *
rewrap(json_t *old, const unsigned char *sk, const unsigned char *key)
{
	json_t *j = old ? wrap(sk, key) : NULL;
	const char *k;
	json_t *val;
	if (j)
		json_object_foreach(old, k,
				    val) if (strcmp(k, "nonce") != 0 && strcmp(k, "ct") != 0)
			json_object_set(j, k, val);
	return j;
}

static json_t *
meta_json(struct smz_vault *v, const char *key)
{
	char *s = NULL;
	if (meta_get(v, NULL, key, &s, NULL))
		return NULL;
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	return j;
}

struct copy {
	struct smz_vault *from, *to;
	const unsigned char *npk, *gwpk; /* new vault key (rekey), new gateway key (GW_NEW) */
	int rekey;
	enum gw_change gw;
	const char *const *skip; /* meta keys the rotation writes anew */
};

/* Copy one database in chunks of transactions; each record through fn. */
static int
copy_db(struct copy *c, DB *src, DB *dst,
	int (*fn)(struct copy *c, DBT *k, DBT *d, DBT *out, int *skip, struct smz_err *e),
	struct smz_err *e)
{
	DBC *cur;
	int r = src->cursor(src, NULL, &cur, 0);
	if (r)
		return smz_db_err(e, r, "rotation");
	DBT k = {.flags = DB_DBT_REALLOC}, d = {.flags = DB_DBT_REALLOC};
	DB_TXN *txn = NULL;
	size_t n = 0;
	int rc = 0;
	while (!rc && (r = cur->get(cur, &k, &d, DB_NEXT)) == 0) {
		DBT out = {0};
		int skip = 0;
		if (fn && (rc = fn(c, &k, &d, &out, &skip, e)))
			break;
		if (skip)
			continue;
		if (!txn && (r = c->to->env->txn_begin(c->to->env, NULL, &txn, 0)))
			break;
		r = dst->put(dst, txn, &k, out.data ? &out : &d, 0);
		free(out.data);
		if (r)
			break;
		if (++n % 512 == 0) {
			r = txn->commit(txn, 0);
			txn = NULL;
			if (r)
				break;
		}
	}
	if (txn)
		r = r && r != DB_NOTFOUND ? (txn->abort(txn), r) : txn->commit(txn, 0);
	cur->close(cur);
	free(k.data);
	if (d.data) {
		sodium_memzero(d.data, d.size);
		free(d.data);
	}
	if (!rc && r && r != DB_NOTFOUND)
		rc = smz_db_err(e, r, "rotation");
	return rc;
}

static int
meta_fn(struct copy *c, DBT *k, DBT *d, DBT *out, int *skip, struct smz_err *e)
{
	(void)d, (void)out, (void)e;
	for (const char *const *s = c->skip; *s; s++)
		if (k->size == strlen(*s) && memcmp(k->data, *s, k->size) == 0)
			*skip = 1;
	return 0;
}

/* A key record: sealed again to the new vault key, its gateway seal kept,
 * dropped or made for the new gateway key. */
static int
key_fn(struct copy *c, DBT *k, DBT *d, DBT *out, int *skip, struct smz_err *e)
{
	(void)k, (void)skip;
	json_t *rec = rec_parse(d);
	if (!rec)
		return smz_err_set(e, SMZ_ERR_DATA, "a damaged key record");
	const char *id = json_string_value(json_object_get(rec, "key_id"));
	const char *sealed = json_string_value(json_object_get(rec, "sealed"));
	/* a new gateway pair, or a new vault pair (every seal made anew, the
	 * gateway's too, and those out of its scope dropped) */
	int want_gw = (c->gw == GW_NEW || (c->gw == GW_KEEP && c->rekey && c->gwpk)) &&
		      gw_in_scope(rec, time(NULL));
	struct smz_secret msg = {0};
	int rc = 0;
	if ((c->rekey || want_gw) &&
	    (!sealed || open_sealed(sealed, c->from->pk, c->from->sk, &msg, e)))
		rc = smz_err_set(e, SMZ_ERR_DATA, "key %.16s: %s", id ? id : "?",
				 sealed ? "its sealed key does not open" : "no sealed key");
	const unsigned char *to[2] = {c->rekey ? c->npk : NULL, want_gw ? c->gwpk : NULL};
	const char *field[2] = {"sealed", "gw_sealed"};
	if (!rc && (c->gw != GW_KEEP || c->rekey))
		json_object_del(rec, "gw_sealed");
	for (int i = 0; !rc && i < 2; i++) {
		if (!to[i])
			continue;
		size_t ol = msg.len + crypto_box_SEALBYTES;
		unsigned char *ob = malloc(ol);
		char *b = ob && crypto_box_seal(ob, msg.buf, msg.len, to[i]) == 0 ? smz_b64(ob, ol)
										  : NULL;
		if (!b || json_object_set_new(rec, field[i], json_string(b)))
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot seal key %.16s",
					 id ? id : "?");
		free(b);
		free(ob);
	}
	smz_secret_free(&msg);
	char *js = rc ? NULL : json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(rec);
	if (!rc && !js)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (!rc) {
		out->data = js;
		out->size = (u_int32_t)strlen(js);
	}
	return rc;
}

/* The last transaction of the new vault: its credentials and the entry. */
struct final {
	struct smz_vault *v;
	const unsigned char *pk; /* the new public key, or NULL */
	json_t *put[4];
	const char *key[4];
	struct smz_audit_entry entry;
};

static int
final_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	struct final *f = arg;
	if (f->pk) { /* raw, as init writes it */
		int r = meta_put(f->v, txn, "pk", f->pk, 32);
		if (r)
			return r;
	}
	for (int i = 0; i < 4; i++)
		if (f->key[i]) {
			int r = put_json(f->v, txn, f->key[i], f->put[i]);
			if (r)
				return r;
		}
	a[0] = f->entry;
	*na = 1;
	return 0;
}

/* The new gateway pair, its unlock file written (O_EXCL) and its record. */
static int
new_gateway(struct smz_vault *v, const char *path, unsigned char gwpk[32], json_t **meta,
	    struct smz_err *e)
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
		n = b ? snprintf(line, 256, GATEWAY_MAGIC " %s %s\n", v->id, b) : -1;
		if (b) {
			sodium_memzero(b, strlen(b));
			free(b);
		}
		j = n > 0 && p ? wrap(gwsk, key) : NULL;
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

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return r;
}

static void
close_handles(struct smz_vault *v)
{
	DB *dbs[] = {v->addr, v->isn, v->ski, v->keys, v->meta, v->log};
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++)
		if (dbs[i])
			dbs[i]->close(dbs[i], 0);
	v->addr = v->isn = v->ski = v->keys = v->meta = v->log = NULL;
	smz_dbenv_close(v->env);
	v->env = NULL;
}

/* The new vault's files belong to whoever owns the old directory (root
 * rotating the vault of a service user must not lock the service out). */
static void
same_owner(const char *old, const char *dir)
{
	struct stat st;
	if (geteuid() != 0 || stat(old, &st) != 0)
		return;
	DIR *d = opendir(dir);
	for (struct dirent *de; d && (de = readdir(d));)
		if (strcmp(de->d_name, "..") != 0 &&
		    fchownat(dirfd(d), de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
			break; /* not ours to give away: leave them as they are */
	if (d)
		closedir(d);
}

static int
rotate(struct smz_vault *v, const struct rotation *ro, struct smz_err *e)
{
	if ((ro->rekey || ro->gw == GW_NEW) && !v->sk)
		return smz_err_set(e, SMZ_ERR_PERM,
				   "this needs the vault unlocked with the "
				   "passphrase or the officers' shares");
	if (flock(v->lockfd, LOCK_EX | LOCK_NB) != 0) {
		/* a failed conversion may have dropped the shared lock: take it again */
		flock(v->lockfd, LOCK_SH);
		return smz_err_set(e, SMZ_ERR_TEMP,
				   "the vault is in use by another program; try "
				   "again when it is idle");
	}
	char stage[PATH_MAX + 16], parent[PATH_MAX + 16], path[PATH_MAX + 32];
	stage_path(v->dir, stage, sizeof stage);
	snprintf(parent, sizeof parent, "%s", stage);
	char *slash = strrchr(parent, '/');
	if (slash)
		slash == parent ? (void)(slash[1] = 0) : (void)(*slash = 0);
	else
		snprintf(parent, sizeof parent, ".");
	escrow_open(v);
	json_t *oldpw = meta_json(v, "pw"), *oldsh = meta_json(v, "sh");
	unsigned char npk[32], gwpk[32];
	unsigned char *nsk = ro->rekey ? sodium_malloc(32) : NULL;
	unsigned char *kpw = sodium_malloc(32), *ksh = sodium_malloc(32);
	json_t *pw = NULL, *sh = NULL, *esc = NULL, *gw = NULL;
	struct smz_vault *nv = NULL;
	int newlock = -1, have_pw = 0, have_sh = 0, rc = 0;
	if ((ro->rekey && !nsk) || !kpw || !ksh) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
		goto fail;
	}
	if (ro->rekey) {
		crypto_box_keypair(npk, nsk);
		if (ro->pass) {
			if (!(pw = wrap_passphrase(nsk, ro->pass, ro->kdf, kpw))) {
				rc = smz_err_set(e, SMZ_ERR_INTERNAL,
						 "cannot derive a key from the "
						 "passphrase");
				goto fail;
			}
		} else if (oldpw) {
			if (!v->kpw) {
				rc = smz_err_set(
					e, SMZ_ERR_PERM,
					"this vault keeps no key for its "
					"passphrase (made before this version): unlock with "
					"--passphrase-file this once");
				goto fail;
			}
			memcpy(kpw, v->kpw, 32);
			pw = rewrap(oldpw, nsk, kpw);
		}
		if (ro->shares) {
			if ((rc = make_shares(v->id, nsk, ro->shares, ro->threshold, ro->share_out,
					      &sh, ksh, e)))
				goto fail;
		} else if (oldsh) {
			if (!v->ksh) {
				rc = smz_err_set(e, SMZ_ERR_PERM,
						 "this vault keeps no key for its "
						 "shares (made before this version): unlock with "
						 "--share this once");
				goto fail;
			}
			memcpy(ksh, v->ksh, 32);
			sh = rewrap(oldsh, nsk, ksh);
		}
		have_pw = pw != NULL, have_sh = sh != NULL;
		esc = escrow_seal(npk, have_pw ? kpw : NULL, have_sh ? ksh : NULL);
		if ((ro->pass || oldpw) && !pw)
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot wrap the passphrase");
		if (!rc && (ro->shares || oldsh) && !sh)
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot wrap the shares");
		if (!rc && !esc)
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		if (rc)
			goto fail;
	} else {
		memcpy(npk, v->pk, 32);
	}
	if (ro->gw == GW_NEW && (rc = new_gateway(v, ro->gw_path, gwpk, &gw, e)))
		goto fail;
	if (ro->gw == GW_REMOVE)
		gw = json_pack("{s:b}", "revoked", 1);
	/* the new vault, beside the old one */
	wipe_dir(stage);
	if (mkdir(stage, 0700) != 0) {
		rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", stage, strerror(errno));
		goto fail;
	}
	if ((rc = env_open(stage, &nv, e)))
		goto fail;
	memcpy(nv->id, v->id, sizeof nv->id); /* the same vault, for its audit lines */
	static const char *const skip_rekey[] = {"pk", "pw", "sh", "esc", "gw", NULL};
	static const char *const skip_gw[] = {"gw", NULL};
	static const char *const skip_none[] = {NULL};
	if (ro->gw == GW_KEEP)
		memcpy(gwpk, v->gwpk, 32);
	struct copy c = {v,
			 nv,
			 npk,
			 ro->gw == GW_NEW || v->has_gw ? gwpk : NULL,
			 ro->rekey,
			 ro->gw,
			 ro->rekey	     ? skip_rekey
			 : ro->gw != GW_KEEP ? skip_gw
					     : skip_none};
	if (ro->rekey && ro->gw == GW_KEEP)
		gw = meta_json(v, "gw"); /* copied by the last transaction, not the meta copy */
	if ((rc = copy_db(&c, v->meta, nv->meta, meta_fn, e)) ||
	    (rc = copy_db(&c, v->log, nv->log, NULL, e)) ||
	    (rc = copy_db(&c, v->keys, nv->keys, key_fn, e)))
		goto fail;
	char subj[96];
	if (ro->shares) /* the new set's name, as the share files say it */
		snprintf(subj, sizeof subj, "set %s, %d of %d",
			 json_string_value(json_object_get(sh, "set")), ro->threshold, ro->shares);
	struct final f = {nv,
			  ro->rekey ? npk : NULL,
			  {pw, sh, esc, gw},
			  {pw ? "pw" : NULL, sh ? "sh" : NULL, esc ? "esc" : NULL,
			   gw ? "gw" : NULL},
			  {ro->op, ro->shares ? subj : ro->subject, ro->reason}};
	struct smz_audit au = vault_audit(nv);
	struct smz_audit_entry a[1];
	if ((rc = smz_audit_txn(&au, final_fn, &f, a, 1, "rotation", e)))
		goto fail;
	smz_vault_close(nv);
	nv = NULL;
	/* only the databases and logs travel: region files are rebuilt */
	DIR *d = opendir(stage);
	for (struct dirent *de; d && (de = readdir(d));)
		if (strncmp(de->d_name, "__db.", 5) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	char *pkb = smz_b64(npk, 32), buf[256];
	int l = snprintf(buf, sizeof buf, "smz-vault-deposit-key: 1\nvault: %s\nkey: %s\n", v->id,
			 pkb ? pkb : "");
	free(pkb);
	snprintf(path, sizeof path, "%s/%s", stage, DEPOSIT_FILE);
	if ((rc = smz_file_write_atomic(path, buf, (size_t)l, 0644, e)) ||
	    (rc = vault_lock(stage, LOCK_EX | LOCK_NB, &newlock, e)))
		goto fail;
	same_owner(v->dir, stage);
	if (fsync_dir(stage) != 0 ||
	    renameat2(AT_FDCWD, stage, AT_FDCWD, v->dir, RENAME_EXCHANGE) != 0) {
		rc = smz_err_set(e, SMZ_ERR_IO, "%s: cannot put the new vault in place: %s", v->dir,
				 strerror(errno));
		goto fail;
	}
	fsync_dir(parent);
	/* the old vault, now at the stage's name, goes */
	close_handles(v);
	close(v->lockfd);
	v->lockfd = newlock;
	newlock = -1;
	move_subdirs(stage, v->dir);
	wipe_dir(stage);
	struct smz_vault *fresh = NULL;
	if ((rc = env_open(v->dir, &fresh, e))) {
		flock(v->lockfd, LOCK_SH);
		goto out;
	}
	same_owner(v->dir, v->dir); /* the region files the reopening made */
	v->env = fresh->env, v->keys = fresh->keys, v->addr = fresh->addr, v->isn = fresh->isn;
	v->ski = fresh->ski, v->meta = fresh->meta, v->log = fresh->log;
	fresh->env = NULL, fresh->keys = fresh->addr = fresh->isn = NULL;
	fresh->ski = fresh->meta = fresh->log = NULL;
	smz_vault_close(fresh);
	flock(v->lockfd, LOCK_SH);
	memcpy(v->pk, npk, 32);
	if (ro->rekey) {
		sodium_free(v->sk);
		v->sk = nsk;
		nsk = NULL;
		if (v->kpw)
			sodium_free(v->kpw), v->kpw = NULL;
		if (v->ksh)
			sodium_free(v->ksh), v->ksh = NULL;
		if (have_pw)
			keep_key(&v->kpw, kpw);
		if (have_sh)
			keep_key(&v->ksh, ksh);
	}
	gw_load(v);
	goto out;
fail:
	if (nv)
		smz_vault_close(nv);
	if (newlock >= 0)
		close(newlock);
	wipe_dir(stage);
	if (ro->gw == GW_NEW && gw)
		unlink(ro->gw_path);
	flock(v->lockfd, LOCK_SH);
out:
	json_decref(oldpw);
	json_decref(oldsh);
	json_decref(pw);
	json_decref(sh);
	json_decref(esc);
	json_decref(gw);
	if (nsk)
		sodium_free(nsk);
	if (kpw)
		sodium_free(kpw);
	if (ksh)
		sodium_free(ksh);
	return rc;
}

int
smz_vault_passwd(struct smz_vault *v, const struct smz_secret *pass, enum smz_kdf kdf,
		 struct smz_err *e)
{
	struct rotation ro = {1,
			      pass,
			      kdf,
			      0,
			      0,
			      NULL,
			      GW_KEEP,
			      NULL,
			      "passwd",
			      "passphrase",
			      "new vault key pair; every key sealed again"};
	return rotate(v, &ro, e);
}

int
smz_vault_reshare(struct smz_vault *v, int shares, int threshold, const char *dir,
		  struct smz_err *e)
{
	if (!dir || threshold < 2 || threshold > shares || shares > 255)
		return smz_err_set(e, SMZ_ERR_USAGE,
				   "shares need 2 <= --threshold <= --shares <= 255 and "
				   "--share-out DIR");
	struct rotation ro = {1,
			      NULL,
			      0,
			      shares,
			      threshold,
			      dir,
			      GW_KEEP,
			      NULL,
			      "reshare",
			      "",
			      "new vault key pair; every key sealed again"};
	return rotate(v, &ro, e);
}

int
smz_vault_gateway_key(struct smz_vault *v, const char *path, struct smz_err *e)
{
	struct rotation ro = {0,
			      NULL,
			      0,
			      0,
			      0,
			      NULL,
			      GW_NEW,
			      path,
			      "gateway-key",
			      path,
			      "new gateway unlock file"};
	return rotate(v, &ro, e);
}

int
smz_vault_gateway_revoke(struct smz_vault *v, struct smz_err *e)
{
	struct rotation ro = {0,    NULL,	   0,	      0, 0, NULL, GW_REMOVE,
			      NULL, "gateway-key", "revoked", ""};
	return rotate(v, &ro, e);
}

/* ---- check ---- */

struct check {
	struct smz_vault *v;
	DB_TXN *txn;
	int (*cb)(void *, const char *, const char *);
	void *arg;
	size_t records, failed, expect[3];
	struct smz_err *e;
};

static int
check_record(struct check *c, const DBT *k, const DBT *d)
{
	char id[65] = "?", why[512] = "";
	if (k->size == SMZ_KEYID_LEN)
		smz_hex(k->data, SMZ_KEYID_LEN, id);
	json_t *j = rec_parse(d);
	const char *kid = j ? json_string_value(json_object_get(j, "key_id")) : NULL;
	const char *st = j ? json_string_value(json_object_get(j, "state")) : NULL;
	if (!j)
		snprintf(why, sizeof why, "record does not parse");
	else if (!kid || strcmp(kid, id) != 0)
		snprintf(why, sizeof why, "record names key %s", kid ? kid : "(none)");
	else if (!json_is_array(json_object_get(j, "addresses")) || !st ||
		 !json_string_value(json_object_get(j, "sealed")))
		snprintf(why, sizeof why, "record lacks addresses, state or sealed key");
	for (int w = 0; !why[0] && w < 3; w++) {
		char *keys[64];
		u_int32_t lens[64];
		size_t n = 0;
		if (index_keys(j, (enum idx)w, keys, lens, 64, &n)) {
			snprintf(why, sizeof why, "bad index field");
			n = 0;
		}
		DB *idx = w == 0 ? c->v->addr : w == 1 ? c->v->isn : c->v->ski;
		for (size_t i = 0; i < n; i++) {
			DBC *cur;
			DBT sk = {.data = keys[i], .size = lens[i]},
			    pk = {.data = k->data, .size = k->size};
			DBT pd = {0};
			if (!why[0] && idx->cursor(idx, c->txn, &cur, 0) == 0) {
				if (cur->pget(cur, &sk, &pk, &pd, DB_GET_BOTH) != 0)
					snprintf(why, sizeof why, "missing from the %s index",
						 w == 0	  ? "address"
						 : w == 1 ? "issuer+serial"
							  : "SKI");
				cur->close(cur);
			}
			free(keys[i]);
		}
		/* duplicates within a record index once */
		char *k2[64];
		u_int32_t l2[64];
		size_t n2 = 0;
		if (!why[0] && index_keys(j, (enum idx)w, k2, l2, 64, &n2) == 0) {
			DBT tmp;
			if (smz_db_multi_keys(&tmp, k2, l2, n2) == 0) {
				c->expect[w] += tmp.flags & DB_DBT_MULTIPLE ? tmp.size : 1;
				if (tmp.flags & DB_DBT_MULTIPLE) {
					for (u_int32_t q = 0; q < tmp.size; q++)
						free(((DBT *)tmp.data)[q].data);
				}
				free(tmp.data);
			}
		}
	}
	if (!why[0] && c->v->sk) {
		EVP_PKEY *pk = NULL;
		struct smz_err ue = {0};
		if (smz_vault_unseal(c->v, j, &pk, &ue) < 0)
			snprintf(why, sizeof why, "%.400s", ue.msg);
		EVP_PKEY_free(pk);
	}
	json_decref(j);
	c->records++;
	if (why[0])
		c->failed++;
	return c->cb(c->arg, id, why[0] ? why : NULL);
}

static int
count_index(DB *idx, DB_TXN *txn, size_t *n, int *orphans)
{
	DBC *cur;
	int r = idx->cursor(idx, txn, &cur, 0);
	if (r)
		return r;
	DBT sk = {0}, pk = {0}, pd = {0};
	*n = 0;
	while ((r = cur->pget(cur, &sk, &pk, &pd, DB_NEXT)) == 0)
		(*n)++;
	if (r == DB_SECONDARY_BAD) {
		*orphans = 1;
		r = DB_NOTFOUND;
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* One read transaction, which first takes the audit head as every writer
 * does: records and indexes are seen as of one moment, never mid-batch. */
int
smz_vault_check(struct smz_vault *v, int (*cb)(void *, const char *, const char *), void *arg,
		size_t *records, size_t *failed, struct smz_err *e)
{
	struct check c = {.v = v, .cb = cb, .arg = arg, .e = e};
	DBC *cur = NULL;
	char *head = NULL;
	int r = v->env->txn_begin(v->env, NULL, &c.txn, 0), rc = 0;
	if (!r && (r = smz_db_get_str(v->meta, c.txn, "audit_head", 0, &head, NULL)) == DB_NOTFOUND)
		r = 0;
	free(head);
	if (!r)
		r = v->keys->cursor(v->keys, c.txn, &cur, 0);
	if (r) {
		if (c.txn)
			c.txn->abort(c.txn);
		return smz_db_err(e, r, "keys");
	}
	DBT k = {0}, d = {0};
	while (!rc && (r = cur->get(cur, &k, &d, DB_NEXT)) == 0)
		if (check_record(&c, &k, &d) < 0)
			rc = SMZ_ERR_IO;
	cur->close(cur);
	if (!rc && r != DB_NOTFOUND)
		rc = smz_db_err(e, r, "keys");
	static const char *names[] = {"address index", "issuer+serial index", "SKI index"};
	DB *idx[] = {v->addr, v->isn, v->ski};
	for (int w = 0; !rc && w < 3; w++) {
		size_t n = 0;
		int orphans = 0;
		if ((r = count_index(idx[w], c.txn, &n, &orphans))) {
			rc = smz_db_err(e, r, names[w]);
			break;
		}
		if (orphans || n != c.expect[w]) {
			char why[160];
			snprintf(why, sizeof why, "%zu entries for %zu expected%s", n, c.expect[w],
				 orphans ? ", some pointing at no record" : "");
			c.failed++;
			if (cb(arg, names[w], why) < 0)
				rc = SMZ_ERR_IO;
		}
	}
	c.txn->commit(c.txn, 0);
	*records = c.records;
	*failed = c.failed;
	return rc;
}

void
smz_vault_audit_log(struct smz_vault *v, struct smz_audit *au)
{
	*au = vault_audit(v);
}
