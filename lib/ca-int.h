/*
 * ca-int: what the CA's source files share and nobody else sees: the open
 * CA (struct smz_ca) and its transactions.  lib/ca.c keeps the database of
 * certificates (issue, revoke, lookups, listings), cainit.c the directory's
 * certificates and keys (create, open, unlock), crl.c the CRL.
 */
#ifndef SMZ_CA_INT_H
#define SMZ_CA_INT_H

#include <db.h>
#include <limits.h>
#include "ca.h"

struct smz_ca {
	char dir[PATH_MAX];
	DB_ENV *env;
	DB *certs, *addr, *kid, *meta, *log;
	X509 *root, *issuing;
	EVP_PKEY *key;
	char id[65]; /* SHA-256 of the issuing certificate: the audit log's name */
};

/* The CA's audit log, named by the issuing certificate's hash. */
static inline struct smz_audit
smz_ca_auditor(struct smz_ca *ca)
{
	return (struct smz_audit){ca->env, ca->log, ca->meta, "ca", ca->id};
}

/* The environment and databases of ca->dir, opened and indexed. */
int smz_ca_open_dbs(struct smz_ca *ca, struct smz_err *e);

/* A transaction of the CA's, with audit entries (see smz_audit_txn): fn
 * runs in it, with arg, and records up to cap entries in a. */
struct smz_ca_txn {
	int (*fn)(struct smz_ca *, DB_TXN *, void *, struct smz_audit_entry *, size_t *,
		  struct smz_err *);
	void *arg;
	struct smz_audit_entry *a;
	size_t cap;
	struct smz_ca *ca;
};
int smz_ca_in_txn(struct smz_ca *ca, struct smz_ca_txn *j, struct smz_err *e);

#endif
