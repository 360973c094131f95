#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int
smz_fsync_dir(const char *path)
{
	char tmp[4096];
	struct stat st;
	snprintf(tmp, sizeof tmp, "%s", path);
	const char *dir = (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ? tmp : dirname(tmp);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_atomic(const char *path, const void *data, size_t len, int mode, int dirsync,
			struct smz_err *e);

int
smz_file_write_atomic(const char *path, const void *data, size_t len, int mode, struct smz_err *e)
{
	return write_atomic(path, data, len, mode, 1, e);
}

int
smz_file_write_atomic_nodirsync(const char *path, const void *data, size_t len, int mode,
				struct smz_err *e)
{
	return write_atomic(path, data, len, mode, 0, e);
}

static int
write_atomic(const char *path, const void *data, size_t len, int mode, int dirsync,
	     struct smz_err *e)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: path too long", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", tmp, strerror(errno));
	if ((mode && fchmod(fd, (mode_t)mode) < 0) || write_all(fd, data, len) < 0 ||
	    fsync(fd) < 0) {
		int err = errno;
		close(fd);
		unlink(tmp);
		return smz_err_set(e, SMZ_ERR_IO, "%s: %s", tmp, strerror(err));
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int err = errno;
		unlink(tmp);
		return smz_err_set(e, SMZ_ERR_IO, "%s: %s", path, strerror(err));
	}
	if (dirsync && smz_fsync_dir(path) < 0)
		return smz_err_set(e, SMZ_ERR_IO, "%s: fsync of directory: %s", path,
				   strerror(errno));
	return 0;
}

int
smz_file_create_excl(const char *path, const void *data, size_t len, struct smz_err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return smz_err_set(e, errno == EEXIST ? SMZ_ERR_EXISTS : SMZ_ERR_CANTCREAT,
				   "%s: %s", path, strerror(errno));
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int err = errno;
		close(fd);
		unlink(path);
		return smz_err_set(e, SMZ_ERR_IO, "%s: %s", path, strerror(err));
	}
	close(fd);
	if (smz_fsync_dir(path) < 0)
		return smz_err_set(e, SMZ_ERR_IO, "%s: fsync of directory: %s", path,
				   strerror(errno));
	return 0;
}

int
smz_file_read(const char *path, size_t max, char **buf, size_t *len, struct smz_err *e)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return smz_err_set(e, errno == ENOENT ? SMZ_ERR_NOINPUT : SMZ_ERR_IO, "%s: %s",
				   path, strerror(errno));
	size_t cap = max < 65536 ? max : 65536, n = 0;
	char *b = malloc(cap + 1);
	int rc = b ? 0 : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	while (!rc) {
		if (n == cap) {
			if (cap >= max) {
				rc = smz_err_set(e, SMZ_ERR_DATA, "%s: larger than %zu bytes", path,
						 max);
				break;
			}
			size_t ncap = cap * 2 > max ? max : cap * 2;
			/* not realloc: the old block may hold secrets and must be wiped */
			char *nb = malloc(ncap + 1);
			if (!nb) {
				rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
				break;
			}
			memcpy(nb, b, n);
			explicit_bzero(b, cap + 1);
			free(b);
			b = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = smz_err_set(e, SMZ_ERR_IO, "%s: %s", path, strerror(errno));
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc) {
		if (b) /* it may have held a secret */
			explicit_bzero(b, cap);
		free(b);
		return rc;
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	return 0;
}
