#include "outdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
smz_outdir_check(int fd, const char *what, struct smz_err *e)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s is not a directory", what);
	if (st.st_uid != geteuid())
		return smz_err_set(e, SMZ_ERR_CANTCREAT,
				   "%s is owned by another user (uid %u), not by uid %u", what,
				   (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return smz_err_set(e, SMZ_ERR_CANTCREAT,
				   "%s is writable by group or others (mode %04o)", what,
				   (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Why name in dfd could not be opened: a link, not a directory, or errno. */
static int
why_not(int dfd, const char *name, int err, const char *what, int dir, struct smz_err *e)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s is a symbolic link", what);
		if (dir && !S_ISDIR(st.st_mode))
			return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s is not a directory", what);
		if (!dir && !S_ISREG(st.st_mode))
			return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s is not a regular file", what);
	}
	return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what, strerror(err));
}

int
smz_outdir_open(int at, const char *path, int create, const char *what, int *fd, struct smz_err *e)
{
	*fd = -1;
	size_t l = strlen(path);
	/* "dir/" would follow a link named dir: the last component goes bare */
	while (l > 1 && path[l - 1] == '/')
		l--;
	if (!l)
		return smz_err_set(e, SMZ_ERR_USAGE, "an empty directory name");
	char *p = strndup(path, l);
	if (!p)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	char *slash = strrchr(p, '/');
	const char *base = p;
	int pfd = at, rc = 0;
	if (slash && slash[1]) {
		*slash = 0;
		base = slash + 1;
		pfd = openat(at, slash == p ? "/" : p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0) {
			int err = errno;
			free(p);
			if (err == ENOENT && !create)
				return 0; /* nothing there to check yet */
			return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what, strerror(err));
		}
	}
	int d = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0 && errno == ENOENT && create) {
		if (mkdirat(pfd, base, 0700) != 0 && errno != EEXIST)
			rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what, strerror(errno));
		else
			d = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (!rc && d < 0 && !(errno == ENOENT && !create))
		rc = why_not(pfd, base, errno, what, 1, e);
	if (!rc && d >= 0 && (rc = smz_outdir_check(d, what, e)))
		close(d), d = -1;
	if (pfd != at)
		close(pfd);
	free(p);
	*fd = d;
	return rc;
}

/* An existing output file we may write into again: a regular file of
 * ours, not shared with another name. */
static int
file_check(const struct stat *st, const char *what, struct smz_err *e)
{
	if (S_ISLNK(st->st_mode))
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s is a symbolic link", what);
	if (!S_ISREG(st->st_mode))
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s is not a regular file", what);
	if (st->st_uid != geteuid())
		return smz_err_set(e, SMZ_ERR_CANTCREAT,
				   "%s is owned by another user (uid %u), not by uid %u", what,
				   (unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_nlink != 1)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s has %lu hard links", what,
				   (unsigned long)st->st_nlink);
	return 0;
}

int
smz_outfile_open(int dfd, const char *name, int how, int check, const char *what, int *fd,
		 struct smz_err *e)
{
	*fd = -1;
	struct stat st;
	if (check) {
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return errno == ENOENT ? 0
					       : smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what,
							     strerror(errno));
		if (how == SMZ_OUT_EXCL)
			return smz_err_set(e, SMZ_ERR_EXISTS, "%s exists", what);
		return file_check(&st, what, e);
	}
	int app = how == SMZ_OUT_APPEND ? O_APPEND : 0;
	int f = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | app, 0600);
	if (f >= 0) {
		*fd = f;
		return 0;
	}
	if (errno != EEXIST)
		return why_not(dfd, name, errno, what, 0, e);
	if (how == SMZ_OUT_EXCL)
		return smz_err_set(e, SMZ_ERR_EXISTS, "%s exists", what);
	/* O_NONBLOCK: a FIFO put there must not hang the open */
	f = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | app);
	if (f < 0)
		return why_not(dfd, name, errno, what, 0, e);
	int rc = fstat(f, &st) != 0
			 ? smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what, strerror(errno))
			 : file_check(&st, what, e);
	if (!rc && fcntl(f, F_SETFL, app) != 0)
		rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what, strerror(errno));
	if (!rc && how == SMZ_OUT_TRUNC && ftruncate(f, 0) != 0)
		rc = smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", what, strerror(errno));
	if (rc)
		close(f);
	else
		*fd = f;
	return rc;
}

int
smz_outpath_split(const char *path, char **dir, char **base, struct smz_err *e)
{
	*dir = *base = NULL;
	const char *slash = strrchr(path, '/');
	const char *b = slash ? slash + 1 : path;
	if (!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
		return smz_err_set(e, SMZ_ERR_USAGE, "%s: not a file name", path);
	char *d = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	char *n = strdup(b);
	if (!d || !n) {
		free(d), free(n);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	*dir = d;
	*base = n;
	return 0;
}

void
smz_maildir_close(struct smz_maildir *md)
{
	int *fds[] = {&md->dir, &md->tmp, &md->new, &md->cur};
	for (size_t i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int
smz_maildir_open(const char *path, int create, struct smz_maildir *md, struct smz_err *e)
{
	*md = (struct smz_maildir){-1, -1, -1, -1};
	int rc = smz_outdir_open(AT_FDCWD, path, create, path, &md->dir, e);
	if (rc || md->dir < 0)
		return rc;
	static const char *const sub[] = {"tmp", "new", "cur"};
	int *fds[] = {&md->tmp, &md->new, &md->cur};
	for (size_t i = 0; !rc && i < 3; i++) {
		char what[4200];
		snprintf(what, sizeof what, "%s/%s", path, sub[i]);
		rc = smz_outdir_open(md->dir, sub[i], create, what, fds[i], e);
	}
	if (rc)
		smz_maildir_close(md);
	return rc;
}
