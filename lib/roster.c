#include "roster.h"

#include <csv.h>
#include <ctype.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX 65536
#define FIELDS_MAX 1024

static const char *const field_names[SMZ_F_COUNT] = {"email",	"given",       "surname",
						     "display", "employee_id", "status"};

/* Header spellings after normalise(): most specific first. */
static const char *const aliases[SMZ_F_COUNT][12] = {
	{"workemail", "workemailaddress", "businessemail", "primaryemail", "emailaddress", "email",
	 "mail", "smtpaddress", "emailwork", NULL},
	{"givenname", "firstname", "forename", NULL},
	{"surname", "lastname", "familyname", NULL},
	{"displayname", "fullname", "name", NULL},
	{"employeeid", "employeenumber", "employeeno", "staffid", "personnelnumber", "id", NULL},
	{"status", "employmentstatus", "employeestatus", NULL},
};

static const char *const left_words[] = {"terminated", "inactive",  "left",	"leaver",
					 "departed",   "resigned",  "retired",	"deceased",
					 "former",     "separated", "disabled", "withdrawn",
					 "exited",     NULL};

static void
normalise(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (; *in && n + 1 < cap; in++)
		if (!strchr(" -_.\t", *in))
			out[n++] = (char)tolower((unsigned char)*in);
	out[n] = 0;
}

static char *
trim(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t l = strlen(s);
	while (l > 0 && isspace((unsigned char)s[l - 1]))
		s[--l] = 0;
	return s;
}

struct parse {
	const struct smz_roster_opts *o;
	const struct smz_policy *p;
	struct smz_roster *r;
	struct smz_err *e;
	char **fields;
	size_t nfields, rec_line;
	int header_done, col[SMZ_F_COUNT], oom, too_many;
	size_t header_fields;
	struct hsearch_data seen;
	char **keys; /* hsearch_r does not own its keys */
	size_t nkeys;
};

static int
row_push(struct smz_roster *r, struct smz_row **out)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct smz_row *nr = realloc(r->rows, cap * sizeof *nr);
		if (!nr)
			return -1;
		r->rows = nr;
		r->cap = cap;
	}
	*out = &r->rows[r->n++];
	memset(*out, 0, sizeof **out);
	return 0;
}

static void
reject(struct smz_roster *r, struct smz_row *row, const char *why)
{
	row->outcome = SMZ_ROW_REJECTED;
	free(row->reason);
	row->reason = strndup(why, 600);
	r->rejected++;
}

/* Normalise, check domain and duplicates; fills row->address or rejects. */
static void
accept_address(struct parse *ps, struct smz_row *row, const char *raw)
{
	struct smz_err ae;
	if (smz_addr_normalize(raw, row->address, &ae) < 0) {
		reject(ps->r, row, ae.msg);
		return;
	}
	const char *dom = strrchr(row->address, '@') + 1;
	if (!smz_policy_domain_allowed(ps->p, dom)) {
		char why[SMZ_ADDR_MAX + 96];
		snprintf(why, sizeof why, "%s: domain %s is not allowed by policy", row->address,
			 dom);
		reject(ps->r, row, why);
		return;
	}
	char key[SMZ_ADDR_MAX];
	smz_addr_key(row->address, ps->p->local_part_sensitive, key);
	ENTRY item = {.key = key, .data = NULL}, *found = NULL;
	if (hsearch_r(item, FIND, &found, &ps->seen) && found) {
		char why[SMZ_ADDR_MAX + 64];
		snprintf(why, sizeof why, "%s: duplicate of line %zu", row->address,
			 (size_t)(uintptr_t)found->data);
		reject(ps->r, row, why);
		return;
	}
	char **nk = realloc(ps->keys, (ps->nkeys + 1) * sizeof *nk);
	if (nk)
		ps->keys = nk;
	item.key = nk ? strdup(key) : NULL;
	item.data = (void *)(uintptr_t)row->line;
	if (!item.key || !hsearch_r(item, ENTER, &found, &ps->seen)) {
		free(item.key);
		ps->oom = 1;
		return;
	}
	ps->keys[ps->nkeys++] = item.key;
	row->outcome = SMZ_ROW_OK;
	ps->r->ok++;
}

static int
map_header(struct parse *ps)
{
	for (int f = 0; f < SMZ_F_COUNT; f++)
		ps->col[f] = -1;
	int best[SMZ_F_COUNT];
	for (int f = 0; f < SMZ_F_COUNT; f++)
		best[f] = 99;
	for (size_t i = 0; i < ps->nfields; i++) {
		char norm[256];
		normalise(ps->fields[i], norm, sizeof norm);
		for (int f = 0; f < SMZ_F_COUNT; f++)
			for (int a = 0; aliases[f][a]; a++)
				if (strcmp(norm, aliases[f][a]) == 0 && a < best[f]) {
					best[f] = a;
					ps->col[f] = (int)i;
				}
	}
	for (const char *const *c = ps->o->columns; c && *c; c++) {
		const char *eq = strchr(*c, '=');
		int f = 0;
		for (; eq && f < SMZ_F_COUNT; f++)
			if (strlen(field_names[f]) == (size_t)(eq - *c) &&
			    strncmp(*c, field_names[f], (size_t)(eq - *c)) == 0)
				break;
		if (!eq || f == SMZ_F_COUNT)
			return smz_err_set(ps->e, SMZ_ERR_USAGE,
					   "column %s: expected FIELD=HEADER with FIELD one of "
					   "email, given, surname, display, employee_id, status",
					   *c);
		char want[256], norm[256];
		normalise(eq + 1, want, sizeof want);
		ps->col[f] = -1;
		for (size_t i = 0; i < ps->nfields; i++) {
			normalise(ps->fields[i], norm, sizeof norm);
			if (strcmp(norm, want) == 0)
				ps->col[f] = (int)i;
		}
		if (ps->col[f] < 0)
			return smz_err_set(ps->e, SMZ_ERR_DATA,
					   "line 1: column %s: no such column in the header", *c);
	}
	if (ps->col[SMZ_F_EMAIL] < 0)
		return smz_err_need(ps->e, SMZ_ERR_DATA, SMZ_NEED_ADDRESS_COLUMN,
				    "line 1: no address column in the header (looked for Email, "
				    "Mail, E-mail Address, Work Email, ...)");
	ps->header_fields = ps->nfields;
	return 0;
}

static int
is_left(const char *status)
{
	char norm[256];
	normalise(status, norm, sizeof norm);
	for (int i = 0; left_words[i]; i++)
		if (strcmp(norm, left_words[i]) == 0)
			return 1;
	return 0;
}

static void
end_record(int c, void *data)
{
	(void)c;
	struct parse *ps = data;
	if (ps->oom || ps->e->code)
		goto reset;
	if (!ps->header_done) {
		ps->header_done = 1;
		if (map_header(ps) < 0)
			ps->e->code = ps->e->code ? ps->e->code : SMZ_ERR_DATA;
		goto reset;
	}
	struct smz_row *row;
	if (row_push(ps->r, &row) < 0) {
		ps->oom = 1;
		goto reset;
	}
	row->line = ps->rec_line;
	if (ps->too_many) {
		reject(ps->r, row, "more than 1024 fields or a field over 64 KiB");
		goto reset;
	}
	for (size_t i = 0; i < ps->nfields; i++)
		if (!smz_utf8_valid(ps->fields[i], strlen(ps->fields[i]))) {
			char why[96];
			snprintf(why, sizeof why,
				 "field %zu is not valid UTF-8 (export the roster "
				 "as \"CSV UTF-8\")",
				 i + 1);
			reject(ps->r, row, why);
			goto reset;
		}
	for (int f = 0; f < SMZ_F_COUNT; f++)
		if (ps->col[f] >= 0 && (size_t)ps->col[f] < ps->nfields) {
			row->field[f] = strdup(trim(ps->fields[ps->col[f]]));
			if (!row->field[f])
				ps->oom = 1;
		}
	if (!row->field[SMZ_F_EMAIL]) {
		char why[96];
		snprintf(why, sizeof why, "row has %zu fields, the header %zu: no address",
			 ps->nfields, ps->header_fields);
		reject(ps->r, row, why);
		goto reset;
	}
	if (row->field[SMZ_F_STATUS] && is_left(row->field[SMZ_F_STATUS])) {
		struct smz_err ae;
		if (smz_addr_normalize(row->field[SMZ_F_EMAIL], row->address, &ae) < 0)
			snprintf(row->address, sizeof row->address, "%s", row->field[SMZ_F_EMAIL]);
		row->outcome = SMZ_ROW_LEFT;
		row->reason = strndup(row->field[SMZ_F_STATUS], 600);
		ps->r->left++;
		goto reset;
	}
	accept_address(ps, row, row->field[SMZ_F_EMAIL]);
reset:
	for (size_t i = 0; i < ps->nfields; i++)
		free(ps->fields[i]);
	ps->nfields = 0;
	ps->too_many = 0;
}

static void
end_field(void *s, size_t len, void *data)
{
	struct parse *ps = data;
	if (ps->nfields >= FIELDS_MAX || len > FIELD_MAX) {
		ps->too_many = 1;
		return;
	}
	char *f = malloc(len + 1);
	if (!f) {
		ps->oom = 1;
		return;
	}
	if (len)
		memcpy(f, s, len);
	f[len] = 0;
	/* A NUL inside a field would silently cut it: make it fail UTF-8. */
	if (memchr(f, 0, len))
		f[0] = (char)0xff;
	ps->fields[ps->nfields++] = f;
}

static char
detect_delimiter(const char *s, size_t len)
{
	size_t counts[3] = {0, 0, 0};
	int quoted = 0;
	for (size_t i = 0; i < len && (quoted || (s[i] != '\n' && s[i] != '\r')); i++) {
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted)
			counts[0] += s[i] == ',', counts[1] += s[i] == ';',
				counts[2] += s[i] == '\t';
	}
	if (counts[1] > counts[0] && counts[1] >= counts[2])
		return ';';
	if (counts[2] > counts[0] && counts[2] > counts[1])
		return '\t';
	return ',';
}

static int
parse_addresses(struct parse *ps, const char *data, size_t len)
{
	size_t line = 0;
	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		char *copy = strndup(p, l);
		p += l + 1;
		if (!copy)
			return smz_err_set(ps->e, SMZ_ERR_INTERNAL, "out of memory");
		char *t = trim(copy);
		if (*t && *t != '#') {
			struct smz_row *row;
			if (row_push(ps->r, &row) < 0) {
				free(copy);
				return smz_err_set(ps->e, SMZ_ERR_INTERNAL, "out of memory");
			}
			row->line = line;
			row->field[SMZ_F_EMAIL] = strdup(t);
			if (!smz_utf8_valid(t, strlen(t)))
				reject(ps->r, row, "not valid UTF-8");
			else
				accept_address(ps, row, t);
		}
		free(copy);
	}
	return ps->oom ? smz_err_set(ps->e, SMZ_ERR_INTERNAL, "out of memory") : 0;
}

int
smz_roster_parse(const char *data, size_t len, const struct smz_roster_opts *o,
		 const struct smz_policy *p, struct smz_roster *r, struct smz_err *e)
{
	memset(r, 0, sizeof *r);
	e->code = 0;
	if (len >= 2 && ((unsigned char)data[0] == 0xff && (unsigned char)data[1] == 0xfe))
		return smz_err_set(e, SMZ_ERR_DATA,
				   "the file is UTF-16; export the roster as "
				   "\"CSV UTF-8\"");
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	/* "CSV (Macintosh)": lines end in CR alone. */
	char *lf = NULL;
	if (!memchr(data, '\n', len) && memchr(data, '\r', len)) {
		if (!(lf = malloc(len)))
			return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		for (size_t i = 0; i < len; i++)
			lf[i] = data[i] == '\r' ? '\n' : data[i];
		data = lf;
	}
	struct parse ps = {.o = o, .p = p, .r = r, .e = e};
	/* Never more records than lines; hsearch wants room to spare. */
	size_t lines = 64;
	for (const char *q = data; (q = memchr(q, '\n', (size_t)(data + len - q))); q++)
		lines++;
	if (!hcreate_r(lines * 2, &ps.seen)) {
		free(lf);
		return smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
	}
	int rc = 0;
	if (o->addresses_only) {
		rc = parse_addresses(&ps, data, len);
		goto out;
	}
	r->delimiter = o->delimiter ? o->delimiter : detect_delimiter(data, len);
	ps.fields = calloc(FIELDS_MAX, sizeof *ps.fields);
	struct csv_parser cp;
	/* Strict: a stray quote ("Smith" Jr) would otherwise open a quoted
	 * field that silently swallows the following rows. */
	const unsigned char csvopts = CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI;
	if (!ps.fields || csv_init(&cp, csvopts) != 0) {
		free(ps.fields);
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
		goto out;
	}
	csv_set_delim(&cp, (unsigned char)r->delimiter);
	/* Fed a physical line at a time so every record knows the line it
	 * starts on: that is the first line fed while no record is open. */
	size_t line = 0;
	for (const char *q = data, *end = data + len; q < end && !e->code && !ps.oom;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t l = nl ? (size_t)(nl - q) + 1 : (size_t)(end - q);
		line++;
		if (cp.pstate == 0 && cp.entry_pos == 0)
			ps.rec_line = line;
		if (csv_parse(&cp, q, l, end_field, end_record, &ps) != l) {
			if (!ps.header_done) {
				rc = smz_err_set(e, SMZ_ERR_DATA, "line %zu: malformed header: %s",
						 line, csv_strerror(csv_error(&cp)));
				break;
			}
			/* Reject this record, start afresh on the next line. */
			struct smz_row *row;
			if (row_push(r, &row) < 0) {
				ps.oom = 1;
				break;
			}
			row->line = ps.rec_line;
			reject(r, row,
			       "malformed quoting: a quote inside an unquoted field or "
			       "after a closing quote (a quote inside a quoted field is written "
			       "\"\")");
			for (size_t i = 0; i < ps.nfields; i++)
				free(ps.fields[i]);
			ps.nfields = 0;
			ps.too_many = 0;
			csv_free(&cp);
			if (csv_init(&cp, csvopts) != 0) {
				ps.oom = 1;
				break;
			}
			csv_set_delim(&cp, (unsigned char)r->delimiter);
		}
		q += l;
	}
	/* libcsv only reports an unclosed quote in strict mode, which would
	 * also refuse the stray quotes real exports contain: check by hand. */
	if (!rc && !e->code &&
	    ((cp.pstate == 2 && cp.quoted) || csv_fini(&cp, end_field, end_record, &ps) != 0))
		rc = smz_err_set(e, SMZ_ERR_DATA,
				 "line %zu: quoted field never closed (the rest of the file "
				 "would be inside it); nothing was processed",
				 ps.rec_line);
	csv_free(&cp);
	for (size_t i = 0; i < ps.nfields; i++)
		free(ps.fields[i]);
	free(ps.fields);
	if (!rc && e->code)
		rc = e->code;
	if (!rc && !ps.header_done)
		rc = smz_err_set(e, SMZ_ERR_DATA, "empty roster: no header line");
	if (!rc && ps.oom)
		rc = smz_err_set(e, SMZ_ERR_INTERNAL, "out of memory");
out:
	hdestroy_r(&ps.seen);
	for (size_t i = 0; i < ps.nkeys; i++)
		free(ps.keys[i]);
	free(ps.keys);
	free(lf);
	if (rc)
		smz_roster_free(r);
	return rc;
}

void
smz_roster_free(struct smz_roster *r)
{
	for (size_t i = 0; i < r->n; i++) {
		for (int f = 0; f < SMZ_F_COUNT; f++)
			free(r->rows[i].field[f]);
		free(r->rows[i].reason);
	}
	free(r->rows);
	memset(r, 0, sizeof *r);
}

char *
smz_row_common_name(const struct smz_row *row)
{
	const char *d = row->field[SMZ_F_DISPLAY], *g = row->field[SMZ_F_GIVEN],
		   *s = row->field[SMZ_F_SURNAME];
	if (d && *d)
		return strdup(d);
	if ((g && *g) || (s && *s)) {
		char *out = NULL;
		if (asprintf(&out, "%s%s%s", g && *g ? g : "", g && *g && s && *s ? " " : "",
			     s && *s ? s : "") < 0)
			return NULL;
		return out;
	}
	return NULL;
}
