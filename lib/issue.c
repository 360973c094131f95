#include "issue.h"
#include "pem.h"
#include "progress.h"
#include "keys.h"
#include "vault.h"

#include <openssl/pem.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 256
#define BATCH_SECONDS 1.0

/* A request as read; checked and signed by the workers at flush time. */
struct pending {
	unsigned char *der;
	size_t len, index, line;
	int ok;
	char why[512];
	struct smz_csr_info ci;
	X509 *prebuilt;
};

struct run {
	const struct smz_issue_opts *o;
	FILE *out;
	struct smz_issue_stats *st;
	struct smz_err *e;
	struct smz_progress prog;
	size_t n, seen, next;
	pthread_mutex_t mu;
	struct pending pd[BATCH_MAX];
	struct smz_ca_request rq[BATCH_MAX];
};

static void
reject(struct run *r, size_t index, size_t line, const char *why)
{
	r->st->rejected++;
	r->o->report(r->o->arg, index, line, NULL, SMZ_IS_REJECTED, why);
}

static int
take(void *arg, struct smz_pem_block *b, const struct smz_err *bad)
{
	struct run *r = arg;
	r->seen++;
	if (bad) {
		reject(r, b->index, b->line, bad->msg);
		return 0;
	}
	if (strcmp(b->type, "CERTIFICATE REQUEST") != 0 &&
	    strcmp(b->type, "NEW CERTIFICATE REQUEST") != 0) {
		char why[128];
		snprintf(why, sizeof why, "a %s block, not a certificate request", b->type);
		reject(r, b->index, b->line, why);
		return 0;
	}
	struct pending *p = &r->pd[r->n++];
	memset(p, 0, sizeof *p);
	p->der = b->der; /* taken over from the block */
	p->len = b->len;
	b->der = NULL;
	p->index = b->index;
	p->line = b->line;
	return 1;
}

/* Workers check requests and sign certificates: the expensive part, in
 * parallel; the transaction then only records them. */
static void *
worker(void *arg)
{
	struct run *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		size_t i = r->next++;
		pthread_mutex_unlock(&r->mu);
		if (i >= r->n)
			return NULL;
		struct pending *p = &r->pd[i];
		struct smz_err e = {0};
		if (smz_csr_check(p->der, p->len, r->o->policy, &p->ci, &e) < 0 ||
		    smz_ca_prepare(r->o->ca, r->o->policy, &p->ci, &p->prebuilt, &e) < 0)
			snprintf(p->why, sizeof p->why, "%.500s", e.msg);
		else
			p->ok = 1;
	}
}

static int
flush(void *arg)
{
	struct run *r = arg;
	size_t n = r->n, m = 0;
	int jobs = r->o->jobs < 1 ? 1 : r->o->jobs > 64 ? 64 : r->o->jobs;
	pthread_t th[64];
	int started = 0;
	r->next = 0;
	for (; started < jobs - 1 && (size_t)started + 1 < n; started++)
		if (pthread_create(&th[started], NULL, worker, r) != 0)
			break;
	worker(r);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	size_t map[BATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		if (!r->pd[i].ok) {
			reject(r, r->pd[i].index, r->pd[i].line, r->pd[i].why);
			continue;
		}
		r->rq[m] = (struct smz_ca_request){.ci = &r->pd[i].ci,
						   .prebuilt = r->pd[i].prebuilt};
		r->pd[i].prebuilt = NULL;
		map[m++] = i;
	}
	int rc = m ? smz_ca_issue(r->o->ca, r->o->policy, r->rq, m, r->e) : 0;
	for (size_t k = 0; !rc && k < m; k++) {
		struct pending *p = &r->pd[map[k]];
		if (r->rq[k].refused) {
			reject(r, p->index, p->line,
			       "the key was revoked as compromised "
			       "(keyCompromise): it is never certified again");
			continue;
		}
		if (!PEM_write_X509(r->out, r->rq[k].cert) || ferror(r->out))
			rc = smz_err_set(r->e, SMZ_ERR_IO, "cannot write to standard output");
		if (r->rq[k].existed)
			r->st->existed++;
		else
			r->st->issued++;
		r->o->report(r->o->arg, p->index, p->line, p->ci.addresses[0],
			     r->rq[k].existed ? SMZ_IS_EXISTED : SMZ_IS_ISSUED, NULL);
	}
	for (size_t k = 0; k < m; k++) {
		X509_free(r->rq[k].cert);
		X509_free(r->rq[k].prebuilt);
	}
	for (size_t i = 0; i < n; i++) {
		X509_free(r->pd[i].prebuilt);
		smz_csr_info_free(&r->pd[i].ci);
		free(r->pd[i].der);
	}
	r->n = 0;
	return smz_progress_flush(&r->prog, r->seen, r->out, rc, r->e);
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
	r->o = o;
	r->out = out;
	r->st = st;
	r->e = e;
	pthread_mutex_init(&r->mu, NULL);
	smz_progress_start(&r->prog, o->progress, 0);
	rc = smz_pem_batches(in, BATCH_MAX, BATCH_SECONDS, take, flush, r);
	for (size_t i = 0; i < r->n; i++)
		free(r->pd[i].der);
	smz_progress_end(&r->prog);
	pthread_mutex_destroy(&r->mu);
	free(r);
	if (rc && !e->code)
		rc = smz_err_set(e, rc, "%s", smz_strerror(rc));
	return rc;
}

int
smz_issue_tell_vault(const char *vault_dir, json_t *recs, size_t *changed, struct smz_err *e)
{
	size_t n = json_array_size(recs);
	*changed = 0;
	if (!n)
		return 0;
	struct smz_vault_revocation *rv = calloc(n, sizeof *rv);
	if (!rv)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		json_t *r = json_array_get(recs, i);
		rv[i].cert = smz_cert_from_b64(json_string_value(json_object_get(r, "der")));
		rv[i].reason = json_string_value(json_object_get(r, "reason"));
		rv[i].when = json_integer_value(json_object_get(r, "revoked_at"));
		if (!rv[i].cert || !rv[i].reason)
			rc = smz_err_set(e, SMZ_ERR_DATA, "a damaged CA record (serial %s)",
					 json_string_value(json_object_get(r, "serial")));
	}
	struct smz_vault *v = NULL;
	if (!rc)
		rc = smz_vault_open(vault_dir, &v, e);
	if (!rc)
		rc = smz_vault_revoke(v, rv, n, e);
	for (size_t i = 0; i < n; i++) {
		*changed += !rc && rv[i].result == 0;
		X509_free(rv[i].cert);
	}
	smz_vault_close(v);
	free(rv);
	return rc;
}
