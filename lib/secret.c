#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASSPHRASE_MAX 1024

static int heap_state = -1; /* smz_secret_heap_init's result; -1 before */

int
smz_secret_heap_init(void)
{
	if (heap_state < 0)
		heap_state = CRYPTO_secure_malloc_init(SMZ_SECURE_HEAP, SMZ_SECURE_HEAP_MIN);
	return heap_state;
}

const char *
smz_secret_heap_note(void)
{
	switch (heap_state) {
	case 1:
		return NULL;
	case 2:
		return "the secure heap for private keys could not be locked in memory "
		       "(RLIMIT_MEMLOCK below 4 MiB?): keys may be swapped out";
	default:
		return "no secure heap: private keys are in ordinary memory";
	}
}

int
smz_secret_heap_full(void)
{
	if (!CRYPTO_secure_malloc_initialized())
		return 0;
	/* If 4 KiB in one piece is free, any key up to RSA-8192 (3.5 KiB of
	 * the heap) would have fitted: its failure was something else. */
	void *p = OPENSSL_secure_malloc(4096);
	OPENSSL_secure_free(p);
	ERR_clear_error();
	return p == NULL;
}

int
smz_secret_alloc(struct smz_secret *s, size_t len)
{
	s->buf = sodium_malloc(len + 1);
	if (!s->buf) {
		s->len = 0;
		return SMZ_ERR_INTERNAL;
	}
	memset(s->buf, 0, len + 1);
	s->len = s->cap = len;
	return 0;
}

int
smz_secret_ensure(struct smz_secret *s, size_t len)
{
	if (s->buf && s->cap >= len) {
		sodium_memzero(s->buf, s->cap + 1);
		s->len = len;
		return 0;
	}
	smz_secret_free(s);
	return smz_secret_alloc(s, len < 4096 ? 4096 : len) < 0 ? SMZ_ERR_INTERNAL
								: (s->len = len, 0);
}

void
smz_secret_free(struct smz_secret *s)
{
	if (s->buf)
		sodium_free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

int
smz_secret_read_passphrase(const char *path, struct smz_secret *s, struct smz_err *e)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return smz_err_set(e, errno == ENOENT ? SMZ_ERR_NOINPUT : SMZ_ERR_IO, "%s: %s",
				   path, strerror(errno));
	if (smz_secret_alloc(s, PASSPHRASE_MAX) < 0) {
		if (fd != STDIN_FILENO)
			close(fd);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "cannot allocate secure memory");
	}
	size_t n = 0;
	int rc = 0;
	/* Typed at a terminal: do not echo it. */
	struct termios old, quiet;
	int tty = isatty(fd) && tcgetattr(fd, &old) == 0;
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	/* Byte by byte so that nothing after the first line is consumed
	 * from a shared stdin. */
	while (n < PASSPHRASE_MAX) {
		ssize_t r = read(fd, s->buf + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = smz_err_set(e, SMZ_ERR_IO, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0 || s->buf[n] == '\n')
			break;
		n++;
	}
	if (tty)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (!rc && n == PASSPHRASE_MAX)
		rc = smz_err_set(e, SMZ_ERR_DATA, "%s: passphrase longer than %d bytes", path,
				 PASSPHRASE_MAX - 1);
	if (fd != STDIN_FILENO)
		close(fd);
	if (!rc && n > 0 && s->buf[n - 1] == '\r')
		n--;
	if (!rc && n == 0)
		rc = smz_err_set(e, SMZ_ERR_DATA, "%s: empty passphrase", path);
	if (rc) {
		smz_secret_free(s);
		return rc;
	}
	s->buf[n] = 0;
	s->len = n;
	return 0;
}
