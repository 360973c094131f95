/* smz-vault: create, unlock and inspect the key vault. */
#include "addr.h"
#include "attach.h"
#include "common.h"
#include "dbenv.h"
#include "pem.h"
#include "secmem.h"
#include "vault.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static struct {
	int shares, threshold, verify;
	const char *share_out, *new_passphrase_file;
} o;

static struct poptOption table[] = {
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_unlock, 0, NULL, NULL},
	{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_json, 0, NULL, NULL},
	{"shares", 0, POPT_ARG_INT, &o.shares, 0, "init, reshare: split the secret into N shares",
	 "N"},
	{"threshold", 0, POPT_ARG_INT, &o.threshold, 0, "init, reshare: M shares unlock", "M"},
	{"share-out", 0, POPT_ARG_STRING, &o.share_out, 0,
	 "init, reshare: write share-K-of-N.txt files here", "DIR"},
	{"new-passphrase-file", 0, POPT_ARG_STRING, &o.new_passphrase_file, 0,
	 "passwd: the new passphrase", "FILE"},
	{"verify", 0, POPT_ARG_NONE, &o.verify, 0, "audit: verify the hash chain", NULL},
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
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares};
	if (unlock && (rc = smz_vault_unlock(*v, &u, why, &e))) {
		smz_vault_close(*v);
		return cmd_fail(rc, &e, "unlock the vault");
	}
	return -1;
}

static int
v_init(const char *arg)
{
	struct smz_secret pass = {0};
	int rc = 0;
	if (arg || smz_opt.shares) {
		cmd_msg("init takes no argument and no --share (see --help)");
		return EX_USAGE;
	}
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

static const char *const list_cols[] = {"address", "key_id", "algorithm", "created", "state",
					NULL};

/* One listing row per address of a record. */
static int
list_cb(void *arg, json_t *rec)
{
	const char *only = arg;
	char when[32];
	smz_time_iso(json_integer_value(json_object_get(rec, "created")), when);
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		char k1[SMZ_ADDR_MAX], k2[SMZ_ADDR_MAX];
		smz_addr_key(json_string_value(a), 0, k1);
		if (only) {
			smz_addr_key(only, 0, k2);
			if (strcmp(k1, k2) != 0)
				continue;
		}
		json_t *row = json_pack("{s:O,s:O,s:O,s:s,s:O}", "address", a, "key_id",
					json_object_get(rec, "key_id"), "algorithm",
					json_object_get(rec, "alg"), "created", when, "state",
					json_object_get(rec, "state"));
		int r = row ? cmd_record(row, list_cols) : -1;
		json_decref(row);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int
v_list(const char *arg)
{
	struct smz_vault *v;
	int rc = arg ? (cmd_msg("list takes no argument"), EX_USAGE) : open_vault(&v, 0, NULL);
	if (rc >= 0)
		return rc;
	cmd_header(list_cols);
	rc = smz_vault_foreach(v, list_cb, NULL, &e);
	smz_vault_close(v);
	return rc ? cmd_fail(rc, &e, "list the vault") : 0;
}

static int
v_history(const char *arg)
{
	char addr[SMZ_ADDR_MAX];
	struct smz_vault *v;
	if (!arg) {
		cmd_msg("history needs an ADDRESS");
		return EX_USAGE;
	}
	int rc = smz_addr_normalize(arg, addr, &e);
	if (rc)
		return cmd_fail(rc, &e, "look up %s", arg);
	if ((rc = open_vault(&v, 0, NULL)) >= 0)
		return rc;
	cmd_header(list_cols);
	rc = smz_vault_history(v, addr, pol.local_part_sensitive, list_cb, addr, &e);
	smz_vault_close(v);
	return rc ? cmd_fail(rc, &e, "show the history of %s", addr) : 0;
}

static int
v_show(const char *arg)
{
	struct smz_vault *v;
	json_t *rec;
	if (!arg) {
		cmd_msg("show needs a KEYID");
		return EX_USAGE;
	}
	int rc = open_vault(&v, 0, NULL);
	if (rc >= 0)
		return rc;
	rc = smz_vault_get(v, arg, &rec, &e);
	smz_vault_close(v);
	if (rc)
		return cmd_fail(rc, &e, "show key %s", arg);
	json_object_del(rec, "sealed"); /* ciphertext: of no use to a reader */
	json_object_set_new(rec, "certificates",
			    json_integer((json_int_t)json_array_size(json_object_get(rec, "certs"))));
	char t[32];
	smz_time_iso(json_integer_value(json_object_get(rec, "created")), t);
	json_object_set_new(rec, "created", json_string(t));
	smz_time_iso(json_integer_value(json_object_get(rec, "state_changed")), t);
	json_object_set_new(rec, "state_changed", json_string(t));
	json_object_set(rec, "algorithm", json_object_get(rec, "alg"));
	static const char *const cols[] = {"key_id", "addresses", "algorithm", "usage", "source",
					   "created", "state", "state_changed", "certificates",
					   "csr", NULL};
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
		size_t cap = csr ? strlen(csr) : 0, len = 0;
		unsigned char *der = cap ? malloc(cap) : NULL;
		if (der && smz_unb64(csr, der, cap, &len) == 0)
			smz_pem_write(stdout, "CERTIFICATE REQUEST", der, len);
		free(der);
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
v_check(const char *arg)
{
	struct smz_vault *v;
	int deep = smz_opt.passphrase_file || smz_opt.shares;
	int rc = arg ? (cmd_msg("check takes no argument"), EX_USAGE)
		     : open_vault(&v, deep, "smz-vault check");
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
	return bad ? 1 : 0;
}

static int
v_audit(const char *arg)
{
	struct smz_vault *v;
	int rc = arg ? (cmd_msg("audit takes no argument"), EX_USAGE) : open_vault(&v, 0, NULL);
	if (rc >= 0)
		return rc;
	struct smz_audit au;
	smz_vault_audit_log(v, &au);
	rc = cmd_audit(&au, o.verify);
	smz_vault_close(v);
	return rc;
}

static int
v_passwd(const char *arg)
{
	struct smz_vault *v;
	struct smz_secret pass = {0};
	if (arg || !o.new_passphrase_file) {
		cmd_msg("passwd needs --new-passphrase-file FILE and no argument");
		return EX_USAGE;
	}
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

static int
v_reshare(const char *arg)
{
	struct smz_vault *v;
	if (arg || !o.shares || !o.threshold || !o.share_out) {
		cmd_msg("reshare needs --shares N --threshold M --share-out DIR");
		return EX_USAGE;
	}
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
v_attach(const char *arg)
{
	const char *path = arg ? arg : "-";
	if (!arg && isatty(STDIN_FILENO)) {
		cmd_msg("expected a certificate stream on standard input or a file");
		return EX_USAGE;
	}
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!in) {
		smz_err_set(&e, SMZ_ERR_NOINPUT, "%s: %m", path);
		return cmd_fail(SMZ_ERR_NOINPUT, &e, "read the certificates");
	}
	struct smz_attach_opts ao = {&pol, dir, smz_opt.quiet, attach_report,
				     (void *)(in == stdin ? "(stdin)" : path)};
	struct smz_attach_stats st;
	int rc = smz_attach_run(&ao, in, stdout, &st, &e);
	if (in != stdin)
		fclose(in);
	if (rc)
		return cmd_fail(rc, &e, "attach certificates");
	if (!smz_opt.quiet)
		cmd_msg("%zu attached, %zu already attached, %zu rejected", st.attached,
			st.unchanged, st.rejected);
	return st.rejected ? EX_DATAERR : 0;
}

static const struct {
	const char *name;
	int (*fn)(const char *arg);
} verbs[] = {
	{"attach", v_attach},
	{"init", v_init},     {"list", v_list},       {"history", v_history}, {"show", v_show},
	{"check", v_check},   {"audit", v_audit},     {"passwd", v_passwd},   {"reshare", v_reshare},
};
static const char *const verb_names[] = {"init",  "list",   "history", "show",   "check",
					 "audit", "passwd", "reshare", "attach", NULL};

int
main(int argc, const char **argv)
{
	poptContext ctx;
	int rc = cmd_start(argc, argv, table, verb_names, "[OPTION...] VERB [ARG]", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	dir = smz_opts_vault_dir(pol.vault_path[0] ? pol.vault_path : NULL);
	const char *verb = poptGetArg(ctx), *arg = poptGetArg(ctx);
	for (size_t i = 0; verb && i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(verb, verbs[i].name) == 0) {
			if (poptGetArg(ctx)) {
				cmd_msg("%s: too many arguments", verb);
				return EX_USAGE;
			}
			rc = verbs[i].fn(arg);
							return cmd_exit(rc);
		}
	cmd_msg("%s%s: expected a verb: init, list, history, show, check, audit, passwd, reshare, attach",
		verb ? "unknown verb " : "no verb", verb ? verb : "");
	return EX_USAGE;
}
