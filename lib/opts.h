/*
 * opts: the options every smz program shares, from one X-macro list, so
 * that the same option has the same name, argument and help everywhere.
 * Programs include the popt sub-tables they need in their own table.  The
 * hidden --smz-complete option prints a program's options and verbs, from
 * which completions/ are generated.
 */
#ifndef SMZ_OPTS_H
#define SMZ_OPTS_H

#include <popt.h>
#include <stdio.h>

struct smz_opts {
	const char *policy, *vault, *ca, *passphrase_file;
	const char **shares; /* NULL-terminated, from repeated --share */
	int json, quiet, verbose, jobs, help, usage, version, complete;
	int verify;	    /* audit --verify */
	const char *anchor; /* audit --anchor[=FILE]; see smz_opts_anchor */
};

extern struct smz_opts smz_opt;

/*     name               short  type               field                     arg      help */
#define SMZ_OPTS_GENERAL(X)                                                                \
	X("policy", 0, POPT_ARG_STRING, &smz_opt.policy, "FILE",                           \
	  "policy file (default $SMZ_POLICY, else /etc/smz/policy.conf)")                  \
	X("quiet", 'q', POPT_ARG_NONE, &smz_opt.quiet, NULL, "no summary and no progress") \
	X("verbose", 'v', POPT_ARG_NONE, &smz_opt.verbose, NULL, "report every record")    \
	X("help", 'h', POPT_ARG_NONE, &smz_opt.help, NULL, "show this help")               \
	X("usage", 0, POPT_ARG_NONE, &smz_opt.usage, NULL, "show a short usage message")   \
	X("version", 0, POPT_ARG_NONE, &smz_opt.version, NULL, "show the version")
#define SMZ_OPTS_VAULT(X)                                     \
	X("vault", 0, POPT_ARG_STRING, &smz_opt.vault, "DIR", \
	  "vault directory (default $SMZ_VAULT, else policy [vault] path)")
#define SMZ_OPTS_CA(X)                                  \
	X("ca", 0, POPT_ARG_STRING, &smz_opt.ca, "DIR", \
	  "CA directory (default $SMZ_CA, else policy [ca] path)")
#define SMZ_OPTS_UNLOCK(X)                                                         \
	X("passphrase-file", 0, POPT_ARG_STRING, &smz_opt.passphrase_file, "FILE", \
	  "read the vault passphrase from FILE's first line (- = stdin)")          \
	X("share", 0, POPT_ARG_ARGV, &smz_opt.shares, "FILE",                      \
	  "one recovery share file; repeat for M shares")
#define SMZ_OPTS_CAPASS(X)                                                         \
	X("passphrase-file", 0, POPT_ARG_STRING, &smz_opt.passphrase_file, "FILE", \
	  "read the CA key passphrase from FILE's first line (- = stdin)")
#define SMZ_OPTS_JSON(X) \
	X("json", 0, POPT_ARG_NONE, &smz_opt.json, NULL, "JSON lines instead of TSV")
/* --anchor takes an optional argument: alone it prints an anchor, with
 * --verify it names the file of anchors ("--anchor FILE" or "--anchor=FILE"). */
#define SMZ_OPTS_AUDIT(X)                                                                       \
	X("verify", 0, POPT_ARG_NONE, &smz_opt.verify, NULL, "audit: verify the hash chain")    \
	X("anchor", 0, POPT_ARG_STRING | POPT_ARGFLAG_OPTIONAL, &smz_opt.anchor, "FILE",        \
	  "audit: print the chain head to keep elsewhere; with --verify, check the anchors in " \
	  "FILE")
#define SMZ_OPTS_JOBS(X) \
	X("jobs", 'j', POPT_ARG_INT, &smz_opt.jobs, "N", "N worker threads (default 1)")

extern struct poptOption smz_opt_general[], smz_opt_vault[], smz_opt_ca[], smz_opt_unlock[],
	smz_opt_capass[], smz_opt_json[], smz_opt_jobs[], smz_opt_audit[];

/* --anchor: 0 not given, 1 given alone (*file NULL) or with FILE. */
int smz_opts_anchor(const char **file);

/* Print every long option of table (recursively), one a line, for the
 * completion generator ("option --NAME ARG", ARG "-" for none); a program
 * with verbs lists them before ("verb NAME"). */
void smz_opts_print_completion(FILE *f, const struct poptOption *table);

/* Resolve the vault directory: --vault, $SMZ_VAULT, then policy_path. */
const char *smz_opts_vault_dir(const char *policy_path);
/* Resolve the CA directory: --ca, $SMZ_CA, then policy_path. */
const char *smz_opts_ca_dir(const char *policy_path);

#endif
