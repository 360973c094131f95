/* vault: the databases and their records: open, close, indexes, meta
 * records, lookups, listings and audit entries. */
#include "vault-int.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "addr.h"
#include "keys.h"
#include "pem.h"

#include <errno.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* ---- records and their index keys ---- */

json_t *
smz_vault_rec_parse(const DBT *d)
{
	return json_loadb(d->data, d->size, JSON_REJECT_DUPLICATES, NULL);
}

int
smz_vault_index_keys(json_t *j, enum smz_vault_idx which, char **keys, u_int32_t *lens, size_t cap,
		     size_t *n)
{
	*n = 0;
	if (which == SMZ_VAULT_IDX_ADDR) {
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
			json_object_get(c, which == SMZ_VAULT_IDX_ISN ? "isn" : "ski"));
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
index_cb(enum smz_vault_idx which, const DBT *pdata, DBT *res)
{
	/* Records are stored compact with sorted keys, so a key without
	 * certificates says so literally: skip the parse on every deposit. */
	if (which != SMZ_VAULT_IDX_ADDR && memmem(pdata->data, pdata->size, "\"certs\":[]", 10))
		return DB_DONOTINDEX;
	json_t *j = smz_vault_rec_parse(pdata);
	if (!j)
		return DB_DONOTINDEX;
	char *keys[64];
	u_int32_t lens[64];
	size_t n = 0;
	int r = smz_vault_index_keys(j, which, keys, lens, 64, &n);
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
	return index_cb(SMZ_VAULT_IDX_ADDR, d, res);
}

static int
isn_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	return index_cb(SMZ_VAULT_IDX_ISN, d, res);
}

static int
ski_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	return index_cb(SMZ_VAULT_IDX_SKI, d, res);
}

/* ---- environment ---- */

int
smz_vault_env_open(const char *dir, struct smz_vault **out, struct smz_err *e)
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

/* A handle smz_vault_share made shared takes its lock around each use of
 * its databases by the engines of several threads. */
static void
vault_lock(struct smz_vault *v)
{
	if (v->shared)
		pthread_mutex_lock(&v->mu);
}

static void
vault_unlock(struct smz_vault *v)
{
	if (v->shared)
		pthread_mutex_unlock(&v->mu);
}

void
smz_vault_share(struct smz_vault *v)
{
	if (!v->shared) {
		pthread_mutex_init(&v->mu, NULL);
		v->shared = 1;
	}
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
	if (v->shared)
		pthread_mutex_destroy(&v->mu);
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

int
smz_vault_meta_get(struct smz_vault *v, DB_TXN *txn, const char *key, char **val, size_t *len)
{
	return smz_db_get_str(v->meta, txn, key, 0, val, len);
}

int
smz_vault_meta_put(struct smz_vault *v, DB_TXN *txn, const char *key, const void *val, size_t len)
{
	return smz_db_put_str(v->meta, txn, key, val, len);
}

static int
read_deposit_file(const char *dir, unsigned char pk[32], char id[33], struct smz_err *e)
{
	char path[PATH_MAX + 16], *buf = NULL;
	size_t len;
	snprintf(path, sizeof path, "%s/%s", dir, SMZ_VAULT_DEPOSIT_FILE);
	int rc = smz_file_read(path, 4096, &buf, &len, e);
	if (rc)
		return rc == SMZ_ERR_NOINPUT
			       ? smz_err_set(e, SMZ_ERR_NOINPUT,
					     "%s: not a vault (no %s; create one with "
					     "smz-vault init)",
					     dir, SMZ_VAULT_DEPOSIT_FILE)
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

/* The gateway's current public key, read inside txn; 0 if there is none. */
int
smz_vault_gw_read(struct smz_vault *v, DB_TXN *txn, unsigned char pk[SMZ_VAULT_PK])
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

/* deposit.pub: what anyone needs to deposit keys, and no more. */
int
smz_vault_write_deposit(const char *dir, const char *id, const unsigned char pk[SMZ_VAULT_PK],
			int mode, struct smz_err *e)
{
	char *pkb = smz_b64(pk, SMZ_VAULT_PK), buf[256], path[PATH_MAX + 16];
	int l = snprintf(buf, sizeof buf, "smz-vault-deposit-key: 1\nvault: %s\nkey: %s\n", id,
			 pkb ? pkb : "");
	free(pkb);
	snprintf(path, sizeof path, "%s/%s", dir, SMZ_VAULT_DEPOSIT_FILE);
	return smz_file_write_atomic(path, buf, (size_t)l, mode, e);
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
		return smz_err_need(e, SMZ_ERR_CONFIG, SMZ_NEED_VAULT, "no vault given");
	unsigned char pk[32];
	char id[33], stage[PATH_MAX + 16];
	int lockfd = -1;
	int rc = read_deposit_file(dir, pk, id, e);
	if (rc)
		return rc;
	/* shared with every other user; a rotation holds it alone, so a
	 * DIR.rotate seen now is what a killed rotation left: wiped */
	if ((rc = smz_vault_lock(dir, LOCK_SH, &lockfd, e)))
		return rc;
	smz_vault_stage_path(dir, stage, sizeof stage);
	if (access(stage, F_OK) == 0) {
		smz_vault_move_subdirs(stage, dir);
		smz_vault_wipe_dir(stage);
	}
	if ((rc = read_deposit_file(dir, pk, id, e))) {
		close(lockfd);
		return rc;
	}
	struct smz_vault *v;
	if ((rc = smz_vault_env_open(dir, &v, e))) {
		close(lockfd);
		return rc;
	}
	v->lockfd = lockfd;
	char *mid = NULL, *mpk = NULL;
	size_t pklen = 0;
	if (smz_vault_meta_get(v, NULL, "vault_id", &mid, NULL) ||
	    smz_vault_meta_get(v, NULL, "pk", &mpk, &pklen) || strcmp(mid, id) != 0 ||
	    pklen != 32 || memcmp(mpk, pk, 32) != 0)
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
	v->has_gw = smz_vault_gw_read(v, NULL, v->gwpk);
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

int
smz_vault_meta_put_json(struct smz_vault *v, DB_TXN *txn, const char *key, json_t *j)
{
	return smz_db_put_json(v->meta, txn, key, j);
}

json_t *
smz_vault_meta_json(struct smz_vault *v, const char *key)
{
	char *s = NULL;
	if (smz_vault_meta_get(v, NULL, key, &s, NULL))
		return NULL;
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	return j;
}

/* ---- lookups ---- */

static int
get_by_index(DB *idx, const void *key, size_t klen, json_t **rec)
{
	DBT sk = {.data = (void *)key, .size = (u_int32_t)klen}, pk = {0},
	    pd = {.flags = DB_DBT_MALLOC};
	int r = idx->pget(idx, NULL, &sk, &pk, &pd, 0);
	if (r)
		return r;
	*rec = smz_vault_rec_parse(&pd);
	free(pd.data);
	return *rec ? 0 : EINVAL;
}

static int
find_cert(struct smz_vault *v, X509 *cert, json_t **rec, const char **how, struct smz_err *e)
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
			*rec = smz_vault_rec_parse(&d);
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
smz_vault_find_certs(struct smz_vault *v, const char *path,
		     int (*cb)(void *arg, const json_t *rec, const char *how, const char *fail),
		     void *arg, size_t *missing, struct smz_err *e)
{
	STACK_OF(X509) *certs = NULL;
	int rc = smz_pem_read_certs(path, &certs, e);
	*missing = 0;
	for (int i = 0; !rc && i < sk_X509_num(certs); i++) {
		json_t *rec = NULL;
		const char *how = NULL;
		struct smz_err fe = {0};
		int r = smz_vault_find_cert(v, sk_X509_value(certs, i), &rec, &how, &fe);
		if (cb(arg, rec, how, r ? fe.msg : NULL) < 0)
			rc = smz_err_set(e, SMZ_ERR_IO, "cannot write to standard output");
		*missing += r != 0;
		json_decref(rec);
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

static int
find_rid(struct smz_vault *v, const X509_NAME *issuer, const ASN1_INTEGER *serial,
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

int
smz_vault_has_exact_local(json_t *rec, const char *address)
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
		json_t *j = smz_vault_rec_parse(&pd);
		if (!j)
			continue;
		if ((sensitive && !smz_vault_has_exact_local(j, address)) || recs_push(rs, j) < 0)
			json_decref(j);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

static int
history(struct smz_vault *v, const char *address, int sensitive, int (*cb)(void *, json_t *),
	void *arg, struct smz_err *e)
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

/* ---- listings ---- */

const char *const smz_vault_list_cols[] = {"address", "key_id",	     "algorithm", "created",
					   "state",   "employee_id", NULL};
const char *const smz_vault_show_cols[] =
	{"key_id", "addresses",	    "algorithm",    "usage", "source", "created",
	 "state",  "state_changed", "certificates", "csr",   NULL};

struct listing {
	const char *only; /* history: that mailbox's rows alone */
	int sensitive;
	int (*cb)(void *, json_t *);
	void *arg;
	int rc; /* set when a record makes no row */
	struct smz_err *e;
};

/* One listing record per mailbox of a key record. */
static int
list_rows(void *arg, json_t *rec)
{
	struct listing *l = arg;
	char when[32], k1[SMZ_ADDR_MAX], k2[SMZ_ADDR_MAX];
	smz_time_iso(json_integer_value(json_object_get(rec, "created")), when);
	json_t *emp = json_object_get(rec, "employee_id");
	if (l->only)
		smz_addr_key(l->only, l->sensitive, k2);
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		/* history's rows: the asked-for mailbox as the policy compares */
		if (l->only) {
			smz_addr_key(json_string_value(a), l->sensitive, k1);
			if (strcmp(k1, k2) != 0)
				continue;
		}
		json_t *row = json_pack("{s:O,s:O,s:O,s:s,s:O,s:s}", "address", a, "key_id",
					json_object_get(rec, "key_id"), "algorithm",
					json_object_get(rec, "alg"), "created", when, "state",
					json_object_get(rec, "state"), "employee_id",
					emp ? json_string_value(emp) : "");
		if (!row) {
			const char *id = json_string_value(json_object_get(rec, "key_id"));
			l->rc = smz_err_set(l->e, SMZ_ERR_DATA,
					    "keys.db: key %.16s: a damaged record", id ? id : "?");
			return -1;
		}
		int r = l->cb(l->arg, row);
		json_decref(row);
		if (r < 0)
			return -1;
	}
	return 0;
}

int
smz_vault_list(struct smz_vault *v, const char *address, int sensitive, int (*cb)(void *, json_t *),
	       void *arg, struct smz_err *e)
{
	struct listing l = {address, sensitive, cb, arg, 0, e};
	int rc = address ? smz_vault_history(v, address, sensitive, list_rows, &l, e)
			 : smz_vault_foreach(v, list_rows, &l, e);
	return l.rc ? l.rc : rc;
}

int
smz_vault_show(struct smz_vault *v, const char *keyid, json_t **out, struct smz_err *e)
{
	json_t *rec, *o = json_object();
	int rc = o ? smz_vault_get(v, keyid, &rec, e)
		   : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (rc) {
		json_decref(o);
		return rc;
	}
	for (const char *const *c = smz_vault_show_cols; *c; c++) {
		char t[32];
		if (strcmp(*c, "created") == 0 || strcmp(*c, "state_changed") == 0) {
			smz_time_iso(json_integer_value(json_object_get(rec, *c)), t);
			json_object_set_new(o, *c, json_string(t));
		} else if (strcmp(*c, "certificates") == 0) {
			size_t n = json_array_size(json_object_get(rec, "certs"));
			json_object_set_new(o, *c, json_integer((json_int_t)n));
		} else {
			/* stored as alg; what is absent stays absent */
			json_t *val = json_object_get(rec, strcmp(*c, "algorithm") ? *c : "alg");
			if (val)
				json_object_set(o, *c, val);
		}
	}
	json_decref(rec);
	*out = o;
	return 0;
}

/* ---- audit ---- */

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

static int
audit_batch(struct smz_vault *v, const struct smz_audit_entry *a, size_t n, struct smz_err *e)
{
	struct smz_audit au = smz_vault_auditor(v);
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
	struct smz_audit_entry a = {op, subject, reason};
	return smz_vault_audit_batch(v, &a, 1, e);
}

void
smz_vault_audit_log(struct smz_vault *v, struct smz_audit *au)
{
	*au = smz_vault_auditor(v);
}

/* ---- what a shared handle serialises (smz_vault_share) ---- */

int
smz_vault_find_cert(struct smz_vault *v, X509 *cert, json_t **rec, const char **how,
		    struct smz_err *e)
{
	vault_lock(v);
	int rc = find_cert(v, cert, rec, how, e);
	vault_unlock(v);
	return rc;
}

int
smz_vault_find_rid(struct smz_vault *v, const X509_NAME *issuer, const ASN1_INTEGER *serial,
		   const ASN1_OCTET_STRING *ski, json_t **rec, const char **how, struct smz_err *e)
{
	vault_lock(v);
	int rc = find_rid(v, issuer, serial, ski, rec, how, e);
	vault_unlock(v);
	return rc;
}

int
smz_vault_history(struct smz_vault *v, const char *address, int sensitive,
		  int (*cb)(void *, json_t *), void *arg, struct smz_err *e)
{
	vault_lock(v);
	int rc = history(v, address, sensitive, cb, arg, e);
	vault_unlock(v);
	return rc;
}

int
smz_vault_audit_batch(struct smz_vault *v, const struct smz_audit_entry *a, size_t n,
		      struct smz_err *e)
{
	vault_lock(v);
	int rc = audit_batch(v, a, n, e);
	vault_unlock(v);
	return rc;
}
