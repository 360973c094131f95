/*
 * prog: the one start-up call every smz program makes before anything
 * else: standard descriptors open, umask 077, no core dumps and not
 * dumpable (private keys may be in memory), libsodium and OpenSSL ready,
 * OpenSSL's secure heap for private keys (see secret.h), and the program
 * name used in messages.
 */
#ifndef SMZ_PROG_H
#define SMZ_PROG_H

#define SMZ_VERSION "0.1.0"

/* Returns 0, or a negative SMZ_ERR_* if the process cannot be made safe. */
int smz_prog_init(const char *argv0);

/* Basename of argv[0] as given to smz_prog_init. */
const char *smz_prog_name(void);

/* "user@host prog" for audit entries: the actor, unless this thread acts
 * for someone else (smz_prog_act_for). */
const char *smz_prog_actor(void);

/* Audit entries this thread writes name actor (copied), e.g. a service's
 * authenticated client, until called with NULL. */
void smz_prog_act_for(const char *actor);

#endif
