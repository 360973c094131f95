/*
 * mime: the untrusted MIME of a message, through GMime.  Parse a message or
 * an inner entity within caps on parts and nesting; read the originator
 * fields strictly (every From: and Sender: mailbox, or a refusal) and the
 * recipients; write entities and header blocks in the canonical CRLF form
 * that is signed and encrypted; tell S/MIME layers apart; and make
 * decrypted content that carries no MIME header into a proper body part.
 */
#ifndef SMZ_MIME_H
#define SMZ_MIME_H

#include <gmime/gmime.h>
#include <stdio.h>
#include <time.h>
#include "addr.h"
#include "err.h"
#include "spool.h"

#define SMZ_MIME_MAX_DEPTH 32 /* MIME nesting */
#define SMZ_MIME_MAX_FROM 8   /* From: mailboxes read */

/* A message read and parsed. */
struct smz_mime_msg {
	struct smz_spool raw; /* the input */
	int crlf;	      /* its line ends, kept on output */
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *m;
};

/* Parse m->raw (filled by smz_spool_read). */
int smz_mime_parse(struct smz_mime_msg *m, struct smz_err *e);
void smz_mime_msg_free(struct smz_mime_msg *m);

/* ---- header fields ---- */

/* The From: mailbox, normalised. */
int smz_mime_from(GMimeMessage *m, char out[SMZ_ADDR_MAX], struct smz_err *e);

/* What the checks need of a message's originator fields. */
struct smz_mime_hdrs {
	const char *from;			   /* the first From: mailbox, or NULL */
	char all[SMZ_MIME_MAX_FROM][SMZ_ADDR_MAX]; /* every From: mailbox, normalised */
	int nall, fields, bad; /* From: fields; bad: a mailbox unreadable or too many */
	time_t date;	       /* Date:, or -1 */
};

void smz_mime_read_hdrs(GMimeMessage *m, struct smz_mime_hdrs *h);

/* Every mailbox of every header field called name; -1 when one cannot be
 * read or there are more than cap. */
int smz_mime_header_mailboxes(GMimeMessage *m, const char *name, char (*out)[SMZ_ADDR_MAX], int cap,
			      int *n, int *fields);

/* The addresses to encrypt to: to, else those of To/Cc/Bcc, as written;
 * then, from *nto on, those of From: (the sender's copy).  Free with
 * smz_mime_recipients_free. */
void smz_mime_recipients(GMimeMessage *m, const char *const *to, char ***addrs, size_t *n,
			 size_t *nto);
void smz_mime_recipients_free(char **addrs, size_t n);

/* ---- writing, canonical CRLF ---- */

/* The message's header fields but the MIME ones, then MIME-Version. */
void smz_mime_write_outer(GMimeMessage *m, FILE *f);
/* A GMime object, header and body. */
int smz_mime_write_entity(GMimeObject *o, FILE *f);
/* The same into a new sealed spool (freed by the caller, also on error). */
int smz_mime_spool_entity(GMimeObject *o, struct smz_spool *sp, int big);
/* Drop every header field but the Content-* ones (see smz_mime_copy_entity). */
void smz_mime_keep_content_headers(GMimeObject *o);
/* Copy a sealed spool holding a MIME entity, keeping only the Content-*
 * fields of its header. */
int smz_mime_copy_entity(struct smz_spool *s, FILE *f);
/* Give leaf parts a transfer encoding that survives transport unchanged
 * (before a clear signature). */
void smz_mime_make_7bit(GMimeObject *o);

/* ---- decrypted content that is not a MIME entity ---- */

/* Does the content start with a header field (then it is an entity)? */
int smz_mime_starts_with_field(struct smz_spool *s);
/* Write the content as a body: MIME header fields, then the content; *kind
 * is its content type. */
int smz_mime_write_body(struct smz_spool *s, FILE *f, const char **kind);

/* ---- S/MIME layers ---- */

int smz_mime_is_pkcs7(GMimeObject *o);	/* application/pkcs7-mime, or a .p7m */
int smz_mime_is_signed(GMimeObject *o); /* multipart/signed, S/MIME protocol */
/* The decoded content of a leaf part into a new sealed spool. */
int smz_mime_part_content(GMimeObject *o, struct smz_spool *sp, int big);
/* Did a base64 part decode to something?  GMime skips garbage. */
int smz_mime_b64_sane(GMimeObject *o, size_t decoded);

/* What a walk through the layers created, freed together at the end. */
struct smz_mime_keep {
	GObject *obj[4 * 16];
	int nobj;
	struct smz_spool sp[16];
	int nsp;
};

/* Parse a spool holding a MIME entity; the objects stay in k. */
int smz_mime_parse_entity(struct smz_mime_keep *k, struct smz_spool *sp, GMimeObject **out,
			  struct smz_err *e);
void smz_mime_keep_free(struct smz_mime_keep *k);

#endif
