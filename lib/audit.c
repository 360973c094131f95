#include "audit.h"
#include "dbenv.h"
#include "fileio.h"
#include "prog.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define HEAD_KEY "audit_head"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static void
entry_hash(const char *prev, const char *canon, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)prev, 64);
	crypto_hash_sha256_update(&st, (const unsigned char *)canon, len);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(out, 65, h, sizeof h);
}

static int
head_get(DB *meta, DB_TXN *txn, u_int32_t flags, size_t *count, char hash[65])
{
	DBT k = {.data = HEAD_KEY, .size = sizeof HEAD_KEY - 1};
	DBT d = {.flags = DB_DBT_MALLOC};
	int r = meta->get(meta, txn, &k, &d, flags);
	if (r == DB_NOTFOUND) {
		*count = 0;
		strcpy(hash, ZERO_HASH);
		return 0;
	}
	if (r)
		return r;
	unsigned long long c = 0;
	char buf[128];
	int ok = d.size < sizeof buf;
	if (ok) {
		memcpy(buf, d.data, d.size);
		buf[d.size] = 0;
		ok = sscanf(buf, "%llu %64s", &c, hash) == 2 && strlen(hash) == 64;
	}
	free(d.data);
	if (!ok)
		return EINVAL;
	*count = (size_t)c;
	return 0;
}

static int
head_put(DB *meta, DB_TXN *txn, size_t count, const char *hash)
{
	char buf[128];
	int l = snprintf(buf, sizeof buf, "%zu %s", count, hash);
	DBT k = {.data = HEAD_KEY, .size = sizeof HEAD_KEY - 1};
	DBT d = {.data = buf, .size = (u_int32_t)l};
	return meta->put(meta, txn, &k, &d, 0);
}

int
smz_audit_append(DB *log, DB *meta, DB_TXN *txn, const struct smz_audit_entry *a, size_t n,
		 struct smz_audit_mark *m, struct smz_err *e)
{
	size_t count;
	char hash[65];
	int r = head_get(meta, txn, DB_RMW, &count, hash);
	if (r)
		return (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED)
			       ? r
			       : smz_err_set(e, SMZ_ERR_INTERNAL, "audit head: %s", db_strerror(r));
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s}", "seq",
				      (json_int_t)(count + 1), "time", when, "actor",
				      smz_prog_actor(), "op", a[i].op, "subject",
				      a[i].subject ? a[i].subject : "", "reason",
				      a[i].reason ? a[i].reason : "", "prev", hash);
		char *canon = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(j);
		if (!canon)
			return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		db_recno_t recno = 0;
		DBT k = {.data = &recno, .ulen = sizeof recno, .flags = DB_DBT_USERMEM};
		DBT d = {.data = canon, .size = (u_int32_t)strlen(canon)};
		r = log->put(log, txn, &k, &d, DB_APPEND);
		if (!r) {
			entry_hash(hash, canon, strlen(canon), hash);
			if (m) {
				m[i].seq = count + 1;
				memcpy(m[i].hash, hash, sizeof m[i].hash);
			}
		}
		free(canon);
		if (r)
			return (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED)
				       ? r
				       : smz_err_set(e, SMZ_ERR_INTERNAL, "audit append: %s",
						     db_strerror(r));
		count++;
	}
	r = head_put(meta, txn, count, hash);
	if (r)
		return (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED)
			       ? r
			       : smz_err_set(e, SMZ_ERR_INTERNAL, "audit head: %s", db_strerror(r));
	return 0;
}

/* Walks entries; verify != NULL checks the chain as it goes. */
static int
walk(DB *log, DB_TXN *txn, int (*cb)(void *, json_t *), void *arg, size_t *count, char head[65],
     struct smz_err *e)
{
	DBC *c;
	int r = log->cursor(log, txn, &c, 0);
	if (r)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "audit log: %s", db_strerror(r));
	DBT k = {0}, d = {0};
	char prev[65] = ZERO_HASH;
	size_t n = 0;
	int rc = 0;
	while (!rc && (r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		n++;
		json_error_t je;
		json_t *j = json_loadb(d.data, d.size, JSON_REJECT_DUPLICATES, &je);
		json_int_t seq = j ? json_integer_value(json_object_get(j, "seq")) : -1;
		const char *p = j ? json_string_value(json_object_get(j, "prev")) : NULL;
		char *canon = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		if (!j || !canon || !p) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY, "entry %zu: not a valid entry", n);
		} else if (head && (size_t)seq != n) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY,
					 "entry %zu: sequence number %lld out of place "
					 "(entries deleted, inserted or reordered)",
					 n, (long long)seq);
		} else if (head && strcmp(p, prev) != 0) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY,
					 "entry %zu: does not follow from entry %zu (one of "
					 "them was edited)",
					 n, n - 1);
		} else if (head && (d.size != strlen(canon) || memcmp(canon, d.data, d.size))) {
			rc = smz_err_set(e, SMZ_ERR_VERIFY,
					 "entry %zu: not in canonical form "
					 "(edited)",
					 n);
		}
		if (!rc) {
			entry_hash(prev, d.data, d.size, prev);
			json_object_set_new(j, "hash", json_string(prev));
			if (cb && cb(arg, j) < 0)
				rc = SMZ_ERR_IO;
		}
		free(canon);
		json_decref(j);
	}
	c->close(c);
	if (!rc && r != DB_NOTFOUND)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "audit log: %s", db_strerror(r));
	if (!rc && head)
		strcpy(head, prev);
	if (count)
		*count = n;
	return rc;
}

int
smz_audit_walk(const struct smz_audit *au, int (*cb)(void *, json_t *), void *arg,
	       struct smz_err *e)
{
	return walk(au->log, NULL, cb, arg, NULL, NULL, e);
}

/* Head and log are read in one transaction, head first as every writer
 * takes it first: a verify never sees a half-appended batch, and never
 * deadlocks with a writer.  cb sees each entry once it checked out. */
static int
verify_chain(const struct smz_audit *au, int (*cb)(void *, json_t *), void *arg, size_t *count,
	     char head[65], struct smz_err *e)
{
	char want[65];
	size_t n = 0, want_n;
	DB *log = au->log, *meta = au->meta;
	DB_ENV *env = au->env;
	DB_TXN *txn = NULL;
	int r = env->txn_begin(env, NULL, &txn, 0), rc = 0;
	if (!r)
		r = head_get(meta, txn, 0, &want_n, want);
	if (r) {
		if (txn)
			txn->abort(txn);
		return r == EINVAL
			       ? smz_err_set(e, SMZ_ERR_VERIFY, "the audit head record is damaged")
			       : smz_err_set(e, SMZ_ERR_TEMP, "audit head: %s", db_strerror(r));
	}
	rc = walk(log, txn, cb, arg, &n, head, e);
	txn->commit(txn, 0);
	if (rc)
		return rc;
	if (n != want_n)
		return smz_err_set(e, SMZ_ERR_VERIFY,
				   "entry %zu: log has %zu entries, the vault recorded %zu "
				   "(entries deleted or added at the end)",
				   n < want_n ? n + 1 : want_n + 1, n, want_n);
	if (strcmp(head, want) != 0)
		return smz_err_set(
			e, SMZ_ERR_VERIFY,
			"entry %zu: last entry does not match the recorded head (edited)", n);
	*count = n;
	return 0;
}

int
smz_audit_verify(const struct smz_audit *au, size_t *count, struct smz_err *e)
{
	char head[65];
	return verify_chain(au, NULL, NULL, count, head, e);
}

/* ---- anchors ---- */

#define ANCHOR_MAGIC "smz-audit-anchor v1 "

static const char *
au_kind(const struct smz_audit *au)
{
	return au->kind ? au->kind : "log";
}

static const char *
au_id(const struct smz_audit *au)
{
	return au->id && *au->id ? au->id : "-";
}

int
smz_audit_anchor(const struct smz_audit *au, struct smz_audit_anchor *out, struct smz_err *e)
{
	struct smz_audit_anchor a = {0};
	int rc = verify_chain(au, NULL, NULL, &a.seq, a.hash, e);
	if (rc)
		return rc;
	snprintf(a.kind, sizeof a.kind, "%s", au_kind(au));
	snprintf(a.id, sizeof a.id, "%s", au_id(au));
	*out = a;
	return 0;
}

void
smz_audit_anchor_format(const struct smz_audit_anchor *a, char *buf, size_t cap)
{
	snprintf(buf, cap, ANCHOR_MAGIC "%s=%s seq=%zu hash=%s", a->kind, a->id, a->seq, a->hash);
}

/* n lowercase hex digits at p, copied NUL-terminated to out. */
static int
take_hex(const char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return -1;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

int
smz_audit_anchor_parse(const char *line, size_t len, struct smz_audit_anchor *out,
		       struct smz_err *e)
{
	struct smz_audit_anchor a = {0};
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	const char *p = line, *end = line + len;
	size_t ml = sizeof ANCHOR_MAGIC - 1;
	if (len < ml || memcmp(p, ANCHOR_MAGIC, ml) != 0)
		return smz_err_set(e, SMZ_ERR_DATA, "%s",
				   len >= 17 && memcmp(p, "smz-audit-anchor ", 17) == 0
					   ? "an anchor of an unknown version (expected v1)"
					   : "not an anchor line (expected smz-audit-anchor v1 "
					     "vault=ID seq=N hash=HEX)");
	p += ml;
	/* KIND=ID: the vault's 32-digit id or the CA certificate's SHA-256 */
	size_t idlen;
	if (end - p > 6 && memcmp(p, "vault=", 6) == 0)
		strcpy(a.kind, "vault"), p += 6, idlen = 32;
	else if (end - p > 3 && memcmp(p, "ca=", 3) == 0)
		strcpy(a.kind, "ca"), p += 3, idlen = 64;
	else
		return smz_err_set(e, SMZ_ERR_DATA, "expected vault=ID or ca=ID after the version");
	if ((size_t)(end - p) < idlen || take_hex(p, idlen, a.id) < 0 ||
	    (size_t)(end - p) == idlen || p[idlen] != ' ')
		return smz_err_set(e, SMZ_ERR_DATA, "%s= takes %zu lowercase hex digits", a.kind,
				   idlen);
	p += idlen + 1;
	if (end - p < 5 || memcmp(p, "seq=", 4) != 0)
		return smz_err_set(e, SMZ_ERR_DATA, "expected seq=N after the %s id", a.kind);
	p += 4;
	const char *d = p;
	unsigned long long seq = 0;
	while (p < end && *p >= '0' && *p <= '9' && p - d < 19)
		seq = seq * 10 + (unsigned)(*p++ - '0');
	if (p == d || (*d == '0' && p - d > 1) || seq > SIZE_MAX || p == end || *p != ' ')
		return smz_err_set(e, SMZ_ERR_DATA, "seq= takes a decimal number");
	a.seq = (size_t)seq;
	p++;
	if (end - p != 5 + 64 || memcmp(p, "hash=", 5) != 0 || take_hex(p + 5, 64, a.hash) < 0)
		return smz_err_set(e, SMZ_ERR_DATA,
				   "expected hash= and 64 lowercase hex digits at the end");
	if (a.seq == 0 && strcmp(a.hash, ZERO_HASH) != 0)
		return smz_err_set(e, SMZ_ERR_DATA, "seq=0 (an empty log) has a hash of zeros");
	*out = a;
	return 0;
}

int
smz_audit_anchors_read(const char *path, struct smz_audit_anchor **out, size_t *count,
		       struct smz_err *e)
{
	char *buf = NULL;
	size_t len = 0, n = 0, cap = 0, lineno = 0;
	struct smz_audit_anchor *a = NULL;
	int rc = smz_file_read(path, 1 << 24, &buf, &len, e);
	if (rc)
		return rc;
	for (size_t off = 0; !rc && off < len;) {
		const char *l = buf + off, *nl = memchr(l, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - l) : len - off;
		off += ll + (nl != NULL);
		lineno++;
		size_t sp = 0;
		while (sp < ll && (l[sp] == ' ' || l[sp] == '\t' || l[sp] == '\r'))
			sp++;
		if (sp == ll || l[sp] == '#')
			continue;
		if (n == cap) {
			struct smz_audit_anchor *t = realloc(a, (cap = cap ? 2 * cap : 16) *
									sizeof *a);
			if (!t) {
				rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
				break;
			}
			a = t;
		}
		if ((rc = smz_audit_anchor_parse(l, ll, &a[n], e))) {
			char why[sizeof e->msg];
			snprintf(why, sizeof why, "%s", e->msg);
			smz_err_set(e, rc, "%s line %zu: %s",
				    strcmp(path, "-") == 0 ? "(stdin)" : path, lineno, why);
			break;
		}
		a[n++].line = lineno;
	}
	free(buf);
	if (!rc && n == 0)
		rc = smz_err_set(e, SMZ_ERR_DATA, "%s: no anchor lines in it",
				 strcmp(path, "-") == 0 ? "(stdin)" : path);
	if (rc) {
		free(a);
		return rc;
	}
	*out = a;
	*count = n;
	return 0;
}

/* While the chain is walked, the hash of each anchored entry is noted:
 * anchors sorted by seq, met in order. */
struct pin {
	size_t seq, idx;
};

struct anchor_walk {
	const struct pin *pins;
	size_t n, next;
	char (*found)[65];
};

static int
pin_cmp(const void *x, const void *y)
{
	const struct pin *a = x, *b = y;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int
anchor_cb(void *arg, json_t *entry)
{
	struct anchor_walk *w = arg;
	size_t seq = (size_t)json_integer_value(json_object_get(entry, "seq"));
	const char *h = json_string_value(json_object_get(entry, "hash"));
	while (w->next < w->n && w->pins[w->next].seq < seq)
		w->next++;
	for (; w->next < w->n && w->pins[w->next].seq == seq; w->next++)
		snprintf(w->found[w->pins[w->next].idx], 65, "%s", h ? h : "");
	return 0;
}

int
smz_audit_verify_anchors(const struct smz_audit *au, const struct smz_audit_anchor *a, size_t n,
			 size_t *count,
			 int (*cb)(void *, const struct smz_audit_anchor *, const char *),
			 void *arg, struct smz_err *e)
{
	struct pin *pins = calloc(n ? n : 1, sizeof *pins);
	char(*found)[65] = calloc(n ? n : 1, sizeof *found);
	char head[65];
	size_t total = 0, bad = 0;
	int rc = pins && found ? 0 : smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; !rc && i < n; i++) {
		pins[i] = (struct pin){a[i].seq, i};
		if (a[i].seq == 0)
			strcpy(found[i], ZERO_HASH);
	}
	if (!rc)
		qsort(pins, n, sizeof *pins, pin_cmp);
	struct anchor_walk w = {pins, n, 0, found};
	if (!rc)
		rc = verify_chain(au, anchor_cb, &w, &total, head, e);
	for (size_t i = 0; !rc && i < n; i++) {
		char why[512];
		const char *fail = NULL;
		if (strcmp(a[i].kind, au_kind(au)) != 0 || strcmp(a[i].id, au_id(au)) != 0) {
			snprintf(why, sizeof why, "it is for %s %s, not this %s (%s)", a[i].kind,
				 a[i].id, au_kind(au), au_id(au));
			fail = why;
		} else if (a[i].seq > total) {
			snprintf(why, sizeof why,
				 "the log ends at entry %zu, before the anchored "
				 "entry (entries were removed from the end)",
				 total);
			fail = why;
		} else if (strcmp(found[i], a[i].hash) != 0) {
			snprintf(why, sizeof why,
				 "entry %zu is not the anchored one (the log "
				 "was rewritten from there or before)",
				 a[i].seq);
			fail = why;
		}
		if (fail && !bad++)
			smz_err_set(e, SMZ_ERR_VERIFY, "anchor seq=%zu (line %zu): %s", a[i].seq,
				    a[i].line, fail);
		if (cb && cb(arg, &a[i], fail) < 0)
			rc = SMZ_ERR_IO;
	}
	free(pins);
	free(found);
	if (rc)
		return rc;
	*count = total;
	return bad ? SMZ_ERR_VERIFY : 0;
}

/* ---- the copy in syslog ---- */

/* Append s to b (at *len, capacity cap) as a quoted value, escaped so that
 * a line stays one line; cut at max bytes. */
static void
put_quoted(char *b, size_t *len, size_t cap, const char *s, size_t max)
{
	size_t l = *len, start;
	if (l + 2 >= cap)
		return;
	b[l++] = '"';
	start = l;
	for (; s && *s && l + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (l - start >= max) {
			memcpy(b + l, "...", 3);
			l += 3;
			break;
		}
		if (c == '"' || c == '\\')
			b[l++] = '\\', b[l++] = (char)c;
		else if (c < 0x20 || c == 0x7f)
			l += (size_t)snprintf(b + l, cap - l, "\\x%02x", c);
		else
			b[l++] = (char)c;
	}
	b[l++] = '"';
	b[l] = 0;
	*len = l;
}

static atomic_int log_stuck; /* a send timed out: the log daemon is not reading */

static int
log_connect(const char *path, int *type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* a log daemon that does not read must not hold the vault up for long */
	struct timeval tv = {2, 0};
	int types[] = {SOCK_DGRAM, SOCK_STREAM};
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
			*type = types[i];
			return fd;
		}
		int err = errno;
		close(fd);
		/* EPROTOTYPE: a stream socket; as syslog(3) does, try that */
		if (err != EPROTOTYPE)
			return -1;
	}
	return -1;
}

void
smz_audit_syslog(const struct smz_audit *au, const struct smz_audit_entry *a,
		 const struct smz_audit_mark *m, size_t n)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	const char *path = getenv("SMZ_SYSLOG_SOCKET");
	int type, saved = errno;
	int fd = n ? log_connect(path && *path ? path : "/dev/log", &type) : -1;
	if (fd < 0) {
		errno = saved;
		return;
	}
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	for (size_t i = 0; i < n; i++) {
		char b[2048];
		/* the format of syslog(3) on the local socket: RFC 3164 */
		int h = snprintf(b, sizeof b,
				 "<%d>%s %2d %02d:%02d:%02d %s[%ld]: smz-audit %s=%s seq=%zu "
				 "hash=%s op=%s subject=",
				 LOG_AUTHPRIV | LOG_NOTICE, mon[tm.tm_mon % 12], tm.tm_mday,
				 tm.tm_hour, tm.tm_min, tm.tm_sec, smz_prog_name(), (long)getpid(),
				 au_kind(au), au_id(au), m[i].seq, m[i].hash,
				 a[i].op ? a[i].op : "");
		if (h < 0 || (size_t)h >= sizeof b - 64)
			continue;
		size_t len = (size_t)h;
		put_quoted(b, &len, sizeof b - 32, a[i].subject, 600);
		memcpy(b + len, " reason=", 9);
		len += 8;
		put_quoted(b, &len, sizeof b - 1, a[i].reason, 600);
		/* a stream socket takes the NUL as the end of the message; once
		 * the daemon kept us waiting, later copies never wait */
		if (send(fd, b, len + (type == SOCK_STREAM),
			 MSG_NOSIGNAL | (atomic_load(&log_stuck) ? MSG_DONTWAIT : 0)) < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				break;
			atomic_store(&log_stuck, 1);
		}
	}
	close(fd);
	errno = saved;
}

int
smz_audit_txn(const struct smz_audit *au,
	      int (*fn)(DB_TXN *, void *, struct smz_audit_entry *, size_t *, struct smz_err *),
	      void *arg, struct smz_audit_entry *a, size_t cap, const char *what, struct smz_err *e)
{
	struct smz_audit_mark *m = calloc(cap ? cap : 1, sizeof *m);
	if (!m)
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	for (int attempt = 0;; attempt++) {
		DB_TXN *txn = NULL;
		size_t na = 0;
		int rc = 0, r = au->env->txn_begin(au->env, NULL, &txn, 0);
		if (!r)
			r = smz_db_writer_lock(au->meta, txn);
		if (!r && smz_db_code(rc = fn(txn, arg, a, &na, e)))
			r = rc, rc = 0;
		if (!r && !rc && na > cap)
			rc = smz_err_set(e, SMZ_ERR_INTERNAL, "too many audit entries");
		if (!r && !rc && na &&
		    smz_db_code(rc = smz_audit_append(au->log, au->meta, txn, a, na, m, e)))
			r = rc, rc = 0;
		if (!r && !rc)
			r = txn->commit(txn, 0);
		else if (txn)
			txn->abort(txn);
		/* committed: only now is there anything for the log host */
		if (!r && !rc)
			smz_audit_syslog(au, a, m, na);
		if (rc || !r) {
			free(m);
			return rc;
		}
		if (!smz_db_retry(r, attempt)) {
			free(m);
			return smz_db_err(e, r, what);
		}
	}
}
