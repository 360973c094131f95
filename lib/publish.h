/*
 * publish: certificates into the enterprise directory (lib/dir), so that
 * senders' clients find them.  For each mailbox of a certificate: its one
 * entry gets the certificate in userCertificate;binary, loses this CA's
 * expired or superseded certificates of that mailbox (never another CA's),
 * optionally gets userSMIMECertificate (PKCS#7 certs-only with the chain),
 * and is read back to confirm the server stored what it accepted.  Or,
 * with remove, the certificate is withdrawn.
 */
#ifndef SMZ_PUBLISH_H
#define SMZ_PUBLISH_H

#include <openssl/x509.h>
#include <stdio.h>
#include "dir.h"
#include "err.h"

enum smz_publish_event {
	SMZ_PB_PUBLISHED,
	SMZ_PB_UNCHANGED,
	SMZ_PB_REMOVED,
	SMZ_PB_PLANNED, /* dry run, or LDIF */
	SMZ_PB_FAILED,
	SMZ_PB_NOT_APPLIED, /* the server went away before this one */
};

struct smz_publish_opts {
	struct smz_dir_opts dir; /* uri "-" with ldif: no server, only adds */
	int smime_attribute, remove, dry_run;
	FILE *ldif;		/* write changes here instead of applying them */
	X509 *issuer;		/* this CA: whose certificates smz manages */
	STACK_OF(X509) * chain; /* for userSMIMECertificate */
	void (*report)(void *arg, const char *address, enum smz_publish_event ev,
		       const char *detail);
	void *arg;
};

struct smz_publish_stats {
	size_t published, unchanged, removed, planned, failed, not_applied, rejected;
};

/* Publish (or with remove, withdraw) every certificate of the stream.
 * SMZ_ERR_UNAVAILABLE when the server cannot be reached or goes away (what
 * was applied is reported), SMZ_ERR_PERM for bad credentials. */
int smz_publish_run(const struct smz_publish_opts *o, FILE *in, struct smz_publish_stats *st,
		    struct smz_err *e);

#endif
