/* smz-sign: sign, encrypt, decrypt and verify mail on users' behalf. */
#include "common.h"
#include "mailbox.h"
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static struct {
	int sign, encrypt, decrypt, verify, opaque, batch;
	const char *as, *trust, *crl, *rsa, *cipher, *suffix, *ldap, *tls_ca, *sender, *for_addr;
	const char **to, **certs;
} o = {.suffix = ".smz"};

static struct poptOption table[] =
	{{NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_general, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_vault, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_ca, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_unlock, 0, NULL, NULL},
	 {NULL, 0, POPT_ARG_INCLUDE_TABLE, smz_opt_jobs, 0, NULL, NULL},
	 {"sign", 0, POPT_ARG_NONE, &o.sign, 0, "sign as the From: address (or --as)", NULL},
	 {"encrypt", 0, POPT_ARG_NONE, &o.encrypt, 0,
	  "encrypt to To/Cc/Bcc (or --to) and the sender; after --sign when both", NULL},
	 {"decrypt", 0, POPT_ARG_NONE, &o.decrypt, 0, "decrypt with the vaulted key", NULL},
	 {"verify", 0, POPT_ARG_NONE, &o.verify, 0,
	  "check the signature; print OK signer=... or FAIL reason", NULL},
	 {"as", 0, POPT_ARG_STRING, &o.as, 0, "sign as this address", "ADDR"},
	 {"sender", 0, POPT_ARG_STRING, &o.sender, 0,
	  "--sign: the authenticated submitter; sign only when every From: and Sender: "
	  "mailbox is one of its own (else exit 77)",
	  "ADDR"},
	 {"for", 0, POPT_ARG_STRING, &o.for_addr, 0,
	  "--decrypt: use only the keys of this recipient (else exit 77)", "ADDR"},
	 {"opaque", 0, POPT_ARG_NONE, &o.opaque, 0,
	  "opaque signed-data instead of multipart/signed", NULL},
	 {"to", 0, POPT_ARG_ARGV, &o.to, 0, "encrypt to this address (repeat)", "ADDR"},
	 {"cert", 0, POPT_ARG_ARGV, &o.certs, 0,
	  "recipient certificates (PEM) beside the vault's (repeat)", "FILE"},
	 {"ldap", 0, POPT_ARG_STRING, &o.ldap, 0,
	  "also look recipient certificates up in this directory (policy [ldap] base and "
	  "filter; - = policy [ldap] uri)",
	  "URI"},
	 {"tls-ca", 0, POPT_ARG_STRING, &o.tls_ca, 0, "--ldap: trust this CA file for TLS", "FILE"},
	 {"trust", 0, POPT_ARG_STRING, &o.trust, 0,
	  "trust anchors for signers and recipients (PEM; default: policy [smime] trust, else "
	  "the CA's root.pem)",
	  "FILE"},
	 {"crl", 0, POPT_ARG_STRING, &o.crl, 0,
	  "check signers and recipients against this CRL (PEM or DER)", "FILE"},
	 {"rsa-transport", 0, POPT_ARG_STRING, &o.rsa, 0,
	  "RSA recipients: auto | pkcs1 | oaep (default: policy [smime], else auto)", "HOW"},
	 {"cipher", 0, POPT_ARG_STRING, &o.cipher, 0,
	  "auto | aes256-cbc | aes256-gcm (default: policy [smime], else auto)", "CIPHER"},
	 {"batch", 0, POPT_ARG_NONE, &o.batch, 0,
	  "many messages: MESSAGE args and paths on stdin, each result written beside it", NULL},
	 {"suffix", 0, POPT_ARG_STRING, &o.suffix, 0, "--batch: output name suffix (default .smz)",
	  "SUF"},
	 POPT_TABLEEND};

static struct smz_policy pol;
static struct smz_trust trust;
static char **paths;
static size_t npaths;

static void
cleanup(void)
{
	smz_trust_free(&trust);
	smz_mailbox_paths_free(paths, npaths);
}

static void
report(void *arg, const struct smz_workers_report *r)
{
	(void)arg;
	if (r->result) {
		printf("%s\n", r->text);
		fflush(stdout);
	} else if (r->what) {
		cmd_fail(r->code, r->err, "%s", r->what);
	} else if (r->text) {
		cmd_msg("%s", r->text);
	}
}

/* The options that go together; -1 or EX_USAGE. */
static int
check(int ops)
{
	const char *bad = NULL;
	if (!ops ||
	    ((ops & (SMZ_SMIME_SIGN | SMZ_SMIME_ENCRYPT)) &&
	     (ops & (SMZ_SMIME_DECRYPT | SMZ_SMIME_VERIFY))) ||
	    ops == (SMZ_SMIME_DECRYPT | SMZ_SMIME_VERIFY))
		bad = "expected one of --sign, --encrypt, --sign --encrypt, --decrypt, --verify";
	else if ((o.as || o.opaque || o.sender) && !o.sign)
		bad = "--as, --opaque and --sender go with --sign";
	else if (o.for_addr && !o.decrypt)
		bad = "--for goes with --decrypt";
	else if ((o.to || o.certs || o.rsa || o.cipher || o.ldap || o.tls_ca) && !o.encrypt)
		bad = "--to, --cert, --ldap, --tls-ca, --rsa-transport and --cipher go with "
		      "--encrypt";
	else if ((o.trust || o.crl) && !o.verify && !o.decrypt && !o.encrypt)
		bad = "--trust and --crl go with --verify, --decrypt or --encrypt";
	return bad ? cmd_usage("%s", bad) : -1;
}

/* Recipient certificates, the CA certificate to send along, and the
 * anchors (with a CRL) signers and recipients must chain to; -1 or the
 * exit code. */
static int
load_trust(void)
{
	struct smz_err e = {0};
	const char *cadir = smz_opts_ca_dir(pol.ca_path), *f;
	char path[1200];
	int rc;
	for (const char **c = o.certs; c && *c; c++)
		if ((rc = smz_trust_certs(&trust, *c, &e)))
			return cmd_fail(rc, &e, "read %s", *c);
	if ((f = smz_trust_ca_file(cadir, "issuing.pem", path, sizeof path)) &&
	    (rc = smz_trust_chain(&trust, f, &e)))
		return cmd_fail(rc, &e, "read the CA certificate");
	if (!o.verify && !o.decrypt && !o.encrypt)
		return -1;
	f = o.trust ? o.trust : pol.smime_trust[0] ? pol.smime_trust : NULL;
	if (!f)
		f = smz_trust_ca_file(cadir, "root.pem", path, sizeof path);
	/* recipient certificates are used only when they chain to an anchor */
	if (!f && (o.verify || o.encrypt))
		return cmd_usage("no trust anchors: give --trust FILE, policy [smime] trust, or "
				 "--ca DIR (its root.pem)");
	if ((rc = smz_trust_anchors(&trust, f, &e)))
		return cmd_fail(rc, &e, "read the trust anchors");
	if (o.crl && (rc = smz_trust_crl(&trust, o.crl, &e)))
		return cmd_fail(rc, &e, "read the CRL %s", o.crl);
	return -1;
}

int
main(int argc, const char **argv)
{
	poptContext ctx;
	struct smz_err e = {0};
	int rc = cmd_start(argc, argv, table, NULL,
			   "[OPTION...] --sign|--encrypt|--decrypt|--verify [MESSAGE | -]", &ctx);
	if (rc >= 0 || (rc = cmd_policy(&pol)) >= 0)
		return rc;
	atexit(cleanup);
	int ops = (o.sign ? SMZ_SMIME_SIGN : 0) | (o.encrypt ? SMZ_SMIME_ENCRYPT : 0) |
		  (o.decrypt ? SMZ_SMIME_DECRYPT : 0) | (o.verify ? SMZ_SMIME_VERIFY : 0);
	if ((rc = check(ops)) >= 0)
		return rc;
	struct smz_signer_opts so = {.ops = ops,
				     .suffix = o.suffix,
				     .quiet = smz_opt.quiet,
				     .verbose = smz_opt.verbose,
				     .report = report};
	so.cfg.local_sensitive = pol.local_part_sensitive;
	so.cfg.opaque = o.opaque;
	so.cfg.as = o.as;
	so.cfg.sender = o.sender;
	so.cfg.recipient = o.for_addr;
	so.cfg.refuse = pol.smime_refuse;
	so.cfg.to = o.to;
	so.cfg.rsa_transport = pol.rsa_transport;
	so.cfg.content_cipher = pol.content_cipher;
	static const char *const rsa_l[] = {"auto", "pkcs1", "oaep", NULL};
	static const char *const ciph_l[] = {"auto", "aes256-cbc", "aes256-gcm", NULL};
	if ((o.rsa && smz_choice(o.rsa, rsa_l, &so.cfg.rsa_transport)) ||
	    (o.cipher && smz_choice(o.cipher, ciph_l, &so.cfg.content_cipher)))
		return cmd_usage("--rsa-transport: auto | pkcs1 | oaep; --cipher: auto | "
				 "aes256-cbc | aes256-gcm");
	const char *arg = o.batch ? NULL : poptGetArg(ctx);
	if (!o.batch && poptPeekArg(ctx))
		return cmd_usage("one MESSAGE at a time; --batch for many");
	if (!o.batch && smz_opt.jobs > 1)
		return cmd_usage("-j goes with --batch");
	/* --batch: MESSAGE arguments, then lines of stdin (unless a tty) */
	if (o.batch && (rc = smz_mailbox_paths((const char *const *)poptGetArgs(ctx),
					       isatty(0) ? NULL : stdin, &paths, &npaths)))
		return cmd_fail(rc, NULL, "read the paths");
	int in = 0;
	if (!o.batch && arg && strcmp(arg, "-") != 0 &&
	    (in = open(arg, O_RDONLY | O_CLOEXEC)) < 0) {
		smz_err_set(&e, SMZ_ERR_NOINPUT, "%s: %s", arg, strerror(errno));
		return cmd_fail(SMZ_ERR_NOINPUT, &e, "read the message");
	}
	if ((rc = load_trust()) >= 0)
		return rc;
	so.trust = &trust;
	/* the vault: needed to sign and decrypt; verify uses it for encrypted mail */
	so.vault_dir = smz_opts_vault_dir(pol.vault_path);
	if (!so.vault_dir && (o.sign || o.decrypt))
		return cmd_need(SMZ_NEED_VAULT, "no vault given", o.sign ? "sign" : "decrypt");
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares,
			       pol.gateway_unlock_file[0] ? pol.gateway_unlock_file : NULL, 1};
	so.unlock = u.passphrase_file || u.shares || u.gateway_file ? &u : NULL;
	const char *uri = !o.ldap || strcmp(o.ldap, "-") != 0 ? o.ldap : pol.ldap_uri;
	struct smz_dir_opts po = {.uri = uri && uri[0] ? uri : "ldapi:///",
				  .base = pol.ldap_base,
				  .filter = pol.ldap_filter,
				  .starttls = -1,
				  .tls_ca = o.tls_ca,
				  .timeout = 10};
	so.ldap = o.ldap ? &po : NULL;
	so.jobs = (size_t)smz_opt.jobs;
	rc = o.batch ? smz_signer_batch(&so, (const char *const *)paths, npaths, &e)
		     : smz_signer_one(&so, in, o.verify ? NULL : stdout, &e);
	if (in > 0)
		close(in);
	return cmd_exit(smz_exit_code(rc));
}
