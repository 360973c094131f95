/*
 * Test helper, never installed: write a PKCS#12 (or an encrypted PEM key)
 * that is valid in every way but one key derivation, whose parameters are
 * swapped after encrypting with cheap ones.  Nothing here runs the hostile
 * derivation, so a file asking for 2^31 iterations takes milliseconds to
 * make; the MAC is computed over the file as written (except for the mac
 * layer), so an importer that refuses it must have read the parameter.
 * usage: p12hostile LAYER KIND VALUE KEY CERT PASSFILE OUT
 *   LAYER: mac (MacData iterations), keybag (shrouded key in the plain
 *          safe), safe (the encrypted certificate safe), inner (a shrouded
 *          key inside an encrypted safe), pem (ENCRYPTED PRIVATE KEY PEM)
 *   KIND:  pbkdf2 (PBES2 iterations), pbe (pbeWithSHAAnd3-KeyTripleDES-CBC
 *          iterations), scrypt (VALUE is N:r:p), unknown (PBES2 with a
 *          key derivation function that is not one), none (a genuine file),
 *          real-scrypt (a genuine file, its key bag encrypted with scrypt
 *          N:r:p)
 */
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHEAP 2048

static const char *kind;
static const char *value;

static void
die(const char *what)
{
	fprintf(stderr, "p12hostile: %s\n", what);
	exit(1);
}

/* PBES2 (AES-256-CBC) with the key derivation function replaced. */
static X509_ALGOR *
pbes2_with(int kdf_nid, ASN1_STRING *kdf_params)
{
	X509_ALGOR *a = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), CHEAP, NULL, 0, NULL,
					  NID_hmacWithSHA256);
	PBE2PARAM *pp = a ? ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), a->parameter)
			  : NULL;
	if (!pp ||
	    !X509_ALGOR_set0(pp->keyfunc, OBJ_nid2obj(kdf_nid), kdf_params ? V_ASN1_SEQUENCE : 0,
			     kdf_params) ||
	    !ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBE2PARAM), pp, &a->parameter))
		die("cannot build PBES2 parameters");
	PBE2PARAM_free(pp);
	return a;
}

/* The hostile AlgorithmIdentifier that KIND and VALUE ask for. */
static X509_ALGOR *
hostile(void)
{
	if (strcmp(kind, "pbkdf2") == 0)
		return PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), atoi(value), NULL, 0, NULL,
					 NID_hmacWithSHA256);
	if (strcmp(kind, "pbe") == 0)
		return PKCS5_pbe_set(NID_pbe_WithSHA1And3_Key_TripleDES_CBC, atoi(value), NULL, 0);
	if (strcmp(kind, "unknown") == 0)
		return pbes2_with(NID_sha256, NULL);
	if (strcmp(kind, "scrypt") == 0) {
		unsigned long long n, r, p;
		unsigned char salt[16];
		if (sscanf(value, "%llu:%llu:%llu", &n, &r, &p) != 3)
			die("scrypt VALUE is N:r:p");
		SCRYPT_PARAMS *sp = SCRYPT_PARAMS_new();
		if (!sp || RAND_bytes(salt, sizeof salt) != 1 ||
		    !ASN1_OCTET_STRING_set(sp->salt, salt, sizeof salt) ||
		    !ASN1_INTEGER_set_uint64(sp->costParameter, n) ||
		    !ASN1_INTEGER_set_uint64(sp->blockSize, r) ||
		    !ASN1_INTEGER_set_uint64(sp->parallelizationParameter, p))
			die("cannot build scrypt parameters");
		ASN1_STRING *s = ASN1_item_pack(sp, ASN1_ITEM_rptr(SCRYPT_PARAMS), NULL);
		SCRYPT_PARAMS_free(sp);
		return pbes2_with(NID_id_scrypt, s);
	}
	die("unknown KIND");
	return NULL;
}

static void
swap_alg(X509_ALGOR *dst)
{
	if (strcmp(kind, "none") == 0)
		return;
	X509_ALGOR *h = hostile();
	if (!h || !X509_ALGOR_copy(dst, h))
		die("cannot set the algorithm");
	X509_ALGOR_free(h);
}

static void
swap_key(const PKCS12_SAFEBAG *bag)
{
	X509_ALGOR *a;
	X509_SIG_getm((X509_SIG *)PKCS12_SAFEBAG_get0_pkcs8(bag), &a, NULL);
	swap_alg(a);
}

int
main(int argc, char **argv)
{
	if (argc != 8)
		die("usage: p12hostile LAYER KIND VALUE KEY CERT PASSFILE OUT");
	const char *layer = argv[1];
	kind = argv[2];
	value = argv[3];
	char pass[256] = "";
	FILE *f = fopen(argv[4], "r");
	EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(argv[5], "r");
	X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(argv[6], "r");
	if (!f || !fgets(pass, sizeof pass, f))
		die("cannot read PASSFILE");
	fclose(f);
	pass[strcspn(pass, "\n")] = 0;
	if (!key || !cert)
		die("cannot read KEY or CERT");
	FILE *out = fopen(argv[7], "wb");
	if (!out)
		die("cannot create OUT");

	if (strcmp(layer, "pem") == 0) {
		PKCS8_PRIV_KEY_INFO *inf = EVP_PKEY2PKCS8(key);
		X509_SIG *sig = inf ? PKCS8_encrypt(-1, EVP_aes_256_cbc(), pass, -1, NULL, 0, CHEAP,
						    inf)
				    : NULL;
		X509_ALGOR *a;
		if (!sig)
			die("cannot encrypt the key");
		X509_SIG_getm(sig, &a, NULL);
		swap_alg(a);
		if (!PEM_write_PKCS8(out, sig) || !PEM_write_X509(out, cert) || fclose(out))
			die("cannot write OUT");
		X509_SIG_free(sig);
		PKCS8_PRIV_KEY_INFO_free(inf);
		EVP_PKEY_free(key);
		X509_free(cert);
		return 0;
	}

	/* certificates in the first safe, the key in the second: encrypted
	 * certificates and a plain key safe as OpenSSL writes them, or (inner)
	 * the other way round */
	int inner = strcmp(layer, "inner") == 0;
	STACK_OF(PKCS12_SAFEBAG) *certbags = NULL, *keybags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	PKCS12_SAFEBAG *kb;
	if (strcmp(kind, "real-scrypt") == 0) {
		/* genuinely scrypt-encrypted: the parameters within the caps pass */
		unsigned long long n, r, p;
		X509_ALGOR *a = NULL;
		PKCS8_PRIV_KEY_INFO *inf = EVP_PKEY2PKCS8(key);
		X509_SIG *sig = NULL;
		if (sscanf(value, "%llu:%llu:%llu", &n, &r, &p) != 3 || !inf ||
		    !(a = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 0, NULL, n, r, p)) ||
		    !(sig = PKCS8_set0_pbe(pass, -1, inf, a)) ||
		    !(kb = PKCS12_SAFEBAG_create0_pkcs8(sig)) ||
		    !(keybags = sk_PKCS12_SAFEBAG_new_null()) ||
		    !sk_PKCS12_SAFEBAG_push(keybags, kb))
			die("cannot make an scrypt key bag");
		PKCS8_PRIV_KEY_INFO_free(inf);
		kind = "none";
	} else {
		kb = PKCS12_add_key(&keybags, key, 0, CHEAP, NID_aes_256_cbc, pass);
	}
	if (!kb || !PKCS12_add_cert(&certbags, cert))
		die("cannot make the bags");
	if (strcmp(layer, "keybag") == 0 || inner)
		swap_key(kb);
	if (!PKCS12_add_safe(&safes, certbags, inner ? -1 : NID_aes_256_cbc, CHEAP, pass) ||
	    !PKCS12_add_safe(&safes, keybags, inner ? NID_aes_256_cbc : -1, CHEAP, pass))
		die("cannot make the safes");
	if (strcmp(layer, "safe") == 0)
		swap_alg(sk_PKCS7_value(safes, 0)->d.encrypted->enc_data->algorithm);
	PKCS12 *p12 = PKCS12_add_safes(safes, 0);
	if (!p12 || !PKCS12_set_mac(p12, pass, -1, NULL, 0, CHEAP, NULL))
		die("cannot make the PKCS#12");
	if (strcmp(layer, "mac") == 0 && strcmp(kind, "none") != 0) {
		const ASN1_INTEGER *it = NULL;
		PKCS12_get0_mac(NULL, NULL, NULL, &it, p12);
		if (!it || !ASN1_INTEGER_set_int64((ASN1_INTEGER *)it, atoll(value)))
			die("cannot set the MAC iterations");
	}
	if (!i2d_PKCS12_fp(out, p12) || fclose(out))
		die("cannot write OUT");
	PKCS12_free(p12);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_PKCS12_SAFEBAG_pop_free(certbags, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(keybags, PKCS12_SAFEBAG_free);
	EVP_PKEY_free(key);
	X509_free(cert);
	return 0;
}
