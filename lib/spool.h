/*
 * spool: the bytes of a message, or of one MIME entity, while smime works
 * on them: in memory (wiped when freed) or, when large, in an unlinked
 * temporary file of mode 0600, so no plaintext is left behind on disk.
 * A sealed spool is read back as a FILE, an OpenSSL BIO or a prefix, or
 * copied out with the line ends wanted.  Also a sink BIO that writes DER as
 * base64 lines ending in CRLF, for CMS structures streamed into a spool.
 */
#ifndef SMZ_SPOOL_H
#define SMZ_SPOOL_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <stdio.h>
#include "err.h"

/* An unlinked temporary file in $TMPDIR (else /tmp), mode 0600. */
FILE *smz_tmpfile(void);
/* The same in memory (memfd_create; a temporary file where there is no
 * memfd): for what a server holds briefly and that is bounded, where a
 * file system's inode allocation would cost more than the work. */
FILE *smz_memfile(void);

struct smz_spool {
	FILE *w;   /* writing */
	char *buf; /* memory, after seal */
	size_t len;
	FILE *tf; /* file-backed */
};

/* Open for writing (at w): in memory, or in a temporary file when big. */
int smz_spool_open(struct smz_spool *s, int big);
/* Done writing; the spool is readable from its start. */
int smz_spool_seal(struct smz_spool *s);
void smz_spool_free(struct smz_spool *s);
size_t smz_spool_size(struct smz_spool *s);

/* Read all of fd into a spool: memory, moved to a file past 8 MiB; a large
 * regular file at offset 0 is read in place; refused above 1 GiB. */
int smz_spool_read(int fd, struct smz_spool *s, struct smz_err *e);

/* Readers over a sealed spool, from its start. */
size_t smz_spool_head(struct smz_spool *s, void *buf, size_t cap); /* the first bytes */
BIO *smz_spool_bio(struct smz_spool *s);
FILE *smz_spool_reader(struct smz_spool *s); /* close with smz_spool_reader_done */
void smz_spool_reader_done(struct smz_spool *s, FILE *r);

/* Copy a sealed spool to f, converting CRLF to LF unless crlf. */
int smz_spool_copy(struct smz_spool *s, FILE *f, int crlf);

/* The sink BIO: DER in, base64 in CRLF lines out to f.  smz_spool_b64_init
 * once before the first smz_spool_b64_new. */
struct smz_spool_b64 {
	FILE *f;
	EVP_ENCODE_CTX *ctx;
};

int smz_spool_b64_init(void);
BIO *smz_spool_b64_new(FILE *f, struct smz_spool_b64 *s);
void smz_spool_b64_free(BIO *b, struct smz_spool_b64 *s);

#endif
