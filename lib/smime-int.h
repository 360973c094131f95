/*
 * smime-int: what smime.c shares with the files it is made of (certpick.c,
 * cms.c): the run's state behind struct smz_smime, its caches of keys,
 * certificates and verified chains, and its pending audit entries.  Not
 * for cmd/: programs use smime.h.
 */
#ifndef SMZ_SMIME_INT_H
#define SMZ_SMIME_INT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>
#include "addr.h"
#include "smime.h"

struct smz_smime_key { /* a key used in this run, unsealed once */
	char id[65], addr[SMZ_ADDR_MAX];
	size_t uses;
	int audited; /* count_only: its first use is among the audit entries */
	EVP_PKEY *key;
	X509 *cert;
};

struct smz_smime_rcache { /* a recipient certificate found in this run */
	char key[SMZ_ADDR_MAX];
	X509 *cert;
	int gcm, oaep; /* does it advertise AES-256-GCM, RSA-OAEP (-1: not looked yet) */
};

struct smz_smime_vcache {     /* a signer chain verified in this run, and for when */
	unsigned char id[32]; /* SHA-256 of the signer and the certificates offered */
	time_t from, to;
	int crl;
};

struct smz_smime_ccache { /* a certificate met in a CMS structure in this run */
	unsigned char *der;
	size_t len;
	X509 *x;
};

struct smz_smime_kept { /* an unsealed key kept across smz_smime_reuse */
	char id[65];
	unsigned char sealed[32]; /* hash of the sealed copy it came from */
	EVP_PKEY *key;
};

struct smz_smime_pcache {      /* a vault record's certificate, parsed */
	unsigned char b64[32]; /* hash of its base64 */
	X509 *x;
};

struct smz_smime_ridcache { /* a RecipientInfo id already looked up in this run */
	unsigned char id[32];
	size_t key;
	char state[16], how[24];
};

struct smz_smime {
	struct smz_smime_cfg cfg;
	/* fetched once: with OpenSSL 3's legacy handles (EVP_sha256()) every
	 * use looks the implementation up again */
	EVP_MD *sha256;
	EVP_CIPHER *aes256cbc, *aes256gcm;
	STACK_OF(X509_ALGOR) * caps; /* the capabilities each signature lists */
	struct smz_smime_ridcache rid[256];
	size_t nrid;
	struct smz_smime_rcache rc[64];
	size_t nrc;
	struct smz_smime_vcache vc[64];
	size_t nvc;
	struct smz_smime_ccache cc[32];
	size_t ncc;
	struct smz_smime_key *keys;
	size_t nkeys;
	/* unsealing (OpenSSL 3.0's PKCS#8 decoder) is most of a server's work
	 * per message: keys stay here across reuse, each used again only when
	 * the vault still lets this unlock open it and its sealed copy is the
	 * one it came from (smz_vault_sealed_for) */
	struct smz_smime_kept kept[64];
	size_t nkept, kept_next;
	/* certificates of vault records, parsed: they never change, so they
	 * stay across reuse (a record's state and marks are read each time) */
	struct smz_smime_pcache pc[64];
	size_t npc, pc_next;
	ptrdiff_t last_key; /* the key of the last decryption */
	int nest;	    /* forwarded messages being opened */
	char cipher[24];    /* content cipher of the last encryption layer */
	char weak[32];	    /* " weak=NAME" when a layer used a weak one */
	char **audit;	    /* op, subject, reason triples */
	size_t naudit, capaudit;
};

/* Queue an audit entry, written by smz_smime_commit; -1: out of memory. */
int smz_smime_audit_add(struct smz_smime *s, const char *op, const char *subject,
			const char *reason);

#endif
