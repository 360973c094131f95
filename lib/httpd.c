/* httpd: HTTPS with mutual TLS on libmicrohttpd; see httpd.h. */
#include "httpd.h"
#include "spool.h" /* smz_tmpfile */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHAIN 8
#define MIN_RATE 1024 /* bytes a second a body must average once it is slow */
/* TLS 1.2 and 1.3 only, GnuTLS's usual choice within them */
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* A server certificate chain and its key.  Handshakes in progress may
 * hold a set that a reload replaced, so replaced sets are kept until
 * the server stops. */
struct certset {
	gnutls_pcert_st pcert[MAX_CHAIN];
	unsigned int n;
	gnutls_privkey_t key;
	struct certset *older;
};

struct smz_httpd {
	struct MHD_Daemon *d;
	struct smz_httpd_opts o;
	struct smz_httpd_service svc;
	char *trust;	   /* the client CA's PEM, which MHD keeps using */
	atomic_int active; /* requests begun and not completed */
	/* MHD's timeout counts idle time only: a client that sends its TLS
	 * handshake or headers a byte at a time would hold a connection for
	 * ever.  A watchdog shuts down each connection that has been waiting
	 * for its next request's headers longer than the timeout. */
	pthread_mutex_t conns_mu;
	struct conn *conns; /* every open connection */
	pthread_t watchdog;
	int watching;
	pthread_cond_t stop_cv;
	int stopping;
};

/* GnuTLS's certificate callback has no argument: one server a process. */
static pthread_mutex_t cert_mu = PTHREAD_MUTEX_INITIALIZER;
static struct certset *current;

/* What httpd keeps per connection (client) and per request. */
struct conn {
	struct smz_httpd_client c;
	int checked;
	/* under conns_mu: */
	struct conn *prev, *next;
	int fd;
	int begun;		 /* a request's headers have come; it is being served */
	struct timespec waiting; /* since when it waits for headers */
};

struct req {
	struct smz_httpd_req r;
	struct conn *conn;
	struct timespec start;
	FILE *body;
	size_t got;
	int answered, status;
	const char *why; /* closed before an answer: why, for the access line */
	unsigned long long sent;
	struct smz_httpd_resp resp;
	char method[16], path[256];
};

static void logf_(struct smz_httpd *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
logf_(struct smz_httpd *h, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (h->svc.log)
		h->svc.log(h->svc.arg, line);
}

/* ---- server certificate ---- */

static void
certset_free(struct certset *s)
{
	while (s) {
		struct certset *o = s->older;
		for (unsigned i = 0; i < s->n; i++)
			gnutls_pcert_deinit(&s->pcert[i]);
		gnutls_privkey_deinit(s->key);
		free(s);
		s = o;
	}
}

static int
certset_load(const char *cert, const char *key, struct certset **out, struct smz_err *e)
{
	gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
	struct certset *s = calloc(1, sizeof *s);
	unsigned int n = MAX_CHAIN;
	int r, rc = 0;
	if (!s)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	if ((r = gnutls_load_file(cert, &cd)) < 0 ||
	    (r = gnutls_pcert_list_import_x509_raw(s->pcert, &n, &cd, GNUTLS_X509_FMT_PEM, 0)) < 0)
		rc = smz_err_set(e, SMZ_ERR_CONFIG, "%s: %s", cert, gnutls_strerror(r));
	else
		s->n = n;
	if (!rc &&
	    ((r = gnutls_load_file(key, &kd)) < 0 || (r = gnutls_privkey_init(&s->key)) < 0 ||
	     (r = gnutls_privkey_import_x509_raw(s->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0))
		rc = smz_err_set(e, SMZ_ERR_CONFIG, "%s: %s", key, gnutls_strerror(r));
	gnutls_free(cd.data);
	if (kd.data) {
		gnutls_memset(kd.data, 0, kd.size);
		gnutls_free(kd.data);
	}
	if (rc) {
		certset_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int
retrieve(gnutls_session_t sess, const gnutls_datum_t *req_ca, int nreqs,
	 const gnutls_pk_algorithm_t *pk, int npk, gnutls_pcert_st **pcert,
	 unsigned int *pcert_length, gnutls_privkey_t *key)
{
	(void)sess, (void)req_ca, (void)nreqs, (void)pk, (void)npk;
	pthread_mutex_lock(&cert_mu);
	int rc = current ? 0 : -1;
	if (current) {
		*pcert = current->pcert;
		*pcert_length = current->n;
		*key = current->key;
	}
	pthread_mutex_unlock(&cert_mu);
	return rc;
}

int
smz_httpd_reload(struct smz_httpd *h, const char *cert, const char *key, struct smz_err *e)
{
	(void)h;
	struct certset *s;
	int rc = certset_load(cert, key, &s, e);
	if (rc)
		return rc;
	pthread_mutex_lock(&cert_mu);
	s->older = current;
	current = s;
	pthread_mutex_unlock(&cert_mu);
	return 0;
}

/* ---- the client ---- */

static void
client_check(struct MHD_Connection *mc, struct smz_httpd_client *cl)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = i ? (gnutls_session_t)i->tls_session : NULL;
	unsigned int n = 0;
	const gnutls_datum_t *peers = s ? gnutls_certificate_get_peers(s, &n) : NULL;
	cl->cert = SMZ_HTTPD_CERT_NONE;
	if (!peers || !n)
		return;
	cl->cert = SMZ_HTTPD_CERT_BAD;
	snprintf(cl->why, sizeof cl->why, "unreadable certificate");
	gnutls_x509_crt_t crt;
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	unsigned char fp[32];
	size_t fpl = sizeof fp;
	gnutls_datum_t dn = {NULL, 0};
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fpl) < 0 || fpl != 32 ||
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0) {
		gnutls_x509_crt_deinit(crt);
		return;
	}
	for (size_t k = 0; k < 32; k++)
		snprintf(cl->sha256 + 2 * k, 3, "%02x", fp[k]);
	snprintf(cl->subject, sizeof cl->subject, "%.*s", (int)dn.size, (const char *)dn.data);
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
	/* the chain to [api] client_ca, for TLS client authentication */
	gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
					 (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
	unsigned int status = 0;
	int r = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
	if (r < 0) {
		snprintf(cl->why, sizeof cl->why, "%s", gnutls_strerror(r));
	} else if (status) {
		gnutls_datum_t out = {NULL, 0};
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		snprintf(cl->why, sizeof cl->why, "%s",
			 out.data ? (const char *)out.data : "not verified");
		gnutls_free(out.data);
		size_t l = strlen(cl->why);
		while (l && cl->why[l - 1] == ' ')
			cl->why[--l] = 0;
	} else {
		cl->cert = SMZ_HTTPD_CERT_OK;
		cl->why[0] = 0;
	}
}

static void
notify_conn(void *cls, struct MHD_Connection *mc, void **socket_context,
	    enum MHD_ConnectionNotificationCode toe)
{
	struct smz_httpd *h = cls;
	struct conn *c = *socket_context;
	/* MHD says a connection is closed before it closes its socket, so
	 * the watchdog, holding conns_mu, never shuts down a reused fd */
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c) {
			pthread_mutex_lock(&h->conns_mu);
			if (c->prev)
				c->prev->next = c->next;
			else
				h->conns = c->next;
			if (c->next)
				c->next->prev = c->prev;
			pthread_mutex_unlock(&h->conns_mu);
		}
		free(c);
		*socket_context = NULL;
		return;
	}
	c = calloc(1, sizeof *c);
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = i ? i->client_addr : NULL;
	if (c && sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  c->c.addr, sizeof c->c.addr);
	else if (c && sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  c->c.addr, sizeof c->c.addr);
	i = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (c) {
		c->fd = i ? i->connect_fd : -1;
		clock_gettime(CLOCK_MONOTONIC, &c->waiting);
		pthread_mutex_lock(&h->conns_mu);
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		pthread_mutex_unlock(&h->conns_mu);
	}
	*socket_context = c;
}

/* A request on c has begun (1) or been answered (0). */
static void
conn_busy(struct smz_httpd *h, struct conn *c, int begun)
{
	if (!c)
		return;
	pthread_mutex_lock(&h->conns_mu);
	c->begun = begun;
	if (!begun)
		clock_gettime(CLOCK_MONOTONIC, &c->waiting);
	pthread_mutex_unlock(&h->conns_mu);
}

static void *
watchdog(void *arg)
{
	struct smz_httpd *h = arg;
	pthread_mutex_lock(&h->conns_mu);
	while (!h->stopping) {
		struct timespec now, until;
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (struct conn *c = h->conns; c; c = c->next)
			if (!c->begun && c->fd >= 0 &&
			    now.tv_sec - c->waiting.tv_sec > h->o.timeout) {
				shutdown(c->fd, SHUT_RDWR);
				c->fd = -1; /* once */
			}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->stop_cv, &h->conns_mu, &until);
	}
	pthread_mutex_unlock(&h->conns_mu);
	return NULL;
}

/* ---- requests ---- */

const char *
smz_httpd_header(const struct smz_httpd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
smz_httpd_arg(const struct smz_httpd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct args {
	const char *name;
	void (*cb)(void *, const char *);
	void *arg;
	size_t n;
};

static enum MHD_Result
each_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct args *a = cls;
	if (strcmp(key, a->name) == 0) {
		a->n++;
		if (a->cb)
			a->cb(a->arg, value ? value : "");
	}
	return MHD_YES;
}

size_t
smz_httpd_args(const struct smz_httpd_req *r, const char *name,
	       void (*cb)(void *arg, const char *value), void *arg)
{
	struct args a = {name, cb, arg, 0};
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, each_arg, &a);
	return a.n;
}

void
smz_httpd_resp_header(struct smz_httpd_resp *r, const char *name, const char *value)
{
	if (r->nheaders == SMZ_HTTPD_HEADERS)
		return;
	char *v = r->headers[r->nheaders].value;
	size_t n = 0;
	for (const char *p = value; *p && n < sizeof r->headers[0].value - 1; p++)
		v[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : *p == '\t' ? ' ' : '?';
	v[n] = 0;
	r->headers[r->nheaders++].name = name;
}

static enum MHD_Result
answer(struct MHD_Connection *mc, struct req *q)
{
	struct smz_httpd_resp *rs = &q->resp;
	struct MHD_Response *m = NULL;
	unsigned long long size = 0;
	q->answered = 1;
	if (rs->file) {
		struct stat st;
		int fd = fflush(rs->file) == 0 && fstat(fileno(rs->file), &st) == 0
				 ? fcntl(fileno(rs->file), F_DUPFD_CLOEXEC, 0)
				 : -1;
		fclose(rs->file);
		rs->file = NULL;
		if (fd >= 0 && (m = MHD_create_response_from_fd64((uint64_t)st.st_size, fd)))
			size = (unsigned long long)st.st_size;
		else if (fd >= 0)
			close(fd);
	} else {
		m = MHD_create_response_from_buffer(rs->len, rs->buf ? rs->buf : (void *)"",
						    rs->buf ? MHD_RESPMEM_MUST_FREE
							    : MHD_RESPMEM_PERSISTENT);
		if (m)
			rs->buf = NULL;
		size = rs->len;
	}
	if (!m) {
		free(rs->buf);
		rs->buf = NULL;
		return MHD_NO;
	}
	if (rs->type)
		MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, rs->type);
	/* decrypted mail must not linger in a cache on the way */
	MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	for (size_t i = 0; i < rs->nheaders; i++)
		MHD_add_response_header(m, rs->headers[i].name, rs->headers[i].value);
	q->status = rs->status;
	q->sent = size;
	enum MHD_Result r = MHD_queue_response(mc, (unsigned int)rs->status, m);
	MHD_destroy_response(m);
	return r;
}

static void
body_end(struct smz_httpd *h, struct req *q)
{
	q->r.body_fd = -1;
	if (q->r.body_state == SMZ_HTTPD_BODY_OK && q->body) {
		if (fflush(q->body) != 0 || ferror(q->body) || fseek(q->body, 0, SEEK_SET) != 0)
			q->r.body_state = SMZ_HTTPD_BODY_IO;
		else
			q->r.body_fd = fileno(q->body);
	} else if (q->r.body_state == SMZ_HTTPD_BODY_OK) { /* no body */
		if (!(q->body = smz_memfile()))
			q->r.body_state = SMZ_HTTPD_BODY_IO;
		else
			q->r.body_fd = fileno(q->body);
	}
	q->r.body_len = q->got;
	if (q->r.body_state == SMZ_HTTPD_BODY_IO)
		logf_(h, "error: cannot spool a request body: %s", strerror(errno));
}

static enum MHD_Result
respond(struct smz_httpd *h, struct MHD_Connection *mc, struct req *q)
{
	memset(&q->resp, 0, sizeof q->resp);
	h->svc.handle(h->svc.arg, &q->r, &q->resp);
	return answer(mc, q);
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
	  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct smz_httpd *h = cls;
	struct req *q = *con_cls;
	if (!q) { /* the headers are in */
		if (!(q = calloc(1, sizeof *q)))
			return MHD_NO;
		*con_cls = q;
		atomic_fetch_add(&h->active, 1);
		clock_gettime(CLOCK_MONOTONIC, &q->start);
		const union MHD_ConnectionInfo *i =
			MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		q->conn = i ? i->socket_context : NULL;
		if (!q->conn)
			return MHD_NO;
		conn_busy(h, q->conn, 1);
		if (!q->conn->checked) {
			client_check(mc, &q->conn->c);
			q->conn->checked = 1;
		}
		snprintf(q->method, sizeof q->method, "%s", method);
		snprintf(q->path, sizeof q->path, "%s", url);
		q->r = (struct smz_httpd_req){q->method, q->path, &q->conn->c, -1, 0, -1, 0, mc};
		const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		char *end;
		if (cl && (q->r.length = strtoll(cl, &end, 10), *end || q->r.length < 0))
			q->r.length = -1;
		if (h->svc.admit(h->svc.arg, &q->r, &q->resp))
			return answer(mc, q);
		return MHD_YES;
	}
	if (q->answered) { /* refused early: what still comes is dropped */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		q->got += n;
		*upload_size = 0;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long took = now.tv_sec - q->start.tv_sec;
		if (q->got > (unsigned long long)h->o.max_body) {
			q->status = 413;
			q->why = " (closed: over the size limit)";
			return MHD_NO;
		}
		if (took > h->o.timeout && q->got < (unsigned long long)took * MIN_RATE) {
			q->status = 408;
			q->why = " (closed: too slow)";
			return MHD_NO;
		}
		if (q->r.body_state != SMZ_HTTPD_BODY_OK) /* dropped, answered at the end */
			return MHD_YES;
		if ((!q->body && !(q->body = q->r.length >= 0 && q->r.length <= SMZ_HTTPD_MEM_BODY
						     ? smz_memfile()
						     : smz_tmpfile())) ||
		    fwrite(upload_data, 1, n, q->body) != n) {
			q->r.body_state = SMZ_HTTPD_BODY_IO;
			logf_(h, "error: cannot spool a request body: %s", strerror(errno));
		}
		return MHD_YES;
	}
	body_end(h, q);
	enum MHD_Result r = respond(h, mc, q);
	if (q->body) /* the service has read it */
		fclose(q->body), q->body = NULL;
	return r;
}

static void
completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)mc;
	struct smz_httpd *h = cls;
	struct req *q = *con_cls;
	if (!q)
		return;
	conn_busy(h, q->conn, 0);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - q->start.tv_sec) * 1000 +
		  (now.tv_nsec - q->start.tv_nsec) / 1000000;
	static const char *const why[] = {"",
					  " (error)",
					  " (timed out)",
					  " (server stopped)",
					  " (read error)",
					  " (client gone)"};
	const struct smz_httpd_client *c = q->conn ? &q->conn->c : NULL;
	char subj[300] = "-";
	if (c && c->cert != SMZ_HTTPD_CERT_NONE) {
		size_t n = 0;
		for (const char *p = c->subject; *p && n < sizeof subj - 1; p++)
			subj[n++] = *p == '"' || *p < 0x20 || *p >= 0x7f ? '?' : *p;
		subj[n] = 0;
	}
	logf_(h, "access %s \"%s\" %s %s %d %llu %ldms%s", c && c->addr[0] ? c->addr : "-", subj,
	      q->method, q->path, q->status, q->sent, ms,
	      q->why					   ? q->why
	      : (unsigned)toe < sizeof why / sizeof why[0] ? why[toe]
							   : " (aborted)");
	if (q->body)
		fclose(q->body);
	if (q->resp.file)
		fclose(q->resp.file);
	free(q->resp.buf);
	free(q);
	*con_cls = NULL;
	atomic_fetch_sub(&h->active, 1);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct smz_httpd *h = cls;
	char line[600];
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\r\n")] = 0;
	logf_(h, "httpd: %s", line);
}

/* ---- the server ---- */

static char *
read_text(const char *path, struct smz_err *e)
{
	gnutls_datum_t d = {NULL, 0};
	int r = gnutls_load_file(path, &d);
	if (r < 0) {
		smz_err_set(e, SMZ_ERR_CONFIG, "%s: %s", path, gnutls_strerror(r));
		return NULL;
	}
	char *s = malloc(d.size + 1);
	if (s) {
		memcpy(s, d.data, d.size);
		s[d.size] = 0;
	} else {
		smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	gnutls_free(d.data);
	return s;
}

int
smz_httpd_start(const struct smz_httpd_opts *o, const struct smz_httpd_service *svc,
		struct smz_httpd **out, struct smz_err *e)
{
	struct smz_httpd *h = calloc(1, sizeof *h);
	if (!h)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	h->o = *o;
	h->svc = *svc;
	pthread_mutex_init(&h->conns_mu, NULL);
	pthread_cond_init(&h->stop_cv, NULL);
	int rc = smz_httpd_reload(h, o->cert, o->key, e);
	if (!rc && !(h->trust = read_text(o->client_ca, e)))
		rc = e->code;
	/* the address to listen on */
	struct sockaddr_in6 a6 = {0};
	struct sockaddr_in a4 = {0};
	struct sockaddr *sa = NULL;
	if (!rc && inet_pton(AF_INET, o->listen, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)o->port);
		sa = (struct sockaddr *)&a4;
	} else if (!rc && inet_pton(AF_INET6, o->listen, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons((uint16_t)o->port);
		sa = (struct sockaddr *)&a6;
	} else if (!rc) {
		rc = smz_err_set(e, SMZ_ERR_CONFIG, "%s: not an IP address", o->listen);
	}
	if (!rc) {
		unsigned int flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				     MHD_USE_ITC | MHD_USE_ERROR_LOG |
				     (sa->sa_family == AF_INET6 ? MHD_USE_IPv6 : 0);
		h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, access_cb, h,
					MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
					MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_HTTPS_CERT_CALLBACK,
					retrieve, MHD_OPTION_HTTPS_MEM_TRUST, h->trust,
					MHD_OPTION_HTTPS_PRIORITIES, PRIORITIES,
					MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)o->threads,
					MHD_OPTION_CONNECTION_LIMIT,
					(unsigned int)o->max_connections,
					MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					(unsigned int)o->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
					(unsigned int)o->timeout,
					MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header,
					MHD_OPTION_NOTIFY_CONNECTION, notify_conn, h,
					MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
		if (!h->d)
			rc = smz_err_set(e, SMZ_ERR_UNAVAILABLE, "cannot listen on %s port %d%s%s",
					 o->listen, o->port, errno ? ": " : "",
					 errno ? strerror(errno) : "");
	}
	if (!rc && !(h->watching = !pthread_create(&h->watchdog, NULL, watchdog, h)))
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot start a thread");
	if (rc) {
		smz_httpd_stop(h, 0);
		return rc;
	}
	*out = h;
	return 0;
}

int
smz_httpd_active(struct smz_httpd *h)
{
	return atomic_load(&h->active);
}

int
smz_httpd_port(const struct smz_httpd *h)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : -1;
}

void
smz_httpd_stop(struct smz_httpd *h, int grace)
{
	if (!h)
		return;
	if (h->d) {
		MHD_socket fd = MHD_quiesce_daemon(h->d);
		for (int i = 0; i < grace * 20 && atomic_load(&h->active) > 0; i++)
			usleep(50 * 1000);
		if (h->watching) {
			pthread_mutex_lock(&h->conns_mu);
			h->stopping = 1;
			pthread_cond_signal(&h->stop_cv);
			pthread_mutex_unlock(&h->conns_mu);
			pthread_join(h->watchdog, NULL);
		}
		MHD_stop_daemon(h->d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	pthread_mutex_lock(&cert_mu);
	certset_free(current);
	current = NULL;
	pthread_mutex_unlock(&cert_mu);
	pthread_cond_destroy(&h->stop_cv);
	pthread_mutex_destroy(&h->conns_mu);
	free(h->trust);
	free(h);
}
