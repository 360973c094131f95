#include "issue.h"
#include "pem.h"
#include "progress.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 256
#define BATCH_SECONDS 1.0

struct run {
	const struct smz_issue_opts *o;
	FILE *out;
	struct smz_issue_stats *st;
	struct smz_err *e;
	struct smz_progress prog;
	size_t n, seen;
	struct {
		struct smz_csr_info ci;
		size_t index, line;
	} pd[BATCH_MAX];
	struct smz_ca_request rq[BATCH_MAX];
};

static void
reject(struct run *r, const struct smz_pem_block *b, const char *why)
{
	r->st->rejected++;
	r->o->report(r->o->arg, b->index, b->line, NULL, SMZ_IS_REJECTED, why);
}

static int
take(void *arg, struct smz_pem_block *b, const struct smz_err *bad)
{
	struct run *r = arg;
	struct smz_err ce = {0};
	r->seen++;
	if (bad) {
		reject(r, b, bad->msg);
		return 0;
	}
	if (strcmp(b->type, "CERTIFICATE REQUEST") != 0 &&
	    strcmp(b->type, "NEW CERTIFICATE REQUEST") != 0) {
		char why[128];
		snprintf(why, sizeof why, "a %s block, not a certificate request", b->type);
		reject(r, b, why);
		return 0;
	}
	if (smz_csr_check(b->der, b->len, r->o->policy, &r->pd[r->n].ci, &ce) < 0) {
		reject(r, b, ce.msg);
		return 0;
	}
	r->pd[r->n].index = b->index;
	r->pd[r->n].line = b->line;
	r->n++;
	return 1;
}

static int
flush(void *arg)
{
	struct run *r = arg;
	size_t n = r->n;
	for (size_t i = 0; i < n; i++)
		r->rq[i] = (struct smz_ca_request){.ci = &r->pd[i].ci};
	int rc = n ? smz_ca_issue(r->o->ca, r->o->policy, r->rq, n, r->e) : 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (!PEM_write_X509(r->out, r->rq[i].cert) || ferror(r->out))
			rc = smz_err_set(r->e, SMZ_ERR_IO, "cannot write to standard output");
		if (r->rq[i].existed)
			r->st->existed++;
		else
			r->st->issued++;
		r->o->report(r->o->arg, r->pd[i].index, r->pd[i].line, r->pd[i].ci.addresses[0],
			     r->rq[i].existed ? SMZ_IS_EXISTED : SMZ_IS_ISSUED, NULL);
	}
	for (size_t i = 0; i < n; i++) {
		X509_free(r->rq[i].cert);
		smz_csr_info_free(&r->pd[i].ci);
	}
	r->n = 0;
	if (!rc && fflush(r->out) != 0)
		rc = smz_err_set(r->e, SMZ_ERR_IO, "cannot write to standard output");
	smz_progress_update(&r->prog, r->seen);
	return rc;
}

int
smz_issue_run(const struct smz_issue_opts *o, FILE *in, FILE *out, struct smz_issue_stats *st,
	      struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	int rc = smz_profile_check_policy(o->policy, e);
	if (rc)
		return rc;
	struct run *r = calloc(1, sizeof *r);
	if (!r)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	*r = (struct run){.o = o, .out = out, .st = st, .e = e};
	smz_progress_start(&r->prog, stderr, o->quiet, "smz-issue", 0);
	rc = smz_pem_batches(in, BATCH_MAX, BATCH_SECONDS, take, flush, r);
	for (size_t i = 0; i < r->n; i++)
		smz_csr_info_free(&r->pd[i].ci);
	smz_progress_end(&r->prog);
	free(r);
	if (rc && !e->code)
		rc = smz_err_set(e, rc, "%s", smz_strerror(rc));
	return rc;
}
