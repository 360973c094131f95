/*
 * Test helper, never installed: unlock a vault with a passphrase file and
 * print each record's address, key id and private key (PKCS#8 PEM), so the
 * tests can compare keys with CSRs and scan the vault files for them.
 * usage: unseal VAULT PASSFILE
 */
#include <openssl/pem.h>
#include <stdio.h>
#include "err.h"
#include "prog.h"
#include "vault.h"

static struct smz_vault *v;

static int
cb(void *arg, json_t *rec)
{
	(void)arg;
	EVP_PKEY *k = NULL;
	struct smz_err e = {0};
	if (smz_vault_unseal(v, rec, &k, &e) < 0) {
		fprintf(stderr, "unseal: %s\n", e.msg);
		return -1;
	}
	printf("# %s %s\n", json_string_value(json_array_get(json_object_get(rec, "addresses"), 0)),
	       json_string_value(json_object_get(rec, "key_id")));
	PEM_write_PrivateKey(stdout, k, NULL, NULL, 0, NULL, NULL);
	EVP_PKEY_free(k);
	return 0;
}

int
main(int argc, char **argv)
{
	struct smz_err e = {0};
	if (argc != 3 || smz_prog_init(argv[0]) < 0)
		return 64;
	struct smz_unlock u = {argv[2], NULL, NULL, 0};
	if (smz_vault_open(argv[1], &v, &e) || smz_vault_unlock(v, &u, "test", &e) ||
	    smz_vault_foreach(v, cb, NULL, &e)) {
		fprintf(stderr, "unseal: %s\n", e.msg);
		return 1;
	}
	smz_vault_close(v);
	return 0;
}
