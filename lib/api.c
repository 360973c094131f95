/* api: smz-api's routes, authorisation and answers; see api.h. */
#include "api.h"
#include "httpd.h"
#include "prog.h"
#include "smime.h"
#include "trust.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TO 64

struct smz_api {
	struct smz_httpd *h;
	struct smz_policy pol; /* [api] limits; allow is the list below */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* engines run messages side by side over one shared vault handle
	 * (smz_vault_share); an unlock takes run_mu exclusive */
	pthread_rwlock_t run_mu;
	struct smz_vault *v;
	struct smz_unlock unlock;
	int has_unlock, unlocked;
	struct smz_trust trust;
	char ca_dir[1024];	  /* "" for none */
	struct smz_smime_cfg cfg; /* what every request shares */
	/* the engines, one a thread, set up once and reused: a request takes
	 * a free one */
	struct smz_smime **eng;
	size_t neng, nfree;
	pthread_mutex_t eng_mu;
	pthread_cond_t eng_cv;
	char actor[300]; /* "user@host smz-api" */
	/* [api] allow, replaced on reload */
	pthread_rwlock_t allow_mu;
	char **allow;
	size_t nallow;
};

enum { R_SIGN, R_ENCRYPT, R_DECRYPT, R_VERIFY, R_HEALTH };
static const struct {
	const char *path, *method, *verb;
	int ops;
} routes[] = {
	{"/v1/sign", "POST", "sign", SMZ_SMIME_SIGN},
	{"/v1/encrypt", "POST", "encrypt", SMZ_SMIME_ENCRYPT},
	{"/v1/decrypt", "POST", "decrypt", SMZ_SMIME_DECRYPT},
	{"/v1/verify", "POST", "verify", SMZ_SMIME_VERIFY},
	{"/v1/health", "GET", "health", 0},
};

static int
route(const char *path)
{
	for (int i = 0; i < (int)(sizeof routes / sizeof routes[0]); i++)
		if (strcmp(path, routes[i].path) == 0)
			return i;
	return -1;
}

static void logf_(struct smz_api *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
logf_(struct smz_api *a, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (a->log)
		a->log(a->log_arg, line);
}

static void
httpd_log(void *arg, const char *line)
{
	struct smz_api *a = arg;
	if (a->log)
		a->log(a->log_arg, line);
}

/* ---- answers ---- */

static void
json_answer(struct smz_httpd_resp *rs, int status, const char *type, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	size_t l = s ? strlen(s) : 0;
	char *b = s ? realloc(s, l + 2) : NULL;
	if (!b) { /* out of memory: an empty answer with the status still says it */
		free(s);
		rs->status = status >= 400 ? status : 500;
		return;
	}
	b[l] = '\n';
	b[l + 1] = 0;
	rs->status = status;
	rs->type = type;
	rs->buf = b;
	rs->len = l + 1;
}

/* An RFC 9457 problem document: type urn:smz:problem:TAG; rule (or NULL)
 * names the setting or rule that refused. */
static int problem(struct smz_httpd_resp *rs, int status, const char *tag, const char *title,
		   const char *rule, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int
problem(struct smz_httpd_resp *rs, int status, const char *tag, const char *title, const char *rule,
	const char *fmt, ...)
{
	char type[80], detail[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	snprintf(type, sizeof type, "urn:smz:problem:%s", tag);
	json_t *j = json_pack("{s:s,s:s,s:i,s:s}", "type", type, "title", title, "status", status,
			      "detail", detail);
	if (j && rule)
		json_object_set_new(j, "rule", json_string(rule));
	json_answer(rs, status, "application/problem+json", j);
	return 1;
}

/* ---- who may call ---- */

static int
allowed(struct smz_api *a, const struct smz_httpd_client *c)
{
	int ok = 0;
	pthread_rwlock_rdlock(&a->allow_mu);
	for (size_t i = 0; !ok && i < a->nallow; i++)
		ok = strncmp(a->allow[i], "sha256:", 7) == 0
			     ? strcmp(a->allow[i] + 7, c->sha256) == 0
			     : strcmp(a->allow[i] + 8, c->subject) == 0;
	pthread_rwlock_unlock(&a->allow_mu);
	return ok;
}

/* 0 when the client may call, else the refusal in rs: a missing
 * certificate (401) is told apart from one that is refused (403). */
static int
authorize(struct smz_api *a, const struct smz_httpd_client *c, struct smz_httpd_resp *rs)
{
	if (c->cert == SMZ_HTTPD_CERT_NONE)
		return problem(rs, 401, "no-client-certificate", "Client certificate required",
			       "[api] client_ca",
			       "no client certificate was presented; smz-api takes only clients "
			       "with a certificate from [api] client_ca that [api] allow names");
	if (c->cert == SMZ_HTTPD_CERT_BAD)
		return problem(rs, 403, "untrusted-client-certificate",
			       "Client certificate not trusted", "[api] client_ca",
			       "the client certificate subject:%s (sha256:%s) does not verify "
			       "against [api] client_ca: %s",
			       c->subject, c->sha256, c->why);
	if (!allowed(a, c))
		return problem(
			rs, 403, "client-not-allowed", "Client not allowed", "[api] allow",
			"the client certificate subject:%s (sha256:%s) is not in [api] allow",
			c->subject, c->sha256);
	return 0;
}

static int
admit(void *arg, const struct smz_httpd_req *rq, struct smz_httpd_resp *rs)
{
	struct smz_api *a = arg;
	int r = route(rq->path);
	if (r < 0)
		return problem(rs, 404, "not-found", "No such endpoint", NULL,
			       "%s is not an endpoint of this API", rq->path);
	if (strcmp(rq->method, routes[r].method) != 0) {
		problem(rs, 405, "method-not-allowed", "Method not allowed", NULL,
			"%s takes %s only", rq->path, routes[r].method);
		smz_httpd_resp_header(rs, "Allow", routes[r].method);
		return 1;
	}
	if (r == R_HEALTH) /* for load balancers and probes, which hold no certificate */
		return 0;
	if (authorize(a, rq->client, rs))
		return 1;
	if (r == R_SIGN && !smz_httpd_arg(rq, "sender"))
		return problem(rs, 400, "missing-parameter", "Missing parameter", NULL,
			       "sign needs ?sender=ADDRESS, the authenticated submitter");
	if (r == R_DECRYPT && !smz_httpd_arg(rq, "for"))
		return problem(rs, 400, "missing-parameter", "Missing parameter", NULL,
			       "decrypt needs ?for=ADDRESS, the delivery recipient");
	if (rq->length > a->pol.api_max_message)
		return problem(rs, 413, "too-large", "Message too large", "[api] max_message",
			       "the message has %lld bytes; [api] max_message is %lld", rq->length,
			       a->pol.api_max_message);
	return 0;
}

/* ---- the engine ---- */

struct job {
	const char *to[MAX_TO + 1];
	size_t nto;
	int locked; /* a private key was needed, and the vault is locked */
};

static void
add_to(void *arg, const char *v)
{
	struct job *j = arg;
	if (j->nto < MAX_TO)
		j->to[j->nto++] = v;
}

static int
locked(void *arg, struct smz_err *e)
{
	struct job *j = arg;
	j->locked = 1;
	return smz_err_set(e, SMZ_ERR_PERM, "the vault is locked");
}

/* The HTTP status of an engine failure, with its problem tag and title. */
static int
failure(int rc, const char *st, int was_locked, const char **tag, const char **title)
{
	static const struct {
		int status;
		const char *tag, *title;
	} t[] = {
		{503, "vault-locked", "Vault locked"},		 /* 0 */
		{403, "not-sender", "Not the sender's"},	 /* 1 */
		{403, "not-for-recipient", "Not for recipient"}, /* 2 */
		{422, "refused", "Refused by policy"},		 /* 3 */
		{404, "no-key", "No key"},			 /* 4 */
		{400, "malformed", "Malformed message"},	 /* 5 */
		{400, "bad-request", "Bad request"},		 /* 6 */
		{503, "unavailable", "Try again"},		 /* 7 */
		{500, "internal", "Internal error"},		 /* 8 */
	};
	int i = was_locked						 ? 0
		: rc == SMZ_ERR_PERM && strstr(st, "not-sender:")	 ? 1
		: rc == SMZ_ERR_PERM && strstr(st, "not-for-recipient:") ? 2
		: rc == SMZ_ERR_PERM && strstr(st, "refused:")		 ? 3
		: rc == SMZ_ERR_PERM || rc == SMZ_ERR_NOTFOUND		 ? 4
		: rc == SMZ_ERR_DATA					 ? 5
		: rc == SMZ_ERR_USAGE					 ? 6
		: rc == SMZ_ERR_TEMP || rc == SMZ_ERR_UNAVAILABLE	 ? 7
									 : 8;
	*tag = t[i].tag;
	*title = t[i].title;
	return t[i].status;
}

/* Verify's answer: the status line as smz-sign prints it, or as JSON. */
static void
verify_answer(const struct smz_httpd_req *rq, const char *st, struct smz_httpd_resp *rs)
{
	const char *accept = smz_httpd_header(rq, "Accept");
	if (!accept || !strstr(accept, "application/json")) {
		size_t l = strlen(st);
		if ((rs->buf = malloc(l + 1))) {
			memcpy(rs->buf, st, l);
			rs->buf[l] = '\n';
			rs->len = l + 1;
		}
		rs->status = 200;
		rs->type = "text/plain; charset=utf-8";
		return;
	}
	int ok = strncmp(st, "OK ", 3) == 0;
	json_t *j = json_pack("{s:b,s:s}", "ok", ok, "status", st);
	if (j && ok) { /* OK signer=A digest=D signed=T serial=S [k=v ...] */
		char *dup = strdup(st + 3), *save = NULL;
		for (char *t = dup ? strtok_r(dup, " ", &save) : NULL; t;
		     t = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(t, '=');
			if (eq) {
				*eq = 0;
				json_object_set_new(j, t, json_string(eq + 1));
			}
		}
		free(dup);
	} else if (j) { /* FAIL reason: text */
		const char *colon = strchr(st, ':');
		size_t l = colon && strncmp(st, "FAIL ", 5) == 0 ? (size_t)(colon - st - 5) : 0;
		json_object_set_new(j, "reason", json_stringn(st + 5, l));
		json_object_set_new(j, "detail",
				    json_string(colon ? colon + 1 + (colon[1] == ' ') : st));
	}
	json_answer(rs, 200, "application/json", j);
}

static void
run(struct smz_api *a, int r, const struct smz_httpd_req *rq, struct smz_httpd_resp *rs)
{
	int ops = routes[r].ops;
	struct job j = {.nto = 0}; /* j.to stays NULL-terminated */
	if (smz_httpd_args(rq, "to", add_to, &j) > MAX_TO) {
		problem(rs, 400, "bad-request", "Bad request", NULL, "more than %d to= recipients",
			MAX_TO);
		return;
	}
	char actor[900];
	snprintf(actor, sizeof actor, "%s client=%s", a->actor, rq->client->subject);
	FILE *out = ops == SMZ_SMIME_VERIFY		     ? NULL
		    : rq->body_len <= SMZ_HTTPD_MEM_BODY / 2 ? smz_memfile()
							     : smz_tmpfile();
	if (ops != SMZ_SMIME_VERIFY && !out) {
		problem(rs, 500, "internal", "Internal error", NULL,
			"cannot create a temporary file");
		return;
	}
	struct smz_smime_result res;
	struct smz_err e = {0}, ce = {0};
	/* what a reload swaps (trust, CRL) is read under the lock it takes */
	pthread_rwlock_rdlock(&a->run_mu);
	struct smz_smime_cfg cfg = a->cfg;
	cfg.sender = r == R_SIGN ? smz_httpd_arg(rq, "sender") : NULL;
	cfg.recipient = r == R_DECRYPT ? smz_httpd_arg(rq, "for") : NULL;
	cfg.to = r == R_ENCRYPT && j.nto ? j.to : NULL;
	cfg.actor = actor;
	cfg.commit_before_output = 1;
	cfg.vault_unlocked = a->unlocked;
	if (!a->unlocked) {
		cfg.unlock = locked;
		cfg.unlock_arg = &j;
	}
	pthread_mutex_lock(&a->eng_mu);
	while (!a->nfree)
		pthread_cond_wait(&a->eng_cv, &a->eng_mu);
	struct smz_smime *s = a->eng[--a->nfree];
	pthread_mutex_unlock(&a->eng_mu);
	smz_smime_reuse(s, &cfg);
	int rc = smz_smime_run(s, ops, rq->body_fd, out, &res, &e), crc = 0;
	/* key uses of a message that failed later stay audited too */
	if (smz_smime_pending(s) && (crc = smz_smime_commit(s, &ce)))
		logf_(a, "error: cannot record key uses in the audit log: %s", ce.msg);
	pthread_mutex_lock(&a->eng_mu);
	a->eng[a->nfree++] = s;
	pthread_cond_signal(&a->eng_cv);
	pthread_mutex_unlock(&a->eng_mu);
	pthread_rwlock_unlock(&a->run_mu);
	if (!rc && crc) {
		rc = crc;
		e = ce;
	}
	if (ops == SMZ_SMIME_VERIFY && (!rc || rc == SMZ_ERR_VERIFY) && res.status[0]) {
		smz_httpd_resp_header(rs, "Smz-Status", res.status);
		verify_answer(rq, res.status, rs);
		return;
	}
	if (!rc) {
		rs->status = 200;
		rs->type = "message/rfc822";
		rs->file = out;
		smz_httpd_resp_header(rs, "Smz-Status", res.status);
		return;
	}
	if (out)
		fclose(out);
	const char *tag, *title;
	int status = failure(rc, res.status, j.locked, &tag, &title);
	char line[1200];
	if (strncmp(res.status, "FAIL ", 5) == 0 && !j.locked)
		snprintf(line, sizeof line, "%s", res.status);
	else
		snprintf(line, sizeof line, "FAIL %s: %s", tag, e.msg);
	if (status >= 500)
		logf_(a, "error: %s %s: %s", routes[r].verb, rq->client->subject, line);
	problem(rs, status, tag, title, NULL, "cannot %s: %s", routes[r].verb, line);
	smz_httpd_resp_header(rs, "Smz-Status", line);
	if (status == 503)
		smz_httpd_resp_header(rs, "Retry-After", "5");
}

static void
handle(void *arg, const struct smz_httpd_req *rq, struct smz_httpd_resp *rs)
{
	struct smz_api *a = arg;
	int r = route(rq->path);
	if (r == R_HEALTH) {
		pthread_rwlock_rdlock(&a->run_mu);
		const char *v = !a->v ? "none" : a->unlocked ? "unlocked" : "locked";
		pthread_rwlock_unlock(&a->run_mu);
		json_answer(rs, 200, "application/json",
			    json_pack("{s:s,s:s,s:i}", "status", "ok", "vault", v, "in_progress",
				      smz_httpd_active(a->h) - 1));
	} else if (rq->body_state != SMZ_HTTPD_BODY_OK || rq->body_fd < 0) {
		problem(rs, 500, "internal", "Internal error", NULL,
			"the request body could not be stored");
	} else {
		run(a, r, rq, rs);
	}
}

/* ---- start, reload, stop ---- */

static void
allow_free(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static int
allow_set(struct smz_api *a, const struct smz_policy *pol, struct smz_err *e)
{
	char **l = calloc(pol->napi_allow + 1, sizeof *l);
	for (size_t i = 0; l && i < pol->napi_allow; i++)
		if (!(l[i] = strdup(pol->api_allow[i]))) {
			allow_free(l, i);
			l = NULL;
		}
	if (!l)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	pthread_rwlock_wrlock(&a->allow_mu);
	char **old = a->allow;
	size_t nold = a->nallow;
	a->allow = l;
	a->nallow = pol->napi_allow;
	pthread_rwlock_unlock(&a->allow_mu);
	allow_free(old, nold);
	return 0;
}

/* The vault unlocked with the gateway key, if it is not; the caller holds
 * run_mu exclusive, so no engine runs. */
static void
try_unlock(struct smz_api *a)
{
	struct smz_err e = {0};
	if (!a->v || a->unlocked || !a->has_unlock)
		return;
	if (smz_vault_unlock(a->v, &a->unlock, "smz-api", &e))
		logf_(a, "error: cannot unlock the vault: %s; sign and decrypt answer 503", e.msg);
	else
		a->unlocked = 1;
}

/* The trust the engines check signers and recipients against: the
 * anchors (policy [smime] trust, else the CA's root.pem), the CA's
 * issuing.pem to go with signatures, and policy [api] crl. */
static int
load_trust(const struct smz_policy *pol, const char *ca_dir, struct smz_trust *t, struct smz_err *e)
{
	char path[1200];
	const char *f = smz_trust_ca_file(ca_dir, "issuing.pem", path, sizeof path);
	int rc = f ? smz_trust_chain(t, f, e) : 0;
	if (rc)
		return rc;
	f = pol->smime_trust[0] ? pol->smime_trust
				: smz_trust_ca_file(ca_dir, "root.pem", path, sizeof path);
	if (!f)
		return smz_err_need(e, SMZ_ERR_USAGE, SMZ_NEED_CA,
				    "no trust anchors: policy [smime] trust, or a CA directory "
				    "with its root.pem");
	rc = smz_trust_anchors(t, f, e);
	if (!rc && pol->api_crl[0])
		rc = smz_trust_crl(t, pol->api_crl, e);
	return rc;
}

/* The engines' view of a->trust. */
static void
use_trust(struct smz_api *a)
{
	a->cfg.trust = a->trust.store;
	a->cfg.crl_check = a->trust.crl;
	a->cfg.chain = a->trust.chain;
	a->cfg.certs = a->trust.certs;
}

int
smz_api_start(const struct smz_api_opts *o, struct smz_api **out, struct smz_err *e)
{
	const struct smz_policy *pol = o->pol;
	if (!pol->api_cert[0] || !pol->api_key[0] || !pol->api_client_ca[0])
		return smz_err_set(e, SMZ_ERR_CONFIG,
				   "the policy must name [api] cert, key and client_ca");
	struct smz_api *a = calloc(1, sizeof *a);
	if (!a)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	a->pol = *pol;
	a->pol.napi_allow = 0; /* the copy holds no list of its own */
	memset(a->pol.api_allow, 0, sizeof a->pol.api_allow);
	memset(a->pol.domains, 0, sizeof a->pol.domains);
	a->pol.ndomains = 0;
	a->log = o->log;
	a->log_arg = o->arg;
	/* a reload must not wait for a moment without requests: writers first */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&a->run_mu, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&a->eng_mu, NULL);
	pthread_cond_init(&a->eng_cv, NULL);
	pthread_rwlock_init(&a->allow_mu, NULL);
	snprintf(a->actor, sizeof a->actor, "%s", smz_prog_actor());
	int rc = allow_set(a, pol, e);
	if (o->ca_dir)
		snprintf(a->ca_dir, sizeof a->ca_dir, "%s", o->ca_dir);
	if (!rc)
		rc = load_trust(pol, o->ca_dir, &a->trust, e);
	if (!rc && o->vault_dir)
		rc = smz_vault_open(o->vault_dir, &a->v, e);
	/* the engines, set up before threads use them; MHD runs a request
	 * in one of its pool's threads, so as many engines as threads */
	if (a->v)
		smz_vault_share(a->v);
	a->neng = pol->api_threads > 0 ? (size_t)pol->api_threads : 1;
	if (!rc && !(a->eng = calloc(a->neng, sizeof *a->eng)))
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; !rc && i < a->neng; i++)
		if (!(rc = smz_smime_new(&a->cfg, &a->eng[i], e)))
			a->nfree++;
	if (rc) {
		smz_api_stop(a, 0);
		return rc;
	}
	if (o->unlock) {
		a->unlock = *o->unlock;
		a->unlock.scoped_ok = 1;
		a->has_unlock = 1;
	}
	try_unlock(a);
	struct smz_smime_cfg *c = &a->cfg;
	c->vault = a->v;
	c->local_sensitive = pol->local_part_sensitive;
	c->refuse = pol->smime_refuse;
	c->rsa_transport = pol->rsa_transport;
	c->content_cipher = pol->content_cipher;
	use_trust(a);
	const struct smz_policy *p = &a->pol;
	struct smz_httpd_opts ho = {p->api_listen,
				    p->api_port,
				    p->api_cert,
				    p->api_key,
				    p->api_client_ca,
				    p->api_max_message,
				    p->api_max_connections,
				    p->api_max_per_ip,
				    p->api_timeout,
				    p->api_threads,
				    32 * 1024};
	struct smz_httpd_service svc = {admit, handle, httpd_log, a};
	if ((rc = smz_httpd_start(&ho, &svc, &a->h, e))) {
		smz_api_stop(a, 0);
		return rc;
	}
	*out = a;
	return 0;
}

int
smz_api_port(const struct smz_api *a)
{
	return smz_httpd_port(a->h);
}

int
smz_api_reload(struct smz_api *a, const struct smz_policy *pol, struct smz_err *e)
{
	struct smz_trust t = {0};
	int rc = load_trust(pol, a->ca_dir[0] ? a->ca_dir : NULL, &t, e);
	if (!rc)
		rc = smz_httpd_reload(a->h, pol->api_cert, pol->api_key, e);
	if (!rc)
		rc = allow_set(a, pol, e);
	pthread_rwlock_wrlock(&a->run_mu);
	if (!rc) { /* the new trust and CRL, with no engine running */
		struct smz_trust old = a->trust;
		a->trust = t;
		t = old;
		use_trust(a);
	}
	try_unlock(a);
	pthread_rwlock_unlock(&a->run_mu);
	smz_trust_free(&t);
	return rc;
}

void
smz_api_stop(struct smz_api *a, int grace)
{
	if (!a)
		return;
	smz_httpd_stop(a->h, grace);
	for (size_t i = 0; a->eng && i < a->neng; i++)
		smz_smime_free(a->eng[i]);
	free(a->eng);
	pthread_cond_destroy(&a->eng_cv);
	pthread_mutex_destroy(&a->eng_mu);
	smz_vault_close(a->v);
	smz_trust_free(&a->trust);
	allow_free(a->allow, a->nallow);
	pthread_rwlock_destroy(&a->allow_mu);
	pthread_rwlock_destroy(&a->run_mu);
	free(a);
}
