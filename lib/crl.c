/* crl: the CA's signed CRL of every unexpired revoked certificate, with
 * the next CRL number; the revocation reasons smz accepts. */
#include "ca-int.h"
#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "pem.h"

#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const reasons[] = {"keyCompromise",	      "affiliationChanged", "superseded",
				      "cessationOfOperation", "privilegeWithdrawn", NULL};
static const int reason_codes[] = {CRL_REASON_KEY_COMPROMISE, CRL_REASON_AFFILIATION_CHANGED,
				   CRL_REASON_SUPERSEDED, CRL_REASON_CESSATION_OF_OPERATION,
				   CRL_REASON_PRIVILEGE_WITHDRAWN};

int
smz_ca_reason_valid(const char *reason)
{
	for (int i = 0; reasons[i]; i++)
		if (strcmp(reason, reasons[i]) == 0)
			return 1;
	return 0;
}

struct crl_job {
	X509_CRL *crl;
	unsigned long number;
	char subject[64];
};

static int
crl_fn(struct smz_ca *ca, DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na,
       struct smz_err *e)
{
	(void)e;
	struct crl_job *j = arg;
	char *s = NULL;
	int r = smz_db_get_str(ca->meta, txn, "crl_number", DB_RMW, &s, NULL);
	if (r)
		return r;
	j->number = strtoul(s, NULL, 10) + 1;
	free(s);
	char buf[32];
	int l = snprintf(buf, sizeof buf, "%lu", j->number);
	if ((r = smz_db_put_str(ca->meta, txn, "crl_number", buf, (size_t)l)))
		return r;
	snprintf(j->subject, sizeof j->subject, "CRL %lu", j->number);
	a[0] = (struct smz_audit_entry){"crl", j->subject, ""};
	*na = 1;
	return 0;
}

struct revoked_list {
	X509_CRL *crl;
	long long now;
	int failed;
};

static int
add_revoked(void *arg, json_t *rec)
{
	struct revoked_list *rl = arg;
	const char *st = json_string_value(json_object_get(rec, "status"));
	if (!st || strcmp(st, "revoked") != 0 ||
	    json_integer_value(json_object_get(rec, "not_after")) < rl->now)
		return 0;
	const char *hex = json_string_value(json_object_get(rec, "serial"));
	const char *reason = json_string_value(json_object_get(rec, "reason"));
	BIGNUM *bn = NULL;
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)json_integer_value(
						   json_object_get(rec, "revoked_at")));
	ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
	int c = CRL_REASON_UNSPECIFIED;
	for (int i = 0; reason && reasons[i]; i++)
		if (strcmp(reason, reasons[i]) == 0)
			c = reason_codes[i];
	int ok = hex && rv && t && code && BN_hex2bn(&bn, hex) &&
		 (sn = BN_to_ASN1_INTEGER(bn, NULL)) && X509_REVOKED_set_serialNumber(rv, sn) &&
		 X509_REVOKED_set_revocationDate(rv, t) && ASN1_ENUMERATED_set(code, c) &&
		 X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, code, 0, 0) &&
		 X509_CRL_add0_revoked(rl->crl, rv);
	if (ok)
		rv = NULL;
	else
		rl->failed = 1;
	X509_REVOKED_free(rv);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(code);
	BN_free(bn);
	return 0;
}

int
smz_ca_crl(struct smz_ca *ca, const struct smz_policy *p, unsigned char **der, size_t *len,
	   struct smz_err *e)
{
	if (!ca->key)
		return smz_err_set(e, SMZ_ERR_PERM, "the CA key is not loaded");
	struct crl_job cj = {0};
	struct smz_audit_entry a[1];
	struct smz_ca_txn j = {crl_fn, &cj, a, 1, ca};
	int rc = smz_ca_in_txn(ca, &j, e);
	if (rc)
		return rc;
	time_t now = time(NULL);
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, now);
	ASN1_TIME *t2 = ASN1_TIME_set(NULL, now + (time_t)p->crl_days * 86400);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	struct revoked_list rl = {crl, (long long)now, 0};
	X509V3_CTX ctx;
	X509_EXTENSION *aki = NULL;
	rc = SMZ_ERR_INTERNAL;
	if (!crl || !t1 || !t2 || !num || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->issuing)) ||
	    !X509_CRL_set1_lastUpdate(crl, t1) || !X509_CRL_set1_nextUpdate(crl, t2) ||
	    !ASN1_INTEGER_set_uint64(num, cj.number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto out;
	X509V3_set_ctx(&ctx, ca->issuing, NULL, NULL, crl, 0);
	if (!(aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
					"keyid:always")) ||
	    !X509_CRL_add_ext(crl, aki, -1))
		goto out;
	if ((rc = smz_ca_foreach(ca, add_revoked, &rl, e)))
		goto out;
	rc = SMZ_ERR_INTERNAL;
	if (rl.failed || !X509_CRL_sort(crl) ||
	    !X509_CRL_sign(crl, ca->key, smz_profile_md(ca->key)))
		goto out;
	unsigned char *buf = NULL;
	int l = i2d_X509_CRL(crl, &buf);
	if (l <= 0)
		goto out;
	*der = buf;
	*len = (size_t)l;
	rc = 0;
out:
	if (rc == SMZ_ERR_INTERNAL)
		smz_err_ssl(e, rc, "cannot build the CRL");
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	X509_CRL_free(crl);
	return rc;
}

int
smz_ca_crl_write(struct smz_ca *ca, const struct smz_policy *p, const char *path, FILE *out,
		 struct smz_err *e)
{
	unsigned char *der = NULL;
	size_t len = 0;
	int rc = smz_ca_crl(ca, p, &der, &len, e);
	if (rc)
		return rc;
	/* PEM through a memory stream: the file is replaced whole, or not */
	char *pem = NULL;
	size_t pl = 0;
	FILE *m = path ? open_memstream(&pem, &pl) : out;
	if (!m)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	else if (smz_pem_write(m, "X509 CRL", der, len))
		rc = smz_err_set(e, path ? SMZ_ERR_INTERNAL : SMZ_ERR_IO,
				 path ? "out of memory" : "cannot write to standard output");
	if (path && m && fclose(m) != 0 && !rc)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if (path && !rc)
		rc = smz_file_write_atomic(path, pem, pl, 0644, e);
	free(pem);
	OPENSSL_free(der);
	return rc;
}
