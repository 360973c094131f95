/* ca: the CA's database of certificates: issuing, revoking, lookups and
 * listings, each write a transaction with its audit entries. */
#include "ca-int.h"
#include "addr.h"
#include "audit.h"
#include "dbenv.h"
#include "keys.h"
#include "pem.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- index callbacks ---- */

/* Records are stored compact with sorted keys; the index callbacks read
 * just their field instead of parsing the whole record (with its DER). */
static json_t *
field_array(const DBT *d, const char *name)
{
	char pat[32];
	int pl = snprintf(pat, sizeof pat, "\"%s\":[", name);
	const char *p = memmem(d->data, d->size, pat, (size_t)pl);
	const char *end = p ? memchr(p, ']', (size_t)((const char *)d->data + d->size - p)) : NULL;
	return end ? json_loadb(p + pl - 1, (size_t)(end - p - pl + 2), 0, NULL) : NULL;
}

static int
addr_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	json_t *arr = field_array(d, "addresses");
	char *keys[SMZ_MAX_ADDRESSES];
	u_int32_t lens[SMZ_MAX_ADDRESSES];
	size_t n = 0, i;
	json_t *a;
	json_array_foreach(arr, i, a)
	{
		char key[SMZ_ADDR_MAX];
		if (n == SMZ_MAX_ADDRESSES || !json_string_value(a))
			break;
		smz_addr_key(json_string_value(a), 0, key);
		if (!(keys[n] = strdup(key)))
			break;
		lens[n++] = (u_int32_t)strlen(key);
	}
	json_decref(arr);
	return smz_db_multi_keys(res, keys, lens, n);
}

static int
kid_cb(DB *s, const DBT *k, const DBT *d, DBT *res)
{
	(void)s, (void)k;
	static const char pat[] = "\"key_id\":\"";
	const char *h = memmem(d->data, d->size, pat, sizeof pat - 1);
	unsigned char *b = malloc(SMZ_KEYID_LEN);
	size_t bl = 0;
	int ok = h && b && (const char *)d->data + d->size - h >= (long)(sizeof pat - 1 + 64) &&
		 sodium_hex2bin(b, SMZ_KEYID_LEN, h + sizeof pat - 1, 64, NULL, &bl, NULL) == 0 &&
		 bl == SMZ_KEYID_LEN;
	if (!ok) {
		free(b);
		return DB_DONOTINDEX;
	}
	char *keys[1] = {(char *)b};
	u_int32_t lens[1] = {SMZ_KEYID_LEN};
	return smz_db_multi_keys(res, keys, lens, 1);
}

/* ---- the databases ---- */

int
smz_ca_open_dbs(struct smz_ca *ca, struct smz_err *e)
{
	int rc, r;
	if ((rc = smz_dbenv_open(ca->dir, &ca->env, e)) ||
	    (rc = smz_db_open(ca->env, &ca->certs, "certs.db", DB_BTREE, 0, e)) ||
	    (rc = smz_db_open(ca->env, &ca->addr, "addr.idx", DB_BTREE, 1, e)) ||
	    (rc = smz_db_open(ca->env, &ca->kid, "kid.idx", DB_BTREE, 1, e)) ||
	    (rc = smz_db_open(ca->env, &ca->meta, "meta.db", DB_BTREE, 0, e)) ||
	    (rc = smz_db_open(ca->env, &ca->log, "audit.db", DB_RECNO, 0, e)))
		return rc;
	if ((r = ca->certs->associate(ca->certs, NULL, ca->addr, addr_cb, 0)) ||
	    (r = ca->certs->associate(ca->certs, NULL, ca->kid, kid_cb, 0)))
		return smz_db_err(e, r, "index");
	return 0;
}

void
smz_ca_close(struct smz_ca *ca)
{
	if (!ca)
		return;
	DB *dbs[] = {ca->addr, ca->kid, ca->certs, ca->meta, ca->log};
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++)
		if (dbs[i])
			dbs[i]->close(dbs[i], 0);
	smz_dbenv_close(ca->env);
	X509_free(ca->root);
	X509_free(ca->issuing);
	EVP_PKEY_free(ca->key);
	free(ca);
}

static int
job_fn(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *e)
{
	struct smz_ca_txn *j = arg;
	return j->fn(j->ca, txn, j->arg, a, na, e);
}

int
smz_ca_in_txn(struct smz_ca *ca, struct smz_ca_txn *j, struct smz_err *e)
{
	struct smz_audit au = smz_ca_auditor(ca);
	j->ca = ca;
	return smz_audit_txn(&au, job_fn, j, j->a, j->cap, "CA database", e);
}

X509 *
smz_ca_issuing(struct smz_ca *ca)
{
	return ca->issuing;
}

X509 *
smz_ca_root(struct smz_ca *ca)
{
	return ca->root;
}

/* ---- issuing ---- */

static long long
asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;
	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (long long)timegm(&tm);
}

static json_t *
cert_record(X509 *x, const struct smz_csr_info *ci, const char *profile)
{
	unsigned char *der = NULL;
	int l = i2d_X509(x, &der);
	char *b = l > 0 ? smz_b64(der, (size_t)l) : NULL;
	OPENSSL_free(der);
	char kid[65], serial[2 * SMZ_SERIAL_LEN + 1];
	smz_hex(ci->key_id, SMZ_KEYID_LEN, kid);
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	smz_hex(ASN1_STRING_get0_data(sn),
		(size_t)ASN1_STRING_length(sn) <= SMZ_SERIAL_LEN ? (size_t)ASN1_STRING_length(sn)
								 : SMZ_SERIAL_LEN,
		serial);
	json_t *addrs = json_array();
	for (size_t i = 0; i < ci->naddr; i++)
		json_array_append_new(addrs, json_string(ci->addresses[i]));
	json_t *j = b ? json_pack("{s:s,s:s,s:o,s:I,s:I,s:s,s:s,s:s,s:s}", "serial", serial,
				  "key_id", kid, "addresses", addrs, "not_before",
				  (json_int_t)asn1_epoch(X509_get0_notBefore(x)), "not_after",
				  (json_int_t)asn1_epoch(X509_get0_notAfter(x)), "status", "valid",
				  "profile", profile, "usage", ci->usage, "der", b)
		      : NULL;
	free(b);
	return j;
}

static X509 *
record_cert(json_t *rec)
{
	return smz_cert_from_b64(json_string_value(json_object_get(rec, "der")));
}

/* A valid, unexpired certificate of this key covering these addresses,
 * under the same profile and usage (a policy change gets new ones). */
static int
find_existing(struct smz_ca *ca, DB_TXN *txn, const struct smz_csr_info *ci, const char *profile,
	      long long fresh_until, X509 **out, int *compromised)
{
	*compromised = 0;
	DBC *c;
	int r = ca->kid->cursor(ca->kid, txn, &c, 0);
	if (r)
		return r;
	DBT sk = {.data = (void *)ci->key_id, .size = SMZ_KEYID_LEN}, pk = {0}, pd = {0};
	u_int32_t flag = DB_SET;
	long long now = (long long)time(NULL);
	while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
		flag = DB_NEXT_DUP;
		json_t *j = json_loadb(pd.data, pd.size, 0, NULL);
		const char *st = json_string_value(json_object_get(j, "status"));
		json_int_t na = json_integer_value(json_object_get(j, "not_after"));
		const char *reason = json_string_value(json_object_get(j, "reason"));
		if (st && strcmp(st, "revoked") == 0 && reason &&
		    strcmp(reason, "keyCompromise") == 0)
			*compromised = 1; /* BR 4.9.1.1: never certify that key again */
		const char *pr = json_string_value(json_object_get(j, "profile"));
		const char *us = json_string_value(json_object_get(j, "usage"));
		int cover = st && strcmp(st, "valid") == 0 && na > now && na > fresh_until && pr &&
			    strcmp(pr, profile) == 0 && us && strcmp(us, ci->usage) == 0;
		for (size_t i = 0; cover && i < ci->naddr; i++) {
			size_t k;
			json_t *a;
			int found = 0;
			json_array_foreach(json_object_get(j, "addresses"), k, a)
				found |= json_string_value(a) &&
					 strcasecmp(json_string_value(a), ci->addresses[i]) == 0;
			cover = found;
		}
		if (cover && !*out)
			*out = record_cert(j);
		json_decref(j);
	}
	c->close(c);
	return r == DB_NOTFOUND || r == 0 ? 0 : r;
}

struct issue_job {
	const struct smz_policy *p;
	struct smz_ca_request *r;
	size_t n;
	char **subjects;
};

static int
issue_fn(struct smz_ca *ca, DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
	 struct smz_err *e)
{
	struct issue_job *j = arg;
	time_t now = time(NULL);
	for (size_t i = 0; i < j->n; i++) {
		struct smz_ca_request *rq = &j->r[i];
		X509_free(rq->cert);
		rq->cert = NULL;
		rq->existed = 0;
		rq->refused = 0;
		int compromised = 0;
		/* a certificate inside the renewal window does not count: a CSR
		 * sent again for its key (renewal with the same key) gets a new one */
		long long w = j->p->window_days;
		if (2 * w > j->p->validity_days)
			w = j->p->validity_days / 2;
		int r = find_existing(ca, txn, rq->ci, j->p->profile, (long long)now + w * 86400,
				      &rq->cert, &compromised);
		if (r)
			return r;
		if (compromised) {
			X509_free(rq->cert);
			rq->cert = NULL;
			rq->refused = 1;
			continue;
		}
		if (rq->cert) {
			rq->existed = 1;
			continue;
		}
		X509 *cand = rq->prebuilt;
		rq->prebuilt = NULL;
		for (int tries = 0;; tries++) {
			if (!cand) {
				unsigned char fresh[SMZ_SERIAL_LEN];
				if (smz_profile_serial(fresh) < 0)
					return smz_err_set(e, SMZ_ERR_INTERNAL,
							   "no randomness for a serial");
				int rc = smz_profile_build(j->p, ca->issuing, ca->key, rq->ci,
							   fresh, now, &cand, e);
				if (rc)
					return rc;
			}
			const ASN1_INTEGER *sn = X509_get0_serialNumber(cand);
			if (ASN1_STRING_length(sn) != SMZ_SERIAL_LEN) {
				X509_free(cand);
				return smz_err_set(e, SMZ_ERR_INTERNAL,
						   "serial of the wrong length");
			}
			unsigned char serial[SMZ_SERIAL_LEN];
			memcpy(serial, ASN1_STRING_get0_data(sn), SMZ_SERIAL_LEN);
			json_t *rec = cert_record(cand, rq->ci, j->p->profile);
			char *s = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			char hex[2 * SMZ_SERIAL_LEN + 1];
			smz_hex(serial, SMZ_SERIAL_LEN, hex);
			json_decref(rec);
			if (!s) {
				X509_free(cand);
				return ENOMEM;
			}
			DBT k = {.data = serial, .size = SMZ_SERIAL_LEN};
			DBT d = {.data = s, .size = (u_int32_t)strlen(s)};
			r = ca->certs->put(ca->certs, txn, &k, &d, DB_NOOVERWRITE);
			free(s);
			if (r == DB_KEYEXIST && tries < 8) { /* a serial is never reused */
				X509_free(cand);
				cand = NULL;
				continue;
			}
			if (r) {
				X509_free(cand);
				return r;
			}
			rq->cert = cand;
			free(j->subjects[*na]);
			if (asprintf(&j->subjects[*na], "%s %s", hex, rq->ci->addresses[0]) < 0)
				return ENOMEM;
			a[*na] = (struct smz_audit_entry){"issue", j->subjects[*na], rq->ci->usage};
			(*na)++;
			break;
		}
	}
	return 0;
}

int
smz_ca_prepare(struct smz_ca *ca, const struct smz_policy *p, const struct smz_csr_info *ci,
	       X509 **out, struct smz_err *e)
{
	unsigned char serial[SMZ_SERIAL_LEN];
	if (!ca->key)
		return smz_err_set(e, SMZ_ERR_PERM, "the CA key is not loaded");
	if (smz_profile_serial(serial) < 0)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "no randomness for a serial");
	return smz_profile_build(p, ca->issuing, ca->key, ci, serial, time(NULL), out, e);
}

int
smz_ca_issue(struct smz_ca *ca, const struct smz_policy *p, struct smz_ca_request *r, size_t n,
	     struct smz_err *e)
{
	if (!ca->key)
		return smz_err_set(e, SMZ_ERR_PERM, "the CA key is not loaded");
	struct smz_audit_entry *a = calloc(n + 1, sizeof *a);
	char **subjects = calloc(n + 1, sizeof *subjects);
	int rc = a && subjects ? 0 : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (!rc) {
		struct issue_job ij = {p, r, n, subjects};
		struct smz_ca_txn j = {issue_fn, &ij, a, n, ca};
		rc = smz_ca_in_txn(ca, &j, e);
	}
	for (size_t i = 0; subjects && i < n; i++)
		free(subjects[i]);
	free(subjects);
	free(a);
	if (rc)
		for (size_t i = 0; i < n; i++) {
			X509_free(r[i].cert);
			r[i].cert = NULL;
		}
	return rc;
}

/* ---- revocation ---- */

/* A serial in hex, colons and upper case allowed, into its octets. */
static int
serial_parse(const char *hex, unsigned char serial[64], size_t *len, struct smz_err *e)
{
	char clean[160];
	size_t cl = 0;
	for (const char *p = hex; *p && cl + 1 < sizeof clean; p++)
		if (*p != ':')
			clean[cl++] = (char)((*p >= 'A' && *p <= 'F') ? *p + 32 : *p);
	clean[cl] = 0;
	if (sodium_hex2bin(serial, 64, clean, cl, NULL, len, NULL) != 0 || *len == 0)
		return smz_err_set(e, SMZ_ERR_USAGE, "%s: not a hexadecimal serial", hex);
	return 0;
}

struct revoke_job {
	enum smz_ca_select by;
	const char *value, *reason;
	void (*cb)(void *, json_t *, int);
	void *arg;
	json_t *done; /* records revoked, reported after commit */
	char **subjects;
	size_t nsub;
};

/* Does rec name addr with exactly this local part? */
static int
has_exact(json_t *rec, const char *addr)
{
	char want[SMZ_ADDR_MAX], have[SMZ_ADDR_MAX];
	size_t i;
	json_t *a;
	smz_addr_key(addr, 1, want);
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		smz_addr_key(json_string_value(a) ? json_string_value(a) : "", 1, have);
		if (strcmp(want, have) == 0)
			return 1;
	}
	return 0;
}

static int
revoke_one(struct smz_ca *ca, DB_TXN *txn, struct revoke_job *j, DBT *k, json_t *rec,
	   struct smz_audit_entry *a, size_t *na)
{
	const char *st = json_string_value(json_object_get(rec, "status"));
	if (st && strcmp(st, "revoked") == 0) {
		json_array_append_new(j->done, json_pack("{s:O,s:b}", "rec", rec, "already", 1));
		return 0;
	}
	json_object_set_new(rec, "status", json_string("revoked"));
	json_object_set_new(rec, "revoked_at", json_integer((json_int_t)time(NULL)));
	json_object_set_new(rec, "reason", json_string(j->reason));
	char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return ENOMEM;
	DBT d = {.data = s, .size = (u_int32_t)strlen(s)};
	int r = ca->certs->put(ca->certs, txn, k, &d, 0);
	free(s);
	if (r)
		return r;
	char **ns = realloc(j->subjects, (j->nsub + 1) * sizeof *ns);
	if (!ns)
		return ENOMEM;
	j->subjects = ns;
	if (asprintf(&j->subjects[j->nsub], "%s %s",
		     json_string_value(json_object_get(rec, "serial")),
		     json_string_value(json_array_get(json_object_get(rec, "addresses"), 0))) < 0)
		return ENOMEM;
	if (*na < 4096)
		a[(*na)++] = (struct smz_audit_entry){"revoke", j->subjects[j->nsub], j->reason};
	j->nsub++;
	json_array_append_new(j->done, json_pack("{s:O,s:b}", "rec", rec, "already", 0));
	return 0;
}

static int
revoke_fn(struct smz_ca *ca, DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
	  struct smz_err *e)
{
	struct revoke_job *j = arg;
	json_array_clear(j->done);
	for (size_t i = 0; i < j->nsub; i++)
		free(j->subjects[i]);
	j->nsub = 0;
	int r = 0;
	if (j->by == SMZ_CA_BY_SERIAL) {
		unsigned char serial[64];
		size_t sl = 0;
		if ((r = serial_parse(j->value, serial, &sl, e)))
			return r;
		DBT k = {.data = serial, .size = (u_int32_t)sl}, d = {.flags = DB_DBT_MALLOC};
		r = ca->certs->get(ca->certs, txn, &k, &d, DB_RMW);
		if (r == DB_NOTFOUND)
			return 0;
		if (r)
			return r;
		json_t *rec = json_loadb(d.data, d.size, 0, NULL);
		free(d.data);
		r = rec ? revoke_one(ca, txn, j, &k, rec, a, na) : EINVAL;
		json_decref(rec);
		return r;
	}
	int by_addr = j->by == SMZ_CA_BY_ADDRESS || j->by == SMZ_CA_BY_EXACT_ADDRESS;
	DB *idx = by_addr ? ca->addr : ca->kid;
	unsigned char kid[SMZ_KEYID_LEN];
	char akey[SMZ_ADDR_MAX];
	DBT sk = {0};
	char norm[SMZ_ADDR_MAX];
	if (by_addr) {
		struct smz_err ae;
		if (smz_addr_normalize(j->value, norm, &ae) < 0)
			return smz_err_set(e, SMZ_ERR_USAGE, "%s", ae.msg);
		smz_addr_key(norm, 0, akey);
		sk.data = akey;
		sk.size = (u_int32_t)strlen(akey);
	} else {
		size_t kl = 0;
		if (sodium_hex2bin(kid, sizeof kid, j->value, strlen(j->value), NULL, &kl, NULL) ||
		    kl != SMZ_KEYID_LEN)
			return smz_err_set(e, SMZ_ERR_USAGE, "%s: a key id is 64 hex digits",
					   j->value);
		sk.data = kid;
		sk.size = SMZ_KEYID_LEN;
	}
	/* Collect the serials first: updating records under an open cursor
	 * on their own index would move it. */
	DBC *c;
	if ((r = idx->cursor(idx, txn, &c, 0)))
		return r;
	unsigned char(*serials)[SMZ_SERIAL_LEN] = NULL;
	size_t ns = 0;
	DBT pk = {0}, pd = {0};
	u_int32_t flag = DB_SET;
	while ((r = c->pget(c, &sk, &pk, &pd, flag)) == 0) {
		flag = DB_NEXT_DUP;
		void *more = realloc(serials, (ns + 1) * sizeof *serials);
		if (!more || pk.size != SMZ_SERIAL_LEN) {
			r = more ? EINVAL : ENOMEM;
			serials = more ? more : serials;
			break;
		}
		serials = more;
		memcpy(serials[ns++], pk.data, SMZ_SERIAL_LEN);
	}
	c->close(c);
	if (r != DB_NOTFOUND) {
		free(serials);
		return r;
	}
	r = 0;
	for (size_t i = 0; i < ns; i++) {
		DBT k = {.data = serials[i], .size = SMZ_SERIAL_LEN};
		DBT d = {.flags = DB_DBT_MALLOC};
		if ((r = ca->certs->get(ca->certs, txn, &k, &d, DB_RMW)))
			break;
		json_t *rec = json_loadb(d.data, d.size, 0, NULL);
		free(d.data);
		/* the index folds the local part's case; a sensitive policy does not */
		int skip = rec && j->by == SMZ_CA_BY_EXACT_ADDRESS && !has_exact(rec, norm);
		r = !rec ? EINVAL : skip ? 0 : revoke_one(ca, txn, j, &k, rec, a, na);
		json_decref(rec);
		if (r)
			break;
	}
	free(serials);
	return r;
}

int
smz_ca_revoke(struct smz_ca *ca, enum smz_ca_select by, const char *value, const char *reason,
	      void (*cb)(void *, json_t *, int), void *arg, struct smz_err *e)
{
	if (!smz_ca_reason_valid(reason))
		return smz_err_set(e, SMZ_ERR_USAGE,
				   "reason %s: expected keyCompromise, affiliationChanged, "
				   "superseded, cessationOfOperation or privilegeWithdrawn",
				   reason);
	struct smz_audit_entry *a = calloc(4096, sizeof *a);
	struct revoke_job rj = {by, value, reason, cb, arg, json_array(), NULL, 0};
	struct smz_ca_txn j = {revoke_fn, &rj, a, 4096, ca};
	int rc = a ? smz_ca_in_txn(ca, &j, e) : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (!rc && json_array_size(rj.done) == 0)
		rc = smz_err_set(e, SMZ_ERR_NOTFOUND, "%s: no certificate issued by this CA",
				 value);
	size_t i;
	json_t *d;
	if (!rc)
		json_array_foreach(rj.done, i, d) cb(arg, json_object_get(d, "rec"),
						     json_is_true(json_object_get(d, "already")));
	for (i = 0; i < rj.nsub; i++)
		free(rj.subjects[i]);
	free(rj.subjects);
	json_decref(rj.done);
	free(a);
	return rc;
}

int
smz_ca_foreach(struct smz_ca *ca, int (*cb)(void *, json_t *), void *arg, struct smz_err *e)
{
	return smz_db_foreach_json(ca->certs, cb, arg, "certs.db", e);
}

/* ---- listings ---- */

const char *const smz_ca_list_cols[] = {"serial",    "address", "key_id", "not_before",
					"not_after", "status",	NULL};

struct listing {
	long long before; /* expiring: not_after before this; 0: all */
	int (*cb)(void *, json_t *);
	void *arg;
	int rc; /* set when a record makes no row */
	struct smz_err *e;
};

static int
list_rows(void *arg, json_t *rec)
{
	struct listing *l = arg;
	json_int_t na = json_integer_value(json_object_get(rec, "not_after"));
	const char *st = json_string_value(json_object_get(rec, "status"));
	if (l->before &&
	    (na > l->before || na < (json_int_t)time(NULL) || !st || strcmp(st, "valid") != 0))
		return 0;
	char nb[32], nae[32];
	smz_time_iso(json_integer_value(json_object_get(rec, "not_before")), nb);
	smz_time_iso(na, nae);
	const char *status = st && strcmp(st, "valid") == 0 && na < (json_int_t)time(NULL)
				     ? "expired"
				     : st;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		json_t *row = json_pack("{s:O,s:O,s:O,s:s,s:s,s:s}", "serial",
					json_object_get(rec, "serial"), "address", a, "key_id",
					json_object_get(rec, "key_id"), "not_before", nb,
					"not_after", nae, "status", status ? status : "?");
		if (!row) {
			const char *sn = json_string_value(json_object_get(rec, "serial"));
			l->rc = smz_err_set(l->e, SMZ_ERR_DATA,
					    "certs.db: certificate %s: a damaged record",
					    sn ? sn : "?");
			return -1;
		}
		int r = l->cb(l->arg, row);
		json_decref(row);
		if (r < 0)
			return -1;
	}
	return 0;
}

int
smz_ca_list(struct smz_ca *ca, long within_days, int (*cb)(void *, json_t *), void *arg,
	    struct smz_err *e)
{
	struct listing l = {0, cb, arg, 0, e};
	if (within_days >= 0)
		l.before = (long long)time(NULL) + within_days * 86400LL;
	int rc = smz_ca_foreach(ca, list_rows, &l, e);
	return l.rc ? l.rc : rc;
}

void
smz_ca_audit_log(struct smz_ca *ca, struct smz_audit *au)
{
	*au = smz_ca_auditor(ca);
}

int
smz_ca_cert_by_serial(struct smz_ca *ca, const char *hex, X509 **out, struct smz_err *e)
{
	unsigned char serial[64];
	size_t sl = 0;
	int rc = serial_parse(hex, serial, &sl, e);
	if (rc)
		return rc;
	DBT k = {.data = serial, .size = (u_int32_t)sl}, d = {.flags = DB_DBT_MALLOC};
	int r = ca->certs->get(ca->certs, NULL, &k, &d, 0);
	if (r == DB_NOTFOUND)
		return smz_err_set(e, SMZ_ERR_NOTFOUND, "%s: no certificate with this serial", hex);
	if (r)
		return smz_db_err(e, r, "certs.db");
	json_t *rec = json_loadb(d.data, d.size, 0, NULL);
	free(d.data);
	X509 *x = rec ? record_cert(rec) : NULL;
	json_decref(rec);
	if (!x)
		return smz_err_set(e, SMZ_ERR_DATA, "%s: damaged record", hex);
	*out = x;
	return 0;
}

int
smz_ca_cert_write(struct smz_ca *ca, const char *serial, FILE *out, struct smz_err *e)
{
	X509 *x = NULL;
	int rc = smz_ca_cert_by_serial(ca, serial, &x, e);
	if (!rc && (rc = smz_pem_write_cert(out, x)))
		smz_err_set(e, rc, "cannot write the certificate of %s", serial);
	X509_free(x);
	return rc;
}
