/* vaultcheck: every record parses and agrees with the indexes; with the
 * vault unlocked, every sealed key opens and matches its key id. */
#include "vault-int.h"
#include "dbenv.h"
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check {
	struct smz_vault *v;
	DB_TXN *txn;
	int (*cb)(void *, const char *, const char *);
	void *arg;
	size_t records, failed, expect[3];
	struct smz_err *e;
};

static int
check_record(struct check *c, const DBT *k, const DBT *d)
{
	char id[65] = "?", why[512] = "";
	if (k->size == SMZ_KEYID_LEN)
		smz_hex(k->data, SMZ_KEYID_LEN, id);
	json_t *j = smz_vault_rec_parse(d);
	const char *kid = j ? json_string_value(json_object_get(j, "key_id")) : NULL;
	const char *st = j ? json_string_value(json_object_get(j, "state")) : NULL;
	if (!j)
		snprintf(why, sizeof why, "record does not parse");
	else if (!kid || strcmp(kid, id) != 0)
		snprintf(why, sizeof why, "record names key %s", kid ? kid : "(none)");
	else if (!json_is_array(json_object_get(j, "addresses")) || !st ||
		 !json_string_value(json_object_get(j, "sealed")))
		snprintf(why, sizeof why, "record lacks addresses, state or sealed key");
	for (int w = 0; !why[0] && w < 3; w++) {
		char *keys[64];
		u_int32_t lens[64];
		size_t n = 0;
		if (smz_vault_index_keys(j, (enum smz_vault_idx)w, keys, lens, 64, &n)) {
			snprintf(why, sizeof why, "bad index field");
			n = 0;
		}
		DB *idx = w == 0 ? c->v->addr : w == 1 ? c->v->isn : c->v->ski;
		for (size_t i = 0; i < n; i++) {
			DBC *cur;
			DBT sk = {.data = keys[i], .size = lens[i]},
			    pk = {.data = k->data, .size = k->size};
			DBT pd = {0};
			if (!why[0] && idx->cursor(idx, c->txn, &cur, 0) == 0) {
				if (cur->pget(cur, &sk, &pk, &pd, DB_GET_BOTH) != 0)
					snprintf(why, sizeof why, "missing from the %s index",
						 w == 0	  ? "address"
						 : w == 1 ? "issuer+serial"
							  : "SKI");
				cur->close(cur);
			}
			free(keys[i]);
		}
		/* duplicates within a record index once */
		char *k2[64];
		u_int32_t l2[64];
		size_t n2 = 0;
		if (!why[0] &&
		    smz_vault_index_keys(j, (enum smz_vault_idx)w, k2, l2, 64, &n2) == 0) {
			DBT tmp;
			if (smz_db_multi_keys(&tmp, k2, l2, n2) == 0) {
				c->expect[w] += tmp.flags & DB_DBT_MULTIPLE ? tmp.size : 1;
				if (tmp.flags & DB_DBT_MULTIPLE) {
					for (u_int32_t q = 0; q < tmp.size; q++)
						free(((DBT *)tmp.data)[q].data);
				}
				free(tmp.data);
			}
		}
	}
	if (!why[0] && c->v->sk) {
		EVP_PKEY *pk = NULL;
		struct smz_err ue = {0};
		if (smz_vault_unseal(c->v, j, &pk, &ue) < 0)
			snprintf(why, sizeof why, "%.400s", ue.msg);
		EVP_PKEY_free(pk);
	}
	json_decref(j);
	c->records++;
	if (why[0])
		c->failed++;
	return c->cb(c->arg, id, why[0] ? why : NULL);
}

static int
count_index(DB *idx, DB_TXN *txn, size_t *n, int *orphans)
{
	DBC *cur;
	int r = idx->cursor(idx, txn, &cur, 0);
	if (r)
		return r;
	DBT sk = {0}, pk = {0}, pd = {0};
	*n = 0;
	while ((r = cur->pget(cur, &sk, &pk, &pd, DB_NEXT)) == 0)
		(*n)++;
	if (r == DB_SECONDARY_BAD) {
		*orphans = 1;
		r = DB_NOTFOUND;
	}
	cur->close(cur);
	return r == DB_NOTFOUND ? 0 : r;
}

/* One read transaction, which first takes the audit head as every writer
 * does: records and indexes are seen as of one moment, never mid-batch. */
int
smz_vault_check(struct smz_vault *v, int (*cb)(void *, const char *, const char *), void *arg,
		size_t *records, size_t *failed, struct smz_err *e)
{
	struct check c = {.v = v, .cb = cb, .arg = arg, .e = e};
	DBC *cur = NULL;
	char *head = NULL;
	int r = v->env->txn_begin(v->env, NULL, &c.txn, 0), rc = 0;
	if (!r && (r = smz_db_get_str(v->meta, c.txn, "audit_head", 0, &head, NULL)) == DB_NOTFOUND)
		r = 0;
	free(head);
	if (!r)
		r = v->keys->cursor(v->keys, c.txn, &cur, 0);
	if (r) {
		if (c.txn)
			c.txn->abort(c.txn);
		return smz_db_err(e, r, "keys");
	}
	DBT k = {0}, d = {0};
	while (!rc && (r = cur->get(cur, &k, &d, DB_NEXT)) == 0)
		if (check_record(&c, &k, &d) < 0)
			rc = SMZ_ERR_IO;
	cur->close(cur);
	if (!rc && r != DB_NOTFOUND)
		rc = smz_db_err(e, r, "keys");
	static const char *names[] = {"address index", "issuer+serial index", "SKI index"};
	DB *idx[] = {v->addr, v->isn, v->ski};
	for (int w = 0; !rc && w < 3; w++) {
		size_t n = 0;
		int orphans = 0;
		if ((r = count_index(idx[w], c.txn, &n, &orphans))) {
			rc = smz_db_err(e, r, names[w]);
			break;
		}
		if (orphans || n != c.expect[w]) {
			char why[160];
			snprintf(why, sizeof why, "%zu entries for %zu expected%s", n, c.expect[w],
				 orphans ? ", some pointing at no record" : "");
			c.failed++;
			if (cb(arg, names[w], why) < 0)
				rc = SMZ_ERR_IO;
		}
	}
	c.txn->commit(c.txn, 0);
	*records = c.records;
	*failed = c.failed;
	return rc;
}
