/* keypool: pre-generated keys; see keypool.h. */
#include "keypool.h"
#include "fileio.h"
#include "keys.h"
#include "secret.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POOL_MAX_FILE (64u << 10)

struct smz_pool {
	char dir[PATH_MAX];
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	unsigned char *sk; /* guarded */
	char **files;	   /* candidates, taken from the end */
	size_t n;
	pthread_mutex_t mu;
};

static int
read_exact(const char *path, unsigned char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, out, len) : -1;
	if (fd >= 0)
		close(fd);
	return got == (ssize_t)len ? 0 : -1;
}

/* The pool's key pair, created with the directory when missing. */
static int
pool_keys(const char *dir, int create, unsigned char *pk, unsigned char *sk, struct smz_err *e)
{
	char pub[PATH_MAX], sec[PATH_MAX];
	snprintf(pub, sizeof pub, "%s/pool.pub", dir);
	snprintf(sec, sizeof sec, "%s/pool.key", dir);
	if (access(pub, F_OK) != 0) {
		if (!create)
			return SMZ_ERR_NOTFOUND;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return smz_err_set(e, SMZ_ERR_CANTCREAT, "%s: %s", dir, strerror(errno));
		crypto_box_keypair(pk, sk);
		int rc = smz_file_create_excl(sec, sk, crypto_box_SECRETKEYBYTES, e);
		if (!rc)
			rc = smz_file_create_excl(pub, pk, crypto_box_PUBLICKEYBYTES, e);
		return rc;
	}
	if (read_exact(pub, pk, crypto_box_PUBLICKEYBYTES) ||
	    (sk && read_exact(sec, sk, crypto_box_SECRETKEYBYTES)))
		return smz_err_set(e, SMZ_ERR_PERM,
				   "%s: cannot read the pool key pair (pool.key "
				   "must be readable by this user)",
				   dir);
	unsigned char check[crypto_box_PUBLICKEYBYTES];
	if (sk && (crypto_scalarmult_base(check, sk) != 0 || memcmp(check, pk, sizeof check)))
		return smz_err_set(e, SMZ_ERR_CONFIG, "%s: pool.key does not match pool.pub", dir);
	return 0;
}

int
smz_pool_fill(const char *dir, enum smz_alg alg, size_t n, size_t *total, struct smz_err *e)
{
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	unsigned char *sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
	if (!sk)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory");
	int rc = pool_keys(dir, 1, pk, sk, e);
	sodium_free(sk);
	struct smz_keygen_ctx *g = NULL;
	struct smz_secret p8 = {0};
	if (!rc)
		rc = smz_key_generator_new(alg, &g, e);
	for (size_t i = 0; !rc && i < n; i++) {
		EVP_PKEY *k = NULL;
		unsigned char id[SMZ_KEYID_LEN];
		char hex[2 * SMZ_KEYID_LEN + 1], path[PATH_MAX + 128];
		if ((rc = smz_key_generator_next(g, &k, e)) || (rc = smz_key_to_pkcs8(k, &p8, e)))
			break;
		smz_key_id(k, id);
		EVP_PKEY_free(k);
		smz_hex(id, sizeof id, hex);
		size_t sl = crypto_box_SEALBYTES + p8.len;
		unsigned char *sealed = malloc(sl);
		if (!sealed || crypto_box_seal(sealed, p8.buf, p8.len, pk) != 0)
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot seal a pool key");
		snprintf(path, sizeof path, "%s/%s.%s.key", dir, smz_alg_name(alg), hex);
		if (!rc)
			rc = smz_file_create_excl(path, sealed, sl, e);
		free(sealed);
		sodium_memzero(p8.buf, p8.cap);
	}
	smz_key_generator_free(g);
	smz_secret_free(&p8);
	if (!rc && total) {
		struct smz_pool *p = NULL;
		*total = 0;
		if (!smz_pool_open(dir, alg, &p, e) && p)
			*total = p->n;
		smz_pool_close(p);
	}
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
smz_pool_open(const char *dir, enum smz_alg alg, struct smz_pool **out, struct smz_err *e)
{
	*out = NULL;
	DIR *d = opendir(dir);
	if (!d)
		return 0; /* no pool */
	char prefix[32];
	int pl = snprintf(prefix, sizeof prefix, "%s.", smz_alg_name(alg));
	struct smz_pool *p = calloc(1, sizeof *p);
	if (!p) {
		closedir(d);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	snprintf(p->dir, sizeof p->dir, "%s", dir);
	pthread_mutex_init(&p->mu, NULL);
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, prefix, (size_t)pl) != 0 || l < 4 ||
		    strcmp(de->d_name + l - 4, ".key") != 0)
			continue;
		if (p->n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nf = realloc(p->files, cap * sizeof *nf);
			if (!nf)
				break;
			p->files = nf;
		}
		p->files[p->n++] = strdup(de->d_name);
	}
	closedir(d);
	if (!p->n) {
		smz_pool_close(p);
		return 0;
	}
	qsort(p->files, p->n, sizeof *p->files, cmp_str);
	p->sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
	int rc = !p->sk ? smz_err_set(e, SMZ_ERR_INTERNAL, "out of secure memory")
			: pool_keys(dir, 0, p->pk, p->sk, e);
	if (rc) {
		smz_pool_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

void
smz_pool_close(struct smz_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->files[i]);
	free(p->files);
	if (p->sk)
		sodium_free(p->sk);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int
smz_pool_take(struct smz_pool *p, EVP_PKEY **key, char *claimed, size_t cap, struct smz_err *e)
{
	for (;;) {
		pthread_mutex_lock(&p->mu);
		char *f = p->n ? p->files[--p->n] : NULL;
		pthread_mutex_unlock(&p->mu);
		if (!f)
			return SMZ_ERR_NOTFOUND;
		char path[PATH_MAX + 256];
		snprintf(path, sizeof path, "%s/%s", p->dir, f);
		if ((size_t)snprintf(claimed, cap, "%s.claimed.%ld", path, (long)getpid()) >= cap) {
			free(f);
			return smz_err_set(e, SMZ_ERR_CANTCREAT, "pool path too long");
		}
		free(f);
		if (rename(path, claimed) != 0)
			continue; /* another run took it */
		char *buf = NULL;
		size_t len = 0;
		struct smz_err re = {0};
		int rc = smz_file_read(claimed, POOL_MAX_FILE, &buf, &len, &re);
		struct smz_secret p8 = {0};
		if (!rc &&
		    (len <= crypto_box_SEALBYTES ||
		     smz_secret_alloc(&p8, len - crypto_box_SEALBYTES) ||
		     crypto_box_seal_open(p8.buf, (unsigned char *)buf, len, p->pk, p->sk) != 0))
			rc = smz_err_set(e, SMZ_ERR_DATA, "%s: a damaged pool key", claimed);
		else if (rc)
			rc = smz_err_set(e, rc, "%s", re.msg);
		free(buf);
		if (!rc)
			rc = smz_key_from_pkcs8(p8.buf, p8.len, key, e);
		smz_secret_free(&p8);
		if (rc) {
			unlink(claimed); /* useless: do not offer it again */
			return rc;
		}
		return 0;
	}
}

void
smz_pool_consumed(const char *claimed)
{
	if (claimed && claimed[0])
		unlink(claimed);
}
