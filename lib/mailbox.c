#include "mailbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- in ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
push(char ***v, size_t *n, size_t *cap, const char *path)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		char **nv = realloc(*v, nc * sizeof *nv);
		if (!nv)
			return SMZ_ERR_INTERNAL;
		*v = nv;
		*cap = nc;
	}
	if (!((*v)[*n] = strdup(path)))
		return SMZ_ERR_INTERNAL;
	++*n;
	return 0;
}

int
smz_mailbox_paths(const char *const *args, FILE *in, char ***v, size_t *n)
{
	size_t cap = *n, lcap = 0;
	char *line = NULL;
	ssize_t l;
	int rc = 0;
	for (; !rc && args && *args; args++)
		rc = push(v, n, &cap, *args);
	while (!rc && in && (l = getline(&line, &lcap, in)) >= 0) {
		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			line[--l] = 0;
		if (l)
			rc = push(v, n, &cap, line);
	}
	free(line);
	return rc;
}

void
smz_mailbox_paths_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct lister {
	struct smz_mailbox_inputs *in;
	void (*note)(void *arg, int code, const char *msg);
	void *arg;
	int recurse;
};

static int note(struct lister *l, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
note(struct lister *l, int code, const char *fmt, ...)
{
	char msg[4300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (l->note)
		l->note(l->arg, code, msg);
	return code;
}

static int
add_item(struct lister *l, const char *path, int mbox)
{
	struct smz_mailbox_inputs *in = l->in;
	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 64;
		struct smz_mailbox_item *v = realloc(in->v, cap * sizeof *v);
		if (!v)
			return note(l, SMZ_ERR_INTERNAL, "out of memory");
		in->v = v;
		in->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return note(l, SMZ_ERR_INTERNAL, "out of memory");
	in->v[in->n++] = (struct smz_mailbox_item){p, mbox};
	return 0;
}

/* Sorted entries of a directory (without dot files). */
static char **
list_dir(struct lister *l, const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		note(l, 0, "%s: %s", dir, strerror(errno));
	char **v = NULL;
	size_t cap = 0;
	*n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof *v);
			if (!nv)
				break;
			v = nv;
		}
		size_t len = strlen(dir) + strlen(de->d_name) + 2;
		if (!(v[*n] = malloc(len)))
			break;
		snprintf(v[(*n)++], len, "%s/%s", dir, de->d_name);
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

static int
add_path(struct lister *l, const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return note(l, SMZ_ERR_NOINPUT, "%s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode))
		return add_item(l, path, is_mbox(path));
	if (!S_ISDIR(st.st_mode))
		return note(l, SMZ_ERR_DATA, "%s: not a file or directory", path);
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/cur", path);
	struct stat s2;
	int maildir = stat(sub, &s2) == 0 && S_ISDIR(s2.st_mode);
	if (!maildir && (!l->recurse || depth > 64))
		return note(l, SMZ_ERR_USAGE,
			    "%s: a directory that is not a Maildir (-r descends into it)", path);
	int code = 0;
	for (int k = 0; k < (maildir ? 2 : 1); k++) {
		const char *dir = path;
		if (maildir) {
			snprintf(sub, sizeof sub, "%s/%s", path, k ? "new" : "cur");
			dir = sub;
		}
		size_t n;
		char **v = list_dir(l, dir, &n);
		for (size_t i = 0; i < n; i++) {
			int c = 0;
			if (!maildir)
				c = add_path(l, v[i], depth + 1);
			else if (stat(v[i], &s2) == 0 && S_ISREG(s2.st_mode))
				c = add_item(l, v[i], 0);
			code = code ? code : c;
			free(v[i]);
		}
		free(v);
	}
	return code;
}

int
smz_mailbox_add(struct smz_mailbox_inputs *in, const char *path, int recurse,
		void (*cb)(void *arg, int code, const char *msg), void *arg)
{
	struct lister l = {in, cb, arg, recurse};
	return add_path(&l, path, 0);
}

void
smz_mailbox_inputs_free(struct smz_mailbox_inputs *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->v[i].path);
	free(in->v);
	memset(in, 0, sizeof *in);
}

/* ---- mbox split ---- */

struct split {
	int (*msg)(void *arg, int fd, long long offset);
	void *arg;
	int fd;		    /* the message being read, -1 before the first */
	FILE *w;	    /* buffered writes into fd */
	size_t size, blank; /* its bytes; its trailing blank line's */
	long long start;    /* the offset of its "From " line */
	int toobig;
};

/* Hand the message read so far over. */
static int
deliver(struct split *s, struct smz_err *e)
{
	int rc = 0;
	if (s->w && fclose(s->w) != 0)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot hold a message in memory: %s",
				 strerror(errno));
	s->w = NULL;
	if (s->fd < 0 || rc)
		return rc;
	/* the blank line before the next "From " separates; it is not the message's */
	if (s->toobig)
		rc = s->msg(s->arg, -1, s->start);
	else if ((s->blank && ftruncate(s->fd, (off_t)(s->size - s->blank)) != 0) ||
		 lseek(s->fd, 0, SEEK_SET) != 0)
		rc = smz_err_set(e, SMZ_ERR_IO, "cannot hold a message in memory: %s",
				 strerror(errno));
	else
		rc = s->msg(s->arg, s->fd, s->start);
	close(s->fd);
	s->fd = -1;
	return rc;
}

/* A message starts at a "From " line at the start of the file or after a
 * blank line (mboxo and mboxrd agree on that); the file is streamed line
 * by line, each message held in a memfd of its own. */
int
smz_mailbox_split(const char *path, int mboxo, int (*msg)(void *arg, int fd, long long offset),
		  void *arg, struct smz_err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return smz_err_set(e, SMZ_ERR_NOINPUT, "%s: %s", path, strerror(errno));
	struct split s = {msg, arg, -1, NULL, 0, 0, 0, 0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t l;
	long long off = 0;
	int prev_blank = 1, rc = 0;
	while (!rc && (l = getline(&line, &cap, f)) >= 0) {
		long long here = off;
		off += l;
		if (prev_blank && l >= 5 && memcmp(line, "From ", 5) == 0) {
			if ((rc = deliver(&s, e)))
				break;
			s.fd = memfd_create("smz-msg", MFD_CLOEXEC);
			if (s.fd < 0)
				rc = smz_err_set(e, SMZ_ERR_INTERNAL,
						 "cannot hold a message in memory: %s",
						 strerror(errno));
			s.start = here, s.size = 0, s.blank = 0, prev_blank = 0, s.toobig = 0;
			continue;
		}
		prev_blank = (l == 1 && line[0] == '\n') ||
			     (l == 2 && line[0] == '\r' && line[1] == '\n');
		if (s.fd < 0)
			continue; /* before the first "From " line */
		const char *p = line;
		size_t n = (size_t)l;
		if (p[0] == '>') { /* mboxrd: >*From loses one '>'; mboxo: only >From */
			size_t j = 0;
			while (j < n && p[j] == '>')
				j++;
			if (n - j >= 5 && memcmp(p + j, "From ", 5) == 0 && (!mboxo || j == 1))
				p++, n--;
		}
		if (s.size + n > (1u << 30)) {
			s.toobig = 1;
			continue;
		}
		if (!s.w)
			s.w = fdopen(dup(s.fd), "w");
		if (!s.w || fwrite(p, 1, n, s.w) != n) {
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot hold a message in memory: %s",
					 strerror(errno));
			break;
		}
		s.size += n;
		s.blank = prev_blank ? n : 0;
	}
	if (!rc)
		rc = deliver(&s, e);
	if (s.w)
		fclose(s.w);
	if (s.fd >= 0)
		close(s.fd);
	if (!rc && ferror(f))
		rc = smz_err_set(e, SMZ_ERR_IO, "%s: read error", path);
	free(line);
	fclose(f);
	return rc;
}

/* ---- out ---- */

int
smz_mailbox_file_open(struct smz_mailbox_file *f, int how, int check, int *fd, struct smz_err *e)
{
	int rc = 0;
	if (f->dir < 0) {
		char *dir = NULL;
		free(f->name);
		f->name = NULL;
		if (!(rc = smz_outpath_split(f->path, &dir, &f->name, e)) &&
		    !(rc = smz_outdir_open(AT_FDCWD, dir, 0, dir, &f->dir, e)) && f->dir < 0)
			rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", dir, strerror(ENOENT));
		free(dir);
	}
	if (!rc)
		rc = smz_outfile_open(f->dir, f->name, how, check, f->path, fd, e);
	return rc;
}

void
smz_mailbox_file_close(struct smz_mailbox_file *f)
{
	if (f->dir >= 0)
		close(f->dir);
	f->dir = -1;
	free(f->name);
	f->name = NULL;
}

#define PENDING_MAX 64

struct smz_mailbox_out {
	const char *maildir;
	struct smz_maildir md;
	char **cur; /* smz-HEX of the messages in cur/, sorted */
	size_t ncur;
	char pending[PENDING_MAX][40]; /* in tmp/, not yet durable nor in new/ */
	size_t npending;
	struct smz_mailbox_file mbox;
	FILE *mf; /* this process's open mbox */
};

int
smz_mailbox_out_new(const char *maildir, const char *mbox, struct smz_mailbox_out **out)
{
	struct smz_mailbox_out *o = calloc(1, sizeof *o);
	if (!o)
		return SMZ_ERR_INTERNAL;
	o->maildir = maildir;
	o->md = (struct smz_maildir){-1, -1, -1, -1};
	o->mbox = (struct smz_mailbox_file){mbox, -1, NULL};
	*out = o;
	return 0;
}

/* What a mail client moved to cur/: read once, not a scan per message. */
static int
cur_read(struct smz_mailbox_out *o, struct smz_err *e)
{
	int fd = openat(o->md.cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s/cur: %s", o->maildir, strerror(errno));
	}
	size_t cap = 0;
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		char *colon = strstr(de->d_name, ":2,");
		if (strncmp(de->d_name, "smz-", 4) != 0 || !colon)
			continue;
		if (o->ncur == cap) {
			cap = cap ? cap * 2 : 256;
			char **n = realloc(o->cur, cap * sizeof *n);
			if (!n)
				rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
			else
				o->cur = n;
		}
		if (!rc && !(o->cur[o->ncur] = strndup(de->d_name, (size_t)(colon - de->d_name))))
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		if (!rc)
			o->ncur++;
	}
	closedir(d);
	if (!rc && o->ncur)
		qsort(o->cur, o->ncur, sizeof *o->cur, cmp_str);
	return rc;
}

int
smz_mailbox_out_open(struct smz_mailbox_out *o, int create, struct smz_err *e)
{
	int rc = 0, fd = -1;
	if (o->maildir) {
		smz_maildir_close(&o->md);
		rc = smz_maildir_open(o->maildir, create, &o->md, e);
		if (!rc && create)
			rc = cur_read(o, e);
	}
	if (!rc && o->mbox.path)
		rc = smz_mailbox_file_open(&o->mbox, SMZ_OUT_APPEND, !create, &fd, e);
	if (fd >= 0)
		close(fd); /* each process opens its own */
	return rc;
}

int
smz_mailbox_out_start(struct smz_mailbox_out *o, struct smz_err *e)
{
	if (!o->mbox.path)
		return 0;
	int fd = -1;
	int rc = smz_outfile_open(o->mbox.dir, o->mbox.name, SMZ_OUT_APPEND, 0, o->mbox.path, &fd,
				  e);
	o->mf = rc ? NULL : fdopen(fd, "a");
	if (!o->mf && fd >= 0)
		close(fd);
	if (!rc && !o->mf)
		rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", o->mbox.path, strerror(errno));
	return rc;
}

/* The same source and offset, the same name, so that a re-run finds what
 * it wrote. */
int
smz_mailbox_out_has(struct smz_mailbox_out *o, const char *source, long long offset, char name[40])
{
	unsigned char h[32];
	char buf[4200], hex[33], *real = realpath(source, NULL);
	int l = snprintf(buf, sizeof buf, "%s:%lld", real ? real : source, offset);
	free(real);
	EVP_Digest(buf, (size_t)l, h, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(name, 40, "smz-%s", hex);
	struct stat st;
	if (fstatat(o->md.new, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	/* moved to cur/ by a mail client, with whatever flags */
	const char *key = name;
	return o->ncur && bsearch(&key, o->cur, o->ncur, sizeof *o->cur, cmp_str) != NULL;
}

/* Written messages wait in tmp/ until a chunk of them is durable (one
 * syncfs instead of an fsync each), then move to new/ together. */
static int
pending_flush(struct smz_mailbox_out *o, struct smz_err *e)
{
	int rc = 0;
	if (!o->npending)
		return 0;
	if (syncfs(o->md.tmp) != 0)
		rc = smz_err_set(e, SMZ_ERR_IO, "%s/tmp: cannot make the messages durable: %s",
				 o->maildir, strerror(errno));
	for (size_t i = 0; i < o->npending; i++) {
		const char *name = o->pending[i];
		if (!rc && renameat(o->md.tmp, name, o->md.new, name) != 0)
			rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s/new/%s: cannot write: %s",
					 o->maildir, name, strerror(errno));
		if (rc)
			unlinkat(o->md.tmp, name, 0);
	}
	o->npending = 0;
	return rc;
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

static int
maildir_put(struct smz_mailbox_out *o, const char *name, FILE *msg, struct smz_err *e)
{
	int fl = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(o->md.tmp, name, fl, 0600);
	/* a crash may have left one */
	if (fd < 0 && errno == EEXIST && unlinkat(o->md.tmp, name, 0) == 0)
		fd = openat(o->md.tmp, name, fl, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (fd >= 0 && !f)
		close(fd);
	int ok = f != NULL;
	char b[65536];
	size_t n;
	while (ok && (n = fread(b, 1, sizeof b, msg)) > 0)
		ok = fwrite(b, 1, n, f) == n;
	if (f && fflush(f) != 0)
		ok = 0;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok) {
		int err = errno;
		unlinkat(o->md.tmp, name, 0);
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s/tmp/%s: cannot write: %s", o->maildir,
				   name, strerror(err));
	}
	snprintf(o->pending[o->npending++], sizeof o->pending[0], "%s", name);
	return o->npending == PENDING_MAX ? pending_flush(o, e) : 0;
}

int
smz_mailbox_out_put(struct smz_mailbox_out *o, const char *name, FILE *msg, struct smz_err *e)
{
	if (!o->mf)
		return maildir_put(o, name, msg, e);
	/* workers append to the one mbox: a message at a time */
	int rc = 0;
	flock(fileno(o->mf), LOCK_EX);
	mbox_write(o->mf, msg);
	if (fflush(o->mf) != 0)
		rc = smz_err_set(e, SMZ_ERR_IO, "%s", "");
	flock(fileno(o->mf), LOCK_UN);
	return rc;
}

int
smz_mailbox_out_finish(struct smz_mailbox_out *o, struct smz_err *e)
{
	int rc = o->maildir ? pending_flush(o, e) : 0;
	if (o->mf && fclose(o->mf) != 0 && !rc)
		rc = smz_err_set(e, SMZ_ERR_IO, "%s", "");
	o->mf = NULL;
	return rc;
}

void
smz_mailbox_out_free(struct smz_mailbox_out *o)
{
	if (!o)
		return;
	smz_maildir_close(&o->md);
	smz_mailbox_file_close(&o->mbox);
	for (size_t i = 0; i < o->ncur; i++)
		free(o->cur[i]);
	free(o->cur);
	if (o->mf)
		fclose(o->mf);
	free(o);
}
