/*
 * dbenv: the transactional Berkeley DB environment shared by the vault and
 * the CA: opened with DB_REGISTER|DB_RECOVER (recovery only after a crash,
 * never under a live process), deadlock detection, log auto-removal;
 * databases opened auto-commit; errors mapped to SMZ_ERR_* with BDB's own
 * words; small meta records as strings.
 */
#ifndef SMZ_DBENV_H
#define SMZ_DBENV_H

#include <db.h>
#include <jansson.h>
#include <stddef.h>
#include "err.h"

#define SMZ_DB_RETRIES 50

int smz_dbenv_open(const char *dir, DB_ENV **env, struct smz_err *e);
/* Checkpoint (so old logs can go) and close. */
void smz_dbenv_close(DB_ENV *env);

int smz_db_open(DB_ENV *env, DB **db, const char *file, DBTYPE type, int dup, struct smz_err *e);

/* Map a BDB error to an SMZ_ERR_* with the message BDB gave. */
int smz_db_err(struct smz_err *e, int r, const char *what);

/* Is r a Berkeley DB or errno code (not 0, not an SMZ_ERR_*)? */
static inline int
smz_db_code(int r)
{
	return r != 0 && !SMZ_IS_ERR(r);
}

/* Is r worth retrying the transaction for (deadlock, lock not granted)? */
int smz_db_retry(int r, int attempt);

/* String-keyed records: get (malloc'd, NUL-terminated) and put. */
int smz_db_get_str(DB *db, DB_TXN *txn, const char *key, u_int32_t flags, char **val, size_t *len);
int smz_db_put_str(DB *db, DB_TXN *txn, const char *key, const void *val, size_t len);
int smz_db_put_json(DB *db, DB_TXN *txn, const char *key, json_t *j);

/* For secondary index callbacks: fill res with the deduplicated keys (each
 * malloc'd, ownership passes to BDB); DB_DONOTINDEX when there are none. */
int smz_db_multi_keys(DBT *res, char **keys, u_int32_t *lens, size_t n);

/* Take the writer lock (the audit head in meta) inside txn. */
int smz_db_writer_lock(DB *meta, DB_TXN *txn);

/* Every record of db (JSON values) in key order; cb < 0 stops with
 * SMZ_ERR_IO; a record that does not parse is SMZ_ERR_DATA. */
int smz_db_foreach_json(DB *db, int (*cb)(void *arg, json_t *rec), void *arg, const char *what,
			struct smz_err *e);

/* Seconds since the epoch as 2026-11-27T13:45:00Z. */
void smz_time_iso(long long t, char out[32]);

/* Base64 (standard alphabet) of n bytes, malloc'd. */
char *smz_b64(const unsigned char *b, size_t n);
/* Decode s into out (cap bytes); 0 or -1. */
int smz_unb64(const char *s, unsigned char *out, size_t cap, size_t *len);

#endif
