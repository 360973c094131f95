/* The plan smz-provision, smz-renew and smz-offboard carry out. */
#include "plan.h"
#include "ca.h"
#include "dbenv.h"
#include "vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[] = {"join", "move", "leave", "renew", "nothing"};

const char *
smz_plan_action_name(enum smz_plan_action a)
{
	return a < SMZ_PLAN_NACTIONS ? action_names[a] : "?";
}

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	size_t c = *cap ? *cap * 2 : 64;
	void *q = realloc(p, c * size);
	if (q)
		*cap = c;
	return q;
}

int
smz_plan_add_cert(struct smz_plan_facts *f, const char *serial, const char *address,
		  long long not_after, int revoked)
{
	struct smz_plan_cert *c = grow(f->certs, &f->certs_cap, f->ncerts, sizeof *c);
	if (!c)
		return SMZ_ERR_INTERNAL;
	f->certs = c;
	c += f->ncerts;
	c->serial = strdup(serial);
	c->address = strdup(address);
	c->not_after = not_after;
	c->revoked = revoked;
	if (!c->serial || !c->address) {
		free(c->serial);
		free(c->address);
		return SMZ_ERR_INTERNAL;
	}
	f->ncerts++;
	return 0;
}

int
smz_plan_add_key(struct smz_plan_facts *f, const char *address, const char *employee_id)
{
	struct smz_plan_key *k = grow(f->keys, &f->keys_cap, f->nkeys, sizeof *k);
	if (!k)
		return SMZ_ERR_INTERNAL;
	f->keys = k;
	k += f->nkeys;
	k->address = strdup(address);
	k->employee_id = strdup(employee_id);
	if (!k->address || !k->employee_id) {
		free(k->address);
		free(k->employee_id);
		return SMZ_ERR_INTERNAL;
	}
	f->nkeys++;
	return 0;
}

void
smz_plan_facts_free(struct smz_plan_facts *f)
{
	for (size_t i = 0; i < f->ncerts; i++) {
		free(f->certs[i].serial);
		free(f->certs[i].address);
	}
	for (size_t i = 0; i < f->nkeys; i++) {
		free(f->keys[i].address);
		free(f->keys[i].employee_id);
	}
	free(f->certs);
	free(f->keys);
	memset(f, 0, sizeof *f);
}

static int
ca_cb(void *arg, json_t *rec)
{
	const char *st = json_string_value(json_object_get(rec, "status"));
	const char *serial = json_string_value(json_object_get(rec, "serial"));
	int revoked = st && strcmp(st, "revoked") == 0;
	if (!serial || !st || (!revoked && strcmp(st, "valid") != 0))
		return 0;
	long long na = json_integer_value(json_object_get(rec, "not_after"));
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		if (json_is_string(a) &&
		    smz_plan_add_cert(arg, serial, json_string_value(a), na, revoked))
			return -1;
	}
	return 0;
}

int
smz_plan_read_ca(struct smz_ca *ca, struct smz_plan_facts *f, struct smz_err *e)
{
	int rc = smz_ca_foreach(ca, ca_cb, f, e);
	return rc == -1 ? smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory") : rc;
}

static int
vault_cb(void *arg, json_t *rec)
{
	const char *emp = json_string_value(json_object_get(rec, "employee_id"));
	size_t i;
	json_t *a;
	if (!emp || !*emp)
		return 0;
	json_array_foreach(json_object_get(rec, "addresses"), i, a)
	{
		if (json_is_string(a) && smz_plan_add_key(arg, json_string_value(a), emp))
			return -1;
	}
	return 0;
}

int
smz_plan_read_vault(const char *dir, struct smz_plan_facts *f, int *found, struct smz_err *e)
{
	struct smz_vault *v;
	*found = 0;
	if (!dir || !*dir)
		return 0;
	int rc = smz_vault_open(dir, &v, e);
	if (rc == SMZ_ERR_NOINPUT)
		return 0;
	if (rc)
		return rc;
	*found = 1;
	rc = smz_vault_foreach(v, vault_cb, f, e);
	smz_vault_close(v);
	return rc == -1 ? smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory") : rc;
}

int
smz_plan_read_list(FILE *in, char ***list, size_t *n,
		   void (*reject)(void *arg, size_t line, const char *why), void *arg,
		   struct smz_err *e)
{
	char line[SMZ_ADDR_MAX + 64], **l = NULL;
	size_t lineno = 0, cnt = 0, cap = 0;
	int rc = 0;
	while (!rc && fgets(line, sizeof line, in)) {
		lineno++;
		size_t len = strlen(line);
		int c, too_long = len == sizeof line - 1 && line[len - 1] != '\n';
		while (too_long && (c = getc(in)) != EOF && c != '\n')
			; /* longer than any address: the rest of the line goes too */
		while (len > 0 && strchr(" \t\r\n", line[len - 1]))
			line[--len] = 0;
		char *a = line + strspn(line, " \t"), norm[SMZ_ADDR_MAX];
		struct smz_err ae;
		if (!*a)
			continue;
		if (too_long)
			smz_err_set(&ae, SMZ_ERR_DATA, "line too long for an address");
		if (too_long || smz_addr_normalize(a, norm, &ae) < 0) {
			reject(arg, lineno, ae.msg);
			continue;
		}
		char **g = grow(l, &cap, cnt, sizeof *l);
		if (!g || !(g[cnt] = strdup(norm)))
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		else
			cnt++;
		l = g ? g : l;
	}
	if (!rc && ferror(in))
		rc = smz_err_set(e, SMZ_ERR_IO, "read error");
	if (rc) {
		smz_plan_list_free(l, cnt);
		return rc;
	}
	*list = l;
	*n = cnt;
	return 0;
}

void
smz_plan_list_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* One mention of a person: a roster row, a line of the leavers list or an
 * address of a certificate.  Sorted by key, a person's mentions are
 * together, and the certificates among them newest first. */
enum { M_ROSTER, M_LISTED, M_VALID, M_REVOKED };

struct mention {
	char *key;
	int kind;
	size_t i; /* into the roster, the list or the certificates */
	long long t;
};

struct person {
	const char *key;
	const char *name;	   /* how the plan names them */
	const struct smz_row *row; /* the roster's active row, else a left one */
	const char *listed;	   /* as the leavers list names them */
	const struct mention *valid;
	size_t nvalid;
	int revoked; /* some certificate was revoked */
	struct person *from;
	int moved; /* someone moved on from this address */
};

static int
mention_cmp(const void *a, const void *b)
{
	const struct mention *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	if (x->t != y->t)
		return x->t > y->t ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct smz_plan_row *x = a, *y = b;
	int c = strcmp(x->address, y->address);
	if (c)
		return c;
	if (x->not_after != y->not_after)
		return x->not_after > y->not_after ? -1 : 1;
	return strcmp(x->serial, y->serial);
}

struct work {
	const struct smz_plan_opts *o;
	const struct smz_plan_facts *f;
	struct mention *m;
	size_t nm;
	struct person *p;
	size_t np;
	struct smz_plan *out;
	size_t cap;
};

/* Add a mention of addr (normalised again: what lib/addr no longer
 * accepts matches nobody). */
static int
mention(struct work *w, const char *addr, int kind, size_t i, long long t)
{
	char norm[SMZ_ADDR_MAX], key[SMZ_ADDR_MAX];
	struct smz_err ae;
	if (smz_addr_normalize(addr, norm, &ae) < 0)
		return 0;
	smz_addr_key(norm, w->o->local_part_sensitive, key);
	struct mention *m = &w->m[w->nm];
	if (!(m->key = strdup(key)))
		return SMZ_ERR_INTERNAL;
	m->kind = kind;
	m->i = i;
	m->t = t;
	w->nm++;
	return 0;
}

static struct person *
find(struct work *w, const char *addr)
{
	char norm[SMZ_ADDR_MAX], key[SMZ_ADDR_MAX];
	struct smz_err ae;
	if (smz_addr_normalize(addr, norm, &ae) < 0)
		return NULL;
	smz_addr_key(norm, w->o->local_part_sensitive, key);
	size_t lo = 0, hi = w->np;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, w->p[mid].key);
		if (c == 0)
			return &w->p[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int
gather(struct work *w)
{
	const struct smz_plan_opts *o = w->o;
	const struct smz_plan_facts *f = w->f;
	size_t nr = o->mode == SMZ_PLAN_ROSTER && o->roster ? o->roster->n : 0;
	size_t nl = o->mode == SMZ_PLAN_LEAVERS ? o->nleavers : 0;
	w->m = calloc(nr + nl + f->ncerts + 1, sizeof *w->m);
	if (!w->m)
		return SMZ_ERR_INTERNAL;
	int rc = 0;
	for (size_t i = 0; i < nr && !rc; i++)
		if (o->roster->rows[i].outcome != SMZ_ROW_REJECTED)
			rc = mention(w, o->roster->rows[i].address, M_ROSTER, i, 0);
	for (size_t i = 0; i < nl && !rc; i++)
		rc = mention(w, o->leavers[i], M_LISTED, i, 0);
	for (size_t i = 0; i < f->ncerts && !rc; i++) {
		const struct smz_plan_cert *c = &f->certs[i];
		/* a certificate past its notAfter is neither renewed nor revoked */
		if (c->revoked || c->not_after >= o->now)
			rc = mention(w, c->address, c->revoked ? M_REVOKED : M_VALID, i,
				     c->not_after);
	}
	if (rc)
		return rc;
	qsort(w->m, w->nm, sizeof *w->m, mention_cmp);
	if (!(w->p = calloc(w->nm + 1, sizeof *w->p)))
		return SMZ_ERR_INTERNAL;
	for (size_t i = 0; i < w->nm; i++) {
		const struct mention *m = &w->m[i];
		if (!w->np || strcmp(w->p[w->np - 1].key, m->key) != 0)
			w->p[w->np++].key = m->key;
		struct person *p = &w->p[w->np - 1];
		const struct smz_row *r = m->kind == M_ROSTER ? &o->roster->rows[m->i] : NULL;
		if (r && (!p->row || (p->row->outcome != SMZ_ROW_OK && r->outcome == SMZ_ROW_OK)))
			p->row = r;
		if (m->kind == M_LISTED && !p->listed)
			p->listed = o->leavers[m->i];
		if (m->kind == M_VALID && !p->nvalid++)
			p->valid = m;
		p->revoked |= m->kind == M_REVOKED;
	}
	return 0;
}

static int
active(const struct person *p)
{
	return p->row && p->row->outcome == SMZ_ROW_OK;
}

struct emp {
	const char *id;
	struct person *p;
};

static int
emp_cmp(const void *a, const void *b)
{
	const struct emp *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (x->p > y->p) - (x->p < y->p);
}

/* Movers: a joiner whose employee id the vault has for keys of a leaver's
 * address.  That leaver's certificates are superseded, not off-boarded. */
static int
movers(struct work *w)
{
	const struct smz_plan_facts *f = w->f;
	struct emp *ids = calloc(f->nkeys + 1, sizeof *ids);
	size_t n = 0;
	if (!ids)
		return SMZ_ERR_INTERNAL;
	for (size_t i = 0; i < f->nkeys; i++) {
		struct person *p = find(w, f->keys[i].address);
		if (p && p->nvalid && !active(p) && *f->keys[i].employee_id)
			ids[n++] = (struct emp){f->keys[i].employee_id, p};
	}
	qsort(ids, n, sizeof *ids, emp_cmp);
	for (size_t i = 0; i < w->np; i++) {
		struct person *p = &w->p[i];
		const char *id = active(p) ? p->row->field[SMZ_F_EMPID] : NULL;
		if (p->nvalid || !id || !*id)
			continue;
		size_t lo = 0, hi = n; /* the first entry of that id */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (strcmp(ids[mid].id, id) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* one mover per old address: a second joiner with the id joins */
		struct emp *hit = ids + lo;
		while (hit < ids + n && strcmp(hit->id, id) == 0 && hit->p->moved)
			hit++;
		if (hit < ids + n && strcmp(hit->id, id) == 0) {
			p->from = hit->p;
			hit->p->moved = 1;
		}
	}
	free(ids);
	return 0;
}

static int
add_row(struct work *w, enum smz_plan_action a, const char *addr, const struct mention *m,
	const char *reason)
{
	struct smz_plan *out = w->out;
	struct smz_plan_row *r = grow(out->rows, &w->cap, out->n, sizeof *r);
	if (!r)
		return SMZ_ERR_INTERNAL;
	out->rows = r;
	r += out->n++;
	memset(r, 0, sizeof *r);
	r->action = a;
	snprintf(r->address, sizeof r->address, "%s", addr);
	snprintf(r->reason, sizeof r->reason, "%s", reason);
	if (m) {
		const struct smz_plan_cert *c = &w->f->certs[m->i];
		snprintf(r->serial, sizeof r->serial, "%s", c->serial);
		r->not_after = c->not_after;
		if (!*reason) {
			char iso[32];
			smz_time_iso(c->not_after, iso);
			snprintf(r->reason, sizeof r->reason, "expires %s", iso);
		}
	}
	return 0;
}

/* One row per valid certificate of cp, or one without a serial. */
static int
rows(struct work *w, const struct person *p, enum smz_plan_action a, const struct person *cp,
     const char *reason)
{
	int rc = 0;
	w->out->people[a]++;
	if (!cp || !cp->nvalid)
		return add_row(w, a, p->name, NULL, reason);
	for (size_t i = 0; i < cp->nvalid && !rc; i++)
		rc = add_row(w, a, p->name, &cp->valid[i], reason);
	return rc;
}

/* The address a person goes by: the roster's, the list's, else that of
 * their newest certificate. */
static const char *
name_of(const struct work *w, const struct person *p)
{
	if (active(p))
		return p->row->address;
	if (p->listed && !p->nvalid)
		return p->listed;
	if (p->nvalid)
		return w->f->certs[p->valid[0].i].address;
	return p->row ? p->row->address : p->key;
}

static int
decide(struct work *w, struct person *p)
{
	const struct smz_plan_opts *o = w->o;
	int due = p->nvalid && p->valid[0].t <= o->now + o->window;
	char why[SMZ_ADDR_MAX + 48];
	switch (o->mode) {
	case SMZ_PLAN_ROSTER:
		if (active(p) && p->from) {
			snprintf(why, sizeof why, "from %s", p->from->name);
			return rows(w, p, SMZ_PLAN_MOVE, p->from, why);
		}
		if (active(p) && !p->nvalid)
			return rows(w, p, SMZ_PLAN_JOIN, NULL, "no valid certificate");
		if (active(p))
			return due ? rows(w, p, SMZ_PLAN_RENEW, p, "")
				   : rows(w, p, SMZ_PLAN_NOTHING, p, "unchanged");
		if (!p->nvalid || p->moved)
			return 0;
		if (p->row)
			snprintf(why, sizeof why, "left (%s)",
				 p->row->reason ? p->row->reason : "status");
		else
			snprintf(why, sizeof why, "not in the roster");
		return rows(w, p, SMZ_PLAN_LEAVE, p, why);
	case SMZ_PLAN_LEAVERS:
		if (!p->listed)
			return 0;
		if (p->nvalid)
			return rows(w, p, SMZ_PLAN_LEAVE, p, "listed as leaving");
		if (p->revoked)
			w->out->before++;
		else
			w->out->unknown++;
		return rows(w, p, SMZ_PLAN_NOTHING, NULL,
			    p->revoked ? "off-boarded before" : "no certificate from this CA");
	case SMZ_PLAN_RENEWALS:
		if (!p->nvalid)
			return 0;
		return due ? rows(w, p, SMZ_PLAN_RENEW, p, "")
			   : rows(w, p, SMZ_PLAN_NOTHING, p, "not due");
	}
	return 0;
}

/* The safety stop: a truncated export or a wrong list must not off-board
 * half the company. */
static int
safety_stop(const struct work *w, struct smz_err *e)
{
	const struct smz_plan_opts *o = w->o;
	size_t leaving = 0;
	for (size_t i = 0; i < w->np; i++) {
		const struct person *p = &w->p[i];
		leaving += p->nvalid &&
			   (o->mode == SMZ_PLAN_LEAVERS
				    ? p->listed != NULL
				    : o->mode == SMZ_PLAN_ROSTER && !active(p) && !p->moved);
	}
	if (o->force || !leaving || (double)leaving <= o->max_fraction * (double)w->out->certified)
		return 0;
	if (o->mode == SMZ_PLAN_ROSTER)
		return smz_err_need(e, SMZ_ERR_PERM, SMZ_NEED_FORCE,
				    "the roster would off-board %zu of %zu people (more than %g; "
				    "policy [offboarding] max_fraction): is the export truncated? "
				    "Nothing was changed",
				    leaving, w->out->certified, o->max_fraction);
	return smz_err_need(e, SMZ_ERR_PERM, SMZ_NEED_FORCE,
			    "refusing to off-board %zu of %zu people (more than %g of them; "
			    "policy [offboarding] max_fraction)",
			    leaving, w->out->certified, o->max_fraction);
}

int
smz_plan_make(const struct smz_plan_opts *o, const struct smz_plan_facts *f, struct smz_plan *out,
	      struct smz_err *e)
{
	struct smz_plan res = {0};
	struct work w = {o, f, NULL, 0, NULL, 0, &res, 0};
	int rc = gather(&w);
	if (!rc && o->mode == SMZ_PLAN_ROSTER)
		rc = movers(&w);
	for (size_t i = 0; !rc && i < w.np; i++) {
		w.p[i].name = name_of(&w, &w.p[i]);
		res.certified += w.p[i].nvalid > 0;
	}
	if (!rc)
		rc = safety_stop(&w, e);
	for (size_t i = 0; !rc && i < w.np; i++)
		rc = decide(&w, &w.p[i]);
	for (size_t i = 0; i < w.nm; i++)
		free(w.m[i].key);
	free(w.m);
	free(w.p);
	if (rc) {
		free(res.rows);
		return rc == SMZ_ERR_INTERNAL ? smz_err_set(e, rc, "out of memory") : rc;
	}
	qsort(res.rows, res.n, sizeof *res.rows, row_cmp);
	*out = res;
	return 0;
}

void
smz_plan_free(struct smz_plan *p)
{
	free(p->rows);
	memset(p, 0, sizeof *p);
}
