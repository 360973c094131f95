#include "dbenv.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static __thread char db_msg[512];

static void
errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	snprintf(db_msg, sizeof db_msg, "%s", msg);
}

int
smz_db_err(struct smz_err *e, int r, const char *what)
{
	int code = (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED || r == DB_RUNRECOVERY ||
		    r == EAGAIN)
			   ? SMZ_ERR_TEMP
		   : (r == EACCES || r == EPERM) ? SMZ_ERR_PERM
		   : (r == ENOSPC || r == EIO)	 ? SMZ_ERR_IO
						 : SMZ_ERR_INTERNAL;
	int rc = smz_err_set(e, code, "%s: %s%s%s", what, db_strerror(r), db_msg[0] ? ": " : "",
			     db_msg);
	db_msg[0] = 0;
	return rc;
}

int
smz_db_retry(int r, int attempt)
{
	if ((r != DB_LOCK_DEADLOCK && r != DB_LOCK_NOTGRANTED) || attempt >= SMZ_DB_RETRIES)
		return 0;
	usleep(1000u * (unsigned)(attempt + 1));
	return 1;
}

int
smz_dbenv_open(const char *dir, DB_ENV **out, struct smz_err *e)
{
	DB_ENV *env;
	db_msg[0] = 0;
	int r = db_env_create(&env, 0);
	if (r)
		return smz_db_err(e, r, dir);
	env->set_errcall(env, errcall);
	env->set_lk_detect(env, DB_LOCK_DEFAULT);
	env->set_cachesize(env, 0, 16 << 20, 1);
	env->set_lg_bsize(env, 4 << 20);
	env->set_lk_max_locks(env, 100000);
	env->set_lk_max_objects(env, 100000);
	env->set_lk_max_lockers(env, 10000);
	env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1);
	/* DB_REGISTER: recovery runs only when a process died inside the
	 * environment, never under another live one. */
	r = env->open(env, dir,
		      DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
			      DB_REGISTER | DB_RECOVER,
		      0600);
	if (r) {
		int rc = r == DB_RUNRECOVERY
				 ? smz_err_set(e, SMZ_ERR_TEMP,
					       "%s: needs recovery while other programs use it; "
					       "retry when they have finished",
					       dir)
				 : smz_db_err(e, r, dir);
		env->close(env, 0);
		return rc;
	}
	*out = env;
	return 0;
}

void
smz_dbenv_close(DB_ENV *env)
{
	if (!env)
		return;
	/* A checkpoint lets DB_LOG_AUTO_REMOVE drop log files no longer
	 * needed for recovery; without it the log only grows. */
	env->txn_checkpoint(env, 0, 0, 0);
	env->close(env, 0);
}

/* Page size of each database file, by the size of its records.  Berkeley DB
 * moves a btree item larger than about a quarter of a page (1007 bytes with
 * 4 KB pages) to overflow pages of its own: a vault record of 2.3 KB or a CA
 * record of 1.3 KB took a 4 KB overflow page besides its leaf entry (44 and
 * 70 % of it empty) and a second page read.  With pages four times the
 * largest usual record, records stay on their leaf pages.  Index and audit
 * entries are small: 4 KB, stated rather than left to Berkeley DB, which
 * takes the file system's block size (up to 16 KB).  A size applies when a
 * file is created: files made before keep theirs and work as they are (a
 * vault rotation rebuilds them with these; tests/t0065-storage.sh). */
static const struct {
	const char *file;
	u_int32_t size;
} pagesizes[] = {
	/* vault: a key with its CSR and certificates, JSON with base64:
	 * 2.3 KB (P-256), 4.5 KB (RSA-2048) to 7.1 KB (RSA-4096); items
	 * up to 8,175 bytes stay on a 32 KB leaf page */
	{"keys.db", 32768},
	/* CA: a certificate and its state, 1.3 KB (P-256 key) to 1.9 KB
	 * (RSA-4096 key); items up to 4,079 bytes stay on a 16 KB page */
	{"certs.db", 16384},
	{"addr.idx", 4096},
	{"isn.idx", 4096},
	{"ski.idx", 4096},
	{"kid.idx", 4096},
	{"meta.db", 4096},
	{"audit.db", 4096},
};

static u_int32_t
pagesize(const char *file)
{
	for (size_t i = 0; i < sizeof pagesizes / sizeof pagesizes[0]; i++)
		if (strcmp(pagesizes[i].file, file) == 0)
			return pagesizes[i].size;
	return 0;
}

int
smz_db_open(DB_ENV *env, DB **db, const char *file, DBTYPE type, int dup, struct smz_err *e)
{
	int r = db_create(db, env, 0);
	u_int32_t ps = pagesize(file);
	if (!r && ps)
		r = (*db)->set_pagesize(*db, ps);
	if (!r && dup)
		r = (*db)->set_flags(*db, DB_DUP | DB_DUPSORT);
	if (!r)
		r = (*db)->open(*db, NULL, file, NULL, type, DB_CREATE | DB_AUTO_COMMIT, 0600);
	if (r) {
		if (*db)
			(*db)->close(*db, 0);
		*db = NULL;
		return smz_db_err(e, r, file);
	}
	return 0;
}

int
smz_db_get_str(DB *db, DB_TXN *txn, const char *key, u_int32_t flags, char **val, size_t *len)
{
	DBT k = {.data = (void *)key, .size = (u_int32_t)strlen(key)};
	DBT d = {.flags = DB_DBT_MALLOC};
	int r = db->get(db, txn, &k, &d, flags);
	if (r)
		return r;
	char *s = realloc(d.data, d.size + 1);
	if (!s) {
		free(d.data);
		return ENOMEM;
	}
	s[d.size] = 0;
	*val = s;
	if (len)
		*len = d.size;
	return 0;
}

int
smz_db_put_str(DB *db, DB_TXN *txn, const char *key, const void *val, size_t len)
{
	DBT k = {.data = (void *)key, .size = (u_int32_t)strlen(key)};
	DBT d = {.data = (void *)val, .size = (u_int32_t)len};
	return db->put(db, txn, &k, &d, 0);
}

int
smz_db_put_json(DB *db, DB_TXN *txn, const char *key, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return ENOMEM;
	int r = smz_db_put_str(db, txn, key, s, strlen(s));
	free(s);
	return r;
}

void
smz_time_iso(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *
smz_b64(const unsigned char *b, size_t n)
{
	size_t l = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(l);
	if (s)
		sodium_bin2base64(s, l, b, n, sodium_base64_VARIANT_ORIGINAL);
	return s;
}

int
smz_unb64(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	if (!s)
		return -1;
	return sodium_base642bin(out, cap, s, strlen(s), NULL, len, NULL,
				 sodium_base64_VARIANT_ORIGINAL);
}

/* Fill res with the (deduplicated) keys; DB_DONOTINDEX when none. */
int
smz_db_multi_keys(DBT *res, char **keys, u_int32_t *lens, size_t n)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t j = 0; j < m; j++)
			if (lens[j] == lens[i] && memcmp(keys[j], keys[i], lens[i]) == 0)
				dup = 1;
		if (dup) {
			free(keys[i]);
			continue;
		}
		keys[m] = keys[i];
		lens[m++] = lens[i];
	}
	if (m == 0)
		return DB_DONOTINDEX;
	memset(res, 0, sizeof *res);
	if (m == 1) {
		res->data = keys[0];
		res->size = lens[0];
		res->flags = DB_DBT_APPMALLOC;
		return 0;
	}
	DBT *arr = calloc(m, sizeof *arr);
	if (!arr) {
		for (size_t i = 0; i < m; i++)
			free(keys[i]);
		return ENOMEM;
	}
	for (size_t i = 0; i < m; i++) {
		arr[i].data = keys[i];
		arr[i].size = lens[i];
		arr[i].flags = DB_DBT_APPMALLOC;
	}
	res->data = arr;
	res->size = (u_int32_t)m;
	res->flags = DB_DBT_MULTIPLE | DB_DBT_APPMALLOC;
	return 0;
}

/* Every write transaction first takes this lock, so writers queue instead
 * of deadlocking on index pages. */
int
smz_db_writer_lock(DB *meta, DB_TXN *txn)
{
	DBT k = {.data = "audit_head", .size = 10};
	DBT d = {.flags = DB_DBT_MALLOC};
	int r = meta->get(meta, txn, &k, &d, DB_RMW);
	free(d.data);
	return r == DB_NOTFOUND ? 0 : r;
}

int
smz_db_foreach_json(DB *db, int (*cb)(void *, json_t *), void *arg, const char *what,
		    struct smz_err *e)
{
	DBC *c;
	int r = db->cursor(db, NULL, &c, 0), rc = 0;
	if (r)
		return smz_db_err(e, r, what);
	DBT k = {0}, d = {0};
	while (!rc && (r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		json_t *j = json_loadb(d.data, d.size, JSON_REJECT_DUPLICATES, NULL);
		if (!j) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "%s: a damaged record", what);
			break;
		}
		if (cb(arg, j) < 0)
			rc = SMZ_ERR_IO;
		json_decref(j);
	}
	c->close(c);
	if (!rc && r != DB_NOTFOUND)
		rc = smz_db_err(e, r, what);
	return rc;
}
