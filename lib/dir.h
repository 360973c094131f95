/*
 * dir: the enterprise directory (OpenLDAP or Active Directory) over LDAP.
 * A connection made the one safe way (TLS always verified, StartTLS off
 * loopback, a simple bind or SASL EXTERNAL over ldapi://, timeouts), the
 * one entry of a mail address (filter template, RFC 4515 escaping) with
 * its certificate attributes, and a change to them, applied or written as
 * LDIF.  What to change is lib/publish's; smz-sign --encrypt looks
 * recipients' certificates up here.
 */
#ifndef SMZ_DIR_H
#define SMZ_DIR_H

#include <openssl/x509.h>
#include <stdio.h>
#include "err.h"
#include "secret.h"

struct smz_dir_opts {
	const char *uri, *base, *filter; /* filter: template with one %s */
	int starttls;			 /* 1 yes, 0 no, -1 default (ldap:// off loopback) */
	const char *tls_ca;
	const char *bind_dn; /* NULL: SASL EXTERNAL over ldapi://, else anonymous */
	const struct smz_secret *bind_pw;
	int timeout; /* seconds, connect and each operation */
};

/* A handle on the directory; it connects on first use.  o is copied, its
 * strings and bind_pw are borrowed. */
struct smz_dir;
int smz_dir_open(const struct smz_dir_opts *o, struct smz_dir **out, struct smz_err *e);
void smz_dir_close(struct smz_dir *d);

/* Connect now.  SMZ_ERR_UNAVAILABLE when the server cannot be reached,
 * SMZ_ERR_PERM for bad credentials, SMZ_ERR_CONFIG for a bad URI. */
int smz_dir_connect(struct smz_dir *d, struct smz_err *e);

/* Has the server gone away (so that the rest of a batch is not tried)? */
int smz_dir_down(const struct smz_dir *d);

/* Certificates of the directory entry for an address (smz-sign --encrypt),
 * pushed onto out.  No entry is not an error (nothing is added). */
int smz_dir_lookup(void *dir, const char *addr, STACK_OF(X509) * out, struct smz_err *e);

/* An entry, with the values of its certificate attributes as stored. */
struct berval;
struct smz_dir_entry {
	char *dn;
	struct berval **certs, **smime; /* userCertificate, userSMIMECertificate */
};

/* The one entry of addr: 0, or 1 with why saying why there is none (no
 * entry, more than one, no such base), or an SMZ_ERR_*. */
int smz_dir_find(struct smz_dir *d, const char *addr, struct smz_dir_entry *en, char *why,
		 size_t cap, struct smz_err *e);
void smz_dir_entry_free(struct smz_dir_entry *en);

/* Is der one of vals?  The certificate a value holds (NULL if none). */
int smz_dir_has_value(struct berval **vals, const unsigned char *der, size_t len);
X509 *smz_dir_value_cert(const struct berval *bv);

/* A change to an entry's certificates: one to add, values to delete, and
 * userSMIMECertificate replaced (smime) or deleted (smime_del). */
#define SMZ_DIR_DEL_MAX 16
struct smz_dir_change {
	const unsigned char *add;
	size_t add_len;
	struct berval *del[SMZ_DIR_DEL_MAX];
	int ndel;
	unsigned char *smime;
	int smime_len, smime_del;
};

/* Apply a change; SMZ_ERR_DATA when the server refuses it. */
int smz_dir_modify(struct smz_dir *d, const char *dn, const struct smz_dir_change *ch,
		   struct smz_err *e);

/* Write a change as LDIF (RFC 2849), in the attribute names of d's server
 * (userCertificate;binary when not connected). */
void smz_dir_ldif(const struct smz_dir *d, FILE *f, const char *dn,
		  const struct smz_dir_change *ch);

#endif
