/* Audit: the hash chain in a throwaway Berkeley DB environment.  Entries
 * chain by SHA-256 (recomputed here independently), every kind of
 * tampering is caught at the right entry, anchors catch a cut tail, and
 * each committed entry, and only those, goes to syslog. */
#include <dirent.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "audit.h"
#include "dbenv.h"
#include "prog.h"
#include "tap.h"

#define ID "0123456789abcdef0123456789abcdef"
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static char dir[40];
static char sock_path[64], nosock_path[64];
static int sock = -1;
static DB_ENV *env;
static struct smz_err e;

static int
has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static int
starts(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- a fresh log and head, filled through smz_audit_txn ---- */

static int
open_log(struct smz_audit *au)
{
	static int k;
	char log[32], meta[32];
	k++;
	snprintf(log, sizeof log, "audit-%d.db", k);
	snprintf(meta, sizeof meta, "meta-%d.db", k);
	*au = (struct smz_audit){env, NULL, NULL, "vault", ID};
	return smz_db_open(env, &au->log, log, DB_RECNO, 0, &e) ||
	       smz_db_open(env, &au->meta, meta, DB_BTREE, 0, &e);
}

static void
close_log(struct smz_audit *au)
{
	if (au->log)
		au->log->close(au->log, 0);
	if (au->meta)
		au->meta->close(au->meta, 0);
	au->log = au->meta = NULL;
}

struct batch {
	const struct smz_audit_entry *entries;
	size_t n;
	int rc; /* what fn returns */
	int calls;
};

static int
fill(DB_TXN *txn, void *arg, struct smz_audit_entry *a, size_t *na, struct smz_err *err)
{
	(void)txn;
	struct batch *b = arg;
	b->calls++;
	if (b->rc)
		return smz_err_set(err, b->rc, "fn says no");
	for (size_t i = 0; i < b->n; i++)
		a[i] = b->entries[i];
	*na = b->n;
	return 0;
}

static int
append(struct smz_audit *au, const struct smz_audit_entry *entries, size_t n)
{
	struct smz_audit_entry a[8];
	struct batch b = {entries, n, 0, 0};
	memset(&e, 0, sizeof e);
	return smz_audit_txn(au, fill, &b, a, 8, "audit test", &e);
}

static const struct smz_audit_entry five[] = {
	{"init", NULL, NULL},
	{"deposit", "a@example.com", "keygen"},
	{"deposit", "b@example.com", "keygen"},
	{"deposit", "c@example.com", "keygen"},
	{"deposit", "d@example.com", "keygen"},
};

/* A log of the five entries above, in two transactions. */
static int
log5(struct smz_audit *au)
{
	return open_log(au) || append(au, five, 2) || append(au, five + 2, 3);
}

/* ---- reading and tampering with the records, as an intruder would ---- */

static char *
rec_get(struct smz_audit *au, db_recno_t n)
{
	DBT k = {.data = &n, .size = sizeof n}, d = {.flags = DB_DBT_MALLOC};
	if (au->log->get(au->log, NULL, &k, &d, 0))
		return NULL;
	char *s = strndup(d.data, d.size);
	free(d.data);
	return s;
}

static int
rec_put(struct smz_audit *au, db_recno_t n, const char *s)
{
	DBT k = {.data = &n, .size = sizeof n}, d = {.data = (void *)s, .size = strlen(s)};
	return au->log->put(au->log, NULL, &k, &d, 0);
}

static int
rec_del(struct smz_audit *au, db_recno_t n)
{
	DBT k = {.data = &n, .size = sizeof n};
	return au->log->del(au->log, NULL, &k, 0);
}

static int
head_put(struct smz_audit *au, const char *v)
{
	return smz_db_put_str(au->meta, NULL, "audit_head", v, strlen(v));
}

static char *
canon(json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Set one field of entry n and store it back in canonical form. */
static int
rec_edit(struct smz_audit *au, db_recno_t n, const char *field, json_t *v)
{
	char *s = rec_get(au, n);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	char *c = j && json_object_set_new(j, field, v) == 0 ? canon(j) : NULL;
	int r = c ? rec_put(au, n, c) : -1;
	free(c);
	json_decref(j);
	free(s);
	return r;
}

/* ---- walking ---- */

struct seen {
	json_t *entries[16];
	size_t n;
};

static int
collect(void *arg, json_t *entry)
{
	struct seen *s = arg;
	if (s->n < 16)
		s->entries[s->n++] = json_incref(entry);
	return 0;
}

static void
seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		json_decref(s->entries[i]);
	s->n = 0;
}

static const char *
get(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

static int
verify(struct smz_audit *au, size_t *count)
{
	memset(&e, 0, sizeof e);
	*count = 999;
	return smz_audit_verify(au, count, &e);
}

/* ---- the syslog stand-in ---- */

static int
syslog_listen(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	sock = socket(AF_UNIX, SOCK_DGRAM, 0);
	return sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof sa) < 0 ? -1 : 0;
}

/* Next datagram waiting, or "" when none. */
static const char *
syslog_next(void)
{
	static char buf[4096];
	ssize_t l = recv(sock, buf, sizeof buf - 1, MSG_DONTWAIT);
	buf[l > 0 ? l : 0] = 0;
	return buf;
}

/* ---- tests ---- */

static void
empty(void)
{
	struct smz_audit au;
	struct smz_audit_anchor an;
	size_t n;
	ok(open_log(&au) == 0, "a new log");
	ok(verify(&au, &n) == 0 && n == 0, "an empty log verifies, 0 entries");
	ok(smz_audit_anchor(&au, &an, &e) == 0 && an.seq == 0 && strcmp(an.hash, ZEROS) == 0,
	   "its anchor is seq 0 with a hash of zeros");
	char line[256];
	smz_audit_anchor_format(&an, line, sizeof line);
	is_str(line, "smz-audit-anchor v1 vault=" ID " seq=0 hash=" ZEROS, "formatted");
	close_log(&au);
}

static void
chain(void)
{
	struct smz_audit au;
	size_t n;
	setenv("SMZ_SYSLOG_SOCKET", sock_path, 1);
	ok(open_log(&au) == 0 && append(&au, five, 2) == 0, "two entries in one transaction");
	ok(append(&au, five + 2, 3) == 0, "three more in another");
	ok(verify(&au, &n) == 0 && n == 5, "the chain verifies: %zu entries", n);

	struct seen s = {0};
	ok(smz_audit_walk(&au, collect, &s, &e) == 0 && s.n == 5, "walk gives every entry");
	int seqs = 1, fields = 1, chained = 1, hashes = 1;
	const char *prev = ZEROS;
	for (size_t i = 0; i < s.n; i++) {
		json_t *j = s.entries[i];
		seqs &= json_integer_value(json_object_get(j, "seq")) == (json_int_t)i + 1;
		fields &= strcmp(get(j, "op"), five[i].op) == 0 &&
			  strcmp(get(j, "subject"), five[i].subject ? five[i].subject : "") == 0 &&
			  strcmp(get(j, "reason"), five[i].reason ? five[i].reason : "") == 0 &&
			  strcmp(get(j, "actor"), smz_prog_actor()) == 0 &&
			  strlen(get(j, "time")) == 20 && get(j, "time")[19] == 'Z';
		chained &= strcmp(get(j, "prev"), prev) == 0;
		/* the hash, recomputed: SHA-256 of the previous hash in hex and
		 * the canonical entry (sorted keys, compact), the hash left out */
		json_t *c = json_deep_copy(j);
		json_object_del(c, "hash");
		char *text = canon(c);
		unsigned char h[32];
		char hex[65];
		crypto_hash_sha256_state st;
		crypto_hash_sha256_init(&st);
		crypto_hash_sha256_update(&st, (const unsigned char *)prev, 64);
		crypto_hash_sha256_update(&st, (const unsigned char *)text, strlen(text));
		crypto_hash_sha256_final(&st, h);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		hashes &= strcmp(hex, get(j, "hash")) == 0;
		free(text);
		json_decref(c);
		prev = get(j, "hash");
	}
	ok(seqs, "seq counts 1 to 5");
	ok(fields, "op, subject, reason, actor and time as given (empty for none)");
	ok(chained, "each entry's prev is the hash before it, zeros for the first");
	ok(hashes, "each hash is SHA-256(prev || canonical entry)");

	char *r1 = rec_get(&au, 1);
	json_t *j1 = json_loads(r1, 0, NULL);
	char *c1 = canon(j1);
	ok(strcmp(r1, c1) == 0, "entries are stored in canonical form");
	free(c1);
	json_decref(j1);
	free(r1);

	struct smz_audit_anchor an;
	ok(smz_audit_anchor(&au, &an, &e) == 0 && an.seq == 5 &&
		   strcmp(an.hash, get(s.entries[4], "hash")) == 0 &&
		   strcmp(an.kind, "vault") == 0 && strcmp(an.id, ID) == 0,
	   "the anchor is the last entry's seq and hash, for this vault");

	/* every entry went to syslog as it was committed */
	char want[512];
	int lines = 1;
	for (size_t i = 0; i < 5; i++) {
		const char *m = syslog_next();
		snprintf(want, sizeof want,
			 "test-audit[%ld]: smz-audit vault=" ID " seq=%zu hash=%s op=%s "
			 "subject=\"%s\" reason=\"%s\"",
			 (long)getpid(), i + 1, get(s.entries[i], "hash"), five[i].op,
			 five[i].subject ? five[i].subject : "",
			 five[i].reason ? five[i].reason : "");
		if (!has(m, want) || strncmp(m, "<85>", 4) != 0 ||
		    strcmp(m + strlen(m) - strlen(want), want) != 0) {
			lines = 0;
			printf("# got  %s\n# want %s\n", m, want);
		}
	}
	ok(lines, "each entry went to syslog, authpriv.notice, with its seq and hash");
	is_str(syslog_next(), "", "and nothing else");

	/* nothing is logged for a transaction that does not commit; a[] has
	 * room for fill's 3 entries, smz_audit_txn is told 2 */
	struct smz_audit_entry a[3];
	struct batch b = {five, 1, SMZ_ERR_DATA, 0};
	ok(smz_audit_txn(&au, fill, &b, a, 2, "t", &e) == SMZ_ERR_DATA && b.calls == 1,
	   "fn's error is returned, not retried");
	is_str(e.msg, "fn says no", "with fn's message");
	b = (struct batch){five, 3, 0, 0};
	ok(smz_audit_txn(&au, fill, &b, a, 2, "t", &e) == SMZ_ERR_INTERNAL,
	   "more entries than cap");
	is_str(e.msg, "too many audit entries", "say so");
	b = (struct batch){five, 0, 0, 0};
	ok(smz_audit_txn(&au, fill, &b, a, 2, "t", &e) == 0, "a transaction with no entries");
	ok(verify(&au, &n) == 0 && n == 5, "none of them added an entry");
	is_str(syslog_next(), "", "or a syslog line");

	/* a subject that tries to start a line of its own */
	static char longr[800];
	memset(longr, 'r', sizeof longr - 1);
	struct smz_audit_entry odd = {"deposit", "x\"y\\z\nseq=1 op=forged", longr};
	ok(append(&au, &odd, 1) == 0 && verify(&au, &n) == 0 && n == 6, "an odd entry");
	const char *m = syslog_next();
	ok(has(m, " op=deposit subject=\"x\\\"y\\\\z\\x0aseq=1 op=forged\" reason=\"rrr"),
	   "is escaped in syslog, one line: %s", m);
	ok(has(m, "rrr...\"") && strlen(strstr(m, "reason=\"")) == strlen("reason=\"...\"") + 600,
	   "a long reason cut at 600 bytes");
	seen_free(&s);
	ok(smz_audit_walk(&au, collect, &s, &e) == 0 && s.n == 6 &&
		   strcmp(get(s.entries[5], "subject"), odd.subject) == 0 &&
		   strlen(get(s.entries[5], "reason")) == 799,
	   "the log itself keeps both whole");
	seen_free(&s);
	setenv("SMZ_SYSLOG_SOCKET", nosock_path, 1);
	ok(append(&au, five, 1) == 0 && verify(&au, &n) == 0 && n == 7,
	   "no log daemon listening does not fail an append");
	close_log(&au);
}

/* A log of five, tampered with by t; verify's result and message. */
static void
tampered(int (*t)(struct smz_audit *), const char *msg, const char *what, int json)
{
	struct smz_audit au;
	size_t n;
	if (log5(&au) != 0) {
		ok(0, "%s: log set up: %s", what, e.msg);
		return;
	}
	struct seen s = {0};
	int r = t(&au), rc = r ? -1 : verify(&au, &n);
	ok(rc == SMZ_ERR_VERIFY, "%s: detected (%d)", what, rc);
	is_str(e.msg, msg, "%s: named", what);
	/* walking without checks still shows every entry that is JSON */
	if (json)
		ok(smz_audit_walk(&au, collect, &s, &e) == 0 && s.n > 0, "%s: still listed", what);
	else
		ok(smz_audit_walk(&au, collect, &s, &e) == SMZ_ERR_VERIFY && s.n == 2 &&
			   strcmp(e.msg, msg) == 0,
		   "%s: listed up to it, then the same error", what);
	struct smz_audit_anchor an;
	ok(smz_audit_anchor(&au, &an, &e) == SMZ_ERR_VERIFY, "%s: and never anchored", what);
	seen_free(&s);
	close_log(&au);
}

static int
t_edit(struct smz_audit *au)
{
	return rec_edit(au, 3, "reason", json_string("forged"));
}

static int
t_edit_last(struct smz_audit *au)
{
	return rec_edit(au, 5, "subject", json_string("e@example.com"));
}

static int
t_edit_first(struct smz_audit *au)
{
	return rec_edit(au, 1, "actor", json_string("root@elsewhere"));
}

static int
t_noncanon(struct smz_audit *au)
{
	char *s = rec_get(au, 3);
	char *t = malloc(strlen(s) + 2);
	t[0] = '{', t[1] = ' ';
	strcpy(t + 2, s + 1);
	int r = rec_put(au, 3, t);
	free(t);
	free(s);
	return r;
}

static int
t_garbage(struct smz_audit *au)
{
	return rec_put(au, 3, "not json");
}

static int
t_noprev(struct smz_audit *au)
{
	return rec_edit(au, 3, "prev", json_integer(0));
}

static int
t_swap(struct smz_audit *au)
{
	char *two = rec_get(au, 2), *three = rec_get(au, 3);
	int r = rec_put(au, 2, three) || rec_put(au, 3, two);
	free(two);
	free(three);
	return r;
}

static int
t_del(struct smz_audit *au)
{
	return rec_del(au, 4);
}

static int
t_del_first(struct smz_audit *au)
{
	return rec_del(au, 1);
}

static int
t_del_last(struct smz_audit *au)
{
	return rec_del(au, 5);
}

/* A sixth entry that chains properly, but past the recorded head. */
static int
t_add(struct smz_audit *au)
{
	struct seen s = {0};
	if (smz_audit_walk(au, collect, &s, &e) || s.n != 5)
		return -1;
	json_t *j = json_deep_copy(s.entries[4]);
	json_object_set_new(j, "prev", json_string(get(s.entries[4], "hash")));
	json_object_set_new(j, "seq", json_integer(6));
	json_object_del(j, "hash");
	char *c = canon(j);
	db_recno_t recno = 0;
	DBT k = {.data = &recno, .ulen = sizeof recno, .flags = DB_DBT_USERMEM};
	DBT d = {.data = c, .size = strlen(c)};
	int r = au->log->put(au->log, NULL, &k, &d, DB_APPEND);
	free(c);
	json_decref(j);
	seen_free(&s);
	return r;
}

static int
t_head(struct smz_audit *au)
{
	return head_put(au, "garbage");
}

static int
t_head_hash(struct smz_audit *au)
{
	return head_put(au, "5 " ZEROS);
}

static void
tampering(void)
{
	tampered(t_edit, "entry 4: does not follow from entry 3 (one of them was edited)",
		 "an edited entry", 1);
	tampered(t_edit_first, "entry 2: does not follow from entry 1 (one of them was edited)",
		 "an edited first entry", 1);
	tampered(t_edit_last, "entry 5: last entry does not match the recorded head (edited)",
		 "an edited last entry", 1);
	tampered(t_noncanon, "entry 3: not in canonical form (edited)",
		 "an entry stored in another form", 1);
	tampered(t_garbage, "entry 3: not a valid entry", "an entry that is not JSON", 0);
	tampered(t_noprev, "entry 3: not a valid entry", "an entry without a prev hash", 0);
	tampered(t_swap,
		 "entry 2: sequence number 3 out of place (entries deleted, inserted or "
		 "reordered)",
		 "two entries swapped", 1);
	tampered(t_del,
		 "entry 4: sequence number 5 out of place (entries deleted, inserted or "
		 "reordered)",
		 "a deleted entry", 1);
	tampered(t_del_first,
		 "entry 1: sequence number 2 out of place (entries deleted, "
		 "inserted or reordered)",
		 "a deleted first entry", 1);
	tampered(t_del_last,
		 "entry 5: log has 4 entries, the vault recorded 5 (entries deleted or added "
		 "at the end)",
		 "a deleted last entry", 1);
	tampered(t_add,
		 "entry 6: log has 6 entries, the vault recorded 5 (entries deleted or added "
		 "at the end)",
		 "an entry added past the head", 1);
	tampered(t_head, "the audit head record is damaged", "a damaged head record", 1);
	tampered(t_head_hash, "entry 5: last entry does not match the recorded head (edited)",
		 "a head with another hash", 1);
}

struct verdicts {
	char fail[8][512];
	size_t seq[8];
	size_t n;
};

static int
note(void *arg, const struct smz_audit_anchor *a, const char *fail)
{
	struct verdicts *v = arg;
	if (v->n < 8) {
		v->seq[v->n] = a->seq;
		snprintf(v->fail[v->n++], 512, "%s", fail ? fail : "OK");
	}
	return 0;
}

static void
anchors(void)
{
	struct smz_audit au;
	struct smz_audit_anchor an[6];
	struct verdicts v = {0};
	struct seen s = {0};
	size_t n;
	ok(log5(&au) == 0 && smz_audit_walk(&au, collect, &s, &e) == 0 && s.n == 5, "a log of 5");
	/* anchors taken at 0, 1, 3 and 5 entries, given out of order */
	size_t at[] = {5, 0, 3, 1};
	for (size_t i = 0; i < 4; i++) {
		an[i] = (struct smz_audit_anchor){.kind = "vault", .id = ID, .seq = at[i]};
		snprintf(an[i].hash, 65, "%s", at[i] ? get(s.entries[at[i] - 1], "hash") : ZEROS);
		an[i].line = i + 1;
	}
	ok(smz_audit_verify_anchors(&au, an, 4, &n, note, &v, &e) == 0 && n == 5,
	   "four true anchors hold, in any order");
	ok(v.n == 4 && v.seq[0] == 5 && v.seq[3] == 1 && !strcmp(v.fail[0], "OK") &&
		   !strcmp(v.fail[1], "OK") && !strcmp(v.fail[2], "OK") && !strcmp(v.fail[3], "OK"),
	   "each reported OK, in the order given");
	ok(smz_audit_verify_anchors(&au, an, 0, &n, NULL, NULL, &e) == 0 && n == 5,
	   "no anchors: the chain alone");

	/* cut the tail to 4 entries and set the head to match: the chain
	 * verifies, the anchor at 5 does not */
	char head[128];
	snprintf(head, sizeof head, "4 %s", get(s.entries[3], "hash"));
	ok(rec_del(&au, 5) == 0 && head_put(&au, head) == 0, "tail cut, head reset");
	ok(verify(&au, &n) == 0 && n == 4, "the shorter chain verifies alone");
	v.n = 0;
	memset(&e, 0, sizeof e);
	ok(smz_audit_verify_anchors(&au, an, 4, &n, note, &v, &e) == SMZ_ERR_VERIFY,
	   "the anchor at 5 fails");
	is_str(e.msg,
	       "anchor seq=5 (line 1): the log ends at entry 4, before the anchored entry "
	       "(entries were removed from the end)",
	       "naming the anchor and its line");
	ok(v.n == 4 && strcmp(v.fail[0], "OK") != 0 && !strcmp(v.fail[1], "OK") &&
		   !strcmp(v.fail[2], "OK") && !strcmp(v.fail[3], "OK"),
	   "the others still hold");

	/* grown back to five with another entry: rewritten, not cut */
	ok(append(&au, five + 1, 1) == 0 && verify(&au, &n) == 0 && n == 5,
	   "a fifth entry appended again; the chain verifies");
	v.n = 0;
	ok(smz_audit_verify_anchors(&au, an, 4, &n, note, &v, &e) == SMZ_ERR_VERIFY,
	   "the anchor at 5 still fails");
	is_str(e.msg,
	       "anchor seq=5 (line 1): entry 5 is not the anchored one (the log was rewritten "
	       "from there or before)",
	       "as a rewritten log");

	/* anchors of another log */
	struct smz_audit_anchor other = an[2];
	snprintf(other.id, sizeof other.id, "%s", "00112233445566778899aabbccddeeff");
	other.line = 7;
	ok(smz_audit_verify_anchors(&au, &other, 1, &n, NULL, NULL, &e) == SMZ_ERR_VERIFY,
	   "an anchor of another vault fails");
	is_str(e.msg,
	       "anchor seq=3 (line 7): it is for vault 00112233445566778899aabbccddeeff, not "
	       "this vault (" ID ")",
	       "naming both");
	struct smz_audit_anchor two[] = {an[1], an[0], other};
	v.n = 0;
	ok(smz_audit_verify_anchors(&au, two, 3, &n, note, &v, &e) == SMZ_ERR_VERIFY &&
		   starts(e.msg, "anchor seq=5 (line 1): entry 5 is not the anchored one"),
	   "of two failing anchors, the first given is named: %s", e.msg);
	ok(v.n == 3 && !strcmp(v.fail[0], "OK") && has(v.fail[1], "not the anchored one") &&
		   has(v.fail[2], "it is for vault 00112233"),
	   "and each is judged");
	struct smz_audit ca = au;
	ca.kind = "ca";
	ok(smz_audit_verify_anchors(&ca, &an[2], 1, &n, NULL, NULL, &e) == SMZ_ERR_VERIFY &&
		   has(e.msg, "it is for vault " ID ", not this ca (" ID ")"),
	   "a vault's anchor on a CA's log fails: %s", e.msg);

	/* a broken chain is reported as such, before any anchor */
	v.n = 0;
	ok(rec_edit(&au, 2, "reason", json_string("x")) == 0 &&
		   smz_audit_verify_anchors(&au, an, 4, &n, note, &v, &e) == SMZ_ERR_VERIFY,
	   "a broken chain with anchors");
	is_str(e.msg, "entry 3: does not follow from entry 2 (one of them was edited)",
	       "names the entry, not an anchor");
	ok(v.n == 0, "and no anchor is judged");
	seen_free(&s);
	close_log(&au);
}

static void
anchor_lines(void)
{
	struct smz_audit_anchor a, b;
	const char *h = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
	char good[256], out[256];
	snprintf(good, sizeof good, "smz-audit-anchor v1 vault=" ID " seq=42 hash=%s", h);
	ok(smz_audit_anchor_parse(good, strlen(good), &a, &e) == 0, "an anchor line parses");
	ok(strcmp(a.kind, "vault") == 0 && strcmp(a.id, ID) == 0 && a.seq == 42 &&
		   strcmp(a.hash, h) == 0,
	   "into kind, id, seq and hash");
	smz_audit_anchor_format(&a, out, sizeof out);
	is_str(out, good, "and formats back the same");
	char crlf[260];
	snprintf(crlf, sizeof crlf, "%s\r\n", good);
	ok(smz_audit_anchor_parse(crlf, strlen(crlf), &b, &e) == 0 && b.seq == 42 &&
		   strcmp(b.hash, h) == 0,
	   "a trailing CRLF is allowed");
	char ca[300];
	snprintf(ca, sizeof ca, "smz-audit-anchor v1 ca=%s seq=0 hash=" ZEROS, h);
	ok(smz_audit_anchor_parse(ca, strlen(ca), &b, &e) == 0 && strcmp(b.kind, "ca") == 0 &&
		   strcmp(b.id, h) == 0 && b.seq == 0,
	   "a CA's anchor: 64 hex digits of id");

	struct {
		const char *line, *msg;
	} bad[] = {
		{"", "not an anchor line (expected smz-audit-anchor v1 vault=ID seq=N hash=HEX)"},
		{"smz-audit-anchor v2 vault=" ID " seq=1 hash=" ZEROS,
		 "an anchor of an unknown version (expected v1)"},
		{"smz-audit-anchor v1 ldap=" ID " seq=1 hash=" ZEROS,
		 "expected vault=ID or ca=ID after the version"},
		{"smz-audit-anchor v1 vault=0123456789ABCDEF0123456789abcdef seq=1 hash=" ZEROS,
		 "vault= takes 32 lowercase hex digits"},
		{"smz-audit-anchor v1 vault=0123456789abcdef0123456789abcde seq=1 hash=" ZEROS,
		 "vault= takes 32 lowercase hex digits"},
		{"smz-audit-anchor v1 ca=" ID " seq=1 hash=" ZEROS,
		 "ca= takes 64 lowercase hex digits"},
		{"smz-audit-anchor v1 vault=" ID " sequence=1 hash=" ZEROS,
		 "expected seq=N after the vault id"},
		{"smz-audit-anchor v1 vault=" ID " seq=05 hash=" ZEROS,
		 "seq= takes a decimal number"},
		{"smz-audit-anchor v1 vault=" ID " seq=-1 hash=" ZEROS,
		 "seq= takes a decimal number"},
		{"smz-audit-anchor v1 vault=" ID " seq=12345678901234567890 hash=" ZEROS,
		 "seq= takes a decimal number"},
		{"smz-audit-anchor v1 vault=" ID " seq=1 hash=" ZEROS " extra",
		 "expected hash= and 64 lowercase hex digits at the end"},
		{"smz-audit-anchor v1 vault=" ID " seq=1 hash=" ZEROS "0",
		 "expected hash= and 64 lowercase hex digits at the end"},
		{"smz-audit-anchor v1 vault=" ID
		 " seq=1 hash=A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90",
		 "expected hash= and 64 lowercase hex digits at the end"},
		{"smz-audit-anchor v1 vault=" ID " seq=0 hash=" ZEROS "\n\n",
		 "expected hash= and 64 lowercase hex digits at the end"},
		{"smz-audit-anchor v1 vault=" ID
		 " seq=0 hash=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
		 "seq=0 (an empty log) has a hash of zeros"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&e, 0, sizeof e);
		ok(smz_audit_anchor_parse(bad[i].line, strlen(bad[i].line), &b, &e) ==
				   SMZ_ERR_DATA &&
			   strcmp(e.msg, bad[i].msg) == 0,
		   "refused: \"%.60s...\": %s", bad[i].line, e.msg);
	}

	char path[256];
	snprintf(path, sizeof path, "%s/anchors.txt", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "# anchors, one a day\n\n%s\n   \n\t# indented comment\n%s\r\n%s", good, ca,
		good);
	fclose(f);
	struct smz_audit_anchor *list = NULL;
	size_t n = 0;
	ok(smz_audit_anchors_read(path, &list, &n, &e) == 0 && n == 3,
	   "an anchor file: comments and blank lines skipped, no final newline needed");
	ok(list && list[0].line == 3 && list[1].line == 6 && list[2].line == 7 &&
		   strcmp(list[1].kind, "ca") == 0 && list[2].seq == 42,
	   "each anchor knows its line");
	free(list);
	list = NULL;
	f = fopen(path, "w");
	fprintf(f, "%s\n# next\n%s\n", good, bad[7].line);
	fclose(f);
	ok(smz_audit_anchors_read(path, &list, &n, &e) == SMZ_ERR_DATA && list == NULL,
	   "a bad line fails the file");
	char want[512];
	snprintf(want, sizeof want, "%s line 3: seq= takes a decimal number", path);
	is_str(e.msg, want, "naming the file and the line");
	f = fopen(path, "w");
	fprintf(f, "# nothing yet\n\n");
	fclose(f);
	ok(smz_audit_anchors_read(path, &list, &n, &e) == SMZ_ERR_DATA, "no anchors at all");
	snprintf(want, sizeof want, "%s: no anchor lines in it", path);
	is_str(e.msg, want, "is an error too");
	unlink(path);
	ok(smz_audit_anchors_read(path, &list, &n, &e) == SMZ_ERR_NOINPUT, "a missing file");
}

static int
remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
	return rmdir(dir);
}

/* A crash must not leave 30 MB in /dev/shm: best effort, then die as
 * the signal would have it. */
static void
crashed(int sig)
{
	remove_dir();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The environment in memory where there is room (tmpfs: each new database
 * file is synced, which on a busy disk takes a second), else in /tmp. */
static int
setup(void)
{
	static const char *const bases[] = {"/dev/shm", "/tmp"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(dir, sizeof dir, "%s/test-audit.XXXXXX", bases[i]);
		if (!mkdtemp(dir))
			continue;
		if (smz_dbenv_open(dir, &env, &e) == 0) {
			signal(SIGSEGV, crashed);
			signal(SIGBUS, crashed);
			signal(SIGABRT, crashed);
			return 0;
		}
		remove_dir();
	}
	return -1;
}

static void
cleanup(void)
{
	smz_dbenv_close(env);
	if (sock >= 0)
		close(sock);
	ok(remove_dir() == 0, "the environment is gone");
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (smz_prog_init("test-audit") < 0 || setup() < 0) {
		printf("Bail out! cannot set up a Berkeley DB environment: %s\n", e.msg);
		return 1;
	}
	snprintf(sock_path, sizeof sock_path, "%s/log.sock", dir);
	snprintf(nosock_path, sizeof nosock_path, "%s/nobody.sock", dir);
	/* never the host's /dev/log */
	setenv("SMZ_SYSLOG_SOCKET", nosock_path, 1);
	if (syslog_listen() < 0 ||
	    /* a throwaway log need not survive a power cut: no fsync per commit */
	    env->set_flags(env, DB_TXN_NOSYNC, 1) != 0) {
		printf("Bail out! %s\n", e.msg);
		cleanup();
		return 1;
	}
	empty();
	chain();
	tampering();
	anchors();
	anchor_lines();
	cleanup();
	return done_testing();
}
