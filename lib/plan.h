/*
 * plan: who joins, moves, leaves, is due for renewal or is left alone,
 * from an HR roster (or a list of leavers, or no list: renewals only)
 * compared with what the CA has issued and, to recognise movers, the
 * employee ids the vault keeps.  This is the one place those rules live:
 * smz-issue plan prints the plan, and smz-provision, smz-renew and
 * smz-offboard only carry it out.  People are told apart by lib/addr's key
 * under policy [vault] local_part, never by a rule of a script's own.
 */
#ifndef SMZ_PLAN_H
#define SMZ_PLAN_H

#include <stddef.h>
#include <stdio.h>
#include "addr.h"
#include "err.h"
#include "roster.h"

struct smz_ca;

enum smz_plan_action {
	SMZ_PLAN_JOIN,	  /* in the roster, no valid certificate: gets a key and one */
	SMZ_PLAN_MOVE,	  /* a joiner whose employee id had keys for a leaver's address */
	SMZ_PLAN_LEAVE,	  /* valid certificates and no longer in the roster: off-board */
	SMZ_PLAN_RENEW,	  /* the newest valid certificate ends within the window */
	SMZ_PLAN_NOTHING, /* the reason says why */
	SMZ_PLAN_NACTIONS
};

enum smz_plan_mode {
	SMZ_PLAN_ROSTER,   /* everyone in the roster stays, everyone else leaves */
	SMZ_PLAN_LEAVERS,  /* the people listed leave, nobody else */
	SMZ_PLAN_RENEWALS, /* no list: who is due for renewal */
};

/* What the CA and the vault know, one address at a time. */
struct smz_plan_cert {
	char *serial, *address; /* address as the CA holds it */
	long long not_after;
	int revoked; /* else issued: valid until not_after */
};

struct smz_plan_key {
	char *address, *employee_id; /* a vaulted key's address and whose it was */
};

struct smz_plan_facts {
	struct smz_plan_cert *certs;
	size_t ncerts, certs_cap;
	struct smz_plan_key *keys;
	size_t nkeys, keys_cap;
};

int smz_plan_add_cert(struct smz_plan_facts *f, const char *serial, const char *address,
		      long long not_after, int revoked);
int smz_plan_add_key(struct smz_plan_facts *f, const char *address, const char *employee_id);
/* Every valid or revoked certificate of the CA, each of its addresses. */
int smz_plan_read_ca(struct smz_ca *ca, struct smz_plan_facts *f, struct smz_err *e);
/* Every key of the vault in dir that names an employee id (needs no
 * unlocking).  No vault there (a CA host of its own) is no error: *found
 * says whether there was one; without it no mover is recognised. */
int smz_plan_read_vault(const char *dir, struct smz_plan_facts *f, int *found, struct smz_err *e);
void smz_plan_facts_free(struct smz_plan_facts *f);

/* A list of addresses, one a line, blank lines skipped, each normalised
 * into *list (malloc'd strings).  A line lib/addr refuses goes to reject
 * with its number and why, and the rest are read on. */
int smz_plan_read_list(FILE *in, char ***list, size_t *n,
		       void (*reject)(void *arg, size_t line, const char *why), void *arg,
		       struct smz_err *e);
void smz_plan_list_free(char **list, size_t n);

struct smz_plan_opts {
	enum smz_plan_mode mode;
	const struct smz_roster *roster; /* SMZ_PLAN_ROSTER */
	const char *const *leavers;	 /* SMZ_PLAN_LEAVERS: normalised addresses */
	size_t nleavers;
	int local_part_sensitive; /* policy [vault] local_part */
	double max_fraction;	  /* policy [offboarding]: the safety stop */
	int force;		  /* plan past the safety stop */
	long long now;		  /* a certificate ending before now is not valid */
	long long window;	  /* seconds: due when the newest ends by now + window */
};

struct smz_plan_row {
	enum smz_plan_action action;
	char address[SMZ_ADDR_MAX];
	char serial[48]; /* the certificate acted on; "" for none */
	char reason[SMZ_ADDR_MAX + 48];
	long long not_after; /* the certificate's; 0 for none */
};

struct smz_plan {
	/* Sorted by address, a person's rows together, newest certificate
	 * first.  One row per valid certificate acted on (move: the old
	 * address's), one without a serial for join and for nothing to do
	 * about someone without a valid certificate. */
	struct smz_plan_row *rows;
	size_t n;
	size_t people[SMZ_PLAN_NACTIONS]; /* people, not rows, by action */
	size_t certified;		  /* people with a valid certificate */
	size_t before, unknown;		  /* leavers: revoked before; no certificate */
};

/* Compute the plan.  SMZ_ERR_PERM, and no plan, when it would off-board
 * more than max_fraction of the people with a valid certificate (movers
 * do not count) and force is not set. */
int smz_plan_make(const struct smz_plan_opts *o, const struct smz_plan_facts *f,
		  struct smz_plan *out, struct smz_err *e);
void smz_plan_free(struct smz_plan *p);

/* "join", "move", "leave", "renew", "nothing". */
const char *smz_plan_action_name(enum smz_plan_action a);

#endif
