#include "publish.h"
#include "addr.h"
#include "keys.h"
#include "pem.h"

#include <lber.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* Does x carry addr (an entry may hold certificates of several mailboxes)?
 * The directory's mail attribute folds case, so this does too. */
static int
carries(X509 *x, const char *addr)
{
	char a[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX];
	size_t n = 0;
	struct smz_err me;
	if (smz_cert_mailboxes(x, a, &n, &me) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(a[i], addr) == 0)
			return 1;
	return 0;
}

/* Is x from this CA (and so ours to manage)? */
static int
ours(const struct smz_publish_opts *o, X509 *x)
{
	return o->issuer && X509_check_issued(o->issuer, x) == X509_V_OK;
}

static int
by_der(const X509 *const *a, const X509 *const *b)
{
	return X509_cmp(*a, *b);
}

/* userSMIMECertificate: this CA's current certificates of the entry (an
 * entry may have several mailboxes), in a stable order, then the chain. */
static int
smime_value(const struct smz_publish_opts *o, STACK_OF(X509) * mine, unsigned char **der, int *len)
{
	PKCS7 *p7 = PKCS7_new();
	sk_X509_set_cmp_func(mine, by_der);
	sk_X509_sort(mine);
	int ok = p7 && PKCS7_set_type(p7, NID_pkcs7_signed) &&
		 PKCS7_content_new(p7, NID_pkcs7_data);
	for (int i = 0; ok && i < sk_X509_num(mine); i++)
		ok = PKCS7_add_certificate(p7, sk_X509_value(mine, i));
	for (int i = 0; ok && o->chain && i < sk_X509_num(o->chain); i++)
		ok = PKCS7_add_certificate(p7, sk_X509_value(o->chain, i));
	*der = NULL;
	*len = ok ? i2d_PKCS7(p7, der) : -1;
	PKCS7_free(p7);
	return *len > 0 ? 0 : -1;
}

/* One address of one certificate. */
static int
publish_address(const struct smz_publish_opts *o, struct smz_dir *d, X509 *x,
		const unsigned char *der, size_t len, const char *addr,
		struct smz_publish_stats *st, struct smz_err *e)
{
	struct smz_dir_entry en = {0};
	char why[256];
	int r = smz_dir_find(d, addr, &en, why, sizeof why, e);
	if (r < 0)
		return r;
	if (r > 0) {
		st->failed++;
		o->report(o->arg, addr, SMZ_PB_FAILED, why);
		return 0;
	}
	struct smz_dir_change ch = {0};
	int present = smz_dir_has_value(en.certs, der, len);
	if (!o->remove) {
		if (!present) {
			ch.add = der;
			ch.add_len = len;
		}
		/* this CA's expired or superseded certificates of this mailbox
		 * go; other mailboxes' and other CAs' stay */
		STACK_OF(X509) *mine = sk_X509_new_null();
		sk_X509_push(mine, X509_dup(x));
		for (int i = 0; en.certs && en.certs[i] && ch.ndel < SMZ_DIR_DEL_MAX; i++) {
			X509 *old = smz_dir_value_cert(en.certs[i]);
			int keep = 1;
			/* split keys: a signing certificate never supersedes an
			 * encryption one */
			if (old && ours(o, old) && X509_cmp(old, x) != 0 && carries(old, addr) &&
			    X509_get_key_usage(old) == X509_get_key_usage(x) &&
			    (X509_cmp_current_time(X509_get0_notAfter(old)) < 0 ||
			     ASN1_TIME_compare(X509_get0_notBefore(old), X509_get0_notBefore(x)) <=
				     0)) {
				ch.del[ch.ndel++] = en.certs[i];
				keep = 0;
			}
			if (old && keep && ours(o, old) && X509_cmp(old, x) != 0 &&
			    X509_cmp_current_time(X509_get0_notAfter(old)) > 0 &&
			    sk_X509_push(mine, old))
				old = NULL;
			X509_free(old);
		}
		if (o->smime_attribute && smime_value(o, mine, &ch.smime, &ch.smime_len) == 0 &&
		    smz_dir_has_value(en.smime, ch.smime, (size_t)ch.smime_len)) {
			OPENSSL_free(ch.smime);
			ch.smime = NULL;
		}
		sk_X509_pop_free(mine, X509_free);
	} else if (present) {
		for (int i = 0; en.certs[i]; i++)
			if (en.certs[i]->bv_len == len && !memcmp(en.certs[i]->bv_val, der, len))
				ch.del[ch.ndel++] = en.certs[i];
		ch.smime_del = en.smime != NULL; /* it carried the withdrawn certificate */
	}
	int nothing = !ch.add && !ch.ndel && !ch.smime && !ch.smime_del;
	int rc = 0;
	if (nothing) {
		st->unchanged++;
		o->report(o->arg, addr, SMZ_PB_UNCHANGED, NULL);
	} else if (o->ldif || o->dry_run) {
		if (o->ldif)
			smz_dir_ldif(d, o->ldif, en.dn, &ch);
		snprintf(why, sizeof why, "%s %s:%s%s%s%s",
			 o->remove ? "remove from" : "publish to", en.dn,
			 ch.add ? " +certificate" : "",
			 ch.ndel ? (o->remove ? " -certificate" : " -old certificates") : "",
			 ch.smime ? " =userSMIMECertificate" : "",
			 ch.smime_del ? " -userSMIMECertificate" : "");
		st->planned++;
		o->report(o->arg, addr, SMZ_PB_PLANNED, why);
	} else if ((rc = smz_dir_modify(d, en.dn, &ch, e)) == 0) {
		/* trust but verify: read the entry back */
		struct smz_dir_entry back = {0};
		char w2[256];
		rc = smz_dir_find(d, addr, &back, w2, sizeof w2, e);
		int stored = rc == 0 && smz_dir_has_value(back.certs, der, len) != o->remove;
		for (int i = 0; stored && !o->remove && i < ch.ndel; i++)
			stored = !smz_dir_has_value(back.certs, (unsigned char *)ch.del[i]->bv_val,
						    ch.del[i]->bv_len);
		smz_dir_entry_free(&back);
		if (rc < 0) {
		} else if (stored) {
			rc = 0;
			if (o->remove)
				st->removed++;
			else
				st->published++;
			o->report(o->arg, addr, o->remove ? SMZ_PB_REMOVED : SMZ_PB_PUBLISHED,
				  NULL);
		} else {
			rc = 0;
			st->failed++;
			o->report(o->arg, addr, SMZ_PB_FAILED,
				  "the server accepted the change but did not store it");
		}
	} else {
		/* refused: this address failed; fatal errors stop the run after it */
		st->failed++;
		o->report(o->arg, addr, SMZ_PB_FAILED, e->msg);
		if (rc == SMZ_ERR_DATA)
			rc = 0;
	}
	OPENSSL_free(ch.smime);
	smz_dir_entry_free(&en);
	return rc;
}

int
smz_publish_run(const struct smz_publish_opts *o, FILE *in, struct smz_publish_stats *st,
		struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	struct smz_dir *d = NULL;
	/* Dry runs and LDIF still read the directory to compute the changes;
	 * LDIF without a server (uri "-") only adds. */
	int offline = o->ldif && strcmp(o->dir.uri, "-") == 0;
	int rc = smz_dir_open(&o->dir, &d, e);
	if (!rc && !offline)
		rc = smz_dir_connect(d, e);
	if (rc) {
		smz_dir_close(d);
		return rc;
	}
	struct smz_pem_reader *r = smz_pem_reader_new(in);
	for (;;) {
		struct smz_pem_block b;
		struct smz_err be = {0};
		int got = smz_pem_next(r, &b, &be);
		if (got == 0)
			break;
		const unsigned char *q = b.der;
		X509 *x = got > 0 && !strcmp(b.type, "CERTIFICATE")
				  ? d2i_X509(NULL, &q, (long)b.len)
				  : NULL;
		/* the entries it goes to: its mailboxes, as the vault files it */
		char addrs[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX];
		size_t na = 0;
		struct smz_err me = {0};
		if (x && smz_cert_mailboxes(x, addrs, &na, &me) < 0)
			na = 0;
		if (!x || na == 0) {
			char id[64];
			snprintf(id, sizeof id, "certificate %zu", b.index);
			st->rejected++;
			o->report(o->arg, id, SMZ_PB_FAILED,
				  got < 0     ? be.msg
				  : !x	      ? "not an X.509 certificate"
				  : me.msg[0] ? me.msg
					      : "no mail address");
		}
		for (size_t i = 0; x && i < na; i++) {
			if (rc || smz_dir_down(d)) {
				st->not_applied++;
				o->report(o->arg, addrs[i], SMZ_PB_NOT_APPLIED, NULL);
				continue;
			}
			if (offline) {
				struct smz_dir_change ch = {.add = b.der, .add_len = b.len};
				/* mail=ADDRESS,BASE, the value escaped as RFC 4514 says */
				char dn[2 * SMZ_ADDR_MAX + 1100];
				size_t k = (size_t)snprintf(dn, sizeof dn, "mail=");
				for (const char *a = addrs[i]; *a && k + 3 < sizeof dn; a++) {
					if (strchr(",+\"\\<>;=#", *a))
						dn[k++] = '\\';
					dn[k++] = *a;
				}
				snprintf(dn + k, sizeof dn - k, "%s%s",
					 o->dir.base && *o->dir.base ? "," : "",
					 o->dir.base ? o->dir.base : "");
				smz_dir_ldif(NULL, o->ldif, dn, &ch);
				st->planned++;
				o->report(o->arg, addrs[i], SMZ_PB_PLANNED,
					  "LDIF written without a server: dn mail=ADDRESS,BASE");
				continue;
			}
			rc = publish_address(o, d, x, b.der, b.len, addrs[i], st, e);
		}
		ERR_clear_error();
		X509_free(x);
		smz_pem_block_clear(&b);
	}
	smz_pem_reader_free(r);
	smz_dir_close(d);
	return rc;
}
