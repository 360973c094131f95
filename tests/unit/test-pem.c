/* PEM stream reader: good blocks pass, bad ones are reported by index
 * and the stream goes on. */
#include <stdlib.h>
#include "pem.h"
#include "tap.h"

int
main(void)
{
	char *big = malloc(200000);
	memset(big, 'A', 199999);
	big[199999] = 0;
	FILE *f = tmpfile();
	fputs("text before\n-----BEGIN THING-----\nAAEC\n-----END THING-----\n", f);
	fputs("-----BEGIN THING-----\n!!!!\n-----END THING-----\n", f);
	fprintf(f, "-----BEGIN THING-----\n%s\n-----END THING-----\n", big);
	fputs("-----BEGIN THING-----\nProc-Type: 4,ENCRYPTED\nAAEC\n-----END THING-----\n", f);
	fputs("-----BEGIN OTHER-----\r\nAwQF\r\n-----END OTHER-----\r\n", f);
	fputs("-----BEGIN THING-----\nAAEC\n", f);
	rewind(f);
	FILE *g = tmpfile();
	fputs("-----BEGIN A-----\nAAEC\n-----BEGIN B-----\nAAED\n-----END B-----\n", g);
	rewind(g);
	struct smz_pem_reader *r = smz_pem_reader_new(f);
	struct smz_pem_block b;
	struct smz_err e = {0};
	ok(smz_pem_next(r, &b, &e) == 1 && b.len == 3 && b.der[2] == 2 && b.index == 1 &&
		   strcmp(b.type, "THING") == 0 && b.line == 2,
	   "first block decoded");
	smz_pem_block_clear(&b);
	ok(smz_pem_next(r, &b, &e) == SMZ_ERR_DATA && b.index == 2,
	   "bad base64 reported as block 2");
	ok(strstr(e.msg, "bad base64") != NULL, "with the reason: %s", e.msg);
	ok(smz_pem_next(r, &b, &e) == SMZ_ERR_DATA && b.index == 3, "over-long line is block 3");
	ok(strstr(e.msg, "longer than") != NULL, "with the reason: %s", e.msg);
	ok(smz_pem_next(r, &b, &e) == SMZ_ERR_DATA && b.index == 4, "encrypted PEM refused");
	ok(smz_pem_next(r, &b, &e) == 1 && b.index == 5 && b.len == 3 && b.der[0] == 3 &&
		   strcmp(b.type, "OTHER") == 0,
	   "CRLF block after bad ones still decodes");
	smz_pem_block_clear(&b);
	ok(smz_pem_next(r, &b, &e) == SMZ_ERR_DATA && strstr(e.msg, "not terminated"),
	   "unterminated last block");
	ok(smz_pem_next(r, &b, &e) == 0, "then end of stream");
	smz_pem_reader_free(r);
	fclose(f);
	r = smz_pem_reader_new(g);
	ok(smz_pem_next(r, &b, &e) == SMZ_ERR_DATA && b.index == 1 &&
		   strstr(e.msg, "A block not terminated"),
	   "a BEGIN inside a block ends it as truncated: %s", e.msg);
	ok(smz_pem_next(r, &b, &e) == 1 && b.index == 2 && strcmp(b.type, "B") == 0 && b.len == 3 &&
		   b.der[2] == 3 && b.line == 3,
	   "and the next block is read whole, with its own line");
	smz_pem_block_clear(&b);
	ok(smz_pem_next(r, &b, &e) == 0, "end");
	smz_pem_reader_free(r);
	fclose(g);
	free(big);
	return done_testing();
}
