/*
 * keygen: the smz-keygen batch.  For each good roster row, a key pair per
 * policy, a CSR signed by it, and the private key sealed into the vault;
 * worker threads generate while the main thread commits groups of keys in
 * one transaction and writes each CSR only after its key is durable, in
 * roster order.
 */
#ifndef SMZ_KEYGEN_H
#define SMZ_KEYGEN_H

#include <stdio.h>
#include "err.h"
#include "policy.h"
#include "roster.h"

enum smz_keygen_event {
	SMZ_KG_REJECTED,  /* row rejected: reason */
	SMZ_KG_LEFT,	  /* person left: status */
	SMZ_KG_EXISTS,	  /* address has an active certified key: skipped */
	SMZ_KG_RESENT,	  /* active key without certificate: stored CSR sent again */
	SMZ_KG_GENERATED, /* new key vaulted, CSR written */
	SMZ_KG_RACED,	  /* another writer vaulted a key for it meanwhile */
	SMZ_KG_FAILED,	  /* key or CSR could not be made: reason */
};

struct smz_keygen_opts {
	const struct smz_policy *policy;
	const char *vault_dir;
	int jobs;
	int new_key;	/* add a key even if the address has one */
	FILE *progress; /* a terminal to show progress on, or NULL */
	int reuse_key;	/* send again the CSR of a certified active key (renewal, same key) */
	void (*report)(void *arg, const struct smz_row *row, const char *usage,
		       enum smz_keygen_event ev, const char *detail);
	void *arg;
};

struct smz_keygen_stats {
	size_t generated, resent, skipped, rejected, left, failed;
	char pool_note[300]; /* why the key pool was not used, if it failed; "" if fine */
};

/* Run the batch over a parsed roster, writing PEM CSRs to out. */
int smz_keygen_run(const struct smz_keygen_opts *o, struct smz_roster *r, FILE *out,
		   struct smz_keygen_stats *st, struct smz_err *e);

#endif
