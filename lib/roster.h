/*
 * roster: HR CSV exports as they really come (libcsv, RFC 4180): BOM,
 * CRLF or LF, ',' ';' or tab, quoted fields with line breaks, headers in
 * many spellings.  Every record keeps the physical line it started on so
 * that each rejection names it.  A bad row never stops the good ones.
 */
#ifndef SMZ_ROSTER_H
#define SMZ_ROSTER_H

#include <stddef.h>
#include "addr.h"
#include "err.h"
#include "policy.h"

enum smz_field {
	SMZ_F_EMAIL,
	SMZ_F_GIVEN,
	SMZ_F_SURNAME,
	SMZ_F_DISPLAY,
	SMZ_F_EMPID,
	SMZ_F_STATUS,
	SMZ_F_COUNT
};

enum smz_row_outcome { SMZ_ROW_OK, SMZ_ROW_REJECTED, SMZ_ROW_LEFT };

struct smz_row {
	size_t line; /* physical line the record starts on; header = 1 */
	enum smz_row_outcome outcome;
	char address[SMZ_ADDR_MAX]; /* normalised, when outcome is OK or LEFT */
	char *field[SMZ_F_COUNT];   /* as in the file (UTF-8), NULL if absent */
	char *reason;		    /* why rejected, or the leaver's status (malloc'd) */
};

struct smz_roster {
	struct smz_row *rows;
	size_t n, cap;
	size_t ok, rejected, left;
	char delimiter;
};

struct smz_roster_opts {
	int addresses_only;	    /* one address a line, no CSV */
	char delimiter;		    /* 0: detect from the header line */
	const char *const *columns; /* "field=Header" overrides, NULL-terminated */
};

/* Parse data (the whole file).  Row problems go into the rows; the return
 * is an error only when the file as a whole cannot be read as a roster. */
int smz_roster_parse(const char *data, size_t len, const struct smz_roster_opts *o,
		     const struct smz_policy *p, struct smz_roster *r, struct smz_err *e);
void smz_roster_free(struct smz_roster *r);

/* The name to put in a certificate request: display name, else
 * "given surname", else NULL. Returned string is malloc'd. */
char *smz_row_common_name(const struct smz_row *row);

#endif
