#include "pem.h"
#include "dbenv.h"
#include "progress.h"

#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct smz_pem_reader {
	FILE *f;
	size_t lineno, index;
	int pending; /* line holds a BEGIN not yet consumed */
	char line[SMZ_PEM_LINE_MAX + 2];
};

struct smz_pem_reader *
smz_pem_reader_new(FILE *f)
{
	struct smz_pem_reader *r = calloc(1, sizeof *r);
	if (r)
		r->f = f;
	return r;
}

void
smz_pem_reader_free(struct smz_pem_reader *r)
{
	free(r);
}

void
smz_pem_block_clear(struct smz_pem_block *b)
{
	free(b->der);
	memset(b, 0, sizeof *b);
}

/* Read one line without its end into r->line.  Returns its length, -1 at
 * EOF, -2 if it was longer than the cap (the rest is consumed). */
static long
read_line(struct smz_pem_reader *r)
{
	size_t n = 0;
	int c, over = 0;
	while ((c = getc(r->f)) != EOF && c != '\n') {
		if (n < SMZ_PEM_LINE_MAX)
			r->line[n++] = (char)c;
		else
			over = 1;
	}
	if (c == EOF && n == 0 && !over)
		return -1;
	r->lineno++;
	while (n > 0 && (r->line[n - 1] == '\r' || r->line[n - 1] == ' ' || r->line[n - 1] == '\t'))
		n--;
	r->line[n] = 0;
	return over ? -2 : (long)n;
}

static int
begin_type(const char *line, char *type, size_t cap)
{
	static const char pre[] = "-----BEGIN ", post[] = "-----";
	size_t l = strlen(line);
	if (strncmp(line, pre, sizeof pre - 1) != 0 || l < sizeof pre + sizeof post - 2 ||
	    strcmp(line + l - (sizeof post - 1), post) != 0)
		return 0;
	size_t tl = l - (sizeof pre - 1) - (sizeof post - 1);
	if (tl == 0 || tl >= cap)
		return 0;
	memcpy(type, line + sizeof pre - 1, tl);
	type[tl] = 0;
	return 1;
}

int
smz_pem_next(struct smz_pem_reader *r, struct smz_pem_block *b, struct smz_err *e)
{
	memset(b, 0, sizeof *b);
	long n;
	for (;;) {
		if (r->pending) {
			r->pending = 0;
			r->lineno++;
			begin_type(r->line, b->type, sizeof b->type);
			break;
		}
		n = read_line(r);
		if (n == -1)
			return 0;
		if (n >= 0 && begin_type(r->line, b->type, sizeof b->type))
			break;
	}
	b->index = ++r->index;
	b->line = r->lineno;
	char end[96];
	snprintf(end, sizeof end, "-----END %s-----", b->type);
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char *der = malloc(SMZ_PEM_BLOCK_MAX + 80);
	size_t len = 0;
	int rc = 0;
	if (!ctx || !der) {
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		goto out;
	}
	EVP_DecodeInit(ctx);
	for (;;) {
		n = read_line(r);
		if (n == -1) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "line %zu: %s block not terminated",
					 b->line, b->type);
			goto out;
		}
		if (n >= 0 && strcmp(r->line, end) == 0)
			break;
		char t2[64];
		if (n >= 0 && begin_type(r->line, t2, sizeof t2)) {
			/* a truncated block: report it, and read the new one next */
			r->pending = 1;
			r->lineno--;
			rc = smz_err_set(e, SMZ_ERR_DATA, "line %zu: %s block not terminated",
					 b->line, b->type);
			goto out;
		}
		if (rc)
			continue; /* already bad: skip to its END */
		if (n == -2) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "line %zu: line longer than %d bytes",
					 r->lineno, SMZ_PEM_LINE_MAX);
			continue;
		}
		if (strchr(r->line, ':')) {
			rc = smz_err_set(
				e, SMZ_ERR_DATA,
				"line %zu: encrypted or legacy PEM headers are not accepted",
				r->lineno);
			continue;
		}
		int outl = 0;
		if (len + (size_t)n > SMZ_PEM_BLOCK_MAX) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "block larger than %d bytes",
					 SMZ_PEM_BLOCK_MAX);
			continue;
		}
		if (EVP_DecodeUpdate(ctx, der + len, &outl, (unsigned char *)r->line, (int)n) < 0) {
			rc = smz_err_set(e, SMZ_ERR_DATA, "line %zu: bad base64", r->lineno);
			continue;
		}
		len += (size_t)outl;
	}
	if (!rc) {
		int outl = 0;
		if (EVP_DecodeFinal(ctx, der + len, &outl) < 0)
			rc = smz_err_set(e, SMZ_ERR_DATA, "line %zu: bad base64", r->lineno);
		len += (size_t)outl;
		if (!rc && len == 0)
			rc = smz_err_set(e, SMZ_ERR_DATA, "empty %s block", b->type);
	}
out:
	EVP_ENCODE_CTX_free(ctx);
	if (rc) {
		free(der);
		return rc;
	}
	b->der = der;
	b->len = len;
	return 1;
}

int
smz_pem_write(FILE *f, const char *type, const unsigned char *der, size_t len)
{
	if (len > SMZ_PEM_BLOCK_MAX || PEM_write(f, type, "", der, (long)len) <= 0 || ferror(f))
		return SMZ_ERR_IO;
	return 0;
}

int
smz_pem_write_b64(FILE *f, const char *type, const char *b64)
{
	size_t cap = b64 ? strlen(b64) : 0, len = 0;
	unsigned char *der = cap ? malloc(cap) : NULL;
	int rc = der && smz_unb64(b64, der, cap, &len) == 0 ? smz_pem_write(f, type, der, len)
							    : SMZ_ERR_DATA;
	free(der);
	return rc;
}

int
smz_pem_batches(FILE *in, size_t max, double secs,
		int (*take)(void *, struct smz_pem_block *, const struct smz_err *),
		int (*flush)(void *), void *arg)
{
	struct smz_pem_reader *r = smz_pem_reader_new(in);
	if (!r)
		return SMZ_ERR_INTERNAL;
	size_t queued = 0;
	double t0 = smz_now();
	int rc = 0;
	for (;;) {
		struct smz_pem_block b;
		struct smz_err be = {0};
		int got = smz_pem_next(r, &b, &be);
		if (got == 0)
			break;
		int t = take(arg, &b, got < 0 ? &be : NULL);
		smz_pem_block_clear(&b);
		if (t < 0) {
			rc = t;
			break;
		}
		queued += (size_t)t;
		if (queued >= max || (queued && smz_now() - t0 >= secs)) {
			if ((rc = flush(arg)) < 0)
				break;
			queued = 0;
			t0 = smz_now();
		}
	}
	if (!rc)
		rc = flush(arg);
	smz_pem_reader_free(r);
	return rc;
}

int
smz_pem_read_certs(const char *path, STACK_OF(X509) * *out, struct smz_err *e)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return smz_err_set(e, SMZ_ERR_NOINPUT, "%s: cannot open", path);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;
	while (sk && (x = PEM_read_X509(f, NULL, NULL, NULL)))
		sk_X509_push(sk, x);
	ERR_clear_error();
	fclose(f);
	if (!sk || sk_X509_num(sk) == 0) {
		sk_X509_pop_free(sk, X509_free);
		return smz_err_set(e, SMZ_ERR_DATA, "%s: no PEM certificate", path);
	}
	*out = sk;
	return 0;
}

int
smz_pem_write_cert(FILE *f, X509 *x)
{
	return PEM_write_X509(f, x) && !ferror(f) ? 0 : SMZ_ERR_IO;
}
