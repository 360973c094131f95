/* certpick: the certificates and keys a message may use; see certpick.h. */
#include "certpick.h"
#include "keys.h"
#include "mime.h"
#include "secret.h"
#include "smime-int.h"
#include "vault.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

int
smz_certpick_has_mailbox(X509 *x, const char *addr, int local_sensitive)
{
	char mb[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX], want[SMZ_ADDR_MAX], have[SMZ_ADDR_MAX];
	size_t n = 0;
	struct smz_err me;
	if (smz_cert_mailboxes(x, mb, &n, &me) < 0)
		return 0;
	smz_addr_key(addr, local_sensitive, want);
	for (size_t i = 0; i < n; i++) {
		smz_addr_key(mb[i], local_sensitive, have);
		if (strcmp(want, have) == 0)
			return 1;
	}
	return 0;
}

void
smz_certpick_mailbox(X509 *x, char *out, size_t cap)
{
	char mb[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX];
	size_t n = 0;
	struct smz_err me;
	if (smz_cert_mailboxes(x, mb, &n, &me) < 0 || n == 0)
		snprintf(out, cap, "?");
	else
		smz_printable(mb[0], out, cap);
}

enum use { USE_SIGN, USE_ENCRYPT };

static int
cert_usable(X509 *x, enum use u, time_t now)
{
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(x), &now) < 0)
		return 0;
	uint32_t ku = X509_get_key_usage(x); /* all bits when absent */
	uint32_t xku = X509_get_extended_key_usage(x);
	if (!(xku & XKU_SMIME))
		return 0;
	int ec = EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_EC;
	if (u == USE_SIGN)
		return (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) != 0;
	return (ku & (ec ? KU_KEY_AGREEMENT : KU_KEY_ENCIPHERMENT)) != 0;
}

struct pick {
	struct smz_smime *s;
	enum use use;
	time_t now;
	json_t *rec;
	X509 *cert;
	time_t nb;
	char why[160]; /* why the newest key was not picked, when none was */
};

/* A vault record's certificate (base64 DER), parsed once per engine:
 * OpenSSL 3.0 decodes its public key through the provider decoders, the
 * largest cost of a lookup.  A new reference, or NULL. */
static X509 *
cert_b64(struct smz_smime *s, const char *b64)
{
	unsigned char h[32];
	if (!b64)
		return NULL;
	crypto_generichash(h, sizeof h, (const unsigned char *)b64, strlen(b64), NULL, 0);
	for (size_t i = 0; i < s->npc; i++)
		if (memcmp(s->pc[i].b64, h, sizeof h) == 0)
			return X509_up_ref(s->pc[i].x) ? s->pc[i].x : NULL;
	X509 *x = smz_cert_from_b64(b64);
	if (!x || !X509_up_ref(x))
		return x;
	size_t n = s->npc < sizeof s->pc / sizeof s->pc[0] ? s->npc++ : s->pc_next;
	s->pc_next = (n + 1) % (sizeof s->pc / sizeof s->pc[0]);
	X509_free(s->pc[n].x);
	memcpy(s->pc[n].b64, h, sizeof h);
	s->pc[n].x = x;
	return x;
}

/* The newest usable, unrevoked certificate of an active key. */
static int
pick_cb(void *arg, json_t *rec)
{
	struct pick *p = arg;
	const char *st = json_string_value(json_object_get(rec, "state"));
	if (!st || strcmp(st, "active") != 0) {
		if (st && (strcmp(st, "revoked") == 0 || strcmp(st, "compromised") == 0))
			snprintf(p->why, sizeof p->why, "the key was revoked by the CA (%s)", st);
		return 0;
	}
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(rec, "certs"), i, c)
	{
		if (smz_vault_cert_revoked(c)) {
			const char *why = json_string_value(
				json_object_get(json_object_get(c, "revoked"), "reason"));
			snprintf(p->why, sizeof p->why, "its certificate was revoked (%s)",
				 why ? why : "?");
			continue;
		}
		X509 *x = cert_b64(p->s, json_string_value(json_object_get(c, "der")));
		json_int_t nb = json_integer_value(json_object_get(c, "not_before"));
		if (x && cert_usable(x, p->use, p->now) && (!p->cert || nb > p->nb)) {
			X509_free(p->cert);
			json_decref(p->rec);
			p->cert = x;
			p->rec = json_incref(rec);
			p->nb = (time_t)nb;
		} else {
			if (x && !p->cert)
				snprintf(p->why, sizeof p->why,
					 "no valid %s certificate (expired or "
					 "wrong usage)",
					 p->use == USE_SIGN ? "signing" : "encryption");
			X509_free(x);
		}
	}
	return 0;
}

/* rec's private key: one kept from an earlier message when the vault
 * would open the same sealed copy now, else unsealed (and kept). */
static int
unseal(struct smz_smime *s, json_t *rec, const char *id, EVP_PKEY **k, struct smz_err *e)
{
	const char *sealed;
	unsigned char h[32];
	int rc = smz_vault_sealed_for(s->cfg.vault, rec, &sealed, e);
	if (rc)
		return rc;
	crypto_generichash(h, sizeof h, (const unsigned char *)sealed, strlen(sealed), NULL, 0);
	for (size_t i = 0; i < s->nkept; i++)
		if (strcmp(s->kept[i].id, id) == 0 &&
		    sodium_memcmp(s->kept[i].sealed, h, 32) == 0 &&
		    EVP_PKEY_up_ref(s->kept[i].key)) {
			*k = s->kept[i].key;
			return 0;
		}
	rc = smz_vault_unseal(s->cfg.vault, rec, k, e);
	if (rc && s->nkept && smz_secret_heap_full()) {
		/* the kept keys fill the secure heap (many engines, large
		 * keys): they go, and this one is unsealed again */
		for (size_t i = 0; i < s->nkept; i++) {
			EVP_PKEY_free(s->kept[i].key);
			s->kept[i].key = NULL;
		}
		s->nkept = s->kept_next = 0;
		memset(e, 0, sizeof *e);
		rc = smz_vault_unseal(s->cfg.vault, rec, k, e);
	}
	if (rc || !EVP_PKEY_up_ref(*k))
		return rc;
	/* the oldest one makes room */
	size_t n = s->nkept < sizeof s->kept / sizeof s->kept[0] ? s->nkept++ : s->kept_next;
	s->kept_next = (n + 1) % (sizeof s->kept / sizeof s->kept[0]);
	struct smz_smime_kept *kp = &s->kept[n];
	EVP_PKEY_free(kp->key);
	snprintf(kp->id, sizeof kp->id, "%s", id);
	memcpy(kp->sealed, h, sizeof h);
	kp->key = *k;
	return 0;
}

int
smz_certpick_vault_key(struct smz_smime *s, json_t *rec, X509 *cert, const char *addr,
		       struct smz_smime_key **out, struct smz_err *e)
{
	const char *id = json_string_value(json_object_get(rec, "key_id"));
	int rc = !id ? smz_err_set(e, SMZ_ERR_DATA, "damaged vault record") : 0;
	for (size_t i = 0; !rc && i < s->nkeys; i++)
		if (strcmp(s->keys[i].id, id) == 0) {
			*out = &s->keys[i];
			X509_free(cert);
			return 0;
		}
	if (!rc && !s->cfg.vault_unlocked && s->cfg.unlock) {
		rc = s->cfg.unlock(s->cfg.unlock_arg, e);
		s->cfg.unlock = NULL;
		s->cfg.vault_unlocked = !rc;
	}
	if (!rc && !s->cfg.vault_unlocked)
		rc = smz_err_need(e, SMZ_ERR_PERM, SMZ_NEED_KEY_UNLOCK, "the vault is locked");
	EVP_PKEY *k = NULL;
	if (!rc)
		rc = unseal(s, rec, id, &k, e);
	struct smz_smime_key *n = rc ? NULL : realloc(s->keys, (s->nkeys + 1) * sizeof *n);
	if (!rc && !n)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (rc) {
		EVP_PKEY_free(k);
		X509_free(cert);
		return rc;
	}
	s->keys = n;
	struct smz_smime_key *kc = &s->keys[s->nkeys++];
	memset(kc, 0, sizeof *kc);
	snprintf(kc->id, sizeof kc->id, "%s", id);
	snprintf(kc->addr, sizeof kc->addr, "%s", addr);
	kc->key = k;
	kc->cert = cert;
	*out = kc;
	return 0;
}

int
smz_certpick_signer(struct smz_smime *s, const char *addr, struct smz_smime_key **out,
		    struct smz_err *e)
{
	if (!s->cfg.vault)
		return smz_err_set(e, SMZ_ERR_USAGE, "signing needs the vault");
	char key[SMZ_ADDR_MAX], have[SMZ_ADDR_MAX];
	smz_addr_key(addr, s->cfg.local_sensitive, key);
	time_t now = time(NULL);
	for (size_t i = 0; i < s->nkeys; i++) { /* used in this run already */
		if (!s->keys[i].cert || !cert_usable(s->keys[i].cert, USE_SIGN, now))
			continue;
		smz_addr_key(s->keys[i].addr, s->cfg.local_sensitive, have);
		if (strcmp(key, have) == 0) {
			*out = &s->keys[i];
			return 0;
		}
	}
	struct pick p = {s, USE_SIGN, now, NULL, NULL, 0, ""};
	int rc = smz_vault_history(s->cfg.vault, addr, s->cfg.local_sensitive, pick_cb, &p, e);
	if (!rc && !p.rec)
		rc = smz_err_set(e, SMZ_ERR_NOTFOUND,
				 "%s has no active key with a valid "
				 "signing certificate in the vault%s%s",
				 addr, p.why[0] ? ": " : "", p.why);
	if (!rc) {
		rc = smz_certpick_vault_key(s, p.rec, p.cert, addr, out, e);
		p.cert = NULL;
	}
	json_decref(p.rec);
	X509_free(p.cert);
	return rc;
}

/* ---- the authenticated submitter ---- */

/* The mailboxes the authenticated sender may use: its own and every
 * mailbox of its active keys. */
struct own {
	char (*a)[SMZ_ADDR_MAX];
	int n, cap;
	int local_sensitive;
};

static int
own_cb(void *arg, json_t *rec)
{
	struct own *o = arg;
	const char *st = json_string_value(json_object_get(rec, "state"));
	if (!st || strcmp(st, "active") != 0)
		return 0;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(rec, "addresses"), i,
			   a) if (o->n < o->cap && json_string_value(a))
		snprintf(o->a[o->n++], SMZ_ADDR_MAX, "%s", json_string_value(a));
	return 0;
}

static int
own_has(const struct own *o, const char *addr)
{
	char want[SMZ_ADDR_MAX], have[SMZ_ADDR_MAX];
	smz_addr_key(addr, o->local_sensitive, want);
	for (int i = 0; i < o->n; i++) {
		smz_addr_key(o->a[i], o->local_sensitive, have);
		if (strcmp(want, have) == 0)
			return 1;
	}
	return 0;
}

int
smz_certpick_check_sender(struct smz_smime *s, GMimeMessage *m, const char *as, struct smz_err *e)
{
	char sender[SMZ_ADDR_MAX], list[64][SMZ_ADDR_MAX], hdr[SMZ_MIME_MAX_FROM][SMZ_ADDR_MAX];
	struct smz_err ae = {0};
	if (!s->cfg.vault)
		return smz_err_set(e, SMZ_ERR_USAGE, "signing needs the vault");
	if (smz_addr_normalize(s->cfg.sender, sender, &ae))
		return smz_err_set(e, SMZ_ERR_USAGE, "the authenticated sender: %s", ae.msg);
	struct own o = {list, 0, 64, s->cfg.local_sensitive};
	int rc = smz_vault_history(s->cfg.vault, sender, s->cfg.local_sensitive, own_cb, &o, e);
	if (rc && rc != SMZ_ERR_NOTFOUND)
		return rc;
	/* a sender without a key may still send as itself: no signature
	 * then (smz_certpick_signer says so), but no refusal either */
	snprintf(list[o.n < 64 ? o.n++ : 63], SMZ_ADDR_MAX, "%s", sender);
	static const char *const fields[] = {"From", "Sender"};
	for (size_t f = 0; f < 2; f++) {
		int n = 0, nf = 0;
		if (smz_mime_header_mailboxes(m, fields[f], hdr, SMZ_MIME_MAX_FROM, &n, &nf) < 0)
			return smz_err_set(e, SMZ_ERR_PERM,
					   "not-sender: %s: holds a mailbox that "
					   "cannot be read, or too many",
					   fields[f]);
		if (nf > 1)
			return smz_err_set(e, SMZ_ERR_PERM, "not-sender: %d %s: fields", nf,
					   fields[f]);
		for (int i = 0; i < n; i++)
			if (!own_has(&o, hdr[i]))
				return smz_err_set(e, SMZ_ERR_PERM,
						   "not-sender: %s: %s is not a "
						   "mailbox of the authenticated sender %s",
						   fields[f], hdr[i], sender);
	}
	if (!own_has(&o, as))
		return smz_err_set(e, SMZ_ERR_PERM,
				   "not-sender: %s is not a mailbox of the "
				   "authenticated sender %s",
				   as, sender);
	return 0;
}

/* ---- recipients ---- */

/* Append to a "; "-separated list of reasons. */
static void __attribute__((format(printf, 3, 4))) note(char *buf, size_t cap, const char *fmt, ...)
{
	size_t l = strlen(buf);
	if (l + 3 >= cap)
		return;
	if (l)
		l += (size_t)snprintf(buf + l, cap - l, "; ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + l, cap - l, fmt, ap);
	va_end(ap);
}

int
smz_certpick_revoked(struct smz_smime *s, X509 *x, char *why, size_t cap, time_t *at,
		     int *compromised)
{
	json_t *rec = NULL;
	const char *how = "";
	struct smz_err fe = {0};
	*at = 0;
	*compromised = 0;
	if (!s->cfg.vault || smz_vault_find_cert(s->cfg.vault, x, &rec, &how, &fe))
		return 0;
	const char *st = json_string_value(json_object_get(rec, "state"));
	int revoked = 0;
	if (st && (strcmp(st, "revoked") == 0 || strcmp(st, "compromised") == 0)) {
		snprintf(why, cap, "revoked: the CA revoked its key (%s)", st);
		*compromised = strcmp(st, "compromised") == 0;
		*at = (time_t)json_integer_value(json_object_get(rec, "state_changed"));
		revoked = 1;
	}
	unsigned char md[32];
	unsigned int mdl = 0;
	char fp[65] = "";
	if (X509_digest(x, s->sha256, md, &mdl) && mdl == 32)
		smz_hex(md, 32, fp);
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(rec, "certs"), i, c)
	{
		const char *cfp = json_string_value(json_object_get(c, "sha256"));
		json_t *rv = json_object_get(c, "revoked");
		if (!cfp || strcmp(cfp, fp) != 0 || !rv)
			continue;
		time_t when = (time_t)json_integer_value(json_object_get(rv, "at"));
		if (!revoked || (when && (!*at || when < *at)))
			*at = when;
		if (!revoked) {
			const char *r = json_string_value(json_object_get(rv, "reason"));
			snprintf(why, cap, "revoked by the CA (%s)", r ? r : "?");
			revoked = 1;
		}
	}
	json_decref(rec);
	return revoked;
}

/* May x carry mail for addr: one of its mailboxes, valid for encryption
 * now, chained to a trust anchor (and not on the CRL given), not revoked
 * as far as the vault knows?  0, or -1 with the reason in why. */
static int
recipient_ok(struct smz_smime *s, X509 *x, const char *addr, time_t now, char *why, size_t cap)
{
	if (!smz_certpick_has_mailbox(x, addr, s->cfg.local_sensitive)) {
		snprintf(why, cap, "not a certificate of this mailbox");
		return -1;
	}
	if (!cert_usable(x, USE_ENCRYPT, now)) {
		snprintf(why, cap, "expired, not yet valid, or not for encryption");
		return -1;
	}
	if (!s->cfg.trust) {
		snprintf(why, cap, "untrusted: no trust anchors to check it against");
		return -1;
	}
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = ctx && X509_STORE_CTX_init(ctx, s->cfg.trust, x, s->cfg.chain);
	if (ok) {
		/* no OpenSSL purpose: its S/MIME encryption purpose wants
		 * keyEncipherment, which EC keys (keyAgreement) never have;
		 * cert_usable checked the leaf's usages */
		X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_time(vp, now);
		if (s->cfg.crl_check)
			X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK);
		ok = X509_verify_cert(ctx) == 1;
		if (!ok) {
			int err = X509_STORE_CTX_get_error(ctx);
			snprintf(why, cap, "%s: %s",
				 err == X509_V_ERR_CERT_REVOKED ? "revoked" : "untrusted",
				 X509_verify_cert_error_string(err));
		}
	} else {
		snprintf(why, cap, "cannot check its chain");
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	time_t at;
	int compromised;
	if (ok && smz_certpick_revoked(s, x, why, cap, &at, &compromised))
		ok = 0;
	return ok ? 0 : -1;
}

/* The recipient's certificate: the vault's newest usable one, else one
 * from --cert files, else the directory's newest usable one; each must
 * pass recipient_ok, and what was refused is said per source. */
static int
find_recipient(struct smz_smime *s, const char *addr, time_t now, X509 **out, struct smz_err *e)
{
	char notes[700] = "", why[300];
	if (s->cfg.vault) {
		struct pick p = {s, USE_ENCRYPT, now, NULL, NULL, 0, ""};
		int rc = smz_vault_history(s->cfg.vault, addr, s->cfg.local_sensitive, pick_cb, &p,
					   e);
		json_decref(p.rec);
		if (rc && rc != SMZ_ERR_NOTFOUND)
			return rc;
		if (p.cert && recipient_ok(s, p.cert, addr, now, why, sizeof why) == 0) {
			*out = p.cert;
			return 0;
		}
		if (p.cert)
			note(notes, sizeof notes, "vault: %s", why);
		else if (p.why[0])
			note(notes, sizeof notes, "vault: %s", p.why);
		X509_free(p.cert);
	}
	for (int i = 0; i < sk_X509_num(s->cfg.certs); i++) {
		X509 *x = sk_X509_value(s->cfg.certs, i);
		if (!smz_certpick_has_mailbox(x, addr, s->cfg.local_sensitive))
			continue;
		if (recipient_ok(s, x, addr, now, why, sizeof why) == 0) {
			X509_up_ref(x);
			*out = x;
			return 0;
		}
		note(notes, sizeof notes, "given certificate: %s", why);
	}
	if (s->cfg.lookup) {
		STACK_OF(X509) *found = sk_X509_new_null();
		int rc = found ? s->cfg.lookup(s->cfg.lookup_arg, addr, found, e)
			       : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		X509 *best = NULL;
		for (int i = 0; !rc && i < sk_X509_num(found); i++) {
			X509 *x = sk_X509_value(found, i);
			if (recipient_ok(s, x, addr, now, why, sizeof why) < 0) {
				note(notes, sizeof notes, "directory: %s", why);
				continue;
			}
			if (!best || ASN1_TIME_compare(X509_get0_notBefore(x),
						       X509_get0_notBefore(best)) > 0)
				best = x;
		}
		if (best)
			X509_up_ref(best);
		sk_X509_pop_free(found, X509_free);
		if (rc)
			return rc;
		if (best) {
			*out = best;
			return 0;
		}
	}
	return smz_err_set(e, SMZ_ERR_NOTFOUND, "no usable encryption certificate for %s%s%s", addr,
			   notes[0] ? ": " : "", notes);
}

/* Recipient certificate for addr (find_recipient), remembered for the run. */
static int
recipient_cert(struct smz_smime *s, const char *addr, X509 **out, struct smz_err *e)
{
	time_t now = time(NULL);
	char key[SMZ_ADDR_MAX];
	smz_addr_key(addr, s->cfg.local_sensitive, key);
	for (size_t i = 0; i < s->nrc; i++)
		if (strcmp(s->rc[i].key, key) == 0 &&
		    cert_usable(s->rc[i].cert, USE_ENCRYPT, now)) {
			X509_up_ref(s->rc[i].cert);
			*out = s->rc[i].cert;
			return 0;
		}
	int rc = find_recipient(s, addr, now, out, e);
	if (!rc && s->nrc < sizeof s->rc / sizeof s->rc[0]) {
		snprintf(s->rc[s->nrc].key, SMZ_ADDR_MAX, "%s", key);
		X509_up_ref(*out);
		s->rc[s->nrc].gcm = s->rc[s->nrc].oaep = -1;
		s->rc[s->nrc++].cert = *out;
	}
	return rc;
}

int
smz_certpick_recipients(struct smz_smime *s, char **addrs, size_t n, size_t nto,
			STACK_OF(X509) * *out, int *no_self, struct smz_err *e)
{
	int rc = 0;
	size_t nbad = 0;
	char bad[900] = "";
	STACK_OF(X509) *rcpt = sk_X509_new_null();
	char seen[64][SMZ_ADDR_MAX];
	size_t nseen = 0;
	*no_self = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		char norm[SMZ_ADDR_MAX], key[SMZ_ADDR_MAX];
		struct smz_err ae = {0};
		if (smz_addr_normalize(addrs[i], norm, &ae)) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "recipient %s", ae.msg);
			break;
		}
		smz_addr_key(norm, s->cfg.local_sensitive, key);
		int dup = 0;
		for (size_t k = 0; k < nseen; k++)
			dup |= strcmp(seen[k], key) == 0;
		if (dup)
			continue;
		if (nseen == 64) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "more than 64 recipients");
			break;
		}
		snprintf(seen[nseen++], SMZ_ADDR_MAX, "%s", key);
		X509 *x = NULL;
		struct smz_err re = {0};
		int r1 = recipient_cert(s, norm, &x, &re);
		if (!r1) {
			sk_X509_push(rcpt, x);
		} else if (r1 == SMZ_ERR_NOTFOUND && i >= nto) {
			*no_self = 1; /* an outside sender: no copy for them */
		} else if (r1 == SMZ_ERR_NOTFOUND) {
			nbad++; /* every recipient is reported, not only the first */
			note(bad, sizeof bad, "%s", re.msg);
		} else {
			*e = re;
			rc = r1;
		}
	}
	if (!rc && nbad)
		rc = smz_err_set(e, SMZ_ERR_NOTFOUND,
				 "%zu of %zu recipients cannot be encrypted "
				 "to, so nothing was: %s",
				 nbad, nto, bad);
	if (!rc && sk_X509_num(rcpt) == 0)
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "no recipients: no To, Cc or Bcc, and none given");
	if (rc) {
		sk_X509_pop_free(rcpt, X509_free);
		return rc;
	}
	*out = rcpt;
	return 0;
}

/* ---- decryption keys ---- */

static int
addrs_have(struct smz_smime *s, json_t *addrs, const char *want_addr)
{
	size_t i;
	json_t *a;
	char have[SMZ_ADDR_MAX], want[SMZ_ADDR_MAX];
	smz_addr_key(want_addr, s->cfg.local_sensitive, want);
	json_array_foreach(addrs, i, a)
	{
		smz_addr_key(json_string_value(a) ? json_string_value(a) : "",
			     s->cfg.local_sensitive, have);
		if (strcmp(have, want) == 0)
			return 1;
	}
	return 0;
}

int
smz_certpick_in_scope(struct smz_smime *s, json_t *addrs)
{
	if (s->cfg.recipient && !addrs_have(s, addrs, s->cfg.recipient))
		return 0;
	if (!s->cfg.scope)
		return 1;
	for (const char *const *sc = s->cfg.scope; *sc; sc++)
		if (addrs_have(s, addrs, *sc))
			return 1;
	return 0;
}
