/* smz-publish: certificates into the directory (OpenLDAP, Active Directory). */
#include "ca.h"
#include "common.h"
#include "pem.h"
#include "publish.h"
#include "secret.h"
#include "trust.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static struct {
	const char *uri, *base, *filter, *bind_dn, *bind_pw_file, *tls_ca, *ldif, *serial_file;
	int starttls, no_starttls, smime, remove, dry_run, timeout;
	const char **serials;
} o = {.timeout = 10};

static struct poptOption table[] = {
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_ca, 0, NULL, NULL},
	{"uri", 0, POPT_ARG_STRING, &o.uri, 0,
	 "ldap://, ldaps:// or ldapi:// (default: policy [ldap] uri)", "URI"},
	{"base", 0, POPT_ARG_STRING, &o.base, 0, "search base (default: policy [ldap] base)", "DN"},
	{"filter", 0, POPT_ARG_STRING, &o.filter, 0,
	 "entry filter, %s = the escaped address (default: policy, else (mail=%s))", "TEMPLATE"},
	{"bind-dn", 0, POPT_ARG_STRING, &o.bind_dn, 0, "simple bind as DN", "DN"},
	{"bind-pw-file", 0, POPT_ARG_STRING, &o.bind_pw_file, 0,
	 "the bind password, first line of FILE (- = stdin)", "FILE"},
	{"starttls", 0, POPT_ARG_NONE, &o.starttls, 0,
	 "StartTLS (default for ldap:// off loopback)", NULL},
	{"no-starttls", 0, POPT_ARG_NONE, &o.no_starttls, 0, "no StartTLS on ldap://", NULL},
	{"tls-ca", 0, POPT_ARG_STRING, &o.tls_ca, 0, "trust this CA file for TLS", "FILE"},
	{"smime-attribute", 0, POPT_ARG_NONE, &o.smime, 0,
	 "also write userSMIMECertificate (default: policy [ldap] smime_attribute)", NULL},
	{"remove", 0, POPT_ARG_NONE, &o.remove, 0, "withdraw these certificates", NULL},
	{"serial", 0, POPT_ARG_ARGV, &o.serials, 0,
	 "the certificate of this serial, from the CA database (repeat)", "SERIAL"},
	{"serial-file", 0, POPT_ARG_STRING, &o.serial_file, 0,
	 "like --serial, for each serial in FILE (one a line)", "FILE"},
	{"dry-run", 0, POPT_ARG_NONE, &o.dry_run, 0, "print what would change", NULL},
	{"ldif", 0, POPT_ARG_STRING, &o.ldif, 0,
	 "write the changes as LDIF to FILE (- = stdout) instead of applying them", "FILE"},
	{"timeout", 0, POPT_ARG_INT, &o.timeout, 0, "seconds for connect and each operation", "S"},
	POPT_TABLEEND};

static void
report(void *arg, const char *addr, enum smz_publish_event ev, const char *detail)
{
	FILE *out = arg;
	static const char *const words[] = {"published", "unchanged", "removed",
					    "planned",	 "FAIL",      "not applied"};
	fprintf(out, "%s: %s%s%s\n", addr, words[ev], detail ? " " : "", detail ? detail : "");
}

/* --remove --serial: the certificates, fetched from this CA's database,
 * as the PEM stream the publisher reads. */
static struct smz_policy pol; /* freed at exit */

static FILE *
serial_stream(int *code)
{
	struct smz_err e = {0};
	struct smz_ca *ca = NULL;
	FILE *f = tmpfile();
	int rc = !f ? SMZ_ERR_IO : smz_ca_open(smz_opts_ca_dir(pol.ca_path), &ca, &e);
	for (const char **s = o.serials; !rc && s && *s; s++)
		rc = smz_ca_cert_write(ca, *s, f, &e);
	FILE *sf = !rc && o.serial_file ? fopen(o.serial_file, "r") : NULL;
	if (!rc && o.serial_file && !sf)
		rc = smz_err_set(&e, SMZ_ERR_NOINPUT, "%s: %s", o.serial_file, strerror(errno));
	char line[256];
	while (!rc && sf && fgets(line, sizeof line, sf)) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0])
			rc = smz_ca_cert_write(ca, line, f, &e);
	}
	if (sf)
		fclose(sf);
	smz_ca_close(ca);
	if (rc) {
		if (f)
			fclose(f);
		*code = cmd_fail(rc, &e, "find the certificates");
		return NULL;
	}
	rewind(f);
	return f;
}

int
main(int argc, const char **argv)
{
	poptContext ctx;
	struct smz_err e = {0};
	int rc = cmd_start(argc, argv, table, NULL, "[OPTION...] [CERTS.pem | -]", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	const char *arg = poptGetArg(ctx);
	if (poptPeekArg(ctx) || (o.starttls && o.no_starttls) || (!o.bind_dn != !o.bind_pw_file))
		return cmd_usage("expected one certificate file; --bind-dn goes with "
				 "--bind-pw-file; --starttls or --no-starttls");
	const char *filter = o.filter ? o.filter : pol.ldap_filter;
	int badf = filter[0] != '(' || !strstr(filter, "%s");
	for (const char *pc = strchr(filter, '%'); pc && !badf; pc = strchr(pc + 2, '%'))
		badf = pc[1] != 's';
	if (badf)
		return cmd_usage("--filter %s: expected an LDAP filter in parentheses with %%s for "
				 "the address",
				 filter);
	if (o.remove && o.uri && strcmp(o.uri, "-") == 0)
		return cmd_usage("--remove needs the directory (--uri -, without a server, only "
				 "adds)");
	FILE *in = o.serials || o.serial_file ? serial_stream(&rc)
					      : cmd_open_stream(arg, "certificates", &rc);
	if (!in)
		return rc;
	FILE *ldif = !o.ldif ? NULL : strcmp(o.ldif, "-") == 0 ? stdout : fopen(o.ldif, "w");
	if (o.ldif && !ldif) {
		smz_err_set(&e, SMZ_ERR_CANTCREAT, "%s: %s", o.ldif, strerror(errno));
		return cmd_fail(SMZ_ERR_CANTCREAT, &e, "write LDIF");
	}
	struct smz_secret pw = {0};
	if (o.bind_pw_file && (rc = smz_secret_read_passphrase(o.bind_pw_file, &pw, &e)))
		return cmd_fail(rc, &e, "read the bind password");
	/* this CA's certificate: whose certificates may be replaced */
	const char *ca = smz_opts_ca_dir(pol.ca_path), *f;
	char path[1100];
	struct smz_trust t = {0};
	if ((f = smz_trust_ca_file(ca, "chain.pem", path, sizeof path)))
		smz_trust_chain(&t, f, &e);
	if ((f = smz_trust_ca_file(ca, "issuing.pem", path, sizeof path)))
		smz_trust_issuer(&t, f, &e);
	struct smz_publish_opts po = {{o.uri		 ? o.uri
				       : pol.ldap_uri[0] ? pol.ldap_uri
							 : "ldapi:///",
				       o.base ? o.base : pol.ldap_base, filter,
				       o.starttls      ? 1
				       : o.no_starttls ? 0
						       : -1,
				       o.tls_ca, o.bind_dn, pw.buf ? &pw : NULL, o.timeout},
				      o.smime || (pol.smime_attribute && pol.source[0]),
				      o.remove,
				      o.dry_run,
				      ldif,
				      t.issuer,
				      t.chain,
				      report,
				      ldif == stdout ? stderr : stdout};
	struct smz_publish_stats st;
	rc = smz_publish_run(&po, in, &st, &e);
	smz_secret_free(&pw);
	smz_trust_free(&t);
	if (in != stdin)
		fclose(in);
	if (ldif && ldif != stdout && fclose(ldif) != 0)
		rc = smz_err_set(&e, SMZ_ERR_IO, "%s: write error", o.ldif);
	if (!smz_opt.quiet)
		cmd_msg("%zu published, %zu unchanged, %zu removed, %zu planned, %zu failed, "
			"%zu not applied",
			st.published, st.unchanged, st.removed, st.planned, st.failed + st.rejected,
			st.not_applied);
	if (rc)
		return cmd_fail(rc, &e, "publish");
	return cmd_exit(st.failed || st.rejected ? EX_DATAERR : 0);
}
