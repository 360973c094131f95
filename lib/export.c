#include "export.h"
#include "addr.h"
#include "dbenv.h"
#include "fileio.h"
#include "keys.h"
#include "threads.h"
#include "vault.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <plist/plist.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define P12_ITER 2048
#define MAX_KEYS 64

void
smz_export_password(char *out)
{
	static const char alphabet[] = "23456789abcdefghjkmnpqrstuvwxyz"; /* no 0 1 i l o */
	size_t k = 0;
	for (int i = 0; i < 24; i++) {
		if (i && i % 4 == 0)
			out[k++] = '-';
		out[k++] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	}
	out[k] = 0;
}

int
smz_export_p12(EVP_PKEY *const *keys, X509 *const *certs, const char *const *names, size_t n,
	       STACK_OF(X509) * chain, const char *profile, const char *pass, unsigned char **der,
	       size_t *len, struct smz_err *e)
{
	int modern = strcmp(profile, "modern") == 0;
	/* named explicitly: never the library's defaults */
	int key_nid = modern ? NID_aes_256_cbc : NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
	int cert_nid = modern ? NID_aes_256_cbc : NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
	const EVP_MD *mac = modern ? EVP_sha256() : EVP_sha1();
	STACK_OF(PKCS12_SAFEBAG) *certbags = NULL, *keybags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	PKCS12 *p12 = NULL;
	int rc = SMZ_ERR_INTERNAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char id[SMZ_KEYID_LEN];
		PKCS12_SAFEBAG *cb = PKCS12_add_cert(&certbags, certs[i]);
		PKCS12_SAFEBAG *kb = PKCS12_add_key_ex(&keybags, keys[i], 0, P12_ITER, key_nid,
						       pass, NULL, NULL);
		/* localKeyID pairs each key with its certificate */
		if (!cb || !kb || smz_key_id(keys[i], id) ||
		    !PKCS12_add_localkeyid(cb, id, SMZ_KEYID_LEN) ||
		    !PKCS12_add_localkeyid(kb, id, SMZ_KEYID_LEN) ||
		    !PKCS12_add_friendlyname_utf8(cb, names[i], -1) ||
		    !PKCS12_add_friendlyname_utf8(kb, names[i], -1))
			goto out;
	}
	for (int i = 0; chain && i < sk_X509_num(chain); i++)
		if (!PKCS12_add_cert(&certbags, sk_X509_value(chain, i)))
			goto out;
	if (!PKCS12_add_safe_ex(&safes, certbags, cert_nid, P12_ITER, pass, NULL, NULL) ||
	    !PKCS12_add_safe_ex(&safes, keybags, -1, 0, NULL, NULL, NULL) ||
	    !(p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL)) ||
	    !PKCS12_set_mac(p12, pass, -1, NULL, 0, P12_ITER, mac))
		goto out;
	unsigned char *buf = NULL;
	int l = i2d_PKCS12(p12, &buf);
	if (l <= 0)
		goto out;
	*der = buf;
	*len = (size_t)l;
	rc = 0;
out:
	if (rc)
		smz_err_ssl(e, rc, "cannot build the PKCS#12");
	PKCS12_free(p12);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_PKCS12_SAFEBAG_pop_free(certbags, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(keybags, PKCS12_SAFEBAG_free);
	return rc;
}

/* A stable UUID from a name, so re-deploying a profile replaces it. */
static void
stable_uuid(const char *ns, const char *name, char out[37])
{
	unsigned char h[16];
	crypto_generichash_state st;
	crypto_generichash_init(&st, (const unsigned char *)"smz-mobileconfig", 16, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)ns, strlen(ns));
	crypto_generichash_update(&st, (const unsigned char *)"|", 1);
	crypto_generichash_update(&st, (const unsigned char *)name, strlen(name));
	crypto_generichash_final(&st, h, sizeof h);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x50); /* version 5 style: name-based */
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12],
		 h[13], h[14], h[15]);
}

static plist_t
payload(const char *type, const char *id, const char *uuid, const char *display)
{
	plist_t d = plist_new_dict();
	plist_dict_set_item(d, "PayloadType", plist_new_string(type));
	plist_dict_set_item(d, "PayloadVersion", plist_new_uint(1));
	plist_dict_set_item(d, "PayloadIdentifier", plist_new_string(id));
	plist_dict_set_item(d, "PayloadUUID", plist_new_string(uuid));
	plist_dict_set_item(d, "PayloadDisplayName", plist_new_string(display));
	return d;
}

struct key_item {
	json_t *rec;
	EVP_PKEY *key;
	X509 *cert;
	char name[SMZ_ADDR_MAX + 64], id[65];
};

static int
mobileconfig(const struct smz_export_opts *o, const char *addr, struct key_item *k, size_t n,
	     const char *pass, char **xml, uint32_t *xlen, struct smz_err *e)
{
	char uuid[37], ident[SMZ_ADDR_MAX + 96];
	plist_t content = plist_new_array();
	X509 *root = NULL;
	for (int i = 0; o->chain && i < sk_X509_num(o->chain); i++)
		if (X509_check_issued(sk_X509_value(o->chain, i), sk_X509_value(o->chain, i)) ==
		    X509_V_OK)
			root = sk_X509_value(o->chain, i);
	if (root) {
		unsigned char *der = NULL;
		int l = i2d_X509(root, &der);
		char rid[65];
		unsigned char h[32];
		crypto_hash_sha256(h, der, (size_t)l);
		smz_hex(h, sizeof h, rid);
		stable_uuid("root", rid, uuid);
		snprintf(ident, sizeof ident, "smz.%s.root", addr);
		plist_t p = payload("com.apple.security.root", ident, uuid, "S/MIME root CA");
		plist_dict_set_item(p, "PayloadContent", plist_new_data((char *)der, (uint64_t)l));
		plist_array_append_item(content, p);
		OPENSSL_free(der);
	}
	char current_uuid[37] = "";
	for (size_t i = 0; i < n; i++) {
		unsigned char *der = NULL;
		size_t len = 0;
		const char *nm = k[i].name;
		int rc = smz_export_p12(&k[i].key, &k[i].cert, &nm, 1, NULL, o->profile, pass, &der,
					&len, e);
		if (rc) {
			plist_free(content);
			return rc;
		}
		stable_uuid(addr, k[i].id, uuid);
		if (i == 0)
			memcpy(current_uuid, uuid, sizeof uuid);
		snprintf(ident, sizeof ident, "smz.%s.key.%.16s", addr, k[i].id);
		plist_t p = payload("com.apple.security.pkcs12", ident, uuid, k[i].name);
		plist_dict_set_item(p, "PayloadContent", plist_new_data((char *)der, len));
		plist_dict_set_item(p, "Password", plist_new_string(pass));
		char fn[SMZ_ADDR_MAX + 40];
		snprintf(fn, sizeof fn, "%s-%.16s.p12", addr, k[i].id);
		plist_dict_set_item(p, "PayloadCertificateFileName", plist_new_string(fn));
		plist_array_append_item(content, p);
		OPENSSL_clear_free(der, len);
	}
	if (o->policy->imap_host[0] && o->policy->smtp_host[0] && current_uuid[0]) {
		/* the mail account, signing and encrypting with the current identity */
		stable_uuid("mail", addr, uuid);
		snprintf(ident, sizeof ident, "smz.%s.mail", addr);
		plist_t p = payload("com.apple.mail.managed", ident, uuid, addr);
		plist_dict_set_item(p, "EmailAccountType", plist_new_string("EmailTypeIMAP"));
		plist_dict_set_item(p, "EmailAddress", plist_new_string(addr));
		plist_dict_set_item(p, "IncomingMailServerHostName",
				    plist_new_string(o->policy->imap_host));
		plist_dict_set_item(p, "OutgoingMailServerHostName",
				    plist_new_string(o->policy->smtp_host));
		plist_dict_set_item(p, "SMIMEEnabled", plist_new_bool(1));
		plist_dict_set_item(p, "SMIMESigningEnabled", plist_new_bool(1));
		plist_dict_set_item(p, "SMIMESigningCertificateUUID",
				    plist_new_string(current_uuid));
		plist_dict_set_item(p, "SMIMEEncryptionEnabled", plist_new_bool(1));
		plist_dict_set_item(p, "SMIMEEncryptionCertificateUUID",
				    plist_new_string(current_uuid));
		plist_array_append_item(content, p);
	}
	stable_uuid("profile", addr, uuid);
	snprintf(ident, sizeof ident, "smz.%s", addr);
	char display[SMZ_ADDR_MAX + 32];
	snprintf(display, sizeof display, "S/MIME for %s", addr);
	plist_t top = payload("Configuration", ident, uuid, display);
	plist_dict_set_item(top, "PayloadContent", content);
	plist_to_xml(top, xml, xlen);
	plist_free(top);
	return *xml ? 0 : smz_err_set(e, SMZ_ERR_INTERNAL, "cannot write the property list");
}

struct collect {
	struct key_item k[MAX_KEYS];
	size_t n;
};

static int
collect_cb(void *arg, json_t *rec)
{
	struct collect *c = arg;
	if (json_array_size(json_object_get(rec, "certs")) == 0 || c->n == MAX_KEYS)
		return 0;
	c->k[c->n].rec = json_incref(rec);
	c->n++;
	return 0;
}

static int
order(const void *a, const void *b)
{
	json_t *x = ((const struct key_item *)a)->rec, *y = ((const struct key_item *)b)->rec;
	int ax = strcmp(json_string_value(json_object_get(x, "state")) ?: "", "active") == 0;
	int ay = strcmp(json_string_value(json_object_get(y, "state")) ?: "", "active") == 0;
	if (ax != ay)
		return ay - ax; /* the current key first */
	json_int_t cx = json_integer_value(json_object_get(x, "created"));
	json_int_t cy = json_integer_value(json_object_get(y, "created"));
	return (cy > cx) - (cy < cx); /* then newest first */
}

static X509 *
newest_cert(json_t *rec)
{
	json_t *c = json_array_get(json_object_get(rec, "certs"),
				   json_array_size(json_object_get(rec, "certs")) - 1);
	return smz_cert_from_b64(json_string_value(json_object_get(c, "der")));
}

static int
write_secret_file(const char *dir, const char *name, const void *data, size_t len, int dirsync,
		  struct smz_err *e)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: path too long", name);
	struct smz_err we = {0};
	int rc = dirsync ? smz_file_write_atomic(path, data, len, 0600, &we)
			 : smz_file_write_atomic_nodirsync(path, data, len, 0600, &we);
	if (rc)
		rc = smz_err_set(e, rc == SMZ_ERR_IO ? SMZ_ERR_CANTCREAT : rc, "%s", we.msg);
	return rc;
}

/* An export into a directory that has a passwords.tsv already (an earlier
 * run's) keeps its lines for the addresses not exported again: replacing
 * the file would lose the passwords of bundles still there.  merged stays
 * empty when there is nothing to keep. */
static int
keep_earlier_passwords(const char *dir, const struct smz_secret *tsv, size_t tlen,
		       struct smz_secret *merged, size_t *mlen, struct smz_err *e)
{
	char path[PATH_MAX], *old = NULL;
	size_t olen = 0;
	if ((size_t)snprintf(path, sizeof path, "%s/passwords.tsv", dir) >= sizeof path ||
	    access(path, F_OK) != 0)
		return 0;
	struct smz_err re = {0};
	int rc = smz_file_read(path, (size_t)64 << 20, &old, &olen, &re);
	if (rc)
		return smz_err_set(e, rc, "%s: %s", path, re.msg);
	rc = smz_secret_alloc(merged, olen + tlen + 1)
		     ? smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory")
		     : 0;
	const char *nw = (const char *)tsv->buf, *hdr_end = memchr(nw, '\n', tlen);
	size_t n = 0;
	if (!rc && hdr_end) { /* the header, then the earlier lines kept */
		size_t hl = (size_t)(hdr_end - nw) + 1;
		memcpy(merged->buf, nw, hl);
		n = hl;
		const char *line = memchr(old, '\n', olen);
		for (line = line ? line + 1 : old + olen; line < old + olen;) {
			const char *end = memchr(line, '\n', (size_t)(old + olen - line));
			size_t ll = end ? (size_t)(end - line) + 1 : (size_t)(old + olen - line);
			const char *tab = memchr(line, '\t', ll);
			int again = 0;
			/* exported again now: its new line replaces this one */
			for (const char *q = hdr_end + 1; tab && q < nw + tlen && !again;) {
				const char *qe = memchr(q, '\n', (size_t)(nw + tlen - q));
				size_t al = (size_t)(tab - line);
				again = (size_t)(nw + tlen - q) > al && memcmp(q, line, al) == 0 &&
					q[al] == '\t';
				q = qe ? qe + 1 : nw + tlen;
			}
			if (tab && !again) {
				memcpy(merged->buf + n, line, ll);
				n += ll;
				if (line[ll - 1] != '\n')
					merged->buf[n++] = '\n';
			}
			line += ll;
		}
		memcpy(merged->buf + n, hdr_end + 1, tlen - hl);
		n += tlen - hl;
		*mlen = n;
	}
	sodium_memzero(old, olen);
	free(old);
	return rc;
}

/* One address's bundle, built in memory. */
struct built {
	char addr[SMZ_ADDR_MAX], pw[32], subject[SMZ_ADDR_MAX + MAX_KEYS * 18];
	unsigned char *p12;
	size_t p12_len, keys;
	char *xml;
	uint32_t xml_len;
	struct collect c; /* the records, read from the vault by the main thread */
	int rc;
	struct smz_err e;
};

static void
built_clear(struct built *b)
{
	OPENSSL_clear_free(b->p12, b->p12_len);
	if (b->xml)
		sodium_memzero(b->xml, b->xml_len);
	free(b->xml);
	b->p12 = NULL;
	b->xml = NULL;
	for (size_t i = 0; i < b->c.n; i++) {
		EVP_PKEY_free(b->c.k[i].key);
		X509_free(b->c.k[i].cert);
		json_decref(b->c.k[i].rec);
	}
	b->c.n = 0;
}

/* Main thread: the address's records with certificates, current first.
 * (The Berkeley DB handles are not opened for threads.) */
static int
gather(const struct smz_export_opts *o, struct built *b, struct smz_err *e)
{
	b->c.n = 0;
	int rc = smz_vault_history(o->vault, b->addr, o->policy->local_part_sensitive, collect_cb,
				   &b->c, e);
	if (rc)
		return rc;
	if (b->c.n == 0)
		return SMZ_ERR_NOTFOUND;
	qsort(b->c.k, b->c.n, sizeof b->c.k[0], order);
	if (o->current_only) {
		for (size_t i = 1; i < b->c.n; i++)
			json_decref(b->c.k[i].rec);
		b->c.n = 1;
	}
	return 0;
}

/* Worker threads: unseal, and build the PKCS#12 (and .mobileconfig); the
 * password hashing makes this the cost of an export. */
static int
make_bundle(const struct smz_export_opts *o, struct built *b, const char *pass, struct smz_err *e)
{
	struct collect *c = &b->c;
	EVP_PKEY *keys[MAX_KEYS];
	X509 *certs[MAX_KEYS];
	const char *names[MAX_KEYS];
	int rc = 0;
	snprintf(b->subject, sizeof b->subject, "%s", b->addr);
	for (size_t i = 0; i < c->n; i++) {
		struct key_item *k = &c->k[i];
		snprintf(k->id, sizeof k->id, "%s",
			 json_string_value(json_object_get(k->rec, "key_id")));
		if ((rc = smz_vault_unseal(o->vault, k->rec, &k->key, e)))
			return rc;
		if (!(k->cert = newest_cert(k->rec)))
			return smz_err_set(e, SMZ_ERR_DATA, "key %.16s: damaged certificate",
					   k->id);
		char date[32];
		smz_time_iso(json_integer_value(json_object_get(k->rec, "created")), date);
		date[10] = 0;
		const char *st = json_string_value(json_object_get(k->rec, "state"));
		snprintf(k->name, sizeof k->name, "%s %s%s", b->addr, date,
			 i == 0 && st && !strcmp(st, "active") ? " (current)" : "");
		keys[i] = k->key;
		certs[i] = k->cert;
		names[i] = k->name;
		size_t l = strlen(b->subject);
		snprintf(b->subject + l, sizeof b->subject - l, " %.16s", k->id);
	}
	if ((rc = smz_export_p12(keys, certs, names, c->n, o->chain, o->profile, pass, &b->p12,
				 &b->p12_len, e)))
		return rc;
	if (o->mobileconfig)
		rc = mobileconfig(o, b->addr, c->k, c->n, pass, &b->xml, &b->xml_len, e);
	b->keys = c->n;
	return rc;
}

struct pool {
	const struct smz_export_opts *o;
	struct built *g;
};

static void
build(void *arg, size_t i)
{
	struct pool *p = arg;
	struct built *b = &p->g[i];
	if (b->rc)
		return;
	const char *pass = p->o->password ? (const char *)p->o->password->buf : b->pw;
	b->rc = make_bundle(p->o, b, pass, &b->e);
}

struct all {
	json_t *seen;  /* address key -> address */
	int sensitive; /* the policy's local-part rule: one bundle per mailbox */
};

static int
all_cb(void *arg, json_t *rec)
{
	struct all *a = arg;
	size_t i;
	json_t *ad;
	if (json_array_size(json_object_get(rec, "certs")) == 0)
		return 0;
	json_array_foreach(json_object_get(rec, "addresses"), i, ad)
	{
		char key[SMZ_ADDR_MAX];
		smz_addr_key(json_string_value(ad) ? json_string_value(ad) : "", a->sensitive, key);
		if (!json_object_get(a->seen, key))
			json_object_set(a->seen, key, ad);
	}
	return 0;
}

int
smz_export_all(const struct smz_export_opts *o, struct smz_export_stats *st, struct smz_err *e)
{
	struct all a = {json_object(), o->policy->local_part_sensitive};
	int rc = smz_vault_foreach(o->vault, all_cb, &a, e);
	size_t n = json_object_size(a.seen), i = 0;
	const char **list = calloc(n + 1, sizeof *list);
	const char *k;
	json_t *v;
	json_object_foreach(a.seen, k, v) list[i++] = json_string_value(v);
	if (!rc)
		rc = list ? smz_export_run(o, list, n, st, e)
			  : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	free(list);
	json_decref(a.seen);
	return rc;
}

#define GROUP 64

/* ADDRESS + suffix as a file name: '/' and '%' (valid in a local part)
 * percent-encoded, so an address never names another directory. */
static int
file_name(const char *addr, const char *suffix, char *out, size_t cap)
{
	size_t k = 0;
	for (const char *a = addr; *a; a++) {
		if (k + 4 >= cap)
			return -1;
		if (*a == '/' || *a == '%')
			k += (size_t)snprintf(out + k, cap - k, "%%%02X", (unsigned char)*a);
		else
			out[k++] = *a;
	}
	return (size_t)snprintf(out + k, cap - k, "%s", suffix) < cap - k ? 0 : -1;
}

/* Audit a group of bundles (one transaction), then write them: no bundle
 * leaves the vault unaudited, and a group costs one commit. */
static int
write_group(const struct smz_export_opts *o, struct built *g, size_t n, struct smz_secret *tsv,
	    size_t *tlen, struct smz_export_stats *st, struct smz_err *e)
{
	struct pool p = {o, g};
	smz_threads_each(n, o->jobs, build, &p);
	struct smz_audit_entry a[GROUP];
	size_t na = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (g[i].rc == SMZ_ERR_DATA) {
			st->missing++;
			o->report(o->arg, g[i].addr, SMZ_EX_FAILED, 0, g[i].e.msg);
		} else if (g[i].rc) {
			rc = smz_err_set(e, g[i].rc, "%s", g[i].e.msg);
		} else {
			a[na++] = (struct smz_audit_entry){"export", g[i].subject,
							   o->reason ? o->reason : ""};
		}
	}
	if (!rc && na)
		rc = smz_vault_audit_batch(o->vault, a, na, e);
	for (size_t i = 0; !rc && i < n; i++) {
		if (g[i].rc)
			continue;
		char file[3 * SMZ_ADDR_MAX + 16], p12name[3 * SMZ_ADDR_MAX + 16];
		if (file_name(g[i].addr, ".p12", p12name, sizeof p12name) < 0 ||
		    file_name(g[i].addr, ".mobileconfig", file, sizeof file) < 0 ||
		    strlen(file) > 250) {
			st->missing++;
			o->report(o->arg, g[i].addr, SMZ_EX_FAILED, 0,
				  "address too long for a file name");
			continue;
		}
		rc = write_secret_file(o->out_dir, p12name, g[i].p12, g[i].p12_len, 0, e);
		if (!rc && g[i].xml)
			rc = write_secret_file(o->out_dir, file, g[i].xml, g[i].xml_len, 0, e);
		if (rc)
			break;
		st->written++;
		st->keys += g[i].keys;
		if (!o->password) {
			int l = snprintf((char *)tsv->buf + *tlen, tsv->len - *tlen, "%s\t%s\t%s\n",
					 g[i].addr, p12name, g[i].pw);
			if (l < 0 || (size_t)l >= tsv->len - *tlen) {
				rc = smz_err_set(e, SMZ_ERR_INTERNAL, "passwords.tsv overflow");
				break;
			}
			*tlen += (size_t)l;
		}
		o->report(o->arg, g[i].addr, SMZ_EX_WRITTEN, g[i].keys, NULL);
	}
	for (size_t i = 0; i < n; i++)
		built_clear(&g[i]);
	return rc;
}

int
smz_export_run(const struct smz_export_opts *o, const char *const *addresses, size_t n,
	       struct smz_export_stats *st, struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	if (mkdir(o->out_dir, 0700) < 0 && errno != EEXIST)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", o->out_dir, strerror(errno));
	if (access(o->out_dir, W_OK | X_OK) < 0)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", o->out_dir, strerror(errno));
	struct smz_secret tsv = {0};
	size_t tlen = 0, ng = 0;
	struct built *g = sodium_allocarray(GROUP, sizeof *g); /* holds passwords */
	/* a line: address, file name (up to 3x when encoded), password */
	int rc = (!o->password && smz_secret_alloc(&tsv, 64 + n * (4 * SMZ_ADDR_MAX + 64))) || !g;
	if (rc) {
		if (g)
			sodium_free(g);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	}
	memset(g, 0, GROUP * sizeof *g);
	if (!o->password)
		tlen = (size_t)snprintf((char *)tsv.buf, tsv.len, "address\tfile\tpassword\n");
	for (size_t i = 0; !rc && i < n; i++) {
		struct built *b = &g[ng];
		struct smz_err ae = {0};
		if (smz_addr_normalize(addresses[i], b->addr, &ae) < 0) {
			st->missing++;
			o->report(o->arg, addresses[i], SMZ_EX_MISSING, 0, ae.msg);
			continue;
		}
		if (!o->password)
			smz_export_password(b->pw);
		struct smz_err xe = {0};
		int r = gather(o, b, &xe);
		b->rc = 0;
		if (r == SMZ_ERR_NOTFOUND) {
			st->missing++;
			o->report(o->arg, b->addr, SMZ_EX_MISSING, 0,
				  "no key with a certificate in the vault");
		} else if (r == SMZ_ERR_CANTCREAT || r == SMZ_ERR_IO || r == SMZ_ERR_TEMP ||
			   r == SMZ_ERR_INTERNAL || r == SMZ_ERR_PERM) {
			rc = smz_err_set(e, r, "%s", xe.msg);
		} else if (r) {
			st->missing++;
			o->report(o->arg, b->addr, SMZ_EX_FAILED, 0, xe.msg);
		} else if (++ng == GROUP) {
			rc = write_group(o, g, ng, &tsv, &tlen, st, e);
			ng = 0;
		}
		if (r)
			built_clear(b);
	}
	if (!rc)
		rc = write_group(o, g, ng, &tsv, &tlen, st, e);
	for (size_t i = 0; i < GROUP; i++)
		built_clear(&g[i]);
	sodium_free(g);
	if (!rc && st->written && smz_fsync_dir(o->out_dir) < 0)
		rc = smz_err_set(e, SMZ_ERR_IO, "%s: fsync: %s", o->out_dir, strerror(errno));
	/* even after a failure: the bundles written must not lose their passwords */
	if (!o->password && st->written) {
		struct smz_err te = {0};
		struct smz_secret merged = {0};
		size_t mlen = tlen;
		int r = keep_earlier_passwords(o->out_dir, &tsv, tlen, &merged, &mlen, &te);
		if (!r)
			r = write_secret_file(o->out_dir, "passwords.tsv",
					      merged.buf ? merged.buf : tsv.buf, mlen, 1, &te);
		smz_secret_free(&merged);
		if (!rc && r)
			rc = smz_err_set(e, r, "%s", te.msg);
	}
	smz_secret_free(&tsv);
	return rc;
}
