/* The plan: join, move, leave, renew, nothing, the safety stop, and
 * addresses compared by lib/addr's key whatever their case. */
#include "dbenv.h"
#include "plan.h"
#include "tap.h"

#include <stdlib.h>

#define DAY 86400LL
#define NOW 1700000000LL

static struct smz_row rows[32];
static struct smz_roster roster = {rows, 0, 32, 0, 0, 0, ','};

static void
person(const char *addr, const char *emp, const char *status)
{
	struct smz_row *r = &rows[roster.n];
	memset(r, 0, sizeof *r);
	r->line = ++roster.n + 1;
	snprintf(r->address, sizeof r->address, "%s", addr);
	r->field[SMZ_F_EMAIL] = (char *)addr;
	r->field[SMZ_F_EMPID] = (char *)emp;
	r->field[SMZ_F_STATUS] = (char *)status;
	r->outcome = status ? SMZ_ROW_LEFT : SMZ_ROW_OK;
	r->reason = (char *)status;
}

static struct smz_plan plan;

static int
make(enum smz_plan_mode mode, int sensitive, int force, const struct smz_plan_facts *f,
     const char *const *list, size_t nlist, struct smz_err *e)
{
	struct smz_plan_opts o = {mode, &roster, list, nlist,	sensitive,
				  0.25, force,	 NOW,  30 * DAY};
	smz_plan_free(&plan);
	memset(e, 0, sizeof *e);
	return smz_plan_make(&o, f, &plan, e);
}

/* The plan as "action address serial reason" lines, to compare whole. */
static const char *
text(void)
{
	static char buf[8192];
	size_t off = 0;
	buf[0] = 0;
	for (size_t i = 0; i < plan.n && off < sizeof buf; i++) {
		const struct smz_plan_row *r = &plan.rows[i];
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s %s %s %s\n",
					smz_plan_action_name(r->action), r->address,
					r->serial[0] ? r->serial : "-", r->reason);
	}
	return buf;
}

static void
reject(void *arg, size_t line, const char *why)
{
	(void)why;
	*(size_t *)arg += line;
}

int
main(void)
{
	struct smz_plan_facts f = {0};
	struct smz_err e = {0};
	char iso[64];

	/* the CA: what was issued, and the vault's employee ids */
	smz_plan_add_cert(&f, "a1", "stay@example.com", NOW + 400 * DAY, 0);
	smz_plan_add_cert(&f, "b1", "gone@example.com", NOW + 400 * DAY, 0);
	smz_plan_add_cert(&f, "c1", "quit@example.com", NOW + 400 * DAY, 0);
	smz_plan_add_cert(&f, "d1", "old.name@example.com", NOW + 400 * DAY, 0);
	smz_plan_add_key(&f, "Old.Name@EXAMPLE.com", "E4"); /* the vault's spelling */
	smz_plan_add_cert(&f, "e1", "due@example.com", NOW + 10 * DAY, 0);
	/* renewed already: the newest certificate decides */
	smz_plan_add_cert(&f, "f1", "renewed@example.com", NOW + 10 * DAY, 0);
	smz_plan_add_cert(&f, "f2", "renewed@example.com", NOW + 400 * DAY, 0);
	/* expired: not valid, so its owner joins again */
	smz_plan_add_cert(&f, "g1", "lapsed@example.com", NOW - DAY, 0);
	smz_plan_add_cert(&f, "h1", "ALICE.Smith@example.com", NOW + 400 * DAY, 0);
	smz_plan_add_cert(&f, "i1", "offboarded@example.com", NOW + 400 * DAY, 1);
	smz_plan_add_cert(&f, "k1", "k1@example.com", NOW + 400 * DAY, 0);
	smz_plan_add_cert(&f, "k2", "k2@example.com", NOW + 400 * DAY, 0);

	person("stay@example.com", "E1", NULL);
	person("quit@example.com", "E3", "terminated");
	person("new.name@example.com", "E4", NULL);
	person("new@example.com", "E5", NULL);
	person("due@example.com", "E6", NULL);
	person("renewed@example.com", "E7", NULL);
	person("lapsed@example.com", "E8", NULL);
	person("Alice.Smith@example.com", "E9", NULL);
	person("k1@example.com", NULL, NULL);
	person("k2@example.com", NULL, NULL);
	person("never@example.com", "E10", "resigned"); /* left, never certified */
	struct smz_row *bad = &rows[roster.n];
	person("rejected@example.com", NULL, NULL);
	bad->outcome = SMZ_ROW_REJECTED;

	ok(make(SMZ_PLAN_ROSTER, 0, 0, &f, NULL, 0, &e) == 0, "roster plan: %s", e.msg);
	smz_time_iso(NOW + 10 * DAY, iso);
	char want[2048];
	snprintf(want, sizeof want,
		 "nothing Alice.Smith@example.com h1 unchanged\n"
		 "renew due@example.com e1 expires %s\n"
		 "leave gone@example.com b1 not in the roster\n"
		 "nothing k1@example.com k1 unchanged\n"
		 "nothing k2@example.com k2 unchanged\n"
		 "join lapsed@example.com - no valid certificate\n"
		 "move new.name@example.com d1 from old.name@example.com\n"
		 "join new@example.com - no valid certificate\n"
		 "leave quit@example.com c1 left (terminated)\n"
		 "nothing renewed@example.com f2 unchanged\n"
		 "nothing renewed@example.com f1 unchanged\n"
		 "nothing stay@example.com a1 unchanged\n",
		 iso);
	is_str(text(), want, "join, move, leave, renew and nothing, sorted by address");
	ok(plan.people[SMZ_PLAN_JOIN] == 2 && plan.people[SMZ_PLAN_MOVE] == 1 &&
		   plan.people[SMZ_PLAN_LEAVE] == 2 && plan.people[SMZ_PLAN_RENEW] == 1 &&
		   plan.people[SMZ_PLAN_NOTHING] == 5,
	   "people counted once each, whatever their certificates");
	ok(plan.certified == 9, "9 people with a valid certificate (got %zu)", plan.certified);

	/* mixed case: one person unless the policy compares local parts */
	ok(make(SMZ_PLAN_ROSTER, 1, 1, &f, NULL, 0, &e) == 0, "local_part = sensitive");
	ok(strstr(text(), "join Alice.Smith@example.com - ") &&
		   strstr(text(), "leave ALICE.Smith@example.com h1 not in the roster"),
	   "sensitive: Alice.Smith joins, ALICE.Smith leaves");

	/* the safety stop: 2 leavers of 9 are within 0.25, 3 of 10 are not */
	smz_plan_add_cert(&f, "m1", "more@example.com", NOW + 400 * DAY, 0);
	int rc = make(SMZ_PLAN_ROSTER, 0, 0, &f, NULL, 0, &e);
	ok(rc == SMZ_ERR_PERM, "3 leavers of 10 trip the stop");
	ok(plan.n == 0, "no plan when refused");
	ok(strstr(e.msg, "would off-board 3 of 10 people") != NULL, "says how many: %s", e.msg);
	ok(make(SMZ_PLAN_ROSTER, 0, 1, &f, NULL, 0, &e) == 0 && plan.people[SMZ_PLAN_LEAVE] == 3,
	   "--force plans them");

	/* leavers: the people listed, in any case, and nobody else */
	const char *list[] = {"STAY@example.com", "nobody@example.com", "offboarded@example.com"};
	ok(make(SMZ_PLAN_LEAVERS, 0, 0, &f, list, 3, &e) == 0, "leavers plan: %s", e.msg);
	is_str(text(),
	       "nothing nobody@example.com - no certificate from this CA\n"
	       "nothing offboarded@example.com - off-boarded before\n"
	       "leave stay@example.com a1 listed as leaving\n",
	       "leavers: leave, off-boarded before, unknown");
	ok(plan.before == 1 && plan.unknown == 1, "before and unknown counted");
	const char *many[] = {"stay@example.com", "k1@example.com", "k2@example.com",
			      "due@example.com"};
	ok(make(SMZ_PLAN_LEAVERS, 0, 0, &f, many, 4, &e) == SMZ_ERR_PERM &&
		   strstr(e.msg, "refusing to off-board 4 of 10 people"),
	   "leavers: the safety stop too: %s", e.msg);

	/* renewals: the newest certificate within the window */
	ok(make(SMZ_PLAN_RENEWALS, 0, 0, &f, NULL, 0, &e) == 0, "renewals plan");
	ok(plan.people[SMZ_PLAN_RENEW] == 1 && plan.people[SMZ_PLAN_NOTHING] == 9,
	   "one due, nine not");
	ok(strstr(text(), "renew due@example.com e1") && strstr(text(), "nothing renewed@"),
	   "due@ is due, renewed@ is not");

	/* a list read from a file: normalised, bad lines reported by number */
	char in[] = "  Bob@EXAMPLE.com \n\nno-domain\nx@example.org\n";
	FILE *fp = fmemopen(in, strlen(in), "r");
	char **l = NULL;
	size_t n = 0, badlines = 0;
	ok(smz_plan_read_list(fp, &l, &n, reject, &badlines, &e) == 0 && n == 2 &&
		   strcmp(l[0], "Bob@example.com") == 0 && badlines == 3,
	   "read_list: two addresses, line 3 rejected");
	fclose(fp);
	smz_plan_list_free(l, n);

	smz_plan_free(&plan);
	smz_plan_facts_free(&f);
	return done_testing();
}
