/*
 * addr: mail addresses as HR exports write them, made into the one form
 * smz stores: RFC 5321 dot-atom local part kept as written, domain
 * lowercased, an internationalised domain as its A-label.
 */
#ifndef SMZ_ADDR_H
#define SMZ_ADDR_H

#include <stddef.h>
#include "err.h"

#define SMZ_ADDR_MAX 320

/* Validate and normalise in (already trimmed) into out; on failure e says
 * why in words a sysadmin can act on. */
int smz_addr_normalize(const char *in, char out[SMZ_ADDR_MAX], struct smz_err *e);

/* Normalise a bare domain (IDN to A-label, lowercase, LDH check). */
int smz_domain_normalize(const char *in, char *out, size_t cap, struct smz_err *e);

/* Index key of a normalised address: lowercased unless local parts are
 * compared case-sensitively. */
void smz_addr_key(const char *addr, int local_part_sensitive, char out[SMZ_ADDR_MAX]);

/* Characters (code points) in a UTF-8 string; 0 for NULL. */
size_t smz_utf8_chars(const char *s);

/* Copy in to out (cap bytes) with control characters shown as '?', for
 * messages that echo hostile input. */
const char *smz_printable(const char *in, char *out, size_t cap);

/* Is s valid UTF-8? */
int smz_utf8_valid(const char *s, size_t len);

#endif
