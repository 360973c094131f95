/* smz-sign: sign, encrypt, decrypt and verify mail on users' behalf. */
#include "common.h"
#include "directory.h"
#include "pem.h"
#include "smime.h"
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static int
load_crl(X509_STORE *st, const char *path, struct smz_err *e)
{
	BIO *b = BIO_new_file(path, "rb");
	if (!b)
		return smz_err_set(e, SMZ_ERR_NOINPUT, "%s: %s", path, strerror(errno));
	X509_CRL *crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
	if (!crl) {
		ERR_clear_error();
		(void)BIO_reset(b);
		crl = d2i_X509_CRL_bio(b, NULL);
	}
	BIO_free(b);
	if (!crl)
		return smz_err_ssl(e, SMZ_ERR_DATA, "not a CRL");
	int ok = X509_STORE_add_crl(st, crl);
	X509_CRL_free(crl);
	return ok ? 0 : smz_err_ssl(e, SMZ_ERR_INTERNAL, "cannot use the CRL");
}

static int
load_certs(const char *path, STACK_OF(X509) * *into, struct smz_err *e)
{
	STACK_OF(X509) *s = NULL;
	int rc = smz_pem_read_certs(path, &s, e);
	if (rc)
		return rc;
	if (!*into)
		*into = sk_X509_new_null();
	while (sk_X509_num(s) > 0)
		sk_X509_push(*into, sk_X509_shift(s));
	sk_X509_free(s);
	return 0;
}

static const char *mode_word;

static int
unlock_cb(void *arg, struct smz_err *e)
{
	struct smz_unlock u = {smz_opt.passphrase_file, smz_opt.shares,
			       pol.gateway_unlock_file[0] ? pol.gateway_unlock_file : NULL, 1};
	int rc = smz_vault_unlock(arg, &u, "smz-sign", e);
	if (rc) {
		char m[sizeof e->msg];
		snprintf(m, sizeof m, "%s", e->msg);
		smz_err_set(e, rc, "unlocking the vault: %.900s", m);
	}
	return rc;
}

/* Worst exit code first: errors, then "no". */
static int
worse(int a, int b)
{
	if (a == 0 || a == 1)
		return b ? b : a;
	return a;
}

/* One message from fd to out; status on stdout (verify) or stderr. */
static int
one(struct smz_smime *s, int ops, int fd, FILE *out, const char *label, int *code)
{
	struct smz_err e = {0};
	struct smz_smime_result r;
	int rc = smz_smime_run(s, ops, fd, out, &r, &e);
	if (ops & SMZ_SMIME_VERIFY) {
		if (label)
			printf("%s: ", label);
		printf("%s\n", r.status[0] ? r.status : e.msg);
		fflush(stdout);
	} else if (rc) {
		/* a refusal says which rule, as the status line does */
		const char *why = strncmp(r.status, "FAIL ", 5) == 0 ? r.status : e.msg;
		if (label)
			cmd_msg("%s: cannot %s: %s", label, mode_word, why);
		else
			cmd_msg("cannot %s: %s", mode_word, why);
	} else if (!smz_opt.quiet) {
		if (label)
			cmd_msg("%s: %s", label, r.status);
		else
			cmd_msg("%s", r.status);
	}
	*code = worse(*code, rc ? smz_exit_code(rc) : 0);
	return rc;
}

struct out {
	char *tmp, *dst;
};

/* Make outputs durable, then the audit entries of their key uses, then
 * give them their names: an output never exists without its audit entry. */
static int
publish(struct smz_smime *s, struct out *outs, size_t n, int *code)
{
	struct smz_err e = {0};
	int rc = 0;
	/* one syncfs per file system for the chunk instead of an fsync per message */
	dev_t done[64];
	size_t ndone = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		struct stat st = {0};
		int fd = open(outs[i].tmp, O_RDONLY | O_CLOEXEC);
		size_t k = 0;
		if (fd >= 0 && fstat(fd, &st) == 0)
			for (k = 0; k < ndone && done[k] != st.st_dev; k++)
				;
		if (fd < 0 || k < ndone) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (syncfs(fd) != 0)
			rc = smz_err_set(&e, SMZ_ERR_IO, "syncfs: %s", strerror(errno));
		done[ndone++] = st.st_dev;
		close(fd);
		if (rc)
			cmd_fail(rc, &e, "make the outputs durable");
	}
	if (!rc && smz_smime_pending(s) && (rc = smz_smime_commit(s, &e)))
		cmd_fail(rc, &e, "record the key uses in the audit log");
	for (size_t i = 0; i < n; i++) {
		if (!rc && rename(outs[i].tmp, outs[i].dst) != 0) {
			cmd_msg("%s: cannot rename: %s", outs[i].dst, strerror(errno));
			*code = worse(*code, EX_CANTCREAT);
		}
		if (rc)
			unlink(outs[i].tmp);
		free(outs[i].tmp);
		free(outs[i].dst);
	}
	if (rc)
		*code = worse(*code, smz_exit_code(rc));
	return rc;
}

static char **paths;
static size_t npaths;

static void
free_paths(void)
{
	for (size_t i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
}

/* The batch's paths: MESSAGE arguments, then lines of stdin (unless a tty). */
static char **
batch_paths(poptContext ctx, size_t *np)
{
	char **v = NULL, *line = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	const char *arg;
	for (;;) {
		char *path = NULL;
		if ((arg = poptGetArg(ctx))) {
			path = strdup(arg);
		} else {
			if (isatty(0))
				break;
			ssize_t l = getline(&line, &lcap, stdin);
			if (l < 0)
				break;
			while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
				line[--l] = 0;
			if (!l)
				continue;
			path = strdup(line);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			char **nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = path;
	}
	free(line);
	*np = n;
	return v;
}

/* Process paths[first], paths[first + step], ... */
static int
batch(struct smz_smime *s, int ops, char **pv, size_t pn, size_t first, size_t step)
{
	int code = 0;
	struct out outs[64];
	size_t n = 0;
	int verify = ops & SMZ_SMIME_VERIFY;
	for (size_t pi = first; pi < pn; pi += step) {
		char *path = pv[pi];
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cmd_msg("%s: %s", path, strerror(errno));
			code = worse(code, EX_NOINPUT);
			continue;
		}
		if (verify) {
			one(s, ops, fd, NULL, path, &code);
			close(fd);
			continue;
		}
		size_t dl = strlen(path) + strlen(o.suffix) + 1;
		char *dst = malloc(dl), *tmp = malloc(dl + 16);
		snprintf(dst, dl, "%s%s", path, o.suffix);
		snprintf(tmp, dl + 16, "%s.tmpXXXXXX", dst);
		struct stat st;
		if (lstat(dst, &st) == 0) {
			if (smz_opt.verbose)
				cmd_msg("%s: exists, skipped", dst);
			close(fd);
			free(dst), free(tmp);
			continue;
		}
		int tfd = mkstemp(tmp);
		FILE *out = tfd >= 0 ? fdopen(tfd, "w") : NULL;
		if (!out) {
			cmd_msg("%s: cannot create: %s", tmp, strerror(errno));
			code = worse(code, EX_CANTCREAT);
			close(fd);
			if (tfd >= 0)
				close(tfd), unlink(tmp);
			free(dst), free(tmp);
			continue;
		}
		int rc = one(s, ops, fd, out, path, &code);
		close(fd);
		if (fclose(out) != 0 && !rc) {
			cmd_msg("%s: write error", tmp);
			code = worse(code, EX_IOERR);
			rc = -1;
		}
		if (rc) {
			/* the key uses stay in the audit log even though no output is kept */
			unlink(tmp);
			free(dst), free(tmp);
		} else {
			outs[n++] = (struct out){tmp, dst};
		}
		if (n == 64) {
			publish(s, outs, n, &code);
			n = 0;
		}
	}
	publish(s, outs, n, &code);
	return code;
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
	int ops = (o.sign ? SMZ_SMIME_SIGN : 0) | (o.encrypt ? SMZ_SMIME_ENCRYPT : 0) |
		  (o.decrypt ? SMZ_SMIME_DECRYPT : 0) | (o.verify ? SMZ_SMIME_VERIFY : 0);
	if (!ops ||
	    ((ops & (SMZ_SMIME_SIGN | SMZ_SMIME_ENCRYPT)) &&
	     (ops & (SMZ_SMIME_DECRYPT | SMZ_SMIME_VERIFY))) ||
	    ops == (SMZ_SMIME_DECRYPT | SMZ_SMIME_VERIFY)) {
		cmd_msg("expected one of --sign, --encrypt, --sign --encrypt, --decrypt, --verify");
		return EX_USAGE;
	}
	mode_word = o.sign && o.encrypt ? "sign and encrypt"
		    : o.sign		? "sign"
		    : o.encrypt		? "encrypt"
					: "decrypt";
	if ((o.as || o.opaque || o.sender) && !o.sign) {
		cmd_msg("--as, --opaque and --sender go with --sign");
		return EX_USAGE;
	}
	if (o.for_addr && !o.decrypt) {
		cmd_msg("--for goes with --decrypt");
		return EX_USAGE;
	}
	if ((o.to || o.certs || o.rsa || o.cipher || o.ldap || o.tls_ca) && !o.encrypt) {
		cmd_msg("--to, --cert, --ldap, --tls-ca, --rsa-transport and --cipher go with "
			"--encrypt");
		return EX_USAGE;
	}
	if ((o.trust || o.crl) && !o.verify && !o.decrypt && !o.encrypt) {
		cmd_msg("--trust and --crl go with --verify, --decrypt or --encrypt");
		return EX_USAGE;
	}
	struct smz_smime_cfg cfg = {0};
	cfg.local_sensitive = pol.local_part_sensitive;
	cfg.opaque = o.opaque;
	cfg.as = o.as;
	cfg.sender = o.sender;
	cfg.recipient = o.for_addr;
	cfg.refuse = pol.smime_refuse;
	cfg.to = o.to;
	cfg.rsa_transport = pol.rsa_transport;
	cfg.content_cipher = pol.content_cipher;
	static const char *const rsa_l[] = {"auto", "pkcs1", "oaep", NULL};
	static const char *const ciph_l[] = {"auto", "aes256-cbc", "aes256-gcm", NULL};
	if ((o.rsa && smz_choice(o.rsa, rsa_l, &cfg.rsa_transport)) ||
	    (o.cipher && smz_choice(o.cipher, ciph_l, &cfg.content_cipher))) {
		cmd_msg("--rsa-transport: auto | pkcs1 | oaep; --cipher: auto | aes256-cbc | "
			"aes256-gcm");
		return EX_USAGE;
	}
	const char *arg = o.batch ? NULL : poptGetArg(ctx);
	if (!o.batch && poptPeekArg(ctx)) {
		cmd_msg("one MESSAGE at a time; --batch for many");
		return EX_USAGE;
	}
	/* --batch -j N: N worker processes, each with every Nth message and its
	 * own vault handle, unlock and audit transactions */
	size_t first = 0, step = 1;
	if (!o.batch && smz_opt.jobs > 1) {
		cmd_msg("-j goes with --batch");
		return EX_USAGE;
	}
	if (o.batch) {
		paths = batch_paths(ctx, &npaths);
		atexit(free_paths);
		size_t jobs = smz_opt.jobs > 1 ? (size_t)smz_opt.jobs : 1;
		jobs = jobs > 64 ? 64 : jobs > npaths ? (npaths ? npaths : 1) : jobs;
		pid_t pids[64];
		size_t k = 0;
		int worker = 0;
		fflush(NULL);
		for (; jobs > 1 && k < jobs && !worker; k++) {
			pid_t p = fork();
			if (p == 0) {
				worker = 1, first = k, step = jobs;
				break;
			}
			if (p < 0) {
				cmd_msg("cannot start worker %zu: %s", k + 1, strerror(errno));
				break;
			}
			pids[k] = p;
		}
		if (jobs > 1 && !worker) {
			int code = k < jobs ? EX_OSERR : 0;
			for (size_t i = 0; i < k; i++) {
				int st = 0;
				while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
					;
				code = worse(code, WIFEXITED(st) ? WEXITSTATUS(st) : EX_SOFTWARE);
			}
			return code;
		}
	}
	int in = 0;
	if (!o.batch && arg && strcmp(arg, "-") != 0 &&
	    (in = open(arg, O_RDONLY | O_CLOEXEC)) < 0) {
		cmd_msg("%s: %s", arg, strerror(errno));
		return EX_NOINPUT;
	}
	/* certificates */
	const char *cadir = smz_opts_ca_dir(pol.ca_path);
	char path[1200];
	for (const char **c = o.certs; c && *c; c++)
		if ((rc = load_certs(*c, &cfg.certs, &e)))
			return cmd_fail(rc, &e, "read %s", *c);
	rc = 0;
	if (cadir) {
		snprintf(path, sizeof path, "%s/issuing.pem", cadir);
		if (access(path, R_OK) == 0 && (rc = load_certs(path, &cfg.chain, &e)))
			return cmd_fail(rc, &e, "read the CA certificate");
	}
	X509_STORE *trust = NULL;
	if (o.verify || o.decrypt || o.encrypt) {
		trust = X509_STORE_new();
		STACK_OF(X509) *anchors = NULL;
		const char *tf = o.trust ? o.trust : pol.smime_trust[0] ? pol.smime_trust : NULL;
		if (!tf && cadir) {
			snprintf(path, sizeof path, "%s/root.pem", cadir);
			tf = access(path, R_OK) == 0 ? path : NULL;
		}
		/* recipient certificates are used only when they chain to an anchor */
		if (!tf && (o.verify || o.encrypt)) {
			cmd_msg("no trust anchors: give --trust FILE, policy [smime] trust, or "
				"--ca DIR "
				"(its root.pem)");
			return EX_USAGE;
		}
		if (tf && (rc = load_certs(tf, &anchors, &e)))
			return cmd_fail(rc, &e, "read the trust anchors");
		for (int i = 0; i < sk_X509_num(anchors); i++)
			X509_STORE_add_cert(trust, sk_X509_value(anchors, i));
		sk_X509_pop_free(anchors, X509_free);
		if (o.crl && (rc = load_crl(trust, o.crl, &e)))
			return cmd_fail(rc, &e, "read the CRL %s", o.crl);
		cfg.crl_check = o.crl != NULL;
		cfg.trust = trust;
	}
	/* the vault: needed to sign and decrypt; verify uses it for encrypted mail */
	struct smz_vault *v = NULL;
	const char *vdir = smz_opts_vault_dir(pol.vault_path);
	int need_keys = o.sign || o.decrypt || o.verify;
	if (vdir && (o.sign || o.decrypt || o.encrypt || o.verify)) {
		if ((rc = smz_vault_open(vdir, &v, &e))) {
			if (o.sign || o.decrypt)
				return cmd_fail(rc, &e, "open the vault");
			v = NULL;
		}
	} else if (o.sign || o.decrypt) {
		cmd_msg("the vault is needed: --vault DIR, $SMZ_VAULT or policy [vault] path");
		return EX_USAGE;
	}
	int have_unlock = smz_opt.passphrase_file || smz_opt.shares || pol.gateway_unlock_file[0];
	if (v && need_keys && have_unlock) {
		cfg.unlock = unlock_cb; /* when a private key is first needed */
		cfg.unlock_arg = v;
	} else if (v && (o.sign || o.decrypt)) {
		smz_vault_close(v);
		cmd_msg("the vault must be unlocked: --passphrase-file, --share, or policy "
			"[gateway] unlock_file");
		return EX_USAGE;
	}
	cfg.vault = v;
	cfg.commit_before_output = !o.batch;
	struct smz_dir *dir = NULL;
	if (o.ldap) {
		const char *uri = strcmp(o.ldap, "-") == 0 ? pol.ldap_uri : o.ldap;
		struct smz_publish_opts po = {0};
		po.uri = uri[0] ? uri : "ldapi:///";
		po.base = pol.ldap_base;
		po.filter = pol.ldap_filter;
		po.starttls = -1;
		po.tls_ca = o.tls_ca;
		po.timeout = 10;
		if ((rc = smz_dir_open(&po, &dir, &e)))
			return cmd_fail(rc, &e, "use the directory");
		cfg.lookup = smz_dir_lookup;
		cfg.lookup_arg = dir;
	}
	struct smz_smime *s = NULL;
	if ((rc = smz_smime_new(&cfg, &s, &e)))
		return cmd_fail(rc, &e, "start");
	int code = 0;
	if (o.batch) {
		code = batch(s, ops, paths, npaths, first, step);
	} else if (o.verify) {
		one(s, ops, in, NULL, NULL, &code);
	} else {
		/* the library commits the audit entries before it writes */
		one(s, ops, in, stdout, NULL, &code);
	}
	if (smz_smime_pending(s) && (rc = smz_smime_commit(s, &e)))
		code = worse(code, cmd_fail(rc, &e, "record key uses in the audit log"));
	if (in > 0)
		close(in);
	smz_smime_free(s);
	smz_dir_close(dir);
	smz_vault_close(v);
	X509_STORE_free(trust);
	sk_X509_pop_free(cfg.certs, X509_free);
	sk_X509_pop_free(cfg.chain, X509_free);
	return cmd_exit(code);
}
