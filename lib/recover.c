#include "recover.h"
#include "mailbox.h"
#include "smime.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { C_DEC, C_NOKEY, C_PLAIN, C_CORRUPT, C_ERROR, C_SKIPPED, C_N };

/* The run, in the calling process; a worker process has a copy of it. */
struct run {
	const struct smz_recover_opts *o;
	struct smz_unlock unlock;
	struct smz_workers w;
	struct smz_vault *v; /* the calling process's, unlocked */
	struct smz_trust trust;
	struct smz_mailbox_inputs in;
	struct smz_mailbox_out *out;
	struct smz_mailbox_file rep;
	size_t counts[C_N];
	json_t *keys; /* key id -> [address, uses] */
	char why[1200];
};

/* One worker's: items first, first + step, ... */
struct ctx {
	struct run *r;
	struct smz_smime *s;
	struct smz_vault *v;
	size_t idx, first, step; /* idx: every message, every worker's */
	const char *source;
	int halt;	     /* what stopped the mbox split */
	json_t *generations; /* key id -> generation */
};

static void
input_note(void *arg, int code, const char *msg)
{
	struct run *r = arg;
	smz_workers_note(&r->w, 0, code, "%s", msg);
}

struct gen {
	const char *id;
	int n, found;
};

static int
gen_cb(void *arg, json_t *rec)
{
	struct gen *g = arg;
	g->n++;
	const char *id = json_string_value(json_object_get(rec, "key_id"));
	if (id && strcmp(id, g->id) == 0)
		g->found = g->n;
	return 0;
}

/* The key's generation: its place in the address's history, oldest 1. */
static int
generation(struct ctx *c, const char *id, const char *addr)
{
	json_t *have = json_object_get(c->generations, id);
	if (have)
		return (int)json_integer_value(have);
	struct gen g = {id, 0, 0};
	struct smz_err e = {0};
	smz_vault_history(c->v, addr, c->r->o->policy->local_part_sensitive, gen_cb, &g, &e);
	json_object_set_new(c->generations, id, json_integer(g.found));
	return g.found;
}

/* The message with a first header naming the case and the key, into the
 * Maildir or the mbox. */
static int
write_out(struct ctx *c, size_t idx, FILE *tmp, int status, const char *kid, const char *kaddr,
	  int gen, const char *name)
{
	const struct smz_recover_opts *o = c->r->o;
	FILE *msg = smz_tmpfile();
	if (!msg)
		return SMZ_ERR_CANTCREAT;
	rewind(tmp);
	char first[4096];
	int crlf = fgets(first, sizeof first, tmp) && strstr(first, "\r\n");
	if (status == C_DEC)
		fprintf(msg, "X-Smz-Recovered: case=%s; key=%s; address=%s; generation=%d%s",
			o->case_id, kid, kaddr, gen, crlf ? "\r\n" : "\n");
	rewind(tmp);
	char b[65536];
	size_t n;
	while ((n = fread(b, 1, sizeof b, tmp)) > 0)
		fwrite(b, 1, n, msg);
	fflush(msg);
	rewind(msg);
	struct smz_err e = {0};
	int rc = smz_mailbox_out_put(c->r->out, name, msg, &e);
	if (rc && e.msg[0])
		smz_workers_note(&c->r->w, idx, rc, "%s", e.msg);
	fclose(msg);
	return rc;
}

static int
one(struct ctx *c, size_t idx, int fd, long long offset)
{
	struct run *r = c->r;
	const struct smz_recover_opts *o = r->o;
	char name[40] = "";
	if (o->maildir && smz_mailbox_out_has(r->out, c->source, offset, name)) {
		r->counts[C_SKIPPED]++;
		if (o->verbose)
			smz_workers_note(&r->w, idx, 0, "%s:%lld: already recovered, skipped",
					 c->source, offset);
		return 0;
	}
	FILE *tmp = smz_tmpfile();
	if (!tmp)
		return smz_workers_note(&r->w, idx, SMZ_ERR_CANTCREAT,
					"cannot create a temporary file: %s", strerror(errno));
	struct smz_smime_result res;
	struct smz_err e = {0};
	int rc = smz_smime_run(c->s, SMZ_SMIME_DECRYPT, fd, tmp, &res, &e);
	const char *kid = "", *kaddr = "";
	int gen = 0, status;
	char st[1100];
	if (!rc && res.decrypted) {
		status = C_DEC;
		smz_smime_last_key(c->s, &kid, &kaddr);
		gen = generation(c, kid, kaddr);
		/* counted as decrypted: written, but not as the MIME it claimed to be */
		snprintf(st, sizeof st, "%s", res.raw ? "decrypted-raw" : "decrypted");
	} else if (!rc) {
		status = C_PLAIN;
		snprintf(st, sizeof st, "not-encrypted");
	} else if (rc == SMZ_ERR_PERM) {
		status = C_NOKEY;
		snprintf(st, sizeof st, "no-key");
	} else if (rc == SMZ_ERR_DATA) {
		status = C_CORRUPT;
		snprintf(st, sizeof st, "corrupt: %.1000s", e.msg);
	} else {
		status = C_ERROR;
		snprintf(st, sizeof st, "error: %.1000s", e.msg);
	}
	r->counts[status]++;
	char off[32], g[16];
	snprintf(off, sizeof off, "%lld", offset);
	snprintf(g, sizeof g, "%d", gen);
	json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "source", c->source,
				"offset", off, "message_id", res.message_id, "date", res.date,
				"from", res.from, "recipient", kaddr, "key_id", kid, "generation",
				gen ? g : "", "status", st, "signature",
				res.signatures ? res.signature : "none");
	if (rec)
		smz_workers_rec(&r->w, idx, 0, rec);
	int code = 0;
	if ((status == C_DEC || (status == C_PLAIN && !o->only_encrypted)) &&
	    (o->maildir || o->mbox))
		code = write_out(c, idx, tmp, status, kid, kaddr, gen, name);
	fclose(tmp);
	return code;
}

/* A message of an mbox: every failure of one() stops the mbox. */
static int
mbox_message(void *arg, int fd, long long offset)
{
	struct ctx *c = arg;
	size_t idx = c->idx++;
	if (idx % c->step != c->first)
		return 0; /* another worker's */
	if (fd < 0) {
		c->r->counts[C_CORRUPT]++;
		smz_workers_note(&c->r->w, idx, 0, "%s:%lld: a message over 1 GiB, skipped",
				 c->source, offset);
		return 0;
	}
	return c->halt = one(c, idx, fd, offset);
}

static int
item(struct ctx *c, const struct smz_mailbox_item *it)
{
	struct run *r = c->r;
	struct smz_err e = {0};
	c->source = it->path;
	if (it->mbox) {
		c->halt = 0;
		int rc = smz_mailbox_split(it->path, r->o->mboxo, mbox_message, c, &e);
		/* the split's own failure: every worker saw it, one tells */
		if (rc && rc != c->halt && c->first == 0)
			smz_workers_note(&r->w, c->idx, rc, "%s", e.msg);
		return rc;
	}
	size_t idx = c->idx++;
	int fd = open(it->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (idx % c->step == c->first)
			smz_workers_note(&r->w, idx, SMZ_ERR_NOINPUT, "%s: %s", it->path,
					 strerror(errno));
		return SMZ_ERR_NOINPUT;
	}
	int rc = idx % c->step == c->first ? one(c, idx, fd, 0) : 0;
	close(fd);
	return rc;
}

static void
key_collect(void *arg, const char *id, const char *addr, size_t uses)
{
	json_t *keys = arg, *have = json_object_get(keys, id);
	json_int_t n = have ? json_integer_value(json_array_get(have, 1)) : 0;
	json_object_set_new(keys, id, json_pack("[s,I]", addr, n + (json_int_t)uses));
}

/* Open and unlock the vault; a refusal is audited. */
static int
open_unlocked(struct run *r, struct smz_vault **v)
{
	struct smz_err e = {0};
	int rc = smz_vault_open(r->o->vault_dir, v, &e);
	if (rc)
		return smz_workers_fail(&r->w, 0, rc, &e, "open the vault");
	if ((rc = smz_vault_unlock(*v, &r->unlock, r->why, &e))) {
		struct smz_err ae = {0};
		char subj[300], r2[1200];
		snprintf(subj, sizeof subj, "case %s", r->o->case_id);
		snprintf(r2, sizeof r2, "%.500s; refused: %.600s", r->o->reason, e.msg);
		smz_vault_audit(*v, "recover-refused", subj, r2, &ae);
		smz_vault_close(*v);
		*v = NULL;
		return smz_workers_fail(&r->w, 0, rc, &e, "unlock the vault");
	}
	return 0;
}

static int
fatal(int rc)
{
	return rc == SMZ_ERR_CANTCREAT || rc == SMZ_ERR_INTERNAL || rc == SMZ_ERR_IO;
}

static int
work(void *arg, struct smz_workers *w, size_t first, size_t step)
{
	struct run *r = arg;
	struct ctx c = {r, NULL, r->v, 0, first, step, NULL, 0, NULL};
	struct smz_err e = {0};
	int rc, code = 0;
	/* a worker process opens its own: a vault handle does not survive fork */
	if (step > 1 && (rc = open_unlocked(r, &c.v)))
		return rc;
	c.generations = json_object();
	if ((rc = smz_mailbox_out_start(r->out, &e)))
		code = smz_workers_fail(w, 0, rc, &e, "write the mbox");
	/* a key's first use is in the audit log before anything decrypted
	 * with it is written: the report line, the Maildir, the mbox */
	char use_reason[300];
	snprintf(use_reason, sizeof use_reason, "case %s", r->o->case_id);
	struct smz_smime_cfg cfg = {0};
	cfg.vault = c.v;
	cfg.vault_unlocked = 1;
	cfg.local_sensitive = r->o->policy->local_part_sensitive;
	cfg.scope = r->o->scope;
	cfg.count_only = 1;
	cfg.first_use_op = "recover-use";
	cfg.first_use_reason = use_reason;
	cfg.commit_before_output = 1;
	cfg.unwrap_all = 1;
	cfg.trust = r->trust.store;
	if (!code && (rc = smz_smime_new(&cfg, &c.s, &e)))
		code = smz_workers_fail(w, 0, rc, &e, "start");
	for (size_t i = 0; !code && i < r->in.n; i++) {
		/* into the run's code now: a later message's failure comes after */
		rc = item(&c, &r->in.v[i]);
		smz_workers_code(w, rc);
		code = code ? code : rc;
		if (fatal(rc))
			break;
	}
	if ((rc = smz_mailbox_out_finish(r->out, &e)) && e.msg[0])
		smz_workers_note(w, c.idx, rc, "%s", e.msg);
	smz_workers_code(w, rc);
	code = code ? code : rc;
	/* keys first used by messages that then failed: no output, still audited */
	if (c.s && smz_smime_pending(c.s) && (rc = smz_smime_commit(c.s, &e)))
		code = code ? code
			    : smz_workers_fail(w, c.idx, rc, &e,
					       "record the key uses in the audit log");
	if (c.s)
		smz_smime_key_uses(c.s, key_collect, r->keys);
	smz_smime_free(c.s);
	json_decref(c.generations);
	if (step > 1)
		smz_vault_close(c.v);
	return code;
}

static json_t *
totals(void *arg)
{
	struct run *r = arg;
	json_t *counts = json_array();
	for (int k = 0; k < C_N; k++)
		json_array_append_new(counts, json_integer((json_int_t)r->counts[k]));
	return json_pack("{s:o,s:O}", "counts", counts, "keys", r->keys);
}

static void
add(void *arg, json_t *t)
{
	struct run *r = arg;
	json_t *counts = json_object_get(t, "counts"), *kv;
	for (int k = 0; k < C_N; k++)
		r->counts[k] += (size_t)json_integer_value(json_array_get(counts, (size_t)k));
	const char *id;
	json_object_foreach(json_object_get(t, "keys"), id, kv)
	{
		key_collect(r->keys, id, json_string_value(json_array_get(kv, 0)),
			    (size_t)json_integer_value(json_array_get(kv, 1)));
	}
}

/* The outputs, checked (create 0) before the vault is unlocked, so that a
 * refusal comes before anything is decrypted; then created (create 1)
 * once the unlock succeeded, so that a refused one leaves nothing behind. */
static int
outputs(struct run *r, int create, FILE **report)
{
	const struct smz_recover_opts *o = r->o;
	struct smz_err e = {0};
	int rc = 0, fd = -1;
	if ((o->maildir || o->mbox) && (rc = smz_mailbox_out_open(r->out, create, &e)))
		return smz_workers_fail(&r->w, 0, rc, &e,
					o->maildir ? "write into the Maildir" : "write the mbox");
	if (o->report_to && (rc = smz_mailbox_file_open(&r->rep, SMZ_OUT_TRUNC, !create, &fd, &e)))
		return smz_workers_fail(&r->w, 0, rc, &e, "write the report");
	if (!create)
		return 0;
	*report = fd >= 0 ? fdopen(fd, "w") : stdout;
	if (!*report) {
		close(fd);
		return smz_workers_note(&r->w, 0, SMZ_ERR_CANTCREAT, "%s: %s", o->report_to,
					strerror(errno));
	}
	return 0;
}

/* One audit entry per key used and one for the run, with its counts. */
static void
audit(struct run *r)
{
	const struct smz_recover_opts *o = r->o;
	struct smz_err e = {0};
	int rc = 0;
	const char *id;
	json_t *kv;
	char subj[400], text[1200];
	json_object_foreach(r->keys, id, kv)
	{
		snprintf(subj, sizeof subj, "%s %s", id, json_string_value(json_array_get(kv, 0)));
		snprintf(text, sizeof text, "case %s: %lld messages", o->case_id,
			 (long long)json_integer_value(json_array_get(kv, 1)));
		if ((rc = smz_vault_audit(r->v, "recover-key", subj, text, &e)))
			break;
	}
	snprintf(subj, sizeof subj, "case %s", o->case_id);
	snprintf(text, sizeof text,
		 "%.600s; %zu decrypted, %zu no-key, %zu not-encrypted, %zu corrupt, %zu "
		 "skipped%s",
		 o->reason, r->counts[C_DEC], r->counts[C_NOKEY], r->counts[C_PLAIN],
		 r->counts[C_CORRUPT], r->counts[C_SKIPPED], o->scope ? "; scoped" : "");
	if (!rc)
		rc = smz_vault_audit(r->v, "recover", subj, text, &e);
	if (rc)
		smz_workers_fail(&r->w, 0, rc, &e, "record the recovery in the audit log");
}

/* Everything up to the messages; 0, or the code to end with. */
static int
prepare(struct run *r, const char *const *paths, size_t npaths, FILE **report)
{
	const struct smz_recover_opts *o = r->o;
	for (size_t i = 0; i < npaths; i++)
		smz_mailbox_add(&r->in, paths[i], o->recurse, input_note, r);
	if (smz_workers_end(&r->w, NULL) == SMZ_ERR_USAGE)
		return SMZ_ERR_USAGE;
	/* M-of-N: shares; a passphrase only where policy allows it */
	if (o->unlock->passphrase_file && !o->policy->recovery_passphrase)
		return smz_workers_note(
			&r->w, 0, SMZ_ERR_PERM,
			"recovery needs M of the vault's recovery shares; the passphrase "
			"alone is allowed only with policy [recovery] allow_passphrase = yes");
	if (!o->vault_dir)
		return smz_workers_note(&r->w, 0, SMZ_ERR_USAGE, "no vault given");
	if (smz_mailbox_out_new(o->maildir, o->mbox, &r->out))
		return smz_workers_note(&r->w, 0, SMZ_ERR_INTERNAL, "out of memory");
	int rc;
	/* an output that is not safe is refused before anything is unlocked; the
	 * shares are checked (and a refusal audited) before any output exists */
	if ((rc = outputs(r, 0, NULL)) || (rc = open_unlocked(r, &r->v)) ||
	    (rc = outputs(r, 1, report)))
		return rc;
	char path[1200];
	struct smz_err e = {0};
	smz_trust_anchors(&r->trust, smz_trust_ca_file(o->ca_dir, "root.pem", path, sizeof path),
			  &e);
	return 0;
}

int
smz_recover_run(const struct smz_recover_opts *o, const char *const *paths, size_t npaths,
		struct smz_recover_stats *st, struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	struct run *r = calloc(1, sizeof *r);
	if (!r)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	r->o = o;
	/* a gateway unlock file is refused: recovery is the officers' */
	r->unlock = *o->unlock;
	r->unlock.scoped_ok = 0;
	r->rep = (struct smz_mailbox_file){o->report_to, -1, NULL};
	r->keys = json_object();
	snprintf(r->why, sizeof r->why, "smz-recover case %s: %s", o->case_id, o->reason);
	struct smz_workers_opts wo = {o->jobs, work, totals, add, r, o->report, o->arg};
	smz_workers_init(&r->w, &wo);
	FILE *report = NULL;
	int rc = prepare(r, paths, npaths, &report);
	if (!rc) {
		if (o->start)
			o->start(o->arg, report);
		smz_workers_run(&r->w);
		audit(r);
		if (report != stdout && fclose(report) != 0)
			smz_workers_code(&r->w, SMZ_ERR_IO);
		st->ran = 1;
	}
	st->decrypted = r->counts[C_DEC];
	st->nokey = r->counts[C_NOKEY];
	st->plain = r->counts[C_PLAIN];
	st->corrupt = r->counts[C_CORRUPT];
	st->errors = r->counts[C_ERROR];
	st->skipped = r->counts[C_SKIPPED];
	int code = smz_workers_end(&r->w, e);
	smz_vault_close(r->v);
	smz_trust_free(&r->trust);
	smz_mailbox_out_free(r->out);
	smz_mailbox_file_close(&r->rep);
	smz_mailbox_inputs_free(&r->in);
	json_decref(r->keys);
	free(r);
	return rc ? rc : code;
}
