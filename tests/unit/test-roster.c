/* Roster: HR CSV exports as they come; every row accepted, rejected or a
 * leaver, each naming the physical line it started on. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "roster.h"
#include "tap.h"

#define POLICY                                                      \
	"[domains]\nallowed = example.com, .example.org, b\xc3\xbc" \
	"cher.example\n"

static struct smz_policy pol;
static struct smz_roster r;
static struct smz_err e;

static int
parse_n(const char *text, size_t len, const struct smz_roster_opts *o)
{
	static const struct smz_roster_opts none;
	smz_roster_free(&r);
	memset(&e, 0, sizeof e);
	return smz_roster_parse(text, len, o ? o : &none, &pol, &r, &e);
}

static int
parse(const char *text, const struct smz_roster_opts *o)
{
	return parse_n(text, strlen(text), o);
}

/* Row i, or an empty one past the end. */
static const struct smz_row *
row(size_t i)
{
	static const struct smz_row none = {.line = 0};
	return i < r.n ? &r.rows[i] : &none;
}

/* The row that starts on a line, or NULL. */
static const struct smz_row *
at(size_t line)
{
	for (size_t i = 0; i < r.n; i++)
		if (r.rows[i].line == line)
			return &r.rows[i];
	return NULL;
}

static const char *
field(size_t line, enum smz_field f)
{
	const struct smz_row *row = at(line);
	return row ? row->field[f] : NULL;
}

static const char *
reason(size_t line)
{
	const struct smz_row *row = at(line);
	return row ? row->reason : NULL;
}

static int
outcome(size_t line, enum smz_row_outcome o)
{
	const struct smz_row *row = at(line);
	return row && row->outcome == o;
}

/* NULL-safe, so that a broken parser fails a test instead of the run. */
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

static const char *
str(const char *s)
{
	return s ? s : "(null)";
}

static int
load_policy(const char *text)
{
	char path[] = "/tmp/test-roster.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	smz_policy_free(&pol);
	int rc = smz_policy_load(path, &pol, &e);
	unlink(path);
	return rc;
}

static void
basics(void)
{
	ok(parse("Email,Given Name,Surname,Display Name,Employee ID,Status\n"
		 "ann@example.com,Ann,One,Ann One,E1,Active\n"
		 "Bob.Smith@EXAMPLE.COM,Bob,Smith,,E2,\n",
		 NULL) == 0,
	   "a plain roster parses");
	ok(r.n == 2 && r.ok == 2 && r.rejected == 0 && r.left == 0, "two rows, both ok (%zu)", r.n);
	ok(r.delimiter == ',', "comma detected");
	ok(row(0)->line == 2 && row(1)->line == 3, "header is line 1, rows are lines 2 and 3");
	is_str(row(0)->address, "ann@example.com", "address");
	is_str(field(2, SMZ_F_GIVEN), "Ann", "given name column");
	is_str(field(2, SMZ_F_SURNAME), "One", "surname column");
	is_str(field(2, SMZ_F_DISPLAY), "Ann One", "display name column");
	is_str(field(2, SMZ_F_EMPID), "E1", "employee id column");
	is_str(field(2, SMZ_F_STATUS), "Active", "status column; Active is no leaver");
	is_str(row(1)->address, "Bob.Smith@example.com", "domain lowered, local part kept");
	is_str(field(3, SMZ_F_EMAIL), "Bob.Smith@EXAMPLE.COM", "the field keeps the file's form");
	is_str(field(3, SMZ_F_DISPLAY), "", "an empty field is empty, not absent");
	ok(row(0)->reason == NULL, "an accepted row has no reason");

	ok(parse("Email\n", NULL) == 0 && r.n == 0 && r.ok == 0, "a header alone: no rows");
	ok(parse("", NULL) == SMZ_ERR_DATA, "an empty file is refused");
	is_str(e.msg, "empty roster: no header line", "and says so");
	ok(r.n == 0 && r.rows == NULL, "with nothing left allocated");
	ok(parse("email\nann@example.com", NULL) == 0 && r.n == 1 && r.ok == 1 &&
		   strcmp(row(0)->address, "ann@example.com") == 0,
	   "no newline at the end of the last row");
}

static void
encodings(void)
{
	ok(parse("\xef\xbb\xbf"
		 "Email,Name\r\nann@example.com,Ann\r\nbea@example.com,Bea\r\n",
		 NULL) == 0,
	   "BOM and CRLF");
	ok(r.n == 2 && r.ok == 2, "the BOM does not hide the Email header");
	is_str(field(2, SMZ_F_DISPLAY), "Ann", "no CR left in the last field");
	is_str(row(1)->address, "bea@example.com", "second row");
	ok(row(1)->line == 3, "CRLF lines counted once");

	ok(parse("email,name\rann@example.com,Ann\rbea@example.com,Bea\r", NULL) == 0,
	   "CSV (Macintosh): CR alone ends lines");
	ok(r.n == 2 && r.ok == 2 && at(3) && strcmp(at(3)->address, "bea@example.com") == 0,
	   "both rows, the second on line 3");
	is_str(field(2, SMZ_F_DISPLAY), "Ann", "and no CR in a field");

	ok(parse_n("\xff\xfe"
		   "E\0m\0",
		   6, NULL) == SMZ_ERR_DATA,
	   "UTF-16 refused");
	is_str(e.msg, "the file is UTF-16; export the roster as \"CSV UTF-8\"", "with a hint");

	ok(parse("email,name\nann@example.com,Jos\xe9\nbea@example.com,Zo\xc3\xab\n", NULL) == 0,
	   "Latin-1 in one row");
	ok(outcome(2, SMZ_ROW_REJECTED), "that row is rejected");
	is_str(reason(2), "field 2 is not valid UTF-8 (export the roster as \"CSV UTF-8\")",
	       "naming the field");
	ok(outcome(3, SMZ_ROW_OK), "UTF-8 in the next row is fine");
	is_str(field(3, SMZ_F_DISPLAY), "Zo\xc3\xab", "and kept as it is");
	ok(r.ok == 1 && r.rejected == 1, "counts");

	static const char nul[] = "email,name\nann@example.com,A\0nn\nbea@example.com,Bea\n";
	ok(parse_n(nul, sizeof nul - 1, NULL) == 0 && outcome(2, SMZ_ROW_REJECTED) &&
		   has(reason(2), "field 2 is not valid UTF-8"),
	   "a NUL inside a field rejects the row instead of cutting the field");
	ok(outcome(3, SMZ_ROW_OK), "the next row is read");
}

static void
delimiters(void)
{
	ok(parse("mail;name\ncid@example.com;Cid, Jr\n", NULL) == 0 && r.delimiter == ';',
	   "semicolon detected from the header");
	is_str(field(2, SMZ_F_DISPLAY), "Cid, Jr", "a comma inside a ;-separated field");
	ok(parse("E-mail Address\tFirst Name\tLast Name\nbea@example.com\tBea\tTwo\n", NULL) == 0 &&
		   r.delimiter == '\t',
	   "tab detected");
	is_str(row(0)->address, "bea@example.com", "E-mail Address is the address column");
	is_str(field(2, SMZ_F_GIVEN), "Bea", "First Name is the given name");
	is_str(field(2, SMZ_F_SURNAME), "Two", "Last Name is the surname");
	ok(parse("\"Name; Title\",email\nDan,dan@example.com\n", NULL) == 0 && r.delimiter == ',' &&
		   r.ok == 1,
	   "a ; inside a quoted header field does not count");
	ok(parse("email;name,title,dept\nann@example.com;Ann,x,y\n", NULL) == SMZ_ERR_DATA,
	   "more commas than semicolons: comma, and then no address column");
	struct smz_roster_opts semi = {.delimiter = ';'};
	ok(parse("email;name,title,dept\nann@example.com;Ann,x,y\n", &semi) == 0 &&
		   r.delimiter == ';',
	   "an explicit delimiter wins");
	ok(r.n == 1 && outcome(2, SMZ_ROW_OK), "so the first column is the address");
	ok(field(2, SMZ_F_DISPLAY) == NULL, "and \"name,title,dept\" no name column");
}

static void
quoting(void)
{
	ok(parse("email,name,status\n"
		 "ann@example.com,\"One, Ann\",active\n"
		 "bea@example.com,\"Bea \"\"B\"\" Two\",active\n"
		 "cid@example.com,\"Cid\nThree\",active\n"
		 "dan@example.com,Dan,active\n",
		 NULL) == 0,
	   "quoted fields");
	is_str(field(2, SMZ_F_DISPLAY), "One, Ann", "a delimiter inside quotes");
	is_str(field(3, SMZ_F_DISPLAY), "Bea \"B\" Two", "a doubled quote is one quote");
	is_str(field(4, SMZ_F_DISPLAY), "Cid\nThree", "a line break inside quotes");
	ok(at(6) && strcmp(at(6)->address, "dan@example.com") == 0 && !at(5),
	   "the row after a two-line record starts on line 6");
	ok(r.ok == 4, "all four ok");

	ok(parse("email,name\n"
		 "ann@example.com,\"Smith\" Jr\n"
		 "bea@example.com,O\"Brien\n"
		 "cid@example.com,Cid\n",
		 NULL) == 0,
	   "stray quotes do not stop the roster");
	ok(outcome(2, SMZ_ROW_REJECTED) && outcome(3, SMZ_ROW_REJECTED),
	   "a quote after a closing quote and one inside an unquoted field are rejected");
	ok(starts(reason(2), "malformed quoting"), "reason: %s", str(reason(2)));
	ok(outcome(4, SMZ_ROW_OK) && r.ok == 1 && r.rejected == 2,
	   "and the row after them is read, on its own line");

	ok(parse("email,name\n"
		 "ann@example.com,\"Ann\n"
		 "One\"x\n"
		 "bea@example.com,Bea\n",
		 NULL) == 0 &&
		   r.n == 2,
	   "bad quoting on the second line of a record");
	ok(outcome(2, SMZ_ROW_REJECTED) && !at(3), "rejects the record on the line it started");
	ok(outcome(4, SMZ_ROW_OK), "and the next record keeps its line");

	ok(parse("email,name\n"
		 "ann@example.com,Ann\n"
		 "eve@example.com,\"Eve\n"
		 "fay@example.com,Fay\n",
		 NULL) == SMZ_ERR_DATA,
	   "an unclosed quote fails the whole file");
	is_str(e.msg,
	       "line 3: quoted field never closed (the rest of the file would be inside "
	       "it); nothing was processed",
	       "naming the line the field opened on");
	ok(r.n == 0 && r.ok == 0 && r.rows == NULL, "and no row survives");

	ok(parse("\"email\"x,name\nann@example.com,Ann\n", NULL) == SMZ_ERR_DATA &&
		   starts(e.msg, "line 1: malformed header: "),
	   "a malformed header fails the file: %s", e.msg);
	ok(parse("\"Work\nEmail\",name\nann@example.com,Ann\n", NULL) == SMZ_ERR_DATA &&
		   starts(e.msg, "line 1: no address column"),
	   "a header field with a line break is no Email column");
}

static void
rows(void)
{
	ok(parse("email,name\n"
		 "\n"
		 "ann@example.com,Ann\n"
		 "\r\n"
		 "\n"
		 "bea@example.com,Bea\n"
		 "\n",
		 NULL) == 0,
	   "empty lines");
	ok(r.n == 2 && r.ok == 2, "are skipped, not rejected (%zu rows)", r.n);
	ok(at(3) && at(6), "and still counted: rows on lines 3 and 6");

	ok(parse("email,name\n"
		 "  ann@example.com  ,  Ann  \n"
		 "\tbea@example.com\t,Bea\n",
		 NULL) == 0 &&
		   r.ok == 2,
	   "blanks around fields");
	is_str(field(2, SMZ_F_EMAIL), "ann@example.com", "are trimmed from the address");
	is_str(field(2, SMZ_F_DISPLAY), "Ann", "and from names");
	is_str(row(1)->address, "bea@example.com", "tabs too");

	ok(parse("given,surname,email\n"
		 "Ann,One\n"
		 "Bea,Two,bea@example.com,extra,fields\n"
		 "Cid,Three,\n",
		 NULL) == 0,
	   "short and long rows");
	ok(outcome(2, SMZ_ROW_REJECTED), "a row without the address column is rejected");
	is_str(reason(2), "row has 2 fields, the header 3: no address", "saying how many");
	ok(outcome(3, SMZ_ROW_OK), "extra fields are ignored");
	ok(outcome(4, SMZ_ROW_REJECTED), "an empty address is rejected");

	char *wide = malloc(8 * 1100 + 64);
	strcpy(wide, "email\nann@example.com");
	for (int i = 0; i < 1100; i++)
		strcat(wide, ",x");
	strcat(wide, "\nbea@example.com\n");
	ok(parse(wide, NULL) == 0 && outcome(2, SMZ_ROW_REJECTED) && outcome(3, SMZ_ROW_OK),
	   "a row of more than 1024 fields is rejected, the next one read");
	is_str(reason(2), "more than 1024 fields or a field over 64 KiB", "and says why");
	free(wide);
	char *big = malloc(70000 + 64);
	strcpy(big, "email,name\nann@example.com,");
	size_t l = strlen(big);
	memset(big + l, 'n', 70000);
	strcpy(big + l + 70000, "\nbea@example.com,Bea\n");
	ok(parse(big, NULL) == 0 && outcome(2, SMZ_ROW_REJECTED) && outcome(3, SMZ_ROW_OK) &&
		   strcmp(reason(2), "more than 1024 fields or a field over 64 KiB") == 0,
	   "so is a field over 64 KiB");
	free(big);
}

static void
addresses(void)
{
	ok(parse("email\n"
		 "plain\n"
		 "a@\n"
		 "x@evil.example\n"
		 "anna@b\xc3\xbc"
		 "cher.example\n"
		 "j\xc3\xb6rg@example.com\n"
		 "Bob <b@example.com>\n"
		 "sub.ok@mail.example.org\n"
		 "no@sub.example.com\n",
		 NULL) == 0,
	   "address checks");
	ok(outcome(2, SMZ_ROW_REJECTED) && outcome(3, SMZ_ROW_REJECTED) &&
		   outcome(4, SMZ_ROW_REJECTED),
	   "no @, no domain, other domain: rejected");
	ok(has(reason(2), "not a mail address (no '@')"), "%s", str(reason(2)));
	ok(has(reason(3), "has no domain"), "%s", str(reason(3)));
	is_str(reason(4), "x@evil.example: domain evil.example is not allowed by policy",
	       "a domain outside the policy is named");
	ok(outcome(5, SMZ_ROW_OK), "an IDN domain in the policy");
	is_str(at(5) ? at(5)->address : NULL, "anna@xn--bcher-kva.example",
	       "is stored as its A-label");
	ok(outcome(6, SMZ_ROW_REJECTED) && has(reason(6), "non-ASCII local part"), "%s",
	   str(reason(6)));
	ok(outcome(7, SMZ_ROW_REJECTED), "a display name with the address is refused");
	ok(outcome(8, SMZ_ROW_OK), ".example.org allows its subdomains");
	ok(outcome(9, SMZ_ROW_REJECTED) && has(reason(9), "domain sub.example.com is not"),
	   "example.com does not");
	ok(r.ok == 2 && r.rejected == 6, "counts %zu ok, %zu rejected", r.ok, r.rejected);
}

static void
duplicates(void)
{
	ok(parse("email,name\n"
		 "Alice.Jones@example.org,Alice\n"
		 "bea@example.com,Bea\n"
		 "alice.jones@EXAMPLE.ORG,Alice again\n"
		 "ALICE.JONES@example.org,Alice thrice\n"
		 "bea@evil.example,Bea\n"
		 "bea@evil.example,Bea\n",
		 NULL) == 0,
	   "duplicates");
	ok(outcome(2, SMZ_ROW_OK) && outcome(3, SMZ_ROW_OK), "first occurrences ok");
	is_str(reason(4), "alice.jones@example.org: duplicate of line 2",
	       "a duplicate names the line of the first, local part case ignored");
	is_str(reason(5), "ALICE.JONES@example.org: duplicate of line 2",
	       "every later one names the first");
	ok(has(reason(7), "not allowed by policy"), "a rejected address is no first occurrence: %s",
	   str(reason(7)));
	ok(r.ok == 2 && r.rejected == 4, "counts");

	ok(load_policy("[domains]\nallowed = example.com\n[vault]\nlocal_part = sensitive\n") == 0,
	   "policy with case-sensitive local parts");
	ok(parse("email\nAnn@example.com\nann@example.com\nAnn@Example.COM\n", NULL) == 0,
	   "parsed");
	ok(outcome(2, SMZ_ROW_OK) && outcome(3, SMZ_ROW_OK), "Ann and ann are two people");
	is_str(reason(4), "Ann@example.com: duplicate of line 2", "the domain's case never counts");
	load_policy(POLICY);
}

static void
leavers(void)
{
	ok(parse("email,status\n"
		 "ann@example.com,Terminated\n"
		 "bea@example.com,  LEFT \n"
		 "cid@example.com,Active\n"
		 "ann@example.com,active\n"
		 "Dan@Example.com,inactive\n"
		 "not an address,Retired\n"
		 "eve@evil.example,Former\n"
		 "fay@example.com,\n"
		 "gus@example.com,On Leave\n",
		 NULL) == 0,
	   "a status column");
	ok(outcome(2, SMZ_ROW_LEFT) && outcome(3, SMZ_ROW_LEFT), "Terminated, LEFT: leavers");
	is_str(reason(2), "Terminated", "the reason is the status as written");
	is_str(reason(3), "LEFT", "trimmed");
	is_str(at(2) ? at(2)->address : NULL, "ann@example.com", "with the address");
	ok(outcome(4, SMZ_ROW_OK), "Active is no leaver");
	ok(outcome(5, SMZ_ROW_OK), "a leaver's address is no duplicate for a later row");
	is_str(at(6) ? at(6)->address : NULL, "Dan@example.com",
	       "a leaver's address is normalised");
	ok(outcome(7, SMZ_ROW_LEFT), "a leaver with a bad address is still a leaver");
	is_str(at(7) ? at(7)->address : NULL, "not an address", "kept as written");
	ok(outcome(8, SMZ_ROW_LEFT), "domain policy does not apply to leavers");
	ok(outcome(9, SMZ_ROW_OK) && outcome(10, SMZ_ROW_OK),
	   "an empty or another status is no leaver");
	ok(r.ok == 4 && r.left == 5 && r.rejected == 0, "counts %zu/%zu/%zu", r.ok, r.left,
	   r.rejected);
	const char *words[] = {"terminated", "Inactive",  "left",     "Leaver", "departed",
			       "resigned",   "retired",	  "deceased", "former", "separated",
			       "disabled",   "withdrawn", "exited"};
	int all = 1;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		char buf[128];
		snprintf(buf, sizeof buf, "email,status\nann@example.com,%s\n", words[i]);
		all &= parse(buf, NULL) == 0 && outcome(2, SMZ_ROW_LEFT);
	}
	ok(all, "each of the 13 leaver words, in any case");
	ok(parse("email,status\nann@example.com,Employment-Status-Left\n", NULL) == 0 &&
		   outcome(2, SMZ_ROW_OK),
	   "but not a status that only contains one");
}

static void
headers(void)
{
	ok(parse("Mail,Email,Work Email,Name\n"
		 "a@example.com,b@example.com,c@example.com,N\n",
		 NULL) == 0,
	   "three address columns");
	is_str(row(0)->address, "c@example.com", "the most specific (Work Email) wins");
	ok(parse("E_MAIL,FULL NAME,first.name,Family-Name,Staff ID,Employment Status\n"
		 "a@example.com,Ann One,Ann,One,S1,left\n",
		 NULL) == 0,
	   "headers in other spellings");
	is_str(field(2, SMZ_F_DISPLAY), "Ann One", "FULL NAME is the display name");
	is_str(field(2, SMZ_F_GIVEN), "Ann", "first.name is the given name");
	is_str(field(2, SMZ_F_SURNAME), "One", "Family-Name is the surname");
	is_str(field(2, SMZ_F_EMPID), "S1", "Staff ID is the employee id");
	ok(outcome(2, SMZ_ROW_LEFT), "Employment Status is the status");
	ok(parse("Correo,Nombre\ndan@example.com,Dan\n", NULL) == SMZ_ERR_DATA,
	   "no address column");
	ok(starts(e.msg, "line 1: no address column in the header") &&
		   e.need == SMZ_NEED_ADDRESS_COLUMN,
	   "the error names line 1, and the way out for the program to name: %s", e.msg);
	const char *cols[] = {"email=Correo", "display=Nombre", NULL};
	struct smz_roster_opts o = {.columns = cols};
	ok(parse("Correo,Nombre,Name\ndan@example.com,Dan,Other\n", &o) == 0 && r.ok == 1,
	   "--column names the columns");
	is_str(row(0)->address, "dan@example.com", "email=Correo");
	is_str(field(2, SMZ_F_DISPLAY), "Dan", "display=Nombre wins over a Name column");
	const char *cols2[] = {"email=work e-mail", NULL};
	o.columns = cols2;
	ok(parse("Email,Work_EMail\na@example.com,b@example.com\n", &o) == 0 &&
		   strcmp(row(0)->address, "b@example.com") == 0,
	   "a --column header is matched as loosely as the built-in names");
	const char *bad[] = {"mail=Correo", NULL};
	o.columns = bad;
	ok(parse("Correo\ndan@example.com\n", &o) == SMZ_ERR_USAGE, "an unknown field is usage");
	is_str(e.msg,
	       "column mail=Correo: expected FIELD=HEADER with FIELD one of email, given, "
	       "surname, display, employee_id, status",
	       "listing the fields");
	const char *noeq[] = {"email", NULL};
	o.columns = noeq;
	ok(parse("email\ndan@example.com\n", &o) == SMZ_ERR_USAGE, "FIELD without =HEADER");
	const char *missing[] = {"email=Correo", NULL};
	o.columns = missing;
	ok(parse("Email\ndan@example.com\n", &o) == SMZ_ERR_DATA, "a column not in the header");
	is_str(e.msg, "line 1: column email=Correo: no such column in the header", "is named");
	ok(r.n == 0, "and nothing is returned");
}

static void
addresses_only(void)
{
	struct smz_roster_opts o = {.addresses_only = 1};
	ok(parse("# joiners\n"
		 "gus@example.com\n"
		 "\n"
		 "  Hal@Example.COM  \r\n"
		 "bad@evil.example\n"
		 "GUS@example.com\n"
		 "   # indented comment\n"
		 "Jos\xe9@example.com\n"
		 "a,b@example.com",
		 &o) == 0,
	   "--addresses");
	ok(r.n == 6, "comments and blank lines are no rows (%zu)", r.n);
	ok(outcome(2, SMZ_ROW_OK), "line 2");
	ok(outcome(4, SMZ_ROW_OK) && strcmp(at(4)->address, "Hal@example.com") == 0,
	   "line 4 trimmed (CR too) and normalised");
	is_str(reason(5), "bad@evil.example: domain evil.example is not allowed by policy",
	       "line 5 outside the policy");
	is_str(reason(6), "GUS@example.com: duplicate of line 2", "line 6 a duplicate");
	is_str(reason(8), "not valid UTF-8", "line 8 not UTF-8");
	ok(outcome(9, SMZ_ROW_REJECTED), "no CSV: a comma is part of the address");
	is_str(field(9, SMZ_F_EMAIL), "a,b@example.com", "kept whole");
	ok(r.ok == 2 && r.rejected == 4, "counts");
	ok(parse("", &o) == 0 && r.n == 0, "an empty list is no error");
}

static void
common_name(void)
{
	struct smz_row row = {0};
	char *cn = smz_row_common_name(&row);
	ok(cn == NULL, "no names: NULL");
	row.field[SMZ_F_GIVEN] = "Ann";
	row.field[SMZ_F_SURNAME] = "One";
	is_str(cn = smz_row_common_name(&row), "Ann One", "given surname");
	free(cn);
	row.field[SMZ_F_DISPLAY] = "";
	is_str(cn = smz_row_common_name(&row), "Ann One", "an empty display name does not count");
	free(cn);
	row.field[SMZ_F_DISPLAY] = "One, Ann";
	is_str(cn = smz_row_common_name(&row), "One, Ann", "a display name wins");
	free(cn);
	row.field[SMZ_F_DISPLAY] = NULL;
	row.field[SMZ_F_GIVEN] = "";
	is_str(cn = smz_row_common_name(&row), "One", "surname alone, no stray blank");
	free(cn);
	row.field[SMZ_F_GIVEN] = "Ann";
	row.field[SMZ_F_SURNAME] = NULL;
	is_str(cn = smz_row_common_name(&row), "Ann", "given alone");
	free(cn);
	row.field[SMZ_F_GIVEN] = "";
	row.field[SMZ_F_SURNAME] = "";
	ok(smz_row_common_name(&row) == NULL, "empty names: NULL");
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (load_policy(POLICY) != 0) {
		printf("Bail out! policy: %s\n", e.msg);
		return 1;
	}
	basics();
	encodings();
	delimiters();
	quoting();
	rows();
	addresses();
	duplicates();
	leavers();
	headers();
	addresses_only();
	common_name();
	smz_roster_free(&r);
	smz_policy_free(&pol);
	return done_testing();
}
