/* OpenSSL's secure heap as smz_prog_init sets it up: private keys'
 * components and BIO_s_secmem buffers land in it, a full heap is said as
 * such (not as a damaged key), and without locked memory programs still
 * run, with a note. */
#include <linux/capability.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "keys.h"
#include "prog.h"
#include "secret.h"
#include "tap.h"

/* A P-256 private key as PKCS#8 DER, made without the secure heap. */
static int
p256_pkcs8(struct smz_secret *out)
{
	struct smz_err e = {0};
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int rc = k ? smz_key_to_pkcs8(k, out, &e) : -1;
	EVP_PKEY_free(k);
	return rc;
}

/* Can this process lock the whole heap: CAP_IPC_LOCK, or RLIMIT_MEMLOCK
 * room for it (nothing else is locked yet)? */
static int
can_lock(void)
{
	struct rlimit rl;
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) == 0 &&
	    (d[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)))
		return 1;
	return getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	       (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= SMZ_SECURE_HEAP);
}

/* In a child: as a process without CAP_IPC_LOCK and a 64 KiB
 * RLIMIT_MEMLOCK would start.  Exit 0 if the heap is there unlocked,
 * noted, and keys still load into it; else the number of the failed step. */
static int
unlocked_child(const struct smz_secret *der)
{
	struct rlimit rl = {64 << 10, 64 << 10};
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) == 0) { /* root keeps the limit from biting */
		d[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
		if (syscall(SYS_capset, &h, d) != 0)
			return 10;
	}
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		return 11;
	if (smz_prog_init("test-secheap") != 0)
		return 1;
	if (CRYPTO_secure_malloc_initialized() != 1 || smz_secret_heap_init() != 2)
		return 2;
	const char *note = smz_secret_heap_note();
	if (!note || !strstr(note, "RLIMIT_MEMLOCK"))
		return 3;
	struct smz_err e = {0};
	EVP_PKEY *k = NULL;
	size_t before = CRYPTO_secure_used();
	if (smz_key_from_pkcs8(der->buf, der->len, &k, &e) || CRYPTO_secure_used() <= before)
		return 4;
	EVP_PKEY_free(k);
	return 0;
}

int
main(int argc, char **argv)
{
	(void)argc;
	struct smz_err e = {0};
	struct smz_secret der = {0};
	EVP_PKEY *k = NULL, *k2 = NULL;
	if (sodium_init() < 0 || p256_pkcs8(&der))
		return 1;

	/* before this process sets its own heap up: a child inherits none */
	pid_t pid = fork();
	if (pid == 0)
		_exit(unlocked_child(&der));
	int st = 0;
	ok(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "no locked memory: the heap is there unlocked, noted, and keys load into it");
	if (WIFEXITED(st) && WEXITSTATUS(st))
		printf("#   child failed at step %d\n", WEXITSTATUS(st));

	int lockable = can_lock();
	ok(smz_prog_init(argv[0]) == 0, "start-up");
	ok(CRYPTO_secure_malloc_initialized() == 1, "the secure heap is initialised");
	if (lockable)
		ok(smz_secret_heap_init() == 1 && smz_secret_heap_note() == NULL,
		   "and locked, no note");
	else
		ok(smz_secret_heap_init() == 2 && smz_secret_heap_note() != NULL,
		   "not locked (RLIMIT_MEMLOCK below 4 MiB here), noted");

	size_t u0 = CRYPTO_secure_used();
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	size_t u1 = CRYPTO_secure_used();
	ok(k && u1 > u0, "a generated P-256 key's scalar is in it (%zu bytes)", u1 - u0);
	ok(smz_key_from_pkcs8(der.buf, der.len, &k2, &e) == 0 && CRYPTO_secure_used() > u1,
	   "so is a key unsealed from PKCS#8 (%zu bytes)", CRYPTO_secure_used() - u1);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	ok(CRYPTO_secure_used() == u0, "freeing the keys gives the memory back");

	EVP_PKEY *rsa = NULL;
	struct smz_secret rder = {0};
	ok(smz_key_generate(SMZ_ALG_RSA2048, &rsa, &e) == 0 && !smz_key_to_pkcs8(rsa, &rder, &e),
	   "an RSA-2048 key");
	EVP_PKEY_free(rsa);
	rsa = NULL;
	u0 = CRYPTO_secure_used();
	ok(smz_key_from_pkcs8(rder.buf, rder.len, &rsa, &e) == 0 &&
		   CRYPTO_secure_used() - u0 >= 5 * 128,
	   "its d, p, q and CRT values are in it (%zu bytes)", CRYPTO_secure_used() - u0);
	EVP_PKEY_free(rsa);
	smz_secret_free(&rder);

	BIO *b = BIO_new(BIO_s_secmem());
	char *data = NULL;
	ok(b && BIO_write(b, "-----BEGIN PRIVATE KEY-----\n", 28) == 28 &&
		   BIO_get_mem_data(b, &data) == 28 && CRYPTO_secure_allocated(data),
	   "a BIO_s_secmem buffer is in it");
	BIO_free(b);

	/* Fill the heap: 4 KiB pieces, then the smallest, until it refuses. */
	size_t cap = SMZ_SECURE_HEAP / 4096 + 4096, n = 0;
	void **fill = calloc(cap, sizeof *fill);
	ok(!smz_secret_heap_full(), "not full yet");
	for (size_t size = 4096; fill && size >= SMZ_SECURE_HEAP_MIN; size /= 128)
		while (n < cap && (fill[n] = OPENSSL_secure_malloc(size)))
			n++;
	ERR_clear_error();
	ok(smz_secret_heap_full(), "full after %zu allocations, %zu KiB", n,
	   CRYPTO_secure_used() >> 10);
	k = NULL;
	memset(&e, 0, sizeof e);
	ok(smz_key_from_pkcs8(der.buf, der.len, &k, &e) == SMZ_ERR_INTERNAL && !k,
	   "a key does not load into a full heap, an internal error");
	ok(strstr(e.msg, "secure memory for private keys is full") != NULL,
	   "said as such, not as a damaged key: %s", e.msg);
	ok(smz_key_generate(SMZ_ALG_P256, &k, &e) == SMZ_ERR_INTERNAL &&
		   strstr(e.msg, "secure memory") != NULL,
	   "nor is one generated");
	for (size_t i = 0; i < n; i++)
		OPENSSL_secure_free(fill[i]);
	free(fill);
	ok(!smz_secret_heap_full() && smz_key_from_pkcs8(der.buf, der.len, &k, &e) == 0,
	   "freed, keys load again");
	EVP_PKEY_free(k);
	smz_secret_free(&der);
	return done_testing();
}
