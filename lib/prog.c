#include "prog.h"
#include "err.h"
#include "secret.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char progname[64] = "smz";
static char actor[256];
static __thread char acting_for[600];

int
smz_prog_init(const char *argv0)
{
	/* A program started with 0, 1 or 2 closed would write keys over
	 * whatever file gets that descriptor next. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return SMZ_ERR_INTERNAL;
	umask(077);
	struct rlimit rl = {0, 0};
	if (setrlimit(RLIMIT_CORE, &rl) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0)
		return SMZ_ERR_INTERNAL;
	signal(SIGPIPE, SIG_IGN);
	const char *b = argv0 ? strrchr(argv0, '/') : NULL;
	snprintf(progname, sizeof progname, "%s", b ? b + 1 : argv0 ? argv0 : "smz");
	if (sodium_init() < 0)
		return SMZ_ERR_INTERNAL;
	/* Before OpenSSL allocates anything; without the heap (RLIMIT_MEMLOCK,
	 * no mmap) programs still run: -v notes it. */
	smz_secret_heap_init();
	if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL))
		return SMZ_ERR_INTERNAL;
	return 0;
}

const char *
smz_prog_name(void)
{
	return progname;
}

void
smz_prog_act_for(const char *who)
{
	snprintf(acting_for, sizeof acting_for, "%s", who ? who : "");
}

const char *
smz_prog_actor(void)
{
	if (acting_for[0])
		return acting_for;
	if (!actor[0]) {
		char host[128] = "localhost";
		struct passwd *pw = getpwuid(getuid());
		gethostname(host, sizeof host - 1);
		snprintf(actor, sizeof actor, "%s@%s %s", pw ? pw->pw_name : "?", host, progname);
	}
	return actor;
}
