/*
 * audit: the vault's hash-chained log.  Each entry (seq, time, actor,
 * operation, subject, reason) carries the hash of the one before; the
 * vault's meta database holds the head (count and last hash), written in
 * the same transaction, so an edited, reordered, inserted or deleted entry
 * breaks the chain and `smz-vault audit --verify` names it.  A cut tail
 * with a reset head does not break it: for that, anchors (the head's seq
 * and hash, kept elsewhere) are checked against the chain, and every
 * committed entry is copied to syslog (LOG_AUTHPRIV) for a log host.
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

/* Where an appended entry landed: its seq and hash. */
struct smz_audit_mark {
	size_t seq;
	char hash[65];
};

/* A log and the meta database holding its head (vault's or CA's), and
 * the log's identity for anchors and syslog lines: kind "vault" with the
 * vault id, or "ca" with the issuing certificate's SHA-256. */
struct smz_audit {
	DB_ENV *env;
	DB *log, *meta;
	const char *kind, *id;
};

/* An anchor line (smz-formats(5)): "smz-audit-anchor v1 KIND=ID seq=N
 * hash=HEX".  line is where smz_audit_anchors_read found it. */
struct smz_audit_anchor {
	char kind[8], id[65];
	size_t seq;
	char hash[65];
	size_t line;
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

/* Append entries inside txn, which must already hold the writer lock;
 * m (NULL or n of them) gets each entry's seq and hash, which the caller
 * hands to smz_audit_syslog once txn has committed (smz_audit_txn does
 * both). */
int smz_audit_append(DB *log, DB *meta, DB_TXN *txn, const struct smz_audit_entry *a, size_t n,
		     struct smz_audit_mark *m, struct smz_err *e);

/* Copy committed entries to syslog, facility authpriv, one line each,
 * "smz-audit KIND=ID seq=N hash=HEX op=OP subject=\"..\" reason=\"..\"",
 * ident the program name, with the pid.  Sent to /dev/log, or to the
 * socket $SMZ_SYSLOG_SOCKET names (for tests); best effort: a missing or
 * stuck log daemon never fails or stalls the operation for long. */
void smz_audit_syslog(const struct smz_audit *au, const struct smz_audit_entry *a,
		      const struct smz_audit_mark *m, size_t n);

/* Walk every entry in order; cb gets the entry as JSON with its hash. */
int smz_audit_walk(const struct smz_audit *au, int (*cb)(void *arg, json_t *entry), void *arg,
		   struct smz_err *e);

/* 0 and the count if the chain is whole; SMZ_ERR_VERIFY naming the entry. */
int smz_audit_verify(const struct smz_audit *au, size_t *count, struct smz_err *e);

/* Verify the chain and return an anchor for its head (the last entry). */
int smz_audit_anchor(const struct smz_audit *au, struct smz_audit_anchor *out, struct smz_err *e);

/* The anchor line, without a newline; buf holds at least 200 bytes. */
void smz_audit_anchor_format(const struct smz_audit_anchor *a, char *buf, size_t cap);

/* Parse one anchor line (a trailing newline allowed); SMZ_ERR_DATA. */
int smz_audit_anchor_parse(const char *line, size_t len, struct smz_audit_anchor *a,
			   struct smz_err *e);

/* Read a file ("-" = stdin) of anchor lines, blank lines and # comments;
 * at least one anchor.  SMZ_ERR_DATA naming the line, SMZ_ERR_NOINPUT. */
int smz_audit_anchors_read(const char *path, struct smz_audit_anchor **a, size_t *n,
			   struct smz_err *e);

/* Verify the chain (as smz_audit_verify) and then each anchor: the log
 * is this one, entry seq exists and has the anchored hash, so the chain
 * was neither cut before it nor rewritten.  cb gets each anchor with
 * NULL or why it fails; returns 0 if all hold, SMZ_ERR_VERIFY if one
 * does not (e then names the first), or the chain's own failure. */
int smz_audit_verify_anchors(const struct smz_audit *au, const struct smz_audit_anchor *a, size_t n,
			     size_t *count,
			     int (*cb)(void *arg, const struct smz_audit_anchor *a,
				       const char *fail),
			     void *arg, struct smz_err *e);

#endif
