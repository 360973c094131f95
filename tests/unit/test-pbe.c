/* pbe: key derivation costs read from AlgorithmIdentifiers, at the caps
 * and one past them; nothing is derived, so every case is instant. */
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "pbe.h"
#include "tap.h"

static struct smz_err e;

static int
check(X509_ALGOR *a)
{
	memset(&e, 0, sizeof e);
	int rc = smz_pbe_check(a, "bag", &e);
	X509_ALGOR_free(a);
	return rc;
}

static X509_ALGOR *
pbkdf2(int iter)
{
	return PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), iter, NULL, 0, NULL, NID_hmacWithSHA256);
}

/* pbeWithSHAAnd3-KeyTripleDES-CBC with any INTEGER as its iterations */
static X509_ALGOR *
pbe(const ASN1_INTEGER *iter)
{
	PBEPARAM *pp = PBEPARAM_new();
	ASN1_TYPE *t = NULL;
	X509_ALGOR *a = X509_ALGOR_new();
	ASN1_OCTET_STRING_set(pp->salt, (const unsigned char *)"saltsalt", 8);
	ASN1_STRING_copy(pp->iter, iter);
	ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBEPARAM), pp, &t);
	X509_ALGOR_set0(a, OBJ_nid2obj(NID_pbe_WithSHA1And3_Key_TripleDES_CBC), V_ASN1_SEQUENCE,
			t->value.sequence);
	t->value.sequence = NULL;
	ASN1_TYPE_free(t);
	PBEPARAM_free(pp);
	return a;
}

static X509_ALGOR *
pbe_int(int64_t v)
{
	ASN1_INTEGER *i = ASN1_INTEGER_new();
	ASN1_INTEGER_set_int64(i, v);
	X509_ALGOR *a = pbe(i);
	ASN1_INTEGER_free(i);
	return a;
}

/* PBES2 with the key derivation function kdf and its parameters */
static X509_ALGOR *
pbes2(int kdf, ASN1_STRING *params)
{
	X509_ALGOR *a = pbkdf2(2048);
	PBE2PARAM *pp = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), a->parameter);
	X509_ALGOR_set0(pp->keyfunc, OBJ_nid2obj(kdf), params ? V_ASN1_SEQUENCE : 0, params);
	ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBE2PARAM), pp, &a->parameter);
	PBE2PARAM_free(pp);
	return a;
}

static X509_ALGOR *
scrypt(uint64_t n, uint64_t r, uint64_t p)
{
	SCRYPT_PARAMS *sp = SCRYPT_PARAMS_new();
	ASN1_OCTET_STRING_set(sp->salt, (const unsigned char *)"saltsalt", 8);
	ASN1_INTEGER_set_uint64(sp->costParameter, n);
	ASN1_INTEGER_set_uint64(sp->blockSize, r);
	ASN1_INTEGER_set_uint64(sp->parallelizationParameter, p);
	ASN1_STRING *s = ASN1_item_pack(sp, ASN1_ITEM_rptr(SCRYPT_PARAMS), NULL);
	SCRYPT_PARAMS_free(sp);
	return pbes2(NID_id_scrypt, s);
}

int
main(void)
{
	ok(check(pbkdf2(2048)) == 0, "PBKDF2 2048 iterations pass");
	ok(check(pbkdf2(SMZ_PBE_ITER_MAX)) == 0, "PBKDF2 at the cap passes");
	ok(check(pbkdf2(SMZ_PBE_ITER_MAX + 1)) == SMZ_ERR_DATA, "one past the cap is refused");
	is_str(e.msg, "bag: PBKDF2 iteration count 10000001 exceeds the cap of 10000000",
	       "naming the parameter and the cap");
	ok(check(pbkdf2(2147483647)) == SMZ_ERR_DATA, "2^31-1 iterations refused");

	ok(check(pbe_int(SMZ_PBE_ITER_MAX)) == 0, "legacy PBE at the cap passes");
	ok(check(pbe_int(SMZ_PBE_ITER_MAX + 1)) == SMZ_ERR_DATA &&
		   strstr(e.msg, "PBE iteration count 10000001 exceeds the cap of 10000000"),
	   "legacy PBE past it refused: %s", e.msg);
	ok(check(pbe_int(0)) == SMZ_ERR_DATA && strstr(e.msg, "0 is invalid"),
	   "zero iterations refused: %s", e.msg);
	ok(check(pbe_int(-5)) == SMZ_ERR_DATA && strstr(e.msg, "-5 is invalid"),
	   "negative iterations refused: %s", e.msg);
	BIGNUM *big = NULL;
	BN_hex2bn(&big, "400000000000000000"); /* 2^70 */
	ASN1_INTEGER *bi = BN_to_ASN1_INTEGER(big, NULL);
	ok(check(pbe(bi)) == SMZ_ERR_DATA && strstr(e.msg, "out of range"),
	   "an iteration count beyond 64 bits refused: %s", e.msg);
	ASN1_INTEGER_free(bi);
	BN_free(big);

	ok(check(scrypt(16384, 8, 1)) == 0, "scrypt 16384:8:1 passes");
	ok(check(scrypt(1 << 20, 8, 16)) == 0, "scrypt at N, p and memory caps passes (1 GiB)");
	ok(check(scrypt(1 << 21, 1, 1)) == SMZ_ERR_DATA &&
		   strstr(e.msg, "scrypt N 2097152 exceeds the cap of 1048576"),
	   "N past the cap refused: %s", e.msg);
	ok(check(scrypt(1024, 33, 1)) == SMZ_ERR_DATA &&
		   strstr(e.msg, "scrypt r 33 exceeds the cap of 32"),
	   "r past the cap refused: %s", e.msg);
	ok(check(scrypt(1024, 8, 17)) == SMZ_ERR_DATA &&
		   strstr(e.msg, "scrypt p 17 exceeds the cap of 16"),
	   "p past the cap refused: %s", e.msg);
	ok(check(scrypt(1 << 19, 32, 1)) == SMZ_ERR_DATA &&
		   strstr(e.msg, "N*r*128 = 2147483648 bytes exceeds the cap of 1073741824"),
	   "N and r within their caps but 2 GiB together refused: %s", e.msg);
	ok(check(scrypt(1, 8, 1)) == SMZ_ERR_DATA, "N below 2 refused: %s", e.msg);

	ok(check(pbes2(NID_sha256, NULL)) == SMZ_ERR_DATA &&
		   strstr(e.msg, "unknown key derivation function"),
	   "an unknown KDF refused: %s", e.msg);
	X509_ALGOR *aes = X509_ALGOR_new();
	X509_ALGOR_set0(aes, OBJ_nid2obj(NID_aes_256_cbc), V_ASN1_UNDEF, NULL);
	ok(check(aes) == SMZ_ERR_DATA && strstr(e.msg, "unknown password-based encryption"),
	   "a cipher that is no PBE refused: %s", e.msg);
	X509_ALGOR *bare = X509_ALGOR_new();
	X509_ALGOR_set0(bare, OBJ_nid2obj(NID_pbes2), V_ASN1_UNDEF, NULL);
	ok(check(bare) == SMZ_ERR_DATA && strstr(e.msg, "damaged PBES2"),
	   "PBES2 without parameters refused: %s", e.msg);
	ok(check(NULL) == SMZ_ERR_DATA, "no algorithm refused");

	ok(smz_pbe_check_iter(NULL, NULL, "MAC", &e) == 0, "absent MAC iterations mean 1");
	ASN1_INTEGER *mi = ASN1_INTEGER_new();
	ASN1_INTEGER_set_int64(mi, 2147483647);
	ok(smz_pbe_check_iter(mi, NULL, "MAC", &e) == SMZ_ERR_DATA, "MAC past the cap refused");
	is_str(e.msg, "MAC iteration count 2147483647 exceeds the cap of 10000000",
	       "without a where");
	ASN1_INTEGER_free(mi);
	return done_testing();
}
