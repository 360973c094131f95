#include "share.h"

#include <libgfshare.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
sodium_rand(unsigned char *buf, unsigned int n)
{
	randombytes_buf(buf, n);
}

int
smz_share_split(const unsigned char *secret, int count, int threshold, struct smz_share *out,
		struct smz_err *e)
{
	if (threshold < 2 || count < threshold || count > 255)
		return smz_err_set(e, SMZ_ERR_USAGE,
				   "need 2 <= threshold <= shares <= 255 (got %d of %d)", threshold,
				   count);
	/* libgfshare's default source is random(); never let it be used. */
	gfshare_fill_rand = sodium_rand;
	unsigned char nrs[255];
	for (int i = 0; i < count; i++)
		nrs[i] = (unsigned char)(i + 1);
	gfshare_ctx *g = gfshare_ctx_init_enc(nrs, (unsigned)count, (unsigned char)threshold,
					      SMZ_SHARE_SECRET);
	if (!g)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "cannot split the secret");
	unsigned char *tmp = sodium_malloc(SMZ_SHARE_SECRET);
	if (!tmp) {
		gfshare_ctx_free(g);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	}
	memcpy(tmp, secret, SMZ_SHARE_SECRET);
	gfshare_ctx_enc_setsecret(g, tmp);
	for (int i = 0; i < count; i++) {
		out[i].index = i + 1;
		out[i].threshold = threshold;
		out[i].count = count;
		gfshare_ctx_enc_getshare(g, (unsigned char)i, out[i].secret);
	}
	gfshare_ctx_free(g); /* wipes its coefficients */
	sodium_free(tmp);
	return 0;
}

int
smz_share_combine(const struct smz_share *s, size_t n, unsigned char *secret, struct smz_err *e)
{
	if (n == 0)
		return smz_err_set(e, SMZ_ERR_PERM, "no shares given");
	unsigned char nrs[255];
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s[i].vault, s[0].vault) != 0 || strcmp(s[i].set, s[0].set) != 0)
			return smz_err_set(e, SMZ_ERR_PERM, "shares from different share sets");
		for (size_t j = 0; j < i; j++)
			if (s[j].index == s[i].index)
				return smz_err_set(e, SMZ_ERR_PERM, "share %d given twice",
						   s[i].index);
		nrs[used++] = (unsigned char)s[i].index;
	}
	if ((int)n < s[0].threshold)
		return smz_err_set(e, SMZ_ERR_PERM, "too few shares: %zu given, %d needed", n,
				   s[0].threshold);
	/* gfshare_ctx_free scrambles with the random source: it must be set. */
	gfshare_fill_rand = sodium_rand;
	gfshare_ctx *g = gfshare_ctx_init_dec(nrs, (unsigned)used, SMZ_SHARE_SECRET);
	if (!g)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "cannot combine shares");
	unsigned char *tmp = sodium_malloc(SMZ_SHARE_SECRET);
	for (size_t i = 0; tmp && i < n; i++) {
		memcpy(tmp, s[i].secret, SMZ_SHARE_SECRET);
		gfshare_ctx_dec_giveshare(g, (unsigned char)i, tmp);
	}
	if (tmp)
		gfshare_ctx_dec_extract(g, secret);
	gfshare_ctx_free(g);
	if (!tmp)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	sodium_free(tmp);
	return 0;
}

static void
checksum(const struct smz_share *s, char out[17])
{
	char hex[2 * SMZ_SHARE_SECRET + 1], buf[256];
	unsigned char h[8];
	sodium_bin2hex(hex, sizeof hex, s->secret, SMZ_SHARE_SECRET);
	int l = snprintf(buf, sizeof buf, "%s|%s|%d|%d|%d|%s", s->vault, s->set, s->index,
			 s->threshold, s->count, hex);
	crypto_generichash(h, sizeof h, (unsigned char *)buf, (size_t)l, NULL, 0);
	sodium_bin2hex(out, 17, h, sizeof h);
	sodium_memzero(hex, sizeof hex);
	sodium_memzero(buf, sizeof buf);
}

int
smz_share_format(const struct smz_share *s, char *buf, size_t cap)
{
	char hex[2 * SMZ_SHARE_SECRET + 1], sum[17];
	sodium_bin2hex(hex, sizeof hex, s->secret, SMZ_SHARE_SECRET);
	checksum(s, sum);
	int l = snprintf(buf, cap,
			 "# smz vault recovery share: keep it secret, keep it offline\n"
			 "smz-share: 1\nvault: %s\nset: %s\nindex: %d\nthreshold: %d\n"
			 "shares: %d\nsecret: %s\ncheck: %s\n",
			 s->vault, s->set, s->index, s->threshold, s->count, hex, sum);
	sodium_memzero(hex, sizeof hex);
	return l < 0 || (size_t)l >= cap ? -1 : l;
}

static int
is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

int
smz_share_parse(const char *text, const char *name, struct smz_share *s, struct smz_err *e)
{
	memset(s, 0, sizeof *s);
	char hex[2 * SMZ_SHARE_SECRET + 2] = "", sum[24] = "", v[40] = "", set[24] = "";
	int version = 0, seen = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char line[256];
		if (l >= sizeof line) {
			sodium_memzero(hex, sizeof hex);
			return smz_err_set(e, SMZ_ERR_PERM, "%s: damaged share (long line)", name);
		}
		memcpy(line, p, l);
		line[l] = 0;
		if (l && line[l - 1] == '\r')
			line[l - 1] = 0;
		p += l + (nl ? 1 : 0);
		if (!line[0] || line[0] == '#') {
			sodium_memzero(line, sizeof line);
			continue;
		}
		if (sscanf(line, "smz-share: %d", &version) == 1 ||
		    sscanf(line, "vault: %39s", v) == 1 || sscanf(line, "set: %23s", set) == 1 ||
		    sscanf(line, "index: %d", &s->index) == 1 ||
		    sscanf(line, "threshold: %d", &s->threshold) == 1 ||
		    sscanf(line, "shares: %d", &s->count) == 1 ||
		    sscanf(line, "secret: %65s", hex) == 1 || sscanf(line, "check: %23s", sum) == 1)
			seen++;
		else
			seen = -1000;
		sodium_memzero(line, sizeof line); /* it may have held the secret */
		if (seen < 0) {
			sodium_memzero(hex, sizeof hex);
			return smz_err_set(e, SMZ_ERR_PERM, "%s: not a share file or damaged",
					   name);
		}
	}
	sodium_memzero(s->secret, sizeof s->secret);
	int rc = 0;
	if (version != 1 || seen != 8 || !is_hex(v, 32) || !is_hex(set, 16) || !is_hex(sum, 16) ||
	    !is_hex(hex, 64) || s->index < 1 || s->index > 255 || s->threshold < 2 ||
	    s->count < s->threshold || s->count > 255 || s->index > s->count) {
		rc = smz_err_set(e, SMZ_ERR_PERM, "%s: not a share file or damaged", name);
		goto out;
	}
	memcpy(s->vault, v, 33);
	memcpy(s->set, set, 17);
	sodium_hex2bin(s->secret, SMZ_SHARE_SECRET, hex, 64, NULL, NULL, NULL);
	char want[17];
	checksum(s, want);
	if (strcmp(want, sum) != 0)
		rc = smz_err_set(e, SMZ_ERR_PERM, "%s: damaged share (checksum mismatch)", name);
out:
	sodium_memzero(hex, sizeof hex);
	if (rc)
		sodium_memzero(s->secret, sizeof s->secret);
	return rc;
}
