#include "pbe.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>

/* Read an optional INTEGER parameter into *v (dflt if absent); refuse
 * one below lo or above hi, naming it after "where: " (where may be NULL). */
static int
param(const ASN1_INTEGER *a, int64_t dflt, int64_t lo, int64_t hi, const char *where,
      const char *what, int64_t *v, struct smz_err *e)
{
	const char *sep = where ? ": " : "";
	where = where ? where : "";
	*v = dflt;
	if (a && !ASN1_INTEGER_get_int64(v, a)) {
		ERR_clear_error();
		return smz_err_set(e, SMZ_ERR_DATA, "%s%s%s out of range (the cap is %lld)", where,
				   sep, what, (long long)hi);
	}
	if (*v < lo)
		return smz_err_set(e, SMZ_ERR_DATA, "%s%s%s %lld is invalid (at least %lld)", where,
				   sep, what, (long long)*v, (long long)lo);
	if (*v > hi)
		return smz_err_set(e, SMZ_ERR_DATA, "%s%s%s %lld exceeds the cap of %lld", where,
				   sep, what, (long long)*v, (long long)hi);
	return 0;
}

int
smz_pbe_check_iter(const ASN1_INTEGER *iter, const char *where, const char *what, struct smz_err *e)
{
	char name[64];
	int64_t v;
	snprintf(name, sizeof name, "%s iteration count", what);
	return param(iter, 1, 1, SMZ_PBE_ITER_MAX, where, name, &v, e);
}

/* The parameters of alg as the SEQUENCE it, or NULL: read by the same
 * OpenSSL template the derivation will use. */
static void *
unpack(const X509_ALGOR *alg, const ASN1_ITEM *it)
{
	return alg->parameter ? ASN1_TYPE_unpack_sequence(it, alg->parameter) : NULL;
}

static int
check_pbkdf2(const X509_ALGOR *kdf, const char *where, struct smz_err *e)
{
	PBKDF2PARAM *kp = unpack(kdf, ASN1_ITEM_rptr(PBKDF2PARAM));
	int64_t v;
	int rc = !kp ? smz_err_set(e, SMZ_ERR_DATA, "%s: damaged PBKDF2 parameters", where)
		     : smz_pbe_check_iter(kp->iter, where, "PBKDF2", e);
	if (!rc)
		rc = param(kp->keylength, 1, 1, EVP_MAX_KEY_LENGTH, where, "PBKDF2 key length", &v,
			   e);
	PBKDF2PARAM_free(kp);
	return rc;
}

static int
check_scrypt(const X509_ALGOR *kdf, const char *where, struct smz_err *e)
{
	SCRYPT_PARAMS *sp = unpack(kdf, ASN1_ITEM_rptr(SCRYPT_PARAMS));
	int64_t n = 0, r = 0, p = 0, kl;
	int rc = !sp ? smz_err_set(e, SMZ_ERR_DATA, "%s: damaged scrypt parameters", where) : 0;
	if (!rc)
		rc = param(sp->costParameter, 0, 2, SMZ_SCRYPT_N_MAX, where, "scrypt N", &n, e);
	if (!rc)
		rc = param(sp->blockSize, 0, 1, SMZ_SCRYPT_R_MAX, where, "scrypt r", &r, e);
	if (!rc)
		rc = param(sp->parallelizationParameter, 0, 1, SMZ_SCRYPT_P_MAX, where, "scrypt p",
			   &p, e);
	if (!rc)
		rc = param(sp->keyLength, 1, 1, EVP_MAX_KEY_LENGTH, where, "scrypt key length", &kl,
			   e);
	/* both within their caps, so the product fits */
	if (!rc && n * r * 128 > SMZ_SCRYPT_MEM_MAX)
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "%s: scrypt memory N*r*128 = %lld bytes exceeds the cap of %lld",
				 where, (long long)(n * r * 128), (long long)SMZ_SCRYPT_MEM_MAX);
	SCRYPT_PARAMS_free(sp);
	return rc;
}

static int
check_pbes2(const X509_ALGOR *alg, const char *where, struct smz_err *e)
{
	PBE2PARAM *pp = unpack(alg, ASN1_ITEM_rptr(PBE2PARAM));
	if (!pp)
		return smz_err_set(e, SMZ_ERR_DATA, "%s: damaged PBES2 parameters", where);
	const ASN1_OBJECT *obj = NULL;
	X509_ALGOR_get0(&obj, NULL, NULL, pp->keyfunc);
	int rc;
	char oid[80];
	switch (OBJ_obj2nid(obj)) {
	case NID_id_pbkdf2:
		rc = check_pbkdf2(pp->keyfunc, where, e);
		break;
	case NID_id_scrypt:
		rc = check_scrypt(pp->keyfunc, where, e);
		break;
	default:
		OBJ_obj2txt(oid, sizeof oid, obj, 0);
		rc = smz_err_set(e, SMZ_ERR_DATA, "%s: unknown key derivation function %s", where,
				 oid);
	}
	PBE2PARAM_free(pp);
	return rc;
}

int
smz_pbe_check(const X509_ALGOR *alg, const char *where, struct smz_err *e)
{
	const ASN1_OBJECT *obj = NULL;
	if (!alg)
		return smz_err_set(e, SMZ_ERR_DATA, "%s: no encryption algorithm", where);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	int rc;
	PBEPARAM *pp;
	char oid[80];
	switch (OBJ_obj2nid(obj)) {
	case NID_pbes2:
		rc = check_pbes2(alg, where, e);
		break;
	/* PKCS#12 and PKCS#5 v1 schemes: PBEParameter {salt, iterations} */
	case NID_pbe_WithSHA1And128BitRC4:
	case NID_pbe_WithSHA1And40BitRC4:
	case NID_pbe_WithSHA1And3_Key_TripleDES_CBC:
	case NID_pbe_WithSHA1And2_Key_TripleDES_CBC:
	case NID_pbe_WithSHA1And128BitRC2_CBC:
	case NID_pbe_WithSHA1And40BitRC2_CBC:
	case NID_pbeWithMD2AndDES_CBC:
	case NID_pbeWithMD5AndDES_CBC:
	case NID_pbeWithMD2AndRC2_CBC:
	case NID_pbeWithMD5AndRC2_CBC:
	case NID_pbeWithSHA1AndDES_CBC:
	case NID_pbeWithSHA1AndRC2_CBC:
		pp = unpack(alg, ASN1_ITEM_rptr(PBEPARAM));
		rc = !pp ? smz_err_set(e, SMZ_ERR_DATA, "%s: damaged PBE parameters", where)
			 : smz_pbe_check_iter(pp->iter, where, "PBE", e);
		PBEPARAM_free(pp);
		break;
	default:
		OBJ_obj2txt(oid, sizeof oid, obj, 0);
		rc = smz_err_set(e, SMZ_ERR_DATA, "%s: unknown password-based encryption %s", where,
				 oid);
	}
	ERR_clear_error();
	return rc;
}
