/* Policy: values parsed, every mistake named with file and line. */
#include <stdio.h>
#include <stdlib.h>
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

int
main(void)
{
	struct smz_policy p;
	struct smz_err e = {0};
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
	return done_testing();
}
