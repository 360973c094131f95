#include "keygen.h"
#include "keypool.h"
#include "keys.h"
#include "pem.h"
#include "progress.h"
#include "vault.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOKAHEAD 4096
#define BATCH_MAX 512
#define BATCH_SECONDS 1.0

enum item_kind { IT_GENERATE, IT_RESEND };

struct item {
	struct smz_row *row;
	const char *usage;
	enum item_kind kind;
	/* filled by a worker */
	int done, failed;
	char why[256];
	unsigned char key_id[SMZ_KEYID_LEN];
	unsigned char *csr, *sealed, *gw_sealed;
	size_t csr_len, sealed_len, gw_sealed_len;
	char *claimed; /* a key drawn from the key pool: its file, removed once vaulted */
};

struct pool {
	const struct smz_keygen_opts *o;
	const unsigned char *pk, *gwpk; /* the vault's and the gateway's (or NULL) */
	struct smz_pool *keys;		/* pre-generated keys, or NULL */
	struct item *items;
	size_t n, next, committed;
	int stop;
	char *pool_note; /* the first key pool failure, for the caller (under mu) */
	pthread_mutex_t mu;
	pthread_cond_t more, done;
};

/* What one worker reuses from key to key. */
struct worker_state {
	struct smz_keygen_ctx *gen;
	struct smz_secret p8, msg;
};

static void
make_one(struct pool *p, struct worker_state *w, struct item *it)
{
	struct smz_err e = {0};
	EVP_PKEY *k = NULL;
	struct smz_row *row = it->row;
	char *cn = smz_row_common_name(row);
	struct smz_csr_subject subj = {row->address, cn, row->field[SMZ_F_GIVEN],
				       row->field[SMZ_F_SURNAME], it->usage};
	char claimed[PATH_MAX + 300];
	int drawn = 0;
	if (p->keys) { /* from the key pool when it has one left */
		int r = smz_pool_take(p->keys, &k, claimed, sizeof claimed, &e);
		drawn = r == 0;
		if (r && r != SMZ_ERR_NOTFOUND) {
			pthread_mutex_lock(&p->mu);
			if (!p->pool_note[0])
				snprintf(p->pool_note, 300, "%.299s", e.msg);
			pthread_mutex_unlock(&p->mu);
		}
		e.msg[0] = 0;
	}
	if (drawn)
		it->claimed = strdup(claimed);
	if ((!drawn && ((!w->gen && smz_key_generator_new(p->o->policy->alg, &w->gen, &e)) ||
			smz_key_generator_next(w->gen, &k, &e))) ||
	    smz_csr_build(k, &subj, &it->csr, &it->csr_len, it->key_id, &e) ||
	    smz_key_to_pkcs8(k, &w->p8, &e) ||
	    smz_vault_seal(p->pk, it->key_id, &w->p8, &w->msg, &it->sealed, &it->sealed_len) ||
	    (p->gwpk && smz_vault_seal(p->gwpk, it->key_id, &w->p8, &w->msg, &it->gw_sealed,
				       &it->gw_sealed_len))) {
		it->failed = 1;
		snprintf(it->why, sizeof it->why, "%.250s",
			 e.msg[0] ? e.msg : "key generation failed");
	}
	if (w->p8.buf)
		sodium_memzero(w->p8.buf, w->p8.cap);
	EVP_PKEY_free(k);
	free(cn);
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	struct worker_state w = {0};
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->next < p->n && p->next >= p->committed + LOOKAHEAD)
			pthread_cond_wait(&p->more, &p->mu);
		if (p->stop || p->next >= p->n) {
			pthread_mutex_unlock(&p->mu);
			smz_key_generator_free(w.gen);
			smz_secret_free(&w.p8);
			smz_secret_free(&w.msg);
			return NULL;
		}
		struct item *it = &p->items[p->next++];
		pthread_mutex_unlock(&p->mu);
		if (it->kind == IT_GENERATE)
			make_one(p, &w, it);
		pthread_mutex_lock(&p->mu);
		it->done = 1;
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
}

struct look {
	const char *usage;
	int reuse; /* also the CSR of a certified key */
	int active, certified;
	unsigned char *csr;
	size_t csr_len;
};

static int
look_cb(void *arg, json_t *rec)
{
	struct look *l = arg;
	const char *st = json_string_value(json_object_get(rec, "state"));
	const char *us = json_string_value(json_object_get(rec, "usage"));
	if (!st || strcmp(st, "active") != 0 || !us || strcmp(us, l->usage) != 0)
		return 0;
	l->active = 1;
	if (json_array_size(json_object_get(rec, "certs")) > 0) {
		l->certified = 1;
		if (!l->reuse)
			return 0;
	}
	const char *csr = json_string_value(json_object_get(rec, "csr"));
	if (csr && !l->csr) {
		size_t cap = strlen(csr);
		l->csr = malloc(cap);
		if (l->csr && sodium_base642bin(l->csr, cap, csr, cap, NULL, &l->csr_len, NULL,
						sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(l->csr);
			l->csr = NULL;
		}
	}
	return 0;
}

static void
item_clear(struct item *it)
{
	free(it->csr);
	free(it->sealed);
	free(it->gw_sealed);
	free(it->claimed);
	it->csr = it->sealed = it->gw_sealed = NULL;
	it->claimed = NULL;
}

/* Commit items [from, to) that are done, then report and write them. */
static int
flush(const struct smz_keygen_opts *o, struct smz_vault *v, struct item *items, size_t from,
      size_t to, FILE *out, struct smz_keygen_stats *st, struct smz_err *e)
{
	struct smz_deposit *d = calloc(to - from + 1, sizeof *d);
	size_t *map = calloc(to - from + 1, sizeof *map), nd = 0;
	if (!d || !map) {
		free(d);
		free(map);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	const char *alg = smz_alg_name(o->policy->alg);
	for (size_t i = from; i < to; i++) {
		struct item *it = &items[i];
		if (it->kind != IT_GENERATE || it->failed)
			continue;
		struct smz_deposit *x = &d[nd];
		map[nd++] = i;
		x->address = it->row->address;
		x->alg = alg;
		x->usage = it->usage;
		x->source = "keygen";
		x->employee_id = it->row->field[SMZ_F_EMPID];
		memcpy(x->key_id, it->key_id, SMZ_KEYID_LEN);
		x->sealed = it->sealed;
		x->sealed_len = it->sealed_len;
		x->gw_sealed = it->gw_sealed;
		x->gw_sealed_len = it->gw_sealed_len;
		x->gw_pk = it->gw_sealed ? smz_vault_gateway_pk(v) : NULL;
		x->csr = it->csr;
		x->csr_len = it->csr_len;
		x->if_absent = !o->new_key;
		x->local_sensitive = o->policy->local_part_sensitive;
	}
	int rc = nd ? smz_vault_deposit(v, d, nd, e) : 0;
	size_t k = 0;
	for (size_t i = from; !rc && i < to; i++) {
		struct item *it = &items[i];
		int raced = k < nd && map[k] == i && d[k].skipped;
		if (k < nd && map[k] == i)
			k++;
		if (it->failed) {
			st->failed++;
			o->report(o->arg, it->row, it->usage, SMZ_KG_FAILED, it->why);
		} else if (raced) {
			st->skipped++;
			o->report(o->arg, it->row, it->usage, SMZ_KG_RACED, NULL);
		} else {
			smz_pool_consumed(it->claimed); /* the key is in the vault now */
			if (smz_pem_write(out, "CERTIFICATE REQUEST", it->csr, it->csr_len) < 0)
				rc = smz_err_set(e, SMZ_ERR_IO, "cannot write to standard output");
			else if (it->kind == IT_RESEND)
				st->resent++;
			else
				st->generated++;
			o->report(o->arg, it->row, it->usage,
				  it->kind == IT_RESEND ? SMZ_KG_RESENT : SMZ_KG_GENERATED, NULL);
		}
	}
	for (size_t i = from; i < to; i++)
		item_clear(&items[i]);
	if (!rc && fflush(out) != 0)
		rc = smz_err_set(e, SMZ_ERR_IO, "cannot write to standard output");
	free(d);
	free(map);
	return rc;
}

int
smz_keygen_run(const struct smz_keygen_opts *o, struct smz_roster *r, FILE *out,
	       struct smz_keygen_stats *st, struct smz_err *e)
{
	memset(st, 0, sizeof *st);
	struct smz_vault *v = NULL;
	int rc = smz_vault_open(o->vault_dir, &v, e);
	if (rc)
		return rc;
	static const char *const dual[] = {"dual", NULL}, *const split[] = {"sign", "encrypt",
									    NULL};
	const char *const *usages = o->policy->split ? split : dual;
	struct item *items = calloc(r->n * 2 + 1, sizeof *items);
	size_t n = 0;
	if (!items) {
		smz_vault_close(v);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	/* Decide each row's fate up front; rows that need no work still get
	 * an item so that reports come out in roster order. */
	for (size_t i = 0; i < r->n && !rc; i++) {
		struct smz_row *row = &r->rows[i];
		if (row->outcome != SMZ_ROW_OK) {
			o->report(o->arg, row, NULL,
				  row->outcome == SMZ_ROW_LEFT ? SMZ_KG_LEFT : SMZ_KG_REJECTED,
				  row->reason ? row->reason : "out of memory");
			if (row->outcome == SMZ_ROW_LEFT)
				st->left++;
			else
				st->rejected++;
			continue;
		}
		for (const char *const *u = usages; *u; u++) {
			struct look l = {.usage = *u, .reuse = o->reuse_key};
			if (!o->new_key && (rc = smz_vault_history(v, row->address,
								   o->policy->local_part_sensitive,
								   look_cb, &l, e)))
				break;
			if (l.certified && !(o->reuse_key && l.csr)) {
				st->skipped++;
				o->report(o->arg, row, *u, SMZ_KG_EXISTS, NULL);
				free(l.csr);
				continue;
			}
			struct item *it = &items[n++];
			it->row = row;
			it->usage = *u;
			it->kind = l.active && l.csr ? IT_RESEND : IT_GENERATE;
			if (it->kind == IT_RESEND) {
				it->csr = l.csr;
				it->csr_len = l.csr_len;
			} else {
				free(l.csr);
			}
		}
	}
	struct pool p = {.o = o,
			 .pk = smz_vault_deposit_key(v),
			 .gwpk = smz_vault_gateway_pk(v),
			 .items = items,
			 .n = n,
			 .pool_note = st->pool_note};
	char pooldir[PATH_MAX];
	snprintf(pooldir, sizeof pooldir, "%s/pool", o->vault_dir);
	if (smz_pool_open(pooldir, o->policy->alg, &p.keys, e)) {
		snprintf(st->pool_note, sizeof st->pool_note, "%.299s", e->msg);
		e->msg[0] = 0;
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.more, NULL);
	pthread_cond_init(&p.done, NULL);
	int jobs = o->jobs < 1 ? 1 : o->jobs > 64 ? 64 : o->jobs;
	pthread_t th[64];
	int started = 0;
	for (; !rc && started < jobs; started++)
		if (pthread_create(&th[started], NULL, worker, &p) != 0) {
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "cannot start worker threads");
			break;
		}
	struct smz_progress prog;
	smz_progress_start(&prog, o->progress, n);
	size_t from = 0;
	double t0 = smz_now();
	for (size_t i = 0; !rc && i <= n; i++) {
		if (i < n) {
			pthread_mutex_lock(&p.mu);
			while (!items[i].done)
				pthread_cond_wait(&p.done, &p.mu);
			pthread_mutex_unlock(&p.mu);
		}
		/* Commit a group when it is large, old, or the last. */
		if (i == n || i + 1 - from >= BATCH_MAX || smz_now() - t0 >= BATCH_SECONDS) {
			size_t to = i == n ? n : i + 1;
			if (to > from)
				rc = flush(o, v, items, from, to, out, st, e);
			from = to;
			t0 = smz_now();
			pthread_mutex_lock(&p.mu);
			p.committed = from;
			pthread_cond_broadcast(&p.more);
			pthread_mutex_unlock(&p.mu);
			smz_progress_update(&prog, from);
		}
	}
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.more);
	pthread_mutex_unlock(&p.mu);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	smz_progress_end(&prog);
	for (size_t i = 0; i < n; i++)
		item_clear(&items[i]);
	free(items);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.more);
	pthread_cond_destroy(&p.done);
	smz_pool_close(p.keys);
	smz_vault_close(v);
	return rc;
}
