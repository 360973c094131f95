#include "issue.h"
#include "pem.h"
#include "progress.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 256
#define BATCH_SECONDS 1.0

struct pending {
	struct smz_csr_info ci;
	size_t index, line;
};

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
flush(const struct smz_issue_opts *o, struct pending *pd, struct smz_ca_request *rq, size_t n,
      FILE *out, struct smz_issue_stats *st, struct smz_err *e)
{
	for (size_t i = 0; i < n; i++)
		rq[i] = (struct smz_ca_request){.ci = &pd[i].ci};
	int rc = n ? smz_ca_issue(o->ca, o->policy, rq, n, e) : 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (!PEM_write_X509(out, rq[i].cert) || ferror(out))
			rc = smz_err_set(e, SMZ_ERR_IO, "cannot write to standard output");
		if (rq[i].existed)
			st->existed++;
		else
			st->issued++;
		o->report(o->arg, pd[i].index, pd[i].line, pd[i].ci.addresses[0],
			  rq[i].existed ? SMZ_IS_EXISTED : SMZ_IS_ISSUED, NULL);
	}
	for (size_t i = 0; i < n; i++) {
		X509_free(rq[i].cert);
		smz_csr_info_free(&pd[i].ci);
	}
	if (!rc && fflush(out) != 0)
		rc = smz_err_set(e, SMZ_ERR_IO, "cannot write to standard output");
	return rc;
}

int
smz_issue_run(const struct smz_issue_opts *o, FILE *in, FILE *out, struct smz_issue_stats *st,
	      struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	struct smz_pem_reader *r = smz_pem_reader_new(in);
	struct pending *pd = calloc(BATCH_MAX, sizeof *pd);
	struct smz_ca_request *rq = calloc(BATCH_MAX, sizeof *rq);
	if (!r || !pd || !rq) {
		smz_pem_reader_free(r);
		free(pd);
		free(rq);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	struct smz_progress prog;
	smz_progress_start(&prog, stderr, o->quiet, "smz-issue", 0);
	size_t n = 0, seen = 0;
	double t0 = now();
	int rc = 0;
	for (;;) {
		struct smz_pem_block b;
		struct smz_err be = {0};
		int got = smz_pem_next(r, &b, &be);
		if (got == 0)
			break;
		seen++;
		if (got < 0) {
			st->rejected++;
			o->report(o->arg, b.index, b.line, NULL, SMZ_IS_REJECTED, be.msg);
		} else if (strcmp(b.type, "CERTIFICATE REQUEST") != 0 &&
			   strcmp(b.type, "NEW CERTIFICATE REQUEST") != 0) {
			char why[128];
			snprintf(why, sizeof why, "a %s block, not a certificate request", b.type);
			st->rejected++;
			o->report(o->arg, b.index, b.line, NULL, SMZ_IS_REJECTED, why);
		} else if (smz_csr_check(b.der, b.len, o->policy, &pd[n].ci, &be) < 0) {
			st->rejected++;
			o->report(o->arg, b.index, b.line, NULL, SMZ_IS_REJECTED, be.msg);
		} else {
			pd[n].index = b.index;
			pd[n].line = b.line;
			n++;
		}
		smz_pem_block_clear(&b);
		if (n == BATCH_MAX || (n && now() - t0 >= BATCH_SECONDS)) {
			if ((rc = flush(o, pd, rq, n, out, st, e)))
				break;
			n = 0;
			t0 = now();
			smz_progress_update(&prog, seen);
		}
	}
	if (!rc)
		rc = flush(o, pd, rq, n, out, st, e);
	else
		for (size_t i = 0; i < n; i++)
			smz_csr_info_free(&pd[i].ci);
	smz_progress_end(&prog);
	smz_pem_reader_free(r);
	free(pd);
	free(rq);
	return rc;
}
