/* smz-issue: a private CA for S/MIME Baseline Requirements certificates. */
#include "addr.h"
#include "ca.h"
#include "common.h"
#include "fileio.h"
#include "issue.h"
#include "plan.h"
#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

static struct {
	int no_passphrase;
	const char *root_cert, *root_key, *root_pass, *reason, *out, *within;
	const char **addresses, **key_ids;
	int force, leavers, renewals;
	const char *setting;
} o;

static struct poptOption table[] = {
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_ca, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_capass, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_json, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_jobs, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_audit, 0, NULL, NULL},
	{"no-passphrase", 0, POPT_ARG_NONE, &o.no_passphrase, 0,
	 "init: store the CA keys unencrypted (0600)", NULL},
	{"root-cert", 0, POPT_ARG_STRING, &o.root_cert, 0,
	 "init: put the issuing CA under this existing root", "FILE"},
	{"root-key", 0, POPT_ARG_STRING, &o.root_key, 0, "init: that root's private key", "FILE"},
	{"root-passphrase-file", 0, POPT_ARG_STRING, &o.root_pass, 0,
	 "init: passphrase of --root-key", "FILE"},
	{"reason", 0, POPT_ARG_STRING, &o.reason, 0,
	 "revoke: keyCompromise, affiliationChanged, superseded, cessationOfOperation, "
	 "privilegeWithdrawn",
	 "REASON"},
	{"address", 0, POPT_ARG_ARGV, &o.addresses, 0, "revoke: every certificate of ADDR", "ADDR"},
	{"key-id", 0, POPT_ARG_ARGV, &o.key_ids, 0, "revoke: every certificate of key K", "K"},
	{"out", 0, POPT_ARG_STRING, &o.out, 0, "crl: write the CRL to FILE", "FILE"},
	{"within", 0, POPT_ARG_STRING, &o.within, 0,
	 "expiring: within DAYS (e.g. 30 or 30d); plan: the renewal window", "DAYS"},
	{"force", 0, POPT_ARG_NONE, &o.force, 0,
	 "plan: off-board beyond policy [offboarding] max_fraction", NULL},
	{"leavers", 0, POPT_ARG_NONE, &o.leavers, 0,
	 "plan: the input lists who leaves, one address a line", NULL},
	{"renewals", 0, POPT_ARG_NONE, &o.renewals, 0, "plan: renewals only, no input", NULL},
	{"setting", 0, POPT_ARG_STRING, &o.setting, 0,
	 "plan: print ca, ldap-uri, reuse-key or window-days as the policy sets it", "NAME"},
	POPT_TABLEEND};

static struct smz_policy pol;
static const char *dir;
static struct smz_err e;

static int
read_pass(const char *file, struct smz_secret *s)
{
	int rc = file ? smz_secret_read_passphrase(file, s, &e) : 0;
	return rc ? cmd_fail(rc, &e, "read the passphrase") : -1;
}

static int
open_ca(struct smz_ca **ca, int unlock)
{
	int rc = smz_ca_open(dir, ca, &e);
	if (rc)
		return cmd_fail(rc, &e, "open the CA");
	struct smz_secret pass = {0};
	rc = -1;
	if (unlock && (rc = read_pass(smz_opt.passphrase_file, &pass)) < 0) {
		rc = smz_ca_unlock(*ca, pass.buf ? &pass : NULL, &e);
		smz_secret_free(&pass);
		rc = rc ? cmd_fail(rc, &e, "load the CA key") : -1;
	}
	if (rc >= 0)
		smz_ca_close(*ca);
	return rc;
}

static int
v_init(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	if (!smz_opt.passphrase_file == !o.no_passphrase || !o.root_cert != !o.root_key)
		return cmd_usage("init needs --passphrase-file F or --no-passphrase (one of them), "
				 "and --root-cert with --root-key");
	struct smz_secret pass = {0}, rpass = {0};
	int rc = read_pass(smz_opt.passphrase_file, &pass);
	if (rc < 0)
		rc = read_pass(o.root_pass, &rpass);
	if (rc >= 0) {
		smz_secret_free(&pass);
		return rc;
	}
	struct smz_ca_init in = {pass.buf ? &pass : NULL, o.root_cert, o.root_key,
				 rpass.buf ? &rpass : NULL};
	rc = smz_ca_create(dir, &pol, &in, &e);
	smz_secret_free(&pass);
	smz_secret_free(&rpass);
	if (rc)
		return cmd_fail(rc, &e, "create the CA");
	if (!smz_opt.quiet)
		cmd_msg("CA created in %s (chain.pem is the issuing CA and its root)", dir);
	return 0;
}

static void
issue_report(void *arg, size_t index, size_t line, const char *addr, enum smz_issue_event ev,
	     const char *detail)
{
	const char *name = arg;
	if (ev == SMZ_IS_REJECTED)
		cmd_msg("%s: request %zu (line %zu): rejected: %s", name, index, line, detail);
	else if (smz_opt.verbose)
		cmd_msg("%s: request %zu: %s: %s", name, index, addr,
			ev == SMZ_IS_ISSUED ? "issued" : "already issued, sent again");
}

static int
v_issue(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	const char *path = arg ? arg : "-";
	int rc;
	FILE *in = cmd_open_stream(arg, "certificate requests", &rc);
	if (!in)
		return rc;
	struct smz_ca *ca;
	rc = open_ca(&ca, 1);
	if (rc >= 0) {
		if (in != stdin)
			fclose(in);
		return rc;
	}
	struct smz_issue_opts io = {&pol,
				    ca,
				    smz_opt.quiet ? NULL : stderr,
				    smz_opt.jobs,
				    issue_report,
				    (void *)(in == stdin ? "(stdin)" : path)};
	struct smz_issue_stats st;
	rc = smz_issue_run(&io, in, stdout, &st, &e);
	smz_ca_close(ca);
	if (in != stdin)
		fclose(in);
	if (rc)
		return cmd_fail(rc, &e, "issue certificates");
	if (!smz_opt.quiet)
		cmd_msg("%zu issued, %zu already issued, %zu rejected", st.issued, st.existed,
			st.rejected);
	return st.rejected ? EX_DATAERR : 0;
}

static void
revoke_report(void *arg, json_t *rec, int already)
{
	json_array_append(arg, rec);
	printf("%s: %s\n", json_string_value(json_object_get(rec, "serial")),
	       already ? "already revoked" : "revoked");
}

static int
v_revoke(int argc, const char *const *argv)
{
	if (!o.reason)
		return cmd_usage("revoke needs --reason REASON");
	if (!argc && !o.addresses && !o.key_ids)
		return cmd_usage("revoke needs SERIAL..., --address ADDR or --key-id K");
	struct smz_ca *ca;
	int rc = open_ca(&ca, 0), failed = 0;
	if (rc >= 0)
		return rc;
	json_t *done = json_array();
	struct {
		enum smz_ca_select by;
		const char **v;
	} sel[] = {{SMZ_CA_BY_SERIAL, argc ? (const char **)argv : NULL},
		   {pol.local_part_sensitive ? SMZ_CA_BY_EXACT_ADDRESS : SMZ_CA_BY_ADDRESS,
		    o.addresses},
		   {SMZ_CA_BY_KEYID, o.key_ids}};
	for (size_t s = 0; s < 3; s++)
		for (const char **v = sel[s].v; v && *v && rc < 0; v++) {
			int r = smz_ca_revoke(ca, sel[s].by, *v, o.reason, revoke_report, done, &e);
			if (r == SMZ_ERR_NOTFOUND) {
				printf("%s: FAIL %s\n", *v, e.msg);
				failed = 1;
			} else if (r) {
				rc = cmd_fail(r, &e, "revoke %s", *v);
			}
		}
	smz_ca_close(ca);
	/* revocation reaches the keys: the vault marks them, and no service
	 * signs with them or encrypts to them any more */
	const char *vdir = smz_opts_vault_dir(pol.vault_path);
	size_t changed = 0;
	int vr = vdir && json_array_size(done) ? smz_issue_tell_vault(vdir, done, &changed, &e) : 0;
	json_decref(done);
	if (vr == SMZ_ERR_NOINPUT && !smz_opt.quiet)
		/* a CA host without the vault: the vault's host runs the same
		 * revoke with --vault, or smz-vault learns it otherwise */
		cmd_msg("note: no vault at %s: the keys were not marked revoked there", vdir);
	else if (vr && rc < 0)
		rc = cmd_fail(SMZ_ERR_TEMP, &e,
			      "mark the revoked keys in the vault %s (run the same revoke again)",
			      vdir);
	else if (!vr && changed && smz_opt.verbose)
		cmd_msg("%zu keys marked in the vault", changed);
	return rc >= 0 ? rc : failed ? EX_DATAERR : 0;
}

static int
v_crl(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	struct smz_ca *ca;
	int rc = open_ca(&ca, 1);
	if (rc >= 0)
		return rc;
	rc = smz_ca_crl_write(ca, &pol, o.out, stdout, &e);
	smz_ca_close(ca);
	return rc ? cmd_fail(rc, &e, "write the CRL") : 0;
}

/* smz_ca_list's records, as TSV rows under cmd_header or JSON lines */
static int
list_cb(void *arg, json_t *row)
{
	(void)arg;
	return cmd_record(row, smz_ca_list_cols);
}

/* --within DAYS: -1 and *days, or EX_USAGE */
static int
within_days(long *days)
{
	char *end;
	long d = strtol(o.within, &end, 10);
	if (end == o.within || (*end && strcmp(end, "d") != 0) || d < 0 || d > 36500)
		return cmd_usage("--within %s: expected a number of days, e.g. 30 or 30d",
				 o.within);
	*days = d;
	return -1;
}

static int
v_list(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	long within = -1; /* all */
	struct smz_ca *ca;
	int rc = o.within ? within_days(&within) : -1;
	if (rc < 0)
		rc = open_ca(&ca, 0);
	if (rc >= 0)
		return rc;
	cmd_header(smz_ca_list_cols);
	rc = smz_ca_list(ca, within, list_cb, NULL, &e);
	smz_ca_close(ca);
	return rc ? cmd_fail(rc, &e, "list certificates") : 0;
}

static int
v_expiring(int argc, const char *const *argv)
{
	return o.within ? v_list(argc, argv) : cmd_usage("expiring needs --within DAYS");
}

static int
v_audit(int argc, const char *const *argv)
{
	(void)argc;
	struct smz_ca *ca;
	const char *anchors;
	int rc = cmd_audit_args(argv[0], &anchors);
	if (rc < 0)
		rc = open_ca(&ca, 0);
	if (rc >= 0)
		return rc;
	struct smz_audit au;
	smz_ca_audit_log(ca, &au);
	rc = cmd_audit(&au, anchors);
	smz_ca_close(ca);
	return rc;
}

/* The one rule for "is this the same person": the key lib/addr makes under
 * policy [vault] local_part, for the shell programs (smz-offboard,
 * smz-provision, smz-renew) to compare addresses with instead of a rule of
 * their own. */
static const char *const key_cols[] = {"key", "address", NULL};

static int
v_address_keys(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	int rc;
	FILE *in = cmd_open_stream(arg, "addresses", &rc);
	if (!in)
		return rc;
	const char *name = in == stdin ? "(stdin)" : arg;
	char line[4096];
	size_t n = 0;
	int bad = 0, out = 0;
	cmd_header(key_cols);
	while (out == 0 && fgets(line, sizeof line, in)) {
		n++;
		size_t l = strlen(line);
		int c, too_long = l == sizeof line - 1 && line[l - 1] != '\n';
		while (too_long && (c = getc(in)) != EOF && c != '\n')
			; /* longer than any address: the rest of the line goes too */
		while (l > 0 && strchr(" \t\r\n", line[l - 1]))
			line[--l] = 0;
		char *a = line + strspn(line, " \t");
		if (!*a)
			continue;
		char norm[SMZ_ADDR_MAX], key[SMZ_ADDR_MAX];
		struct smz_err ae;
		if (too_long)
			smz_err_set(&ae, SMZ_ERR_DATA, "line too long for an address");
		if (too_long || smz_addr_normalize(a, norm, &ae) < 0) {
			cmd_msg("%s:%zu: rejected: %s", name, n, ae.msg);
			bad = 1;
			continue;
		}
		smz_addr_key(norm, pol.local_part_sensitive, key);
		json_t *row = json_pack("{s:s,s:s}", "key", key, "address", norm);
		out = row ? cmd_record(row, key_cols) : -1;
		json_decref(row);
	}
	if (in != stdin)
		fclose(in);
	return bad ? EX_DATAERR : 0;
}

/* The plan smz-provision, smz-renew and smz-offboard carry out (lib/plan). */
#define ROSTER_MAX (256u << 20)
static const char *const plan_cols[] = {"action", "address", "serial", "reason", NULL};

/* Policy values the shell programs need, so that none parses the INI. */
static int
plan_setting(const char *name)
{
	if (strcmp(name, "ca") == 0)
		printf("%s\n", dir ? dir : "");
	else if (strcmp(name, "ldap-uri") == 0)
		printf("%s\n", pol.ldap_uri);
	else if (strcmp(name, "reuse-key") == 0)
		printf("%s\n", pol.reuse_key ? "yes" : "no");
	else if (strcmp(name, "window-days") == 0)
		printf("%d\n", pol.window_days);
	else
		return cmd_usage("--setting %s: expected ca, ldap-uri, reuse-key or window-days",
				 name);
	return 0;
}

static size_t plan_rejected;

static void
plan_reject(void *arg, size_t line, const char *why)
{
	cmd_msg("%s:%zu: rejected: %s", (const char *)arg, line, why);
	plan_rejected++;
}

/* Who the plan is about: the roster, or with --leavers a list. */
static int
plan_input(const char *arg, struct smz_roster *r, char ***list, size_t *n)
{
	const char *name = arg && strcmp(arg, "-") ? arg : "(stdin)";
	int rc;
	if (o.leavers) {
		FILE *in = cmd_open_stream(arg, "addresses", &rc);
		if (!in)
			return rc;
		rc = smz_plan_read_list(in, list, n, plan_reject, (void *)name, &e);
		if (in != stdin)
			fclose(in);
		return rc ? cmd_fail(rc, &e, "read the leavers %s", name) : -1;
	}
	if (pol.ndomains == 0) {
		smz_err_set(&e, SMZ_ERR_CONFIG, "%s has no [domains] allowed",
			    pol.source[0] ? pol.source : "the policy");
		return cmd_fail(SMZ_ERR_CONFIG, &e, "plan");
	}
	char *data;
	size_t len;
	struct smz_roster_opts ro = {0};
	if ((rc = smz_file_read(arg ? arg : "-", ROSTER_MAX, &data, &len, &e)))
		return cmd_fail(rc, &e, "read the roster");
	rc = smz_roster_parse(data, len, &ro, &pol, r, &e);
	free(data);
	if (rc)
		return cmd_fail(rc, &e, "read roster %s", name);
	for (size_t i = 0; i < r->n; i++)
		if (r->rows[i].outcome == SMZ_ROW_REJECTED)
			plan_reject((void *)name, r->rows[i].line, r->rows[i].reason);
	return -1;
}

static int
v_plan(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	if (o.setting)
		return arg ? cmd_usage("--setting takes no argument") : plan_setting(o.setting);
	if (o.renewals ? arg || o.leavers : !arg && isatty(STDIN_FILENO))
		return cmd_usage("plan needs a ROSTER (or with --leavers a list of addresses), or "
				 "--renewals and no argument");
	struct smz_plan_opts po = {o.renewals  ? SMZ_PLAN_RENEWALS
				   : o.leavers ? SMZ_PLAN_LEAVERS
					       : SMZ_PLAN_ROSTER,
				   NULL,
				   NULL,
				   0,
				   pol.local_part_sensitive,
				   pol.max_fraction,
				   o.force,
				   (long long)time(NULL),
				   pol.window_days * 86400LL};
	long days;
	if (o.within && within_days(&days) >= 0)
		return EX_USAGE;
	if (o.within)
		po.window = days * 86400LL;
	struct smz_roster roster = {0};
	char **list = NULL;
	int found = 0, rc = o.renewals ? -1 : plan_input(arg, &roster, &list, &po.nleavers);
	po.roster = &roster;
	po.leavers = (const char *const *)list;
	struct smz_plan_facts facts = {0};
	struct smz_plan plan = {0};
	struct smz_ca *ca;
	if (rc < 0 && (rc = open_ca(&ca, 0)) < 0) {
		int r = smz_plan_read_ca(ca, &facts, &e);
		smz_ca_close(ca);
		if (!r && po.mode == SMZ_PLAN_ROSTER)
			r = smz_plan_read_vault(smz_opts_vault_dir(pol.vault_path), &facts, &found,
						&e);
		if (!r && po.mode == SMZ_PLAN_ROSTER && !found && smz_opt.verbose)
			cmd_msg("note: no vault: movers are not recognised");
		if (!r)
			r = smz_plan_make(&po, &facts, &plan, &e);
		rc = r ? cmd_fail(r, &e, "make the plan") : -1;
	}
	if (rc < 0)
		cmd_header(plan_cols);
	/* a write error stops the rows; cmd_exit reports it (EPIPE quietly) */
	for (size_t i = 0, out = 0; rc < 0 && !out && i < plan.n; i++) {
		const struct smz_plan_row *pr = &plan.rows[i];
		json_t *row = json_pack("{s:s,s:s,s:s,s:s}", "action",
					smz_plan_action_name(pr->action), "address", pr->address,
					"serial", pr->serial, "reason", pr->reason);
		if (!row)
			rc = cmd_fail(SMZ_ERR_INTERNAL, NULL, "print the plan");
		else
			out = cmd_record(row, plan_cols) < 0;
		json_decref(row);
	}
	const size_t *n = plan.people;
	if (rc < 0 && !smz_opt.quiet && po.mode == SMZ_PLAN_ROSTER)
		cmd_msg("plan: %zu joiners, %zu movers, %zu leavers, %zu renewals, %zu unchanged",
			n[SMZ_PLAN_JOIN], n[SMZ_PLAN_MOVE], n[SMZ_PLAN_LEAVE], n[SMZ_PLAN_RENEW],
			n[SMZ_PLAN_NOTHING]);
	else if (rc < 0 && !smz_opt.quiet && po.mode == SMZ_PLAN_LEAVERS)
		cmd_msg("plan: %zu leaving, %zu off-boarded before, %zu unknown", n[SMZ_PLAN_LEAVE],
			plan.before, plan.unknown);
	else if (rc < 0 && !smz_opt.quiet)
		cmd_msg("plan: %zu due, %zu not due", n[SMZ_PLAN_RENEW], n[SMZ_PLAN_NOTHING]);
	smz_plan_free(&plan);
	smz_plan_facts_free(&facts);
	smz_plan_list_free(list, po.nleavers);
	smz_roster_free(&roster);
	return rc >= 0 ? rc : plan_rejected ? EX_DATAERR : 0;
}

/* in the order of the man page; with no verb, issue */
static const struct cmd_verb verbs[] =
	{{"init", v_init, 0, 0, "", "create the root and the issuing CA"},
	 {"issue", v_issue, 0, 1, "[CSRS.pem | -]", "certify requests (the verb may be left out)"},
	 {"revoke", v_revoke, 0, CMD_ANY, "[SERIAL...]", "revoke by serial, --address or --key-id"},
	 {"crl", v_crl, 0, 0, "", "make a CRL (to standard output or --out FILE)"},
	 {"list", v_list, 0, 0, "", "list the certificates (TSV, or --json)"},
	 {"expiring", v_expiring, 0, 0, "", "list the certificates ending --within DAYS"},
	 {"address-keys", v_address_keys, 0, 1, "[FILE | -]",
	  "each address with the key it is compared by"},
	 {"plan", v_plan, 0, 1, "[ROSTER.csv | -]",
	  "what provisioning, renewal or off-boarding does"},
	 /* popt leaves the FILE of "--anchor --verify FILE" an argument */
	 {"audit", v_audit, 0, 1, "", "print the audit log, --verify it or print its --anchor"},
	 {NULL, NULL, 0, 0, NULL, NULL}};

int
main(int argc, const char **argv)
{
	poptContext ctx;
	int rc = cmd_start(argc, argv, table, verbs, "[OPTION...] [VERB] [ARG...]", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	dir = smz_opts_ca_dir(pol.ca_path);
	return cmd_verb_run(verbs, "issue");
}
