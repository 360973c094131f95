/* smz-api: the HTTPS REST API that mail gateways call, over mutual TLS,
 * to sign, encrypt, decrypt and verify mail with the vault's keys. */
#include "api.h"
#include "common.h"
#include "prog.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static struct poptOption table[] = {{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL,
				     NULL},
				    {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
				    {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_ca, 0, NULL, NULL},
				    POPT_TABLEEND};

/* the access log and errors, one line each, from any thread */
static void
log_line(void *arg, const char *line)
{
	(void)arg;
	flockfile(stderr);
	fprintf(stderr, "%s: %s\n", smz_prog_name(), line);
	fflush(stderr);
	funlockfile(stderr);
}

/* SIGHUP: the policy again, for the server key and certificate and the
 * allow list; a policy that does not load leaves everything as it was. */
static void
reload(struct smz_api *a)
{
	struct smz_policy np;
	struct smz_err e = {0};
	int rc;
	if (cmd_policy(&np) >= 0)
		return;
	if ((rc = smz_api_reload(a, &np, &e)))
		cmd_fail(rc, &e, "reload");
	else
		cmd_msg("reloaded the server certificate, [api] allow and crl, and the trust "
			"anchors");
	smz_policy_free(&np);
}

int
main(int argc, const char **argv)
{
	poptContext ctx;
	struct smz_policy pol;
	struct smz_err e = {0};
	int rc = cmd_start(argc, argv, table, NULL, "[OPTION...]", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	if (poptPeekArg(ctx))
		return cmd_usage("no arguments expected");
	/* blocked in every thread, taken by sigwait below */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* the gateway's scoped key only: never the officers' credentials */
	struct smz_unlock u = {NULL, NULL, pol.gateway_unlock_file, 1};
	struct smz_api_opts o = {&pol,
				 smz_opts_vault_dir(pol.vault_path),
				 pol.gateway_unlock_file[0] ? &u : NULL,
				 smz_opts_ca_dir(pol.ca_path),
				 log_line,
				 NULL};
	struct smz_api *a;
	if ((rc = smz_api_start(&o, &a, &e)))
		return cmd_fail(rc, &e, "start");
	cmd_msg("listening on %s port %d", pol.api_listen, smz_api_port(a));
	int sig = 0;
	while (sig != SIGTERM && sig != SIGINT)
		if (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
			reload(a);
	cmd_msg("stopping: finishing the requests in progress");
	smz_api_stop(a, 30);
	smz_policy_free(&pol);
	cmd_msg("stopped");
	return cmd_exit(0);
}
