#include "opts.h"

#include <stdlib.h>

/* popt sets an optional string argument to NULL when it is absent, so
 * --anchor starts at a sentinel to tell "absent" from "given alone". */
static const char anchor_unset[] = "";
struct smz_opts smz_opt = {.jobs = 1, .anchor = anchor_unset};

#define SMZ_POPT_ROW(name, sh, type, field, arg, help) {name, sh, type, field, 0, help, arg},
struct poptOption smz_opt_general[] =
	{SMZ_OPTS_GENERAL(SMZ_POPT_ROW){"smz-complete", 0, POPT_ARG_NONE | POPT_ARGFLAG_DOC_HIDDEN,
					&smz_opt.complete, 0, NULL, NULL},
	 POPT_TABLEEND};
struct poptOption smz_opt_vault[] = {SMZ_OPTS_VAULT(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_ca[] = {SMZ_OPTS_CA(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_unlock[] = {SMZ_OPTS_UNLOCK(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_capass[] = {SMZ_OPTS_CAPASS(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_json[] = {SMZ_OPTS_JSON(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_jobs[] = {SMZ_OPTS_JOBS(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_audit[] = {SMZ_OPTS_AUDIT(SMZ_POPT_ROW) POPT_TABLEEND};

int
smz_opts_anchor(const char **file)
{
	*file = smz_opt.anchor == anchor_unset ? NULL : smz_opt.anchor;
	return smz_opt.anchor != anchor_unset;
}

void
smz_opts_print_completion(FILE *f, const struct poptOption *t)
{
	for (; t->longName || t->shortName || t->arg; t++) {
		if ((t->argInfo & POPT_ARG_MASK) == POPT_ARG_INCLUDE_TABLE) {
			smz_opts_print_completion(f, t->arg);
			continue;
		}
		if (!t->longName || (t->argInfo & POPT_ARGFLAG_DOC_HIDDEN))
			continue;
		fprintf(f, "option --%s %s\n", t->longName, t->argDescrip ? t->argDescrip : "-");
	}
}

static const char *
resolve(const char *opt, const char *var, const char *policy_path)
{
	if (opt)
		return opt;
	const char *env = getenv(var);
	if (env && *env)
		return env;
	return policy_path && *policy_path ? policy_path : NULL;
}

const char *
smz_opts_vault_dir(const char *policy_path)
{
	return resolve(smz_opt.vault, "SMZ_VAULT", policy_path);
}

const char *
smz_opts_ca_dir(const char *policy_path)
{
	return resolve(smz_opt.ca, "SMZ_CA", policy_path);
}
