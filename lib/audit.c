#include "audit.h"
#include "dbenv.h"
#include "prog.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEAD_KEY "audit_head"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static void
entry_hash(const char *prev, const char *canon, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)prev, 64);
	crypto_hash_sha256_update(&st, (const unsigned char *)canon, len);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(out, 65, h, sizeof h);
}

static int
head_get(DB *meta, DB_TXN *txn, u_int32_t flags, size_t *count, char hash[65])
{
	DBT k = {.data = HEAD_KEY, .size = sizeof HEAD_KEY - 1};
	DBT d = {.flags = DB_DBT_MALLOC};
	int r = meta->get(meta, txn, &k, &d, flags);
	if (r == DB_NOTFOUND) {
		*count = 0;
		strcpy(hash, ZERO_HASH);
		return 0;
	}
	if (r)
		return r;
	unsigned long long c = 0;
	char buf[128];
	int ok = d.size < sizeof buf;
	if (ok) {
		memcpy(buf, d.data, d.size);
		buf[d.size] = 0;
		ok = sscanf(buf, "%llu %64s", &c, hash) == 2 && strlen(hash) == 64;
	}
	free(d.data);
	if (!ok)
		return EINVAL;
	*count = (size_t)c;
	return 0;
}

static int
head_put(DB *meta, DB_TXN *txn, size_t count, const char *hash)
{
	char buf[128];
	int l = snprintf(buf, sizeof buf, "%zu %s", count, hash);
	DBT k = {.data = HEAD_KEY, .size = sizeof HEAD_KEY - 1};
	DBT d = {.data = buf, .size = (u_int32_t)l};
	return meta->put(meta, txn, &k, &d, 0);
}

int
smz_audit_append(DB *log, DB *meta, DB_TXN *txn, const struct smz_audit_entry *a, size_t n,
		 struct smz_err *e)
{
	size_t count;
	char hash[65];
	int r = head_get(meta, txn, DB_RMW, &count, hash);
	if (r)
		return (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED) ? r
					     : smz_err_set(e, SMZ_ERR_INTERNAL, "audit head: %s",
							   db_strerror(r));
	char when[32];
	time_t t = time(NULL);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s}", "seq",
				      (json_int_t)(count + 1), "time", when, "actor",
				      smz_prog_actor(), "op", a[i].op, "subject",
				      a[i].subject ? a[i].subject : "", "reason",
				      a[i].reason ? a[i].reason : "", "prev", hash);
		char *canon = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(j);
		if (!canon)
			return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		db_recno_t recno = 0;
		DBT k = {.data = &recno, .ulen = sizeof recno, .flags = DB_DBT_USERMEM};
		DBT d = {.data = canon, .size = (u_int32_t)strlen(canon)};
		r = log->put(log, txn, &k, &d, DB_APPEND);
		if (!r)
			entry_hash(hash, canon, strlen(canon), hash);
		free(canon);
		if (r)
			return (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED) ? r
						     : smz_err_set(e, SMZ_ERR_INTERNAL,
								   "audit append: %s",
								   db_strerror(r));
		count++;
	}
	r = head_put(meta, txn, count, hash);
	if (r)
		return (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED) ? r
					     : smz_err_set(e, SMZ_ERR_INTERNAL, "audit head: %s",
							   db_strerror(r));
	return 0;
}

/* Walks entries; verify != NULL checks the chain as it goes. */
static int
walk(DB *log, DB_TXN *txn, int (*cb)(void *, json_t *), void *arg, size_t *count,
     char head[65], struct smz_err *e)
{
	DBC *c;
	int r = log->cursor(log, txn, &c, 0);
	if (r)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "audit log: %s", db_strerror(r));
	DBT k = {0}, d = {0};
	char prev[65] = ZERO_HASH;
	size_t n = 0;
	int rc = 0;
	while (!rc && (r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		n++;
		json_error_t je;
		json_t *j = json_loadb(d.data, d.size, JSON_REJECT_DUPLICATES, &je);
		json_int_t seq = j ? json_integer_value(json_object_get(j, "seq")) : -1;
		const char *p = j ? json_string_value(json_object_get(j, "prev")) : NULL;
		char *canon = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		if (!j || !canon || !p) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY, "entry %zu: not a valid entry", n);
		} else if (head && (size_t)seq != n) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY,
					 "entry %zu: sequence number %lld out of place "
					 "(entries deleted, inserted or reordered)", n, (long long)seq);
		} else if (head && strcmp(p, prev) != 0) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY,
					 "entry %zu: does not follow from entry %zu (one of "
					 "them was edited)", n, n - 1);
		} else if (head && (d.size != strlen(canon) || memcmp(canon, d.data, d.size))) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY, "entry %zu: not in canonical form "
					 "(edited)", n);
		}
		if (!rc) {
			entry_hash(prev, d.data, d.size, prev);
			json_object_set_new(j, "hash", json_string(prev));
			if (cb && cb(arg, j) < 0)
				rc = SMZ_ERR_IO;
		}
		free(canon);
		json_decref(j);
	}
	c->close(c);
	if (!rc && r != DB_NOTFOUND)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "audit log: %s", db_strerror(r));
	if (!rc && head)
		strcpy(head, prev);
	if (count)
		*count = n;
	return rc;
}

int
smz_audit_walk(const struct smz_audit *au, int (*cb)(void *, json_t *), void *arg,
	       struct smz_err *e)
{
	return walk(au->log, NULL, cb, arg, NULL, NULL, e);
}

/* Head and log are read in one transaction, head first as every writer
 * takes it first: a verify never sees a half-appended batch, and never
 * deadlocks with a writer. */
int
smz_audit_verify(const struct smz_audit *au, size_t *count, struct smz_err *e)
{
	char head[65], want[65];
	size_t n = 0, want_n;
	DB *log = au->log, *meta = au->meta;
	DB_ENV *env = au->env;
	DB_TXN *txn = NULL;
	int r = env->txn_begin(env, NULL, &txn, 0), rc = 0;
	if (!r)
		r = head_get(meta, txn, 0, &want_n, want);
	if (r) {
		if (txn)
			txn->abort(txn);
		return r == EINVAL ? smz_err_set(e, SMZ_ERR_VERIFY, "the audit head record is damaged")
				   : smz_err_set(e, SMZ_ERR_TEMP, "audit head: %s", db_strerror(r));
	}
	rc = walk(log, txn, NULL, NULL, &n, head, e);
	txn->commit(txn, 0);
	if (rc)
		return rc;
	if (n != want_n)
		return smz_err_set(e, SMZ_ERR_VERIFY,
				   "entry %zu: log has %zu entries, the vault recorded %zu "
				   "(entries deleted or added at the end)",
				   n < want_n ? n + 1 : want_n + 1, n, want_n);
	if (strcmp(head, want) != 0)
		return smz_err_set(e, SMZ_ERR_VERIFY,
				   "entry %zu: last entry does not match the recorded head (edited)",
				   n);
	*count = n;
	return 0;
}

int
smz_audit_txn(const struct smz_audit *au,
	      int (*fn)(DB_TXN *, void *, struct smz_audit_entry *, size_t *, struct smz_err *),
	      void *arg, struct smz_audit_entry *a, size_t cap, const char *what,
	      struct smz_err *e)
{
	for (int attempt = 0;; attempt++) {
		DB_TXN *txn = NULL;
		size_t na = 0;
		int rc = 0, r = au->env->txn_begin(au->env, NULL, &txn, 0);
		if (!r)
			r = smz_db_writer_lock(au->meta, txn);
		if (!r && smz_db_code(rc = fn(txn, arg, a, &na, e)))
			r = rc, rc = 0;
		if (!r && !rc && na > cap)
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "too many audit entries");
		if (!r && !rc && na &&
		    smz_db_code(rc = smz_audit_append(au->log, au->meta, txn, a, na, e)))
			r = rc, rc = 0;
		if (!r && !rc)
			r = txn->commit(txn, 0);
		else if (txn)
			txn->abort(txn);
		if (rc)
			return rc;
		if (!r)
			return 0;
		if (!smz_db_retry(r, attempt))
			return smz_db_err(e, r, what);
	}
}
