#include "attach.h"
#include "pem.h"
#include "progress.h"
#include "vault.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 512
#define BATCH_SECONDS 1.0

struct run {
	const struct smz_attach_opts *o;
	struct smz_vault *v;
	FILE *out;
	struct smz_attach_stats *st;
	struct smz_err *e;
	struct smz_progress prog;
	size_t n, seen;
	struct smz_attach at[BATCH_MAX];
	size_t index[BATCH_MAX], line[BATCH_MAX];
};

static int
take(void *arg, struct smz_pem_block *b, const struct smz_err *bad)
{
	struct run *r = arg;
	r->seen++;
	const unsigned char *q = b->der;
	X509 *x = NULL;
	const char *why = bad ? bad->msg : NULL;
	if (!why && strcmp(b->type, "CERTIFICATE") != 0)
		why = "not a CERTIFICATE block";
	if (!why && (!(x = d2i_X509(NULL, &q, (long)b->len)) || q != b->der + b->len))
		why = "not an X.509 certificate (damaged or truncated DER)";
	if (why) {
		ERR_clear_error();
		X509_free(x);
		r->st->rejected++;
		r->o->report(r->o->arg, b->index, b->line, NULL, SMZ_AT_BAD, why);
		return 0;
	}
	r->at[r->n] = (struct smz_attach){.cert = x};
	r->index[r->n] = b->index;
	r->line[r->n] = b->line;
	r->n++;
	return 1;
}

static int
flush(void *arg)
{
	struct run *r = arg;
	int rc = r->n ? smz_vault_attach(r->v, r->at, r->n, r->o->policy->supersede, r->e) : 0;
	for (size_t i = 0; !rc && i < r->n; i++) {
		struct smz_attach *a = &r->at[i];
		if (a->result == SMZ_ERR_NOTFOUND || a->result == SMZ_ERR_DATA) {
			r->st->rejected++;
			r->o->report(r->o->arg, r->index[i], r->line[i], NULL,
				     a->result == SMZ_ERR_DATA ? SMZ_AT_BAD : SMZ_AT_NOKEY,
				     a->result == SMZ_ERR_DATA ? a->why : "its key is not in the vault");
			continue;
		}
		if (!PEM_write_X509(r->out, a->cert) || ferror(r->out))
			rc = smz_err_set(r->e, SMZ_ERR_IO, "cannot write to standard output");
		if (a->result == 1)
			r->st->unchanged++;
		else
			r->st->attached++;
		r->o->report(r->o->arg, r->index[i], r->line[i], a->address,
			     a->result == 1 ? SMZ_AT_UNCHANGED : SMZ_AT_ATTACHED, NULL);
	}
	for (size_t i = 0; i < r->n; i++)
		X509_free(r->at[i].cert);
	r->n = 0;
	if (!rc && fflush(r->out) != 0)
		rc = smz_err_set(r->e, SMZ_ERR_IO, "cannot write to standard output");
	smz_progress_update(&r->prog, r->seen);
	return rc;
}

int
smz_attach_run(const struct smz_attach_opts *o, FILE *in, FILE *out,
	       struct smz_attach_stats *st, struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	struct run *r = calloc(1, sizeof *r);
	if (!r)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	*r = (struct run){.o = o, .out = out, .st = st, .e = e};
	int rc = smz_vault_open(o->vault_dir, &r->v, e);
	if (rc) {
		free(r);
		return rc;
	}
	smz_progress_start(&r->prog, stderr, o->quiet, "smz-vault attach", 0);
	rc = smz_pem_batches(in, BATCH_MAX, BATCH_SECONDS, take, flush, r);
	for (size_t i = 0; i < r->n; i++)
		X509_free(r->at[i].cert);
	smz_progress_end(&r->prog);
	smz_vault_close(r->v);
	free(r);
	if (rc && !e->code)
		rc = smz_err_set(e, rc, "%s", smz_strerror(rc));
	return rc;
}
