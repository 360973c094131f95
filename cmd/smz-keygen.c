/* smz-keygen: an HR roster in, one vaulted key and one CSR per employee out. */
#include "common.h"
#include "keypool.h"
#include "fileio.h"
#include "keygen.h"
#include "roster.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define ROSTER_MAX (256u << 20)

static struct {
	int addresses, new_key, list, reuse_key, pool;
	const char *delimiter;
	const char **columns;
} o;

static struct poptOption table[] =
	{{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_jobs, 0, NULL, NULL},
	 {"addresses", 0, POPT_ARG_NONE, &o.addresses, 0, "input is one mail address a line", NULL},
	 {"new-key", 0, POPT_ARG_NONE, &o.new_key, 0,
	  "add a new key even where the address has one", NULL},
	 {"reuse-key", 0, POPT_ARG_NONE, &o.reuse_key, 0,
	  "send again the stored CSR of each address's certified key (renewal with the same key)",
	  NULL},
	 {"pool", 0, POPT_ARG_INT, &o.pool, 0,
	  "generate N keys ahead of need into the key pool (vault/pool); no roster", "N"},
	 {"list", 0, POPT_ARG_NONE, &o.list, 0,
	  "print the roster as read (TSV: line, address, state, name, employee id); no keys", NULL},
	 {"delimiter", 0, POPT_ARG_STRING, &o.delimiter, 0,
	  "CSV delimiter: , ; or tab (default: detect)", "C"},
	 {"column", 0, POPT_ARG_ARGV, &o.columns, 0,
	  "take FIELD (email, given, surname, display, employee_id, status) from HEADER",
	  "FIELD=HEADER"},
	 POPT_TABLEEND};

static const char *input_name;

static void
report(void *arg, const struct smz_row *row, const char *usage, enum smz_keygen_event ev,
       const char *detail)
{
	(void)arg;
	char u[32] = "";
	if (usage && strcmp(usage, "dual") != 0)
		snprintf(u, sizeof u, " (%s key)", usage);
	const char *a = row->address;
	switch (ev) {
	case SMZ_KG_REJECTED:
		cmd_msg("%s:%zu: rejected: %s", input_name, row->line, detail);
		break;
	case SMZ_KG_LEFT:
		cmd_msg("%s:%zu: skipped: %s: left (status \"%s\")", input_name, row->line, a,
			detail);
		break;
	case SMZ_KG_EXISTS:
		if (smz_opt.verbose)
			cmd_msg("%s:%zu: skipped: %s%s: already has an active key", input_name,
				row->line, a, u);
		break;
	case SMZ_KG_RACED:
		cmd_msg("%s:%zu: skipped: %s%s: another process vaulted a key for it meanwhile",
			input_name, row->line, a, u);
		break;
	case SMZ_KG_RESENT:
		if (smz_opt.verbose)
			cmd_msg("%s:%zu: %s%s: CSR sent again (key vaulted, no certificate yet)",
				input_name, row->line, a, u);
		break;
	case SMZ_KG_FAILED:
		cmd_msg("%s:%zu: failed: %s%s: %s", input_name, row->line, a, u, detail);
		break;
	case SMZ_KG_GENERATED:
		if (smz_opt.verbose)
			cmd_msg("%s:%zu: %s%s: key vaulted, CSR written", input_name, row->line, a,
				u);
		break;
	}
}

/* A field for TSV: tabs and line breaks become spaces. */
static void
tsv_field(const char *v)
{
	for (; v && *v; v++)
		putchar(*v == '\t' || *v == '\n' || *v == '\r' ? ' ' : *v);
}

static int
list_roster(struct smz_roster *r)
{
	static const char *const states[] = {"active", "rejected", "left"};
	printf("line\taddress\tstate\tname\temployee_id\n");
	for (size_t i = 0; i < r->n; i++) {
		struct smz_row *row = &r->rows[i];
		if (row->outcome == SMZ_ROW_REJECTED) {
			cmd_msg("%s:%zu: rejected: %s", input_name, row->line,
				row->reason ? row->reason : "");
			continue;
		}
		printf("%zu\t%s\t%s\t", row->line, row->address, states[row->outcome]);
		if (row->field[SMZ_F_DISPLAY] && row->field[SMZ_F_DISPLAY][0]) {
			tsv_field(row->field[SMZ_F_DISPLAY]);
		} else {
			tsv_field(row->field[SMZ_F_GIVEN]);
			if (row->field[SMZ_F_GIVEN] && row->field[SMZ_F_SURNAME])
				putchar(' ');
			tsv_field(row->field[SMZ_F_SURNAME]);
		}
		putchar('\t');
		tsv_field(row->field[SMZ_F_EMPID]);
		putchar('\n');
	}
	int code = r->rejected ? EX_DATAERR : 0;
	smz_roster_free(r);
	return cmd_exit(code);
}

int
main(int argc, const char **argv)
{
	poptContext ctx;
	static struct smz_policy pol; /* freed at exit, after main returns */
	struct smz_err e = {0};
	int rc = cmd_start(argc, argv, table, NULL, "[OPTION...] [ROSTER.csv | -]", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	const char *path = poptGetArg(ctx);
	if (o.pool) { /* the key pool: keys now, addresses later */
		if (path || o.pool < 0 || o.pool > 1000000)
			return cmd_usage("--pool N takes no roster; N from 1 to 1000000");
		const char *vd = smz_opts_vault_dir(pol.vault_path[0] ? pol.vault_path : NULL);
		char dir[4200];
		if (!vd)
			return cmd_need(SMZ_NEED_VAULT, "no vault given", "fill the key pool");
		snprintf(dir, sizeof dir, "%s/pool", vd);
		size_t total = 0;
		if ((rc = smz_pool_fill(dir, pol.alg, (size_t)o.pool, &total, &e)))
			return cmd_fail(rc, &e, "fill the key pool");
		if (!smz_opt.quiet)
			cmd_msg("%d %s keys added to the pool in %s (%zu there)", o.pool,
				smz_alg_name(pol.alg), dir, total);
		return 0;
	}
	int delim = 0;
	if (o.delimiter)
		delim = strcmp(o.delimiter, "tab") == 0 || strcmp(o.delimiter, "\\t") == 0 ? '\t'
			: strlen(o.delimiter) == 1 && strchr(",;\t", o.delimiter[0])
				? o.delimiter[0]
				: -1;
	if (poptGetArg(ctx) || delim < 0 || (!path && isatty(STDIN_FILENO)))
		return cmd_usage(delim < 0 ? "--delimiter: expected , ; or tab"
					   : "expected one roster file, or - for standard input");
	if (pol.ndomains == 0) {
		smz_err_set(&e, SMZ_ERR_CONFIG, "%s has no [domains] allowed",
			    pol.source[0] ? pol.source : "the policy");
		return cmd_fail(SMZ_ERR_CONFIG, &e, "generate keys");
	}
	input_name = path && strcmp(path, "-") ? path : "(stdin)";
	char *data;
	size_t len;
	if ((rc = smz_file_read(path ? path : "-", ROSTER_MAX, &data, &len, &e)))
		return cmd_fail(rc, &e, "read the roster");
	struct smz_roster roster;
	struct smz_roster_opts ro = {o.addresses, (char)delim, o.columns};
	rc = smz_roster_parse(data, len, &ro, &pol, &roster, &e);
	free(data);
	if (rc)
		return cmd_fail(rc, &e, "read roster %s", input_name);
	if (o.list) /* the roster as smz reads it, for smz-provision's plan */
		return list_roster(&roster);
	struct smz_keygen_opts ko = {&pol,
				     smz_opts_vault_dir(pol.vault_path[0] ? pol.vault_path : NULL),
				     smz_opt.jobs,
				     o.new_key,
				     smz_opt.quiet ? NULL : stderr,
				     o.reuse_key,
				     report,
				     NULL};
	struct smz_keygen_stats st;
	rc = smz_keygen_run(&ko, &roster, stdout, &st, &e);
	smz_roster_free(&roster);
	if (st.pool_note[0]) /* a warning, even with -q: the pool needs looking at */
		cmd_msg("key pool: %s; keys were generated instead", st.pool_note);
	if (rc)
		return cmd_fail(rc, &e, "generate keys");
	if (!smz_opt.quiet)
		cmd_msg("%zu keys generated, %zu CSRs sent again, %zu skipped, %zu left, "
			"%zu rejected%s",
			st.generated, st.resent, st.skipped, st.left, st.rejected + st.failed,
			st.failed ? " (some failed)" : "");
	return cmd_exit(st.rejected || st.failed ? EX_DATAERR : 0);
}
