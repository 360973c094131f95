/* mime: parse, read and write the MIME of a message with GMime; see mime.h. */
#include "mime.h"
#include "keys.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PARTS 10000 /* MIME entities in one message */
#define MAX_DEPTH SMZ_MIME_MAX_DEPTH

/* ---- parsing ---- */

static GMimeStream *
spool_gstream(struct smz_spool *s)
{
	if (s->tf) {
		rewind(s->tf);
		GMimeStream *g = g_mime_stream_file_new(s->tf);
		g_mime_stream_file_set_owner(GMIME_STREAM_FILE(g), FALSE);
		return g;
	}
	return g_mime_stream_mem_new_with_buffer(s->buf ? s->buf : "", s->len);
}

static int
count_parts(GMimeObject *o, int depth, int *n)
{
	if (++*n > MAX_PARTS || depth > MAX_DEPTH)
		return -1;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			if (count_parts(g_mime_multipart_get_part(mp, i), depth + 1, n))
				return -1;
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		GMimeObject *b = m ? g_mime_message_get_mime_part(m) : NULL;
		if (b && count_parts(b, depth + 1, n))
			return -1;
	}
	return 0;
}

/* A cheap bound before GMime recurses: lines that open a container. */
static int
too_nested(struct smz_spool *sp)
{
	if (sp->tf)
		return 0; /* large messages: checked after parsing */
	size_t opens = 0;
	for (const char *p = sp->buf, *end = sp->buf + sp->len; p && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if ((size_t)(end - p) > 13 && strncasecmp(p, "content-type:", 13) == 0) {
			const char *q = p + 13;
			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			if ((size_t)(end - q) > 10 && (strncasecmp(q, "multipart/", 10) == 0 ||
						       strncasecmp(q, "message/", 8) == 0))
				opens++;
		}
		p = nl ? nl + 1 : NULL;
	}
	return opens > 4 * MAX_DEPTH + MAX_PARTS;
}

int
smz_mime_parse(struct smz_mime_msg *m, struct smz_err *e)
{
	size_t size = smz_spool_size(&m->raw);
	if (size == 0)
		return smz_err_set(e, SMZ_ERR_DATA, "empty message");
	/* line ends: those of the first line */
	char head[4096];
	size_t hl = smz_spool_head(&m->raw, head, sizeof head);
	char *nl = memchr(head, '\n', hl);
	m->crlf = nl && nl > head && nl[-1] == '\r';
	if (!nl || memchr(head, ':', (size_t)(nl - head)) == NULL)
		return smz_err_set(e, SMZ_ERR_DATA, "not an RFC 5322 message (no header line)");
	if (too_nested(&m->raw))
		return smz_err_set(e, SMZ_ERR_DATA, "MIME nesting too deep (over %d levels)",
				   MAX_DEPTH);
	m->stream = spool_gstream(&m->raw);
	m->parser = g_mime_parser_new_with_stream(m->stream);
	g_mime_parser_set_format(m->parser, GMIME_FORMAT_MESSAGE);
	m->m = g_mime_parser_construct_message(m->parser, NULL);
	if (!m->m)
		return smz_err_set(e, SMZ_ERR_DATA, "not an RFC 5322 message");
	int n = 0;
	GMimeObject *body = g_mime_message_get_mime_part(m->m);
	if (body && count_parts(body, 0, &n))
		return smz_err_set(e, SMZ_ERR_DATA,
				   "MIME structure too large or too deep "
				   "(over %d parts or %d levels)",
				   MAX_PARTS, MAX_DEPTH);
	return 0;
}

void
smz_mime_msg_free(struct smz_mime_msg *m)
{
	if (m->m)
		g_object_unref(m->m);
	if (m->parser)
		g_object_unref(m->parser);
	if (m->stream)
		g_object_unref(m->stream);
	smz_spool_free(&m->raw);
}

int
smz_mime_parse_entity(struct smz_mime_keep *k, struct smz_spool *sp, GMimeObject **out,
		      struct smz_err *e)
{
	if (smz_spool_size(sp) == 0)
		return smz_err_set(e, SMZ_ERR_DATA, "an empty inner entity");
	GMimeStream *st = spool_gstream(sp);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	k->obj[k->nobj++] = G_OBJECT(st);
	k->obj[k->nobj++] = G_OBJECT(p);
	GMimeObject *o = g_mime_parser_construct_part(p, NULL);
	if (!o)
		return smz_err_set(e, SMZ_ERR_DATA, "the inner entity is not MIME");
	k->obj[k->nobj++] = G_OBJECT(o);
	int n = 0;
	if (count_parts(o, 0, &n))
		return smz_err_set(e, SMZ_ERR_DATA, "MIME structure too large or too deep");
	*out = o;
	return 0;
}

void
smz_mime_keep_free(struct smz_mime_keep *k)
{
	while (k->nobj > 0)
		g_object_unref(k->obj[--k->nobj]);
	while (k->nsp > 0)
		smz_spool_free(&k->sp[--k->nsp]);
}

/* ---- header fields ---- */

int
smz_mime_from(GMimeMessage *m, char out[SMZ_ADDR_MAX], struct smz_err *e)
{
	InternetAddressList *l = g_mime_message_get_from(m);
	InternetAddress *ia = l && internet_address_list_length(l) > 0
				      ? internet_address_list_get_address(l, 0)
				      : NULL;
	if (!ia || !INTERNET_ADDRESS_IS_MAILBOX(ia))
		return smz_err_set(e, SMZ_ERR_DATA, "the message has no From: mailbox");
	struct smz_err ae = {0};
	const char *a = internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(ia));
	if (!a || smz_addr_normalize(a, out, &ae))
		return smz_err_set(e, SMZ_ERR_DATA, "From: %s", ae.msg[0] ? ae.msg : "unreadable");
	return 0;
}

static int
collect_mailboxes(InternetAddressList *l, char (*out)[SMZ_ADDR_MAX], int cap, int *n)
{
	int bad = 0;
	for (int i = 0; l && i < internet_address_list_length(l); i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			bad |= collect_mailboxes(internet_address_group_get_members(
							 INTERNET_ADDRESS_GROUP(ia)),
						 out, cap, n);
			continue;
		}
		const char *a = internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(ia));
		struct smz_err ae;
		if (*n >= cap || !a || smz_addr_normalize(a, out[*n], &ae))
			bad = 1;
		else
			(*n)++;
	}
	return bad;
}

int
smz_mime_header_mailboxes(GMimeMessage *m, const char *name, char (*out)[SMZ_ADDR_MAX], int cap,
			  int *n, int *fields)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
	int bad = 0;
	*n = *fields = 0;
	for (int i = 0; i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		/* the raw value: encoded words are decoded by the address parser, so
		 * a display name "Doe, John" in an encoded word stays one */
		const char *hn = g_mime_header_get_name(h), *v = g_mime_header_get_raw_value(h);
		if (!hn || g_ascii_strcasecmp(hn, name) != 0)
			continue;
		(*fields)++;
		InternetAddressList *l = v ? internet_address_list_parse(NULL, v) : NULL;
		bad |= !l || collect_mailboxes(l, out, cap, n);
		if (l)
			g_object_unref(l);
	}
	return bad ? -1 : 0;
}

void
smz_mime_read_hdrs(GMimeMessage *m, struct smz_mime_hdrs *h)
{
	memset(h, 0, sizeof *h);
	h->bad = smz_mime_header_mailboxes(m, "From", h->all, SMZ_MIME_MAX_FROM, &h->nall,
					   &h->fields) < 0;
	h->from = h->nall > 0 ? h->all[0] : NULL;
	GDateTime *d = g_mime_message_get_date(m);
	h->date = d ? (time_t)g_date_time_to_unix(d) : (time_t)-1;
}

static int
add_addresses(InternetAddressList *l, char ***v, size_t *n)
{
	for (int i = 0; l && i < internet_address_list_length(l); i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (add_addresses(internet_address_group_get_members(
						  INTERNET_ADDRESS_GROUP(ia)),
					  v, n))
				return -1;
			continue;
		}
		const char *a = internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(ia));
		char **nv = realloc(*v, (*n + 1) * sizeof *nv);
		if (!nv)
			return -1;
		*v = nv;
		(*v)[(*n)++] = strdup(a ? a : "");
	}
	return 0;
}

void
smz_mime_recipients(GMimeMessage *m, const char *const *to, char ***addrs, size_t *n, size_t *nto)
{
	*addrs = NULL;
	*n = 0;
	if (to) {
		for (const char *const *t = to; *t; t++) {
			char **nv = realloc(*addrs, (*n + 1) * sizeof *nv);
			if (!nv)
				break;
			*addrs = nv;
			(*addrs)[(*n)++] = strdup(*t);
		}
	} else {
		add_addresses(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO), addrs, n);
		add_addresses(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_CC), addrs, n);
		add_addresses(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_BCC), addrs, n);
	}
	*nto = *n; /* the rest: the sender's copy, best effort */
	add_addresses(g_mime_message_get_from(m), addrs, n);
}

void
smz_mime_recipients_free(char **addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

/* ---- writing ---- */

void
smz_mime_write_outer(GMimeMessage *m, FILE *f)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
	for (int i = 0; i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_raw_name(h);
		const char *val = g_mime_header_get_raw_value(h);
		if (!name || !val || g_ascii_strncasecmp(name, "Content-", 8) == 0 ||
		    g_ascii_strcasecmp(name, "MIME-Version") == 0)
			continue;
		fputs(name, f);
		fputc(':', f);
		size_t l = strlen(val), start = 0;
		for (size_t k = 0; k < l; k++)
			if (val[k] == '\n' && (k == 0 || val[k - 1] != '\r')) {
				fwrite(val + start, 1, k - start, f);
				fputs("\r\n", f);
				start = k + 1;
			}
		fwrite(val + start, 1, l - start, f);
		if (l == 0 || val[l - 1] != '\n')
			fputs("\r\n", f);
	}
	fputs("MIME-Version: 1.0\r\n", f);
}

int
smz_mime_write_entity(GMimeObject *o, FILE *f)
{
	GMimeStream *fs = g_mime_stream_file_new(f);
	g_mime_stream_file_set_owner(GMIME_STREAM_FILE(fs), FALSE);
	GMimeStream *flt = g_mime_stream_filter_new(fs);
	GMimeFilter *u2d = g_mime_filter_unix2dos_new(FALSE);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(flt), u2d);
	g_object_unref(u2d);
	ssize_t n = g_mime_object_write_to_stream(o, NULL, flt);
	g_mime_stream_flush(flt);
	g_object_unref(flt);
	g_object_unref(fs);
	return n < 0 || ferror(f) ? -1 : 0;
}

int
smz_mime_spool_entity(GMimeObject *o, struct smz_spool *sp, int big)
{
	return smz_spool_open(sp, big) || smz_mime_write_entity(o, sp->w) || smz_spool_seal(sp) ? -1
												: 0;
}

void
smz_mime_keep_content_headers(GMimeObject *o)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	for (int i = g_mime_header_list_get_count(hl) - 1; i >= 0; i--) {
		const char *n = g_mime_header_get_name(g_mime_header_list_get_header_at(hl, i));
		if (!n || g_ascii_strncasecmp(n, "Content-", 8) != 0)
			g_mime_header_list_remove_at(hl, i);
	}
}

/* A decrypted entity's other fields (From:, Subject:, Reply-To: inside the
 * encryption) are the sender's own words: they must never become, or stand
 * beside, the delivered message's header fields.  A line that is not a
 * header field starts the body. */
int
smz_mime_copy_entity(struct smz_spool *s, FILE *f)
{
	FILE *r = smz_spool_reader(s);
	if (!r)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int keep = 0;
	while ((n = getline(&line, &cap, r)) > 0) {
		int blank = line[0] == '\n' || (line[0] == '\r' && n >= 2 && line[1] == '\n');
		int cont = line[0] == ' ' || line[0] == '\t';
		size_t nl = strcspn(line, ": \t\r\n");
		int field = !blank && !cont && nl > 0 && line[nl] == ':';
		if (blank || (!cont && !field)) {
			fwrite(line, 1, (size_t)n, f);
			break;
		}
		if (field)
			keep = g_ascii_strncasecmp(line, "Content-", 8) == 0;
		if (keep)
			fwrite(line, 1, (size_t)n, f);
	}
	free(line);
	char b[65536];
	size_t k;
	while ((k = fread(b, 1, sizeof b, r)) > 0)
		if (fwrite(b, 1, k, f) != k)
			break;
	int rc = ferror(r) || ferror(f) ? -1 : 0;
	smz_spool_reader_done(s, r);
	return rc;
}

/* Leaf parts that need a 7-bit transfer encoding to survive transport
 * byte for byte: 8-bit or binary data, long lines, trailing white space
 * (which MTAs strip), a line "From " (which mbox writers change), bare CR. */
void
smz_mime_make_7bit(GMimeObject *o)
{
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			smz_mime_make_7bit(g_mime_multipart_get_part(mp, i));
		return;
	}
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m && g_mime_message_get_mime_part(m))
			smz_mime_make_7bit(g_mime_message_get_mime_part(m));
		return;
	}
	if (!GMIME_IS_PART(o))
		return;
	GMimePart *p = GMIME_PART(o);
	GMimeContentEncoding enc = g_mime_part_get_content_encoding(p);
	if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE)
		return;
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	if (!w)
		return;
	GMimeStream *mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, mem);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	int need = 0,
	    text = g_mime_content_type_is_type(g_mime_object_get_content_type(o), "text", "*");
	size_t col = 0, bin = 0;
	for (size_t i = 0; i < ba->len && !need; i++) {
		unsigned char c = ba->data[i];
		if (c == '\n') {
			if (i > 0 && (ba->data[i - 1] == ' ' || ba->data[i - 1] == '\t' ||
				      (ba->data[i - 1] == '\r' && i > 1 &&
				       (ba->data[i - 2] == ' ' || ba->data[i - 2] == '\t'))))
				need = 1;
			col = 0;
			continue;
		}
		if (c >= 0x80 || c == 0)
			bin++, need = 1;
		if (c == '\r' && (i + 1 >= ba->len || ba->data[i + 1] != '\n'))
			need = 1;
		if (col == 0 && i + 5 <= ba->len && memcmp(ba->data + i, "From ", 5) == 0)
			need = 1;
		if (++col > 76)
			need = 1;
	}
	if (ba->len && ba->data[ba->len - 1] != '\n' &&
	    (ba->data[ba->len - 1] == ' ' || ba->data[ba->len - 1] == '\t'))
		need = 1;
	if (need)
		g_mime_part_set_content_encoding(p, text && bin < ba->len / 8 + 1
							    ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
							    : GMIME_CONTENT_ENCODING_BASE64);
	g_object_unref(mem);
}

/* ---- decrypted content that is not a MIME entity ----
 * `openssl cms -encrypt` of a plain file, and many scripts and old
 * gateways, encrypt bare text: no header block inside the envelope.  Such
 * content is the body of the message, never dropped.  The rule (see
 * smz-sign(1)): the content is a MIME entity when its first line is a
 * syntactically valid header field (a name of printable US-ASCII other
 * than ':', then ':'); anything else is a body. */

int
smz_mime_starts_with_field(struct smz_spool *s)
{
	char head[1000];
	size_t n = smz_spool_head(s, head, sizeof head);
	size_t i = 0;
	while (i < n && head[i] != ':' && (unsigned char)head[i] > 32 &&
	       (unsigned char)head[i] < 127)
		i++;
	return i > 0 && i < n && head[i] == ':';
}

/* What the content is: UTF-8 text that can go as it is (no NUL, no bare
 * CR, lines of at most 998 bytes), with 8-bit bytes or not, else binary. */
struct body_kind {
	int utf8, eightbit, plain;
};

static int
body_kind(struct smz_spool *s, size_t size, struct body_kind *k)
{
	FILE *r = smz_spool_reader(s);
	if (!r)
		return -1;
	char b[65536 + 4];
	size_t carry = 0, n, line = 0, left = s->tf ? (size_t)-1 : size;
	int prev_cr = 0;
	k->utf8 = k->plain = 1;
	k->eightbit = 0;
	while (left && (n = fread(b + carry, 1, left < 65536 ? left : 65536, r)) > 0) {
		left -= s->tf ? 0 : n;
		for (size_t i = carry; i < carry + n; i++) {
			unsigned char c = (unsigned char)b[i];
			if (prev_cr && c != '\n')
				k->plain = 0;
			prev_cr = c == '\r';
			k->eightbit |= c >= 0x80;
			line = c == '\n' ? 0 : line + 1;
			if (line > 998 + (c == '\r'))
				k->plain = 0;
		}
		n += carry;
		const gchar *end = NULL;
		if (k->utf8 && !g_utf8_validate_len(b, n, &end)) {
			/* a character cut at the end of the chunk: on with the next */
			size_t rest = n - (size_t)(end - b);
			if (rest < 4 && memchr(end, 0, rest) == NULL &&
			    (unsigned char)*end >= 0xc2) {
				memmove(b, end, rest);
				carry = rest;
				continue;
			}
			k->utf8 = 0;
		}
		carry = 0;
	}
	if (carry)
		k->utf8 = 0;
	if (prev_cr)
		k->plain = 0;
	int err = ferror(r);
	smz_spool_reader_done(s, r);
	return err ? -1 : 0;
}

/* Base64 of a spool in 76-column CRLF lines. */
static int
copy_base64(struct smz_spool *s, size_t size, FILE *f)
{
	FILE *r = smz_spool_reader(s);
	if (!r)
		return -1;
	unsigned char in[57 * 1024], out[77 * 1024 + 8];
	size_t n, have = 0, left = s->tf ? (size_t)-1 : size;
	for (;;) {
		n = left ? fread(in + have, 1, sizeof in - have < left ? sizeof in - have : left, r)
			 : 0;
		left -= s->tf ? 0 : n;
		have += n;
		int last = n == 0;
		size_t whole = last ? have : have - have % 57;
		for (size_t i = 0; i < whole; i += 57) {
			size_t l = whole - i < 57 ? whole - i : 57;
			int ol = EVP_EncodeBlock(out, in + i, (int)l);
			fwrite(out, 1, (size_t)ol, f);
			fputs("\r\n", f);
		}
		memmove(in, in + whole, have - whole);
		have -= whole;
		if (last)
			break;
	}
	int err = ferror(r) || ferror(f);
	smz_spool_reader_done(s, r);
	return err ? -1 : 0;
}

/* UTF-8 text as text/plain, the rest as application/octet-stream, base64.
 * Line ends become CRLF (the canonical form the output is built in). */
int
smz_mime_write_body(struct smz_spool *s, FILE *f, const char **kind)
{
	size_t size = smz_spool_size(s);
	struct body_kind k;
	if (body_kind(s, size, &k))
		return -1;
	*kind = k.utf8 ? "text/plain" : "application/octet-stream";
	if (!k.utf8) {
		fputs("Content-Type: application/octet-stream\r\n"
		      "Content-Transfer-Encoding: base64\r\n\r\n",
		      f);
		return copy_base64(s, size, f);
	}
	fputs("Content-Type: text/plain; charset=utf-8\r\n", f);
	if (!k.plain) {
		fputs("Content-Transfer-Encoding: base64\r\n\r\n", f);
		return copy_base64(s, size, f);
	}
	fprintf(f, "Content-Transfer-Encoding: %s\r\n\r\n", k.eightbit ? "8bit" : "7bit");
	FILE *r = smz_spool_reader(s);
	if (!r)
		return -1;
	char b[65536];
	size_t n, left = s->tf ? (size_t)-1 : size;
	int prev_cr = 0;
	while (left && (n = fread(b, 1, left < sizeof b ? left : sizeof b, r)) > 0) {
		left -= s->tf ? 0 : n;
		size_t start = 0;
		for (size_t i = 0; i < n; i++) {
			if (b[i] == '\n' && !(i > 0 ? b[i - 1] == '\r' : prev_cr)) {
				fwrite(b + start, 1, i - start, f);
				fputc('\r', f);
				start = i;
			}
		}
		fwrite(b + start, 1, n - start, f);
		prev_cr = b[n - 1] == '\r';
	}
	int err = ferror(r) || ferror(f);
	smz_spool_reader_done(s, r);
	return err ? -1 : 0;
}

/* ---- S/MIME layers ---- */

int
smz_mime_is_pkcs7(GMimeObject *o)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	if (g_mime_content_type_is_type(ct, "application", "pkcs7-mime") ||
	    g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime"))
		return 1;
	const char *name = g_mime_object_get_content_type_parameter(o, "name");
	return g_mime_content_type_is_type(ct, "application", "octet-stream") && name &&
	       strlen(name) > 4 && g_ascii_strcasecmp(name + strlen(name) - 4, ".p7m") == 0;
}

int
smz_mime_is_signed(GMimeObject *o)
{
	if (!GMIME_IS_MULTIPART(o) ||
	    !g_mime_content_type_is_type(g_mime_object_get_content_type(o), "multipart", "signed"))
		return 0;
	const char *proto = g_mime_object_get_content_type_parameter(o, "protocol");
	return proto && (g_ascii_strcasecmp(proto, "application/pkcs7-signature") == 0 ||
			 g_ascii_strcasecmp(proto, "application/x-pkcs7-signature") == 0);
}

int
smz_mime_part_content(GMimeObject *o, struct smz_spool *sp, int big)
{
	memset(sp, 0, sizeof *sp); /* safe to free whatever fails */
	if (!GMIME_IS_PART(o))
		return -1;
	GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));
	if (!w || smz_spool_open(sp, big))
		return -1;
	GMimeStream *fs = g_mime_stream_file_new(sp->w);
	g_mime_stream_file_set_owner(GMIME_STREAM_FILE(fs), FALSE);
	ssize_t n = g_mime_data_wrapper_write_to_stream(w, fs);
	g_mime_stream_flush(fs);
	g_object_unref(fs);
	return n < 0 || smz_spool_seal(sp) ? -1 : 0;
}

int
smz_mime_b64_sane(GMimeObject *o, size_t decoded)
{
	if (!GMIME_IS_PART(o) ||
	    g_mime_part_get_content_encoding(GMIME_PART(o)) != GMIME_CONTENT_ENCODING_BASE64)
		return 1;
	return decoded > 0;
}
