#include "workers.h"
#include "smime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A report in a worker's part file: this header, then the record as JSON
 * and the three strings, raw (a path need not be UTF-8). */
struct frame {
	size_t index;
	int code, err_code, has_err, result;
	size_t len[4]; /* rec, text, what, err msg; (size_t)-1: NULL */
};

static int
fold(int a, int b)
{
	if (a == 0 || a == SMZ_ERR_VERIFY)
		return b ? b : a;
	return a;
}

/* Fold r's code into the run's, keeping the words of the failure that
 * decides it. */
static void
account(struct smz_workers *w, const struct smz_workers_report *r)
{
	int was = w->code;
	w->code = fold(w->code, r->code);
	if (w->code == was)
		return;
	if (r->what)
		smz_err_set(&w->first, w->code, "%s: %s", r->what,
			    r->err && r->err->msg[0] ? r->err->msg : smz_strerror(r->code));
	else
		smz_err_set(&w->first, w->code, "%s", r->text ? r->text : smz_strerror(r->code));
}

int
smz_workers_code(struct smz_workers *w, int code)
{
	struct smz_workers_report r = {0, code, NULL, NULL, 0, NULL, NULL};
	account(w, &r);
	return w->code;
}

int
smz_workers_end(const struct smz_workers *w, struct smz_err *e)
{
	if (e && w->code)
		*e = w->first;
	return w->code;
}

void
smz_workers_init(struct smz_workers *w, const struct smz_workers_opts *o)
{
	memset(w, 0, sizeof *w);
	w->o = *o;
	if (w->o.jobs < 1)
		w->o.jobs = 1;
	if (w->o.jobs > SMZ_WORKERS_MAX)
		w->o.jobs = SMZ_WORKERS_MAX;
}

static void
put(FILE *f, const char *s, size_t len)
{
	if (s)
		fwrite(s, 1, len, f);
}

static void
emit(struct smz_workers *w, const struct smz_workers_report *r)
{
	account(w, r);
	if (!w->part) {
		if (w->o.report)
			w->o.report(w->o.report_arg, r);
		return;
	}
	char *rec = r->rec ? json_dumps(r->rec, JSON_COMPACT) : NULL;
	const char *s[4] = {rec, r->text, r->what, r->err ? r->err->msg : NULL};
	struct frame f = {r->index,	  r->code,   r->err ? r->err->code : 0,
			  r->err != NULL, r->result, {0}};
	for (int i = 0; i < 4; i++)
		f.len[i] = s[i] ? strlen(s[i]) : (size_t)-1;
	fwrite(&f, sizeof f, 1, w->part);
	for (int i = 0; i < 4; i++)
		put(w->part, s[i], f.len[i]);
	free(rec);
}

int
smz_workers_rec(struct smz_workers *w, size_t index, int code, json_t *rec)
{
	struct smz_workers_report r = {index, code, rec, NULL, 0, NULL, NULL};
	emit(w, &r);
	json_decref(rec);
	return code;
}

static int
text(struct smz_workers *w, size_t index, int code, int result, const char *fmt, va_list ap)
{
	char t[2048];
	vsnprintf(t, sizeof t, fmt, ap);
	struct smz_workers_report r = {index, code, NULL, t, result, NULL, NULL};
	emit(w, &r);
	return code;
}

int
smz_workers_note(struct smz_workers *w, size_t index, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text(w, index, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int
smz_workers_result(struct smz_workers *w, size_t index, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text(w, index, code, 1, fmt, ap);
	va_end(ap);
	return code;
}

int
smz_workers_fail(struct smz_workers *w, size_t index, int code, const struct smz_err *e,
		 const char *what)
{
	struct smz_workers_report r = {index, code, NULL, NULL, 0, what, e};
	emit(w, &r);
	return code;
}

/* The next report of a part file, NULL at its end. */
struct parsed {
	struct frame f;
	char *s[4];
	struct smz_err err;
};

static int
parse(FILE *f, struct parsed *p)
{
	memset(p, 0, sizeof *p);
	if (fread(&p->f, sizeof p->f, 1, f) != 1)
		return -1;
	for (int i = 0; i < 4; i++) {
		size_t l = p->f.len[i];
		if (l == (size_t)-1)
			continue;
		if (l > (1u << 30) || !(p->s[i] = malloc(l + 1)) || fread(p->s[i], 1, l, f) != l)
			return -1;
		p->s[i][l] = 0;
	}
	return 0;
}

static void
parsed_free(struct parsed *p)
{
	for (int i = 0; i < 4; i++)
		free(p->s[i]);
	memset(p, 0, sizeof *p);
}

static void
replay(struct smz_workers *w, struct parsed *p)
{
	struct smz_workers_report r = {p->f.index,  p->f.code, NULL, p->s[1],
				       p->f.result, p->s[2],   NULL};
	if (p->s[0])
		r.rec = json_loads(p->s[0], 0, NULL);
	if (p->f.has_err) {
		p->err.code = p->f.err_code;
		snprintf(p->err.msg, sizeof p->err.msg, "%s", p->s[3] ? p->s[3] : "");
		r.err = &p->err;
	}
	emit(w, &r);
	json_decref(r.rec);
}

/* k-way merge: each part is in index order already. */
static void
merge(struct smz_workers *w, FILE **parts, size_t n)
{
	struct parsed *p = calloc(n, sizeof *p);
	int *live = calloc(n, sizeof *live);
	for (size_t i = 0; p && live && i < n; i++) {
		rewind(parts[i]);
		live[i] = parse(parts[i], &p[i]) == 0;
	}
	for (;;) {
		size_t best = n;
		for (size_t i = 0; p && live && i < n; i++)
			if (live[i] && (best == n || p[i].f.index < p[best].f.index))
				best = i;
		if (best == n)
			break;
		replay(w, &p[best]);
		parsed_free(&p[best]);
		live[best] = parse(parts[best], &p[best]) == 0;
	}
	for (size_t i = 0; p && i < n; i++)
		parsed_free(&p[i]);
	free(p);
	free(live);
}

static void
worker(struct smz_workers *w, size_t k, FILE *part, FILE *side)
{
	w->part = part;
	int rc = w->o.work(w->o.arg, w, k, w->o.jobs);
	json_t *t = w->o.totals ? w->o.totals(w->o.arg) : NULL;
	json_t *s = json_pack("{s:i,s:o*}", "rc", rc, "totals", t);
	json_dumpf(s, side, JSON_COMPACT);
	json_decref(s);
	_exit(fflush(NULL) == 0 ? 0 : 1);
}

static void
collect(struct smz_workers *w, size_t k, pid_t pid, FILE *side)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFSIGNALED(st))
			smz_workers_note(w, 0, SMZ_ERR_INTERNAL, "worker %zu: killed by signal %d",
					 k + 1, WTERMSIG(st));
		else
			smz_workers_note(w, 0, SMZ_ERR_INTERNAL, "worker %zu: cannot report",
					 k + 1);
		return;
	}
	rewind(side);
	json_t *s = json_loadf(side, 0, NULL);
	smz_workers_code(w, (int)json_integer_value(json_object_get(s, "rc")));
	json_t *t = json_object_get(s, "totals");
	if (t && w->o.add)
		w->o.add(w->o.arg, t);
	json_decref(s);
}

int
smz_workers_run(struct smz_workers *w)
{
	size_t jobs = w->o.jobs;
	if (jobs == 1)
		return smz_workers_code(w, w->o.work(w->o.arg, w, 0, 1));
	FILE *parts[SMZ_WORKERS_MAX], *sides[SMZ_WORKERS_MAX];
	pid_t pids[SMZ_WORKERS_MAX];
	size_t started = 0;
	fflush(NULL);
	for (; started < jobs; started++) {
		parts[started] = smz_tmpfile();
		sides[started] = parts[started] ? smz_tmpfile() : NULL;
		if (!sides[started]) {
			if (parts[started])
				fclose(parts[started]);
			smz_workers_note(w, 0, SMZ_ERR_CANTCREAT,
					 "cannot create a temporary file: %s", strerror(errno));
			break;
		}
		pid_t p = fork();
		if (p == 0)
			worker(w, started, parts[started], sides[started]);
		if (p < 0) {
			smz_workers_note(w, 0, SMZ_ERR_INTERNAL, "cannot start worker %zu: %s",
					 started + 1, strerror(errno));
			fclose(parts[started]);
			fclose(sides[started]);
			break;
		}
		pids[started] = p;
	}
	for (size_t i = 0; i < started; i++)
		collect(w, i, pids[i], sides[i]);
	merge(w, parts, started);
	for (size_t i = 0; i < started; i++) {
		fclose(parts[i]);
		fclose(sides[i]);
	}
	return w->code;
}
