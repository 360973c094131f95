/*
 * attach: the smz-vault attach batch.  Reads a PEM certificate stream (from
 * smz-issue or a public CA), files each certificate beside its vaulted key
 * and passes it on only once that is committed; a certificate whose key is
 * not in the vault is reported and not passed on.
 */
#ifndef SMZ_ATTACH_H
#define SMZ_ATTACH_H

#include <openssl/x509.h>
#include <stdio.h>
#include "err.h"
#include "policy.h"
#include "vault.h"

enum smz_attach_event { SMZ_AT_ATTACHED, SMZ_AT_UNCHANGED, SMZ_AT_NOKEY, SMZ_AT_BAD };

struct smz_attach_opts {
	const struct smz_policy *policy;
	const char *vault_dir;
	const char *ca_dir;		 /* the CA whose certificates attach takes, or NULL */
	const struct smz_unlock *unlock; /* NULL: locked; unlocked, a key without a
					      mailbox (an imported one) may adopt one */
	FILE *progress;			 /* a terminal to show progress on, or NULL */
	void (*report)(void *arg, size_t index, size_t line, const char *address,
		       enum smz_attach_event ev, const char *detail);
	void *arg;
};

struct smz_attach_stats {
	size_t attached, unchanged, rejected;
};

int smz_attach_run(const struct smz_attach_opts *o, FILE *in, FILE *out,
		   struct smz_attach_stats *st, struct smz_err *e);

#endif
