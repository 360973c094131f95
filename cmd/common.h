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

/* Parse argv; returns -1 to go on, else the exit code (help, version,
 * usage error).  *ctx stays valid for leftover arguments. */
int cmd_start(int argc, const char **argv, struct poptOption *table, const char *const *verbs,
	      const char *args_help, poptContext *ctx);

/* Load the policy named by --policy / $SMZ_POLICY; -1 or an exit code. */
int cmd_policy(struct smz_policy *p);

void cmd_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "prog: unable to WHAT: why"; returns the exit code for rc. */
int cmd_fail(int rc, const struct smz_err *e, const char *what, ...)
	__attribute__((format(printf, 3, 4)));

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
