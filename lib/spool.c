/* spool: message bytes in memory, or in an unlinked file when large; see spool.h. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPILL (8u << 20)       /* messages above this are spooled to unlinked files */
#define MAX_MESSAGE (1u << 30) /* refused above this */

FILE *
smz_tmpfile(void)
{
	const char *d = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/smz.XXXXXX", d && d[0] == '/' ? d : "/tmp");
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return NULL;
	unlink(path);
	FILE *f = fdopen(fd, "w+");
	if (!f)
		close(fd);
	return f;
}

FILE *
smz_memfile(void)
{
	int fd = memfd_create("smz", MFD_CLOEXEC);
	if (fd < 0)
		return smz_tmpfile();
	FILE *f = fdopen(fd, "w+");
	if (!f)
		close(fd);
	return f;
}

int
smz_spool_open(struct smz_spool *s, int big)
{
	memset(s, 0, sizeof *s);
	s->w = big ? (s->tf = smz_tmpfile()) : open_memstream(&s->buf, &s->len);
	return s->w ? 0 : -1;
}

int
smz_spool_seal(struct smz_spool *s)
{
	int r = 0;
	if (s->tf) {
		r = fflush(s->tf) || ferror(s->tf) ? -1 : 0;
		rewind(s->tf);
	} else if (s->w) {
		r = fclose(s->w) ? -1 : 0;
	}
	s->w = NULL;
	return r;
}

void
smz_spool_free(struct smz_spool *s)
{
	if (s->w && !s->tf)
		fclose(s->w);
	if (s->tf)
		fclose(s->tf);
	if (s->buf) {
		sodium_memzero(s->buf, s->len);
		free(s->buf);
	}
	memset(s, 0, sizeof *s);
}

size_t
smz_spool_size(struct smz_spool *s)
{
	if (!s->tf)
		return s->len;
	struct stat st;
	return fstat(fileno(s->tf), &st) == 0 ? (size_t)st.st_size : 0;
}

int
smz_spool_read(int fd, struct smz_spool *sp, struct smz_err *e)
{
	struct stat st;
	int big = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > SPILL;
	if (big && lseek(fd, 0, SEEK_CUR) == 0) { /* a large file: read in place */
		if ((size_t)st.st_size > MAX_MESSAGE)
			return smz_err_set(e, SMZ_ERR_DATA, "message larger than %u MiB",
					   MAX_MESSAGE >> 20);
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		memset(sp, 0, sizeof *sp);
		if (d < 0 || !(sp->tf = fdopen(d, "r"))) {
			if (d >= 0)
				close(d);
			return smz_err_set(e, SMZ_ERR_IO, "cannot read the message: %s",
					   strerror(errno));
		}
		return 0;
	}
	if (smz_spool_open(sp, big))
		return smz_err_set(e, SMZ_ERR_IO, "cannot create a temporary file");
	char b[65536];
	size_t total = 0;
	for (;;) {
		ssize_t n = read(fd, b, sizeof b);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return smz_err_set(e, SMZ_ERR_IO, "read error: %s", strerror(errno));
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > MAX_MESSAGE)
			return smz_err_set(e, SMZ_ERR_DATA, "message larger than %u MiB",
					   MAX_MESSAGE >> 20);
		if (!sp->tf && total > SPILL) { /* move to a file */
			FILE *tf = smz_tmpfile();
			if (!tf || fflush(sp->w))
				return smz_err_set(e, SMZ_ERR_IO, "cannot create a temporary file");
			if (fwrite(sp->buf, 1, sp->len, tf) != sp->len)
				return smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
			fclose(sp->w);
			sodium_memzero(sp->buf, sp->len);
			free(sp->buf);
			sp->buf = NULL;
			sp->len = 0;
			sp->w = sp->tf = tf;
		}
		if (fwrite(b, 1, (size_t)n, sp->w) != (size_t)n)
			return smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
	}
	sodium_memzero(b, total < sizeof b ? total : sizeof b); /* what was read into it */
	if (smz_spool_seal(sp))
		return smz_err_set(e, SMZ_ERR_IO, "temporary file write error");
	return 0;
}

size_t
smz_spool_head(struct smz_spool *s, void *buf, size_t cap)
{
	if (s->tf) {
		rewind(s->tf);
		size_t n = fread(buf, 1, cap, s->tf);
		rewind(s->tf);
		return n;
	}
	size_t n = s->len < cap ? s->len : cap;
	memcpy(buf, s->buf ? s->buf : "", n);
	return n;
}

BIO *
smz_spool_bio(struct smz_spool *s)
{
	if (s->tf) {
		rewind(s->tf);
		return BIO_new_fp(s->tf, BIO_NOCLOSE);
	}
	return BIO_new_mem_buf(s->buf ? s->buf : "", (int)s->len);
}

FILE *
smz_spool_reader(struct smz_spool *s)
{
	if (s->tf) {
		rewind(s->tf);
		return s->tf;
	}
	return fmemopen(s->buf ? s->buf : "", s->len ? s->len : 1, "r");
}

void
smz_spool_reader_done(struct smz_spool *s, FILE *r)
{
	if (r && !s->tf)
		fclose(r);
}

int
smz_spool_copy(struct smz_spool *s, FILE *f, int crlf)
{
	FILE *r = smz_spool_reader(s);
	if (!r)
		return -1;
	size_t left = s->tf ? (size_t)-1 : s->len;
	char b[65536], o[65536 + 1];
	int pend_cr = 0, rc = 0;
	size_t n;
	while (left && (n = fread(b, 1, left < sizeof b ? left : sizeof b, r)) > 0) {
		left -= s->tf ? 0 : n;
		if (crlf) {
			if (fwrite(b, 1, n, f) != n)
				rc = -1;
			continue;
		}
		/* CRLF to LF into o, a CR at the end of b decided with the next */
		size_t k = 0;
		if (pend_cr && b[0] != '\n')
			o[k++] = '\r';
		pend_cr = 0;
		for (size_t i = 0; i < n;) {
			char *cr = memchr(b + i, '\r', n - i);
			size_t end = cr ? (size_t)(cr - b) : n;
			memcpy(o + k, b + i, end - i);
			k += end - i;
			if (!cr)
				break;
			if (end + 1 == n)
				pend_cr = 1;
			else if (b[end + 1] != '\n')
				o[k++] = '\r';
			i = end + 1;
		}
		if (fwrite(o, 1, k, f) != k)
			rc = -1;
	}
	if (pend_cr)
		fputc('\r', f);
	smz_spool_reader_done(s, r);
	return rc || ferror(f) ? -1 : 0;
}

/* ---- the sink BIO ---- */

/* One fwrite for many lines: two per 64-byte line cost more than the
 * encoding. */
static void
crlf_write(FILE *f, const unsigned char *p, int n)
{
	unsigned char b[16384];
	size_t k = 0, left = (size_t)n;
	while (left) {
		const unsigned char *nl = memchr(p, '\n', left);
		size_t l = nl ? (size_t)(nl - p) : left;
		if (k + l + 2 > sizeof b) {
			fwrite(b, 1, k, f);
			k = 0;
		}
		if (l + 2 > sizeof b) { /* no line is this long, but */
			fwrite(p, 1, l, f);
		} else {
			memcpy(b + k, p, l);
			k += l;
		}
		if (nl) {
			b[k++] = '\r';
			b[k++] = '\n';
			l++;
		}
		p += l;
		left -= l;
	}
	fwrite(b, 1, k, f);
}

static int
b64_write(BIO *b, const char *in, int inl)
{
	struct smz_spool_b64 *s = BIO_get_data(b);
	unsigned char out[8192];
	int done = 0;
	while (done < inl) {
		int chunk = inl - done > 4096 ? 4096 : inl - done, ol = 0;
		if (!EVP_EncodeUpdate(s->ctx, out, &ol, (const unsigned char *)in + done, chunk))
			return -1;
		crlf_write(s->f, out, ol);
		done += chunk;
	}
	return ferror(s->f) ? -1 : inl;
}

static long
b64_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num, (void)ptr;
	struct smz_spool_b64 *s = BIO_get_data(b);
	if (cmd == BIO_CTRL_FLUSH) {
		unsigned char out[128];
		int ol = 0;
		EVP_EncodeFinal(s->ctx, out, &ol);
		crlf_write(s->f, out, ol);
		return fflush(s->f) == 0;
	}
	return cmd == BIO_CTRL_WPENDING || cmd == BIO_CTRL_PENDING ? 0 : 1;
}

static BIO_METHOD *b64_method;

int
smz_spool_b64_init(void)
{
	b64_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "smz-b64");
	if (!b64_method || !BIO_meth_set_write(b64_method, b64_write) ||
	    !BIO_meth_set_ctrl(b64_method, b64_ctrl))
		return -1;
	return 0;
}

BIO *
smz_spool_b64_new(FILE *f, struct smz_spool_b64 *s)
{
	s->f = f;
	s->ctx = EVP_ENCODE_CTX_new();
	BIO *b = s->ctx ? BIO_new(b64_method) : NULL;
	if (!b) {
		EVP_ENCODE_CTX_free(s->ctx);
		return NULL;
	}
	EVP_EncodeInit(s->ctx);
	BIO_set_data(b, s);
	BIO_set_init(b, 1);
	return b;
}

void
smz_spool_b64_free(BIO *b, struct smz_spool_b64 *s)
{
	BIO_free(b);
	EVP_ENCODE_CTX_free(s->ctx);
}
