#include "common.h"
#include "audit.h"
#include "prog.h"
#include "secret.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static int out_errno; /* errno of the first failed write to stdout */

static void
vmsg(const char *fmt, va_list ap, const char *tail)
{
	fprintf(stderr, "%s: ", smz_prog_name());
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "%s\n", tail);
}

void
cmd_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap, "");
	va_end(ap);
}

int
cmd_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap, " (see --help)");
	va_end(ap);
	return EX_USAGE;
}

/* How each program takes what lib says it needs (enum smz_need): the
 * options are the same in every program (lib/opts). */
static const char *const need_hint[SMZ_NEED_COUNT] = {
	[SMZ_NEED_VAULT] = "--vault DIR, $SMZ_VAULT or policy [vault] path",
	[SMZ_NEED_CA] = "--ca DIR, $SMZ_CA or policy [ca] path",
	[SMZ_NEED_UNLOCK] = "--passphrase-file FILE or --share FILE, M times",
	[SMZ_NEED_PASSPHRASE] = "--passphrase-file FILE",
	[SMZ_NEED_SHARES] = "--share FILE, M times",
	[SMZ_NEED_SECRET] = "--passphrase-file FILE, --shares N --threshold M --share-out DIR, "
			    "or both",
	[SMZ_NEED_SHARE_SETUP] = "--shares N --threshold M --share-out DIR",
	[SMZ_NEED_CA_PASSPHRASE] = "--passphrase-file FILE",
	[SMZ_NEED_ROOT_PASSPHRASE] = "--root-passphrase-file FILE",
	[SMZ_NEED_FORCE] = "--force if it is right",
	[SMZ_NEED_TLS_CA] = "--tls-ca FILE",
	[SMZ_NEED_ADDRESS_COLUMN] = "--column email=HEADER",
	[SMZ_NEED_KEY_UNLOCK] = "--passphrase-file FILE, --share FILE M times, or policy [gateway] "
				"unlock_file",
};

int
cmd_fail(int rc, const struct smz_err *e, const char *what, ...)
{
	char buf[512];
	va_list ap;
	/* A reader that went away (| head) is not an error worth a word. */
	if (rc == SMZ_ERR_IO && ferror(stdout) && (out_errno == EPIPE || errno == EPIPE))
		return 0;
	va_start(ap, what);
	vsnprintf(buf, sizeof buf, what, ap);
	va_end(ap);
	const char *hint = e && e->need > 0 && e->need < SMZ_NEED_COUNT ? need_hint[e->need] : NULL;
	fprintf(stderr, "%s: unable to %s: %s%s%s%s\n", smz_prog_name(), buf,
		e && e->msg[0] ? e->msg : smz_strerror(rc), hint ? " (" : "", hint ? hint : "",
		hint ? ")" : "");
	return smz_exit_code(rc);
}

int
cmd_need(enum smz_need need, const char *why, const char *what)
{
	struct smz_err e;
	smz_err_need(&e, SMZ_ERR_USAGE, need, "%s", why);
	return cmd_fail(SMZ_ERR_USAGE, &e, "%s", what);
}

static poptContext the_ctx;
static struct smz_policy *the_policy;

/* Every exit path frees what main() got here, so that leak checkers see
 * only real leaks. */
static void
cleanup(void)
{
	if (the_ctx)
		poptFreeContext(the_ctx);
	if (the_policy)
		smz_policy_free(the_policy);
	the_ctx = NULL;
	the_policy = NULL;
}

static void
print_verbs(const struct cmd_verb *verbs)
{
	int w = 0;
	for (const struct cmd_verb *v = verbs; v->name; v++) {
		int l = (int)strlen(v->name) +
			(v->args_help[0] ? 1 + (int)strlen(v->args_help) : 0);
		w = l > w ? l : w;
	}
	printf("\nVerbs:\n");
	for (const struct cmd_verb *v = verbs; v->name; v++) {
		int l = printf("  %s%s%s", v->name, v->args_help[0] ? " " : "", v->args_help);
		printf("%*s%s\n", w + 4 - l, "", v->help);
	}
}

int
cmd_start(int argc, const char **argv, struct poptOption *table, const struct cmd_verb *verbs,
	  const char *args_help, poptContext *ctx)
{
	if (smz_prog_init(argv[0]) < 0) {
		fprintf(stderr, "%s: unable to start: cannot make the process safe\n", argv[0]);
		return EX_OSERR;
	}
	*ctx = the_ctx = poptGetContext(smz_prog_name(), argc, argv, table, 0);
	atexit(cleanup);
	poptSetOtherOptionHelp(*ctx, args_help);
	int r;
	while ((r = poptGetNextOpt(*ctx)) > 0)
		;
	if (r < -1)
		return cmd_usage("%s: %s", poptBadOption(*ctx, POPT_BADOPTION_NOALIAS),
				 poptStrerror(r));
	if (smz_opt.help) {
		poptPrintHelp(*ctx, stdout, 0);
		if (verbs)
			print_verbs(verbs);
		return cmd_exit(0);
	}
	if (smz_opt.usage) {
		poptPrintUsage(*ctx, stdout, 0);
		return cmd_exit(0);
	}
	if (smz_opt.version) {
		printf("%s (smz) %s\n", smz_prog_name(), SMZ_VERSION);
		return cmd_exit(0);
	}
	if (smz_opt.complete) {
		for (const struct cmd_verb *v = verbs; v && v->name; v++)
			printf("verb %s\n", v->name);
		smz_opts_print_completion(stdout, table);
		return cmd_exit(0);
	}
	if (smz_opt.jobs < 1 || smz_opt.jobs > 64)
		return cmd_usage("-j %d: expected 1 to 64 workers", smz_opt.jobs);
	const char *note = smz_opt.verbose ? smz_secret_heap_note() : NULL;
	if (note)
		cmd_msg("note: %s", note);
	return -1;
}

/* "init, list, history, ..." for usage messages */
static const char *
verb_list(const struct cmd_verb *verbs, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (const struct cmd_verb *v = verbs; v->name && n < cap; v++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", v == verbs ? "" : ", ", v->name);
	return buf;
}

int
cmd_verb_run(const struct cmd_verb *verbs, const char *dflt)
{
	static const char *const none[] = {NULL};
	const char *name = poptPeekArg(the_ctx);
	const struct cmd_verb *v = verbs;
	while (v->name && !(name && strcmp(name, v->name) == 0))
		v++;
	if (v->name)
		poptGetArg(the_ctx);
	else if (dflt)
		for (v = verbs; v->name && strcmp(v->name, dflt) != 0; v++)
			;
	char list[512];
	if (!v->name && !name)
		return cmd_usage("no verb given; the verbs are %s",
				 verb_list(verbs, list, sizeof list));
	if (!v->name)
		return cmd_usage("%s: unknown verb; the verbs are %s", name,
				 verb_list(verbs, list, sizeof list));
	const char *const *args = (const char *const *)poptGetArgs(the_ctx);
	int n = 0;
	while (args && args[n])
		n++;
	if (n < v->min_args)
		return cmd_usage("%s needs %s", v->name, v->args_help);
	if (v->max_args == 0 && n > 0)
		return cmd_usage("%s takes no argument", v->name);
	if (v->max_args != CMD_ANY && n > v->max_args)
		return cmd_usage("%s takes at most %d argument%s: %s", v->name, v->max_args,
				 v->max_args == 1 ? "" : "s", v->args_help);
	return cmd_exit(v->fn(n, args ? args : none));
}

int
cmd_policy(struct smz_policy *p)
{
	struct smz_err e = {0};
	int rc = smz_policy_load(smz_opt.policy, p, &e);
	if (!rc)
		the_policy = p;
	if (rc)
		return cmd_fail(rc, &e, "load the policy");
	return -1;
}

void
cmd_header(const char *const *cols)
{
	if (smz_opt.json)
		return;
	for (const char *const *c = cols; *c; c++)
		printf("%s%s", *c, c[1] ? "\t" : "\n");
}

static void
tsv_field(json_t *v)
{
	if (json_is_string(v)) {
		/* a tab or line break inside a field would break the record */
		for (const char *s = json_string_value(v); *s; s++)
			putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
	} else if (json_is_integer(v)) {
		printf("%lld", (long long)json_integer_value(v));
	} else if (v && !json_is_null(v)) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		fputs(s ? s : "", stdout);
		free(s);
	}
}

int
cmd_record(json_t *rec, const char *const *cols)
{
	if (smz_opt.json) {
		json_t *o = json_object();
		for (const char *const *c = cols; *c; c++)
			if (json_object_get(rec, *c))
				json_object_set(o, *c, json_object_get(rec, *c));
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (!s)
			return -1;
		puts(s);
		free(s);
	} else {
		for (const char *const *c = cols; *c; c++) {
			tsv_field(json_object_get(rec, *c));
			putchar(c[1] ? '\t' : '\n');
		}
	}
	if (!ferror(stdout))
		return 0;
	if (!out_errno)
		out_errno = errno;
	return -1;
}

int
cmd_exit(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE || out_errno == EPIPE)
			return code;
		cmd_msg("unable to write to standard output: %s", strerror(errno));
		return code ? code : EX_IOERR;
	}
	return code;
}

static const char *const audit_cols[] = {"seq",	    "time",   "actor", "op",
					 "subject", "reason", "hash",  NULL};

static int
audit_cb(void *arg, json_t *entry)
{
	(void)arg;
	return cmd_record(entry, audit_cols);
}

int
cmd_audit_args(const char *arg, const char **anchors)
{
	const char *file;
	int anchor = smz_opts_anchor(&file);
	/* popt leaves FILE an argument in "--anchor --verify FILE" and in
	 * "--anchor -" (a lone dash is never taken as an option's value) */
	if (anchor && !file && smz_opt.verify && arg)
		file = arg, arg = NULL;
	if (arg)
		return cmd_usage("audit takes no argument");
	if (anchor && smz_opt.verify && !file)
		return cmd_usage("audit --verify --anchor needs the FILE of anchors");
	if (anchor && !smz_opt.verify && file)
		return cmd_usage("audit --anchor FILE checks anchors only with --verify; --anchor "
				 "alone prints one");
	*anchors = smz_opt.verify ? file : NULL;
	return -1;
}

static int
anchor_report(void *arg, const struct smz_audit_anchor *a, const char *fail)
{
	size_t *bad = arg;
	if (fail) {
		++*bad;
		printf("audit: FAIL: anchor seq=%zu (line %zu): %s\n", a->seq, a->line, fail);
	} else if (smz_opt.verbose)
		printf("audit: anchor seq=%zu (line %zu): OK\n", a->seq, a->line);
	return ferror(stdout) ? -1 : 0;
}

static int
audit_anchored(const struct smz_audit *au, const char *file)
{
	struct smz_err e = {0};
	struct smz_audit_anchor *a = NULL;
	size_t na = 0, n = 0, bad = 0;
	int rc = smz_audit_anchors_read(file, &a, &na, &e);
	if (rc)
		return cmd_fail(rc, &e, "read the anchors");
	rc = smz_audit_verify_anchors(au, a, na, &n, anchor_report, &bad, &e);
	free(a);
	/* a failed anchor was reported on its own line; a broken chain was not */
	if (rc == SMZ_ERR_VERIFY && !bad)
		printf("audit: FAIL: %s\n", e.msg);
	if (rc == SMZ_ERR_VERIFY)
		return smz_exit_code(rc);
	if (!rc)
		printf("audit: OK (%zu entries, %zu anchor%s)\n", n, na, na == 1 ? "" : "s");
	return rc ? cmd_fail(rc, &e, "read the audit log") : 0;
}

int
cmd_audit(const struct smz_audit *au, const char *anchors)
{
	struct smz_err e = {0};
	size_t n = 0;
	int rc;
	const char *file;
	if (smz_opt.verify && anchors)
		return audit_anchored(au, anchors);
	if (smz_opt.verify) {
		rc = smz_audit_verify(au, &n, &e);
		if (rc == SMZ_ERR_VERIFY) {
			printf("audit: FAIL: %s\n", e.msg);
			return smz_exit_code(rc);
		}
		if (!rc)
			printf("audit: OK (%zu entries)\n", n);
	} else if (smz_opts_anchor(&file)) {
		/* only a chain that verifies is anchored; a failure goes to
		 * stderr, not into the file the anchor is appended to */
		struct smz_audit_anchor a;
		char line[256];
		if ((rc = smz_audit_anchor(au, &a, &e)))
			return cmd_fail(rc, &e, "anchor the audit log");
		smz_audit_anchor_format(&a, line, sizeof line);
		puts(line);
	} else {
		cmd_header(audit_cols);
		rc = smz_audit_walk(au, audit_cb, NULL, &e);
	}
	return rc ? cmd_fail(rc, &e, "read the audit log") : 0;
}

FILE *
cmd_open_stream(const char *arg, const char *what, int *code)
{
	if (!arg && isatty(STDIN_FILENO)) {
		*code = cmd_usage("expected %s on standard input or in a file", what);
		return NULL;
	}
	if (!arg || strcmp(arg, "-") == 0)
		return stdin;
	FILE *f = fopen(arg, "r");
	if (!f) {
		struct smz_err e;
		smz_err_set(&e, SMZ_ERR_NOINPUT, "%s: %s", arg, strerror(errno));
		*code = cmd_fail(SMZ_ERR_NOINPUT, &e, "read %s", what);
	}
	return f;
}
