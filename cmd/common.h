/*
 * common: what every smz program's main() shares: start-up and option
 * parsing (help, usage, version, completion listing), messages in the one
 * form "prog: what: why", the error-to-exit-code path, and record output
 * as TSV with a header or JSON lines.
 */
#ifndef SMZ_CMD_COMMON_H
#define SMZ_CMD_COMMON_H

#include <jansson.h>
#include <popt.h>
#include "err.h"
#include "opts.h"
#include "policy.h"

/* A verb of a program with verbs (smz-vault list, smz-issue revoke): the
 * one table its --help, its completions and its dispatch come from.  fn
 * gets the arguments after the verb, NULL-terminated, already counted
 * against min_args and max_args (CMD_ANY: no limit). */
#define CMD_ANY (-1)
struct cmd_verb {
	const char *name;
	int (*fn)(int argc, const char *const *argv);
	int min_args, max_args;
	const char *args_help; /* e.g. "ADDRESS" or "[CERTS.pem | -]" */
	const char *help;      /* one line */
};

/* Parse argv; returns -1 to go on, else the exit code (help, version,
 * usage error).  *ctx stays valid for leftover arguments.  verbs (ending
 * in a NULL name) go into --help and the completion listing. */
int cmd_start(int argc, const char **argv, struct poptOption *table, const struct cmd_verb *verbs,
	      const char *args_help, poptContext *ctx);

/* Run the verb the first argument names, with the others; when it names
 * none and dflt is a verb's name, that verb with every argument.  An
 * unknown verb or a wrong number of arguments is a usage error.  Returns
 * the exit code (through cmd_exit). */
int cmd_verb_run(const struct cmd_verb *verbs, const char *dflt);

/* Load the policy named by --policy / $SMZ_POLICY; -1 or an exit code. */
int cmd_policy(struct smz_policy *p);

/* "prog: message", for notes and summaries. */
void cmd_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "prog: message (see --help)": a usage error; returns EX_USAGE. */
int cmd_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "prog: unable to WHAT: why", with what e->need says to give in the
 * program's own options ("no vault given (--vault DIR, ...)"); returns the
 * exit code for rc. */
int cmd_fail(int rc, const struct smz_err *e, const char *what, ...)
	__attribute__((format(printf, 3, 4)));

/* cmd_fail for a check the program makes itself: "unable to WHAT: why
 * (how to give it)", exit EX_USAGE. */
int cmd_need(enum smz_need need, const char *why, const char *what);

/* One record out: TSV in cols order, or a JSON line of those fields. */
void cmd_header(const char *const *cols);
int cmd_record(json_t *rec, const char *const *cols);

/* Open a record stream: arg, "-" or (no arg, stdin not a terminal) stdin.
 * NULL with *code set (usage or no input) on failure; what names the
 * records in messages, e.g. "certificates". */
FILE *cmd_open_stream(const char *arg, const char *what, int *code);

/* The audit verb of smz-vault and smz-issue.  cmd_audit_args checks its
 * options and argument before the log is opened: -1 and *anchors (the
 * anchor file with --verify, else NULL), or the exit code.  cmd_audit then
 * prints the log as TSV/JSON; with --verify checks its chain and any
 * anchors ("audit: OK (N entries)", exit 1 on FAIL); with --anchor alone
 * prints the anchor line of its head. */
struct smz_audit;
int cmd_audit_args(const char *arg, const char **anchors);
int cmd_audit(const struct smz_audit *au, const char *anchors);

/* Exit code after flushing stdout: a write error is EX_IOERR. */
int cmd_exit(int code);

#endif
