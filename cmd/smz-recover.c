/* smz-recover: forensic recovery of old encrypted mail, under M-of-N control. */
#include "addr.h"
#include "common.h"
#include "outdir.h"
#include "smime.h"
#include "vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

static struct {
	const char *case_id, *reason, *out, *mbox, *report;
	const char **scope;
	int only_encrypted, recurse, mboxo;
} o;

static struct poptOption table[] =
	{{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_unlock, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_json, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_jobs, 0, NULL, NULL},
	 {"case", 0, POPT_ARG_STRING, &o.case_id, 0, "the case this recovery is for (required)",
	  "ID"},
	 {"reason", 0, POPT_ARG_STRING, &o.reason, 0, "why (required; recorded in the audit log)",
	  "TEXT"},
	 {"scope", 0, POPT_ARG_ARGV, &o.scope, 0,
	  "use only this address's keys (repeat; default: every key)", "ADDR"},
	 {"out", 0, POPT_ARG_STRING, &o.out, 0, "write the messages into this Maildir", "DIR"},
	 {"mbox", 0, POPT_ARG_STRING, &o.mbox, 0, "append the messages to this mbox (mboxrd)",
	  "FILE"},
	 {"report", 0, POPT_ARG_STRING, &o.report, 0,
	  "write the report here (default: standard output)", "FILE"},
	 {"only-encrypted", 0, POPT_ARG_NONE, &o.only_encrypted, 0,
	  "write only the messages that were encrypted", NULL},
	 {"recursive", 'r', POPT_ARG_NONE, &o.recurse, 0, "descend into directories", NULL},
	 {"mboxo", 0, POPT_ARG_NONE, &o.mboxo, 0,
	  "input mboxes quote only \"From \" (mboxo): \">>From \" stays as it is", NULL},
	 POPT_TABLEEND};

static struct smz_policy pol;

/* The outputs, opened once and then used by descriptor only (outdir.h). */
static struct smz_maildir md = {-1, -1, -1, -1};
static int mbox_dir = -1, report_dir = -1;
static char *mbox_name, *report_name;
static char **cur_names; /* smz-HEX of the messages in cur/, sorted */
static size_t ncur;

/* ---- inputs ---- */

struct item {
	char *path;
	int mbox;
};

static struct item *items;
static size_t nitems, capitems;

static void
add_item(const char *path, int mbox)
{
	if (nitems == capitems) {
		capitems = capitems ? capitems * 2 : 64;
		items = realloc(items, capitems * sizeof *items);
		if (!items) {
			cmd_msg("out of memory");
			exit(EX_OSERR);
		}
	}
	items[nitems++] = (struct item){strdup(path), mbox};
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of a directory (without . and ..). */
static char **
list_dir(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		cmd_msg("%s: %s", dir, strerror(errno));
	char **v = NULL;
	size_t cap = 0;
	*n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof *v);
		}
		size_t l = strlen(dir) + strlen(de->d_name) + 2;
		v[*n] = malloc(l);
		snprintf(v[(*n)++], l, "%s/%s", dir, de->d_name);
	}
	if (d)
		closedir(d);
	if (*n)
		qsort(v, *n, sizeof *v, cmp_str);
	return v;
}

static int
is_mbox(const char *path)
{
	char b[5] = {0};
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(b, 1, 5, f) : 0;
	if (f)
		fclose(f);
	return n == 5 && memcmp(b, "From ", 5) == 0;
}

/* A path: a message file, an mbox, a Maildir, or with -r any directory. */
static int
add_path(const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		cmd_msg("%s: %s", path, strerror(errno));
		return EX_NOINPUT;
	}
	if (S_ISREG(st.st_mode)) {
		add_item(path, is_mbox(path));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		cmd_msg("%s: not a file or directory", path);
		return EX_DATAERR;
	}
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/cur", path);
	struct stat s2;
	int maildir = stat(sub, &s2) == 0 && S_ISDIR(s2.st_mode);
	if (!maildir && (!o.recurse || depth > 64)) {
		cmd_msg("%s: a directory that is not a Maildir (-r descends into it)", path);
		return EX_USAGE;
	}
	int code = 0;
	if (maildir) {
		for (int k = 0; k < 2; k++) {
			snprintf(sub, sizeof sub, "%s/%s", path, k ? "new" : "cur");
			size_t n;
			char **v = list_dir(sub, &n);
			for (size_t i = 0; i < n; i++) {
				if (stat(v[i], &s2) == 0 && S_ISREG(s2.st_mode))
					add_item(v[i], 0);
				free(v[i]);
			}
			free(v);
		}
		return 0;
	}
	size_t n;
	char **v = list_dir(path, &n);
	for (size_t i = 0; i < n; i++) {
		int c = add_path(v[i], depth + 1);
		code = code ? code : c;
		free(v[i]);
	}
	free(v);
	return code;
}

/* ---- one message ---- */

struct ctx {
	struct smz_smime *s;
	struct smz_vault *v;
	FILE *report, *mbox;
	size_t idx, first, step; /* this worker takes messages first, first + step, ... */
	int prefix;		 /* report lines start with the message index (workers) */
	char pending[64][40];	 /* written to tmp/, not yet durable nor in new/ */
	size_t npending;
	size_t counts[6];    /* decrypted, no-key, not-encrypted, corrupt, error, skipped */
	json_t *generations; /* key id -> generation */
};

enum { C_DEC, C_NOKEY, C_PLAIN, C_CORRUPT, C_ERROR, C_SKIPPED };

static const char *const cols[] = {"source", "offset",	  "message_id", "date",
				   "from",   "recipient", "key_id",	"generation",
				   "status", "signature", NULL};

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
	smz_vault_history(c->v, addr, pol.local_part_sensitive, gen_cb, &g, &e);
	json_object_set_new(c->generations, id, json_integer(g.found));
	return g.found;
}

/* mboxrd: a line ">*From " gains one '>' going into an mbox. */
static void
mbox_write(FILE *f, FILE *msg)
{
	char line[8192];
	int bol = 1;
	time_t now = time(NULL);
	fprintf(f, "From MAILER-DAEMON %s", asctime(gmtime(&now)));
	while (fgets(line, sizeof line, msg)) {
		if (bol) {
			const char *p = line;
			while (*p == '>')
				p++;
			if (strncmp(p, "From ", 5) == 0)
				fputc('>', f);
		}
		fputs(line, f);
		size_t l = strlen(line);
		bol = l > 0 && line[l - 1] == '\n';
	}
	if (!bol)
		fputc('\n', f);
	fputc('\n', f);
}

/* The Maildir name of a message: the same source and offset, the same name,
 * so that a re-run finds what it wrote. */
static void
maildir_name(const char *source, long long offset, char *out, size_t cap)
{
	unsigned char h[32];
	char buf[4200], hex[65], *real = realpath(source, NULL);
	int l = snprintf(buf, sizeof buf, "%s:%lld", real ? real : source, offset);
	free(real);
	EVP_Digest(buf, (size_t)l, h, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(out, cap, "smz-%s", hex);
}

static int
maildir_has(const char *name)
{
	struct stat st;
	if (fstatat(md.new, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	/* moved to cur/ by a mail client, with whatever flags */
	return ncur && bsearch(&name, cur_names, ncur, sizeof *cur_names, cmp_str) != NULL;
}

/* What a mail client moved to cur/: read once, not a scan per message. */
static int
cur_read(void)
{
	int fd = openat(md.cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		cmd_msg("%s/cur: %s", o.out, strerror(errno));
		return EX_CANTCREAT;
	}
	size_t cap = 0;
	int code = 0;
	struct dirent *de;
	while (!code && (de = readdir(d))) {
		char *colon = strstr(de->d_name, ":2,");
		if (strncmp(de->d_name, "smz-", 4) != 0 || !colon)
			continue;
		if (ncur == cap) {
			cap = cap ? cap * 2 : 256;
			char **n = realloc(cur_names, cap * sizeof *n);
			if (!n)
				code = EX_OSERR;
			else
				cur_names = n;
		}
		if (!code && !(cur_names[ncur] = strndup(de->d_name, (size_t)(colon - de->d_name))))
			code = EX_OSERR;
		if (!code)
			ncur++;
	}
	closedir(d);
	if (code)
		cmd_msg("out of memory");
	else if (ncur)
		qsort(cur_names, ncur, sizeof *cur_names, cmp_str);
	return code;
}

/* Written messages wait in tmp/ until a chunk of them is durable (one
 * syncfs instead of an fsync each), then move to new/ together. */
static int
pending_flush(struct ctx *c)
{
	int code = 0;
	if (!c->npending)
		return 0;
	if (syncfs(md.tmp) != 0) {
		cmd_msg("%s/tmp: cannot make the messages durable: %s", o.out, strerror(errno));
		code = EX_IOERR;
	}
	for (size_t i = 0; i < c->npending; i++) {
		const char *name = c->pending[i];
		if (!code && renameat(md.tmp, name, md.new, name) != 0) {
			cmd_msg("%s/new/%s: cannot write: %s", o.out, name, strerror(errno));
			code = EX_CANTCREAT;
		}
		if (code)
			unlinkat(md.tmp, name, 0);
	}
	c->npending = 0;
	return code;
}

static int
pending_add(struct ctx *c, const char *name)
{
	snprintf(c->pending[c->npending++], sizeof c->pending[0], "%s", name);
	return c->npending == sizeof c->pending / sizeof c->pending[0] ? pending_flush(c) : 0;
}

static int
one(struct ctx *c, int fd, const char *source, long long offset)
{
	size_t idx = c->idx++;
	if (idx % c->step != c->first)
		return 0; /* another worker's */
	char name[80] = "";
	if (o.out) {
		maildir_name(source, offset, name, sizeof name);
		if (maildir_has(name)) {
			c->counts[C_SKIPPED]++;
			if (smz_opt.verbose)
				cmd_msg("%s:%lld: already recovered, skipped", source, offset);
			return 0;
		}
	}
	FILE *tmp = smz_tmpfile();
	if (!tmp) {
		cmd_msg("cannot create a temporary file: %s", strerror(errno));
		return EX_CANTCREAT;
	}
	struct smz_smime_result r;
	struct smz_err e = {0};
	int rc = smz_smime_run(c->s, SMZ_SMIME_DECRYPT, fd, tmp, &r, &e);
	const char *kid = "", *kaddr = "";
	int gen = 0, status;
	char st[1100];
	if (!rc && r.decrypted) {
		status = C_DEC;
		smz_smime_last_key(c->s, &kid, &kaddr);
		gen = generation(c, kid, kaddr);
		/* counted as decrypted: written, but not as the MIME it claimed to be */
		snprintf(st, sizeof st, "%s", r.raw ? "decrypted-raw" : "decrypted");
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
	c->counts[status]++;
	char off[32], g[16];
	snprintf(off, sizeof off, "%lld", offset);
	snprintf(g, sizeof g, "%d", gen);
	json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "source", source,
				"offset", off, "message_id", r.message_id, "date", r.date, "from",
				r.from, "recipient", kaddr, "key_id", kid, "generation",
				gen ? g : "", "status", st, "signature",
				r.signatures ? r.signature : "none");
	int code = 0;
	if (rec) {
		FILE *saved = stdout;
		stdout = c->report;
		if (c->prefix)
			printf("%zu\t", idx);
		cmd_record(rec, cols);
		stdout = saved;
		json_decref(rec);
	}
	int write = (status == C_DEC || (status == C_PLAIN && !o.only_encrypted)) &&
		    (o.out || o.mbox);
	if (write) {
		/* the message, with a first header naming the case and the key */
		FILE *msg = smz_tmpfile();
		if (!msg) {
			fclose(tmp);
			return EX_CANTCREAT;
		}
		rewind(tmp);
		char first[4096];
		int crlf = fgets(first, sizeof first, tmp) && strstr(first, "\r\n");
		if (status == C_DEC)
			fprintf(msg,
				"X-Smz-Recovered: case=%s; key=%s; address=%s; generation=%d%s",
				o.case_id, kid, kaddr, gen, crlf ? "\r\n" : "\n");
		rewind(tmp);
		char b[65536];
		size_t n;
		while ((n = fread(b, 1, sizeof b, tmp)) > 0)
			fwrite(b, 1, n, msg);
		fflush(msg);
		rewind(msg);
		if (o.mbox) {
			/* workers append to the one mbox: a message at a time */
			flock(fileno(c->mbox), LOCK_EX);
			mbox_write(c->mbox, msg);
			if (fflush(c->mbox) != 0)
				code = EX_IOERR;
			flock(fileno(c->mbox), LOCK_UN);
		} else {
			char tp[4300];
			snprintf(tp, sizeof tp, "%s/tmp/%s", o.out, name);
			int fl = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
			int fd2 = openat(md.tmp, name, fl, 0600);
			/* a crash may have left one */
			if (fd2 < 0 && errno == EEXIST && unlinkat(md.tmp, name, 0) == 0)
				fd2 = openat(md.tmp, name, fl, 0600);
			FILE *f = fd2 >= 0 ? fdopen(fd2, "w") : NULL;
			if (fd2 >= 0 && !f)
				close(fd2);
			int ok = f != NULL;
			while (ok && (n = fread(b, 1, sizeof b, msg)) > 0)
				ok = fwrite(b, 1, n, f) == n;
			if (f && fflush(f) != 0)
				ok = 0;
			if (f && fclose(f) != 0)
				ok = 0;
			if (!ok) {
				cmd_msg("%s: cannot write: %s", tp, strerror(errno));
				unlinkat(md.tmp, name, 0);
				code = EX_CANTCREAT;
			} else {
				code = pending_add(c, name);
			}
		}
		fclose(msg);
	}
	fclose(tmp);
	return code;
}

/* One message of an mbox, held in a memfd, through the pipeline. */
static int
mbox_message(struct ctx *c, int mfd, size_t size, size_t trailing_blank, const char *path,
	     long long start)
{
	/* the blank line before the next "From " separates; it is not the message's */
	if (trailing_blank && ftruncate(mfd, (off_t)(size - trailing_blank)) != 0)
		return EX_IOERR;
	if (lseek(mfd, 0, SEEK_SET) != 0)
		return EX_IOERR;
	return one(c, mfd, path, start);
}

/* Every message of an mbox, streamed line by line: a message starts at a
 * "From " line at the start of the file or after a blank line (mboxo and
 * mboxrd agree on that), and mboxrd's ">From " quoting is undone.  Each
 * message is then parsed on its own, so a hostile one (unclosed or
 * 10,000-deep boundaries) cannot swallow the messages after it. */
static int
do_mbox(struct ctx *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cmd_msg("%s: %s", path, strerror(errno));
		return EX_NOINPUT;
	}
	char *line = NULL;
	size_t cap = 0, size = 0, blank = 0;
	ssize_t l;
	long long off = 0, start = 0;
	int mfd = -1, prev_blank = 1, code = 0, toobig = 0;
	FILE *mw = NULL; /* buffered writes into mfd */
	while ((l = getline(&line, &cap, f)) >= 0) {
		long long here = off;
		off += l;
		if (prev_blank && l >= 5 && memcmp(line, "From ", 5) == 0) {
			if (mw && fclose(mw) != 0)
				code = EX_OSERR;
			mw = NULL;
			if (mfd >= 0) {
				int rc = toobig ? (c->counts[C_CORRUPT]++, 0)
						: mbox_message(c, mfd, size, blank, path, start);
				close(mfd);
				code = code ? code : rc;
				if (rc == EX_CANTCREAT || rc == EX_OSERR || rc == EX_IOERR)
					break;
			}
			mfd = memfd_create("smz-msg", MFD_CLOEXEC);
			if (mfd < 0) {
				cmd_msg("cannot hold a message in memory: %s", strerror(errno));
				code = EX_OSERR;
				break;
			}
			start = here, size = 0, blank = 0, prev_blank = 0, toobig = 0;
			continue;
		}
		prev_blank = (l == 1 && line[0] == '\n') ||
			     (l == 2 && line[0] == '\r' && line[1] == '\n');
		if (mfd < 0)
			continue; /* before the first "From " line */
		const char *p = line;
		size_t n = (size_t)l;
		if (p[0] == '>') { /* mboxrd: >*From loses one '>'; mboxo: only >From */
			size_t j = 0;
			while (j < n && p[j] == '>')
				j++;
			if (n - j >= 5 && memcmp(p + j, "From ", 5) == 0 && (!o.mboxo || j == 1))
				p++, n--;
		}
		if (size + n > (1u << 30)) {
			if (!toobig)
				cmd_msg("%s:%lld: a message over 1 GiB, skipped", path, start);
			toobig = 1;
			continue;
		}
		if (!mw)
			mw = fdopen(dup(mfd), "w");
		if (!mw || fwrite(p, 1, n, mw) != n) {
			cmd_msg("cannot hold a message in memory: %s", strerror(errno));
			code = EX_OSERR;
			break;
		}
		size += n;
		blank = prev_blank ? n : 0;
	}
	if (mw && fclose(mw) != 0)
		code = EX_OSERR;
	if (mfd >= 0 && !code) {
		int rc = toobig ? (c->counts[C_CORRUPT]++, 0)
				: mbox_message(c, mfd, size, blank, path, start);
		code = code ? code : rc;
	}
	if (mfd >= 0)
		close(mfd);
	if (ferror(f)) {
		cmd_msg("%s: read error", path);
		code = EX_IOERR;
	}
	free(line);
	fclose(f);
	return code;
}

struct result {
	size_t counts[6];
	json_t *keys; /* key id -> [address, uses] */
};

static void
key_collect(void *arg, const char *id, const char *addr, size_t uses)
{
	json_t *keys = arg, *have = json_object_get(keys, id);
	json_int_t n = have ? json_integer_value(json_array_get(have, 1)) : 0;
	json_object_set_new(keys, id, json_pack("[s,I]", addr, n + (json_int_t)uses));
}

static const char *vdir;
static char why[1200];

/* --mbox or --report: its directory (once) and, when creating, the file. */
static int
outfile(const char *path, int *dfd, char **name, int how, int create, int *fd, struct smz_err *e)
{
	char *dir = NULL;
	int rc = 0;
	if (*dfd < 0) {
		free(*name);
		if (!(rc = smz_outpath_split(path, &dir, name, e)) &&
		    !(rc = smz_outdir_open(AT_FDCWD, dir, 0, dir, dfd, e)) && *dfd < 0)
			rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", dir, strerror(ENOENT));
		free(dir);
	}
	if (!rc)
		rc = smz_outfile_open(*dfd, *name, how, !create, path, fd, e);
	return rc;
}

/* The outputs, checked (create 0) before the vault is unlocked, so that a
 * refusal comes before anything is decrypted; then created (create 1)
 * once the unlock succeeded, so that a refused one leaves nothing behind.
 * The report's descriptor in *report_fd; -1 or the exit code. */
static int
outputs(int create, int *report_fd)
{
	struct smz_err e = {0};
	int rc = 0, fd = -1;
	const char *what = "write into the Maildir";
	if (o.out) {
		smz_maildir_close(&md);
		rc = smz_maildir_open(o.out, create, &md, &e);
		if (!rc && create && (rc = cur_read()))
			return rc;
	}
	if (!rc && o.mbox) {
		what = "write the mbox";
		rc = outfile(o.mbox, &mbox_dir, &mbox_name, SMZ_OUT_APPEND, create, &fd, &e);
		if (fd >= 0)
			close(fd); /* each worker opens its own */
	}
	if (!rc && o.report) {
		what = "write the report";
		rc = outfile(o.report, &report_dir, &report_name, SMZ_OUT_TRUNC, create,
			     create ? report_fd : &fd, &e);
	}
	return rc ? cmd_fail(rc, &e, "%s", what) : -1;
}

static int
outputs_free(int code)
{
	smz_maildir_close(&md);
	if (mbox_dir >= 0)
		close(mbox_dir);
	if (report_dir >= 0)
		close(report_dir);
	mbox_dir = report_dir = -1;
	free(mbox_name);
	free(report_name);
	mbox_name = report_name = NULL;
	for (size_t i = 0; i < ncur; i++)
		free(cur_names[i]);
	free(cur_names);
	cur_names = NULL;
	ncur = 0;
	return code;
}

/* Open and unlock the vault; a refusal is audited.  -1 or the exit code. */
static int
open_unlocked(struct smz_vault **v)
{
	struct smz_err e = {0};
	int rc = smz_vault_open(vdir, v, &e);
	if (rc)
		return cmd_fail(rc, &e, "open the vault");
	/* a gateway unlock file is refused: recovery is the officers' */
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares,
			       pol.gateway_unlock_file[0] ? pol.gateway_unlock_file : NULL, 0};
	if ((rc = smz_vault_unlock(*v, &u, why, &e))) {
		struct smz_err ae = {0};
		char subj[300], r2[1200];
		snprintf(subj, sizeof subj, "case %s", o.case_id);
		snprintf(r2, sizeof r2, "%.500s; refused: %.600s", o.reason, e.msg);
		smz_vault_audit(*v, "recover-refused", subj, r2, &ae);
		smz_vault_close(*v);
		*v = NULL;
		return cmd_fail(rc, &e, "unlock the vault");
	}
	return -1;
}

/* Process this worker's share of every item; the code, counts and key uses in res. */
static int
work(struct smz_vault *v, size_t first, size_t step, FILE *report, int prefix, struct result *res)
{
	struct smz_err e = {0};
	int rc = v ? -1 : open_unlocked(&v);
	if (rc >= 0)
		return rc;
	struct ctx c = {0};
	c.v = v;
	c.first = first;
	c.step = step;
	c.prefix = prefix;
	c.generations = json_object();
	c.report = report;
	if (o.mbox) {
		/* each worker its own open file, for flock(2): the mbox, by now ours */
		int fd = -1;
		rc = smz_outfile_open(mbox_dir, mbox_name, SMZ_OUT_APPEND, 0, o.mbox, &fd, &e);
		c.mbox = rc ? NULL : fdopen(fd, "a");
		if (!c.mbox) {
			if (fd >= 0)
				close(fd);
			rc = rc ? cmd_fail(rc, &e, "write the mbox") : EX_CANTCREAT;
			smz_vault_close(v);
			json_decref(c.generations);
			return rc;
		}
	}
	/* a key's first use is in the audit log before anything decrypted
	 * with it is written: the report line, the Maildir, the mbox */
	char use_reason[300];
	snprintf(use_reason, sizeof use_reason, "case %s", o.case_id);
	struct smz_smime_cfg cfg = {0};
	cfg.vault = v;
	cfg.vault_unlocked = 1;
	cfg.local_sensitive = pol.local_part_sensitive;
	cfg.scope = o.scope;
	cfg.count_only = 1;
	cfg.first_use_op = "recover-use";
	cfg.first_use_reason = use_reason;
	cfg.commit_before_output = 1;
	cfg.unwrap_all = 1;
	X509_STORE *trust = X509_STORE_new();
	char path[1200];
	const char *cadir = smz_opts_ca_dir(pol.ca_path);
	if (cadir) {
		snprintf(path, sizeof path, "%s/root.pem", cadir);
		X509_STORE_load_file(trust, path);
	}
	cfg.trust = trust;
	int code = 0;
	if ((rc = smz_smime_new(&cfg, &c.s, &e)))
		code = cmd_fail(rc, &e, "start");
	for (size_t i = 0; !code && i < nitems; i++) {
		int r2;
		if (items[i].mbox) {
			r2 = do_mbox(&c, items[i].path);
		} else {
			int fd = open(items[i].path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				if (c.idx++ % c.step == c.first)
					cmd_msg("%s: %s", items[i].path, strerror(errno));
				r2 = EX_NOINPUT;
			} else {
				r2 = one(&c, fd, items[i].path, 0);
				close(fd);
			}
		}
		code = code ? code : r2;
		if (r2 == EX_CANTCREAT || r2 == EX_OSERR || r2 == EX_IOERR)
			break;
	}
	if (o.out) {
		int fc = pending_flush(&c);
		code = code ? code : fc;
	}
	/* keys first used by messages that then failed: no output, still audited */
	if (c.s && smz_smime_pending(c.s) && (rc = smz_smime_commit(c.s, &e)))
		code = code ? code : cmd_fail(rc, &e, "record the key uses in the audit log");
	if (c.s)
		smz_smime_key_uses(c.s, key_collect, res->keys);
	for (int k = 0; k < 6; k++)
		res->counts[k] += c.counts[k];
	if (c.mbox && fclose(c.mbox) != 0)
		code = code ? code : EX_IOERR;
	smz_smime_free(c.s);
	X509_STORE_free(trust);
	json_decref(c.generations);
	smz_vault_close(v);
	return code;
}

/* -j N: N worker processes; their report lines, tagged with the message
 * index, merged back into input order; their counts and key uses added up. */
static int
work_parallel(size_t jobs, FILE *report, struct result *res)
{
	FILE *parts[64], *sides[64];
	pid_t pids[64];
	size_t started = 0;
	int code = 0;
	fflush(NULL);
	for (; started < jobs; started++) {
		parts[started] = smz_tmpfile();
		sides[started] = smz_tmpfile();
		if (!parts[started] || !sides[started]) {
			cmd_msg("cannot create a temporary file: %s", strerror(errno));
			code = EX_CANTCREAT;
			break;
		}
		pid_t p = fork();
		if (p == 0) {
			struct result r = {{0}, json_object()};
			int rc = work(NULL, started, jobs, parts[started], 1, &r);
			json_t *side = json_pack("{s:i,s:[I,I,I,I,I,I],s:O}", "code", rc, "counts",
						 (json_int_t)r.counts[0], (json_int_t)r.counts[1],
						 (json_int_t)r.counts[2], (json_int_t)r.counts[3],
						 (json_int_t)r.counts[4], (json_int_t)r.counts[5],
						 "keys", r.keys);
			json_dumpf(side, sides[started], JSON_COMPACT);
			fflush(NULL);
			_exit(rc);
		}
		if (p < 0) {
			cmd_msg("cannot start a worker: %s", strerror(errno));
			code = EX_OSERR;
			break;
		}
		pids[started] = p;
	}
	for (size_t i = 0; i < started; i++) {
		int st = 0;
		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
		int wc = WIFEXITED(st) ? WEXITSTATUS(st) : EX_SOFTWARE;
		code = code ? code : wc;
		rewind(sides[i]);
		json_t *side = json_loadf(sides[i], 0, NULL);
		json_t *counts = json_object_get(side, "counts"),
		       *keys = json_object_get(side, "keys");
		for (int k = 0; k < 6; k++)
			res->counts[k] += (size_t)json_integer_value(
				json_array_get(counts, (size_t)k));
		const char *id;
		json_t *kv;
		json_object_foreach(keys, id, kv)
		{
			key_collect(res->keys, id, json_string_value(json_array_get(kv, 0)),
				    (size_t)json_integer_value(json_array_get(kv, 1)));
		}
		json_decref(side);
		rewind(parts[i]);
	}
	/* k-way merge: each part is in index order already */
	char *line[64] = {0};
	size_t cap[64] = {0};
	unsigned long long at[64];
	int live[64];
	for (size_t i = 0; i < started; i++) {
		live[i] = getline(&line[i], &cap[i], parts[i]) > 0;
		at[i] = live[i] ? strtoull(line[i], NULL, 10) : 0;
	}
	for (;;) {
		size_t best = started;
		for (size_t i = 0; i < started; i++)
			if (live[i] && (best == started || at[i] < at[best]))
				best = i;
		if (best == started)
			break;
		char *tab = strchr(line[best], '\t');
		fputs(tab ? tab + 1 : line[best], report);
		live[best] = getline(&line[best], &cap[best], parts[best]) > 0;
		at[best] = live[best] ? strtoull(line[best], NULL, 10) : 0;
	}
	for (size_t i = 0; i < started; i++) {
		free(line[i]);
		fclose(parts[i]);
		fclose(sides[i]);
	}
	return code;
}

int
main(int argc, const char **argv)
{
	poptContext ctx;
	struct smz_err e = {0};
	int rc = cmd_start(
		argc, argv, table, NULL,
		"[OPTION...] --case ID --reason TEXT [--out MAILDIR | --mbox FILE] PATH...", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	if (!o.case_id || !o.case_id[0] || !o.reason || !o.reason[0]) {
		cmd_msg("a recovery needs --case ID and --reason TEXT");
		return EX_USAGE;
	}
	for (const char *p = o.case_id; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == ';' || *p == 0x7f) {
			cmd_msg("--case: letters, digits and punctuation other than ';' only");
			return EX_USAGE;
		}
	if (o.out && o.mbox) {
		cmd_msg("--out or --mbox, not both");
		return EX_USAGE;
	}
	int code = 0;
	const char *arg;
	int any = 0;
	while ((arg = poptGetArg(ctx))) {
		any = 1;
		int c2 = add_path(arg, 0);
		code = code ? code : c2;
	}
	if (!any && !isatty(0)) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t l;
		while ((l = getline(&line, &cap, stdin)) > 0) {
			while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
				line[--l] = 0;
			if (l) {
				any = 1;
				int c2 = add_path(line, 0);
				code = code ? code : c2;
			}
		}
		free(line);
	}
	if (!any) {
		cmd_msg("no input: give mbox files, Maildirs or messages (or their paths on "
			"stdin)");
		return EX_USAGE;
	}
	if (code == EX_USAGE)
		return code;
	/* M-of-N: shares; a passphrase only where policy allows it */
	if (smz_opt.passphrase_file && !pol.recovery_passphrase) {
		cmd_msg("recovery needs --share (M of N); the passphrase alone is allowed only "
			"with policy [recovery] allow_passphrase = yes");
		return EX_NOPERM;
	}
	vdir = smz_opts_vault_dir(pol.vault_path);
	if (!vdir) {
		cmd_msg("no vault: --vault DIR, $SMZ_VAULT or policy [vault] path");
		return EX_USAGE;
	}
	snprintf(why, sizeof why, "smz-recover case %s: %s", o.case_id, o.reason);
	size_t jobs = smz_opt.jobs > 1 ? (size_t)smz_opt.jobs : 1;
	jobs = jobs > 64 ? 64 : jobs;
	/* an output that is not safe is refused before anything is unlocked */
	int report_fd = -1;
	if ((rc = outputs(0, NULL)) >= 0)
		return outputs_free(rc);
	/* the shares are checked (and a refusal audited) before any output exists */
	struct smz_vault *v = NULL;
	if ((rc = open_unlocked(&v)) >= 0)
		return outputs_free(rc);
	if (jobs > 1) {
		smz_vault_close(v); /* each worker opens its own */
		v = NULL;
	}
	FILE *report = stdout;
	if ((rc = outputs(1, &report_fd)) < 0 && report_fd >= 0 &&
	    !(report = fdopen(report_fd, "w"))) {
		cmd_msg("%s: %s", o.report, strerror(errno));
		rc = EX_CANTCREAT;
	}
	if (rc >= 0) {
		if (report_fd >= 0)
			close(report_fd);
		smz_vault_close(v);
		return outputs_free(rc);
	}
	FILE *saved = stdout;
	stdout = report;
	cmd_header(cols);
	stdout = saved;
	struct result res = {{0}, json_object()};
	int wc;
	if (jobs > 1) {
		wc = work_parallel(jobs, report, &res);
	} else {
		wc = work(v, 0, 1, report, 0, &res); /* closes v */
	}
	code = code ? code : wc;
	/* the audit: one entry per key used and one for the run, with counts */
	struct smz_vault *av = NULL;
	if ((rc = smz_vault_open(vdir, &av, &e)) == 0) {
		const char *id;
		json_t *kv;
		json_object_foreach(res.keys, id, kv)
		{
			char subj[400], r2[300];
			snprintf(subj, sizeof subj, "%s %s", id,
				 json_string_value(json_array_get(kv, 0)));
			snprintf(r2, sizeof r2, "case %s: %lld messages", o.case_id,
				 (long long)json_integer_value(json_array_get(kv, 1)));
			if ((rc = smz_vault_audit(av, "recover-key", subj, r2, &e)))
				break;
		}
		char subj[300], sum[1200];
		snprintf(subj, sizeof subj, "case %s", o.case_id);
		snprintf(sum, sizeof sum,
			 "%.600s; %zu decrypted, %zu no-key, %zu not-encrypted, "
			 "%zu corrupt, %zu skipped%s",
			 o.reason, res.counts[C_DEC], res.counts[C_NOKEY], res.counts[C_PLAIN],
			 res.counts[C_CORRUPT], res.counts[C_SKIPPED], o.scope ? "; scoped" : "");
		if (!rc)
			rc = smz_vault_audit(av, "recover", subj, sum, &e);
		smz_vault_close(av);
	}
	if (rc)
		code = code ? code : cmd_fail(rc, &e, "record the recovery in the audit log");
	if (!smz_opt.quiet)
		cmd_msg("case %s: %zu decrypted, %zu no-key, %zu not-encrypted, %zu corrupt, "
			"%zu errors, %zu already done",
			o.case_id, res.counts[C_DEC], res.counts[C_NOKEY], res.counts[C_PLAIN],
			res.counts[C_CORRUPT], res.counts[C_ERROR], res.counts[C_SKIPPED]);
	if (report != stdout && fclose(report) != 0)
		code = code ? code : EX_IOERR;
	json_decref(res.keys);
	outputs_free(0);
	for (size_t i = 0; i < nitems; i++)
		free(items[i].path);
	free(items);
	if (!code && (res.counts[C_NOKEY] || res.counts[C_CORRUPT] || res.counts[C_ERROR]))
		code = EX_DATAERR;
	return cmd_exit(code);
}
