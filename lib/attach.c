#include "attach.h"
#include "pem.h"
#include "progress.h"
#include "vault.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#define BATCH_MAX 512

static int
add_file(const char *path, X509_STORE *store, STACK_OF(X509) * chain, int optional,
	 struct smz_err *e)
{
	if (optional && access(path, R_OK) != 0)
		return 0;
	STACK_OF(X509) *s = NULL;
	int rc = smz_pem_read_certs(path, &s, e);
	for (int i = 0; !rc && i < sk_X509_num(s); i++) {
		X509 *x = sk_X509_value(s, i);
		/* self-signed: an anchor; else an intermediate, trusted only through one */
		if (X509_check_issued(x, x) == X509_V_OK) {
			if (!X509_STORE_add_cert(store, x))
				rc = smz_err_ssl(e, SMZ_ERR_CONFIG, path);
		} else if (X509_up_ref(x)) {
			sk_X509_push(chain, x);
		}
	}
	sk_X509_pop_free(s, X509_free);
	return rc;
}

/*
 * The anchors whose certificates a vault takes: the CA's root.pem (with its
 * issuing.pem as an intermediate) and the policy's [vault] attach_trust.
 * Checking a leaf against the full store verifies the intermediate's
 * signature again for every certificate, which is most of an attach run's
 * time (a P-384 root).  So each intermediate that chains to the anchors is
 * checked once, here, and goes into a second store as an anchor of its
 * own; leaves are checked against that store with partial chains allowed,
 * and against the full one when that fails (for the exact reason, or a
 * path through another intermediate).  An intermediate under a CA with
 * name or path length constraints stays out of the second store: a
 * partial chain would not see those constraints.
 */
struct anchors {
	X509_STORE *full, *fast;
	STACK_OF(X509) * chain;
};

static int
verify(X509_STORE *store, STACK_OF(X509) * chain, X509 *x, unsigned long flags, int *err,
       int (*each)(X509_STORE_CTX *ctx, void *arg), void *arg)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = ctx && X509_STORE_CTX_init(ctx, store, x, chain);
	if (ok) {
		/* for S/MIME, validity not considered: old certificates of
		 * imported keys attach too */
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
					    X509_V_FLAG_NO_CHECK_TIME | flags);
		ok = X509_verify_cert(ctx) == 1;
		*err = X509_STORE_CTX_get_error(ctx);
		if (ok && each)
			ok = each(ctx, arg);
	} else {
		*err = X509_V_ERR_OUT_OF_MEM;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* Adds a verified intermediate to the fast store unless a CA above it
 * constrains names or path length (OpenSSL checks a pathLenConstraint
 * against the CAs below it in the chain, which a partial chain leaves
 * out). */
static int
to_fast(X509_STORE_CTX *ctx, void *arg)
{
	STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
	for (int i = 1; i < sk_X509_num(path); i++)
		if (X509_get_ext_by_NID(sk_X509_value(path, i), NID_name_constraints, -1) >= 0 ||
		    X509_get_pathlen(sk_X509_value(path, i)) >= 0)
			return 1;
	return X509_STORE_add_cert(arg, sk_X509_value(path, 0));
}

static void
anchors_free(struct anchors *a)
{
	X509_STORE_free(a->full);
	X509_STORE_free(a->fast);
	sk_X509_pop_free(a->chain, X509_free);
}

static int
anchors_load(const struct smz_policy *p, const char *ca_dir, struct anchors *a, struct smz_err *e)
{
	a->full = X509_STORE_new();
	a->fast = X509_STORE_new();
	a->chain = sk_X509_new_null();
	int rc = a->full && a->fast && a->chain ? 0
						: smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	char path[PATH_MAX + 16];
	if (!rc && ca_dir && ca_dir[0]) {
		snprintf(path, sizeof path, "%s/root.pem", ca_dir);
		rc = add_file(path, a->full, a->chain, 1, e);
		snprintf(path, sizeof path, "%s/issuing.pem", ca_dir);
		if (!rc)
			rc = add_file(path, a->full, a->chain, 1, e);
	}
	if (!rc && p->attach_trust[0])
		rc = add_file(p->attach_trust, a->full, a->chain, 0, e);
	if (!rc && sk_X509_OBJECT_num(X509_STORE_get0_objects(a->full)) == 0)
		rc = smz_err_set(e, SMZ_ERR_CONFIG,
				 "no CA to trust: attach takes certificates of "
				 "the CA (policy [ca] path, its root.pem) or of those in policy "
				 "[vault] attach_trust");
	for (int i = 0; !rc && i < sk_X509_num(a->chain); i++) {
		int err;
		X509 *x = sk_X509_value(a->chain, i);
		if (!X509_check_ca(x))
			continue;
		if (!verify(a->full, a->chain, x, 0, &err, to_fast, a->fast) &&
		    err == X509_V_ERR_OUT_OF_MEM)
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	return rc; /* the caller frees a, whatever the outcome */
}

/* Does x chain to the anchors?  0, or -1 with the reason in why. */
static int
trusted(const struct anchors *a, X509 *x, char *why, size_t cap)
{
	int err;
	if (verify(a->fast, NULL, x, X509_V_FLAG_PARTIAL_CHAIN, &err, NULL, NULL) ||
	    verify(a->full, a->chain, x, 0, &err, NULL, NULL))
		return 0;
	snprintf(why, cap, "not issued by this CA or one of policy [vault] attach_trust: %s",
		 X509_verify_cert_error_string(err));
	return -1;
}

#define BATCH_SECONDS 1.0

struct run {
	const struct smz_attach_opts *o;
	struct smz_vault *v;
	struct anchors trust;
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
	char tw[300];
	if (!why && trusted(&r->trust, x, tw, sizeof tw) < 0)
		why = tw; /* a certificate from anywhere would make anyone's key someone's */
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
	int rc = r->n ? smz_vault_attach(r->v, r->at, r->n, r->o->policy->supersede,
					 r->o->policy->local_part_sensitive, r->e)
		      : 0;
	for (size_t i = 0; !rc && i < r->n; i++) {
		struct smz_attach *a = &r->at[i];
		if (a->result == SMZ_ERR_NOTFOUND || a->result == SMZ_ERR_DATA) {
			r->st->rejected++;
			r->o->report(r->o->arg, r->index[i], r->line[i], NULL,
				     a->result == SMZ_ERR_DATA ? SMZ_AT_BAD : SMZ_AT_NOKEY,
				     a->result == SMZ_ERR_DATA ? a->why
							       : "its key is not in the vault");
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
	return smz_progress_flush(&r->prog, r->seen, r->out, rc, r->e);
}

int
smz_attach_run(const struct smz_attach_opts *o, FILE *in, FILE *out, struct smz_attach_stats *st,
	       struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	struct run *r = calloc(1, sizeof *r);
	if (!r)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	*r = (struct run){.o = o, .out = out, .st = st, .e = e};
	int rc = anchors_load(o->policy, o->ca_dir, &r->trust, e);
	if (!rc)
		rc = smz_vault_open(o->vault_dir, &r->v, e);
	if (!rc && o->unlock && (rc = smz_vault_unlock(r->v, o->unlock, "smz-vault attach", e)))
		smz_vault_close(r->v);
	if (rc) {
		anchors_free(&r->trust);
		free(r);
		return rc;
	}
	smz_progress_start(&r->prog, o->progress, 0);
	rc = smz_pem_batches(in, BATCH_MAX, BATCH_SECONDS, take, flush, r);
	for (size_t i = 0; i < r->n; i++)
		X509_free(r->at[i].cert);
	smz_progress_end(&r->prog);
	smz_vault_close(r->v);
	anchors_free(&r->trust);
	free(r);
	if (rc && !e->code)
		rc = smz_err_set(e, rc, "%s", smz_strerror(rc));
	return rc;
}
