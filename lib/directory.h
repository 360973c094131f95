/*
 * directory: certificates into the enterprise directory (OpenLDAP or
 * Active Directory), so senders' clients find them.  For each mailbox of a
 * certificate: find its one entry (filter template, RFC 4515 escaping), add
 * the certificate to userCertificate;binary, take out this CA's expired or
 * superseded certificates of that entry (never another CA's), optionally
 * write userSMIMECertificate (PKCS#7 certs-only with the chain), then read
 * the entry back to confirm the server stored what it accepted.
 */
#ifndef SMZ_DIRECTORY_H
#define SMZ_DIRECTORY_H

#include <openssl/x509.h>
#include <stdio.h>
#include "err.h"
#include "policy.h"
#include "secret.h"

enum smz_publish_event {
	SMZ_PB_PUBLISHED,
	SMZ_PB_UNCHANGED,
	SMZ_PB_REMOVED,
	SMZ_PB_PLANNED, /* --dry-run / --ldif */
	SMZ_PB_FAILED,
	SMZ_PB_NOT_APPLIED, /* the server went away before this one */
};

struct smz_publish_opts {
	const char *uri, *base, *filter; /* filter: template with one %s */
	int starttls;			 /* 1 yes, 0 no, -1 default (ldap:// off loopback) */
	const char *tls_ca;
	const char *bind_dn; /* NULL: SASL EXTERNAL over ldapi://, else anonymous */
	const struct smz_secret *bind_pw;
	int smime_attribute, remove, dry_run;
	FILE *ldif;		/* write changes here instead of applying them */
	X509 *issuer;		/* this CA: whose certificates smz manages */
	STACK_OF(X509) * chain; /* for userSMIMECertificate */
	int timeout;		/* seconds, connect and each operation */
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

/* Certificates of the directory entry for an address (smz-sign --encrypt):
 * connects on first use with o's uri, base, filter, TLS and bind settings.
 * No entry is not an error (nothing is added); SMZ_ERR_UNAVAILABLE when the
 * server cannot be reached. */
struct smz_dir;
int smz_dir_open(const struct smz_publish_opts *o, struct smz_dir **out, struct smz_err *e);
int smz_dir_lookup(void *dir, const char *addr, STACK_OF(X509) * out, struct smz_err *e);
void smz_dir_close(struct smz_dir *d);

#endif
