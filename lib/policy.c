#include "policy.h"
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_POLICY "/etc/smz/policy.conf"

static const char *alg_names[] = {"rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"};

const char *
smz_alg_name(enum smz_alg a)
{
	return (unsigned)a < 5 ? alg_names[a] : "?";
}

int
smz_alg_parse(const char *s, enum smz_alg *a)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, alg_names[i]) == 0) {
			*a = (enum smz_alg)i;
			return 0;
		}
	return SMZ_ERR_DATA;
}

struct ctx {
	struct smz_policy *p;
	FILE *f;
	int line;
	struct smz_err *e;
	int failed; /* the line of the first mistake a handler found, or 0 */
};

static int
fail(struct ctx *c, const char *section, const char *name, const char *fmt, const char *arg)
{
	if (!c->failed) {
		char why[512];
		snprintf(why, sizeof why, fmt, arg);
		if (name)
			smz_err_set(c->e, SMZ_ERR_CONFIG, "%s:%d: [%s] %s: %s", c->p->source,
				    c->line, section, name, why);
		else
			smz_err_set(c->e, SMZ_ERR_CONFIG, "%s:%d: %s", c->p->source, c->line, why);
		c->failed = c->line;
	}
	return 1; /* keep inih going; the first error is the one reported */
}

/* Feeds inih one line at a time, counting lines, and refuses what inih
 * would misread: an indented line (inih takes it as a continuation of the
 * previous value) and a line longer than its buffer (split in two). */
static char *
reader(char *str, int num, void *stream)
{
	struct ctx *c = stream;
	char *r = fgets(str, num, c->f);
	if (!r)
		return NULL;
	c->line++;
	size_t l = strlen(r);
	if (l == (size_t)num - 1 && r[l - 1] != '\n' && !feof(c->f)) {
		fail(c, NULL, NULL, "%s", "line too long (at most 198 bytes)");
		int ch;
		while ((ch = fgetc(c->f)) != EOF && ch != '\n')
			;
		r[0] = 0;
	} else if ((r[0] == ' ' || r[0] == '\t') && r[strspn(r, " \t\r\n")] &&
		   !strchr(";#", r[strspn(r, " \t")])) {
		fail(c, NULL, NULL, "%s",
		     "indented line (continuation lines are not allowed; "
		     "put each key = value at the start of a line)");
		r[0] = 0;
	}
	return r;
}

int
smz_choice(const char *v, const char *const *allowed, int *out)
{
	for (int i = 0; allowed[i]; i++)
		if (strcmp(v, allowed[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

static void
join(const char *const *allowed, char *buf, size_t cap)
{
	buf[0] = 0;
	for (int i = 0; allowed[i]; i++) {
		if (i)
			strncat(buf, " | ", cap - strlen(buf) - 1);
		strncat(buf, allowed[i], cap - strlen(buf) - 1);
	}
}

static int
integer(const char *v, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return -1;
	*out = (int)n;
	return 0;
}

static int
copy(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -1;
	strcpy(dst, v);
	return 0;
}

static const char *const yesno[] = {"no", "yes", NULL};

static int
domains(struct ctx *c, const char *v)
{
	char *dup = strdup(v), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(dup, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		char norm[256];
		struct smz_err de;
		int sub = t[0] == '.';
		if (c->p->ndomains == SMZ_DOMAINS_MAX ||
		    smz_domain_normalize(t + sub, norm + sub, sizeof norm - 1, &de) < 0) {
			rc = -1;
			break;
		}
		norm[0] = sub ? '.' : norm[0];
		c->p->domains[c->p->ndomains++] = strdup(norm);
	}
	free(dup);
	return rc;
}

/* "3des, rc2, sha1" into SMZ_REFUSE_* bits; "none" for none. */
static int
refuse_list(const char *v, unsigned *out)
{
	static const char *const names[] = {"3des", "des", "rc2", "sha1", "cbc", "none", NULL};
	char *dup = strdup(v), *save = NULL;
	unsigned bits = 0;
	int rc = dup ? 0 : -1;
	for (char *t = dup ? strtok_r(dup, ", \t", &save) : NULL; t && !rc;
	     t = strtok_r(NULL, ", \t", &save)) {
		int i;
		if (smz_choice(t, names, &i) < 0)
			rc = -1;
		else if (strcmp(names[i], "none") != 0)
			bits |= 1u << i;
	}
	free(dup);
	if (!rc)
		*out = bits;
	return rc;
}

/* [api] listen: "ADDRESS", "ADDRESS:PORT" or "[IPv6]:PORT"; the port
 * goes into p->api_port when given. */
static int
api_listen(struct smz_policy *p, const char *v)
{
	char host[256];
	const char *port = NULL, *colon = strchr(v, ':');
	if (v[0] == '[') {
		const char *end = strchr(v, ']');
		if (!end || (end[1] && end[1] != ':') || (size_t)(end - v - 1) >= sizeof host)
			return -1;
		snprintf(host, sizeof host, "%.*s", (int)(end - v - 1), v + 1);
		port = end[1] ? end + 2 : NULL;
	} else if (colon && !strchr(colon + 1, ':')) { /* one colon: IPv4 and a port */
		if ((size_t)(colon - v) >= sizeof host)
			return -1;
		snprintf(host, sizeof host, "%.*s", (int)(colon - v), v);
		port = colon + 1;
	} else if (copy(host, sizeof host, v) < 0) {
		return -1;
	}
	unsigned char a[16];
	if (inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, a) != 1 ||
	    (port && integer(port, 0, 65535, &p->api_port) < 0))
		return -1;
	strcpy(p->api_listen, host);
	return 0;
}

/* [api] allow: entries "sha256:HEX" and "subject:DN", separated by commas
 * before the next "sha256:" or "subject:" (a DN has commas of its own);
 * the key may be repeated.  Fingerprints are kept as 64 lowercase hex
 * digits, colons dropped. */
static int
api_allow(struct smz_policy *p, const char *v)
{
	while (*v) {
		v += strspn(v, " \t");
		const char *end = v;
		for (const char *c = strchr(v, ','); c; c = strchr(c + 1, ',')) {
			const char *n = c + 1 + strspn(c + 1, " \t");
			if (strncmp(n, "sha256:", 7) == 0 || strncmp(n, "subject:", 8) == 0) {
				end = c;
				break;
			}
		}
		if (end == v)
			end = v + strlen(v);
		size_t l = (size_t)(end - v);
		while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
			l--;
		char item[256];
		size_t n = 0;
		if (p->napi_allow == SMZ_API_ALLOW_MAX || l >= sizeof item)
			return -1;
		if (strncmp(v, "sha256:", 7) == 0) {
			n = (size_t)snprintf(item, sizeof item, "sha256:");
			for (size_t i = 7; i < l; i++)
				if (isxdigit((unsigned char)v[i]) && n < 7 + 64)
					item[n++] = (char)tolower((unsigned char)v[i]);
				else if (v[i] != ':')
					return -1;
			item[n] = 0;
			if (n != 7 + 64)
				return -1;
		} else if (strncmp(v, "subject:", 8) == 0 && l > 8) {
			snprintf(item, sizeof item, "%.*s", (int)l, v);
		} else {
			return -1;
		}
		if (!(p->api_allow[p->napi_allow] = strdup(item)))
			return -1;
		p->napi_allow++;
		v = *end ? end + 1 : end;
	}
	return 0;
}

/* "50M": bytes, with an optional K, M or G (binary) suffix. */
static int
size_value(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	long long mul = *end == 'K'   ? 1LL << 10
			: *end == 'M' ? 1LL << 20
			: *end == 'G' ? 1LL << 30
				      : 1;
	if (mul > 1)
		end++;
	if (errno || end == v || *end || n < 0 || n > hi / mul || n * mul < lo)
		return -1;
	*out = n * mul;
	return 0;
}

static int
handler(void *user, const char *section, const char *name, const char *v)
{
	struct ctx *c = user;
	struct smz_policy *p = c->p;
	char allowed[256];
	int i;
#define IS(s, n) (strcmp(section, s) == 0 && strcmp(name, n) == 0)
#define CHOICE(list, field)                                                           \
	do {                                                                          \
		static const char *const l[] = list;                                  \
		if (smz_choice(v, l, &i) < 0) {                                       \
			join(l, allowed, sizeof allowed);                             \
			return fail(c, section, name, "expected one of %s", allowed); \
		}                                                                     \
		field;                                                                \
	} while (0)
#define LIST(...)                 \
	{                         \
		__VA_ARGS__, NULL \
	}
	if (IS("vault", "path")) {
		if (copy(p->vault_path, sizeof p->vault_path, v) < 0)
			return fail(c, section, name, "%s", "path too long");
	} else if (IS("vault", "kdf")) {
		CHOICE(LIST("interactive", "moderate", "sensitive"), p->kdf = (enum smz_kdf)i);
	} else if (IS("vault", "local_part")) {
		CHOICE(LIST("insensitive", "sensitive"), p->local_part_sensitive = i);
	} else if (IS("vault", "attach_trust")) {
		if (v[0] != '/' || copy(p->attach_trust, sizeof p->attach_trust, v) < 0)
			return fail(c, section, name, "%s", "expected an absolute path");
	} else if (IS("vault", "supersede")) {
		if (smz_choice(v, yesno, &p->supersede) < 0)
			return fail(c, section, name, "%s", "expected yes | no");
	} else if (IS("ca", "name")) {
		if (!*v || copy(p->ca_name, sizeof p->ca_name, v) < 0)
			return fail(c, section, name, "%s", "expected a name of 1 to 100 bytes");
	} else if (IS("ca", "root_algorithm")) {
		CHOICE(LIST("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"),
		       p->root_alg = (enum smz_alg)i);
	} else if (IS("ca", "issuing_algorithm")) {
		CHOICE(LIST("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"),
		       p->issuing_alg = (enum smz_alg)i);
	} else if (IS("ca", "root_days") || IS("ca", "issuing_days")) {
		if (integer(v, 30, 9125,
			    strcmp(name, "root_days") == 0 ? &p->root_days : &p->issuing_days) < 0)
			return fail(c, section, name, "%s",
				    "expected a number of days, 30 to 9125");
	} else if (IS("ca", "path")) {
		if (copy(p->ca_path, sizeof p->ca_path, v) < 0)
			return fail(c, section, name, "%s", "path too long");
	} else if (IS("ca", "crl_url") || IS("ca", "issuer_url")) {
		char *dst = strcmp(name, "crl_url") == 0 ? p->crl_url : p->issuer_url;
		if (strncmp(v, "http://", 7) != 0 || strpbrk(v, ", \t\"") || copy(dst, 1024, v) < 0)
			return fail(c, section, name, "%s",
				    "expected an http:// URL (the S/MIME BRs allow no https here)");
	} else if (IS("ca", "name_constraints")) {
		CHOICE(LIST("critical", "noncritical", "none"),
		       p->name_constraints = (enum smz_nc)i);
	} else if (IS("ca", "crl_days")) {
		if (integer(v, 1, 10, &p->crl_days) < 0)
			return fail(c, section, name, "%s", "expected a number of days, 1 to 10");
	} else if (IS("keys", "algorithm")) {
		CHOICE(LIST("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"),
		       p->alg = (enum smz_alg)i);
	} else if (IS("keys", "usage")) {
		CHOICE(LIST("dual", "split"), p->split = i);
	} else if (IS("certificate", "profile")) {
		CHOICE(LIST("mailbox-strict", "mailbox-multipurpose", "sponsor-strict",
			    "sponsor-multipurpose"),
		       copy(p->profile, sizeof p->profile, v));
	} else if (IS("certificate", "validity_days")) {
		if (integer(v, 1, 825, &p->validity_days) < 0)
			return fail(c, section, name, "%s", "expected a number of days, 1 to 825");
	} else if (IS("certificate", "organization")) {
		if (copy(p->organization, sizeof p->organization, v) < 0)
			return fail(c, section, name, "%s", "longer than 255 bytes");
	} else if (IS("certificate", "organization_identifier")) {
		if (copy(p->organization_identifier, sizeof p->organization_identifier, v) < 0)
			return fail(c, section, name, "%s", "longer than 127 bytes");
	} else if (IS("certificate", "country")) {
		if (strlen(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z')
			return fail(c, section, name, "%s",
				    "expected a two-letter ISO 3166 code in capitals");
		copy(p->country, sizeof p->country, v);
	} else if (IS("domains", "allowed")) {
		if (domains(c, v) < 0)
			return fail(c, section, name, "%s",
				    "expected a comma-separated list of mail domains");
	} else if (IS("renewal", "window_days")) {
		if (integer(v, 1, 365, &p->window_days) < 0)
			return fail(c, section, name, "%s", "expected a number of days, 1 to 365");
	} else if (IS("renewal", "reuse_key")) {
		CHOICE(LIST("no", "yes"), p->reuse_key = i);
	} else if (IS("bundle", "p12_profile")) {
		CHOICE(LIST("compat", "modern"), copy(p->p12_profile, sizeof p->p12_profile, v));
	} else if (IS("bundle", "mobileconfig")) {
		if (smz_choice(v, yesno, &p->mobileconfig) < 0)
			return fail(c, section, name, "%s", "expected yes | no");
	} else if (IS("bundle", "imap_host") || IS("bundle", "smtp_host")) {
		char *dst = strcmp(name, "imap_host") == 0 ? p->imap_host : p->smtp_host;
		struct smz_err de;
		char norm[256];
		if (smz_domain_normalize(v, norm, sizeof norm, &de) < 0 || copy(dst, 256, norm) < 0)
			return fail(c, section, name, "%s", "expected a host name");
	} else if (IS("ldap", "uri") || IS("ldap", "base")) {
		if (copy(strcmp(name, "uri") == 0 ? p->ldap_uri : p->ldap_base, 1024, v) < 0)
			return fail(c, section, name, "%s", "longer than 1023 bytes");
	} else if (IS("ldap", "filter")) {
		int bad = !strstr(v, "%s") || v[0] != '(';
		for (const char *pc = strchr(v, '%'); pc && !bad; pc = strchr(pc + 2, '%'))
			bad = pc[1] != 's';
		if (bad || copy(p->ldap_filter, sizeof p->ldap_filter, v) < 0)
			return fail(c, section, name, "%s",
				    "expected an LDAP filter in parentheses with %s for the "
				    "address and no other %");
	} else if (IS("ldap", "smime_attribute")) {
		if (smz_choice(v, yesno, &p->smime_attribute) < 0)
			return fail(c, section, name, "%s", "expected yes | no");
	} else if (IS("smime", "rsa_transport")) {
		CHOICE(LIST("auto", "pkcs1", "oaep"), p->rsa_transport = i);
	} else if (IS("smime", "content_cipher")) {
		CHOICE(LIST("auto", "aes256-cbc", "aes256-gcm"), p->content_cipher = i);
	} else if (IS("smime", "trust")) {
		if (v[0] != '/' || copy(p->smime_trust, sizeof p->smime_trust, v) < 0)
			return fail(c, section, name, "%s", "expected an absolute path");
	} else if (IS("smime", "refuse")) {
		if (refuse_list(v, &p->smime_refuse) < 0)
			return fail(c, section, name, "%s",
				    "expected a comma-separated list of 3des, des, rc2, sha1, cbc "
				    "(or none)");
	} else if (IS("recovery", "allow_passphrase")) {
		if (smz_choice(v, yesno, &p->recovery_passphrase) < 0)
			return fail(c, section, name, "%s", "expected yes | no");
	} else if (IS("gateway", "unlock_file")) {
		if (v[0] != '/' ||
		    copy(p->gateway_unlock_file, sizeof p->gateway_unlock_file, v) < 0)
			return fail(c, section, name, "%s", "expected an absolute path");
	} else if (IS("offboarding", "max_fraction")) {
		char *end;
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end || !(d >= 0 && d <= 1))
			return fail(c, section, name, "%s", "expected a fraction from 0 to 1");
		p->max_fraction = d;
	} else if (IS("api", "listen")) {
		if (api_listen(p, v) < 0)
			return fail(c, section, name, "%s",
				    "expected an IP address, with :PORT or as [IPv6]:PORT");
	} else if (IS("api", "port")) {
		if (integer(v, 0, 65535, &p->api_port) < 0)
			return fail(c, section, name, "%s", "expected a port, 0 to 65535");
	} else if (IS("api", "cert") || IS("api", "key") || IS("api", "client_ca") ||
		   IS("api", "crl")) {
		char *dst = strcmp(name, "cert") == 0  ? p->api_cert
			    : strcmp(name, "key") == 0 ? p->api_key
			    : strcmp(name, "crl") == 0 ? p->api_crl
						       : p->api_client_ca;
		if (v[0] != '/' || copy(dst, 1024, v) < 0)
			return fail(c, section, name, "%s", "expected an absolute path");
	} else if (IS("api", "allow")) {
		if (api_allow(p, v) < 0)
			return fail(c, section, name, "%s",
				    "expected sha256:HEX (64 digits) or subject:DN entries, "
				    "separated by commas (at most 64 in all)");
	} else if (IS("api", "max_message")) {
		if (size_value(v, 1024, 1LL << 30, &p->api_max_message) < 0)
			return fail(c, section, name, "%s", "expected a size from 1K to 1G");
	} else if (IS("api", "max_connections") || IS("api", "max_per_ip")) {
		if (integer(v, 1, 100000,
			    strcmp(name, "max_per_ip") == 0 ? &p->api_max_per_ip
							    : &p->api_max_connections) < 0)
			return fail(c, section, name, "%s", "expected a number, 1 to 100000");
	} else if (IS("api", "timeout")) {
		if (integer(v, 1, 3600, &p->api_timeout) < 0)
			return fail(c, section, name, "%s", "expected seconds, 1 to 3600");
	} else if (IS("api", "threads")) {
		if (integer(v, 1, 64, &p->api_threads) < 0)
			return fail(c, section, name, "%s", "expected a number, 1 to 64");
	} else {
		static const char *const sections[] = {"vault",	      "ca",	  "keys",
						       "certificate", "domains",  "renewal",
						       "bundle",      "ldap",	  "smime",
						       "gateway",     "recovery", "offboarding",
						       "api",	      NULL};
		if (smz_choice(section, sections, &i) < 0) {
			join(sections, allowed, sizeof allowed);
			return fail(c, section, name, "unknown section (known: %s)", allowed);
		}
		return fail(c, section, name, "%s", "unknown key (see smz-policy(5))");
	}
	return 1;
#undef IS
#undef CHOICE
#undef LIST
}

static void
defaults(struct smz_policy *p)
{
	memset(p, 0, sizeof *p);
	p->kdf = SMZ_KDF_MODERATE;
	p->alg = SMZ_ALG_P256;
	p->crl_days = 7;
	p->supersede = 1;
	strcpy(p->ca_name, "smz");
	p->root_alg = SMZ_ALG_P384;
	p->issuing_alg = SMZ_ALG_P256;
	p->root_days = 7300;
	p->issuing_days = 1825;
	p->name_constraints = SMZ_NC_CRITICAL; /* RFC 5280 4.2.1.10: CAs MUST */
	strcpy(p->profile, "mailbox-strict");
	p->validity_days = 730;
	p->window_days = 30;
	strcpy(p->p12_profile, "compat");
	strcpy(p->ldap_filter, "(mail=%s)");
	p->smime_attribute = 1;
	p->max_fraction = 0.10;
	strcpy(p->api_listen, "127.0.0.1");
	p->api_port = 8443;
	p->api_max_message = 50LL << 20;
	p->api_max_connections = 256;
	p->api_max_per_ip = 32;
	p->api_timeout = 30;
	p->api_threads = 4;
}

int
smz_policy_load(const char *path, struct smz_policy *p, struct smz_err *e)
{
	defaults(p);
	int explicit = 1;
	if (!path) {
		path = getenv("SMZ_POLICY");
		if (!path || !*path) {
			path = DEFAULT_POLICY;
			explicit = 0;
		}
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		if (!explicit && errno == ENOENT)
			return 0;
		return smz_err_set(e, SMZ_ERR_CONFIG, "%s: %s", path, strerror(errno));
	}
	snprintf(p->source, sizeof p->source, "%s", path);
	struct ctx c = {p, f, 0, e, 0};
	int r = ini_parse_stream(reader, &c, handler, &c);
	/* a read error (a directory, say) looks like the end of the file */
	int err = ferror(f) ? errno : 0;
	fclose(f);
	if (err) {
		smz_policy_free(p);
		return smz_err_set(e, SMZ_ERR_CONFIG, "%s: %s", path, strerror(err));
	}
	/* the first mistake, whether inih or a handler found it */
	if (c.failed && (r <= 0 || c.failed < r)) {
		smz_policy_free(p);
		return SMZ_ERR_CONFIG;
	}
	if (r != 0) {
		smz_policy_free(p);
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "%s:%d: not an INI line "
				   "(expected [section] or key = value)",
				   path, r);
	}
	return 0;
}

void
smz_policy_free(struct smz_policy *p)
{
	for (size_t i = 0; i < p->ndomains; i++)
		free(p->domains[i]);
	p->ndomains = 0;
	for (size_t i = 0; i < p->napi_allow; i++)
		free(p->api_allow[i]);
	p->napi_allow = 0;
}

int
smz_policy_domain_allowed(const struct smz_policy *p, const char *domain)
{
	size_t dl = strlen(domain);
	for (size_t i = 0; i < p->ndomains; i++) {
		const char *d = p->domains[i];
		if (d[0] != '.' && strcmp(d, domain) == 0)
			return 1;
		size_t l = strlen(d);
		if (d[0] == '.' &&
		    (strcmp(d + 1, domain) == 0 || (dl > l && strcmp(domain + dl - l, d) == 0)))
			return 1;
	}
	return 0;
}
