#include "opts.h"

#include <stdlib.h>

struct smz_opts smz_opt = {.jobs = 1};

#define SMZ_POPT_ROW(name, sh, type, field, arg, help) {name, sh, type, field, 0, help, arg},
struct poptOption smz_opt_general[] = {
	SMZ_OPTS_GENERAL(SMZ_POPT_ROW){"smz-complete", 0,
				       POPT_ARG_NONE | POPT_ARGFLAG_DOC_HIDDEN,
				       &smz_opt.complete, 0, NULL, NULL},
	POPT_TABLEEND};
struct poptOption smz_opt_vault[] = {SMZ_OPTS_VAULT(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_ca[] = {SMZ_OPTS_CA(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_unlock[] = {SMZ_OPTS_UNLOCK(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_json[] = {SMZ_OPTS_JSON(SMZ_POPT_ROW) POPT_TABLEEND};
struct poptOption smz_opt_jobs[] = {SMZ_OPTS_JOBS(SMZ_POPT_ROW) POPT_TABLEEND};

void
smz_opts_print_completion(FILE *f, const struct poptOption *t, const char *const *verbs)
{
	for (; verbs && *verbs; verbs++)
		fprintf(f, "verb %s\n", *verbs);
	for (; t->longName || t->shortName || t->arg; t++) {
		if ((t->argInfo & POPT_ARG_MASK) == POPT_ARG_INCLUDE_TABLE) {
			smz_opts_print_completion(f, t->arg, NULL);
			continue;
		}
		if (!t->longName || (t->argInfo & POPT_ARGFLAG_DOC_HIDDEN))
			continue;
		fprintf(f, "option --%s %s\n", t->longName,
			t->argDescrip ? t->argDescrip : "-");
	}
}

const char *
smz_opts_vault_dir(const char *policy_path)
{
	if (smz_opt.vault)
		return smz_opt.vault;
	const char *env = getenv("SMZ_VAULT");
	if (env && *env)
		return env;
	return policy_path;
}
