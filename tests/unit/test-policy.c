/* Policy: values parsed, every mistake named with file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "policy.h"
#include "tap.h"

static int
load(const char *text, struct smz_policy *p, struct smz_err *e)
{
	FILE *f = fopen("test-policy.conf", "w");
	fputs(text, f);
	fclose(f);
	int rc = smz_policy_load("test-policy.conf", p, e);
	remove("test-policy.conf");
	return rc;
}

/* Does text load?  Then check, else say the message. */
static int
refused(const char *text, const char *msg)
{
	struct smz_policy p;
	struct smz_err e = {0};
	int rc = load(text, &p, &e);
	if (rc == 0)
		smz_policy_free(&p);
	if (rc == SMZ_ERR_CONFIG && strcmp(e.msg, msg) == 0 && p.ndomains == 0)
		return 1;
	printf("#   rc %d, \"%s\"\n#   expected \"%s\"\n", rc, rc ? e.msg : "", msg);
	return 0;
}

static void
defaults(void)
{
	struct smz_policy p;
	struct smz_err e = {0};
	ok(load("", &p, &e) == 0, "an empty file loads");
	is_str(p.source, "test-policy.conf", "source is the file");
	ok(p.alg == SMZ_ALG_P256 && p.split == 0, "keys: ec-p256, dual");
	ok(p.kdf == SMZ_KDF_MODERATE && p.local_part_sensitive == 0 && p.supersede == 1 &&
		   p.vault_path[0] == 0 && p.attach_trust[0] == 0,
	   "vault: moderate, insensitive, supersede, no path or trust");
	ok(strcmp(p.ca_name, "smz") == 0 && p.root_alg == SMZ_ALG_P384 &&
		   p.issuing_alg == SMZ_ALG_P256 && p.root_days == 7300 && p.issuing_days == 1825 &&
		   p.crl_days == 7 && p.crl_url[0] == 0 && p.issuer_url[0] == 0 &&
		   p.name_constraints == SMZ_NC_CRITICAL,
	   "ca: smz, P-384 root for 7300 days, P-256 issuing for 1825, CRL for 7");
	ok(strcmp(p.profile, "mailbox-strict") == 0 && p.validity_days == 730 &&
		   p.organization[0] == 0 && p.country[0] == 0,
	   "certificate: mailbox-strict for 730 days");
	ok(p.ndomains == 0, "no domains");
	ok(p.window_days == 30 && p.reuse_key == 0, "renewal: 30 days, new key");
	ok(strcmp(p.p12_profile, "compat") == 0 && p.mobileconfig == 0, "bundle: compat");
	ok(strcmp(p.ldap_filter, "(mail=%s)") == 0 && p.smime_attribute == 1,
	   "ldap: (mail=%%s), userSMIMECertificate too");
	ok(p.rsa_transport == 0 && p.content_cipher == 0 && p.smime_refuse == 0,
	   "smime: auto, auto, refuse nothing");
	ok(p.recovery_passphrase == 0 && p.max_fraction == 0.10, "recovery, offboarding");
	smz_policy_free(&p);
}

static void
syntax(void)
{
	struct smz_policy p;
	struct smz_err e = {0};
	ok(load("# hash comment\n; semicolon comment\n  ; indented comment\n\t# and tab\n\n"
		"[certificate]\n   \nvalidity_days = 400 ; two years, nearly\n",
		&p, &e) == 0 &&
		   p.validity_days == 400,
	   "comments, blank lines and an inline comment after white space");
	ok(load("[domains]\nallowed = example.com;x.example\n", &p, &e) == SMZ_ERR_CONFIG,
	   "a ; without white space before it is part of the value");
	ok(load("\xef\xbb\xbf[keys]\r\nalgorithm = ec-p384\r\n[vault]\r\nkdf=sensitive\r\n", &p,
		&e) == 0 &&
		   p.alg == SMZ_ALG_P384 && p.kdf == SMZ_KDF_SENSITIVE,
	   "a BOM, CRLF and no blanks around =");
	ok(load("[keys]\n  algorithm   =   ec-p384   \n", &p, &e) == SMZ_ERR_CONFIG &&
		   strstr(e.msg, ":2: indented line"),
	   "an indented key is refused, not taken as a continuation: %s", e.msg);
	ok(refused("[keys]\n\talgorithm = ec-p384\n",
		   "test-policy.conf:2: indented line (continuation lines are not allowed; put "
		   "each key = value at the start of a line)"),
	   "so is one indented with a tab");
	ok(refused("[keys\nalgorithm = ec-p384\n",
		   "test-policy.conf:1: not an INI line (expected [section] or key = value)"),
	   "an unclosed section header");
	ok(refused("[keys]\nalgorithm\n",
		   "test-policy.conf:2: not an INI line (expected [section] or key = value)"),
	   "a key without =");
	ok(refused("algorithm = ec-p384\n",
		   "test-policy.conf:1: [] algorithm: unknown section (known: vault | ca | keys | "
		   "certificate | domains | renewal | bundle | ldap | smime | gateway | recovery "
		   "| offboarding | api)"),
	   "a key before any section");
	ok(refused("[Keys]\nalgorithm = ec-p384\n",
		   "test-policy.conf:2: [Keys] algorithm: unknown section (known: vault | ca | "
		   "keys | certificate | domains | renewal | bundle | ldap | smime | gateway | "
		   "recovery | offboarding | api)"),
	   "section names are case-sensitive, and the known ones listed");
	ok(refused("[keys]\nAlgorithm = ec-p384\n",
		   "test-policy.conf:2: [keys] Algorithm: unknown key (see smz-policy(5))"),
	   "so are keys");
	ok(refused("[keys]\nalgorithm = EC-P384\n",
		   "test-policy.conf:2: [keys] algorithm: expected one of rsa-2048 | rsa-3072 | "
		   "rsa-4096 | ec-p256 | ec-p384"),
	   "and values");
	ok(refused("[keys]\nusage = triple\n[kees]\nx = 1\n[keys]\nalgorithm = dsa\n",
		   "test-policy.conf:2: [keys] usage: expected one of dual | split"),
	   "of several mistakes the first is named");
	ok(refused("[vault]\nkdf = moderate\n[vault]\nkdf = fast\n",
		   "test-policy.conf:4: [vault] kdf: expected one of interactive | moderate | "
		   "sensitive"),
	   "a section may appear twice; lines are counted across it");

	/* a key given twice: the later line wins; allowed lines add up, as a
	 * long list cannot be one line of 198 bytes */
	ok(load("[certificate]\nvalidity_days = 100\nvalidity_days = 200\n", &p, &e) == 0 &&
		   p.validity_days == 200,
	   "a key given twice: the later value");
	ok(load("[domains]\nallowed = example.com\nallowed = .example.org\n", &p, &e) == 0 &&
		   p.ndomains == 2 && strcmp(p.domains[1], ".example.org") == 0,
	   "allowed given twice: both lists");
	smz_policy_free(&p);

	char line[260];
	memset(line, 0, sizeof line);
	strcpy(line, "[ca]\nname = ");
	size_t l = strlen(line);
	memset(line + l, 'n', 198 - strlen("name = "));
	strcat(line, "\n");
	ok(load(line, &p, &e) == SMZ_ERR_CONFIG && strstr(e.msg, ":2: [ca] name: expected a name "
								 "of 1 to 100 bytes"),
	   "a line of 198 bytes is read whole (and its value judged): %s", e.msg);
	line[l] = 'N';
	memmove(line + l + 1, line + l, strlen(line + l) + 1);
	ok(load(line, &p, &e) == SMZ_ERR_CONFIG &&
		   strstr(e.msg, ":2: line too long (at most 198 bytes)"),
	   "199 bytes are too long: %s", e.msg);
}

static void
values(void)
{
	struct smz_policy p;
	struct smz_err e = {0};
	const char *days = "expected a number of days, ";
	struct {
		const char *text, *msg;
	} bad[] = {
		{"[certificate]\nvalidity_days = 0\n", "1 to 825"},
		{"[certificate]\nvalidity_days = -1\n", "1 to 825"},
		{"[certificate]\nvalidity_days = 400days\n", "1 to 825"},
		{"[certificate]\nvalidity_days = 0x100\n", "1 to 825"},
		{"[certificate]\nvalidity_days = 4e2\n", "1 to 825"},
		{"[certificate]\nvalidity_days = 99999999999999999999\n", "1 to 825"},
		{"[certificate]\nvalidity_days = 4294967696\n", "1 to 825"},
		{"[certificate]\nvalidity_days =\n", "1 to 825"},
		{"[ca]\nroot_days = 29\n", "30 to 9125"},
		{"[ca]\nissuing_days = 9126\n", "30 to 9125"},
		{"[ca]\ncrl_days = 0\n", "1 to 10"},
		{"[ca]\ncrl_days = 11\n", "1 to 10"},
		{"[renewal]\nwindow_days = 366\n", "1 to 365"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[256], *nl = strchr(bad[i].text, '\n');
		const char *key = nl + 1, *eq = strchr(key, '=');
		snprintf(want, sizeof want, "test-policy.conf:2: [%.*s] %.*s: %s%s",
			 (int)(nl - bad[i].text - 2), bad[i].text + 1, (int)(eq - key - 1), key,
			 days, bad[i].msg);
		ok(refused(bad[i].text, want), "refused: %.*s", (int)(strlen(key) - 1), key);
	}
	ok(load("[certificate]\nvalidity_days = 1\n[ca]\nroot_days = 30\nissuing_days = 9125\n"
		"crl_days = 10\n[renewal]\nwindow_days = 365\n",
		&p, &e) == 0 &&
		   p.validity_days == 1 && p.root_days == 30 && p.issuing_days == 9125 &&
		   p.crl_days == 10 && p.window_days == 365,
	   "the bounds themselves are allowed");
	ok(load("[certificate]\nvalidity_days = 825\n", &p, &e) == 0 && p.validity_days == 825,
	   "825 days, the S/MIME BR maximum");

	const char *frac = "expected a fraction from 0 to 1";
	const char *fbad[] = {"1.5", "-0.1", "inf", "1e400", "0.5x", ""};
	for (size_t i = 0; i < sizeof fbad / sizeof fbad[0]; i++) {
		char text[128], want[160];
		snprintf(text, sizeof text, "[offboarding]\nmax_fraction = %s\n", fbad[i]);
		snprintf(want, sizeof want, "test-policy.conf:2: [offboarding] max_fraction: %s",
			 frac);
		ok(refused(text, want), "max_fraction = \"%s\" refused", fbad[i]);
	}
	ok(load("[offboarding]\nmax_fraction = 0\n", &p, &e) == 0 && p.max_fraction == 0,
	   "max_fraction = 0");
	ok(load("[offboarding]\nmax_fraction = 1\n", &p, &e) == 0 && p.max_fraction == 1,
	   "max_fraction = 1");
	ok(load("[offboarding]\nmax_fraction = 2.5e-1\n", &p, &e) == 0 && p.max_fraction == 0.25,
	   "max_fraction = 2.5e-1");

	/* empty values */
	ok(refused("[keys]\nalgorithm =\n",
		   "test-policy.conf:2: [keys] algorithm: expected one of rsa-2048 | rsa-3072 | "
		   "rsa-4096 | ec-p256 | ec-p384"),
	   "an empty choice");
	ok(refused("[ca]\nname =\n",
		   "test-policy.conf:2: [ca] name: expected a name of 1 to 100 bytes"),
	   "an empty CA name");
	ok(refused("[ca]\ncrl_url =\n", "test-policy.conf:2: [ca] crl_url: expected an http:// "
					"URL (the S/MIME BRs allow no https here)"),
	   "an empty CRL URL");
	ok(refused("[vault]\nsupersede =\n",
		   "test-policy.conf:2: [vault] supersede: expected yes | no"),
	   "an empty yes/no");
	ok(refused("[certificate]\ncountry =\n",
		   "test-policy.conf:2: [certificate] country: expected a two-letter ISO 3166 code "
		   "in capitals"),
	   "an empty country");
	ok(refused("[gateway]\nunlock_file =\n",
		   "test-policy.conf:2: [gateway] unlock_file: expected an absolute path"),
	   "an empty unlock file");
	ok(load("[domains]\nallowed =\n[vault]\npath =\n", &p, &e) == 0 && p.ndomains == 0 &&
		   p.vault_path[0] == 0,
	   "an empty domain list or vault path is the same as none");

	/* one check per kind of value */
	ok(refused("[certificate]\ncountry = de\n",
		   "test-policy.conf:2: [certificate] country: expected a two-letter ISO 3166 code "
		   "in capitals"),
	   "country in small letters");
	ok(refused("[certificate]\ncountry = DEU\n",
		   "test-policy.conf:2: [certificate] country: expected a two-letter ISO 3166 code "
		   "in capitals"),
	   "three letters");
	ok(refused("[certificate]\ncountry = 1E\n",
		   "test-policy.conf:2: [certificate] country: expected a two-letter ISO 3166 code "
		   "in capitals"),
	   "a digit");
	ok(load("[certificate]\ncountry = DE\nprofile = sponsor-multipurpose\n", &p, &e) == 0 &&
		   strcmp(p.country, "DE") == 0 && strcmp(p.profile, "sponsor-multipurpose") == 0,
	   "country and profile");
	ok(refused("[certificate]\nprofile = sponsor\n",
		   "test-policy.conf:2: [certificate] profile: expected one of mailbox-strict | "
		   "mailbox-multipurpose | sponsor-strict | sponsor-multipurpose"),
	   "a profile must be named in full");
	ok(refused("[vault]\nattach_trust = anchors.pem\n",
		   "test-policy.conf:2: [vault] attach_trust: expected an absolute path"),
	   "a relative trust path");
	ok(refused("[vault]\nsupersede = true\n",
		   "test-policy.conf:2: [vault] supersede: expected yes | no"),
	   "true is not yes");
	ok(refused("[ca]\ncrl_url = http://x.example/a b.crl\n",
		   "test-policy.conf:2: [ca] crl_url: expected an http:// URL (the S/MIME BRs "
		   "allow "
		   "no https here)"),
	   "a URL with a space");
	ok(refused("[ca]\nissuer_url = http://x.example/a,b\n",
		   "test-policy.conf:2: [ca] issuer_url: expected an http:// URL (the S/MIME BRs "
		   "allow no https here)"),
	   "a URL with a comma (it would split the extension's configuration)");
	ok(load("[ca]\ncrl_url = http://x.example/c.crl\nissuer_url = http://x.example/i.cer\n", &p,
		&e) == 0 &&
		   strcmp(p.crl_url, "http://x.example/c.crl") == 0 &&
		   strcmp(p.issuer_url, "http://x.example/i.cer") == 0,
	   "http URLs");
	ok(load("[bundle]\nimap_host = IMAP.Example.COM\nsmtp_host = b\xc3\xbc"
		"cher.example\n",
		&p, &e) == 0 &&
		   strcmp(p.imap_host, "imap.example.com") == 0 &&
		   strcmp(p.smtp_host, "xn--bcher-kva.example") == 0,
	   "host names lowered, IDN as A-label");
	ok(refused("[bundle]\nimap_host = imap_1.example.com\n",
		   "test-policy.conf:2: [bundle] imap_host: expected a host name"),
	   "a host name with _");
	ok(load("[smime]\nrefuse = 3des, rc2,sha1\n", &p, &e) == 0 &&
		   p.smime_refuse == (SMZ_REFUSE_3DES | SMZ_REFUSE_RC2 | SMZ_REFUSE_SHA1),
	   "refuse list to bits");
	ok(load("[smime]\nrefuse = none\n", &p, &e) == 0 && p.smime_refuse == 0, "refuse = none");
	ok(refused("[smime]\nrefuse = 3des, md5\n", "test-policy.conf:2: [smime] refuse: expected "
						    "a comma-separated list of 3des, des, "
						    "rc2, sha1, cbc (or none)"),
	   "an unknown algorithm to refuse");
	ok(load("[smime]\nrsa_transport = oaep\ncontent_cipher = aes256-gcm\n", &p, &e) == 0 &&
		   p.rsa_transport == 2 && p.content_cipher == 2,
	   "oaep and gcm");
	ok(refused("[ldap]\nfilter = mail=%s\n",
		   "test-policy.conf:2: [ldap] filter: expected an LDAP filter in parentheses with "
		   "%s for the address and no other %"),
	   "a filter without parentheses");
	ok(refused("[ldap]\nfilter = (mail=%s)%\n",
		   "test-policy.conf:2: [ldap] filter: expected an LDAP filter in parentheses with "
		   "%s for the address and no other %"),
	   "a trailing %%");
	ok(refused("[ldap]\nfilter = (cn=x)\n",
		   "test-policy.conf:2: [ldap] filter: expected an LDAP filter in parentheses with "
		   "%s for the address and no other %"),
	   "a filter without %%s");

	/* domains */
	ok(load("[domains]\nallowed = Example.COM,, b\xc3\xbc"
		"cher.example\t.Sub.Example.NET\n",
		&p, &e) == 0 &&
		   p.ndomains == 3,
	   "commas, blanks and tabs separate domains, empty entries skipped");
	ok(p.ndomains == 3 && strcmp(p.domains[0], "example.com") == 0 &&
		   strcmp(p.domains[1], "xn--bcher-kva.example") == 0 &&
		   strcmp(p.domains[2], ".sub.example.net") == 0,
	   "lowered, A-labels, the leading dot kept");
	ok(smz_policy_domain_allowed(&p, "xn--bcher-kva.example") &&
		   smz_policy_domain_allowed(&p, "a.b.sub.example.net") &&
		   smz_policy_domain_allowed(&p, "sub.example.net") &&
		   !smz_policy_domain_allowed(&p, "example.net") &&
		   !smz_policy_domain_allowed(&p, "xsub.example.net") &&
		   !smz_policy_domain_allowed(&p, "example.com.evil") &&
		   !smz_policy_domain_allowed(&p, ""),
	   "matching: exact, or a dot-domain's subdomains, nothing else");
	smz_policy_free(&p);
	ok(p.ndomains == 0, "free empties the list");
	const char *dmsg = "test-policy.conf:2: [domains] allowed: expected a comma-separated list "
			   "of mail domains";
	ok(refused("[domains]\nallowed = example.com, exa_mple.org\n", dmsg), "a bad domain");
	ok(refused("[domains]\nallowed = .\n", dmsg), "a dot alone");
	ok(refused("[domains]\nallowed = localhost\n", dmsg), "a name without a dot");
	char many[2400] = "[domains]\n";
	for (int i = 0; i < 65; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "allowed = d%d.example\n",
			 i);
	ok(load(many, &p, &e) == SMZ_ERR_CONFIG &&
		   strstr(e.msg, ":66: [domains] allowed: expected a comma-separated list"),
	   "65 domains are one too many, named at the line of the 65th: %s", e.msg);
	ok(p.ndomains == 0, "and none is left allocated");
	many[strlen(many) - strlen("allowed = d64.example\n")] = 0;
	ok(load(many, &p, &e) == 0 && p.ndomains == 64, "64 are fine");
	smz_policy_free(&p);
}

static void
files(void)
{
	struct smz_policy p;
	struct smz_err e = {0};
	ok(smz_policy_load("/nonexistent/policy.conf", &p, &e) == SMZ_ERR_CONFIG,
	   "a missing file given by name");
	is_str(e.msg, "/nonexistent/policy.conf: No such file or directory", "is named, with why");
	mkdir("test-policy.d", 0700);
	e.msg[0] = 0;
	int rc = smz_policy_load("test-policy.d", &p, &e);
	if (rc == 0)
		smz_policy_free(&p);
	ok(rc == SMZ_ERR_CONFIG, "a directory is no policy (not the built-in defaults)");
	is_str(e.msg, "test-policy.d: Is a directory", "and says why");
	rmdir("test-policy.d");

	FILE *f = fopen("test-policy-env.conf", "w");
	fputs("[keys]\nalgorithm = rsa-4096\n", f);
	fclose(f);
	setenv("SMZ_POLICY", "test-policy-env.conf", 1);
	ok(smz_policy_load(NULL, &p, &e) == 0 && p.alg == SMZ_ALG_RSA4096 &&
		   strcmp(p.source, "test-policy-env.conf") == 0,
	   "no path: $SMZ_POLICY");
	ok(smz_policy_load("test-policy-none.conf", &p, &e) == SMZ_ERR_CONFIG,
	   "a path given wins over $SMZ_POLICY");
	remove("test-policy-env.conf");
	ok(smz_policy_load(NULL, &p, &e) == SMZ_ERR_CONFIG &&
		   strcmp(e.msg, "test-policy-env.conf: No such file or directory") == 0,
	   "a missing $SMZ_POLICY file is an error");
	setenv("SMZ_POLICY", "", 1);
	if (access("/etc/smz/policy.conf", F_OK) != 0) {
		ok(smz_policy_load(NULL, &p, &e) == 0 && p.source[0] == 0 && p.alg == SMZ_ALG_P256,
		   "no /etc/smz/policy.conf and $SMZ_POLICY empty: the built-in defaults");
	} else {
		ok(1, "# skip /etc/smz/policy.conf exists here");
	}
	unsetenv("SMZ_POLICY");

	is_str(smz_alg_name(SMZ_ALG_RSA3072), "rsa-3072", "alg name");
	is_str(smz_alg_name((enum smz_alg)7), "?", "out of range");
	enum smz_alg a = SMZ_ALG_RSA2048;
	ok(smz_alg_parse("ec-p384", &a) == 0 && a == SMZ_ALG_P384, "alg parse");
	ok(smz_alg_parse("EC-P384", &a) == SMZ_ERR_DATA && a == SMZ_ALG_P384,
	   "a bad name leaves it alone");
	static const char *const l[] = {"a", "b", NULL};
	int i = 9;
	ok(smz_choice("b", l, &i) == 0 && i == 1, "choice: index");
	ok(smz_choice("c", l, &i) == -1 && i == 1, "choice: absent");
}

int
main(void)
{
	struct smz_policy p;
	struct smz_err e = {0};
	setvbuf(stdout, NULL, _IOLBF, 0);
	ok(load("; comment\n[keys]\nalgorithm = rsa-3072\n[domains]\nallowed = Example.COM, "
		".example.org\n"
		"[certificate]\nvalidity_days = 400\n",
		&p, &e) == 0,
	   "good policy loads");
	ok(p.alg == SMZ_ALG_RSA3072 && p.validity_days == 400 && p.kdf == SMZ_KDF_MODERATE,
	   "values and defaults");
	ok(p.name_constraints == SMZ_NC_CRITICAL, "name constraints critical by default");
	ok(p.ndomains == 2 && strcmp(p.domains[0], "example.com") == 0, "domains lowercased");
	ok(smz_policy_domain_allowed(&p, "example.com"), "exact domain allowed");
	ok(!smz_policy_domain_allowed(&p, "sub.example.com"), "no subdomain without a dot");
	ok(smz_policy_domain_allowed(&p, "mail.example.org"), ".example.org allows subdomains");
	ok(smz_policy_domain_allowed(&p, "example.org"), "and itself");
	ok(!smz_policy_domain_allowed(&p, "badexample.org"), "but not a suffix match");
	smz_policy_free(&p);
	ok(load("[keys]\nalgorithm = dsa\n", &p, &e) == SMZ_ERR_CONFIG, "bad value refused");
	is_str(e.msg,
	       "test-policy.conf:2: [keys] algorithm: expected one of rsa-2048 | rsa-3072 | "
	       "rsa-4096 | ec-p256 | ec-p384",
	       "names file, line and allowed values");
	ok(load("[keys]\n\nalgoritm = ec-p256\n", &p, &e) == SMZ_ERR_CONFIG, "unknown key refused");
	ok(strstr(e.msg, "test-policy.conf:3: [keys] algoritm: unknown key") != NULL, "%s", e.msg);
	ok(load("[kees]\nalgorithm = ec-p256\n", &p, &e) == SMZ_ERR_CONFIG, "unknown section");
	ok(strstr(e.msg, ":2: [kees] algorithm: unknown section") != NULL, "%s", e.msg);
	ok(load("[ca]\ncrl_url = https://x.example/crl\n", &p, &e) == SMZ_ERR_CONFIG,
	   "https CRL URL");
	ok(load("[certificate]\nvalidity_days = 826\n", &p, &e) == SMZ_ERR_CONFIG, "826 days");
	ok(load("[vault]\nthis is not ini\n", &p, &e) == SMZ_ERR_CONFIG, "garbage line");
	ok(strstr(e.msg, ":2: not an INI line") != NULL, "%s", e.msg);
	ok(smz_policy_load("/nonexistent/policy.conf", &p, &e) == SMZ_ERR_CONFIG, "missing file");
	ok(load("[domains]\nallowed = example.com\n  evil.org\n", &p, &e) == SMZ_ERR_CONFIG,
	   "an indented continuation line is refused");
	ok(strstr(e.msg, ":3: indented line") != NULL, "%s", e.msg);
	char longl[400] = "[ca]\nname = ";
	memset(longl + strlen(longl), 'x', 250);
	strcat(longl, "\n[keys]\nfoo = 1\n");
	ok(load(longl, &p, &e) == SMZ_ERR_CONFIG && strstr(e.msg, ":2: line too long"),
	   "a long line is refused at its own line: %s", e.msg);
	ok(load("[ldap]\nfilter = (mail=%s)(cn=%n)\n", &p, &e) == SMZ_ERR_CONFIG,
	   "a filter with another %% conversion is refused");
	ok(load("[offboarding]\nmax_fraction = nan\n", &p, &e) == SMZ_ERR_CONFIG, "NaN refused");
	ok(load("[ldap]\nfilter = (|(mail=%s)(proxyAddresses=smtp:%s))\n", &p, &e) == 0,
	   "an AD filter with two %%s is accepted");
	ok(load("[ca]\nname_constraints = noncritical\n", &p, &e) == 0 &&
		   p.name_constraints == SMZ_NC_NONCRITICAL,
	   "name_constraints = noncritical");
	ok(load("[ca]\nname_constraints = none\n", &p, &e) == 0 &&
		   p.name_constraints == SMZ_NC_NONE,
	   "name_constraints = none");
	ok(load("[ca]\nname_constraints = off\n", &p, &e) == SMZ_ERR_CONFIG,
	   "name_constraints = off");
	is_str(e.msg,
	       "test-policy.conf:2: [ca] name_constraints: expected one of critical | "
	       "noncritical | none",
	       "names file, line and allowed values");
	defaults();
	syntax();
	values();
	files();
	return done_testing();
}
