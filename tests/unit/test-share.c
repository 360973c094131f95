/* Shamir shares: every M-subset recovers, M-1 does not, the text form
 * round-trips and its checksum catches damage. */
#include <sodium.h>
#include <stdlib.h>
#include "share.h"
#include "tap.h"

int
main(void)
{
	struct smz_err e = {0};
	unsigned char secret[32], got[32];
	struct smz_share sh[5], pick[3];
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(secret, sizeof secret);
	ok(smz_share_split(secret, 5, 3, sh, &e) == 0, "split 3 of 5");
	for (int i = 0; i < 5; i++) {
		snprintf(sh[i].vault, sizeof sh[i].vault, "%032d", 7);
		snprintf(sh[i].set, sizeof sh[i].set, "%016d", 9);
	}
	int all = 1;
	for (int a = 0; a < 5; a++)
		for (int b = a + 1; b < 5; b++)
			for (int c = b + 1; c < 5; c++) {
				pick[0] = sh[c], pick[1] = sh[a], pick[2] = sh[b];
				memset(got, 0, sizeof got);
				if (smz_share_combine(pick, 3, got, &e) || memcmp(got, secret, 32))
					all = 0;
			}
	ok(all, "every 3-subset of 5 recovers the secret, in any order");
	ok(smz_share_combine(sh, 2, got, &e) == SMZ_ERR_PERM, "2 of 3 needed shares fail");
	is_str(e.msg, "too few shares: 2 given, 3 needed", "and say so");
	int differ = 0;
	for (int i = 0; i < 5; i++)
		differ += memcmp(sh[i].secret, secret, 32) != 0;
	ok(differ == 5, "no share is the secret itself");

	char text[1024];
	struct smz_share back;
	ok(smz_share_format(&sh[1], text, sizeof text) > 0, "format");
	ok(smz_share_parse(text, "s", &back, &e) == 0 && back.index == 2 && back.threshold == 3 &&
		   back.count == 5 && memcmp(back.secret, sh[1].secret, 32) == 0,
	   "parse round-trips");
	char *p = strstr(text, "secret: ") + 8;
	*p = *p == 'a' ? 'b' : 'a';
	ok(smz_share_parse(text, "s", &back, &e) == SMZ_ERR_PERM, "a flipped digit is caught");
	is_str(e.msg, "s: damaged share (checksum mismatch)", "named as damage");
	ok(smz_share_parse("smz-share: 1\n", "t", &back, &e) == SMZ_ERR_PERM, "truncated share");
	ok(smz_share_split(secret, 3, 1, sh, &e) == SMZ_ERR_USAGE, "threshold 1 refused");
	ok(smz_share_split(secret, 2, 3, sh, &e) == SMZ_ERR_USAGE, "threshold above count refused");
	pick[0] = sh[0], pick[1] = sh[0];
	return done_testing();
}
