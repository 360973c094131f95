#include "addr.h"

#include <ctype.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

size_t
smz_utf8_chars(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

const char *
smz_printable(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in && *in && i + 1 < cap; in++)
		out[i++] = ((unsigned char)*in < 0x20 || *in == 0x7f) ? '?' : *in;
	out[i] = 0;
	return out;
}

int
smz_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p;
		size_t n = c < 0x80		? 0
			   : (c & 0xe0) == 0xc0 ? 1
			   : (c & 0xf0) == 0xe0 ? 2
			   : (c & 0xf8) == 0xf0 ? 3
						: 4;
		if (n == 4 || (size_t)(end - p) <= n || c == 0xc0 || c == 0xc1 || c > 0xf4)
			return 0;
		for (size_t i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		/* overlong 3/4-byte forms and surrogates */
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
		    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			return 0;
		p += n + 1;
	}
	return 1;
}

static int
is_atext(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

int
smz_domain_normalize(const char *in, char *out, size_t cap, struct smz_err *e)
{
	char *ascii = NULL;
	int ascii_only = 1;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++)
		if (*p >= 0x80)
			ascii_only = 0;
	if (!ascii_only) {
		int rc = idn2_to_ascii_8z(in, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK)
			return smz_err_set(e, SMZ_ERR_DATA,
					   "domain \"%s\" is not a valid internationalised "
					   "domain name (%s)",
					   in, idn2_strerror(rc));
		in = ascii;
	}
	size_t l = strlen(in);
	int rc = 0;
	if (l == 0)
		rc = smz_err_set(e, SMZ_ERR_DATA, "empty domain");
	else if (l > 253 || l >= cap)
		rc = smz_err_set(e, SMZ_ERR_DATA, "domain longer than 253 characters");
	for (size_t i = 0, lab = 0; !rc && i <= l; i++) {
		int c = (unsigned char)in[i];
		if (c == '.' || c == 0) {
			if (lab == 0)
				rc = smz_err_set(e, SMZ_ERR_DATA,
						 "domain \"%s\" has an empty label", in);
			else if (lab > 63)
				rc = smz_err_set(e, SMZ_ERR_DATA,
						 "domain \"%s\" has a label over 63 characters",
						 in);
			else if (in[i - 1] == '-')
				rc = smz_err_set(e, SMZ_ERR_DATA,
						 "domain \"%s\" has a label ending in '-'", in);
			lab = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-'))
			rc = smz_err_set(
				e, SMZ_ERR_DATA,
				"domain \"%s\" contains '%c' (letters, digits, '-' and '.' only)",
				in, c);
		else if (lab == 0 && c == '-')
			rc = smz_err_set(e, SMZ_ERR_DATA,
					 "domain \"%s\" has a label beginning with '-'", in);
		lab++;
	}
	if (!rc && !strchr(in, '.'))
		rc = smz_err_set(e, SMZ_ERR_DATA, "domain \"%s\" is not fully qualified", in);
	if (!rc) {
		for (size_t i = 0; i <= l; i++)
			out[i] = (char)tolower((unsigned char)in[i]);
	}
	free(ascii);
	return rc;
}

static int normalize(const char *in, const char *shown, char out[SMZ_ADDR_MAX], struct smz_err *e);

int
smz_addr_normalize(const char *in, char out[SMZ_ADDR_MAX], struct smz_err *e)
{
	char shown[SMZ_ADDR_MAX];
	return normalize(in, smz_printable(in, shown, sizeof shown), out, e);
}

/* shown: in, safe to print */
static int
normalize(const char *in, const char *shown, char out[SMZ_ADDR_MAX], struct smz_err *e)
{
	if (!*in)
		return smz_err_set(e, SMZ_ERR_DATA, "no address");
	if (strchr(in, '<') || strchr(in, '>'))
		return smz_err_set(e, SMZ_ERR_DATA,
				   "\"%s\": give the bare address, not \"Name <address>\"", shown);
	for (const char *p = in; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return smz_err_set(e, SMZ_ERR_DATA,
					   "\"%s\": address contains white space"
					   " or a control character",
					   shown);
	const char *at = strrchr(in, '@');
	if (!at)
		return smz_err_set(e, SMZ_ERR_DATA, "\"%s\": not a mail address (no '@')", shown);
	size_t ll = (size_t)(at - in);
	if (ll == 0)
		return smz_err_set(e, SMZ_ERR_DATA, "\"%s\": empty local part", shown);
	if (!at[1])
		return smz_err_set(e, SMZ_ERR_DATA, "\"%s\": address has no domain", shown);
	if (ll > 64)
		return smz_err_set(e, SMZ_ERR_DATA, "\"%s\": local part longer than 64 octets", in);
	if (in[0] == '"')
		return smz_err_set(e, SMZ_ERR_DATA, "\"%s\": quoted local parts are not supported",
				   in);
	for (size_t i = 0; i < ll; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x80)
			return smz_err_set(e, SMZ_ERR_DATA,
					   "\"%s\": non-ASCII local part needs SMTPUTF8, "
					   "not supported yet",
					   shown);
		if (c == '.') {
			if (i == 0 || i == ll - 1 || in[i + 1] == '.')
				return smz_err_set(e, SMZ_ERR_DATA,
						   "\"%s\": misplaced '.' in local part", shown);
		} else if (!is_atext(c)) {
			return smz_err_set(e, SMZ_ERR_DATA,
					   "\"%s\": '%c' not allowed in a local part", shown, c);
		}
	}
	char dom[256];
	struct smz_err de;
	if (smz_domain_normalize(at + 1, dom, sizeof dom, &de) < 0)
		return smz_err_set(e, SMZ_ERR_DATA, "\"%s\": %s", shown, de.msg);
	if (ll + 1 + strlen(dom) >= SMZ_ADDR_MAX)
		return smz_err_set(e, SMZ_ERR_DATA, "\"%s\": address too long", shown);
	memcpy(out, in, ll);
	out[ll] = '@';
	strcpy(out + ll + 1, dom);
	return 0;
}

void
smz_addr_key(const char *addr, int sensitive, char out[SMZ_ADDR_MAX])
{
	const char *at = strrchr(addr, '@');
	size_t i = 0;
	for (; addr[i] && i < SMZ_ADDR_MAX - 1; i++)
		out[i] = (sensitive && at && addr + i < at) ? addr[i]
							    : (char)tolower((unsigned char)addr[i]);
	out[i] = 0;
}
