/*
 * httpd: the HTTPS front of the smz services, on libmicrohttpd and GnuTLS:
 * TLS 1.2 and 1.3 only; mutual TLS, the client's certificate verified
 * against the client CA and handed to the service with each request (never
 * taken from a header); the server's key and certificate replaced on reload
 * without a restart; a thread pool; limits on connections (in all and per
 * address), header size and idle time; each request body spooled to an
 * unlinked 0600 temporary file and counted against a size limit; one
 * access log line per request.  What a request means is the service's: it
 * sees the request once its headers are in, to refuse it before any body
 * is read, and once the body is.
 */
#ifndef SMZ_HTTPD_H
#define SMZ_HTTPD_H

#include <stddef.h>
#include <stdio.h>
#include "err.h"

struct smz_httpd;

/* The client, as TLS saw it. */
struct smz_httpd_client {
	char addr[64];	   /* its IP address */
	int cert;	   /* SMZ_HTTPD_CERT_* */
	char why[200];	   /* SMZ_HTTPD_CERT_BAD: why it does not verify */
	char subject[512]; /* its subject, RFC 4514 ("CN=mx1,O=Example") */
	char sha256[65];   /* SHA-256 of its DER, lowercase hex */
};
enum { SMZ_HTTPD_CERT_NONE, SMZ_HTTPD_CERT_BAD, SMZ_HTTPD_CERT_OK };

/* Where the body stands when the service handles the request.  A body
 * that grows past max_body, or that comes in slower than 1 KiB/s on
 * average once it has taken longer than the timeout (a client trickling
 * bytes would otherwise hold its connection for as long as it likes),
 * never reaches the service: libmicrohttpd 0.9 takes no answer before a
 * body is all in, so the connection is closed, and the access line says
 * why.  A too large body that says so in Content-Length is the service's
 * to refuse early (admit). */
enum { SMZ_HTTPD_BODY_OK, SMZ_HTTPD_BODY_IO };

/* A request body of this size or less, its length given, is held in memory
 * (memfd), as should be an answer to it: bounded by this times the
 * connection limit.  Larger ones go to unlinked temporary files. */
#define SMZ_HTTPD_MEM_BODY (256 * 1024)

struct smz_httpd_req {
	const char *method, *path;
	const struct smz_httpd_client *client;
	long long length; /* Content-Length, or -1 */
	int body_state;	  /* SMZ_HTTPD_BODY_* */
	int body_fd;	  /* handle: the body, at its start (-1: none) */
	size_t body_len;
	void *conn; /* for the look-ups below */
};

/* A request header or query argument (the first of its name), or NULL. */
const char *smz_httpd_header(const struct smz_httpd_req *r, const char *name);
const char *smz_httpd_arg(const struct smz_httpd_req *r, const char *name);
/* Every value of a query argument that may be repeated, in order; returns
 * how many (cb may be NULL to count). */
size_t smz_httpd_args(const struct smz_httpd_req *r, const char *name,
		      void (*cb)(void *arg, const char *value), void *arg);

#define SMZ_HTTPD_HEADERS 4

struct smz_httpd_resp {
	int status;
	const char *type; /* Content-Type; NULL: no body */
	char *buf;	  /* the body in memory (malloc'd, httpd frees it), or */
	size_t len;
	FILE *file; /* the body from this file's start (httpd closes it) */
	struct {
		const char *name;
		char value[1024];
	} headers[SMZ_HTTPD_HEADERS];
	size_t nheaders;
};

/* One more response header; the value is cut to printable ASCII on one line. */
void smz_httpd_resp_header(struct smz_httpd_resp *r, const char *name, const char *value);

struct smz_httpd_service {
	/* the headers are in: 0 to read the body, else *rs is the answer */
	int (*admit)(void *arg, const struct smz_httpd_req *rq, struct smz_httpd_resp *rs);
	/* the body is in, or not (rq->body_state): fill *rs */
	void (*handle)(void *arg, const struct smz_httpd_req *rq, struct smz_httpd_resp *rs);
	/* one line for the log (access lines, errors), no newline; from any thread */
	void (*log)(void *arg, const char *line);
	void *arg;
};

struct smz_httpd_opts {
	const char *listen;		    /* IP address */
	int port;			    /* 0: any free one (smz_httpd_port says which) */
	const char *cert, *key, *client_ca; /* PEM files */
	long long max_body;
	int max_connections, max_per_ip;
	int timeout; /* seconds a connection may stay idle */
	int threads;
	size_t max_header; /* bytes for the request line and headers */
};

int smz_httpd_start(const struct smz_httpd_opts *o, const struct smz_httpd_service *svc,
		    struct smz_httpd **out, struct smz_err *e);
int smz_httpd_port(const struct smz_httpd *h);

/* Requests begun (their headers read) and not yet answered, the caller's
 * own included when it is one. */
int smz_httpd_active(struct smz_httpd *h);

/* Read the server certificate (chain) and key again, for new connections;
 * when they cannot be read the old ones stay. */
int smz_httpd_reload(struct smz_httpd *h, const char *cert, const char *key, struct smz_err *e);

/* Stop accepting connections, let the requests in progress finish (for at
 * most grace seconds), then close everything. */
void smz_httpd_stop(struct smz_httpd *h, int grace);

#endif
