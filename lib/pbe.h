/*
 * pbe: the cost of a password-based key derivation, read from its
 * AlgorithmIdentifier (PBES1, PKCS#12 PBE, PBES2 with PBKDF2 or scrypt)
 * before anything runs it, so that a hostile file asking for 2^31
 * iterations or gigabytes of scrypt memory is refused at once instead
 * of stalling the program for hours.
 */
#ifndef SMZ_PBE_H
#define SMZ_PBE_H

#include <openssl/asn1.h>
#include <openssl/x509.h>
#include "err.h"

/* Iterations of one PBKDF2, PKCS#5 v1 or PKCS#12 derivation, MACs
 * included: about 16 times the 600,000 OWASP asks of PBKDF2-HMAC-SHA256,
 * two seconds of work. */
#define SMZ_PBE_ITER_MAX 10000000L
/* scrypt: N*r*128 bytes of memory, N*r*p times the work of one block */
#define SMZ_SCRYPT_N_MAX (1L << 20)
#define SMZ_SCRYPT_R_MAX 32L
#define SMZ_SCRYPT_P_MAX 16L
#define SMZ_SCRYPT_MEM_MAX (1LL << 30)

/* 0 if an iteration count (NULL: absent, which means 1) is at least 1
 * and within SMZ_PBE_ITER_MAX; else SMZ_ERR_DATA with "<where>: <what>
 * iteration count N exceeds the cap of M" (where may be NULL). */
int smz_pbe_check_iter(const ASN1_INTEGER *iter, const char *where, const char *what,
		       struct smz_err *e);

/* 0 if alg is a password-based encryption we know whose key derivation
 * stays within the caps above; SMZ_ERR_DATA naming where, the parameter
 * and its cap otherwise, or for an unknown algorithm or key derivation
 * function, or unreadable parameters.  Derives nothing. */
int smz_pbe_check(const X509_ALGOR *alg, const char *where, struct smz_err *e);

#endif
