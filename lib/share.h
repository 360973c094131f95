/*
 * share: M-of-N recovery shares of a 32-byte secret (Shamir over GF(2^8),
 * libgfshare with libsodium as its random source), and the text share
 * file a recovery officer keeps: vault id, share set, index, threshold and
 * a checksum, so a wrong, stale or damaged share is named as such.
 */
#ifndef SMZ_SHARE_H
#define SMZ_SHARE_H

#include <stddef.h>
#include "err.h"

#define SMZ_SHARE_SECRET 32

struct smz_share {
	char vault[33]; /* vault id, hex */
	char set[17];	/* share set id, hex: changes with every reshare */
	int index, threshold, count;
	unsigned char secret[SMZ_SHARE_SECRET];
};

/* Split secret into count shares (index 1..count) of which threshold
 * recover it; out must hold count shares (guarded memory). */
int smz_share_split(const unsigned char *secret, int count, int threshold, struct smz_share *out,
		    struct smz_err *e);

/* Recover the secret from n shares of one set (at least their threshold). */
int smz_share_combine(const struct smz_share *s, size_t n, unsigned char *secret,
		      struct smz_err *e);

/* Text form, NUL-terminated; returns length or negative. */
int smz_share_format(const struct smz_share *s, char *buf, size_t cap);

/* Parse the text form; name is used in messages. */
int smz_share_parse(const char *text, const char *name, struct smz_share *s, struct smz_err *e);

#endif
