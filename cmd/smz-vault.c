/* smz-vault: create, unlock and inspect the key vault. */
#include "addr.h"
#include "attach.h"
#include "export.h"
#include "fileio.h"
#include "import.h"
#include "common.h"
#include "pem.h"
#include "secret.h"
#include "trust.h"
#include "vault.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static struct {
	int shares, threshold, all, mobileconfig, current_only, revoke;
	const char *share_out, *new_passphrase_file, *password_file, *manifest, *out, *p12_profile,
		*reason, *chain;
	const char **addresses;
} o;

static struct poptOption table[] = {
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_unlock, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_json, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_jobs, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_audit, 0, NULL, NULL},
	{"shares", 0, POPT_ARG_INT, &o.shares, 0, "init, reshare: split the secret into N shares",
	 "N"},
	{"threshold", 0, POPT_ARG_INT, &o.threshold, 0, "init, reshare: M shares unlock", "M"},
	{"share-out", 0, POPT_ARG_STRING, &o.share_out, 0,
	 "init, reshare: write share-K-of-N.txt files here", "DIR"},
	{"new-passphrase-file", 0, POPT_ARG_STRING, &o.new_passphrase_file, 0,
	 "passwd: the new passphrase", "FILE"},
	{"password-file", 0, POPT_ARG_STRING, &o.password_file, 0,
	 "import: the files' password; export: one password for every bundle", "FILE"},
	{"manifest", 0, POPT_ARG_STRING, &o.manifest, 0,
	 "import: TSV of file and password, one file a line", "TSV"},
	{"address", 0, POPT_ARG_ARGV, &o.addresses, 0, "export: this address (repeatable)", "ADDR"},
	{"all", 0, POPT_ARG_NONE, &o.all, 0, "export: every address with a certificate", NULL},
	{"out", 0, POPT_ARG_STRING, &o.out, 0, "export: write bundles into DIR", "DIR"},
	{"p12-profile", 0, POPT_ARG_STRING, &o.p12_profile, 0,
	 "export: compat or modern (default: policy [bundle] p12_profile)", "PROFILE"},
	{"mobileconfig", 0, POPT_ARG_NONE, &o.mobileconfig, 0,
	 "export: also an Apple .mobileconfig per address", NULL},
	{"current-only", 0, POPT_ARG_NONE, &o.current_only, 0,
	 "export: only the current key, not the history", NULL},
	{"reason", 0, POPT_ARG_STRING, &o.reason, 0, "export: why (recorded in the audit log)",
	 "TEXT"},
	{"chain", 0, POPT_ARG_STRING, &o.chain, 0,
	 "export: CA certificates to include (default: chain.pem of the policy's CA)", "FILE"},
	{"revoke", 0, POPT_ARG_NONE, &o.revoke, 0, "gateway-key: no gateway unlock file works",
	 NULL},
	POPT_TABLEEND};

static struct smz_policy pol;
static const char *dir;
static struct smz_err e;

static int
open_vault(struct smz_vault **v, int unlock, const char *why)
{
	int rc = smz_vault_open(dir, v, &e);
	if (rc)
		return cmd_fail(rc, &e, "open the vault");
	/* the gateway's unlock file is considered only to be refused: it opens
	 * no more than a gateway needs */
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares,
			       pol.gateway_unlock_file[0] ? pol.gateway_unlock_file : NULL, 0};
	if (unlock && (rc = smz_vault_unlock(*v, &u, why, &e))) {
		smz_vault_close(*v);
		return cmd_fail(rc, &e, "unlock the vault");
	}
	return -1;
}

static int
v_init(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	struct smz_secret pass = {0};
	int rc = 0;
	if (smz_opt.shares)
		return cmd_usage("init takes no --share: --shares N makes new ones");
	if (smz_opt.passphrase_file &&
	    (rc = smz_secret_read_passphrase(smz_opt.passphrase_file, &pass, &e)))
		return cmd_fail(rc, &e, "read the passphrase");
	struct smz_vault_init in = {pass.buf ? &pass : NULL, pol.kdf, o.shares, o.threshold,
				    o.share_out};
	rc = smz_vault_create(dir, &in, &e);
	smz_secret_free(&pass);
	if (rc)
		return cmd_fail(rc, &e, "create the vault");
	if (!smz_opt.quiet)
		cmd_msg("vault created in %s%s%s", dir, o.shares ? "; shares in " : "",
			o.shares ? o.share_out : "");
	return 0;
}

/* smz_vault_list's records, as TSV rows under cmd_header or JSON lines */
static int
row_cb(void *arg, json_t *row)
{
	(void)arg;
	return cmd_record(row, smz_vault_list_cols);
}

static int
v_list(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	struct smz_vault *v;
	int rc = open_vault(&v, 0, NULL);
	if (rc >= 0)
		return rc;
	cmd_header(smz_vault_list_cols);
	rc = smz_vault_list(v, NULL, 0, row_cb, NULL, &e);
	smz_vault_close(v);
	return rc ? cmd_fail(rc, &e, "list the vault") : 0;
}

static int
v_history(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	char addr[SMZ_ADDR_MAX];
	struct smz_vault *v;
	int rc = smz_addr_normalize(arg, addr, &e);
	if (rc)
		return cmd_fail(rc, &e, "look up %s", arg);
	if ((rc = open_vault(&v, 0, NULL)) >= 0)
		return rc;
	cmd_header(smz_vault_list_cols);
	rc = smz_vault_list(v, addr, pol.local_part_sensitive, row_cb, NULL, &e);
	smz_vault_close(v);
	return rc ? cmd_fail(rc, &e, "show the history of %s", addr) : 0;
}

static int
v_show(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	struct smz_vault *v;
	json_t *rec;
	int rc = open_vault(&v, 0, NULL);
	if (rc >= 0)
		return rc;
	rc = smz_vault_show(v, arg, &rec, &e);
	smz_vault_close(v);
	if (rc)
		return cmd_fail(rc, &e, "show key %s", arg);
	const char *const *cols = smz_vault_show_cols;
	if (smz_opt.json) {
		cmd_record(rec, cols);
	} else {
		for (const char *const *c = cols; c[1]; c++) {
			json_t *f = json_object_get(rec, *c);
			char *s = json_is_string(f) ? strdup(json_string_value(f))
						    : json_dumps(f, JSON_ENCODE_ANY | JSON_COMPACT);
			printf("%s: %s\n", *c, s ? s : "");
			free(s);
		}
		/* the stored request, as PEM, for re-submission to any CA */
		const char *csr = json_string_value(json_object_get(rec, "csr"));
		if (csr)
			smz_pem_write_b64(stdout, "CERTIFICATE REQUEST", csr);
	}
	json_decref(rec);
	return 0;
}

static int
check_cb(void *arg, const char *id, const char *fail)
{
	(void)arg;
	if (fail)
		printf("%s: FAIL %s\n", id, fail);
	else if (smz_opt.verbose)
		printf("%s: OK\n", id);
	return ferror(stdout) ? -1 : 0;
}

static int
v_check(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	struct smz_vault *v;
	int deep = smz_opt.passphrase_file || smz_opt.shares || pol.gateway_unlock_file[0];
	int rc = open_vault(&v, deep, "smz-vault check");
	if (rc >= 0)
		return rc;
	size_t n = 0, bad = 0;
	rc = smz_vault_check(v, check_cb, NULL, &n, &bad, &e);
	char what[128];
	snprintf(what, sizeof what, "%zu records, %zu failed%s", n, bad,
		 deep ? ", keys unsealed" : "");
	if (!rc)
		rc = smz_vault_audit(v, "check", what, "", &e);
	smz_vault_close(v);
	if (rc)
		return cmd_fail(rc, &e, "check the vault");
	if (bad)
		printf("check: FAIL (%zu of %zu records)\n", bad, n);
	else
		printf("check: OK (%zu records%s)\n", n, deep ? ", every key unsealed" : "");
	return bad ? smz_exit_code(SMZ_ERR_VERIFY) : 0;
}

static int
v_audit(int argc, const char *const *argv)
{
	(void)argc;
	struct smz_vault *v;
	const char *anchors;
	int rc = cmd_audit_args(argv[0], &anchors);
	if (rc < 0)
		rc = open_vault(&v, 0, NULL);
	if (rc >= 0)
		return rc;
	struct smz_audit au;
	smz_vault_audit_log(v, &au);
	rc = cmd_audit(&au, anchors);
	smz_vault_close(v);
	return rc;
}

static int
v_passwd(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	struct smz_vault *v;
	struct smz_secret pass = {0};
	if (!o.new_passphrase_file)
		return cmd_usage("passwd needs --new-passphrase-file FILE");
	int rc = smz_secret_read_passphrase(o.new_passphrase_file, &pass, &e);
	if (rc)
		return cmd_fail(rc, &e, "read the new passphrase");
	if ((rc = open_vault(&v, 1, "smz-vault passwd")) >= 0) {
		smz_secret_free(&pass);
		return rc;
	}
	rc = smz_vault_passwd(v, &pass, pol.kdf, &e);
	smz_secret_free(&pass);
	smz_vault_close(v);
	return rc ? cmd_fail(rc, &e, "change the passphrase") : 0;
}

/* gateway-key FILE: a new unlock file for an unattended smz-sign (the
 * previous one stops working); gateway-key --revoke: none works. */
static int
v_gateway_key(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	struct smz_vault *v;
	if (!arg == !o.revoke)
		return cmd_usage("gateway-key needs FILE (a new unlock file) or --revoke");
	int rc = open_vault(&v, !o.revoke, "smz-vault gateway-key");
	if (rc >= 0)
		return rc;
	rc = o.revoke ? smz_vault_gateway_revoke(v, &e) : smz_vault_gateway_key(v, arg, &e);
	smz_vault_close(v);
	if (rc)
		return cmd_fail(rc, &e,
				o.revoke ? "revoke the gateway key" : "create the gateway key");
	if (!smz_opt.quiet)
		cmd_msg(o.revoke ? "gateway key revoked"
				 : "%s: gateway unlock file created; "
				   "protect it like the CA key",
			arg);
	return 0;
}

static int
v_reshare(int argc, const char *const *argv)
{
	(void)argc, (void)argv;
	struct smz_vault *v;
	if (!o.shares || !o.threshold || !o.share_out)
		return cmd_usage("reshare needs --shares N --threshold M --share-out DIR");
	int rc = open_vault(&v, 1, "smz-vault reshare");
	if (rc >= 0)
		return rc;
	rc = smz_vault_reshare(v, o.shares, o.threshold, o.share_out, &e);
	smz_vault_close(v);
	if (rc)
		return cmd_fail(rc, &e, "issue new shares");
	if (!smz_opt.quiet)
		cmd_msg("new shares in %s; earlier shares no longer unlock the vault", o.share_out);
	return 0;
}

static void
attach_report(void *arg, size_t index, size_t line, const char *addr, enum smz_attach_event ev,
	      const char *detail)
{
	const char *name = arg;
	if (ev == SMZ_AT_BAD || ev == SMZ_AT_NOKEY)
		cmd_msg("%s: certificate %zu (line %zu): rejected: %s", name, index, line, detail);
	else if (smz_opt.verbose)
		cmd_msg("%s: certificate %zu: %s: %s", name, index, addr,
			ev == SMZ_AT_ATTACHED ? "attached" : "already attached");
}

static int
v_attach(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	int rc;
	FILE *in = cmd_open_stream(arg, "certificates", &rc);
	if (!in)
		return rc;
	/* unlocked (an officer), a key imported without a mailbox may take the
	 * certificate's */
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares, NULL, 0};
	int unlock = smz_opt.passphrase_file || smz_opt.shares;
	struct smz_attach_opts ao = {&pol,
				     dir,
				     smz_opts_ca_dir(pol.ca_path),
				     unlock ? &u : NULL,
				     smz_opt.quiet ? NULL : stderr,
				     attach_report,
				     (void *)(in == stdin ? "(stdin)" : arg)};
	struct smz_attach_stats st;
	rc = smz_attach_run(&ao, in, stdout, &st, &e);
	if (in != stdin)
		fclose(in);
	if (rc)
		return cmd_fail(rc, &e, "attach certificates");
	if (!smz_opt.quiet)
		cmd_msg("%zu attached, %zu already attached, %zu rejected", st.attached,
			st.unchanged, st.rejected);
	return st.rejected ? EX_DATAERR : 0;
}

static void
import_report(void *arg, const char *path, enum smz_import_event ev, size_t keys,
	      const char *detail)
{
	(void)arg;
	if (ev == SMZ_IM_FAILED)
		cmd_msg("%s: FAIL %s", path, detail);
	else if (smz_opt.verbose || ev == SMZ_IM_IMPORTED)
		printf("%s: %s (%zu keys)\n", path,
		       ev == SMZ_IM_UNCHANGED ? "unchanged" : "imported", keys);
	if (ev != SMZ_IM_FAILED && detail)
		cmd_msg("%s: %s", path, detail);
}

static int
v_import(int argc, const char *const *argv)
{
	struct smz_import_file f[1024];
	struct smz_secret pw[1024] = {{0}}, one = {0};
	size_t n = 0;
	char *manifest = NULL;
	int rc = o.password_file ? smz_secret_read_passphrase(o.password_file, &one, &e) : 0;
	if (rc)
		return cmd_fail(rc, &e, "read the password");
	rc = -1;
	if (argc > 1024) {
		smz_secret_free(&one);
		return cmd_usage("more than 1024 files: import them in several runs");
	}
	for (; n < (size_t)argc; n++)
		f[n] = (struct smz_import_file){argv[n], one.buf ? &one : NULL};
	size_t len;
	if (o.manifest && (rc = smz_file_read(o.manifest, 1 << 24, &manifest, &len, &e)) == 0) {
		/* file<TAB>password, one a line; the file holds secrets: wiped after */
		for (char *save = NULL, *line = strtok_r(manifest, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (n == 1024) {
				rc = smz_err_set(&e, SMZ_ERR_USAGE,
						 "more than 1024 files: split the manifest");
				break;
			}
			char *tab = strchr(line, '\t');
			if (!tab || line[0] == '#')
				continue;
			*tab = 0;
			size_t pl = strcspn(tab + 1, "\r");
			if (smz_secret_alloc(&pw[n], pl) == 0)
				memcpy(pw[n].buf, tab + 1, pl);
			f[n] = (struct smz_import_file){line, &pw[n]};
			n++;
		}
		rc = rc == SMZ_ERR_USAGE ? rc : -1;
	}
	if (rc >= 0) {
		smz_secret_free(&one);
		return cmd_fail(rc, &e, "read the manifest");
	}
	if (n == 0) {
		smz_secret_free(&one);
		return cmd_usage("import needs FILE... or --manifest TSV");
	}
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares, NULL, 0};
	int unlock = smz_opt.passphrase_file || smz_opt.shares;
	struct smz_import_opts io = {&pol, dir, unlock ? &u : NULL, import_report, NULL};
	struct smz_import_stats st;
	rc = smz_import_run(&io, f, n, &st, &e);
	for (size_t i = 0; i < n; i++)
		smz_secret_free(&pw[i]);
	smz_secret_free(&one);
	if (manifest) {
		sodium_memzero(manifest, len);
		free(manifest);
	}
	if (rc)
		return cmd_fail(rc, &e, "import keys");
	if (!smz_opt.quiet)
		cmd_msg("%zu files: %zu keys imported, %zu unchanged, %zu failed", st.files,
			st.keys, st.unchanged, st.failed);
	return st.failed ? EX_DATAERR : 0;
}

static void
export_report(void *arg, const char *addr, enum smz_export_event ev, size_t keys,
	      const char *detail)
{
	(void)arg;
	if (ev == SMZ_EX_WRITTEN)
		printf("%s: OK (%zu keys)\n", addr, keys);
	else
		printf("%s: FAIL %s\n", addr, detail);
}

static int
v_export(int argc, const char *const *argv)
{
	(void)argc;
	const char *arg = argv[0];
	const char *list[4096];
	size_t n = 0;
	char *in = NULL;
	const char *profile = o.p12_profile ? o.p12_profile : pol.p12_profile;
	if (!o.out || (arg && strcmp(arg, "-") != 0) || (!o.addresses && !o.all && !arg) ||
	    (strcmp(profile, "compat") && strcmp(profile, "modern")))
		return cmd_usage("export needs --out DIR and --address ADDR, --all or - (addresses "
				 "on standard input); --p12-profile is compat or modern");
	size_t cap = 4096;
	for (const char **a = o.addresses; a && *a; a++)
		if (n < cap)
			list[n++] = *a;
	size_t len;
	int rc = arg ? smz_file_read("-", 1 << 24, &in, &len, &e) : 0;
	if (rc)
		return cmd_fail(rc, &e, "read addresses");
	size_t extra = 0;
	for (char *save = NULL, *l = in ? strtok_r(in, "\r\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\r\n", &save))
		if (*l && *l != '#') {
			if (n < cap)
				list[n++] = l;
			else
				extra++;
		}
	if (extra || (o.addresses && n == cap)) {
		free(in);
		return cmd_usage("more than %zu addresses: use --all or several runs", cap);
	}
	struct smz_secret pw = {0};
	struct smz_trust chain = {0};
	char chainpath[1100];
	const char *cp = o.chain ? o.chain
				 : smz_trust_ca_file(pol.ca_path, "chain.pem", chainpath,
						     sizeof chainpath);
	struct smz_vault *v = NULL;
	if ((o.password_file && (rc = smz_secret_read_passphrase(o.password_file, &pw, &e))) ||
	    (cp && (rc = smz_trust_chain(&chain, cp, &e)))) {
		free(in);
		smz_secret_free(&pw);
		return cmd_fail(rc, &e, "export");
	}
	if ((rc = open_vault(&v, 1, "smz-vault export")) < 0) {
		struct smz_export_opts eo = {&pol,	     v,
					     o.out,	     profile,
					     o.current_only, o.mobileconfig || pol.mobileconfig,
					     smz_opt.jobs,   pw.buf ? &pw : NULL,
					     o.reason,	     chain.chain,
					     export_report,  NULL};
		struct smz_export_stats st;
		rc = o.all ? smz_export_all(&eo, &st, &e) : smz_export_run(&eo, list, n, &st, &e);
		smz_vault_close(v);
		rc = rc ? cmd_fail(rc, &e, "export bundles") : st.missing ? EX_DATAERR : 0;
		if (!smz_opt.quiet && rc != EX_CANTCREAT)
			cmd_msg("%zu bundles written (%zu keys), %zu addresses failed, in %s%s",
				st.written, st.keys, st.missing, o.out,
				pw.buf ? "" : "; passwords in passwords.tsv");
	}
	smz_trust_free(&chain);
	smz_secret_free(&pw);
	free(in);
	return rc;
}

static int
lookup_cb(void *arg, const json_t *rec, const char *how, const char *fail)
{
	const char *file = arg;
	if (fail)
		printf("%s: FAIL %s\n", file, fail);
	else
		printf("%s: %s %s (by %s)\n", file,
		       json_string_value(json_object_get(rec, "key_id")),
		       json_string_value(json_array_get(json_object_get(rec, "addresses"), 0))
			       ?: "-",
		       how);
	return ferror(stdout) ? -1 : 0;
}

static int
v_lookup(int argc, const char *const *argv)
{
	(void)argc;
	struct smz_vault *v;
	size_t missing = 0;
	int rc = open_vault(&v, 0, NULL);
	if (rc >= 0)
		return rc;
	rc = smz_vault_find_certs(v, argv[0], lookup_cb, (void *)argv[0], &missing, &e);
	smz_vault_close(v);
	if (rc)
		return cmd_fail(rc, &e, "look up %s", argv[0]);
	return missing ? smz_exit_code(SMZ_ERR_VERIFY) : 0;
}

/* in the order of the man page */
static const struct cmd_verb verbs[] =
	{{"init", v_init, 0, 0, "", "create the vault: its key pair, passphrase and shares"},
	 {"list", v_list, 0, 0, "", "list every key (TSV, or --json)"},
	 {"history", v_history, 1, 1, "ADDRESS", "list every key an address ever had"},
	 {"show", v_show, 1, 1, "KEYID", "print a key's record and its CSR"},
	 {"check", v_check, 0, 0, "", "check every record; unlocked, unseal every key"},
	 /* popt leaves the FILE of "--anchor --verify FILE" an argument */
	 {"audit", v_audit, 0, 1, "", "print the audit log, --verify it or print its --anchor"},
	 {"passwd", v_passwd, 0, 0, "", "change the passphrase (--new-passphrase-file)"},
	 {"reshare", v_reshare, 0, 0, "", "issue new shares; the earlier ones stop working"},
	 {"attach", v_attach, 0, 1, "[CERTS.pem | -]", "file certificates with their keys"},
	 {"import", v_import, 0, CMD_ANY, "[FILE...]",
	  "import keys from PKCS#12, or PEM/DER key and certificate"},
	 {"export", v_export, 0, 1, "[-]", "write PKCS#12 bundles (- reads the addresses)"},
	 {"lookup", v_lookup, 1, 1, "CERTS.pem", "find the key of each certificate"},
	 {"gateway-key", v_gateway_key, 0, 1, "[FILE]",
	  "make a gateway unlock file, or --revoke it"},
	 {NULL, NULL, 0, 0, NULL, NULL}};

int
main(int argc, const char **argv)
{
	poptContext ctx;
	int rc = cmd_start(argc, argv, table, verbs, "[OPTION...] VERB [ARG...]", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	dir = smz_opts_vault_dir(pol.vault_path[0] ? pol.vault_path : NULL);
	return cmd_verb_run(verbs, NULL);
}
