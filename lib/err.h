/*
 * err: the one set of error codes every lib function returns, their text,
 * and their mapping to sysexits(3) exit codes.  Functions return 0 or a
 * negative SMZ_ERR_*; the detail ("line 17: address has no domain") goes
 * into a caller-supplied struct smz_err.
 */
#ifndef SMZ_ERR_H
#define SMZ_ERR_H

#include <stddef.h>

enum {
	SMZ_OK = 0,
	SMZ_ERR_USAGE = -1,	   /* caller asked for something impossible */
	SMZ_ERR_DATA = -2,	   /* malformed or rejected input */
	SMZ_ERR_NOINPUT = -3,	   /* input file missing */
	SMZ_ERR_INTERNAL = -4,	   /* library failure, out of memory */
	SMZ_ERR_CANTCREAT = -5,	   /* cannot create output */
	SMZ_ERR_IO = -6,	   /* read/write failure */
	SMZ_ERR_TEMP = -7,	   /* busy, try again */
	SMZ_ERR_PERM = -8,	   /* wrong passphrase, too few shares, policy forbids */
	SMZ_ERR_CONFIG = -9,	   /* bad policy or vault configuration */
	SMZ_ERR_NOTFOUND = -10,	   /* no such record */
	SMZ_ERR_EXISTS = -11,	   /* already exists */
	SMZ_ERR_VERIFY = -12,	   /* an answer of "no": verification failed */
	SMZ_ERR_UNAVAILABLE = -13, /* service unavailable */
};

/* Is r one of ours (as opposed to an errno or a Berkeley DB code, which
 * are positive or far below -1000)? */
#define SMZ_IS_ERR(r) ((r) < 0 && (r) > -1000)

/* What a caller failed to give, when that is why a function failed: the
 * library names the thing ("no vault given"), never a program's option;
 * the program adds how to give it (cmd_fail: "--vault DIR, ..."). */
enum smz_need {
	SMZ_NEED_NOTHING,
	SMZ_NEED_VAULT,		  /* which vault */
	SMZ_NEED_CA,		  /* which CA */
	SMZ_NEED_UNLOCK,	  /* the vault's passphrase or its shares, one of them */
	SMZ_NEED_PASSPHRASE,	  /* the vault's passphrase */
	SMZ_NEED_SHARES,	  /* M of the vault's recovery shares */
	SMZ_NEED_SECRET,	  /* a new vault: its passphrase, shares, or both */
	SMZ_NEED_SHARE_SETUP,	  /* how many shares, how many unlock, where they go */
	SMZ_NEED_CA_PASSPHRASE,	  /* the CA key's passphrase */
	SMZ_NEED_ROOT_PASSPHRASE, /* an existing root key's passphrase */
	SMZ_NEED_FORCE,		  /* a go-ahead past a safety stop */
	SMZ_NEED_TLS_CA,	  /* the CA that signed the directory server's certificate */
	SMZ_NEED_ADDRESS_COLUMN,  /* which roster column holds the mail address */
	SMZ_NEED_KEY_UNLOCK, /* the vault opened for a key: passphrase, shares or gateway key */
	SMZ_NEED_COUNT
};

struct smz_err {
	int code;
	enum smz_need need; /* SMZ_NEED_NOTHING unless set by smz_err_need */
	char msg[1024];
};

/* Short text for a code, e.g. "bad input data". */
const char *smz_strerror(int code);

/* sysexits(3) value for a code; 0 for SMZ_OK. */
int smz_exit_code(int code);

/* Record detail in e (may be NULL) and return code, for `return smz_err_set(...)`. */
int smz_err_set(struct smz_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* smz_err_set, and what the caller must give to get past it. */
int smz_err_need(struct smz_err *e, int code, enum smz_need need, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Append OpenSSL's queued error text to e's message and clear the queue. */
int smz_err_ssl(struct smz_err *e, int code, const char *what);

#endif
