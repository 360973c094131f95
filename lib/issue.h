/*
 * issue: the smz-issue batch.  Reads a PEM CSR stream, checks each request
 * against policy, issues in grouped transactions and writes each
 * certificate only once its issuance is committed, in input order.  A bad
 * request is reported with its index and never stops the good ones.
 */
#ifndef SMZ_ISSUE_H
#define SMZ_ISSUE_H

#include <stdio.h>
#include <jansson.h>
#include "ca.h"
#include "err.h"
#include "policy.h"

enum smz_issue_event { SMZ_IS_REJECTED, SMZ_IS_ISSUED, SMZ_IS_EXISTED };

struct smz_issue_opts {
	const struct smz_policy *policy;
	struct smz_ca *ca; /* unlocked */
	FILE *progress;	   /* a terminal to show progress on, or NULL */
	int jobs;	   /* threads checking and signing */
	void (*report)(void *arg, size_t index, size_t line, const char *address,
		       enum smz_issue_event ev, const char *detail);
	void *arg;
};

struct smz_issue_stats {
	size_t issued, existed, rejected;
};

int smz_issue_run(const struct smz_issue_opts *o, FILE *in, FILE *out, struct smz_issue_stats *st,
		  struct smz_err *e);

/* Tell the vault in vault_dir what the CA revoked: recs are CA records as
 * smz_ca_revoke reports them (already revoked ones too, so that a re-run
 * finishes what a crash between the two databases left).  *changed counts
 * the keys whose record changed; certificates of keys the vault does not
 * hold are skipped. */
int smz_issue_tell_vault(const char *vault_dir, json_t *recs, size_t *changed, struct smz_err *e);

#endif
