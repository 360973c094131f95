/*
 * vaultrotate: passwd, reshare and gateway keys revoke what the old
 * credential opened.
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
 * every open holds a shared flock on DIR/lock, a rotation an exclusive one.
 */
#include "vault-int.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

void
smz_vault_stage_path(const char *dir, char *out, size_t cap)
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
void
smz_vault_move_subdirs(const char *from, const char *to)
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

void
smz_vault_wipe_dir(const char *path)
{
	wipe_dir_at(AT_FDCWD, path, 0);
}

/* A shared (LOCK_SH) or exclusive lock on DIR/lock, on the lock file that
 * is there once the lock is held (a rotation may have replaced it). */
int
smz_vault_lock(const char *dir, int how, int *out, struct smz_err *e)
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
	json_t *j = old ? smz_vault_wrap(sk, key) : NULL;
	const char *k;
	json_t *val;
	if (j)
		json_object_foreach(old, k,
				    val) if (strcmp(k, "nonce") != 0 && strcmp(k, "ct") != 0)
			json_object_set(j, k, val);
	return j;
}

/* A credential kept through a rekey (the one not given anew): its record
 * rewrapped under the new secret key with the credential key the vault
 * keeps for it (kept; a vault made before this version keeps none). */
static int
keep_credential(json_t *old, const unsigned char *kept, const unsigned char *nsk,
		unsigned char *key, enum smz_need need, const char *what, json_t **out,
		struct smz_err *e)
{
	if (!kept)
		return smz_err_need(e, SMZ_ERR_PERM, need,
				    "this vault keeps no key for its %s (made before this "
				    "version): unlock it with the %s this once",
				    what, what);
	memcpy(key, kept, 32);
	*out = rewrap(old, nsk, key);
	return 0;
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
	json_t *rec = smz_vault_rec_parse(d);
	if (!rec)
		return smz_err_set(e, SMZ_ERR_DATA, "a damaged key record");
	const char *id = json_string_value(json_object_get(rec, "key_id"));
	const char *sealed = json_string_value(json_object_get(rec, "sealed"));
	/* a new gateway pair, or a new vault pair (every seal made anew, the
	 * gateway's too, and those out of its scope dropped) */
	int want_gw = (c->gw == GW_NEW || (c->gw == GW_KEEP && c->rekey && c->gwpk)) &&
		      smz_vault_gw_in_scope(rec, time(NULL));
	struct smz_secret msg = {0};
	int rc = 0;
	if ((c->rekey || want_gw) &&
	    (!sealed || smz_vault_open_sealed(sealed, c->from->pk, c->from->sk, &msg, e)))
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
		int r = smz_vault_meta_put(f->v, txn, "pk", f->pk, 32);
		if (r)
			return r;
	}
	for (int i = 0; i < 4; i++)
		if (f->key[i]) {
			int r = smz_vault_meta_put_json(f->v, txn, f->key[i], f->put[i]);
			if (r)
				return r;
		}
	a[0] = f->entry;
	*na = 1;
	return 0;
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
	char stage[PATH_MAX + 16], parent[PATH_MAX + 16];
	smz_vault_stage_path(v->dir, stage, sizeof stage);
	snprintf(parent, sizeof parent, "%s", stage);
	char *slash = strrchr(parent, '/');
	if (slash)
		slash == parent ? (void)(slash[1] = 0) : (void)(*slash = 0);
	else
		snprintf(parent, sizeof parent, ".");
	smz_vault_escrow_open(v);
	json_t *oldpw = smz_vault_meta_json(v, "pw"), *oldsh = smz_vault_meta_json(v, "sh");
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
			if (!(pw = smz_vault_wrap_passphrase(nsk, ro->pass, ro->kdf, kpw))) {
				rc = smz_err_set(e, SMZ_ERR_INTERNAL,
						 "cannot derive a key from the "
						 "passphrase");
				goto fail;
			}
		} else if (oldpw &&
			   (rc = keep_credential(oldpw, v->kpw, nsk, kpw, SMZ_NEED_PASSPHRASE,
						 "passphrase", &pw, e))) {
			goto fail;
		}
		if (ro->shares) {
			if ((rc = smz_vault_make_shares(v->id, nsk, ro->shares, ro->threshold,
							ro->share_out, &sh, ksh, e)))
				goto fail;
		} else if (oldsh && (rc = keep_credential(oldsh, v->ksh, nsk, ksh, SMZ_NEED_SHARES,
							  "shares", &sh, e))) {
			goto fail;
		}
		have_pw = pw != NULL, have_sh = sh != NULL;
		esc = smz_vault_escrow_seal(npk, have_pw ? kpw : NULL, have_sh ? ksh : NULL);
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
	if (ro->gw == GW_NEW && (rc = smz_vault_new_gateway(v, ro->gw_path, gwpk, &gw, e)))
		goto fail;
	if (ro->gw == GW_REMOVE)
		gw = json_pack("{s:b}", "revoked", 1);
	/* the new vault, beside the old one */
	smz_vault_wipe_dir(stage);
	if (mkdir(stage, 0700) != 0) {
		rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", stage, strerror(errno));
		goto fail;
	}
	if ((rc = smz_vault_env_open(stage, &nv, e)))
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
		gw = smz_vault_meta_json(
			v, "gw"); /* copied by the last transaction, not the meta copy */
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
	struct smz_audit au = smz_vault_auditor(nv);
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
	if ((rc = smz_vault_write_deposit(stage, v->id, npk, 0644, e)) ||
	    (rc = smz_vault_lock(stage, LOCK_EX | LOCK_NB, &newlock, e)))
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
	smz_vault_move_subdirs(stage, v->dir);
	smz_vault_wipe_dir(stage);
	struct smz_vault *fresh = NULL;
	if ((rc = smz_vault_env_open(v->dir, &fresh, e))) {
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
			smz_vault_keep_key(&v->kpw, kpw);
		if (have_sh)
			smz_vault_keep_key(&v->ksh, ksh);
	}
	v->has_gw = smz_vault_gw_read(v, NULL, v->gwpk);
	goto out;
fail:
	if (nv)
		smz_vault_close(nv);
	if (newlock >= 0)
		close(newlock);
	smz_vault_wipe_dir(stage);
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
	sodium_free(nsk);
	sodium_free(kpw);
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
		return smz_err_need(e, SMZ_ERR_USAGE, SMZ_NEED_SHARE_SETUP,
				    "shares need 2 <= threshold <= shares <= 255 and a directory "
				    "to write them to");
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
