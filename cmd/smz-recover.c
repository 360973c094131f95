/* smz-recover: forensic recovery of old encrypted mail, under M-of-N control. */
#include "common.h"
#include "mailbox.h"
#include "recover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static struct {
	const char *case_id, *reason, *out, *mbox, *report;
	const char **scope;
	int only_encrypted, recurse, mboxo;
} o;

static struct poptOption table[] =
	{{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_unlock, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_json, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_jobs, 0, NULL, NULL},
	 {"case", 0, POPT_ARG_STRING, &o.case_id, 0, "the case this recovery is for (required)",
	  "ID"},
	 {"reason", 0, POPT_ARG_STRING, &o.reason, 0, "why (required; recorded in the audit log)",
	  "TEXT"},
	 {"scope", 0, POPT_ARG_ARGV, &o.scope, 0,
	  "use only this address's keys (repeat; default: every key)", "ADDR"},
	 {"out", 0, POPT_ARG_STRING, &o.out, 0, "write the messages into this Maildir", "DIR"},
	 {"mbox", 0, POPT_ARG_STRING, &o.mbox, 0, "append the messages to this mbox (mboxrd)",
	  "FILE"},
	 {"report", 0, POPT_ARG_STRING, &o.report, 0,
	  "write the report here (default: standard output)", "FILE"},
	 {"only-encrypted", 0, POPT_ARG_NONE, &o.only_encrypted, 0,
	  "write only the messages that were encrypted", NULL},
	 {"recursive", 'r', POPT_ARG_NONE, &o.recurse, 0, "descend into directories", NULL},
	 {"mboxo", 0, POPT_ARG_NONE, &o.mboxo, 0,
	  "input mboxes quote only \"From \" (mboxo): \">>From \" stays as it is", NULL},
	 POPT_TABLEEND};

static struct smz_policy pol;

static const char *const cols[] = {"source", "offset",	  "message_id", "date",
				   "from",   "recipient", "key_id",	"generation",
				   "status", "signature", NULL};

static FILE *report_file;

/* cmd_header and cmd_record write to standard output: the report, here */
static void
start(void *arg, FILE *f)
{
	(void)arg;
	FILE *saved = stdout;
	report_file = f;
	stdout = f;
	cmd_header(cols);
	stdout = saved;
}

static void
report(void *arg, const struct smz_workers_report *r)
{
	(void)arg;
	if (r->rec) {
		FILE *saved = stdout;
		stdout = report_file;
		cmd_record(r->rec, cols);
		stdout = saved;
	} else if (r->what) {
		cmd_fail(r->code, r->err, "%s", r->what);
	} else if (r->text) {
		cmd_msg("%s", r->text);
	}
}

static char **paths;
static size_t npaths;

static void
free_paths(void)
{
	smz_mailbox_paths_free(paths, npaths);
}

int
main(int argc, const char **argv)
{
	poptContext ctx;
	struct smz_err e = {0};
	int rc = cmd_start(
		argc, argv, table, NULL,
		"[OPTION...] --case ID --reason TEXT [--out MAILDIR | --mbox FILE] PATH...", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	if (!o.case_id || !o.case_id[0] || !o.reason || !o.reason[0])
		return cmd_usage("a recovery needs --case ID and --reason TEXT");
	for (const char *p = o.case_id; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == ';' || *p == 0x7f)
			return cmd_usage("--case: letters, digits and punctuation other than ';' "
					 "only");
	if (o.out && o.mbox)
		return cmd_usage("--out or --mbox, not both");
	/* PATH arguments, else (stdin not a terminal) one a line on stdin */
	const char *const *args = (const char *const *)poptGetArgs(ctx);
	atexit(free_paths);
	if ((rc = smz_mailbox_paths(args, args || isatty(0) ? NULL : stdin, &paths, &npaths)))
		return cmd_fail(rc, NULL, "read the paths");
	if (!npaths)
		return cmd_usage("no input: give mbox files, Maildirs or messages (or their paths "
				 "on stdin)");
	if (!smz_opts_vault_dir(pol.vault_path))
		return cmd_need(SMZ_NEED_VAULT, "no vault given", "recover mail");
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares,
			       pol.gateway_unlock_file[0] ? pol.gateway_unlock_file : NULL, 0};
	struct smz_recover_opts ro = {&pol,
				      smz_opts_vault_dir(pol.vault_path),
				      smz_opts_ca_dir(pol.ca_path),
				      &u,
				      o.case_id,
				      o.reason,
				      o.scope,
				      o.out,
				      o.mbox,
				      o.report,
				      o.only_encrypted,
				      o.recurse,
				      o.mboxo,
				      smz_opt.verbose,
				      (size_t)smz_opt.jobs,
				      start,
				      report,
				      NULL};
	struct smz_recover_stats st;
	rc = smz_recover_run(&ro, (const char *const *)paths, npaths, &st, &e);
	if (st.ran && !smz_opt.quiet)
		cmd_msg("case %s: %zu decrypted, %zu no-key, %zu not-encrypted, %zu corrupt, "
			"%zu errors, %zu already done",
			o.case_id, st.decrypted, st.nokey, st.plain, st.corrupt, st.errors,
			st.skipped);
	int code = rc ? smz_exit_code(rc) : st.nokey || st.corrupt || st.errors ? EX_DATAERR : 0;
	return cmd_exit(code);
}
