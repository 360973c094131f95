/*
 * audit: the vault's hash-chained log.  Each entry (seq, time, actor,
 * operation, subject, reason) carries the hash of the one before; the
 * vault's meta database holds the head (count and last hash), written in
 * the same transaction, so an edited, reordered, inserted or deleted entry
 * breaks the chain and `smz-vault audit --verify` names it.
 */
#ifndef SMZ_AUDIT_H
#define SMZ_AUDIT_H

#include <db.h>
#include <jansson.h>
#include <stddef.h>
#include "err.h"

struct smz_audit_entry {
	const char *op, *subject, *reason;
};

/* A log and the meta database holding its head (vault's or CA's). */
struct smz_audit {
	DB_ENV *env;
	DB *log, *meta;
};

/* Run fn in a write transaction that first takes the writer lock (the
 * audit head), append the audit entries fn put in a[] (at most cap), and
 * commit; retried when the lock manager breaks a deadlock.  fn returns 0,
 * an SMZ_ERR_* or a Berkeley DB code. */
int smz_audit_txn(const struct smz_audit *au,
		  int (*fn)(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
			    struct smz_err *e),
		  void *arg, struct smz_audit_entry *a, size_t cap, const char *what,
		  struct smz_err *e);

/* Append entries inside txn, which must already hold the writer lock. */
int smz_audit_append(DB *log, DB *meta, DB_TXN *txn, const struct smz_audit_entry *a,
		     size_t n, struct smz_err *e);

/* Walk every entry in order; cb gets the entry as JSON with its hash. */
int smz_audit_walk(const struct smz_audit *au, int (*cb)(void *arg, json_t *entry),
		   void *arg, struct smz_err *e);

/* 0 and the count if the chain is whole; SMZ_ERR_VERIFY naming the entry. */
int smz_audit_verify(const struct smz_audit *au, size_t *count, struct smz_err *e);

#endif
