#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK 64

struct run {
	const struct smz_signer_opts *o;
	struct smz_workers w;
	const char *mode; /* for "cannot sign: why" */
	const char *const *paths;
	size_t n;
	int in; /* one message: from in to out */
	FILE *out;
};

/* A process's engine and handles. */
struct proc {
	struct run *r;
	struct smz_smime_cfg cfg;
	struct smz_vault *v;
	struct smz_dir *dir;
	struct smz_smime *s;
};

/* When a private key is first needed: a verify that needs none never
 * unlocks, and writes no unlock entry. */
static int
unlock(void *arg, struct smz_err *e)
{
	struct proc *p = arg;
	int rc = smz_vault_unlock(p->v, p->r->o->unlock, "smz-sign", e);
	if (rc) {
		char m[sizeof e->msg];
		snprintf(m, sizeof m, "%s", e->msg);
		smz_err_set(e, rc, "unlocking the vault: %.900s", m);
	}
	return rc;
}

static int
proc_open(struct run *r, struct proc *p)
{
	const struct smz_signer_opts *o = r->o;
	struct smz_err e = {0};
	int must = o->ops & (SMZ_SMIME_SIGN | SMZ_SMIME_DECRYPT), rc;
	p->r = r;
	p->cfg = o->cfg;
	/* one message to a stream: its key uses are committed before its first
	 * byte is written (a batch commits before it names its outputs) */
	p->cfg.commit_before_output = !r->paths;
	/* the vault: needed to sign and decrypt; verify uses it for encrypted mail */
	if (o->vault_dir && (rc = smz_vault_open(o->vault_dir, &p->v, &e))) {
		if (must)
			return smz_workers_fail(&r->w, 0, rc, &e, "open the vault");
		p->v = NULL;
	}
	if (p->v && (o->ops & ~SMZ_SMIME_ENCRYPT) && o->unlock) {
		p->cfg.unlock = unlock;
		p->cfg.unlock_arg = p;
	} else if (p->v && must) {
		return smz_workers_note(&r->w, 0, SMZ_ERR_USAGE,
					"the vault must be unlocked to sign or decrypt, and no "
					"passphrase, share or gateway key was given");
	}
	p->cfg.vault = p->v;
	if (o->trust) {
		p->cfg.trust = o->trust->store;
		p->cfg.crl_check = o->trust->crl;
		p->cfg.chain = o->trust->chain;
		p->cfg.certs = o->trust->certs;
	}
	if (o->ldap) {
		if ((rc = smz_dir_open(o->ldap, &p->dir, &e)))
			return smz_workers_fail(&r->w, 0, rc, &e, "use the directory");
		p->cfg.lookup = smz_dir_lookup;
		p->cfg.lookup_arg = p->dir;
	}
	if ((rc = smz_smime_new(&p->cfg, &p->s, &e)))
		return smz_workers_fail(&r->w, 0, rc, &e, "start");
	return 0;
}

static void
proc_close(struct run *r, struct proc *p, size_t index)
{
	struct smz_err e = {0};
	int rc;
	if (p->s && smz_smime_pending(p->s) && (rc = smz_smime_commit(p->s, &e)))
		smz_workers_fail(&r->w, index, rc, &e, "record key uses in the audit log");
	smz_smime_free(p->s);
	smz_dir_close(p->dir);
	smz_vault_close(p->v);
}

/* One message from fd to out; label: its file, in a batch. */
static int
one(struct run *r, struct proc *p, size_t idx, int fd, FILE *out, const char *label)
{
	struct smz_err e = {0};
	struct smz_smime_result res;
	int rc = smz_smime_run(p->s, r->o->ops, fd, out, &res, &e);
	const char *l = label ? label : "", *colon = label ? ": " : "";
	if (r->o->ops & SMZ_SMIME_VERIFY)
		smz_workers_result(&r->w, idx, rc, "%s%s%s", l, colon,
				   res.status[0] ? res.status : e.msg);
	else if (rc) /* a refusal says which rule, as the status line does */
		smz_workers_note(&r->w, idx, rc, "%s%scannot %s: %s", l, colon, r->mode,
				 strncmp(res.status, "FAIL ", 5) == 0 ? res.status : e.msg);
	else if (!r->o->quiet)
		smz_workers_note(&r->w, idx, 0, "%s%s%s", l, colon, res.status);
	return rc;
}

struct out {
	char *tmp, *dst;
	dev_t dev; /* its file system */
};

/* Make outputs durable, then the audit entries of their key uses, then
 * give them their names: an output never exists without its audit entry. */
static void
publish(struct run *r, struct proc *p, struct out *outs, size_t n, size_t idx)
{
	struct smz_err e = {0};
	int rc = 0;
	/* one syncfs per file system for the chunk instead of an fsync per message */
	dev_t done[CHUNK];
	size_t ndone = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		size_t k = 0;
		for (k = 0; k < ndone && done[k] != outs[i].dev; k++)
			;
		if (k < ndone)
			continue;
		int fd = open(outs[i].tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (syncfs(fd) != 0)
			rc = smz_err_set(&e, SMZ_ERR_IO, "syncfs: %s", strerror(errno));
		done[ndone++] = outs[i].dev;
		close(fd);
		if (rc)
			smz_workers_fail(&r->w, idx, rc, &e, "make the outputs durable");
	}
	if (!rc && smz_smime_pending(p->s) && (rc = smz_smime_commit(p->s, &e)))
		smz_workers_fail(&r->w, idx, rc, &e, "record the key uses in the audit log");
	for (size_t i = 0; i < n; i++) {
		if (!rc && rename(outs[i].tmp, outs[i].dst) != 0)
			smz_workers_note(&r->w, idx, SMZ_ERR_CANTCREAT, "%s: cannot rename: %s",
					 outs[i].dst, strerror(errno));
		if (rc)
			unlink(outs[i].tmp);
		free(outs[i].tmp);
		free(outs[i].dst);
	}
}

/* One file of the batch; its output, when there is one to keep, in *o. */
static void
batch_one(struct run *r, struct proc *p, size_t idx, struct out *o)
{
	const char *path = r->paths[idx];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		smz_workers_note(&r->w, idx, SMZ_ERR_NOINPUT, "%s: %s", path, strerror(errno));
		return;
	}
	if (r->o->ops & SMZ_SMIME_VERIFY) {
		one(r, p, idx, fd, NULL, path);
		close(fd);
		return;
	}
	size_t dl = strlen(path) + strlen(r->o->suffix) + 1;
	char *dst = malloc(dl), *tmp = malloc(dl + 16);
	struct stat st;
	int tfd = -1;
	FILE *out = NULL;
	if (dst && tmp) {
		snprintf(dst, dl, "%s%s", path, r->o->suffix);
		snprintf(tmp, dl + 16, "%s.tmpXXXXXX", dst);
		if (lstat(dst, &st) == 0) {
			if (r->o->verbose)
				smz_workers_note(&r->w, idx, 0, "%s: exists, skipped", dst);
			goto skip;
		}
		tfd = mkstemp(tmp);
		out = tfd >= 0 ? fdopen(tfd, "w") : NULL;
	}
	if (!out) {
		smz_workers_note(&r->w, idx, SMZ_ERR_CANTCREAT, "%s: cannot create: %s",
				 tmp ? tmp : path, strerror(errno));
		if (tfd >= 0)
			close(tfd), unlink(tmp);
		goto skip;
	}
	int rc = one(r, p, idx, fd, out, path);
	struct stat ost = {0};
	if (fstat(tfd, &ost) != 0 && !rc)
		rc = smz_workers_note(&r->w, idx, SMZ_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (fclose(out) != 0 && !rc)
		rc = smz_workers_note(&r->w, idx, SMZ_ERR_IO, "%s: write error", tmp);
	if (!rc) {
		*o = (struct out){tmp, dst, ost.st_dev};
		close(fd);
		return;
	}
	/* the key uses stay in the audit log even though no output is kept */
	unlink(tmp);
skip:
	close(fd);
	free(dst);
	free(tmp);
}

/* Files first, first + step, ...; the index of the last one. */
static size_t
batch(struct run *r, struct proc *p, size_t first, size_t step)
{
	struct out outs[CHUNK];
	size_t n = 0, last = first;
	for (size_t i = first; i < r->n; i += step) {
		outs[n] = (struct out){NULL, NULL, 0};
		batch_one(r, p, last = i, &outs[n]);
		if (outs[n].tmp && ++n == CHUNK) {
			publish(r, p, outs, n, i);
			n = 0;
		}
	}
	publish(r, p, outs, n, last);
	return last;
}

static int
work(void *arg, struct smz_workers *w, size_t first, size_t step)
{
	struct run *r = arg;
	struct proc p = {0};
	size_t last = first;
	if (!proc_open(r, &p)) {
		if (r->paths)
			last = batch(r, &p, first, step);
		else /* the library commits the audit entries before it writes */
			one(r, &p, 0, r->in, r->out, NULL);
	}
	proc_close(r, &p, last);
	return smz_workers_code(w, 0);
}

static int
run(struct run *r, size_t jobs, struct smz_err *e)
{
	const struct smz_signer_opts *o = r->o;
	int ops = o->ops;
	r->mode = (ops & SMZ_SMIME_SIGN) && (ops & SMZ_SMIME_ENCRYPT) ? "sign and encrypt"
		  : ops & SMZ_SMIME_SIGN			      ? "sign"
		  : ops & SMZ_SMIME_ENCRYPT			      ? "encrypt"
								      : "decrypt";
	struct smz_workers_opts wo = {jobs, work, NULL, NULL, r, o->report, o->arg};
	smz_workers_init(&r->w, &wo);
	smz_workers_run(&r->w);
	return smz_workers_end(&r->w, e);
}

int
smz_signer_one(const struct smz_signer_opts *o, int in, FILE *out, struct smz_err *e)
{
	struct run r = {.o = o, .in = in, .out = out};
	return run(&r, 1, e);
}

int
smz_signer_batch(const struct smz_signer_opts *o, const char *const *paths, size_t n,
		 struct smz_err *e)
{
	struct run r = {.o = o, .paths = paths, .n = n, .in = -1};
	/* no more workers than messages */
	size_t jobs = o->jobs < 1 ? 1 : o->jobs > n ? (n ? n : 1) : o->jobs;
	return run(&r, jobs, e);
}
