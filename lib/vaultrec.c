/* vaultrec: the writers of key records: deposit, attach, revoke, each a
 * batch in one transaction with an audit entry per record changed. */
#include "vault-int.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "addr.h"
#include "keys.h"

#include <errno.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deposits ---- */

static int
active_for(struct smz_vault *v, DB_TXN *txn, const char *address, const char *usage, int sensitive,
	   int *active)
{
	char key[SMZ_ADDR_MAX];
	smz_addr_key(address, 0, key);
	DBC *c;
	int r = v->addr->cursor(v->addr, txn, &c, 0);
	if (r)
		return r;
	DBT sk = {.data = key, .size = (u_int32_t)strlen(key)}, pk = {0}, pd = {0};
	*active = 0;
	u_int32_t flag = DB_SET;
	while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
		flag = DB_NEXT_DUP;
		json_t *j = smz_vault_rec_parse(&pd);
		const char *st = j ? json_string_value(json_object_get(j, "state")) : NULL;
		const char *us = j ? json_string_value(json_object_get(j, "usage")) : NULL;
		if (st && strcmp(st, "active") == 0 && us && strcmp(us, usage) == 0 &&
		    (!sensitive || smz_vault_has_exact_local(j, address)))
			*active = 1;
		json_decref(j);
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r;
}

static int
next_record_number(struct smz_vault *v, DB_TXN *txn, long long *n)
{
	char *s = NULL;
	int r = smz_vault_meta_get(v, txn, "records", &s, NULL);
	*n = r == 0 ? atoll(s) + 1 : 1;
	free(s);
	if (r && r != DB_NOTFOUND)
		return r;
	char buf[32];
	int l = snprintf(buf, sizeof buf, "%lld", *n);
	return smz_vault_meta_put(v, txn, "records", buf, (size_t)l);
}

/* A batch job inside smz_audit_txn: the audit subjects it allocates live
 * in the job, freed when the transaction is over (or retried). */
struct job {
	struct smz_vault *v;
	/* the items: one of */
	struct smz_deposit *dep;
	struct smz_attach *at;
	struct smz_vault_revocation *rv;
	size_t n;
	int supersede;
	char **subj;
	size_t nsubj;
	int sensitive; /* the policy compares local parts case-sensitively */
};

static void
job_clear(struct job *j)
{
	for (size_t i = 0; i < j->nsubj; i++)
		free(j->subj[i]);
	j->nsubj = 0;
}

static int
job_entry(struct job *j, struct smz_audit_entry *a, size_t *na, const char *op, const char *reason,
	  const char *fmt, const char *x, const char *y)
{
	if (asprintf(&j->subj[j->nsubj], fmt, x, y) < 0)
		return ENOMEM;
	a[(*na)++] = (struct smz_audit_entry){op, j->subj[j->nsubj++], reason};
	return 0;
}

static int
run_job(struct job *j,
	int (*fn)(DB_TXN *, void *, struct smz_audit_entry *, size_t *, struct smz_err *),
	const char *what, struct smz_err *e)
{
	struct smz_audit au = smz_vault_auditor(j->v);
	struct smz_audit_entry *a = calloc(j->n + 1, sizeof *a);
	j->subj = calloc(j->n + 1, sizeof *j->subj);
	int rc = a && j->subj ? smz_audit_txn(&au, fn, j, a, j->n, what, e)
			      : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (j->subj)
		job_clear(j);
	free(j->subj);
	free(a);
	return rc;
}

static int
deposit_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	struct job *job = arg;
	struct smz_vault *v = job->v;
	struct smz_deposit *d = job->dep;
	job_clear(job); /* an earlier attempt's */
	long long t = (long long)time(NULL);
	int r = 0;
	/* seals for the gateway count only if made for its current key */
	unsigned char gwpk[SMZ_VAULT_PK];
	int have_gw = smz_vault_gw_read(v, txn, gwpk);
	for (size_t i = 0; !r && i < job->n; i++) {
		d[i].skipped = 0;
		int active = 0;
		if (d[i].if_absent && d[i].address &&
		    (r = active_for(v, txn, d[i].address, d[i].usage ? d[i].usage : "dual",
				    d[i].local_sensitive, &active)))
			break;
		if (active) {
			d[i].skipped = 1;
			continue;
		}
		long long recno;
		if ((r = next_record_number(v, txn, &recno)))
			break;
		char id[65];
		smz_hex(d[i].key_id, SMZ_KEYID_LEN, id);
		char *sealed = smz_b64(d[i].sealed, d[i].sealed_len);
		char *csr = d[i].csr ? smz_b64(d[i].csr, d[i].csr_len) : NULL;
		json_t *addrs = json_array();
		if (d[i].address)
			json_array_append_new(addrs, json_string(d[i].address));
		json_t *j = sealed ? json_pack("{s:s,s:o,s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:s,s:[]}",
					       "key_id", id, "addresses", addrs, "alg", d[i].alg,
					       "usage", d[i].usage ? d[i].usage : "dual", "source",
					       d[i].source ? d[i].source : "keygen", "n",
					       (json_int_t)recno, "created",
					       (json_int_t)(d[i].created ? d[i].created : t),
					       "state", d[i].state ? d[i].state : "active",
					       "state_changed", (json_int_t)t, "sealed", sealed,
					       "certs")
				   : (json_decref(addrs), NULL);
		if (j && csr)
			json_object_set_new(j, "csr", json_string(csr));
		if (j && d[i].gw_sealed && have_gw && d[i].gw_pk &&
		    memcmp(d[i].gw_pk, gwpk, sizeof gwpk) == 0) {
			char *g = smz_b64(d[i].gw_sealed, d[i].gw_sealed_len);
			if (g)
				json_object_set_new(j, "gw_sealed", json_string(g));
			free(g);
		}
		const char *emp = d[i].employee_id;
		if (j && emp && emp[0] && smz_utf8_valid(emp, strlen(emp)))
			json_object_set_new(j, "employee_id", json_string(emp));
		char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(j);
		free(sealed);
		free(csr);
		if (!s)
			return ENOMEM;
		DBT k = {.data = d[i].key_id, .size = SMZ_KEYID_LEN};
		DBT dd = {.data = s, .size = (u_int32_t)strlen(s)};
		r = v->keys->put(v->keys, txn, &k, &dd, DB_NOOVERWRITE);
		free(s);
		if (r == DB_KEYEXIST) {
			d[i].skipped = 1;
			r = 0;
			continue;
		}
		if (!r)
			r = job_entry(job, a, na, "deposit", d[i].source ? d[i].source : "keygen",
				      "%s %s", d[i].address ? d[i].address : "-", id);
	}
	return r;
}

int
smz_vault_deposit(struct smz_vault *v, struct smz_deposit *d, size_t n, struct smz_err *e)
{
	struct job j = {.v = v, .dep = d, .n = n};
	return run_job(&j, deposit_fn, "deposit", e);
}

/* ---- attaching certificates ---- */

static json_t *
cert_entry(X509 *x)
{
	unsigned char *der = NULL, isn[SMZ_KEYID_LEN], fp[SMZ_KEYID_LEN];
	int l = i2d_X509(x, &der);
	if (l <= 0 || smz_isn_hash(X509_get_issuer_name(x), X509_get0_serialNumber(x), isn))
		return NULL;
	crypto_hash_sha256(fp, der, (size_t)l);
	char isnhex[65], fphex[65], skihex[129] = "", serial[129] = "", issuer[512];
	smz_hex(isn, sizeof isn, isnhex);
	smz_hex(fp, sizeof fp, fphex);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	if (ski && ASN1_STRING_length(ski) <= 64)
		smz_hex(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski), skihex);
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	if (ASN1_STRING_length(sn) <= 64)
		smz_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof issuer);
	struct tm tb, ta;
	ASN1_TIME_to_tm(X509_get0_notBefore(x), &tb);
	ASN1_TIME_to_tm(X509_get0_notAfter(x), &ta);
	char *b = smz_b64(der, (size_t)l);
	OPENSSL_free(der);
	json_t *j = b ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "der", b, "isn", isnhex,
				  "sha256", fphex, "serial", serial, "issuer", issuer, "not_before",
				  (json_int_t)timegm(&tb), "not_after", (json_int_t)timegm(&ta))
		      : NULL;
	if (j && skihex[0])
		json_object_set_new(j, "ski", json_string(skihex));
	free(b);
	return j;
}

#define KEY_CERTS 60

/* May x be filed with rec?  Its mailboxes must be the ones the key was
 * made for: a certificate naming someone else's mailbox for this key (a
 * forged one, or a CA's mistake) must not make it that person's key.  A
 * key without addresses (imported without certificate) takes them. */
static int
check_cert_for(json_t *rec, X509 *x, int may_adopt, int sensitive, char *why, size_t cap)
{
	char mb[SMZ_CERT_MAILBOXES][SMZ_ADDR_MAX];
	size_t n;
	struct smz_err me;
	json_t *addrs = json_object_get(rec, "addresses");
	if (smz_cert_mailboxes(x, mb, &n, &me) < 0) {
		snprintf(why, cap, "%.190s", me.msg);
		return -1;
	}
	if (json_array_size(json_object_get(rec, "certs")) >= KEY_CERTS) {
		snprintf(why, cap, "the key already has %d certificates", KEY_CERTS);
		return -1;
	}
	/* the policy's rule: under local_part = sensitive, Alice@ and alice@
	 * are two people, and neither may take the other's key */
	for (size_t i = 0; json_array_size(addrs) && i < n; i++) {
		char k1[SMZ_ADDR_MAX], k2[SMZ_ADDR_MAX];
		int found = 0;
		size_t j;
		json_t *a;
		smz_addr_key(mb[i], sensitive, k1);
		json_array_foreach(addrs, j, a)
		{
			smz_addr_key(json_string_value(a) ? json_string_value(a) : "", sensitive,
				     k2);
			found |= strcmp(k1, k2) == 0;
		}
		if (!found) {
			snprintf(why, cap, "names %.100s, but the key was made for %.60s", mb[i],
				 json_string_value(json_array_get(addrs, 0)));
			return -1;
		}
	}
	if (!json_array_size(addrs)) {
		/* a key deposited without a mailbox (an import) takes the
		 * certificate's only in an unlocked operation: else anyone who
		 * may write the vault could make their key a colleague's */
		if (!may_adopt) {
			snprintf(why, cap,
				 "the key has no mailbox yet; it takes %.100s only when "
				 "attached or imported with the vault unlocked",
				 n ? mb[0] : "one");
			return -1;
		}
		/* one index key per mailbox: the index folds case */
		for (size_t i = 0; i < n; i++) {
			char k1[SMZ_ADDR_MAX], k2[SMZ_ADDR_MAX];
			int dup = 0;
			smz_addr_key(mb[i], 0, k1);
			for (size_t j = 0; j < i; j++) {
				smz_addr_key(mb[j], 0, k2);
				dup |= strcmp(k1, k2) == 0;
			}
			if (!dup)
				json_array_append_new(addrs, json_string(mb[i]));
		}
	}
	return 0;
}

static int
put_record(struct smz_vault *v, DB_TXN *txn, const unsigned char *kid, json_t *rec)
{
	char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return ENOMEM;
	DBT k = {.data = (void *)kid, .size = SMZ_KEYID_LEN};
	DBT d = {.data = s, .size = (u_int32_t)strlen(s)};
	int r = v->keys->put(v->keys, txn, &k, &d, 0);
	free(s);
	return r;
}

/* Is o older than (created, n)?  Imported keys carry their certificate's
 * date, so the record number alone does not say which is newer. */
static int
older_than(json_t *o, json_int_t created, json_int_t n)
{
	json_int_t oc = json_integer_value(json_object_get(o, "created"));
	return oc < created || (oc == created && json_integer_value(json_object_get(o, "n")) < n);
}

/* Mark older active keys of rec's addresses with the same usage
 * superseded; *newer says whether an active key newer than rec exists. */
static int
supersede_older(struct smz_vault *v, DB_TXN *txn, json_t *rec, int *newer)
{
	*newer = 0;
	json_int_t n = json_integer_value(json_object_get(rec, "n"));
	json_int_t created = json_integer_value(json_object_get(rec, "created"));
	const char *usage = json_string_value(json_object_get(rec, "usage"));
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		char key[SMZ_ADDR_MAX];
		smz_addr_key(json_string_value(a), 0, key);
		DBC *c;
		int r = v->addr->cursor(v->addr, txn, &c, 0);
		if (r)
			return r;
		DBT sk = {.data = key, .size = (u_int32_t)strlen(key)}, pk = {0}, pd = {0};
		u_int32_t flag = DB_SET;
		unsigned char(*older)[SMZ_KEYID_LEN] = NULL;
		size_t no = 0;
		while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
			flag = DB_NEXT_DUP;
			json_t *o = smz_vault_rec_parse(&pd);
			const char *st = json_string_value(json_object_get(o, "state"));
			const char *us = json_string_value(json_object_get(o, "usage"));
			if (o && st && strcmp(st, "active") == 0 && us && usage &&
			    strcmp(us, usage) == 0 &&
			    json_array_size(json_object_get(o, "certs")) > 0 &&
			    !older_than(o, created, n) &&
			    json_integer_value(json_object_get(o, "n")) != n)
				*newer = 1;
			if (o && st && strcmp(st, "active") == 0 && us && usage &&
			    strcmp(us, usage) == 0 && older_than(o, created, n) &&
			    pk.size == SMZ_KEYID_LEN) {
				void *m = realloc(older, (no + 1) * sizeof *older);
				if (m) {
					older = m;
					memcpy(older[no++], pk.data, SMZ_KEYID_LEN);
				}
			}
			json_decref(o);
		}
		c->close(c);
		if (r != DB_NOTFOUND) {
			free(older);
			return r;
		}
		r = 0;
		for (size_t k = 0; !r && k < no; k++) {
			DBT kk = {.data = older[k], .size = SMZ_KEYID_LEN},
			    dd = {.flags = DB_DBT_MALLOC};
			if ((r = v->keys->get(v->keys, txn, &kk, &dd, DB_RMW)))
				break;
			json_t *o = smz_vault_rec_parse(&dd);
			free(dd.data);
			if (!o) {
				r = EINVAL;
				break;
			}
			json_object_set_new(o, "state", json_string("superseded"));
			json_object_set_new(o, "state_changed",
					    json_integer((json_int_t)time(NULL)));
			r = put_record(v, txn, older[k], o);
			json_decref(o);
		}
		free(older);
		if (r)
			return r;
	}
	return 0;
}

/* The record of the key a certificate is for, read for update in txn, and
 * the certificate's entry; DB_NOTFOUND when the vault has no such key. */
static int
cert_record(struct smz_vault *v, DB_TXN *txn, X509 *cert, unsigned char kid[SMZ_KEYID_LEN],
	    json_t **rec, json_t **ce)
{
	if (smz_cert_key_id(cert, kid))
		return DB_NOTFOUND;
	DBT k = {.data = kid, .size = SMZ_KEYID_LEN}, d = {.flags = DB_DBT_MALLOC};
	int r = v->keys->get(v->keys, txn, &k, &d, DB_RMW);
	if (r)
		return r;
	*rec = smz_vault_rec_parse(&d);
	free(d.data);
	*ce = *rec ? cert_entry(cert) : NULL;
	if (!*ce) {
		json_decref(*rec);
		return EINVAL;
	}
	return 0;
}

/* attach and revoke: a step per certificate, given the record of its key
 * (read for update) and the certificate's entry, or NULL for both when the
 * vault does not have its key. */
typedef int cert_step_fn(struct job *job, DB_TXN *txn, size_t i, const unsigned char *kid,
			 json_t *rec, json_t *ce, struct smz_audit_entry *a, size_t *na);

static int
cert_steps(struct job *job, DB_TXN *txn, cert_step_fn *step, struct smz_audit_entry *a, size_t *na)
{
	int r = 0;
	job_clear(job);
	for (size_t i = 0; !r && i < job->n; i++) {
		unsigned char kid[SMZ_KEYID_LEN];
		json_t *rec, *ce;
		X509 *cert = job->at ? job->at[i].cert : job->rv[i].cert;
		r = cert_record(job->v, txn, cert, kid, &rec, &ce);
		if (r == DB_NOTFOUND)
			rec = ce = NULL;
		else if (r)
			break;
		r = step(job, txn, i, kid, rec, ce, a, na);
		json_decref(ce);
		json_decref(rec);
	}
	return r;
}

/* The audit entry of a certificate's key: "ADDRESS SERIAL KEYID". */
static int
cert_audit(struct job *job, struct smz_audit_entry *a, size_t *na, const char *op,
	   const char *reason, const char *addr, json_t *ce, const unsigned char *kid)
{
	char id[65], what[256];
	smz_hex(kid, SMZ_KEYID_LEN, id);
	snprintf(what, sizeof what, "%s %s", addr,
		 json_string_value(json_object_get(ce, "serial")));
	return job_entry(job, a, na, op, reason, "%s %s", what, id);
}

static int
attach_step(struct job *job, DB_TXN *txn, size_t i, const unsigned char *kid, json_t *rec,
	    json_t *ce, struct smz_audit_entry *a, size_t *na)
{
	struct smz_vault *v = job->v;
	struct smz_attach *at = &job->at[i];
	at->result = SMZ_ERR_NOTFOUND;
	at->address[0] = 0;
	if (!rec)
		return 0;
	const char *fp = json_string_value(json_object_get(ce, "sha256"));
	size_t k2;
	json_t *c;
	int have = 0, r = 0;
	json_array_foreach(json_object_get(rec, "certs"), k2, c)
		have |= json_string_value(json_object_get(c, "sha256")) &&
			strcmp(json_string_value(json_object_get(c, "sha256")), fp) == 0;
	at->result = have ? 1 : 0;
	if (!have && check_cert_for(rec, at->cert, v->sk != NULL, job->sensitive, at->why,
				    sizeof at->why) < 0) {
		at->result = SMZ_ERR_DATA;
		have = 1; /* nothing to write */
	}
	const char *first = json_string_value(json_array_get(json_object_get(rec, "addresses"), 0));
	snprintf(at->address, sizeof at->address, "%s", first ? first : "-");
	if (have)
		return 0;
	json_array_append(json_object_get(rec, "certs"), ce);
	r = put_record(v, txn, kid, rec);
	int newer = 0;
	if (!r && job->supersede)
		r = supersede_older(v, txn, rec, &newer);
	/* an older key attached late (an import) yields to the newer */
	if (!r && newer) {
		json_object_set_new(rec, "state", json_string("superseded"));
		r = put_record(v, txn, kid, rec);
	}
	return r ? r : cert_audit(job, a, na, "attach", "", at->address, ce, kid);
}

static int
attach_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	return cert_steps(arg, txn, attach_step, a, na);
}

int
smz_vault_attach(struct smz_vault *v, struct smz_attach *at, size_t n, int supersede,
		 int local_sensitive, struct smz_err *e)
{
	struct job j = {.v = v,
			.at = at,
			.n = n,
			.supersede = supersede,
			.sensitive = local_sensitive};
	return run_job(&j, attach_fn, "attach", e);
}

/* ---- revocations from the CA ---- */

int
smz_vault_cert_revoked(json_t *ce)
{
	return json_object_get(ce, "revoked") != NULL;
}

static int
revoke_step(struct job *job, DB_TXN *txn, size_t i, const unsigned char *kid, json_t *rec,
	    json_t *ce, struct smz_audit_entry *a, size_t *na)
{
	struct smz_vault_revocation *rv = &job->rv[i];
	rv->result = SMZ_ERR_NOTFOUND;
	rv->state[0] = 0;
	if (!rec)
		return 0;
	const char *st = json_string_value(json_object_get(rec, "state"));
	const char *fp = json_string_value(json_object_get(ce, "sha256"));
	const char *old = st ? st : "active";
	int changed = 0, unrevoked = 0;
	size_t k2;
	json_t *c;
	json_array_foreach(json_object_get(rec, "certs"), k2, c)
	{
		const char *cfp = json_string_value(json_object_get(c, "sha256"));
		if (cfp && strcmp(cfp, fp) == 0 && !smz_vault_cert_revoked(c)) {
			json_object_set_new(c, "revoked",
					    json_pack("{s:s,s:I}", "reason", rv->reason, "at",
						      (json_int_t)(rv->when ? rv->when
									    : time(NULL))));
			changed = 1;
		}
		unrevoked += !smz_vault_cert_revoked(c);
	}
	const char *now = old;
	if (strcmp(rv->reason, "keyCompromise") == 0 && strcmp(old, "destroyed") != 0)
		now = "compromised";
	else if (strcmp(old, "active") == 0 && !unrevoked)
		now = "revoked";
	/* a revoked key leaves the gateway's scope, and its seal goes */
	if (strcmp(now, "revoked") == 0 || strcmp(now, "compromised") == 0)
		changed |= json_object_del(rec, "gw_sealed") == 0;
	if (strcmp(now, old) != 0) {
		json_object_set_new(rec, "state", json_string(now));
		json_object_set_new(rec, "state_changed", json_integer((json_int_t)time(NULL)));
		changed = 1;
	}
	snprintf(rv->state, sizeof rv->state, "%s", now);
	rv->result = changed ? 0 : 1;
	if (!changed)
		return 0;
	int r = put_record(job->v, txn, kid, rec);
	const char *addr = json_string_value(json_array_get(json_object_get(rec, "addresses"), 0));
	return r ? r : cert_audit(job, a, na, "revoke", rv->reason, addr ? addr : "-", ce, kid);
}

static int
revoke_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	(void)e;
	return cert_steps(arg, txn, revoke_step, a, na);
}

int
smz_vault_revoke(struct smz_vault *v, struct smz_vault_revocation *rv, size_t n, struct smz_err *e)
{
	struct job j = {.v = v, .rv = rv, .n = n};
	return run_job(&j, revoke_fn, "revoke", e);
}
