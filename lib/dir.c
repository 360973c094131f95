#include "dir.h"

#include <arpa/inet.h>
#include <ldap.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#define CERT_ATTR "userCertificate;binary"
#define SMIME_ATTR "userSMIMECertificate"

struct smz_dir {
	struct smz_dir_opts o;
	LDAP *ld;
	struct smz_err *e;     /* the current call's */
	int down;	       /* the server went away */
	const char *cert_attr; /* userCertificate;binary, or plain for AD */
};

/* Active Directory (and Samba AD) accept userCertificate;binary in a
 * modify but store nothing: there the attribute is named without the
 * option.  The rootDSE says which server this is. */
#define AD_CAPABILITY "1.2.840.113556.1.4.800"

static void
detect_server(struct smz_dir *c)
{
	char *attrs[] = {"supportedCapabilities", NULL};
	LDAPMessage *res = NULL;
	c->cert_attr = CERT_ATTR;
	if (ldap_search_ext_s(c->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
			      NULL, 1, &res) == LDAP_SUCCESS) {
		LDAPMessage *m = ldap_first_entry(c->ld, res);
		struct berval **v = m ? ldap_get_values_len(c->ld, m, "supportedCapabilities")
				      : NULL;
		for (int i = 0; v && v[i]; i++)
			if (v[i]->bv_len == strlen(AD_CAPABILITY) &&
			    !memcmp(v[i]->bv_val, AD_CAPABILITY, v[i]->bv_len))
				c->cert_attr = "userCertificate";
		ldap_value_free_len(v);
	}
	ldap_msgfree(res);
}

static int
ldap_fail(struct smz_dir *c, int r, const char *what)
{
	if (r == LDAP_SERVER_DOWN || r == LDAP_CONNECT_ERROR || r == LDAP_TIMEOUT ||
	    r == LDAP_UNAVAILABLE || r == LDAP_BUSY) {
		c->down = 1;
		return smz_err_set(c->e, SMZ_ERR_UNAVAILABLE, "%s: %s: %s", c->o.uri, what,
				   ldap_err2string(r));
	}
	if (r == LDAP_FILTER_ERROR)
		return smz_err_set(c->e, SMZ_ERR_CONFIG, "%s: bad search filter %s", what,
				   c->o.filter);
	if (r == LDAP_INVALID_CREDENTIALS || r == LDAP_INSUFFICIENT_ACCESS ||
	    r == LDAP_INAPPROPRIATE_AUTH || r == LDAP_STRONG_AUTH_REQUIRED ||
	    r == LDAP_CONFIDENTIALITY_REQUIRED)
		return smz_err_set(c->e, SMZ_ERR_PERM, "%s: %s: %s", c->o.uri, what,
				   ldap_err2string(r));
	return smz_err_set(c->e, SMZ_ERR_DATA, "%s: %s", what, ldap_err2string(r));
}

/* SASL EXTERNAL asks nothing: the server takes the peer's credentials. */
static int
no_interaction(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	(void)ld, (void)flags, (void)defaults, (void)in;
	return LDAP_SUCCESS;
}

/* Is the URI's host the loopback address (127.0.0.0/8, ::1) or exactly
 * "localhost"?  Parsed, not matched: ldap://127.x.example.net is not. */
static int
is_loopback(const char *uri)
{
	const char *h = strstr(uri, "://");
	if (!h)
		return 0;
	h += 3;
	char host[256];
	size_t n = 0;
	if (*h == '[') {
		for (h++; *h && *h != ']' && n + 1 < sizeof host; h++)
			host[n++] = *h;
	} else {
		for (; *h && *h != ':' && *h != '/' && n + 1 < sizeof host; h++)
			host[n++] = *h;
	}
	host[n] = 0;
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int
connect_dir(struct smz_dir *c)
{
	const struct smz_dir_opts *o = &c->o;
	int r = ldap_initialize(&c->ld, o->uri);
	if (r != LDAP_SUCCESS)
		return smz_err_set(c->e, SMZ_ERR_CONFIG, "%s: not an LDAP URI (%s)", o->uri,
				   ldap_err2string(r));
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
	struct timeval tv = {o->timeout > 0 ? o->timeout : 10, 0};
	ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv);
	/* verification always on; a CA file replaces the system's */
	ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (o->tls_ca)
		ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, o->tls_ca);
	ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	int starttls = o->starttls >= 0
			       ? o->starttls
			       : strncmp(o->uri, "ldap://", 7) == 0 && !is_loopback(o->uri);
	if (starttls && (r = ldap_start_tls_s(c->ld, NULL, NULL)) != LDAP_SUCCESS) {
		int rc = ldap_fail(c, r, "StartTLS (is the server's certificate trusted?)");
		if (c->e)
			c->e->need = SMZ_NEED_TLS_CA;
		return rc;
	}
	struct berval cred = {0, NULL};
	if (o->bind_dn) {
		cred.bv_val = (char *)o->bind_pw->buf;
		cred.bv_len = o->bind_pw->len;
		r = ldap_sasl_bind_s(c->ld, o->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	} else if (strncmp(o->uri, "ldapi://", 8) == 0) {
		r = ldap_sasl_interactive_bind_s(c->ld, NULL, "EXTERNAL", NULL, NULL,
						 LDAP_SASL_QUIET, no_interaction, NULL);
	} else {
		r = ldap_sasl_bind_s(c->ld, NULL, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	}
	if (r != LDAP_SUCCESS)
		return ldap_fail(c, r, "bind");
	detect_server(c);
	return 0;
}

/* The filter for one address: the template with every %s replaced by the
 * RFC 4515-escaped address (never through printf), so that AD's
 * (|(mail=%s)(proxyAddresses=smtp:%s)) works. */
static char *
make_filter(const char *tmpl, const char *addr)
{
	struct berval in = {strlen(addr), (char *)addr}, esc = {0, NULL};
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return NULL;
	size_t n = 0;
	for (const char *p = tmpl; (p = strstr(p, "%s")); p += 2)
		n++;
	size_t cap = strlen(tmpl) + n * esc.bv_len + 1, k = 0;
	char *out = n ? malloc(cap) : NULL;
	for (const char *p = tmpl; out && *p;) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(out + k, esc.bv_val, esc.bv_len);
			k += esc.bv_len;
			p += 2;
		} else {
			out[k++] = *p++;
		}
	}
	if (out)
		out[k] = 0;
	ber_memfree(esc.bv_val);
	return out;
}

void
smz_dir_entry_free(struct smz_dir_entry *en)
{
	ldap_memfree(en->dn);
	ldap_value_free_len(en->certs);
	ldap_value_free_len(en->smime);
	memset(en, 0, sizeof *en);
}

int
smz_dir_find(struct smz_dir *c, const char *addr, struct smz_dir_entry *en, char *why, size_t cap,
	     struct smz_err *e)
{
	int rc = c->ld ? 0 : smz_dir_connect(c, e);
	if (rc)
		return rc;
	c->e = e;
	char *filter = make_filter(c->o.filter, addr);
	char *attrs[] = {(char *)c->cert_attr, SMIME_ATTR, NULL};
	LDAPMessage *res = NULL;
	if (!filter)
		return smz_err_set(c->e, SMZ_ERR_INTERNAL, "out of memory");
	struct timeval tv = {c->o.timeout > 0 ? c->o.timeout : 10, 0};
	int r = ldap_search_ext_s(c->ld, c->o.base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL,
				  NULL, &tv, 2, &res);
	free(filter);
	if (r == LDAP_SIZELIMIT_EXCEEDED) {
		snprintf(why, cap, "more than one directory entry matches");
		ldap_msgfree(res);
		return 1;
	}
	if (r != LDAP_SUCCESS) {
		ldap_msgfree(res);
		if (r == LDAP_NO_SUCH_OBJECT) {
			snprintf(why, cap, "base %s does not exist", c->o.base);
			return 1;
		}
		return ldap_fail(c, r, "search");
	}
	int n = ldap_count_entries(c->ld, res);
	if (n != 1) {
		snprintf(why, cap, n == 0 ? "no directory entry" : "%d directory entries match", n);
		ldap_msgfree(res);
		return 1;
	}
	LDAPMessage *m = ldap_first_entry(c->ld, res);
	en->dn = ldap_get_dn(c->ld, m);
	en->certs = ldap_get_values_len(c->ld, m, c->cert_attr);
	if (!en->certs) /* some servers return the attribute without its option */
		en->certs = ldap_get_values_len(c->ld, m, "userCertificate");
	en->smime = ldap_get_values_len(c->ld, m, SMIME_ATTR);
	ldap_msgfree(res);
	return 0;
}

X509 *
smz_dir_value_cert(const struct berval *bv)
{
	const unsigned char *q = (const unsigned char *)bv->bv_val;
	X509 *x = d2i_X509(NULL, &q, (long)bv->bv_len);
	ERR_clear_error();
	return x;
}

int
smz_dir_has_value(struct berval **vals, const unsigned char *der, size_t len)
{
	for (int i = 0; vals && vals[i]; i++)
		if (vals[i]->bv_len == len && memcmp(vals[i]->bv_val, der, len) == 0)
			return 1;
	return 0;
}

static void
ldif_value(FILE *f, const char *attr, const void *v, size_t len)
{
	BIO *b64 = BIO_new(BIO_f_base64()), *mem = BIO_new(BIO_s_mem());
	BIO_set_flags(b64, BIO_FLAGS_BASE64_NO_NL);
	BIO_push(b64, mem);
	BIO_write(b64, v, (int)len);
	(void)BIO_flush(b64);
	char *p;
	long l = BIO_get_mem_data(mem, &p);
	fprintf(f, "%s:: %.*s\n", attr, (int)l, p);
	BIO_free_all(b64);
}

/* RFC 2849 SAFE-STRING: printable ASCII, not starting with space, ':' or '<' */
static int
ldif_safe(const char *s)
{
	if (!*s || *s == ' ' || *s == ':' || *s == '<')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

void
smz_dir_ldif(const struct smz_dir *d, FILE *f, const char *dn, const struct smz_dir_change *ch)
{
	const char *attr = d && d->cert_attr ? d->cert_attr : CERT_ATTR;
	if (ldif_safe(dn))
		fprintf(f, "dn: %s\n", dn);
	else
		ldif_value(f, "dn", dn, strlen(dn));
	fputs("changetype: modify\n", f);
	if (ch->add) {
		fprintf(f, "add: %s\n", attr);
		ldif_value(f, attr, ch->add, ch->add_len);
		fputs("-\n", f);
	}
	for (int i = 0; i < ch->ndel; i++) {
		fprintf(f, "delete: %s\n", attr);
		ldif_value(f, attr, ch->del[i]->bv_val, ch->del[i]->bv_len);
		fputs("-\n", f);
	}
	if (ch->smime) {
		fputs("replace: " SMIME_ATTR "\n", f);
		ldif_value(f, SMIME_ATTR, ch->smime, (size_t)ch->smime_len);
		fputs("-\n", f);
	} else if (ch->smime_del) {
		fputs("delete: " SMIME_ATTR "\n-\n", f);
	}
	fputs("\n", f);
}

int
smz_dir_modify(struct smz_dir *c, const char *dn, const struct smz_dir_change *ch,
	       struct smz_err *e)
{
	c->e = e;
	LDAPMod m[3], *mods[4];
	struct berval addv, smv, *addvals[2] = {&addv, NULL}, *smvals[2] = {&smv, NULL},
				 *delvals[SMZ_DIR_DEL_MAX + 1];
	int n = 0;
	if (ch->add) {
		addv = (struct berval){ch->add_len, (char *)ch->add};
		m[n] = (LDAPMod){.mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES,
				 .mod_type = (char *)c->cert_attr,
				 .mod_bvalues = addvals};
		n++;
	}
	if (ch->ndel) {
		for (int i = 0; i < ch->ndel; i++)
			delvals[i] = ch->del[i];
		delvals[ch->ndel] = NULL;
		m[n] = (LDAPMod){.mod_op = LDAP_MOD_DELETE | LDAP_MOD_BVALUES,
				 .mod_type = (char *)c->cert_attr,
				 .mod_bvalues = delvals};
		n++;
	}
	if (ch->smime) {
		smv = (struct berval){(ber_len_t)ch->smime_len, (char *)ch->smime};
		m[n] = (LDAPMod){.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES,
				 .mod_type = SMIME_ATTR,
				 .mod_bvalues = smvals};
		n++;
	} else if (ch->smime_del) {
		m[n] = (LDAPMod){.mod_op = LDAP_MOD_DELETE | LDAP_MOD_BVALUES,
				 .mod_type = SMIME_ATTR,
				 .mod_bvalues = NULL};
		n++;
	}
	for (int i = 0; i < n; i++)
		mods[i] = &m[i];
	mods[n] = NULL;
	int r = ldap_modify_ext_s(c->ld, dn, mods, NULL, NULL);
	return r == LDAP_SUCCESS ? 0 : ldap_fail(c, r, "modify");
}

int
smz_dir_connect(struct smz_dir *d, struct smz_err *e)
{
	d->e = e;
	if (d->ld)
		return 0;
	int rc = connect_dir(d);
	if (rc && d->ld) {
		ldap_unbind_ext_s(d->ld, NULL, NULL);
		d->ld = NULL;
	}
	return rc;
}

int
smz_dir_down(const struct smz_dir *d)
{
	return d->down;
}

int
smz_dir_open(const struct smz_dir_opts *o, struct smz_dir **out, struct smz_err *e)
{
	struct smz_dir *d = calloc(1, sizeof *d);
	if (!d)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	d->o = *o;
	d->cert_attr = CERT_ATTR;
	*out = d;
	return 0;
}

void
smz_dir_close(struct smz_dir *d)
{
	if (!d)
		return;
	if (d->ld)
		ldap_unbind_ext_s(d->ld, NULL, NULL);
	free(d);
}

int
smz_dir_lookup(void *arg, const char *addr, STACK_OF(X509) * out, struct smz_err *e)
{
	struct smz_dir *d = arg;
	struct smz_dir_entry en = {0};
	char why[200];
	int rc = smz_dir_find(d, addr, &en, why, sizeof why, e);
	if (rc == 1)
		return 0; /* no entry: no certificate from the directory */
	if (rc)
		return rc;
	for (int i = 0; en.certs && en.certs[i]; i++) {
		X509 *x = smz_dir_value_cert(en.certs[i]);
		if (x && !sk_X509_push(out, x))
			X509_free(x);
	}
	smz_dir_entry_free(&en);
	return 0;
}
