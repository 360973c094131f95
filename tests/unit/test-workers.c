/* The worker pool: reports come back in item order whatever the number of
 * workers, totals add up, and one code sums the run up. */
#include <stdlib.h>
#include "tap.h"
#include "workers.h"

struct t {
	size_t n;    /* items */
	int fail_at; /* this item reports SMZ_ERR_IO; -1: none */
	int no_at;   /* this item says no (SMZ_ERR_VERIFY); -1: none */
	size_t sum;  /* of the items done: totals */
	char log[4096];
	size_t seen;
};

static int
work(void *arg, struct smz_workers *w, size_t first, size_t step)
{
	struct t *t = arg;
	for (size_t i = first; i < t->n; i += step) {
		t->sum += i;
		int code = (int)i == t->fail_at ? SMZ_ERR_IO
			   : (int)i == t->no_at ? SMZ_ERR_VERIFY
						: 0;
		if (code == SMZ_ERR_VERIFY)
			smz_workers_result(w, i, code, "%zu: FAIL", i);
		else if (code) {
			struct smz_err e = {0};
			smz_err_set(&e, code, "item %zu", i);
			smz_workers_fail(w, i, code, &e, "write");
		} else {
			smz_workers_rec(w, i, 0, json_pack("{s:I}", "i", (json_int_t)i));
		}
		smz_workers_note(w, i, 0, "%zu done", i);
	}
	return 0;
}

static json_t *
totals(void *arg)
{
	return json_integer((json_int_t)((struct t *)arg)->sum);
}

static void
add(void *arg, json_t *j)
{
	((struct t *)arg)->sum += (size_t)json_integer_value(j);
}

static void
report(void *arg, const struct smz_workers_report *r)
{
	struct t *t = arg;
	size_t l = strlen(t->log);
	if (r->rec)
		snprintf(t->log + l, sizeof t->log - l, "r%lld ",
			 (long long)json_integer_value(json_object_get(r->rec, "i")));
	else if (r->what)
		snprintf(t->log + l, sizeof t->log - l, "[%s: %s] ", r->what, r->err->msg);
	else
		snprintf(t->log + l, sizeof t->log - l, "%s%s ", r->result ? "=" : "", r->text);
	t->seen++;
}

static int
run(struct t *t, size_t jobs, struct smz_err *e)
{
	struct smz_workers w;
	struct smz_workers_opts o = {jobs, work, totals, add, t, report, t};
	smz_workers_init(&w, &o);
	smz_workers_run(&w);
	return smz_workers_end(&w, e);
}

int
main(void)
{
	const char *want =
		"r0 0 done r1 1 done =2: FAIL 2 done r3 3 done r4 4 done [write: item 5] "
		"5 done r6 6 done r7 7 done r8 8 done r9 9 done ";
	for (size_t jobs = 1; jobs <= 4; jobs++) {
		struct t t = {10, 5, 2, 0, "", 0};
		struct smz_err e = {0};
		int rc = run(&t, jobs, &e);
		is_str(t.log, want, "-j %zu: reports in item order", jobs);
		ok(rc == SMZ_ERR_IO && strcmp(e.msg, "write: item 5") == 0,
		   "-j %zu: a failure beats an earlier no (%d, %s)", jobs, rc, e.msg);
		ok(t.sum == 45, "-j %zu: every item once, totals added (%zu)", jobs, t.sum);
	}
	struct t t = {4, -1, 3, 0, "", 0};
	ok(run(&t, 2, NULL) == SMZ_ERR_VERIFY, "a no alone is the run's code");
	struct t u = {3, -1, -1, 0, "", 0};
	ok(run(&u, 64, NULL) == 0 && u.sum == 3, "more workers than items: still once each");
	return done_testing();
}
