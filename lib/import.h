/*
 * import: keys an enterprise already has, into the vault.  PKCS#12 files
 * (PBES2/AES, 3DES and, through OpenSSL's legacy provider, RC2), PEM files
 * holding a key and its certificates, DER keys.  Each key is sealed like
 * any deposit, dated by its certificate, filed under the certificate's
 * mailboxes with its certificates (indexed by issuer+serial and SKI).  A
 * file whose key derivations ask for more than the caps in pbe.h is
 * refused before any of them runs.  A bad file is reported and skipped;
 * importing a file twice changes nothing.
 */
#ifndef SMZ_IMPORT_H
#define SMZ_IMPORT_H

#include "err.h"
#include "policy.h"
#include "vault.h"
#include "secret.h"

struct smz_import_file {
	const char *path;
	const struct smz_secret *password; /* NULL: none */
};

enum smz_import_event { SMZ_IM_IMPORTED, SMZ_IM_UNCHANGED, SMZ_IM_FAILED };

struct smz_import_opts {
	const struct smz_policy *policy;
	const char *vault_dir;
	/* an officer's unlock: imported keys then take their certificates'
	 * mailboxes, from any CA; NULL: they stay without a mailbox until an
	 * unlocked attach */
	const struct smz_unlock *unlock;
	void (*report)(void *arg, const char *path, enum smz_import_event ev, size_t keys,
		       const char *detail);
	void *arg;
};

struct smz_import_stats {
	size_t files, keys, unchanged, failed;
};

int smz_import_run(const struct smz_import_opts *o, const struct smz_import_file *files, size_t n,
		   struct smz_import_stats *st, struct smz_err *e);

#endif
