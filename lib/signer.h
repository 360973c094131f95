/*
 * signer: the work of smz-sign.  One message from a descriptor to a
 * stream, or a batch of files, each result written beside its input and
 * given its name only once it is durable and the audit entries of its key
 * uses are committed; a batch spreads over worker processes (workers.h).
 * Each process opens its own vault, unlocked with the caller's credential
 * when a private key is first needed (so that verifying a signed message
 * or encrypting never unlocks), and its own directory connection.
 */
#ifndef SMZ_SIGNER_H
#define SMZ_SIGNER_H

#include <stdio.h>
#include "dir.h"
#include "err.h"
#include "smime.h"
#include "trust.h"
#include "vault.h"
#include "workers.h"

struct smz_signer_opts {
	int ops; /* SMZ_SMIME_*: sign, encrypt or both; decrypt; verify */
	/* the engine's settings; vault, unlock, trust, certificates and lookup
	 * are set from the fields below */
	struct smz_smime_cfg cfg;
	const struct smz_trust *trust;	 /* anchors, CRL, chain, recipients; or NULL */
	const char *vault_dir;		 /* NULL: no vault */
	const struct smz_unlock *unlock; /* NULL: no credential given */
	const struct smz_dir_opts *ldap; /* recipient lookup, or NULL */
	const char *suffix;		 /* batch: output name = input name + suffix */
	size_t jobs;			 /* batch: worker processes */
	int quiet, verbose;
	/* in input order: verify results (result text), messages, failures */
	void (*report)(void *arg, const struct smz_workers_report *r);
	void *arg;
};

/* One message from in to out (NULL for verify).  Both return the run's
 * code: the first failure, SMZ_ERR_VERIFY when a check said no and nothing
 * failed; each one reported, e the first's words. */
int smz_signer_one(const struct smz_signer_opts *o, int in, FILE *out, struct smz_err *e);

/* Each file of paths, the result as path + suffix (verify: none); an
 * existing result is left alone. */
int smz_signer_batch(const struct smz_signer_opts *o, const char *const *paths, size_t n,
		     struct smz_err *e);

#endif
