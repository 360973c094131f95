/*
 * api: the work of smz-api, the REST API that mail gateways call over
 * mutual TLS (httpd.h) to sign, encrypt, decrypt and verify one message
 * with the vault's keys, by smz-sign's rules: sign only for the
 * authenticated sender's own mailboxes, decrypt only with the recipient's
 * keys, trust and revocation checks.  Here: the routes, who may call
 * ([api] allow, by certificate fingerprint or subject), early refusals
 * (size, missing parameters) before a body is read, errors as RFC 9457
 * problem documents, and audit entries that name the client as actor.
 * The vault is opened and unlocked (gateway scope) once, its handle shared
 * (smz_vault_share) by one S/MIME engine a thread, each reused per message.
 */
#ifndef SMZ_API_H
#define SMZ_API_H

#include "err.h"
#include "policy.h"
#include "vault.h"

struct smz_api;

struct smz_api_opts {
	const struct smz_policy *pol;	 /* [api], [smime], [vault] */
	const char *vault_dir;		 /* NULL: no vault (only encrypt and verify work) */
	const struct smz_unlock *unlock; /* NULL: locked; sign and decrypt answer 503 */
	/* the CA directory (NULL: none): its issuing.pem goes with signatures
	 * and its root.pem holds the anchors unless policy [smime] trust names
	 * others, as for smz-sign */
	const char *ca_dir;
	/* a line for the log (one per request, and errors); from any thread */
	void (*log)(void *arg, const char *line);
	void *arg;
};

/* Open and unlock the vault, then listen.  A vault that cannot be
 * unlocked is logged and the server runs, answering 503 for private keys. */
int smz_api_start(const struct smz_api_opts *o, struct smz_api **out, struct smz_err *e);

/* The port listened on ([api] port 0: the one the system chose). */
int smz_api_port(const struct smz_api *a);

/* Take pol's server certificate and key and allow list (SIGHUP); the vault
 * is unlocked again if it is not.  On failure the old ones stay. */
int smz_api_reload(struct smz_api *a, const struct smz_policy *pol, struct smz_err *e);

/* Stop accepting, let requests in progress finish (grace seconds at most),
 * close the vault. */
void smz_api_stop(struct smz_api *a, int grace);

#endif
