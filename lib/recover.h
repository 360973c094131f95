/*
 * recover: the smz-recover batch, forensic recovery of old encrypted mail
 * under M-of-N control.  Every message of the inputs (files, mboxes,
 * Maildirs) is decrypted with whichever key of the vault's history it
 * names, reported as a record (source, offset, key, generation, status,
 * signature) and, when asked, written into a Maildir or an mbox with a
 * first header naming the case.  Unsafe outputs are refused before the
 * vault is unlocked, a refused unlock is audited, a key's first use is in
 * the audit log before anything decrypted with it is written, and the run
 * ends with one audit entry per key used and one for the run.
 */
#ifndef SMZ_RECOVER_H
#define SMZ_RECOVER_H

#include <stdio.h>
#include "err.h"
#include "policy.h"
#include "vault.h"
#include "workers.h"

struct smz_recover_opts {
	const struct smz_policy *policy;
	const char *vault_dir, *ca_dir; /* vault NULL: none given; ca: its root.pem as anchor */
	const struct smz_unlock *unlock;
	const char *case_id, *reason;
	const char *const *scope;		/* NULL: every key */
	const char *maildir, *mbox, *report_to; /* outputs; report_to NULL: standard output */
	int only_encrypted, recurse, mboxo, verbose;
	size_t jobs;
	/* the report is ready (the outputs exist): e.g. its header */
	void (*start)(void *arg, FILE *report);
	/* in input order: a message's record (rec, to write to the report:
	 * source, offset, message_id, date, from, recipient, key_id,
	 * generation, status, signature), and every message and failure */
	void (*report)(void *arg, const struct smz_workers_report *r);
	void *arg;
};

struct smz_recover_stats {
	size_t decrypted, nokey, plain, corrupt, errors, skipped;
	int ran; /* the messages were processed: the counts mean something */
};

/* Returns 0 or the code of the first failure (each one reported, e the
 * first's words). */
int smz_recover_run(const struct smz_recover_opts *o, const char *const *paths, size_t npaths,
		    struct smz_recover_stats *st, struct smz_err *e);

#endif
