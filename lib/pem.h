/*
 * pem: the record format between programs: concatenated PEM blocks (CSRs,
 * certificates).  The reader distrusts its input: lines and blocks are
 * capped, a bad block is reported with its index and skipped, and the
 * stream goes on.  Text outside blocks (e.g. `openssl x509 -text` dumps)
 * is ignored, as OpenSSL does.
 */
#ifndef SMZ_PEM_H
#define SMZ_PEM_H

#include <stddef.h>
#include <stdio.h>
#include "err.h"

#define SMZ_PEM_LINE_MAX 4096
#define SMZ_PEM_BLOCK_MAX (1 << 20)

struct smz_pem_reader;

struct smz_pem_block {
	char type[64];	    /* e.g. "CERTIFICATE REQUEST" */
	unsigned char *der; /* malloc'd */
	size_t len;
	size_t index; /* 1-based position in the stream */
	size_t line;  /* line of its BEGIN */
};

struct smz_pem_reader *smz_pem_reader_new(FILE *f);
void smz_pem_reader_free(struct smz_pem_reader *r);

/* 1: a block in b; 0: end of stream; negative: block b->index is bad (detail
 * in e), call again for the next one. */
int smz_pem_next(struct smz_pem_reader *r, struct smz_pem_block *b, struct smz_err *e);

void smz_pem_block_clear(struct smz_pem_block *b);

/* Feed a stream to take() block by block (a bad block with bad set, b
 * holding its index and line); take returns 1 when it queued the block, 0
 * when not, negative to stop.  flush() runs when max blocks are queued or
 * secs have passed since the last flush, and at the end.  This is how
 * batch programs group records into one transaction each. */
int smz_pem_batches(FILE *in, size_t max, double secs,
		    int (*take)(void *arg, struct smz_pem_block *b, const struct smz_err *bad),
		    int (*flush)(void *arg), void *arg);

/* Every certificate in a PEM file (e.g. a CA chain). */
#include <openssl/x509.h>
int smz_pem_read_certs(const char *path, STACK_OF(X509) * *out, struct smz_err *e);

/* Write a certificate as PEM; SMZ_ERR_IO on failure. */
int smz_pem_write_cert(FILE *f, X509 *x);

/* Write one block; SMZ_ERR_IO if the stream failed (full disk, closed pipe). */
int smz_pem_write(FILE *f, const char *type, const unsigned char *der, size_t len);

/* The same from base64 DER, as records keep it (a CSR in the vault);
 * SMZ_ERR_DATA if it is not base64. */
int smz_pem_write_b64(FILE *f, const char *type, const char *b64);

#endif
